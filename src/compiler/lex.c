/* lex.c: the hand-written Noodle lexer (docs/language.md "Lexical").
 * Produces every token, NEWLINE included, in one pass; comments run from `#` to the end
 * of the line.  A number is a float when it has a fraction (`3.5`, never `1.` so that
 * `0..5` stays a range) or an exponent (`1e-6`).  Lexical errors are reported and repaired
 * (the bad text is skipped) so that the parser can report further errors. */
#include "compiler/lex.h"

#include "common/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *word;
    int kind;
} keywords[] = {
    {"let", TK_LET},     {"fn", TK_FN},       {"return", TK_RETURN},
    {"if", TK_IF},       {"else", TK_ELSE},   {"while", TK_WHILE},
    {"for", TK_FOR},     {"in", TK_IN},       {"break", TK_BREAK},
    {"continue", TK_CONTINUE}, {"and", TK_AND}, {"or", TK_OR},
    {"not", TK_NOT},     {"true", TK_TRUE},   {"false", TK_FALSE},
    {"nil", TK_NIL},
};

static const char *const kind_names[TK_NUM_KINDS] = {
    [TK_EOF] = "end of file", [TK_NEWLINE] = "end of line", [TK_SEMI] = "';'",
    [TK_IDENT] = "a name", [TK_INT] = "a number", [TK_FLOAT] = "a number",
    [TK_STRING] = "a string", [TK_LET] = "'let'", [TK_FN] = "'fn'",
    [TK_RETURN] = "'return'", [TK_IF] = "'if'", [TK_ELSE] = "'else'",
    [TK_WHILE] = "'while'", [TK_FOR] = "'for'", [TK_IN] = "'in'", [TK_BREAK] = "'break'",
    [TK_CONTINUE] = "'continue'", [TK_AND] = "'and'", [TK_OR] = "'or'", [TK_NOT] = "'not'",
    [TK_TRUE] = "'true'", [TK_FALSE] = "'false'", [TK_NIL] = "'nil'",
    [TK_LPAREN] = "'('", [TK_RPAREN] = "')'", [TK_LBRACK] = "'['", [TK_RBRACK] = "']'",
    [TK_LBRACE] = "'{'", [TK_RBRACE] = "'}'", [TK_COMMA] = "','", [TK_COLON] = "':'",
    [TK_DOT] = "'.'", [TK_DOTDOT] = "'..'", [TK_ASSIGN] = "'='", [TK_PLUS] = "'+'",
    [TK_MINUS] = "'-'", [TK_STAR] = "'*'", [TK_SLASH] = "'/'", [TK_PERCENT] = "'%'",
    [TK_AT] = "'@'", [TK_CARET] = "'^'", [TK_EQ] = "'=='", [TK_NE] = "'!='",
    [TK_LT] = "'<'", [TK_LE] = "'<='", [TK_GT] = "'>'", [TK_GE] = "'>='",
    [TK_SLASHSLASH] = "'//'",
};

const char *nd_lex_kind_name(int kind)
{
    if (kind < 0 || kind >= TK_NUM_KINDS || !kind_names[kind]) return "a token";
    return kind_names[kind];
}

typedef struct lexer {
    nd_cctx *cx;
    const char *s;
    size_t len, pos;
    int line;
    size_t line_start;
    nd_tokens *out;
} lexer;

static int at(const lexer *L, size_t k)
{
    return L->pos + k < L->len ? (unsigned char)L->s[L->pos + k] : -1;
}

static bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }

static nd_token *push(lexer *L, int kind, size_t start, int col)
{
    nd_tokens *t = L->out;
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 256;
        nd_token *nv = ND_REALLOC_N(nd_token, t->v, t->cap, ncap);
        if (!nv) return NULL;
        t->v = nv;
        t->cap = ncap;
    }
    nd_token *tk = &t->v[t->n++];
    memset(tk, 0, sizeof *tk);
    tk->kind = (uint8_t)kind;
    tk->line = L->line;
    tk->col = col;
    tk->start = L->s + start;
    tk->len = (uint32_t)(L->pos - start);
    return tk;
}

