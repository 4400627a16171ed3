/* Nothing a user types may destroy finished work (README "Reliability"): outputs that are
 * inputs, files of another kind, reference statistics of other settings, two trainers on one
 * run, a log held open by a reader, model keys overridden against a checkpoint, the error
 * paths' cleanup, and inputs that would give a silently wrong answer. Each case runs the real
 * `ddpm` binary (DDPM_BIN) and checks both the refusal and that the file it protects is intact. */
#include "testutil.h"

#include "core/common.h"
#include "core/fs.h"
#include "core/rng.h"
#include "io/filekind.h"
#include "io/h5io.h"
#include "train/trainer.h"

#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

static const char *TINY = TEST_TINY_MODEL;

/* A file's bytes, to prove a refused command left it untouched. */
#define slurp(path, len) test_slurp(path, len, "")

static void assert_unchanged(const char *path, const unsigned char *before, size_t n)
{
    size_t m;
    unsigned char *now = slurp(path, &m);
    ck_assert_msg(m == n && !memcmp(now, before, n), "%s was modified", path);
    free(now);
}

static void make_ckpt(const char *ck)
{
    char out[8192];
    ck_assert_msg(test_ddpm(out, sizeof out, "init %s --seed 3 --out %s", TINY, ck) == 0, "%s", out);
}

/* High 2: an output that is one of the inputs, by any name, or a file of another kind. */
START_TEST(output_never_replaces_an_input_or_another_kind)
{
    char out[8192];
    const char *ck = test_tmp_path("sf_ck.h5"), *alias = test_tmp_path("sf_alias.h5");
    make_ckpt(ck);
    size_t n;
    unsigned char *orig = slurp(ck, &n);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "sample --ckpt %s --n 2 --out %s", ck, ck), 1);
    ck_assert_msg(strstr(out, "same file as --ckpt") && strstr(out, ck), "%s", out);
    assert_unchanged(ck, orig, n);
    /* a hard link is the same file under another name */
    unlink(alias);
    ck_assert_int_eq(link(ck, alias), 0);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "bpd --ckpt %s --n 2 --out %s", ck, alias), 1);
    ck_assert_msg(strstr(out, "same file as --ckpt"), "%s", out);
    unlink(alias);
    assert_unchanged(ck, orig, n);
    /* a checkpoint given as the output of another command is refused, --force replaces it */
    const char *other = test_tmp_path("sf_other.h5"), *in = test_tmp_path("sf_in.h5");
    make_ckpt(other);
    size_t n2;
    unsigned char *orig2 = slurp(other, &n2);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "sample --ckpt %s --n 2 --out %s", ck, other), 1);
    ck_assert_msg(strstr(out, "exists and is a checkpoint") && strstr(out, "--force"), "%s", out);
    assert_unchanged(other, orig2, n2);
    float x[2 * 28 * 28];
    int32_t t[2] = { 1, 5 };
    rng_normal_fill(rng_stream_make(1, RNG_EVAL, 0, 0), x, 2 * 28 * 28);
    hid_t f = h5io_create(in);
    hsize_t d4[4] = { 2, 28, 28, 1 }, d1[1] = { 2 };
    ck_assert(h5io_write_f32(f, "x", x, 4, d4) == DDPM_OK && h5io_write_i32(f, "t", t, 1, d1) == DDPM_OK);
    h5io_close(f);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "forward --ckpt %s --in %s --out %s", ck, in, other), 1);
    assert_unchanged(other, orig2, n2);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "forward --ckpt %s --in %s --out %s", ck, in, in), 1);
    ck_assert_msg(strstr(out, "same file as --in"), "%s", out);
    ck_assert_msg(test_ddpm(out, sizeof out, "sample --ckpt %s --n 2 --out %s --force", ck, other) == 0, "%s", out);
    ck_assert_int_eq(file_kind_of(other), FK_SAMPLES);
    /* init over a trained checkpoint: a trained one has step > 0; simulate by editing step */
    f = h5io_open(ck, 1);
    ck_assert(h5io_attr_i64(f, ".", "step", 1200) == DDPM_OK);
    h5io_close(f);
    free(orig);
    orig = slurp(ck, &n);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "init %s --out %s", TINY, ck), 1);
    ck_assert_msg(strstr(out, "trained for 1200 steps"), "%s", out);
    assert_unchanged(ck, orig, n);
    /* a missing output directory is reported before any work */
    ck_assert_int_eq(test_ddpm(out, sizeof out, "sample --ckpt %s --n 2 --out /nonexistent-dir/s.h5", ck), 1);
    ck_assert_msg(strstr(out, "/nonexistent-dir") && strstr(out, "does not exist") && !strstr(out, "sample: wrote"),
                  "%s", out);
    free(orig);
    free(orig2);
}
END_TEST

