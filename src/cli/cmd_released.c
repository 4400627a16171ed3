/* ddpm tensors | convert | export — the released DDPM models (README "Using the released
 * models", docs/formats.md). */
#include "cli/cli.h"
#include "cli/commands.h"
#include "core/common.h"
#include "core/fs.h"
#include "io/h5io.h"
#include "io/tensor_file.h"
#include "train/checkpoint.h"
#include "train/released.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "name" is also a group of another tensor's name ("X" beside "X/ExponentialMovingAverage")? */
static int is_group_of_other(const tensor_file *f, const char *name)
{
    size_t L = strlen(name);
    for (int j = 0; j < tensor_file_count(f); j++) {
        const char *o = tensor_file_name(f, j);
        if (!strncmp(o, name, L) && o[L] == '/') return 1;
    }
    return 0;
}

#define TENSOR_AS_GROUP_SUFFIX "/__tensor__"

int cmd_tensors(int argc, char **argv)
{
    static const cli_opt opts[] = { { "out", "T.h5", "write every float32 tensor as a dataset at its name" },
                                    { "force", NULL, "replace an existing --out file of another kind" },
                                    { 0 } };
    cli_args a = { .cmd = "tensors",
                   .no_set = 1,
                   .usage = "FILE [--out T.h5]",
                   .summary = "Lists the tensors of a TF checkpoint (prefix or .index), torch file, safetensors, "
                              ".npy or .npz: name, dtype, shape, bytes (TF: CRC32C status).",
                   .opts = opts };
    /* FILE is positional: take it out before the option parser sees it */
    const char *file = NULL;
    char *av[64];
    int ac = 0;
    for (int i = 0; i < argc && ac < 63; i++) {
        if (i > 0 && argv[i][0] != '-' && !file && !(i > 0 && !strcmp(argv[i - 1], "--out"))) {
            file = argv[i];
            continue;
        }
        av[ac++] = argv[i];
    }
    av[ac] = NULL;
    int rc = cli_parse(&a, ac, av);
    if (rc) return rc < 0 ? 0 : rc;
    if (!file) {
        fprintf(stderr, "ddpm tensors: FILE is required\n");
        cli_usage(&a, stderr);
        return 2;
    }
    const char *out = cli_get(&a, "out");
    if (out && fs_same_file(out, file)) {
        fprintf(stderr, "ddpm tensors: --out %s is FILE itself; refusing to overwrite an input\n", out);
        return 1;
    }
    if ((rc = cli_check_output(&a, "out", FK_TENSORS))) return rc;
    tensor_file *f;
    if (tensor_file_open(&f, file) != DDPM_OK) return cli_fail(&a);
    hid_t h = -1;
    if (out && ((h = h5io_create_tmp(out)) < 0 || h5io_attr_str(h, ".", "kind", "tensors") != DDPM_OK ||
                h5io_attr_str(h, ".", "source", file) != DDPM_OK)) {
        h5io_abandon(h, out);
        tensor_file_close(f);
        return cli_fail(&a);
    }
    int n = tensor_file_count(f), bad = 0, written = 0, skipped = 0, renamed = 0;
    uint64_t total = 0;
    printf("# %s: %s, %d tensors\n", file, tensor_format_name(tensor_file_format(f)), n);
    rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        io_dtype dt;
        int r;
        int64_t sh[IO_MAX_RANK];
        uint64_t nb;
        if (tensor_file_info(f, i, &dt, &r, sh, &nb) != DDPM_OK) {
            printf("%s ? ? ? error: %s\n", tensor_file_name(f, i), ddpm_last_error());
            bad++;
            continue;
        }
        char shape[160] = "[";
        for (int k = 0; k < r; k++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", k ? "," : "", (long long)sh[k]);
        strcat(shape, "]");
        const char *crc = "";
        int ck = tensor_file_check(f, i);
        if (ck == 1) crc = " crc32c ok";
        else if (ck == 0) {
            crc = " crc32c MISMATCH";
            bad++;
        } else if (ck < 0) {
            crc = " crc32c unreadable";
            bad++;
        }
        printf("%s %s %s %llu%s\n", tensor_file_name(f, i), io_dtype_name(dt), shape, (unsigned long long)nb, crc);
        total += nb;
        if (h >= 0) {
            if (dt != IO_F32 || ck == 0 || ck < 0) {
                skipped++;
                continue;
            }
            float *x;
            if (tensor_file_get_f32(f, i, &x) != DDPM_OK) {
                rc = cli_fail(&a);
                break;
            }
            hsize_t d[IO_MAX_RANK];
            for (int k = 0; k < r; k++) d[k] = (hsize_t)sh[k];
            char name[1200];
            snprintf(name, sizeof name, "%s", tensor_file_name(f, i));
            if (is_group_of_other(f, name)) {
                strncat(name, TENSOR_AS_GROUP_SUFFIX, sizeof name - strlen(name) - 1);
                renamed++;
            }
            if (h5io_write_f32(h, name, x, r, d) != DDPM_OK) rc = cli_fail(&a);
            ddpm_free(x);
            written++;
        }
    }
    printf("# %d tensors, %llu bytes%s\n", n, (unsigned long long)total, bad ? ", SOME UNREADABLE OR CORRUPT" : "");
    tensor_file_close(f);
    if (h >= 0) {
        if (rc == 0 && h5io_commit(h, out) != DDPM_OK) rc = cli_fail(&a);
        else if (rc != 0) h5io_abandon(h, out);
        if (rc == 0) {
            printf("# wrote %d float32 tensors to %s (%d of other dtypes skipped)\n", written, out, skipped);
            if (renamed)
                printf("# %d tensors whose name is also a group (X beside X/...) are at X%s\n", renamed,
                       TENSOR_AS_GROUP_SUFFIX);
        }
    }
    if (rc == 0 && bad) {
        fprintf(stderr, "ddpm tensors: %s: %d tensors unreadable or failing their CRC\n", file, bad);
        rc = 1;
    }
    return rc;
}

