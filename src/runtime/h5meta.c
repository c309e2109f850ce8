/* h5meta.c: attributes and scalar datasets of plain HDF5 files (h5meta.h).
 *
 * Every rank opens the file with the MPI-IO driver and makes the same metadata calls
 * with the same values (creating a dataset or an attribute is collective in parallel
 * HDF5); the one scalar value is written by rank 0 alone (independent transfer).  On
 * reading, every rank reads the same attributes itself; the statuses are agreed.
 */
#include "runtime/h5meta.h"

#include "common/alloc.h"
#include "runtime/arr.h"
#include "runtime/dm_h5.h"
#include "runtime/h5.h"
#include "runtime/spmd.h"

#include <hdf5.h>
#include <string.h>

static void attr_free(nd_h5attr *a)
{
    if (a->name) nd_strfree(a->name);
    if (a->s) nd_strfree(a->s);
    if (a->v) ND_FREE_N(a->v, a->n);
    memset(a, 0, sizeof *a);
}

void nd_h5_attrs_free(nd_h5attr *a, size_t n)
{
    if (!a) return;
    for (size_t k = 0; k < n; k++) attr_free(&a[k]);
    ND_FREE_N(a, n ? n : 1);
}

/* Rank-local: dataset := the number v, a scalar dataset (replacing one of that name). */
static nd_status write_scalar(hid_t fid, const char *dataset, double v, const char *path)
{
    nd_status st = ND_OK;
    hid_t space = H5Screate(H5S_SCALAR), lcpl = H5Pcreate(H5P_LINK_CREATE), dset = -1;
    if (space < 0 || lcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0)
        st = nd_err_set(ND_EIO, "HDF5: cannot set up dataset '%s' in '%s'", dataset, path);
    if (st == ND_OK && H5Lexists(fid, dataset, H5P_DEFAULT) > 0 &&
        H5Ldelete(fid, dataset, H5P_DEFAULT) < 0)
        st = nd_err_set(ND_EIO, "cannot replace dataset '%s' in '%s'", dataset, path);
    if (st == ND_OK) {
        dset = H5Dcreate2(fid, dataset, H5T_IEEE_F64LE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        if (dset < 0) st = nd_err_set(ND_EIO, "cannot create dataset '%s' in '%s'", dataset, path);
    }
    if (st == ND_OK && nd_spmd_rank() == 0 &&
        H5Dwrite(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) < 0)
        st = nd_err_set(ND_EIO, "cannot write dataset '%s' in '%s'", dataset, path);
    if (dset >= 0 && H5Dclose(dset) < 0 && st == ND_OK)
        st = nd_err_set(ND_EIO, "cannot close dataset '%s' in '%s'", dataset, path);
    if (lcpl >= 0) H5Pclose(lcpl);
    if (space >= 0) H5Sclose(space);
    return st;
}

/* Rank-local: one attribute of obj (an existing one of that name is replaced). */
static nd_status write_attr(hid_t obj, const nd_h5attr *a, const char *what, const char *path)
{
    if (H5Aexists(obj, a->name) > 0 && H5Adelete(obj, a->name) < 0)
        return nd_err_set(ND_EIO, "cannot replace attribute '%s' of '%s' in '%s'", a->name,
                          what, path);
    herr_t rc = a->kind == ND_H5A_INT     ? nd_h5_attr_i64(obj, a->name, a->i)
                : a->kind == ND_H5A_FLOAT ? nd_h5_attr_f64(obj, a->name, a->f)
                                          : nd_h5_attr_vstr(obj, a->name, a->s);
    if (rc < 0)
        return nd_err_set(ND_EIO, "cannot write attribute '%s' of '%s' in '%s'", a->name, what,
                          path);
    return ND_OK;
}

nd_status nd_h5_write(const char *path, const char *dataset, const nd_dm *A,
                      const double *scalar, const nd_h5attr *attrs, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        ND_CHECK(attrs[k].kind != ND_H5A_FLOATS, ND_EINTERNAL, "h5write: array attribute");
        ND_CHECK(attrs[k].kind != ND_H5A_STR || !memchr(attrs[k].s, 0, attrs[k].len), ND_EPROG,
                 "attribute '%s': a string with a NUL byte cannot be stored", attrs[k].name);
    }
    /* a full disk is one clear error here, not a failure inside MPI-IO */
    ND_TRY(nd_h5_check_room(path, A ? (uint64_t)nd_arr_size(A) * sizeof(double) : 8, "h5write"));
    int64_t fid;
    ND_TRY(nd_h5_open_file(path, true, &fid));
    nd_status st = A ? nd_dm_h5write_loc(fid, dataset, A)
                     : nd_spmd_agree(write_scalar((hid_t)fid, dataset, *scalar, path));
    hid_t obj = -1;
    if (st == ND_OK && n > 0) {
        obj = H5Oopen((hid_t)fid, dataset, H5P_DEFAULT);
        if (obj < 0) st = nd_err_set(ND_EIO, "cannot open dataset '%s' in '%s'", dataset, path);
        for (size_t k = 0; st == ND_OK && k < n; k++) st = write_attr(obj, &attrs[k], dataset, path);
        if (obj >= 0) H5Oclose(obj);
        st = nd_spmd_agree(st);
    }
    return nd_h5_close_file(fid, path, st);
}

