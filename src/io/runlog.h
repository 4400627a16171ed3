/* runlog.h — the HDF5 run log every driver writes (DESIGN.md contract 5, docs/hdf5-schema.md).
 *
 * A log holds a `provenance` group (git revision, compiler and flags, library versions, seed,
 * command line, UTC start time, thread counts), the config as attributes of `config`, growing
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
    double flush_every;      /* seconds between flushes (default 5) */
} runlog;

/* Creates (or, with resume=1 and an existing file, reopens) the log at path. cfg may be NULL. */
int runlog_open(runlog *L, const char *path, const ddpm_config *cfg, int argc, char **argv, int resume);
/* Appends value to series `name` (created on first use as series/<name>). */
int runlog_append(runlog *L, const char *name, double value);
/* Flushes when flush_every seconds have passed since the last flush (or force). */
int runlog_maybe_flush(runlog *L, int force);
int runlog_close(runlog *L);

/* Writes the provenance group `group` on loc (used by logs and checkpoints). */
int write_provenance(hid_t loc, const char *group, const ddpm_config *cfg, int argc, char **argv);
/* Config as string attributes of object obj (created as a group if missing), plus config_hash
 * and config_text (the canonical dump). */
int write_config_attrs(hid_t loc, const char *obj, const ddpm_config *cfg);
/* Reads a config written by write_config_attrs (every key must be present and valid). */
int read_config_attrs(hid_t loc, const char *obj, ddpm_config *cfg);

/* Current UTC time as ISO 8601. */
const char *utc_now_iso(char *buf, size_t n);

#endif
