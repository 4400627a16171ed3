#include "config.h"

#include "common.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const BETA_NAMES[] = { "linear", "quad", "const", "jsd", "warmup10", "warmup50" };
static const char *const MEAN_NAMES[] = { "xprev", "xstart", "eps" };
static const char *const VAR_NAMES[] = { "learned", "fixedsmall", "fixedlarge" };
static const char *const LOSS_NAMES[] = { "kl", "mse" };
static const char *const DATASET_NAMES[] = { "cifar10", "fashion_mnist", "png_gray", "png_rgb" };

const char *beta_schedule_name(beta_schedule_t v) { return BETA_NAMES[v]; }
const char *model_mean_type_name(model_mean_type_t v) { return MEAN_NAMES[v]; }
const char *model_var_type_name(model_var_type_t v) { return VAR_NAMES[v]; }
const char *loss_type_name(loss_type_t v) { return LOSS_NAMES[v]; }
const char *dataset_name(dataset_t v) { return DATASET_NAMES[v]; }

void config_defaults(ddpm_config *c)
{
    memset(c, 0, sizeof *c);
    c->dataset = DATASET_CIFAR10;
    c->image_size = 32;
    c->ch = 128;
    c->num_levels = 4;
    c->ch_mult[0] = 1;
    c->ch_mult[1] = 2;
    c->ch_mult[2] = 2;
    c->ch_mult[3] = 2;
    c->num_res_blocks = 2;
    c->num_attn = 1;
    c->attn_resolutions[0] = 16;
    c->dropout = 0.1;
    c->resamp_with_conv = 1;
    c->num_diffusion_timesteps = 1000;
    c->beta_schedule = BETA_LINEAR;
    c->beta_start = 1e-4;
    c->beta_end = 0.02;
    c->model_mean_type = MEAN_EPS;
    c->model_var_type = VAR_FIXEDLARGE;
    c->loss_type = LOSS_MSE;
    c->batch_size = 128;
    c->lr = 2e-4;
    c->warmup = 5000;
    c->grad_clip = 1.0;
    c->ema_decay = 0.9999;
    c->randflip = 1;
    c->train_steps = 800000;
    c->seed = 0;
    c->num_groups = 32;
    c->grad_blocks = 1;
}

/* ---- value parsers: each returns DDPM_OK or an error naming origin and key ---- */

static int parse_int64(const char *v, int64_t lo, int64_t hi, int64_t *out, const char *origin, const char *key)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end) return ddpm_error("%s: key '%s': '%s' is not an integer", origin, key, v);
    if (x < lo || x > hi)
        return ddpm_error("%s: key '%s': %lld is out of range [%lld, %lld]", origin, key, x, (long long)lo,
                          (long long)hi);
    *out = x;
    return DDPM_OK;
}

static int parse_int(const char *v, int lo, int hi, int *out, const char *origin, const char *key)
{
    int64_t x;
    DDPM_TRY(parse_int64(v, lo, hi, &x, origin, key));
    *out = (int)x;
    return DDPM_OK;
}

static int parse_double(const char *v, double lo, double hi, double *out, const char *origin, const char *key)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x))
        return ddpm_error("%s: key '%s': '%s' is not a finite number", origin, key, v);
    if (x < lo || x > hi) return ddpm_error("%s: key '%s': %g is out of range [%g, %g]", origin, key, x, lo, hi);
    *out = x;
    return DDPM_OK;
}

static int parse_bool(const char *v, int *out, const char *origin, const char *key)
{
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "True")) {
        *out = 1;
        return DDPM_OK;
    }
    if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "False")) {
        *out = 0;
        return DDPM_OK;
    }
    return ddpm_error("%s: key '%s': '%s' is not a boolean (use 1/0 or true/false)", origin, key, v);
}

static int parse_enum(const char *v, const char *const *names, int n, int *out, const char *origin, const char *key)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i])) {
            *out = i;
            return DDPM_OK;
        }
    char allowed[256] = "";
    for (int i = 0; i < n; i++) {
        strncat(allowed, names[i], sizeof allowed - strlen(allowed) - 1);
        if (i + 1 < n) strncat(allowed, "|", sizeof allowed - strlen(allowed) - 1);
    }
    return ddpm_error("%s: key '%s': '%s' is not one of %s", origin, key, v, allowed);
}

