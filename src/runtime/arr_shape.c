/* arr_shape.c: restructuring n-d arrays (arr.h "restructuring"): permute (and .T), concat,
 * stack and kron, each one strided gather (nd_arr_view) or a few strided scatters
 * (nd_arr_view_assign) into a new array, so that no rank ever holds a whole array.
 * Every shape and axis check runs before the first collective call, on replicated
 * shapes, so a bad argument fails alike on every rank.  Semantics: LANGUAGE.md
 * "Arrays (n-d)", "Restructuring" (numpy's transpose, concatenate, stack and kron).
 */
#include "runtime/arr.h"

#include <stdio.h>
#include <string.h>

/* ---- permute ---- */

/* Rank-local: ND_EPROG unless axes[0..nd) is a permutation of 0..nd-1. */
static nd_status check_perm(const char *fn, int nd, const int *axes)
{
    bool seen[ND_MAXDIM] = {false};
    for (int k = 0; k < nd; k++) {
        ND_CHECK(axes[k] >= 0 && axes[k] < nd, ND_EPROG,
                 "%s: axis %d is out of range for a %d-d array", fn, axes[k], nd);
        ND_CHECK(!seen[axes[k]], ND_EPROG, "%s: axis %d is repeated: not a permutation",
                 fn, axes[k]);
        seen[axes[k]] = true;
    }
    return ND_OK;
}

/* out[idx] = A[idx permuted back]: out's axis k is A's axis axes[k], so a step along it
 * moves A's stride of that axis.  2-D swaps go through nd_dm_transpose (PDTRAN, no
 * index lists) and the identity is a plain copy. */
nd_status nd_arr_permute(const nd_dm *A, const int *axes, nd_dm **out)
{
    *out = NULL;
    int nd = nd_arr_ndim(A);
    ND_TRY(check_perm("permute", nd, axes));
    bool identity = true;
    for (int k = 0; k < nd; k++) identity = identity && axes[k] == k;
    if (identity) return nd_dm_copy(A, out);
    if (nd == 2) return nd_dm_transpose(A, out);
    const int64_t *shape = nd_arr_shape(A);
    int64_t sstride[ND_MAXDIM], oshape[ND_MAXDIM], ostride[ND_MAXDIM];
    nd_arr_strides(nd, shape, sstride);
    for (int k = 0; k < nd; k++) {
        oshape[k] = shape[axes[k]];
        ostride[k] = sstride[axes[k]];
    }
    return nd_arr_view(A, nd, oshape, 0, ostride, out);
}

/* .T: a matrix's transpose, the axes reversed for any other dimension (numpy). */
nd_status nd_arr_transpose(const nd_dm *A, nd_dm **out)
{
    int nd = nd_arr_ndim(A), axes[ND_MAXDIM];
    for (int k = 0; k < nd; k++) axes[k] = nd - 1 - k;
    return nd_arr_permute(A, axes, out);
}

/* ---- concat and stack ---- */

/* Rank-local: ND_EPROG "FN: shape mismatch: 2x3 and 2x4 WHY" naming both shapes. */
static nd_status mismatch(const char *fn, const nd_dm *A, const nd_dm *B, const char *why)
{
    char sa[ND_SHAPE_STR], sb[ND_SHAPE_STR];
    return nd_err_set(ND_EPROG, "%s: shape mismatch: %s and %s%s", fn,
                      nd_arr_shape_str(nd_arr_ndim(A), nd_arr_shape(A), sa),
                      nd_arr_shape_str(nd_arr_ndim(B), nd_arr_shape(B), sb), why);
}

/* Rank-local: every part has parts[0]'s shape, except on axis skip (-1: none). */
static nd_status check_parts(const char *fn, int n, const nd_dm *const *parts, int skip,
                             const char *why)
{
    ND_CHECK(n >= 1, ND_EPROG, "%s: needs at least one array", fn);
    int nd = nd_arr_ndim(parts[0]);
    const int64_t *s0 = nd_arr_shape(parts[0]);
    for (int p = 1; p < n; p++) {
        const int64_t *s = nd_arr_shape(parts[p]);
        bool ok = nd_arr_ndim(parts[p]) == nd;
        for (int k = 0; ok && k < nd; k++) ok = k == skip || s[k] == s0[k];
        if (!ok) return mismatch(fn, parts[0], parts[p], why);
    }
    return ND_OK;
}

/* Each part scattered into the output at its offset along the axis: the output's own
 * strides, starting at the part's first element. */
