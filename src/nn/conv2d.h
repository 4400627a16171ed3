/* conv2d.h — 2-D convolution on NHWC tensors with TF "SAME" padding, as the official
 * nn.conv2d (tf.nn.conv2d, padding='SAME'). W is in TF layout [k, k, Cin, Cout], so an im2col
 * row (kh, kw, ci) of the input times W (k*k*Cin, Cout) is a plain GEMM.
 *
 * Geometry (TF SAME): Ho = ceil(H / stride), pad_total = max((Ho-1)*stride + k - H, 0),
 * pad_before = pad_total / 2 (the odd extra pixel goes after): 3x3 stride 1 pads 1/1; 3x3
 * stride 2 on an even size pads 0 before and 1 after.
 *
 * 3x3 stride-1 convolutions with Cin >= 16 run all three passes by Winograd (nn/winograd.h), with
 * no im2col; everything else by im2col + GEMM. The choice depends on the shape and col_cap only
 * (measurements: docs/performance.md).
 *
 * Work is done in chunks of whole examples whose im2col rows (or Winograd tiles) fit in the
 * caller's workspace `col` (capacity col_cap floats; at least conv2d_workspace_floats()). The chunk
 * size depends only on the geometry and col_cap, never on the thread count. Backward ADDS into
 * dinp (skipped when NULL; gathered per input pixel, so each element is written by one thread
 * in a fixed order), dW and db. Returns DDPM_ERR if col_cap is too small. */
#ifndef DDPM_NN_CONV2D_H
#define DDPM_NN_CONV2D_H

#include <stddef.h>

int conv2d_out_size(int in, int stride);          /* ceil(in / stride) */
int conv2d_pad_before(int in, int k, int stride); /* TF SAME */
/* im2col floats for one example: Ho*Wo*k*k*Cin. */
size_t conv2d_col_floats(int H, int W, int Cin, int k, int stride);

/* 1 when conv2d runs this layer by Winograd (3x3, stride 1, Cin >= 16), else 0. */
int conv2d_uses_winograd(int Cin, int k, int stride);

/* Workspace floats for one example of this layer, whichever algorithm it uses: size `col` with
 * this (the chunks then hold col_cap / this examples, roughly). */
size_t conv2d_workspace_floats(int H, int W, int Cin, int Cout, int k, int stride);

/* out (B, Ho, Wo, Cout) = conv(inp (B, H, W, Cin), W (k, k, Cin, Cout)) + b (Cout). */
int conv2d_forward(float *out, const float *inp, const float *W, const float *b, float *col, size_t col_cap, int B,
                   int H, int Wd, int Cin, int Cout, int k, int stride);
/* dinp (B, H, W, Cin) += ..., dW (k, k, Cin, Cout) += ..., db (Cout) += ... given dout. */
int conv2d_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp, const float *W, float *col,
                    size_t col_cap, int B, int H, int Wd, int Cin, int Cout, int k, int stride);

#endif
