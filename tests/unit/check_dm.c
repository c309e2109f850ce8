/* check_dm.c: unit tests of src/runtime (spmd.h, dm.h) and src/la (la.h: the front end
 * and the ScaLAPACK backend).
 *
 * Runs under mpirun at any rank count (tests/unit/dm_ranks.sh: 2, 3, 4).  Every operation
 * is compared with a serial reference computed here with CBLAS/LAPACKE on the gathered
 * data; the reductions and rand with exact equality against values that do not depend on
 * the rank count (the documented block order, and hex constants from a 1-rank run).
 * Assertions come after the collectives of a test, so a failure does not strand ranks.
 */
#include "nd_check.h"
#include "common/alloc.h"
#include "config/keys.h"
#include "la/backend.h"
#include "la/devsumma.h"
#include "la/la.h"
#include "runtime/arr.h"
#include "runtime/dm.h"
#include "runtime/dm_impl.h"
#include "runtime/spmd.h"
#include "runtime/stats.h"

#include <cblas.h>
#include <hdf5.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NB ND_CFG_DEFAULT_BLOCK_SIZE

/* ---- a host-memory "device" ------------------------------------------------------ */

/* The case "dev" runs every test again with this backend: device copies are separate
 * host buffers (poisoned with NaN when allocated, like fresh device memory), so a
 * missing upload, download or invalidation in the residency code of dm.c shows up as a
 * wrong value.  Products run the CUDA plugin's SUMMA over host primitives, the
 * factorizations LAPACK as the plugin runs cuSOLVER; the reductions replay the host
 * loop. */
static double *fd_alloc(size_t n)
{
    double *p = ND_ALLOC_N(double, n);
    for (size_t k = 0; p && k < n; k++) p[k] = NAN;
    return p;
}
static void fd_free(double *p, size_t n) { ND_FREE_N(p, n); }
static void fd_move(double *d, const double *s, size_t n) { memcpy(d, s, n * sizeof *d); }
static void fd_get1(const double *d, double *v) { *v = *d; }
static void fd_set1(double *d, double v) { *d = v; }

static double fd_apply(nd_ew_op op, double x, double y) { return nd_ew_apply(op, x, y); }
static void fd_ew(nd_ew_op op, const double *a, const double *b, double *c, size_t n)
{
    for (size_t k = 0; k < n; k++) c[k] = fd_apply(op, a[k], b[k]);
}
static void fd_ew_scalar(nd_ew_op op, const double *a, double x, bool left, double *c, size_t n)
{
    for (size_t k = 0; k < n; k++) c[k] = left ? fd_apply(op, x, a[k]) : fd_apply(op, a[k], x);
}
static void fd_map(nd_map_fn f, const double *a, double *c, size_t n)
{
    static double (*const fn[])(double) = {NULL, fabs, sqrt, nd_exp_array_value,  log,  sin, cos,
                                           tanh, tan,  atan, floor, ceil, round};
    for (size_t k = 0; k < n; k++) c[k] = f == ND_MAP_NEG ? -a[k] : fn[f](a[k]);
}

/* The host's loop over the device buffers, combined as the host does. */
static nd_status fd_partials(const nd_dm *A, const nd_dm *B, int kind, double *part, size_t np)
{
    memset(part, 0, np * sizeof *part);
    nd_dm_local_partials(A, A->dev, B ? B->dev : NULL, kind, part);
    return nd_dm_combine(part, np);
}

/* `@` is the CUDA plugin's SUMMA (devsumma.c) over host primitives: the panel logic a
 * GPU runs, at every rank count.  fd_summa picks how: the broadcasts as direct calls
 * (like NCCL) or staged through host buffers (like gpu_comm: mpi), the panel width, and
 * whether a 1x1 grid broadcasts too. */
static struct {
    bool staged, force_bcast, have_comms;
    int64_t panel_cols;
    MPI_Comm rowc, colc;
} fd_summa = {.panel_cols = 2 * NB};

static void fd_copy2d(double *dst, size_t dld, const double *src, size_t sld, size_t rows,
                      size_t cols)
{
    for (size_t j = 0; j < cols; j++) memcpy(dst + j * dld, src + j * sld, rows * sizeof *dst);
}

static void fd_gemm(int m, int n, int k, const double *a, int lda, const double *b, int ldb,
                    bool acc, double *c, int ldc)
{
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, a, lda, b, ldb,
                acc ? 1.0 : 0.0, c, ldc);
}

static void fd_finish(void) {}

static void fd_bcast(const double *src, double *dst, size_t cnt, int root, bool row)
{
    MPI_Comm c = row ? fd_summa.rowc : fd_summa.colc;
    int me;
    MPI_Comm_rank(c, &me);
    if (me == root && src != dst && cnt) memcpy(dst, src, cnt * sizeof *dst);
    MPI_Bcast(dst, (int)cnt, MPI_DOUBLE, root, c);
}

static nd_status fd_matmul(const nd_dm *A, const nd_dm *B, nd_dm **C)
{
    if (!fd_summa.have_comms) { /* the grid is fixed for the run */
        fd_summa.have_comms = true;
        int myr, myc;
        nd_spmd_grid(NULL, NULL, &myr, &myc);
        MPI_Comm_split(nd_spmd_comm(), myr, myc, &fd_summa.rowc);
        MPI_Comm_split(nd_spmd_comm(), myc, myr, &fd_summa.colc);
    }
    nd_devsumma_ops d = {
        .alloc = fd_alloc, .free = fd_free, .copy2d = fd_copy2d, .gemm = fd_gemm,
        .finish = fd_finish, .bcast = fd_summa.staged ? NULL : fd_bcast,
        .download = fd_move, .upload = fd_move, .rowc = fd_summa.rowc, .colc = fd_summa.colc,
        .panel_cols = fd_summa.panel_cols, .force_bcast = fd_summa.force_bcast,
    };
    return nd_devsumma_matmul(&d, A, B, C);
}

/* What the fake device says it can allocate (mem_avail), and how many factorizations it
 * ran on this rank (on grids larger than 1x1 only rank 0 runs them, on gathered copies). */
static size_t fd_avail = SIZE_MAX;
static int fd_factors;
static size_t fd_mem_avail(void) { return fd_avail; }

/* The factorizations, as the CUDA plugin does them: on a 1x1 grid (one rank, or rank 0
 * in solo mode with a gathered matrix), LAPACK on the whole device copy, results left on
 * the device (eigh's w and the singular values on the host), the same errors. */
static double *fd_dup(const nd_dm *A)
{
    double *f = ND_ALLOC_N(double, A->cap);
    ck_assert_ptr_nonnull(f);
    memcpy(f, A->dev, A->cap * sizeof *f);
    return f;
}

static nd_status fd_solve(const nd_dm *A, const nd_dm *B, nd_dm **X)
{
    fd_factors++;
    const nd_dm *in[2] = {A, B};
    ND_TRY(nd_dm_to_dev(2, in));
    ND_TRY(nd_dm_alloc_dev(B->m, B->n, X));
    memcpy((*X)->dev, B->dev, B->cap * sizeof(double));
    double *f = fd_dup(A);
    lapack_int *ip = ND_ALLOC_N(lapack_int, (size_t)A->n);
    lapack_int info = LAPACKE_dgesv(LAPACK_COL_MAJOR, (int)A->n, (int)B->n, f, A->lld, ip,
                                    (*X)->dev, (*X)->lld);
    ND_FREE_N(ip, (size_t)A->n);
    ND_FREE_N(f, A->cap);
    if (info == 0) return ND_OK;
    nd_dm_free(*X);
    *X = NULL;
    return nd_err_set(ND_EPROG, "singular matrix");
}

static nd_status fd_cholesky(const nd_dm *A, nd_dm **L)
{
    fd_factors++;
    ND_TRY(nd_dm_to_dev(1, &A));
    ND_TRY(nd_dm_alloc_dev(A->m, A->n, L));
    double *l = (*L)->dev;
    memcpy(l, A->dev, A->cap * sizeof *l);
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (int)A->n, l, A->lld) != 0) {
        nd_dm_free(*L);
        *L = NULL;
        return nd_err_set(ND_EPROG, "matrix is not positive definite");
    }
    for (int64_t j = 0; j < A->n; j++)
        for (int64_t i = 0; i < j; i++) l[i + j * A->lld] = 0.0;
    return ND_OK;
}

static nd_status fd_eigh(const nd_dm *A, nd_dm **w, nd_dm **V)
{
    fd_factors++;
    ND_TRY(nd_dm_to_dev(1, &A));
    ND_TRY(nd_dm_alloc_dev(A->m, A->n, V));
    memcpy((*V)->dev, A->dev, A->cap * sizeof(double));
    double *ev = ND_ALLOC_N(double, (size_t)A->n);
    lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', (int)A->n, (*V)->dev, A->lld, ev);
    nd_status st = info == 0 ? ND_OK : nd_err_set(ND_EPROG, "eigh did not converge");
    if (st == ND_OK) st = nd_dm_sign_columns(*V, NULL);
    if (st == ND_OK) st = nd_dm_from_colmajor(A->n, 1, ev, w);
    ND_FREE_N(ev, (size_t)A->n);
    if (st != ND_OK) {
        nd_dm_free(*V);
        *V = NULL;
    }
    return st;
}

static nd_status fd_qr(const nd_dm *A, nd_dm **Q, nd_dm **R)
{
    fd_factors++;
    ND_TRY(nd_dm_to_dev(1, &A));
    int64_t m = A->m, n = A->n, k = m < n ? m : n, ld = A->lld;
    double *f = fd_dup(A), *tau = ND_ALLOC_N(double, (size_t)k);
    ck_assert_int_eq(LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (int)m, (int)n, f, (int)ld, tau), 0);
    ck_assert_int_eq(nd_dm_alloc_dev(k, n, R), ND_OK);
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < k; i++)
            (*R)->dev[i + j * (*R)->lld] = i <= j ? f[i + j * ld] : 0.0;
    ck_assert_int_eq(LAPACKE_dorgqr(LAPACK_COL_MAJOR, (int)m, (int)k, (int)k, f, (int)ld, tau), 0);
    ck_assert_int_eq(nd_dm_alloc_dev(m, k, Q), ND_OK);
    memcpy((*Q)->dev, f, (size_t)(m * k) * sizeof *f);
    ND_FREE_N(tau, (size_t)k);
    ND_FREE_N(f, A->cap);
    return ND_OK;
}

/* No sign convention here: nd_la_svd applies it, as after the real device. */
static nd_status fd_svd_tall(const nd_dm *A, nd_dm **U, double *sv, nd_dm **V)
{
    fd_factors++;
    ND_TRY(nd_dm_to_dev(1, &A));
    int64_t m = A->m, n = A->n;
    double *f = fd_dup(A), *vt = ND_ALLOC_N(double, (size_t)(n * n));
    double *sup = ND_ALLOC_N(double, (size_t)n);
    ck_assert_int_eq(nd_dm_alloc_dev(m, n, U), ND_OK);
    ck_assert_int_eq(LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'S', (int)m, (int)n, f, A->lld, sv,
                                    (*U)->dev, (*U)->lld, vt, (int)n, sup),
                     0);
    ck_assert_int_eq(nd_dm_alloc_dev(n, n, V), ND_OK);
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < n; i++) (*V)->dev[i + j * (*V)->lld] = vt[j + i * n];
    ND_FREE_N(sup, (size_t)n);
    ND_FREE_N(vt, (size_t)(n * n));
    ND_FREE_N(f, A->cap);
    return ND_OK;
}

static void fd_transpose(const nd_dm *A, nd_dm *C)
{
    for (int64_t j = 0; j < C->n; j++)
        for (int64_t i = 0; i < C->m; i++) C->dev[i + j * C->lld] = A->dev[j + i * A->lld];
}

/* The two tables a device backend fills, as the CUDA plugin does. */
static const nd_dm_devops fake_dev = {
    .name = "fake",
    .alloc = fd_alloc, .free = fd_free, .upload = fd_move, .download = fd_move,
    .get1 = fd_get1, .set1 = fd_set1, .copy = fd_move, .ew = fd_ew,
    .ew_scalar = fd_ew_scalar, .map = fd_map, .partials = fd_partials,
    .transpose = fd_transpose, .mem_avail = fd_mem_avail,
};
static const nd_la_ops fake_la = {
    .name = "fake",
    .matmul = fd_matmul, .solve = fd_solve, .cholesky = fd_cholesky, .eigh = fd_eigh,
    .qr = fd_qr, .svd_tall = fd_svd_tall,
};
static void fd_on(void)
{
    nd_dm_set_backend(&fake_dev);
    nd_la_set_device(&fake_la);
}
static void fd_off(void)
{
    nd_dm_set_backend(NULL);
    nd_la_set_device(NULL);
}

