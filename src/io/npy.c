/* npy.c — .npy/.npz reader of npy.h. */
#include "io/npy.h"

#include "core/common.h"
#include "io/convert.h"
#include "io/readfile.h"
#include "io/zip.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;
    io_dtype dtype;
    int rank, fortran;
    int64_t shape[IO_MAX_RANK];
    const uint8_t *data;
    uint64_t nbytes;
    uint8_t *owned; /* inflated npz member, or NULL */
} npy_array;

struct npy_file {
    io_input in; /* first: io_input_adopt */
    char label[512];
    int npz;
    npy_array *a;
    int n;
};

#define nerr(f, ...) ddpm_error_in((f)->label, __VA_ARGS__)

/* ---- the header dict ---------------------------------------------------------------------- */

typedef struct {
    const npy_file *f;
    const char *who; /* array name for messages */
    const char *p, *end;
} hp;

static int herr(const hp *h, const char *what) { return nerr(h->f, "npy %s: header: %s", h->who, what); }

static void hws(hp *h)
{
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n')) h->p++;
}

static int hchar(hp *h, char c)
{
    hws(h);
    if (h->p < h->end && *h->p == c) {
        h->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string without escapes, into out[n]. */
static int hstr(hp *h, char *out, size_t n)
{
    hws(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"')) return herr(h, "expected a quoted string");
    char q = *h->p++;
    size_t k = 0;
    while (h->p < h->end && *h->p != q) {
        if (*h->p == '\\' || k + 1 >= n) return herr(h, "unsupported or too long string");
        out[k++] = *h->p++;
    }
    if (h->p >= h->end) return herr(h, "unterminated string");
    h->p++;
    out[k] = 0;
    return DDPM_OK;
}

static int hshape(hp *h, int *rank, int64_t *shape)
{
    *rank = 0;
    if (!hchar(h, '(')) return herr(h, "shape is not a tuple");
    for (;;) {
        if (hchar(h, ')')) return DDPM_OK;
        hws(h);
        if (h->p >= h->end || *h->p < '0' || *h->p > '9') return herr(h, "shape entry is not a non-negative integer");
        if (*rank >= IO_MAX_RANK) return herr(h, "shape has more than 8 dimensions");
        int64_t v = 0;
        while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
            if (v > ((int64_t)1 << 48)) return herr(h, "shape entry too large");
            v = v * 10 + (*h->p++ - '0');
        }
        if (h->p < h->end && *h->p == 'L') h->p++; /* Python 2 longs */
        shape[(*rank)++] = v;
        if (!hchar(h, ',')) {
            if (hchar(h, ')')) return DDPM_OK;
            return herr(h, "expected ',' or ')' in shape");
        }
    }
}

static int descr_dtype(hp *h, const char *d, io_dtype *t)
{
    static const struct {
        const char *code;
        io_dtype t;
    } CODES[] = {
        { "f4", IO_F32 }, { "f8", IO_F64 }, { "f2", IO_F16 }, { "i8", IO_I64 },  { "i4", IO_I32 },
        { "i2", IO_I16 }, { "i1", IO_I8 },  { "u1", IO_U8 },  { "b1", IO_BOOL },
    };
    char order = d[0];
    const char *code = d + 1;
    if (order == '>' && strcmp(code, "i1") && strcmp(code, "u1") && strcmp(code, "b1")) {
        char m[96];
        snprintf(m, sizeof m, "big-endian dtype '%.16s' is not supported (save it little-endian)", d);
        return herr(h, m);
    }
    if (order != '<' && order != '|' && order != '=' && order != '>') code = d;
    for (size_t k = 0; k < DDPM_ARRAY_LEN(CODES); k++)
        if (!strcmp(code, CODES[k].code)) {
            *t = CODES[k].t;
            return DDPM_OK;
        }
    char m[96];
    snprintf(m, sizeof m, "unknown or unsupported dtype '%.16s'", d);
    return herr(h, m);
}

static int parse_header(hp *h, npy_array *a)
{
    int have_d = 0, have_f = 0, have_s = 0;
    if (!hchar(h, '{')) return herr(h, "not a dict");
    for (;;) {
        if (hchar(h, '}')) break;
        char key[32], val[32];
        DDPM_TRY(hstr(h, key, sizeof key));
        if (!hchar(h, ':')) return herr(h, "expected ':'");
        if (!strcmp(key, "descr")) {
            hws(h);
            if (h->p < h->end && *h->p == '[') return herr(h, "structured dtypes are not supported");
            DDPM_TRY(hstr(h, val, sizeof val));
            DDPM_TRY(descr_dtype(h, val, &a->dtype));
            have_d++;
        } else if (!strcmp(key, "fortran_order")) {
            hws(h);
            if ((size_t)(h->end - h->p) >= 4 && !memcmp(h->p, "True", 4)) {
                a->fortran = 1;
                h->p += 4;
            } else if ((size_t)(h->end - h->p) >= 5 && !memcmp(h->p, "False", 5)) {
                a->fortran = 0;
                h->p += 5;
            } else return herr(h, "fortran_order is neither True nor False");
            have_f++;
        } else if (!strcmp(key, "shape")) {
            DDPM_TRY(hshape(h, &a->rank, a->shape));
            have_s++;
        } else {
            return herr(h, "unknown key (expected descr, fortran_order, shape)");
        }
        if (!hchar(h, ',')) {
            if (hchar(h, '}')) break;
            return herr(h, "expected ',' or '}'");
        }
    }
    hws(h);
    if (h->p != h->end) return herr(h, "bytes after the dict");
    if (have_d != 1 || have_f != 1 || have_s != 1) return herr(h, "needs descr, fortran_order and shape exactly once");
    return DDPM_OK;
}

/* One .npy image [p, p+n) into a. */
static int parse_npy(const npy_file *f, const char *who, const uint8_t *p, size_t n, npy_array *a)
{
    if (n < 10 || memcmp(p, "\x93NUMPY", 6)) return nerr(f, "npy %s: no \\x93NUMPY magic (not a .npy array)", who);
    int major = p[6], minor = p[7];
    size_t hl, at;
    if (major == 1) {
        hl = (size_t)p[8] | (size_t)p[9] << 8;
        at = 10;
    } else if (major == 2 || major == 3) {
        if (n < 12) return nerr(f, "npy %s: truncated header", who);
        hl = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
        at = 12;
    } else {
        return nerr(f, "npy %s: format version %d.%d is not supported (1.0, 2.0, 3.0 are)", who, major, minor);
    }
    if (minor != 0) return nerr(f, "npy %s: format version %d.%d is not supported", who, major, minor);
    if (hl > n - at) return nerr(f, "npy %s: header of %zu bytes runs past the end (truncated?)", who, hl);
    hp h = { f, who, (const char *)p + at, (const char *)p + at + hl };
    for (const char *c = h.p; c < h.end; c++)
        if ((unsigned char)*c < 0x20 && *c != '\n' && *c != '\t') return herr(&h, "control byte in the header");
    DDPM_TRY(parse_header(&h, a));
    uint64_t numel = 1;
    for (int k = 0; k < a->rank; k++)
        if (__builtin_mul_overflow(numel, (uint64_t)a->shape[k], &numel))
            return nerr(f, "npy %s: shape overflows", who);
    uint64_t bytes;
    if (__builtin_mul_overflow(numel, (uint64_t)io_dtype_size(a->dtype), &bytes))
        return nerr(f, "npy %s: shape overflows", who);
    size_t have = n - at - hl;
    if (have != bytes)
        return nerr(f, "npy %s: %zu data bytes, but shape and dtype %s need %llu (%s)", who, have,
                    io_dtype_name(a->dtype), (unsigned long long)bytes, have < bytes ? "truncated" : "trailing bytes");
    a->data = p + at + hl;
    a->nbytes = bytes;
    return DDPM_OK;
}

static int add_array(npy_file *f, const char *name, size_t nl, npy_array **out)
{
    npy_array *q = realloc(f->a, (size_t)(f->n + 1) * sizeof *q);
    if (!q) return ddpm_error("out of memory");
    f->a = q;
    npy_array *a = &f->a[f->n];
    memset(a, 0, sizeof *a);
    a->name = malloc(nl + 1);
    if (!a->name) return ddpm_error("out of memory");
    memcpy(a->name, name, nl);
    a->name[nl] = 0;
    f->n++;
    *out = a;
    return DDPM_OK;
}

static int open_npz(npy_file *f)
{
    zip_archive z;
    DDPM_TRY(zip_open(&z, f->in.buf, f->in.len, f->label, 1));
    int rc = DDPM_OK;
    for (int k = 0; k < z.n && rc == DDPM_OK; k++) {
        const zip_entry *e = &z.ent[k];
        size_t nl = e->nlen;
        if (nl >= 4 && !memcmp(e->name + nl - 4, ".npy", 4)) nl -= 4;
        if (memchr(e->name, 0, nl)) {
            rc = nerr(f, "npz: member name contains a NUL byte");
            break;
        }
        for (int j = 0; j < f->n; j++)
            if (strlen(f->a[j].name) == nl && !memcmp(f->a[j].name, e->name, nl))
                rc = nerr(f, "npz: array '%.*s' appears twice", (int)(nl < 64 ? nl : 64), e->name);
        npy_array *a;
        if (rc == DDPM_OK) rc = add_array(f, e->name, nl, &a);
        const uint8_t *d;
        if (rc == DDPM_OK) rc = zip_data(&z, e, &d, &a->owned);
        if (rc == DDPM_OK) rc = parse_npy(f, a->name, d, (size_t)e->uncomp, a);
    }
    zip_close(&z);
    return rc;
}

static int open_owned(npy_file **out, uint8_t *buf, size_t len, const char *label)
{
    *out = NULL;
    npy_file *f = io_input_adopt(sizeof *f, buf, len);
    if (!f) return DDPM_ERR;
    snprintf(f->label, sizeof f->label, "%s", label ? label : "(memory)");
    int rc;
    f->npz = len >= 4 && !memcmp(buf, "PK\3\4", 4);
    if (f->npz) {
        rc = open_npz(f);
    } else {
        /* the array is named after the file: "dir/mu.npy" -> "mu" */
        const char *b = strrchr(f->label, '/');
        b = b ? b + 1 : f->label;
        size_t nl = strlen(b);
        if (nl > 4 && !strcmp(b + nl - 4, ".npy")) nl -= 4;
        npy_array *a;
        rc = add_array(f, b, nl, &a);
        if (rc == DDPM_OK) rc = parse_npy(f, a->name, buf, len, a);
    }
    if (rc != DDPM_OK) {
        npy_close(f);
        return DDPM_ERR;
    }
    *out = f;
    return DDPM_OK;
}

int npy_open(npy_file **out, const char *path)
{
    *out = NULL;
    uint8_t *buf;
    size_t len;
    DDPM_TRY(io_read_file(path, &buf, &len, 0));
    return open_owned(out, buf, len, path);
}

int npy_open_mem(npy_file **out, const void *data, size_t len, const char *label)
{
    *out = NULL;
    uint8_t *buf;
    DDPM_TRY(io_copy_bytes(&buf, data, len));
    return open_owned(out, buf, len, label);
}

void npy_close(npy_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++) {
        free(f->a[i].name);
        free(f->a[i].owned);
    }
    free(f->a);
    free(f->in.buf);
    free(f);
}

int npy_is_npz(const npy_file *f) { return f->npz; }
int npy_num_arrays(const npy_file *f) { return f->n; }
const char *npy_array_name(const npy_file *f, int i) { return i >= 0 && i < f->n ? f->a[i].name : NULL; }

int npy_find(const npy_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->a[i].name, name)) return i;
    return -1;
}