/* High 1: eval --stats never overwrites what is not reference statistics of the same
 * extractor and settings. */
START_TEST(eval_stats_never_overwrites)
{
    char out[8192];
    const char *ck = test_tmp_path("st_ck.h5"), *so = test_tmp_path("st_s.h5"), *ref = test_tmp_path("st_ref.h5");
    make_ckpt(ck);
    ck_assert_msg(test_ddpm(out, sizeof out, "sample --ckpt %s --n 8 --out %s", ck, so) == 0, "%s", out);
    size_t nck, ns;
    unsigned char *ck0 = slurp(ck, &nck), *s0 = slurp(so, &ns);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "eval --samples %s --stats %s", so, ck), 1);
    ck_assert_msg(strstr(out, ck) && strstr(out, "is a checkpoint, not reference statistics"), "%s", out);
    assert_unchanged(ck, ck0, nck);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "eval --samples %s --stats %s", so, so), 1);
    assert_unchanged(so, s0, ns);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "stats %s --n 300 --out %s", TINY, ck), 1);
    assert_unchanged(ck, ck0, nck);
    /* statistics of 300 images are not replaced by a request for 100 without --recompute */
    ck_assert_msg(test_ddpm(out, sizeof out, "stats %s --n 300 --out %s", TINY, ref) == 0, "%s", out);
    size_t nr;
    unsigned char *r0 = slurp(ref, &nr);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "eval --samples %s --stats %s --n 100", so, ref), 1);
    ck_assert_msg(strstr(out, "other settings") && strstr(out, "--recompute"), "%s", out);
    assert_unchanged(ref, r0, nr);
    ck_assert_msg(test_ddpm(out, sizeof out, "eval --samples %s --stats %s --n 300", so, ref) == 0, "%s", out);
    assert_unchanged(ref, r0, nr); /* reused, not rewritten */
    ck_assert_msg(test_ddpm(out, sizeof out, "eval --samples %s --stats %s --n 100 --recompute", so, ref) == 0, "%s",
                  out);
    hid_t f = h5io_open(ref, 0);
    char have[256];
    ck_assert(h5io_get_attr_str(f, ".", "reference", have, sizeof have) == DDPM_OK);
    h5io_close(f);
    ck_assert_msg(strstr(have, "n=100"), "%s", have);
    free(ck0);
    free(s0);
    free(r0);
}
END_TEST

static pid_t spawn_train(const char *dir, const char *log, const char *extra)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        const char *bin = getenv("DDPM_BIN");
        char cmd[2048];
        /* bounded life, so a failing assertion never leaves a trainer behind */
        snprintf(cmd, sizeof cmd,
                 "exec timeout 120 %s/ddpm train --config experiments/configs/smoke/base.cfg %s --out %s > %s 2>&1",
                 bin ? bin : "bin", extra, dir, log);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void wait_for_file(const char *path, double seconds)
{
    for (int i = 0; i < (int)(seconds * 20) && access(path, F_OK) != 0; i++) usleep(50000);
    ck_assert_msg(access(path, F_OK) == 0, "%s did not appear", path);
}

