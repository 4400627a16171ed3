/* evaluate.h — a trained run's evaluation at a tier's settings, cached in the run directory
 * (eval.h5, keyed by the tier's evaluation settings), so Table 1 costs nothing after Table 2. */
#ifndef DDPM_EVAL_EVALUATE_H
#define DDPM_EVAL_EVALUATE_H

#include "eval/run.h"
#include "eval/tier.h"

/* Evaluates a trained run's EMA model at the tier's settings (cached in run_dir/eval.h5):
 * NLL on the first bpd_n test images (and bpd_train_n train images when want_train_bpd),
 * samples_n samples (grid written to png_path if not NULL), FD/IS. */
int experiment_evaluate(const tier_spec *t, variant_result *r, int want_train_bpd, const char *png_path);

#endif
