/* test_classifier.c — the shipped Fashion-MNIST extractor (src/features/classifier.h):
 * accuracy of the shipped weights, FD_fmnist / IS_fmnist sanity, determinism of training,
 * load errors. Needs experiments/classifier/fmnist_classifier.h5 and the Fashion-MNIST data
 * (dataset-fashion-mnist); run from the repository root. */
#include "testutil.h"

#include "core/common.h"
#include "core/config.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "features/classifier.h"
#include "features/fid.h"
#include "features/inception_score.h"
#include "io/h5io.h"

#include <cblas.h>
#include <omp.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

/* Loaded once in the runner process (unchecked fixture) and shared by the forked tests. The
 * parent runs no OpenMP region before Check forks (libgomp's thread pool does not survive a
 * fork), so everything that computes happens inside the tests. */
static fmnist_classifier *clf;
static dataset train_ds, test_ds;
static int D;
static double *train_mu, *train_sigma; /* statistics of the first 10k training images */

#define N_TRAIN_STATS 10000

static void load_all(void)
{
    if (classifier_load(&clf, CLASSIFIER_DEFAULT_PATH) != DDPM_OK) {
        fprintf(stderr, "test_classifier: %s\n", ddpm_last_error());
        return;
    }
    ddpm_config cfg;
    config_defaults(&cfg);
    cfg.dataset = DATASET_FASHION_MNIST;
    cfg.image_size = 28;
    if (dataset_load(&train_ds, &cfg, 1) != DDPM_OK || dataset_load(&test_ds, &cfg, 0) != DDPM_OK) {
        fprintf(stderr, "test_classifier: %s\n", ddpm_last_error());
        classifier_free(clf);
        clf = NULL;
        return;
    }
    D = classifier_feature_dim(clf);
}

static void free_all(void)
{
    classifier_free(clf);
    dataset_free(&train_ds);
    dataset_free(&test_ds);
}

/* Statistics of the first 10k training images (inside a test: it runs OpenMP regions). */
static void train_stats(void)
{
    float *f = ddpm_alloc((size_t)N_TRAIN_STATS * D * sizeof(float));
    train_mu = ddpm_alloc((size_t)D * sizeof(double));
    train_sigma = ddpm_alloc((size_t)D * D * sizeof(double));
    ck_assert(f && train_mu && train_sigma);
    ck_assert_int_eq(classifier_features(clf, train_ds.pixels, N_TRAIN_STATS, f, NULL), DDPM_OK);
    ck_assert_int_eq(feature_stats(f, N_TRAIN_STATS, D, train_mu, train_sigma), DDPM_OK);
    ddpm_free(f);
}

static double file_attr_f64(const char *name)
{
    double v = -1;
    hid_t f = h5io_open(CLASSIFIER_DEFAULT_PATH, 0);
    ck_assert_msg(f >= 0, "%s", ddpm_last_error());
    ck_assert_msg(h5io_get_attr_f64(f, ".", name, &v) == DDPM_OK, "%s", ddpm_last_error());
    h5io_close(f);
    return v;
}

static int64_t file_attr_i64(const char *name)
{
    int64_t v = -1;
    hid_t f = h5io_open(CLASSIFIER_DEFAULT_PATH, 0);
    ck_assert_msg(f >= 0, "%s", ddpm_last_error());
    ck_assert_msg(h5io_get_attr_i64(f, ".", name, &v) == DDPM_OK, "%s", ddpm_last_error());
    h5io_close(f);
    return v;
}

static void file_attr_str(const char *name, char *buf, size_t n)
{
    hid_t f = h5io_open(CLASSIFIER_DEFAULT_PATH, 0);
    ck_assert_msg(f >= 0, "%s", ddpm_last_error());
    ck_assert_msg(h5io_get_attr_str(f, ".", name, buf, n) == DDPM_OK, "%s", ddpm_last_error());
    h5io_close(f);
}

