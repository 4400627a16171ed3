/* ddpm config | init | forward | loss */
#include "cli/cli.h"
#include "cli/commands.h"
#include "core/common.h"
#include "diffusion/diffusion.h"
#include "io/h5io.h"
#include "model/unet.h"
#include "train/checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_config(int argc, char **argv)
{
    static const cli_opt opts[] = { { "config", "FILE", "config file (key = value lines)" },
                                    { "ckpt", "CKPT", "start from a checkpoint's config" },
                                    { 0 } };
    cli_args a = { .cmd = "config",
                   .usage = "[--config F | --ckpt C] [--set k=v]...",
                   .summary = "Prints the effective config (canonical text) and its hash.",
                   .opts = opts };
    int rc = cli_parse(&a, argc, argv);
    if (rc) return rc < 0 ? 0 : rc;
    ddpm_config base, c;
    const char *ck = cli_get(&a, "ckpt");
    if (ck && checkpoint_read_config(ck, &base) != DDPM_OK) return cli_fail(&a);
    if ((rc = cli_config(&a, ck ? &base : NULL, &c))) return rc;
    char text[8192], hex[17];
    config_dump(&c, text, sizeof text);
    config_hash(&c, hex);
    fputs(text, stdout);
    printf("# hash = %s\n", hex);
    return 0;
}

int cmd_init(int argc, char **argv)
{
    static const cli_opt opts[] = { { "config", "FILE", "config file" },
                                    { "seed", "N", "initialisation seed (default: the config's seed)" },
                                    { "out", "CKPT", "checkpoint to write" },
                                    { "force", NULL,
                                      "replace an existing file (a trained checkpoint, or another kind)" },
                                    { 0 } };
    cli_args a = { .cmd = "init",
                   .usage = "[--config F] [--set k=v]... [--seed N] --out CKPT",
                   .summary = "Writes a freshly initialised model (model/ and ema/ weights, step 0).",
                   .opts = opts };
    ddpm_config c;
    int rc = cli_start(&a, argc, argv, "out", &c);
    if (rc) return rc < 0 ? 0 : rc;
    long long seed;
    if ((rc = cli_get_int(&a, "seed", (long long)c.seed, &seed))) return rc;
    c.seed = (uint64_t)seed;
    const char *out = cli_get(&a, "out");
    if (cli_check_output(&a, "out", FK_CHECKPOINT)) return 1;
    int64_t trained = 0;
    if (file_kind_of(out) == FK_CHECKPOINT && !cli_flag(&a, "force") &&
        checkpoint_read_step(out, &trained) == DDPM_OK && trained > 0) {
        fprintf(stderr,
                "ddpm init: --out %s is a checkpoint trained for %lld steps; refusing to replace it with a "
                "fresh model (give another name, or --force)\n",
                out, (long long)trained);
        return 1;
    }
    unet *m;
    if (unet_create(&m, &c, 1) != DDPM_OK) return cli_fail(&a);
    unet_init_params(m, c.seed);
    rc = checkpoint_save(out, &c, m, unet_params(m), unet_params(m), NULL, 0, argc, argv);
    size_t n = unet_num_params(m);
    unet_free(m);
    if (rc != DDPM_OK) return cli_fail(&a);
    printf("wrote %s (%zu parameters, seed %llu)\n", out, n, (unsigned long long)c.seed);
    return 0;
}

/* Opens the checkpoint's model with weights from model/ (or ema/ with --ema). */
static int open_for_io(cli_args *a, const char *ckpt, int B, ddpm_config *c, unet **m)
{
    ddpm_config base;
    if (checkpoint_read_config(ckpt, &base) != DDPM_OK) return cli_fail(a);
    int rc = cli_config_of_model(a, &base, ckpt, c);
    if (rc) return rc;
    if (unet_create(m, c, B) != DDPM_OK) return cli_fail(a);
    if (checkpoint_load_weights(ckpt, *m, cli_flag(a, "ema") ? "ema" : "model", unet_params(*m)) != DDPM_OK) {
        unet_free(*m);
        return cli_fail(a);
    }
    return 0;
}

/* Reads x-like input [B,H,W,C] and checks it against the model. */
static int read_images(cli_args *a, hid_t f, const char *in, const char *name, const ddpm_config *c, float **x, int *B)
{
    int rank;
    hsize_t d[H5IO_MAX_RANK];
    *x = NULL;
    if (h5io_read_f32(f, name, x, &rank, d) != DDPM_OK) return cli_fail(a);
    int C = config_in_channels(c);
    if (rank != 4 || (int)d[1] != c->image_size || (int)d[2] != c->image_size || (int)d[3] != C) {
        fprintf(stderr, "ddpm %s: %s: dataset %s must be [B,%d,%d,%d] (NHWC) for this model\n", a->cmd, in, name,
                c->image_size, c->image_size, C);
        ddpm_free(*x);
        *x = NULL; /* the caller frees what it was given */
        return 1;
    }
    *B = (int)d[0];
    size_t n = (size_t)*B * d[1] * d[2] * d[3];
    for (size_t i = 0; i < n; i++)
        if (!isfinite((*x)[i])) {
            fprintf(stderr,
                    "ddpm %s: %s: dataset %s holds a non-finite value (%g at flat index %zu); inputs must be "
                    "finite\n",
                    a->cmd, in, name, (double)(*x)[i], i);
            ddpm_free(*x);
            *x = NULL;
            return 1;
        }
    return 0;
}

