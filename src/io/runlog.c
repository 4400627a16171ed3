#include "io/runlog.h"

#include "core/common.h"
#include "core/fs.h"
#include "io/provenance.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int runlog_open(runlog *L, const char *path, const ddpm_config *cfg, int argc, char **argv, int resume)
{
    memset(L, 0, sizeof *L);
    snprintf(L->path, sizeof L->path, "%s", path);
    L->flush_every = 5.0;
    L->file = H5I_INVALID_HID;
    const char *fe = getenv("DDPM_LOG_FLUSH_SECONDS");
    if (fe && *fe) {
        char *end;
        double v = strtod(fe, &end);
        if (*end || !(v >= 0)) return ddpm_error("DDPM_LOG_FLUSH_SECONDS=%s: expected a number of seconds >= 0", fe);
        L->flush_every = v;
    }
    char damaged[1100] = "";
    if (resume && access(path, F_OK) == 0) {
        L->file = h5io_open(path, 1);
        long holder = L->file < 0 ? fs_lock_holder(path) : 0;
        if (holder > 0)
            return ddpm_error("%s is open in PID %ld (a reader such as h5py or a notebook holds HDF5's lock); close "
                              "it there, or open it with HDF5_USE_FILE_LOCKING=FALSE, then rerun: the run and its "
                              "history are untouched",
                              path, holder);
        if (L->file < 0) {
            snprintf(damaged, sizeof damaged, "%s.damaged", path);
            if (rename(path, damaged) != 0)
                return ddpm_error("%s: cannot reopen the run log to resume, nor move it aside (%s)", path,
                                  strerror(errno));
            fprintf(stderr, "runlog: %s could not be reopened (%s); kept as %s, starting a new log\n", path,
                    ddpm_last_error(), damaged);
        }
    }
    if (L->file >= 0) {
        char g[64];
        int k = 0;
        do snprintf(g, sizeof g, "provenance/resumes/%d", k++);
        while (h5io_exists(L->file, g));
        snprintf(L->resume_group, sizeof L->resume_group, "%s", g);
        DDPM_TRY(write_provenance(L->file, g, cfg, argc, argv));
    } else {
        L->file = h5io_create(path);
        if (L->file < 0) return DDPM_ERR;
        DDPM_TRY(write_provenance(L->file, "provenance", cfg, argc, argv));
        if (cfg) DDPM_TRY(write_config_attrs(L->file, "config", cfg));
        DDPM_TRY(h5io_attr_str(L->file, ".", "schema", "ddpm-runlog-1 (docs/hdf5-schema.md)"));
        if (damaged[0]) DDPM_TRY(h5io_attr_str(L->file, ".", "previous_log", damaged));
    }
    L->last_flush = ddpm_now();
    return DDPM_OK;
}

/* units and description attributes of the series the trainer writes (docs/hdf5-schema.md) */
static const char *const SERIES_META[][3] = {
    { "step", "steps", "training steps completed after this row" },
    { "loss", "loss units of the objective",
      "mean training loss of the step's batch (mse: per-dimension "
      "squared error; kl: bits/dim of the variational bound terms)" },
    { "grad_norm", "1", "global L2 norm of the gradient before clipping" },
    { "lr", "1", "learning rate used by the step (after warmup)" },
    { "wall_time", "s", "seconds since this invocation started" },
    { "images_per_sec", "images/s", "throughput of the step" },
};

static int describe_series(hid_t f, const char *full, const char *name)
{
    for (size_t i = 0; i < DDPM_ARRAY_LEN(SERIES_META); i++)
        if (!strcmp(SERIES_META[i][0], name)) {
            DDPM_TRY(h5io_attr_str(f, full, "units", SERIES_META[i][1]));
            return h5io_attr_str(f, full, "description", SERIES_META[i][2]);
        }
    return DDPM_OK;
}

