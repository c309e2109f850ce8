/* members.c: map results (ND_CAT_MAP), one dataset per member.  A store writes in two
 * steps: all ranks create the temporary file with the MPI-IO driver and write every
 * array member collectively (nothing is gathered); then rank 0 alone reopens it to add
 * the root attributes, the scalar members, the members' attributes and the dimension
 * scales (metadata only, and strings, which parallel HDF5 cannot write).  Every check
 * runs before the version is claimed, so bad input leaves no version behind.  A load
 * reads the member table on rank 0, broadcasts it, and reads the arrays collectively.
 * Specified by docs/catalog.md "Map results".
 */
#include "catalog/cat_internal.h"

#include "common/alloc.h"
#include "runtime/arr.h"

#include <hdf5_hl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Each member is a dataset: a map of more would be a file nobody can browse. */
#define MAX_MEMBERS 4096

/* netCDF-4's mark of a dimension scale that is not a variable (xarray shows no coordinate). */
#define NC_DIM_ONLY "This is a netCDF dimension but not a netCDF variable."

/* A dimension of the result: its name, length and the member that holds its values. */
typedef struct dim {
    char name[140];
    int64_t len;
    const nd_cat_member *coord; /* NULL: an index dimension without values */
} dim;

static bool is_array(const nd_cat_member *m) { return m->item.kind == ND_CAT_MATRIX; }

static const nd_cat_member *find(const nd_cat_item *it, const char *name)
{
    for (size_t i = 0; i < it->nmembers; i++)
        if (strcmp(it->members[i].name, name) == 0) return &it->members[i];
    return NULL;
}

/* Whether another member's dims name member m (which makes m a coordinate). */
static bool named_as_dim(const nd_cat_item *it, const nd_cat_member *m)
{
    for (size_t i = 0; i < it->nmembers; i++)
        for (size_t k = 0; k < it->members[i].ndims; k++)
            if (&it->members[i] != m && strcmp(it->members[i].dims[k], m->name) == 0) return true;
    return false;
}

/* The name of dimension k of array member m: the given one; without dims, a coordinate's
 * own name, else NAME_dimK. */
static void dim_name(const nd_cat_item *it, const nd_cat_member *m, size_t k, char *buf, size_t size)
{
    if (m->ndims) snprintf(buf, size, "%s", m->dims[k]);
    else if (k == 0 && nd_arr_ndim(m->item.m) == 1 && named_as_dim(it, m)) snprintf(buf, size, "%s", m->name);
    else snprintf(buf, size, "%s_dim%zu", m->name, k);
}

static bool attr_key_ok(const char *k)
{
    static const char *const reserved[] = {"CLASS", "NAME", "DIMENSION_LIST", "REFERENCE_LIST",
                                           "noodle_kind", "dims"};
    size_t n = strlen(k);
    if (n == 0 || n > 200 || k[0] == '_') return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x20 || k[i] == '/') return false;
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (strcmp(k, reserved[i]) == 0) return false;
    return true;
}

/* Adds dimension `name` of length len used by member m (axis k) to the table, or checks
 * it against the entry already there. */
