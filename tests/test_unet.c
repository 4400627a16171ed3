/* The U-Net (src/model/unet.c): parameter counts of the paper and mini configs, official names,
 * shapes and table order, initialisation statistics, determinism, the whole-model gradient
 * against central finite differences, and the PyTorch reference tensors of
 * tests/data/unet_ref.h5 (scripts/gen_unet_reference.py): forward output, loss, every
 * parameter gradient, and weights/EMA after 3 clip+Adam+EMA steps. */
#include "testutil.h"

#include "core/common.h"
#include "core/config.h"
#include "core/rng.h"
#include "io/h5io.h"
#include "model/unet.h"
#include "train/optim.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REF_PATH    "tests/data/unet_ref.h5"
#define REF_VERSION 1
#define REF_TOL     1e-4 /* max|got-want| / max|want| per tensor (brief) */
/* Finite differences of the float32 model are a structural check (a missing term, a wrong
 * scale, sign or index is off by O(1)); precision is the PyTorch comparison's job. They are
 * limited by the loss's float32 rounding noise (absolute term, computed in gradient_check)
 * and by the h^4 truncation of the stencil: 1% relative on top of the noise term. */
#define FD_RTOL      1e-2
#define FD_ELEM_STEP (1.0f / 32)

static void paper_config(ddpm_config *c) { config_defaults(c); }

