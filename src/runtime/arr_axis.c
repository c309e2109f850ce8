/* arr_axis.c: reductions and scans of n-d arrays over all elements and along an axis
 * (arr.h "along an axis"; LANGUAGE.md "Reductions").
 *
 * Along an axis, A is seen as pre x L x post: its pre*post lines of length L are dealt to
 * the ranks in contiguous, balanced ranges; each rank fetches its lines by flat index
 * (nd_arr_fetch), folds each line sequentially from its first element, and deposits the
 * results (nd_arr_deposit).  The order along a line never depends on the rank count, so
 * the results are bit-identical at any rank count.  Elements move in rounds of at most
 * nd_arr_piece_elems() (and an eighth of a rank's share of A): whole lines when a line
 * fits, else one piece of a line at a time with the fold carried over, so a rank holds
 * little beyond its share of A and of the result.  flip moves balanced flat ranges.  Lines
 * longer than a round are sorted one at a time by all ranks, with a sample sort (no rank
 * holds more than a bucket of keys).  cumsum along a line is sequential: one rank at a
 * time works on a line, in pieces.
 * Over all elements, sum/mean/min/max are dm.h's block-order reductions; std takes the
 * same block order, argmin/argmax and any/all combine per-rank candidates exactly.
 */
#include "runtime/arr.h"

#include "common/alloc.h"
#include "runtime/dm_layout.h"
#include "runtime/spmd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Collective: a rank-local allocation failure becomes every rank's ND_ENOMEM. */
static nd_status agreed(bool ok)
{
    return nd_spmd_agree(ok ? ND_OK : ND_ENOMEM);
}

static nd_status allreduce(void *buf, int n, MPI_Datatype t, MPI_Op op)
{
    int rc = MPI_Allreduce(MPI_IN_PLACE, buf, n, t, op, nd_spmd_comm());
    return rc == MPI_SUCCESS ? ND_OK : nd_spmd_mpi_fail("MPI_Allreduce", rc);
}

/* ---- over all elements ------------------------------------------------------------ */

/* Collective.  The population standard deviation: the mean in dm.h's block order, then
 * the sum of squares of A - mean in the same order (per global block, columns outer, rows
 * inner, the block sums added bi fastest); on the device when A is there. */
static nd_status std_all(const nd_dm *A, double *out)
{
    double mean = 0.0, s = 0.0;
    ND_TRY(nd_dm_reduce(ND_RED_MEAN, A, &mean));
    nd_dm *D;
    ND_TRY(nd_dm_ew_scalar(ND_EW_SUB, A, mean, false, &D));
    nd_status st = nd_dm_reduce(ND_RED_SUMSQ, D, &s);
    nd_dm_free(D);
    *out = sqrt(s / ((double)A->m * (double)A->n));
    return st;
}

/* A candidate extreme: value and flat index (-1: none). */
typedef struct cand {
    double v;
    int64_t flat;
} cand;

/* Rank-local: whether x beats y for argmin (or argmax): a NaN beats any number (numpy
 * returns the first NaN), then the smaller (larger) value, then the smaller index. */
static bool beats(bool is_max, cand x, cand y)
{
    if (x.flat < 0) return false;
    if (y.flat < 0) return true;
    bool xn = isnan(x.v), yn = isnan(y.v);
    if (xn || yn) return xn && (!yn || x.flat < y.flat);
    if (x.v != y.v) return is_max ? x.v > y.v : x.v < y.v;
    return x.flat < y.flat;
}

/* Collective.  Each rank's best local element, gathered; the choice is a total order, so
 * the result does not depend on how the elements are spread. */
