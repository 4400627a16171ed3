#include "features/inception_score.h"

#include "core/common.h"

#include <math.h>

/* log of the softmax denominator of one row */
static double log_sum_exp(const float *x, int K)
{
    double m = (double)-INFINITY, s = 0;
    for (int k = 0; k < K; k++) m = (double)x[k] > m ? (double)x[k] : m;
    for (int k = 0; k < K; k++) s += exp((double)x[k] - m);
    return m + log(s);
}

int inception_score(const float *logits, int N, int K, int splits, double *mean, double *std)
{
    if (K < 1 || splits < 1 || N < splits)
        return ddpm_error("inception_score: need 1 <= splits <= N and K >= 1 (N=%d K=%d splits=%d)", N, K, splits);
    for (size_t i = 0; i < (size_t)N * K; i++)
        if (!isfinite(logits[i])) return ddpm_error("inception_score: logit %zu is not finite", i);
    double *py = ddpm_alloc((size_t)K * sizeof *py), *lse = ddpm_alloc((size_t)N * sizeof *lse);
    double *score = ddpm_alloc((size_t)splits * sizeof *score);
    if (!py || !lse || !score) {
        ddpm_free(py);
        ddpm_free(lse);
        ddpm_free(score);
        return DDPM_ERR;
    }
    for (int i = 0; i < N; i++) lse[i] = log_sum_exp(logits + (size_t)i * K, K);
    for (int s = 0; s < splits; s++) {
        const int r0 = (int)((long)s * N / splits), r1 = (int)((long)(s + 1) * N / splits);
        for (int k = 0; k < K; k++) py[k] = 0;
        for (int r = r0; r < r1; r++)
            for (int k = 0; k < K; k++) py[k] += exp((double)logits[(size_t)r * K + k] - lse[r]);
        for (int k = 0; k < K; k++) py[k] = log(py[k] / (r1 - r0)); /* now log p(y) */
        double kl_sum = 0;
        for (int r = r0; r < r1; r++) {
            double kl = 0;
            for (int k = 0; k < K; k++) {
                double logp = (double)logits[(size_t)r * K + k] - lse[r], p = exp(logp);
                if (p > 0) kl += p * (logp - py[k]);
            }
            kl_sum += kl;
        }
        score[s] = exp(kl_sum / (r1 - r0));
    }
    double m = 0, v = 0;
    for (int s = 0; s < splits; s++) m += score[s];
    m /= splits;
    for (int s = 0; s < splits; s++) v += (score[s] - m) * (score[s] - m);
    *mean = m;
    *std = sqrt(v / splits);
    ddpm_free(py);
    ddpm_free(lse);
    ddpm_free(score);
    return DDPM_OK;
}
