/* swish.h — the official nonlinearity swish(x) = x * sigmoid(x) (tf.nn.swish), elementwise.
 * swish_backward ADDS dout * swish'(inp) into dinp; it needs the forward input.
 * The U-Net's swish uses the vectorised nn_expf (nn/expf_simd.h, <= 2 ulp); the *_libm pair
 * calls glibc's expf and is kept for the shipped Fashion-MNIST classifier, whose features
 * (FD_fmnist / IS_fmnist) and recorded training digests were computed with it and must not
 * move with the U-Net's speed work. */
#ifndef DDPM_NN_SWISH_H
#define DDPM_NN_SWISH_H

#include <stddef.h>

/* out (n) = inp * sigmoid(inp); out may alias inp. */
void swish_forward(float *out, const float *inp, size_t n);
/* dinp (n) += dout * (s + inp * s * (1 - s)), s = sigmoid(inp). */
void swish_backward(float *dinp, const float *dout, const float *inp, size_t n);
/* The same with glibc expf (the classifier's). */
void swish_forward_libm(float *out, const float *inp, size_t n);
void swish_backward_libm(float *dinp, const float *dout, const float *inp, size_t n);

#endif
