#include "nn/swish.h"

#include "nn/parallel.h"

#include <math.h>

void swish_forward(float *out, const float *inp, size_t n)
{
#pragma omp parallel for if (NN_PAR_IF(n)) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float s = 1.0f / (1.0f + expf(-x));
        out[i] = x * s;
    }
}

void swish_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
#pragma omp parallel for if (NN_PAR_IF(n)) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float s = 1.0f / (1.0f + expf(-x));
        dinp[i] += dout[i] * (s + x * s * (1.0f - s));
    }
}
