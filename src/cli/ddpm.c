/* ddpm — the command-line tool of the harness (DESIGN.md contract 4). */
#include "cli/commands.h"
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
    fprintf(out, "usage: ddpm COMMAND [options]   (ddpm COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(out, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
}

int main(int argc, char **argv)
{
    h5io_init();
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "ddpm: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
