/* builtins.c: the builtin dispatch table (expanded from builtins.def) and the builtins
 * on scalars, strings, lists, maps, SPMD, I/O and jobs (LANGUAGE.md "Builtins").  The
 * matrix builtins are in builtins_mat.c, the n-d array ones in builtins_arr.c.  Each
 * nd_bi_<ID> borrows its arguments and returns a new reference in *out; arity was
 * checked by the caller (vm.c), and so was the SPMD consistency check for collective
 * builtins.  Spec: docs/vm.md "Builtins".
 */
#include "vm/vm_internal.h"

#include "common/alloc.h"
#include "nbc/builtin_ids.h"
#include "runtime/arr.h"
#include "runtime/dm.h"
#include "runtime/spmd.h"
#include "runtime/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const nd_builtin_fn nd_builtin_fns[] = {
#define BUILTIN(id, ...) nd_bi_##id,
#include "nbc/builtins.def"
#undef BUILTIN
};
_Static_assert(sizeof nd_builtin_fns / sizeof nd_builtin_fns[0] == ND_NBUILTINS,
               "one implementation per builtin");

/* ---- argument helpers ---- */

static nd_status bad_arg(const char *fn, int k, const char *want, nd_value v)
{
    return nd_err_set(ND_EPROG, "%s: argument %d must be %s, not %s", fn, k, want,
                      nd_val_typename(v));
}

nd_status nd_arg_int(const char *fn, int k, nd_value v, int64_t *out)
{
    if (v.type != ND_T_INT) return bad_arg(fn, k, "an int", v);
    *out = v.as.i;
    return ND_OK;
}

nd_status nd_arg_num(const char *fn, int k, nd_value v, double *out)
{
    if (v.type == ND_T_INT) *out = (double)v.as.i;
    else if (v.type == ND_T_FLOAT) *out = v.as.f;
    else return bad_arg(fn, k, "a number", v);
    return ND_OK;
}

nd_status nd_arg_str(const char *fn, int k, nd_value v, nd_str **out)
{
    if (v.type != ND_T_STR) return bad_arg(fn, k, "a str", v);
    *out = ND_AS_STR(v);
    return ND_OK;
}

nd_status nd_arg_matrix(const char *fn, int k, nd_value v, nd_dm **out)
{
    if (v.type != ND_T_MATRIX) return bad_arg(fn, k, "a matrix", v);
    *out = ND_AS_MATRIX(v)->dm;
    return ND_OK;
}

/* ---- shape, lists and maps ---- */

nd_status nd_bi_LEN(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_value v = args[0];
    switch (v.type) {
    case ND_T_STR: *out = ND_INT(ND_AS_STR(v)->len); return ND_OK;
    case ND_T_LIST: *out = ND_INT((int64_t)ND_AS_LIST(v)->len); return ND_OK;
    case ND_T_MAP: *out = ND_INT((int64_t)ND_AS_MAP(v)->len); return ND_OK;
    /* An array's first dimension, as numpy's len (the shape is on every rank). */
    case ND_T_MATRIX: *out = ND_INT(nd_arr_shape(ND_AS_MATRIX(v)->dm)[0]); return ND_OK;
    default: return bad_arg("len", 1, "a str, list, map or array", v);
    }
}

nd_status nd_bi_APPEND(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    if (args[0].type != ND_T_LIST) return bad_arg("append", 1, "a list", args[0]);
    return nd_list_push(ND_AS_LIST(args[0]), args[1]);
}

nd_status nd_bi_KEYS(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    if (args[0].type != ND_T_MAP) return bad_arg("keys", 1, "a map", args[0]);
    const nd_map *m = ND_AS_MAP(args[0]);
    nd_list *l = nd_list_new(m->len);
    if (!l) return ND_ENOMEM;
    for (size_t k = 0; k < m->len; k++) {
        m->entries[k].key->h.rc++;
        l->items[k] = ND_OBJ(ND_T_STR, m->entries[k].key);
    }
    l->len = m->len;
    *out = ND_OBJ(ND_T_LIST, l);
    return ND_OK;
}

