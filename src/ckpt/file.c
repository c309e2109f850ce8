/* file.c: the checkpoint file, one HDF5 file written and read collectively by all
 * ranks with the MPI-IO driver (docs/checkpoint.md "File layout").
 *
 * Invariants: every rank makes the same sequence of HDF5 calls (metadata operations are
 * collective in parallel HDF5), and the ranks agree on success after each step
 * (nd_spmd_agree) so that a failure on one rank never leaves the others waiting in the
 * next collective call.  Small datasets are written by rank 0 alone inside a collective
 * transfer; matrices go through nd_dm_h5write_sum/h5read_sum as global datasets, which
 * checksum the values as they pass (format 2; format 1 files, with floating-point
 * checksums, are still read).
 */
#include "ckpt/ckpt_internal.h"

#include "ac_config.h"
#include "common/alloc.h"
#include "common/hash.h"
#include "common/outfile.h"
#include "common/strbuf.h"
#include "runtime/arr.h"
#include "runtime/dm_h5.h"
#include "runtime/h5.h"
#include "runtime/spmd.h"

#include <hdf5.h>
#include <math.h>
#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static unsigned long writes_done;

bool nd_ckpt_fail_write(void)
{
    const char *e = getenv("NOODLE_CKPT_FAIL_WRITE");
    if (!e || !*e) return false;
    uint64_t n = 0;
    if (!nd_parse_count(e, &n)) { /* a test hook, but a typo must not pass silently */
        fprintf(stderr, "noodle-run: NOODLE_CKPT_FAIL_WRITE=%s: expected a count (0: off)\n", e);
        exit(2);
    }
    return n > 0 && writes_done + 1 >= n;
}

static nd_status h5fail(const char *what, const char *path)
{
    return nd_err_set(ND_EIO, "checkpoint '%s': %s failed", path, what);
}

static hid_t make_fapl(const nd_kv *hints)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    MPI_Info info = MPI_INFO_NULL;
    if (hints && hints->n > 0) {
        MPI_Info_create(&info);
        for (size_t k = 0; k < hints->n; k++) MPI_Info_set(info, hints->keys[k], hints->vals[k]);
    }
    herr_t rc = H5Pset_fapl_mpio(fapl, nd_spmd_comm(), info);
    /* Matrix datasets (1 MiB and more) start on 1 MiB boundaries, so the ranks' large
     * writes do not straddle file-system blocks; small objects stay packed. */
    if (rc >= 0) rc = H5Pset_alignment(fapl, (hsize_t)1 << 20, (hsize_t)1 << 20);
    if (info != MPI_INFO_NULL) MPI_Info_free(&info);
    if (rc < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

/* ---- byte datasets ---- */

/* Collective: a 1-D uint8 dataset written by rank 0 (the others select nothing). */
static herr_t write_bytes(hid_t loc, const char *name, const void *p, size_t n)
{
    hsize_t dims[1] = {n};
    hid_t fs = H5Screate_simple(1, dims, NULL);
    if (fs < 0) return -1;
    hid_t d = H5Dcreate2(loc, name, H5T_NATIVE_UINT8, fs, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    herr_t rc = d < 0 ? -1 : 0;
    hid_t ms = -1, dx = -1;
    if (rc >= 0) {
        ms = H5Screate_simple(1, dims, NULL);
        dx = H5Pcreate(H5P_DATASET_XFER);
        if (ms < 0 || dx < 0 || H5Pset_dxpl_mpio(dx, H5FD_MPIO_COLLECTIVE) < 0) rc = -1;
    }
    if (rc >= 0 && nd_spmd_rank() != 0) {
        if (H5Sselect_none(fs) < 0 || H5Sselect_none(ms) < 0) rc = -1;
    }
    if (rc >= 0 && n > 0) rc = H5Dwrite(d, H5T_NATIVE_UINT8, ms, fs, dx, p);
    if (dx >= 0) H5Pclose(dx);
    if (ms >= 0) H5Sclose(ms);
    if (d >= 0) H5Dclose(d);
    H5Sclose(fs);
    return rc;
}

/* Every rank reads the whole dataset; *out is nd_malloc'd (*n bytes, at least 1).  The
 * length must fit in the bytes the dataset occupies in the file (the datasets are
 * unfiltered): a corrupt dataspace asked for a 1 TiB buffer before the read failed. */
static herr_t read_bytes(hid_t loc, const char *name, uint8_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return -1;
    herr_t rc = -1;
    hid_t fs = H5Dget_space(d);
    hsize_t dims[1];
    if (fs >= 0 && H5Sget_simple_extent_ndims(fs) == 1 &&
        H5Sget_simple_extent_dims(fs, dims, NULL) == 1 && dims[0] < ((hsize_t)1 << 40) &&
        dims[0] <= H5Dget_storage_size(d)) {
        *n = (size_t)dims[0];
        *out = nd_malloc(*n ? *n : 1);
        if (*out) rc = *n ? H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out)
                          : 0;
    }
    if (fs >= 0) H5Sclose(fs);
    H5Dclose(d);
    if (rc < 0 && *out) {
        nd_free(*out, *n ? *n : 1);
        *out = NULL;
    }
    return rc;
}

/* ---- matrix checksums ---- */

/* Format 1 only: two reductions whose order is fixed by the global block index, so they
 * are bit-identical for any rank count at the same block size. */
static nd_status mat_checksum(const nd_dm *A, double *sum, double *fro)
{
    ND_TRY(nd_dm_reduce(ND_RED_SUM, A, sum));
    return nd_dm_reduce(ND_RED_NORM_FRO, A, fro);
}

static bool same_sum(double a, double b, bool exact)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    if (a == b) return true;
    if (exact) return false;
    return fabs(a - b) <= 1e-10 * fmax(fabs(a), fabs(b));
}