/* ---- helpers --------------------------------------------------------------------- */

static double *gather(const nd_dm *A)
{
    double *v = NULL;
    ck_assert_int_eq(nd_dm_to_colmajor(A, &v), ND_OK);
    return v;
}

static void free_cm(double *v, const nd_dm *A) { ND_FREE_N(v, (size_t)(nd_dm_rows(A) * nd_dm_cols(A))); }

static nd_dm *mk_rand(int64_t m, int64_t n, int64_t seed)
{
    nd_dm *A = NULL;
    ck_assert_int_eq(nd_dm_rand(m, n, seed, false, &A), ND_OK);
    return A;
}

static nd_dm *mk_from(int64_t m, int64_t n, const double *d)
{
    nd_dm *A = NULL;
    ck_assert_int_eq(nd_dm_from_colmajor(m, n, d, &A), ND_OK);
    return A;
}

static bool same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static double max_abs_diff(const double *a, const double *b, size_t n)
{
    double d = 0.0;
    for (size_t k = 0; k < n; k++) d = fmax(d, fabs(a[k] - b[k]));
    return d;
}

/* The error message contains `want` and the status is `st`. */
#define CK_ERR(call, st, want)                                                           \
    do {                                                                                 \
        ck_assert_int_eq((call), (st));                                                  \
        ck_assert_msg(strstr(nd_err_msg(), (want)) != NULL, "message '%s' lacks '%s'",     \
                      nd_err_msg(), (want));                                             \
    } while (0)

static const int64_t SIZES[][2] = {{7, 5}, {64, 65}, {130, 129}, {1, 1}, {1, 9}, {200, 1}};

/* ---- SPMD layer ------------------------------------------------------------------ */

START_TEST(test_spmd_basics)
{
    int size = nd_spmd_size(), rank = nd_spmd_rank();
    int pr, pc, myr, myc;
    nd_spmd_grid(&pr, &pc, &myr, &myc);
    ck_assert_int_eq(pr * pc, size);
    ck_assert_int_le(pr, pc);
    ck_assert_int_eq(nd_spmd_block_size(), 64);
    ck_assert(myr >= 0 && myr < pr && myc >= 0 && myc < pc);

    char buf[100];
    memset(buf, rank == 0 ? 'x' : 0, sizeof buf);
    ck_assert_int_eq(nd_spmd_bcast(buf, sizeof buf, 0), ND_OK);
    for (size_t k = 0; k < sizeof buf; k++) ck_assert_int_eq(buf[k], 'x');

    void *p = NULL;
    size_t n = 0;
    char msg[] = "hello ranks";
    if (rank == size - 1) {
        p = msg;
        n = sizeof msg;
    }
    ck_assert_int_eq(nd_spmd_bcast_alloc(&p, &n, size - 1), ND_OK);
    ck_assert_uint_eq(n, sizeof msg);
    ck_assert_str_eq((char *)p, "hello ranks");
    if (rank != size - 1) nd_free(p, n);

    /* A rank-local failure: every rank gets the status and the lowest failing rank's
     * message. */
    nd_err_clear();
    nd_status local = ND_OK;
    if (rank == size - 1) local = nd_err_set(ND_EIO, "disk trouble on rank %d", rank);
    if (size > 2 && rank == 1) local = nd_err_set(ND_EPROG, "first failure on rank 1");
    nd_status st = nd_spmd_agree(local);
    char want[64];
    snprintf(want, sizeof want, size > 2 ? "first failure on rank 1" : "disk trouble on rank %d",
             size - 1);
    ck_assert_int_eq(st, size > 2 ? ND_EIO : ND_EIO);
    ck_assert_str_eq(nd_err_msg(), want);
    ck_assert_int_eq(nd_spmd_agree(ND_OK), ND_OK);

    double t = nd_spmd_wtime(), t0 = t;
    ck_assert_int_eq(nd_spmd_bcast(&t0, sizeof t0, 0), ND_OK);
    ck_assert(same_bits(t, t0));
    ck_assert_int_eq(nd_spmd_barrier(), ND_OK);

    /* Configuration errors. */
    nd_spmd_opts o = {.block_size = 64, .grid_rows = size + 1, .grid_cols = 1,
                      .check_collectives = true};
    CK_ERR(nd_spmd_configure(&o), ND_EUSAGE, "does not match");
    /* A bad block size is the configuration's error (check_config: block_size -3). */
}
END_TEST

START_TEST(test_spmd_check)
{
    int size = nd_spmd_size(), rank = nd_spmd_rank();
    ck_assert(nd_spmd_checks_enabled());
    ck_assert_int_eq(nd_spmd_check(42, "sum()", 3, 7), ND_OK);
    if (size == 1) return;
    /* Rank 1 takes another path. */
    nd_status st = rank == 1 ? nd_spmd_check(43, "norm()", 9, 3) : nd_spmd_check(42, "sum()", 4, 5);
    ck_assert_int_eq(st, ND_EDIVERGED);
    ck_assert_str_eq(nd_err_msg(),
                     "ranks diverged: rank 0 is at sum() (line 4:5) but rank 1 is at norm() (line 9:3)");
    /* Rank 1 leaves the program while the others wait at a barrier. */
    st = rank == 1 ? nd_spmd_check(ND_SPMD_TAG_EXIT, "exit", 0, 0)
                   : nd_spmd_check(7, "barrier()", 5, 3);
    ck_assert_int_eq(st, ND_EDIVERGED);
    ck_assert_str_eq(nd_err_msg(), "rank 1 finished while rank 0 is at barrier() (line 5:3)");
    st = rank == 0 ? nd_spmd_check(ND_SPMD_TAG_EXIT, "exit", 0, 0)
                   : nd_spmd_check(7, "barrier()", 6, 1);
    ck_assert_int_eq(st, ND_EDIVERGED);
    ck_assert_str_eq(nd_err_msg(), "rank 0 finished while rank 1 is at barrier() (line 6:1)");
    /* Switched off, nothing is exchanged and nothing fails. */
    nd_spmd_opts o = {.block_size = 0, .check_collectives = false};
    ck_assert_int_eq(nd_spmd_configure(&o), ND_OK);
    ck_assert_int_eq(nd_spmd_check((uint64_t)rank, "x", 1, 1), ND_OK);
    o.check_collectives = true;
    ck_assert_int_eq(nd_spmd_configure(&o), ND_OK);
    ck_assert_int_eq(nd_spmd_block_size(), 64);
}
END_TEST

/* ---- construction ---------------------------------------------------------------- */

/* Solo mode: rank 0 runs ScaLAPACK alone on its own 1x1 grid (qr: pdorgqr leaves PBLAS's
 * process-global row broadcast topology changed), then every rank multiplies on the main
 * grid: without the topologies restored by nd_spmd_solo_end this product hangs. */
static double resid(const nd_dm *A, const nd_dm *B, const nd_dm *C);

START_TEST(test_solo_mode)
{
    if (nd_spmd_size() == 1) {
        ck_assert_int_eq(nd_spmd_solo_begin(), ND_EINTERNAL); /* nothing to be solo from */
        return;
    }
    int size = nd_spmd_size();
    if (nd_spmd_rank() == 0) {
        ck_assert_int_eq(nd_spmd_solo_begin(), ND_OK);
        ck_assert_int_eq(nd_spmd_size(), 1);
        int pr, pc, myr, myc;
        nd_spmd_grid(&pr, &pc, &myr, &myc);
        ck_assert(pr == 1 && pc == 1 && myr == 0 && myc == 0);
        nd_dm *A = mk_rand(130, 70, 3), *Q, *R;
        ck_assert_int_eq(nd_la_qr(A, &Q, &R), ND_OK);
        ck_assert(resid(Q, R, A) < 1e-12 * 130);
        nd_dm_free(A), nd_dm_free(Q), nd_dm_free(R);
        nd_spmd_solo_end();
    }
    ck_assert_int_eq(nd_spmd_size(), size);
    nd_dm *X = mk_rand(130, 70, 4), *Y = mk_rand(70, 70, 5), *P;
    ck_assert_int_eq(nd_la_matmul(X, Y, &P), ND_OK);
    double *x = gather(X), *y = gather(Y), *p = gather(P), err = 0.0;
    for (int i = 0; i < 130; i++)
        for (int j = 0; j < 70; j++) {
            double s = 0.0;
            for (int k = 0; k < 70; k++) s += x[i + 130 * k] * y[k + 70 * j];
            err = fmax(err, fabs(s - p[i + 130 * j]));
        }
    ck_assert(err < 1e-11);
    free_cm(x, X), free_cm(y, Y), free_cm(p, P);
    nd_dm_free(X), nd_dm_free(Y), nd_dm_free(P);
}
END_TEST

START_TEST(test_construct)
{
    nd_dm *Z, *F, *E, *L;
    ck_assert_int_eq(nd_dm_zeros(70, 66, &Z), ND_OK);
    ck_assert_int_eq(nd_dm_fill(70, 66, -2.5, &F), ND_OK);
    ck_assert_int_eq(nd_dm_eye(67, &E), ND_OK);
    ck_assert_int_eq(nd_dm_linspace(-1.0, 2.0, 130, &L), ND_OK);
    double *z = gather(Z), *f = gather(F), *e = gather(E), *l = gather(L);
    ck_assert_int_eq(nd_dm_rows(Z), 70);
    ck_assert_int_eq(nd_dm_cols(Z), 66);
    ck_assert_int_eq(nd_dm_rows(L), 130);
    ck_assert_int_eq(nd_dm_cols(L), 1);
    for (int k = 0; k < 70 * 66; k++) {
        ck_assert(z[k] == 0.0);
        ck_assert(f[k] == -2.5);
    }
    for (int j = 0; j < 67; j++)
        for (int i = 0; i < 67; i++) ck_assert(e[i + 67 * j] == (i == j ? 1.0 : 0.0));
    for (int k = 0; k < 130; k++) ck_assert(same_bits(l[k], -1.0 + 3.0 * k / 129.0));
    ck_assert(l[129] == 2.0);
    nd_dm *L1;
    ck_assert_int_eq(nd_dm_linspace(3.0, 5.0, 1, &L1), ND_OK);
    double v;
    ck_assert_int_eq(nd_dm_get(L1, 0, 0, &v), ND_OK);
    ck_assert(v == 3.0);
    ck_assert(nd_dm_local_bytes(Z) >= sizeof(double));
    free_cm(z, Z), free_cm(f, F), free_cm(e, E), free_cm(l, L);
    nd_dm_free(Z), nd_dm_free(F), nd_dm_free(E), nd_dm_free(L), nd_dm_free(L1);

    /* Round trip through the column-major form at ragged sizes. */
    for (size_t s = 0; s < ND_ARRAY_LEN(SIZES); s++) {
        int64_t m = SIZES[s][0], n = SIZES[s][1];
        double *d = ND_ALLOC_N(double, (size_t)(m * n));
        for (int64_t k = 0; k < m * n; k++) d[k] = (double)k * 0.5 - 7.0;
        d[0] = -0.0;
        nd_dm *A = mk_from(m, n, d);
        double *g = gather(A);
        ck_assert(memcmp(d, g, (size_t)(m * n) * sizeof *d) == 0);
        free_cm(g, A);
        ND_FREE_N(d, (size_t)(m * n));
        nd_dm_free(A);
    }

    nd_dm *X = NULL;
    CK_ERR(nd_dm_zeros(0, 3, &X), ND_EPROG, "matrix dimensions must be at least 1 (0x3)");
    ck_assert_ptr_null(X);
    CK_ERR(nd_dm_fill(2, -1, 1.0, &X), ND_EPROG, "at least 1 (2x-1)");
    CK_ERR(nd_dm_eye(0, &X), ND_EPROG, "at least 1");
    CK_ERR(nd_dm_zeros(INT64_C(3000000000), 1, &X), ND_EPROG, "32-bit");
    CK_ERR(nd_dm_zeros(100000, 100000, &X), ND_EPROG, "32-bit");
    CK_ERR(nd_dm_linspace(0, 1, 0, &X), ND_EPROG, "linspace needs n >= 1 (got 0)");
    CK_ERR(nd_dm_rand(5, 0, 1, false, &X), ND_EPROG, "at least 1");
}
END_TEST

/* Values of rand/randn computed at 1 rank (hex floats): they must come out bit for bit
 * at every rank count. */
