/* test_inception.c — the FID Inception port and its layers.
 *
 * Why synthetic weights: the published 95 MB weights cannot be downloaded here and random
 * full-size weights are too big to commit. Instead every parameter is a pure function of its
 * state_dict name (synth_weights.h: FNV-1a of the name keys a splitmix64 stream; He-uniform
 * convolutions, BatchNorm near identity, so activations stay O(1) through all 94 layers).
 * scripts/gen_inception_reference.py builds the same network in PyTorch from the published
 * architecture (torchvision stem + pytorch-fid's FIDInceptionA/C/E patches), fills it with the
 * same hash, and records pool3/logits for three small images of different sizes (one
 * grayscale). The test regenerates the weights in C and must match:
 *   - the hash itself bit-exactly (16 values of several tensors),
 *   - preprocessing (x/255, bilinear resize to 299 like F.interpolate, 2x-1) to 8e-7 absolute,
 *   - pool3 and logits to <= 1e-4 relative (max|got-want| / max|want|). The reference ran in
 *     float64; PyTorch's own float32 run is ~3e-7 off it, so 1e-4 leaves room only for
 *     summation-order effects through 94 float32 layers, not for any wrong operation (a wrong
 *     pool, padding or branch order moves pool3 by O(1)).
 * Every layer helper (im2col convolution, pools, resize) is also compared with a plain loop at
 * odd sizes. */
#include "core/common.h"
#include "features/inception.h"
#include "features/synth_weights.h"
#include "io/h5io.h"
#include "nn/conv_im2col.h"
#include "nn/pool2d.h"
#include "nn/resize.h"
#include "testutil.h"

#include <stdint.h>

#define REF         "tests/data/inception_ref.h5"
#define REF_VERSION 1
#define SYNTH_SEED  2015

static hid_t open_ref(void) { return test_ref_open(REF, REF_VERSION, "scripts/gen_inception_reference.py"); }

/* ---- the weight hash ------------------------------------------------------------------- */

START_TEST(test_synthetic_hash_matches_python)
{
    hid_t h = open_ref();
    static const struct {
        const char *name;
        double offset, scale;
    } t[] = {
        { "Conv2d_1a_3x3.conv.weight", 0.0, 0 /* sqrt(6/27) */ },
        { "Mixed_7c.branch_pool.bn.running_var", 1.0, 0.5 },
        { "Mixed_6b.branch7x7dbl_3.bn.weight", 1.0, 0.2 },
        { "fc.weight", 0.0, 0 /* sqrt(3/2048) */ },
        { "fc.bias", 0.0, 0.1 },
    };
    for (size_t i = 0; i < DDPM_ARRAY_LEN(t); i++) {
        char ds[128];
        snprintf(ds, sizeof ds, "synth/%s", t[i].name);
        float want[16], got[16];
        hsize_t n = 16;
        ck_assert(h5io_read_into_f32(h, ds, want, 1, &n) == DDPM_OK);
        double scale = t[i].scale;
        if (i == 0) scale = sqrt(6.0 / 27);
        if (i == 3) scale = sqrt(3.0 / 2048);
        synth_fill(got, 16, t[i].name, SYNTH_SEED, t[i].offset, scale);
        for (int k = 0; k < 16; k++)
            ck_assert_msg(got[k] == want[k], "%s[%d]: C %.9g python %.9g", t[i].name, k, (double)got[k],
                          (double)want[k]);
    }
    ck_assert(synth_fnv1a64("") == 0xcbf29ce484222325ull);
    ck_assert(synth_fnv1a64("a") == 0xaf63dc4c8601ec8cull); /* published FNV-1a test vector */
    h5io_close(h);
}
END_TEST

/* ---- layers against plain loops --------------------------------------------------------- */

static void fill_uniform(float *x, size_t n, uint64_t seed) { synth_fill(x, n, "test", seed, 0.0, 1.0); }

/* testutil's plain-loop convolution in double (sum |w x| per output for the error bound), then
 * the ReLU. */
