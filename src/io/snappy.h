/* snappy.h — decompressor for the Snappy raw block format (google/snappy format_description.txt):
 * a varint32 uncompressed length, then elements — literal (tag 00, length in the tag or in 1-4
 * following bytes) and copies with a 1-, 2- or 4-byte back-reference offset (tags 01, 10, 11),
 * where a copy may overlap the bytes it produces. SSTable blocks of type 1 hold this format.
 * Every read and write is bounds-checked; on malformed input the functions return DDPM_ERR with
 * a message saying what is wrong (the caller prefixes the file name). */
#ifndef DDPM_SNAPPY_H
#define DDPM_SNAPPY_H

#include <stddef.h>

/* The length the stream declares (its leading varint32). Rejects a declared length more than
 * 21.4x the stream length (more than any valid stream can expand: a 3-byte copy yields at most
 * 64 bytes), so callers can allocate it. */
int snappy_uncompressed_length(const void *in, size_t n, size_t *len);
/* Decodes the whole stream into out, which must hold exactly out_len bytes = the declared
 * length; the elements must produce exactly that many bytes. */
int snappy_decompress(const void *in, size_t n, void *out, size_t out_len);

#endif
