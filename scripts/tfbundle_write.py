#!/usr/bin/python3
"""tfbundle_write.py — writes a TensorFlow V2 checkpoint bundle (PREFIX.index +
PREFIX.data-00000-of-00001) without TensorFlow, following shared/released-models/FORMATS.md §2
(TF's tensor_bundle.cc, table_builder.cc, block_builder.cc, format.cc):

- data file: each tensor's raw little-endian row-major bytes, in sorted-key order, no padding;
- index: an SSTable — data blocks of prefix-compressed keys with a restart point every 16 keys,
  cut when the estimated block size reaches block_size (TF: 256 KiB; default here 4 KiB so
  that small bundles have several blocks), an empty metaindex block, an index block (restart
  interval 1) whose keys are FindShortestSeparator / FindShortSuccessor of the blocks' last
  keys, each block followed by its type byte and Mask(crc32c(contents + type)), and the 48-byte
  footer with the magic 0xdb4775248b80fb57;
- values: BundleHeaderProto {num_shards: 1, version {producer: 1}} under key "" and one
  BundleEntryProto (dtype, shape, shard_id, offset, size, crc32c = Mask(crc32c(bytes))) per tensor.

With snappy=True each block is Snappy-compressed (a small greedy LZ77 encoder: literals and
2-byte-offset copies) and kept compressed when that saves at least 1/8 (TF's rule), or always
with force_snappy=True.

Usage (the input's arrays keep their dtype; HDF5 datasets are found recursively, a dataset's
path is its name):
    /usr/bin/python3 scripts/tfbundle_write.py IN.h5|IN.npz PREFIX [--global-step N]
        [--snappy] [--block-size BYTES]
Python 3 + numpy only (h5py for .h5 input).
"""
import argparse
import struct
import sys

import numpy as np

# ---------------------------------------------------------------- CRC32C and the mask (§2.4)


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        t.append(c)
    return t


_CRC_TABLE = _crc_table()


def crc32c(data, crc=0):
    c = crc ^ 0xFFFFFFFF
    t = _CRC_TABLE
    for b in bytes(data):
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def mask(c):
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


# ---------------------------------------------------------------- protobuf encoding (§2.8)


def varint(v):
    if v < 0:
        v += 1 << 64  # negative int32/int64: 10-byte two's complement
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_varint(field, v):
    return varint(field << 3) + varint(v)


def pb_bytes(field, payload):
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def pb_fixed32(field, v):
    return varint(field << 3 | 5) + struct.pack("<I", v)


def header_proto(num_shards=1, endianness=0, producer=1):
    out = pb_varint(1, num_shards)
    if endianness:
        out += pb_varint(2, endianness)
    return out + pb_bytes(3, pb_varint(1, producer))


def shape_proto(shape):
    return b"".join(pb_bytes(2, pb_varint(1, d) if d else b"") for d in shape)


def entry_proto(dtype, shape, shard_id, offset, size, crc_masked, slices=None):
    """BundleEntryProto as TF serializes it: proto3 zero scalars omitted, shape always present."""
    out = pb_varint(1, dtype) + pb_bytes(2, shape_proto(shape))
    if shard_id:
        out += pb_varint(3, shard_id)
    if offset:
        out += pb_varint(4, offset)
    if size:
        out += pb_varint(5, size)
    out += pb_fixed32(6, crc_masked)
    for s in slices or []:
        out += pb_bytes(7, s)
    return out


def string_tensor_bytes(strings):
    """DT_STRING data as WriteStringTensor lays it out: varint64 lengths, fixed32 Mask(crc of
    the lengths as uint32 LE), the bytes. Returns (bytes, crc) with crc over the lengths, the
    4 checksum bytes and the string bytes (what BundleEntryProto.crc32c masks)."""
    lengths, crc = b"", 0
    for x in strings:
        lengths += varint(len(x))
        crc = crc32c(struct.pack("<I", len(x)), crc)
    ck = struct.pack("<I", mask(crc))
    crc = crc32c(ck, crc)
    body = b"".join(strings)
    return lengths + ck + body, crc32c(body, crc)


