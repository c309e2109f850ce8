/* audit.c: the catalog's audit log, <catalog>/audit.log: one text line per event (a
 * store, a result already present when the log began, a store that did not commit),
 * each ending in the SHA-256 of the previous line's hash and its own text, so that a
 * changed, removed or reordered line breaks the chain.  Writers append under the
 * exclusive index lock, before the rename that commits a result (nd_cat_index_commit):
 * entries are in commit order and no committed result is without its entry.
 * nd_cat_verify_audit checks the chain and that the result files and the log agree.
 * docs/catalog.md "The audit log" specifies the format.
 */
#include "catalog/cat_internal.h"

#include "common/alloc.h"
#include "common/hash.h"
#include "common/outfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HASH_HEX 64
/* What the first entry chains to. */
static const char genesis[HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";
/* Writers' lines are far shorter (every field is bounded; the signer is cut at
 * SIGNER_MAX bytes); a longer line is malformed. */
#define LINE_MAX_LEN 16384
#define SIGNER_MAX 1024
/* The fields after NAME@VERSION, in this order; then the hash. */
static const char *const keys[] = {"user", "uid", "host", "job", "program", "signer", "sum"};
#define NKEYS 7
#define NTOK (4 + NKEYS + 1)

/* One parsed entry (what the checks need of it). */
typedef struct entry {
    int64_t seq, version;
    char event[8];
    char name[130];
    char sum[17];   /* "" when the entry records none ("-") */
    char hash[HASH_HEX + 1];
    size_t content; /* bytes before " HASH": what the hash covers after the previous one */
} entry;

/* What an entry records besides the event and the result. */
typedef struct who {
    char user[64];
    long long uid;
    char host[128];
    const char *job, *program, *signer;
} who;

static char *cat_file(const nd_cat *cat, const char *rel)
{
    size_t n = strlen(cat->path) + strlen(rel) + 2;
    char *s = nd_malloc(n);
    if (s) snprintf(s, n, "%s/%s", cat->path, rel);
    return s;
}

static void hash_of(const char prev[HASH_HEX + 1], const char *content, size_t n, char out[HASH_HEX + 1])
{
    nd_sha256 s;
    uint8_t d[32];
    nd_sha256_init(&s);
    nd_sha256_update(&s, prev, HASH_HEX);
    nd_sha256_update(&s, content, n);
    nd_sha256_final(&s, d);
    nd_hex(d, sizeof d, out);
}

static void user_of(uid_t uid, char *out, size_t n)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    out[0] = '\0';
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res) snprintf(out, n, "%s", res->pw_name);
}

static void now_utc(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A field value: "-" when empty; bytes a reader could not split on or see (space and
 * below, DEL) and '%' as %XX; a literal "-" as %2D. */
static nd_status put_value(nd_strbuf *sb, const char *s, size_t max)
{
    if (!s || !*s) return nd_sb_putc(sb, '-');
    if (strcmp(s, "-") == 0) return nd_sb_puts(sb, "%2D");
    for (size_t i = 0; s[i] && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '%') ND_TRY(nd_sb_printf(sb, "%%%02X", c));
        else ND_TRY(nd_sb_putc(sb, (char)c));
    }
    return ND_OK;
}

/* Appends one entry to sb chained to prev, which becomes its hash. */
static nd_status put_entry(nd_strbuf *sb, int64_t seq, const char *when, const char *event,
                           const char *name, int64_t version, const who *w, const char *sum,
                           char prev[HASH_HEX + 1])
{
    size_t start = sb->len;
    ND_TRY(nd_sb_printf(sb, "%" PRId64 " %s %s %s@%" PRId64 " user=", seq, when, event, name, version));
    ND_TRY(put_value(sb, w->user, sizeof w->user));
    ND_TRY(nd_sb_printf(sb, " uid=%lld host=", w->uid));
    ND_TRY(put_value(sb, w->host, sizeof w->host));
    ND_TRY(nd_sb_puts(sb, " job="));
    ND_TRY(put_value(sb, w->job, 256));
    ND_TRY(nd_sb_puts(sb, " program="));
    ND_TRY(put_value(sb, w->program, 256));
    ND_TRY(nd_sb_puts(sb, " signer="));
    ND_TRY(put_value(sb, w->signer, SIGNER_MAX));
    ND_TRY(nd_sb_puts(sb, " sum="));
    ND_TRY(put_value(sb, sum, 16));
    char h[HASH_HEX + 1];
    hash_of(prev, sb->data + start, sb->len - start, h);
    memcpy(prev, h, sizeof h);
    return nd_sb_printf(sb, " %s\n", h);
}

