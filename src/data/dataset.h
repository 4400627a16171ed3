/* dataset.h — training/test images in memory and the deterministic order they are used in.
 *
 * Contract: a dataset holds N uint8 images (N, H, W, C) NHWC and optional labels. It is read
 * whole (or its first max_n examples) by dataset_load_n() from config_data_dir(cfg):
 *   fashion_mnist  train-images-idx3-ubyte.gz / train-labels-idx1-ubyte.gz (t10k-* for test),
 *                  or the same names without .gz; 28x28x1.
 *   cifar10        data_batch_1..5.bin (test_batch.bin for test) of the binary version, in
 *                  data_dir or data_dir/cifar-10-batches-bin; 32x32x3, planes converted to HWC.
 *   png_gray/_rgb  every *.png in data_dir (train) or data_dir/test (test), sorted by name
 *                  (byte order); each must be image_size x image_size; converted to C = 1 / 3.
 * Anything missing, truncated or inconsistent is an error (one line naming the file, what is
 * wrong and the command that provides the data); there are no partial reads.
 *
 * Batch order (docs/data.md): global position p = step*B + i (i = 0..B-1), epoch e = p / N,
 * index = perm_e[p mod N], perm_e = Fisher–Yates shuffle of 0..N-1 driven by
 * rng_stream_make(seed, RNG_SHUFFLE, e, 0): for k = 0..N-2, i = N-1-k, j = rng_below(stream,
 * k, i+1), swap(perm[i], perm[j]). With randflip, example i of step s is mirrored left-right
 * iff rng_uniform(rng_stream_make(seed, RNG_FLIP, s, i), 0) < 0.5. A batch is a pure function
 * of (data, seed, step, B, randflip): it does not depend on threads or on earlier calls.
 * Pixels become floats as the official code does: x = pixel / 127.5 - 1 (float32). */
#ifndef DDPM_DATASET_H
#define DDPM_DATASET_H

#include <stdint.h>

#include "core/config.h"

typedef struct {
    int N, H, W, C;   /* NHWC */
    uint8_t *pixels;  /* (N, H, W, C) 0..255 */
    int32_t *labels;  /* (N), or NULL */
    char source[512]; /* what was read (for logs) */
} dataset;

/* Loads the train (train = 1) or test (train = 0) split of cfg->dataset. Checks the image size
 * against cfg->image_size and the channels against config_in_channels(cfg). */
int dataset_load(dataset *ds, const ddpm_config *cfg, int train);
/* Only the first max_n examples in file order (max_n <= 0: all). */
int dataset_load_n(dataset *ds, const ddpm_config *cfg, int train, int max_n);
void dataset_free(dataset *ds);

/* Caches the permutation of the current epoch so a step costs O(B) (O(N) once per epoch). */
typedef struct {
    const dataset *ds;
    uint64_t seed;
    int64_t epoch;  /* epoch whose permutation perm holds; -1 = none yet */
    uint32_t *perm; /* (N) */
} batch_sampler;

int batch_sampler_init(batch_sampler *s, const dataset *ds, uint64_t seed);
void batch_sampler_free(batch_sampler *s);
/* x (B, H, W, C) float32 in [-1,1]; idx (B) the dataset indices used, or NULL.
 * Errors: step < 0, B < 1, or step/epoch beyond the 32-bit RNG counter fields. */
int batch_sampler_get(batch_sampler *s, int64_t step, int B, int randflip, float *x, int32_t *idx);

/* x (B, H, W, C) float32 in [-1,1] <- examples [first, first+B) in order (evaluation batches).
 * Precondition: 0 <= first and first + B <= ds->N. */
void dataset_get_range(const dataset *ds, int first, int B, float *x);

#endif
