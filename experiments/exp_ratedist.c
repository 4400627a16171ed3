/* exp_ratedist — Section 4.3, Table 4 and Figure 5 of Ho et al. 2020: progressive lossy
 * compression with the L_simple model (eps prediction, fixed isotropic variance).
 *
 * For every reverse step the receiver holds x_t (0-based t; reverse step T - t). Rate(t) =
 * prior term + sum of L_s for s = t+1..T-1 (the bits to transmit x_{T-1} .. x_t), in bits/dim;
 * distortion(t) = RMSE of x̂_0(x_t) against x_0 on the [0,255] scale. Rate at t = 0 plus the
 * decoder term L_0 is the total NLL. Numbers are averaged over the tier's test subset and come
 * from the run's cached likelihood evaluation (the same one as Tables 1–2). With --ckpt, of the
 * given model (the released CIFAR-10 one: paper rate 1.78 + distortion 1.97 bits/dim, RMSE 0.95).
 * The paper's rows come from paper/table4.csv. */
#include "core/common.h"
#include "core/progress.h"
#include "driver/driver.h"
#include "driver/paper_csv.h"
#include "io/h5io.h"
#include "io/runlog.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { PAPER_ROWS = 10 };
static int PAPER_STEPS[PAPER_ROWS];
static double PAPER_RATE[PAPER_ROWS], PAPER_RMSE[PAPER_ROWS];

/* Table 4's ten rows (paper/table4.csv). */
static int load_paper(void)
{
    paper_csv t;
    DDPM_TRY(paper_csv_load(&t, "paper/table4.csv"));
    int rc = t.nrows == PAPER_ROWS ? DDPM_OK : ddpm_error("%s: %d rows; Table 4 has %d", t.path, t.nrows, PAPER_ROWS);
    for (int k = 0; k < PAPER_ROWS && rc == DDPM_OK; k++) {
        double step;
        rc = paper_csv_num(&t, k + 1, "reverse_step", &step);
        if (rc == DDPM_OK) rc = paper_csv_num(&t, k + 1, "rate_bpd", &PAPER_RATE[k]);
        if (rc == DDPM_OK) rc = paper_csv_num(&t, k + 1, "distortion_rmse", &PAPER_RMSE[k]);
        if (rc == DDPM_OK && (isnan(step) || isnan(PAPER_RATE[k]) || isnan(PAPER_RMSE[k])))
            rc = ddpm_error("%s:%d: an empty field; every Table 4 row has a step, a rate and an RMSE", t.path,
                            t.line[k + 1]);
        if (rc == DDPM_OK) PAPER_STEPS[k] = (int)step;
    }
    paper_csv_free(&t);
    return rc;
}

