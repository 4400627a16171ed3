/* classifier.c — the Fashion-MNIST feature extractor: parameter table, forward pass, batched
 * inference, weights file I/O and digest. Training is in classifier_train.c. */
#include "features/classifier.h"

#include "core/carve.h"
#include "core/common.h"
#include "features/classifier_internal.h"
#include "io/h5io.h"
#include "nn/conv2d.h"
#include "nn/dense.h"
#include "nn/relu.h"
#include "nn/swish.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Inference works on fixed chunks of this many images of a call, one chunk per OpenMP thread
 * at a time with single-threaded BLAS (~18 MB of workspace per thread). */
#define CLF_EVAL_CHUNK 32
/* Examples per im2col chunk (conv2d_forward/backward split batches into such chunks). */
#define CLF_COL_EXAMPLES 32

const clf_param_info clf_params[CLF_NUM_PARAMS] = {
    { "conv1/W", 4, { 3, 3, 1, CLF_C1 }, 9 * 1, 9 * CLF_C1 },
    { "conv1/b", 1, { CLF_C1 }, 0, 0 },
    { "conv2/W", 4, { 3, 3, CLF_C1, CLF_C2 }, 9 * CLF_C1, 9 * CLF_C2 },
    { "conv2/b", 1, { CLF_C2 }, 0, 0 },
    { "conv3/W", 4, { 3, 3, CLF_C2, CLF_C3 }, 9 * CLF_C2, 9 * CLF_C3 },
    { "conv3/b", 1, { CLF_C3 }, 0, 0 },
    { "fc1/W", 2, { CLF_FLAT, CLF_D }, CLF_FLAT, CLF_D },
    { "fc1/b", 1, { CLF_D }, 0, 0 },
    { "logits/W", 2, { CLF_D, CLASSIFIER_NUM_CLASSES }, CLF_D, CLASSIFIER_NUM_CLASSES },
    { "logits/b", 1, { CLASSIFIER_NUM_CLASSES }, 0, 0 },
};

size_t clf_param_count(int i)
{
    size_t n = 1;
    for (int r = 0; r < clf_params[i].rank; r++) n *= (size_t)clf_params[i].dims[r];
    return n;
}

int clf_acts_alloc(clf_acts *a, int cap)
{
    memset(a, 0, sizeof *a);
    const size_t B = (size_t)cap;
    const size_t n_x = B * 28 * 28, n_h1 = B * 28 * 28 * CLF_C1, n_h2 = B * 14 * 14 * CLF_C2, n_h3 = B * CLF_FLAT,
                 n_f = B * CLF_D, n_l = B * CLASSIFIER_NUM_CLASSES;
    /* The largest per-example im2col is conv2's (14*14 rows of 3*3*32). */
    size_t per = conv2d_workspace_floats(28, 28, 1, CLF_C1, 3, 1);
    size_t per2 = conv2d_workspace_floats(28, 28, CLF_C1, CLF_C2, 3, 2);
    size_t per3 = conv2d_workspace_floats(14, 14, CLF_C2, CLF_C3, 3, 2);
    if (per2 > per) per = per2;
    if (per3 > per) per = per3;
    a->col_cap = per * (B < CLF_COL_EXAMPLES ? B : CLF_COL_EXAMPLES);
    /* One block; every tensor 64-byte aligned (core/carve.h). */
    const size_t sizes[] = { n_x, n_h1, n_h1, n_h2, n_h2, n_h3, n_h3, n_f, n_f, n_l, a->col_cap };
    float **dst[] = { &a->x,  &a->h1_pre, &a->h1, &a->h2_pre, &a->h2, &a->h3_pre,
                      &a->h3, &a->f_pre,  &a->f,  &a->logits, &a->col };
    const int n = (int)DDPM_ARRAY_LEN(sizes);
    a->block = ddpm_alloc(carve_total(sizes, n) * sizeof(float));
    if (!a->block) return ddpm_error_prefix("classifier: activations for batch %d", cap);
    carve(dst, a->block, sizes, n);
    a->cap = cap;
    return DDPM_OK;
}

