/* opt.c: constant folding (exact run-time semantics, LANGUAGE.md "Values") and the
 * bytecode passes run at -O1: peephole (drop MOVE R,R and jumps to the next instruction;
 * fuse "compute a temporary, then MOVE it into a variable"), jump threading (a jump to an
 * unconditional jump goes straight to its target) and removal of unreachable code.
 * Invariant kept: every jump lands inside the function and the function ends in RET. */
#include "compiler/opt.h"

#include "common/alloc.h"
#include "common/strbuf.h"
#include "compiler/lex.h"
#include "nbc/builtin_ids.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- constant evaluation ------------------------------------------------------------ */

bool nd_opt_truthy(const nd_cval *v)
{
    return !(v->kind == CV_NIL || (v->kind == CV_BOOL && !v->b));
}

const char *nd_opt_type_name(const nd_cval *v)
{
    switch (v->kind) {
    case CV_NIL: return "nil";
    case CV_BOOL: return "bool";
    case CV_INT: return "int";
    case CV_FLOAT: return "float";
    case CV_STR: return "str";
    default: return "?";
    }
}

static bool is_num(const nd_cval *v) { return v->kind == CV_INT || v->kind == CV_FLOAT; }
static double num(const nd_cval *v) { return v->kind == CV_INT ? (double)v->i : v->f; }

static nd_fold_result make_int(nd_cval *out, int64_t i)
{
    memset(out, 0, sizeof *out);
    out->kind = CV_INT;
    out->i = i;
    return FOLD_OK;
}

static nd_fold_result make_float(nd_cval *out, double f)
{
    memset(out, 0, sizeof *out);
    out->kind = CV_FLOAT;
    out->f = f;
    return FOLD_OK;
}

static nd_fold_result make_bool(nd_cval *out, bool b)
{
    memset(out, 0, sizeof *out);
    out->kind = CV_BOOL;
    out->b = b;
    return FOLD_OK;
}

static nd_fold_result make_str(nd_arena *ar, nd_cval *out, const char *a, size_t alen,
                               const char *b, size_t blen)
{
    if (alen + blen > UINT32_MAX) return FOLD_NONE;
    char *s = nd_arena_alloc(ar, alen + blen + 1);
    if (!s) return FOLD_NONE;
    if (alen) memcpy(s, a, alen);
    if (blen) memcpy(s + alen, b, blen);
    memset(out, 0, sizeof *out);
    out->kind = CV_STR;
    out->s = s;
    out->slen = (uint32_t)(alen + blen);
    return FOLD_OK;
}

/* An int compares exactly with a float only while it is exactly representable. */
static bool exact_double(int64_t i) { return i >= -(INT64_C(1) << 53) && i <= (INT64_C(1) << 53); }

/* Compares two numbers: -1, 0, 1, or 2 when unordered (NaN) / not certain. */
static int num_cmp(const nd_cval *a, const nd_cval *b)
{
    if (a->kind == CV_INT && b->kind == CV_INT) return a->i < b->i ? -1 : a->i > b->i;
    if ((a->kind == CV_INT && !exact_double(a->i)) || (b->kind == CV_INT && !exact_double(b->i)))
        return 2;
    double x = num(a), y = num(b);
    if (x < y) return -1;
    if (x > y) return 1;
    if (x == y) return 0;
    return 3; /* NaN: every ordered comparison is false, != is true */
}

static int str_cmp(const nd_cval *a, const nd_cval *b)
{
    size_t n = a->slen < b->slen ? a->slen : b->slen;
    int c = n ? memcmp(a->s, b->s, n) : 0;
    if (c) return c < 0 ? -1 : 1;
    return a->slen < b->slen ? -1 : a->slen > b->slen;
}

static bool int_pow(int64_t base, int64_t e, int64_t *out)
{
    int64_t r = 1;
    while (e > 0) {
        if (e & 1)
            if (__builtin_mul_overflow(r, base, &r)) return false;
        e >>= 1;
        if (e && __builtin_mul_overflow(base, base, &base)) return false;
    }
    *out = r;
    return true;
}

