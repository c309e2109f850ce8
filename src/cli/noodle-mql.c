/* noodle-mql: queries, exports, reindexes a results catalog and verifies its audit
 * log.  Runs without mpirun:
 * the catalog is opened serially (MPI_COMM_NULL), so MPI is never initialized.
 * This file builds two programs.  noodle-mql (ND_MQL_LIGHT) links neither HDF5 nor
 * MPI, whose loading would cost more than a query: it answers queries from the mapped
 * index (src/catalog/ixmap.c) and hands everything else (--reindex, --export,
 * --verify-audit, an index to rebuild) to noodle-mql-full by exec with the same arguments.  noodle-mql-full does
 * all of it through src/catalog.  docs/catalog.md documents the options, the output
 * formats and the exit codes (0, 1 query, 2 usage, 3 corrupt).
 */
#include "ac_config.h"
#include "catalog/catalog.h"
#include "catalog/ixmap.h"
#include "catalog/mql.h"
#include "cli/cli.h"
#include "common/alloc.h"
#include "common/strbuf.h"
#ifndef ND_MQL_LIGHT
#include "runtime/h5.h"
#endif

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: noodle-mql CATALOG 'SELECT ...' [--format table|csv|json]\n"
    "       noodle-mql CATALOG --export NAME[@VERSION] OUT.csv|OUT.h5|OUT.json\n"
    "       noodle-mql --reindex CATALOG\n"
    "       noodle-mql --seal-legacy CATALOG\n"
    "       noodle-mql CATALOG --verify-audit\n"
    "\n"
    "Queries a Noodle results catalog with MQL (see docs/catalog.md):\n"
    "  SELECT [DISTINCT] cols|* FROM results|latest [WHERE cond] [GROUP BY cols]\n"
    "    [HAVING cond] [ORDER BY col [ASC|DESC], ...] [LIMIT n]\n"
    "  with count(*), count(col), min(col), max(col), avg(col), sum(col) [AS name]\n"
    "\n"
    "options:\n"
    "  --format F       table (default), csv or json\n"
    "  --export SPEC    write the data of NAME (newest) or NAME@VERSION to a .csv, .h5\n"
    "                   or .json file\n"
    "  --reindex        rebuild CATALOG/index.h5 from the result files\n"
    "  --seal-legacy    give result files of older versions (no checksum) theirs\n"
    "  --verify-audit   check the hash chain of CATALOG/audit.log and that every result\n"
    "                   file has its entry\n"
    "  --help           show this help and exit\n"
    "  --version        show the version and exit\n"
    "\n"
    "exit status: 0 ok, 1 query error, 2 usage error or missing catalog,\n"
    "3 a damaged result file (--export), an index that cannot be rebuilt, or an audit\n"
    "log that fails --verify-audit\n";

static const nd_cli cli = {.prog = "noodle-mql", .usage = usage};

static int fail(nd_status st)
{
    const char *m = nd_err_msg();
    if (strncmp(m, "mql:", 4) == 0)
        fprintf(stderr, "%s\n", m);
    else
        fprintf(stderr, "noodle-mql: error: %s\n", m);
    return nd_status_exit_code(st);
}

static void fmt_cell(const nd_cat_cell *c, char *buf, size_t n, const char *null)
{
    switch (c->type) {
    case ND_CAT_CINT: snprintf(buf, n, "%" PRId64, c->i); break;
    case ND_CAT_CFLOAT: nd_fmt_double(buf, n, c->f); break;
    case ND_CAT_CSTR: snprintf(buf, n, "%s", c->s); break;
    default: snprintf(buf, n, "%s", null); break;
    }
}

/* The table is for a terminal: control bytes of a stored string (an escape sequence
 * someone put in a tag) are shown as \xHH, never sent to it. */
static bool shown_raw(unsigned char ch) { return ch >= 0x20 && ch != 0x7f; }

static size_t shown_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += shown_raw((unsigned char)*s) ? 1 : 4;
    return n;
}

