#include "nn/groupnorm.h"

#include "nn/parallel.h"

#include <math.h>
#include <stddef.h>

/* The loops run over pixels with the channels of a run of whole groups innermost, so the
 * per-channel accumulators are contiguous and vectorise; group statistics are then the sums of
 * their channels' accumulators (each in double). A run holds at most GN_RUN channels. */
#define GN_RUN 1024

/* Groups per run: whole groups, at most GN_RUN channels (at least one group). */
static int groups_per_run(int Cg)
{
    int k = GN_RUN / Cg;
    return k < 1 ? 1 : k;
}

#include "nn/expf_simd.h"

/* The normalised value (float)((x - mean) * rstd) * gamma + beta of one run of channels c0 ..
 * c0 + nc of example b into out and, when act is set, swish of it (swish_forward's arithmetic on
 * the same float) into act; m and r hold the run's per-channel mean and rstd in double. The one
 * writer of groupnorm_forward's outputs and of groupnorm_apply's recomputation of them. */
static void gn_write(float *out, float *act, const float *inp, const double *m, const double *r, const float *gamma,
                     const float *beta, int b, int N, int C, int c0, int nc)
{
    const float *x = inp + (size_t)b * N * C + c0;
    const float *ga = gamma + c0, *be = beta + c0;
    if (!act) {
        float *o = out + (size_t)b * N * C + c0;
        for (int n = 0; n < N; n++) {
            const float *xr = x + (size_t)n * C;
            float *orow = o + (size_t)n * C;
#pragma omp simd
            for (int c = 0; c < nc; c++) orow[c] = (float)(((double)xr[c] - m[c]) * r[c]) * ga[c] + be[c];
        }
        return;
    }
    float *a = act + (size_t)b * N * C + c0;
    float *o = out ? out + (size_t)b * N * C + c0 : NULL;
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;
        float *arow = a + (size_t)n * C;
        if (o) {
            float *orow = o + (size_t)n * C;
#pragma omp simd
            for (int c = 0; c < nc; c++) {
                const float v = (float)(((double)xr[c] - m[c]) * r[c]) * ga[c] + be[c];
                orow[c] = v;
                arow[c] = v * (1.0f / (1.0f + nn_expf(-v)));
            }
        } else {
#pragma omp simd
            for (int c = 0; c < nc; c++) {
                const float v = (float)(((double)xr[c] - m[c]) * r[c]) * ga[c] + be[c];
                arow[c] = v * (1.0f / (1.0f + nn_expf(-v)));
            }
        }
    }
}

/* The normalised value of groupnorm_forward and, when act is set, swish of it (swish_forward's
 * arithmetic on the same float), in one pass over the output. out may be NULL when act is set. */
static void groupnorm_forward_impl(float *out, float *act, float *mean, float *rstd, double *mean_d, double *rstd_d,
                                   const float *inp, const float *gamma, const float *beta, int B, int N, int C, int G)
{
    const int Cg = C / G, gpr = groups_per_run(Cg);
    const double count = (double)N * Cg;
#pragma omp parallel for if (NN_PAR_IF((size_t)B * N * C)) schedule(static)
    for (int b = 0; b < B; b++)
        for (int g0 = 0; g0 < G; g0 += gpr) {
            const int ng = G - g0 < gpr ? G - g0 : gpr, c0 = g0 * Cg, nc = ng * Cg;
            const float *x = inp + (size_t)b * N * C + c0;
            double acc[GN_RUN], m[GN_RUN], r[GN_RUN];
            for (int c = 0; c < nc; c++) acc[c] = 0.0;
            for (int n = 0; n < N; n++) {
                const float *xr = x + (size_t)n * C;
#pragma omp simd
                for (int c = 0; c < nc; c++) acc[c] += (double)xr[c];
            }
            for (int g = 0; g < ng; g++) {
                double s = 0.0;
                for (int c = 0; c < Cg; c++) s += acc[g * Cg + c];
                for (int c = 0; c < Cg; c++) m[g * Cg + c] = s / count;
            }
            for (int c = 0; c < nc; c++) acc[c] = 0.0;
            for (int n = 0; n < N; n++) {
                const float *xr = x + (size_t)n * C;
#pragma omp simd
                for (int c = 0; c < nc; c++) {
                    const double d = (double)xr[c] - m[c];
                    acc[c] += d * d;
                }
            }
            for (int g = 0; g < ng; g++) {
                double ss = 0.0;
                for (int c = 0; c < Cg; c++) ss += acc[g * Cg + c];
                const double rs = 1.0 / sqrt(ss / count + GROUPNORM_EPS);
                for (int c = 0; c < Cg; c++) r[g * Cg + c] = rs;
                mean[b * G + g0 + g] = (float)m[g * Cg];
                rstd[b * G + g0 + g] = (float)rs;
                if (mean_d) {
                    mean_d[b * G + g0 + g] = m[g * Cg];
                    rstd_d[b * G + g0 + g] = rs;
                }
            }
            gn_write(out, act, inp, m, r, gamma, beta, b, N, C, c0, nc);
        }
}

void groupnorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma, const float *beta,
                       int B, int N, int C, int G)
{
    groupnorm_forward_impl(out, NULL, mean, rstd, NULL, NULL, inp, gamma, beta, B, N, C, G);
}

