/* tfbundle.h — reads a TensorFlow V2 checkpoint bundle (PREFIX.index + PREFIX.data-*-of-*)
 * without TensorFlow (format: shared/released-models/FORMATS.md §2).
 *
 * The .index is an SSTable (LevelDB table format): footer, index block, data blocks with
 * restart arrays, masked CRC32C on every block; Snappy-compressed blocks are decoded. Its
 * values are BundleHeaderProto (key "") and BundleEntryProto (dtype, shape, shard_id, offset,
 * size, crc32c), read by a minimal protobuf decoder. Tensor bytes are read from the data
 * shard(s) on demand and their CRC32C is verified on every read.
 * Malformed input is an error (ddpm_error) naming the file and what is wrong; it never reads
 * outside the files. Malformed framing, a bad block CRC, keys out of order, an entry outside
 * its shard or a size that disagrees with dtype x shape fail the open; a well-formed entry this
 * reader cannot use (a TF dtype with no io_dtype, a partitioned variable — its slice entries,
 * keys starting with a 0x00 byte, are not listed — an unknown rank, more than IO_MAX_RANK dims)
 * is listed and fails on tfbundle_tensor_info and the getters, naming the tensor. Only
 * little-endian bundles (BundleHeaderProto.endianness = LITTLE, what TF writes on x86/ARM) are
 * accepted. */
#ifndef DDPM_TFBUNDLE_H
#define DDPM_TFBUNDLE_H

#include "io/dtype.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tfbundle tfbundle;

/* path: the checkpoint prefix ("model.ckpt-790000") or its ".index" file. Reads and checks
 * the whole index; the data shards are opened and their sizes checked against the entries. */
int tfbundle_open(tfbundle **out, const char *path);
void tfbundle_close(tfbundle *b);

/* Tensors in the index's (sorted) key order; the header entry (key "") is not a tensor. */
int tfbundle_num_tensors(const tfbundle *b);
const char *tfbundle_tensor_name(const tfbundle *b, int i); /* NULL when out of range */
int tfbundle_find(const tfbundle *b, const char *name);     /* index or -1 */
/* dtype (error for a TF DataType with no io_dtype, naming it), rank, shape, stored bytes. */
int tfbundle_tensor_info(const tfbundle *b, int i, io_dtype *dtype, int *rank, int64_t shape[IO_MAX_RANK],
                         uint64_t *nbytes);
/* Reads tensor i's stored bytes and verifies its CRC32C: 1 ok, 0 mismatch, -1 read error. */
int tfbundle_check_crc(const tfbundle *b, int i);
/* Contiguous row-major float32 copy (ddpm_alloc; free with ddpm_free), CRC verified first.
 * float32/float64/float16/bfloat16 convert; integer types are an error. */
int tfbundle_get_f32(const tfbundle *b, int i, float **out);

/* --- additions (the functions above are the fixed contract) --- */

/* Notes on the contract: tfbundle_open also takes a PREFIX.data-NNNNN-of-NNNNN path. The
 * CRC of a DT_STRING / DT_VARIANT entry is checked as TF computes it (over the element lengths
 * and embedded checksums, tensor_bundle.cc), and a broken layout there counts as a mismatch
 * (0). On an error, ddpm_last_error() names the file (the .index, or the tensor's data file)
 * and, for a tensor, its name. */

/* The same from memory (copied; for tests and the fuzz harness): the .index bytes and
 * nshards data shards (shards[s] is PREFIX.data-s-of-N). prefix only names the files in
 * messages ("PREFIX.index", "PREFIX.data-00000-of-00001"). */
int tfbundle_open_mem(tfbundle **out, const void *index, size_t index_len, const void *const *shards,
                      const size_t *shard_lens, int nshards, const char *prefix);
/* Only the .index (all of its checks; the data shards are neither opened nor required):
 * listings work, tensor reads fail naming the data file. */
int tfbundle_open_index(tfbundle **out, const char *path);
/* Tensor i's stored bytes (nbytes must equal the stored size; little-endian, row-major), CRC
 * verified: for the integer tensors (global_step is int64) and raw copies. */
int tfbundle_read_bytes(const tfbundle *b, int i, void *out, uint64_t nbytes);
/* The TF DataType number stored for tensor i (DT_FLOAT = 1, DT_INT64 = 9, ...; -1 out of
 * range) and its name ("DT_STRING"), for listings of tensors with no io_dtype. */
int tfbundle_tensor_tf_dtype(const tfbundle *b, int i);
const char *tfbundle_tf_dtype_name(int tf_dtype);
/* The .index path the bundle was opened from (messages name it). */
const char *tfbundle_index_path(const tfbundle *b);

#endif
