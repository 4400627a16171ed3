/* pth.c — torch.save reader: torch's meaning of the pickle (storages, _rebuild_tensor_v2, persistent
 * ids) over io/zip.c and io/pickle.c, and the legacy stream.
 * Format notes are in pth.h. Every read is bounds-checked against the file buffer. */
#include "io/pth.h"

#include "core/common.h"
#include "io/convert.h"
#include "io/pickle.h"
#include "io/readfile.h"
#include "io/zip.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rd_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--) v = (v << 8) | p[k];
    return v;
}

/* ------------------------------------------------------------------------------------------ */
/* File model                                                                                  */

typedef struct {
    const char *key;
    pth_dtype dtype;
    int64_t numel;
    const uint8_t *data; /* NULL until resolved against the container */
} storage_rec;

typedef struct {
    const char *name;
    pth_dtype dtype;
    int rank;
    int64_t shape[PTH_MAX_RANK];
    int64_t stride[PTH_MAX_RANK];
    int64_t offset; /* elements from the start of the root storage */
    int storage;
} tensor_rec;

struct pth_file {
    io_input in; /* first: io_input_adopt */
    char label[256];
    int zip;
    pk_arena A;
    storage_rec *st;
    int nst, capst;
    tensor_rec *defs; /* every tensor the pickle built (unnamed) */
    int ndefs, capdefs;
    tensor_rec *t; /* named tensors, dict order */
    int nt, capt;
};

#define ferr(f, ...) ddpm_error_in((f)->label, __VA_ARGS__)

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

static size_t dtype_size(pth_dtype t) { return io_dtype_size(t); }

const char *pth_dtype_name(pth_dtype t) { return (unsigned)t < IO_DTYPE_COUNT ? io_dtype_name(t) : "?"; }

static const struct {
    const char *global;
    pth_dtype dtype;
} storage_types[] = {
    { "torch.FloatStorage", PTH_F32 },     { "torch.DoubleStorage", PTH_F64 }, { "torch.HalfStorage", PTH_F16 },
    { "torch.BFloat16Storage", PTH_BF16 }, { "torch.LongStorage", PTH_I64 },   { "torch.IntStorage", PTH_I32 },
    { "torch.ShortStorage", PTH_I16 },     { "torch.CharStorage", PTH_I8 },    { "torch.ByteStorage", PTH_U8 },
    { "torch.BoolStorage", PTH_BOOL },
};

/* ------------------------------------------------------------------------------------------ */
/* Storages and tensors                                                                        */

static int storage_ref(pk_vm *u, const char *key, size_t keylen, pth_dtype dt, int64_t numel)
{
    pth_file *f = ((pth_file *)pk_user(u));
    for (int k = 0; k < f->nst; k++)
        if (strlen(f->st[k].key) == keylen && !memcmp(f->st[k].key, key, keylen)) {
            if (f->st[k].dtype != dt || f->st[k].numel != numel)
                return pk_err(u, "storage '%s' referenced with two different types or sizes", f->st[k].key);
            return k;
        }
    if (grow((void **)&f->st, &f->capst, f->nst + 1, sizeof *f->st)) return DDPM_ERR;
    storage_rec *s = &f->st[f->nst];
    memset(s, 0, sizeof *s);
    s->key = pk_strndup(&f->A, key, keylen);
    if (!s->key) return DDPM_ERR;
    s->dtype = dt;
    s->numel = numel;
    return f->nst++;
}

/* persistent id ('storage', torch.XStorage, key, location, numel[, view_metadata]) */
static int persistent_load(pk_vm *u, pk_val *pid, pk_val **out)
{
    if (pid->kind != PK_TUPLE || pid->n < 5 || !pk_is_str(pid->items[0], "storage"))
        return pk_err(u, "persistent id is not a ('storage', ...) tuple");
    pk_val *type = pid->items[1], *key = pid->items[2], *numel = pid->items[4];
    if (type->kind != PK_GLOBAL) return pk_err(u, "storage type is not a class reference");
    int dt = -1;
    for (size_t k = 0; k < DDPM_ARRAY_LEN(storage_types); k++)
        if (!strcmp(type->s, storage_types[k].global)) dt = (int)storage_types[k].dtype;
    if (dt < 0) return pk_err(u, "unsupported storage type %s", type->s);
    if (key->kind != PK_STR || key->slen == 0 || key->slen > 200) return pk_err(u, "bad storage key");
    if (numel->kind != PK_INT || numel->i < 0 || numel->i > ((int64_t)1 << 48)) return pk_err(u, "bad storage size");
    int idx = storage_ref(u, key->s, key->slen, (pth_dtype)dt, numel->i);
    if (idx < 0) return DDPM_ERR;
    pk_val *v = pk_new(u, PK_STORAGE);
    if (!v) return DDPM_ERR;
    v->i = idx;
    v->view_off = 0;
    v->view_len = numel->i;
    if (pid->n >= 6 && pid->items[5]->kind != PK_NONE) {
        /* legacy storage view: (view_key, offset, size) into the root storage */
        pk_val *vm = pid->items[5];
        if (vm->kind != PK_TUPLE || vm->n != 3 || vm->items[1]->kind != PK_INT || vm->items[2]->kind != PK_INT)
            return pk_err(u, "bad storage view metadata");
        int64_t off = vm->items[1]->i, len = vm->items[2]->i;
        if (off < 0 || len < 0 || off > numel->i || len > numel->i - off)
            return pk_err(u, "storage view [%lld, +%lld) outside its storage of %lld elements", (long long)off,
                          (long long)len, (long long)numel->i);
        v->view_off = off;
        v->view_len = len;
    }
    *out = v;
    return DDPM_OK;
}

