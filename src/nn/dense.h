/* dense.h — the affine layer of the official nn.dense and nn.nin: out = inp W + b with W in
 * TF layout [Cin, Cout]. A "nin" (network-in-network, 1x1 convolution) on an NHWC activation is
 * the same GEMM over N = B*H*W rows.
 *
 * One cblas_sgemm per call. Backward ADDS into dinp (skipped when NULL), dW and db; the bias
 * gradient is a column sum in double. */
#ifndef DDPM_NN_DENSE_H
#define DDPM_NN_DENSE_H

/* out (N, Cout) = inp (N, Cin) W (Cin, Cout) + b (Cout). */
void dense_forward(float *out, const float *inp, const float *W, const float *b, int N, int Cin, int Cout);
/* out (N, Cout) += inp W + b  (residual branches add into an existing tensor). */
void dense_forward_accumulate(float *out, const float *inp, const float *W, const float *b, int N, int Cin, int Cout);
/* dinp (N, Cin) += dout W^T (when dinp != NULL); dW (Cin, Cout) += inp^T dout; db (Cout) += sum dout. */
void dense_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp, const float *W, int N,
                    int Cin, int Cout);

#endif
