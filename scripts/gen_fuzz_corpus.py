#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz harnesses (tests/fuzz/corpus/<target>/); run by hand.

    /usr/bin/python3 scripts/gen_fuzz_corpus.py

Seeds are small valid files of each format plus broken variants (truncations, bad checksums,
bad headers, out-of-range values), so libFuzzer and the replay suite start from every branch
the readers have. Each file is named <valid|broken>_<what>. The script only (re)writes its own
seeds: regression inputs added by hand after a fuzz crash (named regress_<bug>) are kept.
Everything is byte-identical on rerun except pth/valid_legacy_tiny.pth and
pth/broken_legacy_truncated.pth (torch picks their storage
keys from object ids) and the pth fixtures copied from tests/data/pth/.
The Fashion-MNIST and CIFAR-10 seeds start with the harness's selector byte (see
tests/fuzz/fuzz_fashion_mnist.c and fuzz_cifar10.c).
"""
import collections
import gzip
import os
import shutil
import struct
import sys
import zlib

VERSION = 1
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- config
SMOKE = """# Smoke tier
dataset = fashion_mnist
image_size = 28
ch = 16
ch_mult = 1,2
num_res_blocks = 1
attn_resolutions = 14
dropout = 0.1
resamp_with_conv = true
num_groups = 4
num_diffusion_timesteps = 40
beta_schedule = linear
beta_start = 0.0001
beta_end = 0.3
model_mean_type = eps
model_var_type = fixedlarge
loss_type = mse
batch_size = 16
lr = 0.001
warmup = 5
grad_clip = 1.0
ema_decay = 0.9
randflip = true
train_steps = 30
seed = 0
"""


def gen_config():
    write("config", "valid_smoke.cfg", SMOKE)
    write("config", "valid_empty.cfg", "")
    write("config", "valid_comments_crlf.cfg",
          "# only comments\r\n\r\n   \t\r\nch = 64 # trailing comment\r\n  dataset=cifar10  \r\n"
          "data_dir = /tmp/x=y\r\nattn_resolutions = none\r\nseed = 9223372036854775807\r\n")
    write("config", "valid_kl_learned.cfg",
          "model_var_type = learned\nloss_type = kl\nmodel_mean_type = xprev\nbeta_schedule = jsd\n"
          "ch_mult = 1, 2 ,2,2,2\nattn_resolutions = 16,8\nrandflip = False\ndropout = 0\n"
          "grad_clip = 1e30\ntrain_steps = 1099511627776\ndata_dir =\n")
    write("config", "valid_png_rgb.cfg",
          "dataset = png_rgb\nimage_size = 64\nch = 32\nch_mult = 1,1,2,2,4,4\nnum_groups = 8\n"
          "beta_schedule = warmup50\nbeta_start = 1e-5\nbeta_end = 2e-2\nema_decay = 0.5\n")
    write("config", "valid_fails_validate.cfg",
          "model_var_type = learned\nloss_type = mse\nimage_size = 27\nch = 7\nnum_groups = 3\n")
    write("config", "broken_duplicate.cfg", "ch = 64\nch = 32\n")
    write("config", "broken_unknown_key.cfg", "chanels = 64\n")
    write("config", "broken_no_equals.cfg", "dataset cifar10\n")
    write("config", "broken_bad_enum.cfg", "beta_schedule = cosine\n")
    write("config", "broken_int_overflow.cfg", "ch = 99999999999999999999\n")
    write("config", "broken_double_nan.cfg", "lr = nan\n")
    write("config", "broken_double_range.cfg", "dropout = 1.5\n")
    write("config", "broken_bool.cfg", "randflip = yes\n")
    write("config", "broken_list_gap.cfg", "ch_mult = 1,,2\n")
    write("config", "broken_list_long.cfg", "ch_mult = 1,2,3,4,5,6,7,8,9\n")
    write("config", "broken_list_empty.cfg", "ch_mult = none\n")
    write("config", "broken_negative_seed.cfg", "seed = -1\n")
    write("config", "broken_long_line.cfg", "data_dir = " + "a" * 1100 + "\n")
    write("config", "broken_long_data_dir.cfg", "data_dir = " + "b" * 600 + "\n")
    write("config", "broken_nul.cfg", b"ch = 64\n\x00ch = 32\n")


# ---------------------------------------------------------------- png
PNG_SIG = b"\x89PNG\r\n\x1a\n"


def chunk(kind, data, crc=None):
    c = zlib.crc32(kind + data) & 0xFFFFFFFF if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", c)


def channels_of(color):
    return {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]


def pack_row(samples, depth):
    """samples: list of ints per channel sample; returns packed bytes (no filter byte)."""
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    out, acc, nbits = bytearray(), 0, 0
    for s in samples:
        acc = (acc << depth) | s
        nbits += depth
        if nbits == 8:
            out.append(acc)
            acc, nbits = 0, 0
    if nbits:
        out.append(acc << (8 - nbits))
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filter_rows(rows, bpp, filters):
    """rows: packed rows; filters: filter type per row (cycled)."""
    out, prev = bytearray(), bytes(len(rows[0])) if rows else b""
    for y, row in enumerate(rows):
        ft = filters[y % len(filters)]
        f = bytearray()
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ft]
            f.append((x - pred) & 255)
        out.append(ft)
        out += f
        prev = row
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def make_png(w, h, color, depth, pixel, interlace=0, filters=(0,), extra=b"", plte=None,
             trns=None):
    """pixel(x, y) -> tuple of channel samples. Returns the PNG bytes."""
    ch = channels_of(color)
    bpp = max(1, ch * depth // 8)
    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            xs, ys = list(range(x0, w, dx)), list(range(y0, h, dy))
            if not xs or not ys:
                continue
            rows = [pack_row([s for x in xs for s in pixel(x, y)], depth) for y in ys]
            raw += filter_rows(rows, bpp, filters)
    else:
        rows = [pack_row([s for x in range(w) for s in pixel(x, y)], depth) for y in range(h)]
        raw = filter_rows(rows, bpp, filters)
    out = PNG_SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace))
    out += extra
    if plte is not None:
        out += chunk(b"PLTE", plte)
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    return out


def gen_png():
    W, H = 7, 5
    for depth in (1, 2, 4, 8, 16):
        m = (1 << depth) - 1
        write("png", "valid_gray%d.png" % depth,
              make_png(W, H, 0, depth, lambda x, y, m=m: ((x * 3 + y * 5) % (m + 1),)))
    pal = bytes(v for i in range(16) for v in (i * 16, 255 - i * 16, (i * 77) % 256))
    for depth in (1, 2, 4, 8):
        write("png", "valid_palette%d.png" % depth,
              make_png(W, H, 3, depth, lambda x, y, d=depth: ((x + 2 * y) % min(16, 1 << d),),
                       plte=pal, trns=bytes([0, 128, 255])))
    for depth in (8, 16):
        m = (1 << depth) - 1
        write("png", "valid_gray_alpha%d.png" % depth,
              make_png(W, H, 4, depth, lambda x, y, m=m: ((x * 37 + y) % (m + 1), m - x)))
        write("png", "valid_rgb%d.png" % depth,
              make_png(W, H, 2, depth, lambda x, y, m=m: ((x * 40) % (m + 1), (y * 60) % (m + 1),
                                                          (x * y * 9) % (m + 1)),
                       filters=(0, 1, 2, 3, 4)))
        write("png", "valid_rgba%d.png" % depth,
              make_png(W, H, 6, depth, lambda x, y, m=m: (x * 30 % (m + 1), 255, y * 50 % (m + 1), 7),
                       filters=(4, 3, 2, 1, 0)))
    write("png", "valid_rgb8_interlaced.png",
          make_png(11, 9, 2, 8, lambda x, y: (x * 20, y * 25, (x ^ y) * 15), interlace=1,
                   filters=(1, 4)))
    write("png", "valid_gray1_interlaced.png",
          make_png(10, 10, 0, 1, lambda x, y: ((x + y) & 1,), interlace=1))
    write("png", "valid_1x1.png", make_png(1, 1, 0, 8, lambda x, y: (200,)))
    ancillary = (chunk(b"gAMA", struct.pack(">I", 45455)) + chunk(b"sRGB", b"\x00") +
                 chunk(b"tEXt", b"Comment\x00fuzz seed") + chunk(b"pHYs", struct.pack(">IIB", 1, 1, 0)))
    write("png", "valid_ancillary.png",
          make_png(W, H, 2, 8, lambda x, y: (x, y, 3), extra=ancillary))
    good = make_png(W, H, 2, 8, lambda x, y: (x * 30, y * 40, 90))
    write("png", "broken_truncated.png", good[:len(good) - 30])
    write("png", "broken_signature.png", b"\x89PNX" + good[4:])
    write("png", "broken_only_signature.png", PNG_SIG)
    bad_crc = bytearray(good)
    bad_crc[8 + 8 + 13] ^= 1           # IHDR CRC
    write("png", "broken_ihdr_crc.png", bytes(bad_crc))
    ihdr = lambda w, h, d=8, c=2: PNG_SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, d, c, 0, 0, 0))
    tiny_idat = chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    write("png", "broken_huge_dims.png", ihdr(16384, 16384, 8, 6) + tiny_idat)
    write("png", "broken_over_limit.png", ihdr(16385, 1) + tiny_idat)
    write("png", "broken_zero_width.png", ihdr(0, 5) + tiny_idat)
    write("png", "broken_depth_color.png", ihdr(4, 4, 4, 2) + tiny_idat)
    write("png", "broken_no_idat.png", ihdr(4, 4) + chunk(b"IEND", b""))
    write("png", "broken_no_iend.png", good[:len(good) - 12])
    write("png", "broken_short_idat.png",
          ihdr(8, 8) + chunk(b"IDAT", zlib.compress(b"\x00" * 25)) + chunk(b"IEND", b""))
    write("png", "broken_bad_zlib.png", ihdr(2, 2) + chunk(b"IDAT", b"\x78\x9c\xff\xff\xff") +
          chunk(b"IEND", b""))
    write("png", "broken_bad_filter.png",
          ihdr(2, 2, 8, 0) + chunk(b"IDAT", zlib.compress(b"\x07\x01\x02\x09\x03\x04")) +
          chunk(b"IEND", b""))
    write("png", "broken_palette_missing.png", ihdr(2, 2, 8, 3) + chunk(b"IDAT", zlib.compress(b"\x00\x00\x00" * 2)) +
          chunk(b"IEND", b""))
    # libpng accepts indexes beyond the palette (a benign error; they decode as black)
    write("png", "valid_palette_index_beyond_plte.png",
          make_png(4, 2, 3, 8, lambda x, y: (200,), plte=bytes(9)))


# ---------------------------------------------------------------- pth
def gen_pth():
    for fn in ("state_zip.pth", "state_legacy.pth", "state_zip_p4.pth", "state_deflated.pth"):
        shutil.copyfile(os.path.join(ROOT, "tests", "data", "pth", fn),
                        os.path.join(CORPUS, "pth", "valid_fixture_" + fn))
    import torch  # only needed here
    import io
    tiny = collections.OrderedDict(w=torch.tensor([1.5, -2.0]), n=torch.tensor(3))
    nested = {"enc": {"w": torch.arange(6, dtype=torch.int16).reshape(2, 3).t(),
                      "b": torch.tensor([True, False])},
              "h": torch.tensor([0.5], dtype=torch.float16),
              "x": torch.zeros(2, 0),
              "meta": [1, "a", 2.5, None]}

    def saved(obj, **kw):
        buf = io.BytesIO()
        torch.save(obj, buf, **kw)
        return buf.getvalue()

    z = saved(tiny)
    write("pth", "valid_tiny_zip.pth", z)
    write("pth", "valid_nested_zip_p4.pth", saved(nested, pickle_protocol=4))
    write("pth", "valid_legacy_tiny.pth", saved(tiny, _use_new_zipfile_serialization=False))
    write("pth", "broken_not_dict.pth", saved([torch.tensor([1.0])]))
    write("pth", "broken_truncated_zip.pth", z[:len(z) // 2])
    write("pth", "broken_zip_no_eocd.pth", z[:-22])
    flipped = bytearray(z)
    i = z.find(struct.pack("<ff", 1.5, -2.0))   # the stored bytes of tensor w
    assert i > 0
    flipped[i] ^= 0xFF
    write("pth", "broken_zip_crc.pth", bytes(flipped))
    leg = saved(tiny, _use_new_zipfile_serialization=False)
    write("pth", "broken_legacy_truncated.pth", leg[:len(leg) - 5])
    write("pth", "broken_legacy_magic.pth", b"\x80\x02\x8a\x0a" + bytes(10) + b".")
    write("pth", "broken_empty.pth", b"")


# ---------------------------------------------------------------- Fashion-MNIST (selector + file)
def idx_images(n, rows=28, cols=28, count=None):
    hdr = struct.pack(">IIII", 0x803, n if count is None else count, rows, cols)
    return hdr + bytes((i * 7 + i // 784) % 256 for i in range(n * rows * cols))


def idx_labels(n, count=None, first=0):
    return struct.pack(">II", 0x801, n if count is None else count) + bytes(
        [first] + [(i * 3) % 10 for i in range(1, n)])


def gz(b):
    return gzip.compress(b, compresslevel=9, mtime=0)


def gen_fashion_mnist():
    T = "fashion_mnist"
    img, lab = idx_images(3), idx_labels(3)
    write(T, "valid_test_images.bin", b"\x00" + img)
    write(T, "valid_train_images.bin", b"\x01" + img)
    write(T, "valid_test_images_gz.bin", b"\x04" + gz(img))
    write(T, "valid_train_labels.bin", b"\x03" + lab)
    write(T, "valid_test_labels_gz_companion_gz.bin", b"\x0e" + gz(lab))
    write(T, "valid_plain_named_gz.bin", b"\x05" + img)
    write(T, "valid_max_n_of_many.bin", b"\x00" + idx_images(65)[:16 + 64 * 784])  # reads 64 of 65
    write(T, "broken_magic.bin", b"\x00" + struct.pack(">I", 0x801) + img[4:])
    write(T, "broken_zero_count.bin", b"\x00" + idx_images(0))
    write(T, "broken_huge_count.bin", b"\x00" + idx_images(2, count=0xFFFFFFFF))
    write(T, "broken_dims.bin", b"\x00" + idx_images(1, rows=27))
    write(T, "broken_truncated.bin", b"\x00" + img[:-100])
    write(T, "broken_trailing_byte.bin", b"\x00" + img + b"\x00")
    write(T, "broken_short_header.bin", b"\x00" + img[:10])
    write(T, "broken_gz_truncated.bin", b"\x04" + gz(img)[:-12])
    bad = bytearray(gz(img))
    bad[-8] ^= 1                          # gzip trailer CRC
    write(T, "broken_gz_crc.bin", b"\x04" + bytes(bad))
    write(T, "broken_label_range.bin", b"\x02" + idx_labels(3, first=10))
    write(T, "broken_labels_magic.bin", b"\x02" + struct.pack(">II", 0x803, 3) + bytes(3))


# ---------------------------------------------------------------- CIFAR-10 (selector + file)
def cifar_records(n, first_label=0):
    out = bytearray()
    for r in range(n):
        out.append(first_label if r == 0 else r % 10)
        out += bytes((i * 11 + r * 5) % 256 for i in range(3072))
    return bytes(out)


def gen_cifar10():
    T = "cifar10"
    write(T, "valid_test_1.bin", b"\x00" + cifar_records(1, 4))
    write(T, "valid_train_batch1_2.bin", b"\x01" + cifar_records(2, 9))
    write(T, "valid_train_batch3.bin", bytes([1 | (2 << 1)]) + cifar_records(1))
    write(T, "valid_subdir_test.bin", b"\x10" + cifar_records(1, 7))
    write(T, "valid_train_companions2.bin", bytes([1 | 32]) + cifar_records(1))
    write(T, "broken_empty.bin", b"\x00")
    write(T, "broken_short.bin", b"\x00" + cifar_records(1)[:3072])
    write(T, "broken_long.bin", b"\x01" + cifar_records(1) + b"\x00")
    write(T, "broken_label_10.bin", b"\x00" + cifar_records(1, 10))
    write(T, "broken_label_255_second.bin", b"\x00" + cifar_records(1) + bytes([255]) + bytes(3072))


def main():
    gen_config()
    gen_png()
    gen_pth()
    gen_fashion_mnist()
    gen_cifar10()
    total = 0
    for t in sorted(os.listdir(CORPUS)):
        d = os.path.join(CORPUS, t)
        if os.path.isdir(d):
            files = os.listdir(d)
            size = sum(os.path.getsize(os.path.join(d, f)) for f in files)
            total += size
            print("%-14s %3d files %7d bytes" % (t, len(files), size), file=sys.stderr)
    print("total %d bytes (gen_fuzz_corpus.py version %d)" % (total, VERSION), file=sys.stderr)


if __name__ == "__main__":
    main()
