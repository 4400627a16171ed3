#include "eval/evaluate.h"
#include "eval/mpi_launch.h"

#include "core/common.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "eval/ddpm_model.h"
#include "eval/partial.h"
#include "eval/resumable.h"
#include "image/png_io.h"
#include "io/h5io.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    hid_t f;
    const char *path;
    const char *ckpt; /* the model's checkpoint (for the MPI route, mpi_launch.h) */
} cache;

static int cache_open(cache *c, const char *path, const tier_spec *t, const ddpm_config *cfg)
{
    c->path = path;
    char hex[17], want[128], have[128] = "";
    config_hash(cfg, hex);
    snprintf(want, sizeof want, "tier=%s bpd_n=%d bpd_train_n=%d samples_n=%d config=%s", t->name, t->bpd_n,
             t->bpd_train_n, t->samples_n, hex);
    if (access(path, F_OK) == 0) {
        c->f = h5io_open(path, 1);
        if (c->f >= 0 && h5io_attr_exists(c->f, ".", "settings"))
            h5io_get_attr_str(c->f, ".", "settings", have, sizeof have);
        if (c->f >= 0 && !strcmp(have, want)) return DDPM_OK;
        if (c->f >= 0) h5io_close(c->f);
        fprintf(stderr, "%s: evaluation cache of other settings or unreadable; recomputing\n", path);
    }
    ddpm_clear_error();
    c->f = h5io_create(path);
    if (c->f < 0) return DDPM_ERR;
    DDPM_TRY(h5io_attr_str(c->f, ".", "settings", want));
    if (H5Fflush(c->f, H5F_SCOPE_GLOBAL) < 0) return ddpm_error("%s: flush failed", path); /* readable if killed */
    return DDPM_OK;
}

static int bpd_piece(cache *c, ddpm_model *m, const ddpm_config *cfg, int train_split, int n, int batch,
                     double *mean_out)
{
    const char *g = train_split ? "bpd_train" : "bpd_test";
    char name[64];
    snprintf(name, sizeof name, "%s/total_bpd", g);
    if (h5io_exists(c->f, name) && h5io_attr_exists(c->f, g, "mean_bpd"))
        return h5io_get_attr_f64(c->f, g, "mean_bpd", mean_out);
    dataset ds;
    DDPM_TRY(dataset_load_n(&ds, cfg, train_split, n));
    if (ds.N < n) n = ds.N;
    const int T = m->diff.T;
    float *x = ddpm_alloc((size_t)n * m->D * sizeof(float));
    double *total = ddpm_alloc((size_t)n * sizeof(double)), *prior = ddpm_alloc((size_t)n * sizeof(double));
    double *terms = ddpm_alloc((size_t)n * T * sizeof(double)), *mse = ddpm_alloc((size_t)n * T * sizeof(double));
    int rc = (!x || !total || !prior || !terms || !mse) ? DDPM_ERR : DDPM_OK;
    char label[64], where[800], nm[5][64];
    snprintf(label, sizeof label, "  nll %s", train_split ? "train" : "test");
    snprintf(where, sizeof where, "%s (%s)", c->path, g);
    snprintf(nm[0], 64, "%s/total_bpd", g);
    snprintf(nm[1], 64, "%s/prior_bpd", g);
    snprintf(nm[2], 64, "%s/terms_bpd", g);
    snprintf(nm[3], 64, "%s/mse", g);
    snprintf(nm[4], 64, "%s/batches_done", g);
    if (rc == DDPM_OK) dataset_get_range(&ds, 0, n, x);
    if (rc == DDPM_OK && mpi_launcher()) { /* `ddpm-mpi bpd` keeps its own finished batches */
        rc = mpi_launch_bpd(c->ckpt, cfg, train_split, n, batch, cfg->seed, T, total, prior, terms, mse);
        hsize_t d1[1] = { (hsize_t)n }, d2[2] = { (hsize_t)n, (hsize_t)T };
        if (rc == DDPM_OK) rc = h5io_write_f64(c->f, nm[1], prior, 1, d1);
        if (rc == DDPM_OK) rc = h5io_write_f64(c->f, nm[2], terms, 2, d2);
        if (rc == DDPM_OK) rc = h5io_write_f64(c->f, nm[3], mse, 2, d2);
        if (rc == DDPM_OK) rc = h5io_write_f64(c->f, nm[0], total, 1, d1);
        if (rc == DDPM_OK && h5io_exists(c->f, nm[4]) && H5Ldelete(c->f, nm[4], H5P_DEFAULT) < 0)
            rc = ddpm_error("%s: cannot remove %s", c->path, nm[4]); /* an in-process run's record */
    } else if (rc == DDPM_OK) { /* finished batches kept in the cache (eval/partial.h): a rerun continues */
        resumable_bpd_job job = { m, x, n, batch, cfg->seed, total, prior, terms, mse };
        partial_dset ds4[4] = { { nm[0], PARTIAL_F64, 0, 0, { 0 }, total },
                                { nm[1], PARTIAL_F64, 0, 0, { 0 }, prior },
                                { nm[2], PARTIAL_F64, 0, 1, { (hsize_t)T }, terms },
                                { nm[3], PARTIAL_F64, 0, 1, { (hsize_t)T }, mse } };
        partial_set ps;
        rc = partial_begin(&ps, c->f, where, nm[4], n, batch, ds4, 4);
        if (rc == DDPM_OK) rc = partial_run(&ps, label, T, resumable_bpd_batch, &job);
        if (rc == DDPM_OK) rc = partial_finish(&ps);
        partial_free(&ps);
    }
    if (rc == DDPM_OK) {
        double mean = 0;
        for (int i = 0; i < n; i++) mean += total[i];
        mean /= n;
        rc = h5io_attr_f64(c->f, g, "mean_bpd", mean);
        if (rc == DDPM_OK) rc = h5io_attr_str(c->f, g, "revision", DDPM_GIT_REV); /* the code that computed it */
        if (rc == DDPM_OK && H5Fflush(c->f, H5F_SCOPE_GLOBAL) < 0) rc = ddpm_error("%s: flush failed", c->path);
        *mean_out = mean;
    }
    ddpm_free(x);
    ddpm_free(total);
    ddpm_free(prior);
    ddpm_free(terms);
    ddpm_free(mse);
    dataset_free(&ds);
    return rc;
}

