/* cmd_inception.c — `ddpm inception` (FID Inception features of an image file) and `ddpm fid`
 * (Fréchet distance between two feature or statistics files). */
#include "cli/cli.h"
#include "cli/commands.h"

#include "core/common.h"
#include "core/progress.h"
#include "features/fid.h"
#include "features/inception.h"
#include "io/h5io.h"
#include "io/provenance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per-image progress from inside inception_forward, offset by the images of earlier calls. */
typedef struct {
    progress *p;
    int offset;
} chunk_progress;

static void on_image(void *user, int done, int total)
{
    (void)total;
    chunk_progress *c = user;
    if (c->offset + done < c->p->total) progress_update(c->p, c->offset + done, NULL);
}

#define EXTRACTOR       "inception-pool3"
#define EXTRACTOR_SYNTH "inception-pool3-synthetic"

int cmd_inception(int argc, char **argv)
{
    static const cli_opt opts[] = {
        { "weights", "W", "pytorch-fid weights (" INCEPTION_WEIGHTS_FILE "; make inception-weights)" },
        { "in", "IMAGES.h5", "dataset `images`: uint8 (N, H, W, 3) or (N, H, W, 1) / (N, H, W)" },
        { "out", "FEATS.h5", "writes pool3 (N, 2048) and logits (N, 1008, bias-free) float32" },
        { "batch", "N", "images per inception_forward call (default 256; workspace is per thread)" },
        { "stats", "S.h5", "also write mu/sigma of pool3 (a statistics file for ddpm fid)" },
        { "force", NULL, "replace an existing --out/--stats file of another kind" },
        { "synthetic-seed", "SEED",
          "test only: deterministic synthetic weights instead of --weights "
          "(features labelled " EXTRACTOR_SYNTH ")" },
        { 0 }
    };
    cli_args a = { .cmd = "inception",
                   .opts = opts,
                   .no_set = 1,
                   .usage = "--weights W --in IMAGES.h5 --out FEATS.h5 [--batch N] [--stats S.h5]",
                   .summary = "FID Inception-v3 features (pool3) and logits of uint8 images." };
    int rc = cli_start(&a, argc, argv, "in out", NULL);
    if (rc) return rc < 0 ? 0 : rc;
    long long batch, seed;
    if (cli_get_int(&a, "batch", 256, &batch) || cli_get_int(&a, "synthetic-seed", -1, &seed)) return 2;
    if (batch < 1) {
        fprintf(stderr, "ddpm inception: --batch must be >= 1\n");
        return 2;
    }
    const char *weights = cli_get(&a, "weights");
    if (!weights && seed < 0) {
        fprintf(stderr, "ddpm inception: --weights is required (get the file with `make inception-weights`)\n");
        return 2;
    }
    const char *in = cli_get(&a, "in"), *out = cli_get(&a, "out");
    h5io_init();
    if (cli_check_output(&a, "out", FK_FEATURES) || cli_check_output(&a, "stats", FK_STATS)) return 1;

    uint8_t *images = NULL;
    int rank = 0;
    hsize_t d[H5IO_MAX_RANK];
    hid_t f = h5io_open(in, 0);
    if (f < 0) return cli_fail(&a);
    rc = h5io_read_u8(f, "images", &images, &rank, d);
    h5io_close(f);
    if (rc != DDPM_OK) return cli_fail(&a);
    int N = (int)d[0], H = (int)(rank >= 3 ? d[1] : 0), W = (int)(rank >= 3 ? d[2] : 0);
    int C = rank == 4 ? (int)d[3] : 1;
    if (!(rank == 3 || rank == 4) || (C != 1 && C != 3) || N < 1 || H < 1 || W < 1) {
        ddpm_free(images);
        ddpm_error("%s: `images` must be uint8 (N, H, W, 3), (N, H, W, 1) or (N, H, W)", in);
        return cli_fail(&a);
    }

    inception_net *net = NULL;
    rc = weights ? inception_load_pth(&net, weights) : inception_init_synthetic(&net, (uint64_t)seed);
    float *pool3 = ddpm_alloc((size_t)N * INCEPTION_POOL3 * sizeof(float));
    float *logits = ddpm_alloc((size_t)N * INCEPTION_CLASSES * sizeof(float));
    if (rc != DDPM_OK || !pool3 || !logits) {
        ddpm_free(images);
        ddpm_free(pool3);
        ddpm_free(logits);
        inception_free(net);
        return cli_fail(&a);
    }
    progress p;
    progress_begin(&p, "inception", N, 0);
    chunk_progress cp = { &p, 0 };
    inception_set_progress(net, on_image, &cp);
    double t0 = ddpm_now();
    for (int i0 = 0; i0 < N && rc == DDPM_OK; i0 += (int)batch) {
        int b = N - i0 < batch ? N - i0 : (int)batch;
        cp.offset = i0;
        rc = inception_forward(net, pool3 + (size_t)i0 * INCEPTION_POOL3, logits + (size_t)i0 * INCEPTION_CLASSES,
                               images + (size_t)i0 * H * W * C, b, H, W, C);
    }
    if (rc == DDPM_OK) {
        char extra[64];
        snprintf(extra, sizeof extra, "%.1f images/s", N / (ddpm_now() - t0));
        progress_end(&p, extra);
    }
    inception_free(net);
    ddpm_free(images);

    const char *extractor = weights ? EXTRACTOR : EXTRACTOR_SYNTH;
    if (rc == DDPM_OK) {
        hid_t o = h5io_create_tmp(out);
        hsize_t dp[2] = { (hsize_t)N, INCEPTION_POOL3 }, dl[2] = { (hsize_t)N, INCEPTION_CLASSES };
        rc = o < 0 ? DDPM_ERR : DDPM_OK;
        if (rc == DDPM_OK) rc = h5io_write_f32(o, "pool3", pool3, 2, dp);
        if (rc == DDPM_OK) rc = h5io_write_f32(o, "logits", logits, 2, dl);
        if (rc == DDPM_OK) rc = h5io_attr_str(o, ".", "extractor", extractor);
        if (rc == DDPM_OK) rc = h5io_attr_str(o, ".", "weights", weights ? weights : "synthetic");
        if (rc == DDPM_OK)
            rc = h5io_attr_str(o, "logits", "bias", "none: pool3 . fc.weight^T (Inception Score convention)");
        if (rc == DDPM_OK) rc = h5io_attr_str(o, ".", "images", in);
        if (rc == DDPM_OK) rc = write_provenance(o, "provenance", NULL, argc, argv);
        if (rc == DDPM_OK) rc = h5io_commit(o, out);
        else h5io_abandon(o, out);
    }
    const char *stats = cli_get(&a, "stats");
    if (rc == DDPM_OK && stats) {
        if (N < 2) rc = ddpm_error("--stats needs at least 2 images");
        double *mu = ddpm_alloc(INCEPTION_POOL3 * sizeof(double));
        double *sigma = ddpm_alloc((size_t)INCEPTION_POOL3 * INCEPTION_POOL3 * sizeof(double));
        if (rc == DDPM_OK) rc = mu && sigma ? feature_stats(pool3, N, INCEPTION_POOL3, mu, sigma) : DDPM_ERR;
        if (rc == DDPM_OK) rc = stats_save(stats, mu, sigma, INCEPTION_POOL3, extractor, NULL);
        ddpm_free(mu);
        ddpm_free(sigma);
    }
    ddpm_free(pool3);
    ddpm_free(logits);
    if (rc != DDPM_OK) return cli_fail(&a);
    fprintf(stderr, "ddpm inception: %d images -> %s%s%s\n", N, out, stats ? ", " : "", stats ? stats : "");
    return 0;
}

