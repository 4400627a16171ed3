#include "nn/winograd.h"

#include "nn/gemm.h"
#include "nn/parallel.h"

#include "core/common.h"

#include <string.h>

/* Channels handled per pass of a tile transform: 16 rows of CB floats stay in L1. */
#define CB 64

static size_t tiles_per_example(int H, int W) { return (size_t)((H + 1) / 2) * (size_t)((W + 1) / 2); }

size_t winograd_workspace_floats(int H, int W, int Cin, int Cout)
{
    return 16 * (size_t)Cin * Cout + 16 * tiles_per_example(H, W) * ((size_t)Cin + Cout);
}

/* Filter-transform tile: FB input x FB output channels, vectorised over the output channel. */
#define FB 16

/* U (16, Cin, Cout) = G g G^T for g[kh][kw] = W[kh][kw][ci][co] (forward filter), or, when
 * flip is set, U (16, Cout, Cin) for g[kh][kw] = W[2-kh][2-kw][ci][co] (backward-data filter:
 * its "input" channels are the layer's Cout). G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]. */
static void filter_transform(float *U, const float *W, int Cin, int Cout, int flip)
{
    const size_t CC = (size_t)Cin * Cout;
    const int nbi = (Cin + FB - 1) / FB, nbo = (Cout + FB - 1) / FB;
#pragma omp parallel for if (NN_PAR_IF(16 * CC)) schedule(static)
    for (int blk = 0; blk < nbi * nbo; blk++) {
        const int ci0 = (blk / nbo) * FB, co0 = (blk % nbo) * FB;
        const int ni = Cin - ci0 < FB ? Cin - ci0 : FB, no = Cout - co0 < FB ? Cout - co0 : FB;
        float u[16][FB][FB];
        for (int i = 0; i < ni; i++) {
            const float *w = W + (size_t)(ci0 + i) * Cout + co0;
            float g[9][FB], t[12][FB];
            for (int k = 0; k < 9; k++) {
                const float *src = w + (size_t)(flip ? 8 - k : k) * CC;
                for (int o = 0; o < no; o++) g[k][o] = src[o];
            }
            for (int j = 0; j < 3; j++) { /* t = G g, t[r][j] at t[r*3+j] */
#pragma omp simd
                for (int o = 0; o < no; o++) {
                    const float g0 = g[j][o], g1 = g[3 + j][o], g2 = g[6 + j][o];
                    t[j][o] = g0;
                    t[3 + j][o] = 0.5f * (g0 + g1 + g2);
                    t[6 + j][o] = 0.5f * (g0 - g1 + g2);
                    t[9 + j][o] = g2;
                }
            }
            for (int r = 0; r < 4; r++) { /* u = t G^T */
#pragma omp simd
                for (int o = 0; o < no; o++) {
                    const float t0 = t[r * 3][o], t1 = t[r * 3 + 1][o], t2 = t[r * 3 + 2][o];
                    u[r * 4][i][o] = t0;
                    u[r * 4 + 1][i][o] = 0.5f * (t0 + t1 + t2);
                    u[r * 4 + 2][i][o] = 0.5f * (t0 - t1 + t2);
                    u[r * 4 + 3][i][o] = t2;
                }
            }
        }
        for (int e = 0; e < 16; e++) {
            float *dst = U + (size_t)e * CC;
            if (!flip) {
                for (int i = 0; i < ni; i++)
                    memcpy(dst + (size_t)(ci0 + i) * Cout + co0, u[e][i], (size_t)no * sizeof(float));
            } else {
                for (int o = 0; o < no; o++)
                    for (int i = 0; i < ni; i++) dst[(size_t)(co0 + o) * Cin + ci0 + i] = u[e][i][o];
            }
        }
    }
}

