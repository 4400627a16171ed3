/* tfbundle.c — TensorFlow V2 checkpoint bundle reader (contract in tfbundle.h; byte-level
 * format in shared/released-models/FORMATS.md §2, from TF's table/block/format and
 * tensor_bundle sources).
 *
 * Open reads the whole .index into memory and walks it: footer (magic, metaindex and index
 * handles), the index block (one handle per data block), every data block (prefix-compressed
 * keys, restart array), each block's masked CRC32C over contents ‖ type byte, Snappy for type
 * 1. Values: BundleHeaderProto under key "" and one BundleEntryProto per tensor. The data
 * shards referenced by the entries are opened and kept open; tensor bytes are read on demand
 * (pread) and checked against the entry's masked CRC32C on every read.
 *
 * What is malformed (bad framing, CRC, key order, an entry outside its shard, a size that does
 * not match dtype × shape) fails the open. What is well formed but unsupported here (a TF dtype
 * with no io_dtype, a partitioned variable, unknown rank, rank > IO_MAX_RANK) is listed and
 * fails only on tfbundle_tensor_info / the getters, naming the tensor. */
#include "io/tfbundle.h"

#include "core/common.h"
#include "io/crc32c.h"
#include "io/protobuf.h"
#include "io/snappy.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FOOTER_LEN        48 /* 2 BlockHandles of <= 20 bytes, padding, 8-byte magic */
#define BLOCK_TRAILER_LEN 5  /* type byte + fixed32 masked CRC */
#define TABLE_MAGIC       UINT64_C(0xdb4775248b80fb57)
#define MAX_INDEX_BYTES   (UINT64_C(1) << 31)
#define MAX_SHARDS        100000 /* the ".data-%05d-of-%05d" names stop there */

typedef struct {
    char *name;
    int64_t tf_dtype;
    int rank; /* number of dims in the shape proto */
    int64_t shape[IO_MAX_RANK];
    int unknown_rank, sliced;
    int32_t shard;
    uint64_t offset, size;
    uint32_t crc_masked;
} tf_entry;

typedef struct {
    char *path;
    int fd;             /* -1 when not opened (or memory-backed) */
    const uint8_t *mem; /* memory-backed shard (tfbundle_open_mem) */
    uint64_t size;
    int used;
} tf_shard;

struct tfbundle {
    char *index_path;
    int num_shards;
    tf_shard *shards;
    tf_entry *t;
    int nt, capt;
    uint8_t *mem_owned; /* tfbundle_open_mem: one copy of every buffer */
    int index_only;     /* tfbundle_open_index: no shard opened */
};

/* ------------------------------------------------------------------------------------------ */
/* Messages: one printable line naming the file.                                              */

