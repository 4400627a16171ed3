/* fuzz_common.h — helpers shared by the fuzz harnesses (tests/fuzz/fuzz_*.c) and replay_main.c.
 *
 * A harness "passes" an input when the reader returns DDPM_OK with consistent outputs, or
 * DDPM_ERR with a non-empty one-line message, without crashing, leaking or touching memory it
 * does not own. A violated expectation calls fuzz_fail(), which aborts: libFuzzer records the
 * input as a crash, and the replay binaries exit non-zero. */
#ifndef DDPM_FUZZ_COMMON_H
#define DDPM_FUZZ_COMMON_H

#include "core/common.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The libFuzzer entry point every harness defines (and replay_main.c calls). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fuzz_fail(const char *fmt, ...) DDPM_PRINTF(1, 2) __attribute__((noreturn));
static inline void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz harness: expectation violated: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

#define FUZZ_EXPECT(cond, ...)                                                                                         \
    do {                                                                                                               \
        if (!(cond)) fuzz_fail(__VA_ARGS__);                                                                           \
    } while (0)

/* After a DDPM_ERR: the message must exist and be one line (the tools print it as is). */
static inline void fuzz_expect_error_message(const char *call)
{
    const char *m = ddpm_last_error();
    FUZZ_EXPECT(m && m[0] && strcmp(m, "unknown error") != 0, "%s failed without a message", call);
    FUZZ_EXPECT(!strchr(m, '\n') && !strchr(m, '\r'), "%s: error message is not one line: %s", call, m);
}

/* With DDPM_FUZZ_VERBOSE set, prints the reader's verdict on the input (for triage of a corpus:
 * `DDPM_FUZZ_VERBOSE=1 build/fuzz/replay_png FILE`). */
static inline void fuzz_verdict(const char *call, int rc)
{
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("DDPM_FUZZ_VERBOSE") != NULL;
    if (verbose) fprintf(stderr, "%s: %s\n", call, rc == DDPM_OK ? "accepted" : ddpm_last_error());
}

/* Writes n bytes to path (replacing it); aborts on I/O failure, which is not the input's fault.
 * A new file each time: ext4 flushes a file truncated and rewritten in place on close
 * (auto_da_alloc), which made every input cost a disk write (~5 ms). */
static inline void fuzz_write_file(const char *path, const void *data, size_t n)
{
    unlink(path);
    FILE *f = fopen(path, "wb");
    FUZZ_EXPECT(f != NULL, "cannot create %s", path);
    FUZZ_EXPECT(n == 0 || fwrite(data, 1, n, f) == n, "cannot write %s", path);
    FUZZ_EXPECT(fclose(f) == 0, "cannot close %s", path);
}

/* A private directory under $TMPDIR (or /tmp), made on first use and removed with every file
 * in `names` (relative paths; subdirectories listed after their files) when the process exits. */
static char fuzz_dir_[512];
static const char *const *fuzz_dir_names_;

static inline void fuzz_dir_cleanup_(void)
{
    char p[1024];
    for (const char *const *n = fuzz_dir_names_; n && *n; n++) {
        snprintf(p, sizeof p, "%s/%s", fuzz_dir_, *n);
        if (unlink(p) != 0) rmdir(p);
    }
    rmdir(fuzz_dir_);
}

static inline const char *fuzz_private_dir(const char *tag, const char *const *names)
{
    if (fuzz_dir_[0]) return fuzz_dir_;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !tmp[0]) tmp = "/tmp";
    snprintf(fuzz_dir_, sizeof fuzz_dir_, "%s/ddpm_fuzz_%s_XXXXXX", tmp, tag);
    FUZZ_EXPECT(mkdtemp(fuzz_dir_) != NULL, "cannot create a temporary directory under %s", tmp);
    fuzz_dir_names_ = names;
    atexit(fuzz_dir_cleanup_);
    return fuzz_dir_;
}

/* Path of `name` inside the private directory (static buffer per call site is the caller's). */
static inline void fuzz_path(char *out, size_t n, const char *name)
{
    FUZZ_EXPECT(snprintf(out, n, "%s/%s", fuzz_dir_, name) < (int)n, "path too long");
}

#endif