static nd_status add_dim(const nd_cat_item *it, const nd_cat_member *m, size_t k, const char *name,
                         int64_t len, dim *dims, size_t *ndims)
{
    for (size_t i = 0; i < *ndims; i++) {
        if (strcmp(dims[i].name, name) != 0) continue;
        if (dims[i].len != len)
            return nd_err_set(ND_EPROG, "store: dimension '%s' is %" PRId64 " long, but axis %zu of "
                              "'%s' is %" PRId64, name, dims[i].len, k, m->name, len);
        return ND_OK;
    }
    if (!nd_cat_name_valid(name))
        return nd_err_set(ND_EPROG, "store: invalid dimension name '%s' in the dims of '%s' "
                          "(letters, digits, _ . - ; at most 128)", name, m->name);
    const nd_cat_member *c = find(it, name);
    if (c && c != m && !m->ndims)
        return nd_err_set(ND_EPROG, "store: '%s' has no dims and its default dimension name '%s' "
                          "is another member's; give its dims in meta", m->name, name);
    if (c) {
        if (!is_array(c))
            return nd_err_set(ND_EPROG, "store: '%s' names '%s' as a dimension, so '%s' must be a "
                              "1-D array (a coordinate), not a scalar", m->name, name, name);
        if (nd_arr_ndim(c->item.m) != 1) {
            char shape[ND_SHAPE_STR];
            nd_arr_shape_str(nd_arr_ndim(c->item.m), nd_arr_shape(c->item.m), shape);
            return nd_err_set(ND_EPROG, "store: '%s' names '%s' as a dimension, so '%s' must be a "
                              "1-D array (a coordinate), not of shape %s (reshape(%s, [%" PRId64
                              "]) makes one)", m->name, name, name, shape, name,
                              nd_arr_size(c->item.m));
        }
        if (nd_arr_shape(c->item.m)[0] != len)
            return nd_err_set(ND_EPROG, "store: axis %zu of '%s' is %" PRId64 " long, but its "
                              "coordinate '%s' has %" PRId64 " values", k, m->name, len, name,
                              nd_arr_shape(c->item.m)[0]);
        if (c->ndims == 1 && strcmp(c->dims[0], name) != 0)
            return nd_err_set(ND_EPROG, "store: '%s' is a coordinate, so its dims must be ['%s']",
                              name, name);
    }
    dim *d = &dims[(*ndims)++];
    snprintf(d->name, sizeof d->name, "%s", name);
    d->len = len;
    d->coord = c;
    return ND_OK;
}

/* The dimension table of a map result (*out: *cap entries allocated, *n used), after
 * checking the members, their attributes and dims.  Uniform: every rank gets the same
 * answer. */
static nd_status dim_table(const nd_cat_item *it, dim **out, size_t *n, size_t *cap_out)
{
    *out = NULL;
    *n = *cap_out = 0;
    ND_CHECK(it->nmembers > 0, ND_EPROG, "store: a map result needs at least one member");
    ND_CHECK(it->nmembers <= MAX_MEMBERS, ND_EPROG,
             "store: a map result holds at most %d members, not %zu", MAX_MEMBERS, it->nmembers);
    size_t cap = 0;
    for (size_t i = 0; i < it->nmembers; i++) {
        const nd_cat_member *m = &it->members[i];
        ND_CHECK(nd_cat_name_valid(m->name), ND_EPROG,
                 "store: invalid member name '%s' (letters, digits, _ . - ; at most 128; not "
                 "starting with . or -)", m->name);
        ND_CHECK(m->item.kind >= ND_CAT_INT && m->item.kind <= ND_CAT_MATRIX, ND_EINTERNAL,
                 "store: member '%s' of kind %d", m->name, (int)m->item.kind);
        for (size_t j = 0; j < i; j++)
            ND_CHECK(strcmp(it->members[j].name, m->name) != 0, ND_EPROG,
                     "store: member '%s' appears twice", m->name);
        for (size_t a = 0; a < m->nattrs; a++) {
            const nd_cat_tag *t = &m->attrs[a];
            ND_CHECK(attr_key_ok(t->key), ND_EPROG,
                     "store: invalid attribute '%s' of '%s' (reserved, empty, or with '/' or "
                     "control characters)", t->key, m->name);
            ND_CHECK(t->value.type == ND_CAT_CINT || t->value.type == ND_CAT_CFLOAT ||
                     (t->value.type == ND_CAT_CSTR && t->value.s), ND_EPROG,
                     "store: attribute '%s' of '%s' must be a number or a string", t->key, m->name);
            for (size_t b = 0; b < a; b++)
                ND_CHECK(strcmp(m->attrs[b].key, t->key) != 0, ND_EPROG,
                         "store: attribute '%s' of '%s' appears twice", t->key, m->name);
        }
        if (!is_array(m)) {
            ND_CHECK(m->ndims == 0, ND_EPROG, "store: '%s' has dims but is not an array", m->name);
            continue;
        }
        size_t nd = (size_t)nd_arr_ndim(m->item.m);
        char shape[ND_SHAPE_STR];
        ND_CHECK(m->ndims == 0 || m->ndims == nd, ND_EPROG,
                 "store: '%s' is %zu-D (shape %s) but its dims name %zu dimension%s", m->name, nd,
                 nd_arr_shape_str((int)nd, nd_arr_shape(m->item.m), shape), m->ndims,
                 m->ndims == 1 ? "" : "s");
        cap += nd;
    }
    dim *dims = ND_ALLOC_N(dim, cap ? cap : 1);
    if (!dims) return ND_ENOMEM;
    nd_status st = ND_OK;
    for (size_t i = 0; st == ND_OK && i < it->nmembers; i++) {
        const nd_cat_member *m = &it->members[i];
        if (!is_array(m)) continue;
        for (size_t k = 0; st == ND_OK && k < (size_t)nd_arr_ndim(m->item.m); k++) {
            char name[140];
            dim_name(it, m, k, name, sizeof name);
            st = add_dim(it, m, k, name, nd_arr_shape(m->item.m)[k], dims, n);
        }
    }
    if (st != ND_OK) {
        ND_FREE_N(dims, cap ? cap : 1);
        *n = 0;
        return st;
    }
    *out = dims;
    *cap_out = cap ? cap : 1;
    return ND_OK;
}