static void mini_config(ddpm_config *c)
{
    config_defaults(c);
    ck_assert_int_eq(config_set(c, "dataset=fashion_mnist"), 0);
    ck_assert_int_eq(config_set(c, "image_size=28"), 0);
    ck_assert_int_eq(config_set(c, "ch=32"), 0);
    ck_assert_int_eq(config_set(c, "ch_mult=1,2,2"), 0);
    ck_assert_int_eq(config_set(c, "num_res_blocks=1"), 0);
    ck_assert_int_eq(config_set(c, "attn_resolutions=14"), 0);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* ---- counts, names, shapes ---- */

static void check_shape(const unet *m, const char *name, int rank, int d0, int d1, int d2, int d3)
{
    const unet_param *p = unet_find(m, name);
    ck_assert_msg(p != NULL, "missing parameter %s", name);
    const int want[4] = { d0, d1, d2, d3 };
    ck_assert_msg(p->rank == rank, "%s: rank %d, want %d", name, p->rank, rank);
    size_t size = 1;
    for (int i = 0; i < rank; i++) {
        ck_assert_msg(p->shape[i] == want[i], "%s: dim %d is %d, want %d", name, i, p->shape[i], want[i]);
        size *= (size_t)want[i];
    }
    ck_assert_uint_eq(p->size, size);
}

START_TEST(param_counts)
{
    ddpm_config c;
    size_t n = 0;
    paper_config(&c);
    ck_assert_int_eq(unet_count_params(&c, &n), 0);
    fprintf(stderr, "paper config: %zu parameters\n", n);
    ck_assert_uint_eq(n, 35746307);
    mini_config(&c);
    ck_assert_int_eq(unet_count_params(&c, &n), 0);
    fprintf(stderr, "mini config: %zu parameters\n", n);
    ck_assert_uint_eq(n, 1112801);

    unet *m;
    ck_assert_int_eq(unet_create(&m, &c, 2), 0);
    ck_assert_uint_eq(unet_num_params(m), 1112801);
    ck_assert_int_eq(unet_in_channels(m), 1);
    ck_assert_int_eq(unet_out_channels(m), 1);
    ck_assert_int_eq(unet_image_size(m), 28);
    /* learned variance doubles the output channels */
    ck_assert_int_eq(config_set(&c, "model_var_type=learned"), 0);
    ck_assert_int_eq(unet_count_params(&c, &n), 0);
    ck_assert_uint_eq(n, 1112801 + 9 * 32 * 1 + 1); /* conv_out: one more output channel */
    /* resamp_with_conv = 0 drops the downsample convs of levels 0 (32 ch) and 1 (64 ch) and the
     * upsample convs of levels 2 and 1 (64 ch): 3x3 C->C + bias each */
    ck_assert_int_eq(config_set(&c, "model_var_type=fixedlarge"), 0);
    ck_assert_int_eq(config_set(&c, "resamp_with_conv=0"), 0);
    ck_assert_int_eq(unet_count_params(&c, &n), 0);
    ck_assert_uint_eq(n, 1112801 - (9 * 32 * 32 + 32) - 3 * (9 * 64 * 64 + 64));
    unet_free(m);
}
END_TEST

START_TEST(paper_names_shapes_order)
{
    ddpm_config c;
    paper_config(&c);
    unet *m;
    ck_assert_int_eq(unet_create(&m, &c, 1), 0);
    ck_assert_uint_eq(unet_num_params(m), 35746307);
    check_shape(m, "model/temb/dense0/W", 2, 128, 512, 0, 0);
    check_shape(m, "model/temb/dense0/b", 1, 512, 0, 0, 0);
    check_shape(m, "model/temb/dense1/W", 2, 512, 512, 0, 0);
    check_shape(m, "model/conv_in/W", 4, 3, 3, 3, 128);
    check_shape(m, "model/conv_in/b", 1, 128, 0, 0, 0);
    check_shape(m, "model/down_0/block_0/norm1/gamma", 1, 128, 0, 0, 0);
    check_shape(m, "model/down_0/block_0/norm1/beta", 1, 128, 0, 0, 0);
    check_shape(m, "model/down_0/block_0/conv1/W", 4, 3, 3, 128, 128);
    check_shape(m, "model/down_0/block_0/temb_proj/W", 2, 512, 128, 0, 0);
    check_shape(m, "model/down_0/block_1/conv2/W", 4, 3, 3, 128, 128);
    check_shape(m, "model/down_0/downsample/conv/W", 4, 3, 3, 128, 128);
    check_shape(m, "model/down_1/block_0/nin_shortcut/W", 2, 128, 256, 0, 0);
    check_shape(m, "model/down_1/block_0/nin_shortcut/b", 1, 256, 0, 0, 0);
    check_shape(m, "model/down_1/attn_0/norm/gamma", 1, 256, 0, 0, 0);
    check_shape(m, "model/down_1/attn_0/q/W", 2, 256, 256, 0, 0);
    check_shape(m, "model/down_1/attn_1/proj_out/b", 1, 256, 0, 0, 0);
    check_shape(m, "model/mid/block_1/conv1/W", 4, 3, 3, 256, 256);
    check_shape(m, "model/mid/attn_1/k/W", 2, 256, 256, 0, 0);
    check_shape(m, "model/mid/block_2/norm2/beta", 1, 256, 0, 0, 0);
    check_shape(m, "model/up_3/block_0/nin_shortcut/W", 2, 512, 256, 0, 0);
    check_shape(m, "model/up_3/block_2/conv1/W", 4, 3, 3, 512, 256);
    check_shape(m, "model/up_1/attn_2/v/W", 2, 256, 256, 0, 0);
    check_shape(m, "model/up_1/upsample/conv/W", 4, 3, 3, 256, 256);
    check_shape(m, "model/up_1/block_0/nin_shortcut/W", 2, 512, 256, 0, 0);
    check_shape(m, "model/up_0/block_0/nin_shortcut/W", 2, 384, 128, 0, 0);
    check_shape(m, "model/up_0/block_2/nin_shortcut/W", 2, 256, 128, 0, 0);
    check_shape(m, "model/norm_out/gamma", 1, 128, 0, 0, 0);
    check_shape(m, "model/conv_out/W", 4, 3, 3, 128, 3);
    check_shape(m, "model/conv_out/b", 1, 3, 0, 0, 0);
    /* absent: no downsample on the last level, no upsample on level 0, no attention at 32/8 */
    ck_assert(unet_find(m, "model/down_3/downsample/conv/W") == NULL);
    ck_assert(unet_find(m, "model/up_0/upsample/conv/W") == NULL);
    ck_assert(unet_find(m, "model/down_0/attn_0/q/W") == NULL);
    ck_assert(unet_find(m, "model/down_2/attn_0/q/W") == NULL);
    ck_assert(unet_find(m, "model/down_0/block_0/nin_shortcut/W") == NULL);
    /* official creation order: temb first, conv_out last; GroupNorm beta before gamma */
    const int nt = unet_num_tensors(m);
    ck_assert_str_eq(unet_tensor(m, 0)->name, "model/temb/dense0/W");
    ck_assert_str_eq(unet_tensor(m, 1)->name, "model/temb/dense0/b");
    ck_assert_str_eq(unet_tensor(m, 4)->name, "model/conv_in/W");
    ck_assert_str_eq(unet_tensor(m, 6)->name, "model/down_0/block_0/norm1/beta");
    ck_assert_str_eq(unet_tensor(m, 7)->name, "model/down_0/block_0/norm1/gamma");
    ck_assert_str_eq(unet_tensor(m, 8)->name, "model/down_0/block_0/conv1/W");
    ck_assert_str_eq(unet_tensor(m, 10)->name, "model/down_0/block_0/temb_proj/W");
    ck_assert_str_eq(unet_tensor(m, nt - 1)->name, "model/conv_out/b");
    ck_assert_str_eq(unet_tensor(m, nt - 3)->name, "model/norm_out/gamma");
    ck_assert(unet_tensor(m, nt) == NULL && unet_tensor(m, -1) == NULL);
    /* packed, in order, covering exactly num_params floats; names unique */
    size_t off = 0;
    for (int i = 0; i < nt; i++) {
        const unet_param *p = unet_tensor(m, i);
        ck_assert_uint_eq(p->offset, off);
        off += p->size;
        ck_assert(unet_find(m, p->name) == p);
    }
    ck_assert_uint_eq(off, unet_num_params(m));
    fprintf(stderr, "paper config: %d tensors, activations for batch 1: %.1f MB\n", nt, unet_activation_bytes(m) / 1e6);
    unet_free(m);
}
END_TEST

START_TEST(invalid_configs)
{
    ddpm_config c;
    unet *m = (unet *)&c;
    mini_config(&c);
    c.num_groups = 5; /* 32 % 5 != 0 */
    ck_assert_int_eq(unet_create(&m, &c, 1), -1);
    ck_assert(m == NULL);
    ck_assert(strstr(ddpm_last_error(), "num_groups") != NULL);
    mini_config(&c);
    c.image_size = 30; /* 30 -> 15 cannot be halved again */
    ck_assert_int_eq(unet_create(&m, &c, 1), -1);
    ck_assert_msg(strstr(ddpm_last_error(), "image_size") != NULL, "%s", ddpm_last_error());
    mini_config(&c);
    ck_assert_int_eq(unet_create(&m, &c, 0), -1);
    mini_config(&c);
    c.ch = 30; /* 30 % 32 */
    ck_assert_int_eq(unet_create(&m, &c, 1), -1);
    ck_assert_msg(strstr(ddpm_last_error(), "num_groups") != NULL, "%s", ddpm_last_error());
    /* the config validator's ranges hold for a config filled in code */
    mini_config(&c);
    c.dropout = 1.0;
    ck_assert_int_eq(unet_create(&m, &c, 1), -1);
    ck_assert_msg(strstr(ddpm_last_error(), "'dropout'") != NULL, "%s", ddpm_last_error());
    ck_assert_int_eq(unet_count_params(&c, &(size_t){ 0 }), -1);

    /* batch larger than max_batch, backward before forward */
    mini_config(&c);
    ck_assert_int_eq(unet_create(&m, &c, 1), 0);
    float *x = calloc(2 * 28 * 28, sizeof *x), *y = calloc(2 * 28 * 28, sizeof *y);
    int32_t t[2] = { 0, 1 };
    ck_assert_int_eq(unet_backward(m, y), -1);
    ck_assert(strstr(ddpm_last_error(), "forward") != NULL);
    ck_assert_int_eq(unet_forward(y, m, x, t, 0, 0, 0, 2), -1);
    ck_assert(strstr(ddpm_last_error(), "max_batch") != NULL);
    ck_assert_int_eq(unet_forward(y, m, x, t, 0, 0, 0, 1), 0);
    ck_assert_int_eq(unet_backward(m, y), 0);
    free(x);
    free(y);
    unet_free(m);
}
END_TEST

/* ---- initialisation ---- */

START_TEST(init_statistics)
{
    ddpm_config c;
    mini_config(&c);
    unet *m;
    ck_assert_int_eq(unet_create(&m, &c, 1), 0);
    unet_init_params(m, 7);
    const float *p = unet_params(m);
    int n_zero_init = 0, n_checked_std = 0;
    for (int i = 0; i < unet_num_tensors(m); i++) {
        const unet_param *t = unet_tensor(m, i);
        const float *w = p + t->offset;
        const int is_w = ends_with(t->name, "/W");
        if (!is_w) {
            const float want = ends_with(t->name, "/gamma") ? 1.0f : 0.0f;
            for (size_t j = 0; j < t->size; j++) ck_assert_msg(w[j] == want, "%s[%zu]", t->name, j);
            ck_assert(unet_tensor_init_scale(m, i) == 0.0);
            continue;
        }
        const int zero_init =
            ends_with(t->name, "/conv2/W") || ends_with(t->name, "/proj_out/W") || ends_with(t->name, "conv_out/W");
        const double scale = zero_init ? 1e-10 : 1.0;
        ck_assert_msg(unet_tensor_init_scale(m, i) == scale, "%s scale", t->name);
        const int rec = t->rank == 4 ? t->shape[0] * t->shape[1] : 1;
        const double fan_in = (double)rec * t->shape[t->rank - 2], fan_out = (double)rec * t->shape[t->rank - 1];
        const double limit = sqrt(3.0 * scale / ((fan_in + fan_out) / 2.0));
        double s = 0, ss = 0, mx = 0;
        for (size_t j = 0; j < t->size; j++) {
            s += (double)w[j];
            ss += (double)w[j] * (double)w[j];
            if (fabs((double)w[j]) > mx) mx = fabs((double)w[j]);
        }
        const double n = (double)t->size, mean = s / n, sd = sqrt(ss / n - mean * mean);
        ck_assert_msg(mx < limit, "%s: max |w| %g >= limit %g", t->name, mx, limit);
        ck_assert_msg(mx > 0.5 * limit, "%s: max |w| %g << limit %g", t->name, mx, limit);
        n_zero_init += zero_init;
        if (t->size >= 10000) {
            /* U(-a, a): sd = a/sqrt(3); the sample sd's relative sd is sqrt(0.8/(4n)) <= 0.0045,
             * so 0.03 is > 6 sigma; the mean's sd is sd/sqrt(n), allow 6 sigma */
            ck_assert_msg(fabs(sd / (limit / sqrt(3.0)) - 1.0) < 0.03, "%s: sd %g limit %g", t->name, sd, limit);
            ck_assert_msg(fabs(mean) < 6 * sd / sqrt(n), "%s: mean %g", t->name, mean);
            n_checked_std++;
        }
    }
    /* 1 res block per level: 3 down + 2 mid + 6 up conv2; proj_out of down_1/attn_0, mid/attn_1,
     * up_1/attn_0, up_1/attn_1; conv_out */
    ck_assert_int_eq(n_zero_init, 11 + 4 + 1);
    ck_assert(n_checked_std > 10);
    fprintf(stderr, "init: %d zero-init weight tensors, %d tensors with sd checked\n", n_zero_init, n_checked_std);

    /* reproducible per seed, different across seeds */
    const size_t np = unet_num_params(m);
    float *copy = malloc(np * sizeof *copy);
    memcpy(copy, p, np * sizeof *copy);
    unet_init_params(m, 7);
    ck_assert(!memcmp(copy, p, np * sizeof *copy));
    unet_init_params(m, 8);
    ck_assert(memcmp(copy, p, np * sizeof *copy));
    free(copy);
    unet_free(m);
}
END_TEST

/* ---- helpers for the numeric tests ---- */

/* All parameters random like the reference script (weights at the scale-1 fan_avg limit even
 * where the official init is ~0, so every branch carries gradient). */
static void randomize_params(unet *m, uint64_t seed)
{
    float *p = unet_params(m);
    for (int i = 0; i < unet_num_tensors(m); i++) {
        const unet_param *t = unet_tensor(m, i);
        float *w = p + t->offset;
        double lo = -0.1, hi = 0.1;
        if (ends_with(t->name, "/W")) {
            const int rec = t->rank == 4 ? t->shape[0] * t->shape[1] : 1;
            double a = sqrt(3.0 / ((rec * (double)t->shape[t->rank - 2] + rec * (double)t->shape[t->rank - 1]) / 2));
            lo = -a;
            hi = a;
        } else if (ends_with(t->name, "/gamma")) {
            lo = 0.8;
            hi = 1.2;
        }
        rng_uniform_fill(rng_stream_make(seed, RNG_EVAL, 1, (uint32_t)i), w, t->size);
        for (size_t j = 0; j < t->size; j++) w[j] = (float)(lo + (hi - lo) * (double)w[j]);
    }
}

static void tiny_config(ddpm_config *c, double dropout)
{
    /* 8 -> 4 with attention at 4 and in the middle; learned variance (2 outputs); gray input */
    config_defaults(c);
    ck_assert_int_eq(config_set(c, "dataset=png_gray"), 0);
    ck_assert_int_eq(config_set(c, "image_size=8"), 0);
    ck_assert_int_eq(config_set(c, "ch=8"), 0);
    ck_assert_int_eq(config_set(c, "ch_mult=1,2"), 0);
    ck_assert_int_eq(config_set(c, "num_res_blocks=1"), 0);
    ck_assert_int_eq(config_set(c, "attn_resolutions=4"), 0);
    ck_assert_int_eq(config_set(c, "num_groups=2"), 0);
    ck_assert_int_eq(config_set(c, "model_var_type=learned"), 0);
    ck_assert_int_eq(config_set(c, "loss_type=kl"), 0);
    c->dropout = dropout;
}

/* ---- determinism ---- */

START_TEST(forward_deterministic)
{
    ddpm_config c;
    tiny_config(&c, 0.3);
    unet *m;
    ck_assert_int_eq(unet_create(&m, &c, 3), 0);
    randomize_params(m, 3);
    const int B = 3, S = 8, nx = B * S * S, ny = B * S * S * 2;
    float *x = malloc(nx * sizeof *x), *y1 = malloc(ny * sizeof *y1), *y2 = malloc(ny * sizeof *y2);
    float *y3 = malloc(ny * sizeof *y3);
    rng_normal_fill(rng_stream_make(5, RNG_EVAL, 0, 0), x, nx);
    int32_t t[3] = { 3, 500, 999 };
    /* train = 0: deterministic and dropout-free (seed and step are ignored) */
    ck_assert_int_eq(unet_forward(y1, m, x, t, 0, 1, 1, B), 0);
    ck_assert_int_eq(unet_forward(y2, m, x, t, 0, 2, 9, B), 0);
    ck_assert(!memcmp(y1, y2, ny * sizeof *y1));
    /* train = 1: dropout changes the output, reproducibly for the same (seed, step) */
    ck_assert_int_eq(unet_forward(y2, m, x, t, 1, 11, 4, B), 0);
    ck_assert(memcmp(y1, y2, ny * sizeof *y1));
    ck_assert_int_eq(unet_forward(y3, m, x, t, 1, 11, 4, B), 0);
    ck_assert(!memcmp(y2, y3, ny * sizeof *y2));
    ck_assert_int_eq(unet_forward(y3, m, x, t, 1, 11, 5, B), 0);
    ck_assert(memcmp(y2, y3, ny * sizeof *y2));
    /* examples are independent: example 1 alone gives the same output as inside the batch
     * (up to GEMM blocking, which may change the float summation order: 1e-5 of max |y|) */
    ck_assert_int_eq(unet_forward(y1, m, x, t, 0, 0, 0, B), 0);
    ck_assert_int_eq(unet_forward(y3, m, x + S * S, t + 1, 0, 0, 0, 1), 0);
    ck_assert(test_max_rel_err_f32(y3, y1 + S * S * 2, S * S * 2) < 1e-5);
    free(x);
    free(y1);
    free(y2);
    free(y3);
    unet_free(m);
}
END_TEST

/* The mini U-Net's forward (with dropout) and backward give bit-identical outputs and gradients
 * on 1, 2 and 3 OpenMP threads (DESIGN.md: results do not depend on the thread count). */
START_TEST(thread_count_independent)
{
    ddpm_config c;
    mini_config(&c);
    c.dropout = 0.1;
    const int B = 4, S = 28;
    unet *m;
    ck_assert_int_eq(unet_create(&m, &c, B), 0);
    randomize_params(m, 7);
    const size_t nx = (size_t)B * S * S, np = unet_num_params(m);
    float *x = malloc(nx * sizeof *x), *dy = malloc(nx * sizeof *dy);
    float *y[3], *g[3];
    rng_normal_fill(rng_stream_make(8, RNG_EVAL, 0, 0), x, nx);
    rng_normal_fill(rng_stream_make(8, RNG_EVAL, 1, 0), dy, nx);
    int32_t t[4] = { 0, 17, 500, 999 };
    for (int k = 0; k < 3; k++) {
        omp_set_num_threads(k + 1);
        y[k] = malloc(nx * sizeof(float));
        g[k] = malloc(np * sizeof(float));
        ck_assert_int_eq(unet_forward(y[k], m, x, t, 1, 3, 2, B), 0);
        unet_zero_grads(m);
        ck_assert_int_eq(unet_backward(m, dy), 0);
        memcpy(g[k], unet_grads(m), np * sizeof(float));
    }
    for (int k = 1; k < 3; k++) {
        ck_assert_msg(!memcmp(y[0], y[k], nx * sizeof(float)), "output on %d threads differs from 1 thread", k + 1);
        ck_assert_msg(!memcmp(g[0], g[k], np * sizeof(float)), "gradients on %d threads differ from 1 thread", k + 1);
    }
    for (int k = 0; k < 3; k++) {
        free(y[k]);
        free(g[k]);
    }
    free(x);
    free(dy);
    unet_free(m);
}
END_TEST

/* ---- whole-model gradient vs finite differences ---- */

/* L = sum_i y_i R_i in double, for the float model. */
static double model_loss(unet *m, const float *x, const int32_t *t, int B, int train, const float *R, float *y,
                         size_t ny)
{
    ck_assert_int_eq(unet_forward(y, m, x, t, train, 21, 3, B), 0);
    double s = 0;
    for (size_t i = 0; i < ny; i++) s += (double)y[i] * (double)R[i];
    return s;
}

/* Values on a 2^-12 grid with |v| < 8 stay exactly representable in float32 after adding
 * multiples of a power-of-two step >= 2^-12, so the finite-difference steps are exact. */
#define FD_GRID 4096.0f

static void quantize(float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) v[i] = roundf(v[i] * FD_GRID) / FD_GRID;
}

