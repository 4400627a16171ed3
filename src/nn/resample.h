/* resample.h — the U-Net's resolution changes without parameters (NHWC):
 *   nearest-neighbour x2 upsampling (tf.image.resize NEAREST_NEIGHBOR; for an exact factor of 2
 *   every output pixel (y, x) copies input (y/2, x/2)), and 2x2/stride-2 average pooling
 *   (tf.nn.avg_pool 'SAME' on even sizes, used when resamp_with_conv = 0).
 * Backward functions ADD into dinp. */
#ifndef DDPM_NN_RESAMPLE_H
#define DDPM_NN_RESAMPLE_H

/* out (B, 2H, 2W, C) from inp (B, H, W, C). */
void upsample_nearest2_forward(float *out, const float *inp, int B, int H, int W, int C);
/* dinp (B, H, W, C) += sum of the 4 gradients of each input pixel's copies in dout (B, 2H, 2W, C). */
void upsample_nearest2_backward(float *dinp, const float *dout, int B, int H, int W, int C);

/* out (B, H/2, W/2, C) = mean of each 2x2 block of inp (B, H, W, C); H and W even. */
void avgpool2_forward(float *out, const float *inp, int B, int H, int W, int C);
/* dinp (B, H, W, C) += dout (B, H/2, W/2, C) / 4 spread over each block. */
void avgpool2_backward(float *dinp, const float *dout, int B, int H, int W, int C);

#endif
