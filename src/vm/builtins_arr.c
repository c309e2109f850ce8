/* builtins_arr.c: the n-d array builtins (LANGUAGE.md "Arrays (n-d)"): construction from
 * a shape list or the m, n forms (zeros ones fill rand randn reshape arange array), the
 * conversion back to lists (tolist), the shape (shape ndim size rows cols) and the
 * two- and three-argument elementwise functions (atan2 maximum minimum where), mapped onto
 * src/runtime/arr.h.  As in builtins_mat.c, argument types and shape lists are checked
 * here, before the collective call, from values every rank holds alike, so a bad argument
 * fails alike on every rank; the arr function checks the rest (sizes, broadcasting) and
 * its errors come back without a position, which the VM adds.  Spec: docs/language.md.
 */
#include "vm/vm_internal.h"

#include "common/alloc.h"
#include "runtime/arr.h"
#include "runtime/dm.h"
#include "runtime/stats.h"

#include <inttypes.h>
#include <stdio.h>


static nd_status bad_arg(const char *fn, int k, const char *want, nd_value v)
{
    return nd_err_set(ND_EPROG, "%s: argument %d must be %s, not %s", fn, k, want,
                      nd_val_typename(v));
}

static nd_status arr_arg(const char *fn, int k, nd_value v, nd_dm **out)
{
    if (v.type != ND_T_MATRIX) return bad_arg(fn, k, "an array", v);
    *out = ND_AS_MATRIX(v)->dm;
    return ND_OK;
}

static double num_of(nd_value v)
{
    return v.type == ND_T_INT ? (double)v.as.i : v.as.f;
}

/* One dimension of a shape: an int >= 1, or -1 where infer (reshape) allows it. */
static nd_status dim_check(const char *fn, int64_t d, bool infer)
{
    if (d >= 1 || (infer && d == -1)) return ND_OK;
    return nd_err_set(ND_EPROG, "%s: array dimensions must be at least 1%s, got %" PRId64,
                      fn, infer ? " (or -1: inferred)" : "", d);
}

static nd_status infer_count(const char *fn, int nd, const int64_t *shape)
{
    int n = 0;
    for (int k = 0; k < nd; k++) n += shape[k] == -1;
    if (n > 1) return nd_err_set(ND_EPROG, "%s: only one dimension may be -1", fn);
    return n ? ND_OK : nd_arr_check_shape(fn, nd, shape);
}

/* Argument k as a shape: a list of 1 to ND_MAXDIM ints, each >= 1 (or one -1 when
 * infer).  Uniform. */
static nd_status shape_arg(const char *fn, int k, nd_value v, bool infer, int *nd,
                           int64_t *shape)
{
    if (v.type != ND_T_LIST) return bad_arg(fn, k, "a shape (a list of ints)", v);
    const nd_list *l = ND_AS_LIST(v);
    if (l->len < 1 || l->len > ND_MAXDIM)
        return nd_err_set(ND_EPROG, "%s: a shape has 1 to %d dimensions, got %zu", fn,
                          ND_MAXDIM, l->len);
    for (size_t i = 0; i < l->len; i++) {
        nd_value d = l->items[i];
        if (d.type != ND_T_INT)
            return nd_err_set(ND_EPROG, "%s: shape entry %zu must be an int, not %s", fn, i,
                              nd_val_typename(d));
        ND_TRY(dim_check(fn, d.as.i, infer));
        shape[i] = d.as.i;
    }
    *nd = (int)l->len;
    return infer_count(fn, *nd, shape);
}

/* The size arguments of a construction call: one shape list (n == 1) or the ints m, n
 * (n == 2) at args[0 .. n-1]. */
static nd_status size_args(const char *fn, const nd_value *args, int n, int *nd,
                           int64_t *shape)
{
    if (n == 1) return shape_arg(fn, 1, args[0], false, nd, shape);
    for (int k = 0; k < 2; k++) {
        if (args[k].type != ND_T_INT)
            return bad_arg(fn, k + 1, k == 0 && args[0].type == ND_T_LIST
                                          ? "an int (a shape list goes alone)"
                                          : "an int",
                           args[k]);
        shape[k] = args[k].as.i;
        if (shape[k] < 1)
            return nd_err_set(ND_EPROG, "%s: matrix dimensions must be at least 1, got %" PRId64,
                              fn, shape[k]);
    }
    *nd = 2;
    return nd_arr_check_shape(fn, 2, shape);
}

/* ---- construction ---- */

