/* released_names.c — name maps and layout changes of released_names.h. */
#include "model/released_names.h"

#include "core/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *key_style_name(key_style s)
{
    switch (s) {
    case KEYS_OFFICIAL: return "official";
    case KEYS_PESSER: return "pesser";
    case KEYS_DIFFUSERS: return "diffusers";
    case KEYS_DIFFUSERS_NEW: return "diffusers (to_q/to_k/to_v/to_out.0)";
    }
    return "?";
}

const char *param_layout_name(param_layout l)
{
    switch (l) {
    case LAYOUT_COPY: return "copy";
    case LAYOUT_CONV: return "conv";
    case LAYOUT_DENSE: return "dense";
    case LAYOUT_NIN: return "nin";
    }
    return "?";
}

/* "block_3" with prefix "block_" -> 3; -1 when it does not match. */
static int index_of(const char *tok, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strncmp(tok, prefix, pl) || !tok[pl]) return -1;
    int v = 0;
    for (const char *c = tok + pl; *c; c++) {
        if (*c < '0' || *c > '9' || v > 100000) return -1;
        v = v * 10 + (*c - '0');
    }
    return v;
}

typedef struct {
    const char *official, *pesser, *diffusers, *diffusers_new;
    param_layout layout;
} layer_name;

static const layer_name RESNET_LAYERS[] = {
    { "norm1", "norm1", "norm1", "norm1", LAYOUT_COPY },
    { "conv1", "conv1", "conv1", "conv1", LAYOUT_CONV },
    { "temb_proj", "temb_proj", "time_emb_proj", "time_emb_proj", LAYOUT_DENSE },
    { "norm2", "norm2", "norm2", "norm2", LAYOUT_COPY },
    { "conv2", "conv2", "conv2", "conv2", LAYOUT_CONV },
    { "nin_shortcut", "nin_shortcut", "conv_shortcut", "conv_shortcut", LAYOUT_NIN },
};

static const layer_name ATTN_LAYERS[] = {
    { "norm", "norm", "group_norm", "group_norm", LAYOUT_COPY },
    { "q", "q", "query", "to_q", LAYOUT_NIN },
    { "k", "k", "key", "to_k", LAYOUT_NIN },
    { "v", "v", "value", "to_v", LAYOUT_NIN },
    { "proj_out", "proj_out", "proj_attn", "to_out.0", LAYOUT_NIN },
};

static const layer_name *find_layer(const layer_name *t, size_t n, const char *tok)
{
    for (size_t k = 0; k < n; k++)
        if (!strcmp(t[k].official, tok)) return &t[k];
    return NULL;
}

static const char *pick(const layer_name *l, key_style s)
{
    return s == KEYS_PESSER ? l->pesser : s == KEYS_DIFFUSERS ? l->diffusers : l->diffusers_new;
}

