#include "driver.h"

#include "core/common.h"
#include "core/fs.h"
#include "core/progress.h"
#include "io/h5io.h"
#include "io/provenance.h"
#include "io/runlog.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int driver_parse(driver_args *a, const char *experiment, const char *summary, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    const char *tier = "mini";
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            printf("usage: %s [--tier smoke|mini|paper] [--only VARIANT]... [--set k=v]... [--train-only]\n%s\n"
                   "  --tier T        experiments/configs/T/base.cfg and the tier's evaluation sizes (default mini)\n"
                   "  --only V        run only variant V (mean-var-loss, e.g. eps-fixedlarge-mse); repeatable\n"
                   "  --set k=v       override a config key of every variant (changes the run hashes)\n"
                   "  --train-only    train (or resume) the runs, skip evaluation and tables\n"
                   "Runs are reused from runs/<tier>/ (DDPM_RUNS_DIR); outputs go to results/<tier>/%s/.\n",
                   argv[0], summary, experiment);
            return -1;
        } else if (!strcmp(s, "--tier") && has) {
            tier = argv[++i];
        } else if (!strcmp(s, "--only") && has) {
            const char *v = argv[++i];
            if (!variant_name_valid(v)) {
                fprintf(stderr, "%s: --only %s: not a variant name (mean-var-loss: xprev|xstart|eps, "
                                "learned|fixedsmall|fixedlarge, kl|mse; e.g. eps-fixedlarge-mse)\n", argv[0], v);
                return 2;
            }
            if (a->nonly < 16) a->only[a->nonly++] = v;
        } else if (!strcmp(s, "--set") && has) {
            if (a->nsets < 32) a->sets[a->nsets++] = argv[++i];
        } else if (!strcmp(s, "--train-only")) {
            a->train_only = 1;
        } else {
            fprintf(stderr, "%s: unknown or incomplete option '%s' (see --help)\n", argv[0], s);
            return 2;
        }
    }
    if (tier_get(tier, &a->tier) != DDPM_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], ddpm_last_error());
        return 2;
    }
    experiment_catch_signals();
    snprintf(a->out_dir, sizeof a->out_dir, "%s/%s", a->tier.results_dir, experiment);
    if (a->nonly || a->nsets) {
        /* A selection or an override is not the experiment: its table goes beside the full one,
         * in a directory named for what was asked, and says so in its first line. */
        uint64_t h = 1469598103934665603ULL;
        size_t o = 0;
        for (int i = 0; i < a->nonly + a->nsets; i++) {
            const char *s = i < a->nonly ? a->only[i] : a->sets[i - a->nonly];
            if (o < sizeof a->custom) /* the text is for people: cut if long; the hash below sees it all */
                o += (size_t)snprintf(a->custom + o, sizeof a->custom - o, "%s%s %s", o ? " " : "",
                                      i < a->nonly ? "--only" : "--set", s);
            for (const unsigned char *p = (const unsigned char *)s; *p; p++) h = (h ^ *p) * 1099511628211ULL;
            h = (h ^ (unsigned)(i < a->nonly)) * 1099511628211ULL;
        }
        snprintf(a->out_dir, sizeof a->out_dir, "%s/%s-custom-%08llx", a->tier.results_dir, experiment,
                 (unsigned long long)(h & 0xffffffffULL));
        fprintf(stderr, "%s: %s is a custom selection: results go to %s/ (the full table in %s/%s/ is left as it is)\n",
                argv[0], a->custom, a->out_dir, a->tier.results_dir, experiment);
    }
    return 0;
}

void driver_report_variant(const char *experiment, const variant_result *r, int ndone, int nselected, double t0)
{
    char tr[32], ev[32], left[32];
    double el = ddpm_now() - t0;
    format_duration(el / ndone * (nselected - ndone), left, sizeof left);
    fprintf(stderr, "%s: %s done: NLL %.4f bits/dim, %s %.4g, %s %.3g (training %s, evaluation %s); %d of %d variants "
                    "done%s%s\n", experiment, r->variant, r->bpd_test, r->q.available ? r->q.fd_name : "FD",
            r->q.available ? r->q.fd : NAN, r->q.available ? r->q.is_name : "IS", r->q.available ? r->q.is_mean : NAN,
            format_duration(r->train_seconds, tr, sizeof tr), format_duration(r->eval_seconds, ev, sizeof ev), ndone,
            nselected, ndone < nselected ? ", about " : "", ndone < nselected ? left : "");
    if (ndone < nselected) fprintf(stderr, "  (remaining time at this invocation's rate so far; reused runs cost nothing)\n");
}

int driver_count_selected(const driver_args *a, const char *const *variants, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) k += driver_selected(a, variants[i]);
    return k;
}

