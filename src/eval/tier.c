#include "eval/tier.h"

#include "core/common.h"
#include "data/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tier_get(const char *name, tier_spec *t)
{
    memset(t, 0, sizeof *t);
    const char *runs = getenv("DDPM_RUNS_DIR"), *results = getenv("DDPM_RESULTS_DIR");
    if (!runs) runs = "runs";
    if (!results) results = "results";
    if (!strcmp(name, "smoke")) {
        t->bpd_n = 8;
        t->bpd_train_n = 8;
        t->samples_n = 16;
        t->ref_n = 2000;
        t->batch = 16;
        t->ckpt_every = 0;
    } else if (!strcmp(name, "mini")) {
        t->bpd_n = 128;
        t->bpd_train_n = 128;
        t->samples_n = 256;
        t->ref_n = 0;
        t->batch = 128; /* the mini U-Net's forward is flat from batch 128 up (docs/performance.md) */
        t->ckpt_every = 250;
    } else if (!strcmp(name, "paper")) {
        t->bpd_n = 10000;
        t->bpd_train_n = 10000;
        t->samples_n = 50000;
        t->ref_n = 0;
        /* measured (docs/performance.md, Evaluation batch): the paper U-Net's forward is flat from
         * batch 32 to 128 here (24-26 images/s), 64 as fast as 128 at half the memory */
        t->batch = 64;
        t->ckpt_every = 5000;
    } else {
        return ddpm_error("unknown tier '%s' (use smoke, mini or paper)", name);
    }
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->base_cfg, sizeof t->base_cfg, "experiments/configs/%s/base.cfg", name);
    snprintf(t->runs_dir, sizeof t->runs_dir, "%s/%s", runs, name);
    snprintf(t->results_dir, sizeof t->results_dir, "%s/%s", results, name);
    if (access(t->base_cfg, R_OK) != 0)
        return ddpm_error("%s: tier config not found (run the drivers from the repository root)", t->base_cfg);
    return DDPM_OK;
}

int tier_config(const tier_spec *t, const char *const *sets, int nsets, ddpm_config *cfg)
{
    config_defaults(cfg);
    DDPM_TRY(config_load_file(cfg, t->base_cfg));
    for (int i = 0; i < nsets; i++) DDPM_TRY(config_set(cfg, sets[i]));
    return config_validate(cfg);
}

int tier_check_data(const tier_spec *t, const ddpm_config *cfg)
{
    (void)t;
    dataset ds;
    if (dataset_load_n(&ds, cfg, 0, 1) != DDPM_OK) return DDPM_ERR;
    dataset_free(&ds);
    return DDPM_OK;
}
