/* builtins_mat.c: the matrix builtins (eye diag hcat vcat linspace matrix, the
 * one-argument elementwise math, reductions, linear algebra, HDF5) mapped onto src/runtime/dm.h and src/la/la.h
 * (LANGUAGE.md "Builtins").  Argument types are validated here, before the collective
 * call, so that a bad argument fails alike on every rank; shapes are checked once, by
 * the dm or la function, whose errors (shape, singular) come back without a position
 * and the VM adds it.  Every dm call is timed for the run summary
 * (linear algebra, or I/O for HDF5) with its nominal flops (src/runtime/stats.h).
 * Spec: docs/vm.md "Builtins"; the flop counts: docs/config.md.
 */
#include "vm/vm_internal.h"

#include "common/alloc.h"
#include "la/la.h"
#include "runtime/arr.h"
#include "runtime/dm.h"
#include "runtime/stats.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

static nd_status dim_arg(const char *fn, int k, nd_value v, int64_t *out)
{
    ND_TRY(nd_arg_int(fn, k, v, out));
    if (*out < 1)
        return nd_err_set(ND_EPROG, "%s: matrix dimensions must be at least 1, got %" PRId64,
                          fn, *out);
    return ND_OK;
}

static nd_status ret_matrix(nd_dm *dm, nd_value *out)
{
    return nd_matrix_value(dm, out);
}


/* m*n as a double (elementwise and reduction flop counts). */
static double mn(const nd_dm *A)
{
    return (double)nd_dm_rows(A) * (double)nd_dm_cols(A);
}

/* Argument k as a matrix: a 2-D array (eye, diag, hcat, vcat are for matrices only). */
static nd_status mat2_arg(const char *fn, int k, nd_value v, nd_dm **out)
{
    ND_TRY(nd_arg_matrix(fn, k, v, out));
    int nd = nd_arr_ndim(*out);
    if (nd != 2)
        return nd_err_set(ND_EPROG, "%s: argument %d must be a matrix (2-D), not a %d-d array",
                          fn, k, nd);
    return ND_OK;
}

/* ---- construction (zeros ones fill rand randn reshape tolist: builtins_arr.c) ---- */

nd_status nd_bi_EYE(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    int64_t n = 0;
    nd_dm *r = NULL;
    ND_TRY(dim_arg("eye", 1, args[0], &n));
    ND_VM_LA(0.0, nd_dm_eye(n, &r));
    return ret_matrix(r, out);
}

nd_status nd_bi_LINSPACE(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    double a = 0, b = 0;
    int64_t n = 0;
    nd_dm *r = NULL;
    ND_TRY(nd_arg_num("linspace", 1, args[0], &a));
    ND_TRY(nd_arg_num("linspace", 2, args[1], &b));
    ND_TRY(dim_arg("linspace", 3, args[2], &n));
    ND_VM_LA(0.0, nd_dm_linspace(a, b, n, &r));
    return ret_matrix(r, out);
}

nd_status nd_bi_DIAG(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL, *r = NULL;
    ND_TRY(mat2_arg("diag", 1, args[0], &A));
    ND_VM_LA(0.0, nd_dm_diag(A, &r));
    return ret_matrix(r, out);
}

nd_status nd_bi_HCAT(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL, *B = NULL, *r = NULL;
    ND_TRY(mat2_arg("hcat", 1, args[0], &A));
    ND_TRY(mat2_arg("hcat", 2, args[1], &B));
    ND_VM_LA(0.0, nd_dm_hcat(A, B, &r));
    return ret_matrix(r, out);
}

nd_status nd_bi_VCAT(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL, *B = NULL, *r = NULL;
    ND_TRY(mat2_arg("vcat", 1, args[0], &A));
    ND_TRY(mat2_arg("vcat", 2, args[1], &B));
    ND_VM_LA(0.0, nd_dm_vcat(A, B, &r));
    return ret_matrix(r, out);
}