START_TEST(test_rand)
{
    nd_dm *U = mk_rand(130, 129, 7), *G = NULL, *S = mk_rand(64, 65, 7), *N2 = NULL;
    ck_assert_int_eq(nd_dm_rand(130, 129, 7, true, &G), ND_OK);
    ck_assert_int_eq(nd_dm_rand(30, 20, 7, true, &N2), ND_OK);
    nd_dm *U8 = mk_rand(130, 129, 8), *Uneg = mk_rand(3, 2, -5);
    double *u = gather(U), *g = gather(G), *s = gather(S), *n2 = gather(N2), *u8 = gather(U8);
    double sum_u, sum_g, u00, g_last;
    ck_assert_int_eq(nd_dm_reduce(ND_RED_SUM, U, &sum_u), ND_OK);
    ck_assert_int_eq(nd_dm_reduce(ND_RED_SUM, G, &sum_g), ND_OK);
    ck_assert_int_eq(nd_dm_get(U, 0, 0, &u00), ND_OK);
    ck_assert_int_eq(nd_dm_get(G, 129, 128, &g_last), ND_OK);
    double mean_u = sum_u / (130.0 * 129.0), mean_g = sum_g / (130.0 * 129.0);
    /* Prefix property: rand(m, n, s)[0:k, 0:l] == rand(k, l, s). */
    for (int j = 0; j < 65; j++)
        for (int i = 0; i < 64; i++) ck_assert(same_bits(s[i + 64 * j], u[i + 130 * j]));
    for (int j = 0; j < 20; j++)
        for (int i = 0; i < 30; i++) ck_assert(same_bits(n2[i + 30 * j], g[i + 130 * j]));
    int differ = 0;
    for (int k = 0; k < 130 * 129; k++) {
        ck_assert(u[k] >= 0.0 && u[k] < 1.0);
        differ += u[k] != u8[k];
    }
    ck_assert_int_gt(differ, 130 * 129 - 10);
    ck_assert(fabs(mean_u - 0.5) < 0.01);
    ck_assert(fabs(mean_g) < 0.03);
    /* Values recorded at 1 rank. */
    if (getenv("ND_CHECK_DM_PRINT"))
        printf("rand: %a %a %a %a\n", u00, g_last, sum_u, sum_g);
    ck_assert_msg(same_bits(u00, 0x1.c3087988fdd85p-1), "u00 %a", u00);
    ck_assert_msg(same_bits(g_last, 0x1.dd93a245505c3p-1), "g_last %a", g_last);
    ck_assert_msg(same_bits(sum_u, 0x1.03df67416d64p+13), "sum_u %a", sum_u);
    ck_assert_msg(same_bits(sum_g, 0x1.eb37a1e5ed5dbp+6), "sum_g %a", sum_g);
    free_cm(u, U), free_cm(g, G), free_cm(s, S), free_cm(n2, N2), free_cm(u8, U8);
    nd_dm_free(U), nd_dm_free(G), nd_dm_free(S), nd_dm_free(N2), nd_dm_free(U8), nd_dm_free(Uneg);
}
END_TEST

/* ---- elements and blocks --------------------------------------------------------- */

START_TEST(test_get_set_slice_assign)
{
    const int64_t m = 130, n = 129;
    nd_dm *A = mk_rand(m, n, 3);
    double *a = gather(A);
    for (int64_t i = 0; i < m; i += 13)
        for (int64_t j = 0; j < n; j += 11) {
            double v;
            ck_assert_int_eq(nd_dm_get(A, i, j, &v), ND_OK);
            ck_assert(same_bits(v, a[i + m * j]));
        }
    ck_assert_int_eq(nd_dm_set(A, 129, 128, -4.0), ND_OK);
    ck_assert_int_eq(nd_dm_set(A, 64, 0, 9.0), ND_OK);
    a[129 + m * 128] = -4.0;
    a[64] = 9.0;
    double *a2 = gather(A);
    ck_assert(memcmp(a, a2, sizeof(double) * (size_t)(m * n)) == 0);
    free_cm(a2, A);

    /* Slices across block boundaries. */
    const int64_t sl[][4] = {{0, 130, 0, 129}, {63, 66, 1, 128}, {5, 6, 64, 65}, {100, 130, 0, 70}};
    for (size_t k = 0; k < ND_ARRAY_LEN(sl); k++) {
        int64_t r0 = sl[k][0], r1 = sl[k][1], c0 = sl[k][2], c1 = sl[k][3];
        nd_dm *S;
        ck_assert_int_eq(nd_dm_slice(A, r0, r1, c0, c1, &S), ND_OK);
        ck_assert_int_eq(nd_dm_rows(S), r1 - r0);
        ck_assert_int_eq(nd_dm_cols(S), c1 - c0);
        double *s = gather(S);
        for (int64_t j = c0; j < c1; j++)
            for (int64_t i = r0; i < r1; i++)
                ck_assert(same_bits(s[(i - r0) + (r1 - r0) * (j - c0)], a[i + m * j]));
        free_cm(s, S);
        nd_dm_free(S);
    }

    /* Block assignment and scalar fill. */
    nd_dm *B = mk_rand(70, 3, 4), *C;
    double *b = gather(B);
    ck_assert_int_eq(nd_dm_assign(A, 60, 126, B), ND_OK);
    ck_assert_int_eq(nd_dm_assign_scalar(A, 0, 2, 60, 70, 0.5), ND_OK);
    for (int64_t j = 0; j < 3; j++)
        for (int64_t i = 0; i < 70; i++) a[(60 + i) + m * (126 + j)] = b[i + 70 * j];
    for (int64_t j = 60; j < 70; j++)
        for (int64_t i = 0; i < 2; i++) a[i + m * j] = 0.5;
    a2 = gather(A);
    ck_assert(memcmp(a, a2, sizeof(double) * (size_t)(m * n)) == 0);
    free_cm(a2, A);
    ck_assert_int_eq(nd_dm_copy(A, &C), ND_OK);
    ck_assert_int_eq(nd_dm_set(C, 0, 0, 123.0), ND_OK); /* a copy, not a view */
    double *c = gather(C);
    ck_assert(c[0] == 123.0);
    ck_assert(memcmp(a + 1, c + 1, sizeof(double) * (size_t)(m * n - 1)) == 0);
    free_cm(c, C);

    double v;
    nd_dm *X = NULL;
    CK_ERR(nd_dm_get(A, 130, 0, &v), ND_EPROG, "index [130, 0] out of range for 130x129 matrix");
    CK_ERR(nd_dm_get(A, 0, -1, &v), ND_EPROG, "out of range");
    CK_ERR(nd_dm_set(A, -1, 0, 1.0), ND_EPROG, "index [-1, 0] out of range");
    CK_ERR(nd_dm_slice(A, 0, 131, 0, 2, &X), ND_EPROG, "slice [0:131, 0:2] out of range for 130x129");
    CK_ERR(nd_dm_slice(A, 3, 3, 0, 2, &X), ND_EPROG, "empty slice [3:3, 0:2]");
    CK_ERR(nd_dm_slice(A, 4, 3, 0, 2, &X), ND_EPROG, "out of range");
    CK_ERR(nd_dm_assign(A, 61, 126, B), ND_EPROG, "shape mismatch");
    CK_ERR(nd_dm_assign_scalar(A, 0, 2, 128, 130, 1.0), ND_EPROG, "out of range");
    ck_assert_ptr_null(X);
    free_cm(a, A);
    ND_FREE_N(b, 70 * 3);
    nd_dm_free(A), nd_dm_free(B), nd_dm_free(C);
}
END_TEST

START_TEST(test_shape_ops)
{
    for (size_t s = 0; s < ND_ARRAY_LEN(SIZES); s++) {
        int64_t m = SIZES[s][0], n = SIZES[s][1];
        nd_dm *A = mk_rand(m, n, 20 + (int64_t)s), *T, *H, *V;
        double *a = gather(A);
        ck_assert_int_eq(nd_dm_transpose(A, &T), ND_OK);
        ck_assert_int_eq(nd_dm_hcat(A, A, &H), ND_OK);
        ck_assert_int_eq(nd_dm_vcat(A, A, &V), ND_OK);
        double *t = gather(T), *h = gather(H), *v = gather(V);
        ck_assert_int_eq(nd_dm_rows(T), n);
        ck_assert_int_eq(nd_dm_cols(H), 2 * n);
        ck_assert_int_eq(nd_dm_rows(V), 2 * m);
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < m; i++) {
                double x = a[i + m * j];
                ck_assert(same_bits(t[j + n * i], x));
                ck_assert(same_bits(h[i + m * j], x) && same_bits(h[i + m * (j + n)], x));
                ck_assert(same_bits(v[i + 2 * m * j], x) && same_bits(v[i + m + 2 * m * j], x));
            }
        free_cm(a, A), free_cm(t, T), free_cm(h, H), free_cm(v, V);
        nd_dm_free(A), nd_dm_free(T), nd_dm_free(H), nd_dm_free(V);
    }
    /* diag both ways. */
    nd_dm *x = mk_rand(70, 1, 5), *xt, *D, *Dt, *d2;
    ck_assert_int_eq(nd_dm_transpose(x, &xt), ND_OK);
    ck_assert_int_eq(nd_dm_diag(x, &D), ND_OK);
    ck_assert_int_eq(nd_dm_diag(xt, &Dt), ND_OK);
    ck_assert_int_eq(nd_dm_diag(D, &d2), ND_OK);
    double *xv = gather(x), *dv = gather(D), *dtv = gather(Dt), *d2v = gather(d2);
    ck_assert(memcmp(dv, dtv, sizeof(double) * 70 * 70) == 0);
    for (int j = 0; j < 70; j++)
        for (int i = 0; i < 70; i++) ck_assert(dv[i + 70 * j] == (i == j ? xv[i] : 0.0));
    ck_assert(memcmp(d2v, xv, sizeof(double) * 70) == 0);
    ck_assert_int_eq(nd_dm_cols(d2), 1);
    free_cm(xv, x), free_cm(dv, D), free_cm(dtv, Dt), free_cm(d2v, d2);

    nd_dm *A23, *A32, *X = NULL;
    ck_assert_int_eq(nd_dm_zeros(2, 3, &A23), ND_OK);
    ck_assert_int_eq(nd_dm_zeros(3, 2, &A32), ND_OK);
    CK_ERR(nd_dm_hcat(A23, A32, &X), ND_EPROG, "shape mismatch: hcat(2x3, 3x2)");
    CK_ERR(nd_dm_vcat(A23, A32, &X), ND_EPROG, "shape mismatch: vcat(2x3, 3x2)");
    CK_ERR(nd_dm_diag(A23, &X), ND_EPROG, "diag: matrix must be square (2x3)");
    CK_ERR(nd_dm_need_square("trace", A23), ND_EPROG, "trace: matrix must be square (2x3)");
    ck_assert_int_eq(nd_dm_need_square("trace", D), ND_OK);
    ck_assert_ptr_null(X);
    nd_dm_free(x), nd_dm_free(xt), nd_dm_free(D), nd_dm_free(Dt), nd_dm_free(d2);
    nd_dm_free(A23), nd_dm_free(A32);
}
END_TEST

/* ---- elementwise ----------------------------------------------------------------- */

static double ref_ew(nd_ew_op op, double x, double y)
{
    switch (op) {
    case ND_EW_ADD: return x + y;
    case ND_EW_SUB: return x - y;
    case ND_EW_MUL: return x * y;
    case ND_EW_DIV: return x / y;
    case ND_EW_POW: return pow(x, y);
    case ND_EW_MOD: {
        double r = fmod(x, y); /* the sign of the divisor, as the VM's % on numbers */
        return r != 0 && (r < 0) != (y < 0) ? r + y : r;
    }
    case ND_EW_FLOORDIV: return floor(x / y);
    case ND_EW_LT: return x < y ? 1.0 : 0.0;
    case ND_EW_LE: return x <= y ? 1.0 : 0.0;
    case ND_EW_GT: return x > y ? 1.0 : 0.0;
    case ND_EW_GE: return x >= y ? 1.0 : 0.0;
    case ND_EW_EQ: return x == y ? 1.0 : 0.0;
    case ND_EW_NE: return x != y ? 1.0 : 0.0;
    case ND_EW_MAX: return isnan(x) || isnan(y) ? NAN : fmax(x, y);
    case ND_EW_MIN: return isnan(x) || isnan(y) ? NAN : fmin(x, y);
    case ND_EW_ATAN2: return atan2(x, y);
    }
    return NAN;
}

