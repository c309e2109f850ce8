/* parse.h: the recursive-descent parser (grammar in docs/language.md).  Builds the syntax
 * tree in the context's arena.  Syntax errors are reported at the first token that cannot
 * be parsed; the parser then resynchronizes at the next statement boundary and goes on. */
#ifndef ND_COMPILER_PARSE_H
#define ND_COMPILER_PARSE_H

#include "compiler/ast.h"
#include "compiler/lex.h"

/* Parses the token array into out.  Returns ND_OK even when syntax errors were reported
 * (cx->nerrors says so); ND_ENOMEM on allocation failure. */
nd_status nd_parse_program(nd_cctx *cx, const nd_tokens *toks, nd_ast *out);

#endif