static void conv_naive(double *out, double *absum, const float *in, const float *w, const float *b, int relu, int B,
                       int H, int W, int Cin, int Cout, conv_geom g, int Ho, int Wo)
{
    double *in64 = test_f64_of_f32(in, (size_t)B * H * W * Cin);
    double *w64 = test_f64_of_f32(w, (size_t)g.kh * g.kw * Cin * Cout), *b64 = test_f64_of_f32(b, (size_t)Cout);
    test_conv_ref(out, absum, in64, w64, b64, B, H, W, Cin, Cout, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, Ho, Wo);
    if (relu)
        for (size_t o = 0; o < (size_t)B * Ho * Wo * Cout; o++) out[o] = out[o] < 0 ? 0 : out[o];
    free(in64);
    free(w64);
    free(b64);
}

START_TEST(test_conv_im2col_vs_naive)
{
    static const struct {
        int B, H, W, Cin, Cout;
        conv_geom g;
        int relu, bias, ld_extra, c0;
        size_t col_rows;
    } cs[] = {
        { 2, 7, 5, 3, 5, { 3, 3, 1, 1, 1, 1 }, 1, 1, 0, 0, 1000 },
        { 1, 9, 8, 4, 7, { 1, 7, 1, 1, 0, 3 }, 0, 1, 3, 2, 1000 },
        { 2, 8, 6, 5, 3, { 7, 1, 1, 1, 3, 0 }, 1, 0, 0, 0, 7 },   /* several im2col chunks */
        { 1, 11, 13, 3, 6, { 3, 3, 2, 2, 0, 0 }, 1, 1, 5, 4, 3 }, /* stride 2, one row per chunk */
        { 3, 6, 7, 2, 5, { 5, 5, 1, 1, 2, 2 }, 0, 1, 0, 0, 1000 },
        { 2, 5, 9, 6, 11, { 1, 1, 1, 1, 0, 0 }, 1, 1, 4, 3, 0 },   /* direct sgemm path */
        { 1, 7, 7, 3, 4, { 1, 1, 2, 2, 0, 0 }, 1, 1, 0, 0, 1000 }, /* 1x1 stride 2 via im2col */
        { 1, 5, 4, 3, 2, { 1, 3, 1, 1, 0, 1 }, 1, 1, 1, 1, 2 },
    };
    double worst = 0;
    for (size_t i = 0; i < DDPM_ARRAY_LEN(cs); i++) {
        int B = cs[i].B, H = cs[i].H, W = cs[i].W, Cin = cs[i].Cin, Cout = cs[i].Cout;
        conv_geom g = cs[i].g;
        int Ho = conv_im2col_out_size(H, g.kh, g.sh, g.ph), Wo = conv_im2col_out_size(W, g.kw, g.sw, g.pw);
        int ld = Cout + cs[i].ld_extra, c0 = cs[i].c0;
        size_t K = (size_t)g.kh * g.kw * Cin, M = (size_t)B * Ho * Wo;
        float *in = malloc(sizeof(float) * B * H * W * Cin), *w = malloc(sizeof(float) * K * Cout);
        float *b = malloc(sizeof(float) * Cout), *out = malloc(sizeof(float) * M * (ld + c0));
        size_t col_cap = cs[i].col_rows * K;
        float *col = malloc(sizeof(float) * (col_cap ? col_cap : 1));
        double *ref = malloc(sizeof(double) * M * Cout), *abs_ = malloc(sizeof(double) * M * Cout);
        fill_uniform(in, (size_t)B * H * W * Cin, 10 + i);
        fill_uniform(w, K * Cout, 20 + i);
        fill_uniform(b, (size_t)Cout, 30 + i);
        for (size_t k = 0; k < M * (ld + c0); k++) out[k] = 12345.0f; /* sentinel */
        int out_ld = ld + c0;
        ck_assert(conv_im2col_forward(out + c0, out_ld, in, w, cs[i].bias ? b : NULL, cs[i].relu, col, col_cap, B, H, W,
                                      Cin, Cout, g) == DDPM_OK);
        conv_naive(ref, abs_, in, w, cs[i].bias ? b : NULL, cs[i].relu, B, H, W, Cin, Cout, g, Ho, Wo);
        /* any summation order of K+1 float32 products is within (K+1) u sum|w x|, u = 2^-24 */
        for (size_t m = 0; m < M; m++)
            for (int c = 0; c < out_ld; c++) {
                float v = out[m * out_ld + c];
                if (c < c0 || c >= c0 + Cout) {
                    ck_assert_msg(v == 12345.0f, "case %zu: channel %d outside the slice was written", i, c);
                    continue;
                }
                double want = ref[m * Cout + c - c0],
                       bound = (double)(K + 2) * 0x1p-24 * abs_[m * Cout + c - c0] + 1e-30;
                double r = fabs((double)v - want) / bound;
                if (r > worst) worst = r;
                ck_assert_msg(fabs((double)v - want) <= bound,
                              "case %zu row %zu ch %d: got %.9g want %.9g (bound %.3g)", i, m, c, (double)v, want,
                              bound);
            }
        free(in);
        free(w);
        free(b);
        free(out);
        free(col);
        free(ref);
        free(abs_);
    }
    fprintf(stderr, "conv_im2col: %zu geometries, worst error = %.3f of the (K+2)u sum|wx| bound\n", DDPM_ARRAY_LEN(cs),
            worst);
    /* a workspace below one row is an error, not an overflow */
    float x[27] = { 0 }, wt[27] = { 0 }, o[1], colw[4];
    ck_assert(conv_im2col_forward(o, 1, x, wt, NULL, 0, colw, 4, 1, 3, 3, 3, 1, (conv_geom){ 3, 3, 1, 1, 0, 0 }) ==
              DDPM_ERR);
}
END_TEST

