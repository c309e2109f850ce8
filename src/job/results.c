/* results.c: the VM hooks store(), load() and query() on top of the catalog (src/catalog).
 * Translates VM values to catalog items and back: numbers, strings and matrices are
 * stored as themselves; lists and maps as JSON text (strings quoted and escaped, floats
 * always with a point or an exponent so that they load back as floats, non-finite
 * floats as Infinity/-Infinity/NaN as Python's json writes them).  Tags are a map of
 * strings to numbers or strings.  Every function is Collective unless marked: all ranks
 * call the builtin together and the catalog agrees on one status.
 */
#include "job/job_internal.h"

#include "common/alloc.h"
#include "common/hash.h"
#include "common/roots.h"
#include "common/strbuf.h"
#include "runtime/spmd.h"
#include "vm/vm.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Opens the catalog on first use (creating its directory), by builtin `what`.  Under
 * io.roots its directory must be inside them: rank 0 checks, every rank agrees. */
static nd_status catalog(nd_job_results *r, const char *what, nd_cat **out)
{
    if (!r->cat) {
        nd_status st = ND_OK;
        if (r->roots && r->roots->on && nd_spmd_rank() == 0 &&
            nd_roots_check(r->roots, r->path, NULL) != ND_OK)
            st = nd_err_set(ND_EPROG, "%s: catalog.path %s", what, nd_err_msg());
        ND_TRY(nd_spmd_agree(st));
        st = nd_cat_open(r->path, nd_spmd_comm(), true, &r->cat);
        if (st != ND_OK) return st;
    }
    *out = r->cat;
    return ND_OK;
}

/* ---- values -> JSON (Uniform) ---- */

static nd_status json_string(nd_strbuf *sb, const char *s, size_t n)
{
    ND_TRY(nd_sb_putc(sb, '"'));
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c == '"' || c == '\\') {
            ND_TRY(nd_sb_putc(sb, '\\'));
            ND_TRY(nd_sb_putc(sb, (char)c));
        } else if (c == '\n') {
            ND_TRY(nd_sb_puts(sb, "\\n"));
        } else if (c == '\t') {
            ND_TRY(nd_sb_puts(sb, "\\t"));
        } else if (c < 0x20) {
            ND_TRY(nd_sb_printf(sb, "\\u%04x", c));
        } else {
            ND_TRY(nd_sb_putc(sb, (char)c));
        }
    }
    return nd_sb_putc(sb, '"');
}

static nd_status to_json(nd_strbuf *sb, nd_value v, int depth)
{
    ND_CHECK(depth < 200, ND_EPROG, "store: value nested too deeply (or cyclic)");
    size_t len;
    const char *s;
    switch (nd_vm_kind(v)) {
    case ND_T_NIL: return nd_sb_puts(sb, "null");
    case ND_T_BOOL: return nd_sb_puts(sb, nd_vm_bool(v) ? "true" : "false");
    case ND_T_INT: return nd_sb_printf(sb, "%lld", (long long)nd_vm_int(v));
    case ND_T_FLOAT: {
        double f = nd_vm_float(v);
        if (isnan(f)) return nd_sb_puts(sb, "NaN");
        if (isinf(f)) return nd_sb_puts(sb, f > 0 ? "Infinity" : "-Infinity");
        char b[40];
        nd_fmt_double(b, sizeof b, f);
        return nd_sb_puts(sb, b);
    }
    case ND_T_STR:
        s = nd_vm_str(v, &len);
        return json_string(sb, s, len);
    case ND_T_LIST: {
        ND_TRY(nd_sb_putc(sb, '['));
        for (size_t k = 0, n = nd_vm_list_len(v); k < n; k++) {
            if (k) ND_TRY(nd_sb_puts(sb, ", "));
            ND_TRY(to_json(sb, nd_vm_list_at(v, k), depth + 1));
        }
        return nd_sb_putc(sb, ']');
    }
    case ND_T_MAP: {
        ND_TRY(nd_sb_putc(sb, '{'));
        for (size_t k = 0, n = nd_vm_map_len(v); k < n; k++) {
            if (k) ND_TRY(nd_sb_puts(sb, ", "));
            s = nd_vm_map_key(v, k, &len);
            ND_TRY(json_string(sb, s, len));
            ND_TRY(nd_sb_puts(sb, ": "));
            ND_TRY(to_json(sb, nd_vm_map_value(v, k), depth + 1));
        }
        return nd_sb_putc(sb, '}');
    }
    default:
        return nd_err_set(ND_EPROG, "store: a %s cannot be stored inside a list or map",
                          nd_vm_kind(v) == ND_T_MATRIX ? "matrix" : "function");
    }
}

