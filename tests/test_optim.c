/* Optimiser arithmetic (src/train/optim.c) against hand-computed values: global norm, TF
 * clip_by_global_norm, warmup, TF Adam and the EMA. The values are float32 computations of a
 * few operations each, so they must agree with the exact decimal results to a few float32
 * ulps: tolerance 1e-6 absolute on O(1) numbers (float32 ulp at 1 is 1.2e-7). */
#include "testutil.h"

#include "nn/parallel.h"
#include "train/optim.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define F32_TOL 1e-6

START_TEST(global_norm_and_clip)
{
    float g[2] = { 3.0f, 4.0f };
    ck_assert(grad_global_norm(g, 2) == 5.0);
    /* norm above clip: scaled by clip/norm = 1/5 */
    ck_assert(clip_grad_global_norm(g, 2, 1.0) == 5.0);
    ck_assert(fabs((double)g[0] - 0.6) < F32_TOL && fabs((double)g[1] - 0.8) < F32_TOL);
    /* norm 1 below clip 10: untouched (scale clip / max(norm, clip) = 1) */
    ck_assert(fabs(clip_grad_global_norm(g, 2, 10.0) - 1.0) < F32_TOL);
    ck_assert(fabs((double)g[0] - 0.6) < F32_TOL && fabs((double)g[1] - 0.8) < F32_TOL);
    /* zero gradient: norm 0, nothing changes, no division by zero */
    float z[3] = { 0, 0, 0 };
    ck_assert(clip_grad_global_norm(z, 3, 1.0) == 0.0);
    ck_assert(z[0] == 0 && z[1] == 0 && z[2] == 0);
}
END_TEST

START_TEST(global_norm_large_thread_independent)
{
    /* 300001 elements of 0.5 (several 65536-element blocks plus a tail): norm = 0.5 sqrt(n) */
    const size_t n = 300001;
    float *g = malloc(n * sizeof *g);
    ck_assert(NN_PAR_IF(n)); /* large enough to run threaded */
    for (size_t i = 0; i < n; i++) g[i] = (i % 7 == 3) ? -0.5f : 0.5f;
    omp_set_num_threads(1);
    double a = grad_global_norm(g, n);
    omp_set_num_threads(2);
    double b = grad_global_norm(g, n);
    ck_assert(a == b);
    ck_assert(fabs(a - 0.5 * sqrt((double)n)) < 1e-9 * a); /* squares and sums are exact in double */
    free(g);
}
END_TEST

START_TEST(warmup)
{
    ck_assert(warmed_up_lr(2e-4, 5000, 0) == 0.0); /* first update uses lr 0 */
    ck_assert(fabs(warmed_up_lr(2e-4, 5000, 2500) - 1e-4) < 1e-18);
    ck_assert(fabs(warmed_up_lr(2e-4, 5000, 1) - 4e-8) < 1e-20);
    ck_assert(warmed_up_lr(2e-4, 5000, 5000) == 2e-4);
    ck_assert(warmed_up_lr(2e-4, 5000, 800000) == 2e-4);
    ck_assert(warmed_up_lr(2e-4, 0, 0) == 2e-4); /* no warmup */
}
END_TEST

START_TEST(adam_two_steps)
{
    /* p = 1, lr 0.1, grads 0.5 then -0.25. By hand:
     * t=1: m = 0.05, v = 0.00025, lr_t = 0.1 sqrt(0.001)/0.1 = 0.0316227766,
     *      p = 1 - 0.0316227766 * 0.05 / (0.0158113883 + 1e-8) = 0.9000000632
     * t=2: m = 0.9*0.05 - 0.1*0.25 = 0.02, v = 0.999*0.00025 + 0.001*0.0625 = 0.00031225,
     *      lr_t = 0.1 sqrt(1 - 0.998001) / (1 - 0.81) = 0.0235316725,
     *      p = 0.9000000632 - 0.0235316725 * 0.02 / (0.0176705970 + 1e-8) = 0.8733663744 */
    adam_state s;
    ck_assert_int_eq(adam_init(&s, 3), 0);
    ck_assert(s.beta1 == 0.9 && s.beta2 == 0.999 && s.eps == 1e-8 && s.t == 0);
    float p[3] = { 1.0f, -2.0f, 0.5f };
    float g1[3] = { 0.5f, 0.0f, -0.5f }, g2[3] = { -0.25f, 0.0f, 0.25f };
    adam_update(&s, p, g1, 0.1);
    ck_assert(s.t == 1);
    ck_assert(fabs((double)s.m[0] - 0.05) < F32_TOL && fabs((double)s.v[0] - 0.00025) < 1e-9);
    ck_assert(fabs((double)p[0] - 0.9000000632) < F32_TOL);
    ck_assert(p[1] == -2.0f);                                       /* zero gradient: m = v = 0, no step */
    ck_assert(fabs((double)p[2] - (0.5 + 0.0999999368)) < F32_TOL); /* mirror image */
    adam_update(&s, p, g2, 0.1);
    ck_assert(s.t == 2);
    ck_assert(fabs((double)s.m[0] - 0.02) < F32_TOL && fabs((double)s.v[0] - 0.00031225) < 1e-9);
    ck_assert(fabs((double)p[0] - 0.8733663744) < F32_TOL);
    ck_assert(p[1] == -2.0f);
    ck_assert(fabs((double)p[2] - (0.5 + 0.0999999368 + 0.0266336888)) < F32_TOL);
    adam_free(&s);
    ck_assert(s.m == NULL && s.v == NULL);
}
END_TEST

START_TEST(ema)
{
    /* ema -= (1 - decay)(ema - p): from 1 towards 0 with decay 0.9 -> 0.9, 0.81, 0.729 */
    float e[2] = { 1.0f, 2.0f };
    const float p[2] = { 0.0f, 2.0f };
    ema_update(e, p, 2, 0.9);
    ck_assert(fabs((double)e[0] - 0.9) < F32_TOL && e[1] == 2.0f);
    ema_update(e, p, 2, 0.9);
    ck_assert(fabs((double)e[0] - 0.81) < F32_TOL);
    ema_update(e, p, 2, 0.9);
    ck_assert(fabs((double)e[0] - 0.729) < F32_TOL);
    /* decay 0.9999 (paper): one step from 1 towards 0 is 0.9999 */
    float f = 1.0f, q = 0.0f;
    ema_update(&f, &q, 1, 0.9999);
    ck_assert(fabs((double)f - 0.9999) < F32_TOL);
}
END_TEST

static Suite *optim_suite(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, global_norm_and_clip);
    tcase_add_test(tc, global_norm_large_thread_independent);
    tcase_add_test(tc, warmup);
    tcase_add_test(tc, adam_two_steps);
    tcase_add_test(tc, ema);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(optim_suite)
