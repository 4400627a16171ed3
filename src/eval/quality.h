/* quality.h — sample-quality numbers for uint8 images, with the feature extractor named.
 *
 * Extractor choice (issue: offline metric): with the published Inception weights
 * (DDPM_INCEPTION_WEIGHTS, else data/pt_inception-2015-12-05-6726825d.pth) FID and IS of the
 * FID Inception network (gray images replicated to 3 channels); otherwise, for Fashion-MNIST,
 * FD_fmnist and IS_fmnist on the shipped classifier (experiments/classifier/) — a proxy that is
 * never called FID. Reference statistics of the training split are cached in a file whose
 * attributes record the extractor and the number of images; a mismatch recomputes them. */
#ifndef DDPM_QUALITY_H
#define DDPM_QUALITY_H

#include "core/config.h"

#include <hdf5.h>
#include <stdint.h>

#define INCEPTION_DEFAULT_PATH "data/pt_inception-2015-12-05-6726825d.pth"

typedef struct {
    char extractor[64]; /* "inception-pool3" or "fmnist-classifier" */
    char weights[64];   /* which weights: the classifier's digest, or the Inception file name */
    char fd_name[32];   /* "FID" or "FD_fmnist" */
    char is_name[32];   /* "IS" or "IS_fmnist" */
    double fd, is_mean, is_std;
    int available; /* 0: no extractor for this data set (numbers are NaN, why says what to do) */
    char why[256];
} quality_result;

typedef struct quality_extractor quality_extractor;

/* Picks and loads the extractor for images of C channels of cfg's data set. When none is
 * available returns DDPM_OK with *out = NULL and info->why set. info gets the names. */
int quality_extractor_open(quality_extractor **out, const ddpm_config *cfg, quality_result *info);
void quality_extractor_free(quality_extractor *e);
int quality_feature_dim(const quality_extractor *e);
int quality_num_classes(const quality_extractor *e);
/* feats (n, D) and logits (n, K), either may be NULL; images (n,H,W,C) uint8. */
int quality_features(quality_extractor *e, const uint8_t *images, int n, int H, int W, int C, float *feats,
                     float *logits);

/* Reference statistics of the first ref_n training images (ref_n <= 0: all), cached at path.
 * A missing file is created; statistics of the same extractor and settings are reused; of the
 * same extractor with other weights (a retrained classifier) recomputed. Anything else at path
 * is refused with an error naming it — a file of another kind, statistics of another extractor,
 * and (unless recompute = QUALITY_STATS_RECOMPUTE) statistics of other settings (data set,
 * ref_n); QUALITY_STATS_REPLACE replaces whatever is at path. So no command
 * overwrites a checkpoint, samples or a 60k-image reference by accident. */
enum { QUALITY_STATS_KEEP = 0, QUALITY_STATS_RECOMPUTE = 1, QUALITY_STATS_REPLACE = 2 /* any file */ };
int quality_reference_stats(quality_extractor *e, const quality_result *info, const ddpm_config *cfg, const char *path,
                            int ref_n, int recompute, double **mu, double **sigma, int *D);

/* Where the sample features are kept, batch by batch (eval/partial.h), so that a kill during a
 * long extraction (50k samples through Inception) keeps the finished batches and the same
 * command continues from them: datasets sample_features and sample_logits in f (rank 0's file;
 * a single-process caller), keyed by the extractor, its weights and a digest of the images —
 * features of other images or another extractor there are replaced. label names f in messages.
 * NULL: the features are not kept. */
typedef struct {
    hid_t f;
    const char *label;
} quality_keep;

/* FD and IS (10 splits, fewer when n < 10) of images against the cached reference. */
int quality_metrics(const ddpm_config *cfg, const uint8_t *images, int n, int H, int W, int C, const char *ref_cache,
                    int ref_n, int recompute, const quality_keep *keep, quality_result *out);

/* FD and IS of images against statistics given in a file (never written): our HDF5 statistics
 * (`ddpm stats`, `ddpm inception --stats`) or NumPy .npz/.npy with mu [D] and sigma [D, D] (TTUR's
 * fid_stats_cifar10_train.npz). A file whose extractor attribute names another extractor, or
 * whose D differs from the extractor's feature size, is an error naming the file. */
int quality_metrics_given(const ddpm_config *cfg, const uint8_t *images, int n, int H, int W, int C,
                          const char *stats_path, const quality_keep *keep, quality_result *out);

#endif
