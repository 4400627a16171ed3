/* fashion_mnist.c — IDX image/label files (LeCun's MNIST format), gzipped or plain.
 *
 * Format: big-endian u32 magic 0x00000803 (u8 data, 3 dims) then N, rows, cols for images;
 * 0x00000801 then N for labels; then the raw bytes. zlib's gzread reads plain files unchanged,
 * so one path serves both names. Truncation is detected from short reads and gzerror(); a
 * full read also requires the stream to end exactly after the declared data. */
#include "data/readers.h"

#include "core/common.h"
#include "core/fs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_MAX_COUNT    100000000u /* a larger count can only be a corrupt header */
#define FASHION_CLASSES  10

static const char *const INSTALL_HINT =
    "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or set data_dir";

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Finds dir/name or dir/name.gz; path receives the one that exists. */
static int find_idx(char *path, size_t n, const char *dir, const char *name)
{
    char gz[128];
    snprintf(gz, sizeof gz, "%s.gz", name);
    DDPM_TRY(fs_join(path, n, dir, name));
    if (file_exists(path)) return DDPM_OK;
    DDPM_TRY(fs_join(path, n, dir, gz));
    if (file_exists(path)) return DDPM_OK;
    return ddpm_error("%s: no such file (nor %s without .gz); %s", path, name, INSTALL_HINT);
}

/* gzerror's text without the "path: " prefix zlib puts in front. */
static const char *gz_reason(gzFile g, const char *path, int *zerr)
{
    const char *m = gzerror(g, zerr);
    size_t n = strlen(path);
    if (m && strncmp(m, path, n) == 0 && m[n] == ':' && m[n + 1] == ' ') m += n + 2;
    return m ? m : "zlib error";
}

/* Reads exactly n bytes or fails naming the file and what was being read. */
static int gz_read_exact(gzFile g, void *buf, size_t n, const char *path, const char *what)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < n) {
        size_t want = n - got;
        if (want > (1u << 30)) want = 1u << 30;
        int r = gzread(g, p + got, (unsigned)want);
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got == n) return DDPM_OK;
    int zerr = Z_OK;
    const char *zmsg = gz_reason(g, path, &zerr);
    if (zerr != Z_OK)
        return ddpm_error("%s: truncated or corrupt gzip data while reading %s (%s; got %zu of "
                          "%zu bytes); reinstall the file",
                          path, what, zmsg, got, n);
    return ddpm_error("%s: file ends early while reading %s: got %zu of %zu bytes (truncated; "
                      "reinstall the file)",
                      path, what, got, n);
}

/* After all declared data: the stream must end here, cleanly (gzip trailer and CRC intact). */
static int gz_expect_end(gzFile g, const char *path)
{
    uint8_t extra;
    int r = gzread(g, &extra, 1);
    int zerr = Z_OK;
    const char *zmsg = gz_reason(g, path, &zerr);
    if (r < 0 || zerr != Z_OK)
        return ddpm_error("%s: truncated or corrupt gzip stream after the data (%s)", path, zmsg);
    if (r > 0)
        return ddpm_error("%s: the file holds more bytes than its IDX header declares "
                          "(dimensions do not match the data)",
                          path);
    return DDPM_OK;
}

