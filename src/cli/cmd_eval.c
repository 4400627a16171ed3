/* ddpm stats | eval — reference statistics of a data set and the FD/IS of samples, with the
 * extractor chosen as in eval/quality.h (Inception when its weights are present, else the
 * Fashion-MNIST classifier). */
#include "cli/cli.h"
#include "cli/commands.h"
#include "core/common.h"
#include "core/fs.h"
#include "eval/quality.h"
#include "features/fid.h"
#include "io/h5io.h"
#include "io/provenance.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* --n N of stats and eval: how many reference images (default 0: all of them). */
static int reference_count(const cli_args *a, long long *n)
{
    int rc = cli_get_int(a, "n", 0, n);
    if (rc == 0 && *n < 0) {
        fprintf(stderr, "ddpm %s: --n must be >= 1 (or absent for all images)\n", a->cmd);
        return 2;
    }
    return rc;
}

int cmd_stats(int argc, char **argv)
{
    static const cli_opt opts[] = {
        { "config", "FILE", "config file (dataset, data_dir)" },
        { "data", "DIR", "shorthand for --set data_dir=DIR" },
        { "n", "N", "use the first N images of the split (default all)" },
        { "out", "S.h5", "gets mu [D] and sigma [D,D] of the features" },
        { "recompute", NULL, "replace statistics of the same extractor made with other settings" },
        { "force", NULL, "replace --out whatever it is (another kind of file, another extractor)" },
        { 0 }
    };
    cli_args a = { .cmd = "stats",
                   .usage = "[--config F] [--set k=v]... [--n N] --out S.h5",
                   .summary = "Feature statistics of the training split (the FD/FID reference).",
                   .opts = opts };
    ddpm_config c;
    int rc = cli_start(&a, argc, argv, "out", &c);
    if (rc) return rc < 0 ? 0 : rc;
    long long n;
    if ((rc = reference_count(&a, &n))) return rc;
    if ((rc = cli_check_output(&a, "out", FK_STATS))) return rc;
    int mode = cli_flag(&a, "force")       ? QUALITY_STATS_REPLACE
               : cli_flag(&a, "recompute") ? QUALITY_STATS_RECOMPUTE
                                           : QUALITY_STATS_KEEP;
    quality_result info;
    quality_extractor *e;
    if (quality_extractor_open(&e, &c, &info) != DDPM_OK) return cli_fail(&a);
    if (!e) {
        fprintf(stderr, "ddpm stats: %s\n", info.why);
        return 1;
    }
    double *mu = NULL, *sigma = NULL;
    int D = 0;
    const char *out = cli_get(&a, "out");
    rc = quality_reference_stats(e, &info, &c, out, (int)n, mode, &mu, &sigma, &D) != DDPM_OK;
    quality_extractor_free(e);
    ddpm_free(mu);
    ddpm_free(sigma);
    if (rc) return cli_fail(&a);
    printf("stats: %s features (D = %d) of %s written to %s\n", info.extractor, D, dataset_name(c.dataset), out);
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    static const cli_opt opts[] = { { "samples", "F.h5", "a `ddpm sample` file (samples uint8 [N,H,W,C])" },
                                    { "stats", "S.h5", "reference statistics from `ddpm stats` (created if missing)" },
                                    { "n", "N", "reference images when creating --stats (default all)" },
                                    { "first", "K", "score only the first K samples (default all; FD's bias at K)" },
                                    { "data", "DIR", "shorthand for --set data_dir=DIR (the reference images)" },
                                    { "recompute", NULL,
                                      "replace --stats of the same extractor made with other settings" },
                                    { 0 } };
    cli_args a = { .cmd = "eval",
                   .usage = "--samples F.h5 --stats S.h5 [--first K]",
                   .summary = "FD and IS of samples (FID/IS with the Inception weights, else FD_fmnist/IS_fmnist).",
                   .opts = opts };
    int rc = cli_start(&a, argc, argv, "samples stats", NULL);
    if (rc) return rc < 0 ? 0 : rc;
    long long nref;
    if ((rc = reference_count(&a, &nref))) return rc;
    const char *sp = cli_get(&a, "samples");
    if (fs_same_file(sp, cli_get(&a, "stats"))) {
        fprintf(stderr, "ddpm eval: --stats %s is the samples file itself; name a statistics file\n",
                cli_get(&a, "stats"));
        return 1;
    }
    hid_t f = h5io_open(sp, 0);
    if (f < 0) return cli_fail(&a);
    ddpm_config base, c;
    uint8_t *img = NULL;
    int rank;
    hsize_t d[H5IO_MAX_RANK];
    if (h5io_exists(f, "samples") && !h5io_is_uint8(f, "samples")) {
        h5io_close(f);
        fprintf(stderr,
                "ddpm eval: %s: dataset samples is not uint8; eval takes `ddpm sample` output (uint8 0..255), "
                "not float images in [-1,1]\n",
                sp);
        return 1;
    }
    if (read_config_attrs(f, "config", &base) != DDPM_OK || h5io_read_u8(f, "samples", &img, &rank, d) != DDPM_OK) {
        h5io_close(f);
        return cli_fail(&a);
    }
    h5io_close(f);
    if (rank != 4) {
        fprintf(stderr, "ddpm eval: %s: samples must be [N,H,W,C]\n", sp);
        ddpm_free(img);
        return 1;
    }
    if ((rc = cli_config_of_model(&a, &base, sp, &c))) {
        ddpm_free(img);
        return rc;
    }
    /* --first K: the same file scored on a prefix, so one long `ddpm sample` run gives FD at
     * several sample counts (samples are drawn from per-index streams: the first K of N are the
     * K samples a run of --n K draws). */
    long long first = (long long)d[0];
    if ((rc = cli_get_int(&a, "first", first, &first))) {
        ddpm_free(img);
        return rc;
    }
    if (first < 2 || first > (long long)d[0]) {
        fprintf(stderr, "ddpm eval: --first %lld: %s holds %llu samples; give 2..%llu\n", first, sp,
                (unsigned long long)d[0], (unsigned long long)d[0]);
        ddpm_free(img);
        return 2;
    }
    d[0] = (hsize_t)first;
    quality_result q;
    rc = quality_metrics(&c, img, (int)d[0], (int)d[1], (int)d[2], (int)d[3], cli_get(&a, "stats"), (int)nref,
                         cli_flag(&a, "recompute") ? QUALITY_STATS_RECOMPUTE : QUALITY_STATS_KEEP, NULL, &q) != DDPM_OK;
    ddpm_free(img);
    if (rc) return cli_fail(&a);
    if (!q.available) {
        fprintf(stderr, "ddpm eval: %s\n", q.why);
        return 1;
    }
    printf("%s %.4f  %s %.3f ± %.3f  (extractor %s, %d samples)\n", q.fd_name, q.fd, q.is_name, q.is_mean, q.is_std,
           q.extractor, (int)d[0]);
    return 0;
}
