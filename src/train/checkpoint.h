/* checkpoint.h — self-describing HDF5 checkpoints (DESIGN.md contract 2).
 *
 * Layout: every parameter as a float32 dataset at its official name in TF shape
 * (model/down_0/block_0/conv1/W ...); the EMA weights under ema/ with the same names
 * (ema/model/...); Adam moments under optimizer/m/ and optimizer/v/ (absent in `ddpm init`
 * checkpoints); root attributes: the whole config (one string attribute per key, config_hash,
 * config_text), step, adam_t, format; a provenance group. Parameters are read by name, so a
 * value edited by another tool (h5py) is what the next command uses. Writes are atomic:
 * PATH.tmp is written, fsynced and renamed over PATH. */
#ifndef DDPM_CHECKPOINT_H
#define DDPM_CHECKPOINT_H

#include "core/config.h"
#include "model/unet.h"
#include "train/optim.h"

#include <stdint.h>

#define CHECKPOINT_FORMAT "ddpm-ckpt-1"

/* params/ema: [unet_num_params] in the unet's layout. ema and opt may be NULL. */
int checkpoint_save(const char *path, const ddpm_config *cfg, const unet *m, const float *params, const float *ema,
                    const adam_state *opt, int64_t step, int argc, char **argv);
int checkpoint_read_config(const char *path, ddpm_config *cfg);
int checkpoint_read_step(const char *path, int64_t *step);
/* Reads the weights of group `which` ("model" or "ema") into params. */
int checkpoint_load_weights(const char *path, const unet *m, const char *which, float *params);
/* Everything needed to resume training: params, ema, Adam state (zeros if absent) and step. */
int checkpoint_load_train_state(const char *path, const unet *m, float *params, float *ema, adam_state *opt,
                                int64_t *step);

#endif
