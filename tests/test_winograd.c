/* Winograd F(2x2,3x3) and F(4x4,3x3) convolution (src/nn/winograd.c) and its dispatch from conv2d:
 * forward and
 * backward-data against a direct 3x3 SAME convolution written here in double, at odd and awkward
 * sizes (odd H/W give partial last tiles; H=W=1 is one tile of mostly padding), with and without
 * bias, with dinp and dW pre-filled (the backward adds). Also: bit-identical results for 1 and 2
 * threads on both schedules (phase-parallel for chunks with few tiles, fused blocks for chunks
 * with >= 1024 tiles); a one-example workspace against a large one (same to rounding: the GEMMs'
 * row count changes, and OpenBLAS rounds differently for different shapes); the dispatch
 * through conv2d_forward / conv2d_backward. The weight gradient (backward-filter) has its own
 * error measure and tolerance: see ref_backward_filter and tol_filter.
 *
 * Error measure: per output element, |got - want| / S where S = sum of |term| over the direct
 * sum's products (plus |bias|), i.e. the error relative to the element's condition; the largest
 * is printed with max|got - want| / max|want|.
 * Tolerance (derived, not fitted): a K-term float dot product has error <= K u S (u = 2^-24);
 * im2col's K is 9*Cin, so its bound is 9*Cin u S. Winograd sums K = Cin (the GEMM's reduction)
 * plus at most 10 roundings along the transforms (2 in B^T d B, 4 in G g G^T, 4 in A^T m A),
 * but the transforms mix in cross terms that cancel exactly, whose magnitudes are up to
 * (8/3)^2 ~ 7.1 times the direct ones (1-D F(2,3): the |A^T|, |G|, |B^T| coefficient products
 * sum to 8 per 3 direct terms). So TOL(K) = 7.1 (K + 10) u — about im2col's 9 K u for the
 * U-Net's widths, i.e. the same size of error. Bugs give errors of order 1.
 * F(4x4,3x3) (forward and backward-data only; tol_for43): the same argument with its matrices.
 * Per 1-D output o, the sum over points e, taps k and inputs i of |A^T[o,e]| |G[e,k]| |B^T[e,i]|
 * is 16, 17, 24, 48 for o = 0..3 against 3 direct terms, so the worst ratio is 16 per dimension
 * and 256 in 2-D (the corner output of a tile; entries up to 8 in A^T, 5 in B^T). Roundings per
 * term: 3 per dimension in B^T d B (6), 1 for U (computed in double, rounded once), 1 product,
 * K - 1 in the GEMM, 3 per dimension in A^T m A (6): TOL43(K) = 256 (K + 14) u. Bugs give errors
 * of order 1, far above it; the measured errors are printed (about 10-20x those of F(2,3)). */
#include "testutil.h"

#include "core/common.h"
#include "core/rng.h"
#include "nn/conv2d.h"
#include "nn/winograd.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static double tol_for(int K) { return 7.1 * (K + 10) * ldexp(1.0, -24); }
static double tol_for43(int K) { return 256.0 * (K + 14) * ldexp(1.0, -24); }
/* the tolerance of output tile m */
static double tol_m(int K, int m) { return m == 4 ? tol_for43(K) : tol_for(K); }

static float *randn(size_t n, uint32_t index, float scale)
{
    float *p = malloc(n * sizeof *p);
    rng_normal_fill(rng_stream_make(4242, RNG_EVAL, 0, index), p, n);
    for (size_t i = 0; i < n; i++) p[i] *= scale;
    return p;
}

/* out (B, H, W, Cout) = direct conv of x (B, H, W, Cin) with W (3, 3, Cin, Cout) + b (or none);
 * S (same shape) = sum of |products| (+ |b|). */
static void ref_forward(double *out, double *S, const float *x, const float *W, const float *b, int B, int H, int Wd,
                        int Cin, int Cout)
{
    double *x64 = test_f64_of_f32(x, (size_t)B * H * Wd * Cin);
    double *w64 = test_f64_of_f32(W, (size_t)9 * Cin * Cout), *b64 = test_f64_of_f32(b, (size_t)Cout);
    test_conv_ref(out, S, x64, w64, b64, B, H, Wd, Cin, Cout, 3, 3, 1, 1, 1, 1, H, Wd);
    free(x64);
    free(w64);
    free(b64);
}

