/* check_arr_shape.c: unit tests of the restructuring functions of src/runtime/arr.h
 * (arr_shape.c: permute, transpose, concat, stack, kron) and of nd_la_tensordot (la.h).
 *
 * Runs under mpirun at any rank count (tests/unit/arr_ranks.sh: 2, 3, 4, and 3 with
 * a block size of 3 so that small arrays spread over every rank).  Each result is
 * gathered row-major and compared with a serial reference computed here by index
 * arithmetic on the same row-major data: exactly for the data movement and kron (one
 * product per element), within rounding for tensordot.  Assertions come after the
 * collectives of a test, so a failure does not strand ranks.
 */
#include "nd_check.h"
#include "common/alloc.h"
#include "la/la.h"
#include "runtime/arr.h"
#include "runtime/spmd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK_ERR(call, st, want)                                                           \
    do {                                                                                 \
        ck_assert_int_eq((call), (st));                                                  \
        ck_assert_msg(strstr(nd_err_msg(), (want)) != NULL, "message '%s' lacks '%s'",     \
                      nd_err_msg(), (want));                                             \
    } while (0)

/* ---- helpers: row-major host copies ---- */

static int64_t count(int nd, const int64_t *shape)
{
    int64_t n = 1;
    for (int k = 0; k < nd; k++) n *= shape[k];
    return n;
}

/* Distinct, sign-varying values that depend on (seed, flat index) only. */
static double *mk_data(int nd, const int64_t *shape, int seed)
{
    int64_t n = count(nd, shape);
    double *d = ND_ALLOC_N(double, (size_t)n);
    ck_assert_ptr_nonnull(d);
    for (int64_t i = 0; i < n; i++) d[i] = sin(0.37 * (double)i + seed) * (1 + seed) + 0.001 * i;
    return d;
}

/* A new array with mk_data's values; *data (when not NULL) keeps them. */
static nd_dm *mk(int nd, const int64_t *shape, int seed, double **data)
{
    double *d = mk_data(nd, shape, seed);
    nd_dm *A = NULL;
    ck_assert_int_eq(nd_arr_from_rowmajor(nd, shape, d, &A), ND_OK);
    if (data) *data = d;
    else ND_FREE_N(d, (size_t)count(nd, shape));
    return A;
}

/* Collective: A's shape must be (nd, shape); returns its row-major elements. */
static double *gather(const nd_dm *A, int nd, const int64_t *shape)
{
    double *d = NULL;
    ck_assert_int_eq(nd_arr_to_rowmajor(A, &d), ND_OK);
    ck_assert_int_eq(nd_arr_ndim(A), nd);
    for (int k = 0; k < nd; k++) ck_assert_int_eq(nd_arr_shape(A)[k], shape[k]);
    return d;
}

/* Rank-local: the flat row-major index -> multi-index. */
static void unflat(int nd, const int64_t *shape, int64_t f, int64_t *idx)
{
    for (int k = nd - 1; k >= 0; k--) {
        idx[k] = f % shape[k];
        f /= shape[k];
    }
}

static int64_t flat(int nd, const int64_t *shape, const int64_t *idx)
{
    int64_t f = 0;
    for (int k = 0; k < nd; k++) f = f * shape[k] + idx[k];
    return f;
}

/* Collective: A equals the row-major ref of (nd, shape) exactly (then frees A and ref). */
static void expect_exact(nd_dm *A, int nd, const int64_t *shape, double *ref)
{
    double *got = gather(A, nd, shape);
    int64_t n = count(nd, shape);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == ref[i], "element %lld: %.17g, want %.17g", (long long)i,
                      got[i], ref[i]);
    ND_FREE_N(got, (size_t)n);
    ND_FREE_N(ref, (size_t)n);
    nd_dm_free(A);
}

/* ---- permute and .T ---- */

