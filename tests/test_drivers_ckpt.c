/* The drivers on a given model (issue 18: CKPT=, N_SAMPLES=, NLL_N=, REF_STATS=; make exp-table3).
 *
 * The tiny random-weight model of tests/data/released/ (scripts/gen_released_fixtures.py wrote it
 * in every released format) is converted from each format with `ddpm convert` (T = 20 so that the
 * suite stays short), and every driver runs on it with --ckpt at the smoke tier on a small PNG
 * folder this test writes: nothing is trained, the table has the model's row beside the paper's
 * with the counts used, the log records counts / checkpoint / measured images/s, the PNGs decode,
 * the evaluation cache lives under runs/smoke/ckpt-<hash>/ (nothing is written beside the
 * checkpoint), and fewer than 50k samples are labelled as biased. Under `mpirun -np 2`
 * (DDPM_MPIRUN, as `make ... MPI_NP=2` sets it) Table 1 gives the serial numbers; skipped with one
 * line when mpirun or bin/ddpm-mpi is absent. Also: the paper's CSVs are what the tables print
 * (a malformed CSV is an error naming the file and line), and the usage errors of the options. */
#include "testutil.h"

#include "core/common.h"
#include "image/png_io.h"
#include "io/h5io.h"

#include <dirent.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REL   "tests/data/released/"
#define SMALL "--samples 4 --nll-n 2"

static char g_dir[1024], g_png[1100], g_env[8192];

static const char *bin(void)
{
    const char *b = getenv("DDPM_BIN");
    return b ? b : "bin";
}

/* A 16x16 RGB PNG folder: 6 training images, 4 in test/ (deterministic pixels). */
static void write_png_folder(void)
{
    snprintf(g_png, sizeof g_png, "%s/png16", g_dir);
    char p[1400];
    snprintf(p, sizeof p, "%s/test", g_png);
    mkdir(g_png, 0755);
    mkdir(p, 0755);
    uint8_t img[16 * 16 * 3];
    uint32_t s = 12345;
    for (int k = 0; k < 10; k++) {
        for (size_t i = 0; i < sizeof img; i++) {
            s = s * 1664525u + 1013904223u;
            img[i] = (uint8_t)(s >> 24);
        }
        snprintf(p, sizeof p, "%s/%simg%02d.png", g_png, k < 6 ? "" : "test/", k);
        ck_assert_msg(png_write(p, img, 16, 16, 3) == DDPM_OK, "%s", ddpm_last_error());
    }
}

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "%s", test_tmp_path("drvck"));
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/models'", g_dir, g_dir);
    ck_assert_int_eq(system(cmd), 0);
    write_png_folder();
    snprintf(g_env, sizeof g_env,
             "DDPM_RUNS_DIR='%s/runs' DDPM_RESULTS_DIR='%s/results' DDPM_QUIET=1 OMP_NUM_THREADS=1", g_dir, g_dir);
}

static void teardown(void)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
}

/* ddpm convert of a fixture into models/<name>.h5 (T = 20: a short chain for the suite). */
static void convert(const char *from, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/models/%s.h5", g_dir, name);
    char cmd[4096], log[8192];
    snprintf(cmd, sizeof cmd,
             "%s/ddpm convert --from %s --config " REL "model.cfg --set num_diffusion_timesteps=20 "
             "--set beta_end=0.3 --out '%s'",
             bin(), from, out);
    ck_assert_msg(test_run_capture(cmd, log, sizeof log) == 0, "%s: %s", cmd, log);
}

static int driver(const char *exe, const char *args, char *out, size_t n)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s %s/%s --tier smoke %s", g_env, bin(), exe, args);
    return test_run_capture(cmd, out, n);
}

/* The one results directory <results>/smoke/<exp>-ckpt-*. */
static void result_dir(const char *exp, char *out, size_t n)
{
    char pat[1400];
    snprintf(pat, sizeof pat, "%s/results/smoke/%s-ckpt-*", g_dir, exp);
    glob_t g;
    ck_assert_msg(glob(pat, 0, NULL, &g) == 0 && g.gl_pathc == 1, "%s: expected one directory", pat);
    snprintf(out, n, "%s", g.gl_pathv[0]);
    globfree(&g);
}

