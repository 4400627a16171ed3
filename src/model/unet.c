#include "model/unet.h"

#include "core/carve.h"
#include "core/common.h"
#include "core/rng.h"
#include "nn/attention.h"
#include "nn/conv2d.h"
#include "nn/dense.h"
#include "nn/dropout.h"
#include "nn/groupnorm.h"
#include "nn/resample.h"
#include "nn/swish.h"
#include "nn/tensor_ops.h"
#include "nn/timestep_embedding.h"
#include "nn/winograd.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameter table ---- */

typedef enum { INIT_WEIGHT, INIT_ZERO, INIT_ONE } init_kind;

typedef struct {
    unet_param pub;
    init_kind kind;
    double scale;        /* variance-scaling scale (weights) */
    int fan_in, fan_out; /* kh*kw*in, kh*kw*out (dense: in, out) */
} param_info;

#define ZERO_INIT_SCALE 1e-10 /* official default_init(scale=0) */

/* ---- the graph: nodes are activations with a gradient buffer; ops connect them ---- */

typedef struct {
    int H, W, C;
    float *val;  /* (B, H, W, C) */
    float *grad; /* (B, H, W, C) */
    int grad_op; /* the op whose backward writes grad first (zeroes it), -1 for the output */
} node;

typedef enum { OP_CONV, OP_RES, OP_ATTN, OP_CONCAT, OP_UPSAMPLE, OP_AVGPOOL, OP_NORM, OP_SWISH } op_kind;

typedef struct {
    /* parameter tensor indices (nin_* = -1 without a shortcut projection) */
    int norm1_beta, norm1_gamma, conv1_W, conv1_b, temb_W, temb_b;
    int norm2_beta, norm2_gamma, conv2_W, conv2_b, nin_W, nin_b;
    int dropout_layer;
    /* The GroupNorm, swish and dropout outputs (the convolutions' inputs) are NULL when the
     * model recomputes them in the backward from the block's input x, h1, the statistics kept in
     * double and the mask (see unet_create_ex). */
    float *n1, *a1;           /* (B, H, W, cin): norm1 output, swish output */
    float *h1, *n2, *a2, *d2; /* (B, H, W, cout): conv1 + temb, norm2, swish, dropout */
    float *mean1, *rstd1;     /* (B, G) */
    float *mean2, *rstd2;     /* (B, G) */
    double *stat_d;           /* (4, B, G) when recomputing: mean1, rstd1, mean2, rstd2 in double */
    float *tproj;             /* (B, cout) */
    uint8_t *mask;            /* (B, H, W, cout), only when dropout > 0 */
    /* temporaries of this op's forward (fa, fd) and backward (g1, g2, s2, s3) */
    float *fa, *fd;           /* (B, N, max(cin, cout)) swish outputs; (B, N, cout) dropout output */
    float *g1, *g2, *s2, *s3; /* (B, N, max(cin, cout)) x 3, (B, N, cout) */
    float *s4;                /* (B, N, max(cin, cout)): the recomputed GroupNorm outputs */
    int dropped;              /* the last forward applied dropout */
} res_op;

typedef struct {
    int norm_beta, norm_gamma, q_W, q_b, k_W, k_b, v_W, v_b, proj_W, proj_b;
    float *n, *q, *k, *v, *a; /* (B, N, C), N = H*W */
    float *w;                 /* (B, N, N) softmax probabilities */
    float *mean, *rstd;       /* (B, G) */
    float *da, *dq, *dk, *dv; /* backward temporaries (B, N, C) */
} attn_op;

typedef struct {
    int W, b, k, stride;
} conv_op;

typedef struct {
    int beta, gamma;
    float *mean, *rstd; /* (B, G) */
} norm_op;

typedef struct {
    op_kind kind;
    int in, in2, out; /* node indices; in2 = second input of a concat */
    union {
        res_op res;
        attn_op attn;
        conv_op conv;
        norm_op norm;
    } u;
} op;

struct unet {
    /* model keys */
    int in_ch, out_ch, S, ch, temb_ch, G, num_levels, num_res_blocks, resamp_with_conv;
    int ch_mult[CONFIG_MAX_LEVELS];
    int attn_res[CONFIG_MAX_ATTN], num_attn;
    double dropout;
    int max_batch;

    param_info *tab;
    int ntab, tab_cap;
    size_t nparams;
    float *params, *grads;

    node *nodes;
    int nnodes, nodes_cap;
    op *ops;
    int nops, ops_cap;
    int n_dropout;
    int x_node, out_node;
    int temb_dense0_W, temb_dense0_b, temb_dense1_W, temb_dense1_b;

    float *arena;
    size_t arena_floats;
    int recompute; /* res blocks recompute swish/dropout outputs */
    /* timestep embedding activations and gradients */
    float *emb;                         /* (B, ch) */
    float *t0, *t0s, *temb, *stemb;     /* (B, 4ch): dense0, swish, dense1, swish(temb) */
    float *dstemb, *dtemb, *dt0s, *dt0; /* (B, 4ch) */
    /* backward scratch */
    float *scr_nn; /* (largest N*N of an attention) */
    float *dtproj; /* (B, largest cout) */
    float *col;    /* im2col workspace */
    size_t col_cap;

    /* inference plan (unet_prepare_inference): the Winograd-transformed filters of every
     * Winograd convolution, indexed by the W tensor's table index */
    float *plan; /* one block, plan_floats */
    size_t plan_floats;
    size_t *plan_off;     /* (ntab) offset into plan */
    float *plan_col;      /* the planned convolutions' workspace when col is too small, else NULL */
    size_t plan_col_need; /* floats one example of the largest planned layer needs */
    int *plan_tile;       /* (ntab) output tile, 0 = not a planned convolution */
    uint64_t plan_hash;   /* weights_hash of the filters the plan holds */

    /* the last forward */
    int B, train, have_forward;
    uint64_t seed;
    uint32_t step;
    uint32_t first; /* global index of example 0 (dropout streams) */
};

/* ---- building ---- */

static int add_param(unet *m, const char *prefix, const char *leaf, int rank, const int *shape, init_kind kind,
                     double scale, int fan_in, int fan_out)
{
    if (m->ntab == m->tab_cap) {
        int cap = m->tab_cap ? 2 * m->tab_cap : 256;
        param_info *t = realloc(m->tab, (size_t)cap * sizeof *t);
        if (!t) return ddpm_error("unet: out of memory for the parameter table");
        m->tab = t;
        m->tab_cap = cap;
    }
    param_info *p = &m->tab[m->ntab];
    memset(p, 0, sizeof *p);
    int n = snprintf(p->pub.name, sizeof p->pub.name, "%s/%s", prefix, leaf);
    if (n < 0 || (size_t)n >= sizeof p->pub.name)
        return ddpm_error("unet: parameter name '%s/%s' too long", prefix, leaf);
    p->pub.rank = rank;
    size_t size = 1;
    for (int i = 0; i < rank; i++) {
        p->pub.shape[i] = shape[i];
        size *= (size_t)shape[i];
    }
    p->pub.offset = m->nparams;
    p->pub.size = size;
    p->kind = kind;
    p->scale = scale;
    p->fan_in = fan_in;
    p->fan_out = fan_out;
    m->nparams += size; /* packed: the block is exactly num_params floats */
    return m->ntab++;
}

/* W [k, k, cin, cout] (rank 4) or [cin, cout] (k = 0, dense/nin), then b [cout]. */
static int add_affine(unet *m, const char *prefix, int k, int cin, int cout, double scale, int *W, int *b)
{
    int shape[4];
    int rank;
    if (k > 0) {
        shape[0] = k;
        shape[1] = k;
        shape[2] = cin;
        shape[3] = cout;
        rank = 4;
    } else {
        shape[0] = cin;
        shape[1] = cout;
        rank = 2;
        k = 1;
    }
    *W = add_param(m, prefix, "W", rank, shape, INIT_WEIGHT, scale, k * k * cin, k * k * cout);
    if (*W < 0) return DDPM_ERR;
    *b = add_param(m, prefix, "b", 1, &cout, INIT_ZERO, 0.0, 0, 0);
    return *b < 0 ? DDPM_ERR : DDPM_OK;
}