/* Fourth-order central difference along direction u (entries +-1; NULL = the single element
 * v[0]) of the float model's loss: (L(-2h) - 8 L(-h) + 8 L(h) - L(2h)) / 12h, truncation
 * error h^4/30 f^(5). */
static double fd4(unet *m, float *v, const int8_t *u, size_t n, float h, const float *x, const int32_t *t, int B,
                  int train, const float *R, float *y, size_t ny)
{
    float *v0 = malloc(n * sizeof *v0);
    memcpy(v0, v, n * sizeof *v0);
    const float off[4] = { -2 * h, -h, h, 2 * h };
    double l[4];
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < n; i++) v[i] = v0[i] + (u ? u[i] : 1) * off[k];
        l[k] = model_loss(m, x, t, B, train, R, y, ny);
    }
    memcpy(v, v0, n * sizeof *v0);
    free(v0);
    return (l[0] - 8 * l[1] + 8 * l[2] - l[3]) / (12.0 * (double)h);
}

/* Largest power of two <= x. */
static float pow2_floor(double x) { return (float)ldexp(1.0, (int)floor(log2(x))); }

static void gradient_check(double dropout, int train)
{
    ddpm_config c;
    tiny_config(&c, dropout);
    unet *m;
    ck_assert_int_eq(unet_create(&m, &c, 2), 0);
    randomize_params(m, 4);
    const int B = 2, S = 8;
    const size_t nx = (size_t)B * S * S, ny = nx * 2;
    float *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *R = malloc(ny * sizeof *R);
    float *dx = calloc(nx, sizeof *dx);
    rng_normal_fill(rng_stream_make(6, RNG_EVAL, 0, 0), x, nx);
    rng_normal_fill(rng_stream_make(6, RNG_EVAL, 0, 1), R, ny);
    quantize(x, nx);
    quantize(unet_params(m), unet_num_params(m));
    int32_t t[2] = { 17, 901 };

    const double L0 = model_loss(m, x, t, B, train, R, y, ny);
    /* Rounding noise of the float32 loss: L evaluated along a line jitters by up to ~1.2e-5 =
     * 2 eps32 sum|y R| for this model (measured); bound it by 8 eps32 sum|y R|. A difference
     * quotient with step h carries (1+8+8+1)/12 * noise / h of it. */
    double sabs = 0;
    for (size_t i = 0; i < ny; i++) sabs += fabs((double)y[i] * (double)R[i]);
    const double noise_L = 8 * 5.96e-8 * sabs;
    unet_zero_grads(m);
    ck_assert_int_eq(unet_backward_input(dx, m, R), 0);
    const float *g = unet_grads(m);
    float *p = unet_params(m);

    size_t umax = nx;
    for (int i = 0; i < unet_num_tensors(m); i++)
        umax = unet_tensor(m, i)->size > umax ? unet_tensor(m, i)->size : umax;
    int8_t *u = malloc(umax * sizeof *u);
    int checked = 0, failed = 0;
    double worst_dir = 0, worst_el = 0;
    for (int i = 0; i < unet_num_tensors(m) + 1; i++) {
        const int is_input = i == unet_num_tensors(m);
        const unet_param *tp = is_input ? NULL : unet_tensor(m, i);
        const char *name = is_input ? "x" : tp->name;
        const size_t size = is_input ? nx : tp->size;
        float *base = is_input ? x : p + tp->offset;
        const float *grad = is_input ? dx : g + tp->offset;

        /* (1) the whole tensor along a random +-1 direction: dL = sum_i g_i u_i. The step keeps
         * the perturbation's norm h sqrt(n) near 0.05 (truncation small), and the signal grows
         * like sqrt(n) while the noise does not, so this pins every tensor's gradient. */
        for (size_t j = 0; j < size; j++)
            u[j] = rng_uniform(rng_stream_make(9, RNG_EVAL, 3, (uint32_t)i), j) < 0.5f ? -1 : 1;
        double an = 0;
        for (size_t j = 0; j < size; j++) an += (double)grad[j] * u[j];
        float h = pow2_floor(0.05 / sqrt((double)size));
        ck_assert(h >= 1.0f / FD_GRID); /* exact steps */
        double fd = fd4(m, base, u, size, h, x, t, B, train, R, y, ny);
        double atol = 1.5 * noise_L / (double)h;
        double err = fabs(fd - an);
        if (fabs(an) > 100 * atol) worst_dir = fmax(worst_dir, err / fabs(an));
        if (!(err <= FD_RTOL * fabs(an) + atol)) {
            failed++;
            fprintf(stderr, "  FD mismatch %s along u: analytic %.7g fd %.7g (atol %.2g)\n", name, an, fd, atol);
        }
        checked++;

        /* (2) single elements: one per tensor (two for every fifth), 12 input pixels */
        const int picks = is_input ? 12 : (i % 5 == 0 ? 2 : 1);
        for (int k = 0; k < picks; k++) {
            size_t j = rng_below(rng_stream_make(8, RNG_EVAL, 2, (uint32_t)i), (uint64_t)k, (uint32_t)size);
            h = FD_ELEM_STEP;
            an = (double)grad[j];
            fd = fd4(m, base + j, NULL, 1, h, x, t, B, train, R, y, ny);
            atol = 1.5 * noise_L / (double)h;
            err = fabs(fd - an);
            if (fabs(an) > 100 * atol) worst_el = fmax(worst_el, err / fabs(an));
            if (!(err <= FD_RTOL * fabs(an) + atol)) {
                failed++;
                fprintf(stderr, "  FD mismatch %s[%zu]: analytic %.7g fd %.7g (atol %.2g)\n", name, j, an, fd, atol);
            }
            checked++;
        }
    }
    fprintf(stderr,
            "gradient check (dropout %.2f, train %d): L = %.6g, noise bound %.2g; %d checks, "
            "%d mismatches; max rel err where |g| > 100 atol: directions %.3g, elements %.3g\n",
            dropout, train, L0, noise_L, checked, failed, worst_dir, worst_el);
    ck_assert_int_eq(failed, 0);
    free(x);
    free(y);
    free(R);
    free(dx);
    free(u);
    unet_free(m);
}

