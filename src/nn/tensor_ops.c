#include "nn/tensor_ops.h"

#include "nn/parallel.h"

#include <string.h>

void add_inplace(float *y, const float *x, size_t n)
{
#pragma omp parallel for if (NN_PAR_IF(n)) schedule(static)
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

void concat_channels_forward(float *out, const float *a, const float *b, size_t rows, int C1, int C2)
{
    const size_t C = (size_t)C1 + (size_t)C2;
#pragma omp parallel for if (NN_PAR_IF(rows * C)) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        memcpy(out + r * C, a + r * (size_t)C1, (size_t)C1 * sizeof(float));
        memcpy(out + r * C + C1, b + r * (size_t)C2, (size_t)C2 * sizeof(float));
    }
}

void concat_channels_backward(float *da, float *db, const float *dout, size_t rows, int C1, int C2)
{
    const size_t C = (size_t)C1 + (size_t)C2;
#pragma omp parallel for if (NN_PAR_IF(rows * C)) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const float *d = dout + r * C;
        float *pa = da + r * (size_t)C1, *pb = db + r * (size_t)C2;
        for (int c = 0; c < C1; c++) pa[c] += d[c];
        for (int c = 0; c < C2; c++) pb[c] += d[C1 + c];
    }
}

/* Channels in blocks of 16 (one cache line of floats): each thread owns whole blocks and sums
 * its rows in order, so the result is independent of the thread count. */
#define COLSUM_BLOCK 16

void colsum_add(float *db, const float *dout, size_t rows, int C)
{
    const int nblk = (C + COLSUM_BLOCK - 1) / COLSUM_BLOCK;
#pragma omp parallel for if (NN_PAR_IF(rows * (size_t)C)) schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        const int c0 = blk * COLSUM_BLOCK;
        const int nc = C - c0 < COLSUM_BLOCK ? C - c0 : COLSUM_BLOCK;
        double acc[COLSUM_BLOCK] = { 0 };
        for (size_t r = 0; r < rows; r++) {
            const float *d = dout + r * (size_t)C + c0;
#pragma omp simd
            for (int c = 0; c < nc; c++) acc[c] += (double)d[c];
        }
        for (int c = 0; c < nc; c++) db[c0 + c] += (float)acc[c];
    }
}

void add_broadcast_bnc(float *h, const float *v, int B, int N, int C)
{
#pragma omp parallel for if (NN_PAR_IF((size_t)B * N * C)) collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++) {
            float *p = h + ((size_t)b * N + n) * C;
            const float *q = v + (size_t)b * C;
            for (int c = 0; c < C; c++) p[c] += q[c];
        }
}

void add_broadcast_bnc_backward(float *dv, const float *dh, int B, int N, int C)
{
    for (int b = 0; b < B; b++) colsum_add(dv + (size_t)b * C, dh + (size_t)b * N * C, (size_t)N, C);
}