static bool all_of(const char *s, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(set, s[i])) return false;
    return n > 0;
}

static bool parse_i64(const char *s, size_t n, int64_t *v)
{
    if (!all_of(s, n, "0123456789") || s[0] == '0' || n > 18) return false;
    *v = 0;
    for (size_t i = 0; i < n; i++) *v = *v * 10 + (s[i] - '0');
    return true;
}

/* Parses one line (n bytes, without its newline).  NULL when well formed, else what is
 * wrong.  Does not check the hash. */
static const char *parse_entry(const char *line, size_t n, entry *e)
{
    const char *tok[NTOK];
    size_t len[NTOK], k = 0, i = 0;
    memset(e, 0, sizeof *e);
    while (k < NTOK && i <= n) {
        size_t j = i;
        while (j < n && line[j] != ' ') j++;
        tok[k] = line + i, len[k] = j - i, k++;
        i = j + 1;
    }
    if (k != NTOK || i <= n) return "malformed (not 12 fields separated by single spaces)";
    for (k = 0; k < NTOK; k++) {
        if (len[k] == 0) return "malformed (an empty field)";
        for (size_t c = 0; c < len[k]; c++)
            if ((unsigned char)tok[k][c] < 0x20 || tok[k][c] == 0x7f) return "malformed (a control byte)";
    }
    if (!parse_i64(tok[0], len[0], &e->seq)) return "malformed (bad entry number)";
    static const char tfmt[] = "dddd-dd-ddTdd:dd:ddZ";
    bool tok_time = len[1] == sizeof tfmt - 1;
    for (size_t c = 0; tok_time && c < len[1]; c++)
        tok_time = tfmt[c] == 'd' ? tok[1][c] >= '0' && tok[1][c] <= '9' : tok[1][c] == tfmt[c];
    if (!tok_time) return "malformed (bad time)";
    if (len[2] >= sizeof e->event) return "malformed (unknown event)";
    memcpy(e->event, tok[2], len[2]);
    if (strcmp(e->event, "store") && strcmp(e->event, "adopt") && strcmp(e->event, "abort"))
        return "malformed (unknown event)";
    const char *at = memchr(tok[3], '@', len[3]);
    size_t nl = at ? (size_t)(at - tok[3]) : 0;
    if (!at || nl >= sizeof e->name) return "malformed (bad result NAME@VERSION)";
    memcpy(e->name, tok[3], nl);
    if (!nd_cat_name_valid(e->name) || !parse_i64(at + 1, len[3] - nl - 1, &e->version))
        return "malformed (bad result NAME@VERSION)";
    for (k = 0; k < NKEYS; k++) {
        const char *t = tok[4 + k];
        size_t kl = strlen(keys[k]);
        if (len[4 + k] <= kl + 1 || memcmp(t, keys[k], kl) != 0 || t[kl] != '=')
            return "malformed (the fields after the result must be user=, uid=, host=, job=, "
                   "program=, signer=, sum=)";
        const char *v = t + kl + 1;
        size_t vl = len[4 + k] - kl - 1;
        for (size_t c = 0; c < vl; c++)
            if (v[c] == '%' && (c + 2 >= vl || !all_of(v + c + 1, 2, "0123456789ABCDEF")))
                return "malformed (a bad %XX escape)";
        if (k == 1 && !all_of(v, vl, "0123456789")) return "malformed (bad uid)";
        if (k == 6) {
            if (vl == 16 && all_of(v, vl, "0123456789abcdef")) memcpy(e->sum, v, 16);
            else if (vl != 1 || v[0] != '-') return "malformed (bad sum)";
        }
    }
    if (len[NTOK - 1] != HASH_HEX || !all_of(tok[NTOK - 1], HASH_HEX, "0123456789abcdef"))
        return "malformed (bad hash)";
    memcpy(e->hash, tok[NTOK - 1], HASH_HEX);
    e->content = (size_t)(tok[NTOK - 1] - line) - 1;
    return NULL;
}

