/* submit.c: what noodle-submit does: load and check the job spec and the effective
 * config, compile the program once (compile errors before anything is queued), render
 * the batch script, keep it under .noodle-jobs/, and hand it to sbatch.
 *
 * Invariant: nothing reaches Slurm unless the spec, the config, the template and the
 * program are all valid; every error is reported on stderr with the documented exit
 * code (docs/slurm.md: 0 ok, 1 compile error or sbatch failure, 2 usage/spec error).
 */
#include "ac_config.h"
#include "slurm/slurm.h"

#include "ckpt/mark.h"
#include "common/alloc.h"
#include "common/outfile.h"
#include "common/path.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Prints the recorded error once: messages that already carry "path:L:C: error:" (spec
 * and config errors) as they are, others after the program name. */
static int report(nd_status st)
{
    const char *m = nd_err_msg();
    if (strstr(m, ": error: "))
        fprintf(stderr, "%s\n", m);
    else
        fprintf(stderr, "noodle-submit: error: %s\n", m);
    return st == ND_EUSAGE || st == ND_EINVALID ? ND_EXIT_USAGE : ND_EXIT_PROGRAM;
}

static bool file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The spec names the program relative to the submit directory (like the examples in
 * jobs/); a path relative to the spec's own directory is accepted as a fallback. */
static nd_status resolve_program(const nd_cfg_jobspec *job, nd_strbuf *out)
{
    if (file_exists(job->program)) return nd_slurm_abspath(job->program, out);
    if (job->program[0] != '/') {
        const char *slash = strrchr(job->path, '/');
        if (slash) {
            nd_strbuf alt;
            nd_sb_init(&alt);
            nd_status st = nd_sb_printf(&alt, "%.*s/%s", (int)(slash - job->path), job->path,
                                        job->program);
            if (st == ND_OK && file_exists(alt.data)) st = nd_slurm_abspath(alt.data, out);
            else if (st == ND_OK) st = ND_EUSAGE;
            nd_sb_free(&alt);
            if (st != ND_EUSAGE) return st;
        }
    }
    return nd_err_set(ND_EUSAGE, "%s: error: program: cannot read '%s' (paths are relative "
                                 "to the directory you submit from)",
                      job->path, job->program);
}

