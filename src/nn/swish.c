#include "nn/swish.h"

#include "nn/expf_simd.h"
#include "nn/parallel.h"

#include <math.h>

void swish_forward(float *out, const float *inp, size_t n)
{
#pragma omp parallel for simd if (NN_PAR_IF(n)) schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float x = inp[i], s = 1.0f / (1.0f + nn_expf(-x));
        out[i] = x * s;
    }
}

void swish_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
#pragma omp parallel for simd if (NN_PAR_IF(n)) schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float x = inp[i], s = 1.0f / (1.0f + nn_expf(-x));
        dinp[i] += dout[i] * (s + x * s * (1.0f - s));
    }
}

/* The classifier's frozen arithmetic: glibc expf, one call per element. */
void swish_forward_libm(float *out, const float *inp, size_t n)
{
#pragma omp parallel for if (NN_PAR_IF(n)) schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float x = inp[i], s = 1.0f / (1.0f + expf(-x));
        out[i] = x * s;
    }
}

void swish_backward_libm(float *dinp, const float *dout, const float *inp, size_t n)
{
#pragma omp parallel for if (NN_PAR_IF(n)) schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float x = inp[i], s = 1.0f / (1.0f + expf(-x));
        dinp[i] += dout[i] * (s + x * s * (1.0f - s));
    }
}
