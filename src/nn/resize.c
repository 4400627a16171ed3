#include "nn/resize.h"

#include <stddef.h>

/* Taps and weight along one axis exactly as PyTorch's CPU kernel computes them (checked bit
 * for bit against F.interpolate): the scale in/out is a float, the source coordinate
 * scale * (o + 0.5) - 0.5 is evaluated in double (the CPU accumulate type) and clamped at 0,
 * and only the weight src - floor(src) is rounded to float. */
static void source_tap(int o, int in, int out, int *i0, int *i1, float *l1)
{
    const float scale = (float)in / (float)out;
    double src = (double)scale * ((double)o + 0.5) - 0.5;
    if (src < 0.0) src = 0.0;
    int i = (int)src; /* floor: src >= 0 */
    if (i > in - 1) i = in - 1;
    double l = src - (double)i;
    if (l < 0.0) l = 0.0;
    if (l > 1.0) l = 1.0;
    *i0 = i;
    *i1 = i < in - 1 ? i + 1 : i;
    *l1 = (float)l;
}

void resize_bilinear_forward(float *out, const float *inp, int B, int H, int W, int C, int Ho, int Wo)
{
    for (long r = 0; r < (long)B * Ho; r++) {
        int b = (int)(r / Ho), oy = (int)(r % Ho);
        int y0, y1;
        float ly;
        source_tap(oy, H, Ho, &y0, &y1, &ly);
        const float hy = 1.0f - ly;
        const float *row0 = inp + ((size_t)b * H + y0) * W * C;
        const float *row1 = inp + ((size_t)b * H + y1) * W * C;
        float *o = out + (size_t)r * Wo * C;
        for (int ox = 0; ox < Wo; ox++) {
            int x0, x1;
            float lx;
            source_tap(ox, W, Wo, &x0, &x1, &lx);
            const float hx = 1.0f - lx;
            for (int c = 0; c < C; c++) {
                float a = row0[(size_t)x0 * C + c], bb = row0[(size_t)x1 * C + c];
                float d = row1[(size_t)x0 * C + c], e = row1[(size_t)x1 * C + c];
                o[(size_t)ox * C + c] = hy * (hx * a + lx * bb) + ly * (hx * d + lx * e);
            }
        }
    }
}
