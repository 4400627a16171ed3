/* runlog.h — the HDF5 run log every driver writes (DESIGN.md contract 5, docs/hdf5-schema.md).
 *
 * A log holds a `provenance` group (io/provenance.h), the config as attributes of `config`, growing
 * time series under `series/` (flushed every few seconds, so a killed process leaves a readable
 * file up to the last flush) and results written by the caller. Re-opening an existing log
 * (resume) appends to its series and records the new invocation under provenance/resumes. */
#ifndef DDPM_RUNLOG_H
#define DDPM_RUNLOG_H

#include "core/config.h"
#include "io/h5io.h"

#define RUNLOG_MAX_SERIES 32

typedef struct {
    hid_t file;
    char path[1024];
    int nseries;
    char names[RUNLOG_MAX_SERIES][64];
    h5io_series series[RUNLOG_MAX_SERIES];
    double last_flush;
    double flush_every;    /* seconds between flushes (default 5, env DDPM_LOG_FLUSH_SECONDS) */
    char resume_group[64]; /* provenance/resumes/<k> of this invocation, "" for a new log */
} runlog;

/* Creates (or, with resume=1 and an existing file, reopens) the log at path. cfg may be NULL.
 * A log that cannot be reopened (a process killed in the middle of an HDF5 write can leave one)
 * is renamed to PATH.damaged, kept for inspection, and a new log is started whose root attribute
 * `previous_log` names it. */
int runlog_open(runlog *L, const char *path, const ddpm_config *cfg, int argc, char **argv, int resume);
/* Resume after a crash: drops the rows written after the state being resumed, i.e. shrinks
 * every series under series/ to the leading rows whose series `key` is <= max_key (and to the
 * shortest series, so rows stay aligned). *dropped (may be NULL) receives the rows removed from
 * `key`. The number is recorded as attribute rows_dropped of the newest provenance/resumes/<k>. */
int runlog_rewind(runlog *L, const char *key, double max_key, long long *dropped);
/* Appends value to series `name` (created on first use as series/<name>). */
int runlog_append(runlog *L, const char *name, double value);
/* Flushes when flush_every seconds have passed since the last flush (or force). */
int runlog_maybe_flush(runlog *L, int force);
int runlog_close(runlog *L);

#endif
