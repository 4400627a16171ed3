/* gemm.h — the one matrix multiply of the layers: row-major C = alpha op(A) op(B) + beta C.
 *
 * Threading: OpenMP is the project's only thread pool. OpenBLAS is set to one thread when the
 * library loads (a second pool of spinning pthreads halves throughput when it competes with
 * OpenMP's, and its rounding depends on its thread count). nn_sgemm cuts the larger of C's two
 * dimensions into about 16 blocks whose edges depend on the shape alone, and the OpenMP threads
 * share the blocks, each multiplied by single-threaded OpenBLAS. Since every block is the same
 * call whichever thread runs it, results are bit-identical for 1, 2 or N threads (tested).
 * A product with a small C (<= 65536 elements) and a long reduction (K >= 16384: weight
 * gradients) is cut along K instead; the partial products go to a per-thread scratch buffer
 * (grown on demand, kept for the process's life) and are summed in block order.
 * Inside a parallel region the blocks run on the calling thread; small products are one call.
 * OMP_NUM_THREADS sets the thread count; OPENBLAS_NUM_THREADS has no effect. */
#ifndef DDPM_NN_GEMM_H
#define DDPM_NN_GEMM_H

#include <cblas.h>

/* op(A) is M x K, op(B) is K x N, C is M x N (leading dimensions as in cblas_sgemm). */
void nn_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* Sets OpenBLAS to one thread (idempotent; also done automatically at load time). */
void nn_blas_single_thread(void);

#endif
