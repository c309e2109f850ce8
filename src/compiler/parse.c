/* parse.c: recursive-descent parser with precedence climbing (docs/language.md "Grammar").
 * Newlines: the parser decides where a NEWLINE token ends a statement.  Inside ( ), [ ]
 * and map literals (skipnl) they are skipped; a block `{ }` makes them significant again,
 * even when the block sits inside parentheses (a lambda argument).  After a binary
 * operator or a comma they are skipped.  Errors set `panic`; every parse function
 * returns NULL while panicking and the nearest statement loop resynchronizes. */
#include "compiler/parse.h"

#include <string.h>

/* Parser recursion (brackets, blocks, unary operators); and the height of the tree,
 * nesting plus the links of left-deep chains, which sema and gen recurse through. */
#define MAX_DEPTH 200
#define MAX_HEIGHT 10000

typedef struct parser {
    nd_cctx *cx;
    const nd_tokens *toks;
    size_t pos;
    bool skipnl;   /* newlines are insignificant in the current bracket context */
    int open;      /* skip-mode brackets opened since the enclosing block */
    int err_open;  /* `open` when the pending syntax error was reported */
    int depth;     /* recursion depth guard */
    int chain;     /* links of chains open above this point (link) */
    bool panic;
    bool oom;
} parser;

/* ---- tokens -------------------------------------------------------------------------- */

static const nd_token *cur(parser *P)
{
    if (P->skipnl)
        while (P->toks->v[P->pos].kind == TK_NEWLINE) P->pos++;
    return &P->toks->v[P->pos];
}

static int kind(parser *P) { return cur(P)->kind; }

static const nd_token *advance(parser *P)
{
    const nd_token *t = cur(P);
    if (t->kind != TK_EOF) P->pos++;
    return t;
}

static void skip_newlines(parser *P)
{
    while (P->toks->v[P->pos].kind == TK_NEWLINE) P->pos++;
}

static void describe(const nd_token *t, char *buf, size_t size)
{
    if (t->kind == TK_EOF || t->kind == TK_NEWLINE)
        snprintf(buf, size, "%s", nd_lex_kind_name(t->kind));
    else if (t->len > 40)
        snprintf(buf, size, "'%.40s...'", t->start);
    else
        snprintf(buf, size, "'%.*s'", (int)t->len, t->start);
}

/* Reports a syntax error at token t (once per panic). */
static void error_at(parser *P, const nd_token *t, const char *expected)
{
    if (P->panic) return;
    char found[64];
    describe(t, found, sizeof found);
    nd_diag_error(P->cx, t->line, t->col, "syntax error: expected %s, found %s", expected, found);
    P->panic = true;
    P->err_open = P->open;
}

static bool expect(parser *P, int k, const char *what)
{
    if (kind(P) == k) {
        advance(P);
        return true;
    }
    error_at(P, cur(P), what);
    return false;
}

static void *node(parser *P, size_t size)
{
    void *p = nd_arena_alloc(&P->cx->arena, size);
    if (!p) {
        P->oom = true;
        P->panic = true;
    }
    return p;
}

static nd_expr *new_expr(parser *P, int k, const nd_token *at)
{
    nd_expr *e = node(P, sizeof *e);
    if (!e) return NULL;
    e->kind = (uint8_t)k;
    e->line = e->sline = at->line;
    e->col = e->scol = at->col;
    return e;
}

/* One more link of a chain that grows the tree without parser recursion (a + b + c,
 * f(x)[0].T, else if): sema and gen recurse once per level, so depth plus links is
 * bounded by MAX_HEIGHT.  The chain's parse function restores `chain` when it ends. */
static bool link(parser *P)
{
    if (++P->chain + P->depth > MAX_HEIGHT) {
        if (!P->panic) {
            nd_diag_error(P->cx, cur(P)->line, cur(P)->col,
                          "expression too deep: more than %d levels of operators, calls, "
                          "indexing or 'else if'",
                          MAX_HEIGHT);
            P->panic = true;
            P->err_open = P->open;
        }
        return false;
    }
    return true;
}

static bool enter(parser *P)
{
    if (++P->depth > MAX_DEPTH) {
        if (!P->panic) {
            nd_diag_error(P->cx, cur(P)->line, cur(P)->col, "program nested too deeply");
            P->panic = true;
            P->err_open = P->open;
        }
        return false;
    }
    return true;
}

