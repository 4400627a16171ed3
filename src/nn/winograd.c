#include "nn/winograd.h"

#include "nn/gemm.h"
#include "nn/parallel.h"

#include "core/common.h"

#include <stdint.h>
#include <string.h>

/* Channels handled per pass of a tile transform: 16 rows of CB floats stay in L1. */
#define CB 64

static size_t tiles_per_example(int H, int W) { return (size_t)((H + 1) / 2) * (size_t)((W + 1) / 2); }

/* Pixel (b, y, xx) of an NHWC tensor (b, H, W, C), or NULL outside the image (zero padding). */
static const float *pixel_or_null(const float *x, int b, int y, int xx, int H, int W, int C)
{
    return (y >= 0 && y < H && xx >= 0 && xx < W) ? x + (((size_t)b * H + y) * W + xx) * C : NULL;
}

/* d[p][0..n) = channels c0..c0+n of pixel src[p] (zeros for NULL), p < np. */
static void load_pixels(float (*d)[CB], const float *const *src, int np, int c0, int n)
{
    for (int p = 0; p < np; p++) {
        if (src[p]) memcpy(d[p], src[p] + c0, (size_t)n * sizeof(float));
        else memset(d[p], 0, (size_t)n * sizeof(float));
    }
}

/* Filter-transform tile: FB input x FB output channels, vectorised over the output channel. */
#define FB 16

/* Writes a block's transformed filters u[e][i][o] (ni input x no output channels at ci0, co0) to
 * U (npts, Cin, Cout), or transposed to U (npts, Cout, Cin) for the backward-data filter. */
static void store_filter_block(float *U, float (*u)[FB][FB], int npts, int flip, int Cin, int Cout, int ci0, int co0,
                               int ni, int no)
{
    const size_t CC = (size_t)Cin * Cout;
    for (int e = 0; e < npts; e++) {
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
        store_filter_block(U, u, 16, flip, Cin, Cout, ci0, co0, ni, no);
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
                src[i * 4 + j] = pixel_or_null(x, b, y, xx, H, W, C);
            }
        float *vt = V + (size_t)(t - t0) * C;
        for (int c0 = 0; c0 < C; c0 += CB) {
            const int n = C - c0 < CB ? C - c0 : CB;
            float d[16][CB], s[16][CB];
            load_pixels(d, src, 16, c0, n);
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
                    const float s0 = s[i * 4][c], s1 = s[i * 4 + 1][c], s2 = s[i * 4 + 2][c], s3 = s[i * 4 + 3][c];
                    v0[c] = s0 - s2;
                    v1[c] = s1 + s2;
                    v2[c] = s2 - s1;
                    v3[c] = s1 - s3;
                }
            }
        }
    }
}

/* Writes one output pixel's channels c0..c0+n: o is A^T m A; see winograd_epilogue. */
static inline void store_pixel(float *y, size_t off, int b, const float *o, int c0, int n, int C,
                               const winograd_epilogue *ep)
{
    float *d = y + off + c0;
    if (ep->add) {
#pragma omp simd
        for (int c = 0; c < n; c++) d[c] += o[c];
        return;
    }
    const float *bias = ep->bias ? ep->bias + c0 : NULL;
    if (bias) {
#pragma omp simd
        for (int c = 0; c < n; c++) d[c] = o[c] + bias[c];
    } else {
        memcpy(d, o, (size_t)n * sizeof(float));
    }
    /* then the per-example bias and the residual, in the order of the unfused layers (one loop
     * each: branches inside the loop kept it from vectorising) */
    if (ep->bias_b) {
        const float *bb = ep->bias_b + (size_t)b * C + c0;
#pragma omp simd
        for (int c = 0; c < n; c++) d[c] = d[c] + bb[c];
    }
    if (ep->res) {
        const float *res = ep->res + off + c0;
#pragma omp simd
        for (int c = 0; c < n; c++) d[c] = d[c] + res[c];
    }
}