int cmd_fid(int argc, char **argv)
{
    static const cli_opt opts[] = { { "a", "A.h5", "features (pool3 or features, (N, D)) or statistics (mu, sigma)" },
                                    { "b", "B.h5", "the same for the other set" },
                                    { 0 } };
    cli_args a = { .cmd = "fid",
                   .opts = opts,
                   .no_set = 1,
                   .usage = "--a A.h5 --b B.h5",
                   .summary = "Frechet distance between two feature sets or cached statistics; prints it." };
    int rc = cli_start(&a, argc, argv, "a b", NULL);
    if (rc) return rc < 0 ? 0 : rc;
    h5io_init();
    const char *pa = cli_get(&a, "a"), *pb = cli_get(&a, "b");
    double *mu1 = NULL, *s1 = NULL, *mu2 = NULL, *s2 = NULL, fd = 0;
    int D1 = 0, D2 = 0;
    long n1 = 0, n2 = 0;
    char e1[128], e2[128];
    rc = stats_load_any(pa, &mu1, &s1, &D1, e1, sizeof e1, &n1);
    if (rc == DDPM_OK) rc = stats_load_any(pb, &mu2, &s2, &D2, e2, sizeof e2, &n2);
    if (rc == DDPM_OK && D1 != D2) rc = ddpm_error("%s has %d-dimensional features, %s has %d", pa, D1, pb, D2);
    if (rc == DDPM_OK && e1[0] && e2[0] && strcmp(e1, e2))
        rc = ddpm_error("%s holds %s features but %s holds %s: distances across extractors are meaningless", pa, e1, pb,
                        e2);
    if (rc == DDPM_OK) rc = frechet_distance(mu1, s1, mu2, s2, D1, &fd);
    ddpm_free(mu1);
    ddpm_free(s1);
    ddpm_free(mu2);
    ddpm_free(s2);
    if (rc != DDPM_OK) return cli_fail(&a);
    /* "FID" only for Inception pool3 features; any other extractor is a plain Fréchet distance */
    const char *ex = e1[0] ? e1 : e2;
    if (fd < 0 && fd > -5e-5) fd = 0.0; /* round-off of identical sets; do not print -0.0000 */
    if (!ex[0] || !strcmp(ex, EXTRACTOR)) printf("FID %.4f\n", fd);
    else printf("FD[%s] %.4f\n", ex, fd);
    if (!e1[0] || !e2[0])
        fprintf(stderr,
                "ddpm fid: note: %s has no extractor attribute; assuming both sets come from the same network\n",
                !e1[0] ? pa : pb);
    const char *paths[2] = { pa, pb };
    const long ns[2] = { n1, n2 };
    for (int k = 0; k < 2; k++)
        if (ns[k] > 0 && ns[k] <= D1)
            fprintf(stderr,
                    "ddpm fid: note: %s has %ld feature rows for D=%d: its covariance is singular and "
                    "the distance is strongly biased (use many more samples)\n",
                    paths[k], ns[k], D1);
    return 0;
}
