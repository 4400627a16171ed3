/* released.c — conversion of released models to checkpoints and back (released.h). */
#include "train/released.h"

#include "core/common.h"
#include "io/h5io.h"
#include "io/pth.h"
#include "io/safetensors.h"
#include "io/tensor_file.h"
#include "model/unet.h"
#include "train/checkpoint.h"

#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EMA_SUFFIX "/ExponentialMovingAverage"

typedef struct {
    const tensor_file *f;
    const char *path;
    key_style style;
    int num_levels;
    int ema;             /* TF: read NAME/ExponentialMovingAverage */
    unsigned char *used; /* per source tensor */
} source;

static void note(released_report *r, const char *fmt, ...) DDPM_PRINTF(2, 3);
static void note(released_report *r, const char *fmt, ...)
{
    size_t L = strlen(r->notes);
    if (L + 2 >= sizeof r->notes) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->notes + L, sizeof r->notes - L - 1, fmt, ap);
    va_end(ap);
    L = strlen(r->notes);
    r->notes[L] = '\n';
    r->notes[L + 1] = 0;
}

/* Index of official parameter `official` in the source (-1 if absent), its source key, layout. */
static int src_find(const source *s, const char *official, char *key, size_t kn, param_layout *lay)
{
    int trank;
    if (s->style == KEYS_OFFICIAL) {
        if (released_key(official, KEYS_OFFICIAL, s->num_levels, key, kn, lay, &trank) != DDPM_OK) return -1;
        if (s->ema) snprintf(key + strlen(key), kn - strlen(key), "%s", EMA_SUFFIX);
        return tensor_file_find(s->f, key);
    }
    if (released_key(official, s->style, s->num_levels, key, kn, lay, &trank) != DDPM_OK) return -1;
    int i = tensor_file_find(s->f, key);
    if (i < 0 && s->style == KEYS_DIFFUSERS) { /* diffusers >= 0.17 spells attention to_q/... */
        char alt[256];
        if (released_key(official, KEYS_DIFFUSERS_NEW, s->num_levels, alt, sizeof alt, lay, &trank) == DDPM_OK &&
            (i = tensor_file_find(s->f, alt)) >= 0)
            snprintf(key, kn, "%s", alt);
    }
    return i;
}

/* The source tensor's shape in TF layout; *ok = 0 when its rank cannot be this layout's. */
static int src_tf_shape(const source *s, int i, param_layout lay, int *rank, int64_t tf[IO_MAX_RANK], int *ok)
{
    io_dtype dt;
    int r;
    int64_t sh[IO_MAX_RANK];
    DDPM_TRY(tensor_file_info(s->f, i, &dt, &r, sh, NULL));
    *ok = 1;
    if (s->style == KEYS_OFFICIAL || lay == LAYOUT_COPY) {
        *rank = r;
        for (int k = 0; k < r; k++) tf[k] = sh[k];
        return DDPM_OK;
    }
    if (lay == LAYOUT_CONV) {
        if (r != 4) {
            *ok = 0;
            *rank = r;
            for (int k = 0; k < r; k++) tf[k] = sh[k];
            return DDPM_OK;
        }
        tf[0] = sh[2];
        tf[1] = sh[3];
        tf[2] = sh[1];
        tf[3] = sh[0];
        *rank = 4;
        return DDPM_OK;
    }
    /* dense / nin: [out,in] or [out,in,1,1] */
    if (!(r == 2 || (r == 4 && sh[2] == 1 && sh[3] == 1)) || (lay == LAYOUT_DENSE && r != 2)) {
        *ok = 0;
        *rank = r;
        for (int k = 0; k < r; k++) tf[k] = sh[k];
        return DDPM_OK;
    }
    tf[0] = sh[1];
    tf[1] = sh[0];
    *rank = 2;
    return DDPM_OK;
}

/* TF-layout shape of official parameter name, or found = 0. */
static int probe(const source *s, const char *official, int *found, int *rank, int64_t tf[IO_MAX_RANK])
{
    char key[256];
    param_layout lay;
    int i = src_find(s, official, key, sizeof key, &lay);
    *found = i >= 0;
    if (i < 0) return DDPM_OK;
    int ok;
    DDPM_TRY(src_tf_shape(s, i, lay, rank, tf, &ok));
    if (!ok)
        return ddpm_error("%s: %s has rank %d, which is not a %s layer's", s->path, key, *rank, param_layout_name(lay));
    return DDPM_OK;
}

