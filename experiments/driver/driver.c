#include "driver.h"

#include "core/common.h"
#include "core/fs.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "eval/ddpm_model.h"
#include "eval/mpi_launch.h"
#include "train/checkpoint.h"
#include "io/h5io.h"
#include "io/provenance.h"
#include "io/runlog.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_opt DRIVER_OPTS[] = {
    { "tier", "T", "smoke|mini|paper: experiments/configs/T/base.cfg and the tier's evaluation sizes (default mini)" },
    { "only", "V", "run only variant V (mean-var-loss, e.g. eps-fixedlarge-mse); repeatable" },
    { "train-only", NULL, "train (or resume) the runs, skip evaluation and tables" },
    { "ckpt", "FILE",
      "evaluate this checkpoint (make CKPT=; e.g. `ddpm convert` of a released model) and train "
      "nothing: the model's config is the checkpoint's (--set data_dir=DIR only)" },
    { "samples", "N", "samples for the grid and FD/IS (make N_SAMPLES=; default the tier's, paper 50000)" },
    { "nll-n", "N",
      "test images, and train images for Table 1, of the NLL (make NLL_N=; default the tier's, paper 10000)" },
    { "ref-stats", "FILE",
      "FD reference statistics (make REF_STATS=): an .npz with mu/sigma (TTUR's "
      "fid_stats_cifar10_train.npz) or `ddpm stats` output; default: the training set's" },
    { "row", "NAME",
      "Table 3: the paper's row of the model (church|bedroom|bedroom_large|cat; default from the file name)" },
    { 0 },
};

/* FNV-1a 64 of a file's bytes (the checkpoint's identity). */
static int file_hash8(const char *path, char out[9])
{
    FILE *f = fopen(path, "rb");
    if (!f) return ddpm_error("%s: cannot read the checkpoint (%s)", path, strerror(errno));
    uint64_t h = 1469598103934665603ULL;
    unsigned char *buf = ddpm_alloc(1 << 20);
    if (!buf) {
        fclose(f);
        return DDPM_ERR;
    }
    size_t k;
    while ((k = fread(buf, 1, 1 << 20, f)) > 0)
        for (size_t i = 0; i < k; i++) h = (h ^ buf[i]) * 1099511628211ULL;
    int bad = ferror(f);
    fclose(f);
    ddpm_free(buf);
    if (bad) return ddpm_error("%s: read error", path);
    snprintf(out, 9, "%08llx", (unsigned long long)((h ^ (h >> 32)) & 0xffffffffULL));
    return DDPM_OK;
}

static int parse_count(const cli_args *c, const char *name, int dflt, int *out)
{
    long long v;
    if (cli_get_int(c, name, dflt, &v)) return 2;
    if (v < 0 || v > 100000000) {
        fprintf(stderr, "%s: --%s %lld: give a count from 0 to 100000000\n", c->prog, name, v);
        return 2;
    }
    *out = (int)v;
    return 0;
}