nd_status nd_bi_HAS(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_str *key = NULL;
    if (args[0].type != ND_T_MAP) return bad_arg("has", 1, "a map", args[0]);
    ND_TRY(nd_arg_str("has", 2, args[1], &key));
    *out = ND_BOOL(nd_map_get(ND_AS_MAP(args[0]), key) != NULL);
    return ND_OK;
}

/* ---- numbers and strings ---- */

static nd_status parse_number(const nd_str *s, const char *fn, bool want_int, nd_value *out)
{
    const char *p = s->data;
    char *end;
    errno = 0;
    if (want_int) {
        long long v = strtoll(p, &end, 10);
        if (end != p && *end == '\0' && errno == 0 && strlen(p) == s->len) {
            *out = ND_INT(v);
            return ND_OK;
        }
    } else {
        double v = strtod(p, &end);
        if (end != p && *end == '\0' && strlen(p) == s->len) {
            *out = ND_FLOAT(v);
            return ND_OK;
        }
    }
    return nd_err_set(ND_EPROG, "%s: \"%.100s\" is not %s", fn, p,
                      want_int ? "an int" : "a number");
}

nd_status nd_bi_INT(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_value v = args[0];
    if (v.type == ND_T_INT) {
        *out = v;
        return ND_OK;
    }
    if (v.type == ND_T_FLOAT) {
        int64_t i = 0;
        ND_TRY(nd_val_float_to_int(v.as.f, "int", &i));
        *out = ND_INT(i);
        return ND_OK;
    }
    if (v.type == ND_T_STR) return parse_number(ND_AS_STR(v), "int", true, out);
    return bad_arg("int", 1, "a number or str", v);
}

nd_status nd_bi_FLOAT(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_value v = args[0];
    if (v.type == ND_T_STR) return parse_number(ND_AS_STR(v), "float", false, out);
    double d = 0;
    ND_TRY(nd_arg_num("float", 1, v, &d));
    *out = ND_FLOAT(d);
    return ND_OK;
}

nd_status nd_bi_STR(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    return nd_val_tostr(vm->prog, args[0], out);
}

/* A number gives an int (an int stays); an array gives an array of floats (collective),
 * as numpy's floor/ceil/round do. */
static nd_status rounding(const char *fn, double (*f)(double), nd_map_fn mf, nd_value v,
                          nd_value *out)
{
    if (v.type == ND_T_MATRIX) {
        nd_dm *A = ND_AS_MATRIX(v)->dm, *r = NULL;
        nd_stats_begin(ND_STATS_LA);
        nd_status st = nd_dm_map(mf, A, &r);
        nd_stats_end(ND_STATS_LA);
        ND_TRY(st);
        nd_stats_add_flops((double)nd_arr_size(A));
        return nd_matrix_value(r, out);
    }
    if (v.type == ND_T_INT) {
        *out = v;
        return ND_OK;
    }
    if (v.type != ND_T_FLOAT) return bad_arg(fn, 1, "a number or array", v);
    int64_t i = 0;
    ND_TRY(nd_val_float_to_int(f(v.as.f), fn, &i));
    *out = ND_INT(i);
    return ND_OK;
}

nd_status nd_bi_FLOOR(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    return rounding("floor", floor, ND_MAP_FLOOR, args[0], out);
}

nd_status nd_bi_CEIL(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    return rounding("ceil", ceil, ND_MAP_CEIL, args[0], out);
}

/* C's round() rounds halves away from zero, as LANGUAGE.md asks. */
nd_status nd_bi_ROUND(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    return rounding("round", round, ND_MAP_ROUND, args[0], out);
}

/* fmt(x, spec): spec is a printf conversion without the `%`: flags (-+ #0), a width
 * and a precision of at most 3 digits each, then one conversion: d i o x X (ints),
 * f F e E g G a A (numbers; an int is converted), s (any value, as str() prints it).
 * A float with an int conversion is an error (use int(x) or round(x)). */
