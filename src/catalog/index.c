/* index.c: index.h5, the cache of every result's metadata row, and its locking.
 * index.h5 holds /table (a compound dataset of nd_cat_row) and /strings (the byte heap
 * the rows' string offsets point into), both contiguous with spare capacity; attributes
 * nrows and heap_len, and the userblock header (ixmap.h) that lets a query map the file
 * without HDF5, say how much of each is valid.  Appends write only past the valid part;
 * anything else rewrites the file under a temporary name and renames it.  Writers hold an exclusive flock on <catalog>/index.lock from before
 * the rename of a result until its row is appended, and leave a marker in pending/
 * meanwhile: a reader that holds the lock and still sees a marker knows a writer died
 * and rebuilds.  Under the same lock, before the rename, the writer appends the store's
 * entry to audit.log (audit.c), so entries are in commit order.  Specified by
 * docs/catalog.md "Index".
 */
#include "catalog/cat_internal.h"

#include "common/outfile.h"
#include "catalog/ixmap.h"

#include "common/alloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define INDEX_FORMAT "noodle-index 6"

nd_status nd_cat_index_init(nd_cat_index *ix)
{
    memset(ix, 0, sizeof *ix);
    nd_sb_init(&ix->heap);
    return nd_sb_putc(&ix->heap, '\0'); /* offset 0 is "" */
}

void nd_cat_index_free(nd_cat_index *ix)
{
    if (ix->map) {
        munmap(ix->map, ix->map_len);
        memset(ix, 0, sizeof *ix);
        return;
    }
    if (ix->rows) ND_FREE_N(ix->rows, ix->cap);
    nd_sb_free(&ix->heap);
    memset(ix, 0, sizeof *ix);
}

nd_status nd_cat_index_str(nd_cat_index *ix, const char *s, size_t n, uint64_t *off)
{
    if (n == 0) {
        *off = 0;
        return ND_OK;
    }
    *off = ix->heap.len;
    ND_TRY(nd_sb_append(&ix->heap, s, n));
    return nd_sb_putc(&ix->heap, '\0');
}

nd_status nd_cat_index_push(nd_cat_index *ix, const nd_cat_row *row)
{
    if (ix->nrows == ix->cap) {
        size_t ncap = ix->cap ? ix->cap * 2 : 64;
        nd_cat_row *r = ND_REALLOC_N(nd_cat_row, ix->rows, ix->cap, ncap);
        if (!r) return ND_ENOMEM;
        ix->rows = r;
        ix->cap = ncap;
    }
    nd_cat_row *r = &ix->rows[ix->nrows++];
    *r = *row;
    r->sum = nd_cat_row_sum(r, ix->heap.data);
    return ND_OK;
}

/* ---- HDF5 layout --------------------------------------------------------------------- */

static hid_t row_type(void)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(nd_cat_row));
    if (t < 0) return t;
#define I64(f) H5Tinsert(t, #f, HOFFSET(nd_cat_row, f), H5T_STD_I64LE)
#define I32(f) H5Tinsert(t, #f, HOFFSET(nd_cat_row, f), H5T_STD_I32LE)
#define F64(f) H5Tinsert(t, #f, HOFFSET(nd_cat_row, f), H5T_IEEE_F64LE)
#define U64(f) H5Tinsert(t, #f, HOFFSET(nd_cat_row, f), H5T_STD_U64LE)
    herr_t rc = 0;
    rc |= I64(version), rc |= I64(restarts), rc |= I64(ranks), rc |= I64(rows);
    rc |= I64(cols), rc |= I64(ivalue), rc |= I32(kind), rc |= I32(flags);
    rc |= F64(min), rc |= F64(max), rc |= F64(mean), rc |= F64(norm), rc |= F64(value);
    rc |= U64(name), rc |= U64(job), rc |= U64(hash), rc |= U64(created), rc |= U64(user);
    rc |= U64(host), rc |= U64(svalue), rc |= U64(tags), rc |= U64(params);
    rc |= U64(shape), rc |= U64(program), rc |= U64(program_path), rc |= U64(signer);
    rc |= U64(sum);