START_TEST(gradient_fd) { gradient_check(0.0, 0); }
END_TEST
START_TEST(gradient_fd_dropout) { gradient_check(0.25, 1); }
END_TEST

/* ---- PyTorch reference ---- */

static void ref_config(hid_t f, const char *grp, ddpm_config *c)
{
    int64_t v;
    char buf[256], kv[300];
    config_defaults(c);
    static const char *const int_keys[] = { "ch", "num_res_blocks", "num_groups", "image_size", "resamp_with_conv" };
    for (size_t i = 0; i < DDPM_ARRAY_LEN(int_keys); i++) {
        ck_assert_int_eq(h5io_get_attr_i64(f, grp, int_keys[i], &v), 0);
        snprintf(kv, sizeof kv, "%s=%lld", int_keys[i], (long long)v);
        ck_assert_int_eq(config_set(c, kv), 0);
    }
    ck_assert_int_eq(h5io_get_attr_str(f, grp, "ch_mult", buf, sizeof buf), 0);
    snprintf(kv, sizeof kv, "ch_mult=%s", buf);
    ck_assert_int_eq(config_set(c, kv), 0);
    ck_assert_int_eq(h5io_get_attr_str(f, grp, "attn_resolutions", buf, sizeof buf), 0);
    snprintf(kv, sizeof kv, "attn_resolutions=%s", buf);
    ck_assert_int_eq(config_set(c, kv), 0);
    double d;
    ck_assert_int_eq(h5io_get_attr_f64(f, grp, "dropout", &d), 0);
    c->dropout = d;
    int64_t cin, cout;
    ck_assert_int_eq(h5io_get_attr_i64(f, grp, "in_channels", &cin), 0);
    ck_assert_int_eq(h5io_get_attr_i64(f, grp, "out_channels", &cout), 0);
    ck_assert(cin == 1 || cin == 3);
    ck_assert(cout == cin || cout == 2 * cin);
    ck_assert_int_eq(config_set(c, cin == 1 ? "dataset=png_gray" : "dataset=png_rgb"), 0);
    if (cout == 2 * cin) {
        ck_assert_int_eq(config_set(c, "model_var_type=learned"), 0);
        ck_assert_int_eq(config_set(c, "loss_type=kl"), 0);
    }
}

