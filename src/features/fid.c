/* fid.c — feature statistics, the Fréchet distance by symmetric eigendecompositions, and the
 * statistics files. Contract in fid.h. */
#include "features/fid.h"

#include "core/common.h"
#include "io/h5io.h"
#include "io/npy.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define STATS_VERSION 1

/* LAPACK (in libopenblas): symmetric eigendecomposition, divide and conquer. The trailing
 * size_t arguments are the hidden lengths of the two character arguments (gfortran ABI). */
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
                    double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t jobz_len,
                    size_t uplo_len);

int feature_stats(const float *feats, int N, int D, double *mu, double *sigma)
{
    if (N < 2 || D < 1) return ddpm_error("feature_stats: need at least 2 feature rows (got N=%d, D=%d)", N, D);
    for (int j = 0; j < D; j++) mu[j] = 0;
    for (long i = 0; i < N; i++)
        for (int j = 0; j < D; j++) mu[j] += (double)feats[(size_t)i * D + j];
    for (int j = 0; j < D; j++) mu[j] /= N;
    /* sigma = sum over rows of (x - mu)(x - mu)^T / (N - 1), rows centered in double chunks */
    const int chunk = 256;
    double *xc = ddpm_alloc((size_t)chunk * D * sizeof *xc);
    if (!xc) return DDPM_ERR;
    memset(sigma, 0, (size_t)D * D * sizeof *sigma);
    for (int i0 = 0; i0 < N; i0 += chunk) {
        int rows = N - i0 < chunk ? N - i0 : chunk;
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < D; j++) xc[(size_t)r * D + j] = (double)feats[(size_t)(i0 + r) * D + j] - mu[j];
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, D, rows, 1.0 / (N - 1), xc, D, 1.0, sigma, D);
    }
    for (int a = 0; a < D; a++)
        for (int b = 0; b < a; b++) sigma[(size_t)a * D + b] = sigma[(size_t)b * D + a];
    ddpm_free(xc);
    return DDPM_OK;
}

/* Eigenvalues (ascending) into w and, with vectors, eigenvectors as the columns of the
 * column-major a (D x D). a is overwritten. */
