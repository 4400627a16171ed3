#!/usr/bin/env python3
"""Reference Fréchet distances and Inception Scores for tests/test_fid.c (run by hand, never by
the build or the tests):

    /usr/bin/python3 scripts/gen_fid_reference.py          # writes tests/data/fid_ref.h5 (~1 min)

Two feature-set pairs (float32, stored with the results):
  wellcond  D=64, N=500 per set: full-rank covariances
  singular  D=64, N=40 per set:  rank-39 covariances (fewer samples than dimensions)
For each pair three FIDs are recorded:
  fid_pytorch_fid  pytorch-fid's calculate_frechet_distance, verbatim in method: mean,
                   np.cov (N-1), scipy.linalg.sqrtm(s1 @ s2) (real part; eps retry if not
                   finite) — what published numbers use
  fid_eig64        the symmetric route the C code uses (tr sqrt(A s2 A), A = s1^(1/2) by eigh,
                   negative eigenvalues clamped), in numpy float64
  fid_mp           the same formula in 40-digit mpmath arithmetic on the same float64 mu/sigma:
                   the reference the C result is judged against (both float64 routes are
                   inexact for singular covariances: eigenvalues near 0 carry absolute errors
                   ~ eps*||s||, and their square roots ~ sqrt(eps*||s||) each)
mu/sigma (numpy float64) are stored too, so the C test can check feature_stats separately, and
pytorch-fid's FID(a, a) (ideally 0) shows its own round-off level.

Inception Score: logits (N=203, K=1008, float32) with a few dominant classes; the reference is
the original improved-GAN computation (softmax, consecutive splits preds[i*N//s:(i+1)*N//s],
exp(mean KL(p(y|x) || p(y))), mean and np.std) in float64, for splits = 1, 7 and 10.
"""
import os
import time

import h5py
import mpmath as mp
import numpy as np
from scipy import linalg

VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "fid_ref.h5")


def fid_pytorch_fid(mu1, s1, mu2, s2, eps=1e-6):
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def fid_eig64(mu1, s1, mu2, s2):
    l, V = np.linalg.eigh(s1)
    A = (V * np.sqrt(np.maximum(l, 0))) @ V.T
    m = np.linalg.eigvalsh(A @ s2 @ A)
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.maximum(m, 0)).sum())


def fid_mp(mu1, s1, mu2, s2):
    mp.mp.dps = 40
    D = len(mu1)
    S1 = mp.matrix(s1.tolist())
    S2 = mp.matrix(s2.tolist())
    E, Q = mp.eigsy(S1)
    R = mp.matrix(D, D)
    for j in range(D):
        r = mp.sqrt(E[j]) if E[j] > 0 else mp.mpf(0)
        for i in range(D):
            R[i, j] = Q[i, j] * r
    A = R * Q.T
    M = A * S2 * A
    M = (M + M.T) / 2
    ev = mp.eigsy(M, eigvals_only=True)
    tr = mp.fsum(mp.sqrt(e) if e > 0 else 0 for e in ev)
    diff2 = mp.fsum((mp.mpf(a) - mp.mpf(b)) ** 2 for a, b in zip(mu1, mu2))
    t1 = mp.fsum(S1[i, i] for i in range(D))
    t2 = mp.fsum(S2[i, i] for i in range(D))
    return float(diff2 + t1 + t2 - 2 * tr)


def inception_score_np(logits, splits):
    x = logits.astype(np.float64)
    x = x - x.max(1, keepdims=True)
    p = np.exp(x)
    p /= p.sum(1, keepdims=True)
    n = len(p)
    scores = []
    for i in range(splits):
        part = p[(i * n // splits):((i + 1) * n // splits), :]
        py = np.mean(part, 0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * (np.log(part) - np.log(py)), 0.0)
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return float(np.mean(scores)), float(np.std(scores))


def main():
    rng = np.random.RandomState(31415)
    D = 64
    with h5py.File(OUT, "w") as f:
        f.attrs["version"] = VERSION
        f.attrs["generator"] = "scripts/gen_fid_reference.py"
        for case, N in (("wellcond", 500), ("singular", 40)):
            mix1 = rng.randn(D, D) / np.sqrt(D)
            mix2 = mix1 + 0.3 * rng.randn(D, D) / np.sqrt(D)
            a = (rng.randn(N, D) @ mix1 + 0.5).astype(np.float32)
            b = (rng.randn(N, D) @ mix2 + 0.3 * rng.randn(D)).astype(np.float32)
            stats = []
            for x in (a, b):
                x64 = x.astype(np.float64)
                stats.append((x64.mean(0), np.cov(x64, rowvar=False)))
            (m1, s1), (m2, s2) = stats
            t0 = time.time()
            ref = {"fid_pytorch_fid": fid_pytorch_fid(m1, s1, m2, s2),
                   "fid_eig64": fid_eig64(m1, s1, m2, s2),
                   "fid_mp": fid_mp(m1, s1, m2, s2)}
            g = f.create_group(case)
            g.create_dataset("a", data=a)
            g.create_dataset("b", data=b)
            g.create_dataset("mu_a", data=m1)
            g.create_dataset("sigma_a", data=s1)
            g.create_dataset("mu_b", data=m2)
            g.create_dataset("sigma_b", data=s2)
            for k, v in ref.items():
                g.attrs[k] = v
            g.attrs["fid_self_pytorch_fid"] = fid_pytorch_fid(m1, s1, m1, s1)   # FID(a, a), ideally 0
            print(case, {k: f"{v:.12g}" for k, v in ref.items()},
                  "rel(pytorch-fid vs mp) %.2e, rel(eig64 vs mp) %.2e (%.0fs)" % (
                      abs(ref["fid_pytorch_fid"] - ref["fid_mp"]) / ref["fid_mp"],
                      abs(ref["fid_eig64"] - ref["fid_mp"]) / ref["fid_mp"], time.time() - t0))
        N, K = 203, 1008
        logits = rng.randn(N, K) * 1.5
        logits[np.arange(N), rng.randint(0, 10, size=N)] += 6.0   # a few dominant classes
        logits = logits.astype(np.float32)
        g = f.create_group("is")
        g.create_dataset("logits", data=logits)
        for s in (1, 7, 10):
            m, sd = inception_score_np(logits, s)
            g.attrs[f"mean_splits{s}"] = m
            g.attrs[f"std_splits{s}"] = sd
            print(f"IS splits={s}: {m:.12g} +- {sd:.12g}")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