static void put_shown(const char *s, size_t width)
{
    size_t n = 0;
    for (; *s; s++, n++) {
        unsigned char ch = (unsigned char)*s;
        if (shown_raw(ch)) putchar(ch);
        else printf("\\x%02x", ch), n += 3;
    }
    for (; n < width; n++) putchar(' ');
}

static void print_table(const nd_cat_rows *r)
{
    size_t *w = ND_ALLOC_N(size_t, r->ncols ? r->ncols : 1);
    if (!w) return;
    char buf[64];
    for (size_t c = 0; c < r->ncols; c++) w[c] = shown_len(r->colnames[c]);
    for (size_t i = 0; i < r->nrows; i++)
        for (size_t c = 0; c < r->ncols; c++) {
            const nd_cat_cell *cell = nd_cat_rows_at(r, i, c);
            size_t len = cell->type == ND_CAT_CSTR ? shown_len(cell->s) : (fmt_cell(cell, buf, sizeof buf, "NULL"), strlen(buf));
            if (len > w[c]) w[c] = len;
        }
    for (size_t c = 0; c < r->ncols; c++) {
        fputs(c ? "  " : "", stdout);
        put_shown(r->colnames[c], w[c]);
    }
    putchar('\n');
    for (size_t c = 0; c < r->ncols; c++) {
        printf("%s", c ? "  " : "");
        for (size_t k = 0; k < w[c]; k++) putchar('-');
    }
    putchar('\n');
    for (size_t i = 0; i < r->nrows; i++) {
        for (size_t c = 0; c < r->ncols; c++) {
            const nd_cat_cell *cell = nd_cat_rows_at(r, i, c);
            const char *sep = c ? "  " : "";
            bool last = c + 1 == r->ncols;
            if (cell->type == ND_CAT_CSTR) {
                fputs(sep, stdout);
                put_shown(cell->s, last ? 0 : w[c]);
            } else {
                fmt_cell(cell, buf, sizeof buf, "NULL");
                printf("%s%*s", sep, (int)w[c], buf);
            }
        }
        putchar('\n');
    }
    ND_FREE_N(w, r->ncols ? r->ncols : 1);
}

/* CSV goes through one buffer of its own: a scan prints millions of fields, and stdio's
 * per-call locking and strpbrk cost more than the rest of the printing. */
static struct {
    char buf[1 << 16];
    size_t n;
} ob;

static void ob_flush(void)
{
    if (ob.n) fwrite(ob.buf, 1, ob.n, stdout); /* errors show in fflush (print_rows) */
    ob.n = 0;
}

static void ob_put(const char *s, size_t n)
{
    if (ob.n + n > sizeof ob.buf) {
        ob_flush();
        if (n > sizeof ob.buf) {
            fwrite(s, 1, n, stdout);
            return;
        }
    }
    memcpy(ob.buf + ob.n, s, n);
    ob.n += n;
}

static void ob_putc(char c)
{
    if (ob.n == sizeof ob.buf) ob_flush();
    ob.buf[ob.n++] = c;
}

/* A field, quoted (RFC 4180) when it holds a comma, quote or line break. */
static void csv_field(const char *s)
{
    size_t n = 0;
    bool quote = false;
    for (; s[n]; n++) quote |= s[n] == ',' || s[n] == '"' || s[n] == '\n' || s[n] == '\r';
    if (!quote) {
        ob_put(s, n);
        return;
    }
    ob_putc('"');
    for (; *s; s++) {
        if (*s == '"') ob_putc('"');
        ob_putc(*s);
    }
    ob_putc('"');
}

static void print_csv(const nd_cat_rows *r)
{
    char buf[64];
    for (size_t c = 0; c < r->ncols; c++) {
        if (c) ob_putc(',');
        csv_field(r->colnames[c]);
    }
    ob_putc('\n');
    for (size_t i = 0; i < r->nrows; i++) {
        for (size_t c = 0; c < r->ncols; c++) {
            const nd_cat_cell *cell = nd_cat_rows_at(r, i, c);
            if (c) ob_putc(',');
            if (cell->type == ND_CAT_CSTR) {
                csv_field(cell->s);
            } else if (cell->type != ND_CAT_NULL) {
                fmt_cell(cell, buf, sizeof buf, "");
                ob_put(buf, strlen(buf));
            }
        }
        ob_putc('\n');
    }
    ob_flush();
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch == '\n') fputs("\\n", stdout);
        else if (ch == '\t') fputs("\\t", stdout);
        else if (ch == '\r') fputs("\\r", stdout);
        else if (ch < 0x20 || ch == 0x7f) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

