/* driver.h — what every paper-experiment driver shares: argument parsing, the results
 * directory and experiment log, per-variant reports, and the result tables. */
#ifndef DDPM_EXPERIMENTS_DRIVER_H
#define DDPM_EXPERIMENTS_DRIVER_H

#include "cli/cli.h"
#include "core/config.h"
#include "eval/evaluate.h"
#include "eval/run.h"
#include "eval/tier.h"
#include "io/h5io.h"
#include "io/runlog.h"

#include <stdio.h>

/* Shared by the drivers: parses --tier/--only/--set/--train-only and the evaluation options
 * --ckpt/--samples/--nll-n/--ref-stats (src/cli/cli.h's parser), sets up results dir and log. */
typedef struct {
    tier_spec tier;
    const char *only[16];
    int nonly;
    const char *sets[32];
    int nsets;
    int train_only;
    const char *ckpt;    /* --ckpt FILE: evaluate this model, train nothing (NULL: train the tier's runs) */
    char ckpt_id[9];     /* 8 hex digits of a hash of its bytes: where its evaluation cache and results live */
    const char *row;     /* --row NAME (Table 3: which of the paper's rows the model is) */
    int no_data_check;   /* set by a driver that needs no test images (Table 3): skip tier_check_data */
    eval_request req;    /* the evaluation's counts and FD reference (the tier's, or as --samples etc. ask) */
    double measured_ips; /* images/s of the last driver_eval_cost measurement (NaN before) */
    char out_dir[512];   /* results/<tier>/<experiment>, <experiment>-ckpt-<id>, ...-custom-<hash> */
    char custom[512];    /* "--only V --set k=v" when the run is a custom selection, else "" */
    cli_args cli;        /* the parsed command line (for cli_config_of_model) */
} driver_args;
/* Returns 0 ok, 2 usage error (printed), 1 runtime error (printed), -1 when --help was printed. */
int driver_parse(driver_args *a, const char *experiment, const char *summary, int argc, char **argv);

/* With --ckpt: the model's config (the checkpoint's, with --set data_dir=DIR only) and r filled
 * as a finished run whose evaluation cache is <runs>/<tier>/ckpt-<id>/<config hash>-s<samples>-
 * nll<test>-<train>/eval.h5 (never beside the checkpoint); checks the data. */
int driver_ckpt_variant(driver_args *a, variant_result *r, ddpm_config *cfg);
/* What the evaluation of cfg as a->req asks costs, printed before it starts: forwards needed,
 * this machine's images/s measured now with a few timed forwards of the network at the
 * evaluation batch, and the wall time that implies here and per rank under MPI. */
int driver_eval_cost(driver_args *a, const char *experiment, const ddpm_config *cfg, int with_train_nll);
/* The note a table carries when it has fewer samples than the paper's 50k ("" otherwise). */
const char *driver_fd_note(const driver_args *a, const char *fd_name, char *buf, size_t n);
/* Whether variant v is selected by --only (all when none given). */
int driver_selected(const driver_args *a, const char *variant);
/* One line as each variant finishes: its numbers, and how many of the selected variants are
 * done with the time the rest would take at this invocation's rate (t0: the driver's start). */
void driver_report_variant(const char *experiment, const variant_result *r, int ndone, int nselected, double t0);
/* How many of the n variant names are selected by --only (all n without it). */
int driver_count_selected(const driver_args *a, const char *const *variants, int n);
/* Whether v is a mean-var-loss variant name (eps-fixedlarge-mse, ...). */
int variant_name_valid(const char *v);
/* Writes the variant's outcome and numbers as attributes of group variants/<name> in the log,
 * and copies the run's log.h5 to <out_dir>/logs/<variant>.h5. */
int driver_log_variant(hid_t log, const driver_args *a, const variant_result *r);
/* "12.34" or "n/a" */
const char *fmt_num(char *buf, size_t n, const char *fmt, double v);

/* The tier's config with the driver's --set overrides and the given mean/var/loss types. */
int driver_variant_config(const driver_args *a, const char *mean, const char *var, const char *loss, ddpm_config *cfg);
/* Checks the tier's data, creates the results directory and opens the experiment log (none
 * with --train-only, so several trainings can run side by side; L->file is then invalid). */
int driver_begin(driver_args *a, const char *experiment, runlog *L, int argc, char **argv);

/* The evaluation's counts, FD reference, measured images/s and (with --ckpt) the checkpoint, as
 * root attributes of an experiment log. */
int driver_log_request(hid_t log, const driver_args *a);

/* The result tables <out_dir>/table.md and table.csv, written to temporary files and renamed
 * into place by driver_close_tables (atomic: a crash leaves the previous tables). */
typedef struct {
    FILE *md, *csv;
    char md_path[700], csv_path[700];
} driver_tables;
int driver_open_tables(const driver_args *a, driver_tables *t);
int driver_close_tables(driver_tables *t);
/* The quality-metric names of the first evaluated result with an extractor ("FD"/"IS"/"none"
 * when none has one). */
void driver_metric_names(const variant_result *res, const int *done, int n, const char **fd_name, const char **is_name,
                         const char **extractor);

/* Opens the tier's L_simple model (eps, fixedlarge, mse), training it first if needed (the
 * run Table 2 and Table 1 share), or with --ckpt the given model (driver_ckpt_variant). Used by
 * the figure drivers. */
int driver_open_lsimple(driver_args *a, int argc, char **argv, variant_result *r, ddpm_config *cfg);

#endif
