/* inception.c — FID Inception-v3: architecture table, weight loading (pth / synthetic) with
 * BatchNorm folding, preprocessing and the batched NHWC forward pass. Contract in inception.h. */
#include "features/inception.h"

#include "core/common.h"
#include "features/synth_weights.h"
#include "io/pth.h"
#include "nn/conv_im2col.h"
#include "nn/pool2d.h"
#include "nn/resize.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#define MAX_CONV 96
#define BN_EPS   1e-3
/* Workspace per image, in floats, for the fixed 299x299 geometry. */
#define BIG_PER_IMAGE ((size_t)147 * 147 * 64) /* largest activation: Conv2d_2b_3x3 output */
#define TMP_PER_IMAGE ((size_t)35 * 35 * 288)  /* largest branch temporary: pooled Mixed_5d input */
#define COL_FLOATS    ((size_t)4 << 20)        /* im2col chunk: 16 MB, >= 1000 rows of the widest K */

typedef struct {
    char name[48]; /* state_dict prefix, e.g. "Mixed_5b.branch1x1" */
    int cin, cout;
    conv_geom g;
    float *w; /* (kh, kw, cin, cout), BatchNorm folded */
    float *b; /* (cout), BatchNorm folded */
} inc_conv;

/* One worker's buffers: a single image in flight. */
typedef struct {
    float *P, *Q;   /* (BIG_PER_IMAGE) ping-pong activations */
    float *T1, *T2; /* (TMP_PER_IMAGE) branch temporaries */
    float *col;     /* (COL_FLOATS) im2col rows */
    float *pre;     /* (pre_cap) image / 255 before resizing */
    size_t pre_cap;
} worker_ws;

struct inception_net {
    inc_conv conv[MAX_CONV];
    int nconv;
    float *fc_w; /* (1008, 2048), torch layout */
    float *fc_b; /* (1008) */
    int threads; /* 0: omp_get_max_threads() */
    void (*progress)(void *user, int done, int total);
    void *progress_user;
    worker_ws *ws; /* (nws) */
    int nws;
};

/* ------------------------------------------------------------------------------------------ */
/* Architecture: the BasicConv2d layers in state_dict and execution order.                    */

static void add(inception_net *n, const char *prefix, const char *branch, int cin, int cout, int kh, int kw, int sh,
                int sw, int ph, int pw)
{
    inc_conv *c = &n->conv[n->nconv++];
    snprintf(c->name, sizeof c->name, "%s%s%s", prefix, branch[0] ? "." : "", branch);
    c->cin = cin;
    c->cout = cout;
    c->g = (conv_geom){ kh, kw, sh, sw, ph, pw };
}