/* Comma-separated positive ints; "" or "none" is the empty list when allow_empty. */
static int parse_list(const char *v, int *out, int maxn, int *n, int allow_empty, const char *origin, const char *key)
{
    *n = 0;
    if (!*v || !strcmp(v, "none")) {
        if (allow_empty) return DDPM_OK;
        return ddpm_error("%s: key '%s': needs a comma-separated list of integers, e.g. 1,2,2,2", origin, key);
    }
    const char *p = v;
    while (*p) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < 1 || x > 4096)
            return ddpm_error("%s: key '%s': '%s' is not a list of positive integers (e.g. 1,2,2,2)", origin, key, v);
        if (*n >= maxn) return ddpm_error("%s: key '%s': at most %d entries allowed", origin, key, maxn);
        out[(*n)++] = (int)x;
        while (*end == ' ') end++;
        if (*end == ',') end++;
        else if (*end)
            return ddpm_error("%s: key '%s': '%s' is not a list of positive integers (e.g. 1,2,2,2)", origin, key, v);
        while (*end == ' ') end++;
        p = end;
    }
    return DDPM_OK;
}

/* The one list of keys: every parse, dump, hash, error text and HDF5 attribute walks it, in this
 * (canonical) order. */
typedef enum { K_ENUM, K_STRING, K_INT, K_INT64, K_SEED, K_DOUBLE, K_BOOL, K_LIST } key_type;

typedef struct {
    const char *name;
    key_type type;
    size_t off;               /* the field */
    double lo, hi;            /* K_INT, K_INT64, K_DOUBLE bounds */
    const char *const *names; /* K_ENUM */
    int nnames;
    size_t off_n;          /* K_LIST: its count field */
    int maxn, allow_empty; /* K_LIST */
} key_spec;

#define F(field) offsetof(ddpm_config, field)
#define ENUM(k, field, names)                                                                                          \
    {                                                                                                                  \
        k, K_ENUM, F(field), 0, 0, names, (int)DDPM_ARRAY_LEN(names), 0, 0, 0                                          \
    }
#define NUM(k, type, field, lo, hi)                                                                                    \
    {                                                                                                                  \
        k, type, F(field), lo, hi, NULL, 0, 0, 0, 0                                                                    \
    }
#define LIST(k, field, nfield, maxn, empty)                                                                            \
    {                                                                                                                  \
        k, K_LIST, F(field), 0, 0, NULL, 0, F(nfield), maxn, empty                                                     \
    }
static const key_spec KEYS[] = {
    ENUM("dataset", dataset, DATASET_NAMES),
    NUM("data_dir", K_STRING, data_dir, 0, 0),
    NUM("image_size", K_INT, image_size, 4, 4096),
    NUM("ch", K_INT, ch, 1, 4096),
    LIST("ch_mult", ch_mult, num_levels, CONFIG_MAX_LEVELS, 0),
    NUM("num_res_blocks", K_INT, num_res_blocks, 1, 64),
    LIST("attn_resolutions", attn_resolutions, num_attn, CONFIG_MAX_ATTN, 1),
    NUM("dropout", K_DOUBLE, dropout, 0.0, 0.99),
    NUM("resamp_with_conv", K_BOOL, resamp_with_conv, 0, 0),
    NUM("num_diffusion_timesteps", K_INT, num_diffusion_timesteps, 1, 100000),
    ENUM("beta_schedule", beta_schedule, BETA_NAMES),
    NUM("beta_start", K_DOUBLE, beta_start, 0.0, 1.0),
    NUM("beta_end", K_DOUBLE, beta_end, 0.0, 1.0),
    ENUM("model_mean_type", model_mean_type, MEAN_NAMES),
    ENUM("model_var_type", model_var_type, VAR_NAMES),
    ENUM("loss_type", loss_type, LOSS_NAMES),
    NUM("batch_size", K_INT, batch_size, 1, 65536),
    NUM("lr", K_DOUBLE, lr, 0.0, 1.0),
    NUM("warmup", K_INT, warmup, 0, 100000000),
    NUM("grad_clip", K_DOUBLE, grad_clip, 0.0, 1e30),
    NUM("ema_decay", K_DOUBLE, ema_decay, 0.0, 1.0),
    NUM("randflip", K_BOOL, randflip, 0, 0),
    NUM("train_steps", K_INT64, train_steps, 0, 1099511627776.0 /* 2^40 */),
    NUM("seed", K_SEED, seed, 0, 0),
    NUM("num_groups", K_INT, num_groups, 1, 4096),
    NUM("grad_blocks", K_INT, grad_blocks, 1, 65536),
};
#undef F
#undef ENUM
#undef NUM
#undef LIST
#define NUM_KEYS ((int)DDPM_ARRAY_LEN(KEYS))