/* FD_fmnist of the first n images of px against the training statistics. */
static double fd_vs_train(const uint8_t *px, int n)
{
    float *f = ddpm_alloc((size_t)n * D * sizeof(float));
    double *mu = ddpm_alloc((size_t)D * sizeof(double));
    double *sigma = ddpm_alloc((size_t)D * D * sizeof(double));
    double fd = -1;
    ck_assert_int_eq(classifier_features(clf, px, n, f, NULL), DDPM_OK);
    ck_assert_int_eq(feature_stats(f, n, D, mu, sigma), DDPM_OK);
    ck_assert_int_eq(frechet_distance(mu, sigma, train_mu, train_sigma, D, &fd), DDPM_OK);
    ddpm_free(f);
    ddpm_free(mu);
    ddpm_free(sigma);
    return fd;
}

START_TEST(test_shipped_accuracy)
{
    ck_assert_msg(clf != NULL, "shipped classifier or data could not be loaded (see above)");
    ck_assert_int_eq(test_ds.N, 10000);
    double acc = 0;
    ck_assert_int_eq(classifier_accuracy(clf, &test_ds, &acc), DDPM_OK);
    const double recorded = file_attr_f64("test_accuracy");
    fprintf(stderr, "shipped classifier: test accuracy %.4f (recorded %.4f)\n", acc, recorded);
    ck_assert_msg(acc >= 0.90, "test accuracy %.4f < 0.90", acc);
    /* Same weights, same images: only the inference batching could differ from training
     * time, so 0.05 percentage points (5 of 10k images) is generous. */
    ck_assert_msg(fabs(acc - recorded) <= 0.0005, "accuracy %.4f vs recorded %.4f", acc, recorded);
}
END_TEST

/* Inference processes fixed chunks on one thread each: 1 and 2 OpenMP threads give the same
 * bits. */
START_TEST(test_features_thread_count_independent)
{
    ck_assert_msg(clf != NULL, "not loaded");
    const int n = 500, K = CLASSIFIER_NUM_CLASSES;
    float *f[2], *l[2];
    for (int t = 0; t < 2; t++) {
        f[t] = ddpm_alloc((size_t)n * D * sizeof(float));
        l[t] = ddpm_alloc((size_t)n * K * sizeof(float));
        omp_set_num_threads(t + 1);
        ck_assert_int_eq(classifier_features(clf, test_ds.pixels, n, f[t], l[t]), DDPM_OK);
    }
    ck_assert(test_allclose_f32("features, 2 vs 1 threads", f[1], f[0], (size_t)n * D, 0, 0));
    ck_assert(test_allclose_f32("logits, 2 vs 1 threads", l[1], l[0], (size_t)n * K, 0, 0));
    for (int t = 0; t < 2; t++) {
        ddpm_free(f[t]);
        ddpm_free(l[t]);
    }
}
END_TEST

/* Features do not depend on how the images are split across calls, up to float32 round-off:
 * OpenBLAS picks its blocking and kernels by matrix size, so a GEMM over a chunk of 1 image
 * and one over 32 sum the same products in different orders. */
START_TEST(test_features_batch_independent)
{
    ck_assert_msg(clf != NULL, "not loaded");
    const int n = 300, K = CLASSIFIER_NUM_CLASSES;
    float *f1 = ddpm_alloc((size_t)n * D * sizeof(float)), *f2 = ddpm_alloc((size_t)n * D * sizeof(float));
    float *l1 = ddpm_alloc((size_t)n * K * sizeof(float)), *l2 = ddpm_alloc((size_t)n * K * sizeof(float));
    const uint8_t *px = test_ds.pixels;
    ck_assert_int_eq(classifier_features(clf, px, n, f1, l1), DDPM_OK);
    ck_assert_int_eq(classifier_features(clf, px, 1, f2, NULL), DDPM_OK);
    ck_assert_int_eq(classifier_features(clf, px + 784, 44, f2 + D, NULL), DDPM_OK);
    ck_assert_int_eq(classifier_features(clf, px + 45 * 784, 255, f2 + 45 * D, NULL), DDPM_OK);
    ck_assert_int_eq(classifier_features(clf, px, n, NULL, l2), DDPM_OK);
    /* The logits-only call repeats the whole-batch call: bit-identical. */
    ck_assert(test_allclose_f32("logits, same batching", l2, l1, (size_t)n * K, 0, 0));
    /* Reordered float32 sums over K <= 3136 products through four layers: a bound of a few
     * hundred float32 ulps at the features' scale (|f| up to ~10) is 1e-5 absolute. */
    ck_assert(test_allclose_f32("features, split vs whole batch", f2, f1, (size_t)n * D, 1e-5, 1e-5));
    ck_assert_int_eq(classifier_features(clf, px, 0, f2, l2), DDPM_OK);
    ddpm_free(f1);
    ddpm_free(f2);
    ddpm_free(l1);
    ddpm_free(l2);
}
END_TEST

