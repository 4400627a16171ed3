/* Config parsing: defaults are the official CIFAR-10 values; every bad input is an error that
 * names the file, line and key; hash and canonical dump are stable. */
#include "testutil.h"

#include "core/common.h"
#include "core/config.h"

#include <stdio.h>
#include <string.h>

static void expect_error(const char *text, const char *needle1, const char *needle2)
{
    ddpm_config c;
    config_defaults(&c);
    ddpm_clear_error();
    int rc = config_load_text(&c, text, "cfg.txt");
    ck_assert_int_eq(rc, DDPM_ERR);
    const char *e = ddpm_last_error();
    ck_assert_msg(strstr(e, needle1) != NULL, "error '%s' lacks '%s'", e, needle1);
    if (needle2) ck_assert_msg(strstr(e, needle2) != NULL, "error '%s' lacks '%s'", e, needle2);
}

START_TEST(defaults_are_official_cifar10)
{
    ddpm_config c;
    config_defaults(&c);
    ck_assert_int_eq(c.ch, 128);
    ck_assert_int_eq(c.num_levels, 4);
    ck_assert_int_eq(c.ch_mult[0], 1);
    ck_assert_int_eq(c.ch_mult[3], 2);
    ck_assert_int_eq(c.num_res_blocks, 2);
    ck_assert_int_eq(c.num_attn, 1);
    ck_assert_int_eq(c.attn_resolutions[0], 16);
    ck_assert(c.dropout == 0.1);
    ck_assert_int_eq(c.num_diffusion_timesteps, 1000);
    ck_assert(c.beta_start == 1e-4 && c.beta_end == 0.02);
    ck_assert_int_eq(c.model_mean_type, MEAN_EPS);
    ck_assert_int_eq(c.model_var_type, VAR_FIXEDLARGE);
    ck_assert_int_eq(c.loss_type, LOSS_MSE);
    ck_assert_int_eq(c.batch_size, 128);
    ck_assert(c.lr == 2e-4 && c.ema_decay == 0.9999 && c.grad_clip == 1.0);
    ck_assert_int_eq(c.warmup, 5000);
    ck_assert_int_eq(c.train_steps, 800000);
    ck_assert_int_eq(c.num_groups, 32);
    ck_assert_int_eq(config_validate(&c), DDPM_OK);
    ck_assert_int_eq(config_in_channels(&c), 3);
}
END_TEST

START_TEST(parses_file_with_comments)
{
    ddpm_config c;
    config_defaults(&c);
    const char *text = "# mini tier\n"
                       "dataset = fashion_mnist   # embedded default\n"
                       "image_size=28\n"
                       "   ch = 32\n"
                       "ch_mult = 1, 2,2\n"
                       "num_res_blocks = 1\n"
                       "attn_resolutions = 14\n"
                       "model_var_type = learned\n"
                       "loss_type = kl\n"
                       "randflip = false\n"
                       "\n"
                       "lr = 2e-4\n";
    ck_assert_int_eq(config_load_text(&c, text, "t"), DDPM_OK);
    ck_assert_int_eq(c.dataset, DATASET_FASHION_MNIST);
    ck_assert_int_eq(c.ch, 32);
    ck_assert_int_eq(c.num_levels, 3);
    ck_assert_int_eq(c.ch_mult[1], 2);
    ck_assert_int_eq(c.attn_resolutions[0], 14);
    ck_assert_int_eq(c.model_var_type, VAR_LEARNED);
    ck_assert_int_eq(c.randflip, 0);
    ck_assert_int_eq(config_validate(&c), DDPM_OK);
    ck_assert_int_eq(config_out_channels(&c), 2);
    ck_assert_int_eq(config_set(&c, "attn_resolutions=none"), DDPM_OK);
    ck_assert_int_eq(c.num_attn, 0);
}
END_TEST

