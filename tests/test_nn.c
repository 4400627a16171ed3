/* Neural-net layers (src/nn/): every forward against a plain-loop reference written here in
 * double, every backward (input and parameter gradients) against central finite differences
 * of that double reference, at odd sizes (B=3, H=5, W=7, C=6, 3 groups). Also: TF SAME
 * geometry of stride-2 convolutions on even and odd sizes, im2col chunking, thread-count
 * independence (1 vs 2 threads, bitwise, at sizes above NN_PAR_MIN_WORK) of the dropout mask
 * and of the GroupNorm and column-sum reductions.
 *
 * Errors are measured per tensor as max|got - want| / max|want| (test_max_rel_err_f32-style)
 * and printed. Tolerances:
 *   FWD_TOL 1e-5: float32 results against the double loop. Each output is a sum of at most
 *     ~100 float products (conv: 9*6 taps, attention: 35 keys), so the rounding error is at most
 *     ~100 * 6e-8 = 6e-6 of the largest term.
 *   BWD_TOL 1e-4: float32 analytic gradients against central differences (h = 1e-6) of the
 *     double reference: the difference quotient is exact to ~1e-9 (h^2 truncation and 1e-16/h
 *     rounding), so the error is the float32 backward's own accumulation (~1e-6) with margin
 *     for the longer reductions of GroupNorm (N*C/G = 70 terms) and attention. */
#include "testutil.h"

#include "core/rng.h"
#include "nn/attention.h"
#include "nn/conv2d.h"
#include "nn/dense.h"
#include "nn/dropout.h"
#include "nn/gemm.h"
#include "nn/groupnorm.h"
#include "nn/parallel.h"
#include "nn/relu.h"
#include "nn/resample.h"
#include "nn/swish.h"
#include "nn/expf_simd.h"
#include "nn/tensor_ops.h"
#include "nn/timestep_embedding.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FWD_TOL 1e-5
#define BWD_TOL 1e-4
#define FD_H    1e-6

enum { TB = 3, TH = 5, TW = 7, TC = 6, TG = 3 };

/* ---- helpers ---- */

static float *randn(size_t n, uint32_t index, float scale)
{
    float *p = malloc(n * sizeof *p);
    rng_normal_fill(rng_stream_make(777, RNG_EVAL, 0, index), p, n);
    for (size_t i = 0; i < n; i++) p[i] *= scale;
    return p;
}

static double *to_f64(const float *p, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = (double)p[i];
    return d;
}

static float *zeros(size_t n) { return calloc(n, sizeof(float)); }

/* max|got-want| / max|want|, printed with the name. */
static double rel_err(const char *what, const float *got, const double *want, size_t n)
{
    double md = 0, mw = 0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (d > md || d != d) {
            md = d;
            worst = i;
        }
        if (fabs(want[i]) > mw) mw = fabs(want[i]);
    }
    double r = md / (mw > 0 ? mw : 1.0);
    fprintf(stderr, "%-34s n=%-5zu max_abs=%.3g max|want|=%.3g rel=%.3g", what, n, md, mw, r);
    if (n) fprintf(stderr, " (worst [%zu]: got %.9g want %.9g)", worst, (double)got[worst], want[worst]);
    fprintf(stderr, "\n");
    return r;
}

#define CHECK_REL(what, got, want, n, tol)                                                                             \
    ck_assert_msg(rel_err(what, got, want, n) <= (tol), "%s exceeds tolerance %g", what, (double)(tol))

typedef double (*loss_fn)(void *ctx);

/* Central differences of f with respect to every element of arr. */
static double *fd_grad(double *arr, size_t n, loss_fn f, void *ctx)
{
    double *g = malloc(n * sizeof *g);
    for (size_t i = 0; i < n; i++) {
        double save = arr[i];
        arr[i] = save + FD_H;
        double lp = f(ctx);
        arr[i] = save - FD_H;
        double lm = f(ctx);
        arr[i] = save;
        g[i] = (lp - lm) / (2 * FD_H);
    }
    return g;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* ---- reference implementations in double ---- */

static int ref_out_size(int in, int s) { return (in + s - 1) / s; }
static int ref_pad(int in, int k, int s)
{
    int t = (ref_out_size(in, s) - 1) * s + k - in;
    return (t > 0 ? t : 0) / 2;
}

static void conv_ref(double *out, const double *x, const double *W, const double *b, int B, int H, int Wd, int Cin,
                     int Cout, int k, int s)
{
    int Ho = ref_out_size(H, s), Wo = ref_out_size(Wd, s), ph = ref_pad(H, k, s), pw = ref_pad(Wd, k, s);
    test_conv_ref(out, NULL, x, W, b, B, H, Wd, Cin, Cout, k, k, s, s, ph, pw, Ho, Wo);
}

static void dense_ref(double *out, const double *x, const double *W, const double *b, int N, int Cin, int Cout)
{
    for (int r = 0; r < N; r++)
        for (int co = 0; co < Cout; co++) {
            double acc = b[co];
            for (int ci = 0; ci < Cin; ci++) acc += x[r * Cin + ci] * W[ci * Cout + co];
            out[r * Cout + co] = acc;
        }
}

static void gn_ref(double *out, const double *x, const double *gamma, const double *beta, int B, int N, int C, int G)
{
    int Cg = C / G;
    for (int b = 0; b < B; b++)
        for (int g = 0; g < G; g++) {
            double s = 0, ss = 0;
            for (int n = 0; n < N; n++)
                for (int c = g * Cg; c < (g + 1) * Cg; c++) s += x[(b * N + n) * C + c];
            double m = s / (N * Cg);
            for (int n = 0; n < N; n++)
                for (int c = g * Cg; c < (g + 1) * Cg; c++) {
                    double d = x[(b * N + n) * C + c] - m;
                    ss += d * d;
                }
            double r = 1.0 / sqrt(ss / (N * Cg) + 1e-6);
            for (int n = 0; n < N; n++)
                for (int c = g * Cg; c < (g + 1) * Cg; c++) {
                    int i = (b * N + n) * C + c;
                    out[i] = (x[i] - m) * r * gamma[c] + beta[c];
                }
        }
}

static void attn_ref(double *out, const double *q, const double *k, const double *v, int B, int N, int C)
{
    double *w = malloc((size_t)N * sizeof *w);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < N; i++) {
            double mx = -1e300, s = 0;
            for (int j = 0; j < N; j++) {
                double d = 0;
                for (int c = 0; c < C; c++) d += q[(b * N + i) * C + c] * k[(b * N + j) * C + c];
                w[j] = d / sqrt((double)C);
                if (w[j] > mx) mx = w[j];
            }
            for (int j = 0; j < N; j++) s += (w[j] = exp(w[j] - mx));
            for (int c = 0; c < C; c++) {
                double acc = 0;
                for (int j = 0; j < N; j++) acc += w[j] / s * v[(b * N + j) * C + c];
                out[(b * N + i) * C + c] = acc;
            }
        }
    free(w);
}

