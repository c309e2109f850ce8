/* ops.c: the semantics of values outside the dispatch loop's fast paths: type names,
 * printing, equality, ordering and arithmetic on every combination of operands
 * (LANGUAGE.md "Values"; docs/vm.md).  The loop handles int/int and float/float inline
 * and falls back to nd_val_arith for the rest, so both must agree.
 */
#include "vm/vm_internal.h"

#include "common/alloc.h"
#include "la/la.h"
#include "nbc/builtin_ids.h"
#include "runtime/arr.h"
#include "runtime/dm.h"
#include "runtime/stats.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

static const char *const type_names[] = {
    "nil", "bool", "int", "float", "str", "list", "map", "matrix", "function", "builtin",
    "undefined",
};

/* An array value (ND_T_MATRIX) of other than 2 dimensions is an "array". */
const char *nd_val_typename(nd_value v)
{
    if (v.type == ND_T_MATRIX && nd_arr_ndim(ND_AS_MATRIX(v)->dm) != 2) return "array";
    return v.type <= ND_T_UNDEF ? type_names[v.type] : "?";
}

/* ---- printing ---- */

static nd_status repr_str(nd_strbuf *sb, const nd_str *s, bool quote)
{
    if (!quote) return nd_sb_append(sb, s->data, s->len);
    ND_TRY(nd_sb_putc(sb, '"'));
    for (uint32_t k = 0; k < s->len; k++) {
        char c = s->data[k];
        if (c == '"' || c == '\\') ND_TRY(nd_sb_putc(sb, '\\'));
        ND_TRY(nd_sb_putc(sb, c));
    }
    return nd_sb_putc(sb, '"');
}

nd_status nd_val_repr(const nd_program *prog, nd_strbuf *sb, nd_value v, bool quote)
{
    char buf[48];
    switch ((nd_type)v.type) {
    case ND_T_NIL: return nd_sb_puts(sb, "nil");
    case ND_T_BOOL: return nd_sb_puts(sb, v.as.b ? "true" : "false");
    case ND_T_INT: {
        /* By hand: printf is slow enough to show up in str() loops. */
        char *e = buf + sizeof buf, *q = e;
        uint64_t u = v.as.i < 0 ? 0u - (uint64_t)v.as.i : (uint64_t)v.as.i;
        do *--q = (char)('0' + u % 10); while ((u /= 10) != 0);
        if (v.as.i < 0) *--q = '-';
        return nd_sb_append(sb, q, (size_t)(e - q));
    }
    case ND_T_FLOAT:
        nd_fmt_double(buf, sizeof buf, v.as.f);
        return nd_sb_puts(sb, buf);
    case ND_T_STR: return repr_str(sb, ND_AS_STR(v), quote);
    case ND_T_LIST: {
        nd_list *l = ND_AS_LIST(v);
        if (l->h.gcflags & ND_GC_VISITING) return nd_sb_puts(sb, "[...]");
        l->h.gcflags |= ND_GC_VISITING;
        nd_status st = nd_sb_putc(sb, '[');
        for (size_t k = 0; st == ND_OK && k < l->len; k++) {
            if (k) st = nd_sb_puts(sb, ", ");
            if (st == ND_OK) st = nd_val_repr(prog, sb, l->items[k], true);
        }
        if (st == ND_OK) st = nd_sb_putc(sb, ']');
        l->h.gcflags &= (uint8_t)~ND_GC_VISITING;
        return st;
    }
    case ND_T_MAP: {
        nd_map *m = ND_AS_MAP(v);
        if (m->h.gcflags & ND_GC_VISITING) return nd_sb_puts(sb, "{...}");
        m->h.gcflags |= ND_GC_VISITING;
        nd_status st = nd_sb_putc(sb, '{');
        for (size_t k = 0; st == ND_OK && k < m->len; k++) {
            if (k) st = nd_sb_puts(sb, ", ");
            if (st == ND_OK) st = repr_str(sb, m->entries[k].key, true);
            if (st == ND_OK) st = nd_sb_puts(sb, ": ");
            if (st == ND_OK) st = nd_val_repr(prog, sb, m->entries[k].val, true);
        }
        if (st == ND_OK) st = nd_sb_putc(sb, '}');
        m->h.gcflags &= (uint8_t)~ND_GC_VISITING;
        return st;
    }
    case ND_T_MATRIX: {
        const nd_dm *dm = ND_AS_MATRIX(v)->dm;
        if (nd_arr_ndim(dm) != 2) {
            char shp[ND_SHAPE_STR];
            return nd_sb_printf(sb, "<array %s>",
                                nd_arr_shape_str(nd_arr_ndim(dm), nd_arr_shape(dm), shp));
        }
        return nd_sb_printf(sb, "<matrix %" PRId64 "x%" PRId64 ">", nd_dm_rows(dm),
                            nd_dm_cols(dm));
    }
    case ND_T_FUNC:
        return nd_sb_printf(sb, "<fn %s>",
                            prog && v.as.fn < prog->nfuncs ? prog->funcs[v.as.fn].name : "?");
    case ND_T_BUILTIN:
        return nd_sb_printf(sb, "<builtin %s>",
                            v.as.fn < ND_NBUILTINS ? nd_builtin_table[v.as.fn].name : "?");
    case ND_T_UNDEF: return nd_sb_puts(sb, "<undefined>");
    }
    return nd_sb_puts(sb, "?");
}

