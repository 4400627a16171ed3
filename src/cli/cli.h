/* cli.h — option parsing shared by the `ddpm` subcommands (src/cli/cmd_*.c).
 *
 * Each subcommand is `int cmd_NAME(int argc, char **argv)` (argv[0] = "NAME") returning the
 * process exit status: 0 ok, 1 runtime failure (message printed), 2 usage error. */
#ifndef DDPM_CLI_H
#define DDPM_CLI_H

#include "core/config.h"
#include "io/filekind.h"

#include <stdio.h>

#define CLI_MAX_OPTS 32
#define CLI_MAX_SETS 64

typedef struct {
    const char *name; /* without the leading dashes, e.g. "ckpt" */
    const char *arg;  /* metavar ("FILE") or NULL for a flag */
    const char *help;
} cli_opt;

typedef struct {
    const char *cmd;
    const char *usage;   /* one-line synopsis after "ddpm CMD " */
    const char *summary; /* one sentence */
    const cli_opt *opts; /* terminated by {0} */
    int no_set;          /* 1: the command has no config, --set is refused and not listed */
    int nopts;
    const char *value[CLI_MAX_OPTS]; /* value per opt (flags: "1" when given), NULL if absent */
    const char *sets[CLI_MAX_SETS];  /* every --set k=v in order */
    int nsets;
    const char *prog;                /* the name in messages and usage; NULL: "ddpm CMD" */
    const char *set_help;            /* the --set line of the usage; NULL: the default text */
    const char *const *repeatable;   /* NULL-terminated names of options that may repeat (cli_get_all) */
    const char *multi[CLI_MAX_SETS]; /* every value of the repeatable options, in order */
    int multi_opt[CLI_MAX_SETS];     /* which option each is */
    int nmulti;
} cli_args;

/* Parses argv[1..]. Accepts --name VALUE and --name=VALUE; --set may repeat; --help prints
 * usage. Returns 0 ok, 2 on a usage error (message printed), -1 when --help was printed. */
int cli_parse(cli_args *a, int argc, char **argv);
void cli_usage(const cli_args *a, FILE *out);
const char *cli_get(const cli_args *a, const char *name);
int cli_flag(const cli_args *a, const char *name);
/* Every value of a repeatable option, in order (at most max); returns how many. */
int cli_get_all(const cli_args *a, const char *name, const char **out, int max);
/* Whether the command has option `name` at all. */
int cli_has_opt(const cli_args *a, const char *name);
/* Integer/float option with a default; on a bad value prints an error and returns 2. */
int cli_get_int(const cli_args *a, const char *name, long long dflt, long long *out);
int cli_get_double(const cli_args *a, const char *name, double dflt, double *out);
/* Requires an option; prints "ddpm CMD: --name is required" and returns 2 when absent. */
int cli_require(const cli_args *a, const char *name);

/* The effective config: defaults, then --config FILE (if the command has it), then every
 * --set, then validation. With base != NULL (a checkpoint's config) that is the start instead
 * of the defaults. `--data DIR` is shorthand for data_dir. Prints the error; returns 0 or 1. */
int cli_config(const cli_args *a, const ddpm_config *base, ddpm_config *out);

/* The config of a trained model: base (read from the file `origin`, a checkpoint or a samples
 * file) with --set/--data applied, where only data_dir may change; a model key (ch,
 * model_mean_type, num_diffusion_timesteps, ...) given another value is refused naming the key,
 * the file's value and the value asked for. Prints the error; returns 0, 1 or 2. */
int cli_config_of_model(const cli_args *a, const ddpm_config *base, const char *origin, ddpm_config *out);

/* Checks the output file of option `name` before any work: refused when it is one of the
 * command's input files (same device and inode, whatever the names), when it exists as a file
 * of another kind than `kind` (a checkpoint, a run log, statistics, ...) unless --force is
 * given, or when its directory is missing or not writable. A missing option passes. Prints the
 * error; returns 0 or 1. */
int cli_check_output(const cli_args *a, const char *name, file_kind kind);

/* The opening of most commands: cli_parse, cli_require of each option named in `required`
 * (space-separated, e.g. "ckpt out"; NULL for none) in that order, then, with config != NULL,
 * cli_config(a, NULL, config). Returns 0 to go on, -1 when --help was printed (the command
 * exits 0), else the exit status (2 usage error, 1 config error), the message printed. */
int cli_start(cli_args *a, int argc, char **argv, const char *required, ddpm_config *config);

/* Prints "ddpm CMD: <last library error>" to stderr and returns 1. */
int cli_fail(const cli_args *a);

#endif
