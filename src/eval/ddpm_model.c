#include "eval/ddpm_model.h"

#include "core/common.h"
#include "dist/shard.h"
#include "train/checkpoint.h"

#include <stdlib.h>
#include <string.h>

int ddpm_model_open(ddpm_model *m, const ddpm_config *cfg, const char *ckpt, const char *which, int max_batch)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->max_batch = max_batch > 0 ? max_batch : 1;
    m->H = m->W = cfg->image_size;
    m->C = config_in_channels(cfg);
    m->Cout = config_out_channels(cfg);
    m->D = (size_t)m->H * m->W * m->C;
    if (unet_create(&m->net, cfg, m->max_batch) != DDPM_OK) return DDPM_ERR;
    if (diffusion_init(&m->diff, cfg) != DDPM_OK) {
        ddpm_model_close(m);
        return DDPM_ERR;
    }
    if (ckpt) {
        if (checkpoint_load_weights(ckpt, m->net, which, unet_params(m->net)) != DDPM_OK) {
            ddpm_model_close(m);
            return DDPM_ERR;
        }
    } else {
        unet_init_params(m->net, cfg->seed);
    }
    if (unet_prepare_inference(m->net) != DDPM_OK) {
        ddpm_model_close(m);
        return DDPM_ERR;
    }
    return DDPM_OK;
}

void ddpm_model_close(ddpm_model *m)
{
    unet_free(m->net);
    diffusion_workspace_free(m->ws);
    diffusion_free(&m->diff);
    m->net = NULL;
    m->ws = NULL;
    m->ws_batch = 0;
}

int ddpm_model_denoise(void *ctx, const float *x, const int32_t *t, int B, float *out)
{
    ddpm_model *m = ctx;
    const size_t Dout = (size_t)m->H * m->W * m->Cout;
    for (int b0 = 0; b0 < B; b0 += m->max_batch) {
        int nb = B - b0 < m->max_batch ? B - b0 : m->max_batch;
        DDPM_TRY(unet_forward(out + (size_t)b0 * Dout, m->net, x + (size_t)b0 * m->D, t + b0, 0, 0, 0, nb));
    }
    return DDPM_OK;
}

typedef struct {
    progress *pb;
    int64_t base; /* work units done before this chunk */
    int per;      /* work units per callback step */
} chunk_progress;

static void chunk_cb(void *user, int done, int total)
{
    (void)total;
    chunk_progress *c = user;
    if (c->pb) progress_update(c->pb, c->base + (int64_t)done * c->per, NULL);
}

/* The model's diffusion workspace for batches of nb (grown when a larger batch comes): one
 * allocation for every batch of a sampling or likelihood run. */
static diffusion_workspace *model_workspace(ddpm_model *m, int nb)
{
    if (m->ws && m->ws_batch >= nb) return m->ws;
    diffusion_workspace_free(m->ws);
    m->ws_batch = 0;
    m->ws = diffusion_workspace_alloc(&m->diff, nb, m->H, m->W, m->C, m->Cout);
    if (m->ws) m->ws_batch = nb;
    return m->ws;
}

int ddpm_generate_batch(ddpm_model *m, int n, uint64_t seed, int batch, int b, float *out, int record_every,
                        float *record, void (*step_cb)(void *user, int done, int total), void *user)
{
    const int T = m->diff.T;
    int K = p_sample_num_recorded(T - 1, record_every);
    const int i0 = b * batch;
    if (b < 0 || i0 >= n)
        return ddpm_error("ddpm_generate_batch: batch %d of %d samples in batches of %d", b, n, batch);
    const int nb = n - i0 < batch ? n - i0 : batch;
    diffusion_workspace *ws = model_workspace(m, nb);
    if (!ws) return DDPM_ERR;
    float *rec = NULL;
    if (record && K > 0) {
        rec = ddpm_alloc((size_t)K * nb * m->D * sizeof(float));
        if (!rec) return DDPM_ERR;
    }
    float *x = out + (size_t)i0 * m->D;
    diffusion_sample_xT(x, seed, (uint32_t)i0, nb, m->D);
    p_sample_opts so;
    p_sample_opts_default(&so, &m->diff);
    so.seed = seed;
    so.example_offset = (uint32_t)i0;
    so.record_every = rec ? record_every : 0;
    so.progress = step_cb;
    so.user = user;
    int k = 0;
    if (p_sample_loop(x, rec, &k, &m->diff, ddpm_model_denoise, m, &so, ws, nb, m->H, m->W, m->C) != DDPM_OK) {
        ddpm_free(rec);
        return DDPM_ERR;
    }
    if (rec)
        for (int r = 0; r < k; r++)
            memcpy(record + ((size_t)r * n + i0) * m->D, rec + (size_t)r * nb * m->D,
                   (size_t)nb * m->D * sizeof(float));
    ddpm_free(rec);
    return DDPM_OK;
}

