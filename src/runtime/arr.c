/* arr.c: n-d arrays (arr.h): shapes and the fold, construction, moving elements by
 * flat index (fetch/deposit), strided views (the one gather behind reshape, broadcasting,
 * subscripts), and elementwise operations with broadcasting.
 *
 * Invariant: an array's storage is the R x C fold of arr.h, so flat index f is storage
 * (f / C, f % C), and arrays of one shape have one layout.  Every move of elements goes
 * through fetch/deposit, in pieces of at most nd_arr_piece_elems() elements per rank, so
 * that no rank holds more than its share of an array plus O(piece) of buffers.
 */
#include "runtime/arr.h"

#include "common/alloc.h"
#include "runtime/blacs.h"
#include "runtime/dm_impl.h"
#include "runtime/spmd.h"

#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#define LL(x) ((long long)(x))

/* ---- shape ----------------------------------------------------------------------- */

int nd_arr_ndim(const nd_dm *A) { return A->nd; }
const int64_t *nd_arr_shape(const nd_dm *A) { return A->shape; }
int64_t nd_arr_size(const nd_dm *A) { return A->m * A->n; }

bool nd_arr_same_shape(const nd_dm *A, const nd_dm *B)
{
    return A->nd == B->nd && memcmp(A->shape, B->shape, sizeof A->shape) == 0;
}

const char *nd_arr_shape_str(int nd, const int64_t *shape, char buf[ND_SHAPE_STR])
{
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < nd && len < ND_SHAPE_STR; k++)
        len += (size_t)snprintf(buf + len, ND_SHAPE_STR - len, "%s%lld", k ? "x" : "",
                                LL(shape[k]));
    return buf;
}

nd_status nd_arr_check_shape(const char *fn, int nd, const int64_t *shape)
{
    ND_CHECK(nd >= 1 && nd <= ND_MAXDIM, ND_EPROG,
             "%s: an array has 1 to %d dimensions, not %d", fn, ND_MAXDIM, nd);
    int64_t total = 1;
    for (int k = 0; k < nd; k++) {
        ND_CHECK(shape[k] >= 1, ND_EPROG,
                 "%s: array dimensions must be at least 1, got %lld", fn, LL(shape[k]));
        ND_CHECK(total <= INT64_MAX / shape[k], ND_EPROG, "%s: the array is too large", fn);
        total *= shape[k];
    }
    return ND_OK;
}

nd_status nd_arr_axis(const char *fn, int64_t axis, int nd, int *out)
{
    ND_CHECK(axis >= -nd && axis < nd, ND_EPROG, "%s: axis %lld is out of range for a %d-d array",
             fn, LL(axis), nd);
    *out = (int)(axis < 0 ? axis + nd : axis);
    return ND_OK;
}

void nd_arr_strides(int nd, const int64_t *shape, int64_t *stride)
{
    int64_t s = 1;
    for (int k = nd - 1; k >= 0; k--) {
        stride[k] = s;
        s *= shape[k];
    }
}

/* Rank-local: the fold of a shape (arr.h), and the index t of the first dimension that
 * lies in the columns: C == prod(shape[t..]).  For a 1-D fold R x C with R > 1 the one
 * dimension is split, t = -1. */
static void fold(int nd, const int64_t *shape, int64_t *R, int64_t *C, int *t)
{
    int64_t N = 1;
    for (int k = 0; k < nd; k++) N *= shape[k];
    if (nd == 2) {
        *R = shape[0], *C = shape[1], *t = 1;
        return;
    }
    if (nd == 1) {
        int64_t best = 1;
        for (int64_t d = 2; d * d <= N; d++)
            if (N % d == 0) best = d;
        if (best >= ND_ARR_MINFOLD) {
            *R = N / best, *C = best, *t = -1;
        } else {
            *R = 1, *C = N, *t = 0;
        }
        return;
    }
    /* the split at a dimension boundary that is nearest to square: the blocks spread
     * over both directions of any grid (ties: more rows) */
    int64_t best_c = N, c = 1;
    int best_t = 0;
    double best = INFINITY;
    for (int k = nd - 1; k >= 1; k--) {
        c *= shape[k];
        double r = (double)(N / c), q = r > (double)c ? r / (double)c : (double)c / r;
        if (q < best) best = q, best_c = c, best_t = k;
    }
    *R = N / best_c, *C = best_c, *t = best_t;
}

/* Rank-local: the shape split at the fold (a 1-D R x C fold becomes the 2-D (R, C)) with
 * strides to match: dimensions [0, *tr) make the storage row, [*tr, *nd2) the column. */
static void split_at_fold(int nd, const int64_t *shape, const int64_t *stride, int *nd2,
                          int64_t *shape2, int64_t *stride2, int *tr)
{
    int64_t R, C;
    int t;
    fold(nd, shape, &R, &C, &t);
    if (t < 0) {
        *nd2 = 2, *tr = 1;
        shape2[0] = R, shape2[1] = C;
        stride2[0] = C * stride[0], stride2[1] = stride[0];
        return;
    }
    *nd2 = nd, *tr = t;
    memcpy(shape2, shape, (size_t)nd * sizeof *shape);
    memcpy(stride2, stride, (size_t)nd * sizeof *stride);
}

static void set_shape(nd_dm *A, int nd, const int64_t *shape)
{
    A->nd = nd;
    for (int k = 0; k < ND_MAXDIM; k++) A->shape[k] = k < nd ? shape[k] : 1;
}

static nd_status arr_alloc(int nd, const int64_t *shape, bool zeroed, nd_dm **out)
{
    *out = NULL;
    ND_TRY(nd_arr_check_shape("array", nd, shape));
    int64_t R, C;
    int t;
    fold(nd, shape, &R, &C, &t);
    ND_TRY(zeroed ? nd_dm_alloc(R, C, out) : nd_dm_alloc_raw(R, C, out));
    set_shape(*out, nd, shape);
    return ND_OK;
}

nd_status nd_arr_alloc(int nd, const int64_t *shape, nd_dm **out)
{
    return arr_alloc(nd, shape, true, out);
}

/* For results whose every element is written next (no zero fill). */
static nd_status arr_alloc_raw(int nd, const int64_t *shape, nd_dm **out)
{
    return arr_alloc(nd, shape, false, out);
}

bool nd_arr_relabel(nd_dm *A, int nd, const int64_t *shape)
{
    if (nd_arr_check_shape("array", nd, shape) != ND_OK) {
        nd_err_clear();
        return false;
    }
    int64_t R, C;
    int t;
    fold(nd, shape, &R, &C, &t);
    if (R != A->m || C != A->n) return false;
    set_shape(A, nd, shape);
    return true;
}

/* ---- construction ---------------------------------------------------------------- */

nd_status nd_arr_fill(int nd, const int64_t *shape, double v, nd_dm **out)
{
    ND_TRY(arr_alloc_raw(nd, shape, out));
    nd_dm *A = *out;
    for (size_t k = 0; k < (size_t)A->mloc * (size_t)A->nloc; k++) A->a[k] = v;
    return ND_OK;
}

/* Rank-local: the multi-index of flat index f of a shape. */
static void unflatten(int64_t f, int nd, const int64_t *shape, int64_t *idx)
{
    for (int k = nd - 1; k >= 0; k--) {
        idx[k] = f % shape[k];
        f /= shape[k];
    }
}

nd_status nd_arr_rand(int nd, const int64_t *shape, int64_t seed, bool normal, nd_dm **out)
{
    ND_TRY(arr_alloc_raw(nd, shape, out));
    nd_dm *A = *out;
    int64_t idx[ND_MAXDIM];
    for (int lj = 0; lj < A->nloc; lj++) {
        int64_t c = nd_dm_gcol(A, lj);
        for (int li = 0; li < A->mloc; li++) {
            unflatten(nd_dm_grow(A, li) * A->n + c, nd, shape, idx);
            A->a[li + (size_t)lj * A->lld] = nd_dm_rand_value((uint64_t)seed, idx, nd, normal);
        }
    }
    return ND_OK;
}

nd_status nd_arr_arange(double a, double b, double step, nd_dm **out)
{
    *out = NULL;
    ND_CHECK(step != 0 && isfinite(step), ND_EPROG, "arange: the step must be finite and nonzero");
    ND_CHECK(isfinite(a) && isfinite(b), ND_EPROG, "arange: the bounds must be finite");
    double len = ceil((b - a) / step);
    ND_CHECK(len >= 1, ND_EPROG, "arange: the range is empty (arrays have at least one element)");
    ND_CHECK(len <= (double)INT_MAX * 64.0, ND_EPROG, "arange: the range is too long");
    int64_t n = (int64_t)len;
    ND_TRY(nd_arr_alloc(1, &n, out));
    nd_dm *A = *out;
    /* numpy fills start + k * delta with delta = (start + step) - start. */
    double delta = (a + step) - a;
    for (int lj = 0; lj < A->nloc; lj++) {
        int64_t c = nd_dm_gcol(A, lj);
        for (int li = 0; li < A->mloc; li++) {
            int64_t k = nd_dm_grow(A, li) * A->n + c;
            A->a[li + (size_t)lj * A->lld] = k == 0 ? a : a + (double)k * delta;
        }
    }
    return ND_OK;
}

nd_status nd_arr_from_rowmajor(int nd, const int64_t *shape, const double *data, nd_dm **out)
{
    ND_TRY(arr_alloc_raw(nd, shape, out));
    nd_dm *A = *out;
    for (int lj = 0; lj < A->nloc; lj++) {
        int64_t c = nd_dm_gcol(A, lj);
        for (int li = 0; li < A->mloc; li++)
            A->a[li + (size_t)lj * A->lld] = data[nd_dm_grow(A, li) * A->n + c];
    }
    return ND_OK;
}