#undef I64
#undef I32
#undef F64
#undef U64
    if (rc < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

static nd_status attr_u64(hid_t loc, const char *key, uint64_t v, bool create)
{
    herr_t rc = create ? nd_h5_attr_u64(loc, key, v) : nd_h5_attr_update(loc, key, H5T_NATIVE_UINT64, &v);
    return rc < 0 ? nd_err_set(ND_EIO, "catalog index: cannot write %s", key) : ND_OK;
}

static nd_status read_u64(hid_t loc, const char *key, uint64_t *v)
{
    herr_t rc = nd_h5_attr_get(loc, key, H5T_NATIVE_UINT64, v);
    return rc < 0 ? nd_err_set(ND_EINVALID, "catalog index: no attribute %s", key) : ND_OK;
}

/* A contiguous dataset of cap elements, allocated at once and never filled: its file
 * offset is then fixed (H5Dget_offset) and the spare part costs no writes. */
static hid_t make_dataset(hid_t f, const char *name, hid_t type, hsize_t cap)
{
    hsize_t dims[1] = {cap};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t d = -1;
    if (sp >= 0 && dcpl >= 0 && H5Pset_layout(dcpl, H5D_CONTIGUOUS) >= 0 &&
        H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) >= 0 &&
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0)
        d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
    return d;
}

/* Writes n elements of buf at [off, off + n) of a 1-D dataset (within its extent). */
static nd_status write_at(hid_t d, hid_t mtype, hsize_t off, hsize_t n, const void *buf)
{
    if (n == 0) return ND_OK;
    hsize_t start[1] = {off}, cnt[1] = {n};
    hid_t fs = H5Dget_space(d);
    hid_t ms = H5Screate_simple(1, cnt, NULL);
    herr_t rc = -1;
    if (fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL) >= 0)
        rc = H5Dwrite(d, mtype, ms, fs, H5P_DEFAULT, buf);
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return rc < 0 ? nd_err_set(ND_EIO, "catalog index: write failed") : ND_OK;
}

static nd_status read_at(hid_t d, hid_t mtype, hsize_t n, void *buf)
{
    if (n == 0) return ND_OK;
    hsize_t start[1] = {0}, cnt[1] = {n}, dims[1];
    hid_t fs = H5Dget_space(d);
    if (fs < 0) return nd_err_set(ND_EINVALID, "catalog index: bad dataset");
    herr_t rc = -1;
    if (H5Sget_simple_extent_dims(fs, dims, NULL) == 1 && dims[0] >= n) {
        hid_t ms = H5Screate_simple(1, cnt, NULL);
        if (ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL) >= 0)
            rc = H5Dread(d, mtype, ms, fs, H5P_DEFAULT, buf);
        if (ms >= 0) H5Sclose(ms);
    }
    H5Sclose(fs);
    return rc < 0 ? nd_err_set(ND_EINVALID, "catalog index: read failed") : ND_OK;
}

/* Capacity for n elements: a quarter more (and min), so that rewrites on growth cost
 * O(1) amortized per appended row. */
static uint64_t grow(uint64_t n, uint64_t min)
{
    return n + n / 4 + min;
}

static nd_status dataset_extent(hid_t d, uint64_t *n)
{
    hsize_t dims[1];
    hid_t fs = H5Dget_space(d);
    int nd = fs >= 0 ? H5Sget_simple_extent_dims(fs, dims, NULL) : -1;
    if (fs >= 0) H5Sclose(fs);
    if (nd != 1) return nd_err_set(ND_EINVALID, "catalog index: bad dataset shape");
    *n = dims[0];
    return ND_OK;
}

/* Writes the userblock header of an index file that no HDF5 handle has open. */
static nd_status write_header(const char *path, const nd_ix_header *h)
{
    unsigned char buf[ND_IX_USERBLOCK];
    nd_ix_header_encode(h, buf);
    int fd = nd_open_regular(path, O_WRONLY, 0);
    if (fd < 0) return nd_err_set(ND_EIO, "catalog: cannot open %s: %s", path, strerror(errno));
    ssize_t w = pwrite(fd, buf, sizeof buf, 0);
    int rc = close(fd);
    if (w != (ssize_t)sizeof buf || rc != 0)
        return nd_err_set(ND_EIO, "catalog: cannot write the header of %s", path);
    return ND_OK;
}