static void path(char *buf, size_t n, const char *grp, const char *a, const char *b)
{
    snprintf(buf, n, "%s%s%s%s", strcmp(grp, ".") ? grp : "", strcmp(grp, ".") ? "/" : "", a, b);
}

/* Reads every tensor of the model from <grp>/<prefix><name> into dst (num_params layout). */
static void read_tensors(hid_t f, const char *grp, const char *prefix, const unet *m, float *dst)
{
    char name[512];
    for (int i = 0; i < unet_num_tensors(m); i++) {
        const unet_param *t = unet_tensor(m, i);
        hsize_t dims[4];
        for (int k = 0; k < t->rank; k++) dims[k] = (hsize_t)t->shape[k];
        path(name, sizeof name, grp, prefix, t->name);
        ck_assert_msg(h5io_read_into_f32(f, name, dst + t->offset, t->rank, dims) == 0,
                      "%s (rerun scripts/gen_unet_reference.py): %s", REF_PATH, ddpm_last_error());
    }
}

#if H5_VERSION_GE(1, 12, 0)
typedef H5O_info2_t obj_info;
#define VISIT(g, fn, data) H5Ovisit3(g, H5_INDEX_NAME, H5_ITER_NATIVE, fn, data, H5O_INFO_BASIC)
#else
typedef H5O_info_t obj_info;
#define VISIT(g, fn, data) H5Ovisit2(g, H5_INDEX_NAME, H5_ITER_NATIVE, fn, data, H5O_INFO_BASIC)
#endif

static herr_t count_datasets(hid_t obj, const char *name, const obj_info *info, void *op_data)
{
    (void)obj;
    (void)name;
    if (info->type == H5O_TYPE_DATASET) (*(int *)op_data)++;
    return 0;
}

/* Weights (or EMA) after 3 Adam steps against the reference. Adam divides by |g| + 1e-8, so
 * an element whose gradient is near 0 (relative to the float32 noise of either
 * implementation) takes a step decided by that noise; the reference records how far its own
 * float32 run is from a float64 run of the same steps (attributes f64_check_*). Three classes:
 *  - tensors whose exact gradient is 0 (attention key biases): the exact result is the initial
 *    value. Their float32 gradient is rounding noise, asserted at every step to be at most
 *    1e-6 of the step's largest gradient; Adam then moves them by
 *    |lr_t m_t / (sqrt(v_t) + eps)| <= lr sqrt(1 - b2^t) G_t / eps per step, G_t the largest
 *    noise |g| seen up to step t (|m_t| <= (1 - b1^t) G_t), and they must stay within the sum
 *    of that over the 3 steps (zero_bound). How large the noise is (hence the move) depends on
 *    the rounding of each implementation; the reference's own float32 drift there
 *    (f64_check_after3_zero_abs) is printed beside ours for scale;
 *  - elements whose step-1 gradient is below COND_FRAC of their tensor's largest: within
 *    2 x f64_check_after3_abs (resp. _ema_abs) of the reference (two float32 runs, each that
 *    close to the float64 one);
 *  - all other elements: REF_TOL relative to the tensor's max|want|. Gradients agree to ~5e-6
 *    of each tensor's max (measured above), so an element at >= 1e-2 of the max has its
 *    gradient known to 5e-4 relative, which moves Adam's normalised step by well under 1e-4
 *    of the weights. */
#define COND_FRAC 1e-2

/* max |v| over the elements of the tensors named in zero_list (the exact-zero-gradient ones) */
static double zero_list_max_abs(const unet *m, const char *zero_list, const float *v)
{
    double mx = 0;
    for (int i = 0; i < unet_num_tensors(m); i++) {
        const unet_param *tp = unet_tensor(m, i);
        if (!strstr(zero_list, tp->name)) continue;
        for (size_t j = 0; j < tp->size; j++) mx = fmax(mx, fabs((double)v[tp->offset + j]));
    }
    return mx;
}