nd_status nd_val_tostr(const nd_program *prog, nd_value v, nd_value *out)
{
    if (v.type == ND_T_STR) {
        nd_val_incref(v);
        *out = v;
        return ND_OK;
    }
    nd_strbuf sb;
    nd_sb_init(&sb);
    nd_status st = nd_val_repr(prog, &sb, v, false);
    if (st == ND_OK) st = nd_str_value(sb.data ? sb.data : "", sb.len, out);
    nd_sb_free(&sb);
    return st;
}

/* ---- equality and ordering ---- */

/* Exact comparison of an int with a double (long double holds every int64). */
static int cmp_int_float(int64_t i, double f)
{
    long double a = (long double)i, b = (long double)f;
    return a < b ? -1 : a > b ? 1 : 0;
}

#define MAX_EQ_DEPTH 10000

static nd_status equal_rec(nd_value a, nd_value b, int depth, bool *eq)
{
    if (depth > MAX_EQ_DEPTH)
        return nd_err_set(ND_EPROG, "comparison too deep (a cyclic list or map?)");
    if (a.type == ND_T_MATRIX || b.type == ND_T_MATRIX)
        return nd_err_set(ND_EPROG, "cannot compare matrices with == (use norm, max, ...)");
    if (ND_IS_NUM(a) && ND_IS_NUM(b)) {
        if (a.type == ND_T_INT && b.type == ND_T_INT) *eq = a.as.i == b.as.i;
        else if (a.type == ND_T_FLOAT && b.type == ND_T_FLOAT) *eq = a.as.f == b.as.f;
        else if (a.type == ND_T_INT) *eq = !isnan(b.as.f) && cmp_int_float(a.as.i, b.as.f) == 0;
        else *eq = !isnan(a.as.f) && cmp_int_float(b.as.i, a.as.f) == 0;
        return ND_OK;
    }
    if (a.type != b.type) {
        *eq = false;
        return ND_OK;
    }
    switch ((nd_type)a.type) {
    case ND_T_NIL: *eq = true; return ND_OK;
    case ND_T_BOOL: *eq = a.as.b == b.as.b; return ND_OK;
    case ND_T_STR: *eq = nd_str_eq(ND_AS_STR(a), ND_AS_STR(b)); return ND_OK;
    case ND_T_FUNC:
    case ND_T_BUILTIN: *eq = a.as.fn == b.as.fn; return ND_OK;
    case ND_T_LIST: {
        nd_list *x = ND_AS_LIST(a), *y = ND_AS_LIST(b);
        *eq = x->len == y->len;
        for (size_t k = 0; *eq && k < x->len; k++)
            ND_TRY(equal_rec(x->items[k], y->items[k], depth + 1, eq));
        return ND_OK;
    }
    case ND_T_MAP: {
        nd_map *x = ND_AS_MAP(a), *y = ND_AS_MAP(b);
        *eq = x->len == y->len;
        for (size_t k = 0; *eq && k < x->len; k++) {
            nd_value *w = nd_map_get(y, x->entries[k].key);
            if (!w) *eq = false;
            else ND_TRY(equal_rec(x->entries[k].val, *w, depth + 1, eq));
        }
        return ND_OK;
    }
    default: *eq = false; return ND_OK;
    }
}

