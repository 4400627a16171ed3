#include "progress.h"

#include "dist/dist.h"

#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

const char *format_duration(double s, char *buf, int n)
{
    if (s < 0 || s != s) s = 0;
    if (s < 60) snprintf(buf, (size_t)n, "%.1fs", s);
    else if (s < 3600) snprintf(buf, (size_t)n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, (size_t)n, "%dh%02dm%02ds", (int)s / 3600, ((int)s / 60) % 60, (int)s % 60);
    return buf;
}

void progress_begin(progress *p, const char *label, int64_t total, int64_t done_already)
{
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->total = total;
    p->t_start = p->t_last = ddpm_now();
    p->done_at_start = done_already;
    p->tty = isatty(2);
    p->quiet = getenv("DDPM_QUIET") != NULL || dist_rank() != 0; /* rank 0 speaks for an MPI job */
    struct winsize ws;
    p->width = p->tty && ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 0;
}

static void draw(progress *p, int64_t done, const char *extra, int final)
{
    double now = ddpm_now(), el = now - p->t_start;
    double rate = el > 0 ? (double)(done - p->done_at_start) / el : 0;
    double eta = rate > 0 ? (double)(p->total - done) / rate : 0;
    char e1[32], e2[32];
    int pct = p->total > 0 ? (int)(100.0 * (double)done / (double)p->total) : 100;
    char line[512];
    snprintf(line, sizeof line, "%s %lld/%lld [%3d%%] %.2f/s elapsed %s %s %s%s%s", p->label, (long long)done,
             (long long)p->total, pct, rate, format_duration(el, e1, 32), final ? "" : "ETA",
             final ? "" : format_duration(eta, e2, 32), extra ? "  " : "", extra ? extra : "");
    /* A line wider than the terminal wraps, and every redraw would then scroll a new line. */
    if (p->width > 1 && strlen(line) >= (size_t)p->width) line[p->width - 1] = 0;
    fprintf(stderr, "%s%s%s", p->tty ? "\r" : "", line, p->tty ? "\033[K" : "\n");
    if (final && p->tty) fputc('\n', stderr);
    fflush(stderr);
}

void progress_update(progress *p, int64_t done, const char *extra)
{
    if (p->quiet) return;
    double now = ddpm_now();
    double every = p->tty ? 0.25 : 10.0;
    if (now - p->t_last < every && done < p->total) return;
    if (!p->tty && done >= p->total) return; /* the final line is progress_end's (piped output: once) */
    p->t_last = now;
    draw(p, done, extra, 0);
}

void progress_end(progress *p, const char *extra)
{
    if (p->quiet) return;
    draw(p, p->total, extra, 1);
}

void progress_callback(void *user, int done, int total)
{
    progress *p = user;
    if (p->total != total) p->total = total;
    progress_update(p, done, NULL);
}
