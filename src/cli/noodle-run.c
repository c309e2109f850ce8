/* noodle-run: the SPMD executable.  `mpirun -n N noodle-run [options] prog.nbc|.noodle`.
 * Parses arguments (identical on every rank, so usage errors are uniform: rank 0 prints,
 * every rank exits 2) and hands over to the job driver (src/job). */
#include "ac_config.h"
#include "cli/cli.h"
#include "common/alloc.h"
#include "common/strbuf.h"
#include "config/config.h"
#include "job/job.h"
#include "la/la.h"
#include "runtime/spmd.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The usage text around the flags generated from the key table (config/keys.def). */
static const char usage_head[] =
    "usage: mpirun -n N noodle-run [options] PROGRAM.nbc|PROGRAM.noodle\n"
    "       noodle-run --print-config [--config FILE] [options]\n"
    "\n"
    "Runs a Noodle program on every rank (SPMD).  A .noodle source is compiled on rank 0.\n"
    "\n"
    "options:\n"
    "  --param NAME=VALUE        job parameter read by param() (repeatable)\n"
    "  --config FILE             configuration file (else $NOODLE_CONFIG, ./noodle.yaml,\n"
    "                            $XDG_CONFIG_HOME/noodle/config.yaml)\n"
    "  --print-config            print every effective setting and its source, then exit\n";
static const char usage_tail[] =
    "  --checkpoint-dir DIR      checkpoint directory (default <checkpoint.dir>/PROGRAM)\n"
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

static void put_usage(FILE *fp)
{
    nd_strbuf sb;
    nd_sb_init(&sb);
    fputs(usage_head, fp);
    if (nd_cfg_flags_usage(&sb) == ND_OK && sb.len) fputs(sb.data, fp);
    fputs(usage_tail, fp);
    nd_sb_free(&sb);
}

/* Arguments are identical on every rank: rank 0 speaks for all (quiet set in run). */
static nd_cli cli_info = {.prog = "noodle-run", .put_usage = put_usage};

#define MAX_ARGS 256

typedef struct cli {
    nd_job_opts o;
    nd_kv params; /* --param values: a later NAME replaces an earlier one */
    nd_job_override over[MAX_ARGS];
    nd_strbuf hints; /* --mpiio-hint values joined with ',' (the config's map syntax) */
} cli;

static int parse(cli *c, int argc, char **argv)
{
    nd_job_opts *o = &c->o;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        const char *val = k + 1 < argc ? argv[k + 1] : NULL;
        const char *fixed = NULL;
        int key = nd_cfg_flag_find(a, &fixed);
        if (key >= 0) {
            /* The config module checks the value and names the flag in its message. */
            if (!fixed && !val) return nd_cli_usage_error(&cli_info, "%s needs a value", a);
            if (o->noverrides == MAX_ARGS)
                return nd_cli_usage_error(&cli_info, "too many options (%s)", a);
            c->over[o->noverrides++] =
                (nd_job_override){nd_cfg_key_path((nd_cfg_key)key), fixed ? fixed : val, a};
            if (!fixed) k++;
            continue;
        }
        if (nd_cli_help_version(&cli_info, a)) {
            return -1;
        } else if (strcmp(a, "--param") == 0) {
            if (!val) return nd_cli_usage_error(&cli_info, "%s needs NAME=VALUE", a);
            const char *eq = strchr(val, '=');
            if (!eq || eq == val)
                return nd_cli_usage_error(&cli_info, "--param '%s': expected NAME=VALUE", val);
            size_t nl = (size_t)(eq - val);
            bool ident = !isdigit((unsigned char)val[0]) &&
                         strspn(val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == nl;
            if (!ident)
                return nd_cli_usage_error(&cli_info, "--param '%s': the name must be letters, digits "
                                          "and '_', not starting with a digit", val);
            char *name = nd_strndup(val, (size_t)(eq - val));
            nd_status st = name ? nd_kv_set(&c->params, name, eq + 1) : ND_ENOMEM;
            nd_strfree(name);
            if (st != ND_OK) return nd_cli_usage_error(&cli_info, "out of memory");
            k++;
        } else if (strcmp(a, "--config") == 0) {
            if (!val || !*val) return nd_cli_usage_error(&cli_info, "%s needs a file", a);
            o->config_file = val;
            k++;
        } else if (strcmp(a, "--print-config") == 0) {
            o->print_config = true;
        } else if (strcmp(a, "--checkpoint-dir") == 0) {
            if (!val || !*val) return nd_cli_usage_error(&cli_info, "%s needs a directory", a);
            o->checkpoint_dir = val;
            k++;
        } else if (strcmp(a, "--mpiio-hint") == 0) {
            if (!val) return nd_cli_usage_error(&cli_info, "%s needs KEY=VALUE", a);
            const char *eq = strchr(val, '=');
            if (!eq || eq == val || strchr(val, ','))
                return nd_cli_usage_error(
                    &cli_info, "--mpiio-hint '%s': expected KEY=VALUE (no commas)", val);
            if ((c->hints.len && nd_sb_putc(&c->hints, ',') != ND_OK) ||
                nd_sb_puts(&c->hints, val) != ND_OK)
                return nd_cli_usage_error(&cli_info, "out of memory");
            k++;
        } else if (strcmp(a, "--restart") == 0) {
            o->ckpt.restart = true;
        } else if (strcmp(a, "--restart-from") == 0) {
            if (!val || !*val)
                return nd_cli_usage_error(&cli_info, "%s needs a file or directory", a);
            o->ckpt.restart_from = val;
            k++;
        } else if (strcmp(a, "--force") == 0) {
            o->ckpt.force = true;
        } else if (strcmp(a, "--fresh") == 0) {
            o->ckpt.fresh = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            return nd_cli_usage_error(&cli_info, "unknown option '%s'", a);
        } else if (o->program) {
            return nd_cli_usage_error(&cli_info, "more than one program given ('%s')", a);
        } else {
            o->program = a;
        }
    }
    if (c->hints.len) {
        if (o->noverrides == MAX_ARGS)
            return nd_cli_usage_error(&cli_info, "too many options (%s)", "--mpiio-hint");
        c->over[o->noverrides++] =
            (nd_job_override){"checkpoint.mpiio_hints", c->hints.data, "--mpiio-hint"};
    }
    if (!o->program && !o->print_config)
        return nd_cli_usage_error(&cli_info, "no program given");
    o->params = &c->params;
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
    cli_info.quiet = nd_spmd_rank() != 0;
    int rc = parse(&c, argc, argv);
    if (rc == ND_EXIT_OK) rc = nd_job_run(&c.o);
    if (rc < 0) rc = ND_EXIT_OK; /* --help, --version */
    nd_kv_free(&c.params);
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
    nd_alloc_tune_heap();
    if (nd_spmd_init(&argc, &argv) != ND_OK) {
        fprintf(stderr, "noodle-run: error: %s\n", nd_last_error.msg);
        return ND_EXIT_PROGRAM;
    }
    int rc = run(argc, argv);
    nd_spmd_finalize(rc);
    return rc;
}
