/* testutil_run.h — comparisons of two training runs (test_crash, test_mpi): checkpoints and
 * per-step log series, bit for bit. */
#ifndef DDPM_TESTUTIL_RUN_H
#define DDPM_TESTUTIL_RUN_H

#include "testutil.h"

#include "core/common.h"
#include "io/h5io.h"
#include "model/unet.h"
#include "train/checkpoint.h"
#include "train/optim.h"

/* The checkpoints DIR/ckpt.h5 of two runs hold the same bits (weights, EMA, Adam moments and
 * step), and that step is want_step. The model is the one d1's checkpoint describes. */
static inline void test_assert_same_run_state(const char *d1, const char *d2, int64_t want_step)
{
    char path[2][1200];
    snprintf(path[0], sizeof path[0], "%s/ckpt.h5", d1);
    snprintf(path[1], sizeof path[1], "%s/ckpt.h5", d2);
    ddpm_config c;
    ck_assert_msg(checkpoint_read_config(path[0], &c) == DDPM_OK, "%s", ddpm_last_error());
    unet *m;
    ck_assert_int_eq(unet_create(&m, &c, 1), DDPM_OK);
    size_t n = unet_num_params(m);
    float *p[2], *e[2];
    adam_state o[2];
    int64_t step[2];
    for (int r = 0; r < 2; r++) {
        p[r] = malloc(n * sizeof(float));
        e[r] = malloc(n * sizeof(float));
        ck_assert_int_eq(adam_init(&o[r], n), DDPM_OK);
        ck_assert_msg(checkpoint_load_train_state(path[r], m, p[r], e[r], &o[r], &step[r]) == DDPM_OK, "%s",
                      ddpm_last_error());
        ck_assert_int_eq(step[r], want_step);
    }
    ck_assert_int_eq(o[0].t, o[1].t);
    ck_assert_msg(memcmp(p[0], p[1], n * sizeof(float)) == 0, "%s: weights differ from %s", d2, d1);
    ck_assert_msg(memcmp(e[0], e[1], n * sizeof(float)) == 0, "%s: EMA differs from %s", d2, d1);
    ck_assert_msg(memcmp(o[0].m, o[1].m, n * sizeof(float)) == 0, "%s: Adam m differs from %s", d2, d1);
    ck_assert_msg(memcmp(o[0].v, o[1].v, n * sizeof(float)) == 0, "%s: Adam v differs from %s", d2, d1);
    for (int r = 0; r < 2; r++) {
        free(p[r]);
        free(e[r]);
        adam_free(&o[r]);
    }
    unet_free(m);
}

/* The per-step series step, loss, grad_norm and lr of DIR/log.h5 are equal row for row, with
 * `rows` rows each (wall-clock series are not compared). */
static inline void test_assert_same_series(const char *d1, const char *d2, hsize_t rows)
{
    const char *names[] = { "series/step", "series/loss", "series/grad_norm", "series/lr" };
    char l1[1200], l2[1200];
    snprintf(l1, sizeof l1, "%s/log.h5", d1);
    snprintf(l2, sizeof l2, "%s/log.h5", d2);
    hid_t f1 = h5io_open(l1, 0), f2 = h5io_open(l2, 0);
    ck_assert_msg(f1 >= 0 && f2 >= 0, "%s", ddpm_last_error());
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        double *a, *b;
        int ra, rb;
        hsize_t da[H5IO_MAX_RANK], db[H5IO_MAX_RANK];
        ck_assert_int_eq(h5io_read_f64(f1, names[i], &a, &ra, da), DDPM_OK);
        ck_assert_int_eq(h5io_read_f64(f2, names[i], &b, &rb, db), DDPM_OK);
        ck_assert_msg(ra == 1 && rb == 1 && da[0] == rows && db[0] == rows, "%s: %llu and %llu rows, want %llu",
                      names[i], (unsigned long long)da[0], (unsigned long long)db[0], (unsigned long long)rows);
        ck_assert_msg(memcmp(a, b, rows * sizeof(double)) == 0, "%s: %s differs from %s", d2, names[i], d1);
        ddpm_free(a);
        ddpm_free(b);
    }
    h5io_close(f1);
    h5io_close(f2);
}

#endif
