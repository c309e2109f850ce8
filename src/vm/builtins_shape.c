/* builtins_shape.c: the restructuring builtins permute, concat, stack, kron and tensordot
 * (LANGUAGE.md "Arrays (n-d)", "Restructuring") mapped onto runtime/arr.h and
 * la/la.h's nd_la_tensordot.  As in builtins_mat.c, argument types (and the axes of
 * permute, whose count needs the array) are validated here, before the collective call,
 * so that a bad argument fails alike on every rank; shapes and axes are checked by the
 * runtime, on replicated shapes, before its first communication.  Where the contract is
 * silent these follow numpy: concat's and stack's axis defaults to 0, tensordot's k to 2.
 */
#include "vm/vm_internal.h"

#include "common/alloc.h"
#include "la/la.h"
#include "runtime/arr.h"
#include "runtime/stats.h"

#include <limits.h>


/* Uniform: an int argument that fits an int (an axis or a count). */
static nd_status small_int(const char *fn, int k, nd_value v, int *out)
{
    int64_t i = 0;
    ND_TRY(nd_arg_int(fn, k, v, &i));
    ND_CHECK(i >= INT_MIN && i <= INT_MAX, ND_EPROG, "%s: argument %d is out of range", fn, k);
    *out = (int)i;
    return ND_OK;
}

/* permute(A, axes): axes a list of ndim(A) ints, each may count from the end. */
nd_status nd_bi_PERMUTE(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL, *r = NULL;
    ND_TRY(nd_arg_matrix("permute", 1, args[0], &A));
    if (args[1].type != ND_T_LIST)
        return nd_err_set(ND_EPROG, "permute: argument 2 must be a list of axes, not %s",
                          nd_val_typename(args[1]));
    const nd_list *l = ND_AS_LIST(args[1]);
    int nd = nd_arr_ndim(A), axes[ND_MAXDIM];
    ND_CHECK(l->len == (size_t)nd, ND_EPROG,
             "permute: a %d-d array needs %d axes, not %zu", nd, nd, l->len);
    for (int k = 0; k < nd; k++) {
        ND_CHECK(l->items[k].type == ND_T_INT, ND_EPROG,
                 "permute: axis %d must be an int, not %s", k, nd_val_typename(l->items[k]));
        ND_TRY(nd_arr_axis("permute", l->items[k].as.i, nd, &axes[k]));
    }
    ND_VM_LA(0.0, nd_arr_permute(A, axes, &r));
    return nd_matrix_value(r, out);
}

typedef nd_status (*join_fn)(int n, const nd_dm *const *parts, int axis, nd_dm **out);

/* concat(list, axis) and stack(list, axis): a non-empty list of arrays. */
static nd_status join(const char *fn, join_fn f, nd_value *args, int nargs, nd_value *out)
{
    if (args[0].type != ND_T_LIST)
        return nd_err_set(ND_EPROG, "%s: argument 1 must be a list of arrays, not %s", fn,
                          nd_val_typename(args[0]));
    const nd_list *l = ND_AS_LIST(args[0]);
    int axis = 0;
    if (nargs > 1) ND_TRY(small_int(fn, 2, args[1], &axis));
    ND_CHECK(l->len >= 1, ND_EPROG, "%s: the list is empty", fn);
    ND_CHECK(l->len <= INT_MAX, ND_EPROG, "%s: the list is too long", fn);
    for (size_t k = 0; k < l->len; k++)
        ND_CHECK(l->items[k].type == ND_T_MATRIX, ND_EPROG,
                 "%s: element %zu of the list must be an array, not %s", fn, k,
                 nd_val_typename(l->items[k]));
    const nd_dm **parts = ND_ALLOC_N(const nd_dm *, l->len);
    if (!parts) return ND_ENOMEM;
    for (size_t k = 0; k < l->len; k++) parts[k] = ND_AS_MATRIX(l->items[k])->dm;
    nd_dm *r = NULL;
    nd_stats_begin(ND_STATS_LA);
    nd_status st = f((int)l->len, parts, axis, &r);
    nd_stats_end(ND_STATS_LA);
    ND_FREE_N(parts, l->len);
    ND_TRY(st);
    return nd_matrix_value(r, out);
}

nd_status nd_bi_CONCAT(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    return join("concat", nd_arr_concat, args, nargs, out);
}

nd_status nd_bi_STACK(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    return join("stack", nd_arr_stack, args, nargs, out);
}

nd_status nd_bi_KRON(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL, *B = NULL, *r = NULL;
    ND_TRY(nd_arg_matrix("kron", 1, args[0], &A));
    ND_TRY(nd_arg_matrix("kron", 2, args[1], &B));
    ND_VM_LA((double)nd_arr_size(A) * (double)nd_arr_size(B), nd_arr_kron(A, B, &r));
    return nd_matrix_value(r, out);
}

/* Rank-local: the product of B's first k dimensions (k already checked). */
static double contracted(const nd_dm *B, int k)
{
    double p = 1;
    for (int i = 0; i < k; i++) p *= (double)nd_arr_shape(B)[i];
    return p;
}

/* tensordot(A, B, k): an array, or a float for a full contraction.  The flops are the
 * product's 2*M*K*N = 2 * size(A) * size(B) / K. */
nd_status nd_bi_TENSORDOT(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL, *B = NULL, *r = NULL;
    int k = 2;
    double s = 0;
    ND_TRY(nd_arg_matrix("tensordot", 1, args[0], &A));
    ND_TRY(nd_arg_matrix("tensordot", 2, args[1], &B));
    if (nargs > 2) ND_TRY(small_int("tensordot", 3, args[2], &k));
    ND_VM_LA(2.0 * (double)nd_arr_size(A) * (double)nd_arr_size(B) / (double)contracted(B, k),
       nd_la_tensordot(A, B, k, &r, &s));
    if (!r) {
        *out = ND_FLOAT(s);
        return ND_OK;
    }
    return nd_matrix_value(r, out);
}
