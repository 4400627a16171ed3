/* test_eval.c — src/eval/quality (the extractor chosen and named, its input checks, the cached
 * reference statistics, FD/IS of a few images) and src/eval/ddpm_model (a model as a denoise_fn
 * in chunks, sampling and likelihood independent of the batch, a checkpoint's weights).
 * Without the Inception weights (DDPM_INCEPTION_WEIGHTS points at no file) Fashion-MNIST uses
 * the shipped classifier, so everything here runs offline in seconds. */
#include "testutil.h"

#include "core/common.h"
#include "core/config.h"
#include "data/dataset.h"
#include "eval/ddpm_model.h"
#include "eval/quality.h"
#include "features/classifier.h"
#include "io/h5io.h"
#include "train/checkpoint.h"

#include <math.h>

static void fmnist_config(ddpm_config *c)
{
    static const char *const sets[] = { TEST_TINY_MODEL_SETS, "num_diffusion_timesteps=4", "seed=7" };
    test_config_from_sets(c, sets, DDPM_ARRAY_LEN(sets));
}

static void no_inception(void) { setenv("DDPM_INCEPTION_WEIGHTS", "tests/data/no-such-inception.pth", 1); }

/* n test images of Fashion-MNIST as uint8 (n, 28, 28, 1) */
static uint8_t *test_images(int n)
{
    ddpm_config c;
    fmnist_config(&c);
    dataset ds;
    ck_assert_msg(dataset_load_n(&ds, &c, 0, n) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_int_eq(ds.N, n);
    uint8_t *u = malloc((size_t)n * 784);
    memcpy(u, ds.pixels, (size_t)n * 784);
    dataset_free(&ds);
    return u;
}

START_TEST(fmnist_extractor_is_the_classifier_by_name)
{
    no_inception();
    ddpm_config c;
    fmnist_config(&c);
    quality_extractor *e;
    quality_result info;
    ck_assert_msg(quality_extractor_open(&e, &c, &info) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(info.available, 1);
    ck_assert_str_eq(info.extractor, "fmnist-classifier");
    ck_assert_str_eq(info.fd_name, "FD_fmnist");
    ck_assert_str_eq(info.is_name, "IS_fmnist");
    ck_assert(isnan(info.fd) && isnan(info.is_mean));
    fmnist_classifier *clf;
    ck_assert_int_eq(classifier_load(&clf, CLASSIFIER_DEFAULT_PATH), DDPM_OK);
    char hex[17], want[64];
    classifier_digest(clf, hex);
    snprintf(want, sizeof want, "digest %s", hex);
    ck_assert_str_eq(info.weights, want);
    ck_assert_int_eq(quality_feature_dim(e), classifier_feature_dim(clf));
    ck_assert_int_eq(quality_num_classes(e), 10);

    /* the features are the classifier's, bit for bit */
    enum { N = 6 };
    uint8_t *img = test_images(N);
    const int D = quality_feature_dim(e);
    float *f = malloc(sizeof(float) * N * D), *g = malloc(sizeof(float) * N * D);
    float lf[N * 10], lg[N * 10];
    ck_assert_msg(quality_features(e, img, N, 28, 28, 1, f, lf) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_int_eq(classifier_features(clf, img, N, g, lg), DDPM_OK);
    ck_assert_int_eq(memcmp(f, g, sizeof(float) * N * D), 0);
    ck_assert_int_eq(memcmp(lf, lg, sizeof lf), 0);
    /* other shapes are refused, naming what it takes */
    ck_assert_int_eq(quality_features(e, img, 1, 14, 14, 4, f, NULL), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "28x28x1") && strstr(ddpm_last_error(), "14x14x4"), "%s",
                  ddpm_last_error());
    free(img);
    free(f);
    free(g);
    classifier_free(clf);
    quality_extractor_free(e);
}
END_TEST

START_TEST(no_extractor_says_what_to_do)
{
    no_inception();
    ddpm_config c;
    config_defaults(&c); /* cifar10 */
    quality_extractor *e = (quality_extractor *)&c;
    quality_result info;
    ck_assert_int_eq(quality_extractor_open(&e, &c, &info), DDPM_OK);
    ck_assert_ptr_null(e);
    ck_assert_int_eq(info.available, 0);
    ck_assert_msg(strstr(info.why, "cifar10") && strstr(info.why, "make inception-weights"), "%s", info.why);
    ck_assert(isnan(info.fd) && isnan(info.is_mean) && isnan(info.is_std));
    quality_extractor_free(NULL);
}
END_TEST

START_TEST(reference_stats_are_cached_and_guarded)
{
    no_inception();
    ddpm_config c;
    fmnist_config(&c);
    quality_extractor *e;
    quality_result info;
    ck_assert_int_eq(quality_extractor_open(&e, &c, &info), DDPM_OK);
    const char *path = test_tmp_path("eval_ref_stats.h5");
    unlink(path);
    double *mu, *sigma, *mu2, *sigma2;
    int D = 0, D2 = 0;
    ck_assert_msg(quality_reference_stats(e, &info, &c, path, 40, QUALITY_STATS_KEEP, &mu, &sigma, &D) == DDPM_OK, "%s",
                  ddpm_last_error());
    ck_assert_int_eq(D, quality_feature_dim(e));
    for (int i = 0; i < D; i++) ck_assert(isfinite(mu[i]) && sigma[(size_t)i * D + i] >= 0);
    /* reused: the same numbers */
    ck_assert_int_eq(quality_reference_stats(e, &info, &c, path, 40, QUALITY_STATS_KEEP, &mu2, &sigma2, &D2), DDPM_OK);
    ck_assert_int_eq(D2, D);
    ck_assert_int_eq(memcmp(mu, mu2, sizeof(double) * D), 0);
    ck_assert_int_eq(memcmp(sigma, sigma2, sizeof(double) * D * D), 0);
    ddpm_free(mu2);
    ddpm_free(sigma2);
    /* other settings (ref_n) are refused unless recomputing */
    ck_assert_int_eq(quality_reference_stats(e, &info, &c, path, 41, QUALITY_STATS_KEEP, &mu2, &sigma2, &D2), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), path), "%s", ddpm_last_error());
    /* a file of another kind at the path is never overwritten */
    const char *other = test_tmp_path("eval_not_stats.txt");
    FILE *fp = fopen(other, "w");
    fputs("not statistics\n", fp);
    fclose(fp);
    ck_assert_int_eq(quality_reference_stats(e, &info, &c, other, 40, QUALITY_STATS_RECOMPUTE, &mu2, &sigma2, &D2),
                     DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), other), "%s", ddpm_last_error());
    char text[64];
    ck_assert(test_read_text(other, text, sizeof text));
    ck_assert_str_eq(text, "not statistics\n");

    /* FD and IS of a few test images against that reference */
    enum { N = 20 };
    uint8_t *img = test_images(N);
    quality_result q;
    ck_assert_msg(quality_metrics(&c, img, N, 28, 28, 1, path, 40, QUALITY_STATS_KEEP, NULL, &q) == DDPM_OK, "%s",
                  ddpm_last_error());
    ck_assert_int_eq(q.available, 1);
    ck_assert_str_eq(q.fd_name, "FD_fmnist");
    ck_assert_msg(isfinite(q.fd) && q.fd >= 0, "fd %g", q.fd);
    ck_assert_msg(q.is_mean >= 1.0 && q.is_mean <= 10.0 && q.is_std >= 0, "IS %g +- %g", q.is_mean, q.is_std);
    free(img);
    ddpm_free(mu);
    ddpm_free(sigma);
    quality_extractor_free(e);
    unlink(path);
    unlink(other);
}
END_TEST

