/* losses.c — p(x_{t-1}|x_t) from the network output (official p_mean_variance), the variational
 * bound terms (_vb_terms_bpd) and the training losses with their analytic gradient w.r.t. the
 * network output. */
#include <math.h>

#include "core/common.h"
#include "diffusion/diffusion_internal.h"

static int check_args(const diffusion *d, const char *who, const int32_t *t, int B, int H, int W, int C)
{
    if (B < 1 || H < 1 || W < 1 || C < 1) return ddpm_error("%s: bad shape B=%d H=%d W=%d C=%d", who, B, H, W, C);
    for (int b = 0; b < B; b++)
        if (t[b] < 0 || t[b] >= d->T) return ddpm_error("%s: t[%d] = %d is outside [0, %d)", who, b, (int)t[b], d->T);
    return DDPM_OK;
}

static inline int out_channels(const diffusion *d, int C) { return d->var_type == VAR_LEARNED ? 2 * C : C; }

int p_mean_variance(float *mean, float *log_var, float *pred_xstart, const float *model_out, const float *xt,
                    const int32_t *t, const diffusion *d, int clip_denoised, int B, int H, int W, int C)
{
    DDPM_TRY(check_args(d, "p_mean_variance", t, B, H, W, C));
    const int Cout = out_channels(d, C);
    const size_t P = (size_t)H * (size_t)W;
#pragma omp parallel for schedule(static) if ((size_t)B * P * (size_t)C > 16384)
    for (int b = 0; b < B; b++) {
        const int tb = t[b];
        for (size_t p = 0; p < P; p++) {
            const size_t px = (size_t)b * P + p;
            const float *o = model_out + px * (size_t)Cout;
            for (int c = 0; c < C; c++) {
                const size_t i = px * (size_t)C + (size_t)c;
                double lv, px0, dm;
                double m = pmv_element(d, tb, (double)o[c], Cout > C ? (double)o[C + c] : 0.0, (double)xt[i],
                                       clip_denoised, &lv, &px0, &dm);
                if (mean) mean[i] = (float)m;
                if (log_var) log_var[i] = (float)lv;
                if (pred_xstart) pred_xstart[i] = (float)px0;
            }
        }
    }
    return DDPM_OK;
}

/* _vb_terms_bpd per example, optionally with d(grad_scale * sum_b terms[b]) / d model_out
 * added into dmodel_out (the gradient passes through pred_xstart clipping as zero). */
static void vb_terms_impl(double *terms, float *pred_xstart, double *mse, float *dmodel_out, const float *model_out,
                          const float *x0, const float *xt, const int32_t *t, const diffusion *d, int clip_denoised,
                          double grad_scale, int B, int H, int W, int C)
{
    const int Cout = out_channels(d, C);
    const int learned = d->var_type == VAR_LEARNED;
    const size_t P = (size_t)H * (size_t)W, D = P * (size_t)C;
    const double inv_ln2 = 1.0 / log(2.0);
    /* d terms[b] / d element = inv_ln2 / D; the caller's scale multiplies it. */
    const double g = grad_scale * inv_ln2 / (double)D;
#pragma omp parallel for schedule(static) if ((size_t)B * D > 8192)
    for (int b = 0; b < B; b++) {
        const int tb = t[b];
        const double c1 = d->posterior_mean_coef1[tb], c2 = d->posterior_mean_coef2[tb];
        const double true_lv = d->posterior_log_variance_clipped[tb];
        double sum = 0.0, sse = 0.0;
        for (size_t p = 0; p < P; p++) {
            const size_t px = (size_t)b * P + p;
            const float *o = model_out + px * (size_t)Cout;
            for (int c = 0; c < C; c++) {
                const size_t i = px * (size_t)C + (size_t)c;
                const double x0i = (double)x0[i], xti = (double)xt[i];
                double lv, px0, dm_do, dl_dm, dl_dlv;
                const double m = pmv_element(d, tb, (double)o[c], learned ? (double)o[C + c] : 0.0, xti, clip_denoised,
                                             &lv, &px0, &dm_do);
                if (tb == 0) {
                    /* decoder NLL -log p(x_0|x_1), log_scale = log_var / 2 */
                    double dmean, dls;
                    sum -= discretized_gaussian_log_likelihood_grad(x0i, m, 0.5 * lv, &dmean, &dls);
                    dl_dm = -dmean;
                    dl_dlv = -0.5 * dls;
                } else {
                    /* KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)), eq. 5 */
                    const double true_mean = c1 * x0i + c2 * xti;
                    sum += normal_kl(true_mean, true_lv, m, lv);
                    normal_kl_grad2(true_mean, true_lv, m, lv, &dl_dm, &dl_dlv);
                }
                if (dmodel_out) {
                    float *go = dmodel_out + px * (size_t)Cout;
                    go[c] += (float)(g * dl_dm * dm_do);
                    if (learned) go[C + c] += (float)(g * dl_dlv);
                }
                if (pred_xstart) pred_xstart[i] = (float)px0;
                const double e = px0 - x0i;
                sse += e * e;
            }
        }
        if (terms) terms[b] = sum / (double)D * inv_ln2;
        if (mse) mse[b] = sse / (double)D;
    }
}

