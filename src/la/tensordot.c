/* tensordot.c: nd_la_tensordot (la.h), numpy's tensordot(A, B, axes=k) as one distributed
 * matrix product: in row-major order the free axes of A followed by its contracted axes
 * are already an M-by-K matrix, and B's contracted axes followed by its free axes a
 * K-by-N one, so both operands are pure reshapes (arr.h), the product is nd_la_matmul
 * (ScaLAPACK, or the device backend when one is active), and the M-by-N result read
 * row-major is the result's free dimensions.  LANGUAGE.md "Arrays (n-d)".
 */
#include "la/la.h"

#include "runtime/arr.h"

#include <string.h>

/* Rank-local: the product of shape[0..n) (1 for n == 0); within int64 because every
 * caller passes part of a valid array's shape. */
static int64_t prod(int n, const int64_t *shape)
{
    int64_t p = 1;
    for (int k = 0; k < n; k++) p *= shape[k];
    return p;
}

/* Rank-local: the shape checks, before any communication. */
static nd_status check(const nd_dm *A, const nd_dm *B, int k)
{
    int na = nd_arr_ndim(A), nb = nd_arr_ndim(B);
    const int64_t *sa = nd_arr_shape(A), *sb = nd_arr_shape(B);
    char ba[ND_SHAPE_STR], bb[ND_SHAPE_STR];
    ND_CHECK(k >= 0, ND_EPROG, "tensordot: the number of axes must be at least 0, got %d", k);
    bool ok = k <= na && k <= nb;
    for (int i = 0; ok && i < k; i++) ok = sa[na - k + i] == sb[i];
    ND_CHECK(ok, ND_EPROG,
             "tensordot: shape mismatch: %s and %s (the last %d axes of the first must "
             "equal the first %d of the second)",
             nd_arr_shape_str(na, sa, ba), nd_arr_shape_str(nb, sb, bb), k, k);
    ND_CHECK(na + nb - 2 * k <= ND_MAXDIM, ND_EPROG,
             "tensordot: the result of %s and %s would have more than %d dimensions",
             nd_arr_shape_str(na, sa, ba), nd_arr_shape_str(nb, sb, bb), ND_MAXDIM);
    return ND_OK;
}

/* Rank-local: whether A is already the rows-by-cols matrix. */
static bool is_matrix(const nd_dm *A, int64_t rows, int64_t cols)
{
    return nd_arr_ndim(A) == 2 && nd_arr_shape(A)[0] == rows && nd_arr_shape(A)[1] == cols;
}

/* Collective: *out = A read as rows-by-cols, or NULL when A is that already (*use
 * points at what to multiply). */
static nd_status as_matrix(const nd_dm *A, int64_t rows, int64_t cols, nd_dm **out,
                           const nd_dm **use)
{
    *out = NULL;
    *use = A;
    if (is_matrix(A, rows, cols)) return ND_OK;
    int64_t s[2] = {rows, cols};
    ND_TRY(nd_arr_reshape(A, 2, s, out));
    *use = *out;
    return ND_OK;
}

nd_status nd_la_tensordot(const nd_dm *A, const nd_dm *B, int k, nd_dm **out,
                          double *scalar)
{
    *out = NULL;
    ND_TRY(check(A, B, k));
    int na = nd_arr_ndim(A), nb = nd_arr_ndim(B), nr = na + nb - 2 * k;
    const int64_t *sa = nd_arr_shape(A), *sb = nd_arr_shape(B);
    int64_t K = prod(k, sb), M = prod(na - k, sa), N = prod(nb - k, sb + k);
    int64_t rshape[ND_MAXDIM];
    memcpy(rshape, sa, (size_t)(na - k) * sizeof *rshape);
    memcpy(rshape + (na - k), sb + k, (size_t)(nb - k) * sizeof *rshape);
    if (nr > 0) ND_TRY(nd_arr_check_shape("tensordot", nr, rshape));
    nd_dm *A2 = NULL, *B2 = NULL, *C = NULL;
    const nd_dm *a = NULL, *b = NULL;
    nd_status st = as_matrix(A, M, K, &A2, &a);
    if (st == ND_OK) st = as_matrix(B, K, N, &B2, &b);
    if (st == ND_OK) st = nd_la_matmul(a, b, &C);
    nd_dm_free(A2);
    nd_dm_free(B2);
    if (st != ND_OK) return st;
    if (nr == 0) {
        /* A full contraction: C is 1x1. */
        st = nd_dm_get(C, 0, 0, scalar);
        nd_dm_free(C);
        return st;
    }
    if (nr == 2 && is_matrix(C, rshape[0], rshape[1])) {
        *out = C;
        return ND_OK;
    }
    st = nd_arr_reshape(C, nr, rshape, out);
    nd_dm_free(C);
    if (st != ND_OK) *out = NULL;
    return st;
}
