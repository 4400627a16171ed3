/* fuzz_png.c — libFuzzer target for the PNG reader png_read (src/image/png_io.h).
 *
 * Input: any bytes, written to one temporary file per process (png_read takes a path) and read
 * as RGB (C = 3) and as gray (C = 1). libpng rejects a chunk whose CRC-32 is wrong, so almost
 * every mutation would stop at the CRC check: when the input has wrong chunk CRCs, a copy with
 * the CRCs repaired is read as well, which lets mutations reach the chunk contents.
 * Pass: both reads fail with a one-line message and *out = NULL, or both succeed with the same
 * size in 1..16384 and gray = ITU-R 601-2 luma of the RGB result (the header's contract: gray
 * sources replicate, colour sources convert, so the two reads must agree pixel by pixel).
 * Under libFuzzer only (scripts/run_fuzz.sh defines the customary macro
 * FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION), inputs whose IHDR declares more than 2^18 pixels
 * are skipped: the reader allocates the declared size before reading any data, and under ASan
 * such allocations (up to 1 GiB for 16384 x 16384 RGBA, 0.5 s each) dominated the run time
 * (20k execs in 30 s with them, 120k without). The replay build (make test) reads them all. */
#include "fuzz_common.h"

#include "image/png_io.h"

#include <zlib.h>

static const char *const NAMES[] = { "input.png", NULL };

static uint8_t luma601(const uint8_t *p)
{
    return (uint8_t)((19595u * p[0] + 38470u * p[1] + 7471u * p[2] + 0x8000u) >> 16);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Sets the CRC of every complete chunk after the signature; returns how many it changed. */
static int repair_crcs(uint8_t *b, size_t n)
{
    int fixed = 0;
    size_t p = 8;
    while (p + 12 <= n) {
        uint32_t len = be32(b + p);
        if (len > n - p - 12) break;
        uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), b + p + 4, len + 4);
        uint8_t *c = b + p + 8 + len;
        if (be32(c) != crc) {
            c[0] = (uint8_t)(crc >> 24);
            c[1] = (uint8_t)(crc >> 16);
            c[2] = (uint8_t)(crc >> 8);
            c[3] = (uint8_t)crc;
            fixed++;
        }
        p += 12 + (size_t)len;
    }
    return fixed;
}

static void check_png(const char *path, const uint8_t *data, size_t size)
{
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (size >= 24 && !memcmp(data + 12, "IHDR", 4) && (uint64_t)be32(data + 16) * be32(data + 20) > (1u << 18)) return;
#endif
    fuzz_write_file(path, data, size);

    uint8_t *rgb = (uint8_t *)1, *gray = (uint8_t *)1;
    int H3 = -1, W3 = -1, H1 = -1, W1 = -1;
    ddpm_clear_error();
    int rc3 = png_read(&rgb, &H3, &W3, path, 3);
    fuzz_verdict("png_read", rc3);
    if (rc3 != DDPM_OK) {
        FUZZ_EXPECT(rc3 == DDPM_ERR && rgb == NULL, "png_read(C=3) returned %d, out %p", rc3, (void *)rgb);
        fuzz_expect_error_message("png_read(C=3)");
    }
    ddpm_clear_error();
    int rc1 = png_read(&gray, &H1, &W1, path, 1);
    if (rc1 != DDPM_OK) {
        FUZZ_EXPECT(rc1 == DDPM_ERR && gray == NULL, "png_read(C=1) returned %d", rc1);
        fuzz_expect_error_message("png_read(C=1)");
    }
    FUZZ_EXPECT(rc1 == rc3, "png_read accepts the file as C=%d only", rc1 == DDPM_OK ? 1 : 3);
    if (rc3 == DDPM_OK) {
        FUZZ_EXPECT(rgb && gray, "png_read succeeded without pixels");
        FUZZ_EXPECT(H3 >= 1 && W3 >= 1 && H3 <= 16384 && W3 <= 16384, "size %dx%d", H3, W3);
        FUZZ_EXPECT(H1 == H3 && W1 == W3, "sizes differ: %dx%d vs %dx%d", H1, W1, H3, W3);
        size_t n = (size_t)H3 * (size_t)W3;
        for (size_t i = 0; i < n; i++)
            FUZZ_EXPECT(gray[i] == luma601(rgb + 3 * i), "pixel %zu: gray %u, RGB %u,%u,%u", i, gray[i], rgb[3 * i],
                        rgb[3 * i + 1], rgb[3 * i + 2]);
    }
    if (rc3 == DDPM_OK) ddpm_free(rgb);
    if (rc1 == DDPM_OK) ddpm_free(gray);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[1024];
    if (!path[0]) {
        fuzz_private_dir("png", NAMES);
        fuzz_path(path, sizeof path, NAMES[0]);
    }
    check_png(path, data, size);
    if (size < 20) return 0;
    uint8_t *copy = malloc(size);
    if (!copy) return 0;
    memcpy(copy, data, size);
    if (repair_crcs(copy, size)) check_png(path, copy, size);
    free(copy);
    return 0;
}
