/* store.c: nd_cat_store and nd_cat_load, the collective entry points that the VM hooks
 * call.  Rank 0 does the metadata work (claim, commit, index) and broadcasts the
 * outcome, so every rank returns the same status and version.  Scalars are written by
 * rank 0.  A matrix's temporary result file is created by all ranks with the MPI-IO
 * driver and the matrix written collectively (nd_dm_h5write_loc), so nothing is
 * gathered; rank 0 then publishes it by rename as for scalars.  Matrix statistics come
 * from nd_dm_reduce (identical at any rank count); load reads collectively with
 * nd_dm_h5read.  Specified by docs/catalog.md "Result files".
 */
#include "catalog/cat_internal.h"

#include "common/alloc.h"
#include "common/outfile.h"
#include "runtime/arr.h"

#include <hdf5_hl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void nd_cat_item_clear(nd_cat_item *it)
{
    if (it->s) nd_free(it->s, it->len + 1);
    if (it->m) nd_dm_free(it->m);
    for (size_t i = 0; i < it->nmembers; i++) {
        nd_strfree(it->members[i].name);
        nd_cat_item_clear(&it->members[i].item);
    }
    if (it->members) ND_FREE_N(it->members, it->nmembers ? it->nmembers : 1);
    memset(it, 0, sizeof *it);
}

static bool key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 200) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x20 || k[i] == '/') return false;
    return true;
}

static bool text_ok(const char *s) { return !strchr(s, ND_CAT_TAG_SEP) && !strchr(s, ND_CAT_ENT_SEP); }