/* "file: context: <the message a lower layer left>" */
static int fwrap(const char *file, const char *fmt, ...) DDPM_PRINTF(2, 3);
static int fwrap(const char *file, const char *fmt, ...)
{
    char ctx[512], low[512];
    snprintf(low, sizeof low, "%s", ddpm_last_error());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    return ddpm_error_in(file, "%s: %s", ctx, low);
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    else ddpm_error("out of memory");
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* TF DataType numbers (tensorflow/core/framework/types.proto)                                 */

const char *tfbundle_tf_dtype_name(int dt)
{
    static const char *const NAME[] = { "DT_INVALID",      "DT_FLOAT",   "DT_DOUBLE", "DT_INT32",      "DT_UINT8",
                                        "DT_INT16",        "DT_INT8",    "DT_STRING", "DT_COMPLEX64",  "DT_INT64",
                                        "DT_BOOL",         "DT_QINT8",   "DT_QUINT8", "DT_QINT32",     "DT_BFLOAT16",
                                        "DT_QINT16",       "DT_QUINT16", "DT_UINT16", "DT_COMPLEX128", "DT_HALF",
                                        "DT_RESOURCE",     "DT_VARIANT", "DT_UINT32", "DT_UINT64",     "DT_FLOAT8_E5M2",
                                        "DT_FLOAT8_E4M3FN" };
    static const char *const REF[] = { "DT_INVALID_REF",   "DT_FLOAT_REF", "DT_DOUBLE_REF", "DT_INT32_REF",
                                       "DT_UINT8_REF",     "DT_INT16_REF", "DT_INT8_REF",   "DT_STRING_REF",
                                       "DT_COMPLEX64_REF", "DT_INT64_REF", "DT_BOOL_REF" };
    if (dt >= 0 && dt < (int)DDPM_ARRAY_LEN(NAME)) return NAME[dt];
    if (dt >= 100 && dt < 100 + (int)DDPM_ARRAY_LEN(REF)) return REF[dt - 100];
    return "an unknown DataType";
}

static int io_dtype_of_tf(int64_t dt, io_dtype *out)
{
    switch (dt) {
    case 1: *out = IO_F32; return 1;
    case 2: *out = IO_F64; return 1;
    case 3: *out = IO_I32; return 1;
    case 4: *out = IO_U8; return 1;
    case 5: *out = IO_I16; return 1;
    case 6: *out = IO_I8; return 1;
    case 9: *out = IO_I64; return 1;
    case 10: *out = IO_BOOL; return 1;
    case 14: *out = IO_BF16; return 1;
    case 19: *out = IO_F16; return 1;
    default: return 0;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* SSTable blocks                                                                              */

typedef struct {
    const char *file;
    const uint8_t *buf; /* the whole .index */
    size_t len;
} idx_ctx;

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* BlockHandle: varint64 offset, varint64 size. */
static int decode_handle(const uint8_t *p, size_t n, size_t *pos, uint64_t *off, uint64_t *size)
{
    DDPM_TRY(pb_read_varint(p, n, pos, off));
    return pb_read_varint(p, n, pos, size);
}

/* The contents of the block at (off, size): CRC checked, Snappy decoded. *owned is set when
 * *out was allocated (free it). */
static int read_block(const idx_ctx *c, const char *what, uint64_t off, uint64_t size, const uint8_t **out,
                      size_t *out_len, uint8_t **owned)
{
    *owned = NULL;
    uint64_t end = c->len - FOOTER_LEN; /* blocks precede the footer */
    if (off > end || size > end - off || end - off - size < BLOCK_TRAILER_LEN)
        return ddpm_error_in(c->file,
                             "%s at offset %llu, %llu bytes + 5-byte trailer, runs past the %llu "
                             "bytes before the footer (truncated or corrupt index)",
                             what, (unsigned long long)off, (unsigned long long)size, (unsigned long long)end);
    const uint8_t *b = c->buf + off;
    uint8_t type = b[size];
    uint32_t stored = crc32c_unmask(le32(b + size + 1));
    uint32_t actual = crc32c_value(b, (size_t)size + 1);
    if (stored != actual)
        return ddpm_error_in(c->file,
                             "bad block CRC: %s at offset %llu (%llu bytes): stored CRC32C 0x%08x, "
                             "contents give 0x%08x (corrupt index)",
                             what, (unsigned long long)off, (unsigned long long)size, stored, actual);
    if (type == 0) {
        *out = b;
        *out_len = (size_t)size;
        return DDPM_OK;
    }
    if (type != 1)
        return ddpm_error_in(c->file, "%s at offset %llu has compression type %u (known: 0 none, 1 Snappy)", what,
                             (unsigned long long)off, type);
    size_t ulen;
    if (snappy_uncompressed_length(b, (size_t)size, &ulen) != DDPM_OK)
        return fwrap(c->file, "Snappy %s at offset %llu", what, (unsigned long long)off);
    uint8_t *u = malloc(ulen ? ulen : 1);
    if (!u) return ddpm_error_in(c->file, "out of memory decoding a %zu-byte Snappy block", ulen);
    if (snappy_decompress(b, (size_t)size, u, ulen) != DDPM_OK) {
        free(u);
        return fwrap(c->file, "Snappy %s at offset %llu", what, (unsigned long long)off);
    }
    *out = u;
    *out_len = ulen;
    *owned = u;
    return DDPM_OK;
}

/* Iterates the entries of one block:
 *   entry*  varint32 shared | varint32 unshared | varint32 value_length | key delta | value
 *   fixed32 restarts[num_restarts] | fixed32 num_restarts
 * and checks that every restart offset is an entry boundary whose key is stored whole. */
typedef struct {
    const idx_ctx *c;
    const char *what;
    uint64_t block_off;
    const uint8_t *b;
    size_t limit, pos;
    const uint8_t *restarts;
    uint32_t nrestarts, next_restart;
    uint8_t *key;
    size_t klen, kcap;
    const uint8_t *val;
    size_t vlen;
} blk_iter;

static int blk_begin(blk_iter *it, const idx_ctx *c, const char *what, uint64_t off, const uint8_t *b, size_t n)
{
    memset(it, 0, sizeof *it);
    it->c = c;
    it->what = what;
    it->block_off = off;
    it->b = b;
    if (n < 4)
        return ddpm_error_in(c->file, "%s at offset %llu is %zu bytes, too short for its restart count", what,
                             (unsigned long long)off, n);
    uint32_t nr = le32(b + n - 4);
    if (nr > (n - 4) / 4)
        return ddpm_error_in(c->file, "%s at offset %llu: %u restart points do not fit in %zu bytes", what,
                             (unsigned long long)off, nr, n);
    it->nrestarts = nr;
    it->limit = n - 4 - 4 * (size_t)nr;
    it->restarts = b + it->limit;
    uint32_t prev = 0;
    for (uint32_t k = 0; k < nr; k++) {
        uint32_t r = le32(it->restarts + 4 * k);
        if ((k == 0 && r != 0) || (k > 0 && r <= prev) || (it->limit > 0 && r >= it->limit) ||
            (it->limit == 0 && k > 0))
            return ddpm_error_in(c->file,
                                 "%s at offset %llu: restart point %u at %u is out of order or "
                                 "past the %zu bytes of entries",
                                 what, (unsigned long long)off, k, r, it->limit);
        prev = r;
    }
    if (nr == 0 && it->limit > 0)
        return ddpm_error_in(c->file, "%s at offset %llu has entries but no restart points", what,
                             (unsigned long long)off);
    if (it->limit == 0) it->next_restart = nr; /* an empty block's restart [0] names no entry */
    return DDPM_OK;
}

static int read_varint32(const blk_iter *it, size_t *pos, uint32_t *v)
{
    uint64_t x;
    size_t at = *pos;
    if (pb_read_varint(it->b, it->limit, pos, &x) != DDPM_OK || x > UINT32_MAX || *pos - at > 5)
        return ddpm_error_in(it->c->file, "%s at offset %llu: bad varint32 in the entry at byte %zu", it->what,
                             (unsigned long long)it->block_off, at);
    *v = (uint32_t)x;
    return DDPM_OK;
}

/* 1 with it->key/klen/val/vlen set, 0 at the end, DDPM_ERR when malformed. */
static int blk_next(blk_iter *it)
{
    const char *file = it->c->file;
    if (it->pos >= it->limit) {
        if (it->next_restart != it->nrestarts)
            return ddpm_error_in(file, "%s at offset %llu: restart point %u is not an entry boundary", it->what,
                                 (unsigned long long)it->block_off, it->next_restart);
        return 0;
    }
    size_t at = it->pos, p = it->pos;
    uint32_t shared, unshared, vlen;
    DDPM_TRY(read_varint32(it, &p, &shared));
    DDPM_TRY(read_varint32(it, &p, &unshared));
    DDPM_TRY(read_varint32(it, &p, &vlen));
    int is_restart = it->next_restart < it->nrestarts && le32(it->restarts + 4 * (size_t)it->next_restart) == at;
    if (it->next_restart < it->nrestarts && le32(it->restarts + 4 * (size_t)it->next_restart) < at)
        return ddpm_error_in(file, "%s at offset %llu: restart point %u is not an entry boundary", it->what,
                             (unsigned long long)it->block_off, it->next_restart);
    if (is_restart) it->next_restart++;
    if (shared > it->klen || (is_restart && shared != 0))
        return ddpm_error_in(file,
                             "%s at offset %llu: entry at byte %zu shares %u key bytes with a %zu-byte "
                             "previous key%s",
                             it->what, (unsigned long long)it->block_off, at, shared, it->klen,
                             is_restart ? " at a restart point" : "");
    if (unshared > it->limit - p || vlen > it->limit - p - unshared)
        return ddpm_error_in(file,
                             "%s at offset %llu: entry at byte %zu (key %u + value %u bytes) runs past "
                             "the %zu bytes of entries",
                             it->what, (unsigned long long)it->block_off, at, unshared, vlen, it->limit);
    size_t klen = (size_t)shared + unshared;
    if (klen + 1 > it->kcap) {
        size_t cap = it->kcap ? it->kcap : 64;
        while (cap < klen + 1) cap *= 2;
        uint8_t *k = realloc(it->key, cap);
        if (!k) return ddpm_error_in(file, "out of memory for a %zu-byte key", klen);
        it->key = k;
        it->kcap = cap;
    }
    memcpy(it->key + shared, it->b + p, unshared);
    it->key[klen] = 0;
    it->klen = klen;
    it->val = it->b + p + unshared;
    it->vlen = vlen;
    it->pos = p + unshared + vlen;
    return 1;
}

static int key_cmp(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c) return c;
    return na < nb ? -1 : na > nb;
}

/* ------------------------------------------------------------------------------------------ */
/* BundleHeaderProto and BundleEntryProto                                                       */

static int parse_header(tfbundle *bd, const char *file, const uint8_t *v, size_t n)
{
    pb_reader r = pb_reader_init(v, n);
    pb_field f;
    int rc;
    int64_t num_shards = 0, endianness = 0;
    int32_t producer = 0, min_consumer = 0;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.number == 1 || f.number == 2) {
            if (f.wire != PB_VARINT)
                return ddpm_error_in(file, "header entry: field %u has wire type %d, expected a varint", f.number,
                                     f.wire);
            if (f.number == 1) num_shards = (int64_t)f.u64;
            else endianness = (int64_t)f.u64;
        } else if (f.number == 3) { /* VersionDef */
            if (f.wire != PB_LEN) return ddpm_error_in(file, "header entry: version has wire type %d", f.wire);
            pb_reader vr = pb_reader_init(f.data, f.len);
            pb_field g;
            int vrc;
            while ((vrc = pb_next(&vr, &g)) == 1) {
                int32_t x;
                if (g.number == 1 || g.number == 2) {
                    if (g.wire != PB_VARINT || !pb_as_int32(g.u64, &x))
                        return ddpm_error_in(file, "header entry: version field %u is not an int32", g.number);
                    if (g.number == 1) producer = x;
                    else min_consumer = x;
                } else if (g.number == 3) { /* bad_consumers: packed or not */
                    if (g.wire == PB_VARINT) {
                        if (pb_as_int32(g.u64, &x) && x == 1)
                            return ddpm_error_in(file, "this reader's bundle version 1 is listed as a bad "
                                                       "consumer of the checkpoint");
                    } else if (g.wire == PB_LEN) {
                        size_t p = 0;
                        while (p < g.len) {
                            uint64_t u;
                            if (pb_read_varint(g.data, g.len, &p, &u) != DDPM_OK)
                                return fwrap(file, "header entry: bad_consumers");
                            if (pb_as_int32(u, &x) && x == 1)
                                return ddpm_error_in(file, "this reader's bundle version 1 is listed as a "
                                                           "bad consumer of the checkpoint");
                        }
                    } else {
                        return ddpm_error_in(file, "header entry: bad_consumers has wire type %d", g.wire);
                    }
                }
            }
            if (vrc < 0) return fwrap(file, "header entry: version");
        }
    }
    if (rc < 0) return fwrap(file, "header entry (BundleHeaderProto)");
    if (num_shards < 1 || num_shards > MAX_SHARDS)
        return ddpm_error_in(file, "header entry: num_shards is %lld (expected 1..%d)", (long long)num_shards,
                             MAX_SHARDS);
    if (endianness == 1)
        return ddpm_error_in(file, "the bundle was written big-endian (BundleHeaderProto.endianness = BIG); "
                                   "only little-endian bundles are supported");
    if (endianness != 0)
        return ddpm_error_in(file, "header entry: endianness is %lld (0 little or 1 big)", (long long)endianness);
    /* CheckVersions(version, kTensorBundleVersion = 1, kTensorBundleMinProducer = 0) */
    if (producer < 0) return ddpm_error_in(file, "header entry: producer version %d is below the minimum 0", producer);
    if (min_consumer > 1)
        return ddpm_error_in(file, "the checkpoint needs bundle reader version %d; this reader is version 1",
                             min_consumer);
    bd->num_shards = (int)num_shards;
    return DDPM_OK;
}

