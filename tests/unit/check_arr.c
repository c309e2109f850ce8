/* check_arr.c: unit tests of the n-d array core (src/runtime/arr.c) against serial
 * references computed here on replicated row-major data.  Run at 1 rank by `make check`
 * and at 2, 3 and 4 ranks by arr_ranks.sh; every test is also run with tiny move pieces
 * so that element moves cross many piece boundaries.
 */
#include "nd_check.h"
#include "common/alloc.h"
#include "runtime/arr.h"
#include "runtime/dm_impl.h"
#include "runtime/spmd.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Replicated test data: element f of any shape is val(f). */
static double val(int64_t f) { return (double)((f * 7919) % 1009) - 500.25; }

static int64_t total_of(int nd, const int64_t *shape)
{
    int64_t t = 1;
    for (int k = 0; k < nd; k++) t *= shape[k];
    return t;
}

static nd_dm *mk(int nd, const int64_t *shape)
{
    int64_t t = total_of(nd, shape);
    double *d = ND_ALLOC_N(double, (size_t)t);
    for (int64_t f = 0; f < t; f++) d[f] = val(f);
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

static bool same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static void unflat(int64_t f, int nd, const int64_t *shape, int64_t *idx)
{
    for (int k = nd - 1; k >= 0; k--) idx[k] = f % shape[k], f /= shape[k];
}

static const int64_t shapes[][ND_MAXDIM + 1] = {
    /* nd, dims... */
    {1, 1}, {1, 7}, {1, 4096}, {1, 10007}, {1, 4160}, {2, 70, 90}, {2, 1, 5},
    {3, 3, 40, 70}, {3, 4, 5, 6}, {3, 70, 2, 3}, {4, 2, 3, 4, 5}, {8, 2, 1, 2, 1, 3, 1, 2, 2},
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

START_TEST(test_fold_roundtrip)
{
    for (size_t s = 0; s < NSHAPES; s++) {
        int nd = (int)shapes[s][0];
        const int64_t *sh = shapes[s] + 1;
        nd_dm *A = mk(nd, sh);
        int64_t t = total_of(nd, sh);
        ck_assert_int_eq(nd_arr_ndim(A), nd);
        ck_assert_int_eq(nd_arr_size(A), t);
        for (int k = 0; k < nd; k++) ck_assert_int_eq(nd_arr_shape(A)[k], sh[k]);
        if (nd == 2) ck_assert(nd_dm_rows(A) == sh[0] && nd_dm_cols(A) == sh[1]);
        double *d = rowmajor(A);
        for (int64_t f = 0; f < t; f++) ck_assert(same_bits(d[f], val(f)));
        ND_FREE_N(d, (size_t)t);
        /* element access by multi-index */
        int64_t idx[ND_MAXDIM];
        int64_t probe[3] = {0, t / 2, t - 1};
        for (int q = 0; q < 3; q++) {
            double v = 0;
            unflat(probe[q], nd, sh, idx);
            ck_assert_int_eq(nd_arr_get(A, idx, &v), ND_OK);
            ck_assert(same_bits(v, val(probe[q])) || (q > 0 && probe[q] == probe[0]));
            ck_assert_int_eq(nd_arr_set(A, idx, -1.5), ND_OK);
            ck_assert_int_eq(nd_arr_get(A, idx, &v), ND_OK);
            ck_assert(v == -1.5);
        }
        nd_dm_free(A);
    }
}
END_TEST

START_TEST(test_fetch_deposit)
{
    const int64_t sh[3] = {3, 40, 70};
    nd_dm *A = mk(3, sh), *B = NULL;
    int64_t t = total_of(3, sh);
    /* Every rank asks for a different, repeating, unordered set. */
    size_t n = 997 + 13 * (size_t)nd_spmd_rank();
    int64_t *flats = ND_ALLOC_N(int64_t, n);
    double *v = ND_ALLOC_N(double, n);
    for (size_t k = 0; k < n; k++)
        flats[k] = (int64_t)((k * 104729 + (size_t)nd_spmd_rank() * 31) % (size_t)t);
    ck_assert_int_eq(nd_arr_fetch(A, n, flats, v), ND_OK);
    for (size_t k = 0; k < n; k++) ck_assert(same_bits(v[k], val(flats[k])));
    /* Deposit: rank r writes the flat indices f with f % P == r. */
    ck_assert_int_eq(nd_arr_alloc(3, sh, &B), ND_OK);
    int P = nd_spmd_size(), r = nd_spmd_rank();
    size_t mine = 0;
    int64_t *df = ND_ALLOC_N(int64_t, (size_t)t);
    double *dv = ND_ALLOC_N(double, (size_t)t);
    for (int64_t f = r; f < t; f += P) df[mine] = f, dv[mine++] = val(f) * 2;
    ck_assert_int_eq(nd_arr_deposit(B, mine, df, dv), ND_OK);
    double *d = rowmajor(B);
    for (int64_t f = 0; f < t; f++) ck_assert(same_bits(d[f], val(f) * 2));
    ND_FREE_N(d, (size_t)t);
    ND_FREE_N(df, (size_t)t);
    ND_FREE_N(dv, (size_t)t);
    ND_FREE_N(flats, n);
    ND_FREE_N(v, n);
    nd_dm_free(A);
    nd_dm_free(B);
}
END_TEST

/* A transposing view of a 3-D array (axes reversed), a broadcast (stride 0) and a flip
 * (negative stride), each against the formula. */
START_TEST(test_view)
{
    const int64_t sh[3] = {3, 40, 70};
    nd_dm *A = mk(3, sh), *V = NULL;
    int64_t st[3];
    nd_arr_strides(3, sh, st);
    const int64_t tsh[3] = {70, 40, 3}, tst[3] = {st[2], st[1], st[0]};
    ck_assert_int_eq(nd_arr_view(A, 3, tsh, 0, tst, &V), ND_OK);
    double *d = rowmajor(V);
    int64_t idx[3];
    for (int64_t f = 0; f < 8400; f++) {
        unflat(f, 3, tsh, idx);
        ck_assert(same_bits(d[f], val(idx[2] * st[0] + idx[1] * st[1] + idx[0] * st[2])));
    }
    ND_FREE_N(d, 8400);
    nd_dm_free(V);
    /* (5, 40, 70) from A[1] repeated along a new first axis, and flipped on the last */
    const int64_t bsh[3] = {5, 40, 70}, bst[3] = {0, st[1], -1};
    ck_assert_int_eq(nd_arr_view(A, 3, bsh, st[0] + 69, bst, &V), ND_OK);
    d = rowmajor(V);
    for (int64_t f = 0; f < 14000; f++) {
        unflat(f, 3, bsh, idx);
        ck_assert(same_bits(d[f], val(st[0] + idx[1] * st[1] + 69 - idx[2])));
    }
    ND_FREE_N(d, 14000);
    /* and back: write V[0] reversed into a zero array through the same view */
    nd_dm *Z = NULL, *V0 = NULL;
    const int64_t one[3] = {1, 40, 70};
    ck_assert_int_eq(nd_arr_view(A, 3, one, st[0] + 69, bst, &V0), ND_OK);
    ck_assert_int_eq(nd_arr_alloc(3, sh, &Z), ND_OK);
    ck_assert_int_eq(nd_arr_view_assign(Z, 3, one, st[0] + 69, bst, V0), ND_OK);
    d = rowmajor(Z);
    for (int64_t f = 0; f < 8400; f++)
        ck_assert(same_bits(d[f], f >= st[0] && f < 2 * st[0] ? val(f) : 0.0));
    ND_FREE_N(d, 8400);
    nd_dm_free(Z), nd_dm_free(V0), nd_dm_free(V), nd_dm_free(A);
}
END_TEST

START_TEST(test_reshape)
{
    for (size_t s = 0; s < NSHAPES; s++) {
        int nd = (int)shapes[s][0];
        const int64_t *sh = shapes[s] + 1;
        int64_t t = total_of(nd, sh);
        nd_dm *A = mk(nd, sh), *B = NULL, *C = NULL;
        /* to 1-D, then to (-1, last) or (t, 1) */
        ck_assert_int_eq(nd_arr_reshape(A, 1, &t, &B), ND_OK);
        int64_t two[2] = {-1, sh[nd - 1]};
        ck_assert_int_eq(nd_arr_reshape(B, 2, two, &C), ND_OK);
        ck_assert_int_eq(nd_arr_ndim(C), 2);
        ck_assert_int_eq(nd_arr_shape(C)[0], t / sh[nd - 1]);
        double *d = rowmajor(C);
        for (int64_t f = 0; f < t; f++) ck_assert(same_bits(d[f], val(f)));
        ND_FREE_N(d, (size_t)t);
        nd_dm_free(A), nd_dm_free(B), nd_dm_free(C);
    }
    nd_dm *A = mk(2, (int64_t[]){3, 4}), *B = NULL;
    int64_t bad[2] = {5, 3}, two_neg[2] = {-1, -1}, five[1] = {5};
    ck_assert_int_eq(nd_arr_reshape(A, 2, bad, &B), ND_EPROG);
    ck_assert_str_eq(nd_err_msg(), "reshape: cannot reshape 3x4 to 5x3");
    ck_assert_int_eq(nd_arr_reshape(A, 2, two_neg, &B), ND_EPROG);
    ck_assert_int_eq(nd_arr_reshape(A, 1, five, &B), ND_EPROG);
    ck_assert_ptr_null(B);
    nd_dm_free(A);
}
END_TEST

static nd_sub ix(int64_t i) { return (nd_sub){.start = i, .kind = ND_SUB_INDEX}; }
static nd_sub sl(int64_t a, int64_t b, int64_t s, uint8_t has)
{
    return (nd_sub){.start = a, .stop = b, .step = s, .kind = ND_SUB_SLICE, .has = has};
}
#define ALL (nd_sub){.kind = ND_SUB_SLICE}
enum { S_ = ND_SUB_HAS_START, E_ = ND_SUB_HAS_STOP, T_ = ND_SUB_HAS_STEP };

START_TEST(test_subscript)
{
    const int64_t sh[3] = {4, 5, 6};
    nd_dm *T = mk(3, sh), *R = NULL;
    double x = 0;
    /* T[1] is 5x6 */
    nd_sub s1[1] = {ix(1)};
    ck_assert_int_eq(nd_arr_subscript(T, 1, s1, &R, &x), ND_OK);
    ck_assert_int_eq(nd_arr_ndim(R), 2);
    double *d = rowmajor(R);
    for (int f = 0; f < 30; f++) ck_assert(same_bits(d[f], val(30 + f)));
    ND_FREE_N(d, 30);
    nd_dm_free(R);
    /* T[-1, ::-2, 1:5:3] is 3x2 */
    nd_sub s2[3] = {ix(-1), sl(0, 0, -2, T_), sl(1, 5, 3, S_ | E_ | T_)};
    ck_assert_int_eq(nd_arr_subscript(T, 3, s2, &R, &x), ND_OK);
    ck_assert(nd_arr_ndim(R) == 2 && nd_arr_shape(R)[0] == 3 && nd_arr_shape(R)[1] == 2);
    d = rowmajor(R);
    int64_t js[3] = {4, 2, 0}, ks[2] = {1, 4};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 2; b++) ck_assert(same_bits(d[a * 2 + b], val(90 + js[a] * 6 + ks[b])));
    ND_FREE_N(d, 6);
    nd_dm_free(R);
    /* T[3, 4, -1] is a number */
    nd_sub s3[3] = {ix(3), ix(4), ix(-1)};
    ck_assert_int_eq(nd_arr_subscript(T, 3, s3, &R, &x), ND_OK);
    ck_assert_ptr_null(R);
    ck_assert(same_bits(x, val(119)));
    /* steps beyond the axis take one element, INT64_MIN included */
    nd_sub big[3] = {sl(0, 0, INT64_MIN, T_), sl(0, 0, INT64_MAX, T_), ix(0)};
    ck_assert_int_eq(nd_arr_subscript(T, 3, big, &R, &x), ND_OK);
    ck_assert(nd_arr_ndim(R) == 2 && nd_arr_size(R) == 1);
    d = rowmajor(R);
    ck_assert(same_bits(d[0], val(90)));
    ND_FREE_N(d, 1);
    nd_dm_free(R);
    /* errors */
    nd_sub e1[1] = {ix(4)}, e2[2] = {ALL, sl(0, 6, 1, S_ | E_)}, e3[1] = {sl(2, 2, 1, S_ | E_)};
    ck_assert_int_eq(nd_arr_subscript(T, 1, e1, &R, &x), ND_EPROG);
    ck_assert_str_eq(nd_err_msg(), "index 4 is out of range for axis 0 of size 4");
    ck_assert_int_eq(nd_arr_subscript(T, 2, e2, &R, &x), ND_EPROG);
    ck_assert_int_eq(nd_arr_subscript(T, 1, e3, &R, &x), ND_EPROG);
    nd_sub e4[4] = {ALL, ALL, ALL, ALL};
    ck_assert_int_eq(nd_arr_subscript(T, 4, e4, &R, &x), ND_EPROG);
    /* matrices: M[i] is 1-by-n; an n-by-1 matrix: one int an element, a slice n'-by-1 */
    nd_dm *M = mk(2, (int64_t[]){70, 90}), *v = mk(2, (int64_t[]){70, 1});
    ck_assert_int_eq(nd_arr_subscript(M, 1, s1, &R, &x), ND_OK);
    ck_assert(nd_arr_ndim(R) == 2 && nd_dm_rows(R) == 1 && nd_dm_cols(R) == 90);
    nd_dm_free(R);
    nd_sub s4[2] = {ALL, ix(-1)};
    ck_assert_int_eq(nd_arr_subscript(M, 2, s4, &R, &x), ND_OK);
    ck_assert(nd_dm_rows(R) == 70 && nd_dm_cols(R) == 1);
    d = rowmajor(R);
    for (int i = 0; i < 70; i++) ck_assert(same_bits(d[i], val(i * 90 + 89)));
    ND_FREE_N(d, 70);
    nd_dm_free(R);
    nd_sub s5[1] = {ix(-2)}, s6[1] = {sl(60, 0, -7, S_ | T_)};
    ck_assert_int_eq(nd_arr_subscript(v, 1, s5, &R, &x), ND_OK);
    ck_assert(R == NULL && same_bits(x, val(68)));
    ck_assert_int_eq(nd_arr_subscript(v, 1, s6, &R, &x), ND_OK);
    ck_assert(nd_dm_rows(R) == 9 && nd_dm_cols(R) == 1);
    nd_dm_free(R);
    /* assignment: T[:, 1, ::2] = a broadcast 1-D of 3, then a number at T[0, 0, 0] */
    double three[3] = {10, 20, 30};
    nd_dm *b = NULL;
    ck_assert_int_eq(nd_arr_from_rowmajor(1, (int64_t[]){3}, three, &b), ND_OK);
    nd_sub a1[3] = {ALL, ix(1), sl(0, 0, 2, T_)};
    ck_assert_int_eq(nd_arr_subassign(T, 3, a1, b, 0), ND_OK);
    nd_sub a2[3] = {ix(0), ix(0), ix(0)};
    ck_assert_int_eq(nd_arr_subassign(T, 3, a2, NULL, -3), ND_OK);
    d = rowmajor(T);
    for (int64_t f = 0; f < 120; f++) {
        int64_t idx[3];
        unflat(f, 3, sh, idx);
        double want = f == 0 ? -3 : idx[1] == 1 && idx[2] % 2 == 0 ? three[idx[2] / 2] : val(f);
        ck_assert(same_bits(d[f], want));
    }
    ND_FREE_N(d, 120);
    /* a number into a strided selection of a 3-D array, and of a folded 1-D array */
    nd_dm *F = mk(3, sh), *x1 = mk(1, (int64_t[]){4160});
    nd_sub f1[3] = {sl(1, 0, 0, S_), sl(0, 0, 2, T_), ix(-1)}, f2[1] = {sl(4000, 100, -7, S_ | E_ | T_)};
    ck_assert_int_eq(nd_arr_subassign(F, 3, f1, NULL, 7.5), ND_OK);
    ck_assert_int_eq(nd_arr_subassign(x1, 1, f2, NULL, -2), ND_OK);
    d = rowmajor(F);
    for (int64_t f = 0; f < 120; f++) {
        int64_t idx[3];
        unflat(f, 3, sh, idx);
        ck_assert(same_bits(d[f], idx[0] >= 1 && idx[1] % 2 == 0 && idx[2] == 5 ? 7.5 : val(f)));
    }
    ND_FREE_N(d, 120);
    d = rowmajor(x1);
    for (int64_t f = 0; f < 4160; f++)
        ck_assert(same_bits(d[f], f <= 4000 && f > 100 && (4000 - f) % 7 == 0 ? -2.0 : val(f)));
    ND_FREE_N(d, 4160);
    nd_dm_free(F), nd_dm_free(x1);
    /* a shape that does not broadcast to the selection */
    nd_dm *b4 = mk(1, (int64_t[]){4});
    ck_assert_int_eq(nd_arr_subassign(T, 3, a1, b4, 0), ND_EPROG);
    /* self-assignment through an overlapping view: M[1:, :] = M[:-1, :] */
    nd_dm *Mc = NULL;
    ck_assert_int_eq(nd_dm_copy(M, &Mc), ND_OK);
    nd_sub up[2] = {sl(0, -1, 0, E_), ALL}, dn[2] = {sl(1, 0, 0, S_), ALL};
    ck_assert_int_eq(nd_arr_subscript(M, 2, up, &R, &x), ND_OK);
    ck_assert_int_eq(nd_arr_subassign(M, 2, dn, R, 0), ND_OK);
    d = rowmajor(M);
    for (int64_t f = 0; f < 6300; f++) ck_assert(same_bits(d[f], val(f < 90 ? f : f - 90)));
    ND_FREE_N(d, 6300);
    nd_dm_free(R), nd_dm_free(Mc), nd_dm_free(b), nd_dm_free(b4), nd_dm_free(M);
    nd_dm_free(v), nd_dm_free(T);
}
END_TEST

START_TEST(test_broadcast)
{
    nd_dm *A = mk(3, (int64_t[]){4, 1, 6}), *B = mk(2, (int64_t[]){5, 1}), *C = NULL;
    ck_assert_int_eq(nd_arr_binop(ND_EW_SUB, A, B, &C), ND_OK);
    ck_assert(nd_arr_ndim(C) == 3 && nd_arr_shape(C)[1] == 5);
    double *d = rowmajor(C);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 5; j++)
            for (int k = 0; k < 6; k++)
                ck_assert(same_bits(d[(i * 5 + j) * 6 + k], val(i * 6 + k) - val(j)));
    ND_FREE_N(d, 120);
    nd_dm_free(C);
    /* a 1-D n and an n-by-1 matrix give n-by-n (numpy) */
    nd_dm *x = mk(1, (int64_t[]){70}), *xc = mk(2, (int64_t[]){70, 1});
    ck_assert_int_eq(nd_arr_binop(ND_EW_MUL, x, xc, &C), ND_OK);
    ck_assert(nd_arr_ndim(C) == 2 && nd_dm_rows(C) == 70 && nd_dm_cols(C) == 70);
    d = rowmajor(C);
    for (int i = 0; i < 70; i++)
        for (int j = 0; j < 70; j++) ck_assert(same_bits(d[i * 70 + j], val(j) * val(i)));
    ND_FREE_N(d, 4900);
    nd_dm_free(C);
    /* where with a mask from a comparison and a number */
    nd_dm *M = NULL;
    ck_assert_int_eq(nd_arr_binop_scalar(ND_EW_GT, x, 0.0, false, &M), ND_OK);
    ck_assert_int_eq(nd_arr_where(M, 0, x, 0, NULL, -1.0, &C), ND_OK);
    d = rowmajor(C);
    for (int i = 0; i < 70; i++) ck_assert(same_bits(d[i], val(i) > 0 ? val(i) : -1.0));
    ND_FREE_N(d, 70);
    nd_dm_free(C);
    ck_assert_int_eq(nd_arr_binop(ND_EW_ADD, A, x, &C), ND_EPROG);
    ck_assert_str_eq(nd_err_msg(), "shape mismatch: 4x1x6 + 70");
    ck_assert_ptr_null(C);
    nd_dm_free(M), nd_dm_free(x), nd_dm_free(xc), nd_dm_free(A), nd_dm_free(B);
}
END_TEST

