/* partial.h — batched outputs that survive kill -9 (issue 18: multi-day work must survive
 * anything).
 *
 * Sampling, likelihood and feature extraction fill n rows in batches of `batch` whose results
 * do not depend on how the batches are split (per-example RNG keyed by the example index), so a
 * run may stop anywhere and continue later, on any number of ranks. A partial set is a group of
 * full-size datasets in an HDF5 file, chunked by the batch and allocated when created, plus a
 * bookkeeping dataset (uint8 [nbatches], attributes n and batch) whose flag b is set only after
 * batch b's rows are on disk; every finished round is flushed. Opening the same set again skips
 * the finished batches (their rows are read back into the caller's buffers).
 *
 * Under MPI (bin/ddpm-mpi) rank 0 alone owns the file: the batches still to do are dealt round
 * by round, one per rank (batch todo[round*P + r] to rank r), and each round's rows travel to
 * rank 0 by dist_gatherv_to_root (bytes only), which writes them. Rank 0 prints the progress of
 * the whole job (every rank's rows) with its ETA. All partial_* calls are collective.
 *
 * Whole files (`ddpm sample|bpd|stats`): partial_file_open keeps PATH.tmp between runs when its
 * `resume_key` attribute (everything that determines the result: weights digest, config hash,
 * n, seed, batch, ...) is the one asked for, and otherwise starts it afresh; partial_file_commit
 * drops the bookkeeping and renames it over PATH (h5io_commit), so a finished output is the file
 * an uninterrupted run writes. See docs/hdf5-schema.md, "Partial outputs". */
#ifndef DDPM_EVAL_PARTIAL_H
#define DDPM_EVAL_PARTIAL_H

#include "core/progress.h"

#include <hdf5.h>
#include <stdint.h>

typedef enum { PARTIAL_U8, PARTIAL_F32, PARTIAL_F64 } partial_type;

#define PARTIAL_MAX_ROW_RANK 4

typedef struct {
    const char *name; /* dataset path relative to the set's location */
    partial_type type;
    int lead;     /* 0: data is (n, row...); K > 0: (K, n, row...) (snapshots over time) */
    int row_rank; /* rank of one row (0 for a scalar per example) */
    hsize_t row[PARTIAL_MAX_ROW_RANK];
    void *data; /* caller's full-size buffer in that layout; rank 0 ends with every row */
} partial_dset;

typedef struct {
    hid_t loc; /* rank 0: the file or group of the datasets; H5I_INVALID_HID elsewhere */
    char done_name[128];
    char label[1100]; /* file (and group) for messages */
    int n, batch, nbatches;
    int ndset;
    partial_dset *dset;
    uint8_t *done; /* [nbatches], the same on every rank */
    int ndone_at_start;
    int fresh; /* 1 when the datasets were created by this call */
} partial_set;

/* Computes batch b = examples [i0, i0 + nb) into the rows of the sets' buffers; step(step_user,
 * done, total) may be called as the batch advances (within-batch progress). */
typedef int (*partial_compute_fn)(void *user, int b, int i0, int nb, void (*step)(void *, int, int), void *step_user);

/* Opens (or creates) the set at loc (rank 0; ignored elsewhere): n rows in batches of batch,
 * datasets d[0..nd) (the array must outlive the set), bookkeeping at done_name. Existing
 * datasets of the same shapes with a bookkeeping record of the same n and batch are kept and
 * their finished rows read into the buffers; anything else there is replaced. label names the
 * file in messages. done_name NULL: no file (the rounds, the gather to rank 0 and the progress
 * only). */
int partial_begin(partial_set *p, hid_t loc, const char *label, const char *done_name, int n, int batch,
                  partial_dset *d, int nd);
/* 1 when every batch is finished (same on every rank). */
int partial_complete(const partial_set *p);
/* Computes every unfinished batch with fn, rank 0 writing and flushing each round; progress on
 * stderr labelled `what`, in units of units_per_example per example. On error every rank
 * returns DDPM_ERR. */
int partial_run(partial_set *p, const char *what, int64_t units_per_example, partial_compute_fn fn, void *user);
/* Drops the bookkeeping record (rank 0): the datasets then read as an uninterrupted run's. */
int partial_finish(partial_set *p);
/* Copies rank 0's buffers to every rank (for results all ranks need). */
int partial_share(partial_set *p);
void partial_free(partial_set *p);

/* PATH.tmp, resumed when its resume_key equals key (says "resuming PATH"), else created afresh
 * (says why when a different one was there). Rank 0 only. */
hid_t partial_file_open(const char *path, const char *key);
/* Drops resume_key and renames PATH.tmp over PATH. */
int partial_file_commit(hid_t f, const char *path);
/* A digest (16 hex digits) of n bytes, for resume keys (the weights a result came from). */
void partial_digest(const void *data, size_t n, char hex[17]);

#endif
