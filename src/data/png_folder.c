/* png_folder.c — a data set made of the *.png files of one folder.
 *
 * Train = the *.png files of data_dir, test = those of data_dir/test (not recursive), sorted by file name in
 * byte order (strcmp) so the order does not depend on the file system or the locale. Files not
 * ending in .png (any case) are ignored; a file ending in .png that does not decode is an
 * error, as is any image whose size differs from image_size. No labels. */
#include "data/readers.h"

#include "core/common.h"
#include "core/fs.h"
#include "image/png_io.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef struct {
    char **names;
    int n, cap;
} name_list;

static void names_free(name_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    l->names = NULL;
    l->n = l->cap = 0;
}

static int names_push(name_list *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        char **p = realloc(l->names, (size_t)cap * sizeof *p);
        if (!p) return ddpm_error("out of memory listing PNG files");
        l->names = p;
        l->cap = cap;
    }
    l->names[l->n] = strdup(s);
    if (!l->names[l->n]) return ddpm_error("out of memory listing PNG files");
    l->n++;
    return DDPM_OK;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int has_png_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcasecmp(name + n - 4, ".png") == 0;
}

static int list_pngs(name_list *l, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return ddpm_error("%s: cannot open directory: %s", dir, strerror(errno));
    struct dirent *e;
    char path[4096];
    int rc = DDPM_OK;
    while (rc == DDPM_OK && (e = readdir(d)) != NULL) {
        if (!has_png_suffix(e->d_name)) continue;
        struct stat st;
        if (fs_join(path, sizeof path, dir, e->d_name) != DDPM_OK) {
            rc = DDPM_ERR;
            break;
        }
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        rc = names_push(l, e->d_name);
    }
    closedir(d);
    if (rc == DDPM_OK && l->n > 1) qsort(l->names, (size_t)l->n, sizeof *l->names, cmp_names);
    return rc;
}

static int read_all(dataset *ds, const char *dir, const name_list *l, int m, int image_size, int C)
{
    const size_t img_bytes = (size_t)image_size * image_size * C;
    ds->N = m;
    ds->H = ds->W = image_size;
    ds->C = C;
    ds->pixels = ddpm_alloc((size_t)m * img_bytes);
    if (!ds->pixels) return DDPM_ERR;
    char path[4096];
    for (int i = 0; i < m; i++) {
        DDPM_TRY(fs_join(path, sizeof path, dir, l->names[i]));
        uint8_t *img = NULL;
        int h = 0, w = 0;
        DDPM_TRY(png_read(&img, &h, &w, path, C));
        if (h != image_size || w != image_size) {
            ddpm_free(img);
            return ddpm_error("%s: image is %dx%d (HxW), expected %dx%d (image_size); resize the "
                              "data set or set image_size",
                              path, h, w, image_size, image_size);
        }
        memcpy(ds->pixels + (size_t)i * img_bytes, img, img_bytes);
        ddpm_free(img);
    }
    return DDPM_OK;
}

int png_folder_read(dataset *ds, const char *dir, int train, int max_n, int image_size, int C)
{
    char folder[4096];
    struct stat st;
    if (train) {
        if (snprintf(folder, sizeof folder, "%s", dir) >= (int)sizeof folder)
            return ddpm_error("%s: path too long", dir);
        if (stat(folder, &st) != 0 || !S_ISDIR(st.st_mode))
            return ddpm_error("%s: no such directory; set data_dir to a folder of *.png images", folder);
    } else {
        DDPM_TRY(fs_join(folder, sizeof folder, dir, "test"));
        if (stat(folder, &st) != 0 || !S_ISDIR(st.st_mode))
            return ddpm_error("%s: no such directory: the test split of a PNG data set is the "
                              "*.png files in data_dir/test; create it",
                              folder);
    }
    name_list l = { 0 };
    int rc = list_pngs(&l, folder);
    if (rc == DDPM_OK && l.n == 0) rc = ddpm_error("%s: no *.png files in this directory", folder);
    if (rc == DDPM_OK) {
        int m = (max_n > 0 && max_n < l.n) ? max_n : l.n;
        rc = read_all(ds, folder, &l, m, image_size, C);
        if (rc == DDPM_OK)
            data_set_source(ds, "%s %s: %s/*.png (%d of %d files, first %s)", C == 1 ? "png_gray" : "png_rgb",
                            train ? "train" : "test", folder, m, l.n, l.names[0]);
    }
    names_free(&l);
    return rc;
}
