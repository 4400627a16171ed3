/* The dist layer on Open MPI (src/mpi/dist_mpi.c), run by tests/test_mpi.c under
 * `mpirun -np P` for P = 1..4 (never by scripts/run_tests.sh directly: it is not a tests/test_*.c).
 *
 * Every rank runs the same tests in the same order in one process (CK_NOFORK: Check's fork mode
 * would fork MPI processes). Assertions are collective-safe: each test computes a local ok flag,
 * ORs the failures over ranks with dist_any_flag, and only then asserts, so a failure on one rank
 * fails every rank at the same point instead of leaving the others waiting in a collective.
 * mpirun --timeout in the caller is the backstop. Rank 0 prints; the exit status is the failure
 * count, the same on every rank.
 *
 * Cases: dist_tree_allreduce_blocks against the canonical tree folded locally over all M blocks,
 * for M in {1, 2, 3, 5, 7, 10, 12, 16} (every M >= P), random counter-RNG block vectors and odd
 * lengths, with small DDPM_DIST_SEG so several alltoallv rounds run; a plain float sum of the
 * blocks is checked to differ somewhere (the test would not notice a wrong order otherwise);
 * bcast, gatherv and allgatherv with uneven sizes through several DDPM_DIST_CHUNK rounds; any_flag. */
#include <check.h>

#include "core/common.h"
#include "core/rng.h"
#include "dist/blocktree.h"
#include "dist/dist.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fails on every rank when ok is false on any rank. */
#define COLLECTIVE_ASSERT(ok, ...)                                                                                     \
    do {                                                                                                               \
        int bad_ = 0;                                                                                                  \
        ck_assert_int_eq(dist_any_flag(!(ok), &bad_), DDPM_OK);                                                        \
        ck_assert_msg(!bad_, __VA_ARGS__);                                                                             \
    } while (0)

static void block_vector(int M, int m, size_t n, float *g)
{
    rng_normal_fill(rng_stream_make(1234, RNG_EVAL, (uint32_t)M, (uint32_t)m), g, n);
    /* magnitudes over several decades so the association of the sum shows in the bits */
    for (size_t i = 0; i < n; i++) g[i] *= (float)(1 + (m * 37 + (int)i) % 1000);
}

START_TEST(tree_reduction_matches_local_canonical_sum)
{
    static const int Ms[] = { 1, 2, 3, 5, 7, 10, 12, 16 };
    const int P = dist_size(), r = dist_rank();
    const size_t n = 1237;
    float *g = malloc(n * sizeof(float)), *want = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    float *naive = calloc(n, sizeof(float));
    ck_assert(g && want && got && naive);
    int tested = 0, naive_differs = 0;
    for (size_t t = 0; t < sizeof Ms / sizeof Ms[0]; t++) {
        const int M = Ms[t];
        if (M < P) continue;
        /* the canonical sum, every block on this rank */
        blocktree_fold all;
        ck_assert_int_eq(blocktree_fold_init(&all, M, 0, M, n), DDPM_OK);
        memset(naive, 0, n * sizeof(float));
        for (int m = 0; m < M; m++) {
            block_vector(M, m, n, g);
            ck_assert_int_eq(blocktree_fold_push(&all, m, g), DDPM_OK);
            for (size_t i = 0; i < n; i++) naive[i] += g[i];
        }
        ck_assert_int_eq(all.count, 1);
        memcpy(want, all.buf[0], n * sizeof(float));
        blocktree_fold_free(&all);
        if (M >= 3 && memcmp(naive, want, n * sizeof(float)) != 0) naive_differs = 1;
        /* this rank's blocks only, then the collective */
        int a, b;
        blocktree_rank_range(M, r, P, &a, &b);
        blocktree_fold mine;
        ck_assert_int_eq(blocktree_fold_init(&mine, M, a, b, n), DDPM_OK);
        for (int m = a; m < b; m++) {
            block_vector(M, m, n, g);
            ck_assert_int_eq(blocktree_fold_push(&mine, m, g), DDPM_OK);
        }
        blocktree_node lab[BLOCKTREE_MAX_NODES];
        int k = blocktree_nodes(M, a, b, lab);
        int labels_ok = k == mine.count;
        for (int i = 0; labels_ok && i < k; i++)
            labels_ok = lab[i].level == mine.lab[i].level && lab[i].index == mine.lab[i].index;
        COLLECTIVE_ASSERT(labels_ok, "M=%d: the fold's nodes are not blocktree_nodes()", M);
        memset(got, 0xff, n * sizeof(float));
        int rc = dist_tree_allreduce_blocks(M, (const float *const *)mine.buf, mine.count, n, got);
        COLLECTIVE_ASSERT(rc == DDPM_OK, "M=%d: %s", M, ddpm_last_error());
        COLLECTIVE_ASSERT(memcmp(got, want, n * sizeof(float)) == 0,
                          "M=%d P=%d: the reduced gradient differs from the canonical single-process tree", M, P);
        blocktree_fold_free(&mine);
        tested++;
    }
    ck_assert_int_gt(tested, 0);
    ck_assert_msg(naive_differs, "a left-to-right float sum equalled the tree everywhere: the data test nothing");
    free(g);
    free(want);
    free(got);
    free(naive);
}
END_TEST

