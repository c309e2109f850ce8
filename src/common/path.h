/* path.h: the names of program files, one rule for every program: source ends in
 * ".noodle", bytecode in ".nbc" (noodlec, noodle-run, noodle-mpirun, noodle-submit and
 * job specs agree on it).  Rank-local. */
#ifndef ND_COMMON_PATH_H
#define ND_COMMON_PATH_H

#include <stdbool.h>

/* Whether path's name is longer than suffix and ends with it. */
bool nd_path_ends_with(const char *path, const char *suffix);
bool nd_path_is_source(const char *path);   /* ends in ".noodle" */
bool nd_path_is_bytecode(const char *path); /* ends in ".nbc" */
/* The bytecode name for a source file: prog.noodle -> prog.nbc; any other name gets
 * ".nbc" appended.  nd_malloc'd (free with nd_strfree); NULL when out of memory. */
char *nd_path_nbc_for(const char *src);

#endif
