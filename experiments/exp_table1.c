/* exp_table1 — Table 1 of Ho et al. 2020 (our rows): L with fixed isotropic Sigma and L_simple,
 * both with eps prediction: IS, FID (or the tier's proxy), NLL on test and train subsets.
 * Reuses Table 2's runs and cached evaluations (runs are addressed by config hash). With --ckpt
 * it trains nothing and evaluates the given model: one row, beside the paper's row of the same
 * variant (L_simple for the released CIFAR-10 model) and the paper's FID against the test set.
 * The paper's numbers come from paper/table1.csv. */
#include "core/common.h"
#include "core/progress.h"
#include "driver/driver.h"
#include "driver/paper_csv.h"
#include "io/h5io.h"
#include "io/runlog.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char variant[64], label[96];
    const char *loss;
    double paper_is, paper_is_std, paper_fid, paper_nll_test, paper_nll_train;
    char note[128];
} table1_row;

static const char *const VARIANTS[2] = { "eps-fixedlarge-kl", "eps-fixedlarge-mse" };
static const char *const LOSSES[2] = { "kl", "mse" };

static int load_paper(table1_row rows[2])
{
    paper_csv t;
    DDPM_TRY(paper_csv_load(&t, "paper/table1.csv"));
    int rc = DDPM_OK;
    for (int i = 0; i < 2 && rc == DDPM_OK; i++) {
        table1_row *r = &rows[i];
        memset(r, 0, sizeof *r);
        snprintf(r->variant, sizeof r->variant, "%s", VARIANTS[i]);
        r->loss = LOSSES[i];
        char key[64];
        const char *label = NULL, *note = NULL;
        int row = 0;
        /* the row whose mean-var-loss columns give the variant */
        for (int k = 1; k <= t.nrows && !row && rc == DDPM_OK; k++) {
            const char *m, *v, *l;
            rc = paper_csv_str(&t, k, "mean", &m);
            if (rc == DDPM_OK) rc = paper_csv_str(&t, k, "var", &v);
            if (rc == DDPM_OK) rc = paper_csv_str(&t, k, "loss", &l);
            snprintf(key, sizeof key, "%s-%s-%s", m, v, l);
            if (rc == DDPM_OK && !strcmp(key, VARIANTS[i])) row = k;
        }
        if (rc == DDPM_OK && !row) rc = ddpm_error("%s: no row with mean,var,loss = %s", t.path, VARIANTS[i]);
        if (rc == DDPM_OK) rc = paper_csv_str(&t, row, "model", &label);
        if (rc == DDPM_OK) rc = paper_csv_str(&t, row, "note", &note);
        if (rc == DDPM_OK) rc = paper_csv_num(&t, row, "is", &r->paper_is);
        if (rc == DDPM_OK) rc = paper_csv_num(&t, row, "is_std", &r->paper_is_std);
        if (rc == DDPM_OK) rc = paper_csv_num(&t, row, "fid", &r->paper_fid);
        if (rc == DDPM_OK) rc = paper_csv_num(&t, row, "nll_test_bpd", &r->paper_nll_test);
        if (rc == DDPM_OK) rc = paper_csv_num(&t, row, "nll_train_bpd", &r->paper_nll_train);
        if (rc == DDPM_OK) {
            snprintf(r->label, sizeof r->label, "%s", label);
            snprintf(r->note, sizeof r->note, "%s", note);
        }
    }
    paper_csv_free(&t);
    return rc;
}

