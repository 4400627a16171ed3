/* sampling.c — ancestral sampling from p(x_{t-1}|x_t) (Algorithm 2; official p_sample and
 * p_sample_loop_progressive), with pred_xstart clipped to [-1,1]. */
#include <math.h>
#include <string.h>

#include "core/common.h"
#include "core/rng.h"
#include "diffusion/diffusion_internal.h"

int p_sample_step(float *x_prev, float *pred_xstart, const float *model_out, const float *xt, const float *z,
                  const diffusion *d, int t, int B, int H, int W, int C)
{
    if (B < 1 || H < 1 || W < 1 || C < 1) return ddpm_error("p_sample_step: bad shape B=%d H=%d W=%d C=%d", B, H, W, C);
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
            double m =
                pmv_element(d, t, (double)o[c], Cout > C ? (double)o[C + c] : 0.0, (double)xt[i], 1, &lv, &px0, &dm);
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

void p_sample_opts_default(p_sample_opts *o, const diffusion *d)
{
    o->t_start = d->T - 1;
    o->seed = 0;
    o->example_offset = 0;
    o->record_every = 0;
    o->progress = NULL;
    o->user = NULL;
}

int p_sample_loop(float *x, float *record, int *n_recorded, const diffusion *d, denoise_fn fn, void *ctx,
                  const p_sample_opts *opts, diffusion_workspace *ws, int B, int H, int W, int C)
{
    if (n_recorded) *n_recorded = 0;
    DDPM_TRY(diffusion_workspace_check(ws, d, "p_sample_loop", B, H, W, C));
    p_sample_opts defaults;
    if (!opts) {
        p_sample_opts_default(&defaults, d);
        opts = &defaults;
    }
    const int t_start = opts->t_start, record_every = opts->record_every;
    const uint64_t seed = opts->seed;
    const uint32_t example_offset = opts->example_offset;
    if (t_start < 0 || t_start >= d->T)
        return ddpm_error("p_sample_loop: t_start = %d is outside [0, %d)", t_start, d->T);
    const size_t D = (size_t)H * (size_t)W * (size_t)C, BD = (size_t)B * D;
    const int recording = record != NULL && record_every > 0;
    float *model_out = ws->model_out; /* (B,H,W,Cout) */
    float *z = ws->xt;                /* (B,H,W,C) */
    float *pred = ws->pred;           /* (B,H,W,C) */
    int32_t *tb = ws->tb;             /* (B) */
    int k = 0;
    for (int t = t_start; t >= 0; t--) {
        for (int b = 0; b < B; b++) tb[b] = t;
        if (fn(ctx, x, tb, B, model_out) != DDPM_OK) return ddpm_error_prefix("p_sample_loop: model at t = %d", t);
        if (t > 0) {
#pragma omp parallel for schedule(static) if (BD > 16384)
            for (int b = 0; b < B; b++)
                rng_normal_fill(rng_stream_make(seed, RNG_SAMPLE_Z, (uint32_t)t, example_offset + (uint32_t)b),
                                z + (size_t)b * D, D);
        }
        DDPM_TRY(p_sample_step(x, pred, model_out, x, t > 0 ? z : NULL, d, t, B, H, W, C));
        if (recording && t % record_every == 0) {
            memcpy(record + (size_t)k * BD, pred, BD * sizeof(float));
            k++;
            if (n_recorded) *n_recorded = k;
        }
        if (opts->progress) opts->progress(opts->user, t_start - t + 1, t_start + 1);
    }
    return DDPM_OK;
}
