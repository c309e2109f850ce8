/* uniform.h: the uniformity analysis (uniform.c): marks the loops and calls that sit
 * under rank-dependent control, whose safe points the VM must not count
 * (docs/checkpoint.md "Safe points and agreement"). */
#ifndef ND_COMPILER_UNIFORM_H
#define ND_COMPILER_UNIFORM_H

#include "compiler/ast.h"

/* After sema, before gen: sets nd_stmt.local on loops and nd_expr.local on calls.
 * Returns ND_ENOMEM on allocation failure only. */
nd_status nd_uniform_mark(nd_cctx *cx, nd_ast *ast);

#endif
