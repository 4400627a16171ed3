/* blocktree.h — the canonical dyadic tree over the M gradient blocks of a batch (issue 16,
 * ../shared/MPI.md §2.3 option E).
 *
 * A batch of B examples is cut into M = grad_blocks fixed blocks of B/M examples; g_m is the
 * gradient of block m. The batch gradient is the value of the implicit dyadic tree over block
 * indices: node (j, k) covers blocks [k 2^j, min((k+1) 2^j, M)); its value is left + right
 * (children (j-1, 2k) and (j-1, 2k+1)), or the left child's value unchanged when the right
 * child covers no block. The root is (J, 0) with 2^J >= M. Every float addition is therefore
 * fixed by M alone: not by the rank count, the thread count or Open MPI's algorithms.
 *
 * Rank r of p owns blocks [floor(M r / p), floor(M (r+1) / p)). It folds its blocks, in index
 * order, into the maximal tree nodes inside its range (a segment-tree decomposition, at most
 * about 2 log2 M nodes, O(log M) buffers); the owner of each slice of the parameter vector then
 * evaluates the tree with those nodes as leaves. Node labels are always the highest ones with
 * the same block range, so every rank and every owner agree on them. */
#ifndef DDPM_DIST_BLOCKTREE_H
#define DDPM_DIST_BLOCKTREE_H

#include <stddef.h>

#define BLOCKTREE_MAX_NODES 64 /* nodes of one rank's range (2 log2 M + 2 for M <= 2^31) */

typedef struct {
    int level; /* j */
    int index; /* k */
} blocktree_node;

/* Blocks [*first, *end) of rank r among p (p >= 1, 0 <= r < p). */
void blocktree_rank_range(int M, int r, int p, int *first, int *end);
/* First block and end of node (j, k), clipped to M. */
void blocktree_node_range(int M, blocktree_node n, int *first, int *end);
/* The maximal nodes covering [first, end), in block order; returns their count. */
int blocktree_nodes(int M, int first, int end, blocktree_node *out);
/* Tree levels: the smallest J with 2^J >= M. */
int blocktree_levels(int M);

/* Streaming fold of consecutive blocks into the maximal nodes of [first, end).
 * blocktree_fold_init allocates max_depth + 1 buffers of n floats; push adds block `block`
 * (which must be the next one) with gradient g (read, not kept); after the last block,
 * node(i) for i < count are the node values in block order (blocktree_nodes's order). */
typedef struct {
    int M, first, end, next;
    size_t n;
    int count; /* nodes on the stack */
    blocktree_node lab[BLOCKTREE_MAX_NODES];
    float *buf[BLOCKTREE_MAX_NODES];  /* buf[i] holds the value of lab[i] */
    float *pool[BLOCKTREE_MAX_NODES]; /* free buffers */
    int npool, nalloc;
} blocktree_fold;

int blocktree_fold_init(blocktree_fold *f, int M, int first, int end, size_t n);
void blocktree_fold_reset(blocktree_fold *f); /* start the next batch, keeping the buffers */
int blocktree_fold_push(blocktree_fold *f, int block, const float *g);
void blocktree_fold_free(blocktree_fold *f);

/* Evaluates the tree for elements [0, n) of a slice given, for each of nleaf maximal nodes that
 * partition [0, M), its label and its values (leaf[i], n floats). out (n floats) gets the root's
 * value; scratch holds nleaf * n floats. Returns DDPM_ERR if the leaves do not partition. */
int blocktree_eval(int M, const blocktree_node *lab, const float *const *leaf, int nleaf, size_t n, float *scratch,
                   float *out);

#endif
