/* gen.c: code generation (docs/bytecode.md, include/noodle/opcodes.def).
 * Registers: a function's parameters are R[0..n-1]; each local gets the next free register
 * when declared and gives it back at the end of its block; temporaries live above the
 * locals and are freed as soon as their consumer is emitted, so between statements
 * freereg == the number of live locals.  Top-level `fn` declarations are hoisted: main
 * starts by storing every one into its global.  Positions follow LANGUAGE.md "Errors". */
#include "compiler/gen.h"

#include "common/alloc.h"
#include "compiler/lex.h"
#include "compiler/opt.h"
#include "nbc/builtin_ids.h"
#include "nbc/nbc.h"

#include <string.h>

#define MAX_REGS 65535

typedef struct loopctx {
    struct loopctx *up;
    nd_pvec breaks, conts; /* pcs of JMPs to patch (as intptr_t) */
    bool local;            /* its back-edges are local safe points (nd_stmt.local) */
} loopctx;

typedef struct fbuild {
    nd_instr *code;
    nd_pos *pos;
    uint8_t *flags;
    uint32_t n, cap;
    int freereg, nregs;
    nd_fn *fn;          /* NULL for the main chunk */
    loopctx *loop;
} fbuild;

typedef struct gen {
    nd_cctx *cx;
    const nd_ast *ast;
    nd_program *prog;
    uint32_t fcap, kcap;
    uint32_t *khash;    /* open addressing: const index + 1, 0 = empty */
    uint32_t khcap;
    fbuild *fb;
    bool oom, toolarge;
    int opt;
    const nd_expr *cond; /* the condition a TEST is about to check (no NOARRAY needed) */
} gen;

/* ---- emission ----------------------------------------------------------------------- */

static uint32_t emit(gen *G, int op, int a, int b, int c, int x, int line, int col)
{
    fbuild *F = G->fb;
    if (F->n == F->cap) {
        uint32_t ncap = F->cap ? F->cap * 2 : 64;
        nd_instr *nc = ND_ALLOC_N(nd_instr, ncap);
        nd_pos *np = ND_ALLOC_N(nd_pos, ncap);
        uint8_t *nf = ND_ALLOC_N(uint8_t, ncap);
        if (!nc || !np || !nf) {
            ND_FREE_N(nc, ncap);
            ND_FREE_N(np, ncap);
            ND_FREE_N(nf, ncap);
            G->oom = true;
            return 0;
        }
        if (F->n) {
            memcpy(nc, F->code, F->n * sizeof *nc);
            memcpy(np, F->pos, F->n * sizeof *np);
            memcpy(nf, F->flags, F->n * sizeof *nf);
        }
        ND_FREE_N(F->code, F->cap);
        ND_FREE_N(F->pos, F->cap);
        ND_FREE_N(F->flags, F->cap);
        F->code = nc;
        F->pos = np;
        F->flags = nf;
        F->cap = ncap;
    }
    nd_instr *in = &F->code[F->n];
    in->op = (uint8_t)op;
    in->x = (uint8_t)x;
    in->a = (uint16_t)a;
    in->b = (uint16_t)b;
    in->c = (uint16_t)c;
    F->pos[F->n].line = (uint32_t)(line > 0 ? line : 0);
    F->pos[F->n].col = (uint32_t)(col > 0 ? col : 0);
    F->flags[F->n] = 0;
    return F->n++;
}

static uint32_t emit_bx(gen *G, int op, int a, uint32_t bx, int line, int col)
{
    return emit(G, op, a, (int)(bx & 0xffff), (int)(bx >> 16), 0, line, col);
}

static uint32_t here(gen *G) { return G->fb->n; }

/* Points the jump at pc to target. */
static void patch(gen *G, uint32_t pc, uint32_t target)
{
    if (G->oom) return;
    uint32_t u = (uint32_t)((int32_t)target - (int32_t)(pc + 1));
    G->fb->code[pc].b = (uint16_t)(u & 0xffff);
    G->fb->code[pc].c = (uint16_t)(u >> 16);
}

static uint32_t emit_jump(gen *G, int op, int a, int line, int col)
{
    return emit(G, op, a, 0, 0, 0, line, col);
}

static int alloc_regs(gen *G, int n, int line, int col)
{
    fbuild *F = G->fb;
    int r = F->freereg;
    if (F->freereg + n > MAX_REGS) {
        if (!G->toolarge)
            nd_diag_error(G->cx, line, col, "function too large: it needs more than %d registers",
                          MAX_REGS);
        G->toolarge = true;
        return 0;
    }
    F->freereg += n;
    if (F->freereg > F->nregs) F->nregs = F->freereg;
    return r;
}

/* ---- constants ---------------------------------------------------------------------- */