static int add_norm_params(unet *m, const char *prefix, int C, int *beta, int *gamma)
{
    *beta = add_param(m, prefix, "beta", 1, &C, INIT_ZERO, 0.0, 0, 0);
    if (*beta < 0) return DDPM_ERR;
    *gamma = add_param(m, prefix, "gamma", 1, &C, INIT_ONE, 0.0, 0, 0);
    return *gamma < 0 ? DDPM_ERR : DDPM_OK;
}

static int add_node(unet *m, int H, int W, int C)
{
    if (m->nnodes == m->nodes_cap) {
        int cap = m->nodes_cap ? 2 * m->nodes_cap : 64;
        node *t = realloc(m->nodes, (size_t)cap * sizeof *t);
        if (!t) return ddpm_error("unet: out of memory for the graph");
        m->nodes = t;
        m->nodes_cap = cap;
    }
    node *n = &m->nodes[m->nnodes];
    memset(n, 0, sizeof *n);
    n->H = H;
    n->W = W;
    n->C = C;
    return m->nnodes++;
}

static op *add_op(unet *m, op_kind kind, int in, int in2, int out)
{
    if (m->nops == m->ops_cap) {
        int cap = m->ops_cap ? 2 * m->ops_cap : 64;
        op *t = realloc(m->ops, (size_t)cap * sizeof *t);
        if (!t) {
            ddpm_error("unet: out of memory for the graph");
            return NULL;
        }
        m->ops = t;
        m->ops_cap = cap;
    }
    op *o = &m->ops[m->nops++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->in = in;
    o->in2 = in2;
    o->out = out;
    return o;
}

static void join(char *buf, size_t n, const char *a, const char *b) { snprintf(buf, n, "%s/%s", a, b); }

/* Returns the output node, or -1 on error. */
static int build_conv(unet *m, const char *scope, int in, int cout, int stride, double scale)
{
    const node *x = &m->nodes[in];
    int H = conv2d_out_size(x->H, stride), W = conv2d_out_size(x->W, stride), cin = x->C;
    int Wi, bi;
    if (add_affine(m, scope, 3, cin, cout, scale, &Wi, &bi)) return -1;
    int out = add_node(m, H, W, cout);
    if (out < 0) return -1;
    op *o = add_op(m, OP_CONV, in, -1, out);
    if (!o) return -1;
    o->u.conv.W = Wi;
    o->u.conv.b = bi;
    o->u.conv.k = 3;
    o->u.conv.stride = stride;
    return out;
}

static int build_res(unet *m, const char *scope, int in, int cout)
{
    const int H = m->nodes[in].H, W = m->nodes[in].W, cin = m->nodes[in].C;
    res_op r;
    char s[160];
    memset(&r, 0, sizeof r);
    join(s, sizeof s, scope, "norm1");
    if (add_norm_params(m, s, cin, &r.norm1_beta, &r.norm1_gamma)) return -1;
    join(s, sizeof s, scope, "conv1");
    if (add_affine(m, s, 3, cin, cout, 1.0, &r.conv1_W, &r.conv1_b)) return -1;
    join(s, sizeof s, scope, "temb_proj");
    if (add_affine(m, s, 0, m->temb_ch, cout, 1.0, &r.temb_W, &r.temb_b)) return -1;
    join(s, sizeof s, scope, "norm2");
    if (add_norm_params(m, s, cout, &r.norm2_beta, &r.norm2_gamma)) return -1;
    join(s, sizeof s, scope, "conv2");
    if (add_affine(m, s, 3, cout, cout, ZERO_INIT_SCALE, &r.conv2_W, &r.conv2_b)) return -1;
    r.nin_W = r.nin_b = -1;
    if (cin != cout) {
        join(s, sizeof s, scope, "nin_shortcut");
        if (add_affine(m, s, 0, cin, cout, 1.0, &r.nin_W, &r.nin_b)) return -1;
    }
    r.dropout_layer = m->n_dropout++;
    int out = add_node(m, H, W, cout);
    if (out < 0) return -1;
    op *o = add_op(m, OP_RES, in, -1, out);
    if (!o) return -1;
    o->u.res = r;
    return out;
}

static int build_attn(unet *m, const char *scope, int in)
{
    const int H = m->nodes[in].H, W = m->nodes[in].W, C = m->nodes[in].C;
    attn_op a;
    char s[160];
    memset(&a, 0, sizeof a);
    join(s, sizeof s, scope, "norm");
    if (add_norm_params(m, s, C, &a.norm_beta, &a.norm_gamma)) return -1;
    join(s, sizeof s, scope, "q");
    if (add_affine(m, s, 0, C, C, 1.0, &a.q_W, &a.q_b)) return -1;
    join(s, sizeof s, scope, "k");
    if (add_affine(m, s, 0, C, C, 1.0, &a.k_W, &a.k_b)) return -1;
    join(s, sizeof s, scope, "v");
    if (add_affine(m, s, 0, C, C, 1.0, &a.v_W, &a.v_b)) return -1;
    join(s, sizeof s, scope, "proj_out");
    if (add_affine(m, s, 0, C, C, ZERO_INIT_SCALE, &a.proj_W, &a.proj_b)) return -1;
    int out = add_node(m, H, W, C);
    if (out < 0) return -1;
    op *o = add_op(m, OP_ATTN, in, -1, out);
    if (!o) return -1;
    o->u.attn = a;
    return out;
}

static int build_simple(unet *m, op_kind kind, int in, int in2)
{
    const node *x = &m->nodes[in];
    int H = x->H, W = x->W, C = x->C;
    if (kind == OP_UPSAMPLE) {
        H *= 2;
        W *= 2;
    }
    if (kind == OP_AVGPOOL) {
        H /= 2;
        W /= 2;
    }
    if (kind == OP_CONCAT) C += m->nodes[in2].C;
    int out = add_node(m, H, W, C);
    if (out < 0) return -1;
    return add_op(m, kind, in, in2, out) ? out : -1;
}

static int build_norm(unet *m, const char *scope, int in)
{
    int beta, gamma;
    if (add_norm_params(m, scope, m->nodes[in].C, &beta, &gamma)) return -1;
    int out = add_node(m, m->nodes[in].H, m->nodes[in].W, m->nodes[in].C);
    if (out < 0) return -1;
    op *o = add_op(m, OP_NORM, in, -1, out);
    if (!o) return -1;
    o->u.norm.beta = beta;
    o->u.norm.gamma = gamma;
    return out;
}

static int has_attn(const unet *m, int res)
{
    for (int i = 0; i < m->num_attn; i++)
        if (m->attn_res[i] == res) return 1;
    return 0;
}

#define CHECK_NODE(e)                                                                                                  \
    do {                                                                                                               \
        if ((e) < 0) return DDPM_ERR;                                                                                  \
    } while (0)

/* Walks the official model() and records parameters (creation order), nodes and ops. */
static int build_graph(unet *m)
{
    int hs[1 + CONFIG_MAX_LEVELS * 66];
    int nhs = 0;
    char s[160];
    if (add_affine(m, "model/temb/dense0", 0, m->ch, m->temb_ch, 1.0, &m->temb_dense0_W, &m->temb_dense0_b))
        return DDPM_ERR;
    if (add_affine(m, "model/temb/dense1", 0, m->temb_ch, m->temb_ch, 1.0, &m->temb_dense1_W, &m->temb_dense1_b))
        return DDPM_ERR;

    m->x_node = add_node(m, m->S, m->S, m->in_ch);
    CHECK_NODE(m->x_node);
    int h = build_conv(m, "model/conv_in", m->x_node, m->ch, 1, 1.0);
    CHECK_NODE(h);
    hs[nhs++] = h;
    for (int i = 0; i < m->num_levels; i++) {
        const int cout = m->ch * m->ch_mult[i];
        for (int j = 0; j < m->num_res_blocks; j++) {
            snprintf(s, sizeof s, "model/down_%d/block_%d", i, j);
            h = build_res(m, s, hs[nhs - 1], cout);
            CHECK_NODE(h);
            if (has_attn(m, m->nodes[h].H)) {
                snprintf(s, sizeof s, "model/down_%d/attn_%d", i, j);
                h = build_attn(m, s, h);
                CHECK_NODE(h);
            }
            hs[nhs++] = h;
        }
        if (i != m->num_levels - 1) {
            if (m->resamp_with_conv) {
                snprintf(s, sizeof s, "model/down_%d/downsample/conv", i);
                h = build_conv(m, s, hs[nhs - 1], m->nodes[hs[nhs - 1]].C, 2, 1.0);
            } else {
                h = build_simple(m, OP_AVGPOOL, hs[nhs - 1], -1);
            }
            CHECK_NODE(h);
            hs[nhs++] = h;
        }
    }

    h = hs[nhs - 1];
    const int cmid = m->nodes[h].C;
    h = build_res(m, "model/mid/block_1", h, cmid);
    CHECK_NODE(h);
    h = build_attn(m, "model/mid/attn_1", h);
    CHECK_NODE(h);
    h = build_res(m, "model/mid/block_2", h, cmid);
    CHECK_NODE(h);

    for (int i = m->num_levels - 1; i >= 0; i--) {
        const int cout = m->ch * m->ch_mult[i];
        for (int j = 0; j < m->num_res_blocks + 1; j++) {
            int cat = build_simple(m, OP_CONCAT, h, hs[--nhs]);
            CHECK_NODE(cat);
            snprintf(s, sizeof s, "model/up_%d/block_%d", i, j);
            h = build_res(m, s, cat, cout);
            CHECK_NODE(h);
            if (has_attn(m, m->nodes[h].H)) {
                snprintf(s, sizeof s, "model/up_%d/attn_%d", i, j);
                h = build_attn(m, s, h);
                CHECK_NODE(h);
            }
        }
        if (i != 0) {
            h = build_simple(m, OP_UPSAMPLE, h, -1);
            CHECK_NODE(h);
            if (m->resamp_with_conv) {
                snprintf(s, sizeof s, "model/up_%d/upsample/conv", i);
                h = build_conv(m, s, h, m->nodes[h].C, 1, 1.0);
                CHECK_NODE(h);
            }
        }
    }
    if (nhs != 0) return ddpm_error("unet: internal error, %d skip connections left", nhs);

    h = build_norm(m, "model/norm_out", h);
    CHECK_NODE(h);
    h = build_simple(m, OP_SWISH, h, -1);
    CHECK_NODE(h);
    h = build_conv(m, "model/conv_out", h, m->out_ch, 1, ZERO_INIT_SCALE);
    CHECK_NODE(h);
    m->out_node = h;
    return DDPM_OK;
}

/* ---- validation ---- */

/* The keys are checked by the one validator (config_validate_network): a config filled in code
 * meets the same ranges and messages as one read from a file. */
static int set_keys(unet *m, const ddpm_config *cfg)
{
    DDPM_TRY(config_validate_network(cfg));
    m->in_ch = config_in_channels(cfg);
    m->out_ch = config_out_channels(cfg);
    m->S = cfg->image_size;
    m->ch = cfg->ch;
    m->temb_ch = 4 * cfg->ch;
    m->G = cfg->num_groups;
    m->num_levels = cfg->num_levels;
    m->num_res_blocks = cfg->num_res_blocks;
    m->resamp_with_conv = cfg->resamp_with_conv;
    memcpy(m->ch_mult, cfg->ch_mult, sizeof m->ch_mult);
    m->num_attn = cfg->num_attn;
    memcpy(m->attn_res, cfg->attn_resolutions, sizeof m->attn_res);
    m->dropout = cfg->dropout;
    return DDPM_OK;
}

/* ---- activation arena ---- */

static size_t node_floats(const node *n) { return (size_t)n->H * n->W * n->C; }

/* Col workspace target: a few million floats lets the GEMMs of small layers span several
 * examples without holding the whole batch's im2col. */
#define COL_TARGET_FLOATS ((size_t)4 << 20)

/* The arena is shared by buffers that are never in use at the same time (core/carve.h,
 * carve_shared). Their lifetimes are steps of one training step's timeline: */
#define T_PRE    0                   /* input copy, timestep embedding */
#define T_FWD(i) (1 + (i))           /* op i's forward */
#define T_BWD(i) (2 * m->nops - (i)) /* op i's backward */
#define T_POST   (2 * m->nops + 1)   /* dx, the timestep MLP's backward */

typedef struct {
    float **f;   /* where the piece's address goes, or */
    uint8_t **u; /* for byte pieces, or */
    double **d;  /* for double pieces */
} arena_dst;

typedef struct {
    carve_span *span;
    arena_dst *dst;
    int n, cap, err;
    size_t kept; /* floats of the unshared layout (every piece but the per-op temporaries in a
                  * block of its own, and 4 batch-sized scratch buffers): the recompute rule's measure */
} arena_list;

static void want(arena_list *a, float **f, uint8_t **u, size_t n, int first, int last, int kept)
{
    if (a->err) return;
    if (a->n == a->cap) {
        const int cap = a->cap ? 2 * a->cap : 256;
        carve_span *s = realloc(a->span, (size_t)cap * sizeof *s);
        if (s) a->span = s;
        arena_dst *d = realloc(a->dst, (size_t)cap * sizeof *d);
        if (d) a->dst = d;
        if (!s || !d) {
            a->err = 1;
            return;
        }
        a->cap = cap;
    }
    a->span[a->n] = (carve_span){ n, first, last, 0 };
    a->dst[a->n] = (arena_dst){ f, u, NULL };
    a->n++;
    if (kept) a->kept += carve_round(n);
}

/* n doubles */
static void want_d(arena_list *a, double **d, size_t n, int first, int last)
{
    want(a, NULL, NULL, 2 * n, first, last, 0);
    if (!a->err) a->dst[a->n - 1].d = d;
}

static void arena_list_free(arena_list *a)
{
    free(a->span);
    free(a->dst);
    memset(a, 0, sizeof *a);
}

/* 1 when the op's backward reads its (first) input's value. */
static int reads_input_in_backward(op_kind k)
{
    return k == OP_CONV || k == OP_RES || k == OP_ATTN || k == OP_NORM || k == OP_SWISH;
}

/* Node lifetimes: a value from its producer's forward to its last reader (a later forward, or a
 * backward that reads its input); a gradient from the backward of its last consumer (which zeroes
 * it) to its producer's backward. */
static int node_lifetimes(unet *m, int *life)
{
    int *prod = malloc((size_t)m->nnodes * sizeof *prod);
    if (!prod) return ddpm_error("unet: out of memory for the arena layout");
    for (int v = 0; v < m->nnodes; v++) prod[v] = -1;
    for (int i = 0; i < m->nops; i++) prod[m->ops[i].out] = i;
    for (int v = 0; v < m->nnodes; v++) {
        int *l = life + 4 * v;
        l[0] = l[1] = prod[v] < 0 ? T_PRE : T_FWD(prod[v]);
        l[2] = T_POST;
        l[3] = prod[v] < 0 ? T_POST : T_BWD(prod[v]);
        m->nodes[v].grad_op = -1;
    }
    for (int i = 0; i < m->nops; i++) {
        const op *o = &m->ops[i];
        for (int k = 0; k < 2; k++) {
            const int u = k ? o->in2 : o->in;
            if (u < 0) continue;
            int *l = life + 4 * u;
            if (T_FWD(i) > l[1]) l[1] = T_FWD(i);
            if (!k && reads_input_in_backward(o->kind) && T_BWD(i) > l[1]) l[1] = T_BWD(i);
            if (T_BWD(i) < l[2]) {
                l[2] = T_BWD(i);
                m->nodes[u].grad_op = i;
            }
        }
    }
    life[4 * m->out_node + 2] = T_BWD(m->nops - 1); /* dout is copied in before the last op's backward */
    free(prod);
    return DDPM_OK;
}

/* Lists every activation, cache and temporary with its lifetime. */
static int arena_requests(unet *m, arena_list *a)
{
    const size_t B = (size_t)m->max_batch, G = (size_t)m->G;
    size_t max_node = 0, max_nn = 1, max_cout = 1, max_col = 1;
    int *life = malloc((size_t)m->nnodes * 4 * sizeof *life);
    if (!life || node_lifetimes(m, life)) {
        free(life);
        return ddpm_error("unet: out of memory for the arena layout");
    }
    memset(a, 0, sizeof *a);
    for (int v = 0; v < m->nnodes; v++) {
        node *n = &m->nodes[v];
        const size_t sz = B * node_floats(n);
        want(a, &n->val, NULL, sz, life[4 * v], life[4 * v + 1], 1);
        want(a, &n->grad, NULL, sz, life[4 * v + 2], life[4 * v + 3], 1);
        if (node_floats(n) > max_node) max_node = node_floats(n);
    }
    free(life);
    const int P = T_PRE, Q = T_POST;
    want(a, &m->emb, NULL, B * m->ch, P, Q, 1);
    float **temb[] = { &m->t0, &m->t0s, &m->temb, &m->stemb, &m->dstemb, &m->dtemb, &m->dt0s, &m->dt0 };
    for (size_t k = 0; k < DDPM_ARRAY_LEN(temb); k++) want(a, temb[k], NULL, B * m->temb_ch, P, Q, 1);
    for (int i = 0; i < m->nops; i++) {
        op *o = &m->ops[i];
        const node *x = &m->nodes[o->in], *y = &m->nodes[o->out];
        const size_t nin = B * node_floats(x), nout = B * node_floats(y), nmax = nin > nout ? nin : nout;
        const int F = T_FWD(i), K = T_BWD(i);
        switch (o->kind) {
        case OP_RES: {
            res_op *r = &o->u.res;
            const int rec = m->recompute, drop = m->dropout > 0.0;
            r->n1 = r->n2 = r->a1 = r->a2 = r->d2 = r->fd = r->s2 = r->s3 = r->s4 = NULL;
            r->stat_d = NULL;
            r->mask = NULL;
            if (!rec) want(a, &r->n1, NULL, nin, F, K, 1);
            want(a, &r->h1, NULL, nout, F, K, 1);
            if (!rec) want(a, &r->n2, NULL, nout, F, K, 1);
            if (rec) want_d(a, &r->stat_d, 4 * B * G, F, K);
            if (!rec) want(a, &r->a1, NULL, nin, F, K, 1);
            if (!rec) want(a, &r->a2, NULL, nout, F, K, 1);
            float **stats[] = { &r->mean1, &r->rstd1, &r->mean2, &r->rstd2 };
            for (int k = 0; k < 4; k++) want(a, stats[k], NULL, B * G, F, K, 1);
            want(a, &r->tproj, NULL, B * (size_t)y->C, F, F, 1);
            if (drop) {
                if (!rec) want(a, &r->d2, NULL, nout, F, K, 1);
                want(a, NULL, &r->mask, (nout + 3) / 4, F, K, 1);
            }
            want(a, &r->fa, NULL, nmax, F, F, 0);
            if (rec && drop) want(a, &r->fd, NULL, nout, F, F, 0);
            want(a, &r->g1, NULL, nmax, K, K, 0);
            want(a, &r->g2, NULL, nmax, K, K, 0);
            if (rec) want(a, &r->s2, NULL, nmax, K, K, 0);
            if (rec) want(a, &r->s4, NULL, nmax, K, K, 0);
            if (rec && drop) want(a, &r->s3, NULL, nout, K, K, 0);
            if ((size_t)y->C > max_cout) max_cout = (size_t)y->C;
            size_t c1 = conv2d_workspace_floats(x->H, x->W, x->C, y->C, 3, 1);
            size_t c2 = conv2d_workspace_floats(y->H, y->W, y->C, y->C, 3, 1);
            if (c1 > max_col) max_col = c1;
            if (c2 > max_col) max_col = c2;
            break;
        }
        case OP_ATTN: {
            attn_op *t = &o->u.attn;
            const size_t N = (size_t)x->H * x->W;
            float **kept[] = { &t->n, &t->q, &t->k, &t->v, &t->a };
            for (int k = 0; k < 5; k++) want(a, kept[k], NULL, nin, F, K, 1);
            want(a, &t->w, NULL, B * N * N, F, K, 1);
            want(a, &t->mean, NULL, B * G, F, K, 1);
            want(a, &t->rstd, NULL, B * G, F, K, 1);
            float **tmp[] = { &t->da, &t->dq, &t->dk, &t->dv };
            for (int k = 0; k < 4; k++) want(a, tmp[k], NULL, nin, K, K, 0);
            if (N * N > max_nn) max_nn = N * N;
            break;
        }
        case OP_NORM:
            want(a, &o->u.norm.mean, NULL, B * G, F, K, 1);
            want(a, &o->u.norm.rstd, NULL, B * G, F, K, 1);
            break;
        case OP_CONV: {
            size_t c = conv2d_workspace_floats(x->H, x->W, x->C, y->C, o->u.conv.k, o->u.conv.stride);
            if (c > max_col) max_col = c;
            break;
        }
        default: break;
        }
    }
    a->kept += 4 * carve_round(B * max_node); /* the unshared layout's backward scratch */
    want(a, &m->scr_nn, NULL, max_nn, P, Q, 1);
    want(a, &m->dtproj, NULL, B * max_cout, P, Q, 1);
    size_t cap = max_col > COL_TARGET_FLOATS ? max_col : COL_TARGET_FLOATS;
    if (cap > B * max_col) cap = B * max_col;
    m->col_cap = cap;
    want(a, &m->col, NULL, cap, P, Q, 1);
    if (a->err) {
        arena_list_free(a);
        return ddpm_error("unet: out of memory for the arena layout");
    }
    return DDPM_OK;
}

/* ---- public: lifetime and parameter table ---- */

static void unet_destroy(unet *m)
{
    if (!m) return;
    free(m->tab);
    free(m->nodes);
    free(m->ops);
    ddpm_free(m->params);
    ddpm_free(m->grads);
    ddpm_free(m->arena);
    ddpm_free(m->plan);
    ddpm_free(m->plan_col);
    m->plan_col = NULL;
    free(m->plan_off);
    free(m->plan_tile);
    free(m);
}

int unet_count_params(const ddpm_config *cfg, size_t *count)
{
    unet *m = calloc(1, sizeof *m);
    if (!m) return ddpm_error("unet: out of memory");
    int rc = set_keys(m, cfg);
    if (rc == DDPM_OK) rc = build_graph(m);
    if (rc == DDPM_OK) { *count = m->nparams; }
    unet_destroy(m);
    return rc;
}

int unet_create(unet **out, const ddpm_config *cfg, int max_batch) { return unet_create_ex(out, cfg, max_batch, -1); }

int unet_create_ex(unet **out, const ddpm_config *cfg, int max_batch, int recompute)
{
    return unet_create_layout(out, cfg, max_batch, recompute, 1);
}

int unet_create_layout(unet **out, const ddpm_config *cfg, int max_batch, int recompute, int share)
{
    *out = NULL;
    if (max_batch < 1) return ddpm_error("unet: max_batch = %d must be >= 1", max_batch);
    unet *m = calloc(1, sizeof *m);
    if (!m) return ddpm_error("unet: out of memory");
    m->max_batch = max_batch;
    if (set_keys(m, cfg) || build_graph(m)) {
        unet_destroy(m);
        return DDPM_ERR;
    }
    m->params = ddpm_alloc(m->nparams * sizeof(float));
    m->grads = m->params ? ddpm_alloc(m->nparams * sizeof(float)) : NULL;
    if (!m->grads) {
        size_t np = m->nparams;
        unet_destroy(m);
        return ddpm_error_prefix("unet: %zu parameters", np);
    }
    m->recompute = recompute > 0;
    arena_list a;
    if (arena_requests(m, &a)) {
        unet_destroy(m);
        return DDPM_ERR;
    }
    if (recompute < 0 && a.kept * sizeof(float) > UNET_RECOMPUTE_ABOVE_BYTES) {
        m->recompute = 1;
        arena_list_free(&a);
        if (arena_requests(m, &a)) {
            unet_destroy(m);
            return DDPM_ERR;
        }
    }
    if (!share)
        for (int i = 0; i < a.n; i++) { /* all alive all the time: each piece in its own memory */
            a.span[i].first = T_PRE;
            a.span[i].last = T_POST;
        }
    if (carve_shared(a.span, a.n, &m->arena_floats)) {
        arena_list_free(&a);
        unet_destroy(m);
        return DDPM_ERR;
    }
    m->arena = ddpm_alloc((m->arena_floats ? m->arena_floats : 1) * sizeof(float));
    if (!m->arena) {
        arena_list_free(&a);
        unet_destroy(m);
        return ddpm_error_prefix("unet: activations for max_batch %d", max_batch);
    }
    for (int i = 0; i < a.n; i++) {
        float *p = m->arena + a.span[i].offset;
        if (a.dst[i].f) *a.dst[i].f = p;
        else if (a.dst[i].d) *a.dst[i].d = (double *)p;
        else *a.dst[i].u = (uint8_t *)p;
    }
    arena_list_free(&a);
    for (int i = 0; i < m->ntab; i++)
        if (m->tab[i].kind == INIT_ONE) {
            float *p = m->params + m->tab[i].pub.offset;
            for (size_t j = 0; j < m->tab[i].pub.size; j++) p[j] = 1.0f;
        }
    *out = m;
    return DDPM_OK;
}

void unet_free(unet *m) { unet_destroy(m); }

int unet_num_tensors(const unet *m) { return m->ntab; }

const unet_param *unet_tensor(const unet *m, int i) { return (i >= 0 && i < m->ntab) ? &m->tab[i].pub : NULL; }

const unet_param *unet_find(const unet *m, const char *name)
{
    for (int i = 0; i < m->ntab; i++)
        if (!strcmp(m->tab[i].pub.name, name)) return &m->tab[i].pub;
    return NULL;
}

size_t unet_num_params(const unet *m) { return m->nparams; }

float *unet_params(unet *m) { return m->params; }
float *unet_grads(unet *m) { return m->grads; }
int unet_in_channels(const unet *m) { return m->in_ch; }
int unet_out_channels(const unet *m) { return m->out_ch; }
int unet_image_size(const unet *m) { return m->S; }
int unet_max_batch(const unet *m) { return m->max_batch; }
size_t unet_activation_bytes(const unet *m) { return m->arena_floats * sizeof(float); }

double unet_tensor_init_scale(const unet *m, int i)
{
    if (i < 0 || i >= m->ntab || m->tab[i].kind != INIT_WEIGHT) return 0.0;
    return m->tab[i].scale;
}

void unet_init_params(unet *m, uint64_t seed)
{
    for (int i = 0; i < m->ntab; i++) {
        const param_info *t = &m->tab[i];
        float *p = m->params + t->pub.offset;
        const size_t n = t->pub.size;
        switch (t->kind) {
        case INIT_WEIGHT: {
            /* variance_scaling(scale, mode='fan_avg', distribution='uniform') */
            const double limit = sqrt(3.0 * t->scale / ((t->fan_in + t->fan_out) / 2.0));
            rng_uniform_fill(rng_stream_make(seed, RNG_INIT, 0, (uint32_t)i), p, n);
            for (size_t j = 0; j < n; j++) p[j] = (float)((2.0 * (double)p[j] - 1.0) * limit);
            break;
        }
        case INIT_ZERO: memset(p, 0, n * sizeof(float)); break;
        case INIT_ONE:
            for (size_t j = 0; j < n; j++) p[j] = 1.0f;
            break;
        }
    }
}

void unet_zero_grads(unet *m) { memset(m->grads, 0, m->nparams * sizeof(float)); }

/* Multiply-adds x 2 of one example's forward pass, as a direct (non-Winograd) evaluation would
 * do them: convolutions 2 Ho Wo k^2 Cin Cout, dense and nin layers 2 N Cin Cout, attention
 * 4 N^2 C (q k^T and w v); normalisations and elementwise ops are not counted. */
double unet_forward_flops(const unet *m)
{
    double f = 2.0 * m->ch * m->temb_ch + 2.0 * m->temb_ch * m->temb_ch;
    for (int i = 0; i < m->nops; i++) {
        const op *o = &m->ops[i];
        const node *x = &m->nodes[o->in], *y = &m->nodes[o->out];
        const double Nx = (double)x->H * x->W, Ny = (double)y->H * y->W;
        switch (o->kind) {
        case OP_CONV: f += 2.0 * Ny * o->u.conv.k * o->u.conv.k * x->C * y->C; break;
        case OP_RES:
            f += 2.0 * Nx * 9.0 * x->C * y->C + 2.0 * Ny * 9.0 * y->C * y->C + 2.0 * m->temb_ch * y->C;
            if (o->u.res.nin_W >= 0) f += 2.0 * Nx * x->C * y->C;
            break;
        case OP_ATTN: f += 4.0 * 2.0 * Nx * x->C * x->C + 4.0 * Nx * Nx * x->C; break;
        default: break;
        }
    }
    return f;
}

/* ---- inference plan ---- */

#define PRM(i) (m->params + m->tab[(i)].pub.offset)

/* Calls f(m, W tensor index, H, W, Cin, Cout) for every 3x3 stride-1 convolution that conv2d runs
 * by Winograd (the ones a plan can hold). */
static void for_each_winograd_conv(unet *m, void (*f)(unet *, int, int, int, int, int))
{
    for (int i = 0; i < m->nops; i++) {
        const op *o = &m->ops[i];
        const node *x = &m->nodes[o->in], *y = &m->nodes[o->out];
        if (o->kind == OP_CONV && conv2d_uses_winograd(x->C, o->u.conv.k, o->u.conv.stride))
            f(m, o->u.conv.W, x->H, x->W, x->C, y->C);
        if (o->kind == OP_RES) {
            if (conv2d_uses_winograd(x->C, 3, 1)) f(m, o->u.res.conv1_W, x->H, x->W, x->C, y->C);
            if (conv2d_uses_winograd(y->C, 3, 1)) f(m, o->u.res.conv2_W, y->H, y->W, y->C, y->C);
        }
    }
}

/* Picks each planned layer's tile and lays out the plan block. The tile depends on the layer's
 * shape only (F(4x4,3x3) wherever the image is at least 4x4), never on max_batch or the
 * call's batch: a planned forward gives an example the same bits whatever batch it is in and
 * whatever batch the model was opened for (a driver and `ddpm-mpi bpd` open it differently).
 * The workspace one example of the layer needs is reserved in plan_col_need. */
static void plan_layout(unet *m, int Wi, int H, int W, int cin, int cout)
{
    const int tile = winograd_output_tile_pre(SIZE_MAX, INT_MAX, H, W, cin, cout);
    const size_t need = winograd_workspace_floats_pre(H, W, cin, cout, tile);
    if (need > m->plan_col_need) m->plan_col_need = need;
    m->plan_tile[Wi] = tile;
    m->plan_off[Wi] = m->plan_floats;
    m->plan_floats += (winograd_filter_floats(cin, cout, tile) + 15) & ~(size_t)15;
}

static void plan_fill(unet *m, int Wi, int H, int W, int cin, int cout)
{
    winograd_filter_transform(m->plan + m->plan_off[Wi], PRM(Wi), cin, cout, m->plan_tile[Wi]);
}

/* A 64-bit fingerprint of the planned filters: per tensor, FNV-1a over its 32-bit words in 8
 * interleaved lanes (one changed word always changes its lane: each step is a bijection), the
 * tensors' lanes folded in table order. */
static uint64_t weights_hash(const unet *m)
{
    uint64_t h = 14695981039346656037u;
#pragma omp parallel for if (m->ntab > 1) schedule(dynamic) ordered
    for (int i = 0; i < m->ntab; i++) {
        uint64_t lane[8];
        for (int l = 0; l < 8; l++) lane[l] = 14695981039346656037u + (uint64_t)l;
        if (m->plan_tile[i]) {
            const uint32_t *w = (const uint32_t *)(m->params + m->tab[i].pub.offset);
            const size_t n = m->tab[i].pub.size, n8 = n / 8 * 8;
            for (size_t j = 0; j < n8; j += 8)
                for (int l = 0; l < 8; l++) lane[l] = (lane[l] ^ w[j + l]) * 1099511628211u;
            for (size_t j = n8; j < n; j++) lane[0] = (lane[0] ^ w[j]) * 1099511628211u;
        }
#pragma omp ordered
        if (m->plan_tile[i])
            for (int l = 0; l < 8; l++) h = (h ^ lane[l]) * 1099511628211u;
    }
    return h;
}

int unet_prepare_inference(unet *m)
{
    if (!m->plan) {
        m->plan_off = calloc((size_t)m->ntab, sizeof *m->plan_off);
        m->plan_tile = calloc((size_t)m->ntab, sizeof *m->plan_tile);
        if (!m->plan_off || !m->plan_tile) return ddpm_error("unet: out of memory for the inference plan");
        m->plan_floats = 0;
        m->plan_col_need = 0;
        for_each_winograd_conv(m, plan_layout);
        if (m->plan_col_need > m->col_cap) { /* a small max_batch: the arena's column block is too small */
            m->plan_col = ddpm_alloc(m->plan_col_need * sizeof(float));
            if (!m->plan_col) return ddpm_error_prefix("unet: inference plan workspace (%zu floats)", m->plan_col_need);
        }
        m->plan = ddpm_alloc((m->plan_floats ? m->plan_floats : 1) * sizeof(float));
        if (!m->plan) return ddpm_error_prefix("unet: inference plan (%zu transformed filter floats)", m->plan_floats);
    }
    for_each_winograd_conv(m, plan_fill);
    m->plan_hash = weights_hash(m);
    return DDPM_OK;
}

/* The plan is rebuilt when the weights changed since it was made (a training step, an EMA swap,
 * a checkpoint load): a stale plan is never used. */
static int plan_refresh(unet *m)
{
    if (weights_hash(m) != m->plan_hash) return unet_prepare_inference(m);
    return DDPM_OK;
}

void unet_release_inference(unet *m)
{
    ddpm_free(m->plan);
    ddpm_free(m->plan_col);
    m->plan_col = NULL;
    ddpm_free(m->plan_col);
    m->plan_col = NULL;
    free(m->plan_off);
    free(m->plan_tile);
    m->plan = NULL;
    m->plan_off = NULL;
    m->plan_tile = NULL;
    m->plan_floats = 0;
}

size_t unet_inference_plan_bytes(const unet *m) { return m->plan ? m->plan_floats * sizeof(float) : 0; }

/* ---- forward ---- */

#define GRD(i) (m->grads + m->tab[(i)].pub.offset)

static int res_forward(unet *m, op *o, int B)
{
    res_op *r = &o->u.res;
    const node *x = &m->nodes[o->in], *y = &m->nodes[o->out];
    const int H = x->H, W = x->W, N = H * W, cin = x->C, cout = y->C;
    const size_t nout = (size_t)B * N * cout;
    /* swish and dropout outputs: kept, or in this forward's temporaries */
    float *a1 = m->recompute ? r->fa : r->a1, *a2 = m->recompute ? r->fa : r->a2;
    float *d2 = m->recompute ? r->fd : r->d2;
    /* recomputing: the GroupNorm outputs are not kept, their statistics are, in double */
    const size_t BG = (size_t)B * m->G;
    double *sd = r->stat_d;
    groupnorm_swish_forward_keep(r->n1, a1, r->mean1, r->rstd1, sd, sd ? sd + BG : NULL, x->val, PRM(r->norm1_gamma),
                                 PRM(r->norm1_beta), B, N, cin, m->G);
    DDPM_TRY(conv2d_forward(r->h1, a1, PRM(r->conv1_W), PRM(r->conv1_b), m->col, m->col_cap, B, H, W, cin, cout, 3, 1));
    dense_forward(r->tproj, m->stemb, PRM(r->temb_W), PRM(r->temb_b), B, m->temb_ch, cout);
    add_broadcast_bnc(r->h1, r->tproj, B, N, cout);
    groupnorm_swish_forward_keep(r->n2, a2, r->mean2, r->rstd2, sd ? sd + 2 * BG : NULL, sd ? sd + 3 * BG : NULL, r->h1,
                                 PRM(r->norm2_gamma), PRM(r->norm2_beta), B, N, cout, m->G);
    const float *c2in = a2;
    r->dropped = m->train && m->dropout > 0.0;
    if (r->dropped) {
        dropout_forward_at(d2, r->mask, a2, m->dropout, m->seed, r->dropout_layer, m->step, m->first, B,
                           (size_t)N * cout);
        c2in = d2;
    }
    DDPM_TRY(
        conv2d_forward(y->val, c2in, PRM(r->conv2_W), PRM(r->conv2_b), m->col, m->col_cap, B, H, W, cout, cout, 3, 1));
    if (r->nin_W >= 0) dense_forward_accumulate(y->val, x->val, PRM(r->nin_W), PRM(r->nin_b), B * N, cin, cout);
    else add_inplace(y->val, x->val, nout);
    return DDPM_OK;
}

/* A 3x3 convolution of the inference plan, or conv2d_forward when the layer is not planned;
 * ep's bias_b and res are then added as separate passes (same additions, same order). */
static int conv_infer(unet *m, float *y, const float *x, int Wi, const winograd_epilogue *ep, int B, int H, int W,
                      int cin, int cout, int stride)
{
    const int tile = m->plan_tile[Wi];
    if (tile)
        return m->plan_col ? winograd_forward_pre(y, x, m->plan + m->plan_off[Wi], ep, m->plan_col, m->plan_col_need, B,
                                                  H, W, cin, cout, tile)
                           : winograd_forward_pre(y, x, m->plan + m->plan_off[Wi], ep, m->col, m->col_cap, B, H, W, cin,
                                                  cout, tile);
    DDPM_TRY(conv2d_forward(y, x, PRM(Wi), ep->bias, m->col, m->col_cap, B, H, W, cin, cout, 3, stride));
    const int Ho = conv2d_out_size(H, stride), Wo = conv2d_out_size(W, stride);
    if (ep->bias_b) add_broadcast_bnc(y, ep->bias_b, B, Ho * Wo, cout);
    if (ep->res) add_inplace(y, ep->res, (size_t)B * Ho * Wo * cout);
    return DDPM_OK;
}

/* res_forward at inference with the plan: nothing kept for a backward, GroupNorm + swish in one
 * pass, the timestep projection and the identity shortcut added in conv1's and conv2's output
 * transforms. */
static int res_forward_infer(unet *m, op *o, int B)
{
    res_op *r = &o->u.res;
    const node *x = &m->nodes[o->in], *y = &m->nodes[o->out];
    const int H = x->H, W = x->W, N = H * W, cin = x->C, cout = y->C;
    float *a = r->fa;
    groupnorm_swish_forward(NULL, a, r->mean1, r->rstd1, x->val, PRM(r->norm1_gamma), PRM(r->norm1_beta), B, N, cin,
                            m->G);
    dense_forward(r->tproj, m->stemb, PRM(r->temb_W), PRM(r->temb_b), B, m->temb_ch, cout);
    const winograd_epilogue e1 = { PRM(r->conv1_b), r->tproj, NULL, 0 };
    DDPM_TRY(conv_infer(m, r->h1, a, r->conv1_W, &e1, B, H, W, cin, cout, 1));
    groupnorm_swish_forward(NULL, a, r->mean2, r->rstd2, r->h1, PRM(r->norm2_gamma), PRM(r->norm2_beta), B, N, cout,
                            m->G);
    const winograd_epilogue e2 = { PRM(r->conv2_b), NULL, r->nin_W >= 0 ? NULL : x->val, 0 };
    DDPM_TRY(conv_infer(m, y->val, a, r->conv2_W, &e2, B, H, W, cout, cout, 1));
    if (r->nin_W >= 0) dense_forward_accumulate(y->val, x->val, PRM(r->nin_W), PRM(r->nin_b), B * N, cin, cout);
    r->dropped = 0;
    return DDPM_OK;
}

static void attn_forward(unet *m, op *o, int B)
{
    attn_op *a = &o->u.attn;
    const node *x = &m->nodes[o->in], *y = &m->nodes[o->out];
    const int N = x->H * x->W, C = x->C;
    groupnorm_forward(a->n, a->mean, a->rstd, x->val, PRM(a->norm_gamma), PRM(a->norm_beta), B, N, C, m->G);
    dense_forward(a->q, a->n, PRM(a->q_W), PRM(a->q_b), B * N, C, C);
    dense_forward(a->k, a->n, PRM(a->k_W), PRM(a->k_b), B * N, C, C);
    dense_forward(a->v, a->n, PRM(a->v_W), PRM(a->v_b), B * N, C, C);
    attention_forward(a->a, a->w, a->q, a->k, a->v, B, N, C);
    memcpy(y->val, x->val, (size_t)B * N * C * sizeof(float));
    dense_forward_accumulate(y->val, a->a, PRM(a->proj_W), PRM(a->proj_b), B * N, C, C);
}

static int op_forward(unet *m, op *o, int B, int infer)
{
    const node *x = &m->nodes[o->in], *y = &m->nodes[o->out];
    switch (o->kind) {
    case OP_CONV:
        if (infer) {
            const winograd_epilogue ep = { PRM(o->u.conv.b), NULL, NULL, 0 };
            return conv_infer(m, y->val, x->val, o->u.conv.W, &ep, B, x->H, x->W, x->C, y->C, o->u.conv.stride);
        }
        return conv2d_forward(y->val, x->val, PRM(o->u.conv.W), PRM(o->u.conv.b), m->col, m->col_cap, B, x->H, x->W,
                              x->C, y->C, o->u.conv.k, o->u.conv.stride);
    case OP_RES: return infer ? res_forward_infer(m, o, B) : res_forward(m, o, B);
    case OP_ATTN: attn_forward(m, o, B); return DDPM_OK;
    case OP_CONCAT: {
        const node *x2 = &m->nodes[o->in2];
        concat_channels_forward(y->val, x->val, x2->val, (size_t)B * x->H * x->W, x->C, x2->C);
        return DDPM_OK;
    }
    case OP_UPSAMPLE: upsample_nearest2_forward(y->val, x->val, B, x->H, x->W, x->C); return DDPM_OK;
    case OP_AVGPOOL: avgpool2_forward(y->val, x->val, B, x->H, x->W, x->C); return DDPM_OK;
    case OP_NORM:
        groupnorm_forward(y->val, o->u.norm.mean, o->u.norm.rstd, x->val, PRM(o->u.norm.gamma), PRM(o->u.norm.beta), B,
                          x->H * x->W, x->C, m->G);
        return DDPM_OK;
    case OP_SWISH: swish_forward(y->val, x->val, (size_t)B * node_floats(x)); return DDPM_OK;
    }
    return ddpm_error("unet: internal error, unknown op");
}

int unet_forward(float *out, unet *m, const float *x, const int32_t *t, int train, uint64_t seed, uint32_t step, int B)
{
    return unet_forward_at(out, m, x, t, train, seed, step, 0, B);
}

int unet_forward_at(float *out, unet *m, const float *x, const int32_t *t, int train, uint64_t seed, uint32_t step,
                    uint32_t first, int B)
{
    if (B < 1 || B > m->max_batch)
        return ddpm_error("unet_forward: batch %d outside 1..max_batch (%d) given at create time", B, m->max_batch);
    m->have_forward = 0;
    m->B = B;
    m->train = train;
    m->seed = seed;
    m->step = step;
    m->first = first;
    const int infer = !train && m->plan;
    if (infer) DDPM_TRY(plan_refresh(m));
    const node *xn = &m->nodes[m->x_node];
    memcpy(xn->val, x, (size_t)B * node_floats(xn) * sizeof(float));

    timestep_embedding(m->emb, t, B, m->ch);
    dense_forward(m->t0, m->emb, PRM(m->temb_dense0_W), PRM(m->temb_dense0_b), B, m->ch, m->temb_ch);
    swish_forward(m->t0s, m->t0, (size_t)B * m->temb_ch);
    dense_forward(m->temb, m->t0s, PRM(m->temb_dense1_W), PRM(m->temb_dense1_b), B, m->temb_ch, m->temb_ch);
    swish_forward(m->stemb, m->temb, (size_t)B * m->temb_ch);

    for (int i = 0; i < m->nops; i++)
        if (op_forward(m, &m->ops[i], B, infer)) return ddpm_error_prefix("unet_forward");
    const node *yn = &m->nodes[m->out_node];
    memcpy(out, yn->val, (size_t)B * node_floats(yn) * sizeof(float));
    m->have_forward = !infer; /* the inference plan keeps nothing for a backward */
    return DDPM_OK;
}

/* ---- backward ---- */

static void zero(float *p, size_t n) { memset(p, 0, n * sizeof(float)); }

static int res_backward(unet *m, op *o, int B)
{
    res_op *r = &o->u.res;
    const node *x = &m->nodes[o->in], *y = &m->nodes[o->out];
    const int H = x->H, W = x->W, N = H * W, cin = x->C, cout = y->C;
    const size_t nin = (size_t)B * N * cin, nout = (size_t)B * N * cout;
    const float *dout = y->grad;
    float *g1 = r->g1, *g2 = r->g2;

    /* out = shortcut(x) + conv2(...) */
    if (r->nin_W >= 0)
        dense_backward(x->grad, GRD(r->nin_W), GRD(r->nin_b), dout, x->val, PRM(r->nin_W), B * N, cin, cout);
    else add_inplace(x->grad, dout, nout);

    const float *c2in = r->dropped ? r->d2 : r->a2, *n2 = r->n2;
    const size_t BG = (size_t)B * m->G;
    if (m->recompute) { /* conv2's input as in the forward: norm2 and swish of h1, then the same mask */
        float *a = r->s2, *d = r->s3;
        groupnorm_apply(r->s4, a, r->h1, r->stat_d + 2 * BG, r->stat_d + 3 * BG, PRM(r->norm2_gamma),
                        PRM(r->norm2_beta), B, N, cout, m->G);
        n2 = r->s4;
        if (r->dropped) {
            zero(d, nout);
            dropout_backward(d, a, r->mask, m->dropout, B, (size_t)N * cout); /* 0 + a*scale */
        }
        c2in = r->dropped ? d : a;
    }
    zero(g1, nout);
    DDPM_TRY(conv2d_backward(g1, GRD(r->conv2_W), GRD(r->conv2_b), dout, c2in, PRM(r->conv2_W), m->col, m->col_cap, B,
                             H, W, cout, cout, 3, 1));
    if (r->dropped) {
        zero(g2, nout);
        dropout_backward(g2, g1, r->mask, m->dropout, B, (size_t)N * cout);
        float *t = g1;
        g1 = g2;
        g2 = t;
    }
    /* g1 = d a2 */
    zero(g2, nout);
    swish_backward(g2, g1, n2, nout);
    zero(g1, nout);
    groupnorm_backward(g1, GRD(r->norm2_gamma), GRD(r->norm2_beta), g2, r->h1, r->mean2, r->rstd2, PRM(r->norm2_gamma),
                       B, N, cout, m->G);
    /* g1 = d h1; h1 = conv1(a1) + temb_proj(swish(temb)) */
    zero(m->dtproj, (size_t)B * cout);
    add_broadcast_bnc_backward(m->dtproj, g1, B, N, cout);
    dense_backward(m->dstemb, GRD(r->temb_W), GRD(r->temb_b), m->dtproj, m->stemb, PRM(r->temb_W), B, m->temb_ch, cout);
    zero(g2, nin);
    const float *a1 = r->a1, *n1 = r->n1;
    if (m->recompute) { /* conv1's input: norm1 and swish of x */
        groupnorm_apply(r->s4, r->s2, x->val, r->stat_d, r->stat_d + BG, PRM(r->norm1_gamma), PRM(r->norm1_beta), B, N,
                        cin, m->G);
        n1 = r->s4;
        a1 = r->s2;
    }
    DDPM_TRY(conv2d_backward(g2, GRD(r->conv1_W), GRD(r->conv1_b), g1, a1, PRM(r->conv1_W), m->col, m->col_cap, B, H, W,
                             cin, cout, 3, 1));
    zero(g1, nin);
    swish_backward(g1, g2, n1, nin);
    groupnorm_backward(x->grad, GRD(r->norm1_gamma), GRD(r->norm1_beta), g1, x->val, r->mean1, r->rstd1,
                       PRM(r->norm1_gamma), B, N, cin, m->G);
    return DDPM_OK;
}

static void attn_backward(unet *m, op *o, int B)
{
    attn_op *a = &o->u.attn;
    const node *x = &m->nodes[o->in], *y = &m->nodes[o->out];
    const int N = x->H * x->W, C = x->C;
    const size_t n = (size_t)B * N * C;
    const float *dout = y->grad;
    float *da = a->da, *dq = a->dq, *dk = a->dk, *dv = a->dv;

    add_inplace(x->grad, dout, n);
    zero(da, n);
    dense_backward(da, GRD(a->proj_W), GRD(a->proj_b), dout, a->a, PRM(a->proj_W), B * N, C, C);
    zero(dq, n);
    zero(dk, n);
    zero(dv, n);
    attention_backward(dq, dk, dv, m->scr_nn, da, a->q, a->k, a->v, a->w, B, N, C);
    float *dn = da;
    zero(dn, n);
    dense_backward(dn, GRD(a->q_W), GRD(a->q_b), dq, a->n, PRM(a->q_W), B * N, C, C);
    dense_backward(dn, GRD(a->k_W), GRD(a->k_b), dk, a->n, PRM(a->k_W), B * N, C, C);
    dense_backward(dn, GRD(a->v_W), GRD(a->v_b), dv, a->n, PRM(a->v_W), B * N, C, C);
    groupnorm_backward(x->grad, GRD(a->norm_gamma), GRD(a->norm_beta), dn, x->val, a->mean, a->rstd, PRM(a->norm_gamma),
                       B, N, C, m->G);
}

static int op_backward(unet *m, op *o, int B, int want_dx)
{
    const node *x = &m->nodes[o->in], *y = &m->nodes[o->out];
    switch (o->kind) {
    case OP_CONV: {
        float *dinp = (o->in == m->x_node && !want_dx) ? NULL : x->grad;
        return conv2d_backward(dinp, GRD(o->u.conv.W), GRD(o->u.conv.b), y->grad, x->val, PRM(o->u.conv.W), m->col,
                               m->col_cap, B, x->H, x->W, x->C, y->C, o->u.conv.k, o->u.conv.stride);
    }
    case OP_RES: return res_backward(m, o, B);
    case OP_ATTN: attn_backward(m, o, B); return DDPM_OK;
    case OP_CONCAT: {
        const node *x2 = &m->nodes[o->in2];
        concat_channels_backward(x->grad, x2->grad, y->grad, (size_t)B * x->H * x->W, x->C, x2->C);
        return DDPM_OK;
    }
    case OP_UPSAMPLE: upsample_nearest2_backward(x->grad, y->grad, B, x->H, x->W, x->C); return DDPM_OK;
    case OP_AVGPOOL: avgpool2_backward(x->grad, y->grad, B, x->H, x->W, x->C); return DDPM_OK;
    case OP_NORM:
        groupnorm_backward(x->grad, GRD(o->u.norm.gamma), GRD(o->u.norm.beta), y->grad, x->val, o->u.norm.mean,
                           o->u.norm.rstd, PRM(o->u.norm.gamma), B, x->H * x->W, x->C, m->G);
        return DDPM_OK;
    case OP_SWISH: swish_backward(x->grad, y->grad, x->val, (size_t)B * node_floats(x)); return DDPM_OK;
    }
    return ddpm_error("unet: internal error, unknown op");
}

int unet_backward_input(float *dx, unet *m, const float *dout)
{
    if (!m->have_forward)
        return ddpm_error("unet_backward: no forward pass to differentiate (call unet_forward first)");
    const int B = m->B;
    /* the backward reuses the memory of values whose last reader has run: one backward per forward */
    m->have_forward = 0;
    zero(m->dstemb, (size_t)B * m->temb_ch);
    const node *yn = &m->nodes[m->out_node];
    memcpy(yn->grad, dout, (size_t)B * node_floats(yn) * sizeof(float));

    for (int i = m->nops - 1; i >= 0; i--) {
        for (int v = 0; v < m->nnodes; v++) /* gradients whose lifetime starts here */
            if (m->nodes[v].grad_op == i) zero(m->nodes[v].grad, (size_t)B * node_floats(&m->nodes[v]));
        if (op_backward(m, &m->ops[i], B, dx != NULL)) return ddpm_error_prefix("unet_backward");
    }
    if (dx) {
        const node *xn = &m->nodes[m->x_node];
        add_inplace(dx, xn->grad, (size_t)B * node_floats(xn));
    }

    /* temb: stemb = swish(dense1(swish(dense0(emb)))) */
    const size_t nt = (size_t)B * m->temb_ch;
    zero(m->dtemb, nt);
    swish_backward(m->dtemb, m->dstemb, m->temb, nt);
    zero(m->dt0s, nt);
    dense_backward(m->dt0s, GRD(m->temb_dense1_W), GRD(m->temb_dense1_b), m->dtemb, m->t0s, PRM(m->temb_dense1_W), B,
                   m->temb_ch, m->temb_ch);
    zero(m->dt0, nt);
    swish_backward(m->dt0, m->dt0s, m->t0, nt);
    dense_backward(NULL, GRD(m->temb_dense0_W), GRD(m->temb_dense0_b), m->dt0, m->emb, PRM(m->temb_dense0_W), B, m->ch,
                   m->temb_ch);
    return DDPM_OK;
}

int unet_backward(unet *m, const float *dout) { return unet_backward_input(NULL, m, dout); }
