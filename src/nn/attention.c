#include "nn/attention.h"

#include "nn/expf_simd.h"
#include "nn/gemm.h"
#include "nn/parallel.h"

#include <math.h>
#include <stddef.h>

static void softmax_rows(float *w, int N)
{
#pragma omp parallel for if (NN_PAR_IF((size_t)N * N)) schedule(static)
    for (int i = 0; i < N; i++) {
        float *r = w + (size_t)i * N;
        float mx = r[0];
        for (int j = 1; j < N; j++) mx = r[j] > mx ? r[j] : mx;
#pragma omp simd
        for (int j = 0; j < N; j++) r[j] = nn_expf(r[j] - mx);
        double s = 0.0;
        for (int j = 0; j < N; j++) s += (double)r[j];
        const float inv = (float)(1.0 / s);
        for (int j = 0; j < N; j++) r[j] *= inv;
    }
}

void attention_forward(float *out, float *w, const float *q, const float *k, const float *v, int B, int N, int C)
{
    const float scale = (float)(1.0 / sqrt((double)C));
    /* One example per thread (the products and softmax inside then run on that thread). */
#pragma omp parallel for if (B > 1 && NN_PAR_IF((size_t)B * N * N)) schedule(static)
    for (int b = 0; b < B; b++) {
        const size_t o = (size_t)b * N * C;
        float *wb = w + (size_t)b * N * N;
        /* logits (N, N) = q_b k_b^T * C^-0.5 */
        nn_sgemm(CblasNoTrans, CblasTrans, N, N, C, scale, q + o, C, k + o, C, 0.0f, wb, N);
        softmax_rows(wb, N);
        nn_sgemm(CblasNoTrans, CblasNoTrans, N, C, N, 1.0f, wb, N, v + o, C, 0.0f, out + o, C);
    }
}

void attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout, const float *q,
                        const float *k, const float *v, const float *w, int B, int N, int C)
{
    const float scale = (float)(1.0 / sqrt((double)C));
    for (int b = 0; b < B; b++) {
        const size_t o = (size_t)b * N * C;
        const float *wb = w + (size_t)b * N * N;
        /* dv += w^T dout */
        nn_sgemm(CblasTrans, CblasNoTrans, N, C, N, 1.0f, wb, N, dout + o, C, 1.0f, dv + o, C);
        /* dw = dout v^T */
        nn_sgemm(CblasNoTrans, CblasTrans, N, N, C, 1.0f, dout + o, C, v + o, C, 0.0f, scratch, N);
        /* softmax backward: dlogit_ij = w_ij (dw_ij - sum_j' w_ij' dw_ij') */
#pragma omp parallel for if (NN_PAR_IF((size_t)N * N)) schedule(static)
        for (int i = 0; i < N; i++) {
            float *g = scratch + (size_t)i * N;
            const float *p = wb + (size_t)i * N;
            double s = 0.0;
            for (int j = 0; j < N; j++) s += (double)p[j] * (double)g[j];
            const float sf = (float)s;
            for (int j = 0; j < N; j++) g[j] = p[j] * (g[j] - sf);
        }
        /* dq += scale * dlogit k; dk += scale * dlogit^T q */
        nn_sgemm(CblasNoTrans, CblasNoTrans, N, C, N, scale, scratch, N, k + o, C, 1.0f, dq + o, C);
        nn_sgemm(CblasTrans, CblasNoTrans, N, C, N, scale, scratch, N, q + o, C, 1.0f, dk + o, C);
    }
}
