/* builtins_axis.c: the reductions and scans of arrays, over all elements or along an
 * axis (LANGUAGE.md "Arrays (n-d)", "Reductions"): sum mean min max std argmin argmax
 * any all, and cumsum sort argsort flip, mapped onto src/runtime/arr.h.  Arguments are
 * checked here, before the collective call, so that a bad one fails alike on every rank.
 * sum/mean/min/max of a whole array stay dm.h's block-order reductions (the values they
 * always gave); with an axis, the result of a 1-D array is a number (argmin/argmax an
 * int, any/all a bool), else an array whose index values are floats.
 */
#include "vm/vm_internal.h"

#include "runtime/arr.h"
#include "runtime/stats.h"


/* Uniform: the axis argument k (an int, negative from the end) for A. */
static nd_status axis_arg(const char *fn, int k, nd_value v, const nd_dm *A, int *axis)
{
    int64_t ax = 0;
    ND_TRY(nd_arg_int(fn, k, v, &ax));
    return nd_arr_axis(fn, ax, nd_arr_ndim(A), axis);
}

/* A number of a reduction in the type the builtin gives. */
static nd_value red_value(nd_axis_op op, double r)
{
    if (op == ND_AX_ARGMIN || op == ND_AX_ARGMAX) return ND_INT((int64_t)r);
    if (op == ND_AX_ANY || op == ND_AX_ALL) return ND_BOOL(r != 0.0);
    return ND_FLOAT(r);
}

/* fn(A) or fn(A, axis). */
static nd_status reduce(const char *fn, nd_axis_op op, nd_value *args, int nargs,
                        nd_value *out)
{
    static const nd_red_op dm_op[] = {[ND_AX_SUM] = ND_RED_SUM, [ND_AX_MEAN] = ND_RED_MEAN,
                                      [ND_AX_MIN] = ND_RED_MIN, [ND_AX_MAX] = ND_RED_MAX};
    nd_dm *A = NULL, *R = NULL;
    double r = 0.0;
    ND_TRY(nd_arg_matrix(fn, 1, args[0], &A));
    double flops = (double)nd_arr_size(A);
    if (nargs < 2) {
        if (op <= ND_AX_MAX) ND_VM_LA(flops, nd_dm_reduce(dm_op[op], A, &r));
        else ND_VM_LA(flops, nd_arr_reduce_all(op, A, &r));
        *out = red_value(op, r);
        return ND_OK;
    }
    int axis = 0;
    ND_TRY(axis_arg(fn, 2, args[1], A, &axis));
    ND_VM_LA(flops, nd_arr_reduce_axis(op, A, axis, &R, &r));
    if (!R) {
        *out = red_value(op, r);
        return ND_OK;
    }
    return nd_matrix_value(R, out);
}

#define REDUCE(ID, name, OP)                                                             \
    nd_status nd_bi_##ID(nd_vm *vm, nd_value *args, int nargs, nd_value *out)            \
    {                                                                                    \
        (void)vm;                                                                        \
        return reduce(name, OP, args, nargs, out);                                       \
    }

REDUCE(SUM, "sum", ND_AX_SUM)
REDUCE(MEAN, "mean", ND_AX_MEAN)
REDUCE(MIN, "min", ND_AX_MIN)
REDUCE(MAX, "max", ND_AX_MAX)
REDUCE(STD, "std", ND_AX_STD)
REDUCE(ARGMIN, "argmin", ND_AX_ARGMIN)
REDUCE(ARGMAX, "argmax", ND_AX_ARGMAX)
REDUCE(ANY, "any", ND_AX_ANY)
REDUCE(ALL, "all", ND_AX_ALL)

/* fn(A, axis); fn(A) only for a 1-D A. */
static nd_status scan(const char *fn, nd_scan_op op, nd_value *args, int nargs, nd_value *out)
{
    nd_dm *A = NULL, *R = NULL;
    int axis = 0;
    ND_TRY(nd_arg_matrix(fn, 1, args[0], &A));
    int nd = nd_arr_ndim(A);
    if (nargs > 1) ND_TRY(axis_arg(fn, 2, args[1], A, &axis));
    else if (nd != 1)
        return nd_err_set(ND_EPROG, "%s: a %d-d array needs an axis: %s(A, axis)", fn, nd, fn);
    ND_VM_LA((double)nd_arr_size(A), nd_arr_scan(op, A, axis, &R));
    return nd_matrix_value(R, out);
}

#define SCAN(ID, name, OP)                                                               \
    nd_status nd_bi_##ID(nd_vm *vm, nd_value *args, int nargs, nd_value *out)            \
    {                                                                                    \
        (void)vm;                                                                        \
        return scan(name, OP, args, nargs, out);                                         \
    }

SCAN(CUMSUM, "cumsum", ND_SCAN_CUMSUM)
SCAN(SORT, "sort", ND_SCAN_SORT)
SCAN(ARGSORT, "argsort", ND_SCAN_ARGSORT)
SCAN(FLIP, "flip", ND_SCAN_FLIP)
