/* uniform.c: which safe points every rank passes equally often (docs/checkpoint.md "Safe
 * points and agreement").  The ranks agree on checkpoints, signals and the run-time limit
 * at safe points by counting them, so a safe point counts only where every rank passes
 * it the same number of times; elsewhere (rank-dependent code) it is local: the VM skips
 * it, and a rank-dependent loop of any length can neither hang nor desynchronize them.
 *
 * rank() is the only source of rank-dependent ("tainted") values: every other builtin is
 * collective or a function of its arguments (LANGUAGE.md "Builtins").  The analysis is
 * flow-insensitive and conservative, iterated to a fixpoint:
 *  - a value is tainted if it is rank(), or computed from a tainted value, a tainted
 *    variable or the result of a function that may return a tainted value;
 *  - a variable is tainted if any assignment to it is tainted or happens under
 *    rank-dependent control; a parameter if any call may pass a tainted argument;
 *  - control is rank-dependent inside a branch or loop whose condition is tainted, on
 *    the right of an and/or whose left is tainted, after a return, break or continue
 *    taken under rank-dependent control (for the rest of the function, loop or body),
 *    and everywhere in a loop whose trip count may differ (a tainted condition, or a
 *    break or return under rank-dependent control);
 *  - a function called under rank-dependent control taints the globals it assigns (the
 *    VM makes its frame local at run time, so its own marks assume a uniform caller);
 *  - lists and maps are shared by reference, so a container mutated under
 *    rank-dependent control or with a tainted value (append, an element assignment)
 *    taints the heap: from then on whatever reads a container's contents (indexing,
 *    len, keys, has, str, ==, !=, for ... in) is tainted, whichever variable it is
 *    reached through.
 * Calls through a function value of unknown origin count as calls of every function of
 * that arity.  The marks: a loop's back-edges and its continues (JMP, FORLOOP,
 * ITERLOOP) and a call (CALL) get ND_X_LOCAL when local. */
#include "compiler/uniform.h"

#include "compiler/lex.h"
#include "nbc/builtin_ids.h"

/* A return, break or continue taken under rank-dependent control: code after it in the
 * enclosing function, loop or body runs on some ranks only. */
enum { F_RET = 1, F_BRK = 2, F_CONT = 4 };

typedef struct uctx {
    nd_cctx *cx;
    bool *gtaint;         /* per global slot */
    nd_fn **gfn;          /* per global slot: the function a top-level fn binds, if the
                             slot is never assigned again; else NULL */
    nd_pvec fns;          /* every function of the program */
    nd_fn *cur;           /* the function being walked (NULL: main) */
    bool heap;            /* some list or map holds rank-dependent contents */
    bool changed, mark;
} uctx;

static void set(uctx *u, bool *flag)
{
    if (!*flag) {
        *flag = true;
        u->changed = true;
    }
}

static bool expr(uctx *u, nd_expr *e, bool div);
static int block(uctx *u, nd_block *b, bool div);

/* Taints what a name refers to (a local variable or a global slot). */
static void taint_name(uctx *u, const nd_expr *t)
{
    if (t->res == R_LOCAL && t->var) set(u, &t->var->tainted);
    else if (t->res == R_GLOBAL && t->index >= 0) set(u, &u->gtaint[t->index]);
}

/* The function a call's callee denotes when it is known at compile time. */
static nd_fn *known_callee(const uctx *u, const nd_expr *c)
{
    if (c->kind == E_FN) return c->fn;
    if (c->kind != E_NAME) return NULL;
    if (c->res == R_SELF) return c->self;
    if (c->res == R_GLOBAL && c->index >= 0) return u->gfn[c->index];
    return NULL;
}

static bool call_fn(uctx *u, nd_fn *f, const bool *argt, int nargs, bool div)
{
    for (int i = 0; i < nargs && i < f->nparams; i++)
        if (argt[i] && f->pvars && f->pvars[i]) set(u, &f->pvars[i]->tainted);
    if (div || (u->cur && u->cur->called_local)) set(u, &f->called_local);
    return f->ret_tainted;
}