static int key_index(const char *k)
{
    for (int i = 0; i < NUM_KEYS; i++)
        if (!strcmp(k, KEYS[i].name)) return i;
    return -1;
}

int config_set_kv(ddpm_config *c, const char *key, const char *v, const char *origin)
{
    int i = key_index(key);
    if (i < 0) {
        char known[600] = "";
        for (int k = 0; k < NUM_KEYS; k++) {
            strncat(known, KEYS[k].name, sizeof known - strlen(known) - 1);
            if (k + 1 < NUM_KEYS) strncat(known, ", ", sizeof known - strlen(known) - 1);
        }
        return ddpm_error("%s: unknown config key '%s' (known keys: %s)", origin, key, known);
    }
    const key_spec *k = &KEYS[i];
    char *field = (char *)c + k->off;
    switch (k->type) {
    case K_ENUM: return parse_enum(v, k->names, k->nnames, (int *)(void *)field, origin, key);
    case K_STRING:
        if (strlen(v) >= sizeof c->data_dir) return ddpm_error("%s: key '%s': path too long", origin, key);
        snprintf(field, sizeof c->data_dir, "%s", v);
        return DDPM_OK;
    case K_INT: return parse_int(v, (int)k->lo, (int)k->hi, (int *)(void *)field, origin, key);
    case K_INT64: return parse_int64(v, (int64_t)k->lo, (int64_t)k->hi, (int64_t *)(void *)field, origin, key);
    case K_SEED: {
        int64_t s;
        DDPM_TRY(parse_int64(v, 0, INT64_MAX, &s, origin, key));
        *(uint64_t *)(void *)field = (uint64_t)s;
        return DDPM_OK;
    }
    case K_DOUBLE: return parse_double(v, k->lo, k->hi, (double *)(void *)field, origin, key);
    case K_BOOL: return parse_bool(v, (int *)(void *)field, origin, key);
    case K_LIST:
        return parse_list(v, (int *)(void *)field, k->maxn, (int *)(void *)((char *)c + k->off_n), k->allow_empty,
                          origin, key);
    }
    return ddpm_error("%s: key '%s': internal error (unknown key type)", origin, key);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

int config_load_text(ddpm_config *c, const char *text, const char *origin)
{
    int seen_line[NUM_KEYS] = { 0 };
    int lineno = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        lineno++;
        if (len >= sizeof line) return ddpm_error("%s:%d: line too long", origin, lineno);
        memcpy(line, p, len);
        line[len] = 0;
        p += len + (nl ? 1 : 0);
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *s = trim(line);
        if (!*s) continue;
        /* Errors quote the line: a control character (a stray CR, an escape) would break the
         * one-line message, and no valid key or value contains one. */
        for (const char *q = s; *q; q++)
            if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f)
                return ddpm_error("%s:%d: control character 0x%02x in the line (not a text file?)", origin, lineno,
                                  (unsigned char)*q);
        char *eq = strchr(s, '=');
        char where[600];
        snprintf(where, sizeof where, "%s:%d", origin, lineno);
        if (!eq) return ddpm_error("%s: expected 'key = value', got '%s'", where, s);
        *eq = 0;
        char *key = trim(s), *val = trim(eq + 1);
        int ki = key_index(key);
        if (ki >= 0 && seen_line[ki])
            return ddpm_error("%s: key '%s' given twice (first on line %d)", where, key, seen_line[ki]);
        DDPM_TRY(config_set_kv(c, key, val, where));
        seen_line[ki] = lineno;
    }
    return DDPM_OK;
}

