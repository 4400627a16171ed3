/* test_pth.c — the torch.save reader against fixtures written by torch itself
 * (scripts/gen_pth_fixtures.py: zip container with pickle protocol 2 and 4, the legacy stream,
 * and a deflated zip torch never writes). Values must be bit-exact: the reader copies bytes and
 * widens, it never computes. Robustness: every truncation and every single-byte corruption of
 * each fixture must end in a clean error (or, for bytes the format does not protect, a load that
 * does not crash); Check runs each test in a forked child, so a crash fails the test. */
#include "core/common.h"
#include "io/h5io.h"
#include "io/pth.h"
#include "testutil.h"

#include <stdint.h>

#define DIR             "tests/data/pth/"
#define FIXTURE_VERSION 1

static const char *fixtures[] = { DIR "state_zip.pth", DIR "state_legacy.pth", DIR "state_zip_p4.pth" };

#define slurp(path, len) test_slurp(path, len, "run /usr/bin/python3 scripts/gen_pth_fixtures.py")

static hid_t open_expected(void)
{
    return test_ref_open(DIR "expected.h5", FIXTURE_VERSION, "scripts/gen_pth_fixtures.py");
}

/* Compares every tensor of f with expected.h5: names, order, dtype, shape and exact values. */
static void check_against_expected(const pth_file *f, hid_t h)
{
    static const char *order[] = { "Mixed_5b.branch1x1.conv.weight",
                                   "Mixed_5b.branch1x1.bn.weight",
                                   "Mixed_5b.branch1x1.bn.bias",
                                   "Mixed_5b.branch1x1.bn.running_mean",
                                   "Mixed_5b.branch1x1.bn.running_var",
                                   "Mixed_5b.branch1x1.bn.num_batches_tracked",
                                   "fc.weight",
                                   "fc.bias",
                                   "t_f64",
                                   "t_f16",
                                   "t_i32",
                                   "t_u8",
                                   "t_bool",
                                   "t_i64",
                                   "t_transposed",
                                   "t_sliced",
                                   "shared_a",
                                   "shared_b",
                                   "t_scalar",
                                   "t_empty" };
    ck_assert_int_eq(pth_num_tensors(f), (int)DDPM_ARRAY_LEN(order));
    for (int i = 0; i < pth_num_tensors(f); i++) {
        const char *name = pth_tensor_name(f, i);
        ck_assert_str_eq(name, order[i]);
        char ds[256], want_dtype[32];
        snprintf(ds, sizeof ds, "tensors/%s", name);
        ck_assert(h5io_get_attr_str(h, ds, "dtype", want_dtype, sizeof want_dtype) == DDPM_OK);
        pth_dtype dt;
        int rank;
        int64_t shape[PTH_MAX_RANK];
        ck_assert(pth_tensor_info(f, name, &dt, &rank, shape) == DDPM_OK);
        ck_assert_str_eq(pth_dtype_name(dt), want_dtype);
        hsize_t dims[H5IO_MAX_RANK];
        int drank;
        ck_assert(h5io_shape(h, ds, &drank, dims) == DDPM_OK);
        int64_t numel = 1;
        for (int k = 0; k < rank; k++) numel *= shape[k];
        ck_assert_int_eq((long long)dims[0], (long long)numel);
        hid_t d = H5Dopen2(h, ds, H5P_DEFAULT);
        hid_t at = H5Aopen(d, "shape", H5P_DEFAULT);
        int64_t want_shape[PTH_MAX_RANK] = { 0 };
        hid_t sp = H5Aget_space(at);
        int want_rank = (int)H5Sget_simple_extent_npoints(sp); /* () is stored as an empty array */
        H5Sclose(sp);
        if (want_rank > 0) ck_assert(H5Aread(at, H5T_NATIVE_INT64, want_shape) >= 0);
        H5Aclose(at);
        H5Dclose(d);
        ck_assert_int_eq(rank, want_rank);
        for (int k = 0; k < rank; k++) ck_assert_int_eq(shape[k], want_shape[k]);

        double *got = NULL;
        ck_assert(pth_get_f64(f, name, &got, NULL, NULL) == DDPM_OK);
        if (dt == PTH_I64 || dt == PTH_I32 || dt == PTH_U8 || dt == PTH_BOOL) {
            int64_t *gi = NULL, *wi = ddpm_alloc((size_t)(numel ? numel : 1) * 8);
            hsize_t n1 = (hsize_t)numel;
            ck_assert(pth_get_i64(f, name, &gi, NULL, NULL) == DDPM_OK);
            if (numel) ck_assert(h5io_read_into_i64(h, ds, wi, 1, &n1) == DDPM_OK);
            for (int64_t k = 0; k < numel; k++)
                ck_assert_msg(gi[k] == wi[k], "%s[%lld]: got %lld want %lld", name, (long long)k, (long long)gi[k],
                              (long long)wi[k]);
            ddpm_free(gi);
            ddpm_free(wi);
        } else {
            double *want = NULL;
            if (numel == 0) {
                ddpm_free(got);
                continue;
            }
            ck_assert(h5io_read_f64(h, ds, &want, NULL, NULL) == DDPM_OK);
            for (int64_t k = 0; k < numel; k++) /* exact: the reader only copies and widens */
                ck_assert_msg(got[k] == want[k], "%s[%lld]: got %.17g want %.17g", name, (long long)k, got[k], want[k]);
            if (dt == PTH_F32) {
                float *g32 = NULL;
                ck_assert(pth_get_f32(f, name, &g32, NULL, NULL) == DDPM_OK);
                for (int64_t k = 0; k < numel; k++) ck_assert(g32[k] == (float)want[k]);
                ddpm_free(g32);
            }
            ddpm_free(want);
        }
        ddpm_free(got);
    }
}

