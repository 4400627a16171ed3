/* workspace.c — the caller-owned scratch of p_sample_loop and calc_bpd_loop (GSL-style
 * _alloc/_free), carved from one block. */
#include "core/carve.h"
#include "core/common.h"
#include "diffusion/diffusion_internal.h"

diffusion_workspace *diffusion_workspace_alloc(const diffusion *d, int B, int H, int W, int C, int Cout)
{
    if (B < 1 || H < 1 || W < 1 || C < 1) {
        ddpm_error("diffusion_workspace_alloc: bad shape B=%d H=%d W=%d C=%d", B, H, W, C);
        return NULL;
    }
    const int want = d->var_type == VAR_LEARNED ? 2 * C : C;
    if (Cout != want) {
        ddpm_error("diffusion_workspace_alloc: Cout = %d, but this diffusion's model_var_type "
                   "needs %d output channels for C = %d",
                   Cout, want, C);
        return NULL;
    }
    diffusion_workspace *ws = ddpm_alloc(sizeof *ws);
    if (!ws) {
        ddpm_error_prefix("diffusion_workspace_alloc");
        return NULL;
    }
    const size_t b = (size_t)B, P = (size_t)H * (size_t)W;
    /* sizes in floats: doubles take two, int32 one */
    const size_t sizes[] = { b * P * (size_t)Cout, b * P * (size_t)C, b * P * (size_t)C,
                             2 * b * (size_t)d->T, 2 * 2 * b,         b };
    float *model_out, *xt, *pred, *terms_bt, *step_terms, *tb;
    float **ptrs[] = { &model_out, &xt, &pred, &terms_bt, &step_terms, &tb };
    const int n = (int)DDPM_ARRAY_LEN(sizes);
    ws->block = ddpm_alloc(carve_total(sizes, n) * sizeof(float));
    if (!ws->block) {
        ddpm_error_prefix("diffusion_workspace_alloc (B = %d, %dx%dx%d, T = %d)", B, H, W, C, d->T);
        ddpm_free(ws);
        return NULL;
    }
    carve(ptrs, ws->block, sizes, n);
    ws->model_out = model_out;
    ws->xt = xt;
    ws->pred = pred;
    ws->terms_bt = (double *)(void *)terms_bt;
    ws->step_terms = (double *)(void *)step_terms;
    ws->tb = (int32_t *)(void *)tb;
    ws->max_batch = B;
    ws->H = H;
    ws->W = W;
    ws->C = C;
    ws->Cout = Cout;
    ws->T = d->T;
    return ws;
}

void diffusion_workspace_free(diffusion_workspace *ws)
{
    if (!ws) return;
    ddpm_free(ws->block);
    ddpm_free(ws);
}

int diffusion_workspace_max_batch(const diffusion_workspace *ws) { return ws->max_batch; }

int diffusion_workspace_check(const diffusion_workspace *ws, const diffusion *d, const char *who, int B, int H, int W,
                              int C)
{
    if (B < 1 || H < 1 || W < 1 || C < 1) return ddpm_error("%s: bad shape B=%d H=%d W=%d C=%d", who, B, H, W, C);
    if (!ws) return ddpm_error("%s: no workspace; make one with diffusion_workspace_alloc", who);
    if (B > ws->max_batch || H != ws->H || W != ws->W || C != ws->C || d->T != ws->T ||
        ws->Cout != (d->var_type == VAR_LEARNED ? 2 * C : C))
        return ddpm_error("%s: the workspace is for up to %d examples of %dx%dx%d (Cout %d, T = %d), "
                          "not %d of %dx%dx%d under T = %d; allocate one for this shape",
                          who, ws->max_batch, ws->H, ws->W, ws->C, ws->Cout, ws->T, B, H, W, C, d->T);
    return DDPM_OK;
}
