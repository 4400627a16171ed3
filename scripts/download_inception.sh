#!/usr/bin/env bash
# Downloads the FID Inception weights of pytorch-fid (the TensorFlow 2015-12-05 Inception graph
# ported to PyTorch; 95 MB) into DEST (default: data/) and verifies them.
#
#   bash scripts/download_inception.sh [DEST]        (make inception-weights)
#
# Verification follows torch.hub's convention for such file names: the 8 hex digits after the
# last '-' (6726825d) are the first 8 hex digits of the file's SHA-256. Idempotent: a present,
# verified file is left alone; a present file that fails the check is downloaded again.
set -euo pipefail

dest=${1:-data}
name=pt_inception-2015-12-05-6726825d.pth
prefix=6726825d
url=https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/$name
out=$dest/$name

sha_prefix() { sha256sum "$1" | cut -c1-8; }

mkdir -p "$dest"
if [ -f "$out" ]; then
  got=$(sha_prefix "$out")
  if [ "$got" = "$prefix" ]; then
    echo "$out: present, SHA-256 starts with $prefix (verified)"
    exit 0
  fi
  echo "$out: present but its SHA-256 starts with $got, not $prefix; downloading again" >&2
fi

tmp=$out.part
rm -f "$tmp"
echo "downloading $url"
ok=0
if command -v curl >/dev/null 2>&1; then
  curl -fsSL --retry 3 --connect-timeout 20 -o "$tmp" "$url" && ok=1
elif command -v wget >/dev/null 2>&1; then
  wget -q --tries=3 --timeout=20 -O "$tmp" "$url" && ok=1
else
  echo "download_inception.sh: neither curl nor wget is installed" >&2
fi
if [ $ok -ne 1 ]; then
  rm -f "$tmp"
  cat >&2 <<MSG
download_inception.sh: could not download $url (offline or blocked?).
  On a machine with network access, download that URL and copy the file to
  $out ; this script (or make inception-weights) then verifies it.
  Without the weights, FID/IS are unavailable; the drivers report the proxy metrics of the
  shipped Fashion-MNIST classifier instead.
MSG
  exit 1
fi
got=$(sha_prefix "$tmp")
if [ "$got" != "$prefix" ]; then
  rm -f "$tmp"
  echo "download_inception.sh: downloaded file's SHA-256 starts with $got, expected $prefix; removed it" >&2
  exit 1
fi
mv "$tmp" "$out"
echo "$out: downloaded, SHA-256 starts with $prefix (verified)"
