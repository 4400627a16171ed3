#!/usr/bin/python3
"""Writes tests/data/diffusion_ref.h5: float64 reference values for tests/test_diffusion.c.

The math follows the official GaussianDiffusion2 (diffusion_tf/diffusion_utils_2.py) and
utils.discretized_gaussian_log_likelihood of hojonathanho/diffusion, re-expressed here in numpy
float64, except the decoder likelihood, which is evaluated in 60-digit mpmath (see
disc_loglik). The official code runs the per-element math in float32; the C port runs it in
double, so float64 is the reference. Inputs are stored as float32 exactly as the C test feeds
them, and every reference value is computed from those float32 values.

Run by hand from the repository root:  /usr/bin/python3 scripts/gen_diffusion_reference.py
Bump VERSION whenever the layout or the inputs change (the C test checks it).
"""
import os

import h5py
import mpmath
import numpy as np

VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data",
                   "diffusion_ref.h5")
BETA_START, BETA_END = 1e-4, 0.02
SCHEDULES = ["linear", "quad", "const", "jsd", "warmup10", "warmup50"]
SCHEDULE_TS = [1000, 10, 37]
MEANS = ["xprev", "xstart", "eps"]
VARS = ["learned", "fixedsmall", "fixedlarge"]
B, H, W, C = 8, 4, 3, 2
T_MAIN = 1000
T_BATCH = np.array([0, 0, 1, 2, 100, 500, 998, 999], dtype=np.int32)
PERTURB = np.array([0.002, 0.5, 0.01, 0.05, 0.1, 0.3, 1.0, 0.2])  # per example


def betas_for(name, T):
    if name == "linear":
        return np.linspace(BETA_START, BETA_END, T, dtype=np.float64)
    if name == "quad":
        return np.linspace(BETA_START ** 0.5, BETA_END ** 0.5, T, dtype=np.float64) ** 2
    if name == "const":
        return np.full(T, BETA_END, dtype=np.float64)
    if name == "jsd":
        return 1.0 / np.linspace(T, 1, T, dtype=np.float64)
    if name in ("warmup10", "warmup50"):
        frac = 0.1 if name == "warmup10" else 0.5
        b = np.full(T, BETA_END, dtype=np.float64)
        n = int(T * frac)
        b[:n] = np.linspace(BETA_START, BETA_END, n, dtype=np.float64)
        return b
    raise ValueError(name)


def tables(betas):
    with np.errstate(divide="ignore"):
        alphas = 1.0 - betas
        ac = np.cumprod(alphas)
        acp = np.concatenate([[1.0], ac[:-1]])
        tb = {
            "betas": betas,
            "alphas_cumprod": ac,
            "alphas_cumprod_prev": acp,
            "sqrt_alphas_cumprod": np.sqrt(ac),
            "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - ac),
            "log_one_minus_alphas_cumprod": np.log(1.0 - ac),
            "sqrt_recip_alphas_cumprod": np.sqrt(1.0 / ac),
            "sqrt_recipm1_alphas_cumprod": np.sqrt(1.0 / ac - 1.0),
        }
        pv = betas * (1.0 - acp) / (1.0 - ac)
        tb["posterior_variance"] = pv
        tb["posterior_log_variance_clipped"] = np.log(np.concatenate([[pv[1]], pv[1:]]))
        tb["posterior_mean_coef1"] = betas * np.sqrt(acp) / (1.0 - ac)
        tb["posterior_mean_coef2"] = (1.0 - acp) * np.sqrt(alphas) / (1.0 - ac)
        large = np.concatenate([[pv[1]], betas[1:]])
        tb["model_variance_fixedlarge"] = large
        tb["model_log_variance_fixedlarge"] = np.log(large)
        tb["model_variance_fixedsmall"] = pv
        tb["model_log_variance_fixedsmall"] = tb["posterior_log_variance_clipped"]
    return tb


def kl_gauss(m1, lv1, m2, lv2):
    return 0.5 * (-1.0 + lv2 - lv1 + np.exp(lv1 - lv2) + (m1 - m2) ** 2 * np.exp(-lv2))


def _tanh_cdf_exact(z):
    with mpmath.workdps(60):
        z = mpmath.mpf(z)
        a = mpmath.sqrt(2 / mpmath.pi)
        return float((1 + mpmath.tanh(a * (z + mpmath.mpf("0.044715") * z ** 3))) / 2)