int variant_name_valid(const char *v)
{
    static const char *const MEAN[] = { "xprev", "xstart", "eps" }, *const VAR[] = { "learned", "fixedsmall", "fixedlarge" },
                      *const LOSS[] = { "kl", "mse" };
    char buf[64];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++) {
                snprintf(buf, sizeof buf, "%s-%s-%s", MEAN[i], VAR[j], LOSS[k]);
                if (!strcmp(buf, v)) return 1;
            }
    return 0;
}

int driver_selected(const driver_args *a, const char *variant)
{
    if (a->nonly == 0) return 1;
    for (int i = 0; i < a->nonly; i++)
        if (!strcmp(a->only[i], variant)) return 1;
    return 0;
}

const char *fmt_num(char *buf, size_t n, const char *fmt, double v)
{
    if (isnan(v)) snprintf(buf, n, "n/a");
    else snprintf(buf, n, fmt, v);
    return buf;
}

int driver_log_variant(hid_t log, const driver_args *a, const variant_result *r)
{
    char g[128];
    snprintf(g, sizeof g, "variants/%s", r->variant);
    DDPM_TRY(h5io_mkgroup(log, g));
    const char *word = train_outcome_name(r->outcome);
    char hex[17];
    config_hash(&r->cfg, hex);
    DDPM_TRY(h5io_attr_str(log, g, "outcome", word));
    DDPM_TRY(h5io_attr_i64(log, g, "diverged_step", r->diverged_step));
    DDPM_TRY(h5io_attr_i64(log, g, "train_steps", r->steps));
    DDPM_TRY(h5io_attr_str(log, g, "run_dir", r->run_dir));
    DDPM_TRY(h5io_attr_str(log, g, "config_hash", hex));
    DDPM_TRY(h5io_attr_f64(log, g, "train_seconds", r->train_seconds));
    DDPM_TRY(h5io_attr_f64(log, g, "eval_seconds", r->eval_seconds));
    DDPM_TRY(h5io_attr_f64(log, g, "bpd_test", r->bpd_test));
    DDPM_TRY(h5io_attr_f64(log, g, "bpd_train", r->bpd_train));
    DDPM_TRY(h5io_attr_str(log, g, "extractor", r->q.available ? r->q.extractor : "none"));
    DDPM_TRY(h5io_attr_f64(log, g, "fd", r->q.fd));
    DDPM_TRY(h5io_attr_f64(log, g, "is_mean", r->q.is_mean));
    DDPM_TRY(h5io_attr_f64(log, g, "is_std", r->q.is_std));
    DDPM_TRY(write_config_attrs(log, g, &r->cfg));
    /* Per-t means of the likelihood terms (the bpd-per-t profile), from the evaluation cache. */
    char evalp[700];
    snprintf(evalp, sizeof evalp, "%s/eval.h5", r->run_dir);
    if (!isnan(r->bpd_test) && access(evalp, F_OK) == 0) {
        hid_t e = h5io_open(evalp, 0);
        double *terms = NULL, *mse = NULL;
        int rank;
        hsize_t d[H5IO_MAX_RANK];
        int rc = e < 0 ? DDPM_ERR : h5io_read_f64(e, "bpd_test/terms_bpd", &terms, &rank, d);
        if (rc == DDPM_OK) rc = h5io_read_f64(e, "bpd_test/mse", &mse, NULL, NULL);
        if (e >= 0) h5io_close(e);
        if (rc == DDPM_OK) {
            int n = (int)d[0], T = (int)d[1];
            for (int t = 0; t < T; t++) {
                double sa = 0, sb = 0;
                for (int i = 0; i < n; i++) {
                    sa += terms[(size_t)i * T + t];
                    sb += mse[(size_t)i * T + t];
                }
                terms[t] = sa / n;
                mse[t] = sb / n;
            }
            hsize_t dt[1] = { (hsize_t)T };
            char nm[200];
            snprintf(nm, sizeof nm, "%s/terms_bpd_mean", g);
            rc = h5io_write_f64(log, nm, terms, 1, dt);
            snprintf(nm, sizeof nm, "%s/mse_mean", g);
            if (rc == DDPM_OK) rc = h5io_write_f64(log, nm, mse, 1, dt);
        }
        ddpm_free(terms);
        ddpm_free(mse);
        DDPM_TRY(rc);
    }
    char from[700], dir[600], to[700];
    snprintf(from, sizeof from, "%s/log.h5", r->run_dir);
    snprintf(dir, sizeof dir, "%s/logs", a->out_dir);
    snprintf(to, sizeof to, "%s/%s.h5", dir, r->variant);
    if (access(from, F_OK) == 0) {
        DDPM_TRY(fs_mkdir_p(dir, NULL));
        DDPM_TRY(fs_copy_file(from, to));
    }
    return DDPM_OK;
}

