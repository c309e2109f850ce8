/* index.c: indexing and slicing of lists, maps and arrays (LANGUAGE.md "Statements",
 * "Expressions", "Arrays (n-d)"; opcodes GETINDEX .. SETSLICE, GETSUB, SETSUB).  Indices
 * are 0-based ints, negative ones counting from the end.  The older opcodes keep their
 * fast paths for matrices indexed by non-negative ints; anything else (another rank of
 * array, a negative index, a step) goes to nd_arr_subscript / nd_arr_subassign.  What the
 * VM checks is checked before any collective call, so that every rank fails alike (arr.h
 * errors are uniform too).
 */
#include "vm/vm_internal.h"

#include "runtime/arr.h"
#include "runtime/dm.h"
#include "runtime/spmd.h"
#include "runtime/stats.h"

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
    int64_t j = i < 0 ? i + (int64_t)l->len : i; /* L[-1] is the last */
    if (j < 0 || (uint64_t)j >= l->len)
        return nd_err_set(ND_EPROG, "list index %" PRId64 " out of range (length %zu)", i,
                          l->len);
    *slot = &l->items[j];
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

/* ---- the general path: nd_arr_subscript / nd_arr_subassign ---- */

static bool is_2d(const nd_dm *A)
{
    return nd_arr_ndim(A) == 2;
}

static nd_sub index_sub(int64_t i)
{
    return (nd_sub){.kind = ND_SUB_INDEX, .start = i};
}

/* A slice bound (nil: omitted). */
static nd_status bound(nd_value v, uint8_t bit, int64_t *out, uint8_t *has)
{
    if (v.type == ND_T_NIL) return ND_OK;
    ND_TRY(need_int(v, "a slice bound", out));
    *has |= bit;
    return ND_OK;
}

static nd_status slice_sub(nd_value lo, nd_value hi, nd_value step, nd_sub *s)
{
    *s = (nd_sub){.kind = ND_SUB_SLICE};
    ND_TRY(bound(lo, ND_SUB_HAS_START, &s->start, &s->has));
    ND_TRY(bound(hi, ND_SUB_HAS_STOP, &s->stop, &s->has));
    return bound(step, ND_SUB_HAS_STEP, &s->step, &s->has);
}

static nd_status sub_get(nd_vm *vm, const nd_dm *A, int n, const nd_sub *subs,
                         unsigned op, nd_value *out)
{
    ND_TRY(nd_vm_coll_check(vm, ND_TAG_OPCODE, op, "[]"));
    nd_dm *r = NULL;
    double v = 0;
    ND_TRY(nd_arr_subscript(A, n, subs, &r, &v));
    if (!r) {
        *out = ND_FLOAT(v);
        return ND_OK;
    }
    nd_vm_count_work(vm);
    return nd_matrix_value(r, out);
}

static nd_status sub_set(nd_vm *vm, nd_dm *A, int n, const nd_sub *subs, nd_value v,
                         unsigned op)
{
    const nd_dm *B = NULL;
    double d = 0;
    if (v.type == ND_T_MATRIX) B = ND_AS_MATRIX(v)->dm;
    else ND_TRY(nd_val_to_double(v, "an array element", &d));
    ND_TRY(nd_vm_coll_check(vm, ND_TAG_OPCODE, op, "[]="));
    ND_TRY(nd_arr_subassign(A, n, subs, B, d));
    nd_vm_count_work(vm);
    return ND_OK;
}

/* The subscripts of GETSUB/SETSUB (opcodes.def) as nd_subs. */
static nd_status read_subs(const nd_value *regs, unsigned n, nd_sub *subs)
{
    nd_value m = regs[3 * n];
    ND_CHECK(m.type == ND_T_INT, ND_EINTERNAL, "subscript mask is %s", nd_val_typename(m));
    for (unsigned k = 0; k < n; k++) {
        const nd_value *r = &regs[3 * k];
        if ((uint64_t)m.as.i >> k & 1u) {
            ND_TRY(slice_sub(r[0], r[1], r[2], &subs[k]));
        } else {
            int64_t i = 0;
            ND_TRY(need_int(r[0], "an array index", &i));
            subs[k] = index_sub(i);
        }
    }
    return ND_OK;
}

/* One subscript on a list or map (GETSUB with a step or a slice: not for them). */
static nd_status not_array(nd_value c, unsigned n)
{
    if (c.type == ND_T_LIST || c.type == ND_T_MAP)
        return nd_err_set(ND_EPROG, "cannot %s %s (slices and more subscripts are for arrays)",
                          n == 1 ? "slice" : "index", nd_val_typename(c));
    return no_index(c, "");
}

