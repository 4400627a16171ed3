#!/usr/bin/python3
"""PyTorch side of `make bench`: the DDPM U-Net as an idiomatic NCHW torch.nn.Module (the
layout PyTorch is fast in), timed like `ddpm bench` times the C U-Net. Prints one line per case:
    torch <case> <images/s>
`bench_torch.py THREADS CASE` runs one case (e.g. paper_forward_b32); `... memory` the peak-memory case.
Run by `scripts/bench.sh` when Debian's python3-torch is installed; never needed by the build."""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def swish(x):
    return x * torch.sigmoid(x)


def temb_sin(t, dim):
    half = dim // 2
    f = torch.exp(torch.arange(half, dtype=torch.float32) * (-math.log(10000.0) / (half - 1)))
    a = t.float()[:, None] * f[None]
    return torch.cat([a.sin(), a.cos()], 1)


class Res(nn.Module):
    def __init__(self, cin, cout, tch, groups, dropout):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(groups, cin, 1e-6), nn.Conv2d(cin, cout, 3, padding=1)
        self.tp = nn.Linear(tch, cout)
        self.n2, self.c2 = nn.GroupNorm(groups, cout, 1e-6), nn.Conv2d(cout, cout, 3, padding=1)
        self.drop = nn.Dropout(dropout)
        self.sc = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.c1(swish(self.n1(x))) + self.tp(swish(temb))[:, :, None, None]
        h = self.c2(self.drop(swish(self.n2(h))))
        return (self.sc(x) if self.sc is not None else x) + h


class Attn(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.n, self.qkv, self.o = nn.GroupNorm(groups, c, 1e-6), nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)

    def forward(self, x):
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.n(x)).reshape(B, 3, C, H * W).unbind(1)
        w = torch.softmax(torch.einsum("bci,bcj->bij", q, k) * C ** -0.5, dim=-1)
        return x + self.o(torch.einsum("bij,bcj->bci", w, v).reshape(B, C, H, W))


class UNet(nn.Module):
    def __init__(self, cin, ch, mult, nres, attn, size, groups=32, dropout=0.1):
        super().__init__()
        self.ch, tch = ch, 4 * ch
        self.t0, self.t1 = nn.Linear(ch, tch), nn.Linear(tch, tch)
        self.cin = nn.Conv2d(cin, ch, 3, padding=1)
        self.down, hs, c, s = nn.ModuleList(), [ch], ch, size
        for i, m in enumerate(mult):
            for _ in range(nres):
                self.down.append(nn.ModuleList([Res(c, ch * m, tch, groups, dropout), Attn(ch * m, groups) if s in attn else nn.Identity()]))
                c = ch * m
                hs.append(c)
            if i != len(mult) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                hs.append(c)
                s //= 2
        self.mid = nn.ModuleList([Res(c, c, tch, groups, dropout), Attn(c, groups), Res(c, c, tch, groups, dropout)])
        self.up = nn.ModuleList()
        for i, m in reversed(list(enumerate(mult))):
            for _ in range(nres + 1):
                self.up.append(nn.ModuleList([Res(c + hs.pop(), ch * m, tch, groups, dropout), Attn(ch * m, groups) if s in attn else nn.Identity()]))
                c = ch * m
            if i != 0:
                self.up.append(nn.Conv2d(c, c, 3, padding=1))
                s *= 2
        self.nout, self.cout = nn.GroupNorm(groups, c, 1e-6), nn.Conv2d(c, cin, 3, padding=1)

    def forward(self, x, t):
        temb = self.t1(swish(self.t0(temb_sin(t, self.ch))))
        hs = [self.cin(x)]
        for m in self.down:
            if isinstance(m, nn.Conv2d):
                hs.append(m(hs[-1]))
            else:
                hs.append(m[1](m[0](hs[-1], temb)))
        h = self.mid[2](self.mid[1](self.mid[0](hs[-1], temb)), temb)
        for m in self.up:
            if isinstance(m, nn.Conv2d):
                h = m(F.interpolate(h, scale_factor=2, mode="nearest"))
            else:
                h = m[1](m[0](torch.cat([h, hs.pop()], 1), temb))
        return self.cout(swish(self.nout(h)))


def bench(name, model, B, size, cin, train, seconds=8.0):
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    x, t = torch.randn(B, cin, size, size), torch.randint(0, 1000, (B,))
    model.train(train)
    n, t0, warm = 0, None, 2
    while True:
        if train:
            opt.zero_grad()
            loss = (model(x, t) - x).pow(2).mean()
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                model(x, t)
        warm -= 1
        if warm == 0:
            t0 = time.perf_counter()
        elif warm < 0:
            n += B
            if time.perf_counter() - t0 > seconds:
                break
    print(f"torch {name} {n / (time.perf_counter() - t0):.2f}", flush=True)


def peak_memory():
    """Peak resident memory (MiB) of this process after two batch-128 training steps of the paper
    U-Net (the second with Adam's moments allocated), like `ddpm bench --case paper_train_b128`."""
    import resource
    paper = UNet(3, 128, (1, 2, 2, 2), 2, (16,), 32)
    opt = torch.optim.Adam(paper.parameters(), lr=2e-4)
    x, t = torch.randn(128, 3, 32, 32), torch.randint(0, 1000, (128,))
    for _ in range(2):
        opt.zero_grad()
        (paper(x, t) - x).pow(2).mean().backward()
        opt.step()
    print(f"torchmem paper_train_b128 {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}", flush=True)


def main():
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    torch.manual_seed(0)
    if len(sys.argv) > 2 and sys.argv[2] == "memory":
        peak_memory()
        return
    if len(sys.argv) > 2:  # one named case, e.g. the evaluation-batch sweep's paper_forward_b32
        name = sys.argv[2]
        net, B = name.split("_")[0], int(name.split("_b")[-1])
        model = UNet(1, 32, (1, 2, 2), 1, (14,), 28) if net == "mini" else UNet(3, 128, (1, 2, 2, 2), 2, (16,), 32)
        size, cin = (28, 1) if net == "mini" else (32, 3)
        bench(name, model, B, size, cin, "_train_" in name)
        return
    mini = UNet(1, 32, (1, 2, 2), 1, (14,), 28)
    bench("mini_train_b64", mini, 64, 28, 1, True)
    bench("mini_forward_b256", mini, 256, 28, 1, False)
    paper = UNet(3, 128, (1, 2, 2, 2), 2, (16,), 32)
    bench("paper_train_b8", paper, 8, 32, 3, True)
    bench("paper_forward_b8", paper, 8, 32, 3, False)
    bench("paper_forward_b64", paper, 64, 32, 3, False)


if __name__ == "__main__":
    main()
