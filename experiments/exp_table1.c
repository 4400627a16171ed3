/* exp_table1 — Table 1 of Ho et al. 2020 (our rows): L with fixed isotropic Sigma and L_simple,
 * both with eps prediction: IS, FID (or the tier's proxy), NLL on test and train subsets.
 * Reuses Table 2's runs and cached evaluations (runs are addressed by config hash). */
#include "core/common.h"
#include "core/progress.h"
#include "driver/driver.h"
#include "io/h5io.h"
#include "io/runlog.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *variant, *loss, *label;
    double paper_is, paper_is_std, paper_fid, paper_nll_test, paper_nll_train;
} table1_row;

static const table1_row ROWS[2] = {
    { "eps-fixedlarge-kl", "kl", "Ours (L, fixed isotropic Sigma)", 7.67, 0.13, 13.51, 3.70, 3.69 },
    { "eps-fixedlarge-mse", "mse", "Ours (L_simple)", 9.46, 0.11, 3.17, 3.75, 3.72 },
};

int main(int argc, char **argv)
{
    h5io_init();
    driver_args a;
    int rc = driver_parse(&a, "table1", "Table 1: L (fixed isotropic) and L_simple, IS / FID / NLL test (train).", argc, argv);
    if (rc) return rc < 0 ? 0 : rc;
    double t0 = ddpm_now();
    runlog L;
    if (driver_begin(&a, "table1", &L, argc, argv) != DDPM_OK) {
        fprintf(stderr, "exp_table1: %s\n", ddpm_last_error());
        return 1;
    }
    variant_result res[2];
    int done[2] = { 0 }, failed = 0, ndone = 0;
    const char *names[2] = { ROWS[0].variant, ROWS[1].variant };
    const int nsel = driver_count_selected(&a, names, 2);
    const double t_start = ddpm_now();
    for (int i = 0; i < 2 && !failed; i++) {
        if (!driver_selected(&a, ROWS[i].variant)) continue;
        ddpm_config cfg;
        fprintf(stderr, "\n== table1 [%s] %s ==\n", a.tier.name, ROWS[i].variant);
        char png[700];
        snprintf(png, sizeof png, "%s/samples_%s.png", a.out_dir, ROWS[i].variant);
        if (driver_variant_config(&a, "eps", "fixedlarge", ROWS[i].loss, &cfg) != DDPM_OK ||
            experiment_train(&a.tier, &cfg, &res[i], argc, argv) != DDPM_OK ||
            (!a.train_only && (experiment_evaluate(&a.tier, &res[i], 1, png) != DDPM_OK ||
                               driver_log_variant(L.file, &a, &res[i]) != DDPM_OK))) {
            fprintf(stderr, "exp_table1: %s: %s\n", ROWS[i].variant, ddpm_last_error());
            failed = 1;
        }
        done[i] = !failed;
        if (done[i] && !a.train_only) driver_report_variant("table1", &res[i], ++ndone, nsel, t_start);
    }
    if (failed || a.train_only) {
        if (L.file >= 0) runlog_close(&L);
        return failed;
    }
    driver_tables tab;
    if (driver_open_tables(&a, &tab) != DDPM_OK) {
        fprintf(stderr, "exp_table1: %s\n", ddpm_last_error());
        return 1;
    }
    FILE *md = tab.md, *csv = tab.csv;
    const char *fdn, *isn, *ext;
    driver_metric_names(res, done, 2, &fdn, &isn, &ext);
    fprintf(md, "# Table 1 — tier `%s`\n\nOurs: %s / %s of %d samples (extractor: %s); NLL bound in bits/dim with all "
                "T terms on the first %d test (%d train) images. Paper: CIFAR-10.\n\n",
            a.tier.name, isn, fdn, a.tier.samples_n, ext, a.tier.bpd_n, a.tier.bpd_train_n);
    fprintf(md, "| model | %s | %s | NLL test (train) | paper IS | paper FID | paper NLL test (train) |\n|---|---|---|---|---|---|---|\n",
            isn, fdn);
    fprintf(csv, "model,variant,outcome,is,is_std,fd,extractor,bpd_test,bpd_train,paper_is,paper_is_std,paper_fid,"
                 "paper_nll_test,paper_nll_train\n");
    for (int i = 0; i < 2; i++) {
        if (!done[i]) continue;
        const variant_result *r = &res[i];
        char b[4][48], isbuf[64];
        if (isnan(r->q.is_mean)) snprintf(isbuf, sizeof isbuf, "n/a");
        else snprintf(isbuf, sizeof isbuf, "%.2f±%.2f", r->q.is_mean, r->q.is_std);
        const char *outcome = train_outcome_name(r->outcome);
        fprintf(md, "| %s%s | %s | %s | %s (%s) | %.2f±%.2f | %.2f | ≤%.2f (%.2f) |\n", ROWS[i].label,
                r->outcome == TRAIN_DIVERGED ? " — unstable" : "", isbuf, fmt_num(b[0], 48, "%.3f", r->q.fd),
                fmt_num(b[1], 48, "%.3f", r->bpd_test), fmt_num(b[2], 48, "%.3f", r->bpd_train), ROWS[i].paper_is,
                ROWS[i].paper_is_std, ROWS[i].paper_fid, ROWS[i].paper_nll_test, ROWS[i].paper_nll_train);
        fprintf(csv, "\"%s\",%s,%s,%.6g,%.6g,%.6g,%s,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n", ROWS[i].label, r->variant,
                outcome, r->q.is_mean, r->q.is_std, r->q.fd, r->q.available ? r->q.extractor : "none", r->bpd_test,
                r->bpd_train, ROWS[i].paper_is, ROWS[i].paper_is_std, ROWS[i].paper_fid, ROWS[i].paper_nll_test,
                ROWS[i].paper_nll_train);
        printf("%-36s %s %s  %s %s  NLL test %s (train %s)\n", ROWS[i].label, isn, isbuf, fdn, b[0], b[1], b[2]);
    }
    char el[32];
    fprintf(md, "\nLogs: `log.h5`, `logs/<variant>.h5`. Wall time of this invocation: %s.\n",
            format_duration(ddpm_now() - t0, el, sizeof el));
    int bad = driver_close_tables(&tab) != DDPM_OK;
    h5io_attr_f64(L.file, ".", "wall_seconds", ddpm_now() - t0);
    if (runlog_close(&L) != DDPM_OK || bad) {
        fprintf(stderr, "exp_table1: %s\n", ddpm_last_error());
        return 1;
    }
    printf("exp_table1: wrote %s and %s (%s)\n", tab.md_path, tab.csv_path, el);
    return 0;
}
