#include "trainer.h"

#include "core/common.h"
#include "core/fs.h"
#include "core/progress.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "diffusion/diffusion.h"
#include "dist/dist.h"
#include "io/provenance.h"
#include "io/runlog.h"
#include "model/unet.h"
#include "train/checkpoint.h"
#include "train/grad_blocks.h"
#include "train/optim.h"
#include "train/train_dist.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *train_outcome_name(train_outcome o)
{
    return o == TRAIN_FINISHED ? "finished" : o == TRAIN_DIVERGED ? "diverged" : "interrupted";
}

int train_outcome_parse(const char *word, train_outcome *o)
{
    for (int k = TRAIN_FINISHED; k <= TRAIN_DIVERGED; k++)
        if (!strcmp(word, train_outcome_name((train_outcome)k))) {
            *o = (train_outcome)k;
            return DDPM_OK;
        }
    return ddpm_error("'%s' is not a training outcome (finished, interrupted or diverged)", word);
}

void train_opts_default(train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->ckpt_every = 500;
    o->ckpt_seconds = 600;
    o->stop_after = -1;
}

/* Two configs address the same run when they differ at most in train_steps and data_dir. */
static int write_status(const char *dir, const char *word, int64_t step)
{
    char path[1100], text[128];
    fs_join(path, sizeof path, dir, "status");
    /* "running" names the process: after a kill -9 anyone can see it is gone (train_read_status does) */
    if (!strcmp(word, "running"))
        snprintf(text, sizeof text, "%s %lld pid %ld\n", word, (long long)step, (long)getpid());
    else snprintf(text, sizeof text, "%s %lld\n", word, (long long)step);
    return fs_write_text_atomic(path, text);
}

int train_read_status(const char *dir, char *word, size_t n, int64_t *step)
{
    char path[1100], w[64];
    long long s = 0;
    fs_join(path, sizeof path, dir, "status");
    FILE *f = fopen(path, "r");
    if (!f) return ddpm_error("%s: no status file", path);
    int k = fscanf(f, "%63s %lld", w, &s);
    fclose(f);
    if (k != 2) return ddpm_error("%s: unreadable status", path);
    char lock[1100];
    if (!strcmp(w, "running") && fs_join(lock, sizeof lock, dir, "lock") == DDPM_OK && fs_lock_holder(lock) == 0)
        snprintf(w, sizeof w, "interrupted"); /* its trainer is gone (killed): the checkpoint resumes it */
    snprintf(word, n, "%s", w);
    *step = s;
    return DDPM_OK;
}

int train_is_finished(const ddpm_config *cfg, const char *dir)
{
    char path[1100];
    fs_join(path, sizeof path, dir, "ckpt.h5");
    if (access(path, F_OK) != 0) return 0;
    ddpm_config have;
    int64_t step;
    if (checkpoint_read_config(path, &have) != DDPM_OK) return 0;
    if (checkpoint_read_step(path, &step) != DDPM_OK) return 0;
    return config_run_hash(&have, NULL) == config_run_hash(cfg, NULL) && step >= cfg->train_steps;
}

/* The directory exists (created if needed) and a file can be created in it. */
static int ensure_dir(const char *dir, int *created)
{
    DDPM_TRY(fs_mkdir_p(dir, created));
    char probe[1100];
    DDPM_TRY(fs_join(probe, sizeof probe, dir, ".write-test"));
    FILE *f = fopen(probe, "w");
    if (!f) return ddpm_error("%s: directory is not writable (%s)", dir, strerror(errno));
    fclose(f);
    unlink(probe);
    return DDPM_OK;
}

typedef struct {
    unet *net;
    diffusion diff;
    dataset ds;
    batch_sampler sampler;
    adam_state opt;
    float *ema;
    float *x0, *xt, *noise, *out, *dout; /* (B,H,W,C) / (B,H,W,Cout) */
    int32_t *t;
    double *loss;
    int blocked; /* grad_blocks > 1 or several ranks: the fixed-block step (grad_blocks.h) */
    grad_blocks gb;
} train_state;

