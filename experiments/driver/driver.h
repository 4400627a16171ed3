/* driver.h — what every paper-experiment driver shares: argument parsing, the results
 * directory and experiment log, per-variant reports, and the result tables. */
#ifndef DDPM_EXPERIMENTS_DRIVER_H
#define DDPM_EXPERIMENTS_DRIVER_H

#include "core/config.h"
#include "eval/evaluate.h"
#include "eval/run.h"
#include "eval/tier.h"
#include "io/h5io.h"
#include "io/runlog.h"

#include <stdio.h>

/* Shared by the drivers: parses --tier/--only/--set, sets up results dir and log. */
typedef struct {
    tier_spec tier;
    const char *only[16];
    int nonly;
    const char *sets[32];
    int nsets;
    int train_only;
    char out_dir[512];      /* results/<tier>/<experiment>, or <experiment>-custom-<hash> with --only/--set */
    char custom[512];       /* "--only V --set k=v" when the run is a custom selection, else "" */
} driver_args;
/* Returns 0 ok, 2 usage error (printed), -1 when --help was printed. */
int driver_parse(driver_args *a, const char *experiment, const char *summary, int argc, char **argv);
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
void driver_metric_names(const variant_result *res, const int *done, int n, const char **fd_name,
                         const char **is_name, const char **extractor);

/* Opens the tier's L_simple model (eps, fixedlarge, mse), training it first if needed (the
 * run Table 2 and Table 1 share). Used by the figure drivers. */
int driver_open_lsimple(driver_args *a, int argc, char **argv, variant_result *r, ddpm_config *cfg);

#endif
