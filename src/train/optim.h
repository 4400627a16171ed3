/* optim.h — the official training-step arithmetic (diffusion_tf/utils.py, TF1 optimisers):
 * global-norm gradient clipping (tf.clip_by_global_norm), linear learning-rate warmup, Adam
 * (tf.train.AdamOptimizer) and the exponential moving average of the weights
 * (tf.train.ExponentialMovingAverage without num_updates).
 *
 * Norms accumulate in double. Every element is updated independently (OpenMP over elements),
 * so results do not depend on the thread count. */
#ifndef DDPM_TRAIN_OPTIM_H
#define DDPM_TRAIN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

/* sqrt(sum g^2) over n elements, accumulated in double in a fixed order. */
double grad_global_norm(const float *g, size_t n);
/* tf.clip_by_global_norm: g *= clip / max(norm, clip). Returns the pre-clip norm. */
double clip_grad_global_norm(float *g, size_t n, double clip);
/* lr * min(step / warmup, 1); step = updates done before this one (the first update uses 0
 * when warmup > 0); warmup 0 -> lr. */
double warmed_up_lr(double lr, int warmup, int64_t step);

typedef struct {
    float *m, *v; /* first and second moments, [n] */
    size_t n;
    int64_t t; /* updates done */
    double beta1, beta2, eps;
} adam_state;

/* beta1 0.9, beta2 0.999, eps 1e-8, t = 0, moments zero. */
int adam_init(adam_state *s, size_t n);
void adam_free(adam_state *s);
/* TF Adam: t += 1; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * lr_t = lr sqrt(1-b2^t) / (1-b1^t); p -= lr_t m / (sqrt(v) + eps). */
void adam_update(adam_state *s, float *params, const float *grads, double lr);
/* ema -= (1 - decay) (ema - p), n elements. */
void ema_update(float *ema, const float *params, size_t n, double decay);

#endif
