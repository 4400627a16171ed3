/* fid.h — Fréchet distance between Gaussians fitted to feature sets (FID when the features are
 * Inception pool3), and the statistics files that cache them.
 *
 * Conventions (pytorch-fid / TTUR): mu = mean, sigma = unbiased covariance (divide by N - 1),
 * both accumulated in double (two passes: mean first, then centered products);
 *   FD = ||mu1 - mu2||^2 + tr(s1) + tr(s2) - 2 tr sqrt(s1 s2).
 * tr sqrt(s1 s2) is computed without complex numbers through the symmetric form
 * tr sqrt(A s2 A), A = s1^(1/2): s1 = V diag(l) V^T (LAPACK dsyevd), A = V diag(sqrt(max(l,0)))
 * V^T, then the eigenvalues m of the symmetric PSD matrix A s2 A give sum sqrt(max(m, 0)).
 * (s1 s2 = A (A s2 A) A^-1 when s1 is invertible, so both have the same eigenvalues; for
 * singular s1 this is the continuous extension.) Round-off negatives are clamped to 0.
 * pytorch-fid instead calls scipy.linalg.sqrtm on the non-symmetric product, which loses
 * accuracy when the covariances are singular (fewer samples than dimensions). */
#ifndef DDPM_FID_H
#define DDPM_FID_H

#include <stddef.h>

/* feats: (N, D) float32 rows; mu: (D) out; sigma: (D, D) out. N >= 2. */
int feature_stats(const float *feats, int N, int D, double *mu, double *sigma);

/* out = FD between N(mu1, s1) and N(mu2, s2); s1, s2: (D, D) symmetric (only their values are
 * read; not modified). Error if an input is not finite. */
int frechet_distance(const double *mu1, const double *s1, const double *mu2, const double *s2, int D, double *out);

/* HDF5 statistics file: datasets mu (D) and sigma (D, D) float64, attributes extractor (what
 * produced the features, e.g. "inception-pool3"), version and, when not NULL, reference (what
 * the statistics are of). Written atomically: a crash leaves the previous file intact. */
int stats_save(const char *path, const double *mu, const double *sigma, int D, const char *extractor,
               const char *reference);
/* Allocates *mu and *sigma with ddpm_alloc (free with ddpm_free). */
int stats_load(const char *path, double **mu, double **sigma, int *D);

/* Any of: HDF5 statistics (mu, sigma), a NumPy .npz/.npy statistics file (mu [D], sigma [D,D],
 * e.g. TTUR's fid_stats_cifar10_train.npz; no extractor attribute), or HDF5 features (dataset pool3 or features, (N, D)),
 * from which statistics are computed. extractor (may be NULL) receives the file's extractor
 * attribute or "" when it has none; *n_out (may be NULL) the number of feature rows (0 for a
 * statistics file). */
int stats_load_any(const char *path, double **mu, double **sigma, int *D, char *extractor, size_t extractor_len,
                   long *n_out);

#endif
