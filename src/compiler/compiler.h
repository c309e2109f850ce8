/* compiler.h: the compiler's entry points (lexer, parser, checks, code generation and
 * optimizer live behind them).  Rank-local: noodle-run compiles on rank 0 only.
 * Diagnostics are `path:line:col: error: message`, then the source line and a caret,
 * written to opts->diag; at most 20 errors are reported per run. */
#ifndef ND_COMPILER_H
#define ND_COMPILER_H

#include "common/nd.h"
#include "noodle/bytecode.h"

#include <stdio.h>

typedef struct nd_compile_opts {
    int opt_level;   /* 0: no optimizer passes; 1 (default): all passes */
    FILE *diag;      /* where diagnostics go (stderr when NULL) */
    int max_errors;  /* 0 = the default, 20 */
} nd_compile_opts;

/* Compiles src (len bytes) whose path, as the user gave it, is path.  On success *out
 * is a new program (free with nd_program_free) and ND_OK is returned.  On compile
 * errors the diagnostics have been written, *out is NULL and ND_EPROG is returned;
 * nd_last_error.msg holds the first error. */
nd_status nd_compile(const char *path, const char *src, size_t len,
                     const nd_compile_opts *opts, nd_program **out);
/* Reads and compiles a file; an unreadable file is ND_EUSAGE. */
nd_status nd_compile_file(const char *path, const nd_compile_opts *opts, nd_program **out);
/* The program at path, as noodle-run and noodle-mpirun take it: bytecode
 * (nd_nbc_file_kind) is read and verified, anything else compiled with opts
 * (*compiled, when not NULL, says which).  A file that cannot be opened is ND_EUSAGE
 * "cannot open 'PATH': REASON". */
nd_status nd_compile_or_load(const char *path, const nd_compile_opts *opts, nd_program **out,
                             bool *compiled);

#endif