/* Each element is written by its owner only; nd_dm_combine ORs the bits together. */
nd_status nd_arr_to_rowmajor(const nd_dm *A, double **out)
{
    size_t total = (size_t)A->m * (size_t)A->n;
    double *buf = ND_ALLOC_N(double, total);
    nd_status st = nd_spmd_agree(buf ? ND_OK : ND_ENOMEM);
    if (st != ND_OK) {
        ND_FREE_N(buf, total);
        return st;
    }
    nd_dm_host(A);
    for (int lj = 0; lj < A->nloc; lj++) {
        int64_t c = nd_dm_gcol(A, lj);
        for (int li = 0; li < A->mloc; li++)
            buf[nd_dm_grow(A, li) * A->n + c] = A->a[li + (size_t)lj * A->lld];
    }
    st = nd_dm_combine(buf, total);
    if (st != ND_OK) {
        ND_FREE_N(buf, total);
        return st;
    }
    *out = buf;
    return ND_OK;
}

/* ---- fetch and deposit ------------------------------------------------------------ */

size_t nd_arr_local_count(const nd_dm *A) { return (size_t)A->mloc * (size_t)A->nloc; }

void nd_arr_local_flats(const nd_dm *A, int64_t *flats)
{
    size_t k = 0;
    for (int lj = 0; lj < A->nloc; lj++) {
        int64_t c = nd_dm_gcol(A, lj);
        for (int li = 0; li < A->mloc; li++) flats[k++] = nd_dm_grow(A, li) * A->n + c;
    }
}

/* 2 MiB of doubles, less under a memory limit (a 64th of it): the buffers of a move stay
 * small beside an array's share.  A variable so that the unit tests can force many small
 * pieces. */
#define PIECE_DEFAULT ((size_t)1 << 18)
static size_t piece_elems;

size_t nd_arr_piece_elems(void)
{
    if (piece_elems) return piece_elems;
    size_t lim = nd_alloc_limit() / 64 / sizeof(double);
    if (lim && lim < PIECE_DEFAULT) return lim > 4096 ? lim : 4096;
    return PIECE_DEFAULT;
}
void nd_arr_set_piece_elems(size_t n) { piece_elems = n; }

nd_status nd_arr_pieces(size_t n, size_t *npieces)
{
    size_t piece = nd_arr_piece_elems();
    uint64_t k = (n + piece - 1) / piece;
    if (nd_spmd_size() > 1) {
        int rc = MPI_Allreduce(MPI_IN_PLACE, &k, 1, MPI_UINT64_T, MPI_MAX, nd_spmd_comm());
        if (rc != MPI_SUCCESS) return nd_spmd_mpi_fail("MPI_Allreduce", rc);
    }
    *npieces = (size_t)k;
    return ND_OK;
}

/* Where flat index f of A lives: the owner's rank and the offset in its local part.
 * Per rank of the grid: pnum (row-major grid position -> rank) and each process row's
 * local leading dimension. */
typedef struct owner_map {
    int nprow, npcol, nb;
    int64_t C;
    int *pnum;   /* nprow * npcol */
    int64_t *lld; /* nprow */
} owner_map;

static nd_status owner_map_init(const nd_dm *A, owner_map *om)
{
    int myrow, mycol, zero = 0;
    nd_spmd_grid(&om->nprow, &om->npcol, &myrow, &mycol);
    om->nb = A->nb;
    om->C = A->n;
    om->pnum = ND_ALLOC_N(int, (size_t)om->nprow * om->npcol);
    om->lld = ND_ALLOC_N(int64_t, (size_t)om->nprow);
    if (!om->pnum || !om->lld) return ND_ENOMEM;
    int ctx = nd_spmd_blacs_ctx(), im = (int)A->m, nb = A->nb;
    for (int pr = 0; pr < om->nprow; pr++) {
        int ml = numroc_(&im, &nb, &pr, &zero, &om->nprow);
        om->lld[pr] = ml > 1 ? ml : 1;
        for (int pc = 0; pc < om->npcol; pc++)
            om->pnum[pr * om->npcol + pc] = Cblacs_pnum(ctx, pr, pc);
    }
    return ND_OK;
}

static void owner_map_free(owner_map *om)
{
    ND_FREE_N(om->pnum, (size_t)om->nprow * om->npcol);
    ND_FREE_N(om->lld, (size_t)om->nprow);
}

static inline int owner_of(const owner_map *om, int64_t f, int64_t *off)
{
    int64_t r = f / om->C, c = f - r * om->C, nb = om->nb;
    int64_t br = r / nb, bc = c / nb;
    int pr = (int)(br % om->nprow), pc = (int)(bc % om->npcol);
    int64_t li = (br / om->nprow) * nb + r % nb, lj = (bc / om->npcol) * nb + c % nb;
    *off = li + lj * om->lld[pr];
    return om->pnum[pr * om->npcol + pc];
}

/* One exchange: each rank sends n requests (a local offset at the owner, and with
 * deposit a value) grouped by owner, the owners answer (fetch) or store (deposit).
 * MPI counts are ints: callers keep n within nd_arr_piece_elems(). */
