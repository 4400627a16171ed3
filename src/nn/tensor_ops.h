/* tensor_ops.h — small tensor utilities shared by the layers: residual adds, channel concat for
 * the U-Net skips, column sums for bias gradients, per-example broadcast adds.
 *
 * Tensors are row-major; "rows" is B*H*W for an NHWC activation. Backward functions ADD into
 * their gradient outputs. Reductions accumulate in double; every output element is written by
 * one thread in a fixed order, so results do not depend on the thread count. */
#ifndef DDPM_NN_TENSOR_OPS_H
#define DDPM_NN_TENSOR_OPS_H

#include <stddef.h>

/* y += x, n elements. */
void add_inplace(float *y, const float *x, size_t n);

/* out (rows, C1+C2) = [a (rows, C1), b (rows, C2)] along the channel axis. */
void concat_channels_forward(float *out, const float *a, const float *b, size_t rows, int C1, int C2);
/* da (rows, C1) += dout[:, :C1]; db (rows, C2) += dout[:, C1:]. */
void concat_channels_backward(float *da, float *db, const float *dout, size_t rows, int C1, int C2);

/* db (C) += sum over rows of dout (rows, C), accumulated in double. */
void colsum_add(float *db, const float *dout, size_t rows, int C);

/* h (B, N, C) += v (B, C) broadcast over the N positions of each example. */
void add_broadcast_bnc(float *h, const float *v, int B, int N, int C);
/* dv (B, C) += sum over N of dh (B, N, C), accumulated in double. */
void add_broadcast_bnc_backward(float *dv, const float *dh, int B, int N, int C);

#endif
