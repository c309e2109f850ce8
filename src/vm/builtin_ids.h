/* builtin_ids.h: builtin ids and static facts from builtins.def, for the compiler and
 * the verifier.  The implementations and dispatch live in the VM (builtins.h). */
#ifndef ND_BUILTIN_IDS_H
#define ND_BUILTIN_IDS_H

#define ND_BIF_PURE 1
#define ND_BIF_COLLECTIVE 2

typedef enum nd_builtin_id {
#define BUILTIN(id, name, lo, hi, flags) ND_BI_##id,
#include "vm/builtins.def"
#undef BUILTIN
    ND_NBUILTINS
} nd_builtin_id;

typedef struct nd_builtin_info {
    const char *name;
    int min_args, max_args;
    int flags;
} nd_builtin_info;

/* Indexed by id.  Defined in src/vm/builtin_ids.c. */
extern const nd_builtin_info nd_builtin_table[ND_NBUILTINS];
/* Returns the id of the builtin called name, or -1. */
int nd_builtin_lookup(const char *name);

#endif
