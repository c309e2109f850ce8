/* backend.h: the method table of a linear-algebra backend (nd_la_ops), filled by the
 * ScaLAPACK backend (src/la/scalapack) and by the CUDA plugin (src/la/cuda), and read by
 * the front end (la.c), which checks shapes and chooses the backend for each call.
 *
 * Contracts of the entries: the nd_la_ functions of la.h, with shapes already checked
 * (square where la.h says so, inner dimensions of a product, rows of solve's B).  Inputs
 * are borrowed; outputs are new matrices, NULL on failure.  Errors are uniform.
 * Backends work on the matrices' local parts through runtime/dm_layout.h.
 */
#ifndef ND_LA_BACKEND_H
#define ND_LA_BACKEND_H

#include "runtime/dm_layout.h"

typedef struct nd_la_ops {
    const char *name;
    /* Collective.  *C := A @ B (A->n == B->m). */
    nd_status (*matmul)(const nd_dm *A, const nd_dm *B, nd_dm **C);
    nd_status (*solve)(const nd_dm *A, const nd_dm *B, nd_dm **X);
    nd_status (*inv)(const nd_dm *A, nd_dm **out);
    nd_status (*det)(const nd_dm *A, double *out);
    nd_status (*cholesky)(const nd_dm *A, nd_dm **L);
    nd_status (*qr)(const nd_dm *A, nd_dm **Q, nd_dm **R);
    nd_status (*eigh)(const nd_dm *A, nd_dm **w, nd_dm **V);
    /* m >= n: U m-by-n, s (n doubles, host, every rank, descending), V n-by-n; no sign
     * convention (the front end applies it). */
    nd_status (*svd_tall)(const nd_dm *A, nd_dm **U, double *s, nd_dm **V);
} nd_la_ops;

/* The ScaLAPACK backend: every entry, on any grid. */
extern const nd_la_ops nd_la_scalapack;

/* The ScaLAPACK backend's calls whose INFO the test hook below can replace. */
typedef enum nd_la_test_op {
    ND_LA_TEST_SOLVE,    /* pdgesv */
    ND_LA_TEST_INV,      /* pdgetrf (inv's first INFO) */
    ND_LA_TEST_DET,      /* pdgetrf */
    ND_LA_TEST_CHOLESKY, /* pdpotrf */
    ND_LA_TEST_QR,       /* pdgeqrf */
    ND_LA_TEST_EIGH,     /* pdsyevd */
    ND_LA_TEST_SVD       /* pdgesvd, or dgesvd on the replicated copy */
} nd_la_test_op;

/* For unit tests only (check_dm): a failure that only some ranks see (issue #21).  The
 * next INFO check of op in the ScaLAPACK backend reads `info` on rank `rank`, after the
 * real call ran; other ranks keep the real INFO.  Rank-local: every rank calls it before
 * the operation with the same op (rank and info may differ, so that several ranks fail
 * differently); the operation spends it on every rank.  No environment variable reaches
 * it. */
void nd_la_test_fail_info(nd_la_test_op op, int rank, int info);

/* Rank-local: installs the device backend (NULL: none), once, before any matrix; the
 * runtime's nd_dm_set_backend installs its memory primitives at the same time.  Its
 * matmul runs on any grid; its other entries (each may be NULL) only on a 1x1 grid: the
 * job's only rank, or rank 0 in solo mode (spmd.h) with the operands gathered by the
 * front end. */
void nd_la_set_device(const nd_la_ops *ops);

/* Up to this many elements (m * n), the ScaLAPACK backend's svd_tall runs LAPACK on a
 * replicated copy on every rank: identical results on every rank and at every rank
 * count, and pdgesvd fails to converge on tiny matrices spread over grids larger than
 * their blocks (e.g. 3x2 on a 2x2 grid).  The front end then keeps svd off the gathered
 * device path. */
#define ND_LA_SVD_REPLICATED_MAX ((int64_t)1 << 18)

#endif