nd_status nd_val_equal(nd_value a, nd_value b, bool *eq)
{
    return equal_rec(a, b, 0, eq);
}

static const char *cmp_sym(int op)
{
    switch (op) {
    case ND_OP_LT: return "<";
    case ND_OP_LE: return "<=";
    case ND_OP_GT: return ">";
    default: return ">=";
    }
}

nd_status nd_val_compare(int op, nd_value a, nd_value b, bool *res)
{
    int c;
    if (ND_IS_NUM(a) && ND_IS_NUM(b)) {
        if (a.type == ND_T_INT && b.type == ND_T_INT) {
            c = a.as.i < b.as.i ? -1 : a.as.i > b.as.i;
        } else {
            bool unordered = (a.type == ND_T_FLOAT && isnan(a.as.f)) ||
                             (b.type == ND_T_FLOAT && isnan(b.as.f));
            if (unordered) {
                *res = false;
                return ND_OK;
            }
            if (a.type == ND_T_INT) c = cmp_int_float(a.as.i, b.as.f);
            else if (b.type == ND_T_INT) c = -cmp_int_float(b.as.i, a.as.f);
            else c = a.as.f < b.as.f ? -1 : a.as.f > b.as.f;
        }
    } else if (a.type == ND_T_STR && b.type == ND_T_STR) {
        const nd_str *x = ND_AS_STR(a), *y = ND_AS_STR(b);
        uint32_t n = x->len < y->len ? x->len : y->len;
        c = memcmp(x->data, y->data, n);
        if (c == 0) c = x->len < y->len ? -1 : x->len > y->len;
    } else {
        return nd_err_set(ND_EPROG, "cannot apply %s to %s and %s", cmp_sym(op),
                          nd_val_typename(a), nd_val_typename(b));
    }
    switch (op) {
    case ND_OP_LT: *res = c < 0; break;
    case ND_OP_LE: *res = c <= 0; break;
    case ND_OP_GT: *res = c > 0; break;
    default: *res = c >= 0; break;
    }
    return ND_OK;
}

/* ---- arithmetic ---- */

const char *nd_op_sym(int op)
{
    switch (op) {
    case ND_OP_ADD: return "+";
    case ND_OP_SUB: return "-";
    case ND_OP_MUL: return "*";
    case ND_OP_DIV: return "/";
    case ND_OP_MOD: return "%";
    case ND_OP_IDIV: return "//";
    case ND_OP_POW: return "^";
    case ND_OP_MATMUL: return "@";
    case ND_OP_NEG: return "-";
    default: return "?";
    }
}

static nd_status type_error(int op, nd_value a, nd_value b)
{
    if (op == ND_OP_NEG)
        return nd_err_set(ND_EPROG, "cannot apply unary - to %s", nd_val_typename(a));
    return nd_err_set(ND_EPROG, "cannot apply %s to %s and %s", nd_op_sym(op),
                      nd_val_typename(a), nd_val_typename(b));
}

static nd_status overflow(int op)
{
    return nd_err_set(ND_EPROG, "integer overflow in %s", nd_op_sym(op));
}

/* Integer power by squaring; false on overflow.  e >= 0. */
static bool ipow(int64_t b, int64_t e, int64_t *r)
{
    int64_t acc = 1;
    while (e > 0) {
        if ((e & 1) && __builtin_mul_overflow(acc, b, &acc)) return false;
        e >>= 1;
        if (e && __builtin_mul_overflow(b, b, &b)) return false;
    }
    *r = acc;
    return true;
}