nd_status nd_cat_index_write(const char *path, const nd_cat_index *ix)
{
    /* an unpredictable temporary name, created exclusively (a planted link is never
     * followed), then checked to be the file HDF5 truncated */
    nd_outfile o;
    ND_TRY(nd_out_open(path, &o));
    if (o.tmp) nd_cat_share_fd(o.fd, path, true); /* every member appends to it */
    const char *tmp = o.tmp ? o.tmp : path;
    nd_ix_header h = {.version = ND_IX_VERSION, .row_size = sizeof(nd_cat_row),
                      .nrows = ix->nrows, .row_cap = grow(ix->nrows, 256),
                      .heap_len = ix->heap.len, .heap_cap = grow(ix->heap.len, 1 << 16)};
    hid_t fapl = nd_cat_fapl();
    /* Big objects aligned (HDF5 allows up to the userblock size): rows are then
     * 8-aligned where a query maps them (ixmap.c checks). */
    if (fapl >= 0) H5Pset_alignment(fapl, 4096, ND_IX_USERBLOCK);
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fcpl >= 0) H5Pset_userblock(fcpl, ND_IX_USERBLOCK);
    hid_t f = fcpl >= 0 && o.tmp ? H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl) : -1;
    if (fapl >= 0) H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (f >= 0 && !nd_out_same_file(&o)) {
        H5Fclose(f);
        f = -1;
    }
    if (f < 0) {
        nd_out_close(&o, false);
        return nd_err_set(ND_EIO, "catalog: cannot create the index beside %s", path);
    }
    nd_status st = ND_OK;
    hid_t rt = row_type();
    hid_t dt = rt >= 0 ? make_dataset(f, "table", rt, h.row_cap) : -1;
    hid_t ds = make_dataset(f, "strings", H5T_STD_U8LE, h.heap_cap);
    if (rt < 0 || dt < 0 || ds < 0) st = nd_err_set(ND_EIO, "catalog: cannot create the index");
    if (st == ND_OK) st = write_at(dt, rt, 0, ix->nrows, ix->rows);
    if (st == ND_OK) st = write_at(ds, H5T_NATIVE_UINT8, 0, ix->heap.len, ix->heap.data);
    if (st == ND_OK) {
        haddr_t a = H5Dget_offset(dt), b = H5Dget_offset(ds);
        if (a == HADDR_UNDEF || b == HADDR_UNDEF) st = nd_err_set(ND_EIO, "catalog: index layout");
        h.table_off = a, h.heap_off = b;
    }
    if (st == ND_OK) {
        if (nd_h5_attr_str(f, "format", INDEX_FORMAT) < 0)
            st = nd_err_set(ND_EIO, "catalog: index format");
    }
    if (st == ND_OK) st = attr_u64(f, "nrows", ix->nrows, true);
    if (st == ND_OK) st = attr_u64(f, "heap_len", ix->heap.len, true);
    if (ds >= 0) H5Dclose(ds);
    if (dt >= 0) H5Dclose(dt);
    if (rt >= 0) H5Tclose(rt);
    if (nd_h5_close_tmp(f, tmp, st == ND_OK, MPI_COMM_NULL) < 0 && st == ND_OK)
        st = nd_err_set(ND_EIO, "catalog: cannot close %s", tmp);
    if (st == ND_OK) st = write_header(tmp, &h);
    nd_status cst = nd_out_close(&o, st == ND_OK);
    return st == ND_OK ? cst : st;
}