int driver_variant_config(const driver_args *a, const char *mean, const char *var, const char *loss, ddpm_config *cfg)
{
    const char *sets[40];
    char s1[64], s2[64], s3[64];
    int ns = 0;
    for (int k = 0; k < a->nsets; k++) sets[ns++] = a->sets[k];
    snprintf(s1, sizeof s1, "model_mean_type=%s", mean);
    snprintf(s2, sizeof s2, "model_var_type=%s", var);
    snprintf(s3, sizeof s3, "loss_type=%s", loss);
    sets[ns++] = s1;
    sets[ns++] = s2;
    sets[ns++] = s3;
    return tier_config(&a->tier, sets, ns, cfg);
}

int driver_begin(driver_args *a, const char *experiment, runlog *L, int argc, char **argv)
{
    memset(L, 0, sizeof *L);
    L->file = H5I_INVALID_HID;
    ddpm_config base;
    DDPM_TRY(tier_config(&a->tier, a->sets, a->nsets, &base));
    DDPM_TRY(tier_check_data(&a->tier, &base));
    /* What the job costs, before it starts (each loop then shows its own rate and ETA). */
    const long long T = base.num_diffusion_timesteps;
    const int nll_n = a->tier.bpd_n + (!strcmp(experiment, "table1") ? a->tier.bpd_train_n : 0); /* Table 1: train NLL too */
    fprintf(stderr, "%s [%s]: per variant %lld training steps of batch %d%s, then NLL of %d images x %lld terms "
                    "and %d samples x %lld steps (%lld network forwards, batch %d); finished runs and evaluations "
                    "are reused, and every loop prints its ETA. Cost per variant on 2 cores: README, Tiers.\n",
            experiment, a->tier.name, (long long)base.train_steps, base.batch_size, a->train_only ? " (training only)" : "",
            nll_n, T, a->tier.samples_n, T, (long long)(nll_n + a->tier.samples_n) * T, a->tier.batch);
    if (a->train_only) return DDPM_OK;
    DDPM_TRY(fs_mkdir_p(a->out_dir, NULL));
    char logp[700];
    snprintf(logp, sizeof logp, "%s/log.h5", a->out_dir);
    DDPM_TRY(runlog_open(L, logp, &base, argc, argv, 0));
    DDPM_TRY(h5io_attr_str(L->file, ".", "experiment", experiment));
    return h5io_attr_str(L->file, ".", "tier", a->tier.name);
}

int driver_open_lsimple(driver_args *a, int argc, char **argv, variant_result *r, ddpm_config *cfg)
{
    DDPM_TRY(driver_variant_config(a, "eps", "fixedlarge", "mse", cfg));
    DDPM_TRY(tier_check_data(&a->tier, cfg));
    if (!a->train_only) DDPM_TRY(fs_mkdir_p(a->out_dir, NULL));
    DDPM_TRY(experiment_train(&a->tier, cfg, r, argc, argv));
    if (r->outcome == TRAIN_DIVERGED)
        return ddpm_error("the L_simple run %s diverged at step %lld; nothing to show", r->run_dir, (long long)r->diverged_step);
    return DDPM_OK;
}

int driver_open_tables(const driver_args *a, driver_tables *t)
{
    char tmp[720];
    snprintf(t->md_path, sizeof t->md_path, "%s/table.md", a->out_dir);
    snprintf(t->csv_path, sizeof t->csv_path, "%s/table.csv", a->out_dir);
    fs_tmp_path(t->md_path, tmp, sizeof tmp);
    t->md = fopen(tmp, "w");
    fs_tmp_path(t->csv_path, tmp, sizeof tmp);
    t->csv = fopen(tmp, "w");
    if (!t->md || !t->csv) {
        if (t->md) fclose(t->md);
        if (t->csv) fclose(t->csv);
        return ddpm_error("%s: cannot write the result tables (%s)", a->out_dir, strerror(errno));
    }
    if (a->custom[0]) fprintf(t->md, "> Custom run (%s): not the full experiment.\n\n", a->custom);
    return DDPM_OK;
}

int driver_close_tables(driver_tables *t)
{
    int bad = fclose(t->md) != 0;
    bad |= fclose(t->csv) != 0;
    if (bad) return ddpm_error("%s: writing the result tables failed (disk full?)", t->md_path);
    char tmp[720];
    fs_tmp_path(t->md_path, tmp, sizeof tmp);
    DDPM_TRY(fs_commit(tmp, t->md_path));
    fs_tmp_path(t->csv_path, tmp, sizeof tmp);
    return fs_commit(tmp, t->csv_path);
}

void driver_metric_names(const variant_result *res, const int *done, int n, const char **fd_name,
                         const char **is_name, const char **extractor)
{
    *fd_name = "FD";
    *is_name = "IS";
    *extractor = "none";
    for (int i = 0; i < n; i++)
        if (done[i] && res[i].q.available) {
            *fd_name = res[i].q.fd_name;
            *is_name = res[i].q.is_name;
            *extractor = res[i].q.extractor;
            return;
        }
}
