/* progress.h — a progress line with rate and ETA on stderr for long loops.
 *
 * On a terminal the line is redrawn in place (at most 4 times a second); otherwise (CI, logs
 * redirected) a full line is printed every 10 s and at the end. */
#ifndef DDPM_PROGRESS_H
#define DDPM_PROGRESS_H

#include <stdint.h>

typedef struct {
    char label[64];
    int64_t total;
    double t_start, t_last;
    int64_t done_at_start; /* for resumed loops: the rate counts only work done here */
    int tty;
    int quiet;
    int width; /* terminal columns (tty only): the line is cut to fit, never wraps */
} progress;

void progress_begin(progress *p, const char *label, int64_t total, int64_t done_already);
/* extra: optional text appended (e.g. "loss 0.0312"), may be NULL. */
void progress_update(progress *p, int64_t done, const char *extra);
void progress_end(progress *p, const char *extra);
/* Formats seconds as 1h02m03s / 2m03s / 3.4s. */
const char *format_duration(double s, char *buf, int n);
/* Adapter for library loops that report (done, total) through a callback. */
void progress_callback(void *user, int done, int total);

#endif
