/* cli.c: --help, --version and usage errors for the programs in src/cli (cli.h). */
#include "ac_config.h"
#include "cli/cli.h"

#include <stdarg.h>
#include <string.h>

void nd_cli_usage(const nd_cli *c, FILE *out)
{
    if (c->quiet) return;
    if (c->put_usage)
        c->put_usage(out);
    else
        fputs(c->usage, out);
}

bool nd_cli_help_version(const nd_cli *c, const char *arg)
{
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        nd_cli_usage(c, stdout);
        return true;
    }
    if (strcmp(arg, "--version") != 0) return false;
    if (c->quiet) return true;
    printf("%s (noodle) %s\n", c->prog, PACKAGE_VERSION);
    return true;
}

int nd_cli_usage_error(const nd_cli *c, const char *fmt, ...)
{
    if (c->quiet) return ND_EXIT_USAGE;
    fprintf(stderr, "%s: error: ", c->prog);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    nd_cli_usage(c, stderr);
    fflush(stderr);
    return ND_EXIT_USAGE;
}
