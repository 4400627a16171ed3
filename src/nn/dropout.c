#include "nn/dropout.h"

#include "nn/parallel.h"

#include "core/rng.h"

void dropout_forward(float *out, uint8_t *mask, const float *inp, double p, uint64_t seed, int layer, uint32_t step,
                     int B, size_t n)
{
    dropout_forward_at(out, mask, inp, p, seed, layer, step, 0, B, n);
}

void dropout_forward_at(float *out, uint8_t *mask, const float *inp, double p, uint64_t seed, int layer, uint32_t step,
                        uint32_t first, int B, size_t n)
{
    const float scale = (float)(1.0 / (1.0 - p));
    const float pf = (float)p;
#pragma omp parallel for if (NN_PAR_IF((size_t)B * n)) schedule(static)
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * n;
        uint8_t *m = mask + (size_t)b * n;
        const float *x = inp + (size_t)b * n;
        rng_uniform_fill(rng_stream_make(seed, (uint32_t)(RNG_DROPOUT + layer), step, first + (uint32_t)b), o, n);
        for (size_t j = 0; j < n; j++) {
            m[j] = o[j] >= pf;
            o[j] = m[j] ? x[j] * scale : 0.0f;
        }
    }
}

void dropout_backward(float *dinp, const float *dout, const uint8_t *mask, double p, int B, size_t n)
{
    const float scale = (float)(1.0 / (1.0 - p));
    const size_t total = (size_t)B * n;
#pragma omp parallel for if (NN_PAR_IF(total)) schedule(static)
    for (size_t i = 0; i < total; i++)
        if (mask[i]) dinp[i] += dout[i] * scale;
}
