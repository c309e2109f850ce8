/* builtin_ids.c: the static builtin table expanded from builtins.def. */
#include "vm/builtin_ids.h"

#include <string.h>

const nd_builtin_info nd_builtin_table[ND_NBUILTINS] = {
#define BUILTIN(id, name, lo, hi, flags) {name, lo, hi, flags},
#include "vm/builtins.def"
#undef BUILTIN
};

int nd_builtin_lookup(const char *name)
{
    for (int i = 0; i < ND_NBUILTINS; i++)
        if (strcmp(nd_builtin_table[i].name, name) == 0) return i;
    return -1;
}