int vb_terms_bpd(double *terms, float *pred_xstart, double *mse, const float *model_out, const float *x0,
                 const float *xt, const int32_t *t, const diffusion *d, int clip_denoised, int B, int H, int W, int C)
{
    DDPM_TRY(check_args(d, "vb_terms_bpd", t, B, H, W, C));
    vb_terms_impl(terms, pred_xstart, mse, NULL, model_out, x0, xt, t, d, clip_denoised, 0.0, B, H, W, C);
    return DDPM_OK;
}

int training_losses(double *loss, float *dmodel_out, const float *model_out, const float *x0, const float *xt,
                    const float *noise, const int32_t *t, const diffusion *d, int B, int H, int W, int C)
{
    return training_losses_block(loss, dmodel_out, model_out, x0, xt, noise, t, d, B, B, H, W, C);
}

int training_losses_block(double *loss, float *dmodel_out, const float *model_out, const float *x0, const float *xt,
                          const float *noise, const int32_t *t, const diffusion *d, int B, int B_total, int H, int W,
                          int C)
{
    if (B_total < B) return ddpm_error("training_losses_block: block of %d examples in a batch of %d", B, B_total);
    DDPM_TRY(check_args(d, "training_losses", t, B, H, W, C));
    if (d->loss_type == LOSS_KL) {
        /* the variational bound, no clipping of pred_xstart while training */
        vb_terms_impl(loss, NULL, NULL, dmodel_out, model_out, x0, xt, t, d, 0, 1.0 / (double)B_total, B, H, W, C);
        return DDPM_OK;
    }
    if (d->var_type == VAR_LEARNED)
        return ddpm_error("training_losses: loss_type = mse cannot train model_var_type = "
                          "learned; use loss_type = kl or a fixed variance");
    if (d->mean_type == MEAN_EPS && !noise) return ddpm_error("training_losses: mse with eps needs the noise");
    /* unweighted MSE against the target of the mean type (eq. 14 for eps) */
    const size_t D = (size_t)H * (size_t)W * (size_t)C;
    const double g = 2.0 / ((double)B_total * (double)D);
#pragma omp parallel for schedule(static) if ((size_t)B * D > 8192)
    for (int b = 0; b < B; b++) {
        const int tb = t[b];
        const double c1 = d->posterior_mean_coef1[tb], c2 = d->posterior_mean_coef2[tb];
        double sum = 0.0;
        for (size_t j = 0; j < D; j++) {
            const size_t i = (size_t)b * D + j;
            double target;
            if (d->mean_type == MEAN_XPREV) target = c1 * (double)x0[i] + c2 * (double)xt[i];
            else if (d->mean_type == MEAN_XSTART) target = (double)x0[i];
            else target = (double)noise[i];
            const double e = (double)model_out[i] - target;
            sum += e * e;
            if (dmodel_out) dmodel_out[i] += (float)(g * e);
        }
        if (loss) loss[b] = sum / (double)D;
    }
    return DDPM_OK;
}
