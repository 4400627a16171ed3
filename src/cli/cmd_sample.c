/* ddpm sample | bpd */
#include "cli/cli.h"
#include "cli/commands.h"
#include "core/common.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "dist/dist.h"
#include "eval/ddpm_model.h"
#include "image/png_io.h"
#include "io/h5io.h"
#include "io/provenance.h"
#include "train/checkpoint.h"

#include <stdio.h>
#include <string.h>

static int open_model(cli_args *a, ddpm_model *m, int batch, ddpm_config *c)
{
    ddpm_config base;
    const char *ckpt = cli_get(a, "ckpt");
    if (checkpoint_read_config(ckpt, &base) != DDPM_OK) return cli_fail(a);
    int rc = cli_config_of_model(a, &base, ckpt, c);
    if (rc) return rc;
    if (ddpm_model_open(m, c, ckpt, cli_flag(a, "raw") ? "model" : "ema", batch) != DDPM_OK) return cli_fail(a);
    return 0;
}

int cmd_sample(int argc, char **argv)
{
    static const cli_opt opts[] = { { "ckpt", "CKPT", "checkpoint" },
                                    { "n", "N", "number of samples (default 64)" },
                                    { "seed", "S", "sampling seed (default 0)" },
                                    { "out", "F.h5", "gets samples uint8 [N,H,W,C] and x float32 [-1,1]" },
                                    { "png", "G.png", "also a PNG grid of the samples" },
                                    { "batch", "B", "network batch (default 64)" },
                                    { "record-every", "K", "also record pred_x0 every K steps (progressive)" },
                                    { "raw", NULL, "use model/ weights instead of the EMA" },
                                    { "force", NULL, "replace an existing --out/--png file of another kind" },
                                    { 0 } };
    cli_args a = { .cmd = "sample", .usage = "--ckpt CKPT [--n N] [--seed S] --out F.h5 [--png G.png]",
                   .summary = "Ancestral sampling from x_T ~ N(0,I) with the EMA weights.", .opts = opts };
    int rc = cli_parse(&a, argc, argv);
    if (rc) return rc < 0 ? 0 : rc;
    if ((rc = cli_require(&a, "ckpt")) || (rc = cli_require(&a, "out"))) return rc;
    long long n, seed, batch, every;
    if ((rc = cli_get_int(&a, "n", 64, &n)) || (rc = cli_get_int(&a, "seed", 0, &seed)) ||
        (rc = cli_get_int(&a, "batch", 64, &batch)) || (rc = cli_get_int(&a, "record-every", 0, &every)))
        return rc;
    if (n < 1 || batch < 1) {
        fprintf(stderr, "ddpm sample: --n and --batch must be positive\n");
        return 2;
    }
    if (every < 0) {
        fprintf(stderr, "ddpm sample: --record-every must be >= 0\n");
        return 2;
    }
    if ((rc = cli_check_output(&a, "out", FK_SAMPLES)) || (rc = cli_check_output(&a, "png", FK_PNG))) return rc;
    if (cli_get(&a, "png") && !strcmp(cli_get(&a, "png"), cli_get(&a, "out"))) {
        fprintf(stderr, "ddpm sample: --out and --png name the same file\n");
        return 2;
    }
    ddpm_model m;
    ddpm_config c;
    if ((rc = open_model(&a, &m, (int)(batch < n ? batch : n), &c))) return rc;
    int K = p_sample_num_recorded(m.diff.T - 1, (int)every);
    float *x = ddpm_alloc((size_t)n * m.D * sizeof(float));
    float *rec = K > 0 ? ddpm_alloc((size_t)K * n * m.D * sizeof(float)) : NULL;
    uint8_t *u8 = ddpm_alloc((size_t)n * m.D);
    rc = !x || !u8 || (K > 0 && !rec);
    progress pb;
    progress_begin(&pb, "sample", (int64_t)n * m.diff.T, 0);
    int nrec = 0;
    if (!rc) rc = ddpm_generate(&m, (int)n, (uint64_t)seed, (int)batch, x, (int)every, rec, &nrec, &pb) != DDPM_OK;
    if (!rc) progress_end(&pb, NULL);
    const char *outp = cli_get(&a, "out"), *png = cli_get(&a, "png");
    if (!rc) images_to_uint8(u8, x, (size_t)n * m.D);
    if (!rc && dist_rank() == 0) { /* under MPI rank 0 writes the one output file */
        hid_t o = h5io_create_tmp(outp);
        hsize_t d[4] = { (hsize_t)n, (hsize_t)m.H, (hsize_t)m.W, (hsize_t)m.C };
        rc = o < 0 || h5io_write_u8(o, "samples", u8, 4, d) != DDPM_OK || h5io_write_f32(o, "x", x, 4, d) != DDPM_OK ||
             h5io_attr_str(o, ".", "ckpt", cli_get(&a, "ckpt")) != DDPM_OK ||
             h5io_attr_str(o, ".", "weights", cli_flag(&a, "raw") ? "model" : "ema") != DDPM_OK ||
             h5io_attr_i64(o, ".", "seed", seed) != DDPM_OK || write_config_attrs(o, "config", &c) != DDPM_OK ||
             write_provenance(o, "provenance", &c, argc, argv) != DDPM_OK;
        if (!rc && nrec > 0) {
            hsize_t dr[5] = { (hsize_t)nrec, (hsize_t)n, (hsize_t)m.H, (hsize_t)m.W, (hsize_t)m.C };
            rc = h5io_write_f32(o, "pred_xstart", rec, 5, dr) != DDPM_OK ||
                 h5io_attr_i64(o, "pred_xstart", "record_every", every) != DDPM_OK;
        }
        if (!rc) rc = h5io_commit(o, outp) != DDPM_OK;
        else h5io_abandon(o, outp);
    }
    if (!rc && png && dist_rank() == 0) {
        char cap[1200];
        int64_t step = -1;
        checkpoint_read_step(cli_get(&a, "ckpt"), &step);
        snprintf(cap, sizeof cap, "%lld samples, seed %lld, %s weights of %s (step %lld), rows then columns",
                 n, seed, cli_flag(&a, "raw") ? "raw" : "ema", cli_get(&a, "ckpt"), (long long)step);
        rc = png_write_grid_captioned(png, u8, cap, (int)n, m.H, m.W, m.C, 0, 1) != DDPM_OK;
    }
    if (rc) cli_fail(&a);
    else printf("sample: wrote %lld samples to %s%s%s\n", n, outp, png ? " and " : "", png ? png : "");
    ddpm_free(x); ddpm_free(rec); ddpm_free(u8);
    ddpm_model_close(&m);
    return rc;
}

