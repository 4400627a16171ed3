/* test_fid.c — feature statistics, Fréchet distance, Inception Score and statistics files,
 * against scripts/gen_fid_reference.py (numpy/scipy as pytorch-fid computes them, plus a
 * 40-digit mpmath evaluation of the same formula) and against closed forms. */
#include "core/common.h"
#include "features/fid.h"
#include "features/inception_score.h"
#include "io/h5io.h"
#include "testutil.h"

#define REF         "tests/data/fid_ref.h5"
#define REF_VERSION 1
#define EPS64       0x1p-52

static hid_t open_ref(void) { return test_ref_open(REF, REF_VERSION, "scripts/gen_fid_reference.py"); }

typedef struct {
    int N, D;
    float *a, *b;
    double *mu_a, *sigma_a, *mu_b, *sigma_b;
    double fid_pytorch_fid, fid_eig64, fid_mp;
} fid_case;

static void load_case(hid_t h, const char *name, fid_case *c)
{
    char ds[64];
    int r;
    hsize_t d[H5IO_MAX_RANK];
    snprintf(ds, sizeof ds, "%s/a", name);
    ck_assert(h5io_read_f32(h, ds, &c->a, &r, d) == DDPM_OK && r == 2);
    c->N = (int)d[0];
    c->D = (int)d[1];
    snprintf(ds, sizeof ds, "%s/b", name);
    ck_assert(h5io_read_f32(h, ds, &c->b, NULL, NULL) == DDPM_OK);
    snprintf(ds, sizeof ds, "%s/mu_a", name);
    ck_assert(h5io_read_f64(h, ds, &c->mu_a, NULL, NULL) == DDPM_OK);
    snprintf(ds, sizeof ds, "%s/sigma_a", name);
    ck_assert(h5io_read_f64(h, ds, &c->sigma_a, NULL, NULL) == DDPM_OK);
    snprintf(ds, sizeof ds, "%s/mu_b", name);
    ck_assert(h5io_read_f64(h, ds, &c->mu_b, NULL, NULL) == DDPM_OK);
    snprintf(ds, sizeof ds, "%s/sigma_b", name);
    ck_assert(h5io_read_f64(h, ds, &c->sigma_b, NULL, NULL) == DDPM_OK);
    ck_assert(h5io_get_attr_f64(h, name, "fid_pytorch_fid", &c->fid_pytorch_fid) == DDPM_OK);
    ck_assert(h5io_get_attr_f64(h, name, "fid_eig64", &c->fid_eig64) == DDPM_OK);
    ck_assert(h5io_get_attr_f64(h, name, "fid_mp", &c->fid_mp) == DDPM_OK);
}

static void free_case(fid_case *c)
{
    ddpm_free(c->a);
    ddpm_free(c->b);
    ddpm_free(c->mu_a);
    ddpm_free(c->sigma_a);
    ddpm_free(c->mu_b);
    ddpm_free(c->sigma_b);
}

static double frobenius(const double *s, int D)
{
    double t = 0;
    for (size_t i = 0; i < (size_t)D * D; i++) t += s[i] * s[i];
    return sqrt(t);
}

/* Absolute error of the FID when the covariances are singular (N - 1 < D): each of the
 * D - (N - 1) eigenvalues of A s2 A that are exactly 0 comes out of float64 products and the
 * eigensolver as about +-eps ||M||, ||M|| <= ||s1||_F ||s2||_F, and enters the trace through
 * its square root; the FID carries twice that. (First-order model with constant 1.) */
static double null_space_bound(const double *s1, const double *s2, int D, int N)
{
    int nnull = D - (N - 1) > 0 ? D - (N - 1) : 0;
    return 2.0 * nnull * sqrt(EPS64 * frobenius(s1, D) * frobenius(s2, D));
}

