/* grid.c — float images to uint8 and tiling a batch into one picture (official tile_imgs). */
#include "image/png_io.h"

#include "core/common.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

void images_to_uint8(uint8_t *out, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* (x+1)*127.5 is exact in double for any float x, so the rounding is exact too. */
        double v = ((double)x[i] + 1.0) * 127.5;
        if (!(v > 0.0)) out[i] = 0; /* also NaN */
        else if (v >= 254.5) out[i] = 255;
        else out[i] = (uint8_t)floor(v + 0.5);
    }
}

int images_tile_size(int *grid_H, int *grid_W, int *rows, int *cols_out, int N, int H, int W, int cols, int pad)
{
    if (N < 1 || H < 1 || W < 1 || cols < 0 || pad < 0)
        return ddpm_error("images_tile: bad arguments N=%d H=%d W=%d cols=%d pad=%d", N, H, W, cols, pad);
    int r, c;
    if (cols == 0) {
        c = 1;
        while ((int64_t)c * c < N) c++;
        r = c;
    } else {
        c = cols;
        r = (N + cols - 1) / cols;
    }
    int64_t gh = (int64_t)r * (H + 2 * (int64_t)pad) - 2 * (int64_t)pad;
    int64_t gw = (int64_t)c * (W + 2 * (int64_t)pad) - 2 * (int64_t)pad;
    if (gh > 65535 || gw > 65535)
        return ddpm_error("images_tile: grid of %lldx%lld pixels is too large", (long long)gh, (long long)gw);
    *grid_H = (int)gh;
    *grid_W = (int)gw;
    *rows = r;
    *cols_out = c;
    return DDPM_OK;
}

int images_tile(uint8_t *grid, const uint8_t *images, int N, int H, int W, int C, int cols, int pad)
{
    if (C != 1 && C != 3) return ddpm_error("images_tile: channels must be 1 or 3, got %d", C);
    int gh, gw, rows, ncol;
    DDPM_TRY(images_tile_size(&gh, &gw, &rows, &ncol, N, H, W, cols, pad));
    memset(grid, 255, (size_t)gh * gw * C);
    const size_t row_bytes = (size_t)W * C;
    for (int n = 0; n < N; n++) {
        int y0 = (n / ncol) * (H + 2 * pad), x0 = (n % ncol) * (W + 2 * pad);
        for (int y = 0; y < H; y++)
            memcpy(grid + ((size_t)(y0 + y) * gw + x0) * C, images + ((size_t)n * H + y) * row_bytes, row_bytes);
    }
    return DDPM_OK;
}

int png_write_grid(const char *path, const uint8_t *images, int N, int H, int W, int C, int cols, int pad)
{
    int gh, gw, rows, ncol;
    if (images_tile_size(&gh, &gw, &rows, &ncol, N, H, W, cols, pad) != DDPM_OK) return ddpm_error_prefix("%s", path);
    uint8_t *grid = ddpm_alloc((size_t)gh * gw * (C == 3 ? 3 : 1));
    if (!grid) return ddpm_error_prefix("%s", path);
    int rc = images_tile(grid, images, N, H, W, C, cols, pad);
    if (rc == DDPM_OK) rc = png_write(path, grid, gh, gw, C);
    else ddpm_error_prefix("%s", path);
    ddpm_free(grid);
    return rc;
}