static nd_status mkdirs(const char *path)
{
    char buf[PATH_MAX];
    ND_CHECK(strlen(path) < sizeof buf, ND_EUSAGE, "path too long: '%s'", path);
    strcpy(buf, path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return nd_err_set(ND_EUSAGE, "cannot create directory '%s': %s", buf,
                                  strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    return ND_OK;
}

static nd_status load_template(const char *flag, nd_strbuf *text, nd_strbuf *name)
{
    const char *env = getenv("NOODLE_SLURM_TEMPLATE");
    const char *path = flag ? flag : (env && *env ? env : NULL);
    if (!path) {
        static const char *const builtin[] = {
            ND_DATADIR "/slurm/noodle.sbatch.in",
#ifdef ND_SLURM_SRCDIR
            ND_SLURM_SRCDIR "/noodle.sbatch.in", /* running from the build tree */
#endif
        };
        for (size_t k = 0; k < ND_ARRAY_LEN(builtin) && !path; k++)
            if (file_exists(builtin[k])) path = builtin[k];
        ND_CHECK(path, ND_EUSAGE, "no batch template found (looked for %s); "
                                  "use --template FILE", builtin[0]);
    }
    ND_TRY(nd_sb_puts(name, path));
    return nd_slurm_read_file(path, text);
}

/* Runs noodlec PROGRAM -o OUT.  Its diagnostics go straight to stderr. */
static nd_status compile(const char *noodlec, const char *src, const char *out)
{
    char *argv[] = {(char *)noodlec, (char *)src, (char *)"-o", (char *)out, NULL};
    int rc = 0;
    ND_TRY(nd_slurm_run(argv, NULL, NULL, &rc));
    if (rc == ND_EXIT_USAGE || rc == ND_EXIT_INVALID)
        return nd_err_set(ND_EUSAGE, "noodlec could not read %s (exit %d); nothing submitted",
                          src, rc);
    ND_CHECK(rc == 0, ND_EPROG, "%s does not compile (noodlec exit %d); nothing submitted",
             src, rc);
    return ND_OK;
}

typedef struct submit_state {
    nd_cfg_jobspec job;
    nd_cfg cfg;
    nd_strbuf spec_abs, prog_src, prog_run, ckpt, catalog, jobs_dir, stamp, script_path;
    nd_strbuf run, mql, submit, noodlec, tmpl, tmpl_name, script, tmpdir;
} submit_state;

static void state_free(submit_state *s)
{
    nd_strbuf *bufs[] = {&s->spec_abs, &s->prog_src, &s->prog_run, &s->ckpt, &s->catalog,
                         &s->jobs_dir, &s->stamp, &s->script_path, &s->run, &s->mql,
                         &s->submit, &s->noodlec, &s->tmpl, &s->tmpl_name, &s->script,
                         &s->tmpdir};
    for (size_t k = 0; k < ND_ARRAY_LEN(bufs); k++) nd_sb_free(bufs[k]);
    nd_cfg_jobspec_free(&s->job);
    nd_cfg_free(&s->cfg);
}

static nd_status prepare(const nd_slurm_submit_opts *o, submit_state *s)
{
    ND_TRY(nd_cfg_jobspec_load(o->spec, &s->job));
    for (size_t k = 0; k < o->nparams; k++) {
        const char *eq = strchr(o->params[k], '=');
        ND_CHECK(eq && eq != o->params[k], ND_EUSAGE, "--param '%s': expected NAME=VALUE",
                 o->params[k]);
        char *name = nd_strndup(o->params[k], (size_t)(eq - o->params[k]));
        ND_CHECK(name, ND_ENOMEM, "out of memory");
        nd_status st = nd_slurm_job_set_param(&s->job, name, eq + 1);
        nd_strfree(name);
        ND_TRY(st);
    }
    ND_TRY(nd_cfg_load(&s->cfg, o->config));
    for (size_t k = 0; k < s->job.config.n; k++)
        ND_TRY(nd_cfg_set(&s->cfg, s->job.config.keys[k], s->job.config.vals[k],
                          "config (job spec)"));
    ND_TRY(nd_slurm_abspath(o->spec, &s->spec_abs));
    ND_TRY(resolve_program(&s->job, &s->prog_src));
    ND_TRY(nd_slurm_abspath(s->cfg.checkpoint_dir, &s->ckpt));
    ND_TRY(nd_sb_printf(&s->ckpt, "/%s", s->job.name));
    ND_TRY(nd_slurm_abspath(s->cfg.catalog_path, &s->catalog));
    ND_TRY(nd_slurm_abspath(o->jobs_dir ? o->jobs_dir : ".noodle-jobs", &s->jobs_dir));
    ND_TRY(nd_slurm_find_tool("noodle-run", &s->run));
    ND_TRY(nd_slurm_find_tool("noodle-mql", &s->mql));
    ND_TRY(nd_slurm_find_tool("noodle-submit", &s->submit));
    ND_TRY(nd_slurm_find_tool("noodlec", &s->noodlec));
    ND_TRY(load_template(o->template_path, &s->tmpl, &s->tmpl_name));

    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y%m%d-%H%M%S", &tm);
    ND_TRY(nd_sb_printf(&s->stamp, "%s-%s-%ld", s->job.name, when, (long)getpid()));
    ND_TRY(nd_sb_printf(&s->script_path, "%s/%s.sbatch", s->jobs_dir.data, s->stamp.data));

    if (!nd_path_is_source(s->prog_src.data)) return nd_sb_puts(&s->prog_run, s->prog_src.data);
    ND_TRY(nd_sb_printf(&s->prog_run, "%s/%s.nbc", s->jobs_dir.data, s->stamp.data));
    if (o->dry_run) {
        /* compile anyway, into a scratch directory, so a dry run shows compile errors */
        char tmpl[] = "/tmp/noodle-submit-XXXXXX";
        ND_CHECK(mkdtemp(tmpl), ND_EIO, "mkdtemp: %s", strerror(errno));
        ND_TRY(nd_sb_puts(&s->tmpdir, tmpl));
        nd_strbuf nbc;
        nd_sb_init(&nbc);
        nd_status st = nd_sb_printf(&nbc, "%s/check.nbc", tmpl);
        if (st == ND_OK) st = compile(s->noodlec.data, s->prog_src.data, nbc.data);
        if (nbc.data) unlink(nbc.data);
        nd_sb_free(&nbc);
        return st;
    }
    ND_TRY(mkdirs(s->jobs_dir.data));
    return compile(s->noodlec.data, s->prog_src.data, s->prog_run.data);
}

/* One checkpoint directory about to be used by the job: a completed run there would make
 * the batch script (always --restart) exit at once, so say so, or with --fresh clear
 * it (not in a dry run).  Returns whether dir holds a completed run. */
static bool check_complete(const nd_slurm_submit_opts *o, const char *dir)
{
    char when[64];
    if (!nd_ckpt_dir_complete(dir, when, sizeof when)) return false;
    if (o->fresh && !o->dry_run) {
        bool had;
        int n = nd_ckpt_dir_clear(dir, &had);
        fprintf(stderr, "noodle-submit: --fresh: removed %d checkpoint%s and the completion "
                        "mark in %s\n", n, n == 1 ? "" : "s", dir);
    } else if (!o->fresh) {
        fprintf(stderr,
                "noodle-submit: warning: %s holds a run that completed%s%s: the job will "
                "exit at once without running the program (noodle-submit --fresh runs it "
                "again)\n",
                dir, when[0] ? " at " : "", when);
    }
    return true;
}

/* The job's checkpoint directories: the one of a single job, or task-N of a sweep. */
static void check_completed_runs(const nd_slurm_submit_opts *o, const submit_state *s)
{
    if (!s->job.n_sweep) {
        check_complete(o, s->ckpt.data);
        return;
    }
    DIR *d = opendir(s->ckpt.data);
    if (!d) return;
    struct dirent *e;
    char path[4200];
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "task-", 5) != 0) continue;
        snprintf(path, sizeof path, "%s/%s", s->ckpt.data, e->d_name);
        check_complete(o, path);
    }
    closedir(d);
}

