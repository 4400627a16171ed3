#!/usr/bin/python3
"""Writes the released-model fixtures of tests/test_released.c: one random-weight DDPM U-Net in
every format the released models circulate in, written by the REAL writers where they exist.

Run by hand from the repository root with Debian's python3 (torch, numpy, h5py):
    /usr/bin/python3 scripts/gen_released_fixtures.py            # tests/data/released/ (small, committed)
    /usr/bin/python3 scripts/gen_released_fixtures.py --full DIR # the 35.7M-parameter CIFAR-10 model
    /usr/bin/python3 scripts/gen_released_fixtures.py --fuzz-corpus  # seeds of fuzz_{safetensors,npy,zip}
    /usr/bin/python3 scripts/gen_released_fixtures.py --check-export DIR [--ref tests/data/released]
        # torch.load what `ddpm export` wrote into DIR and compare with the fixtures in --ref

Files (DIR = tests/data/released, or the --full directory):
  model.cfg                 the config (`ddpm convert --config`; num_groups/image_size are not in weights)
  ref.h5                    attrs version, generator, torch_version; x [B,H,W,C], t [B] int32,
                            y [B,H,W,C] = PyTorch forward of the weights (scripts/gen_unet_reference.py's
                            re-implementation of the official U-Net), y_ema the same for the EMA copy
  pesser_zip.ckpt           torch.save(state_dict) with pesser/pytorch_diffusion keys (zip, torch >= 1.6)
  pesser_legacy.ckpt        the same with _use_new_zipfile_serialization=False
  diffusers.bin             torch.save with diffusers UNet2DModel keys (query/key/value/proj_attn)
  diffusers_legacy.bin      the same, legacy serialisation
  diffusers.safetensors     diffusers keys, safetensors written by write_safetensors() below (spec:
                            huggingface/safetensors README "Format"; __metadata__ {"format": "pt"})
  diffusers_new.safetensors the current diffusers attention names (to_q/to_k/to_v/to_out.0)
  tf/model.ckpt-1000.*      TF V2 bundle with raw + ExponentialMovingAverage variables, if
                            scripts/tfbundle_write.py exists (written by that spec-following writer)
  stats.npz, stats_compressed.npz  numpy.savez / savez_compressed of mu [D] float64, sigma [D,D]
                            float64 and a Fortran-ordered float32 array 'fortran' [3,5]
  fortran.npy               that array alone, fortran_order True
The EMA copy used for the TF bundle is params * 0.5 + 0.25 * noise (distinct from the raw weights).
"""
import argparse
import json
import os
import struct
import sys
from collections import OrderedDict

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_unet_reference as ur  # noqa: E402  (the PyTorch re-implementation of the official U-Net)

VERSION = 1
GENERATOR = "scripts/gen_released_fixtures.py"
SEED = 20200619

SMALL_CFG = dict(ch=4, ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[8], image_size=16,
                 in_channels=3, out_channels=3, num_groups=2, dropout=0.0)
FULL_CFG = dict(ur.PAPER_CFG, dropout=0.0)


# ----------------------------------------------------------------------------------------
# Key maps (an independent implementation of src/model/released_names.c, from FORMATS.md §3-4)

RESNET = {"norm1": "norm1", "conv1": "conv1", "temb_proj": "time_emb_proj", "norm2": "norm2",
          "conv2": "conv2", "nin_shortcut": "conv_shortcut"}
ATTN_OLD = {"norm": "group_norm", "q": "query", "k": "key", "v": "value", "proj_out": "proj_attn"}
ATTN_NEW = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}
LEAF = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias"}


