#!/usr/bin/python3
"""gen_tfbundle_fixtures.py — the TF checkpoint bundles tests/test_tfbundle.c reads
(tests/data/tfbundle/, version 1), written by scripts/tfbundle_write.py (which follows
shared/released-models/FORMATS.md §2), and expected.h5 with what the reader must return.

Bundles (PREFIX.index + PREFIX.data-00000-of-00001):
  mixed       13 tensors of every dtype the reader maps (float32/64/16, bfloat16, int64/32/16/8,
              uint8, bool), a scalar int64 global_step, an empty [0,3] tensor, NaN/inf/-0/
              subnormal values; one data block. The truncation / byte-flip tests use it.
  multiblock  70 float32 tensors with DDPM-style names (model/down_0/block_1/conv1/W and its
              /ExponentialMovingAverage) cut into 1 KiB blocks: several data blocks, restart
              points every 16 keys.
  snappy      the same tensors, every block Snappy-compressed (kept only when it saves 1/8,
              TF's rule; the script checks each block did compress).
  special     DT_STRING and DT_VARIANT entries (TF's layouts and CRCs), a partitioned variable
              (slices) with its slice entry under a 0x00-prefixed key, and one ordinary tensor:
              listed, CRCs verified, and refused by name.
  bigendian   header endianness BIG: refused.
  twoshards   num_shards 2, a tensor in shard 1 whose file is absent: "shard missing".

expected.txt (first line: its version): one line per tensor, in key order —
    bundle name tf_dtype dtype shape bytes f32
with dtype the io_dtype name, shape "3,3,3,4" ("-" for a scalar), bytes the stored bytes in hex
("-" when empty), f32 the little-endian bits tfbundle_get_f32 must return for float64/float16/
bfloat16 tensors ("-" otherwise: for float32 they are the bytes).

Run: /usr/bin/python3 scripts/gen_tfbundle_fixtures.py
"""
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfbundle_write as tw  # noqa: E402

VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "tfbundle")
IO_NAME = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8",
           9: "int64", 10: "bool", 14: "bfloat16", 19: "float16"}


def mixed_tensors(rng):
    f32 = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    f32.flat[:5] = [np.nan, np.inf, -np.inf, -0.0, 1e-45]  # NaN, infinities, -0, subnormal
    f16 = np.array([[0.5, -1.25, 65504.0], [6e-8, -0.0, np.inf]], dtype=np.float16)
    f16.flat[5] = np.float16(np.nan)
    bf16_bits = np.array([0x3F80, 0xC040, 0x7F80, 0x0001, 0x8000, 0x4049], dtype=np.uint16)
    return [
        ("global_step", np.array(790000, dtype=np.int64)),
        ("model/conv_in/W", f32),
        ("model/conv_in/W/ExponentialMovingAverage", (f32 * np.float32(0.999)).astype(np.float32)),
        ("model/conv_in/b", rng.standard_normal(4).astype(np.float32)),
        ("model/norm_out/gamma", rng.standard_normal(4).astype(np.float64)),
        ("model/norm_out/beta", np.array([1.0 + 2.0 ** -40, -3.5, 1e300, 5e-324], np.float64)),
        ("model/half", f16),
        ("model/bf16", bf16_bits.reshape(2, 3), tw.DT_BFLOAT16),
        ("counts/i32", np.array([-2147483648, 2147483647, 0, 7], np.int32)),
        ("counts/i16", np.array([[-32768, 32767]], np.int16)),
        ("counts/i8", np.array([-128, 127, 1], np.int8)),
        ("counts/u8", np.arange(250, 256, dtype=np.uint8).reshape(2, 3, 1)),
        ("flags", np.array([True, False, True], np.bool_)),
        ("model/empty", np.zeros((0, 3), np.float32)),
        ("beta1_power", np.array(0.9, np.float32)),
    ]


def ddpm_tensors(rng):
    out = []
    for i in range(2):
        for j in range(2):
            for layer, shape in (("conv1/W", (3, 3, 2, 2)), ("conv1/b", (2,)),
                                 ("norm1/gamma", (2,)), ("norm1/beta", (2,)),
                                 ("temb_proj/W", (4, 2)), ("temb_proj/b", (2,)),
                                 ("conv2/W", (3, 3, 2, 2)), ("conv2/b", (2,))):
                name = "model/down_%d/block_%d/%s" % (i, j, layer)
                w = rng.standard_normal(shape).astype(np.float32)
                out.append((name, w))
                out.append((name + "/ExponentialMovingAverage", (w * np.float32(0.5))))
    out.append(("model/conv_out/W", rng.standard_normal((3, 3, 2, 3)).astype(np.float32)))
    out.append(("model/conv_out/b", rng.standard_normal(3).astype(np.float32)))
    for k in range(4):
        out.append(("model/temb/dense%d/b" % k, rng.standard_normal(3).astype(np.float32)))
    return out


