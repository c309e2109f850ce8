/* ixmap.c: maps index.h5 read-only for a query, without HDF5 or MPI (noodle-mql links
 * this and mql.c only, so a query loads nothing but libc).  It reads the userblock
 * header (ixmap.h), checks it and every string offset, and points an nd_cat_index into
 * the mapping.  Anything unexpected is a fallback to the HDF5 path, never an error: the
 * index is a cache.  docs/catalog.md "The index" specifies the layout and the locking.
 */
#include "catalog/ixmap.h"

#include "common/hash.h"
#include "common/outfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static bool host_is_le(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

static bool pending_empty(const char *catdir)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/pending", catdir);
    DIR *d = opendir(p);
    if (!d) return errno == ENOENT;
    bool empty = true;
    struct dirent *e;
    while (empty && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') empty = false;
    closedir(d);
    return empty;
}

/* Validates the mapped rows (every string offset inside the heap, heap NUL-ended). */
static bool rows_ok(const nd_cat_row *rows, size_t n, const char *heap, uint64_t hlen)
{
    if (heap[hlen - 1] != '\0') return false;
    for (size_t i = 0; i < n; i++) {
        const nd_cat_row *r = &rows[i];
        uint64_t m = r->name | r->job | r->hash | r->created | r->user | r->host | r->svalue |
                     r->tags | r->params | r->shape | r->program | r->program_path |
                     r->signer; /* >= each */
        if (m >= hlen) {
            nd_cat_row c = *r;
            uint64_t *offs[ND_CAT_ROW_NSTR];
            nd_cat_row_strs(&c, offs);
            for (int k = 0; k < ND_CAT_ROW_NSTR; k++)
                if (*offs[k] >= hlen) return false;
        }
    }
    return true;
}

static uint32_t head_crc(const nd_cat_row *r)
{
    return nd_crc32c(0, r, offsetof(nd_cat_row, sum));
}

/* The CRC of the heap span of r's strings (0 when all are empty). */
static uint32_t tail_crc(const nd_cat_row *r, const char *heap)
{
    const uint64_t o[ND_CAT_ROW_NSTR] = {r->name, r->job,    r->hash,   r->created,
                                         r->user, r->host,   r->svalue, r->tags,
                                         r->params, r->shape, r->program, r->program_path,
                                         r->signer};
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int k = 0; k < ND_CAT_ROW_NSTR; k++) {
        if (o[k] == 0) continue; /* the shared empty string */
        if (o[k] < lo) lo = o[k];
        if (o[k] > hi) hi = o[k];
    }
    return hi ? nd_crc32c(0, heap + lo, (size_t)(hi - lo) + strlen(heap + hi) + 1) : 0;
}

/* Rows are written with their strings together (index_str then push), so the span from
 * the first to the end of the last is the row's own: one CRC call covers them all. */
uint64_t nd_cat_row_sum(const nd_cat_row *r, const char *heap)
{
    return (uint64_t)tail_crc(r, heap) << 32 | head_crc(r);
}

void nd_cat_row_resum_head(nd_cat_row *r)
{
    r->sum = (r->sum & ~(uint64_t)UINT32_MAX) | head_crc(r);
}

#ifdef MADV_POPULATE_READ
static void populate(char *map, uint64_t off, uint64_t len)
{
    uint64_t start = off & ~(uint64_t)4095;
    if (len) madvise(map + start, (size_t)(off + len - start), MADV_POPULATE_READ);
}
#endif

