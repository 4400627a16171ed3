/* test_common.c — src/core/common: the last-error message (formatting, truncation to one
 * buffer, the printable form of text quoted from files, prefixes, per-thread), and the aligned,
 * zeroed allocation. */
#include "testutil.h"

#include "core/common.h"

#include <pthread.h>
#include <stdint.h>

START_TEST(error_formats_and_returns_err)
{
    ck_assert_int_eq(ddpm_error("%s: key '%s': %d is out of range", "cfg.txt:3", "ch", -1), DDPM_ERR);
    ck_assert_str_eq(ddpm_last_error(), "cfg.txt:3: key 'ch': -1 is out of range");
    ddpm_clear_error();
    ck_assert_str_eq(ddpm_last_error(), "unknown error");
}
END_TEST

/* A message longer than the buffer is cut, still NUL-terminated: 1023 characters. */
START_TEST(error_truncates_to_the_buffer)
{
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ddpm_error("%s", big);
    ck_assert_uint_eq(strlen(ddpm_last_error()), 1023);
    ddpm_error_prefix("p");
    ck_assert_uint_eq(strlen(ddpm_last_error()), 1023);
    ck_assert(!strncmp(ddpm_last_error(), "p: xxx", 6));
}
END_TEST

START_TEST(error_in_makes_quoted_text_printable)
{
    ck_assert_int_eq(ddpm_error_in("f.pth", "tensor '%s' has rank %d",
                                   "a\nb\tc\x7f"
                                   "d\xc3\xa9",
                                   9),
                     DDPM_ERR);
    /* control characters and DEL become '?', UTF-8 bytes stay */
    ck_assert_str_eq(ddpm_last_error(), "f.pth: tensor 'a?b?c?d\xc3\xa9' has rank 9");
    ck_assert_ptr_null(strchr(ddpm_last_error(), '\n'));
    /* the quoted part is cut at 767 characters before the file name is put in front */
    char big[2000];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ddpm_error_in("g", "%s", big);
    ck_assert_uint_eq(strlen(ddpm_last_error()), 3 + 767);
    char s[] = "ok\r\n\x01z";
    ddpm_printable(s);
    ck_assert_str_eq(s, "ok???z");
}
END_TEST

START_TEST(error_prefix_keeps_the_old_message)
{
    ddpm_error("no such file");
    ck_assert_int_eq(ddpm_error_prefix("%s (attribute %s)", "ck.h5", "step"), DDPM_ERR);
    ck_assert_str_eq(ddpm_last_error(), "ck.h5 (attribute step): no such file");
    ddpm_error("inner");
    ddpm_error_prefix("a");
    ddpm_error_prefix("b");
    ck_assert_str_eq(ddpm_last_error(), "b: a: inner");
}
END_TEST

static void *other_thread(void *arg)
{
    ddpm_error("from the other thread");
    snprintf(arg, 64, "%s", ddpm_last_error());
    return NULL;
}

START_TEST(error_is_per_thread)
{
    char seen[64] = "";
    ddpm_error("mine");
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, other_thread, seen), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_str_eq(seen, "from the other thread");
    ck_assert_str_eq(ddpm_last_error(), "mine");
}
END_TEST

START_TEST(alloc_is_aligned_zeroed_and_fails_cleanly)
{
    for (size_t n = 0; n < 300; n += 37) {
        unsigned char *p = ddpm_alloc(n);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % 64, 0);
        for (size_t i = 0; i < n; i++) ck_assert_uint_eq(p[i], 0);
        ddpm_free(p);
    }
    ddpm_clear_error();
    /* near SIZE_MAX the size rounded up to 64 wraps: refused instead of a 64-byte block */
    ck_assert_ptr_null(ddpm_alloc(SIZE_MAX - 10));
    ck_assert_msg(strstr(ddpm_last_error(), "out of memory allocating"), "%s", ddpm_last_error());
    ddpm_free(NULL);
}
END_TEST

static int fails(void) { return ddpm_error("inner failure"); }
static int succeeds(void) { return DDPM_OK; }
static int chain(int first_ok, int *reached)
{
    DDPM_TRY(first_ok ? succeeds() : fails());
    *reached = 1;
    return DDPM_OK;
}

START_TEST(try_returns_err_on_failure)
{
    int reached = 0;
    ck_assert_int_eq(chain(0, &reached), DDPM_ERR);
    ck_assert_int_eq(reached, 0);
    ck_assert_str_eq(ddpm_last_error(), "inner failure");
    ck_assert_int_eq(chain(1, &reached), DDPM_OK);
    ck_assert_int_eq(reached, 1);
    ck_assert_int_eq(DDPM_ARRAY_LEN((int[7]){ 0 }), 7);
}
END_TEST

static Suite *common_suite(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, error_formats_and_returns_err);
    tcase_add_test(tc, error_truncates_to_the_buffer);
    tcase_add_test(tc, error_in_makes_quoted_text_printable);
    tcase_add_test(tc, error_prefix_keeps_the_old_message);
    tcase_add_test(tc, error_is_per_thread);
    tcase_add_test(tc, alloc_is_aligned_zeroed_and_fails_cleanly);
    tcase_add_test(tc, try_returns_err_on_failure);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(common_suite)
