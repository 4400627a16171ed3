/* rng.h — counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
 *
 * Every random number is a pure function of (seed, purpose, step, index, j): j is the element
 * within a stream. Results therefore do not depend on thread count, batch splitting or the
 * order in which streams are drawn. Counter layout: c0 = j/4, c1 = index, c2 = step,
 * c3 = purpose; key = seed (low, high 32 bits). */
#ifndef DDPM_RNG_H
#define DDPM_RNG_H

#include <stddef.h>
#include <stdint.h>

/* Purposes: one per consumer so streams never collide. Dropout layers use
 * RNG_DROPOUT + layer index. */
enum {
    RNG_INIT = 1,      /* parameter initialisation: index = parameter number */
    RNG_TIMESTEP = 2,  /* training t ~ U{0..T-1}: index = example */
    RNG_NOISE = 3,     /* training eps: index = example */
    RNG_FLIP = 4,      /* random horizontal flip: index = example */
    RNG_SHUFFLE = 5,   /* data order: step = epoch */
    RNG_SAMPLE_XT = 6, /* x_T for sampling: index = sample */
    RNG_SAMPLE_Z = 7,  /* per-step sampling noise: step = t, index = sample */
    RNG_BPD_NOISE = 8, /* q_sample noise in the bpd loop: step = t, index = example */
    RNG_EVAL = 9,      /* miscellaneous evaluation draws */
    RNG_DROPOUT = 1024 /* + layer index */
};

typedef struct {
    uint64_t seed;
    uint32_t purpose;
    uint32_t step;
    uint32_t index;
} rng_stream;

static inline rng_stream rng_stream_make(uint64_t seed, uint32_t purpose, uint32_t step, uint32_t index)
{
    rng_stream s = { seed, purpose, step, index };
    return s;
}

/* The raw Philox4x32-10 bijection. */
void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

uint32_t rng_u32(rng_stream s, uint64_t j);
/* Uniform in the open interval (0, 1), 24-bit resolution, element j of the stream. */
float rng_uniform(rng_stream s, uint64_t j);
/* out[j] = element j of the stream, j = 0..n-1. */
void rng_uniform_fill(rng_stream s, float *out, size_t n);
/* Standard normals by Box–Muller in double on pairs of 32-bit uniforms. */
void rng_normal_fill(rng_stream s, float *out, size_t n);
void rng_normal_fill_f64(rng_stream s, double *out, size_t n);
/* Uniform integer in [0, n) (Lemire's multiply-shift; bias < n/2^32). */
uint32_t rng_below(rng_stream s, uint64_t j, uint32_t n);

#endif
