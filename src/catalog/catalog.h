/* catalog.h: the results catalog (nd_cat_) and its query language MQL (nd_mql_).
 *
 * A catalog is a directory of immutable HDF5 result files, one per stored version,
 * published by write-to-temporary-then-rename, plus index.h5, a cache of all metadata
 * rows that can always be rebuilt from the result files.  The API is independent of the
 * VM's value type: the VM hooks translate nd_value <-> nd_cat_item / nd_cat_rows.
 * Specified by docs/catalog.md (layout, locking, MQL grammar).
 */
#ifndef ND_CATALOG_H
#define ND_CATALOG_H

#include "common/kv.h"
#include "common/nd.h"
#include "common/strbuf.h"
#include "runtime/dm.h"

#include <mpi.h>

typedef struct nd_cat nd_cat;

/* What a result holds.  Lists and maps are stored as JSON text serialized by the caller,
 * except a map with arrays (or metadata), stored as ND_CAT_MAP: one dataset per member. */
typedef enum nd_cat_kind {
    ND_CAT_INT = 1,
    ND_CAT_FLOAT,
    ND_CAT_STRING,
    ND_CAT_JSON,
    ND_CAT_MATRIX,
    ND_CAT_MAP
} nd_cat_kind;

typedef struct nd_cat_member nd_cat_member;

typedef struct nd_cat_item {
    nd_cat_kind kind;
    int64_t i;      /* ND_CAT_INT */
    double f;       /* ND_CAT_FLOAT */
    char *s;        /* ND_CAT_STRING / ND_CAT_JSON: len bytes (+ NUL) */
    size_t len;
    nd_dm *m;       /* ND_CAT_MATRIX */
    nd_cat_member *members; /* ND_CAT_MAP: nmembers, in the map's order */
    size_t nmembers;
} nd_cat_item;

/* Frees what nd_cat_load put into an item (string bytes, matrix, members); Rank-local. */
void nd_cat_item_clear(nd_cat_item *it);

/* A typed cell: a tag value, or one cell of a query result.  Strings are borrowed from
 * whoever owns the container (the caller for tags, the nd_cat_rows for results). */
typedef enum nd_cat_ctype { ND_CAT_NULL = 0, ND_CAT_CINT, ND_CAT_CFLOAT, ND_CAT_CSTR } nd_cat_ctype;
typedef struct nd_cat_cell {
    nd_cat_ctype type;
    int64_t i;
    double f;
    const char *s;
} nd_cat_cell;

typedef struct nd_cat_tag {
    const char *key;
    nd_cat_cell value; /* ND_CAT_CINT, ND_CAT_CFLOAT or ND_CAT_CSTR */
} nd_cat_tag;

/* One member of an ND_CAT_MAP result: a dataset named `name` (a result name's
 * characters) holding `item` (any kind but ND_CAT_MAP), with attributes (units,
 * description, ...) and, for an array, the names of its dimensions (ndims == its
 * rank, or 0 for the defaults NAME_dim0, NAME_dim1, ...).  A dimension named after a
 * 1-D array member makes that member a dimension scale (a coordinate in xarray).  On
 * store everything is borrowed; nd_cat_load fills name and item only (owned). */
struct nd_cat_member {
    char *name;
    nd_cat_item item;
    const nd_cat_tag *attrs;
    size_t nattrs;
    const char *const *dims;
    size_t ndims;
};

/* Provenance of a stored result.  nd_cat_prov_init fills the defaults; the caller
 * (noodle-run) then sets the program hash, restart count and parameters.  On store
 * only rank 0's copy is used. */
typedef struct nd_cat_prov {
    char job[64];           /* SLURM_JOB_ID, or a generated "local-<host>-<pid>-<time>" */
    int64_t restarts;
    char program_hash[72];  /* hex, may be empty */
    char program[256];      /* the program's source file name (no directory) */
    char program_path[4096]; /* the file noodle-run ran, absolute (may be empty) */
    char user[64];
    char host[128];
    char created[32];       /* UTC, ISO 8601: 2026-11-28T12:34:56Z; empty = now */
    int64_t ranks;          /* 0 = the size of the catalog's communicator */
    const nd_kv *params; /* borrowed; NULL = none */
    const char *signer;  /* who signed the bytecode run (borrowed); NULL or "" = unsigned */
} nd_cat_prov;

/* Rank-local: job id, user, host; created is left empty (filled at store time). */
void nd_cat_prov_init(nd_cat_prov *p);