def record(lines, bundle, written):
    for name, dt, shape, raw in written:
        f32 = "-"
        if dt in (2, 19):
            with np.errstate(over="ignore"):  # 1e300 -> inf, as IEEE rounding says
                v = np.frombuffer(raw, {2: "<f8", 19: "<f2"}[dt]).astype("<f4")
            f32 = v.tobytes().hex() or "-"
        elif dt == tw.DT_BFLOAT16:
            f32 = (np.frombuffer(raw, "<u2").astype("<u4") << 16).tobytes().hex()
        lines.append("%s %s %d %s %s %s %s" % (bundle, name, dt, IO_NAME[dt],
                                               ",".join(str(d) for d in shape) or "-",
                                               raw.hex() or "-", f32))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(17)
    h = ["# expected.txt version %d, written by scripts/gen_tfbundle_fixtures.py" % VERSION,
         "# bundle name tf_dtype dtype shape(-: scalar) stored-bytes-hex f32-bits-hex(-: same "
         "as the bytes, or not a float)"]

    record(h, "mixed", tw.write_bundle(os.path.join(OUT, "mixed"), mixed_tensors(rng)))

    ddpm = ddpm_tensors(rng)
    st = {}
    w = tw.write_bundle(os.path.join(OUT, "multiblock"), ddpm, block_size=600, stats=st)
    record(h, "multiblock", w)
    assert len(st["kinds"]) >= 6 and set(st["kinds"]) == {0}, st
    w2 = tw.write_bundle(os.path.join(OUT, "snappy"), ddpm, block_size=600, snappy=True, stats=st)
    record(h, "snappy", w2)
    data_kinds = st["kinds"][:-2]
    assert set(data_kinds) == {1}, st  # every data block compressed by at least 1/8
    print("multiblock/snappy: %d data blocks; snappy block types %s" % (len(data_kinds), st["kinds"]))

    # special: DT_STRING and DT_VARIANT entries in TF's layouts (their CRCs are not over the
    # raw bytes), a sliced variable + its slice entry, one ordinary tensor
    plain = np.array([1.5, -2.5], np.float32)
    text, text_crc = tw.string_tensor_bytes([b"hello", b"", b"tf"])
    var, var_crc = tw.variant_tensor_bytes([b"\x0a\x03abc", b""])
    extent = tw.pb_bytes(1, tw.pb_varint(1, 0) + tw.pb_varint(2, 2))
    sliced = tw.entry_proto(1, (4,), 0, 0, 0, tw.mask(tw.crc32c(b"")), slices=[extent])
    raw = [
        (b"model/strings", tw.entry_proto(7, (3,), 0, 8, len(text), tw.mask(text_crc))),
        (b"model/variant", tw.entry_proto(21, (2,), 0, 8 + len(text), len(var), tw.mask(var_crc))),
        (b"model/partitioned", sliced),
        (b"\x00\x0fmodel/partitioned\x00slice", tw.entry_proto(1, (2,), 0, 0, 8, 0)),
    ]
    w3 = tw.write_bundle(os.path.join(OUT, "special"), [("model/plain", plain)], raw_entries=raw)
    with open(os.path.join(OUT, "special.data-00000-of-00001"), "ab") as f:
        f.write(text + var)   # after the float tensor's 8 bytes
    record(h, "special", w3)

    tw.write_bundle(os.path.join(OUT, "bigendian"), [("x", plain)],
                    header=tw.header_proto(endianness=1))
    twos = [(b"y", tw.entry_proto(1, (2,), 1, 0, 8, tw.mask(tw.crc32c(plain.tobytes()))))]
    tw.write_bundle(os.path.join(OUT, "twoshards"), [("x", plain)],
                    header=tw.header_proto(num_shards=2), raw_entries=twos)
    # the writer named the data file "-of-00001"; the header says two shards
    os.replace(os.path.join(OUT, "twoshards.data-00000-of-00001"),
               os.path.join(OUT, "twoshards.data-00000-of-00002"))
    with open(os.path.join(OUT, "expected.txt"), "w") as f:
        f.write("\n".join(h) + "\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("wrote %s (%d bytes)" % (OUT, total))
    write_fuzz_seeds()


def write_fuzz_seeds():
    """tests/fuzz/corpus/tfbundle/: u16 LE index length | index | data shard
    (tests/fuzz/fuzz_tfbundle.c); regress_* files are left alone."""
    corpus = os.path.join(OUT, "..", "..", "fuzz", "corpus", "tfbundle")
    os.makedirs(corpus, exist_ok=True)
    for f in os.listdir(corpus):
        if f.startswith(("valid_", "broken_")):
            os.remove(os.path.join(corpus, f))

    def seed(name, index, data):
        with open(os.path.join(corpus, name), "wb") as f:
            f.write(struct.pack("<H", len(index)) + index + data)

    def files(bundle, shards="00001"):
        idx = open(os.path.join(OUT, bundle + ".index"), "rb").read()
        dat = open(os.path.join(OUT, "%s.data-00000-of-%s" % (bundle, shards)), "rb").read()
        return idx, dat
    for b in ("mixed", "multiblock", "snappy", "special"):
        seed("valid_%s.bin" % b, *files(b))
    idx, dat = files("mixed")
    seed("broken_bigendian.bin", *files("bigendian"))
    seed("broken_twoshards.bin", *files("twoshards", "00002"))
    seed("broken_index_truncated.bin", idx[:len(idx) // 2], b"")
    seed("broken_data_truncated.bin", idx, dat[:-1])
    flipped = bytearray(dat)
    flipped[100] ^= 1
    seed("broken_data_crc.bin", idx, bytes(flipped))
    flipped = bytearray(idx)
    flipped[40] ^= 0x20   # inside the data block: bad block CRC (the harness repairs it)
    seed("broken_block_crc.bin", bytes(flipped), dat)
    seed("broken_empty.bin", b"", b"")


if __name__ == "__main__":
    main()
