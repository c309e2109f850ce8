/* ast.h: the syntax tree, the arena that owns it, and the compile context shared by the
 * compiler's passes (lexer -> parser -> sema -> gen -> opt).  Every node keeps the 1-based
 * line/col of the token that the language reports errors at (docs/language.md).
 * Ownership: every node, string and list lives in the context's arena and is freed with
 * it; no pass frees a node on its own. */
#ifndef ND_COMPILER_AST_H
#define ND_COMPILER_AST_H

#include "common/nd.h"
#include "compiler/compiler.h"

#include <stdint.h>

/* ---- arena ------------------------------------------------------------------------ */
typedef struct nd_arena_chunk nd_arena_chunk;
typedef struct nd_arena {
    nd_arena_chunk *head;
    bool failed; /* an allocation failed (ND_ENOMEM has been recorded) */
} nd_arena;

/* Returns zeroed memory (8-byte aligned) owned by the arena, or NULL (and a->failed). */
void *nd_arena_alloc(nd_arena *a, size_t n);
char *nd_arena_strndup(nd_arena *a, const char *s, size_t n);
void nd_arena_free(nd_arena *a);

/* ---- compile context and diagnostics ------------------------------------------------ */
typedef struct nd_cctx {
    const char *path;
    const char *src;
    size_t len;
    FILE *diag;
    int max_errors;
    int opt_level;
    int nerrors;
    bool too_many;  /* max_errors reached: stop reporting and stop compiling */
    nd_arena arena;
} nd_cctx;

/* Reports `path:line:col: error: msg`, the source line and a caret (at most max_errors
 * per run).  The first error is also recorded in nd_last_error (ND_EPROG). */
void nd_diag_error(nd_cctx *cx, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- constant values (literals and folded expressions) ----------------------------- */
typedef enum nd_cv_kind { CV_NONE = 0, CV_NIL, CV_BOOL, CV_INT, CV_FLOAT, CV_STR } nd_cv_kind;

typedef struct nd_cval {
    uint8_t kind;
    bool b;
    int64_t i;
    double f;
    const char *s; /* arena-owned, NUL-terminated */
    uint32_t slen;
} nd_cval;

/* ---- expressions ------------------------------------------------------------------- */
typedef enum nd_expr_kind {
    E_CONST,     /* literal: cv */
    E_NAME,      /* name; resolved by sema into res */
    E_BINARY,    /* op (a binary nd_tok_kind), lhs, rhs */
    E_NEG, E_NOT,/* lhs */
    E_AND, E_OR, /* lhs, rhs */
    E_CALL,      /* lhs = callee, args */
    E_INDEX,     /* lhs[sub...]; any range subscript makes it a slice */
    E_TRANSPOSE, /* lhs.T */
    E_LIST,      /* args */
    E_MAP,       /* args = k0, v0, k1, v1, ... */
    E_FN         /* fn */
} nd_expr_kind;

typedef enum nd_res_kind { R_NONE = 0, R_LOCAL, R_GLOBAL, R_BUILTIN, R_SELF } nd_res_kind;

struct nd_fn;
struct nd_var;

typedef struct nd_sub {
    bool range;                 /* lo:hi or lo:hi:step (each may be NULL: omitted) */
    struct nd_expr *lo, *hi, *step; /* !range: lo is the index */
} nd_sub;

/* The most subscripts one index expression takes (arrays have at most 8 dimensions;
 * the rest is reported at run time as too many subscripts). */
#define ND_MAX_SUBS 32

typedef struct nd_expr {
    uint8_t kind;
    int op;                     /* E_BINARY: the operator token kind */
    int line, col;              /* the reported position (operator, '[', '.', name) */
    int sline, scol;            /* where the expression starts */
    struct nd_expr *lhs, *rhs;
    struct nd_expr **args;
    int nargs;
    nd_sub *sub;                /* E_INDEX: nsub subscripts (arena) */
    int nsub;
    struct nd_fn *fn;           /* E_FN */
    /* E_NAME */
    const char *name;
    uint8_t res;                /* nd_res_kind */
    struct nd_var *var;         /* R_LOCAL */
    int index;                  /* R_GLOBAL slot, R_BUILTIN id */
    struct nd_fn *self;         /* R_SELF */
    nd_cval cv;                 /* E_CONST, or the folded value (sema); CV_NONE if not */
    bool local;                 /* E_CALL under rank-dependent control (uniform.c) */
} nd_expr;

/* ---- statements -------------------------------------------------------------------- */
typedef enum nd_stmt_kind {
    S_LET, S_ASSIGN, S_FN, S_RETURN, S_IF, S_WHILE, S_FOR_RANGE, S_FOR_IN, S_BREAK,
    S_CONTINUE, S_EXPR, S_BLOCK
} nd_stmt_kind;

typedef struct nd_block {
    struct nd_stmt **stmts;
    int n;
    int line, col;
} nd_block;

typedef struct nd_stmt {
    uint8_t kind;
    int line, col;              /* the statement's first token */
    const char *name;           /* S_LET, S_FN, loop variable */
    int nline, ncol;            /* position of that name */
    struct nd_var *var;         /* declared variable (sema), NULL for a global */
    int gslot;                  /* global slot for top-level let/fn, else -1 */
    nd_expr *target;            /* S_ASSIGN: a name or an index */
    nd_expr *e, *e2;            /* value / condition / range bounds / return value */
    struct nd_fn *fn;           /* S_FN */
    nd_block *body, *els;       /* if/while/for bodies; els: else block */
    bool divloop;               /* a loop whose trip count may differ between ranks */
    bool local;                 /* a loop whose back-edges are local safe points: divloop,
                                   or under rank-dependent control (uniform.c) */
} nd_stmt;

typedef struct nd_var {
    const char *name;
    int reg;                    /* assigned by gen */
    bool tainted;               /* may hold different values on different ranks (uniform.c) */
} nd_var;

typedef struct nd_fn {
    const char *name;           /* NULL for a lambda */
    int line, col;
    const char **params;
    int *pline, *pcol;
    int nparams;
    struct nd_var **pvars;      /* sema */
    nd_block *body;
    int index;                  /* index in program->funcs (gen), -1 until assigned */
    bool toplevel;              /* declared by `fn name` in the outermost block */
    bool ret_tainted;           /* may return different values on different ranks */
    bool called_local;          /* may run under rank-dependent control (uniform.c) */
} nd_fn;

/* The whole file: the outermost block is the main chunk. */
typedef struct nd_ast {
    nd_block *main;
    const char **globals;       /* sema: global slot names */
    int nglobals;
} nd_ast;

/* Growable pointer vector in the arena (used by the parser and sema). */
typedef struct nd_pvec {
    void **v;
    int n, cap;
} nd_pvec;
bool nd_pvec_push(nd_arena *a, nd_pvec *pv, void *p);

#endif
