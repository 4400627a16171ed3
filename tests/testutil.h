/* testutil.h — shared helpers for the Check suites: a main() per suite, temp paths, array
 * comparisons that report max abs/rel error and the first mismatch before asserting once, the
 * opening of a versioned reference file (tests/data/<name>.h5) and a plain-loop convolution. */
#ifndef DDPM_TESTUTIL_H
#define DDPM_TESTUTIL_H

#include "core/common.h"
#include "io/h5io.h"

#include <check.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

/* A scratch path under build/tmp (DDPM_TEST_TMP), unique per test process. The strings live
 * until the process exits (freed then, so LeakSanitizer stays quiet). */
static char *test_tmp_paths_[4096];
static int test_tmp_npaths_;
static inline void test_tmp_free_(void)
{
    for (int i = 0; i < test_tmp_npaths_; i++) free(test_tmp_paths_[i]);
    test_tmp_npaths_ = 0;
}
static inline const char *test_tmp_path(const char *name)
{
    const char *dir = getenv("DDPM_TEST_TMP");
    if (!dir) dir = "build/tmp";
    size_t n = strlen(dir) + strlen(name) + 32;
    char *b = malloc(n);
    snprintf(b, n, "%s/%d_%s", dir, (int)getpid(), name);
    if (test_tmp_npaths_ == 0) atexit(test_tmp_free_);
    if (test_tmp_npaths_ < (int)(sizeof test_tmp_paths_ / sizeof test_tmp_paths_[0]))
        test_tmp_paths_[test_tmp_npaths_++] = b;
    return b;
}

/* Reads the text file `path` into out (NUL-terminated, truncated to n-1 bytes; empty when the
 * file cannot be opened); returns 1 if the file was opened. */
static inline int test_read_text(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "r");
    size_t k = f ? fread(out, 1, n - 1, f) : 0;
    out[k] = 0;
    if (f) fclose(f);
    return f != NULL;
}

/* Runs a shell command with stdout and stderr captured into out (NUL-terminated, truncated to
 * n-1 bytes); returns its exit status (255 if it did not exit normally). */
static inline int test_run_capture(const char *cmd, char *out, size_t n)
{
    const char *log = test_tmp_path("run_capture.txt");
    size_t len = strlen(cmd) + strlen(log) + 16;
    char *full = malloc(len);
    snprintf(full, len, "%s > '%s' 2>&1", cmd, log);
    int st = system(full);
    free(full);
    test_read_text(log, out, n);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

/* A whole file in memory (malloc'd, one spare byte); asserts it exists, naming `how` (the script
 * that regenerates a fixture, or "" ) in the failure. */
static inline unsigned char *test_slurp(const char *path, size_t *len, const char *how)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "%s missing%s%s", path, how && *how ? ": " : "", how ? how : "");
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert(fread(b, 1, (size_t)n, fp) == (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return b;
}

/* Writes n bytes to path (asserting it worked). */
static inline void test_spit(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_msg(fp != NULL, "cannot write %s", path);
    ck_assert(n == 0 || fwrite(data, 1, n, fp) == n);
    fclose(fp);
}

/* Runs `$DDPM_BIN/ddpm ARGS` (printf-style ARGS), output captured as in test_run_capture. */
#include <stdarg.h>
static inline int test_ddpm(char *out, size_t n, const char *fmt, ...)
{
    char args[4096], cmd[5000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    const char *bin = getenv("DDPM_BIN");
    snprintf(cmd, sizeof cmd, "%s/ddpm %s", bin ? bin : "bin", args);
    return test_run_capture(cmd, out, n);
}

/* A tiny Fashion-MNIST model for the command-line suites (seconds per command). */
#define TEST_TINY_MODEL                                                                                                \
    "--set dataset=fashion_mnist --set image_size=28 --set ch=8 --set ch_mult=1,2 "                                    \
    "--set num_res_blocks=1 --set attn_resolutions=14 --set num_groups=2 "                                             \
    "--set num_diffusion_timesteps=20 --set dropout=0.1"
/* The same model as config_set assignments (keep the two alike), and the short training of the
 * suites that train it; a suite adds or overrides keys after them (the last assignment wins). */
#define TEST_TINY_MODEL_SETS                                                                                           \
    "dataset=fashion_mnist", "image_size=28", "ch=8", "ch_mult=1,2", "num_res_blocks=1", "attn_resolutions=14",        \
        "num_groups=2", "num_diffusion_timesteps=20", "dropout=0.1"
#define TEST_TINY_TRAIN_SETS "batch_size=4", "warmup=2", "ema_decay=0.9", "lr=0.001"

#include "core/config.h"
/* config_defaults, then each assignment, then config_validate, each asserted. */
static inline void test_config_from_sets(ddpm_config *c, const char *const *sets, size_t n)
{
    config_defaults(c);
    for (size_t i = 0; i < n; i++) ck_assert_msg(config_set(c, sets[i]) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_msg(config_validate(c) == DDPM_OK, "%s", ddpm_last_error());
}

/* Compares got vs want: passes when |g-w| <= atol + rtol*|w| for every element.
 * Prints max abs and rel error; on failure prints the first 5 mismatches. Returns 1 if ok. */
static inline int test_allclose_f64(const char *what, const double *got, const double *want, size_t n, double rtol,
                                    double atol)
{
    double max_abs = 0, max_rel = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]);
        double r = d / (fabs(want[i]) + 1e-30);
        if (!(d <= atol + rtol * fabs(want[i]))) {
            if (bad < 5)
                fprintf(stderr, "  %s[%zu]: got %.9g want %.9g (abs %.3g rel %.3g)\n", what, i, got[i], want[i], d, r);
            bad++;
        }
        if (d > max_abs || d != d) max_abs = d;
        if (fabs(want[i]) > atol && r > max_rel) max_rel = r;
    }
    fprintf(stderr, "%s: n=%zu max_abs=%.3g max_rel=%.3g mismatches=%zu\n", what, n, max_abs, max_rel, bad);
    return bad == 0;
}

