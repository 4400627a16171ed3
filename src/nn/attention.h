/* attention.h — the core of the official attn_block: for each example, over all N = H*W
 * positions,
 *     w = softmax_rows(q k^T * C^-0.5)     (N queries x N keys)
 *     out = w v
 * The surrounding GroupNorm, the q/k/v/proj_out nin layers (dense.h over B*N rows) and the
 * residual add are composed by the model.
 *
 * Per example: two cblas_sgemm calls forward, four backward; the softmax normaliser is summed in
 * double. Backward ADDS into dq, dk, dv; `scratch` holds N*N floats. */
#ifndef DDPM_NN_ATTENTION_H
#define DDPM_NN_ATTENTION_H

/* out (B, N, C); w (B, N, N) probabilities, kept for the backward; q, k, v (B, N, C). */
void attention_forward(float *out, float *w, const float *q, const float *k, const float *v, int B, int N, int C);
/* dq, dk, dv (B, N, C) += gradients given dout (B, N, C); scratch (N, N). */
void attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout, const float *q,
                        const float *k, const float *v, const float *w, int B, int N, int C);

#endif
