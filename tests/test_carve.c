/* test_carve.c — core/carve: the table and cursor forms lay a block out identically, every
 * piece starts on a 64-byte boundary after its predecessor without overlap, and counting
 * (base NULL) agrees with the layout; carve_shared never lets two pieces whose lifetimes
 * overlap share a float, reuses the memory of pieces whose lifetimes do not, and lays out the
 * same table the same way. */
#include "testutil.h"

#include "core/carve.h"
#include "core/common.h"

#include <stdint.h>
#include <string.h>

START_TEST(table_and_cursor_layouts_agree)
{
    const size_t sizes[] = { 1, 0, 16, 17, 33, 5, 1000, 15 };
    enum { N = sizeof sizes / sizeof sizes[0] };
    ck_assert_uint_eq(carve_round(0), 0);
    ck_assert_uint_eq(carve_round(1), 16);
    ck_assert_uint_eq(carve_round(16), 16);
    ck_assert_uint_eq(carve_round(17), 32);
    size_t want = 0;
    for (int i = 0; i < N; i++) want += (sizes[i] + 15) / 16 * 16;
    const size_t total = carve_total(sizes, N);
    ck_assert_uint_eq(total, want);
    float *base = ddpm_alloc(total * sizeof(float));
    ck_assert(base != NULL);
    float *p[N], **ptrs[N];
    for (int i = 0; i < N; i++) ptrs[i] = &p[i];
    carve(ptrs, base, sizes, N);
    carve_cursor counting = { NULL, 0 }, cur = { base, 0 };
    for (int i = 0; i < N; i++) {
        ck_assert(carve_next(&counting, sizes[i]) == NULL);
        ck_assert(carve_next(&cur, sizes[i]) == p[i]);
        ck_assert_uint_eq((uintptr_t)p[i] % 64, 0);
        if (i > 0) ck_assert(p[i] >= p[i - 1] + sizes[i - 1]); /* no overlap */
        ck_assert(p[i] + sizes[i] <= base + total);
    }
    ck_assert(p[0] == base);
    ck_assert_uint_eq(counting.used, total);
    ck_assert_uint_eq(cur.used, total);
    /* every piece is writable to its end without touching the next one */
    for (int i = 0; i < N; i++)
        for (size_t j = 0; j < sizes[i]; j++) p[i][j] = (float)i;
    for (int i = 0; i < N; i++)
        for (size_t j = 0; j < sizes[i]; j++) ck_assert(p[i][j] == (float)i);
    ddpm_free(base);
}
END_TEST

/* Lifetimes that overlap never share memory; disjoint ones do; the layout is aligned and
 * deterministic. */
START_TEST(shared_layout)
{
    /* two pieces alive at steps 0..1 and 2..3 share; a third alive throughout does not */
    carve_span s3[] = { { 100, 0, 1, 0 }, { 100, 2, 3, 0 }, { 40, 0, 3, 0 } };
    size_t total = 0;
    ck_assert_int_eq(carve_shared(s3, 3, &total), DDPM_OK);
    ck_assert_uint_eq(s3[0].offset, s3[1].offset);
    ck_assert_uint_eq(total, 112 + 48);
    /* a pseudo-random table: every overlapping pair is disjoint in memory */
    enum { N = 300 };
    carve_span s[N], again[N];
    uint32_t r = 12345;
    size_t sum = 0;
    for (int i = 0; i < N; i++) {
        r = r * 1664525u + 1013904223u;
        const int a = (int)(r >> 8) % 100;
        r = r * 1664525u + 1013904223u;
        const int len = (int)(r >> 8) % 20;
        r = r * 1664525u + 1013904223u;
        s[i] = (carve_span){ (r >> 8) % 5000, a, a + len, 0 };
        sum += carve_round(s[i].n);
    }
    memcpy(again, s, sizeof s);
    ck_assert_int_eq(carve_shared(s, N, &total), DDPM_OK);
    ck_assert_uint_lt(total, sum); /* memory was shared */
    size_t peak = 0;               /* the most floats alive at one step: no layout can use less */
    for (int t = 0; t < 120; t++) {
        size_t live = 0;
        for (int i = 0; i < N; i++)
            if (s[i].first <= t && t <= s[i].last) live += carve_round(s[i].n);
        if (live > peak) peak = live;
    }
    ck_assert_uint_ge(total, peak);
    for (int i = 0; i < N; i++) {
        ck_assert_uint_eq(s[i].offset % CARVE_ALIGN_FLOATS, 0);
        ck_assert_uint_le(s[i].offset + s[i].n, total);
        for (int j = i + 1; j < N; j++) {
            const int alive = s[i].first <= s[j].last && s[j].first <= s[i].last;
            const int apart = s[i].offset + s[i].n <= s[j].offset || s[j].offset + s[j].n <= s[i].offset;
            ck_assert_msg(!alive || apart || !s[i].n || !s[j].n, "spans %d and %d overlap in time and memory", i, j);
        }
    }
    size_t total2 = 0;
    ck_assert_int_eq(carve_shared(again, N, &total2), DDPM_OK);
    ck_assert_uint_eq(total2, total);
    for (int i = 0; i < N; i++) ck_assert_uint_eq(again[i].offset, s[i].offset);
    ck_assert_int_eq(carve_shared(s, 0, &total), DDPM_OK);
    ck_assert_uint_eq(total, 0);
}
END_TEST

static Suite *carve_suite(void)
{
    Suite *s = suite_create("carve");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, table_and_cursor_layouts_agree);
    tcase_add_test(tc, shared_layout);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(carve_suite)
