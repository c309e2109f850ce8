/* rsum.c: the checksum of a result file.  Result files are created with a 512-byte HDF5
 * userblock (HDF5, h5py and netCDF skip it) that holds, once the file is complete:
 *   0  "noodleRS"          8 bytes
 *   8  format (1)          LE u32
 *   12 log2 of the chunk   LE u32 (20: 1 MiB)
 *   16 file size           LE u64, the whole file in bytes
 *   24 digest              LE u64: XXH64, seeded with the size, of the CRC-32Cs (LE u32
 *                          each) of the chunks of bytes [512, size)
 *   32 header check        LE u64: XXH64 of the 512 bytes with these 8 zeroed
 * The rest is zero.  Chunks make the digest parallel: each rank checksums a contiguous
 * share of them, so writing and verifying cost one read of the file spread over the
 * ranks.  A file whose first bytes are HDF5's own signature was written before
 * checksums (no userblock): it is refused like a damaged one (HDF5 would have to trust
 * it) until nd_cat_seal_legacy gives it a userblock and a checksum.
 * Verification happens before HDF5 opens a file: a damaged file reaching HDF5 can crash
 * it.  docs/catalog.md "Result files" specifies the layout.
 */
#include "catalog/cat_internal.h"

#include "common/alloc.h"
#include "common/hash.h"
#include "common/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RS_MAGIC "noodleRS"
#define RS_FORMAT 1u
#define RS_CHUNK_LOG2 20u
#define RS_CHUNK ((uint64_t)1 << RS_CHUNK_LOG2)

static const unsigned char hdf5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

static void put(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t header_check(const unsigned char *ub)
{
    unsigned char c[ND_CAT_USERBLOCK];
    memcpy(c, ub, sizeof c);
    memset(c + 32, 0, 8);
    return nd_xxh64(c, sizeof c, 0);
}

hid_t nd_cat_result_fcpl(void)
{
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fcpl >= 0 && H5Pset_userblock(fcpl, ND_CAT_USERBLOCK) < 0) {
        H5Pclose(fcpl);
        return -1;
    }
    return fcpl;
}

static int comm_rank(MPI_Comm comm)
{
    int r = 0;
    if (comm != MPI_COMM_NULL) MPI_Comm_rank(comm, &r);
    return r;
}

static int comm_size(MPI_Comm comm)
{
    int n = 1;
    if (comm != MPI_COMM_NULL) MPI_Comm_size(comm, &n);
    return n;
}

static nd_status agree(MPI_Comm comm, nd_status st)
{
    return comm == MPI_COMM_NULL ? st : nd_spmd_agree_on(comm, st);
}

/* This rank's share of the chunks of [ND_CAT_USERBLOCK, size): CRC-32C of each. */
static nd_status crc_share(const char *path, uint64_t size, uint64_t lo, uint64_t hi, uint32_t *out)
{
    if (lo == hi) return ND_OK;
    int fd = nd_open_regular(path, O_RDONLY, 0);
    if (fd < 0) return nd_err_set(ND_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = (size_t)RS_CHUNK;
    unsigned char *buf = nd_malloc(cap);
    nd_status st = buf ? ND_OK : ND_ENOMEM;
    for (uint64_t c = lo; st == ND_OK && c < hi; c++) {
        uint64_t off = ND_CAT_USERBLOCK + c * RS_CHUNK;
        size_t want = (size_t)(size - off < RS_CHUNK ? size - off : RS_CHUNK), got = 0;
        while (got < want) {
            ssize_t r = pread(fd, buf + got, want - got, (off_t)(off + got));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                st = r < 0 ? nd_err_set(ND_EIO, "%s: read error: %s", path, strerror(errno))
                           : nd_err_set(ND_EINVALID, "%s: damaged (shorter than its checksum says)", path);
                break;
            }
            got += (size_t)r;
        }
        if (st == ND_OK) out[c - lo] = nd_crc32c(0, buf, want);
    }
    if (buf) nd_free(buf, cap);
    close(fd);
    return st;
}

/* Collective over comm (MPI_COMM_NULL: alone): the digest of path's bytes past the
 * userblock, for a file of `size` bytes (the same on every rank); valid on rank 0. */