/* ---- geometry ---- */

START_TEST(same_padding_geometry)
{
    /* TF SAME: out = ceil(in/s), pad_total = max((out-1)s + k - in, 0), before = total/2 */
    ck_assert_int_eq(conv2d_out_size(8, 2), 4);
    ck_assert_int_eq(conv2d_pad_before(8, 3, 2), 0); /* even: total 1 -> 0 before, 1 after */
    ck_assert_int_eq(conv2d_out_size(7, 2), 4);
    ck_assert_int_eq(conv2d_pad_before(7, 3, 2), 1); /* odd: total 2 -> 1 before, 1 after */
    ck_assert_int_eq(conv2d_out_size(5, 1), 5);
    ck_assert_int_eq(conv2d_pad_before(5, 3, 1), 1);
    ck_assert_int_eq(conv2d_pad_before(5, 1, 1), 0);
    ck_assert_int_eq(conv2d_out_size(28, 2), 14);
    ck_assert_int_eq(conv2d_pad_before(28, 3, 2), 0);
    ck_assert_int_eq(conv2d_out_size(1, 2), 1);
    ck_assert_int_eq(conv2d_pad_before(1, 3, 2), 1);
    ck_assert_uint_eq(conv2d_col_floats(5, 7, 6, 3, 2), (size_t)3 * 4 * 9 * 6);
}
END_TEST

/* ---- conv2d ---- */

typedef struct {
    double *x, *W, *b, *R, *out;
    int B, H, Wd, Cin, Cout, k, s;
    size_t nout;
} conv_ctx;

static double conv_loss(void *p)
{
    conv_ctx *c = p;
    conv_ref(c->out, c->x, c->W, c->b, c->B, c->H, c->Wd, c->Cin, c->Cout, c->k, c->s);
    return dot(c->out, c->R, c->nout);
}

/* Forward and backward of one geometry; col_cap = chunk examples' worth of im2col. */
static void conv_case(int H, int Wd, int k, int s, int chunk, const char *tag)
{
    const int B = TB, Cin = TC, Cout = 5;
    const int Ho = ref_out_size(H, s), Wo = ref_out_size(Wd, s);
    const size_t nx = (size_t)B * H * Wd * Cin, nw = (size_t)k * k * Cin * Cout, nout = (size_t)B * Ho * Wo * Cout;
    float *x = randn(nx, 1, 1.0f), *W = randn(nw, 2, 0.3f), *b = randn(Cout, 3, 0.5f);
    float *R = randn(nout, 4, 1.0f);
    const size_t cap = conv2d_col_floats(H, Wd, Cin, k, s) * (size_t)chunk;
    float *col = malloc(cap * sizeof *col), *out = zeros(nout);
    char name[96];

    ck_assert_int_eq(conv2d_forward(out, x, W, b, col, cap, B, H, Wd, Cin, Cout, k, s), 0);
    conv_ctx c = { to_f64(x, nx),
                   to_f64(W, nw),
                   to_f64(b, Cout),
                   to_f64(R, nout),
                   malloc(nout * sizeof(double)),
                   B,
                   H,
                   Wd,
                   Cin,
                   Cout,
                   k,
                   s,
                   nout };
    conv_ref(c.out, c.x, c.W, c.b, B, H, Wd, Cin, Cout, k, s);
    snprintf(name, sizeof name, "conv %s fwd", tag);
    CHECK_REL(name, out, c.out, nout, FWD_TOL);

    /* backward adds: start dinp and dW from nonzero values and subtract them afterwards */
    float *dx = randn(nx, 5, 1.0f), *dW = randn(nw, 6, 1.0f), *db = randn(Cout, 7, 1.0f);
    float *dx0 = malloc(nx * sizeof *dx0), *dW0 = malloc(nw * sizeof *dW0), db0[8];
    memcpy(dx0, dx, nx * sizeof *dx);
    memcpy(dW0, dW, nw * sizeof *dW);
    memcpy(db0, db, Cout * sizeof *db);
    ck_assert_int_eq(conv2d_backward(dx, dW, db, R, x, W, col, cap, B, H, Wd, Cin, Cout, k, s), 0);
    for (size_t i = 0; i < nx; i++) dx[i] -= dx0[i];
    for (size_t i = 0; i < nw; i++) dW[i] -= dW0[i];
    for (int i = 0; i < Cout; i++) db[i] -= db0[i];
    double *gx = fd_grad(c.x, nx, conv_loss, &c), *gW = fd_grad(c.W, nw, conv_loss, &c),
           *gb = fd_grad(c.b, Cout, conv_loss, &c);
    snprintf(name, sizeof name, "conv %s dinp", tag);
    CHECK_REL(name, dx, gx, nx, BWD_TOL);
    snprintf(name, sizeof name, "conv %s dW", tag);
    CHECK_REL(name, dW, gW, nw, BWD_TOL);
    snprintf(name, sizeof name, "conv %s db", tag);
    CHECK_REL(name, db, gb, Cout, BWD_TOL);

    /* dinp = NULL skips the input gradient but still gives dW */
    float *dW2 = zeros(nw);
    ck_assert_int_eq(conv2d_backward(NULL, dW2, NULL, R, x, W, col, cap, B, H, Wd, Cin, Cout, k, s), 0);
    snprintf(name, sizeof name, "conv %s dW (no dinp)", tag);
    CHECK_REL(name, dW2, gW, nw, BWD_TOL);

    free(x);
    free(W);
    free(b);
    free(R);
    free(col);
    free(out);
    free(dx);
    free(dW);
    free(db);
    free(dx0);
    free(dW0);
    free(dW2);
    free(gx);
    free(gW);
    free(gb);
    free(c.x);
    free(c.W);
    free(c.b);
    free(c.R);
    free(c.out);
}

