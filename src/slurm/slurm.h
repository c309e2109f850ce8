/* slurm.h: Slurm integration (nd_slurm_): batch-script rendering from templates, sweep
 * expansion into job arrays, submission, and status gathering for noodle-status.
 *
 * Invariant: every text that reaches a generated script goes through
 * nd_slurm_shell_quote (shell words) or is checked against a safe character set
 * (#SBATCH values), so a job spec can never inject shell code.  Every function is
 * Rank-local (no MPI).  Specified by docs/slurm.md and jobs/README.md.
 */
#ifndef ND_SLURM_H
#define ND_SLURM_H

#include "common/nd.h"
#include "common/strbuf.h"
#include "config/config.h"
#include "config/jobspec.h"

#include <stdio.h>

/* Arrays with more tasks than this get their parameters at run time from
 * `noodle-submit --task-params` instead of a case table in the script. */
#define ND_SLURM_CASE_TABLE_MAX 10000u

/* Everything the renderer needs, resolved by the caller (paths absolute). */
typedef struct nd_slurm_spec {
    const nd_cfg_jobspec *job;      /* validated spec; job->params includes --param overrides */
    const char *spec_path;      /* the spec, absolute (for --task-params at run time) */
    const char *program;        /* what noodle-run runs: the compiled .nbc, absolute */
    const char *source;         /* the program as named in the spec (for the header) */
    const char *checkpoint_dir; /* <checkpoint.dir>/<name>, absolute; arrays add /task-N */
    const char *catalog;        /* catalog directory, absolute */
    const char *noodle_run;     /* commands, absolute paths (or bare names for PATH) */
    const char *noodle_mql;
    const char *noodle_submit;
    nd_cfg_launcher launcher;   /* AUTO renders as srun (a batch job is in an allocation) */
    double signal_lead;         /* seconds before the time limit for SIGUSR1 */
    int threads_per_rank;       /* >= 1; > 1 adds --cpus-per-task */
    uint64_t case_table_max;    /* 0 = ND_SLURM_CASE_TABLE_MAX */
} nd_slurm_spec;

/* Appends s as one POSIX shell word in single quotes ('it'\''s').  Never fails except
 * ND_ENOMEM. */
nd_status nd_slurm_shell_quote(nd_strbuf *out, const char *s);

/* Appends an MQL literal that compares equal to how the catalog types a parameter value
 * written as `text` (an int, a float, else a string).  *ok is false (nothing appended)
 * when no literal can match (nan, inf, over-long numbers). */
nd_status nd_slurm_mql_literal(nd_strbuf *out, const char *text, bool *ok);

/* Appends `params.a = 1 AND params.b = 'x'` for n pairs; *ok as nd_slurm_mql_literal. */
nd_status nd_slurm_where(nd_strbuf *out, const char *const *names, const char *const *values,
                         size_t n, bool *ok);

/* Sets a fixed parameter from `noodle-submit --param NAME=VALUE`: the name must be
 * [A-Za-z_][A-Za-z0-9_]* and not swept (ND_EUSAGE).  Replaces a value from the spec. */
nd_status nd_slurm_job_set_param(nd_cfg_jobspec *job, const char *name, const char *value);

/* Appends one line of shell (no newline) that sets the array task's own parameters:
 * `TASK_PARAMS=(--param 'n=200' ...); TASK_WHERE='params.n = 200 ...'` (and
 * `SKIP_OK=0` when no MQL condition can match).  Only the sweep values: the fixed
 * params are in the script's PARAMS.  ND_EUSAGE for an index out of range. */
nd_status nd_slurm_task_shell(const nd_cfg_jobspec *job, uint64_t index, nd_strbuf *out);

/* Expands @NAME@ (NAME = [A-Z_][A-Z0-9_]*) from vars and @@ to @; any other @ is kept.
 * An unknown variable is ND_EUSAGE "TEMPLATE:LINE: unknown template variable @NAME@". */
nd_status nd_slurm_expand(const char *tmpl, const char *tmpl_name, const nd_kv *vars,
                          nd_strbuf *out);

/* Fills vars with every template variable (docs/slurm.md lists them).  ND_EUSAGE for
 * values that cannot be written safely (a newline in a path, odd characters in a
 * partition or account). */
