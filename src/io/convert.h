/* convert.h — little-endian element conversions shared by the foreign-format readers.
 * float16 and bfloat16 widen exactly; float64 and int64 round to nearest in the f32 paths. */
#ifndef DDPM_IO_CONVERT_H
#define DDPM_IO_CONVERT_H

#include "io/dtype.h"

#include <stddef.h>
#include <stdint.h>

float io_half_to_float(uint16_t h);
double io_elem_f64(io_dtype t, const uint8_t *p);  /* one element at p, any dtype */
int64_t io_elem_i64(io_dtype t, const uint8_t *p); /* integer/bool dtypes; 0 for floats */
int io_is_float(io_dtype t);
/* n contiguous elements of type t at src (any alignment) into dst. */
void io_to_f32(float *dst, const uint8_t *src, io_dtype t, size_t n);
void io_to_f64(double *dst, const uint8_t *src, io_dtype t, size_t n);

#endif
