/* Resumable evaluation outputs (eval/partial.h; issue 18, "multi-day work must survive
 * anything"): `ddpm sample`, `ddpm bpd`, `ddpm stats` and a driver's evaluation cache are killed
 * with SIGKILL at seeded pseudo-random moments (during start-up, during the first batch, right
 * after a batch was flushed) and rerun with the same command until they finish; the final
 * datasets are then the bits of an uninterrupted run (memcmp), the rerun after a kill that left
 * finished batches says "resuming ...: k of n batches done" with that k, and the finished file
 * has no bookkeeping left. Other settings start a partial output afresh. Under mpirun (when
 * present): `ddpm-mpi sample` at 2 ranks killed mid-run and finished at 1 rank, or by serial
 * `ddpm sample`, equals the serial run. Every subprocess runs under `timeout`. */
#include "testutil.h"

#include "core/common.h"
#include "core/fs.h"
#include "eval/evaluate.h"
#include "train/checkpoint.h"
#include "io/h5io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>

static char g_bin[1024], g_ck[1200], g_ref_sample[1200], g_ref_bpd[1200], g_ref_stats[1200];
static double g_t_sample, g_t_bpd, g_t_stats;

#define SAMPLE_ARGS "sample --ckpt '%s' --n 12 --batch 3 --seed 3 --record-every 10 --out '%s'"
#define BPD_ARGS    "bpd --ckpt '%s' --n 10 --batch 3 --out '%s'"
#define STATS_ARGS  "stats --config experiments/configs/smoke/base.cfg --n 1600 --out '%s'"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void quiet_env(void)
{
    setenv("OMP_NUM_THREADS", "1", 1);
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    setenv("DDPM_QUIET", "1", 1);
}

/* Starts `sh -c "exec timeout ... CMD"` in its own process group, output appended to log. */
static pid_t spawn(const char *log, const char *cmd)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setpgid(0, 0);
        if (!freopen(log, "a", stdout) || !freopen(log, "a", stderr)) _exit(126);
        char full[8300];
        snprintf(full, sizeof full, "exec timeout -k 5 120 %s", cmd);
        execl("/bin/sh", "sh", "-c", full, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid)
{
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

static int run(const char *log, const char *cmd) { return wait_exit(spawn(log, cmd)); }

/* The processes this test started below pid (mpirun's ranks live in process groups of their
 * own): their pids into out. */
static int descendants(pid_t root, pid_t *out, int max)
{
    int n = 0;
    pid_t frontier[64];
    int nf = 0;
    frontier[nf++] = root;
    while (nf > 0 && n < max) {
        pid_t p = frontier[--nf];
        DIR *d = opendir("/proc");
        if (!d) break;
        struct dirent *e;
        while ((e = readdir(d)) != NULL && n < max) {
            int child = atoi(e->d_name);
            if (child <= 0) continue;
            char path[64], buf[512];
            snprintf(path, sizeof path, "/proc/%d/stat", child);
            FILE *f = fopen(path, "r");
            if (!f) continue;
            size_t k = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[k] = 0;
            const char *rp = strrchr(buf, ')');
            int ppid = 0;
            char state;
            if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == p) {
                out[n++] = child;
                if (nf < 64) frontier[nf++] = child;
            }
        }
        closedir(d);
    }
    return n;
}

