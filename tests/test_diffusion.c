/* test_diffusion.c — the diffusion core against float64 references written by
 * scripts/gen_diffusion_reference.py (tests/data/diffusion_ref.h5), analytic properties,
 * finite-difference gradients of the training losses, and the bpd / sampling loops with
 * analytic models. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/config.h"
#include "core/rng.h"
#include "diffusion/diffusion.h"
#include "io/h5io.h"
#include "testutil.h"

#define REF_PATH    "tests/data/diffusion_ref.h5"
#define REF_VERSION 1
#define REF_REGEN   "rerun /usr/bin/python3 scripts/gen_diffusion_reference.py"

/* ---------------------------------------------------------------- reference file helpers */

static hid_t ref_open(void) { return test_ref_open(REF_PATH, REF_VERSION, "scripts/gen_diffusion_reference.py"); }

static size_t numel(int rank, const hsize_t *dims)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    return n;
}

static double *rd64(hid_t f, const char *name, size_t *n)
{
    double *p = NULL;
    int rank = 0;
    hsize_t dims[H5IO_MAX_RANK];
    ck_assert_msg(h5io_read_f64(f, name, &p, &rank, dims) == DDPM_OK, "%s: %s; %s", name, ddpm_last_error(), REF_REGEN);
    if (n) *n = numel(rank, dims);
    return p;
}

static float *rd32(hid_t f, const char *name, size_t *n)
{
    float *p = NULL;
    int rank = 0;
    hsize_t dims[H5IO_MAX_RANK];
    ck_assert_msg(h5io_read_f32(f, name, &p, &rank, dims) == DDPM_OK, "%s: %s; %s", name, ddpm_last_error(), REF_REGEN);
    if (n) *n = numel(rank, dims);
    return p;
}

static int32_t *rdi32(hid_t f, const char *name, size_t *n)
{
    int32_t *p = NULL;
    int rank = 0;
    hsize_t dims[H5IO_MAX_RANK];
    ck_assert_msg(h5io_read_i32(f, name, &p, &rank, dims) == DDPM_OK, "%s: %s; %s", name, ddpm_last_error(), REF_REGEN);
    if (n) *n = numel(rank, dims);
    return p;
}

/* allclose that treats equal infinities (the jsd schedule ends at alphas_cumprod = 0) as equal */
static int allclose_inf(const char *what, const double *got, const double *want, size_t n, double rtol, double atol)
{
    double *g = malloc(n * sizeof *g), *w = malloc(n * sizeof *w);
    for (size_t i = 0; i < n; i++) {
        int same_inf = isinf(want[i]) && got[i] == want[i];
        g[i] = same_inf ? 0.0 : got[i];
        w[i] = same_inf ? 0.0 : want[i];
    }
    int ok = test_allclose_f64(what, g, w, n, rtol, atol);
    free(g);
    free(w);
    return ok;
}

