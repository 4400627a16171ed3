/* caption.c — a caption band under a picture: text in a 3x5 pixel font (one case; digits,
 * letters and the punctuation result captions use), scaled, wrapped at spaces to the width. */
#include "image/png_io.h"

#include "core/common.h"

#include <ctype.h>
#include <string.h>

/* Each glyph: five rows, top first, one octal digit each (bit 2 = left column). */
static const struct {
    char ch;
    unsigned rows;
} GLYPHS[] = {
    { ' ', 000000 }, { '#', 057575 }, { '%', 051245 }, { '\'', 022000 }, { '(', 012221 }, { ')', 042224 },
    { '+', 002720 }, { ',', 000024 }, { '-', 000700 }, { '.', 000002 },  { '/', 011244 }, { '0', 075557 },
    { '1', 026227 }, { '2', 071747 }, { '3', 071717 }, { '4', 055711 },  { '5', 074717 }, { '6', 074757 },
    { '7', 071111 }, { '8', 075757 }, { '9', 075717 }, { ':', 002020 },  { '<', 012421 }, { '=', 007070 },
    { '>', 042124 }, { '?', 071202 }, { '[', 032223 }, { ']', 062226 },  { '_', 000007 }, { 'a', 025755 },
    { 'b', 065656 }, { 'c', 034443 }, { 'd', 065556 }, { 'e', 074647 },  { 'f', 074644 }, { 'g', 034553 },
    { 'h', 055755 }, { 'i', 072227 }, { 'j', 011152 }, { 'k', 055655 },  { 'l', 044447 }, { 'm', 057755 },
    { 'n', 065555 }, { 'o', 025552 }, { 'p', 065644 }, { 'q', 025563 },  { 'r', 065655 }, { 's', 034216 },
    { 't', 072222 }, { 'u', 055557 }, { 'v', 055552 }, { 'w', 055775 },  { 'x', 055255 }, { 'y', 055222 },
    { 'z', 071247 }, { '|', 022222 },
};

static unsigned glyph(char c)
{
    c = (char)tolower((unsigned char)c);
    for (size_t i = 0; i < DDPM_ARRAY_LEN(GLYPHS); i++)
        if (GLYPHS[i].ch == c) return GLYPHS[i].rows;
    return 071202; /* '?' */
}

#define CAPTION_ADV  4 /* glyph columns + one of space */
#define CAPTION_LINE 7 /* glyph rows + two of space */

/* Line breaks of text for `per_line` characters: starts[k], lens[k]; returns the line count. */
static int wrap(const char *text, int per_line, int *starts, int *lens, int max_lines)
{
    int n = 0, len = (int)strlen(text), i = 0;
    while (i < len && n < max_lines) {
        while (i < len && text[i] == ' ') i++;
        if (i >= len) break;
        int end = i + per_line < len ? i + per_line : len;
        if (end < len) {
            int sp = end;
            while (sp > i && text[sp] != ' ') sp--;
            if (sp > i) end = sp;
        }
        starts[n] = i;
        lens[n] = end - i;
        n++;
        i = end;
    }
    return n;
}

int caption_height(const char *text, int width, int scale)
{
    int per = width / (CAPTION_ADV * scale) - 1;
    if (per < 1 || !text || !*text) return 0;
    int starts[64], lens[64];
    int lines = wrap(text, per, starts, lens, 64);
    return lines ? (lines * CAPTION_LINE + 2) * scale : 0;
}

int caption_render(uint8_t *band, const char *text, int scale, int height, int width, int C)
{
    memset(band, 255, (size_t)height * width * C);
    int per = width / (CAPTION_ADV * scale) - 1;
    if (per < 1 || !text) return DDPM_OK;
    int starts[64], lens[64];
    int lines = wrap(text, per, starts, lens, 64);
    for (int l = 0; l < lines; l++)
        for (int k = 0; k < lens[l]; k++) {
            unsigned g = glyph(text[starts[l] + k]);
            int x0 = (k * CAPTION_ADV + 1) * scale, y0 = (l * CAPTION_LINE + 2) * scale;
            for (int r = 0; r < 5; r++)
                for (int col = 0; col < 3; col++) {
                    if (!((g >> (3 * (4 - r))) & (4u >> col))) continue;
                    for (int dy = 0; dy < scale; dy++)
                        for (int dx = 0; dx < scale; dx++) {
                            int y = y0 + r * scale + dy, x = x0 + col * scale + dx;
                            if (y < height && x < width) memset(band + ((size_t)y * width + x) * C, 0, (size_t)C);
                        }
                }
        }
    return DDPM_OK;
}

int png_write_grid_captioned(const char *path, const uint8_t *images, const char *caption, int N, int H, int W, int C,
                             int cols, int pad)
{
    int gh, gw, rows, ncol;
    if (images_tile_size(&gh, &gw, &rows, &ncol, N, H, W, cols, pad) != DDPM_OK) return ddpm_error_prefix("%s", path);
    const int scale = gw >= 320 ? 2 : 1;
    const int ch = caption_height(caption, gw, scale);
    uint8_t *pic = ddpm_alloc((size_t)(gh + ch) * gw * C);
    if (!pic) return ddpm_error_prefix("%s", path);
    int rc = images_tile(pic, images, N, H, W, C, cols, pad);
    if (rc == DDPM_OK && ch) rc = caption_render(pic + (size_t)gh * gw * C, caption, scale, ch, gw, C);
    if (rc == DDPM_OK) rc = png_write(path, pic, gh + ch, gw, C);
    else ddpm_error_prefix("%s", path);
    ddpm_free(pic);
    return rc;
}
