/* opt.h: the optimizer.  Constant evaluation (used by sema to annotate every expression
 * whose value is known, and to find type errors between constants) follows the run-time
 * semantics of LANGUAGE.md exactly; anything that would fail at run time (int overflow,
 * int % 0, a conversion out of range) is left unfolded.  The bytecode passes (peephole,
 * jump threading, unreachable-code removal) run on each finished function at -O1. */
#ifndef ND_COMPILER_OPT_H
#define ND_COMPILER_OPT_H

#include "compiler/ast.h"
#include "noodle/bytecode.h"

typedef enum nd_fold_result { FOLD_NONE = 0, FOLD_OK, FOLD_TYPE } nd_fold_result;

/* True for a constant that a condition treats as true (anything but nil and false). */
bool nd_opt_truthy(const nd_cval *v);
/* A short type name for messages: "nil", "bool", "int", "float", "str". */
const char *nd_opt_type_name(const nd_cval *v);
/* Folds `a op b` (op: a binary operator token kind).  FOLD_TYPE: certain to fail at run
 * time with a type error.  New strings go to the arena. */
nd_fold_result nd_opt_fold_binary(nd_arena *ar, int op, const nd_cval *a, const nd_cval *b,
                                  nd_cval *out);
/* Folds `-a` (neg) or `not a`. */
nd_fold_result nd_opt_fold_unary(int kind, const nd_cval *a, nd_cval *out);
/* Folds a pure builtin (abs sqrt exp log sin cos tanh int float floor ceil round len str)
 * on constant arguments; FOLD_NONE for anything else. */
nd_fold_result nd_opt_fold_builtin(nd_arena *ar, int id, const nd_cval *args, int nargs,
                                   nd_cval *out);

/* Per-instruction flag set by gen: a MOVE R[A] := R[B] whose source is a temporary that
 * nothing reads afterwards (the instruction that computed it may write R[A] directly). */
#define ND_GEN_DEADTMP 1u

/* True for the compare-and-branch opcodes (JLT .. JGEK), whose jump offset is the
 * unsigned 16-bit field C. */
bool nd_opt_is_cjump(int op);

/* Runs the bytecode passes on one function.  flags has f->ncode entries (ND_GEN_*) and is
 * compacted along with the code.  Returns ND_ENOMEM on allocation failure only. */
nd_status nd_opt_function(nd_func *f, uint8_t *flags);

#endif
