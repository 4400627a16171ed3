/* diffusion.h — the Gaussian diffusion of Ho et al. 2020 (official GaussianDiffusion2):
 * beta schedules and their float64 tables, the forward process q, the reverse-process
 * parameterisations p(x_{t-1}|x_t), the training losses with their gradient w.r.t. the network
 * output, the variational bound in bits/dim (calc_bpd_loop) and ancestral sampling.
 *
 * Contract:
 * - Images are NHWC float32; one example is D = H*W*C contiguous floats. Timesteps are int32,
 *   0-based (t = 0 is "diffused for one step"), one per example.
 * - The network output model_out is (B,H,W,Cout) with Cout = C, or 2C for learned variance:
 *   per pixel, channels [0,C) are the mean part and [C,2C) the log-variance.
 * - All per-element math runs in double on the float inputs with the float64 tables; losses
 *   are averaged in double ("mean_flat"); tensors written back are float32.
 * - Per-example work is independent, so results do not depend on the batch split or the
 *   thread count; random numbers come from the counter RNG keyed by example index.
 * - Functions returning int return DDPM_OK or DDPM_ERR with ddpm_error() set.
 * - Calling convention (docs/architecture.md): outputs first, then the data inputs, then the
 *   diffusion d (the tables, as a layer's weights) and scalar options, then the workspace,
 *   dimensions last. Gradients are ADDED into their buffer, as the nn backward passes do. */
#ifndef DDPM_DIFFUSION_H
#define DDPM_DIFFUSION_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* Fills out (B,H,W,Cout) with the network output for x (B,H,W,C) at timesteps t (B).
 * Returns DDPM_OK or DDPM_ERR (error message set). A callback: its context comes first, as
 * C callbacks take it (ddpm_model_denoise in eval/ddpm_model.h is the one the tools pass). */
typedef int (*denoise_fn)(void *ctx, const float *x, const int32_t *t, int B, float *out);

typedef struct {
    int T;
    model_mean_type_t mean_type;
    model_var_type_t var_type;
    loss_type_t loss_type;
    /* Each (T), float64; one allocation owned by the struct (betas is its start). */
    double *betas, *alphas_cumprod, *alphas_cumprod_prev, *sqrt_alphas_cumprod, *sqrt_one_minus_alphas_cumprod,
        *log_one_minus_alphas_cumprod, *sqrt_recip_alphas_cumprod, *sqrt_recipm1_alphas_cumprod, *posterior_variance,
        *posterior_log_variance_clipped, *posterior_mean_coef1, *posterior_mean_coef2;
    /* Per t for fixed variance types (NULL for learned):
     * fixedsmall: (posterior_variance, posterior_log_variance_clipped);
     * fixedlarge: (append(posterior_variance[1], betas[1:]), its log) — the t = 0 value is
     * beta-tilde_1 for a better decoder likelihood, as the official code does. */
    double *model_variance_fixed, *model_log_variance_fixed;
} diffusion;

/* ---- schedule and tables (schedule.c) ---- */

/* betas (T) for a schedule, as the official get_beta_schedule (linspace semantics of numpy:
 * start + i*step with the last point exactly the end). T >= 1. */
int get_beta_schedule(beta_schedule_t s, double beta_start, double beta_end, int T, double *betas);
/* Tables from cfg's num_diffusion_timesteps, beta_schedule, beta_start/end and the
 * mean/var/loss types. T must be >= 2 (posterior_variance[1] is needed); betas in (0, 1]. */
int diffusion_init(diffusion *d, const ddpm_config *cfg);
/* The same from explicit betas (T) — for tests and custom schedules. */
int diffusion_init_betas(diffusion *d, const double *betas, int T, model_mean_type_t mean_type,
                         model_var_type_t var_type, loss_type_t loss_type);
void diffusion_free(diffusion *d);

/* xt (B,D) = sqrt(ac[t]) x0 + sqrt(1-ac[t]) noise, per example; D = elements per example.
 * Precondition: 0 <= t[b] < T. xt may alias x0 or noise. */
