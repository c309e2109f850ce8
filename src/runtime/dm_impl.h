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
    double *a;       /* nd_malloc'd, lld * nloc doubles (at least 1) */
    size_t cap;      /* doubles allocated */
};

/* Collective: a new zero-filled m-by-n matrix (checks sizes: ND_EPROG). */
nd_status nd_dm_alloc(int64_t m, int64_t n, nd_dm **out);
/* Rank-local: global index of local row li / local column lj. */
int64_t nd_dm_grow(const nd_dm *A, int li);
int64_t nd_dm_gcol(const nd_dm *A, int lj);
/* Collective: combines per-rank arrays in which every element is written by exactly
 * one rank (the others leave +0.0): bitwise OR, so the owner's bits arrive exactly. */
nd_status nd_dm_combine(double *buf, size_t n);
/* Rank-local: an ND_EPROG "matrix must be square (RxC)" unless A is square. */
nd_status nd_dm_need_square(const nd_dm *A);
/* Collective: scales the columns of A (and of B, when given) so that the entry of
 * largest magnitude in each column of A is positive (ties: the lowest row). */
nd_status nd_dm_sign_columns(nd_dm *A, nd_dm *B);
nd_status nd_dm_mpi_fail(const char *what, int rc);

#endif