START_TEST(test_elementwise)
{
    const int64_t m = 64, n = 65;
    size_t N = (size_t)(m * n);
    nd_dm *A = mk_rand(m, n, 1), *B = mk_rand(m, n, 2);
    double *a = gather(A), *b = gather(B);
    for (int op = ND_EW_ADD; op < ND_EW_NOPS; op++) {
        nd_dm *C, *L, *R;
        ck_assert_int_eq(nd_dm_ew((nd_ew_op)op, A, B, &C), ND_OK);
        ck_assert_int_eq(nd_dm_ew_scalar((nd_ew_op)op, A, 1.5, false, &R), ND_OK);
        ck_assert_int_eq(nd_dm_ew_scalar((nd_ew_op)op, A, 1.5, true, &L), ND_OK);
        double *c = gather(C), *l = gather(L), *r = gather(R);
        for (size_t k = 0; k < N; k++) {
            ck_assert(same_bits(c[k], ref_ew((nd_ew_op)op, a[k], b[k])));
            ck_assert(same_bits(r[k], ref_ew((nd_ew_op)op, a[k], 1.5)));
            ck_assert(same_bits(l[k], ref_ew((nd_ew_op)op, 1.5, a[k])));
        }
        free_cm(c, C), free_cm(l, L), free_cm(r, R);
        nd_dm_free(C), nd_dm_free(L), nd_dm_free(R);
    }
    double (*const fns[])(double) = {NULL, fabs, sqrt,  nd_exp_array_value,  log,  sin,  cos,
                                     tanh, tan,  atan,  floor, ceil, round};
    for (int f = ND_MAP_NEG; f <= ND_MAP_ROUND; f++) {
        nd_dm *C;
        ck_assert_int_eq(nd_dm_map((nd_map_fn)f, A, &C), ND_OK);
        double *c = gather(C);
        for (size_t k = 0; k < N; k++)
            ck_assert(same_bits(c[k], f == ND_MAP_NEG ? -a[k] : fns[f](a[k])));
        free_cm(c, C);
        nd_dm_free(C);
    }
    nd_dm *A23, *A32, *X = NULL;
    ck_assert_int_eq(nd_dm_zeros(2, 3, &A23), ND_OK);
    ck_assert_int_eq(nd_dm_zeros(3, 2, &A32), ND_OK);
    CK_ERR(nd_dm_ew(ND_EW_ADD, A23, A32, &X), ND_EPROG, "shape mismatch: 2x3 + 3x2");
    CK_ERR(nd_dm_ew(ND_EW_SUB, A23, A32, &X), ND_EPROG, "shape mismatch: 2x3 - 3x2");
    CK_ERR(nd_dm_ew(ND_EW_MUL, A23, A32, &X), ND_EPROG, "shape mismatch: 2x3 * 3x2");
    CK_ERR(nd_dm_ew(ND_EW_DIV, A32, A23, &X), ND_EPROG, "shape mismatch: 3x2 / 2x3");
    CK_ERR(nd_dm_ew(ND_EW_POW, A23, A32, &X), ND_EPROG, "shape mismatch: 2x3 ^ 3x2");
    ck_assert_ptr_null(X);
    free_cm(a, A), free_cm(b, B);
    nd_dm_free(A), nd_dm_free(B), nd_dm_free(A23), nd_dm_free(A32);
}
END_TEST

/* The arrays' exp (dm.c exp_host) against libm: within 1 ulp over the whole range, the
 * same value through an array of any length (the vector loop and its remainder), libm's
 * value outside [-708, 709], exactly 1 at zero. */
static double ulps(double x, double y)
{
    if (x == y || (isnan(x) && isnan(y))) return 0;
    return fabs(x - y) / (nextafter(fabs(y), INFINITY) - fabs(y));
}

START_TEST(test_exp_array)
{
    double worst = 0.0;
    for (double x = -708.0; x < 709.0; x += 0.0137) worst = fmax(worst, ulps(nd_exp_array_value(x), exp(x)));
    for (double x = -1.0; x < 1.0; x += 1.1e-5) worst = fmax(worst, ulps(nd_exp_array_value(x), exp(x)));
    ck_assert_msg(worst <= 1.0, "exp: %.3f ulp from libm", worst);
    const double special[] = {0.0, -0.0, NAN, INFINITY, -INFINITY, -708.0, -708.5, -745.0,
                              -745.2, -800.0, 709.0, 709.7, 709.8, 1e300, -1e300, 5e-324};
    for (size_t k = 0; k < ND_ARRAY_LEN(special); k++)
        ck_assert_msg(ulps(nd_exp_array_value(special[k]), exp(special[k])) <= 1.0,
                      "exp(%g) = %g, libm %g", special[k], nd_exp_array_value(special[k]), exp(special[k]));
    ck_assert(nd_exp_array_value(0.0) == 1.0 && nd_exp_array_value(-0.0) == 1.0);
    /* through nd_dm_map: lengths around the chunk and vector widths, specials inside */
    for (int64_t n = 1; n <= 1100; n += 181) {
        nd_dm *A, *C;
        ck_assert_int_eq(nd_dm_zeros(n, 1, &A), ND_OK);
        for (int64_t i = 0; i < n; i++)
            ck_assert_int_eq(nd_dm_set(A, i, 0, i % 7 == 3 ? special[i % ND_ARRAY_LEN(special)] : (double)i * 0.37 - 200.0), ND_OK);
        ck_assert_int_eq(nd_dm_map(ND_MAP_EXP, A, &C), ND_OK);
        for (int64_t i = 0; i < n; i++) {
            double x, y;
            ck_assert_int_eq(nd_dm_get(A, i, 0, &x), ND_OK);
            ck_assert_int_eq(nd_dm_get(C, i, 0, &y), ND_OK);
            ck_assert(same_bits(y, nd_exp_array_value(x)));
        }
        nd_dm_free(A), nd_dm_free(C);
    }
}
END_TEST

START_TEST(test_matmul)
{
    const int64_t dims[][3] = {{130, 129, 70}, {7, 5, 9}, {1, 200, 1}, {65, 1, 64}};
    for (size_t s = 0; s < ND_ARRAY_LEN(dims); s++) {
        int64_t m = dims[s][0], k = dims[s][1], n = dims[s][2];
        nd_dm *A = mk_rand(m, k, 30), *B = mk_rand(k, n, 31), *C;
        ck_assert_int_eq(nd_la_matmul(A, B, &C), ND_OK);
        double *a = gather(A), *b = gather(B), *c = gather(C);
        double *ref = ND_ALLOC_N(double, (size_t)(m * n));
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0, a,
                    (int)m, b, (int)k, 0.0, ref, (int)m);
        ck_assert_int_eq(nd_dm_rows(C), m);
        ck_assert_int_eq(nd_dm_cols(C), n);
        ck_assert(max_abs_diff(c, ref, (size_t)(m * n)) < 1e-12 * (double)k);
        ND_FREE_N(ref, (size_t)(m * n));
        free_cm(a, A), free_cm(b, B), free_cm(c, C);
        nd_dm_free(A), nd_dm_free(B), nd_dm_free(C);
    }
    nd_dm *A23, *X = NULL;
    ck_assert_int_eq(nd_dm_zeros(2, 3, &A23), ND_OK);
    CK_ERR(nd_la_matmul(A23, A23, &X), ND_EPROG, "shape mismatch: 2x3 @ 2x3");
    ck_assert_ptr_null(X);
    nd_dm_free(A23);
}
END_TEST

/* The device SUMMA (fake device case only): direct and staged broadcasts, panels of one
 * block, two blocks and wider than k, with and without broadcasts on a 1x1 grid, on
 * shapes where some ranks own no rows or columns of C and k is not a multiple of NB. */
START_TEST(test_devsumma)
{
    const int64_t dims[][3] = {{130, 129, 70}, {7, 5, 9}, {1, 200, 1}, {65, 1, 64},
                               {200, 300, 3}, {3, 260, 200}};
    const int64_t panels[] = {NB, 2 * NB, 2048};
    double worst = 0.0;
    for (int mode = 0; mode < 4; mode++)
        for (size_t p = 0; p < ND_ARRAY_LEN(panels); p++) {
            fd_summa.staged = mode & 1;
            fd_summa.force_bcast = mode & 2;
            fd_summa.panel_cols = panels[p];
            for (size_t s = 0; s < ND_ARRAY_LEN(dims); s++) {
                int64_t m = dims[s][0], k = dims[s][1], n = dims[s][2];
                nd_dm *A = mk_rand(m, k, 40 + (int64_t)s), *B = mk_rand(k, n, 50), *C = NULL;
                ck_assert_int_eq(nd_la_matmul(A, B, &C), ND_OK);
                double *a = gather(A), *b = gather(B), *c = gather(C);
                double *ref = ND_ALLOC_N(double, (size_t)(m * n));
                cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k,
                            1.0, a, (int)m, b, (int)k, 0.0, ref, (int)m);
                worst = fmax(worst, max_abs_diff(c, ref, (size_t)(m * n)) / (double)k);
                ND_FREE_N(ref, (size_t)(m * n));
                free_cm(a, A), free_cm(b, B), free_cm(c, C);
                nd_dm_free(A), nd_dm_free(B), nd_dm_free(C);
            }
        }
    fd_summa.staged = fd_summa.force_bcast = false;
    fd_summa.panel_cols = 2 * NB;
    ck_assert_msg(worst < 1e-12, "device SUMMA off by %g per term", worst);
}
END_TEST

/* The piece shape of redistribute: within the budget after Cpdgemr2d's shift by up to
 * nb - 1 rows and columns, never empty, one piece when everything fits, and thin
 * blocks cut along their long side only. */
START_TEST(test_redist_shape)
{
    const int64_t ms[] = {1, 2, 63, 64, 1000, 134217728, 2000000000};
    const int64_t nbs[] = {1, 64, 500};
    const int64_t budgets[] = {5000, 300000, (int64_t)1 << 27};
    for (size_t a = 0; a < ND_ARRAY_LEN(ms); a++)
        for (size_t b = 0; b < ND_ARRAY_LEN(ms); b++)
            for (size_t c = 0; c < ND_ARRAY_LEN(nbs); c++)
                for (size_t d = 0; d < ND_ARRAY_LEN(budgets); d++) {
                    int64_t m = ms[a], n = ms[b], nb = nbs[c], P = budgets[d], r, k;
                    nd_dm_redist_shape(m, n, nb, P, &r, &k);
                    ck_assert(r >= 1 && r <= m && k >= 1 && k <= n);
                    if ((1 + nb) * (1 + nb) <= P)
                        ck_assert_msg((r + nb) * (k + nb) <= P, "%lld %lld %lld %lld: %lld x %lld",
                                      (long long)m, (long long)n, (long long)nb, (long long)P,
                                      (long long)r, (long long)k);
                    if ((double)(m + nb) * (double)(n + nb) <= (double)P)
                        ck_assert(r == m && k == n);
                    if (m == 1 && (1 + nb) * (1 + nb) <= P) ck_assert_int_eq(r, 1);
                }
    /* vcat of two 1-by-2^27 rows (the second at row 1): 65 pieces of 2064888 columns, each
     * within 2^27 elements once shifted, where one move needed 2^31 bytes. */
    int64_t r, k;
    nd_dm_redist_shape(1, (int64_t)1 << 27, 64, (int64_t)1 << 27, &r, &k);
    ck_assert(r == 1 && k == ((int64_t)1 << 27) / 65 - 64);
}
END_TEST

/* Slices, slice assignment, hcat and vcat move data in pieces: with budgets of 5000, 12000
 * and 30000 elements (pieces of a few rows up to a few blocks) the results are the same
 * bits as in one piece, on ranges that do not start at 0 and on thin matrices. */
START_TEST(test_redist_pieces)
{
    nd_dm *A = mk_rand(130, 129, 61), *B = mk_rand(130, 40, 62), *C = mk_rand(100, 40, 63);
    nd_dm *T = mk_rand(1, 700, 64), *V = mk_rand(300, 1, 65);
    enum { NR = 6 };
    nd_dm *R[4][NR];
    const int64_t pieces[] = {0, 5000, 12000, 30000};
    for (size_t p = 0; p < ND_ARRAY_LEN(pieces); p++) {
        nd_dm_set_redist_piece(pieces[p]);
        ck_assert_int_eq(nd_dm_slice(A, 3, 120, 5, 101, &R[p][0]), ND_OK);
        ck_assert_int_eq(nd_dm_hcat(A, B, &R[p][1]), ND_OK);
        ck_assert_int_eq(nd_dm_vcat(A, A, &R[p][2]), ND_OK);
        ck_assert_int_eq(nd_dm_copy(A, &R[p][3]), ND_OK);
        ck_assert_int_eq(nd_dm_assign(R[p][3], 9, 70, C), ND_OK);
        ck_assert_int_eq(nd_dm_vcat(T, T, &R[p][4]), ND_OK);
        ck_assert_int_eq(nd_dm_hcat(V, V, &R[p][5]), ND_OK);
    }
    nd_dm_set_redist_piece(0);
    for (int k = 0; k < NR; k++) {
        double *want = gather(R[0][k]);
        size_t n = (size_t)(nd_dm_rows(R[0][k]) * nd_dm_cols(R[0][k]));
        for (size_t p = 1; p < ND_ARRAY_LEN(pieces); p++) {
            double *got = gather(R[p][k]);
            ck_assert_msg(memcmp(got, want, n * sizeof *got) == 0, "result %d, piece %lld", k,
                          (long long)pieces[p]);
            free_cm(got, R[p][k]);
        }
        free_cm(want, R[0][k]);
    }
    double *a = gather(A), *s = gather(R[0][0]), *t = gather(T), *v = gather(R[0][4]);
    ck_assert(same_bits(s[0], a[3 + 130 * 5]) && same_bits(s[116 + 117 * 95], a[119 + 130 * 100]));
    ck_assert(same_bits(v[1 + 2 * 699], t[699]));
    free_cm(a, A), free_cm(s, R[0][0]), free_cm(t, T), free_cm(v, R[0][4]);
    for (size_t p = 0; p < ND_ARRAY_LEN(pieces); p++)
        for (int k = 0; k < NR; k++) nd_dm_free(R[p][k]);
    nd_dm_free(A), nd_dm_free(B), nd_dm_free(C), nd_dm_free(T), nd_dm_free(V);
}
END_TEST