/* Rewrites a float dataset of f in place (its attributes stay). */
static void overwrite_f32(hid_t f, const char *name, const float *v)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    ck_assert(d >= 0);
    ck_assert(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Dclose(d);
}

/* The state a kill leaves after the first of three batches of sample features: the record says
 * batch 0 only. */
static void interrupt_after_batch0(hid_t f)
{
    const uint8_t flags[3] = { 1, 0, 0 };
    const hsize_t n3 = 3;
    if (h5io_exists(f, "sample_features_batches_done"))
        ck_assert(H5Ldelete(f, "sample_features_batches_done", H5P_DEFAULT) >= 0);
    ck_assert_int_eq(h5io_write_u8(f, "sample_features_batches_done", flags, 1, &n3), DDPM_OK);
    ck_assert_int_eq(h5io_attr_i64(f, "sample_features_batches_done", "n", 1200), DDPM_OK);
    ck_assert_int_eq(h5io_attr_i64(f, "sample_features_batches_done", "batch", 500), DDPM_OK);
}

START_TEST(sample_features_are_kept_and_resumed)
{
    no_inception();
    ddpm_config c;
    fmnist_config(&c);
    enum { N = 1200 }; /* three batches of 500 */
    uint8_t *img = test_images(N);
    const char *ref = test_tmp_path("eval_keep_ref.h5"), *path = test_tmp_path("eval_keep.h5");
    unlink(ref);
    unlink(path);
    quality_result plain, q;
    ck_assert_msg(quality_metrics(&c, img, N, 28, 28, 1, ref, 500, QUALITY_STATS_KEEP, NULL, &plain) == DDPM_OK, "%s",
                  ddpm_last_error());
    hid_t f = h5io_create(path);
    ck_assert(f >= 0);
    const quality_keep keep = { f, path };
    ck_assert_msg(quality_metrics(&c, img, N, 28, 28, 1, ref, 500, QUALITY_STATS_KEEP, &keep, &q) == DDPM_OK, "%s",
                  ddpm_last_error());
    /* kept features give the same numbers as features that are not kept */
    ck_assert(q.fd == plain.fd && q.is_mean == plain.is_mean && q.is_std == plain.is_std);
    ck_assert(h5io_exists(f, "sample_logits") && !h5io_exists(f, "sample_features_batches_done"));
    float *feats;
    int rank;
    hsize_t d[H5IO_MAX_RANK];
    ck_assert_int_eq(h5io_read_f32(f, "sample_features", &feats, &rank, d), DDPM_OK);
    ck_assert(rank == 2 && d[0] == N);
    const size_t D = d[1], all = (size_t)N * D;
    float *v = malloc(all * sizeof(float)), *w;

    /* a finished set is read back, not recomputed: a marked row stays and moves FD */
    memcpy(v, feats, all * sizeof(float));
    v[0] += 100.0f;
    overwrite_f32(f, "sample_features", v);
    ck_assert_int_eq(quality_metrics(&c, img, N, 28, 28, 1, ref, 500, QUALITY_STATS_KEEP, &keep, &q), DDPM_OK);
    ck_assert(q.fd != plain.fd);

    /* killed after batch 0: batch 0 is kept (its mark stays), batches 1 and 2 are computed */
    for (size_t i = (size_t)500 * D; i < all; i++) v[i] = NAN;
    overwrite_f32(f, "sample_features", v);
    interrupt_after_batch0(f);
    ck_assert_int_eq(quality_metrics(&c, img, N, 28, 28, 1, ref, 500, QUALITY_STATS_KEEP, &keep, &q), DDPM_OK);
    ck_assert(!h5io_exists(f, "sample_features_batches_done"));
    ck_assert_int_eq(h5io_read_f32(f, "sample_features", &w, &rank, d), DDPM_OK);
    ck_assert(w[0] == v[0]);
    ck_assert_int_eq(memcmp(w + 500 * D, feats + 500 * D, (all - 500 * D) * sizeof(float)), 0);
    ddpm_free(w);

    /* the same interruption of an honest run resumes to the uninterrupted numbers, bit for bit */
    memcpy(v, feats, (size_t)500 * D * sizeof(float));
    overwrite_f32(f, "sample_features", v);
    interrupt_after_batch0(f);
    ck_assert_int_eq(quality_metrics(&c, img, N, 28, 28, 1, ref, 500, QUALITY_STATS_KEEP, &keep, &q), DDPM_OK);
    ck_assert(q.fd == plain.fd && q.is_mean == plain.is_mean && q.is_std == plain.is_std);

    /* features of other images there are replaced, not used */
    v[0] += 100.0f;
    overwrite_f32(f, "sample_features", v);
    img[0] ^= 1;
    ck_assert_int_eq(quality_metrics(&c, img, N, 28, 28, 1, ref, 500, QUALITY_STATS_KEEP, &keep, &q), DDPM_OK);
    ck_assert_int_eq(h5io_read_f32(f, "sample_features", &w, &rank, d), DDPM_OK);
    ck_assert(w[0] != v[0]);
    ck_assert_int_eq(memcmp(w + D, feats + D, (all - D) * sizeof(float)), 0);
    ddpm_free(w);

    ck_assert_int_eq(h5io_close(f), DDPM_OK);
    ddpm_free(feats);
    free(v);
    free(img);
    unlink(path);
    unlink(ref);
}
END_TEST

