/* Philox4x32-10 against Random123's published known-answer vectors; stream independence and
 * reproducibility; moments and a Kolmogorov–Smirnov test of the normals. */
#include "testutil.h"

#include "core/rng.h"

#include <math.h>
#include <stdlib.h>

START_TEST(kat_vectors)
{
    static const uint32_t ctr[3][4] = { { 0, 0, 0, 0 },
                                        { 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu },
                                        { 0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u } };
    static const uint32_t key[3][2] = { { 0, 0 }, { 0xffffffffu, 0xffffffffu }, { 0xa4093822u, 0x299f31d0u } };
    static const uint32_t want[3][4] = { { 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u },
                                         { 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu },
                                         { 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u } };
    for (int k = 0; k < 3; k++) {
        uint32_t out[4];
        philox4x32_10(ctr[k], key[k], out);
        for (int i = 0; i < 4; i++) ck_assert_uint_eq(out[i], want[k][i]);
    }
}
END_TEST

START_TEST(element_access_matches_fill)
{
    /* The value of element j does not depend on how many elements are drawn or in which order. */
    rng_stream s = rng_stream_make(42, RNG_NOISE, 7, 3);
    float a[37], b[37];
    rng_uniform_fill(s, a, 37);
    for (int j = 36; j >= 0; j--) b[j] = rng_uniform(s, (uint64_t)j);
    for (int j = 0; j < 37; j++) ck_assert(a[j] == b[j]);
    float n1[11], n2[37];
    rng_normal_fill(s, n1, 11);
    rng_normal_fill(s, n2, 37);
    for (int j = 0; j < 11; j++) ck_assert(n1[j] == n2[j]);
}
END_TEST

START_TEST(streams_differ)
{
    float a[8], b[8], c[8], d[8], e[8];
    rng_uniform_fill(rng_stream_make(1, RNG_NOISE, 0, 0), a, 8);
    rng_uniform_fill(rng_stream_make(2, RNG_NOISE, 0, 0), b, 8);
    rng_uniform_fill(rng_stream_make(1, RNG_FLIP, 0, 0), c, 8);
    rng_uniform_fill(rng_stream_make(1, RNG_NOISE, 1, 0), d, 8);
    rng_uniform_fill(rng_stream_make(1, RNG_NOISE, 0, 1), e, 8);
    int same_b = 0, same_c = 0, same_d = 0, same_e = 0;
    for (int j = 0; j < 8; j++) {
        same_b += a[j] == b[j];
        same_c += a[j] == c[j];
        same_d += a[j] == d[j];
        same_e += a[j] == e[j];
        ck_assert(a[j] > 0.0f && a[j] < 1.0f);
    }
    ck_assert_int_eq(same_b + same_c + same_d + same_e, 0);
}
END_TEST

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

START_TEST(normal_moments_and_ks)
{
    enum { N = 200000 };
    double *z = malloc(N * sizeof *z);
    rng_normal_fill_f64(rng_stream_make(2024, RNG_EVAL, 0, 0), z, N);
    double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
    for (int i = 0; i < N; i++) {
        m1 += z[i];
        m2 += z[i] * z[i];
        m3 += z[i] * z[i] * z[i];
        m4 += z[i] * z[i] * z[i] * z[i];
    }
    m1 /= N;
    m2 /= N;
    m3 /= N;
    m4 /= N;
    /* Standard errors at N=2e5: mean 0.0022, E z^2 0.0032, E z^3 0.0055, E z^4 0.017; 5 sigma. */
    ck_assert_msg(fabs(m1) < 0.011, "mean %g", m1);
    ck_assert_msg(fabs(m2 - 1) < 0.016, "E z^2 %g", m2);
    ck_assert_msg(fabs(m3) < 0.028, "E z^3 %g", m3);
    ck_assert_msg(fabs(m4 - 3) < 0.09, "E z^4 %g", m4);
    qsort(z, N, sizeof *z, cmp_double);
    double dmax = 0;
    for (int i = 0; i < N; i++) {
        double F = 0.5 * erfc(-z[i] / sqrt(2.0));
        double d1 = fabs(F - (double)i / N), d2 = fabs(F - (double)(i + 1) / N);
        if (d1 > dmax) dmax = d1;
        if (d2 > dmax) dmax = d2;
    }
    /* KS critical value at alpha = 0.001: 1.95 / sqrt(N) = 0.00436. */
    ck_assert_msg(dmax < 1.95 / sqrt((double)N), "KS D = %g", dmax);
    free(z);
}
END_TEST

START_TEST(below_is_uniform)
{
    enum { N = 100000, K = 7 };
    int hist[K] = { 0 };
    rng_stream s = rng_stream_make(5, RNG_TIMESTEP, 0, 0);
    for (int j = 0; j < N; j++) {
        uint32_t v = rng_below(s, (uint64_t)j, K);
        ck_assert_uint_lt(v, K);
        hist[v]++;
    }
    /* chi-square with 6 dof; 0.999 quantile 22.46 */
    double chi = 0, e = (double)N / K;
    for (int k = 0; k < K; k++) chi += (hist[k] - e) * (hist[k] - e) / e;
    ck_assert_msg(chi < 22.46, "chi2 %g", chi);
}
END_TEST

static Suite *rng_suite(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, kat_vectors);
    tcase_add_test(tc, element_access_matches_fill);
    tcase_add_test(tc, streams_differ);
    tcase_add_test(tc, normal_moments_and_ks);
    tcase_add_test(tc, below_is_uniform);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(rng_suite)
