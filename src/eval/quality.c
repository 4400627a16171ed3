#include "eval/quality.h"

#include "core/common.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "dist/dist.h"
#include "eval/partial.h"
#include "features/classifier.h"
#include "features/fid.h"
#include "features/inception.h"
#include "features/inception_score.h"
#include "io/filekind.h"
#include "io/h5io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct quality_extractor {
    fmnist_classifier *clf;
    inception_net *inc;
    int D, K;
};

static const char *inception_path(void)
{
    const char *p = getenv("DDPM_INCEPTION_WEIGHTS");
    return p ? p : INCEPTION_DEFAULT_PATH;
}

int quality_extractor_open(quality_extractor **out, const ddpm_config *cfg, quality_result *info)
{
    *out = NULL;
    memset(info, 0, sizeof *info);
    info->fd = info->is_mean = info->is_std = (double)NAN;
    quality_extractor *e = ddpm_alloc(sizeof *e);
    if (!e) return DDPM_ERR;
    if (access(inception_path(), R_OK) == 0) {
        if (inception_load_pth(&e->inc, inception_path()) != DDPM_OK) {
            ddpm_free(e);
            return DDPM_ERR;
        }
        e->D = 2048;
        e->K = 1008;
        snprintf(info->extractor, sizeof info->extractor, "inception-pool3");
        const char *base = strrchr(inception_path(), '/');
        snprintf(info->weights, sizeof info->weights, "%s", base ? base + 1 : inception_path());
        snprintf(info->fd_name, sizeof info->fd_name, "FID");
        snprintf(info->is_name, sizeof info->is_name, "IS");
    } else if (cfg->dataset == DATASET_FASHION_MNIST) {
        if (classifier_load(&e->clf, CLASSIFIER_DEFAULT_PATH) != DDPM_OK) {
            /* Sample quality is then reported as unavailable; every other number still is. */
            snprintf(info->why, sizeof info->why, "%s", ddpm_last_error());
            fprintf(stderr, "warning: FD_fmnist/IS_fmnist unavailable: %s\n", info->why);
            ddpm_free(e);
            return DDPM_OK;
        }
        e->D = classifier_feature_dim(e->clf);
        e->K = 10;
        snprintf(info->extractor, sizeof info->extractor, "fmnist-classifier");
        char hex[17];
        classifier_digest(e->clf, hex);
        snprintf(info->weights, sizeof info->weights, "digest %s", hex);
        snprintf(info->fd_name, sizeof info->fd_name, "FD_fmnist");
        snprintf(info->is_name, sizeof info->is_name, "IS_fmnist");
    } else {
        snprintf(info->why, sizeof info->why,
                 "no feature extractor for %s without the Inception weights; "
                 "run `make inception-weights` (or set DDPM_INCEPTION_WEIGHTS)",
                 dataset_name(cfg->dataset));
        ddpm_free(e);
        return DDPM_OK;
    }
    info->available = 1;
    *out = e;
    return DDPM_OK;
}

void quality_extractor_free(quality_extractor *e)
{
    if (!e) return;
    if (e->clf) classifier_free(e->clf);
    if (e->inc) inception_free(e->inc);
    ddpm_free(e);
}

int quality_feature_dim(const quality_extractor *e) { return e->D; }
int quality_num_classes(const quality_extractor *e) { return e->K; }

int quality_features(quality_extractor *e, const uint8_t *images, int n, int H, int W, int C, float *feats,
                     float *logits)
{
    if (e->clf) {
        if (H != 28 || W != 28 || C != 1)
            return ddpm_error("the Fashion-MNIST classifier takes 28x28x1 images, got %dx%dx%d", H, W, C);
        return classifier_features(e->clf, images, n, feats, logits);
    }
    if (C != 1 && C != 3) return ddpm_error("Inception features need 1 or 3 channels, got %d", C);
    return inception_forward(e->inc, feats, logits, images, n, H, W, C);
}

