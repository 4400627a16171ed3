/* expf_simd.h — exp(x) for float in straight-line code that vectorises under `omp simd`
 * (glibc's expf is a scalar call per element; swish and softmax spent ~6% of a training step
 * in it). Cody–Waite range reduction x = n ln2 + r, |r| <= ln2/2, a degree-6 minimax polynomial
 * for e^r (Cephes' expf coefficients) and 2^n built in the exponent bits. Inputs are clamped
 * to [-87.3, 88.0], so the result is always a finite normal float (e^-87.3 ~ 1.2e-38 stands in
 * for anything smaller, e^88 ~ 1.7e38 for anything larger). Relative error <= 2 ulp over the
 * range (tests/test_nn.c measures it against exp in double). Deterministic: the same input
 * gives the same bits on any thread or vector lane (no FMA contraction: -ffp-contract=off). */
#ifndef DDPM_NN_EXPF_SIMD_H
#define DDPM_NN_EXPF_SIMD_H

#include <stdint.h>

typedef union {
    uint32_t u;
    float f;
} nn_f32_bits; /* named: clang rejects an anonymous one here */

#pragma omp declare simd notinbranch
static inline float nn_expf(float x)
{
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.0f ? 88.0f : x;
    /* n = round(x / ln2) by the 1.5 * 2^23 trick (|x / ln2| < 2^22) */
    const float shifter = 12582912.0f;
    float fn = x * 1.44269504088896341f + shifter;
    fn -= shifter;
    const float r = (x - fn * 0.693359375f) - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float y = p * r * r + r + 1.0f;
    nn_f32_bits s;
    s.u = (uint32_t)((int32_t)fn + 127) << 23;
    return y * s.f;
}

#endif