static void state_free(train_state *s)
{
    unet_free(s->net);
    diffusion_free(&s->diff);
    batch_sampler_free(&s->sampler);
    dataset_free(&s->ds);
    adam_free(&s->opt);
    ddpm_free(s->ema);
    ddpm_free(s->x0);
    ddpm_free(s->xt);
    ddpm_free(s->noise);
    ddpm_free(s->out);
    ddpm_free(s->dout);
    ddpm_free(s->t);
    ddpm_free(s->loss);
    grad_blocks_free(&s->gb);
}

/* One optimisation step at `step`: returns the mean loss and the pre-clip gradient norm. */
static int train_step(train_state *s, const ddpm_config *cfg, int64_t step, double *mean_loss, double *gnorm)
{
    const int B = cfg->batch_size, H = cfg->image_size, W = cfg->image_size;
    const int C = config_in_channels(cfg);
    const size_t D = (size_t)H * W * C;
    const uint32_t st = (uint32_t)step;
    DDPM_TRY(batch_sampler_get(&s->sampler, step, B, cfg->randflip, s->x0, NULL));
    for (int b = 0; b < B; b++) {
        s->t[b] = (int32_t)rng_below(rng_stream_make(cfg->seed, RNG_TIMESTEP, st, (uint32_t)b), 0,
                                     (uint32_t)cfg->num_diffusion_timesteps);
        rng_normal_fill(rng_stream_make(cfg->seed, RNG_NOISE, st, (uint32_t)b), s->noise + (size_t)b * D, D);
    }
    q_sample(s->xt, s->x0, s->t, s->noise, &s->diff, B, D);
    if (s->blocked) {
        DDPM_TRY(grad_blocks_step(&s->gb, s->net, &s->diff, cfg, st, s->x0, s->xt, s->noise, s->t, s->out, s->dout,
                                  s->loss));
    } else {
        DDPM_TRY(unet_forward(s->out, s->net, s->xt, s->t, 1, cfg->seed, st, B));
        /* training_losses adds its gradient: start from zero */
        memset(s->dout, 0, (size_t)B * H * W * config_out_channels(cfg) * sizeof(float));
        DDPM_TRY(training_losses(s->loss, s->dout, s->out, s->x0, s->xt, s->noise, s->t, &s->diff, B, H, W, C));
        unet_zero_grads(s->net);
        DDPM_TRY(unet_backward(s->net, s->dout));
    }
    double m = 0;
    for (int b = 0; b < B; b++) m += s->loss[b];
    *mean_loss = m / B;
    size_t n = unet_num_params(s->net);
    float *grads = s->blocked ? s->gb.grad : unet_grads(s->net);
    *gnorm = clip_grad_global_norm(grads, n, cfg->grad_clip);
    if (!isfinite(*mean_loss) || !isfinite(*gnorm)) return DDPM_OK; /* caller stops before updating */
    adam_update(&s->opt, unet_params(s->net), grads, warmed_up_lr(cfg->lr, cfg->warmup, step));
    ema_update(s->ema, unet_params(s->net), n, cfg->ema_decay);
    return DDPM_OK;
}

static const char *ranks_note(const ddpm_config *cfg)
{
    static char note[96];
    note[0] = 0;
    if (dist_size() > 1 || cfg->grad_blocks > 1)
        snprintf(note, sizeof note, ", %d gradient blocks on %d rank%s", cfg->grad_blocks, dist_size(),
                 dist_size() > 1 ? "s" : "");
    return note;
}