static nd_expr *expr(parser *P);
static nd_block *block(parser *P);
static nd_block *statements(parser *P, bool toplevel);

/* ---- bracketed lists ---------------------------------------------------------------- */

/* Opens a skip-mode bracket; returns the previous mode for close_bracket. */
static bool open_bracket(parser *P)
{
    bool old = P->skipnl;
    P->skipnl = true;
    P->open++;
    advance(P);
    return old;
}

static void close_bracket(parser *P, bool old)
{
    P->skipnl = old;
    P->open--;
}

/* args: [expr {',' expr} [',']] up to the closing token `close` (consumed). */
static bool expr_list(parser *P, int close, const char *what, nd_pvec *out)
{
    while (kind(P) != close) {
        nd_expr *e = expr(P);
        if (!e) return false;
        if (!nd_pvec_push(&P->cx->arena, out, e)) {
            P->oom = P->panic = true;
            return false;
        }
        if (kind(P) == TK_COMMA) {
            advance(P);
            continue;
        }
        if (kind(P) != close) {
            error_at(P, cur(P), what);
            return false;
        }
    }
    advance(P);
    return true;
}

/* fnlit: '(' [NAME {',' NAME}] ')' block   (after the `fn` and the optional name) */
static nd_fn *fn_rest(parser *P, const nd_token *fntok, const char *name)
{
    nd_fn *f = node(P, sizeof *f);
    if (!f) return NULL;
    f->name = name;
    f->line = fntok->line;
    f->col = fntok->col;
    f->index = -1;
    if (kind(P) != TK_LPAREN) {
        error_at(P, cur(P), "'(' after fn");
        return NULL;
    }
    bool old = open_bracket(P);
    nd_pvec names = {0}, lines = {0};
    while (kind(P) != TK_RPAREN) {
        if (kind(P) != TK_IDENT) {
            error_at(P, cur(P), "a parameter name");
            return NULL;
        }
        const nd_token *t = advance(P);
        if (!nd_pvec_push(&P->cx->arena, &names, (void *)t->sval) ||
            !nd_pvec_push(&P->cx->arena, &lines, (void *)t)) {
            P->oom = P->panic = true;
            return NULL;
        }
        if (kind(P) == TK_COMMA) {
            advance(P);
        } else if (kind(P) != TK_RPAREN) {
            error_at(P, cur(P), "',' or ')' in the parameter list");
            return NULL;
        }
    }
    advance(P);
    close_bracket(P, old);
    f->nparams = names.n;
    f->params = (const char **)names.v;
    f->pline = node(P, sizeof(int) * (size_t)(names.n + 1));
    f->pcol = node(P, sizeof(int) * (size_t)(names.n + 1));
    if (!f->pline || !f->pcol) return NULL;
    for (int k = 0; k < names.n; k++) {
        const nd_token *t = lines.v[k];
        f->pline[k] = t->line;
        f->pcol[k] = t->col;
    }
    f->body = block(P);
    return f->body ? f : NULL;
}

/* ---- expressions --------------------------------------------------------------------- */

/* primary: INT | FLOAT | STRING | true | false | nil | NAME | '(' expr ')'
 *        | '[' [exprs] ']' | '{' [expr ':' expr {',' ...}] '}' | 'fn' fnlit */
