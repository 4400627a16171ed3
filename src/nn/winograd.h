/* winograd.h — 3x3 stride-1 TF-SAME convolution (pad 1/1) on NHWC tensors by Winograd's minimal
 * filtering (Lavin & Gray 2016): F(2x2,3x3) and F(4x4,3x3) for the forward pass and the input
 * gradient, F(2x2,3x3) for the weight gradient. Same semantics as conv2d_forward / conv2d_backward
 * for k = 3, stride = 1; W is in TF layout [3, 3, Cin, Cout]. The algorithm, both schedules and
 * the measurements behind every threshold: docs/performance.md.
 *
 * Everything lives in the caller's workspace `col` (capacity col_cap floats, at least
 * winograd_workspace_floats(); no allocation); returns DDPM_ERR if col_cap is too small. The
 * examples per chunk depend on the geometry and col_cap only and every output element is
 * computed by one thread in a fixed order: bit-identical for any thread count. Rounding, with the
 * derived bounds tests/test_winograd.c asserts against a double-precision direct convolution:
 * F(2,3) 7.1 (K + 10) u, F(4,3) 256 (K + 14) u of the sum of |terms| (K = the reduction, u = 2^-24);
 * the weight gradient (T + 10) u (T = the batch's tiles). */
#ifndef DDPM_NN_WINOGRAD_H
#define DDPM_NN_WINOGRAD_H

#include <stddef.h>

/* The larger of F(2,3)'s U (16*Cin*Cout) plus one example's V and M, 16 * ceil(H/2) * ceil(W/2)
 * * (Cin + Cout), and F(4,3)'s 36*Cin*Cout + 36 * ceil(H/4) * ceil(W/4) * (Cin + Cout).
 * Symmetric in Cin/Cout, so it covers forward, backward-data and backward-filter (dU in U's place,
 * V and dM in V and M's) of the same layer, with either tile. */
size_t winograd_workspace_floats(int H, int W, int Cin, int Cout);

/* out (B, H, W, Cout) = conv3x3(inp (B, H, W, Cin), W (3, 3, Cin, Cout)) + b (Cout; may be NULL). */
int winograd_forward(float *out, const float *inp, const float *W, const float *b, float *col, size_t col_cap, int B,
                     int H, int Wd, int Cin, int Cout);
/* dinp (B, H, W, Cin) += the input gradient of that convolution given dout (B, H, W, Cout). */
int winograd_backward_data(float *dinp, const float *dout, const float *W, float *col, size_t col_cap, int B, int H,
                           int Wd, int Cin, int Cout);

/* The output tile the two calls above use: 4 (F(4x4,3x3)) where the image is at least 4x4 and a
 * chunk of the workspace holds >= 64 of its 6x6 tiles, else 2 (F(2x2,3x3)). The same for both
 * calls (their workspace use is symmetric in Cin/Cout); measurements in winograd.c. */
int winograd_output_tile(size_t col_cap, int B, int H, int W, int Cin, int Cout);
/* The same two calls with the output tile m (2 or 4) given (tests and measurements). */
int winograd_forward_tile(float *out, const float *inp, const float *W, const float *b, float *col, size_t col_cap,
                          int B, int H, int Wd, int Cin, int Cout, int m);
int winograd_backward_data_tile(float *dinp, const float *dout, const float *W, float *col, size_t col_cap, int B,
                                int H, int Wd, int Cin, int Cout, int m);

/* Inference with a filter transformed once (unet_prepare_inference): U (P, Cin, Cout), P = 16
 * (m = 2) or 36 (m = 4), is what winograd_forward_tile transforms at every call, by the same
 * code, so a forward through it gives the same bits for the same tile and chunking. */
size_t winograd_filter_floats(int Cin, int Cout, int m);
int winograd_filter_transform(float *U, const float *W, int Cin, int Cout, int m);

/* What the output transform adds before it stores, in this order (each optional):
 *   out = ((A^T m A + bias[c]) + bias_b[b][c]) + res[b][y][x][c],
 * the same additions, in the same order, as a separate bias add, broadcast add (the res block's
 * timestep projection) and residual add; add = 1 instead accumulates out += A^T m A. */
typedef struct {
    const float *bias;   /* (Cout) */
    const float *bias_b; /* (B, Cout) */
    const float *res;    /* (B, H, W, Cout), not aliasing out */
    int add;
} winograd_epilogue;

/* One example's workspace (V and M only) for the tile m with U outside it. */
size_t winograd_workspace_floats_pre(int H, int W, int Cin, int Cout, int m);
/* winograd_output_tile's rule for a workspace that holds no U. */
int winograd_output_tile_pre(size_t col_cap, int B, int H, int W, int Cin, int Cout);
/* out (B, H, W, Cout) = conv3x3(inp, W) + the epilogue, W given as U = its tile-m transform. */
int winograd_forward_pre(float *out, const float *inp, const float *U, const winograd_epilogue *ep, float *col,
                         size_t col_cap, int B, int H, int Wd, int Cin, int Cout, int m);

/* dW (3, 3, Cin, Cout) += the weight gradient of that convolution given inp (B, H, W, Cin) and
 * dout (B, H, W, Cout). */
int winograd_backward_filter(float *dW, const float *inp, const float *dout, float *col, size_t col_cap, int B, int H,
                             int Wd, int Cin, int Cout);

#endif
