/* paper_csv.h — the paper's numbers, read from paper/<table>.csv (the one place they are written).
 *
 * A small CSV reader: a header row of column names, then one row per line; fields separated by
 * commas, a field in double quotes may hold commas ("" is a quote). An empty numeric field is NaN
 * (the paper gives no number, e.g. an unstable run). Every error is one line naming the file and
 * the row (its line number) or column that is missing or malformed. */
#ifndef DDPM_EXPERIMENTS_PAPER_CSV_H
#define DDPM_EXPERIMENTS_PAPER_CSV_H

#define PAPER_CSV_MAX_COLS 16
#define PAPER_CSV_MAX_ROWS 32

typedef struct {
    char path[256];
    int ncols, nrows;
    char *cell[PAPER_CSV_MAX_ROWS + 1][PAPER_CSV_MAX_COLS]; /* row 0: the header */
    int line[PAPER_CSV_MAX_ROWS + 1];                       /* line number of each row */
} paper_csv;

/* Reads path (paper/table1.csv ...; DDPM_PAPER_DIR replaces paper/ when path starts with it). */
int paper_csv_load(paper_csv *t, const char *path);
void paper_csv_free(paper_csv *t);
/* Column index of name, or an error naming the file and the column. */
int paper_csv_col(const paper_csv *t, const char *name, int *col);
/* The data row (1..nrows) whose column key_col equals key, or an error naming file, column and key. */
int paper_csv_row(const paper_csv *t, const char *key_col, const char *key, int *row);
/* Number in row/column: empty -> NaN; text that is not a number -> error naming file, line, column. */
int paper_csv_num(const paper_csv *t, int row, const char *col, double *out);
/* Text in row/column (never NULL on success). */
int paper_csv_str(const paper_csv *t, int row, const char *col, const char **out);

#endif
