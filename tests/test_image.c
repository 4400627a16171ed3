/* test_image.c — images_to_uint8 rounding, grid layout (official tile_imgs), PNG round trips,
 * format conversions on read and error paths. */
#include "testutil.h"

#include "core/common.h"
#include "image/png_io.h"

#include <png.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

START_TEST(test_to_uint8_edges)
{
    /* Values whose (x+1)*127.5 is exact in float, so the expected byte is known by hand. */
    const float x[] = { -1.0f,  1.0f,     -2.0f,      2.0f,        0.0f,        -0.5f,
                        -0.75f, 0.25f,    0.9921875f, 0.99609375f, -0.9921875f, -1.0f + 0x1p-10f,
                        NAN,    INFINITY, -INFINITY,  1e30f,       -1e30f };
    const uint8_t want[] = { 0,
                             255,
                             0,
                             255,
                             128 /* 127.5: ties round up */,
                             64 /* 63.75 */,
                             32 /* 31.875 */,
                             159 /* 159.375 */,
                             254 /* 253.99 */,
                             255 /* 254.502 */,
                             1 /* 0.996 */,
                             0 /* 0.1245 */,
                             0 /* NaN */,
                             255,
                             0,
                             255,
                             0 };
    size_t n = DDPM_ARRAY_LEN(x);
    uint8_t got[DDPM_ARRAY_LEN(x)];
    images_to_uint8(got, x, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "x[%zu]=%g: got %d want %d", i, (double)x[i], got[i], want[i]);

    /* The data pipeline's pixel/127.5 - 1 (float32) must come back to the same byte. */
    float v[256];
    uint8_t back[256];
    for (int p = 0; p < 256; p++) v[p] = (float)p / 127.5f - 1.0f;
    images_to_uint8(back, v, 256);
    for (int p = 0; p < 256; p++) ck_assert_msg(back[p] == p, "pixel %d -> %d", p, back[p]);
}
END_TEST

/* Expected grid pixel from the tile_imgs definition: each tile padded by `pad` on all sides,
 * tiles laid out row-major, outer `pad` cropped; empty cells and padding are 255. */
static uint8_t grid_expect(const uint8_t *imgs, int N, int H, int W, int C, int ncol, int pad, int gy, int gx, int c)
{
    int th = H + 2 * pad, tw = W + 2 * pad;
    int py = gy + pad, px = gx + pad; /* coordinates before the crop */
    int r = py / th, q = px / tw, yy = py % th - pad, xx = px % tw - pad;
    int n = r * ncol + q;
    if (yy < 0 || yy >= H || xx < 0 || xx >= W || n >= N) return 255;
    return imgs[(((size_t)n * H + yy) * W + xx) * C + c];
}

