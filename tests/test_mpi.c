/* bin/ddpm-mpi under mpirun (issue 16): the same bits as the serial bin/ddpm for every rank
 * count, and no hang.
 *
 * An ordinary forked Check suite: this process never calls MPI_Init; every case runs `mpirun`
 * as a child under `timeout` and `mpirun --timeout`, with Open MPI confined to this machine
 * (btl self,vader, oob on lo, oversubscription allowed, no binding, root allowed). Without
 * bin/ddpm-mpi, mpirun or the test_dist binary the suite prints one line saying it was skipped
 * and passes.
 *
 * Cases: the dist primitives (build/tests/mpi/test_dist at P = 1..4, small message chunks);
 * smoke-tier training, grad_blocks = 4, at P = 1, 2, 3, 4 against serial bin/ddpm with the same
 * grad_blocks (parameters, EMA, Adam moments and counter, step: memcmp; log series step, loss,
 * grad_norm, lr: memcmp; provenance nranks); stop at P = 4 and resume at P = 2 equals the
 * uninterrupted run; a rank killed with SIGKILL mid-run ends the job non-zero and the same command
 * resumes bit-identically; SIGTERM to mpirun checkpoints and prints the resume line; serial
 * bin/ddpm under mpirun -np 2 refuses with a line naming bin/ddpm-mpi; more ranks than
 * grad_blocks is a clear error; sample, bpd, stats and eval at P = 1..3 write the serial
 * commands' datasets (3 global batches, the last one partial). */
#include "testutil_run.h"

#include "core/common.h"
#include "core/config.h"
#include "io/h5io.h"
#include "model/unet.h"
#include "train/checkpoint.h"
#include "train/optim.h"
#include "train/trainer.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STEPS 8
#define SMOKE "--config experiments/configs/smoke/base.cfg --set train_steps=8 --set grad_blocks=4"

static char g_bin[1024], g_testdist[1100], g_skip[2400];

static void mpi_env(void)
{
    test_mpi_loopback_env();
    setenv("OMP_NUM_THREADS", "1", 1);
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    setenv("DDPM_QUIET", "1", 1);
    setenv("DDPM_LOG_FLUSH_SECONDS", "0", 1);
}

/* Whether the MPI parts exist; g_skip says why not. */
static int mpi_present(void)
{
    const char *b = getenv("DDPM_BIN"), *tmp = getenv("DDPM_TEST_TMP");
    snprintf(g_bin, sizeof g_bin, "%s", b ? b : "bin");
    snprintf(g_testdist, sizeof g_testdist, "%s/../tests/mpi/test_dist", tmp ? tmp : "build/tmp");
    char exe[1100];
    snprintf(exe, sizeof exe, "%s/ddpm-mpi", g_bin);
    if (getenv("DDPM_SANITIZE")) /* make test-sanitize: Open MPI's own allocations count as leaks there */
        snprintf(g_skip, sizeof g_skip, "not run under the sanitizer build (Open MPI's allocations read as leaks)");
    else if (access(exe, X_OK) != 0) snprintf(g_skip, sizeof g_skip, "%s not built (make setup-mpi)", exe);
    else if (system("command -v mpirun >/dev/null 2>&1") != 0) snprintf(g_skip, sizeof g_skip, "no mpirun on PATH");
    else if (access(g_testdist, X_OK) != 0) snprintf(g_skip, sizeof g_skip, "%s not built", g_testdist);
    return g_skip[0] == 0;
}