static uint64_t const_hash(const nd_cval *v)
{
    uint64_t h = 1469598103934665603ull ^ v->kind;
    const unsigned char *p;
    size_t n;
    if (v->kind == CV_STR) {
        p = (const unsigned char *)v->s;
        n = v->slen;
    } else if (v->kind == CV_INT) {
        p = (const unsigned char *)&v->i;
        n = sizeof v->i;
    } else {
        p = (const unsigned char *)&v->f;
        n = sizeof v->f;
    }
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static bool const_eq(const nd_const *k, const nd_cval *v)
{
    switch (v->kind) {
    case CV_INT: return k->kind == ND_K_INT && k->i == v->i;
    case CV_FLOAT: return k->kind == ND_K_FLOAT && memcmp(&k->f, &v->f, sizeof v->f) == 0;
    case CV_STR: return k->kind == ND_K_STR && k->slen == v->slen && memcmp(k->s, v->s, v->slen) == 0;
    default: return false;
    }
}

static void khash_insert(gen *G, const nd_cval *v, uint32_t idx)
{
    uint32_t m = G->khcap - 1;
    for (uint32_t k = (uint32_t)const_hash(v) & m;; k = (k + 1) & m)
        if (!G->khash[k]) {
            G->khash[k] = idx + 1;
            return;
        }
}

static nd_cval cval_of(const nd_const *k)
{
    nd_cval v = {0};
    v.kind = k->kind == ND_K_INT ? CV_INT : k->kind == ND_K_FLOAT ? CV_FLOAT : CV_STR;
    v.i = k->i;
    v.f = k->f;
    v.s = k->s;
    v.slen = k->slen;
    return v;
}

/* Returns the pool index of v (int, float or str), adding it once. */
static uint32_t add_const(gen *G, const nd_cval *v)
{
    nd_program *p = G->prog;
    if (G->khcap) {
        uint32_t m = G->khcap - 1;
        for (uint32_t k = (uint32_t)const_hash(v) & m; G->khash[k]; k = (k + 1) & m)
            if (const_eq(&p->consts[G->khash[k] - 1], v)) return G->khash[k] - 1;
    }
    if ((p->nconsts + 1) * 2 > G->khcap) {
        uint32_t ncap = G->khcap ? G->khcap * 2 : 64;
        uint32_t *nh = ND_ALLOC_N(uint32_t, ncap);
        if (!nh) {
            G->oom = true;
            return 0;
        }
        ND_FREE_N(G->khash, G->khcap);
        G->khash = nh;
        G->khcap = ncap;
        for (uint32_t i = 0; i < p->nconsts; i++) {
            nd_cval c = cval_of(&p->consts[i]);
            khash_insert(G, &c, i);
        }
    }
    if (p->nconsts == G->kcap) {
        uint32_t ncap = G->kcap ? G->kcap * 2 : 32;
        nd_const *nk = ND_REALLOC_N(nd_const, p->consts, G->kcap, ncap);
        if (!nk) {
            G->oom = true;
            return 0;
        }
        memset(nk + G->kcap, 0, (ncap - G->kcap) * sizeof *nk);
        p->consts = nk;
        G->kcap = ncap;
    }
    nd_const *k = &p->consts[p->nconsts];
    if (v->kind == CV_STR) {
        k->s = nd_malloc((size_t)v->slen + 1);
        if (!k->s) {
            G->oom = true;
            return 0;
        }
        if (v->slen) memcpy(k->s, v->s, v->slen);
        k->s[v->slen] = '\0';
        k->slen = v->slen;
        k->kind = ND_K_STR;
    } else if (v->kind == CV_INT) {
        k->kind = ND_K_INT;
        k->i = v->i;
    } else {
        k->kind = ND_K_FLOAT;
        k->f = v->f;
    }
    uint32_t idx = p->nconsts++;
    khash_insert(G, v, idx);
    return idx;
}

static void load_const(gen *G, int dst, const nd_cval *v, int line, int col)
{
    switch (v->kind) {
    case CV_NIL: emit(G, ND_OP_LOADNIL, dst, 0, 0, 0, line, col); break;
    case CV_BOOL: emit(G, ND_OP_LOADBOOL, dst, v->b, 0, 0, line, col); break;
    case CV_INT:
        if (v->i >= INT32_MIN && v->i <= INT32_MAX) {
            emit_bx(G, ND_OP_LOADI, dst, (uint32_t)(int32_t)v->i, line, col);
            break;
        }
        /* fall through */
    default:
        emit_bx(G, ND_OP_LOADK, dst, add_const(G, v), line, col);
        break;
    }
}

/* ---- expressions -------------------------------------------------------------------- */

static void expr_to(gen *G, const nd_expr *e, int dst);
static uint32_t function(gen *G, nd_fn *fn);
static void block(gen *G, const nd_block *b);

static bool use_const(gen *G, const nd_expr *e)
{
    return e->cv.kind && (e->kind == E_CONST || G->opt >= 1);
}

/* Returns a register holding e's value: a local's own register, or a new temporary
 * (the caller resets freereg when done with it). */
static int expr_any(gen *G, const nd_expr *e)
{
    if (e->kind == E_NAME && e->res == R_LOCAL) return e->var->reg;
    int r = alloc_regs(G, 1, e->line, e->col);
    expr_to(G, e, r);
    return r;
}

/* 1 for the elementwise arithmetic opcodes (their x flags dead temporary operands). */
static int arith_flags(int op)
{
    return op == ND_OP_ADD || op == ND_OP_SUB || op == ND_OP_MUL || op == ND_OP_DIV ||
           op == ND_OP_IDIV || op == ND_OP_MOD || op == ND_OP_POW;
}

static int binop(int tk)
{
    switch (tk) {
    case TK_PLUS: return ND_OP_ADD;
    case TK_MINUS: return ND_OP_SUB;
    case TK_STAR: return ND_OP_MUL;
    case TK_SLASH: return ND_OP_DIV;
    case TK_PERCENT: return ND_OP_MOD;
    case TK_SLASHSLASH: return ND_OP_IDIV;
    case TK_CARET: return ND_OP_POW;
    case TK_AT: return ND_OP_MATMUL;
    case TK_EQ: return ND_OP_EQ;
    case TK_NE: return ND_OP_NE;
    case TK_LT: return ND_OP_LT;
    case TK_LE: return ND_OP_LE;
    case TK_GT: return ND_OP_GT;
    default: return ND_OP_GE;
    }
}

/* The superinstruction taking a numeric constant as its right operand, or -1. */
static int const_form(int op)
{
    switch (op) {
    case ND_OP_ADD: return ND_OP_ADDK;
    case ND_OP_SUB: return ND_OP_SUBK;
    case ND_OP_MUL: return ND_OP_MULK;
    case ND_OP_LT: return ND_OP_LTK;
    case ND_OP_LE: return ND_OP_LEK;
    case ND_OP_GT: return ND_OP_GTK;
    case ND_OP_GE: return ND_OP_GEK;
    default: return -1;
    }
}

/* Evaluates the subscripts of a slice into 4 consecutive registers; returns the base and
 * the x bits (bit d: dimension d is a single index).  Only for the two-subscript slices
 * without steps that GETSLICE/SETSLICE take (see general_sub). */
static int slice_regs(gen *G, const nd_expr *e, int *xbits)
{
    int base = alloc_regs(G, 4, e->line, e->col);
    *xbits = 0;
    for (int d = 0; d < 2 && d < e->nsub; d++) {
        const nd_sub *s = &e->sub[d];
        if (!s->range) {
            expr_to(G, s->lo, base + 2 * d);
            *xbits |= 1 << d;
            continue;
        }
        if (s->lo) expr_to(G, s->lo, base + 2 * d);
        else emit(G, ND_OP_LOADNIL, base + 2 * d, 0, 0, 0, e->line, e->col);
        if (s->hi) expr_to(G, s->hi, base + 2 * d + 1);
        else emit(G, ND_OP_LOADNIL, base + 2 * d + 1, 0, 0, 0, e->line, e->col);
    }
    return base;
}

static bool is_slice(const nd_expr *e)
{
    for (int d = 0; d < e->nsub; d++)
        if (e->sub[d].range) return true;
    return false;
}

/* Whether e needs the general GETSUB/SETSUB: more than two subscripts, a step, or a
 * one-subscript slice.  The rest keeps the older, faster forms. */
static bool general_sub(const nd_expr *e)
{
    if (e->nsub > 2) return true;
    for (int d = 0; d < e->nsub; d++)
        if (e->sub[d].step) return true;
    return e->nsub == 1 && e->sub[0].range;
}

static void opt_to(gen *G, const nd_expr *e, int dst, int line, int col)
{
    if (e) expr_to(G, e, dst);
    else emit(G, ND_OP_LOADNIL, dst, 0, 0, 0, line, col);
}

/* Evaluates the subscripts of e in GETSUB/SETSUB's layout (opcodes.def): 3 registers a
 * subscript, then the int mask of the slices.  Returns the base register. */
static int sub_regs(gen *G, const nd_expr *e)
{
    int base = alloc_regs(G, 3 * e->nsub + 1, e->line, e->col);
    int64_t mask = 0;
    for (int d = 0; d < e->nsub; d++) {
        const nd_sub *s = &e->sub[d];
        int r = base + 3 * d;
        if (!s->range) {
            expr_to(G, s->lo, r);
            continue;
        }
        mask |= INT64_C(1) << d;
        opt_to(G, s->lo, r, e->line, e->col);
        opt_to(G, s->hi, r + 1, e->line, e->col);
        opt_to(G, s->step, r + 2, e->line, e->col);
    }
    nd_cval m = {.kind = CV_INT, .i = mask};
    load_const(G, base + 3 * e->nsub, &m, e->line, e->col);
    return base;
}

static void call(gen *G, const nd_expr *e, int dst)
{
    fbuild *F = G->fb;
    int saved = F->freereg;
    const nd_expr *callee = e->lhs;
    if (callee->kind == E_NAME && callee->res == R_BUILTIN) {
        int base = F->freereg;
        for (int i = 0; i < e->nargs; i++) {
            int r = alloc_regs(G, 1, e->line, e->col);
            expr_to(G, e->args[i], r);
        }
        emit(G, ND_OP_CALLB, dst, e->nargs ? base : dst, callee->index, e->nargs, e->line, e->col);
        F->freereg = saved;
        return;
    }
    int base = dst + 1 == F->freereg ? dst : alloc_regs(G, 1, e->line, e->col);
    expr_to(G, callee, base);
    for (int i = 0; i < e->nargs; i++) {
        int r = alloc_regs(G, 1, e->line, e->col);
        expr_to(G, e->args[i], r);
    }
    emit(G, ND_OP_CALL, base, e->nargs, 0, e->local ? ND_X_LOCAL : 0, e->line, e->col);
    if (base != dst) emit(G, ND_OP_MOVE, dst, base, 0, 0, e->line, e->col);
    F->freereg = saved;
}

/* False when e's value is certainly not an array: a constant, or the result of not, and,
 * or (which refuse array operands). */
static bool may_be_array(const nd_expr *e)
{
    if (e->cv.kind) return false;
    switch (e->kind) {
    case E_CONST: case E_NOT: case E_AND: case E_OR: case E_LIST: case E_MAP: case E_FN:
        return false;
    default:
        return true;
    }
}

/* Emits code that leaves e's value in register dst. */
static void expr_to(gen *G, const nd_expr *e, int dst)
{
    fbuild *F = G->fb;
    if (G->oom || G->toolarge) return;
    if (use_const(G, e)) {
        load_const(G, dst, &e->cv, e->line, e->col);
        return;
    }
    int saved = F->freereg;
    switch (e->kind) {
    case E_NAME:
        switch (e->res) {
        case R_LOCAL:
            if (e->var->reg != dst) emit(G, ND_OP_MOVE, dst, e->var->reg, 0, 0, e->line, e->col);
            break;
        case R_GLOBAL: emit_bx(G, ND_OP_GETG, dst, (uint32_t)e->index, e->line, e->col); break;
        case R_BUILTIN: emit_bx(G, ND_OP_LOADBI, dst, (uint32_t)e->index, e->line, e->col); break;
        case R_SELF: emit_bx(G, ND_OP_LOADFN, dst, (uint32_t)e->self->index, e->line, e->col); break;
        default: break;
        }
        break;
    case E_BINARY: {
        /* x of an arithmetic op flags operands that are temporaries of this expression
         * (registers from `saved` up, dead once it is emitted): the VM may compute an
         * array result into them (docs/bytecode.md) */
        int op = binop(e->op), ax = arith_flags(op);
        int b = expr_any(G, e->lhs);
        int kop = const_form(op);
        if (kop >= 0 && use_const(G, e->rhs) &&
            (e->rhs->cv.kind == CV_INT || e->rhs->cv.kind == CV_FLOAT)) {
            uint32_t k = add_const(G, &e->rhs->cv);
            if (!G->oom && k <= 0xffff) {
                emit(G, kop, dst, b, (int)k, ax && b >= saved, e->line, e->col);
                break;
            }
        }
        int c = expr_any(G, e->rhs);
        emit(G, op, dst, b, c, ax ? (b >= saved) | (c >= saved) << 1 : 0, e->line, e->col);
        break;
    }
    case E_NEG: case E_NOT: {
        int b = expr_any(G, e->lhs);
        emit(G, e->kind == E_NEG ? ND_OP_NEG : ND_OP_NOT, dst, b, 0,
             e->kind == E_NEG && b >= saved, e->line, e->col);
        break;
    }
    case E_AND: case E_OR: {
        if (G->opt >= 1 && e->lhs->cv.kind) {
            /* the left operand is known: either it is the result, or the right one is */
            bool t = nd_opt_truthy(&e->lhs->cv);
            if (e->kind == E_AND ? !t : t) {
                load_const(G, dst, &e->lhs->cv, e->line, e->col);
            } else {
                expr_to(G, e->rhs, dst);
                if (e != G->cond && may_be_array(e->rhs))
                    emit(G, ND_OP_NOARRAY, dst, e->kind == E_OR, 0, 0, e->line, e->col);
            }
            break;
        }
        expr_to(G, e->lhs, dst);
        uint32_t j = emit_jump(G, e->kind == E_AND ? ND_OP_JMPFALSY : ND_OP_JMPTRUTHY, dst, e->line, e->col);
        expr_to(G, e->rhs, dst);
        /* JMPFALSY/JMPTRUTHY refuse an array on the left; the right operand, when it
         * is the result, is checked here unless it cannot be an array or a TEST
         * checks it next (a condition must be a bool anyway) */
        if (e != G->cond && may_be_array(e->rhs))
            emit(G, ND_OP_NOARRAY, dst, e->kind == E_OR, 0, 0, e->line, e->col);
        patch(G, j, here(G));
        break;
    }
    case E_CALL:
        call(G, e, dst);
        break;
    case E_INDEX: {
        int b = expr_any(G, e->lhs);
        if (general_sub(e)) {
            int c = sub_regs(G, e);
            emit(G, ND_OP_GETSUB, dst, b, c, e->nsub, e->line, e->col);
        } else if (is_slice(e)) {
            int xbits;
            int c = slice_regs(G, e, &xbits);
            emit(G, ND_OP_GETSLICE, dst, b, c, xbits, e->line, e->col);
        } else if (e->nsub == 1) {
            int c = expr_any(G, e->sub[0].lo);
            emit(G, ND_OP_GETINDEX, dst, b, c, 0, e->line, e->col);
        } else {
            int c = alloc_regs(G, 2, e->line, e->col);
            expr_to(G, e->sub[0].lo, c);
            expr_to(G, e->sub[1].lo, c + 1);
            emit(G, ND_OP_GETINDEX2, dst, b, c, 0, e->line, e->col);
        }
        break;
    }
    case E_TRANSPOSE: {
        int b = expr_any(G, e->lhs);
        emit(G, ND_OP_TRANSPOSE, dst, b, 0, 0, e->line, e->col);
        break;
    }
    case E_LIST: case E_MAP: {
        int base = F->freereg;
        for (int i = 0; i < e->nargs; i++) {
            int r = alloc_regs(G, 1, e->line, e->col);
            expr_to(G, e->args[i], r);
        }
        int count = e->kind == E_LIST ? e->nargs : e->nargs / 2;
        emit(G, e->kind == E_LIST ? ND_OP_NEWLIST : ND_OP_NEWMAP, dst, e->nargs ? base : dst, count, 0,
             e->line, e->col);
        break;
    }
    case E_FN: {
        uint32_t idx = function(G, e->fn);
        emit_bx(G, ND_OP_LOADFN, dst, idx, e->line, e->col);
        break;
    }
    default:
        break;
    }
    F->freereg = saved;
}

/* ---- statements --------------------------------------------------------------------- */

static void push_pc(gen *G, nd_pvec *list, uint32_t pc)
{
    if (!nd_pvec_push(&G->cx->arena, list, (void *)(intptr_t)pc)) G->oom = true;
}

static void patch_list(gen *G, nd_pvec *list, uint32_t target)
{
    for (int i = 0; i < list->n; i++) patch(G, (uint32_t)(intptr_t)list->v[i], target);
}

static bool cond_known(gen *G, const nd_expr *c, bool *value)
{
    if (G->opt < 1 || (c->cv.kind != CV_BOOL && c->cv.kind != CV_NIL)) return false;
    *value = c->cv.kind == CV_BOOL && c->cv.b;
    return true;
}

/* The compare-and-branch form of comparison op (with a constant right operand when k),
 * or -1. */
static int cjump_form(int op, bool k)
{
    switch (op) {
    case ND_OP_LT: return k ? ND_OP_JLTK : ND_OP_JLT;
    case ND_OP_LE: return k ? ND_OP_JLEK : ND_OP_JLE;
    case ND_OP_GT: return k ? ND_OP_JGTK : ND_OP_JGT;
    case ND_OP_GE: return k ? ND_OP_JGEK : ND_OP_JGE;
    case ND_OP_EQ: return k ? -1 : ND_OP_JEQ;
    case ND_OP_NE: return k ? -1 : ND_OP_JNE;
    default: return -1;
    }
}

/* A conditional jump taken when condition c is false or nil, to be aimed with
 * patch_cond.  One comparison becomes a compare-and-branch (JLT .. JGEK) followed by a
 * NOP: should the branch not reach (its offset is 16 bits), patch_cond turns the pair
 * back into the comparison into `tmp` and a TEST.  Anything else is c into a temporary
 * and a TEST, as before. */
typedef struct condjump {
    uint32_t pc;
    int tmp;      /* the fallback's temporary; -1 for a plain TEST */
    const nd_expr *e;
} condjump;

static condjump cond_jump(gen *G, const nd_expr *c)
{
    condjump cj = {0, -1, c};
    int op = c->kind == E_BINARY ? binop(c->op) : -1;
    /* x: the columns from the condition's start to the operator, where the VM reports
     * a condition that is an (elementwise) array; a condition that does not fit keeps
     * the comparison and TEST */
    int back = c->col - c->scol;
    bool fits = c->line == c->sline && back >= 1 && back <= 255;
    if (use_const(G, c) || c->kind != E_BINARY || cjump_form(op, false) < 0 || !fits) {
        G->cond = c;
        int r = expr_any(G, c);
        G->cond = NULL;
        cj.pc = emit_jump(G, ND_OP_TEST, r, c->sline, c->scol);
        return cj;
    }
    int tmp = alloc_regs(G, 1, c->line, c->col);
    int b = expr_any(G, c->lhs);
    int jop = cjump_form(op, true);
    int rb = -1;
    if (jop >= 0 && use_const(G, c->rhs) && (c->rhs->cv.kind == CV_INT || c->rhs->cv.kind == CV_FLOAT)) {
        uint32_t k = add_const(G, &c->rhs->cv);
        if (!G->oom && k <= 0xffff) rb = (int)k;
    }
    if (rb < 0) {
        jop = cjump_form(op, false);
        rb = expr_any(G, c->rhs);
    }
    cj.tmp = tmp;
    cj.pc = emit(G, jop, b, rb, 0, back, c->line, c->col);
    emit(G, ND_OP_NOP, 0, 0, 0, 0, c->line, c->col);
    return cj;
}

/* Aims a cond_jump at target (after its NOP). */
static void patch_cond(gen *G, const condjump *cj, uint32_t target)
{
    if (G->oom) return;
    if (cj->tmp < 0) {
        patch(G, cj->pc, target);
        return;
    }
    nd_instr *in = &G->fb->code[cj->pc];
    uint32_t off = target - (cj->pc + 1);
    if (off <= 0xffff) {
        in->c = (uint16_t)off;
        return;
    }
    static const struct { uint8_t j, plain; } back[] = {
        {ND_OP_JLT, ND_OP_LT}, {ND_OP_JLE, ND_OP_LE}, {ND_OP_JGT, ND_OP_GT},
        {ND_OP_JGE, ND_OP_GE}, {ND_OP_JEQ, ND_OP_EQ}, {ND_OP_JNE, ND_OP_NE},
        {ND_OP_JLTK, ND_OP_LTK}, {ND_OP_JLEK, ND_OP_LEK}, {ND_OP_JGTK, ND_OP_GTK},
        {ND_OP_JGEK, ND_OP_GEK},
    };
    uint8_t plain = 0;
    for (size_t k = 0; k < sizeof back / sizeof back[0]; k++)
        if (back[k].j == in->op) plain = back[k].plain;
    *in = (nd_instr){.op = plain, .a = (uint16_t)cj->tmp, .b = in->a, .c = in->b};
    nd_instr *t = &G->fb->code[cj->pc + 1];
    *t = (nd_instr){.op = ND_OP_TEST, .a = (uint16_t)cj->tmp};
    G->fb->pos[cj->pc + 1].line = (uint32_t)(cj->e->sline > 0 ? cj->e->sline : 0);
    G->fb->pos[cj->pc + 1].col = (uint32_t)(cj->e->scol > 0 ? cj->e->scol : 0);
    patch(G, cj->pc + 1, target);
}

static void assign(gen *G, const nd_stmt *s)
{
    const nd_expr *t = s->target;
    if (t->kind == E_NAME) {
        if (t->res == R_LOCAL) {
            int tmp = alloc_regs(G, 1, s->line, s->col);
            expr_to(G, s->e, tmp);
            uint32_t pc = emit(G, ND_OP_MOVE, t->var->reg, tmp, 0, 0, s->line, s->col);
            if (!G->oom) G->fb->flags[pc] |= ND_GEN_DEADTMP;
        } else {
            int r = expr_any(G, s->e);
            emit_bx(G, ND_OP_SETG, r, (uint32_t)t->index, t->line, t->col);
        }
        return;
    }
    int a = expr_any(G, t->lhs);
    if (general_sub(t)) {
        int b = sub_regs(G, t);
        int c = expr_any(G, s->e);
        emit(G, ND_OP_SETSUB, a, b, c, t->nsub, t->line, t->col);
    } else if (is_slice(t)) {
        int xbits;
        int b = slice_regs(G, t, &xbits);
        int c = expr_any(G, s->e);
        emit(G, ND_OP_SETSLICE, a, b, c, xbits, t->line, t->col);
    } else if (t->nsub == 1) {
        int b = expr_any(G, t->sub[0].lo);
        int c = expr_any(G, s->e);
        emit(G, ND_OP_SETINDEX, a, b, c, 0, t->line, t->col);
    } else {
        int b = alloc_regs(G, 2, t->line, t->col);
        expr_to(G, t->sub[0].lo, b);
        expr_to(G, t->sub[1].lo, b + 1);
        int c = expr_any(G, s->e);
        emit(G, ND_OP_SETINDEX2, a, b, c, 0, t->line, t->col);
    }
}

static void loop_body(gen *G, loopctx *L, const nd_stmt *s)
{
    memset(L, 0, sizeof *L);
    L->local = s->local;
    L->up = G->fb->loop;
    G->fb->loop = L;
    block(G, s->body);
    G->fb->loop = L->up;
}

static void stmt(gen *G, const nd_stmt *s)
{
    fbuild *F = G->fb;
    int saved = F->freereg;
    switch (s->kind) {
    case S_LET:
        if (s->gslot >= 0) {
            int r = expr_any(G, s->e);
            emit_bx(G, ND_OP_SETG, r, (uint32_t)s->gslot, s->nline, s->ncol);
        } else {
            int r = alloc_regs(G, 1, s->nline, s->ncol);
            expr_to(G, s->e, r);
            s->var->reg = r;
            saved = F->freereg; /* the variable keeps its register */
        }
        break;
    case S_FN:
        if (s->gslot >= 0) break; /* hoisted to the start of main */
        {
            int r = alloc_regs(G, 1, s->nline, s->ncol);
            s->var->reg = r;
            saved = F->freereg;
            uint32_t idx = function(G, s->fn);
            emit_bx(G, ND_OP_LOADFN, r, idx, s->nline, s->ncol);
        }
        break;
    case S_ASSIGN:
        assign(G, s);
        break;
    case S_RETURN:
        if (s->e) {
            int r = expr_any(G, s->e);
            emit(G, ND_OP_RET, r, 1, 0, 0, s->line, s->col);
        } else {
            emit(G, ND_OP_RET, 0, 0, 0, 0, s->line, s->col);
        }
        break;
    case S_IF: {
        bool v;
        if (cond_known(G, s->e, &v)) {
            if (v) block(G, s->body);
            else if (s->els) block(G, s->els);
            break;
        }
        condjump jf = cond_jump(G, s->e);
        F->freereg = saved;
        block(G, s->body);
        if (s->els) {
            uint32_t jend = emit_jump(G, ND_OP_JMP, 0, s->line, s->col);
            patch_cond(G, &jf, here(G));
            block(G, s->els);
            patch(G, jend, here(G));
        } else {
            patch_cond(G, &jf, here(G));
        }
        break;
    }
    case S_WHILE: {
        bool v = false;
        bool known = cond_known(G, s->e, &v);
        if (known && !v) break;
        uint32_t top = here(G);
        condjump jx = {0, -1, s->e};
        if (!known) {
            jx = cond_jump(G, s->e);
            F->freereg = saved;
        }
        loopctx L;
        loop_body(G, &L, s);
        patch_list(G, &L.conts, top);
        uint32_t back = emit(G, ND_OP_JMP, 0, 0, 0, s->local ? ND_X_LOCAL : 0, s->line, s->col);
        patch(G, back, top);
        if (!known) patch_cond(G, &jx, here(G));
        patch_list(G, &L.breaks, here(G));
        break;
    }
    case S_FOR_RANGE: case S_FOR_IN: {
        int a = alloc_regs(G, 3, s->line, s->col);
        bool range = s->kind == S_FOR_RANGE;
        expr_to(G, s->e, a);
        if (range) expr_to(G, s->e2, a + 1);
        s->var->reg = a + 2;
        uint32_t prep = emit_jump(G, range ? ND_OP_FORPREP : ND_OP_ITERPREP, a, s->e->sline, s->e->scol);
        uint32_t body = here(G);
        loopctx L;
        loop_body(G, &L, s);
        uint32_t next = here(G);
        patch_list(G, &L.conts, next);
        uint32_t lp = emit(G, range ? ND_OP_FORLOOP : ND_OP_ITERLOOP, a, 0, 0,
                           s->local ? ND_X_LOCAL : 0, s->line, s->col);
        patch(G, lp, body);
        patch(G, prep, range ? here(G) : next);
        patch_list(G, &L.breaks, here(G));
        break;
    }
    case S_BREAK: case S_CONTINUE: {
        /* A continue of a while loop is one of its back-edges: the loop's mark. */
        int x = s->kind == S_CONTINUE && F->loop && F->loop->local ? ND_X_LOCAL : 0;
        uint32_t j = emit(G, ND_OP_JMP, 0, 0, 0, x, s->line, s->col);
        if (F->loop) push_pc(G, s->kind == S_BREAK ? &F->loop->breaks : &F->loop->conts, j);
        break;
    }
    case S_EXPR:
        if (G->opt >= 1 && s->e->cv.kind) break; /* a constant has no effect */
        expr_to(G, s->e, alloc_regs(G, 1, s->line, s->col));
        break;
    case S_BLOCK:
        block(G, s->body);
        break;
    default:
        break;
    }
    F->freereg = saved;
}

static void block(gen *G, const nd_block *b)
{
    int saved = G->fb->freereg;
    for (int i = 0; i < b->n && !G->oom && !G->toolarge; i++) {
        const nd_stmt *s = b->stmts[i];
        stmt(G, s);
        /* the rest of the block is dead */
        if (G->opt >= 1 && (s->kind == S_RETURN || s->kind == S_BREAK || s->kind == S_CONTINUE)) break;
    }
    G->fb->freereg = saved;
}

/* ---- functions ---------------------------------------------------------------------- */

static uint32_t new_func_slot(gen *G)
{
    nd_program *p = G->prog;
    if (p->nfuncs == G->fcap) {
        uint32_t ncap = G->fcap ? G->fcap * 2 : 16;
        nd_func *nf = ND_REALLOC_N(nd_func, p->funcs, G->fcap, ncap);
        if (!nf) {
            G->oom = true;
            return 0;
        }
        memset(nf + G->fcap, 0, (ncap - G->fcap) * sizeof *nf);
        p->funcs = nf;
        G->fcap = ncap;
    }
    return p->nfuncs++;
}

/* Turns the builder's code into funcs[idx] (exactly sized arrays), after the passes. */
static void finish(gen *G, fbuild *F, uint32_t idx, const char *name, int line, int nparams)
{
    nd_func tmp = {0};
    tmp.ncode = F->n;
    tmp.code = F->code;
    tmp.pos = F->pos;
    if (!G->oom && G->opt >= 1 && nd_opt_function(&tmp, F->flags) != ND_OK) G->oom = true;
    nd_func *f = &G->prog->funcs[idx];
    f->name = nd_strdup(name);
    f->line = (uint32_t)line;
    f->nparams = (uint32_t)nparams;
    f->nregs = (uint32_t)(F->nregs > nparams ? F->nregs : nparams);
    if (f->nregs < 1) f->nregs = 1;
    if (!f->name) G->oom = true;
    if (!G->oom && tmp.ncode) {
        f->code = ND_ALLOC_N(nd_instr, tmp.ncode);
        f->pos = ND_ALLOC_N(nd_pos, tmp.ncode);
        if (f->code && f->pos) {
            memcpy(f->code, tmp.code, tmp.ncode * sizeof *f->code);
            memcpy(f->pos, tmp.pos, tmp.ncode * sizeof *f->pos);
            f->ncode = tmp.ncode;
        } else {
            ND_FREE_N(f->code, tmp.ncode);
            ND_FREE_N(f->pos, tmp.ncode);
            f->code = NULL;
            f->pos = NULL;
            G->oom = true;
        }
    }
    ND_FREE_N(F->code, F->cap);
    ND_FREE_N(F->pos, F->cap);
    ND_FREE_N(F->flags, F->cap);
}

static uint32_t function(gen *G, nd_fn *fn)
{
    uint32_t idx = new_func_slot(G);
    if (G->oom) return 0;
    fn->index = (int)idx;
    fbuild F = {.fn = fn};
    fbuild *outer = G->fb;
    G->fb = &F;
    for (int i = 0; i < fn->nparams; i++) fn->pvars[i]->reg = i;
    F.freereg = F.nregs = fn->nparams;
    if (fn->nparams > MAX_REGS && !G->toolarge) { /* the parameters are registers too */
        nd_diag_error(G->cx, fn->line, fn->col, "function too large: %d parameters (at most %d)",
                      fn->nparams, MAX_REGS);
        G->toolarge = true;
    }
    block(G, fn->body);
    emit(G, ND_OP_RET, 0, 0, 0, 0, fn->line, fn->col);
    G->fb = outer;
    finish(G, &F, idx, fn->name ? fn->name : "<lambda>", fn->line, fn->nparams);
    return idx;
}

/* Shrinks the growable arrays to exactly their counts (the layout nd_program_free
 * frees). */
static bool shrink(gen *G)
{
    nd_program *p = G->prog;
    if (G->kcap != p->nconsts) {
        nd_const *k = p->nconsts ? ND_ALLOC_N(nd_const, p->nconsts) : NULL;
        if (p->nconsts && !k) return false;
        if (p->nconsts) memcpy(k, p->consts, p->nconsts * sizeof *k);
        ND_FREE_N(p->consts, G->kcap);
        p->consts = k;
        G->kcap = p->nconsts;
    }
    if (G->fcap != p->nfuncs) {
        nd_func *f = ND_ALLOC_N(nd_func, p->nfuncs);
        if (!f) return false;
        memcpy(f, p->funcs, p->nfuncs * sizeof *f);
        ND_FREE_N(p->funcs, G->fcap);
        p->funcs = f;
        G->fcap = p->nfuncs;
    }
    return true;
}

nd_status nd_gen_program(nd_cctx *cx, const nd_ast *ast, nd_program **out)
{
    *out = NULL;
    gen G = {.cx = cx, .ast = ast, .opt = cx->opt_level};
    G.prog = nd_calloc(1, sizeof *G.prog);
    if (!G.prog) return ND_ENOMEM;
    nd_program *p = G.prog;
    /* the main chunk */
    uint32_t idx = new_func_slot(&G);
    fbuild F = {0};
    G.fb = &F;
    const nd_block *m = ast->main;
    for (int i = 0; i < m->n && !G.oom; i++) {
        const nd_stmt *s = m->stmts[i];
        if (s->kind != S_FN || s->gslot < 0) continue;
        int r = alloc_regs(&G, 1, s->nline, s->ncol);
        uint32_t fi = function(&G, s->fn);
        emit_bx(&G, ND_OP_LOADFN, r, fi, s->nline, s->ncol);
        emit_bx(&G, ND_OP_SETG, r, (uint32_t)s->gslot, s->nline, s->ncol);
        F.freereg = 0;
    }
    block(&G, m);
    int endline = 1;
    for (size_t k = 0; k < cx->len; k++) endline += cx->src[k] == '\n';
    emit(&G, ND_OP_RET, 0, 0, 0, 0, endline, 1);
    if (!G.oom) finish(&G, &F, idx, "<main>", 1, 0);
    else {
        ND_FREE_N(F.code, F.cap);
        ND_FREE_N(F.pos, F.cap);
        ND_FREE_N(F.flags, F.cap);
    }
    /* globals */
    if (!G.oom && ast->nglobals) {
        p->globals = ND_ALLOC_N(char *, (size_t)ast->nglobals);
        if (!p->globals) G.oom = true;
        else {
            p->nglobals = (uint32_t)ast->nglobals;
            for (int i = 0; i < ast->nglobals; i++)
                if (!(p->globals[i] = nd_strdup(ast->globals[i]))) G.oom = true;
        }
    }
    if (!G.oom && !shrink(&G)) G.oom = true;
    ND_FREE_N(G.khash, G.khcap);
    if (G.oom || G.toolarge) {
        /* capacity and count may differ here: free with the capacities */
        if (G.kcap != p->nconsts || G.fcap != p->nfuncs) {
            for (uint32_t i = 0; i < p->nconsts; i++)
                if (p->consts[i].kind == ND_K_STR) nd_free(p->consts[i].s, (size_t)p->consts[i].slen + 1);
            ND_FREE_N(p->consts, G.kcap);
            p->consts = NULL;
            p->nconsts = 0;
            for (uint32_t i = 0; i < p->nfuncs; i++) {
                nd_strfree(p->funcs[i].name);
                ND_FREE_N(p->funcs[i].code, p->funcs[i].ncode);
                ND_FREE_N(p->funcs[i].pos, p->funcs[i].ncode);
            }
            ND_FREE_N(p->funcs, G.fcap);
            p->funcs = NULL;
            p->nfuncs = 0;
        }
        nd_program_free(p);
        if (G.oom) return nd_err_set(ND_ENOMEM, "out of memory in the code generator");
        return ND_EPROG;
    }
    *out = p;
    return ND_OK;
}