static double fmod_floor(double a, double b)
{
    double r = fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}

static nd_status int_arith(int op, int64_t x, int64_t y, nd_value *out)
{
    int64_t r = 0;
    switch (op) {
    case ND_OP_ADD:
        if (__builtin_add_overflow(x, y, &r)) return overflow(op);
        break;
    case ND_OP_SUB:
        if (__builtin_sub_overflow(x, y, &r)) return overflow(op);
        break;
    case ND_OP_MUL:
        if (__builtin_mul_overflow(x, y, &r)) return overflow(op);
        break;
    case ND_OP_DIV: *out = ND_FLOAT((double)x / (double)y); return ND_OK;
    case ND_OP_MOD:
        if (y == 0) return nd_err_set(ND_EPROG, "integer modulo by zero");
        if (y == -1) r = 0; /* INT64_MIN % -1 traps in C */
        else {
            r = x % y;
            if (r != 0 && ((r < 0) != (y < 0))) r += y;
        }
        break;
    case ND_OP_IDIV:
        if (y == 0) return nd_err_set(ND_EPROG, "integer division by zero");
        if (y == -1 && x == INT64_MIN) return overflow(op);
        r = x / y;
        if (x % y != 0 && ((x < 0) != (y < 0))) r -= 1; /* C truncates; // floors */
        break;
    case ND_OP_POW:
        if (y < 0) {
            *out = ND_FLOAT(pow((double)x, (double)y));
            return ND_OK;
        }
        if (!ipow(x, y, &r)) return overflow(op);
        break;
    case ND_OP_NEG:
        if (x == INT64_MIN) return nd_err_set(ND_EPROG, "integer overflow in unary -");
        r = -x;
        break;
    default: return type_error(op, ND_INT(x), ND_INT(y));
    }
    *out = ND_INT(r);
    return ND_OK;
}

static double float_op(int op, double x, double y)
{
    switch (op) {
    case ND_OP_ADD: return x + y;
    case ND_OP_SUB: return x - y;
    case ND_OP_MUL: return x * y;
    case ND_OP_DIV: return x / y;
    case ND_OP_MOD: return fmod_floor(x, y);
    case ND_OP_IDIV: return floor(x / y); /* as ND_EW_FLOORDIV */
    case ND_OP_POW: return pow(x, y);
    default: return -x; /* NEG */
    }
}

static double num(nd_value v)
{
    return v.type == ND_T_INT ? (double)v.as.i : v.as.f;
}

/* The array behind an operand (NULL for a number). */
static const nd_dm *arr_of(nd_value v)
{
    return v.type == ND_T_MATRIX ? ND_AS_MATRIX(v)->dm : NULL;
}

static nd_status ew_of(int op, nd_ew_op *ew)
{
    switch (op) {
    case ND_OP_ADD: *ew = ND_EW_ADD; return ND_OK;
    case ND_OP_SUB: *ew = ND_EW_SUB; return ND_OK;
    case ND_OP_MUL: *ew = ND_EW_MUL; return ND_OK;
    case ND_OP_DIV: *ew = ND_EW_DIV; return ND_OK;
    case ND_OP_POW: *ew = ND_EW_POW; return ND_OK;
    case ND_OP_MOD: *ew = ND_EW_MOD; return ND_OK;
    case ND_OP_IDIV: *ew = ND_EW_FLOORDIV; return ND_OK;
    case ND_OP_LT: *ew = ND_EW_LT; return ND_OK;
    case ND_OP_LE: *ew = ND_EW_LE; return ND_OK;
    case ND_OP_GT: *ew = ND_EW_GT; return ND_OK;
    case ND_OP_GE: *ew = ND_EW_GE; return ND_OK;
    case ND_OP_EQ: *ew = ND_EW_EQ; return ND_OK;
    case ND_OP_NE: *ew = ND_EW_NE; return ND_OK;
    default: return ND_EPROG;
    }
}