/* V (16, ld, C) rows 0.. = B^T d B of tiles [t0, t1) of x (nb, H, W, C): tile (b, ty, tx) is
 * number (b*th + ty)*tw + tx and covers rows 2ty-1..2ty+2, columns 2tx-1..2tx+2 (zero outside
 * the image). B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
static void input_tiles(float *V, size_t ld, const float *x, long t0, long t1, int H, int W, int C)
{
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    for (long t = t0; t < t1; t++) {
        const int b = (int)(t / ((long)th * tw)), r = (int)(t % ((long)th * tw));
        const int y0 = 2 * (r / tw) - 1, x0 = 2 * (r % tw) - 1;
        const float *src[16];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                const int y = y0 + i, xx = x0 + j;
                src[i * 4 + j] = (y >= 0 && y < H && xx >= 0 && xx < W)
                                     ? x + (((size_t)b * H + y) * W + xx) * C : NULL;
            }
        float *vt = V + (size_t)(t - t0) * C;
        for (int c0 = 0; c0 < C; c0 += CB) {
            const int n = C - c0 < CB ? C - c0 : CB;
            float d[16][CB], s[16][CB];
            for (int p = 0; p < 16; p++) {
                if (src[p]) memcpy(d[p], src[p] + c0, (size_t)n * sizeof(float));
                else memset(d[p], 0, (size_t)n * sizeof(float));
            }
            for (int j = 0; j < 4; j++) { /* s = B^T d (down each column j) */
#pragma omp simd
                for (int c = 0; c < n; c++) {
                    const float d0 = d[j][c], d1 = d[4 + j][c], d2 = d[8 + j][c], d3 = d[12 + j][c];
                    s[j][c] = d0 - d2;
                    s[4 + j][c] = d1 + d2;
                    s[8 + j][c] = d2 - d1;
                    s[12 + j][c] = d1 - d3;
                }
            }
            for (int i = 0; i < 4; i++) { /* V = s B (along each row i) */
                float *v0 = vt + (size_t)(i * 4 + 0) * ld * C + c0;
                float *v1 = vt + (size_t)(i * 4 + 1) * ld * C + c0;
                float *v2 = vt + (size_t)(i * 4 + 2) * ld * C + c0;
                float *v3 = vt + (size_t)(i * 4 + 3) * ld * C + c0;
#pragma omp simd
                for (int c = 0; c < n; c++) {
                    const float s0 = s[i * 4][c], s1 = s[i * 4 + 1][c], s2 = s[i * 4 + 2][c],
                                s3 = s[i * 4 + 3][c];
                    v0[c] = s0 - s2;
                    v1[c] = s1 + s2;
                    v2[c] = s2 - s1;
                    v3[c] = s1 - s3;
                }
            }
        }
    }
}

/* y (nb, H, W, C) = A^T m A (+ bias) for tiles [t0, t1) whose m are rows 0.. of M (16, ld, C),
 * or y += it when add is set. A^T = [1 1 1 0; 0 1 -1 -1]. Each output pixel is in one tile. */
static void output_tiles(float *y, const float *M, size_t ld, const float *bias, int add, long t0,
                         long t1, int H, int W, int C)
{
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    for (long t = t0; t < t1; t++) {
        const int b = (int)(t / ((long)th * tw)), r = (int)(t % ((long)th * tw));
        const int y0 = 2 * (r / tw), x0 = 2 * (r % tw);
        float *dst[4];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                dst[i * 2 + j] = (y0 + i < H && x0 + j < W)
                                     ? y + (((size_t)b * H + y0 + i) * W + x0 + j) * C : NULL;
        const float *mt = M + (size_t)(t - t0) * C;
        for (int c0 = 0; c0 < C; c0 += CB) {
            const int n = C - c0 < CB ? C - c0 : CB;
            float s[8][CB], o[4][CB];
            for (int j = 0; j < 4; j++) { /* s = A^T m (down each column j) */
                const float *m0 = mt + (size_t)(0 + j) * ld * C + c0;
                const float *m1 = mt + (size_t)(4 + j) * ld * C + c0;
                const float *m2 = mt + (size_t)(8 + j) * ld * C + c0;
                const float *m3 = mt + (size_t)(12 + j) * ld * C + c0;
#pragma omp simd
                for (int c = 0; c < n; c++) {
                    s[j][c] = m0[c] + m1[c] + m2[c];
                    s[4 + j][c] = m1[c] - m2[c] - m3[c];
                }
            }
            for (int i = 0; i < 2; i++) { /* o = s A (along each row i) */
#pragma omp simd
                for (int c = 0; c < n; c++) {
                    o[i * 2][c] = s[i * 4][c] + s[i * 4 + 1][c] + s[i * 4 + 2][c];
                    o[i * 2 + 1][c] = s[i * 4 + 1][c] - s[i * 4 + 2][c] - s[i * 4 + 3][c];
                }
            }
            for (int p = 0; p < 4; p++) {
                float *d = dst[p];
                if (!d) continue;
                d += c0;
                if (add) {
#pragma omp simd
                    for (int c = 0; c < n; c++) d[c] += o[p][c];
                } else if (bias) {
#pragma omp simd
                    for (int c = 0; c < n; c++) d[c] = o[p][c] + bias[c0 + c];
                } else {
                    memcpy(d, o[p], (size_t)n * sizeof(float));
                }
            }
        }
    }
}