START_TEST(bcast_and_gathers_keep_rank_order_in_chunks)
{
    const int P = dist_size(), r = dist_rank();
    /* 5000 bytes through DDPM_DIST_CHUNK=1000 (set by the caller): several rounds */
    const size_t nb = 5003;
    unsigned char *buf = malloc(nb);
    for (size_t i = 0; i < nb; i++) buf[i] = r == 0 ? (unsigned char)(i * 7 + 3) : 0;
    ck_assert_int_eq(dist_bcast_bytes(buf, nb, 0), DDPM_OK);
    int ok = 1;
    for (size_t i = 0; i < nb; i++) ok &= buf[i] == (unsigned char)(i * 7 + 3);
    COLLECTIVE_ASSERT(ok, "bcast_bytes: rank %d got other bytes", r);
    /* uneven shares: rank q sends 900 * q + 17 bytes (rank 0 a short one) */
    size_t *counts = malloc((size_t)P * sizeof(size_t)), total = 0;
    for (int q = 0; q < P; q++) total += counts[q] = 900 * (size_t)q * (size_t)q + 17;
    size_t base = 0;
    for (int q = 0; q < r; q++) base += counts[q];
    unsigned char *send = malloc(counts[r]), *recv = malloc(total), *all = malloc(total);
    for (size_t i = 0; i < counts[r]; i++) send[i] = (unsigned char)((base + i) * 13 + 1);
    memset(recv, 0, total);
    ck_assert_int_eq(dist_gatherv_to_root(send, recv, counts, 0), DDPM_OK);
    ok = 1;
    if (r == 0)
        for (size_t i = 0; i < total; i++) ok &= recv[i] == (unsigned char)(i * 13 + 1);
    COLLECTIVE_ASSERT(ok, "gatherv_to_root: rank order or content wrong");
    memset(all, 0, total);
    memcpy(all + base, send, counts[r]); /* in place, as the trainer's loss gather */
    ck_assert_int_eq(dist_allgatherv(all + base, all, counts), DDPM_OK);
    ok = 1;
    for (size_t i = 0; i < total; i++) ok &= all[i] == (unsigned char)(i * 13 + 1);
    COLLECTIVE_ASSERT(ok, "allgatherv: rank %d has wrong content", r);
    free(buf);
    free(counts);
    free(send);
    free(recv);
    free(all);
}
END_TEST

START_TEST(any_flag_is_an_or_over_ranks)
{
    const int P = dist_size(), r = dist_rank();
    int any = -1;
    ck_assert_int_eq(dist_any_flag(0, &any), DDPM_OK);
    COLLECTIVE_ASSERT(any == 0, "no rank set a flag, got %d", any);
    ck_assert_int_eq(dist_any_flag(r == P - 1 ? 2 : 0, &any), DDPM_OK);
    COLLECTIVE_ASSERT(any == 2, "the last rank set bit 2, got %d", any);
    char hosts[1024];
    ck_assert_int_eq(dist_hosts(hosts, sizeof hosts), DDPM_OK);
    COLLECTIVE_ASSERT(hosts[0] != 0 && strchr(hosts, ',') == NULL, "one host expected, got '%s'", hosts);
}
END_TEST

int main(int argc, char **argv)
{
    if (dist_init(&argc, &argv) != DDPM_OK) {
        fprintf(stderr, "test_dist: %s\n", ddpm_last_error());
        return 2;
    }
    Suite *s = suite_create("dist");
    TCase *tc = tcase_create("mpi");
    tcase_add_test(tc, tree_reduction_matches_local_canonical_sum);
    tcase_add_test(tc, bcast_and_gathers_keep_rank_order_in_chunks);
    tcase_add_test(tc, any_flag_is_an_or_over_ranks);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, dist_rank() == 0 ? CK_NORMAL : CK_SILENT);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    dist_finalize();
    return nf == 0 ? 0 : 1;
}