/* matrix(list): numbers give an n-by-1 matrix; equal-length lists of numbers give rows. */
nd_status nd_bi_MATRIX(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    if (args[0].type != ND_T_LIST)
        return nd_err_set(ND_EPROG, "matrix: argument 1 must be a list, not %s",
                          nd_val_typename(args[0]));
    const nd_list *l = ND_AS_LIST(args[0]);
    if (l->len == 0) return nd_err_set(ND_EPROG, "matrix: the list is empty");
    bool rows = l->items[0].type == ND_T_LIST;
    size_t m = l->len, n = 1;
    if (rows) {
        n = ND_AS_LIST(l->items[0])->len;
        if (n == 0) return nd_err_set(ND_EPROG, "matrix: row 0 is empty");
    }
    if (n > SIZE_MAX / sizeof(double) / m) return nd_err_set(ND_ENOMEM, "matrix: too large");
    double *data = ND_ALLOC_N(double, m * n);
    if (!data) return ND_ENOMEM;
    nd_status st = ND_OK;
    for (size_t i = 0; st == ND_OK && i < m; i++) {
        nd_value row = l->items[i];
        if (!rows) {
            if (!ND_IS_NUM(row))
                st = nd_err_set(ND_EPROG, "matrix: element %zu must be a number, not %s", i,
                                nd_val_typename(row));
            else data[i] = row.type == ND_T_INT ? (double)row.as.i : row.as.f;
            continue;
        }
        if (row.type != ND_T_LIST) {
            st = nd_err_set(ND_EPROG, "matrix: row %zu must be a list, not %s", i,
                            nd_val_typename(row));
            break;
        }
        const nd_list *r = ND_AS_LIST(row);
        if (r->len != n) {
            st = nd_err_set(ND_EPROG, "matrix: row %zu has %zu elements, row 0 has %zu", i,
                            r->len, n);
            break;
        }
        for (size_t j = 0; j < n; j++) {
            nd_value e = r->items[j];
            if (!ND_IS_NUM(e)) {
                st = nd_err_set(ND_EPROG, "matrix: element [%zu][%zu] must be a number, not %s",
                                i, j, nd_val_typename(e));
                break;
            }
            data[j * m + i] = e.type == ND_T_INT ? (double)e.as.i : e.as.f;
        }
    }
    nd_dm *A = NULL;
    if (st == ND_OK) {
        nd_stats_begin(ND_STATS_LA);
        st = nd_dm_from_colmajor((int64_t)m, (int64_t)n, data, &A);
        nd_stats_end(ND_STATS_LA);
    }
    ND_FREE_N(data, m * n);
    ND_TRY(st);
    return ret_matrix(A, out);
}

/* ---- elementwise math: numbers give floats (abs keeps an int an int); an array gives
 * an array of its shape (floor, ceil, round: builtins.c) ---- */

static nd_status math1(const char *fn, nd_map_fn mf, double (*f)(double), nd_value v,
                       nd_value *out)
{
    if (v.type == ND_T_MATRIX) {
        nd_dm *r = NULL, *A = ND_AS_MATRIX(v)->dm;
        ND_VM_LA(mn(A), nd_dm_map(mf, A, &r));
        return ret_matrix(r, out);
    }
    if (mf == ND_MAP_ABS && v.type == ND_T_INT) {
        if (v.as.i == INT64_MIN) return nd_err_set(ND_EPROG, "integer overflow in abs");
        *out = ND_INT(v.as.i < 0 ? -v.as.i : v.as.i);
        return ND_OK;
    }
    if (!ND_IS_NUM(v))
        return nd_err_set(ND_EPROG, "%s: argument 1 must be a number or array, not %s", fn,
                          nd_val_typename(v));
    *out = ND_FLOAT(f(v.type == ND_T_INT ? (double)v.as.i : v.as.f));
    return ND_OK;
}

#define MATH1(ID, name, MF, cfn)                                                         \
    nd_status nd_bi_##ID(nd_vm *vm, nd_value *args, int nargs, nd_value *out)            \
    {                                                                                    \
        return math1(name, MF, cfn, args[0], out);                                       \
    }

MATH1(ABS, "abs", ND_MAP_ABS, fabs)
MATH1(SQRT, "sqrt", ND_MAP_SQRT, sqrt)
MATH1(EXP, "exp", ND_MAP_EXP, exp)
MATH1(LOG, "log", ND_MAP_LOG, log)
MATH1(SIN, "sin", ND_MAP_SIN, sin)
MATH1(COS, "cos", ND_MAP_COS, cos)
MATH1(TANH, "tanh", ND_MAP_TANH, tanh)
MATH1(TAN, "tan", ND_MAP_TAN, tan)
MATH1(ATAN, "atan", ND_MAP_ATAN, atan)

/* ---- reductions ---- */