START_TEST(bad_inputs_name_file_line_key)
{
    expect_error("ch = 32\nfoo = 3\n", "cfg.txt:2", "unknown config key 'foo'");
    expect_error("ch = 3x\n", "cfg.txt:1", "'ch'");
    expect_error("dropout = abc\n", "'dropout'", "not a finite number");
    expect_error("dropout = 1.5\n", "'dropout'", "out of range");
    expect_error("model_mean_type = mu\n", "'model_mean_type'", "xprev|xstart|eps");
    expect_error("beta_schedule = cosine\n", "'beta_schedule'", "linear|quad|const|jsd|warmup10|warmup50");
    expect_error("model_var_type = big\n", "learned|fixedsmall|fixedlarge", NULL);
    expect_error("loss_type = l1\n", "kl|mse", NULL);
    expect_error("dataset = mnist\n", "cifar10|fashion_mnist", NULL);
    expect_error("ch = 32\nch = 64\n", "cfg.txt:2", "given twice (first on line 1)");
    expect_error("ch_mult = 1,,2\n", "'ch_mult'", NULL);
    expect_error("ch_mult = \n", "'ch_mult'", NULL);
    expect_error("just some words\n", "cfg.txt:1", "expected 'key = value'");
    expect_error("randflip = maybe\n", "'randflip'", "boolean");
    expect_error("num_res_blocks = 0\n", "'num_res_blocks'", "out of range");
    expect_error("seed = -1\n", "'seed'", NULL);
    expect_error("train_steps = 1e5\n", "'train_steps'", "not an integer");
}
END_TEST

START_TEST(set_overrides_and_errors)
{
    ddpm_config c;
    config_defaults(&c);
    ck_assert_int_eq(config_set(&c, "ch=64"), DDPM_OK);
    ck_assert_int_eq(c.ch, 64);
    ck_assert_int_eq(config_set(&c, " model_mean_type = xprev "), DDPM_OK);
    ck_assert_int_eq(c.model_mean_type, MEAN_XPREV);
    ck_assert_int_eq(config_set(&c, "nokey=1"), DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "--set") && strstr(ddpm_last_error(), "'nokey'"));
    ck_assert_int_eq(config_set(&c, "ch"), DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "expected key=value"));
}
END_TEST

START_TEST(validation_errors)
{
    ddpm_config c;
    config_defaults(&c);
    c.model_var_type = VAR_LEARNED; /* with the default mse loss */
    ck_assert_int_eq(config_validate(&c), DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "mse") && strstr(ddpm_last_error(), "learned"));
    config_defaults(&c);
    c.image_size = 30; /* 30 -> 15 -> cannot halve again with 4 levels */
    ck_assert_int_eq(config_validate(&c), DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "image_size"));
    config_defaults(&c);
    c.ch = 48; /* 48 not divisible by 32 groups */
    ck_assert_int_eq(config_validate(&c), DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "num_groups"));
    config_defaults(&c);
    c.dataset = DATASET_FASHION_MNIST; /* still image_size 32 */
    ck_assert_int_eq(config_validate(&c), DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "image_size = 28"));
}
END_TEST

/* config_validate applies the KEYS table's ranges of the model keys to a config filled in code
 * (num_groups = 0 used to reach a division by zero in the cross-key checks). Training keys keep
 * their parse-time range only (a test trains with lr = 1e30 on purpose). */
START_TEST(model_key_ranges_in_code)
{
    ddpm_config c;
    config_defaults(&c);
    c.num_groups = 0;
    ck_assert_int_eq(config_validate(&c), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "'num_groups'") && strstr(ddpm_last_error(), "[1, 4096]"), "%s",
                  ddpm_last_error());
    ck_assert_ptr_null(strchr(ddpm_last_error(), '\n'));
    config_defaults(&c);
    c.num_levels = 0;
    ck_assert_int_eq(config_validate(&c), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "'ch_mult'"), "%s", ddpm_last_error());
    config_defaults(&c);
    c.ch_mult[1] = 0;
    ck_assert_int_eq(config_validate(&c), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "'ch_mult'"), "%s", ddpm_last_error());
    config_defaults(&c);
    c.dropout = 1.0;
    ck_assert_int_eq(config_validate(&c), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "'dropout'"), "%s", ddpm_last_error());
    config_defaults(&c);
    c.num_res_blocks = 65;
    ck_assert_int_eq(config_validate(&c), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "'num_res_blocks'") && strstr(ddpm_last_error(), "65"), "%s",
                  ddpm_last_error());
    config_defaults(&c);
    c.model_var_type = (model_var_type_t)7;
    ck_assert_int_eq(config_validate(&c), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "'model_var_type'"), "%s", ddpm_last_error());
    config_defaults(&c);
    c.lr = 1e30; /* a training key: not re-checked */
    ck_assert_msg(config_validate(&c) == DDPM_OK, "%s", ddpm_last_error());
    config_defaults(&c);
    ck_assert_int_eq(config_validate(&c), DDPM_OK);
}
END_TEST