static int read_t(cli_args *a, hid_t f, const char *in, int B, int T, int32_t **t)
{
    int rank;
    hsize_t d[H5IO_MAX_RANK];
    if (h5io_read_i32(f, "t", t, &rank, d) != DDPM_OK) return cli_fail(a);
    if (rank != 1 || (int)d[0] != B) {
        fprintf(stderr, "ddpm %s: %s: dataset t must be [%d] int32\n", a->cmd, in, B);
        return 1;
    }
    for (int b = 0; b < B; b++)
        if ((*t)[b] < 0 || (*t)[b] >= T) {
            fprintf(stderr, "ddpm %s: %s: t[%d] = %d is outside 0..%d\n", a->cmd, in, b, (*t)[b], T - 1);
            return 1;
        }
    return 0;
}

int cmd_forward(int argc, char **argv)
{
    static const cli_opt opts[] = { { "ckpt", "CKPT", "checkpoint" },
                                    { "in", "IN.h5", "x [B,H,W,C] float32, t [B] int32" },
                                    { "out", "OUT.h5", "gets y [B,H,W,C_out]" },
                                    { "ema", NULL, "use the ema/ weights (default model/)" },
                                    { "force", NULL, "replace an existing --out file of another kind" },
                                    { 0 } };
    cli_args a = { .cmd = "forward",
                   .usage = "--ckpt CKPT --in IN.h5 --out OUT.h5 [--ema]",
                   .summary = "Network output (dropout off) for the given x and t.",
                   .opts = opts };
    int rc = cli_start(&a, argc, argv, "ckpt in out", NULL);
    if (rc) return rc < 0 ? 0 : rc;
    const char *in = cli_get(&a, "in"), *outp = cli_get(&a, "out");
    ddpm_config base;
    if (checkpoint_read_config(cli_get(&a, "ckpt"), &base) != DDPM_OK) return cli_fail(&a);
    ddpm_config c;
    if ((rc = cli_config_of_model(&a, &base, cli_get(&a, "ckpt"), &c)) ||
        (rc = cli_check_output(&a, "out", FK_FORWARD)))
        return rc;
    hid_t f = h5io_open(in, 0);
    if (f < 0) return cli_fail(&a);
    float *x = NULL;
    int32_t *t = NULL;
    int B = 0;
    if ((rc = read_images(&a, f, in, "x", &c, &x, &B)) || (rc = read_t(&a, f, in, B, c.num_diffusion_timesteps, &t))) {
        h5io_close(f);
        ddpm_free(x);
        ddpm_free(t);
        return rc;
    }
    h5io_close(f);
    unet *m;
    if ((rc = open_for_io(&a, cli_get(&a, "ckpt"), B, &c, &m))) {
        ddpm_free(x);
        ddpm_free(t);
        return rc;
    }
    int Cout = config_out_channels(&c);
    size_t ny = (size_t)B * c.image_size * c.image_size * Cout;
    float *y = ddpm_alloc(ny * sizeof(float));
    rc = y && unet_forward(y, m, x, t, 0, 0, 0, B) == DDPM_OK ? 0 : 1;
    if (!rc) {
        hid_t o = h5io_create_tmp(outp);
        hsize_t d[4] = { (hsize_t)B, (hsize_t)c.image_size, (hsize_t)c.image_size, (hsize_t)Cout };
        rc = o < 0 || h5io_write_f32(o, "y", y, 4, d) != DDPM_OK;
        if (!rc) rc = h5io_commit(o, outp) != DDPM_OK;
        else h5io_abandon(o, outp);
    }
    if (rc) cli_fail(&a);
    else printf("wrote %s: y [%d,%d,%d,%d]\n", outp, B, c.image_size, c.image_size, Cout);
    unet_free(m);
    ddpm_free(x);
    ddpm_free(t);
    ddpm_free(y);
    return rc;
}

