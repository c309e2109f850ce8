/* noodle-run: the SPMD executable.  `mpirun -n N noodle-run [options] prog.nbc|.noodle`.
 * Parses arguments (identical on every rank, so usage errors are uniform: rank 0 prints,
 * every rank exits 2) and hands over to the job driver (src/job). */
#include "config.h"
#include "common/alloc.h"
#include "common/strbuf.h"
#include "job/job.h"
#include "la/la.h"
#include "runtime/spmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: mpirun -n N noodle-run [options] PROGRAM.nbc|PROGRAM.noodle\n"
    "       noodle-run --print-config [--config FILE] [options]\n"
    "\n"
    "Runs a Noodle program on every rank (SPMD).  A .noodle source is compiled on rank 0.\n"
    "\n"
    "options:\n"
    "  --param NAME=VALUE        job parameter read by param() (repeatable)\n"
    "  --config FILE             configuration file (else $NOODLE_CONFIG, ./noodle.yaml,\n"
    "                            $XDG_CONFIG_HOME/noodle/config.yaml)\n"
    "  --print-config            print every effective setting and its source, then exit\n"
    "  --block-size N            block-cyclic block size (block_size, default 64)\n"
    "  --grid RxC                process grid (grid, default: near-square)\n"
    "  --threads-per-rank N      BLAS threads per rank (threads_per_rank, default 1)\n"
    "  --call-depth N            maximum call depth (limits.call_depth, default 100000)\n"
    "  --no-check-collectives    turn off the SPMD consistency check\n"
    "  --gpu auto|on|off         matrices on CUDA devices (gpu, default auto: if every\n"
    "                            rank has one)\n"
    "  --gpu-comm nccl|mpi       device data between ranks by NCCL, or by MPI through host\n"
    "                            memory, which lets ranks share a device (gpu_comm)\n"
    "  --log-level LEVEL         error|warn|info|debug (log_level, default info)\n"
    "  --run-time S              checkpoint and exit 75 after S seconds (limits.run_time)\n"
    "  --memory-per-rank BYTES   allocation limit per rank (limits.memory_per_rank)\n"
    "  --catalog PATH            results catalog for store/load/query (catalog.path)\n"
    "  --checkpoint-dir DIR      checkpoint directory (default <checkpoint.dir>/PROGRAM)\n"
    "  --checkpoint-interval S   checkpoint at safe points every S seconds (0 = off)\n"
    "  --checkpoint-keep N       committed checkpoints to keep (default 2)\n"
    "  --mpiio-hint KEY=VALUE    MPI-IO hint for checkpoint files (repeatable)\n"
    "  --restart                 resume from the newest valid checkpoint (if any)\n"
    "  --restart-from FILE|DIR   resume from this checkpoint (or directory)\n"
    "  --force                   restart even if the program or parameters differ\n"
    "  --fresh                   start over: remove the directory's checkpoints and its\n"
    "                            completion mark (wins over --restart)\n"
    "  --help                    show this help and exit\n"
    "  --version                 show the version and exit\n"
    "\n"
    "exit status: 0 ok, 1 program error, 2 usage or config error, 3 invalid file,\n"
    "75 checkpointed on a signal or at the run-time limit (requeue)\n";

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

/* Flags that set a configuration key: their values are checked by the config module,
 * which names the flag in its message. */
static const struct {
    const char *flag, *key, *fixed; /* fixed: the value for a flag that takes none */
} key_flags[] = {
    {"--block-size", "block_size", NULL},
    {"--grid", "grid", NULL},
    {"--threads-per-rank", "threads_per_rank", NULL},
    {"--call-depth", "limits.call_depth", NULL},
    {"--no-check-collectives", "check_collectives", "false"},
    {"--gpu", "gpu", NULL},
    {"--gpu-comm", "gpu_comm", NULL},
    {"--catalog", "catalog.path", NULL},
    {"--checkpoint-interval", "checkpoint.interval", NULL},
    {"--checkpoint-keep", "checkpoint.keep", NULL},
    {"--log-level", "log_level", NULL},
    {"--run-time", "limits.run_time", NULL},
    {"--memory-per-rank", "limits.memory_per_rank", NULL},
};

#define MAX_ARGS 256

typedef struct cli {
    nd_job_opts o;
    nd_job_param params[MAX_ARGS];
    nd_job_override over[MAX_ARGS];
    nd_strbuf hints; /* --mpiio-hint values joined with ',' (the config's map syntax) */
} cli;

