/* dm.c: distributed matrices (dm.h): layout, construction, element access,
 * redistribution (Cpdgemr2d, pdtran), elementwise operations and the reductions.
 *
 * Invariants: every matrix uses square nb-by-nb blocks over the one BLACS grid, so two
 * matrices of the same shape have the same layout and elementwise work is a local loop.
 * Reductions are bit-identical at every rank count: one partial per global block, summed
 * in global block order (docs/matrices.md).  The linear algebra is in src/la (la.h).
 */
#include "runtime/dm_impl.h"

#include "common/alloc.h"
#include "runtime/blacs.h"
#include "runtime/spmd.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#define LL(x) ((long long)(x))

static nd_status dm_alloc(int64_t m, int64_t n, bool zeroed, nd_dm **out);
/* Collective: for results whose every local element is written next (no zero fill: a
 * large result would pay a memset on top of the loop that writes it). */
static nd_status dm_alloc_nozero(int64_t m, int64_t n, nd_dm **out);

/* A rank-local allocation failure becomes uniform before the next collective. */
#define AGREE_ALLOC(p, n)                                                                \
    do {                                                                                 \
        nd_status agree_st_ = nd_spmd_agree((p) ? ND_OK : ND_ENOMEM);                    \
        if (agree_st_ != ND_OK) {                                                        \
            ND_FREE_N((p), (n));                                                         \
            return agree_st_;                                                            \
        }                                                                                \
    } while (0)

int64_t nd_dm_rows(const nd_dm *A) { return A->m; }
int64_t nd_dm_cols(const nd_dm *A) { return A->n; }
size_t nd_dm_local_bytes(const nd_dm *A) { return A ? A->cap * sizeof(double) : 0; }

void nd_dm_free(nd_dm *A)
{
    if (!A) return;
    if (A->dev) nd_dm_dev->free(A->dev, A->cap);
    ND_FREE_N(A->a, A->cap);
    nd_free(A, sizeof *A);
}

/* ---- residency (dm_layout.h) ----------------------------------------------------- */

const nd_dm_devops *nd_dm_dev;

/* Rank-local: C gets A's logical shape (C has A's storage shape). */
static void keep_shape(nd_dm *C, const nd_dm *A)
{
    C->nd = A->nd;
    memcpy(C->shape, A->shape, sizeof C->shape);
}

void nd_dm_set_backend(const nd_dm_devops *ops) { nd_dm_dev = ops; }

/* The copies are a cache of one value, so making one current does not change the
 * matrix: the const is cast away here and only here. */
void nd_dm_host(const nd_dm *A)
{
    nd_dm *M = (nd_dm *)A;
    if (M->at & ND_AT_HOST) return;
    nd_dm_dev->download(M->a, M->dev, M->cap);
    M->at |= ND_AT_HOST;
}

void nd_dm_host_w(nd_dm *A)
{
    nd_dm_host(A);
    A->at = ND_AT_HOST;
}

nd_status nd_dm_to_dev(int n, const nd_dm *const *mats)
{
    nd_status st = ND_OK;
    for (int k = 0; k < n && st == ND_OK; k++) {
        nd_dm *M = (nd_dm *)mats[k];
        if (M->at & ND_AT_DEV) continue;
        if (!M->dev) M->dev = nd_dm_dev->alloc(M->cap);
        if (!M->dev) {
            st = nd_err_set(ND_ENOMEM, "out of GPU memory (a %lldx%lld matrix needs %zu MiB "
                                       "on rank %d)",
                            LL(M->m), LL(M->n), ND_MIB_CEIL(M->cap * sizeof(double)),
                            nd_spmd_rank());
            break;
        }
        nd_dm_dev->upload(M->dev, M->a, M->cap);
        M->at |= ND_AT_DEV;
    }
    return nd_spmd_agree(st);
}

nd_status nd_dm_alloc_dev(int64_t m, int64_t n, nd_dm **out)
{
    ND_TRY(nd_dm_alloc(m, n, out));
    nd_dm *C = *out;
    C->dev = nd_dm_dev->alloc(C->cap);
    nd_status st = C->dev ? ND_OK
                          : nd_err_set(ND_ENOMEM, "out of GPU memory (a %lldx%lld matrix "
                                                  "needs %zu MiB on rank %d)",
                                       LL(m), LL(n), ND_MIB_CEIL(C->cap * sizeof(double)),
                                       nd_spmd_rank());
    st = nd_spmd_agree(st);
    if (st != ND_OK) {
        nd_dm_free(C);
        *out = NULL;
        return st;
    }
    C->at = ND_AT_DEV;
    return ND_OK;
}

nd_status nd_dm_copy_host(const nd_dm *A, nd_dm **out)
{
    ND_TRY(dm_alloc_nozero(A->m, A->n, out));
    nd_dm_host(A);
    memcpy((*out)->a, A->a, A->cap * sizeof(double));
    keep_shape(*out, A);
    return ND_OK;
}

/* Uniform: whether elementwise operations, products and copies run on the device: always
 * with a backend (the inputs are uploaded if needed). */
static bool on_dev(void) { return nd_dm_dev != NULL; }

int64_t nd_dm_owned(int64_t g, int nb, int p, int np)
{
    int64_t cyc = (int64_t)nb * np, r = g % cyc - (int64_t)p * nb;
    return g / cyc * nb + (r < 0 ? 0 : r > nb ? nb : r);
}

int64_t nd_dm_global(int64_t l, int nb, int p, int np)
{
    return (l / nb * np + p) * nb + l % nb;
}

int64_t nd_dm_grow(const nd_dm *A, int li)
{
    int nprow, myrow;
    nd_spmd_grid(&nprow, NULL, &myrow, NULL);
    return nd_dm_global(li, A->nb, myrow, nprow);
}

int64_t nd_dm_gcol(const nd_dm *A, int lj)
{
    int npcol, mycol;
    nd_spmd_grid(NULL, &npcol, NULL, &mycol);
    return nd_dm_global(lj, A->nb, mycol, npcol);
}

nd_status nd_dm_need_square(const char *fn, const nd_dm *A)
{
    ND_CHECK(A->m == A->n, ND_EPROG, "%s: matrix must be square (%lldx%lld)", fn, LL(A->m),
             LL(A->n));
    return ND_OK;
}

/* Collective.  The shape checks are uniform (the shape is replicated); the size limit
 * uses the largest local part (process row/column 0), so it is uniform too. */
nd_status nd_dm_alloc(int64_t m, int64_t n, nd_dm **out) { return dm_alloc(m, n, true, out); }

static nd_status dm_alloc_nozero(int64_t m, int64_t n, nd_dm **out)
{
    return dm_alloc(m, n, false, out);
}