/* number: digits ['.' digit digits] [('e'|'E') ['+'|'-'] digit digits] */
static nd_status lex_number(lexer *L, int col)
{
    size_t start = L->pos;
    bool isfloat = false;
    while (is_digit(at(L, 0))) L->pos++;
    if (at(L, 0) == '.' && is_digit(at(L, 1))) {
        isfloat = true;
        L->pos++;
        while (is_digit(at(L, 0))) L->pos++;
    }
    if ((at(L, 0) == 'e' || at(L, 0) == 'E') &&
        (is_digit(at(L, 1)) || ((at(L, 1) == '+' || at(L, 1) == '-') && is_digit(at(L, 2))))) {
        isfloat = true;
        L->pos += 2;
        while (is_digit(at(L, 0))) L->pos++;
    }
    nd_token *tk = push(L, isfloat ? TK_FLOAT : TK_INT, start, col);
    if (!tk) return ND_ENOMEM;
    if (isfloat) {
        char *text = nd_arena_strndup(&L->cx->arena, L->s + start, L->pos - start);
        if (!text) return ND_ENOMEM;
        tk->fval = strtod(text, NULL);
    } else {
        uint64_t v = 0;
        bool over = false;
        for (size_t k = start; k < L->pos; k++) {
            unsigned d = (unsigned)(L->s[k] - '0');
            if (v > (UINT64_C(9223372036854775807) - d) / 10) over = true;
            else v = v * 10 + d;
        }
        if (over)
            nd_diag_error(L->cx, tk->line, col, "integer literal %.*s is too large (the largest is 9223372036854775807)",
                          (int)(L->pos - start), L->s + start);
        tk->ival = over ? 0 : (int64_t)v;
    }
    return ND_OK;
}

/* string: '"' { char | '\' ('n'|'t'|'"'|'\') } '"' on one line */
static nd_status lex_string(lexer *L, int col)
{
    size_t start = L->pos;
    int line = L->line;
    L->pos++;
    /* the decoded text is never longer than the source text up to the closing quote (not
     * the rest of the line: many strings on one line would cost quadratic memory) */
    size_t cap = 0;
    for (size_t p = L->pos; p < L->len && L->s[p] != '\n' && L->s[p] != '"'; p++, cap++)
        if (L->s[p] == '\\' && p + 1 < L->len && L->s[p + 1] != '\n') p++;
    char *buf = nd_arena_alloc(&L->cx->arena, cap + 1);
    if (!buf) return ND_ENOMEM;
    size_t n = 0;
    bool closed = false;
    while (L->pos < L->len && L->s[L->pos] != '\n') {
        char c = L->s[L->pos];
        if (c == '"') {
            closed = true;
            L->pos++;
            break;
        }
        if (c == '\\') {
            int e = at(L, 1);
            char d = e == 'n' ? '\n' : e == 't' ? '\t' : e == '"' ? '"' : e == '\\' ? '\\' : 0;
            if (!d) {
                int ecol = col + (int)(L->pos - start);
                if (e < 0 || e == '\n')
                    nd_diag_error(L->cx, line, ecol, "unfinished escape at the end of the line");
                else
                    nd_diag_error(L->cx, line, ecol,
                                  "invalid escape '\\%c' in a string (use \\n \\t \\\" \\\\)", e);
                L->pos += (e < 0 || e == '\n') ? 1 : 2;
                continue;
            }
            buf[n++] = d;
            L->pos += 2;
            continue;
        }
        buf[n++] = c;
        L->pos++;
    }
    if (!closed) nd_diag_error(L->cx, line, col, "unterminated string");
    nd_token *tk = push(L, TK_STRING, start, col);
    if (!tk) return ND_ENOMEM;
    buf[n] = '\0';
    tk->sval = buf;
    tk->slen = (uint32_t)n;
    return ND_OK;
}

