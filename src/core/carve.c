/* carve.c — see carve.h. */
#include "core/carve.h"

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
