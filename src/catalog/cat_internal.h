/* cat_internal.h: private pieces shared by the catalog's files: the catalog handle, the
 * metadata row (one per stored version; the same record is written as attributes of the
 * result file and as one row of index.h5) and the index in memory.
 * Invariant: string fields of a row are offsets into the index's heap, whose byte 0 is
 * NUL, so offset 0 is the empty string.  docs/catalog.md specifies both files.
 */
#ifndef ND_CAT_INTERNAL_H
#define ND_CAT_INTERNAL_H

#include "catalog/catalog.h"
#include "common/strbuf.h"
#include "runtime/h5.h"
#include "runtime/spmd.h"

#include <hdf5.h>

struct nd_cat {
    char *path;
    MPI_Comm comm; /* MPI_COMM_NULL: serial */
    int rank;
};

/* Row flags. */
enum {
    ND_CAT_F_STATS = 1,     /* min, max, mean, norm are set, and rows, cols unless F_ND */
    ND_CAT_F_VNUM = 2,      /* value (number) is set */
    ND_CAT_F_VINT = 4,      /* ... and it is an int */
    ND_CAT_F_VSTR = 8,      /* svalue is set */
    ND_CAT_F_ND = 16        /* an array that is not 2-D: rows, cols are not set */
};

/* One metadata row.  Plain numbers and heap offsets: this struct is the memory layout of
 * the index's compound table (file layout: the packed copy, little-endian). */
typedef struct nd_cat_row {
    int64_t version, restarts, ranks, rows, cols, ivalue;
    int32_t kind, flags;
    double min, max, mean, norm, value;
    uint64_t name, job, hash, created, user, host, svalue;
    uint64_t tags;   /* entries "key\x1f" type(i|f|s) "value\x1e" */
    uint64_t params; /* entries "key\x1fvalue\x1e" */
    uint64_t shape;  /* an array's shape, "4x5x6" ("" for other kinds) */
    uint64_t program, program_path; /* the program's source name; the file run (absolute) */
    uint64_t signer; /* the bytecode's signer id (docs/security.md), "" unsigned */
    /* Checksum (nd_cat_row_sum), last: CRC-32C of the bytes above (low half) and of the
     * heap bytes from the row's first string to the end of its last (high half). */
    uint64_t sum;
} nd_cat_row;

/* No padding: the checksum covers the struct's bytes. */
_Static_assert(sizeof(nd_cat_row) == 208, "nd_cat_row is 26 packed 8-byte fields");

/* The string offsets of a row, for code that checks or moves all of them. */
#define ND_CAT_ROW_NSTR 13
static inline void nd_cat_row_strs(nd_cat_row *r, uint64_t *out[ND_CAT_ROW_NSTR])
{
    uint64_t *p[ND_CAT_ROW_NSTR] = {&r->name, &r->job,    &r->hash,   &r->created,
                                    &r->user, &r->host,   &r->svalue, &r->tags,
                                    &r->params, &r->shape, &r->program, &r->program_path,
                                    &r->signer};
    for (int k = 0; k < ND_CAT_ROW_NSTR; k++) out[k] = p[k];
}

/* Either owned (rows: cap entries, heap: a strbuf) or a read-only mapping of index.h5
 * (map != NULL: rows and heap.data point into it; ixmap.c). */
typedef struct nd_cat_index {
    nd_cat_row *rows;
    size_t nrows, cap;
    nd_strbuf heap;
    void *map;
    size_t map_len;
} nd_cat_index;

#define ND_CAT_TAG_SEP '\x1f'
#define ND_CAT_ENT_SEP '\x1e'
/* Strings longer than this are not copied into the index (value is NULL there). */
#define ND_CAT_SVALUE_MAX 1024

