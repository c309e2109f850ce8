/* builtins_io.c: files from programs (docs/language.md "Builtins", SPMD, I/O): HDF5
 * (h5write of an array or a number with attributes, h5read, where a scalar dataset gives
 * a number, h5attrs) and CSV (readcsv, writecsv).  The file side is runtime/h5meta.h, dm.h's
 * parallel I/O and runtime/csv.h; every builtin here is collective.  Under io.roots
 * (common/roots.h) each path is checked first, on rank 0, and the name checked is the
 * one opened (docs/security.md "Confined file access").
 */
#include "vm/vm_internal.h"

#include "common/alloc.h"
#include "common/roots.h"
#include "common/strbuf.h"
#include "runtime/arr.h"
#include "runtime/csv.h"
#include "runtime/dm.h"
#include "runtime/h5meta.h"
#include "runtime/spmd.h"
#include "runtime/stats.h"

#include <string.h>

/* Collective.  *use := the name to open for builtin `what`: path itself when io.roots is
 * off (the same on every rank: one config); else rank 0 checks path, every rank gets
 * the verdict, and on success the canonical name that was checked, broadcast into buf
 * (ND_ROOTS_PATH_MAX bytes): no link is left in it at the time of the check, so a link
 * retargeted afterwards changes nothing.  A path outside is ND_EPROG (exit 1). */
static nd_status confine(const nd_vm *vm, const char *what, const char *path, char *buf,
                         const char **use)
{
    *use = path;
    const nd_roots *r = vm->opts.roots;
    if (!r || !r->on) return ND_OK;
    nd_status st = ND_OK;
    if (nd_spmd_rank() == 0 && nd_roots_check(r, path, buf) != ND_OK)
        st = nd_err_set(ND_EPROG, "%s: %s", what, nd_err_msg());
    ND_TRY(nd_spmd_agree(st));
    ND_TRY(nd_spmd_bcast(buf, ND_ROOTS_PATH_MAX, 0));
    *use = buf;
    return ND_OK;
}

/* h5write's attributes: a map of names to numbers and strings (nil: none).  The entries
 * borrow the map's strings. */
static nd_status attrs_arg(nd_value v, nd_h5attr **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (v.type == ND_T_NIL) return ND_OK;
    if (v.type != ND_T_MAP)
        return nd_err_set(ND_EPROG, "h5write: argument 4 (the attributes) must be a map, not %s",
                          nd_val_typename(v));
    const nd_map *m = ND_AS_MAP(v);
    nd_h5attr *a = ND_ALLOC_N(nd_h5attr, m->len ? m->len : 1);
    if (!a) return ND_ENOMEM;
    nd_status st = ND_OK;
    for (size_t k = 0; k < m->len && st == ND_OK; k++) {
        const nd_str *key = m->entries[k].key;
        nd_value x = m->entries[k].val;
        a[k].name = (char *)key->data;
        if (key->len == 0 || memchr(key->data, 0, key->len))
            st = nd_err_set(ND_EPROG, "h5write: an attribute name must be a non-empty string "
                            "without NUL bytes");
        else if (x.type == ND_T_INT)
            a[k].kind = ND_H5A_INT, a[k].i = x.as.i;
        else if (x.type == ND_T_FLOAT)
            a[k].kind = ND_H5A_FLOAT, a[k].f = x.as.f;
        else if (x.type == ND_T_STR)
            a[k].kind = ND_H5A_STR, a[k].s = (char *)ND_AS_STR(x)->data,
            a[k].len = ND_AS_STR(x)->len;
        else
            st = nd_err_set(ND_EPROG, "h5write: attribute '%s' must be a number or a string, "
                            "not %s", key->data, nd_val_typename(x));
    }
    if (st != ND_OK) {
        ND_FREE_N(a, m->len ? m->len : 1);
        return st;
    }
    *out = a;
    *n = m->len;
    return ND_OK;
}

nd_status nd_bi_H5WRITE(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_str *path = NULL, *dset = NULL;
    nd_dm *A = NULL;
    double x = 0.0;
    ND_TRY(nd_arg_str("h5write", 1, args[0], &path));
    ND_TRY(nd_arg_str("h5write", 2, args[1], &dset));
    if (args[2].type == ND_T_MATRIX) ND_TRY(nd_arg_matrix("h5write", 3, args[2], &A));
    else if (ND_IS_NUM(args[2])) ND_TRY(nd_arg_num("h5write", 3, args[2], &x));
    else
        return nd_err_set(ND_EPROG, "h5write: argument 3 must be an array or a number, not %s",
                          nd_val_typename(args[2]));
    nd_h5attr *attrs = NULL;
    size_t n = 0;
    char buf[ND_ROOTS_PATH_MAX];
    const char *file;
    ND_TRY(confine(vm, "h5write", path->data, buf, &file));
    ND_TRY(attrs_arg(nargs > 3 ? args[3] : ND_NIL, &attrs, &n));
    nd_stats_begin(ND_STATS_IO);
    nd_status st = nd_h5_write(file, dset->data, A, A ? NULL : &x, attrs, n);
    nd_stats_end(ND_STATS_IO);
    if (attrs) ND_FREE_N(attrs, n ? n : 1);
    return st;
}

