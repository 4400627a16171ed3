#include "runlog.h"

#include "core/common.h"
#include "core/fs.h"

#include <cblas.h>
#include <errno.h>
#include <omp.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#ifndef DDPM_GIT_REV
#define DDPM_GIT_REV "unknown"
#endif
#ifndef DDPM_CFLAGS
#define DDPM_CFLAGS "unknown"
#endif

const char *utc_now_iso(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

int write_provenance(hid_t loc, const char *group, const ddpm_config *cfg, int argc, char **argv)
{
    DDPM_TRY(h5io_mkgroup(loc, group));
    char buf[4096];
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    DDPM_TRY(h5io_attr_str(loc, group, "git_revision", DDPM_GIT_REV));
    snprintf(buf, sizeof buf, "%s", __VERSION__);
    DDPM_TRY(h5io_attr_str(loc, group, "compiler", buf));
    DDPM_TRY(h5io_attr_str(loc, group, "cflags", DDPM_CFLAGS));
    snprintf(buf, sizeof buf, "%u.%u.%u", maj, min, rel);
    DDPM_TRY(h5io_attr_str(loc, group, "hdf5_version", buf));
    DDPM_TRY(h5io_attr_str(loc, group, "openblas_config", openblas_get_config()));
    DDPM_TRY(h5io_attr_str(loc, group, "libpng_version", png_get_libpng_ver(NULL)));
    DDPM_TRY(h5io_attr_str(loc, group, "zlib_version", zlibVersion()));
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < argc && o < sizeof buf - 2; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", i ? " " : "", argv[i]);
    DDPM_TRY(h5io_attr_str(loc, group, "command_line", buf));
    DDPM_TRY(h5io_attr_str(loc, group, "start_time_utc", utc_now_iso(buf, sizeof buf)));
    if (gethostname(buf, sizeof buf) != 0) snprintf(buf, sizeof buf, "unknown");
    DDPM_TRY(h5io_attr_str(loc, group, "host", buf));
    DDPM_TRY(h5io_attr_i64(loc, group, "omp_threads", omp_get_max_threads()));
    DDPM_TRY(h5io_attr_i64(loc, group, "openblas_threads", openblas_get_num_threads()));
    DDPM_TRY(h5io_attr_i64(loc, group, "seed", cfg ? (int64_t)cfg->seed : 0));
    return DDPM_OK;
}

typedef struct {
    hid_t loc;
    const char *obj;
} attr_ctx;

/* Config values go in as what they are: integers as int64, reals as float64, names and lists
 * (ch_mult = 1,2,2) as strings; read_config_attrs takes either form. */
static int put_attr(const char *key, const char *value, void *user)
{
    attr_ctx *c = user;
    char *end;
    if (*value) {
        errno = 0;
        long long i = strtoll(value, &end, 10);
        if (!*end && !errno) return h5io_attr_i64(c->loc, c->obj, key, i);
        double d = strtod(value, &end);
        if (!*end && !errno) return h5io_attr_f64(c->loc, c->obj, key, d);
    }
    return h5io_attr_str(c->loc, c->obj, key, value);
}

int write_config_attrs(hid_t loc, const char *obj, const ddpm_config *cfg)
{
    if (strcmp(obj, ".") != 0) DDPM_TRY(h5io_mkgroup(loc, obj));
    attr_ctx c = { loc, obj };
    DDPM_TRY(config_each(cfg, put_attr, &c));
    char hex[17], text[8192];
    config_hash(cfg, hex);
    config_dump(cfg, text, sizeof text);
    DDPM_TRY(h5io_attr_str(loc, obj, "config_hash", hex));
    DDPM_TRY(h5io_attr_str(loc, obj, "config_text", text));
    return DDPM_OK;
}

typedef struct {
    hid_t loc;
    const char *obj;
    ddpm_config *cfg;
} read_ctx;

static int get_attr(const char *key, const char *dflt_value, void *user)
{
    (void)dflt_value;
    read_ctx *c = user;
    char v[1024], fn[512], origin[700];
    if (!h5io_attr_exists(c->loc, c->obj, key)) {
        /* data_dir may be absent from files written by other tools: keep the default. */
        if (!strcmp(key, "data_dir") || !strcmp(key, "num_groups")) return DDPM_OK;
        /* files written before grad_blocks existed lack it: absent means 1 (one whole-batch backward) */
        if (!strcmp(key, "grad_blocks")) return DDPM_OK;
        return ddpm_error("%s: config attribute '%s' missing on %s", h5io_filename(c->loc, fn, sizeof fn),
                          key, c->obj);
    }
    DDPM_TRY(h5io_get_attr_str(c->loc, c->obj, key, v, sizeof v));
    snprintf(origin, sizeof origin, "%s (attribute %s)", h5io_filename(c->loc, fn, sizeof fn), c->obj);
    return config_set_kv(c->cfg, key, v, origin);
}

int read_config_attrs(hid_t loc, const char *obj, ddpm_config *cfg)
{
    ddpm_config tmp;
    config_defaults(&tmp);
    ddpm_config keys;
    config_defaults(&keys);
    read_ctx c = { loc, obj, &tmp };
    DDPM_TRY(config_each(&keys, get_attr, &c));
    *cfg = tmp;
    return DDPM_OK;
}

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
                              "history are untouched", path, holder);
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
    { "loss", "loss units of the objective", "mean training loss of the step's batch (mse: per-dimension "
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
        if (!strcmp(L->names[i], name)) { k = i; break; }
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
    if (h5io_series_append(&L->series[k], &value) != DDPM_OK)
        return ddpm_error_prefix("%s", L->path);
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