static bool call(uctx *u, nd_expr *e, bool div)
{
    if (u->mark) e->local = div;
    bool t = expr(u, e->lhs, div);
    bool argt_small[16];
    bool *argt = e->nargs <= 16 ? argt_small : nd_arena_alloc(&u->cx->arena, (size_t)e->nargs);
    if (!argt) return true;
    bool any = false;
    for (int i = 0; i < e->nargs; i++) any |= argt[i] = expr(u, e->args[i], div);
    const nd_expr *c = e->lhs;
    if (c->kind == E_NAME && c->res == R_BUILTIN) {
        bool effect = div || (u->cur && u->cur->called_local);
        if (c->index == ND_BI_APPEND && (any || effect)) set(u, &u->heap);
        bool reads = c->index == ND_BI_LEN || c->index == ND_BI_KEYS ||
                     c->index == ND_BI_HAS || c->index == ND_BI_STR;
        return t || any || (reads && u->heap);
    }
    nd_fn *f = known_callee(u, c);
    if (f) return t | call_fn(u, f, argt, e->nargs, div);
    /* A function value: any function of this arity, or a builtin (a function of its
     * arguments, or rank(), whose value taints the callee already). */
    t |= any;
    for (int k = 0; k < u->fns.n; k++) {
        nd_fn *g = u->fns.v[k];
        if (g->nparams == e->nargs) t |= call_fn(u, g, argt, e->nargs, div);
    }
    return t;
}

static bool expr(uctx *u, nd_expr *e, bool div)
{
    if (!e) return false;
    switch (e->kind) {
    case E_CONST:
    case E_FN: return false;
    case E_NAME:
        switch (e->res) {
        case R_LOCAL: return e->var && e->var->tainted;
        case R_GLOBAL: return e->index >= 0 && u->gtaint[e->index];
        case R_BUILTIN: return e->index == ND_BI_RANK;
        default: return false;
        }
    case E_AND:
    case E_OR: {
        bool l = expr(u, e->lhs, div);
        return expr(u, e->rhs, div || l) || l;
    }
    case E_CALL: return call(u, e, div);
    default: {
        /* what reads a container's contents sees a tainted heap */
        bool t = u->heap && (e->kind == E_INDEX ||
                             (e->kind == E_BINARY && (e->op == TK_EQ || e->op == TK_NE)));
        t |= expr(u, e->lhs, div);
        t |= expr(u, e->rhs, div);
        for (int i = 0; i < e->nargs; i++) t |= expr(u, e->args[i], div);
        for (int i = 0; i < e->nsub; i++) {
            t |= expr(u, e->sub[i].lo, div);
            t |= expr(u, e->sub[i].hi, div);
            t |= expr(u, e->sub[i].step, div);
        }
        return t;
    }
    }
}

/* An assignment under div of a value whose taint is t, to a global, local or element. */
static void assign(uctx *u, nd_expr *target, bool t, bool div)
{
    bool global_effect = div || (u->cur && u->cur->called_local);
    nd_expr *base = target;
    if (target->kind == E_INDEX) {
        t |= expr(u, target, div); /* the subscripts (and the container) */
        if (t || global_effect) set(u, &u->heap); /* other names may share it */
        while (base->kind == E_INDEX) base = base->lhs;
        if (base->kind != E_NAME) return;
    }
    if (t || div || (base->res == R_GLOBAL && global_effect)) taint_name(u, base);
}

/* A loop: cond_t is the taint of its condition, bounds or list. */
static int loop(uctx *u, nd_stmt *s, bool div, bool cond_t)
{
    if (u->mark) s->local = div || s->divloop;
    if (s->var && (cond_t || div || s->divloop)) set(u, &s->var->tainted);
    int f = block(u, s->body, div || s->divloop || cond_t);
    if (cond_t || (f & (F_BRK | F_RET))) set(u, &s->divloop);
    return f & F_RET;
}

static int stmt(uctx *u, nd_stmt *s, bool div)
{
    switch (s->kind) {
    case S_LET: {
        bool t = expr(u, s->e, div) || div;
        bool global_effect = div || (u->cur && u->cur->called_local);
        if (s->var && t) set(u, &s->var->tainted);
        if (!s->var && s->gslot >= 0 && (t || global_effect)) set(u, &u->gtaint[s->gslot]);
        return 0;
    }
    case S_ASSIGN: assign(u, s->target, expr(u, s->e, div), div); return 0;
    case S_FN:
        if (div && s->var) set(u, &s->var->tainted);
        return 0;
    case S_RETURN: {
        bool t = expr(u, s->e, div);
        if ((t || div) && u->cur) set(u, &u->cur->ret_tainted);
        return div ? F_RET : 0;
    }
    case S_IF: {
        bool c = expr(u, s->e, div);
        int f = block(u, s->body, div || c);
        if (s->els) f |= block(u, s->els, div || c);
        return f;
    }
    case S_WHILE: {
        bool c = expr(u, s->e, div || s->divloop);
        return loop(u, s, div, c);
    }
    case S_FOR_RANGE: {
        bool c = expr(u, s->e, div);
        c |= expr(u, s->e2, div);
        return loop(u, s, div, c);
    }
    case S_FOR_IN: return loop(u, s, div, expr(u, s->e, div) || u->heap);
    case S_BREAK: return div ? F_BRK : 0;
    case S_CONTINUE: return div ? F_CONT : 0;
    case S_EXPR: expr(u, s->e, div); return 0;
    case S_BLOCK: return block(u, s->body, div);
    default: return 0;
    }
}

