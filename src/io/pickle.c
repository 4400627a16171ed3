/* pickle.c — the pickle machine and writer of pickle.h. Every read is bounds-checked. */
#include "io/pickle.h"

#include "core/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pk_arena_block {
    struct pk_arena_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *pk_alloc(pk_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        pk_arena_block *b = malloc(sizeof *b + cap);
        if (!b) {
            ddpm_error("out of memory reading a pickle");
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

void pk_arena_free(pk_arena *a)
{
    while (a->head) {
        pk_arena_block *n = a->head->next;
        free(a->head);
        a->head = n;
    }
}

char *pk_strndup(pk_arena *a, const void *s, size_t n)
{
    char *p = pk_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}
struct pk_vm {
    pk_arena *A;
    const pk_hooks *h;
    const char *label;
    const uint8_t *start, *p, *end;
    const char *what; /* which pickle, for messages */
    pk_val **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    pk_val **memo;
    size_t memo_cap, memo_count;
};

int pk_err(const pk_vm *u, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ddpm_printable(msg); /* messages quote names and keys from the file */
    return ddpm_error("%s: %s at byte %zu: %s", u->label, u->what, (size_t)(u->p - u->start), msg);
}

pk_val *pk_new(pk_vm *u, int kind)
{
    pk_val *v = pk_alloc(u->A, sizeof *v);
    if (v) v->kind = kind;
    return v;
}

static int push(pk_vm *u, pk_val *v)
{
    if (!v) return DDPM_ERR;
    if (u->sp == u->scap) {
        size_t nc = u->scap ? u->scap * 2 : 64;
        pk_val **q = realloc(u->stack, nc * sizeof *q);
        if (!q) return ddpm_error("out of memory unpickling");
        u->stack = q;
        u->scap = nc;
    }
    u->stack[u->sp++] = v;
    return DDPM_OK;
}

static int pop(pk_vm *u, pk_val **out)
{
    size_t floor_ = u->nmarks ? u->marks[u->nmarks - 1] : 0;
    if (u->sp <= floor_) return pk_err(u, "pickle stack underflow");
    *out = u->stack[--u->sp];
    return DDPM_OK;
}

static int top(pk_vm *u, pk_val **out)
{
    size_t floor_ = u->nmarks ? u->marks[u->nmarks - 1] : 0;
    if (u->sp <= floor_) return pk_err(u, "pickle stack underflow");
    *out = u->stack[u->sp - 1];
    return DDPM_OK;
}

/* Pops everything above the last MARK; *base = first item, *n = count. */
static int pop_mark(pk_vm *u, pk_val ***base, size_t *n)
{
    if (!u->nmarks) return pk_err(u, "pickle MARK missing");
    size_t m = u->marks[--u->nmarks];
    *base = u->stack ? u->stack + m : NULL; /* MARK on a never-used stack: NULL + 0 is UB */
    *n = u->sp - m;
    u->sp = m;
    return DDPM_OK;
}

static pk_val *make_seq(pk_vm *u, int kind, pk_val **items, size_t n)
{
    pk_val *v = pk_new(u, kind);
    if (!v) return NULL;
    if (n) {
        v->items = pk_alloc(u->A, n * sizeof *v->items);
        if (!v->items) return NULL;
        memcpy(v->items, items, n * sizeof *items);
    }
    v->n = v->cap = n;
    return v;
}

/* Appends k items to a list (k==1) or k/2 pairs to a dict. */
int pk_seq_append(pk_vm *u, pk_val *seq, pk_val **items, size_t k)
{
    size_t have = seq->kind == PK_DICT ? 2 * seq->n : seq->n;
    size_t cap = seq->kind == PK_DICT ? 2 * seq->cap : seq->cap;
    if (have + k > cap) {
        size_t nc = cap ? cap * 2 : 8;
        while (nc < have + k) nc *= 2;
        pk_val **q = pk_alloc(u->A, nc * sizeof *q);
        if (!q) return DDPM_ERR;
        if (have) memcpy(q, seq->items, have * sizeof *q);
        seq->items = q;
        seq->cap = seq->kind == PK_DICT ? nc / 2 : nc;
    }
    memcpy(seq->items + have, items, k * sizeof *items);
    seq->n += seq->kind == PK_DICT ? k / 2 : k;
    return DDPM_OK;
}

static int memo_put(pk_vm *u, uint64_t idx, pk_val *v)
{
    /* A valid pickle never has more memo slots than bytes. */
    if (idx > (uint64_t)(u->end - u->start)) return pk_err(u, "memo index %llu out of range", (unsigned long long)idx);
    if (idx >= u->memo_cap) {
        size_t nc = u->memo_cap ? u->memo_cap : 64;
        while (nc <= idx) nc *= 2;
        pk_val **q = realloc(u->memo, nc * sizeof *q);
        if (!q) return ddpm_error("out of memory unpickling");
        memset(q + u->memo_cap, 0, (nc - u->memo_cap) * sizeof *q);
        u->memo = q;
        u->memo_cap = nc;
    }
    if (!u->memo[idx]) u->memo_count++;
    u->memo[idx] = v;
    return DDPM_OK;
}

static int memo_get(pk_vm *u, uint64_t idx)
{
    if (idx >= u->memo_cap || !u->memo[idx])
        return pk_err(u, "memo index %llu was never stored", (unsigned long long)idx);
    return push(u, u->memo[idx]);
}

static int need(pk_vm *u, size_t n)
{
    if ((size_t)(u->end - u->p) < n) return pk_err(u, "pickle truncated (needs %zu more bytes)", n);
    return DDPM_OK;
}

static uint64_t rd_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--) v = (v << 8) | p[k];
    return v;
}