/* y (nb, H, W, C) = A^T m A with the epilogue ep for tiles [t0, t1) whose m are rows 0.. of M
 * (16, ld, C). A^T = [1 1 1 0; 0 1 -1 -1]. Each output pixel is in one tile. */
static void output_tiles(float *y, const float *M, size_t ld, const winograd_epilogue *ep, long t0, long t1, int H,
                         int W, int C)
{
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    for (long t = t0; t < t1; t++) {
        const int b = (int)(t / ((long)th * tw)), r = (int)(t % ((long)th * tw));
        const int y0 = 2 * (r / tw), x0 = 2 * (r % tw);
        size_t dst[4]; /* offsets into y, SIZE_MAX past the image */
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                dst[i * 2 + j] = (y0 + i < H && x0 + j < W) ? (((size_t)b * H + y0 + i) * W + x0 + j) * C : SIZE_MAX;
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
            for (int p = 0; p < 4; p++)
                if (dst[p] != SIZE_MAX) store_pixel(y, dst[p], b, o[p], c0, n, C, ep);
        }
    }
}

/* ---- F(4x4, 3x3): 6x6 input tiles at stride 4, 36 points (Lavin & Gray's points 0, +-1, +-2) ---- */

static size_t tiles43_per_example(int H, int W) { return (size_t)((H + 3) / 4) * (size_t)((W + 3) / 4); }

/* U (36, Cin, Cout) = G g G^T (or, with flip, U (36, Cout, Cin) of the backward-data filter, as
 * filter_transform). G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6;
 * 0 0 1]. Computed in double and rounded once: 1/6 and 1/24 are not exact in float (in double
 * they and the few sums add relative errors ~1e-16, far below the float rounding); multiplying by
 * them rather than dividing keeps the transform cheap beside the GEMMs for small images. */
#define SIXTH        (1.0 / 6.0)
#define TWENTYFOURTH (1.0 / 24.0)
static void filter_transform43(float *U, const float *W, int Cin, int Cout, int flip)
{
    const size_t CC = (size_t)Cin * Cout;
    const int nbi = (Cin + FB - 1) / FB, nbo = (Cout + FB - 1) / FB;
#pragma omp parallel for if (NN_PAR_IF(36 * CC)) schedule(static)
    for (int blk = 0; blk < nbi * nbo; blk++) {
        const int ci0 = (blk / nbo) * FB, co0 = (blk % nbo) * FB;
        const int ni = Cin - ci0 < FB ? Cin - ci0 : FB, no = Cout - co0 < FB ? Cout - co0 : FB;
        float u[36][FB][FB];
        for (int i = 0; i < ni; i++) {
            const float *w = W + (size_t)(ci0 + i) * Cout + co0;
            double g[9][FB], t[18][FB];
            for (int k = 0; k < 9; k++) {
                const float *src = w + (size_t)(flip ? 8 - k : k) * CC;
                for (int o = 0; o < no; o++) g[k][o] = (double)src[o];
            }
            for (int j = 0; j < 3; j++) { /* t = G g, t[r][j] at t[r*3+j] */
#pragma omp simd
                for (int o = 0; o < no; o++) {
                    const double g0 = g[j][o], g1 = g[3 + j][o], g2 = g[6 + j][o];
                    t[j][o] = 0.25 * g0;
                    t[3 + j][o] = -SIXTH * (g0 + g1 + g2);
                    t[6 + j][o] = -SIXTH * (g0 - g1 + g2);
                    t[9 + j][o] = TWENTYFOURTH * (g0 + 2 * g1 + 4 * g2);
                    t[12 + j][o] = TWENTYFOURTH * (g0 - 2 * g1 + 4 * g2);
                    t[15 + j][o] = g2;
                }
            }
            for (int r = 0; r < 6; r++) { /* u = t G^T */
#pragma omp simd
                for (int o = 0; o < no; o++) {
                    const double t0 = t[r * 3][o], t1 = t[r * 3 + 1][o], t2 = t[r * 3 + 2][o];
                    u[r * 6][i][o] = (float)(0.25 * t0);
                    u[r * 6 + 1][i][o] = (float)(-SIXTH * (t0 + t1 + t2));
                    u[r * 6 + 2][i][o] = (float)(-SIXTH * (t0 - t1 + t2));
                    u[r * 6 + 3][i][o] = (float)(TWENTYFOURTH * (t0 + 2 * t1 + 4 * t2));
                    u[r * 6 + 4][i][o] = (float)(TWENTYFOURTH * (t0 - 2 * t1 + 4 * t2));
                    u[r * 6 + 5][i][o] = (float)t2;
                }
            }
        }
        store_filter_block(U, u, 36, flip, Cin, Cout, ci0, co0, ni, no);
    }
}