START_TEST(conv3x3_stride1) { conv_case(TH, TW, 3, 1, TB, "3x3 s1 5x7"); }
END_TEST
START_TEST(conv3x3_stride1_chunked) { conv_case(TH, TW, 3, 1, 2, "3x3 s1 5x7 chunk2"); }
END_TEST
START_TEST(conv3x3_stride2_odd) { conv_case(TH, TW, 3, 2, 1, "3x3 s2 5x7 chunk1"); }
END_TEST
START_TEST(conv3x3_stride2_even) { conv_case(6, 8, 3, 2, TB, "3x3 s2 6x8"); }
END_TEST
START_TEST(conv1x1) { conv_case(TH, TW, 1, 1, TB, "1x1 s1 5x7"); }
END_TEST

START_TEST(conv_workspace_too_small)
{
    float x[4 * 4], W[9], b[1], out[16], col[8];
    memset(x, 0, sizeof x);
    memset(W, 0, sizeof W);
    b[0] = 0;
    ck_assert_int_eq(conv2d_forward(out, x, W, b, col, 8, 1, 4, 4, 1, 1, 3, 1), -1);
}
END_TEST

/* ---- dense / nin ---- */

/* A layer of three inputs and its plain-loop reference (dense: x, W, b; attention: q, k, v); the
 * loss of its gradient checks is <ref(in), R> over nout outputs. */
typedef void (*ref3_fn)(double *out, const double *a, const double *b, const double *c, int d0, int d1, int d2);
typedef struct {
    double *in[3], *R, *out;
    int d[3];
    size_t nout;
    ref3_fn ref;
} ref3_ctx;

static double ref3_loss(void *p)
{
    ref3_ctx *c = p;
    c->ref(c->out, c->in[0], c->in[1], c->in[2], c->d[0], c->d[1], c->d[2]);
    return dot(c->out, c->R, c->nout);
}

/* The analytic gradients got[k] (n[k] elements) of the three inputs against central differences
 * of ref3_loss, each within BWD_TOL. */
static void ref3_check_grads(ref3_ctx *c, const char *const what[3], float *const got[3], const size_t n[3])
{
    for (int k = 0; k < 3; k++) {
        double *g = fd_grad(c->in[k], n[k], ref3_loss, c);
        CHECK_REL(what[k], got[k], g, n[k], BWD_TOL);
        free(g);
    }
}

static void ref3_free(ref3_ctx *c)
{
    for (int k = 0; k < 3; k++) free(c->in[k]);
    free(c->R);
    free(c->out);
}

START_TEST(dense_nin)
{
    /* nin over B*H*W = 105 rows, and a dense over 3 rows */
    const int shapes[2][3] = { { TB * TH * TW, TC, 5 }, { TB, 7, 9 } };
    for (int s = 0; s < 2; s++) {
        const int N = shapes[s][0], Cin = shapes[s][1], Cout = shapes[s][2];
        const size_t nx = (size_t)N * Cin, nw = (size_t)Cin * Cout, no = (size_t)N * Cout;
        float *x = randn(nx, 10, 1), *W = randn(nw, 11, 0.4f), *b = randn(Cout, 12, 0.5f);
        float *R = randn(no, 13, 1), *out = zeros(no), *acc = randn(no, 14, 1);
        ref3_ctx c = { { to_f64(x, nx), to_f64(W, nw), to_f64(b, Cout) },
                       to_f64(R, no),
                       malloc(no * sizeof(double)),
                       { N, Cin, Cout },
                       no,
                       dense_ref };
        dense_forward(out, x, W, b, N, Cin, Cout);
        dense_ref(c.out, c.in[0], c.in[1], c.in[2], N, Cin, Cout);
        CHECK_REL(s ? "dense fwd" : "nin fwd", out, c.out, no, FWD_TOL);
        /* accumulate variant: acc0 + out */
        double *want = malloc(no * sizeof *want);
        for (size_t i = 0; i < no; i++) want[i] = (double)acc[i] + c.out[i];
        dense_forward_accumulate(acc, x, W, b, N, Cin, Cout);
        CHECK_REL(s ? "dense fwd accumulate" : "nin fwd accumulate", acc, want, no, FWD_TOL);

        float *dx = zeros(nx), *dW = zeros(nw), *db = zeros(Cout);
        dense_backward(dx, dW, db, R, x, W, N, Cin, Cout);
        const char *const what[3] = { s ? "dense dinp" : "nin dinp", s ? "dense dW" : "nin dW",
                                      s ? "dense db" : "nin db" };
        ref3_check_grads(&c, what, (float *const[3]){ dx, dW, db }, (const size_t[3]){ nx, nw, (size_t)Cout });
        free(x);
        free(W);
        free(b);
        free(R);
        free(out);
        free(acc);
        free(want);
        free(dx);
        free(dW);
        free(db);
        ref3_free(&c);
    }
}
END_TEST

/* ---- GroupNorm ---- */

typedef struct {
    double *x, *gamma, *beta, *R, *out;
    int B, N, C, G;
} gn_ctx;

static double gn_loss(void *p)
{
    gn_ctx *c = p;
    gn_ref(c->out, c->x, c->gamma, c->beta, c->B, c->N, c->C, c->G);
    return dot(c->out, c->R, (size_t)c->B * c->N * c->C);
}