int ddpm_generate(ddpm_model *m, int n, uint64_t seed, int batch, float *out, int record_every, float *record,
                  int *n_recorded, progress *pb)
{
    if (batch <= 0) batch = m->max_batch;
    const int T = m->diff.T;
    int K = p_sample_num_recorded(T - 1, record_every);
    int my0, my1; /* under MPI: this rank's whole batches (dist/shard.h) */
    shard_batches(n, batch, &my0, &my1);
    for (int i0 = my0; i0 < my1; i0 += batch) {
        int nb = n - i0 < batch ? n - i0 : batch;
        chunk_progress cp = { pb, (int64_t)i0 * T, nb };
        DDPM_TRY(ddpm_generate_batch(m, n, seed, batch, i0 / batch, out, record_every, record, chunk_cb, &cp));
    }
    DDPM_TRY(shard_allgather_rows(out, n, batch, m->D * sizeof(float)));
    if (record && K > 0)
        for (int r = 0; r < K; r++)
            DDPM_TRY(shard_allgather_rows(record + (size_t)r * n * m->D, n, batch, m->D * sizeof(float)));
    if (n_recorded) *n_recorded = record ? K : 0;
    return DDPM_OK;
}

int ddpm_eval_bpd_batch(ddpm_model *m, const float *x0, int n, int batch, int b, uint64_t seed, double *total,
                        double *prior, double *terms, double *mse, void (*step_cb)(void *user, int done, int total),
                        void *user)
{
    const int T = m->diff.T;
    const int i0 = b * batch;
    if (b < 0 || i0 >= n) return ddpm_error("ddpm_eval_bpd_batch: batch %d of %d images in batches of %d", b, n, batch);
    const int nb = n - i0 < batch ? n - i0 : batch;
    diffusion_workspace *ws = model_workspace(m, nb);
    if (!ws) return DDPM_ERR;
    bpd_opts bo = { .seed = seed, .example_offset = (uint32_t)i0, .progress = step_cb, .user = user };
    return calc_bpd_loop(total ? total + i0 : NULL, prior ? prior + i0 : NULL, terms ? terms + (size_t)i0 * T : NULL,
                         mse ? mse + (size_t)i0 * T : NULL, x0 + (size_t)i0 * m->D, &m->diff, ddpm_model_denoise, m,
                         &bo, ws, nb, m->H, m->W, m->C);
}

int ddpm_eval_bpd(ddpm_model *m, const float *x0, int n, int batch, uint64_t seed, double *total, double *prior,
                  double *terms, double *mse, progress *pb)
{
    if (batch <= 0) batch = m->max_batch;
    const int T = m->diff.T;
    int my0, my1;
    shard_batches(n, batch, &my0, &my1);
    for (int i0 = my0; i0 < my1; i0 += batch) {
        int nb = n - i0 < batch ? n - i0 : batch;
        chunk_progress cp = { pb, (int64_t)i0 * T, nb };
        DDPM_TRY(ddpm_eval_bpd_batch(m, x0, n, batch, i0 / batch, seed, total, prior, terms, mse, chunk_cb, &cp));
    }
    if (total) DDPM_TRY(shard_allgather_rows(total, n, batch, sizeof(double)));
    if (prior) DDPM_TRY(shard_allgather_rows(prior, n, batch, sizeof(double)));
    if (terms) DDPM_TRY(shard_allgather_rows(terms, n, batch, (size_t)T * sizeof(double)));
    if (mse) DDPM_TRY(shard_allgather_rows(mse, n, batch, (size_t)T * sizeof(double)));
    return DDPM_OK;
}