/* ---- JSON -> values (Uniform: every rank parses the same text) ---- */

typedef struct jparser {
    nd_vm *vm;
    const char *p, *end;
} jparser;

static void skip_ws(jparser *j)
{
    while (j->p < j->end && isspace((unsigned char)*j->p)) j->p++;
}

static bool eat(jparser *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) >= n && memcmp(j->p, word, n) == 0) {
        j->p += n;
        return true;
    }
    return false;
}

static nd_status bad_json(void) { return nd_err_set(ND_EINVALID, "load: malformed stored value"); }

/* Parses a JSON string into a new nd_strbuf (caller frees). */
static nd_status parse_string(jparser *j, nd_strbuf *sb)
{
    if (j->p >= j->end || *j->p != '"') return bad_json();
    j->p++;
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        if (c == '\\') {
            if (j->p >= j->end) return bad_json();
            char e = *j->p++;
            if (e == 'n') c = '\n';
            else if (e == 't') c = '\t';
            else if (e == 'u') {
                if (j->end - j->p < 4) return bad_json();
                char hex[5] = {j->p[0], j->p[1], j->p[2], j->p[3], 0};
                j->p += 4;
                c = (char)strtol(hex, NULL, 16); /* only control bytes are \u-escaped */
            } else c = e;
        }
        ND_TRY(nd_sb_putc(sb, c));
    }
    if (j->p >= j->end) return bad_json();
    j->p++;
    return ND_OK;
}

static nd_status parse_value(jparser *j, nd_value *out, int depth)
{
    skip_ws(j);
    if (depth > 200 || j->p >= j->end) return bad_json();
    char c = *j->p;
    if (eat(j, "null")) return *out = ND_NIL, ND_OK;
    if (eat(j, "true")) return *out = ND_BOOL(true), ND_OK;
    if (eat(j, "false")) return *out = ND_BOOL(false), ND_OK;
    if (eat(j, "NaN")) return *out = ND_FLOAT(NAN), ND_OK;
    if (eat(j, "Infinity")) return *out = ND_FLOAT(INFINITY), ND_OK;
    if (eat(j, "-Infinity")) return *out = ND_FLOAT(-INFINITY), ND_OK;
    if (c == '"') {
        nd_strbuf sb;
        nd_sb_init(&sb);
        nd_status st = parse_string(j, &sb);
        if (st == ND_OK) st = nd_vm_new_string(j->vm, sb.data ? sb.data : "", sb.len, out);
        nd_sb_free(&sb);
        return st;
    }
    if (c == '[' || c == '{') {
        bool is_map = c == '{';
        j->p++;
        ND_TRY(is_map ? nd_vm_new_map(j->vm, out) : nd_vm_new_list(j->vm, out));
        nd_status st = ND_OK;
        skip_ws(j);
        bool first = true;
        while (st == ND_OK) {
            skip_ws(j);
            if (j->p < j->end && *j->p == (is_map ? '}' : ']')) {
                j->p++;
                return ND_OK;
            }
            if (!first && !eat(j, ",")) {
                st = bad_json();
                break;
            }
            first = false;
            skip_ws(j);
            nd_strbuf key;
            nd_sb_init(&key);
            if (is_map) {
                st = parse_string(j, &key);
                skip_ws(j);
                if (st == ND_OK && !eat(j, ":")) st = bad_json();
            }
            nd_value item = ND_NIL;
            if (st == ND_OK) st = parse_value(j, &item, depth + 1);
            if (st == ND_OK)
                st = is_map ? nd_vm_map_set(j->vm, *out, key.data ? key.data : "", item)
                            : nd_vm_list_push(j->vm, *out, item);
            nd_vm_release(item);
            nd_sb_free(&key);
        }
        nd_vm_release(*out);
        *out = ND_NIL;
        return st;
    }
    /* A number: an int unless it has a point or an exponent. */
    char *numend;
    const char *start = j->p;
    bool is_float = false;
    for (const char *q = start; q < j->end && strchr("+-0123456789.eE", *q); q++)
        if (*q == '.' || *q == 'e' || *q == 'E') is_float = true;
    errno = 0;
    if (is_float) {
        double d = strtod(start, &numend);
        if (numend == start) return bad_json();
        *out = ND_FLOAT(d);
    } else {
        long long i = strtoll(start, &numend, 10);
        if (numend == start || errno) return bad_json();
        *out = ND_INT(i);
    }
    j->p = numend;
    return ND_OK;
}

/* ---- the hooks ---- */

