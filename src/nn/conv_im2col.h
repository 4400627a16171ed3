/* conv_im2col.h — generic 2-D convolution forward over NHWC tensors (im2col + cblas_sgemm),
 * for the Inception port: any kernel (kh x kw), stride and zero padding, optional bias and
 * ReLU, output written into a channel slice of a wider tensor (so Inception branches
 * concatenate in place). Forward only; the U-Net's trainable convolution is src/nn/conv2d.
 *
 * Weights are HWIO, [kh, kw, Cin, Cout] row-major (TensorFlow's layout): row (ky, kx, ci) of
 * the im2col matrix times column co. Output size per axis: (in + 2*pad - k) / stride + 1.
 * Padding here is symmetric (ph, pw before and after each axis).
 * No OpenMP inside: callers parallelize over examples (see inception.c for why). */
#ifndef DDPM_NN_CONV_IM2COL_H
#define DDPM_NN_CONV_IM2COL_H

#include "nn/im2col.h" /* conv_geom, im2col_rows: the same im2col as the U-Net's */

#include <stddef.h>

int conv_im2col_out_size(int in, int k, int stride, int pad);

/* out:  (B, Ho, Wo, out_ld), channels [0, Cout) written (the caller offsets the pointer to a
 *       channel slice; out_ld = total channels of that tensor)
 * inp:  (B, H, W, Cin)
 * w:    (kh, kw, Cin, Cout);  bias: (Cout) or NULL;  relu: apply max(0, .) after the bias
 * col:  workspace of col_cap floats; it must hold at least one im2col row (kh*kw*Cin floats);
 *       larger workspaces let each sgemm cover more rows. Unused for 1x1/stride 1/no padding.
 * Returns DDPM_ERR (message set) when the geometry is invalid or col is too small. */
int conv_im2col_forward(float *out, int out_ld, const float *inp, const float *w, const float *bias, int relu,
                        float *col, size_t col_cap, int B, int H, int W, int Cin, int Cout, conv_geom g);

#endif