/* ---- the result files ---------------------------------------------------------------- */

/* Lists results/NAME/vN.h5, sorted by name and version (read-only: nothing removed). */
static nd_status list_files(const nd_cat *cat, nd_cat_files *l)
{
    memset(l, 0, sizeof *l);
    char *root = cat_file(cat, "results");
    if (!root) return ND_ENOMEM;
    nd_status st = nd_cat_list_files(root, l, false);
    nd_strfree(root);
    return st;
}

/* The digest a result file's checksum header records, as the log writes it ("" when
 * the file has none: a file from before checksums). */
static void sum_text(const char *path, char out[17])
{
    uint64_t d;
    if (nd_cat_sum_digest(path, &d)) snprintf(out, 17, "%016" PRIx64, d);
    else out[0] = '\0';
}

/* ---- appending ----------------------------------------------------------------------- */

/* The log open for appending, and its last entry (seq 0: the log is empty). */
typedef struct alog {
    int fd;
    char *path;
    off_t size;
    entry last;
    char last_line[LINE_MAX_LEN + 1];
} alog;

static void alog_close(alog *a)
{
    if (a->fd >= 0) close(a->fd);
    a->fd = -1;
    nd_strfree(a->path);
    a->path = NULL;
}

/* Reads the last line into a->last.  A partial last line (no newline: a writer died
 * while appending it, before its rename, so no result depends on it) is cut off; one
 * that is a whole entry but its newline (a writer writes both at once, so an edit) is
 * completed instead: a writer never removes an entry. */
static nd_status read_last(alog *a)
{
    memset(&a->last, 0, sizeof a->last);
    for (;;) {
        struct stat sb;
        if (fstat(a->fd, &sb) != 0) return nd_err_set(ND_EIO, "catalog: %s: %s", a->path, strerror(errno));
        a->size = sb.st_size;
        if (a->size == 0) return ND_OK;
        size_t want = a->size < LINE_MAX_LEN + 1 ? (size_t)a->size : LINE_MAX_LEN + 1;
        char *buf = a->last_line;
        ssize_t got = pread(a->fd, buf, want, a->size - (off_t)want);
        if (got != (ssize_t)want) return nd_err_set(ND_EIO, "catalog: cannot read %s", a->path);
        if (buf[want - 1] == '\n') {
            size_t s = want - 1;
            while (s > 0 && buf[s - 1] != '\n') s--;
            if (s == 0 && (off_t)want < a->size)
                return nd_err_set(ND_EINVALID, "catalog: the last entry of %s is malformed (too long): "
                                  "no store can be logged until it is repaired (noodle-mql CATALOG "
                                  "--verify-audit checks the log)", a->path);
            const char *why = parse_entry(buf + s, want - 1 - s, &a->last);
            if (why)
                return nd_err_set(ND_EINVALID, "catalog: the last entry of %s is %s: no store can be "
                                  "logged until it is repaired (noodle-mql CATALOG --verify-audit "
                                  "checks the log)", a->path, why);
            return ND_OK;
        }
        size_t s = want;
        while (s > 0 && buf[s - 1] != '\n') s--;
        if (s == 0 && (off_t)want < a->size)
            return nd_err_set(ND_EINVALID, "catalog: %s ends in a line too long to be an entry", a->path);
        entry e;
        if (!parse_entry(buf + s, want - s, &e)) {
            if (write(a->fd, "\n", 1) != 1 || fsync(a->fd) != 0)
                return nd_err_set(ND_EIO, "catalog: cannot append to %s: %s", a->path, strerror(errno));
            fprintf(stderr, "noodle: warning: catalog: the last entry of %s had no newline: added\n", a->path);
            continue;
        }
        off_t keep = a->size - (off_t)(want - s);
        if (ftruncate(a->fd, keep) != 0 || fsync(a->fd) != 0)
            return nd_err_set(ND_EIO, "catalog: cannot remove the partial entry at the end of %s: %s",
                              a->path, strerror(errno));
        fprintf(stderr, "noodle: warning: catalog: removed a partial entry (%lld bytes) at the end of "
                "%s: a writer died while appending it\n", (long long)(a->size - keep), a->path);
    }
}