/* ---- reductions ------------------------------------------------------------------ */

/* The documented order (docs/matrices.md), independent of the rank count: one partial
 * per NB-by-NB global block (columns outer, rows inner), blocks summed bi fastest. */
static double ref_block_sum(const double *a, const double *b, int64_t m, int64_t n, bool sq)
{
    double total = 0.0;
    for (int64_t bj = 0; bj * NB < n; bj++)
        for (int64_t bi = 0; bi * NB < m; bi++) {
            double p = 0.0;
            for (int64_t j = bj * NB; j < n && j < (bj + 1) * NB; j++)
                for (int64_t i = bi * NB; i < m && i < (bi + 1) * NB; i++) {
                    double x = a[i + m * j];
                    p += b ? x * b[i + m * j] : sq ? x * x : x;
                }
            total += p;
        }
    return total;
}

static double ref_norm1(const double *a, int64_t m, int64_t n)
{
    double best = 0.0;
    for (int64_t j = 0; j < n; j++) {
        double s = 0.0;
        for (int64_t bi = 0; bi * NB < m; bi++) {
            double p = 0.0;
            for (int64_t i = bi * NB; i < m && i < (bi + 1) * NB; i++) p += fabs(a[i + m * j]);
            s += p;
        }
        best = j == 0 ? s : fmax(best, s);
    }
    return best;
}

static double ref_norminf(const double *a, int64_t m, int64_t n)
{
    double best = 0.0;
    for (int64_t i = 0; i < m; i++) {
        double s = 0.0;
        for (int64_t bj = 0; bj * NB < n; bj++) {
            double p = 0.0;
            for (int64_t j = bj * NB; j < n && j < (bj + 1) * NB; j++) p += fabs(a[i + m * j]);
            s += p;
        }
        best = i == 0 ? s : fmax(best, s);
    }
    return best;
}

START_TEST(test_reductions)
{
    for (size_t s = 0; s < ND_ARRAY_LEN(SIZES); s++) {
        int64_t m = SIZES[s][0], n = SIZES[s][1];
        nd_dm *A = NULL;
        ck_assert_int_eq(nd_dm_rand(m, n, 40 + (int64_t)s, true, &A), ND_OK);
        double *a = gather(A);
        double r[8];
        for (int op = ND_RED_SUM; op <= ND_RED_NORM_INF; op++)
            ck_assert_int_eq(nd_dm_reduce((nd_red_op)op, A, &r[op]), ND_OK);
        double sum = ref_block_sum(a, NULL, m, n, false);
        double mn = a[0], mx = a[0], tr = 0.0;
        for (int64_t k = 0; k < m * n; k++) mn = fmin(mn, a[k]), mx = fmax(mx, a[k]);
        int64_t kd = m < n ? m : n;
        for (int64_t bd = 0; bd * NB < kd; bd++) {
            double p = 0.0;
            for (int64_t i = bd * NB; i < kd && i < (bd + 1) * NB; i++) p += a[i + m * i];
            tr += p;
        }
        ck_assert_msg(same_bits(r[ND_RED_SUM], sum), "sum %a vs %a", r[ND_RED_SUM], sum);
        ck_assert(same_bits(r[ND_RED_MEAN], sum / ((double)m * (double)n)));
        ck_assert(same_bits(r[ND_RED_MIN], mn));
        ck_assert(same_bits(r[ND_RED_MAX], mx));
        ck_assert(same_bits(r[ND_RED_TRACE], tr));
        ck_assert(same_bits(r[ND_RED_NORM_FRO], sqrt(ref_block_sum(a, NULL, m, n, true))));
        ck_assert(same_bits(r[ND_RED_NORM_1], ref_norm1(a, m, n)));
        ck_assert(same_bits(r[ND_RED_NORM_INF], ref_norminf(a, m, n)));
        /* And close to LAPACK's own norms. */
        ck_assert(fabs(r[ND_RED_NORM_FRO] - LAPACKE_dlange(LAPACK_COL_MAJOR, 'F', (int)m, (int)n, a, (int)m)) <
                  1e-12 * r[ND_RED_NORM_FRO]);
        free_cm(a, A);
        nd_dm_free(A);
    }
    /* dot in both orientations, and the vector sum is orientation-free. */
    nd_dm *x = mk_rand(200, 1, 50), *y = mk_rand(200, 1, 51), *yt, *xt;
    ck_assert_int_eq(nd_dm_transpose(y, &yt), ND_OK);
    ck_assert_int_eq(nd_dm_transpose(x, &xt), ND_OK);
    double d1, d2, d3, s1, s2;
    ck_assert_int_eq(nd_dm_dot(x, y, &d1), ND_OK);
    ck_assert_int_eq(nd_dm_dot(x, yt, &d2), ND_OK);
    ck_assert_int_eq(nd_dm_dot(xt, yt, &d3), ND_OK);
    ck_assert_int_eq(nd_dm_reduce(ND_RED_SUM, x, &s1), ND_OK);
    ck_assert_int_eq(nd_dm_reduce(ND_RED_SUM, xt, &s2), ND_OK);
    double *xv = gather(x), *yv = gather(y);
    double dref = ref_block_sum(xv, yv, 200, 1, false);
    ck_assert(same_bits(d1, dref) && same_bits(d2, dref) && same_bits(d3, dref));
    ck_assert(same_bits(s1, s2));
    free_cm(xv, x), free_cm(yv, y);
    /* Negative zero survives gathers; min/max of exact values. */
    double cm[6] = {-0.0, 3.0, -7.0, 2.0, 8.0, -1.0};
    nd_dm *M = mk_from(2, 3, cm), *X = NULL;
    double v;
    ck_assert_int_eq(nd_dm_reduce(ND_RED_MIN, M, &v), ND_OK);
    ck_assert(v == -7.0);
    ck_assert_int_eq(nd_dm_reduce(ND_RED_MAX, M, &v), ND_OK);
    ck_assert(v == 8.0);
    ck_assert_int_eq(nd_dm_reduce(ND_RED_NORM_1, M, &v), ND_OK);
    ck_assert(v == 9.0);
    ck_assert_int_eq(nd_dm_reduce(ND_RED_NORM_INF, M, &v), ND_OK);
    ck_assert(v == 15.0);
    ck_assert_int_eq(nd_dm_reduce(ND_RED_TRACE, M, &v), ND_OK);
    ck_assert(v == 2.0);
    double *mv = gather(M);
    ck_assert(signbit(mv[0]));
    free_cm(mv, M);
    nd_dm *z3 = mk_rand(3, 1, 1);
    CK_ERR(nd_dm_dot(x, z3, &v), ND_EPROG, "shape mismatch: dot(200x1, 3x1)");
    CK_ERR(nd_dm_dot(M, M, &v), ND_EPROG, "dot needs two vectors (got 2x3 and 2x3)");
    ck_assert_ptr_null(X);
    nd_dm_free(x), nd_dm_free(y), nd_dm_free(xt), nd_dm_free(yt), nd_dm_free(M), nd_dm_free(z3);
}
END_TEST

/* ---- linear algebra -------------------------------------------------------------- */

/* A well-conditioned n-by-n matrix: rand + n * Id. */
static nd_dm *mk_wellcond(int64_t n, int64_t seed)
{
    nd_dm *R = mk_rand(n, n, seed), *Id, *S, *A;
    ck_assert_int_eq(nd_dm_eye(n, &Id), ND_OK);
    ck_assert_int_eq(nd_dm_ew_scalar(ND_EW_MUL, Id, (double)n, false, &S), ND_OK);
    ck_assert_int_eq(nd_dm_ew(ND_EW_ADD, R, S, &A), ND_OK);
    nd_dm_free(R), nd_dm_free(Id), nd_dm_free(S);
    return A;
}

static double resid(const nd_dm *A, const nd_dm *B, const nd_dm *C)
{
    /* ||A @ B - C||_F */
    nd_dm *P, *D;
    double v;
    ck_assert_int_eq(nd_la_matmul(A, B, &P), ND_OK);
    ck_assert_int_eq(nd_dm_ew(ND_EW_SUB, P, C, &D), ND_OK);
    ck_assert_int_eq(nd_dm_reduce(ND_RED_NORM_FRO, D, &v), ND_OK);
    nd_dm_free(P), nd_dm_free(D);
    return v;
}

/* Every column's largest-magnitude entry is positive. */
static bool signs_ok(const nd_dm *V)
{
    int64_t m = nd_dm_rows(V), n = nd_dm_cols(V);
    double *v = gather(V);
    bool ok = true;
    for (int64_t j = 0; j < n; j++) {
        int64_t best = 0;
        for (int64_t i = 1; i < m; i++)
            if (fabs(v[i + m * j]) > fabs(v[best + m * j])) best = i;
        ok = ok && v[best + m * j] > 0;
    }
    free_cm(v, V);
    return ok;
}

START_TEST(test_solve_inv_det)
{
    const int64_t n = 130;
    nd_dm *A = mk_wellcond(n, 60), *B = mk_rand(n, 3, 61), *X, *Ai, *Id;
    ck_assert_int_eq(nd_la_solve(A, B, &X), ND_OK);
    ck_assert_int_eq(nd_la_inv(A, &Ai), ND_OK);
    ck_assert_int_eq(nd_dm_eye(n, &Id), ND_OK);
    ck_assert(resid(A, X, B) < 1e-10);
    ck_assert(resid(A, Ai, Id) < 1e-10);
    double det, dref = 1.0;
    ck_assert_int_eq(nd_la_det(A, &det), ND_OK);
    double *a = gather(A);
    lapack_int *ip = ND_ALLOC_N(lapack_int, (size_t)n);
    ck_assert_int_eq(LAPACKE_dgetrf(LAPACK_COL_MAJOR, (int)n, (int)n, a, (int)n, ip), 0);
    for (int64_t k = 0; k < n; k++) dref *= a[k + n * k] * (ip[k] != k + 1 ? -1.0 : 1.0);
    ck_assert_msg(fabs(det - dref) < 1e-10 * fabs(dref), "det %g vs %g", det, dref);
    ND_FREE_N(ip, (size_t)n);
    free_cm(a, A);

    /* Small exact cases: permutation sign, singular -> 0.0. */
    double p3[9] = {0, 0, 1, 1, 0, 0, 0, 1, 0}; /* column-major permutation */
    double s3[9] = {2, 1, 4, 0, 0, 0, 1, 3, 5}; /* middle column zero */
    double t2[4] = {4, 2, 7, 6};
    nd_dm *P = mk_from(3, 3, p3), *S = mk_from(3, 3, s3), *T = mk_from(2, 2, t2), *Y = NULL;
    double dp, ds, dt;
    ck_assert_int_eq(nd_la_det(P, &dp), ND_OK);
    ck_assert_int_eq(nd_la_det(S, &ds), ND_OK);
    ck_assert_int_eq(nd_la_det(T, &dt), ND_OK);
    ck_assert(dp == 1.0);
    ck_assert(ds == 0.0);
    ck_assert(fabs(dt - 10.0) < 1e-12);
    nd_dm *b3 = mk_rand(3, 1, 1), *A23;
    ck_assert_int_eq(nd_dm_zeros(2, 3, &A23), ND_OK);
    CK_ERR(nd_la_solve(S, b3, &Y), ND_EPROG, "singular matrix");
    CK_ERR(nd_la_inv(S, &Y), ND_EPROG, "singular matrix");
    CK_ERR(nd_la_solve(A23, b3, &Y), ND_EPROG, "solve: matrix must be square (2x3)");
    CK_ERR(nd_la_solve(T, b3, &Y), ND_EPROG, "shape mismatch: solve(2x2, 3x1)");
    CK_ERR(nd_la_inv(A23, &Y), ND_EPROG, "inv: matrix must be square (2x3)");
    CK_ERR(nd_la_det(A23, &dt), ND_EPROG, "det: matrix must be square (2x3)");
    ck_assert_ptr_null(Y);
    nd_dm_free(A), nd_dm_free(B), nd_dm_free(X), nd_dm_free(Ai), nd_dm_free(Id);
    nd_dm_free(P), nd_dm_free(S), nd_dm_free(T), nd_dm_free(b3), nd_dm_free(A23);
}
END_TEST