/* One B^T step on six vectors (a column or a row of the tile), B^T =
 * [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]:
 * at most 3 roundings per output (the products by 2 and 4 are exact). */
#define BT43(o0, o1, o2, o3, o4, o5, d0, d1, d2, d3, d4, d5)                                                           \
    do {                                                                                                               \
        const float p12 = (d1) + (d2), m12 = (d1) - (d2), p34 = (d3) + (d4), m43 = (d4) - (d3);                        \
        const float m42 = (d4) - (d2), m31 = (d3) - (d1);                                                              \
        o0 = (4.0f * (d0) + (d4)) - 5.0f * (d2);                                                                       \
        o1 = p34 - 4.0f * p12;                                                                                         \
        o2 = m43 + 4.0f * m12;                                                                                         \
        o3 = m42 + 2.0f * m31;                                                                                         \
        o4 = m42 - 2.0f * m31;                                                                                         \
        o5 = (4.0f * (d1) + (d5)) - 5.0f * (d3);                                                                       \
    } while (0)

/* V (36, ld, C) rows 0.. = B^T d B of tiles [t0, t1) of x (nb, H, W, C): tile (b, ty, tx) is
 * number (b*th + ty)*tw + tx (th = ceil(H/4), tw = ceil(W/4)) and covers rows 4ty-1..4ty+4,
 * columns 4tx-1..4tx+4 (zero outside the image). */
static void input_tiles43(float *V, size_t ld, const float *x, long t0, long t1, int H, int W, int C)
{
    const int th = (H + 3) / 4, tw = (W + 3) / 4;
    for (long t = t0; t < t1; t++) {
        const int b = (int)(t / ((long)th * tw)), r = (int)(t % ((long)th * tw));
        const int y0 = 4 * (r / tw) - 1, x0 = 4 * (r % tw) - 1;
        const float *src[36];
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++) {
                const int y = y0 + i, xx = x0 + j;
                src[i * 6 + j] = pixel_or_null(x, b, y, xx, H, W, C);
            }
        float *vt = V + (size_t)(t - t0) * C;
        for (int c0 = 0; c0 < C; c0 += CB) {
            const int n = C - c0 < CB ? C - c0 : CB;
            float d[36][CB], s[36][CB];
            load_pixels(d, src, 36, c0, n);
            for (int j = 0; j < 6; j++) { /* s = B^T d (down each column j) */
#pragma omp simd
                for (int c = 0; c < n; c++)
                    BT43(s[j][c], s[6 + j][c], s[12 + j][c], s[18 + j][c], s[24 + j][c], s[30 + j][c], d[j][c],
                         d[6 + j][c], d[12 + j][c], d[18 + j][c], d[24 + j][c], d[30 + j][c]);
            }
            for (int i = 0; i < 6; i++) { /* V = s B (along each row i) */
                float *v[6];
                for (int j = 0; j < 6; j++) v[j] = vt + (size_t)(i * 6 + j) * ld * C + c0;
                float *v0 = v[0], *v1 = v[1], *v2 = v[2], *v3 = v[3], *v4 = v[4], *v5 = v[5];
                const float *si = s[i * 6];
#pragma omp simd
                for (int c = 0; c < n; c++)
                    BT43(v0[c], v1[c], v2[c], v3[c], v4[c], v5[c], si[c], si[CB + c], si[2 * CB + c], si[3 * CB + c],
                         si[4 * CB + c], si[5 * CB + c]);
            }
        }
    }
}