nd_status nd_bi_FMT(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_value x = args[0];
    nd_str *spec = NULL;
    ND_TRY(nd_arg_str("fmt", 2, args[1], &spec));
    const char *s = spec->data;
    size_t n = 0;
    char f[32];
    size_t fl = 0;
    f[fl++] = '%';
    while (n < spec->len && strchr("-+ #0", s[n]) && s[n] && fl < 8) f[fl++] = s[n++];
    for (int d = 0; n < spec->len && s[n] >= '0' && s[n] <= '9'; d++) {
        if (d == 3) goto bad;
        f[fl++] = s[n++];
    }
    if (n < spec->len && s[n] == '.') {
        f[fl++] = s[n++];
        for (int d = 0; n < spec->len && s[n] >= '0' && s[n] <= '9'; d++) {
            if (d == 3) goto bad;
            f[fl++] = s[n++];
        }
    }
    if (n + 1 != spec->len || !s[n] || !strchr("diouxXfFeEgGaAs", s[n])) goto bad;
    char conv = s[n];
    char buf[1100];
    int len;
    if (strchr("diouxX", conv)) {
        if (x.type != ND_T_INT)
            return nd_err_set(ND_EPROG, "fmt: %%%c needs an int, not %s (use int() or round())",
                              conv, nd_val_typename(x));
        f[fl++] = 'l';
        f[fl++] = 'l';
        f[fl++] = conv;
        f[fl] = '\0';
        len = snprintf(buf, sizeof buf, f, (long long)x.as.i);
    } else if (conv == 's') {
        nd_value sv;
        ND_TRY(nd_val_tostr(vm->prog, x, &sv));
        f[fl++] = 's';
        f[fl] = '\0';
        nd_strbuf sb;
        nd_sb_init(&sb);
        nd_status st = ND_OK;
        int need = snprintf(NULL, 0, f, ND_AS_STR(sv)->data);
        if (need < 0) st = nd_err_set(ND_EPROG, "fmt: bad spec \"%s\"", s);
        if (st == ND_OK) st = nd_sb_reserve(&sb, (size_t)need + 1);
        if (st == ND_OK) {
            snprintf(sb.data, (size_t)need + 1, f, ND_AS_STR(sv)->data);
            st = nd_str_value(sb.data, (size_t)need, out);
        }
        nd_sb_free(&sb);
        nd_val_decref(sv);
        return st;
    } else {
        double d = 0;
        ND_TRY(nd_arg_num("fmt", 1, x, &d));
        f[fl++] = conv;
        f[fl] = '\0';
        len = snprintf(buf, sizeof buf, f, d);
    }
    if (len < 0 || (size_t)len >= sizeof buf) goto bad;
    return nd_str_value(buf, (size_t)len, out);
bad:
    return nd_err_set(ND_EPROG, "fmt: bad format spec \"%.40s\" (expected e.g. \".3f\", \"5d\", \"e\")",
                      s);
}

/* ---- SPMD ---- */

nd_status nd_bi_RANK(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    *out = ND_INT(nd_spmd_rank());
    return ND_OK;
}

nd_status nd_bi_NRANKS(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    *out = ND_INT(nd_spmd_size());
    return ND_OK;
}

nd_status nd_bi_BARRIER(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    return nd_spmd_barrier();
}

nd_status nd_bi_WTIME(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    *out = ND_FLOAT(nd_spmd_wtime());
    return ND_OK;
}

/* ---- I/O ---- */

/* print: rank 0 writes the line and flushes, so that output survives a later abort. */
nd_status nd_bi_PRINT(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    if (nd_spmd_rank() != 0) return ND_OK;
    nd_strbuf sb;
    nd_sb_init(&sb);
    nd_status st = ND_OK;
    for (int k = 0; st == ND_OK && k < nargs; k++) {
        if (k) st = nd_sb_putc(&sb, ' ');
        if (st == ND_OK) st = nd_val_repr(vm->prog, &sb, args[k], false);
    }
    if (st == ND_OK) st = nd_sb_putc(&sb, '\n');
    if (st == ND_OK) {
        fwrite(sb.data, 1, sb.len, vm->opts.out);
        fflush(vm->opts.out);
    }
    nd_sb_free(&sb);
    return st;
}

