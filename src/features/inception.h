/* inception.h — the FID Inception-v3 network (pytorch-fid's fid_inception_v3), forward only.
 *
 * Architecture: torchvision's Inception3 stem and Mixed_6a/Mixed_7a, pytorch-fid's patched
 * FIDInceptionA (Mixed_5b-d), FIDInceptionC (Mixed_6b-e), FIDInceptionE_1 (Mixed_7b) and
 * FIDInceptionE_2 (Mixed_7c): their 3x3 average pools exclude padding (TensorFlow semantics)
 * and Mixed_7c's pool branch is a 3x3 max pool. Every BasicConv2d is conv (no bias) +
 * BatchNorm(eps 1e-3, running statistics) + ReLU; BatchNorm is folded into the convolution at
 * load time (in double, rounded once to float32).
 *
 * Input: uint8 images (N, H, W, C), C = 3 (RGB) or 1 (replicated to RGB), any H, W.
 * Pipeline (pytorch-fid): x/255 -> bilinear resize to 299x299 (F.interpolate, align_corners=
 * False) -> 2x - 1 -> network. Tensors are NHWC internally; convolutions are im2col + sgemm.
 * Outputs: pool3 (N, 2048), the global average pool of Mixed_7c (the FID features), and
 * logits (N, 1008) = pool3 . fc.weight^T WITHOUT fc.bias. The bias-free logits are what the
 * original Inception Score code (Salimans et al. 2016, which takes the MatMul before the bias
 * add) and torch-fidelity's default IS feature ("logits_unbiased") use; inception_score() takes
 * these. inception_fc_bias() returns the bias for callers who want biased logits.
 *
 * The network object holds its workspace: one forward at a time per object (not reentrant).
 * Work is parallel over images: each OpenMP thread runs whole images with single-threaded BLAS
 * (about 31 MB of workspace per thread), so features are bit-identical whatever the thread
 * count, N or the order of images. While inception_forward runs, OpenBLAS is set to one thread
 * (process-wide) and restored afterwards: do not run other BLAS work concurrently. */
#ifndef DDPM_INCEPTION_H
#define DDPM_INCEPTION_H

#include <stdint.h>

#define INCEPTION_SIZE         299
#define INCEPTION_POOL3        2048
#define INCEPTION_CLASSES      1008
#define INCEPTION_WEIGHTS_FILE "pt_inception-2015-12-05-6726825d.pth"

typedef struct inception_net inception_net;

/* Loads pytorch-fid's state_dict (pt_inception-2015-12-05-6726825d.pth, or any .pth with the
 * same keys/shapes; float32 required). Keys: <layer>.conv.weight, <layer>.bn.{weight,bias,
 * running_mean,running_var}, fc.weight, fc.bias; others (num_batches_tracked) are ignored. */
int inception_load_pth(inception_net **out, const char *pth_path);

/* Deterministic synthetic weights for tests (see synth_weights.h), per state_dict name:
 *   conv.weight  U(-1,1) * sqrt(6 / fan_in)      (He-uniform: ReLU activations stay O(1))
 *   bn.weight    1 + 0.2 U(-1,1)      bn.bias 0.1 U(-1,1)
 *   bn.running_mean 0.1 U(-1,1)       bn.running_var 1 + 0.5 U(-1,1)   (in [0.5, 1.5])
 *   fc.weight    U(-1,1) * sqrt(3 / 2048)        fc.bias 0.1 U(-1,1) */
int inception_init_synthetic(inception_net **out, uint64_t seed);

void inception_free(inception_net *net);

/* Worker threads (0, the default: omp_get_max_threads(), i.e. OMP_NUM_THREADS). */
void inception_set_threads(inception_net *net, int threads);
/* Called after every image with (images done, N), serialized. */
void inception_set_progress(inception_net *net, void (*fn)(void *user, int done, int total), void *user);

/* pool3:  (N, 2048) out
 * logits: (N, 1008) out, bias-free (see above); may be NULL
 * images: (N, H, W, C) uint8, C = 1 or 3 */
int inception_forward(inception_net *net, float *pool3, float *logits, const uint8_t *images, int N, int H, int W,
                      int C);

/* fc.bias (1008), for callers who want logits + bias. */
const float *inception_fc_bias(const inception_net *net);

/* The preprocessing alone: out (N, 299, 299, 3) = 2 * resize(images / 255) - 1;
 * tmp: (N, H, W, 3) workspace. */
void inception_preprocess(float *out, float *tmp, const uint8_t *images, int N, int H, int W, int C);

#endif