static int samples_piece(cache *c, ddpm_model *m, const ddpm_config *cfg, int n, int batch, uint8_t **out)
{
    hsize_t d[4] = { (hsize_t)n, (hsize_t)m->H, (hsize_t)m->W, (hsize_t)m->C };
    /* whole when no bookkeeping record is left beside it (eval/partial.h) */
    if (h5io_exists(c->f, "samples") && !h5io_exists(c->f, "samples_batches_done")) {
        int rank;
        hsize_t dd[H5IO_MAX_RANK];
        if (h5io_read_u8(c->f, "samples", out, &rank, dd) == DDPM_OK && rank == 4 && dd[0] == d[0]) return DDPM_OK;
        ddpm_free(*out);
    }
    float *x = ddpm_alloc((size_t)n * m->D * sizeof(float));
    *out = ddpm_alloc((size_t)n * m->D);
    if (!x || !*out) {
        ddpm_free(x);
        return DDPM_ERR;
    }
    const uint64_t seed = 1000 + cfg->seed;
    int rc;
    if (mpi_launcher()) { /* `ddpm-mpi sample` keeps its own finished batches */
        rc = mpi_launch_sample(c->ckpt, n, seed, batch, x, (size_t)n * m->D);
        if (rc == DDPM_OK) images_to_uint8(*out, x, (size_t)n * m->D);
        if (rc == DDPM_OK) rc = h5io_write_u8(c->f, "samples", *out, 4, d);
        if (rc == DDPM_OK && h5io_exists(c->f, "samples_batches_done") &&
            H5Ldelete(c->f, "samples_batches_done", H5P_DEFAULT) < 0)
            rc = ddpm_error("%s: cannot remove samples_batches_done", c->path); /* an in-process run's record */
    } else {
        char where[800];
        snprintf(where, sizeof where, "%s (samples)", c->path);
        resumable_sample_job job = { m, n, seed, batch, x, 0, NULL, *out };
        partial_dset ds = { "samples", PARTIAL_U8, 0, 3, { d[1], d[2], d[3] }, *out };
        partial_set ps;
        rc = partial_begin(&ps, c->f, where, "samples_batches_done", n, batch, &ds, 1);
        if (rc == DDPM_OK) rc = partial_run(&ps, "  sample", m->diff.T, resumable_sample_batch, &job);
        if (rc == DDPM_OK) rc = partial_finish(&ps);
        partial_free(&ps);
    }
    if (rc == DDPM_OK) {
        rc = h5io_attr_i64(c->f, "samples", "seed", (int64_t)seed);
        if (rc == DDPM_OK) rc = h5io_attr_str(c->f, "samples", "revision", DDPM_GIT_REV);
        if (rc == DDPM_OK && H5Fflush(c->f, H5F_SCOPE_GLOBAL) < 0) rc = ddpm_error("%s: flush failed", c->path);
    }
    ddpm_free(x);
    return rc;
}

