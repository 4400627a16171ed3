/* winograd.h — 3x3 stride-1 TF-SAME convolution (pad 1/1) on NHWC tensors by Winograd's minimal
 * filtering F(2x2, 3x3) (Lavin & Gray 2016): 16 multiplies per 2x2 output tile and channel pair
 * instead of 36. Same semantics as conv2d_forward / the dinp and dW parts of conv2d_backward for
 * k = 3, stride = 1; W is in TF layout [3, 3, Cin, Cout].
 *
 * The input is cut into 4x4 tiles at stride 2 (one pixel of zero padding before, as much as the
 * last tile needs after; outputs past H x W are dropped). Per chunk of whole examples:
 *   U (16, Cin, Cout)    = G g G^T of every (ci, co) filter     (once per call)
 *   V (16, tiles, Cin)   = B^T d B of every input tile
 *   M[e] (tiles, Cout)   = V[e] U[e] for the 16 points e         (16 GEMMs through nn_sgemm)
 *   out                  = A^T m A of every tile of M
 * A chunk of >= 1024 tiles is cut into blocks of 64 tiles (each block's V and M laid out as
 * above); one thread does a block's three steps (its V and M stay in cache, one barrier per
 * chunk). A smaller chunk runs each step in parallel: tiles, then the 16 GEMMs (OpenMP over e,
 * each GEMM single-threaded), then tiles. The transforms are vectorised over channels.
 * Backward-data is the same machinery: the input gradient of a 3x3 SAME stride-1 convolution is
 * the convolution of dout with the kernel flipped in (kh, kw) and Cin/Cout swapped.
 *
 * Forward and backward-data also have F(4x4, 3x3) (Lavin-Gray points 0, +-1, +-2): 6x6 input
 * tiles at stride 4, U (36, Cin, Cout) (computed in double, rounded once), 36 GEMMs per chunk or
 * fused block of 32 tiles, 36 multiplies per 16 outputs instead of 64. The same two schedules,
 * workspace and determinism. It is used where the image is at least 4x4 and a chunk holds at
 * least 64 of its tiles (winograd_output_tile; the rule and its measurements are in winograd.c).
 * Its rounding is larger (transform entries up to 8 and 1/24): about 10-20x F(2,3)'s measured
 * error, bounded by 256 (K + 14) u of the direct sum of |terms| (tests/test_winograd.c).
 *
 * Backward-filter is the transposed identity: with dM[e] = A dy A^T of every 2x2 output-gradient
 * tile spread to its 16 points (outputs past H x W count as 0),
 *   dU[e] (Cin, Cout)    = sum over the tiles of V[e]^T dM[e]     (16 long-reduction GEMMs)
 *   dW                  += G^T dU G of every (ci, co)
 * The batch's tiles are taken in blocks of consecutive tiles (across examples; ~128K floats of V
 * and dM, at least 64 tiles, fewer if col_cap is smaller: the shape and col_cap decide) whose
 * products are added into dU in block order. The 16 points are worked in 4 groups (the rows of
 * the 4x4 tile); one thread owns a group for the whole call, transforming its quarter of each
 * block and running its 4 GEMMs, so there is no barrier between blocks and every dU element sums
 * the same blocks in the same order for any thread count.
 *
 * Everything lives in the caller's workspace `col` (capacity col_cap floats, at least
 * winograd_workspace_floats(); no allocation). The number of examples per chunk depends on the
 * geometry and col_cap only, and every output element is computed by one thread in a fixed
 * order, so results are bit-identical for any thread count. Rounding: the transforms add a few
 * float roundings per term (error a small multiple of im2col's; see tests/test_winograd.c). The
 * weight gradient's error is bounded by (T + 10) u times the sum of |terms| the transforms
 * combine (T = the batch's tiles; u = 2^-24); measured at most 5.3e-8 of that sum (tests).
 * Returns DDPM_ERR if col_cap is too small. */
#ifndef DDPM_NN_WINOGRAD_H
#define DDPM_NN_WINOGRAD_H

#include <stddef.h>

/* The larger of F(2,3)'s U (16*Cin*Cout) plus one example's V and M, 16 * ceil(H/2) * ceil(W/2)
 * * (Cin + Cout), and F(4,3)'s 36*Cin*Cout + 36 * ceil(H/4) * ceil(W/4) * (Cin + Cout).
 * Symmetric in Cin/Cout, so it covers forward, backward-data and backward-filter (dU in U's place,
 * V and dM in V and M's) of the same layer, with either tile. */
size_t winograd_workspace_floats(int H, int W, int Cin, int Cout);

/* out (B, H, W, Cout) = conv3x3(inp (B, H, W, Cin), W (3, 3, Cin, Cout)) + b (Cout; may be NULL). */
int winograd_forward(float *out, const float *inp, const float *W, const float *b, float *col,
                     size_t col_cap, int B, int H, int Wd, int Cin, int Cout);
/* dinp (B, H, W, Cin) += the input gradient of that convolution given dout (B, H, W, Cout). */
int winograd_backward_data(float *dinp, const float *dout, const float *W, float *col,
                           size_t col_cap, int B, int H, int Wd, int Cin, int Cout);

/* The output tile the two calls above use: 4 (F(4x4,3x3)) where the image is at least 4x4 and a
 * chunk of the workspace holds >= 64 of its 6x6 tiles, else 2 (F(2x2,3x3)). The same for both
 * calls (their workspace use is symmetric in Cin/Cout); measurements in winograd.c. */
int winograd_output_tile(size_t col_cap, int B, int H, int W, int Cin, int Cout);
/* The same two calls with the output tile m (2 or 4) given (tests and measurements). */
int winograd_forward_tile(float *out, const float *inp, const float *W, const float *b, float *col,
                          size_t col_cap, int B, int H, int Wd, int Cin, int Cout, int m);
int winograd_backward_data_tile(float *dinp, const float *dout, const float *W, float *col,
                                size_t col_cap, int B, int H, int Wd, int Cin, int Cout, int m);

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
int winograd_forward_pre(float *out, const float *inp, const float *U, const winograd_epilogue *ep,
                         float *col, size_t col_cap, int B, int H, int Wd, int Cin, int Cout, int m);

/* dW (3, 3, Cin, Cout) += the weight gradient of that convolution given inp (B, H, W, Cin) and
 * dout (B, H, W, Cout). */
int winograd_backward_filter(float *dW, const float *inp, const float *dout, float *col,
                             size_t col_cap, int B, int H, int Wd, int Cin, int Cout);

#endif
