/* render.c: batch scripts from templates: @NAME@ expansion, shell quoting, #SBATCH
 * directives, sweep case tables and the MQL conditions of the skip check.
 *
 * Invariant: values reach the script only as single-quoted shell words or as #SBATCH
 * values checked against a safe character set; the array task -> parameters mapping is
 * nd_cfg_jobspec_task's (row-major, jobs/README.md).  Specified by docs/slurm.md.
 */
#include "ac_config.h"
#include "slurm/slurm.h"

#include "common/alloc.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

nd_status nd_slurm_shell_quote(nd_strbuf *out, const char *s)
{
    ND_TRY(nd_sb_putc(out, '\''));
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            ND_TRY(nd_sb_puts(out, "'\\''"));
        else
            ND_TRY(nd_sb_putc(out, *p));
    }
    return nd_sb_putc(out, '\'');
}

/* Mirrors how the catalog types a stored parameter (an int when strtoll takes the whole
 * text, else a float when strtod does and the text starts with neither a space nor
 * nan/inf, else a string), so that `params.k = LITERAL` matches exactly what was stored. */
nd_status nd_slurm_mql_literal(nd_strbuf *out, const char *text, bool *ok)
{
    size_t n = strlen(text);
    *ok = true;
    if (n > 0 && n < 64) {
        char *end;
        errno = 0;
        long long i = strtoll(text, &end, 10);
        if (*end == '\0' && errno == 0) return nd_sb_printf(out, "%lld", i);
        double f = strtod(text, &end);
        if (*end == '\0' && text[0] != ' ' && !strchr("nNiI", text[0])) {
            if (!isfinite(f)) {
                *ok = false;
                return ND_OK;
            }
            char buf[40];
            nd_fmt_double(buf, sizeof buf, f);
            return nd_sb_puts(out, buf);
        }
    }
    /* anything else (including texts of 64 bytes or more) the catalog keeps as a string */
    ND_TRY(nd_sb_putc(out, '\''));
    for (const char *p = text; *p; p++) {
        if (*p == '\'') ND_TRY(nd_sb_putc(out, '\''));
        ND_TRY(nd_sb_putc(out, *p));
    }
    return nd_sb_putc(out, '\'');
}

nd_status nd_slurm_where(nd_strbuf *out, const char *const *names, const char *const *values,
                         size_t n, bool *ok)
{
    nd_strbuf sb;
    nd_sb_init(&sb);
    nd_status st = ND_OK;
    *ok = true;
    for (size_t k = 0; k < n && st == ND_OK && *ok; k++) {
        if (k) st = nd_sb_puts(&sb, " AND ");
        if (st == ND_OK) st = nd_sb_printf(&sb, "params.\"%s\" = ", names[k]);
        if (st == ND_OK) st = nd_slurm_mql_literal(&sb, values[k], ok);
    }
    if (st == ND_OK && *ok && sb.len) st = nd_sb_append(out, sb.data, sb.len);
    nd_sb_free(&sb);
    return st;
}

