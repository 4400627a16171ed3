/* mpi_launch.h — the drivers' route onto MPI (issue 16).
 *
 * With DDPM_MPIRUN set to a launcher line (the Makefile sets it from MPIRUN, or from MPI_NP as
 * `mpirun -np N --bind-to none`), the drivers run each training, sampling and likelihood as a
 * subprocess `$DDPM_MPIRUN $DDPM_BIN/ddpm-mpi train|sample|bpd ...` and read its output files;
 * the driver itself stays one serial process (it owns the tables, logs and caches). The
 * subprocesses are the CLI commands, so a driver's numbers equal those commands' (and, for
 * any rank count, the serial commands'). Training under P > 1 ranks needs grad_blocks >= P
 * (--set grad_blocks=16 on the driver), which is part of the run's config hash. */
#ifndef DDPM_EVAL_MPI_LAUNCH_H
#define DDPM_EVAL_MPI_LAUNCH_H

#include "core/config.h"
#include "train/trainer.h"

#include <stdint.h>

/* The launcher line, or NULL when the drivers run everything in-process. */
const char *mpi_launcher(void);
/* `ddpm-mpi train` of cfg into run_dir; res gets the outcome, the checkpointed step and the
 * diverged step from run_dir/status. */
int mpi_launch_train(const ddpm_config *cfg, const char *run_dir, int64_t ckpt_every, train_result *res);
/* `ddpm-mpi sample --ckpt ckpt --n n --seed seed --batch batch`: x (n, H, W, C) in [-1, 1]. */
int mpi_launch_sample(const char *ckpt, int n, uint64_t seed, int batch, float *x, size_t x_floats);
/* `ddpm-mpi bpd` over the first n images of the split: total, prior (n), terms, mse (n, T). */
int mpi_launch_bpd(const char *ckpt, const ddpm_config *cfg, int train_split, int n, int batch, uint64_t seed, int T,
                   double *total, double *prior, double *terms, double *mse);

#endif