/* Tiles per block of the fused schedule (V and M of a block stay in L2 for the U-Net's widths),
 * and the fewest blocks per chunk for which it is used (enough to balance the threads). */
#define TB 64
#define FUSED_MIN_BLOCKS 16

/* y (B, H, W, Co) (=|+=) the 3x3 convolution of x (B, H, W, Ci) whose transformed filter is
 * already in col[0 .. 16*Ci*Co); the rest of col holds V and M for chunks of examples.
 * A chunk with many tiles is cut into blocks of TB tiles, each transformed, multiplied and
 * transformed back by one thread (one barrier per chunk, V and M stay in cache); a chunk with
 * few tiles runs each phase in parallel (tiles, then the 16 GEMMs, then tiles) so that the
 * threads still share the work. Either way every GEMM is one call whose shape does not depend
 * on the thread count, and every output element is computed by one thread. */
static int run(float *y, const float *x, const float *bias, int add, float *col, size_t col_cap,
               int B, int H, int W, int Ci, int Co)
{
    const size_t T1 = tiles_per_example(H, W);
    const size_t nU = 16 * (size_t)Ci * Co, per = 16 * T1 * ((size_t)Ci + Co);
    size_t c = (col_cap - nU) / per;
    const int chunk = c > (size_t)B ? B : (int)c;
    float *V = col + nU;
    for (int b0 = 0; b0 < B; b0 += chunk) {
        const int nb = B - b0 < chunk ? B - b0 : chunk;
        const long nt = (long)nb * (long)T1;
        const float *xc = x + (size_t)b0 * H * W * Ci;
        float *yc = y + (size_t)b0 * H * W * Co;
        if (nt >= (long)FUSED_MIN_BLOCKS * TB) {
            const long tb = TB, nblk = (nt + tb - 1) / tb;
#pragma omp parallel for if (NN_PAR_IF((size_t)nt * Ci * Co)) schedule(static)
            for (long k = 0; k < nblk; k++) {
                const long t0 = k * tb, t1 = nt - t0 < tb ? nt : t0 + tb;
                const int n = (int)(t1 - t0);
                float *Vk = V + 16 * (size_t)t0 * ((size_t)Ci + Co), *Mk = Vk + 16 * (size_t)n * Ci;
                input_tiles(Vk, (size_t)n, xc, t0, t1, H, W, Ci);
                for (int e = 0; e < 16; e++)
                    nn_sgemm(CblasNoTrans, CblasNoTrans, n, Co, Ci, 1.0f, Vk + (size_t)e * n * Ci, Ci,
                             col + (size_t)e * Ci * Co, Co, 0.0f, Mk + (size_t)e * n * Co, Co);
                output_tiles(yc, Mk, (size_t)n, bias, add, t0, t1, H, W, Co);
            }
            continue;
        }
        float *M = V + 16 * (size_t)nt * Ci;
#pragma omp parallel for if (NN_PAR_IF((size_t)nt * 16 * Ci)) schedule(static)
        for (long t = 0; t < nt; t++) input_tiles(V + (size_t)t * Ci, (size_t)nt, xc, t, t + 1, H, W, Ci);
#pragma omp parallel for if (NN_PAR_IF((size_t)nt * Ci * Co)) schedule(static)
        for (int e = 0; e < 16; e++)
            nn_sgemm(CblasNoTrans, CblasNoTrans, (int)nt, Co, Ci, 1.0f, V + (size_t)e * nt * Ci, Ci,
                     col + (size_t)e * Ci * Co, Co, 0.0f, M + (size_t)e * nt * Co, Co);
#pragma omp parallel for if (NN_PAR_IF((size_t)nt * 16 * Co)) schedule(static)
        for (long t = 0; t < nt; t++)
            output_tiles(yc, M + (size_t)t * Co, (size_t)nt, bias, add, t, t + 1, H, W, Co);
    }
    return DDPM_OK;
}

