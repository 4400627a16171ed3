/* classifier.h — the offline sample-quality extractor: a small CNN trained on Fashion-MNIST
 * with the project's own layers and shipped in experiments/classifier/fmnist_classifier.h5.
 *
 * Its 128-d penultimate activations give FD_fmnist (Fréchet distance, src/features/fid.h) and
 * its 10-way softmax gives IS_fmnist. These are NOT the paper's FID/IS (docs/classifier.md).
 *
 * Network (NHWC, TF SAME padding):
 *   x (N,28,28,1) in [-1,1] -> conv1 3x3 1->32 relu -> conv2 3x3/2 32->64 relu (14x14)
 *   -> conv3 3x3/2 64->64 relu (7x7) -> flatten 3136 -> fc1 3136->128 swish = the features
 *   -> logits 128->10. (Swish, not ReLU, on the features: no dead units, so their covariance
 *   has full rank.)
 * Parameters are one float block in this fixed order (names as stored in the HDF5 file):
 *   conv1/W [3,3,1,32] conv1/b [32] conv2/W [3,3,32,64] conv2/b [64] conv3/W [3,3,64,64]
 *   conv3/b [64] fc1/W [3136,128] fc1/b [128] logits/W [128,10] logits/b [10].
 * The weights digest is FNV-1a 64 over the bytes of that block (little-endian floats).
 *
 * Inference runs fixed chunks of 32 images of a call in parallel (one OpenMP thread and one
 * BLAS thread per chunk; workspace per thread, allocated on first use, never per image): the
 * features are bit-identical whatever the thread count, and equal up to float32 round-off
 * (~1e-6) when the same images are split differently across calls. Training is bit-for-bit
 * deterministic for a seed and a BLAS thread count; the OpenMP thread count does not matter
 * (docs/classifier.md). */
#ifndef DDPM_FEATURES_CLASSIFIER_H
#define DDPM_FEATURES_CLASSIFIER_H

#include <stdint.h>

#include "data/dataset.h"

#define CLASSIFIER_DEFAULT_PATH "experiments/classifier/fmnist_classifier.h5"
#define CLASSIFIER_FILE_VERSION 1
#define CLASSIFIER_IMAGE_SIZE   28
#define CLASSIFIER_NUM_CLASSES  10

typedef struct fmnist_classifier fmnist_classifier;

/* Reads the weights; checks every dataset's shape, version == 1 and that the weights digest
 * equals the recorded `weights_digest`. A missing file is "<path>: not found; run `make
 * classifier` to train it". */
int classifier_load(fmnist_classifier **out, const char *path);
void classifier_free(fmnist_classifier *c);
int classifier_feature_dim(const fmnist_classifier *c); /* D = 128 */

/* images (N,28,28,1) uint8; feats (N,D) and/or logits (N,10), either may be NULL.
 * Pixels become x = p/127.5 - 1 as the diffusion data do. Not reentrant for one c (the
 * workspaces belong to it); sets OpenBLAS to 1 thread during the call and restores it. */
int classifier_features(fmnist_classifier *c, const uint8_t *images, int N, float *feats, float *logits);
/* Fraction of ds (labels required, 28x28x1) whose argmax logit equals the label. */
int classifier_accuracy(fmnist_classifier *c, const dataset *ds, double *accuracy);

/* FNV-1a 64 of the parameter block; hex[17] gets 16 lowercase hex digits (may be NULL). */
uint64_t classifier_digest(const fmnist_classifier *c, char hex[17]);

/* ---- training (experiments/train_classifier.c, tests) ---- */
typedef struct {
    uint64_t seed; /* init (RNG_INIT) and batch order (RNG_SHUFFLE, RNG_FLIP) */
    int batch_size;
    int epochs;         /* total steps = epochs * floor(N / batch_size) */
    double lr;          /* Adam peak learning rate */
    int warmup;         /* linear warmup steps, then linear decay to 0 at the last step */
    int randflip;       /* random left-right flips */
    int64_t stop_after; /* > 0: stop after this many steps (schedule unchanged) */
    int64_t digest_at;  /* > 0: record the weights digest after this many steps */
    int verbose;        /* progress line with loss and ETA on stderr */
    /* Called after every epoch (every floor(N / batch_size) steps) when set; a non-OK
     * return stops training with that status. */
    int (*epoch_hook)(fmnist_classifier *c, int epoch, void *user);
    void *hook_user;
} classifier_train_opts;

typedef struct {
    int64_t steps_done, total_steps;
    uint64_t digest_at_value; /* 0 if digest_at was not reached */
    double final_loss;        /* mean cross-entropy of the last 100 steps */
    double seconds;
} classifier_train_report;

/* Recipe of the shipped file: seed 1, batch 64, 5 epochs, Adam lr 1e-3, warmup 100 then
 * linear decay, randflip, digest_at 200, verbose. */
void classifier_train_defaults(classifier_train_opts *o);
/* Fresh weights (counter-RNG init), then Adam on train (labels required). */
int classifier_train(fmnist_classifier **out, const dataset *train, const classifier_train_opts *o,
                     classifier_train_report *rep);
/* Writes the weights, version and weights_digest (truncates path). Callers add provenance. */
int classifier_save(const fmnist_classifier *c, const char *path);

#endif