/* An index of another format (an older Noodle's) is rebuilt, not read. */
static nd_status check_format(hid_t f)
{
    char buf[64] = "";
    hid_t a = H5Aopen(f, "format", H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    bool ok = t >= 0 && H5Tget_class(t) == H5T_STRING && H5Tget_size(t) == sizeof INDEX_FORMAT &&
              H5Aread(a, t, buf) >= 0 && memcmp(buf, INDEX_FORMAT, sizeof INDEX_FORMAT) == 0;
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    return ok ? ND_OK : nd_err_set(ND_EINVALID, "catalog index: not in format %s", INDEX_FORMAT);
}

static hid_t open_nocache(hid_t f, const char *name)
{
    return H5Dopen2(f, name, H5P_DEFAULT);
}

/* Reads index.h5 into ix (initialized, empty).  Any inconsistency is ND_EINVALID;
 * *nbad := the number of rows that fail their checksum (then ND_EINVALID too). */
static nd_status index_read(const char *path, nd_cat_index *ix, size_t *nbad)
{
    *nbad = 0;
    hid_t fapl = nd_cat_fapl();
    hid_t f = nd_is_regular(path) ? H5Fopen(path, H5F_ACC_RDONLY, fapl) : -1;
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) return nd_err_set(ND_EINVALID, "catalog: cannot open %s", path);
    uint64_t nrows = 0, hlen = 0;
    nd_status st = check_format(f);
    if (st == ND_OK) st = read_u64(f, "nrows", &nrows);
    if (st == ND_OK) st = read_u64(f, "heap_len", &hlen);
    if (st == ND_OK && (hlen == 0 || nrows > SIZE_MAX / sizeof(nd_cat_row) || hlen > SIZE_MAX / 2))
        st = nd_err_set(ND_EINVALID, "catalog index: bad sizes");
    hid_t rt = row_type();
    hid_t dt = st == ND_OK ? open_nocache(f, "table") : -1;
    hid_t ds = st == ND_OK ? open_nocache(f, "strings") : -1;
    if (st == ND_OK && (rt < 0 || dt < 0 || ds < 0))
        st = nd_err_set(ND_EINVALID, "catalog index: missing datasets");
    if (st == ND_OK && nrows > 0) {
        ix->rows = ND_ALLOC_N(nd_cat_row, nrows);
        if (!ix->rows) st = ND_ENOMEM;
        else ix->cap = nrows;
    }
    if (st == ND_OK) st = read_at(dt, rt, nrows, ix->rows);
    if (st == ND_OK) ix->nrows = nrows;
    if (st == ND_OK) {
        ix->heap.len = 0;
        st = nd_sb_reserve(&ix->heap, hlen);
    }
    if (st == ND_OK) st = read_at(ds, H5T_NATIVE_UINT8, hlen, ix->heap.data);
    if (st == ND_OK) {
        ix->heap.len = hlen;
        ix->heap.data[hlen] = '\0';
        if (ix->heap.data[hlen - 1] != '\0') st = nd_err_set(ND_EINVALID, "catalog index: bad heap");
    }
    uint64_t maxoff = 0;
    for (size_t i = 0; st == ND_OK && i < ix->nrows; i++) {
        uint64_t *offs[ND_CAT_ROW_NSTR];
        nd_cat_row_strs(&ix->rows[i], offs);
        for (int k = 0; k < ND_CAT_ROW_NSTR; k++)
            if (*offs[k] > maxoff) maxoff = *offs[k];
        if (maxoff >= hlen) st = nd_err_set(ND_EINVALID, "catalog index: bad string offset");
    }
    for (size_t i = 0; st == ND_OK && i < ix->nrows; i++)
        *nbad += nd_cat_row_sum(&ix->rows[i], ix->heap.data) != ix->rows[i].sum;
    if (st == ND_OK && *nbad)
        st = nd_err_set(ND_EINVALID, "catalog index: %zu rows fail their checksum", *nbad);
    if (ds >= 0) H5Dclose(ds);
    if (dt >= 0) H5Dclose(dt);
    if (rt >= 0) H5Tclose(rt);
    H5Fclose(f);
    return st;
}

/* Appends row 0 of one (its strings rebased) to an existing index file, in place.
 * *full := true (and nothing written) when the spare capacity does not hold it. */