static nd_status make_tags(nd_value tags, nd_cat_tag **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (nd_vm_kind(tags) != ND_T_MAP) return ND_OK;
    size_t len = nd_vm_map_len(tags), klen;
    if (!len) return ND_OK;
    nd_cat_tag *t = ND_ALLOC_N(nd_cat_tag, len);
    if (!t) return ND_ENOMEM;
    for (size_t k = 0; k < len; k++) {
        nd_value v = nd_vm_map_value(tags, k);
        t[k].key = nd_vm_map_key(tags, k, &klen);
        nd_type kind = nd_vm_kind(v);
        if (kind == ND_T_INT)
            t[k].value = (nd_cat_cell){.type = ND_CAT_CINT, .i = nd_vm_int(v)};
        else if (kind == ND_T_FLOAT)
            t[k].value = (nd_cat_cell){.type = ND_CAT_CFLOAT, .f = nd_vm_float(v)};
        else if (kind == ND_T_STR)
            t[k].value = (nd_cat_cell){.type = ND_CAT_CSTR, .s = nd_vm_str(v, &klen)};
        else {
            const char *key = t[k].key;
            ND_FREE_N(t, len);
            return nd_err_set(ND_EPROG, "store: tag '%s' must be a number or a str, not %s",
                              key, nd_val_typename(v));
        }
    }
    *out = t;
    *n = len;
    return ND_OK;
}

/* A value as a catalog item: numbers, strings and matrices as themselves, a bool as an
 * int, lists, maps and nil as JSON text in *json (the item borrows it). */
static nd_status to_item(nd_value v, nd_strbuf *json, nd_cat_item *item)
{
    memset(item, 0, sizeof *item);
    switch (nd_vm_kind(v)) {
    case ND_T_INT: item->kind = ND_CAT_INT, item->i = nd_vm_int(v); return ND_OK;
    case ND_T_FLOAT: item->kind = ND_CAT_FLOAT, item->f = nd_vm_float(v); return ND_OK;
    case ND_T_BOOL: item->kind = ND_CAT_INT, item->i = nd_vm_bool(v); return ND_OK;
    case ND_T_STR: /* borrowed: the catalog only reads it */
        item->kind = ND_CAT_STRING, item->s = (char *)nd_vm_str(v, &item->len);
        return ND_OK;
    case ND_T_MATRIX: item->kind = ND_CAT_MATRIX, item->m = nd_vm_matrix(v); return ND_OK;
    case ND_T_LIST:
    case ND_T_MAP:
    case ND_T_NIL:
        ND_TRY(to_json(json, v, 0));
        item->kind = ND_CAT_JSON, item->s = json->data ? json->data : "", item->len = json->len;
        return ND_OK;
    default:
        return nd_err_set(ND_EPROG, "store: a %s cannot be stored", nd_val_typename(v));
    }
}

/* The members of a map result and what they own (attribute and dims arrays, JSON). */
typedef struct members {
    nd_cat_member *m;
    nd_strbuf *json;
    size_t n;
} members;

static void members_free(members *ms)
{
    for (size_t i = 0; i < ms->n; i++) {
        nd_cat_member *m = &ms->m[i];
        if (m->attrs) ND_FREE_N((nd_cat_tag *)m->attrs, m->nattrs);
        if (m->dims) ND_FREE_N((const char **)m->dims, m->ndims);
        nd_sb_free(&ms->json[i]);
    }
    if (ms->m) ND_FREE_N(ms->m, ms->n);
    if (ms->json) ND_FREE_N(ms->json, ms->n);
}

