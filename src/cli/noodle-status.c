/* noodle-status: shows a Slurm job's state, elapsed time, restart count, progress,
 * newest checkpoint and stored results.  `noodle-status JOB_ID|NAME`.
 * Only parses arguments; the work is in src/slurm/status.c (docs/slurm.md).
 */
#include "config.h"
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

int main(int argc, char **argv)
{
    const char *job = NULL;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return ND_EXIT_OK;
        } else if (strcmp(a, "--version") == 0) {
            printf("noodle-status (noodle) %s\n", PACKAGE_VERSION);
            return ND_EXIT_OK;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "noodle-status: error: unknown option '%s'\n%s", a, usage);
            return ND_EXIT_USAGE;
        } else if (job) {
            fprintf(stderr, "noodle-status: error: more than one job given ('%s')\n%s", a,
                    usage);
            return ND_EXIT_USAGE;
        } else {
            job = a;
        }
    }
    if (!job) {
        fprintf(stderr, "noodle-status: error: no job given\n%s", usage);
        return ND_EXIT_USAGE;
    }
    return nd_slurm_status(job, stdout);
}
