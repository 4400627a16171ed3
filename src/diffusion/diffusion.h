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
 * - Functions returning int return DDPM_OK or DDPM_ERR with ddpm_error() set. */
#ifndef DDPM_DIFFUSION_H
#define DDPM_DIFFUSION_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* Fills out (B,H,W,Cout) with the network output for x (B,H,W,C) at timesteps t (B).
 * Returns DDPM_OK or DDPM_ERR (error message set). */
typedef int (*denoise_fn)(void *ctx, const float *x, const int32_t *t, int B, float *out);

typedef struct {
    int T;
    model_mean_type_t mean_type;
    model_var_type_t var_type;
    loss_type_t loss_type;
    /* Each (T), float64; one allocation owned by the struct (betas is its start). */
    double *betas, *alphas_cumprod, *alphas_cumprod_prev, *sqrt_alphas_cumprod,
           *sqrt_one_minus_alphas_cumprod, *log_one_minus_alphas_cumprod,
           *sqrt_recip_alphas_cumprod, *sqrt_recipm1_alphas_cumprod, *posterior_variance,
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

/* x_t = sqrt(ac[t]) x0 + sqrt(1-ac[t]) noise, per example; D = elements per example.
 * Precondition: 0 <= t[b] < T. xt may alias x0 or noise. */
void q_sample(const diffusion *d, const float *x0, const int32_t *t, const float *noise, int B,
              size_t D, float *xt);
/* Posterior mean of q(x_{t-1} | x_t, x_0) = coef1[t] x0 + coef2[t] x_t, (B,D). Its variance is
 * d->posterior_variance[t] (log: posterior_log_variance_clipped[t]). Precondition as q_sample. */
void q_posterior_mean(const diffusion *d, const float *x0, const float *xt, const int32_t *t,
                      int B, size_t D, float *mean);
/* Fills x (B,D) with x_T ~ N(0,I): example b from rng_stream_make(seed, RNG_SAMPLE_XT, 0,
 * example_offset + b). */
void diffusion_sample_xT(float *x, int B, size_t D, uint64_t seed, uint32_t example_offset);

/* ---- p(x_{t-1}|x_t) and the training losses (losses.c) ---- */

/* p(x_{t-1}|x_t): model_out (B,H,W,Cout), Cout = C or 2C; writes mean, log_var (per element)
 * and pred_xstart, each (B,H,W,C); any output pointer may be NULL. With clip_denoised,
 * pred_xstart is clipped to [-1,1] before it forms the mean (xstart/eps; for xprev the mean is
 * the output itself). Outputs may alias xt (each element is read before it is written). */
int p_mean_variance(const diffusion *d, const float *model_out, const float *xt, const int32_t *t,
                    int B, int H, int W, int C, int clip_denoised,
                    float *mean, float *log_var, float *pred_xstart);

/* The training loss of d's mean/var/loss types per example (bits/dim for kl; no clipping of
 * pred_xstart), and — when dmodel_out != NULL — the gradient of (1/B) sum_b loss[b] w.r.t.
 * model_out (B,H,W,Cout), written (not added). x_t is given (the caller made it with q_sample
 * from noise). loss (B). noise is read only by mse with eps (may be NULL otherwise). mse with
 * learned variance is an error. */
int training_losses(const diffusion *d, const float *model_out, const float *x0, const float *xt,
                    const float *noise, const int32_t *t, int B, int H, int W, int C,
                    double *loss, float *dmodel_out);
/* As training_losses for B examples that are a block of a batch of B_total: the gradient is
 * that of (1/B_total) sum over the whole batch, restricted to these B examples. */
int training_losses_block(const diffusion *d, const float *model_out, const float *x0, const float *xt,
                          const float *noise, const int32_t *t, int B, int B_total, int H, int W, int C,
                          double *loss, float *dmodel_out);

/* The official _vb_terms_bpd per example (B): KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)) in
 * bits/dim for t > 0, the discretized decoder NLL in bits/dim for t == 0. pred_xstart (B,H,W,C)
 * may be NULL; mse (B), the mean squared error of pred_xstart vs x0, may be NULL. */
int vb_terms_bpd(const diffusion *d, const float *model_out, const float *x0, const float *xt,
                 const int32_t *t, int B, int H, int W, int C, int clip_denoised,
                 double *terms, float *pred_xstart, double *mse);

/* ---- likelihood (likelihood.c) ---- */

/* Prior term KL(q(x_T|x_0) || N(0,I)) in bits/dim per example, out (B). */
void prior_bpd(const diffusion *d, const float *x0, int B, size_t D, double *out);

/* The full likelihood as calc_bpd_loop, batched over B examples. Outputs: total_bpd (B),
 * prior (B), terms_bpd (B,T) and mse (B,T) indexed by t (0-based); any may be NULL. Noise for
 * step t of example b comes from rng_stream_make(seed, RNG_BPD_NOISE, t, example_offset + b),
 * so a dataset evaluated in batches gives the same numbers as one big batch. pred_xstart is
 * clipped (clip_denoised = True). progress may be NULL; if not, it is called after each t as
 * progress(user, done_steps, T). */
int calc_bpd_loop(const diffusion *d, denoise_fn fn, void *ctx, const float *x0, int B,
                  int H, int W, int C, uint64_t seed, uint32_t example_offset,
                  double *total_bpd, double *prior, double *terms_bpd, double *mse,
                  void (*progress)(void *user, int done, int total), void *user);

/* ---- sampling (sampling.c) ---- */

/* One reverse step: x_prev = mean + (t != 0) exp(0.5 log_var) z, with z (B,H,W,C) given (may be
 * NULL when t == 0); pred_xstart (clipped to [-1,1]) optional output. All examples at the same
 * t. x_prev may alias xt. */
int p_sample_step(const diffusion *d, const float *model_out, const float *xt, int t,
                  const float *z, int B, int H, int W, int C, float *x_prev, float *pred_xstart);

/* Ancestral sampling from x (B,H,W,C) at timestep t_start down to 0, in place (x holds
 * x_{t_start} on entry, x_0 on return; clip_denoised = True as official). z for step t of
 * example b from rng_stream_make(seed, RNG_SAMPLE_Z, t, example_offset + b). If record != NULL
 * and record_every > 0, after the step at every t with t % record_every == 0 the pred_xstart
 * is copied to record + k*B*D for k = 0,1,... in the order produced (t_start down to 0); the
 * count is p_sample_num_recorded(t_start, record_every) and is stored in *n_recorded (may be
 * NULL). progress(user, done, t_start + 1) after each step, may be NULL. */
int p_sample_loop(const diffusion *d, denoise_fn fn, void *ctx, float *x, int B, int H, int W,
                  int C, int t_start, uint64_t seed, uint32_t example_offset,
                  int record_every, float *record, int *n_recorded,
                  void (*progress)(void *user, int done, int total), void *user);
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