static nd_expr *primary(parser *P)
{
    const nd_token *t = cur(P);
    nd_expr *e;
    switch (t->kind) {
    case TK_INT: case TK_FLOAT: case TK_STRING: case TK_TRUE: case TK_FALSE: case TK_NIL:
        advance(P);
        if (!(e = new_expr(P, E_CONST, t))) return NULL;
        if (t->kind == TK_INT) { e->cv.kind = CV_INT; e->cv.i = t->ival; }
        else if (t->kind == TK_FLOAT) { e->cv.kind = CV_FLOAT; e->cv.f = t->fval; }
        else if (t->kind == TK_STRING) { e->cv.kind = CV_STR; e->cv.s = t->sval; e->cv.slen = t->slen; }
        else if (t->kind == TK_NIL) e->cv.kind = CV_NIL;
        else { e->cv.kind = CV_BOOL; e->cv.b = t->kind == TK_TRUE; }
        return e;
    case TK_IDENT:
        advance(P);
        if (!(e = new_expr(P, E_NAME, t))) return NULL;
        e->name = t->sval;
        return e;
    case TK_LPAREN: {
        bool old = open_bracket(P);
        e = expr(P);
        if (!e || !expect(P, TK_RPAREN, "')'")) return NULL;
        close_bracket(P, old);
        /* a parenthesized expression starts at its '(' (for call positions) */
        e->sline = t->line;
        e->scol = t->col;
        return e;
    }
    case TK_LBRACK: {
        if (!(e = new_expr(P, E_LIST, t))) return NULL;
        bool old = open_bracket(P);
        nd_pvec items = {0};
        if (!expr_list(P, TK_RBRACK, "',' or ']'", &items)) return NULL;
        close_bracket(P, old);
        e->args = (nd_expr **)items.v;
        e->nargs = items.n;
        return e;
    }
    case TK_LBRACE: {
        if (!(e = new_expr(P, E_MAP, t))) return NULL;
        bool old = open_bracket(P);
        nd_pvec items = {0};
        while (kind(P) != TK_RBRACE) {
            nd_expr *k = expr(P);
            if (!k || !expect(P, TK_COLON, "':' after a map key")) return NULL;
            nd_expr *v = expr(P);
            if (!v) return NULL;
            if (!nd_pvec_push(&P->cx->arena, &items, k) || !nd_pvec_push(&P->cx->arena, &items, v)) {
                P->oom = P->panic = true;
                return NULL;
            }
            if (kind(P) == TK_COMMA) advance(P);
            else if (kind(P) != TK_RBRACE) {
                error_at(P, cur(P), "',' or '}'");
                return NULL;
            }
        }
        advance(P);
        close_bracket(P, old);
        e->args = (nd_expr **)items.v;
        e->nargs = items.n;
        return e;
    }
    case TK_FN: {
        advance(P);
        if (!(e = new_expr(P, E_FN, t))) return NULL;
        e->fn = fn_rest(P, t, NULL);
        return e->fn ? e : NULL;
    }
    default:
        error_at(P, t, "an expression");
        return NULL;
    }
}

static bool sub_end(parser *P)
{
    return kind(P) == TK_COMMA || kind(P) == TK_RBRACK || kind(P) == TK_COLON;
}

/* subscript: expr | [expr] ':' [expr] [':' [expr]] */
static bool subscript(parser *P, nd_sub *s)
{
    if (kind(P) != TK_COLON) {
        if (!(s->lo = expr(P))) return false;
    }
    if (kind(P) == TK_COLON) {
        advance(P);
        s->range = true;
        if (!sub_end(P) && !(s->hi = expr(P))) return false;
        if (kind(P) == TK_COLON) {
            advance(P);
            if (!sub_end(P) && !(s->step = expr(P))) return false;
        }
    }
    return true;
}

