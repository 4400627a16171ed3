#include "nn/dense.h"

#include "nn/gemm.h"
#include "nn/parallel.h"

#include "nn/tensor_ops.h"

#include <stddef.h>
#include <string.h>

static void add_bias_rows(float *out, const float *b, int N, int Cout)
{
#pragma omp parallel for if (NN_PAR_IF((size_t)N * Cout)) schedule(static)
    for (int r = 0; r < N; r++) {
        float *o = out + (size_t)r * Cout;
        for (int c = 0; c < Cout; c++) o[c] += b[c];
    }
}

void dense_forward(float *out, const float *inp, const float *W, const float *b, int N, int Cin, int Cout)
{
    if (N <= 0) return;
#pragma omp parallel for if (NN_PAR_IF((size_t)N * Cout)) schedule(static)
    for (int r = 0; r < N; r++) {
        float *o = out + (size_t)r * Cout;
        if (b) memcpy(o, b, (size_t)Cout * sizeof(float));
        else memset(o, 0, (size_t)Cout * sizeof(float));
    }
    nn_sgemm(CblasNoTrans, CblasNoTrans, N, Cout, Cin, 1.0f, inp, Cin, W, Cout, 1.0f, out, Cout);
}

void dense_forward_accumulate(float *out, const float *inp, const float *W, const float *b, int N, int Cin, int Cout)
{
    if (N <= 0) return;
    if (b) add_bias_rows(out, b, N, Cout);
    nn_sgemm(CblasNoTrans, CblasNoTrans, N, Cout, Cin, 1.0f, inp, Cin, W, Cout, 1.0f, out, Cout);
}

void dense_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp, const float *W, int N,
                    int Cin, int Cout)
{
    if (N <= 0) return;
    if (dinp) nn_sgemm(CblasNoTrans, CblasTrans, N, Cin, Cout, 1.0f, dout, Cout, W, Cout, 1.0f, dinp, Cin);
    if (dW) nn_sgemm(CblasTrans, CblasNoTrans, Cin, Cout, N, 1.0f, inp, Cin, dout, Cout, 1.0f, dW, Cout);
    if (db) colsum_add(db, dout, (size_t)N, Cout);
}