/* FD_fmnist: 0 for a set against itself, small for the test set against the training set,
 * and growing with Gaussian noise of increasing sigma ([-1,1] units) on the same test images
 * (the same normal draws scaled by sigma, clipped and re-quantised to uint8). */
START_TEST(test_fd_fmnist)
{
    ck_assert_msg(clf != NULL, "not loaded");
    train_stats();
    double fd_self = -1;
    ck_assert_int_eq(frechet_distance(train_mu, train_sigma, train_mu, train_sigma, D, &fd_self), DDPM_OK);
    const double fd_test = fd_vs_train(test_ds.pixels, test_ds.N);
    fprintf(stderr, "FD_fmnist: train10k vs itself %.3g, test10k vs train10k %.4f\n", fd_self, fd_test);
    /* FD(a, a) = 2 tr(sigma) - 2 tr sqrt(sigma^2) is 0 up to the round-off of the double
     * eigen-decompositions (brief: < 1e-6). */
    ck_assert_msg(fabs(fd_self) < 1e-6, "FD(a, a) = %g", fd_self);
    ck_assert_msg(fd_test > 0, "FD(test, train) = %g", fd_test);

    const int n = 5000;
    const size_t npx = (size_t)n * 784;
    const double sigmas[] = { 0.0, 0.05, 0.1, 0.2, 0.4 };
    float *z = ddpm_alloc(npx * sizeof(float));
    uint8_t *noisy = ddpm_alloc(npx);
    rng_normal_fill(rng_stream_make(7, RNG_EVAL, 0, 0), z, npx);
    double fd[5];
    for (int s = 0; s < 5; s++) {
        for (size_t i = 0; i < npx; i++) {
            double x = test_ds.pixels[i] / 127.5 - 1.0 + sigmas[s] * (double)z[i];
            x = x < -1 ? -1 : x > 1 ? 1 : x;
            noisy[i] = (uint8_t)lround((x + 1.0) * 127.5);
        }
        fd[s] = fd_vs_train(noisy, n);
        fprintf(stderr, "FD_fmnist(test5k + noise sigma %.2f, train10k) = %.4f\n", sigmas[s], fd[s]);
    }
    for (int s = 1; s < 5; s++)
        ck_assert_msg(fd[s] > fd[s - 1], "FD not increasing: sigma %.2f -> %.4f, sigma %.2f -> %.4f", sigmas[s - 1],
                      fd[s - 1], sigmas[s], fd[s]);
    ddpm_free(z);
    ddpm_free(noisy);
    ddpm_free(train_mu);
    ddpm_free(train_sigma);
}
END_TEST

