/* snappy.c — Snappy raw-format decoder (format notes in snappy.h). */
#include "io/snappy.h"

#include "core/common.h"

#include <stdint.h>
#include <string.h>

/* varint32 at in[*pos..n): at most 5 bytes, value < 2^32. */
static int read_varint32(const uint8_t *in, size_t n, size_t *pos, uint32_t *v)
{
    uint64_t x = 0;
    for (int k = 0; k < 5; k++) {
        if (*pos >= n) return ddpm_error("snappy: stream ends inside the length varint");
        uint8_t b = in[(*pos)++];
        x |= (uint64_t)(b & 0x7f) << (7 * k);
        if (!(b & 0x80)) {
            if (x > UINT32_MAX) return ddpm_error("snappy: length varint exceeds 32 bits");
            *v = (uint32_t)x;
            return DDPM_OK;
        }
    }
    return ddpm_error("snappy: length varint longer than 5 bytes");
}

int snappy_uncompressed_length(const void *in, size_t n, size_t *len)
{
    size_t pos = 0;
    uint32_t v;
    DDPM_TRY(read_varint32(in, n, &pos, &v));
    /* the densest element is a 3-byte copy of 64 bytes */
    if ((uint64_t)v > (uint64_t)(n - pos) / 3 * 64 + 64)
        return ddpm_error("snappy: declares %u bytes, more than %zu compressed bytes can hold", v, n);
    *len = v;
    return DDPM_OK;
}

int snappy_decompress(const void *in_, size_t n, void *out_, size_t out_len)
{
    const uint8_t *in = in_;
    uint8_t *out = out_;
    size_t pos = 0, op = 0;
    uint32_t declared;
    DDPM_TRY(read_varint32(in, n, &pos, &declared));
    if (declared != out_len) return ddpm_error("snappy: stream declares %u bytes, buffer holds %zu", declared, out_len);
    while (pos < n) {
        size_t tag_at = pos;
        uint8_t tag = in[pos++];
        size_t len, off;
        switch (tag & 3) {
        case 0: { /* literal: length-1 in the tag's upper 6 bits, or 60..63 = 1..4 length bytes */
            len = tag >> 2;
            if (len >= 60) {
                size_t nb = len - 59;
                if (n - pos < nb) return ddpm_error("snappy: literal length at byte %zu runs past the stream", tag_at);
                len = 0;
                for (size_t k = 0; k < nb; k++) len |= (size_t)in[pos + k] << (8 * k);
                pos += nb;
            }
            len += 1;
            if (len > n - pos)
                return ddpm_error("snappy: literal of %zu bytes at byte %zu runs past the stream", len, tag_at);
            if (len > out_len - op)
                return ddpm_error("snappy: literal at byte %zu overflows the declared %zu bytes", tag_at, out_len);
            memcpy(out + op, in + pos, len);
            pos += len;
            op += len;
            continue;
        }
        case 1: /* copy, 1-byte offset: length 4..11, 11-bit offset */
            if (n - pos < 1) return ddpm_error("snappy: copy at byte %zu runs past the stream", tag_at);
            len = 4 + ((tag >> 2) & 7);
            off = ((size_t)(tag >> 5) << 8) | in[pos];
            pos += 1;
            break;
        case 2: /* copy, 2-byte offset: length 1..64 */
            if (n - pos < 2) return ddpm_error("snappy: copy at byte %zu runs past the stream", tag_at);
            len = 1 + (tag >> 2);
            off = (size_t)in[pos] | (size_t)in[pos + 1] << 8;
            pos += 2;
            break;
        default: /* copy, 4-byte offset */
            if (n - pos < 4) return ddpm_error("snappy: copy at byte %zu runs past the stream", tag_at);
            len = 1 + (tag >> 2);
            off = (size_t)in[pos] | (size_t)in[pos + 1] << 8 | (size_t)in[pos + 2] << 16 | (size_t)in[pos + 3] << 24;
            pos += 4;
            break;
        }
        if (off == 0 || off > op)
            return ddpm_error("snappy: copy at byte %zu has offset %zu with %zu bytes decoded", tag_at, off, op);
        if (len > out_len - op)
            return ddpm_error("snappy: copy at byte %zu overflows the declared %zu bytes", tag_at, out_len);
        /* byte by byte: an offset shorter than the length repeats the bytes being written */
        for (size_t k = 0; k < len; k++) out[op + k] = out[op + k - off];
        op += len;
    }
    if (op != out_len) return ddpm_error("snappy: stream ends after %zu of the declared %zu bytes", op, out_len);
    return DDPM_OK;
}
