/* grad_blocks.h — the forward/backward of one training step cut into grad_blocks fixed blocks
 * (config key grad_blocks = M > 1; issue 16).
 *
 * Block m holds examples [m b, (m+1) b) of the batch, b = batch_size / M. Each block is a
 * separate forward and backward of b examples, with the global example index for every
 * per-example draw (timesteps and noise are drawn by the caller for the whole batch; dropout
 * through unet_forward_at) and the loss gradient scaled by 1/batch_size. Block gradients are
 * combined in the canonical dyadic tree order of dist/blocktree.h. Under MPI rank r computes only
 * its blocks (blocktree_rank_range) and dist_tree_allreduce_blocks finishes the tree; the
 * per-example losses are gathered to every rank. The gradient and losses are the same bits for
 * every rank count 1..M and every thread count. */
#ifndef DDPM_TRAIN_GRAD_BLOCKS_H
#define DDPM_TRAIN_GRAD_BLOCKS_H

#include "core/config.h"
#include "diffusion/diffusion.h"
#include "dist/blocktree.h"
#include "model/unet.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int M, block, first, end; /* blocks per batch, examples per block, this rank's blocks */
    blocktree_fold fold;
    float *grad; /* [n] the batch gradient after grad_blocks_step */
    size_t n;
    size_t *loss_bytes; /* per rank: bytes of per-example losses it computes */
} grad_blocks;

/* Checks batch_size % M == 0 and M >= the rank count; n = parameter count. */
int grad_blocks_init(grad_blocks *g, const ddpm_config *cfg, size_t n);
void grad_blocks_free(grad_blocks *g);
/* The examples per forward: batch_size / grad_blocks (the U-Net's max_batch). */
int grad_blocks_block_size(const ddpm_config *cfg);

/* x0, xt, noise (B,H,W,C) and t (B) for the whole batch; out, dout (B,H,W,Cout) scratch. Writes
 * loss (B) on every rank and g->grad. Leaves unet_grads(net) holding the last block's. */
int grad_blocks_step(grad_blocks *g, unet *net, const diffusion *d, const ddpm_config *cfg, uint32_t step,
                     const float *x0, const float *xt, const float *noise, const int32_t *t, float *out, float *dout,
                     double *loss);

#endif