/* index.c */
nd_status nd_cat_index_init(nd_cat_index *ix);
void nd_cat_index_free(nd_cat_index *ix);
/* Appends a string to the heap; *off := its offset. */
nd_status nd_cat_index_str(nd_cat_index *ix, const char *s, size_t n, uint64_t *off);
/* Appends row (its strings already in ix's heap) and sets its checksum. */
nd_status nd_cat_index_push(nd_cat_index *ix, const nd_cat_row *row);
/* The checksum of r, whose strings are in heap (NUL-ended, every offset inside). */
uint64_t nd_cat_row_sum(const nd_cat_row *r, const char *heap);
/* The low half of r->sum again, after its string offsets moved (index.c's appends). */
void nd_cat_row_resum_head(nd_cat_row *r);
static inline const char *nd_cat_index_s(const nd_cat_index *ix, uint64_t off)
{
    return ix->heap.data + off;
}
/* Rank-local (rank 0).  Writes a whole index file atomically (tmp + rename). */
nd_status nd_cat_index_write(const char *path, const nd_cat_index *ix);
/* Rank-local (rank 0).  Loads the index for a query, rebuilding it when it is missing,
 * unreadable or stale (docs/catalog.md "Index"). */
nd_status nd_cat_index_load(nd_cat *cat, nd_cat_index *ix);
/* Rank-local (rank 0).  Publishes tmp_path as final_path and adds its row (row 0 of
 * one) to the index, under the index lock.  The rename is the commit: after it
 * succeeded the function returns ND_OK even if the index could not be updated (a
 * pending marker then makes the next reader rebuild). */
nd_status nd_cat_index_commit(nd_cat *cat, const char *name, int64_t version,
                              const char *tmp_path, const char *final_path,
                              const nd_cat_index *one, const nd_cat_prov *prov);
/* The result files of a catalog: results/NAME/vN.h5. */
typedef struct nd_cat_file {
    char *name;
    int64_t version;
} nd_cat_file;
typedef struct nd_cat_files {
    nd_cat_file *v;
    size_t n, cap;
} nd_cat_files;
/* Rank-local: lists the result files below root (sorted by name, version); clean: also
 * removes temporary files whose writer is gone. */
nd_status nd_cat_list_files(const char *root, nd_cat_files *l, bool clean);
void nd_cat_files_free(nd_cat_files *l);
/* Rank-local (rank 0): rebuilds under the exclusive lock (nd_cat_reindex's work). */
nd_status nd_cat_index_rebuild_locked(nd_cat *cat, nd_cat_index *ix);

/* members.c: map results. */
/* Uniform: checks the members, their attributes and dims (before a version is claimed). */
nd_status nd_cat_members_check(const nd_cat_item *it);
/* Collective: writes every array member of it into f (opened with MPI-IO). */
nd_status nd_cat_members_write_arrays(hid_t f, const nd_cat_item *it);
/* Rank 0: reopens the temporary file and writes the root attributes of `one`, the member
 * list, the scalar members, the members' attributes and the dimension scales. */
nd_status nd_cat_members_write_rest(const char *tmp, const nd_cat_index *one, const nd_cat_item *it);
/* Collective: loads the members of the map result at path into out (kind already set). */
nd_status nd_cat_members_load(nd_cat *cat, const char *path, nd_cat_item *out);

/* rsum.c: a result file's checksum, in its HDF5 userblock. */
#define ND_CAT_USERBLOCK 512u
/* The file creation list of result files (with the userblock); H5Pclose it. */
hid_t nd_cat_result_fcpl(void);
/* Collective over comm (MPI_COMM_NULL: alone): writes the checksum of the complete,
 * closed file at path into its userblock.  Each rank reads a share of the file. */
nd_status nd_cat_sum_seal(MPI_Comm comm, const char *path);
/* Collective over comm (MPI_COMM_NULL: alone): checks path against its checksum before
 * HDF5 opens it.  A damaged file, or one from before checksums (no userblock), is
 * ND_EINVALID naming it. */
nd_status nd_cat_sum_verify(MPI_Comm comm, const char *path);
/* Rank-local: the digest path's checksum header records (not recomputed); false when
 * it has no valid header (a file from before checksums, or a damaged one). */