nd_status nd_cat_members_check(const nd_cat_item *it)
{
    dim *dims;
    size_t n, cap;
    ND_TRY(dim_table(it, &dims, &n, &cap));
    ND_FREE_N(dims, cap);
    return ND_OK;
}

nd_status nd_cat_members_write_arrays(hid_t f, const nd_cat_item *it)
{
    for (size_t i = 0; i < it->nmembers; i++)
        if (is_array(&it->members[i]))
            ND_TRY(nd_dm_h5write_loc((int64_t)f, it->members[i].name, it->members[i].item.m));
    return ND_OK;
}

static nd_status io_fail(herr_t rc, const char *what, const char *name)
{
    return rc < 0 ? nd_err_set(ND_EIO, "store: cannot write %s of '%s'", what, name) : ND_OK;
}

/* A scalar member: int64, double or a variable-length UTF-8 string (JSON: noodle_kind). */
static nd_status write_scalar(hid_t f, const nd_cat_member *m)
{
    herr_t rc = nd_cat_write_value(f, m->name, &m->item);
    if (rc >= 0 && m->item.kind == ND_CAT_JSON) {
        hid_t d = H5Dopen2(f, m->name, H5P_DEFAULT);
        rc = d >= 0 ? nd_h5_attr_vstr(d, "noodle_kind", "json") : -1;
        if (d >= 0) H5Dclose(d);
    }
    return io_fail(rc, "the value", m->name);
}

static nd_status write_attrs(hid_t f, const nd_cat_member *m)
{
    if (!m->nattrs) return ND_OK;
    hid_t d = H5Dopen2(f, m->name, H5P_DEFAULT);
    herr_t rc = d >= 0 ? 0 : -1;
    for (size_t a = 0; rc >= 0 && a < m->nattrs; a++) {
        const nd_cat_tag *t = &m->attrs[a];
        if (t->value.type == ND_CAT_CINT) rc = nd_h5_attr_i64(d, t->key, t->value.i);
        else if (t->value.type == ND_CAT_CFLOAT) rc = nd_h5_attr_f64(d, t->key, t->value.f);
        else rc = nd_h5_attr_vstr(d, t->key, t->value.s);
    }
    if (d >= 0) H5Dclose(d);
    return io_fail(rc, "the attributes", m->name);
}

/* The root attribute "members": the member names in the map's order (the order load
 * gives back), a 1-D array of variable-length strings. */