static int sym_eig(double *a, double *w, int D, int vectors)
{
    const char jobz = vectors ? 'V' : 'N', uplo = 'U';
    int lwork = -1, liwork = -1, info = 0, iw_query = 0;
    double w_query = 0;
    dsyevd_(&jobz, &uplo, &D, a, &D, w, &w_query, &lwork, &iw_query, &liwork, &info, 1, 1);
    if (info != 0) return ddpm_error("frechet_distance: dsyevd workspace query failed (info %d)", info);
    lwork = (int)w_query;
    liwork = iw_query;
    double *work = ddpm_alloc((size_t)lwork * sizeof *work);
    int *iwork = ddpm_alloc((size_t)liwork * sizeof *iwork);
    if (!work || !iwork) {
        ddpm_free(work);
        ddpm_free(iwork);
        return DDPM_ERR;
    }
    dsyevd_(&jobz, &uplo, &D, a, &D, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    ddpm_free(work);
    ddpm_free(iwork);
    if (info != 0) return ddpm_error("frechet_distance: eigendecomposition did not converge (info %d)", info);
    return DDPM_OK;
}

int frechet_distance(const double *mu1, const double *s1, const double *mu2, const double *s2, int D, double *out)
{
    if (D < 1) return ddpm_error("frechet_distance: dimension %d", D);
    const size_t DD = (size_t)D * D;
    double diff2 = 0, tr1 = 0, tr2 = 0;
    for (int j = 0; j < D; j++) {
        double d = mu1[j] - mu2[j];
        diff2 += d * d;
        tr1 += s1[(size_t)j * D + j];
        tr2 += s2[(size_t)j * D + j];
    }
    for (size_t k = 0; k < DD; k++)
        if (!isfinite(s1[k]) || !isfinite(s2[k]))
            return ddpm_error("frechet_distance: covariance has a non-finite entry");
    if (!isfinite(diff2)) return ddpm_error("frechet_distance: mean has a non-finite entry");
    double *V = ddpm_alloc(DD * sizeof *V), *A = ddpm_alloc(DD * sizeof *A);
    double *T = ddpm_alloc(DD * sizeof *T), *w = ddpm_alloc((size_t)D * sizeof *w);
    int rc = V && A && T && w ? DDPM_OK : DDPM_ERR;
    if (rc == DDPM_OK) {
        /* s1 = V diag(l) V^T;  U = V diag(max(l,0)^(1/4));  A = U U^T = s1^(1/2) */
        for (int a = 0; a < D; a++) /* symmetrize: only the upper triangle is used */
            for (int b = 0; b < D; b++) V[(size_t)a * D + b] = 0.5 * (s1[(size_t)a * D + b] + s1[(size_t)b * D + a]);
        rc = sym_eig(V, w, D, 1);
    }
    if (rc == DDPM_OK) {
        for (int j = 0; j < D; j++) {
            double q = sqrt(sqrt(w[j] > 0 ? w[j] : 0));
            for (int i = 0; i < D; i++) V[(size_t)j * D + i] *= q; /* column j, column-major */
        }
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, D, D, 1.0, V, D, 0.0, A, D);
        for (int j = 0; j < D; j++)
            for (int i = j + 1; i < D; i++) A[(size_t)j * D + i] = A[(size_t)i * D + j];
        /* M = A s2 A (symmetric PSD): T = s2 A, M = A T */
        cblas_dsymm(CblasColMajor, CblasLeft, CblasUpper, D, D, 1.0, s2, D, A, D, 0.0, T, D);
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, D, D, D, 1.0, A, D, T, D, 0.0, V, D);
        for (int j = 0; j < D; j++)
            for (int i = 0; i < j; i++) {
                double m = 0.5 * (V[(size_t)j * D + i] + V[(size_t)i * D + j]);
                V[(size_t)j * D + i] = V[(size_t)i * D + j] = m;
            }
        rc = sym_eig(V, w, D, 0);
    }
    if (rc == DDPM_OK) {
        double tr_sqrt = 0;
        for (int j = 0; j < D; j++) tr_sqrt += sqrt(w[j] > 0 ? w[j] : 0);
        *out = diff2 + tr1 + tr2 - 2.0 * tr_sqrt;
    }
    ddpm_free(V);
    ddpm_free(A);
    ddpm_free(T);
    ddpm_free(w);
    return rc;
}

int stats_save(const char *path, const double *mu, const double *sigma, int D, const char *extractor,
               const char *reference)
{
    hid_t f = h5io_create_tmp(path);
    if (f < 0) return DDPM_ERR;
    hsize_t d1[1] = { (hsize_t)D }, d2[2] = { (hsize_t)D, (hsize_t)D };
    int rc = h5io_write_f64(f, "mu", mu, 1, d1);
    if (rc == DDPM_OK) rc = h5io_write_f64(f, "sigma", sigma, 2, d2);
    if (rc == DDPM_OK) rc = h5io_attr_str(f, ".", "extractor", extractor ? extractor : "");
    if (rc == DDPM_OK) rc = h5io_attr_i64(f, ".", "version", STATS_VERSION);
    if (rc == DDPM_OK && reference) rc = h5io_attr_str(f, ".", "reference", reference);
    if (rc != DDPM_OK) {
        h5io_abandon(f, path);
        return DDPM_ERR;
    }
    return h5io_commit(f, path);
}

static int load_stats_open(hid_t f, const char *path, double **mu, double **sigma, int *D)
{
    int r1, r2;
    hsize_t d1[H5IO_MAX_RANK], d2[H5IO_MAX_RANK];
    *mu = *sigma = NULL;
    DDPM_TRY(h5io_shape(f, "mu", &r1, d1));
    DDPM_TRY(h5io_shape(f, "sigma", &r2, d2));
    if (r1 != 1 || r2 != 2 || d2[0] != d1[0] || d2[1] != d1[0] || d1[0] < 1 || d1[0] > 1u << 16)
        return ddpm_error("%s: mu must be (D) and sigma (D, D)", path);
    if (h5io_read_f64(f, "mu", mu, NULL, NULL) != DDPM_OK) return DDPM_ERR;
    if (h5io_read_f64(f, "sigma", sigma, NULL, NULL) != DDPM_OK) {
        ddpm_free(*mu);
        *mu = NULL;
        return DDPM_ERR;
    }
    *D = (int)d1[0];
    return DDPM_OK;
}