/* The reference: out[idx] = a[j] with j's axis axes[k] equal to idx[k]. */
static double *ref_permute(int nd, const int64_t *shape, const double *a, const int *axes,
                           int64_t *oshape)
{
    for (int k = 0; k < nd; k++) oshape[k] = shape[axes[k]];
    int64_t n = count(nd, shape), idx[ND_MAXDIM], src[ND_MAXDIM];
    double *r = ND_ALLOC_N(double, (size_t)n);
    for (int64_t f = 0; f < n; f++) {
        unflat(nd, oshape, f, idx);
        for (int k = 0; k < nd; k++) src[axes[k]] = idx[k];
        r[f] = a[flat(nd, shape, src)];
    }
    return r;
}

static void check_permute(int nd, const int64_t *shape, const int *axes, int seed)
{
    double *a = NULL;
    nd_dm *A = mk(nd, shape, seed, &a), *P = NULL;
    int64_t oshape[ND_MAXDIM];
    double *ref = ref_permute(nd, shape, a, axes, oshape);
    ck_assert_int_eq(nd_arr_permute(A, axes, &P), ND_OK);
    expect_exact(P, nd, oshape, ref);
    ND_FREE_N(a, (size_t)count(nd, shape));
    nd_dm_free(A);
}

/* Every permutation of a 3-D array whose fold is neither its 2-D nor its 1-D shape. */
START_TEST(test_permute_3d)
{
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    const int64_t shapes[][3] = {{6, 70, 11}, {3, 4, 5}, {1, 9, 1}, {13, 1, 7}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int p = 0; p < 6; p++) check_permute(3, shapes[s], perms[p], (int)(s + p));
}
END_TEST

START_TEST(test_permute_other_dims)
{
    const int64_t s1[1] = {300}, s2[2] = {70, 9}, s4[4] = {3, 5, 2, 17};
    const int64_t s8[8] = {2, 3, 1, 2, 3, 2, 1, 4};
    const int a1[1] = {0}, a2[2] = {1, 0}, a2i[2] = {0, 1}, a4[4] = {2, 0, 3, 1};
    const int a8[8] = {7, 1, 5, 3, 0, 6, 2, 4};
    check_permute(1, s1, a1, 1);
    check_permute(2, s2, a2, 2);
    check_permute(2, s2, a2i, 3);
    check_permute(4, s4, a4, 4);
    check_permute(8, s8, a8, 5);
}
END_TEST

START_TEST(test_transpose)
{
    const int64_t s3[3] = {4, 30, 7}, s2[2] = {33, 65}, s1[1] = {100};
    const int r3[3] = {2, 1, 0}, r2[2] = {1, 0}, r1[1] = {0};
    const struct {
        int nd;
        const int64_t *shape;
        const int *rev;
    } cases[] = {{3, s3, r3}, {2, s2, r2}, {1, s1, r1}};
    for (int c = 0; c < 3; c++) {
        double *a = NULL;
        nd_dm *A = mk(cases[c].nd, cases[c].shape, c, &a), *T = NULL;
        int64_t oshape[ND_MAXDIM];
        double *ref = ref_permute(cases[c].nd, cases[c].shape, a, cases[c].rev, oshape);
        ck_assert_int_eq(nd_arr_transpose(A, &T), ND_OK);
        expect_exact(T, cases[c].nd, oshape, ref);
        ND_FREE_N(a, (size_t)count(cases[c].nd, cases[c].shape));
        nd_dm_free(A);
    }
}
END_TEST

START_TEST(test_permute_errors)
{
    const int64_t s[3] = {2, 3, 4};
    nd_dm *A = mk(3, s, 0, NULL), *P = NULL;
    const int rep[3] = {0, 1, 1}, out[3] = {0, 3, 1}, neg[3] = {-1, 0, 1};
    CK_ERR(nd_arr_permute(A, rep, &P), ND_EPROG, "permute: axis 1 is repeated");
    ck_assert_ptr_null(P);
    CK_ERR(nd_arr_permute(A, out, &P), ND_EPROG, "permute: axis 3 is out of range for a 3-d");
    CK_ERR(nd_arr_permute(A, neg, &P), ND_EPROG, "out of range");
    ck_assert_ptr_null(P);
    nd_dm_free(A);
}
END_TEST

/* ---- concat and stack ---- */

