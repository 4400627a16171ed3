/* exp_table2 — Table 2 of Ho et al. 2020: the objective x parameterisation ablation.
 *
 * Trains (or reuses) the six variants at the chosen tier, evaluates each EMA model (NLL with
 * all T terms on the tier's test subset, a sample grid, FD/IS with the tier's extractor), and
 * writes results/<tier>/table2/: table.md, table.csv, samples_<variant>.png, log.h5 and the runs'
 * logs. Unstable runs are reported with the step at which the loss became non-finite. With
 * --ckpt it trains nothing: the given model is evaluated as the row of its variant. The paper's
 * numbers come from paper/table2.csv. */
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
    const char *variant, *mean, *var, *loss;
    char objective[96], param[64];
    double paper_is, paper_is_std, paper_fid; /* NaN: the paper reports the run as unstable */
} table2_row;

static table2_row ROWS[6] = {
    { .variant = "xprev-learned-kl", .mean = "xprev", .var = "learned", .loss = "kl" },
    { .variant = "xprev-fixedlarge-kl", .mean = "xprev", .var = "fixedlarge", .loss = "kl" },
    { .variant = "xprev-fixedlarge-mse", .mean = "xprev", .var = "fixedlarge", .loss = "mse" },
    { .variant = "eps-learned-kl", .mean = "eps", .var = "learned", .loss = "kl" },
    { .variant = "eps-fixedlarge-kl", .mean = "eps", .var = "fixedlarge", .loss = "kl" },
    { .variant = "eps-fixedlarge-mse", .mean = "eps", .var = "fixedlarge", .loss = "mse" },
};

/* The paper's numbers and row names (paper/table2.csv). */
static int load_paper(void)
{
    paper_csv t;
    DDPM_TRY(paper_csv_load(&t, "paper/table2.csv"));
    int rc = DDPM_OK;
    for (int i = 0; i < 6 && rc == DDPM_OK; i++) {
        int row;
        const char *obj, *par;
        rc = paper_csv_row(&t, "variant", ROWS[i].variant, &row);
        if (rc == DDPM_OK) rc = paper_csv_str(&t, row, "objective", &obj);
        if (rc == DDPM_OK) rc = paper_csv_str(&t, row, "parameterization", &par);
        if (rc == DDPM_OK) rc = paper_csv_num(&t, row, "is", &ROWS[i].paper_is);
        if (rc == DDPM_OK) rc = paper_csv_num(&t, row, "is_std", &ROWS[i].paper_is_std);
        if (rc == DDPM_OK) rc = paper_csv_num(&t, row, "fid", &ROWS[i].paper_fid);
        if (rc == DDPM_OK) {
            snprintf(ROWS[i].objective, sizeof ROWS[i].objective, "%s", obj);
            snprintf(ROWS[i].param, sizeof ROWS[i].param, "%s", par);
        }
    }
    paper_csv_free(&t);
    return rc;
}