static nd_status argext_all(bool is_max, const nd_dm *A, double *out)
{
    cand best = {0.0, -1};
    nd_dm_host(A);
    for (int lj = 0; lj < A->nloc; lj++) {
        int64_t j = nd_dm_gcol(A, lj);
        for (int li = 0; li < A->mloc; li++) {
            cand c = {A->a[li + (size_t)lj * A->lld], nd_dm_grow(A, li) * A->n + j};
            if (beats(is_max, c, best)) best = c;
        }
    }
    int p = nd_spmd_size();
    cand *all = ND_ALLOC_N(cand, (size_t)p);
    nd_status st = agreed(all != NULL);
    if (st != ND_OK) {
        if (all) ND_FREE_N(all, (size_t)p);
        return st;
    }
    int rc = MPI_Allgather(&best, (int)sizeof best, MPI_BYTE, all, (int)sizeof best, MPI_BYTE,
                           nd_spmd_comm());
    if (rc != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Allgather", rc);
    for (int r = 0; r < p; r++)
        if (beats(is_max, all[r], best)) best = all[r];
    ND_FREE_N(all, (size_t)p);
    *out = (double)best.flat;
    return st;
}

/* Collective.  any: some element is nonzero; all: every one is (NaN is nonzero). */
static nd_status anyall(bool is_all, const nd_dm *A, double *out)
{
    int f = is_all ? 1 : 0;
    nd_dm_host(A);
    for (int lj = 0; lj < A->nloc; lj++)
        for (int li = 0; li < A->mloc; li++) {
            bool nz = A->a[li + (size_t)lj * A->lld] != 0.0;
            if (is_all && !nz) f = 0;
            if (!is_all && nz) f = 1;
        }
    ND_TRY(allreduce(&f, 1, MPI_INT, is_all ? MPI_MIN : MPI_MAX));
    *out = f ? 1.0 : 0.0;
    return ND_OK;
}

nd_status nd_arr_reduce_all(nd_axis_op op, const nd_dm *A, double *out)
{
    switch (op) {
    case ND_AX_SUM: return nd_dm_reduce(ND_RED_SUM, A, out);
    case ND_AX_MEAN: return nd_dm_reduce(ND_RED_MEAN, A, out);
    case ND_AX_MIN: return nd_dm_reduce(ND_RED_MIN, A, out);
    case ND_AX_MAX: return nd_dm_reduce(ND_RED_MAX, A, out);
    case ND_AX_STD: return std_all(A, out);
    case ND_AX_ARGMIN: return argext_all(false, A, out);
    case ND_AX_ARGMAX: return argext_all(true, A, out);
    case ND_AX_ANY: return anyall(false, A, out);
    case ND_AX_ALL: return anyall(true, A, out);
    }
    return nd_err_set(ND_EINTERNAL, "bad axis reduction %d", (int)op);
}

/* ---- lines ------------------------------------------------------------------------ */

/* A as pre x L x post; this rank's lines [l0, l1) of the nlines = pre * post, and the
 * elements one round moves (E). */
typedef struct lines {
    int64_t pre, L, post, nlines, l0, l1, E;
} lines;

/* Collective: the piece size every rank uses (nd_arr_piece_elems() may follow a
 * rank's own memory limit; the rounds and the choice of method must agree). */
static nd_status uniform_piece(int64_t *E)
{
    *E = (int64_t)nd_arr_piece_elems();
    if (*E < 1) *E = 1;
    return allreduce(E, 1, MPI_INT64_T, MPI_MIN);
}

static nd_status lines_init(const nd_dm *A, int axis, lines *g)
{
    const int64_t *s = nd_arr_shape(A);
    int nd = nd_arr_ndim(A);
    g->pre = g->post = 1;
    for (int k = 0; k < nd; k++) {
        if (k < axis) g->pre *= s[k];
        if (k > axis) g->post *= s[k];
    }
    g->L = s[axis];
    g->nlines = g->pre * g->post;
    int64_t p = nd_spmd_size(), r = nd_spmd_rank();
    int64_t q = g->nlines / p, rem = g->nlines % p;
    g->l0 = q * r + (r < rem ? r : rem);
    g->l1 = g->l0 + q + (r < rem ? 1 : 0);
    /* A round's buffers and the fetch's own cost about 5 doubles per element: capping a
     * round at an eighth of a rank's share of A keeps them within that share. */
    int64_t share = (g->nlines * g->L + p - 1) / p, cap = share / 8 > 4096 ? share / 8 : 4096;
    ND_TRY(uniform_piece(&g->E));
    if (g->E > cap) g->E = cap;
    return ND_OK;
}

/* Rank-local: the flat indices of elements k0 .. k0+n-1 of line l. */
static void line_flats(const lines *g, int64_t l, int64_t k0, int64_t n, int64_t *flats)
{
    int64_t base = (l / g->post) * g->L * g->post + l % g->post;
    for (int64_t k = 0; k < n; k++) flats[k] = base + (k0 + k) * g->post;
}

/* Whole lines per round when a line fits in a round (0: it does not). */
static int64_t lines_per_round(const lines *g)
{
    return g->L <= g->E ? g->E / g->L : 0;
}

/* Collective: the largest round count of any rank (every rank runs that many). */
static nd_status all_rounds(int64_t mine, int64_t *all)
{
    *all = mine;
    return allreduce(all, 1, MPI_INT64_T, MPI_MAX);
}

/* The work space of the rounds: flat indices and values of one round, n elements. */
typedef struct work {
    int64_t *flats;
    double *vals;
    size_t n;
} work;

static nd_status work_alloc(work *w, int64_t n)
{
    w->n = n > 0 ? (size_t)n : 1;
    w->flats = ND_SCRATCH_N(int64_t, w->n);
    w->vals = ND_SCRATCH_N(double, w->n);
    return agreed(w->flats && w->vals);
}

static void work_free(work *w)
{
    if (w->flats) ND_FREE_N(w->flats, w->n);
    if (w->vals) ND_FREE_N(w->vals, w->n);
}

/* ---- reductions along an axis ----------------------------------------------------- */

/* The sequential fold of one line; STD folds it twice (pass 0: the sum, for the mean;
 * pass 1: the squared deviations from it). */
typedef struct red {
    nd_axis_op op;
    int pass;
    double v, mean;
    int64_t k, idx; /* elements folded; ARGMIN/ARGMAX: the position of v */
} red;

static void red_begin(red *r, nd_axis_op op, int pass, double mean)
{
    *r = (red){.op = op, .pass = pass, .mean = mean, .v = op == ND_AX_ALL ? 1.0 : 0.0};
}

static void red_feed(red *r, const double *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++, r->k++) {
        double y = x[i], d = y - r->mean;
        bool first = r->k == 0;
        switch (r->op) {
        case ND_AX_SUM:
        case ND_AX_MEAN: r->v += y; break;
        case ND_AX_STD: r->v += r->pass == 0 ? y : d * d; break;
        case ND_AX_MIN: r->v = first ? y : nd_nan_min(r->v, y); break;
        case ND_AX_MAX: r->v = first ? y : nd_nan_max(r->v, y); break;
        case ND_AX_ARGMIN:
        case ND_AX_ARGMAX:
            if (first || (!isnan(r->v) &&
                          (isnan(y) || (r->op == ND_AX_ARGMIN ? y < r->v : y > r->v)))) {
                r->v = y;
                r->idx = r->k;
            }
            break;
        case ND_AX_ANY: if (y != 0.0) r->v = 1.0; break;
        case ND_AX_ALL: if (y == 0.0) r->v = 0.0; break;
        }
    }
}

/* After a complete pass over a line of L elements: true when the line is done (*res its
 * value); false when STD starts its second pass (r restarted). */
static bool red_end(red *r, int64_t L, double *res)
{
    switch (r->op) {
    case ND_AX_MEAN: *res = r->v / (double)L; return true;
    case ND_AX_STD:
        if (r->pass == 0) {
            red_begin(r, ND_AX_STD, 1, r->v / (double)L);
            return false;
        }
        *res = sqrt(r->v / (double)L);
        return true;
    case ND_AX_ARGMIN:
    case ND_AX_ARGMAX: *res = (double)r->idx; return true;
    default: *res = r->v; return true;
    }
}

/* Rank-local: the whole line x of L elements. */
static double red_line(nd_axis_op op, const double *x, int64_t L)
{
    red r;
    double res = 0.0;
    red_begin(&r, op, 0, 0.0);
    do red_feed(&r, x, L);
    while (!red_end(&r, L, &res));
    return res;
}

/* Collective.  R (one element per line, flat index = line index) := the fold of each of
 * this rank's lines.  Each round fetches whole lines, or one piece of a long line. */
static nd_status reduce_lines(nd_axis_op op, const nd_dm *A, const lines *g, nd_dm *R)
{
    int64_t mine = g->l1 - g->l0, per = lines_per_round(g);
    int64_t chunks = (g->L + g->E - 1) / g->E, passes = op == ND_AX_STD ? 2 : 1;
    int64_t rounds = per ? (mine + per - 1) / per : mine * passes * chunks, nr = 0;
    ND_TRY(all_rounds(rounds, &nr));
    work w = {0};
    int64_t cap = per ? (per < mine ? per : mine) * g->L : g->E;
    int64_t ocap = per ? (per < mine ? per : mine) : 1;
    double *res = ND_SCRATCH_N(double, (size_t)(ocap > 0 ? ocap : 1));
    int64_t *oflat = ND_SCRATCH_N(int64_t, (size_t)(ocap > 0 ? ocap : 1));
    nd_status st = work_alloc(&w, cap);
    if (st == ND_OK) st = agreed(res && oflat);
    int64_t cur = g->l0, k0 = 0;
    red r;
    red_begin(&r, op, 0, 0.0);
    for (int64_t t = 0; t < nr && st == ND_OK; t++) {
        size_t nf = 0, no = 0;
        int64_t m = 0;
        if (cur < g->l1 && per) {
            m = g->l1 - cur < per ? g->l1 - cur : per;
            for (int64_t i = 0; i < m; i++) line_flats(g, cur + i, 0, g->L, w.flats + i * g->L);
            nf = (size_t)(m * g->L);
        } else if (cur < g->l1) {
            nf = (size_t)(g->L - k0 < g->E ? g->L - k0 : g->E);
            line_flats(g, cur, k0, (int64_t)nf, w.flats);
        }
        st = nd_arr_fetch(A, nf, w.flats, w.vals);
        if (st != ND_OK) break;
        if (per) {
            for (int64_t i = 0; i < m; i++) {
                res[i] = red_line(op, w.vals + i * g->L, g->L);
                oflat[i] = cur + i;
            }
            no = (size_t)m;
            cur += m;
        } else if (nf) {
            red_feed(&r, w.vals, (int64_t)nf);
            k0 += (int64_t)nf;
            if (k0 == g->L) {
                k0 = 0;
                if (red_end(&r, g->L, &res[0])) {
                    oflat[0] = cur++;
                    no = 1;
                    red_begin(&r, op, 0, 0.0);
                }
            }
        }
        st = nd_arr_deposit(R, no, oflat, res);
    }
    work_free(&w);
    if (res) ND_FREE_N(res, (size_t)(ocap > 0 ? ocap : 1));
    if (oflat) ND_FREE_N(oflat, (size_t)(ocap > 0 ? ocap : 1));
    return st;
}