static nd_status write_member_list(hid_t f, const nd_cat_item *it)
{
    const char **names = ND_ALLOC_N(const char *, it->nmembers);
    if (!names) return ND_ENOMEM;
    for (size_t i = 0; i < it->nmembers; i++) names[i] = it->members[i].name;
    hsize_t n = it->nmembers;
    hid_t t = nd_h5_vstr_type();
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t a = t >= 0 && sp >= 0 ? H5Acreate2(f, "members", t, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
    herr_t rc = a >= 0 ? H5Awrite(a, t, names) : -1;
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    ND_FREE_N(names, it->nmembers);
    return io_fail(rc, "the member list", "/");
}

/* Makes every dimension a scale and attaches it.  A dimension without a coordinate
 * member gets a dataset of its indices 0, 1, ... marked as netCDF-4 marks a dimension
 * that is not a variable, so xarray names the dimension and shows no coordinate. */
static nd_status write_scales(hid_t f, const nd_cat_item *it, const dim *dims, size_t ndims)
{
    herr_t rc = 0;
    for (size_t i = 0; rc >= 0 && i < ndims; i++) {
        const dim *d = &dims[i];
        hid_t sd;
        if (d->coord) {
            sd = H5Dopen2(f, d->name, H5P_DEFAULT);
            rc = sd >= 0 ? H5DSset_scale(sd, d->name) : -1;
        } else {
            hsize_t len = (hsize_t)d->len;
            hid_t sp = H5Screate_simple(1, &len, NULL);
            sd = sp >= 0 ? H5Dcreate2(f, d->name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                                      H5P_DEFAULT) : -1;
            if (sp >= 0) H5Sclose(sp);
            int64_t *idx = ND_ALLOC_N(int64_t, len ? len : 1);
            for (hsize_t k = 0; idx && k < len; k++) idx[k] = (int64_t)k;
            rc = sd >= 0 && idx ? H5Dwrite(sd, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, idx) : -1;
            if (idx) ND_FREE_N(idx, len ? len : 1);
            char mark[96];
            snprintf(mark, sizeof mark, "%s%10" PRId64, NC_DIM_ONLY, d->len);
            if (rc >= 0) rc = H5DSset_scale(sd, mark);
        }
        for (size_t m = 0; rc >= 0 && m < it->nmembers; m++) {
            const nd_cat_member *mb = &it->members[m];
            if (!is_array(mb) || mb == d->coord) continue;
            hid_t md = -1;
            for (size_t k = 0; rc >= 0 && k < (size_t)nd_arr_ndim(mb->item.m); k++) {
                char name[140];
                dim_name(it, mb, k, name, sizeof name);
                if (strcmp(name, d->name) != 0) continue;
                if (md < 0) md = H5Dopen2(f, mb->name, H5P_DEFAULT);
                rc = md >= 0 ? H5DSattach_scale(md, sd, (unsigned)k) : -1;
                if (rc >= 0) rc = H5DSset_label(md, (unsigned)k, d->name); /* h5py's dims[k].label */
            }
            if (md >= 0) H5Dclose(md);
        }
        if (sd >= 0) H5Dclose(sd);
        if (rc < 0) return nd_err_set(ND_EIO, "store: cannot write dimension '%s'", d->name);
    }
    return ND_OK;
}

nd_status nd_cat_members_write_rest(const char *tmp, const nd_cat_index *one, const nd_cat_item *it)
{
    dim *dims = NULL;
    size_t ndims = 0, cap = 0;
    ND_TRY(dim_table(it, &dims, &ndims, &cap));
    hid_t fapl = nd_cat_fapl();
    hid_t f = H5Fopen(tmp, H5F_ACC_RDWR, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    nd_status st = f >= 0 ? ND_OK : nd_err_set(ND_EIO, "store: cannot reopen %s", tmp);
    if (st == ND_OK) st = nd_cat_result_write_meta(f, one);
    if (st == ND_OK) st = write_member_list(f, it);
    for (size_t i = 0; st == ND_OK && i < it->nmembers; i++) {
        if (!is_array(&it->members[i])) st = write_scalar(f, &it->members[i]);
        if (st == ND_OK) st = write_attrs(f, &it->members[i]);
    }
    if (st == ND_OK) st = write_scales(f, it, dims, ndims);
    if (f >= 0 && nd_h5_close_tmp(f, tmp, st == ND_OK, MPI_COMM_NULL) < 0 && st == ND_OK)
        st = nd_err_set(ND_EIO, "store: cannot finish writing %s (is the disk or quota full?)", tmp);
    ND_FREE_N(dims, cap);
    return st;
}

/* ---- load ---------------------------------------------------------------------------- */

/* Rank 0: reads the member names and the scalar members into out->members. */
static nd_status read_members(const char *path, nd_cat_item *out)
{
    hid_t fapl = nd_cat_fapl();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) return nd_err_set(ND_EINVALID, "load: cannot open %s", path);
    nd_status st = ND_OK;
    hid_t a = H5Aopen(f, "members", H5P_DEFAULT);
    hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
    hid_t t = nd_h5_vstr_type();
    hssize_t n = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 ? H5Sget_simple_extent_npoints(sp) : -1;
    char **names = n > 0 && n <= MAX_MEMBERS ? ND_ALLOC_N(char *, (size_t)n) : NULL;
    if (!names || t < 0 || H5Aread(a, t, names) < 0) {
        if (names) ND_FREE_N(names, (size_t)n), names = NULL;
        st = nd_err_set(ND_EINVALID, "load: %s has no readable member list", path);
    }
    if (st == ND_OK) {
        out->members = ND_ALLOC_N(nd_cat_member, (size_t)n);
        if (!out->members) st = ND_ENOMEM;
        else out->nmembers = (size_t)n;
    }
    for (size_t i = 0; st == ND_OK && i < out->nmembers; i++) {
        nd_cat_member *m = &out->members[i];
        m->name = names[i] && nd_cat_name_valid(names[i]) ? nd_strdup(names[i]) : NULL;
        if (!m->name) {
            st = nd_err_set(ND_EINVALID, "load: %s: bad member name", path);
            break;
        }
        hid_t d = H5Dopen2(f, m->name, H5P_DEFAULT);
        hid_t ds = d >= 0 ? H5Dget_space(d) : -1;
        hid_t dt = d >= 0 ? H5Dget_type(d) : -1;
        int rank = ds >= 0 ? H5Sget_simple_extent_ndims(ds) : -1;
        H5T_class_t cls = dt >= 0 ? H5Tget_class(dt) : H5T_NO_CLASS;
        herr_t rc = -1;
        if (rank > 0 && cls == H5T_FLOAT) {
            m->item.kind = ND_CAT_MATRIX; /* read collectively by the caller */
            rc = 0;
        } else if (rank == 0 && cls == H5T_INTEGER) {
            m->item.kind = ND_CAT_INT;
            rc = H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &m->item.i);
        } else if (rank == 0 && cls == H5T_FLOAT) {
            m->item.kind = ND_CAT_FLOAT;
            rc = H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &m->item.f);
        } else if (rank == 0 && cls == H5T_STRING) {
            char *s = NULL;
            rc = t >= 0 ? H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) : -1;
            if (rc >= 0) {
                m->item.kind = H5Aexists(d, "noodle_kind") > 0 ? ND_CAT_JSON : ND_CAT_STRING;
                m->item.len = s ? strlen(s) : 0;
                m->item.s = nd_strndup(s ? s : "", m->item.len);
                if (!m->item.s) st = ND_ENOMEM;
                H5free_memory(s);
            }
        }
        if (dt >= 0) H5Tclose(dt);
        if (ds >= 0) H5Sclose(ds);
        if (d >= 0) H5Dclose(d);
        if (st == ND_OK && rc < 0)
            st = nd_err_set(ND_EINVALID, "load: %s: member '%s' is missing or unreadable", path, m->name);
    }
    if (names) {
        H5Dvlen_reclaim(t, sp, H5P_DEFAULT, names);
        ND_FREE_N(names, (size_t)n);
    }
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    H5Fclose(f);
    return st;
}