static int has(const source *s, const char *official)
{
    char key[256];
    param_layout lay;
    return src_find(s, official, key, sizeof key, &lay) >= 0;
}

static int mismatch(const source *s, const char *key, const char *fv, const char *cv)
{
    return ddpm_error("%s: %s is %s in the file but %s in the config (fix --config or drop it to infer)", s->path, key,
                      fv, cv);
}

static void ints_str(char *b, size_t n, const int *v, int k)
{
    b[0] = 0;
    for (int i = 0; i < k; i++) snprintf(b + strlen(b), n - strlen(b), "%s%d", i ? "," : "", v[i]);
    if (!k) snprintf(b, n, "(none)");
}

/* The architecture from the shapes, checked against or written into cfg. */
static int infer_config(source *s, ddpm_config *cfg, int check, released_report *rep)
{
    int found, r;
    int64_t sh[IO_MAX_RANK];
    DDPM_TRY(probe(s, "model/conv_in/W", &found, &r, sh));
    if (!found || r != 4) return ddpm_error("%s: no conv_in weight (a U-Net of the DDPM release has one)", s->path);
    int ch = (int)sh[3], cin = (int)sh[2];
    s->num_levels = CONFIG_MAX_LEVELS; /* down blocks do not depend on it; fixed below */
    int L = 0, nrb = 0, mult[CONFIG_MAX_LEVELS + 1], attn_lv[CONFIG_MAX_LEVELS + 1];
    char nm[160];
    for (;;) {
        snprintf(nm, sizeof nm, "model/down_%d/block_0/conv1/W", L);
        if (!has(s, nm)) break;
        if (L >= CONFIG_MAX_LEVELS) return ddpm_error("%s: more than %d resolution levels", s->path, CONFIG_MAX_LEVELS);
        DDPM_TRY(probe(s, nm, &found, &r, sh));
        if (r != 4 || sh[3] % ch)
            return ddpm_error("%s: %s has %lld output channels, not a multiple of ch = %d", s->path, nm,
                              (long long)sh[3], ch);
        mult[L] = (int)(sh[3] / ch);
        snprintf(nm, sizeof nm, "model/down_%d/attn_0/q/W", L);
        attn_lv[L] = has(s, nm);
        L++;
    }
    if (L == 0) return ddpm_error("%s: no down_0/block_0 (not a DDPM U-Net)", s->path);
    s->num_levels = L;
    for (;;) {
        snprintf(nm, sizeof nm, "model/down_0/block_%d/conv1/W", nrb);
        if (!has(s, nm) || nrb > 64) break;
        nrb++;
    }
    int resamp = L > 1 ? has(s, "model/down_0/downsample/conv/W") : cfg->resamp_with_conv;
    DDPM_TRY(probe(s, "model/conv_out/W", &found, &r, sh));
    if (!found || r != 4) return ddpm_error("%s: no conv_out weight", s->path);
    int cout = (int)sh[3];

    if (!check) {
        int img = L == 6 ? 256 : cin == 1 ? 28 : 32;
        cfg->image_size = img;
        cfg->dataset = cin == 3   ? (img == 32 ? DATASET_CIFAR10 : DATASET_PNG_RGB)
                       : cin == 1 ? (img == 28 ? DATASET_FASHION_MNIST : DATASET_PNG_GRAY)
                                  : cfg->dataset;
        if (cin != 1 && cin != 3) return ddpm_error("%s: %d input channels (only 1 or 3 are supported)", s->path, cin);
        note(rep, "image_size = %d (not in the weights: %s; pass --config to set it)", img,
             L == 6 ? "6 levels, as every released 256x256 model" : "the data set's size");
        if (L == 6) {
            cfg->dropout = 0.0;
            cfg->model_var_type = VAR_FIXEDSMALL;
            note(rep, "dropout = 0, model_var_type = fixedsmall (the released 256x256 models' settings)");
        }
        note(rep, "num_groups = %d, dropout = %g, diffusion keys: the defaults (not in the weights)", cfg->num_groups,
             cfg->dropout);
    }
    int attn_res[CONFIG_MAX_ATTN], na = 0;
    for (int i = 0; i < L; i++)
        if (attn_lv[i]) {
            if (na >= CONFIG_MAX_ATTN) return ddpm_error("%s: attention at too many levels", s->path);
            attn_res[na++] = cfg->image_size >> i;
        }
    if (check) {
        char a[64], b[64];
        if (ch != cfg->ch) {
            snprintf(a, sizeof a, "%d", ch);
            snprintf(b, sizeof b, "%d", cfg->ch);
            return mismatch(s, "ch", a, b);
        }
        int same = L == cfg->num_levels;
        for (int i = 0; same && i < L; i++) same = mult[i] == cfg->ch_mult[i];
        if (!same) {
            ints_str(a, sizeof a, mult, L);
            ints_str(b, sizeof b, cfg->ch_mult, cfg->num_levels);
            return mismatch(s, "ch_mult", a, b);
        }
        if (nrb != cfg->num_res_blocks) {
            snprintf(a, sizeof a, "%d", nrb);
            snprintf(b, sizeof b, "%d", cfg->num_res_blocks);
            return mismatch(s, "num_res_blocks", a, b);
        }
        same = na == cfg->num_attn;
        for (int i = 0; same && i < na; i++) {
            int in_cfg = 0;
            for (int k = 0; k < cfg->num_attn; k++) in_cfg |= cfg->attn_resolutions[k] == attn_res[i];
            same = in_cfg;
        }
        if (!same) {
            ints_str(a, sizeof a, attn_res, na);
            ints_str(b, sizeof b, cfg->attn_resolutions, cfg->num_attn);
            snprintf(a + strlen(a), sizeof a - strlen(a), " at image_size %d", cfg->image_size);
            return mismatch(s, "attn_resolutions", a, b);
        }
        if (resamp != cfg->resamp_with_conv)
            return mismatch(s, "resamp_with_conv", resamp ? "true" : "false", cfg->resamp_with_conv ? "true" : "false");
        if (cin != config_in_channels(cfg)) {
            snprintf(a, sizeof a, "%d", cin);
            snprintf(b, sizeof b, "%d (dataset)", config_in_channels(cfg));
            return mismatch(s, "input channels", a, b);
        }
        if (cout != config_out_channels(cfg)) {
            snprintf(a, sizeof a, "%d", cout);
            snprintf(b, sizeof b, "%d (model_var_type)", config_out_channels(cfg));
            return mismatch(s, "output channels", a, b);
        }
    } else {
        cfg->ch = ch;
        cfg->num_levels = L;
        for (int i = 0; i < L; i++) cfg->ch_mult[i] = mult[i];
        cfg->num_res_blocks = nrb;
        cfg->num_attn = na;
        for (int i = 0; i < na; i++) cfg->attn_resolutions[i] = attn_res[i];
        cfg->resamp_with_conv = resamp;
        if (cout == 2 * cin) {
            cfg->model_var_type = VAR_LEARNED;
            cfg->loss_type = LOSS_KL;
            note(rep, "model_var_type = learned, loss_type = kl (%d output channels)", cout);
        } else if (cout != cin) {
            return ddpm_error("%s: %d output channels for %d input channels (expected %d or %d)", s->path, cout, cin,
                              cin, 2 * cin);
        } else if (cfg->model_var_type == VAR_LEARNED) {
            cfg->model_var_type = VAR_FIXEDLARGE;
        }
        char a[64], b[64];
        ints_str(a, sizeof a, mult, L);
        ints_str(b, sizeof b, attn_res, na);
        note(rep,
             "inferred from the shapes: ch = %d, ch_mult = %s, num_res_blocks = %d, attn_resolutions = %s, "
             "resamp_with_conv = %s, %d in / %d out channels",
             ch, a, nrb, b, resamp ? "true" : "false", cin, cout);
    }
    if (config_validate(cfg) != DDPM_OK)
        return ddpm_error_prefix("%s: the inferred config is not valid (pass --config with the model's values)",
                                 s->path);
    return DDPM_OK;
}

