/* jobspec.c: YAML job specs (jobs/NAME.yaml) for noodle-submit: parsing, validation and sweep
 * expansion.
 *
 * Invariant: a loaded nd_cfg_jobspec is fully validated (names, counts, time, config
 * overrides by the same rules as config files), so noodle-submit renders it without
 * further checks.  Sweep task i maps to parameters in row-major order (last sweep entry
 * fastest).  Specified by jobs/README.md.
 */
#include "config/cfg_internal.h"
#include "config/jobspec.h"

#include "common/alloc.h"
#include "common/path.h"

#include <ctype.h>
#include <string.h>

/* More combinations than this is surely a mistake (Slurm's own array limit is lower). */
#define MAX_TASKS 1000000u

typedef struct jctx {
    nd_cfg_ydoc yd;
    nd_cfg_jobspec *job;
} jctx;

static yaml_node_t *node(const jctx *c, int id)
{
    return yaml_document_get_node((yaml_document_t *)&c->yd.doc, id);
}

/* [A-Za-z_][A-Za-z0-9_]* (params, sweep names, environment variables). */
static bool is_ident(const char *s)
{
    if (!isalpha((unsigned char)*s) && *s != '_') return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_') return false;
    return true;
}

/* The result-name rule: 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-' (job
 * names become directory names, so "." and ".." must never pass, and Slurm job names). */
#define JOB_NAME_MAX 128
static bool is_job_name(const char *s)
{
    if (!*s || *s == '.' || *s == '-' || strlen(s) > JOB_NAME_MAX) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.-", *s)) return false;
    return true;
}

/* A non-null scalar's text, or an error naming disp and `what`. */
static nd_status want_scalar(const jctx *c, yaml_node_t *v, const char *disp, const char *what,
                             const char **out)
{
    if (v->type != YAML_SCALAR_NODE)
        return nd_cfg_yerr(&c->yd, v->start_mark, "%s: expected %s, got %s", disp, what,
                           nd_cfg_node_kind(v));
    if (nd_cfg_node_is_null(v))
        return nd_cfg_yerr(&c->yd, v->start_mark, "%s: expected %s, got nothing", disp, what);
    *out = nd_cfg_node_text(v);
    return ND_OK;
}

static nd_status want_int(const jctx *c, yaml_node_t *v, const char *disp, int min, int max,
                          int *out)
{
    char what[80];
    snprintf(what, sizeof what, "an integer >= %d", min);
    const char *s;
    ND_TRY(want_scalar(c, v, disp, what, &s));
    const char *p = s;
    long long n = 0;
    bool ok = v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && isdigit((unsigned char)*p);
    for (; ok && *p; p++) {
        if (!isdigit((unsigned char)*p) || n > 1000000000LL) ok = false;
        else n = n * 10 + (*p - '0');
    }
    if (ok && n > max) snprintf(what, sizeof what, "an integer between %d and %d", min, max);
    if (!ok || n < min || n > max) {
        if (ok || v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
            return nd_cfg_yerr(&c->yd, v->start_mark, "%s: expected %s, got '%s'", disp, what, s);
        return nd_cfg_yerr(&c->yd, v->start_mark, "%s: expected %s, got the string '%s'", disp,
                           what, s);
    }
    *out = (int)n;
    return ND_OK;
}

static nd_status want_string(const jctx *c, yaml_node_t *v, const char *disp, char **out)
{
    const char *s;
    ND_TRY(want_scalar(c, v, disp, "a string", &s));
    char *d = nd_strdup(s);
    if (!d) return ND_ENOMEM;
    nd_strfree(*out);
    *out = d;
    return ND_OK;
}

/* A run time: "H:MM:SS" or a whole number of minutes. */
static bool parse_time(const char *s, int64_t *sec)
{
    int64_t part[3] = {0, 0, 0};
    int np = 0;
    const char *p = s;
    while (np < 3) {
        if (!isdigit((unsigned char)*p)) return false;
        int64_t v = 0;
        int digits = 0;
        for (; isdigit((unsigned char)*p); p++, digits++) {
            if (v > 100000000) return false;
            v = v * 10 + (*p - '0');
        }
        if (np > 0 && digits != 2) return false;
        part[np++] = v;
        if (*p != ':') break;
        p++;
    }
    if (*p) return false;
    if (np == 1) *sec = part[0] * 60;
    else if (np == 3 && part[1] < 60 && part[2] < 60)
        *sec = part[0] * 3600 + part[1] * 60 + part[2];
    else return false;
    return *sec > 0;
}

static nd_status do_modules(jctx *c, yaml_node_t *v)
{
    nd_cfg_jobspec *job = c->job;
    if (v->type != YAML_SEQUENCE_NODE)
        return nd_cfg_yerr(&c->yd, v->start_mark, "modules: expected a list of module names, got %s",
                           nd_cfg_node_is_null(v) ? "nothing" : nd_cfg_node_kind(v));
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n == 0) return ND_OK;
    job->modules = ND_ALLOC_N(char *, n);
    if (!job->modules) return ND_ENOMEM;
    job->n_modules = n; /* entries NULL until set: nd_cfg_jobspec_free copes */
    for (size_t i = 0; i < n; i++) {
        char disp[40];
        snprintf(disp, sizeof disp, "modules[%zu]", i);
        ND_TRY(want_string(c, node(c, v->data.sequence.items.start[i]), disp,
                           &job->modules[i]));
    }
    return ND_OK;
}

