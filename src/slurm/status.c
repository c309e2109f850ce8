/* status.c: what noodle-status shows: a job's state, elapsed time and restart count
 * (scontrol show job; sacct needs an accounting daemon and is not used), its progress
 * lines, its newest checkpoint and the results it stored in the catalog.
 *
 * Invariant: the paths come from the `# noodle-job:` lines of the job's own batch
 * script (written by noodle-submit), so status finds exactly the directories the job
 * uses.  Specified by docs/slurm.md ("noodle-status").
 */
#include "slurm/slurm.h"

#include "common/alloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- scontrol show job -o ---- */

/* Whether p starts a field: a key of [A-Za-z][A-Za-z0-9_:/]* and '='. */
static size_t key_len(const char *p)
{
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))) return 0;
    size_t n = 1;
    while ((p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= 'a' && p[n] <= 'z') ||
           (p[n] >= '0' && p[n] <= '9') || p[n] == '_' || p[n] == ':' || p[n] == '/')
        n++;
    return p[n] == '=' ? n : 0;
}

static nd_status parse_line(const char *p, const char *end, nd_slurm_jobrec *r)
{
    while (p < end && *p == ' ') p++;
    while (p < end) {
        size_t kl = key_len(p);
        ND_CHECK(kl > 0, ND_EINVALID, "unexpected scontrol output near '%.20s'", p);
        const char *v = p + kl + 1, *q = v;
        /* the value runs up to the next " Key=" (values such as Command may hold spaces) */
        while (q < end && !(*q == ' ' && q + 1 < end && key_len(q + 1))) q++;
        const char *vend = q;
        while (vend > v && vend[-1] == ' ') vend--;
        char *key = nd_strndup(p, kl), *val = nd_strndup(v, (size_t)(vend - v));
        nd_status st = key && val ? nd_kv_set(&r->f, key, val) : ND_ENOMEM;
        nd_strfree(key);
        nd_strfree(val);
        ND_TRY(st);
        p = q;
        while (p < end && *p == ' ') p++;
    }
    return ND_OK;
}

void nd_slurm_jobrecs_free(nd_slurm_jobrec *recs, size_t n)
{
    for (size_t k = 0; k < n; k++) nd_kv_free(&recs[k].f);
    if (recs) ND_FREE_N(recs, n ? n : 1);
}

/* Counts the non-blank lines; with r, parses each (trimmed) into the next record. */
static size_t each_line(const char *text, nd_slurm_jobrec *r, nd_status *st)
{
    size_t count = 0;
    for (const char *p = text; *p && *st == ND_OK;) {
        const char *e = strchr(p, '\n');
        if (!e) e = p + strlen(p);
        const char *s = p, *t = e;
        while (s < e && (*s == ' ' || *s == '\r')) s++;
        while (t > s && (t[-1] == ' ' || t[-1] == '\r')) t--;
        /* scontrol's answer when the queue is empty is a sentence, not a record */
        bool none = (size_t)(t - s) >= 21 && strncmp(s, "No jobs in the system", 21) == 0;
        if (t > s && !none) {
            if (r) {
                nd_kv_init(&r[count].f);
                *st = parse_line(s, t, &r[count]);
            }
            count++;
        }
        p = *e ? e + 1 : e;
    }
    return count;
}

nd_status nd_slurm_parse_jobs(const char *text, nd_slurm_jobrec **recs, size_t *n)
{
    nd_status st = ND_OK;
    size_t count = each_line(text, NULL, &st);
    nd_slurm_jobrec *r = ND_ALLOC_N(nd_slurm_jobrec, count ? count : 1);
    ND_CHECK(r, ND_ENOMEM, "out of memory");
    size_t done = each_line(text, r, &st);
    if (st != ND_OK) {
        for (size_t k = 0; k < done; k++) nd_kv_free(&r[k].f); /* incl. the failed one */
        ND_FREE_N(r, count ? count : 1);
        return st;
    }
    *recs = r;
    *n = count;
    return ND_OK;
}

const char *nd_slurm_field(const nd_slurm_jobrec *r, const char *key)
{
    return nd_kv_get(&r->f, key);
}

/* ---- files the job leaves ---- */

nd_status nd_slurm_script_meta(const char *script, nd_kv *meta)
{
    static const char tag[] = "# noodle-job: ";
    for (const char *p = script; *p;) {
        const char *e = strchr(p, '\n');
        if (!e) e = p + strlen(p);
        if ((size_t)(e - p) > sizeof tag - 1 && strncmp(p, tag, sizeof tag - 1) == 0) {
            const char *k = p + sizeof tag - 1;
            const char *eq = memchr(k, '=', (size_t)(e - k));
            if (eq && eq > k) {
                char *key = nd_strndup(k, (size_t)(eq - k));
                char *val = nd_strndup(eq + 1, (size_t)(e - eq - 1));
                nd_status st = key && val ? nd_kv_set(meta, key, val) : ND_ENOMEM;
                nd_strfree(key);
                nd_strfree(val);
                ND_TRY(st);
            }
        }
        p = *e ? e + 1 : e;
    }
    return ND_OK;
}

