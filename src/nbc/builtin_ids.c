/* builtin_ids.c: the builtin registry's table, expanded from builtins.def (the only
 * expansion that names every field; builtin_ids.h says why). */
#include "nbc/builtin_ids.h"

#include <string.h>

const nd_builtin_info nd_builtin_table[ND_NBUILTINS] = {
#define BUILTIN(id, name, lo, hi, flags) {name, lo, hi, flags},
#include "nbc/builtins.def"
#undef BUILTIN
};

int nd_builtin_lookup(const char *name)
{
    for (int i = 0; i < ND_NBUILTINS; i++)
        if (strcmp(nd_builtin_table[i].name, name) == 0) return i;
    return -1;
}
