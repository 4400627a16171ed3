#!/usr/bin/env bash
# check_layers.sh [ROOT] — derives the include graph of ROOT/src and ROOT/experiments (default:
# the repository) from the `#include "..."` lines and fails on any edge from a lower layer to a
# higher one (docs/architecture.md). Layers, lowest first; a folder may include its own layer
# and the layers below it:
#   0 core dist        (core/progress asks dist for the rank; dist needs only core)
#   1 nn data image io mpi   (mpi is dist's MPI implementation, linked only into bin/ddpm-mpi)
#   2 model diffusion
#   3 train
#   4 features
#   5 eval
#   6 cli experiments (experiments/driver/, included as "driver/driver.h", is the drivers' shared code)
# An include without a folder ("x.h") is of the including file's own folder. A folder under
# src/ that is not in the table is an error too (give it a layer here and in the doc).
# Exit status: 0 when every edge goes down or sideways, 1 otherwise (each bad edge printed).
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
declare -A rank=(
  [core]=0 [dist]=0
  [nn]=1 [data]=1 [image]=1 [io]=1 [mpi]=1
  [model]=2 [diffusion]=2
  [train]=3
  [features]=4
  [eval]=5
  [cli]=6 [experiments]=6 [driver]=6
)
bad=0
for dir in "$root"/src/*/; do
  d=$(basename "$dir")
  if [ -z "${rank[$d]+x}" ]; then
    echo "check_layers: src/$d/ has no layer (add it to scripts/check_layers.sh and docs/architecture.md)"
    bad=1
  fi
done
files=$(cd "$root" && find src experiments -name '*.[ch]' 2>/dev/null | sort)
for f in $files; do
  case $f in
    src/*) from=${f#src/}; from=${from%%/*} ;;
    experiments/*) from=experiments ;;
  esac
  [ -n "${rank[$from]+x}" ] || continue
  while IFS= read -r inc; do
    case $inc in
      */*) to=${inc%%/*} ;;
      *) to=$from ;;
    esac
    if [ -z "${rank[$to]+x}" ]; then
      echo "check_layers: $f includes \"$inc\": no layer '$to'"
      bad=1
    elif [ "${rank[$to]}" -gt "${rank[$from]}" ]; then
      echo "check_layers: $f includes \"$inc\": $from (layer ${rank[$from]}) may not include $to (layer ${rank[$to]})"
      bad=1
    fi
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$root/$f")
done
[ $bad -eq 0 ] && echo "check_layers: no back edges in $(echo "$files" | wc -l) files"
exit $bad