/* dinp (B, H, W, Cin) = d0 + input gradient of that convolution given dout; S as above. */
static void ref_backward_data(double *dinp, double *S, const float *d0, const float *dout, const float *W, int B, int H,
                              int Wd, int Cin, int Cout)
{
    for (int n = 0; n < B; n++)
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < Wd; xx++)
                for (int ci = 0; ci < Cin; ci++) {
                    const size_t o = (((size_t)n * H + y) * Wd + xx) * Cin + ci;
                    double s = d0 ? (double)d0[o] : 0.0, a = d0 ? fabs((double)d0[o]) : 0.0;
                    for (int kh = 0; kh < 3; kh++)
                        for (int kw = 0; kw < 3; kw++) {
                            const int oy = y + 1 - kh, ox = xx + 1 - kw;
                            if (oy < 0 || oy >= H || ox < 0 || ox >= Wd) continue;
                            const float *gp = dout + (((size_t)n * H + oy) * Wd + ox) * Cout;
                            const float *wp = W + ((size_t)(kh * 3 + kw) * Cin + ci) * Cout;
                            for (int co = 0; co < Cout; co++) {
                                const double t = (double)gp[co] * (double)wp[co];
                                s += t;
                                a += fabs(t);
                            }
                        }
                    dinp[o] = s;
                    S[o] = a;
                }
}

/* Largest |got - want| / S, printed with the tensor-wide max|got - want| / max|want|. */
static double cond_err(const char *what, const float *got, const double *want, const double *S, size_t n)
{
    double worst = 0, md = 0, mw = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - want[i]);
        const double e = S[i] > 0 ? d / S[i] : (d > 0 ? (double)INFINITY : 0.0);
        if (e > worst || e != e) worst = e;
        if (d > md || d != d) md = d;
        if (fabs(want[i]) > mw) mw = fabs(want[i]);
    }
    fprintf(stderr, "%-44s n=%-7zu max|err|/S=%.3g  max|err|/max|want|=%.3g\n", what, n, worst,
            md / (mw > 0 ? mw : 1.0));
    return worst;
}

typedef struct {
    int B, H, W, Cin, Cout;
} geom;

/* dW (3, 3, Cin, Cout) = dW0 + the weight gradient given x and dy, summed directly in double;
 * Sd = |dW0| + sum of |x dy| over the direct sum's terms; Sw = |dW0| + the same sum over every
 * term the Winograd computation adds, i.e. the transforms applied to absolute values:
 * Sw[k] = sum over tiles and points e of |G^T|(x)|G^T| [k, e] * (|B^T| |d| |B|)[e] * (|A| |dy| |A^T|)[e]. */
static void ref_backward_filter(double *dW, double *Sd, double *Sw, const float *dW0, const float *x, const float *dy,
                                int B, int H, int Wd, int Cin, int Cout)
{
    const size_t CC = (size_t)Cin * Cout;
    for (int k = 0; k < 9; k++) {
        const int kh = k / 3, kw = k % 3;
        for (int ci = 0; ci < Cin; ci++)
            for (int co = 0; co < Cout; co++) {
                double s = 0, a = 0;
                for (int n = 0; n < B; n++)
                    for (int y = 0; y < H; y++)
                        for (int xx = 0; xx < Wd; xx++) {
                            const int iy = y + kh - 1, ix = xx + kw - 1;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= Wd) continue;
                            const double t = (double)x[(((size_t)n * H + iy) * Wd + ix) * Cin + ci] *
                                             (double)dy[(((size_t)n * H + y) * Wd + xx) * Cout + co];
                            s += t;
                            a += fabs(t);
                        }
                const size_t o = (size_t)k * CC + (size_t)ci * Cout + co;
                dW[o] = (double)dW0[o] + s;
                Sd[o] = fabs((double)dW0[o]) + a;
            }
    }
    /* |B^T| (4x4), |A| (4x2), |G| (4x3) of F(2x2,3x3) */
    static const double BTa[4][4] = { { 1, 0, 1, 0 }, { 0, 1, 1, 0 }, { 0, 1, 1, 0 }, { 0, 1, 0, 1 } };
    static const double Aa[4][2] = { { 1, 0 }, { 1, 1 }, { 1, 1 }, { 0, 1 } };
    static const double Ga[4][3] = { { 1, 0, 0 }, { .5, .5, .5 }, { .5, .5, .5 }, { 0, 0, 1 } };
    double *Q = calloc(16 * CC, sizeof *Q); /* Q[e] (Cin, Cout) = sum over tiles of |V_e| |dM_e| */
    double *v = malloc(16 * (size_t)Cin * sizeof *v), *m = malloc(16 * (size_t)Cout * sizeof *m);
    const int th = (H + 1) / 2, tw = (Wd + 1) / 2;
    for (int n = 0; n < B; n++)
        for (int ty = 0; ty < th; ty++)
            for (int tx = 0; tx < tw; tx++) {
                for (int e = 0; e < 16; e++) {
                    const int ei = e / 4, ej = e % 4;
                    for (int ci = 0; ci < Cin; ci++) {
                        double acc = 0;
                        for (int i = 0; i < 4; i++)
                            for (int j = 0; j < 4; j++) {
                                const int iy = 2 * ty - 1 + i, ix = 2 * tx - 1 + j;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= Wd) continue;
                                acc += BTa[ei][i] * BTa[ej][j] *
                                       fabs((double)x[(((size_t)n * H + iy) * Wd + ix) * Cin + ci]);
                            }
                        v[(size_t)e * Cin + ci] = acc;
                    }
                    for (int co = 0; co < Cout; co++) {
                        double acc = 0;
                        for (int i = 0; i < 2; i++)
                            for (int j = 0; j < 2; j++) {
                                const int y = 2 * ty + i, xx = 2 * tx + j;
                                if (y >= H || xx >= Wd) continue;
                                acc += Aa[ei][i] * Aa[ej][j] *
                                       fabs((double)dy[(((size_t)n * H + y) * Wd + xx) * Cout + co]);
                            }
                        m[(size_t)e * Cout + co] = acc;
                    }
                    for (int ci = 0; ci < Cin; ci++)
                        for (int co = 0; co < Cout; co++)
                            Q[(size_t)e * CC + (size_t)ci * Cout + co] +=
                                v[(size_t)e * Cin + ci] * m[(size_t)e * Cout + co];
                }
            }
    for (int k = 0; k < 9; k++)
        for (size_t c = 0; c < CC; c++) {
            double acc = 0;
            for (int e = 0; e < 16; e++) acc += Ga[e / 4][k / 3] * Ga[e % 4][k % 3] * Q[(size_t)e * CC + c];
            Sw[(size_t)k * CC + c] = fabs((double)dW0[(size_t)k * CC + c]) + acc;
        }
    free(Q);
    free(v);
    free(m);
}

