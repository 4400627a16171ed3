/* timestep_embedding.h — the sinusoidal timestep embedding of the official
 * nn.get_timestep_embedding (tensor2tensor variant):
 *     half = dim/2, freq_i = exp(-log(10000) * i / (half-1)), emb = [sin(t freq), cos(t freq)].
 * Computed in float32 like the official code (the frequencies and the products t*freq are
 * float32), so it matches the TF/PyTorch value to float rounding. No parameters, no backward
 * (timesteps are integers). */
#ifndef DDPM_NN_TIMESTEP_EMBEDDING_H
#define DDPM_NN_TIMESTEP_EMBEDDING_H

#include <stdint.h>

/* out (B, dim), t (B). dim even and >= 4. */
void timestep_embedding(float *out, const int32_t *t, int B, int dim);

#endif
