/* mql.c: the MQL lexer, parser and executor (nd_cat_query, the collective wrapper, is
 * in store.c).  Uses neither HDF5 nor MPI: noodle-mql links it without them.
 * Expressions are nodes in one array (indices, not pointers) owned by the query.
 * Evaluation is three-valued (true / false / unknown): a NULL or a comparison of a
 * number with a string is unknown, and only rows whose condition is true are kept.
 * Aggregates, GROUP BY, HAVING and DISTINCT fold the rows into a hash table of groups
 * ("grouping"); a colref's slot then indexes a group's values (keys, then aggregates).
 * Grammar and semantics: docs/catalog.md "MQL".
 */
#include "catalog/mql.h"

#include "common/alloc.h"
#include "common/hash.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t one_or(size_t n) { return n ? n : 1; }

/* ---- columns ------------------------------------------------------------------------ */

typedef enum col_id {
    C_NAME, C_VERSION, C_KIND, C_VALUE, C_ROWS, C_COLS, C_MIN, C_MAX, C_MEAN, C_NORM,
    C_JOB, C_RESTARTS, C_CREATED, C_USER, C_HOST, C_RANKS, C_HASH, C_SHAPE, C_PROGRAM,
    C_PROGRAM_PATH, C_SIGNER, C_NFIXED,
    C_TAG = 100, C_PARAM
} col_id;

/* Static types: 's' string, 'i' int, 'f' float, '?' depends on the row. */
static const struct {
    const char *name;
    char type;
} fixed_cols[C_NFIXED] = {
    {"name", 's'}, {"version", 'i'}, {"kind", 's'}, {"value", '?'}, {"rows", 'i'},
    {"cols", 'i'}, {"min", 'f'}, {"max", 'f'}, {"mean", 'f'}, {"norm", 'f'}, {"job", 's'},
    {"restarts", 'i'}, {"created", 's'}, {"user", 's'}, {"host", 's'}, {"ranks", 'i'},
    {"hash", 's'}, {"shape", 's'}, {"program", 's'}, {"program_path", 's'}, {"signer", 's'},
};

/* Aggregate functions; a colref with agg != A_NONE is a call whose argument is the
 * column (id, key), none for count(*). */
typedef enum agg_fn { A_NONE, A_COUNT_STAR, A_COUNT, A_MIN, A_MAX, A_AVG, A_SUM } agg_fn;
static const char *const agg_names[] = {"", "count", "count", "min", "max", "avg", "sum"};

typedef struct colref {
    int id;            /* col_id; -1 for count(*) */
    const char *key;   /* tags.KEY / params.KEY (owned by the query) */
    int line, col;
    int agg;           /* agg_fn */
    int slot;          /* grouped queries: index into a group's values (keys, then aggregates) */
    const char *alias; /* SELECT ... AS alias (owned by the query), or NULL */
} colref;

/* The text of a column or aggregate (its alias aside): "norm", "tags.n", "count(*)". */
static void colref_name(const colref *c, char *buf, size_t n)
{
    char col[280];
    if (c->agg == A_COUNT_STAR) {
        snprintf(buf, n, "count(*)");
        return;
    }
    if (c->id == C_TAG) snprintf(col, sizeof col, "tags.%s", c->key);
    else if (c->id == C_PARAM) snprintf(col, sizeof col, "params.%s", c->key);
    else snprintf(col, sizeof col, "%s", fixed_cols[c->id].name);
    if (c->agg != A_NONE) snprintf(buf, n, "%s(%s)", agg_names[c->agg], col);
    else snprintf(buf, n, "%s", col);
}

/* A value during evaluation: strings are (pointer, length) into the index heap. */
typedef struct val {
    nd_cat_ctype t;
    int64_t i;
    double f;
    const char *s;
    size_t len;
} val;

/* ---- lexer -------------------------------------------------------------------------- */

typedef enum tok_kind {
    T_EOF, T_IDENT, T_QIDENT, T_INT, T_FLOAT, T_STRING, T_COMMA, T_LPAREN, T_RPAREN, T_STAR,
    T_DOT, T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_SEMI, T_MINUS,
    /* keywords */
    T_SELECT, T_FROM, T_WHERE, T_ORDER, T_BY, T_ASC, T_DESC, T_LIMIT, T_AND, T_OR, T_NOT,
    T_LIKE, T_IN, T_IS, T_NULL, T_RESULTS, T_LATEST, T_DISTINCT, T_GROUP, T_HAVING, T_AS
} tok_kind;
#define T_LAST_KEYWORD T_AS

static const char *const keywords[] = {
    "SELECT", "FROM", "WHERE", "ORDER", "BY", "ASC", "DESC", "LIMIT", "AND", "OR", "NOT",
    "LIKE", "IN", "IS", "NULL", "RESULTS", "LATEST", "DISTINCT", "GROUP", "HAVING", "AS",
};

typedef struct token {
    tok_kind k;
    const char *p; /* start in the source */
    size_t n;
    int line, col;
    int64_t i;
    bool i_min; /* T_INT 9223372036854775808: only valid after '-' (i is INT64_MIN) */
    double f;
    char *s; /* T_STRING / T_QIDENT: unescaped text (owned by the parser until taken) */
} token;

/* ---- query -------------------------------------------------------------------------- */

typedef enum ekind { E_OR, E_AND, E_NOT, E_CMP, E_LIKE, E_IN, E_ISNULL } ekind;

typedef struct operand {
    bool is_col;
    colref c;
    val lit; /* literal; strings owned by the query */
    int line, col;
} operand;

typedef struct node {
    ekind k;
    tok_kind op; /* E_CMP: T_EQ .. T_GE */
    bool neg;    /* NOT LIKE, NOT IN, IS NOT NULL */
    int a, b;    /* children (E_OR, E_AND, E_NOT) */
    operand l, r;
    size_t list0, nlist; /* E_IN: operands in q->lits */
    char litclass; /* 'n' or 's': a tag or parameter tested against literals of that
                    * class only (the type-mismatch warning); 0 otherwise */
} node;

typedef struct order_key {
    colref c;
    bool desc;
} order_key;

struct nd_mql_query {
    bool latest, star, distinct;
    bool grouped;  /* GROUP BY, an aggregate or HAVING: rows are folded into groups */
    bool dedup;    /* DISTINCT over grouped rows (with aggregates or GROUP BY) */
    int star_line, star_col;
    colref *sel;
    size_t nsel, capsel;
    colref *group; /* GROUP BY columns (DISTINCT without aggregates: the SELECT list) */
    size_t ngroup, capgroup;
    colref *aggs;  /* the distinct aggregates of SELECT, HAVING and ORDER BY */
    size_t naggs, capaggs;
    int having;    /* -1: none */
    size_t having0; /* nodes from here on belong to HAVING */
    order_key *order;
    size_t norder, caporder;
    node *nodes;
    size_t nnodes, capnodes;
    operand *lits;
    size_t nlits, caplits;
    int where; /* -1: none */
    int64_t limit; /* -1: none */
    char **strs;   /* owned strings */
    size_t nstrs, capstrs;
};

typedef struct parser {
    const char *src;
    const char *p;
    int line;
    const char *line_start;
    token tok;
    nd_mql_query *q;
    nd_mql_diag *diag;
    bool failed;
    nd_status st; /* ND_ENOMEM beats a syntax error */
    int links;    /* AND/OR links open above this point (link) */
    int clause;   /* K_SELECT ..: what parse_item accepts */
} parser;

typedef enum clause { K_SELECT, K_WHERE, K_GROUP, K_HAVING, K_ORDER } clause;

static bool perr(parser *ps, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static bool perr(parser *ps, int line, int col, const char *fmt, ...)
{
    if (ps->failed) return false;
    ps->failed = true;
    if (ps->st == ND_OK) ps->st = ND_EPROG;
    ps->diag->line = line;
    ps->diag->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->diag->msg, sizeof ps->diag->msg, fmt, ap);
    va_end(ap);
    return false;
}

static bool oom(parser *ps)
{
    ps->st = ND_ENOMEM;
    ps->failed = true;
    ps->diag->line = ps->diag->col = 0;
    snprintf(ps->diag->msg, sizeof ps->diag->msg, "out of memory");
    return false;
}

static bool own_str(parser *ps, char *s)
{
    nd_mql_query *q = ps->q;
    if (q->nstrs == q->capstrs) {
        size_t nc = q->capstrs ? q->capstrs * 2 : 8;
        char **t = ND_REALLOC_N(char *, q->strs, q->capstrs, nc);
        if (!t) {
            nd_strfree(s);
            return oom(ps);
        }
        q->strs = t, q->capstrs = nc;
    }
    q->strs[q->nstrs++] = s;
    return true;
}

static int cur_col(parser *ps, const char *p) { return (int)(p - ps->line_start) + 1; }

