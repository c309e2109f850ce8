/* noodle-submit: renders a Slurm batch script from a YAML job spec and submits it.
 * `noodle-submit JOB.yaml [--dry-run] [--param k=v]... [--template FILE]`, and
 * `noodle-submit --task-params JOB.yaml INDEX` (used by array scripts at run time).
 * Only parses arguments; the work is in src/slurm (docs/slurm.md).
 */
#include "ac_config.h"
#include "cli/cli.h"
#include "common/alloc.h"
#include "slurm/slurm.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: noodle-submit JOB.yaml [--dry-run] [--fresh] [--param NAME=VALUE]... [--template FILE]\n"
    "       noodle-submit --task-params JOB.yaml INDEX\n"
    "\n"
    "Checks a job spec (jobs/README.md), compiles its program once, renders a Slurm batch\n"
    "script and submits it with sbatch; prints the job id.  A spec with a sweep becomes a\n"
    "job array, one task per parameter combination (docs/slurm.md).\n"
    "\n"
    "options:\n"
    "  --dry-run              print the batch script and submit nothing\n"
    "  --fresh                run again a job whose checkpoint directory holds a\n"
    "                         completed run: its checkpoints and mark are removed\n"
    "  --param NAME=VALUE     set a fixed program parameter (repeatable; overrides params)\n"
    "  --template FILE        batch script template (default: $NOODLE_SLURM_TEMPLATE, then\n"
    "                         the installed slurm/noodle.sbatch.in)\n"
    "  --config FILE          Noodle config file for the effective settings\n"
    "  --jobs-dir DIR         where scripts and compiled programs go (default .noodle-jobs)\n"
    "  --task-params SPEC I   print the shell assignments of array task I and exit\n"
    "  --help                 show this help and exit\n"
    "  --version              show the version and exit\n"
    "\n"
    "exit status: 0 submitted (or printed), 1 compile error or sbatch failure,\n"
    "2 usage, config or job spec error (nothing submitted)\n";

static const nd_cli cli = {.prog = "noodle-submit", .usage = usage};

int main(int argc, char **argv)
{
    nd_slurm_submit_opts o = {0};
    const char **params = ND_ALLOC_N(const char *, (size_t)argc);
    if (!params) return nd_cli_usage_error(&cli, "out of memory");
    int rc = -1;
    for (int k = 1; k < argc && rc < 0; k++) {
        const char *a = argv[k];
        const char *val = k + 1 < argc ? argv[k + 1] : NULL;
        if (nd_cli_help_version(&cli, a)) {
            rc = ND_EXIT_OK;
        } else if (strcmp(a, "--task-params") == 0) {
            if (k + 2 >= argc)
                rc = nd_cli_usage_error(&cli, "%s needs JOB.yaml and INDEX", a);
            else if (k + 3 != argc)
                rc = nd_cli_usage_error(&cli, "%s takes no further arguments", a);
            else rc = nd_slurm_task_params(argv[k + 1], argv[k + 2], stdout);
        } else if (strcmp(a, "--dry-run") == 0) {
            o.dry_run = true;
        } else if (strcmp(a, "--fresh") == 0) {
            o.fresh = true;
        } else if (strcmp(a, "--param") == 0 || strcmp(a, "--template") == 0 ||
                   strcmp(a, "--config") == 0 || strcmp(a, "--jobs-dir") == 0) {
            if (!val || !*val) {
                rc = nd_cli_usage_error(&cli, "%s needs a value", a);
            } else {
                if (a[2] == 'p') params[o.nparams++] = val;
                else if (a[2] == 't') o.template_path = val;
                else if (a[2] == 'c') o.config = val;
                else o.jobs_dir = val;
                k++;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            rc = nd_cli_usage_error(&cli, "unknown option '%s'", a);
        } else if (o.spec) {
            rc = nd_cli_usage_error(&cli, "more than one job spec given ('%s')", a);
        } else {
            o.spec = a;
        }
    }
    if (rc < 0 && !o.spec) rc = nd_cli_usage_error(&cli, "no job spec given");
    o.params = params;
    if (rc < 0) rc = nd_slurm_submit(&o, stdout);
    ND_FREE_N(params, (size_t)argc);
    return rc;
}
