/* zip.h — the zip container of torch.save files and NumPy .npz archives, read from memory, and
 * a writer of stored (uncompressed) archives laid out as torch.save writes them.
 *
 * Reading: the end record is found (zip64 locator and record too), the central directory is
 * walked, every entry's local header must agree with it, entries must not overlap and must lie
 * before the central directory. Stored entries are CRC-32 checked when the archive is opened;
 * deflated ones (method 8, allowed only when asked for: npz from numpy.savez_compressed) are
 * checked when extracted. Encrypted, multi-disk and other methods are errors. Every error is
 * one line "LABEL: zip: problem". Names point into the caller's buffer, which must outlive
 * the archive. */
#ifndef DDPM_ZIP_H
#define DDPM_ZIP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    const char *name; /* points into the central directory, not NUL-terminated */
    size_t nlen;
    uint64_t local_off, comp, uncomp, data_off, end;
    uint32_t crc;
    uint16_t flags, method, version, time, date;
} zip_entry;

typedef struct {
    const uint8_t *buf;
    size_t len;
    const char *label;
    int allow_deflate;
    zip_entry *ent;
    int n;
} zip_archive;

int zip_open(zip_archive *z, const uint8_t *buf, size_t len, const char *label, int allow_deflate);
void zip_close(zip_archive *z);
/* The entry named exactly prefix[0:pl] + suffix, or NULL. */
const zip_entry *zip_find(const zip_archive *z, const char *prefix, size_t pl, const char *suffix);
/* The entry's bytes: stored entries point into the buffer (*owned = NULL); deflated ones are
 * inflated into *owned (malloc; free it) and CRC-checked. */
int zip_data(const zip_archive *z, const zip_entry *e, const uint8_t **data, uint8_t **owned);

/* ---- writing ------------------------------------------------------------------------------ */
#define ZIP_MAX_WRITE_ENTRIES 4096
typedef struct {
    FILE *fp;
    const char *path;
    uint64_t off;
    int n, failed;
    struct {
        char name[256];
        uint64_t off, size;
        uint32_t crc;
    } e[ZIP_MAX_WRITE_ENTRIES];
} zip_writer;

/* zip_writer is large: allocate it (zip_writer_open does). Entries are stored, their data
 * aligned to `align` bytes by padding the local header's extra field (torch uses 64). */
int zip_writer_open(zip_writer **w, const char *path);
int zip_writer_add(zip_writer *w, const char *name, const void *data, size_t n, size_t align);
/* Central directory, zip64 end record and locator, end record; closes (and fsyncs) the file. */
int zip_writer_close(zip_writer *w);
void zip_writer_abort(zip_writer *w);

#endif
