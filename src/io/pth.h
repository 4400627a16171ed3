/* pth.h — reads tensors from a PyTorch torch.save'd state_dict without Python.
 *
 * Both containers torch.save has written are understood:
 *   zip     (PyTorch >= 1.6): <prefix>/data.pkl + <prefix>/data/<key> stored entries. The central
 *           directory (zip64 too) is parsed here; every entry is CRC-32 checked and its local
 *           header must agree with the central one. Compressed entries are rejected.
 *   legacy  (_use_new_zipfile_serialization=False, and every file written before 1.6, e.g. the
 *           pytorch-fid Inception weights): magic-number pickle, protocol version, sys_info,
 *           the object pickle, the list of storage keys, then each storage as an 8-byte element
 *           count followed by raw little-endian elements.
 * The object pickle is read by a small unpickler (protocols 2-4 opcodes that torch.save emits;
 * torch's _rebuild_tensor_v2 / _rebuild_parameter, OrderedDict, persistent storage ids).
 * Tensors are collected from the top-level dict; nested dicts give "outer.inner" names.
 * Malformed input (truncation, unknown opcodes, bad offsets, out-of-range strides) is an error
 * with a message naming the file and the problem; it never reads outside the file.
 *
 * The zip container is io/zip.c, the unpickler io/pickle.c; this file gives torch's globals
 * and persistent ids their meaning. Tensors keep their storage offset/shape/strides; the getters materialize a contiguous copy
 * (row-major) converted to the requested type. */
#ifndef DDPM_PTH_H
#define DDPM_PTH_H

#include "io/dtype.h"

#include <stddef.h>
#include <stdint.h>

/* The element types are the readers' shared io_dtype (io/dtype.h); the PTH_ names stay. */
#define PTH_MAX_RANK IO_MAX_RANK
typedef io_dtype pth_dtype;
#define PTH_F32  IO_F32
#define PTH_F64  IO_F64
#define PTH_F16  IO_F16
#define PTH_BF16 IO_BF16
#define PTH_I64  IO_I64
#define PTH_I32  IO_I32
#define PTH_I16  IO_I16
#define PTH_I8   IO_I8
#define PTH_U8   IO_U8
#define PTH_BOOL IO_BOOL

typedef struct pth_file pth_file;

/* Reads the whole file into memory and indexes its tensors. */
int pth_open(pth_file **out, const char *path);
/* The same from a buffer (copied); label names it in error messages. */
int pth_open_mem(pth_file **out, const void *data, size_t len, const char *label);
void pth_close(pth_file *f);

/* 1 for the zip container, 0 for the legacy stream. */
int pth_is_zip(const pth_file *f);
int pth_num_tensors(const pth_file *f);
/* Names in the order the dict stored them; NULL when i is out of range. */
const char *pth_tensor_name(const pth_file *f, int i);
/* Index of a tensor by name, or -1. */
int pth_find(const pth_file *f, const char *name);
/* dtype, rank and shape (shape may be NULL); error if the name is absent. */
int pth_tensor_info(const pth_file *f, const char *name, pth_dtype *dtype, int *rank, int64_t shape[PTH_MAX_RANK]);
const char *pth_dtype_name(pth_dtype t);

/* Contiguous copies, allocated with ddpm_alloc (free with ddpm_free); rank/shape may be NULL.
 * Any stored dtype converts (float64 and int64 round to nearest in _f32; _i64 needs an
 * integer or bool dtype, _f64 is exact for every float dtype and integers up to 2^53). */
int pth_get_f32(const pth_file *f, const char *name, float **out, int *rank, int64_t shape[PTH_MAX_RANK]);
int pth_get_f64(const pth_file *f, const char *name, double **out, int *rank, int64_t shape[PTH_MAX_RANK]);
int pth_get_i64(const pth_file *f, const char *name, int64_t **out, int *rank, int64_t shape[PTH_MAX_RANK]);

/* ---- writing (pth_write.c) ------------------------------------------------------------------
 * A state_dict of float32 tensors as torch.save (>= 1.6, zip) writes it: archive/data.pkl (a
 * protocol-2 pickle of an OrderedDict of torch._utils._rebuild_tensor_v2 with persistent ids
 * ('storage', torch.FloatStorage, 'k', 'cpu', numel)), archive/byteorder, archive/data/k (one
 * storage per tensor), archive/version; entries stored, data 64-byte aligned. torch.load reads
 * it (checked by scripts/gen_released_fixtures.py). Tensors keep the given order. */
typedef struct {
    const char *name;
    int rank;
    int64_t shape[PTH_MAX_RANK];
    const float *data; /* contiguous row-major */
} pth_tensor_out;
int pth_save_f32(const char *path, const pth_tensor_out *t, int n);

#endif
