#!/usr/bin/env bash
# Downloads a released DDPM model, verifies it and converts it into a project checkpoint.
#
#   bash scripts/download_released.sh MODEL SOURCE [DEST]      (make released-models MODEL=.. SOURCE=..)
#   MODEL  cifar10 | celebahq | lsun_bedroom | lsun_cat | lsun_church
#   SOURCE official | pesser | diffusers   (default: pesser; celebahq: diffusers, pesser has none)
#   DEST   default released/: files under DEST/MODEL/SOURCE/, the checkpoint DEST/MODEL.h5
#
# Sources and checksums (shared/released-models/FORMATS.md §3.3, §4.1, §5):
# - official: the authors' TF checkpoints sit in a Dropbox folder
#   (https://www.dropbox.com/sh/pm6tn31da21yrx4/AABWKZnBzIROmDjGxpB6vn6Ja); no per-file URL and no
#   checksum is published. Download the model's folder by hand into DEST/MODEL/official/ (the
#   model.ckpt-STEP.index and .data-00000-of-00001 files); this script then converts it
#   (raw weights -> model/, ExponentialMovingAverage -> ema/). Integrity: every tensor's CRC32C
#   and every index block's CRC are checked by the reader; there is no file checksum to compare.
# - pesser (pesser/pytorch_diffusion, EMA weights, the `ema_` files): MD5s from its
#   ckpt_util.py. CIFAR-10's are recorded in FORMATS.md §3.3; the LSUN ones are from the same
#   table as it appears in copies of that file (ermongroup/ddim's functions/ckpt_util.py holds
#   it too) and were not checked against a download. There is no CelebA-HQ conversion.
# - diffusers (google/ddpm-*-256, google/ddpm-cifar10-32 on huggingface.co): SHA-256 of the
#   CIFAR-10 .bin recorded in FORMATS.md §4.1; for the 256x256 models no checksum is recorded:
#   the script says "NOT VERIFIED" and converts anyway (the reader's own checks still apply).
#   Which weights diffusers holds (EMA or raw) is not documented (FORMATS.md risk R5); they are
#   converted as EMA (both groups hold them; the checkpoint's released_weights attribute says so).
# Offline (as in CI) the download fails with one line and exit status 1.
set -euo pipefail

model=${1:?usage: download_released.sh MODEL SOURCE [DEST]}
source=${2:-}
dest=${3:-released}
bin=${DDPM_BIN:-bin}/ddpm
case $model in
  cifar10|celebahq|lsun_bedroom|lsun_cat|lsun_church) ;;
  *) echo "download_released.sh: unknown MODEL '$model' (cifar10, celebahq, lsun_bedroom, lsun_cat, lsun_church)" >&2; exit 2 ;;
esac
if [ -z "$source" ]; then source=pesser; [ "$model" = celebahq ] && source=diffusers; fi
cfg=experiments/configs/paper/released_$model.cfg
dir=$dest/$model/$source
out=$dest/$model.h5
mkdir -p "$dir"

# pesser: URL and MD5 of the EMA file
pesser_url() {
  case $1 in
    cifar10) echo "https://heibox.uni-heidelberg.de/f/2e4f01e2d9ee49bab1d5/?dl=1 1fa350b952534ae442b1d5235cce5cd3 model-790000.ckpt" ;;
    lsun_bedroom) echo "https://heibox.uni-heidelberg.de/f/b95206528f384185889b/?dl=1 1921fa46b66a3665e450e42f36c2720f model-2388000.ckpt" ;;
    lsun_cat) echo "https://heibox.uni-heidelberg.de/f/0701aac3aa69457bbe34/?dl=1 646f23f4821f2459b8bafc57fd824558 model-1761000.ckpt" ;;
    lsun_church) echo "https://heibox.uni-heidelberg.de/f/44ccb50ef3c6436db52e/?dl=1 fdc68a23938c2397caba4a260bc2445f model-4432000.ckpt" ;;
    *) return 1 ;;
  esac
}
# diffusers: repository and SHA-256 of diffusion_pytorch_model.bin ("-" when none is recorded)
diffusers_repo() {
  case $1 in
    cifar10) echo "google/ddpm-cifar10-32 ac3416a548879738893e935b42cab9119f51745b62bec4b6d8375e4d86e98ea4" ;;
    celebahq) echo "google/ddpm-celebahq-256 -" ;;
    lsun_bedroom) echo "google/ddpm-bedroom-256 -" ;;
    lsun_cat) echo "google/ddpm-cat-256 -" ;;
    lsun_church) echo "google/ddpm-church-256 -" ;;
  esac
}

fetch() { # url file
  local tmp=$2.part ok=0
  rm -f "$tmp"
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 2 --connect-timeout 20 -o "$tmp" "$1" 2>/dev/null && ok=1
  elif command -v wget >/dev/null 2>&1; then
    wget -q --tries=2 --timeout=20 -O "$tmp" "$1" && ok=1
  fi
  if [ $ok -ne 1 ]; then
    rm -f "$tmp"
    echo "download_released.sh: cannot download $1 (offline?); fetch it elsewhere, save it as $2 and rerun make released-models MODEL=$model SOURCE=$source" >&2
    exit 1
  fi
  mv "$tmp" "$2"
}

verify() { # file algo expected
  local got
  if [ "$3" = "-" ]; then
    echo "$1: NOT VERIFIED (no published checksum is recorded for this file)"
    return 0
  fi
  got=$("$2sum" "$1" | cut -d' ' -f1)
  if [ "$got" != "$3" ]; then
    echo "download_released.sh: $1: $2 is $got, expected $3 (corrupt or a different file); delete it and rerun" >&2
    exit 1
  fi
  echo "$1: $2 verified ($3)"
}

case $source in
  official)
    idx=$(ls "$dir"/model.ckpt-*.index 2>/dev/null | head -n1 || true)
    if [ -z "$idx" ]; then
      echo "download_released.sh: the official $model checkpoint has no direct URL: download its folder from https://www.dropbox.com/sh/pm6tn31da21yrx4/AABWKZnBzIROmDjGxpB6vn6Ja into $dir/ and rerun" >&2
      exit 1
    fi
    from=$idx
    weights=()
    ;;
  pesser)
    if ! spec=$(pesser_url "$model"); then
      echo "download_released.sh: pesser/pytorch_diffusion has no $model conversion (use SOURCE=diffusers or official)" >&2
      exit 1
    fi
    read -r url md5 file <<<"$spec"
    from=$dir/ema_$file
    [ -f "$from" ] || fetch "$url" "$from"
    verify "$from" md5 "$md5"
    weights=(--weights ema)
    ;;
  diffusers)
    read -r repo sha <<<"$(diffusers_repo "$model")"
    from=$dir/diffusion_pytorch_model.bin
    [ -f "$from" ] || fetch "https://huggingface.co/$repo/resolve/main/diffusion_pytorch_model.bin" "$from"
    verify "$from" sha256 "$sha"
    weights=(--weights ema)
    ;;
  *) echo "download_released.sh: unknown SOURCE '$source' (official, pesser, diffusers)" >&2; exit 2 ;;
esac
"$bin" convert --from "$from" "${weights[@]}" --config "$cfg" --out "$out"