/* Reads the next token into ps->tok. */
static bool next(parser *ps)
{
    if (ps->tok.s) nd_strfree(ps->tok.s);
    /* A '.' glued to a name is a dot, not a number's point: tags.1 is a key */
    const char *after_ident = ps->tok.k == T_IDENT ? ps->p : NULL;
    memset(&ps->tok, 0, sizeof ps->tok);
    const char *p = ps->p;
    for (;;) {
        if (*p == '\n') {
            ps->line++;
            ps->line_start = ++p;
        } else if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\f' || *p == '\v') {
            p++;
        } else if (p[0] == '-' && p[1] == '-') { /* comment to end of line */
            while (*p && *p != '\n') p++;
        } else {
            break;
        }
    }
    token *t = &ps->tok;
    t->p = p;
    t->line = ps->line;
    t->col = cur_col(ps, p);
    char c = *p;
    if (c == '\0') {
        t->k = T_EOF;
        ps->p = p;
        return true;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
        const char *s = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_') p++;
        t->k = T_IDENT;
        t->n = (size_t)(p - s);
        for (size_t k = 0; k < ND_ARRAY_LEN(keywords); k++)
            if (strlen(keywords[k]) == t->n && strncasecmp(keywords[k], s, t->n) == 0)
                t->k = (tok_kind)(T_SELECT + k);
        ps->p = p;
        return true;
    }
    if ((c >= '0' && c <= '9') || (c == '.' && p[1] >= '0' && p[1] <= '9' && p != after_ident)) {
        const char *s = p;
        bool is_float = false;
        while (*p >= '0' && *p <= '9') p++;
        if (*p == '.') {
            is_float = true;
            p++;
            while (*p >= '0' && *p <= '9') p++;
        }
        if (*p == 'e' || *p == 'E') {
            const char *e = p + 1;
            if (*e == '+' || *e == '-') e++;
            if (*e < '0' || *e > '9') return perr(ps, t->line, cur_col(ps, p), "malformed number");
            is_float = true;
            p = e;
            while (*p >= '0' && *p <= '9') p++;
        }
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == '.')
            return perr(ps, t->line, t->col, "malformed number");
        char buf[64];
        size_t n = (size_t)(p - s);
        if (n >= sizeof buf) return perr(ps, t->line, t->col, "number too long");
        memcpy(buf, s, n);
        buf[n] = '\0';
        errno = 0;
        if (is_float) {
            t->k = T_FLOAT;
            t->f = strtod(buf, NULL);
        } else {
            t->k = T_INT;
            t->i = strtoll(buf, NULL, 10);
            t->i_min = errno == ERANGE && strcmp(buf, "9223372036854775808") == 0;
            if (t->i_min) t->i = INT64_MIN;
            else if (errno == ERANGE) return perr(ps, t->line, t->col, "integer out of range");
        }
        t->n = n;
        ps->p = p;
        return true;
    }
    if (c == '\'' || c == '"') {
        /* 'string' or "quoted identifier"; the quote doubles as its own escape */
        nd_strbuf sb;
        nd_sb_init(&sb);
        p++;
        for (;;) {
            if (*p == '\0' || (*p == '\n' && c == '"')) {
                nd_sb_free(&sb);
                return perr(ps, t->line, t->col, c == '\'' ? "unterminated string" : "unterminated quoted name");
            }
            if (*p == c) {
                if (p[1] != c) break;
                p++;
            }
            if (*p == '\n') ps->line++, ps->line_start = p + 1;
            if (nd_sb_putc(&sb, *p) != ND_OK) {
                nd_sb_free(&sb);
                return oom(ps);
            }
            p++;
        }
        p++;
        t->k = c == '\'' ? T_STRING : T_QIDENT;
        t->s = sb.data ? nd_strndup(sb.data, sb.len) : nd_strdup("");
        t->n = sb.len;
        nd_sb_free(&sb);
        if (!t->s) return oom(ps);
        ps->p = p;
        return true;
    }
    p++;
    switch (c) {
    case ',': t->k = T_COMMA; break;
    case '(': t->k = T_LPAREN; break;
    case ')': t->k = T_RPAREN; break;
    case '*': t->k = T_STAR; break;
    case '.': t->k = T_DOT; break;
    case ';': t->k = T_SEMI; break;
    case '-': t->k = T_MINUS; break;
    case '=': t->k = T_EQ; if (*p == '=') p++; break;
    case '!':
        if (*p != '=') return perr(ps, t->line, t->col, "unexpected character '!'");
        p++, t->k = T_NE;
        break;
    case '<':
        if (*p == '=') p++, t->k = T_LE;
        else if (*p == '>') p++, t->k = T_NE;
        else t->k = T_LT;
        break;
    case '>':
        if (*p == '=') p++, t->k = T_GE;
        else t->k = T_GT;
        break;
    default:
        if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
            return perr(ps, t->line, t->col, "unexpected character '%c'", c);
        return perr(ps, t->line, t->col, "unexpected character (byte 0x%02x)", (unsigned char)c);
    }
    t->n = (size_t)(p - t->p);
    ps->p = p;
    return true;
}

static bool accept(parser *ps, tok_kind k)
{
    if (ps->failed || ps->tok.k != k) return false;
    next(ps);
    return true;
}

static bool expect(parser *ps, tok_kind k, const char *what)
{
    if (ps->failed) return false;
    if (ps->tok.k == k) return next(ps);
    return perr(ps, ps->tok.line, ps->tok.col, "expected %s", what);
}

/* Takes the token's unescaped string (the query owns it now). */
static const char *take_str(parser *ps)
{
    char *s = ps->tok.s;
    ps->tok.s = NULL;
    return own_str(ps, s) ? s : NULL;
}

/* column := IDENT | (TAGS | PARAMS) '.' (IDENT | QIDENT | INT) */
static bool parse_column(parser *ps, colref *c)
{
    if (ps->failed) return false;
    token *t = &ps->tok;
    memset(c, 0, sizeof *c);
    c->line = t->line, c->col = t->col, c->slot = -1;
    if (t->k != T_IDENT) return perr(ps, t->line, t->col, "expected a column name");
    bool tags = t->n == 4 && strncasecmp(t->p, "tags", 4) == 0;
    bool params = t->n == 6 && strncasecmp(t->p, "params", 6) == 0;
    if (tags || params) {
        next(ps);
        if (!expect(ps, T_DOT, tags ? "'.' and a tag name after 'tags'" : "'.' and a parameter name after 'params'"))
            return false;
        c->id = tags ? C_TAG : C_PARAM;
        if (t->k == T_QIDENT) {
            c->key = take_str(ps);
        } else if (t->k == T_IDENT || (t->k >= T_SELECT && t->k <= T_LAST_KEYWORD) || t->k == T_INT) {
            char *k = nd_strndup(t->p, t->n);
            if (!k) return oom(ps);
            c->key = own_str(ps, k) ? k : NULL;
        } else {
            return perr(ps, t->line, t->col, "expected a %s name", tags ? "tag" : "parameter");
        }
        if (!c->key) return false;
        return next(ps);
    }
    for (int k = 0; k < C_NFIXED; k++) {
        if (strlen(fixed_cols[k].name) == t->n && strncasecmp(fixed_cols[k].name, t->p, t->n) == 0) {
            c->id = k;
            return next(ps);
        }
    }
    return perr(ps, t->line, t->col, "unknown column '%.*s'", (int)(t->n > 60 ? 60 : t->n), t->p);
}

/* Whether the current token is a name followed by '(': a function call. */
static bool at_call(const parser *ps)
{
    if (ps->failed || ps->tok.k != T_IDENT) return false;
    const char *p = ps->p;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    return *p == '(';
}

/* agg := COUNT '(' ('*' | column) ')' | (MIN | MAX | AVG | SUM) '(' column ')' */
static bool parse_agg(parser *ps, colref *c)
{
    token *t = &ps->tok;
    memset(c, 0, sizeof *c);
    c->line = t->line, c->col = t->col, c->slot = -1;
    int fn = A_NONE;
    for (int k = A_COUNT; k <= A_SUM; k++)
        if (strlen(agg_names[k]) == t->n && strncasecmp(agg_names[k], t->p, t->n) == 0) fn = k;
    if (fn == A_NONE)
        return perr(ps, t->line, t->col, "unknown function '%.*s' (count, min, max, avg or sum)",
                    (int)(t->n > 60 ? 60 : t->n), t->p);
    if (ps->clause == K_WHERE)
        return perr(ps, t->line, t->col, "aggregate functions are not allowed in WHERE (HAVING tests groups)");
    if (ps->clause == K_GROUP) return perr(ps, t->line, t->col, "aggregate functions are not allowed in GROUP BY");
    next(ps);
    if (!expect(ps, T_LPAREN, "'('")) return false;
    if (t->k == T_STAR) {
        if (fn != A_COUNT) return perr(ps, t->line, t->col, "only count takes '*' (%s needs a column)", agg_names[fn]);
        c->agg = A_COUNT_STAR, c->id = -1;
        next(ps);
    } else {
        if (at_call(ps)) return perr(ps, t->line, t->col, "aggregate functions cannot be nested");
        colref arg;
        if (t->k != T_IDENT) return perr(ps, t->line, t->col, fn == A_COUNT ? "expected a column name or '*'" : "expected a column name");
        if (!parse_column(ps, &arg)) return false;
        if ((fn == A_SUM || fn == A_AVG) && arg.id < C_NFIXED && fixed_cols[arg.id].type == 's')
            return perr(ps, arg.line, arg.col, "%s needs numbers, and %s is a string", agg_names[fn],
                        fixed_cols[arg.id].name);
        c->agg = fn, c->id = arg.id, c->key = arg.key;
    }
    return expect(ps, T_RPAREN, "')'");
}

/* item := agg | alias | column: what SELECT, GROUP BY, HAVING and ORDER BY name.  An
 * alias of the SELECT list stands for its item in HAVING and ORDER BY. */
static bool parse_item(parser *ps, colref *c)
{
    if (ps->failed) return false;
    if (at_call(ps)) return parse_agg(ps, c);
    token *t = &ps->tok;
    bool quoted = t->k == T_QIDENT;
    if ((ps->clause == K_ORDER || ps->clause == K_HAVING) && (t->k == T_IDENT || quoted) && *ps->p != '.') {
        for (size_t k = 0; k < ps->q->nsel; k++) {
            const char *a = ps->q->sel[k].alias;
            if (!a) continue;
            if (quoted ? strcmp(a, t->s) == 0 : strlen(a) == t->n && strncasecmp(a, t->p, t->n) == 0) {
                *c = ps->q->sel[k];
                c->line = t->line, c->col = t->col;
                return next(ps);
            }
        }
    }
    return parse_column(ps, c);
}

static int new_node(parser *ps, ekind k)
{
    nd_mql_query *q = ps->q;
    if (q->nnodes == q->capnodes) {
        size_t nc = q->capnodes ? q->capnodes * 2 : 16;
        if (nc > 100000) return perr(ps, ps->tok.line, ps->tok.col, "condition too complex"), -1;
        node *t = ND_REALLOC_N(node, q->nodes, q->capnodes, nc);
        if (!t) return oom(ps), -1;
        q->nodes = t, q->capnodes = nc;
    }
    memset(&q->nodes[q->nnodes], 0, sizeof(node));
    q->nodes[q->nnodes].k = k;
    q->nodes[q->nnodes].a = q->nodes[q->nnodes].b = -1;
    return (int)q->nnodes++;
}

/* literal := ['-'] (INT | FLOAT) | STRING */
static bool parse_literal(parser *ps, operand *o)
{
    token *t = &ps->tok;
    memset(o, 0, sizeof *o);
    o->line = t->line, o->col = t->col;
    bool neg = false;
    if (t->k == T_MINUS) {
        neg = true;
        next(ps);
        if (ps->failed) return false;
    }
    if (t->k == T_INT) {
        if (t->i_min && !neg) return perr(ps, t->line, t->col, "integer out of range");
        o->lit.t = ND_CAT_CINT;
        o->lit.i = neg && !t->i_min ? -t->i : t->i;
    } else if (t->k == T_FLOAT) {
        o->lit.t = ND_CAT_CFLOAT;
        o->lit.f = neg ? -t->f : t->f;
    } else if (t->k == T_STRING && !neg) {
        o->lit.t = ND_CAT_CSTR;
        o->lit.len = t->n;
        o->lit.s = take_str(ps);
        if (!o->lit.s) return false;
    } else {
        return perr(ps, t->line, t->col, neg ? "expected a number after '-'" : "expected a value");
    }
    return next(ps);
}

/* operand := column | literal */
static bool parse_operand(parser *ps, operand *o)
{
    tok_kind k = ps->tok.k;
    if (k == T_IDENT) {
        memset(o, 0, sizeof *o);
        o->is_col = true;
        o->line = ps->tok.line, o->col = ps->tok.col;
        return parse_item(ps, &o->c);
    }
    if (k == T_INT || k == T_FLOAT || k == T_STRING || k == T_MINUS) return parse_literal(ps, o);
    if (k == T_QIDENT) /* SQL's double quotes name a column; a value is 'x' */
        return perr(ps, ps->tok.line, ps->tok.col,
                    "expected a column name or a value (a string takes single quotes: '%.60s')",
                    ps->tok.s ? ps->tok.s : "");
    return perr(ps, ps->tok.line, ps->tok.col, "expected a column name or a value");
}

