# %% [markdown]
# # Reading the DDPM harness logs
#
# This notebook reads only the documented HDF5 schema (docs/hdf5-schema.md) with h5py and
# draws: the training curves of the six Table 2 variants, the bits/dim-per-t profile of their
# likelihood bound, and the rate–distortion curves of the L_simple model (Table 4 / Figure 5).
# It is a percent-format script: run it with `make notebooks` (Debian's python3-h5py and
# python3-matplotlib), which writes `ddpm_logs.md` and the PNGs beside this file.
# `TIER` (environment, default mini) picks results/<tier>/.

# %%
import glob
import os

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

TIER = os.environ.get("TIER", "mini")
ROOT = os.environ.get("DDPM_RESULTS_DIR", "results")
OUT = os.environ.get("NOTEBOOK_OUT") or os.path.dirname(os.path.abspath(__file__))
T2 = os.path.join(ROOT, TIER, "table2")
RD = os.path.join(ROOT, TIER, "ratedist")
print("tier", TIER, "results", os.path.join(ROOT, TIER))

# %% [markdown]
# ## Training curves (Table 2 runs)
# `series/loss` is the mean batch loss per step: bits/dim for the `kl` variants, mean squared
# error for the `mse` ones — so the two groups are drawn on separate axes.

# %%
logs = sorted(glob.glob(os.path.join(T2, "logs", "*.h5")))
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for path in logs:
    name = os.path.basename(path)[:-3]
    with h5py.File(path, "r") as f:
        step = f["series/step"][:]
        loss = f["series/loss"][:]
        outcome = f.attrs.get("outcome", b"")
        outcome = outcome.decode() if isinstance(outcome, bytes) else outcome
    k = max(1, len(loss) // 50)
    smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
    ax = axes[0] if name.endswith("-kl") else axes[1]
    ax.plot(step[k - 1:], smooth, label=f"{name} ({outcome})")
    print(f"{name:24s} steps {int(step[-1]) if len(step) else 0:6d}  final loss {loss[-1]:.4f}  outcome {outcome}")
axes[0].set(title="L (kl): loss in bits/dim", xlabel="step", yscale="log")
axes[1].set(title="mse variants: mean squared error", xlabel="step", yscale="log")
for ax in axes:
    if ax.lines:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no runs of this kind yet", ha="center", transform=ax.transAxes)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "training_curves.png"), dpi=110)

# %% [markdown]
# ## Bits/dim per timestep
# `variants/<v>/terms_bpd_mean[t]` in the Table 2 log: the mean over the test subset of L_t
# (t = 0 is the decoder term −log p(x_0|x_1)). Their sum plus the prior is the NLL bound.

# %%
fig, ax = plt.subplots(figsize=(7, 4))
with h5py.File(os.path.join(T2, "log.h5"), "r") as f:
    for v in sorted(f["variants"]):
        g = f["variants"][v]
        if "terms_bpd_mean" not in g:
            print(v, "— no likelihood terms (diverged or not evaluated)")
            continue
        terms = g["terms_bpd_mean"][:]
        print(f"{v:24s} NLL {g.attrs['bpd_test']:.4f} bits/dim, decoder term {terms[0]:.4f}")
        ax.plot(np.arange(len(terms)), terms, label=v)
ax.set(xlabel="t", ylabel="L_t (bits/dim)", yscale="log", title="likelihood terms per t")
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "bpd_per_t.png"), dpi=110)

# %% [markdown]
# ## Rate–distortion (Table 4, Figure 5)
# `curve/rate_bpd[t]`: bits received to hold x_t; `curve/distortion_rmse[t]`: RMSE of x̂_0 on
# the [0, 255] scale. Drawn against the reverse step T − t and as distortion versus rate.

# %%
with h5py.File(os.path.join(RD, "log.h5"), "r") as f:
    rate = f["curve/rate_bpd"][:]
    rmse = f["curve/distortion_rmse"][:]
    total = f["curve"].attrs["total_bpd"]
T = len(rate)
rev = T - np.arange(T)
paper = np.genfromtxt("paper/table4.csv", delimiter=",", names=True)
fig, axes = plt.subplots(1, 3, figsize=(14, 4))
axes[0].plot(rev, rmse, label="ours")
axes[0].plot(paper["reverse_step"] * T / 1000, paper["distortion_rmse"], "o", label="paper (CIFAR-10)")
axes[0].set(xlabel="reverse step", ylabel="distortion (RMSE, [0,255])")
axes[1].plot(rev, rate, label="ours")
axes[1].plot(paper["reverse_step"] * T / 1000, paper["rate_bpd"], "o", label="paper (CIFAR-10)")
axes[1].set(xlabel="reverse step", ylabel="rate (bits/dim)")
axes[2].plot(rate, rmse, label="ours")
axes[2].plot(paper["rate_bpd"], paper["distortion_rmse"], "o", label="paper (CIFAR-10)")
axes[2].set(xlabel="rate (bits/dim)", ylabel="distortion (RMSE)")
for ax in axes:
    ax.legend(fontsize=8)
fig.suptitle(f"rate–distortion, L_simple model (total {total:.3f} bits/dim)")
fig.tight_layout()
fig.savefig(os.path.join(OUT, "rate_distortion.png"), dpi=110)
print(f"rate at t=0 {rate[0]:.4f} bits/dim, distortion {rmse[0]:.3f}; total NLL {total:.4f}")