void q_sample(float *xt, const float *x0, const int32_t *t, const float *noise, const diffusion *d, int B, size_t D);
/* Posterior mean of q(x_{t-1} | x_t, x_0) = coef1[t] x0 + coef2[t] x_t, (B,D). Its variance is
 * d->posterior_variance[t] (log: posterior_log_variance_clipped[t]). Precondition as q_sample. */
void q_posterior_mean(float *mean, const float *x0, const float *xt, const int32_t *t, const diffusion *d, int B,
                      size_t D);
/* Fills x (B,D) with x_T ~ N(0,I): example b from rng_stream_make(seed, RNG_SAMPLE_XT, 0,
 * example_offset + b). */
void diffusion_sample_xT(float *x, uint64_t seed, uint32_t example_offset, int B, size_t D);

/* ---- p(x_{t-1}|x_t) and the training losses (losses.c) ---- */

/* p(x_{t-1}|x_t): writes mean, log_var (per element) and pred_xstart, each (B,H,W,C) and any
 * of them may be NULL, from model_out (B,H,W,Cout), Cout = C or 2C, and xt (B,H,W,C) at
 * timesteps t (B). With clip_denoised, pred_xstart is clipped to [-1,1] before it forms the
 * mean (xstart/eps; for xprev the mean is the output itself). Outputs may alias xt (each element
 * is read before it is written). */
int p_mean_variance(float *mean, float *log_var, float *pred_xstart, const float *model_out, const float *xt,
                    const int32_t *t, const diffusion *d, int clip_denoised, int B, int H, int W, int C);

/* The training loss of d's mean/var/loss types per example, loss (B) (bits/dim for kl; no
 * clipping of pred_xstart), and — when dmodel_out != NULL — the gradient of (1/B) sum_b loss[b]
 * w.r.t. model_out (B,H,W,Cout), ADDED into dmodel_out (zero it first for the gradient alone).
 * loss may be NULL. x_t is given (the caller made it with q_sample from noise). noise is read
 * only by mse with eps (may be NULL otherwise). mse with learned variance is an error. */
int training_losses(double *loss, float *dmodel_out, const float *model_out, const float *x0, const float *xt,
                    const float *noise, const int32_t *t, const diffusion *d, int B, int H, int W, int C);
/* As training_losses for B examples that are a block of a batch of B_total: the gradient is
 * that of (1/B_total) sum over the whole batch, restricted to these B examples. */
int training_losses_block(double *loss, float *dmodel_out, const float *model_out, const float *x0, const float *xt,
                          const float *noise, const int32_t *t, const diffusion *d, int B, int B_total, int H, int W,
                          int C);

/* The official _vb_terms_bpd per example, terms (B): KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t))
 * in bits/dim for t > 0, the discretized decoder NLL in bits/dim for t == 0. pred_xstart
 * (B,H,W,C) may be NULL; mse (B), the mean squared error of pred_xstart vs x0, may be NULL. */
int vb_terms_bpd(double *terms, float *pred_xstart, double *mse, const float *model_out, const float *x0,
                 const float *xt, const int32_t *t, const diffusion *d, int clip_denoised, int B, int H, int W, int C);

/* ---- the loops' workspace (workspace.c) ---- */

/* Scratch memory of p_sample_loop and calc_bpd_loop for batches of up to B examples of
 * (H,W,C) with network outputs of Cout channels (C, or 2C for learned variance) under d's T:
 * one block, allocated once by the caller and reused for every batch, so a loop over a data
 * set allocates nothing per batch. */
typedef struct diffusion_workspace diffusion_workspace;

/* NULL with the error set when the sizes are bad, Cout does not match d's variance type or
 * memory runs out. */
diffusion_workspace *diffusion_workspace_alloc(const diffusion *d, int B, int H, int W, int C, int Cout);
void diffusion_workspace_free(diffusion_workspace *ws); /* NULL is a no-op */
int diffusion_workspace_max_batch(const diffusion_workspace *ws);

/* progress(user, done, total) after each step of a loop. */
typedef void (*diffusion_progress_fn)(void *user, int done, int total);

/* ---- likelihood (likelihood.c) ---- */

/* Prior term KL(q(x_T|x_0) || N(0,I)) in bits/dim per example, out (B). */
void prior_bpd(double *out, const float *x0, const diffusion *d, int B, size_t D);