START_TEST(test_is_real_vs_noise)
{
    ck_assert_msg(clf != NULL, "not loaded");
    const int K = CLASSIFIER_NUM_CLASSES, n_noise = 2000;
    float *logits = ddpm_alloc((size_t)test_ds.N * K * sizeof(float));
    ck_assert_int_eq(classifier_features(clf, test_ds.pixels, test_ds.N, NULL, logits), DDPM_OK);
    double is_real = 0, is_real_std = 0, is_noise = 0, is_noise_std = 0;
    ck_assert_int_eq(inception_score(logits, test_ds.N, K, 10, &is_real, &is_real_std), DDPM_OK);
    uint8_t *noise = ddpm_alloc((size_t)n_noise * 784);
    const rng_stream st = rng_stream_make(11, RNG_EVAL, 1, 0);
    for (size_t i = 0; i < (size_t)n_noise * 784; i++) noise[i] = (uint8_t)rng_below(st, i, 256);
    ck_assert_int_eq(classifier_features(clf, noise, n_noise, NULL, logits), DDPM_OK);
    ck_assert_int_eq(inception_score(logits, n_noise, K, 10, &is_noise, &is_noise_std), DDPM_OK);
    fprintf(stderr, "IS_fmnist: real test10k %.4f +- %.4f, uniform noise %.4f +- %.4f (max 10)\n", is_real, is_real_std,
            is_noise, is_noise_std);
    /* A 90%-accurate classifier on 10 balanced classes is confident and uses every class, so
     * IS is near its maximum 10; noise images fall into one or two classes. The bounds are
     * deliberately loose sanity bounds, not fits to the measured values. */
    ck_assert_msg(is_real > 7.0 && is_real <= 10.0, "IS real %.4f", is_real);
    ck_assert_msg(is_noise < 3.0, "IS noise %.4f", is_noise);
    ddpm_free(logits);
    ddpm_free(noise);
}
END_TEST

START_TEST(test_digest_of_loaded_weights)
{
    ck_assert_msg(clf != NULL, "not loaded");
    char want[64], got[17];
    file_attr_str("weights_digest", want, sizeof want);
    classifier_digest(clf, got);
    fprintf(stderr, "weights digest %s (recorded %s)\n", got, want);
    ck_assert_str_eq(got, want);
}
END_TEST

static void recorded_recipe(classifier_train_opts *o)
{
    classifier_train_defaults(o);
    o->seed = (uint64_t)file_attr_i64("seed");
    o->epochs = (int)file_attr_i64("epochs");
    o->batch_size = (int)file_attr_i64("batch_size");
    o->warmup = (int)file_attr_i64("warmup");
    o->randflip = (int)file_attr_i64("randflip");
    o->lr = file_attr_f64("lr");
    o->verbose = 0;
}

/* The OpenBLAS kernel set the shipped file was trained with: the core name in its
 * provenance/openblas_config ("OpenBLAS 0.3.21 ... NO_AFFINITY Haswell MAX_THREADS=64"). */
static int recorded_blas_core(char *core, size_t n)
{
    char cfg[256] = "";
    hid_t f = h5io_open(CLASSIFIER_DEFAULT_PATH, 0);
    if (f < 0) return 0;
    h5io_get_attr_str(f, "provenance", "openblas_config", cfg, sizeof cfg);
    h5io_close(f);
    const char *m = strstr(cfg, " MAX_THREADS");
    if (!m) return 0;
    const char *b = m;
    while (b > cfg && b[-1] != ' ') b--;
    if (b == m || (size_t)(m - b) >= n) return 0;
    memcpy(core, b, (size_t)(m - b));
    core[m - b] = 0;
    return 1;
}

/* Whether this CPU runs OpenBLAS's `core` kernels (the x86 sets a shipped file is likely
 * to name; any other name counts as not runnable). */
static int cpu_runs_blas_core(const char *core)
{
    __builtin_cpu_init();
    if (!strcasecmp(core, "Haswell") || !strcasecmp(core, "Zen"))
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!strcasecmp(core, "SkylakeX")) return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    if (!strcasecmp(core, "Cooperlake")) return __builtin_cpu_supports("avx512bf16");
    if (!strcasecmp(core, "Sandybridge")) return __builtin_cpu_supports("avx");
    return 0;
}

/* Retraining the first 200 steps with the recorded recipe reproduces digest_step200 bit for
 * bit, on the thread count recorded in the file (train_classifier's default is 1) and with the
 * recorded OpenBLAS kernels: where OpenBLAS picked others for this CPU, the case reruns in a
 * child process with OPENBLAS_CORETYPE set to the recorded set (read when the library loads). */