/* meta[name] = {"units": str, "description": str, "dims": [str, ...], other: number|str}. */
static nd_status member_meta(nd_value meta, nd_cat_member *m)
{
    size_t len, n = nd_vm_map_len(meta), na = 0;
    for (size_t k = 0; k < n; k++)
        na += strcmp(nd_vm_map_key(meta, k, &len), "dims") != 0;
    nd_cat_tag *attrs = na ? ND_ALLOC_N(nd_cat_tag, na) : NULL;
    if (na && !attrs) return ND_ENOMEM;
    m->attrs = attrs, m->nattrs = na;
    na = 0;
    for (size_t k = 0; k < n; k++) {
        const char *key = nd_vm_map_key(meta, k, &len);
        nd_value v = nd_vm_map_value(meta, k);
        nd_type t = nd_vm_kind(v);
        if (strcmp(key, "dims") == 0) {
            ND_CHECK(t == ND_T_LIST, ND_EPROG, "store: the dims of '%s' must be a list of strs, not %s",
                     m->name, nd_val_typename(v));
            size_t nd = nd_vm_list_len(v);
            const char **dims = nd ? ND_ALLOC_N(const char *, nd) : NULL;
            if (nd && !dims) return ND_ENOMEM;
            m->dims = dims, m->ndims = nd;
            for (size_t d = 0; d < nd; d++) {
                nd_value e = nd_vm_list_at(v, d);
                ND_CHECK(nd_vm_kind(e) == ND_T_STR, ND_EPROG,
                         "store: the dims of '%s' must be strs; item %zu is %s", m->name, d,
                         nd_val_typename(e));
                dims[d] = nd_vm_str(e, &len);
            }
            continue;
        }
        nd_cat_tag *a = &attrs[na++];
        a->key = key;
        if (t == ND_T_INT) a->value = (nd_cat_cell){.type = ND_CAT_CINT, .i = nd_vm_int(v)};
        else if (t == ND_T_BOOL) a->value = (nd_cat_cell){.type = ND_CAT_CINT, .i = nd_vm_bool(v)};
        else if (t == ND_T_FLOAT) a->value = (nd_cat_cell){.type = ND_CAT_CFLOAT, .f = nd_vm_float(v)};
        else if (t == ND_T_STR) a->value = (nd_cat_cell){.type = ND_CAT_CSTR, .s = nd_vm_str(v, &len)};
        else
            return nd_err_set(ND_EPROG, "store: attribute '%s' of '%s' must be a number or a str, not %s",
                              key, m->name, nd_val_typename(v));
    }
    return ND_OK;
}

/* A map result: one member per key of v, with the metadata meta gives (a map, or nil). */
static nd_status make_members(nd_value v, nd_value meta, members *ms)
{
    size_t n = nd_vm_map_len(v), len;
    ND_CHECK(n > 0, ND_EPROG, "store: a map with metadata needs at least one member");
    ms->m = ND_ALLOC_N(nd_cat_member, n);
    ms->json = ND_ALLOC_N(nd_strbuf, n);
    if (!ms->m || !ms->json) {
        if (ms->m) ND_FREE_N(ms->m, n), ms->m = NULL;
        if (ms->json) ND_FREE_N(ms->json, n), ms->json = NULL;
        return ND_ENOMEM;
    }
    ms->n = n;
    for (size_t k = 0; k < n; k++) {
        nd_sb_init(&ms->json[k]);
        ms->m[k].name = (char *)nd_vm_map_key(v, k, &len); /* borrowed */
    }
    for (size_t k = 0; k < n; k++) {
        nd_value x = nd_vm_map_value(v, k);
        nd_status st = to_item(x, &ms->json[k], &ms->m[k].item);
        if (st != ND_OK) return st;
    }
    size_t nm = nd_vm_kind(meta) == ND_T_MAP ? nd_vm_map_len(meta) : 0;
    for (size_t k = 0; k < nm; k++) {
        const char *key = nd_vm_map_key(meta, k, &len);
        nd_value mv = nd_vm_map_value(meta, k);
        nd_cat_member *m = NULL;
        for (size_t i = 0; i < n && !m; i++)
            if (strcmp(ms->m[i].name, key) == 0) m = &ms->m[i];
        ND_CHECK(m, ND_EPROG, "store: meta names '%s', which is not a key of the stored map", key);
        ND_CHECK(nd_vm_kind(mv) == ND_T_MAP, ND_EPROG,
                 "store: meta of '%s' must be a map (units, description, dims), not %s", key,
                 nd_val_typename(mv));
        ND_TRY(member_meta(mv, m));
    }
    return ND_OK;
}

/* Whether a map value is stored as a map result: it holds an array, or has metadata. */
static bool map_result(nd_value v, nd_value meta)
{
    if (nd_vm_kind(v) != ND_T_MAP) return false;
    if (nd_vm_kind(meta) == ND_T_MAP) return true;
    for (size_t k = 0, n = nd_vm_map_len(v); k < n; k++)
        if (nd_vm_kind(nd_vm_map_value(v, k)) == ND_T_MATRIX) return true;
    return false;
}

