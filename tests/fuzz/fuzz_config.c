/* fuzz_config.c — libFuzzer target for the config text reader (src/core/config.h).
 *
 * Input: any bytes, used as the text of a config file (up to the first NUL, as a file read
 * into a string would be). Calls config_load_text over the defaults, then on success
 * config_validate, config_dump and config_hash.
 * Pass: every call returns DDPM_OK, or DDPM_ERR with a one-line message; an accepted config's
 * canonical dump fits a 8 KiB buffer and round-trips: loading it over the defaults is accepted
 * and gives the same dump, hash and config_validate verdict. */
#include "fuzz_common.h"

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;

    ddpm_config c;
    config_defaults(&c);
    ddpm_clear_error();
    int rc = config_load_text(&c, text, "fuzz.cfg");
    fuzz_verdict("config_load_text", rc);
    free(text);
    if (rc != DDPM_OK) {
        FUZZ_EXPECT(rc == DDPM_ERR, "config_load_text returned %d", rc);
        fuzz_expect_error_message("config_load_text");
        return 0;
    }

    ddpm_clear_error();
    int valid = config_validate(&c);
    if (valid != DDPM_OK) fuzz_expect_error_message("config_validate");

    static char dump[8192], dump2[8192];
    int n = config_dump(&c, dump, sizeof dump);
    FUZZ_EXPECT(n > 0 && (size_t)n < sizeof dump && strlen(dump) == (size_t)n, "config_dump length %d", n);
    char hex[17], hex2[17];
    uint64_t h = config_hash(&c, hex);
    FUZZ_EXPECT(strlen(hex) == 16, "config_hash hex '%s'", hex);

    ddpm_config c2;
    config_defaults(&c2);
    ddpm_clear_error();
    rc = config_load_text(&c2, dump, "dump");
    FUZZ_EXPECT(rc == DDPM_OK, "the canonical dump is rejected: %s\n%s", ddpm_last_error(), dump);
    int n2 = config_dump(&c2, dump2, sizeof dump2);
    FUZZ_EXPECT(n2 == n && !strcmp(dump, dump2), "dump does not round-trip:\n%s---\n%s", dump, dump2);
    FUZZ_EXPECT(config_hash(&c2, hex2) == h && !strcmp(hex, hex2), "hash changed on reload");
    FUZZ_EXPECT((config_validate(&c2) == DDPM_OK) == (valid == DDPM_OK), "config_validate verdict changed on reload");

    char variant[64];
    FUZZ_EXPECT(config_variant_name(&c, variant, sizeof variant)[0] != 0, "empty variant name");
    FUZZ_EXPECT(config_data_dir(&c)[0] != 0, "empty data dir");
    int cin = config_in_channels(&c), cout = config_out_channels(&c);
    FUZZ_EXPECT((cin == 1 || cin == 3) && (cout == cin || cout == 2 * cin), "channels %d %d", cin, cout);
    return 0;
}
