#!/usr/bin/env bash
# Downloads the CIFAR-10 binary version and unpacks it where the C loader looks for it:
#   DEST/cifar10/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin
# (config: dataset = cifar10 with the default data_dir = data/cifar10, i.e. DEST = data).
#
# usage: scripts/download_cifar10.sh DEST                 download, verify, unpack
#        scripts/download_cifar10.sh DEST --tarball FILE  use an already downloaded tarball
#        scripts/download_cifar10.sh --verify-only FILE   only check FILE's MD5
#
# Idempotent: does nothing when the six batch files exist with their expected size.
# The MD5 is the one published on https://www.cs.toronto.edu/~kriz/cifar.html.
set -euo pipefail

URL="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
MD5="c32a1d4ab5d03f1284b67883e8d87530"
BATCH_BYTES=30730000 # 10000 records of 3073 bytes
FILES="data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin"

die() { echo "download_cifar10.sh: $*" >&2; exit 1; }

usage() {
  sed -n 's/^# \{0,1\}//; 6,8p' "$0" >&2
  exit 2
}

file_size() { stat -c %s "$1" 2>/dev/null || wc -c <"$1"; }

verify_md5() {
  local file=$1 got
  [ -f "$file" ] || die "$file: no such file"
  command -v md5sum >/dev/null || die "md5sum not found (install coreutils)"
  got=$(md5sum "$file" | cut -d' ' -f1)
  if [ "$got" != "$MD5" ]; then
    echo "download_cifar10.sh: $file: MD5 $got does not match the published $MD5" \
      "(corrupt or incomplete download; delete it and rerun)" >&2
    return 1
  fi
  echo "$file: MD5 OK ($MD5)"
}

# 0 when every batch file is present with the expected size.
batches_complete() {
  local dir=$1 f
  for f in $FILES; do
    [ -f "$dir/$f" ] || return 1
    [ "$(file_size "$dir/$f")" = "$BATCH_BYTES" ] || return 1
  done
}

download() {
  local out=$1
  if command -v curl >/dev/null; then
    curl -fL --retry 2 --connect-timeout 20 -o "$out" "$URL" && return 0
  elif command -v wget >/dev/null; then
    wget --tries=2 --timeout=20 -O "$out" "$URL" && return 0
  else
    die "neither curl nor wget is installed (apt-get install curl)"
  fi
  return 1
}

tarball=""
dest=""
case "${1:-}" in
  --verify-only)
    [ $# -eq 2 ] || usage
    verify_md5 "$2"
    exit $?
    ;;
  "" | -h | --help) usage ;;
  *) dest=$1; shift ;;
esac
while [ $# -gt 0 ]; do
  case "$1" in
    --tarball) [ $# -ge 2 ] || usage; tarball=$2; shift 2 ;;
    *) usage ;;
  esac
done

root="$dest/cifar10"
batches="$root/cifar-10-batches-bin"
if batches_complete "$batches"; then
  echo "CIFAR-10 already present in $batches (6 files of $BATCH_BYTES bytes); nothing to do"
  exit 0
fi
mkdir -p "$root" || die "cannot create $root"

if [ -z "$tarball" ]; then
  tarball="$root/cifar-10-binary.tar.gz"
  if [ -f "$tarball" ] && verify_md5 "$tarball" 2>/dev/null; then
    echo "using the already downloaded $tarball"
  else
    echo "downloading $URL (about 163 MB) ..."
    rm -f "$tarball.part"
    if ! download "$tarball.part"; then
      rm -f "$tarball.part"
      die "could not download $URL (offline or the site is unreachable). Fetch" \
        "cifar-10-binary.tar.gz on a machine with internet access, copy it here and run:" \
        "bash scripts/download_cifar10.sh $dest --tarball PATH/cifar-10-binary.tar.gz"
    fi
    mv "$tarball.part" "$tarball"
    verify_md5 "$tarball" || { rm -f "$tarball"; exit 1; }
  fi
else
  verify_md5 "$tarball" || exit 1
fi

echo "unpacking into $root ..."
tar -xzf "$tarball" -C "$root" || die "$tarball: tar failed to unpack it"
batches_complete "$batches" ||
  die "$batches: unpacked files are missing or have unexpected sizes (expected $BATCH_BYTES bytes each)"
if [ "$tarball" = "$root/cifar-10-binary.tar.gz" ]; then
  rm -f "$tarball" # the unpacked batches are what the loader reads
fi
echo "CIFAR-10 ready: $batches"
