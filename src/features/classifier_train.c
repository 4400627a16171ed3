/* classifier_train.c — trains the Fashion-MNIST extractor: counter-RNG init, softmax
 * cross-entropy, backward through the layers of classifier.c, Adam with warmup and linear
 * decay. Deterministic for a seed (docs/classifier.md: and for 1 or 2 threads). */
#include "features/classifier.h"

#include "core/carve.h"
#include "core/common.h"
#include "core/progress.h"
#include "core/rng.h"
#include "features/classifier_internal.h"
#include "nn/conv2d.h"
#include "nn/dense.h"
#include "nn/relu.h"
#include "nn/swish.h"
#include "train/optim.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void classifier_train_defaults(classifier_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->batch_size = 64;
    o->epochs = 5;
    o->lr = 1e-3;
    o->warmup = 100;
    o->randflip = 1;
    o->digest_at = 200;
    o->verbose = 1;
}

/* He uniform (suits ReLU; fine for swish): weights ~ U(-l, l), l = sqrt(6 / fan_in), one RNG
 * stream per tensor (purpose RNG_INIT, index = tensor number); biases zero. */
static void clf_init(fmnist_classifier *c, uint64_t seed)
{
    for (int i = 0; i < CLF_NUM_PARAMS; i++) {
        const size_t n = clf_param_count(i);
        if (clf_params[i].fan_in == 0) {
            memset(c->p[i], 0, n * sizeof(float));
            continue;
        }
        const float limit = (float)sqrt(6.0 / clf_params[i].fan_in);
        rng_uniform_fill(rng_stream_make(seed, RNG_INIT, 0, (uint32_t)i), c->p[i], n);
        for (size_t k = 0; k < n; k++) c->p[i][k] = (2.0f * c->p[i][k] - 1.0f) * limit;
    }
}

/* Mean softmax cross-entropy of logits (B, K) against labels (B), in double; dlogits (B, K)
 * = (softmax - onehot) / B, the gradient of that mean. */
static double softmax_xent(float *dlogits, const float *logits, const int32_t *labels, int B, int K)
{
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *l = logits + (size_t)b * K;
        float *d = dlogits + (size_t)b * K;
        double mx = (double)l[0];
        for (int k = 1; k < K; k++)
            if ((double)l[k] > mx) mx = (double)l[k];
        double z = 0.0;
        for (int k = 0; k < K; k++) z += exp((double)l[k] - mx);
        const double logz = mx + log(z);
        total += logz - (double)l[labels[b]];
        for (int k = 0; k < K; k++) d[k] = (float)((exp((double)l[k] - logz) - (k == labels[b] ? 1.0 : 0.0)) / B);
    }
    return total / B;
}

/* Gradient buffers of one batch (each layer's backward adds into them). */
typedef struct {
    float *dlogits; /* (B, 10) */
    float *df;      /* (B, 128) */
    float *df_pre;  /* (B, 128) */
    float *dh3;     /* (B, 3136) */
    float *dh3_pre; /* (B, 7, 7, 64) */
    float *dh2;     /* (B, 14, 14, 64) */
    float *dh2_pre; /* (B, 14, 14, 64) */
    float *dh1;     /* (B, 28, 28, 32) */
    float *dh1_pre; /* (B, 28, 28, 32) */
    float *block;
    size_t total;
} clf_grads;

static int grads_alloc(clf_grads *g, int B)
{
    const size_t b = (size_t)B;
    const size_t sizes[] = { b * CLASSIFIER_NUM_CLASSES,
                             b * CLF_D,
                             b * CLF_D,
                             b * CLF_FLAT,
                             b * CLF_FLAT,
                             b * 14 * 14 * CLF_C2,
                             b * 14 * 14 * CLF_C2,
                             b * 28 * 28 * CLF_C1,
                             b * 28 * 28 * CLF_C1 };
    float **dst[] = {
        &g->dlogits, &g->df, &g->df_pre, &g->dh3, &g->dh3_pre, &g->dh2, &g->dh2_pre, &g->dh1, &g->dh1_pre
    };
    const int n = (int)DDPM_ARRAY_LEN(sizes);
    const size_t total = carve_total(sizes, n);
    g->block = ddpm_alloc(total * sizeof(float));
    if (!g->block) return ddpm_error_prefix("classifier_train: gradients for batch %d", B);
    g->total = total;
    carve(dst, g->block, sizes, n);
    return DDPM_OK;
}