int driver_parse(driver_args *a, const char *experiment, const char *summary, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->measured_ips = (double)NAN;
    static const char *const repeatable[] = { "only", NULL };
    static char usage[160];
    snprintf(usage, sizeof usage,
             "[--tier smoke|mini|paper] [--only VARIANT]... [--set k=v]... [--train-only] "
             "[--ckpt FILE] [--samples N] [--nll-n N] [--ref-stats FILE]");
    cli_args *c = &a->cli;
    c->cmd = experiment;
    c->prog = argv[0];
    c->usage = usage;
    c->summary = summary;
    /* --row is Table 3's alone (the last entry): the other drivers neither list nor take it */
    static cli_opt opts[DDPM_ARRAY_LEN(DRIVER_OPTS)];
    memcpy(opts, DRIVER_OPTS, sizeof opts);
    if (strcmp(experiment, "table3")) memset(&opts[DDPM_ARRAY_LEN(DRIVER_OPTS) - 2], 0, sizeof opts[0]);
    c->opts = opts;
    c->repeatable = repeatable;
    c->set_help = "override a config key of every variant (changes the run hashes); with --ckpt only data_dir=DIR";
    /* -h is the old spelling of --help */
    char *args[256];
    int n = argc < 256 ? argc : 256;
    for (int i = 0; i < n; i++) args[i] = !strcmp(argv[i], "-h") ? (char *)"--help" : argv[i];
    int rc = cli_parse(c, n, args);
    if (rc < 0) {
        printf(
            "Runs are reused from runs/<tier>/ (DDPM_RUNS_DIR); outputs go to results/<tier>/%s/ (DDPM_RESULTS_DIR),\n"
            "results/<tier>/%s-ckpt-<hash>/ with --ckpt (its evaluation cache: runs/<tier>/ckpt-<hash>/eval.h5).\n"
            "Make variables: TIER=, CKPT=, N_SAMPLES=, NLL_N=, REF_STATS=, MPI_NP= / MPIRUN=, GRAD_BLOCKS= (README).\n",
            experiment, experiment);
        return -1;
    }
    if (rc) return rc;
    a->nonly = cli_get_all(c, "only", a->only, 16);
    for (int i = 0; i < a->nonly; i++)
        if (!variant_name_valid(a->only[i])) {
            fprintf(stderr,
                    "%s: --only %s: not a variant name (mean-var-loss: xprev|xstart|eps, "
                    "learned|fixedsmall|fixedlarge, kl|mse; e.g. eps-fixedlarge-mse)\n",
                    argv[0], a->only[i]);
            return 2;
        }
    if (c->nsets > 32) {
        fprintf(stderr, "%s: at most 32 --set\n", argv[0]);
        return 2;
    }
    for (int i = 0; i < c->nsets; i++) a->sets[a->nsets++] = c->sets[i];
    a->train_only = cli_flag(c, "train-only");
    a->ckpt = cli_get(c, "ckpt");
    a->row = cli_get(c, "row");
    if (a->ckpt && (a->nonly || a->train_only)) {
        fprintf(stderr,
                "%s: --ckpt evaluates the given model: it takes no --only%s (the variant is the checkpoint's)\n",
                argv[0], a->train_only ? " and no --train-only" : "");
        return 2;
    }
    const char *tier = cli_get(c, "tier");
    if (tier_get(tier ? tier : "mini", &a->tier) != DDPM_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], ddpm_last_error());
        return 2;
    }
    eval_request_of_tier(&a->tier, &a->req);
    int nll;
    if (parse_count(c, "samples", a->tier.samples_n, &a->req.samples_n) || parse_count(c, "nll-n", a->tier.bpd_n, &nll))
        return 2;
    if (cli_get(c, "nll-n")) a->req.bpd_n = a->req.bpd_train_n = nll;
    const char *ref = cli_get(c, "ref-stats");
    if (ref) {
        if (access(ref, R_OK) != 0) {
            fprintf(stderr, "%s: --ref-stats %s: cannot read it (%s)\n", argv[0], ref, strerror(errno));
            return 1;
        }
        snprintf(a->req.ref_stats, sizeof a->req.ref_stats, "%s", ref);
        a->req.ref_given = 1;
    }
    experiment_catch_signals();
    if (a->ckpt) {
        if (file_hash8(a->ckpt, a->ckpt_id) != DDPM_OK) {
            fprintf(stderr, "%s: %s\n", argv[0], ddpm_last_error());
            return 1;
        }
        snprintf(a->out_dir, sizeof a->out_dir, "%s/%s-ckpt-%s", a->tier.results_dir, experiment, a->ckpt_id);
    } else {
        snprintf(a->out_dir, sizeof a->out_dir, "%s/%s", a->tier.results_dir, experiment);
    }
    /* A selection or an override is not the experiment: its table goes beside the full one, in a
     * directory named for what was asked, and says so in its first line. With --ckpt the counts and
     * --set data_dir do not make a selection (the directory is the model's; the table records the
     * counts and the data, and the evaluation cache is keyed by both). */
    const char *words[64], *vals[64];
    int nw = 0;
    for (int i = 0; i < a->nonly; i++) {
        words[nw] = "--only";
        vals[nw++] = a->only[i];
    }
    for (int i = 0; i < a->nsets && !a->ckpt; i++) {
        words[nw] = "--set";
        vals[nw++] = a->sets[i];
    }
    static const char *const COUNT_OPTS[] = { "samples", "nll-n", "ref-stats" };
    static char optw[3][16];
    for (int k = 0; k < 3 && !a->ckpt; k++)
        if (cli_get(c, COUNT_OPTS[k])) {
            snprintf(optw[k], sizeof optw[k], "--%s", COUNT_OPTS[k]);
            words[nw] = optw[k];
            vals[nw++] = cli_get(c, COUNT_OPTS[k]);
        }
    if (nw) {
        uint64_t h = 1469598103934665603ULL;
        size_t o = 0;
        for (int i = 0; i < nw; i++) {
            if (o < sizeof a->custom) /* the text is for people: cut if long; the hash below sees it all */
                o += (size_t)snprintf(a->custom + o, sizeof a->custom - o, "%s%s %s", o ? " " : "", words[i], vals[i]);
            const int is_only = !strcmp(words[i], "--only"), is_set = !strcmp(words[i], "--set");
            if (!is_only && !is_set) /* the count options: their name too */
                for (const unsigned char *p = (const unsigned char *)words[i]; *p; p++) h = (h ^ *p) * 1099511628211ULL;
            for (const unsigned char *p = (const unsigned char *)vals[i]; *p; p++) h = (h ^ *p) * 1099511628211ULL;
            h = (h ^ (unsigned)(is_only ? 1 : is_set ? 0 : 2)) * 1099511628211ULL;
        }
        char base[512];
        snprintf(base, sizeof base, "%s", a->out_dir);
        snprintf(a->out_dir, sizeof a->out_dir, "%.480s-custom-%08llx", base, (unsigned long long)(h & 0xffffffffULL));
        fprintf(stderr, "%s: %s is a custom selection: results go to %s/ (the full table in %s/ is left as it is)\n",
                argv[0], a->custom, a->out_dir, base);
    }
    return 0;
}

