/* api.c: the installed embedding API (include/noodle/noodle.h): the only symbols that
 * libnoodle exports besides nd_version. */
#include "noodle/noodle.h"

#include "common/nd.h"
#include "compiler/compiler.h"
#include "nbc/nbc.h"

#include <stdio.h>

ND_API int noodle_compile_file(const char *src, const char *out, int opt_level)
{
    nd_compile_opts opts = {.opt_level = opt_level ? 1 : 0, .diag = stderr};
    nd_program *p = NULL;
    nd_status st = nd_compile_file(src, &opts, &p);
    if (st == ND_OK) {
        st = nd_nbc_write_file(p, out);
        if (st != ND_OK) st = ND_EINVALID;
    }
    nd_program_free(p);
    if (st != ND_OK && st != ND_EPROG) fprintf(stderr, "noodle: error: %s\n", nd_err_msg());
    return nd_status_exit_code(st);
}