int runlog_append(runlog *L, const char *name, double value)
{
    int k = -1;
    for (int i = 0; i < L->nseries; i++)
        if (!strcmp(L->names[i], name)) {
            k = i;
            break;
        }
    if (k < 0) {
        if (L->nseries >= RUNLOG_MAX_SERIES) return ddpm_error("%s: too many series", L->path);
        k = L->nseries;
        char full[128];
        snprintf(full, sizeof full, "series/%s", name);
        DDPM_TRY(h5io_series_open(&L->series[k], L->file, full, 0));
        if (!h5io_attr_exists(L->file, full, "units")) DDPM_TRY(describe_series(L->file, full, name));
        snprintf(L->names[k], sizeof L->names[k], "%s", name);
        L->nseries++;
    }
    if (h5io_series_append(&L->series[k], &value) != DDPM_OK) return ddpm_error_prefix("%s", L->path);
    return DDPM_OK;
}

static herr_t collect_series(hid_t g, const char *name, const H5L_info_t *info, void *user)
{
    (void)g;
    (void)info;
    runlog *L = user;
    for (int i = 0; i < L->nseries; i++)
        if (!strcmp(L->names[i], name)) return 0;
    if (L->nseries >= RUNLOG_MAX_SERIES || strlen(name) >= sizeof L->names[0]) return -1;
    snprintf(L->names[L->nseries++], sizeof L->names[0], "%s", name);
    return 0;
}

int runlog_rewind(runlog *L, const char *key, double max_key, long long *dropped)
{
    if (dropped) *dropped = 0;
    if (!h5io_exists(L->file, "series")) return DDPM_OK;
    int had = L->nseries;
    hid_t g = H5Gopen2(L->file, "series", H5P_DEFAULT);
    if (g < 0) return ddpm_error("%s: cannot open group series", L->path);
    herr_t st = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_series, L);
    H5Gclose(g);
    if (st < 0) return ddpm_error("%s: cannot list series/ (more than %d series?)", L->path, RUNLOG_MAX_SERIES);
    hsize_t keep = (hsize_t)-1;
    int ki = -1;
    for (int i = 0; i < L->nseries; i++) {
        if (i >= had) {
            char full[128];
            snprintf(full, sizeof full, "series/%s", L->names[i]);
            DDPM_TRY(h5io_series_open(&L->series[i], L->file, full, 0));
        }
        if (L->series[i].n < keep) keep = L->series[i].n;
        if (!strcmp(L->names[i], key)) ki = i;
    }
    if (ki < 0) return DDPM_OK;
    hsize_t n = L->series[ki].n;
    double *v = ddpm_alloc((n ? n : 1) * sizeof(double));
    if (!v) return DDPM_ERR;
    hid_t sp = H5Dget_space(L->series[ki].dset);
    herr_t rs = n ? H5Dread(L->series[ki].dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) : 0;
    H5Sclose(sp);
    if (rs < 0) {
        ddpm_free(v);
        return ddpm_error("%s: cannot read series/%s", L->path, key);
    }
    hsize_t upto = 0;
    while (upto < n && v[upto] <= max_key) upto++;
    ddpm_free(v);
    if (upto < keep) keep = upto;
    for (int i = 0; i < L->nseries; i++) DDPM_TRY(h5io_series_truncate(&L->series[i], keep));
    long long d = (long long)(n - keep);
    if (dropped) *dropped = d;
    if (L->resume_group[0]) DDPM_TRY(h5io_attr_i64(L->file, L->resume_group, "rows_dropped", d));
    return DDPM_OK;
}

int runlog_maybe_flush(runlog *L, int force)
{
    double now = ddpm_now();
    if (!force && now - L->last_flush < L->flush_every) return DDPM_OK;
    L->last_flush = now;
    if (H5Fflush(L->file, H5F_SCOPE_GLOBAL) < 0) return ddpm_error("%s: flush failed (disk full?)", L->path);
    return DDPM_OK;
}

int runlog_close(runlog *L)
{
    if (L->file < 0) return DDPM_OK;
    for (int i = 0; i < L->nseries; i++) h5io_series_close(&L->series[i]);
    int rc = h5io_close_sync(L->file, L->path);
    L->file = H5I_INVALID_HID;
    return rc;
}
