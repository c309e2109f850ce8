/* la.c: the linear-algebra front end (la.h): checks shapes, once for every caller, and
 * chooses the backend of each call (backend.h): a device backend where it has the entry
 * (the product on any grid; the factorizations on a 1x1 grid, or on rank 0's device
 * with the operands gathered), else ScaLAPACK.  The sign convention of svd and the
 * choice to gather live here, for every backend.  Paths: docs/gpu.md.
 */
#include "la/la.h"

#include "common/alloc.h"
#include "la/backend.h"
#include "runtime/blacs.h"
#include "runtime/spmd.h"
#include "runtime/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LL(x) ((long long)(x))

/* The device backend (NULL: none). */
static const nd_la_ops *dev;

void nd_la_set_device(const nd_la_ops *ops) { dev = ops; }

/* Uniform: whether the factorizations run on the device: with a backend on a 1x1 grid,
 * where the local part is the whole matrix.  On larger grids they run on rank 0's
 * device (below) or on host copies through ScaLAPACK (docs/gpu.md). */
static bool one_device(void)
{
    int nprow, npcol;
    nd_spmd_grid(&nprow, &npcol, NULL, NULL);
    return dev && nprow == 1 && npcol == 1;
}

/* ---- factorizations on rank 0's device, for grids larger than 1x1 ----------------
 *
 * The operands are gathered onto rank 0 (point-to-point, into a 1x1 layout), rank 0 runs
 * the device factorization alone in solo mode (spmd.h) while the others wait, and the
 * results are scattered back the same way.  Moving the data costs O(n^2) against the
 * factorization's O(n^3), and one device beats ScaLAPACK on host copies by far
 * (docs/gpu.md).  Used when rank 0's device has room for about three times the operands
 * and results; when it runs out of memory anyway (device or host), the ScaLAPACK path
 * runs instead. */

typedef enum rop { R_SOLVE, R_CHOLESKY, R_EIGH, R_QR, R_SVD } rop;

/* Uniform: whether backend b has op. */
static bool has(const nd_la_ops *b, rop op)
{
    switch (op) {
    case R_SOLVE: return b->solve != NULL;
    case R_CHOLESKY: return b->cholesky != NULL;
    case R_EIGH: return b->eigh != NULL;
    case R_QR: return b->qr != NULL;
    case R_SVD: return b->svd_tall != NULL;
    }
    return false;
}

/* Collective: op through backend b (o2 and s where op has them). */
static nd_status run(const nd_la_ops *b, rop op, const nd_dm *A, const nd_dm *B, nd_dm **o1,
                     nd_dm **o2, double *s)
{
    switch (op) {
    case R_SOLVE: return b->solve(A, B, o1);
    case R_CHOLESKY: return b->cholesky(A, o1);
    case R_EIGH: return b->eigh(A, o1, o2);
    case R_QR: return b->qr(A, o1, o2);
    case R_SVD: return b->svd_tall(A, o1, s, o2);
    }
    return ND_EINTERNAL;
}

/* Rank-local: the shapes of op's matrix results (0 x 0 when there is no second one). */
static void root_shapes(rop op, const nd_dm *A, const nd_dm *B, int64_t sh[4])
{
    int64_t m = A->m, n = A->n, k = m < n ? m : n;
    sh[2] = sh[3] = 0;
    switch (op) {
    case R_SOLVE: sh[0] = n, sh[1] = B->n; break;
    case R_CHOLESKY: sh[0] = sh[1] = n; break;
    case R_EIGH: sh[0] = n, sh[1] = 1, sh[2] = sh[3] = n; break;
    case R_QR: sh[0] = m, sh[1] = k, sh[2] = k, sh[3] = n; break;
    case R_SVD: sh[0] = m, sh[1] = n, sh[2] = sh[3] = n; break;
    }
}

/* Collective.  Uniform: whether op goes to rank 0's device (rank 0 decides); a refusal
 * for lack of room counts as a fallback in the run statistics. */
