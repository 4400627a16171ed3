#include "eval/run.h"
#include "eval/mpi_launch.h"

#include "core/common.h"
#include "core/fs.h"
#include "io/h5io.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
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

void experiment_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
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
    double s = (double)NAN;
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
    r->bpd_test = r->bpd_train = (double)NAN;
    r->q.fd = r->q.is_mean = r->q.is_std = (double)NAN;
    r->diverged_step = -1;
    config_variant_name(cfg, r->variant, sizeof r->variant);
    DDPM_TRY(run_dir_of(t, cfg, r->run_dir, sizeof r->run_dir));
    snprintf(r->ckpt, sizeof r->ckpt, "%s/ckpt.h5", r->run_dir);
    char word[32];
    int64_t step;
    /* Runs of one config but another length share a directory (config_run_hash leaves
     * train_steps out, so a longer request extends a run); a shorter one cannot be served:
     * only the last step's checkpoint is kept. */
    if (train_read_status(r->run_dir, word, sizeof word, &step) == DDPM_OK && step > cfg->train_steps &&
        strcmp(word, "diverged") != 0)
        return ddpm_error("%s: this run is at step %lld, past the asked train_steps = %lld; ask for %lld or more "
                          "steps, or set DDPM_RUNS_DIR to another runs directory",
                          r->run_dir, (long long)step, (long long)cfg->train_steps, (long long)step);
    ddpm_clear_error();
    if (train_is_finished(cfg, r->run_dir)) {
        r->outcome = TRAIN_FINISHED;
        r->steps = cfg->train_steps;
        fprintf(stderr, "%s: reusing the finished run %s\n", r->variant, r->run_dir);
    } else if (train_read_status(r->run_dir, word, sizeof word, &step) == DDPM_OK && !strcmp(word, "diverged") &&
               step <= cfg->train_steps) {
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
        const int trc =
            mpi_launcher() ? mpi_launch_train(cfg, r->run_dir, o.ckpt_every, &tr) : train_run(cfg, r->run_dir, &o, &tr);
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