typedef struct {
    quality_extractor *e;
    const uint8_t *images;
    int H, W, C;
    float *feats, *logits;
} feature_job;

static int feature_batch(void *user, int b, int i0, int nb, void (*step)(void *, int, int), void *step_user)
{
    (void)b;
    (void)step;
    (void)step_user;
    feature_job *j = user;
    const size_t per = (size_t)j->H * j->W * j->C;
    return quality_features(j->e, j->images + (size_t)i0 * per, nb, j->H, j->W, j->C,
                            j->feats ? j->feats + (size_t)i0 * j->e->D : NULL,
                            j->logits ? j->logits + (size_t)i0 * j->e->K : NULL);
}

/* The rows of the kept sample features (quality_keep) are valid for: this extractor with these
 * weights, on exactly these images. */
static void keep_key(const quality_result *info, const uint8_t *images, int n, int H, int W, int C, char *key,
                     size_t len)
{
    char hex[17];
    partial_digest(images, (size_t)n * H * W * C, hex);
    snprintf(key, len, "extractor=%s weights=%s images=%dx%dx%dx%d digest=%s", info->extractor, info->weights, n, H, W,
             C, hex);
}

/* Drops kept features made for another key (other samples, another extractor or its weights). */
static int keep_check(const quality_keep *k, const char *key)
{
    if (!h5io_exists(k->f, "sample_features")) return DDPM_OK;
    char have[512] = "";
    if (h5io_attr_exists(k->f, "sample_features", "key"))
        h5io_get_attr_str(k->f, "sample_features", "key", have, sizeof have);
    if (!strcmp(have, key)) return DDPM_OK;
    static const char *const names[] = { "sample_features", "sample_logits", "sample_features_batches_done" };
    for (size_t i = 0; i < DDPM_ARRAY_LEN(names); i++)
        if (h5io_exists(k->f, names[i]) && H5Ldelete(k->f, names[i], H5P_DEFAULT) < 0)
            return ddpm_error("%s: cannot remove the stale %s", k->label, names[i]);
    return DDPM_OK;
}

/* 1 when the kept set is whole (its bookkeeping record is gone, eval/partial.h) and of n rows:
 * its rows are then read into the buffers of d. */
static int keep_read_whole(const quality_keep *k, const partial_dset *d, int nd, int n)
{
    if (!h5io_exists(k->f, "sample_features") || h5io_exists(k->f, "sample_features_batches_done")) return 0;
    int ok = 1;
    for (int i = 0; i < nd && ok; i++) {
        float *v = NULL;
        int rank;
        hsize_t dd[H5IO_MAX_RANK];
        ok = h5io_exists(k->f, d[i].name) && h5io_read_f32(k->f, d[i].name, &v, &rank, dd) == DDPM_OK && rank == 2 &&
             dd[0] == (hsize_t)n && dd[1] == d[i].row[0];
        if (ok) memcpy(d[i].data, v, (size_t)n * d[i].row[0] * sizeof(float));
        ddpm_free(v);
    }
    return ok;
}

/* Features of images in chunks of 500 (bounded memory; under MPI dealt over the ranks, rank 0
 * reporting the job's progress, and every rank gets all rows), kept batch by batch in keep's
 * file when it is given (single process). */
