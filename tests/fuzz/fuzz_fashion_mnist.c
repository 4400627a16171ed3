/* fuzz_fashion_mnist.c — libFuzzer target for the IDX reader fashion_mnist_read
 * (src/data/readers.h), which takes a directory.
 *
 * Input: byte 0 chooses the case, the rest is the content of one file:
 *   bit 0  split: 1 train ("train-*"), 0 test ("t10k-*")
 *   bit 1  which file gets the fuzzed bytes: 0 the images file, 1 the labels file
 *   bit 2  the fuzzed file is named with ".gz" (zlib reads plain data under either name)
 *   bit 3  the companion file is named with ".gz"
 * The companion is a valid plain IDX file generated here, declaring the count found in the
 * fuzzed file's header (gunzipped first when it is gzip) so inputs get past the count check.
 * Both live in one temporary directory per process; max_n = 64, image_size = 28.
 * Pass: DDPM_ERR with a one-line message, or DDPM_OK with 1..64 28x28x1 images, labels in 0..9
 * and a source text; dataset_free releases everything either way. */
#include "fuzz_common.h"

#include "data/dataset.h"
#include "data/readers.h"

#include <zlib.h>

#define MAX_N 64
#define SIDE  28

static const char *const NAMES[] = {
    "train-images-idx3-ubyte",    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte",
    "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte",     "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte",     "t10k-labels-idx1-ubyte.gz",  NULL
};

static void put_be32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

/* The first 8 bytes of the file's content (gunzipped when it starts with the gzip magic);
 * returns how many were obtained. */
static size_t header8(uint8_t out[8], const uint8_t *data, size_t size)
{
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        z_stream z;
        memset(&z, 0, sizeof z);
        if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return 0;
        z.next_in = (Bytef *)(uintptr_t)data;
        z.avail_in = (uInt)(size > (1u << 30) ? (1u << 30) : size);
        z.next_out = out;
        z.avail_out = 8;
        inflate(&z, Z_SYNC_FLUSH);
        size_t got = 8 - z.avail_out;
        inflateEnd(&z);
        return got;
    }
    size_t n = size < 8 ? size : 8;
    memcpy(out, data, n);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *dir = fuzz_private_dir("fmnist", NAMES);
    const int train = data[0] & 1, fuzz_labels = (data[0] >> 1) & 1;
    const int fuzz_gz = (data[0] >> 2) & 1, comp_gz = (data[0] >> 3) & 1;
    const uint8_t *body = data + 1;
    const size_t n = size - 1;
    char path[1024];

    /* Only this split's names matter, but a stale plain file would shadow a .gz one. */
    for (int k = train ? 0 : 4, e = k + 4; k < e; k++) {
        fuzz_path(path, sizeof path, NAMES[k]);
        unlink(path);
    }
    const char *split = train ? "train" : "t10k";
    char fname[64], cname[64];
    snprintf(fname, sizeof fname, "%s-%s%s", split, fuzz_labels ? "labels-idx1-ubyte" : "images-idx3-ubyte",
             fuzz_gz ? ".gz" : "");
    snprintf(cname, sizeof cname, "%s-%s%s", split, fuzz_labels ? "images-idx3-ubyte" : "labels-idx1-ubyte",
             comp_gz ? ".gz" : "");
    fuzz_path(path, sizeof path, fname);
    fuzz_write_file(path, body, n);

    /* Companion: the declared count (1 when the fuzzed header is too short), then as many
     * records as the reader will ask for. */
    uint8_t h[8];
    uint32_t count =
        header8(h, body, n) == 8 ? ((uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7]) : 1;
    size_t records = count < MAX_N ? count : MAX_N;
    size_t rec_bytes = fuzz_labels ? (size_t)SIDE * SIDE : 1, hdr = fuzz_labels ? 16 : 8;
    uint8_t *comp = malloc(hdr + records * rec_bytes);
    FUZZ_EXPECT(comp != NULL, "out of memory");
    put_be32(comp, fuzz_labels ? 0x00000803u : 0x00000801u);
    put_be32(comp + 4, count);
    if (fuzz_labels) {
        put_be32(comp + 8, SIDE);
        put_be32(comp + 12, SIDE);
    }
    for (size_t i = 0; i < records * rec_bytes; i++) comp[hdr + i] = fuzz_labels ? (uint8_t)(i * 7) : (uint8_t)(i % 10);
    fuzz_path(path, sizeof path, cname);
    fuzz_write_file(path, comp, hdr + records * rec_bytes);
    free(comp);

    dataset ds;
    memset(&ds, 0, sizeof ds);
    ddpm_clear_error();
    int rc = fashion_mnist_read(&ds, dir, train, MAX_N, SIDE);
    fuzz_verdict("fashion_mnist_read", rc);
    if (rc != DDPM_OK) {
        FUZZ_EXPECT(rc == DDPM_ERR, "fashion_mnist_read returned %d", rc);
        fuzz_expect_error_message("fashion_mnist_read");
    } else {
        FUZZ_EXPECT(ds.N >= 1 && ds.N <= MAX_N, "N = %d", ds.N);
        FUZZ_EXPECT(ds.H == SIDE && ds.W == SIDE && ds.C == 1, "shape %dx%dx%d", ds.H, ds.W, ds.C);
        FUZZ_EXPECT(ds.pixels && ds.labels, "no pixels or labels");
        FUZZ_EXPECT(ds.source[0] != 0, "empty source");
        for (int i = 0; i < ds.N; i++)
            FUZZ_EXPECT(ds.labels[i] >= 0 && ds.labels[i] <= 9, "label %d = %d", i, (int)ds.labels[i]);
        /* pixel bytes are the data: touch them all so ASan checks the allocation's size */
        unsigned sum = 0;
        for (size_t i = 0; i < (size_t)ds.N * SIDE * SIDE; i++) sum += ds.pixels[i];
        (void)sum;
    }
    dataset_free(&ds);
    return 0;
}
