/* check_arr_axis.c: unit tests of the reductions and scans of n-d arrays
 * (src/runtime/arr_axis.c) against naive serial references computed here on replicated
 * row-major data.  Along an axis the references fold each line sequentially, as the
 * contract fixes, so the comparison is bit for bit, which is also the proof that the
 * results do not depend on the rank count; whole-array reductions are compared with a
 * 1-rank computation in solo mode.  Run at 1 rank by `make check` and at 2, 3 and 4 ranks
 * by arr_ranks.sh, with default and with tiny move pieces (lines longer than a
 * piece), and under a memory limit of about twice a rank's share.
 */
#include "nd_check.h"
#include "common/alloc.h"
#include "runtime/arr.h"
#include "runtime/dm_impl.h"
#include "runtime/spmd.h"

#include <math.h>
#include <string.h>

/* Data variants: 0 distinct-ish values with ties; 1 NaNs, signed zeros and many ties;
 * 2 ones with a few zeros (any/all). */
#define NVAR 3
static double val(int v, int64_t f)
{
    switch (v) {
    case 0: return (double)((f * 7919) % 1009) - 500.25;
    case 1:
        if (f % 13 == 5) return NAN;
        if (f % 7 == 3) return f % 2 ? -0.0 : 0.0;
        return (double)((f * 31) % 17) - 8.0;
    default: return f % 11 == 4 ? 0.0 : 1.0;
    }
}

static int64_t total_of(int nd, const int64_t *shape)
{
    int64_t t = 1;
    for (int k = 0; k < nd; k++) t *= shape[k];
    return t;
}

static double *data(int v, int64_t t)
{
    double *d = ND_ALLOC_N(double, (size_t)t);
    ck_assert_ptr_nonnull(d);
    for (int64_t f = 0; f < t; f++) d[f] = val(v, f);
    return d;
}

static nd_dm *mk(int v, int nd, const int64_t *shape)
{
    int64_t t = total_of(nd, shape);
    double *d = data(v, t);
    nd_dm *A = NULL;
    ck_assert_int_eq(nd_arr_from_rowmajor(nd, shape, d, &A), ND_OK);
    ND_FREE_N(d, (size_t)t);
    return A;
}

static double *rowmajor(const nd_dm *A)
{
    double *d = NULL;
    ck_assert_int_eq(nd_arr_to_rowmajor(A, &d), ND_OK);
    return d;
}

static bool same(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b));
}

static bool close_to(double a, double b)
{
    return same(a, b) || fabs(a - b) <= 1e-12 * (1.0 + fabs(b));
}