/* Collective over comm (MPI_COMM_NULL: serial use without MPI, e.g. noodle-mql, which
 * cannot store or load matrices).  create: make the directory when missing; otherwise
 * a missing catalog is ND_EUSAGE.  The catalog borrows comm. */
nd_status nd_cat_open(const char *path, MPI_Comm comm, bool create, nd_cat **out);
void nd_cat_close(nd_cat *cat);
const char *nd_cat_path(const nd_cat *cat);

/* Collective.  Stores a new version of `name` and returns its number on every rank.
 * Names are 1..128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'.  A
 * matrix is written collectively; everything else by rank 0.  Every rank returns the
 * same status.  Borrows everything. */
nd_status nd_cat_store(nd_cat *cat, const char *name, const nd_cat_item *item,
                       const nd_cat_tag *tags, size_t ntags, const nd_cat_prov *prov,
                       int64_t *version);

#define ND_CAT_LATEST INT64_C(0)
/* Collective.  Loads version `version` (ND_CAT_LATEST: the newest) of `name` into *out
 * (owned by the caller: nd_cat_item_clear).  A missing name or version is ND_EPROG.
 * Matrices are read collectively (nd_dm_h5read).  *version_out may be NULL. */
nd_status nd_cat_load(nd_cat *cat, const char *name, int64_t version, nd_cat_item *out,
                      int64_t *version_out);

/* A query result: nrows x ncols cells (read them with nd_cat_rows_at); owns its
 * strings.  cells holds the rows row-major, either in result order (order == NULL) or
 * in the order the query met them, order[i] then being the stored row of result row i
 * (nstored rows stored; saves copying a sorted result). */
typedef struct nd_cat_rows {
    size_t nrows, ncols;
    char **colnames;
    nd_cat_cell *cells;
    char *heap;      /* string storage that cells point into */
    size_t heap_len;
    size_t *order;   /* NULL, or nstored entries (the first nrows used) */
    size_t nstored;
    char *warnings;  /* NULL, or lines "mql: warning: ...\n" for the user (rank 0 only) */
} nd_cat_rows;

void nd_cat_rows_free(nd_cat_rows *r);
static inline const nd_cat_cell *nd_cat_rows_at(const nd_cat_rows *r, size_t row, size_t col)
{
    return &r->cells[(r->order ? r->order[row] : row) * r->ncols + col];
}

/* Collective.  Runs an MQL query against the index (rebuilt first when missing or
 * stale).  A malformed query is ND_EPROG with a message of three lines: "mql:L:C:
 * error: ...", the query line and a caret.  A catalog whose index cannot be rebuilt is
 * ND_EINVALID.  Every rank gets the same rows. */
nd_status nd_cat_query(nd_cat *cat, const char *mql, nd_cat_rows *out);

/* Collective.  Rebuilds index.h5 from the result files and removes temporary files
 * left by writers that died.  *count (may be NULL) := number of results indexed. */
nd_status nd_cat_reindex(nd_cat *cat, size_t *count);
/* Collective (rank 0 works): gives every result file written before checksums (no
 * userblock) its checksum, then rebuilds the index; *count := files sealed.  For
 * catalogs of older versions, whose files are otherwise refused as unverifiable. */
nd_status nd_cat_seal_legacy(nd_cat *cat, size_t *count);

/* Collective (the work is done by rank 0).  Checks CAT/audit.log: its hash chain, and
 * that every result file has its entry (docs/catalog.md "The audit log").  On rank 0,
 * *report (initialized by the caller) receives the lines for the user: notes, the
 * problems found and a summary.  ND_EINVALID (message: the first problem) when the
 * chain is broken or a result and the log disagree. */
nd_status nd_cat_verify_audit(nd_cat *cat, nd_strbuf *report);

/* Collective (the work is done by rank 0).  Exports NAME or NAME@VERSION to out_path:
 * ".csv" writes the values (a matrix as rows of numbers), ".h5" copies the result file. */
nd_status nd_cat_export(nd_cat *cat, const char *spec, const char *out_path);

/* Collective (the work is done by rank 0).  Exports NAME or NAME@VERSION to out_path as
 * JSON: a json result (a list or map) as its own text, an int, float or string as one
 * JSON value.  A matrix or a map of arrays has no JSON form (ND_EINVALID). */
nd_status nd_cat_export_json(nd_cat *cat, const char *spec, const char *out_path);

/* Rank-local: whether a result name is valid. */
bool nd_cat_name_valid(const char *name);

#endif