static double elems(const nd_dm *A)
{
    return A ? (double)nd_arr_size(A) : 0.0;
}

/* An elementwise operator with an array operand (the other an array or a number),
 * broadcasting as numpy; NEG keeps the shape.  Collective. */
/* Whether the array of v may be the result of an op in place: its register is a dead
 * temporary (the compiler's flag) and nothing else holds it. */
static bool reusable(nd_value v, bool dead_tmp)
{
    return dead_tmp && v.type == ND_T_MATRIX && v.as.o->rc == 1;
}

/* The elementwise op into a dead temporary operand of the result's shape (numpy's
 * temporary elision: `A * B + C` writes the sum into A * B): true with *reused 1 (a) or 2
 * (b) when done, the status in *st. */
static bool ew_in_place(int op, nd_ew_op ew, nd_value a, nd_value b, unsigned tmp,
                        unsigned *reused, nd_status *st)
{
    const nd_dm *A = arr_of(a), *B = op == ND_OP_NEG ? NULL : arr_of(b);
    nd_dm *W = NULL;
    if (op == ND_OP_NEG) {
        if (!reusable(a, tmp & 1)) return false;
        W = ND_AS_MATRIX(a)->dm;
        *st = nd_dm_map_into(ND_MAP_NEG, A, W);
        *reused = 1;
        return true;
    }
    bool same = A && B && nd_arr_same_shape(A, B);
    if (reusable(a, tmp & 1) && (same || !B)) {
        W = ND_AS_MATRIX(a)->dm;
        *st = B ? nd_dm_ew_into(ew, A, B, W) : nd_dm_ew_scalar_into(ew, A, num(b), false, W);
        *reused = 1;
        return true;
    }
    if (reusable(b, tmp & 2) && (same || !A)) {
        W = ND_AS_MATRIX(b)->dm;
        *st = A ? nd_dm_ew_into(ew, A, B, W) : nd_dm_ew_scalar_into(ew, B, num(a), true, W);
        *reused = 2;
        return true;
    }
    return false;
}

static nd_status array_ew(nd_vm *vm, int op, const char *sym, nd_value a, nd_value b,
                          unsigned tmp, unsigned *reused, nd_value *out)
{
    nd_ew_op ew = ND_EW_ADD;
    const nd_dm *A = arr_of(a), *B = op == ND_OP_NEG ? NULL : arr_of(b);
    if (op != ND_OP_NEG && (ew_of(op, &ew) != ND_OK || (!A && !ND_IS_NUM(a)) ||
                            (!B && !ND_IS_NUM(b))))
        return nd_err_set(ND_EPROG, "cannot apply %s to %s and %s", sym, nd_val_typename(a),
                          nd_val_typename(b));
    if (A && B) { /* the shape error before the check: it is uniform */
        int nd;
        int64_t shape[ND_MAXDIM];
        ND_TRY(nd_arr_broadcast_shape(sym, nd_arr_ndim(A), nd_arr_shape(A), nd_arr_ndim(B),
                                      nd_arr_shape(B), &nd, shape));
    }
    ND_TRY(nd_vm_coll_check(vm, ND_TAG_OPCODE, (unsigned)op, sym));
    /* Nominal flops for the run summary (docs/config.md "Progress and summary"). */
    double flops = elems(A) > elems(B) ? elems(A) : elems(B);
    nd_dm *r = NULL;
    nd_status st = ND_OK;
    nd_stats_begin(ND_STATS_LA);
    *reused = 0;
    if (tmp && ew_in_place(op, ew, a, b, tmp, reused, &st)) {
        nd_stats_end(ND_STATS_LA);
        ND_TRY(st);
        nd_stats_add_flops(flops);
        nd_vm_count_work(vm);
        *out = *reused == 1 ? a : b; /* the register's reference moves to the result */
        return ND_OK;
    }
    if (op == ND_OP_NEG) st = nd_dm_map(ND_MAP_NEG, A, &r);
    else if (A && B) st = nd_arr_binop(ew, A, B, &r);
    else if (A) st = nd_arr_binop_scalar(ew, A, num(b), false, &r);
    else st = nd_arr_binop_scalar(ew, B, num(a), true, &r);
    nd_stats_end(ND_STATS_LA);
    ND_TRY(st);
    nd_stats_add_flops(flops);
    nd_vm_count_work(vm);
    return nd_matrix_value(r, out);
}