static int features_chunked(quality_extractor *e, const quality_result *info, const uint8_t *images, int n, int H,
                            int W, int C, float *feats, float *logits, const char *label, const quality_keep *keep)
{
    if (keep && (keep->f < 0 || dist_size() > 1)) keep = NULL;
    partial_dset d[2];
    int nd = 0;
    if (feats)
        d[nd++] = (partial_dset){ keep ? "sample_features" : "features", PARTIAL_F32, 0, 1, { (hsize_t)e->D }, feats };
    if (logits)
        d[nd++] = (partial_dset){ keep ? "sample_logits" : "logits", PARTIAL_F32, 0, 1, { (hsize_t)e->K }, logits };
    char key[512] = "";
    if (keep) {
        keep_key(info, images, n, H, W, C, key, sizeof key);
        DDPM_TRY(keep_check(keep, key));
        if (keep_read_whole(keep, d, nd, n)) {
            fprintf(stderr, "%s: kept in %s\n", label, keep->label);
            return DDPM_OK;
        }
    }
    feature_job job = { e, images, H, W, C, feats, logits };
    partial_set ps;
    int rc = partial_begin(&ps, keep ? keep->f : H5I_INVALID_HID, keep ? keep->label : label,
                           keep ? "sample_features_batches_done" : NULL, n, 500, d, nd);
    /* the key goes on before the first batch, so a kill in any batch leaves a set to resume */
    if (rc == DDPM_OK && keep) rc = h5io_attr_str(keep->f, "sample_features", "key", key);
    if (rc == DDPM_OK) rc = partial_run(&ps, label, 1, feature_batch, &job);
    if (rc == DDPM_OK && keep) rc = partial_finish(&ps);
    if (rc == DDPM_OK) rc = partial_share(&ps);
    partial_free(&ps);
    if (rc == DDPM_OK && keep && H5Fflush(keep->f, H5F_SCOPE_GLOBAL) < 0)
        rc = ddpm_error("%s: flush failed", keep->label);
    return rc;
}

/* Features of the reference images, batch by batch into PATH.tmp (eval/partial.h), so a kill
 * during a long extraction (60k images through Inception) keeps the finished batches; the same
 * file then receives the statistics (stats_save) and is renamed to PATH. */
static int reference_features(quality_extractor *e, const dataset *ds, const char *path, const char *want, float *feats)
{
    const int chunk = 500;
    char key[512];
    snprintf(key, sizeof key, "reference features %s batch=%d", want, chunk);
    hid_t f = dist_rank() == 0 ? partial_file_open(path, key) : H5I_INVALID_HID;
    partial_dset d = { "features", PARTIAL_F32, 0, 1, { (hsize_t)e->D }, feats };
    partial_set ps;
    feature_job job = { e, ds->pixels, ds->H, ds->W, ds->C, feats, NULL };
    int rc = partial_begin(&ps, f, path, "batches_done", ds->N, chunk, &d, 1);
    if (rc == DDPM_OK) rc = partial_run(&ps, "  reference features", 1, feature_batch, &job);
    if (rc == DDPM_OK) rc = partial_share(&ps);
    partial_free(&ps);
    if (f >= 0 && h5io_close(f) != DDPM_OK) rc = DDPM_ERR;
    return rc;
}

/* The reference description without its "weights=..." word (a retrained extractor's stale cache). */
static const char *without_weights(const char *ref, char *buf, size_t n)
{
    snprintf(buf, n, "%s", ref);
    char *w = strstr(buf, " weights=");
    if (w) {
        char *end = strchr(w + 1, ' ');
        memmove(w, end ? end : w + strlen(w), strlen(end ? end : w + strlen(w)) + 1);
    }
    return buf;
}

/* What the file at path offers (see quality.h): 1 when it holds the statistics asked for (loaded
 * into mu/sigma), 0 when they are to be computed and written there, DDPM_ERR when path must
 * not be written. */
