/* readers.h — internal: one reader per on-disk format, called by dataset_load_n().
 *
 * Each fills ds->{N,H,W,C,pixels,labels,source} with the first max_n examples (max_n <= 0:
 * all) or returns DDPM_ERR with the message set; on error the caller frees *ds. */
#ifndef DDPM_DATA_READERS_H
#define DDPM_DATA_READERS_H

#include <stddef.h>
#include <stdint.h>

#include "core/common.h"
#include "data/dataset.h"

/* IDX files (optionally gzipped) of Fashion-MNIST / MNIST layout in dir. */
int fashion_mnist_read(dataset *ds, const char *dir, int train, int max_n, int image_size);
/* CIFAR-10 binary batches in dir or dir/cifar-10-batches-bin. */
int cifar10_read(dataset *ds, const char *dir, int train, int max_n);
/* *.png in dir (train) or dir/test (test), C = 1 or 3. */
int png_folder_read(dataset *ds, const char *dir, int train, int max_n, int image_size, int C);

/* ds->source <- printf(fmt, ...), truncated to fit (it is only for logs). */
void data_set_source(dataset *ds, const char *fmt, ...) DDPM_PRINTF(2, 3);

/* The float value of a pixel: p / 127.5 - 1 in float32 (the official normalize_data). */
static inline float pixel_to_float(uint8_t p) { return (float)p / 127.5f - 1.0f; }

#endif