int pk_is_str(const pk_val *v, const char *s)
{
    return v && v->kind == PK_STR && v->slen == strlen(s) && !memcmp(v->s, s, v->slen);
}

static int reduce(pk_vm *u, pk_val *fn, pk_val *args, pk_val **out)
{
    if (args->kind != PK_TUPLE) return pk_err(u, "REDUCE arguments are not a tuple");
    const char *name = fn->kind == PK_GLOBAL ? fn->s : "";
    if (!strcmp(name, "collections.OrderedDict")) {
        pk_val *d = pk_new(u, PK_DICT);
        if (!d) return DDPM_ERR;
        if (args->n > 0) {
            /* OrderedDict([(k, v), ...]) */
            pk_val *lst = args->items[0];
            if (args->n != 1 || (lst->kind != PK_LIST && lst->kind != PK_TUPLE))
                return pk_err(u, "unsupported OrderedDict arguments");
            for (size_t k = 0; k < lst->n; k++) {
                pk_val *pr = lst->items[k];
                if (pr->kind != PK_TUPLE || pr->n != 2) return pk_err(u, "OrderedDict item is not a pair");
                if (pk_seq_append(u, d, pr->items, 2)) return DDPM_ERR;
            }
        }
        *out = d;
        return DDPM_OK;
    }
    if (u->h && u->h->reduce) {
        int rc = u->h->reduce(u, name, args, out);
        if (rc != PK_NOT_MINE) return rc;
    }
    /* anything else becomes an opaque object (skipped when collecting tensors) */
    pk_val *o = pk_new(u, PK_OBJECT);
    if (!o) return DDPM_ERR;
    o->s = fn->kind == PK_GLOBAL ? fn->s : "?";
    *out = o;
    return DDPM_OK;
}

static int read_line(pk_vm *u, const char **s, size_t *n)
{
    const uint8_t *nl = memchr(u->p, '\n', (size_t)(u->end - u->p));
    if (!nl) return pk_err(u, "pickle truncated inside GLOBAL");
    *s = (const char *)u->p;
    *n = (size_t)(nl - u->p);
    if (*n > 256) return pk_err(u, "GLOBAL name too long");
    for (size_t k = 0; k < *n; k++)
        if (u->p[k] < 32 || u->p[k] > 126) return pk_err(u, "GLOBAL name is not printable");
    u->p = nl + 1;
    return DDPM_OK;
}

static pk_val *make_global(pk_vm *u, const char *mod, size_t ml, const char *name, size_t nl)
{
    pk_val *v = pk_new(u, PK_GLOBAL);
    if (!v) return NULL;
    char *s = pk_alloc(u->A, ml + nl + 2);
    if (!s) return NULL;
    memcpy(s, mod, ml);
    s[ml] = '.';
    memcpy(s + ml + 1, name, nl);
    s[ml + nl + 1] = 0;
    v->s = s;
    v->slen = ml + nl + 1;
    return v;
}

