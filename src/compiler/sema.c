/* sema.c: scopes, name resolution and the compile-time checks (docs/language.md
 * "Scoping and globals", "Compile errors").
 * Rules: names declared by let/fn in the outermost block are globals; all of them are
 * collected before anything is resolved, so every function body sees every global, while
 * main-chunk code sees a `let` global only after its declaration (top-level fns are
 * hoisted: visible everywhere).  Inside a function a name is one of its own locals, else
 * a global, else the function's own name, else a builtin.  Functions never see the locals
 * of an enclosing function. */
#include "compiler/sema.h"

#include "compiler/lex.h"
#include "compiler/opt.h"
#include "nbc/builtin_ids.h"

#include <string.h>

typedef struct gentry {
    const char *name;
    int slot;
    bool visible;     /* main-chunk code may use it (after its let; fns always) */
    nd_fn *fn;        /* a top-level fn declaration */
    nd_stmt *decl;    /* the first declaration */
} gentry;

typedef struct scope {
    struct scope *up;
    nd_pvec vars;     /* nd_var* */
} scope;

typedef struct fctx {
    nd_fn *fn;        /* NULL: the main chunk */
    scope *sc;        /* innermost scope (NULL in main: the global block) */
    int loops;
} fctx;

typedef struct sema {
    nd_cctx *cx;
    nd_ast *ast;
    gentry *gtab;
    size_t gcap, gcount;
    nd_pvec gnames;
    fctx *f;
    bool oom;
} sema;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static gentry *gfind(sema *S, const char *name)
{
    if (!S->gcap) return NULL;
    for (size_t k = hash_str(name) & (S->gcap - 1);; k = (k + 1) & (S->gcap - 1)) {
        if (!S->gtab[k].name) return NULL;
        if (strcmp(S->gtab[k].name, name) == 0) return &S->gtab[k];
    }
}

static gentry *gadd(sema *S, const char *name)
{
    if ((S->gcount + 1) * 2 > S->gcap) {
        size_t ncap = S->gcap ? S->gcap * 2 : 64;
        gentry *nt = nd_arena_alloc(&S->cx->arena, ncap * sizeof *nt);
        if (!nt) {
            S->oom = true;
            return NULL;
        }
        for (size_t i = 0; i < S->gcap; i++) {
            if (!S->gtab[i].name) continue;
            size_t k = hash_str(S->gtab[i].name) & (ncap - 1);
            while (nt[k].name) k = (k + 1) & (ncap - 1);
            nt[k] = S->gtab[i];
        }
        S->gtab = nt;
        S->gcap = ncap;
    }
    size_t k = hash_str(name) & (S->gcap - 1);
    while (S->gtab[k].name) k = (k + 1) & (S->gcap - 1);
    gentry *g = &S->gtab[k];
    g->name = name;
    g->slot = (int)S->gcount++;
    if (!nd_pvec_push(&S->cx->arena, &S->gnames, (void *)name)) S->oom = true;
    return g;
}

/* ---- scopes ------------------------------------------------------------------------- */

static nd_var *scope_find(scope *sc, const char *name)
{
    for (int i = sc->vars.n - 1; i >= 0; i--) {
        nd_var *v = sc->vars.v[i];
        if (strcmp(v->name, name) == 0) return v;
    }
    return NULL;
}

static bool push_scope(sema *S, scope *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->up = S->f->sc;
    S->f->sc = sc;
    return true;
}

static void pop_scope(sema *S) { S->f->sc = S->f->sc->up; }

/* Declares a local in the innermost scope; reports a redeclaration at line:col. */
static nd_var *declare(sema *S, const char *name, int line, int col)
{
    if (scope_find(S->f->sc, name))
        nd_diag_error(S->cx, line, col, "'%s' is already declared in this block", name);
    nd_var *v = nd_arena_alloc(&S->cx->arena, sizeof *v);
    if (!v || !nd_pvec_push(&S->cx->arena, &S->f->sc->vars, v)) {
        S->oom = true;
        return NULL;
    }
    v->name = name;
    v->reg = -1;
    return v;
}

