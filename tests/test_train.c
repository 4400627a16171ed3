/* Checkpoints and the training loop: a checkpoint round-trips every tensor, its config and its
 * step; a parameter edited in the file is what a load returns; bad files give clear errors; an
 * interrupted and resumed run is bit-identical to an uninterrupted one; a run whose loss
 * becomes non-finite stops as "diverged" and keeps its last good checkpoint. */
#include "testutil_run.h"

#include "core/common.h"
#include "core/config.h"
#include "core/fs.h"
#include "io/h5io.h"
#include "model/unet.h"
#include "train/checkpoint.h"
#include "train/optim.h"
#include "train/trainer.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void tiny_config(ddpm_config *c)
{
    static const char *const sets[] = { TEST_TINY_MODEL_SETS, TEST_TINY_TRAIN_SETS, "train_steps=6" };
    test_config_from_sets(c, sets, DDPM_ARRAY_LEN(sets));
}

static void rmrf(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(checkpoint_roundtrip_and_edit)
{
    ddpm_config c;
    tiny_config(&c);
    unet *m;
    ck_assert_int_eq(unet_create(&m, &c, 1), DDPM_OK);
    unet_init_params(m, 3);
    size_t n = unet_num_params(m);
    float *ema = malloc(n * sizeof(float)), *back = malloc(n * sizeof(float)), *eback = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) ema[i] = unet_params(m)[i] * 0.5f;
    adam_state opt, opt2;
    ck_assert_int_eq(adam_init(&opt, n), DDPM_OK);
    ck_assert_int_eq(adam_init(&opt2, n), DDPM_OK);
    for (size_t i = 0; i < n; i++) {
        opt.m[i] = (float)i;
        opt.v[i] = 1.0f / (float)(i + 1);
    }
    opt.t = 17;
    const char *p = test_tmp_path("ck.h5");
    ck_assert_int_eq(checkpoint_save(p, &c, m, unet_params(m), ema, &opt, 42, 0, NULL), DDPM_OK);
    ck_assert(access(p, F_OK) == 0);
    char tmp[1100];
    fs_tmp_path(p, tmp, sizeof tmp);
    ck_assert_msg(access(tmp, F_OK) != 0, "temporary file left behind");

    ddpm_config c2;
    ck_assert_int_eq(checkpoint_read_config(p, &c2), DDPM_OK);
    ck_assert(config_hash(&c2, NULL) == config_hash(&c, NULL));
    int64_t step;
    ck_assert_int_eq(checkpoint_load_train_state(p, m, back, eback, &opt2, &step), DDPM_OK);
    ck_assert_int_eq(step, 42);
    ck_assert_int_eq(opt2.t, 17);
    ck_assert(memcmp(back, unet_params(m), n * sizeof(float)) == 0);
    ck_assert(memcmp(eback, ema, n * sizeof(float)) == 0);
    ck_assert(memcmp(opt2.m, opt.m, n * sizeof(float)) == 0 && memcmp(opt2.v, opt.v, n * sizeof(float)) == 0);

    /* Edit one parameter in the file, as h5py would; the next load sees it. */
    const unet_param *q = unet_find(m, "model/down_0/block_0/conv1/W");
    ck_assert_ptr_nonnull(q);
    hid_t f = h5io_open(p, 1);
    ck_assert_int_ge(f, 0);
    float *w = malloc(q->size * sizeof(float));
    for (size_t i = 0; i < q->size; i++) w[i] = 0.25f;
    hsize_t dims[4];
    for (int k = 0; k < q->rank; k++) dims[k] = (hsize_t)q->shape[k];
    ck_assert_int_eq(h5io_write_f32(f, q->name, w, q->rank, dims), DDPM_OK);
    h5io_close(f);
    ck_assert_int_eq(checkpoint_load_weights(p, m, "model", back), DDPM_OK);
    ck_assert(back[q->offset] == 0.25f && back[q->offset + q->size - 1] == 0.25f);
    ck_assert_int_eq(checkpoint_load_weights(p, m, "ema", eback), DDPM_OK);
    ck_assert(eback[q->offset] == ema[q->offset]);

    /* A wrong shape, a missing tensor, a non-checkpoint and a truncated file: clear errors. */
    f = h5io_open(p, 1);
    hsize_t bad[1] = { 3 };
    ck_assert_int_eq(h5io_write_f32(f, q->name, w, 1, bad), DDPM_OK);
    H5Ldelete(f, "ema/model/conv_out/b", H5P_DEFAULT);
    h5io_close(f);
    ck_assert_int_eq(checkpoint_load_weights(p, m, "model", back), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), q->name) && strstr(ddpm_last_error(), "[3]"), "%s", ddpm_last_error());
    ck_assert_int_eq(checkpoint_load_weights(p, m, "ema", back), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "ema/model/conv_out/b") && strstr(ddpm_last_error(), "missing"), "%s",
                  ddpm_last_error());
    const char *np = test_tmp_path("notckpt.h5");
    hid_t g = h5io_create(np);
    h5io_close(g);
    ck_assert_int_eq(checkpoint_read_config(np, &c2), DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "not a ddpm checkpoint"));
    FILE *src = fopen(p, "rb");
    fseek(src, 0, SEEK_END);
    long len = ftell(src);
    fseek(src, 0, SEEK_SET);
    char *buf = malloc((size_t)len);
    ck_assert_int_eq((long)fread(buf, 1, (size_t)len, src), len);
    fclose(src);
    FILE *dst = fopen(np, "wb");
    fwrite(buf, 1, (size_t)len / 3, dst);
    fclose(dst);
    ck_assert_int_eq(checkpoint_read_config(np, &c2), DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), np));
    free(buf);
    remove(p);
    remove(np);
    free(w);
    free(ema);
    free(back);
    free(eback);
    adam_free(&opt);
    adam_free(&opt2);
    unet_free(m);
}
END_TEST