nd_status nd_dm_alloc_raw(int64_t m, int64_t n, nd_dm **out) { return dm_alloc_nozero(m, n, out); }

static nd_status dm_alloc(int64_t m, int64_t n, bool zeroed, nd_dm **out)
{
    *out = NULL;
    ND_CHECK(m >= 1 && n >= 1, ND_EPROG, "matrix dimensions must be at least 1 (%lldx%lld)",
             LL(m), LL(n));
    ND_CHECK(m <= INT_MAX && n <= INT_MAX, ND_EPROG,
             "matrix %lldx%lld is too large: ScaLAPACK descriptors hold 32-bit dimensions",
             LL(m), LL(n));
    int nprow, npcol, myrow, mycol, zero = 0;
    nd_spmd_grid(&nprow, &npcol, &myrow, &mycol);
    int nb = nd_spmd_block_size();
    int im = (int)m, in = (int)n;
    int maxr = numroc_(&im, &nb, &zero, &zero, &nprow);
    int maxc = numroc_(&in, &nb, &zero, &zero, &npcol);
    ND_CHECK((int64_t)maxr * maxc <= INT_MAX, ND_EPROG,
             "matrix %lldx%lld is too large: its local part (%dx%d on rank 0) exceeds "
             "ScaLAPACK's 32-bit limits",
             LL(m), LL(n), maxr, maxc);
    nd_dm *A = nd_calloc(1, sizeof *A);
    if (!A) return ND_ENOMEM;
    A->m = m;
    A->n = n;
    A->nd = 2;
    for (int k = 0; k < ND_MAXDIM; k++) A->shape[k] = 1;
    A->shape[0] = m;
    A->shape[1] = n;
    A->nb = nb;
    A->mloc = numroc_(&im, &nb, &myrow, &zero, &nprow);
    A->nloc = numroc_(&in, &nb, &mycol, &zero, &npcol);
    A->lld = A->mloc > 1 ? A->mloc : 1;
    int ctx = nd_spmd_blacs_ctx(), info = 0;
    descinit_(A->desc, &im, &in, &nb, &nb, &zero, &zero, &ctx, &A->lld, &info);
    if (info != 0) {
        nd_free(A, sizeof *A);
        return nd_err_set(ND_EINTERNAL, "descinit failed (info %d)", info);
    }
    A->cap = (size_t)A->lld * (size_t)A->nloc;
    if (A->cap == 0) A->cap = 1;
    A->a = zeroed ? ND_ALLOC_N(double, A->cap) : ND_SCRATCH_N(double, A->cap);
    A->at = ND_AT_HOST;
    if (!A->a) {
        nd_free(A, sizeof *A);
        return ND_ENOMEM;
    }
    *out = A;
    return ND_OK;
}

/* ---- construction ---------------------------------------------------------------- */

nd_status nd_dm_zeros(int64_t m, int64_t n, nd_dm **out) { return nd_dm_alloc(m, n, out); }

nd_status nd_dm_fill(int64_t m, int64_t n, double v, nd_dm **out)
{
    ND_TRY(nd_dm_alloc(m, n, out));
    nd_dm *A = *out;
    for (int lj = 0; lj < A->nloc; lj++)
        for (int li = 0; li < A->mloc; li++) A->a[li + (size_t)lj * A->lld] = v;
    return ND_OK;
}

nd_status nd_dm_eye(int64_t n, nd_dm **out)
{
    ND_TRY(nd_dm_alloc(n, n, out));
    nd_dm *A = *out;
    for (int lj = 0; lj < A->nloc; lj++) {
        int64_t j = nd_dm_gcol(A, lj);
        for (int li = 0; li < A->mloc; li++)
            if (nd_dm_grow(A, li) == j) A->a[li + (size_t)lj * A->lld] = 1.0;
    }
    return ND_OK;
}

/* splitmix64's finalizer: a bijective 64-bit mix with full avalanche. */
static uint64_t mix64(uint64_t z)
{
    z += UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* The counter-based generator: a uniform double in [0, 1) with 53 random bits that
 * depends only on (seed, i, j, stream), and for arrays of 3 or more dimensions on the
 * further indices `rest` (nrest of them), mixed in after j so that the 2-D values stay
 * as they were.  Documented in docs/matrices.md. */
static double counter_uniform_nd(uint64_t seed, uint64_t i, uint64_t j, const int64_t *rest,
                                 int nrest, uint64_t stream)
{
    uint64_t h = mix64(seed ^ UINT64_C(0x6E6F6F646C65)); /* "noodle" */
    h = mix64(h ^ i);
    h = mix64(h ^ (j * UINT64_C(0xD1B54A32D192ED03)));
    for (int k = 0; k < nrest; k++)
        h = mix64(h ^ ((uint64_t)rest[k] * UINT64_C(0x8CB92BA72F3D8DD7) + (uint64_t)k));
    h = mix64(h ^ stream);
    return (double)(h >> 11) * 0x1p-53;
}

double nd_dm_rand_value(uint64_t seed, const int64_t *idx, int nd, bool normal)
{
    uint64_t i = (uint64_t)idx[0], j = nd > 1 ? (uint64_t)idx[1] : 0;
    const int64_t *rest = idx + 2;
    int nrest = nd > 2 ? nd - 2 : 0;
    if (!normal) return counter_uniform_nd(seed, i, j, rest, nrest, 0);
    /* Box-Muller; 1 - u1 lies in (0, 1], so the log is finite. */
    double u1 = counter_uniform_nd(seed, i, j, rest, nrest, 1);
    double u2 = counter_uniform_nd(seed, i, j, rest, nrest, 2);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

nd_status nd_dm_rand(int64_t m, int64_t n, int64_t seed, bool normal, nd_dm **out)
{
    ND_TRY(nd_dm_alloc(m, n, out));
    nd_dm *A = *out;
    for (int lj = 0; lj < A->nloc; lj++) {
        int64_t idx[2] = {0, nd_dm_gcol(A, lj)};
        for (int li = 0; li < A->mloc; li++) {
            idx[0] = nd_dm_grow(A, li);
            A->a[li + (size_t)lj * A->lld] = nd_dm_rand_value((uint64_t)seed, idx, 2, normal);
        }
    }
    return ND_OK;
}

nd_status nd_dm_linspace(double a, double b, int64_t n, nd_dm **out)
{
    *out = NULL;
    ND_CHECK(n >= 1, ND_EPROG, "linspace needs n >= 1 (got %lld)", LL(n));
    ND_TRY(nd_dm_alloc(n, 1, out));
    nd_dm *A = *out;
    for (int lj = 0; lj < A->nloc; lj++)
        for (int li = 0; li < A->mloc; li++) {
            int64_t k = nd_dm_grow(A, li);
            A->a[li] = n == 1 ? a : a + (b - a) * (double)k / (double)(n - 1);
        }
    return ND_OK;
}

nd_status nd_dm_from_colmajor(int64_t m, int64_t n, const double *data, nd_dm **out)
{
    ND_TRY(nd_dm_alloc(m, n, out));
    nd_dm *A = *out;
    for (int lj = 0; lj < A->nloc; lj++) {
        int64_t j = nd_dm_gcol(A, lj);
        for (int li = 0; li < A->mloc; li++)
            A->a[li + (size_t)lj * A->lld] = data[nd_dm_grow(A, li) + j * m];
    }
    return ND_OK;
}

/* Each element is written by its one owner and all others leave +0.0 (all bits zero),
 * so a bitwise-OR all-reduce delivers the owner's bits exactly (a sum would turn -0.0
 * into +0.0).  Chunked to keep MPI counts within int. */
nd_status nd_dm_combine(double *buf, size_t n)
{
    if (nd_spmd_size() == 1) return ND_OK;
    const size_t chunk = (size_t)1 << 26;
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)k, MPI_UINT64_T, MPI_BOR,
                               nd_spmd_comm());
        if (rc != MPI_SUCCESS) return nd_spmd_mpi_fail("MPI_Allreduce", rc);
    }
    return ND_OK;
}

