/* safetensors.c — reader and writer of safetensors.h. */
#include "io/safetensors.h"

#include "core/common.h"
#include "io/convert.h"
#include "io/readfile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ST_MAX_HEADER 100000000u

typedef struct {
    char *name;
    io_dtype dtype;
    int rank;
    int64_t shape[IO_MAX_RANK];
    uint64_t begin, end;
} st_tensor;

struct safetensors {
    io_input in; /* first: io_input_adopt */
    char label[512];
    const uint8_t *data; /* buffer start: buf + 8 + N */
    uint64_t data_len;
    st_tensor *t;
    int nt, capt;
    char **meta; /* key, value pairs */
    int nmeta, capmeta;
};

#define serr(s, ...) ddpm_error_in((s)->label, "safetensors: " __VA_ARGS__)

static const struct {
    const char *name;
    io_dtype dtype;
} DTYPES[] = {
    { "F32", IO_F32 }, { "F64", IO_F64 }, { "F16", IO_F16 }, { "BF16", IO_BF16 }, { "I64", IO_I64 },
    { "I32", IO_I32 }, { "I16", IO_I16 }, { "I8", IO_I8 },   { "U8", IO_U8 },     { "BOOL", IO_BOOL },
};

static const char *dtype_code(io_dtype t)
{
    for (size_t k = 0; k < DDPM_ARRAY_LEN(DTYPES); k++)
        if (DTYPES[k].dtype == t) return DTYPES[k].name;
    return NULL;
}

/* ---- a JSON subset: objects, arrays, strings, non-negative integers ---------------------- */

typedef struct {
    safetensors *s;
    const char *p, *end, *start;
} jp;

static int jerr(const jp *j, const char *what)
{
    return serr(j->s, "header JSON byte %zu: %s", (size_t)(j->p - j->start), what);
}

static void jws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int jexpect(jp *j, char c)
{
    jws(j);
    if (j->p >= j->end || *j->p != c) {
        char m[48];
        snprintf(m, sizeof m, "expected '%c'", c);
        return jerr(j, m);
    }
    j->p++;
    return DDPM_OK;
}

static int jpeek(jp *j, char c)
{
    jws(j);
    return j->p < j->end && *j->p == c;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_u4(jp *j, unsigned *u)
{
    if (j->end - j->p < 4) return jerr(j, "truncated \\u escape");
    *u = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(j->p[k]);
        if (h < 0) return jerr(j, "bad \\u escape");
        *u = *u * 16 + (unsigned)h;
    }
    j->p += 4;
    return DDPM_OK;
}

/* A string, unescaped into a malloc'd NUL-terminated copy (NUL characters are rejected). */
static int jstring(jp *j, char **out)
{
    *out = NULL;
    DDPM_TRY(jexpect(j, '"'));
    const char *q = j->p;
    while (q < j->end && *q != '"') q += (*q == '\\') ? 2 : 1;
    if (q >= j->end) return jerr(j, "unterminated string");
    char *r = malloc((size_t)(q - j->p) + 1), *w = r; /* escapes only shrink */
    if (!r) return ddpm_error("out of memory");
    while (*j->p != '"') {
        unsigned char c = (unsigned char)*j->p++;
        if (c < 0x20) {
            free(r);
            return jerr(j, "control character in a string");
        }
        if (c != '\\') {
            *w++ = (char)c;
            continue;
        }
        char e = *j->p++;
        unsigned u;
        switch (e) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '/': *w++ = '/'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u':
            if (read_u4(j, &u)) {
                free(r);
                return DDPM_ERR;
            }
            if (u >= 0xD800 && u < 0xDC00) { /* surrogate pair */
                unsigned lo;
                if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') {
                    free(r);
                    return jerr(j, "lone surrogate");
                }
                j->p += 2;
                if (read_u4(j, &lo) || lo < 0xDC00 || lo >= 0xE000) {
                    free(r);
                    return jerr(j, "bad surrogate pair");
                }
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            } else if (u >= 0xDC00 && u < 0xE000) {
                free(r);
                return jerr(j, "lone surrogate");
            }
            if (u == 0) {
                free(r);
                return jerr(j, "NUL character in a string");
            }
            /* a \u escape is 6 input bytes and at most 4 output bytes: still no overflow */
            if (u < 0x80) *w++ = (char)u;
            else if (u < 0x800) {
                *w++ = (char)(0xC0 | (u >> 6));
                *w++ = (char)(0x80 | (u & 63));
            } else if (u < 0x10000) {
                *w++ = (char)(0xE0 | (u >> 12));
                *w++ = (char)(0x80 | ((u >> 6) & 63));
                *w++ = (char)(0x80 | (u & 63));
            } else {
                *w++ = (char)(0xF0 | (u >> 18));
                *w++ = (char)(0x80 | ((u >> 12) & 63));
                *w++ = (char)(0x80 | ((u >> 6) & 63));
                *w++ = (char)(0x80 | (u & 63));
            }
            break;
        default: free(r); return jerr(j, "bad escape in a string");
        }
    }
    j->p++;
    *w = 0;
    *out = r;
    return DDPM_OK;
}