static void compare_after3(const char *grp, const char *what, const unet *m, const float *got, const float *want,
                           const float *init, const float *gref, const char *zero_list, double ill_abs,
                           double zero_bound, int *nbad)
{
    double worst_rel = 0, worst_ill = 0, worst_zero = 0;
    const char *worst_name = "";
    size_t n_ill = 0, n_zero = 0, n_all = 0;
    for (int i = 0; i < unet_num_tensors(m); i++) {
        const unet_param *t = unet_tensor(m, i);
        const size_t o = t->offset;
        if (strstr(zero_list, t->name)) {
            for (size_t j = 0; j < t->size; j++) {
                const double d = fabs((double)got[o + j] - (double)init[o + j]);
                worst_zero = fmax(worst_zero, d);
                if (!(d <= zero_bound)) {
                    fprintf(stderr, "  %s %s[%zu] (exact gradient 0): moved %.3g > Adam's bound %.3g for its noise\n",
                            what, t->name, j, d, zero_bound);
                    (*nbad)++;
                }
            }
            n_zero += t->size;
            n_all += t->size;
            continue;
        }
        double gmax = 0, wmax = 0, dmax = 0;
        for (size_t j = 0; j < t->size; j++) {
            gmax = fmax(gmax, fabs((double)gref[o + j]));
            wmax = fmax(wmax, fabs((double)want[o + j]));
        }
        for (size_t j = 0; j < t->size; j++) {
            const double d = fabs((double)got[o + j] - (double)want[o + j]);
            n_all++;
            if (fabs((double)gref[o + j]) < COND_FRAC * gmax) {
                n_ill++;
                worst_ill = fmax(worst_ill, d);
                if (!(d <= 2 * ill_abs)) {
                    fprintf(stderr, "  %s %s[%zu] (ill-conditioned): |diff| %.3g > %.3g\n", what, t->name, j, d,
                            2 * ill_abs);
                    (*nbad)++;
                }
            } else if (d > dmax || d != d) {
                dmax = d;
            }
        }
        const double r = dmax / (wmax > 0 ? wmax : 1);
        if (r > worst_rel) {
            worst_rel = r;
            worst_name = t->name;
        }
        if (!(r <= REF_TOL)) {
            fprintf(stderr, "  %s %s: rel err %.3g > %g\n", what, t->name, r, REF_TOL);
            (*nbad)++;
        }
    }
    fprintf(stderr,
            "[%s] %s after 3 steps: worst max rel err %.3g (%s) over %zu well-conditioned "
            "elements; %zu ill-conditioned: max |diff| %.3g (bound 2 x %.3g); %zu with exact "
            "gradient 0: max drift %.3g (Adam's bound for their noise %.3g)\n",
            grp, what, worst_rel, worst_name, n_all - n_ill - n_zero, n_ill, worst_ill, ill_abs, n_zero, worst_zero,
            zero_bound);
}

static void reference_case(const char *grp)
{
    hid_t f = test_ref_open(REF_PATH, REF_VERSION, "scripts/gen_unet_reference.py");
    ddpm_config c;
    ref_config(f, grp, &c);
    char name[512];
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    path(name, sizeof name, grp, "x", "");
    ck_assert_int_eq(h5io_shape(f, name, &rank, dims), 0);
    const int B = (int)dims[0], S = c.image_size;
    unet *m;
    ck_assert_int_eq(unet_create(&m, &c, B), 0);
    const int cin = unet_in_channels(m), cout = unet_out_channels(m);
    const size_t np = unet_num_params(m), nx = (size_t)B * S * S * cin, ny = (size_t)B * S * S * cout;

    /* the file holds exactly our tensors */
    int nds = 0;
    path(name, sizeof name, grp, "params", "");
    hid_t pg = H5Oopen(f, name, H5P_DEFAULT);
    ck_assert(pg >= 0);
    ck_assert(VISIT(pg, count_datasets, &nds) >= 0);
    H5Oclose(pg);
    ck_assert_int_eq(nds, unet_num_tensors(m));
    read_tensors(f, grp, "params/", m, unet_params(m));

    float *x = malloc(nx * sizeof *x), *target = malloc(ny * sizeof *target), *y = malloc(ny * sizeof *y);
    float *ywant = malloc(ny * sizeof *ywant), *dy = malloc(ny * sizeof *dy);
    int32_t *t = NULL;
    hsize_t dx4[4] = { (hsize_t)B, (hsize_t)S, (hsize_t)S, (hsize_t)cin };
    hsize_t dy4[4] = { (hsize_t)B, (hsize_t)S, (hsize_t)S, (hsize_t)cout };
    path(name, sizeof name, grp, "x", "");
    ck_assert_int_eq(h5io_read_into_f32(f, name, x, 4, dx4), 0);
    path(name, sizeof name, grp, "target", "");
    ck_assert_int_eq(h5io_read_into_f32(f, name, target, 4, dy4), 0);
    path(name, sizeof name, grp, "y", "");
    ck_assert_int_eq(h5io_read_into_f32(f, name, ywant, 4, dy4), 0);
    path(name, sizeof name, grp, "t", "");
    ck_assert_int_eq(h5io_read_i32(f, name, &t, NULL, NULL), 0);
    double loss_want, gnorm_want[3], losses_want[3];
    hsize_t d1 = 1, d3 = 3;
    path(name, sizeof name, grp, "loss", "");
    ck_assert_int_eq(h5io_read_into_f64(f, name, &loss_want, 1, &d1), 0);
    path(name, sizeof name, grp, "gnorm", "");
    ck_assert_int_eq(h5io_read_into_f64(f, name, gnorm_want, 1, &d3), 0);
    path(name, sizeof name, grp, "losses", "");
    ck_assert_int_eq(h5io_read_into_f64(f, name, losses_want, 1, &d3), 0);

    float *gwant = malloc(np * sizeof *gwant), *pwant = malloc(np * sizeof *pwant);
    float *ewant = malloc(np * sizeof *ewant), *ema = malloc(np * sizeof *ema);
    read_tensors(f, grp, "grads/", m, gwant);
    read_tensors(f, grp, "after3/params/", m, pwant);
    read_tensors(f, grp, "after3/ema/", m, ewant);
    /* tensors whose exact gradient is 0 (attention key biases) */
    char zero_list[1024] = "";
    if (h5io_attr_exists(f, grp, "zero_grad_params") == 1)
        ck_assert_int_eq(h5io_get_attr_str(f, grp, "zero_grad_params", zero_list, sizeof zero_list), 0);

    /* forward, loss L = mean((y - target)^2), gradient */
    float *params = unet_params(m), *grads = unet_grads(m);
    float *init = malloc(np * sizeof *init);
    memcpy(ema, params, np * sizeof *ema);
    memcpy(init, params, np * sizeof *init);
    double gnorm[3], losses[3];
    const double LR = 1e-2;
    double zero_noise = 0, zero_bound = 0; /* largest noise gradient so far; bound on the move */
    int nbad = 0;
    adam_state adam;
    ck_assert_int_eq(adam_init(&adam, np), 0);
    /* the inference plan's forward against the same reference, then back to the unplanned one */
    ck_assert_int_eq(unet_prepare_inference(m), 0);
    ck_assert_int_eq(unet_forward(y, m, x, t, 0, 0, 0, B), 0);
    const double ry_plan = test_max_rel_err_f32(y, ywant, ny);
    fprintf(stderr, "[%s] y with the inference plan: max rel err %.3g\n", grp, ry_plan);
    ck_assert(ry_plan <= REF_TOL);
    unet_release_inference(m);
    for (int step = 0; step < 3; step++) {
        ck_assert_int_eq(unet_forward(y, m, x, t, 0, 0, (uint32_t)step, B), 0);
        double L = 0;
        for (size_t i = 0; i < ny; i++) {
            double d = (double)y[i] - (double)target[i];
            L += d * d;
            dy[i] = (float)(2.0 * d / (double)ny);
        }
        losses[step] = L / (double)ny;
        unet_zero_grads(m);
        ck_assert_int_eq(unet_backward(m, dy), 0);
        if (step == 0) {
            double ry = test_max_rel_err_f32(y, ywant, ny);
            fprintf(stderr, "[%s] y: max rel err %.3g; loss %.10f (ref %.10f, rel %.3g)\n", grp, ry, losses[0],
                    loss_want, fabs(losses[0] - loss_want) / loss_want);
            ck_assert(ry <= REF_TOL);
            ck_assert(fabs(losses[0] - loss_want) <= REF_TOL * loss_want);
            /* gradients: per tensor; the exact-zero ones (float noise in both) in absolute terms */
            double worst = 0, gmax = 0;
            const char *worst_name = "";
            for (size_t i = 0; i < np; i++) gmax = fmax(gmax, fabs((double)gwant[i]));
            for (int i = 0; i < unet_num_tensors(m); i++) {
                const unet_param *tp = unet_tensor(m, i);
                if (strstr(zero_list, tp->name)) {
                    /* |g| <= 1e-6 of the largest gradient: 0 up to float32 noise */
                    double mx = 0;
                    for (size_t j = 0; j < tp->size; j++) mx = fmax(mx, fabs((double)grads[tp->offset + j]));
                    fprintf(stderr, "[%s] grad %s (exactly 0 in exact arithmetic): max |g| %.3g\n", grp, tp->name, mx);
                    ck_assert(mx <= 1e-6 * gmax);
                    continue;
                }
                double r = test_max_rel_err_f32(grads + tp->offset, gwant + tp->offset, tp->size);
                if (r > worst) {
                    worst = r;
                    worst_name = tp->name;
                }
                if (r > REF_TOL) {
                    fprintf(stderr, "  grad %s: rel err %.3g\n", tp->name, r);
                    nbad++;
                }
            }
            fprintf(stderr, "[%s] grads: %d tensors, worst max rel err %.3g (%s)\n", grp, unet_num_tensors(m), worst,
                    worst_name);
        }
        gnorm[step] = clip_grad_global_norm(grads, np, 1.0);
        /* the exact-zero gradients are noise at every step; Adam's bound on what it moves them */
        double gall = 0;
        for (size_t i = 0; i < np; i++) gall = fmax(gall, fabs((double)grads[i]));
        const double gz = zero_list_max_abs(m, zero_list, grads);
        ck_assert_msg(gz <= 1e-6 * gall, "step %d: exact-zero gradients up to %.3g (largest %.3g)", step + 1, gz, gall);
        zero_noise = fmax(zero_noise, gz);
        zero_bound += LR * sqrt(1.0 - pow(adam.beta2, step + 1)) * zero_noise / adam.eps;
        adam_update(&adam, params, grads, LR);
        ema_update(ema, params, np, 0.9);
    }
    adam_free(&adam);
    for (int s = 0; s < 3; s++) {
        fprintf(stderr, "[%s] step %d: loss %.8f (ref %.8f) gnorm %.8f (ref %.8f, rel %.3g)\n", grp, s + 1, losses[s],
                losses_want[s], gnorm[s], gnorm_want[s], fabs(gnorm[s] - gnorm_want[s]) / gnorm_want[s]);
        ck_assert(fabs(gnorm[s] - gnorm_want[s]) <= REF_TOL * gnorm_want[s]);
        ck_assert(fabs(losses[s] - losses_want[s]) <= REF_TOL * losses_want[s]);
    }
    double ill_p, ill_e, zero_p;
    ck_assert_int_eq(h5io_get_attr_f64(f, grp, "f64_check_after3_abs", &ill_p), 0);
    ck_assert_int_eq(h5io_get_attr_f64(f, grp, "f64_check_ema_abs", &ill_e), 0);
    ck_assert_int_eq(h5io_get_attr_f64(f, grp, "f64_check_after3_zero_abs", &zero_p), 0);
    /* plus the float rounding of the Adam arithmetic (relative) and of 3 weight updates */
    zero_bound = zero_bound * (1 + 1e-5) + (double)(3 * FLT_EPSILON) * zero_list_max_abs(m, zero_list, init);
    fprintf(stderr, "[%s] exact-zero gradients: noise up to %.3g; the reference's own float32 drift there %.3g\n", grp,
            zero_noise, zero_p);
    compare_after3(grp, "params", m, params, pwant, init, gwant, zero_list, ill_p, zero_bound, &nbad);
    /* the EMA moves 1-0.9 of the way per step, so its drift is at most the weights' */
    compare_after3(grp, "ema", m, ema, ewant, init, gwant, zero_list, ill_e, zero_bound, &nbad);
    ck_assert_int_eq(nbad, 0);

    free(x);
    free(target);
    free(y);
    free(ywant);
    free(dy);
    ddpm_free(t);
    free(gwant);
    free(pwant);
    free(ewant);
    free(ema);
    free(init);
    unet_free(m);
    h5io_close(f);
}