static int two_char(int c, int d)
{
    if (c == '=' && d == '=') return TK_EQ;
    if (c == '!' && d == '=') return TK_NE;
    if (c == '<' && d == '=') return TK_LE;
    if (c == '>' && d == '=') return TK_GE;
    if (c == '/' && d == '/') return TK_SLASHSLASH;
    if (c == '.' && d == '.') return TK_DOTDOT;
    return -1;
}

static int one_char(int c)
{
    switch (c) {
    case ';': return TK_SEMI;
    case '(': return TK_LPAREN;
    case ')': return TK_RPAREN;
    case '[': return TK_LBRACK;
    case ']': return TK_RBRACK;
    case '{': return TK_LBRACE;
    case '}': return TK_RBRACE;
    case ',': return TK_COMMA;
    case ':': return TK_COLON;
    case '.': return TK_DOT;
    case '=': return TK_ASSIGN;
    case '+': return TK_PLUS;
    case '-': return TK_MINUS;
    case '*': return TK_STAR;
    case '/': return TK_SLASH;
    case '%': return TK_PERCENT;
    case '@': return TK_AT;
    case '^': return TK_CARET;
    case '<': return TK_LT;
    case '>': return TK_GT;
    default: return -1;
    }
}

nd_status nd_lex_all(nd_cctx *cx, nd_tokens *out)
{
    lexer L = {.cx = cx, .s = cx->src, .len = cx->len, .line = 1, .out = out};
    memset(out, 0, sizeof *out);
    while (L.pos < L.len) {
        if (cx->too_many) break;
        int c = at(&L, 0);
        int col = (int)(L.pos - L.line_start) + 1;
        size_t start = L.pos;
        if (c == '\n') {
            L.pos++;
            if (!push(&L, TK_NEWLINE, start, col)) return ND_ENOMEM;
            L.line++;
            L.line_start = L.pos;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            L.pos++;
        } else if (c == '#') {
            while (L.pos < L.len && L.s[L.pos] != '\n') L.pos++;
        } else if (is_digit(c)) {
            ND_TRY(lex_number(&L, col));
        } else if (c == '"') {
            ND_TRY(lex_string(&L, col));
        } else if (is_alpha(c)) {
            while (is_alpha(at(&L, 0)) || is_digit(at(&L, 0))) L.pos++;
            size_t n = L.pos - start;
            int kind = TK_IDENT;
            for (size_t k = 0; k < ND_ARRAY_LEN(keywords); k++)
                if (strlen(keywords[k].word) == n && memcmp(keywords[k].word, L.s + start, n) == 0)
                    kind = keywords[k].kind;
            nd_token *tk = push(&L, kind, start, col);
            if (!tk) return ND_ENOMEM;
            if (kind == TK_IDENT) {
                tk->sval = nd_arena_strndup(&cx->arena, L.s + start, n);
                if (!tk->sval) return ND_ENOMEM;
                tk->slen = (uint32_t)n;
            }
        } else {
            int kind = two_char(c, at(&L, 1));
            if (kind >= 0) {
                L.pos += 2;
            } else {
                kind = one_char(c);
                L.pos++;
            }
            if (kind < 0) {
                if (c >= 0x20 && c < 0x7f)
                    nd_diag_error(cx, L.line, col, "unexpected character '%c'", c);
                else
                    nd_diag_error(cx, L.line, col, "unexpected byte 0x%02x", (unsigned)c);
                continue;
            }
            if (!push(&L, kind, start, col)) return ND_ENOMEM;
        }
    }
    int col = (int)(L.pos - L.line_start) + 1;
    if (!push(&L, TK_EOF, L.pos, col)) return ND_ENOMEM;
    return ND_OK;
}

void nd_lex_free(nd_tokens *t)
{
    ND_FREE_N(t->v, t->cap);
    t->v = NULL;
    t->n = t->cap = 0;
}