int driver_ckpt_variant(driver_args *a, variant_result *r, ddpm_config *cfg)
{
    ddpm_config base;
    DDPM_TRY(checkpoint_read_config(a->ckpt, &base));
    if (cli_config_of_model(&a->cli, &base, a->ckpt, cfg) != 0)
        return ddpm_error("%s: the config asked for does not fit the checkpoint (see above)", a->ckpt);
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    r->bpd_test = r->bpd_train = (double)NAN;
    r->q.fd = r->q.is_mean = r->q.is_std = (double)NAN;
    r->diverged_step = -1;
    r->train_seconds = (double)NAN;
    r->outcome = TRAIN_FINISHED;
    config_variant_name(cfg, r->variant, sizeof r->variant);
    snprintf(r->ckpt, sizeof r->ckpt, "%s", a->ckpt);
    /* One cache per request (config, counts): Table 3's samples-only request does not replace the
     * cache Tables 1, 2 and 4 share. */
    char hex[17];
    config_hash(cfg, hex);
    snprintf(r->run_dir, sizeof r->run_dir, "%s/ckpt-%s/%.8s-s%d-nll%d-%d", a->tier.runs_dir, a->ckpt_id, hex,
             a->req.samples_n, a->req.bpd_n, a->req.bpd_train_n);
    int64_t step = -1;
    if (checkpoint_read_step(a->ckpt, &step) != DDPM_OK) ddpm_clear_error();
    r->steps = step;
    if (!a->no_data_check) DDPM_TRY(tier_check_data(&a->tier, cfg));
    DDPM_TRY(fs_mkdir_p(r->run_dir, NULL));
    if (!a->req.ref_given) {
        /* The reference statistics of this model's data set (its own file: a checkpoint's data set
         * need not be the tier's). */
        char text[1400];
        snprintf(text, sizeof text, "%s|%s|%d", dataset_name(cfg->dataset), config_data_dir(cfg), cfg->image_size);
        uint64_t h = 1469598103934665603ULL;
        for (const unsigned char *p = (const unsigned char *)text; *p; p++) h = (h ^ *p) * 1099511628211ULL;
        snprintf(a->req.ref_stats, sizeof a->req.ref_stats, "%s/reference_stats-%s-%08llx.h5", a->tier.runs_dir,
                 dataset_name(cfg->dataset), (unsigned long long)(h & 0xffffffffULL));
    }
    fprintf(stderr,
            "%s: evaluating the given checkpoint (variant %s, step %lld, %s %dx%d); nothing is trained; "
            "evaluation cache %s/eval.h5\n",
            a->ckpt, r->variant, (long long)step, dataset_name(cfg->dataset), cfg->image_size, cfg->image_size,
            r->run_dir);
    return DDPM_OK;
}

