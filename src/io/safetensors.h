/* safetensors.h — reads and writes the safetensors format (huggingface/safetensors README
 * "Format"; shared/released-models/FORMATS.md §4.5) without Python.
 *
 * Layout: u64 LE header length N (<= 100,000,000), N bytes of UTF-8 JSON (must start with '{',
 * may be right-padded with spaces), then the byte buffer. The JSON maps each tensor name to
 * {"dtype": "F32", "shape": [..], "data_offsets": [BEGIN, END]} (offsets relative to the
 * buffer, END exclusive) and may hold "__metadata__": {string: string}. Checked: the JSON
 * itself (a small bounds-checked parser for exactly this schema), known dtype, END - BEGIN =
 * numel * sizeof(dtype), offsets tiling the whole buffer with no gap or overlap, unique names.
 * Tensors are listed in header order. Every error names the file (and tensor). */
#ifndef DDPM_SAFETENSORS_H
#define DDPM_SAFETENSORS_H

#include "io/dtype.h"

#include <stddef.h>
#include <stdint.h>

typedef struct safetensors safetensors;

int safetensors_open(safetensors **out, const char *path);
/* From a buffer (copied); label names it in messages. */
int safetensors_open_mem(safetensors **out, const void *data, size_t len, const char *label);
void safetensors_close(safetensors *s);

int safetensors_num_tensors(const safetensors *s);
const char *safetensors_tensor_name(const safetensors *s, int i); /* NULL out of range */
int safetensors_find(const safetensors *s, const char *name);     /* index or -1 */
int safetensors_tensor_info(const safetensors *s, int i, io_dtype *dtype, int *rank, int64_t shape[IO_MAX_RANK],
                            uint64_t *nbytes);
/* Raw little-endian bytes of tensor i (points into the file's buffer). */
const uint8_t *safetensors_tensor_data(const safetensors *s, int i);
/* Contiguous float32 copy (ddpm_alloc); float dtypes convert, integer dtypes are an error. */
int safetensors_get_f32(const safetensors *s, int i, float **out);
/* __metadata__ entries in file order; NULL when none. */
const char *safetensors_metadata(const safetensors *s, const char *key);

/* Writer: tensors in the given order, contiguous; metadata (key, value pairs, may be 0) first
 * in the header; header padded with spaces to a multiple of 8 as safetensors >= 0.3.1 does. */
typedef struct {
    const char *name;
    io_dtype dtype;
    int rank;
    int64_t shape[IO_MAX_RANK];
    const void *data; /* numel * sizeof(dtype) bytes, little-endian */
} safetensors_tensor;
int safetensors_write(const char *path, const safetensors_tensor *t, int n, const char *const *meta, int nmeta);

#endif
