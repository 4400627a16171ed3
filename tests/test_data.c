/* test_data.c — data set readers (real Fashion-MNIST, synthetic IDX / CIFAR-10 / PNG folders,
 * every corrupt case) and the batch sampler's order, flips and determinism. */
#include "testutil.h"

#include "core/common.h"
#include "core/config.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "image/png_io.h"

#include <errno.h>
#include <omp.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* ---------- helpers ---------- */

static const char *make_dir(const char *name)
{
    const char *d = test_tmp_path(name);
    ck_assert_msg(mkdir(d, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", d, strerror(errno));
    return d;
}

static void join(char *out, size_t n, const char *dir, const char *name)
{
    ck_assert((size_t)snprintf(out, n, "%s/%s", dir, name) < n);
}

/* Errors must name what they are about: every `needle` must occur in the last message. */
static void expect_error(int rc, const char *what, const char *n1, const char *n2)
{
    ck_assert_msg(rc == DDPM_ERR, "%s: expected an error", what);
    const char *m = ddpm_last_error();
    fprintf(stderr, "[%s] %s\n", what, m);
    ck_assert_msg(strchr(m, '\n') == NULL, "%s: message is not one line", what);
    if (n1) ck_assert_msg(strstr(m, n1) != NULL, "%s: message lacks '%s': %s", what, n1, m);
    if (n2) ck_assert_msg(strstr(m, n2) != NULL, "%s: message lacks '%s': %s", what, n2, m);
}

static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static ddpm_config cfg_for(dataset_t which, const char *dir, int image_size)
{
    ddpm_config c;
    config_defaults(&c);
    c.dataset = which;
    c.image_size = image_size;
    if (dir) snprintf(c.data_dir, sizeof c.data_dir, "%s", dir);
    return c;
}

static void write_bytes(const char *path, const void *data, size_t n, int gz)
{
    if (gz) {
        gzFile g = gzopen(path, "wb");
        ck_assert(g != NULL);
        if (n) ck_assert(gzwrite(g, data, (unsigned)n) == (int)n);
        ck_assert(gzclose(g) == Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert(f != NULL);
        if (n) ck_assert(fwrite(data, 1, n, f) == n);
        fclose(f);
    }
}

static void put_be32(uint8_t *b, uint32_t v)
{
    b[0] = v >> 24;
    b[1] = (v >> 16) & 255;
    b[2] = (v >> 8) & 255;
    b[3] = v & 255;
}

static uint8_t syn_pixel(int n, int i) { return (uint8_t)((n * 31 + i * 7 + 3) & 255); }

/* An IDX image/label pair for `split` ("train"/"t10k") in dir. hdr_n* are the header counts,
 * data_n* the number of examples actually written; rows/cols the declared size. */
typedef struct {
    uint32_t img_magic, lab_magic;
    uint32_t hdr_nimg, hdr_nlab, rows, cols;
    uint32_t data_nimg, data_nlab;
    int bad_label; /* write label 10 for example 0 */
    int gz;
} idx_spec;

static idx_spec idx_ok(uint32_t n, int gz)
{
    idx_spec s = { 0x803, 0x801, n, n, 28, 28, n, n, 0, gz };
    return s;
}

static void write_idx_pair(const char *dir, const char *split, idx_spec s)
{
    char path[1024], name[64];
    size_t hw = (size_t)s.rows * s.cols, ni = 16 + s.data_nimg * hw, nl = 8 + s.data_nlab;
    uint8_t *bi = malloc(ni), *bl = malloc(nl);
    put_be32(bi, s.img_magic);
    put_be32(bi + 4, s.hdr_nimg);
    put_be32(bi + 8, s.rows);
    put_be32(bi + 12, s.cols);
    for (uint32_t n = 0; n < s.data_nimg; n++)
        for (size_t i = 0; i < hw; i++) bi[16 + n * hw + i] = syn_pixel((int)n, (int)i);
    put_be32(bl, s.lab_magic);
    put_be32(bl + 4, s.hdr_nlab);
    for (uint32_t n = 0; n < s.data_nlab; n++) bl[8 + n] = (uint8_t)((n * 3 + 1) % 10);
    if (s.bad_label && s.data_nlab) bl[8] = 10;
    snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", split, s.gz ? ".gz" : "");
    join(path, sizeof path, dir, name);
    write_bytes(path, bi, ni, s.gz);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte%s", split, s.gz ? ".gz" : "");
    join(path, sizeof path, dir, name);
    write_bytes(path, bl, nl, s.gz);
    free(bi);
    free(bl);
}

static void truncate_file(const char *path, double frac)
{
    struct stat st;
    ck_assert(stat(path, &st) == 0);
    ck_assert(truncate(path, (off_t)(st.st_size * frac)) == 0);
}

/* ---------- real Fashion-MNIST ---------- */

/* Reference values from an independent reader (gzip + numpy), e.g. for train:
 *   /usr/bin/python3 -c "import gzip,numpy as np; d='/usr/share/datasets/fashion-mnist/';
 *     im=np.frombuffer(gzip.open(d+'train-images-idx3-ubyte.gz').read(),np.uint8,offset=16);
 *     lb=np.frombuffer(gzip.open(d+'train-labels-idx1-ubyte.gz').read(),np.uint8,offset=8);
 *     h=0xcbf29ce484222325
 *     for b in im[:784].tobytes(): h=((h^b)*0x100000001b3)&(2**64-1)
 *     print(len(lb),np.bincount(lb),lb[:10],int(im[:784].sum()),hex(h),int(im.astype(np.int64).sum()))"
 * train: 60000, 6000 per class, first labels 9 0 0 3 0 2 7 2 5 5, first image sum 76247,
 *        FNV-1a-64 0x01fdf72590541338, all pixels 3431114169.
 * t10k:  10000, 1000 per class, first labels 9 2 1 1 6 1 4 6 5 7, first image sum 33456,
 *        FNV-1a-64 0xcb45b7589f1b853b, all pixels 573469082. */
static void check_real_split(int train, int N, int per_class, const int *first_labels, uint64_t sum0, uint64_t fnv0,
                             uint64_t total)
{
    ddpm_config c = cfg_for(DATASET_FASHION_MNIST, NULL, 28);
    ck_assert_str_eq(config_data_dir(&c), FASHION_DIR);
    dataset ds;
    double t0 = ddpm_now();
    ck_assert_msg(dataset_load(&ds, &c, train) == DDPM_OK, "%s", ddpm_last_error());
    fprintf(stderr, "%s (%.2f s)\n", ds.source, ddpm_now() - t0);
    ck_assert_int_eq(ds.N, N);
    ck_assert_int_eq(ds.H, 28);
    ck_assert_int_eq(ds.W, 28);
    ck_assert_int_eq(ds.C, 1);
    ck_assert(ds.labels != NULL);
    ck_assert(strstr(ds.source, FASHION_DIR) != NULL);
    int hist[10] = { 0 };
    for (int i = 0; i < N; i++) {
        ck_assert(ds.labels[i] >= 0 && ds.labels[i] < 10);
        hist[ds.labels[i]]++;
    }
    for (int k = 0; k < 10; k++) ck_assert_msg(hist[k] == per_class, "class %d: %d", k, hist[k]);
    for (int i = 0; i < 10; i++) ck_assert_int_eq(ds.labels[i], first_labels[i]);
    uint64_t s0 = 0, all = 0;
    for (int i = 0; i < 784; i++) s0 += ds.pixels[i];
    for (size_t i = 0; i < (size_t)N * 784; i++) all += ds.pixels[i];
    uint64_t h = fnv1a64(ds.pixels, 784);
    fprintf(stderr, "first image sum %llu fnv1a64 %016llx, all pixels %llu\n", (unsigned long long)s0,
            (unsigned long long)h, (unsigned long long)all);
    ck_assert_uint_eq(s0, sum0);
    ck_assert_uint_eq(h, fnv0);
    ck_assert_uint_eq(all, total);

    /* The first max_n examples are the prefix of the full set. */
    dataset part;
    ck_assert(dataset_load_n(&part, &c, train, 100) == DDPM_OK);
    ck_assert_int_eq(part.N, 100);
    ck_assert(memcmp(part.pixels, ds.pixels, 100 * 784) == 0);
    ck_assert(memcmp(part.labels, ds.labels, 100 * sizeof(int32_t)) == 0);
    dataset_free(&part);
    dataset_free(&ds);
    ck_assert(ds.pixels == NULL && ds.N == 0);
}

START_TEST(test_fashion_real_train)
{
    const int first[10] = { 9, 0, 0, 3, 0, 2, 7, 2, 5, 5 };
    check_real_split(1, 60000, 6000, first, 76247, 0x01fdf72590541338ull, 3431114169ull);
}
END_TEST

START_TEST(test_fashion_real_test)
{
    const int first[10] = { 9, 2, 1, 1, 6, 1, 4, 6, 5, 7 };
    check_real_split(0, 10000, 1000, first, 33456, 0xcb45b7589f1b853bull, 573469082ull);
}
END_TEST

/* ---------- synthetic IDX ---------- */

START_TEST(test_idx_synthetic)
{
    for (int gz = 0; gz <= 1; gz++) {
        const char *dir = make_dir(gz ? "idx_gz" : "idx_plain");
        write_idx_pair(dir, "train", idx_ok(5, gz));
        write_idx_pair(dir, "t10k", idx_ok(3, gz));
        ddpm_config c = cfg_for(DATASET_FASHION_MNIST, dir, 28);
        for (int train = 0; train <= 1; train++) {
            dataset ds;
            ck_assert_msg(dataset_load(&ds, &c, train) == DDPM_OK, "%s", ddpm_last_error());
            ck_assert_int_eq(ds.N, train ? 5 : 3);
            for (int n = 0; n < ds.N; n++) {
                ck_assert_int_eq(ds.labels[n], (n * 3 + 1) % 10);
                for (int i = 0; i < 784; i++) ck_assert_int_eq(ds.pixels[n * 784 + i], syn_pixel(n, i));
            }
            dataset_free(&ds);
        }
        dataset ds;
        ck_assert(dataset_load_n(&ds, &c, 1, 2) == DDPM_OK);
        ck_assert_int_eq(ds.N, 2);
        dataset_free(&ds);
        ck_assert(dataset_load_n(&ds, &c, 1, 50) == DDPM_OK); /* max_n > N: all */
        ck_assert_int_eq(ds.N, 5);
        dataset_free(&ds);
    }
}
END_TEST

START_TEST(test_idx_corrupt)
{
    dataset ds;
    char path[1024];

    /* Missing files: the path and the install command. */
    const char *empty = make_dir("idx_empty");
    ddpm_config c = cfg_for(DATASET_FASHION_MNIST, empty, 28);
    expect_error(dataset_load(&ds, &c, 1), "missing", "idx_empty/train-images-idx3-ubyte",
                 "apt-get install dataset-fashion-mnist");
    ck_assert(ds.pixels == NULL && ds.N == 0);
    write_idx_pair(empty, "train", idx_ok(4, 1));
    expect_error(dataset_load(&ds, &c, 0), "missing test split", "t10k-images-idx3-ubyte", "dataset-fashion-mnist");
    join(path, sizeof path, empty, "train-labels-idx1-ubyte.gz");
    ck_assert(unlink(path) == 0);
    expect_error(dataset_load(&ds, &c, 1), "missing labels", "train-labels-idx1-ubyte", "dataset-fashion-mnist");

    /* Truncated gzip at several points (inside the header, the data, the trailer). */
    const double cuts[] = { 0.05, 0.5, 0.97 };
    for (size_t k = 0; k < DDPM_ARRAY_LEN(cuts); k++) {
        const char *d = make_dir("idx_trunc");
        write_idx_pair(d, "train", idx_ok(40, 1));
        join(path, sizeof path, d, "train-images-idx3-ubyte.gz");
        truncate_file(path, cuts[k]);
        c = cfg_for(DATASET_FASHION_MNIST, d, 28);
        expect_error(dataset_load(&ds, &c, 1), "truncated gzip", "train-images-idx3-ubyte.gz", "truncated");
        ck_assert(ds.pixels == NULL);
    }
    /* Truncated trailer (CRC/length missing) of the label file. */
    {
        const char *d = make_dir("idx_trunc_trailer");
        write_idx_pair(d, "train", idx_ok(40, 1));
        join(path, sizeof path, d, "train-labels-idx1-ubyte.gz");
        struct stat st;
        ck_assert(stat(path, &st) == 0);
        ck_assert(truncate(path, st.st_size - 4) == 0);
        c = cfg_for(DATASET_FASHION_MNIST, d, 28);
        expect_error(dataset_load(&ds, &c, 1), "truncated gzip trailer", "train-labels-idx1-ubyte.gz", "gzip");
    }
    /* Corrupt gzip: bytes flipped in the middle of the deflate stream. */
    {
        const char *d = make_dir("idx_corrupt");
        write_idx_pair(d, "train", idx_ok(40, 1));
        join(path, sizeof path, d, "train-images-idx3-ubyte.gz");
        struct stat st;
        ck_assert(stat(path, &st) == 0);
        FILE *f = fopen(path, "r+b");
        for (long off = st.st_size / 3; off < st.st_size / 3 + 16; off++) {
            fseek(f, off, SEEK_SET);
            fputc(0xA5 ^ (int)off, f);
        }
        fclose(f);
        c = cfg_for(DATASET_FASHION_MNIST, d, 28);
        expect_error(dataset_load(&ds, &c, 1), "corrupt gzip", "train-images-idx3-ubyte.gz", "corrupt");
    }
    /* Wrong IDX magic, images and labels. */
    {
        const char *d = make_dir("idx_magic");
        idx_spec s = idx_ok(4, 1);
        s.img_magic = 0x804;
        write_idx_pair(d, "train", s);
        c = cfg_for(DATASET_FASHION_MNIST, d, 28);
        expect_error(dataset_load(&ds, &c, 1), "image magic", "train-images-idx3-ubyte.gz", "magic");
        s = idx_ok(4, 0);
        s.lab_magic = 0x803;
        const char *d2 = make_dir("idx_magic_lab");
        write_idx_pair(d2, "train", s);
        c = cfg_for(DATASET_FASHION_MNIST, d2, 28);
        expect_error(dataset_load(&ds, &c, 1), "label magic", "train-labels-idx1-ubyte", "magic");
    }
    /* IDX dimensions: wrong image size; header count larger / smaller than the data. */
    {
        const char *d = make_dir("idx_dims");
        idx_spec s = idx_ok(4, 1);
        s.rows = s.cols = 27;
        write_idx_pair(d, "train", s);
        c = cfg_for(DATASET_FASHION_MNIST, d, 28);
        expect_error(dataset_load(&ds, &c, 1), "dims 27x27", "27x27", "image_size");

        for (int gz = 0; gz <= 1; gz++) {
            const char *d2 = make_dir(gz ? "idx_short_gz" : "idx_short");
            s = idx_ok(5, gz);
            s.data_nimg = 4; /* header says 5 images, data holds 4 */
            write_idx_pair(d2, "train", s);
            c = cfg_for(DATASET_FASHION_MNIST, d2, 28);
            expect_error(dataset_load(&ds, &c, 1), "header count > data", "train-images-idx3-ubyte", "3136 of 3920");
        }
        const char *d3 = make_dir("idx_long");
        s = idx_ok(4, 1);
        s.data_nimg = 5; /* header says 4, data holds 5 */
        write_idx_pair(d3, "train", s);
        c = cfg_for(DATASET_FASHION_MNIST, d3, 28);
        expect_error(dataset_load(&ds, &c, 1), "header count < data", "train-images-idx3-ubyte.gz", "more bytes");
    }
    /* Image and label counts that differ. */
    {
        const char *d = make_dir("idx_count");
        idx_spec s = idx_ok(5, 1);
        s.hdr_nlab = s.data_nlab = 4;
        write_idx_pair(d, "train", s);
        c = cfg_for(DATASET_FASHION_MNIST, d, 28);
        expect_error(dataset_load(&ds, &c, 1), "count mismatch", "count mismatch", "4 labels");
    }
    /* A label outside 0..9. */
    {
        const char *d = make_dir("idx_label");
        idx_spec s = idx_ok(5, 1);
        s.bad_label = 1;
        write_idx_pair(d, "train", s);
        c = cfg_for(DATASET_FASHION_MNIST, d, 28);
        expect_error(dataset_load(&ds, &c, 1), "label range", "train-labels-idx1-ubyte.gz", "label 10");
    }
    ck_assert(ds.pixels == NULL && ds.labels == NULL);
}
END_TEST

/* ---------- synthetic CIFAR-10 ---------- */

static uint8_t cifar_px(int rec, int c, int y, int x) { return (uint8_t)((rec * 7 + c * 50 + y * 3 + x * 11) & 255); }

/* Writes `nrec` records starting at global record number rec0, in the official layout:
 * label byte, then the R, G, B planes of 32x32 row-major. */
static void write_cifar(const char *path, int rec0, int nrec, int extra_bytes, int bad_label)
{
    size_t n = (size_t)((long)nrec * 3073 + extra_bytes); /* extra_bytes may be negative */
    uint8_t *b = calloc((size_t)nrec * 3073 + 1 + (extra_bytes > 0 ? (size_t)extra_bytes : 0), 1);
    for (int r = 0; r < nrec; r++) {
        uint8_t *p = b + (size_t)r * 3073;
        p[0] = (uint8_t)((rec0 + r) % 10);
        if (bad_label && r == 0) p[0] = 10;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) p[1 + c * 1024 + y * 32 + x] = cifar_px(rec0 + r, c, y, x);
    }
    write_bytes(path, b, n, 0);
    free(b);
}

static void make_cifar(const char *dir, int train_counts[5], int test_count)
{
    char path[1024], name[64];
    int rec = 0;
    for (int f = 0; f < 5; f++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", f + 1);
        join(path, sizeof path, dir, name);
        write_cifar(path, rec, train_counts[f], 0, 0);
        rec += train_counts[f];
    }
    join(path, sizeof path, dir, "test_batch.bin");
    write_cifar(path, 1000, test_count, 0, 0);
}

static void check_cifar(const dataset *ds, int N, int rec0)
{
    ck_assert_int_eq(ds->N, N);
    ck_assert_int_eq(ds->H, 32);
    ck_assert_int_eq(ds->W, 32);
    ck_assert_int_eq(ds->C, 3);
    for (int n = 0; n < N; n++) {
        ck_assert_int_eq(ds->labels[n], (rec0 + n) % 10);
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                for (int c = 0; c < 3; c++)
                    ck_assert_int_eq(ds->pixels[(((size_t)n * 32 + y) * 32 + x) * 3 + c], cifar_px(rec0 + n, c, y, x));
    }
}

START_TEST(test_cifar_synthetic)
{
    int counts[5] = { 3, 1, 1, 1, 1 };
    /* Layout of the official tarball: DIR/cifar-10-batches-bin/... */
    const char *root = make_dir("cifar_root");
    char sub[1024];
    join(sub, sizeof sub, root, "cifar-10-batches-bin");
    ck_assert(mkdir(sub, 0755) == 0);
    make_cifar(sub, counts, 2);
    ddpm_config c = cfg_for(DATASET_CIFAR10, root, 32);
    dataset ds;
    ck_assert_msg(dataset_load(&ds, &c, 1) == DDPM_OK, "%s", ddpm_last_error());
    fprintf(stderr, "%s\n", ds.source);
    check_cifar(&ds, 7, 0);
    dataset_free(&ds);
    ck_assert_msg(dataset_load(&ds, &c, 0) == DDPM_OK, "%s", ddpm_last_error());
    check_cifar(&ds, 2, 1000);
    dataset_free(&ds);
    ck_assert(dataset_load_n(&ds, &c, 1, 4) == DDPM_OK); /* crosses into data_batch_2 */
    check_cifar(&ds, 4, 0);
    dataset_free(&ds);

    /* Files directly in data_dir. */
    const char *flat = make_dir("cifar_flat");
    make_cifar(flat, counts, 2);
    c = cfg_for(DATASET_CIFAR10, flat, 32);
    ck_assert_msg(dataset_load(&ds, &c, 1) == DDPM_OK, "%s", ddpm_last_error());
    check_cifar(&ds, 7, 0);
    dataset_free(&ds);

    /* Errors. */
    char path[1024];
    const char *empty = make_dir("cifar_empty");
    c = cfg_for(DATASET_CIFAR10, empty, 32);
    expect_error(dataset_load(&ds, &c, 1), "cifar missing", "cifar_empty/data_batch_1.bin", "make data-cifar10");
    expect_error(dataset_load(&ds, &c, 0), "cifar test missing", "test_batch.bin", "make data-cifar10");

    c = cfg_for(DATASET_CIFAR10, flat, 32);
    join(path, sizeof path, flat, "data_batch_3.bin");
    write_cifar(path, 4, 1, 1, 0); /* one stray byte: 3074 bytes */
    expect_error(dataset_load(&ds, &c, 1), "cifar size", "data_batch_3.bin", "multiple of 3073");
    write_cifar(path, 4, 1, -1, 0); /* one byte short */
    expect_error(dataset_load(&ds, &c, 1), "cifar short", "data_batch_3.bin", "multiple of 3073");
    write_cifar(path, 4, 1, 0, 1);
    expect_error(dataset_load(&ds, &c, 1), "cifar label", "data_batch_3.bin", "label 10");
    write_cifar(path, 4, 1, 0, 0);
    join(path, sizeof path, flat, "data_batch_4.bin");
    ck_assert(unlink(path) == 0);
    expect_error(dataset_load(&ds, &c, 1), "cifar batch 4 missing", "data_batch_4.bin", "make data-cifar10");
    c.image_size = 28;
    expect_error(dataset_load(&ds, &c, 0), "cifar image_size", "image_size", NULL);
    ck_assert(ds.pixels == NULL);
}
END_TEST

/* ---------- PNG folders ---------- */

static void gray_img(uint8_t *img, int H, int W, int seed)
{
    for (int i = 0; i < H * W; i++) img[i] = (uint8_t)(seed * 40 + i);
}

START_TEST(test_png_folder)
{
    char path[1024], sub[1024];
    uint8_t img[8 * 9 * 3];
    const char *dir = make_dir("pngs");
    const char *names[3] = { "c.png", "a.png", "b.PNG" }; /* sorted: a.png, b.PNG, c.png */
    const int seeds[3] = { 3, 1, 2 };
    for (int k = 0; k < 3; k++) {
        gray_img(img, 8, 8, seeds[k]);
        join(path, sizeof path, dir, names[k]);
        ck_assert(png_write(path, img, 8, 8, 1) == DDPM_OK);
    }
    join(path, sizeof path, dir, "notes.txt");
    write_bytes(path, "not an image", 12, 0);
    join(sub, sizeof sub, dir, "test");
    ck_assert(mkdir(sub, 0755) == 0);
    for (int k = 0; k < 2; k++) {
        gray_img(img, 8, 8, 5 + k);
        char name[32];
        snprintf(name, sizeof name, "t%d.png", k);
        join(path, sizeof path, sub, name);
        ck_assert(png_write(path, img, 8, 8, 1) == DDPM_OK);
    }

    ddpm_config c = cfg_for(DATASET_PNG_GRAY, dir, 8);
    dataset ds;
    ck_assert_msg(dataset_load(&ds, &c, 1) == DDPM_OK, "%s", ddpm_last_error());
    fprintf(stderr, "%s\n", ds.source);
    ck_assert_int_eq(ds.N, 3);
    ck_assert_int_eq(ds.C, 1);
    ck_assert(ds.labels == NULL);
    for (int n = 0; n < 3; n++) {
        gray_img(img, 8, 8, n + 1);
        ck_assert_msg(memcmp(ds.pixels + n * 64, img, 64) == 0, "example %d out of order", n);
    }
    dataset_free(&ds);
    ck_assert_msg(dataset_load(&ds, &c, 0) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_int_eq(ds.N, 2);
    gray_img(img, 8, 8, 6);
    ck_assert(memcmp(ds.pixels + 64, img, 64) == 0);
    dataset_free(&ds);
    ck_assert(dataset_load_n(&ds, &c, 1, 2) == DDPM_OK);
    ck_assert_int_eq(ds.N, 2);
    dataset_free(&ds);

    /* The same gray folder as RGB: channels replicated. */
    c = cfg_for(DATASET_PNG_RGB, dir, 8);
    ck_assert_msg(dataset_load(&ds, &c, 1) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_int_eq(ds.C, 3);
    gray_img(img, 8, 8, 1);
    for (int p = 0; p < 64; p++)
        for (int ch = 0; ch < 3; ch++) ck_assert_int_eq(ds.pixels[3 * p + ch], img[p]);
    dataset_free(&ds);

    /* An RGB folder read as gray: ITU-R 601-2 luma. */
    const char *rgb = make_dir("pngs_rgb");
    for (int i = 0; i < 64 * 3; i++) img[i] = (uint8_t)(i * 13);
    join(path, sizeof path, rgb, "x.png");
    ck_assert(png_write(path, img, 8, 8, 3) == DDPM_OK);
    c = cfg_for(DATASET_PNG_GRAY, rgb, 8);
    ck_assert_msg(dataset_load(&ds, &c, 1) == DDPM_OK, "%s", ddpm_last_error());
    for (int p = 0; p < 64; p++)
        ck_assert_int_eq(ds.pixels[p],
                         (19595u * img[3 * p] + 38470u * img[3 * p + 1] + 7471u * img[3 * p + 2] + 0x8000u) >> 16);
    dataset_free(&ds);

    /* Errors: no test folder, wrong size, a .png that is not a PNG, empty and missing folders. */
    expect_error(dataset_load(&ds, &c, 0), "png no test dir", "pngs_rgb/test", "no such directory");
    gray_img(img, 8, 9, 0);
    join(path, sizeof path, rgb, "y.png");
    ck_assert(png_write(path, img, 8, 9, 1) == DDPM_OK);
    expect_error(dataset_load(&ds, &c, 1), "png wrong size", "y.png", "8x9");
    ck_assert(unlink(path) == 0);
    join(path, sizeof path, rgb, "w.png");
    write_bytes(path, "GIF89a not a png at all", 23, 0);
    expect_error(dataset_load(&ds, &c, 1), "png not png", "w.png", "not a PNG");
    c = cfg_for(DATASET_PNG_GRAY, dir, 16);
    expect_error(dataset_load(&ds, &c, 1), "png image_size", "a.png", "expected 16x16");
    const char *none = make_dir("pngs_none");
    c = cfg_for(DATASET_PNG_RGB, none, 8);
    expect_error(dataset_load(&ds, &c, 1), "png empty", "pngs_none", "no *.png");
    c = cfg_for(DATASET_PNG_RGB, test_tmp_path("pngs_missing"), 8);
    expect_error(dataset_load(&ds, &c, 1), "png missing", "pngs_missing", "no such directory");
    ck_assert(ds.pixels == NULL);
}
END_TEST

/* ---------- batch sampler ---------- */

/* N examples of (H, W, C); example n is recognisable: pixel 0 = n & 255, pixel 1 = n >> 8,
 * the rest distinct along each row so a mirrored example differs from the original. */
static void synthetic(dataset *ds, int N, int H, int W, int C)
{
    memset(ds, 0, sizeof *ds);
    ds->N = N;
    ds->H = H;
    ds->W = W;
    ds->C = C;
    size_t hwc = (size_t)H * W * C;
    ds->pixels = ddpm_alloc((size_t)N * hwc);
    for (int n = 0; n < N; n++)
        for (size_t i = 0; i < hwc; i++) ds->pixels[n * hwc + i] = (uint8_t)(n * 7 + i * 29 + 5);
    for (int n = 0; n < N; n++) {
        ds->pixels[n * hwc] = (uint8_t)(n & 255);
        ds->pixels[n * hwc + 1] = (uint8_t)(n >> 8);
    }
}

/* The documented order written out independently of batch_sampler.c. */
static uint32_t reference_index(uint64_t seed, int N, int64_t p)
{
    static uint32_t perm[4096];
    static int64_t cached = -1;
    static uint64_t cached_seed;
    static int cached_n;
    int64_t e = p / N;
    if (e != cached || seed != cached_seed || N != cached_n) {
        for (int i = 0; i < N; i++) perm[i] = (uint32_t)i;
        rng_stream st = rng_stream_make(seed, RNG_SHUFFLE, (uint32_t)e, 0);
        for (int i = N - 1, k = 0; i >= 1; i--, k++) {
            uint32_t j = rng_below(st, (uint64_t)k, (uint32_t)i + 1);
            uint32_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        cached = e;
        cached_seed = seed;
        cached_n = N;
    }
    return perm[p % N];
}

START_TEST(test_sampler_order)
{
    const int N = 1000, B = 64, H = 4, W = 5, C = 3;
    const int hwc = H * W * C;
    dataset ds;
    synthetic(&ds, N, H, W, C);
    batch_sampler s;
    ck_assert(batch_sampler_init(&s, &ds, 1234) == DDPM_OK);
    float *x = malloc(sizeof(float) * B * hwc), *ref = malloc(sizeof(float) * hwc);
    int32_t idx[64];
    const int steps = 3 * N / B + 2; /* covers epochs 0..3, batches straddle boundaries */
    int *seen = calloc((size_t)4 * N, sizeof *seen);
    int identity0 = 1;
    for (int st = 0; st < steps; st++) {
        ck_assert(batch_sampler_get(&s, st, B, 0, x, idx) == DDPM_OK);
        for (int i = 0; i < B; i++) {
            int64_t p = (int64_t)st * B + i;
            ck_assert_int_eq((uint32_t)idx[i], reference_index(1234, N, p));
            seen[(p / N) * N + idx[i]]++;
            if (p < N && idx[i] != p) identity0 = 0;
            dataset_get_range(&ds, idx[i], 1, ref);
            ck_assert(memcmp(x + (size_t)i * hwc, ref, sizeof(float) * hwc) == 0);
        }
    }
    ck_assert_msg(!identity0, "epoch 0 is not shuffled");
    for (int e = 0; e < 3; e++)
        for (int n = 0; n < N; n++)
            ck_assert_msg(seen[e * N + n] == 1, "epoch %d: example %d seen %d times", e, n, seen[e * N + n]);
    /* Different epochs, different orders. */
    int same = 0;
    for (int k = 0; k < N; k++) same += reference_index(1234, N, k) == reference_index(1234, N, N + k);
    ck_assert_msg(same < 20, "epochs 0 and 1 agree at %d of %d positions", same, N);
    free(seen);

    /* A batch larger than the data set spans several epochs, each a permutation. */
    dataset tiny;
    synthetic(&tiny, 3, 2, 2, 1);
    batch_sampler s3;
    ck_assert(batch_sampler_init(&s3, &tiny, 9) == DDPM_OK);
    float xt[12 * 4];
    int32_t it[12];
    ck_assert(batch_sampler_get(&s3, 5, 12, 1, xt, it) == DDPM_OK); /* positions 60..71 */
    for (int e = 0; e < 4; e++) {
        int cnt[3] = { 0 };
        for (int k = 0; k < 3; k++) cnt[it[3 * e + k]]++;
        ck_assert(cnt[0] == 1 && cnt[1] == 1 && cnt[2] == 1);
        for (int k = 0; k < 3; k++) ck_assert_int_eq((uint32_t)it[3 * e + k], reference_index(9, 3, 60 + 3 * e + k));
    }
    batch_sampler_free(&s3);
    dataset_free(&tiny);

    /* Bad arguments. */
    ck_assert_int_eq(batch_sampler_get(&s, -1, B, 0, x, idx), DDPM_ERR);
    ck_assert_int_eq(batch_sampler_get(&s, 0, 0, 0, x, idx), DDPM_ERR);
    ck_assert_int_eq(batch_sampler_get(&s, (int64_t)1 << 33, B, 0, x, idx), DDPM_ERR);
    batch_sampler_free(&s);
    free(x);
    free(ref);
    dataset_free(&ds);
}
END_TEST

START_TEST(test_sampler_deterministic)
{
    const int N = 1000, B = 64, hwc = 4 * 5 * 3;
    dataset ds;
    synthetic(&ds, N, 4, 5, 3);
    batch_sampler a, b;
    ck_assert(batch_sampler_init(&a, &ds, 77) == DDPM_OK);
    ck_assert(batch_sampler_init(&b, &ds, 77) == DDPM_OK);
    size_t nb = (size_t)B * hwc;
    float *xa = malloc(nb * sizeof(float)), *xb = malloc(nb * sizeof(float));
    int32_t ia[64], ib[64];
    /* a walks forward; b jumps around (other epochs cached in between). */
    const int64_t order[] = { 37, 3, 120, 37, 0, 15, 16 };
    for (size_t k = 0; k < DDPM_ARRAY_LEN(order); k++) {
        for (int64_t st = 0; st <= order[k]; st++) ck_assert(batch_sampler_get(&a, st, B, 1, xa, ia) == DDPM_OK);
        ck_assert(batch_sampler_get(&b, order[k], B, 1, xb, ib) == DDPM_OK);
        ck_assert_msg(memcmp(ia, ib, sizeof ia) == 0, "step %lld: indices differ", (long long)order[k]);
        ck_assert_msg(memcmp(xa, xb, nb * sizeof(float)) == 0, "step %lld: pixels differ", (long long)order[k]);
    }
    /* idx may be NULL; another seed gives another batch. */
    ck_assert(batch_sampler_get(&b, 16, B, 1, xb, NULL) == DDPM_OK);
    ck_assert(memcmp(xa, xb, nb * sizeof(float)) == 0);
    batch_sampler c;
    ck_assert(batch_sampler_init(&c, &ds, 78) == DDPM_OK);
    ck_assert(batch_sampler_get(&c, 16, B, 1, xb, ib) == DDPM_OK);
    ck_assert(memcmp(ia, ib, sizeof ia) != 0);
    batch_sampler_free(&a);
    batch_sampler_free(&b);
    batch_sampler_free(&c);
    free(xa);
    free(xb);
    dataset_free(&ds);
}
END_TEST

START_TEST(test_sampler_flips)
{
    const int N = 1000, B = 64, H = 4, W = 5, C = 3, hwc = H * W * C, steps = 100;
    dataset ds;
    synthetic(&ds, N, H, W, C);
    batch_sampler s;
    ck_assert(batch_sampler_init(&s, &ds, 2024) == DDPM_OK);
    float *x = malloc(sizeof(float) * B * hwc), *plain = malloc(sizeof(float) * hwc);
    int32_t idx[64];
    int flips = 0;
    for (int st = 0; st < steps; st++) {
        ck_assert(batch_sampler_get(&s, st, B, 1, x, idx) == DDPM_OK);
        for (int i = 0; i < B; i++) {
            dataset_get_range(&ds, idx[i], 1, plain);
            const float *xi = x + (size_t)i * hwc;
            int same = 1, mirrored = 1;
            for (int y = 0; y < H; y++)
                for (int xx = 0; xx < W; xx++)
                    for (int c = 0; c < C; c++) {
                        float v = xi[(y * W + xx) * C + c];
                        same &= v == plain[(y * W + xx) * C + c];
                        mirrored &= v == plain[(y * W + (W - 1 - xx)) * C + c];
                    }
            ck_assert_msg(same != mirrored, "step %d example %d: neither original nor mirror", st, i);
            int want = rng_uniform(rng_stream_make(2024, RNG_FLIP, (uint32_t)st, (uint32_t)i), 0) < 0.5f;
            ck_assert_int_eq(mirrored, want);
            flips += mirrored;
        }
    }
    /* Binomial(6400, 1/2): sd = 40 flips; 5 sd = 200. */
    int total = steps * B;
    fprintf(stderr, "flips: %d of %d (%.4f)\n", flips, total, (double)flips / total);
    ck_assert_msg(abs(2 * flips - total) <= 400, "flip rate %d/%d far from 1/2", flips, total);
    batch_sampler_free(&s);
    free(x);
    free(plain);
    dataset_free(&ds);
}
END_TEST

START_TEST(test_sampler_threads)
{
    /* 256 x 28x28 = 200704 floats: above the threshold where the copy runs in parallel. */
    const int N = 600, B = 256, hwc = 28 * 28;
    dataset ds;
    synthetic(&ds, N, 28, 28, 1);
    size_t nb = (size_t)B * hwc;
    float *x1 = malloc(nb * sizeof(float)), *x2 = malloc(nb * sizeof(float));
    int32_t i1[256], i2[256];
    int saved = omp_get_max_threads();
    for (int64_t st = 0; st < 5; st++) {
        batch_sampler a, b;
        ck_assert(batch_sampler_init(&a, &ds, 5) == DDPM_OK);
        ck_assert(batch_sampler_init(&b, &ds, 5) == DDPM_OK);
        omp_set_num_threads(1);
        ck_assert(batch_sampler_get(&a, st, B, 1, x1, i1) == DDPM_OK);
        omp_set_num_threads(3);
        ck_assert(batch_sampler_get(&b, st, B, 1, x2, i2) == DDPM_OK);
        ck_assert(memcmp(i1, i2, sizeof i1) == 0);
        ck_assert_msg(memcmp(x1, x2, nb * sizeof(float)) == 0, "step %lld differs with threads", (long long)st);
        batch_sampler_free(&a);
        batch_sampler_free(&b);
    }
    omp_set_num_threads(saved);
    free(x1);
    free(x2);
    dataset_free(&ds);
}
END_TEST

START_TEST(test_get_range)
{
    dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.N = 2;
    ds.H = 1;
    ds.W = 4;
    ds.C = 1;
    ds.pixels = ddpm_alloc(8);
    const uint8_t px[8] = { 0, 255, 128, 127, 1, 254, 64, 200 };
    memcpy(ds.pixels, px, 8);
    float x[8];
    dataset_get_range(&ds, 0, 2, x);
    ck_assert(x[0] == -1.0f);
    ck_assert(x[1] == 1.0f);
    float want[8];
    for (int i = 0; i < 8; i++) want[i] = (float)((double)px[i] / 127.5 - 1.0);
    /* p / 127.5f is rounded once (|err| <= half an ulp of a value in [0, 2): 2^-24 = 5.96e-8);
     * subtracting 1 is exact (Sterbenz) or adds at most the same, so 6e-8 absolute. */
    ck_assert(test_allclose_f32("get_range", x, want, 8, 0.0, 6e-8));
    dataset_get_range(&ds, 1, 1, x);
    ck_assert(x[0] == (float)1 / 127.5f - 1.0f);
    dataset_free(&ds);
}
END_TEST

static Suite *data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *real = tcase_create("fashion_mnist");
    tcase_set_timeout(real, 60);
    tcase_add_test(real, test_fashion_real_train);
    tcase_add_test(real, test_fashion_real_test);
    suite_add_tcase(s, real);
    TCase *rd = tcase_create("readers");
    tcase_add_test(rd, test_idx_synthetic);
    tcase_add_test(rd, test_idx_corrupt);
    tcase_add_test(rd, test_cifar_synthetic);
    tcase_add_test(rd, test_png_folder);
    suite_add_tcase(s, rd);
    TCase *bs = tcase_create("batch_sampler");
    tcase_add_test(bs, test_sampler_order);
    tcase_add_test(bs, test_sampler_deterministic);
    tcase_add_test(bs, test_sampler_flips);
    tcase_add_test(bs, test_sampler_threads);
    tcase_add_test(bs, test_get_range);
    suite_add_tcase(s, bs);
    return s;
}

TEST_MAIN(data_suite)
