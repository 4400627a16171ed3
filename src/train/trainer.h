/* trainer.h — the one training loop every driver uses (`ddpm train`).
 *
 * A run lives in a directory: ckpt.h5 (latest checkpoint, atomic), log.h5 (the run log,
 * docs/hdf5-schema.md), config.txt (canonical config), status (one word: running, finished,
 * interrupted or diverged, and the step). A directory holding a checkpoint of the same config
 * (train_steps aside, so a run can be extended) is resumed; another config is an error.
 * The batch, timesteps, noise and dropout of step s depend only on (seed, s), so an interrupted
 * and resumed run is bit-identical to an uninterrupted one.
 *
 * grad_blocks > 1 cuts every step into fixed example blocks (train/grad_blocks.h). Under MPI
 * (bin/ddpm-mpi) train_run is collective: rank 0 alone touches DIR, the ranks split the blocks,
 * and every rank-dependent decision (resume, stop signal, time-based checkpoint) is agreed
 * (train/train_dist.h); the run is the same bits as the serial one for any rank count. */
#ifndef DDPM_TRAINER_H
#define DDPM_TRAINER_H

#include "core/config.h"

#include <signal.h>
#include <stdint.h>

typedef struct {
    int64_t ckpt_every;          /* steps between checkpoints (0: only time-based and at the end) */
    double ckpt_seconds;         /* also checkpoint when this much wall time passed */
    int64_t stop_after;          /* stop (with a checkpoint) once this step count is reached; <0 none */
    volatile sig_atomic_t *stop; /* set asynchronously (SIGINT/SIGTERM) to stop cleanly; may be NULL */
    int argc;
    char **argv;
} train_opts;

typedef enum { TRAIN_FINISHED = 0, TRAIN_INTERRUPTED = 1, TRAIN_DIVERGED = 2 } train_outcome;

typedef struct {
    train_outcome outcome;
    int64_t step;          /* steps completed (checkpointed) */
    int64_t diverged_step; /* the step whose loss or gradient was not finite, or -1 */
    double last_loss;      /* mean loss of the last last_loss_n (<= 100) steps of this invocation */
    int last_loss_n;
    double final_loss; /* the loss of the last step */
    double seconds;    /* wall time of this invocation */
    int resumed_from;  /* step resumed from (0 for a fresh run) */
} train_result;

/* The one word of each outcome ("finished", "interrupted", "diverged"): status files, logs, tables. */
const char *train_outcome_name(train_outcome o);
/* The outcome a word names; DDPM_ERR for any other word. */
int train_outcome_parse(const char *word, train_outcome *o);

void train_opts_default(train_opts *o);
int train_run(const ddpm_config *cfg, const char *dir, const train_opts *o, train_result *res);

/* Whether DIR holds a finished run of this config (ckpt step == train_steps, same hash). */
int train_is_finished(const ddpm_config *cfg, const char *dir);
/* Reads DIR/status ("finished 2000", "diverged 731", "running 120 pid 4242", ...); a "running"
 * run whose trainer no longer holds DIR/lock (killed) reads as "interrupted". DDPM_ERR if absent. */
int train_read_status(const char *dir, char *word, size_t n, int64_t *step);

#endif