/* environment and params: mappings of identifier -> scalar. */
static nd_status do_scalar_map(jctx *c, yaml_node_t *v, const char *what, nd_kv *out)
{
    if (v->type != YAML_MAPPING_NODE)
        return nd_cfg_yerr(&c->yd, v->start_mark, "%s: expected a mapping, got %s", what,
                           nd_cfg_node_is_null(v) ? "nothing" : nd_cfg_node_kind(v));
    ND_TRY(nd_cfg_check_mapping(&c->yd, v, what));
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key), *val = node(c, p->value);
        const char *name = nd_cfg_node_text(k);
        if (!is_ident(name))
            return nd_cfg_yerr(&c->yd, k->start_mark,
                               "%s: bad name '%s' (letters, digits and '_', not starting with a digit)",
                               what, name);
        char disp[200];
        snprintf(disp, sizeof disp, "%s.%s", what, name);
        const char *s;
        ND_TRY(want_scalar(c, val, disp, "a scalar value", &s));
        ND_TRY(nd_kv_set(out, name, s));
    }
    return ND_OK;
}

/* config: validated against the config key table on a scratch nd_cfg; what the file
 * set is recorded as canonical text. */
static nd_status do_config(jctx *c, yaml_node_t *v)
{
    if (v->type != YAML_MAPPING_NODE)
        return nd_cfg_yerr(&c->yd, v->start_mark, "config: expected a mapping of config keys, got %s",
                           nd_cfg_node_is_null(v) ? "nothing" : nd_cfg_node_kind(v));
    nd_cfg scratch;
    ND_TRY(nd_cfg_init(&scratch));
    nd_status st = nd_cfg_apply_yaml(&scratch, &c->yd, v, "config.");
    nd_strbuf sb;
    nd_sb_init(&sb);
    for (int k = 0; k < ND_CFG_NKEYS && st == ND_OK; k++) {
        if (scratch.origin[k].src != ND_CFG_SRC_FILE) continue;
        sb.len = 0;
        st = nd_sb_puts(&sb, "");
        if (st == ND_OK) st = nd_cfg_value_str(&scratch, (nd_cfg_key)k, &sb);
        if (st == ND_OK)
            st = nd_kv_set(&c->job->config, nd_cfg_key_path((nd_cfg_key)k), sb.data);
    }
    nd_sb_free(&sb);
    nd_cfg_free(&scratch);
    return st;
}

static nd_status do_sweep(jctx *c, yaml_node_t *v, yaml_node_t *sweep_key)
{
    nd_cfg_jobspec *job = c->job;
    if (v->type != YAML_MAPPING_NODE)
        return nd_cfg_yerr(&c->yd, v->start_mark,
                           "sweep: expected a mapping of parameter -> list of values, got %s",
                           nd_cfg_node_is_null(v) ? "nothing" : nd_cfg_node_kind(v));
    ND_TRY(nd_cfg_check_mapping(&c->yd, v, "sweep"));
    size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    if (n == 0) return ND_OK;
    job->sweep = ND_ALLOC_N(nd_cfg_jobspec_sweep, n);
    if (!job->sweep) return ND_ENOMEM;
    job->n_sweep = n; /* entries zeroed until filled: nd_cfg_jobspec_free copes */
    uint64_t total = 1;
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &v->data.mapping.pairs.start[i];
        yaml_node_t *k = node(c, p->key), *list = node(c, p->value);
        const char *name = nd_cfg_node_text(k);
        if (!is_ident(name))
            return nd_cfg_yerr(&c->yd, k->start_mark,
                               "sweep: bad parameter name '%s' (letters, digits and '_', not starting with a digit)",
                               name);
        if (nd_kv_get(&job->params, name))
            return nd_cfg_yerr(&c->yd, k->start_mark,
                               "sweep.%s: also set in params (a parameter is either fixed or swept)",
                               name);
        if (list->type != YAML_SEQUENCE_NODE)
            return nd_cfg_yerr(&c->yd, list->start_mark, "sweep.%s: expected a list of values, got %s",
                               name, nd_cfg_node_is_null(list) ? "nothing" : nd_cfg_node_kind(list));
        size_t m = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
        if (m == 0)
            return nd_cfg_yerr(&c->yd, list->start_mark, "sweep.%s: the list of values is empty",
                               name);
        nd_cfg_jobspec_sweep *sw = &job->sweep[i];
        if (!(sw->name = nd_strdup(name))) return ND_ENOMEM;
        if (!(sw->values = ND_ALLOC_N(char *, m))) return ND_ENOMEM;
        sw->n = m;
        for (size_t j = 0; j < m; j++) {
            char disp[200];
            snprintf(disp, sizeof disp, "sweep.%s[%zu]", name, j);
            ND_TRY(want_string(c, node(c, list->data.sequence.items.start[j]), disp,
                               &sw->values[j]));
        }
        total *= m;
        if (total > MAX_TASKS)
            return nd_cfg_yerr(&c->yd, sweep_key->start_mark,
                               "sweep: more than %u combinations", MAX_TASKS);
    }
    return ND_OK;
}

