#include "h5io.h"

#include "core/common.h"
#include "core/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* HDF5's own exit handler is turned off: after a failed write (disk full) it can crash while
 * closing that file at exit; every file we write is closed and synced explicitly. */
void h5io_init(void)
{
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

const char *h5io_filename(hid_t loc, char *buf, size_t n)
{
    if (n == 0) return buf;
    if (H5Fget_name(loc, buf, n) < 0) snprintf(buf, n, "?");
    return buf;
}

#define FAIL(loc, ...)                                                                                                 \
    do {                                                                                                               \
        char fn_[512];                                                                                                 \
        char msg_[512];                                                                                                \
        snprintf(msg_, sizeof msg_, __VA_ARGS__);                                                                      \
        return ddpm_error("%s: %s", h5io_filename((loc), fn_, sizeof fn_), msg_);                                      \
    } while (0)

/* Whether another process holds `path` open: HDF5 takes an flock on every file it opens. */
static int in_use_elsewhere(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    int busy = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return busy;
}

/* Why opening `path` failed, as a hint for the user. The common surprise is a second program
 * working on the same run or results folder. */
static const char *open_hint(const char *path, int writing)
{
    if (in_use_elsewhere(path))
        return "the file is open in another running process (HDF5 locks files in use); wait for it to finish "
               "or stop it";
    char dir[1024];
    fs_dirname(path, dir, sizeof dir);
    if (access(dir, F_OK) != 0) return "its directory does not exist";
    if (writing && access(dir, W_OK) != 0) return "its directory is not writable";
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return "it is a directory (give the file in it, e.g. DIR/ckpt.h5)";
        if (st.st_size == 0) return "not a readable HDF5 file: it is empty";
        /* the library's own signature search (it also finds a superblock after a user block) */
        if (H5Fis_hdf5(path) <= 0)
            return "not a readable HDF5 file: it is no HDF5 at all (a text, config or other file?)";
        return "not a readable HDF5 file (truncated or corrupt?)";
    }
    return "check the disk and the permissions";
}

hid_t h5io_create(const char *path)
{
    h5io_init();
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        ddpm_error("%s: cannot create HDF5 file: %s", path, open_hint(path, 1));
        return H5I_INVALID_HID;
    }
    return f;
}

hid_t h5io_open(const char *path, int writable)
{
    h5io_init();
    if (access(path, F_OK) != 0) {
        ddpm_error("%s: no such file", path);
        return H5I_INVALID_HID;
    }
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        ddpm_error("%s: cannot open HDF5 file: %s", path, open_hint(path, writable));
        return H5I_INVALID_HID;
    }
    hid_t f = H5Fopen(path, writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        ddpm_error("%s: cannot open HDF5 file%s: %s", path, writable ? " for writing" : "", open_hint(path, writable));
        return H5I_INVALID_HID;
    }
    return f;
}

int h5io_close(hid_t file)
{
    if (file < 0) return DDPM_OK;
    if (H5Fclose(file) < 0) return ddpm_error("HDF5: closing a file failed (disk full?)");
    return DDPM_OK;
}

int h5io_close_sync(hid_t file, const char *path)
{
    if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) {
        H5Fclose(file);
        return ddpm_error("%s: flush failed (disk full?)", path);
    }
    if (h5io_close(file) != DDPM_OK) return ddpm_error("%s: close failed (disk full?)", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ddpm_error("%s: cannot reopen to fsync", path);
    int rc = fsync(fd);
    close(fd);
    if (rc != 0) return ddpm_error("%s: fsync failed", path);
    return DDPM_OK;
}

int h5io_is_uint8(hid_t loc, const char *name)
{
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return 0;
    hid_t t = H5Dget_type(d);
    int ok = t >= 0 && H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 1 && H5Tget_sign(t) == H5T_SGN_NONE;
    if (t >= 0) H5Tclose(t);
    H5Dclose(d);
    return ok;
}

hid_t h5io_create_tmp(const char *path)
{
    char tmp[1100];
    fs_tmp_path(path, tmp, sizeof tmp);
    return h5io_create(tmp);
}

int h5io_commit(hid_t file, const char *path)
{
    char tmp[1100];
    fs_tmp_path(path, tmp, sizeof tmp);
    if (h5io_close_sync(file, tmp) != DDPM_OK) {
        unlink(tmp);
        return ddpm_error_prefix("%s not written", path);
    }
    return fs_commit(tmp, path);
}

