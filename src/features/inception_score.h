/* inception_score.h — Inception Score (Salimans et al. 2016) from classifier logits.
 *
 * p(y|x) = softmax(logits) per row (log-sum-exp in double). The N rows are cut into `splits`
 * consecutive parts, part i = rows [i*N/splits, (i+1)*N/splits) (integer division, as in the
 * original code); per part IS_i = exp(mean over its rows of KL(p(y|x) || p(y))) with p(y) the
 * part's mean of p(y|x). Reports the mean and the standard deviation (ddof 0, numpy's default)
 * of IS_i. The usual setting is 10 splits over 50k samples. For Inception, pass the bias-free
 * logits of inception_forward() over all 1008 classes (see inception.h). */
#ifndef DDPM_INCEPTION_SCORE_H
#define DDPM_INCEPTION_SCORE_H

/* logits: (N, K) float32. Requires 1 <= splits <= N. */
int inception_score(const float *logits, int N, int K, int splits, double *mean, double *std);

#endif