/* postfix: primary { '(' args ')' | '[' sub {',' sub} ']' | '.' 'T' } */
static nd_expr *postfix_links(parser *P)
{
    nd_expr *e = primary(P);
    while (e) {
        const nd_token *t = cur(P);
        if ((t->kind == TK_LPAREN || t->kind == TK_LBRACK || t->kind == TK_DOT) && !link(P))
            return NULL;
        /* a newline ends the statement before a '(' or '[' in block context */
        if (t->kind == TK_LPAREN) {
            nd_expr *c = new_expr(P, E_CALL, t);
            if (!c) return NULL;
            c->lhs = e;
            c->line = e->sline;
            c->col = e->scol;
            c->sline = e->sline;
            c->scol = e->scol;
            bool old = open_bracket(P);
            nd_pvec args = {0};
            if (!expr_list(P, TK_RPAREN, "',' or ')'", &args)) return NULL;
            close_bracket(P, old);
            c->args = (nd_expr **)args.v;
            c->nargs = args.n;
            e = c;
        } else if (t->kind == TK_LBRACK) {
            nd_expr *ix = new_expr(P, E_INDEX, t);
            if (!ix) return NULL;
            ix->lhs = e;
            ix->sline = e->sline;
            ix->scol = e->scol;
            bool old = open_bracket(P);
            if (kind(P) == TK_RBRACK) {
                error_at(P, cur(P), "an index");
                return NULL;
            }
            nd_sub subs[ND_MAX_SUBS];
            memset(subs, 0, sizeof subs);
            for (;;) {
                if (ix->nsub == ND_MAX_SUBS) {
                    error_at(P, cur(P), "at most 32 subscripts");
                    return NULL;
                }
                if (!subscript(P, &subs[ix->nsub++])) return NULL;
                if (kind(P) != TK_COMMA) break;
                advance(P);
            }
            if (!expect(P, TK_RBRACK, "',' or ']'")) return NULL;
            ix->sub = node(P, sizeof *ix->sub * (size_t)ix->nsub);
            if (!ix->sub) return NULL;
            memcpy(ix->sub, subs, sizeof *ix->sub * (size_t)ix->nsub);
            close_bracket(P, old);
            e = ix;
        } else if (t->kind == TK_DOT) {
            advance(P);
            const nd_token *n = cur(P);
            if (n->kind != TK_IDENT || strcmp(n->sval, "T") != 0) {
                error_at(P, n, "'T' after '.'");
                return NULL;
            }
            advance(P);
            nd_expr *tr = new_expr(P, E_TRANSPOSE, t);
            if (!tr) return NULL;
            tr->lhs = e;
            tr->sline = e->sline;
            tr->scol = e->scol;
            e = tr;
        } else {
            break;
        }
    }
    return e;
}

static nd_expr *postfix(parser *P)
{
    int c0 = P->chain;
    nd_expr *e = postfix_links(P);
    P->chain = c0;
    return e;
}

static nd_expr *unary(parser *P);

/* power: postfix ['^' unary]  (right-associative; the exponent may carry a unary
 * minus, `2 ^ -1`, and unary is exactly '-' unary | power) */
static nd_expr *power(parser *P)
{
    nd_expr *base = postfix(P);
    if (!base || kind(P) != TK_CARET) return base;
    const nd_token *op = advance(P);
    skip_newlines(P);
    nd_expr *e = new_expr(P, E_BINARY, op);
    if (!e) return NULL;
    e->op = TK_CARET;
    e->lhs = base;
    e->sline = base->sline;
    e->scol = base->scol;
    e->rhs = unary(P);
    return e->rhs ? e : NULL;
}

/* unary: '-' unary | power */
static nd_expr *unary(parser *P)
{
    if (!enter(P)) return NULL;
    nd_expr *e;
    if (kind(P) == TK_MINUS) {
        const nd_token *op = advance(P);
        e = new_expr(P, E_NEG, op);
        if (e && !(e->lhs = unary(P))) e = NULL;
    } else {
        e = power(P);
    }
    P->depth--;
    return e;
}

static int binary_prec(int k)
{
    switch (k) {
    case TK_PLUS: case TK_MINUS: return 1;
    case TK_STAR: case TK_SLASH: case TK_SLASHSLASH: case TK_PERCENT: case TK_AT: return 2;
    default: return 0;
    }
}

/* arith: unary { op unary } with + - at level 1 and * / // % @ at level 2 (left-assoc) */
static nd_expr *arith_links(parser *P, int minprec);
static nd_expr *arith(parser *P, int minprec)
{
    int c0 = P->chain;
    nd_expr *e = arith_links(P, minprec);
    P->chain = c0;
    return e;
}

static nd_expr *arith_links(parser *P, int minprec)
{
    nd_expr *lhs = minprec >= 2 ? unary(P) : arith(P, 2);
    while (lhs) {
        int prec = binary_prec(kind(P));
        if (prec == 0 || prec < minprec) break;
        if (!link(P)) return NULL;
        const nd_token *op = advance(P);
        skip_newlines(P);
        nd_expr *rhs = prec >= 2 ? unary(P) : arith(P, 2);
        if (!rhs) return NULL;
        nd_expr *e = new_expr(P, E_BINARY, op);
        if (!e) return NULL;
        e->op = op->kind;
        e->lhs = lhs;
        e->rhs = rhs;
        e->sline = lhs->sline;
        e->scol = lhs->scol;
        lhs = e;
    }
    return lhs;
}

static bool is_cmp(int k)
{
    return k == TK_EQ || k == TK_NE || k == TK_LT || k == TK_LE || k == TK_GT || k == TK_GE;
}

