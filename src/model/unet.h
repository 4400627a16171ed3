/* unet.h — the DDPM U-Net (official diffusion_tf/models/unet.py, "unet2d16b2" at the paper
 * config) with forward and backward on NHWC float32 tensors.
 *
 * Structure: sinusoidal timestep embedding -> temb dense0 (ch->4ch), swish, dense1 (4ch->4ch);
 * conv_in; per level i: num_res_blocks resnet blocks (+ attention when the resolution is in
 * attn_resolutions), downsample except on the last level; mid: block_1, attn_1, block_2; up
 * levels reversed: num_res_blocks+1 blocks on concat[h, skip] (+ attention), upsample except on
 * level 0; norm_out, swish, conv_out. Resnet block: norm1, swish, conv1, + temb_proj(swish(temb)),
 * norm2, swish, dropout, conv2, + (nin_shortcut(x) or x). Attention: norm, q/k/v nin,
 * softmax(q k^T C^-0.5) over all positions, proj_out nin, + x. resamp_with_conv = 0 uses
 * 2x2 average pooling / plain nearest upsampling.
 *
 * Parameters use the official names and TF shapes (DESIGN.md contract 2) and are listed in the
 * official creation order (GroupNorm creates beta before gamma, dense/conv W before b). All
 * parameters live in one contiguous block (each tensor at .offset, TF row-major layout),
 * gradients in a second block of the same layout, activations in one arena sized for
 * max_batch at create time: forward/backward allocate nothing of their own (nn_sgemm's
 * reduction split keeps a per-thread scratch it grows once, nn/gemm.h).
 *
 * Initialisation (unet_init_params) as the official nn.py: weights variance-scaling fan_avg
 * uniform, limit sqrt(3 scale / ((fan_in + fan_out)/2)) with fan = kh*kw*channels, scale 1 or
 * 1e-10 for conv2 of each resnet block, proj_out of attention and conv_out; biases and beta 0,
 * gamma 1. Element j of tensor i (table order) uses rng_uniform(rng_stream_make(seed, RNG_INIT,
 * 0, i), j) mapped to (-limit, limit).
 *
 * Dropout: the resnet blocks are dropout layers 0, 1, 2, ... in creation order (see dropout.h
 * for the mask definition, keyed by (seed, layer, step, example)). */
#ifndef DDPM_MODEL_UNET_H
#define DDPM_MODEL_UNET_H

#include "core/config.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char name[128]; /* official name, e.g. "model/down_0/block_0/conv1/W" */
    int rank;       /* 1, 2 or 4 */
    int shape[4];   /* TF shape */
    size_t offset;  /* in floats, into the contiguous parameter block */
    size_t size;    /* number of floats */
} unet_param;

typedef struct unet unet;

/* Validates the model keys of cfg with config_validate_network (ch, ch_mult, num_res_blocks,
 * attn_resolutions, dropout, image_size, num_groups; dataset -> channels, model_var_type ->
 * output channels) and allocates parameters (zero), gradients (zero) and activations for up to
 * max_batch examples. */
int unet_create(unet **out, const ddpm_config *cfg, int max_batch);

/* Activation memory: one arena, shared by buffers whose lifetimes within a training step do
 * not overlap (a value lives from its producer's forward to its last reader, a gradient from
 * its first writer's backward to its producer's, each op's temporaries for that op only):
 * bit-identical results, and the memory is the largest set alive at one time instead of the
 * sum. Hence the backward consumes the forward's values: one unet_backward per training forward.
 * The res blocks' GroupNorm, swish and dropout outputs (their convolutions' inputs) are kept for
 * the backward, or recomputed there from the block's input, conv1's output, the GroupNorm
 * statistics (kept in double) and the dropout mask — bit-identical results, less activation
 * memory, a few percent slower training. unet_create recomputes when
 * the kept activations, each in a block of its own, would exceed UNET_RECOMPUTE_ABOVE_BYTES
 * (the paper U-Net at batch 128; its peak resident memory: docs/performance.md);
 * unet_create_ex forces it with recompute = 1, forbids it with 0, and decides as unet_create
 * with -1. */