void clf_acts_free(clf_acts *a)
{
    if (!a) return;
    ddpm_free(a->block);
    memset(a, 0, sizeof *a);
}

int clf_create(fmnist_classifier **out)
{
    *out = NULL;
    fmnist_classifier *c = ddpm_alloc(sizeof *c);
    if (!c) return DDPM_ERR;
    size_t sizes[CLF_NUM_PARAMS];
    float **dst[CLF_NUM_PARAMS];
    for (int i = 0; i < CLF_NUM_PARAMS; i++) {
        sizes[i] = clf_param_count(i);
        dst[i] = &c->p[i];
    }
    const size_t n = carve_total(sizes, CLF_NUM_PARAMS);
    c->params = ddpm_alloc(n * sizeof(float));
    if (!c->params) {
        classifier_free(c);
        return DDPM_ERR;
    }
    /* Padding between tensors stays zero and is excluded from the digest. */
    c->nparams = n;
    carve(dst, c->params, sizes, CLF_NUM_PARAMS);
    *out = c;
    return DDPM_OK;
}

void classifier_free(fmnist_classifier *c)
{
    if (!c) return;
    for (int i = 0; i < c->n_eval; i++) clf_acts_free(&c->eval[i]);
    ddpm_free(c->eval);
    ddpm_free(c->params);
    ddpm_free(c);
}

/* At least nt inference workspaces (grown once when the thread count grows, never per image). */
static int eval_workspaces(fmnist_classifier *c, int nt)
{
    if (c->n_eval >= nt) return DDPM_OK;
    clf_acts *ws = ddpm_alloc((size_t)nt * sizeof *ws);
    if (!ws) return DDPM_ERR;
    for (int i = 0; i < c->n_eval; i++) ws[i] = c->eval[i];
    for (int i = c->n_eval; i < nt; i++)
        if (clf_acts_alloc(&ws[i], CLF_EVAL_CHUNK) != DDPM_OK) {
            for (int k = c->n_eval; k < i; k++) clf_acts_free(&ws[k]);
            ddpm_free(ws);
            return DDPM_ERR;
        }
    ddpm_free(c->eval);
    c->eval = ws;
    c->n_eval = nt;
    return DDPM_OK;
}

int classifier_feature_dim(const fmnist_classifier *c) { return c ? CLF_D : 0; }

int clf_forward(const fmnist_classifier *c, clf_acts *a, int B)
{
    float *const *p = c->p;
    DDPM_TRY(conv2d_forward(a->h1_pre, a->x, p[CLF_CONV1_W], p[CLF_CONV1_B], a->col, a->col_cap, B, 28, 28, 1, CLF_C1,
                            3, 1));
    relu_forward(a->h1, a->h1_pre, (size_t)B * 28 * 28 * CLF_C1);
    DDPM_TRY(conv2d_forward(a->h2_pre, a->h1, p[CLF_CONV2_W], p[CLF_CONV2_B], a->col, a->col_cap, B, 28, 28, CLF_C1,
                            CLF_C2, 3, 2));
    relu_forward(a->h2, a->h2_pre, (size_t)B * 14 * 14 * CLF_C2);
    DDPM_TRY(conv2d_forward(a->h3_pre, a->h2, p[CLF_CONV3_W], p[CLF_CONV3_B], a->col, a->col_cap, B, 14, 14, CLF_C2,
                            CLF_C3, 3, 2));
    relu_forward(a->h3, a->h3_pre, (size_t)B * CLF_FLAT);
    dense_forward(a->f_pre, a->h3, p[CLF_FC1_W], p[CLF_FC1_B], B, CLF_FLAT, CLF_D);
    swish_forward_libm(a->f, a->f_pre, (size_t)B * CLF_D);
    dense_forward(a->logits, a->f, p[CLF_LOGITS_W], p[CLF_LOGITS_B], B, CLF_D, CLASSIFIER_NUM_CLASSES);
    return DDPM_OK;
}