static void fmt_shape(char *b, size_t n, int rank, const int64_t *sh)
{
    snprintf(b, n, "[");
    for (int k = 0; k < rank; k++) snprintf(b + strlen(b), n - strlen(b), "%s%lld", k ? "," : "", (long long)sh[k]);
    snprintf(b + strlen(b), n - strlen(b), "]");
}

/* Every parameter of m from the source into params (TF layout). */
static int read_group(source *s, const unet *m, float *params)
{
    for (int t = 0; t < unet_num_tensors(m); t++) {
        const unet_param *p = unet_tensor(m, t);
        char key[256];
        param_layout lay;
        int i = src_find(s, p->name, key, sizeof key, &lay);
        if (i < 0) {
            char k2[256];
            if (s->style == KEYS_OFFICIAL) snprintf(k2, sizeof k2, "%s%s", p->name, s->ema ? EMA_SUFFIX : "");
            else released_key(p->name, s->style, s->num_levels, k2, sizeof k2, NULL, NULL);
            return ddpm_error("%s: tensor %s (official %s) is missing: not a complete model of this config", s->path,
                              k2, p->name);
        }
        if (s->used[i]) return ddpm_error("%s: tensor %s is claimed twice", s->path, key);
        s->used[i] = 1;
        io_dtype dt;
        DDPM_TRY(tensor_file_info(s->f, i, &dt, NULL, NULL, NULL));
        if (dt != IO_F32 && dt != IO_F64 && dt != IO_F16 && dt != IO_BF16)
            return ddpm_error("%s: tensor %s is %s, a float type expected", s->path, key, io_dtype_name(dt));
        int rank, ok;
        int64_t tf[IO_MAX_RANK];
        DDPM_TRY(src_tf_shape(s, i, lay, &rank, tf, &ok));
        int same = ok && rank == p->rank;
        for (int k = 0; same && k < rank; k++) same = tf[k] == p->shape[k];
        if (!same) {
            char a[96], b[96];
            int64_t want[4];
            for (int k = 0; k < p->rank; k++) want[k] = p->shape[k];
            fmt_shape(a, sizeof a, rank, tf);
            fmt_shape(b, sizeof b, p->rank, want);
            return ddpm_error("%s: tensor %s has TF-layout shape %s but %s must be %s (shape mismatch)", s->path, key,
                              a, p->name, b);
        }
        float *x;
        DDPM_TRY(tensor_file_get_f32(s->f, i, &x));
        if (s->style == KEYS_OFFICIAL) memcpy(params + p->offset, x, p->size * sizeof(float));
        else layout_torch_to_tf(params + p->offset, x, lay, p->rank, p->shape);
        ddpm_free(x);
    }
    return DDPM_OK;
}

