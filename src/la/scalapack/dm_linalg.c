/* dm_linalg.c: the ScaLAPACK backend of the nd_dm linear algebra (dm.h): matmul
 * (SUMMA, summa.c; pdgemm where SUMMA does not apply), solve, inv, det, cholesky, qr,
 * eigh, svd.
 *
 * Every routine works on copies (inputs are borrowed; the ones factored and dropped live
 * in one scratch buffer kept between calls), queries work space with lwork = -1 (padded:
 * some ScaLAPACK queries run short), and turns INFO > 0 into the documented ND_EPROG
 * messages.  INFO is global, so the errors are uniform.  Vector sign conventions:
 * docs/matrices.md.
 */
#include "runtime/dm_impl.h"

#include "common/alloc.h"
#include "la/scalapack/scalapack.h"
#include "la/scalapack/summa.h"
#include "runtime/spmd.h"
#include "runtime/stats.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Up to this many elements, svd runs LAPACK on a replicated copy on every rank:
 * identical inputs give identical results on every rank and at every rank count, and
 * pdgesvd fails to converge on tiny matrices spread over grids larger than their
 * blocks (e.g. 3x2 on a 2x2 grid). */
#define SVD_REPLICATED_MAX (1 << 18)

#define LL(x) ((long long)(x))
#define AT(M, li, lj) ((M)->a[(li) + (size_t)(lj) * (M)->lld])

static const int ONE = 1;

/* Work space of at least q * 1.1 + slack doubles (q from a query). */
static int pad_lwork(double q, int64_t floor_)
{
    double w = q * 1.1 + 1024.0;
    if (w < (double)floor_) w = (double)floor_;
    return w > 2147483647.0 ? 2147483647 : (int)w;
}

/* The scratch copy that solve, det, qr, eigh and svd factor in place and then drop.
 * Fresh memory costs one page fault per 4 KiB page on first touch (about 14 us each on
 * the benchmark VMs: 0.12 s for the copy of a 2048x2048 matrix, most of pdgesv's own
 * 0.14 s), so the buffer is kept between calls and only grows, to the largest local
 * part factored so far; a repeated solve then pays a memcpy (2 ms at 2048).  Rank-local
 * memory, counted by nd_alloc like any other (docs/matrices.md, "Scratch copy"). */
static double *scratch;
static size_t scratch_cap;

/* Collective.  *F := a matrix of A's layout whose local part is the scratch buffer,
 * holding A's values.  F borrows the buffer: never nd_dm_free it, and use one at a time.
 * Growing is rank-local (local sizes differ), the failure is agreed. */
static nd_status scratch_copy(const nd_dm *A, nd_dm *F)
{
    if (scratch_cap < A->cap) {
        ND_FREE_N(scratch, scratch_cap);
        scratch_cap = 0;
        scratch = ND_ALLOC_N(double, A->cap);
        if (scratch) scratch_cap = A->cap;
    }
    ND_TRY(nd_spmd_agree(scratch ? ND_OK : ND_ENOMEM));
    nd_dm_host(A);
    *F = *A;
    F->a = scratch;
    F->dev = NULL;
    F->at = ND_AT_HOST;
    memcpy(F->a, A->a, A->cap * sizeof(double));
    return ND_OK;
}

/* Uniform: whether the factorizations run on the device: with a backend on a 1x1 grid,
 * where the local part is the whole matrix.  On larger grids they run on host copies
 * through ScaLAPACK (docs/gpu.md). */
