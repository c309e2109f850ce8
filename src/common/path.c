/* path.c: program file names (path.h). */
#include "common/path.h"

#include "common/alloc.h"

#include <string.h>

bool nd_path_ends_with(const char *path, const char *suffix)
{
    size_t n = strlen(path), k = strlen(suffix);
    return n > k && memcmp(path + n - k, suffix, k) == 0;
}

bool nd_path_is_source(const char *path) { return nd_path_ends_with(path, ".noodle"); }

bool nd_path_is_bytecode(const char *path) { return nd_path_ends_with(path, ".nbc"); }

char *nd_path_nbc_for(const char *src)
{
    size_t n = strlen(src) - (nd_path_is_source(src) ? strlen(".noodle") : 0);
    char *out = nd_malloc(n + sizeof ".nbc");
    if (!out) return NULL;
    memcpy(out, src, n);
    memcpy(out + n, ".nbc", sizeof ".nbc");
    return out;
}