/* ---- along a storage axis ----------------------------------------------------------
 * When the lines are the storage's columns (axis 0 with the fold after it: every matrix
 * along 0) or its rows (the last axis with the fold before it: every matrix along 1,
 * many k-D arrays along their last axis), each rank reduces its own blocks in place:
 * one partial per line and nb-block of the line (elements in order inside the block),
 * the partials of all lines combined once (nd_dm_combine) and added in block order.
 * No element moves, and the order depends on the block size only, never on the rank
 * count.  (The same results as the line-by-line path for min, max, argmin, argmax,
 * any and all, whose order does not matter; sums and std differ from it in the last
 * bits, as numpy's pairwise order does.) */

typedef struct sblk {
    const nd_dm *A;
    bool rows;        /* lines are storage rows (else columns) */
    int64_t nlines, nblk;
    int nb, nprow, npcol, myrow, mycol;
} sblk;

/* Rank-local: off[li] + offc[lj] is the partial's position (blk + line * nblk) of local
 * element (li, lj). */
static nd_status sblk_offsets(const sblk *g, int64_t **offr, int64_t **offc)
{
    const nd_dm *A = g->A;
    *offr = ND_ALLOC_N(int64_t, A->mloc ? (size_t)A->mloc : 1);
    *offc = ND_ALLOC_N(int64_t, A->nloc ? (size_t)A->nloc : 1);
    nd_status st = agreed(*offr && *offc);
    if (st != ND_OK) return st;
    for (int li = 0; li < A->mloc; li++)
        (*offr)[li] = g->rows ? nd_dm_grow(A, li) * g->nblk
                              : (int64_t)(li / g->nb) * g->nprow + g->myrow;
    for (int lj = 0; lj < A->nloc; lj++)
        (*offc)[lj] = g->rows ? (int64_t)(lj / g->nb) * g->npcol + g->mycol
                              : nd_dm_gcol(A, lj) * g->nblk;
    return ND_OK;
}

static void sblk_offsets_free(const sblk *g, int64_t *offr, int64_t *offc)
{
    if (offr) ND_FREE_N(offr, g->A->mloc ? (size_t)g->A->mloc : 1);
    if (offc) ND_FREE_N(offc, g->A->nloc ? (size_t)g->A->nloc : 1);
}

/* Rank-local: a column's block c[0..n) in 8 lanes (lane q: elements q, q + 8, ...),
 * folded ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)): a fixed order inside the
 * block whatever the vector width, so the bits depend on the block size only. */
static inline __attribute__((always_inline)) double block_sum(const double *c, int n)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int q = 0; q < 8; q++) acc[q] += c[i + q];
    for (int q = 0; i + q < n; q++) acc[q] += c[i + q];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Rank-local: min (max) of a column's block c[0..n), a NaN winning (the first NaN of
 * the block).  Finite blocks: 8 lanes, then the lanes in order; plain compares, which
 * vectorize.  Only 0.0 against -0.0 could tell the order apart, and it is fixed by the
 * block size either way. */
static inline __attribute__((always_inline)) double block_ext(const double *c, int n, bool is_max)
{
    double v = c[0];
    int i = 1;
    if (n >= 16) {
        /* chk: x - x is 0 unless x is NaN or infinite; a non-zero sum sends the block to
         * the exact fold */
        double l[8], chk[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int q = 0; q < 8; q++) l[q] = c[q];
        if (is_max)
            for (i = 8; i + 8 <= n; i += 8)
                for (int q = 0; q < 8; q++) {
                    double x = c[i + q];
                    chk[q] += x - x;
                    l[q] = x > l[q] ? x : l[q];
                }
        else
            for (i = 8; i + 8 <= n; i += 8)
                for (int q = 0; q < 8; q++) {
                    double x = c[i + q];
                    chk[q] += x - x;
                    l[q] = x < l[q] ? x : l[q];
                }
        double bad = 0.0;
        for (int q = 0; q < 8; q++) bad += chk[q] + (l[q] - l[q]);
        if (bad != 0.0 || bad != bad) { /* rare: the exact NaN-aware fold from the start */
            v = c[0];
            i = 1;
        } else {
            v = l[0];
            for (int q = 1; q < 8; q++) v = (is_max ? l[q] > v : l[q] < v) ? l[q] : v;
        }
    }
    for (; i < n; i++) v = is_max ? nd_nan_max(v, c[i]) : nd_nan_min(v, c[i]);
    return v;
}

/* Rank-local: the sum, min or max partials of sblk_partials (ND_AXP_SUM, MIN, MAX).  Column
 * lines: block_sum/block_ext per block.  Row lines: a vector of running values per block
 * of columns, each row's elements in column order. */