static int parse_shape(tf_entry *e, const char *file, const uint8_t *v, size_t n)
{
    pb_reader r = pb_reader_init(v, n);
    pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.number == 2) { /* Dim { int64 size = 1; string name = 2; } */
            if (f.wire != PB_LEN)
                return ddpm_error_in(file, "tensor '%.200s': shape dim has wire type %d", e->name, f.wire);
            int64_t size = 0;
            pb_reader dr = pb_reader_init(f.data, f.len);
            pb_field g;
            int drc;
            while ((drc = pb_next(&dr, &g)) == 1)
                if (g.number == 1) {
                    if (g.wire != PB_VARINT)
                        return ddpm_error_in(file, "tensor '%.200s': dim size has wire type %d", e->name, g.wire);
                    size = (int64_t)g.u64;
                }
            if (drc < 0) return fwrap(file, "tensor '%.200s': shape dim", e->name);
            if (size < 0)
                return ddpm_error_in(file, "tensor '%.200s': dim %d is %lld (unknown sizes cannot be stored)", e->name,
                                     e->rank, (long long)size);
            if (e->rank < IO_MAX_RANK) e->shape[e->rank] = size;
            if (e->rank == INT32_MAX / 2) return ddpm_error_in(file, "tensor '%.200s': too many dims", e->name);
            e->rank++;
        } else if (f.number == 3) {
            if (f.wire != PB_VARINT)
                return ddpm_error_in(file, "tensor '%.200s': unknown_rank has wire type %d", e->name, f.wire);
            e->unknown_rank = f.u64 != 0;
        }
    }
    if (rc < 0) return fwrap(file, "tensor '%.200s': shape", e->name);
    return DDPM_OK;
}

