/* train_dist.h — the collective decisions of a training run on several ranks (issue 16).
 *
 * Rank 0 alone touches the run directory (status, config.txt, log.h5, ckpt.h5); every decision
 * that could differ between ranks is made here collectively so no rank waits alone in a
 * collective: whether to resume (rank 0 looks, all agree), the resumed state (read by rank 0,
 * broadcast), a stop request (SIGINT/SIGTERM on any rank) and a time-based checkpoint (OR of
 * every rank's clock). In the serial build these are local copies. */
#ifndef DDPM_TRAIN_DIST_H
#define DDPM_TRAIN_DIST_H

#include "io/h5io.h"
#include "model/unet.h"
#include "train/optim.h"

#include <stdint.h>

/* Rank 0's value of *v on every rank. */
int train_dist_agree_int(int *v);
/* Parameters, EMA, Adam moments and counter, and the step, from rank 0 to every rank. */
int train_dist_bcast_state(unet *net, float *ema, adam_state *opt, int64_t *step);
/* Writes provenance attributes nranks and hosts (the distinct host names, rank order) into
 * group `group` of file loc on rank 0; collective. */
int train_dist_provenance(hid_t loc, const char *group);

#endif