ND_VECTORIZE static void fast_partials(const sblk *g, const int64_t *offr, const int64_t *offc,
                                       int kind, double *part)
{
    const nd_dm *A = g->A;
    int mloc = A->mloc, nloc = A->nloc, nb = g->nb;
    size_t lld = (size_t)A->lld;
    bool is_max = kind == ND_AXP_MAX;
    if (!g->rows) {
        for (int lj = 0; lj < nloc; lj++) {
            const double *c = A->a + (size_t)lj * lld;
            for (int r0 = 0; r0 < mloc; r0 += nb) {
                int len = r0 + nb < mloc ? nb : mloc - r0;
                part[offr[r0] + offc[lj]] =
                    kind == ND_AXP_SUM ? block_sum(c + r0, len) : block_ext(c + r0, len, is_max);
            }
        }
        return;
    }
    double *acc = ND_SCRATCH_N(double, mloc ? (size_t)mloc : 1);
    if (!acc) { /* the plain loop, in the same order */
        for (int lj = 0; lj < nloc; lj++)
            for (int li = 0; li < mloc; li++) {
                double *p = &part[offr[li] + offc[lj]], x = A->a[li + lj * lld];
                bool first = lj % nb == 0;
                *p = kind == ND_AXP_SUM ? *p + x : first ? x : is_max ? nd_nan_max(*p, x) : nd_nan_min(*p, x);
            }
        return;
    }
    for (int c0 = 0; c0 < nloc; c0 += nb) {
        int c1 = c0 + nb < nloc ? c0 + nb : nloc;
        const double *first = A->a + (size_t)c0 * lld;
        if (kind == ND_AXP_SUM) {
            memset(acc, 0, (size_t)mloc * sizeof *acc);
            for (int lj = c0; lj < c1; lj++) {
                const double *c = A->a + (size_t)lj * lld;
                for (int li = 0; li < mloc; li++) acc[li] += c[li];
            }
        } else {
            memcpy(acc, first, (size_t)mloc * sizeof *acc);
            for (int lj = c0 + 1; lj < c1; lj++) {
                const double *c = A->a + (size_t)lj * lld;
                if (is_max)
                    for (int li = 0; li < mloc; li++) acc[li] = nd_nan_max(acc[li], c[li]);
                else
                    for (int li = 0; li < mloc; li++) acc[li] = nd_nan_min(acc[li], c[li]);
            }
        }
        for (int li = 0; li < mloc; li++) part[offr[li] + offc[c0]] = acc[li];
    }
    ND_FREE_N(acc, mloc ? (size_t)mloc : 1);
}

/* Collective: part[blk + line * nblk] for the kind (ND_AXP_*; mean[line] for
 * ND_AXP_SQDEV), combined over the ranks; on the device when A is there.  In a
 * block the elements go in storage order along the line (ascending). */
static nd_status sblk_partials(const sblk *g, int kind, const double *mean, double **out)
{
    const nd_dm *A = g->A;
    size_t np = (size_t)g->nlines * (size_t)g->nblk;
    double *part = ND_ALLOC_N(double, np ? np : 1);
    ND_TRY(agreed(part != NULL));
    if (nd_dm_dev && nd_dm_dev->axis_partials && (A->at & ND_AT_DEV)) {
        /* on the device, the same order; combined there (no host offsets needed) */
        nd_status sd = nd_dm_dev->axis_partials(A, g->rows, kind, mean, g->nlines, g->nblk, part, np);
        if (sd != ND_OK) {
            ND_FREE_N(part, np ? np : 1);
            return sd;
        }
        *out = part;
        return ND_OK;
    }
    int64_t *offr = NULL, *offc = NULL;
    nd_status st = sblk_offsets(g, &offr, &offc);
    if (st != ND_OK) {
        ND_FREE_N(part, np ? np : 1);
        sblk_offsets_free(g, offr, offc);
        return st;
    }
    nd_dm_host(A);
    if (kind == ND_AXP_SUM || kind == ND_AXP_MIN || kind == ND_AXP_MAX)
        fast_partials(g, offr, offc, kind, part);
    else /* columns outer, rows inner: each element continues its line's partial in order */
        for (int lj = 0; lj < A->nloc; lj++) {
            const double *col = A->a + (size_t)lj * A->lld;
            int64_t oc = offc[lj];
            if (kind == ND_AXP_SQDEV)
                for (int li = 0; li < A->mloc; li++) {
                    int64_t k = offr[li] + oc;
                    double d = col[li] - mean[k / g->nblk];
                    part[k] += d * d;
                }
            else
                for (int li = 0; li < A->mloc; li++) part[offr[li] + oc] += col[li] != 0.0;
        }
    sblk_offsets_free(g, offr, offc);
    st = nd_dm_combine(part, np);
    if (st != ND_OK) {
        ND_FREE_N(part, np ? np : 1);
        return st;
    }
    *out = part;
    return ND_OK;
}

/* Collective: the candidates per line and block for argmin/argmax (flat index along the
 * line in .flat), combined. */
static nd_status sblk_argext(const sblk *g, bool is_max, cand **out)
{
    const nd_dm *A = g->A;
    size_t np = (size_t)g->nlines * (size_t)g->nblk;
    cand *c = ND_ALLOC_N(cand, np ? np : 1);
    ND_TRY(agreed(c != NULL));
    if (nd_dm_dev && nd_dm_dev->axis_partials && (A->at & ND_AT_DEV)) {
        _Static_assert(sizeof(cand) == 2 * sizeof(double), "a candidate is two doubles");
        nd_status sd = nd_dm_dev->axis_partials(A, g->rows, is_max ? ND_AXP_ARGMAX : ND_AXP_ARGMIN,
                                                NULL, g->nlines, g->nblk, (double *)c, np * 2);
        if (sd != ND_OK) {
            ND_FREE_N(c, np ? np : 1);
            return sd;
        }
        *out = c;
        return ND_OK;
    }
    int64_t *offr = NULL, *offc = NULL;
    nd_status so = sblk_offsets(g, &offr, &offc);
    if (so != ND_OK) {
        ND_FREE_N(c, np ? np : 1);
        sblk_offsets_free(g, offr, offc);
        return so;
    }
    nd_dm_host(A);
    int64_t *grow = ND_SCRATCH_N(int64_t, A->mloc ? (size_t)A->mloc : 1);
    so = agreed(grow != NULL);
    for (int li = 0; so == ND_OK && li < A->mloc; li++) grow[li] = nd_dm_grow(A, li);
    for (int lj = 0; so == ND_OK && lj < A->nloc; lj++) {
        int64_t gj = nd_dm_gcol(A, lj);
        const double *col = A->a + (size_t)lj * A->lld;
        for (int li = 0; li < A->mloc; li++) {
            /* the index along the line, +1: an untouched entry (all bits 0) stays "none"
             * after the combine */
            cand *p = &c[offr[li] + offc[lj]];
            cand xx = {col[li], g->rows ? gj : grow[li]}, px = {p->v, p->flat - 1};
            if (p->flat == 0 || beats(is_max, xx, px)) *p = (cand){xx.v, xx.flat + 1};
        }
    }
    if (grow) ND_FREE_N(grow, A->mloc ? (size_t)A->mloc : 1);
    if (so != ND_OK) {
        ND_FREE_N(c, np ? np : 1);
        sblk_offsets_free(g, offr, offc);
        return so;
    }
    sblk_offsets_free(g, offr, offc);
    nd_status st = nd_dm_combine((double *)c, np * 2);
    if (st != ND_OK) {
        ND_FREE_N(c, np ? np : 1);
        return st;
    }
    *out = c;
    return ND_OK;
}

/* Collective: R (nlines elements, row-major) := op along the storage rows or columns.
 * Each rank finishes a balanced range of lines and deposits it. */
