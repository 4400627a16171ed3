#include "nn/conv2d.h"

#include "nn/gemm.h"
#include "nn/im2col.h"
#include "nn/parallel.h"

#include "core/common.h"
#include "nn/tensor_ops.h"
#include "nn/winograd.h"

#include <string.h>

int conv2d_out_size(int in, int stride) { return (in + stride - 1) / stride; }

int conv2d_pad_before(int in, int k, int stride)
{
    int out = conv2d_out_size(in, stride);
    int total = (out - 1) * stride + k - in;
    if (total < 0) total = 0;
    return total / 2;
}

size_t conv2d_col_floats(int H, int W, int Cin, int k, int stride)
{
    return (size_t)conv2d_out_size(H, stride) * (size_t)conv2d_out_size(W, stride) * (size_t)k * k * (size_t)Cin;
}

/* Winograd replaces im2col for 3x3 stride-1 convolutions with at least this many input channels,
 * in all three passes: below it the GEMMs are too shallow (Cin 1-3: 0.4-0.7x; break-even at 8).
 * Measurements: docs/performance.md. */
#define WINOGRAD_MIN_CIN 16

static int use_winograd(int Cin, int k, int stride) { return k == 3 && stride == 1 && Cin >= WINOGRAD_MIN_CIN; }

int conv2d_uses_winograd(int Cin, int k, int stride) { return use_winograd(Cin, k, stride); }

size_t conv2d_workspace_floats(int H, int W, int Cin, int Cout, int k, int stride)
{
    size_t n = conv2d_col_floats(H, W, Cin, k, stride);
    if (use_winograd(Cin, k, stride)) {
        size_t w = winograd_workspace_floats(H, W, Cin, Cout);
        if (w > n) n = w;
    }
    return n;
}

/* col (nb*Ho*Wo, k*k*Cin) from examples inp (nb, H, W, Cin), one output row of pixels per task. */
static void im2col(float *col, const float *inp, int nb, int H, int W, int Cin, int k, int stride, int Ho, int Wo,
                   int ph, int pw)
{
    const conv_geom g = { k, k, stride, stride, ph, pw };
    const size_t K = (size_t)k * k * Cin;
    const long rows = (long)nb * Ho;
#pragma omp parallel for if (NN_PAR_IF((size_t)nb * Ho * Wo * K)) schedule(static)
    for (long r = 0; r < rows; r++)
        im2col_rows(col + (size_t)r * Wo * K, inp, r * Wo, (r + 1) * Wo, H, W, Cin, Ho, Wo, g);
}

/* dinp (nb, H, W, Cin) += the im2col-transpose of dcol (nb*Ho*Wo, k*k*Cin): each input pixel
 * gathers its taps in (kh, kw) order. */
static void col2im_add(float *dinp, const float *dcol, int nb, int H, int W, int Cin, int k, int stride, int Ho, int Wo,
                       int ph, int pw)
{
    const size_t K = (size_t)k * k * Cin;
#pragma omp parallel for if (NN_PAR_IF((size_t)nb * H * W * K)) collapse(2) schedule(static)
    for (int b = 0; b < nb; b++)
        for (int ih = 0; ih < H; ih++)
            for (int iw = 0; iw < W; iw++) {
                float *d = dinp + (((size_t)b * H + ih) * W + iw) * Cin;
                for (int kh = 0; kh < k; kh++) {
                    const int th = ih + ph - kh;
                    if (th < 0 || th % stride) continue;
                    const int oh = th / stride;
                    if (oh >= Ho) continue;
                    for (int kw = 0; kw < k; kw++) {
                        const int tw = iw + pw - kw;
                        if (tw < 0 || tw % stride) continue;
                        const int ow = tw / stride;
                        if (ow >= Wo) continue;
                        const float *s = dcol + (((size_t)b * Ho + oh) * Wo + ow) * K + ((size_t)kh * k + kw) * Cin;
#pragma omp simd
                        for (int c = 0; c < Cin; c++) d[c] += s[c];
                    }
                }
            }
}

