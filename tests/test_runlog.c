/* HDF5 helpers and run logs: a log round trip checks every documented provenance attribute,
 * the config attributes and the growing series (docs/hdf5-schema.md); a resumed log appends;
 * a log read while still open (as after a kill) shows what was flushed; bad files give one-line
 * errors naming the file. */
#include "testutil.h"

#include "core/common.h"
#include "core/config.h"
#include "io/h5io.h"
#include "io/provenance.h"
#include "io/runlog.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const PROVENANCE_ATTRS[] = {
    "git_revision", "compiler",       "cflags", "hdf5_version", "openblas_config",  "libpng_version", "zlib_version",
    "command_line", "start_time_utc", "host",   "omp_threads",  "openblas_threads", "seed",
};

START_TEST(log_roundtrip)
{
    const char *p = test_tmp_path("log.h5");
    ddpm_config c;
    config_defaults(&c);
    c.seed = 77;
    char *argv[] = { "ddpm", "train", "--out", "x" };
    runlog L;
    ck_assert_int_eq(runlog_open(&L, p, &c, 4, argv, 0), DDPM_OK);
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(runlog_append(&L, "step", i), DDPM_OK);
        ck_assert_int_eq(runlog_append(&L, "loss", 1.0 / (i + 1)), DDPM_OK);
    }
    ck_assert_int_eq(runlog_close(&L), DDPM_OK);

    hid_t f = h5io_open(p, 0);
    ck_assert_int_ge(f, 0);
    for (size_t i = 0; i < DDPM_ARRAY_LEN(PROVENANCE_ATTRS); i++)
        ck_assert_msg(h5io_attr_exists(f, "provenance", PROVENANCE_ATTRS[i]), "missing %s", PROVENANCE_ATTRS[i]);
    char buf[256];
    ck_assert_int_eq(h5io_get_attr_str(f, "provenance", "command_line", buf, sizeof buf), DDPM_OK);
    ck_assert_str_eq(buf, "ddpm train --out x");
    int64_t seed;
    ck_assert_int_eq(h5io_get_attr_i64(f, "provenance", "seed", &seed), DDPM_OK);
    ck_assert_int_eq(seed, 77);
    ddpm_config back;
    ck_assert_int_eq(read_config_attrs(f, "config", &back), DDPM_OK);
    ck_assert(config_hash(&back, NULL) == config_hash(&c, NULL));
    double *loss;
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    ck_assert_int_eq(h5io_read_f64(f, "series/loss", &loss, &rank, dims), DDPM_OK);
    ck_assert_int_eq(rank, 1);
    ck_assert_int_eq((int)dims[0], 1000);
    ck_assert(loss[0] == 1.0 && loss[999] == 1.0 / 1000);
    ddpm_free(loss);
    h5io_close(f);

    /* Resume: appends and records the new invocation. */
    ck_assert_int_eq(runlog_open(&L, p, &c, 4, argv, 1), DDPM_OK);
    ck_assert_int_eq(runlog_append(&L, "loss", 5.0), DDPM_OK);
    ck_assert_int_eq(runlog_close(&L), DDPM_OK);
    f = h5io_open(p, 0);
    ck_assert_int_eq(h5io_shape(f, "series/loss", &rank, dims), DDPM_OK);
    ck_assert_int_eq((int)dims[0], 1001);
    ck_assert(h5io_attr_exists(f, "provenance/resumes/0", "start_time_utc"));
    h5io_close(f);
    remove(p);
}
END_TEST

START_TEST(killed_writer_leaves_flushed_data)
{
    const char *p = test_tmp_path("killed.h5");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        runlog L;
        if (runlog_open(&L, p, NULL, 0, NULL, 0) != DDPM_OK) _exit(3);
        for (int i = 0; i < 300; i++) runlog_append(&L, "loss", i);
        runlog_maybe_flush(&L, 1);
        for (int i = 0; i < 50; i++) runlog_append(&L, "loss", -1); /* never flushed */
        _exit(0);                                                   /* no close: like a kill */
    }
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    hid_t f = h5io_open(p, 0);
    ck_assert_msg(f >= 0, "%s", ddpm_last_error());
    double *v;
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    ck_assert_int_eq(h5io_read_f64(f, "series/loss", &v, &rank, dims), DDPM_OK);
    ck_assert_int_ge((int)dims[0], 300);
    for (int i = 0; i < 300; i++) ck_assert(v[i] == i);
    ddpm_free(v);
    h5io_close(f);
    remove(p);
}
END_TEST

