/* noodle-mpirun: compiles a program once (errors appear before anything is launched),
 * then runs `mpirun -n N noodle-run PROG.nbc ARGS...`, or `srun`: --launcher, else the
 * config key launcher (read as noodle-run reads it, with the --config among ARGS), whose
 * auto is srun inside a Slurm allocation.  Rank-local; it never starts MPI itself. */
#include "ac_config.h"
#include "cli/cli.h"
#include "common/alloc.h"
#include "common/path.h"
#include "common/strbuf.h"
#include "compiler/compiler.h"
#include "config/config.h"
#include "nbc/nbc.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: noodle-mpirun [-n N] [-o PROG.nbc] [--launcher mpirun|srun] [--dry-run]\n"
    "                     PROGRAM.noodle|PROGRAM.nbc [noodle-run options...]\n"
    "\n"
    "Compiles PROGRAM once, then launches N ranks of noodle-run on the bytecode with\n"
    "--launcher, else the config key launcher (NOODLE_LAUNCHER; auto: srun inside a Slurm\n"
    "allocation, mpirun otherwise).  --dry-run prints the command instead (after\n"
    "compiling).\n";

static const nd_cli cli = {.prog = "noodle-mpirun", .usage = usage};

/* The launcher of the config key `launcher`, from the config noodle-run will read (the
 * last --config among its options, else the usual search) and the environment; NULL
 * after printing the error of a bad config. */
static const char *config_launcher(int argc, char **argv, int first)
{
    const char *flag = NULL;
    for (int j = first; j + 1 < argc; j++)
        if (!strcmp(argv[j], "--config")) flag = argv[j + 1];
    nd_cfg cfg;
    nd_status st = nd_cfg_init(&cfg);
    if (st == ND_OK) st = nd_cfg_load(&cfg, flag);
    const char *l = nd_cfg_launcher_resolve(&cfg) == ND_LAUNCHER_SRUN ? "srun" : "mpirun";
    if (st != ND_OK) /* a file error carries its own "FILE:L:C: error:" */
        fprintf(stderr, "%s%s\n",
                strstr(nd_last_error.msg, ": error: ") ? "" : "noodle-mpirun: error: ",
                nd_last_error.msg);
    nd_cfg_free(&cfg);
    return st == ND_OK ? l : NULL;
}

/* noodle-run beside this executable, else the one on PATH. */
static void find_runner(char *out, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        snprintf(out, size, "%s/noodle-run", dirname(self));
        if (access(out, X_OK) == 0) return;
    }
    snprintf(out, size, "noodle-run");
}

int main(int argc, char **argv)
{
    const char *nprocs = NULL, *outpath = NULL, *launcher = NULL, *prog = NULL;
    bool dry = false;
    int k = 1;
    for (; k < argc && !prog; k++) {
        const char *a = argv[k];
        if (nd_cli_help_version(&cli, a)) {
            return ND_EXIT_OK;
        } else if (!strcmp(a, "-n") || !strcmp(a, "-np")) {
            if (k + 1 >= argc) return nd_cli_usage_error(&cli, "-n needs a rank count");
            nprocs = argv[++k];
            char *end;
            long v = strtol(nprocs, &end, 10);
            if (*end || v < 1 || v > 1000000)
                return nd_cli_usage_error(&cli, "bad rank count: %s", nprocs);
        } else if (!strcmp(a, "-o")) {
            if (k + 1 >= argc) return nd_cli_usage_error(&cli, "-o needs a path");
            outpath = argv[++k];
        } else if (!strcmp(a, "--launcher")) {
            if (k + 1 >= argc)
                return nd_cli_usage_error(&cli, "--launcher needs mpirun or srun");
            launcher = argv[++k];
            if (strcmp(launcher, "mpirun") && strcmp(launcher, "srun"))
                return nd_cli_usage_error(&cli, "--launcher must be mpirun or srun, not %s",
                                          launcher);
        } else if (!strcmp(a, "--dry-run")) {
            dry = true;
        } else if (a[0] == '-') {
            return nd_cli_usage_error(&cli, "unknown option %s", a);
        } else {
            prog = a;
        }
    }
    if (!prog) return nd_cli_usage_error(&cli, "no program given");
    if (!launcher && !(launcher = config_launcher(argc, argv, k))) return ND_EXIT_USAGE;

    /* Compile (or read and verify) once, before launching anything. */
    nd_compile_opts copts = {.opt_level = 1, .diag = stderr};
    nd_program *p = NULL;
    bool compiled = false;
    nd_status st = nd_compile_or_load(prog, &copts, &p, &compiled);
    char nbc[PATH_MAX];
    snprintf(nbc, sizeof nbc, "%s", prog);
    if (st == ND_OK && compiled) {
        char *def = outpath ? NULL : nd_path_nbc_for(prog);
        if (outpath || def) {
            snprintf(nbc, sizeof nbc, "%s", outpath ? outpath : def);
            st = nd_nbc_write_file(p, nbc);
        } else {
            st = ND_ENOMEM;
        }
        nd_strfree(def);
    }
    nd_program_free(p);
    if (st != ND_OK) {
        if (st != ND_EPROG) /* compile errors were printed with positions */
            fprintf(stderr, "noodle-mpirun: error: %s\n", nd_last_error.msg);
        return nd_status_exit_code(st);
    }

    char runner[PATH_MAX];
    find_runner(runner, sizeof runner);
    int extra = argc - k;
    char **av = ND_ALLOC_N(char *, (size_t)extra + 8);
    if (!av) return ND_EXIT_PROGRAM;
    int n = 0;
    av[n++] = (char *)launcher;
    if (nprocs) {
        av[n++] = "-n";
        av[n++] = (char *)nprocs;
    }
    av[n++] = runner;
    av[n++] = nbc;
    for (int j = k; j < argc; j++) av[n++] = argv[j];
    av[n] = NULL;
    int rc = ND_EXIT_OK;
    if (dry) {
        for (int j = 0; j < n; j++) printf("%s%s", j ? " " : "", av[j]);
        printf("\n");
    } else {
        fflush(stdout);
        execvp(launcher, av);
        fprintf(stderr, "noodle-mpirun: error: cannot run %s: %s\n", launcher, strerror(errno));
        rc = ND_EXIT_USAGE;
    }
    ND_FREE_N(av, (size_t)extra + 8);
    return rc;
}