/* Runs a shell command line with output to log; the exit status (124 = timed out). */
static int sh(const char *log, const char *fmt, ...) DDPM_PRINTF(2, 3);
static int sh(const char *log, const char *fmt, ...)
{
    char cmd[4096], full[4400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s >>'%s' 2>&1", cmd, log);
    int st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

/* mpirun -np P bin/ddpm-mpi ARGS, under timeout. */
static int mpi_run(const char *log, int P, const char *args)
{
    return sh(log, "timeout -k 5 150 mpirun --timeout 140 --bind-to none -np %d %s/ddpm-mpi %s", P, g_bin, args);
}

static void rmrf(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* set by the fixture in the runner process, inherited by the forked cases */
static char g_ref[1100];
static const char *ref_dir(void) { return g_ref; }

/* The serial reference: bin/ddpm train with the same grad_blocks, 2 threads (run once, in the
 * runner process, before the cases). */
static void make_reference(void)
{
    if (!mpi_present()) return;
    mpi_env();
    snprintf(g_ref, sizeof g_ref, "%s", test_tmp_path("mpi-ref"));
    const char *d = g_ref, *log = test_tmp_path("mpi-ref.txt");
    rmrf(d);
    remove(log);
    int rc = sh(log, "OMP_NUM_THREADS=2 timeout 150 %s/ddpm train " SMOKE " --ckpt-every 4 --out '%s'", g_bin, d);
    if (rc != 0) fprintf(stderr, "test_mpi: the serial reference run failed (exit %d), see %s\n", rc, log);
}

static void text_of(const char *path, char *buf, size_t n)
{
    if (!test_read_text(path, buf, n)) snprintf(buf, n, "(no output at %s)", path);
}

static int64_t log_nranks(const char *dir)
{
    char l[1200];
    snprintf(l, sizeof l, "%s/log.h5", dir);
    hid_t f = h5io_open(l, 0);
    ck_assert_msg(f >= 0, "%s", ddpm_last_error());
    int64_t v = -1;
    ck_assert_int_eq(h5io_get_attr_i64(f, "provenance", "nranks", &v), DDPM_OK);
    char hosts[512];
    ck_assert_int_eq(h5io_get_attr_str(f, "provenance", "hosts", hosts, sizeof hosts), DDPM_OK);
    ck_assert(hosts[0] != 0);
    h5io_close(f);
    return v;
}

START_TEST(skipped_without_mpi) { printf("test_mpi: skipped: %s\n", g_skip); }
END_TEST

START_TEST(dist_primitives_at_every_rank_count)
{
    const char *log = test_tmp_path("mpi-dist.txt");
    for (int P = 1; P <= 4; P++) {
        remove(log);
        int rc = sh(log,
                    "DDPM_DIST_CHUNK=1000 DDPM_DIST_SEG=100 timeout -k 5 120 mpirun --timeout 110 --bind-to none "
                    "-np %d '%s'",
                    P, g_testdist);
        char text[8192];
        text_of(log, text, sizeof text);
        ck_assert_msg(rc == 0, "test_dist at P=%d: exit %d: %s", P, rc, text);
    }
}
END_TEST

START_TEST(training_equals_serial_for_p_1_to_4)
{
    for (int P = 1; P <= 4; P++) {
        char name[64], args[2048];
        snprintf(name, sizeof name, "mpi-train-p%d", P);
        const char *d = test_tmp_path(name), *log = test_tmp_path("mpi-train.txt");
        rmrf(d);
        remove(log);
        snprintf(args, sizeof args, "train " SMOKE " --ckpt-every 5 --out '%s'", d);
        int rc = mpi_run(log, P, args);
        char text[8192];
        text_of(log, text, sizeof text);
        ck_assert_msg(rc == 0, "P=%d: exit %d: %s", P, rc, text);
        ck_assert_msg(strstr(text, "train: finished 8 steps"), "P=%d: %s", P, text);
        test_assert_same_run_state(ref_dir(), d, STEPS);
        test_assert_same_series(ref_dir(), d, STEPS);
        ddpm_config c;
        char ck[1200];
        snprintf(ck, sizeof ck, "%s/ckpt.h5", d);
        ck_assert(checkpoint_read_config(ck, &c) == DDPM_OK);
        ck_assert_int_eq(c.grad_blocks, 4); /* the blocked path is what is compared */
        ck_assert_int_eq(log_nranks(d), P);
        rmrf(d);
    }
    ck_assert_int_eq(log_nranks(ref_dir()), 1);
}
END_TEST

START_TEST(stop_at_4_ranks_resume_at_2)
{
    const char *d = test_tmp_path("mpi-resume"), *log = test_tmp_path("mpi-resume.txt");
    rmrf(d);
    remove(log);
    char args[2048], text[8192];
    snprintf(args, sizeof args, "train " SMOKE " --stop-after 5 --out '%s'", d);
    ck_assert_int_eq(mpi_run(log, 4, args), 0);
    char word[32];
    int64_t step;
    ck_assert_int_eq(train_read_status(d, word, sizeof word, &step), DDPM_OK);
    ck_assert_str_eq(word, "interrupted");
    ck_assert_int_eq(step, 5);
    snprintf(args, sizeof args, "train " SMOKE " --out '%s'", d);
    int rc = mpi_run(log, 2, args);
    text_of(log, text, sizeof text);
    ck_assert_msg(rc == 0 && strstr(text, "resuming"), "exit %d: %s", rc, text);
    test_assert_same_run_state(ref_dir(), d, STEPS);
    test_assert_same_series(ref_dir(), d, STEPS);
    rmrf(d);
}
END_TEST

/* Starts mpirun -np P bin/ddpm-mpi train ... --out dir in the background; returns its pid. */
static pid_t spawn_mpirun(int P, const char *dir, const char *log, const char *steps)
{
    char np[16], exe[1100], ts[64];
    snprintf(np, sizeof np, "%d", P);
    snprintf(exe, sizeof exe, "%s/ddpm-mpi", g_bin);
    snprintf(ts, sizeof ts, "train_steps=%s", steps);
    char *argv[] = { "mpirun",
                     "--timeout",
                     "140",
                     "--bind-to",
                     "none",
                     "-np",
                     np,
                     exe,
                     "train",
                     "--config",
                     "experiments/configs/smoke/base.cfg",
                     "--set",
                     "grad_blocks=4",
                     "--set",
                     ts,
                     "--ckpt-every",
                     "2",
                     "--out",
                     (char *)dir,
                     NULL };
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen(log, "a", stdout) || !freopen(log, "a", stderr)) _exit(126);
        execvp("mpirun", argv);
        _exit(127);
    }
    return pid;
}

/* Waits for pid up to seconds; returns its wait status, or kills it (SIGKILL) and fails. */
static int wait_for(pid_t pid, double seconds, const char *what)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) return st;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) + 1e-9 * (double)(t.tv_nsec - t0.tv_nsec) > seconds) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            ck_abort_msg("%s: still running after %.0f s (a hang)", what, seconds);
        }
        usleep(20000);
    }
}