int cmd_loss(int argc, char **argv)
{
    static const cli_opt opts[] = { { "ckpt", "CKPT", "checkpoint" },
                                    { "in", "IN.h5", "x0, noise [B,H,W,C] float32, t [B] int32" },
                                    { "out", "OUT.h5", "gets loss [B] and grad/<param> of mean(loss)" },
                                    { "ema", NULL, "use the ema/ weights (default model/)" },
                                    { "force", NULL, "replace an existing --out file of another kind" },
                                    { 0 } };
    cli_args a = { .cmd = "loss",
                   .usage = "--ckpt CKPT --in IN.h5 --out OUT.h5 [--ema] [--set k=v]...",
                   .summary = "Per-example training loss of the checkpoint's mean/var/loss types (x_t from "
                              "the given noise, dropout off) and the gradient of its mean for every parameter.",
                   .opts = opts };
    int rc = cli_start(&a, argc, argv, "ckpt in out", NULL);
    if (rc) return rc < 0 ? 0 : rc;
    const char *in = cli_get(&a, "in"), *outp = cli_get(&a, "out");
    ddpm_config base, c;
    if (checkpoint_read_config(cli_get(&a, "ckpt"), &base) != DDPM_OK) return cli_fail(&a);
    if ((rc = cli_config_of_model(&a, &base, cli_get(&a, "ckpt"), &c)) || (rc = cli_check_output(&a, "out", FK_LOSS)))
        return rc;
    hid_t f = h5io_open(in, 0);
    if (f < 0) return cli_fail(&a);
    float *x0 = NULL, *noise = NULL;
    int32_t *t = NULL;
    int B = 0, B2 = 0;
    if ((rc = read_images(&a, f, in, "x0", &c, &x0, &B)) || (rc = read_images(&a, f, in, "noise", &c, &noise, &B2)) ||
        (rc = read_t(&a, f, in, B, c.num_diffusion_timesteps, &t))) {
        h5io_close(f);
        ddpm_free(x0);
        ddpm_free(noise);
        ddpm_free(t);
        return rc;
    }
    h5io_close(f);
    unet *m = NULL;
    if (B2 != B) {
        fprintf(stderr, "ddpm loss: %s: x0 has %d examples, noise %d\n", in, B, B2);
        rc = 1;
    }
    if (!rc) rc = open_for_io(&a, cli_get(&a, "ckpt"), B, &c, &m);
    if (rc) {
        ddpm_free(x0);
        ddpm_free(noise);
        ddpm_free(t);
        return rc;
    }
    diffusion d;
    if (diffusion_init(&d, &c) != DDPM_OK) {
        unet_free(m);
        return cli_fail(&a);
    }
    int H = c.image_size, C = config_in_channels(&c), Cout = config_out_channels(&c);
    size_t D = (size_t)B * H * H * C, Dout = (size_t)B * H * H * Cout;
    float *xt = ddpm_alloc(D * sizeof(float)), *y = ddpm_alloc(Dout * sizeof(float)),
          *dy = ddpm_alloc(Dout * sizeof(float));
    double *loss = ddpm_alloc((size_t)B * sizeof(double));
    rc = !xt || !y || !dy || !loss;
    if (!rc) {
        q_sample(xt, x0, t, noise, &d, B, D / (size_t)B);
        unet_zero_grads(m);
        rc = unet_forward(y, m, xt, t, 0, 0, 0, B) != DDPM_OK ||
             training_losses(loss, dy, y, x0, xt, noise, t, &d, B, H, H, C) != DDPM_OK ||
             unet_backward(m, dy) != DDPM_OK;
    }
    if (!rc) {
        hid_t o = h5io_create_tmp(outp);
        rc = o < 0;
        hsize_t db[1] = { (hsize_t)B };
        if (!rc) rc = h5io_write_f64(o, "loss", loss, 1, db) != DDPM_OK;
        char name[300];
        for (int i = 0; !rc && i < unet_num_tensors(m); i++) {
            const unet_param *p = unet_tensor(m, i);
            hsize_t dims[4];
            for (int k = 0; k < p->rank; k++) dims[k] = (hsize_t)p->shape[k];
            snprintf(name, sizeof name, "grad/%s", p->name);
            rc = h5io_write_f32(o, name, unet_grads(m) + p->offset, p->rank, dims) != DDPM_OK;
        }
        if (!rc) rc = h5io_commit(o, outp) != DDPM_OK;
        else h5io_abandon(o, outp);
    }
    if (rc) cli_fail(&a);
    else {
        double mean = 0;
        for (int b = 0; b < B; b++) mean += loss[b];
        char v[64];
        printf("wrote %s: loss [%d] (mean %.6g, %s) and grad/ for %d tensors\n", outp, B, mean / B,
               config_variant_name(&c, v, sizeof v), unet_num_tensors(m));
    }
    diffusion_free(&d);
    unet_free(m);
    ddpm_free(x0);
    ddpm_free(noise);
    ddpm_free(t);
    ddpm_free(xt);
    ddpm_free(y);
    ddpm_free(dy);
    ddpm_free(loss);
    return rc;
}
