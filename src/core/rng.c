#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

static inline void block(rng_stream s, uint64_t blk, uint32_t out[4])
{
    uint32_t ctr[4] = { (uint32_t)blk, s.index, s.step, s.purpose };
    uint32_t key[2] = { (uint32_t)s.seed, (uint32_t)(s.seed >> 32) };
    /* Streams longer than 2^34 elements would wrap c0; fold the high part into the key. */
    key[1] ^= (uint32_t)(blk >> 32);
    philox4x32_10(ctr, key, out);
}

uint32_t rng_u32(rng_stream s, uint64_t j)
{
    uint32_t o[4];
    block(s, j >> 2, o);
    return o[j & 3];
}

static inline float u24(uint32_t x) { return ((float)(x >> 8) + 0.5f) * (1.0f / 16777216.0f); }
static inline double u32d(uint32_t x) { return ((double)x + 0.5) * (1.0 / 4294967296.0); }

float rng_uniform(rng_stream s, uint64_t j) { return u24(rng_u32(s, j)); }

void rng_uniform_fill(rng_stream s, float *out, size_t n)
{
    uint32_t o[4];
    for (size_t j = 0; j < n; j += 4) {
        block(s, j >> 2, o);
        for (size_t k = 0; k < 4 && j + k < n; k++) out[j + k] = u24(o[k]);
    }
}

/* Block b yields normals 4b..4b+3 from two Box–Muller pairs. */
static inline void normals4(rng_stream s, uint64_t b, double z[4])
{
    uint32_t o[4];
    block(s, b, o);
    const double two_pi = 6.283185307179586476925286766559;
    for (int p = 0; p < 2; p++) {
        double r = sqrt(-2.0 * log(u32d(o[2 * p])));
        double th = two_pi * u32d(o[2 * p + 1]);
        z[2 * p] = r * cos(th);
        z[2 * p + 1] = r * sin(th);
    }
}

void rng_normal_fill(rng_stream s, float *out, size_t n)
{
    double z[4];
    for (size_t j = 0; j < n; j += 4) {
        normals4(s, j >> 2, z);
        for (size_t k = 0; k < 4 && j + k < n; k++) out[j + k] = (float)z[k];
    }
}

void rng_normal_fill_f64(rng_stream s, double *out, size_t n)
{
    double z[4];
    for (size_t j = 0; j < n; j += 4) {
        normals4(s, j >> 2, z);
        for (size_t k = 0; k < 4 && j + k < n; k++) out[j + k] = z[k];
    }
}

uint32_t rng_below(rng_stream s, uint64_t j, uint32_t n) { return (uint32_t)(((uint64_t)rng_u32(s, j) * n) >> 32); }