static nd_status reduce(const char *fn, nd_red_op op, nd_value v, nd_value *out)
{
    nd_dm *A = NULL;
    double r = 0;
    ND_TRY(nd_arg_matrix(fn, 1, v, &A));
    if (op == ND_RED_TRACE) ND_TRY(mat2_arg(fn, 1, v, &A));
    if (op == ND_RED_TRACE) ND_TRY(nd_dm_need_square("trace", A));
    if ((op == ND_RED_NORM_1 || op == ND_RED_NORM_INF) && nd_arr_ndim(A) != 2) {
        /* vector norms of a 1-D array, as numpy: sum |x|, max |x| */
        if (nd_arr_ndim(A) != 1) ND_TRY(mat2_arg(fn, 1, v, &A));
        nd_dm *absA = NULL;
        ND_VM_LA(mn(A), nd_dm_map(ND_MAP_ABS, A, &absA));
        nd_status st = nd_dm_reduce(op == ND_RED_NORM_1 ? ND_RED_SUM : ND_RED_MAX, absA, &r);
        nd_dm_free(absA);
        ND_TRY(st);
        *out = ND_FLOAT(r);
        return ND_OK;
    }
    ND_VM_LA(op == ND_RED_TRACE ? (double)nd_dm_rows(A) : mn(A), nd_dm_reduce(op, A, &r));
    *out = ND_FLOAT(r);
    return ND_OK;
}

/* sum mean min max: builtins_axis.c (with an optional axis). */

nd_status nd_bi_TRACE(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    return reduce("trace", ND_RED_TRACE, args[0], out);
}

/* norm(A) Frobenius, norm(A, 1) max column sum, norm(A, "inf") max row sum. */
nd_status nd_bi_NORM(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_red_op op = ND_RED_NORM_FRO;
    if (nargs > 1) {
        nd_value p = args[1];
        if (p.type == ND_T_INT && p.as.i == 1) op = ND_RED_NORM_1;
        else if (p.type == ND_T_STR && ND_AS_STR(p)->len == 3 &&
                 memcmp(ND_AS_STR(p)->data, "inf", 3) == 0) op = ND_RED_NORM_INF;
        else if (p.type == ND_T_STR && ND_AS_STR(p)->len == 3 &&
                 memcmp(ND_AS_STR(p)->data, "fro", 3) == 0) op = ND_RED_NORM_FRO;
        else return nd_err_set(ND_EPROG, "norm: the kind must be 1, \"inf\" or \"fro\"");
    }
    return reduce("norm", op, args[0], out);
}

nd_status nd_bi_DOT(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *x = NULL, *y = NULL;
    double r = 0;
    ND_TRY(nd_arg_matrix("dot", 1, args[0], &x));
    ND_TRY(nd_arg_matrix("dot", 2, args[1], &y));
    if (nd_arr_ndim(x) == 2 && nd_arr_ndim(y) == 2) {
        ND_VM_LA(2.0 * mn(x), nd_dm_dot(x, y, &r));
        *out = ND_FLOAT(r);
        return ND_OK;
    }
    /* A 1-D operand: both as n-by-1 columns (vectors of any orientation are equal). */
    const nd_dm *in[2] = {x, y};
    nd_dm *col[2] = {NULL, NULL};
    nd_status st = ND_OK;
    for (int k = 0; k < 2 && st == ND_OK; k++) {
        int nd = nd_arr_ndim(in[k]);
        const int64_t *sh = nd_arr_shape(in[k]);
        if (nd > 2 || (nd == 2 && sh[0] != 1 && sh[1] != 1))
            st = nd_err_set(ND_EPROG, "dot: argument %d must be a vector (1-D, n-by-1 or "
                                      "1-by-n), not a %lld-element %d-d array",
                            k + 1, (long long)nd_arr_size(in[k]), nd);
    }
    if (st == ND_OK && nd_arr_size(x) != nd_arr_size(y))
        st = nd_err_set(ND_EPROG, "shape mismatch: dot of vectors of %lld and %lld elements",
                        (long long)nd_arr_size(x), (long long)nd_arr_size(y));
    for (int k = 0; k < 2 && st == ND_OK; k++) {
        int64_t sh[2] = {nd_arr_size(in[k]), 1};
        st = nd_arr_reshape(in[k], 2, sh, &col[k]);
    }
    if (st == ND_OK) {
        nd_stats_begin(ND_STATS_LA);
        st = nd_dm_dot(col[0], col[1], &r);
        nd_stats_end(ND_STATS_LA);
        nd_stats_add_flops(2.0 * mn(col[0]));
    }
    nd_dm_free(col[0]);
    nd_dm_free(col[1]);
    ND_TRY(st);
    *out = ND_FLOAT(r);
    return ND_OK;
}

/* ---- linear algebra ---- */

nd_status nd_bi_TRANSPOSE(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL, *r = NULL;
    ND_TRY(nd_arg_matrix("transpose", 1, args[0], &A));
    ND_VM_LA(0.0, nd_arr_transpose(A, &r));
    return ret_matrix(r, out);
}