static void read_file(const char *dir, const char *file, char *out, size_t n)
{
    char p[1600];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    ck_assert_msg(test_read_text(p, out, n), "%s missing", p);
}

static int count_lines(const char *s)
{
    int k = 0;
    for (; *s; s++) k += *s == '\n';
    return k;
}

static void assert_png(const char *dir, const char *file)
{
    char p[1600];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    uint8_t *img;
    int H, W;
    ck_assert_msg(png_read(&img, &H, &W, p, 3) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert(H >= 16 && W >= 16);
    ddpm_free(img);
}

static int64_t attr_i64(hid_t f, const char *g, const char *name)
{
    int64_t v = -1;
    ck_assert_msg(h5io_get_attr_i64(f, g, name, &v) == DDPM_OK, "%s/%s: %s", g, name, ddpm_last_error());
    return v;
}

/* Table 1 of a converted model: one row with the counts, beside the paper's L_simple row. */
static char g_last_out[65536];

static double check_table1(const char *ckpt, const char *extra)
{
    char *out = g_last_out, args[2400], dir[1400], csv[8192], md[16384];
    snprintf(args, sizeof args, "--ckpt '%s' --set data_dir='%s' " SMALL " %s", ckpt, g_png, extra);
    ck_assert_msg(driver("exp_table1", args, out, sizeof g_last_out) == 0, "%s", out);
    ck_assert_msg(!strstr(out, "training in"), "trained with --ckpt:\n%s", out);
    ck_assert_msg(strstr(out, "cost of this evaluation") && strstr(out, "images/s") && strstr(out, "measured now"),
                  "%s", out);
    ck_assert_msg(strstr(out, "IS 9.46±0.11  FID 3.17  NLL test ≤3.75 (train 3.72)"), "paper's row not printed:\n%s",
                  out);
    ck_assert_msg(strstr(out, "FID vs test set 5.24"), "%s", out);
    result_dir("table1", dir, sizeof dir);
    read_file(dir, "table.csv", csv, sizeof csv);
    ck_assert_int_eq(count_lines(csv), 2);
    ck_assert_msg(strstr(csv, ",eps-fixedlarge-mse,finished,") && strstr(csv, ",4,2,2,"), "%s", csv);
    ck_assert_msg(strstr(csv, ",9.46,0.11,3.17,3.75,3.72"), "%s", csv);
    read_file(dir, "table.md", md, sizeof md);
    ck_assert_msg(strstr(md, "at N < 50k samples (biased upward"), "%s", md);
    ck_assert_msg(strstr(md, ckpt), "%s", md);
    assert_png(dir, "samples_ckpt.png");
    char lp[1600];
    snprintf(lp, sizeof lp, "%s/log.h5", dir);
    hid_t f = h5io_open(lp, 0);
    ck_assert_msg(f >= 0, "%s", ddpm_last_error());
    ck_assert_int_eq(attr_i64(f, ".", "samples_n"), 4);
    ck_assert_int_eq(attr_i64(f, ".", "nll_test_n"), 2);
    ck_assert_int_eq(attr_i64(f, "variants/eps-fixedlarge-mse", "nll_train_n"), 2);
    double ips, bpd;
    ck_assert_int_eq(h5io_get_attr_f64(f, ".", "measured_images_per_s", &ips), DDPM_OK);
    ck_assert(isfinite(ips) && ips > 0);
    ck_assert_int_eq(h5io_get_attr_f64(f, "variants/eps-fixedlarge-mse", "bpd_test", &bpd), DDPM_OK);
    ck_assert(isfinite(bpd) && bpd > 0);
    char have[1200];
    ck_assert_int_eq(h5io_get_attr_str(f, "variants/eps-fixedlarge-mse", "ckpt", have, sizeof have), DDPM_OK);
    ck_assert_str_eq(have, ckpt);
    h5io_close(f);
    /* the evaluation cache is under runs/smoke/ckpt-<hash>/, named like the results directory */
    const char *id = strrchr(dir, '-') + 1;
    char ev[1600];
    snprintf(ev, sizeof ev, "%s/runs/smoke/ckpt-%s/*-s4-nll2-2/eval.h5", g_dir, id);
    glob_t g;
    ck_assert_msg(glob(ev, 0, NULL, &g) == 0 && g.gl_pathc == 1, "%s missing", ev);
    globfree(&g);
    return bpd;
}

/* Nothing but the converted checkpoints in models/: no cache or output beside a checkpoint. */
static void assert_models_dir_clean(int nfiles)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/models", g_dir);
    DIR *d = opendir(p);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            n++;
            ck_assert_msg(strstr(e->d_name, ".h5") && !strstr(e->d_name, "eval"), "written beside the checkpoint: %s",
                          e->d_name);
        }
    closedir(d);
    ck_assert_int_eq(n, nfiles);
}

