#!/usr/bin/env bash
# make bench: U-Net throughput of the C code and, when Debian's python3-torch is installed,
# of PyTorch with the same thread count in the same run, with the ratio and GFLOP/s; then the
# peak resident memory of a batch-128 paper training step, C beside PyTorch (each in its own
# process; BENCH_MEMORY=0 skips it, it takes a few minutes). The _gM cases are the grad_blocks = M
# training step (M fixed blocks, the unit of the reproducible MPI reduction) beside the whole batch.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${BENCH_THREADS:-2}
secs=${BENCH_SECONDS:-8}
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
out=$(mktemp)
${BIN_DIR:-bin}/ddpm bench --seconds "$secs" | tee "$out"
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  /usr/bin/python3 scripts/bench_torch.py "$threads" | tee -a "$out"
else
  echo "bench: python3-torch not installed; PyTorch comparison skipped"
fi
# GFLOP per image: `cflop` lines (unet_forward_flops: the direct-convolution-equivalent work of
# the network's layer list; a training step counts 3 forwards), the same for both sides.
awk -v threads="$threads" '
  $1 == "c" || $1 == "torch" { v[$1 " " $2] = $3; cases[$2] = 1 }
  $1 == "cflop" { gf[$2] = $3 }
  $1 == "cpeak" { peak = $3 }
  END {
    printf "\n%-20s %12s %12s %8s %11s %11s %9s\n", "case", "C img/s", "torch img/s", "ratio", "C GFLOP/s", "torch GF/s", "C % peak";
    n = 0; for (c in cases) names[++n] = c;
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (names[j] < names[i]) { t = names[i]; names[i] = names[j]; names[j] = t; }
    for (i = 1; i <= n; i++) {
      c = names[i]; ci = v["c " c]; ti = v["torch " c]; f = gf[c];
      printf "%-20s %12.2f %12s %8s %11.1f %11s %9s\n", c, ci, ti ? sprintf("%.2f", ti) : "-",
             ti ? sprintf("%.2fx", ci / ti) : "-", ci * f, ti ? sprintf("%.1f", ti * f) : "-",
             peak ? sprintf("%.0f%%", 100 * ci * f / peak) : "-";
    }
    if (peak) printf "sgemm peak (nn_sgemm 1024^3, same threads, this run): %.1f GFLOP/s\n", peak;
    printf "(%d threads each; GFLOP/s counts the direct convolution'"'"'s work, so Winograd layers count as if direct)\n", threads;
    # grad_blocks (issue 16): the blocked step beside the whole-batch step of the same batch
    for (c in cases) if (c ~ /_g[0-9]+$/) {
      base = c; sub(/_g[0-9]+$/, "", base);
      if (v["c " base] > 0) printf "%s vs %s: %.3fx the whole-batch throughput\n", c, base, v["c " c] / v["c " base];
    }
  }' "$out"
if [ "${BENCH_MEMORY:-1}" != 0 ]; then
  echo
  echo "bench: peak memory of two batch-128 training steps of the paper U-Net (a few minutes)..."
  ${BIN_DIR:-bin}/ddpm bench --case paper_train_b128 | tee -a "$out"
  if /usr/bin/python3 -c "import torch" 2>/dev/null; then
    /usr/bin/python3 scripts/bench_torch.py "$threads" memory | tee -a "$out"
  fi
  awk '$1 == "cmem" { c = $3 } $1 == "torchmem" { t = $3 }
    END { if (c) printf "peak memory, paper train b128: C %d MiB, torch %s MiB%s\n", c, t ? t : "-",
                        t ? sprintf(" (%.2fx)", c / t) : "" }' "$out"
fi
rm -f "$out"