int cmd_convert(int argc, char **argv)
{
    static const cli_opt opts[] = {
        { "from", "FILE", "released model: TF prefix or .index, torch .ckpt/.bin, .safetensors" },
        { "weights", "ema|raw", "what a single-weight source holds (default ema)" },
        { "config", "FILE", "config to check the file against (and image_size, num_groups, ...)" },
        { "out", "CKPT.h5", "checkpoint to write" },
        { "force", NULL, "replace an existing file (a trained checkpoint, or another kind)" },
        { 0 }
    };
    cli_args a = { .cmd = "convert",
                   .usage = "--from FILE [--weights ema|raw] [--config F] [--set k=v]... --out CKPT.h5",
                   .summary = "Converts a released DDPM model into a project checkpoint (official names, TF layout).",
                   .opts = opts };
    ddpm_config c;
    int rc = cli_start(&a, argc, argv, "from out", &c);
    if (rc) return rc < 0 ? 0 : rc;
    released_report rep;
    const char *from = cli_get(&a, "from"), *out = cli_get(&a, "out");
    if ((rc = cli_check_output(&a, "out", FK_CHECKPOINT))) return rc;
    int64_t trained = 0;
    if (file_kind_of(out) == FK_CHECKPOINT && !cli_flag(&a, "force") &&
        checkpoint_read_step(out, &trained) == DDPM_OK && trained > 0) {
        fprintf(stderr,
                "ddpm convert: --out %s is a checkpoint trained for %lld steps here; refusing to replace it "
                "(give another name, or --force)\n",
                out, (long long)trained);
        return 1;
    }
    if (released_convert(from, cli_get(&a, "weights"), &c, cli_get(&a, "config") != NULL, out, argc, argv, &rep) !=
        DDPM_OK)
        return cli_fail(&a);
    fputs(rep.notes, stdout);
    if (rep.n_extras)
        printf("ignored %d extra tensors: %s%s\n", rep.n_extras, rep.extras, rep.n_extras > 4 ? ", ..." : "");
    printf("wrote %s: %d tensors from %s (%s keys) into model/ and ema/ (%s)\n", out, rep.n_params, from,
           key_style_name(rep.style), rep.both_weights ? "raw and EMA" : "the same weights in both");
    return 0;
}

int cmd_export(int argc, char **argv)
{
    static const cli_opt opts[] = { { "ckpt", "CKPT", "checkpoint" },
                                    { "format", "pesser|diffusers|safetensors", "what to write" },
                                    { "weights", "ema|raw", "which group (default ema)" },
                                    { "out", "F", "output file (diffusers/safetensors: config.json beside it)" },
                                    { "force", NULL, "replace an existing --out that is an HDF5 or PNG file" },
                                    { 0 } };
    cli_args a = { .cmd = "export",
                   .no_set = 1,
                   .usage = "--ckpt CKPT --format pesser|diffusers|safetensors [--weights ema|raw] --out F",
                   .summary =
                       "Writes a checkpoint as a PyTorch state_dict with pesser's or diffusers' keys, or safetensors.",
                   .opts = opts };
    int rc = cli_start(&a, argc, argv, "ckpt format out", NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if ((rc = cli_check_output(&a, "out", FK_OTHER))) return rc;
    const char *w = cli_get(&a, "weights");
    char cj[1200];
    if (released_export(cli_get(&a, "ckpt"), cli_get(&a, "format"), w ? w : "ema", cli_get(&a, "out"), cj, sizeof cj) !=
        DDPM_OK)
        return cli_fail(&a);
    printf("wrote %s (%s weights as %s)%s%s\n", cli_get(&a, "out"), w ? w : "ema", cli_get(&a, "format"),
           cj[0] ? " and " : "", cj);
    return 0;
}
