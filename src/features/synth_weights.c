#include "features/synth_weights.h"

uint64_t synth_fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t synth_splitmix64(uint64_t x)
{
    uint64_t z = x + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void synth_fill(float *out, size_t n, const char *name, uint64_t seed, double offset, double scale)
{
    const uint64_t key = synth_fnv1a64(name) ^ synth_splitmix64(seed);
    for (size_t i = 0; i < n; i++) {
        double u = ((double)(synth_splitmix64(key + i) >> 40) + 0.5) / 16777216.0;
        double s = 2.0 * u - 1.0;
        out[i] = (float)(offset + scale * s);
    }
}
