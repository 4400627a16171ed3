/* config.h — the run configuration: the official code's key names (DESIGN.md contract 1).
 *
 * Files are `key = value` lines with `#` comments; `--set key=value` overrides. Defaults are
 * the official CIFAR-10 values. Unknown keys, bad values, bad enum names and duplicate keys
 * are errors naming the file, line and key (and the allowed values). config_hash() addresses
 * runs: two configs with the same effective values have the same hash. grad_blocks = 1 (the
 * default, one whole-batch backward) is left out of the canonical text, so every config that
 * predates the key keeps its hash; any other value is part of it. */
#ifndef DDPM_CONFIG_H
#define DDPM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_LEVELS 8
#define CONFIG_MAX_ATTN   8

typedef enum { BETA_LINEAR, BETA_QUAD, BETA_CONST, BETA_JSD, BETA_WARMUP10, BETA_WARMUP50 } beta_schedule_t;
typedef enum { MEAN_XPREV, MEAN_XSTART, MEAN_EPS } model_mean_type_t;
typedef enum { VAR_LEARNED, VAR_FIXEDSMALL, VAR_FIXEDLARGE } model_var_type_t;
typedef enum { LOSS_KL, LOSS_MSE } loss_type_t;
/* Data sets: fashion_mnist (28x28x1, the embedded default), cifar10 (32x32x3),
 * png_gray / png_rgb (a folder of PNG files under data_dir). */
typedef enum { DATASET_CIFAR10, DATASET_FASHION_MNIST, DATASET_PNG_GRAY, DATASET_PNG_RGB } dataset_t;

typedef struct {
    dataset_t dataset;
    char data_dir[512]; /* "" = the data set's standard location */
    int image_size;
    int ch;
    int ch_mult[CONFIG_MAX_LEVELS];
    int num_levels; /* length of ch_mult */
    int num_res_blocks;
    int attn_resolutions[CONFIG_MAX_ATTN];
    int num_attn;
    double dropout;
    int resamp_with_conv;
    int num_diffusion_timesteps;
    beta_schedule_t beta_schedule;
    double beta_start, beta_end;
    model_mean_type_t model_mean_type;
    model_var_type_t model_var_type;
    loss_type_t loss_type;
    int batch_size;
    double lr;
    int warmup;
    double grad_clip;
    double ema_decay;
    int randflip;
    int64_t train_steps;
    uint64_t seed;
    int num_groups;
    int grad_blocks; /* fixed example blocks per batch (the reproducible reduction's unit) */
} ddpm_config;

void config_defaults(ddpm_config *c);
/* Reads a config file over *c (call config_defaults first). */
int config_load_file(ddpm_config *c, const char *path);
/* Parses a whole text (what a file holds); `origin` names it in errors. */
int config_load_text(ddpm_config *c, const char *text, const char *origin);
/* One "key=value" override (the --set option). */
int config_set(ddpm_config *c, const char *assignment);
/* Sets key to value; `origin` (e.g. "cfg.txt:12") prefixes errors. */
int config_set_kv(ddpm_config *c, const char *key, const char *value, const char *origin);
/* The one validator of the model keys: each model key's range (the parser's, also for a config
 * filled in code), then cross-key checks (mse with learned variance, sizes the U-Net cannot
 * halve, channels vs num_groups, ...). One line naming the key on error. */
int config_validate(const ddpm_config *c);
/* The part of config_validate the U-Net needs (unet_create): the model keys' ranges and the
 * network's shape (halving, channels vs num_groups, attention levels, even ch), not what only
 * training or sampling needs (losses, lr, the data set's image size, grad_blocks). */
int config_validate_network(const ddpm_config *c);

/* Canonical text: every key in a fixed order, one `key = value` line each. Returns the
 * length written (snprintf semantics). */
int config_dump(const ddpm_config *c, char *buf, size_t n);
/* FNV-1a 64 of the canonical text with every double in %.17g form (the form of the first
 * releases, so run addresses never move), as 16 hex digits in hex[17]. */
uint64_t config_hash(const ddpm_config *c, char hex[17]);
/* The run's identity: config_hash with train_steps and data_dir left out (a run extended to more
 * steps, or reading its data from another folder, is the same run). The trainer compares it to
 * resume a run directory; the drivers name run directories runs/<tier>/<variant>-<first 8 hex>. */
uint64_t config_run_hash(const ddpm_config *c, char hex[17]);

/* Calls fn(key, value_text) for every key in canonical order (for HDF5 attributes). */
int config_each(const ddpm_config *c, int (*fn)(const char *key, const char *value, void *user), void *user);

/* What a key means for a checkpoint: MODEL keys define the trained network (architecture,
 * diffusion, parameterisation, objective) and may not be overridden against a checkpoint;
 * DATA keys (data_dir) say where data lives; TRAINING keys steer training only. */
typedef enum { CONFIG_KEY_UNKNOWN, CONFIG_KEY_MODEL, CONFIG_KEY_DATA, CONFIG_KEY_TRAINING } config_key_kind;
config_key_kind config_key_kind_of(const char *key);
/* The canonical value text of one key (as config_dump prints it). */
int config_value_text(const ddpm_config *c, const char *key, char *buf, size_t n);

/* Derived values. */
int config_in_channels(const ddpm_config *c);
int config_out_channels(const ddpm_config *c);                              /* doubled when model_var_type = learned */
const char *config_data_dir(const ddpm_config *c);                          /* data_dir or the data set's default */
const char *config_variant_name(const ddpm_config *c, char *buf, size_t n); /* "eps-fixedlarge-mse" */

const char *beta_schedule_name(beta_schedule_t v);
const char *model_mean_type_name(model_mean_type_t v);
const char *model_var_type_name(model_var_type_t v);
const char *loss_type_name(loss_type_t v);
const char *dataset_name(dataset_t v);

#endif