static int juint(jp *j, uint64_t *v)
{
    jws(j);
    if (j->p >= j->end || *j->p < '0' || *j->p > '9') return jerr(j, "expected a non-negative integer");
    if (*j->p == '0' && j->end - j->p > 1 && j->p[1] >= '0' && j->p[1] <= '9')
        return jerr(j, "integer with a leading zero");
    *v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (*v > ((uint64_t)1 << 53)) return jerr(j, "integer too large");
        *v = *v * 10 + (uint64_t)(*j->p++ - '0');
    }
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
        return jerr(j, "expected an integer, not a float");
    return DDPM_OK;
}

/* [int, int, ...] with at most max items. */
static int juint_array(jp *j, uint64_t *v, int max, int *n)
{
    *n = 0;
    DDPM_TRY(jexpect(j, '['));
    if (jpeek(j, ']')) {
        j->p++;
        return DDPM_OK;
    }
    for (;;) {
        if (*n >= max) return jerr(j, "array too long");
        DDPM_TRY(juint(j, &v[(*n)++]));
        if (jpeek(j, ',')) {
            j->p++;
            continue;
        }
        return jexpect(j, ']');
    }
}

static int grow(void **p, int *cap, int need, size_t elem)
{
    if (need <= *cap) return DDPM_OK;
    int nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return ddpm_error("out of memory");
    *p = q;
    *cap = nc;
    return DDPM_OK;
}

static int parse_metadata(jp *j)
{
    safetensors *s = j->s;
    if (s->nmeta) return jerr(j, "__metadata__ appears twice");
    DDPM_TRY(jexpect(j, '{'));
    if (jpeek(j, '}')) {
        j->p++;
        return DDPM_OK;
    }
    for (;;) {
        char *k, *v;
        DDPM_TRY(jstring(j, &k));
        if (jexpect(j, ':') || jstring(j, &v)) {
            free(k);
            return DDPM_ERR;
        }
        if (grow((void **)&s->meta, &s->capmeta, 2 * s->nmeta + 2, sizeof *s->meta)) {
            free(k);
            free(v);
            return DDPM_ERR;
        }
        s->meta[2 * s->nmeta] = k;
        s->meta[2 * s->nmeta + 1] = v;
        s->nmeta++;
        if (jpeek(j, ',')) {
            j->p++;
            continue;
        }
        return jexpect(j, '}');
    }
}

