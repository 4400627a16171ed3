/* Crash safety of `ddpm train` (bin/ddpm, as a user runs it).
 *
 * kill -9 loop: a run is killed with SIGKILL at pseudo-random moments (during data loading,
 * steps, checkpoint writes and log flushes) and restarted each time with the same command; once
 * it finishes, its checkpoint (weights, EMA, Adam moments, step) is bit-identical to an
 * uninterrupted run's, and its log's per-step series (step, loss, grad_norm, lr) equal the
 * uninterrupted run's row for row: rows logged after the last checkpoint are dropped on resume.
 * A log damaged beyond reopening is moved aside and a new one started; the run still finishes.
 * A full disk fails the checkpoint write with a clear error and keeps the previous checkpoint. */
#include "testutil_run.h"

#include "core/common.h"
#include "core/config.h"
#include "core/fs.h"
#include "core/rng.h"
#include "io/h5io.h"
#include "model/unet.h"
#include "train/checkpoint.h"
#include "train/optim.h"
#include "train/trainer.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STEPS 40

static const char *SETS[] = { TEST_TINY_MODEL_SETS, TEST_TINY_TRAIN_SETS, "train_steps=40" };
#define NSETS (sizeof SETS / sizeof SETS[0])

/* Starts `ddpm train <tiny config> --out dir --ckpt-every 3 [extra]` with output appended to
 * log_path and, when fsize > 0, files limited to fsize bytes (a full disk); returns the pid. */
static pid_t spawn_train_ex(const char *dir, const char *log_path, const char *extra, const char *extra_val, long fsize)
{
    const char *bin = getenv("DDPM_BIN");
    char exe[1100];
    snprintf(exe, sizeof exe, "%s/ddpm", bin ? bin : "bin");
    char *argv[12 + 2 * NSETS];
    int k = 0;
    argv[k++] = exe;
    argv[k++] = "train";
    for (size_t i = 0; i < NSETS; i++) {
        argv[k++] = "--set";
        argv[k++] = (char *)SETS[i];
    }
    argv[k++] = "--out";
    argv[k++] = (char *)dir;
    argv[k++] = "--ckpt-every";
    argv[k++] = "3";
    if (extra) {
        argv[k++] = (char *)extra;
        argv[k++] = (char *)extra_val;
    }
    argv[k] = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen(log_path, "a", stdout) || !freopen(log_path, "a", stderr)) _exit(126);
        setenv("OMP_NUM_THREADS", "1", 1);
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        setenv("DDPM_QUIET", "1", 1);
        setenv("DDPM_LOG_FLUSH_SECONDS", "0", 1); /* every step on disk: kills leave rows past the checkpoint */
        if (fsize > 0) {
            signal(SIGXFSZ, SIG_IGN); /* writes past the limit fail with EFBIG, as on a full disk */
            struct rlimit rl = { (rlim_t)fsize, (rlim_t)fsize };
            if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(125);
        }
        execv(exe, argv);
        _exit(127);
    }
    return pid;
}

static pid_t spawn_train(const char *dir, const char *log_path) { return spawn_train_ex(dir, log_path, NULL, NULL, 0); }