static char static_type(const operand *o)
{
    if (!o->is_col) return o->lit.t == ND_CAT_CSTR ? 's' : 'n';
    if (o->c.agg == A_COUNT_STAR || o->c.agg == A_COUNT || o->c.agg == A_AVG || o->c.agg == A_SUM) return 'n';
    if (o->c.id >= C_NFIXED) return '?';
    char t = fixed_cols[o->c.id].type;
    return t == 'i' || t == 'f' ? 'n' : t;
}

/* A fixed column compared with a literal of the other type can never match: say so. */
static bool check_types(parser *ps, const operand *a, const operand *b)
{
    char ta = static_type(a), tb = static_type(b);
    if (ta == '?' || tb == '?' || ta == tb) return true;
    const operand *at = b->is_col ? a : b;
    return perr(ps, at->line, at->col, "cannot compare a %s with a %s", ta == 's' ? "string" : "number",
                tb == 's' ? "string" : "number");
}

static int parse_or(parser *ps, int depth);

/* A tag or parameter in WHERE: its type may differ from row to row (node.litclass). */
static bool varies(const parser *ps, const operand *o)
{
    return ps->clause == K_WHERE && o->is_col && o->c.agg == A_NONE && (o->c.id == C_TAG || o->c.id == C_PARAM);
}

/* pred := '(' expr ')' | operand ( cmpop operand | [NOT] LIKE STRING
 *       | [NOT] IN '(' literal {',' literal} ')' | IS [NOT] NULL ) */
static int parse_pred(parser *ps, int depth)
{
    if (ps->failed) return -1;
    if (ps->tok.k == T_LPAREN) {
        next(ps);
        int e = parse_or(ps, depth + 1);
        if (!expect(ps, T_RPAREN, "')'")) return -1;
        return e;
    }
    operand l;
    if (!parse_operand(ps, &l)) return -1;
    token *t = &ps->tok;
    if (t->k >= T_EQ && t->k <= T_GE) {
        tok_kind op = t->k;
        next(ps);
        operand r;
        if (!parse_operand(ps, &r) || !check_types(ps, &l, &r)) return -1;
        int n = new_node(ps, E_CMP);
        if (n < 0) return -1;
        ps->q->nodes[n].op = op, ps->q->nodes[n].l = l, ps->q->nodes[n].r = r;
        if (varies(ps, &l) && !r.is_col) ps->q->nodes[n].litclass = static_type(&r);
        else if (varies(ps, &r) && !l.is_col) ps->q->nodes[n].litclass = static_type(&l);
        return n;
    }
    bool neg = false;
    if (t->k == T_NOT) {
        neg = true;
        next(ps);
        if (t->k != T_LIKE && t->k != T_IN) return perr(ps, t->line, t->col, "expected LIKE or IN after NOT"), -1;
    }
    if (t->k == T_LIKE) {
        next(ps);
        if (t->k != T_STRING) return perr(ps, t->line, t->col, "expected a pattern in quotes after LIKE"), -1;
        operand r;
        if (!parse_literal(ps, &r)) return -1;
        if (static_type(&l) == 'n')
            return perr(ps, l.line, l.col, "LIKE needs a string, not a number"), -1;
        int n = new_node(ps, E_LIKE);
        if (n < 0) return -1;
        ps->q->nodes[n].neg = neg, ps->q->nodes[n].l = l, ps->q->nodes[n].r = r;
        if (varies(ps, &l)) ps->q->nodes[n].litclass = 's';
        return n;
    }
    if (t->k == T_IN) {
        next(ps);
        if (!expect(ps, T_LPAREN, "'(' after IN")) return -1;
        nd_mql_query *q = ps->q;
        size_t first = q->nlits;
        do {
            operand r;
            if (!parse_literal(ps, &r) || !check_types(ps, &l, &r)) return -1;
            if (q->nlits == q->caplits) {
                size_t nc = q->caplits ? q->caplits * 2 : 8;
                operand *o = ND_REALLOC_N(operand, q->lits, q->caplits, nc);
                if (!o) return oom(ps), -1;
                q->lits = o, q->caplits = nc;
            }
            q->lits[q->nlits++] = r;
        } while (accept(ps, T_COMMA));
        if (!expect(ps, T_RPAREN, "',' or ')' in the IN list")) return -1;
        int n = new_node(ps, E_IN);
        if (n < 0) return -1;
        q->nodes[n].neg = neg, q->nodes[n].l = l, q->nodes[n].list0 = first;
        q->nodes[n].nlist = q->nlits - first;
        if (varies(ps, &l)) {
            char cls = static_type(&q->lits[first]);
            for (size_t k = first + 1; k < q->nlits; k++)
                if (static_type(&q->lits[k]) != cls) cls = 0;
            q->nodes[n].litclass = cls;
        }
        return n;
    }
    if (t->k == T_IS) {
        next(ps);
        bool isnot = accept(ps, T_NOT);
        if (!expect(ps, T_NULL, isnot ? "NULL after IS NOT" : "NULL or NOT NULL after IS")) return -1;
        int n = new_node(ps, E_ISNULL);
        if (n < 0) return -1;
        ps->q->nodes[n].neg = isnot, ps->q->nodes[n].l = l;
        return n;
    }
    return perr(ps, t->line, t->col, "expected a comparison (=, !=, <, <=, >, >=, LIKE, IN, IS)"), -1;
}

/* not := NOT not | pred */
static int parse_not(parser *ps, int depth)
{
    if (depth > 200) return perr(ps, ps->tok.line, ps->tok.col, "condition nested too deeply"), -1;
    if (accept(ps, T_NOT)) {
        int a = parse_not(ps, depth + 1);
        if (a < 0) return -1;
        int n = new_node(ps, E_NOT);
        if (n >= 0) ps->q->nodes[n].a = a;
        return n;
    }
    return parse_pred(ps, depth);
}

/* Condition trees are as deep as their AND/OR chains are long, and eval recurses once
 * per level: nesting plus the links of open chains is bounded (15000 ORs overflowed
 * the stack of an ASan build). */
#define MAX_HEIGHT 4000

static bool link(parser *ps, int depth)
{
    if (++ps->links + depth <= MAX_HEIGHT) return true;
    perr(ps, ps->tok.line, ps->tok.col, "condition too long: more than %d terms joined by AND or OR",
         MAX_HEIGHT);
    return false;
}

/* and := not {AND not} */
static int parse_and(parser *ps, int depth)
{
    int links0 = ps->links;
    int a = parse_not(ps, depth);
    while (a >= 0 && accept(ps, T_AND)) {
        if (!link(ps, depth)) return -1;
        int b = parse_not(ps, depth);
        if (b < 0) return -1;
        int n = new_node(ps, E_AND);
        if (n < 0) return -1;
        ps->q->nodes[n].a = a, ps->q->nodes[n].b = b;
        a = n;
    }
    ps->links = links0;
    return a;
}

/* expr := and {OR and} */
static int parse_or(parser *ps, int depth)
{
    if (depth > 200) return perr(ps, ps->tok.line, ps->tok.col, "condition nested too deeply"), -1;
    int links0 = ps->links;
    int a = parse_and(ps, depth);
    while (a >= 0 && accept(ps, T_OR)) {
        if (!link(ps, depth)) return -1;
        int b = parse_and(ps, depth);
        if (b < 0) return -1;
        int n = new_node(ps, E_OR);
        if (n < 0) return -1;
        ps->q->nodes[n].a = a, ps->q->nodes[n].b = b;
        a = n;
    }
    ps->links = links0;
    return a;
}

/* Appends one colref to a growing array (the query owns it). */
static colref *push_col(parser *ps, colref **arr, size_t *n, size_t *cap)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        colref *c = ND_REALLOC_N(colref, *arr, *cap, nc);
        if (!c) return oom(ps), NULL;
        *arr = c, *cap = nc;
    }
    return &(*arr)[(*n)++];
}

/* query := SELECT [DISTINCT] ('*' | item [AS name] {',' item [AS name]})
 *          FROM (RESULTS | LATEST) [WHERE expr] [GROUP BY column {',' column}]
 *          [HAVING expr] [ORDER BY item [ASC | DESC] {',' item [ASC | DESC]}]
 *          [LIMIT INT] [';'] EOF */
static bool parse_query(parser *ps)
{
    nd_mql_query *q = ps->q;
    if (!next(ps) || !expect(ps, T_SELECT, "SELECT")) return false;
    q->distinct = accept(ps, T_DISTINCT);
    ps->clause = K_SELECT;
    if (ps->tok.k == T_STAR) {
        q->star = true;
        q->star_line = ps->tok.line, q->star_col = ps->tok.col;
        next(ps);
    } else {
        do {
            colref *c = push_col(ps, &q->sel, &q->nsel, &q->capsel);
            if (!c || !parse_item(ps, c)) return false;
            if (accept(ps, T_AS)) {
                token *t = &ps->tok;
                if (t->k == T_QIDENT) {
                    c->alias = take_str(ps);
                } else if (t->k == T_IDENT) {
                    char *a = nd_strndup(t->p, t->n);
                    if (!a) return oom(ps);
                    c->alias = own_str(ps, a) ? a : NULL;
                } else {
                    return perr(ps, t->line, t->col, "expected a name after AS");
                }
                if (!c->alias) return false;
                next(ps);
            }
        } while (accept(ps, T_COMMA));
    }
    if (!expect(ps, T_FROM, q->nsel ? "',' or FROM" : "FROM")) return false;
    if (ps->tok.k == T_LATEST) q->latest = true;
    else if (ps->tok.k != T_RESULTS) return perr(ps, ps->tok.line, ps->tok.col, "expected 'results' or 'latest'");
    next(ps);
    if (accept(ps, T_WHERE)) {
        ps->clause = K_WHERE;
        q->where = parse_or(ps, 0);
        if (q->where < 0) return false;
    }
    if (accept(ps, T_GROUP)) {
        if (!expect(ps, T_BY, "BY after GROUP")) return false;
        ps->clause = K_GROUP;
        do {
            colref *c = push_col(ps, &q->group, &q->ngroup, &q->capgroup);
            if (!c || !parse_item(ps, c)) return false;
        } while (accept(ps, T_COMMA));
    }
    if (accept(ps, T_HAVING)) {
        ps->clause = K_HAVING;
        q->having0 = q->nnodes;
        q->having = parse_or(ps, 0);
        if (q->having < 0) return false;
    }
    if (accept(ps, T_ORDER)) {
        if (!expect(ps, T_BY, "BY after ORDER")) return false;
        ps->clause = K_ORDER;
        do {
            if (q->norder == q->caporder) {
                size_t nc = q->caporder ? q->caporder * 2 : 4;
                order_key *o = ND_REALLOC_N(order_key, q->order, q->caporder, nc);
                if (!o) return oom(ps);
                q->order = o, q->caporder = nc;
            }
            order_key *o = &q->order[q->norder];
            if (!parse_item(ps, &o->c)) return false;
            o->desc = false;
            if (accept(ps, T_DESC)) o->desc = true;
            else accept(ps, T_ASC);
            q->norder++;
        } while (accept(ps, T_COMMA));
    }
    if (accept(ps, T_LIMIT)) {
        if (ps->tok.k != T_INT || ps->tok.i_min)
            return perr(ps, ps->tok.line, ps->tok.col, "expected a non-negative integer after LIMIT");
        q->limit = ps->tok.i;
        next(ps);
    }
    accept(ps, T_SEMI);
    if (ps->failed) return false;
    if (ps->tok.k != T_EOF) {
        const char *what = "the end of the query";
        bool tail = q->having >= 0 || q->norder || q->limit >= 0;
        if (q->where < 0 && q->ngroup == 0 && !tail) what = "WHERE, GROUP BY, ORDER BY, LIMIT or the end of the query";
        else if (q->ngroup == 0 && !tail) what = "AND, OR, GROUP BY, ORDER BY, LIMIT or the end of the query";
        else if (q->having < 0 && q->norder == 0 && q->limit < 0) what = "',', HAVING, ORDER BY, LIMIT or the end of the query";
        else if (q->norder == 0 && q->limit < 0) what = "AND, OR, ORDER BY, LIMIT or the end of the query";
        else if (q->limit < 0) what = "',', LIMIT or the end of the query";
        return perr(ps, ps->tok.line, ps->tok.col, "expected %s", what);
    }
    return true;
}

