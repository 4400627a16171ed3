#include "nn/gemm.h"

#include <omp.h>
#include <stddef.h>
#include <stdlib.h>

void nn_blas_single_thread(void) { openblas_set_num_threads(1); }

/* Runs before main: the layers never see a multi-threaded OpenBLAS. */
__attribute__((constructor)) static void gemm_init(void) { nn_blas_single_thread(); }

/* Below this many multiply-adds a product is not split. */
#define GEMM_SPLIT_MIN_FLOPS (1u << 21)
/* A split dimension is cut into about this many blocks (enough to balance up to 16 threads). */
#define GEMM_BLOCKS 16
/* Block edges are multiples of the GEMM kernels' register tiles. */
#define GEMM_ALIGN 16

/* A product with a small C and a long reduction (a weight gradient: C is k*k*Cin x Cout, the
 * reduction runs over every pixel of the batch) is split along the reduction instead: cutting C
 * would make every block re-pack the whole long operand. */
#define GEMM_RSPLIT_MAX_C (1 << 16)
#define GEMM_RSPLIT_MIN_K (1 << 14)

/* Per-thread scratch for the reduction split's partial products, grown on demand and kept. */
static _Thread_local float *rsplit_ws;
static _Thread_local size_t rsplit_cap;

static float *rsplit_scratch(size_t n)
{
    if (n > rsplit_cap) {
        free(rsplit_ws);
        rsplit_ws = malloc(n * sizeof(float));
        rsplit_cap = rsplit_ws ? n : 0;
    }
    return rsplit_ws;
}

/* C = alpha sum_r op(A)[:, r-th K block] op(B)[r-th K block, :] + beta C, the partial products
 * summed in block order. Returns 0 when no scratch memory was available (caller falls back). */
static int gemm_reduction_split(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
                                const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    int per = (K + GEMM_BLOCKS - 1) / GEMM_BLOCKS;
    per = (per + GEMM_ALIGN - 1) / GEMM_ALIGN * GEMM_ALIGN;
    const int nblk = (K + per - 1) / per;
    const size_t mn = (size_t)M * N;
    float *P = rsplit_scratch((size_t)nblk * mn);
    if (!P) return 0;
#pragma omp parallel for if (!omp_in_parallel()) schedule(static)
    for (int r = 0; r < nblk; r++) {
        const int k0 = r * per, kn = K - k0 < per ? K - k0 : per;
        const float *a = ta == CblasNoTrans ? A + k0 : A + (size_t)k0 * lda;
        const float *b = tb == CblasNoTrans ? B + (size_t)k0 * ldb : B + k0;
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, kn, 1.0f, a, lda, b, ldb, 0.0f, P + (size_t)r * mn, N);
    }
#pragma omp parallel for if (!omp_in_parallel() && mn >= 4096) schedule(static)
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = P[(size_t)i * N + j];
            for (int r = 1; r < nblk; r++) s += P[(size_t)r * mn + (size_t)i * N + j];
            float *c = C + (size_t)i * ldc + j;
            *c = beta == 0.0f ? alpha * s : alpha * s + beta * *c;
        }
    return 1;
}

void nn_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if ((size_t)M * N <= GEMM_RSPLIT_MAX_C && K >= GEMM_RSPLIT_MIN_K &&
        gemm_reduction_split(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
        return;
    /* The blocks depend on the shape only: OpenBLAS's rounding depends on the shape of each
     * call, so the same blocks give the same bits whichever thread computes them. */
    const int split_m = M >= N;
    const int D = split_m ? M : N;
    int per = (D + GEMM_BLOCKS - 1) / GEMM_BLOCKS;
    per = (per + GEMM_ALIGN - 1) / GEMM_ALIGN * GEMM_ALIGN;
    if (per < 2 * GEMM_ALIGN) per = 2 * GEMM_ALIGN;
    if ((double)M * N * K < GEMM_SPLIT_MIN_FLOPS || D <= per) {
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const int nblk = (D + per - 1) / per;
#pragma omp parallel for if (!omp_in_parallel()) schedule(static)
    for (int i = 0; i < nblk; i++) {
        const int s = i * per, n = D - s < per ? D - s : per;
        if (split_m) {
            /* rows s..s+n of op(A) and of C */
            const float *a = ta == CblasNoTrans ? A + (size_t)s * lda : A + s;
            cblas_sgemm(CblasRowMajor, ta, tb, n, N, K, alpha, a, lda, B, ldb, beta, C + (size_t)s * ldc, ldc);
        } else {
            /* columns s..s+n of op(B) and of C */
            const float *b = tb == CblasNoTrans ? B + s : B + (size_t)s * ldb;
            cblas_sgemm(CblasRowMajor, ta, tb, M, n, K, alpha, A, lda, b, ldb, beta, C + s, ldc);
        }
    }
}