static int block(uctx *u, nd_block *b, bool div)
{
    int f = 0;
    for (int i = 0; b && i < b->n; i++) f |= stmt(u, b->stmts[i], div || f != 0);
    return f;
}

/* Collects every function, and the global slots that top-level fns bind. */
static nd_status collect_expr(uctx *u, nd_expr *e);
static nd_status collect_block(uctx *u, nd_block *b);

static nd_status collect_fn(uctx *u, nd_fn *f)
{
    if (!nd_pvec_push(&u->cx->arena, &u->fns, f)) return ND_ENOMEM;
    return collect_block(u, f->body);
}

static nd_status collect_expr(uctx *u, nd_expr *e)
{
    if (!e) return ND_OK;
    if (e->kind == E_FN) return collect_fn(u, e->fn);
    ND_TRY(collect_expr(u, e->lhs));
    ND_TRY(collect_expr(u, e->rhs));
    for (int i = 0; i < e->nargs; i++) ND_TRY(collect_expr(u, e->args[i]));
    for (int i = 0; i < e->nsub; i++) {
        ND_TRY(collect_expr(u, e->sub[i].lo));
        ND_TRY(collect_expr(u, e->sub[i].hi));
        ND_TRY(collect_expr(u, e->sub[i].step));
    }
    return ND_OK;
}

static nd_status collect_block(uctx *u, nd_block *b)
{
    for (int i = 0; b && i < b->n; i++) {
        nd_stmt *s = b->stmts[i];
        if (s->kind == S_FN) {
            if (s->gslot >= 0) u->gfn[s->gslot] = s->fn;
            ND_TRY(collect_fn(u, s->fn));
        }
        ND_TRY(collect_expr(u, s->e));
        ND_TRY(collect_expr(u, s->e2));
        ND_TRY(collect_expr(u, s->target));
        ND_TRY(collect_block(u, s->body));
        ND_TRY(collect_block(u, s->els));
    }
    return ND_OK;
}

/* A global slot that is assigned (beyond its fn declaration) binds no known function. */
static void unbind_assigned(uctx *u, nd_block *b)
{
    for (int i = 0; b && i < b->n; i++) {
        nd_stmt *s = b->stmts[i];
        nd_expr *t = s->kind == S_ASSIGN ? s->target : NULL;
        if (t && t->kind == E_NAME && t->res == R_GLOBAL && t->index >= 0) u->gfn[t->index] = NULL;
        if (s->kind == S_LET && s->gslot >= 0) u->gfn[s->gslot] = NULL;
        unbind_assigned(u, s->body);
        unbind_assigned(u, s->els);
    }
}

static void walk_all(uctx *u, nd_ast *ast)
{
    u->cur = NULL;
    block(u, ast->main, false);
    for (int k = 0; k < u->fns.n; k++) {
        u->cur = u->fns.v[k];
        block(u, u->cur->body, false);
    }
}

nd_status nd_uniform_mark(nd_cctx *cx, nd_ast *ast)
{
    uctx u = {.cx = cx};
    size_t ng = ast->nglobals > 0 ? (size_t)ast->nglobals : 1;
    u.gtaint = nd_arena_alloc(&cx->arena, ng * sizeof *u.gtaint);
    u.gfn = nd_arena_alloc(&cx->arena, ng * sizeof *u.gfn);
    if (!u.gtaint || !u.gfn) return ND_ENOMEM;
    ND_TRY(collect_block(&u, ast->main));
    for (int k = 0; k < u.fns.n; k++) unbind_assigned(&u, ((nd_fn *)u.fns.v[k])->body);
    unbind_assigned(&u, ast->main);
    /* Every flag only turns on, so this ends; each round walks the program once. */
    do {
        u.changed = false;
        walk_all(&u, ast);
    } while (u.changed);
    u.mark = true;
    walk_all(&u, ast);
    return cx->arena.failed ? ND_ENOMEM : ND_OK;
}
