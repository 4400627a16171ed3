/* test_carve.c — core/carve: the table and cursor forms lay a block out identically, every
 * piece starts on a 64-byte boundary after its predecessor without overlap, and counting
 * (base NULL) agrees with the layout. */
#include "testutil.h"

#include "core/carve.h"
#include "core/common.h"

#include <stdint.h>

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

static Suite *carve_suite(void)
{
    Suite *s = suite_create("carve");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, table_and_cursor_layouts_agree);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(carve_suite)