/* Lua's float modulo: the result takes the sign of the divisor. */
static double float_mod(double a, double b)
{
    double m = fmod(a, b);
    if ((m > 0) ? b < 0 : (m < 0 && b != m)) m += b;
    return m;
}

static nd_fold_result arith(int op, const nd_cval *a, const nd_cval *b, nd_cval *out)
{
    if (a->kind == CV_INT && b->kind == CV_INT) {
        int64_t x = a->i, y = b->i, r;
        switch (op) {
        case TK_PLUS: return __builtin_add_overflow(x, y, &r) ? FOLD_NONE : make_int(out, r);
        case TK_MINUS: return __builtin_sub_overflow(x, y, &r) ? FOLD_NONE : make_int(out, r);
        case TK_STAR: return __builtin_mul_overflow(x, y, &r) ? FOLD_NONE : make_int(out, r);
        case TK_SLASH: return make_float(out, (double)x / (double)y);
        case TK_PERCENT:
            if (y == 0) return FOLD_NONE; /* a run-time error */
            if (y == -1) return make_int(out, 0);
            r = x % y;
            if (r != 0 && ((r ^ y) < 0)) r += y;
            return make_int(out, r);
        case TK_SLASHSLASH:
            /* 0 and INT64_MIN // -1 are run-time errors */
            if (y == 0 || (y == -1 && x == INT64_MIN)) return FOLD_NONE;
            r = x / y;
            if (x % y != 0 && ((x ^ y) < 0)) r -= 1;
            return make_int(out, r);
        case TK_CARET:
            if (y < 0) return make_float(out, pow((double)x, (double)y));
            return int_pow(x, y, &r) ? make_int(out, r) : FOLD_NONE;
        default: return FOLD_NONE;
        }
    }
    double x = num(a), y = num(b);
    switch (op) {
    case TK_PLUS: return make_float(out, x + y);
    case TK_MINUS: return make_float(out, x - y);
    case TK_STAR: return make_float(out, x * y);
    case TK_SLASH: return make_float(out, x / y);
    case TK_PERCENT: return y == 0 ? FOLD_NONE : make_float(out, float_mod(x, y));
    case TK_SLASHSLASH: return make_float(out, floor(x / y));
    case TK_CARET: return make_float(out, pow(x, y));
    default: return FOLD_NONE;
    }
}

nd_fold_result nd_opt_fold_binary(nd_arena *ar, int op, const nd_cval *a, const nd_cval *b,
                                  nd_cval *out)
{
    if (!a->kind || !b->kind) return FOLD_NONE;
    switch (op) {
    case TK_PLUS: case TK_MINUS: case TK_STAR: case TK_SLASH: case TK_SLASHSLASH:
    case TK_PERCENT: case TK_CARET:
        if (is_num(a) && is_num(b)) return arith(op, a, b, out);
        if (op == TK_PLUS && a->kind == CV_STR && b->kind == CV_STR)
            return make_str(ar, out, a->s, a->slen, b->s, b->slen);
        return FOLD_TYPE;
    case TK_AT:
        return is_num(a) && is_num(b) ? FOLD_NONE : FOLD_TYPE;
    case TK_EQ: case TK_NE: {
        bool eq;
        if (is_num(a) && is_num(b)) {
            int c = num_cmp(a, b);
            if (c == 2) return FOLD_NONE;
            eq = c == 0;
        } else if (a->kind != b->kind) {
            eq = false;
        } else if (a->kind == CV_STR) {
            eq = str_cmp(a, b) == 0;
        } else if (a->kind == CV_BOOL) {
            eq = a->b == b->b;
        } else {
            eq = true; /* nil == nil */
        }
        return make_bool(out, op == TK_EQ ? eq : !eq);
    }
    case TK_LT: case TK_LE: case TK_GT: case TK_GE: {
        int c;
        if (is_num(a) && is_num(b)) {
            c = num_cmp(a, b);
            if (c == 2) return FOLD_NONE;
            if (c == 3) return make_bool(out, false);
        } else if (a->kind == CV_STR && b->kind == CV_STR) {
            c = str_cmp(a, b);
        } else {
            return FOLD_TYPE;
        }
        bool r = op == TK_LT ? c < 0 : op == TK_LE ? c <= 0 : op == TK_GT ? c > 0 : c >= 0;
        return make_bool(out, r);
    }
    default:
        return FOLD_NONE;
    }
}

