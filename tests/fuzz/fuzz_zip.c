/* fuzz_zip.c — libFuzzer target for the zip container (src/io/zip.h) shared by the torch and
 * npz readers. Input: any bytes, opened with deflate allowed. Pass: DDPM_OK with every entry's
 * data inside the input and before the central directory, names found again, and every entry
 * extractable (stored: in place; deflated: inflated to its size with a matching CRC-32) or
 * refused with a one-line message; or DDPM_ERR with a one-line message. */
#include "fuzz_common.h"

#include "io/zip.h"

#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zip_archive z;
    ddpm_clear_error();
    int rc = zip_open(&z, data, size, "fuzz.zip", 1);
    fuzz_verdict("zip_open", rc);
    if (rc != DDPM_OK) {
        FUZZ_EXPECT(rc == DDPM_ERR, "zip_open returned %d", rc);
        fuzz_expect_error_message("zip_open");
        zip_close(&z);
        return 0;
    }
    FUZZ_EXPECT(z.n > 0, "an archive without entries was accepted");
    for (int k = 0; k < z.n; k++) {
        const zip_entry *e = &z.ent[k];
        FUZZ_EXPECT(e->data_off <= size && e->comp <= size - e->data_off, "entry %d's data is outside the input", k);
        FUZZ_EXPECT(zip_find(&z, e->name, e->nlen, "") != NULL, "entry %d not found again by name", k);
        const uint8_t *d;
        uint8_t *owned;
        ddpm_clear_error();
        if (e->uncomp > (1u << 24)) continue; /* a legal bomb: only described */
        if (zip_data(&z, e, &d, &owned) == DDPM_OK) {
            FUZZ_EXPECT((uint32_t)crc32_z(0L, d, (z_size_t)e->uncomp) == e->crc, "entry %d: CRC not verified", k);
            free(owned);
        } else {
            FUZZ_EXPECT(owned == NULL, "zip_data failed but returned memory");
            fuzz_expect_error_message("zip_data");
        }
    }
    zip_close(&z);
    return 0;
}
