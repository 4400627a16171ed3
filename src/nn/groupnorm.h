/* groupnorm.h — Group Normalization (Wu & He 2018) as tf.contrib.layers.group_norm on NHWC:
 * per example and group of C/G consecutive channels, statistics over (H, W, C/G), biased
 * variance, eps = GROUPNORM_EPS, affine gamma/beta per channel.
 *
 * Statistics are accumulated in double (two passes: mean, then squared deviations); mean and
 * rstd = 1/sqrt(var + eps) are cached as float for the backward. Backward ADDS into dinp,
 * dgamma, dbeta. Output elements are written by one thread each; the gamma/beta reductions run
 * per channel in a fixed order, so results do not depend on the thread count. */
#ifndef DDPM_NN_GROUPNORM_H
#define DDPM_NN_GROUPNORM_H

#define GROUPNORM_EPS 1e-6

/* out, inp: (B, N, C) with N = H*W; gamma, beta: (C); mean, rstd: (B, G). C % G == 0.
 * out may not alias inp. */
void groupnorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma, const float *beta,
                       int B, int N, int C, int G);
/* The same and act (B, N, C) = swish(out) in one pass: bit-identical to groupnorm_forward then
 * swish_forward. out may be NULL (inference: only the activation is needed); act may not alias
 * inp or out. */
void groupnorm_swish_forward(float *out, float *act, float *mean, float *rstd, const float *inp, const float *gamma,
                             const float *beta, int B, int N, int C, int G);
/* As groupnorm_swish_forward (out or act may be NULL, not both), also keeping the statistics
 * in double, mean_d and rstd_d (B, G), for groupnorm_apply. */
void groupnorm_swish_forward_keep(float *out, float *act, float *mean, float *rstd, double *mean_d, double *rstd_d,
                                  const float *inp, const float *gamma, const float *beta, int B, int N, int C, int G);
/* Recomputes the forward's out (and act = swish(out) when act is set; out may be NULL when act
 * is set) from its input and the double statistics groupnorm_swish_forward_keep kept, by the
 * forward's own arithmetic: the same bits (a backward that does not store the output). */
void groupnorm_apply(float *out, float *act, const float *inp, const double *mean_d, const double *rstd_d,
                     const float *gamma, const float *beta, int B, int N, int C, int G);
/* dinp (B, N, C), dgamma (C), dbeta (C) += gradients given dout (B, N, C). */
void groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                        const float *mean, const float *rstd, const float *gamma, int B, int N, int C, int G);

#endif