static int push_bytes(pk_vm *u, int kind, uint64_t len)
{
    if (len > (uint64_t)(u->end - u->p))
        return pk_err(u, "string of %llu bytes runs past the end", (unsigned long long)len);
    pk_val *v = pk_new(u, kind);
    if (!v) return DDPM_ERR;
    v->s = pk_strndup(u->A, u->p, (size_t)len);
    if (!v->s) return DDPM_ERR;
    v->slen = (size_t)len;
    u->p += len;
    return push(u, v);
}

static int push_long(pk_vm *u, uint64_t n)
{
    if (n > (uint64_t)(u->end - u->p)) return pk_err(u, "LONG of %llu bytes runs past the end", (unsigned long long)n);
    if (n <= 8) {
        pk_val *v = pk_new(u, PK_INT);
        if (!v) return DDPM_ERR;
        uint64_t x = n ? rd_le(u->p, (int)n) : 0;
        if (n && n < 8 && (u->p[n - 1] & 0x80)) x |= ~(uint64_t)0 << (8 * n); /* sign-extend */
        memcpy(&v->i, &x, sizeof x);
        u->p += n;
        return push(u, v);
    }
    return push_bytes(u, PK_BIGINT, n);
}

/* Runs the pickle machine until STOP; *result is the top of the stack. */
static int unpickle(pk_vm *u, pk_val **result)
{
    for (;;) {
        if (u->p >= u->end) return pk_err(u, "pickle truncated (no STOP opcode)");
        uint8_t op = *u->p++;
        pk_val *a, *b, *c, **items = NULL;
        size_t n = 0;
        switch (op) {
        case 0x80: /* PROTO */
            DDPM_TRY(need(u, 1));
            if (*u->p > 5) return pk_err(u, "pickle protocol %d is not supported", *u->p);
            u->p++;
            break;
        case 0x95: /* FRAME: a length hint only */
            DDPM_TRY(need(u, 8));
            u->p += 8;
            break;
        case '}': DDPM_TRY(push(u, pk_new(u, PK_DICT))); break;
        case ']': DDPM_TRY(push(u, pk_new(u, PK_LIST))); break;
        case ')': DDPM_TRY(push(u, pk_new(u, PK_TUPLE))); break;
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
            DDPM_TRY(push_bytes(u, PK_STR, n));
            break;
        case 0x8c: /* SHORT_BINUNICODE */
        case 'U':  /* SHORT_BINSTRING */
            DDPM_TRY(need(u, 1));
            n = *u->p++;
            DDPM_TRY(push_bytes(u, PK_STR, n));
            break;
        case 0x8d: /* BINUNICODE8 */
            DDPM_TRY(need(u, 8));
            n = (size_t)rd_le(u->p, 8);
            u->p += 8;
            DDPM_TRY(push_bytes(u, PK_STR, n));
            break;
        case 'T': /* BINSTRING (signed 4-byte length) */
            DDPM_TRY(need(u, 4));
            if (u->p[3] & 0x80) return pk_err(u, "negative BINSTRING length");
            n = (size_t)rd_le(u->p, 4);
            u->p += 4;
            DDPM_TRY(push_bytes(u, PK_STR, n));
            break;
        case 'C': /* SHORT_BINBYTES */
            DDPM_TRY(need(u, 1));
            n = *u->p++;
            DDPM_TRY(push_bytes(u, PK_BYTES, n));
            break;
        case 'B': /* BINBYTES */
            DDPM_TRY(need(u, 4));
            n = (size_t)rd_le(u->p, 4);
            u->p += 4;
            DDPM_TRY(push_bytes(u, PK_BYTES, n));
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
            if (a->kind != PK_STR || b->kind != PK_STR || a->slen > 256 || b->slen > 256)
                return pk_err(u, "STACK_GLOBAL needs two short strings");
            DDPM_TRY(push(u, make_global(u, a->s, a->slen, b->s, b->slen)));
            break;
        case 'Q': /* BINPERSID */
            DDPM_TRY(pop(u, &a));
            if (!u->h || !u->h->persistent_load) return pk_err(u, "persistent id without a loader");
            DDPM_TRY(u->h->persistent_load(u, a, &b));
            DDPM_TRY(push(u, b));
            break;
        case 't': /* TUPLE */
            DDPM_TRY(pop_mark(u, &items, &n));
            DDPM_TRY(push(u, make_seq(u, PK_TUPLE, items, n)));
            break;
        case 0x85:
        case 0x86:
        case 0x87: { /* TUPLE1..3 */
            size_t k = (size_t)(op - 0x84);
            size_t floor_ = u->nmarks ? u->marks[u->nmarks - 1] : 0;
            if (u->sp < floor_ + k) return pk_err(u, "pickle stack underflow");
            u->sp -= k;
            DDPM_TRY(push(u, make_seq(u, PK_TUPLE, u->stack + u->sp, k)));
            break;
        }
        case 'l': /* LIST */
            DDPM_TRY(pop_mark(u, &items, &n));
            DDPM_TRY(push(u, make_seq(u, PK_LIST, items, n)));
            break;
        case 'd': /* DICT */
            DDPM_TRY(pop_mark(u, &items, &n));
            if (n % 2) return pk_err(u, "DICT with an odd number of items");
            a = pk_new(u, PK_DICT);
            if (!a) return DDPM_ERR;
            if (n) DDPM_TRY(pk_seq_append(u, a, items, n));
            DDPM_TRY(push(u, a));
            break;
        case 'J': /* BININT */
            DDPM_TRY(need(u, 4));
            a = pk_new(u, PK_INT);
            if (!a) return DDPM_ERR;
            a->i = (int32_t)(uint32_t)rd_le(u->p, 4);
            u->p += 4;
            DDPM_TRY(push(u, a));
            break;
        case 'K': /* BININT1 */
            DDPM_TRY(need(u, 1));
            a = pk_new(u, PK_INT);
            if (!a) return DDPM_ERR;
            a->i = *u->p++;
            DDPM_TRY(push(u, a));
            break;
        case 'M': /* BININT2 */
            DDPM_TRY(need(u, 2));
            a = pk_new(u, PK_INT);
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
            if (u->p[3] & 0x80) return pk_err(u, "negative LONG4 length");
            n = (size_t)rd_le(u->p, 4);
            u->p += 4;
            DDPM_TRY(push_long(u, n));
            break;
        case 0x88:
        case 0x89: /* NEWTRUE, NEWFALSE */
            a = pk_new(u, PK_BOOL);
            if (!a) return DDPM_ERR;
            a->i = op == 0x88;
            DDPM_TRY(push(u, a));
            break;
        case 'N': DDPM_TRY(push(u, pk_new(u, PK_NONE))); break;
        case 'G': { /* BINFLOAT, big-endian */
            DDPM_TRY(need(u, 8));
            uint64_t x = 0;
            for (int k = 0; k < 8; k++) x = (x << 8) | u->p[k];
            u->p += 8;
            a = pk_new(u, PK_FLOAT);
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
            if (c->kind != PK_DICT) return pk_err(u, "SETITEM on a non-dict");
            {
                pk_val *kv[2] = { a, b };
                DDPM_TRY(pk_seq_append(u, c, kv, 2));
            }
            break;
        case 'u': /* SETITEMS */
            DDPM_TRY(pop_mark(u, &items, &n));
            DDPM_TRY(top(u, &c));
            if (c->kind != PK_DICT) return pk_err(u, "SETITEMS on a non-dict");
            if (n % 2) return pk_err(u, "SETITEMS with an odd number of items");
            if (n) DDPM_TRY(pk_seq_append(u, c, items, n));
            break;
        case 'a': /* APPEND */
            DDPM_TRY(pop(u, &b));
            DDPM_TRY(top(u, &c));
            if (c->kind != PK_LIST) return pk_err(u, "APPEND on a non-list");
            DDPM_TRY(pk_seq_append(u, c, &b, 1));
            break;
        case 'e': /* APPENDS */
            DDPM_TRY(pop_mark(u, &items, &n));
            DDPM_TRY(top(u, &c));
            if (c->kind != PK_LIST) return pk_err(u, "APPENDS on a non-list");
            for (size_t k = 0; k < n; k++) DDPM_TRY(pk_seq_append(u, c, items + k, 1));
            break;
        case 'b': /* BUILD: object state (e.g. the state_dict's _metadata) is not needed */
            DDPM_TRY(pop(u, &b));
            DDPM_TRY(top(u, &c));
            break;
        case '0': /* POP */ DDPM_TRY(pop(u, &a)); break;
        case '1': /* POP_MARK */ DDPM_TRY(pop_mark(u, &items, &n)); break;
        case '2': /* DUP */
            DDPM_TRY(top(u, &a));
            DDPM_TRY(push(u, a));
            break;
        case '.': /* STOP */
            if (u->sp == 0) return pk_err(u, "STOP with an empty stack");
            *result = u->stack[u->sp - 1];
            return DDPM_OK;
        default: u->p--; return pk_err(u, "unsupported pickle opcode 0x%02x", op);
        }
    }
}

/* Unpickles [*pos, end) and advances *pos past STOP. */
void *pk_user(const pk_vm *u) { return u->h ? u->h->user : NULL; }

int pickle_run(pk_arena *A, const pk_hooks *h, const char *label, const uint8_t *start, const uint8_t *end,
               const char *what, pk_val **result, const uint8_t **stop_end)
{
    pk_vm u;
    memset(&u, 0, sizeof u);
    u.A = A;
    u.h = h;
    u.label = label;
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
/* Writer                                                                                      */

void pkw_bytes(pk_writer *w, const void *p, size_t n)
{
    if (w->failed) return;
    if (w->len + n > w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 4096;
        while (nc < w->len + n) nc *= 2;
        uint8_t *q = realloc(w->buf, nc);
        if (!q) {
            w->failed = 1;
            return;
        }
        w->buf = q;
        w->cap = nc;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

void pkw_byte(pk_writer *w, uint8_t b) { pkw_bytes(w, &b, 1); }

static void pkw_le(pk_writer *w, uint64_t v, int n)
{
    uint8_t b[8];
    for (int k = 0; k < n; k++) b[k] = (uint8_t)(v >> (8 * k));
    pkw_bytes(w, b, (size_t)n);
}

void pkw_proto(pk_writer *w, int proto)
{
    pkw_byte(w, 0x80);
    pkw_byte(w, (uint8_t)proto);
}

uint32_t pkw_put(pk_writer *w)
{
    uint32_t idx = w->memo++;
    if (idx < 256) {
        pkw_byte(w, 'q');
        pkw_byte(w, (uint8_t)idx);
    } else {
        pkw_byte(w, 'r');
        pkw_le(w, idx, 4);
    }
    return idx;
}

void pkw_get(pk_writer *w, uint32_t idx)
{
    if (idx < 256) {
        pkw_byte(w, 'h');
        pkw_byte(w, (uint8_t)idx);
    } else {
        pkw_byte(w, 'j');
        pkw_le(w, idx, 4);
    }
}

void pkw_global(pk_writer *w, const char *module, const char *name)
{
    pkw_byte(w, 'c');
    pkw_bytes(w, module, strlen(module));
    pkw_byte(w, '\n');
    pkw_bytes(w, name, strlen(name));
    pkw_byte(w, '\n');
    pkw_put(w);
}

void pkw_str(pk_writer *w, const char *s)
{
    size_t n = strlen(s);
    pkw_byte(w, 'X');
    pkw_le(w, n, 4);
    pkw_bytes(w, s, n);
    pkw_put(w);
}

void pkw_int(pk_writer *w, int64_t v)
{
    if (v >= 0 && v < 256) {
        pkw_byte(w, 'K');
        pkw_byte(w, (uint8_t)v);
    } else if (v >= 0 && v < 65536) {
        pkw_byte(w, 'M');
        pkw_le(w, (uint64_t)v, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        pkw_byte(w, 'J');
        pkw_le(w, (uint64_t)v, 4);
    } else { /* LONG1 with 8 two's-complement bytes */
        pkw_byte(w, 0x8a);
        pkw_byte(w, 8);
        pkw_le(w, (uint64_t)v, 8);
    }
}

int pkw_finish(pk_writer *w)
{
    pkw_byte(w, '.');
    return w->failed ? ddpm_error("out of memory writing a pickle") : DDPM_OK;
}

void pkw_free(pk_writer *w)
{
    free(w->buf);
    memset(w, 0, sizeof *w);
}
