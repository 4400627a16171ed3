/* tensor_file.h — one view of every foreign tensor format the harness reads, chosen by the
 * file's magic bytes (never its extension):
 *   "PK\3\4"            zip: a torch.save archive (has a data.pkl) or a NumPy .npz
 *   0x80 (pickle PROTO)  legacy torch.save stream
 *   "\x93NUMPY"          .npy
 *   u64 N + '{'          safetensors
 *   SSTable footer magic (or PATH.index exists) TensorFlow V2 checkpoint bundle
 * Names, dtypes, shapes, stored bytes and float32 copies for all; the TF bundle also verifies
 * each tensor's CRC32C. Errors name the file. */
#ifndef DDPM_TENSOR_FILE_H
#define DDPM_TENSOR_FILE_H

#include "io/dtype.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    TENSOR_FMT_TORCH_ZIP,
    TENSOR_FMT_TORCH_LEGACY,
    TENSOR_FMT_SAFETENSORS,
    TENSOR_FMT_NPY,
    TENSOR_FMT_NPZ,
    TENSOR_FMT_TFBUNDLE
} tensor_format;

typedef struct tensor_file tensor_file;

int tensor_file_open(tensor_file **out, const char *path);
/* The single-file formats from a buffer (copied); label names it in messages. A TF bundle
 * (two files) cannot be opened this way. */
int tensor_file_open_mem(tensor_file **out, const void *data, size_t len, const char *label);
void tensor_file_close(tensor_file *f);
tensor_format tensor_file_format(const tensor_file *f);
const char *tensor_format_name(tensor_format fmt); /* "torch zip", "safetensors", ... */
const char *tensor_file_path(const tensor_file *f);

int tensor_file_count(const tensor_file *f);
const char *tensor_file_name(const tensor_file *f, int i);    /* NULL out of range */
int tensor_file_find(const tensor_file *f, const char *name); /* index or -1 */
int tensor_file_info(const tensor_file *f, int i, io_dtype *dtype, int *rank, int64_t shape[IO_MAX_RANK],
                     uint64_t *nbytes);
/* Contiguous row-major float32 copy (ddpm_alloc; free with ddpm_free). */
int tensor_file_get_f32(const tensor_file *f, int i, float **out);
/* TF bundle: 1 CRC32C ok, 0 mismatch, -1 read error. Other formats: 2 (checked at open: the
 * zip CRC-32 of torch/npz archives, or nothing to check). */
int tensor_file_check(const tensor_file *f, int i);

#endif
