/* pth.c — torch.save reader: zip container, legacy stream, and the pickle subset they use.
 * Format notes are in pth.h. Every read is bounds-checked against the file buffer. */
#include "io/pth.h"

#include "core/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ------------------------------------------------------------------------------------------ */
/* A bump allocator owning every pickle value, name and key; freed with the file.            */

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} arena_block;

typedef struct {
    arena_block *head;
} arena;

static void *arena_alloc(arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        arena_block *b = malloc(sizeof *b + cap);
        if (!b) {
            ddpm_error("out of memory reading a .pth file");
            return NULL;
        }
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

static void arena_free(arena *a)
{
    while (a->head) {
        arena_block *n = a->head->next;
        free(a->head);
        a->head = n;
    }
}

static char *arena_strndup(arena *a, const void *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* File model                                                                                  */

typedef struct {
    const char *key;
    pth_dtype dtype;
    int64_t numel;
    const uint8_t *data;   /* NULL until resolved against the container */
} storage_rec;

typedef struct {
    const char *name;
    pth_dtype dtype;
    int rank;
    int64_t shape[PTH_MAX_RANK];
    int64_t stride[PTH_MAX_RANK];
    int64_t offset;        /* elements from the start of the root storage */
    int storage;
} tensor_rec;

struct pth_file {
    uint8_t *buf;
    size_t len;
    char label[256];
    int zip;
    arena A;
    storage_rec *st;
    int nst, capst;
    tensor_rec *defs;      /* every tensor the pickle built (unnamed) */
    int ndefs, capdefs;
    tensor_rec *t;         /* named tensors, dict order */
    int nt, capt;
};

static int ferr(const pth_file *f, const char *fmt, ...) DDPM_PRINTF(2, 3);
static int ferr(const pth_file *f, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* messages quote names and keys from the file: keep them one printable line */
    for (char *c = msg; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    return ddpm_error("%s: %s", f->label, msg);
}

static int grow(void **p, int *cap, int need, size_t elem)
{
    if (need <= *cap) return DDPM_OK;
    int nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return ddpm_error("out of memory reading a .pth file");
    *p = q;
    *cap = nc;
    return DDPM_OK;
}

static size_t dtype_size(pth_dtype t)
{
    switch (t) {
    case PTH_F64: case PTH_I64: return 8;
    case PTH_F32: case PTH_I32: return 4;
    case PTH_F16: case PTH_BF16: case PTH_I16: return 2;
    default: return 1;
    }
}

const char *pth_dtype_name(pth_dtype t)
{
    static const char *names[] = { "float32", "float64", "float16", "bfloat16", "int64",
                                   "int32",   "int16",   "int8",    "uint8",    "bool" };
    return (unsigned)t < DDPM_ARRAY_LEN(names) ? names[t] : "?";
}

static const struct {
    const char *global;
    pth_dtype dtype;
} storage_types[] = {
    { "torch.FloatStorage", PTH_F32 },  { "torch.DoubleStorage", PTH_F64 },
    { "torch.HalfStorage", PTH_F16 },   { "torch.BFloat16Storage", PTH_BF16 },
    { "torch.LongStorage", PTH_I64 },   { "torch.IntStorage", PTH_I32 },
    { "torch.ShortStorage", PTH_I16 },  { "torch.CharStorage", PTH_I8 },
    { "torch.ByteStorage", PTH_U8 },    { "torch.BoolStorage", PTH_BOOL },
};

/* ------------------------------------------------------------------------------------------ */
/* Pickle values                                                                               */

enum {
    V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_BYTES, V_BIGINT, V_TUPLE, V_LIST, V_DICT,
    V_GLOBAL, V_STORAGE, V_TENSOR, V_OBJECT
};

typedef struct val val;
struct val {
    int kind;
    int64_t i;          /* INT, BOOL; STORAGE: storage index; TENSOR: defs index */
    double f;
    const char *s;      /* STR/BYTES/BIGINT bytes; GLOBAL "module.name"; OBJECT: callable */
    size_t slen;
    val **items;        /* TUPLE/LIST: n items; DICT: n pairs stored as 2n */
    size_t n, cap;
    int64_t view_off;   /* STORAGE: element offset and length of a legacy storage view */
    int64_t view_len;
};

typedef struct {
    pth_file *f;
    const uint8_t *start, *p, *end;
    const char *what;   /* which pickle, for messages */
    val **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    val **memo;
    size_t memo_cap, memo_count;
} unpickler;

static int uerr(const unpickler *u, const char *fmt, ...) DDPM_PRINTF(2, 3);
static int uerr(const unpickler *u, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ferr(u->f, "%s at byte %zu: %s", u->what, (size_t)(u->p - u->start), msg);
}

static val *newval(unpickler *u, int kind)
{
    val *v = arena_alloc(&u->f->A, sizeof *v);
    if (v) v->kind = kind;
    return v;
}

static int push(unpickler *u, val *v)
{
    if (!v) return DDPM_ERR;
    if (u->sp == u->scap) {
        size_t nc = u->scap ? u->scap * 2 : 64;
        val **q = realloc(u->stack, nc * sizeof *q);
        if (!q) return ddpm_error("out of memory unpickling");
        u->stack = q;
        u->scap = nc;
    }
    u->stack[u->sp++] = v;
    return DDPM_OK;
}

static int pop(unpickler *u, val **out)
{
    size_t floor_ = u->nmarks ? u->marks[u->nmarks - 1] : 0;
    if (u->sp <= floor_) return uerr(u, "pickle stack underflow");
    *out = u->stack[--u->sp];
    return DDPM_OK;
}

static int top(unpickler *u, val **out)
{
    size_t floor_ = u->nmarks ? u->marks[u->nmarks - 1] : 0;
    if (u->sp <= floor_) return uerr(u, "pickle stack underflow");
    *out = u->stack[u->sp - 1];
    return DDPM_OK;
}

/* Pops everything above the last MARK; *base = first item, *n = count. */
static int pop_mark(unpickler *u, val ***base, size_t *n)
{
    if (!u->nmarks) return uerr(u, "pickle MARK missing");
    size_t m = u->marks[--u->nmarks];
    *base = u->stack ? u->stack + m : NULL;   /* MARK on a never-used stack: NULL + 0 is UB */
    *n = u->sp - m;
    u->sp = m;
    return DDPM_OK;
}

static val *make_seq(unpickler *u, int kind, val **items, size_t n)
{
    val *v = newval(u, kind);
    if (!v) return NULL;
    if (n) {
        v->items = arena_alloc(&u->f->A, n * sizeof *v->items);
        if (!v->items) return NULL;
        memcpy(v->items, items, n * sizeof *items);
    }
    v->n = v->cap = n;
    return v;
}

/* Appends k items to a list (k==1) or k/2 pairs to a dict. */
static int seq_append(unpickler *u, val *seq, val **items, size_t k)
{
    size_t have = seq->kind == V_DICT ? 2 * seq->n : seq->n;
    size_t cap = seq->kind == V_DICT ? 2 * seq->cap : seq->cap;
    if (have + k > cap) {
        size_t nc = cap ? cap * 2 : 8;
        while (nc < have + k) nc *= 2;
        val **q = arena_alloc(&u->f->A, nc * sizeof *q);
        if (!q) return DDPM_ERR;
        if (have) memcpy(q, seq->items, have * sizeof *q);
        seq->items = q;
        seq->cap = seq->kind == V_DICT ? nc / 2 : nc;
    }
    memcpy(seq->items + have, items, k * sizeof *items);
    seq->n += seq->kind == V_DICT ? k / 2 : k;
    return DDPM_OK;
}

static int memo_put(unpickler *u, uint64_t idx, val *v)
{
    /* A valid pickle never has more memo slots than bytes. */
    if (idx > (uint64_t)(u->end - u->start)) return uerr(u, "memo index %llu out of range", (unsigned long long)idx);
    if (idx >= u->memo_cap) {
        size_t nc = u->memo_cap ? u->memo_cap : 64;
        while (nc <= idx) nc *= 2;
        val **q = realloc(u->memo, nc * sizeof *q);
        if (!q) return ddpm_error("out of memory unpickling");
        memset(q + u->memo_cap, 0, (nc - u->memo_cap) * sizeof *q);
        u->memo = q;
        u->memo_cap = nc;
    }
    if (!u->memo[idx]) u->memo_count++;
    u->memo[idx] = v;
    return DDPM_OK;
}

static int memo_get(unpickler *u, uint64_t idx)
{
    if (idx >= u->memo_cap || !u->memo[idx])
        return uerr(u, "memo index %llu was never stored", (unsigned long long)idx);
    return push(u, u->memo[idx]);
}

static int need(unpickler *u, size_t n)
{
    if ((size_t)(u->end - u->p) < n) return uerr(u, "pickle truncated (needs %zu more bytes)", n);
    return DDPM_OK;
}

static uint64_t rd_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--) v = (v << 8) | p[k];
    return v;
}

static int is_str(const val *v, const char *s)
{
    return v && v->kind == V_STR && v->slen == strlen(s) && !memcmp(v->s, s, v->slen);
}

/* ------------------------------------------------------------------------------------------ */
/* Storages and tensors                                                                        */

static int storage_ref(unpickler *u, const char *key, size_t keylen, pth_dtype dt, int64_t numel)
{
    pth_file *f = u->f;
    for (int k = 0; k < f->nst; k++)
        if (strlen(f->st[k].key) == keylen && !memcmp(f->st[k].key, key, keylen)) {
            if (f->st[k].dtype != dt || f->st[k].numel != numel)
                return uerr(u, "storage '%s' referenced with two different types or sizes", f->st[k].key);
            return k;
        }
    if (grow((void **)&f->st, &f->capst, f->nst + 1, sizeof *f->st)) return DDPM_ERR;
    storage_rec *s = &f->st[f->nst];
    memset(s, 0, sizeof *s);
    s->key = arena_strndup(&f->A, key, keylen);
    if (!s->key) return DDPM_ERR;
    s->dtype = dt;
    s->numel = numel;
    return f->nst++;
}

/* persistent id ('storage', torch.XStorage, key, location, numel[, view_metadata]) */
static int persistent_load(unpickler *u, val *pid, val **out)
{
    if (pid->kind != V_TUPLE || pid->n < 5 || !is_str(pid->items[0], "storage"))
        return uerr(u, "persistent id is not a ('storage', ...) tuple");
    val *type = pid->items[1], *key = pid->items[2], *numel = pid->items[4];
    if (type->kind != V_GLOBAL) return uerr(u, "storage type is not a class reference");
    int dt = -1;
    for (size_t k = 0; k < DDPM_ARRAY_LEN(storage_types); k++)
        if (!strcmp(type->s, storage_types[k].global)) dt = (int)storage_types[k].dtype;
    if (dt < 0) return uerr(u, "unsupported storage type %s", type->s);
    if (key->kind != V_STR || key->slen == 0 || key->slen > 200) return uerr(u, "bad storage key");
    if (numel->kind != V_INT || numel->i < 0 || numel->i > ((int64_t)1 << 48))
        return uerr(u, "bad storage size");
    int idx = storage_ref(u, key->s, key->slen, (pth_dtype)dt, numel->i);
    if (idx < 0) return DDPM_ERR;
    val *v = newval(u, V_STORAGE);
    if (!v) return DDPM_ERR;
    v->i = idx;
    v->view_off = 0;
    v->view_len = numel->i;
    if (pid->n >= 6 && pid->items[5]->kind != V_NONE) {
        /* legacy storage view: (view_key, offset, size) into the root storage */
        val *vm = pid->items[5];
        if (vm->kind != V_TUPLE || vm->n != 3 || vm->items[1]->kind != V_INT ||
            vm->items[2]->kind != V_INT)
            return uerr(u, "bad storage view metadata");
        int64_t off = vm->items[1]->i, len = vm->items[2]->i;
        if (off < 0 || len < 0 || off > numel->i || len > numel->i - off)
            return uerr(u, "storage view [%lld, +%lld) outside its storage of %lld elements",
                        (long long)off, (long long)len, (long long)numel->i);
        v->view_off = off;
        v->view_len = len;
    }
    *out = v;
    return DDPM_OK;
}

static int int_tuple(unpickler *u, const val *t, int64_t *dst, int *n, const char *what)
{
    if (t->kind != V_TUPLE && t->kind != V_LIST) return uerr(u, "tensor %s is not a tuple", what);
    if (t->n > PTH_MAX_RANK) return uerr(u, "tensor rank %zu exceeds %d", t->n, PTH_MAX_RANK);
    for (size_t k = 0; k < t->n; k++) {
        if (t->items[k]->kind != V_INT || t->items[k]->i < 0 || t->items[k]->i > ((int64_t)1 << 48))
            return uerr(u, "tensor %s[%zu] is not a valid size", what, k);
        dst[k] = t->items[k]->i;
    }
    *n = (int)t->n;
    return DDPM_OK;
}

/* _rebuild_tensor(_v2)(storage, storage_offset, size, stride, ...) */
static int rebuild_tensor(unpickler *u, val *args, val **out)
{
    pth_file *f = u->f;
    if (args->kind != V_TUPLE || args->n < 4) return uerr(u, "_rebuild_tensor needs 4+ arguments");
    val *st = args->items[0], *off = args->items[1];
    if (st->kind != V_STORAGE) return uerr(u, "_rebuild_tensor argument 0 is not a storage");
    if (off->kind != V_INT || off->i < 0) return uerr(u, "bad tensor storage offset");
    tensor_rec t;
    memset(&t, 0, sizeof t);
    int rs = 0, rt = 0;
    if (int_tuple(u, args->items[2], t.shape, &rs, "size")) return DDPM_ERR;
    if (int_tuple(u, args->items[3], t.stride, &rt, "stride")) return DDPM_ERR;
    if (rs != rt) return uerr(u, "tensor size and stride have different lengths");
    t.rank = rs;
    t.storage = (int)st->i;
    t.dtype = f->st[t.storage].dtype;
    /* every element must lie inside the (view of the) storage */
    int64_t numel = 1, extent = off->i;
    for (int k = 0; k < t.rank; k++) {
        if (__builtin_mul_overflow(numel, t.shape[k], &numel)) return uerr(u, "tensor too large");
    }
    if (numel > 0) {
        for (int k = 0; k < t.rank; k++) {
            int64_t span;
            if (__builtin_mul_overflow(t.shape[k] - 1, t.stride[k], &span) ||
                __builtin_add_overflow(extent, span, &extent))
                return uerr(u, "tensor strides overflow");
        }
        if (extent >= st->view_len)
            return uerr(u, "tensor reaches element %lld of a storage of %lld elements",
                        (long long)extent, (long long)st->view_len);
    }
    t.offset = st->view_off + off->i;
    if (grow((void **)&f->defs, &f->capdefs, f->ndefs + 1, sizeof *f->defs)) return DDPM_ERR;
    f->defs[f->ndefs] = t;
    val *v = newval(u, V_TENSOR);
    if (!v) return DDPM_ERR;
    v->i = f->ndefs++;
    *out = v;
    return DDPM_OK;
}

static int reduce(unpickler *u, val *fn, val *args, val **out)
{
    if (args->kind != V_TUPLE) return uerr(u, "REDUCE arguments are not a tuple");
    const char *name = fn->kind == V_GLOBAL ? fn->s : "";
    if (!strcmp(name, "collections.OrderedDict")) {
        val *d = newval(u, V_DICT);
        if (!d) return DDPM_ERR;
        if (args->n > 0) {
            /* OrderedDict([(k, v), ...]) */
            val *lst = args->items[0];
            if (args->n != 1 || (lst->kind != V_LIST && lst->kind != V_TUPLE))
                return uerr(u, "unsupported OrderedDict arguments");
            for (size_t k = 0; k < lst->n; k++) {
                val *pr = lst->items[k];
                if (pr->kind != V_TUPLE || pr->n != 2) return uerr(u, "OrderedDict item is not a pair");
                if (seq_append(u, d, pr->items, 2)) return DDPM_ERR;
            }
        }
        *out = d;
        return DDPM_OK;
    }
    if (!strcmp(name, "torch._utils._rebuild_tensor_v2") || !strcmp(name, "torch._utils._rebuild_tensor"))
        return rebuild_tensor(u, args, out);
    if (!strcmp(name, "torch._utils._rebuild_parameter") ||
        !strcmp(name, "torch._utils._rebuild_parameter_with_state")) {
        if (args->n < 1 || args->items[0]->kind != V_TENSOR) return uerr(u, "_rebuild_parameter without a tensor");
        *out = args->items[0];
        return DDPM_OK;
    }
    /* anything else becomes an opaque object (skipped when collecting tensors) */
    val *o = newval(u, V_OBJECT);
    if (!o) return DDPM_ERR;
    o->s = fn->kind == V_GLOBAL ? fn->s : "?";
    *out = o;
    return DDPM_OK;
}

static int read_line(unpickler *u, const char **s, size_t *n)
{
    const uint8_t *nl = memchr(u->p, '\n', (size_t)(u->end - u->p));
    if (!nl) return uerr(u, "pickle truncated inside GLOBAL");
    *s = (const char *)u->p;
    *n = (size_t)(nl - u->p);
    if (*n > 256) return uerr(u, "GLOBAL name too long");
    for (size_t k = 0; k < *n; k++)
        if (u->p[k] < 32 || u->p[k] > 126) return uerr(u, "GLOBAL name is not printable");
    u->p = nl + 1;
    return DDPM_OK;
}

static val *make_global(unpickler *u, const char *mod, size_t ml, const char *name, size_t nl)
{
    val *v = newval(u, V_GLOBAL);
    if (!v) return NULL;
    char *s = arena_alloc(&u->f->A, ml + nl + 2);
    if (!s) return NULL;
    memcpy(s, mod, ml);
    s[ml] = '.';
    memcpy(s + ml + 1, name, nl);
    s[ml + nl + 1] = 0;
    v->s = s;
    v->slen = ml + nl + 1;
    return v;
}

static int push_bytes(unpickler *u, int kind, uint64_t len)
{
    if (len > (uint64_t)(u->end - u->p)) return uerr(u, "string of %llu bytes runs past the end", (unsigned long long)len);
    val *v = newval(u, kind);
    if (!v) return DDPM_ERR;
    v->s = arena_strndup(&u->f->A, u->p, (size_t)len);
    if (!v->s) return DDPM_ERR;
    v->slen = (size_t)len;
    u->p += len;
    return push(u, v);
}

static int push_long(unpickler *u, uint64_t n)
{
    if (n > (uint64_t)(u->end - u->p)) return uerr(u, "LONG of %llu bytes runs past the end", (unsigned long long)n);
    if (n <= 8) {
        val *v = newval(u, V_INT);
        if (!v) return DDPM_ERR;
        uint64_t x = n ? rd_le(u->p, (int)n) : 0;
        if (n && n < 8 && (u->p[n - 1] & 0x80)) x |= ~(uint64_t)0 << (8 * n);   /* sign-extend */
        memcpy(&v->i, &x, sizeof x);
        u->p += n;
        return push(u, v);
    }
    return push_bytes(u, V_BIGINT, n);
}

/* Runs the pickle machine until STOP; *result is the top of the stack. */
static int unpickle(unpickler *u, val **result)
{
    for (;;) {
        if (u->p >= u->end) return uerr(u, "pickle truncated (no STOP opcode)");
        uint8_t op = *u->p++;
        val *a, *b, *c, **items = NULL;
        size_t n = 0;
        switch (op) {
        case 0x80: /* PROTO */
            DDPM_TRY(need(u, 1));
            if (*u->p > 5) return uerr(u, "pickle protocol %d is not supported", *u->p);
            u->p++;
            break;
        case 0x95: /* FRAME: a length hint only */
            DDPM_TRY(need(u, 8));
            u->p += 8;
            break;
        case '}': DDPM_TRY(push(u, newval(u, V_DICT))); break;
        case ']': DDPM_TRY(push(u, newval(u, V_LIST))); break;
        case ')': DDPM_TRY(push(u, newval(u, V_TUPLE))); break;
        case '(': /* MARK */
            if (u->nmarks == u->mcap) {
                size_t nc = u->mcap ? u->mcap * 2 : 32;
                size_t *q = realloc(u->marks, nc * sizeof *q);
                if (!q) return ddpm_error("out of memory unpickling");
                u->marks = q;
                u->mcap = nc;
            }
            u->marks[u->nmarks++] = u->sp;
            break;
        case 'X': /* BINUNICODE */
            DDPM_TRY(need(u, 4));
            n = (size_t)rd_le(u->p, 4);
            u->p += 4;
            DDPM_TRY(push_bytes(u, V_STR, n));
            break;
        case 0x8c: /* SHORT_BINUNICODE */
        case 'U':  /* SHORT_BINSTRING */
            DDPM_TRY(need(u, 1));
            n = *u->p++;
            DDPM_TRY(push_bytes(u, V_STR, n));
            break;
        case 0x8d: /* BINUNICODE8 */
            DDPM_TRY(need(u, 8));
            n = (size_t)rd_le(u->p, 8);
            u->p += 8;
            DDPM_TRY(push_bytes(u, V_STR, n));
            break;
        case 'T': /* BINSTRING (signed 4-byte length) */
            DDPM_TRY(need(u, 4));
            if (u->p[3] & 0x80) return uerr(u, "negative BINSTRING length");
            n = (size_t)rd_le(u->p, 4);
            u->p += 4;
            DDPM_TRY(push_bytes(u, V_STR, n));
            break;
        case 'C': /* SHORT_BINBYTES */
            DDPM_TRY(need(u, 1));
            n = *u->p++;
            DDPM_TRY(push_bytes(u, V_BYTES, n));
            break;
        case 'B': /* BINBYTES */
            DDPM_TRY(need(u, 4));
            n = (size_t)rd_le(u->p, 4);
            u->p += 4;
            DDPM_TRY(push_bytes(u, V_BYTES, n));
            break;
        case 'q': /* BINPUT */
            DDPM_TRY(need(u, 1));
            DDPM_TRY(top(u, &a));
            DDPM_TRY(memo_put(u, *u->p++, a));
            break;
        case 'r': /* LONG_BINPUT */
            DDPM_TRY(need(u, 4));
            DDPM_TRY(top(u, &a));
            n = (size_t)rd_le(u->p, 4);
            u->p += 4;
            DDPM_TRY(memo_put(u, n, a));
            break;
        case 0x94: /* MEMOIZE */
            DDPM_TRY(top(u, &a));
            DDPM_TRY(memo_put(u, u->memo_count, a));
            break;
        case 'h': /* BINGET */
            DDPM_TRY(need(u, 1));
            DDPM_TRY(memo_get(u, *u->p++));
            break;
        case 'j': /* LONG_BINGET */
            DDPM_TRY(need(u, 4));
            n = (size_t)rd_le(u->p, 4);
            u->p += 4;
            DDPM_TRY(memo_get(u, n));
            break;
        case 'c': { /* GLOBAL module\nname\n */
            const char *m, *nm;
            size_t ml, nl;
            DDPM_TRY(read_line(u, &m, &ml));
            DDPM_TRY(read_line(u, &nm, &nl));
            DDPM_TRY(push(u, make_global(u, m, ml, nm, nl)));
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            DDPM_TRY(pop(u, &b));
            DDPM_TRY(pop(u, &a));
            if (a->kind != V_STR || b->kind != V_STR || a->slen > 256 || b->slen > 256)
                return uerr(u, "STACK_GLOBAL needs two short strings");
            DDPM_TRY(push(u, make_global(u, a->s, a->slen, b->s, b->slen)));
            break;
        case 'Q': /* BINPERSID */
            DDPM_TRY(pop(u, &a));
            DDPM_TRY(persistent_load(u, a, &b));
            DDPM_TRY(push(u, b));
            break;
        case 't': /* TUPLE */
            DDPM_TRY(pop_mark(u, &items, &n));
            DDPM_TRY(push(u, make_seq(u, V_TUPLE, items, n)));
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            size_t k = (size_t)(op - 0x84);
            size_t floor_ = u->nmarks ? u->marks[u->nmarks - 1] : 0;
            if (u->sp < floor_ + k) return uerr(u, "pickle stack underflow");
            u->sp -= k;
            DDPM_TRY(push(u, make_seq(u, V_TUPLE, u->stack + u->sp, k)));
            break;
        }
        case 'l': /* LIST */
            DDPM_TRY(pop_mark(u, &items, &n));
            DDPM_TRY(push(u, make_seq(u, V_LIST, items, n)));
            break;
        case 'd': /* DICT */
            DDPM_TRY(pop_mark(u, &items, &n));
            if (n % 2) return uerr(u, "DICT with an odd number of items");
            a = newval(u, V_DICT);
            if (!a) return DDPM_ERR;
            if (n) DDPM_TRY(seq_append(u, a, items, n));
            DDPM_TRY(push(u, a));
            break;
        case 'J': /* BININT */
            DDPM_TRY(need(u, 4));
            a = newval(u, V_INT);
            if (!a) return DDPM_ERR;
            a->i = (int32_t)(uint32_t)rd_le(u->p, 4);
            u->p += 4;
            DDPM_TRY(push(u, a));
            break;
        case 'K': /* BININT1 */
            DDPM_TRY(need(u, 1));
            a = newval(u, V_INT);
            if (!a) return DDPM_ERR;
            a->i = *u->p++;
            DDPM_TRY(push(u, a));
            break;
        case 'M': /* BININT2 */
            DDPM_TRY(need(u, 2));
            a = newval(u, V_INT);
            if (!a) return DDPM_ERR;
            a->i = (int64_t)rd_le(u->p, 2);
            u->p += 2;
            DDPM_TRY(push(u, a));
            break;
        case 0x8a: /* LONG1 */
            DDPM_TRY(need(u, 1));
            n = *u->p++;
            DDPM_TRY(push_long(u, n));
            break;
        case 0x8b: /* LONG4 */
            DDPM_TRY(need(u, 4));
            if (u->p[3] & 0x80) return uerr(u, "negative LONG4 length");
            n = (size_t)rd_le(u->p, 4);
            u->p += 4;
            DDPM_TRY(push_long(u, n));
            break;
        case 0x88: case 0x89: /* NEWTRUE, NEWFALSE */
            a = newval(u, V_BOOL);
            if (!a) return DDPM_ERR;
            a->i = op == 0x88;
            DDPM_TRY(push(u, a));
            break;
        case 'N': DDPM_TRY(push(u, newval(u, V_NONE))); break;
        case 'G': { /* BINFLOAT, big-endian */
            DDPM_TRY(need(u, 8));
            uint64_t x = 0;
            for (int k = 0; k < 8; k++) x = (x << 8) | u->p[k];
            u->p += 8;
            a = newval(u, V_FLOAT);
            if (!a) return DDPM_ERR;
            memcpy(&a->f, &x, sizeof x);
            DDPM_TRY(push(u, a));
            break;
        }
        case 'R': /* REDUCE */
            DDPM_TRY(pop(u, &b));
            DDPM_TRY(pop(u, &a));
            DDPM_TRY(reduce(u, a, b, &c));
            DDPM_TRY(push(u, c));
            break;
        case 0x81: /* NEWOBJ cls args */
            DDPM_TRY(pop(u, &b));
            DDPM_TRY(pop(u, &a));
            DDPM_TRY(reduce(u, a, b, &c));
            DDPM_TRY(push(u, c));
            break;
        case 's': /* SETITEM */
            DDPM_TRY(pop(u, &b));
            DDPM_TRY(pop(u, &a));
            DDPM_TRY(top(u, &c));
            if (c->kind != V_DICT) return uerr(u, "SETITEM on a non-dict");
            {
                val *kv[2] = { a, b };
                DDPM_TRY(seq_append(u, c, kv, 2));
            }
            break;
        case 'u': /* SETITEMS */
            DDPM_TRY(pop_mark(u, &items, &n));
            DDPM_TRY(top(u, &c));
            if (c->kind != V_DICT) return uerr(u, "SETITEMS on a non-dict");
            if (n % 2) return uerr(u, "SETITEMS with an odd number of items");
            if (n) DDPM_TRY(seq_append(u, c, items, n));
            break;
        case 'a': /* APPEND */
            DDPM_TRY(pop(u, &b));
            DDPM_TRY(top(u, &c));
            if (c->kind != V_LIST) return uerr(u, "APPEND on a non-list");
            DDPM_TRY(seq_append(u, c, &b, 1));
            break;
        case 'e': /* APPENDS */
            DDPM_TRY(pop_mark(u, &items, &n));
            DDPM_TRY(top(u, &c));
            if (c->kind != V_LIST) return uerr(u, "APPENDS on a non-list");
            for (size_t k = 0; k < n; k++) DDPM_TRY(seq_append(u, c, items + k, 1));
            break;
        case 'b': /* BUILD: object state (e.g. the state_dict's _metadata) is not needed */
            DDPM_TRY(pop(u, &b));
            DDPM_TRY(top(u, &c));
            break;
        case '0': /* POP */
            DDPM_TRY(pop(u, &a));
            break;
        case '1': /* POP_MARK */
            DDPM_TRY(pop_mark(u, &items, &n));
            break;
        case '2': /* DUP */
            DDPM_TRY(top(u, &a));
            DDPM_TRY(push(u, a));
            break;
        case '.': /* STOP */
            if (u->sp == 0) return uerr(u, "STOP with an empty stack");
            *result = u->stack[u->sp - 1];
            return DDPM_OK;
        default:
            u->p--;
            return uerr(u, "unsupported pickle opcode 0x%02x", op);
        }
    }
}

/* Unpickles [*pos, end) and advances *pos past STOP. */
static int run_pickle(pth_file *f, const uint8_t *start, const uint8_t *end, const char *what,
                      val **result, const uint8_t **stop_end)
{
    unpickler u;
    memset(&u, 0, sizeof u);
    u.f = f;
    u.start = u.p = start;
    u.end = end;
    u.what = what;
    int rc = unpickle(&u, result);
    if (stop_end) *stop_end = u.p;
    free(u.stack);
    free(u.marks);
    free(u.memo);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Naming: tensors of the top-level dict, nested dicts joined with '.'                         */

/* *budget: dict entries still allowed. Each entry of a dict the pickle builds costs at least one
 * byte, so visiting more entries than the file has bytes means the same dicts are reached again
 * and again (a 400-byte pickle of 6-way shared dicts 15 deep would take 6^15 visits). */
static int collect(pth_file *f, const val *d, const char *prefix, int depth, size_t *budget)
{
    if (d->kind != V_DICT) return DDPM_OK;
    if (depth > 16) return ferr(f, "dicts nested deeper than 16 levels");
    for (size_t k = 0; k < d->n; k++) {
        if (*budget == 0)
            return ferr(f, "dicts are shared or cyclic (more dict entries than the file has bytes)");
        (*budget)--;
        const val *key = d->items[2 * k], *v = d->items[2 * k + 1];
        if (key->kind != V_STR) continue;
        if (v->kind != V_TENSOR && v->kind != V_DICT) continue;
        size_t pl = strlen(prefix);
        char *name = arena_alloc(&f->A, pl + key->slen + 2);
        if (!name) return DDPM_ERR;
        memcpy(name, prefix, pl);
        memcpy(name + pl, key->s, key->slen);
        name[pl + key->slen] = 0;
        if (memchr(key->s, 0, key->slen)) return ferr(f, "tensor name contains a NUL byte");
        if (v->kind == V_DICT) {
            name[pl + key->slen] = '.';
            name[pl + key->slen + 1] = 0;
            DDPM_TRY(collect(f, v, name, depth + 1, budget));
            continue;
        }
        if (pth_find(f, name) >= 0) return ferr(f, "tensor name '%s' appears twice", name);
        if (grow((void **)&f->t, &f->capt, f->nt + 1, sizeof *f->t)) return DDPM_ERR;
        f->t[f->nt] = f->defs[v->i];
        f->t[f->nt].name = name;
        f->nt++;
    }
    return DDPM_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Zip container                                                                               */

typedef struct {
    const char *name;  /* points into the central directory, not NUL-terminated */
    size_t nlen;
    uint64_t local_off, comp, uncomp, data_off, end;
    uint32_t crc;
    uint16_t flags, method, version, time, date;
} zip_entry;

static uint32_t u16at(const uint8_t *p) { return (uint32_t)rd_le(p, 2); }
static uint32_t u32at(const uint8_t *p) { return (uint32_t)rd_le(p, 4); }

/* Extra fields must tile exactly; zip64 (id 1) supplies the fields that read 0xFFFFFFFF. */
static int parse_extra(const pth_file *f, const uint8_t *p, size_t n, uint64_t *uncomp,
                       uint64_t *comp, uint64_t *off, const char *where)
{
    while (n > 0) {
        if (n < 4) return ferr(f, "zip: malformed extra field in %s", where);
        uint32_t id = u16at(p), sz = u16at(p + 2);
        if (sz > n - 4) return ferr(f, "zip: extra field overruns %s", where);
        if (id == 1) {
            const uint8_t *q = p + 4, *qe = q + sz;
            uint64_t *fields[3] = { uncomp, comp, off };
            for (int k = 0; k < 3; k++) {
                if (!fields[k] || *fields[k] != 0xFFFFFFFFu) continue;
                if (qe - q < 8) return ferr(f, "zip: short zip64 extra field in %s", where);
                *fields[k] = rd_le(q, 8);
                q += 8;
            }
        }
        p += 4 + sz;
        n -= 4 + sz;
    }
    return DDPM_OK;
}

/* Central directory entry k at *pp (advanced past it). */
static int parse_central(const pth_file *f, const uint8_t **pp, const uint8_t *pe, zip_entry *z,
                         uint64_t k)
{
    const uint8_t *p = *pp;
    if (pe - p < 46 || u32at(p) != 0x02014b50u)
        return ferr(f, "zip: central directory entry %llu is corrupt", (unsigned long long)k);
    z->version = (uint16_t)u16at(p + 6);
    z->flags = (uint16_t)u16at(p + 8);
    z->method = (uint16_t)u16at(p + 10);
    z->time = (uint16_t)u16at(p + 12);
    z->date = (uint16_t)u16at(p + 14);
    z->crc = u32at(p + 16);
    z->comp = u32at(p + 20);
    z->uncomp = u32at(p + 24);
    size_t nl = u16at(p + 28), xl = u16at(p + 30), cl = u16at(p + 32);
    if (u16at(p + 34) != 0) return ferr(f, "zip: entry %llu is on another disk", (unsigned long long)k);
    z->local_off = u32at(p + 42);
    if ((size_t)(pe - p) - 46 < nl + xl + cl)
        return ferr(f, "zip: central directory entry %llu overruns", (unsigned long long)k);
    z->name = (const char *)p + 46;
    z->nlen = nl;
    DDPM_TRY(parse_extra(f, p + 46 + nl, xl, &z->uncomp, &z->comp, &z->local_off, "the central directory"));
    *pp = p + 46 + nl + xl + cl;
    return DDPM_OK;
}

/* The local header must agree with the central directory, the entry must be stored (torch
 * never compresses), its data must lie before the central directory and match its CRC-32;
 * sets data_off and end (past the data descriptor, if any). */
static int check_local(const pth_file *f, zip_entry *z, uint64_t cd_off)
{
    const uint8_t *b = f->buf;
    char nm[96];
    snprintf(nm, sizeof nm, "%.*s", (int)(z->nlen < 80 ? z->nlen : 80), z->name);
    if (z->local_off > cd_off || cd_off - z->local_off < 30)
        return ferr(f, "zip: entry %s: local header offset out of range", nm);
    const uint8_t *l = b + z->local_off;
    if (u32at(l) != 0x04034b50u) return ferr(f, "zip: entry %s: local header signature missing", nm);
    size_t nl = u16at(l + 26), xl = u16at(l + 28);
    if (u16at(l + 4) != z->version || u16at(l + 6) != z->flags || u16at(l + 8) != z->method ||
        u16at(l + 10) != z->time || u16at(l + 12) != z->date || nl != z->nlen)
        return ferr(f, "zip: entry %s: local header disagrees with the central directory", nm);
    if (z->flags & 1) return ferr(f, "zip: entry %s is encrypted", nm);
    if (z->method != 0)
        return ferr(f, "zip: entry %s is compressed (method %u); torch.save stores entries "
                    "uncompressed: re-save the file with torch.save", nm, z->method);
    if (cd_off - z->local_off - 30 < nl + xl) return ferr(f, "zip: entry %s: local header overruns", nm);
    if (memcmp(l + 30, z->name, nl))
        return ferr(f, "zip: entry %s: local name differs from the central directory", nm);
    uint64_t lu = u32at(l + 22), lc = u32at(l + 18);
    uint32_t lcrc = u32at(l + 14);
    DDPM_TRY(parse_extra(f, l + 30 + nl, xl, &lu, &lc, NULL, "a local header"));
    int dd = (z->flags & 8) != 0;   /* sizes and CRC may follow the data instead */
    if (!((lcrc == z->crc && lu == z->uncomp && lc == z->comp) || (dd && lcrc == 0 && lu == 0 && lc == 0)))
        return ferr(f, "zip: entry %s: local sizes/CRC disagree with the central directory", nm);
    if (z->comp != z->uncomp)
        return ferr(f, "zip: stored entry %s has different packed and unpacked sizes", nm);
    z->data_off = z->local_off + 30 + nl + xl;
    if (z->comp > cd_off - z->data_off) return ferr(f, "zip: entry %s: data runs into the central directory", nm);
    z->end = z->data_off + z->comp;
    if (dd) { /* data descriptor: [signature] crc, sizes (4 or 8 bytes each) */
        const uint8_t *q = b + z->end;
        size_t room = cd_off - z->end;
        if (room >= 4 && u32at(q) == 0x08074b50u) {
            q += 4;
            room -= 4;
        }
        if (room >= 12 && u32at(q) == z->crc && u32at(q + 4) == z->comp && u32at(q + 8) == z->uncomp)
            q += 12;
        else if (room >= 20 && u32at(q) == z->crc && rd_le(q + 4, 8) == z->comp && rd_le(q + 12, 8) == z->uncomp)
            q += 20;
        else
            return ferr(f, "zip: entry %s: data descriptor missing or wrong", nm);
        z->end = (uint64_t)(q - b);
    }
    if ((uint32_t)crc32_z(0L, b + z->data_off, (z_size_t)z->comp) != z->crc)
        return ferr(f, "zip: entry %s: CRC-32 mismatch (file corrupt)", nm);
    return DDPM_OK;
}

static int zip_entries(pth_file *f, zip_entry **out, int *count)
{
    const uint8_t *b = f->buf;
    size_t len = f->len;
    *out = NULL;
    *count = 0;
    if (len < 22) return ferr(f, "zip: too short for an end-of-central-directory record");
    size_t e = len - 22, lo = len > 22 + 65535 ? len - 22 - 65535 : 0;
    for (;; e--) {
        if (u32at(b + e) == 0x06054b50u && e + 22 + u16at(b + e + 20) == len) break;
        if (e == lo) return ferr(f, "zip: end-of-central-directory record not found (file truncated?)");
    }
    uint64_t ndisk = u16at(b + e + 8), ntotal = u16at(b + e + 10);
    uint64_t cd_size = u32at(b + e + 12), cd_off = u32at(b + e + 16);
    if (u16at(b + e + 4) != 0 || u16at(b + e + 6) != 0 || ndisk != ntotal)
        return ferr(f, "zip: multi-disk archives are not supported");
    size_t cd_end = e;
    if (e >= 20 && u32at(b + e - 20) == 0x07064b50u) {
        /* zip64 locator + record (torch always writes them) */
        uint64_t z = rd_le(b + e - 12, 8);
        if (u32at(b + e - 16) != 0 || u32at(b + e - 4) != 1) return ferr(f, "zip: bad zip64 locator");
        if (z > e - 20 || e - 20 - z < 56 || u32at(b + z) != 0x06064b50u)
            return ferr(f, "zip: zip64 end record not where its locator says");
        if (rd_le(b + z + 4, 8) != e - 20 - z - 12) return ferr(f, "zip: bad zip64 end record size");
        if (u32at(b + z + 16) != 0 || u32at(b + z + 20) != 0 || rd_le(b + z + 24, 8) != rd_le(b + z + 32, 8))
            return ferr(f, "zip: multi-disk archives are not supported");
        uint64_t n64 = rd_le(b + z + 32, 8), s64 = rd_le(b + z + 40, 8), o64 = rd_le(b + z + 48, 8);
        if ((ntotal != 0xFFFF && ntotal != n64) || (cd_size != 0xFFFFFFFFu && cd_size != s64) ||
            (cd_off != 0xFFFFFFFFu && cd_off != o64))
            return ferr(f, "zip: zip64 and classic end records disagree");
        ntotal = n64;
        cd_size = s64;
        cd_off = o64;
        cd_end = (size_t)z;
    }
    if (cd_off > cd_end || cd_size != cd_end - cd_off)
        return ferr(f, "zip: central directory [%llu, +%llu) does not end at the end record",
                    (unsigned long long)cd_off, (unsigned long long)cd_size);
    if (ntotal == 0 || ntotal > cd_size / 46) return ferr(f, "zip: bad entry count %llu", (unsigned long long)ntotal);
    zip_entry *ent = calloc((size_t)ntotal, sizeof *ent);
    if (!ent) return ddpm_error("out of memory");
    const uint8_t *p = b + cd_off, *pe = b + cd_end;
    int rc = DDPM_OK;
    for (uint64_t k = 0; k < ntotal && rc == DDPM_OK; k++) rc = parse_central(f, &p, pe, &ent[k], k);
    if (rc == DDPM_OK && p != pe) rc = ferr(f, "zip: central directory has trailing bytes");
    for (uint64_t k = 0; k < ntotal && rc == DDPM_OK; k++) rc = check_local(f, &ent[k], cd_off);
    /* entries must not overlap */
    for (uint64_t k = 0; k < ntotal && rc == DDPM_OK; k++)
        for (uint64_t j = 0; j < ntotal && rc == DDPM_OK; j++)
            if (j != k && ent[j].local_off >= ent[k].local_off && ent[j].local_off < ent[k].end)
                rc = ferr(f, "zip: entries overlap");
    if (rc != DDPM_OK) {
        free(ent);
        return rc;
    }
    *out = ent;
    *count = (int)ntotal;
    return DDPM_OK;
}

static const zip_entry *zip_find(const zip_entry *ent, int n, const char *prefix, size_t pl,
                                 const char *suffix)
{
    size_t sl = strlen(suffix);
    for (int k = 0; k < n; k++)
        if (ent[k].nlen == pl + sl && !memcmp(ent[k].name, prefix, pl) &&
            !memcmp(ent[k].name + pl, suffix, sl))
            return &ent[k];
    return NULL;
}

static int open_zip(pth_file *f, val **root)
{
    zip_entry *ent;
    int n;
    DDPM_TRY(zip_entries(f, &ent, &n));
    int rc = DDPM_OK;
    const zip_entry *pkl = NULL;
    for (int k = 0; k < n; k++) {
        size_t L = ent[k].nlen;
        if (L >= 8 && !memcmp(ent[k].name + L - 8, "data.pkl", 8) && (L == 8 || ent[k].name[L - 9] == '/')) {
            if (pkl) { rc = ferr(f, "zip: more than one data.pkl"); break; }
            pkl = &ent[k];
        }
    }
    if (rc == DDPM_OK && !pkl) rc = ferr(f, "zip: no data.pkl record (not a torch.save file?)");
    if (rc != DDPM_OK) {
        free(ent);
        return rc;
    }
    const char *prefix = pkl->name;
    size_t pl = pkl->nlen - 8;
    const zip_entry *bo = zip_find(ent, n, prefix, pl, "byteorder");
    if (bo && !(bo->comp == 6 && !memcmp(f->buf + bo->data_off, "little", 6)))
        rc = ferr(f, "zip: byteorder record is not 'little' (big-endian files are not supported)");
    if (rc == DDPM_OK)
        rc = run_pickle(f, f->buf + pkl->data_off, f->buf + pkl->data_off + pkl->comp, "data.pkl",
                        root, NULL);
    for (int s = 0; s < f->nst && rc == DDPM_OK; s++) {
        char key[256];
        snprintf(key, sizeof key, "data/%s", f->st[s].key);
        const zip_entry *z = zip_find(ent, n, prefix, pl, key);
        if (!z) { rc = ferr(f, "zip: storage record %.*s%s is missing", (int)pl, prefix, key); break; }
        uint64_t want = (uint64_t)f->st[s].numel * dtype_size(f->st[s].dtype);
        if (z->comp != want) {
            rc = ferr(f, "zip: storage %s has %llu bytes, expected %llu", key,
                      (unsigned long long)z->comp, (unsigned long long)want);
            break;
        }
        f->st[s].data = f->buf + z->data_off;
    }
    free(ent);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Legacy stream                                                                               */

static int open_legacy(pth_file *f, val **root)
{
    /* 0x1950a86a20f9469cfc6c as a little-endian pickled long */
    static const uint8_t magic[10] = { 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19 };
    const uint8_t *p = f->buf, *end = f->buf + f->len;
    val *v;
    if (f->len < 2 || p[0] != 0x80)
        return ferr(f, "neither a zip archive nor a legacy torch.save stream (unknown header)");
    DDPM_TRY(run_pickle(f, p, end, "magic number", &v, &p));
    if (v->kind != V_BIGINT || v->slen != 10 || memcmp(v->s, magic, 10))
        return ferr(f, "legacy stream: wrong magic number (not a torch.save file)");
    DDPM_TRY(run_pickle(f, p, end, "protocol version", &v, &p));
    if (v->kind != V_INT || v->i != 1001)
        return ferr(f, "legacy stream: unsupported protocol version");
    DDPM_TRY(run_pickle(f, p, end, "sys_info", &v, &p));
    if (v->kind != V_DICT) return ferr(f, "legacy stream: sys_info is not a dict");
    for (size_t k = 0; k < v->n; k++)
        if (is_str(v->items[2 * k], "little_endian") &&
            !(v->items[2 * k + 1]->kind == V_BOOL && v->items[2 * k + 1]->i == 1))
            return ferr(f, "legacy stream: written on a big-endian machine (not supported)");
    DDPM_TRY(run_pickle(f, p, end, "object pickle", root, &p));
    val *keys;
    DDPM_TRY(run_pickle(f, p, end, "storage key list", &keys, &p));
    if (keys->kind != V_LIST) return ferr(f, "legacy stream: storage keys are not a list");
    for (size_t k = 0; k < keys->n; k++) {
        const val *key = keys->items[k];
        if (key->kind != V_STR) return ferr(f, "legacy stream: storage key %zu is not a string", k);
        int s = -1;
        for (int j = 0; j < f->nst; j++)
            if (strlen(f->st[j].key) == key->slen && !memcmp(f->st[j].key, key->s, key->slen)) s = j;
        if (s < 0)
            return ferr(f, "legacy stream: storage '%.*s' is not used by any tensor",
                        (int)(key->slen < 64 ? key->slen : 64), key->s);
        if (f->st[s].data) return ferr(f, "legacy stream: storage '%s' listed twice", f->st[s].key);
        if (end - p < 8) return ferr(f, "legacy stream truncated in storage '%s'", f->st[s].key);
        uint64_t count = rd_le(p, 8);
        p += 8;
        if (count != (uint64_t)f->st[s].numel)
            return ferr(f, "legacy stream: storage '%s' holds %llu elements, the pickle says %lld",
                        f->st[s].key, (unsigned long long)count, (long long)f->st[s].numel);
        uint64_t bytes = count * dtype_size(f->st[s].dtype);
        if ((uint64_t)(end - p) < bytes) return ferr(f, "legacy stream truncated in storage '%s'", f->st[s].key);
        f->st[s].data = p;
        p += bytes;
    }
    for (int s = 0; s < f->nst; s++)
        if (!f->st[s].data) return ferr(f, "legacy stream: storage '%s' has no data", f->st[s].key);
    return DDPM_OK;
}

/* ------------------------------------------------------------------------------------------ */

static int open_owned(pth_file **out, uint8_t *buf, size_t len, const char *label)
{
    *out = NULL;
    pth_file *f = calloc(1, sizeof *f);
    if (!f) {
        free(buf);
        return ddpm_error("out of memory");
    }
    f->buf = buf;
    f->len = len;
    snprintf(f->label, sizeof f->label, "%s", label ? label : "(memory)");
    val *root = NULL;
    f->zip = len >= 4 && u32at(buf) == 0x04034b50u;
    int rc = f->zip ? open_zip(f, &root) : open_legacy(f, &root);
    if (rc == DDPM_OK && root->kind != V_DICT)
        rc = ferr(f, "the saved object is not a dict (expected a state_dict)");
    size_t budget = len;
    if (rc == DDPM_OK) rc = collect(f, root, "", 0, &budget);
    if (rc != DDPM_OK) {
        pth_close(f);
        return DDPM_ERR;
    }
    *out = f;
    return DDPM_OK;
}

int pth_open_mem(pth_file **out, const void *data, size_t len, const char *label)
{
    *out = NULL;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) return ddpm_error("out of memory copying %zu bytes", len);
    if (len) memcpy(buf, data, len);
    return open_owned(out, buf, len, label);
}

int pth_open(pth_file **out, const char *path)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ddpm_error("%s: cannot open (does the file exist?)", path);
    uint8_t *buf = NULL;
    off_t len = -1;
    if (fseeko(fp, 0, SEEK_END) == 0) len = ftello(fp);
    if (len < 0 || fseeko(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return ddpm_error("%s: cannot determine the file size", path);
    }
    buf = malloc(len ? (size_t)len : 1);
    if (!buf) {
        fclose(fp);
        return ddpm_error("%s: out of memory reading %lld bytes", path, (long long)len);
    }
    size_t got = fread(buf, 1, (size_t)len, fp);
    fclose(fp);
    if (got != (size_t)len) {
        free(buf);
        return ddpm_error("%s: read error", path);
    }
    return open_owned(out, buf, (size_t)len, path);
}

void pth_close(pth_file *f)
{
    if (!f) return;
    free(f->buf);
    free(f->st);
    free(f->defs);
    free(f->t);
    arena_free(&f->A);
    free(f);
}

int pth_is_zip(const pth_file *f) { return f->zip; }
int pth_num_tensors(const pth_file *f) { return f->nt; }

const char *pth_tensor_name(const pth_file *f, int i)
{
    return i >= 0 && i < f->nt ? f->t[i].name : NULL;
}

int pth_find(const pth_file *f, const char *name)
{
    for (int k = 0; k < f->nt; k++)
        if (!strcmp(f->t[k].name, name)) return k;
    return -1;
}

static const tensor_rec *lookup(const pth_file *f, const char *name)
{
    int k = pth_find(f, name);
    if (k < 0) {
        ferr(f, "no tensor named '%s'", name);
        return NULL;
    }
    return &f->t[k];
}

int pth_tensor_info(const pth_file *f, const char *name, pth_dtype *dtype, int *rank,
                    int64_t shape[PTH_MAX_RANK])
{
    const tensor_rec *t = lookup(f, name);
    if (!t) return DDPM_ERR;
    if (dtype) *dtype = t->dtype;
    if (rank) *rank = t->rank;
    if (shape)
        for (int k = 0; k < t->rank; k++) shape[k] = t->shape[k];
    return DDPM_OK;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023u, bits;
    if (e == 0) {
        if (m == 0) bits = sign;
        else { /* subnormal: renormalize */
            e = 113;
            while (!(m & 1024u)) { m <<= 1; e--; }
            bits = sign | (e << 23) | ((m & 1023u) << 13);
        }
    } else if (e == 31) bits = sign | 0x7F800000u | (m << 13);
    else bits = sign | ((e + 112) << 23) | (m << 13);
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

static double elem_f64(pth_dtype t, const uint8_t *p)
{
    switch (t) {
    case PTH_F32: { float x; memcpy(&x, p, 4); return x; }
    case PTH_F64: { double x; memcpy(&x, p, 8); return x; }
    case PTH_F16: return half_to_float((uint16_t)rd_le(p, 2));
    case PTH_BF16: { uint32_t b = (uint32_t)rd_le(p, 2) << 16; float x; memcpy(&x, &b, 4); return x; }
    case PTH_I64: { int64_t x; memcpy(&x, p, 8); return (double)x; }
    case PTH_I32: { int32_t x; memcpy(&x, p, 4); return x; }
    case PTH_I16: { int16_t x; memcpy(&x, p, 2); return x; }
    case PTH_I8: return (int8_t)p[0];
    case PTH_U8: return p[0];
    case PTH_BOOL: return p[0] != 0;
    }
    return 0;
}

static int64_t elem_i64(pth_dtype t, const uint8_t *p)
{
    switch (t) {
    case PTH_I64: { int64_t x; memcpy(&x, p, 8); return x; }
    case PTH_I32: { int32_t x; memcpy(&x, p, 4); return x; }
    case PTH_I16: { int16_t x; memcpy(&x, p, 2); return x; }
    case PTH_I8: return (int8_t)p[0];
    case PTH_U8: return p[0];
    case PTH_BOOL: return p[0] != 0;
    default: return 0;
    }
}

enum { OUT_F32, OUT_F64, OUT_I64 };

static int materialize(const pth_file *f, const char *name, int kind, void **out, int *rank,
                       int64_t shape[PTH_MAX_RANK])
{
    *out = NULL;
    const tensor_rec *t = lookup(f, name);
    if (!t) return DDPM_ERR;
    if (kind == OUT_I64 && t->dtype <= PTH_BF16)
        return ferr(f, "tensor '%s' is %s, not an integer type", name, pth_dtype_name(t->dtype));
    int64_t numel = 1;
    for (int k = 0; k < t->rank; k++) numel *= t->shape[k];   /* overflow-checked at open */
    if (numel > ((int64_t)1 << 40)) return ferr(f, "tensor '%s' has too many elements", name);
    size_t osz = kind == OUT_F32 ? 4 : 8;
    uint8_t *dst = ddpm_alloc((size_t)(numel ? numel : 1) * osz);
    if (!dst) return DDPM_ERR;
    const uint8_t *base = f->st[t->storage].data;
    size_t es = dtype_size(t->dtype);
    int64_t idx[PTH_MAX_RANK] = { 0 }, off = t->offset;
    for (int64_t i = 0; i < numel; i++) {
        const uint8_t *src = base + (size_t)off * es;
        if (kind == OUT_F32) {
            float x = t->dtype == PTH_F32 ? 0 : (float)elem_f64(t->dtype, src);
            if (t->dtype == PTH_F32) memcpy(&x, src, 4);
            memcpy(dst + 4 * (size_t)i, &x, 4);
        } else if (kind == OUT_F64) {
            double x = elem_f64(t->dtype, src);
            memcpy(dst + 8 * (size_t)i, &x, 8);
        } else {
            int64_t x = elem_i64(t->dtype, src);
            memcpy(dst + 8 * (size_t)i, &x, 8);
        }
        for (int k = t->rank - 1; k >= 0; k--) { /* odometer over the strided index */
            off += t->stride[k];
            if (++idx[k] < t->shape[k]) break;
            off -= t->stride[k] * t->shape[k];
            idx[k] = 0;
        }
    }
    *out = dst;
    if (rank) *rank = t->rank;
    if (shape)
        for (int k = 0; k < t->rank; k++) shape[k] = t->shape[k];
    return DDPM_OK;
}

int pth_get_f32(const pth_file *f, const char *name, float **out, int *rank, int64_t shape[PTH_MAX_RANK])
{
    return materialize(f, name, OUT_F32, (void **)out, rank, shape);
}

int pth_get_f64(const pth_file *f, const char *name, double **out, int *rank, int64_t shape[PTH_MAX_RANK])
{
    return materialize(f, name, OUT_F64, (void **)out, rank, shape);
}

int pth_get_i64(const pth_file *f, const char *name, int64_t **out, int *rank, int64_t shape[PTH_MAX_RANK])
{
    return materialize(f, name, OUT_I64, (void **)out, rank, shape);
}