static key_style detect_style(const tensor_file *f)
{
    for (int i = 0; i < tensor_file_count(f); i++) {
        const char *n = tensor_file_name(f, i);
        if (!strncmp(n, "model/", 6)) return KEYS_OFFICIAL;
        if (!strcmp(n, "temb.dense.0.weight")) return KEYS_PESSER;
        if (!strcmp(n, "time_embedding.linear_1.weight")) return KEYS_DIFFUSERS;
    }
    return (key_style)-1;
}

int released_convert(const char *from, const char *weights, ddpm_config *cfg, int check, const char *out, int argc,
                     char **argv, released_report *rep)
{
    memset(rep, 0, sizeof *rep);
    if (weights && strcmp(weights, "ema") && strcmp(weights, "raw"))
        return ddpm_error("--weights must be ema or raw, not '%s'", weights);
    tensor_file *f;
    DDPM_TRY(tensor_file_open(&f, from));
    rep->format = tensor_format_name(tensor_file_format(f));
    source s = { f, from, detect_style(f), 0, 0, NULL };
    unet *m = NULL;
    float *raw = NULL, *ema = NULL;
    int rc = DDPM_OK;
    if ((int)s.style < 0)
        rc = ddpm_error("%s: no DDPM U-Net keys (neither official model/..., pesser's temb.dense.0.weight nor "
                        "diffusers' time_embedding.linear_1.weight)",
                        from);
    rep->style = s.style;
    if (rc == DDPM_OK && s.style == KEYS_OFFICIAL) {
        int has_raw = tensor_file_find(f, "model/conv_in/W") >= 0;
        int has_ema = tensor_file_find(f, "model/conv_in/W" EMA_SUFFIX) >= 0;
        rep->both_weights = has_raw && has_ema;
        s.ema = !has_raw;
        if (rep->both_weights && weights)
            note(rep, "--weights %s ignored: the file holds both (raw -> model/, ExponentialMovingAverage -> ema/)",
                 weights);
        if (!has_raw && !weights) weights = "ema";
    }
    s.used = calloc((size_t)tensor_file_count(f) + 1, 1);
    if (!s.used) rc = ddpm_error("out of memory");
    if (rc == DDPM_OK) rc = infer_config(&s, cfg, check, rep);
    if (rc == DDPM_OK) rc = unet_create(&m, cfg, 1);
    if (rc == DDPM_OK) {
        size_t n = unet_num_params(m);
        raw = ddpm_alloc(n * sizeof *raw);
        ema = rep->both_weights ? ddpm_alloc(n * sizeof *ema) : NULL;
        if (!raw || (rep->both_weights && !ema)) rc = DDPM_ERR;
    }
    if (rc == DDPM_OK) rc = read_group(&s, m, raw);
    if (rc == DDPM_OK && rep->both_weights) {
        s.ema = 1;
        rc = read_group(&s, m, ema);
    }
    if (rc == DDPM_OK) {
        rep->n_params = unet_num_tensors(m);
        for (int i = 0; i < tensor_file_count(f); i++)
            if (!s.used[i]) {
                if (rep->n_extras < 4)
                    snprintf(rep->extras + strlen(rep->extras), sizeof rep->extras - strlen(rep->extras), "%s%s",
                             rep->n_extras ? ", " : "", tensor_file_name(f, i));
                rep->n_extras++;
            }
        if (!rep->both_weights && !weights) {
            weights = "ema";
            note(rep, "single-weight source: assumed to hold EMA weights (pass --weights raw if it does not)");
        }
        rc = checkpoint_save(out, cfg, m, raw, rep->both_weights ? ema : raw, NULL, 0, argc, argv);
    }
    if (rc == DDPM_OK) {
        hid_t h = h5io_open(out, 1);
        if (h < 0) rc = DDPM_ERR;
        char w[256];
        if (rep->both_weights) snprintf(w, sizeof w, "both: model/ = raw weights, ema/ = X/ExponentialMovingAverage");
        else
            snprintf(w, sizeof w, "single-weight source holding %s weights: model/ and ema/ hold the same tensors",
                     weights);
        if (rc == DDPM_OK) rc = h5io_attr_str(h, ".", "released_from", from);
        if (rc == DDPM_OK) rc = h5io_attr_str(h, ".", "released_format", rep->format);
        if (rc == DDPM_OK) rc = h5io_attr_str(h, ".", "released_keys", key_style_name(s.style));
        if (rc == DDPM_OK) rc = h5io_attr_str(h, ".", "released_weights", w);
        if (h >= 0 && h5io_close_sync(h, out) != DDPM_OK) rc = DDPM_ERR;
    }
    unet_free(m);
    ddpm_free(raw);
    ddpm_free(ema);
    free(s.used);
    tensor_file_close(f);
    return rc;
}