def variant_tensor_bytes(elements):
    """DT_VARIANT data as WriteVariantTensor lays it out: per element varint64 length, the
    serialized bytes, fixed32 Mask(crc so far). Returns (bytes, crc)."""
    out, crc = b"", 0
    for x in elements:
        crc = crc32c(x, crc32c(struct.pack("<Q", len(x)), crc))
        ck = struct.pack("<I", mask(crc))
        out += varint(len(x)) + x + ck
        crc = crc32c(ck, crc)
    return out, crc


# ---------------------------------------------------------------- Snappy (raw format)


def _snappy_literal(out, data):
    n = len(data) - 1
    if n < 60:
        out.append(n << 2)
    else:
        nb = (n.bit_length() + 7) // 8
        out.append((59 + nb) << 2)
        out += n.to_bytes(nb, "little")
    out += data


def snappy_compress(data):
    """Greedy matcher over 4-byte hashes; copies of 4..64 bytes with 2-byte offsets."""
    data = bytes(data)
    out = bytearray(varint(len(data)))
    table = {}
    i = lit = 0
    n = len(data)
    while i + 4 <= n:
        key = data[i:i + 4]
        cand = table.get(key)
        table[key] = i
        if cand is not None and i - cand < 65536:
            length = 4
            while i + length < n and length < 64 and data[cand + length] == data[i + length]:
                length += 1
            if lit < i:
                _snappy_literal(out, data[lit:i])
            off = i - cand
            out.append((length - 1) << 2 | 2)
            out += struct.pack("<H", off)
            i += length
            lit = i
        else:
            i += 1
    if lit < n:
        _snappy_literal(out, data[lit:])
    return bytes(out)


# ---------------------------------------------------------------- SSTable (§2.3)


class BlockBuilder:
    def __init__(self, restart_interval):
        self.interval = restart_interval
        self.buf = bytearray()
        self.restarts = [0]
        self.counter = 0
        self.last = b""

    def empty(self):
        return not self.buf

    def estimate(self):
        return len(self.buf) + 4 * len(self.restarts) + 4

    def add(self, key, value):
        shared = 0
        if self.counter < self.interval:
            m = min(len(key), len(self.last))
            while shared < m and key[shared] == self.last[shared]:
                shared += 1
        else:
            self.restarts.append(len(self.buf))
            self.counter = 0
        self.buf += varint(shared) + varint(len(key) - shared) + varint(len(value))
        self.buf += key[shared:] + value
        self.last = key
        self.counter += 1

    def finish(self):
        return bytes(self.buf) + b"".join(struct.pack("<I", r) for r in self.restarts) + \
            struct.pack("<I", len(self.restarts))


def shortest_separator(start, limit):
    m = min(len(start), len(limit))
    d = 0
    while d < m and start[d] == limit[d]:
        d += 1
    if d >= m:
        return start
    b = start[d]
    if b < 0xFF and b + 1 < limit[d]:
        return start[:d] + bytes([b + 1])
    return start


def short_successor(key):
    for i, b in enumerate(key):
        if b != 0xFF:
            return key[:i] + bytes([b + 1])
    return key


class TableWriter:
    def __init__(self, block_size=4096, snappy=False, force_snappy=False):
        self.block_size = block_size
        self.snappy = snappy or force_snappy
        self.force = force_snappy
        self.out = bytearray()
        self.data = BlockBuilder(16)
        self.index = BlockBuilder(1)
        self.pending = None  # handle of the last flushed data block, waiting for its index key
        self.last = None
        self.kinds = []  # type byte of each block written: data blocks, metaindex, index

    def _write_block(self, contents, compress):
        kind = 0
        if compress:
            c = snappy_compress(contents)
            if self.force or len(c) < len(contents) - len(contents) // 8:
                contents, kind = c, 1
        self.kinds.append(kind)
        handle = (len(self.out), len(contents))
        trailer = bytes([kind])
        self.out += contents + trailer + struct.pack("<I", mask(crc32c(contents + trailer)))
        return handle

    @staticmethod
    def _handle(h):
        return varint(h[0]) + varint(h[1])

    def add(self, key, value):
        assert self.last is None or key > self.last, "keys must be added in increasing order"
        if self.pending is not None:
            self.index.add(shortest_separator(self.last, key), self._handle(self.pending))
            self.pending = None
        self.data.add(key, value)
        self.last = key
        if self.data.estimate() >= self.block_size:
            self._flush()

    def _flush(self):
        if self.data.empty():
            return
        self.pending = self._write_block(self.data.finish(), self.snappy)
        self.data = BlockBuilder(16)

    def finish(self):
        self._flush()
        meta = self._write_block(BlockBuilder(16).finish(), self.snappy)
        if self.pending is not None:
            self.index.add(short_successor(self.last), self._handle(self.pending))
        index = self._write_block(self.index.finish(), self.snappy)
        footer = self._handle(meta) + self._handle(index)
        footer += b"\0" * (40 - len(footer)) + struct.pack("<Q", 0xDB4775248B80FB57)
        self.out += footer
        return bytes(self.out)


