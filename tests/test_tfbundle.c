/* test_tfbundle.c — the TensorFlow checkpoint bundle reader (src/io/tfbundle.h) and the
 * pieces under it: CRC32C against published vectors, Snappy on hand-made streams (literals,
 * copies of every offset width, overlapping copies, every malformation), protobuf varint
 * edge cases, then the fixtures of scripts/gen_tfbundle_fixtures.py (tests/data/tfbundle/,
 * written to FORMATS.md §2 by scripts/tfbundle_write.py) read bit-exactly against
 * expected.txt, the refusals (strings, partitioned variables, big-endian, a missing shard), and
 * robustness: every truncation and every single-byte flip of the .index and the data file is
 * an error naming the file, or — only for the footer's padding, which no CRC covers — the
 * identical tensors. Check forks each test, so a crash fails it.
 * Real TensorFlow-written bundles: set DDPM_REAL_TF_DIR to a directory; every *.index under it
 * is opened and every tensor's CRC must verify (bundles without their data file: the index
 * is checked alone). */
#include "core/common.h"
#include "io/crc32c.h"
#include "io/protobuf.h"
#include "io/snappy.h"
#include "io/tfbundle.h"
#include "testutil.h"

#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <sys/stat.h>

#define DIR             "tests/data/tfbundle/"
#define FIXTURE_VERSION 1

#define slurp(path, len) test_slurp(path, len, "run /usr/bin/python3 scripts/gen_tfbundle_fixtures.py")

#define spit test_spit

static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

/* ------------------------------------------------------------------------------------------ */
/* CRC32C                                                                                      */

