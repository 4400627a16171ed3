#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Thread_local char g_err[1024];

int ddpm_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return DDPM_ERR;
}

int ddpm_error_in(const char *file, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ddpm_printable(msg);
    return ddpm_error("%s: %s", file, msg);
}

void ddpm_printable(char *s)
{
    for (char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
}

int ddpm_error_prefix(const char *fmt, ...)
{
    char old[sizeof g_err];
    va_list ap;
    memcpy(old, g_err, sizeof old);
    va_start(ap, fmt);
    int n = vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof g_err) {
        size_t used = (size_t)n;
        size_t room = sizeof g_err - used;
        size_t len = strlen(old);
        if (room > 3) {
            memcpy(g_err + used, ": ", 2);
            used += 2;
            room -= 2;
            if (len >= room) len = room - 1;
            memcpy(g_err + used, old, len);
            g_err[used + len] = 0;
        }
    }
    return DDPM_ERR;
}

const char *ddpm_last_error(void) { return g_err[0] ? g_err : "unknown error"; }
void ddpm_clear_error(void) { g_err[0] = 0; }

void *ddpm_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes > SIZE_MAX - 63) { /* rounding up would wrap around to a tiny block */
        ddpm_error("out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n == 0) n = 64;
    if (posix_memalign(&p, 64, n) != 0) {
        ddpm_error("out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    memset(p, 0, n);
    return p;
}

void ddpm_free(void *p) { free(p); }

double ddpm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
