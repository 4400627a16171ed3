#include "config.h"

#include "common.h"

#include <ctype.h>
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
    c->ch_mult[0] = 1; c->ch_mult[1] = 2; c->ch_mult[2] = 2; c->ch_mult[3] = 2;
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

static int parse_int64(const char *v, int64_t lo, int64_t hi, int64_t *out, const char *origin,
                       const char *key)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end)
        return ddpm_error("%s: key '%s': '%s' is not an integer", origin, key, v);
    if (x < lo || x > hi)
        return ddpm_error("%s: key '%s': %lld is out of range [%lld, %lld]", origin, key, x,
                          (long long)lo, (long long)hi);
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

static int parse_double(const char *v, double lo, double hi, double *out, const char *origin,
                        const char *key)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x))
        return ddpm_error("%s: key '%s': '%s' is not a finite number", origin, key, v);
    if (x < lo || x > hi)
        return ddpm_error("%s: key '%s': %g is out of range [%g, %g]", origin, key, x, lo, hi);
    *out = x;
    return DDPM_OK;
}

static int parse_bool(const char *v, int *out, const char *origin, const char *key)
{
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "True")) { *out = 1; return DDPM_OK; }
    if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "False")) { *out = 0; return DDPM_OK; }
    return ddpm_error("%s: key '%s': '%s' is not a boolean (use 1/0 or true/false)", origin, key, v);
}

static int parse_enum(const char *v, const char *const *names, int n, int *out, const char *origin,
                      const char *key)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i])) { *out = i; return DDPM_OK; }
    char allowed[256] = "";
    for (int i = 0; i < n; i++) {
        strncat(allowed, names[i], sizeof allowed - strlen(allowed) - 1);
        if (i + 1 < n) strncat(allowed, "|", sizeof allowed - strlen(allowed) - 1);
    }
    return ddpm_error("%s: key '%s': '%s' is not one of %s", origin, key, v, allowed);
}

/* Comma-separated positive ints; "" or "none" is the empty list when allow_empty. */
static int parse_list(const char *v, int *out, int maxn, int *n, int allow_empty, const char *origin,
                      const char *key)
{
    *n = 0;
    if (!*v || !strcmp(v, "none")) {
        if (allow_empty) return DDPM_OK;
        return ddpm_error("%s: key '%s': needs a comma-separated list of integers, e.g. 1,2,2,2",
                          origin, key);
    }
    const char *p = v;
    while (*p) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < 1 || x > 4096)
            return ddpm_error("%s: key '%s': '%s' is not a list of positive integers (e.g. 1,2,2,2)",
                              origin, key, v);
        if (*n >= maxn)
            return ddpm_error("%s: key '%s': at most %d entries allowed", origin, key, maxn);
        out[(*n)++] = (int)x;
        while (*end == ' ') end++;
        if (*end == ',') end++;
        else if (*end)
            return ddpm_error("%s: key '%s': '%s' is not a list of positive integers (e.g. 1,2,2,2)",
                              origin, key, v);
        while (*end == ' ') end++;
        p = end;
    }
    return DDPM_OK;
}

static const char *const KEYS[] = {
    "dataset", "data_dir", "image_size", "ch", "ch_mult", "num_res_blocks", "attn_resolutions",
    "dropout", "resamp_with_conv", "num_diffusion_timesteps", "beta_schedule", "beta_start",
    "beta_end", "model_mean_type", "model_var_type", "loss_type", "batch_size", "lr", "warmup",
    "grad_clip", "ema_decay", "randflip", "train_steps", "seed", "num_groups", "grad_blocks",
};
#define NUM_KEYS ((int)DDPM_ARRAY_LEN(KEYS))