nd_status nd_bi_SOLVE(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL, *B = NULL, *r = NULL;
    ND_TRY(mat2_arg("solve", 1, args[0], &A));
    ND_TRY(nd_arg_matrix("solve", 2, args[1], &B));
    if (nd_arr_ndim(B) == 2) {
        ND_VM_LA(nd_stats_flops_solve(nd_dm_rows(A), nd_dm_cols(B)), nd_la_solve(A, B, &r));
        return ret_matrix(r, out);
    }
    /* A 1-D right-hand side gives a 1-D solution (numpy). */
    if (nd_arr_ndim(B) != 1) ND_TRY(mat2_arg("solve", 2, args[1], &B));
    int64_t n = nd_arr_size(B), col[2] = {n, 1};
    nd_dm *b = NULL, *x = NULL;
    ND_CHECK(n == nd_dm_rows(A), ND_EPROG, "shape mismatch: solve(%lldx%lld, %lld)",
             (long long)nd_dm_rows(A), (long long)nd_dm_cols(A), (long long)n);
    ND_TRY(nd_arr_reshape(B, 2, col, &b));
    nd_stats_begin(ND_STATS_LA);
    nd_status st = nd_la_solve(A, b, &x);
    nd_stats_end(ND_STATS_LA);
    nd_dm_free(b);
    ND_TRY(st);
    nd_stats_add_flops(nd_stats_flops_solve(nd_dm_rows(A), 1));
    st = nd_arr_reshape(x, 1, &n, &r);
    nd_dm_free(x);
    ND_TRY(st);
    return ret_matrix(r, out);
}

nd_status nd_bi_CHOLESKY(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL, *r = NULL;
    ND_TRY(mat2_arg("cholesky", 1, args[0], &A));
    ND_VM_LA(nd_stats_flops_cholesky(nd_dm_rows(A)), nd_la_cholesky(A, &r));
    return ret_matrix(r, out);
}

nd_status nd_bi_INV(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL, *r = NULL;
    ND_TRY(mat2_arg("inv", 1, args[0], &A));
    ND_VM_LA(nd_stats_flops_inv(nd_dm_rows(A)), nd_la_inv(A, &r));
    return ret_matrix(r, out);
}

nd_status nd_bi_DET(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL;
    double d = 0;
    ND_TRY(mat2_arg("det", 1, args[0], &A));
    ND_VM_LA(nd_stats_flops_det(nd_dm_rows(A)), nd_la_det(A, &d));
    *out = ND_FLOAT(d);
    return ND_OK;
}

/* Builds a list of n new matrices (takes ownership of all of them, even on failure). */
static nd_status matrix_list(nd_dm **ms, int n, nd_value *out)
{
    nd_list *l = nd_list_new((size_t)n);
    if (!l) {
        for (int k = 0; k < n; k++) nd_dm_free(ms[k]);
        return ND_ENOMEM;
    }
    nd_status st = ND_OK;
    for (int k = 0; k < n; k++) {
        if (st == ND_OK) {
            st = nd_matrix_value(ms[k], &l->items[k]);
            if (st == ND_OK) l->len++;
        } else {
            nd_dm_free(ms[k]);
        }
    }
    if (st != ND_OK) {
        nd_val_decref(ND_OBJ(ND_T_LIST, l));
        return st;
    }
    *out = ND_OBJ(ND_T_LIST, l);
    return ND_OK;
}

nd_status nd_bi_QR(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL, *r[2];
    ND_TRY(mat2_arg("qr", 1, args[0], &A));
    ND_VM_LA(nd_stats_flops_qr(nd_dm_rows(A), nd_dm_cols(A)), nd_la_qr(A, &r[0], &r[1]));
    return matrix_list(r, 2, out);
}

nd_status nd_bi_EIGH(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL, *r[2];
    ND_TRY(mat2_arg("eigh", 1, args[0], &A));
    ND_VM_LA(nd_stats_flops_eigh(nd_dm_rows(A)), nd_la_eigh(A, &r[0], &r[1]));
    return matrix_list(r, 2, out);
}

nd_status nd_bi_SVD(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL, *r[3];
    ND_TRY(mat2_arg("svd", 1, args[0], &A));
    ND_VM_LA(nd_stats_flops_svd(nd_dm_rows(A), nd_dm_cols(A)),
       nd_la_svd(A, &r[0], &r[1], &r[2]));
    return matrix_list(r, 3, out);
}