/* config_validate_network (what unet_create checks) is config_validate's network part: the same
 * ranges and shape errors, none of the training or data checks. */
START_TEST(network_validation_is_part_of_validate)
{
    ddpm_config c;
    config_defaults(&c);
    c.model_var_type = VAR_LEARNED; /* with the mse loss: a training problem, not a network one */
    c.lr = 0;
    c.dataset = DATASET_FASHION_MNIST; /* image_size stays 32: the data set's problem */
    ck_assert_msg(config_validate_network(&c) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert_int_eq(config_validate(&c), DDPM_ERR);
    config_defaults(&c);
    c.image_size = 30;
    ck_assert_int_eq(config_validate_network(&c), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "image_size 30 cannot be halved"), "%s", ddpm_last_error());
    config_defaults(&c);
    c.ch = 48;
    ck_assert_int_eq(config_validate_network(&c), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "num_groups = 32"), "%s", ddpm_last_error());
    config_defaults(&c);
    c.attn_resolutions[0] = 12;
    ck_assert_int_eq(config_validate_network(&c), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "attn_resolutions names 12"), "%s", ddpm_last_error());
    config_defaults(&c);
    c.num_groups = 1;
    c.ch = 5;
    ck_assert_int_eq(config_validate_network(&c), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "ch must be even"), "%s", ddpm_last_error());
    config_defaults(&c);
    c.dropout = 1.0;
    ck_assert_int_eq(config_validate_network(&c), DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "'dropout'"), "%s", ddpm_last_error());
}
END_TEST

START_TEST(dump_roundtrip_and_hash)
{
    ddpm_config a, b;
    config_defaults(&a);
    ck_assert_int_eq(config_set(&a, "lr=0.00013"), DDPM_OK);
    ck_assert_int_eq(config_set(&a, "ch_mult=1,2"), DDPM_OK);
    char text[8192];
    int n = config_dump(&a, text, sizeof text);
    ck_assert_int_gt(n, 100);
    ck_assert_int_lt(n, (int)sizeof text);
    config_defaults(&b);
    ck_assert_int_eq(config_load_text(&b, text, "dump"), DDPM_OK);
    char h1[17], h2[17];
    ck_assert(config_hash(&a, h1) == config_hash(&b, h2));
    ck_assert_str_eq(h1, h2);
    ck_assert(memcmp(&a, &b, sizeof a) == 0);
    /* Any change of value changes the hash. */
    ck_assert_int_eq(config_set(&b, "seed=1"), DDPM_OK);
    ck_assert(config_hash(&a, NULL) != config_hash(&b, NULL));
    /* The hash of the defaults is pinned: runs addressed by it must stay findable. Changing the
     * canonical dump format is a breaking change of run addresses. */
    ddpm_config d;
    config_defaults(&d);
    char hd[17];
    config_hash(&d, hd);
    char dump[8192];
    config_dump(&d, dump, sizeof dump);
    ck_assert_msg(strstr(dump, "ch_mult = 1,2,2,2\n") && strstr(dump, "beta_start = 0.0001\n") &&
                      strstr(dump, "attn_resolutions = 16\n") && strstr(dump, "lr = 0.0002\n"),
                  "canonical dump changed:\n%s", dump);
}
END_TEST

START_TEST(load_file_errors)
{
    ddpm_config c;
    config_defaults(&c);
    ck_assert_int_eq(config_load_file(&c, "tests/data/does-not-exist.cfg"), DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "does-not-exist.cfg"));
    const char *p = test_tmp_path("cfg.txt");
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs("ch = 64\nch_mult = 1,2\nbogus = 1\n", f);
    fclose(f);
    ck_assert_int_eq(config_load_file(&c, p), DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), p) && strstr(ddpm_last_error(), ":3:"));
    remove(p);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults_are_official_cifar10);
    tcase_add_test(tc, parses_file_with_comments);
    tcase_add_test(tc, bad_inputs_name_file_line_key);
    tcase_add_test(tc, set_overrides_and_errors);
    tcase_add_test(tc, validation_errors);
    tcase_add_test(tc, model_key_ranges_in_code);
    tcase_add_test(tc, network_validation_is_part_of_validate);
    tcase_add_test(tc, dump_roundtrip_and_hash);
    tcase_add_test(tc, load_file_errors);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(config_suite)