static bool one_device(void)
{
    int nprow, npcol;
    nd_spmd_grid(&nprow, &npcol, NULL, NULL);
    return nd_dm_dev && nprow == 1 && npcol == 1;
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

static bool root_entry(rop op)
{
    switch (op) {
    case R_SOLVE: return nd_dm_dev->solve != NULL;
    case R_CHOLESKY: return nd_dm_dev->cholesky != NULL;
    case R_EIGH: return nd_dm_dev->eigh != NULL;
    case R_QR: return nd_dm_dev->qr != NULL;
    case R_SVD: return nd_dm_dev->svd_tall != NULL;
    }
    return false;
}

/* Rank 0 in solo mode: op on the gathered operands. */
static nd_status root_run(rop op, const nd_dm *A, const nd_dm *B, nd_dm **o1, nd_dm **o2,
                          double *s)
{
    switch (op) {
    case R_SOLVE: return nd_dm_dev->solve(A, B, o1);
    case R_CHOLESKY: return nd_dm_dev->cholesky(A, o1);
    case R_EIGH: return nd_dm_dev->eigh(A, o1, o2);
    case R_QR: return nd_dm_dev->qr(A, o1, o2);
    case R_SVD: return nd_dm_dev->svd_tall(A, o1, s, o2);
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
    if (!nd_dm_dev || one_device() || !root_entry(op)) return false;
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
            if (rc != MPI_SUCCESS) st = nd_dm_mpi_fail("MPI_Send/MPI_Recv", rc);
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
            st = root_run(op, A0, B0, &r1, &r2, s);
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

nd_status nd_dm_matmul(const nd_dm *A, const nd_dm *B, nd_dm **out)
{
    *out = NULL;
    ND_CHECK(A->n == B->m, ND_EPROG, "shape mismatch: %lldx%lld @ %lldx%lld", LL(A->m),
             LL(A->n), LL(B->m), LL(B->n));
    if (nd_dm_dev) {
        const nd_dm *in[2] = {A, B};
        ND_TRY(nd_dm_to_dev(2, in));
        ND_TRY(nd_dm_alloc_dev(A->m, B->n, out));
        nd_status st = nd_dm_dev->matmul(A, B, *out);
        if (st != ND_OK) {
            nd_dm_free(*out);
            *out = NULL;
        }
        return st;
    }
    ND_TRY(nd_dm_alloc(A->m, B->n, out));
    nd_dm *C = *out;
    nd_dm_host(A);
    nd_dm_host(B);
    bool used = false;
    /* SUMMA is one dgemm on a 1x1 grid and matched or beat pdgemm for dimensions of
     * 2048 and up on 2 ranks; below that, pdgemm's smaller messages won (measured:
     * benchmarks/RESULTS.md).  The choice depends only on replicated shapes and the grid.
     * NOODLE_MATMUL=pdgemm|summa forces one algorithm (for measurements). */
    int nprow, npcol, myrow, mycol;
    nd_spmd_grid(&nprow, &npcol, &myrow, &mycol);
    int64_t dmin = A->m < A->n ? A->m : A->n;
    if (B->n < dmin) dmin = B->n;
    bool summa = (nprow == 1 && npcol == 1) || dmin >= 2048;
    const char *force = getenv("NOODLE_MATMUL");
    if (force && strcmp(force, "pdgemm") == 0) summa = false;
    if (force && strcmp(force, "summa") == 0) summa = true;
    nd_status st = ND_OK;
    if (summa) st = nd_la_summa(A, B, C, &used);
    if (st == ND_OK && !used) {
        int m = (int)A->m, n = (int)B->n, k = (int)A->n;
        double alpha = 1.0, beta = 0.0;
        pdgemm_("N", "N", &m, &n, &k, &alpha, A->a, &ONE, &ONE, A->desc, B->a, &ONE, &ONE,
                B->desc, &beta, C->a, &ONE, &ONE, C->desc, 1, 1);
    }
    if (st != ND_OK) {
        nd_dm_free(C);
        *out = NULL;
    }
    return st;
}

/* Pivot indices: LOCr(M) + MB entries, as pdgetrf requires. */
static int *alloc_ipiv(const nd_dm *A) { return ND_ALLOC_N(int, (size_t)A->mloc + A->nb); }

#define FREE_IPIV(p, A) ND_FREE_N((p), (size_t)(A)->mloc + (A)->nb)

nd_status nd_dm_solve(const nd_dm *A, const nd_dm *B, nd_dm **X)
{
    *X = NULL;
    ND_TRY(nd_dm_need_square(A));
    ND_CHECK(B->m == A->m, ND_EPROG, "shape mismatch: solve(%lldx%lld, %lldx%lld)", LL(A->m),
             LL(A->n), LL(B->m), LL(B->n));
    if (one_device()) return nd_dm_dev->solve(A, B, X);
    bool used;
    ND_TRY(on_root_device(R_SOLVE, A, B, X, NULL, NULL, &used));
    if (used) return ND_OK;
    nd_dm F;
    ND_TRY(scratch_copy(A, &F));
    nd_status st = nd_dm_copy_host(B, X);
    int *ipiv = alloc_ipiv(A);
    if (st == ND_OK) st = nd_spmd_agree(ipiv ? ND_OK : ND_ENOMEM);
    if (st == ND_OK) {
        int n = (int)A->n, nrhs = (int)B->n, info = 0;
        pdgesv_(&n, &nrhs, F.a, &ONE, &ONE, F.desc, ipiv, (*X)->a, &ONE, &ONE, (*X)->desc,
                &info);
        if (info > 0) st = nd_err_set(ND_EPROG, "singular matrix");
        else if (info < 0) st = nd_err_set(ND_EINTERNAL, "pdgesv: bad argument %d", -info);
    }
    FREE_IPIV(ipiv, A);
    if (st != ND_OK) {
        nd_dm_free(*X);
        *X = NULL;
    }
    return st;
}

nd_status nd_dm_inv(const nd_dm *A, nd_dm **out)
{
    *out = NULL;
    ND_TRY(nd_dm_need_square(A));
    nd_dm *F;
    ND_TRY(nd_dm_copy_host(A, &F));
    int *ipiv = alloc_ipiv(A);
    nd_status st = nd_spmd_agree(ipiv ? ND_OK : ND_ENOMEM);
    int n = (int)A->n, info = 0;
    if (st == ND_OK) {
        pdgetrf_(&n, &n, F->a, &ONE, &ONE, F->desc, ipiv, &info);
        if (info > 0) st = nd_err_set(ND_EPROG, "singular matrix");
        else if (info < 0) st = nd_err_set(ND_EINTERNAL, "pdgetrf: bad argument %d", -info);
    }
    if (st == ND_OK) {
        double wq = 0.0;
        int iq = 0, lwork = -1, liwork = -1;
        pdgetri_(&n, F->a, &ONE, &ONE, F->desc, ipiv, &wq, &lwork, &iq, &liwork, &info);
        lwork = pad_lwork(wq, (int64_t)F->mloc * F->nb);
        liwork = pad_lwork((double)iq, (int64_t)F->nloc + 2 * F->nb);
        double *work = ND_SCRATCH_N(double, (size_t)lwork);
        int *iwork = ND_SCRATCH_N(int, (size_t)liwork);
        st = nd_spmd_agree(work && iwork ? ND_OK : ND_ENOMEM);
        if (st == ND_OK) {
            pdgetri_(&n, F->a, &ONE, &ONE, F->desc, ipiv, work, &lwork, iwork, &liwork, &info);
            if (info > 0) st = nd_err_set(ND_EPROG, "singular matrix");
            else if (info < 0) st = nd_err_set(ND_EINTERNAL, "pdgetri: bad argument %d", -info);
        }
        ND_FREE_N(work, (size_t)lwork);
        ND_FREE_N(iwork, (size_t)liwork);
    }
    FREE_IPIV(ipiv, A);
    if (st != ND_OK) {
        nd_dm_free(F);
        return st;
    }
    *out = F;
    return ND_OK;
}

/* Collective.  det = sign * prod(diag(U)), the product taken in global index order on
 * every rank (so it is replicated exactly); a zero pivot gives 0.0, not an error. */
nd_status nd_dm_det(const nd_dm *A, double *out)
{
    ND_TRY(nd_dm_need_square(A));
    nd_dm Fs, *F = &Fs;
    ND_TRY(scratch_copy(A, F));
    size_t n = (size_t)A->n;
    int *ipiv = alloc_ipiv(A);
    double *d = ND_ALLOC_N(double, n);
    nd_status st = nd_spmd_agree(ipiv && d ? ND_OK : ND_ENOMEM);
    if (st == ND_OK) {
        int in = (int)n, info = 0, mycol;
        pdgetrf_(&in, &in, F->a, &ONE, &ONE, F->desc, ipiv, &info);
        nd_spmd_grid(NULL, NULL, NULL, &mycol);
        long long swaps = 0;
        for (int lj = 0; lj < F->nloc; lj++) {
            int64_t j = nd_dm_gcol(F, lj);
            for (int li = 0; li < F->mloc; li++)
                if (nd_dm_grow(F, li) == j) d[j] = AT(F, li, lj);
        }
        /* ipiv is replicated over process columns: count it on column 0 only. */
        if (mycol == 0)
            for (int li = 0; li < F->mloc; li++)
                if (ipiv[li] != nd_dm_grow(F, li) + 1) swaps++;
        st = nd_dm_combine(d, n);
        if (st == ND_OK && nd_spmd_size() > 1) {
            int rc = MPI_Allreduce(MPI_IN_PLACE, &swaps, 1, MPI_LONG_LONG, MPI_SUM,
                                   nd_spmd_comm());
            if (rc != MPI_SUCCESS) st = nd_dm_mpi_fail("MPI_Allreduce", rc);
        }
        if (st == ND_OK) {
            double p = swaps % 2 ? -1.0 : 1.0;
            for (size_t k = 0; k < n; k++) p *= d[k];
            *out = info > 0 ? 0.0 : p;
        }
    }
    ND_FREE_N(d, n);
    FREE_IPIV(ipiv, A);
    return st;
}

nd_status nd_dm_cholesky(const nd_dm *A, nd_dm **L)
{
    *L = NULL;
    ND_TRY(nd_dm_need_square(A));
    if (one_device()) return nd_dm_dev->cholesky(A, L);
    bool used;
    ND_TRY(on_root_device(R_CHOLESKY, A, NULL, L, NULL, NULL, &used));
    if (used) return ND_OK;
    nd_dm *F;
    ND_TRY(nd_dm_copy_host(A, &F));
    int n = (int)A->n, info = 0;
    pdpotrf_("L", &n, F->a, &ONE, &ONE, F->desc, &info, 1);
    if (info != 0) {
        nd_dm_free(F);
        if (info > 0) return nd_err_set(ND_EPROG, "matrix is not positive definite");
        return nd_err_set(ND_EINTERNAL, "pdpotrf: bad argument %d", -info);
    }
    for (int lj = 0; lj < F->nloc; lj++) {
        int64_t j = nd_dm_gcol(F, lj);
        for (int li = 0; li < F->mloc; li++)
            if (nd_dm_grow(F, li) < j) AT(F, li, lj) = 0.0;
    }
    *L = F;
    return ND_OK;
}

nd_status nd_dm_qr(const nd_dm *A, nd_dm **Q, nd_dm **R)
{
    *Q = *R = NULL;
    if (one_device()) return nd_dm_dev->qr(A, Q, R);
    bool used;
    ND_TRY(on_root_device(R_QR, A, NULL, Q, R, NULL, &used));
    if (used) return ND_OK;
    int64_t k = A->m < A->n ? A->m : A->n;
    nd_dm Fs, *F = &Fs;
    ND_TRY(scratch_copy(A, F));
    size_t ntau = (size_t)F->nloc + F->nb;
    double *tau = ND_ALLOC_N(double, ntau);
    double *work = NULL;
    int lwork = 0;
    nd_status st = nd_spmd_agree(tau ? ND_OK : ND_ENOMEM);
    int m = (int)A->m, n = (int)A->n, ik = (int)k, info = 0;
    if (st == ND_OK) {
        double q1 = 0.0, q2 = 0.0;
        int query = -1;
        pdgeqrf_(&m, &n, F->a, &ONE, &ONE, F->desc, tau, &q1, &query, &info);
        pdorgqr_(&m, &ik, &ik, F->a, &ONE, &ONE, F->desc, tau, &q2, &query, &info);
        lwork = pad_lwork(q1 > q2 ? q1 : q2, 0);
        work = ND_SCRATCH_N(double, (size_t)lwork);
        st = nd_spmd_agree(work ? ND_OK : ND_ENOMEM);
    }
    if (st == ND_OK) {
        pdgeqrf_(&m, &n, F->a, &ONE, &ONE, F->desc, tau, work, &lwork, &info);
        if (info != 0) st = nd_err_set(ND_EINTERNAL, "pdgeqrf: info %d", info);
    }
    if (st == ND_OK) st = nd_dm_slice(F, 0, k, 0, A->n, R);
    if (st == ND_OK) {
        nd_dm *r = *R;
        for (int lj = 0; lj < r->nloc; lj++) {
            int64_t j = nd_dm_gcol(r, lj);
            for (int li = 0; li < r->mloc; li++)
                if (nd_dm_grow(r, li) > j) AT(r, li, lj) = 0.0;
        }
        pdorgqr_(&m, &ik, &ik, F->a, &ONE, &ONE, F->desc, tau, work, &lwork, &info);
        if (info != 0) st = nd_err_set(ND_EINTERNAL, "pdorgqr: info %d", info);
    }
    if (st == ND_OK) st = nd_dm_slice(F, 0, A->m, 0, k, Q);
    ND_FREE_N(work, (size_t)lwork);
    ND_FREE_N(tau, ntau);
    if (st != ND_OK) {
        nd_dm_free(*Q);
        nd_dm_free(*R);
        *Q = *R = NULL;
    }
    return st;
}

nd_status nd_dm_eigh(const nd_dm *A, nd_dm **w, nd_dm **V)
{
    *w = *V = NULL;
    ND_TRY(nd_dm_need_square(A));
    if (one_device()) return nd_dm_dev->eigh(A, w, V);
    bool used;
    ND_TRY(on_root_device(R_EIGH, A, NULL, w, V, NULL, &used));
    if (used) return ND_OK;
    int n = (int)A->n, info = 0, npcol;
    nd_spmd_grid(NULL, &npcol, NULL, NULL);
    nd_dm Fs, *F = &Fs, *Z = NULL;
    ND_TRY(scratch_copy(A, F));
    nd_status st = nd_dm_alloc(A->n, A->n, &Z);
    double *ev = ND_ALLOC_N(double, (size_t)n), *work = NULL;
    int *iwork = NULL, lwork = 0, liwork = 0;
    if (st == ND_OK) st = nd_spmd_agree(ev ? ND_OK : ND_ENOMEM);
    if (st == ND_OK) {
        double wq = 0.0;
        int iq = 0, query = -1;
        pdsyevd_("V", "L", &n, F->a, &ONE, &ONE, F->desc, ev, Z->a, &ONE, &ONE, Z->desc, &wq,
                 &query, &iq, &query, &info, 1, 1);
        /* The query can run short of what pdormtr needs inside (seen with ScaLAPACK
         * 2.2.1): take the documented minimum as well, doubled. */
        int64_t np = F->mloc, nq = F->nloc, nb = F->nb;
        int64_t doc = 1 + 6 * (int64_t)n + 2 * np * nq;
        int64_t tri = 3 * (int64_t)n + (nb * (np + 1) > 3 * nb ? nb * (np + 1) : 3 * nb);
        int64_t need = (doc > tri ? doc : tri) + 2 * (int64_t)n + nb * (np + nq + nb);
        lwork = pad_lwork(wq > (double)need ? wq : (double)need, 2 * need);
        liwork = pad_lwork((double)iq, 7 * (int64_t)n + 8 * (int64_t)npcol + 2);
        work = ND_SCRATCH_N(double, (size_t)lwork);
        iwork = ND_SCRATCH_N(int, (size_t)liwork);
        st = nd_spmd_agree(work && iwork ? ND_OK : ND_ENOMEM);
    }
    if (st == ND_OK) {
        pdsyevd_("V", "L", &n, F->a, &ONE, &ONE, F->desc, ev, Z->a, &ONE, &ONE, Z->desc, work,
                 &lwork, iwork, &liwork, &info, 1, 1);
        if (info > 0) st = nd_err_set(ND_EPROG, "eigh did not converge (info %d)", info);
        else if (info < 0) st = nd_err_set(ND_EINTERNAL, "pdsyevd: bad argument %d", -info);
    }
    if (st == ND_OK) st = nd_dm_sign_columns(Z, NULL);
    if (st == ND_OK) st = nd_dm_from_colmajor(n, 1, ev, w);
    ND_FREE_N(work, (size_t)lwork);
    ND_FREE_N(iwork, (size_t)liwork);
    ND_FREE_N(ev, (size_t)n);
    if (st != ND_OK) {
        nd_dm_free(Z);
        return st;
    }
    *V = Z;
    return ND_OK;
}

/* Collective.  svd_tall on a gathered copy with LAPACK's dgesvd on every rank. */
static nd_status svd_replicated(const nd_dm *A, nd_dm **U, double *s, nd_dm **V)
{
    int64_t m = A->m, n = A->n;
    double *a = NULL;
    ND_TRY(nd_dm_to_colmajor(A, &a));
    double *u = ND_ALLOC_N(double, (size_t)(m * n));
    double *vt = ND_ALLOC_N(double, (size_t)(n * n));
    double *superb = ND_ALLOC_N(double, (size_t)n);
    double *v = ND_ALLOC_N(double, (size_t)(n * n));
    nd_status st = nd_spmd_agree(u && vt && superb && v ? ND_OK : ND_ENOMEM);
    if (st == ND_OK) {
        lapack_int info = LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'S', (lapack_int)m,
                                         (lapack_int)n, a, (lapack_int)m, s, u, (lapack_int)m,
                                         vt, (lapack_int)n, superb);
        if (info > 0) st = nd_err_set(ND_EPROG, "svd did not converge (info %d)", (int)info);
        else if (info < 0) st = nd_err_set(ND_EINTERNAL, "dgesvd: bad argument %d", (int)-info);
    }
    if (st == ND_OK) {
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) v[i + j * n] = vt[j + i * n];
        st = nd_dm_from_colmajor(m, n, u, U);
    }
    if (st == ND_OK) st = nd_dm_from_colmajor(n, n, v, V);
    if (st != ND_OK) {
        nd_dm_free(*U);
        *U = NULL;
    }
    nd_free(a, (size_t)(m * n) * sizeof(double));
    ND_FREE_N(u, (size_t)(m * n));
    ND_FREE_N(vt, (size_t)(n * n));
    ND_FREE_N(superb, (size_t)n);
    ND_FREE_N(v, (size_t)(n * n));
    return st;
}

/* Collective.  m >= n only: U m-by-n, s, V n-by-n, signs not yet normalized. */
static nd_status svd_tall(const nd_dm *A, nd_dm **U, double *s, nd_dm **V)
{
    if (one_device()) return nd_dm_dev->svd_tall(A, U, s, V);
    if (A->m * A->n <= SVD_REPLICATED_MAX) return svd_replicated(A, U, s, V);
    bool used;
    ND_TRY(on_root_device(R_SVD, A, NULL, U, V, s, &used));
    if (used) return ND_OK;
    int m = (int)A->m, n = (int)A->n, info = 0, lwork = 0;
    nd_dm Fs, *F = &Fs, *VT = NULL;
    *U = *V = NULL;
    ND_TRY(scratch_copy(A, F));
    nd_status st = nd_dm_alloc(m, n, U);
    if (st == ND_OK) st = nd_dm_alloc(n, n, &VT);
    double *work = NULL;
    if (st == ND_OK) {
        double wq = 0.0;
        int query = -1;
        pdgesvd_("V", "V", &m, &n, F->a, &ONE, &ONE, F->desc, s, (*U)->a, &ONE, &ONE,
                 (*U)->desc, VT->a, &ONE, &ONE, VT->desc, &wq, &query, &info, 1, 1);
        lwork = pad_lwork(wq, 0);
        work = ND_SCRATCH_N(double, (size_t)lwork);
        st = nd_spmd_agree(work ? ND_OK : ND_ENOMEM);
    }
    if (st == ND_OK) {
        pdgesvd_("V", "V", &m, &n, F->a, &ONE, &ONE, F->desc, s, (*U)->a, &ONE, &ONE,
                 (*U)->desc, VT->a, &ONE, &ONE, VT->desc, work, &lwork, &info, 1, 1);
        if (info > 0) st = nd_err_set(ND_EPROG, "svd did not converge (info %d)", info);
        else if (info < 0) st = nd_err_set(ND_EINTERNAL, "pdgesvd: bad argument %d", -info);
    }
    if (st == ND_OK) st = nd_dm_transpose(VT, V);
    ND_FREE_N(work, (size_t)lwork);
    nd_dm_free(VT);
    if (st != ND_OK) {
        nd_dm_free(*U);
        *U = NULL;
    }
    return st;
}

/* Collective.  A wide matrix goes through its transpose (A.T = V S U.T), so pdgesvd
 * only ever sees m >= n. */
nd_status nd_dm_svd(const nd_dm *A, nd_dm **U, nd_dm **s, nd_dm **V)
{
    *U = *s = *V = NULL;
    int64_t k = A->m < A->n ? A->m : A->n;
    double *sv = ND_ALLOC_N(double, (size_t)k);
    nd_status st = nd_spmd_agree(sv ? ND_OK : ND_ENOMEM);
    if (st != ND_OK) {
        ND_FREE_N(sv, (size_t)k);
        return st;
    }
    if (A->m >= A->n) {
        st = svd_tall(A, U, sv, V);
    } else {
        nd_dm *At = NULL;
        st = nd_dm_transpose(A, &At);
        if (st == ND_OK) st = svd_tall(At, V, sv, U);
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
