/* dropout.h — inverted dropout with masks from the counter RNG (tf.nn.dropout semantics).
 *
 * Element j of example b in dropout layer `layer` is kept iff
 *     rng_uniform(rng_stream_make(seed, RNG_DROPOUT + layer, step, b), j) >= p,
 * and kept values are scaled by 1/(1-p). The mask is therefore a pure function of
 * (seed, layer, step, b, j): independent of thread count and batch composition. */
#ifndef DDPM_NN_DROPOUT_H
#define DDPM_NN_DROPOUT_H

#include <stddef.h>
#include <stdint.h>

/* inp, out: (B, n) with n = H*W*C per example; mask: (B, n) 1 = kept. out must not alias inp
 * (out is used as scratch for the uniforms). 0 <= p < 1. */
void dropout_forward(float *out, uint8_t *mask, const float *inp, double p, uint64_t seed, int layer, uint32_t step,
                     int B, size_t n);
/* As dropout_forward for examples first .. first+B-1 of the step's batch: row b uses stream
 * index first + b (a block of the batch draws the masks the whole batch would). */
void dropout_forward_at(float *out, uint8_t *mask, const float *inp, double p, uint64_t seed, int layer, uint32_t step,
                        uint32_t first, int B, size_t n);
/* dinp (B, n) += mask * dout / (1-p). */
void dropout_backward(float *dinp, const float *dout, const uint8_t *mask, double p, int B, size_t n);

#endif
