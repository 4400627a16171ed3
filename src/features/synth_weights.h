/* synth_weights.h — deterministic stand-in weights, generated from a tensor's name alone, so
 * that the C port and a Python reference (scripts/gen_inception_reference.py) build bit-identical
 * networks without shipping 95 MB of parameters.
 *
 *   key  = fnv1a64(name) XOR splitmix64(seed)
 *   u_i  = ((splitmix64(key + i) >> 40) + 0.5) / 2^24       i = 0, 1, ...   (0 < u_i < 1)
 *   s_i  = 2 u_i - 1                                         exact in double
 *   value_i = float32(round-to-nearest(offset + scale * s_i))
 * fnv1a64: h = 0xcbf29ce484222325; per byte h = (h ^ byte) * 0x100000001b3 (mod 2^64).
 * splitmix64(x): z = x + 0x9e3779b97f4a7c15; z = (z ^ z>>30) * 0xbf58476d1ce4e5b9;
 *                z = (z ^ z>>27) * 0x94d049bb133111eb; return z ^ z>>31   (all mod 2^64).
 * Every step is an exact integer operation or one correctly rounded IEEE double operation,
 * so any language reproduces the same float32 bits. */
#ifndef DDPM_SYNTH_WEIGHTS_H
#define DDPM_SYNTH_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

uint64_t synth_fnv1a64(const char *s);
uint64_t synth_splitmix64(uint64_t x);
/* out[i] = float32(offset + scale * s_i), i = 0..n-1, for the tensor called name. */
void synth_fill(float *out, size_t n, const char *name, uint64_t seed, double offset, double scale);

#endif
