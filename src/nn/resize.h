/* resize.h — bilinear resize of NHWC float images with the semantics of PyTorch's
 * F.interpolate(mode="bilinear", align_corners=False, antialias=False), which pytorch-fid uses
 * to bring images to 299x299: the source coordinate of output pixel o is
 * max(0, (o + 0.5) * in/out - 0.5) with a float scale and the rest in double, like PyTorch's
 * CPU kernel, so the interpolation weights agree to the bit; the two taps are floor(src) and
 * min(floor(src) + 1, in - 1), weights 1 - l and l with l = float(src - floor(src)).
 * No antialiasing when shrinking. Single-threaded: callers parallelize over examples. */
#ifndef DDPM_NN_RESIZE_H
#define DDPM_NN_RESIZE_H

/* out: (B, Ho, Wo, C); inp: (B, H, W, C) */
void resize_bilinear_forward(float *out, const float *inp, int B, int H, int W, int C, int Ho, int Wo);

#endif