static bool same_col(const colref *a, const colref *b)
{
    return a->id == b->id && (a->key ? b->key && strcmp(a->key, b->key) == 0 : !b->key);
}

/* Gives c its slot among a group's values: a grouped column's index among the keys, an
 * aggregate's (added to q->aggs on first use) after them. */
static bool resolve_ref(parser *ps, colref *c, bool in_order)
{
    nd_mql_query *q = ps->q;
    if (c->agg != A_NONE) {
        size_t k = 0;
        while (k < q->naggs && !(q->aggs[k].agg == c->agg && same_col(&q->aggs[k], c))) k++;
        if (k == q->naggs) {
            colref *a = push_col(ps, &q->aggs, &q->naggs, &q->capaggs);
            if (!a) return false;
            *a = *c;
            a->alias = NULL;
        }
        c->slot = (int)(q->ngroup + k);
        return true;
    }
    for (size_t k = 0; k < q->ngroup; k++)
        if (same_col(&q->group[k], c)) {
            c->slot = (int)k;
            return true;
        }
    char name[300];
    colref_name(c, name, sizeof name);
    if (in_order && !q->dedup && q->distinct)
        return perr(ps, c->line, c->col, "%s is not in the SELECT list (SELECT DISTINCT orders by its columns only)", name);
    return perr(ps, c->line, c->col, "%s must appear in GROUP BY or be used in an aggregate function", name);
}

/* After parsing: decides whether rows are grouped and resolves every column of SELECT,
 * HAVING and ORDER BY against the groups (errors in the order of the source). */
static bool resolve(parser *ps)
{
    nd_mql_query *q = ps->q;
    bool agg = q->having >= 0 || q->ngroup > 0;
    for (size_t k = 0; k < q->nsel; k++) agg |= q->sel[k].agg != A_NONE;
    for (size_t k = 0; k < q->norder; k++) agg |= q->order[k].c.agg != A_NONE;
    if (q->star) {
        if (agg) return perr(ps, q->star_line, q->star_col, "SELECT * cannot be used with GROUP BY, HAVING or aggregates");
        return true; /* DISTINCT *: rows are distinct already (by name and version) */
    }
    if (!agg && !q->distinct) return true;
    if (!agg) { /* DISTINCT alone: the groups are the distinct selected values */
        for (size_t k = 0; k < q->nsel; k++) {
            bool dup = false;
            for (size_t j = 0; j < q->ngroup && !dup; j++) dup = same_col(&q->group[j], &q->sel[k]);
            colref *c = dup ? NULL : push_col(ps, &q->group, &q->ngroup, &q->capgroup);
            if (!dup && !c) return false;
            if (c) *c = q->sel[k], c->alias = NULL;
        }
    } else {
        q->dedup = q->distinct;
    }
    q->grouped = true;
    /* Aggregates get their slots after every key: count them first. */
    for (size_t k = 0; k < q->nsel; k++)
        if (!resolve_ref(ps, &q->sel[k], false)) return false;
    for (size_t i = q->having0; q->having >= 0 && i < q->nnodes; i++) {
        node *n = &q->nodes[i];
        if (n->l.is_col && !resolve_ref(ps, &n->l.c, false)) return false;
        if (n->r.is_col && !resolve_ref(ps, &n->r.c, false)) return false;
    }
    for (size_t k = 0; k < q->norder; k++)
        if (!resolve_ref(ps, &q->order[k].c, true)) return false;
    return true;
}

void nd_mql_free(nd_mql_query *q)
{
    if (!q) return;
    for (size_t i = 0; i < q->nstrs; i++) nd_strfree(q->strs[i]);
    if (q->strs) ND_FREE_N(q->strs, q->capstrs);
    if (q->sel) ND_FREE_N(q->sel, q->capsel);
    if (q->group) ND_FREE_N(q->group, q->capgroup);
    if (q->aggs) ND_FREE_N(q->aggs, q->capaggs);
    if (q->order) ND_FREE_N(q->order, q->caporder);
    if (q->nodes) ND_FREE_N(q->nodes, q->capnodes);
    if (q->lits) ND_FREE_N(q->lits, q->caplits);
    nd_free(q, sizeof *q);
}

nd_status nd_mql_format_error(const char *src, const nd_mql_diag *d)
{
    const char *ls = src;
    for (int l = 1; l < d->line && *ls; ls++)
        if (*ls == '\n') l++;
    size_t n = strcspn(ls, "\n");
    if (n > 400) n = 400;
    char caret[420];
    size_t c = d->col > 0 ? (size_t)d->col - 1 : 0;
    if (c > n) c = n;
    for (size_t k = 0; k < c; k++) caret[k] = ls[k] == '\t' ? '\t' : ' ';
    caret[c] = '^';
    caret[c + 1] = '\0';
    return nd_err_set(ND_EPROG, "mql:%d:%d: error: %s\n%.*s\n%s", d->line, d->col, d->msg, (int)n, ls, caret);
}

static unsigned operand_cost(const operand *o)
{
    if (!o->is_col) return 0;
    if (o->c.agg != A_NONE) return 1; /* HAVING: a group's value */
    if (o->c.id == C_TAG || o->c.id == C_PARAM) return 8; /* scans the encoded list */
    return o->c.id < C_NFIXED && fixed_cols[o->c.id].type == 's' ? 2 : 1;
}

/* Predicate pushdown in the small: puts the cheaper side of every AND and OR first, so
 * that a plain column test rejects most rows before a tag lookup runs.  Both are
 * symmetric in three-valued logic, so the order changes the cost only.  Children are
 * created before their parents, so one pass in node order sees children's costs. */
static void order_by_cost(nd_mql_query *q)
{
    unsigned *cost = ND_ALLOC_N(unsigned, q->nnodes ? q->nnodes : 1);
    if (!cost) return; /* an optimization only */
    for (size_t i = 0; i < q->nnodes; i++) {
        node *n = &q->nodes[i];
        switch (n->k) {
        case E_OR:
        case E_AND:
            if (cost[n->a] > cost[n->b]) {
                int t = n->a;
                n->a = n->b, n->b = t;
            }
            cost[i] = cost[n->a] + cost[n->b];
            break;
        case E_NOT: cost[i] = cost[n->a]; break;
        default: cost[i] = operand_cost(&n->l) + operand_cost(&n->r) + (unsigned)n->nlist; break;
        }
    }
    ND_FREE_N(cost, q->nnodes ? q->nnodes : 1);
}

nd_status nd_mql_parse(const char *src, nd_mql_query **out, nd_mql_diag *diag)
{
    *out = NULL;
    memset(diag, 0, sizeof *diag);
    nd_mql_query *q = ND_ALLOC_N(nd_mql_query, 1);
    if (!q) return ND_ENOMEM;
    q->where = -1;
    q->having = -1;
    q->limit = -1;
    parser ps;
    memset(&ps, 0, sizeof ps);
    ps.src = ps.p = ps.line_start = src;
    ps.line = 1;
    ps.q = q;
    ps.diag = diag;
    bool ok = parse_query(&ps) && resolve(&ps);
    if (ps.tok.s) nd_strfree(ps.tok.s);
    if (!ok || ps.failed) {
        nd_mql_free(q);
        if (ps.st == ND_ENOMEM) return nd_err_set(ND_ENOMEM, "mql: out of memory");
        return nd_mql_format_error(src, diag);
    }
    order_by_cost(q);
    *out = q;
    return ND_OK;
}

/* ---- evaluation --------------------------------------------------------------------- */

/* Parses a parameter's text the way param() does: int, float, else string. */
static val param_val(const char *s, size_t n)
{
    val v = {.t = ND_CAT_CSTR, .s = s, .len = n};
    char buf[64];
    if (n == 0 || n >= sizeof buf) return v;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    long long i = strtoll(buf, &end, 10);
    if (*end == '\0' && errno == 0) {
        v.t = ND_CAT_CINT, v.i = i;
        return v;
    }
    double f = strtod(buf, &end);
    if (*end == '\0' && buf[0] != ' ' && !(buf[0] == 'n' || buf[0] == 'N' || buf[0] == 'i' || buf[0] == 'I'))
        v.t = ND_CAT_CFLOAT, v.f = f;
    return v;
}

/* Finds key in an encoded entry list; typed lists carry a type letter before the value. */
static val entry_val(const char *s, const char *key, bool typed)
{
    val v = {.t = ND_CAT_NULL};
    size_t kl = strlen(key);
    while (*s) {
        const char *sep = strchr(s, ND_CAT_TAG_SEP);
        if (!sep) break;
        const char *end = strchr(sep, ND_CAT_ENT_SEP);
        if (!end) break;
        if ((size_t)(sep - s) == kl && memcmp(s, key, kl) == 0) {
            const char *p = sep + 1;
            if (!typed) return param_val(p, (size_t)(end - p));
            char ty = *p++;
            if (ty == 'i') v.t = ND_CAT_CINT, v.i = strtoll(p, NULL, 10);
            else if (ty == 'f') v.t = ND_CAT_CFLOAT, v.f = strtod(p, NULL);
            else v.t = ND_CAT_CSTR, v.s = p, v.len = (size_t)(end - p);
            return v;
        }
        s = end + 1;
    }
    return v;
}

/* The same names as nd_cat_kind_name (result.c, which needs HDF5). */
static const char *kind_name(int kind)
{
    static const char *const names[] = {"", "int", "float", "string", "json", "matrix", "map"};
    return kind >= ND_CAT_INT && kind <= ND_CAT_MAP ? names[kind] : "unknown";
}

static val str_val(const nd_cat_index *ix, uint64_t off)
{
    const char *s = nd_cat_index_s(ix, off);
    val v = {.t = ND_CAT_CSTR, .s = s, .len = strlen(s)};
    return v;
}