/* One A^T step on six vectors, A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]:
 * at most 3 roundings per output (the products by 2, 4 and 8 are exact). */
#define AT43(o0, o1, o2, o3, m0, m1, m2, m3, m4, m5)                                                                   \
    do {                                                                                                               \
        const float p12 = (m1) + (m2), m12 = (m1) - (m2), p34 = (m3) + (m4), m34 = (m3) - (m4);                        \
        o0 = ((m0) + p12) + p34;                                                                                       \
        o1 = m12 + 2.0f * m34;                                                                                         \
        o2 = p12 + 4.0f * p34;                                                                                         \
        o3 = (m12 + (m5)) + 8.0f * m34;                                                                                \
    } while (0)

/* y (nb, H, W, C) = A^T m A with the epilogue ep for tiles [t0, t1) whose m are rows 0.. of M
 * (36, ld, C). Each output pixel is in one 4x4 tile. */
static void output_tiles43(float *y, const float *M, size_t ld, const winograd_epilogue *ep, long t0, long t1, int H,
                           int W, int C)
{
    const int th = (H + 3) / 4, tw = (W + 3) / 4;
    for (long t = t0; t < t1; t++) {
        const int b = (int)(t / ((long)th * tw)), r = (int)(t % ((long)th * tw));
        const int y0 = 4 * (r / tw), x0 = 4 * (r % tw);
        size_t dst[16]; /* offsets into y, SIZE_MAX past the image */
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                dst[i * 4 + j] = (y0 + i < H && x0 + j < W) ? (((size_t)b * H + y0 + i) * W + x0 + j) * C : SIZE_MAX;
        const float *mt = M + (size_t)(t - t0) * C;
        for (int c0 = 0; c0 < C; c0 += CB) {
            const int n = C - c0 < CB ? C - c0 : CB;
            float s[24][CB], o[16][CB];
            for (int j = 0; j < 6; j++) { /* s = A^T m (down each column j) */
                const float *m[6];
                for (int i = 0; i < 6; i++) m[i] = mt + (size_t)(i * 6 + j) * ld * C + c0;
                const float *m0 = m[0], *m1 = m[1], *m2 = m[2], *m3 = m[3], *m4 = m[4], *m5 = m[5];
#pragma omp simd
                for (int c = 0; c < n; c++)
                    AT43(s[j][c], s[6 + j][c], s[12 + j][c], s[18 + j][c], m0[c], m1[c], m2[c], m3[c], m4[c], m5[c]);
            }
            for (int i = 0; i < 4; i++) { /* o = s A (along each row i) */
                const float *si = s[i * 6];
#pragma omp simd
                for (int c = 0; c < n; c++)
                    AT43(o[i * 4][c], o[i * 4 + 1][c], o[i * 4 + 2][c], o[i * 4 + 3][c], si[c], si[CB + c],
                         si[2 * CB + c], si[3 * CB + c], si[4 * CB + c], si[5 * CB + c]);
            }
            for (int p = 0; p < 16; p++)
                if (dst[p] != SIZE_MAX) store_pixel(y, dst[p], b, o[p], c0, n, C, ep);
        }
    }
}

/* Floats of U plus one example's V and M for output tiles of m x m (m = 2 or 4). */
static size_t need_floats(int H, int W, int Cin, int Cout, int m)
{
    const size_t P = m == 4 ? 36 : 16, T1 = m == 4 ? tiles43_per_example(H, W) : tiles_per_example(H, W);
    return P * (size_t)Cin * Cout + P * T1 * ((size_t)Cin + Cout);
}