static void read_all(const char *path, unet *m, float *p, float *e, adam_state *o, int64_t *step)
{
    ck_assert_msg(checkpoint_load_train_state(path, m, p, e, o, step) == DDPM_OK, "%s", ddpm_last_error());
}

START_TEST(resume_is_bit_identical)
{
    ddpm_config c;
    tiny_config(&c);
    const char *d1 = test_tmp_path("run-straight"), *d2 = test_tmp_path("run-resumed");
    rmrf(d1);
    rmrf(d2);
    train_opts o;
    train_opts_default(&o);
    o.ckpt_every = 2;
    train_result r;
    ck_assert_msg(train_run(&c, d1, &o, &r) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_int_eq(r.outcome, TRAIN_FINISHED);
    ck_assert_int_eq(r.step, 6);
    ck_assert(train_is_finished(&c, d1));
    char word[32];
    int64_t st;
    ck_assert_int_eq(train_read_status(d1, word, sizeof word, &st), DDPM_OK);
    ck_assert_str_eq(word, "finished");
    ck_assert_int_eq(st, 6);

    o.stop_after = 3; /* interrupted after step 3 (not a checkpoint multiple) */
    ck_assert_int_eq(train_run(&c, d2, &o, &r), DDPM_OK);
    ck_assert_int_eq(r.outcome, TRAIN_INTERRUPTED);
    ck_assert_int_eq(r.step, 3);
    ck_assert(!train_is_finished(&c, d2));
    o.stop_after = -1;
    ck_assert_int_eq(train_run(&c, d2, &o, &r), DDPM_OK);
    ck_assert_int_eq(r.outcome, TRAIN_FINISHED);
    ck_assert_int_eq(r.resumed_from, 3);

    char p1[1100], p2[1100];
    snprintf(p1, sizeof p1, "%s/ckpt.h5", d1);
    snprintf(p2, sizeof p2, "%s/ckpt.h5", d2);
    unet *m;
    ck_assert_int_eq(unet_create(&m, &c, 1), DDPM_OK);
    size_t n = unet_num_params(m);
    float *a = malloc(n * 4), *ae = malloc(n * 4), *b = malloc(n * 4), *be = malloc(n * 4);
    adam_state oa, ob;
    adam_init(&oa, n);
    adam_init(&ob, n);
    int64_t sa, sb;
    read_all(p1, m, a, ae, &oa, &sa);
    read_all(p2, m, b, be, &ob, &sb);
    ck_assert_int_eq(sa, sb);
    ck_assert_int_eq(oa.t, ob.t);
    ck_assert_msg(memcmp(a, b, n * 4) == 0, "params differ after resume");
    ck_assert_msg(memcmp(ae, be, n * 4) == 0, "EMA differs after resume");
    ck_assert_msg(memcmp(oa.m, ob.m, n * 4) == 0 && memcmp(oa.v, ob.v, n * 4) == 0, "Adam state differs");

    /* The log holds a loss for every step of both invocations. */
    char lp[1100];
    snprintf(lp, sizeof lp, "%s/log.h5", d2);
    hid_t f = h5io_open(lp, 0);
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    ck_assert_int_eq(h5io_shape(f, "series/loss", &rank, dims), DDPM_OK);
    ck_assert_int_eq((int)dims[0], 6);
    ck_assert(h5io_exists(f, "provenance/resumes/0"));
    h5io_close(f);

    /* Another config in the same directory is refused, naming both hashes. */
    ddpm_config other = c;
    other.lr = 0.002;
    ck_assert_int_eq(train_run(&other, d2, &o, &r), DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "another config"));
    free(a);
    free(ae);
    free(b);
    free(be);
    adam_free(&oa);
    adam_free(&ob);
    unet_free(m);
    rmrf(d1);
    rmrf(d2);
}
END_TEST

