#!/usr/bin/env bash
# Memcheck of a smoke-tier training run: `make valgrind`.
# Builds the tool without -march=native (valgrind does not emulate AVX-512) into build-vg/, then
# runs under valgrind memcheck: a smoke-tier training (8 steps: valgrind runs ~50x slower) stopped
# at step 4, its resume to the end, and
# `ddpm sample` from the result. Any invalid read/write, use of uninitialised memory or
# definite leak fails the run (exit 1); the reports are in build-vg/valgrind-*.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind: not installed; run: make setup-dev (or apt-get install valgrind)" >&2; exit 2; }
make --no-print-directory BUILD=build-vg BIN_DIR=build-vg/bin OPT="-O1 -g" build-vg/bin/ddpm >/dev/null
out=build-vg/valgrind-run
rm -rf "$out"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 DDPM_QUIET=1
vg=(valgrind --tool=memcheck --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --track-origins=yes)
run() {
  local name=$1; shift
  local t0=$SECONDS
  if "${vg[@]}" --log-file="build-vg/valgrind-$name.txt" "$@" >"build-vg/valgrind-$name.out" 2>&1; then
    echo "valgrind: $name clean ($((SECONDS - t0)) s; $(grep -h 'ERROR SUMMARY' "build-vg/valgrind-$name.txt"))"
  else
    echo "valgrind: $name FAILED, see build-vg/valgrind-$name.txt" >&2
    grep -A12 -m3 -E 'Invalid|uninitialised|definitely lost' "build-vg/valgrind-$name.txt" >&2 || tail -20 "build-vg/valgrind-$name.out" >&2
    exit 1
  fi
}
cfg=experiments/configs/smoke/base.cfg
run train build-vg/bin/ddpm train --config $cfg --set train_steps=8 --out $out --ckpt-every 2 --stop-after 4
run resume build-vg/bin/ddpm train --config $cfg --set train_steps=8 --out $out --ckpt-every 2
run sample build-vg/bin/ddpm sample --ckpt $out/ckpt.h5 --n 2 --out build-vg/valgrind-samples.h5
echo "valgrind: smoke training, resume and sampling are clean; reports in build-vg/valgrind-*.txt"