static const int64_t shapes[][ND_MAXDIM + 1] = {
    /* nd, dims... */
    {1, 1}, {1, 7}, {1, 300}, {2, 70, 90}, {2, 1, 50}, {2, 50, 1}, {2, 3, 130},
    {3, 3, 40, 7}, {3, 4, 5, 6}, {4, 2, 3, 4, 5}, {3, 1, 1, 9},
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

/* ---- naive references ------------------------------------------------------------- */

/* Line l of axis `axis` of row-major d into x (L elements). */
static int64_t get_line(const double *d, int nd, const int64_t *sh, int axis, int64_t l,
                        double *x)
{
    int64_t post = 1, L = sh[axis];
    for (int k = axis + 1; k < nd; k++) post *= sh[k];
    int64_t base = (l / post) * L * post + l % post;
    for (int64_t k = 0; k < L; k++) x[k] = d[base + k * post];
    return base;
}

/* The order of sums along a storage row or column (arr_axis.c "along a storage axis"):
 * one partial per nb elements, the partials added in order. */
static double ref_blocked(nd_axis_op op, const double *x, int64_t L, int nb)
{
    double s = 0.0, q = 0.0;
    for (int64_t b = 0; b < L; b += nb) {
        double p = 0.0;
        for (int64_t k = b; k < L && k < b + nb; k++) p += x[k];
        s += p;
    }
    if (op == ND_AX_SUM) return s;
    double m = s / (double)L;
    if (op == ND_AX_MEAN) return m;
    for (int64_t b = 0; b < L; b += nb) {
        double p = 0.0;
        for (int64_t k = b; k < L && k < b + nb; k++) p += (x[k] - m) * (x[k] - m);
        q += p;
    }
    return sqrt(q / (double)L);
}

static double ref_reduce(nd_axis_op op, const double *x, int64_t L)
{
    double s = 0.0, m, q = 0.0;
    int64_t best = 0;
    switch (op) {
    case ND_AX_SUM:
    case ND_AX_MEAN:
    case ND_AX_STD:
        for (int64_t k = 0; k < L; k++) s += x[k];
        if (op == ND_AX_SUM) return s;
        m = s / (double)L;
        if (op == ND_AX_MEAN) return m;
        for (int64_t k = 0; k < L; k++) q += (x[k] - m) * (x[k] - m);
        return sqrt(q / (double)L);
    case ND_AX_MIN:
    case ND_AX_MAX:
    case ND_AX_ARGMIN:
    case ND_AX_ARGMAX:
        for (int64_t k = 0; k < L; k++)
            if (isnan(x[k])) return op == ND_AX_ARGMIN || op == ND_AX_ARGMAX ? (double)k : x[k];
        for (int64_t k = 1; k < L; k++) {
            bool lo = op == ND_AX_MIN || op == ND_AX_ARGMIN;
            if (lo ? x[k] < x[best] : x[k] > x[best]) best = k;
        }
        return op == ND_AX_MIN || op == ND_AX_MAX ? x[best] : (double)best;
    case ND_AX_ANY:
        for (int64_t k = 0; k < L; k++)
            if (x[k] != 0.0) return 1.0;
        return 0.0;
    case ND_AX_ALL:
        for (int64_t k = 0; k < L; k++)
            if (x[k] == 0.0) return 0.0;
        return 1.0;
    }
    return NAN;
}

/* Insertion sort by (value, index), NaN last: stable by construction. */
static bool before(double a, int64_t ia, double b, int64_t ib)
{
    if (isnan(a) != isnan(b)) return isnan(b);
    if (!isnan(a) && a != b) return a < b;
    return ia < ib;
}

static void ref_scan(nd_scan_op op, const double *x, int64_t L, double *y)
{
    if (op == ND_SCAN_CUMSUM) {
        double s = 0.0;
        for (int64_t k = 0; k < L; k++) y[k] = s += x[k];
        return;
    }
    if (op == ND_SCAN_FLIP) {
        for (int64_t k = 0; k < L; k++) y[k] = x[L - 1 - k];
        return;
    }
    int64_t *ix = ND_ALLOC_N(int64_t, (size_t)L);
    for (int64_t k = 0; k < L; k++) {
        int64_t j = k;
        while (j > 0 && before(x[k], k, x[ix[j - 1]], ix[j - 1])) {
            ix[j] = ix[j - 1];
            j--;
        }
        ix[j] = k;
    }
    for (int64_t k = 0; k < L; k++) y[k] = op == ND_SCAN_SORT ? x[ix[k]] : (double)ix[k];
    ND_FREE_N(ix, (size_t)L);
}

static const nd_axis_op red_ops[] = {ND_AX_SUM, ND_AX_MEAN, ND_AX_MIN, ND_AX_MAX, ND_AX_STD,
                                     ND_AX_ARGMIN, ND_AX_ARGMAX, ND_AX_ANY, ND_AX_ALL};
#define NRED (int)(sizeof red_ops / sizeof red_ops[0])

/* ---- tests ------------------------------------------------------------------------ */

START_TEST(test_reduce_axis)
{
    for (size_t s = 0; s < NSHAPES; s++) {
        int nd = (int)shapes[s][0];
        const int64_t *sh = shapes[s] + 1;
        int64_t t = total_of(nd, sh);
        for (int v = 0; v < NVAR; v++) {
            nd_dm *A = mk(v, nd, sh);
            double *d = data(v, t), *x = ND_ALLOC_N(double, (size_t)t);
            for (int axis = 0; axis < nd; axis++) {
                int64_t L = sh[axis], nlines = t / L;
                for (int o = 0; o < NRED; o++) {
                    nd_dm *R = NULL;
                    double sc = -7.0;
                    ck_assert_int_eq(nd_arr_reduce_axis(red_ops[o], A, axis, &R, &sc), ND_OK);
                    /* One line goes through the whole-array (block-order) reduction. */
                    bool exact = nlines > 1 ||
                                 (red_ops[o] != ND_AX_SUM && red_ops[o] != ND_AX_MEAN &&
                                  red_ops[o] != ND_AX_STD);
                    if (nd == 1) {
                        ck_assert_ptr_null(R);
                        get_line(d, nd, sh, axis, 0, x);
                        double r = ref_reduce(red_ops[o], x, L);
                        ck_assert_msg(exact ? same(sc, r) : close_to(sc, r),
                                      "shape %zu var %d op %d: %.17g vs %.17g", s, v, o, sc, r);
                        continue;
                    }
                    ck_assert_ptr_nonnull(R);
                    ck_assert_int_eq(nd_arr_ndim(R), nd == 2 ? 2 : nd - 1);
                    ck_assert_int_eq(nd_arr_size(R), nlines);
                    if (nd == 2) ck_assert_int_eq(nd_arr_shape(R)[axis], 1);
                    double *r = rowmajor(R);
                    /* lines that are storage rows or columns: sums in blocks of nb */
                    bool blocked = (axis == nd - 1 && A->n == sh[nd - 1]) ||
                                   (axis == 0 && A->m == sh[0]);
                    bool sums = red_ops[o] == ND_AX_SUM || red_ops[o] == ND_AX_MEAN ||
                                red_ops[o] == ND_AX_STD;
                    for (int64_t l = 0; l < nlines; l++) {
                        get_line(d, nd, sh, axis, l, x);
                        double e = blocked && sums ? ref_blocked(red_ops[o], x, L, A->nb)
                                                   : ref_reduce(red_ops[o], x, L);
                        ck_assert_msg(exact ? same(r[l], e) : close_to(r[l], e),
                                      "shape %zu var %d axis %d op %d line %lld: %.17g vs %.17g",
                                      s, v, axis, o, (long long)l, r[l], e);
                    }
                    ND_FREE_N(r, (size_t)nlines);
                    nd_dm_free(R);
                }
            }
            ND_FREE_N(d, (size_t)t);
            ND_FREE_N(x, (size_t)t);
            nd_dm_free(A);
        }
    }
}
END_TEST

/* Whole-array reductions: against the naive reference (sums within rounding), and bit
 * for bit against the same computation on one rank (solo mode on rank 0). */
START_TEST(test_reduce_all)
{
    enum { N = NSHAPES * NVAR * NRED };
    static double got[N], solo[N];
    int n = 0;
    for (size_t s = 0; s < NSHAPES; s++) {
        int nd = (int)shapes[s][0];
        const int64_t *sh = shapes[s] + 1;
        int64_t t = total_of(nd, sh);
        for (int v = 0; v < NVAR; v++) {
            nd_dm *A = mk(v, nd, sh);
            double *d = data(v, t);
            for (int o = 0; o < NRED; o++, n++) {
                ck_assert_int_eq(nd_arr_reduce_all(red_ops[o], A, &got[n]), ND_OK);
                double e = ref_reduce(red_ops[o], d, t);
                ck_assert_msg(close_to(got[n], e), "shape %zu var %d op %d: %.17g vs %.17g", s,
                              v, o, got[n], e);
            }
            ND_FREE_N(d, (size_t)t);
            nd_dm_free(A);
        }
    }
    if (nd_spmd_size() == 1) return;
    int ok = 1;
    if (nd_spmd_rank() == 0 && nd_spmd_solo_begin() == ND_OK) {
        n = 0;
        for (size_t s = 0; s < NSHAPES; s++)
            for (int v = 0; v < NVAR; v++) {
                nd_dm *A = NULL;
                int64_t t = total_of((int)shapes[s][0], shapes[s] + 1);
                double *d = ND_ALLOC_N(double, (size_t)t);
                for (int64_t f = 0; f < t; f++) d[f] = val(v, f);
                if (nd_arr_from_rowmajor((int)shapes[s][0], shapes[s] + 1, d, &A) != ND_OK) ok = 0;
                for (int o = 0; o < NRED; o++, n++)
                    if (!A || nd_arr_reduce_all(red_ops[o], A, &solo[n]) != ND_OK) ok = 0;
                if (A) nd_dm_free(A);
                ND_FREE_N(d, (size_t)t);
            }
        nd_spmd_solo_end();
    }
    ck_assert_int_eq(nd_spmd_bcast(solo, sizeof solo, 0), ND_OK);
    ck_assert_int_eq(nd_spmd_bcast(&ok, sizeof ok, 0), ND_OK);
    ck_assert(ok);
    for (int k = 0; k < N; k++)
        ck_assert_msg(same(got[k], solo[k]), "result %d: %a at %d ranks, %a at 1", k, got[k],
                      nd_spmd_size(), solo[k]);
}
END_TEST

START_TEST(test_scan)
{
    static const nd_scan_op ops[] = {ND_SCAN_CUMSUM, ND_SCAN_SORT, ND_SCAN_ARGSORT, ND_SCAN_FLIP};
    for (size_t s = 0; s < NSHAPES; s++) {
        int nd = (int)shapes[s][0];
        const int64_t *sh = shapes[s] + 1;
        int64_t t = total_of(nd, sh);
        for (int v = 0; v < 2; v++) {
            nd_dm *A = mk(v, nd, sh);
            double *d = data(v, t), *x = ND_ALLOC_N(double, (size_t)t),
                   *y = ND_ALLOC_N(double, (size_t)t);
            for (int axis = 0; axis < nd; axis++) {
                int64_t L = sh[axis], nlines = t / L, post = 1;
                for (int k = axis + 1; k < nd; k++) post *= sh[k];
                for (int o = 0; o < 4; o++) {
                    nd_dm *R = NULL;
                    ck_assert_int_eq(nd_arr_scan(ops[o], A, axis, &R), ND_OK);
                    ck_assert(nd_arr_same_shape(A, R));
                    double *r = rowmajor(R);
                    for (int64_t l = 0; l < nlines; l++) {
                        int64_t base = get_line(d, nd, sh, axis, l, x);
                        ref_scan(ops[o], x, L, y);
                        for (int64_t k = 0; k < L; k++)
                            ck_assert_msg(same(r[base + k * post], y[k]),
                                          "shape %zu var %d axis %d op %d line %lld k %lld: "
                                          "%.17g vs %.17g", s, v, axis, o, (long long)l,
                                          (long long)k, r[base + k * post], y[k]);
                    }
                    ND_FREE_N(r, (size_t)t);
                    nd_dm_free(R);
                }
            }
            ND_FREE_N(d, (size_t)t);
            ND_FREE_N(x, (size_t)t);
            ND_FREE_N(y, (size_t)t);
            nd_dm_free(A);
        }
    }
}
END_TEST

/* Under a limit of the live bytes plus twice a rank's share of A and a block row, every
 * family runs along every axis (one-line arrays: sorted by the sample sort). */
START_TEST(test_memory)
{
    static const int64_t msh[][4] = {{2, 600, 500}, {1, 300000}, {2, 1, 300000},
                                     {3, 4, 100000, 3}};
    for (int s = 0; s < 4; s++) {
        int nd = (int)msh[s][0];
        const int64_t *sh = msh[s] + 1;
        int64_t t = total_of(nd, sh);
        nd_dm *A = mk(0, nd, sh);
        size_t share = (size_t)((t + nd_spmd_size() - 1) / nd_spmd_size()) * sizeof(double);
        /* A block row of the storage (arr.h's fold): what a rank may hold beyond its share
         * when few storage rows or columns leave ranks of the grid empty. */
        size_t row = (size_t)nd_spmd_block_size() * (size_t)nd_dm_cols(A) * sizeof(double);
        for (int axis = 0; axis < nd; axis++) {
            for (int o = 0; o < NRED; o++) {
                nd_dm *R = NULL;
                double sc;
                nd_alloc_set_limit(nd_alloc_live() + 2 * share + row);
                nd_status st = nd_arr_reduce_axis(red_ops[o], A, axis, &R, &sc);
                nd_alloc_set_limit(0);
                ck_assert_msg(st == ND_OK, "shape %d axis %d op %d: %s", s, axis, o, nd_err_msg());
                if (R) nd_dm_free(R);
            }
            for (int o = 0; o < 4; o++) {
                nd_dm *R = NULL;
                nd_alloc_set_limit(nd_alloc_live() + 2 * share + row);
                nd_status st = nd_arr_scan((nd_scan_op)o, A, axis, &R);
                nd_alloc_set_limit(0);
                ck_assert_msg(st == ND_OK, "shape %d axis %d scan %d: %s", s, axis, o,
                              nd_err_msg());
                nd_dm_free(R);
            }
        }
        nd_dm_free(A);
    }
}
END_TEST

static void tiny_pieces(void) { nd_arr_set_piece_elems(37); }
static void default_pieces(void) { nd_arr_set_piece_elems(0); }

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    if (nd_spmd_init(&argc, &argv) != ND_OK) return 1;
    Suite *s = suite_create("arr_axis");
    const TTest *tests[] = {test_reduce_axis, test_reduce_all, test_scan, NULL};
    nd_check_tcase(s, "core", 300, tests);
    TCase *tp = nd_check_tcase(s, "pieces", 300, tests);
    tcase_add_checked_fixture(tp, tiny_pieces, default_pieces);
    const TTest *mem[] = {test_memory, NULL};
    nd_check_tcase(s, "memory", 300, mem);
    int failed = nd_check_run(s, ND_CHECK_NOFORK | (nd_spmd_rank() == 0 ? 0 : ND_CHECK_QUIET));
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    nd_spmd_finalize(0);
    return any ? 1 : 0;
}