static val get(const nd_cat_index *ix, const nd_cat_row *r, const colref *c)
{
    val v = {.t = ND_CAT_NULL};
    bool stats = r->flags & ND_CAT_F_STATS, dims = stats && !(r->flags & ND_CAT_F_ND);
    switch (c->id) {
    case C_NAME: return str_val(ix, r->name);
    case C_VERSION: v.t = ND_CAT_CINT, v.i = r->version; return v;
    case C_KIND: v.t = ND_CAT_CSTR, v.s = kind_name(r->kind), v.len = strlen(v.s); return v;
    case C_VALUE:
        if (r->flags & ND_CAT_F_VINT) v.t = ND_CAT_CINT, v.i = r->ivalue;
        else if (r->flags & ND_CAT_F_VNUM) v.t = ND_CAT_CFLOAT, v.f = r->value;
        else if (r->flags & ND_CAT_F_VSTR) v = str_val(ix, r->svalue);
        return v;
    case C_ROWS: if (dims) v.t = ND_CAT_CINT, v.i = r->rows; return v;
    case C_COLS: if (dims) v.t = ND_CAT_CINT, v.i = r->cols; return v;
    case C_MIN: if (stats) v.t = ND_CAT_CFLOAT, v.f = r->min; return v;
    case C_MAX: if (stats) v.t = ND_CAT_CFLOAT, v.f = r->max; return v;
    case C_MEAN: if (stats) v.t = ND_CAT_CFLOAT, v.f = r->mean; return v;
    case C_NORM: if (stats) v.t = ND_CAT_CFLOAT, v.f = r->norm; return v;
    case C_JOB: return str_val(ix, r->job);
    case C_RESTARTS: v.t = ND_CAT_CINT, v.i = r->restarts; return v;
    case C_CREATED: return str_val(ix, r->created);
    case C_USER: return str_val(ix, r->user);
    case C_HOST: return str_val(ix, r->host);
    case C_RANKS: v.t = ND_CAT_CINT, v.i = r->ranks; return v;
    case C_HASH: return str_val(ix, r->hash);
    case C_SHAPE: if (r->shape) v = str_val(ix, r->shape); return v;
    case C_PROGRAM: if (r->program) v = str_val(ix, r->program); return v;
    case C_PROGRAM_PATH: if (r->program_path) v = str_val(ix, r->program_path); return v;
    case C_SIGNER: if (r->signer) v = str_val(ix, r->signer); return v;
    case C_TAG: return entry_val(nd_cat_index_s(ix, r->tags), c->key, true);
    case C_PARAM: return entry_val(nd_cat_index_s(ix, r->params), c->key, false);
    default: return v;
    }
}

static bool is_num(const val *v) { return v->t == ND_CAT_CINT || v->t == ND_CAT_CFLOAT; }

/* Three-way compare of two non-NULL values of the same class (numbers or strings). */
static int cmp_same(const val *a, const val *b)
{
    if (a->t == ND_CAT_CSTR) {
        size_t n = a->len < b->len ? a->len : b->len;
        int c = memcmp(a->s, b->s, n);
        if (c) return c < 0 ? -1 : 1;
        return (a->len > b->len) - (a->len < b->len);
    }
    if (a->t == ND_CAT_CINT && b->t == ND_CAT_CINT) return (a->i > b->i) - (a->i < b->i);
    double x = a->t == ND_CAT_CINT ? (double)a->i : a->f;
    double y = b->t == ND_CAT_CINT ? (double)b->i : b->f;
    if (x < y) return -1;
    if (x > y) return 1;
    if (x == y) return 0;
    return 2; /* NaN: unordered */
}

enum { F = 0, T = 1, U = 2 }; /* three-valued logic */

static int compare(tok_kind op, const val *a, const val *b)
{
    if (a->t == ND_CAT_NULL || b->t == ND_CAT_NULL) return U;
    if (is_num(a) != is_num(b)) return U;
    int c = cmp_same(a, b);
    if (c == 2) return op == T_NE ? T : F;
    switch (op) {
    case T_EQ: return c == 0;
    case T_NE: return c != 0;
    case T_LT: return c < 0;
    case T_LE: return c <= 0;
    case T_GT: return c > 0;
    case T_GE: return c >= 0;
    default: return U;
    }
}

/* SQL LIKE: '%' any run, '_' one byte; iterative with one backtrack point. */
static bool like(const char *s, size_t n, const char *p, size_t m)
{
    size_t i = 0, j = 0, star = (size_t)-1, mark = 0;
    while (i < n) {
        if (j < m && (p[j] == '_' || p[j] == s[i])) {
            i++, j++;
        } else if (j < m && p[j] == '%') {
            star = j++, mark = i;
        } else if (star != (size_t)-1) {
            j = star + 1, i = ++mark;
        } else {
            return false;
        }
    }
    while (j < m && p[j] == '%') j++;
    return j == m;
}

/* What eval reads: a row of the index (WHERE) or a group's values (HAVING). */
typedef struct ectx {
    const nd_mql_query *q;
    const nd_cat_index *ix;
    const val *grow; /* HAVING: the group's keys, then its aggregates; NULL: a row */
    bool *mism;      /* per node: a tag met a literal of the other type (NULL: not kept) */
} ectx;

static val operand_val(const ectx *x, const nd_cat_row *r, const operand *o)
{
    if (!o->is_col) return o->lit;
    return x->grow ? x->grow[o->c.slot] : get(x->ix, r, &o->c);
}

static char val_class(const val *v) { return v->t == ND_CAT_NULL ? 0 : is_num(v) ? 'n' : 's'; }

/* Notes a tag or parameter of the other type than the literals it is tested against. */
static inline void note_mismatch(const ectx *x, int e, const val *v)
{
    char c = x->q->nodes[e].litclass;
    if (c && x->mism && v->t != ND_CAT_NULL && val_class(v) != c) x->mism[e] = true;
}

static int eval(const ectx *x, int e, const nd_cat_row *r)
{
    const node *nd = &x->q->nodes[e];
    switch (nd->k) {
    case E_OR: {
        int a = eval(x, nd->a, r);
        if (a == T) return T;
        int b = eval(x, nd->b, r);
        if (b == T) return T;
        return a == U || b == U ? U : F;
    }
    case E_AND: {
        int a = eval(x, nd->a, r);
        if (a == F) return F;
        int b = eval(x, nd->b, r);
        if (b == F) return F;
        return a == U || b == U ? U : T;
    }
    case E_NOT: {
        int a = eval(x, nd->a, r);
        return a == U ? U : !a;
    }
    case E_CMP: {
        val a = operand_val(x, r, &nd->l), b = operand_val(x, r, &nd->r);
        int res = compare(nd->op, &a, &b);
        if (res == U && nd->litclass) note_mismatch(x, e, nd->l.is_col ? &a : &b);
        return res;
    }
    case E_LIKE: {
        val a = operand_val(x, r, &nd->l);
        if (a.t != ND_CAT_CSTR) {
            if (nd->litclass) note_mismatch(x, e, &a);
            return U;
        }
        bool m = like(a.s, a.len, nd->r.lit.s, nd->r.lit.len);
        return m != nd->neg;
    }
    case E_IN: {
        val a = operand_val(x, r, &nd->l);
        if (a.t == ND_CAT_NULL) return U;
        int res = F;
        for (size_t k = 0; k < nd->nlist; k++) {
            int c = compare(T_EQ, &a, &x->q->lits[nd->list0 + k].lit);
            if (c == T) {
                res = T;
                break;
            }
            if (c == U) res = U;
        }
        if (res == U && nd->litclass) note_mismatch(x, e, &a);
        return res == U ? U : (res == T) != nd->neg;
    }
    case E_ISNULL: {
        val a = operand_val(x, r, &nd->l);
        return (a.t == ND_CAT_NULL) != nd->neg;
    }
    }
    return U;
}

/* ---- sorting ------------------------------------------------------------------------ */

/* NULL sorts after everything (last ascending, first descending); numbers before strings. */
static int order_cmp(const val *a, const val *b)
{
    if (a->t == ND_CAT_NULL || b->t == ND_CAT_NULL) return (a->t == ND_CAT_NULL) - (b->t == ND_CAT_NULL);
    if (is_num(a) != is_num(b)) return is_num(a) ? -1 : 1;
    int c = cmp_same(a, b);
    if (c == 2) { /* NaN after numbers */
        bool na = a->t == ND_CAT_CFLOAT && isnan(a->f), nb = b->t == ND_CAT_CFLOAT && isnan(b->f);
        return na - nb;
    }
    return c;
}

/* Only the first key is precomputed (one val per match, and an order-preserving
 * integer when it is a plain number); the later ones, usually the name and version
 * tie-breakers, are read from the row when the first ones tie. */
typedef struct sort_ctx {
    const val *k0;      /* first key of match x */
    const uint64_t *u0; /* NULL, or k0 as integers that compare like it (desc applied) */
    const size_t *pos;  /* match x -> row */
    const nd_cat_index *ix;
    const colref *const *keys;
    const bool *desc;
    size_t nkeys;
} sort_ctx;

static int cmp_rows(const sort_ctx *c, size_t x, size_t y)
{
    int r;
    if (c->u0) {
        if (c->u0[x] != c->u0[y]) return c->u0[x] < c->u0[y] ? -1 : 1;
    } else if ((r = order_cmp(&c->k0[x], &c->k0[y])) != 0) {
        return c->desc[0] ? -r : r;
    }
    for (size_t k = 1; k < c->nkeys; k++) {
        val a = get(c->ix, &c->ix->rows[c->pos[x]], c->keys[k]);
        val b = get(c->ix, &c->ix->rows[c->pos[y]], c->keys[k]);
        r = order_cmp(&a, &b);
        if (r) return c->desc[k] ? -r : r;
    }
    return (x > y) - (x < y);
}

/* Merge sort of positions (stable; no global state). */
static void msort(size_t *a, size_t *tmp, size_t n, const sort_ctx *c)
{
    if (n < 2) return;
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            size_t v = a[i], j = i;
            while (j > 0 && cmp_rows(c, a[j - 1], v) > 0) a[j] = a[j - 1], j--;
            a[j] = v;
        }
        return;
    }
    size_t h = n / 2;
    msort(a, tmp, h, c);
    msort(a + h, tmp, n - h, c);
    if (cmp_rows(c, a[h - 1], a[h]) <= 0) return;
    memcpy(tmp, a, n * sizeof *a);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) a[k++] = cmp_rows(c, tmp[j], tmp[i]) < 0 ? tmp[j++] : tmp[i++];
    while (i < h) a[k++] = tmp[i++];
    while (j < n) a[k++] = tmp[j++];
}

/* Sorts idx (0..n-1 on entry) like msort when the first key is the integer u0: a
 * stable LSD radix sort on u0 (11-bit digits, passes where every key has the same digit
 * skipped), then msort within each run of equal u0 for the later keys. */
