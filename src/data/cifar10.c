/* cifar10.c — the CIFAR-10 binary version (cifar-10-binary.tar.gz).
 *
 * Each record is 1 label byte followed by 3072 bytes: the 32x32 R plane, then G, then B, each
 * row-major. Records are converted to HWC. Train = data_batch_1..5.bin in that order (50000
 * records), test = test_batch.bin (10000). */
#include "data/readers.h"

#include "core/common.h"
#include "core/fs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_SIDE      32
#define CIFAR_PLANE     (CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD    (1 + 3 * CIFAR_PLANE) /* 3073 */
#define CIFAR_CLASSES   10
#define CIFAR_MAX_FILES 5

static const char *const DOWNLOAD_HINT = "run `make data-cifar10` (downloads CIFAR-10) or set data_dir";

static int is_file(const char *path, long long *size)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    *size = (long long)st.st_size;
    return 1;
}

/* out (32, 32, 3) HWC <- rec + 1: (3, 32, 32) CHW planes. */
static void record_to_hwc(uint8_t *out, const uint8_t *planes)
{
    for (int p = 0; p < CIFAR_PLANE; p++)
        for (int c = 0; c < 3; c++) out[3 * p + c] = planes[c * CIFAR_PLANE + p];
}

int cifar10_read(dataset *ds, const char *dir, int train, int max_n)
{
    const char *names[CIFAR_MAX_FILES];
    int nfiles = 0;
    if (train) {
        static const char *const tr[] = { "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                          "data_batch_4.bin", "data_batch_5.bin" };
        for (int i = 0; i < 5; i++) names[nfiles++] = tr[i];
    } else {
        names[nfiles++] = "test_batch.bin";
    }

    /* The folder: dir itself, or the folder the official tarball unpacks to. */
    char base[1024], path[1200];
    long long size = 0;
    DDPM_TRY(fs_join(base, sizeof base, dir, "cifar-10-batches-bin"));
    DDPM_TRY(fs_join(path, sizeof path, dir, names[0]));
    if (is_file(path, &size)) {
        if (snprintf(base, sizeof base, "%s", dir) >= (int)sizeof base) return ddpm_error("%s: path too long", dir);
    } else {
        DDPM_TRY(fs_join(path, sizeof path, base, names[0]));
        if (!is_file(path, &size))
            return ddpm_error("%s/%s: no such file (also looked in %s); %s", dir, names[0], base, DOWNLOAD_HINT);
    }

    long long records[CIFAR_MAX_FILES], total = 0;
    for (int f = 0; f < nfiles; f++) {
        DDPM_TRY(fs_join(path, sizeof path, base, names[f]));
        if (!is_file(path, &size)) return ddpm_error("%s: no such file; %s", path, DOWNLOAD_HINT);
        if (size == 0 || size % CIFAR_RECORD)
            return ddpm_error("%s: size %lld bytes is not a positive multiple of %d (1 label + "
                              "3072 pixel bytes per record): truncated or not the CIFAR-10 binary "
                              "version; %s",
                              path, size, CIFAR_RECORD, DOWNLOAD_HINT);
        records[f] = size / CIFAR_RECORD;
        total += records[f];
    }
    if (total > 100000000LL) return ddpm_error("%s: implausibly many CIFAR records (%lld)", base, total);
    int m = (max_n > 0 && max_n < total) ? max_n : (int)total;

    ds->N = m;
    ds->H = ds->W = CIFAR_SIDE;
    ds->C = 3;
    ds->pixels = ddpm_alloc((size_t)m * 3 * CIFAR_PLANE);
    ds->labels = ddpm_alloc((size_t)m * sizeof(int32_t));
    if (!ds->pixels || !ds->labels) return DDPM_ERR;

    uint8_t rec[CIFAR_RECORD];
    int n = 0;
    for (int f = 0; f < nfiles && n < m; f++) {
        DDPM_TRY(fs_join(path, sizeof path, base, names[f]));
        FILE *fp = fopen(path, "rb");
        if (!fp) return ddpm_error("%s: cannot open: %s", path, strerror(errno));
        for (long long r = 0; r < records[f] && n < m; r++, n++) {
            if (fread(rec, 1, CIFAR_RECORD, fp) != CIFAR_RECORD) {
                fclose(fp);
                return ddpm_error("%s: read error at record %lld (file changed while reading?)", path, r);
            }
            if (rec[0] >= CIFAR_CLASSES) {
                fclose(fp);
                return ddpm_error("%s: record %lld has label %d, outside 0..%d: not the CIFAR-10 "
                                  "binary version or corrupt",
                                  path, r, rec[0], CIFAR_CLASSES - 1);
            }
            ds->labels[n] = rec[0];
            record_to_hwc(ds->pixels + (size_t)n * 3 * CIFAR_PLANE, rec + 1);
        }
        fclose(fp);
    }
    data_set_source(ds, "cifar10 %s: %s/%s%s (%d images)", train ? "train" : "test", base, names[0],
                    nfiles > 1 ? " .. data_batch_5.bin" : "", m);
    return DDPM_OK;
}
