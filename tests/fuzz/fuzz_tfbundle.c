/* fuzz_tfbundle.c — libFuzzer target for the TensorFlow checkpoint bundle reader
 * (src/io/tfbundle.h).
 *
 * Input: u16 little-endian L, then L bytes of .index, then the rest as the single data shard
 * (an input shorter than 2 bytes is an index alone). Opened with tfbundle_open_mem as given;
 * then, when any SSTable block's stored CRC is wrong, once more with the block CRCs repaired
 * (footer -> metaindex and index blocks -> the data blocks the index names), so that mutations
 * inside blocks reach the block, key and protobuf parsers instead of stopping at the CRC.
 * Per accepted bundle, for every tensor: tfbundle_tensor_info, tfbundle_check_crc,
 * tfbundle_read_bytes, tfbundle_get_f32.
 * Pass: every call returns a status with a one-line message on error (an open error names
 * "fuzz.index" or "fuzz.data-..."); names are non-empty (the only empty key is the header),
 * strictly increasing (bytewise) and found again by tfbundle_find; shapes have
 * non-negative dims and dtype x shape = the stored bytes; read_bytes succeeds exactly when
 * check_crc says 1; get_f32 of a float32 tensor equals its stored bytes, and for any float
 * dtype succeeds exactly when the CRC verifies; integer dtypes are refused by get_f32. */
#include "fuzz_common.h"

#include "io/crc32c.h"
#include "io/protobuf.h"
#include "io/snappy.h"
#include "io/tfbundle.h"

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Rewrites the trailer CRC of the block at (off, size); returns 1 if it changed. */
static int repair_block(uint8_t *idx, size_t len, uint64_t off, uint64_t size)
{
    if (len < 48 || off > len - 48 || size > len - 48 - off || len - 48 - off - size < 5) return 0;
    uint8_t *t = idx + off + size;
    uint32_t m = crc32c_mask(crc32c_value(idx + off, (size_t)size + 1));
    if (rd32(t + 1) == m) return 0;
    for (int k = 0; k < 4; k++) t[1 + k] = (uint8_t)(m >> (8 * k));
    return 1;
}

static int repair_crcs(uint8_t *idx, size_t len)
{
    if (len < 48) return 0;
    const uint8_t *foot = idx + len - 48;
    size_t p = 0;
    uint64_t moff, msize, ioff, isize;
    if (pb_read_varint(foot, 40, &p, &moff) || pb_read_varint(foot, 40, &p, &msize) ||
        pb_read_varint(foot, 40, &p, &ioff) || pb_read_varint(foot, 40, &p, &isize))
        return 0;
    int changed = repair_block(idx, len, moff, msize);
    changed |= repair_block(idx, len, ioff, isize);
    if (ioff > len - 48 || isize > len - 48 - ioff || len - 48 - ioff - isize < 5) return changed;
    /* the index block's entries (decoded when Snappy) name the data blocks */
    const uint8_t *b = idx + ioff;
    size_t n = (size_t)isize;
    uint8_t *owned = NULL;
    if (b[n] == 1) {
        size_t ulen;
        if (snappy_uncompressed_length(b, n, &ulen) || !(owned = malloc(ulen ? ulen : 1))) return changed;
        if (snappy_decompress(b, n, owned, ulen)) {
            free(owned);
            return changed;
        }
        b = owned;
        n = ulen;
    }
    if (n >= 4 && rd32(b + n - 4) <= (n - 4) / 4) {
        size_t limit = n - 4 - 4 * (size_t)rd32(b + n - 4);
        size_t q = 0;
        while (q < limit) {
            uint64_t shared, unshared, vlen, off, size;
            if (pb_read_varint(b, limit, &q, &shared) || pb_read_varint(b, limit, &q, &unshared) ||
                pb_read_varint(b, limit, &q, &vlen) || unshared > limit - q || vlen > limit - q - unshared)
                break;
            size_t v = q + (size_t)unshared, hp = 0;
            if (!pb_read_varint(b + v, (size_t)vlen, &hp, &off) && !pb_read_varint(b + v, (size_t)vlen, &hp, &size))
                changed |= repair_block(idx, len, off, size);
            q = v + (size_t)vlen;
        }
    }
    free(owned);
    ddpm_clear_error();
    return changed;
}

static int is_float(io_dtype t) { return t == IO_F32 || t == IO_F64 || t == IO_F16 || t == IO_BF16; }