int classifier_features(fmnist_classifier *c, const uint8_t *images, int N, float *feats, float *logits)
{
    if (!c || (N > 0 && !images)) return ddpm_error("classifier_features: no classifier or images");
    if (N < 0) return ddpm_error("classifier_features: negative image count %d", N);
    if (N == 0) return DDPM_OK;
    const int nchunks = (N + CLF_EVAL_CHUNK - 1) / CLF_EVAL_CHUNK;
    const int nt = omp_get_max_threads();
    DDPM_TRY(eval_workspaces(c, nt));
    /* Chunks in parallel, each on one thread with one BLAS thread: the layers' own OpenMP loops
     * run serially inside (no nested parallelism), and a chunk's result does not depend on the
     * thread that computes it or on the thread count. */
    const int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    const size_t hw = 28 * 28;
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int k = 0; k < nchunks; k++) {
        clf_acts *a = &c->eval[omp_get_thread_num()];
        const int b0 = k * CLF_EVAL_CHUNK;
        const int B = N - b0 < CLF_EVAL_CHUNK ? N - b0 : CLF_EVAL_CHUNK;
        const uint8_t *src = images + (size_t)b0 * hw;
        const size_t n = (size_t)B * hw;
        for (size_t i = 0; i < n; i++) a->x[i] = (float)src[i] / 127.5f - 1.0f;
        if (clf_forward(c, a, B) != DDPM_OK) {
#pragma omp atomic write
            failed = 1;
            continue;
        }
        if (feats) memcpy(feats + (size_t)b0 * CLF_D, a->f, (size_t)B * CLF_D * sizeof(float));
        if (logits)
            memcpy(logits + (size_t)b0 * CLASSIFIER_NUM_CLASSES, a->logits,
                   (size_t)B * CLASSIFIER_NUM_CLASSES * sizeof(float));
    }
    openblas_set_num_threads(blas_threads);
    return failed ? ddpm_error("classifier_features: im2col workspace too small (internal error)") : DDPM_OK;
}

int classifier_accuracy(fmnist_classifier *c, const dataset *ds, double *accuracy)
{
    if (!ds || !ds->labels || ds->H != 28 || ds->W != 28 || ds->C != 1)
        return ddpm_error("classifier_accuracy: need a labelled 28x28x1 data set");
    float *logits = ddpm_alloc((size_t)ds->N * CLASSIFIER_NUM_CLASSES * sizeof(float));
    if (!logits) return DDPM_ERR;
    if (classifier_features(c, ds->pixels, ds->N, NULL, logits) != DDPM_OK) {
        ddpm_free(logits);
        return DDPM_ERR;
    }
    int64_t correct = 0;
    for (int i = 0; i < ds->N; i++) {
        const float *l = logits + (size_t)i * CLASSIFIER_NUM_CLASSES;
        int best = 0;
        for (int k = 1; k < CLASSIFIER_NUM_CLASSES; k++)
            if (l[k] > l[best]) best = k;
        correct += best == ds->labels[i];
    }
    ddpm_free(logits);
    *accuracy = ds->N > 0 ? (double)correct / ds->N : 0.0;
    return DDPM_OK;
}

uint64_t classifier_digest(const fmnist_classifier *c, char hex[17])
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 offset basis */
    for (int i = 0; i < CLF_NUM_PARAMS; i++) {
        const unsigned char *b = (const unsigned char *)c->p[i];
        const size_t nb = clf_param_count(i) * sizeof(float);
        for (size_t k = 0; k < nb; k++) {
            h ^= b[k];
            h *= 0x100000001b3ull; /* FNV 64 prime */
        }
    }
    if (hex) snprintf(hex, 17, "%016llx", (unsigned long long)h);
    return h;
}