def torch_key(name, style, levels):
    """official TF name -> (key, kind) with kind in copy/conv/dense/nin/attn (attn = nin in an attention block)."""
    t = name.split("/")
    assert t[0] == "model"
    leaf = LEAF[t[-1]]
    d = style != "pesser"
    attn_map = ATTN_NEW if style == "diffusers_new" else ATTN_OLD
    if t[1] == "temb":
        k = int(t[2][-1])
        return (f"time_embedding.linear_{k + 1}" if d else f"temb.dense.{k}") + "." + leaf, "dense"
    if t[1] in ("conv_in", "conv_out"):
        return f"{t[1]}.{leaf}", "conv"
    if t[1] == "norm_out":
        return ("conv_norm_out" if d else "norm_out") + "." + leaf, "copy"
    if t[1] == "mid":
        blk, layer = t[2], t[3]
        if blk.startswith("block_"):
            mod = f"mid_block.resnets.{int(blk[-1]) - 1}.{RESNET[layer]}" if d else f"mid.{blk}.{layer}"
            kind = {"conv1": "conv", "conv2": "conv", "temb_proj": "dense", "nin_shortcut": "nin"}.get(layer, "copy")
        else:
            mod = f"mid_block.attentions.0.{attn_map[layer]}" if d else f"mid.attn_1.{layer}"
            kind = "copy" if layer == "norm" else "attn"
        return mod + "." + leaf, kind
    up = t[1].startswith("up_")
    i = int(t[1].split("_")[1])
    di = levels - 1 - i if up else i
    P, DP = ("up", "up_blocks") if up else ("down", "down_blocks")
    if t[2].startswith("block_"):
        j, layer = int(t[2].split("_")[1]), t[3]
        mod = f"{DP}.{di}.resnets.{j}.{RESNET[layer]}" if d else f"{P}.{i}.block.{j}.{layer}"
        kind = {"conv1": "conv", "conv2": "conv", "temb_proj": "dense", "nin_shortcut": "nin"}.get(layer, "copy")
    elif t[2].startswith("attn_"):
        j, layer = int(t[2].split("_")[1]), t[3]
        mod = f"{DP}.{di}.attentions.{j}.{attn_map[layer]}" if d else f"{P}.{i}.attn.{j}.{layer}"
        kind = "copy" if layer == "norm" else "attn"
    else:
        mod = (f"{DP}.{di}.{'upsamplers' if up else 'downsamplers'}.0.conv" if d
               else f"{P}.{i}.{t[2]}.conv")
        kind = "conv"
    return mod + "." + leaf, kind


def to_torch(w, kind, style, name):
    """TF layout -> the source's torch layout (FORMATS.md §3.1; diffusers attention is Linear)."""
    if not name.endswith("/W") or kind == "copy":
        return w.clone()
    if kind == "conv":
        return w.permute(3, 2, 0, 1).contiguous()
    if kind == "dense":
        return w.t().contiguous()
    wt = w.t().contiguous()
    if kind == "attn" and style != "pesser":
        return wt                      # nn.Linear [out, in]
    return wt[:, :, None, None].contiguous()   # 1x1 Conv2d [out, in, 1, 1]


def state_dict(params, style, levels):
    sd = OrderedDict()
    for name, w in params.items():
        key, kind = torch_key(name, style, levels)
        sd[key] = to_torch(w, kind, style, name)
    return sd


# ----------------------------------------------------------------------------------------
# safetensors, written from the spec (huggingface/safetensors README "Format")

ST_DTYPE = {torch.float32: ("F32", 4), torch.float64: ("F64", 8), torch.float16: ("F16", 2)}