START_TEST(table1_of_each_released_format)
{
    setup();
    static const char *const FROM[][2] = {
        { REL "pesser_zip.ckpt", "pesser_zip" },  { REL "pesser_legacy.ckpt", "pesser_legacy" },
        { REL "diffusers.bin", "diffusers_bin" }, { REL "diffusers.safetensors", "diffusers_st" },
        { REL "tf/model.ckpt-1000", "tf" },
    };
    char ck[1400], cmd[2400];
    for (size_t i = 0; i < DDPM_ARRAY_LEN(FROM); i++) {
        convert(FROM[i][0], FROM[i][1], ck, sizeof ck);
        check_table1(ck, "");
        /* one results directory per model at a time: move this one out of the way */
        snprintf(cmd, sizeof cmd, "rm -rf '%s/results'", g_dir);
        ck_assert_int_eq(system(cmd), 0);
    }
    assert_models_dir_clean((int)DDPM_ARRAY_LEN(FROM));
    teardown();
}
END_TEST

START_TEST(every_driver_with_ckpt)
{
    setup();
    char ck[1400], out[65536], args[3000], dir[1400], txt[16384];
    convert(REL "pesser_zip.ckpt", "lsun_church_tiny", ck, sizeof ck);
    const double bpd1 = check_table1(ck, "");

    /* Table 2: the model's variant row, the other five with the paper's numbers only */
    snprintf(args, sizeof args, "--ckpt '%s' --set data_dir='%s' " SMALL, ck, g_png);
    ck_assert_msg(driver("exp_table2", args, out, sizeof out) == 0, "%s", out);
    result_dir("table2", dir, sizeof dir);
    read_file(dir, "table.csv", txt, sizeof txt);
    ck_assert_int_eq(count_lines(txt), 2);
    ck_assert_msg(strstr(txt, "eps-fixedlarge-mse,eps,fixedlarge,mse,finished,") && strstr(txt, ",9.46,0.11,3.17,"),
                  "%s", txt);
    read_file(dir, "table.md", txt, sizeof txt);
    ck_assert_msg(strstr(txt, "not the given model's variant") && strstr(txt, "8.06±0.09") &&
                      strstr(txt, "– (unstable)"),
                  "%s", txt);
    assert_png(dir, "samples_eps-fixedlarge-mse.png");

    /* Table 4: the same cached NLL terms; rate identities; the paper's rows from paper/table4.csv */
    ck_assert_msg(driver("exp_ratedist", args, out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "1.77581") && strstr(out, "67.60125"), "%s", out);
    result_dir("ratedist", dir, sizeof dir);
    char lp[1600];
    snprintf(lp, sizeof lp, "%s/log.h5", dir);
    hid_t f = h5io_open(lp, 0);
    ck_assert_int_ge(f, 0);
    double *rate, total, decoder;
    int rank;
    hsize_t d[H5IO_MAX_RANK];
    ck_assert_int_eq(h5io_read_f64(f, "curve/rate_bpd", &rate, &rank, d), DDPM_OK);
    ck_assert_int_eq(h5io_get_attr_f64(f, "curve", "total_bpd", &total), DDPM_OK);
    ck_assert_int_eq(h5io_get_attr_f64(f, "curve", "decoder_bpd", &decoder), DDPM_OK);
    ck_assert_int_eq((int)d[0], 20);
    ck_assert_msg(fabs(rate[0] + decoder - total) <= 1e-9 * total, "rate %g + decoder %g != %g", rate[0], decoder,
                  total);
    ck_assert_msg(fabs(total - bpd1) <= 1e-9 * bpd1, "ratedist %g vs table1 %g", total, bpd1);
    ck_assert_int_eq(attr_i64(f, ".", "nll_test_n"), 2);
    ddpm_free(rate);
    h5io_close(f);

    /* Figures 6-8 */
    ck_assert_msg(driver("exp_progressive", args, out, sizeof out) == 0, "%s", out);
    result_dir("progressive", dir, sizeof dir);
    assert_png(dir, "progressive.png");
    assert_png(dir, "shared_xt.png");
    ck_assert_msg(driver("exp_interp", args, out, sizeof out) == 0, "%s", out);
    result_dir("interp", dir, sizeof dir);
    assert_png(dir, "interp.png");

    /* Table 3: row from the file name; reference from the PNG folder, then from given statistics */
    ck_assert_msg(driver("exp_table3", args, out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "paper FID 7.89 (ProgressiveGAN 6.42)"), "%s", out);
    result_dir("table3", dir, sizeof dir);
    read_file(dir, "table.csv", txt, sizeof txt);
    ck_assert_int_eq(count_lines(txt), 5);
    ck_assert_msg(strstr(txt, "church,\"LSUN church 256x256\",\"L_simple\",7.89,6.42,") &&
                      strstr(txt, ",4,\"statistics of"),
                  "%s", txt);
    ck_assert_msg(
        strstr(txt, "bedroom_large,\"LSUN bedroom 256x256\",\"L_simple, large model\",4.9,8.34,,,,,\"\",\"\""), "%s",
        txt);
    read_file(dir, "table.md", txt, sizeof txt);
    ck_assert_msg(strstr(txt, "png_folder") && strstr(txt, g_png) && strstr(txt, "biased upward"), "%s", txt);
    assert_png(dir, "samples.png");
    snprintf(lp, sizeof lp, "%s/log.h5", dir);
    f = h5io_open(lp, 0);
    ck_assert_int_ge(f, 0);
    ck_assert_int_eq(attr_i64(f, ".", "samples_n"), 4);
    ck_assert_int_eq(attr_i64(f, ".", "nll_test_n"), 0);
    h5io_close(f);
    /* Table 3's samples-only cache is its own: Table 1's is still there, with the same numbers */
    ck_assert_msg(fabs(check_table1(ck, "") - bpd1) == 0, "table 1 changed after table 3");
    ck_assert_msg(!strstr(g_last_out, "recomputing"), "%s", g_last_out);
    snprintf(args, sizeof args, "--ckpt '%s' --row cat --samples 4 --ref-stats " REL "stats.npz", ck);
    ck_assert_msg(driver("exp_table3", args, out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "paper FID 19.75") && strstr(out, "given statistics " REL "stats.npz"), "%s", out);
    assert_models_dir_clean(1);

    /* --ckpt trains nothing: no run directory but the checkpoint's evaluation cache */
    glob_t g;
    char pat[1400];
    snprintf(pat, sizeof pat, "%s/runs/smoke/eps-*", g_dir);
    ck_assert_int_eq(glob(pat, 0, NULL, &g), GLOB_NOMATCH);
    globfree(&g);
    teardown();
}
END_TEST