START_TEST(pytorch_reference_case1) { reference_case("."); }
END_TEST
START_TEST(pytorch_reference_case2) { reference_case("case2"); }
END_TEST

/* Recomputing the res blocks' swish/dropout outputs in the backward (unet_create_ex) gives
 * bit-identical outputs and gradients, with dropout on and off, in less activation memory. */
START_TEST(recompute_bit_identical)
{
    for (int drop = 0; drop < 2; drop++) {
        ddpm_config c;
        mini_config(&c);
        c.dropout = drop ? 0.1 : 0.0;
        const int B = 2, S = 28;
        unet *m[2];
        for (int k = 0; k < 2; k++) {
            ck_assert_int_eq(unet_create_ex(&m[k], &c, B, k), 0);
            randomize_params(m[k], 9);
        }
        ck_assert_uint_lt(unet_activation_bytes(m[1]), unet_activation_bytes(m[0]) * 9 / 10);
        const size_t nx = (size_t)B * S * S, np = unet_num_params(m[0]);
        float *x = malloc(nx * sizeof *x), *dy = malloc(nx * sizeof *dy), *y[2];
        rng_normal_fill(rng_stream_make(10, RNG_EVAL, 0, 0), x, nx);
        rng_normal_fill(rng_stream_make(10, RNG_EVAL, 1, 0), dy, nx);
        int32_t t[2] = { 5, 700 };
        for (int k = 0; k < 2; k++) {
            y[k] = malloc(nx * sizeof(float));
            ck_assert_int_eq(unet_forward(y[k], m[k], x, t, 1, 3, 2, B), 0);
            unet_zero_grads(m[k]);
            ck_assert_int_eq(unet_backward(m[k], dy), 0);
        }
        ck_assert(!memcmp(y[0], y[1], nx * sizeof(float)));
        ck_assert_msg(!memcmp(unet_grads(m[0]), unet_grads(m[1]), np * sizeof(float)),
                      "gradients differ with recomputation (dropout %d)", drop);
        for (int k = 0; k < 2; k++) {
            free(y[k]);
            unet_free(m[k]);
        }
        free(x);
        free(dy);
    }
}
END_TEST

/* The arena's sharing by lifetimes (unet_create_layout) changes no bit: two training steps (the
 * second one on memory the first left dirty) give the same outputs, parameter gradients and
 * input gradients as every buffer in its own memory, for kept and recomputed activations, with
 * dropout on and off, for the mini U-Net and (one step) the paper U-Net; a second backward of one
 * forward is refused (the first one reused the values' memory). */