/* Resolves e (an E_NAME) in the current function; false when the name is unknown. */
static bool lookup(sema *S, nd_expr *e, bool for_assign)
{
    for (scope *sc = S->f->sc; sc; sc = sc->up) {
        nd_var *v = scope_find(sc, e->name);
        if (v) {
            e->res = R_LOCAL;
            e->var = v;
            return true;
        }
    }
    gentry *g = gfind(S, e->name);
    if (g && (S->f->fn || g->visible)) {
        e->res = R_GLOBAL;
        e->index = g->slot;
        return true;
    }
    if (for_assign) return false;
    nd_fn *fn = S->f->fn;
    if (fn && fn->name && !fn->toplevel && strcmp(fn->name, e->name) == 0) {
        e->res = R_SELF;
        e->self = fn;
        return true;
    }
    int id = nd_builtin_lookup(e->name);
    if (id >= 0) {
        e->res = R_BUILTIN;
        e->index = id;
        return true;
    }
    return false;
}

/* ---- expressions ------------------------------------------------------------------- */

static void expr(sema *S, nd_expr *e);
static void block(sema *S, nd_block *b, bool new_scope);
static void function(sema *S, nd_fn *fn);

static const char *op_text(int op)
{
    switch (op) {
    case TK_PLUS: return "+";
    case TK_MINUS: return "-";
    case TK_STAR: return "*";
    case TK_SLASH: return "/";
    case TK_PERCENT: return "%";
    case TK_SLASHSLASH: return "//";
    case TK_AT: return "@";
    case TK_CARET: return "^";
    case TK_EQ: return "==";
    case TK_NE: return "!=";
    case TK_LT: return "<";
    case TK_LE: return "<=";
    case TK_GT: return ">";
    case TK_GE: return ">=";
    default: return "?";
    }
}

static const char *plural(int n) { return n == 1 ? "" : "s"; }

static void check_arity(sema *S, nd_expr *call)
{
    nd_expr *c = call->lhs;
    if (c->kind != E_NAME) return;
    int n = call->nargs;
    if (c->res == R_BUILTIN) {
        const nd_builtin_info *bi = &nd_builtin_table[c->index];
        if (n < bi->min_args || n > bi->max_args) {
            if (bi->min_args == bi->max_args)
                nd_diag_error(S->cx, c->line, c->col, "'%s' expects %d argument%s, got %d",
                              c->name, bi->min_args, plural(bi->min_args), n);
            else if (n < bi->min_args)
                nd_diag_error(S->cx, c->line, c->col, "'%s' expects at least %d argument%s, got %d",
                              c->name, bi->min_args, plural(bi->min_args), n);
            else
                nd_diag_error(S->cx, c->line, c->col, "'%s' expects at most %d argument%s, got %d",
                              c->name, bi->max_args, plural(bi->max_args), n);
        }
        return;
    }
    nd_fn *fn = NULL;
    if (c->res == R_GLOBAL) {
        gentry *g = gfind(S, c->name);
        fn = g ? g->fn : NULL;
    } else if (c->res == R_SELF) {
        fn = c->self;
    }
    if (fn && fn->nparams != n)
        nd_diag_error(S->cx, c->line, c->col, "'%s' expects %d argument%s, got %d", c->name,
                      fn->nparams, plural(fn->nparams), n);
}

static void sub_expr(sema *S, nd_expr *e)
{
    if (e) expr(S, e);
}