START_TEST(test_pools_vs_naive)
{
    const int B = 2, H = 7, W = 6, C = 5;
    float in[2 * 7 * 6 * 5];
    fill_uniform(in, DDPM_ARRAY_LEN(in), 77);
    static const int geo[][3] = { { 3, 1, 1 }, { 3, 2, 0 }, { 2, 2, 1 } }; /* k, s, p */
    double max_err = 0;
    for (size_t gi = 0; gi < DDPM_ARRAY_LEN(geo); gi++) {
        int k = geo[gi][0], s = geo[gi][1], p = geo[gi][2];
        int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
        float mx[2 * 8 * 8 * 7], av0[2 * 8 * 8 * 5], av1[2 * 8 * 8 * 5];
        maxpool2d_nhwc_forward(mx, 7, in, B, H, W, C, k, s, p); /* into a 7-channel tensor */
        avgpool2d_nhwc_forward(av0, in, 0, B, H, W, C, k, s, p);
        avgpool2d_nhwc_forward(av1, in, 1, B, H, W, C, k, s, p);
        for (int n = 0; n < B; n++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++)
                    for (int c = 0; c < C; c++) {
                        double m = (double)-INFINITY, sum = 0;
                        int taps = 0;
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * s - p + ky, ix = ox * s - p + kx;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                double v = (double)in[(((size_t)n * H + iy) * W + ix) * C + c];
                                m = v > m ? v : m;
                                sum += v;
                                taps++;
                            }
                        size_t o = ((size_t)n * Ho + oy) * Wo + ox;
                        ck_assert(mx[o * 7 + c] == (float)m); /* max is exact */
                        /* averages of <= 9 float32 values: error <= 10 u |values| */
                        double e0 = fabs((double)av0[o * C + c] - sum / taps),
                               e1 = fabs((double)av1[o * C + c] - sum / (k * k));
                        ck_assert(e0 <= 10 * 0x1p-24 && e1 <= 10 * 0x1p-24);
                        max_err = fmax(max_err, fmax(e0, e1));
                    }
    }
    float g[2 * 5], want[2 * 5];
    global_avgpool_nhwc_forward(g, in, 2, 42, 5);
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 5; c++) {
            double s = 0;
            for (int i = 0; i < 42; i++) s += (double)in[((size_t)n * 42 + i) * 5 + c];
            want[n * 5 + c] = (float)(s / 42);
        }
    ck_assert(test_allclose_f32("global_avgpool", g, want, 10, 0, 0)); /* same double sum: exact */
    fprintf(stderr, "pools: max avg-pool error %.3g (max pool exact)\n", max_err);
}
END_TEST

START_TEST(test_resize_vs_torch)
{
    hid_t h = open_ref();
    for (int i = 0; i < 4; i++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "resize/case%d/in", i);
        snprintf(b, sizeof b, "resize/case%d/out", i);
        float *in, *want;
        int ri, ro;
        hsize_t di[H5IO_MAX_RANK], dout[H5IO_MAX_RANK];
        ck_assert(h5io_read_f32(h, a, &in, &ri, di) == DDPM_OK && ri == 4);
        ck_assert(h5io_read_f32(h, b, &want, &ro, dout) == DDPM_OK && ro == 4);
        size_t n = (size_t)(dout[0] * dout[1] * dout[2] * dout[3]);
        float *got = malloc(n * sizeof *got);
        resize_bilinear_forward(got, in, (int)di[0], (int)di[1], (int)di[2], (int)di[3], (int)dout[1], (int)dout[2]);
        /* values in [0,1]; the taps and weights are PyTorch's to the bit, only the rounding of
         * the final three multiply-adds may differ: 4e-7 absolute ~ 3 ulp at 1.0 */
        ck_assert(test_allclose_f32(b, got, want, n, 0, 4e-7));
        free(got);
        ddpm_free(in);
        ddpm_free(want);
    }
    h5io_close(h);
}
END_TEST

