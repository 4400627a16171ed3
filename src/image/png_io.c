/* png_io.c — PNG read and write through libpng, with libpng errors turned into status returns. */
#include "image/png_io.h"

#include "core/common.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Larger images are refused before any allocation (a corrupt header cannot ask for GBs). */
#define PNG_IO_MAX_SIDE 16384

/* libpng reports errors through a callback that must not return; it copies the message
 * here and longjmps back to the setjmp in the caller. Warnings (ancillary chunk quirks such
 * as a known-incorrect sRGB profile) do not affect the samples and are ignored. */
typedef struct {
    png_structp png;
    png_infop info;
    FILE *f;
    uint8_t *raw;    /* (H, rowbytes) as libpng delivers it */
    png_bytep *rows; /* (H) pointers into raw */
    char msg[256];
} png_ctx;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = (png_ctx *)png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* Decodes after the 8 signature bytes already read from c->f; fills raw/rows with 8-bit
 * samples of *channels (1..4) per pixel. All state lives in *c so that nothing the cleanup
 * needs is an automatic variable modified between setjmp and longjmp. */
static int decode_png(png_ctx *c, int *H, int *W, int *channels)
{
    c->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, on_png_error, on_png_warning);
    if (!c->png) return DDPM_ERR;
    c->info = png_create_info_struct(c->png);
    if (!c->info) return DDPM_ERR;
    if (setjmp(png_jmpbuf(c->png))) return DDPM_ERR;

    png_init_io(c->png, c->f);
    png_set_sig_bytes(c->png, 8);
    png_set_user_limits(c->png, PNG_IO_MAX_SIDE, PNG_IO_MAX_SIDE);
    png_read_info(c->png, c->info);

    png_uint_32 w = png_get_image_width(c->png, c->info);
    png_uint_32 h = png_get_image_height(c->png, c->info);
    int bit_depth = png_get_bit_depth(c->png, c->info);
    int color_type = png_get_color_type(c->png, c->info);

    /* Palette -> RGB (tRNS -> alpha), 1/2/4-bit gray -> 8 bit, 16 -> 8 bit with rounding. */
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(c->png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(c->png);
    if (bit_depth == 16) png_set_scale_16(c->png);
    png_set_interlace_handling(c->png);
    png_read_update_info(c->png, c->info);

    int ch = png_get_channels(c->png, c->info);
    size_t rowbytes = png_get_rowbytes(c->png, c->info);
    if (png_get_bit_depth(c->png, c->info) != 8 || ch < 1 || ch > 4 || rowbytes != (size_t)w * ch) {
        snprintf(c->msg, sizeof c->msg, "unsupported PNG layout (bit depth %d, color type %d)", bit_depth, color_type);
        return DDPM_ERR;
    }
    c->raw = malloc((size_t)h * rowbytes);
    c->rows = malloc((size_t)h * sizeof *c->rows);
    if (!c->raw || !c->rows) {
        snprintf(c->msg, sizeof c->msg, "out of memory for a %ux%u image", (unsigned)w, (unsigned)h);
        return DDPM_ERR;
    }
    for (png_uint_32 y = 0; y < h; y++) c->rows[y] = c->raw + (size_t)y * rowbytes;
    png_read_image(c->png, c->rows);
    png_read_end(c->png, NULL); /* checks the chunks after the image data (truncation, CRC) */
    *H = (int)h;
    *W = (int)w;
    *channels = ch;
    return DDPM_OK;
}

/* ITU-R 601-2 luma in 16-bit fixed point, as PIL's convert("L"). */
static inline uint8_t luma(uint8_t r, uint8_t g, uint8_t b)
{
    return (uint8_t)((19595u * r + 38470u * g + 7471u * b + 0x8000u) >> 16);
}

/* out (n, C) <- in (n, ch): ch 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; alpha dropped. */
static void convert_channels(uint8_t *out, int C, const uint8_t *in, int ch, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = in + i * ch;
        if (ch <= 2) {
            if (C == 1) out[i] = p[0];
            else out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = p[0];
        } else {
            if (C == 1) out[i] = luma(p[0], p[1], p[2]);
            else memcpy(out + 3 * i, p, 3);
        }
    }
}

