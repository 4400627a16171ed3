#include "io/filekind.h"

#include "io/h5io.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *const NAMES[FK_COUNT] = {
    "no file",
    "a directory",
    "a file that is not HDF5",
    "a PNG image",
    "an HDF5 file",
    "a checkpoint",
    "a run log",
    "a samples file",
    "reference statistics",
    "a bpd result",
    "Inception features",
    "a forward output",
    "a loss/gradient output",
    "a tensors dump",
};

const char *file_kind_name(file_kind k) { return (unsigned)k < FK_COUNT ? NAMES[k] : "?"; }

static int attr_is(hid_t f, const char *name, const char *prefix)
{
    char v[128];
    return h5io_attr_exists(f, ".", name) && h5io_get_attr_str(f, ".", name, v, sizeof v) == 0 &&
           !strncmp(v, prefix, strlen(prefix));
}

file_kind file_kind_of(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return FK_MISSING;
    if (S_ISDIR(st.st_mode)) return FK_DIRECTORY;
    unsigned char sig[8] = { 0 };
    FILE *fp = fopen(path, "rb");
    size_t got = fp ? fread(sig, 1, sizeof sig, fp) : 0;
    if (fp) fclose(fp);
    if (got == 8 && !memcmp(sig, "\x89PNG\r\n\x1a\n", 8)) return FK_PNG;
    h5io_init();
    if (H5Fis_hdf5(path) <= 0) return FK_OTHER;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return FK_HDF5;
    file_kind k = FK_HDF5;
    if (attr_is(f, "format", "ddpm-ckpt")) k = FK_CHECKPOINT;
    else if (attr_is(f, "schema", "ddpm-runlog")) k = FK_RUNLOG;
    else if (attr_is(f, "kind", "tensors")) k = FK_TENSORS;
    else if (h5io_exists(f, "samples")) k = FK_SAMPLES;
    else if (h5io_exists(f, "mu") && h5io_exists(f, "sigma")) k = FK_STATS;
    else if (h5io_exists(f, "total_bpd")) k = FK_BPD;
    else if (h5io_exists(f, "pool3")) k = FK_FEATURES;
    else if (h5io_exists(f, "loss") && h5io_exists(f, "grad")) k = FK_LOSS;
    else if (h5io_exists(f, "y")) k = FK_FORWARD;
    H5Fclose(f);
    return k;
}