static int int_tuple(pk_vm *u, const pk_val *t, int64_t *dst, int *n, const char *what)
{
    if (t->kind != PK_TUPLE && t->kind != PK_LIST) return pk_err(u, "tensor %s is not a tuple", what);
    if (t->n > PTH_MAX_RANK) return pk_err(u, "tensor rank %zu exceeds %d", t->n, PTH_MAX_RANK);
    for (size_t k = 0; k < t->n; k++) {
        if (t->items[k]->kind != PK_INT || t->items[k]->i < 0 || t->items[k]->i > ((int64_t)1 << 48))
            return pk_err(u, "tensor %s[%zu] is not a valid size", what, k);
        dst[k] = t->items[k]->i;
    }
    *n = (int)t->n;
    return DDPM_OK;
}

/* _rebuild_tensor(_v2)(storage, storage_offset, size, stride, ...) */
static int rebuild_tensor(pk_vm *u, pk_val *args, pk_val **out)
{
    pth_file *f = ((pth_file *)pk_user(u));
    if (args->kind != PK_TUPLE || args->n < 4) return pk_err(u, "_rebuild_tensor needs 4+ arguments");
    pk_val *st = args->items[0], *off = args->items[1];
    if (st->kind != PK_STORAGE) return pk_err(u, "_rebuild_tensor argument 0 is not a storage");
    if (off->kind != PK_INT || off->i < 0) return pk_err(u, "bad tensor storage offset");
    tensor_rec t;
    memset(&t, 0, sizeof t);
    int rs = 0, rt = 0;
    if (int_tuple(u, args->items[2], t.shape, &rs, "size")) return DDPM_ERR;
    if (int_tuple(u, args->items[3], t.stride, &rt, "stride")) return DDPM_ERR;
    if (rs != rt) return pk_err(u, "tensor size and stride have different lengths");
    t.rank = rs;
    t.storage = (int)st->i;
    t.dtype = f->st[t.storage].dtype;
    /* every element must lie inside the (view of the) storage */
    int64_t numel = 1, extent = off->i;
    for (int k = 0; k < t.rank; k++) {
        if (__builtin_mul_overflow(numel, t.shape[k], &numel)) return pk_err(u, "tensor too large");
    }
    if (numel > 0) {
        for (int k = 0; k < t.rank; k++) {
            int64_t span;
            if (__builtin_mul_overflow(t.shape[k] - 1, t.stride[k], &span) ||
                __builtin_add_overflow(extent, span, &extent))
                return pk_err(u, "tensor strides overflow");
        }
        if (extent >= st->view_len)
            return pk_err(u, "tensor reaches element %lld of a storage of %lld elements", (long long)extent,
                          (long long)st->view_len);
    }
    t.offset = st->view_off + off->i;
    if (grow((void **)&f->defs, &f->capdefs, f->ndefs + 1, sizeof *f->defs)) return DDPM_ERR;
    f->defs[f->ndefs] = t;
    pk_val *v = pk_new(u, PK_TENSOR);
    if (!v) return DDPM_ERR;
    v->i = f->ndefs++;
    *out = v;
    return DDPM_OK;
}

static int reduce_hook(pk_vm *u, const char *name, pk_val *args, pk_val **out)
{
    if (!strcmp(name, "torch._utils._rebuild_tensor_v2") || !strcmp(name, "torch._utils._rebuild_tensor"))
        return rebuild_tensor(u, args, out);
    if (!strcmp(name, "torch._utils._rebuild_parameter") ||
        !strcmp(name, "torch._utils._rebuild_parameter_with_state")) {
        if (args->n < 1 || args->items[0]->kind != PK_TENSOR) return pk_err(u, "_rebuild_parameter without a tensor");
        *out = args->items[0];
        return DDPM_OK;
    }
    return PK_NOT_MINE;
}