/* Waits until dir/ckpt.h5 exists (the first checkpoint of the run); 0 if pid ended first. */
static int wait_for_checkpoint(pid_t pid, const char *dir)
{
    char ck[1100];
    snprintf(ck, sizeof ck, "%s/ckpt.h5", dir);
    for (int i = 0; i < 6000; i++) {
        if (access(ck, F_OK) == 0) return 1;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) return 0;
        usleep(10000);
    }
    return 0;
}

/* The ranks mpirun started (its children). */
static int rank_pids(pid_t mpirun, pid_t *out, int max)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)mpirun, (int)mpirun);
    if (!test_read_text(path, buf, sizeof buf)) return 0;
    int n = 0;
    char *s = buf, *end;
    while (n < max) {
        long v = strtol(s, &end, 10);
        if (end == s) break;
        out[n++] = (pid_t)v;
        s = end;
    }
    return n;
}

START_TEST(killed_rank_ends_job_and_resume_is_identical)
{
    const char *d = test_tmp_path("mpi-kill"), *log = test_tmp_path("mpi-kill.txt");
    rmrf(d);
    remove(log);
    /* a longer run, so the kill lands mid-run; resumed below to the reference's STEPS steps */
    pid_t pid = spawn_mpirun(2, d, log, "400");
    ck_assert_msg(wait_for_checkpoint(pid, d), "the run ended before its first checkpoint");
    pid_t ranks[8];
    int n = rank_pids(pid, ranks, 8);
    ck_assert_int_ge(n, 2);
    ck_assert_int_eq(kill(ranks[n - 1], SIGKILL), 0);
    int st = wait_for(pid, 60, "mpirun after a rank was killed");
    char text[16384];
    text_of(log, text, sizeof text);
    ck_assert_msg(!(WIFEXITED(st) && WEXITSTATUS(st) == 0), "mpirun exited 0 after a rank was killed: %s", text);
    /* the same command, now to the reference's STEPS steps, on 3 ranks */
    char args[2048];
    snprintf(args, sizeof args, "train " SMOKE " --ckpt-every 2 --out '%s'", d);
    int64_t step;
    ck_assert_msg(checkpoint_read_step(strcat(strcpy(text, d), "/ckpt.h5"), &step) == DDPM_OK, "%s", ddpm_last_error());
    if (step < STEPS) {
        remove(log);
        int rc = mpi_run(log, 3, args);
        text_of(log, text, sizeof text);
        ck_assert_msg(rc == 0, "resume after the kill: exit %d: %s", rc, text);
        test_assert_same_run_state(ref_dir(), d, STEPS);
        test_assert_same_series(ref_dir(), d, STEPS);
    } else {
        /* the kill came after step STEPS: nothing to compare here */
        fprintf(stderr, "test_mpi: the killed run had passed step %d; its resume is checked by the SIGTERM case\n",
                STEPS);
    }
    rmrf(d);
}
END_TEST

