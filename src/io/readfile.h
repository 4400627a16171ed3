/* readfile.h — a whole file into memory, for the readers that parse from a buffer. */
#ifndef DDPM_IO_READFILE_H
#define DDPM_IO_READFILE_H

#include <stddef.h>
#include <stdint.h>

/* *buf is malloc'd (free it); errors name the path. max_bytes 0 = no limit. */
int io_read_file(const char *path, uint8_t **buf, size_t *len, size_t max_bytes);
/* A malloc'd copy of data[0..len) (free it): what a reader's _open_mem parses. */
int io_copy_bytes(uint8_t **buf, const void *data, size_t len);

/* The bytes a buffer reader (npy, pth, safetensors) parses: the first member of its file struct. */
typedef struct {
    uint8_t *buf; /* malloc'd, owned by the reader */
    size_t len;
} io_input;
/* A new zeroed reader struct of `size` bytes that begins with an io_input, set to buf[0..len)
 * (the struct owns buf from then on). NULL when out of memory: buf is freed, the error set. */
void *io_input_adopt(size_t size, uint8_t *buf, size_t len);

#endif
