/* ddpm bench — U-Net throughput: training steps (forward, backward, clip, Adam, EMA) and
 * forward passes on synthetic data, for the mini and paper configs. Speed lives here, never in
 * timed tests. The memory case (paper U-Net, batch 128, two training steps; only with --case)
 * prints the process's peak resident memory. */
#include "cli/cli.h"
#include "cli/commands.h"
#include "core/common.h"
#include "core/rng.h"
#include "model/unet.h"
#include "train/optim.h"

#include <omp.h>
#include <sys/resource.h>
#include <stdio.h>
#include <string.h>

static int bench_case(const char *name, const ddpm_config *c, int B, int train, double seconds)
{
    unet *m;
    if (unet_create(&m, c, B) != DDPM_OK) return DDPM_ERR;
    unet_init_params(m, 0);
    int H = c->image_size, Cin = config_in_channels(c), Cout = config_out_channels(c);
    size_t nx = (size_t)B * H * H * Cin, ny = (size_t)B * H * H * Cout, np = unet_num_params(m);
    float *x = ddpm_alloc(nx * sizeof(float)), *y = ddpm_alloc(ny * sizeof(float)), *dy = ddpm_alloc(ny * sizeof(float));
    float *ema = ddpm_alloc(np * sizeof(float));
    int32_t *t = ddpm_alloc((size_t)B * sizeof(int32_t));
    adam_state opt;
    if (!x || !y || !dy || !ema || !t || adam_init(&opt, np) != DDPM_OK) return DDPM_ERR;
    rng_normal_fill(rng_stream_make(1, RNG_EVAL, 0, 0), x, nx);
    for (int b = 0; b < B; b++) t[b] = (int32_t)((b * 997) % c->num_diffusion_timesteps);
    memcpy(ema, unet_params(m), np * sizeof(float));
    int iters = 0, warm = 1;
    double t0 = 0;
    for (;;) {
        if (unet_forward(m, x, t, B, train, 0, (uint32_t)iters, y) != DDPM_OK) return DDPM_ERR;
        if (train) {
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
            continue;
        }
        iters++;
        if (ddpm_now() - t0 > seconds) break;
    }
    double ips = (double)iters * B / (ddpm_now() - t0);
    printf("c %s %.2f\n", name, ips);
    fflush(stdout);
    adam_free(&opt);
    ddpm_free(x); ddpm_free(y); ddpm_free(dy); ddpm_free(ema); ddpm_free(t);
    unet_free(m);
    return DDPM_OK;
}

int cmd_bench(int argc, char **argv)
{
    static const cli_opt opts[] = { { "seconds", "S", "timed seconds per case (default 8)" },
                                    { "case", "NAME", "only this case (mini_train_b64, mini_forward_b256, paper_train_b8, paper_forward_b8; paper_train_b128 is the peak-memory case, run only when named)" },
                                    { 0 } };
    cli_args a = { .cmd = "bench", .no_set = 1, .usage = "[--seconds S] [--case NAME]",
                   .summary = "Prints `c <case> <images/s>` for the mini and paper U-Nets.", .opts = opts };
    int rc = cli_parse(&a, argc, argv);
    if (rc) return rc < 0 ? 0 : rc;
    double secs;
    if ((rc = cli_get_double(&a, "seconds", 8.0, &secs))) return rc;
    const char *only = cli_get(&a, "case");
    ddpm_config mini, paper;
    config_defaults(&mini);
    const char *ms[] = { "dataset=fashion_mnist", "image_size=28", "ch=32", "ch_mult=1,2,2", "num_res_blocks=1",
                         "attn_resolutions=14" };
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) config_set(&mini, ms[i]);
    config_defaults(&paper);
    struct { const char *name; const ddpm_config *c; int B, train; } cases[] = {
        { "mini_train_b64", &mini, 64, 1 }, { "mini_forward_b256", &mini, 256, 0 },
        { "paper_train_b8", &paper, 8, 1 }, { "paper_forward_b8", &paper, 8, 0 },
        { "paper_train_b128", &paper, 128, 1 } };
    const char *memory_case = "paper_train_b128";
    fprintf(stderr, "bench: %d OpenMP threads\n", omp_get_max_threads());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int is_memory = !strcmp(cases[i].name, memory_case);
        if (only ? strcmp(only, cases[i].name) != 0 : is_memory) continue;
        /* The memory case runs two steps (the second one with Adam's moments allocated). */
        if (bench_case(cases[i].name, cases[i].c, cases[i].B, cases[i].train, is_memory ? 0.0 : secs) != DDPM_OK)
            return cli_fail(&a);
        if (is_memory) {
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            printf("cmem %s %.0f\n", cases[i].name, ru.ru_maxrss / 1024.0); /* ru_maxrss is in KiB */
        }
    }
    return 0;
}