START_TEST(test_retrain_digest_step200)
{
    ck_assert_msg(clf != NULL, "not loaded");
    char core[64];
    if (!getenv("OPENBLAS_CORETYPE") && recorded_blas_core(core, sizeof core) &&
        strcasecmp(core, openblas_get_corename()) != 0) {
        if (cpu_runs_blas_core(core)) {
            fprintf(stderr,
                    "OpenBLAS chose %s kernels here; the digest was recorded with %s: rerunning with "
                    "OPENBLAS_CORETYPE=%s\n",
                    openblas_get_corename(), core, core);
            fflush(stderr);
            pid_t pid = fork();
            ck_assert_int_ge(pid, 0);
            if (pid == 0) {
                setenv("OPENBLAS_CORETYPE", core, 1);
                setenv("CK_RUN_SUITE", "classifier", 1);
                setenv("CK_RUN_CASE", "retrain", 1);
                execl("/proc/self/exe", "test_classifier", (char *)NULL);
                _exit(127);
            }
            int st = 0;
            ck_assert_int_eq(waitpid(pid, &st, 0), pid);
            ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                          "retraining with OPENBLAS_CORETYPE=%s did not reproduce digest_step200 (see above)", core);
            return;
        }
        fprintf(stderr,
                "the digest was recorded with OpenBLAS's %s kernels, which this CPU cannot run; the "
                "comparison below is expected to fail (`make classifier` retrains here)\n",
                core);
    }
    classifier_train_opts o;
    recorded_recipe(&o);
    ck_assert_int_eq((int)file_attr_i64("digest_step"), 200);
    o.stop_after = 200;
    o.digest_at = 200;
    const int threads = (int)file_attr_i64("train_threads");
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    fmnist_classifier *c = NULL;
    classifier_train_report rep;
    ck_assert_msg(classifier_train(&c, &train_ds, &o, &rep) == DDPM_OK, "%s", ddpm_last_error());
    char want[64], got[17], fin[17];
    file_attr_str("digest_step200", want, sizeof want);
    snprintf(got, sizeof got, "%016llx", (unsigned long long)rep.digest_at_value);
    classifier_digest(c, fin);
    fprintf(stderr, "retrained 200 steps in %.1f s: digest %s (recorded %s), loss %.4f\n", rep.seconds, got, want,
            rep.final_loss);
    ck_assert_int_eq(rep.steps_done, 200);
    ck_assert_str_eq(fin, got);   /* the digest after step 200 is that of the returned weights */
    if (strcmp(got, want) != 0) { /* say why it may differ (docs/classifier.md) */
        char cflags[256] = "?", blas[256] = "?";
        hid_t f = h5io_open(CLASSIFIER_DEFAULT_PATH, 0);
        if (f >= 0) {
            h5io_get_attr_str(f, "provenance", "cflags", cflags, sizeof cflags);
            h5io_get_attr_str(f, "provenance", "openblas_config", blas, sizeof blas);
            h5io_close(f);
        }
        fprintf(stderr,
                "digest_step200 differs. Recorded with cflags '%s', %s; now cflags "
                "'%s', %s. Different OpenBLAS kernels or compiler flags change float "
                "rounding; `make classifier` retrains on this machine.\n",
                cflags, blas, DDPM_CFLAGS, openblas_get_config());
    }
    ck_assert_str_eq(got, want);
    classifier_free(c);
}
END_TEST

/* The layers' OpenMP loops have a fixed partition: 20 steps on 1 and on 2 OpenMP threads give
 * bit-identical weights (OpenBLAS held at 1 thread; its thread count does change the GEMM
 * rounding, see docs/classifier.md). */
START_TEST(test_train_omp_thread_count_independent)
{
    ck_assert_msg(clf != NULL, "not loaded");
    classifier_train_opts o;
    recorded_recipe(&o);
    o.stop_after = 20;
    uint64_t d[2];
    openblas_set_num_threads(1);
    for (int t = 1; t <= 2; t++) {
        omp_set_num_threads(t);
        fmnist_classifier *c = NULL;
        classifier_train_report rep;
        ck_assert_msg(classifier_train(&c, &train_ds, &o, &rep) == DDPM_OK, "%s", ddpm_last_error());
        d[t - 1] = classifier_digest(c, NULL);
        classifier_free(c);
    }
    fprintf(stderr, "20 steps: digest with 1 OpenMP thread %016llx, 2 threads %016llx\n", (unsigned long long)d[0],
            (unsigned long long)d[1]);
    ck_assert(d[0] == d[1]);
}
END_TEST