static bool root_wanted(rop op, const nd_dm *A, const nd_dm *B, const int64_t sh[4])
{
    if (!dev || one_device() || !has(dev, op)) return false;
    /* Small svds stay replicated on the host (backend.h). */
    if (op == R_SVD && A->m * A->n <= ND_LA_SVD_REPLICATED_MAX) return false;
    const char *e = getenv("NOODLE_GPU_FACTOR"); /* docs/gpu.md: for measurements */
    if (e && strcmp(e, "scalapack") == 0) return false;
    int go = 1;
    if (nd_spmd_rank() == 0 && nd_dm_dev->mem_avail) {
        double bytes = 8.0 * ((double)A->m * A->n + (B ? (double)B->m * B->n : 0.0) +
                              (double)sh[0] * sh[1] + (double)sh[2] * sh[3]);
        go = 3.0 * bytes <= (double)nd_dm_dev->mem_avail();
    }
    if (nd_spmd_bcast(&go, sizeof go, 0) != ND_OK) return false;
    if (!go) nd_stats_count_gathered(false);
    return go != 0;
}

/* Rank-local, rank 0: between the local part p of grid position (pr, pc) (column-major,
 * leading dimension its row count) and w, the whole of A column-major, in runs of up to
 * nb rows. */
static void root_place(const nd_dm *A, int pr, int pc, double *p, double *w, bool to_w)
{
    int nprow, npcol, nb = A->nb;
    nd_spmd_grid(&nprow, &npcol, NULL, NULL);
    int mloc = (int)nd_dm_owned(A->m, nb, pr, nprow);
    int nloc = (int)nd_dm_owned(A->n, nb, pc, npcol);
    for (int lj = 0; lj < nloc; lj++) {
        int64_t j = nd_dm_global(lj, nb, pc, npcol);
        for (int li = 0; li < mloc; li += nb) {
            int64_t i = nd_dm_global(li, nb, pr, nprow);
            size_t h = (size_t)(mloc - li < nb ? mloc - li : nb) * sizeof(double);
            double *a = p + li + (size_t)lj * mloc, *b = w + i + j * A->m;
            if (to_w) memcpy(b, a, h);
            else memcpy(a, b, h);
        }
    }
}

/* Collective: the whole of A to (to_root) or from w, a column-major copy on rank 0 (NULL
 * elsewhere).  Each other rank sends or receives its local part (contiguous: lld is
 * mloc) in messages of at most 2^27 doubles; rank 0 serves the ranks in turn through one
 * buffer (no part is larger than rank 0's own, which holds the first block row and
 * column). */