static int chunk_examples(size_t col_cap, size_t per, int B, int *chunk)
{
    if (per == 0 || col_cap < per)
        return ddpm_error("conv2d: im2col workspace of %zu floats is smaller than one example's "
                          "%zu (internal error)",
                          col_cap, per);
    size_t c = col_cap / per;
    *chunk = c > (size_t)B ? B : (int)c;
    if (*chunk < 1) *chunk = 1;
    return DDPM_OK;
}

int conv2d_forward(float *out, const float *inp, const float *W, const float *b, float *col, size_t col_cap, int B,
                   int H, int Wd, int Cin, int Cout, int k, int stride)
{
    if (use_winograd(Cin, k, stride)) return winograd_forward(out, inp, W, b, col, col_cap, B, H, Wd, Cin, Cout);
    const int Ho = conv2d_out_size(H, stride), Wo = conv2d_out_size(Wd, stride);
    const int ph = conv2d_pad_before(H, k, stride), pw = conv2d_pad_before(Wd, k, stride);
    const size_t per = conv2d_col_floats(H, Wd, Cin, k, stride);
    const int K = k * k * Cin;
    int chunk = 1;
    DDPM_TRY(chunk_examples(col_cap, per, B, &chunk));
    const size_t rows_all = (size_t)B * Ho * Wo;
#pragma omp parallel for if (NN_PAR_IF(rows_all * Cout)) schedule(static)
    for (size_t r = 0; r < rows_all; r++) {
        float *o = out + r * Cout;
        if (b) memcpy(o, b, (size_t)Cout * sizeof(float));
        else memset(o, 0, (size_t)Cout * sizeof(float));
    }
    for (int b0 = 0; b0 < B; b0 += chunk) {
        const int nb = B - b0 < chunk ? B - b0 : chunk;
        const int M = nb * Ho * Wo;
        im2col(col, inp + (size_t)b0 * H * Wd * Cin, nb, H, Wd, Cin, k, stride, Ho, Wo, ph, pw);
        nn_sgemm(CblasNoTrans, CblasNoTrans, M, Cout, K, 1.0f, col, K, W, Cout, 1.0f, out + (size_t)b0 * Ho * Wo * Cout,
                 Cout);
    }
    return DDPM_OK;
}

int conv2d_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp, const float *W, float *col,
                    size_t col_cap, int B, int H, int Wd, int Cin, int Cout, int k, int stride)
{
    const int Ho = conv2d_out_size(H, stride), Wo = conv2d_out_size(Wd, stride);
    const int ph = conv2d_pad_before(H, k, stride), pw = conv2d_pad_before(Wd, k, stride);
    const size_t per = conv2d_col_floats(H, Wd, Cin, k, stride);
    const int K = k * k * Cin;
    if (use_winograd(Cin, k, stride)) { /* no im2col at all */
        if (dinp) DDPM_TRY(winograd_backward_data(dinp, dout, W, col, col_cap, B, H, Wd, Cin, Cout));
        if (dW) DDPM_TRY(winograd_backward_filter(dW, inp, dout, col, col_cap, B, H, Wd, Cin, Cout));
        if (db) colsum_add(db, dout, (size_t)B * Ho * Wo, Cout);
        return DDPM_OK;
    }
    int chunk = 1;
    DDPM_TRY(chunk_examples(col_cap, per, B, &chunk));
    if (db) colsum_add(db, dout, (size_t)B * Ho * Wo, Cout);
    for (int b0 = 0; b0 < B; b0 += chunk) {
        const int nb = B - b0 < chunk ? B - b0 : chunk;
        const int M = nb * Ho * Wo;
        const float *dout_c = dout + (size_t)b0 * Ho * Wo * Cout;
        if (dW) {
            im2col(col, inp + (size_t)b0 * H * Wd * Cin, nb, H, Wd, Cin, k, stride, Ho, Wo, ph, pw);
            nn_sgemm(CblasTrans, CblasNoTrans, K, Cout, M, 1.0f, col, K, dout_c, Cout, 1.0f, dW, Cout);
        }
        if (dinp) {
            nn_sgemm(CblasNoTrans, CblasTrans, M, K, Cout, 1.0f, dout_c, Cout, W, Cout, 0.0f, col, K);
            col2im_add(dinp + (size_t)b0 * H * Wd * Cin, col, nb, H, Wd, Cin, k, stride, Ho, Wo, ph, pw);
        }
    }
    return DDPM_OK;
}