/* Collective.  Memory: the whole matrix on every rank. */
nd_status nd_dm_to_colmajor(const nd_dm *A, double **out)
{
    size_t total = (size_t)A->m * (size_t)A->n;
    double *buf = ND_ALLOC_N(double, total);
    /* A failed allocation on one rank must not leave the others in the all-reduce. */
    AGREE_ALLOC(buf, total);
    nd_dm_host(A);
    for (int lj = 0; lj < A->nloc; lj++) {
        int64_t j = nd_dm_gcol(A, lj);
        for (int li = 0; li < A->mloc; li++)
            buf[nd_dm_grow(A, li) + j * A->m] = A->a[li + (size_t)lj * A->lld];
    }
    nd_status st = nd_dm_combine(buf, total);
    if (st != ND_OK) {
        ND_FREE_N(buf, total);
        return st;
    }
    *out = buf;
    return ND_OK;
}

/* ---- elements and blocks --------------------------------------------------------- */

/* Rank-local: where global (i, j) lives. */
static void locate(const nd_dm *A, int64_t i, int64_t j, int *prow, int *pcol, int *li, int *lj)
{
    int nprow, npcol;
    nd_spmd_grid(&nprow, &npcol, NULL, NULL);
    int64_t bi = i / A->nb, bj = j / A->nb;
    *prow = (int)(bi % nprow);
    *pcol = (int)(bj % npcol);
    *li = (int)((bi / nprow) * A->nb + i % A->nb);
    *lj = (int)((bj / npcol) * A->nb + j % A->nb);
}

static nd_status check_index(const nd_dm *A, int64_t i, int64_t j)
{
    ND_CHECK(i >= 0 && i < A->m && j >= 0 && j < A->n, ND_EPROG,
             "index [%lld, %lld] out of range for %lldx%lld matrix", LL(i), LL(j), LL(A->m),
             LL(A->n));
    return ND_OK;
}

nd_status nd_dm_get(const nd_dm *A, int64_t i, int64_t j, double *v)
{
    ND_TRY(check_index(A, i, j));
    int prow, pcol, li, lj, myrow, mycol;
    locate(A, i, j, &prow, &pcol, &li, &lj);
    nd_spmd_grid(NULL, NULL, &myrow, &mycol);
    double x = 0.0;
    if (prow == myrow && pcol == mycol) {
        size_t k = li + (size_t)lj * A->lld;
        if (A->at & ND_AT_HOST) x = A->a[k];
        else nd_dm_dev->get1(A->dev + k, &x); /* one element, not the matrix */
    }
    int root = Cblacs_pnum(nd_spmd_blacs_ctx(), prow, pcol);
    ND_TRY(nd_spmd_bcast(&x, sizeof x, root));
    *v = x;
    return ND_OK;
}

/* Collective in name only: the owner writes, nobody communicates. */
nd_status nd_dm_set(nd_dm *A, int64_t i, int64_t j, double v)
{
    ND_TRY(check_index(A, i, j));
    int prow, pcol, li, lj, myrow, mycol;
    locate(A, i, j, &prow, &pcol, &li, &lj);
    nd_spmd_grid(NULL, NULL, &myrow, &mycol);
    if (prow == myrow && pcol == mycol) {
        size_t k = li + (size_t)lj * A->lld;
        if (A->at & ND_AT_HOST) A->a[k] = v;
        if (A->at & ND_AT_DEV) nd_dm_dev->set1(A->dev + k, v);
    }
    return ND_OK;
}

static nd_status check_range(const nd_dm *A, int64_t r0, int64_t r1, int64_t c0, int64_t c1)
{
    ND_CHECK(r0 >= 0 && r1 <= A->m && c0 >= 0 && c1 <= A->n && r0 <= r1 && c0 <= c1,
             ND_EPROG, "slice [%lld:%lld, %lld:%lld] out of range for %lldx%lld matrix",
             LL(r0), LL(r1), LL(c0), LL(c1), LL(A->m), LL(A->n));
    ND_CHECK(r0 < r1 && c0 < c1, ND_EPROG,
             "empty slice [%lld:%lld, %lld:%lld] (matrix dimensions must be at least 1)",
             LL(r0), LL(r1), LL(c0), LL(c1));
    return ND_OK;
}

/* The budget of one Cpdgemr2d call, in elements (redistribute).  A variable so that
 * check_dm can make pieces small (nd_dm_set_redist_piece). */
static int64_t redist_piece = (int64_t)1 << 27;

void nd_dm_set_redist_piece(int64_t elems) { redist_piece = elems > 0 ? elems : (int64_t)1 << 27; }

/* Integer square root, rounded down. */
static int64_t isqrt64(int64_t v)
{
    int64_t r = (int64_t)sqrt((double)v);
    while (r > 0 && r * r > v) r--;
    while ((r + 1) * (r + 1) <= v) r++;
    return r;
}

void nd_dm_redist_shape(int64_t m, int64_t n, int64_t nb, int64_t budget, int64_t *rows,
                        int64_t *cols)
{
    int64_t side = isqrt64(budget);
    if (m + nb <= budget / (n + nb)) { /* (m + nb)(n + nb) <= budget: one piece */
        *rows = m, *cols = n;
    } else if (n + nb <= side) { /* few columns: whole rows of pieces */
        *cols = n;
        *rows = budget / (n + nb) - nb;
    } else if (m + nb <= side) {
        *rows = m;
        *cols = budget / (m + nb) - nb;
    } else {
        *rows = *cols = side - nb;
    }
    *rows = *rows < 1 ? 1 : *rows > m ? m : *rows;
    *cols = *cols < 1 ? 1 : *cols > n ? n : *cols;
}