START_TEST(divergence_keeps_last_good_checkpoint)
{
    ddpm_config c;
    tiny_config(&c);
    /* An absurd learning rate: Adam moves every weight by ~lr per step, so activations overflow
     * to inf within a few steps and the loss becomes non-finite. */
    c.lr = 1e30;
    c.warmup = 0;
    c.train_steps = 40;
    const char *d = test_tmp_path("run-diverge");
    rmrf(d);
    train_opts o;
    train_opts_default(&o);
    o.ckpt_every = 1;
    train_result r;
    ck_assert_msg(train_run(&c, d, &o, &r) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_int_eq(r.outcome, TRAIN_DIVERGED);
    ck_assert_int_ge(r.diverged_step, 1);
    ck_assert_int_lt(r.diverged_step, 40);
    char word[32];
    int64_t st;
    ck_assert_int_eq(train_read_status(d, word, sizeof word, &st), DDPM_OK);
    ck_assert_str_eq(word, "diverged");
    ck_assert_int_eq(st, r.diverged_step);
    char p[1100];
    snprintf(p, sizeof p, "%s/ckpt.h5", d);
    int64_t step;
    ck_assert_int_eq(checkpoint_read_step(p, &step), DDPM_OK);
    ck_assert_int_eq(step, r.diverged_step); /* the checkpoint of the last finite step */
    unet *m;
    ck_assert_int_eq(unet_create(&m, &c, 1), DDPM_OK);
    float *w = malloc(unet_num_params(m) * 4);
    ck_assert_int_eq(checkpoint_load_weights(p, m, "model", w), DDPM_OK);
    free(w);
    unet_free(m);
    rmrf(d);
}
END_TEST

START_TEST(unwritable_output_is_a_clear_error)
{
    ddpm_config c;
    tiny_config(&c);
    train_opts o;
    train_opts_default(&o);
    train_result r;
    const char *d = test_tmp_path("ro");
    rmrf(d);
    ck_assert_int_eq(system("true"), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && touch '%s/file'", d, d);
    ck_assert_int_eq(system(cmd), 0);
    char sub[1100];
    snprintf(sub, sizeof sub, "%s/file/run", d); /* a path below a regular file */
    ck_assert_int_eq(train_run(&c, sub, &o, &r), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "cannot create directory"), "%s", ddpm_last_error());
    rmrf(d);
}
END_TEST

/* Training is a function of the seed alone: 3 steps of batch 24 (large enough that the layers'
 * GEMMs are split into blocks, and weight gradients along the reduction) on 1 and on 2 OpenMP
 * threads give bit-identical weights, EMA weights and Adam moments. */
START_TEST(training_thread_count_independent)
{
    ddpm_config c;
    tiny_config(&c);
    ck_assert_int_eq(config_set(&c, "batch_size=24"), DDPM_OK);
    ck_assert_int_eq(config_set(&c, "train_steps=3"), DDPM_OK);
    train_opts o;
    train_opts_default(&o);
    train_result r;
    const char *dirs[2] = { test_tmp_path("threads-1"), test_tmp_path("threads-2") };
    for (int k = 0; k < 2; k++) {
        rmrf(dirs[k]);
        omp_set_num_threads(k + 1);
        ck_assert_msg(train_run(&c, dirs[k], &o, &r) == DDPM_OK, "%s", ddpm_last_error());
        ck_assert_int_eq(r.outcome, TRAIN_FINISHED);
    }
    /* weights, EMA, Adam moments and step, bit for bit */
    test_assert_same_run_state(dirs[0], dirs[1], 3);
    for (int k = 0; k < 2; k++) rmrf(dirs[k]);
}
END_TEST

/* grad_blocks (issue 16): 1 is the default and leaves the canonical text and hash of every
 * config unchanged; other values enter the hash and must divide batch_size. */
START_TEST(grad_blocks_key_and_hash)
{
    ddpm_config c, d;
    tiny_config(&c);
    d = c;
    ck_assert_int_eq(c.grad_blocks, 1);
    char text[8192];
    config_dump(&c, text, sizeof text);
    ck_assert_msg(strstr(text, "grad_blocks") == NULL, "grad_blocks = 1 must stay out of the canonical text");
    ck_assert_int_eq(config_set(&d, "grad_blocks=1"), DDPM_OK);
    ck_assert(config_hash(&c, NULL) == config_hash(&d, NULL));
    ck_assert_int_eq(config_set(&d, "grad_blocks=2"), DDPM_OK);
    ck_assert(config_hash(&c, NULL) != config_hash(&d, NULL));
    config_dump(&d, text, sizeof text);
    ck_assert(strstr(text, "grad_blocks = 2\n") != NULL);
    ddpm_config back;
    config_defaults(&back);
    ck_assert_int_eq(config_load_text(&back, text, "dump"), DDPM_OK);
    ck_assert(config_hash(&back, NULL) == config_hash(&d, NULL));
    ck_assert_int_eq(config_set(&d, "grad_blocks=3"), DDPM_OK); /* batch 4 */
    ck_assert_int_eq(config_validate(&d), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "grad_blocks") && strstr(ddpm_last_error(), "batch_size"), "%s",
                  ddpm_last_error());
}
END_TEST