size_t winograd_workspace_floats(int H, int W, int Cin, int Cout)
{
    const size_t a = need_floats(H, W, Cin, Cout, 2), b = need_floats(H, W, Cin, Cout, 4);
    return a > b ? a : b;
}

/* Tiles per block of the fused schedule (V and M of a block stay in L2 for the U-Net's widths),
 * for F(2x2,3x3) and F(4x4,3x3), and the fewest blocks per chunk for which it is used (enough to
 * balance the threads). */
#ifndef TB
#define TB 64
#endif
#ifndef TB43
#define TB43 32
#endif
#ifndef FUSED_MIN_BLOCKS
#define FUSED_MIN_BLOCKS 16
#endif

static void tiles_in(float *V, size_t ld, const float *x, long t0, long t1, int H, int W, int C, int m)
{
    if (m == 4) input_tiles43(V, ld, x, t0, t1, H, W, C);
    else input_tiles(V, ld, x, t0, t1, H, W, C);
}

static void tiles_out(float *y, const float *M, size_t ld, const winograd_epilogue *ep, long t0, long t1, int H, int W,
                      int C, int m)
{
    if (m == 4) output_tiles43(y, M, ld, ep, t0, t1, H, W, C);
    else output_tiles(y, M, ld, ep, t0, t1, H, W, C);
}

/* y (B, H, W, Co) (=|+=) the 3x3 convolution of x (B, H, W, Ci) by F(m x m, 3x3) (P = (m+2)^2
 * points) whose transformed filter is already in col[0 .. P*Ci*Co); the rest of col holds V and
 * M for chunks of examples. A chunk with many tiles is cut into blocks of TB (TB43) tiles, each
 * transformed, multiplied and transformed back by one thread (one barrier per chunk, V and M stay
 * in cache); a chunk with few tiles runs each phase in parallel (tiles, then the P GEMMs, then
 * tiles) so that the threads still share the work. Either way every GEMM is one call whose shape
 * does not depend on the thread count, and every output element is computed by one thread. */
static void run(float *y, const float *x, const winograd_epilogue *ep_all, const float *U, float *V, size_t V_cap,
                int B, int H, int W, int Ci, int Co, int m)
{
    const int P = m == 4 ? 36 : 16;
    const size_t T1 = m == 4 ? tiles43_per_example(H, W) : tiles_per_example(H, W);
    const size_t per = (size_t)P * T1 * ((size_t)Ci + Co);
    size_t c = V_cap / per;
    const int chunk = c > (size_t)B ? B : (int)c;
    const long tb = m == 4 ? TB43 : TB;
    for (int b0 = 0; b0 < B; b0 += chunk) {
        const int nb = B - b0 < chunk ? B - b0 : chunk;
        const long nt = (long)nb * (long)T1;
        const float *xc = x + (size_t)b0 * H * W * Ci;
        float *yc = y + (size_t)b0 * H * W * Co;
        winograd_epilogue epc = *ep_all, *ep = &epc; /* the chunk's rows of bias_b and res */
        if (epc.bias_b) epc.bias_b += (size_t)b0 * Co;
        if (epc.res) epc.res += (size_t)b0 * H * W * Co;
        if (nt >= (long)FUSED_MIN_BLOCKS * tb) {
            const long nblk = (nt + tb - 1) / tb;
#pragma omp parallel for if (NN_PAR_IF((size_t)nt * Ci * Co)) schedule(static)
            for (long k = 0; k < nblk; k++) {
                const long t0 = k * tb, t1 = nt - t0 < tb ? nt : t0 + tb;
                const int n = (int)(t1 - t0);
                float *Vk = V + (size_t)P * (size_t)t0 * ((size_t)Ci + Co), *Mk = Vk + (size_t)P * n * Ci;
                tiles_in(Vk, (size_t)n, xc, t0, t1, H, W, Ci, m);
                for (int e = 0; e < P; e++)
                    nn_sgemm(CblasNoTrans, CblasNoTrans, n, Co, Ci, 1.0f, Vk + (size_t)e * n * Ci, Ci,
                             U + (size_t)e * Ci * Co, Co, 0.0f, Mk + (size_t)e * n * Co, Co);
                tiles_out(yc, Mk, (size_t)n, ep, t0, t1, H, W, Co, m);
            }
            continue;
        }
        float *M = V + (size_t)P * (size_t)nt * Ci;
#pragma omp parallel for if (NN_PAR_IF((size_t)nt * P * Ci)) schedule(static)
        for (long t = 0; t < nt; t++) tiles_in(V + (size_t)t * Ci, (size_t)nt, xc, t, t + 1, H, W, Ci, m);
#pragma omp parallel for if (NN_PAR_IF((size_t)nt * Ci * Co)) schedule(static)
        for (int e = 0; e < P; e++)
            nn_sgemm(CblasNoTrans, CblasNoTrans, (int)nt, Co, Ci, 1.0f, V + (size_t)e * nt * Ci, Ci,
                     U + (size_t)e * Ci * Co, Co, 0.0f, M + (size_t)e * nt * Co, Co);
#pragma omp parallel for if (NN_PAR_IF((size_t)nt * P * Co)) schedule(static)
        for (long t = 0; t < nt; t++) tiles_out(yc, M + (size_t)t * Co, (size_t)nt, ep, t, t + 1, H, W, Co, m);
    }
}