static nd_status exchange(const nd_dm *A, nd_dm *W, size_t n, const int64_t *flats,
                          double *vals_out, const double *vals_in)
{
    int P = nd_spmd_size();
    owner_map om = {0};
    int *ints = ND_ALLOC_N(int, 5 * (size_t)P);
    int *dest = ND_ALLOC_N(int, n ? n : 1);
    int64_t *req = ND_ALLOC_N(int64_t, n ? n : 1);
    double *v = ND_ALLOC_N(double, n ? n : 1);
    nd_status st = owner_map_init(A, &om);
    if (!ints || !dest || !req || !v) st = ND_ENOMEM;
    st = nd_spmd_agree(st);
    int64_t *rreq = NULL;
    double *rv = NULL;
    size_t nin = 0;
    if (st == ND_OK) {
        int *scnt = ints, *sdisp = ints + P, *rcnt = ints + 2 * P, *rdisp = ints + 3 * P,
            *cur = ints + 4 * P;
        for (size_t k = 0; k < n; k++) {
            int64_t off;
            dest[k] = owner_of(&om, flats[k], &off);
            scnt[dest[k]]++;
        }
        for (int r = 0, d = 0; r < P; d += scnt[r], r++) sdisp[r] = cur[r] = d;
        for (size_t k = 0; k < n; k++) {
            int64_t off;
            owner_of(&om, flats[k], &off);
            size_t at = (size_t)cur[dest[k]]++;
            req[at] = off;
            if (vals_in) v[at] = vals_in[k];
        }
        int rc = MPI_Alltoall(scnt, 1, MPI_INT, rcnt, 1, MPI_INT, nd_spmd_comm());
        if (rc != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Alltoall", rc);
        for (int r = 0; r < P && st == ND_OK; r++) {
            rdisp[r] = (int)nin;
            nin += (size_t)rcnt[r];
        }
        if (st == ND_OK) {
            rreq = ND_ALLOC_N(int64_t, nin ? nin : 1);
            rv = ND_ALLOC_N(double, nin ? nin : 1);
            st = nd_spmd_agree(rreq && rv ? ND_OK : ND_ENOMEM);
        }
        if (st == ND_OK) {
            rc = MPI_Alltoallv(req, scnt, sdisp, MPI_INT64_T, rreq, rcnt, rdisp, MPI_INT64_T,
                               nd_spmd_comm());
            if (rc != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Alltoallv", rc);
        }
        if (st == ND_OK && W) { /* the direction by W, uniform: vals_in may be NULL when n is 0 */
            rc = MPI_Alltoallv(v, scnt, sdisp, MPI_DOUBLE, rv, rcnt, rdisp, MPI_DOUBLE,
                               nd_spmd_comm());
            if (rc != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Alltoallv", rc);
            if (st == ND_OK)
                for (size_t k = 0; k < nin; k++) W->a[rreq[k]] = rv[k];
        } else if (st == ND_OK) {
            for (size_t k = 0; k < nin; k++) rv[k] = A->a[rreq[k]];
            rc = MPI_Alltoallv(rv, rcnt, rdisp, MPI_DOUBLE, v, scnt, sdisp, MPI_DOUBLE,
                               nd_spmd_comm());
            if (rc != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Alltoallv", rc);
            if (st == ND_OK) {
                for (int r = 0; r < P; r++) cur[r] = sdisp[r];
                for (size_t k = 0; k < n; k++) vals_out[k] = v[cur[dest[k]]++];
            }
        }
    }
    ND_FREE_N(rreq, nin ? nin : 1);
    ND_FREE_N(rv, nin ? nin : 1);
    ND_FREE_N(ints, 5 * (size_t)P);
    ND_FREE_N(dest, n ? n : 1);
    ND_FREE_N(req, n ? n : 1);
    ND_FREE_N(v, n ? n : 1);
    owner_map_free(&om);
    return st;
}

/* One rank: A's element at flat index flats[k] := vals[k] (dst: A->a) or into out[k].  The
 * (row, column) of each flat index steps from the previous one by the difference of the
 * flats, divided once per change of the difference: lines of a fetch go at a constant
 * stride, and a division per element cost as much as the rest of a sort. */
static void local_offsets(const nd_dm *A, double *dst, size_t n, const int64_t *flats,
                          const double *vals, double *out)
{
    int64_t C = A->n, lld = A->lld, r = 0, c = 0, d = 0, dq = 0, dr = 0;
    for (size_t k = 0; k < n; k++) {
        int64_t f = flats[k];
        if (k > 0 && f - flats[k - 1] == d && d > 0) {
            r += dq, c += dr;
            if (c >= C) c -= C, r++;
        } else {
            if (k > 0 && f > flats[k - 1]) {
                d = f - flats[k - 1];
                dq = d / C, dr = d - dq * C;
            } else {
                d = 0;
            }
            r = f / C, c = f - r * C;
        }
        if (dst) dst[r + c * lld] = vals[k];
        else out[k] = A->a[r + c * lld];
    }
}

nd_status nd_arr_fetch(const nd_dm *A, size_t n, const int64_t *flats, double *vals)
{
    nd_dm_host(A);
    if (nd_spmd_size() == 1) {
        local_offsets(A, NULL, n, flats, NULL, vals);
        return ND_OK;
    }
    return exchange(A, NULL, n, flats, vals, NULL);
}

nd_status nd_arr_deposit(nd_dm *A, size_t n, const int64_t *flats, const double *vals)
{
    nd_dm_host_w(A);
    if (nd_spmd_size() == 1) {
        local_offsets(A, A->a, n, flats, vals, NULL);
        return ND_OK;
    }
    return exchange(A, A, n, flats, NULL, vals);
}

/* ---- strided views ---------------------------------------------------------------- */

/* Rank-local: out[l] := off + sum idx[k] * stride[k] for the multi-index idx (nd
 * entries of shape) of the global index of each local index l < nloc (blocks of nb,
 * this rank at position me of np); consecutive global indices step the index like an
 * odometer instead of dividing. */
static void odometer(int nloc, int nb, int me, int np, int nd, const int64_t *shape,
                     const int64_t *stride, int64_t off, int64_t *idx, int64_t *out)
{
    int64_t prev = -2, s = off, g = 0;
    for (int l = 0; l < nloc; l++) {
        /* inside a block the global index goes up by one with the local one */
        g = l % nb ? g + 1 : nd_dm_global(l, nb, me, np);
        if (g == prev + 1) {
            for (int k = nd - 1; k >= 0; k--) {
                s += stride[k];
                if (++idx[k] < shape[k]) break;
                s -= idx[k] * stride[k];
                idx[k] = 0;
            }
        } else {
            unflatten(g, nd, shape, idx);
            s = off;
            for (int k = 0; k < nd; k++) s += idx[k] * stride[k];
        }
        out[l] = s;
        prev = g;
    }
}

/* Rank-local: for the local part of an array X of the given shape, the contribution of
 * each local row and column to off + sum idx[k] * stride[k] (the fold makes the sum
 * separable: rows carry the leading dimensions, columns the trailing ones). */
static nd_status view_parts(const nd_dm *X, int nd, const int64_t *shape, int64_t off,
                            const int64_t *stride, int64_t **rp, int64_t **cp)
{
    int nd2, tr;
    int64_t shape2[ND_MAXDIM + 1], stride2[ND_MAXDIM + 1], idx[ND_MAXDIM + 1];
    split_at_fold(nd, shape, stride, &nd2, shape2, stride2, &tr);
    *rp = ND_ALLOC_N(int64_t, X->mloc ? (size_t)X->mloc : 1);
    *cp = ND_ALLOC_N(int64_t, X->nloc ? (size_t)X->nloc : 1);
    if (!*rp || !*cp) return ND_ENOMEM;
    int nprow, npcol, myrow, mycol;
    nd_spmd_grid(&nprow, &npcol, &myrow, &mycol);
    odometer(X->mloc, X->nb, myrow, nprow, tr, shape2, stride2, off, idx, *rp);
    odometer(X->nloc, X->nb, mycol, npcol, nd2 - tr, shape2 + tr, stride2 + tr, 0, idx, *cp);
    return ND_OK;
}

/* Collective: walks X's local elements in pieces; for each piece, flats[k] is the
 * addressed flat index of the k-th element (storage order from element `first`), and
 * fn moves the piece.  X is the destination (gather) or the source (scatter). */
/* ---- separable moves ----------------------------------------------------------------
 * Most views (slices, steps, flips, broadcasts, concatenation) map storage rows to
 * storage rows and columns to columns: the element at local (li, lj) of the walked array
 * corresponds to global (ra[li], ca[lj]) of the other array.  Then the elements between
 * two ranks form a submatrix, named by a list of rows and a list of columns, and move
 * without per-element indices or divisions; the walked array's columns go in rounds of
 * at most nd_arr_piece_elems() elements.  The rank-local test below decides per rank;
 * the ranks agree on one path. */

/* Rank-local: true when rp[li] + cp[lj] == ra[li] * C + ca[lj] with 0 <= ca < C for
 * every local element (fills ra, ca). */
static bool separable(int mloc, int nloc, const int64_t *rp, const int64_t *cp, int64_t C,
                      int64_t *ra, int64_t *ca)
{
    int64_t b0 = 0;
    for (int li = 0; li < mloc; li++) {
        if (li > 0 && rp[li] - rp[li - 1] == C) { /* the next row: no division */
            ra[li] = ra[li - 1] + 1;
            continue;
        }
        int64_t q = rp[li] >= 0 ? rp[li] / C : -((-rp[li] + C - 1) / C);
        int64_t b = rp[li] - q * C;
        if (li == 0) b0 = b;
        else if (b != b0) return false;
        ra[li] = q;
    }
    for (int lj = 0; lj < nloc; lj++) {
        int64_t c = b0 + cp[lj];
        if (c < 0 || c >= C) return false;
        ca[lj] = c;
    }
    return true;
}

/* The grid facts a separable move needs: each rank's grid position. */
typedef struct sep_grid {
    int P, nprow, npcol;
    int *qrow, *qcol;
} sep_grid;

static nd_status sep_grid_init(sep_grid *g)
{
    int myrow, mycol;
    nd_spmd_grid(&g->nprow, &g->npcol, &myrow, &mycol);
    g->P = nd_spmd_size();
    g->qrow = ND_ALLOC_N(int, (size_t)g->P);
    g->qcol = ND_ALLOC_N(int, (size_t)g->P);
    if (!g->qrow || !g->qcol) return ND_ENOMEM;
    int ctx = nd_spmd_blacs_ctx();
    for (int pr = 0; pr < g->nprow; pr++)
        for (int pc = 0; pc < g->npcol; pc++) {
            int q = Cblacs_pnum(ctx, pr, pc);
            if (q >= 0 && q < g->P) g->qrow[q] = pr, g->qcol[q] = pc;
        }
    return ND_OK;
}

static void sep_grid_free(sep_grid *g)
{
    ND_FREE_N(g->qrow, (size_t)g->P);
    ND_FREE_N(g->qcol, (size_t)g->P);
}

static nd_status alltoallv_i64(const int64_t *sb, const int *sc, const int *sd, int64_t *rb,
                               const int *rc, const int *rd)
{
    int e = MPI_Alltoallv(sb, sc, sd, MPI_INT64_T, rb, rc, rd, MPI_INT64_T, nd_spmd_comm());
    return e == MPI_SUCCESS ? ND_OK : nd_spmd_mpi_fail("MPI_Alltoallv", e);
}

static nd_status alltoallv_f64(const double *sb, const int *sc, const int *sd, double *rb,
                               const int *rc, const int *rd)
{
    int e = MPI_Alltoallv(sb, sc, sd, MPI_DOUBLE, rb, rc, rd, MPI_DOUBLE, nd_spmd_comm());
    return e == MPI_SUCCESS ? ND_OK : nd_spmd_mpi_fail("MPI_Alltoallv", e);
}

/* Counts to displacements; returns the total. */
static size_t displs(int P, const int *cnt, int *disp)
{
    size_t t = 0;
    for (int q = 0; q < P; q++) disp[q] = (int)t, t += (size_t)cnt[q];
    return t;
}

/* Rank-local: grows *buf (of *cap elements of size sz) to at least n; false when out of
 * memory (the old buffer is freed). */
static bool grow(void **buf, size_t *cap, size_t n, size_t sz)
{
    if (n <= *cap && *buf) return true;
    nd_free(*buf, (*cap ? *cap : 1) * sz);
    *cap = n ? n : 1;
    *buf = nd_calloc(*cap, sz);
    return *buf != NULL;
}

/* One round of a separable move over W's local columns [j0, j1). */
/* The part of a gather that this rank holds itself, handed to the caller instead of
 * copied (sep_move's own): W's rows st_li[k] .. + st_len[k] are O's local rows st_rl[k]
 * .. in columns ocol[lj] (-1: not held here). */
typedef struct sep_own {
    int nst, *st_li, *st_len;
    int64_t *st_rl, *ocol;
    int64_t const_rl; /* >= 0: every row of W is O's local row const_rl (a broadcast row) */
    int mloc, nloc;
} sep_own;

static void sep_own_free(sep_own *o)
{
    size_t mr = o->mloc ? (size_t)o->mloc : 1;
    ND_FREE_N(o->st_li, mr), ND_FREE_N(o->st_len, mr), ND_FREE_N(o->st_rl, mr);
    ND_FREE_N(o->ocol, o->nloc ? (size_t)o->nloc : 1);
    memset(o, 0, sizeof *o);
}

typedef struct sep_round {
    nd_dm *W, *O;
    bool gather, skip_own;
    const sep_grid *g;
    const int *rpr, *cpc;           /* owner process row / column of W's rows / columns */
    const int64_t *rl, *cl;         /* their local row / column in O */
    int *ints;                      /* 8 * P counts and displacements */
    /* The own part's rows: stretches of W's rows li0..li0+len whose O rows are local and
     * consecutive from rl0, copied as runs. */
    int nst, *st_li, *st_len;
    int64_t *st_rl;
    int64_t *meta, *rmeta;
    double *vbuf, *rvals;
    size_t meta_cap, rmeta_cap, vcap, rvals_cap;
} sep_round;

static nd_status sep_round_run(sep_round *s, int j0, int j1)
{
    nd_dm *W = s->W, *O = s->O;
    const sep_grid *g = s->g;
    int P = g->P, mloc = W->mloc;
    int *mc = s->ints, *md = mc + P, *rmc = mc + 2 * P, *rmd = mc + 3 * P;
    int *vc = mc + 4 * P, *vd = mc + 5 * P, *rvc = mc + 6 * P, *rvd = mc + 7 * P;
    memset(s->ints, 0, 8 * (size_t)P * sizeof *s->ints);
    int64_t *nr = ND_ALLOC_N(int64_t, 2 * (size_t)P), *nc = nr ? nr + P : NULL;
    size_t need = 0, vneed = 0;
    int me = nd_spmd_rank();
    if (nr) {
        for (int q = 0; q < P; q++) {
            for (int li = 0; li < mloc; li++) nr[q] += s->rpr[li] == g->qrow[q];
            for (int lj = j0; lj < j1; lj++) nc[q] += s->cpc[lj] == g->qcol[q];
            if (!nr[q] || !nc[q] || q == me) nr[q] = nc[q] = 0; /* own part: copied below */
            if (nr[q]) need += 2 + (size_t)(nr[q] + nc[q]), vneed += (size_t)(nr[q] * nc[q]);
        }
    }
    /* The elements this rank holds of O move by a direct copy, stretch by stretch. */
    int myr = g->qrow[me], myc = g->qcol[me];
    bool runs = s->nst * 8 <= mloc; /* else short stretches (a broadcast): element by element */
    for (int lj = j0; lj < j1 && !s->skip_own; lj++) {
        if (s->cpc[lj] != myc) continue;
        double *o = O->a + s->cl[lj] * (int64_t)O->lld, *w = W->a + (size_t)lj * W->lld;
        for (int k = 0; runs && k < s->nst; k++) {
            size_t len = (size_t)s->st_len[k] * sizeof *w;
            if (s->gather) memcpy(w + s->st_li[k], o + s->st_rl[k], len);
            else memcpy(o + s->st_rl[k], w + s->st_li[k], len);
        }
        for (int li = 0; !runs && li < mloc; li++) {
            if (s->rpr[li] != myr) continue;
            if (s->gather) w[li] = o[s->rl[li]];
            else o[s->rl[li]] = w[li];
        }
    }
    bool ok = nr && grow((void **)&s->meta, &s->meta_cap, need, sizeof(int64_t)) &&
              grow((void **)&s->vbuf, &s->vcap, vneed, sizeof(double));
    nd_status st = nd_spmd_agree(ok ? ND_OK : ND_ENOMEM);
    /* Requests: to each peer q its rows and columns (in q's local indices), then, for a
     * scatter, the values, columns outer, in the order of the lists. */
    size_t mn = 0, vn = 0;
    for (int q = 0; q < P && st == ND_OK; q++) {
        if (!nr[q]) continue;
        int pr = g->qrow[q], pc = g->qcol[q];
        s->meta[mn++] = nr[q], s->meta[mn++] = nc[q];
        for (int li = 0; li < mloc; li++)
            if (s->rpr[li] == pr) s->meta[mn++] = s->rl[li];
        for (int lj = j0; lj < j1; lj++)
            if (s->cpc[lj] == pc) s->meta[mn++] = s->cl[lj];
        mc[q] = (int)(2 + nr[q] + nc[q]);
        vc[q] = (int)(nr[q] * nc[q]);
        if (!s->gather)
            for (int lj = j0; lj < j1; lj++) {
                if (s->cpc[lj] != pc) continue;
                const double *col = W->a + (size_t)lj * W->lld;
                for (int li = 0; li < mloc; li++)
                    if (s->rpr[li] == pr) s->vbuf[vn++] = col[li];
            }
    }
    ND_FREE_N(nr, 2 * (size_t)P);
    if (st != ND_OK) return st;
    displs(P, mc, md);
    displs(P, vc, vd);
    int e = MPI_Alltoall(mc, 1, MPI_INT, rmc, 1, MPI_INT, nd_spmd_comm());
    if (e == MPI_SUCCESS) e = MPI_Alltoall(vc, 1, MPI_INT, rvc, 1, MPI_INT, nd_spmd_comm());
    if (e != MPI_SUCCESS) return nd_spmd_mpi_fail("MPI_Alltoall", e);
    size_t rmn = displs(P, rmc, rmd), rvn = displs(P, rvc, rvd);
    ok = grow((void **)&s->rmeta, &s->rmeta_cap, rmn, sizeof(int64_t)) &&
         grow((void **)&s->rvals, &s->rvals_cap, rvn, sizeof(double));
    ND_TRY(nd_spmd_agree(ok ? ND_OK : ND_ENOMEM));
    ND_TRY(alltoallv_i64(s->meta, mc, md, s->rmeta, rmc, rmd));
    if (!s->gather) ND_TRY(alltoallv_f64(s->vbuf, vc, vd, s->rvals, rvc, rvd));
    /* Serve: each request names rows and columns of O's local part. */
    for (int q = 0; q < P; q++) {
        if (!rmc[q]) continue;
        const int64_t *h = s->rmeta + rmd[q];
        int64_t hr = h[0], hc = h[1];
        const int64_t *rows = h + 2, *cols = h + 2 + hr;
        double *v = s->rvals + rvd[q];
        for (int64_t c = 0; c < hc; c++) {
            double *col = O->a + cols[c] * (int64_t)O->lld;
            if (s->gather)
                for (int64_t r = 0; r < hr; r++) *v++ = col[rows[r]];
            else
                for (int64_t r = 0; r < hr; r++) col[rows[r]] = *v++;
        }
    }
    if (!s->gather) return ND_OK;
    ND_TRY(alltoallv_f64(s->rvals, rvc, rvd, s->vbuf, vc, vd));
    for (int q = 0; q < P; q++) {
        if (!vc[q]) continue;
        int pr = g->qrow[q], pc = g->qcol[q];
        const double *v = s->vbuf + vd[q];
        for (int lj = j0; lj < j1; lj++) {
            if (s->cpc[lj] != pc) continue;
            double *col = W->a + (size_t)lj * W->lld;
            for (int li = 0; li < mloc; li++)
                if (s->rpr[li] == pr) col[li] = *v++;
        }
    }
    return ND_OK;
}

/* Rank-local (one rank): sep_move's copy when W's rows map to O's rows in stretches of
 * consecutive rows: one memcpy per stretch and column. */
static nd_status copy_stretches(nd_dm *W, nd_dm *O, const int64_t *ra, const int64_t *ca,
                                bool gather)
{
    int mloc = W->mloc, nloc = W->nloc;
    int *start = ND_SCRATCH_N(int, (size_t)mloc + 1);
    if (!start) return ND_ENOMEM;
    int nr = 0;
    for (int li = 0; li < mloc; li++)
        if (li == 0 || ra[li] != ra[li - 1] + 1) start[nr++] = li;
    start[nr] = mloc;
    for (int lj = 0; lj < nloc; lj++) {
        double *o = O->a + ca[lj] * (int64_t)O->lld, *w = W->a + (size_t)lj * W->lld;
        for (int k = 0; k < nr; k++) {
            size_t len = (size_t)(start[k + 1] - start[k]) * sizeof *w;
            if (gather) memcpy(w + start[k], o + ra[start[k]], len);
            else memcpy(o + ra[start[k]], w + start[k], len);
        }
    }
    ND_FREE_N(start, (size_t)mloc + 1);
    return ND_OK;
}

/* Rank-local: for n global indices x[k] (rows or columns, blocks of nb dealt over np),
 * the owner's position p[k] and the local index l[k]; the next index inside a block
 * steps without a division. */
static void owners(int n, const int64_t *x, int nb, int np, int *p, int64_t *l)
{
    int64_t inb = 0;
    for (int k = 0; k < n; k++) {
        if (k > 0 && x[k] == x[k - 1] + 1 && inb + 1 < nb) {
            inb++;
            p[k] = p[k - 1], l[k] = l[k - 1] + 1;
            continue;
        }
        int64_t b = x[k] / nb;
        inb = x[k] - b * nb;
        p[k] = (int)(b % np);
        l[k] = (b / np) * nb + inb;
    }
}

/* Collective.  W is the walked array (local rows li -> O's global rows ra[li], local
 * columns lj -> O's global columns ca[lj]).  gather: W := O at those positions; else O
 * at those positions := W. */
static nd_status sep_move(nd_dm *W, nd_dm *O, const int64_t *ra, const int64_t *ca, bool gather,
                         sep_own *own)
{
    int mloc = W->mloc, nloc = W->nloc, nb = O->nb;
    if (nd_spmd_size() == 1) { /* one rank: global indices are local ones */
        /* rows at a constant stride (a slice, a flip, a broadcast) copy as runs; rows
         * that go up by one in stretches (a slice of a k-D array) copy stretch by
         * stretch */
        int64_t rs = mloc > 1 ? ra[1] - ra[0] : 1;
        int nruns = mloc > 0;
        for (int li = 1; li < mloc; li++) {
            if (ra[li] - ra[li - 1] != rs) rs = INT64_MIN;
            nruns += ra[li] != ra[li - 1] + 1;
        }
        if (rs == INT64_MIN && nruns * 8 <= mloc)
            return copy_stretches(W, O, ra, ca, gather);
        for (int lj = 0; lj < nloc; lj++) {
            double *o = O->a + ca[lj] * (int64_t)O->lld, *w = W->a + (size_t)lj * W->lld;
            if (rs == 1) {
                if (gather) memcpy(w, o + ra[0], (size_t)mloc * sizeof *w);
                else memcpy(o + ra[0], w, (size_t)mloc * sizeof *w);
            } else if (rs != INT64_MIN) {
                const int64_t r0 = mloc ? ra[0] : 0;
                if (gather)
                    for (int li = 0; li < mloc; li++) w[li] = o[r0 + li * rs];
                else
                    for (int li = 0; li < mloc; li++) o[r0 + li * rs] = w[li];
            } else if (gather) {
                for (int li = 0; li < mloc; li++) w[li] = o[ra[li]];
            } else {
                for (int li = 0; li < mloc; li++) o[ra[li]] = w[li];
            }
        }
        return ND_OK;
    }
    sep_grid g = {0};
    sep_round s = {.W = W, .O = O, .gather = gather, .skip_own = own != NULL, .g = &g};
    size_t mr = mloc ? (size_t)mloc : 1, nr = nloc ? (size_t)nloc : 1;
    int *rpr = ND_ALLOC_N(int, mr), *cpc = ND_ALLOC_N(int, nr);
    int64_t *rl = ND_ALLOC_N(int64_t, mr), *cl = ND_ALLOC_N(int64_t, nr);
    nd_status st = sep_grid_init(&g);
    s.ints = ND_ALLOC_N(int, 8 * (size_t)g.P);
    s.st_li = ND_ALLOC_N(int, mr), s.st_len = ND_ALLOC_N(int, mr);
    s.st_rl = ND_ALLOC_N(int64_t, mr);
    if (!rpr || !cpc || !rl || !cl || !s.ints || !s.st_li || !s.st_len || !s.st_rl)
        st = ND_ENOMEM;
    st = nd_spmd_agree(st);
    if (st == ND_OK) {
        owners(mloc, ra, nb, g.nprow, rpr, rl);
        int myr = g.qrow[nd_spmd_rank()];
        for (int li = 0; li < mloc; li++) {
            if (rpr[li] != myr) continue;
            if (s.nst > 0 && s.st_li[s.nst - 1] + s.st_len[s.nst - 1] == li &&
                s.st_rl[s.nst - 1] + s.st_len[s.nst - 1] == rl[li]) {
                s.st_len[s.nst - 1]++;
            } else {
                s.st_li[s.nst] = li, s.st_rl[s.nst] = rl[li], s.st_len[s.nst] = 1;
                s.nst++;
            }
        }
        owners(nloc, ca, nb, g.npcol, cpc, cl);
        s.rpr = rpr, s.cpc = cpc, s.rl = rl, s.cl = cl;
    }
    int per = (int)(nd_arr_piece_elems() / mr);
    if (per < 1) per = 1;
    uint64_t rounds = (uint64_t)((nloc + per - 1) / per);
    if (st == ND_OK) {
        int e = MPI_Allreduce(MPI_IN_PLACE, &rounds, 1, MPI_UINT64_T, MPI_MAX, nd_spmd_comm());
        if (e != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Allreduce", e);
    }
    for (uint64_t k = 0; k < rounds && st == ND_OK; k++) {
        int64_t j0 = (int64_t)k * per, j1 = j0 + per;
        if (j0 > nloc) j0 = nloc;
        if (j1 > nloc) j1 = nloc;
        st = sep_round_run(&s, (int)j0, (int)j1);
    }
    nd_free(s.meta, (s.meta_cap ? s.meta_cap : 1) * sizeof(int64_t));
    nd_free(s.rmeta, (s.rmeta_cap ? s.rmeta_cap : 1) * sizeof(int64_t));
    nd_free(s.vbuf, (s.vcap ? s.vcap : 1) * sizeof(double));
    nd_free(s.rvals, (s.rvals_cap ? s.rvals_cap : 1) * sizeof(double));
    ND_FREE_N(s.ints, 8 * (size_t)g.P);
    if (own && st == ND_OK) { /* the stretches go to the caller, with the columns */
        own->ocol = ND_ALLOC_N(int64_t, nr);
        st = nd_spmd_agree(own->ocol ? ND_OK : ND_ENOMEM);
        int myc = g.qcol[nd_spmd_rank()];
        for (int lj = 0; st == ND_OK && lj < nloc; lj++) own->ocol[lj] = cpc[lj] == myc ? cl[lj] : -1;
        own->nst = s.nst, own->st_li = s.st_li, own->st_len = s.st_len, own->st_rl = s.st_rl;
        own->const_rl = mloc > 0 && s.nst == mloc ? rl[0] : -1;
        for (int li = 1; li < mloc && own->const_rl >= 0; li++)
            if (ra[li] != ra[0]) own->const_rl = -1;
        own->mloc = mloc, own->nloc = nloc;
        s.st_li = s.st_len = NULL, s.st_rl = NULL;
    }
    ND_FREE_N(rpr, mr), ND_FREE_N(cpc, nr), ND_FREE_N(rl, mr), ND_FREE_N(cl, nr);
    ND_FREE_N(s.st_li, mr), ND_FREE_N(s.st_len, mr), ND_FREE_N(s.st_rl, mr);
    sep_grid_free(&g);
    return st;
}

typedef struct move_ctx {
    const nd_dm *src;
    nd_dm *dst;
} move_ctx;

typedef nd_status (*piece_fn)(void *ctx, size_t first, size_t n, const int64_t *flats);

static nd_status gather_piece(void *ctx, size_t first, size_t n, const int64_t *flats)
{
    move_ctx *m = ctx;
    return nd_arr_fetch(m->src, n, flats, m->dst->a + first);
}

static nd_status scatter_piece(void *ctx, size_t first, size_t n, const int64_t *flats)
{
    move_ctx *m = ctx;
    return nd_arr_deposit(m->dst, n, flats, m->src->a + first);
}

static nd_status walk_view(const nd_dm *X, int nd, const int64_t *shape, int64_t off,
                           const int64_t *stride, piece_fn fn, void *ctx)
{
    int64_t *rp = NULL, *cp = NULL, *flats = NULL;
    size_t nloc = nd_arr_local_count(X), piece = nd_arr_piece_elems(), npieces = 0;
    nd_status st = nd_spmd_agree(view_parts(X, nd, shape, off, stride, &rp, &cp));
    /* The separable path when every rank can take it (see sep_move). */
    move_ctx *m = ctx;
    const nd_dm *O = fn == gather_piece ? m->src : m->dst;
    int64_t *ra = ND_ALLOC_N(int64_t, X->mloc ? (size_t)X->mloc : 1);
    int64_t *ca = ND_ALLOC_N(int64_t, X->nloc ? (size_t)X->nloc : 1);
    int sep = st == ND_OK && ra && ca && separable(X->mloc, X->nloc, rp, cp, O->n, ra, ca);
    if (st == ND_OK && nd_spmd_size() > 1) {
        int e = MPI_Allreduce(MPI_IN_PLACE, &sep, 1, MPI_INT, MPI_LAND, nd_spmd_comm());
        if (e != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Allreduce", e);
    }
    if (st == ND_OK && sep)
        st = fn == gather_piece ? sep_move(m->dst, (nd_dm *)m->src, ra, ca, true, NULL)
                                : sep_move((nd_dm *)m->src, m->dst, ra, ca, false, NULL);
    else if (st == ND_OK) {
        if (piece > nloc) piece = nloc ? nloc : 1;
        flats = ND_ALLOC_N(int64_t, piece);
        st = nd_spmd_agree(flats ? ND_OK : ND_ENOMEM);
        if (st == ND_OK) st = nd_arr_pieces(nloc, &npieces);
    }
    int mloc = X->mloc > 0 ? X->mloc : 1;
    for (size_t p = 0; p < npieces && st == ND_OK; p++) {
        size_t first = p * piece < nloc ? p * piece : nloc;
        size_t n = nloc - first < piece ? nloc - first : piece;
        /* storage order: element e = li + lj * mloc */
        size_t li = first % (size_t)mloc, lj = first / (size_t)mloc;
        for (size_t k = 0; k < n; k++) {
            flats[k] = rp[li] + cp[lj];
            if (++li == (size_t)mloc) li = 0, lj++;
        }
        st = fn(ctx, first, n, flats);
    }
    ND_FREE_N(ra, X->mloc ? (size_t)X->mloc : 1);
    ND_FREE_N(ca, X->nloc ? (size_t)X->nloc : 1);
    ND_FREE_N(rp, X->mloc ? (size_t)X->mloc : 1);
    ND_FREE_N(cp, X->nloc ? (size_t)X->nloc : 1);
    ND_FREE_N(flats, piece);
    return st;
}

/* Collective: the view of src into dst, an existing array of the view's shape. */
static nd_status view_into(const nd_dm *src, nd_dm *dst, int64_t off, const int64_t *stride)
{
    nd_dm_host(src);
    nd_dm_host_w(dst);
    move_ctx m = {src, dst};
    return walk_view(dst, dst->nd, dst->shape, off, stride, gather_piece, &m);
}

nd_status nd_arr_view(const nd_dm *src, int nd, const int64_t *shape, int64_t off,
                      const int64_t *stride, nd_dm **out)
{
    ND_TRY(arr_alloc_raw(nd, shape, out));
    nd_status st = view_into(src, *out, off, stride);
    if (st != ND_OK) {
        nd_dm_free(*out);
        *out = NULL;
    }
    return st;
}

nd_status nd_arr_view_assign(nd_dm *dst, int nd, const int64_t *shape, int64_t off,
                             const int64_t *stride, const nd_dm *src)
{
    nd_dm_host(src);
    nd_dm_host_w(dst);
    move_ctx m = {src, dst};
    return walk_view(src, nd, shape, off, stride, scatter_piece, &m);
}

nd_status nd_arr_reshape(const nd_dm *A, int nd, const int64_t *shape, nd_dm **out)
{
    *out = NULL;
    char a[ND_SHAPE_STR], b[ND_SHAPE_STR];
    ND_CHECK(nd >= 1 && nd <= ND_MAXDIM, ND_EPROG,
             "reshape: an array has 1 to %d dimensions, not %d", ND_MAXDIM, nd);
    int64_t sh[ND_MAXDIM], known = 1, total = nd_arr_size(A);
    int infer = -1;
    for (int k = 0; k < nd; k++) {
        sh[k] = shape[k];
        if (sh[k] == -1 && infer < 0) {
            infer = k;
            continue;
        }
        ND_CHECK(sh[k] >= 1, ND_EPROG, "reshape: bad dimension %lld in %s", LL(sh[k]),
                 nd_arr_shape_str(nd, shape, b));
        ND_CHECK(known <= INT64_MAX / sh[k], ND_EPROG, "reshape: the shape %s is too large",
                 nd_arr_shape_str(nd, shape, b));
        known *= sh[k];
    }
    if (infer >= 0) {
        ND_CHECK(total % known == 0, ND_EPROG, "reshape: cannot reshape %s to %s",
                 nd_arr_shape_str(A->nd, A->shape, a), nd_arr_shape_str(nd, shape, b));
        sh[infer] = total / known;
        known = total;
    }
    ND_CHECK(known == total, ND_EPROG, "reshape: cannot reshape %s to %s",
             nd_arr_shape_str(A->nd, A->shape, a), nd_arr_shape_str(nd, shape, b));
    int64_t R, C;
    int t;
    fold(nd, sh, &R, &C, &t);
    if (R == A->m && C == A->n) {
        ND_TRY(nd_dm_copy(A, out));
        set_shape(*out, nd, sh);
        return ND_OK;
    }
    int64_t stride[ND_MAXDIM];
    nd_arr_strides(nd, sh, stride);
    return nd_arr_view(A, nd, sh, 0, stride, out);
}

/* ---- elements and subscripts ---------------------------------------------------- */

static int64_t flat_of(const nd_dm *A, const int64_t *idx)
{
    int64_t f = 0;
    for (int k = 0; k < A->nd; k++) f = f * A->shape[k] + idx[k];
    return f;
}

nd_status nd_arr_get(const nd_dm *A, const int64_t *idx, double *v)
{
    int64_t f = flat_of(A, idx);
    return nd_dm_get(A, f / A->n, f % A->n, v);
}

nd_status nd_arr_set(nd_dm *A, const int64_t *idx, double v)
{
    int64_t f = flat_of(A, idx);
    return nd_dm_set(A, f / A->n, f % A->n, v);
}

/* The selection of A[subs]: the result's shape (kept axes) and the strided view of A
 * that addresses it; scalar when every axis got an int. */
typedef struct selection {
    int nd;
    int64_t shape[ND_MAXDIM], stride[ND_MAXDIM], off;
    bool scalar;
} selection;

static nd_status norm_index(int64_t i, int64_t n, int axis, int64_t *out)
{
    int64_t j = i < 0 ? i + n : i;
    ND_CHECK(j >= 0 && j < n, ND_EPROG, "index %lld is out of range for axis %d of size %lld",
             LL(i), axis, LL(n));
    *out = j;
    return ND_OK;
}

/* A slice of an axis of n: its first index and count (>= 1) for step. */
static nd_status norm_slice(const nd_sub *s, int64_t n, int axis, int64_t *first,
                            int64_t *count, int64_t *step)
{
    int64_t st = s->has & ND_SUB_HAS_STEP ? s->step : 1;
    ND_CHECK(st != 0, ND_EPROG, "slice step cannot be 0");
    /* a step of n or more takes one element: clamped, -st and step * stride stay in range */
    if (st > n) st = n;
    if (st < -n) st = -n;
    int64_t a, b;
    if (s->has & ND_SUB_HAS_START) {
        a = s->start;
        ND_CHECK(a >= -n && a <= n, ND_EPROG,
                 "slice bound %lld is out of range for axis %d of size %lld", LL(a), axis, LL(n));
        if (a < 0) a += n;
    } else {
        a = st > 0 ? 0 : n - 1;
    }
    if (s->has & ND_SUB_HAS_STOP) {
        b = s->stop;
        ND_CHECK(b >= -n && b <= n, ND_EPROG,
                 "slice bound %lld is out of range for axis %d of size %lld", LL(b), axis, LL(n));
        if (b < 0) b += n;
    } else {
        b = st > 0 ? n : -1;
    }
    int64_t cnt = st > 0 ? (b - a + st - 1) / st : (a - b + (-st) - 1) / (-st);
    ND_CHECK(cnt >= 1 && a < n, ND_EPROG,
             "empty slice of axis %d (arrays have at least one element)", axis);
    *first = a, *count = cnt, *step = st;
    return ND_OK;
}

static nd_status select_subs(const nd_dm *A, int nsub, const nd_sub *subs, selection *sel)
{
    int nd = A->nd;
    ND_CHECK(nsub >= 1 && nsub <= nd, ND_EPROG, "too many subscripts (%d) for a %d-d array",
             nsub, nd);
    int64_t astride[ND_MAXDIM];
    nd_arr_strides(nd, A->shape, astride);
    /* A matrix with one row or one column takes one subscript along its long side. */
    int axis_of[ND_MAXDIM];
    for (int k = 0; k < nsub; k++) axis_of[k] = k;
    bool vec = nd == 2 && nsub == 1 && (A->shape[0] == 1 || A->shape[1] == 1);
    if (vec && A->shape[0] == 1 && A->shape[1] > 1) axis_of[0] = 1;
    sel->nd = 0;
    sel->off = 0;
    bool any_slice = false;
    for (int k = 0; k < nd; k++) {
        int s = -1;
        for (int q = 0; q < nsub; q++)
            if (axis_of[q] == k) s = q;
        int64_t n = A->shape[k];
        if (s < 0) { /* taken whole: a vector matrix's other axis, or a trailing axis */
            if (vec) continue;
            sel->shape[sel->nd] = n;
            sel->stride[sel->nd++] = astride[k];
            any_slice = true;
            continue;
        }
        if (subs[s].kind == ND_SUB_INDEX) {
            int64_t i = 0;
            ND_TRY(norm_index(subs[s].start, n, k, &i));
            sel->off += i * astride[k];
            if (nd == 2 && !vec) { /* a 2-D result stays 2-D */
                sel->shape[sel->nd] = 1;
                sel->stride[sel->nd++] = astride[k];
            }
        } else {
            int64_t first = 0, count = 0, step = 0;
            ND_TRY(norm_slice(&subs[s], n, k, &first, &count, &step));
            sel->off += first * astride[k];
            sel->shape[sel->nd] = count;
            sel->stride[sel->nd++] = step * astride[k];
            any_slice = true;
        }
    }
    if (vec && any_slice) { /* the slice of a vector matrix keeps its orientation */
        int64_t cnt = sel->shape[0], str = sel->stride[0];
        sel->nd = 2;
        int long_axis = axis_of[0];
        sel->shape[long_axis] = cnt, sel->stride[long_axis] = str;
        sel->shape[1 - long_axis] = 1, sel->stride[1 - long_axis] = 1;
    }
    sel->scalar = !any_slice && (nd != 2 || vec || nsub == 2);
    if (sel->scalar) sel->nd = 0;
    return ND_OK;
}

nd_status nd_arr_subscript(const nd_dm *A, int nsub, const nd_sub *subs, nd_dm **out,
                           double *scalar)
{
    *out = NULL;
    selection sel;
    ND_TRY(select_subs(A, nsub, subs, &sel));
    if (sel.scalar) {
        double v;
        ND_TRY(nd_dm_get(A, sel.off / A->n, sel.off % A->n, &v));
        *scalar = v;
        return ND_OK;
    }
    return nd_arr_view(A, sel.nd, sel.shape, sel.off, sel.stride, out);
}

/* c[0..n) := x op y (y op x when sub_left), x NULL: the number s. */
static void ew_part(nd_ew_op op, bool sub_left, const double *x, double s, const double *y,
                    double *c, size_t n)
{
    if (sub_left) nd_dm_ew_run(op, y, x, s, c, n);
    else nd_dm_ew_run(op, x, y, s, c, n);
}

/* Rank-local: whether every global index x[k] (k < n; blocks of nb dealt over np) lies in
 * a block of position me; a division per block, not per index. */
static bool all_held(int n, const int64_t *x, int nb, int np, int me)
{
    if (np == 1) return true;
    int64_t inb = 0;
    for (int k = 0; k < n; k++) {
        if (k > 0 && x[k] == x[k - 1] + 1 && inb + 1 < nb) { /* the same block */
            inb++;
            continue;
        }
        int64_t b = x[k] / nb;
        inb = x[k] - b * nb;
        if (b % np != me) return false;
    }
    return true;
}

/* Collective, several ranks: nd_arr_ew_subscript when the selection is separable on every
 * rank: the elements held elsewhere are gathered into a scratch array (sep_move), the
 * rank's own read in place.  local_only: only when no rank needs elements held elsewhere
 * (no scratch array: a broadcast stays within the memory of its result). */
static nd_status ew_subscript_ranks(nd_ew_op op, const nd_dm *X, double s, const nd_dm *A,
                                    const selection *sel, bool sub_left, bool local_only,
                                    nd_dm *W, nd_dm **out)
{
    nd_dm *C = W, *T = NULL;
    if (!C) ND_TRY(arr_alloc_raw(sel->nd, sel->shape, &C));
    int mloc = C->mloc, nloc = C->nloc, nprow, npcol, myrow, mycol;
    nd_spmd_grid(&nprow, &npcol, &myrow, &mycol);
    size_t mr = mloc ? (size_t)mloc : 1, nr = nloc ? (size_t)nloc : 1;
    int64_t *rp = NULL, *cp = NULL, *ra = ND_SCRATCH_N(int64_t, mr), *ca = ND_SCRATCH_N(int64_t, nr);
    nd_status st = nd_spmd_agree(ra && ca ? view_parts(C, sel->nd, sel->shape, sel->off,
                                                       sel->stride, &rp, &cp)
                                          : ND_ENOMEM);
    /* flags: separable here; nothing of the selection held elsewhere (then no scratch) */
    int flags[2] = {st == ND_OK && separable(mloc, nloc, rp, cp, A->n, ra, ca), 1};
    if (flags[0] && mloc > 0 && nloc > 0)
        flags[1] = all_held(mloc, ra, A->nb, nprow, myrow) && all_held(nloc, ca, A->nb, npcol, mycol);
    bool here = flags[1];
    if (st == ND_OK) {
        int e = MPI_Allreduce(MPI_IN_PLACE, flags, 2, MPI_INT, MPI_LAND, nd_spmd_comm());
        if (e != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Allreduce", e);
    }
    int sep = flags[0] && (flags[1] || !local_only);
    /* the elements held elsewhere are gathered into T; a rank without any gathers into
     * nothing, and C stands for T */
    if (st == ND_OK && sep)
        st = nd_spmd_agree(here ? ND_OK : arr_alloc_raw(sel->nd, sel->shape, &T));
    sep_own own = {0};
    if (st == ND_OK && sep) {
        nd_dm_host(A);
        if (X) nd_dm_host(X);
        nd_dm_host_w(C);
        if (T) nd_dm_host_w(T);
        st = sep_move(T ? T : C, (nd_dm *)A, ra, ca, true, &own);
    }
    for (int lj = 0; st == ND_OK && sep && lj < nloc; lj++) {
        const double *x = X ? X->a + (size_t)lj * X->lld : NULL;
        const double *t = T ? T->a + (size_t)lj * T->lld : NULL; /* NULL: all rows own */
        double *c = C->a + (size_t)lj * C->lld;
        int li = 0;
        if (x && own.ocol[lj] >= 0 && own.const_rl >= 0) { /* a broadcast row: a number */
            double yv = A->a[own.const_rl + own.ocol[lj] * (int64_t)A->lld];
            if (sub_left) nd_dm_ew_run(op, NULL, x, yv, c, (size_t)mloc);
            else nd_dm_ew_run(op, x, NULL, yv, c, (size_t)mloc);
            continue;
        }
        for (int k = 0; own.ocol[lj] >= 0 && k < own.nst; k++) {
            int l0 = own.st_li[k];
            if (li < l0) ew_part(op, sub_left, x ? x + li : NULL, s, t + li, c + li, (size_t)(l0 - li));
            ew_part(op, sub_left, x ? x + l0 : NULL, s, A->a + own.ocol[lj] * (int64_t)A->lld + own.st_rl[k],
                    c + l0, (size_t)own.st_len[k]);
            li = l0 + own.st_len[k];
        }
        if (li < mloc) ew_part(op, sub_left, x ? x + li : NULL, s, t + li, c + li, (size_t)(mloc - li));
    }
    sep_own_free(&own);
    nd_dm_free(T);
    ND_FREE_N(ra, mr), ND_FREE_N(ca, nr), ND_FREE_N(rp, mr), ND_FREE_N(cp, nr);
    if (st != ND_OK || !sep) {
        if (C != W) nd_dm_free(C);
        return st;
    }
    *out = C;
    return ND_OK;
}

/* Collective, several ranks: C := X op stretch(Y) (stretch(Y) op X when y_left), the
 * stretch given by strides sy over shape (nd dimensions), as ew_subscript_ranks; *R is C
 * when done, NULL when not taken (C untouched). */
static nd_status stretch_ranks(nd_ew_op op, const nd_dm *X, const nd_dm *Y, int nd,
                               const int64_t *shape, const int64_t *sy, bool y_left, nd_dm *C,
                               nd_dm **R)
{
    selection v = {.nd = nd, .off = 0};
    memcpy(v.shape, shape, (size_t)nd * sizeof *shape);
    memcpy(v.stride, sy, (size_t)nd * sizeof *sy);
    return ew_subscript_ranks(op, X, 0.0, Y, &v, y_left, true, C, R);
}

nd_status nd_arr_ew_subscript(nd_ew_op op, const nd_dm *X, double s, const nd_dm *A, int nsub,
                              const nd_sub *subs, bool sub_left, nd_dm *W, nd_dm **out)
{
    *out = NULL;
    if (nd_dm_dev) return ND_OK;
    selection sel;
    ND_TRY(select_subs(A, nsub, subs, &sel));
    if (sel.scalar || (X && (X->nd != sel.nd ||
                             memcmp(X->shape, sel.shape, (size_t)sel.nd * sizeof *sel.shape))))
        return ND_OK;
    if (nd_spmd_size() > 1) return ew_subscript_ranks(op, X, s, A, &sel, sub_left, false, W, out);
    nd_dm *C = W;
    if (!C) ND_TRY(arr_alloc_raw(sel.nd, sel.shape, &C));
    int mloc = C->mloc, nloc = C->nloc;
    size_t mr = mloc ? (size_t)mloc : 1, nr = nloc ? (size_t)nloc : 1;
    int64_t *rp = NULL, *cp = NULL, *ra = ND_SCRATCH_N(int64_t, mr), *ca = ND_SCRATCH_N(int64_t, nr);
    int *start = ND_SCRATCH_N(int, mr + 1);
    double *col = ND_SCRATCH_N(double, mr);
    bool ok = ra && ca && start && col &&
              view_parts(C, sel.nd, sel.shape, sel.off, sel.stride, &rp, &cp) == ND_OK &&
              separable(mloc, nloc, rp, cp, A->n, ra, ca);
    /* stretches of consecutive selected rows (one for a 2-D slice, one per row of the
     * leading axes for a k-D one) are read in place; short ones are gathered first */
    int nst = 0;
    for (int li = 0; ok && li < mloc; li++)
        if (li == 0 || ra[li] != ra[li - 1] + 1) start[nst++] = li;
    if (ok) start[nst] = mloc;
    bool in_place = nst * 8 <= mloc;
    if (ok) {
        nd_dm_host(A);
        if (X) nd_dm_host(X);
        nd_dm_host_w(C);
        for (int lj = 0; lj < nloc; lj++) {
            const double *y = A->a + ca[lj] * (int64_t)A->lld;
            const double *x = X ? X->a + (size_t)lj * X->lld : NULL;
            double *c = C->a + (size_t)lj * C->lld;
            if (!in_place) {
                for (int li = 0; li < mloc; li++) col[li] = y[ra[li]];
                ew_part(op, sub_left, x, s, col, c, (size_t)mloc);
                continue;
            }
            for (int k = 0; k < nst; k++) {
                int l0 = start[k];
                size_t len = (size_t)(start[k + 1] - l0);
                ew_part(op, sub_left, x ? x + l0 : NULL, s, y + ra[l0], c + l0, len);
            }
        }
    }
    if (ra) ND_FREE_N(ra, mr);
    if (ca) ND_FREE_N(ca, nr);
    if (start) ND_FREE_N(start, mr + 1);
    if (col) ND_FREE_N(col, mr);
    if (rp) ND_FREE_N(rp, mr);
    if (cp) ND_FREE_N(cp, nr);
    if (!ok) {
        if (C != W) nd_dm_free(C);
        return ra && ca && start && col ? ND_OK : ND_ENOMEM;
    }
    *out = C;
    return ND_OK;
}

/* Rank-local: whether index i of an axis of n lies in subscript sub (NULL: the whole
 * axis); the subscript was validated by select_subs. */
static bool in_sub(const nd_sub *sub, int64_t n, int64_t i)
{
    if (!sub) return true;
    if (sub->kind == ND_SUB_INDEX) return i == (sub->start < 0 ? sub->start + n : sub->start);
    int64_t first = 0, count = 0, step = 1;
    (void)norm_slice(sub, n, 0, &first, &count, &step);
    int64_t d = i - first;
    if (d % step != 0) return false;
    int64_t k = d / step;
    return k >= 0 && k < count;
}

/* Collective: A[subs] := v without a temporary.  The selection is a product of one set
 * per axis; with the fold at a dimension boundary (k-D, k >= 2) a storage row is in it
 * when its leading indices are, a column when its trailing ones are. */
static nd_status fill_selection(nd_dm *A, int nsub, const nd_sub *subs, double v)
{
    int nd = A->nd, t = 0;
    int64_t R, C;
    fold(nd, A->shape, &R, &C, &t);
    const nd_sub *ax[ND_MAXDIM] = {NULL};
    bool vec = nd == 2 && nsub == 1 && (A->shape[0] == 1 || A->shape[1] == 1);
    for (int q = 0; q < nsub; q++)
        ax[vec && A->shape[0] == 1 && A->shape[1] > 1 ? 1 : q] = &subs[q];
    nd_dm_host_w(A);
    int64_t idx[ND_MAXDIM];
    if (t < 0) { /* 1-D split fold: test each local element */
        for (int lj = 0; lj < A->nloc; lj++) {
            int64_t c = nd_dm_gcol(A, lj);
            for (int li = 0; li < A->mloc; li++)
                if (in_sub(ax[0], A->shape[0], nd_dm_grow(A, li) * C + c))
                    A->a[li + (size_t)lj * A->lld] = v;
        }
        return ND_OK;
    }
    bool *rows = ND_ALLOC_N(bool, A->mloc ? (size_t)A->mloc : 1);
    bool *cols = ND_ALLOC_N(bool, A->nloc ? (size_t)A->nloc : 1);
    ND_TRY(nd_spmd_agree(rows && cols ? ND_OK : ND_ENOMEM));
    for (int li = 0; li < A->mloc; li++) {
        unflatten(nd_dm_grow(A, li), t, A->shape, idx);
        rows[li] = true;
        for (int k = 0; k < t && rows[li]; k++) rows[li] = in_sub(ax[k], A->shape[k], idx[k]);
    }
    for (int lj = 0; lj < A->nloc; lj++) {
        unflatten(nd_dm_gcol(A, lj), nd - t, A->shape + t, idx);
        cols[lj] = true;
        for (int k = t; k < nd && cols[lj]; k++)
            cols[lj] = in_sub(ax[k], A->shape[k], idx[k - t]);
    }
    for (int lj = 0; lj < A->nloc; lj++)
        if (cols[lj])
            for (int li = 0; li < A->mloc; li++)
                if (rows[li]) A->a[li + (size_t)lj * A->lld] = v;
    ND_FREE_N(rows, A->mloc ? (size_t)A->mloc : 1);
    ND_FREE_N(cols, A->nloc ? (size_t)A->nloc : 1);
    return ND_OK;
}

nd_status nd_arr_subassign(nd_dm *A, int nsub, const nd_sub *subs, const nd_dm *B, double v)
{
    selection sel;
    ND_TRY(select_subs(A, nsub, subs, &sel));
    if (sel.scalar && !B) return nd_dm_set(A, sel.off / A->n, sel.off % A->n, v);
    int nd = sel.scalar ? 1 : sel.nd;
    int64_t one = 1, zero = 0;
    const int64_t *shape = sel.scalar ? &one : sel.shape, *stride = sel.scalar ? &zero : sel.stride;
    if (!B) return fill_selection(A, nsub, subs, v);
    /* B itself when it has the selection's shape; else (broadcasting, or B is A) a copy */
    bool exact = B != A && B->nd == nd && memcmp(B->shape, shape, (size_t)nd * sizeof *shape) == 0;
    nd_dm *src = NULL;
    if (!exact) ND_TRY(nd_arr_broadcast_to(B, nd, shape, &src));
    nd_status st = nd_arr_view_assign(A, nd, shape, sel.off, stride, exact ? B : src);
    nd_dm_free(src);
    return st;
}

/* ---- broadcasting ----------------------------------------------------------------- */

nd_status nd_arr_broadcast_shape(const char *sym, int na, const int64_t *sa, int nb,
                                 const int64_t *sb, int *nd, int64_t *shape)
{
    int n = na > nb ? na : nb;
    for (int k = 0; k < n; k++) {
        int ka = na - n + k, kb = nb - n + k;
        int64_t a = ka >= 0 ? sa[ka] : 1, b = kb >= 0 ? sb[kb] : 1;
        if (a != b && a != 1 && b != 1) {
            char x[ND_SHAPE_STR], y[ND_SHAPE_STR];
            return nd_err_set(ND_EPROG, "shape mismatch: %s %s %s", nd_arr_shape_str(na, sa, x),
                              sym, nd_arr_shape_str(nb, sb, y));
        }
        shape[k] = a == 1 ? b : a;
    }
    *nd = n;
    return ND_OK;
}

/* Rank-local: the strides that read A broadcast to (nd, shape), or ND_EPROG. */
static nd_status bcast_strides(const nd_dm *A, int nd, const int64_t *shape, int64_t *stride)
{
    int64_t astride[ND_MAXDIM];
    nd_arr_strides(A->nd, A->shape, astride);
    char x[ND_SHAPE_STR], y[ND_SHAPE_STR];
    ND_CHECK(A->nd <= nd, ND_EPROG, "shape mismatch: cannot broadcast %s to %s",
             nd_arr_shape_str(A->nd, A->shape, x), nd_arr_shape_str(nd, shape, y));
    for (int k = 0; k < nd; k++) {
        int ka = A->nd - nd + k;
        int64_t a = ka >= 0 ? A->shape[ka] : 1;
        ND_CHECK(a == shape[k] || a == 1, ND_EPROG, "shape mismatch: cannot broadcast %s to %s",
                 nd_arr_shape_str(A->nd, A->shape, x), nd_arr_shape_str(nd, shape, y));
        stride[k] = ka >= 0 && a == shape[k] ? astride[ka] : 0;
    }
    return ND_OK;
}

nd_status nd_arr_broadcast_to(const nd_dm *A, int nd, const int64_t *shape, nd_dm **out)
{
    *out = NULL;
    int64_t stride[ND_MAXDIM];
    ND_TRY(bcast_strides(A, nd, shape, stride));
    if (A->nd == nd && memcmp(A->shape, shape, (size_t)nd * sizeof *shape) == 0)
        return nd_dm_copy(A, out);
    return nd_arr_view(A, nd, shape, 0, stride, out);
}

/* Rank-local.  *X is A, or A broadcast to shape (a new array in *tmp). */
static nd_status expand(const nd_dm *A, int nd, const int64_t *shape, const nd_dm **X,
                        nd_dm **tmp)
{
    *tmp = NULL;
    *X = A;
    if (A->nd == nd && memcmp(A->shape, shape, (size_t)nd * sizeof *shape) == 0) return ND_OK;
    ND_TRY(nd_arr_broadcast_to(A, nd, shape, tmp));
    *X = *tmp;
    return ND_OK;
}

/* One rank, host memory: C := X op stretch(Y) (stretch(Y) op X when y_left) in one pass
 * when the stretch is separable and its rows are constant (a row broadcast: a number per
 * column) or the identity (a column broadcast: a vector per column).  False: not taken
 * (C untouched), the caller goes the general way. */
static bool fused_broadcast(nd_ew_op op, const nd_dm *X, const nd_dm *Y, const int64_t *sy,
                            bool y_left, nd_dm *C)
{
    if (nd_spmd_size() != 1 || nd_dm_dev || C->mloc == 0) return false;
    int64_t *rp = NULL, *cp = NULL;
    int mloc = C->mloc, nloc = C->nloc;
    int64_t *ra = ND_SCRATCH_N(int64_t, (size_t)mloc), *ca = ND_SCRATCH_N(int64_t, nloc ? (size_t)nloc : 1);
    bool ok = ra && ca && view_parts(C, C->nd, C->shape, 0, sy, &rp, &cp) == ND_OK &&
              separable(mloc, nloc, rp, cp, Y->n, ra, ca);
    bool rows_const = ok, rows_id = ok;
    for (int li = 0; ok && li < mloc; li++) {
        rows_const = rows_const && ra[li] == ra[0];
        rows_id = rows_id && ra[li] == li;
    }
    ok = ok && (rows_const || rows_id);
    if (ok) {
        nd_dm_host(X);
        nd_dm_host(Y);
        for (int lj = 0; lj < nloc; lj++) {
            const double *x = X->a + (size_t)lj * X->lld, *y = Y->a + ca[lj] * (int64_t)Y->lld;
            double *c = C->a + (size_t)lj * C->lld;
            if (rows_const && y_left) nd_dm_ew_run(op, NULL, x, y[ra[0]], c, (size_t)mloc);
            else if (rows_const) nd_dm_ew_run(op, x, NULL, y[ra[0]], c, (size_t)mloc);
            else if (y_left) nd_dm_ew_run(op, y, x, 0.0, c, (size_t)mloc);
            else nd_dm_ew_run(op, x, y, 0.0, c, (size_t)mloc);
        }
    }
    if (ra) ND_FREE_N(ra, (size_t)mloc);
    if (ca) ND_FREE_N(ca, nloc ? (size_t)nloc : 1);
    if (rp) ND_FREE_N(rp, (size_t)mloc);
    if (cp) ND_FREE_N(cp, nloc ? (size_t)nloc : 1);
    return ok;
}

/* With broadcasting, the operand that must stretch is written into the result, which
 * then combines with the other in place: memory is the result alone (plus a stretched
 * copy of the second operand when both stretch). */
nd_status nd_arr_binop(nd_ew_op op, const nd_dm *A, const nd_dm *B, nd_dm **out)
{
    *out = NULL;
    if (nd_arr_same_shape(A, B)) return nd_dm_ew(op, A, B, out);
    int nd;
    int64_t shape[ND_MAXDIM], sa[ND_MAXDIM], sb[ND_MAXDIM];
    ND_TRY(nd_arr_broadcast_shape(nd_ew_name(op), A->nd, A->shape, B->nd, B->shape, &nd, shape));
    ND_TRY(bcast_strides(A, nd, shape, sa));
    ND_TRY(bcast_strides(B, nd, shape, sb));
    bool a_full = A->nd == nd && memcmp(A->shape, shape, (size_t)nd * sizeof *shape) == 0;
    bool b_full = B->nd == nd && memcmp(B->shape, shape, (size_t)nd * sizeof *shape) == 0;
    nd_dm *C = NULL, *T = NULL;
    ND_TRY(arr_alloc_raw(nd, shape, &C));
    nd_status st = ND_OK;
    nd_dm *R = NULL;
    if (a_full && fused_broadcast(op, A, B, sb, false, C)) {
        st = ND_OK;
    } else if (b_full && fused_broadcast(op, B, A, sa, true, C)) {
        st = ND_OK;
    } else if ((a_full || b_full) && nd_spmd_size() > 1 && !nd_dm_dev &&
               (st = stretch_ranks(op, a_full ? A : B, a_full ? B : A, nd, shape,
                                   a_full ? sb : sa, !a_full, C, &R)) == ND_OK && R) {
        /* done in C: the part of the stretched operand a rank holds read in place */
    } else if (st != ND_OK) {
        /* stretch_ranks failed */
    } else if (a_full) { /* C := A op stretch(B) */
        st = view_into(B, C, 0, sb);
        if (st == ND_OK) st = nd_dm_ew_into(op, A, C, C);
    } else { /* C := stretch(A) op (B or stretch(B)) */
        st = view_into(A, C, 0, sa);
        if (st == ND_OK && !b_full) st = nd_arr_view(B, nd, shape, 0, sb, &T);
        if (st == ND_OK) st = nd_dm_ew_into(op, C, b_full ? B : T, C);
    }
    nd_dm_free(T);
    if (st != ND_OK) {
        nd_dm_free(C);
        return st;
    }
    *out = C;
    return ND_OK;
}

nd_status nd_arr_binop_scalar(nd_ew_op op, const nd_dm *A, double s, bool scalar_left,
                              nd_dm **out)
{
    return nd_dm_ew_scalar(op, A, s, scalar_left, out);
}

nd_status nd_arr_where(const nd_dm *M, double m, const nd_dm *A, double a, const nd_dm *B,
                       double b, nd_dm **out)
{
    *out = NULL;
    const nd_dm *in[3] = {M, A, B};
    int nd = 0;
    int64_t shape[ND_MAXDIM];
    for (int q = 0; q < 3; q++) {
        if (!in[q]) continue;
        if (nd == 0) {
            nd = in[q]->nd;
            memcpy(shape, in[q]->shape, sizeof shape);
        } else {
            int64_t prev[ND_MAXDIM]; /* the broadcast writes the shape it reads */
            memcpy(prev, shape, sizeof prev);
            ND_TRY(nd_arr_broadcast_shape("where", nd, prev, in[q]->nd, in[q]->shape, &nd,
                                          shape));
        }
    }
    ND_CHECK(nd > 0, ND_EINTERNAL, "where: no array argument");
    const nd_dm *X[3] = {NULL, NULL, NULL};
    nd_dm *tmp[3] = {NULL, NULL, NULL};
    nd_status st = ND_OK;
    for (int q = 0; q < 3 && st == ND_OK; q++)
        if (in[q]) st = expand(in[q], nd, shape, &X[q], &tmp[q]);
    const nd_dm *first = X[0] ? X[0] : X[1] ? X[1] : X[2];
    if (st == ND_OK && nd_dm_dev && nd_dm_dev->where) {
        const nd_dm *on[3];
        int non = 0;
        for (int q = 0; q < 3; q++)
            if (X[q]) on[non++] = X[q];
        st = nd_dm_to_dev(non, on);
        if (st == ND_OK) st = nd_dm_alloc_dev(first->m, first->n, out);
        if (st == ND_OK) {
            nd_dm *C = *out;
            set_shape(C, nd, shape);
            nd_dm_dev->where(X[0] ? X[0]->dev : NULL, m, X[1] ? X[1]->dev : NULL, a,
                             X[2] ? X[2]->dev : NULL, b, C->dev, C->cap);
        }
        for (int q = 0; q < 3; q++) nd_dm_free(tmp[q]);
        return st;
    }
    if (st == ND_OK) st = arr_alloc_raw(nd, shape, out);
    if (st == ND_OK) {
        nd_dm *C = *out;
        for (int q = 0; q < 3; q++)
            if (X[q]) nd_dm_host(X[q]);
        size_t n = nd_arr_local_count(C);
        for (size_t k = 0; k < n; k++) {
            double mk = X[0] ? X[0]->a[k] : m;
            C->a[k] = mk != 0.0 ? (X[1] ? X[1]->a[k] : a) : (X[2] ? X[2]->a[k] : b);
        }
    }
    for (int q = 0; q < 3; q++) nd_dm_free(tmp[q]);
    return st;
}
