/* gen.h: code generation from the resolved tree into an nd_program (register machine,
 * instructions from noodle/opcodes.def, docs/bytecode.md).  Runs only on a tree that sema
 * accepted.  At -O1 it uses folded constants, drops statically dead branches and code
 * after return/break/continue, and runs the bytecode passes of opt.c on each function. */
#ifndef ND_COMPILER_GEN_H
#define ND_COMPILER_GEN_H

#include "compiler/ast.h"
#include "noodle/bytecode.h"

/* Builds a new program (arrays sized exactly by their counts, as nd_program_free
 * expects).  ND_ENOMEM on allocation failure; a program too large for the instruction
 * format is reported through nd_diag_error and gives ND_EPROG. */
nd_status nd_gen_program(nd_cctx *cx, const nd_ast *ast, nd_program **out);

#endif