/* comparison: arith [cmpop arith]   (non-associative) */
static nd_expr *comparison(parser *P)
{
    nd_expr *lhs = arith(P, 1);
    if (!lhs || !is_cmp(kind(P))) return lhs;
    const nd_token *op = advance(P);
    skip_newlines(P);
    nd_expr *rhs = arith(P, 1);
    if (!rhs) return NULL;
    if (is_cmp(kind(P))) {
        error_at(P, cur(P), "no second comparison (comparisons do not chain; use 'and')");
        return NULL;
    }
    nd_expr *e = new_expr(P, E_BINARY, op);
    if (!e) return NULL;
    e->op = op->kind;
    e->lhs = lhs;
    e->rhs = rhs;
    e->sline = lhs->sline;
    e->scol = lhs->scol;
    return e;
}

/* not_expr: 'not' not_expr | comparison */
static nd_expr *not_expr(parser *P)
{
    if (kind(P) != TK_NOT) return comparison(P);
    if (!enter(P)) return NULL;
    const nd_token *op = advance(P);
    nd_expr *e = new_expr(P, E_NOT, op);
    if (e && !(e->lhs = not_expr(P))) e = NULL;
    P->depth--;
    return e;
}

/* and_expr: not_expr {'and' not_expr};  or_expr: and_expr {'or' and_expr} */
static nd_expr *logic_links(parser *P, int op_kind);
static nd_expr *logic(parser *P, int op_kind)
{
    int c0 = P->chain;
    nd_expr *e = logic_links(P, op_kind);
    P->chain = c0;
    return e;
}

static nd_expr *logic_links(parser *P, int op_kind)
{
    nd_expr *lhs = op_kind == TK_OR ? logic(P, TK_AND) : not_expr(P);
    while (lhs && kind(P) == op_kind) {
        if (!link(P)) return NULL;
        const nd_token *op = advance(P);
        skip_newlines(P);
        nd_expr *rhs = op_kind == TK_OR ? logic(P, TK_AND) : not_expr(P);
        if (!rhs) return NULL;
        nd_expr *e = new_expr(P, op_kind == TK_OR ? E_OR : E_AND, op);
        if (!e) return NULL;
        e->lhs = lhs;
        e->rhs = rhs;
        e->sline = lhs->sline;
        e->scol = lhs->scol;
        lhs = e;
    }
    return lhs;
}

static nd_expr *expr(parser *P)
{
    if (!enter(P)) return NULL;
    nd_expr *e = logic(P, TK_OR);
    P->depth--;
    return e;
}

/* ---- statements ---------------------------------------------------------------------- */

static nd_stmt *new_stmt(parser *P, int k, const nd_token *at)
{
    nd_stmt *s = node(P, sizeof *s);
    if (!s) return NULL;
    s->kind = (uint8_t)k;
    s->line = at->line;
    s->col = at->col;
    s->gslot = -1;
    return s;
}

static bool at_stmt_end(parser *P)
{
    int k = kind(P);
    return k == TK_NEWLINE || k == TK_SEMI || k == TK_RBRACE || k == TK_EOF;
}

/* if: 'if' expr block ['else' (if | block)]   (`else` on the line of the `}`) */
static nd_stmt *if_stmt(parser *P)
{
    const nd_token *t = advance(P);
    nd_stmt *s = new_stmt(P, S_IF, t);
    if (!s || !(s->e = expr(P)) || !(s->body = block(P))) return NULL;
    if (kind(P) == TK_ELSE) {
        const nd_token *el = advance(P);
        if (kind(P) == TK_IF) {
            if (!link(P)) return NULL;
            nd_stmt *inner = if_stmt(P);
            P->chain--;
            if (!inner) return NULL;
            nd_block *b = node(P, sizeof *b);
            if (!b || !(b->stmts = node(P, sizeof *b->stmts))) return NULL;
            b->stmts[0] = inner;
            b->n = 1;
            b->line = el->line;
            b->col = el->col;
            s->els = b;
        } else if (!(s->els = block(P))) {
            return NULL;
        }
    }
    return s;
}