#define UNET_RECOMPUTE_ABOVE_BYTES ((size_t)2 << 30)
int unet_create_ex(unet **out, const ddpm_config *cfg, int max_batch, int recompute);
/* As unet_create_ex; share = 0 gives every buffer its own memory (the layout before sharing:
 * for tests that check sharing changes no bit). */
int unet_create_layout(unet **out, const ddpm_config *cfg, int max_batch, int recompute, int share);
void unet_free(unet *m);

/* Parameter count of the model cfg describes, without allocating the model. */
int unet_count_params(const ddpm_config *cfg, size_t *count);

int unet_num_tensors(const unet *m);
const unet_param *unet_tensor(const unet *m, int i);          /* table order = creation order */
const unet_param *unet_find(const unet *m, const char *name); /* NULL if absent */
size_t unet_num_params(const unet *m);
float *unet_params(unet *m); /* [num_params] */
float *unet_grads(unet *m);  /* [num_params], same layout */
/* The initialisation scale of tensor i: 1 or 1e-10 for weights, 0 for biases/beta/gamma. */
double unet_tensor_init_scale(const unet *m, int i);
void unet_init_params(unet *m, uint64_t seed);
void unet_zero_grads(unet *m);

/* out: (B,H,W,Cout) = the network on x: (B,H,W,Cin) NHWC at t: (B) int32 timesteps. m (the
 * parameters, and the caches it keeps for the backward: a copy of x and the activations) follows
 * the output, as the calling convention puts caches (docs/architecture.md). train=1 applies
 * dropout keyed by (seed, step); train=0 is deterministic and dropout-free.
 * 1 <= B <= max_batch. */
int unet_forward(float *out, unet *m, const float *x, const int32_t *t, int train, uint64_t seed, uint32_t step, int B);
/* As unet_forward for examples first .. first+B-1 of the step's batch: dropout row b draws
 * stream index first + b, so a block of the batch sees the masks the whole batch would. */
int unet_forward_at(float *out, unet *m, const float *x, const int32_t *t, int train, uint64_t seed, uint32_t step,
                    uint32_t first, int B);
/* dout: (B,H,W,Cout) = dL/dout for the batch of the last forward. ADDS dL/dparams into
 * unet_grads(m). */
int unet_backward(unet *m, const float *dout);
/* As unet_backward, and also ADDS dL/dx (B,H,W,Cin) into dx when dx != NULL. */
int unet_backward_input(float *dx, unet *m, const float *dout);

/* Inference plan: transforms the filter of every Winograd convolution once, for the tile each
 * layer uses at max_batch with the filter outside the workspace (F(4x4,3x3) wherever the
 * workspace holds >= 64 of its tiles, so also the 8x8 and 4x4 layers of the paper U-Net), and
 * makes every later unet_forward with train = 0 use it, with GroupNorm + swish in one pass and
 * the timestep projection and identity shortcut added in the output transforms. The plan
 * remembers a fingerprint of the filters it was made from; a forward whose weights changed since
 * (training step, EMA swap, checkpoint load) rebuilds it first, so a stale plan is never used.
 * Such a forward keeps nothing for a backward (unet_backward then fails). Its output differs from
 * the unplanned forward only where the tile differs (F(4,3)'s rounding, tests/test_unet.c); a
 * layer with the same tile gives the same bits. Training forwards (train = 1) never use it.
 * The plan costs unet_inference_plan_bytes (the paper U-Net: about 4x its 3x3 weights). */
int unet_prepare_inference(unet *m);
void unet_release_inference(unet *m);            /* frees the plan; forwards go back to unplanned */
size_t unet_inference_plan_bytes(const unet *m); /* 0 without a plan */

int unet_in_channels(const unet *m);
int unet_out_channels(const unet *m);
int unet_image_size(const unet *m);
int unet_max_batch(const unet *m);
/* Bytes held by the activation arena (for logs and memory planning). */
size_t unet_activation_bytes(const unet *m);
/* FLOPs (2 x multiply-adds) of one example's forward as direct convolution and plain GEMMs would
 * do them (Winograd's savings not subtracted): the bench's GFLOP/s numerator. */
double unet_forward_flops(const unet *m);

#endif
