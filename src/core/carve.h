/* carve.h — cutting one allocation into tensors (llm.c's malloc_and_point_parameters).
 *
 * A size table (in floats) is laid out in order, each piece rounded up to CARVE_ALIGN_FLOATS
 * so every tensor starts 64 bytes after the block's (ddpm_alloc'ed, 64-byte aligned) start.
 * Two forms: a table — carve_total() to size the block, carve() to point the tensors into it —
 * and a cursor for layouts decided while walking a graph, which counts when its base is NULL
 * and hands out slices on a second pass over the same walk. Pieces of other element types
 * (double, int32, uint8) take their size in floats rounded up, and a cast.
 *
 * A third form shares the block between pieces that are never in use at the same time
 * (carve_shared): each piece has a lifetime, an inclusive range of steps of the caller's
 * timeline, and two pieces whose lifetimes overlap never share a float. */
#ifndef DDPM_CARVE_H
#define DDPM_CARVE_H

#include <stddef.h>

#define CARVE_ALIGN_FLOATS 16

/* n rounded up to a multiple of CARVE_ALIGN_FLOATS. */
size_t carve_round(size_t n);
/* Floats a block needs for the table sizes (n entries). */
size_t carve_total(const size_t *sizes, int n);
/* *ptrs[i] = base + (offset of piece i) for the table sizes (n entries). */
void carve(float **ptrs[], float *base, const size_t *sizes, int n);

typedef struct {
    float *base; /* NULL: only count */
    size_t used; /* floats handed out so far, rounded */
} carve_cursor;

/* The next piece of n floats (NULL while counting); cursor->used grows by carve_round(n). */
float *carve_next(carve_cursor *c, size_t n);

typedef struct {
    size_t n;        /* floats */
    int first, last; /* lifetime: steps first..last (inclusive) */
    size_t offset;   /* out: floats from the block's start, a multiple of CARVE_ALIGN_FLOATS */
} carve_span;

/* Places the n spans in one block: greedy by size (largest first, ties in table order), each at
 * the lowest offset not used by an already placed span whose lifetime overlaps its own. The
 * layout depends on the table only. *total = the floats the block needs. DDPM_ERR when out of
 * memory for the work lists. */
int carve_shared(carve_span *spans, int n, size_t *total);

#endif