nd_status nd_val_getsub(nd_vm *vm, nd_value c, const nd_value *regs, unsigned n,
                        nd_value *out)
{
    if (c.type != ND_T_MATRIX) return not_array(c, n);
    nd_sub subs[256];
    ND_TRY(read_subs(regs, n, subs));
    return sub_get(vm, ND_AS_MATRIX(c)->dm, (int)n, subs, ND_OP_GETSUB, out);
}

nd_status nd_val_setsub(nd_vm *vm, nd_value c, const nd_value *regs, unsigned n,
                        nd_value v)
{
    if (c.type != ND_T_MATRIX) return not_array(c, n);
    nd_sub subs[256];
    ND_TRY(read_subs(regs, n, subs));
    return sub_set(vm, ND_AS_MATRIX(c)->dm, (int)n, subs, v, ND_OP_SETSUB);
}

/* Whether the older one-subscript path takes A[k]: a 2-D vector and a non-negative
 * int (its own errors for the rest of the 2-D cases). */
static bool vector_fast(const nd_dm *A, nd_value k)
{
    return is_2d(A) && (nd_dm_rows(A) == 1 || nd_dm_cols(A) == 1) &&
           (k.type != ND_T_INT || k.as.i >= 0);
}

static bool pair_fast(const nd_dm *A, nd_value i, nd_value j)
{
    return is_2d(A) && (i.type != ND_T_INT || i.as.i >= 0) && (j.type != ND_T_INT || j.as.i >= 0);
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
        const nd_dm *A = ND_AS_MATRIX(c)->dm;
        int64_t i = 0, j = 0;
        if (!vector_fast(A, k)) {
            ND_TRY(need_int(k, "an array index", &i));
            nd_sub s1 = index_sub(i);
            return sub_get(vm, A, 1, &s1, ND_OP_GETINDEX, out);
        }
        ND_TRY(vector_index(A, k, &i, &j));
        return get_element(vm, A, i, j, ND_OP_GETINDEX, out);
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
        nd_dm *A = ND_AS_MATRIX(c)->dm;
        int64_t i = 0, j = 0;
        if (!vector_fast(A, k)) {
            ND_TRY(need_int(k, "an array index", &i));
            nd_sub s1 = index_sub(i);
            return sub_set(vm, A, 1, &s1, v, ND_OP_SETINDEX);
        }
        ND_TRY(vector_index(A, k, &i, &j));
        return set_element(vm, A, i, j, v, ND_OP_SETINDEX);
    }
    default: return no_index(c, "");
    }
}

/* Two int subscripts for the general path (negative indices, arrays not 2-D). */
static nd_status pair_subs(nd_value vi, nd_value vj, nd_sub s2[2])
{
    int64_t i = 0, j = 0;
    ND_TRY(need_int(vi, "an array index", &i));
    ND_TRY(need_int(vj, "an array index", &j));
    s2[0] = index_sub(i);
    s2[1] = index_sub(j);
    return ND_OK;
}

nd_status nd_val_getindex2(nd_vm *vm, nd_value c, nd_value vi, nd_value vj, nd_value *out)
{
    if (c.type != ND_T_MATRIX) return no_index(c, " with two subscripts");
    const nd_dm *A = ND_AS_MATRIX(c)->dm;
    int64_t i = 0, j = 0;
    if (!pair_fast(A, vi, vj)) {
        nd_sub s2[2];
        ND_TRY(pair_subs(vi, vj, s2));
        return sub_get(vm, A, 2, s2, ND_OP_GETINDEX2, out);
    }
    ND_TRY(matrix_index(A, vi, vj, &i, &j));
    return get_element(vm, A, i, j, ND_OP_GETINDEX2, out);
}