static uint32_t be32(const uint8_t *b)
{
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static gzFile gz_open(const char *path)
{
    gzFile g = gzopen(path, "rb");
    if (!g) {
        ddpm_error("%s: cannot open: %s", path, errno ? strerror(errno) : "zlib error");
        return NULL;
    }
    gzbuffer(g, 1u << 17);
    return g;
}

static int read_split(dataset *ds, gzFile gi, const char *ipath, gzFile gl, const char *lpath, int max_n,
                      int image_size)
{
    uint8_t hi[16], hl[8];
    DDPM_TRY(gz_read_exact(gi, hi, sizeof hi, ipath, "the IDX header"));
    if (be32(hi) != IDX_MAGIC_IMAGES)
        return ddpm_error("%s: bad IDX magic 0x%08x (expected 0x%08x for a u8 image file); not "
                          "an IDX image file or corrupt",
                          ipath, be32(hi), IDX_MAGIC_IMAGES);
    uint32_t n = be32(hi + 4), rows = be32(hi + 8), cols = be32(hi + 12);
    if (n == 0 || n > IDX_MAX_COUNT) return ddpm_error("%s: IDX header declares %u images; corrupt header", ipath, n);
    if (rows != (uint32_t)image_size || cols != (uint32_t)image_size)
        return ddpm_error("%s: IDX dimensions %ux%u do not match image_size = %d", ipath, rows, cols, image_size);

    DDPM_TRY(gz_read_exact(gl, hl, sizeof hl, lpath, "the IDX header"));
    if (be32(hl) != IDX_MAGIC_LABELS)
        return ddpm_error("%s: bad IDX magic 0x%08x (expected 0x%08x for a label file); not an "
                          "IDX label file or corrupt",
                          lpath, be32(hl), IDX_MAGIC_LABELS);
    uint32_t nl = be32(hl + 4);
    if (nl != n)
        return ddpm_error("image/label count mismatch: %s has %u images but %s has %u labels", ipath, n, lpath, nl);

    int m = (max_n > 0 && (uint32_t)max_n < n) ? max_n : (int)n;
    size_t hw = (size_t)rows * cols;
    ds->N = m;
    ds->H = (int)rows;
    ds->W = (int)cols;
    ds->C = 1;
    ds->pixels = ddpm_alloc((size_t)m * hw);
    ds->labels = ddpm_alloc((size_t)m * sizeof(int32_t));
    uint8_t *lab8 = ddpm_alloc((size_t)m);
    int rc = (ds->pixels && ds->labels && lab8) ? DDPM_OK : DDPM_ERR;
    if (rc == DDPM_OK) rc = gz_read_exact(gi, ds->pixels, (size_t)m * hw, ipath, "the images");
    if (rc == DDPM_OK) rc = gz_read_exact(gl, lab8, (size_t)m, lpath, "the labels");
    if (rc == DDPM_OK && (uint32_t)m == n) {
        rc = gz_expect_end(gi, ipath);
        if (rc == DDPM_OK) rc = gz_expect_end(gl, lpath);
    }
    for (int i = 0; rc == DDPM_OK && i < m; i++) {
        if (lab8[i] >= FASHION_CLASSES)
            rc = ddpm_error("%s: label %d of example %d is out of range 0..%d; corrupt file", lpath, lab8[i], i,
                            FASHION_CLASSES - 1);
        ds->labels[i] = lab8[i];
    }
    ddpm_free(lab8);
    return rc;
}

int fashion_mnist_read(dataset *ds, const char *dir, int train, int max_n, int image_size)
{
    const char *split = train ? "train" : "t10k";
    char iname[64], lname[64], ipath[1024], lpath[1024];
    snprintf(iname, sizeof iname, "%s-images-idx3-ubyte", split);
    snprintf(lname, sizeof lname, "%s-labels-idx1-ubyte", split);
    DDPM_TRY(find_idx(ipath, sizeof ipath, dir, iname));
    DDPM_TRY(find_idx(lpath, sizeof lpath, dir, lname));

    errno = 0;
    gzFile gi = gz_open(ipath);
    if (!gi) return DDPM_ERR;
    errno = 0;
    gzFile gl = gz_open(lpath);
    if (!gl) {
        gzclose(gi);
        return DDPM_ERR;
    }
    int rc = read_split(ds, gi, ipath, gl, lpath, max_n, image_size);
    gzclose(gi);
    gzclose(gl);
    if (rc == DDPM_OK)
        data_set_source(ds, "fashion_mnist %s: %s, %s (%d images)", train ? "train" : "test", ipath, lpath, ds->N);
    return rc;
}