START_TEST(test_read_all_formats)
{
    hid_t h = open_expected();
    for (size_t i = 0; i < DDPM_ARRAY_LEN(fixtures); i++) {
        pth_file *f = NULL;
        ck_assert_msg(pth_open(&f, fixtures[i]) == DDPM_OK, "%s", ddpm_last_error());
        ck_assert_int_eq(pth_is_zip(f), i != 1);
        check_against_expected(f, h);
        fprintf(stderr, "%s: %d tensors bit-exact\n", fixtures[i], pth_num_tensors(f));
        pth_close(f);
    }
    h5io_close(h);
}
END_TEST

START_TEST(test_views_and_conversions)
{
    pth_file *f = NULL;
    ck_assert(pth_open(&f, DIR "state_legacy.pth") == DDPM_OK);
    /* t_transposed = base.t(), base = arange(24).reshape(4,6)*0.25-2: element [i][j] = base[j][i] */
    float *t = NULL;
    int rank;
    int64_t shape[PTH_MAX_RANK];
    ck_assert(pth_get_f32(f, "t_transposed", &t, &rank, shape) == DDPM_OK);
    ck_assert(rank == 2 && shape[0] == 6 && shape[1] == 4);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++) ck_assert(t[i * 4 + j] == (float)(j * 6 + i) * 0.25f - 2.0f);
    ddpm_free(t);
    /* t_sliced = base[1:, ::2] */
    ck_assert(pth_get_f32(f, "t_sliced", &t, &rank, shape) == DDPM_OK);
    ck_assert(rank == 2 && shape[0] == 3 && shape[1] == 3);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) ck_assert(t[i * 3 + j] == (float)((i + 1) * 6 + 2 * j) * 0.25f - 2.0f);
    ddpm_free(t);
    /* float16 extremes convert exactly; int64 beyond 2^53 stays exact through _i64 */
    double *h16 = NULL;
    ck_assert(pth_get_f64(f, "t_f16", &h16, NULL, NULL) == DDPM_OK);
    ck_assert(h16[2] == 65504.0 && h16[1] == -1.25);
    ddpm_free(h16);
    int64_t *i64 = NULL;
    ck_assert(pth_get_i64(f, "t_i64", &i64, NULL, NULL) == DDPM_OK);
    ck_assert(i64[0] == -(INT64_C(1) << 62) - 3 && i64[3] == (INT64_C(1) << 53) + 1);
    ddpm_free(i64);
    /* errors: absent name, integer getter on a float tensor */
    ck_assert(pth_get_f32(f, "no.such.tensor", &t, NULL, NULL) == DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "no.such.tensor") != NULL);
    ck_assert(pth_get_i64(f, "fc.weight", &i64, NULL, NULL) == DDPM_ERR);
    ck_assert(pth_find(f, "fc.bias") >= 0 && pth_find(f, "fc") < 0);
    pth_close(f);
}
END_TEST

START_TEST(test_clear_errors)
{
    pth_file *f = NULL;
    ck_assert(pth_open(&f, DIR "does_not_exist.pth") == DDPM_ERR && f == NULL);
    ck_assert(strstr(ddpm_last_error(), "does_not_exist.pth") != NULL);
    ck_assert(pth_open(&f, DIR "state_deflated.pth") == DDPM_ERR);
    fprintf(stderr, "deflated: %s\n", ddpm_last_error());
    ck_assert(strstr(ddpm_last_error(), "compressed") != NULL);
    ck_assert(pth_open(&f, DIR "expected.h5") == DDPM_ERR); /* not a torch file at all */
    fprintf(stderr, "hdf5 file: %s\n", ddpm_last_error());
    /* a truncated copy on disk goes through the same path */
    size_t len;
    uint8_t *b = slurp(DIR "state_legacy.pth", &len);
    const char *p = test_tmp_path("trunc.pth");
    FILE *fp = fopen(p, "wb");
    ck_assert(fp != NULL);
    fwrite(b, 1, len / 2, fp);
    fclose(fp);
    ck_assert(pth_open(&f, p) == DDPM_ERR);
    fprintf(stderr, "truncated legacy: %s\n", ddpm_last_error());
    ck_assert(strstr(ddpm_last_error(), "trunc.pth") != NULL);
    remove(p);
    free(b);
}
END_TEST