nd_status nd_slurm_vars(const nd_slurm_spec *s, nd_kv *vars);

/* nd_slurm_vars then nd_slurm_expand. */
nd_status nd_slurm_render(const nd_slurm_spec *s, const char *tmpl, const char *tmpl_name,
                          nd_strbuf *out);

/* Reads a whole file.  ND_EUSAGE "cannot read 'PATH': reason". */
nd_status nd_slurm_read_file(const char *path, nd_strbuf *out);

/* ---- processes (proc.c) ---- */

/* Runs argv[0] (searched in PATH) with stdout captured into out and stderr into err
 * (either may be NULL: inherited); *exit_status := its exit code (128 + signal when
 * killed).  ND_EUSAGE when it cannot be started ("cannot run sbatch: ..."). */
nd_status nd_slurm_run(char *const argv[], nd_strbuf *out, nd_strbuf *err, int *exit_status);

/* Finds a Noodle program: $NOODLE_BINDIR/NAME, then the directory of this executable,
 * then PATH; falls back to the bare name.  Appends the result. */
nd_status nd_slurm_find_tool(const char *name, nd_strbuf *out);

/* Appends path made absolute against the working directory (no symlink resolution). */
nd_status nd_slurm_abspath(const char *path, nd_strbuf *out);

/* ---- submission (submit.c) ---- */

typedef struct nd_slurm_submit_opts {
    const char *spec;           /* job spec path */
    const char *const *params;  /* --param NAME=VALUE, nparams of them */
    size_t nparams;
    const char *template_path;  /* NULL: $NOODLE_SLURM_TEMPLATE, then the installed one */
    const char *config;         /* --config FILE or NULL */
    const char *jobs_dir;       /* where scripts go; NULL: ./.noodle-jobs */
    bool dry_run;               /* print the script, submit nothing */
    bool fresh;                 /* clear completed runs' checkpoint directories first */
} nd_slurm_submit_opts;

/* Validates the spec, compiles the program, renders, writes and submits the script
 * (dry run: prints it to out).  Prints the job id to out on success.  Returns the
 * process exit code (0, 1 compile error or sbatch failure, 2 usage/spec error); error
 * messages go to stderr. */
int nd_slurm_submit(const nd_slurm_submit_opts *o, FILE *out);

/* `noodle-submit --task-params SPEC INDEX`: prints nd_slurm_task_shell's line.
 * Returns the exit code. */
int nd_slurm_task_params(const char *spec, const char *index, FILE *out);

/* ---- status (status.c) ---- */

/* One job record of `scontrol show job -o`: Key=Value fields in order. */
typedef struct nd_slurm_jobrec {
    nd_kv f;
} nd_slurm_jobrec;

/* Parses `scontrol show job -o` output (one job a line).  Values may contain spaces:
 * a field ends where the next ` Key=` begins.  *recs owned: nd_slurm_jobrecs_free. */
nd_status nd_slurm_parse_jobs(const char *text, nd_slurm_jobrec **recs, size_t *n);
void nd_slurm_jobrecs_free(nd_slurm_jobrec *recs, size_t n);
/* The value of key in a record, or NULL. */
const char *nd_slurm_field(const nd_slurm_jobrec *r, const char *key);

/* Reads the `# noodle-job: KEY=VALUE` lines of a generated script into meta. */
nd_status nd_slurm_script_meta(const char *script, nd_kv *meta);

/* Finds the checkpoint ckpt-<seq>.h5 with the highest seq in dir; *found false when the
 * directory is missing or holds none.  Appends the path to out. */
nd_status nd_slurm_newest_checkpoint(const char *dir, nd_strbuf *out, bool *found);

/* Appends the last max_lines lines of the file at path that are Noodle diagnostics or
 * progress ("noodle-run: ...", "noodle: ...", lines containing "progress").  A missing
 * file appends nothing. */
nd_status nd_slurm_progress_tail(const char *path, size_t max_lines, nd_strbuf *out);

/* `noodle-status JOB_ID|NAME`: prints the report to out.  Returns the exit code (0; 2
 * for an unknown job or Slurm not reachable, with a message on stderr). */
int nd_slurm_status(const char *job, FILE *out);

#endif