int config_load_file(ddpm_config *c, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ddpm_error("%s: cannot open config file (%s)", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 8192;
            if (cap > (1u << 24)) {
                free(buf);
                fclose(f);
                return ddpm_error("%s: config file too large", path);
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return ddpm_error("out of memory reading %s", path);
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r < 4096) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return ddpm_error("%s: read error", path);
    }
    buf[n] = 0;
    if (memchr(buf, 0, n)) {
        free(buf);
        return ddpm_error("%s: not a text file", path);
    }
    int rc = config_load_text(c, buf, path);
    free(buf);
    return rc;
}

int config_set(ddpm_config *c, const char *assignment)
{
    const char *eq = strchr(assignment, '=');
    if (!eq) return ddpm_error("--set '%s': expected key=value", assignment);
    char key[128], val[1024];
    size_t kl = (size_t)(eq - assignment);
    if (kl >= sizeof key || strlen(eq + 1) >= sizeof val) return ddpm_error("--set '%s': too long", assignment);
    memcpy(key, assignment, kl);
    key[kl] = 0;
    snprintf(val, sizeof val, "%s", eq + 1);
    return config_set_kv(c, trim(key), trim(val), "--set");
}

int config_in_channels(const ddpm_config *c)
{
    return (c->dataset == DATASET_FASHION_MNIST || c->dataset == DATASET_PNG_GRAY) ? 1 : 3;
}

int config_out_channels(const ddpm_config *c)
{
    return config_in_channels(c) * (c->model_var_type == VAR_LEARNED ? 2 : 1);
}

const char *config_data_dir(const ddpm_config *c)
{
    if (c->data_dir[0]) return c->data_dir;
    switch (c->dataset) {
    case DATASET_FASHION_MNIST: return "/usr/share/datasets/fashion-mnist";
    case DATASET_CIFAR10: return "data/cifar10";
    default: return "data/png";
    }
}

const char *config_variant_name(const ddpm_config *c, char *buf, size_t n)
{
    snprintf(buf, n, "%s-%s-%s", MEAN_NAMES[c->model_mean_type], VAR_NAMES[c->model_var_type],
             LOSS_NAMES[c->loss_type]);
    return buf;
}

/* The KEYS table's ranges, applied to a config however it was built (the parser applies them to
 * text; a config filled in code, or read from a file by another path, meets them here). Only the
 * keys that define the network (config_key_kind_of == CONFIG_KEY_MODEL): training keys such as
 * lr keep their parse-time range only. */
static int check_model_key_ranges(const ddpm_config *c)
{
    for (int i = 0; i < NUM_KEYS; i++) {
        const key_spec *k = &KEYS[i];
        if (config_key_kind_of(k->name) != CONFIG_KEY_MODEL) continue;
        const char *field = (const char *)c + k->off;
        switch (k->type) {
        case K_ENUM: {
            int v = *(const int *)(const void *)field;
            if (v < 0 || v >= k->nnames) return ddpm_error("config: key '%s': value %d is no valid choice", k->name, v);
            break;
        }
        case K_INT: {
            int v = *(const int *)(const void *)field;
            if (v < k->lo || v > k->hi)
                return ddpm_error("config: key '%s': %d is out of range [%d, %d]", k->name, v, (int)k->lo, (int)k->hi);
            break;
        }
        case K_DOUBLE: {
            double v = *(const double *)(const void *)field;
            if (!(v >= k->lo && v <= k->hi))
                return ddpm_error("config: key '%s': %g is out of range [%g, %g]", k->name, v, k->lo, k->hi);
            break;
        }
        case K_LIST: {
            const int *v = (const int *)(const void *)field;
            int n = *(const int *)(const void *)((const char *)c + k->off_n);
            if (n < (k->allow_empty ? 0 : 1) || n > k->maxn)
                return ddpm_error("config: key '%s': needs %d..%d entries, has %d", k->name, k->allow_empty ? 0 : 1,
                                  k->maxn, n);
            for (int j = 0; j < n; j++)
                if (v[j] < 1 || v[j] > 4096)
                    return ddpm_error("config: key '%s': entry %d is not a positive integer <= 4096", k->name, v[j]);
            break;
        }
        default: break;
        }
    }
    return DDPM_OK;
}