static double first_row(const char *dir, const char *series)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/log.h5", dir);
    hid_t f = h5io_open(path, 0);
    ck_assert_msg(f >= 0, "%s", ddpm_last_error());
    double *v;
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    ck_assert_int_eq(h5io_read_f64(f, series, &v, &rank, dims), DDPM_OK);
    double x = v[0];
    free(v);
    h5io_close(f);
    return x;
}

/* The blocked step (grad_blocks = M > 1) is thread-count independent, and it computes the same
 * step as the whole-batch backward up to float rounding: on the first step (same initial
 * weights) the mean loss and the gradient norm agree to 1e-5 for M = 2 and M = 4 (one example
 * per block) — which fails if a block drew another example's dropout mask or scaled its loss
 * gradient by 1/block instead of 1/batch_size. */
START_TEST(blocked_step_matches_whole_batch_and_is_thread_independent)
{
    ddpm_config c;
    tiny_config(&c);
    ck_assert_int_eq(config_set(&c, "train_steps=3"), DDPM_OK);
    train_opts o;
    train_opts_default(&o);
    train_result r;
    const char *whole = test_tmp_path("blocks-whole");
    rmrf(whole);
    ck_assert_msg(train_run(&c, whole, &o, &r) == DDPM_OK, "%s", ddpm_last_error());
    const double loss1 = first_row(whole, "series/loss"), gn1 = first_row(whole, "series/grad_norm");
    static const int Ms[] = { 2, 4 };
    for (int i = 0; i < 2; i++) {
        ddpm_config b = c;
        b.grad_blocks = Ms[i];
        char n1[64], n2[64];
        snprintf(n1, sizeof n1, "blocks-%d-t1", Ms[i]);
        snprintf(n2, sizeof n2, "blocks-%d-t2", Ms[i]);
        const char *dirs[2] = { test_tmp_path(n1), test_tmp_path(n2) };
        for (int k = 0; k < 2; k++) {
            rmrf(dirs[k]);
            omp_set_num_threads(k + 1);
            ck_assert_msg(train_run(&b, dirs[k], &o, &r) == DDPM_OK, "%s", ddpm_last_error());
            ck_assert_int_eq(r.outcome, TRAIN_FINISHED);
        }
        double lb = first_row(dirs[0], "series/loss"), gb = first_row(dirs[0], "series/grad_norm");
        ck_assert_msg(fabs(lb - loss1) <= 1e-5 * fabs(loss1), "M=%d: first-step loss %.9g, whole batch %.9g", Ms[i], lb,
                      loss1);
        ck_assert_msg(fabs(gb - gn1) <= 1e-5 * fabs(gn1), "M=%d: first-step gradient norm %.9g, whole batch %.9g",
                      Ms[i], gb, gn1);
        test_assert_same_run_state(dirs[0], dirs[1], 3); /* the blocked step: the same bits on 1 and 2 threads */
        for (int k = 0; k < 2; k++) rmrf(dirs[k]);
    }
    rmrf(whole);
}
END_TEST

/* One word per outcome, and back (the tables once printed an interrupted run as "finished"). */
START_TEST(outcome_words)
{
    const train_outcome all[] = { TRAIN_FINISHED, TRAIN_INTERRUPTED, TRAIN_DIVERGED };
    const char *want[] = { "finished", "interrupted", "diverged" };
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(train_outcome_name(all[i]), want[i]);
        train_outcome o = TRAIN_FINISHED;
        ck_assert_int_eq(train_outcome_parse(want[i], &o), DDPM_OK);
        ck_assert_int_eq(o, all[i]);
    }
    train_outcome o;
    ck_assert_int_eq(train_outcome_parse("running", &o), DDPM_ERR);
}
END_TEST

static Suite *train_suite(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, outcome_words);
    tcase_add_test(tc, checkpoint_roundtrip_and_edit);
    tcase_add_test(tc, resume_is_bit_identical);
    tcase_add_test(tc, divergence_keeps_last_good_checkpoint);
    tcase_add_test(tc, unwritable_output_is_a_clear_error);
    tcase_add_test(tc, training_thread_count_independent);
    tcase_add_test(tc, grad_blocks_key_and_hash);
    tcase_add_test(tc, blocked_step_matches_whole_batch_and_is_thread_independent);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(train_suite)