def write_safetensors(path, tensors, metadata):
    # the reference writer orders by dtype alignment (descending), then name; pads the header
    # with spaces to a multiple of 8 (safetensors >= 0.3.1)
    items = sorted(tensors.items(), key=lambda kv: (-ST_DTYPE[kv[1].dtype][1], kv[0]))
    header, blobs, off = OrderedDict(), [], 0
    if metadata:
        header["__metadata__"] = metadata
    for k, v in items:
        b = v.contiguous().numpy().astype(v.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        header[k] = {"dtype": ST_DTYPE[v.dtype][0], "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    code = {"F32": np.float32, "F64": np.float64, "F16": np.float16}
    out = {}
    for k, v in header.items():
        b, e = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(data[8 + n + b:8 + n + e], dtype=code[v["dtype"]]).reshape(v["shape"]).copy())
    return out, meta


# ----------------------------------------------------------------------------------------

def write_cfg(path, cfg):
    dataset = "cifar10" if cfg["image_size"] == 32 and cfg["in_channels"] == 3 else "png_rgb"
    lines = [f"# written by {GENERATOR}: the fixture model's config (num_groups and image_size are not in the weights)",
             f"dataset = {dataset}", f"image_size = {cfg['image_size']}", f"ch = {cfg['ch']}",
             "ch_mult = " + ",".join(map(str, cfg["ch_mult"])), f"num_res_blocks = {cfg['num_res_blocks']}",
             "attn_resolutions = " + ",".join(map(str, cfg["attn_resolutions"])), f"dropout = {cfg['dropout']}",
             "resamp_with_conv = true", f"num_groups = {cfg['num_groups']}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_tf_bundle(d, params, ema):
    try:
        import tfbundle_write  # scripts/tfbundle_write.py (the TF bundle helper's spec-following writer)
    except ImportError:
        print("scripts/tfbundle_write.py not found: no TF bundle fixture written")
        return
    os.makedirs(os.path.join(d, "tf"), exist_ok=True)
    tensors = OrderedDict()
    for k, v in params.items():
        tensors[k] = v.numpy()
        tensors[k + "/ExponentialMovingAverage"] = ema[k].numpy()
        tensors[k + "/Adam"] = np.zeros_like(v.numpy())
    tensors["global_step"] = np.array(1000, dtype=np.int64)
    tfbundle_write.write_bundle(os.path.join(d, "tf", "model.ckpt-1000"), list(tensors.items()))
    print("wrote the TF bundle tf/model.ckpt-1000")


def generate(d, cfg, batch):
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    params = ur.init_params(cfg)
    ema = OrderedDict((k, v * 0.5 + 0.25 * torch.randn_like(v)) for k, v in params.items())
    levels = len(cfg["ch_mult"])
    S, C = cfg["image_size"], cfg["in_channels"]
    x = torch.randn(batch, S, S, C)
    t = torch.tensor([3, 777, 500, 999][:batch], dtype=torch.int32)
    with torch.no_grad():
        y = ur.Net(cfg, params).forward(x, t.long())
        y_ema = ur.Net(cfg, ema).forward(x, t.long())
    write_cfg(os.path.join(d, "model.cfg"), cfg)
    with h5py.File(os.path.join(d, "ref.h5"), "w") as f:
        f.attrs["version"] = VERSION
        f.attrs["generator"] = GENERATOR
        f.attrs["torch_version"] = str(torch.__version__)
        f["x"] = x.numpy()
        f["t"] = t.numpy()
        f["y"] = y.numpy()
        f["y_ema"] = y_ema.numpy()
    pes = state_dict(params, "pesser", levels)
    dif = state_dict(params, "diffusers", levels)
    torch.save(pes, os.path.join(d, "pesser_zip.ckpt"))
    torch.save(pes, os.path.join(d, "pesser_legacy.ckpt"), _use_new_zipfile_serialization=False)
    torch.save(dif, os.path.join(d, "diffusers.bin"))
    torch.save(dif, os.path.join(d, "diffusers_legacy.bin"), _use_new_zipfile_serialization=False)
    write_safetensors(os.path.join(d, "diffusers.safetensors"), dif, {"format": "pt"})
    write_safetensors(os.path.join(d, "diffusers_new.safetensors"), state_dict(params, "diffusers_new", levels),
                      {"format": "pt"})
    write_tf_bundle(d, params, ema)
    # reading back with the real reader: the files hold what we meant
    for fn, sd in (("pesser_zip.ckpt", pes), ("pesser_legacy.ckpt", pes), ("diffusers.bin", dif)):
        back = torch.load(os.path.join(d, fn))
        assert list(back) == list(sd) and all(torch.equal(back[k], sd[k]) for k in sd), fn
    back, _ = read_safetensors(os.path.join(d, "diffusers.safetensors"))
    assert all(torch.equal(back[k], dif[k]) for k in dif)
    print(f"{d}: {len(params)} tensors, {ur.param_count(cfg)} parameters, |y| max {y.abs().max():.4f}")


def write_npz(d):
    rng = np.random.default_rng(7)
    D = 6
    a = rng.standard_normal((50, D))
    mu, sigma = a.mean(0), np.cov(a, rowvar=False)
    fortran = np.asfortranarray(np.arange(15, dtype=np.float32).reshape(3, 5) * 0.5 - 1)
    np.savez(os.path.join(d, "stats.npz"), mu=mu, sigma=sigma, fortran=fortran)
    np.savez_compressed(os.path.join(d, "stats_compressed.npz"), mu=mu, sigma=sigma, fortran=fortran)
    np.save(os.path.join(d, "fortran.npy"), fortran)
    with h5py.File(os.path.join(d, "stats.h5"), "w") as f:   # the same statistics as ddpm's HDF5 stats
        f["mu"] = mu
        f["sigma"] = sigma


def check_export(d, ref):
    """torch.load what `ddpm export` wrote (from a checkpoint converted from ref's fixtures) and
    compare it tensor by tensor with the fixtures torch.save wrote."""
    ok = True
    for fn, want_fn, loader in (("export_pesser.ckpt", "pesser_zip.ckpt", torch.load),
                                ("diffusers/diffusion_pytorch_model.bin", "diffusers.bin", torch.load),
                                ("safetensors/diffusion_pytorch_model.safetensors", "diffusers.bin",
                                 lambda p: read_safetensors(p)[0])):
        p = os.path.join(d, fn)
        if not os.path.exists(p):
            print(f"{p}: missing")
            ok = False
            continue
        got, want = loader(p), torch.load(os.path.join(ref, want_fn))
        same = set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
        print(f"{p}: {len(got)} tensors, {'identical to' if same else 'DIFFERENT from'} {want_fn}")
        ok &= same
    cj = os.path.join(d, "diffusers", "config.json")
    if os.path.exists(cj):
        c = json.load(open(cj))
        print(f"{cj}: {c['_class_name']} block_out_channels {c['block_out_channels']} {c['down_block_types']}")
    sys.exit(0 if ok else 1)


def write_fuzz_corpus(root="tests/fuzz/corpus"):
    """Seeds for tests/fuzz/fuzz_{safetensors,npy,zip}.c (valid_* and broken_* inputs)."""
    import io
    import zipfile
    st, npd, zd = (os.path.join(root, n) for n in ("safetensors", "npy", "zip"))
    for d in (st, npd, zd):
        os.makedirs(d, exist_ok=True)
    small = OrderedDict([("a.weight", torch.arange(6, dtype=torch.float32).reshape(2, 3)),
                         ("b", torch.tensor([1.5, -2.0], dtype=torch.float64)),
                         ("h", torch.tensor([0.5, 65504.0], dtype=torch.float16))])
    write_safetensors(os.path.join(st, "valid_small.safetensors"), small, {"format": "pt"})
    write_safetensors(os.path.join(st, "valid_empty.safetensors"), OrderedDict(), None)
    with open(os.path.join(st, "valid_small.safetensors"), "rb") as f:
        good = f.read()

    def put(d, name, data):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)

    n = struct.unpack("<Q", good[:8])[0]
    hdr = good[8:8 + n].decode()
    put(st, "valid_escaped_name.safetensors", struct.pack("<Q", 80) + (
        '{"caf\\u00e9\\n":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}'.ljust(80)).encode() + bytes(8))
    put(st, "broken_truncated.safetensors", good[:len(good) - 3])
    put(st, "broken_header_len.safetensors", struct.pack("<Q", len(good)) + good[8:])
    put(st, "broken_dtype.safetensors", good.replace(b'"F16"', b'"F8x"'))
    put(st, "broken_gap.safetensors", good[:8] + hdr.replace('"shape":[2,3]', '"shape":[2,2]').encode() + good[8 + n:])
    put(st, "broken_not_json.safetensors", good[:8] + b"[" + good[9:])
    # npy
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.linspace(-1, 1, 7), version=(2, 0))
    put(npd, "valid_v2_f8.npy", buf.getvalue())
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4)))
    put(npd, "valid_fortran_i2.npy", buf.getvalue())
    buf = io.BytesIO()
    np.savez(buf, mu=np.zeros(3), sigma=np.eye(3, dtype=np.float32))
    put(npd, "valid_stored.npz", buf.getvalue())
    buf = io.BytesIO()
    np.savez_compressed(buf, mu=np.ones(4), sigma=np.eye(4))
    put(npd, "valid_deflated.npz", buf.getvalue())
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.arange(4, dtype=">f4"))
    put(npd, "broken_bigendian.npy", buf.getvalue())
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.zeros(2, dtype=[("x", "<f4"), ("y", "<i4")]))
    put(npd, "broken_structured.npy", buf.getvalue())
    put(npd, "broken_truncated.npy", open(os.path.join(npd, "valid_v2_f8.npy"), "rb").read()[:-5])
    # zip
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("archive/version", b"3\n")
    put(zd, "valid_stored.zip", buf.getvalue())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", b"abc" * 200)
        z.writestr("y.npy", b"")
    put(zd, "valid_deflated.zip", buf.getvalue())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        with z.open("big", "w", force_zip64=True) as f:
            f.write(b"0123456789")
    put(zd, "valid_zip64.zip", buf.getvalue())
    v = open(os.path.join(zd, "valid_deflated.zip"), "rb").read()
    put(zd, "broken_truncated.zip", v[:-30])
    k = 30 + len("x.npy") + 2   # inside the first member's deflate stream
    put(zd, "broken_deflate_data.zip", v[:k] + bytes([v[k] ^ 0xFF]) + v[k + 1:])
    print(f"wrote seed corpora under {root}/{{safetensors,npy,zip}}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="tests/data/released")
    ap.add_argument("--full", metavar="DIR", help="write the full-size CIFAR-10 model into DIR instead")
    ap.add_argument("--check-export", metavar="DIR")
    ap.add_argument("--ref", default="tests/data/released")
    ap.add_argument("--fuzz-corpus", action="store_true",
                    help="write only the seed corpora tests/fuzz/corpus/{safetensors,npy,zip}")
    args = ap.parse_args()
    if args.check_export:
        check_export(args.check_export, args.ref)
    if args.full:
        generate(args.full, FULL_CFG, 2)
    elif args.fuzz_corpus:
        write_fuzz_corpus()
    else:
        generate(args.out, SMALL_CFG, 2)
        write_npz(args.out)


if __name__ == "__main__":
    main()
