#!/usr/bin/env bash
# Installs the Debian 12 packages the harness needs, if missing. Idempotent and fast when all
# are present. Uses sudo when not root.
#   install_deps.sh          what building, testing and the experiments need
#   install_deps.sh --dev    also the tools of `make fuzz` (clang, libFuzzer) and `make valgrind`, and
#                            Debian's python3-torch/-h5py/-numpy (PyTorch side of `make bench`, fixture scripts)
#   install_deps.sh --mpi    also Open MPI for bin/ddpm-mpi (`make setup-mpi`; never libhdf5-openmpi-dev,
#                            which would re-point `pkg-config hdf5` at the MPI build)
set -euo pipefail
pkgs=(build-essential libopenblas-dev libhdf5-dev libpng-dev zlib1g-dev check pkg-config dataset-fashion-mnist)
if [ "${1:-}" = "--dev" ]; then pkgs+=(clang-14 libclang-rt-14-dev valgrind python3-torch python3-h5py python3-numpy); fi
if [ "${1:-}" = "--mpi" ]; then pkgs+=(openmpi-bin libopenmpi-dev); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present (${pkgs[*]})"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