/* Row i of a transform matrix with at most two nonzeros, each +-1: rows ra and rb with signs sa and
 * sb (sb = 0: one term; x * (+-1) and x + 0 * y are exact, so each row costs one rounding). */
typedef struct {
    int ra, rb;
    float sa, sb;
} row2;
/* B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] and A = [1 0; 1 1; 1 -1; 0 -1]. */
static const row2 BT_ROWS[4] = { { 0, 2, 1.0f, -1.0f }, { 1, 2, 1.0f, 1.0f }, { 2, 1, 1.0f, -1.0f },
                                 { 1, 3, 1.0f, -1.0f } };
static const row2 A_ROWS[4] = { { 0, 0, 1.0f, 0.0f }, { 0, 1, 1.0f, 1.0f }, { 0, 1, 1.0f, -1.0f },
                                { 1, 1, -1.0f, 0.0f } };

/* For the points e = 4i + j of row i only, of tiles [t0, t1) (numbered as in input_tiles):
 *   V (4, ld, Ci) rows 0..  = row i of B^T d B of the 4x4 input tiles of x (nb, H, W, Ci),
 *   dM (4, ld, Co) rows 0.. = row i of A g A^T of the 2x2 tiles of dy (nb, H, W, Co), the adjoint
 *                             of the output transform (outputs past H x W count as 0).
 * Row i of B^T d B needs input rows BT_ROWS[i] only, row i of A g A^T output rows A_ROWS[i]. */
static void filter_grad_tiles(float *V, float *dM, size_t ld, const float *x, const float *dy, long t0,
                              long t1, int i, int H, int W, int Ci, int Co)
{
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    const row2 bi = BT_ROWS[i], ai = A_ROWS[i];
    for (long t = t0; t < t1; t++) {
        const int b = (int)(t / ((long)th * tw)), r = (int)(t % ((long)th * tw));
        const int ty = r / tw, tx = r % tw;
        const float *src[2][4];
        for (int k = 0; k < 2; k++) {
            const int y = 2 * ty - 1 + (k ? bi.rb : bi.ra);
            for (int q = 0; q < 4; q++) {
                const int xx = 2 * tx - 1 + q;
                src[k][q] = (y >= 0 && y < H && xx >= 0 && xx < W)
                                ? x + (((size_t)b * H + y) * W + xx) * Ci : NULL;
            }
        }
        float *vt = V + (size_t)(t - t0) * Ci;
        for (int c0 = 0; c0 < Ci; c0 += CB) {
            const int n = Ci - c0 < CB ? Ci - c0 : CB;
            float d[2][4][CB], s[4][CB];
            for (int k = 0; k < 2; k++)
                for (int q = 0; q < 4; q++) {
                    if (src[k][q]) memcpy(d[k][q], src[k][q] + c0, (size_t)n * sizeof(float));
                    else memset(d[k][q], 0, (size_t)n * sizeof(float));
                }
            for (int q = 0; q < 4; q++) { /* s = row i of B^T d */
#pragma omp simd
                for (int c = 0; c < n; c++) s[q][c] = bi.sa * d[0][q][c] + bi.sb * d[1][q][c];
            }
            for (int j = 0; j < 4; j++) { /* V[4i + j] = s B[:, j] */
                const row2 bj = BT_ROWS[j];
                float *v = vt + (size_t)j * ld * Ci + c0;
#pragma omp simd
                for (int c = 0; c < n; c++) v[c] = bj.sa * s[bj.ra][c] + bj.sb * s[bj.rb][c];
            }
        }
        const float *gsrc[2][2];
        for (int k = 0; k < 2; k++) {
            const int y = 2 * ty + (k ? ai.rb : ai.ra);
            for (int q = 0; q < 2; q++) {
                const int xx = 2 * tx + q;
                gsrc[k][q] = (y < H && xx < W) ? dy + (((size_t)b * H + y) * W + xx) * Co : NULL;
            }
        }
        float *mt = dM + (size_t)(t - t0) * Co;
        for (int c0 = 0; c0 < Co; c0 += CB) {
            const int n = Co - c0 < CB ? Co - c0 : CB;
            float g[2][2][CB], s[2][CB];
            for (int k = 0; k < 2; k++)
                for (int q = 0; q < 2; q++) {
                    if (gsrc[k][q]) memcpy(g[k][q], gsrc[k][q] + c0, (size_t)n * sizeof(float));
                    else memset(g[k][q], 0, (size_t)n * sizeof(float));
                }
            for (int q = 0; q < 2; q++) { /* s = row i of A g */
#pragma omp simd
                for (int c = 0; c < n; c++) s[q][c] = ai.sa * g[0][q][c] + ai.sb * g[1][q][c];
            }
            for (int j = 0; j < 4; j++) { /* dM[4i + j] = s A^T[:, j] */
                const row2 aj = A_ROWS[j];
                float *m = mt + (size_t)j * ld * Co + c0;
#pragma omp simd
                for (int c = 0; c < n; c++) m[c] = aj.sa * s[aj.ra][c] + aj.sb * s[aj.rb][c];
            }
        }
    }
}