static double max_abs_f64(const double *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

static const char *const SCHED_NAMES[] = { "linear", "quad", "const", "jsd", "warmup10", "warmup50" };
static const beta_schedule_t SCHEDS[] = { BETA_LINEAR, BETA_QUAD, BETA_CONST, BETA_JSD, BETA_WARMUP10, BETA_WARMUP50 };
static const char *const MEAN_N[] = { "xprev", "xstart", "eps" };
static const char *const VAR_N[] = { "learned", "fixedsmall", "fixedlarge" };

/* Reference batch geometry (gen_diffusion_reference.py: B, H, W, C, linear T = 1000). */
enum { RB = 8, RH = 4, RW = 3, RC = 2, RD = RH * RW * RC };

static void init_linear(diffusion *d, int T, double b0, double b1, model_mean_type_t m, model_var_type_t v,
                        loss_type_t l)
{
    double *betas = malloc((size_t)T * sizeof *betas);
    ck_assert(get_beta_schedule(BETA_LINEAR, b0, b1, T, betas) == DDPM_OK);
    ck_assert_msg(diffusion_init_betas(d, betas, T, m, v, l) == DDPM_OK, "%s", ddpm_last_error());
    free(betas);
}

/* ---------------------------------------------------------------- tables */

/* The tables are the same float64 formulas in the same order as numpy; differences come only
 * from libm vs numpy's (possibly vectorised, <= 4 ulp) exp/log/sqrt and from cumprod rounding
 * over T = 1000 steps (~T ulps), hence rtol 1e-12 — far inside the 1e-5 the brief asks. */
START_TEST(test_schedule_tables_match_reference)
{
    hid_t f = ref_open();
    static const int Ts[] = { 1000, 10, 37 };
    double worst = 0;
    for (size_t s = 0; s < DDPM_ARRAY_LEN(SCHEDS); s++) {
        for (size_t k = 0; k < DDPM_ARRAY_LEN(Ts); k++) {
            const int T = Ts[k];
            double *betas = malloc((size_t)T * sizeof *betas);
            ck_assert(get_beta_schedule(SCHEDS[s], 1e-4, 0.02, T, betas) == DDPM_OK);
            diffusion ds, dl;
            ck_assert(diffusion_init_betas(&ds, betas, T, MEAN_EPS, VAR_FIXEDSMALL, LOSS_MSE) == DDPM_OK);
            ck_assert(diffusion_init_betas(&dl, betas, T, MEAN_EPS, VAR_FIXEDLARGE, LOSS_MSE) == DDPM_OK);
            struct {
                const char *name;
                const double *got;
            } tabs[] = {
                { "betas", ds.betas },
                { "alphas_cumprod", ds.alphas_cumprod },
                { "alphas_cumprod_prev", ds.alphas_cumprod_prev },
                { "sqrt_alphas_cumprod", ds.sqrt_alphas_cumprod },
                { "sqrt_one_minus_alphas_cumprod", ds.sqrt_one_minus_alphas_cumprod },
                { "log_one_minus_alphas_cumprod", ds.log_one_minus_alphas_cumprod },
                { "sqrt_recip_alphas_cumprod", ds.sqrt_recip_alphas_cumprod },
                { "sqrt_recipm1_alphas_cumprod", ds.sqrt_recipm1_alphas_cumprod },
                { "posterior_variance", ds.posterior_variance },
                { "posterior_log_variance_clipped", ds.posterior_log_variance_clipped },
                { "posterior_mean_coef1", ds.posterior_mean_coef1 },
                { "posterior_mean_coef2", ds.posterior_mean_coef2 },
                { "model_variance_fixedsmall", ds.model_variance_fixed },
                { "model_log_variance_fixedsmall", ds.model_log_variance_fixed },
                { "model_variance_fixedlarge", dl.model_variance_fixed },
                { "model_log_variance_fixedlarge", dl.model_log_variance_fixed },
            };
            for (size_t j = 0; j < DDPM_ARRAY_LEN(tabs); j++) {
                char name[256];
                snprintf(name, sizeof name, "schedules/%s/T%d/%s", SCHED_NAMES[s], T, tabs[j].name);
                size_t n;
                double *want = rd64(f, name, &n);
                ck_assert_int_eq((int)n, T);
                int ok = allclose_inf(name, tabs[j].got, want, n, 1e-12, 0.0);
                for (size_t i = 0; i < n; i++)
                    if (isfinite(want[i]) && want[i] != 0) {
                        double r = fabs(tabs[j].got[i] - want[i]) / fabs(want[i]);
                        worst = r > worst ? r : worst;
                    }
                ddpm_free(want);
                ck_assert_msg(ok, "%s differs from the reference", name);
            }
            diffusion_free(&ds);
            diffusion_free(&dl);
            free(betas);
        }
    }
    fprintf(stderr, "schedule tables: worst rel error over all schedules/T/tables = %.3g\n", worst);
    h5io_close(f);
}
END_TEST

START_TEST(test_init_from_config)
{
    ddpm_config cfg;
    config_defaults(&cfg);
    diffusion d;
    ck_assert_msg(diffusion_init(&d, &cfg) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_int_eq(d.T, cfg.num_diffusion_timesteps);
    hid_t f = ref_open();
    size_t n;
    double *want = rd64(f, "schedules/linear/T1000/alphas_cumprod", &n);
    ck_assert_int_eq(cfg.beta_schedule, BETA_LINEAR);
    ck_assert(test_allclose_f64("config alphas_cumprod", d.alphas_cumprod, want, n, 1e-12, 0));
    ddpm_free(want);
    h5io_close(f);
    diffusion_free(&d);
    /* T = 1 cannot form posterior_variance[1]; betas outside (0,1] are rejected */
    cfg.num_diffusion_timesteps = 1;
    ck_assert_int_eq(diffusion_init(&d, &cfg), DDPM_ERR);
    double bad[3] = { 0.1, 0.0, 0.2 };
    ck_assert_int_eq(diffusion_init_betas(&d, bad, 3, MEAN_EPS, VAR_FIXEDLARGE, LOSS_MSE), DDPM_ERR);
    ck_assert_ptr_nonnull(strstr(ddpm_last_error(), "beta[1]"));
}
END_TEST

/* fixedlarge: log-variance at t = 0 is log(beta-tilde_1) (official), beta_t for t >= 1 */
START_TEST(test_fixedlarge_t0_uses_posterior_variance_1)
{
    diffusion d;
    init_linear(&d, 1000, 1e-4, 0.02, MEAN_EPS, VAR_FIXEDLARGE, LOSS_MSE);
    ck_assert(d.model_log_variance_fixed[0] == log(d.posterior_variance[1]));
    ck_assert(d.model_variance_fixed[0] == d.posterior_variance[1]);
    for (int t = 1; t < d.T; t++) ck_assert(d.model_log_variance_fixed[t] == log(d.betas[t]));
    /* and p_mean_variance hands it out at t = 0 */
    float out[4] = { 0.1f, -0.2f, 0.3f, 0.0f }, xt[4] = { 0.5f, 0.5f, -0.5f, 1.0f }, lv[4];
    int32_t t0[1] = { 0 };
    ck_assert(p_mean_variance(NULL, lv, NULL, out, xt, t0, &d, 0, 1, 2, 2, 1) == DDPM_OK);
    for (int i = 0; i < 4; i++) ck_assert(lv[i] == (float)log(d.posterior_variance[1]));
    diffusion_free(&d);
    init_linear(&d, 1000, 1e-4, 0.02, MEAN_EPS, VAR_FIXEDSMALL, LOSS_MSE);
    ck_assert(d.model_log_variance_fixed[0] == log(d.posterior_variance[1]));
    ck_assert(d.posterior_variance[0] == 0.0);
    diffusion_free(&d);
}
END_TEST

/* ---------------------------------------------------------------- Gaussian helpers */

/* Same double formulas as the reference; tolerance 1e-9: the reference's exp/tanh/log may
 * differ by a few ulps (numpy SIMD), and log(cdf_plus - cdf_min) amplifies a cdf ulp by
 * 1/delta in far-tail bins (delta >= 1e-12 there, cdfs <= 1) — measured worst is printed. */
START_TEST(test_gaussian_helpers_match_reference)
{
    hid_t f = ref_open();
    size_t n, nz, nk;
    double *x = rd64(f, "gauss/x", &n), *mean = rd64(f, "gauss/mean", NULL);
    double *ls = rd64(f, "gauss/log_scale", NULL), *want = rd64(f, "gauss/logp", NULL);
    double *got = malloc(n * sizeof *got);
    for (size_t i = 0; i < n; i++) got[i] = discretized_gaussian_log_likelihood(x[i], mean[i], ls[i]);
    ck_assert(test_allclose_f64("discretized_gaussian_log_likelihood", got, want, n, 1e-9, 1e-12));
    double *z = rd64(f, "gauss/z", &nz), *cdf = rd64(f, "gauss/cdf", NULL);
    double *gz = malloc(nz * sizeof *gz);
    for (size_t i = 0; i < nz; i++) gz[i] = approx_standard_normal_cdf(z[i]);
    ck_assert(test_allclose_f64("approx_standard_normal_cdf", gz, cdf, nz, 1e-12, 1e-300));
    double *kin = rd64(f, "gauss/kl_in", &nk), *kl = rd64(f, "gauss/kl", NULL);
    nk /= 4;
    double *gk = malloc(nk * sizeof *gk);
    for (size_t i = 0; i < nk; i++) gk[i] = normal_kl(kin[4 * i], kin[4 * i + 1], kin[4 * i + 2], kin[4 * i + 3]);
    ck_assert(test_allclose_f64("normal_kl", gk, kl, nk, 1e-12, 1e-15));
    free(got);
    free(gz);
    free(gk);
    ddpm_free(x);
    ddpm_free(mean);
    ddpm_free(ls);
    ddpm_free(want);
    ddpm_free(z);
    ddpm_free(cdf);
    ddpm_free(kin);
    ddpm_free(kl);
    h5io_close(f);
}
END_TEST

/* Adjacent bins share their edges (x_k + 1/255 = x_{k+1} - 1/255) and the end bins are open,
 * so the 256 probabilities telescope to 1. Allowed error: each bin floored at 1e-12 can add at
 * most 1e-12, plus double rounding of the edges (~1e-15 each). */
START_TEST(test_discretized_likelihood_sums_to_one)
{
    const double means[] = { -1.0, -0.5, 0.0, 0.3, 0.999, 1.2, -1.7 };
    const double log_scales[] = { -7.0, -5.0, -3.0, -1.0, 0.0, 1.0 };
    double worst = 0;
    for (size_t i = 0; i < DDPM_ARRAY_LEN(means); i++)
        for (size_t j = 0; j < DDPM_ARRAY_LEN(log_scales); j++) {
            double sum = 0;
            int floored = 0;
            for (int k = 0; k < 256; k++) {
                double lp = discretized_gaussian_log_likelihood(k / 127.5 - 1.0, means[i], log_scales[j]);
                if (lp <= log(1e-12)) floored++;
                sum += exp(lp);
            }
            double err = fabs(sum - 1.0);
            worst = err > worst ? err : worst;
            ck_assert_msg(err <= floored * 1e-12 + 1e-12, "mean %g log_scale %g: sum %.17g (floored bins %d)", means[i],
                          log_scales[j], sum, floored);
        }
    fprintf(stderr, "discretized likelihood: max |sum - 1| = %.3g\n", worst);
}
END_TEST

/* ---------------------------------------------------------------- q, posterior, prior */

START_TEST(test_q_sample_and_posterior_match_reference)
{
    hid_t f = ref_open();
    diffusion d;
    init_linear(&d, 1000, 1e-4, 0.02, MEAN_EPS, VAR_FIXEDSMALL, LOSS_MSE);
    size_t n;
    float *x0 = rd32(f, "inputs/x0", &n), *noise = rd32(f, "inputs/noise", NULL);
    float *xt_ref = rd32(f, "inputs/xt", NULL);
    int32_t *t = rdi32(f, "inputs/t", NULL);
    double *xt64 = rd64(f, "q_sample/xt64", NULL);
    ck_assert_int_eq((int)n, RB * RD);
    float *xt = malloc(n * sizeof *xt), *pm = malloc(n * sizeof *pm);
    q_sample(xt, x0, t, noise, &d, RB, RD);
    /* float32 output of a double computation: one rounding, <= 2^-24 relative */
    double *g = malloc(n * sizeof *g);
    for (size_t i = 0; i < n; i++) g[i] = (double)xt[i];
    ck_assert(test_allclose_f64("q_sample vs float64", g, xt64, n, 6e-8, 1e-30));
    ck_assert(test_allclose_f32("q_sample vs reference float32", xt, xt_ref, n, 1.2e-7, 0));
    /* posterior mean from the float32 x_t the reference used */
    double *pm_ref = rd64(f, "posterior/mean", NULL);
    q_posterior_mean(pm, x0, xt_ref, t, &d, RB, RD);
    for (size_t i = 0; i < n; i++) g[i] = (double)pm[i];
    ck_assert(test_allclose_f64("posterior mean", g, pm_ref, n, 6e-8, 1e-30));
    double *pv = rd64(f, "posterior/variance", NULL), *plv = rd64(f, "posterior/log_variance_clipped", NULL);
    double gv[RB], glv[RB];
    for (int b = 0; b < RB; b++) {
        gv[b] = d.posterior_variance[t[b]];
        glv[b] = d.posterior_log_variance_clipped[t[b]];
    }
    ck_assert(test_allclose_f64("posterior variance", gv, pv, RB, 1e-12, 0));
    ck_assert(test_allclose_f64("posterior log variance clipped", glv, plv, RB, 1e-12, 0));
    /* prior: same double formula; the sum of D terms is the only rounding */
    double *prior_ref = rd64(f, "prior/bpd", NULL), prior[RB];
    prior_bpd(prior, x0, &d, RB, RD);
    ck_assert(test_allclose_f64("prior_bpd", prior, prior_ref, RB, 1e-10, 0));
    free(xt);
    free(pm);
    free(g);
    ddpm_free(x0);
    ddpm_free(noise);
    ddpm_free(xt_ref);
    ddpm_free(t);
    ddpm_free(xt64);
    ddpm_free(pm_ref);
    ddpm_free(pv);
    ddpm_free(plv);
    ddpm_free(prior_ref);
    diffusion_free(&d);
    h5io_close(f);
}
END_TEST

/* Prior for T = 1000 linear: KL ~ ac_T x^2 / 2 / ln 2 with ac_T ~ 4e-5, i.e. ~1e-5 bits/dim on
 * data spread over [-1,1] and ~2.9e-5 at |x| = 1. */
START_TEST(test_prior_bpd_magnitude)
{
    diffusion d;
    init_linear(&d, 1000, 1e-4, 0.02, MEAN_EPS, VAR_FIXEDLARGE, LOSS_MSE);
    enum { D = 256 };
    float x[3 * D];
    for (int k = 0; k < D; k++) {
        x[k] = (float)(k / 127.5 - 1.0); /* every pixel level once */
        x[D + k] = 1.0f;
        x[2 * D + k] = 0.0f;
    }
    double p[3];
    prior_bpd(p, x, &d, 3, D);
    const double ac = d.alphas_cumprod[999], lv = log(1.0 - ac);
    const double full = 0.5 * (-1.0 - lv + exp(lv) + ac) / log(2.0); /* x = 1 */
    const double zero = 0.5 * (-1.0 - lv + exp(lv)) / log(2.0);      /* x = 0 */
    fprintf(stderr, "prior bpd: uniform levels %.4g, |x|=1 %.4g, x=0 %.3g\n", p[0], p[1], p[2]);
    ck_assert(p[0] > 5e-6 && p[0] < 2e-5);
    ck_assert(fabs(p[1] - full) <= 1e-12 * full);
    ck_assert(fabs(p[2] - zero) <= 1e-20 + 1e-9 * zero);
    ck_assert(p[2] >= 0 && p[2] < 1e-8);
    diffusion_free(&d);
}
END_TEST

/* Over N draws, x_t has mean sqrt(ac) x0 and variance 1 - ac; allowed deviation 5 standard
 * errors: sd(mean) = sqrt(var/N), sd(var) ~ var sqrt(2/N). */
START_TEST(test_q_sample_moments)
{
    diffusion d;
    init_linear(&d, 1000, 1e-4, 0.02, MEAN_EPS, VAR_FIXEDLARGE, LOSS_MSE);
    enum { N = 200000 };
    float *x0 = malloc(N * sizeof *x0), *noise = malloc(N * sizeof *noise), *xt = malloc(N * sizeof *xt);
    const int ts[] = { 0, 250, 999 };
    const float vals[] = { -1.0f, 0.3f, 1.0f };
    for (size_t a = 0; a < DDPM_ARRAY_LEN(ts); a++)
        for (size_t v = 0; v < DDPM_ARRAY_LEN(vals); v++) {
            for (int i = 0; i < N; i++) x0[i] = vals[v];
            rng_normal_fill(rng_stream_make(77, RNG_EVAL, (uint32_t)a, (uint32_t)v), noise, N);
            int32_t t[1] = { ts[a] };
            q_sample(xt, x0, t, noise, &d, 1, N);
            double s = 0, s2 = 0;
            for (int i = 0; i < N; i++) s += (double)xt[i];
            double m = s / N;
            for (int i = 0; i < N; i++) s2 += ((double)xt[i] - m) * ((double)xt[i] - m);
            double var = s2 / (N - 1);
            double want_m = d.sqrt_alphas_cumprod[ts[a]] * (double)vals[v], want_v = 1.0 - d.alphas_cumprod[ts[a]];
            double se_m = sqrt(want_v / N), se_v = want_v * sqrt(2.0 / N);
            ck_assert_msg(fabs(m - want_m) < 5 * se_m, "t=%d x0=%g: mean %.6g want %.6g (se %.2g)", ts[a],
                          (double)vals[v], m, want_m, se_m);
            ck_assert_msg(fabs(var - want_v) < 5 * se_v, "t=%d x0=%g: var %.6g want %.6g (se %.2g)", ts[a],
                          (double)vals[v], var, want_v, se_v);
        }
    free(x0);
    free(noise);
    free(xt);
    diffusion_free(&d);
}
END_TEST

/* ---------------------------------------------------------------- p_mean_variance, losses */

/* Outputs are float32 roundings of double math on identical float inputs: 2 float ulps
 * (rtol 2.4e-7); atol 1e-9 covers values that cancel to ~0 (terms up to ~1e4 x 1e-16). */
START_TEST(test_p_mean_variance_matches_reference)
{
    hid_t f = ref_open();
    size_t n;
    float *xt = rd32(f, "inputs/xt", &n);
    int32_t *t = rdi32(f, "inputs/t", NULL);
    float *mean = malloc(n * sizeof *mean), *lv = malloc(n * sizeof *lv), *px = malloc(n * sizeof *px);
    double *g = malloc(n * sizeof *g);
    for (int m = 0; m < 3; m++)
        for (int v = 0; v < 3; v++) {
            diffusion d;
            init_linear(&d, 1000, 1e-4, 0.02, (model_mean_type_t)m, (model_var_type_t)v, LOSS_KL);
            char name[128];
            snprintf(name, sizeof name, "models/%s_%s/model_out", MEAN_N[m], VAR_N[v]);
            float *out = rd32(f, name, NULL);
            for (int clip = 0; clip < 2; clip++) {
                ck_assert(p_mean_variance(mean, lv, px, out, xt, t, &d, clip, RB, RH, RW, RC) == DDPM_OK);
                const struct {
                    const char *k;
                    float *got;
                } outs[] = { { "mean", mean }, { "log_var", lv }, { "pred_xstart", px } };
                for (int o = 0; o < 3; o++) {
                    snprintf(name, sizeof name, "models/%s_%s/%s%s", MEAN_N[m], VAR_N[v], outs[o].k,
                             clip ? "_clip" : "");
                    double *want = rd64(f, name, NULL);
                    for (size_t i = 0; i < n; i++) g[i] = (double)outs[o].got[i];
                    int ok = test_allclose_f64(name, g, want, n, 2.4e-7, 1e-9);
                    ddpm_free(want);
                    ck_assert_msg(ok, "%s", name);
                }
            }
            ddpm_free(out);
            diffusion_free(&d);
        }
    free(mean);
    free(lv);
    free(px);
    free(g);
    ddpm_free(xt);
    ddpm_free(t);
    h5io_close(f);
}
END_TEST

/* Losses are double math on the same float inputs as the reference; the decoder NLL's
 * log(cdf_plus - cdf_min) is the most sensitive part (see the Gaussian-helper test): 1e-9. */
START_TEST(test_losses_match_reference)
{
    hid_t f = ref_open();
    size_t n;
    float *x0 = rd32(f, "inputs/x0", &n), *noise = rd32(f, "inputs/noise", NULL);
    float *xt = rd32(f, "inputs/xt", NULL);
    int32_t *t = rdi32(f, "inputs/t", NULL);
    double loss[RB], terms[RB], mse[RB];
    for (int m = 0; m < 3; m++)
        for (int v = 0; v < 3; v++)
            for (int l = 0; l < 2; l++) {
                diffusion d;
                init_linear(&d, 1000, 1e-4, 0.02, (model_mean_type_t)m, (model_var_type_t)v, (loss_type_t)l);
                char name[128];
                snprintf(name, sizeof name, "models/%s_%s/model_out", MEAN_N[m], VAR_N[v]);
                float *out = rd32(f, name, NULL);
                int rc = training_losses(loss, NULL, out, x0, xt, noise, t, &d, RB, RH, RW, RC);
                if (l == LOSS_MSE && v == VAR_LEARNED) {
                    ck_assert_int_eq(rc, DDPM_ERR); /* invalid combination */
                    ck_assert_ptr_nonnull(strstr(ddpm_last_error(), "learned"));
                } else {
                    ck_assert_msg(rc == DDPM_OK, "%s", ddpm_last_error());
                    snprintf(name, sizeof name, "models/%s_%s/loss_%s", MEAN_N[m], VAR_N[v],
                             l == LOSS_KL ? "kl" : "mse");
                    double *want = rd64(f, name, NULL);
                    /* atol: when the variances match, -1 + exp(lv1 - lv2) + lv2 - lv1 cancels to
                     * ~0 and leaves ~10 ulps of O(1) rounding in both implementations */
                    int ok = test_allclose_f64(name, loss, want, RB, 1e-9, 1e-14);
                    ddpm_free(want);
                    ck_assert_msg(ok, "%s", name);
                }
                if (l == LOSS_KL)
                    for (int clip = 0; clip < 2; clip++) {
                        ck_assert(vb_terms_bpd(terms, NULL, mse, out, x0, xt, t, &d, clip, RB, RH, RW, RC) == DDPM_OK);
                        snprintf(name, sizeof name, "models/%s_%s/vb_terms%s", MEAN_N[m], VAR_N[v],
                                 clip ? "_clip" : "");
                        double *want = rd64(f, name, NULL);
                        int ok = test_allclose_f64(name, terms, want, RB, 1e-9, 1e-14);
                        ddpm_free(want);
                        ck_assert_msg(ok, "%s", name);
                        snprintf(name, sizeof name, "models/%s_%s/vb_mse%s", MEAN_N[m], VAR_N[v], clip ? "_clip" : "");
                        want = rd64(f, name, NULL);
                        /* pred_xstart for xprev at t = 999 is (xprev - c2 x_t)/c1, c1 ~ 1e-4:
                         * cancellation costs ~4 digits of double */
                        ok = test_allclose_f64(name, mse, want, RB, 1e-9, 0);
                        ddpm_free(want);
                        ck_assert_msg(ok, "%s", name);
                    }
                ddpm_free(out);
                diffusion_free(&d);
            }
    ddpm_free(x0);
    ddpm_free(noise);
    ddpm_free(xt);
    ddpm_free(t);
    h5io_close(f);
}
END_TEST

START_TEST(test_argument_errors)
{
    diffusion d;
    init_linear(&d, 10, 1e-4, 0.02, MEAN_EPS, VAR_FIXEDLARGE, LOSS_MSE);
    float a[4] = { 0 }, o[4] = { 0 };
    double loss[1];
    int32_t t[1] = { 10 };
    ck_assert_int_eq(training_losses(loss, NULL, o, a, a, a, t, &d, 1, 2, 2, 1), DDPM_ERR);
    ck_assert_ptr_nonnull(strstr(ddpm_last_error(), "t[0] = 10"));
    t[0] = -1;
    ck_assert_int_eq(p_mean_variance(a, NULL, NULL, o, a, t, &d, 1, 1, 2, 2, 1), DDPM_ERR);
    ck_assert_int_eq(p_sample_step(a, NULL, o, a, NULL, &d, 3, 1, 2, 2, 1), DDPM_ERR);
    ck_assert_int_eq(p_sample_step(a, NULL, o, a, NULL, &d, 0, 1, 2, 2, 1), DDPM_OK);
    diffusion_free(&d);
}
END_TEST

/* An oracle network that outputs the exact target (eps, x0 or the posterior mean) gives
 * p = q(x_{t-1}|x_t,x_0) under fixedsmall, so every KL term with t > 0 vanishes. The only
 * residue is float32 rounding of x_t / the target (~6e-8 relative): for xprev at t = 1,
 * KL ~ (6e-8)^2 / (2 beta-tilde_1 ~ 1e-4) ~ 4e-11 nats; bound 1e-9 bits/dim. */
START_TEST(test_oracle_gives_zero_kl)
{
    enum { B = 6, H = 3, W = 3, C = 2, D = H * W * C };
    const int32_t t[B] = { 1, 2, 10, 100, 500, 999 };
    float x0[B * D], noise[B * D], xt[B * D], out[B * D];
    for (int i = 0; i < B * D; i++) x0[i] = (float)((i * 37 % 256) / 127.5 - 1.0);
    rng_normal_fill(rng_stream_make(5, RNG_EVAL, 0, 0), noise, B * D);
    for (int m = 0; m < 3; m++) {
        diffusion d;
        init_linear(&d, 1000, 1e-4, 0.02, (model_mean_type_t)m, VAR_FIXEDSMALL, LOSS_KL);
        q_sample(xt, x0, t, noise, &d, B, D);
        if (m == MEAN_XPREV) q_posterior_mean(out, x0, xt, t, &d, B, D);
        else memcpy(out, m == MEAN_XSTART ? x0 : noise, sizeof out);
        double loss[B];
        ck_assert(training_losses(loss, NULL, out, x0, xt, noise, t, &d, B, H, W, C) == DDPM_OK);
        double worst = 0;
        for (int b = 0; b < B; b++) {
            ck_assert_msg(fabs(loss[b]) < 1e-9, "%s t=%d: KL %.3g", MEAN_N[m], t[b], loss[b]);
            worst = fabs(loss[b]) > worst ? fabs(loss[b]) : worst;
        }
        fprintf(stderr, "oracle %s fixedsmall: max KL(t>0) = %.3g bits/dim\n", MEAN_N[m], worst);
        diffusion_free(&d);
    }
}
END_TEST

/* ---------------------------------------------------------------- loss gradients */

/* Central differences on L(o) = (1/B) sum_b loss_b in double. Inputs are quantised to a 2^-18
 * grid so o +- h (h = 2^-18) is exact in float32: the loss sees exactly the perturbed value.
 * The smallest length scale of the loss in o is sigma ~ 7e-3 (t = 0 decoder, mean moves 1:1
 * with o for xprev/xstart): truncation ~ (h/sigma)^2 ~ 3e-7 relative; roundoff ~ 1e-15 / h ~
 * 3e-10 absolute. Stored as float32 (6e-8). Tolerance: rtol 2e-5 + atol 1e-7 x max|grad|. */
#define FD_H (1.0 / 262144.0)

static float quantize(double v) { return (float)(nearbyint(v / FD_H) * FD_H); }

static double batch_loss(const diffusion *d, const float *out, const float *x0, const float *xt, const float *noise,
                         const int32_t *t, int B, int H, int W, int C)
{
    double loss[16], s = 0;
    ck_assert(training_losses(loss, NULL, out, x0, xt, noise, t, d, B, H, W, C) == DDPM_OK);
    for (int b = 0; b < B; b++) s += loss[b];
    return s / B;
}

START_TEST(test_loss_gradients_finite_differences)
{
    enum { B = 6, H = 2, W = 2, C = 2, D = H * W * C };
    const int32_t t[B] = { 0, 0, 1, 7, 500, 999 };
    /* perturbation of the model mean in units of the reverse-process sigma: t = 0 examples
     * near the data (bins and edges) and far (floored probabilities) */
    const double k_sigma[B] = { 0.7, 9.0, 1.0, 2.0, 1.5, 1.0 };
    float x0[B * D], noise[B * D], xt[B * D];
    for (int i = 0; i < B * D; i++) x0[i] = (float)(((i * 91 + 3) % 256) / 127.5 - 1.0);
    for (int b = 0; b < B; b++) { /* every example has both open-ended edge bins */
        x0[b * D + 0] = -1.0f;
        x0[b * D + 3] = 1.0f;
    }
    rng_normal_fill(rng_stream_make(11, RNG_EVAL, 1, 0), noise, B * D);
    float pert[2 * B * D];
    rng_normal_fill(rng_stream_make(11, RNG_EVAL, 2, 0), pert, 2 * B * D);
    int combos = 0, floored_seen = 0, edge_seen = 0;
    for (int m = 0; m < 3; m++)
        for (int v = 0; v < 3; v++)
            for (int l = 0; l < 2; l++) {
                if (l == LOSS_MSE && v == VAR_LEARNED) continue;
                diffusion d;
                init_linear(&d, 1000, 1e-4, 0.02, (model_mean_type_t)m, (model_var_type_t)v, (loss_type_t)l);
                q_sample(xt, x0, t, noise, &d, B, D);
                const int Cout = v == VAR_LEARNED ? 2 * C : C;
                const int N = B * H * W * Cout;
                float *out = malloc((size_t)N * sizeof *out), *grad = calloc((size_t)N, sizeof *grad);
                double *fd = malloc((size_t)N * sizeof *fd), *an = malloc((size_t)N * sizeof *an);
                for (int b = 0; b < B; b++) {
                    const int tb = t[b];
                    const double c1 = d.posterior_mean_coef1[tb], c2 = d.posterior_mean_coef2[tb];
                    const double sigma = exp(0.5 * d.posterior_log_variance_clipped[tb]);
                    double dm_do = m == MEAN_XPREV    ? 1.0
                                   : m == MEAN_XSTART ? c1
                                                      : c1 * d.sqrt_recipm1_alphas_cumprod[tb];
                    /* capped so |o +- h| < 64 stays exact on the 2^-18 grid (xstart at t = 999
                     * moves the mean by only coef1 ~ 1e-4 per unit of o) */
                    double scale = fmin(k_sigma[b] * sigma / dm_do, 3.0);
                    for (int p = 0; p < H * W; p++)
                        for (int c = 0; c < C; c++) {
                            int i = (b * H * W + p) * C + c, o = (b * H * W + p) * Cout + c;
                            double target = m == MEAN_XPREV    ? c1 * (double)x0[i] + c2 * (double)xt[i]
                                            : m == MEAN_XSTART ? (double)x0[i]
                                                               : (double)noise[i];
                            out[o] = quantize(target + scale * (double)pert[i]);
                            if (Cout > C)
                                out[o + C] =
                                    quantize(d.posterior_log_variance_clipped[tb] + 0.5 * (double)pert[B * D + i]);
                        }
                }
                ck_assert(training_losses(NULL, grad, out, x0, xt, noise, t, &d, B, H, W, C) == DDPM_OK);
                double gmax = 0;
                for (int j = 0; j < N; j++) {
                    const float o0 = out[j];
                    out[j] = (float)((double)o0 + FD_H);
                    ck_assert((double)out[j] == (double)o0 + FD_H);
                    double lp = batch_loss(&d, out, x0, xt, noise, t, B, H, W, C);
                    out[j] = (float)((double)o0 - FD_H);
                    ck_assert((double)out[j] == (double)o0 - FD_H);
                    double lm = batch_loss(&d, out, x0, xt, noise, t, B, H, W, C);
                    out[j] = o0;
                    fd[j] = (lp - lm) / (2 * FD_H);
                    an[j] = (double)grad[j];
                    gmax = fabs(fd[j]) > gmax ? fabs(fd[j]) : gmax;
                }
                if (l == LOSS_KL) /* coverage of the decoder branches at t = 0 (examples 0, 1) */
                    for (int b = 0; b < 2; b++)
                        for (int i = 0; i < D; i++) {
                            int p = i / C, c = i % C, o = (b * H * W + p) * Cout + c;
                            double lv = v == VAR_LEARNED ? (double)out[o + C] : d.model_log_variance_fixed[0];
                            double px0 = m == MEAN_XPREV    ? (double)out[o]
                                         : m == MEAN_XSTART ? (double)out[o]
                                                            : d.sqrt_recip_alphas_cumprod[0] * (double)xt[b * D + i] -
                                                                  d.sqrt_recipm1_alphas_cumprod[0] * (double)out[o];
                            double mean = m == MEAN_XPREV ? (double)out[o]
                                                          : d.posterior_mean_coef1[0] * px0 +
                                                                d.posterior_mean_coef2[0] * (double)xt[b * D + i];
                            double lp = discretized_gaussian_log_likelihood((double)x0[b * D + i], mean, 0.5 * lv);
                            if (lp <= log(1e-12)) floored_seen++;
                            else if (fabs((double)x0[b * D + i]) > 0.999) edge_seen++;
                        }
                char what[96];
                snprintf(what, sizeof what, "dloss/dout %s-%s-%s", MEAN_N[m], VAR_N[v], l == LOSS_KL ? "kl" : "mse");
                int ok = test_allclose_f64(what, an, fd, (size_t)N, 2e-5, 1e-7 * max_abs_f64(fd, (size_t)N));
                ck_assert_msg(ok, "%s", what);
                ck_assert(gmax > 0);
                combos++;
                free(out);
                free(grad);
                free(fd);
                free(an);
                diffusion_free(&d);
            }
    fprintf(stderr, "gradient check: %d combinations, t=0 elements floored %d, unfloored edge bins %d\n", combos,
            floored_seen, edge_seen);
    ck_assert_int_eq(combos, 15);
    ck_assert(floored_seen > 0 && edge_seen > 0);
}
END_TEST

/* ---------------------------------------------------------------- loops */

/* Oracle for a data set of one image x*: predicts the exact target of the mean type. */
typedef struct {
    const diffusion *d;
    const float *xstar; /* (D) */
    size_t D;
    int C;
    int calls;
} oracle_ctx;

static int oracle_fn(void *vctx, const float *x, const int32_t *t, int B, float *out)
{
    oracle_ctx *o = vctx;
    const diffusion *d = o->d;
    const int learned = d->var_type == VAR_LEARNED;
    const size_t P = o->D / (size_t)o->C;
    const int Cout = learned ? 2 * o->C : o->C;
    o->calls++;
    for (int b = 0; b < B; b++) {
        const int tb = t[b];
        for (size_t p = 0; p < P; p++)
            for (int c = 0; c < o->C; c++) {
                size_t j = p * (size_t)o->C + (size_t)c, i = (size_t)b * o->D + j;
                double xs = (double)o->xstar[j], v;
                if (d->mean_type == MEAN_EPS)
                    v = ((double)x[i] - d->sqrt_alphas_cumprod[tb] * xs) / d->sqrt_one_minus_alphas_cumprod[tb];
                else if (d->mean_type == MEAN_XSTART) v = xs;
                else v = d->posterior_mean_coef1[tb] * xs + d->posterior_mean_coef2[tb] * (double)x[i];
                float *op = out + ((size_t)b * P + p) * (size_t)Cout;
                op[c] = (float)v;
                if (learned) op[o->C + c] = (float)d->posterior_log_variance_clipped[tb];
            }
    }
    return DDPM_OK;
}

/* A crude analytic network: output = 0.5 x (and log-variance -2 when learned). */
static int affine_fn(void *vctx, const float *x, const int32_t *t, int B, float *out)
{
    const int *shape = vctx; /* D, C, learned */
    const size_t D = (size_t)shape[0];
    const int C = shape[1], learned = shape[2];
    const size_t P = D / (size_t)C;
    const int Cout = learned ? 2 * C : C;
    for (size_t px = 0; px < (size_t)B * P; px++)
        for (int c = 0; c < C; c++) {
            out[px * (size_t)Cout + (size_t)c] = 0.5f * x[px * (size_t)C + (size_t)c];
            if (learned) out[px * (size_t)Cout + (size_t)(C + c)] = -2.0f;
        }
    return DDPM_OK;
}

typedef struct {
    int calls, last_done, last_total;
} prog_rec;
static void prog_cb(void *user, int done, int total)
{
    prog_rec *p = user;
    p->calls++;
    p->last_done = done;
    p->last_total = total;
}

enum { LT = 20, LB = 4, LH = 4, LW = 4, LC = 1, LD = LH * LW * LC };

START_TEST(test_bpd_loop_oracle)
{
    float xstar[LD], x0[LB * LD];
    for (int i = 0; i < LD; i++) xstar[i] = (float)(((i * 53 + 7) % 256) / 127.5 - 1.0);
    xstar[0] = -1.0f;
    xstar[1] = 1.0f;
    for (int b = 0; b < LB; b++) memcpy(x0 + b * LD, xstar, sizeof xstar);
    for (int m = 0; m < 3; m++) {
        diffusion d;
        init_linear(&d, LT, 1e-3, 0.2, (model_mean_type_t)m, VAR_FIXEDSMALL, LOSS_KL);
        oracle_ctx ctx = { &d, xstar, LD, LC, 0 };
        double total[LB], prior[LB], terms[LB * LT], mse[LB * LT];
        prog_rec pr = { 0, 0, 0 };
        diffusion_workspace *ws = diffusion_workspace_alloc(&d, LB, LH, LW, LC, LC);
        ck_assert_msg(ws != NULL, "%s", ddpm_last_error());
        bpd_opts bo = { .seed = 42, .example_offset = 0, .progress = prog_cb, .user = &pr };
        ck_assert(calc_bpd_loop(total, prior, terms, mse, x0, &d, oracle_fn, &ctx, &bo, ws, LB, LH, LW, LC) == DDPM_OK);
        diffusion_workspace_free(ws);
        ck_assert_int_eq(ctx.calls, LT);
        ck_assert_int_eq(pr.calls, LT);
        ck_assert_int_eq(pr.last_done, LT);
        ck_assert_int_eq(pr.last_total, LT);
        /* t = 0: decoder NLL with mean exactly x* and sigma^2 = beta-tilde_1 */
        double nll0 = 0;
        for (int i = 0; i < LD; i++)
            nll0 -= discretized_gaussian_log_likelihood((double)xstar[i], (double)xstar[i],
                                                        0.5 * d.model_log_variance_fixed[0]);
        nll0 = nll0 / LD / log(2.0);
        double pri_want[1];
        prior_bpd(pri_want, xstar, &d, 1, LD);
        double worst_kl = 0, worst_mse = 0;
        for (int b = 0; b < LB; b++) {
            double s = 0;
            for (int t = 0; t < LT; t++) {
                double v = terms[b * LT + t];
                ck_assert(isfinite(v) && isfinite(mse[b * LT + t]));
                s += v;
                if (t > 0) worst_kl = fabs(v) > worst_kl ? fabs(v) : worst_kl;
                worst_mse = mse[b * LT + t] > worst_mse ? mse[b * LT + t] : worst_mse;
            }
            ck_assert(fabs(total[b] - (s + prior[b])) <= 1e-14 * fabs(total[b]));
            ck_assert(prior[b] == pri_want[0]);
            /* float32 rounding of the oracle output and of x_t: relative ~1e-7 of the mean */
            ck_assert_msg(fabs(terms[b * LT] - nll0) <= 1e-6 * nll0, "%s: t=0 term %.9g want %.9g", MEAN_N[m],
                          terms[b * LT], nll0);
        }
        fprintf(stderr,
                "bpd loop %s oracle (T=%d): total %.6g = nll0 %.6g + prior %.3g; "
                "max |KL t>0| %.3g, max mse %.3g\n",
                MEAN_N[m], LT, total[0], nll0, prior[0], worst_kl, worst_mse);
        /* as in the zero-KL test: float rounding residue, generous bound */
        ck_assert(worst_kl < 1e-8);
        ck_assert(worst_mse < 1e-10);
        diffusion_free(&d);
    }
}
END_TEST

START_TEST(test_bpd_loop_batch_split_invariance)
{
    float x0[LB * LD];
    for (int i = 0; i < LB * LD; i++) x0[i] = (float)(((i * 29 + 1) % 256) / 127.5 - 1.0);
    for (int v = 0; v < 3; v++) {
        diffusion d;
        init_linear(&d, LT, 1e-3, 0.2, MEAN_EPS, (model_var_type_t)v, LOSS_KL);
        int shape[3] = { LD, LC, v == VAR_LEARNED };
        double tot4[LB], pri4[LB], terms4[LB * LT], mse4[LB * LT];
        double tot2[LB], pri2[LB], terms2[LB * LT], mse2[LB * LT];
        const int Cout = v == VAR_LEARNED ? 2 * LC : LC;
        diffusion_workspace *ws4 = diffusion_workspace_alloc(&d, LB, LH, LW, LC, Cout);
        diffusion_workspace *ws2 = diffusion_workspace_alloc(&d, 2, LH, LW, LC, Cout);
        ck_assert(ws4 && ws2);
        bpd_opts bo = { .seed = 9, .example_offset = 100 };
        ck_assert(calc_bpd_loop(tot4, pri4, terms4, mse4, x0, &d, affine_fn, shape, &bo, ws4, LB, LH, LW, LC) ==
                  DDPM_OK);
        for (int h = 0; h < 2; h++) {
            bpd_opts bh = { .seed = 9, .example_offset = 100 + 2 * (uint32_t)h };
            ck_assert(calc_bpd_loop(tot2 + 2 * h, pri2 + 2 * h, terms2 + 2 * h * LT, mse2 + 2 * h * LT, x0 + h * 2 * LD,
                                    &d, affine_fn, shape, &bh, ws2, 2, LH, LW, LC) == DDPM_OK);
        }
        ck_assert(memcmp(tot4, tot2, sizeof tot4) == 0);
        ck_assert(memcmp(pri4, pri2, sizeof pri4) == 0);
        ck_assert(memcmp(terms4, terms2, sizeof terms4) == 0);
        ck_assert(memcmp(mse4, mse2, sizeof mse4) == 0);
        for (int b = 0; b < LB; b++) {
            double s = pri4[b];
            for (int t = 0; t < LT; t++) s += terms4[b * LT + t];
            ck_assert(isfinite(tot4[b]) && tot4[b] > 0);
            ck_assert(fabs(tot4[b] - s) <= 1e-14 * tot4[b]);
        }
        /* a different seed or offset changes the noise, hence the terms */
        double tot_o[LB];
        bo.example_offset = 101;
        ck_assert(calc_bpd_loop(tot_o, NULL, NULL, NULL, x0, &d, affine_fn, shape, &bo, ws4, LB, LH, LW, LC) ==
                  DDPM_OK);
        ck_assert(memcmp(tot4, tot_o, sizeof tot4) != 0);
        diffusion_workspace_free(ws4);
        diffusion_workspace_free(ws2);
        diffusion_free(&d);
    }
}
END_TEST

START_TEST(test_sample_loop_oracle_and_recording)
{
    float xstar[LD];
    for (int i = 0; i < LD; i++) xstar[i] = (float)(((i * 71 + 5) % 256) / 127.5 - 1.0);
    xstar[2] = -1.0f;
    xstar[3] = 1.0f;
    for (int m = 0; m < 3; m++) {
        diffusion d;
        init_linear(&d, LT, 1e-3, 0.2, (model_mean_type_t)m, VAR_FIXEDLARGE, LOSS_KL);
        oracle_ctx ctx = { &d, xstar, LD, LC, 0 };
        float x[LB * LD];
        diffusion_sample_xT(x, 3, 0, LB, LD);
        const int every = 5, nrec_want = p_sample_num_recorded(LT - 1, every);
        ck_assert_int_eq(nrec_want, 4); /* t = 15, 10, 5, 0 */
        float *rec = malloc((size_t)nrec_want * LB * LD * sizeof *rec);
        int nrec = -1;
        prog_rec pr = { 0, 0, 0 };
        diffusion_workspace *ws = diffusion_workspace_alloc(&d, LB, LH, LW, LC, LC);
        ck_assert_msg(ws != NULL, "%s", ddpm_last_error());
        p_sample_opts so = {
            .t_start = LT - 1, .seed = 8, .example_offset = 0, .record_every = every, .progress = prog_cb, .user = &pr
        };
        ck_assert(p_sample_loop(x, rec, &nrec, &d, oracle_fn, &ctx, &so, ws, LB, LH, LW, LC) == DDPM_OK);
        diffusion_workspace_free(ws);
        ck_assert_int_eq(nrec, nrec_want);
        ck_assert_int_eq(ctx.calls, LT);
        ck_assert_int_eq(pr.calls, LT);
        ck_assert_int_eq(pr.last_done, LT);
        ck_assert_int_eq(pr.last_total, LT);
        /* With the exact oracle pred_xstart = x* at every step, and x_0 = mean at t = 0 =
         * coef1[0] x* = x*. Float rounding: eps oracle divides by sqrt(1 - ac) ~ 0.03 at
         * t = 0, so ~1e-6 absolute. */
        double err_x = 0, err_rec = 0;
        for (int b = 0; b < LB; b++)
            for (int i = 0; i < LD; i++) {
                double e = fabs((double)(x[b * LD + i] - xstar[i]));
                err_x = e > err_x ? e : err_x;
                for (int k = 0; k < nrec; k++) {
                    e = fabs((double)(rec[(size_t)k * LB * LD + b * LD + i] - xstar[i]));
                    err_rec = e > err_rec ? e : err_rec;
                }
            }
        fprintf(stderr, "sample loop %s oracle: max |x0 - x*| %.3g, max |recorded pred_xstart - x*| %.3g\n", MEAN_N[m],
                err_x, err_rec);
        ck_assert(err_x < 1e-5 && err_rec < 1e-5);
        free(rec);
        diffusion_free(&d);
    }
}
END_TEST

START_TEST(test_sample_loop_batch_split_and_finiteness)
{
    for (int v = 0; v < 3; v++) {
        diffusion d;
        init_linear(&d, LT, 1e-3, 0.2, MEAN_EPS, (model_var_type_t)v, LOSS_KL);
        int shape[3] = { LD, LC, v == VAR_LEARNED };
        float x4[LB * LD], x2[LB * LD];
        diffusion_sample_xT(x4, 21, 50, LB, LD);
        for (int h = 0; h < 2; h++) diffusion_sample_xT(x2 + h * 2 * LD, 21, 50 + 2 * h, 2, LD);
        ck_assert(memcmp(x4, x2, sizeof x4) == 0);
        const int every = 3, nrec = p_sample_num_recorded(LT - 1, every); /* 19,..: 18,15,...,0 */
        ck_assert_int_eq(nrec, 7);
        float *r4 = malloc((size_t)nrec * LB * LD * sizeof *r4);
        float *r2 = malloc((size_t)nrec * 2 * LD * sizeof *r2);
        int n4 = 0, n2 = 0;
        const int Cout = v == VAR_LEARNED ? 2 * LC : LC;
        diffusion_workspace *ws4 = diffusion_workspace_alloc(&d, LB, LH, LW, LC, Cout);
        diffusion_workspace *ws2 = diffusion_workspace_alloc(&d, 2, LH, LW, LC, Cout);
        ck_assert(ws4 && ws2);
        p_sample_opts so = { .t_start = LT - 1, .seed = 6, .example_offset = 50, .record_every = every };
        ck_assert(p_sample_loop(x4, r4, &n4, &d, affine_fn, shape, &so, ws4, LB, LH, LW, LC) == DDPM_OK);
        ck_assert_int_eq(n4, nrec);
        for (int h = 0; h < 2; h++) {
            so.example_offset = 50 + 2 * (uint32_t)h;
            ck_assert(p_sample_loop(x2 + h * 2 * LD, r2, &n2, &d, affine_fn, shape, &so, ws2, 2, LH, LW, LC) ==
                      DDPM_OK);
            ck_assert_int_eq(n2, nrec);
            for (int k = 0; k < nrec; k++)
                ck_assert(memcmp(r4 + (size_t)k * LB * LD + h * 2 * LD, r2 + (size_t)k * 2 * LD,
                                 2 * LD * sizeof(float)) == 0);
        }
        ck_assert(memcmp(x4, x2, sizeof x4) == 0);
        for (int i = 0; i < LB * LD; i++) ck_assert(isfinite(x4[i]));
        for (int i = 0; i < nrec * LB * LD; i++) ck_assert(r4[i] >= -1.0f && r4[i] <= 1.0f);
        /* the last record is pred_xstart at t = 0, which is x_0's own pre-mean estimate */
        diffusion_workspace_free(ws4);
        diffusion_workspace_free(ws2);
        free(r4);
        free(r2);
        diffusion_free(&d);
    }
}
END_TEST

/* p_sample_step: x_prev = mean + exp(log_var / 2) z for t > 0 and the mean at t = 0. */
START_TEST(test_p_sample_step_formula)
{
    diffusion d;
    init_linear(&d, 1000, 1e-4, 0.02, MEAN_XSTART, VAR_LEARNED, LOSS_KL);
    enum { C = 2, D = 2 * 2 * C };
    float out[2 * D], xt[D], z[D], xp[D], px[D], mean[D], lv[D];
    for (int i = 0; i < 2 * D; i++) out[i] = (float)(0.37 * i - 1.5) * (i % 4 < 2 ? 1.0f : 0.5f);
    for (int i = 0; i < D; i++) {
        xt[i] = (float)(0.2 * i - 0.6);
        z[i] = (float)(0.3 * i - 1.0);
    }
    const int ts[2] = { 0, 400 };
    for (int k = 0; k < 2; k++) {
        int32_t tb[1] = { ts[k] };
        ck_assert(p_sample_step(xp, px, out, xt, z, &d, ts[k], 1, 2, 2, C) == DDPM_OK);
        ck_assert(p_mean_variance(mean, lv, NULL, out, xt, tb, &d, 1, 1, 2, 2, C) == DDPM_OK);
        for (int i = 0; i < D; i++) {
            double want = ts[k] == 0 ? (double)mean[i] : (double)mean[i] + exp(0.5 * (double)lv[i]) * (double)z[i];
            ck_assert_msg(fabs((double)xp[i] - want) <= 1e-6 * (1 + fabs(want)), "t=%d i=%d", ts[k], i);
            ck_assert(px[i] >= -1.0f && px[i] <= 1.0f); /* clipped */
        }
    }
    /* in place */
    float xin[D];
    memcpy(xin, xt, sizeof xt);
    ck_assert(p_sample_step(xin, NULL, out, xin, z, &d, 400, 1, 2, 2, C) == DDPM_OK);
    ck_assert(memcmp(xin, xp, sizeof xp) == 0);
    diffusion_free(&d);
}
END_TEST

/* One workspace reused across the batches of a data set (3 + 3 + 1 of 7 examples, the last
 * batch smaller than the workspace) gives, bit for bit, what one batch of all 7 gives. */
START_TEST(test_workspace_reused_over_batches_equals_one_batch)
{
    enum { N = 7, BATCH = 3 };
    for (int v = 0; v < 3; v++) {
        diffusion d;
        init_linear(&d, LT, 1e-3, 0.2, MEAN_EPS, (model_var_type_t)v, LOSS_KL);
        int shape[3] = { LD, LC, v == VAR_LEARNED };
        const int Cout = v == VAR_LEARNED ? 2 * LC : LC;
        diffusion_workspace *big = diffusion_workspace_alloc(&d, N, LH, LW, LC, Cout);
        diffusion_workspace *ws = diffusion_workspace_alloc(&d, BATCH, LH, LW, LC, Cout);
        ck_assert_msg(big && ws, "%s", ddpm_last_error());
        ck_assert_int_eq(diffusion_workspace_max_batch(ws), BATCH);
        /* likelihood */
        float x0[N * LD];
        for (int i = 0; i < N * LD; i++) x0[i] = (float)(((i * 37 + 11) % 256) / 127.5 - 1.0);
        double tot1[N], pri1[N], terms1[N * LT], mse1[N * LT];
        double totb[N], prib[N], termsb[N * LT], mseb[N * LT];
        bpd_opts bo;
        bpd_opts_default(&bo);
        bo.seed = 5;
        ck_assert(calc_bpd_loop(tot1, pri1, terms1, mse1, x0, &d, affine_fn, shape, &bo, big, N, LH, LW, LC) ==
                  DDPM_OK);
        for (int i0 = 0; i0 < N; i0 += BATCH) {
            const int nb = N - i0 < BATCH ? N - i0 : BATCH;
            bo.example_offset = (uint32_t)i0;
            ck_assert(calc_bpd_loop(totb + i0, prib + i0, termsb + i0 * LT, mseb + i0 * LT, x0 + i0 * LD, &d, affine_fn,
                                    shape, &bo, ws, nb, LH, LW, LC) == DDPM_OK);
        }
        ck_assert(memcmp(tot1, totb, sizeof tot1) == 0);
        ck_assert(memcmp(pri1, prib, sizeof pri1) == 0);
        ck_assert(memcmp(terms1, termsb, sizeof terms1) == 0);
        ck_assert(memcmp(mse1, mseb, sizeof mse1) == 0);
        /* sampling with recording, the same workspace again */
        const int every = 4, K = p_sample_num_recorded(LT - 1, every);
        float x1[N * LD], xb[N * LD];
        float *rec1 = malloc((size_t)K * N * LD * sizeof *rec1);
        float *recb = malloc((size_t)K * BATCH * LD * sizeof *recb);
        ck_assert(rec1 && recb);
        diffusion_sample_xT(x1, 13, 0, N, LD);
        memcpy(xb, x1, sizeof x1);
        p_sample_opts so;
        p_sample_opts_default(&so, &d);
        so.seed = 13;
        so.record_every = every;
        int k1 = 0;
        ck_assert(p_sample_loop(x1, rec1, &k1, &d, affine_fn, shape, &so, big, N, LH, LW, LC) == DDPM_OK);
        ck_assert_int_eq(k1, K);
        for (int i0 = 0; i0 < N; i0 += BATCH) {
            const int nb = N - i0 < BATCH ? N - i0 : BATCH;
            int kb = 0;
            so.example_offset = (uint32_t)i0;
            ck_assert(p_sample_loop(xb + i0 * LD, recb, &kb, &d, affine_fn, shape, &so, ws, nb, LH, LW, LC) == DDPM_OK);
            ck_assert_int_eq(kb, K);
            for (int k = 0; k < K; k++)
                ck_assert(memcmp(rec1 + ((size_t)k * N + i0) * LD, recb + (size_t)k * nb * LD,
                                 (size_t)nb * LD * sizeof(float)) == 0);
        }
        ck_assert(memcmp(x1, xb, sizeof x1) == 0);
        free(rec1);
        free(recb);
        diffusion_workspace_free(big);
        diffusion_workspace_free(ws);
        diffusion_free(&d);
    }
}
END_TEST

/* The option defaults are what callers passed before the options structs: sampling from
 * t = T - 1 with seed 0 and example offset 0, no recording, no progress; the likelihood with
 * seed 0 and offset 0. A NULL options pointer means the defaults. */
START_TEST(test_loop_option_defaults)
{
    diffusion d;
    init_linear(&d, LT, 1e-3, 0.2, MEAN_EPS, VAR_LEARNED, LOSS_KL);
    int shape[3] = { LD, LC, 1 };
    p_sample_opts so;
    memset(&so, 0x5a, sizeof so);
    p_sample_opts_default(&so, &d);
    ck_assert_int_eq(so.t_start, LT - 1);
    ck_assert(so.seed == 0 && so.example_offset == 0 && so.record_every == 0);
    ck_assert(so.progress == NULL && so.user == NULL);
    bpd_opts bo;
    memset(&bo, 0x5a, sizeof bo);
    bpd_opts_default(&bo);
    ck_assert(bo.seed == 0 && bo.example_offset == 0 && bo.progress == NULL && bo.user == NULL);

    diffusion_workspace *ws = diffusion_workspace_alloc(&d, LB, LH, LW, LC, 2 * LC);
    ck_assert_msg(ws != NULL, "%s", ddpm_last_error());
    float xa[LB * LD], xb[LB * LD], rec[LB * LD];
    diffusion_sample_xT(xa, 0, 0, LB, LD);
    memcpy(xb, xa, sizeof xa);
    const p_sample_opts old = {
        .t_start = LT - 1, .seed = 0, .example_offset = 0, .record_every = 0, .progress = NULL, .user = NULL
    };
    int ka = -1, kb = -1;
    ck_assert(p_sample_loop(xa, rec, &ka, &d, affine_fn, shape, NULL, ws, LB, LH, LW, LC) == DDPM_OK);
    ck_assert(p_sample_loop(xb, NULL, &kb, &d, affine_fn, shape, &old, ws, LB, LH, LW, LC) == DDPM_OK);
    ck_assert(memcmp(xa, xb, sizeof xa) == 0);
    ck_assert_int_eq(ka, 0); /* recording is off by default even with a buffer */
    ck_assert_int_eq(kb, 0);
    /* and the default seed matters: another seed gives other samples */
    p_sample_opts other = old;
    other.seed = 1;
    diffusion_sample_xT(xb, 0, 0, LB, LD);
    ck_assert(p_sample_loop(xb, NULL, NULL, &d, affine_fn, shape, &other, ws, LB, LH, LW, LC) == DDPM_OK);
    ck_assert(memcmp(xa, xb, sizeof xa) != 0);

    float x0[LB * LD];
    for (int i = 0; i < LB * LD; i++) x0[i] = (float)(((i * 13 + 3) % 256) / 127.5 - 1.0);
    double ta[LB * LT], tb[LB * LT];
    const bpd_opts bold = { .seed = 0, .example_offset = 0, .progress = NULL, .user = NULL };
    ck_assert(calc_bpd_loop(NULL, NULL, ta, NULL, x0, &d, affine_fn, shape, NULL, ws, LB, LH, LW, LC) == DDPM_OK);
    ck_assert(calc_bpd_loop(NULL, NULL, tb, NULL, x0, &d, affine_fn, shape, &bold, ws, LB, LH, LW, LC) == DDPM_OK);
    ck_assert(memcmp(ta, tb, sizeof ta) == 0);
    diffusion_workspace_free(ws);
    diffusion_free(&d);
}
END_TEST

/* A workspace serves only the shapes it was made for, and says so. */
START_TEST(test_workspace_errors)
{
    diffusion d;
    init_linear(&d, LT, 1e-3, 0.2, MEAN_EPS, VAR_FIXEDSMALL, LOSS_KL);
    int shape[3] = { LD, LC, 0 };
    ck_assert(diffusion_workspace_alloc(&d, 2, LH, LW, LC, 2 * LC) == NULL); /* fixed variance: Cout = C */
    ck_assert(strstr(ddpm_last_error(), "Cout") != NULL);
    ck_assert(diffusion_workspace_alloc(&d, 0, LH, LW, LC, LC) == NULL);
    diffusion_workspace_free(NULL);
    diffusion_workspace *ws = diffusion_workspace_alloc(&d, 2, LH, LW, LC, LC);
    ck_assert(ws != NULL);
    float x[4 * LD] = { 0 };
    double tot[4];
    ck_assert_int_eq(p_sample_loop(x, NULL, NULL, &d, affine_fn, shape, NULL, ws, 3, LH, LW, LC), DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "up to 2 examples") != NULL);
    ck_assert_int_eq(calc_bpd_loop(tot, NULL, NULL, NULL, x, &d, affine_fn, shape, NULL, ws, 2, LH, 2 * LW, LC),
                     DDPM_ERR);
    ck_assert_int_eq(calc_bpd_loop(tot, NULL, NULL, NULL, x, &d, affine_fn, shape, NULL, NULL, 2, LH, LW, LC),
                     DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "diffusion_workspace_alloc") != NULL);
    diffusion other;
    init_linear(&other, LT + 1, 1e-3, 0.2, MEAN_EPS, VAR_FIXEDSMALL, LOSS_KL); /* another T */
    ck_assert_int_eq(calc_bpd_loop(tot, NULL, NULL, NULL, x, &other, affine_fn, shape, NULL, ws, 2, LH, LW, LC),
                     DDPM_ERR);
    p_sample_opts so;
    p_sample_opts_default(&so, &d);
    so.t_start = LT;
    ck_assert_int_eq(p_sample_loop(x, NULL, NULL, &d, affine_fn, shape, &so, ws, 2, LH, LW, LC), DDPM_ERR);
    diffusion_free(&other);
    diffusion_workspace_free(ws);
    diffusion_free(&d);
}
END_TEST

