/* noodle-status: shows a Slurm job's state, elapsed time, restart count, progress,
 * newest checkpoint and stored results.  `noodle-status JOB_ID|NAME`.
 * Only parses arguments; the work is in src/slurm/status.c (docs/slurm.md).
 */
#include "ac_config.h"
#include "cli/cli.h"
#include "slurm/slurm.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: noodle-status JOB_ID|NAME\n"
    "\n"
    "Shows a job submitted with noodle-submit (or any Slurm job): state, elapsed time,\n"
    "restart count, the last progress lines of its output, its newest checkpoint and the\n"
    "results it stored in the catalog.  NAME picks the newest job of that name; an array\n"
    "job id (or NAME) shows every task.  Uses `scontrol show job`, so a job is known\n"
    "until Slurm forgets it (MinJobAge after it ends).\n"
    "\n"
    "options:\n"
    "  --help       show this help and exit\n"
    "  --version    show the version and exit\n"
    "\n"
    "exit status: 0 ok, 1 unexpected scontrol output, 2 usage error, unknown job or\n"
    "Slurm not reachable\n";

static const nd_cli cli = {.prog = "noodle-status", .usage = usage};

int main(int argc, char **argv)
{
    const char *job = NULL;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        if (nd_cli_help_version(&cli, a)) {
            return ND_EXIT_OK;
        } else if (a[0] == '-' && a[1] != '\0') {
            return nd_cli_usage_error(&cli, "unknown option '%s'", a);
        } else if (job) {
            return nd_cli_usage_error(&cli, "more than one job given ('%s')", a);
        } else {
            job = a;
        }
    }
    if (!job) return nd_cli_usage_error(&cli, "no job given");
    return nd_slurm_status(job, stdout);
}