/* ---- ddpm_model ---- */

START_TEST(model_geometry_and_chunked_denoise)
{
    ddpm_config c;
    fmnist_config(&c);
    ddpm_model m1, m5;
    ck_assert_msg(ddpm_model_open(&m1, &c, NULL, "ema", 2) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_msg(ddpm_model_open(&m5, &c, NULL, "ema", 5) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert(m1.H == 28 && m1.W == 28 && m1.C == 1 && m1.Cout == 1 && m1.D == 784 && m1.max_batch == 2);
    ck_assert_int_eq(m1.diff.T, 4);
    enum { B = 5 };
    float *x = malloc(sizeof(float) * B * 784), *y1 = malloc(sizeof(float) * B * 784),
          *y5 = malloc(sizeof(float) * B * 784);
    for (int i = 0; i < B * 784; i++) x[i] = sinf(0.01f * (float)i);
    int32_t t[B] = { 0, 1, 2, 3, 1 };
    /* B = 5 through max_batch 2 (chunks 2, 2, 1) and through one forward of 5 */
    ck_assert_int_eq(ddpm_model_denoise(&m1, x, t, B, y1), DDPM_OK);
    ck_assert_int_eq(ddpm_model_denoise(&m5, x, t, B, y5), DDPM_OK);
    ck_assert(test_allclose_f32("denoise chunked vs whole", y1, y5, (size_t)B * 784, 1e-5, 1e-6));
    double s = 0;
    for (int i = 0; i < B * 784; i++) s += fabs((double)y1[i]);
    ck_assert(s > 0); /* an initialised network, not zeros */
    free(x);
    free(y1);
    free(y5);
    ddpm_model_close(&m1);
    ddpm_model_close(&m5);

    ddpm_config l = c;
    ck_assert_int_eq(config_set(&l, "model_var_type=learned"), DDPM_OK);
    ck_assert_int_eq(config_set(&l, "loss_type=kl"), DDPM_OK);
    ck_assert_int_eq(ddpm_model_open(&m1, &l, NULL, "ema", 0), DDPM_OK);
    ck_assert(m1.Cout == 2 && m1.max_batch == 1);
    ddpm_model_close(&m1);
}
END_TEST

START_TEST(sampling_and_likelihood_do_not_depend_on_the_batch)
{
    ddpm_config c;
    fmnist_config(&c);
    ddpm_model m;
    ck_assert_int_eq(ddpm_model_open(&m, &c, NULL, "ema", 3), DDPM_OK);
    enum { N = 3 };
    float *a = malloc(sizeof(float) * N * 784), *b = malloc(sizeof(float) * N * 784);
    ck_assert_msg(ddpm_generate(&m, N, 11, 1, a, 0, NULL, NULL, NULL) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_int_eq(ddpm_generate(&m, N, 11, 3, b, 0, NULL, NULL, NULL), DDPM_OK);
    ck_assert(test_allclose_f32("samples batch 1 vs 3", a, b, (size_t)N * 784, 1e-4, 1e-5));
    for (int i = 0; i < N * 784; i++) ck_assert(isfinite(a[i]));
    /* another seed, other samples */
    ck_assert_int_eq(ddpm_generate(&m, 1, 12, 1, b, 0, NULL, NULL, NULL), DDPM_OK);
    ck_assert(memcmp(a, b, sizeof(float) * 784) != 0);

    double tot1[N], tot3[N], prior[N], terms[N * 4];
    for (int i = 0; i < N * 784; i++) a[i] = a[i] > 1 ? 1 : a[i] < -1 ? -1 : a[i];
    ck_assert_int_eq(ddpm_eval_bpd(&m, a, N, 1, 5, tot1, prior, terms, NULL, NULL), DDPM_OK);
    ck_assert_int_eq(ddpm_eval_bpd(&m, a, N, 3, 5, tot3, NULL, NULL, NULL, NULL), DDPM_OK);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(isfinite(tot1[i]) && tot1[i] > 0, "bpd %g", tot1[i]);
        ck_assert_msg(fabs(tot1[i] - tot3[i]) <= 1e-6 * tot1[i], "%g vs %g", tot1[i], tot3[i]);
        /* the total is the prior term plus the T terms */
        double s = prior[i];
        for (int t = 0; t < 4; t++) s += terms[i * 4 + t];
        ck_assert_msg(fabs(s - tot1[i]) <= 1e-9 * tot1[i], "prior + terms %g, total %g", s, tot1[i]);
    }
    free(a);
    free(b);
    ddpm_model_close(&m);
}
END_TEST

START_TEST(model_reads_checkpoint_weights)
{
    ddpm_config c;
    fmnist_config(&c);
    ddpm_model fresh, loaded;
    ck_assert_int_eq(ddpm_model_open(&fresh, &c, NULL, "ema", 1), DDPM_OK);
    const char *ck = test_tmp_path("eval_ckpt.h5");
    const size_t np = unet_num_params(fresh.net);
    float *ema = malloc(np * sizeof *ema);
    for (size_t i = 0; i < np; i++) ema[i] = 0.5f * unet_params(fresh.net)[i];
    char *argv[] = { "test_eval" };
    ck_assert_msg(checkpoint_save(ck, &c, fresh.net, unet_params(fresh.net), ema, NULL, 3, 1, argv) == DDPM_OK, "%s",
                  ddpm_last_error());
    ck_assert_msg(ddpm_model_open(&loaded, &c, ck, "model", 1) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_int_eq(memcmp(unet_params(loaded.net), unet_params(fresh.net), np * sizeof(float)), 0);
    ddpm_model_close(&loaded);
    ck_assert_int_eq(ddpm_model_open(&loaded, &c, ck, "ema", 1), DDPM_OK);
    ck_assert_int_eq(memcmp(unet_params(loaded.net), ema, np * sizeof(float)), 0);
    ddpm_model_close(&loaded);
    /* a missing checkpoint is an error naming it, and leaves nothing open */
    const char *missing = test_tmp_path("eval_no_ckpt.h5");
    ck_assert_int_eq(ddpm_model_open(&loaded, &c, missing, "ema", 1), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "eval_no_ckpt.h5"), "%s", ddpm_last_error());
    ck_assert_ptr_null(loaded.net);
    free(ema);
    unlink(ck);
    ddpm_model_close(&fresh);
}
END_TEST

static Suite *eval_suite(void)
{
    Suite *s = suite_create("eval");
    TCase *q = tcase_create("quality");
    tcase_set_timeout(q, 120);
    tcase_add_test(q, fmnist_extractor_is_the_classifier_by_name);
    tcase_add_test(q, no_extractor_says_what_to_do);
    tcase_add_test(q, reference_stats_are_cached_and_guarded);
    tcase_add_test(q, sample_features_are_kept_and_resumed);
    suite_add_tcase(s, q);
    TCase *m = tcase_create("ddpm_model");
    tcase_set_timeout(m, 120);
    tcase_add_test(m, model_geometry_and_chunked_denoise);
    tcase_add_test(m, sampling_and_likelihood_do_not_depend_on_the_batch);
    tcase_add_test(m, model_reads_checkpoint_weights);
    suite_add_tcase(s, m);
    return s;
}

TEST_MAIN(eval_suite)