START_TEST(test_feature_stats_vs_numpy)
{
    hid_t h = open_ref();
    static const char *cases[] = { "wellcond", "singular" };
    for (int i = 0; i < 2; i++) {
        fid_case c;
        load_case(h, cases[i], &c);
        double *mu = ddpm_alloc(sizeof(double) * c.D), *sg = ddpm_alloc(sizeof(double) * c.D * c.D);
        ck_assert(feature_stats(c.a, c.N, c.D, mu, sg) == DDPM_OK);
        /* both are float64 two-pass sums over N <= 500 terms of the same float32 inputs: the
         * orders differ, error <= N eps sum|terms| ~ 1e-13 relative; 1e-11 leaves margin */
        ck_assert(test_allclose_f64(cases[i], mu, c.mu_a, (size_t)c.D, 1e-11, 1e-13));
        ck_assert(test_allclose_f64(cases[i], sg, c.sigma_a, (size_t)c.D * c.D, 1e-11, 1e-13));
        for (int r = 0; r < c.D; r++) /* exactly symmetric */
            for (int q = 0; q < r; q++) ck_assert(sg[(size_t)r * c.D + q] == sg[(size_t)q * c.D + r]);
        ddpm_free(mu);
        ddpm_free(sg);
        free_case(&c);
    }
    float two[4] = { 1, 2, 3, 4 };
    double mu[2], sg[4];
    ck_assert(feature_stats(two, 1, 2, mu, sg) == DDPM_ERR); /* N = 1: covariance undefined */
    ck_assert(feature_stats(two, 2, 2, mu, sg) == DDPM_OK);
    ck_assert(mu[0] == 2 && mu[1] == 3 && sg[0] == 2 && sg[1] == 2 && sg[3] == 2); /* N-1 */
    h5io_close(h);
}
END_TEST

START_TEST(test_fid_well_conditioned)
{
    hid_t h = open_ref();
    fid_case c;
    load_case(h, "wellcond", &c);
    double fid, fid_ba, fid_own;
    ck_assert(frechet_distance(c.mu_a, c.sigma_a, c.mu_b, c.sigma_b, c.D, &fid) == DDPM_OK);
    ck_assert(frechet_distance(c.mu_b, c.sigma_b, c.mu_a, c.sigma_a, c.D, &fid_ba) == DDPM_OK);
    /* end to end from the features */
    double *m1 = ddpm_alloc(sizeof(double) * c.D), *s1 = ddpm_alloc(sizeof(double) * c.D * c.D);
    double *m2 = ddpm_alloc(sizeof(double) * c.D), *s2 = ddpm_alloc(sizeof(double) * c.D * c.D);
    ck_assert(feature_stats(c.a, c.N, c.D, m1, s1) == DDPM_OK && feature_stats(c.b, c.N, c.D, m2, s2) == DDPM_OK);
    ck_assert(frechet_distance(m1, s1, m2, s2, c.D, &fid_own) == DDPM_OK);
    double e_mp = fabs(fid - c.fid_mp) / c.fid_mp, e_sp = fabs(fid - c.fid_pytorch_fid) / c.fid_mp;
    double e_sym = fabs(fid - fid_ba) / c.fid_mp, e_own = fabs(fid_own - c.fid_mp) / c.fid_mp;
    fprintf(stderr,
            "wellcond: FID %.12g; rel err vs mpmath %.2e, vs pytorch-fid %.2e, "
            "FID(b,a) %.2e, from own stats %.2e\n",
            fid, e_mp, e_sp, e_sym, e_own);
    /* full-rank covariances: float64 routes agree to ~1e-13; 1e-6 is the FID-level criterion */
    ck_assert(e_mp <= 1e-6 && e_sp <= 1e-6 && e_sym <= 1e-6 && e_own <= 1e-6);
    ddpm_free(m1);
    ddpm_free(s1);
    ddpm_free(m2);
    ddpm_free(s2);
    free_case(&c);
    h5io_close(h);
}
END_TEST