nd_status nd_job_store_hook(void *ctx, nd_vm *vm, const char *name, nd_value v,
                            nd_value tags, nd_value meta)
{
    nd_job_results *r = ((nd_job_ctx *)ctx)->results;
    ND_CHECK(nd_cat_name_valid(name), ND_EPROG,
             "store: invalid result name '%s' (use letters, digits, '_', '.', '-')", name);
    ND_CHECK(nd_vm_kind(meta) == ND_T_NIL || nd_vm_kind(v) == ND_T_MAP, ND_EPROG,
             "store: meta describes the arrays of a map: store(name, {\"u\": U}, tags, "
             "{\"u\": {\"units\": \"K\"}}), but the value is %s", nd_val_typename(v));
    nd_cat_item item = {0};
    nd_strbuf json;
    nd_sb_init(&json);
    members ms = {0};
    nd_status st;
    if (map_result(v, meta)) {
        st = make_members(v, meta, &ms);
        item.kind = ND_CAT_MAP, item.members = ms.m, item.nmembers = ms.n;
    } else {
        st = to_item(v, &json, &item);
    }
    nd_cat_tag *t = NULL;
    size_t nt = 0;
    nd_cat *cat = NULL;
    if (st == ND_OK) st = make_tags(tags, &t, &nt);
    if (st == ND_OK) st = catalog(r, "store", &cat);
    int64_t version = 0;
    if (st == ND_OK) st = nd_cat_store(cat, name, &item, t, nt, &r->prov, &version);
    if (t) ND_FREE_N(t, nt);
    members_free(&ms);
    nd_sb_free(&json);
    return st;
}

/* A loaded item as a value (takes its matrix). */
static nd_status from_item(nd_vm *vm, nd_cat_item *item, nd_value *out)
{
    switch (item->kind) {
    case ND_CAT_INT: *out = ND_INT(item->i); return ND_OK;
    case ND_CAT_FLOAT: *out = ND_FLOAT(item->f); return ND_OK;
    case ND_CAT_STRING: return nd_vm_new_string(vm, item->s, item->len, out);
    case ND_CAT_JSON: {
        jparser j = {vm, item->s, item->s + item->len};
        return parse_value(&j, out, 0);
    }
    case ND_CAT_MATRIX: {
        nd_status st = nd_vm_new_matrix(vm, item->m, out); /* takes the matrix */
        item->m = NULL;
        return st;
    }
    case ND_CAT_MAP: {
        ND_TRY(nd_vm_new_map(vm, out));
        nd_status st = ND_OK;
        for (size_t i = 0; st == ND_OK && i < item->nmembers; i++) {
            nd_value x = ND_NIL;
            st = from_item(vm, &item->members[i].item, &x);
            if (st == ND_OK) st = nd_vm_map_set(vm, *out, item->members[i].name, x);
            nd_vm_release(x);
        }
        if (st != ND_OK) {
            nd_vm_release(*out);
            *out = ND_NIL;
        }
        return st;
    }
    }
    return nd_err_set(ND_EINTERNAL, "load: bad item kind %d", (int)item->kind);
}

nd_status nd_job_load_hook(void *ctx, nd_vm *vm, const char *name, int64_t version,
                           nd_value *out)
{
    nd_job_results *r = ((nd_job_ctx *)ctx)->results;
    nd_cat *cat = NULL;
    ND_TRY(catalog(r, "load", &cat));
    nd_cat_item item = {0};
    ND_TRY(nd_cat_load(cat, name, version, &item, NULL));
    nd_status st = from_item(vm, &item, out);
    nd_cat_item_clear(&item);
    return st;
}

nd_status nd_job_query_hook(void *ctx, nd_vm *vm, const char *mql, nd_value *out)
{
    nd_job_results *r = ((nd_job_ctx *)ctx)->results;
    nd_cat *cat = NULL;
    ND_TRY(catalog(r, "query", &cat));
    nd_cat_rows rows = {0};
    ND_TRY(nd_cat_query(cat, mql, &rows));
    if (rows.warnings) fputs(rows.warnings, stderr); /* rank 0 only */
    nd_status st = nd_vm_new_list(vm, out);
    for (size_t i = 0; st == ND_OK && i < rows.nrows; i++) {
        nd_value row = ND_NIL;
        st = nd_vm_new_map(vm, &row);
        for (size_t c = 0; st == ND_OK && c < rows.ncols; c++) {
            const nd_cat_cell *cell = nd_cat_rows_at(&rows, i, c);
            nd_value v = ND_NIL;
            if (cell->type == ND_CAT_CINT) v = ND_INT(cell->i);
            else if (cell->type == ND_CAT_CFLOAT) v = ND_FLOAT(cell->f);
            else if (cell->type == ND_CAT_CSTR)
                st = nd_vm_new_string(vm, cell->s, strlen(cell->s), &v);
            if (st == ND_OK) st = nd_vm_map_set(vm, row, rows.colnames[c], v);
            nd_vm_release(v);
        }
        if (st == ND_OK) st = nd_vm_list_push(vm, *out, row);
        nd_vm_release(row);
    }
    nd_cat_rows_free(&rows);
    if (st != ND_OK) {
        nd_vm_release(*out);
        *out = ND_NIL;
    }
    return st;
}