nd_status nd_h5_read(const char *path, const char *dataset, nd_dm **out, double *scalar,
                     bool *is_scalar)
{
    *out = NULL;
    *is_scalar = false;
    int64_t fid;
    ND_TRY(nd_h5_open_file(path, false, &fid));
    /* A scalar numeric dataset is a number; everything else (errors included) is left to
     * the array reader. */
    hid_t dset = H5Dopen2((hid_t)fid, dataset, H5P_DEFAULT);
    nd_status st = ND_OK;
    if (dset >= 0) {
        hid_t space = H5Dget_space(dset), type = H5Dget_type(dset);
        H5T_class_t cls = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
        if (space >= 0 && H5Sget_simple_extent_type(space) == H5S_SCALAR &&
            (cls == H5T_FLOAT || cls == H5T_INTEGER)) {
            *is_scalar = true;
            if (H5Dread(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, scalar) < 0)
                st = nd_err_set(ND_EIO, "cannot read dataset '%s' in '%s'", dataset, path);
        }
        if (type >= 0) H5Tclose(type);
        if (space >= 0) H5Sclose(space);
        H5Dclose(dset);
    }
    st = nd_spmd_agree(st);
    if (st == ND_OK && !*is_scalar) st = nd_dm_h5read_loc(fid, dataset, out);
    st = nd_h5_close_file(fid, path, st);
    if (st != ND_OK && *out) {
        nd_dm_free(*out);
        *out = NULL;
    }
    return st;
}

typedef struct reader {
    const char *what, *path;
    nd_h5attr *a;
    size_t n, cap;
    nd_status st;
} reader;

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_TIME: return "time";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "variable-length";
    case H5T_ARRAY: return "array";
    default: return "unknown";
    }
}