START_TEST(test_crc32c_vectors)
{
    uint8_t buf[48];
    /* RFC 3720 B.4 */
    memset(buf, 0, 32);
    ck_assert_uint_eq(crc32c_value(buf, 32), 0x8a9136aa);
    memset(buf, 0xff, 32);
    ck_assert_uint_eq(crc32c_value(buf, 32), 0x62a8ab43);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)i;
    ck_assert_uint_eq(crc32c_value(buf, 32), 0x46dd794e);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)(31 - i);
    ck_assert_uint_eq(crc32c_value(buf, 32), 0x113fdb5c);
    static const uint8_t iscsi_read[48] = { 0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                            0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
                                            0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
                                            0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
    ck_assert_uint_eq(crc32c_value(iscsi_read, 48), 0xd9963a56);
    ck_assert_uint_eq(crc32c_value("123456789", 9), 0xe3069283);
    ck_assert_uint_eq(crc32c_value("", 0), 0);
    /* Extend composes */
    const char *s = "hello world";
    ck_assert_uint_eq(crc32c_extend(crc32c_value(s, 5), s + 5, 6), crc32c_value(s, 11));
    /* the mask of FORMATS.md §2.9's data block: unmasked 0x1b3352ce is stored as 3e 21 1f 48 */
    ck_assert_uint_eq(crc32c_mask(0x1b3352ce), 0x481f213e);
    ck_assert_uint_eq(crc32c_unmask(0x481f213e), 0x1b3352ce);
    for (uint32_t c = 1; c; c = c * 3 + 7) {
        ck_assert_uint_eq(crc32c_unmask(crc32c_mask(c)), c);
        ck_assert_uint_ne(crc32c_mask(c), c);
        if (c > 0xf0000000u) break;
    }
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Snappy                                                                                      */

static int unsnappy(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *len)
{
    if (snappy_uncompressed_length(in, n, len) != DDPM_OK) return DDPM_ERR;
    ck_assert(*len <= cap);
    return snappy_decompress(in, n, out, *len);
}

START_TEST(test_snappy_streams)
{
    uint8_t out[300];
    size_t len;
    /* literal "abc", copy-1 offset 1 length 5 (overlapping: repeats 'c'), copy-2 offset 3
     * length 2, copy-4 offset 10 length 3 (back to "abc") */
    static const uint8_t s1[] = {
        13, 0x08, 'a', 'b', 'c', 0x01 | (1 << 2), 0x01, 0x02 | (1 << 2), 0x03, 0x00, 0x03 | (2 << 2), 10, 0, 0, 0
    };
    ck_assert_msg(unsnappy(s1, sizeof s1, out, sizeof out, &len) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_uint_eq(len, 13);
    ck_assert(memcmp(out, "abccccccccabc", 13) == 0);
    /* overlapping copy-2 of period 2 */
    static const uint8_t s1b[] = { 9, 0x04, 'x', 'y', 0x02 | (6 << 2), 0x02, 0x00 };
    ck_assert(unsnappy(s1b, sizeof s1b, out, sizeof out, &len) == DDPM_OK && len == 9);
    ck_assert(memcmp(out, "xyxyxyxyx", 9) == 0);
    /* a copy-1 with an 11-bit offset: tag bits 5..7 hold offset bits 8..10 */
    uint8_t s2[300];
    size_t p = 0;
    s2[p++] = 0x88, s2[p++] = 0x02;   /* varint 264 */
    s2[p++] = 60 << 2, s2[p++] = 255; /* literal of 256 (1 length byte) */
    for (int i = 0; i < 256; i++) s2[p++] = (uint8_t)i;
    s2[p++] = 0x01 | (4 << 2) | (1 << 5), s2[p++] = 0x00; /* len 8, offset 256 */
    ck_assert_msg(unsnappy(s2, p, out, sizeof out, &len) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_uint_eq(len, 264);
    for (int i = 0; i < 264; i++) ck_assert_uint_eq(out[i], (uint8_t)(i < 256 ? i : i - 256));
    /* literal with a 2-byte length (tag 61) */
    uint8_t s3[8] = { 3, 61 << 2, 2, 0, 'x', 'y', 'z' };
    ck_assert(unsnappy(s3, 7, out, sizeof out, &len) == DDPM_OK && !memcmp(out, "xyz", 3));
    /* empty stream */
    static const uint8_t s4[] = { 0 };
    ck_assert(unsnappy(s4, 1, out, sizeof out, &len) == DDPM_OK && len == 0);

    /* malformed: each must fail with a message */
    struct {
        const uint8_t *s;
        size_t n;
        const char *why;
    } bad[] = {
        { (const uint8_t[]){ 4, 0x01, 0x00 }, 3, "offset" },                             /* offset 0 */
        { (const uint8_t[]){ 5, 0x00, 'a', 0x01, 0x02 }, 5, "offset" },                  /* offset 2 > 1 */
        { (const uint8_t[]){ 3, 0x08, 'a', 'b' }, 4, "past the stream" },                /* literal truncated */
        { (const uint8_t[]){ 2, 0x08, 'a', 'b', 'c' }, 5, "overflows" },                 /* longer than declared */
        { (const uint8_t[]){ 4, 0x00, 'a' }, 3, "ends after" },                          /* shorter than declared */
        { (const uint8_t[]){ 9, 0x00, 'a', 0x02 | (7 << 2), 1 }, 5, "past the stream" }, /* copy-2 cut */
        { (const uint8_t[]){ 9, 0x00, 'a', 0x03, 1, 0, 0 }, 6, "past the stream" },      /* copy-4 cut */
        { (const uint8_t[]){ 9, 0x00, 'a', 0x01 }, 4, "past the stream" },               /* copy-1 cut */
        { (const uint8_t[]){ 9, 0x00, 'a', 0x02 | (9 << 2), 1, 0 }, 6, "overflows" },    /* copy too long */
        { (const uint8_t[]){ 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 }, 6, "varint" },
        { (const uint8_t[]){ 0xff, 0xff, 0xff, 0xff, 0x7f }, 5, "32 bits" },
        { (const uint8_t[]){ 0x80 }, 1, "varint" },
        { (const uint8_t[]){ 0xff, 0xff, 0xff, 0x0f, 0x00, 'a' }, 6, "more than" },        /* 2^28: too big */
        { (const uint8_t[]){ 5, 63 << 2, 0xff, 0xff, 0xff, 0xff }, 6, "past the stream" }, /* 4-byte len */
    };
    for (size_t i = 0; i < DDPM_ARRAY_LEN(bad); i++) {
        ddpm_clear_error();
        uint8_t o[64];
        size_t ulen;
        int rc = snappy_uncompressed_length(bad[i].s, bad[i].n, &ulen);
        if (rc == DDPM_OK) rc = ulen <= sizeof o ? snappy_decompress(bad[i].s, bad[i].n, o, ulen) : DDPM_ERR;
        ck_assert_msg(rc == DDPM_ERR, "bad stream %zu decoded", i);
        ck_assert_msg(strstr(ddpm_last_error(), bad[i].why), "stream %zu: '%s' lacks '%s'", i, ddpm_last_error(),
                      bad[i].why);
    }
    /* the buffer must be the declared length */
    ck_assert(snappy_decompress(s1, sizeof s1, out, 12) == DDPM_ERR);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* protobuf                                                                                    */

START_TEST(test_protobuf_varints)
{
    struct {
        uint8_t b[12];
        size_t n;
        uint64_t v;
    } ok[] = {
        { { 0 }, 1, 0 },
        { { 1 }, 1, 1 },
        { { 0x7f }, 1, 127 },
        { { 0x80, 0x01 }, 2, 128 },
        { { 0xac, 0x02 }, 2, 300 },
        { { 0x80, 0x80, 0x00 }, 3, 0 }, /* over-long zero is valid */
        { { 0xff, 0xff, 0xff, 0xff, 0x0f }, 5, 0xffffffffu },
        { { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 }, 10, UINT64_C(1) << 63 },
        { { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 }, 10, UINT64_MAX },
    };
    for (size_t i = 0; i < DDPM_ARRAY_LEN(ok); i++) {
        size_t pos = 0;
        uint64_t v = 7;
        ck_assert_msg(pb_read_varint(ok[i].b, ok[i].n, &pos, &v) == DDPM_OK, "varint %zu", i);
        ck_assert_uint_eq(v, ok[i].v);
        ck_assert_uint_eq(pos, ok[i].n);
    }
    /* int32 -1 is a 10-byte varint */
    int32_t x;
    ck_assert(pb_as_int32(UINT64_MAX, &x) && x == -1);
    ck_assert(pb_as_int32((uint64_t)INT32_MIN, &x) && x == INT32_MIN);
    ck_assert(!pb_as_int32(UINT64_C(1) << 31, &x));
    struct {
        uint8_t b[12];
        size_t n;
        const char *why;
    } bad[] = {
        { { 0x80 }, 1, "past the end" },
        { { 0 }, 0, "past the end" },
        { { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 }, 10, "64 bits" },
        { { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00 }, 11, "64 bits" },
        { { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 }, 11, "64 bits" },
    };
    for (size_t i = 0; i < DDPM_ARRAY_LEN(bad); i++) {
        size_t pos = 0;
        uint64_t v;
        ck_assert_msg(pb_read_varint(bad[i].b, bad[i].n, &pos, &v) == DDPM_ERR, "bad varint %zu", i);
        ck_assert_msg(strstr(ddpm_last_error(), bad[i].why), "%zu: %s", i, ddpm_last_error());
    }

    /* one field of each wire type, then the end */
    static const uint8_t msg[] = { 0x08, 0x96, 0x01,                         /* 1: varint 150 */
                                   0x11, 1,    2,    3,    4,    5, 6, 7, 8, /* 2: fixed64 */
                                   0x1a, 0x03, 'a',  'b',  'c',              /* 3: bytes */
                                   0x25, 0x78, 0x56, 0x34, 0x12,             /* 4: fixed32 */
                                   0x80, 0x01, 0x00 };                       /* 16: varint 0 */
    pb_reader r = pb_reader_init(msg, sizeof msg);
    pb_field f;
    ck_assert(pb_next(&r, &f) == 1 && f.number == 1 && f.wire == PB_VARINT && f.u64 == 150);
    ck_assert(pb_next(&r, &f) == 1 && f.number == 2 && f.u64 == UINT64_C(0x0807060504030201));
    ck_assert(pb_next(&r, &f) == 1 && f.number == 3 && f.len == 3 && !memcmp(f.data, "abc", 3));
    ck_assert(pb_next(&r, &f) == 1 && f.number == 4 && f.wire == PB_FIXED32 && f.u64 == 0x12345678);
    ck_assert(pb_next(&r, &f) == 1 && f.number == 16 && f.u64 == 0);
    ck_assert(pb_next(&r, &f) == 0);
    struct {
        uint8_t b[8];
        size_t n;
        const char *why;
    } badf[] = {
        { { 0x0b }, 1, "groups" },  /* wire 3 */
        { { 0x0c }, 1, "groups" },  /* wire 4 */
        { { 0x0e }, 1, "invalid" }, /* wire 6 */
        { { 0x00, 0x00 }, 2, "field number 0" },
        { { 0x0a, 0x05, 'a' }, 3, "declares 5 bytes" },
        { { 0x0d, 1, 2, 3 }, 4, "fixed32" },
        { { 0x09, 1, 2, 3, 4, 5, 6, 7 }, 8, "fixed64" },
        { { 0x08 }, 1, "past the end" },
    };
    for (size_t i = 0; i < DDPM_ARRAY_LEN(badf); i++) {
        pb_reader rb = pb_reader_init(badf[i].b, badf[i].n);
        ck_assert_msg(pb_next(&rb, &f) == DDPM_ERR, "bad field %zu", i);
        ck_assert_msg(strstr(ddpm_last_error(), badf[i].why), "%zu: %s", i, ddpm_last_error());
    }
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Fixtures against expected.txt                                                               */

typedef struct {
    char name[256], dtype[32], shape[128];
    int tf_dtype;
    uint8_t *bytes, *f32; /* f32 NULL: same as bytes (float32) or not a float */
    size_t nbytes, nf32;
} expected_tensor;

static size_t unhex(const char *h, uint8_t **out)
{
    *out = NULL;
    if (!strcmp(h, "-")) return 0;
    size_t n = strlen(h) / 2;
    *out = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        ck_assert(sscanf(h + 2 * i, "%2x", &v) == 1);
        (*out)[i] = (uint8_t)v;
    }
    return n;
}

/* The lines of expected.txt for one bundle, in file (= key) order. */
static int load_expected(const char *bundle, expected_tensor *t, int cap)
{
    FILE *fp = fopen(DIR "expected.txt", "r");
    ck_assert_msg(fp != NULL, DIR "expected.txt missing: run scripts/gen_tfbundle_fixtures.py");
    static char line[16384], b[64], bytes[8192], f32[8192];
    int n = 0, version = -1;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') {
            if (version < 0) sscanf(line, "# expected.txt version %d", &version);
            continue;
        }
        expected_tensor *e = &t[n];
        ck_assert(sscanf(line, "%63s %255s %d %31s %127s %8191s %8191s", b, e->name, &e->tf_dtype, e->dtype, e->shape,
                         bytes, f32) == 7);
        if (strcmp(b, bundle)) continue;
        ck_assert(n < cap);
        if (!strcmp(e->shape, "-")) e->shape[0] = 0;
        e->nbytes = unhex(bytes, &e->bytes);
        e->nf32 = unhex(f32, &e->f32);
        n++;
    }
    fclose(fp);
    ck_assert_msg(version == FIXTURE_VERSION,
                  DIR "expected.txt is version %d, want %d: rerun scripts/gen_tfbundle_fixtures.py", version,
                  FIXTURE_VERSION);
    return n;
}

static void free_expected(expected_tensor *t, int n)
{
    for (int i = 0; i < n; i++) {
        free(t[i].bytes);
        free(t[i].f32);
    }
}

static void shape_str(char *out, size_t cap, int rank, const int64_t *shape)
{
    out[0] = 0;
    for (int k = 0; k < rank; k++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%lld", k ? "," : "", (long long)shape[k]);
}

static int is_float(io_dtype t) { return t == IO_F32 || t == IO_F64 || t == IO_F16 || t == IO_BF16; }

static void check_bundle(const tfbundle *b, const char *bundle)
{
    static expected_tensor want[128];
    int n = load_expected(bundle, want, 128);
    ck_assert_msg(n > 0, "no expected tensors for %s", bundle);
    ck_assert_int_eq(tfbundle_num_tensors(b), n);
    ck_assert(tfbundle_tensor_name(b, -1) == NULL && tfbundle_tensor_name(b, n) == NULL);
    for (int i = 0; i < n; i++) {
        const expected_tensor *e = &want[i];
        const char *name = tfbundle_tensor_name(b, i);
        ck_assert_str_eq(name, e->name);
        ck_assert_int_eq(tfbundle_find(b, name), i);
        ck_assert_int_eq(tfbundle_tensor_tf_dtype(b, i), e->tf_dtype);
        io_dtype dt;
        int rank;
        int64_t shape[IO_MAX_RANK];
        uint64_t nbytes;
        ck_assert_msg(tfbundle_tensor_info(b, i, &dt, &rank, shape, &nbytes) == DDPM_OK, "%s", ddpm_last_error());
        ck_assert_str_eq(io_dtype_name(dt), e->dtype);
        char s[128];
        shape_str(s, sizeof s, rank, shape);
        ck_assert_str_eq(s, e->shape);
        ck_assert_uint_eq(nbytes, e->nbytes);
        ck_assert_int_eq(tfbundle_check_crc(b, i), 1);
        uint8_t *raw = malloc(nbytes + 1);
        ck_assert_msg(tfbundle_read_bytes(b, i, raw, nbytes) == DDPM_OK, "%s", ddpm_last_error());
        ck_assert_msg(nbytes == 0 || memcmp(raw, e->bytes, nbytes) == 0, "%s: bytes differ", name);
        ck_assert(tfbundle_read_bytes(b, i, raw, nbytes + 1) == DDPM_ERR);
        free(raw);
        float *f = (float *)1;
        if (is_float(dt)) {
            ck_assert_msg(tfbundle_get_f32(b, i, &f) == DDPM_OK, "%s", ddpm_last_error());
            const uint8_t *bits = dt == IO_F32 ? e->bytes : e->f32;
            size_t nb = dt == IO_F32 ? e->nbytes : e->nf32;
            ck_assert_uint_eq(nb, nbytes / io_dtype_size(dt) * 4);
            ck_assert_msg(nb == 0 || memcmp(f, bits, nb) == 0, "%s: f32 values differ", name);
            ddpm_free(f);
        } else {
            ck_assert(tfbundle_get_f32(b, i, &f) == DDPM_ERR && f == NULL);
            ck_assert_msg(strstr(ddpm_last_error(), name), "%s", ddpm_last_error());
        }
    }
    ck_assert_int_eq(tfbundle_find(b, "model/no_such"), -1);
    ck_assert_int_eq(tfbundle_find(b, ""), -1);
    free_expected(want, n);
}

START_TEST(test_fixtures_bit_exact)
{
    static const char *const bundles[] = { "mixed", "multiblock", "snappy" };
    for (size_t k = 0; k < DDPM_ARRAY_LEN(bundles); k++) {
        char path[256];
        snprintf(path, sizeof path, DIR "%s", bundles[k]);
        tfbundle *b = NULL;
        ck_assert_msg(tfbundle_open(&b, path) == DDPM_OK, "%s", ddpm_last_error());
        check_bundle(b, bundles[k]);
        fprintf(stderr, "%s: %d tensors bit-exact, every CRC verified\n", path, tfbundle_num_tensors(b));
        tfbundle_close(b);
        /* the same through memory */
        char ip[300], dp[300];
        snprintf(ip, sizeof ip, "%s.index", path);
        snprintf(dp, sizeof dp, "%s.data-00000-of-00001", path);
        size_t il, dl;
        uint8_t *ib = slurp(ip, &il), *db = slurp(dp, &dl);
        const void *shards[1] = { db };
        ck_assert(tfbundle_open_mem(&b, ib, il, shards, &dl, 1, bundles[k]) == DDPM_OK);
        check_bundle(b, bundles[k]);
        tfbundle_close(b);
        free(ib);
        free(db);
    }
}
END_TEST

START_TEST(test_path_forms)
{
    static const char *const paths[] = { DIR "mixed", DIR "mixed.index", DIR "mixed.data-00000-of-00001" };
    for (size_t k = 0; k < DDPM_ARRAY_LEN(paths); k++) {
        tfbundle *b = NULL;
        ck_assert_msg(tfbundle_open(&b, paths[k]) == DDPM_OK, "%s: %s", paths[k], ddpm_last_error());
        ck_assert_str_eq(tfbundle_index_path(b), DIR "mixed.index");
        check_bundle(b, "mixed");
        tfbundle_close(b);
    }
    tfbundle *b = (tfbundle *)1;
    ck_assert(tfbundle_open(&b, DIR "no_such_ckpt") == DDPM_ERR && b == NULL);
    fprintf(stderr, "missing: %s\n", ddpm_last_error());
    ck_assert(starts_with(ddpm_last_error(), DIR "no_such_ckpt.index: cannot open"));
    ck_assert(strstr(ddpm_last_error(), "prefix"));
    /* index without its data file: open fails naming the shard; open_index lists */
    size_t il;
    uint8_t *ib = slurp(DIR "mixed.index", &il);
    const char *ip = test_tmp_path("lonely.index");
    spit(ip, ib, il);
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(ip) - 6), ip);
    ck_assert(tfbundle_open(&b, ip) == DDPM_ERR);
    fprintf(stderr, "no data: %s\n", ddpm_last_error());
    ck_assert(strstr(ddpm_last_error(), "lonely.data-00000-of-00001: cannot open data shard"));
    ck_assert(tfbundle_open_index(&b, prefix) == DDPM_OK);
    ck_assert_int_eq(tfbundle_num_tensors(b), 15);
    ck_assert_int_eq(tfbundle_check_crc(b, 0), -1);
    ck_assert(strstr(ddpm_last_error(), "lonely.data-00000-of-00001"));
    tfbundle_close(b);
    remove(ip);
    free(ib);
}
END_TEST

START_TEST(test_refusals)
{
    tfbundle *b = NULL;
    ck_assert_msg(tfbundle_open(&b, DIR "special") == DDPM_OK, "%s", ddpm_last_error());
    /* the slice entry (key 0x00...) is not listed */
    ck_assert_int_eq(tfbundle_num_tensors(b), 4);
    ck_assert_str_eq(tfbundle_tensor_name(b, 0), "model/partitioned");
    ck_assert_str_eq(tfbundle_tensor_name(b, 1), "model/plain");
    ck_assert_str_eq(tfbundle_tensor_name(b, 2), "model/strings");
    ck_assert_str_eq(tfbundle_tensor_name(b, 3), "model/variant");
    io_dtype dt;
    float *f;
    ck_assert(tfbundle_tensor_info(b, 0, &dt, NULL, NULL, NULL) == DDPM_ERR);
    fprintf(stderr, "sliced: %s\n", ddpm_last_error());
    ck_assert(strstr(ddpm_last_error(), "'model/partitioned'") && strstr(ddpm_last_error(), "partitioned variable"));
    ck_assert(starts_with(ddpm_last_error(), DIR "special.index: "));
    ck_assert_int_eq(tfbundle_check_crc(b, 0), -1);
    ck_assert(tfbundle_get_f32(b, 0, &f) == DDPM_ERR);
    ck_assert(tfbundle_tensor_info(b, 2, &dt, NULL, NULL, NULL) == DDPM_ERR);
    fprintf(stderr, "string: %s\n", ddpm_last_error());
    ck_assert(strstr(ddpm_last_error(), "'model/strings'") && strstr(ddpm_last_error(), "DT_STRING"));
    ck_assert_int_eq(tfbundle_tensor_tf_dtype(b, 2), 7);
    /* string and variant CRCs follow TF's layouts (lengths as uint32/uint64, embedded checksums) */
    ck_assert_msg(tfbundle_check_crc(b, 2) == 1, "%s", ddpm_last_error());
    ck_assert_msg(tfbundle_check_crc(b, 3) == 1, "%s", ddpm_last_error());
    ck_assert(tfbundle_get_f32(b, 2, &f) == DDPM_ERR);
    ck_assert(tfbundle_tensor_info(b, 3, &dt, NULL, NULL, NULL) == DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "DT_VARIANT"));
    float *plain = NULL; /* [1.5, -2.5] */
    ck_assert(tfbundle_get_f32(b, 1, &plain) == DDPM_OK && plain[0] == 1.5f && plain[1] == -2.5f);
    ddpm_free(plain);
    tfbundle_close(b);
    /* every flip of the string/variant bytes fails their check */
    size_t sil, sdl;
    uint8_t *sib = slurp(DIR "special.index", &sil), *sdb = slurp(DIR "special.data-00000-of-00001", &sdl);
    for (size_t pos = 8; pos < sdl; pos++) {
        sdb[pos] ^= 0x04;
        const void *sh1[1] = { sdb };
        tfbundle *bb = NULL;
        ck_assert(tfbundle_open_mem(&bb, sib, sil, sh1, &sdl, 1, "sp") == DDPM_OK);
        ck_assert_int_eq(tfbundle_check_crc(bb, 1), 1);
        ck_assert_msg(tfbundle_check_crc(bb, 2) + tfbundle_check_crc(bb, 3) == 1, "flip at %zu: string %d variant %d",
                      pos, tfbundle_check_crc(bb, 2), tfbundle_check_crc(bb, 3));
        ck_assert(starts_with(ddpm_last_error(), "sp.data-00000-of-00001: tensor "));
        tfbundle_close(bb);
        sdb[pos] ^= 0x04;
    }
    free(sib);
    free(sdb);
    ck_assert_str_eq(tfbundle_tf_dtype_name(19), "DT_HALF");
    ck_assert_str_eq(tfbundle_tf_dtype_name(101), "DT_FLOAT_REF");

    ck_assert(tfbundle_open(&b, DIR "bigendian") == DDPM_ERR);
    fprintf(stderr, "bigendian: %s\n", ddpm_last_error());
    ck_assert(starts_with(ddpm_last_error(), DIR "bigendian.index: ") && strstr(ddpm_last_error(), "big-endian"));
    ck_assert(tfbundle_open(&b, DIR "twoshards") == DDPM_ERR);
    fprintf(stderr, "twoshards: %s\n", ddpm_last_error());
    ck_assert(starts_with(ddpm_last_error(), DIR "twoshards.data-00001-of-00002: cannot open"));
    /* from memory, with only shard 0 given */
    size_t il, dl;
    uint8_t *ib = slurp(DIR "twoshards.index", &il), *db = slurp(DIR "twoshards.data-00000-of-00002", &dl);
    const void *sh[1] = { db };
    ck_assert(tfbundle_open_mem(&b, ib, il, sh, &dl, 1, "two") == DDPM_ERR);
    ck_assert(starts_with(ddpm_last_error(), "two.data-00001-of-00002: data shard 1 of 2 is missing"));
    free(ib);
    free(db);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Truncations and byte flips                                                                  */

/* Same names, dtypes, shapes and stored bytes (the f32 view follows from those). */
static int same_content(const tfbundle *a, const tfbundle *b)
{
    if (tfbundle_num_tensors(a) != tfbundle_num_tensors(b)) return 0;
    for (int i = 0; i < tfbundle_num_tensors(a); i++) {
        if (strcmp(tfbundle_tensor_name(a, i), tfbundle_tensor_name(b, i))) return 0;
        io_dtype da, db;
        int ra, rb;
        int64_t sa[IO_MAX_RANK], sb[IO_MAX_RANK];
        uint64_t na, nb;
        int ia = tfbundle_tensor_info(a, i, &da, &ra, sa, &na);
        int ib = tfbundle_tensor_info(b, i, &db, &rb, sb, &nb);
        if (ia != ib) return 0;
        if (ia != DDPM_OK) continue;
        if (da != db || ra != rb || na != nb || memcmp(sa, sb, (size_t)ra * sizeof sa[0])) return 0;
        uint8_t *x = malloc(na + 1), *y = malloc(nb + 1);
        int ok = tfbundle_read_bytes(a, i, x, na) == DDPM_OK && tfbundle_read_bytes(b, i, y, nb) == DDPM_OK &&
                 memcmp(x, y, na) == 0;
        free(x);
        free(y);
        if (!ok) return 0;
    }
    return 1;
}

/* Bytes of the footer no check covers: after the two handles, up to the magic. */
static void footer_padding(const uint8_t *idx, size_t len, size_t *from, size_t *to)
{
    const uint8_t *f = idx + len - 48;
    size_t p = 0;
    uint64_t v;
    for (int k = 0; k < 4; k++) ck_assert(pb_read_varint(f, 40, &p, &v) == DDPM_OK);
    *from = len - 48 + p;
    *to = len - 8;
}

static void torture(const char *bundle)
{
    char ip[256], dp[256];
    snprintf(ip, sizeof ip, DIR "%s.index", bundle);
    snprintf(dp, sizeof dp, DIR "%s.data-00000-of-00001", bundle);
    size_t il, dl;
    uint8_t *ib = slurp(ip, &il), *db = slurp(dp, &dl);
    const void *shard[1] = { db };
    tfbundle *ref = NULL;
    ck_assert(tfbundle_open_mem(&ref, ib, il, shard, &dl, 1, "ref") == DDPM_OK);
    size_t pad_from, pad_to;
    footer_padding(ib, il, &pad_from, &pad_to);

    /* every truncation of the index, and of the data file */
    for (size_t cut = 0; cut < il; cut++) {
        tfbundle *b = (tfbundle *)1;
        ddpm_clear_error();
        ck_assert_msg(tfbundle_open_mem(&b, ib, cut, shard, &dl, 1, "cut") == DDPM_ERR && b == NULL,
                      "%s cut at %zu/%zu opened", ip, cut, il);
        ck_assert_msg(starts_with(ddpm_last_error(), "cut.index: "), "%s", ddpm_last_error());
    }
    for (size_t cut = 0; cut < dl; cut++) {
        tfbundle *b = (tfbundle *)1;
        ck_assert_msg(tfbundle_open_mem(&b, ib, il, shard, &cut, 1, "cut") == DDPM_ERR && b == NULL,
                      "%s cut at %zu/%zu opened", dp, cut, dl);
        ck_assert_msg(starts_with(ddpm_last_error(), "cut.data-00000-of-00001: "), "%s", ddpm_last_error());
    }

    /* every single-byte flip of the index: an error naming it, or (footer padding) the same */
    uint8_t *c = malloc(il);
    int errors = 0, identical = 0;
    for (size_t pos = 0; pos < il; pos++) {
        for (int pass = 0; pass < 2; pass++) {
            memcpy(c, ib, il);
            c[pos] ^= pass ? 0x01 : 0xA5;
            tfbundle *b = NULL;
            ddpm_clear_error();
            if (tfbundle_open_mem(&b, c, il, shard, &dl, 1, "flip") != DDPM_OK) {
                ck_assert(b == NULL);
                ck_assert_msg(starts_with(ddpm_last_error(), "flip.index: "), "byte %zu: %s", pos, ddpm_last_error());
                ck_assert(!strchr(ddpm_last_error(), '\n'));
                errors++;
                continue;
            }
            ck_assert_msg(pos >= pad_from && pos < pad_to,
                          "%s: flipping byte %zu (outside the footer padding) went undetected", ip, pos);
            ck_assert_msg(same_content(ref, b), "%s: flip of byte %zu loaded different tensors", ip, pos);
            identical++;
            tfbundle_close(b);
        }
    }
    free(c);

    /* every flip of the data file: the open succeeds (it reads no tensor bytes); the tensor
     * holding the byte fails its CRC, naming the file and the tensor; the others verify */
    uint8_t *d = malloc(dl);
    int data_errors = 0;
    for (size_t pos = 0; pos < dl; pos++) {
        memcpy(d, db, dl);
        d[pos] ^= 0x10;
        const void *sh[1] = { d };
        tfbundle *b = NULL;
        ck_assert(tfbundle_open_mem(&b, ib, il, sh, &dl, 1, "flip") == DDPM_OK);
        int bad = 0;
        for (int i = 0; i < tfbundle_num_tensors(b); i++) {
            int ok = tfbundle_check_crc(b, i);
            ck_assert(ok == 0 || ok == 1);
            if (ok) continue;
            bad++;
            char want[300];
            snprintf(want, sizeof want, "'%s'", tfbundle_tensor_name(b, i));
            ck_assert(starts_with(ddpm_last_error(), "flip.data-00000-of-00001: tensor CRC mismatch"));
            ck_assert(strstr(ddpm_last_error(), want));
            io_dtype dt;
            uint64_t nb;
            ck_assert(tfbundle_tensor_info(b, i, &dt, NULL, NULL, &nb) == DDPM_OK);
            float *f = (float *)1;
            uint8_t *raw = malloc(nb + 1);
            ck_assert(tfbundle_read_bytes(b, i, raw, nb) == DDPM_ERR);
            free(raw);
            if (is_float(dt)) ck_assert(tfbundle_get_f32(b, i, &f) == DDPM_ERR && f == NULL);
        }
        ck_assert_msg(bad == 1, "%s: flipping byte %zu failed %d tensors' CRC", dp, pos, bad);
        data_errors++;
        tfbundle_close(b);
    }
    free(d);
    fprintf(stderr,
            "%s: %zu+%zu truncations rejected; %d index flips rejected, %d identical "
            "(footer padding %zu..%zu); %d data flips caught by the tensor CRC\n",
            bundle, il, dl, errors, identical, pad_from, pad_to, data_errors);
    tfbundle_close(ref);
    free(ib);
    free(db);
}

START_TEST(test_torture_mixed) { torture("mixed"); }
END_TEST
START_TEST(test_torture_multiblock) { torture("multiblock"); }
END_TEST
START_TEST(test_torture_snappy) { torture("snappy"); }
END_TEST

/* Truncated and corrupted copies on disk: the message names the path given. */
START_TEST(test_files_named_in_errors)
{
    size_t il, dl;
    uint8_t *ib = slurp(DIR "mixed.index", &il), *db = slurp(DIR "mixed.data-00000-of-00001", &dl);
    const char *ip = test_tmp_path("disk.index");
    const char *dp = test_tmp_path("disk.data-00000-of-00001");
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(ip) - 6), ip);
    tfbundle *b = NULL;
    for (size_t cut = 0; cut < il; cut += 7) {
        spit(ip, ib, cut);
        spit(dp, db, dl);
        ck_assert(tfbundle_open(&b, prefix) == DDPM_ERR);
        ck_assert_msg(starts_with(ddpm_last_error(), ip), "%s", ddpm_last_error());
    }
    spit(ip, ib, il);
    spit(dp, db, dl - 1);
    ck_assert(tfbundle_open(&b, prefix) == DDPM_ERR);
    fprintf(stderr, "short data: %s\n", ddpm_last_error());
    ck_assert(starts_with(ddpm_last_error(), dp) && strstr(ddpm_last_error(), "runs past the end"));
    db[dl / 2] ^= 1;
    spit(dp, db, dl);
    ck_assert(tfbundle_open(&b, ip) == DDPM_OK);
    int bad = 0;
    for (int i = 0; i < tfbundle_num_tensors(b); i++)
        if (tfbundle_check_crc(b, i) == 0) {
            bad++;
            fprintf(stderr, "flipped data: %s\n", ddpm_last_error());
            ck_assert(starts_with(ddpm_last_error(), dp));
        }
    ck_assert_int_eq(bad, 1);
    tfbundle_close(b);
    ib[il - 1] ^= 0xff; /* magic */
    spit(ip, ib, il);
    ck_assert(tfbundle_open(&b, ip) == DDPM_ERR);
    fprintf(stderr, "bad magic: %s\n", ddpm_last_error());
    ck_assert(starts_with(ddpm_last_error(), ip) && strstr(ddpm_last_error(), "bad magic"));
    ib[il - 1] ^= 0xff;
    ib[3] ^= 0x40; /* inside the first data block */
    spit(ip, ib, il);
    ck_assert(tfbundle_open(&b, ip) == DDPM_ERR);
    fprintf(stderr, "bad block: %s\n", ddpm_last_error());
    ck_assert(starts_with(ddpm_last_error(), ip) && strstr(ddpm_last_error(), "bad block CRC"));
    remove(ip);
    remove(dp);
    free(ib);
    free(db);
}
END_TEST

