/* dist_mpi.c — dist.h on Open MPI (bin/ddpm-mpi only; see dist.h and ../shared/MPI.md).
 *
 * No floating-point reduction goes through MPI: the gradient tree is finished by the owner of
 * each slice (blocktree_eval), and MPI moves bytes only (Alltoallv, Allgatherv, Bcast, Gatherv),
 * so Open MPI's choice of collective algorithm cannot change a bit. Messages are split below
 * 2^31 elements (DIST_CHUNK bytes; the gradient in segments of DIST_SEG floats). Ranks other
 * than 0 send their stdout to /dev/null (rank 0 speaks for the job); their stderr stays, and
 * their error lines carry dist_label(). */
#include "dist/dist.h"

#include "core/common.h"
#include "dist/blocktree.h"

#include <fcntl.h>
#include <limits.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes per bcast/gather message and gradient floats per alltoallv round; the environment
 * variables DDPM_DIST_CHUNK and DDPM_DIST_SEG lower them so tests exercise the splitting. */
static size_t DIST_CHUNK = (size_t)1 << 30, DIST_SEG = (size_t)1 << 24;

static int g_rank = 0, g_size = 1, g_init = 0;

static void env_size(const char *name, size_t *v)
{
    const char *e = getenv(name);
    if (e && atol(e) > 0) *v = (size_t)atol(e);
}
static char g_label[64] = "";

static int check(int rc, const char *what)
{
    if (rc == MPI_SUCCESS) return DDPM_OK;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return ddpm_error("%s failed: %s", what, msg);
}

int dist_init(int *argc, char ***argv)
{
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return ddpm_error("MPI_Init_thread failed (run under mpirun; see README, MPI)");
    g_init = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    /* errors come back as codes: every failure is turned into dist_abort by main */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (provided < MPI_THREAD_FUNNELED) return ddpm_error("MPI provides no MPI_THREAD_FUNNELED support");
    env_size("DDPM_DIST_CHUNK", &DIST_CHUNK);
    env_size("DDPM_DIST_SEG", &DIST_SEG);
    if (DIST_CHUNK < (size_t)g_size) DIST_CHUNK = (size_t)g_size;
    if (g_size > 1) snprintf(g_label, sizeof g_label, "rank %d of %d: ", g_rank, g_size);
    if (g_rank != 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            fflush(stdout);
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
    }
    return DDPM_OK;
}

void dist_finalize(void)
{
    if (g_init) MPI_Finalize();
    g_init = 0;
}

int dist_rank(void) { return g_rank; }
int dist_size(void) { return g_size; }
const char *dist_backend(void) { return "mpi"; }
const char *dist_label(void) { return g_label; }