/* Collective: B[ib.., jb..] := A[ia.., ja..] for an m-by-n block (0-based), in pieces.
 * Cpdgemr2d first shifts a piece by its offset inside a block (ia mod nb) and sizes its
 * buffers, in int bytes, from the shifted shape: up to (rows + nb) x (cols + nb).  One
 * move of more than 2 GiB aborted the process with "xxmr2d:out of memory" (hcat of two
 * 1.5 GiB matrices at one rank), so the shifted shape stays within redist_piece (1 GiB). */
static void redistribute(int64_t m, int64_t n, const nd_dm *A, int64_t ia, int64_t ja,
                         nd_dm *B, int64_t ib, int64_t jb)
{
    nd_dm_host(A);
    nd_dm_host_w(B);
    int64_t rows, cols;
    nd_dm_redist_shape(m, n, A->nb > B->nb ? A->nb : B->nb, redist_piece, &rows, &cols);
    for (int64_t j = 0; j < n; j += cols)
        for (int64_t i = 0; i < m; i += rows) {
            int pm = (int)(m - i < rows ? m - i : rows), pn = (int)(n - j < cols ? n - j : cols);
            Cpdgemr2d(pm, pn, A->a, (int)(ia + i) + 1, (int)(ja + j) + 1, (int *)A->desc, B->a,
                      (int)(ib + i) + 1, (int)(jb + j) + 1, B->desc, nd_spmd_blacs_ctx());
        }
}

nd_status nd_dm_slice(const nd_dm *A, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                      nd_dm **out)
{
    ND_TRY(check_range(A, r0, r1, c0, c1));
    ND_TRY(nd_dm_alloc(r1 - r0, c1 - c0, out));
    redistribute(r1 - r0, c1 - c0, A, r0, c0, *out, 0, 0);
    return ND_OK;
}

nd_status nd_dm_assign(nd_dm *A, int64_t r0, int64_t c0, const nd_dm *B)
{
    ND_CHECK(r0 >= 0 && c0 >= 0 && r0 + B->m <= A->m && c0 + B->n <= A->n, ND_EPROG,
             "shape mismatch: cannot assign %lldx%lld at [%lld, %lld] of a %lldx%lld matrix",
             LL(B->m), LL(B->n), LL(r0), LL(c0), LL(A->m), LL(A->n));
    if (A == B) return ND_OK;
    redistribute(B->m, B->n, B, 0, 0, A, r0, c0);
    return ND_OK;
}

nd_status nd_dm_assign_scalar(nd_dm *A, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                              double v)
{
    ND_TRY(check_range(A, r0, r1, c0, c1));
    nd_dm_host_w(A);
    for (int lj = 0; lj < A->nloc; lj++) {
        int64_t j = nd_dm_gcol(A, lj);
        if (j < c0 || j >= c1) continue;
        for (int li = 0; li < A->mloc; li++) {
            int64_t i = nd_dm_grow(A, li);
            if (i >= r0 && i < r1) A->a[li + (size_t)lj * A->lld] = v;
        }
    }
    return ND_OK;
}

nd_status nd_dm_copy(const nd_dm *A, nd_dm **out)
{
    if (!(on_dev() && (A->at & ND_AT_DEV))) return nd_dm_copy_host(A, out);
    ND_TRY(nd_dm_alloc_dev(A->m, A->n, out));
    nd_dm_dev->copy((*out)->dev, A->dev, A->cap);
    keep_shape(*out, A);
    return ND_OK;
}

nd_status nd_dm_transpose(const nd_dm *A, nd_dm **out)
{
    int nprow, npcol;
    nd_spmd_grid(&nprow, &npcol, NULL, NULL);
    if (on_dev() && nprow == 1 && npcol == 1 && nd_dm_dev->transpose) {
        ND_TRY(nd_dm_to_dev(1, &A));
        ND_TRY(nd_dm_alloc_dev(A->n, A->m, out));
        nd_dm_dev->transpose(A, *out);
        return ND_OK;
    }
    ND_TRY(nd_dm_alloc(A->n, A->m, out));
    nd_dm *C = *out;
    nd_dm_host(A);
    int M = (int)C->m, N = (int)C->n, one = 1;
    double alpha = 1.0, beta = 0.0;
    pdtran_(&M, &N, &alpha, A->a, &one, &one, A->desc, &beta, C->a, &one, &one, C->desc);
    return ND_OK;
}

nd_status nd_dm_hcat(const nd_dm *A, const nd_dm *B, nd_dm **out)
{
    *out = NULL;
    ND_CHECK(A->m == B->m, ND_EPROG, "shape mismatch: hcat(%lldx%lld, %lldx%lld)", LL(A->m),
             LL(A->n), LL(B->m), LL(B->n));
    ND_TRY(nd_dm_alloc(A->m, A->n + B->n, out));
    redistribute(A->m, A->n, A, 0, 0, *out, 0, 0);
    redistribute(B->m, B->n, B, 0, 0, *out, 0, A->n);
    return ND_OK;
}

nd_status nd_dm_vcat(const nd_dm *A, const nd_dm *B, nd_dm **out)
{
    *out = NULL;
    ND_CHECK(A->n == B->n, ND_EPROG, "shape mismatch: vcat(%lldx%lld, %lldx%lld)", LL(A->m),
             LL(A->n), LL(B->m), LL(B->n));
    ND_TRY(nd_dm_alloc(A->m + B->m, A->n, out));
    redistribute(A->m, A->n, A, 0, 0, *out, 0, 0);
    redistribute(B->m, B->n, B, 0, 0, *out, A->m, 0);
    return ND_OK;
}

nd_status nd_dm_diag(const nd_dm *A, nd_dm **out)
{
    *out = NULL;
    if (A->m == 1 || A->n == 1) {
        int64_t k = A->m * A->n;
        double *v;
        ND_TRY(nd_dm_to_colmajor(A, &v));
        nd_status st = nd_dm_alloc(k, k, out);
        if (st == ND_OK) {
            nd_dm *D = *out;
            for (int lj = 0; lj < D->nloc; lj++) {
                int64_t j = nd_dm_gcol(D, lj);
                for (int li = 0; li < D->mloc; li++)
                    if (nd_dm_grow(D, li) == j) D->a[li + (size_t)lj * D->lld] = v[j];
            }
        }
        ND_FREE_N(v, (size_t)k);
        return st;
    }
    ND_TRY(nd_dm_need_square("diag", A));
    double *d = ND_ALLOC_N(double, (size_t)A->n);
    AGREE_ALLOC(d, (size_t)A->n);
    nd_dm_host(A);
    for (int lj = 0; lj < A->nloc; lj++) {
        int64_t j = nd_dm_gcol(A, lj);
        for (int li = 0; li < A->mloc; li++)
            if (nd_dm_grow(A, li) == j) d[j] = A->a[li + (size_t)lj * A->lld];
    }
    nd_status st = nd_dm_combine(d, (size_t)A->n);
    if (st == ND_OK) st = nd_dm_from_colmajor(A->n, 1, d, out);
    ND_FREE_N(d, (size_t)A->n);
    return st;
}

