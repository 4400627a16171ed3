#!/usr/bin/env python3
"""Writes the small torch.save fixtures read by tests/test_pth.c (run by hand, never by the build).

    /usr/bin/python3 scripts/gen_pth_fixtures.py            # writes tests/data/pth/

Files written:
  state_zip.pth      torch.save, zip container (PyTorch >= 1.6 default), pickle protocol 2
  state_legacy.pth   torch.save(..., _use_new_zipfile_serialization=False): the pre-1.6 stream
                     format the published FID Inception weights use
  state_zip_p4.pth   zip container with pickle protocol 4 (FRAME, MEMOIZE, SHORT_BINUNICODE, ...)
  state_deflated.pth state_zip.pth re-zipped with deflate compression (torch never writes this;
                     the reader must refuse it with a clear message)
  expected.h5        the expected contiguous values of every tensor, per name

Rerunning reproduces every file byte for byte except state_legacy.pth, whose storage keys are
object ids chosen by torch at save time (the tensors are identical).

The state dict mixes a real module's state_dict (nested names with '.', BatchNorm buffers
including the int64 scalar num_batches_tracked, the OrderedDict _metadata attribute restored by
BUILD) with extra entries: float64/float16/int32/uint8/bool/int64 tensors, a transposed and a
sliced (offset + strides) view, two views sharing one storage, a 0-d scalar and an empty tensor.
"""
import collections
import os
import sys
import zipfile

import h5py
import numpy as np
import torch

VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "pth")


class Branch(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, kernel_size=1, bias=False)
        self.bn = torch.nn.BatchNorm2d(4, eps=1e-3)


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.branch1x1 = Branch()


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.Mixed_5b = Block()
        self.fc = torch.nn.Linear(7, 5)


def build_state():
    g = torch.Generator().manual_seed(1234)
    net = Net()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        bn = net.Mixed_5b.branch1x1.bn
        bn.running_mean.copy_(torch.randn(4, generator=g) * 0.1)
        bn.running_var.copy_(torch.rand(4, generator=g) + 0.5)
        bn.num_batches_tracked.fill_(12345)
    sd = net.state_dict()  # OrderedDict with a _metadata attribute

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.25 - 2.0
    shared = torch.randn(12, generator=g)
    sd["t_f64"] = torch.randn(3, 4, generator=g, dtype=torch.float64) * 1e3
    sd["t_f16"] = torch.tensor([0.5, -1.25, 65504.0, 6.1e-5, 0.0, -3.0], dtype=torch.float16)
    sd["t_i32"] = torch.tensor([[-7, 0, 2147483647], [-2147483648, 5, 9]], dtype=torch.int32)
    sd["t_u8"] = torch.tensor([0, 1, 127, 128, 255], dtype=torch.uint8)
    sd["t_bool"] = torch.tensor([True, False, True])
    sd["t_i64"] = torch.tensor([-(2 ** 62) - 3, 0, 1, 2 ** 53 + 1, -5], dtype=torch.int64)
    sd["t_transposed"] = base.t()              # [6, 4], strides (1, 6)
    sd["t_sliced"] = base[1:, ::2]             # [3, 3], offset 6, strides (6, 2)
    sd["shared_a"] = shared[:6]                # two views of one storage
    sd["shared_b"] = shared[6:].view(2, 3)     # offset 6
    sd["t_scalar"] = torch.tensor(3.5)
    sd["t_empty"] = torch.zeros(0, 3)
    return sd


def write_expected(sd, path):
    with h5py.File(path, "w") as f:
        f.attrs["version"] = VERSION
        f.attrs["generator"] = "scripts/gen_pth_fixtures.py"
        f.attrs["names"] = np.array([k.encode() for k in sd.keys()])
        for k, t in sd.items():
            a = t.contiguous().numpy()
            if a.dtype == np.bool_:
                a = a.astype(np.uint8)
            elif a.dtype == np.float16:
                a = a.astype(np.float64)   # every float16 value is exact in float64
            d = f.create_dataset("tensors/" + k, data=a.reshape(-1))
            d.attrs["shape"] = np.array(t.shape, dtype=np.int64)
            d.attrs["dtype"] = str(t.dtype).replace("torch.", "")


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = build_state()
    torch.save(sd, os.path.join(OUT, "state_zip.pth"))
    torch.save(sd, os.path.join(OUT, "state_legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(sd, os.path.join(OUT, "state_zip_p4.pth"), pickle_protocol=4)
    with zipfile.ZipFile(os.path.join(OUT, "state_zip.pth")) as src, \
            zipfile.ZipFile(os.path.join(OUT, "state_deflated.pth"), "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info.filename))
    write_expected(sd, os.path.join(OUT, "expected.h5"))
    # Round trip through torch itself, so the fixtures are known-good files.
    for fn in ("state_zip.pth", "state_legacy.pth", "state_zip_p4.pth"):
        back = torch.load(os.path.join(OUT, fn))
        assert list(back.keys()) == list(sd.keys())
        for k in sd:
            assert torch.equal(back[k], sd[k]), (fn, k)
    print("wrote", sorted(os.listdir(OUT)), "torch", torch.__version__, file=sys.stderr)


if __name__ == "__main__":
    main()