/* Builds the metadata row of the new version in `one` (row 0).  Uniform. */
static nd_status build_row(nd_cat *cat, const char *name, int64_t version, const nd_cat_item *it,
                           const double stats[4], int nd, const int64_t *shape,
                           const nd_cat_tag *tags, size_t ntags, const nd_cat_prov *prov,
                           nd_cat_index *one)
{
    nd_cat_row r;
    memset(&r, 0, sizeof r);
    r.version = version;
    r.kind = (int32_t)it->kind;
    r.restarts = prov->restarts;
    r.ranks = prov->ranks;
    if (r.ranks <= 0) {
        int size = 1;
        if (cat->comm != MPI_COMM_NULL) MPI_Comm_size(cat->comm, &size);
        r.ranks = size;
    }
    char created[32];
    if (prov->created[0]) {
        snprintf(created, sizeof created, "%s", prov->created);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    ND_TRY(nd_cat_index_str(one, name, strlen(name), &r.name));
    ND_TRY(nd_cat_index_str(one, prov->job, strlen(prov->job), &r.job));
    ND_TRY(nd_cat_index_str(one, prov->program_hash, strlen(prov->program_hash), &r.hash));
    ND_TRY(nd_cat_index_str(one, prov->program, strlen(prov->program), &r.program));
    ND_TRY(nd_cat_index_str(one, prov->program_path, strlen(prov->program_path), &r.program_path));
    const char *signer = prov->signer ? prov->signer : "";
    ND_TRY(nd_cat_index_str(one, signer, strlen(signer), &r.signer));
    ND_TRY(nd_cat_index_str(one, created, strlen(created), &r.created));
    ND_TRY(nd_cat_index_str(one, prov->user, strlen(prov->user), &r.user));
    ND_TRY(nd_cat_index_str(one, prov->host, strlen(prov->host), &r.host));
    switch (it->kind) {
    case ND_CAT_INT:
        r.ivalue = it->i;
        r.value = (double)it->i;
        r.flags = ND_CAT_F_VNUM | ND_CAT_F_VINT | ND_CAT_F_STATS;
        r.rows = r.cols = 1;
        r.min = r.max = r.mean = r.value;
        r.norm = fabs(r.value);
        break;
    case ND_CAT_FLOAT:
        r.value = it->f;
        r.flags = ND_CAT_F_VNUM | ND_CAT_F_STATS;
        r.rows = r.cols = 1;
        r.min = r.max = r.mean = r.value;
        r.norm = fabs(r.value);
        break;
    case ND_CAT_STRING:
        if (it->len <= ND_CAT_SVALUE_MAX) {
            ND_TRY(nd_cat_index_str(one, it->s, it->len, &r.svalue));
            r.flags = ND_CAT_F_VSTR;
        }
        break;
    case ND_CAT_JSON:
    case ND_CAT_MAP:
        break;
    case ND_CAT_MATRIX: {
        /* rows and cols belong to matrices; every array has its shape. */
        char buf[ND_SHAPE_STR];
        nd_arr_shape_str(nd, shape, buf);
        ND_TRY(nd_cat_index_str(one, buf, strlen(buf), &r.shape));
        r.flags = ND_CAT_F_STATS | (nd == 2 ? 0 : ND_CAT_F_ND);
        if (nd == 2) r.rows = shape[0], r.cols = shape[1];
        r.min = stats[0], r.max = stats[1], r.mean = stats[2], r.norm = stats[3];
        break;
    }
    }
    nd_strbuf sb;
    nd_sb_init(&sb);
    nd_status st = ND_OK;
    for (size_t i = 0; st == ND_OK && i < ntags; i++) {
        const nd_cat_tag *t = &tags[i];
        if (!key_ok(t->key) || !text_ok(t->key)) {
            st = nd_err_set(ND_EPROG, "store: invalid tag key '%s'", t->key);
            break;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(tags[j].key, t->key) == 0) st = nd_err_set(ND_EPROG, "store: duplicate tag '%s'", t->key);
        if (st != ND_OK) break;
        if (t->value.type == ND_CAT_CINT)
            st = nd_sb_printf(&sb, "%s%ci%" PRId64 "%c", t->key, ND_CAT_TAG_SEP, t->value.i, ND_CAT_ENT_SEP);
        else if (t->value.type == ND_CAT_CFLOAT)
            st = nd_sb_printf(&sb, "%s%cf%.17g%c", t->key, ND_CAT_TAG_SEP, t->value.f, ND_CAT_ENT_SEP);
        else if (t->value.type == ND_CAT_CSTR && t->value.s && text_ok(t->value.s))
            st = nd_sb_printf(&sb, "%s%cs%s%c", t->key, ND_CAT_TAG_SEP, t->value.s, ND_CAT_ENT_SEP);
        else
            st = nd_err_set(ND_EPROG, "store: tag '%s' must be a number or a string", t->key);
    }
    if (st == ND_OK) st = nd_cat_index_str(one, sb.data ? sb.data : "", sb.len, &r.tags);
    sb.len = 0;
    size_t np = prov->params ? prov->params->n : 0;
    for (size_t i = 0; st == ND_OK && i < np; i++) {
        const char *key = prov->params->keys[i], *val = prov->params->vals[i];
        if (!key_ok(key) || !text_ok(key) || !text_ok(val))
            st = nd_err_set(ND_EPROG, "store: invalid parameter '%s'", key);
        else
            st = nd_sb_printf(&sb, "%s%c%s%c", key, ND_CAT_TAG_SEP, val, ND_CAT_ENT_SEP);
    }
    if (st == ND_OK) st = nd_cat_index_str(one, sb.data ? sb.data : "", sb.len, &r.params);
    nd_sb_free(&sb);
    if (st == ND_OK) st = nd_cat_index_push(one, &r);
    return st;
}

static nd_status write_scalar(hid_t f, const nd_cat_item *it)
{
    return nd_cat_write_value(f, "data", it) < 0 ? nd_err_set(ND_EIO, "store: cannot write the data") : ND_OK;
}

/* Collective over cat->comm: the dimension scales of /data (a matrix: "row" and "col";
 * an array of another rank: "axis0", "axis1", ...), each the indices 0, 1, ... of its
 * axis.  Creating datasets and attributes is collective in parallel HDF5; the index
 * values are written by rank 0 alone (independent transfer). */
static nd_status write_scales(nd_cat *cat, hid_t f, const nd_dm *A)
{
    hid_t d = H5Dopen2(f, "data", H5P_DEFAULT);
    herr_t rc = d >= 0 ? 0 : -1;
    int nd = nd_arr_ndim(A);
    for (int k = 0; k < nd && rc >= 0; k++) {
        char name[16];
        if (nd == 2) snprintf(name, sizeof name, "%s", k == 0 ? "row" : "col");
        else snprintf(name, sizeof name, "axis%d", k);
        hsize_t len = (hsize_t)nd_arr_shape(A)[k];
        hid_t s1 = H5Screate_simple(1, &len, NULL);
        hid_t sd = s1 >= 0 ? H5Dcreate2(f, name, H5T_STD_I64LE, s1, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
        rc = sd >= 0 ? 0 : -1;
        if (rc >= 0 && cat->rank == 0) {
            int64_t *idx = ND_ALLOC_N(int64_t, len ? len : 1);
            for (hsize_t i = 0; idx && i < len; i++) idx[i] = (int64_t)i;
            rc = idx ? H5Dwrite(sd, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, idx) : -1;
            if (idx) ND_FREE_N(idx, len ? len : 1);
        }
        if (rc >= 0) rc = H5DSset_scale(sd, name);
        if (rc >= 0) rc = H5DSattach_scale(d, sd, (unsigned)k);
        if (sd >= 0) H5Dclose(sd);
        if (s1 >= 0) H5Sclose(s1);
    }
    if (d >= 0) H5Dclose(d);
    return rc < 0 ? nd_err_set(ND_EIO, "store: cannot write the dimension scales") : ND_OK;
}

/* Collective: every rank gets the worst status, with the first failing rank's message. */
static nd_status agree(nd_cat *cat, nd_status st)
{
    return nd_spmd_agree_on(cat->comm, st);
}

/* Collective: the temporary result file of a matrix, created by all ranks (MPI-IO),
 * with the attributes of row 0 of one (the same on every rank), /data written
 * collectively and its dimension scales; of a map, its array members (rank 0 then
 * adds the rest: nd_cat_members_write_rest). */
static nd_status write_matrix_file(nd_cat *cat, const char *tmp, const nd_cat_index *one,
                                   const nd_cat_item *it)
{
    hid_t fapl = nd_cat_fapl();
    nd_status st = ND_OK;
    if (fapl < 0 || H5Pset_fapl_mpio(fapl, cat->comm, MPI_INFO_NULL) < 0)
        st = nd_err_set(ND_EIO, "store: cannot set up parallel HDF5");
    /* a full disk is one clear error here, not a failure inside MPI-IO */
    uint64_t need = 64u << 10, avail;
    if (it->kind == ND_CAT_MATRIX) need += (uint64_t)nd_arr_size(it->m) * sizeof(double);
    for (size_t k = 0; k < it->nmembers; k++)
        if (it->members[k].item.kind == ND_CAT_MATRIX)
            need += (uint64_t)nd_arr_size(it->members[k].item.m) * sizeof(double);
    if (st == ND_OK && cat->rank == 0 && !nd_fs_room(tmp, need, &avail))
        st = nd_err_set(ND_EIO, "store: no room for %s: it needs about %.1f MiB, %.1f MiB are free",
                        tmp, need / 1048576.0, avail / 1048576.0);
    st = agree(cat, st);
    hid_t fcpl = nd_cat_result_fcpl();
    hid_t f = st == ND_OK && fcpl >= 0 ? H5Fcreate(tmp, H5F_ACC_EXCL, fcpl, fapl) : -1;
    if (fapl >= 0) H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (st == ND_OK && f < 0) st = nd_err_set(ND_EIO, "store: cannot create %s", tmp);
    st = agree(cat, st);
    if (it->kind == ND_CAT_MAP) {
        if (st == ND_OK) st = agree(cat, nd_cat_members_write_arrays(f, it));
    } else {
        if (st == ND_OK) st = agree(cat, nd_cat_result_write_meta(f, one));
        if (st == ND_OK) st = agree(cat, nd_dm_h5write_loc((int64_t)f, "data", it->m));
        if (st == ND_OK) st = agree(cat, write_scales(cat, f, it->m));
    }
    if (f >= 0 && nd_h5_close_tmp(f, tmp, st == ND_OK, cat->comm) < 0 && st == ND_OK)
        st = nd_err_set(ND_EIO, "store: cannot finish writing %s (is the disk or quota full?)", tmp);
    return agree(cat, st);
}

/* Rank 0: checks the input, builds the row, claims a version and names the temporary
 * and final files (nd_malloc'd; NULL on error). */
static nd_status prepare_rank0(nd_cat *cat, const char *name, const nd_cat_item *it,
                               const double stats[4], int nd, const int64_t *shape,
                               const nd_cat_tag *tags,
                               size_t ntags, const nd_cat_prov *prov, nd_cat_index *one,
                               int64_t *version, char **tmp, char **final_path)
{
    *tmp = *final_path = NULL;
    if ((it->kind == ND_CAT_STRING || it->kind == ND_CAT_JSON) && it->s && memchr(it->s, 0, it->len))
        return nd_err_set(ND_EPROG, "store: a string with a NUL byte cannot be stored");
    /* Validate everything before claiming, so that bad input leaves no gap. */
    if (it->kind == ND_CAT_MAP) ND_TRY(nd_cat_members_check(it));
    ND_TRY(build_row(cat, name, 0, it, stats, nd, shape, tags, ntags, prov, one));
    ND_TRY(nd_cat_claim_version(cat, name, version));
    one->rows[0].version = *version;
    char host[128] = "";
    gethostname(host, sizeof host - 1);
    *final_path = nd_cat_version_path(cat, name, *version);
    if (!*final_path) return ND_ENOMEM;
    nd_strbuf sb;
    nd_sb_init(&sb);
    nd_status st = nd_sb_printf(&sb, "%s.tmp.%s.%ld", *final_path, host, (long)getpid());
    *tmp = st == ND_OK ? nd_strdup(sb.data) : NULL; /* exact size: freed by nd_strfree */
    nd_sb_free(&sb);
    if (!*tmp) {
        nd_strfree(*final_path);
        *final_path = NULL;
        return ND_ENOMEM;
    }
    return ND_OK;
}

/* Rank 0: the temporary file of a scalar, string or JSON result. */
static nd_status write_scalar_file(const char *tmp, const nd_cat_index *one, const nd_cat_item *it)
{
    hid_t fapl = nd_cat_fapl(), fcpl = nd_cat_result_fcpl();
    hid_t f = fcpl >= 0 ? H5Fcreate(tmp, H5F_ACC_EXCL, fcpl, fapl) : -1;
    if (fapl >= 0) H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (f < 0) return nd_err_set(ND_EIO, "store: cannot create %s", tmp);
    nd_status st = nd_cat_result_write_meta(f, one);
    if (st == ND_OK) st = write_scalar(f, it);
    if (nd_h5_close_tmp(f, tmp, st == ND_OK, MPI_COMM_NULL) < 0 && st == ND_OK)
        st = nd_err_set(ND_EIO, "store: cannot finish writing %s (is the disk or quota full?)", tmp);
    return st;
}

/* Rank 0 -> all: the prepared row (and its strings) and the temporary file's name. */
static nd_status share_prepared(nd_cat *cat, nd_cat_index *one, char **tmp)
{
    uint64_t len[2] = {0, 0};
    if (cat->rank == 0) len[0] = one->heap.len, len[1] = strlen(*tmp) + 1;
    ND_TRY(nd_cat_bcast(cat, len, 2, MPI_UINT64_T));
    nd_status st = ND_OK;
    nd_cat_row r;
    if (cat->rank == 0) r = one->rows[0];
    if (cat->rank != 0) {
        one->heap.len = 0;
        st = nd_sb_reserve(&one->heap, (size_t)len[0]);
        *tmp = st == ND_OK ? nd_malloc((size_t)len[1]) : NULL;
        if (st == ND_OK && !*tmp) st = ND_ENOMEM;
    }
    /* Everybody must be able to receive before anybody sends. */
    ND_TRY(agree(cat, st));
    ND_TRY(nd_cat_bcast(cat, &r, (int)sizeof r, MPI_BYTE));
    ND_TRY(nd_cat_bcast(cat, one->heap.data, (int)len[0], MPI_BYTE));
    ND_TRY(nd_cat_bcast(cat, *tmp, (int)len[1], MPI_BYTE));
    if (cat->rank != 0) {
        one->heap.len = (size_t)len[0];
        one->heap.data[len[0]] = '\0';
        st = nd_cat_index_push(one, &r);
    }
    return agree(cat, st);
}

nd_status nd_cat_store(nd_cat *cat, const char *name, const nd_cat_item *item,
                       const nd_cat_tag *tags, size_t ntags, const nd_cat_prov *prov,
                       int64_t *version)
{
    *version = 0;
    ND_CHECK(nd_cat_name_valid(name), ND_EPROG,
             "store: invalid result name '%s' (letters, digits, _ . - ; at most 128)", name);
    ND_CHECK(item->kind >= ND_CAT_INT && item->kind <= ND_CAT_MAP, ND_EINTERNAL,
             "store: bad item kind %d", (int)item->kind);
    double stats[4] = {0, 0, 0, 0};
    int nd = 0;
    int64_t shape[ND_MAXDIM];
    bool matrix = item->kind == ND_CAT_MATRIX || item->kind == ND_CAT_MAP;
    if (matrix) ND_CHECK(cat->comm != MPI_COMM_NULL, ND_EUSAGE, "store: matrices need MPI");
    if (item->kind == ND_CAT_MATRIX) {
        nd = nd_arr_ndim(item->m);
        memcpy(shape, nd_arr_shape(item->m), sizeof shape);
        ND_TRY(nd_dm_reduce(ND_RED_MIN, item->m, &stats[0]));
        ND_TRY(nd_dm_reduce(ND_RED_MAX, item->m, &stats[1]));
        ND_TRY(nd_dm_reduce(ND_RED_MEAN, item->m, &stats[2]));
        ND_TRY(nd_dm_reduce(ND_RED_NORM_FRO, item->m, &stats[3]));
    }
    nd_cat_index one;
    nd_status st = nd_cat_index_init(&one);
    char *tmp = NULL, *final_path = NULL;
    if (st == ND_OK && cat->rank == 0)
        st = prepare_rank0(cat, name, item, stats, nd, shape, tags, ntags, prov, &one, version, &tmp, &final_path);
    if (matrix) {
        st = nd_cat_share_status(cat, st);
        if (st == ND_OK) st = share_prepared(cat, &one, &tmp);
        if (st == ND_OK) st = write_matrix_file(cat, tmp, &one, item);
        if (st == ND_OK && item->kind == ND_CAT_MAP && cat->rank == 0)
            st = nd_cat_members_write_rest(tmp, &one, item);
        if (item->kind == ND_CAT_MAP) st = agree(cat, st);
        if (st == ND_OK) st = nd_cat_sum_seal(cat->comm, tmp);
    } else if (st == ND_OK && cat->rank == 0) {
        st = write_scalar_file(tmp, &one, item);
        if (st == ND_OK) st = nd_cat_sum_seal(MPI_COMM_NULL, tmp);
    }
    /* Rank 0 publishes: the rename under the index lock is the commit. */
    if (cat->rank == 0 && tmp && final_path) {
        if (st == ND_OK) nd_cat_share_path(tmp, false); /* HDF5 or MPI-IO made it */
        if (st == ND_OK) st = nd_cat_fsync_path(tmp);
        if (st == ND_OK) st = nd_cat_index_commit(cat, name, *version, tmp, final_path, &one, prov);
        if (st != ND_OK) unlink(tmp);
    }
    if (tmp) nd_strfree(tmp);
    nd_strfree(final_path);
    nd_cat_index_free(&one);
    st = nd_cat_share_status(cat, st);
    if (cat->comm != MPI_COMM_NULL) ND_TRY(nd_cat_bcast(cat, version, 1, MPI_INT64_T));
    return st;
}

/* ---- load ---------------------------------------------------------------------------- */

/* Rank 0: resolves the version and checks that its file exists. */
static nd_status resolve_rank0(nd_cat *cat, const char *name, int64_t *version)
{
    if (*version == ND_CAT_LATEST) {
        ND_TRY(nd_cat_latest_version(cat, name, version));
        ND_CHECK(*version > 0, ND_EPROG, "load: no result named '%s'", name);
    }
    char *path = nd_cat_version_path(cat, name, *version);
    if (!path) return ND_ENOMEM;
    nd_status st = ND_OK;
    if (access(path, F_OK) != 0) st = nd_err_set(ND_EPROG, "load: no result %s@%" PRId64, name, *version);
    nd_strfree(path);
    return st;
}

/* Rank 0: reads kind and (non-matrix) data of a verified result file. */
static nd_status load_rank0(const char *path, nd_cat_item *out)
{
    nd_status st = ND_OK;
    nd_cat_index ix;
    st = nd_cat_index_init(&ix);
    if (st == ND_OK) st = nd_cat_result_read_meta(path, &ix, false);
    if (st == ND_OK) out->kind = (nd_cat_kind)ix.rows[0].kind;
    nd_cat_index_free(&ix);
    if (st == ND_OK && out->kind != ND_CAT_MATRIX && out->kind != ND_CAT_MAP) {
        hid_t fapl = nd_cat_fapl();
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
        if (fapl >= 0) H5Pclose(fapl);
        hid_t d = f >= 0 ? H5Dopen2(f, "data", H5P_DEFAULT) : -1;
        herr_t rc = -1;
        if (d >= 0 && out->kind == ND_CAT_INT) {
            rc = H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &out->i);
        } else if (d >= 0 && out->kind == ND_CAT_FLOAT) {
            rc = H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &out->f);
        } else if (d >= 0) {
            hid_t t = nd_h5_vstr_type();
            char *s = NULL;
            rc = t >= 0 ? H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) : -1;
            if (rc >= 0) {
                out->len = s ? strlen(s) : 0;
                out->s = nd_strndup(s ? s : "", out->len);
                if (!out->s) st = ND_ENOMEM;
                H5free_memory(s);
            }
            if (t >= 0) H5Tclose(t);
        }
        if (d >= 0) H5Dclose(d);
        if (f >= 0) H5Fclose(f);
        if (st == ND_OK && rc < 0) st = nd_err_set(ND_EINVALID, "load: cannot read %s", path);
    }
    return st;
}

