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