/* Tolerance of winograd_backward_filter relative to Sw (derived, not fitted): every term of a dW
 * element passes through at most 2 roundings in B^T d B, 2 in A dy A^T, 1 product, the sum over
 * the T = B * ceil(H/2) * ceil(W/2) tiles (at most T - 1 additions deep whatever the order: the
 * GEMM's, the blocks' partial sums and their accumulation into dU), 4 in G^T dU G (2 per side;
 * the factors .5 are exact) and 1 for the addition into the pre-filled dW: depth n <= T + 10,
 * so |err| <= gamma_n Sw ~ (T + 10) u Sw (u = 2^-24; -ffp-contract=off, and an FMA in the GEMM
 * only removes roundings). Sw rather than the direct sum's Sd because the transforms' cross terms
 * cancel exactly: an element whose direct terms are all zero (a border tap of a 1x1 image) is
 * computed from nonzero terms and comes out as rounding noise of order u Sw, not 0. Bugs give
 * errors of order 1. The error relative to Sd is printed too (where Sd > 0): im2col's bound on
 * it is (4T + chunks) u (its B*H*W-term dot product). */
static double tol_filter(const geom *g)
{
    const double T = (double)g->B * ((g->H + 1) / 2) * ((g->W + 1) / 2);
    return (T + 10) * ldexp(1.0, -24) / (1.0 - (T + 10) * ldexp(1.0, -24));
}

/* winograd_backward_filter with a workspace of cap floats, adding into a pre-filled dW: against
 * the reference within tol_filter, and bit-identical for 1 and 2 threads. */
static void check_filter(geom g, size_t cap, const char *tag)
{
    const size_t nx = (size_t)g.B * g.H * g.W * g.Cin, ny = (size_t)g.B * g.H * g.W * g.Cout;
    const size_t nw = 9 * (size_t)g.Cin * g.Cout;
    float *x = randn(nx, 31, 1.0f), *dy = randn(ny, 32, 1.0f), *dW0 = randn(nw, 33, 1.0f);
    float *dW1 = malloc(nw * sizeof *dW1), *dW2 = malloc(nw * sizeof *dW2), *col = malloc(cap * sizeof *col);
    double *want = malloc(nw * sizeof *want), *Sd = malloc(nw * sizeof *Sd), *Sw = malloc(nw * sizeof *Sw);
    const int saved = omp_get_max_threads();
    memcpy(dW1, dW0, nw * sizeof *dW1);
    memcpy(dW2, dW0, nw * sizeof *dW2);
    omp_set_num_threads(1);
    ck_assert_int_eq(winograd_backward_filter(dW1, x, dy, col, cap, g.B, g.H, g.W, g.Cin, g.Cout), DDPM_OK);
    omp_set_num_threads(2);
    ck_assert_int_eq(winograd_backward_filter(dW2, x, dy, col, cap, g.B, g.H, g.W, g.Cin, g.Cout), DDPM_OK);
    omp_set_num_threads(saved);
    const int same = !memcmp(dW1, dW2, nw * sizeof *dW1);
    ref_backward_filter(want, Sd, Sw, dW0, x, dy, g.B, g.H, g.W, g.Cin, g.Cout);
    char name[128];
    double ed = 0;
    for (size_t i = 0; i < nw; i++)
        if (Sd[i] > 0) {
            const double e = fabs((double)dW1[i] - want[i]) / Sd[i];
            if (e > ed) ed = e;
        }
    snprintf(name, sizeof name, "bwd-filter (adds) %s", tag);
    const double e = cond_err(name, dW1, want, Sw, nw);
    fprintf(stderr, "%-44s max|err|/Sd=%.3g (where Sd > 0)  tol/Sw=%.3g  1 vs 2 threads %s\n", "", ed, tol_filter(&g),
            same ? "bit-identical" : "DIFFER");
    ck_assert_msg(same, "%s: dW depends on the thread count", tag);
    ck_assert_msg(e <= tol_filter(&g), "%s: error %.3g > tolerance %.3g", name, e, tol_filter(&g));
    free(x);
    free(dy);
    free(dW0);
    free(dW1);
    free(dW2);
    free(col);
    free(want);
    free(Sd);
    free(Sw);
}

