/* The fuzz harnesses (tests/fuzz/fuzz_*.c), built with the normal toolchain as
 * $(BUILD)/fuzz/replay_<name>, replayed over their seed corpora tests/fuzz/corpus/<name>/: every
 * input (valid files, broken ones, and the regressions of bugs fuzzing found) must leave the
 * reader returning a status with a one-line message, never aborting the harness. This keeps the
 * harnesses compiling and the readers' robustness checked on every `make test` (and under
 * ASan+UBSan in `make test-sanitize`); `make fuzz` searches for new inputs. */
#include "testutil.h"

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>

static const char *const TARGETS[] = { "config",     "png",      "pth",         "fashion_mnist", "cifar10",
                                       "checkpoint", "tfbundle", "safetensors", "npy",           "zip" };

/* Regular files directly inside dir (what the replay binary runs), or -1 if dir is missing. */
static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char p[PATH_MAX];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) n++;
    }
    closedir(d);
    return n;
}

/* $(BUILD)/fuzz/replay_<name>: this suite runs as $(BUILD)/tests/test_fuzz_replay. */
static void replay_path(char *out, size_t n, const char *name)
{
    char self[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert_msg(k > 0, "cannot resolve /proc/self/exe");
    self[k] = 0;
    char *slash = strrchr(self, '/');
    ck_assert(slash != NULL);
    *slash = 0;
    snprintf(out, n, "%s/../fuzz/replay_%s", self, name);
}

START_TEST(replay_corpus)
{
    const char *name = TARGETS[_i];
    char bin[PATH_MAX + 64], dir[256], cmd[2 * PATH_MAX], out[16384], want[128];
    replay_path(bin, sizeof bin, name);
    ck_assert_msg(access(bin, X_OK) == 0, "%s is missing: build it with make", bin);
    snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", name);
    int files = count_files(dir);
    ck_assert_msg(files >= 3, "%s: %d seed inputs (expected a corpus of at least 3)", dir, files);

    snprintf(cmd, sizeof cmd, "'%s' '%s'", bin, dir);
    int rc = test_run_capture(cmd, out, sizeof out);
    if (rc != 0) fprintf(stderr, "%s", out);
    ck_assert_msg(rc == 0, "replay_%s exited with %d over %s", name, rc, dir);
    snprintf(want, sizeof want, "%s: %d inputs replayed\n", name, files);
    ck_assert_msg(strstr(out, want) != NULL, "replay_%s: expected '%s', got:\n%s", name, want, out);
    fprintf(stderr, "%s", want);
}
END_TEST

/* A harness without an entry in TARGETS would never be replayed. */
START_TEST(every_harness_is_replayed)
{
    DIR *d = opendir("tests/fuzz");
    ck_assert_msg(d != NULL, "tests/fuzz is missing (run the suites from the repository root)");
    struct dirent *e;
    int harnesses = 0;
    while ((e = readdir(d)) != NULL) {
        size_t L = strlen(e->d_name);
        if (strncmp(e->d_name, "fuzz_", 5) != 0 || L < 8 || strcmp(e->d_name + L - 2, ".c") != 0) continue;
        harnesses++;
        int found = 0;
        for (size_t k = 0; k < sizeof TARGETS / sizeof TARGETS[0]; k++)
            found |= strlen(TARGETS[k]) == L - 7 && !strncmp(TARGETS[k], e->d_name + 5, L - 7);
        ck_assert_msg(found, "tests/fuzz/%s is not listed in TARGETS of test_fuzz_replay.c", e->d_name);
    }
    closedir(d);
    ck_assert_int_eq(harnesses, (int)(sizeof TARGETS / sizeof TARGETS[0]));
}
END_TEST

/* A corpus path that cannot be read must fail the replay rather than count as 0 clean inputs. */
START_TEST(replay_missing_path_fails)
{
    char bin[PATH_MAX + 64], cmd[2 * PATH_MAX], out[4096];
    replay_path(bin, sizeof bin, "config");
    snprintf(cmd, sizeof cmd, "'%s' tests/fuzz/corpus/no_such_dir", bin);
    ck_assert_int_eq(test_run_capture(cmd, out, sizeof out), 2);
    ck_assert_msg(strstr(out, "config: 0 inputs replayed"), "got: %s", out);
}
END_TEST

static Suite *fuzz_replay_suite(void)
{
    Suite *s = suite_create("fuzz_replay");
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, replay_corpus, 0, (int)(sizeof TARGETS / sizeof TARGETS[0]));
    tcase_add_test(tc, every_harness_is_replayed);
    tcase_add_test(tc, replay_missing_path_fails);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(fuzz_replay_suite)
