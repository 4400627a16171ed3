#include "eval/experiment.h"
#include "eval/mpi_launch.h"

#include "core/common.h"
#include "core/fs.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "eval/ddpm_model.h"
#include "image/png_io.h"
#include "io/h5io.h"
#include "io/provenance.h"
#include "io/runlog.h"
#include "train/checkpoint.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Ctrl-C / SIGTERM during training: the loop checkpoints and stops; rerunning resumes. At any
 * other time (evaluation: each finished piece — test NLL, train NLL, samples — is already
 * flushed to the run's eval.h5, and nothing is written between pieces) the process says so and
 * ends at once with the signal's default action. */
static volatile sig_atomic_t g_stop = 0, g_training = 0;

static void on_signal(int sig)
{
    if (g_training) {
        g_stop = 1;
        return;
    }
    static const char msg[] = "\ninterrupted: finished evaluation pieces are kept in the run's eval.h5; "
                              "rerun the same command to continue\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

int tier_get(const char *name, tier_spec *t)
{
    memset(t, 0, sizeof *t);
    const char *runs = getenv("DDPM_RUNS_DIR"), *results = getenv("DDPM_RESULTS_DIR");
    if (!runs) runs = "runs";
    if (!results) results = "results";
    if (!strcmp(name, "smoke")) {
        t->bpd_n = 8; t->bpd_train_n = 8; t->samples_n = 16; t->ref_n = 2000; t->batch = 16; t->ckpt_every = 0;
    } else if (!strcmp(name, "mini")) {
        t->bpd_n = 128; t->bpd_train_n = 128; t->samples_n = 256; t->ref_n = 0; t->batch = 128; t->ckpt_every = 250;
    } else if (!strcmp(name, "paper")) {
        t->bpd_n = 10000; t->bpd_train_n = 10000; t->samples_n = 50000; t->ref_n = 0; t->batch = 128; t->ckpt_every = 5000;
    } else {
        return ddpm_error("unknown tier '%s' (use smoke, mini or paper)", name);
    }
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->base_cfg, sizeof t->base_cfg, "experiments/configs/%s/base.cfg", name);
    snprintf(t->runs_dir, sizeof t->runs_dir, "%s/%s", runs, name);
    snprintf(t->results_dir, sizeof t->results_dir, "%s/%s", results, name);
    if (access(t->base_cfg, R_OK) != 0)
        return ddpm_error("%s: tier config not found (run the drivers from the repository root)", t->base_cfg);
    return DDPM_OK;
}

int tier_config(const tier_spec *t, const char *const *sets, int nsets, ddpm_config *cfg)
{
    config_defaults(cfg);
    DDPM_TRY(config_load_file(cfg, t->base_cfg));
    for (int i = 0; i < nsets; i++) DDPM_TRY(config_set(cfg, sets[i]));
    return config_validate(cfg);
}

int tier_check_data(const tier_spec *t, const ddpm_config *cfg)
{
    (void)t;
    dataset ds;
    if (dataset_load_n(&ds, cfg, 0, 1) != DDPM_OK) return DDPM_ERR;
    dataset_free(&ds);
    return DDPM_OK;
}

/* runs/<tier>/<variant>-<config_run_hash, 8 hex>. Directories named before issue 20 carry the
 * full config_hash (train_steps and data_dir included): when the new directory does not exist
 * but the old one does, it is renamed (rename(2): atomic) with a one-line note, and the run is
 * reused or resumed as before. */
static int run_dir_of(const tier_spec *t, const ddpm_config *cfg, char *buf, size_t n)
{
    char v[64], hex[17], old_hex[17], old[1024];
    config_variant_name(cfg, v, sizeof v);
    config_run_hash(cfg, hex);
    config_hash(cfg, old_hex);
    if (snprintf(buf, n, "%s/%s-%.8s", t->runs_dir, v, hex) >= (int)n)
        return ddpm_error("%s: run directory name too long (set DDPM_RUNS_DIR to a shorter path)", t->runs_dir);
    snprintf(old, sizeof old, "%s/%s-%.8s", t->runs_dir, v, old_hex);
    if (strcmp(old, buf) != 0 && access(buf, F_OK) != 0 && access(old, F_OK) == 0) {
        if (rename(old, buf) != 0)
            return ddpm_error("%s: cannot rename the run directory to %s (%s); rename it by hand", old, buf,
                              strerror(errno));
        fprintf(stderr, "%s: run directory renamed to %s (runs are now named by config_run_hash)\n", old, buf);
    }
    return DDPM_OK;
}

static double log_train_seconds(const char *run_dir)
{
    char p[700];
    snprintf(p, sizeof p, "%s/log.h5", run_dir);
    hid_t f = h5io_open(p, 0);
    double s = NAN;
    if (f >= 0) {
        if (h5io_attr_exists(f, ".", "train_seconds_total")) h5io_get_attr_f64(f, ".", "train_seconds_total", &s);
        h5io_close(f);
    }
    ddpm_clear_error();
    return s;
}

int experiment_train(const tier_spec *t, const ddpm_config *cfg, variant_result *r, int argc, char **argv)
{
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    r->bpd_test = r->bpd_train = NAN;
    r->q.fd = r->q.is_mean = r->q.is_std = NAN;
    r->diverged_step = -1;
    config_variant_name(cfg, r->variant, sizeof r->variant);
    DDPM_TRY(run_dir_of(t, cfg, r->run_dir, sizeof r->run_dir));
    char word[32];
    int64_t step;
    if (train_is_finished(cfg, r->run_dir)) {
        r->outcome = TRAIN_FINISHED;
        r->steps = cfg->train_steps;
        fprintf(stderr, "%s: reusing the finished run %s\n", r->variant, r->run_dir);
    } else if (train_read_status(r->run_dir, word, sizeof word, &step) == DDPM_OK && !strcmp(word, "diverged")) {
        /* Training is deterministic: a diverged run would diverge again at the same step. */
        r->outcome = TRAIN_DIVERGED;
        r->diverged_step = step;
        fprintf(stderr, "%s: run %s diverged at step %lld (recorded); not retraining\n", r->variant, r->run_dir,
                (long long)step);
    } else {
        ddpm_clear_error();
        DDPM_TRY(fs_mkdir_p(t->runs_dir, NULL));
        train_opts o;
        train_opts_default(&o);
        o.ckpt_every = t->ckpt_every;
        o.stop = &g_stop;
        o.argc = argc;
        o.argv = argv;
        train_result tr;
        fprintf(stderr, "%s: training in %s\n", r->variant, r->run_dir);
        g_training = 1;
        const int trc = mpi_launcher() ? mpi_launch_train(cfg, r->run_dir, o.ckpt_every, &tr)
                                       : train_run(cfg, r->run_dir, &o, &tr);
        g_training = 0;
        DDPM_TRY(trc);
        r->outcome = tr.outcome;
        r->diverged_step = tr.diverged_step;
        r->steps = tr.step;
        if (tr.outcome == TRAIN_INTERRUPTED)
            return ddpm_error("training stopped at step %lld (checkpointed in %s); rerun the same command to resume",
                              (long long)tr.step, r->run_dir);
    }
    r->train_seconds = log_train_seconds(r->run_dir);
    return DDPM_OK;
}

/* ---- cached evaluation ---- */

typedef struct {
    hid_t f;
    const char *path;
    const char *ckpt;  /* the model's checkpoint (for the MPI route, mpi_launch.h) */
} cache;

static int cache_open(cache *c, const char *path, const tier_spec *t, const ddpm_config *cfg)
{
    c->path = path;
    char hex[17], want[128], have[128] = "";
    config_hash(cfg, hex);
    snprintf(want, sizeof want, "tier=%s bpd_n=%d bpd_train_n=%d samples_n=%d config=%s", t->name, t->bpd_n,
             t->bpd_train_n, t->samples_n, hex);
    if (access(path, F_OK) == 0) {
        c->f = h5io_open(path, 1);
        if (c->f >= 0 && h5io_attr_exists(c->f, ".", "settings"))
            h5io_get_attr_str(c->f, ".", "settings", have, sizeof have);
        if (c->f >= 0 && !strcmp(have, want)) return DDPM_OK;
        if (c->f >= 0) h5io_close(c->f);
        fprintf(stderr, "%s: evaluation cache of other settings or unreadable; recomputing\n", path);
    }
    ddpm_clear_error();
    c->f = h5io_create(path);
    if (c->f < 0) return DDPM_ERR;
    DDPM_TRY(h5io_attr_str(c->f, ".", "settings", want));
    if (H5Fflush(c->f, H5F_SCOPE_GLOBAL) < 0) return ddpm_error("%s: flush failed", path); /* readable if killed */
    return DDPM_OK;
}

static int bpd_piece(cache *c, ddpm_model *m, const ddpm_config *cfg, int train_split, int n, int batch,
                     double *mean_out)
{
    const char *g = train_split ? "bpd_train" : "bpd_test";
    char name[64];
    snprintf(name, sizeof name, "%s/total_bpd", g);
    if (h5io_exists(c->f, name) && h5io_attr_exists(c->f, g, "mean_bpd"))
        return h5io_get_attr_f64(c->f, g, "mean_bpd", mean_out);
    dataset ds;
    DDPM_TRY(dataset_load_n(&ds, cfg, train_split, n));
    if (ds.N < n) n = ds.N;
    const int T = m->diff.T;
    float *x = ddpm_alloc((size_t)n * m->D * sizeof(float));
    double *total = ddpm_alloc((size_t)n * sizeof(double)), *prior = ddpm_alloc((size_t)n * sizeof(double));
    double *terms = ddpm_alloc((size_t)n * T * sizeof(double)), *mse = ddpm_alloc((size_t)n * T * sizeof(double));
    int rc = (!x || !total || !prior || !terms || !mse) ? DDPM_ERR : DDPM_OK;
    progress pb;
    char label[64];
    snprintf(label, sizeof label, "  nll %s", train_split ? "train" : "test");
    progress_begin(&pb, label, (int64_t)n * T, 0);
    if (rc == DDPM_OK) {
        dataset_get_range(&ds, 0, n, x);
        rc = mpi_launcher() ? mpi_launch_bpd(c->ckpt, cfg, train_split, n, batch, cfg->seed, T, total, prior, terms, mse)
                            : ddpm_eval_bpd(m, x, n, batch, cfg->seed, total, prior, terms, mse, &pb);
    }
    if (rc == DDPM_OK) {
        progress_end(&pb, NULL);
        double mean = 0;
        for (int i = 0; i < n; i++) mean += total[i];
        mean /= n;
        hsize_t d1[1] = { (hsize_t)n }, d2[2] = { (hsize_t)n, (hsize_t)T };
        char nm[4][64];
        snprintf(nm[0], 64, "%s/total_bpd", g);
        snprintf(nm[1], 64, "%s/prior_bpd", g);
        snprintf(nm[2], 64, "%s/terms_bpd", g);
        snprintf(nm[3], 64, "%s/mse", g);
        rc = h5io_write_f64(c->f, nm[1], prior, 1, d1);
        if (rc == DDPM_OK) rc = h5io_write_f64(c->f, nm[2], terms, 2, d2);
        if (rc == DDPM_OK) rc = h5io_write_f64(c->f, nm[3], mse, 2, d2);
        if (rc == DDPM_OK) rc = h5io_write_f64(c->f, nm[0], total, 1, d1);
        if (rc == DDPM_OK) rc = h5io_attr_f64(c->f, g, "mean_bpd", mean);
        if (rc == DDPM_OK) rc = h5io_attr_str(c->f, g, "revision", DDPM_GIT_REV); /* the code that computed it */
        if (rc == DDPM_OK && H5Fflush(c->f, H5F_SCOPE_GLOBAL) < 0) rc = ddpm_error("%s: flush failed", c->path);
        *mean_out = mean;
    }
    ddpm_free(x); ddpm_free(total); ddpm_free(prior); ddpm_free(terms); ddpm_free(mse);
    dataset_free(&ds);
    return rc;
}

static int samples_piece(cache *c, ddpm_model *m, const ddpm_config *cfg, int n, int batch, uint8_t **out)
{
    hsize_t d[4] = { (hsize_t)n, (hsize_t)m->H, (hsize_t)m->W, (hsize_t)m->C };
    if (h5io_exists(c->f, "samples")) {
        int rank;
        hsize_t dd[H5IO_MAX_RANK];
        if (h5io_read_u8(c->f, "samples", out, &rank, dd) == DDPM_OK && rank == 4 && dd[0] == d[0]) return DDPM_OK;
        ddpm_free(*out);
    }
    float *x = ddpm_alloc((size_t)n * m->D * sizeof(float));
    *out = ddpm_alloc((size_t)n * m->D);
    if (!x || !*out) { ddpm_free(x); return DDPM_ERR; }
    progress pb;
    progress_begin(&pb, "  sample", (int64_t)n * m->diff.T, 0);
    int rc = mpi_launcher() ? mpi_launch_sample(c->ckpt, n, 1000 + cfg->seed, batch, x, (size_t)n * m->D)
                            : ddpm_generate(m, n, 1000 + cfg->seed, batch, x, 0, NULL, NULL, &pb);
    if (rc == DDPM_OK) {
        progress_end(&pb, NULL);
        images_to_uint8(x, (size_t)n * m->D, *out);
        rc = h5io_write_u8(c->f, "samples", *out, 4, d);
        if (rc == DDPM_OK) rc = h5io_attr_i64(c->f, "samples", "seed", (int64_t)(1000 + cfg->seed));
        if (rc == DDPM_OK) rc = h5io_attr_str(c->f, "samples", "revision", DDPM_GIT_REV);
        if (rc == DDPM_OK && H5Fflush(c->f, H5F_SCOPE_GLOBAL) < 0) rc = ddpm_error("%s: flush failed", c->path);
    }
    ddpm_free(x);
    return rc;
}

int experiment_evaluate(const tier_spec *t, variant_result *r, int want_train_bpd, const char *png_path)
{
    if (r->outcome == TRAIN_DIVERGED) return DDPM_OK;
    double t0 = ddpm_now();
    char ckpt[700], evalp[700], refp[700];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.h5", r->run_dir);
    snprintf(evalp, sizeof evalp, "%s/eval.h5", r->run_dir);
    snprintf(refp, sizeof refp, "%s/reference_stats.h5", t->runs_dir);
    ddpm_model m;
    DDPM_TRY(ddpm_model_open(&m, &r->cfg, ckpt, "ema", t->batch));
    cache c;
    c.ckpt = ckpt;
    if (cache_open(&c, evalp, t, &r->cfg) != DDPM_OK) {
        ddpm_model_close(&m);
        return DDPM_ERR;
    }
    uint8_t *samples = NULL;
    int rc = bpd_piece(&c, &m, &r->cfg, 0, t->bpd_n, t->batch, &r->bpd_test);
    if (rc == DDPM_OK && want_train_bpd) rc = bpd_piece(&c, &m, &r->cfg, 1, t->bpd_train_n, t->batch, &r->bpd_train);
    if (rc == DDPM_OK) rc = samples_piece(&c, &m, &r->cfg, t->samples_n, t->batch, &samples);
    if (rc == DDPM_OK && png_path) {
        int n = t->samples_n < 64 ? t->samples_n : 64;
        char cap[256];
        int side = 1;
        while (side * side < n) side++;
        snprintf(cap, sizeof cap, "%s, tier %s, step %lld, ema weights: %d of %d samples (%dx%d, rows then columns), T = %d",
                 r->variant, t->name, (long long)r->steps, n, t->samples_n, side, side, m.diff.T);
        rc = png_write_grid_captioned(png_path, samples, n, m.H, m.W, m.C, 0, 1, cap);
    }
    if (rc == DDPM_OK) {
        rc = quality_metrics(&r->cfg, samples, t->samples_n, m.H, m.W, m.C, refp, t->ref_n, 1, &r->q);
        if (rc == DDPM_OK && r->q.available) {
            h5io_attr_f64(c.f, ".", r->q.fd_name, r->q.fd);
            h5io_attr_f64(c.f, ".", r->q.is_name, r->q.is_mean);
            h5io_attr_str(c.f, ".", "extractor", r->q.extractor);
            h5io_attr_str(c.f, ".", "metrics_revision", DDPM_GIT_REV);
        }
    }
    ddpm_free(samples);
    if (h5io_close(c.f) != DDPM_OK) rc = DDPM_ERR;
    ddpm_model_close(&m);
    r->eval_seconds = ddpm_now() - t0;
    return rc;
}

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
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
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

int copy_file(const char *from, const char *to)
{
    char tmp[1100];
    fs_tmp_path(to, tmp, sizeof tmp);
    FILE *in = fopen(from, "rb");
    if (!in) return ddpm_error("%s: cannot read (%s)", from, strerror(errno));
    FILE *out = fopen(tmp, "wb");
    if (!out) {
        fclose(in);
        return ddpm_error("%s: cannot write (%s)", tmp, strerror(errno));
    }
    char buf[65536];
    size_t k;
    int ok = 1;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0) ok &= fwrite(buf, 1, k, out) == k;
    ok &= !ferror(in);
    fclose(in);
    ok &= fclose(out) == 0;
    if (!ok) {
        unlink(tmp);
        return ddpm_error("%s: copy failed (disk full?)", to);
    }
    return fs_commit(tmp, to);
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
        DDPM_TRY(copy_file(from, to));
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
