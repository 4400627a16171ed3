/* fuzz_checkpoint.c — libFuzzer target for the checkpoint loader (src/train/checkpoint.h), i.e.
 * our checks on top of libhdf5's file parser.
 *
 * Input: any bytes, written to one temporary file per process and opened as a checkpoint of a
 * fixed tiny U-Net (ch 4, one level, 2801 parameters; the seed corpus holds its checkpoint from
 * `ddpm init` and a trained one with optimizer state, plus truncations). Calls
 * checkpoint_read_config, checkpoint_read_step, checkpoint_load_weights for model/ and ema/,
 * and checkpoint_load_train_state.
 * Pass: each call returns DDPM_OK, or DDPM_ERR with a one-line message; weights loaded for this
 * model are finite or not is not judged (a file may hold any float), but a successful
 * checkpoint_read_config yields a config that config_validate accepts or rejects with a message.
 * Crashes inside libhdf5 itself on malformed files are the library's (Debian's 1.10.8); they are
 * reported in docs/fuzzing.md, not worked around here. */
#include "fuzz_common.h"

#include "core/config.h"
#include "io/h5io.h"
#include "model/unet.h"
#include "train/checkpoint.h"
#include "train/optim.h"

static const char *const NAMES[] = { "ckpt.h5", NULL };

static const char *TINY[] = {
    "dataset=fashion_mnist", "image_size=28",     "ch=4",         "ch_mult=1",
    "num_res_blocks=1",      "attn_resolutions=", "num_groups=2", "num_diffusion_timesteps=10"
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unet *m;
    static float *p, *e;
    static adam_state opt;
    if (!m) {
        h5io_init();
        ddpm_config c;
        config_defaults(&c);
        for (size_t i = 0; i < sizeof TINY / sizeof TINY[0]; i++)
            FUZZ_EXPECT(config_set(&c, TINY[i]) == DDPM_OK, "tiny config: %s", ddpm_last_error());
        FUZZ_EXPECT(unet_create(&m, &c, 1) == DDPM_OK, "unet_create: %s", ddpm_last_error());
        size_t n = unet_num_params(m);
        p = malloc(n * sizeof(float));
        e = malloc(n * sizeof(float));
        FUZZ_EXPECT(p && e && adam_init(&opt, n) == DDPM_OK, "out of memory");
    }
    fuzz_private_dir("checkpoint", NAMES);
    char path[1100];
    fuzz_path(path, sizeof path, "ckpt.h5");
    fuzz_write_file(path, data, size);

    ddpm_config c;
    ddpm_clear_error();
    int rc = checkpoint_read_config(path, &c);
    fuzz_verdict("checkpoint_read_config", rc);
    if (rc != DDPM_OK) fuzz_expect_error_message("checkpoint_read_config");
    else if (config_validate(&c) != DDPM_OK) fuzz_expect_error_message("config_validate");

    int64_t step;
    ddpm_clear_error();
    if (checkpoint_read_step(path, &step) != DDPM_OK) fuzz_expect_error_message("checkpoint_read_step");
    ddpm_clear_error();
    rc = checkpoint_load_weights(path, m, "model", p);
    fuzz_verdict("checkpoint_load_weights(model)", rc);
    if (rc != DDPM_OK) fuzz_expect_error_message("checkpoint_load_weights(model)");
    ddpm_clear_error();
    if (checkpoint_load_weights(path, m, "ema", e) != DDPM_OK)
        fuzz_expect_error_message("checkpoint_load_weights(ema)");
    ddpm_clear_error();
    rc = checkpoint_load_train_state(path, m, p, e, &opt, &step);
    fuzz_verdict("checkpoint_load_train_state", rc);
    if (rc != DDPM_OK) fuzz_expect_error_message("checkpoint_load_train_state");
    return 0;
}