int driver_eval_cost(driver_args *a, const char *experiment, const ddpm_config *cfg, int with_train_nll)
{
    const eval_request *q = &a->req;
    const long long T = cfg->num_diffusion_timesteps;
    const long long nll = q->bpd_n + (with_train_nll ? q->bpd_train_n : 0);
    const long long fw_s = (long long)q->samples_n * T, fw_n = nll * T;
    int need = q->samples_n > q->bpd_n ? q->samples_n : q->bpd_n;
    int b = q->batch < need ? q->batch : need;
    if (b < 1) b = 1;
    /* A measurement, not a model of the machine: one warm-up forward, then timed forwards of the
     * network (random weights: the time does not depend on them) until 0.5 s or 3 forwards. */
    ddpm_model m;
    DDPM_TRY(ddpm_model_open(&m, cfg, NULL, "ema", b));
    float *x = ddpm_alloc((size_t)b * m.D * sizeof(float)),
          *y = ddpm_alloc((size_t)b * m.D * m.Cout / m.C * sizeof(float));
    int32_t *t = ddpm_alloc((size_t)b * sizeof(int32_t));
    int rc = (!x || !y || !t) ? DDPM_ERR : DDPM_OK;
    for (int i = 0; rc == DDPM_OK && i < b; i++) t[i] = (int32_t)((i * 7919) % T);
    for (size_t i = 0; rc == DDPM_OK && i < (size_t)b * m.D; i++)
        x[i] = (float)((int)(i * 2654435761u % 2001) - 1000) / 1000.0f;
    if (rc == DDPM_OK) rc = ddpm_model_denoise(&m, x, t, b, y);
    int k = 0;
    double t0 = ddpm_now(), el = 0;
    while (rc == DDPM_OK && k < 3 && (k < 1 || el < 0.5)) {
        rc = ddpm_model_denoise(&m, x, t, b, y);
        k++;
        el = ddpm_now() - t0;
    }
    ddpm_free(x);
    ddpm_free(y);
    ddpm_free(t);
    ddpm_model_close(&m);
    DDPM_TRY(rc);
    const double ips = el > 0 ? b * k / el : (double)NAN;
    a->measured_ips = ips;
    char ts[32], tsamp[32], tnll[32], tper[32];
    const double secs = (double)(fw_s + fw_n) / ips;
    format_duration(secs, ts, sizeof ts);
    format_duration((double)fw_s / ips, tsamp, sizeof tsamp);
    format_duration((double)fw_n / ips, tnll, sizeof tnll);
    fprintf(stderr,
            "%s [%s] cost of this evaluation: %d samples x %lld steps + %lld NLL images x %lld terms = %lld network "
            "forwards (cached pieces are not recomputed).\n  measured now: %.3g images/s (%d timed forwards of "
            "batch %d of this network on this machine, after one warm-up) -> about %s here (sampling %s, NLL %s); "
            "%.3g s per sample, %.3g s per NLL image.\n",
            experiment, q->tier, q->samples_n, T, nll, T, fw_s + fw_n, ips, k, b, ts, tsamp, tnll, T / ips, T / ips);
    const char *mr = mpi_launcher();
    format_duration(secs / 16, tper, sizeof tper);
    fprintf(stderr,
            "  under MPI each rank computes whole batches: P ranks take about %s / P if each rank has cores like "
            "these of its own (16 ranks: %s); %s\n",
            ts, tper,
            mr ? "the launcher here is set, but this 2-core machine has no cores for more ranks: they share the "
                 "same two and speed nothing up"
               : "on this 2-core machine extra ranks would share the same "
                 "cores and speed nothing up");
    return DDPM_OK;
}

const char *driver_fd_note(const driver_args *a, const char *fd_name, char *buf, size_t n)
{
    buf[0] = 0;
    if (a->req.samples_n >= 50000 || a->req.samples_n <= 0) return buf;
    if (!strcmp(a->tier.name, "paper") || !strcmp(fd_name, "FID"))
        snprintf(buf, n, "FID at N < 50k samples (biased upward): %d samples here, the paper's is of 50,000",
                 a->req.samples_n);
    else
        snprintf(buf, n, "%s at N < 50k samples (biased upward against a 50k-sample %s): %d samples here", fd_name,
                 fd_name, a->req.samples_n);
    return buf;
}

void driver_report_variant(const char *experiment, const variant_result *r, int ndone, int nselected, double t0)
{
    char tr[32], ev[32], left[32];
    double el = ddpm_now() - t0;
    format_duration(el / ndone * (nselected - ndone), left, sizeof left);
    fprintf(stderr,
            "%s: %s done: NLL %.4f bits/dim, %s %.4g, %s %.3g (training %s, evaluation %s); %d of %d variants "
            "done%s%s\n",
            experiment, r->variant, r->bpd_test, r->q.available ? r->q.fd_name : "FD",
            r->q.available ? r->q.fd : (double)NAN, r->q.available ? r->q.is_name : "IS",
            r->q.available ? r->q.is_mean : (double)NAN, format_duration(r->train_seconds, tr, sizeof tr),
            format_duration(r->eval_seconds, ev, sizeof ev), ndone, nselected, ndone < nselected ? ", about " : "",
            ndone < nselected ? left : "");
    if (ndone < nselected)
        fprintf(stderr, "  (remaining time at this invocation's rate so far; reused runs cost nothing)\n");
}

int driver_count_selected(const driver_args *a, const char *const *variants, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) k += driver_selected(a, variants[i]);
    return k;
}