/* Row i of a transform matrix with at most two nonzeros, each +-1: rows ra and rb with signs sa and
 * sb (sb = 0: one term; x * (+-1) and x + 0 * y are exact, so each row costs one rounding). */
typedef struct {
    int ra, rb;
    float sa, sb;
} row2;
/* B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] and A = [1 0; 1 1; 1 -1; 0 -1]. */
static const row2 BT_ROWS[4] = {
    { 0, 2, 1.0f, -1.0f }, { 1, 2, 1.0f, 1.0f }, { 2, 1, 1.0f, -1.0f }, { 1, 3, 1.0f, -1.0f }
};
static const row2 A_ROWS[4] = {
    { 0, 0, 1.0f, 0.0f }, { 0, 1, 1.0f, 1.0f }, { 0, 1, 1.0f, -1.0f }, { 1, 1, -1.0f, 0.0f }
};

/* For the points e = 4i + j of row i only, of tiles [t0, t1) (numbered as in input_tiles):
 *   V (4, ld, Ci) rows 0..  = row i of B^T d B of the 4x4 input tiles of x (nb, H, W, Ci),
 *   dM (4, ld, Co) rows 0.. = row i of A g A^T of the 2x2 tiles of dy (nb, H, W, Co), the adjoint
 *                             of the output transform (outputs past H x W count as 0).
 * Row i of B^T d B needs input rows BT_ROWS[i] only, row i of A g A^T output rows A_ROWS[i]. */