nd_status nd_slurm_newest_checkpoint(const char *dir, nd_strbuf *out, bool *found)
{
    *found = false;
    DIR *d = opendir(dir);
    if (!d) return ND_OK;
    unsigned long long best = 0;
    char name[256] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned long long seq;
        int n = 0;
        if (sscanf(e->d_name, "ckpt-%llu.h5%n", &seq, &n) == 1 && e->d_name[n] == '\0' &&
            seq > best && strlen(e->d_name) < sizeof name) {
            best = seq;
            strcpy(name, e->d_name);
        }
    }
    closedir(d);
    if (!best) return ND_OK;
    *found = true;
    return nd_sb_printf(out, "%s/%s", dir, name);
}

static bool progress_line(const char *s, size_t n)
{
    if (n >= 11 && strncmp(s, "noodle-run:", 11) == 0) return true;
    if (n >= 7 && strncmp(s, "noodle:", 7) == 0) return true;
    for (size_t k = 0; k + 8 <= n; k++)
        if (strncmp(s + k, "progress", 8) == 0) return true;
    return false;
}

nd_status nd_slurm_progress_tail(const char *path, size_t max_lines, nd_strbuf *out)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return ND_OK;
    /* only the end of a long output matters */
    long tail = 256 * 1024;
    if (fseek(fp, 0, SEEK_END) == 0) {
        long size = ftell(fp);
        fseek(fp, size > tail ? size - tail : 0, SEEK_SET);
    }
    nd_strbuf text;
    nd_sb_init(&text);
    char buf[8192];
    size_t n;
    nd_status st = ND_OK;
    while (st == ND_OK && (n = fread(buf, 1, sizeof buf, fp)) > 0) st = nd_sb_append(&text, buf, n);
    fclose(fp);
    if (st != ND_OK || !text.data) {
        nd_sb_free(&text);
        return st;
    }
    /* walk backwards collecting up to max_lines matching lines, then emit in order */
    const char **starts = ND_ALLOC_N(const char *, max_lines ? max_lines : 1);
    size_t *lens = ND_ALLOC_N(size_t, max_lines ? max_lines : 1);
    size_t got = 0;
    if (!starts || !lens) st = nd_err_set(ND_ENOMEM, "out of memory");
    const char *end = text.data + text.len;
    while (st == ND_OK && end > text.data && got < max_lines) {
        const char *e = end;
        if (e > text.data && e[-1] == '\n') e--;
        const char *s = e;
        while (s > text.data && s[-1] != '\n') s--;
        size_t len = (size_t)(e - s);
        if (len && s[len - 1] == '\r') len--;
        if (progress_line(s, len)) starts[got] = s, lens[got] = len, got++;
        end = s;
    }
    for (size_t k = got; k-- > 0 && st == ND_OK;) {
        st = nd_sb_append(out, starts[k], lens[k]);
        if (st == ND_OK) st = nd_sb_putc(out, '\n');
    }
    if (starts) ND_FREE_N(starts, max_lines ? max_lines : 1);
    if (lens) ND_FREE_N(lens, max_lines ? max_lines : 1);
    nd_sb_free(&text);
    return st;
}

/* ---- the report ---- */

static bool is_job_id(const char *s)
{
    if (!(*s >= '0' && *s <= '9')) return false;
    while (*s >= '0' && *s <= '9') s++;
    if (*s == '_') {
        s++;
        if (!(*s >= '0' && *s <= '9')) return false;
        while (*s >= '0' && *s <= '9') s++;
    }
    return *s == '\0';
}

static const char *field_or(const nd_slurm_jobrec *r, const char *key, const char *dflt)
{
    const char *v = nd_slurm_field(r, key);
    return v && *v ? v : dflt;
}

static void print_indented(FILE *out, const char *label, const char *text)
{
    bool first = true;
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        fprintf(out, "  %-11s %.*s\n", first ? label : "", (int)n, p);
        first = false;
        p += n + (e ? 1 : 0);
    }
    if (first) fprintf(out, "  %-11s (none)\n", label);
}