/* Forward (bias and no bias) and backward-data (dinp pre-filled) of one geometry against the
 * reference, through winograd_*_tile with output tile m and a workspace of `examples` examples;
 * for m = 2 also the weight gradient (check_filter). */
static void check_geom(geom g, int examples, int m, const char *tag)
{
    const size_t nx = (size_t)g.B * g.H * g.W * g.Cin, ny = (size_t)g.B * g.H * g.W * g.Cout;
    const size_t nw = 9 * (size_t)g.Cin * g.Cout;
    float *x = randn(nx, 1, 1.0f), *W = randn(nw, 2, 0.2f), *b = randn(g.Cout, 3, 0.5f);
    float *dy = randn(ny, 4, 1.0f), *dx0 = randn(nx, 5, 1.0f);
    const size_t cap = winograd_workspace_floats(g.H, g.W, g.Cin, g.Cout) * (size_t)examples;
    float *col = malloc(cap * sizeof *col), *y = malloc(ny * sizeof *y), *dx = malloc(nx * sizeof *dx);
    double *want = malloc((nx > ny ? nx : ny) * sizeof *want), *S = malloc((nx > ny ? nx : ny) * sizeof *S);
    char name[128];

    for (int with_bias = 0; with_bias < 2; with_bias++) {
        const float *bb = with_bias ? b : NULL;
        ck_assert_int_eq(winograd_forward_tile(y, x, W, bb, col, cap, g.B, g.H, g.W, g.Cin, g.Cout, m), DDPM_OK);
        ref_forward(want, S, x, W, bb, g.B, g.H, g.W, g.Cin, g.Cout);
        snprintf(name, sizeof name, "F%d fwd %s%s", m, tag, with_bias ? " +b" : "");
        const double e = cond_err(name, y, want, S, ny);
        ck_assert_msg(e <= tol_m(g.Cin, m), "%s: error %.3g > tolerance %.3g", name, e, tol_m(g.Cin, m));
    }
    memcpy(dx, dx0, nx * sizeof *dx);
    ck_assert_int_eq(winograd_backward_data_tile(dx, dy, W, col, cap, g.B, g.H, g.W, g.Cin, g.Cout, m), DDPM_OK);
    ref_backward_data(want, S, dx0, dy, W, g.B, g.H, g.W, g.Cin, g.Cout);
    snprintf(name, sizeof name, "F%d bwd-data (adds) %s", m, tag);
    const double e = cond_err(name, dx, want, S, nx);
    /* +1 for the final addition into the pre-filled dinp */
    ck_assert_msg(e <= tol_m(g.Cout + 1, m), "%s: error %.3g > tolerance %.3g", name, e, tol_m(g.Cout + 1, m));

    free(x);
    free(W);
    free(b);
    free(dy);
    free(dx0);
    free(col);
    free(y);
    free(dx);
    free(want);
    free(S);
    if (m == 2) check_filter(g, cap, tag);
}

START_TEST(odd_sizes)
{
    check_geom((geom){ 2, 7, 5, 5, 3 }, 2, 2, "B2 7x5 5->3");
    check_geom((geom){ 2, 7, 5, 5, 3 }, 1, 2, "B2 7x5 5->3 chunk1");
    check_geom((geom){ 3, 1, 1, 4, 6 }, 3, 2, "B3 1x1 4->6");
    check_geom((geom){ 2, 2, 3, 3, 7 }, 2, 2, "B2 2x3 3->7");
    check_geom((geom){ 3, 4, 6, 9, 2 }, 1, 2, "B3 4x6 9->2 chunk1");
}
END_TEST

/* F(4x4,3x3) at sizes that are not multiples of 4 (partial last tiles in one or both directions;
 * 1x1 and 2x3 are one tile of mostly padding), chunked and not, and at a U-Net width. */
START_TEST(f43_odd_sizes)
{
    check_geom((geom){ 2, 7, 5, 5, 3 }, 2, 4, "B2 7x5 5->3");
    check_geom((geom){ 2, 7, 5, 5, 3 }, 1, 4, "B2 7x5 5->3 chunk1");
    check_geom((geom){ 3, 9, 6, 16, 20 }, 3, 4, "B3 9x6 16->20");
    check_geom((geom){ 3, 1, 1, 4, 6 }, 3, 4, "B3 1x1 4->6");
    check_geom((geom){ 2, 2, 3, 3, 7 }, 2, 4, "B2 2x3 3->7");
    check_geom((geom){ 3, 4, 6, 9, 2 }, 1, 4, "B3 4x6 9->2 chunk1");
    check_geom((geom){ 2, 27, 29, 16, 24 }, 2, 4, "B2 27x29 16->24");
}
END_TEST

