/* exp_progressive — Figures 6 and 7 of Ho et al. 2020 with the L_simple model.
 *
 * Figure 6 (progressive generation): x̂_0 predicted along the reverse chain, recorded every
 * T/10 steps (and the final sample), one row per sample.
 * Figure 7 (shared latent): for several t, one test image is diffused to x_t once, and several
 * x_0 ~ p(x_0 | x_t) are drawn from that same x_t; one row per t, the first column is x_t's
 * source image. Large t: only coarse features are shared; small t: fine details too.
 * With --ckpt, of the given model (the paper: CelebA-HQ 256x256; --set data_dir= a PNG folder
 * whose test/ holds the images to encode). */
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

enum { FIG6_SAMPLES = 8, FIG7_ROWS = 4, FIG7_SAMPLES = 7 };

int main(int argc, char **argv)
{
    h5io_init();
    driver_args a;
    int rc =
        driver_parse(&a, "progressive", "Figures 6-7: progressive generation and samples sharing one x_t.", argc, argv);
    if (rc) return rc < 0 ? 0 : rc;
    double t0 = ddpm_now();
    ddpm_config cfg;
    variant_result r;
    if (driver_open_lsimple(&a, argc, argv, &r, &cfg) != DDPM_OK) {
        fprintf(stderr, "exp_progressive: %s\n", ddpm_last_error());
        return 1;
    }
    if (a.train_only) return 0;
    const char *ckpt = r.ckpt;
    /* What it costs (at most: the chains from t < T are shorter), before it starts. */
    a.req.samples_n = FIG6_SAMPLES + FIG7_ROWS * FIG7_SAMPLES;
    a.req.bpd_n = 0;
    if (driver_eval_cost(&a, "progressive", &cfg, 0) != DDPM_OK) {
        fprintf(stderr, "exp_progressive: %s\n", ddpm_last_error());
        return 1;
    }
    ddpm_model m;
    if (ddpm_model_open(&m, &cfg, ckpt, "ema", a.tier.batch) != DDPM_OK) {
        fprintf(stderr, "exp_progressive: %s\n", ddpm_last_error());
        return 1;
    }
    const int T = m.diff.T, every = T >= 10 ? T / 10 : 1;
    const size_t D = m.D;
    int K = p_sample_num_recorded(T - 1, every);
    float *x = ddpm_alloc(FIG6_SAMPLES * D * sizeof(float));
    float *rec = ddpm_alloc((size_t)K * FIG6_SAMPLES * D * sizeof(float));
    int cols6 = K + 1;
    uint8_t *grid6 = ddpm_alloc((size_t)FIG6_SAMPLES * cols6 * D);
    float *x7 = ddpm_alloc((size_t)FIG7_ROWS * FIG7_SAMPLES * D * sizeof(float));
    float *src = ddpm_alloc(D * sizeof(float)), *noise = ddpm_alloc(D * sizeof(float));
    uint8_t *grid7 = ddpm_alloc((size_t)FIG7_ROWS * (FIG7_SAMPLES + 2) * D);
    int32_t tlist[FIG7_ROWS];
    if (!x || !rec || !grid6 || !x7 || !src || !noise || !grid7) return 1;

    /* Figure 6 */
    progress pb;
    progress_begin(&pb, "fig6 sample", (int64_t)FIG6_SAMPLES * T, 0);
    int nrec = 0;
    rc = ddpm_generate(&m, FIG6_SAMPLES, 2000 + cfg.seed, FIG6_SAMPLES, x, every, rec, &nrec, &pb);
    if (rc == DDPM_OK) {
        progress_end(&pb, NULL);
        for (int s = 0; s < FIG6_SAMPLES; s++) {
            for (int k = 0; k < nrec; k++)
                images_to_uint8(grid6 + ((size_t)s * cols6 + k) * D, rec + ((size_t)k * FIG6_SAMPLES + s) * D, D);
            images_to_uint8(grid6 + ((size_t)s * cols6 + nrec) * D, x + (size_t)s * D, D);
        }
    }

    /* Figure 7: rows t = T-1, 3T/4, T/2, T/4 (0-based) */
    dataset ds;
    if (rc == DDPM_OK) rc = dataset_load_n(&ds, &cfg, 0, 1);
    if (rc == DDPM_OK) {
        dataset_get_range(&ds, 0, 1, src);
        rng_normal_fill(rng_stream_make(cfg.seed, RNG_EVAL, 7, 0), noise, D);
        const int cols7 = FIG7_SAMPLES + 2;
        progress_begin(&pb, "fig7 sample", FIG7_ROWS, 0);
        for (int row = 0; row < FIG7_ROWS && rc == DDPM_OK; row++) {
            int t = row == 0 ? T - 1 : (int)((int64_t)T * (FIG7_ROWS - row) / FIG7_ROWS);
            tlist[row] = t;
            float *xr = x7 + (size_t)row * FIG7_SAMPLES * D;
            int32_t tt = t;
            q_sample(xr, src, &tt, noise, &m.diff, 1, D);
            images_to_uint8(grid7 + (size_t)row * cols7 * D, src, D);
            images_to_uint8(grid7 + ((size_t)row * cols7 + 1) * D, xr, D);
            for (int s = 1; s < FIG7_SAMPLES; s++) memcpy(xr + (size_t)s * D, xr, D * sizeof(float));
            p_sample_opts so;
            p_sample_opts_default(&so, &m.diff);
            so.t_start = t;
            so.seed = 3000 + cfg.seed;
            so.example_offset = (uint32_t)(row * FIG7_SAMPLES);
            diffusion_workspace *ws = diffusion_workspace_alloc(&m.diff, FIG7_SAMPLES, m.H, m.W, m.C, m.Cout);
            rc = ws ? p_sample_loop(xr, NULL, NULL, &m.diff, ddpm_model_denoise, &m, &so, ws, FIG7_SAMPLES, m.H, m.W,
                                    m.C)
                    : DDPM_ERR;
            diffusion_workspace_free(ws);
            for (int s = 0; s < FIG7_SAMPLES && rc == DDPM_OK; s++)
                images_to_uint8(grid7 + ((size_t)row * cols7 + 2 + s) * D, xr + (size_t)s * D, D);
            progress_update(&pb, row + 1, NULL);
        }
        if (rc == DDPM_OK) progress_end(&pb, NULL);
        dataset_free(&ds);
    }
    char p6[700], p7[700], logp[700];
    snprintf(p6, sizeof p6, "%s/progressive.png", a.out_dir);
    snprintf(p7, sizeof p7, "%s/shared_xt.png", a.out_dir);
    snprintf(logp, sizeof logp, "%s/log.h5", a.out_dir);
    char cap6[256], cap7[256];
    snprintf(cap6, sizeof cap6,
             "progressive generation, tier %s, %s step %lld (ema). rows: %d samples; columns: "
             "predicted x_0 every %d steps from t = %d, then the sample",
             a.tier.name, r.variant, (long long)r.steps, FIG6_SAMPLES, every, T - 1);
    snprintf(cap7, sizeof cap7,
             "samples sharing x_t, tier %s, %s step %lld. rows: t = %d, %d, %d, %d; columns: x_0, "
             "x_t, then %d samples from that x_t",
             a.tier.name, r.variant, (long long)r.steps, tlist[0], tlist[1], tlist[2], tlist[3], FIG7_SAMPLES);
    if (rc == DDPM_OK) rc = png_write_grid_captioned(p6, grid6, cap6, FIG6_SAMPLES * cols6, m.H, m.W, m.C, cols6, 1);
    if (rc == DDPM_OK)
        rc = png_write_grid_captioned(p7, grid7, cap7, FIG7_ROWS * (FIG7_SAMPLES + 2), m.H, m.W, m.C, FIG7_SAMPLES + 2,
                                      1);
    runlog lg;
    if (rc == DDPM_OK) {
        hsize_t d6[5] = { (hsize_t)nrec, FIG6_SAMPLES, (hsize_t)m.H, (hsize_t)m.W, (hsize_t)m.C };
        hsize_t dx[4] = { FIG6_SAMPLES, (hsize_t)m.H, (hsize_t)m.W, (hsize_t)m.C };
        hsize_t d7[5] = { FIG7_ROWS, FIG7_SAMPLES, (hsize_t)m.H, (hsize_t)m.W, (hsize_t)m.C };
        hsize_t dt[1] = { FIG7_ROWS };
        rc = runlog_open(&lg, logp, &cfg, argc, argv, 0);
        if (rc == DDPM_OK)
            rc = h5io_attr_str(lg.file, ".", "experiment", "progressive") ||
                 h5io_attr_str(lg.file, ".", "tier", a.tier.name) ||
                 h5io_write_f32(lg.file, "fig6/pred_xstart", rec, 5, d6) ||
                 h5io_attr_i64(lg.file, "fig6/pred_xstart", "record_every", every) ||
                 h5io_write_f32(lg.file, "fig6/samples", x, 4, dx) ||
                 h5io_write_f32(lg.file, "fig7/samples", x7, 5, d7) ||
                 h5io_write_i32(lg.file, "fig7/t", tlist, 1, dt) || h5io_attr_str(lg.file, ".", "run_dir", r.run_dir) ||
                 h5io_attr_str(lg.file, ".", "ckpt", r.ckpt);
        if (runlog_close(&lg) != DDPM_OK) rc = DDPM_ERR;
    }
    ddpm_model_close(&m);
    if (rc != DDPM_OK) {
        fprintf(stderr, "exp_progressive: %s\n", ddpm_last_error());
        return 1;
    }
    char el[32];
    printf("exp_progressive: wrote %s (x̂_0 every %d steps, rows = samples), %s (rows t = %d, %d, %d, %d), %s (%s)\n",
           p6, every, p7, tlist[0], tlist[1], tlist[2], tlist[3], logp,
           format_duration(ddpm_now() - t0, el, sizeof el));
    ddpm_free(x);
    ddpm_free(rec);
    ddpm_free(grid6);
    ddpm_free(x7);
    ddpm_free(src);
    ddpm_free(noise);
    ddpm_free(grid7);
    return 0;
}
