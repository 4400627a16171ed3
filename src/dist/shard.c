#include "dist/shard.h"

#include "core/common.h"
#include "dist/blocktree.h"
#include "dist/dist.h"

static void range_of(int n, int batch, int r, int p, int *i0, int *i1)
{
    const int nb = (n + batch - 1) / batch;
    int b0, b1;
    blocktree_rank_range(nb, r, p, &b0, &b1);
    *i0 = b0 * batch < n ? b0 * batch : n;
    *i1 = b1 * batch < n ? b1 * batch : n;
}

void shard_batches(int n, int batch, int *i0, int *i1) { range_of(n, batch, dist_rank(), dist_size(), i0, i1); }

int shard_allgather_rows(void *data, int n, int batch, size_t row_bytes)
{
    const int P = dist_size();
    if (P == 1 || n <= 0) return DDPM_OK;
    size_t *counts = ddpm_alloc((size_t)P * sizeof(size_t));
    if (!counts) return DDPM_ERR;
    for (int q = 0; q < P; q++) {
        int a, b;
        range_of(n, batch, q, P, &a, &b);
        counts[q] = (size_t)(b - a) * row_bytes;
    }
    int me0, me1;
    shard_batches(n, batch, &me0, &me1);
    int rc = dist_allgatherv((char *)data + (size_t)me0 * row_bytes, data, counts);
    ddpm_free(counts);
    return rc;
}
