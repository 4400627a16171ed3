#include "eval/partial.h"

#include "core/common.h"
#include "core/fs.h"
#include "dist/dist.h"
#include "io/h5io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <string.h>
#include <unistd.h>

static size_t elem_size(partial_type t) { return t == PARTIAL_U8 ? 1 : t == PARTIAL_F32 ? 4 : 8; }
static hid_t mem_type(partial_type t)
{
    return t == PARTIAL_U8 ? H5T_NATIVE_UINT8 : t == PARTIAL_F32 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE;
}
static hid_t file_type(partial_type t)
{
    return t == PARTIAL_U8 ? H5T_STD_U8LE : t == PARTIAL_F32 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE;
}

static size_t row_bytes(const partial_dset *d)
{
    size_t k = elem_size(d->type);
    for (int i = 0; i < d->row_rank; i++) k *= (size_t)d->row[i];
    return k;
}

/* Full shape of d: [lead,] n, row... */
static int full_dims(const partial_dset *d, int n, hsize_t *dims)
{
    int r = 0;
    if (d->lead > 0) dims[r++] = (hsize_t)d->lead;
    dims[r++] = (hsize_t)n;
    for (int i = 0; i < d->row_rank; i++) dims[r++] = d->row[i];
    return r;
}

static int batch_rows(const partial_set *p, int b)
{
    return p->n - b * p->batch < p->batch ? p->n - b * p->batch : p->batch;
}

static int64_t rows_done(const partial_set *p)
{
    int64_t k = 0;
    for (int b = 0; b < p->nbatches; b++)
        if (p->done[b]) k += batch_rows(p, b);
    return k;
}

/* Whether dataset `name` at loc has exactly this shape and element type class/size. */
static int same_layout(hid_t loc, const char *name, partial_type t, int rank, const hsize_t *dims)
{
    int r;
    hsize_t d[H5IO_MAX_RANK];
    if (!h5io_exists(loc, name) || h5io_shape(loc, name, &r, d) != DDPM_OK || r != rank) return 0;
    for (int i = 0; i < r; i++)
        if (d[i] != dims[i]) return 0;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return 0;
    hid_t ft = H5Dget_type(ds);
    int ok = ft >= 0 && H5Tget_class(ft) == H5Tget_class(file_type(t)) && H5Tget_size(ft) == elem_size(t);
    if (ft >= 0) H5Tclose(ft);
    H5Dclose(ds);
    return ok;
}

/* The existing record at loc, when it is one of this set: 1 and the flags in p->done. */
static int read_existing(partial_set *p)
{
    hsize_t nb = (hsize_t)p->nbatches;
    if (!same_layout(p->loc, p->done_name, PARTIAL_U8, 1, &nb)) return 0;
    int64_t n = -1, batch = -1;
    if (!h5io_attr_exists(p->loc, p->done_name, "n") || !h5io_attr_exists(p->loc, p->done_name, "batch") ||
        h5io_get_attr_i64(p->loc, p->done_name, "n", &n) != DDPM_OK ||
        h5io_get_attr_i64(p->loc, p->done_name, "batch", &batch) != DDPM_OK || n != p->n || batch != p->batch)
        return 0;
    for (int i = 0; i < p->ndset; i++) {
        hsize_t dims[H5IO_MAX_RANK];
        int r = full_dims(&p->dset[i], p->n, dims);
        if (!same_layout(p->loc, p->dset[i].name, p->dset[i].type, r, dims)) return 0;
    }
    hid_t ds = H5Dopen2(p->loc, p->done_name, H5P_DEFAULT);
    if (ds < 0) return 0;
    herr_t st = H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, p->done);
    H5Dclose(ds);
    if (st < 0) return 0;
    /* rows of unfinished batches are garbage (never filled, no fill value): overwritten later */
    for (int i = 0; i < p->ndset; i++) {
        hid_t d = H5Dopen2(p->loc, p->dset[i].name, H5P_DEFAULT);
        if (d < 0) return 0;
        st = H5Dread(d, mem_type(p->dset[i].type), H5S_ALL, H5S_ALL, H5P_DEFAULT, p->dset[i].data);
        H5Dclose(d);
        if (st < 0) return 0;
    }
    for (int b = 0; b < p->nbatches; b++) p->done[b] = p->done[b] != 0;
    return 1;
}