/* Rank 0 -> all: the member table as bytes: per member the name (NUL-terminated), then
 * kind (int64), i (int64), f (double), len (uint64) and len string bytes. */
static nd_status pack(const nd_cat_item *it, nd_strbuf *sb)
{
    for (size_t i = 0; i < it->nmembers; i++) {
        const nd_cat_member *m = &it->members[i];
        int64_t hdr[2] = {(int64_t)m->item.kind, m->item.i};
        uint64_t len = m->item.s ? m->item.len : 0;
        ND_TRY(nd_sb_append(sb, m->name, strlen(m->name) + 1));
        ND_TRY(nd_sb_append(sb, hdr, sizeof hdr));
        ND_TRY(nd_sb_append(sb, &m->item.f, sizeof m->item.f));
        ND_TRY(nd_sb_append(sb, &len, sizeof len));
        if (len) ND_TRY(nd_sb_append(sb, m->item.s, (size_t)len));
    }
    return ND_OK;
}

static nd_status unpack(const char *p, size_t n, size_t count, nd_cat_item *out)
{
    const char *end = p + n;
    out->members = ND_ALLOC_N(nd_cat_member, count ? count : 1);
    if (!out->members) return ND_ENOMEM;
    out->nmembers = count;
    for (size_t i = 0; i < count; i++) {
        nd_cat_member *m = &out->members[i];
        size_t nl = strnlen(p, (size_t)(end - p));
        int64_t hdr[2];
        uint64_t len;
        if ((size_t)(end - p) < nl + 1 + sizeof hdr + sizeof(double) + sizeof len)
            return nd_err_set(ND_EINTERNAL, "load: bad member table");
        m->name = nd_strndup(p, nl);
        p += nl + 1;
        memcpy(hdr, p, sizeof hdr), p += sizeof hdr;
        memcpy(&m->item.f, p, sizeof(double)), p += sizeof(double);
        memcpy(&len, p, sizeof len), p += sizeof len;
        m->item.kind = (nd_cat_kind)hdr[0], m->item.i = hdr[1];
        if (len > (uint64_t)(end - p)) return nd_err_set(ND_EINTERNAL, "load: bad member table");
        if (m->item.kind == ND_CAT_STRING || m->item.kind == ND_CAT_JSON) {
            m->item.len = (size_t)len;
            m->item.s = nd_strndup(p, (size_t)len);
            if (!m->item.s) return ND_ENOMEM;
        }
        p += len;
        if (!m->name) return ND_ENOMEM;
    }
    return ND_OK;
}

