/* ddpm bench — U-Net throughput: training steps (forward, backward, clip, Adam, EMA) and
 * forward passes (with the inference plan, as sampling and the NLL run them) on synthetic data,
 * for the mini and paper configs, with each case's direct-convolution-equivalent GFLOP per image
 * and CPU seconds per image, and the machine's sgemm rate in the same run. Speed lives here,
 * never in timed tests. The memory case (paper U-Net, batch 128, two training steps; only with
 * --case) prints the process's peak resident memory. Method: docs/performance.md. */
#include "cli/cli.h"
#include "cli/commands.h"
#include "core/common.h"
#include "core/rng.h"
#include "dist/blocktree.h"
#include "dist/dist.h"
#include "model/unet.h"
#include "nn/gemm.h"
#include "train/optim.h"

#include <omp.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* M > 1: the grad_blocks step (train/grad_blocks.h): M forward/backward passes of B/M examples,
 * block gradients folded in the canonical tree, then clip, Adam and EMA on the result. */
static int bench_case(const char *name, const ddpm_config *c, int B, int train, double seconds, int M)
{
    unet *m;
    const int bs = B / M;
    if (unet_create(&m, c, bs) != DDPM_OK) return DDPM_ERR;
    unet_init_params(m, 0);
    int H = c->image_size, Cin = config_in_channels(c), Cout = config_out_channels(c);
    size_t nx = (size_t)B * H * H * Cin, ny = (size_t)B * H * H * Cout, np = unet_num_params(m);
    float *x = ddpm_alloc(nx * sizeof(float)), *y = ddpm_alloc(ny * sizeof(float)),
          *dy = ddpm_alloc(ny * sizeof(float));
    float *ema = ddpm_alloc(np * sizeof(float));
    int32_t *t = ddpm_alloc((size_t)B * sizeof(int32_t));
    adam_state opt;
    if (!x || !y || !dy || !ema || !t || adam_init(&opt, np) != DDPM_OK) return DDPM_ERR;
    blocktree_fold fold;
    float *grad = M > 1 ? ddpm_alloc(np * sizeof(float)) : NULL;
    if (M > 1 && (!grad || blocktree_fold_init(&fold, M, 0, M, np) != DDPM_OK)) return DDPM_ERR;
    rng_normal_fill(rng_stream_make(1, RNG_EVAL, 0, 0), x, nx);
    for (int b = 0; b < B; b++) t[b] = (int32_t)((b * 997) % c->num_diffusion_timesteps);
    memcpy(ema, unet_params(m), np * sizeof(float));
    /* forward cases time evaluation: the sampling and likelihood loops' inference plan */
    if (!train && !getenv("DDPM_BENCH_NO_PLAN") && unet_prepare_inference(m) != DDPM_OK) return DDPM_ERR;
    int iters = 0, warm = 1;
    double t0 = 0, cpu0 = 0;
    for (;;) {
        if (M > 1) {
            blocktree_fold_reset(&fold);
            const size_t bx = (size_t)bs * H * H * Cin, by = (size_t)bs * H * H * Cout;
            for (int k = 0; k < M; k++) {
                if (unet_forward_at(y + k * by, m, x + k * bx, t + k * bs, 1, 0, (uint32_t)iters, (uint32_t)(k * bs),
                                    bs) != DDPM_OK)
                    return DDPM_ERR;
                for (size_t i = 0; i < by; i++) dy[k * by + i] = 2.0f * y[k * by + i] / (float)ny;
                unet_zero_grads(m);
                if (unet_backward(m, dy + k * by) != DDPM_OK) return DDPM_ERR;
                if (blocktree_fold_push(&fold, k, unet_grads(m)) != DDPM_OK) return DDPM_ERR;
            }
            if (dist_tree_allreduce_blocks(M, (const float *const *)fold.buf, fold.count, np, grad) != DDPM_OK)
                return DDPM_ERR;
            clip_grad_global_norm(grad, np, 1.0);
            adam_update(&opt, unet_params(m), grad, 2e-4);
            ema_update(ema, unet_params(m), np, 0.9999);
        } else if (unet_forward(y, m, x, t, train, 0, (uint32_t)iters, B) != DDPM_OK) {
            return DDPM_ERR;
        } else if (train) {
            for (size_t i = 0; i < ny; i++) dy[i] = 2.0f * y[i] / (float)ny;
            unet_zero_grads(m);
            if (unet_backward(m, dy) != DDPM_OK) return DDPM_ERR;
            clip_grad_global_norm(unet_grads(m), np, 1.0);
            adam_update(&opt, unet_params(m), unet_grads(m), 2e-4);
            ema_update(ema, unet_params(m), np, 0.9999);
        }
        if (warm) {
            warm = 0;
            t0 = ddpm_now();
            cpu0 = cpu_seconds();
            continue;
        }
        iters++;
        if (ddpm_now() - t0 > seconds) break;
    }
    double ips = (double)iters * B / (ddpm_now() - t0);
    /* direct-convolution-equivalent GFLOP per image; a training step counts 3 forwards */
    const double gf = unet_forward_flops(m) * (train ? 3.0 : 1.0) * 1e-9;
    printf("c %s %.2f\n", name, ips);
    /* CPU seconds per image of all threads: on a loaded machine closer to the work than img/s */
    printf("ccpu %s %.4f\n", name, (cpu_seconds() - cpu0) / ((double)iters * B));
    printf("cflop %s %.4f\n", name, gf);
    fflush(stdout);
    adam_free(&opt);
    if (M > 1) blocktree_fold_free(&fold);
    ddpm_free(grad);
    ddpm_free(x);
    ddpm_free(y);
    ddpm_free(dy);
    ddpm_free(ema);
    ddpm_free(t);
    unet_free(m);
    return DDPM_OK;
}

