#include "nn/gemm.h"

#include <omp.h>
#include <stddef.h>

void nn_blas_single_thread(void) { openblas_set_num_threads(1); }

/* Runs before main: the layers never see a multi-threaded OpenBLAS. */
__attribute__((constructor)) static void gemm_init(void) { nn_blas_single_thread(); }

/* Below this many multiply-adds a product is not split. */
#define GEMM_SPLIT_MIN_FLOPS (1u << 21)
/* A split dimension is cut into about this many blocks (enough to balance up to 16 threads). */
#define GEMM_BLOCKS 16
/* Block edges are multiples of the GEMM kernels' register tiles. */
#define GEMM_ALIGN 16

void nn_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
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