START_TEST(table1_under_mpirun_np2)
{
    char exe[1200];
    snprintf(exe, sizeof exe, "%s/ddpm-mpi", bin());
    if (access(exe, X_OK) != 0 || system("command -v mpirun >/dev/null 2>&1") != 0 || getenv("DDPM_SANITIZE")) {
        printf("test_drivers_ckpt: mpirun -np 2 case skipped: %s\n",
               getenv("DDPM_SANITIZE")  ? "not run under the sanitizer build (Open MPI's allocations read as leaks)"
               : access(exe, X_OK) != 0 ? "bin/ddpm-mpi not built (make setup-mpi)"
                                        : "no mpirun on PATH");
        return;
    }
    setup();
    char ck[1400], cmd[2400];
    convert(REL "pesser_zip.ckpt", "m", ck, sizeof ck);
    const double serial = check_table1(ck, "");
    snprintf(cmd, sizeof cmd, "rm -rf '%s/results' '%s/runs'", g_dir, g_dir);
    ck_assert_int_eq(system(cmd), 0);
    /* the Makefile's MPI_NP=2 route: DDPM_MPIRUN, Open MPI confined to this machine, under timeout */
    char env[8192];
    snprintf(env, sizeof env, "%s", g_env);
    snprintf(g_env, sizeof g_env,
             "%.4000s OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader "
             "OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_oob_tcp_if_include=lo "
             "OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_base_warn_component_unused=0 OPENBLAS_NUM_THREADS=1 "
             "DDPM_BIN='%s' DDPM_MPIRUN='timeout -k 5 120 mpirun --timeout 110 --bind-to none -np 2'",
             env, bin());
    const double mpi = check_table1(ck, "");
    ck_assert_msg(strstr(g_last_out, "mpirun --timeout 110 --bind-to none -np 2") &&
                      strstr(g_last_out, "ddpm-mpi' bpd") && strstr(g_last_out, "ddpm-mpi' sample"),
                  "the MPI route was not taken:\n%s", g_last_out);
    /* Table 3 (sampling only) by the same route */
    char out[65536], args[3000], dir[1400], txt[8192];
    snprintf(args, sizeof args, "--ckpt '%s' --row bedroom --set data_dir='%s' --samples 4", ck, g_png);
    ck_assert_msg(driver("exp_table3", args, out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "ddpm-mpi' sample") && strstr(out, "paper FID 6.36"), "%s", out);
    result_dir("table3", dir, sizeof dir);
    read_file(dir, "table.csv", txt, sizeof txt);
    ck_assert_msg(strstr(txt, "bedroom,\"LSUN bedroom 256x256\",\"L_simple\",6.36,8.34,") &&
                      strstr(txt, ",4,\"statistics of"),
                  "%s", txt);
    assert_png(dir, "samples.png");
    snprintf(g_env, sizeof g_env, "%s", env);
    ck_assert_msg(fabs(mpi - serial) <= 1e-12 * fabs(serial), "mpirun -np 2 NLL %.17g vs serial %.17g", mpi, serial);
    teardown();
}
END_TEST