START_TEST(groupnorm)
{
    const int B = TB, N = TH * TW, C = TC, G = TG;
    const size_t n = (size_t)B * N * C;
    float *x = randn(n, 20, 2.0f), *gamma = randn(C, 21, 0.3f), *beta = randn(C, 22, 0.3f);
    for (int c = 0; c < C; c++) gamma[c] += 1.0f;
    for (size_t i = 0; i < n; i++) x[i] += 0.5f; /* nonzero mean */
    float *R = randn(n, 23, 1), *out = zeros(n), mean[TB * TG], rstd[TB * TG];
    gn_ctx c = {
        to_f64(x, n), to_f64(gamma, C), to_f64(beta, C), to_f64(R, n), malloc(n * sizeof(double)), B, N, C, G
    };
    groupnorm_forward(out, mean, rstd, x, gamma, beta, B, N, C, G);
    gn_ref(c.out, c.x, c.gamma, c.beta, B, N, C, G);
    CHECK_REL("groupnorm fwd", out, c.out, n, FWD_TOL);

    float *dx = zeros(n), *dg = zeros(C), *dbt = zeros(C);
    groupnorm_backward(dx, dg, dbt, R, x, mean, rstd, gamma, B, N, C, G);
    double *gx = fd_grad(c.x, n, gn_loss, &c), *gg = fd_grad(c.gamma, C, gn_loss, &c),
           *gb = fd_grad(c.beta, C, gn_loss, &c);
    CHECK_REL("groupnorm dinp", dx, gx, n, BWD_TOL);
    CHECK_REL("groupnorm dgamma", dg, gg, C, BWD_TOL);
    CHECK_REL("groupnorm dbeta", dbt, gb, C, BWD_TOL);

    free(x);
    free(gamma);
    free(beta);
    free(R);
    free(out);
    free(dx);
    free(dg);
    free(dbt);
    free(gx);
    free(gg);
    free(gb);
    free(c.x);
    free(c.gamma);
    free(c.beta);
    free(c.R);
    free(c.out);
}
END_TEST

START_TEST(groupnorm_thread_independent)
{
    /* large enough (B*N*C >= NN_PAR_MIN_WORK) for the loops to run threaded */
    const int B = TB, N = 2001, C = TC, G = TG;
    const size_t n = (size_t)B * N * C;
    float *x = randn(n, 24, 1), *R = randn(n, 25, 1), gamma[TC], beta[TC], mean[TB * TG], rstd[TB * TG];
    for (int c = 0; c < C; c++) {
        gamma[c] = 1.0f + 0.1f * c;
        beta[c] = 0.05f * c;
    }
    ck_assert(NN_PAR_IF(n));
    float *o1 = zeros(n), *o2 = zeros(n), *d1 = zeros(n), *d2 = zeros(n);
    float g1[TC] = { 0 }, g2[TC] = { 0 }, b1[TC] = { 0 }, b2[TC] = { 0 };
    omp_set_num_threads(1);
    groupnorm_forward(o1, mean, rstd, x, gamma, beta, B, N, C, G);
    groupnorm_backward(d1, g1, b1, R, x, mean, rstd, gamma, B, N, C, G);
    omp_set_num_threads(2);
    groupnorm_forward(o2, mean, rstd, x, gamma, beta, B, N, C, G);
    groupnorm_backward(d2, g2, b2, R, x, mean, rstd, gamma, B, N, C, G);
    ck_assert(!memcmp(o1, o2, n * sizeof *o1) && !memcmp(d1, d2, n * sizeof *d1));
    ck_assert(!memcmp(g1, g2, sizeof g1) && !memcmp(b1, b2, sizeof b1));
    free(x);
    free(R);
    free(o1);
    free(o2);
    free(d1);
    free(d2);
}
END_TEST

/* GroupNorm + swish in one pass: the bits of groupnorm_forward then swish_forward (with and
 * without the normalised output, 1 and 2 threads), and the double reference swish(gn(x)). */
START_TEST(groupnorm_swish_fused)
{
    const int B = TB, N = 2001, C = TC, G = TG;
    const size_t n = (size_t)B * N * C;
    float *x = randn(n, 26, 2.0f), gamma[TC], beta[TC], mean[TB * TG], rstd[TB * TG];
    float m2[TB * TG], r2[TB * TG];
    for (int c = 0; c < C; c++) {
        gamma[c] = 1.0f + 0.1f * c;
        beta[c] = 0.05f * c - 0.2f;
    }
    float *o1 = zeros(n), *a1 = zeros(n), *o2 = zeros(n), *a2 = zeros(n), *a3 = zeros(n);
    groupnorm_forward(o1, mean, rstd, x, gamma, beta, B, N, C, G);
    swish_forward(a1, o1, n);
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        groupnorm_swish_forward(o2, a2, m2, r2, x, gamma, beta, B, N, C, G);
        groupnorm_swish_forward(NULL, a3, m2, r2, x, gamma, beta, B, N, C, G);
        ck_assert(!memcmp(o1, o2, n * sizeof *o1));
        ck_assert_msg(!memcmp(a1, a2, n * sizeof *a1) && !memcmp(a1, a3, n * sizeof *a1),
                      "fused GroupNorm + swish differs from the two passes (%d threads)", threads);
        ck_assert(!memcmp(mean, m2, sizeof mean) && !memcmp(rstd, r2, sizeof rstd));
    }
    double *want = malloc(n * sizeof *want), *dg = to_f64(gamma, C), *db = to_f64(beta, C), *dx = to_f64(x, n);
    gn_ref(want, dx, dg, db, B, N, C, G);
    for (size_t i = 0; i < n; i++) want[i] = want[i] / (1.0 + exp(-want[i]));
    CHECK_REL("groupnorm+swish fwd", a3, want, n, FWD_TOL);
    free(x);
    free(o1);
    free(a1);
    free(o2);
    free(a2);
    free(a3);
    free(want);
    free(dg);
    free(db);
    free(dx);
}
END_TEST

