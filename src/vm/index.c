/* index.c: indexing and slicing of lists, maps and matrices (LANGUAGE.md "Statements",
 * "Expressions"; opcodes GETINDEX .. SETSLICE).  Indices are 0-based ints; everything is
 * checked here, before any collective matrix call, so that every rank fails alike.
 */
#include "vm/vm_internal.h"

#include "runtime/dm.h"

#include <inttypes.h>

static nd_status need_int(nd_value v, const char *what, int64_t *out)
{
    if (v.type != ND_T_INT)
        return nd_err_set(ND_EPROG, "%s must be an int, not %s", what, nd_val_typename(v));
    *out = v.as.i;
    return ND_OK;
}

static nd_status list_slot(nd_list *l, nd_value k, nd_value **slot)
{
    int64_t i = 0;
    ND_TRY(need_int(k, "a list index", &i));
    if (i < 0 || (uint64_t)i >= l->len)
        return nd_err_set(ND_EPROG, "list index %" PRId64 " out of range (length %zu)", i,
                          l->len);
    *slot = &l->items[i];
    return ND_OK;
}

static nd_status map_key(nd_value k, nd_str **key)
{
    if (k.type != ND_T_STR)
        return nd_err_set(ND_EPROG, "map keys are strings, not %s", nd_val_typename(k));
    *key = ND_AS_STR(k);
    return ND_OK;
}

static nd_status missing_key(const nd_str *key)
{
    return nd_err_set(ND_EPROG, "missing key \"%.200s\"", key->data);
}

static nd_status no_index(nd_value c, const char *how)
{
    return nd_err_set(ND_EPROG, "cannot index %s%s", nd_val_typename(c), how);
}

/* Resolves a one-subscript matrix index to (row, col). */
static nd_status vector_index(const nd_dm *A, nd_value k, int64_t *i, int64_t *j)
{
    int64_t m = nd_dm_rows(A), n = nd_dm_cols(A), x = 0;
    if (m != 1 && n != 1)
        return nd_err_set(ND_EPROG,
                          "one subscript needs a one-row or one-column matrix, not %" PRId64
                          "x%" PRId64 " (use A[i, j])", m, n);
    ND_TRY(need_int(k, "a matrix index", &x));
    if (x < 0 || x >= m * n)
        return nd_err_set(ND_EPROG, "index %" PRId64 " out of range for a %" PRId64 "x%" PRId64
                          " matrix", x, m, n);
    *i = m == 1 ? 0 : x;
    *j = m == 1 ? x : 0;
    return ND_OK;
}

static nd_status matrix_index(const nd_dm *A, nd_value vi, nd_value vj, int64_t *i, int64_t *j)
{
    int64_t m = nd_dm_rows(A), n = nd_dm_cols(A);
    ND_TRY(need_int(vi, "a matrix index", i));
    ND_TRY(need_int(vj, "a matrix index", j));
    if (*i < 0 || *i >= m || *j < 0 || *j >= n)
        return nd_err_set(ND_EPROG, "index (%" PRId64 ", %" PRId64 ") out of range for a %" PRId64
                          "x%" PRId64 " matrix", *i, *j, m, n);
    return ND_OK;
}

static nd_status get_element(nd_vm *vm, const nd_dm *A, int64_t i, int64_t j, unsigned op,
                             nd_value *out)
{
    double v = 0;
    ND_TRY(nd_vm_coll_check(vm, ND_TAG_OPCODE, op, "[]"));
    ND_TRY(nd_dm_get(A, i, j, &v));
    *out = ND_FLOAT(v);
    return ND_OK;
}

static nd_status set_element(nd_vm *vm, nd_dm *A, int64_t i, int64_t j, nd_value v, unsigned op)
{
    double d = 0;
    ND_TRY(nd_val_to_double(v, "a matrix element", &d));
    ND_TRY(nd_vm_coll_check(vm, ND_TAG_OPCODE, op, "[]="));
    return nd_dm_set(A, i, j, d);
}

nd_status nd_val_getindex(nd_vm *vm, nd_value c, nd_value k, nd_value *out)
{
    switch (c.type) {
    case ND_T_LIST: {
        nd_value *slot;
        ND_TRY(list_slot(ND_AS_LIST(c), k, &slot));
        nd_val_incref(*slot);
        *out = *slot;
        return ND_OK;
    }
    case ND_T_MAP: {
        nd_str *key = NULL;
        ND_TRY(map_key(k, &key));
        nd_value *slot = nd_map_get(ND_AS_MAP(c), key);
        if (!slot) return missing_key(key);
        nd_val_incref(*slot);
        *out = *slot;
        return ND_OK;
    }
    case ND_T_MATRIX: {
        int64_t i = 0, j = 0;
        ND_TRY(vector_index(ND_AS_MATRIX(c)->dm, k, &i, &j));
        return get_element(vm, ND_AS_MATRIX(c)->dm, i, j, ND_OP_GETINDEX, out);
    }
    default: return no_index(c, "");
    }
}

nd_status nd_val_setindex(nd_vm *vm, nd_value c, nd_value k, nd_value v)
{
    switch (c.type) {
    case ND_T_LIST: {
        nd_value *slot;
        ND_TRY(list_slot(ND_AS_LIST(c), k, &slot));
        nd_val_incref(v);
        nd_val_set(slot, v);
        return ND_OK;
    }
    case ND_T_MAP: {
        nd_str *key = NULL;
        ND_TRY(map_key(k, &key));
        return nd_map_set(ND_AS_MAP(c), key, v);
    }
    case ND_T_MATRIX: {
        int64_t i = 0, j = 0;
        ND_TRY(vector_index(ND_AS_MATRIX(c)->dm, k, &i, &j));
        return set_element(vm, ND_AS_MATRIX(c)->dm, i, j, v, ND_OP_SETINDEX);
    }
    default: return no_index(c, "");
    }
}

