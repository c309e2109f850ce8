/* lex.h: the Noodle lexer (docs/language.md "Lexical").  The whole source is turned into
 * one token array up front; NEWLINE tokens are always emitted and the parser decides
 * where they are significant (inside ( ), [ ] and map literals they are not).
 * Invariant: the array ends with exactly one TK_EOF; every token has a 1-based line/col. */
#ifndef ND_COMPILER_LEX_H
#define ND_COMPILER_LEX_H

#include "compiler/ast.h"

typedef enum nd_tok_kind {
    TK_EOF, TK_NEWLINE, TK_SEMI,
    TK_IDENT, TK_INT, TK_FLOAT, TK_STRING,
    /* keywords */
    TK_LET, TK_FN, TK_RETURN, TK_IF, TK_ELSE, TK_WHILE, TK_FOR, TK_IN, TK_BREAK,
    TK_CONTINUE, TK_AND, TK_OR, TK_NOT, TK_TRUE, TK_FALSE, TK_NIL,
    /* punctuation */
    TK_LPAREN, TK_RPAREN, TK_LBRACK, TK_RBRACK, TK_LBRACE, TK_RBRACE, TK_COMMA,
    TK_COLON, TK_DOT, TK_DOTDOT, TK_ASSIGN,
    TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH, TK_PERCENT, TK_AT, TK_CARET,
    TK_EQ, TK_NE, TK_LT, TK_LE, TK_GT, TK_GE,
    TK_SLASHSLASH,
    TK_NUM_KINDS
} nd_tok_kind;

typedef struct nd_token {
    uint8_t kind;
    int line, col;
    const char *start; /* into the source */
    uint32_t len;      /* source length of the token */
    uint32_t slen;     /* length of sval */
    union {
        int64_t ival;  /* TK_INT */
        double fval;   /* TK_FLOAT */
        char *sval;    /* TK_STRING (escapes decoded, arena-owned) and TK_IDENT */
    };
} nd_token;

typedef struct nd_tokens {
    nd_token *v;
    size_t n, cap;
} nd_tokens;

/* Tokenizes the whole source of cx.  Lexical errors are reported through nd_diag_error and
 * the offending text is skipped or repaired, so parsing can go on.  Returns ND_ENOMEM on
 * allocation failure only.  The token array is freed with nd_lex_free. */
nd_status nd_lex_all(nd_cctx *cx, nd_tokens *out);
void nd_lex_free(nd_tokens *t);
/* A printable description of a token kind ("'+'", "a name", "end of line"). */
const char *nd_lex_kind_name(int kind);

#endif
