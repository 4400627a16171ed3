/* test_progress.c — src/core/progress: format_duration's three forms, the progress line's fields
 * and ETA, its cut to the terminal width (a wrapped line would scroll on every redraw), and when
 * a line is (not) printed. stderr is captured into a file around each call. */
#include "testutil.h"

#include "core/common.h"
#include "core/progress.h"

#include <fcntl.h>

/* Runs fn(p) with fd 2 redirected into a file; out receives what it wrote. */
static void capture_stderr(void (*fn)(progress *), progress *p, char *out, size_t n)
{
    const char *path = test_tmp_path("progress_stderr.txt");
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    dup2(fd, 2);
    close(fd);
    fn(p);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    test_read_text(path, out, n);
}

START_TEST(durations)
{
    char b[32];
    ck_assert_str_eq(format_duration(0, b, sizeof b), "0.0s");
    ck_assert_str_eq(format_duration(3.44, b, sizeof b), "3.4s");
    ck_assert_str_eq(format_duration(59.94, b, sizeof b), "59.9s");
    ck_assert_str_eq(format_duration(60, b, sizeof b), "1m00s");
    ck_assert_str_eq(format_duration(123.9, b, sizeof b), "2m03s");
    ck_assert_str_eq(format_duration(3599, b, sizeof b), "59m59s");
    ck_assert_str_eq(format_duration(3600, b, sizeof b), "1h00m00s");
    ck_assert_str_eq(format_duration(3723, b, sizeof b), "1h02m03s");
    ck_assert_str_eq(format_duration(100 * 3600.0 + 61, b, sizeof b), "100h01m01s");
    /* negative and NaN (an ETA before any rate) read as zero */
    ck_assert_str_eq(format_duration(-5, b, sizeof b), "0.0s");
    ck_assert_str_eq(format_duration((double)NAN, b, sizeof b), "0.0s");
    /* a short buffer is cut, NUL-terminated */
    char s[4];
    ck_assert_str_eq(format_duration(3723, s, sizeof s), "1h0");
}
END_TEST

/* A loop 1000 s into a run of 10 steps, 5 done (none before this invocation): rate 5/1000 s,
 * ETA = the 5 steps left at that rate = another 1000 s. */
static void begin_midway(progress *p, int tty, int width)
{
    unsetenv("DDPM_QUIET");
    progress_begin(p, "train", 10, 0);
    p->tty = tty;
    p->width = width;
    p->t_start = ddpm_now() - 1000.0;
    p->t_last = 0;
}

static void update_5(progress *p) { progress_update(p, 5, "loss 0.0312"); }
static void end_line(progress *p) { progress_end(p, NULL); }
static void update_done(progress *p) { progress_update(p, 10, NULL); }
static void callback_3_of_20(progress *p) { progress_callback(p, 3, 20); }

START_TEST(line_fields_and_eta)
{
    progress p;
    char out[1024];
    begin_midway(&p, 0, 0);
    capture_stderr(update_5, &p, out, sizeof out);
    /* piped output: one whole line, no carriage return or escape */
    ck_assert_msg(!strncmp(out, "train 5/10 [ 50%] ", 18), "%s", out);
    ck_assert_msg(strstr(out, " elapsed 16m4") && strstr(out, " ETA 16m"), "%s", out);
    ck_assert_msg(strstr(out, "  loss 0.0312\n"), "%s", out);
    ck_assert_ptr_null(strchr(out, '\r'));
    ck_assert_ptr_null(strchr(out, '\033'));
    /* the final line has no ETA and shows the total */
    capture_stderr(end_line, &p, out, sizeof out);
    ck_assert_msg(!strncmp(out, "train 10/10 [100%] ", 19) && !strstr(out, "ETA"), "%s", out);
}
END_TEST

START_TEST(terminal_line_is_cut_to_the_width)
{
    progress p;
    char out[1024];
    begin_midway(&p, 1, 30);
    capture_stderr(update_5, &p, out, sizeof out);
    /* redrawn in place: \r, at most width-1 characters, clear to the end of the line */
    ck_assert_int_eq(out[0], '\r');
    const char *esc = strstr(out, "\033[K");
    ck_assert_ptr_nonnull(esc);
    ck_assert_int_eq((int)(esc - out - 1), 29);
    ck_assert(!strncmp(out + 1, "train 5/10 [ 50%]", 17));
    ck_assert_ptr_null(strchr(out, '\n'));
    /* the end of a terminal line moves to the next line once */
    capture_stderr(end_line, &p, out, sizeof out);
    size_t len = strlen(out);
    ck_assert(len > 2 && out[len - 1] == '\n' && out[len - 2] == 'K');
}
END_TEST

START_TEST(when_nothing_is_printed)
{
    progress p;
    char out[1024];
    /* piped output prints its final line in progress_end only, not when an update reaches total */
    begin_midway(&p, 0, 0);
    capture_stderr(update_done, &p, out, sizeof out);
    ck_assert_str_eq(out, "");
    /* DDPM_QUIET silences everything */
    setenv("DDPM_QUIET", "1", 1);
    progress_begin(&p, "quiet", 10, 0);
    ck_assert_int_eq(p.quiet, 1);
    capture_stderr(update_5, &p, out, sizeof out);
    ck_assert_str_eq(out, "");
    capture_stderr(end_line, &p, out, sizeof out);
    ck_assert_str_eq(out, "");
    unsetenv("DDPM_QUIET");
}
END_TEST

START_TEST(resumed_loop_and_callback)
{
    progress p;
    char out[1024];
    unsetenv("DDPM_QUIET");
    progress_begin(&p, "lbl", 100, 40);
    ck_assert_str_eq(p.label, "lbl");
    ck_assert_int_eq(p.done_at_start, 40);
    ck_assert_int_eq(p.total, 100);
    /* the callback adapter takes the caller's total */
    p.tty = 0;
    p.t_last = 0;
    capture_stderr(callback_3_of_20, &p, out, sizeof out);
    ck_assert_int_eq(p.total, 20);
    ck_assert_msg(!strncmp(out, "lbl 3/20 [ 15%]", 15), "%s", out);
}
END_TEST

static Suite *progress_suite(void)
{
    Suite *s = suite_create("progress");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, durations);
    tcase_add_test(tc, line_fields_and_eta);
    tcase_add_test(tc, terminal_line_is_cut_to_the_width);
    tcase_add_test(tc, when_nothing_is_printed);
    tcase_add_test(tc, resumed_loop_and_callback);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(progress_suite)