/* dparams (same layout as c->params) += gradient of the loss whose dlogits is in g. */
static int clf_backward(float *const dp[CLF_NUM_PARAMS], clf_grads *g, const fmnist_classifier *c, clf_acts *a, int B)
{
    float *const *p = c->p;
    memset(g->block + (size_t)(g->df - g->block), 0, (g->total - (size_t)(g->df - g->block)) * sizeof(float));
    dense_backward(g->df, dp[CLF_LOGITS_W], dp[CLF_LOGITS_B], g->dlogits, a->f, p[CLF_LOGITS_W], B, CLF_D,
                   CLASSIFIER_NUM_CLASSES);
    swish_backward_libm(g->df_pre, g->df, a->f_pre, (size_t)B * CLF_D);
    dense_backward(g->dh3, dp[CLF_FC1_W], dp[CLF_FC1_B], g->df_pre, a->h3, p[CLF_FC1_W], B, CLF_FLAT, CLF_D);
    relu_backward(g->dh3_pre, g->dh3, a->h3_pre, (size_t)B * CLF_FLAT);
    DDPM_TRY(conv2d_backward(g->dh2, dp[CLF_CONV3_W], dp[CLF_CONV3_B], g->dh3_pre, a->h2, p[CLF_CONV3_W], a->col,
                             a->col_cap, B, 14, 14, CLF_C2, CLF_C3, 3, 2));
    relu_backward(g->dh2_pre, g->dh2, a->h2_pre, (size_t)B * 14 * 14 * CLF_C2);
    DDPM_TRY(conv2d_backward(g->dh1, dp[CLF_CONV2_W], dp[CLF_CONV2_B], g->dh2_pre, a->h1, p[CLF_CONV2_W], a->col,
                             a->col_cap, B, 28, 28, CLF_C1, CLF_C2, 3, 2));
    relu_backward(g->dh1_pre, g->dh1, a->h1_pre, (size_t)B * 28 * 28 * CLF_C1);
    DDPM_TRY(conv2d_backward(NULL, dp[CLF_CONV1_W], dp[CLF_CONV1_B], g->dh1_pre, a->x, p[CLF_CONV1_W], a->col,
                             a->col_cap, B, 28, 28, 1, CLF_C1, 3, 1));
    return DDPM_OK;
}

/* Linear warmup (warmed_up_lr), then linear decay to 0 at total_steps. */
static double clf_lr(const classifier_train_opts *o, int64_t step, int64_t total_steps)
{
    return warmed_up_lr(o->lr, o->warmup, step) * (double)(total_steps - step) / (double)total_steps;
}