static void expr(sema *S, nd_expr *e)
{
    if (S->oom || S->cx->too_many) return;
    switch (e->kind) {
    case E_CONST:
        return;
    case E_NAME:
        if (!lookup(S, e, false)) nd_diag_error(S->cx, e->line, e->col, "unknown name '%s'", e->name);
        return;
    case E_BINARY: {
        expr(S, e->lhs);
        expr(S, e->rhs);
        if (!e->lhs->cv.kind || !e->rhs->cv.kind) return;
        nd_fold_result r = nd_opt_fold_binary(&S->cx->arena, e->op, &e->lhs->cv, &e->rhs->cv, &e->cv);
        if (r == FOLD_TYPE)
            nd_diag_error(S->cx, e->line, e->col, "type error: cannot apply '%s' to %s and %s",
                          op_text(e->op), nd_opt_type_name(&e->lhs->cv), nd_opt_type_name(&e->rhs->cv));
        if (r != FOLD_OK) e->cv.kind = CV_NONE;
        return;
    }
    case E_NEG: case E_NOT: {
        expr(S, e->lhs);
        if (!e->lhs->cv.kind) return;
        nd_fold_result r = nd_opt_fold_unary(e->kind, &e->lhs->cv, &e->cv);
        if (r == FOLD_TYPE)
            nd_diag_error(S->cx, e->line, e->col, "type error: cannot negate %s",
                          nd_opt_type_name(&e->lhs->cv));
        if (r != FOLD_OK) e->cv.kind = CV_NONE;
        return;
    }
    case E_AND: case E_OR: {
        expr(S, e->lhs);
        expr(S, e->rhs);
        if (!e->lhs->cv.kind) return;
        bool t = nd_opt_truthy(&e->lhs->cv);
        bool pick_lhs = e->kind == E_AND ? !t : t;
        if (pick_lhs) e->cv = e->lhs->cv;
        else if (e->rhs->cv.kind) e->cv = e->rhs->cv;
        return;
    }
    case E_CALL: {
        expr(S, e->lhs);
        check_arity(S, e);
        bool allconst = true;
        for (int i = 0; i < e->nargs; i++) {
            expr(S, e->args[i]);
            if (!e->args[i]->cv.kind) allconst = false;
        }
        if (allconst && e->lhs->kind == E_NAME && e->lhs->res == R_BUILTIN && e->nargs <= 3) {
            nd_cval a[3];
            for (int i = 0; i < e->nargs; i++) a[i] = e->args[i]->cv;
            if (nd_opt_fold_builtin(&S->cx->arena, e->lhs->index, a, e->nargs, &e->cv) != FOLD_OK)
                e->cv.kind = CV_NONE;
        }
        return;
    }
    case E_INDEX: {
        expr(S, e->lhs);
        for (int i = 0; i < e->nsub; i++) {
            sub_expr(S, e->sub[i].lo);
            sub_expr(S, e->sub[i].hi);
            sub_expr(S, e->sub[i].step);
        }
        return;
    }
    case E_TRANSPOSE:
        expr(S, e->lhs);
        return;
    case E_LIST:
        for (int i = 0; i < e->nargs; i++) expr(S, e->args[i]);
        return;
    case E_MAP:
        for (int i = 0; i < e->nargs; i++) {
            nd_expr *a = e->args[i];
            expr(S, a);
            if (i % 2 == 0 && a->cv.kind && a->cv.kind != CV_STR)
                nd_diag_error(S->cx, a->sline, a->scol, "map keys must be strings, not %s",
                              nd_opt_type_name(&a->cv));
        }
        return;
    case E_FN:
        function(S, e->fn);
        return;
    default:
        return;
    }
}

/* ---- statements ----------------------------------------------------------------------- */

static bool in_main_global_block(sema *S) { return !S->f->fn && !S->f->sc; }

static void assign_target(sema *S, nd_expr *t)
{
    if (t->kind == E_NAME) {
        if (!lookup(S, t, true))
            nd_diag_error(S->cx, t->line, t->col, "assignment to undeclared variable '%s'", t->name);
        return;
    }
    expr(S, t);
}