/* groupnorm_apply recomputes groupnorm_swish_forward_keep's outputs bit for bit from the input
 * and the double statistics (the U-Net's backward relies on it instead of storing them), on 1
 * and 2 threads, with and without the GroupNorm output; the kept float statistics are the
 * forward's. */
START_TEST(groupnorm_apply_recomputes)
{
    const int B = TB, N = 2001, C = TC, G = TG;
    const size_t n = (size_t)B * N * C;
    float *x = randn(n, 27, 3.0f), gamma[TC], beta[TC], mean[TB * TG], rstd[TB * TG], m2[TB * TG], r2[TB * TG];
    double md[TB * TG], rd[TB * TG];
    for (int c = 0; c < C; c++) {
        gamma[c] = 0.7f + 0.13f * c;
        beta[c] = 0.3f - 0.04f * c;
    }
    float *o1 = zeros(n), *a1 = zeros(n), *o2 = zeros(n), *a2 = zeros(n), *a3 = zeros(n);
    groupnorm_swish_forward(o1, a1, mean, rstd, x, gamma, beta, B, N, C, G);
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        groupnorm_swish_forward_keep(NULL, a2, m2, r2, md, rd, x, gamma, beta, B, N, C, G);
        ck_assert(!memcmp(a1, a2, n * sizeof *a1));
        ck_assert(!memcmp(mean, m2, sizeof mean) && !memcmp(rstd, r2, sizeof rstd));
        for (int i = 0; i < B * G; i++) ck_assert(md[i] != 0.0 && (float)md[i] == mean[i] && (float)rd[i] == rstd[i]);
        memset(o2, 0, n * sizeof *o2);
        memset(a2, 0, n * sizeof *a2);
        groupnorm_apply(o2, a2, x, md, rd, gamma, beta, B, N, C, G);
        groupnorm_apply(NULL, a3, x, md, rd, gamma, beta, B, N, C, G);
        ck_assert_msg(!memcmp(o1, o2, n * sizeof *o1), "recomputed GroupNorm output differs (%d threads)", threads);
        ck_assert_msg(!memcmp(a1, a2, n * sizeof *a1) && !memcmp(a1, a3, n * sizeof *a1),
                      "recomputed swish output differs (%d threads)", threads);
        memset(o2, 0, n * sizeof *o2);
        groupnorm_apply(o2, NULL, x, md, rd, gamma, beta, B, N, C, G);
        ck_assert(!memcmp(o1, o2, n * sizeof *o1));
    }
    free(x);
    free(o1);
    free(a1);
    free(o2);
    free(a2);
    free(a3);
}
END_TEST

/* ---- swish ---- */

typedef struct {
    double *x, *R;
    size_t n;
} sw_ctx;

static double swish_loss(void *p)
{
    sw_ctx *c = p;
    double s = 0;
    for (size_t i = 0; i < c->n; i++) s += c->x[i] / (1 + exp(-c->x[i])) * c->R[i];
    return s;
}

START_TEST(swish)
{
    const size_t n = (size_t)TB * TH * TW * TC;
    float *x = randn(n, 30, 3.0f), *R = randn(n, 31, 1), *out = zeros(n), *dx = zeros(n);
    double *want = malloc(n * sizeof *want);
    for (size_t i = 0; i < n; i++) want[i] = (double)x[i] / (1 + exp(-(double)x[i]));
    swish_forward(out, x, n);
    CHECK_REL("swish fwd", out, want, n, FWD_TOL);
    swish_backward(dx, R, x, n);
    sw_ctx c = { to_f64(x, n), to_f64(R, n), n };
    double *g = fd_grad(c.x, n, swish_loss, &c);
    CHECK_REL("swish dinp", dx, g, n, BWD_TOL);
    /* the classifier's glibc-expf pair: same function, same tolerances */
    float *out2 = zeros(n), *dx2 = zeros(n);
    swish_forward_libm(out2, x, n);
    CHECK_REL("swish_libm fwd", out2, want, n, FWD_TOL);
    swish_backward_libm(dx2, R, x, n);
    CHECK_REL("swish_libm dinp", dx2, g, n, BWD_TOL);
    free(out2);
    free(dx2);
    free(x);
    free(R);
    free(out);
    free(dx);
    free(want);
    free(g);
    free(c.x);
    free(c.R);
}
END_TEST

/* nn_expf (the vectorisable exp of swish and softmax): within 2 ulp (2^-23 relative, float32's
 * unit roundoff times 4) of exp in double at every float in [-87.3, 88] on a dense sweep, exactly
 * 1 at 0, finite normal floats at the clamps, and the same bits in a vectorised loop as in
 * scalar calls. */
START_TEST(expf_simd)
{
    double worst = 0;
    float at = 0;
    size_t count = 0;
    for (float x = -87.3f; x <= 88.0f; x += 1e-4f + fabsf(x) * 3e-5f, count++) {
        const double e = exp((double)x), r = fabs((double)nn_expf(x) - e) / e;
        if (r > worst) {
            worst = r;
            at = x;
        }
    }
    fprintf(stderr, "nn_expf: max rel err %.3g (at %g) over %zu points\n", worst, (double)at, count);
    ck_assert(count > 100000);
    ck_assert(worst <= 0x1p-23);
    ck_assert(nn_expf(0.0f) == 1.0f);
    ck_assert(isnormal(nn_expf(-1000.0f)) && nn_expf(-1000.0f) < 1.3e-38f);
    ck_assert(isfinite(nn_expf(1000.0f)) && nn_expf(1000.0f) > 1e38f);
    enum { N = 1003 };
    float xs[N], v[N];
    for (int i = 0; i < N; i++) xs[i] = -90.0f + 180.0f * (float)i / N;
#pragma omp simd
    for (int i = 0; i < N; i++) v[i] = nn_expf(xs[i]);
    for (int i = 0; i < N; i++) {
        volatile float xi = xs[i];
        ck_assert(v[i] == nn_expf(xi));
    }
}
END_TEST

/* ---- timestep embedding ---- */