static int parse_tensor(jp *j, st_tensor *t)
{
    int have_dtype = 0, have_shape = 0, have_off = 0;
    DDPM_TRY(jexpect(j, '{'));
    for (;;) {
        char *k;
        DDPM_TRY(jstring(j, &k));
        int rc = jexpect(j, ':');
        if (rc == DDPM_OK && !strcmp(k, "dtype")) {
            char *d = NULL;
            rc = jstring(j, &d);
            if (rc == DDPM_OK) {
                int found = 0;
                for (size_t q = 0; q < DDPM_ARRAY_LEN(DTYPES); q++)
                    if (!strcmp(d, DTYPES[q].name)) {
                        t->dtype = DTYPES[q].dtype;
                        found = 1;
                    }
                if (!found) rc = serr(j->s, "tensor '%s': unknown dtype \"%.32s\"", t->name, d);
            }
            free(d);
            have_dtype++;
        } else if (rc == DDPM_OK && !strcmp(k, "shape")) {
            uint64_t v[IO_MAX_RANK];
            rc = juint_array(j, v, IO_MAX_RANK, &t->rank);
            for (int q = 0; q < t->rank; q++) t->shape[q] = (int64_t)v[q];
            have_shape++;
        } else if (rc == DDPM_OK && !strcmp(k, "data_offsets")) {
            uint64_t v[2];
            int n;
            rc = juint_array(j, v, 2, &n);
            if (rc == DDPM_OK && n != 2) rc = serr(j->s, "tensor '%s': data_offsets needs 2 numbers", t->name);
            t->begin = v[0];
            t->end = v[1];
            have_off++;
        } else if (rc == DDPM_OK) {
            rc = serr(j->s, "tensor '%s': unknown field \"%.32s\"", t->name, k);
        }
        free(k);
        DDPM_TRY(rc);
        if (jpeek(j, ',')) {
            j->p++;
            continue;
        }
        DDPM_TRY(jexpect(j, '}'));
        break;
    }
    if (have_dtype != 1 || have_shape != 1 || have_off != 1)
        return serr(j->s, "tensor '%s' needs each of dtype, shape, data_offsets exactly once", t->name);
    return DDPM_OK;
}