static nd_status reduce_storage(nd_axis_op op, const nd_dm *A, bool rows, nd_dm *R)
{
    sblk g = {.A = A, .rows = rows, .nb = A->nb};
    nd_spmd_grid(&g.nprow, &g.npcol, &g.myrow, &g.mycol);
    int64_t L = rows ? A->n : A->m;
    g.nlines = rows ? A->m : A->n;
    g.nblk = (L + A->nb - 1) / A->nb;
    double *part = NULL, *part2 = NULL;
    cand *cs = NULL;
    nd_status st = ND_OK;
    switch (op) {
    case ND_AX_SUM: case ND_AX_MEAN: case ND_AX_STD: st = sblk_partials(&g, ND_AXP_SUM, NULL, &part); break;
    case ND_AX_MIN: st = sblk_partials(&g, ND_AXP_MIN, NULL, &part); break;
    case ND_AX_MAX: st = sblk_partials(&g, ND_AXP_MAX, NULL, &part); break;
    case ND_AX_ANY: case ND_AX_ALL: st = sblk_partials(&g, ND_AXP_NNZ, NULL, &part); break;
    default: st = sblk_argext(&g, op == ND_AX_ARGMAX, &cs); break;
    }
    ND_TRY(st);
    size_t np = (size_t)g.nlines * (size_t)g.nblk;
    double *val = ND_ALLOC_N(double, g.nlines ? (size_t)g.nlines : 1);
    st = agreed(val != NULL);
    for (int64_t k = 0; k < g.nlines && st == ND_OK; k++) {
        double v = 0.0;
        if (cs) {
            cand best = {0.0, -1};
            for (int64_t b = 0; b < g.nblk; b++) {
                cand x = cs[b + k * g.nblk];
                x.flat -= 1;
                if (beats(op == ND_AX_ARGMAX, x, best)) best = x;
            }
            v = (double)best.flat;
        } else if (op == ND_AX_MIN || op == ND_AX_MAX) {
            v = part[k * g.nblk];
            for (int64_t b = 1; b < g.nblk; b++)
                v = op == ND_AX_MIN ? nd_nan_min(v, part[b + k * g.nblk]) : nd_nan_max(v, part[b + k * g.nblk]);
        } else {
            for (int64_t b = 0; b < g.nblk; b++) v += part[b + k * g.nblk];
            if (op == ND_AX_MEAN || op == ND_AX_STD) v /= (double)L;
            if (op == ND_AX_ANY) v = v > 0 ? 1.0 : 0.0;
            if (op == ND_AX_ALL) v = v == (double)L ? 1.0 : 0.0;
        }
        val[k] = v;
    }
    if (st == ND_OK && op == ND_AX_STD) { /* the second pass, about the means */
        st = sblk_partials(&g, ND_AXP_SQDEV, val, &part2);
        for (int64_t k = 0; k < g.nlines && st == ND_OK; k++) {
            double v = 0.0;
            for (int64_t b = 0; b < g.nblk; b++) v += part2[b + k * g.nblk];
            val[k] = sqrt(v / (double)L);
        }
    }
    /* every rank holds every value: each deposits a balanced range of the lines */
    int P = nd_spmd_size(), me = nd_spmd_rank();
    int64_t lo = g.nlines * me / P, hi = g.nlines * (me + 1) / P;
    int64_t *flats = ND_ALLOC_N(int64_t, hi > lo ? (size_t)(hi - lo) : 1);
    if (st == ND_OK) st = agreed(flats != NULL);
    for (int64_t k = lo; k < hi && st == ND_OK; k++) flats[k - lo] = k;
    if (st == ND_OK) st = nd_arr_deposit(R, (size_t)(hi - lo), flats, val + lo);
    if (flats) ND_FREE_N(flats, hi > lo ? (size_t)(hi - lo) : 1);
    ND_FREE_N(val, g.nlines ? (size_t)g.nlines : 1);
    if (part) ND_FREE_N(part, np ? np : 1);
    if (part2) ND_FREE_N(part2, np ? np : 1);
    if (cs) ND_FREE_N(cs, np ? np : 1);
    return st;
}

/* Rank-local: whether the lines along axis are the storage's rows (1), columns (0), or
 * neither (-1): the fold must split exactly beside the axis. */
static int storage_lines(const nd_dm *A, int axis)
{
    int nd = nd_arr_ndim(A);
    const int64_t *s = nd_arr_shape(A);
    if (axis == nd - 1 && A->n == s[nd - 1]) return 1;
    if (axis == 0 && A->m == s[0] && nd >= 2) return 0;
    return -1;
}

nd_status nd_arr_reduce_axis(nd_axis_op op, const nd_dm *A, int axis, nd_dm **out,
                             double *scalar)
{
    int nd = nd_arr_ndim(A);
    *out = NULL;
    /* One line: the whole-array reduction, which every rank shares. */
    if (nd == 1) return nd_arr_reduce_all(op, A, scalar);
    const int64_t *s = nd_arr_shape(A);
    int64_t shape[ND_MAXDIM];
    int ond = 0;
    for (int k = 0; k < nd; k++) {
        if (k != axis) shape[ond++] = s[k];
        else if (nd == 2) shape[ond++] = 1; /* a matrix stays 2-D */
    }
    lines g;
    ND_TRY(lines_init(A, axis, &g));
    nd_dm *R = NULL;
    ND_TRY(nd_arr_alloc(ond, shape, &R));
    nd_status st;
    int sl = storage_lines(A, axis);
    if (g.nlines == 1) {
        double v = 0.0;
        int64_t idx[ND_MAXDIM] = {0};
        st = nd_arr_reduce_all(op, A, &v);
        if (st == ND_OK) st = nd_arr_set(R, idx, v);
    } else if (sl >= 0) {
        st = reduce_storage(op, A, sl == 1, R);
    } else {
        st = reduce_lines(op, A, &g, R);
    }
    if (st != ND_OK) {
        nd_dm_free(R);
        return st;
    }
    *out = R;
    return ND_OK;
}

/* ---- scans along an axis ---------------------------------------------------------- */

/* A sort key: ordering by (value, index) with NaN last makes the order total, so every
 * algorithm gives numpy's stable order. */
typedef struct key {
    double v;
    int64_t i;
} key;

static int key_cmp(const void *a, const void *b)
{
    const key *x = a, *y = b;
    bool xn = isnan(x->v), yn = isnan(y->v);
    if (xn != yn) return xn ? 1 : -1;
    if (!xn && x->v != y->v) return x->v < y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static inline bool key_less(const key *x, const key *y)
{
    bool xn = isnan(x->v), yn = isnan(y->v);
    if (xn != yn) return yn;
    if (!xn && x->v != y->v) return x->v < y->v;
    return x->i < y->i;
}

/* Rank-local: k[0..n) in key order: insertion sort of runs of 16, then bottom-up merges
 * (an inline comparison; qsort's call per comparison cost three times as much); qsort
 * when the scratch cannot be had. */
static void key_sort(key *k, size_t n)
{
    key *tmp = n > 16 ? ND_SCRATCH_N(key, n) : NULL;
    if (n > 16 && !tmp) {
        qsort(k, n, sizeof *k, key_cmp);
        return;
    }
    for (size_t r = 0; r < n; r += 16) {
        size_t e = r + 16 < n ? r + 16 : n;
        for (size_t i = r + 1; i < e; i++) {
            key x = k[i];
            size_t j = i;
            while (j > r && key_less(&x, &k[j - 1])) k[j] = k[j - 1], j--;
            k[j] = x;
        }
    }
    key *src = k, *dst = tmp;
    for (size_t w = 16; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) dst[o++] = key_less(&src[b], &src[a]) ? src[b++] : src[a++];
            while (a < mid) dst[o++] = src[a++];
            while (b < hi) dst[o++] = src[b++];
        }
        key *t = src;
        src = dst, dst = t;
    }
    if (src != k) memcpy(k, src, n * sizeof *k);
    if (tmp) ND_FREE_N(tmp, n);
}