/* What the keys that shape the U-Net say together: sizes it can halve, channel counts GroupNorm
 * can split, attention at resolutions it has, an even timestep embedding. */
static int check_network_shape(const ddpm_config *c)
{
    int s = c->image_size;
    for (int l = 0; l < c->num_levels - 1; l++) {
        if (s % 2)
            return ddpm_error("config: image_size %d cannot be halved %d times (ch_mult has %d "
                              "levels); change image_size or ch_mult",
                              c->image_size, c->num_levels - 1, c->num_levels);
        s /= 2;
    }
    for (int l = 0; l < c->num_levels; l++) {
        int chl = c->ch * c->ch_mult[l];
        if (chl % c->num_groups || c->ch % c->num_groups)
            return ddpm_error("config: channel count %d is not divisible by num_groups = %d; "
                              "set num_groups to a divisor",
                              chl, c->num_groups);
    }
    for (int a = 0; a < c->num_attn; a++) {
        int r = c->image_size, hit = 0;
        for (int l = 0; l < c->num_levels; l++, r /= 2) hit |= r == c->attn_resolutions[a];
        if (!hit)
            return ddpm_error("config: attn_resolutions names %d, which is no level of this U-Net (image_size %d "
                              "halved %d times); use resolutions the levels have, or none",
                              c->attn_resolutions[a], c->image_size, c->num_levels - 1);
    }
    if (c->ch % 2) return ddpm_error("config: ch must be even (sinusoidal timestep embedding)");
    if (c->ch < 4) return ddpm_error("config: ch must be at least 4");
    return DDPM_OK;
}

int config_validate_network(const ddpm_config *c)
{
    DDPM_TRY(check_model_key_ranges(c));
    return check_network_shape(c);
}

/* The one validator of the model keys (issue 20): ranges (above), then what keys say together.
 * Consumers check only what the config cannot know (the data set's files, a checkpoint's shapes). */
int config_validate(const ddpm_config *c)
{
    DDPM_TRY(check_model_key_ranges(c));
    if (c->loss_type == LOSS_MSE && c->model_var_type == VAR_LEARNED)
        return ddpm_error("config: loss_type = mse cannot train model_var_type = learned (the "
                          "variance gets no gradient); use loss_type = kl or a fixed variance");
    if (c->beta_schedule != BETA_JSD && c->beta_schedule != BETA_CONST && c->beta_start > c->beta_end)
        return ddpm_error("config: beta_start (%g) must not exceed beta_end (%g)", c->beta_start, c->beta_end);
    if (c->beta_end <= 0 && c->beta_schedule != BETA_JSD) return ddpm_error("config: beta_end must be > 0");
    DDPM_TRY(check_network_shape(c));
    if (!(c->lr > 0)) return ddpm_error("config: lr must be > 0 (it is %g)", c->lr);
    if (c->dataset == DATASET_FASHION_MNIST && c->image_size != 28)
        return ddpm_error("config: fashion_mnist images are 28x28; set image_size = 28");
    if (c->dataset == DATASET_CIFAR10 && c->image_size != 32)
        return ddpm_error("config: cifar10 images are 32x32; set image_size = 32");
    if (c->batch_size % c->grad_blocks)
        return ddpm_error("config: batch_size %d is not divisible by grad_blocks = %d (the batch is cut "
                          "into grad_blocks equal blocks); set grad_blocks to a divisor of batch_size",
                          c->batch_size, c->grad_blocks);
    return DDPM_OK;
}

static void list_str(char *buf, size_t n, const int *v, int k)
{
    size_t o = 0;
    buf[0] = 0;
    if (k == 0) {
        snprintf(buf, n, "none");
        return;
    }
    for (int i = 0; i < k && o < n; i++) o += (size_t)snprintf(buf + o, n - o, "%s%d", i ? "," : "", v[i]);
}

/* A double as text that reads back to the same value: the shortest such form for people
 * (0.1, not 0.10000000000000001), or always %.17g (exact) for config_hash, whose input text
 * must not change so that run directories keep their addresses. */