int npy_array_info(const npy_file *f, int i, io_dtype *dtype, int *rank, int64_t shape[IO_MAX_RANK], uint64_t *nbytes,
                   int *fortran)
{
    if (i < 0 || i >= f->n) return nerr(f, "array index %d out of range", i);
    const npy_array *a = &f->a[i];
    if (dtype) *dtype = a->dtype;
    if (rank) *rank = a->rank;
    if (shape)
        for (int k = 0; k < a->rank; k++) shape[k] = a->shape[k];
    if (nbytes) *nbytes = a->nbytes;
    if (fortran) *fortran = a->fortran;
    return DDPM_OK;
}

/* Copies array i in C order, element size osz, via conv. */
static int get(const npy_file *f, int i, int want64, void **out)
{
    *out = NULL;
    if (i < 0 || i >= f->n) return nerr(f, "array index %d out of range", i);
    const npy_array *a = &f->a[i];
    size_t es = io_dtype_size(a->dtype), numel = (size_t)(a->nbytes / es), osz = want64 ? 8 : 4;
    uint8_t *dst = ddpm_alloc((numel ? numel : 1) * osz);
    if (!dst) return DDPM_ERR;
    if (!a->fortran || a->rank < 2) {
        if (want64) io_to_f64((double *)(void *)dst, a->data, a->dtype, numel);
        else io_to_f32((float *)(void *)dst, a->data, a->dtype, numel);
    } else {
        /* C index (i0..ir-1) sits at Fortran offset sum(i_k * prod_{j<k} shape_j) */
        int64_t fstride[IO_MAX_RANK], idx[IO_MAX_RANK] = { 0 }, off = 0;
        fstride[0] = 1;
        for (int k = 1; k < a->rank; k++) fstride[k] = fstride[k - 1] * a->shape[k - 1];
        for (size_t e = 0; e < numel; e++) {
            const uint8_t *src = a->data + (size_t)off * es;
            if (want64) io_to_f64((double *)(void *)(dst + e * 8), src, a->dtype, 1);
            else io_to_f32((float *)(void *)(dst + e * 4), src, a->dtype, 1);
            for (int k = a->rank - 1; k >= 0; k--) {
                off += fstride[k];
                if (++idx[k] < a->shape[k]) break;
                off -= fstride[k] * a->shape[k];
                idx[k] = 0;
            }
        }
    }
    *out = dst;
    return DDPM_OK;
}

int npy_get_f32(const npy_file *f, int i, float **out) { return get(f, i, 0, (void **)out); }
int npy_get_f64(const npy_file *f, int i, double **out) { return get(f, i, 1, (void **)out); }