int main(int argc, char **argv)
{
    h5io_init();
    driver_args a;
    int rc = driver_parse(&a, "ratedist",
                          "Table 4 / Figure 5: rate-distortion of the L_simple model along the reverse process.", argc,
                          argv);
    if (rc) return rc < 0 ? 0 : rc;
    double t0 = ddpm_now();
    ddpm_config cfg;
    variant_result r;
    if (load_paper() != DDPM_OK || driver_open_lsimple(&a, argc, argv, &r, &cfg) != DDPM_OK) {
        fprintf(stderr, "exp_ratedist: %s\n", ddpm_last_error());
        return 1;
    }
    if (a.train_only) return 0;
    /* Table 4 needs only the NLL terms; the evaluation is the same request as Tables 1-2's so
     * their cache serves it (N_SAMPLES=0 / --samples 0 skips the samples when run alone). */
    if (driver_eval_cost(&a, "ratedist", &cfg, 0) != DDPM_OK || experiment_evaluate(&a.req, &r, 0, NULL) != DDPM_OK) {
        fprintf(stderr, "exp_ratedist: %s\n", ddpm_last_error());
        return 1;
    }
    char evalp[700];
    snprintf(evalp, sizeof evalp, "%s/eval.h5", r.run_dir);
    hid_t f = h5io_open(evalp, 0);
    double *terms = NULL, *mse = NULL, *prior = NULL;
    int rank;
    hsize_t dt[H5IO_MAX_RANK], dp[H5IO_MAX_RANK];
    if (f < 0 || h5io_read_f64(f, "bpd_test/terms_bpd", &terms, &rank, dt) != DDPM_OK ||
        h5io_read_f64(f, "bpd_test/mse", &mse, NULL, NULL) != DDPM_OK ||
        h5io_read_f64(f, "bpd_test/prior_bpd", &prior, NULL, dp) != DDPM_OK) {
        fprintf(stderr, "exp_ratedist: %s\n", ddpm_last_error());
        return 1;
    }
    h5io_close(f);
    const int n = (int)dt[0], T = (int)dt[1];
    /* Means over examples, then the cumulative rate from t = T-1 downwards. */
    double *L = ddpm_alloc((size_t)T * sizeof(double)), *rmse = ddpm_alloc((size_t)T * sizeof(double));
    double *rate = ddpm_alloc((size_t)T * sizeof(double));
    double prior_mean = 0;
    for (int i = 0; i < n; i++) prior_mean += prior[i] / n;
    for (int t = 0; t < T; t++) {
        double sl = 0, sm = 0;
        for (int i = 0; i < n; i++) {
            sl += terms[(size_t)i * T + t];
            sm += mse[(size_t)i * T + t];
        }
        L[t] = sl / n;
        rmse[t] = sqrt(sm / n) * 127.5; /* [-1,1] -> [0,255] */
    }
    double acc = prior_mean;
    for (int t = T - 1; t >= 0; t--) {
        rate[t] = acc; /* bits received to hold x_t */
        acc += L[t];   /* L_t transmits the next, less noisy variable */
    }
    double total = acc; /* prior + all terms = NLL */
    char mdp[700], csvp[700], curvep[700], logp[700];
    snprintf(mdp, sizeof mdp, "%s/table.md", a.out_dir);
    snprintf(csvp, sizeof csvp, "%s/table.csv", a.out_dir);
    snprintf(curvep, sizeof curvep, "%s/curve.csv", a.out_dir);
    snprintf(logp, sizeof logp, "%s/log.h5", a.out_dir);
    FILE *md = fopen(mdp, "w"), *csv = fopen(csvp, "w"), *cv = fopen(curvep, "w");
    if (!md || !csv || !cv) {
        fprintf(stderr, "exp_ratedist: cannot write in %s\n", a.out_dir);
        return 1;
    }
    fprintf(md,
            "# Table 4 — tier `%s` (%s%s, %d test images, T = %d)\n\n"
            "Rate: cumulative bits/dim received (prior + L_{T-1}..L_{t+1}); distortion: RMSE of x̂_0 on the "
            "[0,255] scale. Total NLL %.4f bits/dim = rate at t=0 (%.4f) + decoder term L_0 (%.4f).\n\n"
            "| reverse step (T−t) | t | rate (bits/dim) | distortion (RMSE) | paper rate | paper RMSE "
            "|\n|---|---|---|---|---|---|\n",
            a.tier.name, a.ckpt ? "given model " : "L_simple model", a.ckpt ? a.ckpt : "", n, T, total, rate[0], L[0]);
    fprintf(csv, "reverse_step,t,rate_bpd,distortion_rmse,paper_rate_bpd,paper_distortion_rmse\n");
    printf("%-14s %-6s %-12s %-12s %-12s %-12s\n", "reverse step", "t", "rate", "RMSE", "paper rate", "paper RMSE");
    for (int k = 0; k < 10; k++) {
        /* The paper's rows at T = 1000; other T scale the step proportionally. */
        int step = (int)lround((double)PAPER_STEPS[k] * T / 1000.0);
        int t = T - step;
        if (t < 0 || t >= T) continue;
        fprintf(md, "| %d | %d | %.5f | %.5f | %.5f | %.5f |\n", step, t, rate[t], rmse[t], PAPER_RATE[k],
                PAPER_RMSE[k]);
        fprintf(csv, "%d,%d,%.6g,%.6g,%.6g,%.6g\n", step, t, rate[t], rmse[t], PAPER_RATE[k], PAPER_RMSE[k]);
        printf("%-14d %-6d %-12.5f %-12.5f %-12.5f %-12.5f\n", step, t, rate[t], rmse[t], PAPER_RATE[k], PAPER_RMSE[k]);
    }
    fprintf(cv, "t,reverse_step,L_t_bpd,rate_bpd,distortion_rmse\n");
    for (int t = T - 1; t >= 0; t--) fprintf(cv, "%d,%d,%.8g,%.8g,%.8g\n", t, T - t, L[t], rate[t], rmse[t]);
    char el[32];
    fprintf(md,
            "\nThe whole curve (every t) is in `curve.csv` and `log.h5`; the plot is drawn by "
            "`make notebooks` (notebooks-export/). Wall time: %s.\n",
            format_duration(ddpm_now() - t0, el, sizeof el));
    int bad = fclose(md) != 0;
    bad |= fclose(csv) != 0;
    bad |= fclose(cv) != 0;
    runlog lg;
    hsize_t d1[1] = { (hsize_t)T };
    if (bad || runlog_open(&lg, logp, &cfg, argc, argv, 0) != DDPM_OK ||
        h5io_attr_str(lg.file, ".", "experiment", "ratedist") || h5io_attr_str(lg.file, ".", "tier", a.tier.name) ||
        h5io_write_f64(lg.file, "curve/L_t_bpd", L, 1, d1) || h5io_write_f64(lg.file, "curve/rate_bpd", rate, 1, d1) ||
        h5io_write_f64(lg.file, "curve/distortion_rmse", rmse, 1, d1) ||
        h5io_attr_f64(lg.file, "curve", "total_bpd", total) ||
        h5io_attr_f64(lg.file, "curve", "prior_bpd", prior_mean) ||
        h5io_attr_f64(lg.file, "curve", "decoder_bpd", L[0]) || h5io_attr_i64(lg.file, "curve", "num_images", n) ||
        h5io_attr_str(lg.file, "curve", "run_dir", r.run_dir) || h5io_attr_str(lg.file, "curve", "ckpt", r.ckpt) ||
        driver_log_request(lg.file, &a) || runlog_close(&lg) != DDPM_OK) {
        fprintf(stderr, "exp_ratedist: %s\n", ddpm_last_error());
        return 1;
    }
    printf("exp_ratedist: total %.4f bits/dim = rate %.4f + decoder %.4f; wrote %s, %s, %s, %s\n", total, rate[0], L[0],
           mdp, csvp, curvep, logp);
    ddpm_free(terms);
    ddpm_free(mse);
    ddpm_free(prior);
    ddpm_free(L);
    ddpm_free(rmse);
    ddpm_free(rate);
    return 0;
}