/* Every prefix shorter than the file — including each 1/16th of the length — is an error. */
START_TEST(test_truncated_copies_fail)
{
    for (size_t i = 0; i < DDPM_ARRAY_LEN(fixtures); i++) {
        size_t len;
        uint8_t *b = slurp(fixtures[i], &len);
        int errors = 0;
        for (size_t cut = 0; cut < len; cut++) {
            pth_file *f = NULL;
            ddpm_clear_error();
            int rc = pth_open_mem(&f, b, cut, "cut");
            ck_assert_msg(rc == DDPM_ERR && f == NULL, "%s cut at %zu/%zu bytes opened", fixtures[i], cut, len);
            ck_assert(strncmp(ddpm_last_error(), "cut: ", 5) == 0);
            errors++;
        }
        for (int k = 0; k < 16; k++) {
            pth_file *f = NULL;
            ck_assert(pth_open_mem(&f, b, len * (size_t)k / 16, "cut") == DDPM_ERR);
        }
        fprintf(stderr, "%s: %d/%zu truncations rejected\n", fixtures[i], errors, len);
        free(b);
    }
}
END_TEST

/* Flips each byte in turn. Zip entries are CRC-32 checked and headers cross-checked, so a
 * corrupt zip either fails or (bytes no reader needs: padding, "version made by") loads the
 * identical tensors. The legacy stream has no checksum: a flipped data byte loads a different
 * value, so there we require no crash and, on failure, a message. */
static int same_content(const pth_file *a, const pth_file *b)
{
    if (pth_num_tensors(a) != pth_num_tensors(b)) return 0;
    for (int i = 0; i < pth_num_tensors(a); i++) {
        const char *n = pth_tensor_name(a, i);
        if (strcmp(n, pth_tensor_name(b, i))) return 0;
        pth_dtype da, db;
        int ra, rb;
        int64_t sa[PTH_MAX_RANK], sb[PTH_MAX_RANK];
        if (pth_tensor_info(a, n, &da, &ra, sa) || pth_tensor_info(b, n, &db, &rb, sb)) return 0;
        if (da != db || ra != rb || memcmp(sa, sb, (size_t)ra * sizeof sa[0])) return 0;
        double *x = NULL, *y = NULL;
        int64_t numel = 1;
        for (int k = 0; k < ra; k++) numel *= sa[k];
        int ok = pth_get_f64(a, n, &x, NULL, NULL) == DDPM_OK && pth_get_f64(b, n, &y, NULL, NULL) == DDPM_OK &&
                 memcmp(x, y, (size_t)numel * sizeof *x) == 0;
        ddpm_free(x);
        ddpm_free(y);
        if (!ok) return 0;
    }
    return 1;
}

START_TEST(test_flipped_bytes_fail_cleanly)
{
    for (size_t i = 0; i < DDPM_ARRAY_LEN(fixtures); i++) {
        size_t len;
        uint8_t *b = slurp(fixtures[i], &len);
        pth_file *ref = NULL;
        ck_assert(pth_open_mem(&ref, b, len, "ref") == DDPM_OK);
        int zip = pth_is_zip(ref);
        int errors = 0, identical = 0, changed = 0;
        uint8_t *c = malloc(len);
        for (size_t pos = 0; pos < len; pos++) {
            memcpy(c, b, len);
            c[pos] ^= 0xA5;
            pth_file *f = NULL;
            ddpm_clear_error();
            if (pth_open_mem(&f, c, len, "flip") != DDPM_OK) {
                ck_assert(f == NULL && strncmp(ddpm_last_error(), "flip: ", 6) == 0);
                errors++;
                continue;
            }
            int same = same_content(ref, f);
            /* read everything back through every getter: must not crash */
            for (int t = 0; t < pth_num_tensors(f); t++) {
                float *x = NULL;
                if (pth_get_f32(f, pth_tensor_name(f, t), &x, NULL, NULL) == DDPM_OK) ddpm_free(x);
            }
            pth_close(f);
            if (same) identical++;
            else changed++;
            ck_assert_msg(!zip || same, "%s: flipping byte %zu loaded different tensors without an error", fixtures[i],
                          pos);
        }
        fprintf(stderr, "%s: %zu single-byte flips: %d errors, %d identical loads, %d changed loads\n", fixtures[i],
                len, errors, identical, changed);
        ck_assert(errors > 0);
        free(c);
        free(b);
        pth_close(ref);
    }
}
END_TEST

static Suite *pth_suite(void)
{
    Suite *s = suite_create("pth");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_read_all_formats);
    tcase_add_test(tc, test_views_and_conversions);
    tcase_add_test(tc, test_clear_errors);
    tcase_add_test(tc, test_truncated_copies_fail);
    tcase_add_test(tc, test_flipped_bytes_fail_cleanly);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(pth_suite)
