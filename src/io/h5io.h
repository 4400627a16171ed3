/* h5io.h — checked helpers over libhdf5 for whole arrays, attributes and growing series.
 *
 * Every HDF5 call's status is checked; failures set ddpm_error() with the file and dataset
 * name. HDF5's own error stack printing is switched off by h5io_init() so users see one line.
 * Dataset names may contain '/', intermediate groups are created on write. Arrays are
 * row-major (C order) as HDF5 stores them; image tensors are NHWC (DESIGN.md contract 3). */
#ifndef DDPM_H5IO_H
#define DDPM_H5IO_H

#include <hdf5.h>
#include <stdint.h>

#define H5IO_MAX_RANK 8

void h5io_init(void);

/* Files. h5io_create truncates. Return a valid hid_t or H5I_INVALID_HID (error set). */
hid_t h5io_create(const char *path);
hid_t h5io_open(const char *path, int writable);
int h5io_close(hid_t file);
/* Closes, then fsyncs the file so a crash after return cannot lose it. */
int h5io_close_sync(hid_t file, const char *path);
/* Atomic replacement of PATH: h5io_create_tmp writes PATH.tmp; h5io_commit closes, fsyncs and
 * renames it over PATH (a crash before leaves PATH as it was); h5io_abandon closes and removes
 * the temporary after a failure. */
hid_t h5io_create_tmp(const char *path);
int h5io_commit(hid_t file, const char *path);
void h5io_abandon(hid_t file, const char *path);
/* The file name of an open object, for error messages ("?" if unknown). */
const char *h5io_filename(hid_t loc, char *buf, size_t n);

int h5io_exists(hid_t loc, const char *name);

/* Whole-array writes; an existing dataset of the same name is replaced. */
int h5io_write_f32(hid_t loc, const char *name, const float *data, int rank, const hsize_t *dims);
/* The same in one chunk with HDF5's Fletcher32 checksum, verified on every read (checkpoints). */
int h5io_write_f32_checksummed(hid_t loc, const char *name, const float *data, int rank, const hsize_t *dims);
int h5io_write_f64(hid_t loc, const char *name, const double *data, int rank, const hsize_t *dims);
int h5io_write_i32(hid_t loc, const char *name, const int32_t *data, int rank, const hsize_t *dims);
int h5io_write_i64(hid_t loc, const char *name, const int64_t *data, int rank, const hsize_t *dims);
int h5io_write_u8(hid_t loc, const char *name, const uint8_t *data, int rank, const hsize_t *dims);
int h5io_write_u32(hid_t loc, const char *name, const uint32_t *data, int rank, const hsize_t *dims);

/* Shape of a dataset. */
/* 1 when dataset `name` stores unsigned 8-bit integers (no conversion on read), else 0. */
int h5io_is_uint8(hid_t loc, const char *name);
int h5io_shape(hid_t loc, const char *name, int *rank, hsize_t dims[H5IO_MAX_RANK]);
/* Reads converting to the requested type; allocates *out with ddpm_alloc (free with ddpm_free).
 * rank/dims may be NULL. */
int h5io_read_f32(hid_t loc, const char *name, float **out, int *rank, hsize_t dims[H5IO_MAX_RANK]);
int h5io_read_f64(hid_t loc, const char *name, double **out, int *rank, hsize_t dims[H5IO_MAX_RANK]);
int h5io_read_i32(hid_t loc, const char *name, int32_t **out, int *rank, hsize_t dims[H5IO_MAX_RANK]);
int h5io_read_u8(hid_t loc, const char *name, uint8_t **out, int *rank, hsize_t dims[H5IO_MAX_RANK]);
/* Reads into caller memory; the dataset must have exactly this shape (error names both). */
int h5io_read_into_f32(hid_t loc, const char *name, float *out, int rank, const hsize_t *dims);
int h5io_read_into_f64(hid_t loc, const char *name, double *out, int rank, const hsize_t *dims);
int h5io_read_into_u32(hid_t loc, const char *name, uint32_t *out, int rank, const hsize_t *dims);
int h5io_read_into_i64(hid_t loc, const char *name, int64_t *out, int rank, const hsize_t *dims);

/* Attributes on a file, group or dataset ("obj" is a path relative to loc, "." for loc). */
int h5io_attr_str(hid_t loc, const char *obj, const char *name, const char *value);
int h5io_attr_i64(hid_t loc, const char *obj, const char *name, int64_t value);
int h5io_attr_f64(hid_t loc, const char *obj, const char *name, double value);
int h5io_get_attr_str(hid_t loc, const char *obj, const char *name, char *buf, size_t n);
int h5io_get_attr_i64(hid_t loc, const char *obj, const char *name, int64_t *value);
int h5io_get_attr_f64(hid_t loc, const char *obj, const char *name, double *value);
int h5io_attr_exists(hid_t loc, const char *obj, const char *name);
/* Calls fn(name, user) for every attribute of obj, in name order. */
int h5io_attr_iterate(hid_t loc, const char *obj, int (*fn)(const char *name, void *user), void *user);

int h5io_mkgroup(hid_t loc, const char *name);

/* A 1-D float64 (or 2-D [n, width]) series that grows along its first axis. */
typedef struct {
    hid_t dset;
    hsize_t n;     /* rows written */
    hsize_t width; /* 0 for a scalar series */
} h5io_series;

int h5io_series_open(h5io_series *s, hid_t loc, const char *name, hsize_t width);
int h5io_series_append(h5io_series *s, const double *row);
/* Shrinks the series to its first n rows (no-op when it has n rows or fewer). */
int h5io_series_truncate(h5io_series *s, hsize_t n);
void h5io_series_close(h5io_series *s);

#endif