START_TEST(test_load_errors)
{
    ck_assert_msg(clf != NULL, "not loaded");
    fmnist_classifier *c = (fmnist_classifier *)&c; /* must be reset to NULL on error */
    const char *missing = test_tmp_path("no_such_classifier.h5");
    ck_assert_int_eq(classifier_load(&c, missing), DDPM_ERR);
    ck_assert_ptr_null(c);
    fprintf(stderr, "missing file: %s\n", ddpm_last_error());
    ck_assert_ptr_nonnull(strstr(ddpm_last_error(), missing));
    ck_assert_ptr_nonnull(strstr(ddpm_last_error(), "not found; run `make classifier`"));

    /* A copy without fc1/W. */
    const char *path = test_tmp_path("clf_missing_dataset.h5");
    ck_assert_msg(classifier_save(clf, path) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_int_eq(classifier_load(&c, path), DDPM_OK); /* the copy itself loads */
    classifier_free(c);
    hid_t f = h5io_open(path, 1);
    ck_assert(f >= 0);
    ck_assert(H5Ldelete(f, "fc1/W", H5P_DEFAULT) >= 0);
    h5io_close(f);
    ck_assert_int_eq(classifier_load(&c, path), DDPM_ERR);
    fprintf(stderr, "missing dataset: %s\n", ddpm_last_error());
    ck_assert_ptr_nonnull(strstr(ddpm_last_error(), "fc1/W is missing"));

    /* A copy with one bias changed: the digest check catches it. */
    ck_assert_int_eq(classifier_save(clf, path), DDPM_OK);
    f = h5io_open(path, 1);
    ck_assert(f >= 0);
    float *b = NULL;
    ck_assert_int_eq(h5io_read_f32(f, "logits/b", &b, NULL, NULL), DDPM_OK);
    b[3] += 1e-3f;
    const hsize_t dims[1] = { CLASSIFIER_NUM_CLASSES };
    ck_assert_int_eq(h5io_write_f32(f, "logits/b", b, 1, dims), DDPM_OK);
    ddpm_free(b);
    h5io_close(f);
    ck_assert_int_eq(classifier_load(&c, path), DDPM_ERR);
    fprintf(stderr, "modified weights: %s\n", ddpm_last_error());
    ck_assert_ptr_nonnull(strstr(ddpm_last_error(), "does not match the recorded"));

    /* A file that is not HDF5. */
    FILE *t = fopen(path, "w");
    ck_assert_ptr_nonnull(t);
    fputs("not hdf5\n", t);
    fclose(t);
    ck_assert_int_eq(classifier_load(&c, path), DDPM_ERR);
    fprintf(stderr, "not HDF5: %s\n", ddpm_last_error());
    ck_assert_ptr_nonnull(strstr(ddpm_last_error(), "make classifier"));
    remove(path);
}
END_TEST

static Suite *classifier_suite(void)
{
    Suite *s = suite_create("classifier");
    TCase *tc = tcase_create("shipped");
    tcase_add_unchecked_fixture(tc, load_all, free_all);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_shipped_accuracy);
    tcase_add_test(tc, test_features_batch_independent);
    tcase_add_test(tc, test_features_thread_count_independent);
    tcase_add_test(tc, test_digest_of_loaded_weights);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_fd_fmnist);
    tcase_add_test(tc, test_is_real_vs_noise);
    tcase_add_test(tc, test_train_omp_thread_count_independent);
    suite_add_tcase(s, tc);
    /* Its own case, so it can rerun alone under other OpenBLAS kernels (CK_RUN_CASE=retrain). */
    TCase *tr = tcase_create("retrain");
    tcase_add_unchecked_fixture(tr, load_all, free_all);
    tcase_set_timeout(tr, 240);
    tcase_add_test(tr, test_retrain_digest_step200);
    suite_add_tcase(s, tr);
    return s;
}

TEST_MAIN(classifier_suite)