/* Handle of the first data block (footer -> index block's first entry). */
static void first_data_block(const uint8_t *idx, size_t len, uint64_t *off, uint64_t *size)
{
    const uint8_t *f = idx + len - 48;
    size_t p = 0;
    uint64_t v[4];
    for (int k = 0; k < 4; k++) ck_assert(pb_read_varint(f, 40, &p, &v[k]) == DDPM_OK);
    static uint8_t dec[65536];
    const uint8_t *ib = idx + v[2];
    if (idx[v[2] + v[3]] == 1) { /* a Snappy index block */
        size_t ulen;
        ck_assert(snappy_uncompressed_length(ib, v[3], &ulen) == DDPM_OK && ulen <= sizeof dec);
        ck_assert(snappy_decompress(ib, v[3], dec, ulen) == DDPM_OK);
        ib = dec;
        v[3] = ulen;
    }
    size_t q = 0;
    uint64_t shared, unshared, vlen;
    ck_assert(pb_read_varint(ib, v[3], &q, &shared) == DDPM_OK);
    ck_assert(pb_read_varint(ib, v[3], &q, &unshared) == DDPM_OK);
    ck_assert(pb_read_varint(ib, v[3], &q, &vlen) == DDPM_OK);
    q += unshared;
    ck_assert(pb_read_varint(ib, v[3], &q, off) == DDPM_OK);
    ck_assert(pb_read_varint(ib, v[3], &q, size) == DDPM_OK);
}

