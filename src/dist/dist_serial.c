/* dist_serial.c — dist.h for one process. Holds only dist_* symbols, so that bin/ddpm-mpi,
 * which links src/mpi/dist_mpi.o before libddpm.a, never pulls this member in. */
#include "dist/dist.h"

#include "core/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int launched_size(void)
{
    const char *vars[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE" };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 1) return atoi(v);
    }
    return 1;
}

int dist_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    int p = launched_size();
    if (p > 1)
        return ddpm_error("started as one of %d MPI ranks, but this binary is serial (it would run %d identical "
                          "copies): run bin/ddpm-mpi under mpirun (make setup-mpi builds it), or bin/ddpm "
                          "without mpirun",
                          p, p);
    return DDPM_OK;
}

void dist_finalize(void) {}
int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }
const char *dist_backend(void) { return "serial"; }
const char *dist_label(void) { return ""; }
int dist_barrier(void) { return DDPM_OK; }

int dist_bcast_bytes(void *buf, size_t n, int root)
{
    (void)buf;
    (void)n;
    return root == 0 ? DDPM_OK : ddpm_error("dist_bcast_bytes: root %d of 1 rank", root);
}

int dist_gatherv_to_root(const void *send, void *recv, const size_t *counts, int root)
{
    if (root != 0) return ddpm_error("dist_gatherv_to_root: root %d of 1 rank", root);
    if (recv != send && counts[0]) memmove(recv, send, counts[0]);
    return DDPM_OK;
}

int dist_allgatherv(const void *send, void *recv, const size_t *counts)
{
    return dist_gatherv_to_root(send, recv, counts, 0);
}

int dist_tree_allreduce_blocks(int M, const float *const *node, int nnode, size_t n, float *out)
{
    /* One rank owns every block: its single maximal node is the root. */
    if (nnode != 1 || M < 1) return ddpm_error("dist_tree_allreduce_blocks: %d nodes for all %d blocks", nnode, M);
    if (out != node[0]) memcpy(out, node[0], n * sizeof(float));
    return DDPM_OK;
}

int dist_any_flag(int local, int *any)
{
    *any = local;
    return DDPM_OK;
}

int dist_hosts(char *buf, size_t n)
{
    if (gethostname(buf, n) != 0) snprintf(buf, n, "unknown");
    buf[n - 1] = 0;
    return DDPM_OK;
}

void dist_abort(int code) { exit(code); }