int main(int argc, char **argv)
{
    h5io_init();
    driver_args a;
    int rc =
        driver_parse(&a, "table2", "Table 2: objective x mean parameterisation ablation (six variants).", argc, argv);
    if (rc) return rc < 0 ? 0 : rc;
    double t0 = ddpm_now();
    variant_result res[6];
    int done[6] = { 0 };
    runlog L;
    if (load_paper() != DDPM_OK || driver_begin(&a, "table2", &L, argc, argv) != DDPM_OK) {
        fprintf(stderr, "exp_table2: %s\n", ddpm_last_error());
        return 1;
    }
    int failed = 0, ndone = 0;
    const char *names[6];
    for (int i = 0; i < 6; i++) names[i] = ROWS[i].variant;
    int nsel = driver_count_selected(&a, names, 6);
    int ckpt_row = -1;
    variant_result given;
    if (a.ckpt) {
        /* The given model is the row of its variant (the others are listed with the paper's numbers). */
        ddpm_config gcfg;
        if (driver_ckpt_variant(&a, &given, &gcfg) != DDPM_OK) {
            fprintf(stderr, "exp_table2: %s\n", ddpm_last_error());
            return 1;
        }
        for (int i = 0; i < 6; i++)
            if (!strcmp(ROWS[i].variant, given.variant)) ckpt_row = i;
        if (ckpt_row < 0) {
            fprintf(stderr, "exp_table2: %s is a %s model, not one of Table 2's six variants\n", a.ckpt, given.variant);
            return 1;
        }
        nsel = 1;
    }
    for (int i = 0; i < 6; i++) {
        if (a.ckpt ? i != ckpt_row : !driver_selected(&a, ROWS[i].variant)) continue;
        ddpm_config cfg;
        fprintf(stderr, "\n== table2 [%s] variant %d/6: %s%s%s ==\n", a.tier.name, i + 1, ROWS[i].variant,
                a.ckpt ? ", given model " : "", a.ckpt ? a.ckpt : "");
        if (a.ckpt) {
            res[i] = given;
        } else if (driver_variant_config(&a, ROWS[i].mean, ROWS[i].var, ROWS[i].loss, &cfg) != DDPM_OK ||
                   experiment_train(&a.tier, &cfg, &res[i], argc, argv) != DDPM_OK) {
            fprintf(stderr, "exp_table2: %s: %s\n", ROWS[i].variant, ddpm_last_error());
            failed = 1;
            break;
        }
        if (!a.train_only) {
            char png[700];
            snprintf(png, sizeof png, "%s/samples_%s.png", a.out_dir, ROWS[i].variant);
            if (driver_eval_cost(&a, "table2", &res[i].cfg, 0) != DDPM_OK ||
                experiment_evaluate(&a.req, &res[i], 0, png) != DDPM_OK) {
                fprintf(stderr, "exp_table2: %s: %s\n", ROWS[i].variant, ddpm_last_error());
                failed = 1;
                break;
            }
        }
        done[i] = 1;
        if (a.train_only) continue;
        if (driver_log_variant(L.file, &a, &res[i]) != DDPM_OK || runlog_maybe_flush(&L, 1) != DDPM_OK) {
            fprintf(stderr, "exp_table2: %s\n", ddpm_last_error());
            failed = 1;
            break;
        }
        driver_report_variant("table2", &res[i], ++ndone, nsel, t0);
    }
    if (failed || a.train_only) {
        if (L.file >= 0) runlog_close(&L);
        if (!failed) printf("exp_table2: runs trained under %s\n", a.tier.runs_dir);
        return failed;
    }

    /* The table, ours beside the paper's. */
    driver_tables tab;
    if (driver_open_tables(&a, &tab) != DDPM_OK) {
        fprintf(stderr, "exp_table2: %s\n", ddpm_last_error());
        return 1;
    }
    FILE *md = tab.md, *csv = tab.csv;
    const char *fdn, *isn, *ext;
    driver_metric_names(res, done, 6, &fdn, &isn, &ext);
    char ref[800], fdnote[200];
    eval_request_ref_text(&a.req, ref, sizeof ref);
    driver_fd_note(&a, fdn, fdnote, sizeof fdnote);
    fprintf(md,
            "# Table 2 — tier `%s`%s%s\n\nOurs: NLL bound in bits/dim on the first %d test images (all T terms), "
            "%s / %s of %d samples (extractor: %s; reference: %s). Paper: CIFAR-10, IS / FID of 50k samples.\n\n",
            a.tier.name, a.ckpt ? ", given model " : "", a.ckpt ? a.ckpt : "", a.req.bpd_n, fdn, isn, a.req.samples_n,
            ext, ref);
    if (fdnote[0]) fprintf(md, "**%s.**\n\n", fdnote);
    fprintf(md,
            "| objective | parameterisation | variant | outcome | NLL (bpd) | %s | %s | paper IS | paper FID | train "
            "time |\n",
            fdn, isn);
    fprintf(md, "|---|---|---|---|---|---|---|---|---|---|\n");
    fprintf(csv,
            "variant,mean,var,loss,outcome,diverged_step,train_steps,bpd,fd,is,is_std,extractor,paper_is,paper_is_std,"
            "paper_fid,train_seconds,samples_n,nll_test_n,ckpt\n");
    for (int i = 0; i < 6; i++) {
        char pis[64], pfid[48];
        if (isnan(ROWS[i].paper_is)) snprintf(pis, sizeof pis, "– (unstable)");
        else snprintf(pis, sizeof pis, "%.2f±%.2f", ROWS[i].paper_is, ROWS[i].paper_is_std);
        if (isnan(ROWS[i].paper_fid)) snprintf(pfid, sizeof pfid, "– (unstable)");
        else snprintf(pfid, sizeof pfid, "%.2f", ROWS[i].paper_fid);
        if (!done[i]) {
            /* Left out by --only: listed so the table always shows the paper's six rows. */
            fprintf(md, "| %s | %s | %s | not run here (%s) | | | | %s | %s | |\n", ROWS[i].objective, ROWS[i].param,
                    ROWS[i].variant, a.ckpt ? "not the given model's variant" : "`--only`", pis, pfid);
            continue;
        }
        const variant_result *r = &res[i];
        char b[8][48], outcome[64];
        if (r->outcome == TRAIN_DIVERGED)
            snprintf(outcome, sizeof outcome, "unstable (NaN at step %lld)", (long long)r->diverged_step);
        else if (a.ckpt) snprintf(outcome, sizeof outcome, "given checkpoint (step %lld)", (long long)r->steps);
        else snprintf(outcome, sizeof outcome, "trained %lld steps", (long long)r->steps);
        format_duration(r->train_seconds, b[7], 48);
        char isbuf[64];
        if (isnan(r->q.is_mean)) snprintf(isbuf, sizeof isbuf, "n/a");
        else snprintf(isbuf, sizeof isbuf, "%.2f±%.2f", r->q.is_mean, r->q.is_std);
        fprintf(md, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", ROWS[i].objective, ROWS[i].param,
                r->variant, outcome, fmt_num(b[0], 48, "%.3f", r->bpd_test), fmt_num(b[1], 48, "%.3f", r->q.fd), isbuf,
                pis, pfid, isnan(r->train_seconds) ? "n/a" : b[7]);
        fprintf(csv, "%s,%s,%s,%s,%s,%lld,%lld,%.6g,%.6g,%.6g,%.6g,%s,%.6g,%.6g,%.6g,%.1f,%d,%d,\"%s\"\n", r->variant,
                ROWS[i].mean, ROWS[i].var, ROWS[i].loss, train_outcome_name(r->outcome), (long long)r->diverged_step,
                (long long)r->steps, r->bpd_test, r->q.fd, r->q.is_mean, r->q.is_std,
                r->q.available ? r->q.extractor : "none", ROWS[i].paper_is, ROWS[i].paper_is_std, ROWS[i].paper_fid,
                r->train_seconds, a.req.samples_n, a.req.bpd_n, a.ckpt ? a.ckpt : "");
        printf("%-22s %-28s NLL %s bpd  %s %s  %s %s\n", r->variant, outcome, b[0], fdn, b[1], isn, isbuf);
    }
    char el[32];
    fprintf(md,
            "\nSamples: `samples_<variant>.png`. Logs: `log.h5` (this experiment) and `logs/<variant>.h5` "
            "(training runs). Wall time of this invocation: %s.\n",
            format_duration(ddpm_now() - t0, el, sizeof el));
    int bad = driver_close_tables(&tab) != DDPM_OK;
    h5io_attr_f64(L.file, ".", "wall_seconds", ddpm_now() - t0);
    if (runlog_close(&L) != DDPM_OK || bad) {
        fprintf(stderr, "exp_table2: %s\n", ddpm_last_error());
        return 1;
    }
    printf("exp_table2: wrote %s, %s, sample grids and logs in %s (%s)\n", tab.md_path, tab.csv_path, a.out_dir, el);
    return 0;
}