START_TEST(timestep_embedding_formula)
{
    const int dim = 16, half = 8;
    const int32_t t[4] = { 0, 1, 417, 999 };
    float out[4 * 16];
    timestep_embedding(out, t, 4, dim);
    for (int b = 0; b < 4; b++)
        for (int i = 0; i < half; i++) {
            double f = exp(-log(10000.0) * i / (half - 1));
            /* float32 frequencies (as the official code): exp of the rounded exponent
             * -i*log(1e4)/(half-1), |exponent| <= 9.3, is off by <= 9.3 * 6e-8 relative, plus
             * ~2 roundings of the product: |arg error| <= (9.3 + 2) * 6e-8 * t*f < 1e-6 * t*f */
            double tol = 1e-6 * (t[b] * f) + 1e-6;
            ck_assert_msg(fabs((double)out[b * dim + i] - sin(t[b] * f)) <= tol, "sin t=%d i=%d", t[b], i);
            ck_assert_msg(fabs((double)out[b * dim + half + i] - cos(t[b] * f)) <= tol, "cos t=%d i=%d", t[b], i);
        }
    /* t = 0: [sin 0..., cos 0...] = [0..., 1...] exactly; freq_0 = 1, freq_{half-1} = 1e-4 */
    for (int i = 0; i < half; i++) {
        ck_assert(out[i] == 0.0f);
        ck_assert(out[half + i] == 1.0f);
    }
    ck_assert(out[16 + 0] == sinf(1.0f));
    ck_assert(fabs((double)out[16 + 7] - sin(1e-4)) < 1e-9); /* 1e-5 relative, see above */
}
END_TEST

/* ---- attention ---- */

START_TEST(attention)
{
    const int B = TB, N = TH * TW, C = TC;
    const size_t n = (size_t)B * N * C;
    float *q = randn(n, 40, 1.5f), *k = randn(n, 41, 1.5f), *v = randn(n, 42, 1);
    float *R = randn(n, 43, 1), *out = zeros(n), *w = zeros((size_t)B * N * N);
    ref3_ctx c = {
        { to_f64(q, n), to_f64(k, n), to_f64(v, n) }, to_f64(R, n), malloc(n * sizeof(double)), { B, N, C }, n, attn_ref
    };
    attention_forward(out, w, q, k, v, B, N, C);
    attn_ref(c.out, c.in[0], c.in[1], c.in[2], B, N, C);
    CHECK_REL("attention fwd", out, c.out, n, FWD_TOL);
    for (int r = 0; r < B * N; r++) {
        double s = 0;
        for (int j = 0; j < N; j++) s += (double)w[(size_t)r * N + j];
        ck_assert(fabs(s - 1.0) < 1e-5);
    }
    float *dq = zeros(n), *dk = zeros(n), *dv = zeros(n), *scr = zeros((size_t)N * N);
    attention_backward(dq, dk, dv, scr, R, q, k, v, w, B, N, C);
    ref3_check_grads(&c, (const char *const[3]){ "attention dq", "attention dk", "attention dv" },
                     (float *const[3]){ dq, dk, dv }, (const size_t[3]){ n, n, n });
    free(q);
    free(k);
    free(v);
    free(R);
    free(out);
    free(w);
    free(dq);
    free(dk);
    free(dv);
    free(scr);
    ref3_free(&c);
}
END_TEST

/* ---- resampling ---- */

typedef struct {
    double *x, *R;
    int B, H, W, C, up;
} rs_ctx;

static double resample_loss(void *p)
{
    rs_ctx *c = p;
    double s = 0;
    if (c->up) {
        for (int b = 0; b < c->B; b++)
            for (int y = 0; y < 2 * c->H; y++)
                for (int x = 0; x < 2 * c->W; x++)
                    for (int ch = 0; ch < c->C; ch++)
                        s += c->x[((b * c->H + y / 2) * c->W + x / 2) * c->C + ch] *
                             c->R[((b * 2 * c->H + y) * 2 * c->W + x) * c->C + ch];
    } else {
        for (int b = 0; b < c->B; b++)
            for (int y = 0; y < c->H / 2; y++)
                for (int x = 0; x < c->W / 2; x++)
                    for (int ch = 0; ch < c->C; ch++) {
                        double a = 0;
                        for (int dy = 0; dy < 2; dy++)
                            for (int dx = 0; dx < 2; dx++)
                                a += c->x[((b * c->H + 2 * y + dy) * c->W + 2 * x + dx) * c->C + ch];
                        s += a / 4 * c->R[((b * (c->H / 2) + y) * (c->W / 2) + x) * c->C + ch];
                    }
    }
    return s;
}

START_TEST(upsample_nearest)
{
    const int B = TB, H = TH, W = TW, C = TC;
    const size_t n = (size_t)B * H * W * C, no = 4 * n;
    float *x = randn(n, 50, 1), *R = randn(no, 51, 1), *out = zeros(no), *dx = zeros(n);
    upsample_nearest2_forward(out, x, B, H, W, C);
    for (int b = 0; b < B; b++)
        for (int y = 0; y < 2 * H; y++)
            for (int xx = 0; xx < 2 * W; xx++)
                for (int c = 0; c < C; c++)
                    ck_assert(out[((b * 2 * H + y) * 2 * W + xx) * C + c] == x[((b * H + y / 2) * W + xx / 2) * C + c]);
    upsample_nearest2_backward(dx, R, B, H, W, C);
    rs_ctx c = { to_f64(x, n), to_f64(R, no), B, H, W, C, 1 };
    double *g = fd_grad(c.x, n, resample_loss, &c);
    CHECK_REL("upsample dinp", dx, g, n, BWD_TOL);
    free(x);
    free(R);
    free(out);
    free(dx);
    free(g);
    free(c.x);
    free(c.R);
}
END_TEST

