/* likelihood.c — the variational bound in bits/dim: the prior term L_T and the official
 * calc_bpd_loop over all T terms (eq. 5). */
#include <math.h>
#include <string.h>

#include "core/common.h"
#include "core/rng.h"
#include "diffusion/diffusion_internal.h"

void prior_bpd(double *out, const float *x0, const diffusion *d, int B, size_t D)
{
    const int T = d->T;
    const double a = d->sqrt_alphas_cumprod[T - 1], lv = d->log_one_minus_alphas_cumprod[T - 1];
    const double inv_ln2 = 1.0 / log(2.0);
    for (int b = 0; b < B; b++) {
        double sum = 0.0;
        for (size_t i = 0; i < D; i++)
            sum += normal_kl(a * (double)x0[(size_t)b * D + i], lv, 0.0, 0.0); /* KL(q(x_T|x_0) || N(0,I)) */
        out[b] = sum / (double)D * inv_ln2;
    }
}

void bpd_opts_default(bpd_opts *o)
{
    o->seed = 0;
    o->example_offset = 0;
    o->progress = NULL;
    o->user = NULL;
}

int calc_bpd_loop(double *total_bpd, double *prior, double *terms_bpd, double *mse, const float *x0, const diffusion *d,
                  denoise_fn fn, void *ctx, const bpd_opts *opts, diffusion_workspace *ws, int B, int H, int W, int C)
{
    DDPM_TRY(diffusion_workspace_check(ws, d, "calc_bpd_loop", B, H, W, C));
    bpd_opts defaults;
    if (!opts) {
        bpd_opts_default(&defaults);
        opts = &defaults;
    }
    const uint64_t seed = opts->seed;
    const uint32_t example_offset = opts->example_offset;
    const int T = d->T;
    const size_t D = (size_t)H * (size_t)W * (size_t)C, BD = (size_t)B * D;
    float *xt = ws->xt;                                              /* (B,H,W,C) */
    float *model_out = ws->model_out;                                /* (B,H,W,Cout) */
    double *terms_bt = ws->terms_bt;                                 /* (B,T) */
    double *step_terms = ws->step_terms, *step_mse = step_terms + B; /* (B), (B) */
    int32_t *tb = ws->tb;                                            /* (B) */
    for (int t = T - 1; t >= 0; t--) {
/* x_t = q_sample(x0, t, fresh noise); the noise is written into xt, then diffused in place */
#pragma omp parallel for schedule(static) if (BD > 16384)
        for (int b = 0; b < B; b++) {
            tb[b] = t;
            rng_normal_fill(rng_stream_make(seed, RNG_BPD_NOISE, (uint32_t)t, example_offset + (uint32_t)b),
                            xt + (size_t)b * D, D);
        }
        q_sample(xt, x0, tb, xt, d, B, D);
        if (fn(ctx, xt, tb, B, model_out) != DDPM_OK) return ddpm_error_prefix("calc_bpd_loop: model at t = %d", t);
        DDPM_TRY(vb_terms_bpd(step_terms, NULL, step_mse, model_out, x0, xt, tb, d, 1, B, H, W, C));
        for (int b = 0; b < B; b++) {
            terms_bt[(size_t)b * (size_t)T + (size_t)t] = step_terms[b];
            if (mse) mse[(size_t)b * (size_t)T + (size_t)t] = step_mse[b];
        }
        if (opts->progress) opts->progress(opts->user, T - t, T);
    }
    double *pri = step_terms; /* reuse: prior per example (B) */
    prior_bpd(pri, x0, d, B, D);
    for (int b = 0; b < B; b++) {
        double sum = 0.0;
        for (int t = 0; t < T; t++) sum += terms_bt[(size_t)b * (size_t)T + (size_t)t];
        if (total_bpd) total_bpd[b] = sum + pri[b];
        if (prior) prior[b] = pri[b];
    }
    if (terms_bpd) memcpy(terms_bpd, terms_bt, (size_t)B * (size_t)T * sizeof(double));
    return DDPM_OK;
}