/* ---- write ---- */

/* Rank 0's provenance, broadcast so that every rank writes identical attributes. */
typedef struct prov {
    char utc[32];
    char host[128];
    char job_id[64];
} prov;

static nd_status gather_prov(prov *p)
{
    memset(p, 0, sizeof *p);
    if (nd_spmd_rank() == 0) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(p->utc, sizeof p->utc, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (gethostname(p->host, sizeof p->host - 1) != 0) strcpy(p->host, "unknown");
        const char *j = getenv("SLURM_JOB_ID");
        snprintf(p->job_id, sizeof p->job_id, "%s", j ? j : "");
    }
    return nd_spmd_bcast(p, sizeof *p, 0);
}

static nd_status write_meta(hid_t f, const char *path, const nd_ckpt_meta *m)
{
    prov pv;
    ND_TRY(gather_prov(&pv));
    int nprow, npcol, myr, myc;
    nd_spmd_grid(&nprow, &npcol, &myr, &myc);
    char grid[32], hex[65];
    snprintf(grid, sizeof grid, "%dx%d", nprow, npcol);
    nd_hex(m->sha256, 32, hex);
    herr_t rc = 0;
    rc |= nd_h5_attr_u64(f, "format_version", ND_CKPT_FORMAT_VERSION);
    rc |= nd_h5_attr_u64(f, "seq", m->seq);
    rc |= nd_h5_attr_str(f, "program", m->program);
    rc |= nd_h5_attr_str(f, "program_sha256", hex);
    rc |= nd_h5_attr_str(f, "noodle_version", PACKAGE_VERSION);
    rc |= nd_h5_attr_str(f, "created_utc", pv.utc);
    rc |= nd_h5_attr_u64(f, "nranks", (uint64_t)nd_spmd_size());
    rc |= nd_h5_attr_str(f, "grid", grid);
    rc |= nd_h5_attr_u64(f, "block_size", (uint64_t)nd_spmd_block_size());
    rc |= nd_h5_attr_str(f, "host", pv.host);
    rc |= nd_h5_attr_str(f, "job_id", pv.job_id);
    if (rc < 0) return h5fail("writing the provenance attributes", path);

    hid_t g = H5Gcreate2(f, "program", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return h5fail("creating /program", path);
    rc = write_bytes(g, "bytecode", m->nbc, m->nbc_len);
    rc |= nd_h5_attr_str(g, "sha256", hex);
    rc |= nd_h5_attr_str(g, "name", m->program);
    rc |= nd_h5_attr_str(g, "signer", m->signer ? m->signer : "");
    H5Gclose(g);
    if (rc < 0) return h5fail("writing /program/bytecode", path);

    g = H5Gcreate2(f, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return h5fail("creating /params", path);
    for (size_t k = 0; k < m->params->n && rc >= 0; k++)
        rc = nd_h5_attr_str(g, m->params->keys[k], m->params->vals[k]);
    H5Gclose(g);
    if (rc < 0) return h5fail("writing /params", path);

    g = H5Gcreate2(f, "state", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return h5fail("creating /state", path);
    rc = write_bytes(g, "vm", m->blob, m->blob_len);
    rc |= nd_h5_attr_u64(g, "crc32c", nd_crc32c(0, m->blob, m->blob_len));
    rc |= nd_h5_attr_u64(g, "ncollective", m->ncollective);
    rc |= nd_h5_attr_u64(g, "nsafepoints", m->nsafepoints);
    rc |= nd_h5_attr_u64(g, "gc_runs", m->gc_runs);
    rc |= nd_h5_attr_u64(g, "gc_live", m->gc_live);
    rc |= nd_h5_attr_u64(g, "gc_pending", m->gc_pending);
    rc |= nd_h5_attr_f64(g, "wtime", m->wtime);
    H5Gclose(g);
    if (rc < 0) return h5fail("writing /state", path);
    return ND_OK;
}

/* Collective: the attribute "shape" (u64[nd]) of dataset d: the array's logical shape,
 * which is also the dataset's. */
static herr_t put_shape(hid_t d, const nd_dm *A)
{
    uint64_t v[ND_MAXDIM];
    hsize_t n = (hsize_t)nd_arr_ndim(A);
    for (hsize_t k = 0; k < n; k++) v[k] = (uint64_t)nd_arr_shape(A)[k];
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t a = sp >= 0 ? H5Acreate2(d, "shape", H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
    herr_t rc = a >= 0 ? H5Awrite(a, H5T_NATIVE_UINT64, v) : -1;
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    return rc;
}

/* Rank-local: *nd and shape from the attribute "shape" of d; *nd = 0 when there is none
 * (files written before arrays: a 2-D matrix).  Negative: unreadable. */
static herr_t get_shape(hid_t d, int *nd, uint64_t shape[ND_MAXDIM])
{
    *nd = 0;
    htri_t ex = H5Aexists(d, "shape");
    if (ex <= 0) return ex;
    hid_t a = H5Aopen(d, "shape", H5P_DEFAULT);
    hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
    hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    herr_t rc = n >= 1 && n <= ND_MAXDIM ? H5Aread(a, H5T_NATIVE_UINT64, shape) : -1;
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    if (rc >= 0) *nd = (int)n;
    return rc;
}

/* vars: the global variables that hold the matrix ("U, V"; "" for none). */
static nd_status write_matrix(hid_t g, const char *path, size_t k, const nd_dm *A,
                              const char *vars)
{
    char name[32];
    snprintf(name, sizeof name, "m%zu", k);
    nd_dm_h5sum sum;
    ND_TRY(nd_dm_h5write_sum((int64_t)g, name, A, &sum));
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) return h5fail("reopening a matrix dataset", path);
    /* rows, cols: the fold (runtime/arr.h), which for a matrix is its shape. */
    herr_t rc = nd_h5_attr_u64(d, "rows", (uint64_t)nd_dm_rows(A));
    rc |= nd_h5_attr_u64(d, "cols", (uint64_t)nd_dm_cols(A));
    rc |= put_shape(d, A);
    rc |= nd_h5_attr_str(d, "layout", "global row-major (the array as h5py shows it)");
    rc |= nd_h5_attr_u64(d, "block_size", (uint64_t)nd_spmd_block_size());
    rc |= nd_h5_attr_u64(d, "checksum_add", sum.add);
    rc |= nd_h5_attr_u64(d, "checksum_mix", sum.mix);
    if (vars && *vars) rc |= nd_h5_attr_str(d, "variables", vars);
    H5Dclose(d);
    if (rc < 0) return h5fail("writing matrix attributes", path);
    return ND_OK;
}

/* /variables/NAME: a soft link to /matrices/mK for every global variable that holds
 * matrix K (h5py: f["variables/U"][...]). */
static nd_status write_links(hid_t f, const char *path, const char *names, size_t nmats)
{
    hid_t g = H5Gcreate2(f, "variables", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return h5fail("creating /variables", path);
    herr_t rc = 0;
    char target[48], name[256];
    for (size_t k = 0; k < nmats && rc >= 0; k++, names += strlen(names) + 1) {
        snprintf(target, sizeof target, "/matrices/m%zu", k);
        for (const char *s = names; *s && rc >= 0;) {
            size_t n = strcspn(s, ",");
            if (n < sizeof name) {
                memcpy(name, s, n);
                name[n] = '\0';
                rc = H5Lcreate_soft(target, g, name, H5P_DEFAULT, H5P_DEFAULT);
            }
            s += n;
            s += strspn(s, ", ");
        }
    }
    H5Gclose(g);
    return rc < 0 ? h5fail("writing /variables", path) : ND_OK;
}

nd_status nd_ckpt_file_write(const char *path, const nd_ckpt_meta *meta, nd_dm **mats,
                             size_t nmats, const nd_kv *hints)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = make_fapl(hints);
    hid_t f = -1;
    nd_status st = ND_OK;
    if (fapl < 0) st = h5fail("setting up MPI-IO", path);
    /* Created exclusively: whatever has the name (a dead writer's file, or a link or FIFO
     * someone planted) is removed by rank 0 first, never written through. */
    if (nd_spmd_rank() == 0 && unlink(path) != 0 && errno != ENOENT)
        st = nd_err_set(ND_EIO, "cannot remove the stale '%s': %s", path, strerror(errno));
    /* the data plus HDF5's own (attributes, links, the B-trees): a full disk is found
     * here rather than in the middle of MPI-IO */
    uint64_t need = meta->nbc_len + meta->blob_len + (64u << 10), avail;
    for (size_t k = 0; k < nmats; k++) need += (uint64_t)nd_arr_size(mats[k]) * sizeof(double);
    if (st == ND_OK && nd_spmd_rank() == 0 && !nd_fs_room(path, need, &avail))
        st = nd_err_set(ND_EIO, "no room for checkpoint '%s': it needs about %.1f MiB, %.1f MiB "
                        "are free", path, need / 1048576.0, avail / 1048576.0);
    st = nd_spmd_agree(st);
    if (st == ND_OK) {
        f = H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, fapl);
        if (f < 0) st = nd_err_set(ND_EIO, "cannot create checkpoint '%s'", path);
    }
    if (fapl >= 0) H5Pclose(fapl);
    st = nd_spmd_agree(st);
    if (st != ND_OK) return st;

    if (nd_ckpt_fail_write())
        st = nd_err_set(ND_EIO, "cannot write checkpoint '%s': No space left on device "
                        "(injected by NOODLE_CKPT_FAIL_WRITE)", path);
    if (st == ND_OK) st = nd_spmd_agree(write_meta(f, path, meta));
    hid_t g = -1;
    if (st == ND_OK) {
        g = H5Gcreate2(f, "matrices", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0 || nd_h5_attr_u64(g, "count", nmats) < 0)
            st = h5fail("creating /matrices", path);
        st = nd_spmd_agree(st);
    }
    const char *vars = meta->names;
    for (size_t k = 0; st == ND_OK && k < nmats; k++) {
        st = nd_spmd_agree(write_matrix(g, path, k, mats[k], vars));
        if (vars) vars += strlen(vars) + 1;
    }
    if (g >= 0) H5Gclose(g);
    if (st == ND_OK && meta->names) st = nd_spmd_agree(write_links(f, path, meta->names, nmats));
    /* H5Fflush with global scope ends in MPI_File_sync: the data is on disk before the
     * caller renames the file. */
    if (st == ND_OK && H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) st = h5fail("flushing", path);
    st = nd_spmd_agree(st);
    if (nd_h5_close_tmp(f, path, st == ND_OK, nd_spmd_comm()) < 0 && st == ND_OK)
        st = h5fail("closing", path);
    writes_done++;
    return nd_spmd_agree(st);
}

/* ---- read ---- */

void nd_ckpt_image_free(nd_ckpt_image *img)
{
    if (img->nbc) nd_free(img->nbc, img->nbc_len ? img->nbc_len : 1);
    if (img->blob) nd_free(img->blob, img->blob_len ? img->blob_len : 1);
    nd_strfree(img->program);
    nd_kv_free(&img->params);
    for (size_t k = 0; k < img->nmats; k++)
        if (img->mats[k]) nd_dm_free(img->mats[k]);
    if (img->mats) ND_FREE_N(img->mats, img->nmats);
    memset(img, 0, sizeof *img);
}

#define INVALID(...) nd_err_set(ND_EINVALID, __VA_ARGS__)

typedef struct param_iter {
    nd_ckpt_image *img;
    int fail;
} param_iter;

static herr_t param_cb(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    ND_UNUSED(info);
    param_iter *it = data;
    nd_ckpt_image *img = it->img;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    char *v = NULL;
    if (a < 0 || nd_h5_attr_read_str(a, &v) < 0) it->fail = 1;
    if (a >= 0) H5Aclose(a);
    if (it->fail) return -1;
    if (nd_kv_set(&img->params, name, v) != ND_OK) it->fail = 1;
    nd_strfree(v);
    return it->fail ? -1 : 0;
}

static nd_status read_meta(hid_t f, const char *path, nd_ckpt_image *img, bool *bad_version)
{
    uint64_t ver;
    if (nd_h5_attr_get(f, "format_version", H5T_NATIVE_UINT64, &ver) < 0)
        return INVALID("checkpoint '%s': no format_version attribute", path);
    img->format_version = (uint32_t)ver;
    if (ver < ND_CKPT_FORMAT_OLDEST || ver > ND_CKPT_FORMAT_VERSION) {
        *bad_version = true;
        return INVALID("checkpoint '%s' has format version %llu; this noodle-run reads "
                       "versions %u to %u", path, (unsigned long long)ver,
                       ND_CKPT_FORMAT_OLDEST, ND_CKPT_FORMAT_VERSION);
    }
    if (nd_h5_attr_get(f, "seq", H5T_NATIVE_UINT64, &img->seq) < 0 || nd_h5_attr_get_str(f, "program", &img->program) < 0)
        return INVALID("checkpoint '%s': provenance attributes unreadable", path);

    hid_t g = H5Gopen2(f, "program", H5P_DEFAULT);
    char *hex = NULL;
    herr_t rc = g < 0 ? -1 : read_bytes(g, "bytecode", &img->nbc, &img->nbc_len);
    if (rc >= 0) rc = nd_h5_attr_get_str(g, "sha256", &hex);
    if (g >= 0) H5Gclose(g);
    if (rc < 0) {
        nd_strfree(hex);
        return INVALID("checkpoint '%s': /program/bytecode unreadable", path);
    }
    nd_sha256_buf(img->nbc, img->nbc_len, img->sha256);
    char mine[65];
    nd_hex(img->sha256, 32, mine);
    bool ok = strcmp(mine, hex) == 0;
    nd_strfree(hex);
    if (!ok) return INVALID("checkpoint '%s': bytecode does not match its SHA-256", path);

    g = H5Gopen2(f, "params", H5P_DEFAULT);
    if (g < 0) return INVALID("checkpoint '%s': no /params", path);
    param_iter it = {img, 0};
    hsize_t idx = 0;
    rc = H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, &idx, param_cb, &it);
    H5Gclose(g);
    if (rc < 0 || it.fail) return INVALID("checkpoint '%s': /params unreadable", path);

    g = H5Gopen2(f, "state", H5P_DEFAULT);
    uint64_t crc = 0;
    rc = g < 0 ? -1 : read_bytes(g, "vm", &img->blob, &img->blob_len);
    if (rc >= 0) rc = nd_h5_attr_get(g, "crc32c", H5T_NATIVE_UINT64, &crc);
    /* Optional: files before 2026-12-07 have no wtime. */
    if (rc >= 0 && H5Aexists(g, "wtime") > 0)
        img->has_wtime = nd_h5_attr_get(g, "wtime", H5T_NATIVE_DOUBLE, &img->wtime) >= 0;
    if (g >= 0) H5Gclose(g);
    if (rc < 0) return INVALID("checkpoint '%s': /state/vm unreadable", path);
    if (nd_crc32c(0, img->blob, img->blob_len) != (uint32_t)crc)
        return INVALID("checkpoint '%s': VM state fails its CRC-32C check", path);
    return ND_OK;
}

/* Format 2 files carry exact integer checksums (dm_h5.h) computed during the transfer;
 * format 1 files the sum and Frobenius norm (exact at the same block size, else within
 * 1e-10 relative). */
static nd_status read_matrix(hid_t g, const char *path, uint32_t version, size_t k,
                             nd_dm **out)
{
    char name[32];
    snprintf(name, sizeof name, "m%zu", k);
    uint64_t rows = 0, cols = 0, nb = 0, add = 0, mix = 0, shape[ND_MAXDIM];
    double sum = 0, fro = 0;
    int nd = 0;
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    herr_t rc = d < 0 ? -1 : 0;
    if (rc >= 0) {
        rc |= get_shape(d, &nd, shape);
        rc |= nd_h5_attr_get(d, "rows", H5T_NATIVE_UINT64, &rows);
        rc |= nd_h5_attr_get(d, "cols", H5T_NATIVE_UINT64, &cols);
        rc |= nd_h5_attr_get(d, "block_size", H5T_NATIVE_UINT64, &nb);
        if (version >= 2) {
            rc |= nd_h5_attr_get(d, "checksum_add", H5T_NATIVE_UINT64, &add);
            rc |= nd_h5_attr_get(d, "checksum_mix", H5T_NATIVE_UINT64, &mix);
        } else {
            rc |= nd_h5_attr_get(d, "checksum_sum", H5T_NATIVE_DOUBLE, &sum);
            rc |= nd_h5_attr_get(d, "checksum_fro", H5T_NATIVE_DOUBLE, &fro);
        }
        H5Dclose(d);
    }
    if (rc < 0) return INVALID("checkpoint '%s': matrix %s unreadable", path, name);
    nd_dm_h5sum got;
    nd_status st = nd_dm_h5read_sum((int64_t)g, name, out, &got);
    if (st != ND_OK) return INVALID("checkpoint '%s': matrix %s: %s", path, name, nd_err_msg());
    /* Without a shape attribute (files from before arrays) a matrix is 2-D. */
    bool shape_ok = nd_arr_ndim(*out) == (nd ? nd : 2);
    for (int j = 0; shape_ok && j < nd; j++) shape_ok = (uint64_t)nd_arr_shape(*out)[j] == shape[j];
    if (!shape_ok || (uint64_t)nd_dm_rows(*out) != rows || (uint64_t)nd_dm_cols(*out) != cols)
        return INVALID("checkpoint '%s': matrix %s has the wrong shape", path, name);
    bool ok;
    if (version >= 2) {
        ok = got.add == add && got.mix == mix;
    } else {
        double s2, f2;
        ND_TRY(mat_checksum(*out, &s2, &f2));
        bool exact = nb == (uint64_t)nd_spmd_block_size();
        ok = same_sum(sum, s2, exact) && same_sum(fro, f2, exact);
    }
    if (!ok) return INVALID("checkpoint '%s': matrix %s fails its checksum", path, name);
    return ND_OK;
}

bool nd_ckpt_file_plausible(const char *path)
{
    struct stat sb; /* not a FIFO: the open(2) inside HDF5 would block */
    if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0) return false;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), f = -1;
    if (fapl < 0) return false;
    (void)H5Pset_file_locking(fapl, 0, 1); /* read-only peek; no lock to fail on */
    f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0) return false;
    uint64_t ver = 0, seq = 0;
    bool ok = nd_h5_attr_get(f, "format_version", H5T_NATIVE_UINT64, &ver) >= 0 &&
              ver >= ND_CKPT_FORMAT_OLDEST && ver <= ND_CKPT_FORMAT_VERSION &&
              nd_h5_attr_get(f, "seq", H5T_NATIVE_UINT64, &seq) >= 0;
    H5Fclose(f);
    return ok;
}