static inline int test_allclose_f32(const char *what, const float *got, const float *want, size_t n, double rtol,
                                    double atol)
{
    double *g = malloc(n * sizeof *g), *w = malloc(n * sizeof *w);
    for (size_t i = 0; i < n; i++) {
        g[i] = (double)got[i];
        w[i] = (double)want[i];
    }
    int ok = test_allclose_f64(what, g, w, n, rtol, atol);
    free(g);
    free(w);
    return ok;
}

/* Relative error of a whole tensor: max|g-w| / max|w| (for reference comparisons where
 * elementwise relative error is meaningless near zero). */
static inline double test_max_rel_err_f32(const float *got, const float *want, size_t n)
{
    double md = 0, mw = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (d > md || d != d) md = d;
        if (fabs((double)want[i]) > mw) mw = fabs((double)want[i]);
    }
    return md / (mw > 0 ? mw : 1.0);
}

/* Opens the reference file `path` read-only and asserts that its root attribute `version` is
 * `version` (STYLE.md 7); either failure names `script`, the generator to rerun
 * (/usr/bin/python3 scripts/...). */
static inline hid_t test_ref_open(const char *path, int64_t version, const char *script)
{
    h5io_init();
    hid_t h = h5io_open(path, 0);
    ck_assert_msg(h >= 0, "cannot open %s (%s): rerun /usr/bin/python3 %s", path, ddpm_last_error(), script);
    int64_t v = -1;
    ck_assert_msg(h5io_get_attr_i64(h, ".", "version", &v) == DDPM_OK && v == version,
                  "%s has version %lld, this test reads version %lld: rerun /usr/bin/python3 %s", path, (long long)v,
                  (long long)version, script);
    return h;
}

/* A float tensor as a new double array (NULL for NULL); free() it. */
static inline double *test_f64_of_f32(const float *x, size_t n)
{
    if (!x) return NULL;
    double *d = malloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = (double)x[i];
    return d;
}

/* The plain-loop NHWC convolution every conv test compares against, in double:
 * out (B, Ho, Wo, Cout) = bias + sum over (ky, kx, ci) of inp (B, H, W, Cin) * w (kh, kw, Cin, Cout)
 * (HWIO), input row oy * sh - ph + ky (column likewise), taps outside the image skipped (zero
 * padding). bias may be NULL. absum (may be NULL) = |bias| + sum of |products|, for error bounds
 * of the form (K + 1) u absum. */
static inline void test_conv_ref(double *out, double *absum, const double *inp, const double *w, const double *bias,
                                 int B, int H, int W, int Cin, int Cout, int kh, int kw, int sh, int sw, int ph, int pw,
                                 int Ho, int Wo)
{
    for (int n = 0; n < B; n++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++)
                for (int co = 0; co < Cout; co++) {
                    double s = bias ? bias[co] : 0.0, a = bias ? fabs(bias[co]) : 0.0;
                    for (int ky = 0; ky < kh; ky++)
                        for (int kx = 0; kx < kw; kx++) {
                            const int iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                            const double *xp = inp + (((size_t)n * H + iy) * W + ix) * Cin;
                            const double *wp = w + ((size_t)ky * kw + kx) * Cin * Cout + co;
                            for (int ci = 0; ci < Cin; ci++) {
                                const double t = xp[ci] * wp[(size_t)ci * Cout];
                                s += t;
                                a += fabs(t);
                            }
                        }
                    const size_t o = (((size_t)n * Ho + oy) * Wo + ox) * Cout + co;
                    out[o] = s;
                    if (absum) absum[o] = a;
                }
}

#define TEST_MAIN(make_suite)                                                                                          \
    int main(void)                                                                                                     \
    {                                                                                                                  \
        check_set_max_msg_size(1u << 20); /* a failure quoting a tool's whole output prints it (Check's 4K aborts) */  \
        SRunner *sr = srunner_create(make_suite());                                                                    \
        srunner_run_all(sr, CK_NORMAL);                                                                                \
        int nf = srunner_ntests_failed(sr);                                                                            \
        srunner_free(sr);                                                                                              \
        return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                                                                  \
    }

/* Open MPI confined to this machine for the MPI cases (loopback only, root allowed,
 * oversubscribed, shared-memory transport): no traffic may leave the machine. */
static inline void test_mpi_loopback_env(void)
{
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_btl", "self,vader", 1);
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
    setenv("OMPI_MCA_oob_tcp_if_include", "lo", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
    setenv("OMPI_MCA_btl_base_warn_component_unused", "0", 1);
}

#endif
