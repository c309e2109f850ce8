/* dm_layout.h: the representation of nd_dm for the linear-algebra backends (src/la):
 * layout, local data, descriptor, residency, and the device table.  The interface
 * between the runtime's distributed matrices and the code that computes on their local
 * parts; what only the runtime uses stays in dm_impl.h.
 *
 * Invariant: a is the rank's local part, column-major, lld = max(1, mloc) rows, nloc
 * columns; desc is the ScaLAPACK descriptor over the grid of nd_spmd; mb == nb ==
 * nd_spmd_block_size() at creation.  Layout rules: docs/matrices.md.
 */
#ifndef ND_DM_LAYOUT_H
#define ND_DM_LAYOUT_H

#include "runtime/dm.h"

struct nd_dm {
    int64_t m, n;    /* the storage shape (the fold of runtime/arr.h) */
    int nd;          /* the logical shape: nd dimensions, shape[nd..] == 1 */
    int64_t shape[ND_MAXDIM];
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

/* The device's memory, elementwise and reduction primitives (src/la/cuda fills it), on
 * the local parts of matrices of one layout: what the runtime needs to keep matrices
 * resident on a device.  The device's linear algebra is la's table (la/backend.h).
 * Device faults that leave the device unusable end the job through nd_spmd_fatal.
 * Entries may be NULL where noted: the host code then runs the operation. */
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
    /* Rank-local: c[k] := (m ? m[k] : ms) != 0 ? (a ? a[k] : as) : (b ? b[k] : bs); may
     * be NULL. */
    void (*where)(const double *m, double ms, const double *a, double as, const double *b,
                  double bs, double *c, size_t n);
    /* Collective: the partials of a reduction along the storage rows (rows) or columns
     * of A (arr_axis.c): part[blk + line * nblk] for the lines and blocks this rank
     * owns, 0 elsewhere, of kind ND_AXP_* (mean: nlines values in host memory, for
     * ND_AXP_SQDEV; the ARG kinds fill two doubles per entry, the value and the bits of
     * its index along the line + 1), in exactly the host code's order, combined across
     * ranks.  May be NULL. */
    nd_status (*axis_partials)(const nd_dm *A, bool rows, int kind, const double *mean,
                               int64_t nlines, int64_t nblk, double *part, size_t np);
    /* Rank-local, on a 1x1 grid only: C := A.T (C made by nd_dm_alloc_dev); may be NULL. */
    void (*transpose)(const nd_dm *A, nd_dm *C);
    /* Rank-local: bytes the device can still allocate (free plus cached); may be NULL. */
    size_t (*mem_avail)(void);
} nd_dm_devops;

/* min/max folds where a NaN wins: once acc is NaN it stays; written as selects, so
 * loops of them vectorize. */
static inline double nd_nan_min(double acc, double x)
{
    return (x < acc || x != x) && acc == acc ? x : acc;
}
static inline double nd_nan_max(double acc, double x)
{
    return (x > acc || x != x) && acc == acc ? x : acc;
}

/* The host loops of elementwise work and reductions: gcc's -O2 vectorizes only loops
 * whose trip count needs no scalar remainder, so they ask for the dynamic cost model,
 * and on x86-64 for AVX2 and AVX-512 clones chosen at load time (about 2x on AVX-512 at
 * 10^6 elements).  The results do not depend on the clone: -std=c11 turns off FMA
 * contraction, and reductions fix their order in code (explicit lanes). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define ND_VECTORIZE                                                                     \
    __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic"),                \
                   target_clones("default", "avx2", "avx512f")))
#elif defined(__GNUC__) && !defined(__clang__)
#define ND_VECTORIZE __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
#else
#define ND_VECTORIZE
#endif

/* The kinds of axis partials (arr_axis.c): sum; sum of squared deviations from the
 * line's mean; min; max; count of nonzeros; argmin; argmax. */
enum { ND_AXP_SUM, ND_AXP_SQDEV, ND_AXP_MIN, ND_AXP_MAX, ND_AXP_NNZ, ND_AXP_ARGMIN, ND_AXP_ARGMAX };

/* The kinds of block partials of the reductions (dm.c).  NaN handling of min/max: a NaN
 * wins (nd_nan_min/nd_nan_max). */
enum { P_SUM, P_SUMSQ, P_MIN, P_MAX, P_DOT };
/* Rank-local: the partials of the blocks this rank owns, from local data a (and b for
 * P_DOT; both in A's layout), into part[bi + bj * nbr] (other entries untouched).  The
 * host's order, which the device kernels replay. */
void nd_dm_local_partials(const nd_dm *A, const double *a, const double *b, int kind,
                          double *part);

/* Rank-local: the device in use, NULL for the host.  Set once, before any matrix. */
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
/* Collective: scales the columns of A (and of B, when given) so that the entry of
 * largest magnitude in each column of A is positive (ties: the lowest row). */
nd_status nd_dm_sign_columns(nd_dm *A, nd_dm *B);

#endif