static nd_status radix_sort(const sort_ctx *c, size_t *idx, size_t *work, size_t n)
{
    enum { BITS = 11, NB = 1 << BITS };
    uint64_t *k = ND_SCRATCH_N(uint64_t, n), *k2 = ND_SCRATCH_N(uint64_t, n);
    size_t *cnt = ND_ALLOC_N(size_t, NB);
    nd_status st = k && k2 && cnt ? ND_OK : ND_ENOMEM;
    size_t *a = idx, *b = work;
    for (size_t i = 0; st == ND_OK && i < n; i++) k[i] = c->u0[i];
    for (int sh = 0; st == ND_OK && sh < 64; sh += BITS) {
        memset(cnt, 0, NB * sizeof *cnt);
        for (size_t i = 0; i < n; i++) cnt[(k[i] >> sh) & (NB - 1)]++;
        if (cnt[(k[0] >> sh) & (NB - 1)] == n) continue;
        for (size_t d = 0, sum = 0; d < NB; d++) {
            size_t t = cnt[d];
            cnt[d] = sum, sum += t;
        }
        for (size_t i = 0; i < n; i++) {
            size_t o = cnt[(k[i] >> sh) & (NB - 1)]++;
            k2[o] = k[i], b[o] = a[i];
        }
        uint64_t *tk = k;
        k = k2, k2 = tk;
        size_t *ta = a;
        a = b, b = ta;
    }
    if (st == ND_OK && a != idx) memcpy(idx, a, n * sizeof *idx);
    for (size_t i = 0; st == ND_OK && i < n;) { /* ties: the later keys */
        size_t j = i + 1;
        while (j < n && c->u0[idx[j]] == c->u0[idx[i]]) j++;
        if (j - i > 1) msort(idx + i, work, j - i, c);
        i = j;
    }
    if (k) ND_FREE_N(k, n);
    if (k2) ND_FREE_N(k2, n);
    if (cnt) ND_FREE_N(cnt, NB);
    return st;
}

/* ---- execution ---------------------------------------------------------------------- */

/* For `latest`: marks, for each name, the row with the highest version. */
static nd_status latest_mask(const nd_cat_index *ix, bool *keep)
{
    size_t cap = 16;
    while (cap < ix->nrows * 2) cap *= 2;
    size_t *slot = ND_ALLOC_N(size_t, cap); /* row index + 1; 0 = empty */
    if (!slot) return ND_ENOMEM;
    for (size_t i = 0; i < ix->nrows; i++) {
        const char *nm = nd_cat_index_s(ix, ix->rows[i].name);
        size_t len = strlen(nm);
        size_t h = (size_t)nd_hash_bytes(nm, len) & (cap - 1);
        for (;;) {
            if (slot[h] == 0) {
                slot[h] = i + 1;
                keep[i] = true;
                break;
            }
            size_t j = slot[h] - 1;
            if (strcmp(nd_cat_index_s(ix, ix->rows[j].name), nm) == 0) {
                if (ix->rows[i].version > ix->rows[j].version) {
                    keep[j] = false;
                    keep[i] = true;
                    slot[h] = i + 1;
                }
                break;
            }
            h = (h + 1) & (cap - 1);
        }
    }
    ND_FREE_N(slot, cap);
    return ND_OK;
}

/* Adds every tag (or param) key of the matched rows, in order of first appearance. */
static nd_status collect_keys(const nd_cat_index *ix, const size_t *pos, size_t n, bool tags,
                              colref **cols, size_t *ncols, size_t *cap)
{
    for (size_t i = 0; i < n; i++) {
        const nd_cat_row *r = &ix->rows[pos[i]];
        const char *s = nd_cat_index_s(ix, tags ? r->tags : r->params);
        while (*s) {
            const char *sep = strchr(s, ND_CAT_TAG_SEP);
            const char *end = sep ? strchr(sep, ND_CAT_ENT_SEP) : NULL;
            if (!end) break;
            size_t kl = (size_t)(sep - s);
            bool seen = false;
            for (size_t k = 0; k < *ncols && !seen; k++)
                seen = (*cols)[k].id == (tags ? C_TAG : C_PARAM) && strlen((*cols)[k].key) == kl &&
                       memcmp((*cols)[k].key, s, kl) == 0;
            if (!seen) {
                if (*ncols == *cap) {
                    size_t nc = *cap * 2;
                    colref *t = ND_REALLOC_N(colref, *cols, *cap, nc);
                    if (!t) return ND_ENOMEM;
                    *cols = t, *cap = nc;
                }
                colref *c = &(*cols)[(*ncols)++];
                memset(c, 0, sizeof *c);
                c->id = tags ? C_TAG : C_PARAM;
                c->key = nd_strndup(s, kl);
                if (!c->key) return ND_ENOMEM;
            }
            s = end + 1;
        }
    }
    return ND_OK;
}

void nd_cat_rows_free(nd_cat_rows *r)
{
    size_t stored = r->order ? r->nstored : r->nrows;
    for (size_t c = 0; c < r->ncols; c++) nd_strfree(r->colnames[c]);
    if (r->colnames) ND_FREE_N(r->colnames, r->ncols ? r->ncols : 1);
    if (r->cells) ND_FREE_N(r->cells, one_or(stored * r->ncols));
    if (r->order) ND_FREE_N(r->order, one_or(r->nstored));
    if (r->heap) nd_free(r->heap, r->heap_len);
    if (r->warnings) nd_strfree(r->warnings);
    memset(r, 0, sizeof *r);
}

/* Fills out->cells for matches pos[0..nm) in that order (out->ncols set); strings are
 * copied to out->heap and cell.i holds their offset until fix_strings. */
static nd_status build_cells(const nd_cat_index *ix, const size_t *pos, size_t nm,
                             const colref *cols, nd_cat_rows *out)
{
    size_t ncols = out->ncols;
    out->cells = ND_ALLOC_N(nd_cat_cell, one_or(nm * ncols));
    if (!out->cells) return ND_ENOMEM;
    out->nrows = nm;
    nd_strbuf heap;
    nd_sb_init(&heap);
    nd_status st = ND_OK;
    for (size_t i = 0; st == ND_OK && i < nm; i++) {
        const nd_cat_row *r = &ix->rows[pos[i]];
        for (size_t c = 0; st == ND_OK && c < ncols; c++) {
            val v = get(ix, r, &cols[c]);
            nd_cat_cell *cell = &out->cells[i * ncols + c];
            cell->type = v.t, cell->i = v.i, cell->f = v.f, cell->s = NULL;
            if (v.t == ND_CAT_CSTR) {
                cell->i = (int64_t)heap.len;
                st = nd_sb_append(&heap, v.s, v.len);
                if (st == ND_OK) st = nd_sb_putc(&heap, '\0');
            }
        }
    }
    if (st == ND_OK) {
        out->heap = heap.data;
        out->heap_len = heap.cap;
        heap.data = NULL;
    }
    nd_sb_free(&heap);
    return st;
}

static void fix_strings(nd_cat_rows *out)
{
    size_t stored = out->order ? out->nstored : out->nrows;
    for (size_t k = 0; k < stored * out->ncols; k++) {
        nd_cat_cell *cell = &out->cells[k];
        if (cell->type == ND_CAT_CSTR) {
            cell->s = out->heap + cell->i;
            cell->i = 0;
        }
    }
}

/* An order-preserving integer for a first key that is a number of one type for every
 * match (the common ORDER BY norm): false when some key is NULL, NaN or mixed. */
static bool numeric_keys(const nd_cat_index *ix, const size_t *pos, size_t nm, const colref *c,
                         bool desc, uint64_t *u)
{
    nd_cat_ctype t0 = ND_CAT_NULL;
    for (size_t i = 0; i < nm; i++) {
        val vv = get(ix, &ix->rows[pos[i]], c);
        const val *v = &vv;
        uint64_t b;
        if (i == 0) t0 = v->t;
        if (v->t != t0) return false;
        if (v->t == ND_CAT_CINT) {
            b = (uint64_t)v->i ^ (UINT64_C(1) << 63);
        } else if (v->t == ND_CAT_CFLOAT && !isnan(v->f)) {
            double f = v->f == 0 ? 0.0 : v->f; /* -0 == 0 */
            memcpy(&b, &f, sizeof b);
            b = b >> 63 ? ~b : b | (UINT64_C(1) << 63);
        } else {
            return false;
        }
        u[i] = desc ? ~b : b;
    }
    return true;
}

/* idx := the permutation of matches 0..nm-1 in query order (ORDER BY keys, then name
 * and version: deterministic after a reindex). */
static nd_status sort_matches(const nd_mql_query *q, const nd_cat_index *ix, const size_t *pos,
                              size_t nm, size_t *idx)
{
    colref dflt[2] = {{.id = C_NAME}, {.id = C_VERSION}};
    size_t nkeys = q->norder + 2, n1 = nm ? nm : 1;
    val *k0 = NULL;
    uint64_t *u0 = ND_ALLOC_N(uint64_t, n1);
    bool *desc = ND_ALLOC_N(bool, nkeys);
    const colref **keys = ND_ALLOC_N(const colref *, nkeys);
    size_t *work = ND_ALLOC_N(size_t, n1);
    nd_status st = u0 && desc && keys && work ? ND_OK : ND_ENOMEM;
    if (st == ND_OK) {
        for (size_t k = 0; k < nkeys; k++) {
            keys[k] = k < q->norder ? &q->order[k].c : &dflt[k - q->norder];
            desc[k] = k < q->norder && q->order[k].desc;
        }
        if (!numeric_keys(ix, pos, nm, keys[0], desc[0], u0)) {
            ND_FREE_N(u0, n1);
            u0 = NULL;
            k0 = ND_ALLOC_N(val, n1);
            if (!k0) st = ND_ENOMEM;
            for (size_t i = 0; k0 && i < nm; i++) k0[i] = get(ix, &ix->rows[pos[i]], keys[0]);
        }
    }
    if (st == ND_OK) {
        for (size_t i = 0; i < nm; i++) idx[i] = i;
        sort_ctx sc = {k0, u0, pos, ix, keys, desc, nkeys};
        if (u0 && nm > 256) st = radix_sort(&sc, idx, work, nm);
        else msort(idx, work, nm, &sc);
    }
    if (k0) ND_FREE_N(k0, n1);
    if (u0) ND_FREE_N(u0, n1);
    if (desc) ND_FREE_N(desc, nkeys);
    if (keys) ND_FREE_N(keys, nkeys);
    if (work) ND_FREE_N(work, n1);
    return st;
}