int variant_name_valid(const char *v)
{
    static const char *const MEAN[] = { "xprev", "xstart", "eps" },
                             *const VAR[] = { "learned", "fixedsmall", "fixedlarge" }, *const LOSS[] = { "kl", "mse" };
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
    DDPM_TRY(h5io_attr_str(log, g, "ckpt", r->ckpt));
    DDPM_TRY(h5io_attr_i64(log, g, "samples_n", a->req.samples_n));
    DDPM_TRY(h5io_attr_i64(log, g, "nll_test_n", a->req.bpd_n));
    DDPM_TRY(h5io_attr_i64(log, g, "nll_train_n", isnan(r->bpd_train) ? 0 : a->req.bpd_train_n));
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
    const eval_request *q = &a->req;
    const int nll_n = q->bpd_n + (!strcmp(experiment, "table1") ? q->bpd_train_n : 0); /* Table 1: train NLL too */
    if (a->ckpt) {
        ddpm_config file;
        DDPM_TRY(checkpoint_read_config(a->ckpt, &file));
        if (cli_config_of_model(&a->cli, &file, a->ckpt, &base) != 0)
            return ddpm_error("%s: the config asked for does not fit the checkpoint (see above)", a->ckpt);
        if (!a->no_data_check) DDPM_TRY(tier_check_data(&a->tier, &base));
    } else {
        DDPM_TRY(tier_config(&a->tier, a->sets, a->nsets, &base));
        DDPM_TRY(tier_check_data(&a->tier, &base));
        /* What the job costs, before it starts (each loop then shows its own rate and ETA). */
        const long long T = base.num_diffusion_timesteps;
        fprintf(stderr,
                "%s [%s]: per variant %lld training steps of batch %d%s, then NLL of %d images x %lld terms "
                "and %d samples x %lld steps (%lld network forwards, batch %d); finished runs and evaluations "
                "are reused, and every loop prints its ETA. Cost per variant on 2 cores: README, Tiers.\n",
                experiment, a->tier.name, (long long)base.train_steps, base.batch_size,
                a->train_only ? " (training only)" : "", nll_n, T, q->samples_n, T,
                (long long)(nll_n + q->samples_n) * T, q->batch);
    }
    if (a->train_only) return DDPM_OK;
    DDPM_TRY(fs_mkdir_p(a->out_dir, NULL));
    char logp[700];
    snprintf(logp, sizeof logp, "%s/log.h5", a->out_dir);
    DDPM_TRY(runlog_open(L, logp, &base, argc, argv, 0));
    DDPM_TRY(h5io_attr_str(L->file, ".", "experiment", experiment));
    DDPM_TRY(driver_log_request(L->file, a));
    return h5io_attr_str(L->file, ".", "tier", a->tier.name);
}

int driver_log_request(hid_t log, const driver_args *a)
{
    const eval_request *q = &a->req;
    char ref[800];
    DDPM_TRY(h5io_attr_i64(log, ".", "samples_n", q->samples_n));
    DDPM_TRY(h5io_attr_i64(log, ".", "nll_test_n", q->bpd_n));
    DDPM_TRY(h5io_attr_i64(log, ".", "nll_train_n", q->bpd_train_n));
    DDPM_TRY(h5io_attr_str(log, ".", "fd_reference", eval_request_ref_text(q, ref, sizeof ref)));
    if (!isnan(a->measured_ips)) DDPM_TRY(h5io_attr_f64(log, ".", "measured_images_per_s", a->measured_ips));
    if (!a->ckpt) return DDPM_OK;
    DDPM_TRY(h5io_attr_str(log, ".", "ckpt", a->ckpt));
    return h5io_attr_str(log, ".", "ckpt_id", a->ckpt_id);
}

int driver_open_lsimple(driver_args *a, int argc, char **argv, variant_result *r, ddpm_config *cfg)
{
    if (a->ckpt) {
        DDPM_TRY(driver_ckpt_variant(a, r, cfg));
        return fs_mkdir_p(a->out_dir, NULL);
    }
    DDPM_TRY(driver_variant_config(a, "eps", "fixedlarge", "mse", cfg));
    DDPM_TRY(tier_check_data(&a->tier, cfg));
    if (!a->train_only) DDPM_TRY(fs_mkdir_p(a->out_dir, NULL));
    DDPM_TRY(experiment_train(&a->tier, cfg, r, argc, argv));
    if (r->outcome == TRAIN_DIVERGED)
        return ddpm_error("the L_simple run %s diverged at step %lld; nothing to show", r->run_dir,
                          (long long)r->diverged_step);
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

void driver_metric_names(const variant_result *res, const int *done, int n, const char **fd_name, const char **is_name,
                         const char **extractor)
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