bool nd_cat_sum_digest(const char *path, uint64_t *digest);
/* Rank-local: whether path is an HDF5 file from before checksums (no userblock). */
bool nd_cat_sum_legacy(const char *path);
/* Rank-local: gives such a file a userblock and a checksum (replaced by rename). */
nd_status nd_cat_sum_adopt(const char *path);

/* audit.c: CAT/audit.log (docs/catalog.md "The audit log").  Both are Rank-local (rank
 * 0) and called under the exclusive index lock by nd_cat_index_commit. */
/* Appends (and fsyncs) the entry of the store of name@version whose complete, sealed
 * temporary file is tmp_path, before the rename that commits it.  Starts the log
 * (recording the results already present) when it is empty, records an abort first
 * when the previous store never committed.  On failure the log is left as it was and
 * the store must not commit. */
nd_status nd_cat_audit_store(nd_cat *cat, const char *name, int64_t version,
                             const char *tmp_path, const nd_cat_prov *prov);
/* Records that the store just logged did not commit (its rename failed).  Best effort:
 * a failure is a warning (the next store records it then); keeps the error record. */
void nd_cat_audit_abort(nd_cat *cat, const char *name, int64_t version, const nd_cat_prov *prov);

/* Group-shared catalogs (docs/catalog.md): a directory that is setgid and group-writable
 * shares what is created in it with its group, whatever the umask.  Rank-local, best
 * effort (a file someone else owns keeps its mode). */
/* Whether the directory that holds path is group-shared. */
bool nd_cat_shared_dir_of(const char *path);
/* In a shared directory: gives fd, a file just created or opened at path, group read,
 * and group write when group_write (files that change: index, lock, log, markers). */
void nd_cat_share_fd(int fd, const char *path, bool group_write);
/* The same by path (files that HDF5 or MPI-IO created). */
void nd_cat_share_path(const char *path, bool group_write);

/* result.c */
const char *nd_cat_kind_name(int kind);
/* Writes the scalar dataset `name` holding an int, float, string or JSON item. */
herr_t nd_cat_write_value(hid_t f, const char *name, const nd_cat_item *it);
/* Writes the root attributes of a result file from row 0 of `one`. */
nd_status nd_cat_result_write_meta(hid_t file, const nd_cat_index *one);
/* Reads a result file's attributes (and small values) into a new row of ix; verify:
 * checks the file's checksum first (rsum.c; false only where the caller just did). */
nd_status nd_cat_result_read_meta(const char *path, nd_cat_index *ix, bool verify);
/* Paths: "<cat>/results/<name>", "<cat>/results/<name>/v<N>.h5" (nd_malloc'd). */
char *nd_cat_name_dir(const nd_cat *cat, const char *name);
char *nd_cat_version_path(const nd_cat *cat, const char *name, int64_t version);
/* Rank-local: claims the next free version of name with O_CREAT|O_EXCL. */
nd_status nd_cat_claim_version(nd_cat *cat, const char *name, int64_t *version);
/* Rank-local: the newest committed version of name (0 when there is none). */
nd_status nd_cat_latest_version(nd_cat *cat, const char *name, int64_t *version);
/* Parses "NAME" or "NAME@N". */
nd_status nd_cat_parse_spec(const char *spec, char *name, size_t name_size, int64_t *version);
/* HDF5 file access list with HDF5's own file locking off (we lock index.lock). */
hid_t nd_cat_fapl(void);
/* Broadcasts rank 0's status and message (no-op when serial). */
nd_status nd_cat_share_status(nd_cat *cat, nd_status st);
/* Collective over cat->comm: MPI_Bcast from rank 0; a failure is nd_spmd_mpi_fail's. */
nd_status nd_cat_bcast(nd_cat *cat, void *buf, int count, MPI_Datatype type);
/* fsyncs a file by path (best effort for durability; errors are ND_EIO). */
nd_status nd_cat_fsync_path(const char *path);

#endif