# ---------------------------------------------------------------- the bundle (§2.5-2.7)

TF_DTYPE = {np.dtype("float32"): 1, np.dtype("float64"): 2, np.dtype("int32"): 3,
            np.dtype("uint8"): 4, np.dtype("int16"): 5, np.dtype("int8"): 6,
            np.dtype("int64"): 9, np.dtype("bool"): 10, np.dtype("float16"): 19}
DT_BFLOAT16 = 14


def write_bundle(prefix, tensors, block_size=4096, snappy=False, force_snappy=False,
                 header=None, raw_entries=(), stats=None):
    """tensors: iterable of (name, array) or (name, array, tf_dtype) — tf_dtype overrides the
    numpy mapping (e.g. DT_BFLOAT16 for a uint16 array of bfloat16 bits). raw_entries: extra
    (key bytes, BundleEntryProto bytes) put in the index as given (for test fixtures).
    Returns the list of (name, tf_dtype, shape, bytes) written, in key order; stats (a dict)
    receives "kinds", the type byte of every block (data blocks, metaindex, index)."""
    items = []
    for t in tensors:
        name, arr = t[0], np.asarray(t[1])
        dt = t[2] if len(t) > 2 else TF_DTYPE[arr.dtype]
        items.append((name.encode(), dt, arr))
    items.sort(key=lambda x: x[0])
    entries = {}
    data = bytearray()
    written = []
    for key, dt, arr in items:
        raw = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        entries[key] = entry_proto(dt, arr.shape, 0, len(data), len(raw), mask(crc32c(raw)))
        written.append((key.decode(), dt, arr.shape, raw))
        data += raw
    for key, value in raw_entries:
        entries[key] = value
    table = TableWriter(block_size, snappy, force_snappy)
    table.add(b"", header if header is not None else header_proto())
    for key in sorted(entries):
        table.add(key, entries[key])
    index = table.finish()
    if stats is not None:
        stats["kinds"] = table.kinds
    with open(prefix + ".index", "wb") as f:
        f.write(index)
    with open(prefix + ".data-00000-of-00001", "wb") as f:
        f.write(data)
    return written


def _read_input(path):
    if path.endswith(".npz"):
        z = np.load(path)
        return [(k, z[k]) for k in z.files]
    import h5py
    out = []
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out.append((name, obj[()]))
        f.visititems(visit)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input", help=".h5 or .npz of named arrays")
    ap.add_argument("prefix", help="writes PREFIX.index and PREFIX.data-00000-of-00001")
    ap.add_argument("--global-step", type=int, help="add an int64 scalar global_step")
    ap.add_argument("--snappy", action="store_true", help="Snappy-compress blocks (TF's rule)")
    ap.add_argument("--force-snappy", action="store_true", help="Snappy-compress every block")
    ap.add_argument("--block-size", type=int, default=4096)
    a = ap.parse_args()
    tensors = _read_input(a.input)
    if a.global_step is not None:
        tensors.append(("global_step", np.array(a.global_step, dtype=np.int64)))
    w = write_bundle(a.prefix, tensors, a.block_size, a.snappy, a.force_snappy)
    print("%s: %d tensors" % (a.prefix, len(w)), file=sys.stderr)


if __name__ == "__main__":
    main()
