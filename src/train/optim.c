#include "train/optim.h"

#include "nn/parallel.h"

#include "core/common.h"

#include <math.h>

/* Fixed-size blocks summed in order: the partition does not depend on the thread count. */
#define NORM_BLOCK 65536

double grad_global_norm(const float *g, size_t n)
{
    const size_t nblk = (n + NORM_BLOCK - 1) / NORM_BLOCK;
    double total = 0.0;
#pragma omp parallel for if (NN_PAR_IF(n)) schedule(static) ordered
    for (size_t blk = 0; blk < nblk; blk++) {
        const size_t lo = blk * NORM_BLOCK, hi = lo + NORM_BLOCK < n ? lo + NORM_BLOCK : n;
        double s = 0.0;
        for (size_t i = lo; i < hi; i++) s += (double)g[i] * (double)g[i];
#pragma omp ordered
        total += s;
    }
    return sqrt(total);
}

double clip_grad_global_norm(float *g, size_t n, double clip)
{
    const double norm = grad_global_norm(g, n);
    const double scale = clip / (norm > clip ? norm : clip);
    if (scale != 1.0) {
        const float sf = (float)scale;
#pragma omp parallel for if (NN_PAR_IF(n)) schedule(static)
        for (size_t i = 0; i < n; i++) g[i] *= sf;
    }
    return norm;
}

double warmed_up_lr(double lr, int warmup, int64_t step)
{
    if (warmup <= 0) return lr;
    double f = (double)step / (double)warmup;
    return lr * (f < 1.0 ? f : 1.0);
}

int adam_init(adam_state *s, size_t n)
{
    s->n = n;
    s->t = 0;
    s->beta1 = 0.9;
    s->beta2 = 0.999;
    s->eps = 1e-8;
    s->m = ddpm_alloc(n * sizeof(float));
    s->v = s->m ? ddpm_alloc(n * sizeof(float)) : NULL;
    if (!s->v) {
        ddpm_free(s->m);
        s->m = NULL;
        return ddpm_error_prefix("adam_init: %zu parameters", n);
    }
    return DDPM_OK;
}

void adam_free(adam_state *s)
{
    ddpm_free(s->m);
    ddpm_free(s->v);
    s->m = s->v = NULL;
}

void adam_update(adam_state *s, float *params, const float *grads, double lr)
{
    s->t += 1;
    const double t = (double)s->t;
    const float lr_t = (float)(lr * sqrt(1.0 - pow(s->beta2, t)) / (1.0 - pow(s->beta1, t)));
    /* coefficients rounded once from double, as TF/PyTorch scalar arithmetic does */
    const float b1 = (float)s->beta1, b2 = (float)s->beta2, eps = (float)s->eps;
    const float c1 = (float)(1.0 - s->beta1), c2 = (float)(1.0 - s->beta2);
    float *m = s->m, *v = s->v;
    const size_t n = s->n;
#pragma omp parallel for if (NN_PAR_IF(n)) schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float g = grads[i];
        m[i] = b1 * m[i] + c1 * g;
        v[i] = b2 * v[i] + c2 * g * g;
        params[i] -= lr_t * m[i] / (sqrtf(v[i]) + eps);
    }
}

void ema_update(float *ema, const float *params, size_t n, double decay)
{
    const float a = (float)(1.0 - decay);
#pragma omp parallel for if (NN_PAR_IF(n)) schedule(static)
    for (size_t i = 0; i < n; i++) ema[i] -= a * (ema[i] - params[i]);
}