nd_status nd_bi_H5READ(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_str *path = NULL, *dset = NULL;
    nd_dm *r = NULL;
    double x = 0.0;
    bool scalar = false;
    ND_TRY(nd_arg_str("h5read", 1, args[0], &path));
    ND_TRY(nd_arg_str("h5read", 2, args[1], &dset));
    char buf[ND_ROOTS_PATH_MAX];
    const char *file;
    ND_TRY(confine(vm, "h5read", path->data, buf, &file));
    ND_VM_IO(nd_h5_read(file, dset->data, &r, &x, &scalar));
    if (scalar) {
        *out = ND_FLOAT(x);
        return ND_OK;
    }
    return nd_matrix_value(r, out);
}

/* One attribute as a value: a number, a string, or a list of numbers. */
static nd_status attr_value(const nd_h5attr *a, nd_value *out)
{
    switch (a->kind) {
    case ND_H5A_INT: *out = ND_INT(a->i); return ND_OK;
    case ND_H5A_FLOAT: *out = ND_FLOAT(a->f); return ND_OK;
    case ND_H5A_STR: return nd_str_value(a->s, a->len, out);
    default: break;
    }
    nd_list *l = nd_list_new(a->n);
    if (!l) return ND_ENOMEM;
    for (size_t k = 0; k < a->n; k++)
        if (nd_list_push(l, ND_FLOAT(a->v[k])) != ND_OK) {
            nd_val_decref(ND_OBJ(ND_T_LIST, l));
            return ND_ENOMEM;
        }
    *out = ND_OBJ(ND_T_LIST, l);
    return ND_OK;
}

nd_status nd_bi_H5ATTRS(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_str *path = NULL, *name = NULL;
    ND_TRY(nd_arg_str("h5attrs", 1, args[0], &path));
    ND_TRY(nd_arg_str("h5attrs", 2, args[1], &name));
    char buf[ND_ROOTS_PATH_MAX];
    const char *file;
    ND_TRY(confine(vm, "h5attrs", path->data, buf, &file));
    nd_h5attr *a = NULL;
    size_t n = 0;
    ND_VM_IO(nd_h5_attrs(file, name->data, &a, &n));
    nd_map *m = nd_map_new(n);
    nd_status st = m ? ND_OK : ND_ENOMEM;
    for (size_t k = 0; k < n && st == ND_OK; k++) {
        nd_value v = ND_NIL;
        nd_str *key = nd_str_new(a[k].name, strlen(a[k].name));
        st = key ? attr_value(&a[k], &v) : ND_ENOMEM;
        if (st == ND_OK) st = nd_map_set(m, key, v); /* takes its own references */
        nd_val_decref(v);
        if (key) nd_val_decref(ND_OBJ(ND_T_STR, key));
    }
    nd_h5_attrs_free(a, n);
    if (st != ND_OK) {
        if (m) nd_val_decref(ND_OBJ(ND_T_MAP, m));
        return st;
    }
    *out = ND_OBJ(ND_T_MAP, m);
    return ND_OK;
}

nd_status nd_bi_READCSV(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_str *path = NULL;
    nd_dm *r = NULL;
    ND_TRY(nd_arg_str("readcsv", 1, args[0], &path));
    char buf[ND_ROOTS_PATH_MAX];
    const char *file;
    ND_TRY(confine(vm, "readcsv", path->data, buf, &file));
    /* the checked name has no link in it: one put there since is not followed */
    ND_VM_IO(nd_csv_read(file, file == buf, &r));
    return nd_matrix_value(r, out);
}

/* writecsv's header: a list of strings, one per column (or nil: none). */
static nd_status header_arg(nd_value v, int64_t cols, nd_strbuf *b, bool *have)
{
    *have = false;
    if (v.type == ND_T_NIL) return ND_OK;
    if (v.type != ND_T_LIST)
        return nd_err_set(ND_EPROG, "writecsv: argument 3 (the header) must be a list of "
                          "strings, not %s", nd_val_typename(v));
    const nd_list *l = ND_AS_LIST(v);
    if ((int64_t)l->len != cols)
        return nd_err_set(ND_EPROG, "writecsv: the header has %zu names for %lld columns",
                          l->len, (long long)cols);
    for (size_t k = 0; k < l->len; k++) {
        if (l->items[k].type != ND_T_STR)
            return nd_err_set(ND_EPROG, "writecsv: header entry %zu must be a string, not %s", k,
                              nd_val_typename(l->items[k]));
        const nd_str *s = ND_AS_STR(l->items[k]);
        if (memchr(s->data, 0, s->len))
            return nd_err_set(ND_EPROG, "writecsv: header entry %zu holds a NUL byte", k);
        if (k) ND_TRY(nd_sb_append(b, ",", 1));
        ND_TRY(nd_sb_csv_field(b, s->data, s->len, false));
    }
    *have = true;
    return ND_OK;
}

nd_status nd_bi_WRITECSV(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_str *path = NULL;
    nd_dm *A = NULL;
    ND_TRY(nd_arg_str("writecsv", 1, args[0], &path));
    ND_TRY(nd_arg_matrix("writecsv", 2, args[1], &A));
    int nd = nd_arr_ndim(A);
    int64_t cols = nd == 2 ? nd_arr_shape(A)[1] : 1;
    char buf[ND_ROOTS_PATH_MAX];
    const char *file;
    ND_TRY(confine(vm, "writecsv", path->data, buf, &file));
    nd_strbuf b;
    nd_sb_init(&b);
    bool have = false;
    nd_status st = header_arg(nargs > 2 ? args[2] : ND_NIL, cols, &b, &have);
    if (st == ND_OK) {
        nd_stats_begin(ND_STATS_IO);
        st = nd_csv_write(file, A, have ? (b.data ? b.data : "") : NULL);
        nd_stats_end(ND_STATS_IO);
    }
    nd_sb_free(&b);
    return st;
}