static void param_dims(int i, hsize_t dims[4])
{
    for (int r = 0; r < clf_params[i].rank; r++) dims[r] = (hsize_t)clf_params[i].dims[r];
}

int classifier_save(const fmnist_classifier *c, const char *path)
{
    h5io_init();
    hid_t f = h5io_create(path);
    if (f < 0) return DDPM_ERR;
    int st = DDPM_OK;
    for (int i = 0; i < CLF_NUM_PARAMS && st == DDPM_OK; i++) {
        hsize_t dims[4];
        param_dims(i, dims);
        st = h5io_write_f32(f, clf_params[i].name, c->p[i], clf_params[i].rank, dims);
    }
    char hex[17];
    classifier_digest(c, hex);
    if (st == DDPM_OK) st = h5io_attr_i64(f, ".", "version", CLASSIFIER_FILE_VERSION);
    if (st == DDPM_OK) st = h5io_attr_str(f, ".", "weights_digest", hex);
    if (st == DDPM_OK)
        st = h5io_attr_str(f, ".", "architecture",
                           "conv3x3 1->32 relu, conv3x3/2 32->64 relu, conv3x3/2 64->64 relu, "
                           "dense 3136->128 swish (features), dense 128->10 (logits); NHWC, TF SAME");
    if (st == DDPM_OK)
        st = h5io_attr_str(f, ".", "digest_method",
                           "FNV-1a 64 over little-endian float32 bytes of conv1/W, "
                           "conv1/b, conv2/W, conv2/b, conv3/W, conv3/b, fc1/W, "
                           "fc1/b, logits/W, logits/b in that order");
    if (h5io_close(f) != DDPM_OK) st = DDPM_ERR;
    return st;
}

int classifier_load(fmnist_classifier **out, const char *path)
{
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) return ddpm_error("%s: not found; run `make classifier` to train it", path);
    h5io_init();
    hid_t f = h5io_open(path, 0);
    if (f < 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", ddpm_last_error());
        return ddpm_error("%s; run `make classifier` to retrain it", why);
    }
    fmnist_classifier *c = NULL;
    int st = clf_create(&c);
    int64_t version = 0;
    if (st == DDPM_OK &&
        (!h5io_attr_exists(f, ".", "version") || h5io_get_attr_i64(f, ".", "version", &version) != DDPM_OK ||
         version != CLASSIFIER_FILE_VERSION))
        st = ddpm_error("%s: classifier file version %lld, expected %d; run `make classifier` "
                        "to retrain it",
                        path, (long long)version, CLASSIFIER_FILE_VERSION);
    for (int i = 0; i < CLF_NUM_PARAMS && st == DDPM_OK; i++) {
        if (!h5io_exists(f, clf_params[i].name)) {
            st = ddpm_error("%s: dataset %s is missing (not a classifier file?); run `make "
                            "classifier` to retrain it",
                            path, clf_params[i].name);
            break;
        }
        hsize_t dims[4];
        param_dims(i, dims);
        st = h5io_read_into_f32(f, clf_params[i].name, c->p[i], clf_params[i].rank, dims);
    }
    char want[64] = "", got[17];
    if (st == DDPM_OK && h5io_get_attr_str(f, ".", "weights_digest", want, sizeof want) != DDPM_OK)
        st = ddpm_error("%s: attribute weights_digest is missing; run `make classifier` to "
                        "retrain it",
                        path);
    if (st == DDPM_OK) {
        classifier_digest(c, got);
        if (strcmp(got, want) != 0)
            st = ddpm_error("%s: weights digest %s does not match the recorded %s (file modified "
                            "or corrupted); run `make classifier` to retrain it",
                            path, got, want);
    }
    h5io_close(f);
    if (st != DDPM_OK) {
        classifier_free(c);
        return DDPM_ERR;
    }
    *out = c;
    return DDPM_OK;
}