static int parse_entry(tf_entry *e, const char *file, const uint8_t *v, size_t n)
{
    pb_reader r = pb_reader_init(v, n);
    pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        static const char *const FIELD[] = { "", "dtype", "shape", "shard_id", "offset", "size", "crc32c", "slices" };
        int want = f.number == 2 || f.number == 7 ? PB_LEN : f.number == 6 ? PB_FIXED32 : PB_VARINT;
        if (f.number > 7) continue; /* unknown field: skipped */
        if (f.wire != want)
            return ddpm_error_in(file, "tensor '%.200s': field %s has wire type %d, expected %d", e->name,
                                 FIELD[f.number], f.wire, want);
        int32_t i32;
        switch (f.number) {
        case 1:
            if (!pb_as_int32(f.u64, &i32))
                return ddpm_error_in(file, "tensor '%.200s': dtype is not an int32", e->name);
            e->tf_dtype = i32;
            break;
        case 2: DDPM_TRY(parse_shape(e, file, f.data, f.len)); break;
        case 3:
            if (!pb_as_int32(f.u64, &i32))
                return ddpm_error_in(file, "tensor '%.200s': shard_id is not an int32", e->name);
            e->shard = i32;
            break;
        case 4:
        case 5:
            if ((int64_t)f.u64 < 0)
                return ddpm_error_in(file, "tensor '%.200s': %s is negative", e->name, FIELD[f.number]);
            if (f.number == 4) e->offset = f.u64;
            else e->size = f.u64;
            break;
        case 6: e->crc_masked = (uint32_t)f.u64; break;
        case 7: e->sliced = 1; break;
        }
    }
    if (rc < 0) return fwrap(file, "tensor '%.200s' (BundleEntryProto)", e->name);
    return DDPM_OK;
}

