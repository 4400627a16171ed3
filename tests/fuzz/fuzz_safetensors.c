/* fuzz_safetensors.c — libFuzzer target for the safetensors reader (src/io/safetensors.h).
 * Input: any bytes, opened with safetensors_open_mem. Pass: DDPM_OK with names unique and found
 * again, every tensor's bytes = numel * itemsize and inside the input, float tensors copied with
 * safetensors_get_f32 (integer ones refused with a message); or DDPM_ERR with a one-line message. */
#include "fuzz_common.h"

#include "io/convert.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    safetensors *s = (safetensors *)1;
    ddpm_clear_error();
    int rc = safetensors_open_mem(&s, data, size, "fuzz.safetensors");
    fuzz_verdict("safetensors_open_mem", rc);
    if (rc != DDPM_OK) {
        FUZZ_EXPECT(rc == DDPM_ERR && s == NULL, "safetensors_open_mem returned %d", rc);
        fuzz_expect_error_message("safetensors_open_mem");
        return 0;
    }
    int n = safetensors_num_tensors(s);
    uint64_t total = 0;
    FUZZ_EXPECT(!safetensors_tensor_name(s, -1) && !safetensors_tensor_name(s, n), "names out of range");
    for (int i = 0; i < n; i++) {
        const char *name = safetensors_tensor_name(s, i);
        FUZZ_EXPECT(name && safetensors_find(s, name) == i, "tensor %d not found again by name", i);
        io_dtype dt;
        int rank;
        int64_t sh[IO_MAX_RANK];
        uint64_t nb, numel = 1;
        FUZZ_EXPECT(safetensors_tensor_info(s, i, &dt, &rank, sh, &nb) == DDPM_OK, "info: %s", ddpm_last_error());
        for (int k = 0; k < rank; k++) numel *= (uint64_t)sh[k];
        FUZZ_EXPECT(nb == numel * io_dtype_size(dt), "'%s': %llu bytes for %llu elements", name, (unsigned long long)nb,
                    (unsigned long long)numel);
        total += nb;
        FUZZ_EXPECT(total <= size, "tensors hold more bytes than the input");
        float *x = NULL;
        ddpm_clear_error();
        int g = safetensors_get_f32(s, i, &x);
        if (io_is_float(dt)) FUZZ_EXPECT(g == DDPM_OK, "get_f32('%s'): %s", name, ddpm_last_error());
        else {
            FUZZ_EXPECT(g == DDPM_ERR && x == NULL, "get_f32 accepted %s", io_dtype_name(dt));
            fuzz_expect_error_message("safetensors_get_f32");
        }
        ddpm_free(x);
    }
    safetensors_close(s);
    return 0;
}
