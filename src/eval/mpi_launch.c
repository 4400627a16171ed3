#include "eval/mpi_launch.h"

#include "core/common.h"
#include "io/h5io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *mpi_launcher(void)
{
    const char *l = getenv("DDPM_MPIRUN");
    return l && *l ? l : NULL;
}

static const char *bin_dir(void)
{
    const char *b = getenv("DDPM_BIN");
    return b && *b ? b : "bin";
}

/* Runs `launcher bin/ddpm-mpi args`; returns its exit status (or -1). */
static int run(const char *args)
{
    char cmd[8192];
    int k = snprintf(cmd, sizeof cmd, "%s '%s/ddpm-mpi' %s", mpi_launcher(), bin_dir(), args);
    if (k < 0 || (size_t)k >= sizeof cmd) return -1;
    fprintf(stderr, "  $ %s\n", cmd);
    fflush(stderr);
    int st = system(cmd);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int mpi_launch_train(const ddpm_config *cfg, const char *run_dir, int64_t ckpt_every, train_result *res)
{
    memset(res, 0, sizeof *res);
    res->diverged_step = -1;
    char cfgp[1100], text[8192], args[4096];
    snprintf(cfgp, sizeof cfgp, "%s.mpi.cfg", run_dir);
    config_dump(cfg, text, sizeof text);
    FILE *f = fopen(cfgp, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) return ddpm_error("%s: cannot write the config for ddpm-mpi", cfgp);
    snprintf(args, sizeof args, "train --config '%s' --out '%s' --ckpt-every %lld", cfgp, run_dir,
             (long long)ckpt_every);
    double t0 = ddpm_now();
    int rc = run(args);
    res->seconds = ddpm_now() - t0;
    remove(cfgp);
    char word[32];
    int64_t step = 0;
    if (train_read_status(run_dir, word, sizeof word, &step) != DDPM_OK || (rc != 0 && rc != 3 && rc != 130))
        return ddpm_error("%s/ddpm-mpi train into %s failed (exit %d; its messages are above); fix that and rerun",
                          bin_dir(), run_dir, rc);
    if (train_outcome_parse(word, &res->outcome) != DDPM_OK) res->outcome = TRAIN_INTERRUPTED; /* "running": killed */
    if (res->outcome == TRAIN_DIVERGED) res->diverged_step = step;
    res->step = res->outcome == TRAIN_DIVERGED ? 0 : step;
    return DDPM_OK;
}

static int read_f64_into(hid_t f, const char *path, const char *name, double *out, size_t n)
{
    double *v;
    int rank;
    hsize_t d[H5IO_MAX_RANK];
    DDPM_TRY(h5io_read_f64(f, name, &v, &rank, d));
    size_t k = 1;
    for (int i = 0; i < rank; i++) k *= (size_t)d[i];
    if (k != n) {
        ddpm_free(v);
        return ddpm_error("%s: %s has %zu values, expected %zu", path, name, k, n);
    }
    memcpy(out, v, n * sizeof(double));
    ddpm_free(v);
    return DDPM_OK;
}

int mpi_launch_sample(const char *ckpt, int n, uint64_t seed, int batch, float *x, size_t x_floats)
{
    char out[1100], args[4096];
    snprintf(out, sizeof out, "%s.mpi-samples.h5", ckpt);
    snprintf(args, sizeof args, "sample --ckpt '%s' --n %d --seed %llu --batch %d --out '%s'", ckpt, n,
             (unsigned long long)seed, batch, out);
    int rc = run(args);
    if (rc != 0) return ddpm_error("ddpm-mpi sample from %s failed (exit %d; its messages are above)", ckpt, rc);
    hid_t f = h5io_open(out, 0);
    if (f < 0) return DDPM_ERR;
    float *v;
    int rank;
    hsize_t d[H5IO_MAX_RANK];
    int r = h5io_read_f32(f, "x", &v, &rank, d);
    h5io_close(f);
    remove(out);
    if (r != DDPM_OK) return DDPM_ERR;
    size_t k = 1;
    for (int i = 0; i < rank; i++) k *= (size_t)d[i];
    if (k != x_floats) {
        ddpm_free(v);
        return ddpm_error("%s: x has %zu values, expected %zu", out, k, x_floats);
    }
    memcpy(x, v, k * sizeof(float));
    ddpm_free(v);
    return DDPM_OK;
}

int mpi_launch_bpd(const char *ckpt, const ddpm_config *cfg, int train_split, int n, int batch, uint64_t seed, int T,
                   double *total, double *prior, double *terms, double *mse)
{
    char out[1100], args[4096], data[700] = "";
    snprintf(out, sizeof out, "%s.mpi-bpd.h5", ckpt);
    if (cfg->data_dir[0]) snprintf(data, sizeof data, "--data '%s'", cfg->data_dir);
    snprintf(args, sizeof args, "bpd --ckpt '%s' --n %d --split %s --seed %llu --batch %d %s --out '%s'", ckpt, n,
             train_split ? "train" : "test", (unsigned long long)seed, batch, data, out);
    int rc = run(args);
    if (rc != 0) return ddpm_error("ddpm-mpi bpd of %s failed (exit %d; its messages are above)", ckpt, rc);
    hid_t f = h5io_open(out, 0);
    if (f < 0) return DDPM_ERR;
    int r = read_f64_into(f, out, "total_bpd", total, (size_t)n);
    if (r == DDPM_OK) r = read_f64_into(f, out, "prior_bpd", prior, (size_t)n);
    if (r == DDPM_OK) r = read_f64_into(f, out, "terms_bpd", terms, (size_t)n * T);
    if (r == DDPM_OK) r = read_f64_into(f, out, "mse", mse, (size_t)n * T);
    h5io_close(f);
    remove(out);
    return r;
}