START_TEST(f43_unet_width) { check_geom((geom){ 1, 32, 32, 128, 128 }, 1, 4, "B1 32x32 128->128"); }
END_TEST

START_TEST(unet_width) { check_geom((geom){ 1, 28, 28, 32, 32 }, 1, 2, "B1 28x28 32->32"); }
END_TEST

/* 6 examples of 14*15 tiles: one chunk of 1260 tiles takes the fused schedule (20 blocks, the
 * last partial), a one-example workspace the phase-parallel one. */
START_TEST(fused_schedule) { check_geom((geom){ 6, 27, 29, 16, 24 }, 6, 2, "B6 27x29 16->24 fused"); }
END_TEST

/* The backward filter's blocks: 8 examples of 14*15 = 210 tiles with 16+8 channels (384 floats
 * per tile). A whole-batch workspace gives the shape's blocks of 2^17 / 384 = 341 tiles (5 blocks,
 * ending inside examples, the last partial); a 1.5-example workspace caps them at 315 tiles (6
 * blocks, across examples); a one-example workspace at 210 (one example per block). */
START_TEST(filter_blocks)
{
    const geom g = { 8, 27, 29, 16, 8 };
    const size_t one = winograd_workspace_floats(g.H, g.W, g.Cin, g.Cout);
    const size_t per_example = one - 16 * (size_t)g.Cin * g.Cout;
    check_filter(g, one + per_example * (size_t)(g.B - 1), "B8 27x29 16->8 batch ws");
    check_filter(g, one + per_example / 2, "B8 27x29 16->8 1.5-example ws");
    check_filter(g, one, "B8 27x29 16->8 1-example ws");
}
END_TEST

/* Bitwise for 1 vs 2 threads; a one-example workspace vs one for the whole batch to rounding. */
static void run_both(float *y, float *dx, const float *x, const float *W, const float *b, const float *dy,
                     const float *dx0, float *col, size_t cap, geom g, int m)
{
    const size_t nx = (size_t)g.B * g.H * g.W * g.Cin;
    ck_assert_int_eq(winograd_forward_tile(y, x, W, b, col, cap, g.B, g.H, g.W, g.Cin, g.Cout, m), DDPM_OK);
    memcpy(dx, dx0, nx * sizeof *dx);
    ck_assert_int_eq(winograd_backward_data_tile(dx, dy, W, col, cap, g.B, g.H, g.W, g.Cin, g.Cout, m), DDPM_OK);
}

static void check_bitwise(geom g, int m, const char *tag)
{
    const size_t nx = (size_t)g.B * g.H * g.W * g.Cin, ny = (size_t)g.B * g.H * g.W * g.Cout;
    const size_t nw = 9 * (size_t)g.Cin * g.Cout;
    float *x = randn(nx, 11, 1.0f), *W = randn(nw, 12, 0.2f), *b = randn(g.Cout, 13, 0.5f);
    float *dy = randn(ny, 14, 1.0f), *dx0 = randn(nx, 15, 1.0f);
    const size_t one = winograd_workspace_floats(g.H, g.W, g.Cin, g.Cout), all = one * (size_t)g.B;
    float *col = malloc(all * sizeof *col);
    float *y[3], *dx[3];
    for (int i = 0; i < 3; i++) {
        y[i] = malloc(ny * sizeof(float));
        dx[i] = malloc(nx * sizeof(float));
    }
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    run_both(y[0], dx[0], x, W, b, dy, dx0, col, all, g, m);
    omp_set_num_threads(2);
    run_both(y[1], dx[1], x, W, b, dy, dx0, col, all, g, m);
    run_both(y[2], dx[2], x, W, b, dy, dx0, col, one, g, m);
    omp_set_num_threads(saved);
    const int thr = !memcmp(y[0], y[1], ny * sizeof(float)) && !memcmp(dx[0], dx[1], nx * sizeof(float));
    const int chk = !memcmp(y[1], y[2], ny * sizeof(float)) && !memcmp(dx[1], dx[2], nx * sizeof(float));
    fprintf(stderr, "F%d %s: 1 vs 2 threads %s; 1-example vs whole-batch workspace %s\n", m, tag,
            thr ? "bit-identical" : "DIFFER", chk ? "bit-identical" : "differ in rounding");
    ck_assert_msg(thr, "%s: results depend on the thread count", tag);
    /* The chunk size changes the GEMMs' row count, and OpenBLAS's rounding depends on the shape
     * of a call (its small-matrix kernel), so the two workspaces agree to rounding only: both
     * must meet the reference tolerance. */
    double *want = malloc((nx > ny ? nx : ny) * sizeof *want), *S = malloc((nx > ny ? nx : ny) * sizeof *S);
    ref_forward(want, S, x, W, b, g.B, g.H, g.W, g.Cin, g.Cout);
    for (int i = 1; i < 3; i++) {
        char name[128];
        snprintf(name, sizeof name, "fwd %s, %s workspace", tag, i == 1 ? "batch" : "1-example");
        const double e = cond_err(name, y[i], want, S, ny);
        ck_assert_msg(e <= tol_m(g.Cin, m), "%s: error %.3g", name, e);
    }
    ref_backward_data(want, S, dx0, dy, W, g.B, g.H, g.W, g.Cin, g.Cout);
    for (int i = 1; i < 3; i++) {
        char name[128];
        snprintf(name, sizeof name, "bwd-data %s, %s workspace", tag, i == 1 ? "batch" : "1-example");
        const double e = cond_err(name, dx[i], want, S, nx);
        ck_assert_msg(e <= tol_m(g.Cout + 1, m), "%s: error %.3g", name, e);
    }
    free(want);
    free(S);
    for (int i = 0; i < 3; i++) {
        free(y[i]);
        free(dx[i]);
    }
    free(x);
    free(W);
    free(b);
    free(dy);
    free(dx0);
    free(col);
}

