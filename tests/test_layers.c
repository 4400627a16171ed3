/* test_layers.c — scripts/check_layers.sh (docs/architecture.md): the repository has no include
 * from a lower layer to a higher one, and the script does fail on such an edge. */
#include "testutil.h"

#include <sys/stat.h>

/* A throw-away tree root/src/<dir>/<file> holding one #include line. */
static void put_file(const char *root, const char *dir, const char *file, const char *include)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/src", root);
    mkdir(root, 0755);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/src/%s", root, dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/src/%s/%s", root, dir, file);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "/* test */\n#include \"%s\"\n#include <stdio.h>\n", include);
    fclose(f);
}

static int check_tree(const char *root, char *out, size_t n)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "bash scripts/check_layers.sh '%s'", root);
    return test_run_capture(cmd, out, n);
}

START_TEST(repository_has_no_back_edges)
{
    char out[8192];
    int rc = test_run_capture("bash scripts/check_layers.sh", out, sizeof out);
    ck_assert_msg(rc == 0, "check_layers.sh failed:\n%s", out);
    ck_assert_ptr_nonnull(strstr(out, "no back edges"));
}
END_TEST

START_TEST(back_edge_fails_and_is_named)
{
    const char *root = test_tmp_path("layers_back");
    put_file(root, "core", "a.c", "core/common.h");
    put_file(root, "model", "unet.h", "nn/conv2d.h");
    put_file(root, "io", "bad.c", "model/unet.h");
    char out[4096];
    ck_assert_int_eq(check_tree(root, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "src/io/bad.c includes \"model/unet.h\""), "%s", out);
    ck_assert_msg(!strstr(out, "src/model/unet.h includes"), "a downward edge was flagged: %s", out);
}
END_TEST

START_TEST(sideways_and_own_folder_pass)
{
    const char *root = test_tmp_path("layers_ok");
    put_file(root, "data", "png_folder.c", "image/png_io.h");
    put_file(root, "core", "progress.c", "dist/dist.h");
    put_file(root, "eval", "quality.c", "quality.h");
    put_file(root, "features", "fid.c", "train/optim.h");
    char out[4096];
    ck_assert_msg(check_tree(root, out, sizeof out) == 0, "%s", out);
}
END_TEST

START_TEST(unknown_folder_fails)
{
    const char *root = test_tmp_path("layers_unknown");
    put_file(root, "metrics", "fid.c", "core/common.h");
    char out[4096];
    ck_assert_int_eq(check_tree(root, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "src/metrics/ has no layer"), "%s", out);
}
END_TEST

static Suite *layers_suite(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("includes");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, repository_has_no_back_edges);
    tcase_add_test(tc, back_edge_fails_and_is_named);
    tcase_add_test(tc, sideways_and_own_folder_pass);
    tcase_add_test(tc, unknown_folder_fails);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(layers_suite)