static void print_json(const nd_cat_rows *r)
{
    char buf[64];
    putchar('[');
    for (size_t i = 0; i < r->nrows; i++) {
        fputs(i ? ",\n {" : "\n {", stdout);
        for (size_t c = 0; c < r->ncols; c++) {
            const nd_cat_cell *cell = nd_cat_rows_at(r, i, c);
            if (c) fputs(", ", stdout);
            json_string(r->colnames[c]);
            fputs(": ", stdout);
            if (cell->type == ND_CAT_CSTR) {
                json_string(cell->s);
            } else if (cell->type == ND_CAT_CFLOAT && !isfinite(cell->f)) {
                fputs("null", stdout); /* JSON has no inf or nan */
            } else {
                fmt_cell(cell, buf, sizeof buf, "null");
                fputs(buf, stdout);
            }
        }
        putchar('}');
    }
    fputs(r->nrows ? "\n]\n" : "]\n", stdout);
}

static int print_rows(nd_cat_rows *rows, const char *format)
{
    static char obuf[1 << 16];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    if (rows->warnings) fputs(rows->warnings, stderr);
    if (strcmp(format, "csv") == 0) print_csv(rows);
    else if (strcmp(format, "json") == 0) print_json(rows);
    else print_table(rows);
    nd_cat_rows_free(rows);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "noodle-mql: error: cannot write the output\n");
        return ND_EXIT_PROGRAM;
    }
    return ND_EXIT_OK;
}

#ifdef ND_MQL_LIGHT
/* Replaces this process by noodle-mql-full with the same arguments: $NOODLE_MQL_FULL,
 * else the one beside this executable (build tree, or a bin/ that holds both), else
 * the installed one in pkglibexecdir. */
static int run_full(char **argv)
{
    char self[PATH_MAX], cand[PATH_MAX + 32];
    const char *env = getenv("NOODLE_MQL_FULL");
    if (env && *env) {
        execv(env, argv);
        fprintf(stderr, "noodle-mql: error: cannot run %s: %s\n", env, strerror(errno));
        return ND_EXIT_USAGE;
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(cand, sizeof cand, "%s/noodle-mql-full", self);
            if (access(cand, X_OK) == 0) execv(cand, argv);
        }
    }
    snprintf(cand, sizeof cand, "%s/noodle-mql-full", ND_PKGLIBEXECDIR);
    execv(cand, argv);
    fprintf(stderr, "noodle-mql: error: cannot run %s: %s\n", cand, strerror(errno));
    return ND_EXIT_USAGE;
}

/* A query from the mapped index; anything the map cannot answer goes to run_full. */
static int light_query(char **argv, const char *catalog, const char *query, const char *format)
{
    nd_cat_index ix;
    nd_ixmap_result res;
    nd_status st = nd_cat_ixmap_open(catalog, &ix, &res);
    if (st != ND_OK) return fail(st);
    if (res != ND_IXMAP_OK) return run_full(argv);
    nd_ixmap_check chk;
    nd_cat_ixmap_check_start(&chk, &ix);
    nd_mql_query *q = NULL;
    nd_mql_diag d;
    st = nd_mql_parse(query, &q, &d);
    nd_cat_rows rows;
    if (st == ND_OK) st = nd_mql_exec(q, &ix, &rows);
    nd_mql_free(q);
    if (nd_cat_ixmap_check_end(&chk)) {
        /* a damaged index: the full program warns and rebuilds it */
        if (st == ND_OK) nd_cat_rows_free(&rows);
        nd_cat_ixmap_close(&ix);
        return run_full(argv);
    }
    int rc = st == ND_OK ? print_rows(&rows, format) : fail(st);
    nd_cat_ixmap_close(&ix);
    return rc;
}
#endif