int main(int argc, char **argv)
{
    h5io_init();
    driver_args a;
    int rc = driver_parse(&a, "table1", "Table 1: L (fixed isotropic) and L_simple, IS / FID / NLL test (train).", argc,
                          argv);
    if (rc) return rc < 0 ? 0 : rc;
    double t0 = ddpm_now();
    table1_row ROWS[2];
    runlog L;
    if (load_paper(ROWS) != DDPM_OK || driver_begin(&a, "table1", &L, argc, argv) != DDPM_OK) {
        fprintf(stderr, "exp_table1: %s\n", ddpm_last_error());
        return 1;
    }
    variant_result res[2];
    int done[2] = { 0 }, failed = 0, ndone = 0;
    int nsel = driver_count_selected(&a, VARIANTS, 2);
    char ckpt_label[128] = "";
    const double t_start = ddpm_now();
    for (int i = 0; i < 2 && !failed; i++) {
        ddpm_config cfg;
        int slot = i;
        if (a.ckpt) {
            /* the given model is the one row; it sits beside the paper's row of its variant (else L_simple's) */
            if (i == 1) break;
            nsel = 1;
            variant_result r;
            if (driver_ckpt_variant(&a, &r, &cfg) != DDPM_OK) {
                fprintf(stderr, "exp_table1: %s\n", ddpm_last_error());
                failed = 1;
                break;
            }
            slot = !strcmp(r.variant, VARIANTS[0]) ? 0 : 1;
            res[slot] = r;
            snprintf(ckpt_label, sizeof ckpt_label, "%s (%s)", a.ckpt, r.variant);
        } else if (!driver_selected(&a, VARIANTS[i])) {
            continue;
        }
        fprintf(stderr, "\n== table1 [%s] %s ==\n", a.tier.name, a.ckpt ? ckpt_label : VARIANTS[i]);
        char png[700];
        snprintf(png, sizeof png, "%s/samples_%s.png", a.out_dir, a.ckpt ? "ckpt" : VARIANTS[i]);
        if ((!a.ckpt && (driver_variant_config(&a, "eps", "fixedlarge", ROWS[i].loss, &cfg) != DDPM_OK ||
                         experiment_train(&a.tier, &cfg, &res[slot], argc, argv) != DDPM_OK)) ||
            (!a.train_only && (driver_eval_cost(&a, "table1", &res[slot].cfg, 1) != DDPM_OK ||
                               experiment_evaluate(&a.req, &res[slot], 1, png) != DDPM_OK ||
                               driver_log_variant(L.file, &a, &res[slot]) != DDPM_OK))) {
            fprintf(stderr, "exp_table1: %s: %s\n", a.ckpt ? a.ckpt : VARIANTS[i], ddpm_last_error());
            failed = 1;
        }
        done[slot] = !failed;
        if (done[slot] && !a.train_only) driver_report_variant("table1", &res[slot], ++ndone, nsel, t_start);
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
    char ref[800], fdnote[200];
    eval_request_ref_text(&a.req, ref, sizeof ref);
    driver_fd_note(&a, fdn, fdnote, sizeof fdnote);
    fprintf(md,
            "# Table 1 — tier `%s`%s%s\n\nOurs: %s / %s of %d samples (extractor: %s; %s reference: %s); NLL bound in "
            "bits/dim with all T terms on the first %d test (%d train) images. Paper: CIFAR-10, 50,000 samples, "
            "FID against the training set statistics, NLL on the test set (and the training set).\n\n",
            a.tier.name, a.ckpt ? ", given model " : "", a.ckpt ? ckpt_label : "", isn, fdn, a.req.samples_n, ext, fdn,
            ref, a.req.bpd_n, a.req.bpd_train_n);
    if (fdnote[0]) fprintf(md, "**%s.**\n\n", fdnote);
    fprintf(md,
            "| model | %s | %s | NLL test (train) | samples | NLL images test (train) | paper IS | paper FID | paper "
            "NLL test (train) |\n"
            "|---|---|---|---|---|---|---|---|---|\n",
            isn, fdn);
    fprintf(csv, "model,variant,outcome,is,is_std,fd,extractor,bpd_test,bpd_train,samples_n,nll_test_n,nll_train_n,"
                 "fd_reference,paper_is,paper_is_std,paper_fid,paper_nll_test,paper_nll_train\n");
    for (int i = 0; i < 2; i++) {
        if (!done[i]) continue;
        const variant_result *r = &res[i];
        char b[4][48], isbuf[64], label[300];
        if (isnan(r->q.is_mean)) snprintf(isbuf, sizeof isbuf, "n/a");
        else snprintf(isbuf, sizeof isbuf, "%.2f±%.2f", r->q.is_mean, r->q.is_std);
        if (a.ckpt) snprintf(label, sizeof label, "%s (paper row: %s)", ckpt_label, ROWS[i].label);
        else snprintf(label, sizeof label, "%s", ROWS[i].label);
        const char *outcome = train_outcome_name(r->outcome);
        fprintf(md, "| %s%s | %s | %s | %s (%s) | %d | %d (%d) | %.2f±%.2f | %.2f | ≤%.2f (%.2f) |\n", label,
                r->outcome == TRAIN_DIVERGED ? " — unstable" : "", isbuf, fmt_num(b[0], 48, "%.3f", r->q.fd),
                fmt_num(b[1], 48, "%.3f", r->bpd_test), fmt_num(b[2], 48, "%.3f", r->bpd_train), a.req.samples_n,
                a.req.bpd_n, a.req.bpd_train_n, ROWS[i].paper_is, ROWS[i].paper_is_std, ROWS[i].paper_fid,
                ROWS[i].paper_nll_test, ROWS[i].paper_nll_train);
        fprintf(csv, "\"%s\",%s,%s,%.6g,%.6g,%.6g,%s,%.6g,%.6g,%d,%d,%d,\"%s\",%.6g,%.6g,%.6g,%.6g,%.6g\n", label,
                r->variant, outcome, r->q.is_mean, r->q.is_std, r->q.fd, r->q.available ? r->q.extractor : "none",
                r->bpd_test, r->bpd_train, a.req.samples_n, a.req.bpd_n, a.req.bpd_train_n, ref, ROWS[i].paper_is,
                ROWS[i].paper_is_std, ROWS[i].paper_fid, ROWS[i].paper_nll_test, ROWS[i].paper_nll_train);
        printf("%-36s %s %s  %s %s  NLL test %s (train %s)  [%d samples, %d (%d) NLL images]\n", label, isn, isbuf, fdn,
               b[0], b[1], b[2], a.req.samples_n, a.req.bpd_n, a.req.bpd_train_n);
        printf("%-36s IS %.2f±%.2f  FID %.2f  NLL test ≤%.2f (train %.2f)%s%s\n", "  paper", ROWS[i].paper_is,
               ROWS[i].paper_is_std, ROWS[i].paper_fid, ROWS[i].paper_nll_test, ROWS[i].paper_nll_train,
               ROWS[i].note[0] ? "; " : "", ROWS[i].note);
        if (ROWS[i].note[0]) fprintf(md, "\nPaper, %s: %s.\n", ROWS[i].label, ROWS[i].note);
    }
    if (fdnote[0]) printf("note: %s\n", fdnote);
    char el[32];
    fprintf(md, "\nLogs: `log.h5`, `logs/<variant>.h5`. Wall time of this invocation: %s.\n",
            format_duration(ddpm_now() - t0, el, sizeof el));
    int bad = driver_close_tables(&tab) != DDPM_OK;
    h5io_attr_f64(L.file, ".", "wall_seconds", ddpm_now() - t0);
    if (!isnan(a.measured_ips)) h5io_attr_f64(L.file, ".", "measured_images_per_s", a.measured_ips);
    if (runlog_close(&L) != DDPM_OK || bad) {
        fprintf(stderr, "exp_table1: %s\n", ddpm_last_error());
        return 1;
    }
    printf("exp_table1: wrote %s and %s (%s)\n", tab.md_path, tab.csv_path, el);
    return 0;
}
