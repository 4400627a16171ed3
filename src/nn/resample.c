#include "nn/resample.h"

#include "nn/parallel.h"

#include <stddef.h>
#include <string.h>

void upsample_nearest2_forward(float *out, const float *inp, int B, int H, int W, int C)
{
    const int Ho = 2 * H, Wo = 2 * W;
#pragma omp parallel for if (NN_PAR_IF((size_t)B * H * W * C * 4)) collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int y = 0; y < Ho; y++) {
            const float *src = inp + (((size_t)b * H + y / 2) * W) * C;
            float *dst = out + (((size_t)b * Ho + y) * Wo) * C;
            for (int x = 0; x < Wo; x++)
                memcpy(dst + (size_t)x * C, src + (size_t)(x / 2) * C, (size_t)C * sizeof(float));
        }
}

void upsample_nearest2_backward(float *dinp, const float *dout, int B, int H, int W, int C)
{
    const int Wo = 2 * W;
#pragma omp parallel for if (NN_PAR_IF((size_t)B * H * W * C * 4)) collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                float *d = dinp + (((size_t)b * H + y) * W + x) * C;
                const float *g00 = dout + (((size_t)b * 2 * H + 2 * y) * Wo + 2 * x) * C;
                const float *g01 = g00 + C;
                const float *g10 = g00 + (size_t)Wo * C;
                const float *g11 = g10 + C;
                for (int c = 0; c < C; c++) d[c] += (g00[c] + g01[c]) + (g10[c] + g11[c]);
            }
}

void avgpool2_forward(float *out, const float *inp, int B, int H, int W, int C)
{
    const int Ho = H / 2, Wo = W / 2;
#pragma omp parallel for if (NN_PAR_IF((size_t)B * H * W * C)) collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int y = 0; y < Ho; y++)
            for (int x = 0; x < Wo; x++) {
                float *o = out + (((size_t)b * Ho + y) * Wo + x) * C;
                const float *i00 = inp + (((size_t)b * H + 2 * y) * W + 2 * x) * C;
                const float *i01 = i00 + C;
                const float *i10 = i00 + (size_t)W * C;
                const float *i11 = i10 + C;
                for (int c = 0; c < C; c++) o[c] = ((i00[c] + i01[c]) + (i10[c] + i11[c])) * 0.25f;
            }
}

void avgpool2_backward(float *dinp, const float *dout, int B, int H, int W, int C)
{
    const int Ho = H / 2, Wo = W / 2;
#pragma omp parallel for if (NN_PAR_IF((size_t)B * H * W * C)) collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int y = 0; y < Ho; y++)
            for (int x = 0; x < Wo; x++) {
                const float *g = dout + (((size_t)b * Ho + y) * Wo + x) * C;
                float *d00 = dinp + (((size_t)b * H + 2 * y) * W + 2 * x) * C;
                float *d01 = d00 + C;
                float *d10 = d00 + (size_t)W * C;
                float *d11 = d10 + C;
                for (int c = 0; c < C; c++) {
                    float q = 0.25f * g[c];
                    d00[c] += q;
                    d01[c] += q;
                    d10[c] += q;
                    d11[c] += q;
                }
            }
}