static void stmt(sema *S, nd_stmt *s)
{
    if (S->oom || S->cx->too_many) return;
    switch (s->kind) {
    case S_LET:
        expr(S, s->e);
        if (in_main_global_block(S)) {
            gentry *g = gfind(S, s->name);
            if (!g) return; /* out of memory during collection */
            if (g->decl != s)
                nd_diag_error(S->cx, s->nline, s->ncol, "'%s' is already declared in this block", s->name);
            g->visible = true;
            s->gslot = g->slot;
        } else {
            s->var = declare(S, s->name, s->nline, s->ncol);
        }
        return;
    case S_FN:
        if (in_main_global_block(S)) {
            gentry *g = gfind(S, s->name);
            if (!g) return;
            if (g->decl != s)
                nd_diag_error(S->cx, s->nline, s->ncol, "'%s' is already declared in this block", s->name);
            s->gslot = g->slot;
        } else {
            s->var = declare(S, s->name, s->nline, s->ncol);
        }
        function(S, s->fn);
        return;
    case S_ASSIGN:
        assign_target(S, s->target);
        expr(S, s->e);
        return;
    case S_RETURN:
        if (!S->f->fn) nd_diag_error(S->cx, s->line, s->col, "'return' outside a function");
        if (s->e) expr(S, s->e);
        return;
    case S_IF:
        expr(S, s->e);
        block(S, s->body, true);
        if (s->els) block(S, s->els, true);
        return;
    case S_WHILE:
        expr(S, s->e);
        S->f->loops++;
        block(S, s->body, true);
        S->f->loops--;
        return;
    case S_FOR_RANGE: case S_FOR_IN: {
        expr(S, s->e);
        if (s->e2) expr(S, s->e2);
        scope sc;
        push_scope(S, &sc);
        s->var = declare(S, s->name, s->nline, s->ncol);
        S->f->loops++;
        block(S, s->body, false);
        S->f->loops--;
        pop_scope(S);
        return;
    }
    case S_BREAK: case S_CONTINUE:
        if (S->f->loops == 0)
            nd_diag_error(S->cx, s->line, s->col, "'%s' outside a loop",
                          s->kind == S_BREAK ? "break" : "continue");
        return;
    case S_EXPR:
        expr(S, s->e);
        return;
    case S_BLOCK:
        block(S, s->body, true);
        return;
    default:
        return;
    }
}

static void block(sema *S, nd_block *b, bool new_scope)
{
    scope sc;
    if (new_scope) push_scope(S, &sc);
    for (int i = 0; i < b->n && !S->oom && !S->cx->too_many; i++) stmt(S, b->stmts[i]);
    if (new_scope) pop_scope(S);
}

static void function(sema *S, nd_fn *fn)
{
    fctx *saved = S->f;
    fctx f = {.fn = fn};
    S->f = &f;
    scope sc;
    push_scope(S, &sc);
    fn->pvars = nd_arena_alloc(&S->cx->arena, sizeof *fn->pvars * (size_t)(fn->nparams + 1));
    if (!fn->pvars) S->oom = true;
    for (int i = 0; i < fn->nparams && !S->oom; i++)
        fn->pvars[i] = declare(S, fn->params[i], fn->pline[i], fn->pcol[i]);
    if (!S->oom) block(S, fn->body, false);
    pop_scope(S);
    S->f = saved;
}

nd_status nd_sema_check(nd_cctx *cx, nd_ast *ast)
{
    sema S = {.cx = cx, .ast = ast};
    fctx mainf = {0};
    S.f = &mainf;
    /* pass 1: collect the globals (top-level let and fn names) */
    nd_block *m = ast->main;
    for (int i = 0; i < m->n && !S.oom; i++) {
        nd_stmt *s = m->stmts[i];
        if (s->kind != S_LET && s->kind != S_FN) continue;
        if (gfind(&S, s->name)) continue; /* reported in pass 2 */
        gentry *g = gadd(&S, s->name);
        if (!g) break;
        g->decl = s;
        if (s->kind == S_FN) {
            g->fn = s->fn;
            g->visible = true;
        }
    }
    /* pass 2: resolve in source order */
    for (int i = 0; i < m->n && !S.oom && !cx->too_many; i++) stmt(&S, m->stmts[i]);
    if (S.oom || cx->arena.failed) return nd_err_set(ND_ENOMEM, "out of memory in the compiler");
    ast->globals = (const char **)S.gnames.v;
    ast->nglobals = S.gnames.n;
    return ND_OK;
}
