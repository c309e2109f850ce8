/* ixmap.h: index.h5's userblock header and the HDF5-free reader of index.h5 (ixmap.c).
 * index.h5 (format "noodle-index 6") starts with a 512-byte HDF5 userblock holding this
 * header, which locates the contiguous /table and /strings datasets in the file, so a
 * query can map the index and scan it in place without loading HDF5 or MPI.  The header
 * is rewritten after every change and is only trusted when its checksum matches; the
 * HDF5 attributes nrows / heap_len say the same.  docs/catalog.md "The index".
 */
#ifndef ND_CAT_IXMAP_H
#define ND_CAT_IXMAP_H

#include "catalog/cat_internal.h"

#include <pthread.h>
#include <string.h>

#define ND_IX_MAGIC "noodleIX"
#define ND_IX_VERSION 6u
#define ND_IX_USERBLOCK 512u

/* The decoded header.  On disk: magic (8 bytes), then version and row_size as LE u32,
 * then the u64 fields below in order, LE, then a LE u64 FNV-1a checksum of the bytes
 * before it (ND_IX_HEADER_LEN bytes in all); the rest of the userblock is zero. */
typedef struct nd_ix_header {
    uint32_t version, row_size;
    uint64_t nrows, row_cap, table_off; /* table_off: absolute file offset of row 0 */
    uint64_t heap_len, heap_cap, heap_off;
} nd_ix_header;
#define ND_IX_HEADER_LEN (8u + 2u * 4u + 6u * 8u + 8u)

/* Inline so that both the HDF5 writer (index.c) and the mapper (ixmap.c) have them. */
static inline uint64_t nd_ix_fnv(const unsigned char *p, size_t n)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * UINT64_C(1099511628211);
    return h;
}

static inline void nd_ix_put(unsigned char *p, uint64_t v, int nbytes)
{
    for (int i = 0; i < nbytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t nd_ix_get(const unsigned char *p, int nbytes)
{
    uint64_t v = 0;
    for (int i = 0; i < nbytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Encodes h into buf (ND_IX_USERBLOCK bytes). */
static inline void nd_ix_header_encode(const nd_ix_header *h, unsigned char *buf)
{
    memset(buf, 0, ND_IX_USERBLOCK);
    memcpy(buf, ND_IX_MAGIC, 8);
    nd_ix_put(buf + 8, h->version, 4);
    nd_ix_put(buf + 12, h->row_size, 4);
    const uint64_t f[6] = {h->nrows, h->row_cap, h->table_off, h->heap_len, h->heap_cap, h->heap_off};
    for (int k = 0; k < 6; k++) nd_ix_put(buf + 16 + 8 * k, f[k], 8);
    nd_ix_put(buf + 64, nd_ix_fnv(buf, 64), 8);
}

/* Decodes buf and checks magic, version, checksum and field sanity; false: not usable. */
static inline bool nd_ix_header_decode(const unsigned char *buf, nd_ix_header *h)
{
    if (memcmp(buf, ND_IX_MAGIC, 8) != 0 || nd_ix_get(buf + 64, 8) != nd_ix_fnv(buf, 64)) return false;
    h->version = (uint32_t)nd_ix_get(buf + 8, 4);
    h->row_size = (uint32_t)nd_ix_get(buf + 12, 4);
    uint64_t *f[6] = {&h->nrows, &h->row_cap, &h->table_off, &h->heap_len, &h->heap_cap, &h->heap_off};
    for (int k = 0; k < 6; k++) *f[k] = nd_ix_get(buf + 16 + 8 * k, 8);
    return h->version == ND_IX_VERSION && h->row_size == sizeof(nd_cat_row) &&
           h->nrows <= h->row_cap && h->heap_len >= 1 && h->heap_len <= h->heap_cap &&
           h->table_off >= ND_IX_USERBLOCK && h->heap_off >= ND_IX_USERBLOCK &&
           h->row_cap <= UINT64_MAX / sizeof(nd_cat_row);
}

typedef enum nd_ixmap_result {
    ND_IXMAP_OK,      /* ix maps a fresh index */
    ND_IXMAP_FALLBACK /* missing, stale, foreign or damaged: use the HDF5 path */
} nd_ixmap_result;

/* Rank-local, no HDF5 and no MPI.  Maps <catdir>/index.h5 read-only into ix (rows and
 * heap point into the mapping) when no writer left a pending marker and the header and
 * every string offset are valid; holds the shared index lock only while checking.
 * Appends never rewrite the mapped part of the file and rebuilds replace it by rename,
 * so the mapping stays valid after the lock is released.  A missing catalog directory
 * is ND_EUSAGE ("catalog PATH does not exist"); release with nd_cat_ixmap_close. */
nd_status nd_cat_ixmap_open(const char *catdir, nd_cat_index *ix, nd_ixmap_result *res);
void nd_cat_ixmap_close(nd_cat_index *ix);

/* The rows' checksums of a mapped index are checked on another thread while the caller
 * runs its query over them (a query over 10^6 rows would otherwise take half as long
 * again), or at once where no thread starts.  Whatever _end reports, the caller must
 * call it before closing the map; a query over rows that fail is thrown away and made
 * again by the HDF5 path, which rebuilds the index (nd_cat_index_load). */
typedef struct nd_ixmap_check {
    const nd_cat_index *ix;
    size_t nbad;
    bool threaded;
    pthread_t thread;
} nd_ixmap_check;
void nd_cat_ixmap_check_start(nd_ixmap_check *c, const nd_cat_index *ix);
/* Waits for the check: the number of rows that fail. */
size_t nd_cat_ixmap_check_end(nd_ixmap_check *c);

#endif