static nd_status render(submit_state *s)
{
    nd_slurm_spec sp = {
        .job = &s->job,
        .spec_path = s->spec_abs.data,
        .program = s->prog_run.data,
        .source = s->prog_src.data,
        .checkpoint_dir = s->ckpt.data,
        .catalog = s->catalog.data,
        .noodle_run = s->run.data,
        .noodle_mql = s->mql.data,
        .noodle_submit = s->submit.data,
        .launcher = s->cfg.launcher,
        .signal_lead = s->cfg.checkpoint_signal_lead,
        .threads_per_rank = s->cfg.threads_per_rank,
    };
    return nd_slurm_render(&sp, s->tmpl.data, s->tmpl_name.data, &s->script);
}

/* Executable as far as the umask allows (it holds the spec's environment values: no
 * read or execute bits beyond the umask's), written as common/outfile.h writes. */
static nd_status write_script(const submit_state *s)
{
    ND_TRY(mkdirs(s->jobs_dir.data)); /* a .nbc program compiled nothing there yet */
    nd_outfile o;
    ND_TRY(nd_out_open(s->script_path.data, &o));
    mode_t um = umask(0);
    umask(um);
    nd_status st = nd_out_write(&o, s->script.data, s->script.len);
    if (st == ND_OK && o.tmp && fchmod(o.fd, 0777 & ~um) != 0)
        st = nd_err_set(ND_EIO, "cannot write '%s': %s", s->script_path.data, strerror(errno));
    nd_status cst = nd_out_close(&o, st == ND_OK);
    return st == ND_OK ? cst : st;
}