static int stats_cache_lookup(const quality_result *info, const char *path, const char *want, int recompute,
                              double **mu, double **sigma, int *D)
{
    char have[256] = "", have_extractor[128] = "";
    file_kind kind = file_kind_of(path);
    if (recompute == QUALITY_STATS_REPLACE) kind = FK_MISSING;
    if (kind != FK_MISSING && kind != FK_STATS)
        return ddpm_error("%s is %s, not reference statistics; refusing to overwrite it: name a new file for the "
                          "statistics",
                          path, file_kind_name(kind));
    if (kind == FK_MISSING) return 0;
    hid_t f = h5io_open(path, 0);
    if (f < 0) return DDPM_ERR;
    if (h5io_attr_exists(f, ".", "reference")) h5io_get_attr_str(f, ".", "reference", have, sizeof have);
    if (h5io_attr_exists(f, ".", "extractor"))
        h5io_get_attr_str(f, ".", "extractor", have_extractor, sizeof have_extractor);
    h5io_close(f);
    if (strcmp(have_extractor, info->extractor))
        return ddpm_error("%s holds statistics of another feature extractor (%s; this one is %s); refusing to "
                          "overwrite them: name a new file",
                          path, have_extractor[0] ? have_extractor : "unknown", info->extractor);
    if (!strcmp(have, want)) return stats_load(path, mu, sigma, D) == DDPM_OK ? 1 : DDPM_ERR;
    if (!have[0] && recompute == QUALITY_STATS_KEEP) {
        /* Statistics the user brought (`ddpm inception --stats`, a converted reference). */
        fprintf(stderr, "  %s: %s statistics of unrecorded images; using them as given\n", path, have_extractor);
        return stats_load(path, mu, sigma, D) == DDPM_OK ? 1 : DDPM_ERR;
    }
    char a[256], b[256];
    if (!strcmp(without_weights(have, a, sizeof a), without_weights(want, b, sizeof b))) {
        fprintf(stderr, "  %s: reference statistics of other %s weights; recomputing them\n", path, info->extractor);
        return 0;
    }
    if (!recompute)
        return ddpm_error("%s holds reference statistics of other settings (%s; asked for %s); pass --recompute "
                          "to replace them, or name a new file",
                          path, have[0] ? have : "unrecorded", want);
    return 0;
}

int quality_reference_stats(quality_extractor *e, const quality_result *info, const ddpm_config *cfg, const char *path,
                            int ref_n, int recompute, double **mu, double **sigma, int *D)
{
    char want[256];
    snprintf(want, sizeof want, "extractor=%s weights=%s dataset=%s n=%d", info->extractor, info->weights,
             dataset_name(cfg->dataset), ref_n);
    /* Under MPI rank 0 alone reads and writes the cache; the others get its answer. */
    const int root = dist_rank() == 0;
    int state = root ? stats_cache_lookup(info, path, want, recompute, mu, sigma, D) : 0;
    DDPM_TRY(dist_bcast_bytes(&state, sizeof state, 0));
    if (state < 0)
        return root ? DDPM_ERR : ddpm_error("%s: rank 0 refused the reference statistics (see its message)", path);
    if (state == 1) {
        if (dist_size() == 1) return DDPM_OK;
        DDPM_TRY(dist_bcast_bytes(D, sizeof *D, 0));
        if (!root) {
            *mu = ddpm_alloc((size_t)*D * sizeof(double));
            *sigma = ddpm_alloc((size_t)*D * *D * sizeof(double));
            if (!*mu || !*sigma) return DDPM_ERR;
        }
        DDPM_TRY(dist_bcast_bytes(*mu, (size_t)*D * sizeof(double), 0));
        return dist_bcast_bytes(*sigma, (size_t)*D * *D * sizeof(double), 0);
    }
    dataset ds;
    DDPM_TRY(dataset_load_n(&ds, cfg, 1, ref_n));
    float *feats = ddpm_alloc((size_t)ds.N * e->D * sizeof(float));
    *mu = ddpm_alloc((size_t)e->D * sizeof(double));
    *sigma = ddpm_alloc((size_t)e->D * e->D * sizeof(double));
    int rc = (!feats || !*mu || !*sigma) ? DDPM_ERR : DDPM_OK;
    if (rc == DDPM_OK) rc = reference_features(e, &ds, path, want, feats);
    if (rc == DDPM_OK) rc = feature_stats(feats, ds.N, e->D, *mu, *sigma);
    if (rc == DDPM_OK && root) rc = stats_save(path, *mu, *sigma, e->D, info->extractor, want);
    *D = e->D;
    ddpm_free(feats);
    dataset_free(&ds);
    return rc;
}

