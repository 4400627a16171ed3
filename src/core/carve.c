/* carve.c — see carve.h. */
#include "core/carve.h"

#include "core/common.h"

#include <stdlib.h>

size_t carve_round(size_t n) { return (n + CARVE_ALIGN_FLOATS - 1) / CARVE_ALIGN_FLOATS * CARVE_ALIGN_FLOATS; }

float *carve_next(carve_cursor *c, size_t n)
{
    float *p = c->base ? c->base + c->used : NULL;
    c->used += carve_round(n);
    return p;
}

size_t carve_total(const size_t *sizes, int n)
{
    carve_cursor c = { NULL, 0 };
    for (int i = 0; i < n; i++) carve_next(&c, sizes[i]);
    return c.used;
}

void carve(float **ptrs[], float *base, const size_t *sizes, int n)
{
    carve_cursor c = { base, 0 };
    for (int i = 0; i < n; i++) *ptrs[i] = carve_next(&c, sizes[i]);
}

/* Span i goes before span j: larger (rounded) first, then table order. */
static int size_before(const carve_span *s, int i, int j)
{
    const size_t ni = carve_round(s[i].n), nj = carve_round(s[j].n);
    return ni != nj ? ni > nj : i < j;
}

/* Insertion sorts (tables of a few hundred spans; no shared comparison state). */
static void sort_by_size(int *idx, int n, const carve_span *s)
{
    for (int k = 1; k < n; k++) {
        const int v = idx[k];
        int j = k - 1;
        for (; j >= 0 && size_before(s, v, idx[j]); j--) idx[j + 1] = idx[j];
        idx[j + 1] = v;
    }
}

static void sort_by_offset(int *idx, int n, const carve_span *s)
{
    for (int k = 1; k < n; k++) {
        const int v = idx[k];
        int j = k - 1;
        for (; j >= 0 && s[v].offset < s[idx[j]].offset; j--) idx[j + 1] = idx[j];
        idx[j + 1] = v;
    }
}

int carve_shared(carve_span *spans, int n, size_t *total)
{
    *total = 0;
    if (n <= 0) return DDPM_OK;
    int *order = malloc((size_t)n * sizeof *order), *near = malloc((size_t)n * sizeof *near);
    if (!order || !near) {
        free(order);
        free(near);
        return ddpm_error("carve: out of memory for %d spans", n);
    }
    for (int i = 0; i < n; i++) order[i] = i;
    sort_by_size(order, n, spans);
    size_t end = 0;
    for (int k = 0; k < n; k++) {
        carve_span *s = &spans[order[k]];
        const size_t need = carve_round(s->n);
        int nn = 0;
        for (int j = 0; j < k; j++) { /* the placed spans alive at some step of s's lifetime */
            const carve_span *p = &spans[order[j]];
            if (p->first <= s->last && s->first <= p->last && p->n > 0) near[nn++] = order[j];
        }
        sort_by_offset(near, nn, spans);
        size_t off = 0;
        for (int j = 0; j < nn; j++) {
            const carve_span *p = &spans[near[j]];
            if (off + need <= p->offset) break; /* the gap before p holds s */
            const size_t pend = p->offset + carve_round(p->n);
            if (pend > off) off = pend;
        }
        s->offset = off;
        if (off + need > end) end = off + need;
    }
    free(order);
    free(near);
    *total = end;
    return DDPM_OK;
}