nd_status nd_val_getindex2(nd_vm *vm, nd_value c, nd_value vi, nd_value vj, nd_value *out)
{
    if (c.type != ND_T_MATRIX) return no_index(c, " with two subscripts");
    int64_t i = 0, j = 0;
    ND_TRY(matrix_index(ND_AS_MATRIX(c)->dm, vi, vj, &i, &j));
    return get_element(vm, ND_AS_MATRIX(c)->dm, i, j, ND_OP_GETINDEX2, out);
}

nd_status nd_val_setindex2(nd_vm *vm, nd_value c, nd_value vi, nd_value vj, nd_value v)
{
    if (c.type != ND_T_MATRIX) return no_index(c, " with two subscripts");
    int64_t i = 0, j = 0;
    ND_TRY(matrix_index(ND_AS_MATRIX(c)->dm, vi, vj, &i, &j));
    return set_element(vm, ND_AS_MATRIX(c)->dm, i, j, v, ND_OP_SETINDEX2);
}

/* One dimension of a slice: [lo, hi) from two bounds (nil = start/end), or the single
 * index lo when `single`. */
static nd_status resolve_dim(const char *dim, nd_value blo, nd_value bhi, bool single,
                             int64_t size, int64_t *lo, int64_t *hi)
{
    if (single) {
        ND_TRY(need_int(blo, "a matrix index", lo));
        if (*lo < 0 || *lo >= size)
            return nd_err_set(ND_EPROG, "%s index %" PRId64 " out of range (%" PRId64 " %ss)",
                              dim, *lo, size, dim);
        *hi = *lo + 1;
        return ND_OK;
    }
    *lo = 0;
    *hi = size;
    if (blo.type != ND_T_NIL) ND_TRY(need_int(blo, "a slice bound", lo));
    if (bhi.type != ND_T_NIL) ND_TRY(need_int(bhi, "a slice bound", hi));
    if (*lo < 0 || *hi > size || *lo >= *hi)
        return nd_err_set(ND_EPROG, "%s slice %" PRId64 ":%" PRId64 " %s (%" PRId64 " %ss)",
                          dim, *lo, *hi, *lo >= *hi && *lo >= 0 && *hi <= size
                                             ? "is empty" : "out of range",
                          size, dim);
    return ND_OK;
}

static nd_status resolve_block(const nd_dm *A, const nd_value *b, unsigned x, int64_t *r0,
                               int64_t *r1, int64_t *c0, int64_t *c1)
{
    ND_TRY(resolve_dim("row", b[0], b[1], x & 1u, nd_dm_rows(A), r0, r1));
    return resolve_dim("column", b[2], b[3], x & 2u, nd_dm_cols(A), c0, c1);
}

nd_status nd_val_getslice(nd_vm *vm, nd_value c, const nd_value *bounds, unsigned x,
                          nd_value *out)
{
    if (c.type != ND_T_MATRIX)
        return nd_err_set(ND_EPROG, "cannot slice %s (slices are for matrices)",
                          nd_val_typename(c));
    const nd_dm *A = ND_AS_MATRIX(c)->dm;
    int64_t r0 = 0, r1 = 0, c0 = 0, c1 = 0;
    ND_TRY(resolve_block(A, bounds, x, &r0, &r1, &c0, &c1));
    ND_TRY(nd_vm_coll_check(vm, ND_TAG_OPCODE, ND_OP_GETSLICE, "[:]"));
    nd_dm *r = NULL;
    ND_TRY(nd_dm_slice(A, r0, r1, c0, c1, &r));
    return nd_matrix_value(r, out);
}

nd_status nd_val_setslice(nd_vm *vm, nd_value c, const nd_value *bounds, unsigned x,
                          nd_value v)
{
    if (c.type != ND_T_MATRIX)
        return nd_err_set(ND_EPROG, "cannot slice %s (slices are for matrices)",
                          nd_val_typename(c));
    nd_dm *A = ND_AS_MATRIX(c)->dm;
    int64_t r0 = 0, r1 = 0, c0 = 0, c1 = 0;
    ND_TRY(resolve_block(A, bounds, x, &r0, &r1, &c0, &c1));
    if (v.type == ND_T_MATRIX) {
        const nd_dm *B = ND_AS_MATRIX(v)->dm;
        if (nd_dm_rows(B) != r1 - r0 || nd_dm_cols(B) != c1 - c0)
            return nd_err_set(ND_EPROG, "shape mismatch: the block is %" PRId64 "x%" PRId64
                              ", the value %" PRId64 "x%" PRId64, r1 - r0, c1 - c0,
                              nd_dm_rows(B), nd_dm_cols(B));
        ND_TRY(nd_vm_coll_check(vm, ND_TAG_OPCODE, ND_OP_SETSLICE, "[:]="));
        return nd_dm_assign(A, r0, c0, B);
    }
    double d = 0;
    ND_TRY(nd_val_to_double(v, "a block value", &d));
    ND_TRY(nd_vm_coll_check(vm, ND_TAG_OPCODE, ND_OP_SETSLICE, "[:]="));
    return nd_dm_assign_scalar(A, r0, r1, c0, c1, d);
}