/* ---- export ------------------------------------------------------------------------------- */

int released_diffusers_config(const ddpm_config *c, char *buf, size_t n)
{
    char blocks[256] = "", down[512] = "", up[512] = "";
    for (int i = 0; i < c->num_levels; i++) {
        int res = c->image_size >> i, attn = 0;
        for (int k = 0; k < c->num_attn; k++) attn |= c->attn_resolutions[k] == res;
        snprintf(blocks + strlen(blocks), sizeof blocks - strlen(blocks), "%s%d", i ? ", " : "", c->ch * c->ch_mult[i]);
        snprintf(down + strlen(down), sizeof down - strlen(down), "%s\"%s\"", i ? ", " : "",
                 attn ? "AttnDownBlock2D" : "DownBlock2D");
    }
    for (int k = 0; k < c->num_levels; k++) {
        int i = c->num_levels - 1 - k, res = c->image_size >> i, attn = 0;
        for (int q = 0; q < c->num_attn; q++) attn |= c->attn_resolutions[q] == res;
        snprintf(up + strlen(up), sizeof up - strlen(up), "%s\"%s\"", k ? ", " : "",
                 attn ? "AttnUpBlock2D" : "UpBlock2D");
    }
    return snprintf(buf, n,
                    "{\n"
                    "  \"_class_name\": \"UNet2DModel\",\n"
                    "  \"_diffusers_version\": \"0.0.4\",\n"
                    "  \"act_fn\": \"silu\",\n"
                    "  \"attention_head_dim\": null,\n"
                    "  \"block_out_channels\": [%s],\n"
                    "  \"center_input_sample\": false,\n"
                    "  \"down_block_types\": [%s],\n"
                    "  \"downsample_padding\": 0,\n"
                    "  \"flip_sin_to_cos\": false,\n"
                    "  \"freq_shift\": 1,\n"
                    "  \"in_channels\": %d,\n"
                    "  \"layers_per_block\": %d,\n"
                    "  \"mid_block_scale_factor\": 1,\n"
                    "  \"norm_eps\": 1e-06,\n"
                    "  \"norm_num_groups\": %d,\n"
                    "  \"out_channels\": %d,\n"
                    "  \"sample_size\": %d,\n"
                    "  \"time_embedding_type\": \"positional\",\n"
                    "  \"up_block_types\": [%s]\n"
                    "}\n",
                    blocks, down, config_in_channels(c), c->num_res_blocks, c->num_groups, config_out_channels(c),
                    c->image_size, up);
}

