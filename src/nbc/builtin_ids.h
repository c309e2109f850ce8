/* builtin_ids.h: the builtin registry (builtins.def) as the bytecode sees it: ids, names,
 * arities and flags, for the compiler (name resolution, arity, folding), the verifier
 * and disassembler (src/nbc) and the VM (dispatch, src/vm/builtins.c).  A builtin id is
 * stored in bytecode (CALLB, LOADBI), so the registry is a bytecode fact, like
 * noodle/opcodes.def: it lives in src/nbc, below the compiler and the VM.
 *
 * Expanding builtins.def: the table below is the one expansion that names every field;
 * the others take `BUILTIN(id, ...)`, so that a field added to the registry (a
 * signature, a line of help) touches only builtins.def, nd_builtin_info and its table.
 */
#ifndef ND_BUILTIN_IDS_H
#define ND_BUILTIN_IDS_H

#define ND_BIF_PURE 1
#define ND_BIF_COLLECTIVE 2

typedef enum nd_builtin_id {
#define BUILTIN(id, ...) ND_BI_##id,
#include "nbc/builtins.def"
#undef BUILTIN
    ND_NBUILTINS
} nd_builtin_id;

/* One entry of builtins.def, field for field. */
typedef struct nd_builtin_info {
    const char *name;
    int min_args, max_args;
    int flags;                /* ND_BIF_* */
} nd_builtin_info;

/* Indexed by id.  Defined in src/nbc/builtin_ids.c. */
extern const nd_builtin_info nd_builtin_table[ND_NBUILTINS];
/* Rank-local.  Returns the id of the builtin called name, or -1. */
int nd_builtin_lookup(const char *name);

#endif
