/* likelihood.c — the variational bound in bits/dim: the prior term L_T and the official
 * calc_bpd_loop over all T terms (eq. 5). */
#include <math.h>
#include <string.h>

#include "core/common.h"
#include "core/rng.h"
#include "diffusion/diffusion.h"

void prior_bpd(const diffusion *d, const float *x0, int B, size_t D, double *out)
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

int calc_bpd_loop(const diffusion *d, denoise_fn fn, void *ctx, const float *x0, int B,
                  int H, int W, int C, uint64_t seed, uint32_t example_offset,
                  double *total_bpd, double *prior, double *terms_bpd, double *mse,
                  void (*progress)(void *user, int done, int total), void *user)
{
    if (B < 1 || H < 1 || W < 1 || C < 1)
        return ddpm_error("calc_bpd_loop: bad shape B=%d H=%d W=%d C=%d", B, H, W, C);
    const int T = d->T;
    const size_t D = (size_t)H * (size_t)W * (size_t)C, BD = (size_t)B * D;
    const int Cout = d->var_type == VAR_LEARNED ? 2 * C : C;
    float *xt = ddpm_alloc(BD * sizeof(float));                                 /* (B,H,W,C) */
    float *model_out = ddpm_alloc((size_t)B * (size_t)H * (size_t)W * (size_t)Cout * sizeof(float)); /* (B,H,W,Cout) */
    double *terms_bt = ddpm_alloc((size_t)B * (size_t)T * sizeof(double));      /* (B,T) */
    double *step_terms = ddpm_alloc((size_t)B * 2 * sizeof(double));           /* (2,B) */
    int32_t *tb = ddpm_alloc((size_t)B * sizeof(int32_t));                       /* (B) */
    int rc = DDPM_ERR;
    if (!xt || !model_out || !terms_bt || !step_terms || !tb) {
        ddpm_error_prefix("calc_bpd_loop (B = %d, T = %d)", B, T);
        goto done;
    }
    double *step_mse = step_terms + B;
    for (int t = T - 1; t >= 0; t--) {
        /* x_t = q_sample(x0, t, fresh noise); the noise is written into xt, then diffused in place */
        #pragma omp parallel for schedule(static) if (BD > 16384)
        for (int b = 0; b < B; b++) {
            tb[b] = t;
            rng_normal_fill(rng_stream_make(seed, RNG_BPD_NOISE, (uint32_t)t,
                                            example_offset + (uint32_t)b),
                            xt + (size_t)b * D, D);
        }
        q_sample(d, x0, tb, xt, B, D, xt);
        if (fn(ctx, xt, tb, B, model_out) != DDPM_OK) {
            ddpm_error_prefix("calc_bpd_loop: model at t = %d", t);
            goto done;
        }
        if (vb_terms_bpd(d, model_out, x0, xt, tb, B, H, W, C, 1, step_terms, NULL, step_mse) !=
            DDPM_OK)
            goto done;
        for (int b = 0; b < B; b++) {
            terms_bt[(size_t)b * (size_t)T + (size_t)t] = step_terms[b];
            if (mse) mse[(size_t)b * (size_t)T + (size_t)t] = step_mse[b];
        }
        if (progress) progress(user, T - t, T);
    }
    double *pri = step_terms; /* reuse: prior per example (B) */
    prior_bpd(d, x0, B, D, pri);
    for (int b = 0; b < B; b++) {
        double sum = 0.0;
        for (int t = 0; t < T; t++) sum += terms_bt[(size_t)b * (size_t)T + (size_t)t];
        if (total_bpd) total_bpd[b] = sum + pri[b];
        if (prior) prior[b] = pri[b];
    }
    if (terms_bpd) memcpy(terms_bpd, terms_bt, (size_t)B * (size_t)T * sizeof(double));
    rc = DDPM_OK;
done:
    ddpm_free(xt);
    ddpm_free(model_out);
    ddpm_free(terms_bt);
    ddpm_free(step_terms);
    ddpm_free(tb);
    return rc;
}
