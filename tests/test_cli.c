/* The ddpm tool end to end (DESIGN.md contract 4): exit codes and one-line errors, and
 * init -> forward / loss / sample / bpd on a tiny model. The loss command's gradient is checked
 * against a central difference of the loss itself, obtained by editing one weight in the
 * checkpoint file (which also proves edited values are used). */
#include "testutil.h"

#include "core/common.h"
#include "core/rng.h"
#include "image/png_io.h"
#include "io/h5io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/wait.h>

static const char *TINY = TEST_TINY_MODEL;

START_TEST(usage_errors)
{
    char out[8192];
    ck_assert_int_eq(test_ddpm(out, sizeof out, ""), 2);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "frobnicate"), 2);
    ck_assert(strstr(out, "unknown command 'frobnicate'"));
    ck_assert_int_eq(test_ddpm(out, sizeof out, "sample --n 3"), 2);
    ck_assert(strstr(out, "--ckpt is required"));
    ck_assert_int_eq(test_ddpm(out, sizeof out, "config --bogus 1"), 2);
    ck_assert(strstr(out, "unknown option '--bogus'"));
    ck_assert_int_eq(test_ddpm(out, sizeof out, "config --set nokey=1"), 1);
    ck_assert(strstr(out, "unknown config key 'nokey'"));
    ck_assert_int_eq(test_ddpm(out, sizeof out, "config --config tests/data/missing.cfg"), 1);
    ck_assert(strstr(out, "tests/data/missing.cfg"));
    ck_assert_int_eq(test_ddpm(out, sizeof out, "config --set model_var_type=learned"), 1);
    ck_assert(strstr(out, "mse"));
    ck_assert_int_eq(test_ddpm(out, sizeof out, "config --set ch=64"), 0);
    ck_assert(strstr(out, "ch = 64\n") && strstr(out, "# hash = "));
    ck_assert_int_eq(test_ddpm(out, sizeof out, "sample --ckpt tests/data/missing.h5 --out x.h5"), 1);
    ck_assert(strstr(out, "tests/data/missing.h5: no such file"));
    ck_assert_int_eq(test_ddpm(out, sizeof out, "train --help"), 0);
    ck_assert(strstr(out, "usage: ddpm train"));
}
END_TEST

static void write_inputs(const char *path, int B, const int32_t *t, int with_x0)
{
    const size_t D = 28 * 28;
    float *a = malloc(B * D * sizeof(float)), *b = malloc(B * D * sizeof(float));
    rng_uniform_fill(rng_stream_make(9, RNG_EVAL, 0, 0), a, B * D);
    for (size_t i = 0; i < B * D; i++) a[i] = 2 * a[i] - 1;
    rng_normal_fill(rng_stream_make(9, RNG_EVAL, 1, 0), b, B * D);
    hid_t f = h5io_create(path);
    hsize_t d4[4] = { (hsize_t)B, 28, 28, 1 }, d1[1] = { (hsize_t)B };
    ck_assert_int_eq(h5io_write_f32(f, with_x0 ? "x0" : "x", a, 4, d4), DDPM_OK);
    if (with_x0) ck_assert_int_eq(h5io_write_f32(f, "noise", b, 4, d4), DDPM_OK);
    ck_assert_int_eq(h5io_write_i32(f, "t", t, 1, d1), DDPM_OK);
    h5io_close(f);
    free(a);
    free(b);
}

static double mean_loss(const char *ckpt, const char *in, const char *out, const char *var)
{
    char o[8192];
    int rc = test_ddpm(o, sizeof o, "loss --ckpt %s --in %s --out %s %s", ckpt, in, out, var);
    ck_assert_msg(rc == 0, "%s", o);
    hid_t f = h5io_open(out, 0);
    double *l;
    int rank;
    hsize_t d[H5IO_MAX_RANK];
    ck_assert_int_eq(h5io_read_f64(f, "loss", &l, &rank, d), DDPM_OK);
    double m = 0;
    for (hsize_t i = 0; i < d[0]; i++) m += l[i];
    m /= (double)d[0];
    ddpm_free(l);
    h5io_close(f);
    return m;
}

static void set_weight(const char *ckpt, const char *name, size_t idx, float v, float *old)
{
    hid_t f = h5io_open(ckpt, 1);
    ck_assert_msg(f >= 0, "%s", ddpm_last_error());
    float *w;
    int rank;
    hsize_t d[H5IO_MAX_RANK];
    ck_assert_msg(h5io_read_f32(f, name, &w, &rank, d) == DDPM_OK, "%s", ddpm_last_error());
    if (old) *old = w[idx];
    w[idx] = v;
    ck_assert_int_eq(h5io_write_f32(f, name, w, rank, d), DDPM_OK);
    ddpm_free(w);
    h5io_close(f);
}

