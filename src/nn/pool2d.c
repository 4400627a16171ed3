#include "nn/pool2d.h"

#include <math.h>
#include <stddef.h>

static int out_size(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

/* The taps of output position o (stride s, padding p) that fall inside an input of n: [*lo, *hi). */
static void window(int o, int n, int k, int s, int p, int *lo, int *hi)
{
    const int first = o * s - p;
    *lo = first < 0 ? 0 : first;
    *hi = first + k < n ? first + k : n;
}

void maxpool2d_nhwc_forward(float *out, int out_ld, const float *inp, int B, int H, int W, int C, int k, int s, int p)
{
    const int Ho = out_size(H, k, s, p), Wo = out_size(W, k, s, p);
    for (long r = 0; r < (long)B * Ho * Wo; r++) {
        int b = (int)(r / ((long)Ho * Wo)), oy = (int)(r / Wo % Ho), ox = (int)(r % Wo);
        float *o = out + r * out_ld;
        for (int c = 0; c < C; c++) o[c] = -INFINITY;
        int y0, y1, x0, x1;
        window(oy, H, k, s, p, &y0, &y1);
        window(ox, W, k, s, p, &x0, &x1);
        for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) {
                const float *x = inp + (((size_t)b * H + iy) * W + ix) * C;
                for (int c = 0; c < C; c++) o[c] = x[c] > o[c] ? x[c] : o[c];
            }
    }
}

void avgpool2d_nhwc_forward(float *out, const float *inp, int count_include_pad, int B, int H, int W, int C, int k,
                            int s, int p)
{
    const int Ho = out_size(H, k, s, p), Wo = out_size(W, k, s, p);
    for (long r = 0; r < (long)B * Ho * Wo; r++) {
        int b = (int)(r / ((long)Ho * Wo)), oy = (int)(r / Wo % Ho), ox = (int)(r % Wo);
        float *o = out + r * C;
        for (int c = 0; c < C; c++) o[c] = 0.0f;
        int taps = 0, y0, y1, x0, x1;
        window(oy, H, k, s, p, &y0, &y1);
        window(ox, W, k, s, p, &x0, &x1);
        for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) {
                const float *x = inp + (((size_t)b * H + iy) * W + ix) * C;
                for (int c = 0; c < C; c++) o[c] += x[c];
                taps++;
            }
        float div = (float)(count_include_pad ? k * k : taps);
        for (int c = 0; c < C; c++) o[c] /= div;
    }
}

void global_avgpool_nhwc_forward(float *out, const float *inp, int B, int HW, int C)
{
    for (long bc = 0; bc < (long)B * C; bc++) {
        long b = bc / C, c = bc % C;
        const float *x = inp + (size_t)b * HW * C + c;
        double acc = 0;
        for (int i = 0; i < HW; i++) acc += (double)x[(size_t)i * C];
        out[bc] = (float)(acc / HW);
    }
}
