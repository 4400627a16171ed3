/* The experiment drivers at the smoke tier, end to end (make exp-table2/exp-table1/exp-ratedist/
 * exp-progressive/exp-interp with TIER=smoke): outputs exist, tables have their rows, HDF5 logs
 * hold the documented datasets with finite values, PNGs decode, runs are reused, and the
 * rate-distortion identities hold (cumulative rate never decreases as t decreases; rate at t=0
 * plus the decoder term equals the total bits/dim). */
#include "testutil.h"

#include "core/common.h"
#include "core/config.h"
#include "image/png_io.h"
#include "io/h5io.h"
#include "train/checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glob.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_runs[1024], g_results[1024];

static void setup_dirs(void)
{
    snprintf(g_runs, sizeof g_runs, "%s", test_tmp_path("drv_runs"));
    snprintf(g_results, sizeof g_results, "%s", test_tmp_path("drv_results"));
}

static int run_driver(const char *name, char *out, size_t n)
{
    const char *bin = getenv("DDPM_BIN");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "DDPM_RUNS_DIR='%s' DDPM_RESULTS_DIR='%s' DDPM_QUIET=1 %s/%s --tier smoke", g_runs,
             g_results, bin ? bin : "bin", name);
    return test_run_capture(cmd, out, n);
}

static void path(char *buf, size_t n, const char *exp, const char *file)
{
    snprintf(buf, n, "%s/smoke/%s/%s", g_results, exp, file);
}