/* training_losses ADDS its gradient, as the nn backward passes do: into a zeroed buffer it is
 * the gradient, called twice it is exactly twice the gradient, and into a filled buffer it is
 * the sum. */
START_TEST(test_training_losses_adds_gradient)
{
    enum { B = 3, H = 2, W = 2, C = 2, D = H * W * C };
    const int32_t t[B] = { 0, 5, 900 };
    float x0[B * D], noise[B * D], xt[B * D];
    for (int i = 0; i < B * D; i++) x0[i] = (float)(((i * 41 + 9) % 256) / 127.5 - 1.0);
    rng_normal_fill(rng_stream_make(3, RNG_EVAL, 4, 0), noise, B * D);
    for (int v = 0; v < 3; v++)
        for (int l = 0; l < 2; l++) {
            if (l == LOSS_MSE && v == VAR_LEARNED) continue;
            diffusion d;
            init_linear(&d, 1000, 1e-4, 0.02, MEAN_EPS, (model_var_type_t)v, (loss_type_t)l);
            q_sample(xt, x0, t, noise, &d, B, D);
            const int Cout = v == VAR_LEARNED ? 2 * C : C, N = B * H * W * Cout;
            float out[2 * B * D], g1[2 * B * D], g2[2 * B * D], base[2 * B * D];
            rng_normal_fill(rng_stream_make(3, RNG_EVAL, 5, 0), out, (size_t)N);
            rng_normal_fill(rng_stream_make(3, RNG_EVAL, 6, 0), base, (size_t)N);
            double loss1[B], loss2[B];
            memset(g1, 0, sizeof g1);
            ck_assert(training_losses(loss1, g1, out, x0, xt, noise, t, &d, B, H, W, C) == DDPM_OK);
            memset(g2, 0, sizeof g2);
            ck_assert(training_losses(loss2, g2, out, x0, xt, noise, t, &d, B, H, W, C) == DDPM_OK);
            ck_assert(training_losses(NULL, g2, out, x0, xt, noise, t, &d, B, H, W, C) == DDPM_OK);
            ck_assert(memcmp(loss1, loss2, sizeof loss1) == 0);
            int nonzero = 0;
            for (int i = 0; i < N; i++) {
                ck_assert(g2[i] == 2.0f * g1[i]);
                nonzero += g1[i] != 0.0f;
            }
            ck_assert(nonzero > N / 2);
            float g3[2 * B * D];
            memcpy(g3, base, sizeof g3);
            ck_assert(training_losses(NULL, g3, out, x0, xt, noise, t, &d, B, H, W, C) == DDPM_OK);
            for (int i = 0; i < N; i++) ck_assert(g3[i] == base[i] + g1[i]);
            diffusion_free(&d);
        }
}
END_TEST

