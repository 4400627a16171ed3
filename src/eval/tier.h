/* tier.h — the experiment tiers (smoke, mini, paper): each tier's base config and evaluation
 * sizes, and where its runs and results live. */
#ifndef DDPM_EVAL_TIER_H
#define DDPM_EVAL_TIER_H

#include "core/config.h"

typedef struct {
    char name[16];         /* smoke | mini | paper */
    char base_cfg[256];    /* experiments/configs/<tier>/base.cfg */
    char runs_dir[256];    /* runs/<tier> (DDPM_RUNS_DIR overrides the runs/ root) */
    char results_dir[256]; /* results/<tier> (DDPM_RESULTS_DIR overrides the results/ root) */
    int bpd_n;             /* test images for the NLL (all T terms) */
    int bpd_train_n;       /* train images for the NLL on the training set (Table 1) */
    int samples_n;         /* samples for the grid and FD/IS */
    int ref_n;             /* training images for the FD reference statistics (0: all) */
    int batch;             /* network batch for evaluation */
    int ckpt_every;
} tier_spec;

int tier_get(const char *name, tier_spec *t);
/* The tier's base config with `sets` applied, validated. */
int tier_config(const tier_spec *t, const char *const *sets, int nsets, ddpm_config *cfg);
/* Checks the data (and, for the paper tier, says how to get CIFAR-10) before hours are spent. */
int tier_check_data(const tier_spec *t, const ddpm_config *cfg);

#endif