/* Checks that the entry's byte size matches dtype × shape (for the dtypes this reader knows). */
static int check_entry_size(const tf_entry *e, const char *file)
{
    io_dtype dt;
    if (e->sliced || e->unknown_rank || e->rank > IO_MAX_RANK || !io_dtype_of_tf(e->tf_dtype, &dt)) return DDPM_OK;
    uint64_t bytes = io_dtype_size(dt);
    for (int k = 0; k < e->rank; k++)
        if (__builtin_mul_overflow(bytes, (uint64_t)e->shape[k], &bytes))
            return ddpm_error_in(file, "tensor '%.200s': shape overflows 64 bits", e->name);
    if (bytes != e->size)
        return ddpm_error_in(file, "tensor '%.200s': %s of %d dims needs %llu bytes, the entry says %llu", e->name,
                             io_dtype_name(dt), e->rank, (unsigned long long)bytes, (unsigned long long)e->size);
    return DDPM_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Index walk                                                                                  */

static int add_entry(tfbundle *bd, const char *file, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    if (memchr(key, 0, klen)) return ddpm_error_in(file, "key of %zu bytes contains a NUL byte", klen);
    if (bd->nt == bd->capt) {
        int cap = bd->capt ? bd->capt * 2 : 64;
        tf_entry *t = realloc(bd->t, (size_t)cap * sizeof *t);
        if (!t) return ddpm_error_in(file, "out of memory for %d entries", cap);
        bd->t = t;
        bd->capt = cap;
    }
    tf_entry *e = &bd->t[bd->nt];
    memset(e, 0, sizeof *e);
    e->name = malloc(klen + 1);
    if (!e->name) return ddpm_error_in(file, "out of memory");
    memcpy(e->name, key, klen);
    e->name[klen] = 0;
    bd->nt++;
    DDPM_TRY(parse_entry(e, file, val, vlen));
    if (!e->sliced && (e->shard < 0 || e->shard >= bd->num_shards))
        return ddpm_error_in(file, "tensor '%.200s' is in shard %d of %d", e->name, e->shard, bd->num_shards);
    return check_entry_size(e, file);
}

typedef struct {
    uint8_t *last; /* last key seen (all data blocks) */
    size_t last_len, last_cap;
    long entries;
    int have_last;
} walk_state;

static int remember_key(walk_state *w, const uint8_t *k, size_t n, const char *file)
{
    if (n + 1 > w->last_cap) {
        size_t cap = n + 64;
        uint8_t *p = realloc(w->last, cap);
        if (!p) return ddpm_error_in(file, "out of memory");
        w->last = p;
        w->last_cap = cap;
    }
    memcpy(w->last, k, n);
    w->last_len = n;
    w->have_last = 1;
    return DDPM_OK;
}

/* One data block; sep is its index key, prev_sep the previous block's (NULL for the first):
 * prev_sep < every key of the block <= sep. */
static int walk_data_block(tfbundle *bd, const idx_ctx *c, walk_state *w, uint64_t off, uint64_t size,
                           const uint8_t *sep, size_t sep_len, const uint8_t *prev_sep, size_t prev_sep_len)
{
    const uint8_t *b;
    size_t n;
    uint8_t *owned;
    DDPM_TRY(read_block(c, "data block", off, size, &b, &n, &owned));
    blk_iter it;
    int rc = blk_begin(&it, c, "data block", off, b, n);
    int first = 1;
    while (rc == DDPM_OK) {
        int got = blk_next(&it);
        if (got <= 0) {
            rc = got;
            break;
        }
        if (first && prev_sep && key_cmp(it.key, it.klen, prev_sep, prev_sep_len) <= 0) {
            rc = ddpm_error_in(c->file,
                               "index block: the key before the data block at offset %llu does "
                               "not separate it from the previous block",
                               (unsigned long long)off);
            break;
        }
        first = 0;
        if (w->have_last && key_cmp(it.key, it.klen, w->last, w->last_len) <= 0) {
            rc = ddpm_error_in(c->file,
                               "data block at offset %llu: keys are not strictly increasing "
                               "(entry %ld)",
                               (unsigned long long)off, w->entries);
            break;
        }
        if (w->entries == 0) {
            if (it.klen != 0) {
                rc = ddpm_error_in(c->file,
                                   "the first key is '%.200s', not the header entry \"\" (not a "
                                   "TensorFlow checkpoint bundle?)",
                                   (const char *)it.key);
                break;
            }
            rc = parse_header(bd, c->file, it.val, it.vlen);
        } else if (it.key[0] != 0) { /* keys starting with 0x00 are slices' entries */
            rc = add_entry(bd, c->file, it.key, it.klen, it.val, it.vlen);
        }
        if (rc == DDPM_OK) rc = remember_key(w, it.key, it.klen, c->file);
        w->entries++;
    }
    /* the index key of a block is >= its last key */
    if (rc == DDPM_OK && w->have_last && key_cmp(sep, sep_len, w->last, w->last_len) < 0)
        rc = ddpm_error_in(c->file,
                           "index entry for the data block at offset %llu sorts before the "
                           "block's last key",
                           (unsigned long long)off);
    free(it.key);
    free(owned);
    return rc < 0 ? DDPM_ERR : DDPM_OK;
}

static int walk_index(tfbundle *bd, const idx_ctx *c)
{
    if (c->len < FOOTER_LEN)
        return ddpm_error_in(c->file,
                             "%zu bytes, too short for an SSTable footer (48 bytes): truncated or "
                             "not a checkpoint index",
                             c->len);
    const uint8_t *foot = c->buf + c->len - FOOTER_LEN;
    uint64_t magic = (uint64_t)le32(foot + 40) | (uint64_t)le32(foot + 44) << 32;
    if (magic != TABLE_MAGIC)
        return ddpm_error_in(c->file,
                             "bad magic 0x%016llx at the end (an SSTable ends with 0x%016llx): "
                             "truncated or not a TensorFlow checkpoint index",
                             (unsigned long long)magic, (unsigned long long)TABLE_MAGIC);
    uint64_t moff, msize, ioff, isize;
    size_t p = 0;
    if (decode_handle(foot, 40, &p, &moff, &msize) != DDPM_OK || decode_handle(foot, 40, &p, &ioff, &isize) != DDPM_OK)
        return fwrap(c->file, "footer block handles");

    /* the metaindex is empty in every TF bundle: its CRC and framing are still checked */
    const uint8_t *mb;
    size_t mn;
    uint8_t *mowned;
    DDPM_TRY(read_block(c, "metaindex block", moff, msize, &mb, &mn, &mowned));
    blk_iter it;
    int rc = blk_begin(&it, c, "metaindex block", moff, mb, mn);
    while (rc == DDPM_OK && (rc = blk_next(&it)) == 1) rc = DDPM_OK;
    free(it.key);
    free(mowned);
    if (rc < 0) return DDPM_ERR;

    const uint8_t *ib;
    size_t in;
    uint8_t *iowned;
    DDPM_TRY(read_block(c, "index block", ioff, isize, &ib, &in, &iowned));
    walk_state w = { 0 };
    uint8_t *prev_sep = NULL;
    size_t prev_sep_len = 0;
    int have_sep = 0;
    rc = blk_begin(&it, c, "index block", ioff, ib, in);
    while (rc == DDPM_OK) {
        int got = blk_next(&it);
        if (got <= 0) {
            rc = got;
            break;
        }
        if (have_sep && key_cmp(it.key, it.klen, prev_sep, prev_sep_len) <= 0) {
            rc = ddpm_error_in(c->file, "index block: keys are not strictly increasing");
            break;
        }
        uint64_t boff, bsize;
        size_t hp = 0;
        if (decode_handle(it.val, it.vlen, &hp, &boff, &bsize) != DDPM_OK) {
            rc = fwrap(c->file, "index block: block handle");
            break;
        }
        rc = walk_data_block(bd, c, &w, boff, bsize, it.key, it.klen, have_sep ? prev_sep : NULL, prev_sep_len);
        if (rc != DDPM_OK) break;
        uint8_t *ps = realloc(prev_sep, it.klen + 1);
        if (!ps) {
            rc = ddpm_error_in(c->file, "out of memory");
            break;
        }
        prev_sep = ps;
        memcpy(prev_sep, it.key, it.klen);
        prev_sep_len = it.klen;
        have_sep = 1;
    }
    free(prev_sep);
    free(it.key);
    free(iowned);
    free(w.last);
    if (rc < 0) return DDPM_ERR;
    if (w.entries == 0)
        return ddpm_error_in(c->file, "the index holds no entries (no header entry \"\"): not a TensorFlow "
                                      "checkpoint bundle");
    return DDPM_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Open / close                                                                                */

void tfbundle_close(tfbundle *b)
{
    if (!b) return;
    for (int i = 0; i < b->nt; i++) free(b->t[i].name);
    free(b->t);
    if (b->shards)
        for (int s = 0; s < b->num_shards; s++) {
            if (b->shards[s].fd >= 0) close(b->shards[s].fd);
            free(b->shards[s].path);
        }
    free(b->shards);
    free(b->index_path);
    free(b->mem_owned);
    free(b);
}

static char *shard_name(const char *prefix, int shard, int num_shards)
{
    size_t n = strlen(prefix) + 32;
    char *p = malloc(n);
    if (!p) {
        ddpm_error("out of memory");
        return NULL;
    }
    snprintf(p, n, "%s.data-%05d-of-%05d", prefix, shard, num_shards);
    return p;
}

/* Shards that entries reference get a path; entry byte ranges are checked against the sizes
 * (set by the caller for memory-backed shards, from fstat here for files). */
static int setup_shards(tfbundle *b, const char *prefix)
{
    b->shards = calloc((size_t)b->num_shards, sizeof *b->shards);
    if (!b->shards) return ddpm_error_in(b->index_path, "out of memory for %d shards", b->num_shards);
    for (int s = 0; s < b->num_shards; s++) b->shards[s].fd = -1;
    for (int i = 0; i < b->nt; i++)
        if (!b->t[i].sliced) b->shards[b->t[i].shard].used = 1;
    for (int s = 0; s < b->num_shards; s++)
        if (b->shards[s].used && !(b->shards[s].path = shard_name(prefix, s, b->num_shards))) return DDPM_ERR;
    return DDPM_OK;
}

static int check_ranges(const tfbundle *b)
{
    for (int i = 0; i < b->nt; i++) {
        const tf_entry *e = &b->t[i];
        if (e->sliced) continue;
        const tf_shard *s = &b->shards[e->shard];
        if (e->offset > s->size || e->size > s->size - e->offset)
            return ddpm_error_in(s->path,
                                 "tensor '%.200s' at offset %llu, %llu bytes, runs past the end of "
                                 "the %llu-byte data file (truncated shard?)",
                                 e->name, (unsigned long long)e->offset, (unsigned long long)e->size,
                                 (unsigned long long)s->size);
    }
    return DDPM_OK;
}

/* The prefix of a path naming the bundle: PREFIX, PREFIX.index or PREFIX.data-NNNNN-of-NNNNN. */
static char *prefix_of(const char *path)
{
    char *p = dupstr(path);
    if (!p) return NULL;
    size_t n = strlen(p);
    const char *idx = ".index";
    if (n > 6 && !strcmp(p + n - 6, idx)) {
        p[n - 6] = 0;
        return p;
    }
    /* ".data-" 5 digits "-of-" 5 digits = 20 characters */
    if (n > 20 && !strncmp(p + n - 20, ".data-", 6) && !strncmp(p + n - 9, "-of-", 4)) {
        int digits = 1;
        for (size_t k = n - 14; k < n - 9; k++) digits &= p[k] >= '0' && p[k] <= '9';
        for (size_t k = n - 5; k < n; k++) digits &= p[k] >= '0' && p[k] <= '9';
        if (digits) p[n - 20] = 0;
    }
    return p;
}

/* DDPM_OK, DDPM_ERR with a message, or 1 when open() failed (errno says why). */
static int read_whole(const char *path, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ddpm_error_in(path, "not a regular file");
    }
    if ((uint64_t)st.st_size > MAX_INDEX_BYTES) {
        close(fd);
        return ddpm_error_in(path, "%lld bytes is too large for a checkpoint index", (long long)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return ddpm_error_in(path, "out of memory reading %zu bytes", n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = errno;
            free(buf);
            close(fd);
            return ddpm_error_in(path, "read error after %zu of %zu bytes: %s", got, n,
                                 r < 0 ? strerror(e) : "file shrank");
        }
        got += (size_t)r;
    }
    close(fd);
    *out = buf;
    *len = n;
    return DDPM_OK;
}

static tfbundle *new_bundle(const char *index_path)
{
    tfbundle *b = calloc(1, sizeof *b);
    if (!b) {
        ddpm_error("out of memory");
        return NULL;
    }
    if (!(b->index_path = dupstr(index_path))) {
        free(b);
        return NULL;
    }
    return b;
}

static int open_files(tfbundle **out, const char *path, int index_only)
{
    *out = NULL;
    char *prefix = prefix_of(path);
    if (!prefix) return DDPM_ERR;
    size_t n = strlen(prefix) + 8;
    char *index_path = malloc(n);
    if (!index_path) {
        free(prefix);
        return ddpm_error("out of memory");
    }
    snprintf(index_path, n, "%s.index", prefix);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = read_whole(index_path, &buf, &len);
    if (rc != DDPM_OK) {
        if (rc == 1 && errno == ENOENT)
            ddpm_error_in(index_path,
                          "cannot open: %s (give the checkpoint prefix, e.g. model.ckpt-790000, "
                          "or its .index file)",
                          strerror(ENOENT));
        else if (rc == 1) ddpm_error_in(index_path, "cannot open: %s", strerror(errno));
        free(index_path);
        free(prefix);
        return DDPM_ERR;
    }
    tfbundle *b = new_bundle(index_path);
    free(index_path);
    if (!b) {
        free(buf);
        free(prefix);
        return DDPM_ERR;
    }
    idx_ctx c = { b->index_path, buf, len };
    rc = walk_index(b, &c);
    free(buf);
    if (rc == DDPM_OK) rc = setup_shards(b, prefix);
    b->index_only = index_only;
    for (int s = 0; rc == DDPM_OK && !index_only && s < b->num_shards; s++) {
        tf_shard *sh = &b->shards[s];
        if (!sh->used) continue;
        sh->fd = open(sh->path, O_RDONLY);
        struct stat st;
        if (sh->fd < 0)
            rc = ddpm_error_in(sh->path, "cannot open data shard %d of %d: %s", s, b->num_shards, strerror(errno));
        else if (fstat(sh->fd, &st) != 0 || !S_ISREG(st.st_mode))
            rc = ddpm_error_in(sh->path, "data shard is not a regular file");
        else sh->size = (uint64_t)st.st_size;
    }
    if (rc == DDPM_OK && !index_only) rc = check_ranges(b);
    free(prefix);
    if (rc != DDPM_OK) {
        tfbundle_close(b);
        return DDPM_ERR;
    }
    *out = b;
    return DDPM_OK;
}

int tfbundle_open(tfbundle **out, const char *path) { return open_files(out, path, 0); }

int tfbundle_open_index(tfbundle **out, const char *path) { return open_files(out, path, 1); }

int tfbundle_open_mem(tfbundle **out, const void *index, size_t index_len, const void *const *shards,
                      const size_t *shard_lens, int nshards, const char *prefix)
{
    *out = NULL;
    size_t n = strlen(prefix) + 8;
    char *index_path = malloc(n);
    if (!index_path) return ddpm_error("out of memory");
    snprintf(index_path, n, "%s.index", prefix);
    tfbundle *b = new_bundle(index_path);
    free(index_path);
    if (!b) return DDPM_ERR;
    size_t total = index_len;
    for (int s = 0; s < nshards; s++) total += shard_lens[s];
    b->mem_owned = malloc(total ? total : 1);
    if (!b->mem_owned) {
        tfbundle_close(b);
        return ddpm_error("out of memory copying a %zu-byte bundle", total);
    }
    memcpy(b->mem_owned, index, index_len);
    idx_ctx c = { b->index_path, b->mem_owned, index_len };
    int rc = walk_index(b, &c);
    if (rc == DDPM_OK) rc = setup_shards(b, prefix);
    size_t at = index_len;
    for (int s = 0; s < nshards; s++) {
        if (rc == DDPM_OK && s < b->num_shards) {
            b->shards[s].mem = b->mem_owned + at;
            b->shards[s].size = shard_lens[s];
        }
        if (shard_lens[s]) memcpy(b->mem_owned + at, shards[s], shard_lens[s]);
        at += shard_lens[s];
    }
    for (int s = 0; rc == DDPM_OK && s < b->num_shards; s++)
        if (b->shards[s].used && s >= nshards)
            rc = ddpm_error_in(b->shards[s].path, "data shard %d of %d is missing", s, b->num_shards);
    if (rc == DDPM_OK) rc = check_ranges(b);
    if (rc != DDPM_OK) {
        tfbundle_close(b);
        return DDPM_ERR;
    }
    *out = b;
    return DDPM_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Queries and tensor reads                                                                    */

int tfbundle_num_tensors(const tfbundle *b) { return b ? b->nt : 0; }

const char *tfbundle_tensor_name(const tfbundle *b, int i) { return b && i >= 0 && i < b->nt ? b->t[i].name : NULL; }

int tfbundle_find(const tfbundle *b, const char *name)
{
    /* keys are sorted bytewise (checked at open): binary search */
    int lo = 0, hi = b ? b->nt - 1 : -1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(b->t[mid].name, name);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

int tfbundle_tensor_tf_dtype(const tfbundle *b, int i) { return b && i >= 0 && i < b->nt ? (int)b->t[i].tf_dtype : -1; }

const char *tfbundle_index_path(const tfbundle *b) { return b ? b->index_path : NULL; }

static int entry_of(const tfbundle *b, int i, const tf_entry **e)
{
    if (!b || i < 0 || i >= b->nt)
        return ddpm_error("%s: no tensor number %d (the bundle holds %d)", b ? b->index_path : "tfbundle", i,
                          b ? b->nt : 0);
    *e = &b->t[i];
    if ((*e)->sliced)
        return ddpm_error_in(b->index_path,
                             "tensor '%.200s' is a partitioned variable (stored in slices), "
                             "which this reader does not assemble",
                             (*e)->name);
    return DDPM_OK;
}

int tfbundle_tensor_info(const tfbundle *b, int i, io_dtype *dtype, int *rank, int64_t shape[IO_MAX_RANK],
                         uint64_t *nbytes)
{
    const tf_entry *e;
    DDPM_TRY(entry_of(b, i, &e));
    io_dtype dt;
    if (!io_dtype_of_tf(e->tf_dtype, &dt))
        return ddpm_error_in(b->index_path,
                             "tensor '%.200s' has dtype %s (%lld), which has no element type "
                             "here",
                             e->name, tfbundle_tf_dtype_name((int)e->tf_dtype), (long long)e->tf_dtype);
    if (e->unknown_rank) return ddpm_error_in(b->index_path, "tensor '%.200s' is stored with an unknown rank", e->name);
    if (e->rank > IO_MAX_RANK)
        return ddpm_error_in(b->index_path, "tensor '%.200s' has %d dims (at most %d supported)", e->name, e->rank,
                             IO_MAX_RANK);
    if (dtype) *dtype = dt;
    if (rank) *rank = e->rank;
    if (shape)
        for (int k = 0; k < e->rank; k++) shape[k] = e->shape[k];
    if (nbytes) *nbytes = e->size;
    return DDPM_OK;
}

/* Reads n bytes at off of the entry's shard into dst. */
static int shard_read(const tfbundle *b, const tf_entry *e, uint64_t off, void *dst, size_t n)
{
    const tf_shard *s = &b->shards[e->shard];
    if (b->index_only)
        return ddpm_error_in(s->path, "tensor '%.200s': the bundle was opened without its data shards", e->name);
    if (s->mem) {
        memcpy(dst, s->mem + off, n);
        return DDPM_OK;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(s->fd, (uint8_t *)dst + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return ddpm_error_in(s->path, "tensor '%.200s': read error at offset %llu: %s", e->name,
                                 (unsigned long long)(off + got), r < 0 ? strerror(errno) : "file shrank");
        got += (size_t)r;
    }
    return DDPM_OK;
}

static int crc_mismatch(const tfbundle *b, const tf_entry *e, uint32_t actual)
{
    return ddpm_error_in(b->shards[e->shard].path,
                         "tensor CRC mismatch: '%.200s' (%llu bytes at offset %llu) "
                         "has CRC32C 0x%08x, its entry says 0x%08x (corrupt data "
                         "file)",
                         e->name, (unsigned long long)e->size, (unsigned long long)e->offset, actual,
                         crc32c_unmask(e->crc_masked));
}

enum { DT_STRING = 7, DT_VARIANT = 21 };

static uint32_t crc_le(uint32_t crc, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int k = 0; k < bytes; k++) b[k] = (uint8_t)(v >> (8 * k));
    return crc32c_extend(crc, b, (size_t)bytes);
}

/* The CRC TF stores for DT_STRING and DT_VARIANT entries is not over the raw bytes
 * (tensor_bundle.cc WriteStringTensor / WriteVariantTensor):
 *   string:  varint64 len[numel] | fixed32 Mask(crc of the lengths) | bytes; the CRC runs over
 *            each length as a little-endian uint32 (uint64 when >= 2^32), the 4 stored checksum
 *            bytes, then the string bytes;
 *   variant: per element varint64 len | bytes | fixed32 Mask(crc so far); the CRC runs over
 *            len as uint64, the bytes, the 4 checksum bytes.
 * Sets *crc to the CRC of buf as TF computes it; DDPM_ERR when the layout is broken. */
static int string_like_crc(const tfbundle *b, const tf_entry *e, const uint8_t *buf, uint32_t *crc)
{
    const char *file = b->shards[e->shard].path;
    size_t n = (size_t)e->size, p = 0;
    uint32_t c = 0;
    *crc = 0;
    if (n == 0) return DDPM_OK;
    uint64_t numel = 1;
    if (e->unknown_rank) return ddpm_error_in(file, "tensor '%.200s': unknown rank", e->name);
    for (int k = 0; k < e->rank && k < IO_MAX_RANK; k++)
        if (__builtin_mul_overflow(numel, (uint64_t)e->shape[k], &numel) || numel > n)
            return ddpm_error_in(file, "tensor '%.200s': %s shape holds more elements than its %zu bytes", e->name,
                                 tfbundle_tf_dtype_name((int)e->tf_dtype), n);
    if (e->rank > IO_MAX_RANK) return ddpm_error_in(file, "tensor '%.200s' has %d dims", e->name, e->rank);
    uint64_t total = 0;
    for (uint64_t i = 0; i < numel; i++) {
        uint64_t len;
        if (pb_read_varint(buf, n, &p, &len) != DDPM_OK)
            return fwrap(file, "tensor '%.200s': element %llu length", e->name, (unsigned long long)i);
        if (e->tf_dtype == DT_STRING) {
            c = crc_le(c, len, len <= UINT32_MAX ? 4 : 8);
            if (__builtin_add_overflow(total, len, &total))
                return ddpm_error_in(file, "tensor '%.200s': string lengths overflow", e->name);
            continue;
        }
        if (len > n - p || n - p - len < 4)
            return ddpm_error_in(file, "tensor '%.200s': variant element %llu runs past its %zu bytes", e->name,
                                 (unsigned long long)i, n);
        c = crc_le(c, len, 8);
        c = crc32c_extend(c, buf + p, (size_t)len);
        p += (size_t)len;
        if (crc32c_unmask(le32(buf + p)) != c)
            return ddpm_error_in(file,
                                 "tensor '%.200s': variant element %llu checksum mismatch (corrupt data "
                                 "file)",
                                 e->name, (unsigned long long)i);
        c = crc32c_extend(c, buf + p, 4);
        p += 4;
    }
    if (e->tf_dtype == DT_STRING) {
        if (n - p < 4 || total != n - p - 4)
            return ddpm_error_in(file,
                                 "tensor '%.200s': string lengths sum to %llu, the entry holds %zu "
                                 "bytes after them",
                                 e->name, (unsigned long long)total, n - p);
        if (crc32c_unmask(le32(buf + p)) != c)
            return ddpm_error_in(file, "tensor '%.200s': string length checksum mismatch (corrupt data file)", e->name);
        c = crc32c_extend(c, buf + p, n - p);
        p = n;
    }
    if (p != n) return ddpm_error_in(file, "tensor '%.200s': %zu bytes after the last element", e->name, n - p);
    *crc = c;
    return DDPM_OK;
}

/* CRC of an entry's stored bytes as TF computes it; DDPM_ERR if a string/variant layout is bad. */
static int entry_crc(const tfbundle *b, const tf_entry *e, const uint8_t *buf, uint32_t *crc)
{
    if (e->tf_dtype == DT_STRING || e->tf_dtype == DT_VARIANT) return string_like_crc(b, e, buf, crc);
    *crc = crc32c_value(buf, (size_t)e->size);
    return DDPM_OK;
}

int tfbundle_check_crc(const tfbundle *b, int i)
{
    const tf_entry *e;
    if (entry_of(b, i, &e) != DDPM_OK) return -1;
    enum { CHUNK = 1 << 20 };
    uint32_t crc = 0;
    if (e->tf_dtype == DT_STRING || e->tf_dtype == DT_VARIANT) {
        uint8_t *buf = malloc(e->size ? (size_t)e->size : 1);
        if (!buf) return ddpm_error_in(b->index_path, "out of memory"), -1;
        int rc = shard_read(b, e, e->offset, buf, (size_t)e->size);
        if (rc == DDPM_OK) rc = entry_crc(b, e, buf, &crc);
        free(buf);
        if (rc != DDPM_OK) return 0; /* the stored layout is corrupt: a checksum failure */
    } else {
        uint8_t *buf = malloc(e->size < CHUNK ? (e->size ? (size_t)e->size : 1) : CHUNK);
        if (!buf) return ddpm_error_in(b->index_path, "out of memory"), -1;
        for (uint64_t done = 0; done < e->size;) {
            size_t n = e->size - done < CHUNK ? (size_t)(e->size - done) : CHUNK;
            if (shard_read(b, e, e->offset + done, buf, n) != DDPM_OK) {
                free(buf);
                return -1;
            }
            crc = crc32c_extend(crc, buf, n);
            done += n;
        }
        free(buf);
    }
    if (crc != crc32c_unmask(e->crc_masked)) {
        crc_mismatch(b, e, crc);
        return 0;
    }
    return 1;
}

int tfbundle_read_bytes(const tfbundle *b, int i, void *out, uint64_t nbytes)
{
    const tf_entry *e;
    DDPM_TRY(entry_of(b, i, &e));
    if (nbytes != e->size)
        return ddpm_error_in(b->index_path, "tensor '%.200s' holds %llu bytes, the caller expects %llu", e->name,
                             (unsigned long long)e->size, (unsigned long long)nbytes);
    DDPM_TRY(shard_read(b, e, e->offset, out, (size_t)nbytes));
    uint32_t crc;
    DDPM_TRY(entry_crc(b, e, out, &crc));
    if (crc != crc32c_unmask(e->crc_masked)) return crc_mismatch(b, e, crc);
    return DDPM_OK;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | man << 13; /* inf / nan */
    } else if (exp != 0) {
        bits = sign | (exp + 112) << 23 | man << 13; /* normal: rebias 15 -> 127 */
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: normalise */
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while (!(man & 0x400));
        bits = sign | (uint32_t)(112 - e) << 23 | (man & 0x3ff) << 13;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

int tfbundle_get_f32(const tfbundle *b, int i, float **out)
{
    *out = NULL;
    io_dtype dt;
    int rank;
    int64_t shape[IO_MAX_RANK];
    uint64_t nbytes;
    DDPM_TRY(tfbundle_tensor_info(b, i, &dt, &rank, shape, &nbytes));
    const tf_entry *e = &b->t[i];
    if (dt != IO_F32 && dt != IO_F64 && dt != IO_F16 && dt != IO_BF16)
        return ddpm_error_in(b->index_path, "tensor '%.200s' is %s, not a floating-point tensor", e->name,
                             io_dtype_name(dt));
    size_t numel = (size_t)(nbytes / io_dtype_size(dt));
    if (numel > SIZE_MAX / sizeof(float)) return ddpm_error_in(b->index_path, "tensor '%.200s' is too large", e->name);
    float *f = ddpm_alloc(numel * sizeof(float));
    if (!f) return DDPM_ERR;
    void *raw = f;
    if (dt != IO_F32 && !(raw = malloc(nbytes ? (size_t)nbytes : 1))) {
        ddpm_free(f);
        return ddpm_error_in(b->index_path, "out of memory for tensor '%.200s'", e->name);
    }
    if (tfbundle_read_bytes(b, i, raw, nbytes) != DDPM_OK) {
        if (raw != f) free(raw);
        ddpm_free(f);
        return DDPM_ERR;
    }
    /* little-endian host (x86-64, aarch64): the stored bytes are the host's */
    const uint8_t *r = raw;
    for (size_t k = 0; dt != IO_F32 && k < numel; k++) {
        if (dt == IO_F64) {
            double d;
            memcpy(&d, r + 8 * k, 8);
            /* beyond FLT_MAX + half an ulp IEEE rounding gives inf; C leaves that undefined */
            f[k] = fabs(d) >= 0x1.ffffffp127 ? (d < 0 ? -INFINITY : INFINITY) : (float)d;
        } else {
            uint16_t h;
            memcpy(&h, r + 2 * k, 2);
            if (dt == IO_F16) {
                f[k] = half_to_float(h);
            } else {
                uint32_t bits = (uint32_t)h << 16;
                memcpy(&f[k], &bits, sizeof bits);
            }
        }
    }
    if (raw != f) free(raw);
    *out = f;
    return DDPM_OK;
}