START_TEST(init_forward_loss_sample_bpd)
{
    char out[8192];
    const char *ck = test_tmp_path("cli_ck.h5"), *in = test_tmp_path("cli_in.h5"), *fo = test_tmp_path("cli_fwd.h5");
    /* learned variance with the kl loss: every output channel carries gradient */
    ck_assert_msg(test_ddpm(out, sizeof out,
                            "init %s --set model_var_type=learned --set loss_type=kl --seed 5 --out %s", TINY, ck) == 0,
                  "%s", out);
    int32_t t[3] = { 0, 7, 19 };
    write_inputs(in, 3, t, 0);
    ck_assert_msg(test_ddpm(out, sizeof out, "forward --ckpt %s --in %s --out %s", ck, in, fo) == 0, "%s", out);
    hid_t f = h5io_open(fo, 0);
    float *y;
    int rank;
    hsize_t d[H5IO_MAX_RANK];
    ck_assert_int_eq(h5io_read_f32(f, "y", &y, &rank, d), DDPM_OK);
    ck_assert_int_eq(rank, 4);
    ck_assert(d[0] == 3 && d[1] == 28 && d[2] == 28 && d[3] == 2);
    for (size_t i = 0; i < 3 * 28 * 28 * 2; i++) ck_assert(isfinite(y[i]));
    ddpm_free(y);
    h5io_close(f);

    /* ddpm loss: gradient of one conv weight against a central difference of mean(loss). */
    const char *li = test_tmp_path("cli_lin.h5"), *lo = test_tmp_path("cli_lout.h5");
    write_inputs(li, 3, t, 1);
    double L0 = mean_loss(ck, li, lo, "");
    ck_assert(isfinite(L0));
    /* At initialisation every residual branch ends in a zero-init layer, so the gradient
     * reaches the early layers only at ~1e-10: check the output convolution, whose gradient
     * is O(activations). */
    const char *name = "model/conv_out/W";
    char gname[128];
    snprintf(gname, sizeof gname, "grad/%s", name);
    f = h5io_open(lo, 0);
    float *g;
    ck_assert_int_eq(h5io_read_f32(f, gname, &g, &rank, d), DDPM_OK);
    ck_assert(rank == 4 && d[0] == 3 && d[1] == 3 && d[2] == 8 && d[3] == 2);
    ck_assert(h5io_exists(f, "grad/model/conv_out/W") && h5io_exists(f, "grad/model/temb/dense0/W"));
    h5io_close(f);
    size_t idx = 0;
    for (size_t i = 0; i < 3 * 3 * 8 * 2; i++)
        if (fabsf(g[i]) > fabsf(g[idx])) idx = i;
    ck_assert_msg(fabsf(g[idx]) > 1e-3f, "largest gradient %g too small to test", (double)g[idx]);
    float w0;
    const float h = 1e-2f;
    set_weight(ck, name, idx, 0, &w0);
    set_weight(ck, name, idx, w0 + h, NULL);
    double Lp = mean_loss(ck, li, lo, "");
    set_weight(ck, name, idx, w0 - h, NULL);
    double Lm = mean_loss(ck, li, lo, "");
    set_weight(ck, name, idx, w0, NULL);
    double fd = (Lp - Lm) / (2.0 * (double)((w0 + h) - (w0 - h)) / 2.0);
    fprintf(stderr, "ddpm loss: dL/dW[%zu] = %.6g, central difference %.6g\n", idx, (double)g[idx], fd);
    /* The loss is evaluated in float32 network arithmetic: the difference quotient carries
     * ~1e-6/h relative noise plus O(h^2) curvature; 2% catches any wrong gradient. */
    ck_assert_msg(fabs(fd - (double)g[idx]) <= 0.02 * fabs((double)g[idx]), "grad %g vs central difference %g",
                  (double)g[idx], fd);
    ddpm_free(g);

    /* sample and bpd */
    const char *so = test_tmp_path("cli_s.h5"), *png = test_tmp_path("cli_s.png"), *bo = test_tmp_path("cli_b.h5");
    ck_assert_msg(test_ddpm(out, sizeof out, "sample --ckpt %s --n 3 --seed 2 --out %s --png %s --record-every 5", ck,
                            so, png) == 0,
                  "%s", out);
    uint8_t *img;
    int H, W;
    ck_assert_int_eq(png_read(&img, &H, &W, png, 1), DDPM_OK);
    ddpm_free(img);
    f = h5io_open(so, 0);
    ck_assert_int_eq(h5io_shape(f, "samples", &rank, d), DDPM_OK);
    ck_assert(rank == 4 && d[0] == 3 && d[1] == 28 && d[3] == 1);
    ck_assert_int_eq(h5io_shape(f, "pred_xstart", &rank, d), DDPM_OK);
    ck_assert(rank == 5 && d[0] == 4 && d[1] == 3); /* t = 15, 10, 5, 0 */
    h5io_close(f);
    ck_assert_msg(test_ddpm(out, sizeof out, "bpd --ckpt %s --n 2 --out %s", ck, bo) == 0, "%s", out);
    f = h5io_open(bo, 0);
    double *tot, *pri, *terms;
    ck_assert_int_eq(h5io_read_f64(f, "total_bpd", &tot, &rank, d), DDPM_OK);
    ck_assert_int_eq(h5io_read_f64(f, "prior_bpd", &pri, NULL, NULL), DDPM_OK);
    ck_assert_int_eq(h5io_read_f64(f, "terms_bpd", &terms, &rank, d), DDPM_OK);
    ck_assert(rank == 2 && d[0] == 2 && d[1] == 20);
    for (int i = 0; i < 2; i++) {
        double s = pri[i];
        for (int k = 0; k < 20; k++) s += terms[i * 20 + k];
        ck_assert(isfinite(tot[i]) && tot[i] > 0);
        ck_assert_msg(fabs(s - tot[i]) <= 1e-9 * tot[i], "total %g vs sum %g", tot[i], s);
    }
    ddpm_free(tot);
    ddpm_free(pri);
    ddpm_free(terms);
    h5io_close(f);
    /* forward input of the wrong shape is refused with the expected shape named */
    ck_assert_int_eq(test_ddpm(out, sizeof out, "forward --ckpt %s --in %s --out %s", ck, li, fo), 1);
    ck_assert(strstr(out, "dataset x"));
}
END_TEST