/* Opens the log (created when missing: O_NOFOLLOW, a planted link is refused). */
static nd_status alog_open(nd_cat *cat, alog *a)
{
    memset(a, 0, sizeof *a);
    a->fd = -1;
    a->path = cat_file(cat, "audit.log");
    if (!a->path) return ND_ENOMEM;
    a->fd = open(a->path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
    if (a->fd < 0)
        return nd_err_set(ND_EIO, "catalog: cannot open %s: %s", a->path,
                          errno == ELOOP ? "it is a symbolic link" : strerror(errno));
    struct stat sb;
    if (fstat(a->fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return nd_err_set(ND_EIO, "catalog: %s is not a regular file", a->path);
    int fl = fcntl(a->fd, F_GETFL);
    if (fl >= 0) (void)fcntl(a->fd, F_SETFL, fl & ~O_NONBLOCK);
    nd_cat_share_fd(a->fd, a->path, true);
    return read_last(a);
}

/* Appends sb to the log and fsyncs it; on failure cuts the log back to where it was. */
static nd_status alog_write(alog *a, const nd_strbuf *sb)
{
    const char *p = sb->data;
    size_t n = sb->len;
    nd_status st = ND_OK;
    while (n > 0) {
        ssize_t w = write(a->fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            st = nd_err_set(ND_EIO, "catalog: cannot append to %s: %s", a->path,
                            strerror(w < 0 ? errno : ENOSPC));
            break;
        }
        p += w, n -= (size_t)w;
    }
    if (st == ND_OK && fsync(a->fd) != 0)
        st = nd_err_set(ND_EIO, "catalog: cannot fsync %s: %s", a->path, strerror(errno));
    if (st != ND_OK && ftruncate(a->fd, a->size) == 0) (void)fsync(a->fd);
    return st;
}

static void whoami(who *w, const nd_cat_prov *prov)
{
    memset(w, 0, sizeof *w);
    uid_t u = geteuid(); /* the identity the files are written with, not $USER */
    w->uid = (long long)u;
    user_of(u, w->user, sizeof w->user);
    if (gethostname(w->host, sizeof w->host - 1) != 0) w->host[0] = '\0';
    w->job = prov->job;
    w->program = prov->program_hash;
    w->signer = prov->signer;
}

static bool file_exists(const nd_cat *cat, const char *name, int64_t version)
{
    char *p = nd_cat_version_path(cat, name, version);
    struct stat sb;
    bool yes = p && lstat(p, &sb) == 0;
    if (p) nd_strfree(p);
    return yes;
}

/* The entries of a log that begins now: one `adopt` per result file already present
 * (its owner, its digest), in name and version order. */
static nd_status put_adopted(nd_cat *cat, nd_strbuf *sb, int64_t *seq, const char *when,
                             char prev[HASH_HEX + 1])
{
    nd_cat_files l;
    ND_TRY(list_files(cat, &l));
    nd_status st = ND_OK;
    for (size_t i = 0; st == ND_OK && i < l.n; i++) {
        char *p = nd_cat_version_path(cat, l.v[i].name, l.v[i].version);
        struct stat fs;
        who w;
        memset(&w, 0, sizeof w);
        char sum[17];
        if (!p) {
            st = ND_ENOMEM;
            break;
        }
        if (stat(p, &fs) == 0) {
            w.uid = (long long)fs.st_uid;
            user_of(fs.st_uid, w.user, sizeof w.user);
        }
        sum_text(p, sum);
        nd_strfree(p);
        st = put_entry(sb, ++*seq, when, "adopt", l.v[i].name, l.v[i].version, &w, sum, prev);
    }
    nd_cat_files_free(&l);
    return st;
}

nd_status nd_cat_audit_store(nd_cat *cat, const char *name, int64_t version,
                             const char *tmp_path, const nd_cat_prov *prov)
{
    char sum[17];
    sum_text(tmp_path, sum);
    if (!sum[0]) return nd_err_set(ND_EIO, "catalog: %s has no checksum to log", tmp_path);
    alog a;
    nd_status st = alog_open(cat, &a);
    nd_strbuf sb;
    nd_sb_init(&sb);
    char when[32], prev[HASH_HEX + 1];
    now_utc(when);
    int64_t seq = a.last.seq;
    memcpy(prev, a.last.seq ? a.last.hash : genesis, sizeof prev);
    who w;
    whoami(&w, prov);
    if (st == ND_OK && seq == 0) {
        st = put_adopted(cat, &sb, &seq, when, prev);
    } else if (st == ND_OK && strcmp(a.last.event, "store") == 0 &&
               !file_exists(cat, a.last.name, a.last.version)) {
        /* Under the lock, a logged store without its file never committed: its writer
         * died between its entry and its rename.  Say so before going on. */
        st = put_entry(&sb, ++seq, when, "abort", a.last.name, a.last.version, &w, NULL, prev);
    }
    if (st == ND_OK) st = put_entry(&sb, ++seq, when, "store", name, version, &w, sum, prev);
    if (st == ND_OK) st = alog_write(&a, &sb);
    nd_sb_free(&sb);
    alog_close(&a);
    return st;
}

void nd_cat_audit_abort(nd_cat *cat, const char *name, int64_t version, const nd_cat_prov *prov)
{
    nd_status keep = nd_last_error.status;
    char msg[sizeof nd_last_error.msg];
    snprintf(msg, sizeof msg, "%s", nd_err_msg());
    alog a;
    nd_status st = alog_open(cat, &a);
    nd_strbuf sb;
    nd_sb_init(&sb);
    /* only right after our own entry: anything else is left to the next store */
    if (st == ND_OK && (strcmp(a.last.event, "store") || strcmp(a.last.name, name) || a.last.version != version))
        st = nd_err_set(ND_EINTERNAL, "its last entry is not the store of %s@%" PRId64, name, version);
    char when[32], prev[HASH_HEX + 1];
    now_utc(when);
    memcpy(prev, a.last.hash, sizeof prev);
    who w;
    whoami(&w, prov);
    if (st == ND_OK) st = put_entry(&sb, a.last.seq + 1, when, "abort", name, version, &w, NULL, prev);
    if (st == ND_OK) st = alog_write(&a, &sb);
    if (st != ND_OK)
        fprintf(stderr, "noodle: warning: catalog: cannot log the abort of the store of %s@%" PRId64
                " (the next store logs it): %s\n", name, version, nd_err_msg());
    nd_sb_free(&sb);
    alog_close(&a);
    nd_err_set(keep, "%s", msg);
}

/* ---- verification -------------------------------------------------------------------- */

/* An entry that names a result file: a store (possibly aborted by the entry right after
 * it) or an adopt. */
typedef struct rec {
    char *name;
    int64_t version;
    size_t line;
    char sum[17];
    bool adopted, aborted, seen;
} rec;

typedef struct vctx {
    const char *logp;
    nd_strbuf *out;
    size_t nprob, nlines, nstore, nadopt, nabort;
    char first[sizeof nd_last_error.msg];
    rec *recs;
    size_t nrec, cap;
    entry last;
    char prev[HASH_HEX + 1];
} vctx;

#define MAX_SHOWN 20

static void problem(vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(vctx *v, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (v->nprob == 0) snprintf(v->first, sizeof v->first, "%s", buf);
    if (v->nprob < MAX_SHOWN) (void)nd_sb_printf(v->out, "%s\n", buf);
    v->nprob++;
}

static void recs_free(vctx *v)
{
    for (size_t i = 0; i < v->nrec; i++) nd_strfree(v->recs[i].name);
    if (v->recs) ND_FREE_N(v->recs, v->cap);
    v->recs = NULL;
    v->nrec = v->cap = 0;
}

/* Checks line `lineno` (n bytes, no newline) and its link to the chain.  ND_EINVALID
 * (after saying why) where the chain breaks. */
static nd_status check_line(vctx *v, const char *line, size_t n, size_t lineno)
{
    entry e;
    const char *why = parse_entry(line, n, &e);
    if (why) {
        problem(v, "%s: line %zu: %s", v->logp, lineno, why);
        return ND_EINVALID;
    }
    if (e.seq != (int64_t)lineno) {
        problem(v, "%s: line %zu: entry number %" PRId64 " where %zu was expected (an entry was "
                "removed, inserted or moved)", v->logp, lineno, e.seq, lineno);
        return ND_EINVALID;
    }
    char h[HASH_HEX + 1];
    hash_of(v->prev, line, e.content, h);
    if (strcmp(h, e.hash) != 0) {
        problem(v, "%s: line %zu: hash mismatch (the entry was changed, or the log before it "
                "rewritten)", v->logp, lineno);
        return ND_EINVALID;
    }
    memcpy(v->prev, h, sizeof h);
    bool store = strcmp(e.event, "store") == 0, adopt = strcmp(e.event, "adopt") == 0;
    if (!store && !adopt) { /* an abort cancels the store right before it */
        if (strcmp(v->last.event, "store") || strcmp(v->last.name, e.name) || v->last.version != e.version) {
            problem(v, "%s: line %zu: abort of %s@%" PRId64 ", which the entry before does not store",
                    v->logp, lineno, e.name, e.version);
            return ND_EINVALID;
        }
        v->recs[v->nrec - 1].aborted = true;
        v->nabort++;
    } else {
        if (adopt && lineno > 1 && strcmp(v->last.event, "adopt") != 0) {
            problem(v, "%s: line %zu: adopt of %s@%" PRId64 " after the log began (results are adopted "
                    "only by its first entries)", v->logp, lineno, e.name, e.version);
            return ND_EINVALID;
        }
        if (v->nrec == v->cap) {
            size_t nc = v->cap ? v->cap * 2 : 256;
            rec *t = ND_REALLOC_N(rec, v->recs, v->cap, nc);
            if (!t) return ND_ENOMEM;
            v->recs = t, v->cap = nc;
        }
        rec *r = &v->recs[v->nrec];
        memset(r, 0, sizeof *r);
        r->name = nd_strdup(e.name);
        if (!r->name) return ND_ENOMEM;
        r->version = e.version, r->line = lineno, r->adopted = adopt;
        memcpy(r->sum, e.sum, sizeof r->sum);
        v->nrec++;
        if (store) v->nstore++;
        else v->nadopt++;
    }
    v->last = e;
    return ND_OK;
}

/* Reads the log line by line through the chain; *broken := where it breaks (said). */
static nd_status read_chain(vctx *v, int fd, bool *broken)
{
    static char buf[1 << 16];
    nd_strbuf line;
    nd_sb_init(&line);
    memcpy(v->prev, genesis, sizeof v->prev);
    nd_status st = ND_OK;
    while (st == ND_OK && !*broken) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            problem(v, "%s: read error: %s", v->logp, strerror(errno));
            *broken = true;
        }
        if (r <= 0) break;
        size_t i = 0;
        while (st == ND_OK && !*broken && i < (size_t)r) {
            const char *nl = memchr(buf + i, '\n', (size_t)r - i);
            size_t take = nl ? (size_t)(nl - (buf + i)) : (size_t)r - i;
            if (line.len + take > LINE_MAX_LEN) {
                problem(v, "%s: line %zu: malformed (longer than %d bytes)", v->logp, v->nlines + 1,
                        LINE_MAX_LEN);
                *broken = true;
                break;
            }
            st = nd_sb_append(&line, buf + i, take);
            i += take;
            if (st == ND_OK && nl) {
                i++;
                st = check_line(v, line.data ? line.data : "", line.len, ++v->nlines);
                if (st == ND_EINVALID) *broken = true, st = ND_OK;
                line.len = 0;
            }
        }
    }
    if (st == ND_OK && !*broken && line.len) {
        problem(v, "%s: line %zu: truncated (the last line has no newline: a writer died while "
                "appending it, or the log was cut; the next store removes a partial last line)",
                v->logp, v->nlines + 1);
        *broken = true;
    }
    nd_sb_free(&line);
    return st;
}

static int cmp_rec(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    if (x->version != y->version) return (x->version > y->version) - (x->version < y->version);
    return (x->line > y->line) - (x->line < y->line);
}

/* Every result file has an entry recording its digest; every entry's file exists. */
static nd_status cross_check(const nd_cat *cat, vctx *v, const nd_cat_files *files)
{
    if (v->nrec) qsort(v->recs, v->nrec, sizeof *v->recs, cmp_rec);
    for (size_t i = 1; i < v->nrec; i++) {
        const rec *a = &v->recs[i - 1], *b = &v->recs[i];
        if (!a->aborted && !b->aborted && a->version == b->version && strcmp(a->name, b->name) == 0)
            problem(v, "%s: line %zu: %s@%" PRId64 " already has an entry (line %zu)", v->logp, b->line,
                    b->name, b->version, a->line);
    }
    for (size_t k = 0; k < files->n; k++) {
        const nd_cat_file *f = &files->v[k];
        size_t lo = 0, hi = v->nrec;
        while (lo < hi) { /* the first entry of f's name and version */
            size_t mid = lo + (hi - lo) / 2;
            const rec *r = &v->recs[mid];
            int c = strcmp(r->name, f->name);
            if (c < 0 || (c == 0 && r->version < f->version)) lo = mid + 1;
            else hi = mid;
        }
        rec *hit = NULL, *aborted = NULL;
        for (size_t i = lo; i < v->nrec && v->recs[i].version == f->version &&
                            strcmp(v->recs[i].name, f->name) == 0; i++) {
            if (!v->recs[i].aborted && !hit) hit = &v->recs[i];
            if (v->recs[i].aborted) aborted = &v->recs[i];
        }
        char *p = nd_cat_version_path(cat, f->name, f->version);
        if (!p) return ND_ENOMEM;
        if (!hit && aborted) {
            problem(v, "%s: exists, but the log says its store did not commit (line %zu)", p, aborted->line);
        } else if (!hit) {
            problem(v, "%s: not in the audit log", p);
        } else {
            hit->seen = true;
            char sum[17];
            if (hit->sum[0]) sum_text(p, sum);
            if (hit->sum[0] && !sum[0]) { /* unreadable, or no header to compare */
                int fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC), err = errno;
                if (fd >= 0) close(fd);
                if (fd < 0)
                    problem(v, "%s: cannot read it to compare with its entry (line %zu): %s", p,
                            hit->line, strerror(err));
                else
                    problem(v, "%s: no valid checksum header to compare with its entry (line %zu)", p,
                            hit->line);
            }
            else if (hit->sum[0] && strcmp(sum, hit->sum) != 0)
                problem(v, "%s: its checksum %s differs from the one its entry records, %s (line %zu): the "
                        "file was replaced or changed after it was logged", p, sum, hit->sum, hit->line);
        }
        nd_strfree(p);
    }
    for (size_t i = 0; i < v->nrec; i++) {
        const rec *r = &v->recs[i];
        if (r->aborted || r->seen) continue;
        if (r->line == v->nlines && !r->adopted)
            (void)nd_sb_printf(v->out, "note: %s: line %zu: %s@%" PRId64 " has no result file: its store "
                               "did not commit (its writer died before the rename; the next store "
                               "logs an abort)\n", v->logp, r->line, r->name, r->version);
        else
            problem(v, "%s: line %zu: the result file of %s@%" PRId64 " is missing (removed after it "
                    "was logged)", v->logp, r->line, r->name, r->version);
    }
    return ND_OK;
}

static nd_status verify(nd_cat *cat, nd_strbuf *out)
{
    vctx v;
    memset(&v, 0, sizeof v);
    v.out = out;
    char *logp = cat_file(cat, "audit.log"), *lockp = cat_file(cat, "index.lock");
    v.logp = logp;
    nd_status st = logp && lockp ? ND_OK : ND_ENOMEM;
    /* shared: no store is between its entry and its rename meanwhile (a reader without
     * write access can lock too) */
    int lfd = st == ND_OK ? nd_open_regular(lockp, O_RDONLY, 0) : -1;
    if (lfd >= 0)
        while (flock(lfd, LOCK_SH) != 0 && errno == EINTR) {
        }
    bool broken = false, nolog = false;
    int fd = st == ND_OK ? open(logp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) : -1;
    struct stat sb;
    if (st != ND_OK) {
    } else if (fd < 0 && errno == ENOENT) {
        nolog = true;
    } else if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        problem(&v, "%s: cannot read it: %s", logp,
                fd >= 0 ? "not a regular file" : errno == ELOOP ? "it is a symbolic link" : strerror(errno));
        broken = true;
    } else {
        st = read_chain(&v, fd, &broken);
    }
    if (fd >= 0) close(fd);
    if (st == ND_OK && !broken && v.nlines == 0) nolog = true; /* a writer begins it anew too */
    nd_cat_files files;
    memset(&files, 0, sizeof files);
    if (st == ND_OK && !broken) st = list_files(cat, &files);
    if (st == ND_OK && !broken && nolog && files.n)
        problem(&v, "%s: missing or empty: %zu result file%s in no audit log (a catalog from before "
                "audit logs: the next store starts the log and records them as adopted)", logp, files.n,
                files.n == 1 ? " is" : "s are");
    else if (st == ND_OK && !broken)
        st = cross_check(cat, &v, &files);
    if (st == ND_OK && v.nprob == 0)
        (void)nd_sb_printf(out, "audit: OK: %zu entr%s (%zu stores, %zu adopted, %zu aborted), %zu result "
                           "file%s, each with its entry\n", v.nlines, v.nlines == 1 ? "y" : "ies",
                           v.nstore, v.nadopt, v.nabort, files.n, files.n == 1 ? "" : "s");
    else if (st == ND_OK)
        (void)nd_sb_printf(out, "%saudit: FAILED: %zu problem%s\n",
                           v.nprob > MAX_SHOWN ? "(more problems not shown)\n" : "", v.nprob,
                           v.nprob == 1 ? "" : "s");
    if (lfd >= 0) {
        flock(lfd, LOCK_UN);
        close(lfd);
    }
    nd_cat_files_free(&files);
    recs_free(&v);
    if (st == ND_OK && v.nprob) st = nd_err_set(ND_EINVALID, "%s", v.first);
    nd_strfree(logp);
    nd_strfree(lockp);
    return st;
}

nd_status nd_cat_verify_audit(nd_cat *cat, nd_strbuf *report)
{
    nd_status st = ND_OK;
    if (cat->rank == 0) st = verify(cat, report);
    return nd_cat_share_status(cat, st);
}
