/* noodle.h: the embedding API of libnoodle (installed; everything else is internal).
 * A C program can compile Noodle sources to verified bytecode files without MPI, and
 * query the library's version.  Running programs happens through noodle-run under
 * mpirun (docs/).  Rank-local; not thread-safe. */
#ifndef NOODLE_NOODLE_H
#define NOODLE_NOODLE_H

#ifdef __cplusplus
extern "C" {
#endif

/* The library version, e.g. "0.1.0". */
const char *nd_version(void);

/* Compiles the source file `src` to the bytecode file `out` (opt_level 0 or 1).
 * Diagnostics go to standard error.  Returns the documented exit code: 0 ok, 1 compile
 * error, 2 unreadable file, 3 output could not be written. */
int noodle_compile_file(const char *src, const char *out, int opt_level);

#ifdef __cplusplus
}
#endif

#endif