START_TEST(test_construct)
{
    /* rand of a shape list: the 2-D values of rand(m, n), a 1-D the column of rand(n, 1),
     * a box at the origin the smaller shape. */
    nd_dm *A = NULL, *B = NULL, *C = NULL;
    ck_assert_int_eq(nd_arr_rand(2, (int64_t[]){70, 90}, 5, false, &A), ND_OK);
    ck_assert_int_eq(nd_dm_rand(70, 90, 5, false, &B), ND_OK);
    double *a = rowmajor(A), *b = rowmajor(B);
    ck_assert(memcmp(a, b, 6300 * sizeof *a) == 0);
    ND_FREE_N(a, 6300), ND_FREE_N(b, 6300);
    nd_dm_free(A), nd_dm_free(B);
    ck_assert_int_eq(nd_arr_rand(1, (int64_t[]){4160}, 5, true, &A), ND_OK);
    ck_assert_int_eq(nd_dm_rand(4160, 1, 5, true, &B), ND_OK);
    a = rowmajor(A), b = rowmajor(B);
    ck_assert(memcmp(a, b, 4160 * sizeof *a) == 0);
    ND_FREE_N(a, 4160), ND_FREE_N(b, 4160);
    nd_dm_free(A), nd_dm_free(B);
    ck_assert_int_eq(nd_arr_rand(3, (int64_t[]){3, 40, 70}, 9, false, &A), ND_OK);
    ck_assert_int_eq(nd_arr_rand(3, (int64_t[]){2, 5, 7}, 9, false, &B), ND_OK);
    nd_sub box[3] = {sl(0, 2, 1, E_), sl(0, 5, 1, E_), sl(0, 7, 1, E_)};
    double x;
    ck_assert_int_eq(nd_arr_subscript(A, 3, box, &C, &x), ND_OK);
    a = rowmajor(C), b = rowmajor(B);
    ck_assert(memcmp(a, b, 70 * sizeof *a) == 0);
    ND_FREE_N(a, 70), ND_FREE_N(b, 70);
    nd_dm_free(A), nd_dm_free(B), nd_dm_free(C);
    /* arange as numpy: start + k * ((start + step) - start) */
    ck_assert_int_eq(nd_arr_arange(0.1, 2.0, 0.2, &A), ND_OK);
    ck_assert_int_eq(nd_arr_size(A), 10);
    a = rowmajor(A);
    for (int k = 0; k < 10; k++) ck_assert(same_bits(a[k], k ? 0.1 + k * ((0.1 + 0.2) - 0.1) : 0.1));
    ND_FREE_N(a, 10);
    nd_dm_free(A);
    ck_assert_int_eq(nd_arr_arange(5, 0, -1, &A), ND_OK);
    ck_assert_int_eq(nd_arr_size(A), 5);
    nd_dm_free(A);
    ck_assert_int_eq(nd_arr_arange(0, 5, -1, &A), ND_EPROG);
    ck_assert_int_eq(nd_arr_arange(0, 5, 0, &A), ND_EPROG);
    ck_assert_int_eq(nd_arr_alloc(9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, &A), ND_EPROG);
    ck_assert_int_eq(nd_arr_alloc(2, (int64_t[]){3, 0}, &A), ND_EPROG);
    int ax = 0;
    ck_assert_int_eq(nd_arr_axis("sum", -3, 3, &ax), ND_OK);
    ck_assert_int_eq(ax, 0);
    ck_assert_int_eq(nd_arr_axis("sum", 3, 3, &ax), ND_EPROG);
    ck_assert_str_eq(nd_err_msg(), "sum: axis 3 is out of range for a 3-d array");
}
END_TEST

static void tiny_pieces(void) { nd_arr_set_piece_elems(37); }
static void default_pieces(void) { nd_arr_set_piece_elems(0); }

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    if (nd_spmd_init(&argc, &argv) != ND_OK) return 1;
    Suite *s = suite_create("arr");
    const TTest *tests[] = {test_fold_roundtrip, test_fetch_deposit, test_view, test_reshape,
                            test_subscript, test_broadcast, test_construct, NULL};
    nd_check_tcase(s, "core", 240, tests);
    TCase *tp = nd_check_tcase(s, "pieces", 240, tests);
    tcase_add_checked_fixture(tp, tiny_pieces, default_pieces);
    int failed = nd_check_run(s, ND_CHECK_NOFORK | (nd_spmd_rank() == 0 ? 0 : ND_CHECK_QUIET));
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    nd_spmd_finalize(0);
    return any ? 1 : 0;
}