static int create_dataset(hid_t loc, const char *label, const char *name, hid_t ftype, int rank, const hsize_t *dims,
                          const hsize_t *chunk)
{
    if (h5io_exists(loc, name) && H5Ldelete(loc, name, H5P_DEFAULT) < 0)
        return ddpm_error("%s: cannot replace dataset %s", label, name);
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    if (chunk) H5Pset_chunk(dcpl, rank, chunk);
    /* All space at creation: a batch's write then changes raw data only, never the file's
     * metadata, so a kill in the middle of one leaves the file readable. No fill: the rows of
     * unfinished batches are never used. */
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    hid_t d = space < 0 ? -1 : H5Dcreate2(loc, name, ftype, space, lcpl, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    if (space >= 0) H5Sclose(space);
    if (d < 0) return ddpm_error("%s: cannot create dataset %s (disk full?)", label, name);
    H5Dclose(d);
    return DDPM_OK;
}

static int write_done(partial_set *p)
{
    hid_t d = H5Dopen2(p->loc, p->done_name, H5P_DEFAULT);
    herr_t st = d < 0 ? -1 : H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, p->done);
    if (d >= 0) H5Dclose(d);
    if (st < 0) return ddpm_error("%s: cannot write %s (disk full?)", p->label, p->done_name);
    if (H5Fflush(p->loc, H5F_SCOPE_GLOBAL) < 0) return ddpm_error("%s: flush failed (disk full?)", p->label);
    return DDPM_OK;
}

static int create_fresh(partial_set *p)
{
    for (int i = 0; i < p->ndset; i++) {
        const partial_dset *d = &p->dset[i];
        hsize_t dims[H5IO_MAX_RANK], chunk[H5IO_MAX_RANK];
        int r = full_dims(d, p->n, dims);
        for (int k = 0; k < r; k++) chunk[k] = dims[k];
        if (d->lead > 0) chunk[0] = 1;
        chunk[d->lead > 0] = (hsize_t)(p->batch < p->n ? p->batch : p->n); /* one chunk per batch */
        DDPM_TRY(create_dataset(p->loc, p->label, d->name, file_type(d->type), r, dims, chunk));
    }
    hsize_t nb = (hsize_t)p->nbatches;
    DDPM_TRY(create_dataset(p->loc, p->label, p->done_name, H5T_STD_U8LE, 1, &nb, NULL));
    DDPM_TRY(h5io_attr_i64(p->loc, p->done_name, "n", p->n));
    DDPM_TRY(h5io_attr_i64(p->loc, p->done_name, "batch", p->batch));
    memset(p->done, 0, (size_t)p->nbatches);
    return write_done(p);
}

int partial_begin(partial_set *p, hid_t loc, const char *label, const char *done_name, int n, int batch,
                  partial_dset *d, int nd)
{
    memset(p, 0, sizeof *p);
    p->loc = dist_rank() == 0 && done_name ? loc : H5I_INVALID_HID;
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->done_name, sizeof p->done_name, "%s", done_name ? done_name : "");
    if (n < 1 || batch < 1) return ddpm_error("%s: %d rows in batches of %d", label, n, batch);
    p->n = n;
    p->batch = batch;
    p->nbatches = (n + batch - 1) / batch;
    p->dset = d;
    p->ndset = nd;
    p->done = ddpm_alloc((size_t)p->nbatches);
    if (!p->done) return DDPM_ERR;
    int st[2] = { DDPM_OK, 0 }; /* status of rank 0, fresh */
    if (dist_rank() == 0) {
        if (!done_name) st[1] = 1;          /* in memory only */
        else if (loc < 0) st[0] = DDPM_ERR; /* the file's own error stands */
        else if (!read_existing(p)) {
            st[1] = 1;
            st[0] = create_fresh(p);
        }
    }
    DDPM_TRY(dist_bcast_bytes(st, sizeof st, 0));
    if (st[0] != DDPM_OK) return dist_rank() == 0 ? DDPM_ERR : ddpm_error("%s: rank 0 cannot write it", label);
    DDPM_TRY(dist_bcast_bytes(p->done, (size_t)p->nbatches, 0));
    p->fresh = st[1];
    for (int b = 0; b < p->nbatches; b++) p->ndone_at_start += p->done[b];
    if (p->ndone_at_start > 0 && dist_rank() == 0)
        fprintf(stderr, "resuming %s: %d of %d batches done\n", label, p->ndone_at_start, p->nbatches);
    return DDPM_OK;
}

int partial_complete(const partial_set *p)
{
    for (int b = 0; b < p->nbatches; b++)
        if (!p->done[b]) return 0;
    return 1;
}

typedef struct {
    progress *pb;
    int64_t base, span; /* work before this round; the round's work on all ranks */
} round_progress;

static void round_step(void *user, int done, int total)
{
    round_progress *r = user;
    if (total > 0) progress_update(r->pb, r->base + (int64_t)((double)r->span * done / total), NULL);
}

