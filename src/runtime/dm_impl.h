/* dm_impl.h: the representation of nd_dm, shared by dm.c, dm_h5.c and the ScaLAPACK
 * backend (src/la/scalapack).  Private to the runtime and la modules.
 *
 * Invariant: a is the rank's local part, column-major, lld = max(1, mloc) rows, nloc
 * columns; desc is the ScaLAPACK descriptor over the grid of nd_spmd; mb == nb ==
 * nd_spmd_block_size() at creation.  Layout rules: docs/matrices.md.
 */
#ifndef ND_DM_IMPL_H
#define ND_DM_IMPL_H

#include "runtime/dm.h"

struct nd_dm {
    int64_t m, n;
    int nb;          /* square blocks */
    int mloc, nloc;  /* local rows and columns */
    int lld;
    int desc[9];
    double *a;       /* nd_malloc'd, lld * nloc doubles (at least 1): the host copy */
    size_t cap;      /* doubles allocated */
    double *dev;     /* the device copy (cap doubles, same layout) or NULL */
    unsigned at;     /* ND_AT_HOST | ND_AT_DEV: which copies are current (never 0) */
};

/* Residency.  With no device backend every matrix is ND_AT_HOST and the functions
 * below cost one test.  With one, device operations leave their results ND_AT_DEV and
 * the host code brings a copy back only when it needs the values (docs/gpu.md). */
enum { ND_AT_HOST = 1u, ND_AT_DEV = 2u };

/* The device backend (src/la/cuda): operations on the local parts of matrices of one
 * layout.  Every function returns ND_OK or an error the caller reports; device faults
 * that leave the device unusable end the job through nd_spmd_fatal.  Entries may be
 * NULL: the host code then runs the operation. */
typedef struct nd_dm_devops {
    const char *name;
    /* Rank-local memory: alloc returns NULL when the device is full. */
    double *(*alloc)(size_t n);
    void (*free)(double *p, size_t n);
    void (*upload)(double *d, const double *h, size_t n);
    void (*download)(double *h, const double *d, size_t n);
    void (*get1)(const double *d, double *v);
    void (*set1)(double *d, double v);
    /* Rank-local, on n contiguous elements. */
    void (*copy)(double *c, const double *a, size_t n);
    void (*ew)(nd_ew_op op, const double *a, const double *b, double *c, size_t n);
    void (*ew_scalar)(nd_ew_op op, const double *a, double s, bool scalar_left, double *c,
                      size_t n);
    void (*map)(nd_map_fn f, const double *a, double *c, size_t n);
    /* Collective.  part[bi + bj * nbr] for the blocks this rank owns, 0 elsewhere, in
     * exactly the order of the host code (bit-identical), combined across ranks. */
    nd_status (*partials)(const nd_dm *A, const nd_dm *B, int kind, double *part, size_t np);
    /* Collective.  C := A @ B; C was made by nd_dm_alloc_dev. */
    nd_status (*matmul)(const nd_dm *A, const nd_dm *B, nd_dm *C);
    /* Rank-local, on a 1x1 grid only: C := A.T (C made by nd_dm_alloc_dev). */
    void (*transpose)(const nd_dm *A, nd_dm *C);
    /* Rank-local: bytes the device can still allocate (free plus cached), or NULL. */
    size_t (*mem_avail)(void);
    /* Collective, called only on a 1x1 grid: the whole matrix on one device, either the
     * job's only rank or rank 0 in solo mode (spmd.h) with a gathered matrix.  The
     * errors of the host versions; results within rounding of theirs. */
    nd_status (*solve)(const nd_dm *A, const nd_dm *B, nd_dm **X);
    nd_status (*cholesky)(const nd_dm *A, nd_dm **L);
    nd_status (*eigh)(const nd_dm *A, nd_dm **w, nd_dm **V);
    nd_status (*qr)(const nd_dm *A, nd_dm **Q, nd_dm **R);
    /* m >= n: U m-by-n, s (n doubles, host, descending), V n-by-n; no sign convention. */
    nd_status (*svd_tall)(const nd_dm *A, nd_dm **U, double *s, nd_dm **V);
} nd_dm_devops;