int config_set_kv(ddpm_config *c, const char *key, const char *v, const char *origin)
{
    int e;
    if (!strcmp(key, "dataset")) {
        DDPM_TRY(parse_enum(v, DATASET_NAMES, 4, &e, origin, key));
        c->dataset = (dataset_t)e;
    } else if (!strcmp(key, "data_dir")) {
        if (strlen(v) >= sizeof c->data_dir)
            return ddpm_error("%s: key 'data_dir': path too long", origin);
        snprintf(c->data_dir, sizeof c->data_dir, "%s", v);
    } else if (!strcmp(key, "image_size")) {
        return parse_int(v, 4, 4096, &c->image_size, origin, key);
    } else if (!strcmp(key, "ch")) {
        return parse_int(v, 1, 4096, &c->ch, origin, key);
    } else if (!strcmp(key, "ch_mult")) {
        return parse_list(v, c->ch_mult, CONFIG_MAX_LEVELS, &c->num_levels, 0, origin, key);
    } else if (!strcmp(key, "num_res_blocks")) {
        return parse_int(v, 1, 64, &c->num_res_blocks, origin, key);
    } else if (!strcmp(key, "attn_resolutions")) {
        return parse_list(v, c->attn_resolutions, CONFIG_MAX_ATTN, &c->num_attn, 1, origin, key);
    } else if (!strcmp(key, "dropout")) {
        return parse_double(v, 0.0, 0.99, &c->dropout, origin, key);
    } else if (!strcmp(key, "resamp_with_conv")) {
        return parse_bool(v, &c->resamp_with_conv, origin, key);
    } else if (!strcmp(key, "num_diffusion_timesteps")) {
        return parse_int(v, 1, 100000, &c->num_diffusion_timesteps, origin, key);
    } else if (!strcmp(key, "beta_schedule")) {
        DDPM_TRY(parse_enum(v, BETA_NAMES, 6, &e, origin, key));
        c->beta_schedule = (beta_schedule_t)e;
    } else if (!strcmp(key, "beta_start")) {
        return parse_double(v, 0.0, 1.0, &c->beta_start, origin, key);
    } else if (!strcmp(key, "beta_end")) {
        return parse_double(v, 0.0, 1.0, &c->beta_end, origin, key);
    } else if (!strcmp(key, "model_mean_type")) {
        DDPM_TRY(parse_enum(v, MEAN_NAMES, 3, &e, origin, key));
        c->model_mean_type = (model_mean_type_t)e;
    } else if (!strcmp(key, "model_var_type")) {
        DDPM_TRY(parse_enum(v, VAR_NAMES, 3, &e, origin, key));
        c->model_var_type = (model_var_type_t)e;
    } else if (!strcmp(key, "loss_type")) {
        DDPM_TRY(parse_enum(v, LOSS_NAMES, 2, &e, origin, key));
        c->loss_type = (loss_type_t)e;
    } else if (!strcmp(key, "batch_size")) {
        return parse_int(v, 1, 65536, &c->batch_size, origin, key);
    } else if (!strcmp(key, "lr")) {
        return parse_double(v, 0.0, 1.0, &c->lr, origin, key);
    } else if (!strcmp(key, "warmup")) {
        return parse_int(v, 0, 100000000, &c->warmup, origin, key);
    } else if (!strcmp(key, "grad_clip")) {
        return parse_double(v, 0.0, 1e30, &c->grad_clip, origin, key);
    } else if (!strcmp(key, "ema_decay")) {
        return parse_double(v, 0.0, 1.0, &c->ema_decay, origin, key);
    } else if (!strcmp(key, "randflip")) {
        return parse_bool(v, &c->randflip, origin, key);
    } else if (!strcmp(key, "train_steps")) {
        return parse_int64(v, 0, INT64_C(1) << 40, &c->train_steps, origin, key);
    } else if (!strcmp(key, "seed")) {
        int64_t s;
        DDPM_TRY(parse_int64(v, 0, INT64_MAX, &s, origin, key));
        c->seed = (uint64_t)s;
    } else if (!strcmp(key, "num_groups")) {
        return parse_int(v, 1, 4096, &c->num_groups, origin, key);
    } else if (!strcmp(key, "grad_blocks")) {
        return parse_int(v, 1, 65536, &c->grad_blocks, origin, key);
    } else {
        return ddpm_error("%s: unknown config key '%s' (known keys: dataset, data_dir, image_size, "
                          "ch, ch_mult, num_res_blocks, attn_resolutions, dropout, resamp_with_conv, "
                          "num_diffusion_timesteps, beta_schedule, beta_start, beta_end, "
                          "model_mean_type, model_var_type, loss_type, batch_size, lr, warmup, "
                          "grad_clip, ema_decay, randflip, train_steps, seed, num_groups, grad_blocks)",
                          origin, key);
    }
    return DDPM_OK;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

static int key_index(const char *k)
{
    for (int i = 0; i < NUM_KEYS; i++)
        if (!strcmp(k, KEYS[i])) return i;
    return -1;
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
                return ddpm_error("%s:%d: control character 0x%02x in the line (not a text file?)",
                                  origin, lineno, (unsigned char)*q);
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
            if (cap > (1u << 24)) { free(buf); fclose(f); return ddpm_error("%s: config file too large", path); }
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); return ddpm_error("out of memory reading %s", path); }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r < 4096) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) { free(buf); return ddpm_error("%s: read error", path); }
    buf[n] = 0;
    if (memchr(buf, 0, n)) { free(buf); return ddpm_error("%s: not a text file", path); }
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
    if (kl >= sizeof key || strlen(eq + 1) >= sizeof val)
        return ddpm_error("--set '%s': too long", assignment);
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

