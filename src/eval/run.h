/* run.h — runs addressed by config hash: train once, reuse everywhere.
 *
 * Runs live in runs/<tier>/<variant>-<hash>/ (the `ddpm train` layout). A finished run is
 * reused; an unfinished one is resumed; a diverged one is reported, not retrained. */
#ifndef DDPM_EVAL_RUN_H
#define DDPM_EVAL_RUN_H

#include "core/config.h"
#include "eval/quality.h"
#include "eval/tier.h"
#include "train/trainer.h"

#include <stdint.h>

typedef struct {
    char variant[64]; /* mean-var-loss */
    ddpm_config cfg;
    char run_dir[512]; /* the run (or, for a given checkpoint, the directory of its evaluation cache) */
    char ckpt[700];    /* the model's checkpoint: run_dir/ckpt.h5, or the one given (--ckpt) */
    train_outcome outcome;
    int64_t steps;
    int64_t diverged_step;
    double train_seconds;       /* wall time recorded in the run log */
    double bpd_test, bpd_train; /* NaN when not evaluated */
    quality_result q;
    double eval_seconds;
} variant_result;

/* Ctrl-C / SIGTERM: during experiment_train the loop checkpoints and stops (rerunning resumes);
 * at any other time the process says that finished evaluation pieces are kept and ends. */
void experiment_catch_signals(void);
/* Trains (or resumes, or reuses) the run of cfg; fills outcome/steps/run_dir. */
int experiment_train(const tier_spec *t, const ddpm_config *cfg, variant_result *r, int argc, char **argv);

#endif