int main(int argc, char **argv)
{
    const char *catalog = NULL, *query = NULL, *format = "table", *export_spec = NULL,
               *export_out = NULL;
    bool reindex = false, seal = false, verify_audit = false;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        if (nd_cli_help_version(&cli, a)) {
            return ND_EXIT_OK;
        } else if (strcmp(a, "--format") == 0 || strncmp(a, "--format=", 9) == 0) {
            if (a[8] == '=') format = a + 9;
            else if (k + 1 < argc) format = argv[++k];
            else
                return nd_cli_usage_error(&cli, "%s needs a value", a);
            if (strcmp(format, "table") && strcmp(format, "csv") && strcmp(format, "json"))
                return nd_cli_usage_error(&cli, "unknown format '%s' (table, csv or json)",
                                          format);
        } else if (strcmp(a, "--reindex") == 0) {
            reindex = true;
        } else if (strcmp(a, "--seal-legacy") == 0) {
            seal = true;
        } else if (strcmp(a, "--verify-audit") == 0) {
            verify_audit = true;
        } else if (strcmp(a, "--export") == 0) {
            if (k + 2 >= argc)
                return nd_cli_usage_error(&cli, "%s needs NAME[@VERSION] and an output file",
                                          a);
            export_spec = argv[++k];
            export_out = argv[++k];
        } else if (a[0] == '-' && a[1] != '\0') {
            return nd_cli_usage_error(&cli, "unknown option '%s'", a);
        } else if (!catalog) {
            catalog = a;
        } else if (!query) {
            query = a;
        } else {
            return nd_cli_usage_error(&cli, "unexpected argument '%s'", a);
        }
    }
    if (!catalog) return nd_cli_usage_error(&cli, "missing CATALOG");
    if (reindex + seal + verify_audit + (export_spec != NULL) + (query != NULL) != 1)
        return nd_cli_usage_error(&cli, "give exactly one of a query, --export, --reindex, "
                                  "--seal-legacy or --verify-audit");
#ifdef ND_MQL_LIGHT
    ND_UNUSED(export_out);
    if (query) return light_query(argv, catalog, query, format);
    return run_full(argv);
#else

    nd_cat *cat = NULL;
    nd_status st = nd_cat_open(catalog, MPI_COMM_NULL, false, &cat);
    if (st != ND_OK) return fail(st);
    int rc = ND_EXIT_OK;
    if (reindex) {
        size_t n = 0;
        st = nd_cat_reindex(cat, &n);
        if (st == ND_OK) fprintf(stderr, "noodle-mql: indexed %zu results in %s\n", n, catalog);
    } else if (seal) {
        size_t n = 0;
        st = nd_cat_seal_legacy(cat, &n);
        if (st == ND_OK) fprintf(stderr, "noodle-mql: sealed %zu result files in %s\n", n, catalog);
    } else if (verify_audit) {
        nd_strbuf rep;
        nd_sb_init(&rep);
        st = nd_cat_verify_audit(cat, &rep);
        if (rep.len) fputs(rep.data, stdout);
        nd_sb_free(&rep);
        fflush(stdout);
        /* the report names every problem already */
        if (st == ND_EINVALID) rc = nd_status_exit_code(st), st = ND_OK;
    } else if (export_spec) {
        size_t n = strlen(export_out);
        if (n >= 5 && strcmp(export_out + n - 5, ".json") == 0)
            st = nd_cat_export_json(cat, export_spec, export_out);
        else
            st = nd_cat_export(cat, export_spec, export_out);
    } else {
        nd_cat_rows rows;
        st = nd_cat_query(cat, query, &rows);
        if (st == ND_OK) rc = print_rows(&rows, format);
    }
    if (st != ND_OK) rc = fail(st);
    nd_cat_close(cat);
    /* HDF5's exit handler crashes on a file it could not close (a full disk) */
    if (nd_h5_files_stuck()) {
        fflush(stdout);
        _exit(rc ? rc : ND_EXIT_PROGRAM);
    }
    return rc;
#endif
}
