/* cli.h: what every program in src/cli shares: --help/-h and --version, and the usage
 * error ("PROG: error: MESSAGE" then the usage text on stderr, exit status 2).
 * Depends on nothing but common/, so that noodle-mql links it without MPI or HDF5.
 * Exit statuses: shared/DESIGN.md "Programs"; each program's man page.
 */
#ifndef ND_CLI_H
#define ND_CLI_H

#include "common/nd.h"

#include <stdio.h>

typedef struct nd_cli {
    const char *prog;             /* "noodlec": prefix of messages and of --version */
    const char *usage;            /* the usage text, or NULL with put_usage */
    void (*put_usage)(FILE *out); /* writes a usage text built at run time */
    bool quiet;                   /* print nothing (noodle-run: ranks other than 0) */
} nd_cli;

/* Rank-local.  Handles --help/-h (usage on stdout) and --version ("PROG (noodle) X.Y"):
 * returns true when `arg` was one of them (the program then exits 0), false otherwise. */
bool nd_cli_help_version(const nd_cli *c, const char *arg);
/* Rank-local.  Writes the usage text to out. */
void nd_cli_usage(const nd_cli *c, FILE *out);
/* Rank-local.  Writes "PROG: error: <fmt ...>" and the usage text to stderr; returns
 * ND_EXIT_USAGE. */
int nd_cli_usage_error(const nd_cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