static nd_status sbatch(const submit_state *s, nd_strbuf *id)
{
    char *argv[] = {(char *)"sbatch", (char *)"--parsable", s->script_path.data, NULL};
    nd_strbuf out;
    nd_sb_init(&out);
    int rc = 0;
    nd_status st = nd_slurm_run(argv, &out, NULL, &rc);
    if (st == ND_OK && rc != 0)
        st = nd_err_set(ND_EPROG, "sbatch failed (exit %d); the script is kept at %s", rc,
                        s->script_path.data);
    if (st == ND_OK) {
        /* --parsable prints "123" or "123;cluster": anything else is not a job id (a
         * wrapper's banner, an error on stdout), and is not passed on as one */
        const char *o = out.data ? out.data : "";
        size_t n = strspn(o, "0123456789"), end = n;
        if (n && o[end] == ';') end += 1 + strspn(o + end + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");
        end += strspn(o + end, "\r\n");
        if (n == 0 || n > 20 || o[end] != '\0')
            st = nd_err_set(ND_EPROG, "sbatch printed no job id: '%.80s'; the script is kept at %s", o,
                            s->script_path.data);
        else
            st = nd_sb_append(id, o, n);
    }
    nd_sb_free(&out);
    return st;
}

int nd_slurm_submit(const nd_slurm_submit_opts *o, FILE *out)
{
    submit_state s;
    memset(&s, 0, sizeof s);
    nd_strbuf id;
    nd_sb_init(&id);
    int rc = ND_EXIT_OK;
    nd_status st = nd_cfg_init(&s.cfg);
    if (st == ND_OK) st = prepare(o, &s);
    if (st == ND_OK) check_completed_runs(o, &s);
    if (st == ND_OK) st = render(&s);
    if (st == ND_OK && o->dry_run) {
        fwrite(s.script.data, 1, s.script.len, out);
    } else if (st == ND_OK) {
        st = write_script(&s);
        if (st == ND_OK) st = sbatch(&s, &id);
        if (st == ND_OK) {
            uint64_t n = nd_cfg_jobspec_count(&s.job);
            fprintf(stderr, "noodle-submit: submitted %s %s as %s (script %s)\n",
                    s.job.n_sweep ? "job array" : "job", s.job.name, id.data,
                    s.script_path.data);
            if (s.job.n_sweep)
                fprintf(stderr, "noodle-submit: %llu tasks, checkpoints under %s/task-N\n",
                        (unsigned long long)n, s.ckpt.data);
            fprintf(out, "%s\n", id.data);
        }
    }
    if (st != ND_OK) rc = report(st);
    if (s.tmpdir.data) rmdir(s.tmpdir.data);
    nd_sb_free(&id);
    state_free(&s);
    return rc;
}

int nd_slurm_task_params(const char *spec, const char *index, FILE *out)
{
    nd_cfg_jobspec job;
    nd_status st = nd_cfg_jobspec_load(spec, &job);
    if (st != ND_OK) return report(st);
    char *end;
    errno = 0;
    unsigned long long i = strtoull(index, &end, 10);
    int rc = ND_EXIT_OK;
    if (!*index || *end || errno || index[0] == '-') {
        st = nd_err_set(ND_EUSAGE, "--task-params: expected a task index, got '%s'", index);
    } else if (!job.n_sweep) {
        st = nd_err_set(ND_EUSAGE, "--task-params: %s has no sweep", spec);
    } else {
        nd_strbuf sb;
        nd_sb_init(&sb);
        st = nd_slurm_task_shell(&job, i, &sb);
        if (st == ND_OK) fprintf(out, "%s\n", sb.data);
        nd_sb_free(&sb);
    }
    if (st != ND_OK) rc = report(st);
    nd_cfg_jobspec_free(&job);
    return rc;
}
