/* fuzz_pth.c — libFuzzer target for the torch.save reader (src/io/pth.h).
 *
 * Input: any bytes, opened with pth_open_mem (zip container or legacy stream). For every tensor
 * found: pth_tensor_info, pth_get_f32 and pth_get_f64, and pth_get_i64 (which must succeed for
 * integer/bool dtypes and fail for float dtypes).
 * Pass: every call returns DDPM_OK or DDPM_ERR with a one-line message; names are unique and
 * found again by pth_find; getters report the shape pth_tensor_info reports; the f32 copy is
 * the f64 copy rounded to float (bit for bit, NaN for NaN) and the i64 copy converts to the f64
 * copy exactly.
 * Tensors of more than FUZZ_MAX_NUMEL elements are only described, not materialized: a legal
 * stride-0 tensor over a 1-element storage may declare up to 2^40 elements, and the readers'
 * callers (inception_load_pth) check a tensor's shape before copying it. */
#include "fuzz_common.h"

#include "io/pth.h"

#include <math.h>

#define FUZZ_MAX_NUMEL (1 << 20)

static int is_integer(pth_dtype t)
{
    return t == PTH_I64 || t == PTH_I32 || t == PTH_I16 || t == PTH_I8 || t == PTH_U8 || t == PTH_BOOL;
}

static void expect_shape(const char *what, const char *name, int rank, const int64_t *shape, int want_rank,
                         const int64_t *want)
{
    FUZZ_EXPECT(rank == want_rank, "%s('%s'): rank %d, info says %d", what, name, rank, want_rank);
    for (int k = 0; k < rank; k++)
        FUZZ_EXPECT(shape[k] == want[k], "%s('%s'): dim %d is %lld, info says %lld", what, name, k, (long long)shape[k],
                    (long long)want[k]);
}

static void check_tensor(const pth_file *f, int i)
{
    const char *name = pth_tensor_name(f, i);
    FUZZ_EXPECT(name != NULL, "tensor %d has no name", i);
    FUZZ_EXPECT(pth_find(f, name) == i, "pth_find('%s') = %d, expected %d", name, pth_find(f, name), i);
    pth_dtype dt;
    int rank = -1;
    int64_t shape[PTH_MAX_RANK];
    FUZZ_EXPECT(pth_tensor_info(f, name, &dt, &rank, shape) == DDPM_OK, "info('%s'): %s", name, ddpm_last_error());
    FUZZ_EXPECT(rank >= 0 && rank <= PTH_MAX_RANK, "rank %d", rank);
    FUZZ_EXPECT(strcmp(pth_dtype_name(dt), "?") != 0, "dtype %d has no name", (int)dt);
    int64_t numel = 1;
    int big = 0;
    for (int k = 0; k < rank; k++) {
        FUZZ_EXPECT(shape[k] >= 0, "'%s' dim %d is %lld", name, k, (long long)shape[k]);
        if (__builtin_mul_overflow(numel, shape[k], &numel) || numel > FUZZ_MAX_NUMEL) big = 1;
    }
    if (big) return;

    float *x32 = NULL;
    double *x64 = NULL;
    int64_t *xi = NULL, gshape[PTH_MAX_RANK];
    int grank = -1;
    /* at most 8 MiB per copy: nothing but a reader bug can make these fail */
    FUZZ_EXPECT(pth_get_f64(f, name, &x64, &grank, gshape) == DDPM_OK, "get_f64('%s'): %s", name, ddpm_last_error());
    expect_shape("pth_get_f64", name, grank, gshape, rank, shape);
    FUZZ_EXPECT(pth_get_f32(f, name, &x32, &grank, gshape) == DDPM_OK, "get_f32('%s'): %s", name, ddpm_last_error());
    expect_shape("pth_get_f32", name, grank, gshape, rank, shape);
    for (int64_t k = 0; k < numel; k++) {
        float want = (float)x64[k];
        FUZZ_EXPECT(isnan(want) ? isnan(x32[k]) : memcmp(&want, &x32[k], sizeof want) == 0,
                    "'%s'[%lld]: f32 %.9g but f64 %.17g", name, (long long)k, (double)x32[k], x64[k]);
    }
    ddpm_clear_error();
    int rci = pth_get_i64(f, name, &xi, &grank, gshape);
    if (is_integer(dt)) {
        FUZZ_EXPECT(rci == DDPM_OK, "get_i64('%s') of %s: %s", name, pth_dtype_name(dt), ddpm_last_error());
        expect_shape("pth_get_i64", name, grank, gshape, rank, shape);
        for (int64_t k = 0; k < numel; k++)
            FUZZ_EXPECT((double)xi[k] == x64[k], "'%s'[%lld]: i64 %lld but f64 %.17g", name, (long long)k,
                        (long long)xi[k], x64[k]);
    } else {
        FUZZ_EXPECT(rci == DDPM_ERR && xi == NULL, "get_i64 accepted %s", pth_dtype_name(dt));
        fuzz_expect_error_message("pth_get_i64");
    }
    ddpm_free(x32);
    ddpm_free(x64);
    ddpm_free(xi);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pth_file *f = (pth_file *)1;
    ddpm_clear_error();
    int rc = pth_open_mem(&f, data, size, "fuzz.pth");
    fuzz_verdict("pth_open_mem", rc);
    if (rc != DDPM_OK) {
        FUZZ_EXPECT(rc == DDPM_ERR && f == NULL, "pth_open_mem returned %d", rc);
        fuzz_expect_error_message("pth_open_mem");
        return 0;
    }
    FUZZ_EXPECT(f != NULL, "pth_open_mem succeeded without a file");
    int n = pth_num_tensors(f);
    FUZZ_EXPECT(n >= 0, "%d tensors", n);
    FUZZ_EXPECT(pth_is_zip(f) == (size >= 4 && !memcmp(data, "PK\3\4", 4)), "pth_is_zip disagrees with the header");
    FUZZ_EXPECT(!pth_tensor_name(f, -1) && !pth_tensor_name(f, n), "names out of range");
    for (int i = 0; i < n; i++) check_tensor(f, i);
    ddpm_clear_error();
    if (pth_find(f, "\x01no such tensor") < 0) {
        FUZZ_EXPECT(pth_tensor_info(f, "\x01no such tensor", NULL, NULL, NULL) == DDPM_ERR,
                    "info of a missing name succeeded");
        fuzz_expect_error_message("pth_tensor_info");
    }
    pth_close(f);
    return 0;
}
