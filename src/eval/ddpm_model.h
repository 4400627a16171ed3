/* ddpm_model.h — a trained model ready for evaluation: the U-Net with weights from a checkpoint
 * (EMA by default) and the diffusion of its config, exposed as a denoise_fn so the library's
 * sampling and likelihood loops can drive it in chunks of at most max_batch examples.
 * ddpm_generate and ddpm_eval_bpd are collective under MPI: each rank computes whole batches
 * (dist/shard.h) and every rank returns all n results, the serial bits. */
#ifndef DDPM_MODEL_EVAL_H
#define DDPM_MODEL_EVAL_H

#include "core/config.h"
#include "core/progress.h"
#include "diffusion/diffusion.h"
#include "model/unet.h"

typedef struct {
    ddpm_config cfg;
    unet *net;
    diffusion diff;
    int max_batch;
    int H, W, C, Cout;
    size_t D;                /* H*W*C */
    diffusion_workspace *ws; /* the sampling/likelihood loops' workspace, for batches up to ws_batch */
    int ws_batch;
} ddpm_model;

/* cfg: the effective config (the checkpoint's, possibly with overrides that do not change the
 * architecture). which: "ema" or "model". ckpt NULL: freshly initialised weights (seed). */
int ddpm_model_open(ddpm_model *m, const ddpm_config *cfg, const char *ckpt, const char *which, int max_batch);
void ddpm_model_close(ddpm_model *m);
/* denoise_fn: the network output (dropout off) for any B, computed in chunks. */
int ddpm_model_denoise(void *ctx, const float *x, const int32_t *t, int B, float *out);

/* n samples from x_T ~ N(0,I) (sample i uses RNG index i), written to out (n,H,W,C) in [-1,1].
 * record_every > 0: also pred_xstart snapshots into record (k, n, H, W, C) with *n_recorded. */
int ddpm_generate(ddpm_model *m, int n, uint64_t seed, int batch, float *out, int record_every, float *record,
                  int *n_recorded, progress *pb);
/* The full T-term likelihood of n images x0 (n,H,W,C) in [-1,1]: total (n), prior (n),
 * terms (n,T), mse (n,T); any output may be NULL. Example i uses RNG index i. */
int ddpm_eval_bpd(ddpm_model *m, const float *x0, int n, int batch, uint64_t seed, double *total, double *prior,
                  double *terms, double *mse, progress *pb);

/* One batch of the above, on this process only (no collective): batch b covers examples
 * [b*batch, min(n, (b+1)*batch)), whose rows of the full-size outputs (out, record (k, n, ...),
 * total, prior, terms, mse) it writes, with exactly the bits the whole call gives them. The
 * resumable outputs (eval/partial.h) drive these. step_cb(user, done, total) after every
 * diffusion step of the batch, may be NULL. */
int ddpm_generate_batch(ddpm_model *m, int n, uint64_t seed, int batch, int b, float *out, int record_every,
                        float *record, void (*step_cb)(void *user, int done, int total), void *user);
int ddpm_eval_bpd_batch(ddpm_model *m, const float *x0, int n, int batch, int b, uint64_t seed, double *total,
                        double *prior, double *terms, double *mse, void (*step_cb)(void *user, int done, int total),
                        void *user);

#endif
