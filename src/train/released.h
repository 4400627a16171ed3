/* released.h — the released DDPM models (TF bundle, pesser's and diffusers' torch files,
 * safetensors) as project checkpoints (DESIGN.md contract 2), and the way back.
 *
 * released_convert: the source's key style is detected (official TF names "model/...",
 * pesser "temb.dense.0.weight", diffusers "time_embedding.linear_1.weight" with either
 * attention spelling), the architecture is inferred from the shapes (ch, ch_mult,
 * num_res_blocks, attention levels, resamp_with_conv, in/out channels) and, when the caller
 * gave a config (check = 1), compared with it key by key: the first difference is an error
 * naming the key, the file's value and the config's. What shapes cannot say comes from the
 * config: image_size (without a config: 256 for a 6-level model as every released 256x256
 * one, else the data set's size), num_groups (32), dropout and the diffusion keys. Every
 * parameter of the U-Net is required with its exact shape (the first missing one is named);
 * other tensors are extras, counted and ignored. TF: model/ <- raw, ema/ <- X/ExponentialMovingAverage;
 * a single-weight source fills both groups and `weights` ("ema" or "raw") says which it is. */
#ifndef DDPM_RELEASED_H
#define DDPM_RELEASED_H

#include "core/config.h"
#include "model/released_names.h"

#include <stddef.h>

#define RELEASED_NOTE_LEN 2048

typedef struct {
    key_style style;
    const char *format; /* tensor_format_name of the source */
    int both_weights;   /* TF: raw and EMA both present */
    int n_params;       /* tensors converted per group */
    int n_extras;
    char extras[512];              /* the first few extra names, comma-separated */
    char notes[RELEASED_NOTE_LEN]; /* inferred values and assumptions, one per line */
} released_report;

/* cfg: in = the caller's config (defaults, --config, --set); out = the effective config.
 * weights: "ema", "raw" or NULL (single-weight sources: ema assumed, noted). */
int released_convert(const char *from, const char *weights, ddpm_config *cfg, int check, const char *out, int argc,
                     char **argv, released_report *rep);

/* Writes group `weights` ("ema"/"raw") of checkpoint ckpt as format "pesser" (torch zip with
 * pesser keys), "diffusers" (torch zip diffusion_pytorch_model.bin + config.json beside it) or
 * "safetensors" (diffusers keys + config.json beside it). *config_json receives the path of the
 * config.json written ("" for pesser). */
int released_export(const char *ckpt, const char *format, const char *weights, const char *out, char *config_json,
                    size_t n);

/* diffusers' UNet2DModel config.json for cfg, into buf (snprintf semantics). */
int released_diffusers_config(const ddpm_config *cfg, char *buf, size_t n);

#endif