START_TEST(test_preprocess_vs_torch)
{
    hid_t h = open_ref();
    uint8_t *img;
    int r;
    hsize_t d[H5IO_MAX_RANK];
    ck_assert(h5io_read_u8(h, "images/img2", &img, &r, d) == DDPM_OK && r == 3 && d[2] == 3);
    float *want;
    ck_assert(h5io_read_f32(h, "preprocessed/img2_rows0_32", &want, NULL, NULL) == DDPM_OK);
    float *out = malloc(sizeof(float) * 299 * 299 * 3), *tmp = malloc(sizeof(float) * d[0] * d[1] * 3);
    inception_preprocess(out, tmp, img, 1, (int)d[0], (int)d[1], 3);
    /* [-1,1] after 2x-1 doubles the resize error: 8e-7 absolute */
    ck_assert(test_allclose_f32("preprocess img2 rows 0..31", out, want, 32 * 299 * 3, 0, 8e-7));
    free(out);
    free(tmp);
    ddpm_free(want);
    ddpm_free(img);
    h5io_close(h);
}
END_TEST

/* ---- the whole network ------------------------------------------------------------------- */

static int progress_calls, progress_last;
static void count_progress(void *user, int done, int total)
{
    (void)user;
    progress_calls++;
    progress_last = done * 1000 + total;
}

START_TEST(test_network_vs_pytorch_reference)
{
    hid_t h = open_ref();
    inception_net *net;
    double t0 = ddpm_now();
    ck_assert_msg(inception_init_synthetic(&net, SYNTH_SEED) == DDPM_OK, "%s", ddpm_last_error());
    fprintf(stderr, "synthetic weights: %.2fs\n", ddpm_now() - t0);
    static const char *imgs[] = { "img0", "img1", "img2" };
    float pool3[2048], logits[1008];
    for (size_t i = 0; i < DDPM_ARRAY_LEN(imgs); i++) {
        char ds[64];
        uint8_t *img;
        int r;
        hsize_t d[H5IO_MAX_RANK];
        snprintf(ds, sizeof ds, "images/%s", imgs[i]);
        ck_assert(h5io_read_u8(h, ds, &img, &r, d) == DDPM_OK && r == 3);
        t0 = ddpm_now();
        ck_assert_msg(inception_forward(net, pool3, logits, img, 1, (int)d[0], (int)d[1], (int)d[2]) == DDPM_OK, "%s",
                      ddpm_last_error());
        double dt = ddpm_now() - t0;
        float want_p[2048], want_l[1008];
        hsize_t sp[2] = { 1, 2048 }, sl[2] = { 1, 1008 };
        snprintf(ds, sizeof ds, "pool3/%s", imgs[i]);
        ck_assert(h5io_read_into_f32(h, ds, want_p, 2, sp) == DDPM_OK);
        snprintf(ds, sizeof ds, "logits/%s", imgs[i]);
        ck_assert(h5io_read_into_f32(h, ds, want_l, 2, sl) == DDPM_OK);
        double ep = test_max_rel_err_f32(pool3, want_p, 2048), el = test_max_rel_err_f32(logits, want_l, 1008);
        fprintf(stderr, "%s (%dx%dx%d): pool3 rel err %.3g, logits rel err %.3g, forward %.2fs\n", imgs[i], (int)d[0],
                (int)d[1], (int)d[2], ep, el, dt);
        ck_assert_msg(ep <= 1e-4, "%s pool3 rel err %.3g > 1e-4", imgs[i], ep);
        ck_assert_msg(el <= 1e-4, "%s logits rel err %.3g > 1e-4", imgs[i], el);
        ddpm_free(img);
    }
    inception_free(net);
    h5io_close(h);
}
END_TEST

/* Thread count, N and C=1 replication do not change the features: every image goes through
 * the same single-threaded code path, so the comparisons are bit-exact. */