/* for: 'for' NAME 'in' expr ['..' expr] block */
static nd_stmt *for_stmt(parser *P)
{
    const nd_token *t = advance(P);
    if (kind(P) != TK_IDENT) {
        error_at(P, cur(P), "a loop variable name after 'for'");
        return NULL;
    }
    const nd_token *name = advance(P);
    if (!expect(P, TK_IN, "'in'")) return NULL;
    nd_stmt *s = new_stmt(P, S_FOR_IN, t);
    if (!s) return NULL;
    s->name = name->sval;
    s->nline = name->line;
    s->ncol = name->col;
    if (!(s->e = expr(P))) return NULL;
    if (kind(P) == TK_DOTDOT) {
        advance(P);
        skip_newlines(P);
        s->kind = S_FOR_RANGE;
        if (!(s->e2 = expr(P))) return NULL;
    }
    s->body = block(P);
    return s->body ? s : NULL;
}

static nd_stmt *statement(parser *P, bool toplevel)
{
    const nd_token *t = cur(P);
    nd_stmt *s = NULL;
    switch (t->kind) {
    case TK_LET: {
        advance(P);
        if (kind(P) != TK_IDENT) {
            error_at(P, cur(P), "a name after 'let'");
            return NULL;
        }
        const nd_token *name = advance(P);
        if (!expect(P, TK_ASSIGN, "'=' after the name")) return NULL;
        if (!(s = new_stmt(P, S_LET, t))) return NULL;
        s->name = name->sval;
        s->nline = name->line;
        s->ncol = name->col;
        if (!(s->e = expr(P))) return NULL;
        break;
    }
    case TK_FN:
        if (P->toks->v[P->pos + 1].kind == TK_IDENT) {
            advance(P);
            const nd_token *name = advance(P);
            if (!(s = new_stmt(P, S_FN, t))) return NULL;
            s->name = name->sval;
            s->nline = name->line;
            s->ncol = name->col;
            if (!(s->fn = fn_rest(P, t, name->sval))) return NULL;
            s->fn->toplevel = toplevel;
            break;
        }
        goto expression;
    case TK_RETURN:
        advance(P);
        if (!(s = new_stmt(P, S_RETURN, t))) return NULL;
        if (!at_stmt_end(P) && !(s->e = expr(P))) return NULL;
        break;
    case TK_IF:
        return if_stmt(P);
    case TK_WHILE:
        advance(P);
        if (!(s = new_stmt(P, S_WHILE, t))) return NULL;
        if (!(s->e = expr(P)) || !(s->body = block(P))) return NULL;
        return s;
    case TK_FOR:
        return for_stmt(P);
    case TK_BREAK: case TK_CONTINUE:
        advance(P);
        return new_stmt(P, t->kind == TK_BREAK ? S_BREAK : S_CONTINUE, t);
    case TK_LBRACE:
        if (!(s = new_stmt(P, S_BLOCK, t))) return NULL;
        s->body = block(P);
        return s->body ? s : NULL;
    default:
    expression: {
        nd_expr *e = expr(P);
        if (!e) return NULL;
        if (kind(P) == TK_ASSIGN) {
            const nd_token *eq = advance(P);
            if (e->kind != E_NAME && e->kind != E_INDEX) {
                if (!P->panic) {
                    nd_diag_error(P->cx, e->sline, e->scol,
                                  "cannot assign to this expression (only to a name or an element)");
                    P->panic = true;
                    P->err_open = P->open;
                }
                return NULL;
            }
            if (!(s = new_stmt(P, S_ASSIGN, t))) return NULL;
            s->target = e;
            s->line = eq->line;
            s->col = eq->col;
            if (!(s->e = expr(P))) return NULL;
        } else {
            if (!(s = new_stmt(P, S_EXPR, t))) return NULL;
            s->e = e;
        }
        break;
    }
    }
    return s;
}

static bool starts_statement(int k)
{
    return k == TK_LET || k == TK_FN || k == TK_IF || k == TK_WHILE || k == TK_FOR ||
           k == TK_RETURN;
}

/* Skips to the next statement boundary after a syntax error: a newline or ';' outside
 * the brackets open at the error, a '}' that closes the block, or a statement keyword at
 * the start of a line (an unclosed bracket must not swallow the rest of the file).
 * start is where the failed statement began (so that the parser always progresses). */