START_TEST(paper_numbers_come_from_the_csvs)
{
    setup();
    char ck[1400], out[65536], args[3000], pd[1400], p[1600];
    convert(REL "pesser_zip.ckpt", "m", ck, sizeof ck);
    /* a copy of paper/ with Table 1's L_simple IS changed: the printed row follows the file */
    snprintf(pd, sizeof pd, "%s/paper", g_dir);
    snprintf(args, sizeof args, "cp -r paper '%s' && sed -i 's/,9.46,0.11,3.17,/,1.25,0.5,3.17,/' '%s/table1.csv'", pd,
             pd);
    ck_assert_int_eq(system(args), 0);
    char env0[8192];
    snprintf(env0, sizeof env0, "%s", g_env);
    snprintf(g_env, sizeof g_env, "%.4000s DDPM_PAPER_DIR='%s'", env0, pd);
    snprintf(args, sizeof args, "--ckpt '%s' --set data_dir='%s' " SMALL, ck, g_png);
    ck_assert_msg(driver("exp_table1", args, out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "IS 1.25±0.50  FID 3.17"), "%s", out);
    /* malformed: a row with a field too few, a number that is not one, a missing file */
    snprintf(p, sizeof p, "%s/table1.csv", pd);
    const char *short_row =
        "model,mean,var,loss,is,is_std,fid,nll_test_bpd,nll_train_bpd,note\nx,eps,fixedlarge,kl,1,2\n";
    test_spit(p, short_row, strlen(short_row));
    ck_assert(driver("exp_table1", args, out, sizeof out) == 1);
    ck_assert_msg(strstr(out, "table1.csv:2: 6 fields, but the header has 10 columns"), "%s", out);
    snprintf(p, sizeof p, "sed -i 's/^1000,0,1.77581,/1000,0,1.7x,/' '%s/table4.csv'", pd);
    ck_assert_int_eq(system(p), 0);
    ck_assert(driver("exp_ratedist", args, out, sizeof out) == 1);
    ck_assert_msg(strstr(out, "table4.csv:2: column rate_bpd: '1.7x' is not a number"), "%s", out);
    snprintf(p, sizeof p, "%s/table3.csv", pd);
    unlink(p);
    snprintf(args, sizeof args, "--ckpt '%s' --row church --set data_dir='%s' " SMALL, ck, g_png);
    ck_assert(driver("exp_table3", args, out, sizeof out) == 1);
    ck_assert_msg(strstr(out, "table3.csv: cannot read the paper's numbers"), "%s", out);
    snprintf(g_env, sizeof g_env, "%s", env0);
    teardown();
}
END_TEST