/* Under the shared lock: maps and checks the index; false (nothing mapped) on any doubt. */
static bool map_index(const char *path, nd_cat_index *ix)
{
    int fd = nd_open_regular(path, O_RDONLY, 0);
    if (fd < 0) return false;
    struct stat sb;
    unsigned char hb[ND_IX_USERBLOCK];
    nd_ix_header h;
    bool ok = fstat(fd, &sb) == 0 && sb.st_size >= (off_t)ND_IX_USERBLOCK &&
              pread(fd, hb, sizeof hb, 0) == (ssize_t)sizeof hb && nd_ix_header_decode(hb, &h);
    uint64_t size = ok ? (uint64_t)sb.st_size : 0;
    ok = ok && h.table_off <= size && h.nrows <= (size - h.table_off) / sizeof(nd_cat_row) &&
         h.heap_off <= size && h.heap_len <= size - h.heap_off && h.table_off % 8 == 0 &&
         size <= SIZE_MAX;
    void *map = MAP_FAILED;
    if (ok) {
        map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
        ok = map != MAP_FAILED;
    }
    close(fd);
    if (!ok) return false;
    /* Prefault the valid rows and heap (a query reads every row; one call beats a fault
     * per page), not the spare capacity.  Advice only: older kernels lack it. */
#ifdef MADV_POPULATE_READ
    populate((char *)map, h.table_off, h.nrows * sizeof(nd_cat_row));
    populate((char *)map, h.heap_off, h.heap_len);
#endif
    const nd_cat_row *rows = (const nd_cat_row *)((const char *)map + h.table_off);
    const char *heap = (const char *)map + h.heap_off;
    if (!rows_ok(rows, (size_t)h.nrows, heap, h.heap_len)) {
        munmap(map, (size_t)size);
        return false;
    }
    memset(ix, 0, sizeof *ix);
    ix->map = map;
    ix->map_len = (size_t)size;
    ix->rows = (nd_cat_row *)rows;
    ix->nrows = ix->cap = (size_t)h.nrows;
    ix->heap.data = (char *)heap;
    ix->heap.len = ix->heap.cap = (size_t)h.heap_len;
    return true;
}

nd_status nd_cat_ixmap_open(const char *catdir, nd_cat_index *ix, nd_ixmap_result *res)
{
    memset(ix, 0, sizeof *ix);
    *res = ND_IXMAP_FALLBACK;
    struct stat sb;
    if (stat(catdir, &sb) != 0) return nd_err_set(ND_EUSAGE, "catalog %s does not exist", catdir);
    if (!S_ISDIR(sb.st_mode)) return nd_err_set(ND_EUSAGE, "catalog %s is not a directory", catdir);
    /* The row layout in the file is little-endian; nd_cat_row must match it exactly. */
    if (!host_is_le() || strlen(catdir) > 4000) return ND_OK;
    char p[4200];
    snprintf(p, sizeof p, "%s/index.lock", catdir);
    int lfd = nd_open_regular(p, O_RDONLY, 0);
    if (lfd < 0) return ND_OK; /* no lock file: let the HDF5 path create it */
    while (flock(lfd, LOCK_SH) != 0 && errno == EINTR) {
    }
    snprintf(p, sizeof p, "%s/index.h5", catdir);
    if (pending_empty(catdir) && map_index(p, ix)) *res = ND_IXMAP_OK;
    flock(lfd, LOCK_UN);
    close(lfd);
    return ND_OK;
}

void nd_cat_ixmap_close(nd_cat_index *ix)
{
    if (ix->map) munmap(ix->map, ix->map_len);
    memset(ix, 0, sizeof *ix);
}

static void *check_rows(void *arg)
{
    nd_ixmap_check *c = arg;
    const nd_cat_row *r = c->ix->rows;
    const char *heap = c->ix->heap.data;
    size_t n = c->ix->nrows, bad = 0, i = 0;
    /* the fixed parts three rows at a time (nd_crc32c_3), then each row's strings */
    for (; i + 3 <= n; i += 3) {
        uint32_t h[3] = {0, 0, 0};
        nd_crc32c_3(&r[i], &r[i + 1], &r[i + 2], offsetof(nd_cat_row, sum), h);
        for (int k = 0; k < 3; k++)
            bad += ((uint64_t)tail_crc(&r[i + k], heap) << 32 | h[k]) != r[i + k].sum;
    }
    for (; i < n; i++) bad += nd_cat_row_sum(&r[i], heap) != r[i].sum;
    c->nbad = bad;
    return NULL;
}

void nd_cat_ixmap_check_start(nd_ixmap_check *c, const nd_cat_index *ix)
{
    memset(c, 0, sizeof *c);
    c->ix = ix;
    /* small indexes are checked faster than a thread starts */
    c->threaded = ix->nrows >= 4096 && pthread_create(&c->thread, NULL, check_rows, c) == 0;
    if (!c->threaded) check_rows(c);
}

size_t nd_cat_ixmap_check_end(nd_ixmap_check *c)
{
    if (c->threaded) pthread_join(c->thread, NULL);
    c->threaded = false;
    return c->nbad;
}