/* R := A as a 2-D array of shape (m, n): a relabel when the fold allows (*tmp NULL, A
 * relabelled in place: undo with nd_arr_relabel), else a reshaped copy in *tmp. */
static nd_status as_2d(nd_dm *A, int64_t m, int64_t n, bool may_relabel, nd_dm **tmp)
{
    *tmp = NULL;
    int64_t shape[2] = {m, n};
    if (may_relabel && nd_arr_relabel(A, 2, shape)) return ND_OK;
    return nd_arr_reshape(A, 2, shape, tmp);
}

static void undo_2d(nd_dm *A, nd_dm *tmp, int nd, const int64_t *shape)
{
    if (tmp) nd_dm_free(tmp);
    else (void)nd_arr_relabel(A, nd, shape);
}

/* @ as numpy's matmul: a 1-D operand is a vector (a row on the left, a column on the
 * right) and its axis is removed from the result; 1-D @ 1-D is a float.  Collective. */
static nd_status matmul(nd_vm *vm, nd_value a, nd_value b, nd_value *out)
{
    if (a.type != ND_T_MATRIX || b.type != ND_T_MATRIX) return type_error(ND_OP_MATMUL, a, b);
    nd_dm *A = ND_AS_MATRIX(a)->dm, *B = ND_AS_MATRIX(b)->dm;
    int na = nd_arr_ndim(A), nb = nd_arr_ndim(B);
    if (na > 2 || nb > 2)
        return nd_err_set(ND_EPROG, "@ takes 1-d and 2-d arrays, not a %d-d one (use tensordot)",
                          na > 2 ? na : nb);
    int64_t sa[ND_MAXDIM], sb[ND_MAXDIM];
    memcpy(sa, nd_arr_shape(A), sizeof sa);
    memcpy(sb, nd_arr_shape(B), sizeof sb);
    int64_t m = na == 1 ? 1 : sa[0], k = na == 1 ? sa[0] : sa[1];
    int64_t kb = sb[0], p = nb == 1 ? 1 : sb[1];
    if (k != kb) {
        char x[ND_SHAPE_STR], y[ND_SHAPE_STR];
        return nd_err_set(ND_EPROG, "shape mismatch: %s @ %s", nd_arr_shape_str(na, sa, x),
                          nd_arr_shape_str(nb, sb, y));
    }
    ND_TRY(nd_vm_coll_check(vm, ND_TAG_OPCODE, ND_OP_MATMUL, "@"));
    nd_dm *ta = NULL, *tb = NULL, *r = NULL, *r1 = NULL;
    nd_status st = ND_OK;
    nd_stats_begin(ND_STATS_LA);
    bool ra = false, rb = false; /* A, B relabelled or copied: undo */
    if (na == 1) ra = (st = as_2d(A, 1, k, true, &ta)) == ND_OK;
    /* x @ x: B is A, already relabelled as a row */
    if (st == ND_OK && nb == 1) rb = (st = as_2d(B, k, 1, B != A, &tb)) == ND_OK;
    if (st == ND_OK) st = nd_la_matmul(ta ? ta : A, tb ? tb : B, &r);
    if (rb) undo_2d(B, tb, nb, sb);
    if (ra) undo_2d(A, ta, na, sa);
    double scalar = 0;
    if (st == ND_OK && na == 1 && nb == 1) st = nd_dm_get(r, 0, 0, &scalar);
    else if (st == ND_OK && (na == 1 || nb == 1)) {
        int64_t len = na == 1 ? p : m;
        if (!nd_arr_relabel(r, 1, &len)) {
            st = nd_arr_reshape(r, 1, &len, &r1);
            nd_dm_free(r);
            r = r1;
        }
    }
    nd_stats_end(ND_STATS_LA);
    if (st != ND_OK || (na == 1 && nb == 1)) nd_dm_free(r);
    ND_TRY(st);
    nd_stats_add_flops(nd_stats_flops_matmul(m, k, p));
    nd_vm_count_work(vm);
    if (na == 1 && nb == 1) {
        *out = ND_FLOAT(scalar);
        return ND_OK;
    }
    return nd_matrix_value(r, out);
}