/* Rank-local: an unsigned key in the order of key_less's values: negative numbers
 * bit-flipped, others with the sign bit set, -0.0 as +0.0 (equal, as numpy), every NaN
 * as the largest key. */
static inline uint64_t order_bits(double v)
{
    if (isnan(v)) return UINT64_MAX;
    if (v == 0.0) v = 0.0;
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u >> 63 ? ~u : u | (UINT64_C(1) << 63);
}

/* Rank-local: the sorted pairs back in (k, ix) when the last pass left them in the scratch. */
static void settle(uint64_t *k, int64_t *ix, const uint64_t *sk, const int64_t *si, size_t n)
{
    if (sk != k) {
        memcpy(k, sk, n * sizeof *k);
        memcpy(ix, si, n * sizeof *ix);
    }
}

/* Rank-local: a stable sort of (k, ix) pairs by k (ties keep their order, so with ix the
 * positions this is key_less's order): insertion sort of runs of 16, then bottom-up
 * merges without branches on the data (random keys mispredict a branchy merge at every
 * other step).  t and tx: scratch of n. */
static void u64_sort(uint64_t *k, int64_t *ix, size_t n, uint64_t *t, int64_t *tx)
{
    for (size_t r = 0; r < n; r += 16) {
        size_t e = r + 16 < n ? r + 16 : n;
        for (size_t i = r + 1; i < e; i++) {
            uint64_t x = k[i];
            int64_t xi = ix[i];
            size_t j = i;
            while (j > r && x < k[j - 1]) k[j] = k[j - 1], ix[j] = ix[j - 1], j--;
            k[j] = x, ix[j] = xi;
        }
    }
    uint64_t *sk = k, *dk = t;
    int64_t *si = ix, *di = tx;
    for (size_t w = 16; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) {
                uint64_t ka = sk[a], kb = sk[b];
                size_t right = kb < ka; /* ties: the left run first (stable) */
                dk[o] = right ? kb : ka;
                di[o++] = right ? si[b] : si[a];
                b += right, a += 1 - right;
            }
            for (; a < mid; a++, o++) dk[o] = sk[a], di[o] = si[a];
            for (; b < hi; b++, o++) dk[o] = sk[b], di[o] = si[b];
        }
        uint64_t *tk = sk;
        int64_t *ti = si;
        sk = dk, dk = tk, si = di, di = ti;
    }
    settle(k, ix, sk, si, n);
}

/* Rank-local: u64_sort's result by least-significant-digit radix sort, 8 bits a pass
 * (stable, so ties keep their order as there); a pass whose digit is the same for all
 * keys is skipped.  For long lines, where it beats the merges (RADIX_FROM). */
#define RADIX_FROM 256
static void radix_sort(uint64_t *k, int64_t *ix, size_t n, uint64_t *t, int64_t *tx)
{
    uint32_t hist[8][256];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++) {
        uint64_t u = k[i];
        for (int d = 0; d < 8; d++) hist[d][(u >> (8 * d)) & 255]++;
    }
    uint64_t *sk = k, *dk = t;
    int64_t *si = ix, *di = tx;
    for (int d = 0; d < 8; d++) {
        int sh = 8 * d;
        if (hist[d][(sk[0] >> sh) & 255] == n) continue;
        uint32_t off[256], sum = 0;
        for (int b = 0; b < 256; b++) off[b] = sum, sum += hist[d][b];
        for (size_t i = 0; i < n; i++) {
            uint32_t o = off[(sk[i] >> sh) & 255]++;
            dk[o] = sk[i];
            di[o] = si[i];
        }
        uint64_t *tk = sk;
        int64_t *ti = si;
        sk = dk, dk = tk, si = di, di = ti;
    }
    settle(k, ix, sk, si, n);
}

/* Rank-local: line x (L elements) sorted in place, or replaced by its argsort.  keys:
 * scratch of L keys (2 L words: the key bits and the positions, then the merge
 * scratch in a second allocation). */
static void sort_line(bool arg, double *x, int64_t L, key *keys)
{
    uint64_t *k = (uint64_t *)keys, *t = ND_SCRATCH_N(uint64_t, 2 * (size_t)L);
    int64_t *ix = (int64_t *)keys + L, *tx = t ? (int64_t *)t + L : NULL;
    if (t) {
        for (int64_t q = 0; q < L; q++) k[q] = order_bits(x[q]), ix[q] = q;
        if (L >= RADIX_FROM && L <= UINT32_MAX) radix_sort(k, ix, (size_t)L, t, tx);
        else u64_sort(k, ix, (size_t)L, t, tx);
        /* the values back from the positions (x is still the line), through the scratch */
        double *out = (double *)t;
        for (int64_t q = 0; q < L; q++) out[q] = arg ? (double)ix[q] : x[ix[q]];
        memcpy(x, out, (size_t)L * sizeof *x);
        ND_FREE_N(t, 2 * (size_t)L);
        return;
    }
    for (int64_t q = 0; q < L; q++) keys[q] = (key){x[q], q};
    key_sort(keys, (size_t)L);
    for (int64_t q = 0; q < L; q++) x[q] = arg ? (double)keys[q].i : keys[q].v;
}

/* Rank-local: the running sum continued from *carry. */
static void cumsum_run(double *x, int64_t n, double *carry)
{
    double s = *carry;
    for (int64_t k = 0; k < n; k++) x[k] = s += x[k];
    *carry = s;
}