/* The machine's sgemm rate through nn_sgemm (the layers' GEMM, same threads): best of repeated
 * square products of n = 1024 for about a second. */
static int bench_sgemm_peak(void)
{
    const int n = 1024;
    const size_t nn = (size_t)n * n;
    float *a = ddpm_alloc(3 * nn * sizeof(float));
    if (!a) return DDPM_ERR;
    rng_normal_fill(rng_stream_make(2, RNG_EVAL, 0, 0), a, 2 * nn);
    double best = 0.0;
    const double start = ddpm_now();
    for (int rep = 0; rep < 3 || ddpm_now() - start < 1.0; rep++) {
        const double t0 = ddpm_now();
        nn_sgemm(CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, a + nn, n, 0.0f, a + 2 * nn, n);
        const double g = 2.0 * n * nn / (ddpm_now() - t0) * 1e-9;
        if (g > best) best = g;
    }
    printf("cpeak sgemm %.1f\n", best);
    fflush(stdout);
    ddpm_free(a);
    return DDPM_OK;
}

int cmd_bench(int argc, char **argv)
{
    static const cli_opt opts[] = {
        { "seconds", "S", "timed seconds per case (default 8)" },
        { "case", "NAME",
          "only this case (mini_train_b64, mini_train_b64_g8, mini_train_b64_g16, mini_forward_b256, paper_train_b8, "
          "paper_forward_b8, paper_forward_b64, paper_train_b32, paper_train_b32_g4, sgemm_peak; run only when named: "
          "paper_train_b128, the peak-memory case, and the evaluation-batch sweep mini_forward_b{64,128,512}, "
          "paper_forward_b{16,32,128})" },
        { 0 }
    };
    cli_args a = { .cmd = "bench",
                   .no_set = 1,
                   .usage = "[--seconds S] [--case NAME]",
                   .summary = "Prints `c <case> <images/s>` and `cflop <case> <GFLOP/image>` for the mini and paper "
                              "U-Nets, and `cpeak sgemm <GFLOP/s>`.",
                   .opts = opts };
    int rc = cli_parse(&a, argc, argv);
    if (rc) return rc < 0 ? 0 : rc;
    double secs;
    if ((rc = cli_get_double(&a, "seconds", 8.0, &secs))) return rc;
    const char *only = cli_get(&a, "case");
    ddpm_config mini, paper;
    config_defaults(&mini);
    const char *ms[] = { "dataset=fashion_mnist", "image_size=28",    "ch=32",
                         "ch_mult=1,2,2",         "num_res_blocks=1", "attn_resolutions=14" };
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) config_set(&mini, ms[i]);
    config_defaults(&paper);
    /* _gM: the same step with grad_blocks = M (the reproducible MPI reduction's unit) */
    /* named_only: run only when named (the memory case and the evaluation-batch sweep) */
    struct {
        const char *name;
        const ddpm_config *c;
        int B, train, M, named_only;
    } cases[] = { { "mini_train_b64", &mini, 64, 1, 1, 0 },      { "mini_train_b64_g8", &mini, 64, 1, 8, 0 },
                  { "mini_train_b64_g16", &mini, 64, 1, 16, 0 }, { "mini_forward_b256", &mini, 256, 0, 1, 0 },
                  { "paper_train_b8", &paper, 8, 1, 1, 0 },      { "paper_forward_b8", &paper, 8, 0, 1, 0 },
                  { "paper_forward_b64", &paper, 64, 0, 1, 0 },  { "paper_train_b32", &paper, 32, 1, 1, 0 },
                  { "paper_train_b32_g4", &paper, 32, 1, 4, 0 }, { "paper_train_b128", &paper, 128, 1, 1, 1 },
                  { "mini_forward_b64", &mini, 64, 0, 1, 1 },    { "mini_forward_b128", &mini, 128, 0, 1, 1 },
                  { "mini_forward_b512", &mini, 512, 0, 1, 1 },  { "paper_forward_b16", &paper, 16, 0, 1, 1 },
                  { "paper_forward_b32", &paper, 32, 0, 1, 1 },  { "paper_forward_b128", &paper, 128, 0, 1, 1 } };
    const char *memory_case = "paper_train_b128";
    fprintf(stderr, "bench: %d OpenMP threads\n", omp_get_max_threads());
    if ((!only || !strcmp(only, "sgemm_peak")) && bench_sgemm_peak() != DDPM_OK) return cli_fail(&a);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int is_memory = !strcmp(cases[i].name, memory_case);
        if (only ? strcmp(only, cases[i].name) != 0 : cases[i].named_only) continue;
        /* The memory case runs two steps (the second one with Adam's moments allocated). */
        if (bench_case(cases[i].name, cases[i].c, cases[i].B, cases[i].train, is_memory ? 0.0 : secs, cases[i].M) !=
            DDPM_OK)
            return cli_fail(&a);
        if (is_memory) {
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            printf("cmem %s %.0f\n", cases[i].name, ru.ru_maxrss / 1024.0); /* ru_maxrss is in KiB */
        }
    }
    return 0;
}
