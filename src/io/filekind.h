/* filekind.h — what an existing file is, so that no command overwrites a checkpoint, a run log
 * or statistics with output of another kind (README "Reliability"). HDF5 files are told apart
 * by what the project writes into them (format/schema attributes, characteristic datasets). */
#ifndef DDPM_FILEKIND_H
#define DDPM_FILEKIND_H

typedef enum {
    FK_MISSING, /* no such file */
    FK_DIRECTORY,
    FK_OTHER, /* a file that is neither HDF5 nor PNG (a config, a .pth, ...) */
    FK_PNG,
    FK_HDF5,       /* HDF5 the project does not recognise, or one it cannot open (in use) */
    FK_CHECKPOINT, /* format = ddpm-ckpt-1 */
    FK_RUNLOG,     /* schema = ddpm-runlog-1 */
    FK_SAMPLES,    /* `ddpm sample`: samples */
    FK_STATS,      /* `ddpm stats`: mu, sigma */
    FK_BPD,        /* `ddpm bpd`: total_bpd */
    FK_FEATURES,   /* `ddpm inception`: pool3 */
    FK_FORWARD,    /* `ddpm forward`: y */
    FK_LOSS,       /* `ddpm loss`: loss, grad/ */
    FK_TENSORS,    /* `ddpm tensors --out`: attribute kind = tensors */
    FK_COUNT
} file_kind;

file_kind file_kind_of(const char *path);
/* "a checkpoint", "a run log", "samples", ... for messages. */
const char *file_kind_name(file_kind k);

#endif