START_TEST(test_cholesky_qr)
{
    const int64_t n = 129;
    nd_dm *R0 = mk_rand(n, n, 70), *R0t, *K, *L, *Lt;
    ck_assert_int_eq(nd_dm_transpose(R0, &R0t), ND_OK);
    nd_dm *G, *Id, *nI;
    ck_assert_int_eq(nd_la_matmul(R0t, R0, &G), ND_OK);
    ck_assert_int_eq(nd_dm_eye(n, &Id), ND_OK);
    ck_assert_int_eq(nd_dm_ew_scalar(ND_EW_MUL, Id, 1.0, false, &nI), ND_OK);
    ck_assert_int_eq(nd_dm_ew(ND_EW_ADD, G, nI, &K), ND_OK); /* SPD */
    ck_assert_int_eq(nd_la_cholesky(K, &L), ND_OK);
    ck_assert_int_eq(nd_dm_transpose(L, &Lt), ND_OK);
    double nk;
    ck_assert_int_eq(nd_dm_reduce(ND_RED_NORM_FRO, K, &nk), ND_OK);
    ck_assert(resid(L, Lt, K) < 1e-12 * nk);
    double *l = gather(L);
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < j; i++) ck_assert(l[i + n * j] == 0.0);
    free_cm(l, L);

    /* qr, tall and wide. */
    const int64_t qd[][2] = {{130, 70}, {7, 5}, {5, 7}, {64, 64}};
    for (size_t s = 0; s < ND_ARRAY_LEN(qd); s++) {
        int64_t m = qd[s][0], c = qd[s][1], k = m < c ? m : c;
        nd_dm *A = mk_rand(m, c, 80 + (int64_t)s), *Q, *R, *Qt, *Ik;
        ck_assert_int_eq(nd_la_qr(A, &Q, &R), ND_OK);
        ck_assert_int_eq(nd_dm_rows(Q), m);
        ck_assert_int_eq(nd_dm_cols(Q), k);
        ck_assert_int_eq(nd_dm_rows(R), k);
        ck_assert_int_eq(nd_dm_cols(R), c);
        ck_assert_int_eq(nd_dm_transpose(Q, &Qt), ND_OK);
        ck_assert_int_eq(nd_dm_eye(k, &Ik), ND_OK);
        ck_assert(resid(Q, R, A) < 1e-12 * (double)m);
        ck_assert(resid(Qt, Q, Ik) < 1e-12 * (double)m);
        double *r = gather(R);
        for (int64_t j = 0; j < c; j++)
            for (int64_t i = j + 1; i < k; i++) ck_assert(r[i + k * j] == 0.0);
        free_cm(r, R);
        nd_dm_free(A), nd_dm_free(Q), nd_dm_free(R), nd_dm_free(Qt), nd_dm_free(Ik);
    }

    double np[4] = {1, 2, 2, 1}; /* eigenvalues 3, -1 */
    nd_dm *N = mk_from(2, 2, np), *A23, *Y = NULL;
    ck_assert_int_eq(nd_dm_zeros(2, 3, &A23), ND_OK);
    CK_ERR(nd_la_cholesky(N, &Y), ND_EPROG, "matrix is not positive definite");
    CK_ERR(nd_la_cholesky(A23, &Y), ND_EPROG, "cholesky: matrix must be square (2x3)");
    ck_assert_ptr_null(Y);
    nd_dm_free(R0), nd_dm_free(R0t), nd_dm_free(K), nd_dm_free(L), nd_dm_free(Lt);
    nd_dm_free(G), nd_dm_free(Id), nd_dm_free(nI), nd_dm_free(N), nd_dm_free(A23);
}
END_TEST

START_TEST(test_eigh_svd)
{
    const int64_t n = 70;
    nd_dm *R = mk_rand(n, n, 90), *Rt, *S, *w, *V;
    ck_assert_int_eq(nd_dm_transpose(R, &Rt), ND_OK);
    ck_assert_int_eq(nd_dm_ew(ND_EW_ADD, R, Rt, &S), ND_OK); /* symmetric */
    ck_assert_int_eq(nd_la_eigh(S, &w, &V), ND_OK);
    ck_assert_int_eq(nd_dm_rows(w), n);
    ck_assert_int_eq(nd_dm_cols(w), 1);
    double *wv = gather(w), *s = gather(S);
    double *wref = ND_ALLOC_N(double, (size_t)n);
    ck_assert_int_eq(LAPACKE_dsyev(LAPACK_COL_MAJOR, 'N', 'L', (int)n, s, (int)n, wref), 0);
    for (int64_t k = 0; k < n; k++) {
        ck_assert(fabs(wv[k] - wref[k]) < 1e-10 * (1.0 + fabs(wref[k])));
        if (k) ck_assert(wv[k - 1] <= wv[k]);
    }
    nd_dm *D, *SV;
    ck_assert_int_eq(nd_dm_diag(w, &D), ND_OK);
    ck_assert_int_eq(nd_la_matmul(S, V, &SV), ND_OK);
    ck_assert(resid(V, D, SV) < 1e-10);
    ck_assert(signs_ok(V));
    free_cm(wv, w), free_cm(s, S);
    ND_FREE_N(wref, (size_t)n);
    nd_dm_free(R), nd_dm_free(Rt), nd_dm_free(S), nd_dm_free(w), nd_dm_free(V);
    nd_dm_free(D), nd_dm_free(SV);

    const int64_t sd[][2] = {{130, 70}, {7, 5}, {5, 7}, {65, 129}, {1, 4}};
    for (size_t c = 0; c < ND_ARRAY_LEN(sd); c++) {
        int64_t m = sd[c][0], nn = sd[c][1], k = m < nn ? m : nn;
        nd_dm *A = mk_rand(m, nn, 100 + (int64_t)c), *U, *sv, *W, *Ds, *US, *Wt;
        ck_assert_int_eq(nd_la_svd(A, &U, &sv, &W), ND_OK);
        ck_assert_int_eq(nd_dm_rows(U), m);
        ck_assert_int_eq(nd_dm_cols(U), k);
        ck_assert_int_eq(nd_dm_rows(sv), k);
        ck_assert_int_eq(nd_dm_rows(W), nn);
        ck_assert_int_eq(nd_dm_cols(W), k);
        double *a = gather(A), *svv = gather(sv);
        double *sref = ND_ALLOC_N(double, (size_t)k), *sup = ND_ALLOC_N(double, (size_t)k);
        ck_assert_int_eq(LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'N', 'N', (int)m, (int)nn, a, (int)m,
                                        sref, NULL, 1, NULL, 1, sup),
                         0);
        for (int64_t q = 0; q < k; q++) {
            ck_assert(fabs(svv[q] - sref[q]) < 1e-10 * (1.0 + sref[q]));
            if (q) ck_assert(svv[q - 1] >= svv[q]);
        }
        ck_assert_int_eq(nd_dm_diag(sv, &Ds), ND_OK);
        ck_assert_int_eq(nd_la_matmul(U, Ds, &US), ND_OK);
        ck_assert_int_eq(nd_dm_transpose(W, &Wt), ND_OK);
        ck_assert(resid(US, Wt, A) < 1e-10 * (double)(m + nn));
        ck_assert(signs_ok(U));
        ND_FREE_N(sref, (size_t)k), ND_FREE_N(sup, (size_t)k);
        free_cm(a, A), free_cm(svv, sv);
        nd_dm_free(A), nd_dm_free(U), nd_dm_free(sv), nd_dm_free(W), nd_dm_free(Ds);
        nd_dm_free(US), nd_dm_free(Wt);
    }
    nd_dm *A23, *Y = NULL, *Y2 = NULL;
    ck_assert_int_eq(nd_dm_zeros(2, 3, &A23), ND_OK);
    CK_ERR(nd_la_eigh(A23, &Y, &Y2), ND_EPROG, "eigh: matrix must be square (2x3)");
    ck_assert_ptr_null(Y);
    nd_dm_free(A23);
}
END_TEST

/* A NaN or an infinity anywhere in the input of a factorization: one ND_EPROG on every
 * rank before any LAPACK or ScaLAPACK call (pdsyevd hung on a NaN at 4 ranks; svd
 * aborted with "bad argument").  Finite entries whose sum overflows are not refused. */
START_TEST(test_nonfinite)
{
    const double bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
        double d[36];
        for (int k = 0; k < 36; k++) d[k] = k % 7 == 0 ? 4.0 : 0.5;
        d[6 * 3 + 2] = bad[b]; /* (2, 3), column-major */
        nd_dm *A = mk_from(6, 6, d), *R1 = NULL, *R2 = NULL, *R3 = NULL, *Id = NULL;
        double v;
        ck_assert_int_eq(nd_dm_eye(6, &Id), ND_OK);
        CK_ERR(nd_la_eigh(A, &R1, &R2), ND_EPROG, "eigh: the matrix has NaN or infinite entries");
        CK_ERR(nd_la_svd(A, &R1, &R2, &R3), ND_EPROG, "svd: the matrix has NaN or infinite");
        CK_ERR(nd_la_solve(A, Id, &R1), ND_EPROG, "solve: the matrix has NaN or infinite");
        CK_ERR(nd_la_solve(Id, A, &R1), ND_EPROG, "solve: the right-hand side has NaN or infinite");
        CK_ERR(nd_la_inv(A, &R1), ND_EPROG, "inv: the matrix has NaN");
        CK_ERR(nd_la_det(A, &v), ND_EPROG, "det: the matrix has NaN");
        CK_ERR(nd_la_cholesky(A, &R1), ND_EPROG, "cholesky: the matrix has NaN");
        CK_ERR(nd_la_qr(A, &R1, &R2), ND_EPROG, "qr: the matrix has NaN");
        ck_assert_ptr_null(R1);
        nd_dm_free(A), nd_dm_free(Id);
    }
    double h[4] = {1e308, 0.0, 0.0, 1e308};
    nd_dm *H = mk_from(2, 2, h), *w = NULL, *V = NULL;
    ck_assert_int_eq(nd_la_eigh(H, &w, &V), ND_OK);
    nd_dm_free(H), nd_dm_free(w), nd_dm_free(V);
}
END_TEST

/* Collective: 1 on every rank when every rank has status want and the same message,
 * containing `has`; else 0 on every rank (so an assertion on it fails on all ranks). */
static int uniform_err(nd_status st, nd_status want, const char *has)
{
    char msg[sizeof nd_last_error.msg], mine[sizeof msg];
    snprintf(mine, sizeof mine, "%s", st == ND_OK ? "" : nd_err_msg());
    memcpy(msg, mine, sizeof msg);
    MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, 0, nd_spmd_comm());
    int ok = st == want && strstr(mine, has) != NULL && strcmp(msg, mine) == 0, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, nd_spmd_comm());
    if (!all) fprintf(stderr, "rank %d: status %d, message '%s'\n", nd_spmd_rank(), (int)st, mine);
    return all;
}

/* Issue #21: a factorization whose INFO reports a failure on some ranks only (forced
 * with nd_la_test_fail_info; pdsyevd's non-convergence did it for real) fails on every
 * rank with one status and the message of the lowest failing rank, and leaves no rank in
 * a collective (it used to: MPI_ERR_TRUNCATE or a hang).  The ranks from size / 2 up
 * fail (rank 0 alone at 1 rank), each with INFO 10 + rank.  Results are checked after
 * the collectives, with values that are the same on every rank. */
