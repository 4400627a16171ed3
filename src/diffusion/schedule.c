/* schedule.c — beta schedules, the float64 tables of GaussianDiffusion2, the forward process
 * q(x_t|x_0) and the posterior mean of q(x_{t-1}|x_t,x_0). */
#include <math.h>
#include <string.h>

#include "core/common.h"
#include "core/rng.h"
#include "diffusion/diffusion.h"

/* numpy.linspace(start, stop, n): start + i*step, step = (stop-start)/(n-1), last = stop. */
static void linspace(double start, double stop, int n, double *out)
{
    if (n <= 0) return;
    if (n == 1) {
        out[0] = start;
        return;
    }
    double step = (stop - start) / (double)(n - 1);
    for (int i = 0; i < n; i++) out[i] = start + (double)i * step;
    out[n - 1] = stop;
}

static void warmup_beta(double beta_start, double beta_end, int T, double frac, double *betas)
{
    int warmup_time = (int)((double)T * frac); /* int(T * frac) as Python truncates */
    for (int i = 0; i < T; i++) betas[i] = beta_end;
    linspace(beta_start, beta_end, warmup_time, betas);
}

int get_beta_schedule(beta_schedule_t s, double beta_start, double beta_end, int T, double *betas)
{
    if (T < 1) return ddpm_error("get_beta_schedule: num_diffusion_timesteps = %d must be >= 1", T);
    switch (s) {
    case BETA_QUAD:
        linspace(sqrt(beta_start), sqrt(beta_end), T, betas);
        for (int i = 0; i < T; i++) betas[i] *= betas[i];
        break;
    case BETA_LINEAR: linspace(beta_start, beta_end, T, betas); break;
    case BETA_WARMUP10: warmup_beta(beta_start, beta_end, T, 0.1, betas); break;
    case BETA_WARMUP50: warmup_beta(beta_start, beta_end, T, 0.5, betas); break;
    case BETA_CONST:
        for (int i = 0; i < T; i++) betas[i] = beta_end;
        break;
    case BETA_JSD: /* 1/T, 1/(T-1), ..., 1 */
        linspace((double)T, 1.0, T, betas);
        for (int i = 0; i < T; i++) betas[i] = 1.0 / betas[i];
        break;
    default: return ddpm_error("get_beta_schedule: unknown schedule %d", (int)s);
    }
    return DDPM_OK;
}

enum { N_TABLES = 14 };