static bool ident_ok(const char *s)
{
    if (!*s || !(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
        return false;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

nd_status nd_slurm_job_set_param(nd_cfg_jobspec *job, const char *name, const char *value)
{
    ND_CHECK(ident_ok(name), ND_EUSAGE,
             "--param '%s=%s': a parameter name is [A-Za-z_][A-Za-z0-9_]*", name, value);
    for (size_t k = 0; k < job->n_sweep; k++)
        ND_CHECK(strcmp(job->sweep[k].name, name) != 0, ND_EUSAGE,
                 "--param %s: '%s' is swept in %s (a parameter is either fixed or swept)",
                 name, name, job->path ? job->path : "the job spec");
    return nd_kv_set(&job->params, name, value);
}

nd_status nd_slurm_task_shell(const nd_cfg_jobspec *job, uint64_t index, nd_strbuf *out)
{
    size_t cap = job->params.n + job->n_sweep, n = 0;
    const char **names = ND_ALLOC_N(const char *, cap ? cap : 1);
    const char **values = ND_ALLOC_N(const char *, cap ? cap : 1);
    nd_status st = names && values ? ND_OK : ND_ENOMEM;
    if (st == ND_OK) st = nd_cfg_jobspec_task(job, index, names, values, cap, &n);
    size_t first = job->params.n; /* the fixed params come first; they are in PARAMS */
    if (st == ND_OK) st = nd_sb_puts(out, "TASK_PARAMS=(");
    for (size_t k = first; k < n && st == ND_OK; k++) {
        if (k > first) st = nd_sb_putc(out, ' ');
        if (st == ND_OK) st = nd_sb_puts(out, "--param ");
        nd_strbuf w;
        nd_sb_init(&w);
        if (st == ND_OK) st = nd_sb_printf(&w, "%s=%s", names[k], values[k]);
        if (st == ND_OK) st = nd_slurm_shell_quote(out, w.data);
        nd_sb_free(&w);
    }
    if (st == ND_OK) st = nd_sb_puts(out, "); TASK_WHERE=");
    nd_strbuf where;
    nd_sb_init(&where);
    bool ok = true;
    if (st == ND_OK && n > first)
        st = nd_slurm_where(&where, names + first, values + first, n - first, &ok);
    if (st == ND_OK) st = nd_slurm_shell_quote(out, where.data ? where.data : "");
    if (st == ND_OK && !ok) st = nd_sb_puts(out, "; SKIP_OK=0");
    nd_sb_free(&where);
    if (names) ND_FREE_N(names, cap ? cap : 1);
    if (values) ND_FREE_N(values, cap ? cap : 1);
    return st;
}

/* ---- template expansion ---- */

static bool var_char(char c, bool first)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9');
}

nd_status nd_slurm_expand(const char *tmpl, const char *tmpl_name, const nd_kv *vars,
                          nd_strbuf *out)
{
    int line = 1;
    const char *p = tmpl;
    while (*p) {
        if (*p == '\n') line++;
        if (*p != '@') {
            ND_TRY(nd_sb_putc(out, *p++));
            continue;
        }
        if (p[1] == '@') {
            ND_TRY(nd_sb_putc(out, '@'));
            p += 2;
            continue;
        }
        const char *q = p + 1;
        while (var_char(*q, q == p + 1)) q++;
        if (q == p + 1 || *q != '@') { /* not a variable: a literal @ (user@host) */
            ND_TRY(nd_sb_putc(out, *p++));
            continue;
        }
        char name[64];
        size_t len = (size_t)(q - p - 1);
        ND_CHECK(len < sizeof name, ND_EUSAGE, "%s:%d: template variable name too long",
                 tmpl_name, line);
        memcpy(name, p + 1, len);
        name[len] = '\0';
        const char *v = nd_kv_get(vars, name);
        ND_CHECK(v != NULL, ND_EUSAGE, "%s:%d: unknown template variable @%s@", tmpl_name,
                 line, name);
        ND_TRY(nd_sb_puts(out, v));
        p = q + 1;
    }
    return ND_OK;
}

/* ---- variables ---- */

/* #SBATCH values are parsed by sbatch, not by a shell: allow only plain names. */
static nd_status check_directive(const char *what, const char *v)
{
    ND_CHECK(*v != '\0', ND_EUSAGE, "%s: must not be empty", what);
    for (const char *p = v; *p; p++)
        ND_CHECK((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || strchr("_.,:+-", *p),
                 ND_EUSAGE, "%s: '%s' has a character sbatch cannot take ('%c')", what, v,
                 *p);
    return ND_OK;
}

static nd_status check_path(const char *what, const char *v)
{
    ND_CHECK(v && *v, ND_EUSAGE, "%s: empty path", what);
    ND_CHECK(!strchr(v, '\n') && !strchr(v, '\r'), ND_EUSAGE,
             "%s: a path with a line break cannot be used in a batch script", what);
    return ND_OK;
}

static nd_status set_quoted(nd_kv *vars, const char *name, const char *value)
{
    nd_strbuf sb;
    nd_sb_init(&sb);
    nd_status st = nd_slurm_shell_quote(&sb, value);
    if (st == ND_OK) st = nd_kv_set(vars, name, sb.data);
    nd_sb_free(&sb);
    return st;
}

static nd_status sbatch_lines(const nd_slurm_spec *s, uint64_t tasks, nd_strbuf *sb)
{
    const nd_cfg_jobspec *job = s->job;
    ND_TRY(nd_sb_printf(sb, "#SBATCH --ntasks=%d\n", job->ranks));
    if (job->nodes) ND_TRY(nd_sb_printf(sb, "#SBATCH --nodes=%d\n", job->nodes));
    if (s->threads_per_rank > 1)
        ND_TRY(nd_sb_printf(sb, "#SBATCH --cpus-per-task=%d\n", s->threads_per_rank));
    if (job->time) {
        char t[48];
        nd_cfg_jobspec_time_str(job, t, sizeof t);
        ND_TRY(nd_sb_printf(sb, "#SBATCH --time=%s\n", t));
    }
    if (job->partition) {
        ND_TRY(check_directive("partition", job->partition));
        ND_TRY(nd_sb_printf(sb, "#SBATCH --partition=%s\n", job->partition));
    }
    if (job->account) {
        ND_TRY(check_directive("account", job->account));
        ND_TRY(nd_sb_printf(sb, "#SBATCH --account=%s\n", job->account));
    }
    if (job->gpus > 0) ND_TRY(nd_sb_printf(sb, "#SBATCH --gpus-per-node=%d\n", job->gpus));
    if (job->n_sweep) {
        ND_TRY(nd_sb_printf(sb, "#SBATCH --array=0-%llu", (unsigned long long)(tasks - 1)));
        if (job->throttle) ND_TRY(nd_sb_printf(sb, "%%%d", job->throttle));
        ND_TRY(nd_sb_putc(sb, '\n'));
    }
    if (sb->len) sb->data[--sb->len] = '\0'; /* the template supplies the last newline */
    return ND_OK;
}

static nd_status modules_env(const nd_slurm_spec *s, nd_strbuf *mods, nd_strbuf *env,
                             nd_strbuf *cfgenv)
{
    const nd_cfg_jobspec *job = s->job;
    for (size_t k = 0; k < job->n_modules; k++) {
        ND_TRY(nd_sb_puts(mods, "module load "));
        ND_TRY(nd_slurm_shell_quote(mods, job->modules[k]));
        ND_TRY(nd_sb_puts(mods, " || { echo \"noodle: module load "));
        ND_TRY(nd_sb_puts(mods, "failed\" >&2; exit 2; }\n"));
    }
    if (!job->n_modules) ND_TRY(nd_sb_puts(mods, "# (no modules)\n"));
    for (size_t k = 0; k < job->environment.n; k++) {
        ND_CHECK(ident_ok(job->environment.keys[k]), ND_EUSAGE,
                 "environment: '%s' is not a variable name", job->environment.keys[k]);
        ND_TRY(nd_sb_printf(env, "export %s=", job->environment.keys[k]));
        ND_TRY(nd_slurm_shell_quote(env, job->environment.vals[k]));
        ND_TRY(nd_sb_putc(env, '\n'));
    }
    if (!job->environment.n) ND_TRY(nd_sb_puts(env, "# (no environment)\n"));
    for (size_t k = 0; k < job->config.n; k++) {
        int key = nd_cfg_key_find(job->config.keys[k]);
        ND_CHECK(key >= 0, ND_EUSAGE, "config: unknown key '%s'", job->config.keys[k]);
        char var[96];
        nd_cfg_env_name((nd_cfg_key)key, var, sizeof var);
        ND_TRY(nd_sb_printf(cfgenv, "export %s=", var));
        ND_TRY(nd_slurm_shell_quote(cfgenv, job->config.vals[k]));
        ND_TRY(nd_sb_putc(cfgenv, '\n'));
    }
    if (!job->config.n) ND_TRY(nd_sb_puts(cfgenv, "# (no config overrides)\n"));
    /* the template supplies the last newline */
    mods->data[--mods->len] = '\0';
    env->data[--env->len] = '\0';
    cfgenv->data[--cfgenv->len] = '\0';
    return ND_OK;
}

static nd_status fixed_params(const nd_cfg_jobspec *job, nd_strbuf *words, nd_strbuf *where,
                              bool *ok)
{
    for (size_t k = 0; k < job->params.n; k++) {
        nd_strbuf w;
        nd_sb_init(&w);
        nd_status st = nd_sb_printf(&w, "%s=%s", job->params.keys[k], job->params.vals[k]);
        if (st == ND_OK && k) st = nd_sb_putc(words, ' ');
        if (st == ND_OK) st = nd_sb_puts(words, "--param ");
        if (st == ND_OK) st = nd_slurm_shell_quote(words, w.data);
        nd_sb_free(&w);
        ND_TRY(st);
    }
    *ok = true;
    return nd_slurm_where(where, (const char *const *)job->params.keys,
                          (const char *const *)job->params.vals, job->params.n, ok);
}

static nd_status task_setup(const nd_slurm_spec *s, uint64_t tasks, nd_strbuf *sb)
{
    const nd_cfg_jobspec *job = s->job;
    if (!job->n_sweep) return nd_sb_puts(sb, "# (not an array: no per-task parameters)");
    uint64_t max = s->case_table_max ? s->case_table_max : ND_SLURM_CASE_TABLE_MAX;
    if (tasks > max) {
        ND_TRY(nd_sb_printf(sb, "# %llu tasks: too many for a case table; noodle-submit "
                                "maps the index at run time\n",
                            (unsigned long long)tasks));
        ND_TRY(nd_sb_puts(sb, "TASK_LINE=$(\"$NOODLE_SUBMIT\" --task-params "));
        ND_TRY(nd_slurm_shell_quote(sb, s->spec_path));
        ND_TRY(nd_sb_puts(sb, " \"${SLURM_ARRAY_TASK_ID:?not an array task}\") || exit 2\n"
                              "eval \"$TASK_LINE\""));
    } else {
        ND_TRY(nd_sb_puts(sb, "# task -> parameters (row-major: the last sweep entry "
                              "varies fastest)\ncase \"${SLURM_ARRAY_TASK_ID:-}\" in\n"));
        for (uint64_t i = 0; i < tasks; i++) {
            ND_TRY(nd_sb_printf(sb, "  %llu) ", (unsigned long long)i));
            ND_TRY(nd_slurm_task_shell(job, i, sb));
            ND_TRY(nd_sb_puts(sb, " ;;\n"));
        }
        ND_TRY(nd_sb_printf(sb, "  *) echo \"noodle: no parameters for array task "
                                "'${SLURM_ARRAY_TASK_ID:-}' (this job has %llu tasks)\" >&2; "
                                "exit 2 ;;\nesac",
                            (unsigned long long)tasks));
    }
    return nd_sb_puts(sb, "\nCHECKPOINT_DIR=\"$CHECKPOINT_DIR/task-$SLURM_ARRAY_TASK_ID\"");
}

static nd_status meta_lines(const nd_slurm_spec *s, uint64_t tasks, nd_strbuf *sb)
{
    ND_TRY(nd_sb_printf(sb, "# noodle-job: name=%s\n", s->job->name));
    ND_TRY(nd_sb_printf(sb, "# noodle-job: spec=%s\n", s->spec_path));
    ND_TRY(nd_sb_printf(sb, "# noodle-job: program=%s\n", s->program));
    ND_TRY(nd_sb_printf(sb, "# noodle-job: checkpoint_dir=%s\n", s->checkpoint_dir));
    ND_TRY(nd_sb_printf(sb, "# noodle-job: catalog=%s\n", s->catalog));
    return nd_sb_printf(sb, "# noodle-job: tasks=%llu%s", (unsigned long long)tasks,
                        s->job->n_sweep ? " (array)" : "");
}

nd_status nd_slurm_vars(const nd_slurm_spec *s, nd_kv *vars)
{
    const nd_cfg_jobspec *job = s->job;
    ND_TRY(check_path("spec", s->spec_path));
    ND_TRY(check_path("program", s->program));
    ND_TRY(check_path("checkpoint directory", s->checkpoint_dir));
    ND_TRY(check_path("catalog", s->catalog));
    ND_TRY(check_path("noodle-run", s->noodle_run));
    ND_TRY(check_path("noodle-mql", s->noodle_mql));
    ND_TRY(check_path("noodle-submit", s->noodle_submit));
    ND_CHECK(s->signal_lead >= 0 && s->signal_lead <= 65535, ND_EUSAGE,
             "checkpoint.signal_lead: %g seconds is more than Slurm accepts (65535)",
             s->signal_lead);
    uint64_t tasks = nd_cfg_jobspec_count(job);
    bool array = job->n_sweep > 0;
    char buf[64];

    nd_strbuf a, b, c;
    nd_sb_init(&a), nd_sb_init(&b), nd_sb_init(&c);
    nd_status st = ND_OK;
#define STEP(expr)                                                                       \
    do {                                                                                 \
        if (st == ND_OK) st = (expr);                                                    \
    } while (0)
#define RESET() (nd_sb_free(&a), nd_sb_free(&b), nd_sb_free(&c))

    STEP(nd_kv_set(vars, "JOB_NAME", job->name));
    STEP(nd_kv_set(vars, "OUTPUT", array ? "%x-%A_%a.out" : "%x-%j.out"));
    int lead = (int)ceil(s->signal_lead);
    snprintf(buf, sizeof buf, "%d", lead);
    STEP(nd_kv_set(vars, "SIGNAL_LEAD", buf));
    snprintf(buf, sizeof buf, "B:USR1@%d", lead);
    STEP(nd_kv_set(vars, "SIGNAL", buf));
    snprintf(buf, sizeof buf, "%d", job->ranks);
    STEP(nd_kv_set(vars, "RANKS", buf));
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)tasks);
    STEP(nd_kv_set(vars, "TASKS", buf));
    STEP(nd_kv_set(vars, "IS_ARRAY", array ? "1" : "0"));

    STEP(sbatch_lines(s, tasks, &a));
    STEP(nd_kv_set(vars, "SBATCH_RESOURCES", a.data ? a.data : ""));
    RESET();
    STEP(meta_lines(s, tasks, &a));
    STEP(nd_kv_set(vars, "META", a.data));
    RESET();
    STEP(nd_sb_printf(&a, "generated by noodle-submit %s from %s (program %s); "
                          "edit the job spec, not this file",
                      PACKAGE_VERSION, s->spec_path, s->source ? s->source : s->program));
    STEP(check_path("program", s->source ? s->source : s->program));
    STEP(nd_kv_set(vars, "GENERATED", a.data));
    RESET();

    STEP(modules_env(s, &a, &b, &c));
    STEP(nd_kv_set(vars, "MODULES", a.data));
    STEP(nd_kv_set(vars, "ENVIRONMENT", b.data));
    STEP(nd_kv_set(vars, "CONFIG_ENV", c.data));
    RESET();

    STEP(set_quoted(vars, "NOODLE_RUN", s->noodle_run));
    STEP(set_quoted(vars, "NOODLE_MQL", s->noodle_mql));
    STEP(set_quoted(vars, "NOODLE_SUBMIT", s->noodle_submit));
    STEP(set_quoted(vars, "PROGRAM", s->program));
    STEP(set_quoted(vars, "SPEC", s->spec_path));
    STEP(set_quoted(vars, "CATALOG", s->catalog));
    STEP(set_quoted(vars, "CHECKPOINT_DIR", s->checkpoint_dir));

    bool ok = true;
    STEP(fixed_params(job, &a, &b, &ok));
    STEP(nd_kv_set(vars, "PARAMS", a.data ? a.data : ""));
    STEP(set_quoted(vars, "WHERE", b.data ? b.data : ""));
    STEP(nd_kv_set(vars, "SKIP_OK", ok ? "1" : "0"));
    RESET();

    if (s->launcher == ND_LAUNCHER_MPIRUN)
        STEP(nd_sb_printf(&a, "mpirun -n \"${SLURM_NTASKS:-%d}\"", job->ranks));
    else
        STEP(nd_sb_puts(&a, "srun"));
    STEP(nd_kv_set(vars, "LAUNCH", a.data));
    RESET();

    STEP(task_setup(s, tasks, &a));
    STEP(nd_kv_set(vars, "TASK_SETUP", a.data));
    RESET();
#undef STEP
#undef RESET
    return st;
}

nd_status nd_slurm_render(const nd_slurm_spec *s, const char *tmpl, const char *tmpl_name,
                          nd_strbuf *out)
{
    nd_kv vars;
    nd_kv_init(&vars);
    nd_status st = nd_slurm_vars(s, &vars);
    if (st == ND_OK) st = nd_slurm_expand(tmpl, tmpl_name, &vars, out);
    nd_kv_free(&vars);
    return st;
}