/* Collective: rank 0's kind, scalar or string of a verified result reach every rank;
 * the arrays of a matrix or map are read by all. */
static nd_status share_loaded(nd_cat *cat, const char *path, int64_t *version, nd_cat_item *out)
{
    nd_status st = ND_OK;
    if (cat->comm != MPI_COMM_NULL) {
        int64_t hdr[4] = {*version, (int64_t)out->kind, out->i, (int64_t)out->len};
        ND_TRY(nd_cat_bcast(cat, hdr, 4, MPI_INT64_T));
        ND_TRY(nd_cat_bcast(cat, &out->f, 1, MPI_DOUBLE));
        *version = hdr[0], out->kind = (nd_cat_kind)hdr[1], out->i = hdr[2], out->len = (size_t)hdr[3];
        if (out->kind == ND_CAT_STRING || out->kind == ND_CAT_JSON) {
            if (cat->rank != 0) {
                out->s = nd_malloc(out->len + 1);
                st = out->s ? ND_OK : ND_ENOMEM;
            }
            /* A rank-local allocation failure must not leave rank 0 alone in the bcast. */
            ND_TRY(agree(cat, st));
            ND_TRY(nd_cat_bcast(cat, out->s, (int)out->len + 1, MPI_CHAR));
        }
    }
    if (out->kind == ND_CAT_MATRIX || out->kind == ND_CAT_MAP) {
        ND_CHECK(cat->comm != MPI_COMM_NULL, ND_EUSAGE, "load: matrices need MPI");
        if (out->kind == ND_CAT_MAP) return nd_cat_members_load(cat, path, out);
        return nd_dm_h5read(path, "data", &out->m);
    }
    return ND_OK;
}