nd_fold_result nd_opt_fold_unary(int kind, const nd_cval *a, nd_cval *out)
{
    if (!a->kind) return FOLD_NONE;
    if (kind == E_NOT) return make_bool(out, !nd_opt_truthy(a));
    if (a->kind == CV_INT) return a->i == INT64_MIN ? FOLD_NONE : make_int(out, -a->i);
    if (a->kind == CV_FLOAT) return make_float(out, -a->f);
    return FOLD_TYPE;
}

/* A float converts to int only when it is finite and in range (else a run-time error). */
static nd_fold_result to_int(nd_cval *out, double f)
{
    if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0)) return FOLD_NONE;
    return make_int(out, (int64_t)f);
}

nd_fold_result nd_opt_fold_builtin(nd_arena *ar, int id, const nd_cval *args, int nargs,
                                   nd_cval *out)
{
    if (nargs != 1) return FOLD_NONE;
    const nd_cval *a = &args[0];
    switch (id) {
    case ND_BI_LEN:
        return a->kind == CV_STR ? make_int(out, a->slen) : FOLD_NONE;
    case ND_BI_STR: {
        char buf[64];
        switch (a->kind) {
        case CV_STR: *out = *a; return FOLD_OK;
        case CV_INT: snprintf(buf, sizeof buf, "%" PRId64, a->i); break;
        case CV_FLOAT: nd_fmt_double(buf, sizeof buf, a->f); break;
        case CV_BOOL: snprintf(buf, sizeof buf, "%s", a->b ? "true" : "false"); break;
        case CV_NIL: snprintf(buf, sizeof buf, "nil"); break;
        default: return FOLD_NONE;
        }
        return make_str(ar, out, buf, strlen(buf), "", 0);
    }
    default:
        break;
    }
    if (!is_num(a)) return FOLD_NONE;
    double x = num(a);
    switch (id) {
    case ND_BI_ABS:
        if (a->kind == CV_INT) return a->i == INT64_MIN ? FOLD_NONE : make_int(out, a->i < 0 ? -a->i : a->i);
        return make_float(out, fabs(x));
    case ND_BI_SQRT: return make_float(out, sqrt(x));
    case ND_BI_EXP: return make_float(out, exp(x));
    case ND_BI_LOG: return make_float(out, log(x));
    case ND_BI_SIN: return make_float(out, sin(x));
    case ND_BI_COS: return make_float(out, cos(x));
    case ND_BI_TANH: return make_float(out, tanh(x));
    case ND_BI_FLOAT: return make_float(out, x);
    case ND_BI_INT:
        return a->kind == CV_INT ? make_int(out, a->i) : to_int(out, trunc(x));
    case ND_BI_FLOOR:
        return a->kind == CV_INT ? make_int(out, a->i) : to_int(out, floor(x));
    case ND_BI_CEIL:
        return a->kind == CV_INT ? make_int(out, a->i) : to_int(out, ceil(x));
    case ND_BI_ROUND:
        return a->kind == CV_INT ? make_int(out, a->i) : to_int(out, round(x));
    default:
        return FOLD_NONE;
    }
}

/* ---- bytecode passes ---------------------------------------------------------------- */

bool nd_opt_is_cjump(int op)
{
    switch (op) {
    case ND_OP_JLT: case ND_OP_JLE: case ND_OP_JGT: case ND_OP_JGE: case ND_OP_JEQ:
    case ND_OP_JNE: case ND_OP_JLTK: case ND_OP_JLEK: case ND_OP_JGTK: case ND_OP_JGEK:
        return true;
    default:
        return false;
    }
}

