/* relu.h — the rectifier max(x, 0), elementwise (the Fashion-MNIST classifier's conv layers;
 * the Inception port fuses its ReLU into conv_im2col_forward). relu_backward ADDS into dinp and
 * needs the forward input; the subgradient at 0 is 0. Single-threaded plain loops. */
#ifndef DDPM_NN_RELU_H
#define DDPM_NN_RELU_H

#include <stddef.h>

/* out (n) = max(inp, 0); out may alias inp. */
void relu_forward(float *out, const float *inp, size_t n);
/* dinp (n) += dout where inp > 0. */
void relu_backward(float *dinp, const float *dout, const float *inp, size_t n);

#endif