START_TEST(sigterm_to_mpirun_checkpoints_and_resumes)
{
    const char *d = test_tmp_path("mpi-term"), *log = test_tmp_path("mpi-term.txt");
    rmrf(d);
    remove(log);
    pid_t pid = spawn_mpirun(2, d, log, "8");
    ck_assert_msg(wait_for_checkpoint(pid, d), "the run ended before its first checkpoint");
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    wait_for(pid, 60, "mpirun after SIGTERM");
    char text[16384], word[32];
    text_of(log, text, sizeof text);
    int64_t step;
    ck_assert_int_eq(train_read_status(d, word, sizeof word, &step), DDPM_OK);
    if (strcmp(word, "finished") != 0) {
        ck_assert_msg(!strcmp(word, "interrupted"), "status '%s' after SIGTERM: %s", word, text);
        ck_assert_msg(strstr(text, "rerun the same command to resume"), "no resume line after SIGTERM: %s", text);
    }
    char args[2048];
    snprintf(args, sizeof args, "train " SMOKE " --ckpt-every 2 --out '%s'", d);
    remove(log);
    int rc = mpi_run(log, 2, args);
    text_of(log, text, sizeof text);
    ck_assert_msg(rc == 0, "resume after SIGTERM: exit %d: %s", rc, text);
    test_assert_same_run_state(ref_dir(), d, STEPS);
    test_assert_same_series(ref_dir(), d, STEPS);
    rmrf(d);
}
END_TEST

START_TEST(serial_binary_refuses_mpi_launch_and_bad_rank_counts_fail)
{
    const char *d = test_tmp_path("mpi-refuse"), *log = test_tmp_path("mpi-refuse.txt");
    rmrf(d);
    remove(log);
    char text[16384];
    int rc = sh(log, "timeout -k 5 60 mpirun --timeout 50 --bind-to none -np 2 %s/ddpm train " SMOKE " --out '%s'",
                g_bin, d);
    text_of(log, text, sizeof text);
    ck_assert_msg(rc != 0 && strstr(text, "bin/ddpm-mpi"), "exit %d: %s", rc, text);
    ck_assert_msg(access(d, F_OK) != 0, "the refused serial run created %s", d);
    remove(log);
    char args[2048];
    snprintf(args, sizeof args, "train " SMOKE " --set grad_blocks=2 --out '%s'", d);
    rc = mpi_run(log, 3, args);
    text_of(log, text, sizeof text);
    ck_assert_msg(rc != 0 && rc != 124 && strstr(text, "grad_blocks = 2") && strstr(text, "rank"), "exit %d: %s", rc,
                  text);
    rmrf(d);
}
END_TEST

/* Dataset `name` of two HDF5 files is the same bytes. */
static void assert_same_dataset(const char *f1, const char *f2, const char *name, int is_u8)
{
    hid_t a = h5io_open(f1, 0), b = h5io_open(f2, 0);
    ck_assert_msg(a >= 0 && b >= 0, "%s", ddpm_last_error());
    int ra, rb;
    hsize_t da[H5IO_MAX_RANK], db[H5IO_MAX_RANK];
    void *x, *y;
    if (is_u8) {
        ck_assert_int_eq(h5io_read_u8(a, name, (uint8_t **)&x, &ra, da), DDPM_OK);
        ck_assert_int_eq(h5io_read_u8(b, name, (uint8_t **)&y, &rb, db), DDPM_OK);
    } else {
        ck_assert_int_eq(h5io_read_f64(a, name, (double **)&x, &ra, da), DDPM_OK);
        ck_assert_int_eq(h5io_read_f64(b, name, (double **)&y, &rb, db), DDPM_OK);
    }
    ck_assert_int_eq(ra, rb);
    size_t n = 1;
    for (int k = 0; k < ra; k++) {
        ck_assert_int_eq((int)da[k], (int)db[k]);
        n *= (size_t)da[k];
    }
    ck_assert_msg(memcmp(x, y, n * (is_u8 ? 1 : sizeof(double))) == 0, "%s: dataset %s differs from %s", f2, name, f1);
    free(x);
    free(y);
    h5io_close(a);
    h5io_close(b);
}

/* The line `ddpm eval` prints (FD, IS), without the sample count. */
static void eval_line(const char *log, char *out, size_t n)
{
    char text[16384];
    text_of(log, text, sizeof text);
    const char *p = strstr(text, "FD");
    ck_assert_msg(p != NULL, "no FD line: %s", text);
    size_t k = strcspn(p, "\n");
    snprintf(out, n, "%.*s", (int)k, p);
}