static nd_status index_append(const char *path, const nd_cat_index *one, bool *full)
{
    *full = false;
    unsigned char hb[ND_IX_USERBLOCK];
    nd_ix_header h;
    int fd = nd_open_regular(path, O_RDONLY, 0);
    ssize_t got = fd >= 0 ? pread(fd, hb, sizeof hb, 0) : -1;
    if (fd >= 0) close(fd);
    if (got != (ssize_t)sizeof hb || !nd_ix_header_decode(hb, &h))
        return nd_err_set(ND_EINVALID, "catalog index: bad header");
    hid_t fapl = nd_cat_fapl();
    hid_t f = nd_is_regular(path) ? H5Fopen(path, H5F_ACC_RDWR, fapl) : -1;
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) return nd_err_set(ND_EINVALID, "catalog: cannot open %s", path);
    uint64_t nrows = 0, hlen = 0, rcap = 0, hcap = 0;
    nd_status st = check_format(f);
    if (st == ND_OK) st = read_u64(f, "nrows", &nrows);
    if (st == ND_OK) st = read_u64(f, "heap_len", &hlen);
    hid_t rt = row_type();
    hid_t dt = st == ND_OK ? H5Dopen2(f, "table", H5P_DEFAULT) : -1;
    hid_t ds = st == ND_OK ? H5Dopen2(f, "strings", H5P_DEFAULT) : -1;
    if (st == ND_OK && (rt < 0 || dt < 0 || ds < 0))
        st = nd_err_set(ND_EINVALID, "catalog index: missing datasets");
    if (st == ND_OK) st = dataset_extent(dt, &rcap);
    if (st == ND_OK) st = dataset_extent(ds, &hcap);
    if (st == ND_OK && (nrows != h.nrows || hlen != h.heap_len || rcap != h.row_cap || hcap != h.heap_cap))
        st = nd_err_set(ND_EINVALID, "catalog index: header and attributes disagree");
    if (st == ND_OK && (nrows + 1 > rcap || hlen + one->heap.len > hcap)) *full = true;
    nd_cat_row r = one->rows[0];
    uint64_t *offs[ND_CAT_ROW_NSTR];
    nd_cat_row_strs(&r, offs);
    for (int k = 0; k < ND_CAT_ROW_NSTR; k++)
        if (*offs[k]) *offs[k] += hlen;
    nd_cat_row_resum_head(&r);
    if (st == ND_OK && !*full) {
        st = write_at(ds, H5T_NATIVE_UINT8, hlen, one->heap.len, one->heap.data);
        if (st == ND_OK) st = write_at(dt, rt, nrows, 1, &r);
        if (st == ND_OK) st = attr_u64(f, "heap_len", hlen + one->heap.len, false);
        if (st == ND_OK) st = attr_u64(f, "nrows", nrows + 1, false);
    }
    if (ds >= 0) H5Dclose(ds);
    if (dt >= 0) H5Dclose(dt);
    if (rt >= 0) H5Tclose(rt);
    if (H5Fclose(f) < 0 && st == ND_OK) st = nd_err_set(ND_EIO, "catalog: cannot close %s", path);
    if (st == ND_OK && !*full) {
        h.nrows = nrows + 1;
        h.heap_len = hlen + one->heap.len;
        st = write_header(path, &h);
    }
    return st;
}

/* Adds row 0 of one to the index at path by rewriting it with more capacity. */
static nd_status index_regrow(const char *path, const nd_cat_index *one)
{
    nd_cat_index ix;
    ND_TRY(nd_cat_index_init(&ix));
    size_t nbad;
    nd_status st = index_read(path, &ix, &nbad);
    nd_cat_row r = one->rows[0];
    const char *str = one->heap.data;
    uint64_t *offs[ND_CAT_ROW_NSTR];
    nd_cat_row_strs(&r, offs);
    for (int k = 0; st == ND_OK && k < ND_CAT_ROW_NSTR; k++)
        st = nd_cat_index_str(&ix, str + *offs[k], strlen(str + *offs[k]), offs[k]);
    if (st == ND_OK) st = nd_cat_index_push(&ix, &r);
    if (st == ND_OK) st = nd_cat_index_write(path, &ix);
    nd_cat_index_free(&ix);
    return st;
}

/* ---- locking, staleness, rebuild ------------------------------------------------------ */

static char *cat_file(const nd_cat *cat, const char *rel)
{
    size_t n = strlen(cat->path) + strlen(rel) + 2;
    char *s = nd_malloc(n);
    if (s) snprintf(s, n, "%s/%s", cat->path, rel);
    return s;
}

/* Opens the lock file; -1 (and no error) when the catalog is read-only and has none. */
static int lock_open(const nd_cat *cat)
{
    char *p = cat_file(cat, "index.lock");
    if (!p) return -1;
    int fd = nd_open_regular(p, O_RDWR | O_CREAT, 0666);
    if (fd >= 0) nd_cat_share_fd(fd, p, true);
    if (fd < 0) fd = nd_open_regular(p, O_RDONLY, 0); /* a reader: flock needs no write */
    nd_strfree(p);
    return fd;
}

static void lock(int fd, int op)
{
    if (fd < 0) return;
    while (flock(fd, op) != 0 && errno == EINTR) {
    }
}

/* Whether pending/ holds markers (other than `except`). */
static bool has_markers(const nd_cat *cat, const char *except)
{
    char *p = cat_file(cat, "pending");
    if (!p) return false;
    DIR *d = opendir(p);
    nd_strfree(p);
    if (!d) return false;
    bool any = false;
    struct dirent *e;
    while (!any && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && (!except || strcmp(e->d_name, except) != 0)) any = true;
    closedir(d);
    return any;
}