static nd_status root_move(nd_dm *A, double *w, bool to_root)
{
    const size_t CH = (size_t)1 << 27;
    int P = nd_spmd_size(), me = nd_spmd_rank(), ctx = nd_spmd_blacs_ctx(), nprow, npcol;
    nd_spmd_grid(&nprow, &npcol, NULL, NULL);
    MPI_Comm comm = nd_spmd_comm();
    double *buf = me == 0 ? ND_ALLOC_N(double, A->cap) : NULL;
    ND_TRY(nd_spmd_agree(me != 0 || buf ? ND_OK : ND_ENOMEM));
    if (to_root) nd_dm_host(A);
    else nd_dm_host_w(A);
    nd_status st = ND_OK;
    for (int r = 1; r < P && st == ND_OK; r++) {
        if (me != 0 && me != r) continue;
        int pr, pc;
        Cblacs_pcoord(ctx, r, &pr, &pc);
        size_t n = (size_t)(nd_dm_owned(A->m, A->nb, pr, nprow) *
                            nd_dm_owned(A->n, A->nb, pc, npcol));
        double *p = me == 0 ? buf : A->a;
        if (me == 0 && !to_root) root_place(A, pr, pc, buf, w, false);
        for (size_t off = 0; st == ND_OK && off < n; off += CH) {
            int k = (int)(n - off < CH ? n - off : CH), rc;
            if ((me == 0) == to_root) /* receiving */
                rc = MPI_Recv(p + off, k, MPI_DOUBLE, me == 0 ? r : 0, 0, comm,
                              MPI_STATUS_IGNORE);
            else
                rc = MPI_Send(p + off, k, MPI_DOUBLE, me == 0 ? r : 0, 0, comm);
            if (rc != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Send/MPI_Recv", rc);
        }
        if (me == 0 && to_root) root_place(A, pr, pc, buf, w, true);
    }
    if (me == 0) {
        int myr, myc;
        nd_spmd_grid(NULL, NULL, &myr, &myc);
        root_place(A, myr, myc, A->a, w, to_root);
        ND_FREE_N(buf, A->cap);
    }
    return nd_spmd_agree(st);
}

/* Collective.  Runs op on rank 0's device when root_wanted says so (*used); results as
 * the host versions return them (o2 and s where op has them; s: k doubles, every rank). */
static nd_status on_root_device(rop op, const nd_dm *A, const nd_dm *B, nd_dm **o1,
                                nd_dm **o2, double *s, bool *used)
{
    *used = false;
    int64_t sh[4];
    root_shapes(op, A, B, sh);
    if (!root_wanted(op, A, B, sh)) return ND_OK;
    bool root = nd_spmd_rank() == 0;
    nd_dm *A0 = NULL, *B0 = NULL, *r1 = NULL, *r2 = NULL;
    nd_status st = ND_OK;
    if (root && (st = nd_spmd_solo_begin()) == ND_OK) {
        st = nd_dm_alloc(A->m, A->n, &A0);
        if (st == ND_OK && B) st = nd_dm_alloc(B->m, B->n, &B0);
        nd_spmd_solo_end();
    }
    st = nd_spmd_agree(st);
    if (st == ND_OK) st = root_move((nd_dm *)A, root ? A0->a : NULL, true);
    if (st == ND_OK && B) st = root_move((nd_dm *)B, root ? B0->a : NULL, true);
    if (st == ND_OK) {
        if (root && (st = nd_spmd_solo_begin()) == ND_OK) {
            st = run(dev, op, A0, B0, &r1, &r2, s);
            /* The results leave through the host. */
            if (r1) nd_dm_host(r1);
            if (r2) nd_dm_host(r2);
            nd_spmd_solo_end();
        }
        nd_dm_free(A0);
        nd_dm_free(B0);
        A0 = B0 = NULL;
        st = nd_spmd_agree(st);
    }
    if (st == ND_OK && s) st = nd_spmd_bcast(s, (size_t)sh[1] * sizeof *s, 0);
    if (st == ND_OK) st = nd_dm_alloc(sh[0], sh[1], o1);
    if (st == ND_OK && o2) st = nd_dm_alloc(sh[2], sh[3], o2);
    if (st == ND_OK) st = root_move(*o1, root ? r1->a : NULL, false);
    if (st == ND_OK && o2) st = root_move(*o2, root ? r2->a : NULL, false);
    if (st == ND_OK) *used = true;
    nd_dm_free(A0);
    nd_dm_free(B0);
    nd_dm_free(r1);
    nd_dm_free(r2);
    if (st != ND_OK) {
        nd_dm_free(*o1);
        *o1 = NULL;
        if (o2) {
            nd_dm_free(*o2);
            *o2 = NULL;
        }
    }
    /* Out of memory on rank 0 (host or device): the ScaLAPACK path instead. */
    if (st == ND_ENOMEM) {
        nd_err_clear();
        nd_stats_count_gathered(false);
        return ND_OK;
    }
    nd_stats_count_gathered(true); /* it ran there, also when it failed (singular) */
    return st;
}

/* Collective: op on the device (the rank's own on a 1x1 grid, or rank 0's with the
 * operands gathered) where the device backend has it, else through ScaLAPACK. */
static nd_status factor(rop op, const nd_dm *A, const nd_dm *B, nd_dm **o1, nd_dm **o2,
                        double *s)
{
    if (one_device() && has(dev, op)) return run(dev, op, A, B, o1, o2, s);
    bool used;
    ND_TRY(on_root_device(op, A, B, o1, o2, s, &used));
    if (used) return ND_OK;
    return run(&nd_la_scalapack, op, A, B, o1, o2, s);
}

/* Uniform: the backend of an operation that only runs where the matrix is whole: the
 * device's on a 1x1 grid when it has the entry (entry: whether it does), else
 * ScaLAPACK. */
static const nd_la_ops *local_backend(bool entry)
{
    return one_device() && entry ? dev : &nd_la_scalapack;
}

nd_status nd_la_matmul(const nd_dm *A, const nd_dm *B, nd_dm **out)
{
    *out = NULL;
    ND_CHECK(A->n == B->m, ND_EPROG, "shape mismatch: %lldx%lld @ %lldx%lld", LL(A->m),
             LL(A->n), LL(B->m), LL(B->n));
    const nd_la_ops *b = dev && dev->matmul ? dev : &nd_la_scalapack;
    return b->matmul(A, B, out);
}

/* Collective: ND_EPROG on every rank when A holds a NaN or an infinity.  LAPACK and
 * ScaLAPACK given such input fail in ways that differ by rank (a hang in pdsyevd at 4
 * ranks, "bad argument" aborts, "singular" for a NaN), so nothing non-finite reaches
 * them.  The sum is finite exactly when every element is, unless finite elements
 * overflow it: only then are the elements looked at one by one. */
static nd_status need_finite(const char *fn, const char *what, const nd_dm *A)
{
    double s = 0.0;
    ND_TRY(nd_dm_reduce(ND_RED_SUM, A, &s));
    if (isfinite(s)) return ND_OK;
    nd_dm_host(A);
    int bad = 0;
    for (int j = 0; j < A->nloc && !bad; j++)
        for (int i = 0; i < A->mloc; i++)
            if (!isfinite(A->a[(size_t)j * (size_t)A->lld + (size_t)i])) {
                bad = 1;
                break;
            }
    if (MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_LOR, nd_spmd_comm()) != MPI_SUCCESS)
        return nd_err_set(ND_EMPI, "%s: MPI_Allreduce failed", fn);
    ND_CHECK(!bad, ND_EPROG, "%s: %s has NaN or infinite entries", fn, what);
    return ND_OK;
}