/* Runs to the end (or to the stop the extra option asks for); returns the exit status. */
static int run_train_ex(const char *dir, const char *log_path, const char *extra, const char *extra_val)
{
    int st;
    pid_t pid = spawn_train_ex(dir, log_path, extra, extra_val, 0);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

static int run_train(const char *dir, const char *log_path) { return run_train_ex(dir, log_path, NULL, NULL); }

static void rmrf(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

START_TEST(kill9_loop_resumes_bit_identical)
{
    const char *d1 = test_tmp_path("crash-straight"), *d2 = test_tmp_path("crash-killed");
    const char *out = test_tmp_path("crash-output.txt");
    rmrf(d1);
    rmrf(d2);
    remove(out);
    double t0 = now_s();
    ck_assert_msg(run_train(d1, out) == 0, "uninterrupted run failed; see %s", out);
    double T = now_s() - t0;

    /* Kill after 5-45% of an uninterrupted run's time (startup included), seeded for repeatability. */
    rng_stream rs = rng_stream_make(7, RNG_EVAL, 0, 0);
    uint64_t draw = 0;
    int kills = 0, progressed = 0, finished = 0;
    int64_t last_step = -1;
    for (int attempt = 0; attempt < 30 && !finished; attempt++) {
        pid_t pid = spawn_train(d2, out);
        double delay = T * (0.05 + 0.4 * (double)rng_uniform(rs, draw++));
        double until = now_s() + delay;
        int st = 0;
        pid_t w = 0;
        while (now_s() < until && (w = waitpid(pid, &st, WNOHANG)) == 0) usleep(2000);
        if (w == 0) {
            kill(pid, SIGKILL);
            ck_assert_int_eq(waitpid(pid, &st, 0), pid);
            ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
            kills++;
        } else {
            ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a restarted run failed; see %s", out);
            finished = 1;
        }
        char ck[1100];
        snprintf(ck, sizeof ck, "%s/ckpt.h5", d2);
        int64_t s = -1;
        if (access(ck, F_OK) == 0)
            ck_assert_msg(checkpoint_read_step(ck, &s) == DDPM_OK, "checkpoint unreadable after kill %d: %s", kills,
                          ddpm_last_error());
        if (s > last_step && s < STEPS) progressed++;
        if (s > last_step) last_step = s;
    }
    if (!finished) ck_assert_msg(run_train(d2, out) == 0, "final resume failed; see %s", out);
    fprintf(stderr, "kill -9 loop: %d kills, %d with a new checkpoint, uninterrupted run %.2fs\n", kills, progressed,
            T);
    ck_assert_msg(kills >= 5, "only %d kills landed (the run finished early)", kills);
    ck_assert_msg(progressed >= 2, "only %d kills came after new checkpoints; the loop did not test resumes",
                  progressed);

    char word[32];
    int64_t st;
    ck_assert_int_eq(train_read_status(d2, word, sizeof word, &st), DDPM_OK);
    ck_assert_str_eq(word, "finished");
    test_assert_same_run_state(d1, d2, STEPS);
    test_assert_same_series(d1, d2, STEPS);
    rmrf(d1);
    rmrf(d2);
}
END_TEST

START_TEST(damaged_log_is_moved_aside)
{
    const char *d1 = test_tmp_path("crash-straight2"), *d2 = test_tmp_path("crash-damaged");
    const char *out = test_tmp_path("crash-output2.txt");
    rmrf(d1);
    rmrf(d2);
    ck_assert_int_eq(run_train(d1, out), 0);
    /* A run interrupted at step 20 (checkpointed), then its log overwritten with garbage. */
    ck_assert_msg(run_train_ex(d2, out, "--stop-after", "20") == 0, "interrupted run failed; see %s", out);
    char lp[1100], dp[1100];
    snprintf(lp, sizeof lp, "%s/log.h5", d2);
    snprintf(dp, sizeof dp, "%s/log.h5.damaged", d2);
    FILE *f = fopen(lp, "r+b");
    ck_assert_ptr_nonnull(f);
    static const char junk[4096] = "this is not an HDF5 superblock";
    ck_assert_int_eq((int)fwrite(junk, 1, sizeof junk, f), (int)sizeof junk);
    fclose(f);

    ck_assert_int_eq(run_train(d2, out), 0);
    ck_assert_msg(access(dp, F_OK) == 0, "the damaged log was not kept as %s", dp);
    test_assert_same_run_state(d1, d2, STEPS);
    hid_t g = h5io_open(lp, 0);
    ck_assert_msg(g >= 0, "%s", ddpm_last_error());
    char prev[1100];
    ck_assert_int_eq(h5io_get_attr_str(g, ".", "previous_log", prev, sizeof prev), DDPM_OK);
    ck_assert_str_eq(prev, dp);
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    ck_assert_int_eq(h5io_shape(g, "series/loss", &rank, dims), DDPM_OK);
    ck_assert_int_eq((int)dims[0], STEPS - 20); /* the new log starts at the resumed step */
    h5io_close(g);
    rmrf(d1);
    rmrf(d2);
}
END_TEST

/* A disk that fills up mid-run: the failing checkpoint write is a one-line error naming the
 * file, the previous checkpoint stays intact and no temporary file is left; after space is
 * freed the same command resumes and finishes bit-identical to an uninterrupted run. */
START_TEST(full_disk_keeps_last_checkpoint)
{
    const char *d1 = test_tmp_path("crash-straight3"), *d2 = test_tmp_path("crash-full");
    const char *out = test_tmp_path("crash-output3.txt");
    rmrf(d1);
    rmrf(d2);
    remove(out);
    ck_assert_int_eq(run_train(d1, out), 0);
    ck_assert_int_eq(run_train_ex(d2, out, "--stop-after", "6"), 0);
    int st;
    /* The tiny model's checkpoint is ~1.3 MB: a 200 kB file-size limit fails its next write. */
    remove(out);
    pid_t pid = spawn_train_ex(d2, out, NULL, NULL, 200 * 1024);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    char text[8192];
    test_read_text(out, text, sizeof text);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "want exit 1 after a failed write, got status %d: %s", st,
                  text);
    ck_assert_msg(strstr(text, "ckpt.h5: checkpoint not written") && strstr(text, "disk full") &&
                      strstr(text, "checkpoint of step 6 is kept"),
                  "unclear error: %s", text);
    char ck[1100], tmp[1100];
    snprintf(ck, sizeof ck, "%s/ckpt.h5", d2);
    fs_tmp_path(ck, tmp, sizeof tmp);
    ck_assert_msg(access(tmp, F_OK) != 0, "%s left behind", tmp);
    int64_t step;
    ck_assert_msg(checkpoint_read_step(ck, &step) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_int_eq(step, 6);
    char word[32];
    ck_assert_int_eq(train_read_status(d2, word, sizeof word, &step), DDPM_OK);
    ck_assert_str_eq(word, "interrupted");
    ck_assert_int_eq(run_train(d2, out), 0);
    test_assert_same_run_state(d1, d2, STEPS);
    test_assert_same_series(d1, d2, STEPS);
    rmrf(d1);
    rmrf(d2);
}
END_TEST

static Suite *crash_suite(void)
{
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("kill");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, kill9_loop_resumes_bit_identical);
    tcase_add_test(tc, damaged_log_is_moved_aside);
    tcase_add_test(tc, full_disk_keeps_last_checkpoint);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(crash_suite)