static bool has_jump(int op)
{
    switch (op) {
    case ND_OP_JMP: case ND_OP_TEST: case ND_OP_JMPFALSY: case ND_OP_JMPTRUTHY:
    case ND_OP_FORPREP: case ND_OP_FORLOOP: case ND_OP_ITERPREP: case ND_OP_ITERLOOP:
        return true;
    default:
        return nd_opt_is_cjump(op);
    }
}

/* Compare-and-branch instructions keep their (forward, 16-bit) offset in C; the passes
 * only ever shorten a forward jump, so it stays in range. */
static int64_t target_of(const nd_func *f, uint32_t k)
{
    if (nd_opt_is_cjump(f->code[k].op)) return (int64_t)k + 1 + f->code[k].c;
    return (int64_t)k + 1 + ND_SBX(f->code[k]);
}

static void set_target(nd_instr *in, int64_t from, int64_t to)
{
    int32_t off = (int32_t)(to - (from + 1));
    if (nd_opt_is_cjump(in->op)) {
        in->c = (uint16_t)off;
        return;
    }
    uint32_t u = (uint32_t)off;
    in->b = (uint16_t)(u & 0xffff);
    in->c = (uint16_t)(u >> 16);
}

/* Instructions that only write R[A] (after reading their operands): their result may go
 * straight into the variable a following MOVE copies it to. */
static bool writes_only_a(int op)
{
    switch (op) {
    case ND_OP_MOVE: case ND_OP_LOADK: case ND_OP_LOADI: case ND_OP_LOADNIL:
    case ND_OP_LOADBOOL: case ND_OP_LOADFN: case ND_OP_LOADBI: case ND_OP_GETG:
    case ND_OP_ADD: case ND_OP_SUB: case ND_OP_MUL: case ND_OP_DIV: case ND_OP_MOD:
    case ND_OP_POW: case ND_OP_MATMUL: case ND_OP_NEG: case ND_OP_NOT: case ND_OP_EQ:
    case ND_OP_NE: case ND_OP_LT: case ND_OP_LE: case ND_OP_GT: case ND_OP_GE:
    case ND_OP_TRANSPOSE: case ND_OP_CALLB: case ND_OP_NEWLIST: case ND_OP_NEWMAP:
    case ND_OP_GETINDEX: case ND_OP_GETINDEX2: case ND_OP_GETSLICE:
    case ND_OP_ADDK: case ND_OP_SUBK: case ND_OP_MULK: case ND_OP_LTK: case ND_OP_LEK:
    case ND_OP_GTK: case ND_OP_GEK: case ND_OP_IDIV: case ND_OP_GETSUB:
        return true;
    default:
        return false;
    }
}

/* Jump threading: a jump whose target is a JMP goes to that JMP's target. */
static bool thread_jumps(nd_func *f)
{
    bool changed = false;
    for (uint32_t k = 0; k < f->ncode; k++) {
        int op = f->code[k].op;
        if (op != ND_OP_JMP && op != ND_OP_TEST && op != ND_OP_JMPFALSY && op != ND_OP_JMPTRUTHY)
            continue;
        int64_t t = target_of(f, k);
        int hops = 0;
        uint8_t x = f->code[k].x;
        while (hops < 32 && t >= 0 && t < f->ncode && f->code[t].op == ND_OP_JMP && t != (int64_t)k) {
            int64_t next = target_of(f, (uint32_t)t);
            if (next == t) break;
            /* The safe-point invariant: only JMP may jump backwards (the VM checks the
             * safe point there); a conditional branch stops at the JMP of a back-edge. */
            if (op != ND_OP_JMP && next <= (int64_t)k) break;
            x |= f->code[t].x; /* a back-edge JMP's ND_X_LOCAL goes with its target */
            t = next;
            hops++;
        }
        if (hops) {
            set_target(&f->code[k], k, t);
            if (op == ND_OP_JMP) f->code[k].x = x;
            changed = true;
        }
    }
    return changed;
}

