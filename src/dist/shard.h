/* shard.h — evaluation work split across MPI ranks by whole global batches (issue 16).
 *
 * n examples processed in batches of `batch` (the serial command's boundaries, so every batch
 * has the shape it has in a serial run): rank r of p takes batches [floor(nb r/p),
 * floor(nb (r+1)/p)) of the nb = ceil(n/batch), i.e. one contiguous range of examples, and
 * shard_allgather_rows then gives every rank all n rows in index order. Results are the serial
 * command's bits for any p. In the serial build the range is everything and the gather a no-op. */
#ifndef DDPM_DIST_SHARD_H
#define DDPM_DIST_SHARD_H

#include <stddef.h>

/* This rank's examples [*i0, *i1). */
void shard_batches(int n, int batch, int *i0, int *i1);
/* data holds n rows of row_bytes; every rank filled its own rows; afterwards all ranks hold all. */
int shard_allgather_rows(void *data, int n, int batch, size_t row_bytes);

#endif
