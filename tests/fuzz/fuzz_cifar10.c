/* fuzz_cifar10.c — libFuzzer target for the CIFAR-10 binary reader cifar10_read
 * (src/data/readers.h), which takes a directory.
 *
 * Input: byte 0 chooses the case, the rest is the content of one batch file:
 *   bit 0     split: 1 train (data_batch_1..5.bin), 0 test (test_batch.bin)
 *   bits 1-3  train only: which data_batch_<k+1>.bin (k mod 5) gets the fuzzed bytes
 *   bit 4     files go in <dir>/cifar-10-batches-bin instead of <dir>
 *   bit 5     the generated (valid) companion batches hold 2 records instead of 1
 * One temporary directory per process; max_n = 64.
 * Pass: DDPM_ERR with a one-line message, or DDPM_OK with 1..64 32x32x3 images, labels in 0..9,
 * and, when the fuzzed file is the first one read, its first record's label and CHW planes
 * found again as HWC pixels. */
#include "fuzz_common.h"

#include "data/dataset.h"
#include "data/readers.h"

#include <sys/stat.h>

#define MAX_N  64
#define RECORD 3073
#define PLANE  1024

static const char *const BATCHES[] = { "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                       "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin" };
static const char *const NAMES[] = { "data_batch_1.bin",
                                     "data_batch_2.bin",
                                     "data_batch_3.bin",
                                     "data_batch_4.bin",
                                     "data_batch_5.bin",
                                     "test_batch.bin",
                                     "cifar-10-batches-bin/data_batch_1.bin",
                                     "cifar-10-batches-bin/data_batch_2.bin",
                                     "cifar-10-batches-bin/data_batch_3.bin",
                                     "cifar-10-batches-bin/data_batch_4.bin",
                                     "cifar-10-batches-bin/data_batch_5.bin",
                                     "cifar-10-batches-bin/test_batch.bin",
                                     "cifar-10-batches-bin",
                                     NULL };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *dir = fuzz_private_dir("cifar10", NAMES);
    const int train = data[0] & 1, which = train ? ((data[0] >> 1) & 7) % 5 : 5;
    const int sub = (data[0] >> 4) & 1, comp_records = 1 + ((data[0] >> 5) & 1);
    const uint8_t *body = data + 1;
    const size_t n = size - 1;
    char path[1024];

    for (int k = 0; NAMES[k + 1]; k++) { /* every batch, both places (not the subdir itself) */
        fuzz_path(path, sizeof path, NAMES[k]);
        unlink(path);
    }
    fuzz_path(path, sizeof path, "cifar-10-batches-bin");
    if (sub) mkdir(path, 0700);

    static uint8_t comp[2 * RECORD];
    for (int r = 0; r < 2; r++) {
        comp[r * RECORD] = (uint8_t)(3 + 4 * r);
        for (int i = 1; i < RECORD; i++) comp[r * RECORD + i] = (uint8_t)(i * 13 + r);
    }
    for (int k = train ? 0 : 5, e = train ? 5 : 6; k < e; k++) {
        char name[96];
        snprintf(name, sizeof name, "%s%s", sub ? "cifar-10-batches-bin/" : "", BATCHES[k]);
        fuzz_path(path, sizeof path, name);
        if (k == which) fuzz_write_file(path, body, n);
        else fuzz_write_file(path, comp, (size_t)comp_records * RECORD);
    }

    dataset ds;
    memset(&ds, 0, sizeof ds);
    ddpm_clear_error();
    int rc = cifar10_read(&ds, dir, train, MAX_N);
    fuzz_verdict("cifar10_read", rc);
    if (rc != DDPM_OK) {
        FUZZ_EXPECT(rc == DDPM_ERR, "cifar10_read returned %d", rc);
        fuzz_expect_error_message("cifar10_read");
    } else {
        FUZZ_EXPECT(ds.N >= 1 && ds.N <= MAX_N, "N = %d", ds.N);
        FUZZ_EXPECT(ds.H == 32 && ds.W == 32 && ds.C == 3, "shape %dx%dx%d", ds.H, ds.W, ds.C);
        FUZZ_EXPECT(ds.pixels && ds.labels && ds.source[0], "no pixels, labels or source");
        for (int i = 0; i < ds.N; i++)
            FUZZ_EXPECT(ds.labels[i] >= 0 && ds.labels[i] <= 9, "label %d = %d", i, (int)ds.labels[i]);
        const uint8_t *first = (which == 0 || which == 5) ? body : comp;
        FUZZ_EXPECT(ds.labels[0] == first[0], "label 0 is %d, the file says %d", (int)ds.labels[0], first[0]);
        for (int p = 0; p < PLANE; p++)
            for (int c = 0; c < 3; c++)
                FUZZ_EXPECT(ds.pixels[3 * p + c] == first[1 + c * PLANE + p],
                            "record 0 pixel %d channel %d differs from the file", p, c);
        unsigned sum = 0;
        for (size_t i = 0; i < (size_t)ds.N * 3 * PLANE; i++) sum += ds.pixels[i];
        (void)sum;
    }
    dataset_free(&ds);
    return 0;
}
