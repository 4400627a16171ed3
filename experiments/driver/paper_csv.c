#include "driver/paper_csv.h"

#include "core/common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One line split into fields (quotes removed) in place; returns the field count or -1 on an
 * unterminated quote. */
static int split_line(char *s, char **fields, int maxf)
{
    int n = 0;
    char *w = s;
    for (;;) {
        if (n >= maxf) return maxf + 1;
        fields[n++] = w;
        if (*s == '"') {
            s++;
            for (;;) {
                if (!*s) return -1;
                if (*s == '"' && s[1] == '"') {
                    *w++ = '"';
                    s += 2;
                    continue;
                }
                if (*s == '"') {
                    s++;
                    break;
                }
                *w++ = *s++;
            }
            if (*s && *s != ',') return -1;
        } else {
            while (*s && *s != ',') *w++ = *s++;
        }
        if (!*s) {
            *w = 0;
            return n;
        }
        *w++ = 0; /* the comma */
        s++;
        w = s;
    }
}

int paper_csv_load(paper_csv *t, const char *path)
{
    memset(t, 0, sizeof *t);
    const char *dir = getenv("DDPM_PAPER_DIR");
    if (dir && !strncmp(path, "paper/", 6)) snprintf(t->path, sizeof t->path, "%s/%s", dir, path + 6);
    else snprintf(t->path, sizeof t->path, "%s", path);
    FILE *f = fopen(t->path, "r");
    if (!f)
        return ddpm_error("%s: cannot read the paper's numbers (%s); run from the repository root", t->path,
                          strerror(errno));
    char buf[2048];
    int lineno = 0, rc = DDPM_OK;
    while (rc == DDPM_OK && fgets(buf, sizeof buf, f)) {
        lineno++;
        size_t L = strlen(buf);
        if (L && buf[L - 1] != '\n' && !feof(f)) {
            rc = ddpm_error("%s:%d: line too long", t->path, lineno);
            break;
        }
        while (L && (buf[L - 1] == '\n' || buf[L - 1] == '\r')) buf[--L] = 0;
        if (!L) continue;
        if (t->nrows >= PAPER_CSV_MAX_ROWS) {
            rc = ddpm_error("%s:%d: more than %d rows", t->path, lineno, PAPER_CSV_MAX_ROWS);
            break;
        }
        char *fields[PAPER_CSV_MAX_COLS + 1];
        int n = split_line(buf, fields, PAPER_CSV_MAX_COLS);
        if (n < 0) {
            rc = ddpm_error("%s:%d: unterminated quoted field", t->path, lineno);
            break;
        }
        if (n > PAPER_CSV_MAX_COLS) {
            rc = ddpm_error("%s:%d: more than %d columns", t->path, lineno, PAPER_CSV_MAX_COLS);
            break;
        }
        const int r = t->ncols == 0 ? 0 : t->nrows + 1; /* the first line is the header */
        if (r == 0) t->ncols = n;
        else if (n != t->ncols) {
            rc = ddpm_error("%s:%d: %d fields, but the header has %d columns", t->path, lineno, n, t->ncols);
            break;
        }
        for (int c = 0; c < n && rc == DDPM_OK; c++) {
            t->cell[r][c] = strdup(fields[c]);
            if (!t->cell[r][c]) rc = ddpm_error("%s: out of memory", t->path);
        }
        t->line[r] = lineno;
        if (r > 0) t->nrows++;
    }
    fclose(f);
    if (rc == DDPM_OK && t->ncols == 0)
        rc = ddpm_error("%s: empty (expected a header row and the paper's rows)", t->path);
    if (rc != DDPM_OK) paper_csv_free(t);
    return rc;
}

void paper_csv_free(paper_csv *t)
{
    for (int r = 0; r <= PAPER_CSV_MAX_ROWS; r++)
        for (int c = 0; c < PAPER_CSV_MAX_COLS; c++) {
            free(t->cell[r][c]);
            t->cell[r][c] = NULL;
        }
    t->nrows = t->ncols = 0;
}

int paper_csv_col(const paper_csv *t, const char *name, int *col)
{
    for (int c = 0; c < t->ncols; c++)
        if (!strcmp(t->cell[0][c], name)) {
            *col = c;
            return DDPM_OK;
        }
    return ddpm_error("%s: no column '%s' in the header (line 1)", t->path, name);
}

int paper_csv_row(const paper_csv *t, const char *key_col, const char *key, int *row)
{
    int c = 0;
    DDPM_TRY(paper_csv_col(t, key_col, &c));
    for (int r = 1; r <= t->nrows; r++)
        if (!strcmp(t->cell[r][c], key)) {
            *row = r;
            return DDPM_OK;
        }
    return ddpm_error("%s: no row with %s = %s", t->path, key_col, key);
}

int paper_csv_str(const paper_csv *t, int row, const char *col, const char **out)
{
    int c = 0;
    DDPM_TRY(paper_csv_col(t, col, &c));
    if (row < 1 || row > t->nrows) return ddpm_error("%s: no data row %d", t->path, row);
    *out = t->cell[row][c];
    return DDPM_OK;
}

int paper_csv_num(const paper_csv *t, int row, const char *col, double *out)
{
    const char *s;
    DDPM_TRY(paper_csv_str(t, row, col, &s));
    if (!*s) {
        *out = (double)NAN;
        return DDPM_OK;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return ddpm_error("%s:%d: column %s: '%s' is not a number", t->path, t->line[row], col, s);
    *out = v;
    return DDPM_OK;
}