nd_status nd_cat_load(nd_cat *cat, const char *name, int64_t version, nd_cat_item *out,
                      int64_t *version_out)
{
    memset(out, 0, sizeof *out);
    ND_CHECK(nd_cat_name_valid(name), ND_EPROG, "load: invalid result name '%s'", name);
    ND_CHECK(version >= 0, ND_EPROG, "load: invalid version %" PRId64, version);
    nd_status st = ND_OK;
    if (cat->rank == 0) st = resolve_rank0(cat, name, &version);
    st = nd_cat_share_status(cat, st);
    if (st == ND_OK && cat->comm != MPI_COMM_NULL) st = nd_cat_bcast(cat, &version, 1, MPI_INT64_T);
    char *path = st == ND_OK ? nd_cat_version_path(cat, name, version) : NULL;
    if (st == ND_OK && !path) st = ND_ENOMEM;
    if (cat->comm != MPI_COMM_NULL) st = agree(cat, st);
    /* all ranks share the reading of the file once before HDF5 sees it */
    if (st == ND_OK) st = nd_cat_sum_verify(cat->comm, path);
    if (st == ND_OK && cat->rank == 0) st = load_rank0(path, out);
    st = nd_cat_share_status(cat, st);
    if (st != ND_OK) {
        if (path) nd_strfree(path);
        nd_cat_item_clear(out);
        return st;
    }
    st = share_loaded(cat, path, &version, out);
    nd_strfree(path);
    if (st != ND_OK) {
        nd_cat_item_clear(out);
        return st;
    }
    if (version_out) *version_out = version;
    return ND_OK;
}
