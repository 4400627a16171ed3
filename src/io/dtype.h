/* dtype.h — element types of tensors read from foreign files (torch, TF bundle, safetensors,
 * npy/npz). Shared by the readers in src/io/ so a tensor's type means one thing everywhere. */
#ifndef DDPM_IO_DTYPE_H
#define DDPM_IO_DTYPE_H

#include <stddef.h>

#define IO_MAX_RANK 8

typedef enum {
    IO_F32,
    IO_F64,
    IO_F16,
    IO_BF16,
    IO_I64,
    IO_I32,
    IO_I16,
    IO_I8,
    IO_U8,
    IO_BOOL,
    IO_DTYPE_COUNT
} io_dtype;

static inline size_t io_dtype_size(io_dtype t)
{
    static const size_t SIZE[IO_DTYPE_COUNT] = { 4, 8, 2, 2, 8, 4, 2, 1, 1, 1 };
    return (unsigned)t < IO_DTYPE_COUNT ? SIZE[t] : 0;
}

static inline const char *io_dtype_name(io_dtype t)
{
    static const char *const NAME[IO_DTYPE_COUNT] = { "float32", "float64", "float16", "bfloat16", "int64",
                                                      "int32",   "int16",   "int8",    "uint8",    "bool" };
    return (unsigned)t < IO_DTYPE_COUNT ? NAME[t] : "unknown";
}

#endif