def tanh_cdf(z):
    # the official approx_standard_normal_cdf, in 60 digits (0.5 (1 + tanh) cancels for z << 0)
    return np.vectorize(_tanh_cdf_exact, otypes=[np.float64])(np.asarray(z, np.float64))


def _disc_loglik_exact(x, mean, log_scale):
    # The official formula evaluated in 60-digit arithmetic on the float64 inputs: far-tail bins
    # cancel cdf_plus - cdf_min near 1, which float64 cannot resolve; this is the exact value of
    # the official function that the C port (which uses the tail-side form) must reproduce.
    with mpmath.workdps(60):
        x, mean, log_scale = mpmath.mpf(x), mpmath.mpf(mean), mpmath.mpf(log_scale)
        a = mpmath.sqrt(2 / mpmath.pi)
        cdf = lambda z: (1 + mpmath.tanh(a * (z + mpmath.mpf("0.044715") * z ** 3))) / 2
        inv = mpmath.exp(-log_scale)
        half = mpmath.mpf(1) / 255
        cdf_p = cdf(inv * (x - mean + half))
        cdf_m = cdf(inv * (x - mean - half))
        floor = mpmath.mpf("1e-12")
        if x < mpmath.mpf("-0.999"):
            p = cdf_p
        elif x > mpmath.mpf("0.999"):
            p = 1 - cdf_m
        else:
            p = cdf_p - cdf_m
        return float(mpmath.log(max(p, floor)))


def disc_loglik(x, mean, log_scale):
    x, mean, log_scale = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(mean, np.float64),
                                             np.asarray(log_scale, np.float64))
    return np.vectorize(_disc_loglik_exact, otypes=[np.float64])(x, mean, log_scale)


def per_ex(a, t):
    return a[t].reshape(-1, 1, 1, 1)


def p_mean_var(tb, mean_type, var_type, out, xt, t, clip):
    if var_type == "learned":
        o, lv = out[..., :C], out[..., C:]
    else:
        o = out
        lv = per_ex(tb["model_log_variance_" + var_type], t) * np.ones_like(xt)
    c1, c2 = per_ex(tb["posterior_mean_coef1"], t), per_ex(tb["posterior_mean_coef2"], t)
    mc = (lambda v: np.clip(v, -1.0, 1.0)) if clip else (lambda v: v)
    if mean_type == "xprev":
        px0 = mc((1.0 / c1) * o - (c2 / c1) * xt)
        mean = o
    else:
        if mean_type == "xstart":
            px0 = mc(o)
        else:
            px0 = mc(per_ex(tb["sqrt_recip_alphas_cumprod"], t) * xt
                     - per_ex(tb["sqrt_recipm1_alphas_cumprod"], t) * o)
        mean = c1 * px0 + c2 * xt
    return mean, lv, px0


def vb_terms(tb, mean_type, var_type, out, x0, xt, t, clip):
    c1, c2 = per_ex(tb["posterior_mean_coef1"], t), per_ex(tb["posterior_mean_coef2"], t)
    true_mean = c1 * x0 + c2 * xt
    true_lv = per_ex(tb["posterior_log_variance_clipped"], t)
    mean, lv, px0 = p_mean_var(tb, mean_type, var_type, out, xt, t, clip)
    kl = kl_gauss(true_mean, true_lv, mean, lv).mean(axis=(1, 2, 3)) / np.log(2.0)
    nll = -disc_loglik(x0, mean, 0.5 * lv).mean(axis=(1, 2, 3)) / np.log(2.0)
    mse = ((px0 - x0) ** 2).mean(axis=(1, 2, 3))
    return np.where(t == 0, nll, kl), px0, mse