/* Collective.  Whole lines per round: fetch, scan each line, deposit in place. */
static nd_status scan_whole(nd_scan_op op, const nd_dm *A, const lines *g, nd_dm *R)
{
    int64_t mine = g->l1 - g->l0, per = lines_per_round(g);
    int64_t rounds = (mine + per - 1) / per, nr = 0;
    ND_TRY(all_rounds(rounds, &nr));
    work w = {0};
    int64_t m0 = per < mine ? per : mine;
    size_t nk = op == ND_SCAN_CUMSUM ? 1 : (size_t)g->L;
    key *keys = ND_SCRATCH_N(key, nk);
    nd_status st = work_alloc(&w, m0 * g->L);
    if (st == ND_OK) st = agreed(keys != NULL);
    int64_t cur = g->l0;
    for (int64_t t = 0; t < nr && st == ND_OK; t++) {
        int64_t m = g->l1 - cur < per ? g->l1 - cur : per;
        if (m < 0) m = 0;
        for (int64_t i = 0; i < m; i++) line_flats(g, cur + i, 0, g->L, w.flats + i * g->L);
        size_t n = (size_t)(m * g->L);
        st = nd_arr_fetch(A, n, w.flats, w.vals);
        if (st != ND_OK) break;
        for (int64_t i = 0; i < m; i++) {
            double *x = w.vals + i * g->L, carry = 0.0;
            if (op == ND_SCAN_CUMSUM) cumsum_run(x, g->L, &carry);
            else sort_line(op == ND_SCAN_ARGSORT, x, g->L, keys);
        }
        cur += m;
        st = nd_arr_deposit(R, n, w.flats, w.vals);
    }
    work_free(&w);
    if (keys) ND_FREE_N(keys, nk);
    return st;
}

/* Collective.  cumsum of lines longer than a round: piece by piece, with the carry. */
static nd_status cumsum_long(const nd_dm *A, const lines *g, nd_dm *R)
{
    int64_t mine = g->l1 - g->l0, E = g->E, L = g->L, chunks = (L + E - 1) / E, nr = 0;
    ND_TRY(all_rounds(mine * chunks, &nr));
    work w = {0};
    nd_status st = work_alloc(&w, E);
    int64_t cur = g->l0, k0 = 0;
    double carry = 0.0;
    for (int64_t t = 0; t < nr && st == ND_OK; t++) {
        int64_t n = cur < g->l1 ? (L - k0 < E ? L - k0 : E) : 0;
        line_flats(g, cur, k0, n, w.flats);
        st = nd_arr_fetch(A, (size_t)n, w.flats, w.vals);
        if (st != ND_OK) break;
        cumsum_run(w.vals, n, &carry);
        st = nd_arr_deposit(R, (size_t)n, w.flats, w.vals);
        if (n && (k0 += n) == L) {
            k0 = 0;
            carry = 0.0;
            cur++;
        }
    }
    work_free(&w);
    return st;
}

/* ---- sort of a single line: a sample sort ----------------------------------------- */

/* An array that is one line (1-D, or 1 in every other dimension) is sorted without
 * gathering it: the keys (value, flat index) are split by splitters taken from a regular
 * sample of every rank's elements into nb buckets of about 2 pieces or less (at least 16
 * per rank); in round t, rank r collects bucket t * P + r from every rank, sorts it and
 * deposits it at its offset in the result.  The order is total, so the result does not
 * depend on the splitters or the rank count. */

/* Rank-local: element q of A's local storage as a key (flat index = position). */
static key local_key(const nd_dm *A, int64_t q)
{
    int mloc = A->mloc, li = (int)(q % mloc), lj = (int)(q / mloc);
    return (key){A->a[li + (size_t)lj * A->lld], nd_dm_grow(A, li) * A->n + nd_dm_gcol(A, lj)};
}