/* Reference concat: walks the output; each index picks the part by its axis coordinate. */
static double *ref_concat(int nd, int n, const int64_t (*shapes)[ND_MAXDIM],
                          double *const *data, int ax, int64_t *oshape)
{
    memcpy(oshape, shapes[0], ND_MAXDIM * sizeof *oshape);
    oshape[ax] = 0;
    for (int p = 0; p < n; p++) oshape[ax] += shapes[p][ax];
    int64_t total = count(nd, oshape), idx[ND_MAXDIM];
    double *r = ND_ALLOC_N(double, (size_t)total);
    for (int64_t f = 0; f < total; f++) {
        unflat(nd, oshape, f, idx);
        int p = 0;
        while (idx[ax] >= shapes[p][ax]) idx[ax] -= shapes[p++][ax];
        r[f] = data[p][flat(nd, shapes[p], idx)];
    }
    return r;
}

static void check_concat(int nd, int n, const int64_t (*shapes)[ND_MAXDIM], int axis, int ax)
{
    nd_dm *parts[4];
    double *data[4];
    for (int p = 0; p < n; p++) parts[p] = mk(nd, shapes[p], p + 10 * ax, &data[p]);
    int64_t oshape[ND_MAXDIM];
    double *ref = ref_concat(nd, n, shapes, data, ax, oshape);
    nd_dm *R = NULL;
    ck_assert_int_eq(nd_arr_concat(n, (const nd_dm *const *)parts, axis, &R), ND_OK);
    expect_exact(R, nd, oshape, ref);
    for (int p = 0; p < n; p++) {
        ND_FREE_N(data[p], (size_t)count(nd, shapes[p]));
        nd_dm_free(parts[p]);
    }
}

START_TEST(test_concat)
{
    /* 3-D along each axis, three parts of different lengths there. */
    for (int ax = 0; ax < 3; ax++) {
        int64_t shapes[3][ND_MAXDIM];
        const int64_t base[3] = {5, 12, 9}, len[3] = {1, 7, 30};
        for (int p = 0; p < 3; p++) {
            for (int k = 0; k < ND_MAXDIM; k++) shapes[p][k] = k < 3 ? base[k] : 1;
            shapes[p][ax] = len[p];
        }
        check_concat(3, 3, (const int64_t(*)[ND_MAXDIM])shapes, ax, ax);
        check_concat(3, 3, (const int64_t(*)[ND_MAXDIM])shapes, ax - 3, ax); /* negative */
    }
    const int64_t one[2][ND_MAXDIM] = {{100, 1, 1, 1, 1, 1, 1, 1}, {57, 1, 1, 1, 1, 1, 1, 1}};
    check_concat(1, 2, one, 0, 0);
    const int64_t two[2][ND_MAXDIM] = {{70, 3, 1, 1, 1, 1, 1, 1}, {70, 66, 1, 1, 1, 1, 1, 1}};
    check_concat(2, 2, two, 1, 1);
    const int64_t single[1][ND_MAXDIM] = {{4, 5, 6, 1, 1, 1, 1, 1}};
    check_concat(3, 1, single, 2, 2);
}
END_TEST

static double *ref_stack(int nd, int n, const int64_t *shape, double *const *data, int ax,
                         int64_t *oshape)
{
    for (int k = 0, j = 0; k <= nd; k++) oshape[k] = k == ax ? n : shape[j++];
    int64_t total = count(nd + 1, oshape), idx[ND_MAXDIM], pidx[ND_MAXDIM];
    double *r = ND_ALLOC_N(double, (size_t)total);
    for (int64_t f = 0; f < total; f++) {
        unflat(nd + 1, oshape, f, idx);
        for (int k = 0, j = 0; k <= nd; k++)
            if (k != ax) pidx[j++] = idx[k];
        r[f] = data[idx[ax]][flat(nd, shape, pidx)];
    }
    return r;
}

static void check_stack(int nd, const int64_t *shape, int n, int axis, int ax)
{
    nd_dm *parts[4];
    double *data[4];
    for (int p = 0; p < n; p++) parts[p] = mk(nd, shape, 3 * p + ax, &data[p]);
    int64_t oshape[ND_MAXDIM];
    double *ref = ref_stack(nd, n, shape, data, ax, oshape);
    nd_dm *R = NULL;
    ck_assert_int_eq(nd_arr_stack(n, (const nd_dm *const *)parts, axis, &R), ND_OK);
    expect_exact(R, nd + 1, oshape, ref);
    for (int p = 0; p < n; p++) {
        ND_FREE_N(data[p], (size_t)count(nd, shape));
        nd_dm_free(parts[p]);
    }
}