/* dW (3, 3, Cin, Cout) += G^T dU G of every (ci, co) for dU (16, Cin, Cout): the adjoint of the
 * forward filter transform. G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1]. Vectorised over co. */
static void filter_transform_adjoint(float *dW, const float *dU, int Cin, int Cout)
{
    const size_t CC = (size_t)Cin * Cout;
    const int nbo = (Cout + CB - 1) / CB;
#pragma omp parallel for if (NN_PAR_IF(16 * CC)) schedule(static)
    for (int blk = 0; blk < Cin * nbo; blk++) {
        const int ci = blk / nbo, co0 = (blk % nbo) * CB;
        const int no = Cout - co0 < CB ? Cout - co0 : CB;
        const size_t off = (size_t)ci * Cout + co0;
        float t[12][CB]; /* t = G^T dU (3 x 4), t[r][j] at t[r*4+j] */
        for (int j = 0; j < 4; j++) {
            const float *u0 = dU + (size_t)j * CC + off, *u1 = dU + (size_t)(4 + j) * CC + off;
            const float *u2 = dU + (size_t)(8 + j) * CC + off, *u3 = dU + (size_t)(12 + j) * CC + off;
#pragma omp simd
            for (int o = 0; o < no; o++) {
                const float h = 0.5f * (u1[o] + u2[o]);
                t[j][o] = u0[o] + h;
                t[4 + j][o] = 0.5f * (u1[o] - u2[o]);
                t[8 + j][o] = h + u3[o];
            }
        }
        for (int r = 0; r < 3; r++) { /* dW[r][.] += t G (along each row r) */
            float *w0 = dW + (size_t)(r * 3) * CC + off, *w1 = w0 + CC, *w2 = w1 + CC;
            const float *t0 = t[r * 4], *t1 = t[r * 4 + 1], *t2 = t[r * 4 + 2], *t3 = t[r * 4 + 3];
#pragma omp simd
            for (int o = 0; o < no; o++) {
                const float h = 0.5f * (t1[o] + t2[o]);
                w0[o] += t0[o] + h;
                w1[o] += 0.5f * (t1[o] - t2[o]);
                w2[o] += h + t3[o];
            }
        }
    }
}

static int check_cap(size_t col_cap, int H, int W, int Cin, int Cout)
{
    const size_t need = winograd_workspace_floats(H, W, Cin, Cout);
    if (col_cap < need)
        return ddpm_error("winograd: workspace of %zu floats is smaller than the %zu one example "
                          "needs (size it with conv2d_workspace_floats; internal error)",
                          col_cap, need);
    return DDPM_OK;
}