/* SIGKILL to the whole job started by spawn (its group and every descendant), then reaped. */
static void kill_job(pid_t pid)
{
    pid_t below[64];
    int n = descendants(pid, below, 64);
    kill(-pid, SIGKILL);
    for (int i = 0; i < n; i++) kill(below[i], SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Finished batches of PATH.tmp's record `rec` read beside the writer (no HDF5 lock); -1 when
 * not readable yet. total gets the number of batches. */
static int batches_done(const char *tmp, const char *rec, int *total)
{
    if (access(tmp, F_OK) != 0) return -1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_file_locking(fapl, 0, 1);
    hid_t f = H5Fopen(tmp, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0) return -1;
    int k = -1;
    hid_t d = H5Lexists(f, rec, H5P_DEFAULT) > 0 ? H5Dopen2(f, rec, H5P_DEFAULT) : -1;
    if (d >= 0) {
        hid_t s = H5Dget_space(d);
        hssize_t n = H5Sget_simple_extent_npoints(s);
        H5Sclose(s);
        uint8_t flags[4096];
        if (n > 0 && n <= 4096 && H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, flags) >= 0) {
            k = 0;
            for (hssize_t i = 0; i < n; i++) k += flags[i] != 0;
            *total = (int)n;
        }
        H5Dclose(d);
    }
    H5Fclose(f);
    return k;
}

/* Waits until no process holds path (HDF5's flock): the killed job is gone. */
static void wait_unlocked(const char *path)
{
    for (int i = 0; i < 600; i++) {
        int fd = open(path, O_RDONLY);
        if (fd < 0) return;
        int busy = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
        close(fd);
        if (!busy) return;
        usleep(50000);
    }
    ck_abort_msg("%s is still held by a killed job after 30 s", path);
}

static uint64_t g_lcg = 18;
static double uniform(void)
{
    g_lcg = g_lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(g_lcg >> 11) / 9007199254740992.0;
}

/* "resuming ...: k of" in text: k, or -1. */
static int resumed_k(const char *text)
{
    const char *p = strstr(text, "resuming ");
    if (!p) return -1;
    const char *c = strstr(p, ": ");
    return c ? atoi(c + 2) : -1;
}

/* The kill -9 loop of one command (cmd writes out; its partial is tmp with record rec):
 * kills at start-up, in the first batch, right after a batch was flushed, and at seeded random
 * moments of a run of ref_seconds, then reruns to the end. Asserts that the rerun after the
 * batch kill resumed with at least the batches the file recorded. */
static void kill_loop(const char *name, const char *cmd, const char *tmp, const char *rec, double ref_seconds)
{
    char log[1200], text[65536], lname[256];
    snprintf(lname, sizeof lname, "%s.txt", name);
    snprintf(log, sizeof log, "%s", test_tmp_path(lname));
    double fr[5] = { 0.02, -1, 0.2 + 0.6 * uniform(), 0.2 + 0.6 * uniform(), -1 };
    int saw_resume = 0, finished = 0;
    for (int a = 0; a < 5 && !finished; a++) {
        remove(log);
        pid_t pid = spawn(log, cmd);
        int total = 0, k = -1;
        if (fr[a] >= 0) {
            usleep((useconds_t)(fr[a] * ref_seconds * 1e6));
        } else { /* right after a batch is on disk (a = 1: the first; a = 4: one more than at start) */
            int start = batches_done(tmp, rec, &total);
            for (int i = 0; i < 4000; i++) {
                k = batches_done(tmp, rec, &total);
                if (k > (start > 0 ? start : 0)) break;
                if (waitpid(pid, NULL, WNOHANG) == pid) {
                    pid = 0;
                    break;
                }
                usleep(5000);
            }
        }
        if (pid > 0) {
            if (waitpid(pid, NULL, WNOHANG) == pid) finished = 1;
            else kill_job(pid);
        } else {
            finished = 1;
        }
        wait_unlocked(tmp);
        test_read_text(log, text, sizeof text);
        if (resumed_k(text) > 0) saw_resume = 1;
        int kd = batches_done(tmp, rec, &total);
        fprintf(stderr, "%s: attempt %d %s with %d of %d batches on disk\n", name, a, finished ? "finished" : "killed",
                kd, total);
        /* the next run resumes from what the killed one left */
        if (!finished && kd > 0 && kd < total) {
            remove(log);
            pid = spawn(log, cmd);
            usleep((useconds_t)(0.15 * ref_seconds * 1e6));
            if (waitpid(pid, NULL, WNOHANG) == pid) finished = 1;
            else kill_job(pid);
            wait_unlocked(tmp);
            test_read_text(log, text, sizeof text);
            if (resumed_k(text) >= 0) {
                ck_assert_msg(resumed_k(text) >= kd, "%s: %d batches were done, the rerun says: %s", name, kd, text);
                saw_resume = 1;
            }
        }
    }
    remove(log);
    int rc = run(log, cmd);
    test_read_text(log, text, sizeof text);
    ck_assert_msg(rc == 0, "%s: the final rerun failed (exit %d): %s", name, rc, text);
    if (resumed_k(text) > 0) saw_resume = 1;
    ck_assert_msg(saw_resume, "%s: no rerun resumed from finished batches", name);
    ck_assert_msg(access(tmp, F_OK) != 0, "%s: %s left behind", name, tmp);
}

static void *read_all(hid_t f, const char *file, const char *name, int is_u8, size_t *bytes)
{
    int rank;
    hsize_t d[H5IO_MAX_RANK];
    void *x = NULL;
    int rc = is_u8 ? h5io_read_u8(f, name, (uint8_t **)&x, &rank, d) : h5io_read_f64(f, name, (double **)&x, &rank, d);
    ck_assert_msg(rc == DDPM_OK, "%s: %s", file, ddpm_last_error());
    size_t n = is_u8 ? 1 : sizeof(double);
    for (int k = 0; k < rank; k++) n *= (size_t)d[k];
    *bytes = n;
    return x;
}

/* Datasets names[] of two files are the same bytes; b has no bookkeeping record `rec`. */
static void assert_same(const char *a, const char *b, const char *const *names, const int *is_u8, int n,
                        const char *rec)
{
    hid_t fa = h5io_open(a, 0), fb = h5io_open(b, 0);
    ck_assert_msg(fa >= 0 && fb >= 0, "%s", ddpm_last_error());
    for (int i = 0; i < n; i++) {
        size_t na, nb;
        void *x = read_all(fa, a, names[i], is_u8[i], &na), *y = read_all(fb, b, names[i], is_u8[i], &nb);
        ck_assert_msg(na == nb && memcmp(x, y, na) == 0, "%s: dataset %s differs from %s", b, names[i], a);
        ddpm_free(x);
        ddpm_free(y);
    }
    if (rec) ck_assert_msg(!h5io_exists(fb, rec), "%s: bookkeeping %s left in the finished file", b, rec);
    ck_assert_msg(!h5io_attr_exists(fb, ".", "resume_key"), "%s: resume_key left in the finished file", b);
    h5io_close(fa);
    h5io_close(fb);
}

static const char *const SAMPLE_SETS[] = { "samples", "x", "pred_xstart" };
static const int SAMPLE_U8[] = { 1, 0, 0 };
static const char *const BPD_SETS[] = { "total_bpd", "prior_bpd", "terms_bpd", "mse" };
static const int BPD_U8[] = { 0, 0, 0, 0 };
static const char *const STATS_SETS[] = { "mu", "sigma" };
static const int STATS_U8[] = { 0, 0 };

static double timed_run(const char *log, const char *cmd)
{
    double t0 = now_s();
    int rc = run(log, cmd);
    char text[16384];
    test_read_text(log, text, sizeof text);
    if (rc != 0) fprintf(stderr, "test_resume: reference `%s` failed (exit %d): %s\n", cmd, rc, text);
    return now_s() - t0;
}

/* In the runner: a tiny checkpoint and the uninterrupted references. */
static void make_references(void)
{
    quiet_env();
    const char *b = getenv("DDPM_BIN");
    snprintf(g_bin, sizeof g_bin, "%s", b ? b : "bin");
    snprintf(g_ck, sizeof g_ck, "%s", test_tmp_path("resume-ck.h5"));
    snprintf(g_ref_sample, sizeof g_ref_sample, "%s", test_tmp_path("resume-ref-sample.h5"));
    snprintf(g_ref_bpd, sizeof g_ref_bpd, "%s", test_tmp_path("resume-ref-bpd.h5"));
    snprintf(g_ref_stats, sizeof g_ref_stats, "%s", test_tmp_path("resume-ref-stats.h5"));
    const char *log = test_tmp_path("resume-ref.txt");
    char cmd[8192];
    remove(g_ref_stats);
    snprintf(cmd, sizeof cmd,
             "%s/ddpm init --config experiments/configs/smoke/base.cfg --set num_diffusion_timesteps=20 "
             "--seed 1 --out '%s'",
             g_bin, g_ck);
    timed_run(log, cmd);
    char one[4096];
    snprintf(one, sizeof one, SAMPLE_ARGS, g_ck, g_ref_sample);
    snprintf(cmd, sizeof cmd, "%s/ddpm %s", g_bin, one);
    g_t_sample = timed_run(log, cmd);
    snprintf(one, sizeof one, BPD_ARGS, g_ck, g_ref_bpd);
    snprintf(cmd, sizeof cmd, "%s/ddpm %s", g_bin, one);
    g_t_bpd = timed_run(log, cmd);
    snprintf(one, sizeof one, STATS_ARGS, g_ref_stats);
    snprintf(cmd, sizeof cmd, "%s/ddpm %s", g_bin, one);
    g_t_stats = timed_run(log, cmd);
}

static void one_command(const char *name, const char *fmt, int with_ck, const char *ref, double secs,
                        const char *const *sets, const int *u8, int nsets)
{
    char out[1200], tmp[1300], one[4096], cmd[8192];
    snprintf(out, sizeof out, "%s", test_tmp_path(name));
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    remove(out);
    remove(tmp);
    if (with_ck) snprintf(one, sizeof one, fmt, g_ck, out);
    else snprintf(one, sizeof one, fmt, out);
    snprintf(cmd, sizeof cmd, "%s/ddpm %s", g_bin, one);
    ck_assert_msg(access(ref, F_OK) == 0, "the uninterrupted reference %s is missing (see the runner's messages)", ref);
    kill_loop(name, cmd, tmp, "batches_done", secs);
    assert_same(ref, out, sets, u8, nsets, "batches_done");
    remove(out);
}

START_TEST(sample_killed_resumes_bit_identical)
{
    g_lcg = 18;
    one_command("resume-sample.h5", SAMPLE_ARGS, 1, g_ref_sample, g_t_sample, SAMPLE_SETS, SAMPLE_U8, 3);
}
END_TEST

START_TEST(bpd_killed_resumes_bit_identical)
{
    g_lcg = 19;
    one_command("resume-bpd.h5", BPD_ARGS, 1, g_ref_bpd, g_t_bpd, BPD_SETS, BPD_U8, 4);
}
END_TEST

START_TEST(stats_killed_resumes_bit_identical)
{
    g_lcg = 20;
    one_command("resume-stats.h5", STATS_ARGS, 0, g_ref_stats, g_t_stats, STATS_SETS, STATS_U8, 2);
}
END_TEST

/* A partial output of another seed is not resumed: the run starts afresh and says so. */
START_TEST(other_settings_start_afresh)
{
    char out[1200], tmp[1300], one[4096], cmd[8192], text[16384];
    snprintf(out, sizeof out, "%s", test_tmp_path("resume-other.h5"));
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    const char *log = test_tmp_path("resume-other.txt");
    remove(out);
    remove(tmp);
    snprintf(one, sizeof one, SAMPLE_ARGS, g_ck, out);
    snprintf(cmd, sizeof cmd, "%s/ddpm %s", g_bin, one);
    pid_t pid = spawn(log, cmd);
    int total = 0, k = -1;
    for (int i = 0; i < 4000 && k < 1; i++) {
        k = batches_done(tmp, "batches_done", &total);
        if (k < 1) usleep(5000);
    }
    kill_job(pid);
    ck_assert_msg(k >= 1 && k < total, "no partial output to test with (%d of %d batches)", k, total);
    snprintf(cmd, sizeof cmd, "%s/ddpm sample --ckpt '%s' --n 12 --batch 3 --seed 4 --record-every 10 --out '%s'",
             g_bin, g_ck, out);
    remove(log);
    ck_assert_int_eq(run(log, cmd), 0);
    test_read_text(log, text, sizeof text);
    ck_assert_msg(strstr(text, "of other settings; starting it afresh") && !strstr(text, "resuming"), "%s", text);
    remove(out);
}
END_TEST

/* A run's evaluation cache (eval.h5: bpd_test, bpd_train, samples; reference statistics)
 * killed and rerun equals the uninterrupted one. Runs experiment_evaluate in a child. */
/* The evaluation itself runs in a fresh process (this binary re-executed with
 * DDPM_TEST_EVALUATE=RUNS_DIR:RUN_DIR, caught before main): a forked copy of a process whose
 * thread pools already started is no place for BLAS. */
__attribute__((constructor)) static void evaluate_entry(void)
{
    const char *spec = getenv("DDPM_TEST_EVALUATE");
    if (!spec) return;
    char runs_dir[sizeof((tier_spec *)0)->runs_dir];
    const char *colon = strchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof runs_dir) _exit(2);
    snprintf(runs_dir, sizeof runs_dir, "%.*s", (int)(colon - spec), spec);
    const char *run_dir = colon + 1;
    tier_spec t;
    if (tier_get("smoke", &t) != DDPM_OK) _exit(3);
    t.bpd_n = 8;
    t.bpd_train_n = 7;
    t.samples_n = 12;
    t.ref_n = 1100;
    t.batch = 3;
    memcpy(t.runs_dir, runs_dir, sizeof t.runs_dir);
    variant_result r;
    memset(&r, 0, sizeof r);
    snprintf(r.variant, sizeof r.variant, "eps-fixedlarge-mse");
    snprintf(r.run_dir, sizeof r.run_dir, "%s", run_dir);
    char ck[1200];
    snprintf(ck, sizeof ck, "%s/ckpt.h5", run_dir);
    if (checkpoint_read_config(ck, &r.cfg) != DDPM_OK) _exit(4);
    r.outcome = TRAIN_FINISHED;
    snprintf(r.ckpt, sizeof r.ckpt, "%.*s", (int)sizeof r.ckpt - 1, ck);
    eval_request q;
    eval_request_of_tier(&t, &q);
    /* the one call of the drivers' API in this suite */
    int rc = experiment_evaluate(&q, &r, 1, NULL);
    if (rc != DDPM_OK) fprintf(stderr, "%s\n", ddpm_last_error());
    fflush(stderr);
    _exit(rc == DDPM_OK ? 0 : 1);
}

