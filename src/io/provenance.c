/* provenance.c — what an HDF5 file says about itself (provenance.h). */
#include "io/provenance.h"

#include "core/common.h"

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
        return ddpm_error("%s: config attribute '%s' missing on %s", h5io_filename(c->loc, fn, sizeof fn), key, c->obj);
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