static void sharing_case(const ddpm_config *c, int B, int recompute, int steps)
{
    const int S = c->image_size;
    unet *m[2];
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(unet_create_layout(&m[k], c, B, recompute, k), 0);
        randomize_params(m[k], 31);
    }
    ck_assert_uint_lt(unet_activation_bytes(m[1]), unet_activation_bytes(m[0]));
    const size_t nx = (size_t)B * S * S * unet_in_channels(m[0]), ny = (size_t)B * S * S * unet_out_channels(m[0]);
    const size_t np = unet_num_params(m[0]);
    float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy), *y[2], *dx[2];
    int32_t *t = malloc((size_t)B * sizeof *t);
    for (int k = 0; k < 2; k++) {
        y[k] = malloc(ny * sizeof(float));
        dx[k] = calloc(nx, sizeof(float));
    }
    for (int step = 0; step < steps; step++) {
        rng_normal_fill(rng_stream_make(32, RNG_EVAL, (uint32_t)step, 0), x, nx);
        rng_normal_fill(rng_stream_make(32, RNG_EVAL, (uint32_t)step, 1), dy, ny);
        for (int b = 0; b < B; b++) t[b] = (int32_t)((step * 389 + b * 613) % 1000);
        for (int k = 0; k < 2; k++) {
            ck_assert_int_eq(unet_forward(y[k], m[k], x, t, 1, 3, (uint32_t)step, B), 0);
            unet_zero_grads(m[k]);
            ck_assert_int_eq(unet_backward_input(dx[k], m[k], dy), 0);
        }
        ck_assert_msg(!memcmp(y[0], y[1], ny * sizeof(float)), "step %d: outputs differ with sharing", step);
        ck_assert_msg(!memcmp(unet_grads(m[0]), unet_grads(m[1]), np * sizeof(float)),
                      "step %d: gradients differ with sharing (recompute %d, dropout %g)", step, recompute, c->dropout);
        ck_assert_msg(!memcmp(dx[0], dx[1], nx * sizeof(float)), "step %d: input gradients differ with sharing", step);
    }
    ck_assert_int_ne(unet_backward(m[1], dy), 0);
    for (int k = 0; k < 2; k++) {
        free(y[k]);
        free(dx[k]);
        unet_free(m[k]);
    }
    free(x);
    free(dy);
    free(t);
}

START_TEST(arena_sharing_bit_identical)
{
    ddpm_config c;
    for (int drop = 0; drop < 2; drop++)
        for (int rec = 0; rec < 2; rec++) {
            mini_config(&c);
            c.dropout = drop ? 0.1 : 0.0;
            sharing_case(&c, 2, rec, 2);
        }
    paper_config(&c);
    sharing_case(&c, 1, 1, 1);
}
END_TEST

/* The inference plan (unet_prepare_inference): the planned forward agrees with the unplanned one
 * (both with PyTorch's, REF_TOL; they differ in rounding only where the plan picks F(4x4,3x3) or
 * the chunking differs), gives the same bits on 1 and 2 threads, is rebuilt when a weight changes
 * (equal, bit for bit, to a fresh model prepared with the new weights), keeps nothing for a
 * backward, and training forwards never use it. */
START_TEST(inference_plan)
{
    ddpm_config c;
    mini_config(&c);
    const int B = 4, S = 28;
    unet *m, *m2;
    ck_assert_int_eq(unet_create(&m, &c, B), 0);
    ck_assert_int_eq(unet_create(&m2, &c, B), 0);
    randomize_params(m, 21);
    const size_t nx = (size_t)B * S * S, np = unet_num_params(m);
    float *x = malloc(nx * sizeof *x), *y0 = malloc(nx * sizeof *y0), *y1 = malloc(nx * sizeof *y1);
    float *y2 = malloc(nx * sizeof *y2), *y3 = malloc(nx * sizeof *y3);
    rng_normal_fill(rng_stream_make(22, RNG_EVAL, 0, 0), x, nx);
    int32_t t[4];
    for (int b = 0; b < B; b++) t[b] = (int32_t)(b * 261 % 1000);
    ck_assert_int_eq(unet_forward(y0, m, x, t, 0, 0, 0, B), 0);
    ck_assert_uint_eq(unet_inference_plan_bytes(m), 0);
    ck_assert_int_eq(unet_prepare_inference(m), 0);
    ck_assert_uint_gt(unet_inference_plan_bytes(m), 0);
    ck_assert_int_eq(unet_forward(y1, m, x, t, 0, 0, 0, B), 0);
    const double dev = test_max_rel_err_f32(y1, y0, nx);
    fprintf(stderr, "inference plan: planned vs unplanned forward, max|diff|/max|y| %.3g\n", dev);
    ck_assert(dev <= REF_TOL);
    ck_assert_int_ne(unet_backward(m, y1), 0); /* nothing kept for a backward */
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    ck_assert_int_eq(unet_forward(y2, m, x, t, 0, 0, 0, B), 0);
    omp_set_num_threads(saved);
    ck_assert_msg(!memcmp(y1, y2, nx * sizeof *y1), "the planned forward depends on the thread count");
    /* a training forward ignores the plan: the same bits as before it existed (dropout 0.1 off
     * with train = 1 is not comparable, so compare two train = 1 forwards of equal models) */
    memcpy(unet_params(m2), unet_params(m), np * sizeof(float));
    ck_assert_int_eq(unet_forward(y2, m, x, t, 1, 5, 7, B), 0);
    ck_assert_int_eq(unet_forward(y3, m2, x, t, 1, 5, 7, B), 0);
    ck_assert(!memcmp(y2, y3, nx * sizeof *y2));
    /* change one conv filter (through the pointer, as an optimiser step does) */
    const unet_param *w = unet_find(m, "model/down_1/block_0/conv1/W");
    ck_assert_ptr_nonnull(w);
    float *p = unet_params(m);
    for (size_t j = 0; j < w->size; j += 7) p[w->offset + j] *= 1.5f;
    ck_assert_int_eq(unet_forward(y2, m, x, t, 0, 0, 0, B), 0);
    ck_assert(memcmp(y1, y2, nx * sizeof *y1)); /* the plan was rebuilt: the output moved */
    memcpy(unet_params(m2), unet_params(m), np * sizeof(float));
    ck_assert_int_eq(unet_prepare_inference(m2), 0);
    ck_assert_int_eq(unet_forward(y3, m2, x, t, 0, 0, 0, B), 0);
    ck_assert_msg(!memcmp(y2, y3, nx * sizeof *y2), "a rebuilt plan differs from a fresh one");
    /* released: back to the unplanned forward, bit for bit */
    unet_release_inference(m);
    ck_assert_uint_eq(unet_inference_plan_bytes(m), 0);
    ck_assert_int_eq(unet_forward(y2, m, x, t, 0, 0, 0, B), 0);
    unet_release_inference(m2);
    ck_assert_int_eq(unet_forward(y3, m2, x, t, 0, 0, 0, B), 0);
    ck_assert(!memcmp(y2, y3, nx * sizeof *y2));
    ck_assert_int_eq(unet_backward(m, y2), 0);
    free(x);
    free(y0);
    free(y1);
    free(y2);
    free(y3);
    unet_free(m);
    unet_free(m2);
}
END_TEST

static Suite *unet_suite(void)
{
    Suite *s = suite_create("unet");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, param_counts);
    tcase_add_test(tc, paper_names_shapes_order);
    tcase_add_test(tc, invalid_configs);
    tcase_add_test(tc, init_statistics);
    tcase_add_test(tc, forward_deterministic);
    tcase_add_test(tc, thread_count_independent);
    tcase_add_test(tc, recompute_bit_identical);
    tcase_add_test(tc, arena_sharing_bit_identical);
    tcase_add_test(tc, inference_plan);
    tcase_add_test(tc, gradient_fd);
    tcase_add_test(tc, gradient_fd_dropout);
    tcase_add_test(tc, pytorch_reference_case1);
    tcase_add_test(tc, pytorch_reference_case2);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(unet_suite)