nd_status nd_arr_concat(int n, const nd_dm *const *parts, int axis, nd_dm **out)
{
    *out = NULL;
    ND_CHECK(n >= 1, ND_EPROG, "concat: needs at least one array");
    int nd = nd_arr_ndim(parts[0]), ax = 0;
    ND_TRY(nd_arr_axis("concat", axis, nd, &ax));
    char why[64];
    snprintf(why, sizeof why, " (they must agree except on axis %d)", ax);
    ND_TRY(check_parts("concat", n, parts, ax, why));
    int64_t oshape[ND_MAXDIM], ostride[ND_MAXDIM], len = 0;
    memcpy(oshape, nd_arr_shape(parts[0]), sizeof oshape);
    for (int p = 0; p < n; p++) {
        int64_t d = nd_arr_shape(parts[p])[ax];
        ND_CHECK(len <= INT64_MAX - d, ND_EPROG, "concat: the result is too large");
        len += d;
    }
    oshape[ax] = len;
    ND_TRY(nd_arr_check_shape("concat", nd, oshape));
    if (n == 1) return nd_dm_copy(parts[0], out);
    nd_arr_strides(nd, oshape, ostride);
    nd_dm *R = NULL;
    ND_TRY(nd_arr_alloc(nd, oshape, &R));
    int64_t at = 0;
    for (int p = 0; p < n; p++) {
        /* Matrices are blocks of a matrix: the block copy (PDGEMR2D) needs no index lists. */
        nd_status st = nd == 2 ? nd_dm_assign(R, ax == 0 ? at : 0, ax == 1 ? at : 0, parts[p])
                               : nd_arr_view_assign(R, nd, nd_arr_shape(parts[p]),
                                                    at * ostride[ax], ostride, parts[p]);
        if (st != ND_OK) {
            nd_dm_free(R);
            return st;
        }
        at += nd_arr_shape(parts[p])[ax];
    }
    *out = R;
    return ND_OK;
}

/* The output has a new axis of n at `axis`; part p is the slab at index p of it: the
 * output's strides without that axis, from offset p * stride[axis]. */
nd_status nd_arr_stack(int n, const nd_dm *const *parts, int axis, nd_dm **out)
{
    *out = NULL;
    ND_CHECK(n >= 1, ND_EPROG, "stack: needs at least one array");
    int nd = nd_arr_ndim(parts[0]), ax = 0;
    ND_CHECK(nd < ND_MAXDIM, ND_EPROG, "stack: the result would have more than %d dimensions",
             ND_MAXDIM);
    ND_TRY(nd_arr_axis("stack", axis, nd + 1, &ax));
    ND_TRY(check_parts("stack", n, parts, -1, " (they must be equal)"));
    const int64_t *s = nd_arr_shape(parts[0]);
    int64_t oshape[ND_MAXDIM], ostride[ND_MAXDIM], pstride[ND_MAXDIM];
    for (int k = 0, j = 0; k <= nd; k++) oshape[k] = k == ax ? n : s[j++];
    ND_TRY(nd_arr_check_shape("stack", nd + 1, oshape));
    nd_arr_strides(nd + 1, oshape, ostride);
    for (int k = 0, j = 0; k <= nd; k++)
        if (k != ax) pstride[j++] = ostride[k];
    nd_dm *R = NULL;
    ND_TRY(nd_arr_alloc(nd + 1, oshape, &R));
    for (int p = 0; p < n; p++) {
        nd_status st = nd_arr_view_assign(R, nd, s, (int64_t)p * ostride[ax], pstride,
                                          parts[p]);
        if (st != ND_OK) {
            nd_dm_free(R);
            return st;
        }
    }
    *out = R;
    return ND_OK;
}

/* ---- kron ---- */

/* kron(A, B)[i1*m2 + i2, j1*n2 + j2] = A[i1, j1] * B[i2, j2]: that is the row-major
 * (m1, m2, n1, n2) array A4 * B4 with A viewed as (m1, 1, n1, 1) and B as (1, m2, 1, n2)
 * (broadcasting), read as (m1*m2, n1*n2). */
nd_status nd_arr_kron(const nd_dm *A, const nd_dm *B, nd_dm **out)
{
    *out = NULL;
    char sa[ND_SHAPE_STR], sb[ND_SHAPE_STR];
    ND_CHECK(nd_arr_ndim(A) == 2 && nd_arr_ndim(B) == 2, ND_EPROG,
             "kron: both arguments must be 2-D arrays, not %s and %s",
             nd_arr_shape_str(nd_arr_ndim(A), nd_arr_shape(A), sa),
             nd_arr_shape_str(nd_arr_ndim(B), nd_arr_shape(B), sb));
    int64_t m1 = nd_arr_shape(A)[0], n1 = nd_arr_shape(A)[1];
    int64_t m2 = nd_arr_shape(B)[0], n2 = nd_arr_shape(B)[1];
    int64_t s4[4] = {m1, m2, n1, n2};
    ND_TRY(nd_arr_check_shape("kron", 4, s4));
    int64_t sk[2] = {m1 * m2, n1 * n2};
    ND_TRY(nd_arr_check_shape("kron", 2, sk));
    int64_t sa4[4] = {m1, 1, n1, 1}, sb4[4] = {1, m2, 1, n2};
    nd_dm *A4 = NULL, *B4 = NULL, *P = NULL;
    nd_status st = nd_arr_reshape(A, 4, sa4, &A4);
    if (st == ND_OK) st = nd_arr_reshape(B, 4, sb4, &B4);
    if (st == ND_OK) st = nd_arr_binop(ND_EW_MUL, A4, B4, &P);
    if (st == ND_OK) st = nd_arr_reshape(P, 2, sk, out);
    nd_dm_free(A4);
    nd_dm_free(B4);
    nd_dm_free(P);
    if (st != ND_OK) *out = NULL;
    return st;
}