/* A query without grouping: the matching rows, sorted, limited. */
static nd_status exec_rows(const ectx *x, const bool *keep, nd_cat_rows *out)
{
    const nd_mql_query *q = x->q;
    const nd_cat_index *ix = x->ix;
    nd_status st = ND_OK;
    size_t n = ix->nrows, nm = 0;
    size_t *pos = ND_ALLOC_N(size_t, n ? n : 1);
    if (!pos) return ND_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (keep && !keep[i]) continue;
        if (q->where >= 0 && eval(x, q->where, &ix->rows[i]) != T) continue;
        pos[nm++] = i;
    }

    size_t *idx = ND_ALLOC_N(size_t, nm ? nm : 1);
    if (!idx) st = ND_ENOMEM;
    if (st == ND_OK) st = sort_matches(q, ix, pos, nm, idx);
    size_t nout = nm;
    if (st == ND_OK && q->limit >= 0 && (uint64_t)q->limit < nm) nout = (size_t)q->limit;
    /* Cells are built in index order (sequential reads of the index) and read through
     * out->order, unless few rows survive LIMIT or '*' needs the sorted rows to find
     * its columns. */
    bool scan_order = !q->star && nout > nm / 2;
    if (st == ND_OK && !scan_order) {
        for (size_t i = 0; i < nout; i++) idx[i] = pos[idx[i]];
        memcpy(pos, idx, nout * sizeof *pos);
    }

    /* Columns. */
    size_t capc = q->star ? C_NFIXED + 8 : (q->nsel ? q->nsel : 1), ncols = 0;
    colref *cols = st == ND_OK ? ND_ALLOC_N(colref, capc) : NULL;
    if (st == ND_OK && !cols) st = ND_ENOMEM;
    if (st == ND_OK && q->star) {
        for (int k = 0; k < C_NFIXED; k++) cols[ncols++] = (colref){.id = k};
        st = collect_keys(ix, pos, nout, true, &cols, &ncols, &capc);
        if (st == ND_OK) st = collect_keys(ix, pos, nout, false, &cols, &ncols, &capc);
    } else if (st == ND_OK) {
        for (size_t k = 0; k < q->nsel; k++) cols[ncols++] = q->sel[k];
    }
    if (st == ND_OK) {
        out->ncols = ncols;
        out->colnames = ND_ALLOC_N(char *, ncols ? ncols : 1);
        if (!out->colnames) st = ND_ENOMEM;
    }
    for (size_t c = 0; st == ND_OK && c < ncols; c++) {
        char buf[300];
        colref_name(&cols[c], buf, sizeof buf);
        out->colnames[c] = nd_strdup(cols[c].alias ? cols[c].alias : buf);
        if (!out->colnames[c]) st = ND_ENOMEM;
    }
    if (st == ND_OK && !scan_order) {
        st = build_cells(ix, pos, nout, cols, out);
    } else if (st == ND_OK) {
        st = build_cells(ix, pos, nm, cols, out);
        if (st == ND_OK) {
            out->order = idx; /* one_or(nm) entries, like the cells' rows */
            out->nstored = nm;
            out->nrows = nout;
            idx = NULL;
        }
    }
    if (st == ND_OK) fix_strings(out);
    if (cols && q->star)
        for (size_t k = C_NFIXED; k < ncols; k++) nd_strfree((char *)cols[k].key);
    if (cols) ND_FREE_N(cols, capc);
    if (idx) ND_FREE_N(idx, nm ? nm : 1);
    ND_FREE_N(pos, n ? n : 1);
    return st;
}

/* ---- grouping ----------------------------------------------------------------------- */

/* The order of min, max and the output of groups: ORDER BY's (NULL last, numbers before
 * strings), made total: an int before the float of the same value, -0.0 before 0.0. */
static int total_cmp(const val *a, const val *b)
{
    int c = order_cmp(a, b);
    if (c || !is_num(a) || !is_num(b)) return c;
    if (a->t != b->t) return a->t == ND_CAT_CINT ? -1 : 1;
    if (a->t == ND_CAT_CFLOAT && !isnan(a->f)) return (int)!signbit(a->f) - (int)!signbit(b->f);
    return 0;
}

/* A number's identity for grouping, as `=` sees it: int 2 and float 2.0 are one value,
 * -0.0 is 0, all NaNs are one value. */
static uint64_t num_key(const val *v, int *tag)
{
    if (v->t == ND_CAT_CINT) return *tag = 1, (uint64_t)v->i;
    double f = v->f;
    if (isnan(f)) return *tag = 3, 0;
    if (f >= -9223372036854775808.0 && f < 9223372036854775808.0 && f == (double)(int64_t)f)
        return *tag = 1, (uint64_t)(int64_t)f;
    uint64_t u;
    memcpy(&u, &f, sizeof u);
    return *tag = 2, u;
}

static uint64_t mix(uint64_t h, uint64_t x)
{
    h = (h ^ x) * UINT64_C(0x9e3779b97f4a7c15);
    return h ^ (h >> 29);
}

static uint64_t vals_hash(const val *v, size_t n)
{
    uint64_t h = 0x5bd1e995;
    for (size_t k = 0; k < n; k++) {
        int tag = 0;
        if (v[k].t == ND_CAT_CSTR) h = mix(h, nd_hash_bytes(v[k].s, v[k].len) ^ 4);
        else if (is_num(&v[k])) h = mix(mix(h, num_key(&v[k], &tag)), (uint64_t)tag);
        else h = mix(h, 7);
    }
    return h;
}

static bool same_val(const val *a, const val *b)
{
    if (a->t == ND_CAT_CSTR || b->t == ND_CAT_CSTR)
        return a->t == b->t && a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
    if (!is_num(a) || !is_num(b)) return a->t == b->t;
    int ta, tb;
    return num_key(a, &ta) == num_key(b, &tb) && ta == tb;
}

/* Groups: w values each (nk keys, then one per aggregate), found by hashing the keys. */
typedef struct gtable {
    size_t nk, w;
    val *vals;      /* n x w */
    uint64_t *hash; /* n */
    size_t n, cap;
    size_t *slot;   /* open addressing: group + 1, 0 empty */
    size_t nslot;
} gtable;

static void gt_free(gtable *g)
{
    if (g->vals) ND_FREE_N(g->vals, g->cap * g->w);
    if (g->hash) ND_FREE_N(g->hash, g->cap);
    if (g->slot) ND_FREE_N(g->slot, g->nslot);
    memset(g, 0, sizeof *g);
}

/* The group of keys k[0..nk) (added when new: *added); SIZE_MAX when out of memory. */
static size_t gt_find(gtable *g, const val *k, bool *added)
{
    uint64_t h = vals_hash(k, g->nk);
    *added = false;
    if (g->nslot) {
        for (size_t s = h & (g->nslot - 1);; s = (s + 1) & (g->nslot - 1)) {
            size_t x = g->slot[s];
            if (!x) break;
            x--;
            if (g->hash[x] != h) continue;
            size_t j = 0;
            while (j < g->nk && same_val(&g->vals[x * g->w + j], &k[j])) j++;
            if (j == g->nk) return x;
        }
    }
    if (g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 16;
        val *v = ND_REALLOC_N(val, g->vals, g->cap * g->w, nc * g->w);
        if (!v) return SIZE_MAX;
        g->vals = v;
        uint64_t *hs = ND_REALLOC_N(uint64_t, g->hash, g->cap, nc);
        if (!hs) return SIZE_MAX;
        g->hash = hs, g->cap = nc;
    }
    if (2 * (g->n + 1) > g->nslot) { /* rehash at half full */
        size_t ns = g->nslot ? g->nslot * 2 : 32;
        size_t *sl = ND_ALLOC_N(size_t, ns);
        if (!sl) return SIZE_MAX;
        for (size_t x = 0; x < g->n; x++) {
            size_t s = g->hash[x] & (ns - 1);
            while (sl[s]) s = (s + 1) & (ns - 1);
            sl[s] = x + 1;
        }
        if (g->slot) ND_FREE_N(g->slot, g->nslot);
        g->slot = sl, g->nslot = ns;
    }
    size_t x = g->n++, s = h & (g->nslot - 1);
    while (g->slot[s]) s = (s + 1) & (g->nslot - 1);
    g->slot[s] = x + 1;
    g->hash[x] = h;
    memcpy(&g->vals[x * g->w], k, g->nk * sizeof *k);
    memset(&g->vals[x * g->w + g->nk], 0, (g->w - g->nk) * sizeof *k);
    *added = true;
    return x;
}

__extension__ typedef __int128 i128;

/* One aggregate of one group.  Integer sums are exact (128 bits); float sums are
 * compensated (Neumaier) and taken in index order. */
typedef struct acc {
    int64_t n;          /* values that are not NULL (rows, for count(*)) */
    int64_t nnum, nstr; /* sum, avg: numbers taken, strings skipped */
    i128 isum;
    double fsum, fcomp;
    bool anyf;
    val best; /* min, max */
} acc;

static void acc_add(acc *a, int fn, const val *v)
{
    if (fn == A_COUNT_STAR) {
        a->n++;
        return;
    }
    if (v->t == ND_CAT_NULL) return;
    a->n++;
    if (fn == A_MIN || fn == A_MAX) {
        int c = a->n == 1 ? 0 : total_cmp(v, &a->best);
        if (a->n == 1 || (fn == A_MIN ? c < 0 : c > 0)) a->best = *v;
    } else if (fn == A_SUM || fn == A_AVG) {
        if (v->t == ND_CAT_CINT) {
            a->isum += v->i;
            a->nnum++;
        } else if (v->t == ND_CAT_CFLOAT) {
            double t = a->fsum + v->f;
            a->fcomp += fabs(a->fsum) >= fabs(v->f) ? (a->fsum - t) + v->f : (v->f - t) + a->fsum;
            a->fsum = t;
            a->anyf = true;
            a->nnum++;
        } else {
            a->nstr++;
        }
    }
}

static nd_status grow_accs(acc **accs, size_t *cap, size_t n)
{
    acc *t = ND_REALLOC_N(acc, *accs, *cap, n);
    if (!t) return ND_ENOMEM;
    memset(t + *cap, 0, (n - *cap) * sizeof *t);
    *accs = t, *cap = n;
    return ND_OK;
}

static val acc_val(const acc *a, int fn)
{
    val v = {.t = ND_CAT_NULL};
    if (fn == A_COUNT_STAR || fn == A_COUNT) {
        v.t = ND_CAT_CINT, v.i = a->n;
    } else if (fn == A_MIN || fn == A_MAX) {
        if (a->n) v = a->best;
    } else if (a->nnum) {
        if (fn == A_SUM && !a->anyf && a->isum >= INT64_MIN && a->isum <= INT64_MAX) {
            v.t = ND_CAT_CINT, v.i = (int64_t)a->isum;
        } else {
            double f = isfinite(a->fsum) ? a->fsum + a->fcomp : a->fsum;
            double tot = a->anyf ? (double)a->isum + f : (double)a->isum;
            v.t = ND_CAT_CFLOAT, v.f = fn == A_AVG ? tot / (double)a->nnum : tot;
        }
    }
    return v;
}

/* Sorts group indices by values at the given slots (merge sort, like msort). */
typedef struct gsort_ctx {
    const val *vals;
    size_t w, nkeys;
    const size_t *slot;
    const bool *desc;
} gsort_ctx;

static int cmp_groups(const gsort_ctx *c, size_t x, size_t y)
{
    for (size_t k = 0; k < c->nkeys; k++) {
        int r = total_cmp(&c->vals[x * c->w + c->slot[k]], &c->vals[y * c->w + c->slot[k]]);
        if (r) return c->desc[k] ? -r : r;
    }
    return (x > y) - (x < y);
}