/* The kinds of block partials of the reductions (dm.c).  NaN handling of min/max: a NaN
 * wins (the host code's nan_min/nan_max). */
enum { P_SUM, P_SUMSQ, P_MIN, P_MAX, P_DOT };
/* Rank-local: the partials of the blocks this rank owns, from local data a (and b for
 * P_DOT; both in A's layout), into part[bi + bj * nbr] (other entries untouched).  The
 * host's order, which the device kernels replay. */
void nd_dm_local_partials(const nd_dm *A, const double *a, const double *b, int kind,
                          double *part);

/* Rank-local: the backend in use, NULL for the host.  Set once, before any matrix. */
extern const nd_dm_devops *nd_dm_dev;
void nd_dm_set_backend(const nd_dm_devops *ops);
/* Rank-local: makes the host copy current (downloads it if needed). */
void nd_dm_host(const nd_dm *A);
/* Rank-local: the same, then the device copy is dropped (the host copy will change). */
void nd_dm_host_w(nd_dm *A);
/* Collective: makes the device copies of the n matrices current (uploads), agreeing on
 * failure (ND_ENOMEM "out of GPU memory" on every rank). */
nd_status nd_dm_to_dev(int n, const nd_dm *const *mats);
/* Collective: a new m-by-n matrix whose device copy the caller fills (ND_AT_DEV). */
nd_status nd_dm_alloc_dev(int64_t m, int64_t n, nd_dm **out);
/* Collective: a new matrix with A's values in host memory only (for the host code that
 * factors a copy in place). */
nd_status nd_dm_copy_host(const nd_dm *A, nd_dm **out);

/* Collective: a new zero-filled m-by-n matrix (checks sizes: ND_EPROG). */
nd_status nd_dm_alloc(int64_t m, int64_t n, nd_dm **out);
/* Rank-local: global index of local row li / local column lj. */
int64_t nd_dm_grow(const nd_dm *A, int li);
int64_t nd_dm_gcol(const nd_dm *A, int lj);
/* Rank-local, for any process of a dimension of np processes, blocks of nb dealt from
 * process 0: how many of the global indices [0, g) process p owns (numroc_ for a prefix,
 * in 64 bits), and the global index of p's local index l. */
int64_t nd_dm_owned(int64_t g, int nb, int p, int np);
int64_t nd_dm_global(int64_t l, int nb, int p, int np);
/* Collective: combines per-rank arrays in which every element is written by exactly
 * one rank (the others leave +0.0): bitwise OR, so the owner's bits arrive exactly. */
nd_status nd_dm_combine(double *buf, size_t n);
/* Rank-local: an ND_EPROG "matrix must be square (RxC)" unless A is square. */
nd_status nd_dm_need_square(const nd_dm *A);
/* Collective: scales the columns of A (and of B, when given) so that the entry of
 * largest magnitude in each column of A is positive (ties: the lowest row). */
nd_status nd_dm_sign_columns(nd_dm *A, nd_dm *B);
nd_status nd_dm_mpi_fail(const char *what, int rc);
/* Rank-local, for tests: the budget in elements of one Cpdgemr2d call of slices, slice
 * assignment and hcat/vcat (<= 0: the default, 2^27). */
void nd_dm_set_redist_piece(int64_t elems);
/* Rank-local: the piece shape (1 <= rows <= m, 1 <= cols <= n) for moving an m-by-n
 * block with block size nb: (rows + nb)(cols + nb) <= budget whenever (1 + nb)^2 <=
 * budget, and one piece when the whole block fits. */
void nd_dm_redist_shape(int64_t m, int64_t n, int64_t nb, int64_t budget, int64_t *rows,
                        int64_t *cols);

#endif