int diffusion_init_betas(diffusion *d, const double *betas, int T, model_mean_type_t mean_type,
                         model_var_type_t var_type, loss_type_t loss_type)
{
    memset(d, 0, sizeof *d);
    if (T < 2)
        return ddpm_error("diffusion: num_diffusion_timesteps = %d; at least 2 are needed "
                          "(the variances use posterior_variance[1])",
                          T);
    if ((unsigned)mean_type > MEAN_EPS || (unsigned)var_type > VAR_FIXEDLARGE || (unsigned)loss_type > LOSS_MSE)
        return ddpm_error("diffusion: bad mean/var/loss type (%d/%d/%d)", (int)mean_type, (int)var_type,
                          (int)loss_type);
    for (int i = 0; i < T; i++)
        if (!(betas[i] > 0.0 && betas[i] <= 1.0))
            return ddpm_error("diffusion: beta[%d] = %g is outside (0, 1]; check beta_start, "
                              "beta_end and beta_schedule",
                              i, betas[i]);
    double *m = ddpm_alloc((size_t)N_TABLES * (size_t)T * sizeof(double));
    if (!m) return ddpm_error_prefix("diffusion tables (T = %d)", T);
    double **tab[N_TABLES] = {
        &d->betas,
        &d->alphas_cumprod,
        &d->alphas_cumprod_prev,
        &d->sqrt_alphas_cumprod,
        &d->sqrt_one_minus_alphas_cumprod,
        &d->log_one_minus_alphas_cumprod,
        &d->sqrt_recip_alphas_cumprod,
        &d->sqrt_recipm1_alphas_cumprod,
        &d->posterior_variance,
        &d->posterior_log_variance_clipped,
        &d->posterior_mean_coef1,
        &d->posterior_mean_coef2,
        &d->model_variance_fixed,
        &d->model_log_variance_fixed,
    };
    for (int k = 0; k < N_TABLES; k++) *tab[k] = m + (size_t)k * (size_t)T;
    d->T = T;
    d->mean_type = mean_type;
    d->var_type = var_type;
    d->loss_type = loss_type;

    double cum = 1.0;
    for (int i = 0; i < T; i++) {
        const double b = betas[i], alpha = 1.0 - b;
        d->betas[i] = b;
        d->alphas_cumprod_prev[i] = cum;
        cum *= alpha;
        const double ac = cum, acp = d->alphas_cumprod_prev[i];
        d->alphas_cumprod[i] = ac;
        d->sqrt_alphas_cumprod[i] = sqrt(ac);
        d->sqrt_one_minus_alphas_cumprod[i] = sqrt(1.0 - ac);
        d->log_one_minus_alphas_cumprod[i] = log(1.0 - ac);
        d->sqrt_recip_alphas_cumprod[i] = sqrt(1.0 / ac);
        d->sqrt_recipm1_alphas_cumprod[i] = sqrt(1.0 / ac - 1.0);
        /* eq. 7: beta-tilde_t = beta_t (1 - ac_{t-1}) / (1 - ac_t) */
        d->posterior_variance[i] = b * (1.0 - acp) / (1.0 - ac);
        d->posterior_mean_coef1[i] = b * sqrt(acp) / (1.0 - ac);
        d->posterior_mean_coef2[i] = (1.0 - acp) * sqrt(alpha) / (1.0 - ac);
    }
    /* The posterior variance is 0 at t = 0: its log is clipped to the t = 1 value. */
    d->posterior_log_variance_clipped[0] = log(d->posterior_variance[1]);
    for (int i = 1; i < T; i++) d->posterior_log_variance_clipped[i] = log(d->posterior_variance[i]);

    if (var_type == VAR_FIXEDSMALL) {
        memcpy(d->model_variance_fixed, d->posterior_variance, (size_t)T * sizeof(double));
        memcpy(d->model_log_variance_fixed, d->posterior_log_variance_clipped, (size_t)T * sizeof(double));
    } else if (var_type == VAR_FIXEDLARGE) {
        d->model_variance_fixed[0] = d->posterior_variance[1];
        for (int i = 1; i < T; i++) d->model_variance_fixed[i] = d->betas[i];
        for (int i = 0; i < T; i++) d->model_log_variance_fixed[i] = log(d->model_variance_fixed[i]);
    } else {
        d->model_variance_fixed = NULL;
        d->model_log_variance_fixed = NULL;
    }
    return DDPM_OK;
}

int diffusion_init(diffusion *d, const ddpm_config *cfg)
{
    memset(d, 0, sizeof *d);
    int T = cfg->num_diffusion_timesteps;
    if (T < 2) return ddpm_error("config: num_diffusion_timesteps = %d must be at least 2", T);
    double *betas = ddpm_alloc((size_t)T * sizeof(double));
    if (!betas) return DDPM_ERR;
    int rc = get_beta_schedule(cfg->beta_schedule, cfg->beta_start, cfg->beta_end, T, betas);
    if (rc == DDPM_OK)
        rc = diffusion_init_betas(d, betas, T, cfg->model_mean_type, cfg->model_var_type, cfg->loss_type);
    ddpm_free(betas);
    return rc;
}

void diffusion_free(diffusion *d)
{
    if (!d) return;
    ddpm_free(d->betas);
    memset(d, 0, sizeof *d);
}

void q_sample(float *xt, const float *x0, const int32_t *t, const float *noise, const diffusion *d, int B, size_t D)
{
    for (int b = 0; b < B; b++) {
        const double a = d->sqrt_alphas_cumprod[t[b]], s = d->sqrt_one_minus_alphas_cumprod[t[b]];
        const size_t o = (size_t)b * D;
        for (size_t i = 0; i < D; i++) xt[o + i] = (float)(a * (double)x0[o + i] + s * (double)noise[o + i]);
    }
}

void q_posterior_mean(float *mean, const float *x0, const float *xt, const int32_t *t, const diffusion *d, int B,
                      size_t D)
{
    for (int b = 0; b < B; b++) {
        const double c1 = d->posterior_mean_coef1[t[b]], c2 = d->posterior_mean_coef2[t[b]];
        const size_t o = (size_t)b * D;
        for (size_t i = 0; i < D; i++) mean[o + i] = (float)(c1 * (double)x0[o + i] + c2 * (double)xt[o + i]);
    }
}

void diffusion_sample_xT(float *x, uint64_t seed, uint32_t example_offset, int B, size_t D)
{
    for (int b = 0; b < B; b++)
        rng_normal_fill(rng_stream_make(seed, RNG_SAMPLE_XT, 0, example_offset + (uint32_t)b), x + (size_t)b * D, D);
}