/* The job's own script: the file sbatch was given (Command=), else Slurm's copy. */
static nd_status job_meta(const nd_slurm_jobrec *r, nd_kv *meta)
{
    nd_strbuf text;
    nd_sb_init(&text);
    const char *cmd = nd_slurm_field(r, "Command");
    nd_status st = cmd && *cmd ? nd_slurm_read_file(cmd, &text) : ND_EUSAGE;
    if (st != ND_OK) {
        nd_err_clear();
        nd_sb_free(&text);
        nd_sb_init(&text);
        char *argv[] = {(char *)"scontrol", (char *)"write", (char *)"batch_script",
                        (char *)field_or(r, "JobId", "0"), (char *)"-", NULL};
        int rc = 0;
        nd_strbuf err;
        nd_sb_init(&err);
        st = nd_slurm_run(argv, &text, &err, &rc);
        nd_sb_free(&err);
        if (st == ND_OK && rc != 0) st = ND_EUSAGE;
    }
    if (st == ND_OK) st = nd_slurm_script_meta(text.data, meta);
    nd_sb_free(&text);
    if (st != ND_OK && st != ND_ENOMEM) {
        nd_err_clear();
        return ND_OK; /* not a noodle-submit job, or the script is gone: report less */
    }
    return st;
}

static void print_checkpoint(FILE *out, const nd_slurm_jobrec *r, const nd_kv *meta)
{
    const char *base = nd_kv_get(meta, "checkpoint_dir");
    if (!base) {
        fprintf(out, "  %-11s (unknown: not submitted by noodle-submit)\n", "checkpoint");
        return;
    }
    nd_strbuf dir, path;
    nd_sb_init(&dir);
    nd_sb_init(&path);
    const char *task = nd_slurm_field(r, "ArrayTaskId");
    bool single_task = task && is_job_id(task);
    if (nd_sb_puts(&dir, base) == ND_OK && single_task) nd_sb_printf(&dir, "/task-%s", task);
    bool found = false;
    if (task && !single_task) {
        fprintf(out, "  %-11s (pending tasks %s: none yet)\n", "checkpoint", task);
    } else if (dir.data && nd_slurm_newest_checkpoint(dir.data, &path, &found) == ND_OK &&
               found) {
        struct stat sb;
        char when[32] = "?";
        double mib = 0;
        if (stat(path.data, &sb) == 0) {
            struct tm tm;
            localtime_r(&sb.st_mtime, &tm);
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
            mib = (double)sb.st_size / (1024.0 * 1024.0);
        }
        fprintf(out, "  %-11s %s (%.1f MiB, written %s)\n", "checkpoint", path.data, mib, when);
    } else {
        fprintf(out, "  %-11s none in %s\n", "checkpoint", dir.data ? dir.data : base);
    }
    nd_sb_free(&dir);
    nd_sb_free(&path);
}

static void print_results(FILE *out, const nd_slurm_jobrec *r, const nd_kv *meta)
{
    const char *cat = nd_kv_get(meta, "catalog");
    const char *id = field_or(r, "JobId", "");
    struct stat sb;
    if (!cat || stat(cat, &sb) != 0) {
        fprintf(out, "  %-11s (no catalog%s%s)\n", "results", cat ? " at " : "", cat ? cat : "");
        return;
    }
    nd_strbuf mql, q, rows, err;
    nd_sb_init(&mql), nd_sb_init(&q), nd_sb_init(&rows), nd_sb_init(&err);
    int rc = -1;
    if (nd_slurm_find_tool("noodle-mql", &mql) == ND_OK &&
        nd_sb_printf(&q, "SELECT name, version, kind, value, created FROM results "
                         "WHERE job = '%s' ORDER BY created",
                     id) == ND_OK) {
        char *argv[] = {mql.data, (char *)cat, q.data, NULL};
        if (nd_slurm_run(argv, &rows, &err, &rc) != ND_OK) nd_err_clear(), rc = -1;
    }
    if (rc == 0 && rows.data) {
        size_t lines = 0;
        for (const char *p = rows.data; *p; p++) lines += *p == '\n';
        if (lines <= 2) /* a header (and its rule) only */
            fprintf(out, "  %-11s none stored by job %s in %s\n", "results", id, cat);
        else
            print_indented(out, "results", rows.data);
    } else {
        size_t n = err.data ? strcspn(err.data, "\n") : 0;
        fprintf(out, "  %-11s (could not query %s with noodle-mql%s%.*s)\n", "results", cat,
                n ? ": " : "", (int)n, n ? err.data : "");
    }
    nd_sb_free(&mql), nd_sb_free(&q), nd_sb_free(&rows), nd_sb_free(&err);
}