nd_status nd_la_solve(const nd_dm *A, const nd_dm *B, nd_dm **X)
{
    *X = NULL;
    ND_TRY(nd_dm_need_square("solve", A));
    ND_TRY(need_finite("solve", "the matrix", A));
    ND_TRY(need_finite("solve", "the right-hand side", B));
    ND_CHECK(B->m == A->m, ND_EPROG, "shape mismatch: solve(%lldx%lld, %lldx%lld)", LL(A->m),
             LL(A->n), LL(B->m), LL(B->n));
    return factor(R_SOLVE, A, B, X, NULL, NULL);
}

nd_status nd_la_inv(const nd_dm *A, nd_dm **out)
{
    *out = NULL;
    ND_TRY(nd_dm_need_square("inv", A));
    ND_TRY(need_finite("inv", "the matrix", A));
    return local_backend(dev && dev->inv)->inv(A, out);
}

nd_status nd_la_det(const nd_dm *A, double *out)
{
    ND_TRY(nd_dm_need_square("det", A));
    ND_TRY(need_finite("det", "the matrix", A));
    return local_backend(dev && dev->det)->det(A, out);
}

nd_status nd_la_cholesky(const nd_dm *A, nd_dm **L)
{
    *L = NULL;
    ND_TRY(nd_dm_need_square("cholesky", A));
    ND_TRY(need_finite("cholesky", "the matrix", A));
    return factor(R_CHOLESKY, A, NULL, L, NULL, NULL);
}

nd_status nd_la_qr(const nd_dm *A, nd_dm **Q, nd_dm **R)
{
    *Q = *R = NULL;
    ND_TRY(need_finite("qr", "the matrix", A));
    return factor(R_QR, A, NULL, Q, R, NULL);
}

nd_status nd_la_eigh(const nd_dm *A, nd_dm **w, nd_dm **V)
{
    *w = *V = NULL;
    ND_TRY(nd_dm_need_square("eigh", A));
    ND_TRY(need_finite("eigh", "the matrix", A));
    return factor(R_EIGH, A, NULL, w, V, NULL);
}

/* Collective.  A wide matrix goes through its transpose (A.T = V S U.T), so the
 * backends only ever see m >= n; the sign convention is applied here, for all of them. */
nd_status nd_la_svd(const nd_dm *A, nd_dm **U, nd_dm **s, nd_dm **V)
{
    *U = *s = *V = NULL;
    ND_TRY(need_finite("svd", "the matrix", A));
    int64_t k = A->m < A->n ? A->m : A->n;
    double *sv = ND_ALLOC_N(double, (size_t)k);
    nd_status st = nd_spmd_agree(sv ? ND_OK : ND_ENOMEM);
    if (st != ND_OK) {
        ND_FREE_N(sv, (size_t)k);
        return st;
    }
    if (A->m >= A->n) {
        st = factor(R_SVD, A, NULL, U, V, sv);
    } else {
        nd_dm *At = NULL;
        st = nd_dm_transpose(A, &At);
        if (st == ND_OK) st = factor(R_SVD, At, NULL, V, U, sv);
        nd_dm_free(At);
    }
    if (st == ND_OK) st = nd_dm_sign_columns(*U, *V);
    if (st == ND_OK) st = nd_dm_from_colmajor(k, 1, sv, s);
    ND_FREE_N(sv, (size_t)k);
    if (st != ND_OK) {
        nd_dm_free(*U);
        nd_dm_free(*V);
        *U = *V = NULL;
    }
    return st;
}