int png_read(uint8_t **out, int *H, int *W, const char *path, int C)
{
    *out = NULL;
    if (C != 1 && C != 3) return ddpm_error("%s: png_read: channels must be 1 or 3, got %d", path, C);
    png_ctx c;
    memset(&c, 0, sizeof c);
    c.f = fopen(path, "rb");
    if (!c.f) return ddpm_error("%s: cannot open: %s", path, strerror(errno));
    unsigned char sig[8];
    if (fread(sig, 1, 8, c.f) != 8 || png_sig_cmp(sig, 0, 8)) {
        fclose(c.f);
        return ddpm_error("%s: not a PNG file (bad signature)", path);
    }
    int h = 0, w = 0, ch = 0;
    int rc = decode_png(&c, &h, &w, &ch);
    if (rc == DDPM_OK) {
        uint8_t *img = ddpm_alloc((size_t)h * w * C);
        if (img) {
            convert_channels(img, C, c.raw, ch, (size_t)h * w);
            *out = img;
            *H = h;
            *W = w;
        } else {
            rc = DDPM_ERR;
            snprintf(c.msg, sizeof c.msg, "out of memory");
        }
    }
    if (c.png) png_destroy_read_struct(&c.png, c.info ? &c.info : NULL, NULL);
    free(c.raw);
    free(c.rows);
    int truncated = feof(c.f);
    fclose(c.f);
    if (rc != DDPM_OK && truncated)
        return ddpm_error("%s: PNG file is truncated (%s)", path, c.msg[0] ? c.msg : "end of file");
    if (rc != DDPM_OK) return ddpm_error("%s: PNG decode error: %s", path, c.msg[0] ? c.msg : "libpng failed");
    return DDPM_OK;
}

static int encode_png(png_ctx *c, const uint8_t *pixels, int H, int W, int C)
{
    c->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, c, on_png_error, on_png_warning);
    if (!c->png) return DDPM_ERR;
    c->info = png_create_info_struct(c->png);
    if (!c->info) return DDPM_ERR;
    if (setjmp(png_jmpbuf(c->png))) return DDPM_ERR;
    png_init_io(c->png, c->f);
    png_set_IHDR(c->png, c->info, (png_uint_32)W, (png_uint_32)H, 8, C == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(c->png, c->info);
    for (int y = 0; y < H; y++) png_write_row(c->png, pixels + (size_t)y * W * C);
    png_write_end(c->png, NULL);
    return DDPM_OK;
}

int png_write(const char *path, const uint8_t *pixels, int H, int W, int C)
{
    if (C != 1 && C != 3) return ddpm_error("%s: png_write: channels must be 1 or 3, got %d", path, C);
    if (H < 1 || W < 1) return ddpm_error("%s: png_write: bad image size %dx%d", path, H, W);
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return ddpm_error("%s: path too long", path);
    png_ctx c;
    memset(&c, 0, sizeof c);
    c.f = fopen(tmp, "wb");
    if (!c.f)
        return ddpm_error("%s: cannot write (%s: %s); check that the directory exists and is "
                          "writable",
                          path, tmp, strerror(errno));
    int rc = encode_png(&c, pixels, H, W, C);
    if (c.png) png_destroy_write_struct(&c.png, c.info ? &c.info : NULL);
    int io_err = ferror(c.f);
    if (fclose(c.f) != 0) io_err = 1;
    if (rc != DDPM_OK || io_err) {
        int e = errno;
        remove(tmp);
        if (rc != DDPM_OK) return ddpm_error("%s: PNG encode error: %s", path, c.msg);
        return ddpm_error("%s: write failed (%s)", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return ddpm_error("%s: cannot rename %s into place: %s", path, tmp, strerror(e));
    }
    return DDPM_OK;
}