/* The sample half of quality_metrics and quality_metrics_given: features and logits of the n
 * images, their statistics, FID against the reference (mu_ref, sig_ref: D features) and IS. */
static int sample_metrics(quality_extractor *e, const uint8_t *images, int n, int H, int W, int C, const double *mu_ref,
                          const double *sig_ref, int D, const quality_keep *keep, quality_result *out)
{
    float *feats = ddpm_alloc((size_t)n * e->D * sizeof(float)), *logits = ddpm_alloc((size_t)n * e->K * sizeof(float));
    double *mu = ddpm_alloc((size_t)D * sizeof(double)), *sig = ddpm_alloc((size_t)D * D * sizeof(double));
    int rc = (!feats || !logits || !mu || !sig) ? DDPM_ERR : DDPM_OK;
    if (rc == DDPM_OK) rc = features_chunked(e, out, images, n, H, W, C, feats, logits, "  sample features", keep);
    if (rc == DDPM_OK) rc = feature_stats(feats, n, D, mu, sig);
    if (rc == DDPM_OK) rc = frechet_distance(mu, sig, mu_ref, sig_ref, D, &out->fd);
    if (rc == DDPM_OK) rc = inception_score(logits, n, e->K, n < 10 ? n : 10, &out->is_mean, &out->is_std);
    ddpm_free(feats);
    ddpm_free(logits);
    ddpm_free(mu);
    ddpm_free(sig);
    return rc;
}

int quality_metrics(const ddpm_config *cfg, const uint8_t *images, int n, int H, int W, int C, const char *ref_cache,
                    int ref_n, int recompute, const quality_keep *keep, quality_result *out)
{
    quality_extractor *e;
    DDPM_TRY(quality_extractor_open(&e, cfg, out));
    if (!e) return DDPM_OK;
    double *mu_ref = NULL, *sig_ref = NULL;
    int D = 0;
    int rc = quality_reference_stats(e, out, cfg, ref_cache, ref_n, recompute, &mu_ref, &sig_ref, &D);
    if (rc == DDPM_OK) rc = sample_metrics(e, images, n, H, W, C, mu_ref, sig_ref, D, keep, out);
    ddpm_free(mu_ref);
    ddpm_free(sig_ref);
    quality_extractor_free(e);
    return rc;
}

int quality_metrics_given(const ddpm_config *cfg, const uint8_t *images, int n, int H, int W, int C,
                          const char *stats_path, const quality_keep *keep, quality_result *out)
{
    quality_extractor *e;
    DDPM_TRY(quality_extractor_open(&e, cfg, out));
    if (!e) return DDPM_OK;
    double *mu_ref = NULL, *sig_ref = NULL;
    int D = 0;
    char ext[128] = "";
    int rc = stats_load_any(stats_path, &mu_ref, &sig_ref, &D, ext, sizeof ext, NULL);
    if (rc == DDPM_OK && ext[0] && strcmp(ext, out->extractor))
        rc = ddpm_error("%s: statistics of the %s features, but this evaluation uses %s; give statistics of %s",
                        stats_path, ext, out->extractor, out->extractor);
    if (rc == DDPM_OK && D != e->D)
        rc = ddpm_error("%s: statistics of %d-dimensional features, but %s gives %d (an .npz for FID must be of "
                        "the Inception pool3 features, 2048)",
                        stats_path, D, out->extractor, e->D);
    if (rc == DDPM_OK) rc = sample_metrics(e, images, n, H, W, C, mu_ref, sig_ref, D, keep, out);
    ddpm_free(mu_ref);
    ddpm_free(sig_ref);
    quality_extractor_free(e);
    return rc;
}
