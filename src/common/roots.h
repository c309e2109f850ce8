/* roots.h: confined file access (io.roots; docs/security.md "Confined file access").
 * A set of root directories, held by their canonical names (realpath), and the check
 * that a path names something inside one of them once every `..` and symbolic link in
 * it is resolved, also when its last components do not exist yet.  Every function is
 * Rank-local and pure apart from reading the filesystem: noodle-run decides on rank 0
 * and agrees (job.c, vm/builtins_io.c). */
#ifndef ND_COMMON_ROOTS_H
#define ND_COMMON_ROOTS_H

#include "common/nd.h"
#include "common/strbuf.h"

#include <stddef.h>

/* Room for a canonical name (PATH_MAX on Linux). */
#define ND_ROOTS_PATH_MAX 4096

typedef struct nd_roots {
    bool on;      /* confinement is on: the same on every rank (from the config) */
    size_t n;     /* the roots below: filled on the rank that checks (rank 0) */
    char **dir;   /* canonical absolute names, nd_malloc'd */
    nd_strbuf shown; /* the roots as given, ':'-joined, for messages */
} nd_roots;

void nd_roots_init(nd_roots *r);
void nd_roots_free(nd_roots *r);

/* Adds dir (relative: to the working directory).  must_exist: a missing dir is
 * ND_EUSAGE "io.roots: 'DIR' does not exist" (another failure, or not a directory, is
 * ND_EUSAGE too); otherwise a missing dir counts by the name it will have once created
 * (its nearest existing ancestor resolved), so a directory made later is covered. */
nd_status nd_roots_add(nd_roots *r, const char *dir, bool must_exist);

/* Adds every entry of list (':'-separated, empty entries skipped; each must exist) and
 * turns r on.  A list without any directory is ND_EUSAGE. */
nd_status nd_roots_parse(nd_roots *r, const char *list);

/* The roots of a run: list (io.roots) when it is non-empty (NULL counts as empty);
 * else, with require_signed, the defaults: the working directory, ckpt_dir and
 * catalog_dir (either may be NULL or not exist yet; nothing is created); else off. */
nd_status nd_roots_setup(nd_roots *r, const char *list, bool require_signed,
                         const char *ckpt_dir, const char *catalog_dir);

/* canon := the canonical name path has, or will have once created: the realpath of its
 * longest existing prefix, the missing rest applied by name ('..' there undoes the
 * component before it), a dangling symbolic link followed to its target.  Relative
 * paths are taken from the working directory.  Returns 0 or an errno value
 * (ENAMETOOLONG, ELOOP, EACCES, ENOTDIR, ...). */
int nd_roots_resolve(const char *path, char canon[ND_ROOTS_PATH_MAX]);

/* ND_OK when r is off (canon untouched), or when path, resolved as above, is one of the
 * roots or below one; then canon (when not NULL, ND_ROOTS_PATH_MAX bytes) holds the name
 * that was checked, the one to open.  Otherwise ND_EPROG: "'PATH' is outside io.roots
 * (ROOTS)", or "'PATH' cannot be checked against io.roots (ROOTS): WHY" when it cannot be
 * resolved; callers prefix the builtin's name. */
nd_status nd_roots_check(const nd_roots *r, const char *path, char *canon);

#endif
