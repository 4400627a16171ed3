/* ddpm sample | bpd */
#include "cli/cli.h"
#include "cli/commands.h"
#include "core/common.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "dist/dist.h"
#include "eval/ddpm_model.h"
#include "eval/partial.h"
#include "eval/resumable.h"
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
    cli_args a = { .cmd = "sample",
                   .usage = "--ckpt CKPT [--n N] [--seed S] --out F.h5 [--png G.png]",
                   .summary = "Ancestral sampling from x_T ~ N(0,I) with the EMA weights.",
                   .opts = opts };
    int rc = cli_start(&a, argc, argv, "ckpt out", NULL);
    if (rc) return rc < 0 ? 0 : rc;
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
    const char *outp = cli_get(&a, "out"), *png = cli_get(&a, "png");
    const char *which = cli_flag(&a, "raw") ? "model" : "ema";
    /* Finished batches survive a kill in OUT.tmp (eval/partial.h); the key is all the result depends on. */
    char key[512];
    resumable_weights_key(&m, &c, which, key, sizeof key);
    size_t kl = strlen(key);
    snprintf(key + kl, sizeof key - kl, " sample n=%lld seed=%lld batch=%lld record_every=%lld", n, seed, batch, every);
    hid_t o = H5I_INVALID_HID;
    if (!rc && dist_rank() == 0) o = partial_file_open(outp, key); /* rank 0 owns the one output file */
    resumable_sample_job job = { &m, (int)n, (uint64_t)seed, (int)batch, x, (int)every, rec, u8 };
    partial_dset ds[3] = {
        { "samples", PARTIAL_U8, 0, 3, { (hsize_t)m.H, (hsize_t)m.W, (hsize_t)m.C }, u8 },
        { "x", PARTIAL_F32, 0, 3, { (hsize_t)m.H, (hsize_t)m.W, (hsize_t)m.C }, x },
        { "pred_xstart", PARTIAL_F32, K, 3, { (hsize_t)m.H, (hsize_t)m.W, (hsize_t)m.C }, rec },
    };
    partial_set ps = { 0 };
    if (!rc) rc = partial_begin(&ps, o, outp, "batches_done", (int)n, (int)batch, ds, K > 0 ? 3 : 2) != DDPM_OK;
    if (!rc) rc = partial_run(&ps, "sample", m.diff.T, resumable_sample_batch, &job) != DDPM_OK;
    if (!rc && dist_rank() == 0) {
        rc = h5io_attr_str(o, ".", "ckpt", cli_get(&a, "ckpt")) != DDPM_OK ||
             h5io_attr_str(o, ".", "weights", which) != DDPM_OK || h5io_attr_i64(o, ".", "seed", seed) != DDPM_OK ||
             write_config_attrs(o, "config", &c) != DDPM_OK ||
             write_provenance(o, "provenance", &c, argc, argv) != DDPM_OK;
        if (!rc && K > 0) rc = h5io_attr_i64(o, "pred_xstart", "record_every", every) != DDPM_OK;
        if (!rc) rc = partial_finish(&ps) != DDPM_OK;
        if (!rc) rc = partial_file_commit(o, outp) != DDPM_OK;
        else h5io_close(o); /* the finished batches stay in OUT.tmp for the rerun */
    } else if (o >= 0) {
        h5io_close(o);
    }
    partial_free(&ps);
    if (!rc && png && dist_rank() == 0) {
        char cap[1200];
        int64_t step = -1;
        checkpoint_read_step(cli_get(&a, "ckpt"), &step);
        snprintf(cap, sizeof cap, "%lld samples, seed %lld, %s weights of %s (step %lld), rows then columns", n, seed,
                 cli_flag(&a, "raw") ? "raw" : "ema", cli_get(&a, "ckpt"), (long long)step);
        rc = png_write_grid_captioned(png, u8, cap, (int)n, m.H, m.W, m.C, 0, 1) != DDPM_OK;
    }
    if (rc) cli_fail(&a);
    else printf("sample: wrote %lld samples to %s%s%s\n", n, outp, png ? " and " : "", png ? png : "");
    ddpm_free(x);
    ddpm_free(rec);
    ddpm_free(u8);
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
    cli_args a = { .cmd = "bpd",
                   .usage = "--ckpt CKPT [--n N] [--split test|train] --out F.h5",
                   .summary = "Negative log-likelihood bound in bits/dim with all T terms (calc_bpd_loop).",
                   .opts = opts };
    int rc = cli_start(&a, argc, argv, "ckpt out", NULL);
    if (rc) return rc < 0 ? 0 : rc;
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
    dataset ds_img;
    if (dataset_load_n(&ds_img, &c, split && !strcmp(split, "train"), (int)n) != DDPM_OK) {
        ddpm_model_close(&m);
        return cli_fail(&a);
    }
    if (ds_img.N < n) {
        fprintf(stderr, "ddpm bpd: --n %lld but the %s split of %s has %d images; using all %d\n", n,
                split ? split : "test", dataset_name(c.dataset), ds_img.N, ds_img.N);
        n = ds_img.N;
    }
    const int T = m.diff.T;
    float *x = ddpm_alloc((size_t)n * m.D * sizeof(float));
    double *total = ddpm_alloc((size_t)n * sizeof(double)), *prior = ddpm_alloc((size_t)n * sizeof(double));
    double *terms = ddpm_alloc((size_t)n * T * sizeof(double)), *mse = ddpm_alloc((size_t)n * T * sizeof(double));
    rc = !x || !total || !prior || !terms || !mse;
    const char *outp = cli_get(&a, "out"), *which = cli_flag(&a, "raw") ? "model" : "ema";
    char key[512];
    resumable_weights_key(&m, &c, which, key, sizeof key);
    size_t kl = strlen(key);
    snprintf(key + kl, sizeof key - kl, " bpd n=%lld split=%s seed=%lld batch=%lld dataset=%s", n,
             split ? split : "test", seed, batch, dataset_name(c.dataset));
    hid_t o = H5I_INVALID_HID;
    if (!rc && dist_rank() == 0) o = partial_file_open(outp, key); /* rank 0 owns the one output file */
    resumable_bpd_job job = { &m, x, (int)n, (int)batch, (uint64_t)seed, total, prior, terms, mse };
    partial_dset ds[4] = { { "total_bpd", PARTIAL_F64, 0, 0, { 0 }, total },
                           { "prior_bpd", PARTIAL_F64, 0, 0, { 0 }, prior },
                           { "terms_bpd", PARTIAL_F64, 0, 1, { (hsize_t)T }, terms },
                           { "mse", PARTIAL_F64, 0, 1, { (hsize_t)T }, mse } };
    partial_set ps = { 0 };
    if (!rc) {
        dataset_get_range(&ds_img, 0, (int)n, x);
        rc = partial_begin(&ps, o, outp, "batches_done", (int)n, (int)batch, ds, 4) != DDPM_OK;
    }
    if (!rc) rc = partial_run(&ps, "bpd", T, resumable_bpd_batch, &job) != DDPM_OK;
    double mean = 0;
    for (int i = 0; !rc && i < n; i++) mean += total[i] / (double)n;
    if (!rc && dist_rank() == 0) {
        rc = h5io_attr_f64(o, ".", "mean_bpd", mean) || h5io_attr_str(o, ".", "split", split ? split : "test") ||
             h5io_attr_str(o, ".", "weights", which) || write_config_attrs(o, "config", &c) ||
             write_provenance(o, "provenance", &c, argc, argv);
        if (!rc) rc = partial_finish(&ps) != DDPM_OK;
        if (!rc) rc = partial_file_commit(o, outp) != DDPM_OK;
        else h5io_close(o); /* the finished batches stay in OUT.tmp for the rerun */
        if (!rc) printf("bpd: %.4f bits/dim over %lld %s images; wrote %s\n", mean, n, split ? split : "test", outp);
    } else if (o >= 0) {
        h5io_close(o);
    }
    partial_free(&ps);
    if (rc) cli_fail(&a);
    ddpm_free(x);
    ddpm_free(total);
    ddpm_free(prior);
    ddpm_free(terms);
    ddpm_free(mse);
    dataset_free(&ds_img);
    ddpm_model_close(&m);
    return rc;
}