int dist_barrier(void) { return check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

int dist_bcast_bytes(void *buf, size_t n, int root)
{
    for (size_t o = 0; o < n; o += DIST_CHUNK) {
        size_t k = n - o < DIST_CHUNK ? n - o : DIST_CHUNK;
        DDPM_TRY(check(MPI_Bcast((char *)buf + o, (int)k, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast"));
    }
    return DDPM_OK;
}

/* One round of a byte gather: rank q sends counts[q] - offset clipped to DIST_CHUNK. */
static int gather_common(const void *send, void *recv, const size_t *counts, int root, int all)
{
    const int P = g_size;
    if (P < 1 || g_rank < 0 || g_rank >= P) return ddpm_error("dist: MPI is not initialised");
    int *rc = malloc((size_t)P * sizeof(int)), *rd = malloc((size_t)P * sizeof(int));
    size_t *base = malloc((size_t)P * sizeof(size_t));
    if (!rc || !rd || !base) {
        free(rc);
        free(rd);
        free(base);
        return ddpm_error("out of memory in a gather");
    }
    size_t maxc = 0, acc = 0;
    for (int q = 0; q < P; q++) {
        base[q] = acc;
        acc += counts[q];
        if (counts[q] > maxc) maxc = counts[q];
    }
    /* send may alias recv at this rank's place (allgatherv in place): copy it there first */
    if (all && send != (char *)recv + base[g_rank]) memmove((char *)recv + base[g_rank], send, counts[g_rank]);
    const size_t per = DIST_CHUNK / (size_t)P; /* all pieces of one round fit an int displacement */
    int status = DDPM_OK;
    char *tmp = NULL;
    for (size_t off = 0; off < maxc && status == DDPM_OK; off += per) {
        size_t disp = 0;
        for (int q = 0; q < P; q++) {
            size_t k = counts[q] > off ? counts[q] - off : 0;
            if (k > per) k = per;
            rc[q] = (int)k;
            rd[q] = (int)disp;
            disp += k;
        }
        if (!tmp) tmp = malloc(disp ? disp : 1); /* the first round is the largest */
        if (!tmp) {
            status = ddpm_error("out of memory in a gather");
            break;
        }
        const char *mine = all ? (const char *)recv + base[g_rank] + off : (const char *)send + off;
        int r = all ? MPI_Allgatherv(mine, rc[g_rank], MPI_BYTE, tmp, rc, rd, MPI_BYTE, MPI_COMM_WORLD)
                    : MPI_Gatherv(mine, rc[g_rank], MPI_BYTE, tmp, rc, rd, MPI_BYTE, root, MPI_COMM_WORLD);
        status = check(r, all ? "MPI_Allgatherv" : "MPI_Gatherv");
        if (status == DDPM_OK && (all || g_rank == root))
            for (int q = 0; q < P; q++)
                if (rc[q]) memcpy((char *)recv + base[q] + off, tmp + rd[q], (size_t)rc[q]);
    }
    free(tmp);
    free(rc);
    free(rd);
    free(base);
    return status;
}

int dist_gatherv_to_root(const void *send, void *recv, const size_t *counts, int root)
{
    return gather_common(send, recv, counts, root, 0);
}

int dist_allgatherv(const void *send, void *recv, const size_t *counts)
{
    return gather_common(send, recv, counts, 0, 1);
}

int dist_any_flag(int local, int *any)
{
    return check(MPI_Allreduce(&local, any, 1, MPI_INT, MPI_BOR, MPI_COMM_WORLD), "MPI_Allreduce(BOR)");
}

int dist_hosts(char *buf, size_t n)
{
    char me[MPI_MAX_PROCESSOR_NAME];
    int len = 0;
    MPI_Get_processor_name(me, &len);
    char *all = malloc((size_t)g_size * MPI_MAX_PROCESSOR_NAME);
    if (!all) return ddpm_error("out of memory gathering host names");
    int rc = check(
        MPI_Allgather(me, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, MPI_COMM_WORLD),
        "MPI_Allgather(host names)");
    if (rc == DDPM_OK) {
        size_t o = 0;
        buf[0] = 0;
        for (int q = 0; q < g_size; q++) {
            const char *h = all + (size_t)q * MPI_MAX_PROCESSOR_NAME;
            int seen = 0;
            for (int e = 0; e < q && !seen; e++) seen = !strcmp(h, all + (size_t)e * MPI_MAX_PROCESSOR_NAME);
            if (!seen && o < n) o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? "," : "", h);
        }
    }
    free(all);
    return rc;
}

void dist_abort(int code)
{
    fflush(stdout);
    fflush(stderr);
    if (g_init) MPI_Abort(MPI_COMM_WORLD, code);
    _exit(code);
}

int dist_tree_allreduce_blocks(int M, const float *const *node, int nnode, size_t n, float *out)
{
    const int P = g_size, me = g_rank;
    if (P == 1) {
        if (nnode != 1) return ddpm_error("dist_tree_allreduce_blocks: %d nodes for all %d blocks", nnode, M);
        if (out != node[0]) memcpy(out, node[0], n * sizeof(float));
        return DDPM_OK;
    }
    /* every rank's node labels, from (M, q, P) alone */
    blocktree_node *lab = malloc((size_t)P * BLOCKTREE_MAX_NODES * sizeof *lab);
    int *k = calloc((size_t)P, sizeof(int)), *first = malloc((size_t)P * sizeof(int));
    int *sc = malloc((size_t)P * sizeof(int)), *sd = malloc((size_t)P * sizeof(int));
    int *rcn = malloc((size_t)P * sizeof(int)), *rdp = malloc((size_t)P * sizeof(int));
    int status = DDPM_OK, total = 0;
    float *sendb = NULL, *recvb = NULL, *scratch = NULL;
    const float **leaf = NULL;
    if (!lab || !k || !first || !sc || !sd || !rcn || !rdp) {
        status = ddpm_error("out of memory in the gradient reduction");
        goto out;
    }
    for (int q = 0; q < P; q++) {
        int a, b;
        blocktree_rank_range(M, q, P, &a, &b);
        if (a >= b) {
            status = ddpm_error("grad_blocks = %d is smaller than the %d ranks", M, P);
            goto out;
        }
        k[q] = blocktree_nodes(M, a, b, lab + (size_t)q * BLOCKTREE_MAX_NODES);
        first[q] = total;
        total += k[q];
    }
    if (k[me] != nnode) {
        status = ddpm_error("dist_tree_allreduce_blocks: %d nodes given, %d expected", nnode, k[me]);
        goto out;
    }
    const size_t seg = n < DIST_SEG ? n : DIST_SEG;
    const size_t mychunk_max = seg / (size_t)P + 1;
    sendb = malloc((size_t)nnode * (seg + (size_t)P) * sizeof(float));
    recvb = malloc((size_t)total * mychunk_max * sizeof(float));
    scratch = malloc((size_t)total * mychunk_max * sizeof(float));
    leaf = malloc((size_t)total * sizeof *leaf);
    blocktree_node *all_lab = malloc((size_t)total * sizeof *all_lab);
    if (!sendb || !recvb || !scratch || !leaf || !all_lab) {
        free(all_lab);
        status = ddpm_error("out of memory in the gradient reduction");
        goto out;
    }
    for (int q = 0; q < P; q++)
        for (int i = 0; i < k[q]; i++) all_lab[first[q] + i] = lab[(size_t)q * BLOCKTREE_MAX_NODES + i];
    for (size_t s0 = 0; s0 < n && status == DDPM_OK; s0 += seg) {
        const size_t len = n - s0 < seg ? n - s0 : seg;
#define CH0(c) (s0 + len * (size_t)(c) / (size_t)P) /* slice c of this segment: [CH0(c), CH0(c+1)) */
        /* to owner c: the slice c of each of my nodes, node after node */
        size_t o = 0;
        for (int c = 0; c < P; c++) {
            const size_t a = CH0(c), cl = CH0(c + 1) - a;
            sd[c] = (int)o;
            for (int i = 0; i < nnode; i++, o += cl) memcpy(sendb + o, node[i] + a, cl * sizeof(float));
            sc[c] = (int)(o - (size_t)sd[c]);
        }
        const size_t ma = CH0(me), ml = CH0(me + 1) - ma;
        for (int q = 0; q < P; q++) {
            rcn[q] = (int)((size_t)k[q] * ml);
            rdp[q] = (int)((size_t)first[q] * ml);
        }
        status = check(MPI_Alltoallv(sendb, sc, sd, MPI_FLOAT, recvb, rcn, rdp, MPI_FLOAT, MPI_COMM_WORLD),
                       "MPI_Alltoallv(gradient nodes)");
        if (status != DDPM_OK) break;
        for (int i = 0; i < total; i++) leaf[i] = recvb + (size_t)i * ml;
        status = blocktree_eval(M, all_lab, leaf, total, ml, scratch, out + ma);
        if (status != DDPM_OK) break;
        for (int c = 0; c < P; c++) {
            rcn[c] = (int)(CH0(c + 1) - CH0(c));
            rdp[c] = (int)(CH0(c) - s0);
        }
        status = check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, out + s0, rcn, rdp, MPI_FLOAT, MPI_COMM_WORLD),
                       "MPI_Allgatherv(gradient)");
#undef CH0
    }
    free(all_lab);
out:
    free(lab);
    free(k);
    free(first);
    free(sc);
    free(sd);
    free(rcn);
    free(rdp);
    free(sendb);
    free(recvb);
    free(scratch);
    free(leaf);
    return status;
}
