/* sampling.c — ancestral sampling from p(x_{t-1}|x_t) (Algorithm 2; official p_sample and
 * p_sample_loop_progressive), with pred_xstart clipped to [-1,1]. */
#include <math.h>
#include <string.h>

#include "core/common.h"
#include "core/rng.h"
#include "diffusion/diffusion_internal.h"

int p_sample_step(const diffusion *d, const float *model_out, const float *xt, int t,
                  const float *z, int B, int H, int W, int C, float *x_prev, float *pred_xstart)
{
    if (B < 1 || H < 1 || W < 1 || C < 1)
        return ddpm_error("p_sample_step: bad shape B=%d H=%d W=%d C=%d", B, H, W, C);
    if (t < 0 || t >= d->T) return ddpm_error("p_sample_step: t = %d is outside [0, %d)", t, d->T);
    if (t > 0 && !z) return ddpm_error("p_sample_step: noise z is needed at t = %d > 0", t);
    const int Cout = d->var_type == VAR_LEARNED ? 2 * C : C;
    const size_t NP = (size_t)B * (size_t)H * (size_t)W;
    #pragma omp parallel for schedule(static) if (NP * (size_t)C > 16384)
    for (size_t px = 0; px < NP; px++) {
        const float *o = model_out + px * (size_t)Cout;
        for (int c = 0; c < C; c++) {
            const size_t i = px * (size_t)C + (size_t)c;
            double lv, px0, dm;
            double m = pmv_element(d, t, o[c], Cout > C ? (double)o[C + c] : 0.0, xt[i], 1, &lv, &px0, &dm);
            /* no noise at t == 0 */
            double s = t != 0 ? m + exp(0.5 * lv) * (double)z[i] : m;
            if (pred_xstart) pred_xstart[i] = (float)px0;
            x_prev[i] = (float)s;
        }
    }
    return DDPM_OK;
}

int p_sample_num_recorded(int t_start, int record_every)
{
    return (record_every > 0 && t_start >= 0) ? t_start / record_every + 1 : 0;
}

int p_sample_loop(const diffusion *d, denoise_fn fn, void *ctx, float *x, int B, int H, int W,
                  int C, int t_start, uint64_t seed, uint32_t example_offset,
                  int record_every, float *record, int *n_recorded,
                  void (*progress)(void *user, int done, int total), void *user)
{
    if (B < 1 || H < 1 || W < 1 || C < 1)
        return ddpm_error("p_sample_loop: bad shape B=%d H=%d W=%d C=%d", B, H, W, C);
    if (t_start < 0 || t_start >= d->T)
        return ddpm_error("p_sample_loop: t_start = %d is outside [0, %d)", t_start, d->T);
    if (n_recorded) *n_recorded = 0;
    const size_t D = (size_t)H * (size_t)W * (size_t)C, BD = (size_t)B * D;
    const int Cout = d->var_type == VAR_LEARNED ? 2 * C : C;
    const int recording = record != NULL && record_every > 0;
    float *model_out = ddpm_alloc((size_t)B * (size_t)H * (size_t)W * (size_t)Cout * sizeof(float)); /* (B,H,W,Cout) */
    float *z = ddpm_alloc(BD * sizeof(float));            /* (B,H,W,C) */
    float *pred = ddpm_alloc(BD * sizeof(float));         /* (B,H,W,C) */
    int32_t *tb = ddpm_alloc((size_t)B * sizeof(int32_t)); /* (B) */
    int rc = DDPM_ERR, k = 0;
    if (!model_out || !z || !pred || !tb) {
        ddpm_error_prefix("p_sample_loop (B = %d)", B);
        goto done;
    }
    for (int t = t_start; t >= 0; t--) {
        for (int b = 0; b < B; b++) tb[b] = t;
        if (fn(ctx, x, tb, B, model_out) != DDPM_OK) {
            ddpm_error_prefix("p_sample_loop: model at t = %d", t);
            goto done;
        }
        if (t > 0) {
            #pragma omp parallel for schedule(static) if (BD > 16384)
            for (int b = 0; b < B; b++)
                rng_normal_fill(rng_stream_make(seed, RNG_SAMPLE_Z, (uint32_t)t,
                                                example_offset + (uint32_t)b),
                                z + (size_t)b * D, D);
        }
        if (p_sample_step(d, model_out, x, t, t > 0 ? z : NULL, B, H, W, C, x, pred) != DDPM_OK)
            goto done;
        if (recording && t % record_every == 0) {
            memcpy(record + (size_t)k * BD, pred, BD * sizeof(float));
            k++;
            if (n_recorded) *n_recorded = k;
        }
        if (progress) progress(user, t_start - t + 1, t_start + 1);
    }
    rc = DDPM_OK;
done:
    ddpm_free(model_out);
    ddpm_free(z);
    ddpm_free(pred);
    ddpm_free(tb);
    return rc;
}