/* Unpickles [*pos, end) and advances *pos past STOP. */
static int run_pickle(pth_file *f, const uint8_t *start, const uint8_t *end, const char *what, pk_val **result,
                      const uint8_t **stop_end)
{
    pk_hooks h = { f, persistent_load, reduce_hook };
    return pickle_run(&f->A, &h, f->label, start, end, what, result, stop_end);
}

/* ------------------------------------------------------------------------------------------ */
/* Naming: tensors of the top-level dict, nested dicts joined with '.'                         */

/* *budget: dict entries still allowed. Each entry of a dict the pickle builds costs at least one
 * byte, so visiting more entries than the file has bytes means the same dicts are reached again
 * and again (a 400-byte pickle of 6-way shared dicts 15 deep would take 6^15 visits). */
static int collect(pth_file *f, const pk_val *d, const char *prefix, int depth, size_t *budget)
{
    if (d->kind != PK_DICT) return DDPM_OK;
    if (depth > 16) return ferr(f, "dicts nested deeper than 16 levels");
    for (size_t k = 0; k < d->n; k++) {
        if (*budget == 0) return ferr(f, "dicts are shared or cyclic (more dict entries than the file has bytes)");
        (*budget)--;
        const pk_val *key = d->items[2 * k], *v = d->items[2 * k + 1];
        if (key->kind != PK_STR) continue;
        if (v->kind != PK_TENSOR && v->kind != PK_DICT) continue;
        size_t pl = strlen(prefix);
        char *name = pk_alloc(&f->A, pl + key->slen + 2);
        if (!name) return DDPM_ERR;
        memcpy(name, prefix, pl);
        memcpy(name + pl, key->s, key->slen);
        name[pl + key->slen] = 0;
        if (memchr(key->s, 0, key->slen)) return ferr(f, "tensor name contains a NUL byte");
        if (v->kind == PK_DICT) {
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

static int open_zip(pth_file *f, pk_val **root)
{
    zip_archive za;
    DDPM_TRY(zip_open(&za, f->in.buf, f->in.len, f->label, 0));
    const zip_entry *ent = za.ent;
    int n = za.n;
    int rc = DDPM_OK;
    const zip_entry *pkl = NULL;
    for (int k = 0; k < n; k++) {
        size_t L = ent[k].nlen;
        if (L >= 8 && !memcmp(ent[k].name + L - 8, "data.pkl", 8) && (L == 8 || ent[k].name[L - 9] == '/')) {
            if (pkl) {
                rc = ferr(f, "zip: more than one data.pkl");
                break;
            }
            pkl = &ent[k];
        }
    }
    if (rc == DDPM_OK && !pkl) rc = ferr(f, "zip: no data.pkl record (not a torch.save file?)");
    if (rc != DDPM_OK) {
        zip_close(&za);
        return rc;
    }
    const char *prefix = pkl->name;
    size_t pl = pkl->nlen - 8;
    const zip_entry *bo = zip_find(&za, prefix, pl, "byteorder");
    if (bo && !(bo->comp == 6 && !memcmp(f->in.buf + bo->data_off, "little", 6)))
        rc = ferr(f, "zip: byteorder record is not 'little' (big-endian files are not supported)");
    if (rc == DDPM_OK)
        rc = run_pickle(f, f->in.buf + pkl->data_off, f->in.buf + pkl->data_off + pkl->comp, "data.pkl", root, NULL);
    for (int s = 0; s < f->nst && rc == DDPM_OK; s++) {
        char key[256];
        snprintf(key, sizeof key, "data/%s", f->st[s].key);
        const zip_entry *z = zip_find(&za, prefix, pl, key);
        if (!z) {
            rc = ferr(f, "zip: storage record %.*s%s is missing", (int)pl, prefix, key);
            break;
        }
        uint64_t want = (uint64_t)f->st[s].numel * dtype_size(f->st[s].dtype);
        if (z->comp != want) {
            rc = ferr(f, "zip: storage %s has %llu bytes, expected %llu", key, (unsigned long long)z->comp,
                      (unsigned long long)want);
            break;
        }
        f->st[s].data = f->in.buf + z->data_off;
    }
    zip_close(&za);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Legacy stream                                                                               */

static int open_legacy(pth_file *f, pk_val **root)
{
    /* 0x1950a86a20f9469cfc6c as a little-endian pickled long */
    static const uint8_t magic[10] = { 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19 };
    const uint8_t *p = f->in.buf, *end = f->in.buf + f->in.len;
    pk_val *v;
    if (f->in.len < 2 || p[0] != 0x80)
        return ferr(f, "neither a zip archive nor a legacy torch.save stream (unknown header)");
    DDPM_TRY(run_pickle(f, p, end, "magic number", &v, &p));
    if (v->kind != PK_BIGINT || v->slen != 10 || memcmp(v->s, magic, 10))
        return ferr(f, "legacy stream: wrong magic number (not a torch.save file)");
    DDPM_TRY(run_pickle(f, p, end, "protocol version", &v, &p));
    if (v->kind != PK_INT || v->i != 1001) return ferr(f, "legacy stream: unsupported protocol version");
    DDPM_TRY(run_pickle(f, p, end, "sys_info", &v, &p));
    if (v->kind != PK_DICT) return ferr(f, "legacy stream: sys_info is not a dict");
    for (size_t k = 0; k < v->n; k++)
        if (pk_is_str(v->items[2 * k], "little_endian") &&
            !(v->items[2 * k + 1]->kind == PK_BOOL && v->items[2 * k + 1]->i == 1))
            return ferr(f, "legacy stream: written on a big-endian machine (not supported)");
    DDPM_TRY(run_pickle(f, p, end, "object pickle", root, &p));
    pk_val *keys;
    DDPM_TRY(run_pickle(f, p, end, "storage key list", &keys, &p));
    if (keys->kind != PK_LIST) return ferr(f, "legacy stream: storage keys are not a list");
    for (size_t k = 0; k < keys->n; k++) {
        const pk_val *key = keys->items[k];
        if (key->kind != PK_STR) return ferr(f, "legacy stream: storage key %zu is not a string", k);
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
            return ferr(f, "legacy stream: storage '%s' holds %llu elements, the pickle says %lld", f->st[s].key,
                        (unsigned long long)count, (long long)f->st[s].numel);
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
    pth_file *f = io_input_adopt(sizeof *f, buf, len);
    if (!f) return DDPM_ERR;
    snprintf(f->label, sizeof f->label, "%s", label ? label : "(memory)");
    pk_val *root = NULL;
    f->zip = len >= 4 && rd_le(buf, 4) == 0x04034b50u;
    int rc = f->zip ? open_zip(f, &root) : open_legacy(f, &root);
    if (rc == DDPM_OK && root->kind != PK_DICT) rc = ferr(f, "the saved object is not a dict (expected a state_dict)");
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
    uint8_t *buf;
    DDPM_TRY(io_copy_bytes(&buf, data, len));
    return open_owned(out, buf, len, label);
}

int pth_open(pth_file **out, const char *path)
{
    *out = NULL;
    uint8_t *buf;
    size_t len;
    DDPM_TRY(io_read_file(path, &buf, &len, 0));
    return open_owned(out, buf, len, path);
}

void pth_close(pth_file *f)
{
    if (!f) return;
    free(f->in.buf);
    free(f->st);
    free(f->defs);
    free(f->t);
    pk_arena_free(&f->A);
    free(f);
}

int pth_is_zip(const pth_file *f) { return f->zip; }
int pth_num_tensors(const pth_file *f) { return f->nt; }

const char *pth_tensor_name(const pth_file *f, int i) { return i >= 0 && i < f->nt ? f->t[i].name : NULL; }

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

int pth_tensor_info(const pth_file *f, const char *name, pth_dtype *dtype, int *rank, int64_t shape[PTH_MAX_RANK])
{
    const tensor_rec *t = lookup(f, name);
    if (!t) return DDPM_ERR;
    if (dtype) *dtype = t->dtype;
    if (rank) *rank = t->rank;
    if (shape)
        for (int k = 0; k < t->rank; k++) shape[k] = t->shape[k];
    return DDPM_OK;
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
    for (int k = 0; k < t->rank; k++) numel *= t->shape[k]; /* overflow-checked at open */
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
            float x = t->dtype == PTH_F32 ? 0 : (float)io_elem_f64(t->dtype, src);
            if (t->dtype == PTH_F32) memcpy(&x, src, 4);
            memcpy(dst + 4 * (size_t)i, &x, 4);
        } else if (kind == OUT_F64) {
            double x = io_elem_f64(t->dtype, src);
            memcpy(dst + 8 * (size_t)i, &x, 8);
        } else {
            int64_t x = io_elem_i64(t->dtype, src);
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