static void fmt_double(char *b, size_t n, double x, int exact)
{
    if (!exact)
        for (int prec = 1; prec < 17; prec++) {
            snprintf(b, n, "%.*g", prec, x);
            if (strtod(b, NULL) == x) return;
        }
    snprintf(b, n, "%.17g", x);
}

/* Canonical value text of key i (exact: see fmt_double). */
static void value_str(const ddpm_config *c, int i, char *b, size_t n, int exact)
{
    const key_spec *k = &KEYS[i];
    const char *field = (const char *)c + k->off;
    switch (k->type) {
    case K_ENUM: snprintf(b, n, "%s", k->names[*(const int *)(const void *)field]); break;
    case K_STRING: snprintf(b, n, "%s", field); break;
    case K_INT:
    case K_BOOL: snprintf(b, n, "%d", *(const int *)(const void *)field); break;
    case K_INT64: snprintf(b, n, "%lld", (long long)*(const int64_t *)(const void *)field); break;
    case K_SEED: snprintf(b, n, "%llu", (unsigned long long)*(const uint64_t *)(const void *)field); break;
    case K_DOUBLE: fmt_double(b, n, *(const double *)(const void *)field, exact); break;
    case K_LIST:
        list_str(b, n, (const int *)(const void *)field, *(const int *)(const void *)((const char *)c + k->off_n));
        break;
    }
}

int config_each(const ddpm_config *c, int (*fn)(const char *key, const char *value, void *user), void *user)
{
    char v[1024];
    for (int i = 0; i < NUM_KEYS; i++) {
        value_str(c, i, v, sizeof v, 0);
        DDPM_TRY(fn(KEYS[i].name, v, user));
    }
    return DDPM_OK;
}

static int dump_text(const ddpm_config *c, char *buf, size_t n, int exact)
{
    size_t o = 0;
    char v[1024];
    if (n) buf[0] = 0;
    for (int i = 0; i < NUM_KEYS; i++) {
        if (!strcmp(KEYS[i].name, "grad_blocks") && c->grad_blocks == 1) continue; /* see config.h */
        value_str(c, i, v, sizeof v, exact);
        int w = snprintf(o < n ? buf + o : NULL, o < n ? n - o : 0, "%s = %s\n", KEYS[i].name, v);
        o += (size_t)w;
    }
    return (int)o;
}

int config_dump(const ddpm_config *c, char *buf, size_t n) { return dump_text(c, buf, n, 0); }

uint64_t config_hash(const ddpm_config *c, char hex[17])
{
    char buf[8192];
    dump_text(c, buf, sizeof buf, 1);
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)buf; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    if (hex) snprintf(hex, 17, "%016llx", (unsigned long long)h);
    return h;
}

uint64_t config_run_hash(const ddpm_config *c, char hex[17])
{
    ddpm_config k = *c;
    k.train_steps = 0;
    k.data_dir[0] = 0;
    return config_hash(&k, hex);
}

/* Keys whose value is part of what a trained network computes: overriding one against a
 * checkpoint would silently change the meaning of its weights. */
static const char *const MODEL_KEYS[] = {
    "dataset",         "image_size",       "ch",
    "ch_mult",         "num_res_blocks",   "attn_resolutions",
    "dropout",         "resamp_with_conv", "num_diffusion_timesteps",
    "beta_schedule",   "beta_start",       "beta_end",
    "model_mean_type", "model_var_type",   "loss_type",
    "num_groups",
};

config_key_kind config_key_kind_of(const char *key)
{
    for (size_t i = 0; i < DDPM_ARRAY_LEN(MODEL_KEYS); i++)
        if (!strcmp(key, MODEL_KEYS[i])) return CONFIG_KEY_MODEL;
    if (!strcmp(key, "data_dir")) return CONFIG_KEY_DATA;
    return key_index(key) >= 0 ? CONFIG_KEY_TRAINING : CONFIG_KEY_UNKNOWN;
}

int config_value_text(const ddpm_config *c, const char *key, char *buf, size_t n)
{
    int i = key_index(key);
    if (i < 0) return ddpm_error("unknown config key '%s'", key);
    value_str(c, i, buf, n, 0);
    return DDPM_OK;
}