/* sample (samples, x), bpd (total, prior, terms, mse), stats (mu, sigma) and eval (FD, IS)
 * with 3 global batches (the last partial) equal the serial commands' at P = 1, 2, 3. */
START_TEST(eval_commands_equal_serial_for_p_1_to_3)
{
    char ck[1200], args[4096], ref_line[512], line[512];
    snprintf(ck, sizeof ck, "%s/ckpt.h5", ref_dir());
    const char *log = test_tmp_path("mpi-eval.txt");
    const char *names[4] = { "serial", "p1", "p2", "p3" };
    char smp[4][1200], bpd[4][1200], st[4][1200];
    for (int v = 0; v < 4; v++) {
        char nm[64];
        snprintf(nm, sizeof nm, "mpi-sample-%s.h5", names[v]);
        snprintf(smp[v], sizeof smp[v], "%s", test_tmp_path(nm));
        snprintf(nm, sizeof nm, "mpi-bpd-%s.h5", names[v]);
        snprintf(bpd[v], sizeof bpd[v], "%s", test_tmp_path(nm));
        snprintf(nm, sizeof nm, "mpi-stats-%s.h5", names[v]);
        snprintf(st[v], sizeof st[v], "%s", test_tmp_path(nm));
        remove(st[v]);
        const char *cmds[4] = { "sample --ckpt '%s' --n 10 --batch 4 --seed 3 --out '%s'",
                                "bpd --ckpt '%s' --n 6 --batch 4 --out '%s'",
                                "stats --config experiments/configs/smoke/base.cfg --n 1100 --out '%s'",
                                "eval --samples '%s' --stats '%s' --n 1100" };
        for (int c = 0; c < 4; c++) {
            char one[2048];
            if (c == 0) snprintf(one, sizeof one, cmds[c], ck, smp[v]);
            else if (c == 1) snprintf(one, sizeof one, cmds[c], ck, bpd[v]);
            else if (c == 2) snprintf(one, sizeof one, cmds[c], st[v]);
            else snprintf(one, sizeof one, cmds[c], smp[v], st[v]);
            remove(log);
            int rc = v == 0 ? sh(log, "OMP_NUM_THREADS=2 timeout 150 %s/ddpm %s", g_bin, one) : mpi_run(log, v, one);
            char text[16384];
            text_of(log, text, sizeof text);
            ck_assert_msg(rc == 0, "%s P=%d: exit %d: %s", one, v, rc, text);
            if (c == 3) eval_line(log, v == 0 ? ref_line : line, sizeof line);
        }
        (void)args;
        if (v == 0) continue;
        assert_same_dataset(smp[0], smp[v], "samples", 1);
        assert_same_dataset(smp[0], smp[v], "x", 0);
        assert_same_dataset(bpd[0], bpd[v], "total_bpd", 0);
        assert_same_dataset(bpd[0], bpd[v], "prior_bpd", 0);
        assert_same_dataset(bpd[0], bpd[v], "terms_bpd", 0);
        assert_same_dataset(bpd[0], bpd[v], "mse", 0);
        assert_same_dataset(st[0], st[v], "mu", 0);
        assert_same_dataset(st[0], st[v], "sigma", 0);
        ck_assert_msg(!strcmp(line, ref_line), "eval at P=%d: '%s', serial '%s'", v, line, ref_line);
    }
    for (int v = 0; v < 4; v++) {
        remove(smp[v]);
        remove(bpd[v]);
        remove(st[v]);
    }
}
END_TEST

static Suite *mpi_suite(void)
{
    Suite *s = suite_create("mpi");
    TCase *tc = tcase_create("mpirun");
    tcase_set_timeout(tc, 600);
    if (!mpi_present()) {
        tcase_add_test(tc, skipped_without_mpi);
    } else {
        tcase_add_unchecked_fixture(tc, make_reference, NULL);
        tcase_add_test(tc, dist_primitives_at_every_rank_count);
        tcase_add_test(tc, training_equals_serial_for_p_1_to_4);
        tcase_add_test(tc, stop_at_4_ranks_resume_at_2);
        tcase_add_test(tc, killed_rank_ends_job_and_resume_is_identical);
        tcase_add_test(tc, sigterm_to_mpirun_checkpoints_and_resumes);
        tcase_add_test(tc, serial_binary_refuses_mpi_launch_and_bad_rank_counts_fail);
        tcase_add_test(tc, eval_commands_equal_serial_for_p_1_to_3);
    }
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(mpi_suite)
