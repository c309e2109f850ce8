/* export_json.c: nd_cat_export_json, the export of a result as JSON text (`noodle-mql
 * --export NAME out.json`).  A json result (a list or map a program stored) is written
 * as its own text; an int, float or string as one JSON value; matrices and maps of
 * arrays have no JSON form.  The file appears atomically (temporary file and rename).
 * Specified by docs/catalog.md "noodle-mql".
 */
#include "catalog/cat_internal.h"

#include "common/alloc.h"
#include "common/outfile.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Appends s[0..n) as a JSON string (UTF-8 passes through). */
static nd_status json_str(nd_strbuf *sb, const char *s, size_t n)
{
    ND_TRY(nd_sb_putc(sb, '"'));
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') ND_TRY(nd_sb_printf(sb, "\\%c", c));
        else if (c == '\n') ND_TRY(nd_sb_puts(sb, "\\n"));
        else if (c == '\t') ND_TRY(nd_sb_puts(sb, "\\t"));
        else if (c == '\r') ND_TRY(nd_sb_puts(sb, "\\r"));
        else if (c < 0x20) ND_TRY(nd_sb_printf(sb, "\\u%04x", c));
        else ND_TRY(nd_sb_putc(sb, (char)c));
    }
    return nd_sb_putc(sb, '"');
}

/* Rank 0: the JSON text of a loaded item, ending in a newline. */
static nd_status item_json(const nd_cat_item *it, nd_strbuf *sb)
{
    char num[40];
    switch (it->kind) {
    case ND_CAT_JSON:
        ND_TRY(nd_sb_append(sb, it->s, it->len));
        break;
    case ND_CAT_STRING: ND_TRY(json_str(sb, it->s, it->len)); break;
    case ND_CAT_INT: ND_TRY(nd_sb_printf(sb, "%" PRId64, it->i)); break;
    case ND_CAT_FLOAT:
        if (isfinite(it->f)) nd_fmt_double(num, sizeof num, it->f);
        else snprintf(num, sizeof num, "null"); /* JSON has no inf or nan */
        ND_TRY(nd_sb_puts(sb, num));
        break;
    default: return nd_err_set(ND_EINTERNAL, "export: unexpected kind %d", (int)it->kind);
    }
    if (sb->len == 0 || sb->data[sb->len - 1] != '\n') ND_TRY(nd_sb_putc(sb, '\n'));
    return ND_OK;
}

static nd_status write_atomic(const char *path, const char *data, size_t n)
{
    nd_outfile o;
    ND_TRY(nd_out_open(path, &o));
    nd_status st = nd_out_write(&o, data, n);
    nd_status cst = nd_out_close(&o, st == ND_OK);
    return st == ND_OK ? cst : st;
}

/* Rank 0: the version of spec and its kind, from the result file's attributes (a
 * matrix is refused before anything is loaded). */
static nd_status find_kind(nd_cat *cat, const char *spec, char *name, size_t name_size,
                           int64_t *v, int *kind)
{
    ND_TRY(nd_cat_parse_spec(spec, name, name_size, v));
    if (*v == ND_CAT_LATEST) {
        ND_TRY(nd_cat_latest_version(cat, name, v));
        ND_CHECK(*v > 0, ND_EPROG, "no result named '%s'", name);
    }
    char *path = nd_cat_version_path(cat, name, *v);
    if (!path) return ND_ENOMEM;
    nd_status st = ND_OK;
    if (access(path, F_OK) != 0) st = nd_err_set(ND_EPROG, "no result %s@%" PRId64, name, *v);
    nd_cat_index ix;
    if (st == ND_OK && (st = nd_cat_index_init(&ix)) == ND_OK) {
        st = nd_cat_result_read_meta(path, &ix, true);
        if (st == ND_OK) *kind = ix.rows[0].kind;
        nd_cat_index_free(&ix);
    }
    bool value = *kind == ND_CAT_INT || *kind == ND_CAT_FLOAT || *kind == ND_CAT_STRING || *kind == ND_CAT_JSON;
    if (st == ND_OK && !value)
        st = nd_err_set(ND_EINVALID, "%s@%" PRId64 ": a %s has no JSON form (export it to %s)", name,
                        *v, nd_cat_kind_name(*kind), *kind == ND_CAT_MAP ? ".h5" : ".csv or .h5");
    nd_strfree(path);
    return st;
}

/* Collective (rank 0 does the work).  Writes NAME or NAME@VERSION to out_path as JSON:
 * a json result's own text, or an int, float or string as a JSON value (then a
 * newline).  A matrix or a map of arrays is ND_EINVALID; a missing result ND_EPROG. */
nd_status nd_cat_export_json(nd_cat *cat, const char *spec, const char *out_path)
{
    char name[160];
    int64_t v = 0;
    int kind = 0;
    nd_status st = ND_OK;
    if (cat->rank == 0) st = find_kind(cat, spec, name, sizeof name, &v, &kind);
    st = nd_cat_share_status(cat, st);
    if (st != ND_OK) return st;
    int64_t vk[2] = {v, kind};
    if (cat->comm != MPI_COMM_NULL) ND_TRY(nd_cat_bcast(cat, vk, 2, MPI_INT64_T));
    if (cat->rank != 0) nd_cat_parse_spec(spec, name, sizeof name, &v);
    nd_cat_item it;
    ND_TRY(nd_cat_load(cat, name, vk[0], &it, NULL));
    if (cat->rank == 0) {
        nd_strbuf sb;
        nd_sb_init(&sb);
        st = item_json(&it, &sb);
        if (st == ND_OK) st = write_atomic(out_path, sb.data ? sb.data : "", sb.len);
        nd_sb_free(&sb);
    }
    nd_cat_item_clear(&it);
    return nd_cat_share_status(cat, st);
}
