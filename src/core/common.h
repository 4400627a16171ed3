/* common.h — status codes and the error message every library call leaves behind.
 *
 * Contract: library functions return DDPM_OK (0) or DDPM_ERR (-1); on error they set a
 * one-line message with ddpm_error() naming the file/key and what to do. The library never
 * calls exit(); tools print ddpm_last_error() and choose the exit status. */
#ifndef DDPM_COMMON_H
#define DDPM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define DDPM_OK  0
#define DDPM_ERR (-1)

#if defined(__GNUC__)
#define DDPM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DDPM_PRINTF(a, b)
#endif

/* Sets the thread's last error message (printf-style) and returns DDPM_ERR. */
int ddpm_error(const char *fmt, ...) DDPM_PRINTF(1, 2);
/* "file: message" for readers of untrusted files: control characters in the message (names
 * quoted from the file) become '?', so it stays one printable line. Returns DDPM_ERR. */
int ddpm_error_in(const char *file, const char *fmt, ...) DDPM_PRINTF(2, 3);
/* Replaces control characters in s by '?' (text quoted from a file, kept one printable line). */
void ddpm_printable(char *s);
/* Prefixes the current message: "prefix: old message". Returns DDPM_ERR. */
int ddpm_error_prefix(const char *fmt, ...) DDPM_PRINTF(1, 2);
const char *ddpm_last_error(void);
void ddpm_clear_error(void);

/* Allocation that reports failure through ddpm_error(); returns NULL on failure.
 * Memory is zeroed. Aligned to 64 bytes for SIMD; free with ddpm_free(). */
void *ddpm_alloc(size_t bytes);
void ddpm_free(void *p);

/* Wall-clock seconds (monotonic). */
double ddpm_now(void);

#define DDPM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define DDPM_TRY(expr)                                                                                                 \
    do {                                                                                                               \
        if ((expr) != DDPM_OK) return DDPM_ERR;                                                                        \
    } while (0)

#endif
