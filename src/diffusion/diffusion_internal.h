/* diffusion_internal.h — per-element kernels shared by the diffusion source files (not part of
 * the public API): the p(x_{t-1}|x_t) parameterisation of one element with its derivative, and
 * the Gaussian helpers with their derivatives. */
#ifndef DDPM_DIFFUSION_INTERNAL_H
#define DDPM_DIFFUSION_INTERNAL_H

#include "diffusion/diffusion.h"

/* The loops' scratch (workspace.c), each piece for up to max_batch examples. */
struct diffusion_workspace {
    int max_batch, H, W, C, Cout, T;
    float *model_out;   /* (B,H,W,Cout) */
    float *xt;          /* (B,H,W,C): x_t of the bpd loop, z of the sampling loop */
    float *pred;        /* (B,H,W,C): pred_xstart of the sampling loop */
    double *terms_bt;   /* (B,T): the bpd loop's terms before they are summed */
    double *step_terms; /* (2,B): one step's terms and mse */
    int32_t *tb;        /* (B): the step's timestep per example */
    float *block;       /* everything above, carved from one allocation */
};

/* DDPM_OK if ws can serve a loop over B examples of (H,W,C) under d; else the error names who. */
int diffusion_workspace_check(const diffusion_workspace *ws, const diffusion *d, const char *who, int B, int H, int W,
                              int C);

/* discretized_gaussian_log_likelihood and its partial derivatives w.r.t. mean and log_scale
 * (either pointer may be NULL). Where a probability sits on its 1e-12 floor the derivative is
 * 0, as for max(p, 1e-12). */
double discretized_gaussian_log_likelihood_grad(double x, double mean, double log_scale, double *dmean,
                                                double *dlog_scale);

/* d normal_kl / d mean2 and d normal_kl / d logvar2. */
void normal_kl_grad2(double mean1, double logvar1, double mean2, double logvar2, double *dmean2, double *dlogvar2);

/* One element of p_mean_variance at timestep t. o is the mean part of the network output,
 * o_lv its log-variance part (read only for learned variance), xt the element of x_t.
 * Returns the model mean; writes the log-variance, pred_xstart and d mean / d o (0 where
 * pred_xstart was clipped, for xstart/eps). */
static inline double pmv_element(const diffusion *d, int t, double o, double o_lv, double xt, int clip_denoised,
                                 double *log_var, double *pred_xstart, double *dmean_do)
{
    const double c1 = d->posterior_mean_coef1[t], c2 = d->posterior_mean_coef2[t];
    *log_var = d->var_type == VAR_LEARNED ? o_lv : d->model_log_variance_fixed[t];
    double px0, dpx0;
    if (d->mean_type == MEAN_XPREV) {
        /* _predict_xstart_from_xprev: (xprev - coef2 x_t) / coef1 */
        px0 = (1.0 / c1) * o - (c2 / c1) * xt;
        if (clip_denoised) px0 = px0 < -1.0 ? -1.0 : (px0 > 1.0 ? 1.0 : px0);
        *pred_xstart = px0;
        *dmean_do = 1.0;
        return o;
    }
    if (d->mean_type == MEAN_XSTART) {
        px0 = o;
        dpx0 = 1.0;
    } else { /* eps, eq. 11: x0 = sqrt(1/ac) x_t - sqrt(1/ac - 1) eps */
        px0 = d->sqrt_recip_alphas_cumprod[t] * xt - d->sqrt_recipm1_alphas_cumprod[t] * o;
        dpx0 = -d->sqrt_recipm1_alphas_cumprod[t];
    }
    if (clip_denoised && (px0 < -1.0 || px0 > 1.0)) {
        px0 = px0 < -1.0 ? -1.0 : 1.0;
        dpx0 = 0.0;
    }
    *pred_xstart = px0;
    *dmean_do = c1 * dpx0;
    return c1 * px0 + c2 * xt; /* posterior mean, eq. 7 */
}

#endif
