/* linalg.c: the ScaLAPACK backend (nd_la_scalapack, backend.h): matmul (SUMMA,
 * summa.c; pdgemm where SUMMA does not apply), solve, inv, det, cholesky, qr, eigh and
 * svd_tall (LAPACK on a replicated copy for small matrices).  Shapes are checked by the
 * front end (la.c).
 *
 * Every routine works on copies (inputs are borrowed; the ones factored and dropped live
 * in one scratch buffer kept between calls), queries work space with lwork = -1 (padded:
 * some ScaLAPACK queries run short), and turns INFO > 0 into the documented ND_EPROG
 * messages.  INFO is documented as global, but a rank can see an INFO of its own
 * (pdsyevd's non-convergence, dgesvd on the replicated copy): every INFO is agreed on
 * (nd_spmd_agree: the worst status, the lowest failing rank's message) before any rank
 * returns or enters another collective, so the errors are uniform.  Vector
 * sign conventions: docs/matrices.md.
 */
#include "la/backend.h"

#include "common/alloc.h"
#include "la/scalapack/scalapack.h"
#include "la/scalapack/summa.h"
#include "runtime/spmd.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define AT(M, li, lj) ((M)->a[(li) + (size_t)(lj) * (M)->lld])

static const int ONE = 1;

/* Work space of at least q * 1.1 + slack doubles (q from a query). */
static int pad_lwork(double q, int64_t floor_)
{
    double w = q * 1.1 + 1024.0;
    if (w < (double)floor_) w = (double)floor_;
    return w > 2147483647.0 ? 2147483647 : (int)w;
}

/* The test hook (backend.h): the armed op (-1: none), the rank that sees `info`. */
static struct {
    int op, rank, info;
} fake_info = {-1, -1, 0};

void nd_la_test_fail_info(nd_la_test_op op, int rank, int info)
{
    fake_info.op = (int)op;
    fake_info.rank = rank;
    fake_info.info = info;
}

/* Rank-local: the INFO that op's call returned, or the armed one on the armed rank.
 * Disarms on every rank alike, so that the hook's state stays replicated. */
static int seen_info(nd_la_test_op op, int info)
{
    if (fake_info.op != (int)op) return info;
    fake_info.op = -1;
    return fake_info.rank == nd_spmd_rank() ? fake_info.info : info;
}

/* Collective: *info := the largest INFO of any rank, for a result that INFO changes
 * rather than fails (det); an INFO < 0 on any rank is an error on all. */