static void remove_markers(const nd_cat *cat)
{
    char *p = cat_file(cat, "pending");
    if (!p) return;
    DIR *d = opendir(p);
    if (d) {
        struct dirent *e;
        char buf[4400];
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            snprintf(buf, sizeof buf, "%s/%s", p, e->d_name);
            unlink(buf);
        }
        closedir(d);
    }
    nd_strfree(p);
}

/* A temporary result "v<N>.h5.tmp.<host>.<pid>" whose writer is gone: same host and no
 * such process, or older than a day (another host's writer cannot be asked). */
static bool tmp_is_dead(const char *dir, const char *fname)
{
    const char *t = strstr(fname, ".tmp.");
    if (!t) return false;
    const char *host = t + 5, *dot = strrchr(fname, '.');
    if (dot < host) return false;
    char me[256] = "";
    gethostname(me, sizeof me - 1);
    long pid = strtol(dot + 1, NULL, 10);
    if ((size_t)(dot - host) == strlen(me) && strncmp(host, me, (size_t)(dot - host)) == 0 &&
        pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return true;
    char buf[4800];
    snprintf(buf, sizeof buf, "%s/%s", dir, fname);
    struct stat sb;
    return stat(buf, &sb) == 0 && time(NULL) - sb.st_mtime > 86400;
}

static int cmp_found(const void *a, const void *b)
{
    const nd_cat_file *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return (x->version > y->version) - (x->version < y->version);
}

void nd_cat_files_free(nd_cat_files *l)
{
    for (size_t i = 0; i < l->n; i++) nd_strfree(l->v[i].name);
    if (l->v) ND_FREE_N(l->v, l->cap);
    memset(l, 0, sizeof *l);
}

nd_status nd_cat_list_files(const char *root, nd_cat_files *l, bool clean)
{
    memset(l, 0, sizeof *l);
    nd_status st = ND_OK;
    DIR *d = opendir(root);
    if (!d && errno != ENOENT) st = nd_err_set(ND_EINVALID, "catalog: cannot read %s", root);
    struct dirent *e;
    char dir[4400], path[4800];
    while (st == ND_OK && d && (e = readdir(d)) != NULL) {
        if (!nd_cat_name_valid(e->d_name)) continue;
        snprintf(dir, sizeof dir, "%s/%s", root, e->d_name);
        DIR *sd = opendir(dir);
        if (!sd) continue;
        struct dirent *f;
        while (st == ND_OK && (f = readdir(sd)) != NULL) {
            const char *n = f->d_name;
            if (strstr(n, ".tmp.")) {
                if (clean && tmp_is_dead(dir, n)) {
                    snprintf(path, sizeof path, "%s/%s", dir, n);
                    unlink(path);
                }
                continue;
            }
            size_t len = strlen(n);
            if (n[0] != 'v' || len < 5 || strcmp(n + len - 3, ".h5") != 0) continue;
            char *end;
            long long v = strtoll(n + 1, &end, 10);
            if (v <= 0 || strcmp(end, ".h5") != 0) continue;
            if (l->n == l->cap) {
                size_t nc = l->cap ? l->cap * 2 : 64;
                nd_cat_file *t = ND_REALLOC_N(nd_cat_file, l->v, l->cap, nc);
                if (!t) {
                    st = ND_ENOMEM;
                    break;
                }
                l->v = t, l->cap = nc;
            }
            l->v[l->n].name = nd_strdup(e->d_name);
            l->v[l->n].version = v;
            if (!l->v[l->n].name) st = ND_ENOMEM;
            else l->n++;
        }
        closedir(sd);
    }
    if (d) closedir(d);
    if (st == ND_OK && l->n) qsort(l->v, l->n, sizeof *l->v, cmp_found);
    if (st != ND_OK) nd_cat_files_free(l);
    return st;
}

/* Scans results/ into ix (sorted by name, version). */
static nd_status scan_results(const nd_cat *cat, nd_cat_index *ix)
{
    char *root = cat_file(cat, "results");
    if (!root) return ND_ENOMEM;
    nd_cat_files l;
    nd_status st = nd_cat_list_files(root, &l, true);
    char path[4800];
    size_t legacy = 0;
    /* A result file that cannot be read (damaged, or not what its name says) is left out
     * of the index with a warning: one bad file must not hide all the others.  Files
     * from before checksums are counted and said in one line. */
    for (size_t i = 0; st == ND_OK && i < l.n; i++) {
        snprintf(path, sizeof path, "%s/%s/v%" PRId64 ".h5", root, l.v[i].name, l.v[i].version);
        size_t before = ix->nrows;
        nd_status rst = nd_cat_result_read_meta(path, ix, true);
        if (rst == ND_OK) {
            nd_cat_row *r = &ix->rows[ix->nrows - 1];
            if (strcmp(nd_cat_index_s(ix, r->name), l.v[i].name) != 0 || r->version != l.v[i].version) {
                ix->nrows = before;
                rst = nd_err_set(ND_EINVALID, "%s: does not hold %s@%" PRId64, path,
                                 l.v[i].name, l.v[i].version);
            }
        }
        if (rst == ND_ENOMEM) st = rst;
        else if (rst != ND_OK && nd_cat_sum_legacy(path))
            legacy++;
        else if (rst != ND_OK)
            fprintf(stderr, "noodle: warning: catalog: left out of the index: %s\n", nd_err_msg());
    }
    if (legacy)
        fprintf(stderr, "noodle: warning: catalog: %zu result file%s in %s %s no checksum (written "
                "before result files had one) and %s left out of the index: `noodle-mql %s "
                "--seal-legacy` gives them one\n", legacy, legacy == 1 ? "" : "s", root,
                legacy == 1 ? "has" : "have", legacy == 1 ? "is" : "are", cat->path);
    nd_cat_files_free(&l);
    nd_strfree(root);
    return st;
}

nd_status nd_cat_index_rebuild_locked(nd_cat *cat, nd_cat_index *ix)
{
    ND_TRY(scan_results(cat, ix));
    char *p = cat_file(cat, "index.h5");
    if (!p) return ND_ENOMEM;
    /* Writing the cache is best effort: a read-only catalog is still queryable. */
    nd_status st = nd_cat_index_write(p, ix);
    nd_strfree(p);
    if (st == ND_OK) remove_markers(cat);
    nd_err_clear();
    return ND_OK;
}

nd_status nd_cat_index_load(nd_cat *cat, nd_cat_index *ix)
{
    char *p = cat_file(cat, "index.h5");
    if (!p) return ND_ENOMEM;
    int fd = lock_open(cat);
    lock(fd, LOCK_SH);
    nd_status st = ND_EINVALID;
    size_t nbad = 0;
    for (int attempt = 0; attempt < 2 && st != ND_OK; attempt++) {
        if (attempt == 1) lock(fd, LOCK_EX); /* re-check: another process may have rebuilt */
        if (!has_markers(cat, NULL) && access(p, F_OK) == 0) {
            st = index_read(p, ix, &nbad);
            if (st == ND_ENOMEM) break;
            if (st != ND_OK) {
                nd_cat_index_free(ix);
                ND_TRY(nd_cat_index_init(ix));
            }
        }
    }
    if (st != ND_OK && st != ND_ENOMEM) {
        /* the index is a cache: damage is repaired from the result files, said once */
        if (nbad)
            fprintf(stderr, "noodle: warning: catalog: %zu row%s of %s fail%s the checksum: "
                    "rebuilding the index from the result files\n", nbad, nbad == 1 ? "" : "s", p,
                    nbad == 1 ? "s" : "");
        st = nd_cat_index_rebuild_locked(cat, ix);
        if (st != ND_OK && st != ND_ENOMEM) {
            st = nd_err_set(ND_EINVALID, "the catalog index cannot be rebuilt: %s", nd_err_msg());
        }
    }
    lock(fd, LOCK_UN);
    if (fd >= 0) close(fd);
    nd_strfree(p);
    return st;
}

nd_status nd_cat_index_commit(nd_cat *cat, const char *name, int64_t version,
                              const char *tmp_path, const char *final_path,
                              const nd_cat_index *one, const nd_cat_prov *prov)
{
    char marker_rel[200], *marker = NULL, *p = NULL;
    snprintf(marker_rel, sizeof marker_rel, "%s.v%" PRId64, name, version);
    size_t n = strlen(cat->path) + strlen(marker_rel) + 16;
    marker = nd_malloc(n);
    p = cat_file(cat, "index.h5");
    if (!marker || !p) {
        if (marker) nd_free(marker, n);
        nd_strfree(p);
        return ND_ENOMEM;
    }
    snprintf(marker, n, "%s/pending/%s", cat->path, marker_rel);
    int fd = lock_open(cat);
    if (fd < 0) {
        nd_free(marker, n);
        nd_strfree(p);
        return nd_err_set(ND_EIO, "catalog: cannot open %s/index.lock: %s", cat->path, strerror(errno));
    }
    lock(fd, LOCK_EX);
    nd_status st = ND_OK;
    int mfd = open(marker, O_CREAT | O_WRONLY, 0666);
    if (mfd < 0) {
        st = nd_err_set(ND_EIO, "catalog: cannot create %s: %s", marker, strerror(errno));
    } else {
        nd_cat_share_fd(mfd, marker, true);
        close(mfd);
    }
    /* The audit entry before the rename, so that no committed result lacks one; a
     * rename that fails then is recorded as an abort (docs/catalog.md "The audit log"). */
    if (st == ND_OK) {
        st = nd_cat_audit_store(cat, name, version, tmp_path, prov);
        if (st != ND_OK) unlink(marker);
    }
    if (st == ND_OK && rename(tmp_path, final_path) != 0) {
        st = nd_err_set(ND_EIO, "catalog: cannot publish %s: %s", final_path, strerror(errno));
        nd_cat_audit_abort(cat, name, version, prov);
        unlink(marker);
    }
    if (st == ND_OK) {
        /* Committed.  Now bring the cache up to date; failures leave the marker. */
        bool done = false, full = false;
        if (!has_markers(cat, marker_rel) && access(p, F_OK) == 0) {
            done = index_append(p, one, &full) == ND_OK && !full;
            if (full) done = index_regrow(p, one) == ND_OK;
        }
        if (done) {
            unlink(marker);
        } else {
            nd_cat_index ix;
            if (nd_cat_index_init(&ix) == ND_OK && scan_results(cat, &ix) == ND_OK &&
                nd_cat_index_write(p, &ix) == ND_OK)
                remove_markers(cat);
            nd_cat_index_free(&ix);
        }
        nd_err_clear();
    }
    lock(fd, LOCK_UN);
    close(fd);
    nd_free(marker, n);
    nd_strfree(p);
    return st;
}

nd_status nd_cat_reindex(nd_cat *cat, size_t *count)
{
    nd_status st = ND_OK;
    size_t n = 0;
    if (cat->rank == 0) {
        nd_cat_index ix;
        st = nd_cat_index_init(&ix);
        int fd = st == ND_OK ? lock_open(cat) : -1;
        lock(fd, LOCK_EX);
        if (st == ND_OK) st = scan_results(cat, &ix);
        char *p = st == ND_OK ? cat_file(cat, "index.h5") : NULL;
        if (st == ND_OK && !p) st = ND_ENOMEM;
        if (st == ND_OK) st = nd_cat_index_write(p, &ix);
        if (st == ND_OK) remove_markers(cat);
        nd_strfree(p);
        lock(fd, LOCK_UN);
        if (fd >= 0) close(fd);
        n = ix.nrows;
        nd_cat_index_free(&ix);
    }
    st = nd_cat_share_status(cat, st);
    if (count) *count = n;
    return st;
}

nd_status nd_cat_seal_legacy(nd_cat *cat, size_t *count)
{
    nd_status st = ND_OK;
    size_t n = 0;
    if (cat->rank == 0) {
        char *root = cat_file(cat, "results");
        nd_cat_files l = {0};
        st = root ? nd_cat_list_files(root, &l, true) : ND_ENOMEM;
        char path[4800];
        for (size_t i = 0; st == ND_OK && i < l.n; i++) {
            snprintf(path, sizeof path, "%s/%s/v%" PRId64 ".h5", root, l.v[i].name, l.v[i].version);
            if (!nd_cat_sum_legacy(path)) continue;
            st = nd_cat_sum_adopt(path);
            n += st == ND_OK;
        }
        nd_cat_files_free(&l);
        nd_strfree(root);
    }
    st = nd_cat_share_status(cat, st);
    if (st == ND_OK) st = nd_cat_reindex(cat, NULL);
    if (count) *count = n;
    return st;
}