/* zeros/ones/fill: nsize size arguments, then (fill) the value. */
static nd_status filled(const char *fn, const nd_value *args, int nsize, bool zero,
                        double v, nd_value *out)
{
    int nd = 0;
    int64_t shape[ND_MAXDIM];
    nd_dm *r = NULL;
    ND_TRY(size_args(fn, args, nsize, &nd, shape));
    if (zero) ND_VM_LA(0.0, nd_arr_alloc(nd, shape, &r));
    else ND_VM_LA(0.0, nd_arr_fill(nd, shape, v, &r));
    return nd_matrix_value(r, out);
}

nd_status nd_bi_ZEROS(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    return filled("zeros", args, nargs, true, 0.0, out);
}

nd_status nd_bi_ONES(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    return filled("ones", args, nargs, false, 1.0, out);
}

nd_status nd_bi_FILL(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    double v = 0;
    ND_TRY(nd_arg_num("fill", nargs, args[nargs - 1], &v));
    return filled("fill", args, nargs - 1, false, v, out);
}

static nd_status rand_common(const char *fn, const nd_value *args, int nargs, bool normal,
                             nd_value *out)
{
    int nd = 0;
    int64_t shape[ND_MAXDIM], seed = 0;
    nd_dm *r = NULL;
    ND_TRY(size_args(fn, args, nargs - 1, &nd, shape));
    ND_TRY(nd_arg_int(fn, nargs, args[nargs - 1], &seed));
    ND_VM_LA(0.0, nd_arr_rand(nd, shape, seed, normal, &r));
    return nd_matrix_value(r, out);
}

nd_status nd_bi_RAND(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    return rand_common("rand", args, nargs, false, out);
}

nd_status nd_bi_RANDN(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    return rand_common("randn", args, nargs, true, out);
}

/* arange(a, b), arange(a, b, step): 1-D, as numpy's (floats). */
nd_status nd_bi_ARANGE(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    double a = 0, b = 0, step = 1.0;
    nd_dm *r = NULL;
    ND_TRY(nd_arg_num("arange", 1, args[0], &a));
    ND_TRY(nd_arg_num("arange", 2, args[1], &b));
    if (nargs > 2) ND_TRY(nd_arg_num("arange", 3, args[2], &step));
    ND_VM_LA(0.0, nd_arr_arange(a, b, step, &r));
    return nd_matrix_value(r, out);
}

/* reshape(A, shape) or reshape(A, m, n): row-major; one dimension may be -1. */
nd_status nd_bi_RESHAPE(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL, *r = NULL;
    int nd = 2;
    int64_t shape[ND_MAXDIM];
    ND_TRY(arr_arg("reshape", 1, args[0], &A));
    if (nargs == 2) {
        ND_TRY(shape_arg("reshape", 2, args[1], true, &nd, shape));
    } else {
        for (int k = 0; k < 2; k++) {
            ND_TRY(nd_arg_int("reshape", k + 2, args[k + 1], &shape[k]));
            ND_TRY(dim_check("reshape", shape[k], true));
        }
        ND_TRY(infer_count("reshape", 2, shape));
    }
    ND_VM_LA(0.0, nd_arr_reshape(A, nd, shape, &r));
    return nd_matrix_value(r, out);
}

/* ---- array(list): nested lists of numbers, row-major ---- */

/* The nesting being read: its shape (from the first element at each level), the
 * row-major data filled so far, and the index path of the element being read. */
typedef struct nest {
    int nd;
    int64_t shape[ND_MAXDIM];
    double *data;
    size_t pos;
    size_t idx[ND_MAXDIM];
} nest;

/* "[1][0]": the first depth entries of the path. */
static const char *path_str(const nest *ns, int depth, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < depth && len < cap; k++)
        len += (size_t)snprintf(buf + len, cap - len, "[%zu]", ns->idx[k]);
    return buf;
}

#define PATH_CAP (ND_MAXDIM * 24 + 1)

/* The shape, from the first element of each level. */
static nd_status nest_shape(nd_value v, nest *ns)
{
    ns->nd = 0;
    while (v.type == ND_T_LIST) {
        const nd_list *l = ND_AS_LIST(v);
        if (ns->nd == ND_MAXDIM)
            return nd_err_set(ND_EPROG, "array: more than %d levels of nested lists (an "
                                        "array has at most %d dimensions)",
                              ND_MAXDIM, ND_MAXDIM);
        if (l->len == 0) {
            char p[PATH_CAP];
            if (ns->nd == 0) return nd_err_set(ND_EPROG, "array: the list is empty");
            return nd_err_set(ND_EPROG, "array: the list at %s is empty",
                              path_str(ns, ns->nd, p, sizeof p));
        }
        ns->shape[ns->nd] = (int64_t)l->len;
        ns->idx[ns->nd++] = 0;
        v = l->items[0];
    }
    return nd_arr_check_shape("array", ns->nd, ns->shape);
}

