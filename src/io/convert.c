/* convert.c — element conversions of io/convert.h. */
#include "io/convert.h"

#include <string.h>

static uint64_t rd_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--) v = (v << 8) | p[k];
    return v;
}

float io_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023u, bits;
    if (e == 0) {
        if (m == 0) bits = sign;
        else { /* subnormal: renormalize */ e = 113;
            while (!(m & 1024u)) {
                m <<= 1;
                e--;
            }
            bits = sign | (e << 23) | ((m & 1023u) << 13);
        }
    } else if (e == 31) bits = sign | 0x7F800000u | (m << 13);
    else bits = sign | ((e + 112) << 23) | (m << 13);
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

double io_elem_f64(io_dtype t, const uint8_t *p)
{
    switch (t) {
    case IO_F32: {
        float x;
        memcpy(&x, p, 4);
        return (double)x;
    }
    case IO_F64: {
        double x;
        memcpy(&x, p, 8);
        return x;
    }
    case IO_F16: return (double)io_half_to_float((uint16_t)rd_le(p, 2));
    case IO_BF16: {
        uint32_t b = (uint32_t)rd_le(p, 2) << 16;
        float x;
        memcpy(&x, &b, 4);
        return (double)x;
    }
    default: return (double)io_elem_i64(t, p); /* the integer types (and 0 for an unknown one) */
    }
}

int64_t io_elem_i64(io_dtype t, const uint8_t *p)
{
    switch (t) {
    case IO_I64: {
        int64_t x;
        memcpy(&x, p, 8);
        return x;
    }
    case IO_I32: {
        int32_t x;
        memcpy(&x, p, 4);
        return x;
    }
    case IO_I16: {
        int16_t x;
        memcpy(&x, p, 2);
        return x;
    }
    case IO_I8: return (int8_t)p[0];
    case IO_U8: return p[0];
    case IO_BOOL: return p[0] != 0;
    default: return 0;
    }
}

int io_is_float(io_dtype t) { return t == IO_F32 || t == IO_F64 || t == IO_F16 || t == IO_BF16; }

void io_to_f32(float *dst, const uint8_t *src, io_dtype t, size_t n)
{
    size_t es = io_dtype_size(t);
    if (t == IO_F32) {
        memcpy(dst, src, n * 4);
        return;
    }
    for (size_t i = 0; i < n; i++) dst[i] = (float)io_elem_f64(t, src + i * es);
}

void io_to_f64(double *dst, const uint8_t *src, io_dtype t, size_t n)
{
    size_t es = io_dtype_size(t);
    for (size_t i = 0; i < n; i++) dst[i] = io_elem_f64(t, src + i * es);
}