/* The default job name: the program's file name without directory and extension,
 * other characters than [A-Za-z0-9_.-] replaced by '_'. */
static nd_status default_name(nd_cfg_jobspec *job)
{
    const char *b = strrchr(job->program, '/');
    b = b ? b + 1 : job->program;
    const char *dot = strrchr(b, '.');
    size_t n = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    /* cut before copying: nd_strfree frees strlen + 1 bytes, so no NUL may move in */
    if (n > JOB_NAME_MAX) n = JOB_NAME_MAX;
    if (!(job->name = nd_strndup(b, n ? n : 3))) return ND_ENOMEM;
    if (!n) memcpy(job->name, "job", 3);
    for (char *p = job->name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_.-", *p)) *p = '_';
    if (job->name[0] == '.' || job->name[0] == '-') job->name[0] = '_';
    return ND_OK;
}

static const char *const top_keys[] = {"name",    "program",     "ranks",  "nodes", "time",
                                       "partition", "account",   "gpus",   "modules",
                                       "environment", "config",  "params", "sweep",
                                       "throttle"};

static nd_status load(jctx *c)
{
    nd_cfg_jobspec *job = c->job;
    yaml_node_t *root = c->yd.root;
    yaml_mark_t start = {0, 0, 0};
    if (!root || nd_cfg_node_is_null(root))
        return nd_cfg_yerr(&c->yd, start, "missing required key 'program'");
    if (root->type != YAML_MAPPING_NODE)
        return nd_cfg_yerr(&c->yd, root->start_mark,
                           "the top level of a job spec must be a mapping of keys, got %s",
                           nd_cfg_node_kind(root));
    ND_TRY(nd_cfg_check_mapping(&c->yd, root, ""));
    yaml_node_t *sweep = NULL, *sweep_key = NULL, *nodes_v = NULL, *name_v = NULL;
    bool have_program = false;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
        const char *key = nd_cfg_node_text(k);
        size_t which = ND_ARRAY_LEN(top_keys);
        for (size_t i = 0; i < ND_ARRAY_LEN(top_keys); i++)
            if (strcmp(top_keys[i], key) == 0) which = i;
        switch (which) {
        case 0:
            ND_TRY(want_string(c, v, "name", &job->name));
            if (!is_job_name(job->name))
                return nd_cfg_yerr(&c->yd, v->start_mark,
                                   "name: expected 1 to 128 letters, digits, '_', '.' or '-', "
                                   "not starting with '.' or '-', got '%s'",
                                   job->name);
            name_v = v;
            break;
        case 1: {
            ND_TRY(want_string(c, v, "program", &job->program));
            if (!nd_path_is_source(job->program) && !nd_path_is_bytecode(job->program))
                return nd_cfg_yerr(&c->yd, v->start_mark,
                                   "program: expected a .noodle or .nbc file, got '%s'",
                                   job->program);
            have_program = true;
            break;
        }
        case 2: ND_TRY(want_int(c, v, "ranks", 1, 1000000, &job->ranks)); break;
        case 3:
            ND_TRY(want_int(c, v, "nodes", 1, 100000, &job->nodes));
            nodes_v = v;
            break;
        case 4: {
            const char *s;
            ND_TRY(want_scalar(c, v, "time", "H:MM:SS or a number of minutes", &s));
            if (!parse_time(s, &job->time))
                return nd_cfg_yerr(&c->yd, v->start_mark,
                                   "time: expected H:MM:SS or a number of minutes, got '%s'", s);
            break;
        }
        case 5: ND_TRY(want_string(c, v, "partition", &job->partition)); break;
        case 6: ND_TRY(want_string(c, v, "account", &job->account)); break;
        case 7: ND_TRY(want_int(c, v, "gpus", 0, 1024, &job->gpus)); break;
        case 8: ND_TRY(do_modules(c, v)); break;
        case 9: ND_TRY(do_scalar_map(c, v, "environment", &job->environment)); break;
        case 10: ND_TRY(do_config(c, v)); break;
        case 11: ND_TRY(do_scalar_map(c, v, "params", &job->params)); break;
        case 12: sweep = v, sweep_key = k; break; /* after params: names must not clash */
        case 13: ND_TRY(want_int(c, v, "throttle", 1, 1000000, &job->throttle)); break;
        default: return nd_cfg_yerr(&c->yd, k->start_mark, "unknown key '%s'", key);
        }
    }
    if (!have_program)
        return nd_cfg_yerr(&c->yd, root->start_mark, "missing required key 'program'");
    if (nodes_v && job->nodes > job->ranks)
        return nd_cfg_yerr(&c->yd, nodes_v->start_mark, "nodes: %d nodes for %d ranks", job->nodes,
                           job->ranks);
    if (sweep) ND_TRY(do_sweep(c, sweep, sweep_key));
    if (!name_v) ND_TRY(default_name(job));
    return ND_OK;
}

