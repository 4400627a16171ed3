#include "dist/blocktree.h"

#include "core/common.h"

#include <string.h>

int blocktree_levels(int M)
{
    int J = 0;
    while ((1L << J) < (long)M) J++;
    return J;
}

void blocktree_rank_range(int M, int r, int p, int *first, int *end)
{
    *first = (int)((long long)M * r / p);
    *end = (int)((long long)M * (r + 1) / p);
}

void blocktree_node_range(int M, blocktree_node n, int *first, int *end)
{
    long a = (long)n.index << n.level, b = (long)(n.index + 1) << n.level;
    *first = (int)(a < M ? a : M);
    *end = (int)(b < M ? b : M);
}

/* The highest label with the same block range: a left child whose right sibling covers no
 * block has its parent's range. */
static blocktree_node promote(int M, int J, blocktree_node c)
{
    while (c.level < J && c.index % 2 == 0 && ((long)(c.index + 1) << c.level) >= M) {
        c.level++;
        c.index /= 2;
    }
    return c;
}

/* Whether cur is the right sibling of top (so they merge into their parent). */
static int siblings(blocktree_node top, blocktree_node cur)
{
    return top.level == cur.level && cur.index % 2 == 1 && top.index == cur.index - 1;
}

int blocktree_nodes(int M, int first, int end, blocktree_node *out)
{
    const int J = blocktree_levels(M);
    int cnt = 0;
    for (int m = first; m < end; m++) {
        blocktree_node cur = promote(M, J, (blocktree_node){ 0, m });
        while (cnt > 0 && siblings(out[cnt - 1], cur)) {
            cnt--;
            cur = promote(M, J, (blocktree_node){ cur.level + 1, cur.index / 2 });
        }
        out[cnt++] = cur;
    }
    return cnt;
}

/* a[i] = a[i] + b[i]: the one operation of the tree (left + right). */
static void add_into(float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static) if (n > (1u << 16))
    for (size_t i = 0; i < n; i++) a[i] = a[i] + b[i];
}

int blocktree_fold_init(blocktree_fold *f, int M, int first, int end, size_t n)
{
    memset(f, 0, sizeof *f);
    if (M < 1 || first < 0 || end > M || first >= end)
        return ddpm_error("blocktree: block range [%d, %d) of %d blocks is empty or invalid", first, end, M);
    f->M = M;
    f->first = first;
    f->end = end;
    f->next = first;
    f->n = n;
    return DDPM_OK;
}

void blocktree_fold_reset(blocktree_fold *f)
{
    for (int i = 0; i < f->count; i++) f->pool[f->npool++] = f->buf[i];
    f->count = 0;
    f->next = f->first;
}

static float *take_buffer(blocktree_fold *f)
{
    if (f->npool > 0) return f->pool[--f->npool];
    if (f->nalloc >= BLOCKTREE_MAX_NODES) {
        ddpm_error("blocktree: more than %d node buffers (internal error)", BLOCKTREE_MAX_NODES);
        return NULL;
    }
    float *b = ddpm_alloc(f->n * sizeof(float));
    if (b) f->nalloc++;
    return b;
}

int blocktree_fold_push(blocktree_fold *f, int block, const float *g)
{
    if (block != f->next || block >= f->end)
        return ddpm_error("blocktree: block %d pushed, expected %d (range [%d, %d))", block, f->next, f->first, f->end);
    f->next++;
    const int J = blocktree_levels(f->M);
    blocktree_node cur = promote(f->M, J, (blocktree_node){ 0, block });
    const float *val = g; /* borrowed until it is stored or merged */
    float *owned = NULL;
    while (f->count > 0 && siblings(f->lab[f->count - 1], cur)) {
        float *left = f->buf[--f->count];
        add_into(left, val, f->n); /* parent = left + right */
        if (owned) f->pool[f->npool++] = owned;
        owned = left;
        val = left;
        cur = promote(f->M, J, (blocktree_node){ cur.level + 1, cur.index / 2 });
    }
    if (!owned) {
        owned = take_buffer(f);
        if (!owned) return DDPM_ERR;
        memcpy(owned, g, f->n * sizeof(float));
    }
    f->lab[f->count] = cur;
    f->buf[f->count] = owned;
    f->count++;
    return DDPM_OK;
}

void blocktree_fold_free(blocktree_fold *f)
{
    blocktree_fold_reset(f);
    for (int i = 0; i < f->npool; i++) ddpm_free(f->pool[i]);
    memset(f, 0, sizeof *f);
}

typedef struct {
    int M;
    const blocktree_node *lab;
    const float *const *leaf;
    int nleaf, used;
    size_t n;
    float *scratch;
    int err;
} eval_ctx;

static const float *eval_node(eval_ctx *c, blocktree_node x)
{
    for (int i = 0; i < c->nleaf; i++)
        if (c->lab[i].level == x.level && c->lab[i].index == x.index) return c->leaf[i];
    if (x.level == 0 || c->used >= c->nleaf) {
        c->err = 1;
        return NULL;
    }
    blocktree_node lo = { x.level - 1, 2 * x.index }, hi = { x.level - 1, 2 * x.index + 1 };
    int hf, he;
    blocktree_node_range(c->M, hi, &hf, &he);
    if (hf >= he) return eval_node(c, lo); /* the right child covers no block */
    const float *l = eval_node(c, lo);
    if (!l) return NULL;
    const float *r = eval_node(c, hi);
    if (!r) return NULL;
    float *dst = c->scratch + (size_t)(c->used++) * c->n;
    if (dst != l) memcpy(dst, l, c->n * sizeof(float));
    add_into(dst, r, c->n);
    return dst;
}

int blocktree_eval(int M, const blocktree_node *lab, const float *const *leaf, int nleaf, size_t n, float *scratch,
                   float *out)
{
    eval_ctx c = { M, lab, leaf, nleaf, 0, n, scratch, 0 };
    const float *root = eval_node(&c, (blocktree_node){ blocktree_levels(M), 0 });
    if (!root || c.err) return ddpm_error("blocktree: the %d nodes given do not partition the %d blocks", nleaf, M);
    if (root != out) memcpy(out, root, n * sizeof(float));
    return DDPM_OK;
}