/* High 3: one trainer per run directory; a second one is told who holds it. */
START_TEST(second_trainer_is_refused)
{
    char out[8192], dir[512], status[600], first_log[600];
    snprintf(dir, sizeof dir, "%s", test_tmp_path("lockrun"));
    snprintf(status, sizeof status, "%s/status", dir);
    snprintf(first_log, sizeof first_log, "%s", test_tmp_path("lockrun_first.txt"));
    pid_t first = spawn_train(dir, first_log, "--set train_steps=100000 --ckpt-every 2");
    wait_for_file(status, 60); /* status is written once the lock is held and training starts */
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.h5", dir);
    wait_for_file(ckpt, 60); /* and the first checkpoint exists: the case that used to corrupt */
    const char *bin = getenv("DDPM_BIN");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "timeout 60 %s/ddpm train --config experiments/configs/smoke/base.cfg "
             "--set train_steps=100000 --out %s",
             bin ? bin : "bin", dir);
    int rc = test_run_capture(cmd, out, sizeof out);
    char lockp[700], holder[32], pid_text[48];
    snprintf(lockp, sizeof lockp, "%s/lock", dir);
    ck_assert(test_read_text(lockp, holder, sizeof holder));
    snprintf(pid_text, sizeof pid_text, "PID %ld", strtol(holder, NULL, 10));
    ck_assert_msg(rc == 1 && strstr(out, "in use by") && strstr(out, pid_text), "rc %d: %s", rc, out);
    char damaged[700];
    snprintf(damaged, sizeof damaged, "%s/log.h5.damaged", dir);
    ck_assert_msg(access(damaged, F_OK) != 0, "the live log was moved aside");
    kill(first, SIGTERM);
    int st;
    waitpid(first, &st, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 130, "first trainer status %d", st);
    test_read_text(first_log, out, sizeof out);
    ck_assert_msg(strstr(out, "rerun the same command to resume"), "%s", out);
}
END_TEST

/* Low: after kill -9 the status file still says "running", but names a PID that no longer holds
 * the run's lock, and train_read_status reports the run as interrupted. */
START_TEST(killed_run_reads_as_interrupted)
{
    char dir[512], status[600], text[256], word[32];
    snprintf(dir, sizeof dir, "%s", test_tmp_path("killedrun"));
    snprintf(status, sizeof status, "%s/status", dir);
    pid_t p = spawn_train(dir, test_tmp_path("killedrun.txt"), "--set train_steps=100000");
    wait_for_file(status, 60);
    int64_t step = -1;
    ck_assert(train_read_status(dir, word, sizeof word, &step) == DDPM_OK);
    ck_assert_str_eq(word, "running");
    /* spawn_train runs `timeout ddpm`: kill the trainer itself, not only its parent */
    char lockp[700], holder[32];
    snprintf(lockp, sizeof lockp, "%s/lock", dir);
    ck_assert(test_read_text(lockp, holder, sizeof holder));
    ck_assert_int_eq(kill((pid_t)strtol(holder, NULL, 10), SIGKILL), 0);
    int st;
    waitpid(p, &st, 0);
    ck_assert(test_read_text(status, text, sizeof text));
    ck_assert_msg(strstr(text, "running") && strstr(text, "pid"), "%s", text);
    ck_assert(train_read_status(dir, word, sizeof word, &step) == DDPM_OK);
    ck_assert_str_eq(word, "interrupted");
}
END_TEST