START_TEST(test_fid_singular_covariance)
{
    hid_t h = open_ref();
    fid_case c;
    load_case(h, "singular", &c);
    double fid, fid_ba;
    ck_assert(frechet_distance(c.mu_a, c.sigma_a, c.mu_b, c.sigma_b, c.D, &fid) == DDPM_OK);
    ck_assert(frechet_distance(c.mu_b, c.sigma_b, c.mu_a, c.sigma_a, c.D, &fid_ba) == DDPM_OK);
    double bound = null_space_bound(c.sigma_a, c.sigma_b, c.D, c.N);
    fprintf(stderr,
            "singular (N=%d < D=%d): FID %.12g mpmath %.12g; |C - mp| %.2e, "
            "|pytorch-fid - mp| %.2e, |numpy eig - mp| %.2e, |FID(b,a) - FID(a,b)| %.2e; bound %.2e\n",
            c.N, c.D, fid, c.fid_mp, fabs(fid - c.fid_mp), fabs(c.fid_pytorch_fid - c.fid_mp),
            fabs(c.fid_eig64 - c.fid_mp), fabs(fid - fid_ba), bound);
    /* rank-deficient: 25 true zero eigenvalues each contribute sqrt(eps*||M||)-sized noise in
     * any float64 route (scipy's sqrtm included), so the tolerance is that bound, not 1e-6 */
    ck_assert(fabs(fid - c.fid_mp) <= bound);
    ck_assert(fabs(fid - fid_ba) <= 2 * bound);
    free_case(&c);
    h5io_close(h);
}
END_TEST

START_TEST(test_fid_properties)
{
    hid_t h = open_ref();
    static const char *cases[] = { "wellcond", "singular" };
    for (int i = 0; i < 2; i++) {
        fid_case c;
        load_case(h, cases[i], &c);
        double self, sp_self;
        ck_assert(frechet_distance(c.mu_a, c.sigma_a, c.mu_a, c.sigma_a, c.D, &self) == DDPM_OK);
        ck_assert(h5io_get_attr_f64(h, cases[i], "fid_self_pytorch_fid", &sp_self) == DDPM_OK);
        /* 1e-6 absolute; with a singular covariance the null-space round-off (see
         * null_space_bound) is larger than that for any float64 route, pytorch-fid's included */
        double tol = fmax(1e-6, null_space_bound(c.sigma_a, c.sigma_a, c.D, c.N));
        fprintf(stderr, "%s: FID(x, x) = %.3g (pytorch-fid's route: %.3g), tolerance %.2g\n", cases[i], self, sp_self,
                tol);
        ck_assert(fabs(self) <= tol);
        free_case(&c);
    }
    /* diagonal covariances have the closed form sum (sqrt(a_i) - sqrt(b_i))^2 */
    enum { D = 7 };
    double mu1[D], mu2[D], s1[D * D] = { 0 }, s2[D * D] = { 0 }, want = 0, got;
    for (int j = 0; j < D; j++) {
        double a = 0.5 + j, b = 2.0 / (j + 1);
        mu1[j] = j * 0.1;
        mu2[j] = -j * 0.2;
        s1[j * D + j] = a;
        s2[j * D + j] = b;
        want += (mu1[j] - mu2[j]) * (mu1[j] - mu2[j]) + (sqrt(a) - sqrt(b)) * (sqrt(a) - sqrt(b));
    }
    ck_assert(frechet_distance(mu1, s1, mu2, s2, D, &got) == DDPM_OK);
    fprintf(stderr, "diagonal closed form: got %.15g want %.15g\n", got, want);
    ck_assert(fabs(got - want) <= 1e-12 * want);
    s1[3] = (double)NAN;
    ck_assert(frechet_distance(mu1, s1, mu2, s2, D, &got) == DDPM_ERR);
    h5io_close(h);
}
END_TEST