START_TEST(test_stack)
{
    const int64_t s2[2] = {33, 20}, s1[1] = {130}, s3[3] = {4, 5, 6};
    for (int ax = 0; ax <= 2; ax++) {
        check_stack(2, s2, 3, ax, ax);
        check_stack(2, s2, 4, ax - 3, ax);
    }
    check_stack(1, s1, 2, 0, 0);
    check_stack(1, s1, 3, 1, 1);
    check_stack(3, s3, 2, 3, 3);
    check_stack(3, s3, 1, 1, 1);
}
END_TEST

START_TEST(test_concat_stack_errors)
{
    const int64_t sa[3] = {2, 3, 4}, sb[3] = {2, 5, 4}, sc[2] = {2, 3};
    nd_dm *A = mk(3, sa, 0, NULL), *B = mk(3, sb, 1, NULL), *C = mk(2, sc, 2, NULL);
    nd_dm *R = NULL;
    const nd_dm *ab[2] = {A, B}, *ac[2] = {A, C}, *aa[2] = {A, A};
    CK_ERR(nd_arr_concat(2, ab, 0, &R), ND_EPROG, "concat: shape mismatch: 2x3x4 and 2x5x4");
    CK_ERR(nd_arr_concat(2, ab, 2, &R), ND_EPROG, "except on axis 2");
    CK_ERR(nd_arr_concat(2, ac, 0, &R), ND_EPROG, "concat: shape mismatch: 2x3x4 and 2x3");
    CK_ERR(nd_arr_concat(2, aa, 3, &R), ND_EPROG, "concat: axis 3 is out of range");
    CK_ERR(nd_arr_concat(2, aa, -4, &R), ND_EPROG, "concat: axis -4 is out of range");
    CK_ERR(nd_arr_concat(0, aa, 0, &R), ND_EPROG, "concat: needs at least one array");
    ck_assert_ptr_null(R);
    CK_ERR(nd_arr_stack(2, ab, 0, &R), ND_EPROG, "stack: shape mismatch: 2x3x4 and 2x5x4");
    CK_ERR(nd_arr_stack(2, ac, 1, &R), ND_EPROG, "stack: shape mismatch: 2x3x4 and 2x3");
    CK_ERR(nd_arr_stack(2, aa, 4, &R), ND_EPROG, "stack: axis 4 is out of range");
    CK_ERR(nd_arr_stack(0, aa, 0, &R), ND_EPROG, "stack: needs at least one array");
    ck_assert_ptr_null(R);
    /* The result would have 9 dimensions. */
    const int64_t s8[8] = {1, 2, 1, 2, 1, 2, 1, 2};
    nd_dm *E = mk(8, s8, 3, NULL);
    const nd_dm *ee[2] = {E, E};
    CK_ERR(nd_arr_stack(2, ee, 0, &R), ND_EPROG, "more than 8 dimensions");
    ck_assert_ptr_null(R);
    nd_dm_free(A), nd_dm_free(B), nd_dm_free(C), nd_dm_free(E);
}
END_TEST

/* ---- kron ---- */

