/* resumable.h — sampling and NLL as the batch jobs of a resumable output (eval/partial.h): the
 * partial_compute_fn of ddpm_generate_batch and ddpm_eval_bpd_batch, shared by `ddpm sample`,
 * `ddpm bpd` and the drivers' evaluation cache. */
#ifndef DDPM_EVAL_RESUMABLE_H
#define DDPM_EVAL_RESUMABLE_H

#include "eval/ddpm_model.h"

#include <stdint.h>

/* x (n, H, W, C) in [-1, 1] and its uint8 image u8 (may be NULL); rec: pred_xstart snapshots
 * (K, n, H, W, C) when every > 0, else NULL. */
typedef struct {
    ddpm_model *m;
    int n;
    uint64_t seed;
    int batch;
    float *x;
    int every;
    float *rec;
    uint8_t *u8;
} resumable_sample_job;

int resumable_sample_batch(void *user, int b, int i0, int nb, void (*step)(void *, int, int), void *step_user);

/* x0 (n, H, W, C) in [-1, 1]; outputs as ddpm_eval_bpd. */
typedef struct {
    ddpm_model *m;
    const float *x0;
    int n, batch;
    uint64_t seed;
    double *total, *prior, *terms, *mse;
} resumable_bpd_job;

int resumable_bpd_batch(void *user, int b, int i0, int nb, void (*step)(void *, int, int), void *step_user);

/* What a result depends on besides the command's own settings, for resume keys: the weights
 * actually loaded (their digest), which ones (ema|model) and the effective config's hash. */
void resumable_weights_key(ddpm_model *m, const ddpm_config *c, const char *which, char *key, size_t n);

#endif