static void assert_png(const char *exp, const char *file)
{
    char p[1200];
    path(p, sizeof p, exp, file);
    uint8_t *img;
    int H, W;
    ck_assert_msg(png_read(&img, &H, &W, p, 1) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert(H > 28 && W > 28);
    ddpm_free(img);
}

static void assert_finite_series(const char *file, const char *name, int min_len)
{
    hid_t f = h5io_open(file, 0);
    ck_assert_msg(f >= 0, "%s", ddpm_last_error());
    double *v;
    int rank;
    hsize_t d[H5IO_MAX_RANK];
    ck_assert_msg(h5io_read_f64(f, name, &v, &rank, d) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_int_ge((int)d[0], min_len);
    for (hsize_t i = 0; i < d[0]; i++) ck_assert_msg(isfinite(v[i]), "%s:%s[%d] not finite", file, name, (int)i);
    ddpm_free(v);
    h5io_close(f);
}

static int count_lines(const char *p)
{
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

static const char *const VARIANTS[6] = { "xprev-learned-kl", "xprev-fixedlarge-kl", "xprev-fixedlarge-mse",
                                         "eps-learned-kl",   "eps-fixedlarge-kl",   "eps-fixedlarge-mse" };

START_TEST(all_drivers_at_smoke_tier)
{
    setup_dirs();
    char out[65536], p[1200];
    double t0 = ddpm_now();
    ck_assert_msg(run_driver("exp_table2", out, sizeof out) == 0, "%s", out);
    double first = ddpm_now() - t0;
    path(p, sizeof p, "table2", "table.csv");
    ck_assert_int_eq(count_lines(p), 7);
    path(p, sizeof p, "table2", "table.md");
    ck_assert_int_eq(count_lines(p) >= 10, 1);
    path(p, sizeof p, "table2", "log.h5");
    hid_t f = h5io_open(p, 0);
    ck_assert_int_ge(f, 0);
    ck_assert(h5io_attr_exists(f, "provenance", "git_revision"));
    for (int i = 0; i < 6; i++) {
        char g[128], png[128], lp[1200];
        snprintf(g, sizeof g, "variants/%s", VARIANTS[i]);
        ck_assert_msg(h5io_attr_exists(f, g, "outcome") && h5io_attr_exists(f, g, "bpd_test"), "%s", g);
        double bpd;
        ck_assert_int_eq(h5io_get_attr_f64(f, g, "bpd_test", &bpd), DDPM_OK);
        ck_assert_msg(isfinite(bpd) && bpd > 0, "%s bpd %g", VARIANTS[i], bpd);
        snprintf(png, sizeof png, "samples_%s.png", VARIANTS[i]);
        assert_png("table2", png);
        snprintf(png, sizeof png, "logs/%s.h5", VARIANTS[i]);
        path(lp, sizeof lp, "table2", png);
        assert_finite_series(lp, "series/loss", 30);
        assert_finite_series(lp, "series/grad_norm", 30);
        assert_finite_series(lp, "series/lr", 30);
    }
    h5io_close(f);

    /* Table 1 reuses the two eps runs: no training, cached NLL on test; train NLL is new. */
    t0 = ddpm_now();
    ck_assert_msg(run_driver("exp_table1", out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "reusing the finished run"), "%s", out);
    ck_assert_msg(!strstr(out, "training in"), "table 1 retrained a run:\n%s", out);
    fprintf(stderr, "table2 %.1fs, table1 %.1fs\n", first, ddpm_now() - t0);
    path(p, sizeof p, "table1", "table.csv");
    ck_assert_int_eq(count_lines(p), 3);

    ck_assert_msg(run_driver("exp_ratedist", out, sizeof out) == 0, "%s", out);
    path(p, sizeof p, "ratedist", "log.h5");
    f = h5io_open(p, 0);
    double *rate, *L, *rmse, total, decoder;
    int rank;
    hsize_t d[H5IO_MAX_RANK];
    ck_assert_int_eq(h5io_read_f64(f, "curve/rate_bpd", &rate, &rank, d), DDPM_OK);
    ck_assert_int_eq(h5io_read_f64(f, "curve/L_t_bpd", &L, NULL, NULL), DDPM_OK);
    ck_assert_int_eq(h5io_read_f64(f, "curve/distortion_rmse", &rmse, NULL, NULL), DDPM_OK);
    ck_assert_int_eq(h5io_get_attr_f64(f, "curve", "total_bpd", &total), DDPM_OK);
    ck_assert_int_eq(h5io_get_attr_f64(f, "curve", "decoder_bpd", &decoder), DDPM_OK);
    int T = (int)d[0];
    ck_assert_int_eq(T, 40);
    for (int t = 0; t < T; t++) {
        ck_assert(isfinite(rate[t]) && isfinite(rmse[t]) && isfinite(L[t]));
        if (t + 1 < T) ck_assert_msg(rate[t] >= rate[t + 1], "rate decreased from t=%d to t=%d", t + 1, t);
    }
    ck_assert_msg(fabs(rate[0] + decoder - total) <= 1e-9 * total, "rate %g + decoder %g != total %g", rate[0], decoder,
                  total);
    ck_assert(decoder == L[0]);
    ddpm_free(rate);
    ddpm_free(L);
    ddpm_free(rmse);
    h5io_close(f);
    /* The total equals Table 2's NLL of the same run (same cached evaluation). */
    path(p, sizeof p, "table2", "log.h5");
    f = h5io_open(p, 0);
    double bpd2;
    ck_assert_int_eq(h5io_get_attr_f64(f, "variants/eps-fixedlarge-mse", "bpd_test", &bpd2), DDPM_OK);
    h5io_close(f);
    ck_assert_msg(fabs(bpd2 - total) <= 1e-9 * total, "table2 %g vs ratedist %g", bpd2, total);
    path(p, sizeof p, "ratedist", "curve.csv");
    ck_assert_int_eq(count_lines(p), 41);

    ck_assert_msg(run_driver("exp_progressive", out, sizeof out) == 0, "%s", out);
    assert_png("progressive", "progressive.png");
    assert_png("progressive", "shared_xt.png");
    ck_assert_msg(run_driver("exp_interp", out, sizeof out) == 0, "%s", out);
    assert_png("interp", "interp.png");
    path(p, sizeof p, "interp", "log.h5");
    f = h5io_open(p, 0);
    float *dec;
    ck_assert_int_eq(h5io_read_f32(f, "decoded", &dec, &rank, d), DDPM_OK);
    ck_assert(rank == 5 && d[0] == 3 && d[1] == 9);
    for (size_t i = 0; i < 3 * 9 * 28 * 28; i++) ck_assert(isfinite(dec[i]) && dec[i] >= -1.0001f && dec[i] <= 1.0001f);
    ddpm_free(dec);
    h5io_close(f);

    char cmd[2400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", g_runs, g_results);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(bad_tier_is_a_usage_error)
{
    const char *bin = getenv("DDPM_BIN");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/exp_table2 --tier huge > /dev/null 2>&1", bin ? bin : "bin");
    int st = system(cmd);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
}
END_TEST

/* Ctrl-C / SIGTERM during a driver's evaluation ends it at once (the default action of the
 * signal, after one line saying that finished pieces are kept) instead of being swallowed by the
 * training handler; the evaluation cache stays a readable HDF5 file. T = 1000 makes the smoke
 * evaluation long enough (tens of seconds) to be inside it when the signal comes. */
START_TEST(sigterm_during_evaluation)
{
    const char *bin = getenv("DDPM_BIN");
    if (!bin) bin = "bin";
    char runs[1024], results[1024], cmd[4096], exe[1024];
    snprintf(runs, sizeof runs, "%s", test_tmp_path("sig_runs"));
    snprintf(results, sizeof results, "%s", test_tmp_path("sig_results"));
    const char *errp = test_tmp_path("sig_stderr.txt");
    snprintf(cmd, sizeof cmd,
             "DDPM_RUNS_DIR='%s' DDPM_RESULTS_DIR='%s' DDPM_QUIET=1 %s/exp_table2 --tier smoke "
             "--only eps-fixedlarge-mse --set num_diffusion_timesteps=1000 --train-only > /dev/null 2>&1",
             runs, results, bin);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(exe, sizeof exe, "%s/exp_table2", bin);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("DDPM_RUNS_DIR", runs, 1);
        setenv("DDPM_RESULTS_DIR", results, 1);
        setenv("DDPM_QUIET", "1", 1);
        if (!freopen(errp, "w", stderr) || !freopen("/dev/null", "w", stdout)) _exit(3);
        execl(exe, exe, "--tier", "smoke", "--only", "eps-fixedlarge-mse", "--set", "num_diffusion_timesteps=1000",
              (char *)NULL);
        _exit(4);
    }
    /* wait until it reuses the trained run (then it loads the model and evaluates) */
    char log[8192] = "";
    for (int i = 0; i < 300 && !strstr(log, "reusing the finished run"); i++) {
        usleep(100000);
        test_read_text(errp, log, sizeof log);
    }
    ck_assert_msg(strstr(log, "reusing the finished run"), "driver output: %s", log);
    /* then it measures the network's speed (the cost line) and opens the evaluation cache */
    glob_t g;
    snprintf(cmd, sizeof cmd, "%s/smoke/eps-fixedlarge-mse-*/eval.h5", runs);
    for (int i = 0; i < 600 && glob(cmd, 0, NULL, &g) != 0; i++) usleep(100000);
    globfree(&g);
    usleep(1000000);
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    const double t0 = ddpm_now();
    int st = 0;
    pid_t w = 0;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && ddpm_now() - t0 < 20) usleep(20000);
    const double waited = ddpm_now() - t0;
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    fprintf(stderr, "SIGTERM during evaluation: ended after %.2f s\n", waited);
    ck_assert_msg(w == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "still running or exited normally");
    ck_assert(waited < 5);
    ck_assert(test_read_text(errp, log, sizeof log));
    ck_assert_msg(strstr(log, "interrupted: finished evaluation pieces are kept"), "%s", log);
    ck_assert_int_eq(glob(cmd, 0, NULL, &g), 0);
    hid_t h = h5io_open(g.gl_pathv[0], 0);
    ck_assert_msg(h >= 0, "%s", ddpm_last_error());
    ck_assert(h5io_attr_exists(h, ".", "settings") == 1);
    h5io_close(h);
    globfree(&g);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", runs, results);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* Run directories are named by config_run_hash (train_steps and data_dir left out). A directory
 * named the old way (full config_hash) is renamed to the new name with one line, and its finished
 * run is reused; when the new one exists too, the old one is left alone. */
START_TEST(run_dir_migration)
{
    const char *bin = getenv("DDPM_BIN");
    if (!bin) bin = "bin";
    char runs[1024], results[1024], cmd[4096], out[16384], pat[1200];
    snprintf(runs, sizeof runs, "%s", test_tmp_path("mig_runs"));
    snprintf(results, sizeof results, "%s", test_tmp_path("mig_results"));
    snprintf(cmd, sizeof cmd,
             "DDPM_RUNS_DIR='%s' DDPM_RESULTS_DIR='%s' DDPM_QUIET=1 %s/exp_table2 --tier smoke "
             "--only eps-fixedlarge-mse --train-only",
             runs, results, bin);
    ck_assert_msg(test_run_capture(cmd, out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "training in"), "%s", out);
    snprintf(pat, sizeof pat, "%s/smoke/eps-fixedlarge-mse-*", runs);
    glob_t g;
    ck_assert_int_eq(glob(pat, 0, NULL, &g), 0);
    ck_assert_int_eq((int)g.gl_pathc, 1);
    char fresh[1200], old[1200], ckpt[1300];
    snprintf(fresh, sizeof fresh, "%s", g.gl_pathv[0]);
    globfree(&g);
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.h5", fresh);
    ddpm_config c;
    ck_assert_msg(checkpoint_read_config(ckpt, &c) == DDPM_OK, "%s", ddpm_last_error());
    char run_hex[17], full_hex[17], want[1200];
    config_run_hash(&c, run_hex);
    config_hash(&c, full_hex);
    ck_assert_msg(strncmp(run_hex, full_hex, 8) != 0, "smoke config: run hash and config hash agree (%s)", run_hex);
    snprintf(want, sizeof want, "%s/smoke/eps-fixedlarge-mse-%.8s", runs, run_hex);
    ck_assert_str_eq(fresh, want);
    /* the trainer's start line names both hashes, the run hash as the directory shows it */
    char line[64];
    snprintf(line, sizeof line, "config %s (run hash %.8s)", full_hex, run_hex);
    ck_assert_msg(strstr(out, line), "no '%s' in:\n%s", line, out);
    /* a run extended to more steps is the same run: the same hash */
    ddpm_config longer = c;
    longer.train_steps *= 2;
    snprintf(longer.data_dir, sizeof longer.data_dir, "/elsewhere");
    ck_assert_uint_eq(config_run_hash(&longer, NULL), config_run_hash(&c, NULL));
    ck_assert_uint_ne(config_hash(&longer, NULL), config_hash(&c, NULL));

    /* a directory of the old name moves to the new one, and its run is reused */
    snprintf(old, sizeof old, "%s/smoke/eps-fixedlarge-mse-%.8s", runs, full_hex);
    ck_assert_int_eq(rename(fresh, old), 0);
    ck_assert_msg(test_run_capture(cmd, out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "run directory renamed to"), "%s", out);
    ck_assert_msg(strstr(out, "reusing the finished run"), "%s", out);
    ck_assert_msg(!strstr(out, "training in"), "the migrated run was retrained:\n%s", out);
    ck_assert_int_eq(access(fresh, F_OK), 0);
    ck_assert_int_ne(access(old, F_OK), 0);

    /* both present: the new one is used, the old one stays */
    ck_assert_int_eq(mkdir(old, 0755), 0);
    ck_assert_msg(test_run_capture(cmd, out, sizeof out) == 0, "%s", out);
    ck_assert_msg(!strstr(out, "renamed"), "%s", out);
    ck_assert_msg(strstr(out, "reusing the finished run"), "%s", out);
    ck_assert_int_eq(access(old, F_OK), 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", runs, results);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *drivers_suite(void)
{
    Suite *s = suite_create("drivers");
    TCase *tc = tcase_create("smoke");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, all_drivers_at_smoke_tier);
    tcase_add_test(tc, bad_tier_is_a_usage_error);
    tcase_add_test(tc, sigterm_during_evaluation);
    tcase_add_test(tc, run_dir_migration);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(drivers_suite)