START_TEST(test_info_uniform)
{
    int size = nd_spmd_size(), rank = nd_spmd_rank(), low = size / 2;
    int fail = rank >= low ? rank : -1, want = 10 + low;
    char conv[64];
    const int64_t n = 40;
    nd_dm *A = mk_wellcond(n, 21), *B = mk_rand(n, 2, 22), *R = mk_rand(n, n, 23), *Rt, *G;
    nd_dm *Id, *K, *T = mk_rand(9, 7, 24), *Big = mk_rand(513, 512, 25); /* Big: pdgesvd */
    ck_assert_int_eq(nd_dm_transpose(R, &Rt), ND_OK);
    ck_assert_int_eq(nd_la_matmul(Rt, R, &G), ND_OK);
    ck_assert_int_eq(nd_dm_eye(n, &Id), ND_OK);
    ck_assert_int_eq(nd_dm_ew(ND_EW_ADD, G, Id, &K), ND_OK); /* SPD */
    nd_dm *X = NULL, *Y = NULL, *Z = NULL;
    int ok[9];
    nd_la_test_fail_info(ND_LA_TEST_SOLVE, fail, want);
    ok[0] = uniform_err(nd_la_solve(A, B, &X), ND_EPROG, "singular matrix") && !X;
    nd_la_test_fail_info(ND_LA_TEST_INV, fail, want);
    ok[1] = uniform_err(nd_la_inv(A, &X), ND_EPROG, "singular matrix") && !X;
    nd_la_test_fail_info(ND_LA_TEST_CHOLESKY, fail, want);
    ok[2] = uniform_err(nd_la_cholesky(K, &X), ND_EPROG, "not positive definite") && !X;
    nd_la_test_fail_info(ND_LA_TEST_QR, fail, -want);
    snprintf(conv, sizeof conv, "pdgeqrf: info %d", -want);
    ok[3] = uniform_err(nd_la_qr(A, &X, &Y), ND_EINTERNAL, conv) && !X && !Y;
    nd_la_test_fail_info(ND_LA_TEST_EIGH, fail, want);
    snprintf(conv, sizeof conv, "eigh did not converge (info %d)", want);
    ok[4] = uniform_err(nd_la_eigh(K, &X, &Y), ND_EPROG, conv) && !X && !Y;
    snprintf(conv, sizeof conv, "svd did not converge (info %d)", want);
    nd_la_test_fail_info(ND_LA_TEST_SVD, fail, want);
    ok[5] = uniform_err(nd_la_svd(T, &X, &Y, &Z), ND_EPROG, conv) && !X && !Y && !Z;
    nd_la_test_fail_info(ND_LA_TEST_SVD, fail, want);
    ok[6] = uniform_err(nd_la_svd(Big, &X, &Y, &Z), ND_EPROG, conv) && !X && !Y && !Z;
    /* det: a zero pivot on some ranks is 0.0 on all. */
    double d = 1.0, dmax = 1.0, dmin = 1.0;
    nd_la_test_fail_info(ND_LA_TEST_DET, fail, want);
    ok[7] = nd_la_det(A, &d) == ND_OK;
    MPI_Allreduce(&d, &dmax, 1, MPI_DOUBLE, MPI_MAX, nd_spmd_comm());
    MPI_Allreduce(&d, &dmin, 1, MPI_DOUBLE, MPI_MIN, nd_spmd_comm());
    /* Every rank is back in step: an ordinary factorization still works. */
    ok[8] = nd_la_cholesky(K, &X) == ND_OK;
    MPI_Allreduce(MPI_IN_PLACE, ok, 9, MPI_INT, MPI_LAND, nd_spmd_comm());
    nd_dm *Xt = NULL;
    if (ok[8]) ck_assert_int_eq(nd_dm_transpose(X, &Xt), ND_OK);
    double rk = ok[8] ? resid(X, Xt, K) : 1.0;
    for (int c = 0; c < 9; c++) ck_assert_msg(ok[c], "case %d not uniform", c);
    ck_assert_msg(dmax == 0.0 && dmin == 0.0, "det %g on rank %d (max %g, min %g)", d, rank,
                  dmax, dmin);
    ck_assert(rk < 1e-10);
    nd_dm_free(A), nd_dm_free(B), nd_dm_free(R), nd_dm_free(Rt), nd_dm_free(G);
    nd_dm_free(Id), nd_dm_free(K), nd_dm_free(T), nd_dm_free(Big), nd_dm_free(X);
    nd_dm_free(Xt);
}
END_TEST

/* ---- HDF5 ------------------------------------------------------------------------ */

/* A path every rank agrees on (rank 0's pid). */
static void tmp_path(char *buf, size_t size, const char *tag)
{
    long pid = (long)getpid();
    ck_assert_int_eq(nd_spmd_bcast(&pid, sizeof pid, 0), ND_OK);
    snprintf(buf, size, "/tmp/nd_check_dm_%ld_%s.h5", pid, tag);
}

/* The factorizations on grids larger than 1x1 with a device: gathered onto rank 0,
 * factored there alone, scattered back; the same results as the host path; the host path
 * when rank 0's device lacks room; uniform errors. */
START_TEST(test_root_device)
{
    int size = nd_spmd_size(), rank = nd_spmd_rank();
    /* One call on the device: on rank 0 only, or on the only rank. */
    const int one = rank == 0 ? 1 : 0;
    const int64_t n = 150, m = 600, c = 500; /* m x c passes the replicated svd's limit */
    nd_dm *A = mk_wellcond(n, 11), *B = mk_rand(n, 4, 12), *T = mk_rand(m, c, 13);
    nd_dm *R0 = mk_rand(n, n, 14), *R0t, *K;
    ck_assert_int_eq(nd_dm_transpose(R0, &R0t), ND_OK);
    ck_assert_int_eq(nd_la_matmul(R0t, R0, &K), ND_OK); /* SPD */
    nd_stats st0, st1;
    nd_stats_get(&st0);
    double nk;
    ck_assert_int_eq(nd_dm_reduce(ND_RED_NORM_FRO, K, &nk), ND_OK);
    for (int pass = 0; pass < 2; pass++) {
        /* pass 1: the device has no room: the host path, the same results. */
        fd_avail = pass == 0 ? SIZE_MAX : 1000;
        const int want = pass == 0 || size == 1 ? one : 0; /* 1x1: always the device */
        nd_dm *X, *L, *w, *V, *Q, *R, *U, *s, *W;
        int before = fd_factors;
        ck_assert_int_eq(nd_la_solve(A, B, &X), ND_OK);
        ck_assert_int_eq(fd_factors - before, want);
        ck_assert(resid(A, X, B) < 1e-10);
        before = fd_factors;
        ck_assert_int_eq(nd_la_cholesky(K, &L), ND_OK);
        ck_assert_int_eq(fd_factors - before, want);
        nd_dm *Lt;
        ck_assert_int_eq(nd_dm_transpose(L, &Lt), ND_OK);
        ck_assert(resid(L, Lt, K) < 1e-12 * nk);
        before = fd_factors;
        ck_assert_int_eq(nd_la_eigh(K, &w, &V), ND_OK);
        ck_assert_int_eq(fd_factors - before, want);
        ck_assert_int_eq(nd_dm_rows(w), n);
        nd_dm *D, *KV;
        ck_assert_int_eq(nd_dm_diag(w, &D), ND_OK);
        ck_assert_int_eq(nd_la_matmul(K, V, &KV), ND_OK);
        ck_assert(resid(V, D, KV) < 1e-10 * nk);
        ck_assert(signs_ok(V));
        before = fd_factors;
        ck_assert_int_eq(nd_la_qr(T, &Q, &R), ND_OK);
        ck_assert_int_eq(fd_factors - before, want);
        ck_assert_int_eq(nd_dm_rows(Q), m);
        ck_assert_int_eq(nd_dm_cols(Q), c);
        ck_assert_int_eq(nd_dm_rows(R), c);
        ck_assert(resid(Q, R, T) < 1e-10 * (double)m);
        before = fd_factors;
        ck_assert_int_eq(nd_la_svd(T, &U, &s, &W), ND_OK);
        ck_assert_int_eq(fd_factors - before, want);
        ck_assert_int_eq(nd_dm_rows(s), c);
        nd_dm *Ds, *US, *Wt;
        ck_assert_int_eq(nd_dm_diag(s, &Ds), ND_OK);
        ck_assert_int_eq(nd_la_matmul(U, Ds, &US), ND_OK);
        ck_assert_int_eq(nd_dm_transpose(W, &Wt), ND_OK);
        ck_assert(resid(US, Wt, T) < 1e-9 * (double)m);
        double *sv = gather(s);
        for (int64_t k = 1; k < c; k++) ck_assert(sv[k - 1] >= sv[k]);
        free_cm(sv, s);
        nd_dm_free(X), nd_dm_free(L), nd_dm_free(Lt), nd_dm_free(w), nd_dm_free(V);
        nd_dm_free(D), nd_dm_free(KV), nd_dm_free(Q), nd_dm_free(R), nd_dm_free(U);
        nd_dm_free(s), nd_dm_free(W), nd_dm_free(Ds), nd_dm_free(US), nd_dm_free(Wt);
    }
    fd_avail = SIZE_MAX;
    /* Rank 0 runs out of host memory while gathering: the host path, on every rank. */
    if (size > 1) {
        nd_dm *X;
        int before = fd_factors;
        /* room for small allocations (the finiteness checks), not for the 150 x 150 gather */
        if (rank == 0) nd_alloc_set_limit(nd_alloc_live() + 64 * 1024);
        ck_assert_int_eq(nd_la_solve(A, B, &X), ND_OK);
        nd_alloc_set_limit(0);
        ck_assert_int_eq(fd_factors - before, 0);
        ck_assert(resid(A, X, B) < 1e-10);
        nd_dm_free(X);
    }
    /* Errors met on rank 0's device reach every rank with their message. */
    nd_dm *Z, *N, *Y = NULL;
    double np[4] = {1, 2, 2, 1};
    ck_assert_int_eq(nd_dm_zeros(n, n, &Z), ND_OK);
    N = mk_from(2, 2, np);
    int before = fd_factors;
    CK_ERR(nd_la_solve(Z, B, &Y), ND_EPROG, "singular matrix");
    CK_ERR(nd_la_cholesky(N, &Y), ND_EPROG, "matrix is not positive definite");
    ck_assert_int_eq(fd_factors - before, 2 * one);
    ck_assert_ptr_null(Y);
    /* The summary's counts, the same on every rank: 5 + 2 gathered, 5 + 1 fell back. */
    nd_stats_get(&st1);
    ck_assert_uint_eq(st1.gathered - st0.gathered, size > 1 ? 7 : 0);
    ck_assert_uint_eq(st1.gather_fallbacks - st0.gather_fallbacks, size > 1 ? 6 : 0);
    nd_dm_free(A), nd_dm_free(B), nd_dm_free(T), nd_dm_free(R0), nd_dm_free(R0t);
    nd_dm_free(K), nd_dm_free(Z), nd_dm_free(N);
}
END_TEST

