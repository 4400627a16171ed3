#!/usr/bin/env python3
"""Reference outputs of the FID Inception network under deterministic synthetic weights, for
tests/test_inception.c (run by hand, never by the build or the tests):

    /usr/bin/python3 scripts/gen_inception_reference.py            # writes tests/data/inception_ref.h5
    /usr/bin/python3 scripts/gen_inception_reference.py --write-pth /tmp/synth_inception.pth
        # also saves the synthetic state_dict in torch's legacy format (95 MB, like the published
        # pt_inception-2015-12-05-6726825d.pth) to check inception_load_pth by hand

The published weights (95 MB) cannot be shipped, and random full-size weights are too big to
commit, so every parameter is a pure function of its state_dict name (src/features/synth_weights.h
states the hash; the C port implements the same): fnv1a64(name) ^ splitmix64(seed) keys a
splitmix64 stream of 24-bit uniforms, scaled per tensor kind (He-uniform convolutions,
BatchNorm near identity) so activations stay O(1) through all 94 layers.

The network is written here from the published architecture because torchvision is not
installed: torchvision's Inception3 stem, InceptionB (Mixed_6a) and InceptionD (Mixed_7a), and
pytorch-fid's FIDInceptionA/C/E_1/E_2 patches (average pools with count_include_pad=False,
max pool in Mixed_7c). Preprocessing follows pytorch-fid in float32: x/255, F.interpolate to
299x299 (bilinear, align_corners=False), 2x-1. The network itself runs in float64 so that the
reference carries no float32 error of its own; the float32 torch run's error is recorded as an
attribute for comparison. Logits are pool3 @ fc.weight^T without the bias (see inception.h).
"""
import argparse
import os

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

VERSION = 1
SEED = 2015
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "inception_ref.h5")
M64 = (1 << 64) - 1


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def splitmix64(x):
    """x: np.uint64 array; arithmetic wraps mod 2^64."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def synth(name, n, offset, scale, seed=SEED):
    key = np.uint64(fnv1a64(name) ^ int(splitmix64(np.array([seed], dtype=np.uint64))[0]))
    with np.errstate(over="ignore"):
        r = splitmix64(key + np.arange(n, dtype=np.uint64))
    u = ((r >> np.uint64(40)).astype(np.float64) + 0.5) / 16777216.0
    s = 2.0 * u - 1.0
    return (offset + scale * s).astype(np.float32)


def synth_param(name, shape):
    n = int(np.prod(shape))
    if name.endswith("conv.weight"):
        fan_in = int(np.prod(shape[1:]))
        v = synth(name, n, 0.0, np.sqrt(6.0 / fan_in))
    elif name.endswith("bn.weight"):
        v = synth(name, n, 1.0, 0.2)
    elif name.endswith("bn.bias") or name.endswith("bn.running_mean") or name == "fc.bias":
        v = synth(name, n, 0.0, 0.1)
    elif name.endswith("bn.running_var"):
        v = synth(name, n, 1.0, 0.5)
    elif name == "fc.weight":
        v = synth(name, n, 0.0, np.sqrt(3.0 / 2048))
    else:
        raise KeyError(name)
    return v.reshape(shape)


class BasicConv2d(nn.Module):
    def __init__(self, cin, cout, **kw):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def avg_tf(x):
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(nn.Module):
    def __init__(self, cin, pool_features):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(cin, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, kernel_size=1)

    def forward(self, x):
        a = self.branch1x1(x)
        b = self.branch5x5_2(self.branch5x5_1(x))
        c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        d = self.branch_pool(avg_tf(x))
        return torch.cat([a, b, c, d], 1)


class InceptionB(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x):
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([a, b, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class FIDInceptionC(nn.Module):
    def __init__(self, cin, c7):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

    def forward(self, x):
        a = self.branch1x1(x)
        b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        c = self.branch7x7dbl_1(x)
        for m in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            c = m(c)
        d = self.branch_pool(avg_tf(x))
        return torch.cat([a, b, c, d], 1)


class InceptionD(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x):
        a = self.branch3x3_2(self.branch3x3_1(x))
        b = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([a, b, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class FIDInceptionE(nn.Module):
    def __init__(self, cin, max_pool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(cin, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(cin, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

    def forward(self, x):
        a = self.branch1x1(x)
        b = self.branch3x3_1(x)
        b = torch.cat([self.branch3x3_2a(b), self.branch3x3_2b(b)], 1)
        c = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        c = torch.cat([self.branch3x3dbl_3a(c), self.branch3x3dbl_3b(c)], 1)
        if self.max_pool:   # FIDInceptionE_2 (Mixed_7c)
            p = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:               # FIDInceptionE_1 (Mixed_7b)
            p = avg_tf(x)
        return torch.cat([a, b, c, self.branch_pool(p)], 1)


class FIDInception(nn.Module):
    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = FIDInceptionA(192, 32)
        self.Mixed_5c = FIDInceptionA(256, 64)
        self.Mixed_5d = FIDInceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, 128)
        self.Mixed_6c = FIDInceptionC(768, 160)
        self.Mixed_6d = FIDInceptionC(768, 160)
        self.Mixed_6e = FIDInceptionC(768, 192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = FIDInceptionE(1280, False)
        self.Mixed_7c = FIDInceptionE(2048, True)
        self.fc = nn.Linear(2048, 1008)

    def forward(self, x):
        """x: (N, 3, 299, 299) already in [-1, 1]. Returns pool3 (N, 2048), logits (N, 1008)."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c",
                     "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(self, name)(x)
        pool3 = F.adaptive_avg_pool2d(x, (1, 1)).flatten(1)
        return pool3, pool3 @ self.fc.weight.t()   # bias-free logits