static int cmp_begin(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int parse(safetensors *s)
{
    if (s->in.len < 8) return serr(s, "file of %zu bytes is too short for the 8-byte header length", s->in.len);
    uint64_t n = 0;
    for (int k = 7; k >= 0; k--) n = (n << 8) | s->in.buf[k];
    if (n > ST_MAX_HEADER)
        return serr(s, "header length %llu exceeds the limit %u (not a safetensors file?)", (unsigned long long)n,
                    ST_MAX_HEADER);
    if (n > s->in.len - 8)
        return serr(s, "header of %llu bytes runs past the end of the file (truncated?)", (unsigned long long)n);
    if (n < 2 || s->in.buf[8] != '{') return serr(s, "header does not start with '{' (not a safetensors file)");
    jp j = { s, (const char *)s->in.buf + 8, (const char *)s->in.buf + 8 + n, (const char *)s->in.buf + 8 };
    s->data = s->in.buf + 8 + n;
    s->data_len = s->in.len - 8 - n;
    DDPM_TRY(jexpect(&j, '{'));
    if (!jpeek(&j, '}')) {
        for (;;) {
            char *name;
            DDPM_TRY(jstring(&j, &name));
            if (jexpect(&j, ':')) {
                free(name);
                return DDPM_ERR;
            }
            if (!strcmp(name, "__metadata__")) {
                free(name);
                DDPM_TRY(parse_metadata(&j));
            } else {
                if (safetensors_find(s, name) >= 0) {
                    int rc = serr(s, "tensor '%s' appears twice", name);
                    free(name);
                    return rc;
                }
                if (grow((void **)&s->t, &s->capt, s->nt + 1, sizeof *s->t)) {
                    free(name);
                    return DDPM_ERR;
                }
                st_tensor *t = &s->t[s->nt++];
                memset(t, 0, sizeof *t);
                t->name = name;
                DDPM_TRY(parse_tensor(&j, t));
            }
            if (jpeek(&j, ',')) {
                j.p++;
                continue;
            }
            break;
        }
    }
    DDPM_TRY(jexpect(&j, '}'));
    for (const char *q = j.p; q < j.end; q++)
        if (*q != ' ') return serr(s, "header has bytes other than space padding after the JSON object");
    /* sizes, then the tiling of the buffer */
    for (int i = 0; i < s->nt; i++) {
        st_tensor *t = &s->t[i];
        uint64_t numel = 1;
        for (int k = 0; k < t->rank; k++)
            if (__builtin_mul_overflow(numel, (uint64_t)t->shape[k], &numel))
                return serr(s, "tensor '%s': shape overflows", t->name);
        uint64_t bytes;
        if (__builtin_mul_overflow(numel, (uint64_t)io_dtype_size(t->dtype), &bytes))
            return serr(s, "tensor '%s': shape overflows", t->name);
        if (t->end < t->begin)
            return serr(s, "tensor '%s': data_offsets [%llu, %llu) run backwards", t->name,
                        (unsigned long long)t->begin, (unsigned long long)t->end);
        if (t->end - t->begin != bytes)
            return serr(s, "tensor '%s': data_offsets hold %llu bytes but %s of its shape needs %llu", t->name,
                        (unsigned long long)(t->end - t->begin), io_dtype_name(t->dtype), (unsigned long long)bytes);
        if (t->end > s->data_len)
            return serr(s, "tensor '%s': data_offsets end %llu is past the %llu-byte buffer (truncated?)", t->name,
                        (unsigned long long)t->end, (unsigned long long)s->data_len);
    }
    st_tensor **order = malloc((s->nt > 0 ? (size_t)s->nt : 1) * sizeof *order);
    if (!order) return ddpm_error("out of memory");
    for (int i = 0; i < s->nt; i++) order[i] = &s->t[i];
    qsort(order, (size_t)s->nt, sizeof *order, cmp_begin);
    uint64_t at = 0;
    int rc = DDPM_OK;
    for (int i = 0; i < s->nt && rc == DDPM_OK; i++) {
        if (order[i]->begin != at)
            rc = serr(s, "tensor '%s' starts at %llu but the previous tensor ends at %llu (%s)", order[i]->name,
                      (unsigned long long)order[i]->begin, (unsigned long long)at,
                      order[i]->begin < at ? "overlap" : "hole in the buffer");
        at = order[i]->end;
    }
    free(order);
    if (rc == DDPM_OK && at != s->data_len)
        rc = serr(s, "the tensors cover %llu bytes of a %llu-byte buffer (trailing bytes or wrong offsets)",
                  (unsigned long long)at, (unsigned long long)s->data_len);
    return rc;
}

static int open_owned(safetensors **out, uint8_t *buf, size_t len, const char *label)
{
    *out = NULL;
    safetensors *s = io_input_adopt(sizeof *s, buf, len);
    if (!s) return DDPM_ERR;
    snprintf(s->label, sizeof s->label, "%s", label ? label : "(memory)");
    if (parse(s) != DDPM_OK) {
        safetensors_close(s);
        return DDPM_ERR;
    }
    *out = s;
    return DDPM_OK;
}

int safetensors_open(safetensors **out, const char *path)
{
    *out = NULL;
    uint8_t *buf;
    size_t len;
    DDPM_TRY(io_read_file(path, &buf, &len, 0));
    return open_owned(out, buf, len, path);
}

int safetensors_open_mem(safetensors **out, const void *data, size_t len, const char *label)
{
    *out = NULL;
    uint8_t *buf;
    DDPM_TRY(io_copy_bytes(&buf, data, len));
    return open_owned(out, buf, len, label);
}

void safetensors_close(safetensors *s)
{
    if (!s) return;
    for (int i = 0; i < s->nt; i++) free(s->t[i].name);
    for (int i = 0; i < 2 * s->nmeta; i++) free(s->meta[i]);
    free(s->t);
    free(s->meta);
    free(s->in.buf);
    free(s);
}

int safetensors_num_tensors(const safetensors *s) { return s->nt; }

const char *safetensors_tensor_name(const safetensors *s, int i) { return i >= 0 && i < s->nt ? s->t[i].name : NULL; }

int safetensors_find(const safetensors *s, const char *name)
{
    for (int i = 0; i < s->nt; i++)
        if (!strcmp(s->t[i].name, name)) return i;
    return -1;
}

int safetensors_tensor_info(const safetensors *s, int i, io_dtype *dtype, int *rank, int64_t shape[IO_MAX_RANK],
                            uint64_t *nbytes)
{
    if (i < 0 || i >= s->nt) return serr(s, "tensor index %d out of range", i);
    const st_tensor *t = &s->t[i];
    if (dtype) *dtype = t->dtype;
    if (rank) *rank = t->rank;
    if (shape)
        for (int k = 0; k < t->rank; k++) shape[k] = t->shape[k];
    if (nbytes) *nbytes = t->end - t->begin;
    return DDPM_OK;
}

const uint8_t *safetensors_tensor_data(const safetensors *s, int i)
{
    return i >= 0 && i < s->nt ? s->data + s->t[i].begin : NULL;
}

int safetensors_get_f32(const safetensors *s, int i, float **out)
{
    *out = NULL;
    if (i < 0 || i >= s->nt) return serr(s, "tensor index %d out of range", i);
    const st_tensor *t = &s->t[i];
    if (!io_is_float(t->dtype)) return serr(s, "tensor '%s' is %s, not a float type", t->name, io_dtype_name(t->dtype));
    size_t n = (size_t)((t->end - t->begin) / io_dtype_size(t->dtype));
    float *x = ddpm_alloc((n ? n : 1) * sizeof *x);
    if (!x) return DDPM_ERR;
    io_to_f32(x, s->data + t->begin, t->dtype, n);
    *out = x;
    return DDPM_OK;
}

const char *safetensors_metadata(const safetensors *s, const char *key)
{
    for (int i = 0; i < s->nmeta; i++)
        if (!strcmp(s->meta[2 * i], key)) return s->meta[2 * i + 1];
    return NULL;
}

/* ---- writer ------------------------------------------------------------------------------ */

typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < b->len + n + 1) nc *= 2;
        char *q = realloc(b->p, nc);
        if (!q) {
            b->failed = 1;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_printf(sbuf *b, const char *fmt, ...) DDPM_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void sb_jstr(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            sb_put(b, "\\", 1);
            sb_put(b, s, 1);
        } else if (c < 0x20) sb_printf(b, "\\u%04x", c);
        else sb_put(b, s, 1);
    }
    sb_put(b, "\"", 1);
}