START_TEST(test_h5_roundtrip)
{
    char path[256];
    tmp_path(path, sizeof path, "rt");
    if (nd_spmd_rank() == 0) unlink(path);
    ck_assert_int_eq(nd_spmd_barrier(), ND_OK);
    nd_dm *A = mk_rand(130, 129, 5), *B = mk_rand(7, 5, 6), *RA, *RB, *RC;
    ck_assert_int_eq(nd_dm_h5write(path, "A", A), ND_OK);
    ck_assert_int_eq(nd_dm_h5write(path, "grp/sub/B", B), ND_OK);
    ck_assert_int_eq(nd_dm_h5write(path, "A", B), ND_OK); /* replaces, new shape */
    ck_assert_int_eq(nd_dm_h5write(path, "C", A), ND_OK);
    ck_assert_int_eq(nd_dm_h5read(path, "A", &RA), ND_OK);
    ck_assert_int_eq(nd_dm_h5read(path, "grp/sub/B", &RB), ND_OK);
    ck_assert_int_eq(nd_dm_h5read(path, "C", &RC), ND_OK);
    double *a = gather(A), *b = gather(B), *ra = gather(RA), *rb = gather(RB), *rc = gather(RC);
    ck_assert_int_eq(nd_dm_rows(RA), 7);
    ck_assert_int_eq(nd_dm_cols(RA), 5);
    ck_assert(memcmp(ra, b, sizeof(double) * 35) == 0);
    ck_assert(memcmp(rb, b, sizeof(double) * 35) == 0);
    ck_assert(memcmp(rc, a, sizeof(double) * 130 * 129) == 0);

    /* The file layout: plain serial HDF5 on rank 0 sees the row-major matrix. */
    int ok = 1;
    if (nd_spmd_rank() == 0) {
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t d = f >= 0 ? H5Dopen2(f, "C", H5P_DEFAULT) : -1;
        hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
        hsize_t dims[2] = {0, 0};
        if (sp < 0 || H5Sget_simple_extent_dims(sp, dims, NULL) != 2 || dims[0] != 130 ||
            dims[1] != 129)
            ok = 0;
        double *rm = ND_ALLOC_N(double, 130 * 129);
        if (ok && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, rm) < 0) ok = 0;
        for (int i = 0; ok && i < 130; i++)
            for (int j = 0; j < 129; j++)
                if (!same_bits(rm[i * 129 + j], a[i + 130 * j])) ok = 0;
        /* A 1-D dataset reads back as a 1-D array. */
        hsize_t n1 = 100;
        hid_t s1 = H5Screate_simple(1, &n1, NULL);
        hid_t d1 = H5Dcreate2(f, "vec", H5T_IEEE_F64LE, s1, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        for (int k = 0; k < 100; k++) rm[k] = k * 1.5;
        if (d1 < 0 || H5Dwrite(d1, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, rm) < 0) ok = 0;
        H5Dclose(d1), H5Sclose(s1);
        ND_FREE_N(rm, 130 * 129);
        if (sp >= 0) H5Sclose(sp);
        if (d >= 0) H5Dclose(d);
        if (f >= 0) H5Fclose(f);
    }
    ck_assert_int_eq(nd_spmd_bcast(&ok, sizeof ok, 0), ND_OK);
    ck_assert_msg(ok, "file layout is not the row-major matrix");
    nd_dm *RV;
    ck_assert_int_eq(nd_dm_h5read(path, "vec", &RV), ND_OK);
    ck_assert_int_eq(RV->nd, 1);
    ck_assert_int_eq(RV->shape[0], 100);
    ck_assert_int_eq(nd_dm_rows(RV) * nd_dm_cols(RV), 100);
    double v;
    ck_assert_int_eq(nd_dm_get(RV, 99 / nd_dm_cols(RV), 99 % nd_dm_cols(RV), &v), ND_OK);
    ck_assert(v == 99 * 1.5);

    /* Errors name the path. */
    nd_dm *X = NULL;
    CK_ERR(nd_dm_h5read(path, "nope", &X), ND_EIO, "cannot open dataset 'nope'");
    ck_assert(strstr(nd_err_msg(), path) != NULL);
    CK_ERR(nd_dm_h5read("/tmp/nd_no_such_dir/x.h5", "A", &X), ND_EIO, "/tmp/nd_no_such_dir/x.h5");
    CK_ERR(nd_dm_h5write("/tmp/nd_no_such_dir/x.h5", "A", A), ND_EIO, "cannot create HDF5 file");
    char notes[256];
    tmp_path(notes, sizeof notes, "txt");
    if (nd_spmd_rank() == 0) {
        FILE *fp = fopen(notes, "w");
        fputs("not hdf5\n", fp);
        fclose(fp);
    }
    ck_assert_int_eq(nd_spmd_barrier(), ND_OK);
    CK_ERR(nd_dm_h5read(notes, "A", &X), ND_EIO, "cannot open HDF5 file");
    CK_ERR(nd_dm_h5write(notes, "A", A), ND_EIO, "for writing");
    ck_assert_ptr_null(X);
    ck_assert_int_eq(nd_spmd_barrier(), ND_OK);
    if (nd_spmd_rank() == 0) unlink(path), unlink(notes);
    free_cm(a, A), free_cm(b, B), free_cm(ra, RA), free_cm(rb, RB), free_cm(rc, RC);
    nd_dm_free(A), nd_dm_free(B), nd_dm_free(RA), nd_dm_free(RB), nd_dm_free(RC), nd_dm_free(RV);
}
END_TEST

/* The value of flat (row-major) index f in the n-d tests: distinct, not a function of
 * the layout. */
static double nd_val(int64_t f) { return (double)((uint64_t)f * 2654435761u % 1000003u) / 8.0 + f; }

/* A new array of the shape whose element f is nd_val(f), filled through its local part. */
static nd_dm *mk_nd(int nd, const int64_t *shape)
{
    nd_dm *A;
    ck_assert_int_eq(nd_arr_alloc(nd, shape, &A), ND_OK);
    nd_dm_host_w(A);
    for (int lj = 0; lj < A->nloc; lj++)
        for (int li = 0; li < A->mloc; li++)
            A->a[li + (size_t)lj * A->lld] = nd_val(nd_dm_grow(A, li) * A->n + nd_dm_gcol(A, lj));
    return A;
}

/* Collective: whether A has the shape and holds nd_val(f) at every flat index f. */
static bool is_nd(const nd_dm *A, int nd, const int64_t *shape)
{
    int ok = A->nd == nd;
    int64_t N = 1;
    for (int k = 0; k < nd; k++) ok &= A->shape[k] == shape[k], N *= shape[k];
    ok &= A->m * A->n == N;
    nd_dm_host(A);
    for (int lj = 0; ok && lj < A->nloc; lj++)
        for (int li = 0; li < A->mloc; li++) {
            int64_t f = nd_dm_grow(A, li) * A->n + nd_dm_gcol(A, lj);
            if (!same_bits(A->a[li + (size_t)lj * A->lld], nd_val(f))) ok = 0;
        }
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, nd_spmd_comm());
    return ok;
}

/* Rank 0, serial HDF5: whether dataset ds of path has the shape and holds nd_val(f) in
 * row-major order (what h5py sees). */
static bool file_is_nd(const char *path, const char *ds, int nd, const int64_t *shape)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, ds, H5P_DEFAULT) : -1;
    hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
    hsize_t dims[ND_MAXDIM];
    bool ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == nd &&
              H5Sget_simple_extent_dims(sp, dims, NULL) == nd;
    int64_t N = 1;
    for (int k = 0; ok && k < nd; k++) ok = dims[k] == (hsize_t)shape[k], N *= shape[k];
    double *v = ok ? ND_ALLOC_N(double, (size_t)N) : NULL;
    ok = ok && v && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
    for (int64_t k = 0; ok && k < N; k++) ok = same_bits(v[k], nd_val(k));
    if (v) ND_FREE_N(v, (size_t)N);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
    return ok;
}

/* Arrays of 1 to 8 dimensions are datasets of their shape (row-major) and read back with
 * it: folds of one row (a prime length), of several blocks each way (3x40x70 is stored
 * 120 x 70, 4096 as 64 x 64), and odd ranks. */
START_TEST(test_h5_nd)
{
    char path[256];
    tmp_path(path, sizeof path, "nd");
    if (nd_spmd_rank() == 0) unlink(path);
    ck_assert_int_eq(nd_spmd_barrier(), ND_OK);
    static const struct {
        int nd;
        int64_t shape[ND_MAXDIM];
    } cases[] = {
        {1, {5}},         {1, {10007}},       {1, {4096}},     {1, {130 * 129}},
        {3, {3, 40, 70}}, {3, {2, 3, 4}},     {4, {3, 1, 70, 5}}, {2, {1, 1}},
        {8, {2, 1, 2, 3, 1, 2, 2, 3}},        {5, {7, 3, 1, 1, 13}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char ds[32];
        snprintf(ds, sizeof ds, "g/a%zu", c);
        nd_dm *A = mk_nd(cases[c].nd, cases[c].shape), *B = NULL;
        ck_assert_int_eq(nd_dm_h5write(path, ds, A), ND_OK);
        ck_assert_int_eq(nd_dm_h5read(path, ds, &B), ND_OK);
        ck_assert_msg(is_nd(B, cases[c].nd, cases[c].shape), "case %zu reads back wrong", c);
        int ok = 1;
        if (nd_spmd_rank() == 0) ok = file_is_nd(path, ds, cases[c].nd, cases[c].shape);
        ck_assert_int_eq(nd_spmd_bcast(&ok, sizeof ok, 0), ND_OK);
        ck_assert_msg(ok, "case %zu: the file is not the row-major array", c);
        nd_dm_free(A), nd_dm_free(B);
    }
    /* What no array can be: a scalar, 9 dimensions, an empty dataset. */
    int ok = 1;
    if (nd_spmd_rank() == 0) {
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        hsize_t d9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 2}, d0[2] = {0, 3};
        double v[2] = {1, 2};
        hid_t sps[3] = {H5Screate(H5S_SCALAR), H5Screate_simple(9, d9, NULL),
                        H5Screate_simple(2, d0, NULL)};
        const char *names[3] = {"scalar", "nine", "empty"};
        for (int k = 0; k < 3; k++) {
            hid_t d = H5Dcreate2(f, names[k], H5T_IEEE_F64LE, sps[k], H5P_DEFAULT, H5P_DEFAULT,
                                 H5P_DEFAULT);
            if (d < 0 || (k < 2 && H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0))
                ok = 0;
            if (d >= 0) H5Dclose(d);
            H5Sclose(sps[k]);
        }
        if (f < 0 || H5Fclose(f) < 0) ok = 0;
    }
    ck_assert_int_eq(nd_spmd_bcast(&ok, sizeof ok, 0), ND_OK);
    ck_assert(ok);
    nd_dm *X = NULL;
    CK_ERR(nd_dm_h5read(path, "scalar", &X), ND_EIO, "is a scalar, not an array");
    CK_ERR(nd_dm_h5read(path, "nine", &X), ND_EIO, "has 9 dimensions (arrays have 1 to 8)");
    CK_ERR(nd_dm_h5read(path, "empty", &X), ND_EIO, "is empty");
    ck_assert_ptr_null(X);
    ck_assert_int_eq(nd_spmd_barrier(), ND_OK);
    if (nd_spmd_rank() == 0) unlink(path);
}
END_TEST

/* dm_ranks.sh: ND_DM_H5_OUT=file writes at one rank count, ND_DM_H5_IN=file reads back
 * at another. */
START_TEST(test_h5_across_rank_counts)
{
    const char *out = getenv("ND_DM_H5_OUT"), *in = getenv("ND_DM_H5_IN");
    nd_dm *A = mk_rand(130, 129, 11);
    /* Arrays too: the file holds the logical array, never the layout of the writer. */
    static const int64_t s3[3] = {3, 40, 70}, s1[1] = {10007};
    nd_dm *T = mk_nd(3, s3), *V = mk_nd(1, s1);
    if (out) {
        ck_assert_int_eq(nd_dm_h5write(out, "M", A), ND_OK);
        ck_assert_int_eq(nd_dm_h5write(out, "T", T), ND_OK);
        ck_assert_int_eq(nd_dm_h5write(out, "V", V), ND_OK);
    }
    if (in) {
        nd_dm *B, *RT, *RV;
        ck_assert_int_eq(nd_dm_h5read(in, "M", &B), ND_OK);
        ck_assert_int_eq(nd_dm_h5read(in, "T", &RT), ND_OK);
        ck_assert_int_eq(nd_dm_h5read(in, "V", &RV), ND_OK);
        double *a = gather(A), *b = gather(B);
        ck_assert(memcmp(a, b, sizeof(double) * 130 * 129) == 0);
        ck_assert(is_nd(RT, 3, s3));
        ck_assert(is_nd(RV, 1, s1));
        free_cm(a, A), free_cm(b, B);
        nd_dm_free(B), nd_dm_free(RT), nd_dm_free(RV);
    }
    nd_dm_free(A), nd_dm_free(T), nd_dm_free(V);
}
END_TEST

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    if (nd_spmd_init(&argc, &argv) != ND_OK) return 1;
    Suite *s = suite_create("dm");
    const TTest *tc_tests[] = {
        test_spmd_basics, test_spmd_check, test_solo_mode, test_construct, test_rand,
        test_get_set_slice_assign, test_shape_ops, test_redist_shape, test_redist_pieces,
        test_elementwise, test_exp_array, test_matmul, test_reductions, test_solve_inv_det,
        test_cholesky_qr, test_eigh_svd, test_nonfinite, test_h5_roundtrip, test_h5_nd, NULL};
    nd_check_tcase(s, "core", 240, tc_tests);
    /* Everything again through the residency code with the fake device. */
    const TTest *td_tests[] = {
        test_construct, test_rand, test_get_set_slice_assign, test_shape_ops,
        test_elementwise, test_matmul, test_devsumma, test_reductions, test_solve_inv_det,
        test_cholesky_qr, test_eigh_svd, test_nonfinite, test_root_device, test_h5_roundtrip,
        test_h5_nd, NULL};
    TCase *td = nd_check_tcase(s, "dev", 240, td_tests);
    tcase_add_checked_fixture(td, fd_on, fd_off);
    /* CK_RUN_CASE=h5x runs only this (dm_ranks.sh) */
    const TTest *tx_tests[] = {test_h5_across_rank_counts, NULL};
    nd_check_tcase(s, "h5x", 240, tx_tests);
    /* Failures that some ranks see (the ScaLAPACK path; CK_RUN_CASE=uniform) */
    const TTest *tu_tests[] = {test_info_uniform, NULL};
    nd_check_tcase(s, "uniform", 120, tu_tests);
    /* Only rank 0 prints the summary; every rank counts its failures. */
    int failed = nd_check_run(s, ND_CHECK_NOFORK | (nd_spmd_rank() == 0 ? 0 : ND_CHECK_QUIET));
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    nd_spmd_finalize(0);
    return any ? 1 : 0;
}
