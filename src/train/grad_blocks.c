#include "train/grad_blocks.h"

#include "core/common.h"
#include "dist/dist.h"

#include <string.h>

int grad_blocks_block_size(const ddpm_config *cfg)
{
    return cfg->grad_blocks > 0 ? cfg->batch_size / cfg->grad_blocks : cfg->batch_size;
}

int grad_blocks_init(grad_blocks *g, const ddpm_config *cfg, size_t n)
{
    memset(g, 0, sizeof *g);
    const int M = cfg->grad_blocks, B = cfg->batch_size, P = dist_size(), r = dist_rank();
    if (M < 1 || B % M)
        return ddpm_error("config: batch_size %d is not divisible by grad_blocks = %d; set grad_blocks to a "
                          "divisor of batch_size",
                          B, M);
    if (P > M)
        return ddpm_error("config: grad_blocks = %d is smaller than the %d MPI ranks (each rank needs at least one "
                          "block): use at most %d ranks or set grad_blocks to a multiple of the rank count",
                          M, P, M);
    g->M = M;
    g->block = B / M;
    g->n = n;
    blocktree_rank_range(M, r, P, &g->first, &g->end);
    DDPM_TRY(blocktree_fold_init(&g->fold, M, g->first, g->end, n));
    g->grad = ddpm_alloc(n * sizeof(float));
    g->loss_bytes = ddpm_alloc((size_t)P * sizeof(size_t));
    if (!g->grad || !g->loss_bytes) {
        grad_blocks_free(g);
        return DDPM_ERR;
    }
    for (int q = 0; q < P; q++) {
        int a, b;
        blocktree_rank_range(M, q, P, &a, &b);
        g->loss_bytes[q] = (size_t)(b - a) * (size_t)g->block * sizeof(double);
    }
    return DDPM_OK;
}

void grad_blocks_free(grad_blocks *g)
{
    blocktree_fold_free(&g->fold);
    ddpm_free(g->grad);
    ddpm_free(g->loss_bytes);
    memset(g, 0, sizeof *g);
}

int grad_blocks_step(grad_blocks *g, unet *net, const diffusion *d, const ddpm_config *cfg, uint32_t step,
                     const float *x0, const float *xt, const float *noise, const int32_t *t, float *out, float *dout,
                     double *loss)
{
    const int B = cfg->batch_size, H = cfg->image_size, W = cfg->image_size, b = g->block;
    const int C = config_in_channels(cfg), Cout = config_out_channels(cfg);
    const size_t D = (size_t)H * W * C, Dout = (size_t)H * W * Cout;
    blocktree_fold_reset(&g->fold);
    for (int m = g->first; m < g->end; m++) {
        const size_t e0 = (size_t)m * b; /* global index of the block's first example */
        DDPM_TRY(unet_forward_at(out + e0 * Dout, net, xt + e0 * D, t + e0, 1, cfg->seed, step, (uint32_t)e0, b));
        /* training_losses_block adds its gradient: start from zero */
        memset(dout + e0 * Dout, 0, (size_t)b * Dout * sizeof(float));
        DDPM_TRY(training_losses_block(loss + e0, dout + e0 * Dout, out + e0 * Dout, x0 + e0 * D, xt + e0 * D,
                                       noise + e0 * D, t + e0, d, b, B, H, W, C));
        unet_zero_grads(net);
        DDPM_TRY(unet_backward(net, dout + e0 * Dout));
        DDPM_TRY(blocktree_fold_push(&g->fold, m, unet_grads(net)));
    }
    DDPM_TRY(dist_tree_allreduce_blocks(g->M, (const float *const *)g->fold.buf, g->fold.count, g->n, g->grad));
    /* every rank gets all B losses, in example order (rank r's examples are contiguous) */
    const size_t mine = (size_t)g->first * b;
    DDPM_TRY(dist_allgatherv(loss + mine, loss, g->loss_bytes));
    return DDPM_OK;
}