static void filter_grad_tiles(float *V, float *dM, size_t ld, const float *x, const float *dy, long t0, long t1, int i,
                              int H, int W, int Ci, int Co)
{
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    const row2 bi = BT_ROWS[i], ai = A_ROWS[i];
    for (long t = t0; t < t1; t++) {
        const int b = (int)(t / ((long)th * tw)), r = (int)(t % ((long)th * tw));
        const int ty = r / tw, tx = r % tw;
        const float *src[8]; /* [k][q]: input rows ra, rb of the tile, columns 0..3 */
        for (int k = 0; k < 2; k++) {
            const int y = 2 * ty - 1 + (k ? bi.rb : bi.ra);
            for (int q = 0; q < 4; q++) {
                const int xx = 2 * tx - 1 + q;
                src[k * 4 + q] = pixel_or_null(x, b, y, xx, H, W, Ci);
            }
        }
        float *vt = V + (size_t)(t - t0) * Ci;
        for (int c0 = 0; c0 < Ci; c0 += CB) {
            const int n = Ci - c0 < CB ? Ci - c0 : CB;
            float d[8][CB], s[4][CB];
            load_pixels(d, src, 8, c0, n);
            for (int q = 0; q < 4; q++) { /* s = row i of B^T d */
#pragma omp simd
                for (int c = 0; c < n; c++) s[q][c] = bi.sa * d[q][c] + bi.sb * d[4 + q][c];
            }
            for (int j = 0; j < 4; j++) { /* V[4i + j] = s B[:, j] */
                const row2 bj = BT_ROWS[j];
                float *v = vt + (size_t)j * ld * Ci + c0;
#pragma omp simd
                for (int c = 0; c < n; c++) v[c] = bj.sa * s[bj.ra][c] + bj.sb * s[bj.rb][c];
            }
        }
        const float *gsrc[4]; /* [k][q]: output rows ra, rb of the tile, columns 0..1 */
        for (int k = 0; k < 2; k++) {
            const int y = 2 * ty + (k ? ai.rb : ai.ra);
            for (int q = 0; q < 2; q++) {
                const int xx = 2 * tx + q;
                gsrc[k * 2 + q] = pixel_or_null(dy, b, y, xx, H, W, Co);
            }
        }
        float *mt = dM + (size_t)(t - t0) * Co;
        for (int c0 = 0; c0 < Co; c0 += CB) {
            const int n = Co - c0 < CB ? Co - c0 : CB;
            float g[4][CB], s[2][CB];
            load_pixels(g, gsrc, 4, c0, n);
            for (int q = 0; q < 2; q++) { /* s = row i of A g */
#pragma omp simd
                for (int c = 0; c < n; c++) s[q][c] = ai.sa * g[q][c] + ai.sb * g[2 + q][c];
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

int winograd_forward_tile(float *out, const float *inp, const float *W, const float *b, float *col, size_t col_cap,
                          int B, int H, int Wd, int Cin, int Cout, int m)
{
    if (m != 2 && m != 4) return ddpm_error("winograd: output tile %d is not 2 or 4 (internal error)", m);
    DDPM_TRY(check_cap(col_cap, H, Wd, Cin, Cout));
    if (m == 4) filter_transform43(col, W, Cin, Cout, 0);
    else filter_transform(col, W, Cin, Cout, 0);
    const size_t nU = winograd_filter_floats(Cin, Cout, m);
    const winograd_epilogue ep = { b, NULL, NULL, 0 };
    run(out, inp, &ep, col, col + nU, col_cap - nU, B, H, Wd, Cin, Cout, m);
    return DDPM_OK;
}

int winograd_backward_data_tile(float *dinp, const float *dout, const float *W, float *col, size_t col_cap, int B,
                                int H, int Wd, int Cin, int Cout, int m)
{
    if (m != 2 && m != 4) return ddpm_error("winograd: output tile %d is not 2 or 4 (internal error)", m);
    DDPM_TRY(check_cap(col_cap, H, Wd, Cin, Cout));
    if (m == 4) filter_transform43(col, W, Cin, Cout, 1);
    else filter_transform(col, W, Cin, Cout, 1);
    const size_t nU = winograd_filter_floats(Cin, Cout, m);
    const winograd_epilogue ep = { NULL, NULL, NULL, 1 };
    run(dinp, dout, &ep, col, col + nU, col_cap - nU, B, H, Wd, Cout, Cin, m);
    return DDPM_OK;
}

/* F(4x4,3x3) is used where a chunk (sized by col_cap as in run) holds at least this many 6x6 tiles
 * and the image is at least 4x4, F(2x2,3x3) elsewhere: with few tiles per GEMM its 2.25x larger U
 * (transformed per call, packed per GEMM) outweighs the 1.78x fewer multiplies. Measurements:
 * docs/performance.md. */
#define F43_MIN_CHUNK_TILES 64

int winograd_output_tile(size_t col_cap, int B, int H, int W, int Cin, int Cout)
{
    if (H < 4 || W < 4) return 2;
    const size_t nU = 36 * (size_t)Cin * Cout, T1 = tiles43_per_example(H, W);
    const size_t per = 36 * T1 * ((size_t)Cin + Cout);
    if (col_cap < nU + per) return 2;
    size_t chunk = (col_cap - nU) / per;
    if (chunk > (size_t)B) chunk = (size_t)B;
    return chunk * T1 >= F43_MIN_CHUNK_TILES ? 4 : 2;
}

int winograd_forward(float *out, const float *inp, const float *W, const float *b, float *col, size_t col_cap, int B,
                     int H, int Wd, int Cin, int Cout)
{
    return winograd_forward_tile(out, inp, W, b, col, col_cap, B, H, Wd, Cin, Cout,
                                 winograd_output_tile(col_cap, B, H, Wd, Cin, Cout));
}

int winograd_backward_data(float *dinp, const float *dout, const float *W, float *col, size_t col_cap, int B, int H,
                           int Wd, int Cin, int Cout)
{
    return winograd_backward_data_tile(dinp, dout, W, col, col_cap, B, H, Wd, Cin, Cout,
                                       winograd_output_tile(col_cap, B, H, Wd, Cin, Cout));
}

size_t winograd_filter_floats(int Cin, int Cout, int m) { return (size_t)(m == 4 ? 36 : 16) * (size_t)Cin * Cout; }

int winograd_filter_transform(float *U, const float *W, int Cin, int Cout, int m)
{
    if (m != 2 && m != 4) return ddpm_error("winograd: output tile %d is not 2 or 4 (internal error)", m);
    if (m == 4) filter_transform43(U, W, Cin, Cout, 0);
    else filter_transform(U, W, Cin, Cout, 0);
    return DDPM_OK;
}

/* The chunk rule of winograd_output_tile with the filter outside the workspace. The measured
 * threshold is the same (F43_MIN_CHUNK_TILES); see docs/performance.md for the inference sweep. */
int winograd_output_tile_pre(size_t col_cap, int B, int H, int W, int Cin, int Cout)
{
    if (H < 4 || W < 4) return 2;
    const size_t T1 = tiles43_per_example(H, W), per = 36 * T1 * ((size_t)Cin + Cout);
    if (col_cap < per) return 2;
    size_t chunk = col_cap / per;
    if (chunk > (size_t)B) chunk = (size_t)B;
    return chunk * T1 >= F43_MIN_CHUNK_TILES ? 4 : 2;
}

size_t winograd_workspace_floats_pre(int H, int W, int Cin, int Cout, int m)
{
    const size_t T1 = m == 4 ? tiles43_per_example(H, W) : tiles_per_example(H, W);
    return (size_t)(m == 4 ? 36 : 16) * T1 * ((size_t)Cin + Cout);
}

int winograd_forward_pre(float *out, const float *inp, const float *U, const winograd_epilogue *ep, float *col,
                         size_t col_cap, int B, int H, int Wd, int Cin, int Cout, int m)
{
    if (m != 2 && m != 4) return ddpm_error("winograd: output tile %d is not 2 or 4 (internal error)", m);
    const size_t need = winograd_workspace_floats_pre(H, Wd, Cin, Cout, m);
    if (col_cap < need)
        return ddpm_error("winograd: workspace of %zu floats is smaller than the %zu one example "
                          "needs (internal error)",
                          col_cap, need);
    if (ep->add) return ddpm_error("winograd_forward_pre: an accumulating epilogue (internal error)");
    run(out, inp, ep, U, col, col_cap, B, H, Wd, Cin, Cout, m);
    return DDPM_OK;
}

/* Target floats of one block's V and dM (all 16 points) in winograd_backward_filter (a row
 * group's quarter stays in L2), and the fewest tiles per block (the depth of each GEMM); measured
 * in docs/performance.md. */
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
int winograd_backward_filter(float *dW, const float *inp, const float *dout, float *col, size_t col_cap, int B, int H,
                             int Wd, int Cin, int Cout)
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
