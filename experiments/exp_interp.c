/* exp_interp — Figure 8 of Ho et al. 2020: interpolation in latent space with the L_simple
 * model. Two test images are encoded with the forward process to x_t and x_t' (t = T/4, T/2,
 * 3T/4), linearly interpolated x̄_t = (1-λ) x_t + λ x_t' for λ = 0, 1/8, ..., 1, and decoded
 * with the reverse process from t; the noise of the reverse process is the same for every λ
 * (as in the paper's figure). The last row is the pixel-space interpolation for comparison.
 * With --ckpt, of the given model (the paper: CelebA-HQ 256x256, --set data_dir= a PNG folder
 * whose test/ holds the two images). */
#include "core/common.h"
#include "core/progress.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "eval/ddpm_model.h"
#include "driver/driver.h"
#include "image/png_io.h"
#include "io/h5io.h"
#include "io/runlog.h"

#include <stdio.h>
#include <string.h>

enum { STEPS = 9, ROWS = 3 };

int main(int argc, char **argv)
{
    h5io_init();
    driver_args a;
    int rc = driver_parse(&a, "interp", "Figure 8: interpolation between two test images in x_t, decoded from t.", argc,
                          argv);
    if (rc) return rc < 0 ? 0 : rc;
    double t0 = ddpm_now();
    ddpm_config cfg;
    variant_result r;
    if (driver_open_lsimple(&a, argc, argv, &r, &cfg) != DDPM_OK) {
        fprintf(stderr, "exp_interp: %s\n", ddpm_last_error());
        return 1;
    }
    if (a.train_only) return 0;
    const char *ckpt = r.ckpt;
    /* What it costs (at most: the chains from t < T are shorter), before it starts. */
    a.req.samples_n = ROWS * STEPS;
    a.req.bpd_n = 0;
    if (driver_eval_cost(&a, "interp", &cfg, 0) != DDPM_OK) {
        fprintf(stderr, "exp_interp: %s\n", ddpm_last_error());
        return 1;
    }
    ddpm_model m;
    dataset ds;
    if (ddpm_model_open(&m, &cfg, ckpt, "ema", a.tier.batch) != DDPM_OK || dataset_load_n(&ds, &cfg, 0, 2) != DDPM_OK) {
        fprintf(stderr, "exp_interp: %s\n", ddpm_last_error());
        return 1;
    }
    const int T = m.diff.T, cols = STEPS + 2;
    const size_t D = m.D;
    float *x0 = ddpm_alloc(2 * D * sizeof(float)), *noise = ddpm_alloc(2 * D * sizeof(float));
    float *xt = ddpm_alloc(2 * D * sizeof(float)), *xs = ddpm_alloc((size_t)ROWS * STEPS * D * sizeof(float));
    uint8_t *grid = ddpm_alloc((size_t)(ROWS + 1) * cols * D);
    int32_t tl[ROWS];
    if (!x0 || !noise || !xt || !xs || !grid) return 1;
    dataset_get_range(&ds, 0, 2, x0);
    rng_normal_fill(rng_stream_make(cfg.seed, RNG_EVAL, 8, 0), noise, D);
    rng_normal_fill(rng_stream_make(cfg.seed, RNG_EVAL, 8, 1), noise + D, D);
    progress pb;
    progress_begin(&pb, "interp", ROWS, 0);
    for (int row = 0; row < ROWS && rc == DDPM_OK; row++) {
        int t = (int)((int64_t)T * (row + 1) / (ROWS + 1));
        tl[row] = t;
        int32_t tt[2] = { t, t };
        q_sample(xt, x0, tt, noise, &m.diff, 2, D);
        float *xr = xs + (size_t)row * STEPS * D;
        for (int k = 0; k < STEPS; k++) {
            float lam = (float)k / (STEPS - 1);
            for (size_t j = 0; j < D; j++) xr[(size_t)k * D + j] = (1 - lam) * xt[j] + lam * xt[D + j];
        }
        /* Same example offset for every λ: each λ sees the identical reverse-process noise. */
        p_sample_opts so;
        p_sample_opts_default(&so, &m.diff);
        so.t_start = t;
        so.seed = 4000 + cfg.seed;
        so.example_offset = (uint32_t)row;
        diffusion_workspace *ws = diffusion_workspace_alloc(&m.diff, 1, m.H, m.W, m.C, m.Cout);
        if (!ws) rc = DDPM_ERR;
        for (int k = 0; k < STEPS && rc == DDPM_OK; k++)
            rc = p_sample_loop(xr + (size_t)k * D, NULL, NULL, &m.diff, ddpm_model_denoise, &m, &so, ws, 1, m.H, m.W,
                               m.C);
        diffusion_workspace_free(ws);
        images_to_uint8(grid + (size_t)row * cols * D, x0, D);
        for (int k = 0; k < STEPS; k++) images_to_uint8(grid + ((size_t)row * cols + 1 + k) * D, xr + (size_t)k * D, D);
        images_to_uint8(grid + ((size_t)row * cols + cols - 1) * D, x0 + D, D);
        progress_update(&pb, row + 1, NULL);
    }
    /* Pixel-space interpolation row. */
    float *pix = ddpm_alloc(D * sizeof(float));
    images_to_uint8(grid + (size_t)ROWS * cols * D, x0, D);
    for (int k = 0; k < STEPS && pix; k++) {
        float lam = (float)k / (STEPS - 1);
        for (size_t j = 0; j < D; j++) pix[j] = (1 - lam) * x0[j] + lam * x0[D + j];
        images_to_uint8(grid + ((size_t)ROWS * cols + 1 + k) * D, pix, D);
    }
    images_to_uint8(grid + ((size_t)ROWS * cols + cols - 1) * D, x0 + D, D);
    char pg[700], logp[700];
    snprintf(pg, sizeof pg, "%s/interp.png", a.out_dir);
    snprintf(logp, sizeof logp, "%s/log.h5", a.out_dir);
    if (rc == DDPM_OK) {
        progress_end(&pb, NULL);
        char cap[320];
        snprintf(cap, sizeof cap,
                 "interpolation, tier %s, %s step %lld (ema). rows 1-3: lambda 0..1 in x_t at t = %d, %d, "
                 "%d, source images at the ends; row 4: pixel-space interpolation",
                 a.tier.name, r.variant, (long long)r.steps, tl[0], tl[1], tl[2]);
        rc = png_write_grid_captioned(pg, grid, cap, (ROWS + 1) * cols, m.H, m.W, m.C, cols, 1);
    }
    runlog lg;
    if (rc == DDPM_OK) {
        hsize_t d[5] = { ROWS, STEPS, (hsize_t)m.H, (hsize_t)m.W, (hsize_t)m.C },
                d2[4] = { 2, (hsize_t)m.H, (hsize_t)m.W, (hsize_t)m.C };
        hsize_t dt[1] = { ROWS };
        rc = runlog_open(&lg, logp, &cfg, argc, argv, 0);
        if (rc == DDPM_OK)
            rc = h5io_attr_str(lg.file, ".", "experiment", "interp") ||
                 h5io_attr_str(lg.file, ".", "tier", a.tier.name) || h5io_write_f32(lg.file, "decoded", xs, 5, d) ||
                 h5io_write_f32(lg.file, "endpoints", x0, 4, d2) || h5io_write_i32(lg.file, "t", tl, 1, dt) ||
                 h5io_attr_str(lg.file, ".", "run_dir", r.run_dir) || h5io_attr_str(lg.file, ".", "ckpt", r.ckpt);
        if (runlog_close(&lg) != DDPM_OK) rc = DDPM_ERR;
    }
    ddpm_model_close(&m);
    dataset_free(&ds);
    if (rc != DDPM_OK) {
        fprintf(stderr, "exp_interp: %s\n", ddpm_last_error());
        return 1;
    }
    char el[32];
    printf("exp_interp: wrote %s (rows t = %d, %d, %d, then pixel space; λ = 0..1 in %d steps) and %s (%s)\n", pg,
           tl[0], tl[1], tl[2], STEPS, logp, format_duration(ddpm_now() - t0, el, sizeof el));
    ddpm_free(x0);
    ddpm_free(noise);
    ddpm_free(xt);
    ddpm_free(xs);
    ddpm_free(grid);
    ddpm_free(pix);
    return 0;
}
