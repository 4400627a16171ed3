/* dataset.c — choosing the reader for cfg->dataset, and evaluation batches in file order. */
#include "data/dataset.h"

#include "core/common.h"
#include "data/readers.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void data_set_source(dataset *ds, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ds->source, sizeof ds->source, fmt, ap);
    va_end(ap);
}

int dataset_load_n(dataset *ds, const ddpm_config *cfg, int train, int max_n)
{
    memset(ds, 0, sizeof *ds);
    const char *dir = config_data_dir(cfg);
    const int C = config_in_channels(cfg);
    int rc;
    switch (cfg->dataset) {
    case DATASET_FASHION_MNIST: rc = fashion_mnist_read(ds, dir, train, max_n, cfg->image_size); break;
    case DATASET_CIFAR10:
        /* what only the reader knows: the files hold 32x32 images (key ranges: config_validate) */
        if (cfg->image_size != 32)
            return ddpm_error("cifar10 images are 32x32 but image_size = %d; set image_size = 32", cfg->image_size);
        rc = cifar10_read(ds, dir, train, max_n);
        break;
    case DATASET_PNG_GRAY:
    case DATASET_PNG_RGB: rc = png_folder_read(ds, dir, train, max_n, cfg->image_size, C); break;
    default: return ddpm_error("dataset_load: unknown dataset %d", (int)cfg->dataset);
    }
    if (rc != DDPM_OK) {
        dataset_free(ds);
        return DDPM_ERR;
    }
    return DDPM_OK;
}

int dataset_load(dataset *ds, const ddpm_config *cfg, int train) { return dataset_load_n(ds, cfg, train, 0); }

void dataset_free(dataset *ds)
{
    if (!ds) return;
    ddpm_free(ds->pixels);
    ddpm_free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

void dataset_get_range(const dataset *ds, int first, int B, float *x)
{
    const size_t n = (size_t)B * ds->H * ds->W * ds->C;
    const uint8_t *src = ds->pixels + (size_t)first * ds->H * ds->W * ds->C;
    for (size_t i = 0; i < n; i++) x[i] = pixel_to_float(src[i]);
}