/* Reads list l at nesting level `level` into ns->data, checking that it has the shape
 * found by nest_shape (not ragged) and holds numbers. */
static nd_status nest_fill(const nd_list *l, int level, nest *ns)
{
    char p[PATH_CAP];
    if ((int64_t)l->len != ns->shape[level])
        return nd_err_set(ND_EPROG, "array: ragged lists: the list at %s has %zu element%s, "
                                    "expected %" PRId64,
                          path_str(ns, level, p, sizeof p), l->len, l->len == 1 ? "" : "s",
                          ns->shape[level]);
    bool leaf = level == ns->nd - 1;
    for (size_t i = 0; i < l->len; i++) {
        nd_value e = l->items[i];
        ns->idx[level] = i;
        if (leaf && ND_IS_NUM(e)) {
            ns->data[ns->pos++] = num_of(e);
        } else if (leaf) {
            return nd_err_set(ND_EPROG, "array: element %s must be a number, not %s%s",
                              path_str(ns, level + 1, p, sizeof p), nd_val_typename(e),
                              e.type == ND_T_LIST ? " (ragged lists)" : "");
        } else if (e.type != ND_T_LIST) {
            return nd_err_set(ND_EPROG, "array: element %s must be a list of %" PRId64
                                        " elements, not %s%s",
                              path_str(ns, level + 1, p, sizeof p), ns->shape[level + 1],
                              nd_val_typename(e), ND_IS_NUM(e) ? " (ragged lists)" : "");
        } else {
            ND_TRY(nest_fill(ND_AS_LIST(e), level + 1, ns));
        }
    }
    return ND_OK;
}

/* array(list): the nesting gives the shape (a flat list of numbers is 1-D). */
nd_status nd_bi_ARRAY(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    if (args[0].type != ND_T_LIST) return bad_arg("array", 1, "a list", args[0]);
    nest ns = {0};
    ND_TRY(nest_shape(args[0], &ns));
    size_t n = 1;
    for (int k = 0; k < ns.nd; k++) n *= (size_t)ns.shape[k];
    ns.data = ND_ALLOC_N(double, n);
    if (!ns.data) return ND_ENOMEM;
    nd_status st = nest_fill(ND_AS_LIST(args[0]), 0, &ns);
    nd_dm *r = NULL;
    if (st == ND_OK) {
        nd_stats_begin(ND_STATS_LA);
        st = nd_arr_from_rowmajor(ns.nd, ns.shape, ns.data, &r);
        nd_stats_end(ND_STATS_LA);
    }
    ND_FREE_N(ns.data, n);
    ND_TRY(st);
    return nd_matrix_value(r, out);
}

/* ---- tolist(A): nested lists of floats, row-major ---- */

/* A new list of the elements at `level` from data[*pos ...]. */
static nd_status build_list(const double *data, int nd, const int64_t *shape, int level,
                            size_t *pos, nd_value *out)
{
    size_t n = (size_t)shape[level];
    nd_list *l = nd_list_new(n);
    if (!l) return ND_ENOMEM;
    nd_value lv = ND_OBJ(ND_T_LIST, l);
    for (size_t i = 0; i < n; i++) {
        if (level == nd - 1) {
            l->items[l->len++] = ND_FLOAT(data[(*pos)++]);
            continue;
        }
        nd_value sub;
        nd_status st = build_list(data, nd, shape, level + 1, pos, &sub);
        if (st != ND_OK) {
            nd_val_decref(lv);
            return st;
        }
        l->items[l->len++] = sub;
    }
    *out = lv;
    return ND_OK;
}

nd_status nd_bi_TOLIST(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL;
    double *data = NULL;
    ND_TRY(arr_arg("tolist", 1, args[0], &A));
    ND_VM_LA(0.0, nd_arr_to_rowmajor(A, &data));
    size_t pos = 0;
    nd_status st = build_list(data, nd_arr_ndim(A), nd_arr_shape(A), 0, &pos, out);
    ND_FREE_N(data, (size_t)nd_arr_size(A));
    return st;
}

/* ---- shape (rank-local: every rank holds the shape) ---- */