/* ---- elementwise ----------------------------------------------------------------- */

static const char *const ew_sym[ND_EW_NOPS] = {
    "+", "-", "*", "/", "^", "%", "//", "<", "<=", ">", ">=", "==", "!=", "maximum", "minimum",
    "atan2"};

const char *nd_ew_name(nd_ew_op op) { return (unsigned)op < ND_EW_NOPS ? ew_sym[op] : "?"; }

/* Float modulo with the sign of the divisor (Lua's %, the VM's on numbers). */
static inline double mod_floor(double x, double y)
{
    double r = fmod(x, y);
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return r;
}

/* numpy's maximum/minimum: a NaN operand gives NaN. */
static inline double nan_pick(double x, double y, bool max)
{
    if (isnan(x) || isnan(y)) return x + y;
    return max ? (x >= y ? x : y) : (x <= y ? x : y);
}

double nd_ew_apply(nd_ew_op op, double x, double y)
{
    switch (op) {
    case ND_EW_ADD: return x + y;
    case ND_EW_SUB: return x - y;
    case ND_EW_MUL: return x * y;
    case ND_EW_DIV: return x / y;
    case ND_EW_POW: return pow(x, y);
    case ND_EW_MOD: return mod_floor(x, y);
    case ND_EW_FLOORDIV: return floor(x / y);
    case ND_EW_LT: return x < y;
    case ND_EW_LE: return x <= y;
    case ND_EW_GT: return x > y;
    case ND_EW_GE: return x >= y;
    case ND_EW_EQ: return x == y;
    case ND_EW_NE: return x != y;
    case ND_EW_MAX: return nan_pick(x, y, true);
    case ND_EW_MIN: return nan_pick(x, y, false);
    case ND_EW_ATAN2: return atan2(x, y);
    }
    return 0.0;
}
#define ew_apply nd_ew_apply

/* The local parts are contiguous (lld == mloc) and cap elements long, as the device
 * kernels assume too; the switches are outside the loops so that each loop vectorizes.
 * ivdep: c may be a or b (nd_dm_ew_into), but only at the same index, which vectorized
 * loops allow; without it -O2's cheap cost model leaves the loops scalar. */
#define EW_CASES(LOOP)                                                                   \
    switch (op) {                                                                        \
    case ND_EW_ADD: LOOP(x + y) break;                                                   \
    case ND_EW_SUB: LOOP(x - y) break;                                                   \
    case ND_EW_MUL: LOOP(x * y) break;                                                   \
    case ND_EW_DIV: LOOP(x / y) break;                                                   \
    default: LOOP(ew_apply(op, x, y)) break;                                             \
    }
#define EW_AB(EXPR)                                                                      \
    _Pragma("GCC ivdep") for (size_t k = 0; k < n; k++) {                                                     \
        double x = a[k], y = b[k];                                                       \
        c[k] = (EXPR);                                                                   \
    }
#define EW_SB(EXPR)                                                                      \
    _Pragma("GCC ivdep") for (size_t k = 0; k < n; k++) {                                                     \
        double x = s, y = b[k];                                                          \
        c[k] = (EXPR);                                                                   \
    }
#define EW_AS(EXPR)                                                                      \
    _Pragma("GCC ivdep") for (size_t k = 0; k < n; k++) {                                                     \
        double x = a[k], y = s;                                                          \
        c[k] = (EXPR);                                                                   \
    }
/* c = a op b, or s op b (a NULL), or a op s (b NULL). */
ND_VECTORIZE static void ew_host(nd_ew_op op, const double *a, const double *b, double s,
                    double *c, size_t n)
{
    if (a && b) EW_CASES(EW_AB)
    else if (b) EW_CASES(EW_SB)
    else EW_CASES(EW_AS)
}
#undef EW_CASES
#undef EW_AB
#undef EW_SB
#undef EW_AS

nd_status nd_dm_ew(nd_ew_op op, const nd_dm *A, const nd_dm *B, nd_dm **out)
{
    *out = NULL;
    ND_CHECK((unsigned)op < ND_EW_NOPS, ND_EINTERNAL, "bad elementwise op %d", (int)op);
    ND_CHECK(A->m == B->m && A->n == B->n, ND_EPROG, "shape mismatch: %lldx%lld %s %lldx%lld",
             LL(A->m), LL(A->n), ew_sym[op], LL(B->m), LL(B->n));
    if (on_dev()) {
        const nd_dm *in[2] = {A, B};
        ND_TRY(nd_dm_to_dev(2, in));
        ND_TRY(nd_dm_alloc_dev(A->m, A->n, out));
        nd_dm_dev->ew(op, A->dev, B->dev, (*out)->dev, A->cap);
        keep_shape(*out, A);
        return ND_OK;
    }
    ND_TRY(dm_alloc_nozero(A->m, A->n, out));
    nd_dm_host(A);
    nd_dm_host(B);
    ew_host(op, A->a, B->a, 0.0, (*out)->a, A->cap);
    keep_shape(*out, A);
    return ND_OK;
}

void nd_dm_ew_run(nd_ew_op op, const double *a, const double *b, double s, double *c, size_t n)
{
    ew_host(op, a, b, s, c, n);
}

nd_status nd_dm_ew_into(nd_ew_op op, const nd_dm *A, const nd_dm *B, nd_dm *C)
{
    ND_CHECK((unsigned)op < ND_EW_NOPS, ND_EINTERNAL, "bad elementwise op %d", (int)op);
    ND_CHECK(A->m == B->m && A->n == B->n && A->m == C->m && A->n == C->n, ND_EINTERNAL,
             "ew_into: layouts differ");
    if (on_dev()) {
        const nd_dm *in[3] = {A, B, C};
        ND_TRY(nd_dm_to_dev(3, in));
        nd_dm_dev->ew(op, A->dev, B->dev, C->dev, A->cap); /* C may alias A or B */
        C->at = ND_AT_DEV;
        return ND_OK;
    }
    nd_dm_host(A);
    nd_dm_host(B);
    nd_dm_host_w(C);
    ew_host(op, A->a, B->a, 0.0, C->a, A->cap);
    return ND_OK;
}

