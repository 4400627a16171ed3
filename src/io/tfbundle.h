/* tfbundle.h — reads a TensorFlow V2 checkpoint bundle (PREFIX.index + PREFIX.data-*-of-*)
 * without TensorFlow (format: shared/released-models/FORMATS.md §2).
 *
 * The .index is an SSTable (LevelDB table format): footer, index block, data blocks with
 * restart arrays, masked CRC32C on every block; Snappy-compressed blocks are decoded. Its
 * values are BundleHeaderProto (key "") and BundleEntryProto (dtype, shape, shard_id, offset,
 * size, crc32c), read by a minimal protobuf decoder. Tensor bytes are read from the data
 * shard(s) on demand and their CRC32C is verified on every read.
 * Malformed input is an error (ddpm_error) naming the file and what is wrong; it never reads
 * outside the files. */
#ifndef DDPM_TFBUNDLE_H
#define DDPM_TFBUNDLE_H

#include "io/dtype.h"

#include <stdint.h>

typedef struct tfbundle tfbundle;

/* path: the checkpoint prefix ("model.ckpt-790000") or its ".index" file. Reads and checks
 * the whole index; the data shards are opened and their sizes checked against the entries. */
int tfbundle_open(tfbundle **out, const char *path);
void tfbundle_close(tfbundle *b);

/* Tensors in the index's (sorted) key order; the header entry (key "") is not a tensor. */
int tfbundle_num_tensors(const tfbundle *b);
const char *tfbundle_tensor_name(const tfbundle *b, int i);   /* NULL when out of range */
int tfbundle_find(const tfbundle *b, const char *name);        /* index or -1 */
/* dtype (error for a TF DataType with no io_dtype, naming it), rank, shape, stored bytes. */
int tfbundle_tensor_info(const tfbundle *b, int i, io_dtype *dtype, int *rank,
                         int64_t shape[IO_MAX_RANK], uint64_t *nbytes);
/* Reads tensor i's stored bytes and verifies its CRC32C: 1 ok, 0 mismatch, -1 read error. */
int tfbundle_check_crc(const tfbundle *b, int i);
/* Contiguous row-major float32 copy (ddpm_alloc; free with ddpm_free), CRC verified first.
 * float32/float64/float16/bfloat16 convert; integer types are an error. */
int tfbundle_get_f32(const tfbundle *b, int i, float **out);

#endif
