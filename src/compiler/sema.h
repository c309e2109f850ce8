/* sema.h: name resolution and compile-time checks (docs/language.md "Scoping", "Compile
 * errors").  Annotates the tree: every name gets its resolution (local variable, global
 * slot, builtin, or the enclosing function itself), every declaration its variable or
 * global slot, and every expression whose value is known at compile time its constant. */
#ifndef ND_COMPILER_SEMA_H
#define ND_COMPILER_SEMA_H

#include "compiler/ast.h"

/* Resolves and checks the whole program; errors go through nd_diag_error.  Returns
 * ND_ENOMEM on allocation failure only. */
nd_status nd_sema_check(nd_cctx *cx, nd_ast *ast);

#endif
