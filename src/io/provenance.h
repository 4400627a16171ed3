/* provenance.h — what an HDF5 file says about itself (DESIGN.md contracts 2 and 5,
 * docs/hdf5-schema.md): the provenance group (git revision, compiler and flags, library
 * versions, host, thread counts, seed, command line, UTC start time) and the config as
 * attributes. Run logs (runlog.h) and checkpoints (train/checkpoint.h) both write them. */
#ifndef DDPM_PROVENANCE_H
#define DDPM_PROVENANCE_H

#include "core/config.h"
#include "io/h5io.h"

#include <stddef.h>

/* Writes the provenance group `group` on loc. cfg may be NULL (seed 0). */
int write_provenance(hid_t loc, const char *group, const ddpm_config *cfg, int argc, char **argv);
/* Config as string attributes of object obj (created as a group if missing), plus config_hash
 * and config_text (the canonical dump). */
int write_config_attrs(hid_t loc, const char *obj, const ddpm_config *cfg);
/* Reads a config written by write_config_attrs (every key must be present and valid). */
int read_config_attrs(hid_t loc, const char *obj, ddpm_config *cfg);

/* Current UTC time as ISO 8601. */
const char *utc_now_iso(char *buf, size_t n);

#endif
