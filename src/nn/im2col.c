#include "nn/im2col.h"

#include <stddef.h>
#include <string.h>

void im2col_rows(float *col, const float *inp, long m0, long m1, int H, int W, int Cin, int Ho, int Wo, conv_geom g)
{
    const long K = (long)g.kh * g.kw * Cin;
    for (long m = m0; m < m1; m++) {
        const long b = m / ((long)Ho * Wo), r = m % ((long)Ho * Wo);
        const int oy = (int)(r / Wo), ox = (int)(r % Wo);
        float *dst = col + (m - m0) * K;
        for (int ky = 0; ky < g.kh; ky++) {
            const int iy = oy * g.sh - g.ph + ky;
            for (int kx = 0; kx < g.kw; kx++, dst += Cin) {
                const int ix = ox * g.sw - g.pw + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) memset(dst, 0, (size_t)Cin * sizeof *dst);
                else memcpy(dst, inp + (((size_t)b * H + iy) * W + ix) * Cin, (size_t)Cin * sizeof *dst);
            }
        }
    }
}