nd_status nd_val_setindex2(nd_vm *vm, nd_value c, nd_value vi, nd_value vj, nd_value v)
{
    if (c.type != ND_T_MATRIX) return no_index(c, " with two subscripts");
    nd_dm *A = ND_AS_MATRIX(c)->dm;
    int64_t i = 0, j = 0;
    if (!pair_fast(A, vi, vj)) {
        nd_sub s2[2];
        ND_TRY(pair_subs(vi, vj, s2));
        return sub_set(vm, A, 2, s2, v, ND_OP_SETINDEX2);
    }
    ND_TRY(matrix_index(A, vi, vj, &i, &j));
    return set_element(vm, A, i, j, v, ND_OP_SETINDEX2);
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

/* GETSLICE/SETSLICE's fast path: a matrix and no negative bound. */
static bool block_fast(const nd_dm *A, const nd_value *b)
{
    if (!is_2d(A)) return false;
    for (int k = 0; k < 4; k++)
        if (b[k].type == ND_T_INT && b[k].as.i < 0) return false;
    return true;
}

/* GETSLICE/SETSLICE's operands as two nd_subs. */
static nd_status block_subs(const nd_value *b, unsigned x, nd_sub *subs)
{
    for (int d = 0; d < 2; d++) {
        if (x & (1u << d)) {
            int64_t i = 0;
            ND_TRY(need_int(b[2 * d], "an array index", &i));
            subs[d] = index_sub(i);
        } else {
            ND_TRY(slice_sub(b[2 * d], b[2 * d + 1], ND_NIL, &subs[d]));
        }
    }
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
    if (!block_fast(A, bounds)) {
        nd_sub s2[2];
        ND_TRY(block_subs(bounds, x, s2));
        return sub_get(vm, A, 2, s2, ND_OP_GETSLICE, out);
    }
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
    bool fast = block_fast(A, bounds);
    if (fast) ND_TRY(resolve_block(A, bounds, x, &r0, &r1, &c0, &c1));
    /* a value that broadcasts to the block (another shape) goes the general way too */
    if (fast && v.type == ND_T_MATRIX) {
        const nd_dm *B = ND_AS_MATRIX(v)->dm;
        fast = is_2d(B) && nd_dm_rows(B) == r1 - r0 && nd_dm_cols(B) == c1 - c0;
    }
    if (!fast) {
        nd_sub s2[2];
        ND_TRY(block_subs(bounds, x, s2));
        return sub_set(vm, A, 2, s2, v, ND_OP_SETSLICE);
    }
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

nd_status nd_val_sub_ew(nd_vm *vm, nd_value c, const nd_value *regs, unsigned n, unsigned x,
                        int op, nd_value other, bool sub_left, bool other_dead, nd_value *out,
                        bool *done, bool *reused)
{
    *done = *reused = false;
    if (c.type != ND_T_MATRIX) return ND_OK;
    const nd_dm *A = ND_AS_MATRIX(c)->dm;
    nd_sub subs[256];
    unsigned nsub = n;
    if (n == 0) { /* GETSLICE: both subscripts slices, its own bounds checks first */
        if (x != 0) return ND_OK;
        if (block_fast(A, regs)) {
            int64_t r0 = 0, r1 = 0, c0 = 0, c1 = 0;
            ND_TRY(resolve_block(A, regs, x, &r0, &r1, &c0, &c1));
            const uint8_t both = ND_SUB_HAS_START | ND_SUB_HAS_STOP;
            subs[0] = (nd_sub){.kind = ND_SUB_SLICE, .start = r0, .stop = r1, .has = both};
            subs[1] = (nd_sub){.kind = ND_SUB_SLICE, .start = c0, .stop = c1, .has = both};
        } else {
            ND_TRY(block_subs(regs, x, subs));
        }
        nsub = 2;
    } else {
        ND_TRY(read_subs(regs, n, subs));
    }
    nd_ew_op ew;
    int base; /* the arithmetic opcode, for the check's label */
    switch (op) {
    case ND_OP_ADD: case ND_OP_ADDK: ew = ND_EW_ADD, base = ND_OP_ADD; break;
    case ND_OP_SUB: case ND_OP_SUBK: ew = ND_EW_SUB, base = ND_OP_SUB; break;
    case ND_OP_MUL: case ND_OP_MULK: ew = ND_EW_MUL, base = ND_OP_MUL; break;
    case ND_OP_DIV: ew = ND_EW_DIV, base = ND_OP_DIV; break;
    default: return ND_OK;
    }
    const nd_dm *X = NULL;
    double s = 0.0;
    if (other.type == ND_T_MATRIX) X = ND_AS_MATRIX(other)->dm;
    else if (other.type == ND_T_INT) s = (double)other.as.i;
    else if (other.type == ND_T_FLOAT) s = other.as.f;
    else return ND_OK;
    nd_dm *W = X && other_dead && other.as.o->rc == 1 ? ND_AS_MATRIX(other)->dm : NULL;
    nd_dm *r = NULL;
    /* the two instructions' checks before their collective work (when the fusion is not
     * taken, they run again: on every rank alike) */
    ND_TRY(nd_vm_coll_check(vm, ND_TAG_OPCODE, n ? ND_OP_GETSUB : ND_OP_GETSLICE, "[]"));
    ND_TRY(nd_vm_coll_check(vm, ND_TAG_OPCODE, (unsigned)op, nd_op_sym(base)));
    nd_stats_begin(ND_STATS_LA);
    nd_status st = nd_arr_ew_subscript(ew, X, s, A, (int)nsub, subs, sub_left, W, &r);
    nd_stats_end(ND_STATS_LA);
    ND_TRY(st);
    if (!r) return ND_OK;
    nd_stats_add_flops((double)nd_dm_rows(r) * (double)nd_dm_cols(r));
    nd_vm_count_work(vm);
    nd_vm_count_work(vm);
    *done = true;
    if (r == W) {
        *reused = true;
        *out = other;
        return ND_OK;
    }
    return nd_matrix_value(r, out);
}