/* High 3: a log held open by a reader (h5py, a notebook) is not "damaged". */
START_TEST(log_open_in_a_reader_is_not_damaged)
{
    char out[8192], dir[512], logp[600], damaged[700];
    snprintf(dir, sizeof dir, "%s", test_tmp_path("readerrun"));
    snprintf(logp, sizeof logp, "%s/log.h5", dir);
    snprintf(damaged, sizeof damaged, "%s.damaged", logp);
    ck_assert_msg(test_ddpm(out, sizeof out,
                            "train --config experiments/configs/smoke/base.cfg --set train_steps=2 --out %s", dir) == 0,
                  "%s", out);
    int ready[2], done[2];
    ck_assert(pipe(ready) == 0 && pipe(done) == 0);
    pid_t reader = fork();
    ck_assert_int_ge(reader, 0);
    if (reader == 0) {
        hid_t f = h5io_open(logp, 0);
        char c = f >= 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1) _exit(2);
        if (read(done[0], &c, 1) != 1) _exit(2);
        h5io_close(f);
        _exit(0);
    }
    char c = 0;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    ck_assert_int_eq(c, 'y');
    int rc = test_ddpm(out, sizeof out,
                       "train --config experiments/configs/smoke/base.cfg --set train_steps=4 --out %s", dir);
    char pid_text[32];
    snprintf(pid_text, sizeof pid_text, "PID %d", (int)reader);
    ck_assert_msg(rc == 1 && strstr(out, "is open in") && strstr(out, pid_text) &&
                      strstr(out, "HDF5_USE_FILE_LOCKING=FALSE"),
                  "rc %d: %s", rc, out);
    ck_assert_msg(access(damaged, F_OK) != 0 && access(logp, F_OK) == 0, "the log was moved aside");
    ck_assert_int_eq(write(done[1], "x", 1), 1);
    int st;
    waitpid(reader, &st, 0);
    /* the reader gone, the same command resumes and extends the run */
    ck_assert_msg(test_ddpm(out, sizeof out,
                            "train --config experiments/configs/smoke/base.cfg --set train_steps=4 --out %s", dir) == 0,
                  "%s", out);
    ck_assert_msg(strstr(out, "resuming") && strstr(out, "finished 4 steps"), "%s", out);
    /* the extended run's config.txt and log say what it now runs under (was stale: 2 steps) */
    char cfgp[700], text[8192], v[64];
    snprintf(cfgp, sizeof cfgp, "%s/config.txt", dir);
    ck_assert(test_read_text(cfgp, text, sizeof text));
    ck_assert_msg(strstr(text, "train_steps = 4\n"), "%s", text);
    hid_t f = h5io_open(logp, 0);
    ck_assert(h5io_get_attr_str(f, "config", "train_steps", v, sizeof v) == DDPM_OK);
    h5io_close(f);
    ck_assert_str_eq(v, "4");
}
END_TEST

/* Medium: a run that fails before doing anything leaves no directory behind. */
START_TEST(failed_run_leaves_no_directory)
{
    char out[8192], dir[512];
    snprintf(dir, sizeof dir, "%s", test_tmp_path("norun/deeper"));
    ck_assert_int_eq(test_ddpm(out, sizeof out,
                               "train --config experiments/configs/smoke/base.cfg --data /nonexistent-data "
                               "--out %s",
                               dir),
                     1);
    ck_assert_msg(access(dir, F_OK) != 0, "%s left behind: %s", dir, out);
}
END_TEST

