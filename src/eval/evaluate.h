/* evaluate.h — a trained run's evaluation at a tier's settings, cached in the run directory
 * (eval.h5, keyed by the tier's evaluation settings), so Table 1 costs nothing after Table 2. */
#ifndef DDPM_EVAL_EVALUATE_H
#define DDPM_EVAL_EVALUATE_H

#include "eval/run.h"
#include "eval/tier.h"

/* What an evaluation computes: the counts, the batch, and where the FD reference comes from. */
typedef struct {
    char tier[16];       /* the tier's name (cache key, captions) */
    int bpd_n;           /* test images for the NLL (all T terms) */
    int bpd_train_n;     /* train images for the NLL on the training set (want_train_bpd) */
    int samples_n;       /* samples for the grid and FD/IS */
    int batch;           /* network batch */
    int ref_n;           /* training images of the reference statistics (0: all) */
    char ref_stats[700]; /* the reference statistics file */
    int ref_given;       /* 1: ref_stats was given (--ref-stats: our HDF5 statistics or an .npz with mu/sigma,
                               e.g. TTUR's fid_stats_cifar10_train.npz), read and never written; 0: a cache of
                               the statistics of the first ref_n training images of the run's data set */
} eval_request;

/* The tier's evaluation: its counts and batch, reference statistics cached at
 * <runs_dir>/reference_stats.h5. */
void eval_request_of_tier(const tier_spec *t, eval_request *q);
/* A short text naming the reference of q (for tables): "training set statistics (N images, cached
 * in F)" or "given statistics F". */
const char *eval_request_ref_text(const eval_request *q, char *buf, size_t n);

/* Evaluates the model r->ckpt (EMA weights) as q asks, cached in r->run_dir/eval.h5 (the cache
 * key holds the counts and the config hash): NLL on the first bpd_n test images (and
 * bpd_train_n train images when want_train_bpd), samples_n samples (grid written to png_path if
 * not NULL), FD/IS. */
int experiment_evaluate(const eval_request *q, variant_result *r, int want_train_bpd, const char *png_path);

#endif