/* Rank 0 writes batch b's rows of every dataset. */
static int write_batch(partial_set *p, int b)
{
    const int i0 = b * p->batch, nb = batch_rows(p, b);
    for (int i = 0; i < p->ndset; i++) {
        const partial_dset *d = &p->dset[i];
        hsize_t dims[H5IO_MAX_RANK], start[H5IO_MAX_RANK] = { 0 }, count[H5IO_MAX_RANK];
        int r = full_dims(d, p->n, dims);
        for (int k = 0; k < r; k++) count[k] = dims[k];
        start[d->lead > 0] = (hsize_t)i0;
        count[d->lead > 0] = (hsize_t)nb;
        hid_t ds = H5Dopen2(p->loc, d->name, H5P_DEFAULT);
        hid_t fs = ds < 0 ? -1 : H5Dget_space(ds);
        hid_t ms = H5Screate_simple(r, dims, NULL);
        herr_t st = fs < 0 || ms < 0 ? -1 : 0;
        if (st >= 0) st = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
        if (st >= 0) st = H5Sselect_hyperslab(ms, H5S_SELECT_SET, start, NULL, count, NULL);
        if (st >= 0) st = H5Dwrite(ds, mem_type(d->type), ms, fs, H5P_DEFAULT, d->data);
        if (ms >= 0) H5Sclose(ms);
        if (fs >= 0) H5Sclose(fs);
        if (ds >= 0) H5Dclose(ds);
        if (st < 0)
            return ddpm_error("%s: cannot write rows %d..%d of %s (disk full?)", p->label, i0, i0 + nb - 1, d->name);
    }
    return DDPM_OK;
}

/* The rows of this round's batches (batch[q] of rank q, -1 for none) to rank 0. */
static int gather_round(partial_set *p, const int *batch, int P, void **scratch, size_t *scratch_n)
{
    size_t *counts = ddpm_alloc((size_t)P * sizeof(size_t));
    if (!counts) return DDPM_ERR;
    int rc = DDPM_OK;
    const int me = dist_rank();
    for (int i = 0; i < p->ndset && rc == DDPM_OK; i++) {
        const partial_dset *d = &p->dset[i];
        const size_t rb = row_bytes(d);
        size_t total = 0;
        for (int q = 0; q < P; q++) {
            counts[q] = batch[q] < 0 ? 0 : (size_t)batch_rows(p, batch[q]) * rb;
            total += counts[q];
        }
        if (me == 0 && total > *scratch_n) {
            ddpm_free(*scratch);
            *scratch = ddpm_alloc(total);
            *scratch_n = *scratch ? total : 0;
            if (!*scratch) {
                rc = DDPM_ERR;
                break;
            }
        }
        for (int k = 0; k < (d->lead > 0 ? d->lead : 1) && rc == DDPM_OK; k++) {
            char *plane = (char *)d->data + (size_t)k * p->n * rb;
            const char *mine = plane + (batch[me] < 0 ? 0 : (size_t)batch[me] * p->batch * rb);
            rc = dist_gatherv_to_root(mine, *scratch, counts, 0);
            if (rc == DDPM_OK && me == 0) {
                size_t o = 0;
                for (int q = 0; q < P; q++) {
                    if (q > 0 && counts[q])
                        memcpy(plane + (size_t)batch[q] * p->batch * rb, (char *)*scratch + o, counts[q]);
                    o += counts[q];
                }
            }
        }
    }
    ddpm_free(counts);
    return rc;
}