static nd_status digest(MPI_Comm comm, const char *path, uint64_t size, uint64_t *out)
{
    int rank = comm_rank(comm), np = comm_size(comm);
    uint64_t n = (size - ND_CAT_USERBLOCK + RS_CHUNK - 1) / RS_CHUNK;
    uint64_t lo = n * (uint64_t)rank / (uint64_t)np, hi = n * (uint64_t)(rank + 1) / (uint64_t)np;
    /* every share must fit an int count for MPI (2^31 chunks: 2 PiB) */
    ND_CHECK(n <= INT32_MAX, ND_EINVALID, "%s: too large to checksum", path);
    uint32_t *all = NULL, *mine = ND_ALLOC_N(uint32_t, hi > lo ? hi - lo : 1);
    if (rank == 0) all = ND_ALLOC_N(uint32_t, n ? n : 1);
    nd_status st = mine && (rank != 0 || all) ? ND_OK : ND_ENOMEM;
    if (st == ND_OK) st = crc_share(path, size, lo, hi, mine);
    st = agree(comm, st);
    if (st == ND_OK && comm != MPI_COMM_NULL) {
        int *counts = rank == 0 ? ND_ALLOC_N(int, (size_t)np) : NULL;
        int *displs = rank == 0 ? ND_ALLOC_N(int, (size_t)np) : NULL;
        for (int r = 0; counts && displs && r < np; r++) {
            uint64_t a = n * (uint64_t)r / (uint64_t)np, b = n * (uint64_t)(r + 1) / (uint64_t)np;
            counts[r] = (int)(b - a), displs[r] = (int)a;
        }
        st = rank != 0 || (counts && displs) ? ND_OK : ND_ENOMEM;
        st = agree(comm, st);
        if (st == ND_OK) {
            int rc = MPI_Gatherv(mine, (int)(hi - lo), MPI_UINT32_T, all, counts, displs,
                                 MPI_UINT32_T, 0, comm);
            if (rc != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Gatherv", rc);
        }
        if (counts) ND_FREE_N(counts, (size_t)np);
        if (displs) ND_FREE_N(displs, (size_t)np);
    } else if (st == ND_OK) {
        memcpy(all, mine, (size_t)(hi - lo) * sizeof *mine);
    }
    if (st == ND_OK && rank == 0) {
        /* the CRCs as LE bytes, in place (a no-op on LE hosts) */
        unsigned char *b = (unsigned char *)all;
        for (uint64_t c = 0; c < n; c++) {
            uint32_t v = all[c];
            put(b + 4 * c, v, 4);
        }
        *out = nd_xxh64(b, (size_t)n * 4, size);
    }
    if (all) ND_FREE_N(all, n ? n : 1);
    if (mine) ND_FREE_N(mine, hi > lo ? hi - lo : 1);
    return st;
}

/* Rank-local: the size of path (a regular file). */
static nd_status file_size(const char *path, uint64_t *size, unsigned char *ub)
{
    int fd = nd_open_regular(path, O_RDONLY, 0);
    if (fd < 0) return nd_err_set(ND_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    nd_status st = ND_OK;
    if (fstat(fd, &sb) != 0) st = nd_err_set(ND_EIO, "%s: %s", path, strerror(errno));
    *size = st == ND_OK ? (uint64_t)sb.st_size : 0;
    if (st == ND_OK && ub) {
        memset(ub, 0, ND_CAT_USERBLOCK);
        ssize_t r = *size >= ND_CAT_USERBLOCK ? pread(fd, ub, ND_CAT_USERBLOCK, 0) : 0;
        if (r < 0) st = nd_err_set(ND_EIO, "%s: read error: %s", path, strerror(errno));
    }
    close(fd);
    return st;
}

bool nd_cat_sum_digest(const char *path, uint64_t *d)
{
    unsigned char ub[ND_CAT_USERBLOCK];
    uint64_t size = 0;
    if (file_size(path, &size, ub) != ND_OK) {
        nd_err_clear();
        return false;
    }
    if (size < ND_CAT_USERBLOCK || memcmp(ub, RS_MAGIC, 8) != 0 || get(ub + 32, 8) != header_check(ub) ||
        get(ub + 8, 4) != RS_FORMAT || get(ub + 16, 8) != size)
        return false;
    *d = get(ub + 24, 8);
    return true;
}

bool nd_cat_sum_legacy(const char *path)
{
    unsigned char b[8];
    int fd = nd_open_regular(path, O_RDONLY, 0);
    bool yes = fd >= 0 && pread(fd, b, 8, 0) == 8 && memcmp(b, hdf5_sig, 8) == 0;
    if (fd >= 0) close(fd);
    return yes;
}

/* A userblock in front of an HDF5 file without one: HDF5 finds the superblock 512 bytes
 * in and takes its addresses from there, so the file needs no other change.  Written
 * to a temporary file, sealed, then renamed over the original. */
nd_status nd_cat_sum_adopt(const char *path)
{
    int in = nd_open_regular(path, O_RDONLY, 0);
    if (in < 0) return nd_err_set(ND_EIO, "%s: cannot open: %s", path, strerror(errno));
    nd_outfile o;
    nd_status st = nd_out_open(path, &o);
    if (st != ND_OK) {
        close(in);
        return st;
    }
    if (!o.tmp) st = nd_err_set(ND_EUSAGE, "%s: not a regular file", path);
    else nd_cat_share_fd(o.fd, path, false);
    unsigned char *buf = st == ND_OK ? nd_malloc((size_t)RS_CHUNK) : NULL;
    if (st == ND_OK && !buf) st = ND_ENOMEM;
    if (st == ND_OK) {
        memset(buf, 0, ND_CAT_USERBLOCK);
        st = nd_out_write(&o, buf, ND_CAT_USERBLOCK);
    }
    while (st == ND_OK) {
        ssize_t r = read(in, buf, (size_t)RS_CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) st = nd_err_set(ND_EIO, "%s: read error: %s", path, strerror(errno));
        if (r <= 0) break;
        st = nd_out_write(&o, buf, (size_t)r);
    }
    if (buf) nd_free(buf, (size_t)RS_CHUNK);
    close(in);
    if (st == ND_OK && fsync(o.fd) != 0) st = nd_err_set(ND_EIO, "%s: fsync: %s", o.tmp, strerror(errno));
    if (st == ND_OK) st = nd_cat_sum_seal(MPI_COMM_NULL, o.tmp);
    nd_status cst = nd_out_close(&o, st == ND_OK);
    return st == ND_OK ? cst : st;
}

nd_status nd_cat_sum_seal(MPI_Comm comm, const char *path)
{
    uint64_t size = 0;
    nd_status st = ND_OK;
    if (comm_rank(comm) == 0) {
        st = file_size(path, &size, NULL);
        if (st == ND_OK && size < ND_CAT_USERBLOCK)
            st = nd_err_set(ND_EINTERNAL, "%s: no userblock to seal", path);
    }
    st = agree(comm, st);
    if (st == ND_OK && comm != MPI_COMM_NULL) {
        int rc = MPI_Bcast(&size, 1, MPI_UINT64_T, 0, comm);
        if (rc != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Bcast", rc);
    }
    uint64_t d = 0;
    if (st == ND_OK) st = digest(comm, path, size, &d);
    if (st == ND_OK && comm_rank(comm) == 0) {
        unsigned char ub[ND_CAT_USERBLOCK];
        memset(ub, 0, sizeof ub);
        memcpy(ub, RS_MAGIC, 8);
        put(ub + 8, RS_FORMAT, 4);
        put(ub + 12, RS_CHUNK_LOG2, 4);
        put(ub + 16, size, 8);
        put(ub + 24, d, 8);
        put(ub + 32, header_check(ub), 8);
        int fd = nd_open_regular(path, O_WRONLY, 0);
        ssize_t w = fd >= 0 ? pwrite(fd, ub, sizeof ub, 0) : -1;
        if (fd < 0 || w != (ssize_t)sizeof ub)
            st = nd_err_set(ND_EIO, "%s: cannot write its checksum: %s", path, strerror(errno));
        if (fd >= 0 && close(fd) != 0 && st == ND_OK)
            st = nd_err_set(ND_EIO, "%s: cannot write its checksum: %s", path, strerror(errno));
    }
    return agree(comm, st);
}

nd_status nd_cat_sum_verify(MPI_Comm comm, const char *path)
{
    /* rank 0 reads the header: plan[0] = size to digest (0: nothing to do), plan[1] = the
     * expected digest */
    uint64_t plan[2] = {0, 0};
    nd_status st = ND_OK;
    if (comm_rank(comm) == 0) {
        unsigned char ub[ND_CAT_USERBLOCK];
        uint64_t size = 0;
        st = file_size(path, &size, ub);
        if (st == ND_OK && size >= 8 && memcmp(ub, hdf5_sig, 8) == 0)
            st = nd_err_set(ND_EINVALID, "%s: no checksum (written before result files had one; "
                            "`noodle-mql CATALOG --seal-legacy` gives it one)", path);
        if (st == ND_OK) {
            if (size < ND_CAT_USERBLOCK || memcmp(ub, RS_MAGIC, 8) != 0 ||
                get(ub + 32, 8) != header_check(ub) || get(ub + 8, 4) != RS_FORMAT ||
                get(ub + 12, 4) != RS_CHUNK_LOG2)
                st = nd_err_set(ND_EINVALID, "%s: damaged (no valid checksum header)", path);
            else if (get(ub + 16, 8) != size)
                st = nd_err_set(ND_EINVALID, "%s: damaged (%llu bytes, its checksum covers %llu)", path,
                                (unsigned long long)size, (unsigned long long)get(ub + 16, 8));
            else
                plan[0] = size, plan[1] = get(ub + 24, 8);
        }
    }
    st = agree(comm, st);
    if (st == ND_OK && comm != MPI_COMM_NULL) {
        int rc = MPI_Bcast(plan, 2, MPI_UINT64_T, 0, comm);
        if (rc != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Bcast", rc);
    }
    if (st != ND_OK || plan[0] == 0) return st;
    uint64_t d = 0;
    st = digest(comm, path, plan[0], &d);
    if (st == ND_OK && comm_rank(comm) == 0 && d != plan[1])
        st = nd_err_set(ND_EINVALID, "%s: damaged (checksum mismatch)", path);
    return agree(comm, st);
}