static void arch_a(inception_net *n, const char *p, int cin, int pool_features)
{
    add(n, p, "branch1x1", cin, 64, 1, 1, 1, 1, 0, 0);
    add(n, p, "branch5x5_1", cin, 48, 1, 1, 1, 1, 0, 0);
    add(n, p, "branch5x5_2", 48, 64, 5, 5, 1, 1, 2, 2);
    add(n, p, "branch3x3dbl_1", cin, 64, 1, 1, 1, 1, 0, 0);
    add(n, p, "branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1, 1);
    add(n, p, "branch3x3dbl_3", 96, 96, 3, 3, 1, 1, 1, 1);
    add(n, p, "branch_pool", cin, pool_features, 1, 1, 1, 1, 0, 0);
}

static void arch_b(inception_net *n, const char *p, int cin)
{
    add(n, p, "branch3x3", cin, 384, 3, 3, 2, 2, 0, 0);
    add(n, p, "branch3x3dbl_1", cin, 64, 1, 1, 1, 1, 0, 0);
    add(n, p, "branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1, 1);
    add(n, p, "branch3x3dbl_3", 96, 96, 3, 3, 2, 2, 0, 0);
}

static void arch_c(inception_net *n, const char *p, int cin, int c7)
{
    add(n, p, "branch1x1", cin, 192, 1, 1, 1, 1, 0, 0);
    add(n, p, "branch7x7_1", cin, c7, 1, 1, 1, 1, 0, 0);
    add(n, p, "branch7x7_2", c7, c7, 1, 7, 1, 1, 0, 3);
    add(n, p, "branch7x7_3", c7, 192, 7, 1, 1, 1, 3, 0);
    add(n, p, "branch7x7dbl_1", cin, c7, 1, 1, 1, 1, 0, 0);
    add(n, p, "branch7x7dbl_2", c7, c7, 7, 1, 1, 1, 3, 0);
    add(n, p, "branch7x7dbl_3", c7, c7, 1, 7, 1, 1, 0, 3);
    add(n, p, "branch7x7dbl_4", c7, c7, 7, 1, 1, 1, 3, 0);
    add(n, p, "branch7x7dbl_5", c7, 192, 1, 7, 1, 1, 0, 3);
    add(n, p, "branch_pool", cin, 192, 1, 1, 1, 1, 0, 0);
}

static void arch_d(inception_net *n, const char *p, int cin)
{
    add(n, p, "branch3x3_1", cin, 192, 1, 1, 1, 1, 0, 0);
    add(n, p, "branch3x3_2", 192, 320, 3, 3, 2, 2, 0, 0);
    add(n, p, "branch7x7x3_1", cin, 192, 1, 1, 1, 1, 0, 0);
    add(n, p, "branch7x7x3_2", 192, 192, 1, 7, 1, 1, 0, 3);
    add(n, p, "branch7x7x3_3", 192, 192, 7, 1, 1, 1, 3, 0);
    add(n, p, "branch7x7x3_4", 192, 192, 3, 3, 2, 2, 0, 0);
}

static void arch_e(inception_net *n, const char *p, int cin)
{
    add(n, p, "branch1x1", cin, 320, 1, 1, 1, 1, 0, 0);
    add(n, p, "branch3x3_1", cin, 384, 1, 1, 1, 1, 0, 0);
    add(n, p, "branch3x3_2a", 384, 384, 1, 3, 1, 1, 0, 1);
    add(n, p, "branch3x3_2b", 384, 384, 3, 1, 1, 1, 1, 0);
    add(n, p, "branch3x3dbl_1", cin, 448, 1, 1, 1, 1, 0, 0);
    add(n, p, "branch3x3dbl_2", 448, 384, 3, 3, 1, 1, 1, 1);
    add(n, p, "branch3x3dbl_3a", 384, 384, 1, 3, 1, 1, 0, 1);
    add(n, p, "branch3x3dbl_3b", 384, 384, 3, 1, 1, 1, 1, 0);
    add(n, p, "branch_pool", cin, 192, 1, 1, 1, 1, 0, 0);
}

static void build_arch(inception_net *n)
{
    add(n, "Conv2d_1a_3x3", "", 3, 32, 3, 3, 2, 2, 0, 0);
    add(n, "Conv2d_2a_3x3", "", 32, 32, 3, 3, 1, 1, 0, 0);
    add(n, "Conv2d_2b_3x3", "", 32, 64, 3, 3, 1, 1, 1, 1);
    add(n, "Conv2d_3b_1x1", "", 64, 80, 1, 1, 1, 1, 0, 0);
    add(n, "Conv2d_4a_3x3", "", 80, 192, 3, 3, 1, 1, 0, 0);
    arch_a(n, "Mixed_5b", 192, 32);
    arch_a(n, "Mixed_5c", 256, 64);
    arch_a(n, "Mixed_5d", 288, 64);
    arch_b(n, "Mixed_6a", 288);
    arch_c(n, "Mixed_6b", 768, 128);
    arch_c(n, "Mixed_6c", 768, 160);
    arch_c(n, "Mixed_6d", 768, 160);
    arch_c(n, "Mixed_6e", 768, 192);
    arch_d(n, "Mixed_7a", 768);
    arch_e(n, "Mixed_7b", 1280);
    arch_e(n, "Mixed_7c", 2048);
}

static int net_alloc(inception_net **out)
{
    inception_net *n = ddpm_alloc(sizeof *n);
    *out = NULL;
    if (!n) return DDPM_ERR;
    build_arch(n);
    for (int k = 0; k < n->nconv; k++) {
        inc_conv *c = &n->conv[k];
        c->w = ddpm_alloc((size_t)c->g.kh * c->g.kw * c->cin * c->cout * sizeof(float));
        c->b = ddpm_alloc((size_t)c->cout * sizeof(float));
        if (!c->w || !c->b) {
            inception_free(n);
            return DDPM_ERR;
        }
    }
    n->fc_w = ddpm_alloc((size_t)INCEPTION_CLASSES * INCEPTION_POOL3 * sizeof(float));
    n->fc_b = ddpm_alloc((size_t)INCEPTION_CLASSES * sizeof(float));
    if (!n->fc_w || !n->fc_b) {
        inception_free(n);
        return DDPM_ERR;
    }
    *out = n;
    return DDPM_OK;
}

void inception_free(inception_net *n)
{
    if (!n) return;
    for (int k = 0; k < n->nconv; k++) {
        ddpm_free(n->conv[k].w);
        ddpm_free(n->conv[k].b);
    }
    ddpm_free(n->fc_w);
    ddpm_free(n->fc_b);
    for (int t = 0; t < n->nws; t++) {
        worker_ws *w = &n->ws[t];
        ddpm_free(w->P);
        ddpm_free(w->Q);
        ddpm_free(w->T1);
        ddpm_free(w->T2);
        ddpm_free(w->col);
        ddpm_free(w->pre);
    }
    ddpm_free(n->ws);
    ddpm_free(n);
}

/* w' = w * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps), in double;
 * transposes torch's (cout, cin, kh, kw) into HWIO. */
static void fold_batchnorm(inc_conv *c, const float *w_oihw, const float *gamma, const float *beta, const float *mean,
                           const float *var)
{
    const int kh = c->g.kh, kw = c->g.kw, cin = c->cin, cout = c->cout;
    for (int co = 0; co < cout; co++) {
        double s = (double)gamma[co] / sqrt((double)var[co] + BN_EPS);
        c->b[co] = (float)((double)beta[co] - (double)mean[co] * s);
        for (int ci = 0; ci < cin; ci++)
            for (int ky = 0; ky < kh; ky++)
                for (int kx = 0; kx < kw; kx++)
                    c->w[(((size_t)ky * kw + kx) * cin + ci) * cout + co] =
                        (float)((double)w_oihw[(((size_t)co * cin + ci) * kh + ky) * kw + kx] * s);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Weights                                                                                     */

int inception_init_synthetic(inception_net **out, uint64_t seed)
{
    inception_net *n;
    DDPM_TRY(net_alloc(&n));
    float *tmp = NULL, *bn = NULL;
    size_t maxw = 0;
    for (int k = 0; k < n->nconv; k++) {
        size_t s = (size_t)n->conv[k].g.kh * n->conv[k].g.kw * n->conv[k].cin * n->conv[k].cout;
        if (s > maxw) maxw = s;
    }
    tmp = ddpm_alloc(maxw * sizeof *tmp);
    bn = ddpm_alloc(4 * 512 * sizeof *bn);
    if (!tmp || !bn) {
        ddpm_free(tmp);
        ddpm_free(bn);
        inception_free(n);
        return DDPM_ERR;
    }
    char name[96];
    for (int k = 0; k < n->nconv; k++) {
        inc_conv *c = &n->conv[k];
        size_t nw = (size_t)c->g.kh * c->g.kw * c->cin * c->cout, C = (size_t)c->cout;
        int fan_in = c->g.kh * c->g.kw * c->cin;
        snprintf(name, sizeof name, "%s.conv.weight", c->name);
        synth_fill(tmp, nw, name, seed, 0.0, sqrt(6.0 / fan_in));
        snprintf(name, sizeof name, "%s.bn.weight", c->name);
        synth_fill(bn, C, name, seed, 1.0, 0.2);
        snprintf(name, sizeof name, "%s.bn.bias", c->name);
        synth_fill(bn + 512, C, name, seed, 0.0, 0.1);
        snprintf(name, sizeof name, "%s.bn.running_mean", c->name);
        synth_fill(bn + 1024, C, name, seed, 0.0, 0.1);
        snprintf(name, sizeof name, "%s.bn.running_var", c->name);
        synth_fill(bn + 1536, C, name, seed, 1.0, 0.5);
        fold_batchnorm(c, tmp, bn, bn + 512, bn + 1024, bn + 1536);
    }
    synth_fill(n->fc_w, (size_t)INCEPTION_CLASSES * INCEPTION_POOL3, "fc.weight", seed, 0.0,
               sqrt(3.0 / INCEPTION_POOL3));
    synth_fill(n->fc_b, INCEPTION_CLASSES, "fc.bias", seed, 0.0, 0.1);
    ddpm_free(tmp);
    ddpm_free(bn);
    *out = n;
    return DDPM_OK;
}

/* A float32 tensor of exactly the given shape. */
static int get_param(const pth_file *f, const char *path, const char *name, int rank, const int64_t *want, float **out)
{
    pth_dtype dt;
    int r;
    int64_t shape[PTH_MAX_RANK];
    *out = NULL;
    if (pth_find(f, name) < 0)
        return ddpm_error("%s: tensor '%s' missing (expected pytorch-fid's %s state_dict)", path, name,
                          INCEPTION_WEIGHTS_FILE);
    DDPM_TRY(pth_tensor_info(f, name, &dt, &r, shape));
    if (dt != PTH_F32) return ddpm_error("%s: tensor '%s' is %s, float32 expected", path, name, pth_dtype_name(dt));
    int ok = r == rank;
    for (int k = 0; ok && k < rank; k++) ok = shape[k] == want[k];
    if (!ok) {
        char got[128] = "", exp[128] = "";
        for (int k = 0; k < r; k++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", k ? "," : "", (long long)shape[k]);
        for (int k = 0; k < rank; k++)
            snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%lld", k ? "," : "", (long long)want[k]);
        return ddpm_error("%s: tensor '%s' has shape [%s], expected [%s]", path, name, got, exp);
    }
    return pth_get_f32(f, name, out, NULL, NULL);
}

int inception_load_pth(inception_net **out, const char *path)
{
    *out = NULL;
    pth_file *f;
    DDPM_TRY(pth_open(&f, path));
    inception_net *n;
    if (net_alloc(&n)) {
        pth_close(f);
        return DDPM_ERR;
    }
    int rc = DDPM_OK;
    char name[96];
    for (int k = 0; k < n->nconv && rc == DDPM_OK; k++) {
        inc_conv *c = &n->conv[k];
        int64_t wshape[4] = { c->cout, c->cin, c->g.kh, c->g.kw }, vshape[1] = { c->cout };
        float *w = NULL, *v[4] = { NULL, NULL, NULL, NULL };
        static const char *bn_names[4] = { "weight", "bias", "running_mean", "running_var" };
        snprintf(name, sizeof name, "%s.conv.weight", c->name);
        rc = get_param(f, path, name, 4, wshape, &w);
        for (int j = 0; j < 4 && rc == DDPM_OK; j++) {
            snprintf(name, sizeof name, "%s.bn.%s", c->name, bn_names[j]);
            rc = get_param(f, path, name, 1, vshape, &v[j]);
        }
        if (rc == DDPM_OK) fold_batchnorm(c, w, v[0], v[1], v[2], v[3]);
        ddpm_free(w);
        for (int j = 0; j < 4; j++) ddpm_free(v[j]);
    }
    if (rc == DDPM_OK) {
        int64_t fw[2] = { INCEPTION_CLASSES, INCEPTION_POOL3 }, fb[1] = { INCEPTION_CLASSES };
        float *w = NULL, *b = NULL;
        rc = get_param(f, path, "fc.weight", 2, fw, &w);
        if (rc == DDPM_OK) rc = get_param(f, path, "fc.bias", 1, fb, &b);
        if (rc == DDPM_OK) {
            memcpy(n->fc_w, w, sizeof(float) * INCEPTION_CLASSES * INCEPTION_POOL3);
            memcpy(n->fc_b, b, sizeof(float) * INCEPTION_CLASSES);
        }
        ddpm_free(w);
        ddpm_free(b);
    }
    pth_close(f);
    if (rc != DDPM_OK) {
        inception_free(n);
        return DDPM_ERR;
    }
    *out = n;
    return DDPM_OK;
}

void inception_set_threads(inception_net *n, int threads) { n->threads = threads > 0 ? threads : 0; }

void inception_set_progress(inception_net *n, void (*fn)(void *, int, int), void *user)
{
    n->progress = fn;
    n->progress_user = user;
}

const float *inception_fc_bias(const inception_net *n) { return n->fc_b; }

/* ------------------------------------------------------------------------------------------ */
/* Forward                                                                                     */

typedef struct {
    float *p;
    size_t cap; /* floats */
} buf;

/* Runs the next convolution (execution order == build order) with ReLU; writes channels
 * [c0, c0 + cout) of the (B, Ho, Wo, ld) tensor in dst. */
typedef struct {
    const inception_net *n;
    float *col; /* the worker's im2col buffer */
    int k;      /* next layer */
} fwd;

static int conv(fwd *f, buf dst, int c0, int ld, const float *in, int B, int H, int W, int Cin, int *Ho, int *Wo)
{
    if (f->k >= f->n->nconv) return ddpm_error("inception: layer table exhausted (internal error)");
    const inc_conv *c = &f->n->conv[f->k++];
    int ho = conv_im2col_out_size(H, c->g.kh, c->g.sh, c->g.ph);
    int wo = conv_im2col_out_size(W, c->g.kw, c->g.sw, c->g.pw);
    if (Cin != c->cin || c0 + c->cout > ld || (size_t)B * ho * wo * ld > dst.cap)
        return ddpm_error("inception: layer %s does not fit its buffers (internal error)", c->name);
    DDPM_TRY(conv_im2col_forward(dst.p + c0, ld, in, c->w, c->b, 1, f->col, COL_FLOATS, B, H, W, Cin, c->cout, c->g));
    if (Ho) *Ho = ho;
    if (Wo) *Wo = wo;
    return DDPM_OK;
}

static int pool_fits(size_t need, buf b)
{
    return need <= b.cap ? DDPM_OK : ddpm_error("inception: pool output exceeds its buffer (internal error)");
}

/* FIDInceptionA: 64 + 64 + 96 + pool_features channels, same spatial size. */
static int block_a(fwd *f, buf out, int *Cout, const float *in, int B, int H, int W, int Cin, buf t1, buf t2)
{
    const int ld = 224 + f->n->conv[f->k + 6].cout;
    DDPM_TRY(conv(f, out, 0, ld, in, B, H, W, Cin, NULL, NULL));    /* branch1x1 */
    DDPM_TRY(conv(f, t1, 0, 48, in, B, H, W, Cin, NULL, NULL));     /* branch5x5_1 */
    DDPM_TRY(conv(f, out, 64, ld, t1.p, B, H, W, 48, NULL, NULL));  /* branch5x5_2 */
    DDPM_TRY(conv(f, t1, 0, 64, in, B, H, W, Cin, NULL, NULL));     /* branch3x3dbl_1 */
    DDPM_TRY(conv(f, t2, 0, 96, t1.p, B, H, W, 64, NULL, NULL));    /* branch3x3dbl_2 */
    DDPM_TRY(conv(f, out, 128, ld, t2.p, B, H, W, 96, NULL, NULL)); /* branch3x3dbl_3 */
    DDPM_TRY(pool_fits((size_t)B * H * W * Cin, t1));
    avgpool2d_nhwc_forward(t1.p, in, 0, B, H, W, Cin, 3, 1, 1);      /* TF-style avg pool */
    DDPM_TRY(conv(f, out, 224, ld, t1.p, B, H, W, Cin, NULL, NULL)); /* branch_pool */
    *Cout = ld;
    return DDPM_OK;
}

/* InceptionB (Mixed_6a): 384 + 96 + Cin channels, spatial (H - 3) / 2 + 1. */
static int block_b(fwd *f, buf out, int *Cout, int *Ho, int *Wo, const float *in, int B, int H, int W, int Cin, buf t1,
                   buf t2)
{
    const int ld = 384 + 96 + Cin;
    DDPM_TRY(conv(f, out, 0, ld, in, B, H, W, Cin, Ho, Wo));        /* branch3x3 */
    DDPM_TRY(conv(f, t1, 0, 64, in, B, H, W, Cin, NULL, NULL));     /* branch3x3dbl_1 */
    DDPM_TRY(conv(f, t2, 0, 96, t1.p, B, H, W, 64, NULL, NULL));    /* branch3x3dbl_2 */
    DDPM_TRY(conv(f, out, 384, ld, t2.p, B, H, W, 96, NULL, NULL)); /* branch3x3dbl_3 */
    maxpool2d_nhwc_forward(out.p + 480, ld, in, B, H, W, Cin, 3, 2, 0);
    *Cout = ld;
    return DDPM_OK;
}

/* FIDInceptionC: 4 x 192 channels. */
static int block_c(fwd *f, buf out, const float *in, int B, int H, int W, int Cin, buf t1, buf t2)
{
    const int ld = 768, c7 = f->n->conv[f->k + 1].cout;
    DDPM_TRY(conv(f, out, 0, ld, in, B, H, W, Cin, NULL, NULL));    /* branch1x1 */
    DDPM_TRY(conv(f, t1, 0, c7, in, B, H, W, Cin, NULL, NULL));     /* branch7x7_1 */
    DDPM_TRY(conv(f, t2, 0, c7, t1.p, B, H, W, c7, NULL, NULL));    /* branch7x7_2 */
    DDPM_TRY(conv(f, out, 192, ld, t2.p, B, H, W, c7, NULL, NULL)); /* branch7x7_3 */
    DDPM_TRY(conv(f, t1, 0, c7, in, B, H, W, Cin, NULL, NULL));     /* branch7x7dbl_1 */
    DDPM_TRY(conv(f, t2, 0, c7, t1.p, B, H, W, c7, NULL, NULL));    /* branch7x7dbl_2 */
    DDPM_TRY(conv(f, t1, 0, c7, t2.p, B, H, W, c7, NULL, NULL));    /* branch7x7dbl_3 */
    DDPM_TRY(conv(f, t2, 0, c7, t1.p, B, H, W, c7, NULL, NULL));    /* branch7x7dbl_4 */
    DDPM_TRY(conv(f, out, 384, ld, t2.p, B, H, W, c7, NULL, NULL)); /* branch7x7dbl_5 */
    DDPM_TRY(pool_fits((size_t)B * H * W * Cin, t1));
    avgpool2d_nhwc_forward(t1.p, in, 0, B, H, W, Cin, 3, 1, 1);
    DDPM_TRY(conv(f, out, 576, ld, t1.p, B, H, W, Cin, NULL, NULL)); /* branch_pool */
    return DDPM_OK;
}

/* InceptionD (Mixed_7a): 320 + 192 + Cin channels, spatial (H - 3) / 2 + 1. */
static int block_d(fwd *f, buf out, int *Cout, int *Ho, int *Wo, const float *in, int B, int H, int W, int Cin, buf t1,
                   buf t2)
{
    const int ld = 320 + 192 + Cin;
    DDPM_TRY(conv(f, t1, 0, 192, in, B, H, W, Cin, NULL, NULL));     /* branch3x3_1 */
    DDPM_TRY(conv(f, out, 0, ld, t1.p, B, H, W, 192, Ho, Wo));       /* branch3x3_2 */
    DDPM_TRY(conv(f, t1, 0, 192, in, B, H, W, Cin, NULL, NULL));     /* branch7x7x3_1 */
    DDPM_TRY(conv(f, t2, 0, 192, t1.p, B, H, W, 192, NULL, NULL));   /* branch7x7x3_2 */
    DDPM_TRY(conv(f, t1, 0, 192, t2.p, B, H, W, 192, NULL, NULL));   /* branch7x7x3_3 */
    DDPM_TRY(conv(f, out, 320, ld, t1.p, B, H, W, 192, NULL, NULL)); /* branch7x7x3_4 */
    maxpool2d_nhwc_forward(out.p + 512, ld, in, B, H, W, Cin, 3, 2, 0);
    *Cout = ld;
    return DDPM_OK;
}

/* FIDInceptionE_1 (avg pool without padding) / E_2 (max pool): 320 + 768 + 768 + 192. */
static int block_e(fwd *f, buf out, const float *in, int B, int H, int W, int Cin, int max_pool, buf t1, buf t2)
{
    const int ld = 2048;
    DDPM_TRY(conv(f, out, 0, ld, in, B, H, W, Cin, NULL, NULL));      /* branch1x1 */
    DDPM_TRY(conv(f, t1, 0, 384, in, B, H, W, Cin, NULL, NULL));      /* branch3x3_1 */
    DDPM_TRY(conv(f, out, 320, ld, t1.p, B, H, W, 384, NULL, NULL));  /* branch3x3_2a */
    DDPM_TRY(conv(f, out, 704, ld, t1.p, B, H, W, 384, NULL, NULL));  /* branch3x3_2b */
    DDPM_TRY(conv(f, t1, 0, 448, in, B, H, W, Cin, NULL, NULL));      /* branch3x3dbl_1 */
    DDPM_TRY(conv(f, t2, 0, 384, t1.p, B, H, W, 448, NULL, NULL));    /* branch3x3dbl_2 */
    DDPM_TRY(conv(f, out, 1088, ld, t2.p, B, H, W, 384, NULL, NULL)); /* branch3x3dbl_3a */
    DDPM_TRY(conv(f, out, 1472, ld, t2.p, B, H, W, 384, NULL, NULL)); /* branch3x3dbl_3b */
    DDPM_TRY(pool_fits((size_t)B * H * W * Cin, t1));
    if (max_pool) maxpool2d_nhwc_forward(t1.p, Cin, in, B, H, W, Cin, 3, 1, 1);
    else avgpool2d_nhwc_forward(t1.p, in, 0, B, H, W, Cin, 3, 1, 1);
    DDPM_TRY(conv(f, out, 1856, ld, t1.p, B, H, W, Cin, NULL, NULL)); /* branch_pool */
    return DDPM_OK;
}

static int worker_alloc(worker_ws *w)
{
    w->P = ddpm_alloc(BIG_PER_IMAGE * sizeof(float));
    w->Q = ddpm_alloc(BIG_PER_IMAGE * sizeof(float));
    w->T1 = ddpm_alloc(TMP_PER_IMAGE * sizeof(float));
    w->T2 = ddpm_alloc(TMP_PER_IMAGE * sizeof(float));
    w->col = ddpm_alloc(COL_FLOATS * sizeof(float));
    return w->P && w->Q && w->T1 && w->T2 && w->col ? DDPM_OK : DDPM_ERR;
}

static int ensure_workers(inception_net *n, int nt)
{
    if (n->nws >= nt) return DDPM_OK;
    worker_ws *ws = ddpm_alloc((size_t)nt * sizeof *ws);
    if (!ws) return DDPM_ERR;
    if (n->nws) memcpy(ws, n->ws, (size_t)n->nws * sizeof *ws);
    ddpm_free(n->ws);
    n->ws = ws;
    for (int t = n->nws; t < nt; t++) {
        n->nws = t + 1; /* so inception_free releases a partial allocation */
        if (worker_alloc(&ws[t]))
            return ddpm_error("inception: out of memory for %d worker threads (about 31 MB each; "
                              "lower OMP_NUM_THREADS)",
                              nt);
    }
    return DDPM_OK;
}

void inception_preprocess(float *out, float *tmp, const uint8_t *images, int N, int H, int W, int C)
{
    const size_t npix = (size_t)N * H * W;
    for (size_t i = 0; i < npix; i++) /* ToTensor: x / 255 in float; C = 1 replicated */
        for (int c = 0; c < 3; c++) tmp[i * 3 + c] = (float)images[i * C + (C == 3 ? c : 0)] / 255.0f;
    resize_bilinear_forward(out, tmp, N, H, W, 3, INCEPTION_SIZE, INCEPTION_SIZE);
    const size_t nout = (size_t)N * INCEPTION_SIZE * INCEPTION_SIZE * 3;
    for (size_t i = 0; i < nout; i++) out[i] = 2.0f * out[i] - 1.0f;
}

/* One image through the network in worker w's buffers. */
static int forward_one(const inception_net *n, worker_ws *w, float *pool3, float *logits, const uint8_t *image, int H0,
                       int W0, int C0)
{
    const int B = 1;
    const size_t pre_need = (size_t)H0 * W0 * 3;
    if (pre_need > w->pre_cap) {
        ddpm_free(w->pre);
        w->pre = ddpm_alloc(pre_need * sizeof(float));
        w->pre_cap = w->pre ? pre_need : 0;
        if (!w->pre) return DDPM_ERR;
    }
    inception_preprocess(w->P, w->pre, image, 1, H0, W0, C0); /* (1,299,299,3) in P */
    buf P = { w->P, BIG_PER_IMAGE }, Q = { w->Q, BIG_PER_IMAGE };
    buf T1 = { w->T1, TMP_PER_IMAGE }, T2 = { w->T2, TMP_PER_IMAGE };
    fwd f = { n, w->col, 0 };
    int H = INCEPTION_SIZE, W = INCEPTION_SIZE, C;
    /* stem: (1,299,299,3) -> (1,35,35,192), ping-ponging between P and Q */
    DDPM_TRY(conv(&f, Q, 0, 32, P.p, B, H, W, 3, &H, &W));  /* (1,149,149,32) */
    DDPM_TRY(conv(&f, P, 0, 32, Q.p, B, H, W, 32, &H, &W)); /* (1,147,147,32) */
    DDPM_TRY(conv(&f, Q, 0, 64, P.p, B, H, W, 32, &H, &W)); /* (1,147,147,64) */
    maxpool2d_nhwc_forward(P.p, 64, Q.p, B, H, W, 64, 3, 2, 0);
    H = (H - 3) / 2 + 1; /* (1,73,73,64) */
    W = (W - 3) / 2 + 1;
    DDPM_TRY(conv(&f, Q, 0, 80, P.p, B, H, W, 64, &H, &W));  /* (1,73,73,80) */
    DDPM_TRY(conv(&f, P, 0, 192, Q.p, B, H, W, 80, &H, &W)); /* (1,71,71,192) */
    maxpool2d_nhwc_forward(Q.p, 192, P.p, B, H, W, 192, 3, 2, 0);
    H = (H - 3) / 2 + 1; /* (1,35,35,192) */
    W = (W - 3) / 2 + 1;
    C = 192;
    /* Mixed blocks: input in `in`, output in `out`, then swap */
    buf in = Q, out = P, sw;
#define SWAP() (sw = in, in = out, out = sw)
    for (int j = 0; j < 3; j++) { /* Mixed_5b..5d: (1,35,35,288) */
        DDPM_TRY(block_a(&f, out, &C, in.p, B, H, W, C, T1, T2));
        SWAP();
    }
    DDPM_TRY(block_b(&f, out, &C, &H, &W, in.p, B, H, W, C, T1, T2)); /* (1,17,17,768) */
    SWAP();
    for (int j = 0; j < 4; j++) { /* Mixed_6b..6e */
        DDPM_TRY(block_c(&f, out, in.p, B, H, W, C, T1, T2));
        SWAP();
    }
    DDPM_TRY(block_d(&f, out, &C, &H, &W, in.p, B, H, W, C, T1, T2)); /* (1,8,8,1280) */
    SWAP();
    DDPM_TRY(block_e(&f, out, in.p, B, H, W, C, 0, T1, T2)); /* Mixed_7b: (1,8,8,2048) */
    C = 2048;
    SWAP();
    DDPM_TRY(block_e(&f, out, in.p, B, H, W, C, 1, T1, T2)); /* Mixed_7c */
#undef SWAP
    if (f.k != n->nconv) return ddpm_error("inception: %d of %d layers used (internal error)", f.k, n->nconv);
    global_avgpool_nhwc_forward(pool3, out.p, B, H * W, C); /* (1,2048) */
    if (logits)                                             /* (1,1008) = pool3 fc_w^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, INCEPTION_CLASSES, INCEPTION_POOL3, 1.0f, pool3,
                    INCEPTION_POOL3, n->fc_w, INCEPTION_POOL3, 0.0f, logits, INCEPTION_CLASSES);
    return DDPM_OK;
}

/* Parallel over images: each OpenMP thread runs whole images with single-threaded BLAS.
 * Alternating OpenMP regions (im2col, pooling) with pthread-OpenBLAS calls layer by layer was
 * measured 4-5x slower on a loaded 2-core machine (two thread pools spin against each other),
 * and this way an image's features do not depend on the thread count or on N: the same code
 * path computes every image, bit for bit. */
int inception_forward(inception_net *n, float *pool3, float *logits, const uint8_t *images, int N, int H, int W, int C)
{
    if (N < 0 || H < 1 || W < 1 || (C != 1 && C != 3))
        return ddpm_error("inception: images must be (N, H, W, C) with C = 1 or 3 (got N=%d H=%d "
                          "W=%d C=%d)",
                          N, H, W, C);
    if (N == 0) return DDPM_OK;
    int nt = n->threads > 0 ? n->threads : omp_get_max_threads();
    if (nt > N) nt = N;
    if (nt < 1) nt = 1;
    DDPM_TRY(ensure_workers(n, nt));
    const int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    int done = 0, failed = 0;
    char err[1024] = "";
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int i = 0; i < N; i++) {
        int stop;
#pragma omp atomic read
        stop = failed;
        if (stop) continue;
        worker_ws *w = &n->ws[omp_get_thread_num()];
        int rc = forward_one(n, w, pool3 + (size_t)i * INCEPTION_POOL3,
                             logits ? logits + (size_t)i * INCEPTION_CLASSES : NULL, images + (size_t)i * H * W * C, H,
                             W, C);
#pragma omp critical(inception_forward_report)
        {
            if (rc != DDPM_OK) {
                if (!failed) snprintf(err, sizeof err, "%s", ddpm_last_error());
#pragma omp atomic write
                failed = 1;
            } else {
                done++;
                if (n->progress) n->progress(n->progress_user, done, N);
            }
        }
    }
    openblas_set_num_threads(blas_threads);
    if (failed) return ddpm_error("%s", err);
    return DDPM_OK;
}