nd_status nd_dm_ew_scalar_into(nd_ew_op op, const nd_dm *A, double s, bool scalar_left,
                               nd_dm *C)
{
    ND_CHECK((unsigned)op < ND_EW_NOPS, ND_EINTERNAL, "bad elementwise op %d", (int)op);
    ND_CHECK(A->m == C->m && A->n == C->n, ND_EINTERNAL, "ew_scalar_into: layouts differ");
    if (on_dev()) {
        const nd_dm *in[2] = {A, C};
        ND_TRY(nd_dm_to_dev(2, in));
        nd_dm_dev->ew_scalar(op, A->dev, s, scalar_left, C->dev, A->cap);
        C->at = ND_AT_DEV;
        return ND_OK;
    }
    nd_dm_host(A);
    nd_dm_host_w(C);
    if (scalar_left) ew_host(op, NULL, A->a, s, C->a, A->cap);
    else ew_host(op, A->a, NULL, s, C->a, A->cap);
    return ND_OK;
}

nd_status nd_dm_ew_scalar(nd_ew_op op, const nd_dm *A, double s, bool scalar_left,
                          nd_dm **out)
{
    *out = NULL;
    ND_CHECK((unsigned)op < ND_EW_NOPS, ND_EINTERNAL, "bad elementwise op %d", (int)op);
    if (on_dev()) {
        ND_TRY(nd_dm_to_dev(1, &A));
        ND_TRY(nd_dm_alloc_dev(A->m, A->n, out));
        nd_dm_dev->ew_scalar(op, A->dev, s, scalar_left, (*out)->dev, A->cap);
        keep_shape(*out, A);
        return ND_OK;
    }
    ND_TRY(dm_alloc_nozero(A->m, A->n, out));
    nd_dm_host(A);
    if (scalar_left) ew_host(op, NULL, A->a, s, (*out)->a, A->cap);
    else ew_host(op, A->a, NULL, s, (*out)->a, A->cap);
    keep_shape(*out, A);
    return ND_OK;
}

/* exp of the arrays, vectorizable: k = round(x / ln 2), r = x - k ln 2 (Cody-Waite, ln 2
 * in two parts, the first with trailing zeros so that k * LN2_HI is exact), exp(r) by
 * its Taylor series to r^13 (remainder under 4e-18 for |r| <= ln 2 / 2) in Horner form,
 * times 2^k built in the exponent bits.  At most about 1 ulp from the correctly rounded
 * value, as numpy's vectorized exp; the same bits for any vector width and machine
 * (plain IEEE operations, no contraction).  Chunks holding an argument outside
 * [-708, 709] (subnormal or infinite results, NaN) give those to libm's exp. */
#define EXP_CHUNK 512
static inline __attribute__((always_inline)) bool exp_chunk(const double *a, double *c, int n)
{
    const double log2e = 0x1.71547652b82fep0, shift = 0x1.8p52;
    const double ln2_hi = 0x1.62e42fee00000p-1, ln2_lo = 0x1.a39ef35793c76p-33;
    double bad = 0.0; /* selects and sums, not branches: the loop must vectorize */
    for (int k = 0; k < n; k++) {
        double x = a[k], xc = x < 709.0 ? x : 709.0; /* NaN: 709 */
        xc = xc > -708.0 ? xc : -708.0;
        bad += fabs(x - xc); /* > 0 or NaN outside the range */
        double kd = xc * log2e + shift;
        uint64_t ki;
        memcpy(&ki, &kd, sizeof ki);
        kd -= shift;
        double r = (xc - kd * ln2_hi) - kd * ln2_lo;
        double p = 1.0 / 6227020800.0;
        p = p * r + 1.0 / 479001600.0;
        p = p * r + 1.0 / 39916800.0;
        p = p * r + 1.0 / 3628800.0;
        p = p * r + 1.0 / 362880.0;
        p = p * r + 1.0 / 40320.0;
        p = p * r + 1.0 / 5040.0;
        p = p * r + 1.0 / 720.0;
        p = p * r + 1.0 / 120.0;
        p = p * r + 1.0 / 24.0;
        p = p * r + 1.0 / 6.0;
        p = p * r + 0.5;
        p = p * r + 1.0;
        p = p * r + 1.0;
        uint64_t sb = (ki + 1023) << 52; /* the low bits of ki hold k */
        double scale;
        memcpy(&scale, &sb, sizeof scale);
        c[k] = p * scale;
    }
    return bad != 0.0;
}

ND_VECTORIZE static void exp_host(const double *a, double *c, size_t n)
{
    for (size_t k0 = 0; k0 < n; k0 += EXP_CHUNK) {
        int len = n - k0 < EXP_CHUNK ? (int)(n - k0) : EXP_CHUNK;
        if (exp_chunk(a + k0, c + k0, len))
            for (int k = 0; k < len; k++) {
                double x = a[k0 + k];
                if (!(x >= -708.0 && x <= 709.0)) c[k0 + k] = exp(x);
            }
    }
}

double nd_exp_array_value(double x)
{
    double y;
    exp_host(&x, &y, 1);
    return y;
}

ND_VECTORIZE static void map_host(nd_map_fn f, const double *a, double *c, size_t n)
{
#define MAP_LOOP(EXPR)                                                                   \
    _Pragma("GCC ivdep") for (size_t k = 0; k < n; k++) {                                \
        double x = a[k];                                                                 \
        c[k] = (EXPR);                                                                   \
    }                                                                                    \
    break;
    switch (f) {
    case ND_MAP_NEG: MAP_LOOP(-x)
    case ND_MAP_ABS: MAP_LOOP(fabs(x))
    case ND_MAP_SQRT: MAP_LOOP(sqrt(x))
    case ND_MAP_EXP: exp_host(a, c, n); break;
    case ND_MAP_LOG: MAP_LOOP(log(x))
    case ND_MAP_SIN: MAP_LOOP(sin(x))
    case ND_MAP_COS: MAP_LOOP(cos(x))
    case ND_MAP_TANH: MAP_LOOP(tanh(x))
    case ND_MAP_TAN: MAP_LOOP(tan(x))
    case ND_MAP_ATAN: MAP_LOOP(atan(x))
    case ND_MAP_FLOOR: MAP_LOOP(floor(x))
    case ND_MAP_CEIL: MAP_LOOP(ceil(x))
    case ND_MAP_ROUND: MAP_LOOP(round(x))
    }
#undef MAP_LOOP
}