static int write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    if (!fp) return ddpm_error("%s: cannot create (is the directory writable?)", path);
    int ok = fputs(text, fp) >= 0;
    if (fclose(fp) != 0) ok = 0;
    return ok ? DDPM_OK : ddpm_error("%s: write failed", path);
}

int released_export(const char *ckpt, const char *format, const char *weights, const char *out, char *config_json,
                    size_t cn)
{
    if (config_json && cn) config_json[0] = 0;
    key_style style;
    int st = 0;
    if (!strcmp(format, "pesser")) style = KEYS_PESSER;
    else if (!strcmp(format, "diffusers")) style = KEYS_DIFFUSERS;
    else if (!strcmp(format, "safetensors")) {
        style = KEYS_DIFFUSERS;
        st = 1;
    } else return ddpm_error("--format must be pesser, diffusers or safetensors, not '%s'", format);
    if (strcmp(weights, "ema") && strcmp(weights, "raw"))
        return ddpm_error("--weights must be ema or raw, not '%s'", weights);
    ddpm_config cfg;
    DDPM_TRY(checkpoint_read_config(ckpt, &cfg));
    if (style == KEYS_DIFFUSERS && !cfg.resamp_with_conv)
        return ddpm_error("%s: resamp_with_conv = false has no diffusers UNet2DModel equivalent", ckpt);
    unet *m;
    DDPM_TRY(unet_create(&m, &cfg, 1));
    size_t np = unet_num_params(m);
    int nt = unet_num_tensors(m);
    float *params = ddpm_alloc(np * sizeof *params), *torch = ddpm_alloc(np * sizeof *torch);
    pth_tensor_out *pt = calloc((size_t)nt, sizeof *pt);
    safetensors_tensor *stt = calloc((size_t)nt, sizeof *stt);
    char(*keys)[256] = calloc((size_t)nt, sizeof *keys);
    int rc = params && torch && pt && stt && keys ? DDPM_OK : ddpm_error("out of memory");
    if (rc == DDPM_OK) rc = checkpoint_load_weights(ckpt, m, strcmp(weights, "raw") ? "ema" : "model", params);
    for (int t = 0; t < nt && rc == DDPM_OK; t++) {
        const unet_param *p = unet_tensor(m, t);
        param_layout lay;
        int trank;
        rc = released_key(p->name, style, cfg.num_levels, keys[t], sizeof keys[t], &lay, &trank);
        if (rc != DDPM_OK) break;
        long long sh[4];
        int r = layout_torch_shape(lay, p->rank, p->shape, trank, sh);
        layout_tf_to_torch(torch + p->offset, params + p->offset, lay, p->rank, p->shape);
        pt[t].name = stt[t].name = keys[t];
        pt[t].rank = stt[t].rank = r;
        for (int k = 0; k < r; k++) pt[t].shape[k] = stt[t].shape[k] = sh[k];
        pt[t].data = torch + p->offset;
        stt[t].data = torch + p->offset;
        stt[t].dtype = IO_F32;
    }
    if (rc == DDPM_OK) {
        if (st) {
            const char *meta[2] = { "format", "pt" };
            rc = safetensors_write(out, stt, nt, meta, 1);
        } else {
            rc = pth_save_f32(out, pt, nt);
        }
    }
    if (rc == DDPM_OK && style == KEYS_DIFFUSERS) {
        char dir[1024], path[1100], text[4096];
        snprintf(dir, sizeof dir, "%s", out);
        snprintf(path, sizeof path, "%s/config.json", dirname(dir));
        released_diffusers_config(&cfg, text, sizeof text);
        rc = write_text(path, text);
        if (rc == DDPM_OK && config_json) snprintf(config_json, cn, "%s", path);
    }
    unet_free(m);
    ddpm_free(params);
    ddpm_free(torch);
    free(pt);
    free(stt);
    free(keys);
    return rc;
}