static Suite *diffusion_suite(void)
{
    Suite *s = suite_create("diffusion");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_schedule_tables_match_reference);
    tcase_add_test(tc, test_init_from_config);
    tcase_add_test(tc, test_fixedlarge_t0_uses_posterior_variance_1);
    tcase_add_test(tc, test_gaussian_helpers_match_reference);
    tcase_add_test(tc, test_discretized_likelihood_sums_to_one);
    tcase_add_test(tc, test_q_sample_and_posterior_match_reference);
    tcase_add_test(tc, test_prior_bpd_magnitude);
    tcase_add_test(tc, test_q_sample_moments);
    tcase_add_test(tc, test_p_mean_variance_matches_reference);
    tcase_add_test(tc, test_losses_match_reference);
    tcase_add_test(tc, test_argument_errors);
    tcase_add_test(tc, test_oracle_gives_zero_kl);
    tcase_add_test(tc, test_loss_gradients_finite_differences);
    tcase_add_test(tc, test_bpd_loop_oracle);
    tcase_add_test(tc, test_bpd_loop_batch_split_invariance);
    tcase_add_test(tc, test_sample_loop_oracle_and_recording);
    tcase_add_test(tc, test_sample_loop_batch_split_and_finiteness);
    tcase_add_test(tc, test_p_sample_step_formula);
    tcase_add_test(tc, test_workspace_reused_over_batches_equals_one_batch);
    tcase_add_test(tc, test_loop_option_defaults);
    tcase_add_test(tc, test_workspace_errors);
    tcase_add_test(tc, test_training_losses_adds_gradient);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(diffusion_suite)