START_TEST(stats_and_eval)
{
    /* ddpm stats on 500 training images and ddpm eval of 16 samples: the extractor is named
     * (the shipped classifier here; Inception only when its weights are present) and the
     * numbers are finite; FD of the reference images against themselves is ~0. */
    char out[8192];
    const char *ck = test_tmp_path("ev_ck.h5"), *so = test_tmp_path("ev_s.h5"), *st = test_tmp_path("ev_stats.h5");
    ck_assert_msg(test_ddpm(out, sizeof out, "init %s --out %s", TINY, ck) == 0, "%s", out);
    ck_assert_msg(test_ddpm(out, sizeof out, "sample --ckpt %s --n 16 --out %s", ck, so) == 0, "%s", out);
    ck_assert_msg(test_ddpm(out, sizeof out, "stats %s --n 500 --out %s", TINY, st) == 0, "%s", out);
    ck_assert_msg(strstr(out, "fmnist-classifier") && strstr(out, "D = 128"), "%s", out);
    ck_assert_msg(test_ddpm(out, sizeof out, "eval --samples %s --stats %s --n 500", so, st) == 0, "%s", out);
    double fd = (double)NAN, is = (double)NAN;
    const char *p = strstr(out, "FD_fmnist ");
    ck_assert_msg(p && sscanf(p, "FD_fmnist %lf  IS_fmnist %lf", &fd, &is) == 2, "%s", out);
    ck_assert_msg(isfinite(fd) && fd > 0 && isfinite(is) && is >= 1.0, "%s", out);
    ck_assert_msg(test_ddpm(out, sizeof out, "fid --a %s --b %s", st, st) == 0, "%s", out);
    double self = (double)NAN;
    p = strstr(out, "FD");
    ck_assert_msg(p && sscanf(strchr(p, ' '), "%lf", &self) == 1 && fabs(self) < 1e-6, "%s", out);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "eval --samples %s --stats %s", ck, st), 1);
    /* --first K scores the first K samples of the file: the same numbers as a file of the K
     * samples a run of --n K draws (per-index noise streams), and K beyond the file is refused. */
    const char *s8 = test_tmp_path("ev_s8.h5");
    char first[8192];
    ck_assert_msg(test_ddpm(out, sizeof out, "sample --ckpt %s --n 8 --out %s", ck, s8) == 0, "%s", out);
    ck_assert_msg(test_ddpm(out, sizeof out, "eval --samples %s --stats %s --n 500", s8, st) == 0, "%s", out);
    ck_assert_msg(test_ddpm(first, sizeof first, "eval --samples %s --stats %s --n 500 --first 8", so, st) == 0, "%s",
                  first);
    p = strstr(out, "FD_fmnist ");
    const char *q = strstr(first, "FD_fmnist ");
    ck_assert_msg(p && q && strcmp(p, q) == 0, "--first 8 of 16: %s\n8 samples: %s", first, out);
    ck_assert_msg(strstr(q, "8 samples"), "%s", first);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "eval --samples %s --stats %s --n 500 --first 17", so, st), 2);
    ck_assert_msg(strstr(out, "--first 17") && strstr(out, "holds 16 samples"), "%s", out);
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, usage_errors);
    tcase_add_test(tc, init_forward_loss_sample_bpd);
    tcase_add_test(tc, stats_and_eval);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(cli_suite)