START_TEST(test_kron)
{
    const int64_t shapes[][2][2] = {
        {{7, 5}, {13, 11}}, {{1, 1}, {3, 4}}, {{20, 1}, {1, 9}}, {{2, 3}, {1, 1}}, {{3, 70}, {2, 2}}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const int64_t *sa = shapes[c][0], *sb = shapes[c][1];
        double *a = NULL, *b = NULL;
        nd_dm *A = mk(2, sa, (int)c, &a), *B = mk(2, sb, (int)c + 7, &b), *K = NULL;
        int64_t sk[2] = {sa[0] * sb[0], sa[1] * sb[1]};
        double *ref = ND_ALLOC_N(double, (size_t)(sk[0] * sk[1]));
        for (int64_t i = 0; i < sk[0]; i++)
            for (int64_t j = 0; j < sk[1]; j++)
                ref[i * sk[1] + j] = a[(i / sb[0]) * sa[1] + j / sb[1]] *
                                     b[(i % sb[0]) * sb[1] + j % sb[1]];
        ck_assert_int_eq(nd_arr_kron(A, B, &K), ND_OK);
        expect_exact(K, 2, sk, ref);
        ND_FREE_N(a, (size_t)(sa[0] * sa[1]));
        ND_FREE_N(b, (size_t)(sb[0] * sb[1]));
        nd_dm_free(A), nd_dm_free(B);
    }
    const int64_t s3[3] = {2, 2, 2}, s1[1] = {4}, s2[2] = {2, 2};
    nd_dm *T = mk(3, s3, 0, NULL), *V = mk(1, s1, 0, NULL), *M = mk(2, s2, 0, NULL), *K = NULL;
    CK_ERR(nd_arr_kron(T, M, &K), ND_EPROG, "kron: both arguments must be 2-D arrays, not 2x2x2 and 2x2");
    CK_ERR(nd_arr_kron(M, V, &K), ND_EPROG, "not 2x2 and 4");
    ck_assert_ptr_null(K);
    nd_dm_free(T), nd_dm_free(V), nd_dm_free(M);
}
END_TEST

/* ---- tensordot ---- */

/* numpy.tensordot(a, b, axes=k) by loops: out[i, j] = sum_c a[i, c] * b[c, j] over the
 * flattened free (i, j) and contracted (c) index ranges, in long double. */
static double *ref_tensordot(int na, const int64_t *sa, const double *a, int nb,
                             const int64_t *sb, const double *b, int k)
{
    int64_t K = count(k, sb), M = count(na - k, sa), N = count(nb - k, sb + k);
    double *r = ND_ALLOC_N(double, (size_t)(M * N));
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            long double s = 0;
            for (int64_t c = 0; c < K; c++) s += (long double)a[i * K + c] * b[c * N + j];
            r[i * N + j] = (double)s;
        }
    return r;
}

static void check_tensordot(int na, const int64_t *sa, int nb, const int64_t *sb, int k)
{
    double *a = NULL, *b = NULL, s = NAN;
    nd_dm *A = mk(na, sa, na + k, &a), *B = mk(nb, sb, nb + 2 * k + 1, &b), *R = NULL;
    double *ref = ref_tensordot(na, sa, a, nb, sb, b, k);
    int nr = na + nb - 2 * k;
    int64_t rshape[ND_MAXDIM];
    memcpy(rshape, sa, (size_t)(na - k) * sizeof *rshape);
    memcpy(rshape + (na - k), sb + k, (size_t)(nb - k) * sizeof *rshape);
    ck_assert_int_eq(nd_la_tensordot(A, B, k, &R, &s), ND_OK);
    int64_t n = count(nr, rshape);
    if (nr == 0) {
        ck_assert_ptr_null(R);
        ck_assert_msg(fabs(s - ref[0]) <= 1e-12 * (1 + fabs(ref[0])), "%.17g, want %.17g", s,
                      ref[0]);
    } else {
        double *got = gather(R, nr, rshape);
        for (int64_t i = 0; i < n; i++)
            ck_assert_msg(fabs(got[i] - ref[i]) <= 1e-12 * (1 + fabs(ref[i])),
                          "k=%d element %lld: %.17g, want %.17g", k, (long long)i, got[i],
                          ref[i]);
        ND_FREE_N(got, (size_t)n);
        nd_dm_free(R);
    }
    ND_FREE_N(ref, (size_t)n);
    ND_FREE_N(a, (size_t)count(na, sa));
    ND_FREE_N(b, (size_t)count(nb, sb));
    nd_dm_free(A), nd_dm_free(B);
}