void groupnorm_swish_forward(float *out, float *act, float *mean, float *rstd, const float *inp, const float *gamma,
                             const float *beta, int B, int N, int C, int G)
{
    groupnorm_forward_impl(out, act, mean, rstd, NULL, NULL, inp, gamma, beta, B, N, C, G);
}

void groupnorm_swish_forward_keep(float *out, float *act, float *mean, float *rstd, double *mean_d, double *rstd_d,
                                  const float *inp, const float *gamma, const float *beta, int B, int N, int C, int G)
{
    groupnorm_forward_impl(out, act, mean, rstd, mean_d, rstd_d, inp, gamma, beta, B, N, C, G);
}

void groupnorm_apply(float *out, float *act, const float *inp, const double *mean_d, const double *rstd_d,
                     const float *gamma, const float *beta, int B, int N, int C, int G)
{
    const int Cg = C / G, gpr = groups_per_run(Cg);
#pragma omp parallel for if (NN_PAR_IF((size_t)B * N * C)) schedule(static)
    for (int b = 0; b < B; b++)
        for (int g0 = 0; g0 < G; g0 += gpr) {
            const int ng = G - g0 < gpr ? G - g0 : gpr, c0 = g0 * Cg, nc = ng * Cg;
            double m[GN_RUN], r[GN_RUN];
            for (int g = 0; g < ng; g++)
                for (int c = 0; c < Cg; c++) {
                    m[g * Cg + c] = mean_d[b * G + g0 + g];
                    r[g * Cg + c] = rstd_d[b * G + g0 + g];
                }
            gn_write(out, act, inp, m, r, gamma, beta, b, N, C, c0, nc);
        }
}

void groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout, const float *inp,
                        const float *mean, const float *rstd, const float *gamma, int B, int N, int C, int G)
{
    const int Cg = C / G, gpr = groups_per_run(Cg);
    const double count = (double)N * Cg;
    /* dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dout * gamma */
#pragma omp parallel for if (NN_PAR_IF((size_t)B * N * C)) schedule(static)
    for (int b = 0; b < B; b++)
        for (int g0 = 0; g0 < G; g0 += gpr) {
            const int ng = G - g0 < gpr ? G - g0 : gpr, c0 = g0 * Cg, nc = ng * Cg;
            const size_t base = (size_t)b * N * C + c0;
            const float *x = inp + base, *dy = dout + base, *ga = gamma + c0;
            double m[GN_RUN], r[GN_RUN], a1[GN_RUN], a2[GN_RUN];
            for (int g = 0; g < ng; g++)
                for (int c = 0; c < Cg; c++) {
                    m[g * Cg + c] = mean[b * G + g0 + g];
                    r[g * Cg + c] = rstd[b * G + g0 + g];
                }
            for (int c = 0; c < nc; c++) a1[c] = a2[c] = 0.0;
            for (int n = 0; n < N; n++) {
                const float *xr = x + (size_t)n * C, *dr = dy + (size_t)n * C;
#pragma omp simd
                for (int c = 0; c < nc; c++) {
                    const double dxh = (double)dr[c] * (double)ga[c];
                    a1[c] += dxh;
                    a2[c] += dxh * ((double)xr[c] - m[c]) * r[c];
                }
            }
            for (int g = 0; g < ng; g++) {
                double s1 = 0.0, s2 = 0.0;
                for (int c = 0; c < Cg; c++) {
                    s1 += a1[g * Cg + c];
                    s2 += a2[g * Cg + c];
                }
                for (int c = 0; c < Cg; c++) {
                    a1[g * Cg + c] = s1 / count;
                    a2[g * Cg + c] = s2 / count;
                }
            }
            float *dx = dinp + base;
            for (int n = 0; n < N; n++) {
                const float *xr = x + (size_t)n * C, *dr = dy + (size_t)n * C;
                float *dxr = dx + (size_t)n * C;
#pragma omp simd
                for (int c = 0; c < nc; c++) {
                    const double xh = ((double)xr[c] - m[c]) * r[c];
                    const double dxh = (double)dr[c] * (double)ga[c];
                    dxr[c] += (float)(r[c] * (dxh - a1[c] - xh * a2[c]));
                }
            }
        }
    /* dgamma[c] = sum dout * xhat, dbeta[c] = sum dout over (b, n): one thread per run of
     * channels, summed in (b, n) order. */
    const int cb = GN_RUN < 64 ? GN_RUN : 64;
    const int nblk = (C + cb - 1) / cb;
#pragma omp parallel for if (NN_PAR_IF((size_t)B * N * C)) schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        const int c0 = blk * cb;
        const int nc = C - c0 < cb ? C - c0 : cb;
        double sg[64] = { 0 }, sb[64] = { 0 }, m[64], r[64];
        for (int b = 0; b < B; b++) {
            for (int c = 0; c < nc; c++) {
                const int g = (c0 + c) / Cg;
                m[c] = mean[b * G + g];
                r[c] = rstd[b * G + g];
            }
            for (int n = 0; n < N; n++) {
                const size_t row = ((size_t)b * N + n) * C + c0;
                const float *xr = inp + row, *dr = dout + row;
#pragma omp simd
                for (int c = 0; c < nc; c++) {
                    sg[c] += (double)dr[c] * (((double)xr[c] - m[c]) * r[c]);
                    sb[c] += (double)dr[c];
                }
            }
        }
        for (int c = 0; c < nc; c++) {
            dgamma[c0 + c] += (float)sg[c];
            dbeta[c0 + c] += (float)sb[c];
        }
    }
}