static nd_status info_max(int *info, const char *fn)
{
    int ext[2] = {*info, -*info};
    if (nd_spmd_size() > 1) {
        int rc = MPI_Allreduce(MPI_IN_PLACE, ext, 2, MPI_INT, MPI_MAX, nd_spmd_comm());
        if (rc != MPI_SUCCESS) return nd_spmd_mpi_fail("MPI_Allreduce", rc);
    }
    *info = ext[0];
    if (ext[1] > 0) return nd_err_set(ND_EINTERNAL, "%s: bad argument %d", fn, ext[1]);
    return ND_OK;
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

static nd_status matmul(const nd_dm *A, const nd_dm *B, nd_dm **out)
{
    *out = NULL;
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

static nd_status solve(const nd_dm *A, const nd_dm *B, nd_dm **X)
{
    *X = NULL;
    nd_dm F;
    ND_TRY(scratch_copy(A, &F));
    nd_status st = nd_dm_copy_host(B, X);
    int *ipiv = alloc_ipiv(A);
    if (st == ND_OK) st = nd_spmd_agree(ipiv ? ND_OK : ND_ENOMEM);
    if (st == ND_OK) {
        int n = (int)A->n, nrhs = (int)B->n, info = 0;
        pdgesv_(&n, &nrhs, F.a, &ONE, &ONE, F.desc, ipiv, (*X)->a, &ONE, &ONE, (*X)->desc,
                &info);
        info = seen_info(ND_LA_TEST_SOLVE, info);
        if (info > 0) st = nd_err_set(ND_EPROG, "singular matrix");
        else if (info < 0) st = nd_err_set(ND_EINTERNAL, "pdgesv: bad argument %d", -info);
        st = nd_spmd_agree(st); /* INFO may differ by rank */
    }
    FREE_IPIV(ipiv, A);
    if (st != ND_OK) {
        nd_dm_free(*X);
        *X = NULL;
    }
    return st;
}

static nd_status inv(const nd_dm *A, nd_dm **out)
{
    *out = NULL;
    nd_dm *F;
    ND_TRY(nd_dm_copy_host(A, &F));
    int *ipiv = alloc_ipiv(A);
    nd_status st = nd_spmd_agree(ipiv ? ND_OK : ND_ENOMEM);
    int n = (int)A->n, info = 0;
    if (st == ND_OK) {
        pdgetrf_(&n, &n, F->a, &ONE, &ONE, F->desc, ipiv, &info);
        info = seen_info(ND_LA_TEST_INV, info);
        if (info > 0) st = nd_err_set(ND_EPROG, "singular matrix");
        else if (info < 0) st = nd_err_set(ND_EINTERNAL, "pdgetrf: bad argument %d", -info);
        st = nd_spmd_agree(st); /* INFO may differ by rank */
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
            st = nd_spmd_agree(st);
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
static nd_status det(const nd_dm *A, double *out)
{
    nd_dm Fs, *F = &Fs;
    ND_TRY(scratch_copy(A, F));
    size_t n = (size_t)A->n;
    int *ipiv = alloc_ipiv(A);
    double *d = ND_ALLOC_N(double, n);
    nd_status st = nd_spmd_agree(ipiv && d ? ND_OK : ND_ENOMEM);
    int in = (int)n, info = 0, mycol;
    if (st == ND_OK) {
        pdgetrf_(&in, &in, F->a, &ONE, &ONE, F->desc, ipiv, &info);
        info = seen_info(ND_LA_TEST_DET, info);
        st = info_max(&info, "pdgetrf"); /* 0.0 on every rank or on none */
    }
    if (st == ND_OK) {
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
            if (rc != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Allreduce", rc);
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

static nd_status cholesky(const nd_dm *A, nd_dm **L)
{
    *L = NULL;
    nd_dm *F;
    ND_TRY(nd_dm_copy_host(A, &F));
    int n = (int)A->n, info = 0;
    pdpotrf_("L", &n, F->a, &ONE, &ONE, F->desc, &info, 1);
    info = seen_info(ND_LA_TEST_CHOLESKY, info);
    nd_status st = ND_OK;
    if (info > 0) st = nd_err_set(ND_EPROG, "matrix is not positive definite");
    else if (info < 0) st = nd_err_set(ND_EINTERNAL, "pdpotrf: bad argument %d", -info);
    st = nd_spmd_agree(st); /* INFO may differ by rank */
    if (st != ND_OK) {
        nd_dm_free(F);
        return st;
    }
    for (int lj = 0; lj < F->nloc; lj++) {
        int64_t j = nd_dm_gcol(F, lj);
        for (int li = 0; li < F->mloc; li++)
            if (nd_dm_grow(F, li) < j) AT(F, li, lj) = 0.0;
    }
    *L = F;
    return ND_OK;
}

static nd_status qr(const nd_dm *A, nd_dm **Q, nd_dm **R)
{
    *Q = *R = NULL;
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
        info = seen_info(ND_LA_TEST_QR, info);
        if (info != 0) st = nd_err_set(ND_EINTERNAL, "pdgeqrf: info %d", info);
        st = nd_spmd_agree(st); /* INFO may differ by rank */
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
        st = nd_spmd_agree(st);
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

static nd_status eigh(const nd_dm *A, nd_dm **w, nd_dm **V)
{
    *w = *V = NULL;
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
        info = seen_info(ND_LA_TEST_EIGH, info);
        if (info > 0) st = nd_err_set(ND_EPROG, "eigh did not converge (info %d)", info);
        else if (info < 0) st = nd_err_set(ND_EINTERNAL, "pdsyevd: bad argument %d", -info);
        st = nd_spmd_agree(st); /* INFO may differ by rank */
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
        info = seen_info(ND_LA_TEST_SVD, (int)info);
        if (info > 0) st = nd_err_set(ND_EPROG, "svd did not converge (info %d)", (int)info);
        else if (info < 0) st = nd_err_set(ND_EINTERNAL, "dgesvd: bad argument %d", (int)-info);
        st = nd_spmd_agree(st); /* INFO may differ by rank */
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
    if (A->m * A->n <= ND_LA_SVD_REPLICATED_MAX) return svd_replicated(A, U, s, V);
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
        info = seen_info(ND_LA_TEST_SVD, info);
        if (info > 0) st = nd_err_set(ND_EPROG, "svd did not converge (info %d)", info);
        else if (info < 0) st = nd_err_set(ND_EINTERNAL, "pdgesvd: bad argument %d", -info);
        st = nd_spmd_agree(st); /* INFO may differ by rank */
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

const nd_la_ops nd_la_scalapack = {
    .name = "scalapack",
    .matmul = matmul,
    .solve = solve,
    .inv = inv,
    .det = det,
    .cholesky = cholesky,
    .qr = qr,
    .eigh = eigh,
    .svd_tall = svd_tall,
};