static int train_run_locked(const ddpm_config *cfg, const char *dir, const train_opts *o, train_result *res)
{
    memset(res, 0, sizeof *res);
    res->diverged_step = -1;
    double t0 = ddpm_now();
    /* Under MPI only rank 0 touches DIR; the others follow its decisions (train_dist.h). */
    const int root = dist_rank() == 0;
    DDPM_TRY(config_validate(cfg));
    char ckpt[1100], logp[1100], cfgp[1100];
    fs_join(ckpt, sizeof ckpt, dir, "ckpt.h5");
    fs_join(logp, sizeof logp, dir, "log.h5");
    fs_join(cfgp, sizeof cfgp, dir, "config.txt");

    int resume = 0;
    if (root && access(ckpt, F_OK) == 0) {
        ddpm_config have;
        if (checkpoint_read_config(ckpt, &have) != DDPM_OK)
            return ddpm_error_prefix("%s holds an unreadable checkpoint; move it away to start afresh", dir);
        char h1[17], h2[17];
        if (config_run_hash(&have, h1) != config_run_hash(cfg, h2)) {
            return ddpm_error("%s holds a run of another config (hash %s, this one %s); use another --out "
                              "directory or the same config",
                              dir, h1, h2);
        }
        resume = 1;
    }
    DDPM_TRY(train_dist_agree_int(&resume));

    train_state s;
    memset(&s, 0, sizeof s);
    const int B = cfg->batch_size, H = cfg->image_size, W = cfg->image_size;
    const int C = config_in_channels(cfg), Cout = config_out_channels(cfg);
    const size_t D = (size_t)H * W * C;
    int rc = DDPM_ERR;
    runlog L;
    memset(&L, 0, sizeof L);
    L.file = H5I_INVALID_HID;

    s.blocked = cfg->grad_blocks > 1 || dist_size() > 1;
    if (unet_create(&s.net, cfg, s.blocked ? grad_blocks_block_size(cfg) : B) != DDPM_OK) goto done;
    if (diffusion_init(&s.diff, cfg) != DDPM_OK) goto done;
    if (dataset_load(&s.ds, cfg, 1) != DDPM_OK) goto done;
    if (batch_sampler_init(&s.sampler, &s.ds, cfg->seed) != DDPM_OK) goto done;
    size_t n = unet_num_params(s.net);
    if (adam_init(&s.opt, n) != DDPM_OK) goto done;
    s.ema = ddpm_alloc(n * sizeof(float));
    s.x0 = ddpm_alloc((size_t)B * D * sizeof(float));
    s.xt = ddpm_alloc((size_t)B * D * sizeof(float));
    s.noise = ddpm_alloc((size_t)B * D * sizeof(float));
    s.out = ddpm_alloc((size_t)B * H * W * Cout * sizeof(float));
    s.dout = ddpm_alloc((size_t)B * H * W * Cout * sizeof(float));
    s.t = ddpm_alloc((size_t)B * sizeof(int32_t));
    s.loss = ddpm_alloc((size_t)B * sizeof(double));
    if (!s.ema || !s.x0 || !s.xt || !s.noise || !s.out || !s.dout || !s.t || !s.loss) goto done;
    if (s.blocked && grad_blocks_init(&s.gb, cfg, n) != DDPM_OK) goto done;

    int64_t step = 0;
    if (resume) {
        if (root && checkpoint_load_train_state(ckpt, s.net, unet_params(s.net), s.ema, &s.opt, &step) != DDPM_OK)
            goto done;
        if (train_dist_bcast_state(s.net, s.ema, &s.opt, &step) != DDPM_OK) goto done;
        if (root) fprintf(stderr, "train: resuming %s from step %lld\n", dir, (long long)step);
        /* An extended run (train_steps raised) records the config it now runs under. */
        char text[8192];
        config_dump(cfg, text, sizeof text);
        if (root && fs_write_text_atomic(cfgp, text) != DDPM_OK) goto done;
    } else {
        unet_init_params(s.net, cfg->seed);
        memcpy(s.ema, unet_params(s.net), n * sizeof(float));
        char text[8192];
        config_dump(cfg, text, sizeof text);
        if (root && fs_write_text_atomic(cfgp, text) != DDPM_OK) goto done;
    }
    res->resumed_from = (int)step;
    if (!root) goto follow;
    /* A log without a checkpoint belongs to a run that died before its first checkpoint. */
    if (runlog_open(&L, logp, cfg, o->argc, o->argv, resume && access(logp, F_OK) == 0) != DDPM_OK) goto done;
    if (resume) {
        /* A killed process may have logged steps past its last checkpoint; they are redone. */
        long long dropped = 0;
        if (runlog_rewind(&L, "step", (double)step, &dropped) != DDPM_OK) goto done;
        if (dropped > 0)
            fprintf(stderr, "train: dropped %lld logged steps after the checkpoint (they are redone)\n", dropped);
    }
    h5io_attr_i64(L.file, ".", "num_params", (int64_t)n);
    if (resume && write_config_attrs(L.file, "config", cfg) != DDPM_OK) goto done;
    if (write_status(dir, "running", step) != DDPM_OK) goto done;
follow:
    if (train_dist_provenance(L.file, L.resume_group[0] ? L.resume_group : "provenance") != DDPM_OK) goto done;

    /* the full config hash, and the run hash whose first 8 digits name the drivers' run
     * directories (runs/<tier>/<variant>-<run hash>: train_steps and data_dir left out) */
    char hex[17], run_hex[17];
    config_hash(cfg, hex);
    config_run_hash(cfg, run_hex);
    if (root)
        fprintf(stderr,
                "train: %s, %zu parameters, %lld steps of batch %d on %s (%d images), config %s (run hash %.8s)%s\n",
                dir, n, (long long)cfg->train_steps, B, dataset_name(cfg->dataset), s.ds.N, hex, run_hex,
                ranks_note(cfg));
    progress pb;
    if (root) progress_begin(&pb, "train", cfg->train_steps, step);
    double last_ckpt = ddpm_now(), window = 0, recent[100];
    int window_n = 0, nrecent = 0;
    train_outcome outcome = TRAIN_FINISHED;
    while (step < cfg->train_steps) {
        int stop_req = 0; /* a signal on any rank stops every rank at the same step */
        if (dist_any_flag(o->stop && *o->stop, &stop_req) != DDPM_OK) goto done;
        if (stop_req || (o->stop_after >= 0 && step >= o->stop_after)) {
            outcome = TRAIN_INTERRUPTED;
            break;
        }
        double ts = ddpm_now(), loss, gnorm;
        if (train_step(&s, cfg, step, &loss, &gnorm) != DDPM_OK) goto done;
        if (!isfinite(loss) || !isfinite(gnorm)) {
            outcome = TRAIN_DIVERGED;
            res->diverged_step = step;
            if (root)
                fprintf(stderr,
                        "\ntrain: loss %g, gradient norm %g at step %lld: diverged; the last good checkpoint "
                        "(step %lld) is kept\n",
                        loss, gnorm, (long long)step, (long long)res->step);
            break;
        }
        double lr = warmed_up_lr(cfg->lr, cfg->warmup, step);
        step++;
        window += loss;
        window_n++;
        recent[nrecent++ % 100] = loss;
        res->final_loss = loss;
        if (root && (runlog_append(&L, "step", (double)step) || runlog_append(&L, "loss", loss) ||
                     runlog_append(&L, "grad_norm", gnorm) || runlog_append(&L, "lr", lr) ||
                     runlog_append(&L, "wall_time", ddpm_now() - t0) ||
                     runlog_append(&L, "images_per_sec", B / (ddpm_now() - ts))))
            goto done;
        if (root && runlog_maybe_flush(&L, 0) != DDPM_OK) goto done;
        int due = 0; /* each rank's clock differs: a checkpoint is due when it is due on any rank */
        if (dist_any_flag(o->ckpt_seconds > 0 && ddpm_now() - last_ckpt > o->ckpt_seconds, &due) != DDPM_OK) goto done;
        due |= o->ckpt_every > 0 && step % o->ckpt_every == 0;
        if (due && step < cfg->train_steps) {
            if (root &&
                checkpoint_save(ckpt, cfg, s.net, unet_params(s.net), s.ema, &s.opt, step, o->argc, o->argv) != DDPM_OK)
                goto ckpt_failed;
            res->step = step;
            last_ckpt = ddpm_now();
            if (root) runlog_maybe_flush(&L, 1);
        }
        if (!root) continue;
        char extra[96];
        snprintf(extra, sizeof extra, "loss %.4f (avg %.4f) |g| %.3f", loss, window / window_n, gnorm);
        progress_update(&pb, step, extra);
        if (window_n >= 100) {
            window = 0;
            window_n = 0;
        }
    }
    res->last_loss_n = nrecent < 100 ? nrecent : 100;
    res->last_loss = 0;
    for (int i = 0; i < res->last_loss_n; i++) res->last_loss += recent[i] / res->last_loss_n;
    if (!root) {
        res->outcome = outcome;
        res->step = step;
        rc = DDPM_OK;
        goto done;
    }
    if (outcome != TRAIN_DIVERGED) {
        if (checkpoint_save(ckpt, cfg, s.net, unet_params(s.net), s.ema, &s.opt, step, o->argc, o->argv) != DDPM_OK)
            goto ckpt_failed;
        res->step = step;
    } else {
        int64_t good = 0;
        if (access(ckpt, F_OK) == 0) checkpoint_read_step(ckpt, &good);
        res->step = good;
    }
    if (outcome == TRAIN_FINISHED) progress_end(&pb, NULL);
    res->outcome = outcome;
    const char *word = train_outcome_name(outcome);
    double total_s = 0;
    if (h5io_attr_exists(L.file, ".", "train_seconds_total"))
        h5io_get_attr_f64(L.file, ".", "train_seconds_total", &total_s);
    h5io_attr_f64(L.file, ".", "train_seconds_total", total_s + (ddpm_now() - t0));
    h5io_attr_str(L.file, ".", "outcome", word);
    h5io_attr_i64(L.file, ".", "outcome_step", outcome == TRAIN_DIVERGED ? res->diverged_step : step);
    if (write_status(dir, word, outcome == TRAIN_DIVERGED ? res->diverged_step : step) != DDPM_OK) goto done;
    rc = DDPM_OK;
    goto done;
ckpt_failed : {
    char why[1024];
    snprintf(why, sizeof why, "%s", ddpm_last_error());
    int64_t kept = -1;
    if (access(ckpt, F_OK) == 0 && checkpoint_read_step(ckpt, &kept) == DDPM_OK)
        write_status(dir, "interrupted", kept); /* best effort: the disk may be full */
    if (kept < 0) ddpm_error("%s; no checkpoint to resume from yet: free space and rerun", why);
    else
        ddpm_error("%s; the checkpoint of step %lld is kept: free space and rerun the same command to resume", why,
                   (long long)kept);
}
done:
    res->seconds = ddpm_now() - t0;
    if (L.file >= 0 && runlog_close(&L) != DDPM_OK) rc = DDPM_ERR;
    state_free(&s);
    return rc;
}