static nd_status print_job(FILE *out, const nd_slurm_jobrec *r)
{
    const char *id = field_or(r, "JobId", "?");
    const char *aj = nd_slurm_field(r, "ArrayJobId");
    const char *at = nd_slurm_field(r, "ArrayTaskId");
    if (aj && at)
        fprintf(out, "job %s (array %s_%s) %s\n", id, aj, at, field_or(r, "JobName", ""));
    else
        fprintf(out, "job %s %s\n", id, field_or(r, "JobName", ""));
    fprintf(out, "  %-11s %s (reason %s)\n", "state", field_or(r, "JobState", "?"),
            field_or(r, "Reason", "None"));
    fprintf(out, "  %-11s %s (limit %s)\n", "elapsed", field_or(r, "RunTime", "?"),
            field_or(r, "TimeLimit", "?"));
    fprintf(out, "  %-11s %s\n", "restarts", field_or(r, "Restarts", "0"));
    fprintf(out, "  %-11s %s, %s tasks\n", "nodes", field_or(r, "NodeList", "(none yet)"),
            field_or(r, "NumTasks", "?"));
    const char *so = field_or(r, "StdOut", "");
    fprintf(out, "  %-11s %s\n", "output", *so ? so : "?");

    nd_strbuf prog;
    nd_sb_init(&prog);
    const char *se = field_or(r, "StdErr", so);
    ND_TRY(nd_slurm_progress_tail(se, 4, &prog));
    print_indented(out, "progress", prog.data ? prog.data : "");
    nd_sb_free(&prog);

    nd_kv meta;
    nd_kv_init(&meta);
    nd_status st = job_meta(r, &meta);
    if (st == ND_OK) {
        print_checkpoint(out, r, &meta);
        print_results(out, r, &meta);
    }
    nd_kv_free(&meta);
    return st;
}

static unsigned long long group_id(const nd_slurm_jobrec *r)
{
    const char *a = nd_slurm_field(r, "ArrayJobId");
    const char *j = nd_slurm_field(r, "JobId");
    return strtoull(a ? a : j ? j : "0", NULL, 10);
}

int nd_slurm_status(const char *job, FILE *out)
{
    bool by_id = is_job_id(job);
    char *argv_id[] = {(char *)"scontrol", (char *)"show", (char *)"job", (char *)"-o",
                       (char *)job, NULL};
    char *argv_all[] = {(char *)"scontrol", (char *)"show", (char *)"job", (char *)"-o", NULL};
    nd_strbuf text, err;
    nd_sb_init(&text);
    nd_sb_init(&err);
    int rc = 0;
    nd_status st = nd_slurm_run(by_id ? argv_id : argv_all, &text, &err, &rc);
    if (st != ND_OK) {
        fprintf(stderr, "noodle-status: error: %s (is Slurm installed?)\n", nd_err_msg());
        nd_sb_free(&text);
        nd_sb_free(&err);
        return ND_EXIT_USAGE;
    }
    if (rc != 0) {
        if (by_id && err.data && strstr(err.data, "Invalid job id"))
            fprintf(stderr, "noodle-status: error: no job %s known to Slurm (finished "
                            "jobs are forgotten after MinJobAge)\n", job);
        else
            fprintf(stderr, "%snoodle-status: error: scontrol failed (exit %d): cannot ask "
                            "Slurm about job '%s'\n", err.data ? err.data : "", rc, job);
        nd_sb_free(&text);
        nd_sb_free(&err);
        return ND_EXIT_USAGE;
    }
    nd_sb_free(&err);
    nd_slurm_jobrec *recs = NULL;
    size_t n = 0;
    st = nd_slurm_parse_jobs(text.data, &recs, &n);
    nd_sb_free(&text);
    if (st != ND_OK) {
        fprintf(stderr, "noodle-status: error: %s\n", nd_err_msg());
        return ND_EXIT_PROGRAM;
    }
    /* by name: the newest job (or job array) of that name */
    unsigned long long want = 0;
    if (!by_id)
        for (size_t k = 0; k < n; k++) {
            const char *nm = nd_slurm_field(&recs[k], "JobName");
            if (nm && strcmp(nm, job) == 0 && group_id(&recs[k]) > want)
                want = group_id(&recs[k]);
        }
    size_t shown = 0;
    for (size_t k = 0; k < n && st == ND_OK; k++) {
        if (!by_id) {
            const char *nm = nd_slurm_field(&recs[k], "JobName");
            if (!nm || strcmp(nm, job) != 0 || group_id(&recs[k]) != want) continue;
        }
        if (shown++) fputc('\n', out);
        st = print_job(out, &recs[k]);
    }
    nd_slurm_jobrecs_free(recs, n);
    if (st != ND_OK) {
        fprintf(stderr, "noodle-status: error: %s\n", nd_err_msg());
        return ND_EXIT_PROGRAM;
    }
    if (!shown) {
        fprintf(stderr, "noodle-status: error: no job %s '%s' known to Slurm (finished jobs "
                        "are forgotten after MinJobAge)\n", by_id ? "with id" : "named", job);
        return ND_EXIT_USAGE;
    }
    return ND_EXIT_OK;
}
