/* swish.h — the official nonlinearity swish(x) = x * sigmoid(x) (tf.nn.swish), elementwise.
 * swish_backward ADDS dout * swish'(inp) into dinp; it needs the forward input. */
#ifndef DDPM_NN_SWISH_H
#define DDPM_NN_SWISH_H

#include <stddef.h>

/* out (n) = inp * sigmoid(inp); out may alias inp. */
void swish_forward(float *out, const float *inp, size_t n);
/* dinp (n) += dout * (s + inp * s * (1 - s)), s = sigmoid(inp). */
void swish_backward(float *dinp, const float *dout, const float *inp, size_t n);

#endif