/* nd_cfg_jobspec_load (data == NULL: read path) or nd_cfg_jobspec_load_text. */
static nd_status load_spec(const char *path, const char *data, size_t len, nd_cfg_jobspec *job)
{
    memset(job, 0, sizeof *job);
    job->ranks = 1;
    if (!(job->path = nd_strdup(path))) return ND_ENOMEM;
    jctx c = {.job = job};
    nd_status st = data ? nd_cfg_ydoc_load_mem(path, data, len, &c.yd)
                        : nd_cfg_ydoc_load(path, &c.yd);
    if (st == ND_OK) {
        st = load(&c);
        nd_cfg_ydoc_free(&c.yd);
    }
    if (st != ND_OK) nd_cfg_jobspec_free(job);
    return st;
}

nd_status nd_cfg_jobspec_load(const char *path, nd_cfg_jobspec *job)
{
    return load_spec(path, NULL, 0, job);
}

nd_status nd_cfg_jobspec_load_text(const char *path, const char *data, size_t len,
                                   nd_cfg_jobspec *job)
{
    return load_spec(path, data ? data : "", len, job);
}

void nd_cfg_jobspec_free(nd_cfg_jobspec *job)
{
    nd_strfree(job->path);
    nd_strfree(job->name);
    nd_strfree(job->program);
    nd_strfree(job->partition);
    nd_strfree(job->account);
    for (size_t i = 0; i < job->n_modules; i++) nd_strfree(job->modules[i]);
    ND_FREE_N(job->modules, job->n_modules);
    nd_kv_free(&job->environment);
    nd_kv_free(&job->config);
    nd_kv_free(&job->params);
    for (size_t i = 0; i < job->n_sweep; i++) {
        for (size_t j = 0; j < job->sweep[i].n; j++) nd_strfree(job->sweep[i].values[j]);
        ND_FREE_N(job->sweep[i].values, job->sweep[i].n);
        nd_strfree(job->sweep[i].name);
    }
    ND_FREE_N(job->sweep, job->n_sweep);
    memset(job, 0, sizeof *job);
}

uint64_t nd_cfg_jobspec_count(const nd_cfg_jobspec *job)
{
    uint64_t n = 1;
    for (size_t i = 0; i < job->n_sweep; i++) n *= job->sweep[i].n; /* <= MAX_TASKS */
    return n;
}

nd_status nd_cfg_jobspec_task(const nd_cfg_jobspec *job, uint64_t index, const char **names,
                          const char **values, size_t cap, size_t *n)
{
    uint64_t count = nd_cfg_jobspec_count(job);
    ND_CHECK(index < count, ND_EUSAGE, "%s: task %llu out of range (the sweep has %llu tasks)",
             job->path, (unsigned long long)index, (unsigned long long)count);
    size_t np = job->params.n, total = np + job->n_sweep;
    *n = total;
    for (size_t i = 0; i < np && i < cap; i++)
        names[i] = job->params.keys[i], values[i] = job->params.vals[i];
    uint64_t rest = index;
    for (size_t d = job->n_sweep; d-- > 0;) {
        const nd_cfg_jobspec_sweep *sw = &job->sweep[d];
        size_t pick = (size_t)(rest % sw->n);
        rest /= sw->n;
        if (np + d < cap) names[np + d] = sw->name, values[np + d] = sw->values[pick];
    }
    return ND_OK;
}

void nd_cfg_jobspec_time_str(const nd_cfg_jobspec *job, char *buf, size_t size)
{
    if (!job->time) {
        if (size) buf[0] = '\0';
        return;
    }
    snprintf(buf, size, "%lld:%02lld:%02lld", (long long)(job->time / 3600),
             (long long)(job->time / 60 % 60), (long long)(job->time % 60));
}