void h5io_abandon(hid_t file, const char *path)
{
    char tmp[1100];
    fs_tmp_path(path, tmp, sizeof tmp);
    if (file >= 0) H5Fclose(file);
    unlink(tmp);
}

int h5io_exists(hid_t loc, const char *name)
{
    /* H5Lexists needs every intermediate link to exist: walk the path. */
    char buf[1024];
    size_t len = strlen(name);
    if (len >= sizeof buf) return 0;
    memcpy(buf, name, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            htri_t e = H5Lexists(loc, buf, H5P_DEFAULT);
            buf[i] = c;
            if (e <= 0) return 0;
        }
    }
    return 1;
}

int h5io_mkgroup(hid_t loc, const char *name)
{
    if (h5io_exists(loc, name)) return DDPM_OK;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(loc, name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (g < 0) FAIL(loc, "cannot create group %s", name);
    H5Gclose(g);
    return DDPM_OK;
}

static int write_any_dcpl(hid_t loc, const char *name, hid_t memtype, hid_t filetype, const void *data, int rank,
                          const hsize_t *dims, int checksum)
{
    if (h5io_exists(loc, name) && H5Ldelete(loc, name, H5P_DEFAULT) < 0) FAIL(loc, "cannot replace dataset %s", name);
    hid_t space = H5Screate_simple(rank, dims, NULL);
    if (space < 0) FAIL(loc, "bad shape for dataset %s", name);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (checksum && rank > 0) {
        /* One chunk holding the whole tensor, with HDF5's Fletcher32 checksum: a flipped byte
         * makes the read fail instead of loading silently; h5py and h5dump read it as usual and
         * recompute it when they write. */
        H5Pset_chunk(dcpl, rank, dims);
        H5Pset_fletcher32(dcpl);
    }
    hid_t d = H5Dcreate2(loc, name, filetype, space, lcpl, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(space);
    if (d < 0) FAIL(loc, "cannot create dataset %s", name);
    herr_t st = H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    H5Dclose(d);
    if (st < 0) FAIL(loc, "cannot write dataset %s (disk full?)", name);
    return DDPM_OK;
}

static int write_any(hid_t loc, const char *name, hid_t memtype, hid_t filetype, const void *data, int rank,
                     const hsize_t *dims)
{
    return write_any_dcpl(loc, name, memtype, filetype, data, rank, dims, 0);
}

int h5io_write_f32(hid_t loc, const char *name, const float *data, int rank, const hsize_t *dims)
{
    return write_any(loc, name, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, data, rank, dims);
}
int h5io_write_f32_checksummed(hid_t loc, const char *name, const float *data, int rank, const hsize_t *dims)
{
    return write_any_dcpl(loc, name, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, data, rank, dims, 1);
}
int h5io_write_f64(hid_t loc, const char *name, const double *data, int rank, const hsize_t *dims)
{
    return write_any(loc, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, data, rank, dims);
}
int h5io_write_i32(hid_t loc, const char *name, const int32_t *data, int rank, const hsize_t *dims)
{
    return write_any(loc, name, H5T_NATIVE_INT32, H5T_STD_I32LE, data, rank, dims);
}
int h5io_write_i64(hid_t loc, const char *name, const int64_t *data, int rank, const hsize_t *dims)
{
    return write_any(loc, name, H5T_NATIVE_INT64, H5T_STD_I64LE, data, rank, dims);
}
int h5io_write_u8(hid_t loc, const char *name, const uint8_t *data, int rank, const hsize_t *dims)
{
    return write_any(loc, name, H5T_NATIVE_UINT8, H5T_STD_U8LE, data, rank, dims);
}
int h5io_write_u32(hid_t loc, const char *name, const uint32_t *data, int rank, const hsize_t *dims)
{
    return write_any(loc, name, H5T_NATIVE_UINT32, H5T_STD_U32LE, data, rank, dims);
}

int h5io_shape(hid_t loc, const char *name, int *rank, hsize_t dims[H5IO_MAX_RANK])
{
    if (!h5io_exists(loc, name)) FAIL(loc, "dataset %s is missing", name);
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) FAIL(loc, "cannot open dataset %s", name);
    hid_t sp = H5Dget_space(d);
    int r = H5Sget_simple_extent_ndims(sp);
    if (r < 0 || r > H5IO_MAX_RANK) {
        H5Sclose(sp);
        H5Dclose(d);
        FAIL(loc, "dataset %s has unsupported rank", name);
    }
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    H5Dclose(d);
    *rank = r;
    return DDPM_OK;
}

/* Why H5Dread failed: a dataset with a checksum that no longer matches is a damaged file. */
static const char *read_failure(hid_t d)
{
    int checked = 0;
    hid_t dcpl = d >= 0 ? H5Dget_create_plist(d) : -1;
    if (dcpl >= 0) {
        int nf = H5Pget_nfilters(dcpl);
        for (int i = 0; i < nf; i++) {
            unsigned flags;
            size_t nelem = 0;
            if (H5Pget_filter2(dcpl, (unsigned)i, &flags, &nelem, NULL, 0, NULL, NULL) == H5Z_FILTER_FLETCHER32)
                checked = 1;
        }
        H5Pclose(dcpl);
    }
    return checked ? "its checksum does not match: the file is damaged; restore it from a copy or use an earlier "
                     "checkpoint"
                   : "corrupt file or wrong type?";
}

static int read_alloc(hid_t loc, const char *name, hid_t memtype, size_t esize, void **out, int *rank_out,
                      hsize_t *dims_out)
{
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    DDPM_TRY(h5io_shape(loc, name, &rank, dims));
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    void *buf = ddpm_alloc(n * esize);
    if (!buf) return DDPM_ERR;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    herr_t st = d < 0 ? -1 : H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    const char *why = st < 0 ? read_failure(d) : "";
    if (d >= 0) H5Dclose(d);
    if (st < 0) {
        ddpm_free(buf);
        FAIL(loc, "cannot read dataset %s (%s)", name, why);
    }
    *out = buf;
    if (rank_out) *rank_out = rank;
    if (dims_out) memcpy(dims_out, dims, sizeof(hsize_t) * (size_t)rank);
    return DDPM_OK;
}

int h5io_read_f32(hid_t loc, const char *name, float **out, int *rank, hsize_t dims[H5IO_MAX_RANK])
{
    return read_alloc(loc, name, H5T_NATIVE_FLOAT, sizeof(float), (void **)out, rank, dims);
}
int h5io_read_f64(hid_t loc, const char *name, double **out, int *rank, hsize_t dims[H5IO_MAX_RANK])
{
    return read_alloc(loc, name, H5T_NATIVE_DOUBLE, sizeof(double), (void **)out, rank, dims);
}
int h5io_read_i32(hid_t loc, const char *name, int32_t **out, int *rank, hsize_t dims[H5IO_MAX_RANK])
{
    return read_alloc(loc, name, H5T_NATIVE_INT32, sizeof(int32_t), (void **)out, rank, dims);
}
int h5io_read_u8(hid_t loc, const char *name, uint8_t **out, int *rank, hsize_t dims[H5IO_MAX_RANK])
{
    return read_alloc(loc, name, H5T_NATIVE_UINT8, 1, (void **)out, rank, dims);
}

static void shape_str(char *buf, size_t n, int rank, const hsize_t *dims)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int i = 0; i < rank && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%llu", i ? "," : "", (unsigned long long)dims[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

static int read_into(hid_t loc, const char *name, hid_t memtype, void *out, int rank, const hsize_t *dims)
{
    int r;
    hsize_t d[H5IO_MAX_RANK];
    DDPM_TRY(h5io_shape(loc, name, &r, d));
    int same = r == rank;
    for (int i = 0; same && i < r; i++) same = d[i] == dims[i];
    if (!same) {
        char want[128], got[128];
        shape_str(want, sizeof want, rank, dims);
        shape_str(got, sizeof got, r, d);
        FAIL(loc, "dataset %s has shape %s, expected %s", name, got, want);
    }
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    herr_t st = ds < 0 ? -1 : H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
    const char *why = st < 0 ? read_failure(ds) : "";
    if (ds >= 0) H5Dclose(ds);
    if (st < 0) FAIL(loc, "cannot read dataset %s (%s)", name, why);
    return DDPM_OK;
}

int h5io_read_into_f32(hid_t loc, const char *name, float *out, int rank, const hsize_t *dims)
{
    return read_into(loc, name, H5T_NATIVE_FLOAT, out, rank, dims);
}
int h5io_read_into_f64(hid_t loc, const char *name, double *out, int rank, const hsize_t *dims)
{
    return read_into(loc, name, H5T_NATIVE_DOUBLE, out, rank, dims);
}
int h5io_read_into_u32(hid_t loc, const char *name, uint32_t *out, int rank, const hsize_t *dims)
{
    return read_into(loc, name, H5T_NATIVE_UINT32, out, rank, dims);
}
int h5io_read_into_i64(hid_t loc, const char *name, int64_t *out, int rank, const hsize_t *dims)
{
    return read_into(loc, name, H5T_NATIVE_INT64, out, rank, dims);
}

/* ---- attributes ---- */

static int attr_write(hid_t loc, const char *obj, const char *name, hid_t type, const void *v)
{
    if (H5Aexists_by_name(loc, obj, name, H5P_DEFAULT) > 0) H5Adelete_by_name(loc, obj, name, H5P_DEFAULT);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate_by_name(loc, obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(sp);
    if (a < 0) FAIL(loc, "cannot create attribute %s on %s", name, obj);
    herr_t st = H5Awrite(a, type, v);
    H5Aclose(a);
    if (st < 0) FAIL(loc, "cannot write attribute %s on %s", name, obj);
    return DDPM_OK;
}

int h5io_attr_str(hid_t loc, const char *obj, const char *name, const char *value)
{
    /* Variable-length UTF-8: what h5py returns as str (fixed-length strings come back as bytes). */
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    int rc = attr_write(loc, obj, name, t, &value);
    H5Tclose(t);
    return rc;
}

int h5io_attr_i64(hid_t loc, const char *obj, const char *name, int64_t value)
{
    return attr_write(loc, obj, name, H5T_NATIVE_INT64, &value);
}
int h5io_attr_f64(hid_t loc, const char *obj, const char *name, double value)
{
    return attr_write(loc, obj, name, H5T_NATIVE_DOUBLE, &value);
}

int h5io_attr_exists(hid_t loc, const char *obj, const char *name)
{
    return H5Aexists_by_name(loc, obj, name, H5P_DEFAULT) > 0;
}

static hid_t attr_open(hid_t loc, const char *obj, const char *name)
{
    if (!h5io_attr_exists(loc, obj, name)) return H5I_INVALID_HID;
    return H5Aopen_by_name(loc, obj, name, H5P_DEFAULT, H5P_DEFAULT);
}

int h5io_get_attr_str(hid_t loc, const char *obj, const char *name, char *buf, size_t n)
{
    hid_t a = attr_open(loc, obj, name);
    if (a < 0) FAIL(loc, "attribute %s missing on %s", name, obj);
    hid_t ft = H5Aget_type(a);
    H5T_class_t cls = H5Tget_class(ft);
    int ok = cls == H5T_STRING || cls == H5T_INTEGER || cls == H5T_FLOAT;
    herr_t st = -1;
    if (cls == H5T_INTEGER) { /* a number written as a number (config values): its text */
        long long v = 0;
        st = H5Aread(a, H5T_NATIVE_LLONG, &v);
        if (st >= 0) snprintf(buf, n, "%lld", v);
    } else if (cls == H5T_FLOAT) {
        double v = 0;
        st = H5Aread(a, H5T_NATIVE_DOUBLE, &v);
        if (st >= 0) snprintf(buf, n, "%.17g", v);
    } else if (ok) {
        if (H5Tis_variable_str(ft) > 0) {
            char *s = NULL;
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(ft));
            st = H5Aread(a, mt, &s);
            if (st >= 0 && s) {
                snprintf(buf, n, "%s", s);
                H5free_memory(s);
            }
            H5Tclose(mt);
        } else {
            size_t sz = H5Tget_size(ft);
            char *tmp = ddpm_alloc(sz + 1);
            if (tmp) {
                hid_t mt = H5Tcopy(H5T_C_S1);
                H5Tset_size(mt, sz + 1);
                H5Tset_strpad(mt, H5T_STR_NULLTERM);
                H5Tset_cset(mt, H5Tget_cset(ft));
                st = H5Aread(a, mt, tmp);
                H5Tclose(mt);
                if (st >= 0) snprintf(buf, n, "%s", tmp);
                ddpm_free(tmp);
            }
        }
    }
    H5Tclose(ft);
    H5Aclose(a);
    if (!ok || st < 0) FAIL(loc, "attribute %s on %s is not a readable string or number", name, obj);
    return DDPM_OK;
}

static int attr_read_num(hid_t loc, const char *obj, const char *name, hid_t mt, void *v)
{
    hid_t a = attr_open(loc, obj, name);
    if (a < 0) FAIL(loc, "attribute %s missing on %s", name, obj);
    herr_t st = H5Aread(a, mt, v);
    H5Aclose(a);
    if (st < 0) FAIL(loc, "attribute %s on %s is not numeric", name, obj);
    return DDPM_OK;
}

int h5io_get_attr_i64(hid_t loc, const char *obj, const char *name, int64_t *value)
{
    return attr_read_num(loc, obj, name, H5T_NATIVE_INT64, value);
}
int h5io_get_attr_f64(hid_t loc, const char *obj, const char *name, double *value)
{
    return attr_read_num(loc, obj, name, H5T_NATIVE_DOUBLE, value);
}

typedef struct {
    int (*fn)(const char *, void *);
    void *user;
    int rc;
} iter_ctx;

static herr_t iter_cb(hid_t loc, const char *name, const H5A_info_t *info, void *op)
{
    (void)loc;
    (void)info;
    iter_ctx *c = op;
    c->rc = c->fn(name, c->user);
    return c->rc == DDPM_OK ? 0 : 1;
}

int h5io_attr_iterate(hid_t loc, const char *obj, int (*fn)(const char *name, void *user), void *user)
{
    iter_ctx c = { fn, user, DDPM_OK };
    hsize_t idx = 0;
    herr_t st = H5Aiterate_by_name(loc, obj, H5_INDEX_NAME, H5_ITER_INC, &idx, iter_cb, &c, H5P_DEFAULT);
    if (c.rc != DDPM_OK) return c.rc;
    if (st < 0) FAIL(loc, "cannot list attributes of %s", obj);
    return DDPM_OK;
}

/* ---- growing series ---- */

int h5io_series_open(h5io_series *s, hid_t loc, const char *name, hsize_t width)
{
    s->dset = H5I_INVALID_HID;
    s->n = 0;
    s->width = width;
    int rank = width ? 2 : 1;
    if (h5io_exists(loc, name)) {
        s->dset = H5Dopen2(loc, name, H5P_DEFAULT);
        if (s->dset < 0) FAIL(loc, "cannot open series %s", name);
        hid_t sp = H5Dget_space(s->dset);
        hsize_t dims[2] = { 0, 0 };
        int r = H5Sget_simple_extent_ndims(sp);
        H5Sget_simple_extent_dims(sp, dims, NULL);
        H5Sclose(sp);
        if (r != rank || (width && dims[1] != width)) {
            H5Dclose(s->dset);
            s->dset = H5I_INVALID_HID;
            FAIL(loc, "series %s exists with another shape", name);
        }
        s->n = dims[0];
        return DDPM_OK;
    }
    hsize_t dims[2] = { 0, width }, maxd[2] = { H5S_UNLIMITED, width };
    hsize_t chunk[2] = { 256, width ? width : 1 };
    hid_t sp = H5Screate_simple(rank, dims, maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, rank, chunk);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    s->dset = H5Dcreate2(loc, name, H5T_IEEE_F64LE, sp, lcpl, dcpl, H5P_DEFAULT);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(sp);
    if (s->dset < 0) FAIL(loc, "cannot create series %s", name);
    return DDPM_OK;
}

int h5io_series_append(h5io_series *s, const double *row)
{
    int rank = s->width ? 2 : 1;
    hsize_t newdims[2] = { s->n + 1, s->width };
    if (H5Dset_extent(s->dset, newdims) < 0) return ddpm_error("HDF5: cannot extend a series");
    hid_t fsp = H5Dget_space(s->dset);
    hsize_t start[2] = { s->n, 0 }, count[2] = { 1, s->width };
    H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL);
    hsize_t mdims[1] = { s->width ? s->width : 1 };
    hid_t msp = H5Screate_simple(1, mdims, NULL);
    herr_t st = H5Dwrite(s->dset, H5T_NATIVE_DOUBLE, msp, fsp, H5P_DEFAULT, row);
    H5Sclose(msp);
    H5Sclose(fsp);
    (void)rank;
    if (st < 0) return ddpm_error("HDF5: cannot append to a series (disk full?)");
    s->n++;
    return DDPM_OK;
}

int h5io_series_truncate(h5io_series *s, hsize_t n)
{
    if (n >= s->n) return DDPM_OK;
    hsize_t newdims[2] = { n, s->width };
    if (H5Dset_extent(s->dset, newdims) < 0) return ddpm_error("HDF5: cannot shrink a series");
    s->n = n;
    return DDPM_OK;
}

void h5io_series_close(h5io_series *s)
{
    if (s->dset >= 0) H5Dclose(s->dset);
    s->dset = H5I_INVALID_HID;
}