int winograd_forward(float *out, const float *inp, const float *W, const float *b, float *col,
                     size_t col_cap, int B, int H, int Wd, int Cin, int Cout)
{
    DDPM_TRY(check_cap(col_cap, H, Wd, Cin, Cout));
    filter_transform(col, W, Cin, Cout, 0);
    return run(out, inp, b, 0, col, col_cap, B, H, Wd, Cin, Cout);
}

int winograd_backward_data(float *dinp, const float *dout, const float *W, float *col,
                           size_t col_cap, int B, int H, int Wd, int Cin, int Cout)
{
    DDPM_TRY(check_cap(col_cap, H, Wd, Cin, Cout));
    filter_transform(col, W, Cin, Cout, 1);
    return run(dinp, dout, NULL, 1, col, col_cap, B, H, Wd, Cout, Cin);
}

/* Target floats of one block's V and dM (all 16 points) in winograd_backward_filter, and the
 * fewest tiles per block (the depth of each GEMM). Measured on one core at the U-Net's shapes
 * (B=64 at 28/14/7 px with 32-64 channels, B=8 at 32..4 px with 128-256): blocks of 128K floats
 * (a row group's quarter stays in L2) are 0-20% faster than 1M-float blocks and up to 45% faster
 * than one block per workspace chunk; 32K-256K floats are within noise of each other. */
#ifndef DW_BLOCK_FLOATS
#define DW_BLOCK_FLOATS ((size_t)1 << 17)
#endif
#ifndef DW_BLOCK_MIN_TILES
#define DW_BLOCK_MIN_TILES 64
#endif

/* dU (16, Cin, Cout) = sum over all B * tiles of V[e]^T dM[e], over blocks of consecutive tiles
 * (across examples; the block size depends on the shape and col_cap only). The 16 points are
 * split into the 4 rows i of the tile (row i of B^T d B and of A dy A^T needs two rows of the
 * input tile and of the output tile only): one thread owns a row group for the whole call (the
 * same static assignment for every block, so no barrier between blocks) and, per block,
 * transforms its quarter and runs its 4 GEMMs, adding into its dU[e] in block order (beta = 1).
 * Every dU element thus sums the same blocks in the same order for any thread count. */
int winograd_backward_filter(float *dW, const float *inp, const float *dout, float *col,
                             size_t col_cap, int B, int H, int Wd, int Cin, int Cout)
{
    DDPM_TRY(check_cap(col_cap, H, Wd, Cin, Cout));
    const size_t CC = (size_t)Cin * Cout, nU = 16 * CC, per_tile = 16 * ((size_t)Cin + Cout);
    const long nt_all = (long)B * (long)tiles_per_example(H, Wd);
    size_t want = DW_BLOCK_FLOATS / per_tile;
    if (want < DW_BLOCK_MIN_TILES) want = DW_BLOCK_MIN_TILES;
    const size_t fit = (col_cap - nU) / per_tile; /* >= one example's tiles (check_cap) */
    if (want > fit) want = fit;
    const long nbt = (long)want < nt_all ? (long)want : nt_all;
    const long nblk = (nt_all + nbt - 1) / nbt;
    float *dU = col, *scratch = col + nU;
#pragma omp parallel if (NN_PAR_IF((size_t)nt_all * CC))
    for (long k = 0; k < nblk; k++) {
        const long t0 = k * nbt, n = nt_all - t0 < nbt ? nt_all - t0 : nbt;
        const float beta = k == 0 ? 0.0f : 1.0f;
#pragma omp for schedule(static) nowait
        for (int i = 0; i < 4; i++) {
            float *V = scratch + (size_t)i * 4 * (size_t)nbt * ((size_t)Cin + Cout);
            float *M = V + 4 * (size_t)n * Cin;
            filter_grad_tiles(V, M, (size_t)n, inp, dout, t0, t0 + n, i, H, Wd, Cin, Cout);
            for (int j = 0; j < 4; j++)
                nn_sgemm(CblasTrans, CblasNoTrans, Cin, Cout, (int)n, 1.0f, V + (size_t)j * n * Cin, Cin,
                         M + (size_t)j * n * Cout, Cout, beta, dU + (size_t)(4 * i + j) * CC, Cout);
        }
    }
    filter_transform_adjoint(dW, dU, Cin, Cout);
    return DDPM_OK;
}