nd_status nd_ckpt_file_read(const char *path, const nd_kv *hints,
                            nd_ckpt_image *img, bool *bad_version)
{
    memset(img, 0, sizeof *img);
    *bad_version = false;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    nd_status st = ND_OK;
    hid_t fapl = make_fapl(hints), f = -1;
    if (fapl < 0) st = h5fail("setting up MPI-IO", path);
    struct stat sb; /* a FIFO would block the open(2) inside HDF5 */
    if (st == ND_OK && (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode)))
        st = INVALID("checkpoint '%s' is not a regular file", path);
    if (st == ND_OK) {
        f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
        if (f < 0) st = INVALID("checkpoint '%s' cannot be opened as HDF5 (truncated or "
                                "corrupt)", path);
    }
    if (fapl >= 0) H5Pclose(fapl);
    st = nd_spmd_agree(st);
    if (st != ND_OK) return st;

    st = read_meta(f, path, img, bad_version);
    /* bad_version is uniform: every rank read the same attribute. */
    st = nd_spmd_agree(st);
    size_t nmats = 0;
    if (st == ND_OK) st = nd_vm_state_nmats(img->blob, img->blob_len, &nmats);
    hid_t g = -1;
    if (st == ND_OK) {
        uint64_t count = 0;
        g = H5Gopen2(f, "matrices", H5P_DEFAULT);
        if (g < 0 || nd_h5_attr_get(g, "count", H5T_NATIVE_UINT64, &count) < 0 || count != nmats)
            st = INVALID("checkpoint '%s': /matrices does not match the VM state", path);
        if (st == ND_OK && nmats) {
            img->mats = ND_ALLOC_N(nd_dm *, nmats);
            if (!img->mats) st = ND_ENOMEM;
            else img->nmats = nmats;
        }
        st = nd_spmd_agree(st);
    }
    for (size_t k = 0; st == ND_OK && k < nmats; k++)
        st = nd_spmd_agree(read_matrix(g, path, img->format_version, k, &img->mats[k]));
    if (g >= 0) H5Gclose(g);
    H5Fclose(f);
    if (st != ND_OK) {
        bool bv = *bad_version;
        nd_ckpt_image_free(img);
        *bad_version = bv;
    }
    return st;
}
