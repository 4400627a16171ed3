#include "nn/timestep_embedding.h"

#include <math.h>
#include <stddef.h>

void timestep_embedding(float *out, const int32_t *t, int B, int dim)
{
    const int half = dim / 2;
    const float neg_scale = (float)(-log(10000.0) / (double)(half - 1));
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * dim;
        const float tb = (float)t[b];
        for (int i = 0; i < half; i++) {
            float freq = expf((float)i * neg_scale);
            float arg = tb * freq;
            o[i] = sinf(arg);
            o[half + i] = cosf(arg);
        }
    }
}
