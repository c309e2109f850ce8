/* noodle-run: the SPMD executable.  `mpirun -n N noodle-run [options] prog.nbc|.noodle`.
 * Parses arguments (identical on every rank, so usage errors are uniform: rank 0 prints,
 * every rank exits 2) and hands over to the job driver (src/job). */
#include "config.h"
#include "common/alloc.h"
#include "job/job.h"
#include "runtime/spmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: mpirun -n N noodle-run [options] PROGRAM.nbc|PROGRAM.noodle\n"
    "\n"
    "Runs a Noodle program on every rank (SPMD).  A .noodle source is compiled on rank 0.\n"
    "\n"
    "options:\n"
    "  --param NAME=VALUE        job parameter read by param() (repeatable)\n"
    "  --block-size N            block-cyclic block size (default 64)\n"
    "  --grid RxC                process grid (default: near-square)\n"
    "  --call-depth N            maximum call depth (default 100000)\n"
    "  --no-check-collectives    turn off the SPMD consistency check\n"
    "  --checkpoint-dir DIR      checkpoint directory (default ./checkpoints/PROGRAM)\n"
    "  --checkpoint-interval S   checkpoint at safe points every S seconds (0 = off)\n"
    "  --checkpoint-keep N       committed checkpoints to keep (default 2)\n"
    "  --mpiio-hint KEY=VALUE    MPI-IO hint for checkpoint files (repeatable)\n"
    "  --restart                 resume from the newest valid checkpoint (if any)\n"
    "  --restart-from FILE|DIR   resume from this checkpoint (or directory)\n"
    "  --force                   restart even if the program or parameters differ\n"
    "  --help                    show this help and exit\n"
    "  --version                 show the version and exit\n"
    "\n"
    "exit status: 0 ok, 1 program error, 2 usage or config error, 3 invalid file,\n"
    "75 checkpointed on a signal (requeue)\n";

static int usage_error(const char *fmt, const char *arg)
{
    if (nd_spmd_rank() == 0) {
        fprintf(stderr, "noodle-run: error: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n%s", usage);
        fflush(stderr);
    }
    return ND_EXIT_USAGE;
}

static bool parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static int run(int argc, char **argv)
{
    nd_job_opts o = {0};
    nd_job_param params[256];
    nd_ckpt_kv hints[64];
    int nhints = 0;
    int rc = ND_EXIT_OK;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        const char *val = k + 1 < argc ? argv[k + 1] : NULL;
        long n;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            if (nd_spmd_rank() == 0) fputs(usage, stdout);
            return ND_EXIT_OK;
        } else if (strcmp(a, "--version") == 0) {
            if (nd_spmd_rank() == 0) printf("noodle-run (noodle) %s\n", PACKAGE_VERSION);
            return ND_EXIT_OK;
        } else if (strcmp(a, "--param") == 0) {
            if (!val) return usage_error("%s needs NAME=VALUE", a);
            const char *eq = strchr(val, '=');
            if (!eq || eq == val) return usage_error("--param '%s': expected NAME=VALUE", val);
            if (o.nparams == (int)ND_ARRAY_LEN(params))
                return usage_error("too many %s options", a);
            params[o.nparams].key = nd_strndup(val, (size_t)(eq - val));
            params[o.nparams].value = nd_strdup(eq + 1);
            o.nparams++;
            k++;
        } else if (strcmp(a, "--block-size") == 0) {
            if (!val || !parse_int(val, 1, 1 << 20, &n))
                return usage_error("--block-size needs a positive integer, got '%s'",
                                   val ? val : "");
            o.block_size = (int)n;
            k++;
        } else if (strcmp(a, "--grid") == 0) {
            int r, c;
            char extra;
            if (!val || sscanf(val, "%dx%d%c", &r, &c, &extra) != 2 || r < 1 || c < 1)
                return usage_error("--grid needs RxC (e.g. 2x2), got '%s'", val ? val : "");
            o.grid_rows = r, o.grid_cols = c;
            k++;
        } else if (strcmp(a, "--call-depth") == 0) {
            if (!val || !parse_int(val, 100, 100000000, &n))
                return usage_error("--call-depth needs an integer >= 100, got '%s'",
                                   val ? val : "");
            o.call_depth = (uint32_t)n;
            k++;
        } else if (strcmp(a, "--no-check-collectives") == 0) {
            o.no_check_collectives = true;
        } else if (strcmp(a, "--checkpoint-dir") == 0) {
            if (!val || !*val) return usage_error("%s needs a directory", a);
            o.ckpt.dir = val;
            k++;
        } else if (strcmp(a, "--checkpoint-interval") == 0) {
            char *end;
            double d = val ? strtod(val, &end) : -1;
            if (!val || !*val || *end || !(d >= 0) || d > 1e9)
                return usage_error("--checkpoint-interval needs seconds >= 0, got '%s'",
                                   val ? val : "");
            o.ckpt.interval = d;
            k++;
        } else if (strcmp(a, "--checkpoint-keep") == 0) {
            if (!val || !parse_int(val, 1, 1000000, &n))
                return usage_error("--checkpoint-keep needs an integer >= 1, got '%s'",
                                   val ? val : "");
            o.ckpt.keep = (int)n;
            k++;
        } else if (strcmp(a, "--mpiio-hint") == 0) {
            if (!val) return usage_error("%s needs KEY=VALUE", a);
            const char *eq = strchr(val, '=');
            if (!eq || eq == val)
                return usage_error("--mpiio-hint '%s': expected KEY=VALUE", val);
            if (nhints == (int)ND_ARRAY_LEN(hints)) return usage_error("too many %s options", a);
            hints[nhints].key = nd_strndup(val, (size_t)(eq - val));
            hints[nhints].value = nd_strdup(eq + 1);
            nhints++;
            o.ckpt.hints = hints;
            o.ckpt.nhints = nhints;
            k++;
        } else if (strcmp(a, "--restart") == 0) {
            o.ckpt.restart = true;
        } else if (strcmp(a, "--restart-from") == 0) {
            if (!val || !*val) return usage_error("%s needs a file or directory", a);
            o.ckpt.restart_from = val;
            k++;
        } else if (strcmp(a, "--force") == 0) {
            o.ckpt.force = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        } else if (o.program) {
            return usage_error("more than one program given ('%s')", a);
        } else {
            o.program = a;
        }
    }
    if (!o.program) rc = usage_error("%s", "no program given");
    o.params = params;
    if (rc == ND_EXIT_OK) rc = nd_job_run(&o);
    for (int k = 0; k < o.nparams; k++) {
        nd_strfree(params[k].key);
        nd_strfree(params[k].value);
    }
    for (int k = 0; k < nhints; k++) {
        nd_strfree(hints[k].key);
        nd_strfree(hints[k].value);
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (nd_spmd_init(&argc, &argv) != ND_OK) {
        fprintf(stderr, "noodle-run: error: %s\n", nd_last_error.msg);
        return ND_EXIT_PROGRAM;
    }
    int rc = run(argc, argv);
    nd_spmd_finalize();
    return rc;
}
