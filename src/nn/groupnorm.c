#include "nn/groupnorm.h"

#include "nn/parallel.h"

#include <math.h>
#include <stddef.h>

void groupnorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                       const float *beta, int B, int N, int C, int G)
{
    const int Cg = C / G;
    const double count = (double)N * Cg;
#pragma omp parallel for if (NN_PAR_IF((size_t)B * N * C)) collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int g = 0; g < G; g++) {
            const float *x = inp + (size_t)b * N * C + (size_t)g * Cg;
            double s = 0.0;
            for (int n = 0; n < N; n++)
                for (int c = 0; c < Cg; c++) s += x[(size_t)n * C + c];
            const double m = s / count;
            double ss = 0.0;
            for (int n = 0; n < N; n++)
                for (int c = 0; c < Cg; c++) {
                    double d = x[(size_t)n * C + c] - m;
                    ss += d * d;
                }
            const double r = 1.0 / sqrt(ss / count + GROUPNORM_EPS);
            mean[b * G + g] = (float)m;
            rstd[b * G + g] = (float)r;
            float *o = out + (size_t)b * N * C + (size_t)g * Cg;
            const float *ga = gamma + g * Cg, *be = beta + g * Cg;
            for (int n = 0; n < N; n++)
                for (int c = 0; c < Cg; c++) {
                    size_t i = (size_t)n * C + c;
                    o[i] = (float)((x[i] - m) * r) * ga[c] + be[c];
                }
        }
}

#define GN_CBLOCK 16

void groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *mean, const float *rstd, const float *gamma,
                        int B, int N, int C, int G)
{
    const int Cg = C / G;
    const double count = (double)N * Cg;
    /* dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dout * gamma */
#pragma omp parallel for if (NN_PAR_IF((size_t)B * N * C)) collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int g = 0; g < G; g++) {
            const size_t base = (size_t)b * N * C + (size_t)g * Cg;
            const float *x = inp + base, *dy = dout + base;
            const float *ga = gamma + g * Cg;
            const double m = mean[b * G + g], r = rstd[b * G + g];
            double s1 = 0.0, s2 = 0.0;
            for (int n = 0; n < N; n++)
                for (int c = 0; c < Cg; c++) {
                    size_t i = (size_t)n * C + c;
                    double dxh = (double)dy[i] * ga[c];
                    s1 += dxh;
                    s2 += dxh * (x[i] - m) * r;
                }
            const double a1 = s1 / count, a2 = s2 / count;
            float *dx = dinp + base;
            for (int n = 0; n < N; n++)
                for (int c = 0; c < Cg; c++) {
                    size_t i = (size_t)n * C + c;
                    double xh = (x[i] - m) * r;
                    double dxh = (double)dy[i] * ga[c];
                    dx[i] += (float)(r * (dxh - a1 - xh * a2));
                }
        }
    /* dgamma[c] = sum dout * xhat, dbeta[c] = sum dout over (b, n): one thread per block of
     * channels, summed in (b, n) order. */
    const int nblk = (C + GN_CBLOCK - 1) / GN_CBLOCK;
#pragma omp parallel for if (NN_PAR_IF((size_t)B * N * C)) schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        const int c0 = blk * GN_CBLOCK;
        const int nc = C - c0 < GN_CBLOCK ? C - c0 : GN_CBLOCK;
        double sg[GN_CBLOCK] = { 0 }, sb[GN_CBLOCK] = { 0 };
        for (int b = 0; b < B; b++)
            for (int n = 0; n < N; n++) {
                const size_t row = ((size_t)b * N + n) * C + c0;
                for (int c = 0; c < nc; c++) {
                    const int g = (c0 + c) / Cg;
                    const double xh = ((double)inp[row + c] - mean[b * G + g]) * rstd[b * G + g];
                    sg[c] += (double)dout[row + c] * xh;
                    sb[c] += dout[row + c];
                }
            }
        for (int c = 0; c < nc; c++) {
            dgamma[c0 + c] += (float)sg[c];
            dbeta[c0 + c] += (float)sb[c];
        }
    }
}