START_TEST(arrays_and_errors)
{
    const char *p = test_tmp_path("arr.h5");
    hid_t f = h5io_create(p);
    ck_assert_int_ge(f, 0);
    float x[6] = { 1, 2, 3, 4, 5, 6 };
    hsize_t d2[2] = { 2, 3 };
    ck_assert_int_eq(h5io_write_f32(f, "a/b/c", x, 2, d2), DDPM_OK);
    ck_assert_int_eq(h5io_write_f32(f, "a/b/c", x, 2, d2), DDPM_OK); /* replace */
    ck_assert(h5io_exists(f, "a/b/c"));
    ck_assert(!h5io_exists(f, "a/x/c"));
    float y[6];
    hsize_t wrong[2] = { 3, 2 };
    ck_assert_int_eq(h5io_read_into_f32(f, "a/b/c", y, 2, wrong), DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "a/b/c") && strstr(ddpm_last_error(), "[2,3]") &&
              strstr(ddpm_last_error(), "[3,2]"));
    ck_assert_int_eq(h5io_read_into_f32(f, "a/b/c", y, 2, d2), DDPM_OK);
    ck_assert(memcmp(x, y, sizeof x) == 0);
    ck_assert_int_eq(h5io_read_into_f32(f, "nope", y, 2, d2), DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "nope") && strstr(ddpm_last_error(), "missing"));
    ck_assert_int_eq(h5io_close(f), DDPM_OK);

    ck_assert_int_lt(h5io_open("tests/data/no-such-file.h5", 0), 0);
    ck_assert(strstr(ddpm_last_error(), "no-such-file.h5"));
    const char *q = test_tmp_path("notes.h5");
    FILE *g = fopen(q, "w");
    fputs("this is not HDF5\n", g);
    fclose(g);
    ck_assert_int_lt(h5io_open(q, 0), 0);
    ck_assert(strstr(ddpm_last_error(), "not a readable HDF5 file"));
    /* A truncated HDF5 file. */
    FILE *src = fopen(p, "rb");
    char buf[600];
    size_t n = fread(buf, 1, sizeof buf, src);
    fclose(src);
    g = fopen(q, "wb");
    fwrite(buf, 1, n / 2, g);
    fclose(g);
    ck_assert_int_lt(h5io_open(q, 0), 0);
    ck_assert_int_lt(h5io_create("/nonexistent-dir/x.h5"), 0);
    ck_assert(strstr(ddpm_last_error(), "/nonexistent-dir/x.h5") && strstr(ddpm_last_error(), "does not exist"));
    remove(p);
    remove(q);
}
END_TEST

/* Two programs on one results folder: the second is told the file is in use, not that its
 * directory might be missing. */
START_TEST(file_in_use_by_another_process)
{
    const char *p = test_tmp_path("busy.h5");
    int ready[2], done[2];
    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(done), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        hid_t f = h5io_create(p);
        char c = f >= 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1) _exit(2);
        if (read(done[0], &c, 1) != 1) _exit(2); /* hold the file open until the parent has tried */
        h5io_close(f);
        _exit(0);
    }
    char c = 0;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    ck_assert_int_eq(c, 'y');
    ck_assert_int_lt(h5io_create(p), 0);
    ck_assert_msg(strstr(ddpm_last_error(), "busy.h5") && strstr(ddpm_last_error(), "another running process"), "%s",
                  ddpm_last_error());
    ck_assert_int_lt(h5io_open(p, 1), 0);
    ck_assert_msg(strstr(ddpm_last_error(), "another running process"), "%s", ddpm_last_error());
    ck_assert_int_eq(write(done[1], "x", 1), 1);
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    hid_t f = h5io_open(p, 1); /* free again once the other process is gone */
    ck_assert_msg(f >= 0, "%s", ddpm_last_error());
    h5io_close(f);
    remove(p);
}
END_TEST

static Suite *runlog_suite(void)
{
    Suite *s = suite_create("runlog");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, log_roundtrip);
    tcase_add_test(tc, killed_writer_leaves_flushed_data);
    tcase_add_test(tc, arrays_and_errors);
    tcase_add_test(tc, file_in_use_by_another_process);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(runlog_suite)