typedef struct {
    uint64_t seed;                  /* noise for step t of example b comes from             */
    uint32_t example_offset;        /* rng_stream_make(seed, RNG_BPD_NOISE, t, example_offset + b) */
    diffusion_progress_fn progress; /* NULL: none; called after each t with (user, done, T) */
    void *user;
} bpd_opts;
/* Seed 0, offset 0, no progress. */
void bpd_opts_default(bpd_opts *o);

/* The full likelihood as calc_bpd_loop, batched over B examples x0 (B,H,W,C). Outputs:
 * total_bpd (B), prior (B), terms_bpd (B,T) and mse (B,T) indexed by t (0-based); any may be
 * NULL. Because the noise is keyed by the example index (opts->example_offset + b), a data set
 * evaluated in batches gives the same numbers as one big batch. pred_xstart is clipped
 * (clip_denoised = True). opts NULL means bpd_opts_default. ws from diffusion_workspace_alloc
 * for at least B examples of this shape. */
int calc_bpd_loop(double *total_bpd, double *prior, double *terms_bpd, double *mse, const float *x0, const diffusion *d,
                  denoise_fn fn, void *ctx, const bpd_opts *opts, diffusion_workspace *ws, int B, int H, int W, int C);

/* ---- sampling (sampling.c) ---- */

/* One reverse step at timestep t for all examples: x_prev = mean + (t != 0) exp(0.5 log_var) z
 * from model_out (B,H,W,Cout) and xt (B,H,W,C), with z (B,H,W,C) given (may be NULL when
 * t == 0); pred_xstart (clipped to [-1,1]) optional output. x_prev may alias xt. */
int p_sample_step(float *x_prev, float *pred_xstart, const float *model_out, const float *xt, const float *z,
                  const diffusion *d, int t, int B, int H, int W, int C);

typedef struct {
    int t_start;                    /* x holds x_{t_start} on entry; default T - 1           */
    uint64_t seed;                  /* z for step t of example b comes from                  */
    uint32_t example_offset;        /* rng_stream_make(seed, RNG_SAMPLE_Z, t, example_offset + b) */
    int record_every;               /* > 0: snapshot pred_xstart where t % record_every == 0 */
    diffusion_progress_fn progress; /* NULL: none; called with (user, done, t_start + 1)     */
    void *user;
} p_sample_opts;
/* t_start = d->T - 1, seed 0, offset 0, no recording, no progress. */
void p_sample_opts_default(p_sample_opts *o, const diffusion *d);

/* Ancestral sampling of x (B,H,W,C) from t_start down to 0, in place (x holds x_{t_start} on
 * entry, x_0 on return; clip_denoised = True as official). If record != NULL and
 * opts->record_every > 0, after the step at every t with t % record_every == 0 the pred_xstart
 * is copied to record + k*B*D for k = 0,1,... in the order produced (t_start down to 0); the
 * count is p_sample_num_recorded(t_start, record_every) and is stored in *n_recorded (may be
 * NULL). opts NULL means p_sample_opts_default. ws from diffusion_workspace_alloc for at least
 * B examples of this shape. */
int p_sample_loop(float *x, float *record, int *n_recorded, const diffusion *d, denoise_fn fn, void *ctx,
                  const p_sample_opts *opts, diffusion_workspace *ws, int B, int H, int W, int C);
/* Number of pred_xstart snapshots p_sample_loop records (0 if record_every <= 0). */
int p_sample_num_recorded(int t_start, int record_every);

/* ---- Gaussian helpers (gaussian.c), exposed for tests ---- */

/* KL(N(mean1, exp(logvar1)) || N(mean2, exp(logvar2))) in nats. */
double normal_kl(double mean1, double logvar1, double mean2, double logvar2);
/* The tanh approximation of the standard normal CDF used by the official code. */
double approx_standard_normal_cdf(double x);
/* log P(bin of x) for data in {0..255} scaled to [-1,1]: bins x +- 1/255, open-ended below
 * -0.999 and above 0.999, probabilities floored at 1e-12. log_scale = log sigma. The official
 * function, evaluated from the small tail so far-tail bins do not cancel (see gaussian.c). */
double discretized_gaussian_log_likelihood(double x, double mean, double log_scale);

#endif