nd_status nd_dm_map_into(nd_map_fn f, const nd_dm *A, nd_dm *C)
{
    ND_CHECK((unsigned)f <= ND_MAP_ROUND, ND_EINTERNAL, "bad map function %d", (int)f);
    ND_CHECK(A->m == C->m && A->n == C->n, ND_EINTERNAL, "map_into: layouts differ");
    if (on_dev()) {
        const nd_dm *in[2] = {A, C};
        ND_TRY(nd_dm_to_dev(2, in));
        nd_dm_dev->map(f, A->dev, C->dev, A->cap);
        C->at = ND_AT_DEV;
        return ND_OK;
    }
    nd_dm_host(A);
    nd_dm_host_w(C);
    map_host(f, A->a, C->a, A->cap);
    return ND_OK;
}

nd_status nd_dm_map(nd_map_fn f, const nd_dm *A, nd_dm **out)
{
    *out = NULL;
    ND_CHECK((unsigned)f <= ND_MAP_ROUND, ND_EINTERNAL, "bad map function %d", (int)f);
    if (on_dev()) {
        ND_TRY(nd_dm_to_dev(1, &A));
        ND_TRY(nd_dm_alloc_dev(A->m, A->n, out));
        nd_dm_dev->map(f, A->dev, (*out)->dev, A->cap);
        keep_shape(*out, A);
        return ND_OK;
    }
    ND_TRY(dm_alloc_nozero(A->m, A->n, out));
    keep_shape(*out, A);
    nd_status st = nd_dm_map_into(f, A, *out);
    if (st != ND_OK) {
        nd_dm_free(*out);
        *out = NULL;
    }
    return st;
}

/* ---- reductions ------------------------------------------------------------------ */

/* Every partial (kinds P_* in dm_layout.h) covers one global block (or one column of a
 * block-row, or one row of a block-column) and is accumulated in a fixed order inside
 * the block: columns outer, rows inner. */


/* Collective.  Fills part[bi + bj * nbr] for every global block, then combines. */
void nd_dm_local_partials(const nd_dm *A, const double *a, const double *b, int kind,
                          double *part)
{
    int nb = A->nb, nprow, npcol, myrow, mycol;
    nd_spmd_grid(&nprow, &npcol, &myrow, &mycol);
    int64_t nbr = (A->m + nb - 1) / nb;
    for (int lc = 0; lc * nb < A->nloc; lc++) {
        int j1 = (lc + 1) * nb < A->nloc ? (lc + 1) * nb : A->nloc;
        int64_t bj = (int64_t)lc * npcol + mycol;
        for (int lr = 0; lr * nb < A->mloc; lr++) {
            int i1 = (lr + 1) * nb < A->mloc ? (lr + 1) * nb : A->mloc;
            int64_t bi = (int64_t)lr * nprow + myrow;
            double acc = kind == P_MIN || kind == P_MAX ? a[lr * nb + (size_t)lc * nb * A->lld]
                                                        : 0.0;
            for (int lj = lc * nb; lj < j1; lj++)
                for (int li = lr * nb; li < i1; li++) {
                    double x = a[li + (size_t)lj * A->lld];
                    switch (kind) {
                    case P_SUM: acc += x; break;
                    case P_SUMSQ: acc += x * x; break;
                    case P_MIN: acc = nd_nan_min(acc, x); break;
                    case P_MAX: acc = nd_nan_max(acc, x); break;
                    case P_DOT: acc += x * b[li + (size_t)lj * A->lld]; break;
                    }
                }
            part[bi + bj * nbr] = acc;
        }
    }
}

static nd_status block_partials(const nd_dm *A, const nd_dm *B, int kind, double **out,
                                size_t *nout)
{
    int nb = A->nb, nprow, npcol, myrow, mycol;
    nd_spmd_grid(&nprow, &npcol, &myrow, &mycol);
    int64_t nbr = (A->m + nb - 1) / nb, nbc = (A->n + nb - 1) / nb;
    size_t np = (size_t)nbr * (size_t)nbc;
    double *part = ND_ALLOC_N(double, np);
    AGREE_ALLOC(part, np);
    /* A matrix already on the device is reduced there; one on the host stays there. */
    if (on_dev() && (A->at & ND_AT_DEV)) {
        const nd_dm *in[2] = {A, B};
        nd_status st = nd_dm_to_dev(B ? 2 : 1, in);
        if (st == ND_OK) st = nd_dm_dev->partials(A, B, kind, part, np);
        if (st != ND_OK) {
            ND_FREE_N(part, np);
            return st;
        }
        *out = part;
        *nout = np;
        return ND_OK;
    }
    nd_dm_host(A);
    if (B) nd_dm_host(B);
    nd_dm_local_partials(A, A->a, B ? B->a : NULL, kind, part);
    nd_status st = nd_dm_combine(part, np);
    if (st != ND_OK) {
        ND_FREE_N(part, np);
        return st;
    }
    *out = part;
    *nout = np;
    return ND_OK;
}

/* Collective.  The per-column (per_row false) or per-row sums of |a| for norm 1 / inf:
 * part[b + k * nblocks] is the sum over block b of column (row) k. */
static nd_status line_partials(const nd_dm *A, bool per_row, double **out, size_t *nout)
{
    int nb = A->nb, nprow, npcol, myrow, mycol;
    nd_spmd_grid(&nprow, &npcol, &myrow, &mycol);
    int64_t nblk = per_row ? (A->n + nb - 1) / nb : (A->m + nb - 1) / nb;
    int64_t nlines = per_row ? A->m : A->n;
    size_t np = (size_t)nblk * (size_t)nlines;
    double *part = ND_ALLOC_N(double, np);
    AGREE_ALLOC(part, np);
    nd_dm_host(A);
    for (int lj = 0; lj < A->nloc; lj++) {
        int64_t j = nd_dm_gcol(A, lj);
        int64_t bj = (int64_t)(lj / nb) * npcol + mycol;
        for (int li = 0; li < A->mloc; li++) {
            double x = fabs(A->a[li + (size_t)lj * A->lld]);
            if (per_row) {
                part[bj + nd_dm_grow(A, li) * nblk] += x; /* j ascending inside the block */
            } else {
                int64_t bi = (int64_t)(li / nb) * nprow + myrow;
                part[bi + j * nblk] += x; /* i ascending inside the block */
            }
        }
    }
    nd_status st = nd_dm_combine(part, np);
    if (st != ND_OK) {
        ND_FREE_N(part, np);
        return st;
    }
    *out = part;
    *nout = np;
    return ND_OK;
}

static nd_status reduce_lines(const nd_dm *A, bool per_row, double *out)
{
    double *part;
    size_t np;
    ND_TRY(line_partials(A, per_row, &part, &np));
    int64_t nlines = per_row ? A->m : A->n;
    int64_t nblk = (int64_t)(np / (size_t)nlines);
    double best = 0.0;
    for (int64_t k = 0; k < nlines; k++) {
        double s = 0.0;
        for (int64_t b = 0; b < nblk; b++) s += part[b + k * nblk];
        best = k == 0 ? s : nd_nan_max(best, s);
    }
    ND_FREE_N(part, np);
    *out = best;
    return ND_OK;
}