static nd_status read_attr(hid_t attr, nd_h5attr *a, const reader *r)
{
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    H5T_class_t cls = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
    hssize_t np = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    nd_status st = ND_OK;
    if (type < 0 || space < 0 || np < 0) {
        st = nd_err_set(ND_EIO, "cannot read attribute '%s' of '%s' in '%s'", a->name, r->what,
                        r->path);
    } else if (cls == H5T_STRING) {
        if (np != 1)
            st = nd_err_set(ND_EIO, "attribute '%s' of '%s' in '%s' holds %lld strings "
                            "(h5attrs reads one)", a->name, r->what, r->path, (long long)np);
        else if (nd_h5_attr_read_str(attr, &a->s) < 0)
            st = nd_err_set(ND_EIO, "cannot read attribute '%s' of '%s' in '%s' (a string of "
                            "16 MiB or more is refused)", a->name, r->what, r->path);
        else a->len = strlen(a->s);
        a->kind = ND_H5A_STR;
    } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
        if (np == 0 || (size_t)np > ND_H5A_MAX_ELEMS) {
            st = nd_err_set(ND_EIO, "attribute '%s' of '%s' in '%s' holds %lld numbers (h5attrs "
                            "reads 1 to %zu)", a->name, r->what, r->path, (long long)np,
                            ND_H5A_MAX_ELEMS);
        } else if (np == 1 && cls == H5T_INTEGER) {
            a->kind = ND_H5A_INT;
            if (H5Aread(attr, H5T_NATIVE_INT64, &a->i) < 0) st = ND_EIO;
        } else if (np == 1) {
            a->kind = ND_H5A_FLOAT;
            if (H5Aread(attr, H5T_NATIVE_DOUBLE, &a->f) < 0) st = ND_EIO;
        } else {
            a->kind = ND_H5A_FLOATS;
            a->n = (size_t)np;
            a->v = ND_ALLOC_N(double, a->n);
            if (!a->v) st = ND_ENOMEM;
            else if (H5Aread(attr, H5T_NATIVE_DOUBLE, a->v) < 0) st = ND_EIO;
        }
        if (st == ND_EIO)
            st = nd_err_set(ND_EIO, "cannot read attribute '%s' of '%s' in '%s'", a->name,
                            r->what, r->path);
    } else {
        st = nd_err_set(ND_EIO, "attribute '%s' of '%s' in '%s' is of a %s type (h5attrs reads "
                        "numbers and strings)", a->name, r->what, r->path, class_name(cls));
    }
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    return st;
}

static herr_t on_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    reader *r = data;
    if (r->n >= ND_H5A_MAX_COUNT) {
        r->st = nd_err_set(ND_EIO, "'%s' in '%s' has over %d attributes", r->what, r->path,
                           ND_H5A_MAX_COUNT);
        return -1;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 8;
        nd_h5attr *a = nd_realloc_n(r->a, r->cap, cap, sizeof *a);
        if (!a) {
            r->st = ND_ENOMEM;
            return -1;
        }
        memset(a + r->cap, 0, (cap - r->cap) * sizeof *a);
        r->a = a, r->cap = cap;
    }
    nd_h5attr *a = &r->a[r->n++];
    a->name = nd_strdup(name);
    if (!a->name) {
        r->st = ND_ENOMEM;
        return -1;
    }
    hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
    if (attr < 0) {
        r->st = nd_err_set(ND_EIO, "cannot open attribute '%s' of '%s' in '%s'", name, r->what,
                           r->path);
        return -1;
    }
    r->st = read_attr(attr, a, r);
    H5Aclose(attr);
    return r->st == ND_OK ? 0 : -1;
}

nd_status nd_h5_attrs(const char *path, const char *name, nd_h5attr **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int64_t fid;
    ND_TRY(nd_h5_open_file(path, false, &fid));
    reader r = {.what = name, .path = path, .st = ND_OK};
    hid_t obj = H5Oopen((hid_t)fid, name, H5P_DEFAULT);
    if (obj < 0) {
        r.st = nd_err_set(ND_EIO, "no object '%s' in '%s'", name, path);
    } else {
        hsize_t idx = 0;
        if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, on_attr, &r) < 0 && r.st == ND_OK)
            r.st = nd_err_set(ND_EIO, "cannot list the attributes of '%s' in '%s'", name, path);
        H5Oclose(obj);
    }
    /* exactly n entries, so that nd_h5_attrs_free(a, n) frees what was allocated */
    if (r.st == ND_OK && r.cap > r.n) {
        nd_h5attr *a = r.n ? nd_realloc_n(r.a, r.cap, r.n, sizeof *a) : NULL;
        if (r.n && !a) {
            r.st = ND_ENOMEM;
        } else {
            if (!r.n) ND_FREE_N(r.a, r.cap);
            r.a = a, r.cap = r.n;
        }
    }
    nd_status st = nd_h5_close_file(fid, path, nd_spmd_agree(r.st));
    if (st != ND_OK) {
        nd_h5_attrs_free(r.a, r.cap);
        return st;
    }
    *out = r.a;
    *n = r.n;
    return ND_OK;
}
