/* png_io.h — 8-bit images: float [-1,1] -> uint8, tiling into a grid, PNG read and write.
 *
 * Contract: images are row-major HWC (NHWC for a batch) uint8 with C = 1 (gray) or 3 (RGB).
 * Writers go through PATH.tmp and rename(), so a reader never sees a half-written PNG; a
 * directory that cannot be written is reported with the path. Readers convert whatever the
 * PNG holds (palette, gray, gray+alpha, RGB, RGBA, 1..16 bits) to the requested channels:
 * palette/low bit depths are expanded, 16-bit samples are scaled to 8 bits (round(v*255/65535)),
 * alpha is dropped, gray becomes RGB by replication and RGB becomes gray by the ITU-R 601-2
 * luma L = (19595 R + 38470 G + 7471 B + 2^15) >> 16 (what PIL's convert("L") computes).
 * No gamma or colour-space correction is applied: the stored sample values are the data.
 * Calling convention (docs/architecture.md): outputs first — a writer's destination path, a
 * reader's buffer and sizes — then inputs, options, dimensions last. */
#ifndef DDPM_PNG_IO_H
#define DDPM_PNG_IO_H

#include <stddef.h>
#include <stdint.h>

/* out (n) uint8: out[i] = round((x[i] + 1) * 127.5) clipped to 0..255 (ties round up; NaN -> 0)
 * of x (n) float32 in [-1,1]. */
void images_to_uint8(uint8_t *out, const float *x, size_t n);

/* Size of the grid images_tile() makes: `pad` is the official tile_imgs pad_pixels — every
 * tile gets a pad-pixel border of 255 and the outer border is cropped, so neighbouring tiles
 * are 2*pad pixels apart and the grid starts with a tile at (0,0). cols = 0: a square
 * ceil(sqrt(N)) x ceil(sqrt(N)) grid; otherwise rows = ceil(N / cols). Cells after the N-th
 * are 255. Returns DDPM_ERR for N < 1, C not 1 or 3, cols < 0, pad < 0 or sizes too large. */
int images_tile_size(int *grid_H, int *grid_W, int *rows, int *cols_out, int N, int H, int W, int cols, int pad);
/* grid (grid_H, grid_W, C) uint8 <- images (N, H, W, C) uint8, sizes from images_tile_size. */
int images_tile(uint8_t *grid, const uint8_t *images, int N, int H, int W, int C, int cols, int pad);

/* Tiles N images (N, H, W, C) uint8 with images_tile() and writes the grid as a PNG. */
int png_write_grid(const char *path, const uint8_t *images, int N, int H, int W, int C, int cols, int pad);
/* The same grid with a caption band under it (what the picture shows: rows, columns, tier,
 * checkpoint), text wrapped to the width in a small built-in pixel font. */
int png_write_grid_captioned(const char *path, const uint8_t *images, const char *caption, int N, int H, int W, int C,
                             int cols, int pad);
/* Height of the caption band for text at this width and pixel scale (0 for no text), and its
 * rendering (black on white) into band (height, width, C). */
int caption_height(const char *text, int width, int scale);
int caption_render(uint8_t *band, const char *text, int scale, int height, int width, int C);
/* pixels (H, W, C) uint8, C = 1 or 3 -> an 8-bit gray or RGB PNG at path (atomic). */
int png_write(const char *path, const uint8_t *pixels, int H, int W, int C);
/* Reads the PNG at path as 8-bit with C = 1 or 3 channels (converting as described above) into
 * *out (H, W, C) uint8, allocated with ddpm_alloc (free with ddpm_free), and its size *H, *W;
 * on error *out is NULL and the message names the file. */
int png_read(uint8_t **out, int *H, int *W, const char *path, int C);

#endif