int cmd_bpd(int argc, char **argv)
{
    static const cli_opt opts[] = { { "ckpt", "CKPT", "checkpoint" },
                                    { "n", "N", "number of images (default 128; the first N of the split)" },
                                    { "split", "S", "test (default) or train" },
                                    { "data", "DIR", "shorthand for --set data_dir=DIR" },
                                    { "out", "F.h5", "gets total_bpd [N], prior_bpd [N], terms_bpd [N,T], mse [N,T]" },
                                    { "seed", "S", "seed of the q_sample noise (default 0)" },
                                    { "batch", "B", "network batch (default 64)" },
                                    { "raw", NULL, "use model/ weights instead of the EMA" },
                                    { "force", NULL, "replace an existing --out file of another kind" },
                                    { 0 } };
    cli_args a = { .cmd = "bpd", .usage = "--ckpt CKPT [--n N] [--split test|train] --out F.h5",
                   .summary = "Negative log-likelihood bound in bits/dim with all T terms (calc_bpd_loop).",
                   .opts = opts };
    int rc = cli_parse(&a, argc, argv);
    if (rc) return rc < 0 ? 0 : rc;
    if ((rc = cli_require(&a, "ckpt")) || (rc = cli_require(&a, "out"))) return rc;
    long long n, seed, batch;
    if ((rc = cli_get_int(&a, "n", 128, &n)) || (rc = cli_get_int(&a, "seed", 0, &seed)) ||
        (rc = cli_get_int(&a, "batch", 64, &batch)))
        return rc;
    const char *split = cli_get(&a, "split");
    if (split && strcmp(split, "test") && strcmp(split, "train")) {
        fprintf(stderr, "ddpm bpd: --split must be test or train\n");
        return 2;
    }
    if (n < 1 || batch < 1) {
        fprintf(stderr, "ddpm bpd: --n and --batch must be positive\n");
        return 2;
    }
    if ((rc = cli_check_output(&a, "out", FK_BPD))) return rc;
    ddpm_model m;
    ddpm_config c;
    if ((rc = open_model(&a, &m, (int)(batch < n ? batch : n), &c))) return rc;
    dataset ds;
    if (dataset_load_n(&ds, &c, split && !strcmp(split, "train"), (int)n) != DDPM_OK) {
        ddpm_model_close(&m);
        return cli_fail(&a);
    }
    if (ds.N < n) {
        fprintf(stderr, "ddpm bpd: --n %lld but the %s split of %s has %d images; using all %d\n", n,
                split ? split : "test", dataset_name(c.dataset), ds.N, ds.N);
        n = ds.N;
    }
    const int T = m.diff.T;
    float *x = ddpm_alloc((size_t)n * m.D * sizeof(float));
    double *total = ddpm_alloc((size_t)n * sizeof(double)), *prior = ddpm_alloc((size_t)n * sizeof(double));
    double *terms = ddpm_alloc((size_t)n * T * sizeof(double)), *mse = ddpm_alloc((size_t)n * T * sizeof(double));
    rc = !x || !total || !prior || !terms || !mse;
    progress pb;
    progress_begin(&pb, "bpd", (int64_t)n * T, 0);
    if (!rc) {
        dataset_get_range(&ds, 0, (int)n, x);
        rc = ddpm_eval_bpd(&m, x, (int)n, (int)batch, (uint64_t)seed, total, prior, terms, mse, &pb) != DDPM_OK;
    }
    double mean = 0;
    for (int i = 0; !rc && i < n; i++) mean += total[i] / (double)n;
    if (!rc) progress_end(&pb, NULL);
    if (!rc && dist_rank() == 0) { /* under MPI rank 0 writes the one output file */
        const char *outp = cli_get(&a, "out");
        hid_t o = h5io_create_tmp(outp);
        hsize_t d1[1] = { (hsize_t)n }, d2[2] = { (hsize_t)n, (hsize_t)T };
        rc = o < 0 || h5io_write_f64(o, "total_bpd", total, 1, d1) || h5io_write_f64(o, "prior_bpd", prior, 1, d1) ||
             h5io_write_f64(o, "terms_bpd", terms, 2, d2) || h5io_write_f64(o, "mse", mse, 2, d2) ||
             h5io_attr_f64(o, ".", "mean_bpd", mean) || h5io_attr_str(o, ".", "split", split ? split : "test") ||
             h5io_attr_str(o, ".", "weights", cli_flag(&a, "raw") ? "model" : "ema") ||
             write_config_attrs(o, "config", &c) || write_provenance(o, "provenance", &c, argc, argv);
        if (!rc) rc = h5io_commit(o, outp) != DDPM_OK;
        else h5io_abandon(o, outp);
        if (!rc) printf("bpd: %.4f bits/dim over %lld %s images; wrote %s\n", mean, n, split ? split : "test", outp);
    }
    if (rc) cli_fail(&a);
    ddpm_free(x); ddpm_free(total); ddpm_free(prior); ddpm_free(terms); ddpm_free(mse);
    dataset_free(&ds);
    ddpm_model_close(&m);
    return rc;
}