START_TEST(test_batch_and_channels_invariance)
{
    hid_t h = open_ref();
    inception_net *net;
    ck_assert(inception_init_synthetic(&net, SYNTH_SEED) == DDPM_OK);
    uint8_t *gray;
    int r;
    hsize_t d[H5IO_MAX_RANK];
    ck_assert(h5io_read_u8(h, "images/img1", &gray, &r, d) == DDPM_OK && d[2] == 1);
    const int S = 28 * 28;
    /* 3 images: gray, its mirror, gray again; and an RGB replica of the mirror */
    uint8_t *g3 = malloc((size_t)3 * S), *rgb = malloc((size_t)S * 3);
    for (int i = 0; i < S; i++) {
        int y = i / 28, x = i % 28;
        g3[i] = gray[i];
        g3[S + i] = gray[y * 28 + 27 - x];
        g3[2 * S + i] = gray[i];
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = g3[S + i];
    }
    float *p = malloc(sizeof(float) * 3 * 2048), *l = malloc(sizeof(float) * 3 * 1008);
    float p1[2048], l1[1008];
    inception_set_threads(net, 2);
    progress_calls = 0;
    inception_set_progress(net, count_progress, NULL);
    ck_assert(inception_forward(net, p, l, g3, 3, 28, 28, 1) == DDPM_OK);
    ck_assert_int_eq(progress_calls, 3);
    ck_assert_int_eq(progress_last, 3 * 1000 + 3);
    ck_assert(memcmp(p, p + 2 * 2048, sizeof(float) * 2048) == 0); /* image 0 == image 2 */
    ck_assert(memcmp(l, l + 2 * 1008, sizeof(float) * 1008) == 0);
    double e_mirror = test_max_rel_err_f32(p + 2048, p, 2048);
    fprintf(stderr, "mirrored image: pool3 differs by %.3g relative (must not be ~0)\n", e_mirror);
    ck_assert(e_mirror > 1e-3);
    /* one thread, N = 1, RGB replica of the mirrored gray image: identical to its batch result */
    inception_set_threads(net, 1);
    ck_assert(inception_forward(net, p1, l1, rgb, 1, 28, 28, 3) == DDPM_OK);
    ck_assert(memcmp(p1, p + 2048, sizeof p1) == 0);
    ck_assert(memcmp(l1, l + 1008, sizeof l1) == 0);
    ck_assert_int_eq(progress_calls, 4);
    /* bad shapes are errors; N = 0 is a no-op */
    ck_assert(inception_forward(net, p1, NULL, rgb, 1, 28, 28, 2) == DDPM_ERR);
    ck_assert(inception_forward(net, p1, NULL, rgb, 0, 28, 28, 3) == DDPM_OK);
    free(g3);
    free(rgb);
    free(p);
    free(l);
    ddpm_free(gray);
    inception_free(net);
    h5io_close(h);
}
END_TEST

START_TEST(test_load_pth_errors)
{
    inception_net *net = NULL;
    ck_assert(inception_load_pth(&net, "tests/data/pth/state_zip.pth") == DDPM_ERR && net == NULL);
    fprintf(stderr, "wrong state_dict: %s\n", ddpm_last_error());
    ck_assert(strstr(ddpm_last_error(), "Conv2d_1a_3x3.conv.weight") != NULL);
    ck_assert(inception_load_pth(&net, "no/such/" INCEPTION_WEIGHTS_FILE) == DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "cannot open") != NULL);
}
END_TEST

static Suite *inception_suite(void)
{
    Suite *s = suite_create("inception");
    TCase *tc = tcase_create("layers");
    tcase_add_test(tc, test_synthetic_hash_matches_python);
    tcase_add_test(tc, test_conv_im2col_vs_naive);
    tcase_add_test(tc, test_pools_vs_naive);
    tcase_add_test(tc, test_resize_vs_torch);
    tcase_add_test(tc, test_preprocess_vs_torch);
    tcase_add_test(tc, test_load_pth_errors);
    suite_add_tcase(s, tc);
    TCase *net = tcase_create("network");
    tcase_set_timeout(net, 120);
    tcase_add_test(net, test_network_vs_pytorch_reference);
    tcase_add_test(net, test_batch_and_channels_invariance);
    suite_add_tcase(s, net);
    return s;
}

TEST_MAIN(inception_suite)