static pid_t evaluate_in_child(const char *runs_dir, const char *run_dir, const char *log)
{
    char self[1100], spec[2300];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert(k > 0);
    self[k] = 0;
    snprintf(spec, sizeof spec, "%s:%s", runs_dir, run_dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setpgid(0, 0);
        if (!freopen(log, "a", stdout) || !freopen(log, "a", stderr)) _exit(126);
        setenv("DDPM_TEST_EVALUATE", spec, 1);
        execl("/usr/bin/timeout", "timeout", "-k", "5", "120", self, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void eval_dir(const char *name, char *runs, char *dir, size_t n)
{
    snprintf(runs, n, "%s", test_tmp_path(name));
    snprintf(dir, n, "%s/run", runs);
    char cmd[3000], ck[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", runs, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(ck, sizeof ck, "%s/ckpt.h5", dir);
    ck_assert_int_eq(fs_copy_file(g_ck, ck), DDPM_OK);
}

START_TEST(driver_evaluation_killed_resumes_bit_identical)
{
    g_lcg = 21;
    char runs_a[1100], dir_a[1100], runs_b[1100], dir_b[1100], evp[2][1200], tmp[1300], text[65536];
    eval_dir("resume-eval-a", runs_a, dir_a, sizeof runs_a);
    eval_dir("resume-eval-b", runs_b, dir_b, sizeof runs_b);
    const char *log = test_tmp_path("resume-eval.txt");
    remove(log);
    double t0 = now_s();
    int rc = wait_exit(evaluate_in_child(runs_a, dir_a, log));
    double secs = now_s() - t0;
    test_read_text(log, text, sizeof text);
    ck_assert_msg(rc == 0, "uninterrupted evaluation failed (exit %d): %s", rc, text);
    snprintf(evp[0], sizeof evp[0], "%s/eval.h5", dir_a);
    snprintf(evp[1], sizeof evp[1], "%s/eval.h5", dir_b);
    snprintf(tmp, sizeof tmp, "%s", evp[1]);
    /* kills at seeded moments, and right after the first flushed batch of each piece */
    const char *recs[3] = { "bpd_test/batches_done", "bpd_train/batches_done", "samples_batches_done" };
    int resumed = 0;
    for (int a = 0; a < 4; a++) {
        remove(log);
        pid_t pid = evaluate_in_child(runs_b, dir_b, log);
        if (a == 0 || a == 3) {
            usleep((useconds_t)((0.1 + 0.6 * uniform()) * secs * 1e6));
        } else { /* right after one more batch of an unfinished piece is on disk (whichever piece the
                  * run is in: an earlier kill may have landed after a piece was complete) */
            int start[3], total = 0, hit = 0;
            for (int r = 0; r < 3; r++) start[r] = batches_done(tmp, recs[r], &total);
            for (int i = 0; i < 8000 && !hit; i++) {
                for (int r = 0; r < 3 && !hit; r++) {
                    int kd = batches_done(tmp, recs[r], &total);
                    hit = kd > (start[r] > 0 ? start[r] : 0) && kd < total;
                }
                if (hit) break;
                if (waitpid(pid, NULL, WNOHANG) == pid) {
                    pid = 0;
                    break;
                }
                usleep(2000);
            }
        }
        if (pid > 0) kill_job(pid);
        wait_unlocked(tmp);
        test_read_text(log, text, sizeof text);
        if (resumed_k(text) > 0) resumed = 1;
    }
    remove(log);
    rc = wait_exit(evaluate_in_child(runs_b, dir_b, log));
    test_read_text(log, text, sizeof text);
    ck_assert_msg(rc == 0, "final evaluation failed (exit %d): %s", rc, text);
    if (resumed_k(text) > 0) resumed = 1;
    ck_assert_msg(resumed, "no evaluation rerun resumed from finished batches");
    const char *sets[] = { "bpd_test/total_bpd",  "bpd_test/prior_bpd",  "bpd_test/terms_bpd",
                           "bpd_test/mse",        "bpd_train/total_bpd", "bpd_train/prior_bpd",
                           "bpd_train/terms_bpd", "bpd_train/mse",       "samples" };
    const int u8[] = { 0, 0, 0, 0, 0, 0, 0, 0, 1 };
    assert_same(evp[0], evp[1], sets, u8, 9, NULL);
    hid_t f = h5io_open(evp[1], 0);
    ck_assert(f >= 0);
    for (int i = 0; i < 3; i++) ck_assert_msg(!h5io_exists(f, recs[i]), "%s left in %s", recs[i], evp[1]);
    h5io_close(f);
    char st[2][1200];
    snprintf(st[0], sizeof st[0], "%s/reference_stats.h5", runs_a);
    snprintf(st[1], sizeof st[1], "%s/reference_stats.h5", runs_b);
    const char *ss[] = { "mu", "sigma" };
    const int su[] = { 0, 0 };
    assert_same(st[0], st[1], ss, su, 2, "batches_done");
}
END_TEST

/* ---- MPI (skipped without mpirun / bin/ddpm-mpi; see test_mpi.c) ---- */

static char g_skip[2400];

static int mpi_present(void)
{
    char exe[1100];
    snprintf(exe, sizeof exe, "%s/ddpm-mpi", g_bin);
    if (getenv("DDPM_SANITIZE")) snprintf(g_skip, sizeof g_skip, "not run under the sanitizer build");
    else if (access(exe, X_OK) != 0) snprintf(g_skip, sizeof g_skip, "%s not built (make setup-mpi)", exe);
    else if (system("command -v mpirun >/dev/null 2>&1") != 0) snprintf(g_skip, sizeof g_skip, "no mpirun on PATH");
    return g_skip[0] == 0;
}

/* Starts `mpirun -np 2 ddpm-mpi sample` into out and kills the whole job right after its first
 * flushed round; returns the batches it left. */
static int mpi_partial(const char *out, const char *tmp, const char *log)
{
    char one[4096], cmd[8192];
    snprintf(one, sizeof one, SAMPLE_ARGS, g_ck, out);
    snprintf(cmd, sizeof cmd, "mpirun --timeout 110 --bind-to none -np 2 %s/ddpm-mpi %s", g_bin, one);
    remove(out);
    remove(tmp);
    pid_t pid = spawn(log, cmd);
    int total = 0, k = -1;
    for (int i = 0; i < 6000 && k < 1; i++) {
        k = batches_done(tmp, "batches_done", &total);
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            pid = 0;
            break;
        }
        if (k < 1) usleep(5000);
    }
    if (pid > 0) kill_job(pid);
    wait_unlocked(tmp);
    k = batches_done(tmp, "batches_done", &total);
    char text[16384];
    test_read_text(log, text, sizeof text);
    ck_assert_msg(k >= 2 && k < total, "mpirun -np 2 left %d of %d batches: %s", k, total, text);
    return k;
}

START_TEST(mpi_sample_killed_at_2_ranks_finishes_at_1_and_serial)
{
    test_mpi_loopback_env();
    char out[1200], tmp[1300], one[4096], cmd[8192], text[16384];
    snprintf(out, sizeof out, "%s", test_tmp_path("resume-mpi.h5"));
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    const char *log = test_tmp_path("resume-mpi.txt");
    snprintf(one, sizeof one, SAMPLE_ARGS, g_ck, out);
    for (int how = 0; how < 2; how++) {
        remove(log);
        int k = mpi_partial(out, tmp, log);
        if (how == 0) snprintf(cmd, sizeof cmd, "mpirun --timeout 110 --bind-to none -np 1 %s/ddpm-mpi %s", g_bin, one);
        else snprintf(cmd, sizeof cmd, "%s/ddpm %s", g_bin, one);
        remove(log);
        int rc = run(log, cmd);
        test_read_text(log, text, sizeof text);
        ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, text);
        ck_assert_msg(resumed_k(text) >= k, "%s after %d batches at 2 ranks: %s", cmd, k, text);
        assert_same(g_ref_sample, out, SAMPLE_SETS, SAMPLE_U8, 3, "batches_done");
    }
    remove(out);
}
END_TEST

START_TEST(mpi_skipped) { fprintf(stderr, "test_resume: MPI cases skipped: %s\n", g_skip); }
END_TEST

static Suite *resume_suite(void)
{
    Suite *s = suite_create("resume");
    TCase *tc = tcase_create("kill9");
    tcase_set_timeout(tc, 300);
    tcase_add_unchecked_fixture(tc, make_references, NULL);
    const char *only = getenv("RESUME_ONLY");
    if (!only || strstr(only, "sample")) tcase_add_test(tc, sample_killed_resumes_bit_identical);
    if (!only || strstr(only, "bpd")) tcase_add_test(tc, bpd_killed_resumes_bit_identical);
    if (!only || strstr(only, "stats")) tcase_add_test(tc, stats_killed_resumes_bit_identical);
    if (!only || strstr(only, "other")) tcase_add_test(tc, other_settings_start_afresh);
    if (!only || strstr(only, "eval")) tcase_add_test(tc, driver_evaluation_killed_resumes_bit_identical);
    const char *b = getenv("DDPM_BIN");
    snprintf(g_bin, sizeof g_bin, "%s", b ? b : "bin");
    if (mpi_present()) tcase_add_test(tc, mpi_sample_killed_at_2_ranks_finishes_at_1_and_serial);
    else tcase_add_test(tc, mpi_skipped);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(resume_suite)
