/* ddpm — the command-line tool of the harness (DESIGN.md contract 4). */
#include "cli/commands.h"
#include "core/common.h"
#include "dist/dist.h"
#include "eval/quality.h"
#include "io/h5io.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command;

static const command COMMANDS[] = {
    { "config", cmd_config, "print the effective config and its hash" },
    { "init", cmd_init, "write a freshly initialised model checkpoint" },
    { "train", cmd_train, "train (or resume) a run in a directory" },
    { "sample", cmd_sample, "draw samples from a checkpoint (HDF5 + PNG grid)" },
    { "bpd", cmd_bpd, "negative log-likelihood in bits/dim with all T terms" },
    { "forward", cmd_forward, "network output for given x and t" },
    { "loss", cmd_loss, "per-example training loss and parameter gradients" },
    { "stats", cmd_stats, "reference feature statistics of a data set" },
    { "eval", cmd_eval, "sample-quality metrics (FD/IS) of samples against statistics" },
    { "inception", cmd_inception, "FID Inception features (pool3, logits) of images" },
    { "fid", cmd_fid, "Frechet distance between two feature sets or statistics" },
    { "bench", cmd_bench, "U-Net training and forward throughput" },
    { "tensors", cmd_tensors, "list (and dump to HDF5) the tensors of a TF/torch/safetensors/npz file" },
    { "convert", cmd_convert, "a released DDPM model (TF, pesser, diffusers) as a checkpoint" },
    { "export", cmd_export, "a checkpoint as pesser/diffusers torch state_dict or safetensors" },
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ddpm COMMAND [options]   (ddpm COMMAND --help for its options; ddpm --version)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(out, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(out, "\nenvironment:\n"
                 "  OMP_NUM_THREADS          threads (results are bit-identical for any count)\n"
                 "  DDPM_INCEPTION_WEIGHTS   pytorch-fid Inception weights (default " INCEPTION_DEFAULT_PATH ")\n"
                 "  DDPM_RUNS_DIR            root of the drivers' training runs (default runs/)\n"
                 "  DDPM_RESULTS_DIR         root of the drivers' results (default results/)\n"
                 "  DDPM_LOG_FLUSH_SECONDS   how often run logs are flushed (default 5)\n"
                 "  DDPM_QUIET               set: no progress lines\n"
                 "  HDF5_USE_FILE_LOCKING    FALSE in a reader's environment to read a file a job has open\n");
}

/* Under MPI an error (status 1) on any rank ends the whole job at once (dist_abort), so no
 * rank waits forever in a collective; the outcomes every rank reaches together (finished,
 * interrupted 130, diverged 3, usage 2) end normally. */
static int finish(int rc)
{
    if (dist_size() > 1 && rc != 0 && rc != 2 && rc != 3 && rc != 130) {
        fflush(stdout);
        fflush(stderr);
        dist_abort(rc);
    }
    dist_finalize();
    return rc;
}

int main(int argc, char **argv)
{
    h5io_init();
    if (dist_init(&argc, &argv) != DDPM_OK) {
        fprintf(stderr, "ddpm: %s\n", ddpm_last_error());
        return 2;
    }
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return finish(argc < 2 ? 2 : 0);
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("ddpm %s (built with %s, flags %s; HDF5 %d.%d.%d)\n", DDPM_GIT_REV, __VERSION__, DDPM_CFLAGS,
               H5_VERS_MAJOR, H5_VERS_MINOR, H5_VERS_RELEASE);
        return finish(0);
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return finish(COMMANDS[i].fn(argc - 1, argv + 1));
    fprintf(stderr, "ddpm: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return finish(2);
}