START_TEST(bitwise_threads_and_chunks)
{
    check_bitwise((geom){ 2, 28, 28, 32, 32 }, 2, "B2 28x28 32->32 (phase)");
    check_bitwise((geom){ 6, 27, 29, 16, 24 }, 2, "B6 27x29 16->24 (fused vs phase)");
    /* F(4,3): 2 x 49 tiles (phase); 10 x 56 = 560 tiles >= 16 blocks of 32 (fused) against
     * 56-tile chunks of the 1-example workspace (phase) */
    check_bitwise((geom){ 2, 28, 28, 32, 32 }, 4, "B2 28x28 32->32 (phase)");
    check_bitwise((geom){ 10, 27, 29, 16, 24 }, 4, "B10 27x29 16->24 (fused vs phase)");
}
END_TEST

/* conv2d_forward / conv2d_backward at a Winograd shape: out, dinp and dW against the reference,
 * db against a double sum; the workspace from conv2d_workspace_floats. */
static void check_dispatch(geom g, int want_m, const char *tag)
{
    const size_t nx = (size_t)g.B * g.H * g.W * g.Cin, ny = (size_t)g.B * g.H * g.W * g.Cout;
    const size_t nw = 9 * (size_t)g.Cin * g.Cout;
    float *x = randn(nx, 21, 1.0f), *W = randn(nw, 22, 0.2f), *b = randn(g.Cout, 23, 0.5f);
    float *dy = randn(ny, 24, 1.0f), *dx = randn(nx, 25, 1.0f), *dx0 = malloc(nx * sizeof *dx0);
    float *dW = calloc(nw, sizeof *dW), *db = calloc(g.Cout, sizeof *db), *y = malloc(ny * sizeof *y);
    memcpy(dx0, dx, nx * sizeof *dx);
    const size_t per = conv2d_workspace_floats(g.H, g.W, g.Cin, g.Cout, 3, 1);
    ck_assert_uint_ge(per, winograd_workspace_floats(g.H, g.W, g.Cin, g.Cout));
    ck_assert_uint_ge(per, conv2d_col_floats(g.H, g.W, g.Cin, 3, 1));
    const size_t cap = per * 2;
    float *col = malloc(cap * sizeof *col);
    const size_t nmax = nx > ny ? (nx > nw ? nx : nw) : (ny > nw ? ny : nw);
    double *want = malloc(nmax * sizeof *want), *S = malloc(nmax * sizeof *S);
    char name[128];

    const int m = winograd_output_tile(cap, g.B, g.H, g.W, g.Cin, g.Cout);
    ck_assert_int_eq(m, want_m);
    ck_assert_int_eq(conv2d_forward(y, x, W, b, col, cap, g.B, g.H, g.W, g.Cin, g.Cout, 3, 1), DDPM_OK);
    /* the dispatch runs output tile m: the same bits as winograd_forward_tile with m */
    float *y2 = malloc(ny * sizeof *y2);
    ck_assert_int_eq(winograd_forward_tile(y2, x, W, b, col, cap, g.B, g.H, g.W, g.Cin, g.Cout, m), DDPM_OK);
    ck_assert_msg(!memcmp(y, y2, ny * sizeof *y), "%s: conv2d_forward is not F(%d,3)", tag, m);
    free(y2);
    ref_forward(want, S, x, W, b, g.B, g.H, g.W, g.Cin, g.Cout);
    snprintf(name, sizeof name, "conv2d_forward %s (winograd F%d)", tag, m);
    double e = cond_err(name, y, want, S, ny);
    ck_assert_msg(e <= tol_m(g.Cin, m), "conv2d_forward error %.3g", e);

    ck_assert_int_eq(conv2d_backward(dx, dW, db, dy, x, W, col, cap, g.B, g.H, g.W, g.Cin, g.Cout, 3, 1), DDPM_OK);
    ref_backward_data(want, S, dx0, dy, W, g.B, g.H, g.W, g.Cin, g.Cout);
    snprintf(name, sizeof name, "conv2d_backward %s dinp (winograd, adds)", tag);
    e = cond_err(name, dx, want, S, nx);
    ck_assert_msg(e <= tol_m(g.Cout + 1, m), "conv2d_backward dinp error %.3g", e);

    /* dW by Winograd too (into a zeroed dW): the tolerance of check_filter */
    float *dW0 = calloc(nw, sizeof *dW0);
    double *Sd = malloc(nw * sizeof *Sd);
    ref_backward_filter(want, Sd, S, dW0, x, dy, g.B, g.H, g.W, g.Cin, g.Cout);
    snprintf(name, sizeof name, "conv2d_backward %s dW (winograd)", tag);
    e = cond_err(name, dW, want, S, nw);
    ck_assert_msg(e <= tol_filter(&g), "conv2d_backward dW error %.3g", e);
    free(dW0);
    free(Sd);
    const int K = g.B * g.H * g.W;
    for (int co = 0; co < g.Cout; co++) {
        double s = 0, a = 0;
        for (size_t p = 0; p < (size_t)K; p++) {
            s += (double)dy[p * g.Cout + co];
            a += fabs((double)dy[p * g.Cout + co]);
        }
        want[co] = s;
        S[co] = a;
    }
    snprintf(name, sizeof name, "conv2d_backward %s db", tag);
    e = cond_err(name, db, want, S, g.Cout);
    ck_assert_msg(e <= K * ldexp(1.0, -24), "conv2d_backward db error %.3g", e);

    /* a workspace below one example's Winograd need is an error, not a fallback */
    ck_assert_int_eq(conv2d_forward(y, x, W, b, col, winograd_workspace_floats(g.H, g.W, g.Cin, g.Cout) - 1, g.B, g.H,
                                    g.W, g.Cin, g.Cout, 3, 1),
                     DDPM_ERR);
    free(x);
    free(W);
    free(b);
    free(dy);
    free(dx);
    free(dx0);
    free(dW);
    free(db);
    free(y);
    free(col);
    free(want);
    free(S);
}