/* Rank-local: the bucket of x: the first b with x <= spl[b], else nb - 1. */
static int64_t bucket_of(const key *spl, int64_t nb, const key *x)
{
    int64_t lo = 0, hi = nb - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (key_cmp(x, &spl[mid]) <= 0) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* Collective: the nb - 1 splitters from a regular sample of every rank's keys. */
static nd_status splitters(const nd_dm *A, int64_t nloc, int64_t nb, key *spl)
{
    int P = nd_spmd_size();
    int64_t s = nloc < 32 * nb ? nloc : 32 * nb;
    int *cnt = ND_ALLOC_N(int, 2 * (size_t)P);
    key *mine = ND_SCRATCH_N(key, (size_t)(s > 0 ? s : 1)), *all = NULL;
    nd_status st = agreed(cnt && mine);
    for (int64_t i = 0; st == ND_OK && i < s; i++) mine[i] = local_key(A, i * nloc / s);
    int sb = (int)(s * (int64_t)sizeof(key)), rc = MPI_SUCCESS, total = 0;
    if (st == ND_OK) rc = MPI_Allgather(&sb, 1, MPI_INT, cnt, 1, MPI_INT, nd_spmd_comm());
    if (st == ND_OK && rc != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Allgather", rc);
    for (int r = 0; st == ND_OK && r < P; r++) cnt[P + r] = total, total += cnt[r];
    size_t S = (size_t)total / sizeof(key);
    if (st == ND_OK) {
        all = ND_SCRATCH_N(key, S ? S : 1);
        st = agreed(all != NULL);
    }
    if (st == ND_OK) {
        rc = MPI_Allgatherv(mine, sb, MPI_BYTE, all, cnt, cnt + P, MPI_BYTE, nd_spmd_comm());
        if (rc != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Allgatherv", rc);
    }
    if (st == ND_OK) {
        key_sort(all, S);
        for (int64_t b = 0; b + 1 < nb; b++) spl[b] = all[(size_t)(b + 1) * S / (size_t)nb];
    }
    if (all) ND_FREE_N(all, S ? S : 1);
    if (mine) ND_FREE_N(mine, (size_t)(s > 0 ? s : 1));
    if (cnt) ND_FREE_N(cnt, 2 * (size_t)P);
    return st;
}

/* Collective: my keys of the buckets of round t go to their collectors; *got (nd_malloc'd,
 * *ngot keys) are the keys of my bucket. */
static nd_status collect(const nd_dm *A, int64_t nloc, const key *spl, int64_t nb, int64_t t,
                         key **got, size_t *ngot)
{
    int P = nd_spmd_size();
    int *c = ND_ALLOC_N(int, 4 * (size_t)P); /* send counts, displs; recv counts, displs */
    nd_status st = agreed(c != NULL);
    if (st != ND_OK) {
        if (c) ND_FREE_N(c, 4 * (size_t)P);
        return st;
    }
    size_t nsend = 0, nrecv = 0;
    for (int64_t q = 0; q < nloc; q++) {
        key x = local_key(A, q);
        int64_t b = bucket_of(spl, nb, &x);
        if (b / P == t) c[b % P] += (int)sizeof(key), nsend++;
    }
    int rc = MPI_Alltoall(c, 1, MPI_INT, c + 2 * P, 1, MPI_INT, nd_spmd_comm());
    if (rc != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Alltoall", rc);
    for (int r = 0, so = 0, ro = 0; r < P; r++) {
        c[P + r] = so, so += c[r];
        c[3 * P + r] = ro, ro += c[2 * P + r];
        nrecv = (size_t)ro / sizeof(key);
    }
    key *sb = ND_SCRATCH_N(key, nsend ? nsend : 1), *rb = ND_SCRATCH_N(key, nrecv ? nrecv : 1);
    if (st == ND_OK) st = agreed(sb && rb);
    if (st == ND_OK) {
        int *pos = ND_ALLOC_N(int, (size_t)P);
        st = agreed(pos != NULL);
        for (int r = 0; st == ND_OK && r < P; r++) pos[r] = c[P + r] / (int)sizeof(key);
        for (int64_t q = 0; st == ND_OK && q < nloc; q++) {
            key x = local_key(A, q);
            int64_t b = bucket_of(spl, nb, &x);
            if (b / P == t) sb[pos[b % P]++] = x;
        }
        if (pos) ND_FREE_N(pos, (size_t)P);
        if (st == ND_OK) {
            rc = MPI_Alltoallv(sb, c, c + P, MPI_BYTE, rb, c + 2 * P, c + 3 * P, MPI_BYTE,
                               nd_spmd_comm());
            if (rc != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Alltoallv", rc);
        }
    }
    if (sb) ND_FREE_N(sb, nsend ? nsend : 1);
    ND_FREE_N(c, 4 * (size_t)P);
    if (st != ND_OK) {
        if (rb) ND_FREE_N(rb, nrecv ? nrecv : 1);
        return st;
    }
    *got = rb;
    *ngot = nrecv;
    return ND_OK;
}

/* Collective.  R := sort (argsort when arg) of A, which is one line. */
static nd_status sort_one_line(bool arg, const nd_dm *A, nd_dm *R)
{
    int P = nd_spmd_size();
    int64_t N = nd_arr_size(A), E = 1;
    int64_t nb = 16 * (int64_t)P, nloc = (int64_t)A->mloc * A->nloc;
    ND_TRY(uniform_piece(&E));
    if (nb < 2 * (N / E) + 1) nb = 2 * (N / E) + 1;
    if (nb > N) nb = N;
    nd_dm_host(A);
    key *spl = ND_SCRATCH_N(key, (size_t)nb);
    int64_t *off = ND_ALLOC_N(int64_t, (size_t)nb + 1);
    nd_status st = agreed(spl && off);
    if (st == ND_OK) st = splitters(A, nloc, nb, spl);
    for (int64_t q = 0; st == ND_OK && q < nloc; q++) {
        key x = local_key(A, q);
        off[bucket_of(spl, nb, &x) + 1]++;
    }
    if (st == ND_OK) st = allreduce(off + 1, (int)nb, MPI_INT64_T, MPI_SUM);
    for (int64_t b = 0; st == ND_OK && b < nb; b++) off[b + 1] += off[b];
    for (int64_t t = 0; st == ND_OK && t * P < nb; t++) {
        key *got = NULL;
        size_t n = 0;
        st = collect(A, nloc, spl, nb, t, &got, &n);
        if (st != ND_OK) break;
        int64_t b = t * P + nd_spmd_rank();
        key_sort(got, n);
        /* The keys' storage holds the (flat, value) pairs of the deposit in place. */
        int64_t *flats = (int64_t *)(void *)got;
        double *vals = ND_SCRATCH_N(double, n ? n : 1);
        st = agreed(vals != NULL);
        for (size_t i = 0; st == ND_OK && i < n; i++) {
            vals[i] = arg ? (double)got[i].i : got[i].v;
            flats[i] = off[b] + (int64_t)i;
        }
        if (st == ND_OK) st = nd_arr_deposit(R, n, flats, vals);
        if (vals) ND_FREE_N(vals, n ? n : 1);
        ND_FREE_N(got, n ? n : 1);
    }
    if (spl) ND_FREE_N(spl, (size_t)nb);
    if (off) ND_FREE_N(off, (size_t)nb + 1);
    return st;
}

/* Collective.  sort/argsort of lines longer than a round: each line in turn is copied
 * out as a 1-D array (a strided view), sample-sorted by all ranks and copied back, so no
 * rank holds a line. */
static nd_status sort_long(bool arg, const nd_dm *A, const lines *g, nd_dm *R)
{
    int64_t shape[1] = {g->L}, stride[1] = {g->post};
    nd_status st = ND_OK;
    for (int64_t l = 0; l < g->nlines && st == ND_OK; l++) {
        int64_t base = (l / g->post) * g->L * g->post + l % g->post;
        nd_dm *x = NULL, *y = NULL;
        st = nd_arr_view(A, 1, shape, base, stride, &x);
        if (st == ND_OK) st = nd_arr_alloc(1, shape, &y);
        if (st == ND_OK) st = sort_one_line(arg, x, y);
        if (x) nd_dm_free(x);
        if (st == ND_OK) st = nd_arr_view_assign(R, 1, shape, base, stride, y);
        if (y) nd_dm_free(y);
    }
    return st;
}

/* Collective.  flip: no element depends on another, so the ranks split the flat indices
 * into balanced contiguous ranges and move their elements in rounds to the mirrored
 * position along the axis. */
static nd_status flip(const nd_dm *A, const lines *g, nd_dm *R)
{
    int64_t N = g->nlines * g->L, p = nd_spmd_size(), r = nd_spmd_rank();
    int64_t f0 = N / p * r + (r < N % p ? r : N % p);
    int64_t f1 = f0 + N / p + (r < N % p ? 1 : 0), nr = 0;
    ND_TRY(all_rounds((f1 - f0 + g->E - 1) / g->E, &nr));
    work w = {0};
    int64_t *to = ND_SCRATCH_N(int64_t, (size_t)g->E);
    nd_status st = work_alloc(&w, g->E);
    if (st == ND_OK) st = agreed(to != NULL);
    int64_t span = g->L * g->post;
    for (int64_t t = 0, f = f0; t < nr && st == ND_OK; t++) {
        int64_t n = f1 - f < g->E ? f1 - f : g->E;
        for (int64_t i = 0; i < n; i++) {
            int64_t x = f + i, k = x % span / g->post;
            w.flats[i] = x;
            to[i] = x + (g->L - 1 - 2 * k) * g->post;
        }
        f += n;
        st = nd_arr_fetch(A, (size_t)n, w.flats, w.vals);
        if (st == ND_OK) st = nd_arr_deposit(R, (size_t)n, to, w.vals);
    }
    work_free(&w);
    if (to) ND_FREE_N(to, (size_t)g->E);
    return st;
}

nd_status nd_arr_scan(nd_scan_op op, const nd_dm *A, int axis, nd_dm **out)
{
    *out = NULL;
    lines g;
    ND_TRY(lines_init(A, axis, &g));
    nd_dm *R = NULL;
    ND_TRY(nd_arr_alloc(nd_arr_ndim(A), nd_arr_shape(A), &R));
    nd_status st;
    if (op == ND_SCAN_FLIP) st = flip(A, &g, R);
    else if (op != ND_SCAN_CUMSUM && g.nlines == 1) st = sort_one_line(op == ND_SCAN_ARGSORT, A, R);
    else if (lines_per_round(&g)) st = scan_whole(op, A, &g, R);
    else if (op == ND_SCAN_CUMSUM) st = cumsum_long(A, &g, R);
    else st = sort_long(op == ND_SCAN_ARGSORT, A, &g, R);
    if (st != ND_OK) {
        nd_dm_free(R);
        return st;
    }
    *out = R;
    return ND_OK;
}