int released_key(const char *official, key_style style, int num_levels, char *out, size_t n, param_layout *layout,
                 int *torch_rank)
{
    char buf[160], *tok[8];
    int nt = 0;
    if (strlen(official) >= sizeof buf) return ddpm_error("parameter name too long: %.60s...", official);
    strcpy(buf, official);
    for (char *s = strtok(buf, "/"); s && nt < 8; s = strtok(NULL, "/")) tok[nt++] = s;
    param_layout lay = LAYOUT_COPY;
    int trank = 1;
    if (style == KEYS_OFFICIAL) { snprintf(out, n, "%s", official); }
    if (nt < 3 || strcmp(tok[0], "model")) goto bad;
    const char *leaf = tok[nt - 1];
    const char *tleaf = !strcmp(leaf, "W") || !strcmp(leaf, "gamma")  ? "weight"
                        : !strcmp(leaf, "b") || !strcmp(leaf, "beta") ? "bias"
                                                                      : NULL;
    if (!tleaf) goto bad;
    int is_w = !strcmp(leaf, "W"), is_norm = !strcmp(leaf, "gamma") || !strcmp(leaf, "beta");
    char scope[128]; /* torch module path without the leaf */
    int D = style != KEYS_PESSER;
    const layer_name *l = NULL;
    if (!strcmp(tok[1], "temb") && nt == 4) {
        int k = !strcmp(tok[2], "dense0") ? 0 : !strcmp(tok[2], "dense1") ? 1 : -1;
        if (k < 0 || is_norm) goto bad;
        if (D) snprintf(scope, sizeof scope, "time_embedding.linear_%d", k + 1);
        else snprintf(scope, sizeof scope, "temb.dense.%d", k);
        lay = LAYOUT_DENSE;
    } else if (nt == 3 && (!strcmp(tok[1], "conv_in") || !strcmp(tok[1], "conv_out"))) {
        if (is_norm) goto bad;
        snprintf(scope, sizeof scope, "%s", tok[1]);
        lay = LAYOUT_CONV;
    } else if (nt == 3 && !strcmp(tok[1], "norm_out")) {
        if (!is_norm) goto bad;
        snprintf(scope, sizeof scope, "%s", D ? "conv_norm_out" : "norm_out");
    } else if (nt == 5 && !strcmp(tok[1], "mid")) {
        char blk[64];
        if (!strcmp(tok[2], "block_1") || !strcmp(tok[2], "block_2")) {
            l = find_layer(RESNET_LAYERS, DDPM_ARRAY_LEN(RESNET_LAYERS), tok[3]);
            if (D) snprintf(blk, sizeof blk, "mid_block.resnets.%d", tok[2][6] - '1');
            else snprintf(blk, sizeof blk, "mid.%s", tok[2]);
        } else if (!strcmp(tok[2], "attn_1")) {
            l = find_layer(ATTN_LAYERS, DDPM_ARRAY_LEN(ATTN_LAYERS), tok[3]);
            if (D) snprintf(blk, sizeof blk, "mid_block.attentions.0");
            else snprintf(blk, sizeof blk, "mid.attn_1");
            if (l && l->layout == LAYOUT_NIN && D) trank = 2;
        } else goto bad;
        if (!l) goto bad;
        snprintf(scope, sizeof scope, "%s.%s", blk, D ? pick(l, style) : l->pesser);
        lay = l->layout;
    } else if ((index_of(tok[1], "down_") >= 0 || index_of(tok[1], "up_") >= 0) && nt >= 4) {
        int up = index_of(tok[1], "up_") >= 0;
        int i = up ? index_of(tok[1], "up_") : index_of(tok[1], "down_");
        if (i >= num_levels) goto bad;
        int di = up ? num_levels - 1 - i : i; /* diffusers numbers up blocks from the bottom */
        const char *P = up ? "up" : "down", *DP = up ? "up_blocks" : "down_blocks";
        int j;
        if (nt == 5 && (j = index_of(tok[2], "block_")) >= 0) {
            l = find_layer(RESNET_LAYERS, DDPM_ARRAY_LEN(RESNET_LAYERS), tok[3]);
            if (!l) goto bad;
            if (D) snprintf(scope, sizeof scope, "%s.%d.resnets.%d.%s", DP, di, j, pick(l, style));
            else snprintf(scope, sizeof scope, "%s.%d.block.%d.%s", P, i, j, l->pesser);
        } else if (nt == 5 && (j = index_of(tok[2], "attn_")) >= 0) {
            l = find_layer(ATTN_LAYERS, DDPM_ARRAY_LEN(ATTN_LAYERS), tok[3]);
            if (!l) goto bad;
            if (D) snprintf(scope, sizeof scope, "%s.%d.attentions.%d.%s", DP, di, j, pick(l, style));
            else snprintf(scope, sizeof scope, "%s.%d.attn.%d.%s", P, i, j, l->pesser);
            if (l->layout == LAYOUT_NIN && D) trank = 2;
        } else if (nt == 5 && !strcmp(tok[2], up ? "upsample" : "downsample") && !strcmp(tok[3], "conv")) {
            static const layer_name conv = { "conv", "conv", "conv", "conv", LAYOUT_CONV };
            l = &conv;
            if (D) snprintf(scope, sizeof scope, "%s.%d.%s.0.conv", DP, di, up ? "upsamplers" : "downsamplers");
            else snprintf(scope, sizeof scope, "%s.%d.%s.conv", P, i, up ? "upsample" : "downsample");
        } else goto bad;
        lay = l->layout;
    } else goto bad;
    /* the leaf must suit the layer: gamma/beta only on norms, W/b only on the others */
    if ((lay == LAYOUT_COPY) != is_norm) goto bad;
    if (!is_w) {
        lay = LAYOUT_COPY;
        trank = 1;
    } else if (lay == LAYOUT_CONV) {
        trank = 4;
    } else if (lay == LAYOUT_DENSE) {
        trank = 2;
    } else if (lay == LAYOUT_NIN && trank != 2) {
        trank = 4;
    }
    if (style != KEYS_OFFICIAL) {
        size_t need = strlen(scope) + 1 + strlen(tleaf) + 1;
        if (need > n) return ddpm_error("key buffer too small for %s", official);
        snprintf(out, n, "%s.%s", scope, tleaf);
    }
    if (layout) *layout = lay;
    if (torch_rank) *torch_rank = trank;
    return DDPM_OK;
bad:
    return ddpm_error("'%s' is not a parameter name of the official U-Net", official);
}