START_TEST(conv2d_dispatch)
{
    /* the input conv (Cin 1 or 3) stays on im2col: its workspace is the im2col rows */
    ck_assert_uint_eq(conv2d_workspace_floats(28, 28, 1, 32, 3, 1), conv2d_col_floats(28, 28, 1, 3, 1));
    ck_assert_uint_eq(conv2d_workspace_floats(28, 28, 32, 64, 3, 2), conv2d_col_floats(28, 28, 32, 3, 2));
    /* F(2,3) where a chunk holds fewer than 64 F(4,3) tiles (2 examples of 6 or 6 tiles here) */
    check_dispatch((geom){ 3, 9, 6, 16, 20 }, 2, "B3 9x6 16->20");
    check_dispatch((geom){ 2, 7, 9, 24, 1 }, 2, "B2 7x9 24->1"); /* like the output conv */
    /* F(4,3): 24 tiles per example, 3 examples per chunk of this workspace = 72 tiles */
    check_dispatch((geom){ 8, 16, 24, 16, 8 }, 4, "B8 16x24 16->8");
    /* the rule itself: images under 4x4 and chunks under 64 tiles take F(2,3) */
    ck_assert_int_eq(winograd_output_tile((size_t)1 << 30, 64, 3, 28, 32, 32), 2);
    ck_assert_int_eq(winograd_output_tile((size_t)1 << 30, 8, 4, 4, 256, 256), 2);
    ck_assert_int_eq(winograd_output_tile((size_t)1 << 30, 64, 4, 4, 256, 256), 4);
    ck_assert_int_eq(winograd_output_tile(winograd_workspace_floats(8, 8, 512, 256), 128, 8, 8, 512, 256), 2);
}
END_TEST

/* The inference path (winograd_filter_transform once, winograd_forward_pre per call): with the
 * same workspace left for V and M it gives winograd_forward_tile's bits; its epilogue (bias,
 * per-example bias, residual) gives the bits of the separate additions in the same order and
 * meets the reference tolerance with the two extra additions counted (K = Cin + 2). */
