/* gaussian.c — KL between diagonal Gaussians and the discretized Gaussian decoder likelihood
 * (official utils.discretized_gaussian_log_likelihood), with their derivatives. */
#include <math.h>

#include "diffusion/diffusion_internal.h"

#define GELU_A     0.7978845608028654 /* sqrt(2/pi) */
#define GELU_K     0.044715
#define PROB_FLOOR 1e-12
#define HALF_BIN   (1.0 / 255.0)

double normal_kl(double mean1, double logvar1, double mean2, double logvar2)
{
    double dm = mean1 - mean2;
    return 0.5 * (-1.0 + logvar2 - logvar1 + exp(logvar1 - logvar2) + dm * dm * exp(-logvar2));
}

void normal_kl_grad2(double mean1, double logvar1, double mean2, double logvar2, double *dmean2, double *dlogvar2)
{
    double dm = mean1 - mean2, iv2 = exp(-logvar2);
    *dmean2 = -dm * iv2;
    *dlogvar2 = 0.5 * (1.0 - exp(logvar1 - logvar2) - dm * dm * iv2);
}

/* The tanh CDF is a logistic function: (1 + tanh u)/2 = sigmoid(2u), u = a (z + k z^3). Bin
 * probabilities are formed from the tail on the side where they are small (1 - cdf = sigmoid(-2u)),
 * so far-tail bins keep full double precision instead of cancelling cdf_plus - cdf_min near 1;
 * the function is the official one, only evaluated more accurately. */
static inline double sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }
static inline double u_of(double z) { return GELU_A * (z + GELU_K * z * z * z); }
static inline double du_dz(double z) { return GELU_A * (1.0 + 3.0 * GELU_K * z * z); }
/* w * u'(z), 0 when the weight w underflowed (avoids 0 * inf for absurd z). */
static inline double weighted_du(double w, double z) { return w == 0.0 ? 0.0 : w * du_dz(z); }

double discretized_gaussian_log_likelihood_grad(double x, double mean, double log_scale, double *dmean,
                                                double *dlog_scale)
{
    const double centered = x - mean, inv_stdv = exp(-log_scale);
    const double plus_in = inv_stdv * (centered + HALF_BIN);
    const double min_in = inv_stdv * (centered - HALF_BIN);
    const double u_plus = u_of(plus_in), u_min = u_of(min_in);
    /* d log p / d plus_in and d log p / d min_in; d z / d mean = -inv_stdv, d z / d log_scale = -z */
    double g_plus = 0.0, g_min = 0.0, p;
    if (x < -0.999) { /* lowest bin, open below: p = cdf(plus_in) */
        p = sigmoid(2.0 * u_plus);
        g_plus = weighted_du(2.0 * sigmoid(-2.0 * u_plus), plus_in);
    } else if (x > 0.999) { /* highest bin, open above: p = 1 - cdf(min_in) */
        p = sigmoid(-2.0 * u_min);
        g_min = -weighted_du(2.0 * sigmoid(2.0 * u_min), min_in);
    } else {
        p = u_min > 0.0 ? sigmoid(-2.0 * u_min) - sigmoid(-2.0 * u_plus) : sigmoid(2.0 * u_plus) - sigmoid(2.0 * u_min);
        /* pdf(z) = d cdf / dz = 2 sigmoid(2u) sigmoid(-2u) u'(z) */
        g_plus = weighted_du(2.0 * sigmoid(2.0 * u_plus) * sigmoid(-2.0 * u_plus), plus_in) / p;
        g_min = -weighted_du(2.0 * sigmoid(2.0 * u_min) * sigmoid(-2.0 * u_min), min_in) / p;
    }
    if (!(p > PROB_FLOOR)) { /* log(max(p, 1e-12)): flat below the floor */
        if (dmean) *dmean = 0.0;
        if (dlog_scale) *dlog_scale = 0.0;
        return log(PROB_FLOOR);
    }
    if (dmean) *dmean = -inv_stdv * (g_plus + g_min);
    if (dlog_scale) *dlog_scale = -(g_plus * plus_in + g_min * min_in);
    return log(p);
}

double approx_standard_normal_cdf(double x)
{
    return sigmoid(2.0 * u_of(x)); /* = (1 + tanh u)/2 without cancellation for x << 0 */
}

double discretized_gaussian_log_likelihood(double x, double mean, double log_scale)
{
    return discretized_gaussian_log_likelihood_grad(x, mean, log_scale, NULL, NULL);
}