/* ---- jobs ---- */

nd_status nd_bi_PARAM(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_str *name = NULL;
    ND_TRY(nd_arg_str("param", 1, args[0], &name));
    if (vm->has_hooks && vm->hooks.param) {
        /* The hook returns a new reference, or the default itself (borrowed). */
        ND_TRY(vm->hooks.param(vm->hooks.ctx, vm, name->data, args[1], out));
        if (ND_IS_OBJ(*out) && ND_IS_OBJ(args[1]) && out->as.o == args[1].as.o)
            nd_val_incref(*out);
        return ND_OK;
    }
    nd_val_incref(args[1]);
    *out = args[1];
    return ND_OK;
}

nd_status nd_bi_CHECKPOINT(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    if (!vm->has_hooks || !vm->hooks.checkpoint)
        return nd_err_set(ND_EPROG, "checkpoint() is not available: no checkpoint support "
                                    "in this run (use noodle-run with a checkpoint directory)");
    return vm->hooks.checkpoint(vm->hooks.ctx, vm);
}

static nd_status message_of(nd_vm *vm, nd_value v, nd_value *s)
{
    return nd_val_tostr(vm->prog, v, s);
}

nd_status nd_bi_ASSERT(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    if (!ND_FALSY(args[0])) return ND_OK;
    nd_value s;
    ND_TRY(message_of(vm, args[1], &s));
    nd_err_set(ND_EPROG, "assertion failed: %s", ND_AS_STR(s)->data);
    nd_val_decref(s);
    return ND_EPROG;
}

nd_status nd_bi_ERROR(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_value s;
    ND_TRY(message_of(vm, args[0], &s));
    nd_err_set(ND_EPROG, "%s", ND_AS_STR(s)->data);
    nd_val_decref(s);
    return ND_EPROG;
}

/* ---- catalog ---- */

static nd_status no_catalog(const char *fn)
{
    return nd_err_set(ND_EPROG, "%s() is not available: no results catalog in this run "
                                "(use noodle-run with --catalog)", fn);
}

nd_status nd_bi_STORE(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_str *name = NULL;
    ND_TRY(nd_arg_str("store", 1, args[0], &name));
    nd_value tags = nargs > 2 ? args[2] : ND_NIL;
    nd_value meta = nargs > 3 ? args[3] : ND_NIL;
    if (tags.type != ND_T_NIL && tags.type != ND_T_MAP)
        return bad_arg("store", 3, "a map", tags);
    if (meta.type != ND_T_NIL && meta.type != ND_T_MAP)
        return bad_arg("store", 4, "a map", meta);
    if (!vm->has_hooks || !vm->hooks.store) return no_catalog("store");
    return vm->hooks.store(vm->hooks.ctx, vm, name->data, args[1], tags, meta);
}

/* load(name) asks for the latest version (version 0); load(name, v) for version v. */
nd_status nd_bi_LOAD(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_str *name = NULL;
    int64_t version = 0;
    ND_TRY(nd_arg_str("load", 1, args[0], &name));
    if (nargs > 1) ND_TRY(nd_arg_int("load", 2, args[1], &version));
    if (!vm->has_hooks || !vm->hooks.load) return no_catalog("load");
    return vm->hooks.load(vm->hooks.ctx, vm, name->data, version, out);
}

nd_status nd_bi_QUERY(nd_vm *vm, nd_value *args, int nargs, nd_value *out)
{
    nd_str *q = NULL;
    ND_TRY(nd_arg_str("query", 1, args[0], &q));
    if (!vm->has_hooks || !vm->hooks.query) return no_catalog("query");
    return vm->hooks.query(vm->hooks.ctx, vm, q->data, out);
}