static int parse(cli *c, int argc, char **argv)
{
    nd_job_opts *o = &c->o;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        const char *val = k + 1 < argc ? argv[k + 1] : NULL;
        bool matched = false;
        for (size_t f = 0; f < ND_ARRAY_LEN(key_flags) && !matched; f++) {
            if (strcmp(a, key_flags[f].flag) != 0) continue;
            matched = true;
            if (!key_flags[f].fixed && !val) return usage_error("%s needs a value", a);
            if (o->noverrides == MAX_ARGS) return usage_error("too many options (%s)", a);
            c->over[o->noverrides++] =
                (nd_job_override){key_flags[f].key, key_flags[f].fixed ? key_flags[f].fixed : val, a};
            if (!key_flags[f].fixed) k++;
        }
        if (matched) continue;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            if (nd_spmd_rank() == 0) fputs(usage, stdout);
            return -1;
        } else if (strcmp(a, "--version") == 0) {
            if (nd_spmd_rank() == 0) printf("noodle-run (noodle) %s\n", PACKAGE_VERSION);
            return -1;
        } else if (strcmp(a, "--param") == 0) {
            if (!val) return usage_error("%s needs NAME=VALUE", a);
            const char *eq = strchr(val, '=');
            if (!eq || eq == val) return usage_error("--param '%s': expected NAME=VALUE", val);
            if (o->nparams == MAX_ARGS) return usage_error("too many %s options", a);
            c->params[o->nparams].key = nd_strndup(val, (size_t)(eq - val));
            c->params[o->nparams].value = nd_strdup(eq + 1);
            if (!c->params[o->nparams].key || !c->params[o->nparams].value)
                return usage_error("%s", "out of memory");
            o->nparams++;
            k++;
        } else if (strcmp(a, "--config") == 0) {
            if (!val || !*val) return usage_error("%s needs a file", a);
            o->config_file = val;
            k++;
        } else if (strcmp(a, "--print-config") == 0) {
            o->print_config = true;
        } else if (strcmp(a, "--checkpoint-dir") == 0) {
            if (!val || !*val) return usage_error("%s needs a directory", a);
            o->checkpoint_dir = val;
            k++;
        } else if (strcmp(a, "--mpiio-hint") == 0) {
            if (!val) return usage_error("%s needs KEY=VALUE", a);
            const char *eq = strchr(val, '=');
            if (!eq || eq == val || strchr(val, ','))
                return usage_error("--mpiio-hint '%s': expected KEY=VALUE (no commas)", val);
            if ((c->hints.len && nd_sb_putc(&c->hints, ',') != ND_OK) ||
                nd_sb_puts(&c->hints, val) != ND_OK)
                return usage_error("%s", "out of memory");
            k++;
        } else if (strcmp(a, "--restart") == 0) {
            o->ckpt.restart = true;
        } else if (strcmp(a, "--restart-from") == 0) {
            if (!val || !*val) return usage_error("%s needs a file or directory", a);
            o->ckpt.restart_from = val;
            k++;
        } else if (strcmp(a, "--force") == 0) {
            o->ckpt.force = true;
        } else if (strcmp(a, "--fresh") == 0) {
            o->ckpt.fresh = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        } else if (o->program) {
            return usage_error("more than one program given ('%s')", a);
        } else {
            o->program = a;
        }
    }
    if (c->hints.len) {
        if (o->noverrides == MAX_ARGS) return usage_error("too many options (%s)", "--mpiio-hint");
        c->over[o->noverrides++] =
            (nd_job_override){"checkpoint.mpiio_hints", c->hints.data, "--mpiio-hint"};
    }
    if (!o->program && !o->print_config) return usage_error("%s", "no program given");
    o->params = c->params;
    o->overrides = c->over;
    return ND_EXIT_OK;
}

static int run(int argc, char **argv)
{
    static cli c; /* large; one per process */
    nd_sb_init(&c.hints);
#ifdef ND_HAVE_CUDA
    c.o.gpu_start = nd_la_gpu_start;
#endif
    int rc = parse(&c, argc, argv);
    if (rc == ND_EXIT_OK) rc = nd_job_run(&c.o);
    if (rc < 0) rc = ND_EXIT_OK; /* --help, --version */
    for (int k = 0; k < c.o.nparams; k++) {
        nd_strfree(c.params[k].key);
        nd_strfree(c.params[k].value);
    }
    nd_sb_free(&c.hints);
    return rc;
}

/* The handlers go in before main and MPI_Init, as soon as the libraries are loaded and
 * initialized: a signal that mpirun forwards while a rank starts is then recorded (and
 * honoured before any work, nd_ckpt_stop_if_signalled) instead of killing the rank.
 * Only in noodle-run: an embedding program keeps its own SIGTERM. */
__attribute__((constructor)) static void install_signals_early(void)
{
    nd_ckpt_install_signals();
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