static bool peephole(nd_func *f, uint8_t *flags, const bool *is_target)
{
    bool changed = false;
    for (uint32_t k = 0; k < f->ncode; k++) {
        nd_instr *in = &f->code[k];
        if (in->op == ND_OP_MOVE && in->a == in->b) {
            in->op = ND_OP_NOP;
            in->a = in->b = in->c = 0;
            changed = true;
        } else if (in->op == ND_OP_JMP && ND_SBX(*in) == 0) {
            in->op = ND_OP_NOP;
            in->a = in->b = in->c = 0;
            changed = true;
        } else if (in->op == ND_OP_MOVE && (flags[k] & ND_GEN_DEADTMP) && k > 0 && !is_target[k] &&
                   writes_only_a(f->code[k - 1].op) && f->code[k - 1].a == in->b) {
            f->code[k - 1].a = in->a;
            in->op = ND_OP_NOP;
            in->a = in->b = in->c = 0;
            flags[k] = 0;
            changed = true;
        }
    }
    return changed;
}

/* Removes NOPs and unreachable instructions (the final RET always stays), re-aiming jumps
 * at the next kept instruction. */
static nd_status compact(nd_func *f, uint8_t *flags, bool *changed)
{
    uint32_t n = f->ncode;
    uint8_t *reach = ND_ALLOC_N(uint8_t, n);
    uint32_t *stack = ND_ALLOC_N(uint32_t, n);
    uint32_t *map = ND_ALLOC_N(uint32_t, n + 1);
    if (!reach || !stack || !map) {
        ND_FREE_N(reach, n);
        ND_FREE_N(stack, n);
        ND_FREE_N(map, n + 1);
        return ND_ENOMEM;
    }
    uint32_t sp = 0;
    reach[0] = 1;
    stack[sp++] = 0;
    while (sp) {
        uint32_t k = stack[--sp];
        int op = f->code[k].op;
        int64_t succ[2];
        int ns = 0;
        if (op != ND_OP_JMP && op != ND_OP_RET && op != ND_OP_ITERPREP && k + 1 < n) succ[ns++] = k + 1;
        if (has_jump(op)) succ[ns++] = target_of(f, k);
        for (int i = 0; i < ns; i++) {
            if (succ[i] < 0 || succ[i] >= n || reach[succ[i]]) continue;
            reach[succ[i]] = 1;
            stack[sp++] = (uint32_t)succ[i];
        }
    }
    reach[n - 1] = 1;
    uint32_t m = 0;
    for (uint32_t k = 0; k < n; k++) {
        bool keep = reach[k] && (f->code[k].op != ND_OP_NOP || k == n - 1);
        if (!keep) reach[k] = 0;
        map[k] = m;
        if (keep) m++;
    }
    map[n] = m;
    /* a removed instruction's jumps go to the next kept one */
    for (uint32_t k = n; k-- > 0;)
        if (!reach[k]) map[k] = map[k + 1];
    if (m != n) {
        *changed = true;
        uint32_t j = 0;
        for (uint32_t k = 0; k < n; k++) {
            if (!reach[k]) continue;
            nd_instr in = f->code[k];
            if (has_jump(in.op)) {
                int64_t t = target_of(f, k);
                set_target(&in, j, map[t]);
            }
            f->code[j] = in;
            f->pos[j] = f->pos[k];
            flags[j] = flags[k];
            j++;
        }
        f->ncode = m;
    }
    ND_FREE_N(reach, n);
    ND_FREE_N(stack, n);
    ND_FREE_N(map, n + 1);
    return ND_OK;
}

nd_status nd_opt_function(nd_func *f, uint8_t *flags)
{
    if (f->ncode == 0) return ND_OK;
    for (int round = 0; round < 8; round++) {
        bool changed = thread_jumps(f);
        bool *is_target = ND_ALLOC_N(bool, f->ncode);
        if (!is_target) return ND_ENOMEM;
        for (uint32_t k = 0; k < f->ncode; k++)
            if (has_jump(f->code[k].op)) {
                int64_t t = target_of(f, k);
                if (t >= 0 && t < f->ncode) is_target[t] = true;
            }
        changed |= peephole(f, flags, is_target);
        ND_FREE_N(is_target, f->ncode);
        ND_TRY(compact(f, flags, &changed));
        if (!changed) break;
    }
    return ND_OK;
}