static void check_pre(geom g, int examples, int m, const char *tag)
{
    const size_t nx = (size_t)g.B * g.H * g.W * g.Cin, ny = (size_t)g.B * g.H * g.W * g.Cout;
    const size_t nw = 9 * (size_t)g.Cin * g.Cout;
    float *x = randn(nx, 21, 1.0f), *W = randn(nw, 22, 0.2f), *b = randn(g.Cout, 23, 0.5f);
    float *bb = randn((size_t)g.B * g.Cout, 24, 0.5f), *res = randn(ny, 25, 1.0f);
    const size_t cap = winograd_workspace_floats(g.H, g.W, g.Cin, g.Cout) * (size_t)examples;
    const size_t nU = winograd_filter_floats(g.Cin, g.Cout, m);
    float *col = malloc(cap * sizeof *col), *U = malloc(nU * sizeof *U);
    float *y0 = malloc(ny * sizeof *y0), *y1 = malloc(ny * sizeof *y1);
    double *want = malloc(ny * sizeof *want), *S = malloc(ny * sizeof *S);
    ck_assert_int_eq(winograd_filter_transform(U, W, g.Cin, g.Cout, m), DDPM_OK);
    /* bias only: the bits of winograd_forward_tile with the same room for V and M */
    ck_assert_int_eq(winograd_forward_tile(y0, x, W, b, col, cap, g.B, g.H, g.W, g.Cin, g.Cout, m), DDPM_OK);
    const winograd_epilogue e1 = { b, NULL, NULL, 0 };
    ck_assert_int_eq(winograd_forward_pre(y1, x, U, &e1, col, cap - nU, g.B, g.H, g.W, g.Cin, g.Cout, m), DDPM_OK);
    ck_assert_msg(!memcmp(y0, y1, ny * sizeof *y0), "F%d %s: pre-transformed filter differs", m, tag);
    /* the full epilogue against the separate additions, and against the reference */
    for (size_t i = 0; i < ny; i++) {
        const size_t bi = i / ((size_t)g.H * g.W * g.Cout), c = i % (size_t)g.Cout;
        y0[i] = (y0[i] + bb[bi * g.Cout + c]) + res[i];
    }
    const winograd_epilogue e2 = { b, bb, res, 0 };
    ck_assert_int_eq(winograd_forward_pre(y1, x, U, &e2, col, cap - nU, g.B, g.H, g.W, g.Cin, g.Cout, m), DDPM_OK);
    ck_assert_msg(!memcmp(y0, y1, ny * sizeof *y0), "F%d %s: fused epilogue differs from the separate adds", m, tag);
    ref_forward(want, S, x, W, b, g.B, g.H, g.W, g.Cin, g.Cout);
    for (size_t i = 0; i < ny; i++) {
        const size_t bi = i / ((size_t)g.H * g.W * g.Cout), c = i % (size_t)g.Cout;
        want[i] += (double)bb[bi * g.Cout + c] + (double)res[i];
        S[i] += fabs((double)bb[bi * g.Cout + c]) + fabs((double)res[i]);
    }
    char name[128];
    snprintf(name, sizeof name, "F%d pre + epilogue %s", m, tag);
    const double e = cond_err(name, y1, want, S, ny);
    ck_assert_msg(e <= tol_m(g.Cin + 2, m), "%s: error %.3g > tolerance %.3g", name, e, tol_m(g.Cin + 2, m));
    /* a workspace too small for one example is refused */
    ck_assert_int_ne(winograd_forward_pre(y1, x, U, &e1, col,
                                          winograd_workspace_floats_pre(g.H, g.W, g.Cin, g.Cout, m) - 1, g.B, g.H, g.W,
                                          g.Cin, g.Cout, m),
                     DDPM_OK);
    free(x);
    free(W);
    free(b);
    free(bb);
    free(res);
    free(col);
    free(U);
    free(y0);
    free(y1);
    free(want);
    free(S);
}

START_TEST(pretransformed_filter)
{
    for (int m = 2; m <= 4; m += 2) {
        check_pre((geom){ 2, 7, 5, 17, 9 }, 1, m, "B2 7x5 17->9");
        check_pre((geom){ 3, 8, 8, 32, 48 }, 2, m, "B3 8x8 32->48");
        check_pre((geom){ 128, 8, 8, 16, 16 }, 128, m, "B128 8x8 16->16 (fused blocks)");
    }
    /* the tile rule without U in the workspace: F(4,3) once a chunk holds >= 64 of its tiles */
    const size_t one4 = winograd_workspace_floats_pre(8, 8, 256, 256, 4);
    ck_assert_int_eq(winograd_output_tile_pre(one4 * 16, 16, 8, 8, 256, 256), 4);
    ck_assert_int_eq(winograd_output_tile_pre(one4 * 16, 8, 8, 8, 256, 256), 2);
    ck_assert_int_eq(winograd_output_tile_pre(one4 * 4, 64, 8, 8, 256, 256), 2);
    ck_assert_int_eq(winograd_output_tile_pre(one4 * 100, 64, 2, 2, 256, 256), 2);
}
END_TEST

static Suite *winograd_suite(void)
{
    Suite *s = suite_create("winograd");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, odd_sizes);
    tcase_add_test(tc, unet_width);
    tcase_add_test(tc, f43_odd_sizes);
    tcase_add_test(tc, f43_unet_width);
    tcase_add_test(tc, fused_schedule);
    tcase_add_test(tc, filter_blocks);
    tcase_add_test(tc, bitwise_threads_and_chunks);
    tcase_add_test(tc, conv2d_dispatch);
    tcase_add_test(tc, pretransformed_filter);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(winograd_suite)