def preprocess(img_u8):
    """(H, W, C) uint8 -> (1, 3, 299, 299) float32 in [-1, 1], pytorch-fid's steps."""
    x = torch.from_numpy(img_u8).permute(2, 0, 1)[None].float() / 255.0
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    return 2 * x - 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--write-pth", help="also torch.save the synthetic state_dict (legacy format)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    net = FIDInception().eval()
    sd = net.state_dict()
    for k in sd:
        if k.endswith("num_batches_tracked"):
            continue
        sd[k] = torch.from_numpy(synth_param(k, tuple(sd[k].shape)))
    net.load_state_dict(sd)
    if args.write_pth:
        torch.save(net.state_dict(), args.write_pth, _use_new_zipfile_serialization=False)
        print("wrote", args.write_pth)
    net64 = FIDInception().eval().double()
    net64.load_state_dict(sd)

    rng = np.random.RandomState(20240601)
    gray = rng.randint(0, 256, size=(28, 28, 1)).astype(np.uint8)
    images = {
        "img0": rng.randint(0, 256, size=(32, 32, 3)).astype(np.uint8),
        "img1": gray,                                   # C=1: replicated to RGB
        "img2": rng.randint(0, 256, size=(40, 37, 3)).astype(np.uint8),
    }
    with h5py.File(OUT, "w") as f:
        f.attrs["version"] = VERSION
        f.attrs["generator"] = "scripts/gen_inception_reference.py"
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["synthetic_seed"] = SEED
        f.attrs["logits"] = "pool3 @ fc.weight^T, no bias"
        for name, img in images.items():
            x = preprocess(img)
            with torch.no_grad():
                p64, l64 = net64(x.double())
                p32, l32 = net(x)
            p64, l64 = p64.numpy(), l64.numpy()
            e_p = np.abs(p32.numpy() - p64).max() / np.abs(p64).max()
            e_l = np.abs(l32.numpy() - l64).max() / np.abs(l64).max()
            f.create_dataset("images/" + name, data=img)
            d = f.create_dataset("pool3/" + name, data=p64)
            d.attrs["torch_float32_rel_err"] = e_p
            d = f.create_dataset("logits/" + name, data=l64)
            d.attrs["torch_float32_rel_err"] = e_l
            print(f"{name} {img.shape}: pool3 mean {p64.mean():.4f} std {p64.std():.4f} max {p64.max():.4f}; "
                  f"logits std {l64.std():.4f}; torch float32 rel err pool3 {e_p:.2e} logits {e_l:.2e}")
        # the preprocessing alone and the resize alone (float32, F.interpolate)
        x = preprocess(images["img2"])    # first 32 output rows of (299, 299, 3), keeps the file small
        f.create_dataset("preprocessed/img2_rows0_32", data=x[0].permute(1, 2, 0).numpy()[:32])
        cases = [((2, 5, 7, 3), (11, 13)), ((1, 11, 9, 2), (4, 3)), ((1, 6, 6, 1), (6, 6)),
                 ((1, 3, 8, 2), (7, 5))]
        for i, (shape, size) in enumerate(cases):
            a = rng.rand(*shape).astype(np.float32)
            y = F.interpolate(torch.from_numpy(a).permute(0, 3, 1, 2), size=size, mode="bilinear",
                              align_corners=False).permute(0, 2, 3, 1).numpy()
            f.create_dataset(f"resize/case{i}/in", data=a)
            f.create_dataset(f"resize/case{i}/out", data=y)
        # a few raw synthetic parameters, to pin the hash independently of the network
        for k in ("Conv2d_1a_3x3.conv.weight", "Mixed_7c.branch_pool.bn.running_var",
                  "Mixed_6b.branch7x7dbl_3.bn.weight", "fc.weight", "fc.bias"):
            f.create_dataset("synth/" + k, data=sd[k].numpy().reshape(-1)[:16])
    print("wrote", OUT)


if __name__ == "__main__":
    main()