static void fix_block_crc(uint8_t *idx, uint64_t off, uint64_t size)
{
    uint32_t m = crc32c_mask(crc32c_value(idx + off, (size_t)size + 1));
    for (int k = 0; k < 4; k++) idx[off + size + 1 + k] = (uint8_t)(m >> (8 * k));
}

static void expect_open_error(const uint8_t *idx, size_t il, const uint8_t *data, size_t dl, const char *what,
                              const char *want)
{
    const void *sh[1] = { data };
    tfbundle *b = (tfbundle *)1;
    ck_assert_msg(tfbundle_open_mem(&b, idx, il, sh, &dl, 1, "crafted") == DDPM_ERR && b == NULL, "%s: opened", what);
    fprintf(stderr, "%s: %s\n", what, ddpm_last_error());
    ck_assert_msg(starts_with(ddpm_last_error(), "crafted.") && strstr(ddpm_last_error(), want), "%s: '%s' lacks '%s'",
                  what, ddpm_last_error(), want);
}

/* Corruptions behind a valid block CRC reach the framing and protobuf checks. */
START_TEST(test_crafted_blocks)
{
    size_t il, dl;
    uint8_t *ib = slurp(DIR "mixed.index", &il), *db = slurp(DIR "mixed.data-00000-of-00001", &dl);
    uint8_t *c = malloc(il);
    uint64_t off, size;
    first_data_block(ib, il, &off, &size);
    const uint8_t *blk = ib + off;

    memcpy(c, ib, il);
    c[off + size] = 2; /* block type */
    fix_block_crc(c, off, size);
    expect_open_error(c, il, db, dl, "type 2", "compression type 2");

    memcpy(c, ib, il);
    c[off + size - 4] = 0x7f; /* num_restarts */
    fix_block_crc(c, off, size);
    expect_open_error(c, il, db, dl, "restart count", "restart points do not fit");

    memcpy(c, ib, il);
    c[off + size - 8] += 1; /* a restart offset off an entry */
    fix_block_crc(c, off, size);
    expect_open_error(c, il, db, dl, "restart offset", "restart point");

    memcpy(c, ib, il); /* header entry: shared 0, unshared 0 */
    ck_assert(blk[0] == 0 && blk[1] == 0);
    c[off + 1] = 0xff; /* unshared: an unterminated varint */
    c[off + 2] = 0xff;
    c[off + 3] = 0xff;
    c[off + 4] = 0xff;
    c[off + 5] = 0xff;
    fix_block_crc(c, off, size);
    expect_open_error(c, il, db, dl, "varint", "bad varint32");

    memcpy(c, ib, il); /* the header value: 08 01 1a 02 08 01 */
    ck_assert(blk[2] == 6 && blk[3] == 0x08 && blk[4] == 0x01);
    c[off + 4] = 0x00; /* num_shards 0 */
    fix_block_crc(c, off, size);
    expect_open_error(c, il, db, dl, "num_shards", "num_shards is 0");
    c[off + 3] = 0x0b; /* wire type 3 (group) */
    fix_block_crc(c, off, size);
    expect_open_error(c, il, db, dl, "group", "groups are not supported");
    c[off + 3] = 0x08;
    c[off + 4] = 0x81; /* varint runs into the next field */
    c[off + 5] = 0x9a;
    c[off + 6] = 0x82;
    c[off + 7] = 0x88;
    c[off + 8] = 0x81;
    fix_block_crc(c, off, size);
    expect_open_error(c, il, db, dl, "header varint", "varint");

    memcpy(c, ib, il); /* the first tensor entry's key */
    size_t e1 = 3 + 6;
    ck_assert(blk[e1] == 0); /* shared 0 */
    c[off + e1] = 1;         /* shares 1 byte with the empty key */
    fix_block_crc(c, off, size);
    expect_open_error(c, il, db, dl, "shared", "shares 1 key bytes");

    /* Snappy: a copy reaching before the start of the output */
    size_t sl;
    uint8_t *sb = slurp(DIR "snappy.index", &sl);
    first_data_block(sb, sl, &off, &size);
    ck_assert_uint_eq(sb[off + size], 1);
    size_t p = 0;
    uint64_t ulen;
    ck_assert(pb_read_varint(sb + off, size, &p, &ulen) == DDPM_OK);
    ck_assert_uint_eq(sb[off + p] & 3, 0); /* starts with a literal */
    sb[off + p] = 0x02 | (3 << 2);         /* now a copy-2 ... */
    sb[off + p + 1] = 0x10;                /* ... with offset 16 of 0 bytes */
    sb[off + p + 2] = 0x00;
    fix_block_crc(sb, off, size);
    size_t sdl;
    uint8_t *sdb = slurp(DIR "snappy.data-00000-of-00001", &sdl);
    expect_open_error(sb, sl, sdb, sdl, "snappy copy", "Snappy data block at offset 0: snappy: copy");
    free(sb);
    free(sdb);
    free(c);
    free(ib);
    free(db);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Real TensorFlow-written bundles (opt-in)                                                    */

static int real_bundles, real_tensors, real_index_only;

static int visit_real(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    size_t n = strlen(path);
    if (flag != FTW_F || n < 6 || strcmp(path + n - 6, ".index")) return 0;
    char data0[4096];
    snprintf(data0, sizeof data0, "%.*s.data-00000-of-00001", (int)(n - 6), path);
    int have_data = access(data0, R_OK) == 0;
    tfbundle *b = NULL;
    int rc = have_data ? tfbundle_open(&b, path) : tfbundle_open_index(&b, path);
    ck_assert_msg(rc == DDPM_OK, "%s", ddpm_last_error());
    int ok = 0;
    for (int i = 0; have_data && i < tfbundle_num_tensors(b); i++) {
        int c = tfbundle_check_crc(b, i);
        ck_assert_msg(c == 1, "%s: tensor '%s': %s", path, tfbundle_tensor_name(b, i), ddpm_last_error());
        ok++;
    }
    fprintf(stderr, "real bundle %s: %d tensors, %s\n", path, tfbundle_num_tensors(b),
            have_data ? "every CRC verified" : "index only (no data file beside it)");
    for (int i = 0; i < tfbundle_num_tensors(b) && i < 4; i++) {
        io_dtype dt;
        int rank;
        int64_t shape[IO_MAX_RANK];
        uint64_t nb;
        char s[128] = "?";
        if (tfbundle_tensor_info(b, i, &dt, &rank, shape, &nb) == DDPM_OK) shape_str(s, sizeof s, rank, shape);
        fprintf(stderr, "    %s %s [%s]\n", tfbundle_tensor_name(b, i),
                tfbundle_tf_dtype_name(tfbundle_tensor_tf_dtype(b, i)), s);
    }
    real_bundles++;
    real_tensors += tfbundle_num_tensors(b);
    real_index_only += !have_data;
    tfbundle_close(b);
    return 0;
}

START_TEST(test_real_tf_files)
{
    const char *dir = getenv("DDPM_REAL_TF_DIR");
    if (!dir || !dir[0]) {
        fprintf(stderr, "test_real_tf_files: skipped (set DDPM_REAL_TF_DIR to a folder of "
                        "TensorFlow-written *.index/*.data-* files)\n");
        return;
    }
    ck_assert_msg(nftw(dir, visit_real, 16, FTW_PHYS) == 0, "cannot walk %s", dir);
    ck_assert_msg(real_bundles > 0, "no *.index under %s", dir);
    fprintf(stderr, "DDPM_REAL_TF_DIR=%s: %d bundles (%d index only), %d tensors\n", dir, real_bundles, real_index_only,
            real_tensors);
}
END_TEST

static Suite *tfbundle_suite(void)
{
    Suite *s = suite_create("tfbundle");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_crc32c_vectors);
    tcase_add_test(tc, test_snappy_streams);
    tcase_add_test(tc, test_protobuf_varints);
    tcase_add_test(tc, test_fixtures_bit_exact);
    tcase_add_test(tc, test_path_forms);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_torture_mixed);
    tcase_add_test(tc, test_torture_multiblock);
    tcase_add_test(tc, test_torture_snappy);
    tcase_add_test(tc, test_files_named_in_errors);
    tcase_add_test(tc, test_crafted_blocks);
    tcase_add_test(tc, test_real_tf_files);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(tfbundle_suite)