void eval_request_of_tier(const tier_spec *t, eval_request *q)
{
    memset(q, 0, sizeof *q);
    snprintf(q->tier, sizeof q->tier, "%s", t->name);
    q->bpd_n = t->bpd_n;
    q->bpd_train_n = t->bpd_train_n;
    q->samples_n = t->samples_n;
    q->batch = t->batch;
    q->ref_n = t->ref_n;
    snprintf(q->ref_stats, sizeof q->ref_stats, "%s/reference_stats.h5", t->runs_dir);
}

const char *eval_request_ref_text(const eval_request *q, char *buf, size_t n)
{
    if (q->ref_given) snprintf(buf, n, "given statistics %s", q->ref_stats);
    else if (q->ref_n > 0)
        snprintf(buf, n, "statistics of the first %d training images (cached in %s)", q->ref_n, q->ref_stats);
    else snprintf(buf, n, "statistics of the whole training set (cached in %s)", q->ref_stats);
    return buf;
}

int experiment_evaluate(const eval_request *q, variant_result *r, int want_train_bpd, const char *png_path)
{
    if (r->outcome == TRAIN_DIVERGED) return DDPM_OK;
    double t0 = ddpm_now();
    char ckpt[700], evalp[700];
    if (r->ckpt[0]) snprintf(ckpt, sizeof ckpt, "%s", r->ckpt);
    else snprintf(ckpt, sizeof ckpt, "%s/ckpt.h5", r->run_dir);
    snprintf(evalp, sizeof evalp, "%s/eval.h5", r->run_dir);
    /* The cache key is made of the tier's name and counts: the request's counts go through them. */
    tier_spec t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", q->tier);
    t.bpd_n = q->bpd_n;
    t.bpd_train_n = q->bpd_train_n;
    t.samples_n = q->samples_n;
    t.batch = q->batch;
    ddpm_model m;
    DDPM_TRY(ddpm_model_open(&m, &r->cfg, ckpt, "ema", q->batch));
    cache c;
    c.ckpt = ckpt;
    if (cache_open(&c, evalp, &t, &r->cfg) != DDPM_OK) {
        ddpm_model_close(&m);
        return DDPM_ERR;
    }
    uint8_t *samples = NULL;
    int rc = q->bpd_n > 0 ? bpd_piece(&c, &m, &r->cfg, 0, q->bpd_n, q->batch, &r->bpd_test) : DDPM_OK;
    if (rc == DDPM_OK && want_train_bpd && q->bpd_train_n > 0)
        rc = bpd_piece(&c, &m, &r->cfg, 1, q->bpd_train_n, q->batch, &r->bpd_train);
    if (rc == DDPM_OK && q->samples_n > 0) rc = samples_piece(&c, &m, &r->cfg, q->samples_n, q->batch, &samples);
    if (rc == DDPM_OK && png_path && samples) {
        int n = q->samples_n < 64 ? q->samples_n : 64;
        char cap[256];
        int side = 1;
        while (side * side < n) side++;
        snprintf(cap, sizeof cap,
                 "%s, tier %s, step %lld, ema weights: %d of %d samples (%dx%d, rows then columns), T = %d", r->variant,
                 q->tier, (long long)r->steps, n, q->samples_n, side, side, m.diff.T);
        rc = png_write_grid_captioned(png_path, samples, cap, n, m.H, m.W, m.C, 0, 1);
    }
    if (rc == DDPM_OK && samples) {
        char where[800];
        snprintf(where, sizeof where, "%s (sample features)", c.path);
        const quality_keep keep = { c.f, where };
        rc = q->ref_given
                 ? quality_metrics_given(&r->cfg, samples, q->samples_n, m.H, m.W, m.C, q->ref_stats, &keep, &r->q)
                 : quality_metrics(&r->cfg, samples, q->samples_n, m.H, m.W, m.C, q->ref_stats, q->ref_n, 1, &keep,
                                   &r->q);
        if (rc == DDPM_OK && r->q.available) {
            h5io_attr_f64(c.f, ".", r->q.fd_name, r->q.fd);
            h5io_attr_f64(c.f, ".", r->q.is_name, r->q.is_mean);
            h5io_attr_str(c.f, ".", "extractor", r->q.extractor);
            h5io_attr_str(c.f, ".", "metrics_revision", DDPM_GIT_REV);
            char ref[800];
            h5io_attr_str(c.f, ".", "fd_reference", eval_request_ref_text(q, ref, sizeof ref));
        }
    }
    ddpm_free(samples);
    if (h5io_close(c.f) != DDPM_OK) rc = DDPM_ERR;
    ddpm_model_close(&m);
    r->eval_seconds = ddpm_now() - t0;
    return rc;
}