static void synchronize(parser *P, size_t start)
{
    int depth = P->err_open;
    for (;;) {
        const nd_token *t = &P->toks->v[P->pos];
        if (P->pos > start && starts_statement(t->kind) && P->toks->v[P->pos - 1].kind == TK_NEWLINE)
            return;
        switch (t->kind) {
        case TK_EOF:
            return;
        case TK_LPAREN: case TK_LBRACK: case TK_LBRACE:
            depth++;
            break;
        case TK_RPAREN: case TK_RBRACK:
            if (depth > 0) depth--;
            break;
        case TK_RBRACE:
            if (depth <= 0) return;
            depth--;
            break;
        case TK_NEWLINE: case TK_SEMI:
            if (depth <= 0) {
                P->pos++;
                return;
            }
            break;
        default:
            break;
        }
        P->pos++;
    }
}

/* statements: { stmt (NEWLINE | ';' | before '}') } up to '}' or EOF (not consumed).
 * Runs in block context: newlines are significant. */
static nd_block *statements(parser *P, bool toplevel)
{
    nd_block *b = node(P, sizeof *b);
    if (!b) return NULL;
    b->line = cur(P)->line;
    b->col = cur(P)->col;
    nd_pvec list = {0};
    for (;;) {
        if (P->cx->too_many || P->oom) break;
        int k = kind(P);
        if (k == TK_NEWLINE || k == TK_SEMI) {
            advance(P);
            continue;
        }
        if (k == TK_EOF || k == TK_RBRACE) break;
        size_t start = P->pos;
        int depth0 = P->depth, chain0 = P->chain;
        nd_stmt *s = statement(P, toplevel);
        if (s && !P->panic && !at_stmt_end(P)) error_at(P, cur(P), "the end of the statement");
        if (P->oom) return NULL;
        if (P->panic) {
            synchronize(P, start);
            P->depth = depth0; /* a failed enter or link leaves its count raised */
            P->chain = chain0;
            P->panic = false;
            P->skipnl = false;
            P->open = 0;
            continue;
        }
        if (!nd_pvec_push(&P->cx->arena, &list, s)) {
            P->oom = true;
            return NULL;
        }
    }
    b->stmts = (nd_stmt **)list.v;
    b->n = list.n;
    return b;
}

/* block: '{' statements '}' */
static nd_block *block(parser *P)
{
    if (kind(P) != TK_LBRACE) {
        error_at(P, cur(P), "'{'");
        return NULL;
    }
    if (!enter(P)) return NULL;
    const nd_token *open = advance(P);
    bool old_skip = P->skipnl;
    int old_open = P->open;
    P->skipnl = false;
    P->open = 0;
    nd_block *b = statements(P, false);
    P->depth--;
    if (!b) return NULL;
    if (kind(P) != TK_RBRACE) {
        error_at(P, cur(P), "'}'");
        return NULL;
    }
    advance(P);
    P->skipnl = old_skip;
    P->open = old_open;
    b->line = open->line;
    b->col = open->col;
    return b;
}

nd_status nd_parse_program(nd_cctx *cx, const nd_tokens *toks, nd_ast *out)
{
    parser P = {.cx = cx, .toks = toks};
    memset(out, 0, sizeof *out);
    for (;;) {
        nd_block *b = statements(&P, true);
        if (P.oom || !b) return nd_err_set(ND_ENOMEM, "out of memory while parsing");
        if (!out->main) {
            out->main = b;
        } else if (b->n) {
            /* statements after a stray '}': append them to the main chunk */
            nd_stmt **all = nd_arena_alloc(&cx->arena, sizeof *all * (size_t)(out->main->n + b->n));
            if (!all) return nd_err_set(ND_ENOMEM, "out of memory while parsing");
            if (out->main->n) /* stmts is NULL when empty: memcpy(NULL) is UB */
                memcpy(all, out->main->stmts, sizeof *all * (size_t)out->main->n);
            memcpy(all + out->main->n, b->stmts, sizeof *all * (size_t)b->n);
            out->main->stmts = all;
            out->main->n += b->n;
        }
        if (kind(&P) != TK_RBRACE || cx->too_many) break;
        error_at(&P, cur(&P), "a statement");
        P.panic = false;
        advance(&P);
    }
    return ND_OK;
}