START_TEST(test_inception_score_vs_numpy)
{
    hid_t h = open_ref();
    float *logits;
    int r;
    hsize_t d[H5IO_MAX_RANK];
    ck_assert(h5io_read_f32(h, "is/logits", &logits, &r, d) == DDPM_OK && r == 2);
    int N = (int)d[0], K = (int)d[1];
    static const int splits[] = { 1, 7, 10 };
    for (int i = 0; i < 3; i++) {
        char a[32], b[32];
        double want_m, want_s, m, s;
        snprintf(a, sizeof a, "mean_splits%d", splits[i]);
        snprintf(b, sizeof b, "std_splits%d", splits[i]);
        ck_assert(h5io_get_attr_f64(h, "is", a, &want_m) == DDPM_OK &&
                  h5io_get_attr_f64(h, "is", b, &want_s) == DDPM_OK);
        ck_assert(inception_score(logits, N, K, splits[i], &m, &s) == DDPM_OK);
        fprintf(stderr, "IS splits=%d: %.12g +- %.12g (numpy %.12g +- %.12g)\n", splits[i], m, s, want_m, want_s);
        /* double softmax/KL over 1008 classes: both sides ~1e-14; 1e-9 relative as specified */
        ck_assert(fabs(m - want_m) <= 1e-9 * want_m);
        ck_assert(fabs(s - want_s) <= 1e-9 * want_m);
    }
    /* closed forms: identical rows give IS 1; N one-hot-like rows on distinct classes give ~N */
    float *flat = calloc((size_t)20 * 50, sizeof *flat);
    double m, s;
    ck_assert(inception_score(flat, 20, 50, 2, &m, &s) == DDPM_OK);
    ck_assert(fabs(m - 1.0) <= 1e-12 && s <= 1e-12);
    for (int i = 0; i < 20; i++) flat[i * 50 + i] = 80.0f; /* p ~ one-hot, e^-80 elsewhere */
    ck_assert(inception_score(flat, 20, 50, 1, &m, &s) == DDPM_OK);
    fprintf(stderr, "20 distinct confident classes: IS %.9g\n", m);
    ck_assert(fabs(m - 20.0) <= 1e-6);
    ck_assert(inception_score(flat, 20, 50, 21, &m, &s) == DDPM_ERR); /* more splits than rows */
    free(flat);
    ddpm_free(logits);
    h5io_close(h);
}
END_TEST

START_TEST(test_stats_files)
{
    hid_t h = open_ref();
    fid_case c;
    load_case(h, "wellcond", &c);
    h5io_close(h);
    const char *sp = test_tmp_path("stats.h5"), *fp = test_tmp_path("feats.h5");
    ck_assert(stats_save(sp, c.mu_a, c.sigma_a, c.D, "inception-pool3", NULL) == DDPM_OK);
    double *mu, *sg;
    int D;
    ck_assert(stats_load(sp, &mu, &sg, &D) == DDPM_OK && D == c.D);
    ck_assert(memcmp(mu, c.mu_a, sizeof(double) * D) == 0 && memcmp(sg, c.sigma_a, sizeof(double) * D * D) == 0);
    ddpm_free(mu);
    ddpm_free(sg);
    /* a feature file (dataset "features") goes through feature_stats */
    hid_t f = h5io_create(fp);
    hsize_t dims[2] = { (hsize_t)c.N, (hsize_t)c.D };
    ck_assert(h5io_write_f32(f, "features", c.a, 2, dims) == DDPM_OK);
    ck_assert(h5io_attr_str(f, ".", "extractor", "classifier-fmnist") == DDPM_OK);
    h5io_close(f);
    char ex[64];
    long n;
    ck_assert(stats_load_any(fp, &mu, &sg, &D, ex, sizeof ex, &n) == DDPM_OK);
    ck_assert(D == c.D && n == c.N && !strcmp(ex, "classifier-fmnist"));
    ck_assert(test_allclose_f64("stats_load_any sigma", sg, c.sigma_a, (size_t)D * D, 1e-11, 1e-13));
    ddpm_free(mu);
    ddpm_free(sg);
    ck_assert(stats_load_any(sp, &mu, &sg, &D, ex, sizeof ex, &n) == DDPM_OK);
    ck_assert(n == 0 && !strcmp(ex, "inception-pool3"));
    ddpm_free(mu);
    ddpm_free(sg);
    /* a file with neither is an error naming it */
    f = h5io_create(fp);
    ck_assert(h5io_write_f32(f, "other", c.a, 2, dims) == DDPM_OK);
    h5io_close(f);
    ck_assert(stats_load_any(fp, &mu, &sg, &D, NULL, 0, NULL) == DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "feats.h5") != NULL);
    remove(sp);
    remove(fp);
    free_case(&c);
}
END_TEST

static Suite *fid_suite(void)
{
    Suite *s = suite_create("fid");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_feature_stats_vs_numpy);
    tcase_add_test(tc, test_fid_well_conditioned);
    tcase_add_test(tc, test_fid_singular_covariance);
    tcase_add_test(tc, test_fid_properties);
    tcase_add_test(tc, test_inception_score_vs_numpy);
    tcase_add_test(tc, test_stats_files);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(fid_suite)
