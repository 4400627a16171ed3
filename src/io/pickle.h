/* pickle.h — a small, bounds-checked Python pickle machine (protocols 2-5, the opcodes torch.save
 * emits and a few more) and a writer for the protocol-2 subset torch.save uses.
 *
 * Reading: pickle_run() executes one pickle until STOP and returns the top of the stack as a
 * tree of pk_val owned by an arena. Python objects it cannot build become PK_OBJECT (named by
 * their callable); the caller's hooks give meaning to persistent ids (BINPERSID) and to REDUCE
 * of globals it knows (torch's _rebuild_tensor_v2, ...). OrderedDict is built here. Malformed
 * input (truncation, unknown opcodes, memo misuse, stack underflow) is an error
 * "LABEL: WHAT at byte N: problem"; the machine never reads outside [start, end).
 *
 * Writing: pk_writer appends opcodes to a growing buffer (memoised globals and strings are the
 * caller's business: the writer emits exactly what it is told). */
#ifndef DDPM_PICKLE_H
#define DDPM_PICKLE_H

#include <stddef.h>
#include <stdint.h>

/* A bump allocator owning every value, string and name; freed in one call. */
typedef struct pk_arena_block pk_arena_block;
typedef struct {
    pk_arena_block *head;
} pk_arena;

void *pk_alloc(pk_arena *a, size_t n); /* zeroed; NULL (error set) when out of memory */
char *pk_strndup(pk_arena *a, const void *s, size_t n);
void pk_arena_free(pk_arena *a);

enum {
    PK_NONE,
    PK_BOOL,
    PK_INT,
    PK_FLOAT,
    PK_STR,
    PK_BYTES,
    PK_BIGINT,
    PK_TUPLE,
    PK_LIST,
    PK_DICT,
    PK_GLOBAL,
    PK_STORAGE,
    PK_TENSOR,
    PK_OBJECT
};

typedef struct pk_val pk_val;
struct pk_val {
    int kind;
    int64_t i; /* INT, BOOL; STORAGE: storage index; TENSOR: caller's index */
    double f;
    const char *s; /* STR/BYTES/BIGINT bytes; GLOBAL "module.name"; OBJECT: callable */
    size_t slen;
    pk_val **items; /* TUPLE/LIST: n items; DICT: n pairs stored as 2n */
    size_t n, cap;
    int64_t view_off; /* STORAGE: element offset and length of a legacy storage view */
    int64_t view_len;
};

typedef struct pk_vm pk_vm;

/* Hooks: return DDPM_OK with *out set, DDPM_ERR (message set with pk_err), or for reduce
 * PK_NOT_MINE to let the machine make an opaque PK_OBJECT. */
#define PK_NOT_MINE 1
typedef struct {
    void *user;
    int (*persistent_load)(pk_vm *u, pk_val *pid, pk_val **out);
    int (*reduce)(pk_vm *u, const char *callable, pk_val *args, pk_val **out);
} pk_hooks;

/* Unpickles [start, end); *stop_end (may be NULL) is set past STOP. label names the file and
 * what names the pickle in messages. */
int pickle_run(pk_arena *A, const pk_hooks *h, const char *label, const uint8_t *start, const uint8_t *end,
               const char *what, pk_val **result, const uint8_t **stop_end);

/* For hooks: an error "LABEL: WHAT at byte N: message", a new value, and the hooks' user. */
int pk_err(const pk_vm *u, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
pk_val *pk_new(pk_vm *u, int kind);
void *pk_user(const pk_vm *u);
int pk_is_str(const pk_val *v, const char *s);
/* A dict's entries appended as k/2 pairs (k even). */
int pk_seq_append(pk_vm *u, pk_val *seq, pk_val **items, size_t k);

/* ---- writing ------------------------------------------------------------------------------ */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
    int failed;    /* out of memory: every later call is a no-op, pkw_finish reports it */
    uint32_t memo; /* next memo index (BINPUT/LONG_BINPUT) */
} pk_writer;

void pkw_byte(pk_writer *w, uint8_t b);
void pkw_bytes(pk_writer *w, const void *p, size_t n);
void pkw_proto(pk_writer *w, int proto);                             /* PROTO n */
void pkw_global(pk_writer *w, const char *module, const char *name); /* GLOBAL + memo put */
void pkw_str(pk_writer *w, const char *s);                           /* BINUNICODE + memo put */
void pkw_int(pk_writer *w, int64_t v);                               /* BININT1/2/BININT or LONG1 */
uint32_t pkw_put(pk_writer *w);                                      /* memoise the top; returns its index */
void pkw_get(pk_writer *w, uint32_t idx);                            /* BINGET / LONG_BINGET */
int pkw_finish(pk_writer *w);                                        /* STOP; DDPM_ERR if memory ran out */
void pkw_free(pk_writer *w);

#endif
