/* npy.h — NumPy .npy arrays and .npz archives (zip of .npy files, stored or deflated) without
 * Python: the FID reference statistics everyone uses (TTUR's fid_stats_cifar10_train.npz:
 * mu [2048] and sigma [2048,2048] float64) and guided-diffusion's reference batches.
 *
 * .npy: magic "\x93NUMPY", version 1.0 (u16 header length), 2.0 or 3.0 (u32), a Python dict
 * literal {'descr': '<f8', 'fortran_order': False, 'shape': (2048,)} padded with spaces and a
 * newline, then the raw elements. descr: little-endian or byte-order-free f2/f4/f8, i1/i2/i4/i8,
 * u1, b1; big-endian and structured dtypes are errors that say so. fortran_order True arrays are
 * read and transposed to C order by the getters. The data must be exactly numel * itemsize
 * bytes. A .npy file is one array named after the file's base name without ".npy"; an .npz
 * entry "mu.npy" is the array "mu". Every error names the file (and the array). */
#ifndef DDPM_NPY_H
#define DDPM_NPY_H

#include "io/dtype.h"

#include <stddef.h>
#include <stdint.h>

typedef struct npy_file npy_file;

int npy_open(npy_file **out, const char *path); /* .npy or .npz, detected by magic */
int npy_open_mem(npy_file **out, const void *data, size_t len, const char *label);
void npy_close(npy_file *f);

int npy_is_npz(const npy_file *f);
int npy_num_arrays(const npy_file *f);
const char *npy_array_name(const npy_file *f, int i); /* NULL out of range */
int npy_find(const npy_file *f, const char *name);    /* index or -1 */
/* fortran: 1 when stored column-major (the getters return C order either way). */
int npy_array_info(const npy_file *f, int i, io_dtype *dtype, int *rank, int64_t shape[IO_MAX_RANK], uint64_t *nbytes,
                   int *fortran);
/* Contiguous C-order copies (ddpm_alloc); any dtype converts. */
int npy_get_f32(const npy_file *f, int i, float **out);
int npy_get_f64(const npy_file *f, int i, double **out);

#endif