/* Collective.  The trace: one partial per diagonal block, summed in block order. */
static nd_status reduce_trace(const nd_dm *A, double *out)
{
    int64_t k = A->m < A->n ? A->m : A->n;
    int64_t nbd = (k + A->nb - 1) / A->nb;
    double *part = ND_ALLOC_N(double, (size_t)nbd);
    AGREE_ALLOC(part, (size_t)nbd);
    nd_dm_host(A);
    for (int lj = 0; lj < A->nloc; lj++) {
        int64_t j = nd_dm_gcol(A, lj);
        if (j >= k) continue;
        for (int li = 0; li < A->mloc; li++)
            if (nd_dm_grow(A, li) == j) part[j / A->nb] += A->a[li + (size_t)lj * A->lld];
    }
    nd_status st = nd_dm_combine(part, (size_t)nbd);
    double s = 0.0;
    for (int64_t b = 0; b < nbd; b++) s += part[b];
    ND_FREE_N(part, (size_t)nbd);
    *out = s;
    return st;
}

static nd_status reduce_blocks(const nd_dm *A, const nd_dm *B, int kind, double *out)
{
    double *part;
    size_t np;
    ND_TRY(block_partials(A, B, kind, &part, &np));
    double acc = kind == P_MIN || kind == P_MAX ? part[0] : 0.0;
    for (size_t b = 0; b < np; b++) { /* bi fastest: column-major over blocks */
        switch (kind) {
        case P_MIN: acc = nd_nan_min(acc, part[b]); break;
        case P_MAX: acc = nd_nan_max(acc, part[b]); break;
        default: acc += part[b]; break;
        }
    }
    ND_FREE_N(part, np);
    *out = acc;
    return ND_OK;
}

nd_status nd_dm_reduce(nd_red_op op, const nd_dm *A, double *out)
{
    switch (op) {
    case ND_RED_SUM: return reduce_blocks(A, NULL, P_SUM, out);
    case ND_RED_MEAN:
        ND_TRY(reduce_blocks(A, NULL, P_SUM, out));
        *out /= (double)A->m * (double)A->n;
        return ND_OK;
    case ND_RED_MIN: return reduce_blocks(A, NULL, P_MIN, out);
    case ND_RED_MAX: return reduce_blocks(A, NULL, P_MAX, out);
    case ND_RED_TRACE: return reduce_trace(A, out);
    case ND_RED_NORM_FRO:
        ND_TRY(reduce_blocks(A, NULL, P_SUMSQ, out));
        *out = sqrt(*out);
        return ND_OK;
    case ND_RED_SUMSQ: return reduce_blocks(A, NULL, P_SUMSQ, out);
    case ND_RED_NORM_1: return reduce_lines(A, false, out);
    case ND_RED_NORM_INF: return reduce_lines(A, true, out);
    }
    return nd_err_set(ND_EINTERNAL, "bad reduction %d", (int)op);
}

nd_status nd_dm_dot(const nd_dm *x, const nd_dm *y, double *out)
{
    ND_CHECK((x->m == 1 || x->n == 1) && (y->m == 1 || y->n == 1), ND_EPROG,
             "dot needs two vectors (got %lldx%lld and %lldx%lld)", LL(x->m), LL(x->n),
             LL(y->m), LL(y->n));
    ND_CHECK(x->m * x->n == y->m * y->n, ND_EPROG, "shape mismatch: dot(%lldx%lld, %lldx%lld)",
             LL(x->m), LL(x->n), LL(y->m), LL(y->n));
    if (x->m == y->m) return reduce_blocks(x, y, P_DOT, out);
    /* Opposite orientations: transposing y keeps the block partition of the vector. */
    nd_dm *yt;
    ND_TRY(nd_dm_transpose(y, &yt));
    nd_status st = reduce_blocks(x, yt, P_DOT, out);
    nd_dm_free(yt);
    return st;
}

/* ---- sign normalization of vectors ----------------------------------------------- */

/* Candidates (|v|, global row, sign) combined across ranks: the larger magnitude wins,
 * ties go to the lower row, so the choice does not depend on the rank count. */
static void best_op(void *in, void *inout, int *len, MPI_Datatype *dt)
{
    (void)dt;
    double *a = in, *b = inout;
    for (int k = 0; k < *len; k++, a += 3, b += 3)
        if (a[0] > b[0] || (a[0] == b[0] && a[1] < b[1])) memcpy(b, a, 3 * sizeof(double));
}

nd_status nd_dm_sign_columns(nd_dm *A, nd_dm *B)
{
    size_t n = (size_t)A->n;
    double *cand = ND_ALLOC_N(double, 3 * n);
    AGREE_ALLOC(cand, 3 * n);
    nd_dm_host_w(A);
    if (B) nd_dm_host_w(B);
    for (size_t j = 0; j < n; j++) {
        cand[3 * j] = -1.0;
        cand[3 * j + 1] = 9e18;
        cand[3 * j + 2] = 1.0;
    }
    for (int lj = 0; lj < A->nloc; lj++) {
        double *c = cand + 3 * nd_dm_gcol(A, lj);
        for (int li = 0; li < A->mloc; li++) {
            double x = A->a[li + (size_t)lj * A->lld];
            double gi = (double)nd_dm_grow(A, li);
            if (fabs(x) > c[0] || (fabs(x) == c[0] && gi < c[1])) {
                c[0] = fabs(x);
                c[1] = gi;
                c[2] = x < 0 ? -1.0 : 1.0;
            }
        }
    }
    nd_status st = ND_OK;
    if (nd_spmd_size() > 1) {
        MPI_Datatype t;
        MPI_Op op;
        MPI_Type_contiguous(3, MPI_DOUBLE, &t);
        MPI_Type_commit(&t);
        MPI_Op_create(best_op, 1, &op);
        int rc = MPI_Allreduce(MPI_IN_PLACE, cand, (int)n, t, op, nd_spmd_comm());
        MPI_Op_free(&op);
        MPI_Type_free(&t);
        if (rc != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Allreduce", rc);
    }
    if (st == ND_OK) {
        for (int k = 0; k < 2; k++) {
            nd_dm *M = k == 0 ? A : B;
            if (!M) continue;
            for (int lj = 0; lj < M->nloc; lj++)
                if (cand[3 * nd_dm_gcol(M, lj) + 2] < 0)
                    for (int li = 0; li < M->mloc; li++) M->a[li + (size_t)lj * M->lld] *= -1.0;
        }
    }
    ND_FREE_N(cand, 3 * n);
    return st;
}