START_TEST(avgpool)
{
    const int B = TB, H = 6, W = 8, C = TC;
    const size_t n = (size_t)B * H * W * C, no = n / 4;
    float *x = randn(n, 52, 1), *R = randn(no, 53, 1), *out = zeros(no), *dx = zeros(n);
    double *want = malloc(no * sizeof *want);
    for (int b = 0; b < B; b++)
        for (int y = 0; y < H / 2; y++)
            for (int xx = 0; xx < W / 2; xx++)
                for (int c = 0; c < C; c++) {
                    double a = 0;
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx2 = 0; dx2 < 2; dx2++)
                            a += (double)x[((b * H + 2 * y + dy) * W + 2 * xx + dx2) * C + c];
                    want[((b * (H / 2) + y) * (W / 2) + xx) * C + c] = a / 4;
                }
    avgpool2_forward(out, x, B, H, W, C);
    CHECK_REL("avgpool fwd", out, want, no, FWD_TOL);
    avgpool2_backward(dx, R, B, H, W, C);
    rs_ctx c = { to_f64(x, n), to_f64(R, no), B, H, W, C, 0 };
    double *g = fd_grad(c.x, n, resample_loss, &c);
    CHECK_REL("avgpool dinp", dx, g, n, BWD_TOL);
    free(x);
    free(R);
    free(out);
    free(dx);
    free(want);
    free(g);
    free(c.x);
    free(c.R);
}
END_TEST

/* ---- dropout ---- */

START_TEST(dropout_mask)
{
    const int B = TB, layer = 5;
    const size_t n = 12001; /* per example; B*n >= NN_PAR_MIN_WORK, so the loop runs threaded */
    const double p = 0.3;
    const uint64_t seed = 99;
    const uint32_t step = 17;
    float *x = randn((size_t)B * n, 60, 1), *o1 = zeros((size_t)B * n), *o2 = zeros((size_t)B * n);
    uint8_t *m1 = calloc((size_t)B * n, 1), *m2 = calloc((size_t)B * n, 1);
    ck_assert(NN_PAR_IF((size_t)B * n));
    omp_set_num_threads(1);
    dropout_forward(o1, m1, x, p, seed, layer, step, B, n);
    omp_set_num_threads(2);
    dropout_forward(o2, m2, x, p, seed, layer, step, B, n);
    ck_assert(!memcmp(o1, o2, (size_t)B * n * sizeof *o1));
    ck_assert(!memcmp(m1, m2, (size_t)B * n));
    size_t kept = 0;
    const float scale = (float)(1.0 / (1.0 - p));
    for (int b = 0; b < B; b++)
        for (size_t j = 0; j < n; j++) {
            size_t i = (size_t)b * n + j;
            int keep = rng_uniform(rng_stream_make(seed, RNG_DROPOUT + layer, step, (uint32_t)b), j) >= (float)p;
            ck_assert_int_eq(m1[i], keep);
            ck_assert(o1[i] == (keep ? x[i] * scale : 0.0f));
            kept += keep;
        }
    /* kept ~ binomial(B n, 0.7): allow 5 standard deviations */
    double frac = (double)kept / (double)(B * n);
    fprintf(stderr, "dropout p=0.3: kept fraction %.4f of %zu\n", frac, B * n);
    ck_assert(fabs(frac - 0.7) < 5 * sqrt(0.21 / (double)(B * n)));
    /* another step or layer gives another mask */
    dropout_forward(o2, m2, x, p, seed, layer, step + 1, B, n);
    ck_assert(memcmp(m1, m2, (size_t)B * n));
    dropout_forward(o2, m2, x, p, seed, layer + 1, step, B, n);
    ck_assert(memcmp(m1, m2, (size_t)B * n));
    /* backward: dinp += mask * dout / (1-p) */
    float *R = randn((size_t)B * n, 61, 1), *dx = randn((size_t)B * n, 62, 1);
    float *dx0 = malloc((size_t)B * n * sizeof *dx0);
    memcpy(dx0, dx, (size_t)B * n * sizeof *dx);
    dropout_backward(dx, R, m1, p, B, n);
    for (size_t i = 0; i < (size_t)B * n; i++) ck_assert(dx[i] == dx0[i] + (m1[i] ? R[i] * scale : 0.0f));
    free(x);
    free(o1);
    free(o2);
    free(m1);
    free(m2);
    free(R);
    free(dx);
    free(dx0);
}
END_TEST

/* ---- small tensor ops ---- */

START_TEST(tensor_ops)
{
    const size_t rows = (size_t)TB * TH * TW;
    const int C1 = 4, C2 = 3;
    float *a = randn(rows * C1, 70, 1), *b = randn(rows * C2, 71, 1);
    float *cat = zeros(rows * (C1 + C2)), *da = zeros(rows * C1), *db = zeros(rows * C2);
    concat_channels_forward(cat, a, b, rows, C1, C2);
    for (size_t r = 0; r < rows; r++) {
        for (int c = 0; c < C1; c++) ck_assert(cat[r * 7 + c] == a[r * C1 + c]);
        for (int c = 0; c < C2; c++) ck_assert(cat[r * 7 + C1 + c] == b[r * C2 + c]);
    }
    concat_channels_backward(da, db, cat, rows, C1, C2);
    ck_assert(!memcmp(da, a, rows * C1 * sizeof *a) && !memcmp(db, b, rows * C2 * sizeof *b));

    /* column sums: 37 channels (a partial block of 16), double accumulation, thread-independent
     * (1001 rows x 37 >= NN_PAR_MIN_WORK: threaded) */
    const int C = 37;
    const size_t crow = 1001;
    float *m = randn(crow * C, 72, 1), s1[37] = { 0 }, s2[37] = { 0 };
    double want[37] = { 0 };
    ck_assert(NN_PAR_IF(crow * C));
    for (size_t r = 0; r < crow; r++)
        for (int c = 0; c < C; c++) want[c] += (double)m[r * C + c];
    omp_set_num_threads(1);
    colsum_add(s1, m, crow, C);
    omp_set_num_threads(2);
    colsum_add(s2, m, crow, C);
    ck_assert(!memcmp(s1, s2, sizeof s1));
    CHECK_REL("colsum", s1, want, C, FWD_TOL);

    /* per-example broadcast add and its reduction */
    const int N = TH * TW;
    float *h = zeros((size_t)TB * N * C2), *v = randn((size_t)TB * C2, 73, 1), dv[TB * 3] = { 0 };
    add_broadcast_bnc(h, v, TB, N, C2);
    for (int bb = 0; bb < TB; bb++)
        for (int i = 0; i < N; i++)
            for (int c = 0; c < C2; c++) ck_assert(h[((size_t)bb * N + i) * C2 + c] == v[bb * C2 + c]);
    add_broadcast_bnc_backward(dv, h, TB, N, C2);
    double wv[TB * 3];
    for (int i = 0; i < TB * C2; i++) wv[i] = (double)N * (double)v[i];
    CHECK_REL("broadcast backward", dv, wv, TB * C2, FWD_TOL);
    free(a);
    free(b);
    free(cat);
    free(da);
    free(db);
    free(m);
    free(h);
    free(v);
}
END_TEST

