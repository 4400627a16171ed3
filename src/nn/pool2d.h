/* pool2d.h — pooling over NHWC tensors for the Inception port (forward only).
 *
 * Window k x k, stride s, padding p on each side; output size (in + 2p - k) / s + 1.
 * Max pooling treats padding as -infinity (PyTorch max_pool2d). Average pooling divides by
 * the number of taps inside the image when count_include_pad = 0 (TensorFlow 'SAME' pooling,
 * which the FID Inception blocks use) or by k*k when 1 (PyTorch's default). Single-threaded:
 * callers parallelize over examples. */
#ifndef DDPM_NN_POOL2D_H
#define DDPM_NN_POOL2D_H

/* out: (B, Ho, Wo, out_ld) channels [0, C) — a channel slice of a wider tensor
 * inp: (B, H, W, C) */
void maxpool2d_nhwc_forward(float *out, int out_ld, const float *inp, int B, int H, int W, int C, int k, int s, int p);
/* out: (B, Ho, Wo, C); inp: (B, H, W, C) */
void avgpool2d_nhwc_forward(float *out, const float *inp, int count_include_pad, int B, int H, int W, int C, int k,
                            int s, int p);
/* out: (B, C) mean over all H*W positions, accumulated in double; inp: (B, HW, C) */
void global_avgpool_nhwc_forward(float *out, const float *inp, int B, int HW, int C);

#endif
