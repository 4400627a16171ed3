/* im2col.h — the im2col matrix of a 2-D convolution over NHWC tensors, shared by the U-Net's
 * convolution (src/nn/conv2d.c) and the Inception port's (src/nn/conv_im2col.c).
 *
 * Row m is output pixel (b, oy, ox) in NHWC order; its columns are (ky, kx, ci), so a row times
 * weights in TF layout [kh, kw, Cin, Cout] is a plain GEMM. Taps outside the image are zero. */
#ifndef DDPM_NN_IM2COL_H
#define DDPM_NN_IM2COL_H

typedef struct {
    int kh, kw; /* kernel height, width */
    int sh, sw; /* stride */
    int ph, pw; /* zero padding before each axis (the padding after follows from the sizes) */
} conv_geom;

/* col (m1-m0, kh*kw*Cin) = rows [m0, m1) of the im2col matrix of inp (B, H, W, Cin) for an
 * output of Ho x Wo pixels per example. */
void im2col_rows(float *col, const float *inp, long m0, long m1, int H, int W, int Cin, int Ho, int Wo, conv_geom g);

#endif