/* High 4 and 5, medium NaN / float samples: errors, not crashes or silent wrong answers. */
START_TEST(bad_inputs_are_refused_cleanly)
{
    char out[8192];
    const char *ck = test_tmp_path("bi_ck.h5"), *in = test_tmp_path("bi_in.h5"), *fo = test_tmp_path("bi_out.h5");
    make_ckpt(ck);
    /* x0 with 3 channels for a 1-channel model: one error line, exit 1 (was a double free) */
    float *x = calloc(2 * 28 * 28 * 3, sizeof(float));
    int32_t t[2] = { 0, 3 };
    hid_t f = h5io_create(in);
    hsize_t d3[4] = { 2, 28, 28, 3 }, d1[1] = { 2 };
    ck_assert(h5io_write_f32(f, "x0", x, 4, d3) == DDPM_OK && h5io_write_f32(f, "noise", x, 4, d3) == DDPM_OK &&
              h5io_write_i32(f, "t", t, 1, d1) == DDPM_OK);
    h5io_close(f);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "loss --ckpt %s --in %s --out %s", ck, in, fo), 1);
    ck_assert_msg(strstr(out, "dataset x0 must be [B,28,28,1]") && !strstr(out, "free"), "%s", out);
    /* a NaN in the input */
    hsize_t d4[4] = { 2, 28, 28, 1 };
    x[100] = NAN;
    f = h5io_create(in);
    ck_assert(h5io_write_f32(f, "x", x, 4, d4) == DDPM_OK && h5io_write_i32(f, "t", t, 1, d1) == DDPM_OK);
    h5io_close(f);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "forward --ckpt %s --in %s --out %s", ck, in, fo), 1);
    ck_assert_msg(strstr(out, "non-finite") && strstr(out, "dataset x"), "%s", out);
    ck_assert_int_eq(access(fo, F_OK), -1);
    /* keys that define the trained model cannot be overridden against its checkpoint */
    ck_assert_int_eq(test_ddpm(out, sizeof out, "sample --ckpt %s --n 2 --out %s --set model_mean_type=xprev", ck, fo),
                     2);
    ck_assert_msg(strstr(out, "model_mean_type = eps") && strstr(out, "xprev") && strstr(out, ck), "%s", out);
    ck_assert_int_eq(
        test_ddpm(out, sizeof out, "bpd --ckpt %s --n 2 --out %s --set num_diffusion_timesteps=10", ck, fo), 2);
    ck_assert_msg(strstr(out, "num_diffusion_timesteps = 20"), "%s", out);
    ck_assert_int_eq(
        test_ddpm(out, sizeof out, "forward --ckpt %s --in %s --out %s --set attn_resolutions=none", ck, in, fo), 2);
    /* spaces around the key (as config files allow) do not slip a model key through */
    ck_assert_int_eq(
        test_ddpm(out, sizeof out, "sample --ckpt %s --n 2 --out %s --set ' model_mean_type =xprev'", ck, fo), 2);
    ck_assert_msg(strstr(out, "model_mean_type = eps"), "%s", out);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "sample --ckpt %s --n 2 --out %s --set lr=0.1", ck, fo), 2);
    ck_assert_msg(strstr(out, "training key"), "%s", out);
    /* float images given to eval as samples */
    const char *fs = test_tmp_path("bi_float.h5"), *ref = test_tmp_path("bi_ref.h5");
    f = h5io_create(fs);
    for (int i = 0; i < 2 * 28 * 28; i++) x[i] = (i % 7) / 3.5f - 1.0f;
    ck_assert(h5io_write_f32(f, "samples", x, 4, d4) == DDPM_OK);
    h5io_close(f);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "eval --samples %s --stats %s", fs, ref), 1);
    ck_assert_msg(strstr(out, "not uint8"), "%s", out);
    ck_assert_int_eq(access(ref, F_OK), -1);
    free(x);
}
END_TEST

/* Medium: a flipped byte in a checkpoint's weights is an error naming the tensor, not a
 * silently different model. */
START_TEST(flipped_checkpoint_byte_is_detected)
{
    char out[8192];
    const char *ck = test_tmp_path("cs_ck.h5"), *in = test_tmp_path("cs_in.h5"), *fo = test_tmp_path("cs_out.h5");
    make_ckpt(ck);
    float x[28 * 28] = { 0 };
    int32_t t[1] = { 3 };
    hid_t f = h5io_create(in);
    hsize_t d4[4] = { 1, 28, 28, 1 }, d1[1] = { 1 };
    ck_assert(h5io_write_f32(f, "x", x, 4, d4) == DDPM_OK && h5io_write_i32(f, "t", t, 1, d1) == DDPM_OK);
    h5io_close(f);
    ck_assert_msg(test_ddpm(out, sizeof out, "forward --ckpt %s --in %s --out %s", ck, in, fo) == 0, "%s", out);
    f = h5io_open(ck, 0);
    hid_t d = H5Dopen2(f, "model/down_0/block_0/conv1/W", H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    hsize_t off[4];
    unsigned mask;
    haddr_t addr;
    hsize_t size;
    if (H5Dget_chunk_info(d, sp, 0, off, &mask, &addr, &size) < 0) addr = H5Dget_offset(d); /* contiguous */
    ck_assert(addr != HADDR_UNDEF);
    H5Sclose(sp);
    H5Dclose(d);
    h5io_close(f);
    FILE *fp = fopen(ck, "r+b");
    ck_assert(fp && fseek(fp, (long)addr + 37, SEEK_SET) == 0);
    int c = fgetc(fp);
    fseek(fp, (long)addr + 37, SEEK_SET);
    fputc(c ^ 0x10, fp);
    fclose(fp);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "forward --ckpt %s --in %s --out %s", ck, in, fo), 1);
    ck_assert_msg(strstr(out, "model/down_0/block_0/conv1/W") && strstr(out, "checksum does not match"), "%s", out);
}
END_TEST

