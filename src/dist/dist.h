/* dist.h — the few collective operations the harness needs to run on several processes
 * (issue 16, ../shared/MPI.md §6.2).
 *
 * Two implementations with the same symbols: dist_serial.c (in libddpm.a: one process, local
 * copies) and src/mpi/dist_mpi.c (Open MPI, linked only into bin/ddpm-mpi, before the library so
 * the archive's serial member is never pulled in). Every operation is collective: all ranks call
 * it in the same order with consistent arguments. Floats are never reduced by MPI: what crosses
 * ranks is data movement only (dist_tree_allreduce_blocks evaluates the canonical tree of
 * blocktree.h itself), so results are the same bits for every rank count. Counts are size_t
 * and split into messages below 2^31 elements. MPI_Init_thread(FUNNELED) runs in dist_init:
 * only the main thread, outside OpenMP regions, calls these. */
#ifndef DDPM_DIST_DIST_H
#define DDPM_DIST_DIST_H

#include <stddef.h>

/* Starts the runtime. The serial build refuses to run as one of several ranks of an MPI launch
 * (OMPI_COMM_WORLD_SIZE or PMI_SIZE > 1) with one line naming bin/ddpm-mpi. */
int dist_init(int *argc, char ***argv);
void dist_finalize(void);
int dist_rank(void);
int dist_size(void);
/* "serial" or "mpi" */
const char *dist_backend(void);
/* "" in the serial build; "rank R of P: " under MPI (prefix of error lines). */
const char *dist_label(void);
int dist_barrier(void);
/* buf (n bytes) on root is copied to every rank. */
int dist_bcast_bytes(void *buf, size_t n, int root);
/* Rank r contributes counts[r] bytes from send; root gets them concatenated in rank order in
 * recv (sum of counts bytes; recv is ignored on other ranks). counts is the same on all ranks. */
int dist_gatherv_to_root(const void *send, void *recv, const size_t *counts, int root);
/* As dist_gatherv_to_root, and every rank gets recv. send may lie inside recv at its place. */
int dist_allgatherv(const void *send, void *recv, const size_t *counts);
/* The canonical dyadic-tree sum of M block gradients (blocktree.h), n floats, into out on every
 * rank. This rank owns blocks blocktree_rank_range(M, rank, size) and passes the values of its
 * maximal nodes (blocktree_nodes order; node[i] holds n floats). out may be node[0]. */
int dist_tree_allreduce_blocks(int M, const float *const *node, int nnode, size_t n, float *out);
/* *any = bitwise OR over ranks of local (stop requests, time-based checkpoint due, ...). */
int dist_any_flag(int local, int *any);
/* Host names of all ranks, rank order, distinct ones once, comma-separated. */
int dist_hosts(char *buf, size_t n);
/* Ends the whole job (every rank) with exit status code; never returns. The serial version
 * exits the process — the one exception to "the library never exits", called only by main. */
void dist_abort(int code);

#endif