static void check_bundle(const tfbundle *b)
{
    int n = tfbundle_num_tensors(b);
    FUZZ_EXPECT(n >= 0, "%d tensors", n);
    FUZZ_EXPECT(!tfbundle_tensor_name(b, -1) && !tfbundle_tensor_name(b, n), "names out of range");
    const char *prev = NULL;
    for (int i = 0; i < n; i++) {
        const char *name = tfbundle_tensor_name(b, i);
        FUZZ_EXPECT(name && name[0], "tensor %d has no name", i);
        FUZZ_EXPECT(!prev || strcmp(prev, name) < 0, "names not increasing at %d", i);
        FUZZ_EXPECT(tfbundle_find(b, name) == i, "find('%s') = %d, expected %d", name, tfbundle_find(b, name), i);
        prev = name;
        io_dtype dt;
        int rank = -1;
        int64_t shape[IO_MAX_RANK];
        uint64_t nbytes = 0;
        ddpm_clear_error();
        int crc = tfbundle_check_crc(b, i);
        FUZZ_EXPECT(crc >= -1 && crc <= 1, "check_crc = %d", crc);
        if (crc != 1) fuzz_expect_error_message("tfbundle_check_crc");
        ddpm_clear_error();
        if (tfbundle_tensor_info(b, i, &dt, &rank, shape, &nbytes) != DDPM_OK) {
            fuzz_expect_error_message("tfbundle_tensor_info");
            float *f = (float *)1;
            FUZZ_EXPECT(tfbundle_get_f32(b, i, &f) == DDPM_ERR && f == NULL, "get_f32 of a tensor info refuses");
            continue;
        }
        FUZZ_EXPECT(rank >= 0 && rank <= IO_MAX_RANK, "rank %d", rank);
        uint64_t want = io_dtype_size(dt);
        for (int k = 0; k < rank; k++) {
            FUZZ_EXPECT(shape[k] >= 0, "'%s' dim %d is %lld", name, k, (long long)shape[k]);
            FUZZ_EXPECT(!__builtin_mul_overflow(want, (uint64_t)shape[k], &want), "overflow");
        }
        FUZZ_EXPECT(want == nbytes, "'%s': dtype x shape %llu bytes, stored %llu", name, (unsigned long long)want,
                    (unsigned long long)nbytes);
        uint8_t *raw = malloc(nbytes ? (size_t)nbytes : 1);
        FUZZ_EXPECT(raw != NULL, "out of memory");
        int rr = tfbundle_read_bytes(b, i, raw, nbytes);
        FUZZ_EXPECT((rr == DDPM_OK) == (crc == 1), "read_bytes %d but check_crc %d", rr, crc);
        if (rr != DDPM_OK) fuzz_expect_error_message("tfbundle_read_bytes");
        float *f = (float *)1;
        ddpm_clear_error();
        int rf = tfbundle_get_f32(b, i, &f);
        if (!is_float(dt)) {
            FUZZ_EXPECT(rf == DDPM_ERR && f == NULL, "get_f32 accepted %s", io_dtype_name(dt));
            fuzz_expect_error_message("tfbundle_get_f32");
        } else {
            FUZZ_EXPECT((rf == DDPM_OK) == (crc == 1), "get_f32 %d but check_crc %d", rf, crc);
            if (rf == DDPM_OK && dt == IO_F32)
                FUZZ_EXPECT(nbytes == 0 || memcmp(f, raw, (size_t)nbytes) == 0,
                            "get_f32 of float32 '%s' differs from its bytes", name);
            if (rf != DDPM_OK) fuzz_expect_error_message("tfbundle_get_f32");
            ddpm_free(f);
        }
        free(raw);
    }
    FUZZ_EXPECT(tfbundle_find(b, "\x01no such tensor") == -1, "found a missing name");
}

static void run(const uint8_t *idx, size_t il, const uint8_t *data, size_t dl)
{
    tfbundle *b = (tfbundle *)1;
    const void *shards[1] = { data };
    ddpm_clear_error();
    int rc = tfbundle_open_mem(&b, idx, il, shards, &dl, 1, "fuzz");
    fuzz_verdict("tfbundle_open_mem", rc);
    if (rc != DDPM_OK) {
        FUZZ_EXPECT(rc == DDPM_ERR && b == NULL, "tfbundle_open_mem returned %d", rc);
        fuzz_expect_error_message("tfbundle_open_mem");
        FUZZ_EXPECT(!strncmp(ddpm_last_error(), "fuzz.", 5), "message names no file: %s", ddpm_last_error());
        return;
    }
    FUZZ_EXPECT(b != NULL, "open succeeded without a bundle");
    check_bundle(b);
    tfbundle_close(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t il = size;
    if (size >= 2) {
        il = (size_t)data[0] | (size_t)data[1] << 8;
        data += 2;
        size -= 2;
        if (il > size) il = size;
    }
    run(data, il, data + il, size - il);
    uint8_t *copy = malloc(il ? il : 1);
    FUZZ_EXPECT(copy != NULL, "out of memory");
    memcpy(copy, data, il);
    if (repair_crcs(copy, il)) run(copy, il, data + il, size - il);
    free(copy);
    return 0;
}