int partial_run(partial_set *p, const char *what, int64_t units_per_example, partial_compute_fn fn, void *user)
{
    const int P = dist_size(), me = dist_rank();
    int *todo = ddpm_alloc((size_t)p->nbatches * sizeof(int)), *mine = ddpm_alloc((size_t)P * sizeof(int));
    if (!todo || !mine) {
        ddpm_free(todo);
        ddpm_free(mine);
        return DDPM_ERR;
    }
    int ntodo = 0;
    for (int b = 0; b < p->nbatches; b++)
        if (!p->done[b]) todo[ntodo++] = b;
    progress pb;
    int64_t finished = rows_done(p) * units_per_example;
    progress_begin(&pb, what, (int64_t)p->n * units_per_example, finished);
    void *scratch = NULL;
    size_t scratch_n = 0;
    int rc = DDPM_OK;
    for (int r0 = 0; r0 < ntodo && rc == DDPM_OK; r0 += P) {
        round_progress rp = { &pb, finished, 0 };
        for (int q = 0; q < P; q++) {
            mine[q] = r0 + q < ntodo ? todo[r0 + q] : -1;
            if (mine[q] >= 0) rp.span += (int64_t)batch_rows(p, mine[q]) * units_per_example;
        }
        const int b = mine[me];
        int local = b >= 0 ? fn(user, b, b * p->batch, batch_rows(p, b), round_step, &rp) : DDPM_OK;
        int any = 0;
        if ((rc = dist_any_flag(local != DDPM_OK, &any)) != DDPM_OK) break;
        if (any) {
            rc = local != DDPM_OK ? DDPM_ERR : ddpm_error("%s: another rank failed (see its message)", p->label);
            break;
        }
        if (P > 1 && (rc = gather_round(p, mine, P, &scratch, &scratch_n)) != DDPM_OK) break;
        int wrc = DDPM_OK;
        if (me == 0 && p->loc >= 0) {
            /* data first, on disk, then the flags that say it is there */
            for (int q = 0; q < P && wrc == DDPM_OK; q++)
                if (mine[q] >= 0) wrc = write_batch(p, mine[q]);
            if (wrc == DDPM_OK && H5Fflush(p->loc, H5F_SCOPE_GLOBAL) < 0)
                wrc = ddpm_error("%s: flush failed (disk full?)", p->label);
            for (int q = 0; q < P && wrc == DDPM_OK; q++)
                if (mine[q] >= 0) p->done[mine[q]] = 1;
            if (wrc == DDPM_OK) wrc = write_done(p);
        }
        if ((rc = dist_bcast_bytes(&wrc, sizeof wrc, 0)) != DDPM_OK) break;
        if (wrc != DDPM_OK) {
            rc = me == 0 ? DDPM_ERR : ddpm_error("%s: rank 0 cannot write it (see its message)", p->label);
            break;
        }
        for (int q = 0; q < P; q++)
            if (mine[q] >= 0) p->done[mine[q]] = 1;
        finished += rp.span;
        progress_update(&pb, finished, NULL);
    }
    if (rc == DDPM_OK) progress_end(&pb, NULL);
    ddpm_free(scratch);
    ddpm_free(todo);
    ddpm_free(mine);
    return rc;
}

int partial_finish(partial_set *p)
{
    if (dist_rank() != 0 || p->loc < 0 || !h5io_exists(p->loc, p->done_name)) return DDPM_OK;
    if (H5Ldelete(p->loc, p->done_name, H5P_DEFAULT) < 0)
        return ddpm_error("%s: cannot remove %s", p->label, p->done_name);
    if (H5Fflush(p->loc, H5F_SCOPE_GLOBAL) < 0) return ddpm_error("%s: flush failed (disk full?)", p->label);
    return DDPM_OK;
}

int partial_share(partial_set *p)
{
    if (dist_size() == 1) return DDPM_OK;
    for (int i = 0; i < p->ndset; i++) {
        const partial_dset *d = &p->dset[i];
        DDPM_TRY(dist_bcast_bytes(d->data, (size_t)(d->lead > 0 ? d->lead : 1) * p->n * row_bytes(d), 0));
    }
    return DDPM_OK;
}

void partial_free(partial_set *p)
{
    ddpm_free(p->done);
    p->done = NULL;
}

hid_t partial_file_open(const char *path, const char *key)
{
    char tmp[1100], have[1024] = "";
    fs_tmp_path(path, tmp, sizeof tmp);
    if (access(tmp, F_OK) == 0) {
        /* HDF5 holds an flock on files it has open: a run still at work (a rank of a job whose
         * mpirun was killed, a second command) must not be overwritten */
        int fd = open(tmp, O_RDONLY);
        int busy = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
        if (fd >= 0) close(fd);
        if (busy) {
            ddpm_error("%s is being written by another running process; wait for it to finish or stop it", tmp);
            return H5I_INVALID_HID;
        }
        hid_t f = h5io_open(tmp, 1);
        if (f >= 0 && h5io_attr_exists(f, ".", "resume_key"))
            h5io_get_attr_str(f, ".", "resume_key", have, sizeof have);
        if (f >= 0 && !strcmp(have, key)) return f;
        if (f >= 0) h5io_close(f);
        fprintf(stderr, "%s: %s; starting it afresh\n", tmp,
                f < 0 ? "an unreadable partial output" : "a partial output of other settings");
        ddpm_clear_error();
    }
    hid_t f = h5io_create_tmp(path);
    if (f < 0) return f;
    if (h5io_attr_str(f, ".", "resume_key", key) != DDPM_OK) {
        h5io_abandon(f, path);
        return H5I_INVALID_HID;
    }
    return f;
}

int partial_file_commit(hid_t f, const char *path)
{
    if (H5Aexists(f, "resume_key") > 0 && H5Adelete(f, "resume_key") < 0) {
        h5io_abandon(f, path);
        return ddpm_error("%s: cannot drop the resume_key attribute", path);
    }
    return h5io_commit(f, path);
}

void partial_digest(const void *data, size_t n, char hex[17])
{
    /* FNV-1a, 64 bit, over the bytes */
    uint64_t h = 0xcbf29ce484222325ULL;
    const unsigned char *c = data;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001b3ULL;
    snprintf(hex, 17, "%016llx", (unsigned long long)h);
}
