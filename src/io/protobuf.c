/* protobuf.c — protobuf wire-format field decoder (contract in protobuf.h). */
#include "io/protobuf.h"

#include "core/common.h"

int pb_read_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v)
{
    uint64_t x = 0;
    size_t start = *pos;
    for (int k = 0; k < 10; k++) {
        if (*pos >= n) return ddpm_error("varint at byte %zu runs past the end", start);
        uint8_t b = p[(*pos)++];
        if (k == 9 && b > 1) return ddpm_error("varint at byte %zu exceeds 64 bits", start);
        x |= (uint64_t)(b & 0x7f) << (7 * k);
        if (!(b & 0x80)) {
            *v = x;
            return DDPM_OK;
        }
    }
    return ddpm_error("varint at byte %zu is longer than 10 bytes", start);
}

int pb_next(pb_reader *r, pb_field *f)
{
    if (r->pos >= r->len) return 0;
    size_t at = r->pos;
    uint64_t key;
    if (pb_read_varint(r->base, r->len, &r->pos, &key) != DDPM_OK) return ddpm_error_prefix("protobuf field key");
    if (key >> 3 == 0 || key >> 3 > 0x1fffffff)
        return ddpm_error("protobuf: field number %llu at byte %zu is out of range", (unsigned long long)(key >> 3),
                          at);
    f->number = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    f->u64 = 0;
    f->data = NULL;
    f->len = 0;
    switch (f->wire) {
    case PB_VARINT:
        if (pb_read_varint(r->base, r->len, &r->pos, &f->u64) != DDPM_OK)
            return ddpm_error_prefix("protobuf field %u", f->number);
        return 1;
    case PB_FIXED64:
    case PB_FIXED32: {
        size_t w = f->wire == PB_FIXED64 ? 8 : 4;
        if (r->len - r->pos < w)
            return ddpm_error("protobuf: fixed%zu field %u at byte %zu runs past the end", 8 * w, f->number, at);
        for (size_t k = 0; k < w; k++) f->u64 |= (uint64_t)r->base[r->pos + k] << (8 * k);
        r->pos += w;
        return 1;
    }
    case PB_LEN: {
        uint64_t n;
        if (pb_read_varint(r->base, r->len, &r->pos, &n) != DDPM_OK)
            return ddpm_error_prefix("protobuf field %u length", f->number);
        if (n > r->len - r->pos)
            return ddpm_error("protobuf: field %u at byte %zu declares %llu bytes, %zu remain", f->number, at,
                              (unsigned long long)n, r->len - r->pos);
        f->data = r->base + r->pos;
        f->len = (size_t)n;
        r->pos += (size_t)n;
        return 1;
    }
    default:
        return ddpm_error("protobuf: field %u at byte %zu has wire type %d (%s)", f->number, at, f->wire,
                          f->wire == 3 || f->wire == 4 ? "groups are not supported" : "invalid");
    }
}