int classifier_train(fmnist_classifier **out, const dataset *train, const classifier_train_opts *o,
                     classifier_train_report *rep)
{
    *out = NULL;
    memset(rep, 0, sizeof *rep);
    if (!train || !train->labels || train->H != 28 || train->W != 28 || train->C != 1)
        return ddpm_error("classifier_train: need the labelled 28x28x1 Fashion-MNIST train set");
    if (o->batch_size < 1 || o->epochs < 1 || !(o->lr > 0) || train->N < o->batch_size)
        return ddpm_error("classifier_train: bad options (batch %d, epochs %d, lr %g, N %d)", o->batch_size, o->epochs,
                          o->lr, train->N);
    const int B = o->batch_size;
    const int64_t steps_per_epoch = train->N / B;
    const int64_t total = (int64_t)o->epochs * steps_per_epoch;
    const int64_t steps = o->stop_after > 0 && o->stop_after < total ? o->stop_after : total;
    const double t0 = ddpm_now();

    fmnist_classifier *c = NULL;
    clf_acts a;
    clf_grads g;
    batch_sampler bs;
    adam_state adam;
    memset(&a, 0, sizeof a);
    memset(&g, 0, sizeof g);
    memset(&bs, 0, sizeof bs);
    memset(&adam, 0, sizeof adam);
    float *dparams = NULL;
    int32_t *idx = NULL, *labels = NULL;
    int st = clf_create(&c);
    if (st == DDPM_OK) st = clf_acts_alloc(&a, B);
    if (st == DDPM_OK) st = grads_alloc(&g, B);
    if (st == DDPM_OK) st = batch_sampler_init(&bs, train, o->seed);
    if (st == DDPM_OK) st = adam_init(&adam, c->nparams);
    if (st == DDPM_OK) {
        dparams = ddpm_alloc(c->nparams * sizeof(float));
        idx = ddpm_alloc((size_t)B * sizeof(int32_t));
        labels = ddpm_alloc((size_t)B * sizeof(int32_t));
        if (!dparams || !idx || !labels) st = DDPM_ERR;
    }
    float *dp[CLF_NUM_PARAMS];
    if (st == DDPM_OK) {
        for (int i = 0; i < CLF_NUM_PARAMS; i++) dp[i] = dparams + (c->p[i] - c->params);
        clf_init(c, o->seed);
    }

    progress pr;
    if (o->verbose) progress_begin(&pr, "train_classifier", steps, 0);
    double loss_window[100] = { 0 };
    for (int64_t step = 0; step < steps && st == DDPM_OK; step++) {
        st = batch_sampler_get(&bs, step, B, o->randflip, a.x, idx);
        if (st != DDPM_OK) break;
        for (int b = 0; b < B; b++) labels[b] = train->labels[idx[b]];
        st = clf_forward(c, &a, B);
        if (st != DDPM_OK) break;
        const double loss = softmax_xent(g.dlogits, a.logits, labels, B, CLASSIFIER_NUM_CLASSES);
        if (!isfinite(loss)) {
            st = ddpm_error("classifier_train: loss is %g at step %lld", loss, (long long)step);
            break;
        }
        loss_window[step % 100] = loss;
        memset(dparams, 0, c->nparams * sizeof(float));
        st = clf_backward(dp, &g, c, &a, B);
        if (st != DDPM_OK) break;
        adam_update(&adam, c->params, dparams, clf_lr(o, step, total));
        rep->steps_done = step + 1;
        if (o->digest_at > 0 && step + 1 == o->digest_at) rep->digest_at_value = classifier_digest(c, NULL);
        if (o->epoch_hook && (step + 1) % steps_per_epoch == 0)
            st = o->epoch_hook(c, (int)((step + 1) / steps_per_epoch), o->hook_user);
        if (o->verbose) {
            char extra[64];
            snprintf(extra, sizeof extra, "epoch %lld loss %.4f", (long long)(step / steps_per_epoch), loss);
            progress_update(&pr, step + 1, extra);
        }
    }
    if (o->verbose && st == DDPM_OK) progress_end(&pr, NULL);

    const int64_t nw = rep->steps_done < 100 ? rep->steps_done : 100;
    double sum = 0.0;
    for (int64_t i = 0; i < nw; i++) sum += loss_window[i];
    rep->final_loss = nw > 0 ? sum / (double)nw : 0.0;
    rep->total_steps = total;
    rep->seconds = ddpm_now() - t0;

    ddpm_free(labels);
    ddpm_free(idx);
    ddpm_free(dparams);
    adam_free(&adam);
    batch_sampler_free(&bs);
    ddpm_free(g.block);
    clf_acts_free(&a);
    if (st != DDPM_OK) {
        classifier_free(c);
        return DDPM_ERR;
    }
    *out = c;
    return DDPM_OK;
}