static void check_grid(int N, int H, int W, int C, int cols, int pad, int want_rows, int want_cols)
{
    size_t nimg = (size_t)N * H * W * C;
    uint8_t *imgs = malloc(nimg);
    for (size_t i = 0; i < nimg; i++) imgs[i] = (uint8_t)(1 + (i * 37) % 200); /* never 255 */
    int gh, gw, rows, ncol;
    ck_assert_int_eq(images_tile_size(&gh, &gw, &rows, &ncol, N, H, W, cols, pad), DDPM_OK);
    ck_assert_int_eq(rows, want_rows);
    ck_assert_int_eq(ncol, want_cols);
    ck_assert_int_eq(gh, rows * (H + 2 * pad) - 2 * pad);
    ck_assert_int_eq(gw, ncol * (W + 2 * pad) - 2 * pad);
    uint8_t *grid = malloc((size_t)gh * gw * C);
    ck_assert_int_eq(images_tile(grid, imgs, N, H, W, C, cols, pad), DDPM_OK);
    size_t bad = 0;
    for (int y = 0; y < gh; y++)
        for (int x = 0; x < gw; x++)
            for (int c = 0; c < C; c++) {
                uint8_t w = grid_expect(imgs, N, H, W, C, ncol, pad, y, x, c);
                if (grid[((size_t)y * gw + x) * C + c] != w && bad++ < 5)
                    fprintf(stderr, "grid (%d,%d,%d): got %d want %d\n", y, x, c, grid[((size_t)y * gw + x) * C + c],
                            w);
            }
    ck_assert_msg(bad == 0, "%zu grid pixels differ (N=%d C=%d cols=%d pad=%d)", bad, N, C, cols, pad);

    /* Written and read back as PNG: the same pixels. */
    const char *path = test_tmp_path("grid.png");
    ck_assert_msg(png_write_grid(path, imgs, N, H, W, C, cols, pad) == DDPM_OK, "%s", ddpm_last_error());
    uint8_t *rd = NULL;
    int rh = 0, rw = 0;
    ck_assert_msg(png_read(&rd, &rh, &rw, path, C) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_int_eq(rh, gh);
    ck_assert_int_eq(rw, gw);
    ck_assert(memcmp(rd, grid, (size_t)gh * gw * C) == 0);
    ddpm_free(rd);
    free(grid);
    free(imgs);
}

START_TEST(test_grid_layout)
{
    /* Hand-placed positions for N=5, 2x3 gray tiles, square grid (3x3), pad 1:
     * tiles start every 4 rows / 5 columns; 2 pixels of 255 between tiles. */
    const int N = 5, H = 2, W = 3;
    uint8_t imgs[5 * 2 * 3];
    for (int n = 0; n < N; n++)
        for (int i = 0; i < H * W; i++) imgs[n * H * W + i] = (uint8_t)(n * 40 + i + 1);
    uint8_t grid[10 * 13];
    ck_assert_int_eq(images_tile(grid, imgs, N, H, W, 1, 0, 1), DDPM_OK);
    ck_assert_int_eq(grid[0], 1);            /* tile 0 (0,0) */
    ck_assert_int_eq(grid[1 * 13 + 2], 6);   /* tile 0 (1,2) */
    ck_assert_int_eq(grid[0 * 13 + 3], 255); /* padding right of tile 0 */
    ck_assert_int_eq(grid[0 * 13 + 4], 255);
    ck_assert_int_eq(grid[0 * 13 + 5], 41);   /* tile 1 (0,0) */
    ck_assert_int_eq(grid[0 * 13 + 10], 81);  /* tile 2 (0,0) */
    ck_assert_int_eq(grid[2 * 13 + 0], 255);  /* padding below tile 0 */
    ck_assert_int_eq(grid[4 * 13 + 0], 121);  /* tile 3 (0,0) */
    ck_assert_int_eq(grid[5 * 13 + 7], 166);  /* tile 4 (1,2) */
    ck_assert_int_eq(grid[8 * 13 + 0], 255);  /* empty cell 6 */
    ck_assert_int_eq(grid[9 * 13 + 12], 255); /* empty cell 8, last pixel */

    check_grid(5, 2, 3, 1, 0, 1, 3, 3);
    check_grid(5, 4, 3, 3, 2, 0, 3, 2); /* cols given, N not a multiple: last cell empty */
    check_grid(16, 3, 5, 3, 0, 2, 4, 4);
    check_grid(1, 7, 5, 1, 0, 1, 1, 1); /* a single tile: no padding at all */
    check_grid(6, 2, 2, 1, 6, 3, 1, 6);
}
END_TEST

START_TEST(test_grid_bad_args)
{
    uint8_t img[12] = { 0 };
    int gh, gw, r, c;
    ck_assert_int_eq(images_tile_size(&gh, &gw, &r, &c, 0, 2, 2, 0, 1), DDPM_ERR);
    ck_assert_int_eq(images_tile_size(&gh, &gw, &r, &c, 1, 2, 2, -1, 1), DDPM_ERR);
    ck_assert_int_eq(images_tile_size(&gh, &gw, &r, &c, 1, 2, 2, 0, -1), DDPM_ERR);
    ck_assert_int_eq(png_write_grid(test_tmp_path("bad.png"), img, 1, 2, 2, 2, 0, 1), DDPM_ERR);
    fprintf(stderr, "bad channels: %s\n", ddpm_last_error());
}
END_TEST

START_TEST(test_png_roundtrip)
{
    for (int C = 1; C <= 3; C += 2) {
        const int H = 7, W = 5;
        uint8_t img[7 * 5 * 3];
        for (int i = 0; i < H * W * C; i++) img[i] = (uint8_t)((i * 97 + 13) & 255);
        img[0] = 0;
        img[1] = 255;
        const char *path = test_tmp_path(C == 1 ? "rt_gray.png" : "rt_rgb.png");
        ck_assert_msg(png_write(path, img, H, W, C) == DDPM_OK, "%s", ddpm_last_error());
        char tmp[1100];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        ck_assert_msg(!file_exists(tmp), "temporary file left behind");
        uint8_t *rd = NULL;
        int rh, rw;
        ck_assert_msg(png_read(&rd, &rh, &rw, path, C) == DDPM_OK, "%s", ddpm_last_error());
        ck_assert_int_eq(rh, H);
        ck_assert_int_eq(rw, W);
        ck_assert_msg(memcmp(rd, img, (size_t)H * W * C) == 0, "C=%d round trip differs", C);
        ddpm_free(rd);

        /* Cross conversions: gray -> RGB replicates; RGB -> gray is PIL's convert("L"). */
        int C2 = 4 - C;
        ck_assert_msg(png_read(&rd, &rh, &rw, path, C2) == DDPM_OK, "%s", ddpm_last_error());
        for (int p = 0; p < H * W; p++) {
            if (C == 1) {
                for (int c = 0; c < 3; c++) ck_assert_int_eq(rd[3 * p + c], img[p]);
            } else {
                unsigned r = img[3 * p], g = img[3 * p + 1], b = img[3 * p + 2];
                ck_assert_int_eq(rd[p], (19595u * r + 38470u * g + 7471u * b + 0x8000u) >> 16);
            }
        }
        ddpm_free(rd);
    }
}
END_TEST

/* Writes an arbitrary PNG with libpng directly (formats png_write does not produce). */
static void write_raw_png(const char *path, int H, int W, int bit_depth, int color_type, const uint8_t *rows_data,
                          size_t rowbytes, const png_color *palette, int npal)
{
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) ck_abort_msg("libpng failed writing the test file");
    png_init_io(png, f);
    png_set_IHDR(png, info, W, H, bit_depth, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (palette) png_set_PLTE(png, info, palette, npal);
    png_write_info(png, info);
    for (int y = 0; y < H; y++) png_write_row(png, rows_data + (size_t)y * rowbytes);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

START_TEST(test_png_read_formats)
{
    uint8_t *rd = NULL;
    int h, w;
    /* 16-bit gray, big-endian samples: scaled with rounding, round(v * 255 / 65535). */
    const uint16_t v16[5] = { 0, 32767, 32768, 0x1234, 65535 };
    const uint8_t want16[5] = { 0, 127 /* 127.498 */, 128 /* 127.502 */, 18 /* 18.13 */, 255 };
    uint8_t row16[10];
    for (int i = 0; i < 5; i++) {
        row16[2 * i] = v16[i] >> 8;
        row16[2 * i + 1] = v16[i] & 255;
    }
    const char *p16 = test_tmp_path("g16.png");
    write_raw_png(p16, 1, 5, 16, PNG_COLOR_TYPE_GRAY, row16, 10, NULL, 0);
    ck_assert_msg(png_read(&rd, &h, &w, p16, 1) == DDPM_OK, "%s", ddpm_last_error());
    for (int i = 0; i < 5; i++) ck_assert_msg(rd[i] == want16[i], "16-bit %u -> %d", v16[i], rd[i]);
    ddpm_free(rd);

    /* RGBA: alpha dropped, colour kept. */
    const uint8_t rgba[2 * 4] = { 10, 20, 30, 0, 200, 100, 50, 255 };
    const char *pa = test_tmp_path("rgba.png");
    write_raw_png(pa, 1, 2, 8, PNG_COLOR_TYPE_RGB_ALPHA, rgba, 8, NULL, 0);
    ck_assert_msg(png_read(&rd, &h, &w, pa, 3) == DDPM_OK, "%s", ddpm_last_error());
    const uint8_t want_rgb[6] = { 10, 20, 30, 200, 100, 50 };
    ck_assert(memcmp(rd, want_rgb, 6) == 0);
    ddpm_free(rd);

    /* Gray+alpha read as gray. */
    const uint8_t ga[4] = { 77, 0, 199, 128 };
    const char *pga = test_tmp_path("ga.png");
    write_raw_png(pga, 1, 2, 8, PNG_COLOR_TYPE_GRAY_ALPHA, ga, 4, NULL, 0);
    ck_assert_msg(png_read(&rd, &h, &w, pga, 1) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert(rd[0] == 77 && rd[1] == 199);
    ddpm_free(rd);

    /* 8-bit palette. */
    const png_color pal[3] = { { 1, 2, 3 }, { 250, 0, 9 }, { 40, 50, 60 } };
    const uint8_t idx[3] = { 2, 0, 1 };
    const char *pp = test_tmp_path("pal.png");
    write_raw_png(pp, 1, 3, 8, PNG_COLOR_TYPE_PALETTE, idx, 3, pal, 3);
    ck_assert_msg(png_read(&rd, &h, &w, pp, 3) == DDPM_OK, "%s", ddpm_last_error());
    const uint8_t want_pal[9] = { 40, 50, 60, 1, 2, 3, 250, 0, 9 };
    ck_assert(memcmp(rd, want_pal, 9) == 0);
    ddpm_free(rd);

    /* 1-bit gray: 0 -> 0, 1 -> 255. */
    const uint8_t bits[1] = { 0xA0 }; /* 1 0 1 0 */
    const char *pb = test_tmp_path("g1.png");
    write_raw_png(pb, 1, 4, 1, PNG_COLOR_TYPE_GRAY, bits, 1, NULL, 0);
    ck_assert_msg(png_read(&rd, &h, &w, pb, 1) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert(rd[0] == 255 && rd[1] == 0 && rd[2] == 255 && rd[3] == 0);
    ck_assert_int_eq(h, 1);
    ck_assert_int_eq(w, 4);
    ddpm_free(rd);
}
END_TEST

START_TEST(test_png_errors)
{
    uint8_t img[4 * 4] = { 0 };
    uint8_t *rd = (uint8_t *)1;
    int h, w;

    /* Unwritable: a directory that does not exist, and a "directory" that is a file. */
    const char *nodir = test_tmp_path("no_such_dir/x.png");
    ck_assert_int_eq(png_write(nodir, img, 4, 4, 1), DDPM_ERR);
    fprintf(stderr, "missing dir: %s\n", ddpm_last_error());
    ck_assert(strstr(ddpm_last_error(), nodir) != NULL);
    ck_assert(strstr(ddpm_last_error(), "writable") != NULL);
    const char *file = test_tmp_path("plain_file");
    FILE *f = fopen(file, "w");
    ck_assert(f != NULL);
    fputs("x", f);
    fclose(f);
    char under[1100];
    snprintf(under, sizeof under, "%s/x.png", file);
    ck_assert_int_eq(png_write(under, img, 4, 4, 1), DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), under) != NULL);
    ck_assert_int_eq(png_write_grid(nodir, img, 1, 4, 4, 1, 0, 1), DDPM_ERR);
    ck_assert_int_eq(png_write(test_tmp_path("c2.png"), img, 4, 2, 2), DDPM_ERR);

    /* Missing file, not a PNG, truncated PNG: errors naming the file, *out NULL, no crash. */
    const char *missing = test_tmp_path("missing.png");
    ck_assert_int_eq(png_read(&rd, &h, &w, missing, 1), DDPM_ERR);
    ck_assert(rd == NULL);
    ck_assert(strstr(ddpm_last_error(), missing) != NULL);
    ck_assert_int_eq(png_read(&rd, &h, &w, file, 1), DDPM_ERR);
    fprintf(stderr, "not a png: %s\n", ddpm_last_error());
    ck_assert(strstr(ddpm_last_error(), "not a PNG") != NULL);

    uint8_t big[32 * 32];
    for (int i = 0; i < 32 * 32; i++) big[i] = (uint8_t)(i * 7919 >> 3);
    const char *good = test_tmp_path("good.png");
    ck_assert_int_eq(png_write(good, big, 32, 32, 1), DDPM_OK);
    struct stat st;
    ck_assert(stat(good, &st) == 0);
    for (int cut = 12; cut < st.st_size; cut += (int)(st.st_size / 7) + 1) {
        const char *tr = test_tmp_path("trunc.png");
        FILE *in = fopen(good, "rb"), *out = fopen(tr, "wb");
        uint8_t *buf = malloc((size_t)cut);
        ck_assert((int)fread(buf, 1, (size_t)cut, in) == cut);
        fwrite(buf, 1, (size_t)cut, out);
        fclose(in);
        fclose(out);
        free(buf);
        ck_assert_msg(png_read(&rd, &h, &w, tr, 1) == DDPM_ERR, "truncated at %d read OK", cut);
        ck_assert(rd == NULL);
        ck_assert(strstr(ddpm_last_error(), tr) != NULL);
        if (cut == 12) fprintf(stderr, "truncated png: %s\n", ddpm_last_error());
    }
    /* Flipped bytes inside the image data: the CRC check fails. */
    {
        FILE *g = fopen(good, "r+b");
        fseek(g, st.st_size / 2, SEEK_SET);
        int c = fgetc(g);
        fseek(g, st.st_size / 2, SEEK_SET);
        fputc(c ^ 0x55, g);
        fclose(g);
        ck_assert_int_eq(png_read(&rd, &h, &w, good, 1), DDPM_ERR);
        fprintf(stderr, "corrupt png: %s\n", ddpm_last_error());
    }
}
END_TEST

/* Captions: the band's height follows the wrapped line count, glyphs land where the font puts
 * them (here "1" and "7" at scale 1 and 2), and a captioned grid is the grid with the band under it. */
START_TEST(test_caption)
{
    ck_assert_int_eq(caption_height("", 100, 1), 0);
    ck_assert_int_eq(caption_height("ab", 100, 1), 9);             /* one line: 7 rows + 2 */
    ck_assert_int_eq(caption_height("aaaa bbbb cccc", 24, 1), 23); /* 5 characters a line: 3 lines of 7 + 2 */
    ck_assert_int_eq(caption_height("ab", 100, 2), 18);
    uint8_t band[9 * 12];
    ck_assert_int_eq(caption_render(band, "17", 1, 9, 12, 1), DDPM_OK);
    /* "1" = rows 010 110 010 010 111 at x 1..3, y 2..6; "7" = 111 001 001 001 001 at x 5..7 */
    static const char *want[9] = { "............", "............", "..#..###....", ".##....#....", "..#....#....",
                                   "..#....#....", ".###...#....", "............", "............" };
    for (int y = 0; y < 9; y++)
        for (int x = 0; x < 12; x++)
            ck_assert_msg((band[y * 12 + x] == 0) == (want[y][x] == '#'), "pixel (%d,%d)", y, x);
    uint8_t big[18 * 24 * 3];
    ck_assert_int_eq(caption_render(big, "1", 2, 18, 24, 3), DDPM_OK);
    ck_assert(big[(4 * 24 + 4) * 3] == 0 && big[(5 * 24 + 5) * 3 + 2] == 0 && big[(4 * 24 + 2) * 3] == 255);
    /* a captioned grid: 16 images 4x4, 4x4 tiles with pad 1 -> 22x22, plus a 9-row band */
    uint8_t imgs[16 * 16];
    memset(imgs, 128, sizeof imgs);
    const char *path = test_tmp_path("caption.png");
    ck_assert_int_eq(png_write_grid_captioned(path, imgs, "ok", 16, 4, 4, 1, 0, 1), DDPM_OK);
    uint8_t *got;
    int H, W;
    ck_assert_int_eq(png_read(&got, &H, &W, path, 1), DDPM_OK);
    ck_assert(H == 22 + 9 && W == 22);
    ck_assert_int_eq(got[0], 128);
    ck_assert(got[(22 + 2) * W + 2] == 0 && got[(22 + 3) * W + 1] == 0); /* "o" = 010 101 ...: x 2, then x 1 */
    ddpm_free(got);
}
END_TEST

static Suite *image_suite(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_to_uint8_edges);
    tcase_add_test(tc, test_grid_layout);
    tcase_add_test(tc, test_grid_bad_args);
    tcase_add_test(tc, test_png_roundtrip);
    tcase_add_test(tc, test_png_read_formats);
    tcase_add_test(tc, test_png_errors);
    tcase_add_test(tc, test_caption);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(image_suite)