nd_status nd_cat_members_load(nd_cat *cat, const char *path, nd_cat_item *out)
{
    nd_status st = ND_OK;
    nd_strbuf sb;
    nd_sb_init(&sb);
    if (cat->rank == 0) {
        st = read_members(path, out);
        if (st == ND_OK) st = pack(out, &sb);
    }
    st = nd_cat_share_status(cat, st);
    uint64_t hdr[2] = {(uint64_t)sb.len, (uint64_t)out->nmembers};
    if (st == ND_OK) st = nd_cat_bcast(cat, hdr, 2, MPI_UINT64_T);
    if (st == ND_OK && cat->rank != 0) st = nd_sb_reserve(&sb, (size_t)hdr[0]);
    if (st == ND_OK) st = nd_spmd_agree_on(cat->comm, st);
    if (st == ND_OK && hdr[0]) st = nd_cat_bcast(cat, sb.data, (int)hdr[0], MPI_BYTE);
    if (st == ND_OK && cat->rank != 0) st = unpack(sb.data, (size_t)hdr[0], (size_t)hdr[1], out);
    nd_sb_free(&sb);
    st = nd_spmd_agree_on(cat->comm, st);
    for (size_t i = 0; st == ND_OK && i < out->nmembers; i++)
        if (out->members[i].item.kind == ND_CAT_MATRIX)
            st = nd_dm_h5read(path, out->members[i].name, &out->members[i].item.m);
    return st;
}
