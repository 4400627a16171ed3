/* readfile.h — a whole file into memory, for the readers that parse from a buffer. */
#ifndef DDPM_IO_READFILE_H
#define DDPM_IO_READFILE_H

#include <stddef.h>
#include <stdint.h>

/* *buf is malloc'd (free it); errors name the path. max_bytes 0 = no limit. */
int io_read_file(const char *path, uint8_t **buf, size_t *len, size_t max_bytes);

#endif