nd_status nd_bi_SHAPE(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL;
    ND_TRY(arr_arg("shape", 1, args[0], &A));
    int nd = nd_arr_ndim(A);
    const int64_t *shape = nd_arr_shape(A);
    nd_list *l = nd_list_new((size_t)nd);
    if (!l) return ND_ENOMEM;
    for (int k = 0; k < nd; k++) l->items[l->len++] = ND_INT(shape[k]);
    *out = ND_OBJ(ND_T_LIST, l);
    return ND_OK;
}

nd_status nd_bi_NDIM(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL;
    ND_TRY(arr_arg("ndim", 1, args[0], &A));
    *out = ND_INT(nd_arr_ndim(A));
    return ND_OK;
}

nd_status nd_bi_SIZE(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL;
    ND_TRY(arr_arg("size", 1, args[0], &A));
    *out = ND_INT(nd_arr_size(A));
    return ND_OK;
}

/* rows/cols: matrices (2-D) only. */
static nd_status dim2(const char *fn, nd_value v, int which, nd_value *out)
{
    nd_dm *A = NULL;
    ND_TRY(nd_arg_matrix(fn, 1, v, &A));
    int nd = nd_arr_ndim(A);
    if (nd != 2) return nd_err_set(ND_EPROG, "%s: a %d-d array; use shape", fn, nd);
    *out = ND_INT(nd_arr_shape(A)[which]);
    return ND_OK;
}

nd_status nd_bi_ROWS(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    return dim2("rows", args[0], 0, out);
}

nd_status nd_bi_COLS(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    return dim2("cols", args[0], 1, out);
}

/* ---- elementwise functions of two and three arguments, broadcasting ---- */

/* Argument k as an array (*A) or a number (*x; *A NULL). */
static nd_status arr_or_num(const char *fn, int k, nd_value v, nd_dm **A, double *x)
{
    *A = NULL;
    if (v.type == ND_T_MATRIX) *A = ND_AS_MATRIX(v)->dm;
    else if (ND_IS_NUM(v)) *x = num_of(v);
    else return bad_arg(fn, k, "a number or array", v);
    return ND_OK;
}

/* fn(a, b) with op: two numbers give a float (nd_ew_apply, the definition the arrays
 * use too); otherwise an array, broadcasting. */
static nd_status ew2(const char *fn, nd_ew_op op, nd_value a, nd_value b, nd_value *out)
{
    nd_dm *A = NULL, *B = NULL, *r = NULL;
    double x = 0, y = 0;
    ND_TRY(arr_or_num(fn, 1, a, &A, &x));
    ND_TRY(arr_or_num(fn, 2, b, &B, &y));
    if (!A && !B) {
        *out = ND_FLOAT(nd_ew_apply(op, x, y));
        return ND_OK;
    }
    if (A && B) ND_VM_LA((double)nd_arr_size(r), nd_arr_binop(op, A, B, &r));
    else if (A) ND_VM_LA((double)nd_arr_size(r), nd_arr_binop_scalar(op, A, y, false, &r));
    else ND_VM_LA((double)nd_arr_size(r), nd_arr_binop_scalar(op, B, x, true, &r));
    return nd_matrix_value(r, out);
}

nd_status nd_bi_ATAN2(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    return ew2("atan2", ND_EW_ATAN2, args[0], args[1], out);
}

nd_status nd_bi_MAXIMUM(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    return ew2("maximum", ND_EW_MAX, args[0], args[1], out);
}

nd_status nd_bi_MINIMUM(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    return ew2("minimum", ND_EW_MIN, args[0], args[1], out);
}

/* where(mask, A, B): mask nonzero (NaN included) picks A, else B; each an array or a
 * number (the mask may be a bool), broadcasting.  Three numbers give the picked number
 * as it is (an int stays an int). */
nd_status nd_bi_WHERE(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *M = NULL, *A = NULL, *B = NULL, *r = NULL;
    double m = 0, a = 0, b = 0;
    if (args[0].type == ND_T_BOOL) m = args[0].as.b ? 1.0 : 0.0;
    else ND_TRY(arr_or_num("where", 1, args[0], &M, &m));
    ND_TRY(arr_or_num("where", 2, args[1], &A, &a));
    ND_TRY(arr_or_num("where", 3, args[2], &B, &b));
    if (!M && !A && !B) {
        *out = m != 0.0 ? args[1] : args[2];
        return ND_OK;
    }
    ND_VM_LA((double)nd_arr_size(r), nd_arr_where(M, m, A, a, B, b, &r));
    return nd_matrix_value(r, out);
}