START_TEST(option_errors)
{
    setup();
    char ck[1400], out[65536], args[3000];
    convert(REL "pesser_zip.ckpt", "m", ck, sizeof ck);
    snprintf(args, sizeof args, "--ckpt '%s' --only eps-fixedlarge-mse", ck);
    ck_assert(driver("exp_table1", args, out, sizeof out) == 2 && strstr(out, "--ckpt evaluates the given model"));
    ck_assert(driver("exp_table1", "--samples -3", out, sizeof out) == 2 && strstr(out, "--samples -3"));
    ck_assert(driver("exp_table2", "--nll-n many", out, sizeof out) == 2 && strstr(out, "'many' is not an integer"));
    ck_assert(driver("exp_table1", "--ckpt /no/such.h5", out, sizeof out) == 1 && strstr(out, "/no/such.h5"));
    ck_assert(driver("exp_table1", "--ref-stats /no/stats.npz", out, sizeof out) == 1 && strstr(out, "/no/stats.npz"));
    ck_assert(driver("exp_table1", "--row church", out, sizeof out) == 2 && strstr(out, "unknown option '--row'"));
    ck_assert(driver("exp_table3", "", out, sizeof out) == 2 && strstr(out, "give --ckpt FILE"));
    snprintf(args, sizeof args, "--ckpt '%s'", ck);
    ck_assert(driver("exp_table3", args, out, sizeof out) == 2 &&
              strstr(out, "--row church|bedroom|bedroom_large|cat"));
    /* a model key against the checkpoint is refused, naming it */
    snprintf(args, sizeof args, "--ckpt '%s' --set ch=8 " SMALL, ck);
    ck_assert(driver("exp_table1", args, out, sizeof out) == 1);
    ck_assert_msg(strstr(out, "--set ch=8") && strstr(out, "ch = 4"), "%s", out);
    /* help: every option, the make variables */
    ck_assert(driver("exp_table3", "--help", out, sizeof out) == 0);
    ck_assert(strstr(out, "--ckpt FILE") && strstr(out, "--samples N") && strstr(out, "--nll-n N") &&
              strstr(out, "--ref-stats FILE") && strstr(out, "--row NAME") && strstr(out, "N_SAMPLES="));
    ck_assert(driver("exp_table2", "-h", out, sizeof out) == 0 && strstr(out, "--only V") && !strstr(out, "--row"));
    teardown();
}
END_TEST

static Suite *drivers_ckpt_suite(void)
{
    Suite *s = suite_create("drivers_ckpt");
    TCase *tc = tcase_create("ckpt");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, table1_of_each_released_format);
    tcase_add_test(tc, every_driver_with_ckpt);
    tcase_add_test(tc, table1_under_mpirun_np2);
    tcase_add_test(tc, paper_numbers_come_from_the_csvs);
    tcase_add_test(tc, option_errors);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(drivers_ckpt_suite)