static nd_status matrix_arith(nd_vm *vm, int op, nd_value a, nd_value b, unsigned tmp,
                              unsigned *reused, nd_value *out)
{
    if (op == ND_OP_MATMUL) return matmul(vm, a, b, out);
    nd_ew_op ew;
    if (op != ND_OP_NEG && ew_of(op, &ew) != ND_OK) return type_error(op, a, b);
    return array_ew(vm, op, nd_op_sym(op), a, b, tmp, reused, out);
}

nd_status nd_val_compare_array(nd_vm *vm, int op, nd_value a, nd_value b, nd_value *out)
{
    const char *sym = op == ND_OP_EQ ? "==" : op == ND_OP_NE ? "!=" : cmp_sym(op);
    unsigned reused = 0;
    return array_ew(vm, op, sym, a, b, 0, &reused, out);
}

nd_status nd_val_arith(nd_vm *vm, int op, nd_value a, nd_value b, nd_value *out)
{
    unsigned reused = 0;
    return nd_val_arith_tmp(vm, op, a, b, 0, out, &reused);
}

nd_status nd_val_arith_tmp(nd_vm *vm, int op, nd_value a, nd_value b, unsigned tmp,
                           nd_value *out, unsigned *reused)
{
    *reused = 0;
    if (op == ND_OP_NEG) {
        if (a.type == ND_T_INT) return int_arith(op, a.as.i, 0, out);
        if (a.type == ND_T_FLOAT) {
            *out = ND_FLOAT(-a.as.f);
            return ND_OK;
        }
        if (a.type == ND_T_MATRIX) return matrix_arith(vm, op, a, b, tmp, reused, out);
        return type_error(op, a, b);
    }
    if (a.type == ND_T_MATRIX || b.type == ND_T_MATRIX)
        return matrix_arith(vm, op, a, b, tmp, reused, out);
    if (op == ND_OP_MATMUL) return type_error(op, a, b);
    if (a.type == ND_T_INT && b.type == ND_T_INT) return int_arith(op, a.as.i, b.as.i, out);
    if (ND_IS_NUM(a) && ND_IS_NUM(b)) {
        *out = ND_FLOAT(float_op(op, num(a), num(b)));
        return ND_OK;
    }
    if (op == ND_OP_ADD && a.type == ND_T_STR && b.type == ND_T_STR) {
        nd_str *s = nd_str_cat(ND_AS_STR(a), ND_AS_STR(b));
        if (!s) return nd_last_error.status;
        *out = ND_OBJ(ND_T_STR, s);
        return ND_OK;
    }
    return type_error(op, a, b);
}

/* ---- number helpers ---- */

nd_status nd_val_to_double(nd_value v, const char *what, double *out)
{
    if (v.type == ND_T_INT) *out = (double)v.as.i;
    else if (v.type == ND_T_FLOAT) *out = v.as.f;
    else return nd_err_set(ND_EPROG, "%s must be a number, not %s", what, nd_val_typename(v));
    return ND_OK;
}

nd_status nd_val_float_to_int(double f, const char *what, int64_t *out)
{
    /* 2^63 is exact as a double; every double in [-2^63, 2^63) converts. */
    if (isnan(f) || f >= 9223372036854775808.0 || f < -9223372036854775808.0) {
        char buf[48];
        nd_fmt_double(buf, sizeof buf, f);
        return nd_err_set(ND_EPROG, "%s: %s is out of the int range", what, buf);
    }
    *out = (int64_t)f;
    return ND_OK;
}