/* One trainer per run directory: DIR/lock is held for the whole run, so a second `ddpm train`
 * (or a driver) into the same directory stops at once naming the first one's PID. A run that
 * fails before writing anything leaves no directory behind. */
int train_run(const ddpm_config *cfg, const char *dir, const train_opts *o, train_result *res)
{
    DDPM_TRY(config_validate(cfg));
    if (dist_rank() != 0) return train_run_locked(cfg, dir, o, res); /* rank 0 owns the directory */
    int created = 0;
    DDPM_TRY(ensure_dir(dir, &created));
    fs_dir_lock lock;
    int rc = fs_lock_dir(&lock, dir, "ddpm train");
    if (rc == DDPM_OK) rc = train_run_locked(cfg, dir, o, res);
    char ckpt[1100];
    if (rc != DDPM_OK && created && fs_join(ckpt, sizeof ckpt, dir, "ckpt.h5") == DDPM_OK && access(ckpt, F_OK) != 0) {
        static const char *const OURS[] = { "config.txt", "status", "log.h5", "ckpt.h5.tmp" };
        char p[1100];
        for (size_t i = 0; i < DDPM_ARRAY_LEN(OURS); i++)
            if (fs_join(p, sizeof p, dir, OURS[i]) == DDPM_OK) unlink(p);
        if (lock.fd >= 0 && fs_join(p, sizeof p, dir, "lock") == DDPM_OK) unlink(p);
        fs_unlock_dir(&lock);
        rmdir(dir); /* only succeeds when nothing else is in it */
        return rc;
    }
    fs_unlock_dir(&lock);
    return rc;
}
