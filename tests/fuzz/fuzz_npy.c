/* fuzz_npy.c — libFuzzer target for the .npy/.npz reader (src/io/npy.h; npz through io/zip.c
 * with stored and deflated members). Pass: DDPM_OK with unique names found again, every array's
 * bytes = numel * itemsize, f32 and f64 copies agreeing (f32 = f64 rounded, NaN for NaN); or
 * DDPM_ERR with a one-line message. Arrays above FUZZ_MAX_NUMEL elements are only described. */
#include "fuzz_common.h"

#include "io/npy.h"

#include <math.h>

#define FUZZ_MAX_NUMEL (1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    npy_file *f = (npy_file *)1;
    ddpm_clear_error();
    int rc = npy_open_mem(&f, data, size, "fuzz.npz");
    fuzz_verdict("npy_open_mem", rc);
    if (rc != DDPM_OK) {
        FUZZ_EXPECT(rc == DDPM_ERR && f == NULL, "npy_open_mem returned %d", rc);
        fuzz_expect_error_message("npy_open_mem");
        return 0;
    }
    int n = npy_num_arrays(f);
    FUZZ_EXPECT(npy_is_npz(f) || n == 1, "a .npy holds %d arrays", n);
    for (int i = 0; i < n; i++) {
        const char *name = npy_array_name(f, i);
        FUZZ_EXPECT(name && npy_find(f, name) == i, "array %d not found again by name", i);
        io_dtype dt;
        int rank, fortran;
        int64_t sh[IO_MAX_RANK];
        uint64_t nb, numel = 1;
        FUZZ_EXPECT(npy_array_info(f, i, &dt, &rank, sh, &nb, &fortran) == DDPM_OK, "info: %s", ddpm_last_error());
        for (int k = 0; k < rank; k++) numel *= (uint64_t)sh[k];
        FUZZ_EXPECT(nb == numel * io_dtype_size(dt), "'%s': %llu bytes for %llu elements", name, (unsigned long long)nb,
                    (unsigned long long)numel);
        if (numel > FUZZ_MAX_NUMEL) continue;
        float *x32 = NULL;
        double *x64 = NULL;
        FUZZ_EXPECT(npy_get_f32(f, i, &x32) == DDPM_OK, "get_f32: %s", ddpm_last_error());
        FUZZ_EXPECT(npy_get_f64(f, i, &x64) == DDPM_OK, "get_f64: %s", ddpm_last_error());
        for (uint64_t k = 0; k < numel; k++) {
            float want = (float)x64[k];
            FUZZ_EXPECT(isnan(want) ? isnan(x32[k]) : memcmp(&want, &x32[k], 4) == 0, "'%s'[%llu]: f32 %.9g, f64 %.17g",
                        name, (unsigned long long)k, (double)x32[k], x64[k]);
        }
        ddpm_free(x32);
        ddpm_free(x64);
    }
    npy_close(f);
    return 0;
}