/* Medium: a driver given an unknown variant stops instead of rewriting the table with every
 * row "not run here". */
START_TEST(driver_refuses_unknown_variant)
{
    char out[8192], cmd[2048];
    const char *bin = getenv("DDPM_BIN");
    snprintf(cmd, sizeof cmd, "DDPM_RESULTS_DIR=%s %s/exp_table2 --tier smoke --only eps-fixedlarge-mze",
             test_tmp_path("drv_results"), bin ? bin : "bin");
    ck_assert_int_eq(test_run_capture(cmd, out, sizeof out), 2);
    ck_assert_msg(strstr(out, "eps-fixedlarge-mze") && strstr(out, "not a variant name"), "%s", out);
    ck_assert_int_eq(access(test_tmp_path("drv_results"), F_OK), -1);
}
END_TEST

/* The released-model commands follow the same rules. */
START_TEST(released_commands_protect_outputs)
{
    char out[8192];
    const char *ck = test_tmp_path("rc_ck.h5"), *copy = test_tmp_path("rc_copy.safetensors");
    ck_assert_msg(test_ddpm(out, sizeof out,
                            "convert --from tests/data/released/pesser_zip.ckpt --config "
                            "tests/data/released/model.cfg --out %s",
                            ck) == 0,
                  "%s", out);
    hid_t f = h5io_open(ck, 1);
    ck_assert(h5io_attr_i64(f, ".", "step", 500) == DDPM_OK);
    h5io_close(f);
    size_t n;
    unsigned char *orig = slurp(ck, &n);
    ck_assert_int_eq(test_ddpm(out, sizeof out,
                               "convert --from tests/data/released/pesser_zip.ckpt --config "
                               "tests/data/released/model.cfg --out %s",
                               ck),
                     1);
    ck_assert_msg(strstr(out, "trained for 500 steps"), "%s", out);
    assert_unchanged(ck, orig, n);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "export --ckpt %s --format safetensors --out %s", ck, ck), 1);
    ck_assert_msg(strstr(out, "same file as --ckpt"), "%s", out);
    assert_unchanged(ck, orig, n);
    free(orig);
    FILE *a = fopen("tests/data/released/diffusers.safetensors", "rb"), *b = fopen(copy, "wb");
    int c;
    while ((c = fgetc(a)) != EOF) fputc(c, b);
    fclose(a);
    fclose(b);
    orig = slurp(copy, &n);
    ck_assert_int_eq(test_ddpm(out, sizeof out, "tensors %s --out %s", copy, copy), 1);
    ck_assert_msg(strstr(out, "FILE itself"), "%s", out);
    assert_unchanged(copy, orig, n);
    free(orig);
}
END_TEST

static Suite *safety_suite(void)
{
    Suite *s = suite_create("safety");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, output_never_replaces_an_input_or_another_kind);
    tcase_add_test(tc, eval_stats_never_overwrites);
    tcase_add_test(tc, second_trainer_is_refused);
    tcase_add_test(tc, log_open_in_a_reader_is_not_damaged);
    tcase_add_test(tc, killed_run_reads_as_interrupted);
    tcase_add_test(tc, failed_run_leaves_no_directory);
    tcase_add_test(tc, bad_inputs_are_refused_cleanly);
    tcase_add_test(tc, flipped_checkpoint_byte_is_detected);
    tcase_add_test(tc, driver_refuses_unknown_variant);
    tcase_add_test(tc, released_commands_protect_outputs);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(safety_suite)