/* nn_sgemm: every transpose combination, shapes that split along M, along N and along K (and
 * ones too small to split), equal to a double-precision product to float32 rounding (K * 2^-24 relative
 * to sum |a||b|, doubled for margin), and bit-identical on 1, 2 and 3 threads. */
START_TEST(gemm_split_thread_independent)
{
    const int shapes[][3] = { { 3136, 32, 288 }, { 288, 64, 3136 }, { 20, 700, 96 },
                              { 7, 5, 3 },       { 197, 33, 65 },   { 72, 16, 20000 } /* reduction split */ };
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int tr = 0; tr < 4; tr++) {
            const int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
            const CBLAS_TRANSPOSE ta = tr & 1 ? CblasTrans : CblasNoTrans, tb = tr & 2 ? CblasTrans : CblasNoTrans;
            const int lda = ta == CblasNoTrans ? K : M, ldb = tb == CblasNoTrans ? N : K;
            float *A = randn((size_t)M * K, 90 + tr, 1), *B = randn((size_t)K * N, 91 + tr, 1);
            float *C0 = randn((size_t)M * N, 92, 1), *C[3];
            for (int k = 0; k < 3; k++) {
                C[k] = malloc((size_t)M * N * sizeof(float));
                memcpy(C[k], C0, (size_t)M * N * sizeof(float));
                omp_set_num_threads(k + 1);
                nn_sgemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.75f, C[k], N);
            }
            for (int k = 1; k < 3; k++)
                ck_assert_msg(!memcmp(C[0], C[k], (size_t)M * N * sizeof(float)),
                              "M=%d N=%d K=%d trans %d: %d threads differ from 1", M, N, K, tr, k + 1);
            double worst = 0;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double acc = 0, mag = 0;
                    for (int l = 0; l < K; l++) {
                        double a = (double)A[ta == CblasNoTrans ? (size_t)i * lda + l : (size_t)l * lda + i];
                        double b = (double)B[tb == CblasNoTrans ? (size_t)l * ldb + j : (size_t)j * ldb + l];
                        acc += a * b;
                        mag += fabs(a * b);
                    }
                    double want = 0.5 * acc + 0.75 * (double)C0[(size_t)i * N + j];
                    double scale = 0.5 * mag + 0.75 * fabs((double)C0[(size_t)i * N + j]);
                    double e = fabs((double)C[0][(size_t)i * N + j] - want) / (scale * (K + 2) * 0x1p-24);
                    if (e > worst) worst = e;
                }
            ck_assert_msg(worst <= 2.0, "M=%d N=%d K=%d trans %d: error %.2f x the float32 bound", M, N, K, tr, worst);
            for (int k = 0; k < 3; k++) free(C[k]);
            free(A);
            free(B);
            free(C0);
        }
}
END_TEST

/* ---- relu ---- */

START_TEST(relu)
{
    const float x[6] = { -2.0f, -0.0f, 0.0f, 1e-30f, 3.5f, -1e-30f };
    float y[6], d[6] = { 10, 10, 10, 10, 10, 10 };
    const float g[6] = { 1, 2, 3, 4, 5, 6 };
    relu_forward(y, x, 6);
    const float want[6] = { 0, 0, 0, 1e-30f, 3.5f, 0 };
    for (int i = 0; i < 6; i++) ck_assert_msg(y[i] == want[i], "relu(%g) = %g", (double)x[i], (double)y[i]);
    /* backward adds dout where inp > 0 (subgradient 0 at 0) */
    relu_backward(d, g, x, 6);
    const float dwant[6] = { 10, 10, 10, 14, 15, 10 };
    for (int i = 0; i < 6; i++) ck_assert_msg(d[i] == dwant[i], "d[%d] = %g", i, (double)d[i]);
    /* in place */
    float z[6];
    memcpy(z, x, sizeof z);
    relu_forward(z, z, 6);
    ck_assert_int_eq(memcmp(z, y, sizeof z), 0);
}
END_TEST

static Suite *nn_suite(void)
{
    Suite *s = suite_create("nn");
    TCase *tc = tcase_create("layers");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, same_padding_geometry);
    tcase_add_test(tc, conv3x3_stride1);
    tcase_add_test(tc, conv3x3_stride1_chunked);
    tcase_add_test(tc, conv3x3_stride2_odd);
    tcase_add_test(tc, conv3x3_stride2_even);
    tcase_add_test(tc, conv1x1);
    tcase_add_test(tc, conv_workspace_too_small);
    tcase_add_test(tc, dense_nin);
    tcase_add_test(tc, groupnorm);
    tcase_add_test(tc, groupnorm_thread_independent);
    tcase_add_test(tc, groupnorm_swish_fused);
    tcase_add_test(tc, groupnorm_apply_recomputes);
    tcase_add_test(tc, swish);
    tcase_add_test(tc, relu);
    tcase_add_test(tc, expf_simd);
    tcase_add_test(tc, timestep_embedding_formula);
    tcase_add_test(tc, attention);
    tcase_add_test(tc, upsample_nearest);
    tcase_add_test(tc, avgpool);
    tcase_add_test(tc, dropout_mask);
    tcase_add_test(tc, tensor_ops);
    tcase_add_test(tc, gemm_split_thread_independent);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(nn_suite)