int safetensors_write(const char *path, const safetensors_tensor *t, int n, const char *const *meta, int nmeta)
{
    sbuf h = { 0 };
    sb_put(&h, "{", 1);
    if (nmeta > 0) {
        sb_jstr(&h, "__metadata__");
        sb_put(&h, ":{", 2);
        for (int k = 0; k < nmeta; k++) {
            if (k) sb_put(&h, ",", 1);
            sb_jstr(&h, meta[2 * k]);
            sb_put(&h, ":", 1);
            sb_jstr(&h, meta[2 * k + 1]);
        }
        sb_put(&h, "}", 1);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const char *code = dtype_code(t[i].dtype);
        if (!code) {
            free(h.p);
            return ddpm_error("%s: tensor %s: dtype has no safetensors code", path, t[i].name);
        }
        uint64_t numel = 1;
        for (int k = 0; k < t[i].rank; k++) numel *= (uint64_t)t[i].shape[k];
        uint64_t bytes = numel * io_dtype_size(t[i].dtype);
        if (i || nmeta > 0) sb_put(&h, ",", 1);
        sb_jstr(&h, t[i].name);
        sb_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", code);
        for (int k = 0; k < t[i].rank; k++) sb_printf(&h, "%s%lld", k ? "," : "", (long long)t[i].shape[k]);
        sb_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + bytes));
        off += bytes;
    }
    sb_put(&h, "}", 1);
    while (!h.failed && h.len % 8) sb_put(&h, " ", 1);
    if (h.failed) {
        free(h.p);
        return ddpm_error("out of memory writing %s", path);
    }
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        free(h.p);
        return ddpm_error("%s: cannot create (is the directory writable?)", path);
    }
    uint8_t len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (uint8_t)((uint64_t)h.len >> (8 * k));
    int ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(h.p, 1, h.len, fp) == h.len;
    free(h.p);
    for (int i = 0; i < n && ok; i++) {
        uint64_t numel = 1;
        for (int k = 0; k < t[i].rank; k++) numel *= (uint64_t)t[i].shape[k];
        size_t bytes = (size_t)(numel * io_dtype_size(t[i].dtype));
        ok = fwrite(t[i].data, 1, bytes, fp) == bytes;
    }
    if (ok) ok = fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    if (fclose(fp) != 0) ok = 0;
    if (!ok) return ddpm_error("%s: write failed (disk full?)", path);
    return DDPM_OK;
}