static void gsort(size_t *a, size_t *tmp, size_t n, const gsort_ctx *c)
{
    if (n < 2) return;
    size_t h = n / 2;
    gsort(a, tmp, h, c);
    gsort(a + h, tmp, n - h, c);
    if (cmp_groups(c, a[h - 1], a[h]) <= 0) return;
    memcpy(tmp, a, n * sizeof *a);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) a[k++] = cmp_groups(c, tmp[j], tmp[i]) < 0 ? tmp[j++] : tmp[i++];
    while (i < h) a[k++] = tmp[i++];
    while (j < n) a[k++] = tmp[j++];
}

/* out := the SELECT list of groups gi[0..n) (strings copied). */
static nd_status group_cells(const nd_mql_query *q, const gtable *g, const size_t *gi, size_t n,
                             nd_cat_rows *out)
{
    size_t nc = q->nsel;
    out->ncols = nc;
    out->colnames = ND_ALLOC_N(char *, one_or(nc));
    out->cells = ND_ALLOC_N(nd_cat_cell, one_or(n * nc));
    if (!out->colnames || !out->cells) return ND_ENOMEM;
    out->nrows = n;
    for (size_t c = 0; c < nc; c++) {
        char buf[300];
        colref_name(&q->sel[c], buf, sizeof buf);
        out->colnames[c] = nd_strdup(q->sel[c].alias ? q->sel[c].alias : buf);
        if (!out->colnames[c]) return ND_ENOMEM;
    }
    nd_strbuf heap;
    nd_sb_init(&heap);
    nd_status st = ND_OK;
    for (size_t i = 0; st == ND_OK && i < n; i++)
        for (size_t c = 0; st == ND_OK && c < nc; c++) {
            const val *v = &g->vals[gi[i] * g->w + (size_t)q->sel[c].slot];
            nd_cat_cell *cell = &out->cells[i * nc + c];
            cell->type = v->t, cell->i = v->i, cell->f = v->f, cell->s = NULL;
            if (v->t == ND_CAT_CSTR) {
                cell->i = (int64_t)heap.len;
                st = nd_sb_append(&heap, v->s, v->len);
                if (st == ND_OK) st = nd_sb_putc(&heap, '\0');
            }
        }
    if (st == ND_OK) {
        out->heap = heap.data;
        out->heap_len = heap.cap;
        heap.data = NULL;
        fix_strings(out);
    }
    nd_sb_free(&heap);
    return st;
}

/* A grouped query: rows are folded into groups by their GROUP BY keys (one group when
 * there are none) in one pass, the aggregates accumulated in index order; then HAVING,
 * ORDER BY (ties, and queries without it, by the keys ascending), DISTINCT, LIMIT. */
static nd_status exec_grouped(const ectx *x, const bool *keep, nd_cat_rows *out, nd_strbuf *w)
{
    const nd_mql_query *q = x->q;
    const nd_cat_index *ix = x->ix;
    size_t nk = q->ngroup, na = q->naggs;
    gtable g = {.nk = nk, .w = nk + na};
    acc *accs = NULL;
    size_t capacc = 0, *gi = NULL, *tmp = NULL, *slot = NULL, nkeys = q->norder + nk;
    bool *desc = NULL;
    nd_status st = ND_OK;
    val *k = ND_ALLOC_N(val, one_or(nk));
    if (!k) return ND_ENOMEM;
    bool added;
    for (size_t i = 0; st == ND_OK && i < ix->nrows; i++) {
        if (keep && !keep[i]) continue;
        const nd_cat_row *r = &ix->rows[i];
        if (q->where >= 0 && eval(x, q->where, r) != T) continue;
        for (size_t j = 0; j < nk; j++) k[j] = get(ix, r, &q->group[j]);
        size_t gx = gt_find(&g, k, &added);
        if (gx == SIZE_MAX) {
            st = ND_ENOMEM;
            break;
        }
        if (!added) /* the key shown is the first of equal numbers in total_cmp's order */
            for (size_t j = 0; j < nk; j++)
                if (is_num(&k[j]) && total_cmp(&k[j], &g.vals[gx * g.w + j]) < 0) g.vals[gx * g.w + j] = k[j];
        if (g.cap * na > capacc && (st = grow_accs(&accs, &capacc, g.cap * na)) != ND_OK) break;
        for (size_t a = 0; a < na; a++) {
            const colref *c = &q->aggs[a];
            val v = {.t = ND_CAT_NULL};
            if (c->agg != A_COUNT_STAR) v = get(ix, r, c);
            acc_add(&accs[gx * na + a], c->agg, &v);
        }
    }
    if (st == ND_OK && nk == 0 && g.n == 0) { /* an aggregate over no rows: one row */
        if (gt_find(&g, k, &added) == SIZE_MAX) st = ND_ENOMEM;
        if (st == ND_OK && g.cap * na > capacc) st = grow_accs(&accs, &capacc, g.cap * na);
    }
    ND_FREE_N(k, one_or(nk));
    for (size_t a = 0; st == ND_OK && a < na; a++) {
        int64_t skipped = 0;
        for (size_t gx = 0; gx < g.n; gx++) {
            g.vals[gx * g.w + nk + a] = acc_val(&accs[gx * na + a], q->aggs[a].agg);
            skipped += accs[gx * na + a].nstr;
        }
        if (skipped) {
            char name[300];
            colref_name(&q->aggs[a], name, sizeof name);
            st = nd_sb_printf(w, "mql: warning: %s skipped %" PRId64 " string value%s\n", name, skipped,
                              skipped == 1 ? "" : "s");
        }
    }
    if (accs) ND_FREE_N(accs, capacc);

    /* HAVING, then the order. */
    size_t n = 0;
    if (st == ND_OK) {
        gi = ND_ALLOC_N(size_t, one_or(g.n));
        tmp = ND_ALLOC_N(size_t, one_or(g.n));
        slot = ND_ALLOC_N(size_t, one_or(nkeys));
        desc = ND_ALLOC_N(bool, one_or(nkeys));
        if (!gi || !tmp || !slot || !desc) st = ND_ENOMEM;
    }
    for (size_t gx = 0; st == ND_OK && gx < g.n; gx++) {
        ectx hx = {q, ix, &g.vals[gx * g.w], NULL};
        if (q->having < 0 || eval(&hx, q->having, NULL) == T) gi[n++] = gx;
    }
    if (st == ND_OK) {
        for (size_t j = 0; j < q->norder; j++) slot[j] = (size_t)q->order[j].c.slot, desc[j] = q->order[j].desc;
        for (size_t j = 0; j < nk; j++) slot[q->norder + j] = j, desc[q->norder + j] = false;
        gsort_ctx sc = {g.vals, g.w, nkeys, slot, desc};
        gsort(gi, tmp, n, &sc);
    }
    /* DISTINCT over grouped rows: the first of equal SELECT lists, in that order. */
    if (st == ND_OK && q->dedup) {
        gtable d = {.nk = q->nsel, .w = q->nsel};
        val *sv = ND_ALLOC_N(val, one_or(q->nsel));
        size_t m = 0;
        if (!sv) st = ND_ENOMEM;
        for (size_t i = 0; st == ND_OK && i < n; i++) {
            for (size_t c = 0; c < q->nsel; c++) sv[c] = g.vals[gi[i] * g.w + (size_t)q->sel[c].slot];
            if (gt_find(&d, sv, &added) == SIZE_MAX) st = ND_ENOMEM;
            else if (added) gi[m++] = gi[i];
        }
        n = m;
        if (sv) ND_FREE_N(sv, one_or(q->nsel));
        gt_free(&d);
    }
    if (st == ND_OK && q->limit >= 0 && (uint64_t)q->limit < n) n = (size_t)q->limit;
    if (st == ND_OK) st = group_cells(q, &g, gi, n, out);
    if (gi) ND_FREE_N(gi, one_or(g.n));
    if (tmp) ND_FREE_N(tmp, one_or(g.n));
    if (slot) ND_FREE_N(slot, one_or(nkeys));
    if (desc) ND_FREE_N(desc, one_or(nkeys));
    gt_free(&g);
    return st;
}

/* One warning per tag (or parameter) and type that some row met as the other type than
 * the literals it was compared with; the count is over every row queried (results or
 * latest), not only those that reached the comparison. */
static nd_status warn_mismatches(const ectx *x, const bool *keep, nd_strbuf *w)
{
    const nd_mql_query *q = x->q;
    const nd_cat_index *ix = x->ix;
    nd_status st = ND_OK;
    for (size_t e = 0; x->mism && st == ND_OK && e < q->nnodes; e++) {
        if (!x->mism[e]) continue;
        const node *nd = &q->nodes[e];
        const colref *c = nd->l.is_col ? &nd->l.c : &nd->r.c;
        bool dup = false;
        for (size_t f = 0; f < e && !dup; f++) {
            const node *m = &q->nodes[f];
            dup = x->mism[f] && m->litclass == nd->litclass && same_col(m->l.is_col ? &m->l.c : &m->r.c, c);
        }
        if (dup) continue;
        char other = nd->litclass == 'n' ? 's' : 'n', name[300];
        size_t count = 0;
        for (size_t i = 0; i < ix->nrows; i++) {
            if (keep && !keep[i]) continue;
            val v = get(ix, &ix->rows[i], c);
            count += val_class(&v) == other;
        }
        colref_name(c, name, sizeof name);
        st = nd_sb_printf(w, "mql: warning: %s is a %s in %zu row%s, compared with a %s\n", name,
                          other == 'n' ? "number" : "string", count, count == 1 ? "" : "s",
                          other == 'n' ? "string" : "number");
    }
    return st;
}

nd_status nd_mql_exec(const nd_mql_query *q, const nd_cat_index *ix, nd_cat_rows *out)
{
    memset(out, 0, sizeof *out);
    nd_status st = ND_OK;
    size_t n = ix->nrows;
    bool *keep = NULL, *mism = NULL;
    if (q->latest) {
        keep = ND_ALLOC_N(bool, one_or(n));
        if (!keep) return ND_ENOMEM;
        st = latest_mask(ix, keep);
    }
    bool tracked = false;
    for (size_t e = 0; e < q->nnodes; e++) tracked |= q->nodes[e].litclass != 0;
    if (st == ND_OK && tracked && !(mism = ND_ALLOC_N(bool, q->nnodes))) st = ND_ENOMEM;
    ectx x = {q, ix, NULL, mism};
    nd_strbuf w;
    nd_sb_init(&w);
    if (st == ND_OK) st = q->grouped ? exec_grouped(&x, keep, out, &w) : exec_rows(&x, keep, out);
    if (st == ND_OK) st = warn_mismatches(&x, keep, &w);
    if (st == ND_OK && w.len && !(out->warnings = nd_strndup(w.data, w.len))) st = ND_ENOMEM;
    nd_sb_free(&w);
    if (keep) ND_FREE_N(keep, one_or(n));
    if (mism) ND_FREE_N(mism, q->nnodes);
    if (st != ND_OK) nd_cat_rows_free(out);
    return st;
}