def main():
    rng = np.random.default_rng(20200619)
    f = h5py.File(OUT, "w")
    f.attrs["version"] = VERSION
    f.attrs["generator"] = "scripts/gen_diffusion_reference.py"
    f.attrs["beta_start"] = BETA_START
    f.attrs["beta_end"] = BETA_END

    for s in SCHEDULES:
        for T in SCHEDULE_TS:
            for k, v in tables(betas_for(s, T)).items():
                f[f"schedules/{s}/T{T}/{k}"] = v

    tb = tables(betas_for("linear", T_MAIN))
    t = T_BATCH
    pix = rng.integers(0, 256, size=(B, H, W, C))
    pix[:, 0, 0, 0] = 0      # exercise the open-ended edge bins
    pix[:, 0, 1, 1] = 255
    x0 = (pix / 127.5 - 1.0).astype(np.float32)
    noise = rng.standard_normal((B, H, W, C)).astype(np.float32)
    xt64 = per_ex(tb["sqrt_alphas_cumprod"], t) * x0.astype(np.float64) \
        + per_ex(tb["sqrt_one_minus_alphas_cumprod"], t) * noise.astype(np.float64)
    xt = xt64.astype(np.float32)   # the C side stores x_t in float32; everything below uses it
    f["inputs/x0"] = x0
    f["inputs/noise"] = noise
    f["inputs/t"] = t
    f["inputs/xt"] = xt
    f["q_sample/xt64"] = xt64

    x0d, xtd, nd = x0.astype(np.float64), xt.astype(np.float64), noise.astype(np.float64)
    c1, c2 = per_ex(tb["posterior_mean_coef1"], t), per_ex(tb["posterior_mean_coef2"], t)
    post_mean = c1 * x0d + c2 * xtd
    f["posterior/mean"] = post_mean
    f["posterior/variance"] = tb["posterior_variance"][t]
    f["posterior/log_variance_clipped"] = tb["posterior_log_variance_clipped"][t]

    targets = {"xprev": post_mean, "xstart": x0d, "eps": nd}
    for m in MEANS:
        for v in VARS:
            g = f"models/{m}_{v}"
            pert = PERTURB.reshape(-1, 1, 1, 1) * rng.standard_normal((B, H, W, C))
            o = (targets[m] + pert).astype(np.float32)
            if v == "learned":
                lv = per_ex(tb["posterior_log_variance_clipped"], t) \
                    + 0.5 * rng.standard_normal((B, H, W, C))
                out = np.concatenate([o, lv.astype(np.float32)], axis=-1)
            else:
                out = o
            f[g + "/model_out"] = out
            od = out.astype(np.float64)
            for clip in (0, 1):
                sfx = "_clip" if clip else ""
                mean, lv_, px0 = p_mean_var(tb, m, v, od, xtd, t, clip)
                f[g + "/mean" + sfx] = mean
                f[g + "/log_var" + sfx] = lv_
                f[g + "/pred_xstart" + sfx] = px0
                terms, _, mse = vb_terms(tb, m, v, od, x0d, xtd, t, clip)
                f[g + "/vb_terms" + sfx] = terms
                f[g + "/vb_mse" + sfx] = mse
            # training losses: kl without clipping; mse against the mean type's target
            f[g + "/loss_kl"] = vb_terms(tb, m, v, od, x0d, xtd, t, 0)[0]
            if v != "learned":
                f[g + "/loss_mse"] = ((targets[m] - od) ** 2).mean(axis=(1, 2, 3))

    prior_mean = per_ex(tb["sqrt_alphas_cumprod"], np.full(B, T_MAIN - 1)) * x0d
    prior_lv = tb["log_one_minus_alphas_cumprod"][T_MAIN - 1]
    f["prior/bpd"] = kl_gauss(prior_mean, prior_lv, 0.0, 0.0).mean(axis=(1, 2, 3)) / np.log(2.0)

    # Gaussian helpers at scattered points, including edge bins and floored probabilities.
    n = 400
    xs = (rng.integers(0, 256, n) / 127.5 - 1.0)
    xs[:20], xs[20:40] = -1.0, 1.0
    means = xs + rng.standard_normal(n) * np.exp(rng.uniform(-7, 0, n))
    log_scales = rng.uniform(-7, 0.5, n)
    f["gauss/x"], f["gauss/mean"], f["gauss/log_scale"] = xs, means, log_scales
    f["gauss/logp"] = disc_loglik(xs, means, log_scales)
    z = np.linspace(-8, 8, 161)
    f["gauss/z"], f["gauss/cdf"] = z, tanh_cdf(z)
    m1, m2 = rng.standard_normal(50), rng.standard_normal(50)
    l1, l2 = rng.uniform(-10, 1, 50), rng.uniform(-10, 1, 50)
    f["gauss/kl_in"] = np.stack([m1, l1, m2, l2], axis=1)
    f["gauss/kl"] = kl_gauss(m1, l1, m2, l2)
    f.close()
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