int stats_load(const char *path, double **mu, double **sigma, int *D)
{
    hid_t f = h5io_open(path, 0);
    if (f < 0) return DDPM_ERR;
    int rc = load_stats_open(f, path, mu, sigma, D);
    h5io_close(f);
    return rc;
}

/* NumPy statistics (.npz with mu [D] and sigma [D,D], e.g. TTUR's fid_stats_cifar10_train.npz). */
static int load_npz_stats(const char *path, double **mu, double **sigma, int *D)
{
    npy_file *f;
    DDPM_TRY(npy_open(&f, path));
    int im = npy_find(f, "mu"), is = npy_find(f, "sigma");
    int rm = 0, rs = 0, rc = DDPM_OK;
    int64_t sm[IO_MAX_RANK], ss[IO_MAX_RANK];
    if (im < 0 || is < 0) rc = ddpm_error("%s: a NumPy statistics file needs arrays mu and sigma", path);
    if (rc == DDPM_OK) rc = npy_array_info(f, im, NULL, &rm, sm, NULL, NULL);
    if (rc == DDPM_OK) rc = npy_array_info(f, is, NULL, &rs, ss, NULL, NULL);
    if (rc == DDPM_OK && (rm != 1 || rs != 2 || ss[0] != sm[0] || ss[1] != sm[0] || sm[0] < 1 || sm[0] > 65536))
        rc = ddpm_error("%s: mu must be [D] and sigma [D,D] (got rank %d and %d)", path, rm, rs);
    if (rc == DDPM_OK) rc = npy_get_f64(f, im, mu);
    if (rc == DDPM_OK) rc = npy_get_f64(f, is, sigma);
    if (rc == DDPM_OK) *D = (int)sm[0];
    npy_close(f);
    if (rc != DDPM_OK) {
        ddpm_free(*mu);
        ddpm_free(*sigma);
        *mu = *sigma = NULL;
    }
    return rc;
}

static int is_numpy_file(const char *path)
{
    unsigned char m[6] = { 0 };
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    size_t n = fread(m, 1, sizeof m, fp);
    fclose(fp);
    return (n >= 4 && !memcmp(m, "PK\3\4", 4)) || (n == 6 && !memcmp(m, "\x93NUMPY", 6));
}

int stats_load_any(const char *path, double **mu, double **sigma, int *D, char *extractor, size_t extractor_len,
                   long *n_out)
{
    *mu = *sigma = NULL;
    if (extractor && extractor_len) extractor[0] = 0;
    if (n_out) *n_out = 0;
    if (is_numpy_file(path)) return load_npz_stats(path, mu, sigma, D);
    hid_t f = h5io_open(path, 0);
    if (f < 0) return DDPM_ERR;
    int rc;
    if (extractor && extractor_len && h5io_attr_exists(f, ".", "extractor") == 1)
        h5io_get_attr_str(f, ".", "extractor", extractor, extractor_len);
    if (h5io_exists(f, "mu") == 1 && h5io_exists(f, "sigma") == 1) {
        rc = load_stats_open(f, path, mu, sigma, D);
    } else {
        const char *name = h5io_exists(f, "pool3") == 1 ? "pool3" : h5io_exists(f, "features") == 1 ? "features" : NULL;
        float *x = NULL;
        int r = 0;
        hsize_t d[H5IO_MAX_RANK];
        if (!name) rc = ddpm_error("%s: neither statistics (mu, sigma) nor features (pool3 or features)", path);
        else if ((rc = h5io_read_f32(f, name, &x, &r, d)) == DDPM_OK && (r != 2 || d[0] < 2))
            rc = ddpm_error("%s: %s must be (N, D) with N >= 2", path, name);
        if (rc == DDPM_OK) {
            *mu = ddpm_alloc((size_t)d[1] * sizeof **mu);
            *sigma = ddpm_alloc((size_t)d[1] * d[1] * sizeof **sigma);
            rc = *mu && *sigma ? feature_stats(x, (int)d[0], (int)d[1], *mu, *sigma) : DDPM_ERR;
            *D = (int)d[1];
            if (n_out) *n_out = (long)d[0];
        }
        ddpm_free(x);
        if (rc != DDPM_OK) {
            ddpm_free(*mu);
            ddpm_free(*sigma);
            *mu = *sigma = NULL;
        }
    }
    h5io_close(f);
    return rc;
}
