/* batch_sampler.c — the training batch of a (seed, step): shuffled epochs and random flips.
 * The order is defined in dataset.h and docs/data.md. */
#include "data/dataset.h"

#include "core/common.h"
#include "core/rng.h"
#include "data/readers.h"

#include <stdint.h>
#include <string.h>

/* Below this many floats per segment the OpenMP fork costs more than the copy. */
#define SAMPLER_PARALLEL_MIN 32768

int batch_sampler_init(batch_sampler *s, const dataset *ds, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    if (!ds || ds->N < 1 || !ds->pixels) return ddpm_error("batch_sampler: empty dataset");
    s->perm = ddpm_alloc((size_t)ds->N * sizeof *s->perm);
    if (!s->perm) return DDPM_ERR;
    s->ds = ds;
    s->seed = seed;
    s->epoch = -1;
    return DDPM_OK;
}

void batch_sampler_free(batch_sampler *s)
{
    if (!s) return;
    ddpm_free(s->perm);
    memset(s, 0, sizeof *s);
}

/* perm (N) <- Fisher–Yates shuffle of 0..N-1 for this epoch: element k of the stream picks
 * the partner of position N-1-k. */
static void make_perm(uint32_t *perm, uint32_t N, uint64_t seed, uint32_t epoch)
{
    const rng_stream st = rng_stream_make(seed, RNG_SHUFFLE, epoch, 0);
    for (uint32_t i = 0; i < N; i++) perm[i] = i;
    for (uint32_t k = 0; k + 1 < N; k++) {
        uint32_t i = N - 1 - k;
        uint32_t j = rng_below(st, k, i + 1);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* dst (H, W, C) float <- src (H, W, C) uint8, mirrored left-right when flip. */
static void copy_example(float *dst, const uint8_t *src, int H, int W, int C, int flip)
{
    if (!flip) {
        for (size_t i = 0, n = (size_t)H * W * C; i < n; i++) dst[i] = pixel_to_float(src[i]);
        return;
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *s = src + ((size_t)y * W + (W - 1 - x)) * C;
            float *d = dst + ((size_t)y * W + x) * C;
            for (int c = 0; c < C; c++) d[c] = pixel_to_float(s[c]);
        }
}

int batch_sampler_get(batch_sampler *s, int64_t step, int B, int randflip, float *x, int32_t *idx)
{
    const dataset *ds = s->ds;
    if (!ds || !s->perm) return ddpm_error("batch_sampler_get: sampler not initialised");
    if (step < 0 || B < 1) return ddpm_error("batch_sampler_get: bad step %lld or batch %d", (long long)step, B);
    /* The flip stream's step field and the shuffle stream's epoch field are 32-bit. */
    if (step > (int64_t)UINT32_MAX || step > INT64_MAX / B - 1)
        return ddpm_error("batch_sampler_get: step %lld is beyond the RNG counter range", (long long)step);
    const int64_t N = ds->N;
    const int H = ds->H, W = ds->W, C = ds->C;
    const size_t hwc = (size_t)H * W * C;
    const int64_t p0 = step * B;
    if ((p0 + B - 1) / N > (int64_t)UINT32_MAX)
        return ddpm_error("batch_sampler_get: epoch beyond the RNG counter range");

    /* Segments of the batch that fall in one epoch share a permutation. */
    int i = 0;
    while (i < B) {
        const int64_t p = p0 + i;
        const int64_t e = p / N, off = p % N;
        const int seg = (int)((B - i) < (N - off) ? (B - i) : (N - off));
        if (e != s->epoch) {
            make_perm(s->perm, (uint32_t)N, s->seed, (uint32_t)e);
            s->epoch = e;
        }
        const uint32_t *perm = s->perm + off;
#pragma omp parallel for schedule(static) if ((size_t)seg * hwc >= SAMPLER_PARALLEL_MIN)
        for (int k = 0; k < seg; k++) {
            const int b = i + k;
            const uint32_t n = perm[k];
            int flip = 0;
            if (randflip) flip = rng_uniform(rng_stream_make(s->seed, RNG_FLIP, (uint32_t)step, (uint32_t)b), 0) < 0.5f;
            copy_example(x + (size_t)b * hwc, ds->pixels + (size_t)n * hwc, H, W, C, flip);
            if (idx) idx[b] = (int32_t)n;
        }
        i += seg;
    }
    return DDPM_OK;
}