START_TEST(test_tensordot)
{
    const int64_t a3[3] = {4, 6, 70}, b3[3] = {6, 70, 5}, b2[2] = {70, 9};
    check_tensordot(3, a3, 3, b3, 2); /* 4x5 */
    check_tensordot(3, a3, 2, b2, 1); /* 4x6x9 */
    const int64_t m[2] = {30, 40}, n[2] = {40, 20}, v[1] = {40}, w[1] = {30};
    check_tensordot(2, m, 2, n, 1); /* the plain product */
    check_tensordot(2, m, 1, v, 1); /* 1-D result */
    check_tensordot(1, w, 2, m, 1); /* 1-D result */
    check_tensordot(2, m, 2, m, 2); /* full contraction: a float */
    check_tensordot(1, v, 1, v, 1); /* dot */
    const int64_t s[2] = {3, 4}, t[1] = {5};
    check_tensordot(2, s, 1, t, 0); /* outer: 3x4x5 */
    check_tensordot(1, t, 1, t, 0); /* outer: 5x5 */
    const int64_t c4[4] = {2, 3, 4, 5}, d3[3] = {3, 4, 5}, e4[4] = {4, 5, 2, 3};
    check_tensordot(4, c4, 3, d3, 3); /* 1-D of 2 */
    check_tensordot(4, c4, 4, e4, 2); /* 2x3x2x3 */
    check_tensordot(4, c4, 4, c4, 0); /* 8-D */
}
END_TEST

START_TEST(test_tensordot_errors)
{
    const int64_t sa[3] = {2, 3, 4}, sb[2] = {3, 4}, sc[2] = {4, 3};
    nd_dm *A = mk(3, sa, 0, NULL), *B = mk(2, sb, 1, NULL), *C = mk(2, sc, 2, NULL), *R = NULL;
    double s = 0;
    CK_ERR(nd_la_tensordot(A, C, 2, &R, &s), ND_EPROG,
           "tensordot: shape mismatch: 2x3x4 and 4x3 (the last 2 axes");
    CK_ERR(nd_la_tensordot(A, B, 1, &R, &s), ND_EPROG, "shape mismatch: 2x3x4 and 3x4");
    CK_ERR(nd_la_tensordot(B, A, 3, &R, &s), ND_EPROG, "shape mismatch: 3x4 and 2x3x4");
    CK_ERR(nd_la_tensordot(A, B, -1, &R, &s), ND_EPROG, "at least 0");
    const int64_t s5[5] = {1, 2, 1, 2, 1};
    nd_dm *F = mk(5, s5, 3, NULL);
    CK_ERR(nd_la_tensordot(F, F, 0, &R, &s), ND_EPROG, "more than 8 dimensions");
    ck_assert_ptr_null(R);
    nd_dm_free(A), nd_dm_free(B), nd_dm_free(C), nd_dm_free(F);
}
END_TEST

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    if (nd_spmd_init(&argc, &argv) != ND_OK) return 1;
    /* ND_CHECK_NB: a small block size spreads small arrays over every rank. */
    const char *nb = getenv("ND_CHECK_NB");
    nd_spmd_opts o = {.block_size = nb ? atoi(nb) : 0, .check_collectives = true};
    if (nd_spmd_configure(&o) != ND_OK) return 1;
    Suite *s = suite_create("arr_shape");
    const TTest *tests[] = {
        test_permute_3d, test_permute_other_dims, test_transpose, test_permute_errors,
        test_concat, test_stack, test_concat_stack_errors, test_kron, test_tensordot,
        test_tensordot_errors, NULL};
    nd_check_tcase(s, "core", 240, tests);
    /* Every test frees what it made: the allocator's live bytes come back (after one
     * array has started the grid, which keeps its own allocations). */
    const int64_t one[1] = {1};
    nd_dm *warm = NULL;
    if (nd_arr_alloc(1, one, &warm) != ND_OK) return 1;
    nd_dm_free(warm);
    size_t live = nd_alloc_live();
    int failed = nd_check_run(s, ND_CHECK_NOFORK | (nd_spmd_rank() == 0 ? 0 : ND_CHECK_QUIET));
    if (nd_alloc_live() != live) {
        fprintf(stderr, "check_arr_shape: %zu bytes leaked (rank %d)\n", nd_alloc_live() - live,
                nd_spmd_rank());
        failed++;
    }
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    nd_spmd_finalize(0);
    return any ? 1 : 0;
}