int config_validate(const ddpm_config *c)
{
    if (c->loss_type == LOSS_MSE && c->model_var_type == VAR_LEARNED)
        return ddpm_error("config: loss_type = mse cannot train model_var_type = learned (the "
                          "variance gets no gradient); use loss_type = kl or a fixed variance");
    if (c->beta_schedule != BETA_JSD && c->beta_schedule != BETA_CONST && c->beta_start > c->beta_end)
        return ddpm_error("config: beta_start (%g) must not exceed beta_end (%g)", c->beta_start,
                          c->beta_end);
    if (c->beta_end <= 0 && c->beta_schedule != BETA_JSD)
        return ddpm_error("config: beta_end must be > 0");
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
                              "set num_groups to a divisor", chl, c->num_groups);
    }
    for (int a = 0; a < c->num_attn; a++) {
        int r = c->image_size, hit = 0;
        for (int l = 0; l < c->num_levels; l++, r /= 2) hit |= r == c->attn_resolutions[a];
        if (!hit)
            return ddpm_error("config: attn_resolutions names %d, which is no level of this U-Net (image_size %d "
                              "halved %d times); use resolutions the levels have, or none",
                              c->attn_resolutions[a], c->image_size, c->num_levels - 1);
    }
    if (!(c->lr > 0)) return ddpm_error("config: lr must be > 0 (it is %g)", c->lr);
    if (c->ch % 2) return ddpm_error("config: ch must be even (sinusoidal timestep embedding)");
    if (c->ch < 4) return ddpm_error("config: ch must be at least 4");
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
    if (k == 0) { snprintf(buf, n, "none"); return; }
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
    const char *k = KEYS[i];
    if (!strcmp(k, "dataset")) snprintf(b, n, "%s", DATASET_NAMES[c->dataset]);
    else if (!strcmp(k, "data_dir")) snprintf(b, n, "%s", c->data_dir);
    else if (!strcmp(k, "image_size")) snprintf(b, n, "%d", c->image_size);
    else if (!strcmp(k, "ch")) snprintf(b, n, "%d", c->ch);
    else if (!strcmp(k, "ch_mult")) list_str(b, n, c->ch_mult, c->num_levels);
    else if (!strcmp(k, "num_res_blocks")) snprintf(b, n, "%d", c->num_res_blocks);
    else if (!strcmp(k, "attn_resolutions")) list_str(b, n, c->attn_resolutions, c->num_attn);
    else if (!strcmp(k, "dropout")) fmt_double(b, n, c->dropout, exact);
    else if (!strcmp(k, "resamp_with_conv")) snprintf(b, n, "%d", c->resamp_with_conv);
    else if (!strcmp(k, "num_diffusion_timesteps")) snprintf(b, n, "%d", c->num_diffusion_timesteps);
    else if (!strcmp(k, "beta_schedule")) snprintf(b, n, "%s", BETA_NAMES[c->beta_schedule]);
    else if (!strcmp(k, "beta_start")) fmt_double(b, n, c->beta_start, exact);
    else if (!strcmp(k, "beta_end")) fmt_double(b, n, c->beta_end, exact);
    else if (!strcmp(k, "model_mean_type")) snprintf(b, n, "%s", MEAN_NAMES[c->model_mean_type]);
    else if (!strcmp(k, "model_var_type")) snprintf(b, n, "%s", VAR_NAMES[c->model_var_type]);
    else if (!strcmp(k, "loss_type")) snprintf(b, n, "%s", LOSS_NAMES[c->loss_type]);
    else if (!strcmp(k, "batch_size")) snprintf(b, n, "%d", c->batch_size);
    else if (!strcmp(k, "lr")) fmt_double(b, n, c->lr, exact);
    else if (!strcmp(k, "warmup")) snprintf(b, n, "%d", c->warmup);
    else if (!strcmp(k, "grad_clip")) fmt_double(b, n, c->grad_clip, exact);
    else if (!strcmp(k, "ema_decay")) fmt_double(b, n, c->ema_decay, exact);
    else if (!strcmp(k, "randflip")) snprintf(b, n, "%d", c->randflip);
    else if (!strcmp(k, "train_steps")) snprintf(b, n, "%lld", (long long)c->train_steps);
    else if (!strcmp(k, "seed")) snprintf(b, n, "%llu", (unsigned long long)c->seed);
    else if (!strcmp(k, "num_groups")) snprintf(b, n, "%d", c->num_groups);
    else if (!strcmp(k, "grad_blocks")) snprintf(b, n, "%d", c->grad_blocks);
    else b[0] = 0;
}

int config_each(const ddpm_config *c, int (*fn)(const char *key, const char *value, void *user),
                void *user)
{
    char v[1024];
    for (int i = 0; i < NUM_KEYS; i++) {
        value_str(c, i, v, sizeof v, 0);
        DDPM_TRY(fn(KEYS[i], v, user));
    }
    return DDPM_OK;
}

static int dump_text(const ddpm_config *c, char *buf, size_t n, int exact)
{
    size_t o = 0;
    char v[1024];
    if (n) buf[0] = 0;
    for (int i = 0; i < NUM_KEYS; i++) {
        if (!strcmp(KEYS[i], "grad_blocks") && c->grad_blocks == 1) continue; /* see config.h */
        value_str(c, i, v, sizeof v, exact);
        int w = snprintf(o < n ? buf + o : NULL, o < n ? n - o : 0, "%s = %s\n", KEYS[i], v);
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

/* Keys whose value is part of what a trained network computes: overriding one against a
 * checkpoint would silently change the meaning of its weights. */
static const char *const MODEL_KEYS[] = {
    "dataset", "image_size", "ch", "ch_mult", "num_res_blocks", "attn_resolutions", "dropout",
    "resamp_with_conv", "num_diffusion_timesteps", "beta_schedule", "beta_start", "beta_end",
    "model_mean_type", "model_var_type", "loss_type", "num_groups",
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