/* TF conv [kh,kw,in,out] vs torch [out,in,kh,kw]; dense/nin [in,out] vs [out,in]. */
static void convert(float *dst, const float *src, param_layout l, int rank, const int *tf, int to_tf)
{
    size_t numel = 1;
    for (int k = 0; k < rank; k++) numel *= (size_t)tf[k];
    if (l == LAYOUT_COPY || rank < 2) {
        memcpy(dst, src, numel * sizeof *dst);
        return;
    }
    if (l == LAYOUT_CONV && rank == 4) {
        size_t KH = (size_t)tf[0], KW = (size_t)tf[1], I = (size_t)tf[2], O = (size_t)tf[3];
        for (size_t y = 0; y < KH; y++)
            for (size_t x = 0; x < KW; x++)
                for (size_t i = 0; i < I; i++)
                    for (size_t o = 0; o < O; o++) {
                        size_t t_ = ((y * KW + x) * I + i) * O + o, p = ((o * I + i) * KH + y) * KW + x;
                        if (to_tf) dst[t_] = src[p];
                        else dst[p] = src[t_];
                    }
        return;
    }
    /* rank 2 [in,out] */
    size_t I = (size_t)tf[0], O = (size_t)tf[1];
    for (size_t i = 0; i < I; i++)
        for (size_t o = 0; o < O; o++) {
            if (to_tf) dst[i * O + o] = src[o * I + i];
            else dst[o * I + i] = src[i * O + o];
        }
}

void layout_torch_to_tf(float *dst, const float *src, param_layout l, int rank, const int *tf)
{
    convert(dst, src, l, rank, tf, 1);
}

void layout_tf_to_torch(float *dst, const float *src, param_layout l, int rank, const int *tf)
{
    convert(dst, src, l, rank, tf, 0);
}

int layout_torch_shape(param_layout l, int rank, const int *tf, int trank, long long *out)
{
    if (l == LAYOUT_COPY || rank < 2) {
        for (int k = 0; k < rank; k++) out[k] = tf[k];
        return rank;
    }
    if (l == LAYOUT_CONV) {
        out[0] = tf[3];
        out[1] = tf[2];
        out[2] = tf[0];
        out[3] = tf[1];
        return 4;
    }
    out[0] = tf[1];
    out[1] = tf[0];
    if (trank == 4) {
        out[2] = out[3] = 1;
        return 4;
    }
    return 2;
}
