/* dm_h5.c: parallel HDF5 I/O of distributed matrices (dm.h: h5write, h5read and the
 * _loc variants used by checkpoints and the catalog; dm_h5.h: the checksumming ones).
 *
 * The dataset has the array's logical shape, row-major in the file (h5py shows the plain
 * matrix; a 1-D array is a 1-D dataset); any other rank than 2 is moved as its fold
 * (runtime/arr.h), whose rows are runs of the file's row-major order.  Where the
 * grid lets each rank own whole rectangles of the file (one process column: runs of full
 * rows; one process row: a chunked dataset whose chunks are R x nb column blocks), every
 * rank writes (reads) its own rectangles independently, straight through one staging
 * buffer, with no communication.  Otherwise the matrix moves in rounds of whole rows: the
 * block-cyclic parts are exchanged with one MPI_Alltoallv into one contiguous band per
 * rank.  HDF5's automatic error printing is off; every failure is ND_EIO on every rank
 * (agreed before the next collective step).  docs/matrices.md "HDF5".
 */
#include "runtime/dm_impl.h"
#include "runtime/dm_h5.h"
#include "runtime/arr.h"
#include "runtime/h5.h"

#include "common/alloc.h"
#include "common/outfile.h"
#include "runtime/spmd.h"

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes of one rank's band per round: three buffers of about this size per rank.  Small
 * enough to stay in cache and to be reused without page faults; 1-4 MiB measured best
 * (benchmarks/RESULTS.md), 64 MiB was two to three times slower.  NOODLE_H5_STAGE_KIB
 * overrides it (tests use tiny rounds to cover the round boundaries). */
#define STAGE_BYTES ((int64_t)2 << 20)
/* Files made by h5write: objects of 1 MiB and more start on a 1 MiB boundary. */
#define ALIGN_BYTES ((hsize_t)1 << 20)
/* The direct (exchange-free) transfers need pieces of at least this many bytes (or the
 * staging size, when smaller): below it the many small writes cost more than an exchange. */
#define DIRECT_MIN ((int64_t)64 << 10)

/* Uniform: bytes of one rank's staging buffer (every rank reads the same environment
 * and has the same memory limit): under --memory-per-rank at most a 16th of it, so that
 * the three buffers stay beside a rank's share of the arrays. */
static int64_t stage_bytes(void)
{
    const char *e = getenv("NOODLE_H5_STAGE_KIB");
    int64_t b = e && atoll(e) > 0 ? atoll(e) * 1024 : STAGE_BYTES;
    int64_t cap = (int64_t)(nd_alloc_limit() / 16);
    if (cap > 0 && cap < b) b = cap > 4096 ? cap : 4096;
    return b;
}

static void quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* Rank-local: the file name behind loc (for messages). */
static void loc_name(hid_t loc, char *buf, size_t size)
{
    if (H5Fget_name(loc, buf, size) < 0) snprintf(buf, size, "(unknown file)");
}

/* ---- the exchange plan ---- */

/* Uniform: the grid position of every rank of the communicator, the row count of a
 * round and the band of each rank in it. */
typedef struct plan {
    int P, me, nprow, npcol, myrow, mycol, nb;
    int *prow, *pcol;    /* grid row / column of each rank */
    int *cnt_a, *dsp_a;  /* Alltoallv counts and displacements: block-cyclic side */
    int *cnt_b, *dsp_b;  /* band side */
    int64_t m, n, rows;  /* rows per round */
} plan;

static void plan_free(plan *p)
{
    if (p->prow) ND_FREE_N(p->prow, 6 * (size_t)p->P);
    p->prow = NULL;
}

/* Collective: fills p for an m-by-n matrix (ENOMEM or an MPI failure on any rank is
 * everybody's failure). */
static nd_status plan_init(plan *p, int64_t m, int64_t n)
{
    memset(p, 0, sizeof *p);
    p->P = nd_spmd_size();
    p->me = nd_spmd_rank();
    p->nb = nd_spmd_block_size();
    p->m = m;
    p->n = n;
    nd_spmd_grid(&p->nprow, &p->npcol, &p->myrow, &p->mycol);
    int *all = ND_ALLOC_N(int, 6 * (size_t)p->P);
    p->prow = all;
    nd_status st = nd_spmd_agree(all ? ND_OK : ND_ENOMEM);
    if (st != ND_OK) {
        plan_free(p);
        return st;
    }
    p->pcol = all + p->P;
    p->cnt_a = all + 2 * p->P;
    p->dsp_a = all + 3 * p->P;
    p->cnt_b = all + 4 * p->P;
    p->dsp_b = all + 5 * p->P;
    int mine[2] = {p->myrow, p->mycol};
    if (p->P == 1) {
        p->prow[0] = p->myrow;
        p->pcol[0] = p->mycol;
    } else {
        int rc = MPI_Allgather(mine, 2, MPI_INT, p->cnt_a, 2, MPI_INT, nd_spmd_comm());
        if (rc != MPI_SUCCESS) st = nd_spmd_mpi_fail("MPI_Allgather", rc);
        for (int r = 0; st == ND_OK && r < p->P; r++) {
            p->prow[r] = p->cnt_a[2 * r];
            p->pcol[r] = p->cnt_a[2 * r + 1];
        }
    }
    int64_t rows = stage_bytes() * p->P / (int64_t)(8 * n);
    p->rows = rows < 1 ? 1 : rows > m ? m : rows;
    st = nd_spmd_agree(st);
    if (st != ND_OK) plan_free(p);
    return st;
}

/* Rank-local: rank d's band [*b0, *b1) of the round that starts at global row r0. */
static void band(const plan *p, int64_t r0, int d, int64_t *b0, int64_t *b1)
{
    int64_t r1 = r0 + p->rows < p->m ? r0 + p->rows : p->m, len = r1 - r0;
    *b0 = r0 + len * d / p->P;
    *b1 = r0 + len * (d + 1) / p->P;
}

/* Rank-local: local rows [*l0, *l1) of grid row q inside global rows [g0, g1). */
static void local_rows(const plan *p, int q, int64_t g0, int64_t g1, int64_t *l0, int64_t *l1)
{
    *l0 = nd_dm_owned(g0, p->nb, q, p->nprow);
    *l1 = nd_dm_owned(g1, p->nb, q, p->nprow);
}

/* Rank-local: this rank's counts for the round at r0: the block-cyclic side (a) holds
 * its local rows of the round x its local columns, row-major, ordered by band; the band
 * side (b) receives from every rank that rank's rows of the band x its columns.
 * Returns the sizes of the two buffers (doubles). */
static void plan_round(plan *p, int64_t r0, const nd_dm *A, size_t *na, size_t *nb_)
{
    int64_t sa = 0, sb = 0, b0, b1, l0, l1;
    for (int d = 0; d < p->P; d++) {
        band(p, r0, d, &b0, &b1);
        local_rows(p, p->myrow, b0, b1, &l0, &l1);
        p->dsp_a[d] = (int)sa;
        p->cnt_a[d] = (int)((l1 - l0) * A->nloc);
        sa += p->cnt_a[d];
    }
    band(p, r0, p->me, &b0, &b1);
    for (int s = 0; s < p->P; s++) {
        local_rows(p, p->prow[s], b0, b1, &l0, &l1);
        int64_t nc = nd_dm_owned(p->n, p->nb, p->pcol[s], p->npcol);
        p->dsp_b[s] = (int)sb;
        p->cnt_b[s] = (int)((l1 - l0) * nc);
        sb += p->cnt_b[s];
    }
    *na = (size_t)sa;
    *nb_ = (size_t)sb;
}

/* Rank-local: the largest buffers any round needs (doubles, at least 1). */
static void plan_max(plan *p, const nd_dm *A, size_t *na, size_t *nb_)
{
    *na = *nb_ = 1;
    for (int64_t r0 = 0; r0 < p->m; r0 += p->rows) {
        size_t a, b;
        plan_round(p, r0, A, &a, &b);
        if (a > *na) *na = a;
        if (b > *nb_) *nb_ = b;
    }
}

/* Rank-local: dst[i * ds + j] = src[i + j * ss] for i < h, j < w (a column-major tile
 * to a row-major one, or, with the roles swapped, back).  4 x 4 register blocks: a
 * plain double loop runs ten times slower, one side always striding across pages. */
static void transpose(const double *src, int64_t ss, double *dst, int64_t ds, int64_t h,
                      int64_t w)
{
    int64_t i = 0;
    for (; i + 4 <= h; i += 4) {
        int64_t j = 0;
        for (; j + 4 <= w; j += 4) {
            const double *c0 = src + i + j * ss, *c1 = c0 + ss, *c2 = c1 + ss, *c3 = c2 + ss;
            double *r0 = dst + i * ds + j, *r1 = r0 + ds, *r2 = r1 + ds, *r3 = r2 + ds;
            double x00 = c0[0], x10 = c0[1], x20 = c0[2], x30 = c0[3];
            double x01 = c1[0], x11 = c1[1], x21 = c1[2], x31 = c1[3];
            double x02 = c2[0], x12 = c2[1], x22 = c2[2], x32 = c2[3];
            double x03 = c3[0], x13 = c3[1], x23 = c3[2], x33 = c3[3];
            r0[0] = x00, r0[1] = x01, r0[2] = x02, r0[3] = x03;
            r1[0] = x10, r1[1] = x11, r1[2] = x12, r1[3] = x13;
            r2[0] = x20, r2[1] = x21, r2[2] = x22, r2[3] = x23;
            r3[0] = x30, r3[1] = x31, r3[2] = x32, r3[3] = x33;
        }
        for (; j < w; j++)
            for (int64_t k = i; k < i + 4; k++) dst[k * ds + j] = src[k + j * ss];
    }
    for (; i < h; i++)
        for (int64_t j = 0; j < w; j++) dst[i * ds + j] = src[i + j * ss];
}

/* Rank-local: local rows [l0, l1) of A, all local columns, to/from a row-major buffer,
 * in 32 x 32 tiles so that both sides stay in cache. */
static void tile_copy(nd_dm *A, int64_t l0, int64_t l1, double *buf, bool to_buf)
{
    const int64_t T = 32, nc = A->nloc, lld = A->lld;
    for (int64_t i0 = l0; i0 < l1; i0 += T) {
        int64_t h = i0 + T < l1 ? T : l1 - i0;
        for (int64_t j0 = 0; j0 < nc; j0 += T) {
            int64_t w = j0 + T < nc ? T : nc - j0;
            double *a = A->a + i0 + j0 * lld, *b = buf + (i0 - l0) * nc + j0;
            if (to_buf) transpose(a, lld, b, nc, h, w);
            else transpose(b, nc, a, lld, w, h);
        }
    }
}

/* Rank-local: between this rank's band [b0, b1) (row-major, n columns) and the pieces
 * the ranks send/receive (plan_round's b side): source s holds its rows of the band x
 * its columns, row-major; its columns are runs of up to nb adjacent file columns. */
static void band_copy(const plan *p, int64_t b0, int64_t b1, double *bandbuf, double *pieces,
                      bool to_band)
{
    for (int s = 0; s < p->P; s++) {
        int64_t l0, l1;
        local_rows(p, p->prow[s], b0, b1, &l0, &l1);
        int64_t nc = nd_dm_owned(p->n, p->nb, p->pcol[s], p->npcol);
        double *src = pieces + p->dsp_b[s];
        for (int64_t l = l0; l < l1; l++, src += nc) {
            int64_t g0 = nd_dm_global(l, p->nb, p->prow[s], p->nprow);
            double *row = bandbuf + (g0 - b0) * p->n;
            for (int64_t j0 = 0; j0 < nc; j0 += p->nb) {
                int64_t g = nd_dm_global(j0, p->nb, p->pcol[s], p->npcol);
                size_t w = (size_t)(nc - j0 < p->nb ? nc - j0 : p->nb) * sizeof(double);
                if (to_band) memcpy(row + g, src + j0, w);
                else memcpy(src + j0, row + g, w);
            }
        }
    }
}

/* Uniform: collective transfers only when NOODLE_H5_COLLECTIVE=1 (docs/matrices.md) and
 * the exchange path runs; every rank reads the same environment. */
static bool want_collective(void)
{
    const char *e = getenv("NOODLE_H5_COLLECTIVE");
    return e && strcmp(e, "1") == 0;
}

static hid_t make_xfer(bool coll)
{
    hid_t x = H5Pcreate(H5P_DATASET_XFER);
    if (x >= 0 && H5Pset_dxpl_mpio(x, coll ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT) < 0) {
        H5Pclose(x);
        return -1;
    }
    return x;
}

/* Rank-local: adds the row-major h x w rectangle buf, whose element (0, 0) is global
 * (r0, c0) of an n-column matrix, to s (dm_h5.h defines the sums). */
static void sum_rect(nd_dm_h5sum *s, const double *buf, int64_t h, int64_t w, int64_t r0,
                     int64_t c0, int64_t n)
{
    uint64_t add = s->add, mix = s->mix;
    for (int64_t i = 0; i < h; i++) {
        const double *row = buf + i * w;
        uint64_t g = 2 * (uint64_t)((r0 + i) * n + c0) + 1;
        for (int64_t j = 0; j < w; j++, g += 2) {
            uint64_t b;
            memcpy(&b, row + j, sizeof b);
            add += b;
            mix += b * g;
        }
    }
    s->add = add;
    s->mix = mix;
}

/* ---- selections of the fold in an n-d file space ----
 * A matrix is a 2-D dataset and its rectangles are plain hyperslabs.  An array of any
 * other rank is a dataset of its logical shape, whose row-major order is the flat order
 * of the fold (runtime/arr.h): fold row r is the flat run [r C, (r + 1) C), so a band of
 * whole fold rows is one flat run, which is a union of at most 2 nd - 1 boxes of the n-d
 * space (a partial slab at the start, whole slabs, a partial slab at the end, the
 * partial ones recursively).  HDF5 transfers the selected elements in row-major order,
 * which is the flat order, so the memory side is a plain 1-D buffer. */

typedef struct flatsel {
    hid_t fspace;
    int nd;
    hsize_t dims[ND_MAXDIM], start[ND_MAXDIM], count[ND_MAXDIM];
    int64_t span[ND_MAXDIM]; /* elements per index of axis k (product of dims past k) */
    bool first;
    herr_t rc;
} flatsel;

/* Rank-local: adds the box start[0..ax) fixed, [i0, i0 + n) on axis ax, the rest whole. */
static void flat_box(flatsel *f, int ax, int64_t i0, int64_t n)
{
    if (f->rc < 0 || n <= 0) return;
    for (int k = 0; k < f->nd; k++) {
        if (k < ax) f->count[k] = 1;
        else if (k == ax) f->start[k] = (hsize_t)i0, f->count[k] = (hsize_t)n;
        else f->start[k] = 0, f->count[k] = f->dims[k];
    }
    f->rc = H5Sselect_hyperslab(f->fspace, f->first ? H5S_SELECT_SET : H5S_SELECT_OR, f->start,
                                NULL, f->count, NULL);
    f->first = false;
}

/* Rank-local: adds the flat run [a, b) of the sub-space of axes ax.. (start[0..ax) fixed). */
static void flat_run(flatsel *f, int ax, int64_t a, int64_t b)
{
    if (a >= b || f->rc < 0) return;
    int64_t S = f->span[ax];
    if (ax == f->nd - 1) {
        flat_box(f, ax, a, b - a);
        return;
    }
    int64_t i0 = a / S, ilast = (b - 1) / S;
    if (i0 == ilast && (a % S != 0 || b % S != 0)) { /* inside one slab of axis ax */
        f->start[ax] = (hsize_t)i0;
        flat_run(f, ax + 1, a - i0 * S, b - i0 * S);
        return;
    }
    if (a % S != 0) { /* the partial slab at the start */
        f->start[ax] = (hsize_t)i0;
        flat_run(f, ax + 1, a - i0 * S, S);
        i0++;
    }
    int64_t i1 = b / S; /* whole slabs [i0, i1) */
    flat_box(f, ax, i0, i1 - i0);
    if (b % S != 0) { /* the partial slab at the end */
        f->start[ax] = (hsize_t)i1;
        flat_run(f, ax + 1, 0, b - i1 * S);
    }
}

/* Rank-local: selects the flat runs [f0 + k stride, f0 + k stride + len) for k < nrun in
 * the n-d fspace (nrun > 0, len > 0). */
static herr_t select_flat(hid_t fspace, int64_t f0, int64_t len, int64_t nrun, int64_t stride)
{
    flatsel f = {.fspace = fspace, .first = true};
    f.nd = H5Sget_simple_extent_ndims(fspace);
    if (f.nd < 1 || f.nd > ND_MAXDIM || H5Sget_simple_extent_dims(fspace, f.dims, NULL) < 0)
        return -1;
    f.span[f.nd - 1] = 1;
    for (int k = f.nd - 2; k >= 0; k--) f.span[k] = f.span[k + 1] * (int64_t)f.dims[k + 1];
    for (int64_t k = 0; k < nrun && f.rc >= 0; k++)
        flat_run(&f, 0, f0 + k * stride, f0 + k * stride + len);
    return f.rc;
}

/* Rank-local: selects rows [r0, r0 + h) x columns [c0, c0 + w) of the fold (n columns)
 * in fspace, and a matching memory space (new).  A 2-D dataset (nd == 2) is the matrix
 * itself: one hyperslab; any other rank goes through the flat runs (whole rows: one). */
static herr_t select_rect(hid_t fspace, int nd, int64_t r0, int64_t h, int64_t c0, int64_t w,
                          int64_t n, hid_t *mspace)
{
    hsize_t len = (hsize_t)(h * w);
    /* The memory space has the shape of the file selection: otherwise HDF5 maps a chunked
     * selection to its chunks element by element (most of the write time at 1x2 grids). */
    hsize_t md[2] = {len ? (hsize_t)h : 1, len ? (hsize_t)w : 1};
    if (nd != 2) md[0] = len ? len : 1;
    *mspace = H5Screate_simple(nd == 2 ? 2 : 1, md, NULL);
    if (*mspace < 0) return -1;
    if (len == 0) {
        if (H5Sselect_none(*mspace) < 0) return -1;
        return H5Sselect_none(fspace);
    }
    if (nd != 2) {
        if (w == n || h == 1) return select_flat(fspace, r0 * n + c0, h * w, 1, 0);
        return select_flat(fspace, r0 * n + c0, w, h, n);
    }
    hsize_t start[2] = {(hsize_t)r0, (hsize_t)c0}, count[2] = {(hsize_t)h, (hsize_t)w};
    return H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
}

/* How a matrix travels: rounds of row bands with an exchange, runs of whole rows owned
 * by one rank (one process column), or column-block chunks owned by one rank (one
 * process row). */
typedef enum xlayout { X_EXCHANGE, X_ROWS, X_CHUNKS } xlayout;

/* Uniform: rows per direct piece when runs of whole rows are written (at least 1). */
static int64_t rows_per_piece(const nd_dm *A)
{
    int64_t r = stage_bytes() / (8 * A->n);
    return r < 1 ? 1 : r;
}

/* Uniform: whether whole-row runs can go directly (one process column, pieces large). */
static bool rows_ok(const nd_dm *A, int nprow, int npcol)
{
    if (npcol != 1) return false;
    if (nprow == 1) return true; /* one rank: every round is one contiguous piece */
    int64_t h = rows_per_piece(A) < A->nb ? rows_per_piece(A) : A->nb, st = stage_bytes();
    return h * A->n * 8 >= (st < DIRECT_MIN ? st : DIRECT_MIN);
}

/* Uniform: the layout of a new dataset for A; *crow: chunk rows for X_CHUNKS (chunks are
 * crow x min(nb, n), each inside one column block, so owned by one rank). */
static xlayout write_layout(const nd_dm *A, int64_t *crow)
{
    int nprow, npcol, myr, myc;
    nd_spmd_grid(&nprow, &npcol, &myr, &myc);
    *crow = 0;
    if (want_collective()) return X_EXCHANGE;
    if (rows_ok(A, nprow, npcol)) return X_ROWS;
    /* Chunks of column blocks are boxes of a 2-D dataset only (the fold's column blocks
     * are not boxes of an n-d one). */
    if (nprow != 1 || A->nd != 2) return X_EXCHANGE;
    int64_t w = A->n < A->nb ? A->n : A->nb, st = stage_bytes();
    int64_t r = st / (8 * w);
    r = r < 1 ? 1 : r > A->m ? A->m : r;
    if (r * w * 8 < (st < DIRECT_MIN ? st : DIRECT_MIN)) return X_EXCHANGE;
    *crow = r;
    return X_CHUNKS;
}

/* Uniform (every rank opened the same dataset): how to read dset of nd dimensions into A. */
static xlayout read_layout(hid_t dset, int nd, const nd_dm *A, int64_t *crow)
{
    int nprow, npcol, myr, myc;
    nd_spmd_grid(&nprow, &npcol, &myr, &myc);
    *crow = 0;
    if (want_collective()) return X_EXCHANGE;
    hid_t dcpl = H5Dget_create_plist(dset);
    if (dcpl < 0) return X_EXCHANGE;
    H5D_layout_t lay = H5Pget_layout(dcpl);
    xlayout x = X_EXCHANGE;
    hsize_t cd[2] = {0, 0};
    if (lay == H5D_CONTIGUOUS && rows_ok(A, nprow, npcol)) {
        x = X_ROWS;
    } else if (lay == H5D_CHUNKED && nd == 2 && nprow == 1 && npcol > 1 &&
               H5Pget_chunk(dcpl, 2, cd) == 2 && H5Pget_nfilters(dcpl) == 0 &&
               cd[1] == (hsize_t)(A->n < A->nb ? A->n : A->nb)) {
        /* Pieces of whole chunks, unless the chunks are much larger than the staging
         * size (a file made with other settings): then parts of chunks (still
         * contiguous: a chunk is row-major inside). */
        int64_t w = (int64_t)cd[1], st = stage_bytes();
        x = X_CHUNKS;
        *crow = (int64_t)cd[0];
        if (*crow * w * 8 > 4 * st) *crow = st / (8 * w) < 1 ? 1 : st / (8 * w);
    }
    H5Pclose(dcpl);
    return x;
}

/* Rank-local: selects the band [b0, b1) of fold rows (all n columns) in fspace (of nd
 * dimensions: select_rect) and a matching 1-D memory space (new). */
static herr_t select_band(hid_t fspace, int nd, int64_t b0, int64_t b1, int64_t n, hid_t *mspace)
{
    hsize_t len = (hsize_t)((b1 - b0) * n);
    hsize_t md[1] = {len ? len : 1};
    *mspace = H5Screate_simple(1, md, NULL);
    if (*mspace < 0) return -1;
    if (len == 0) {
        if (H5Sselect_none(*mspace) < 0) return -1;
        return H5Sselect_none(fspace);
    }
    if (nd != 2) return select_flat(fspace, b0 * n, (b1 - b0) * n, 1, 0);
    hsize_t start[2] = {(hsize_t)b0, 0}, count[2] = {(hsize_t)(b1 - b0), (hsize_t)n};
    return H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
}

/* Staging buffers of one transfer: a = block-cyclic side (row-major local rows of the
 * round), pieces = what arrives from / leaves for the other ranks, band = this rank's
 * rows of the file.  At one rank all three are the same buffer. */
typedef struct stage {
    double *a, *pieces, *band;
    size_t na, nb;
} stage;

static void stage_free(const plan *p, stage *s)
{
    if (s->a) ND_FREE_N(s->a, s->na);
    if (p->P > 1) {
        if (s->pieces) ND_FREE_N(s->pieces, s->nb);
        if (s->band) ND_FREE_N(s->band, s->nb);
    }
    memset(s, 0, sizeof *s);
}

/* Rank-local: allocates the buffers for the largest round. */
static nd_status stage_alloc(plan *p, const nd_dm *A, stage *s)
{
    memset(s, 0, sizeof *s);
    plan_max(p, A, &s->na, &s->nb);
    if (p->P == 1) {
        if (s->nb > s->na) s->na = s->nb;
        s->a = ND_ALLOC_N(double, s->na);
        s->pieces = s->band = s->a;
        return s->a ? ND_OK : ND_ENOMEM;
    }
    s->a = ND_ALLOC_N(double, s->na);
    s->pieces = ND_ALLOC_N(double, s->nb);
    s->band = ND_ALLOC_N(double, s->nb);
    return s->a && s->pieces && s->band ? ND_OK : ND_ENOMEM;
}

/* Collective: the exchange of one round (write: block-cyclic -> band). */
static nd_status exchange(const plan *p, stage *s, bool to_band)
{
    if (p->P == 1) return ND_OK;
    int rc = to_band ? MPI_Alltoallv(s->a, p->cnt_a, p->dsp_a, MPI_DOUBLE, s->pieces,
                                     p->cnt_b, p->dsp_b, MPI_DOUBLE, nd_spmd_comm())
                     : MPI_Alltoallv(s->pieces, p->cnt_b, p->dsp_b, MPI_DOUBLE, s->a,
                                     p->cnt_a, p->dsp_a, MPI_DOUBLE, nd_spmd_comm());
    return rc == MPI_SUCCESS ? ND_OK : nd_spmd_mpi_fail("MPI_Alltoallv", rc);
}

/* Rank-local: moves this rank's rectangles of A to/from dset without communication
 * (X_ROWS: runs of up to rows_per_piece() consecutive global rows, all n columns;
 * X_CHUNKS: crow x nb pieces of one column block), through one staging buffer, adding
 * what passes to *sum.  Independent transfers; the first error ends the loop (the caller
 * agrees on the status). */
static nd_status direct(hid_t dset, hid_t fspace, int nd, nd_dm *A, xlayout x, int64_t crow,
                        bool write, nd_dm_h5sum *sum, const char *dataset, const char *fname)
{
    int nprow, npcol, myrow, mycol;
    nd_spmd_grid(&nprow, &npcol, &myrow, &mycol);
    const int64_t nb = A->nb, n = A->n, lld = A->lld;
    int64_t rows = rows_per_piece(A);
    if (x == X_ROWS && nprow > 1 && rows > nb) rows = nb;
    size_t cap = x == X_ROWS ? (size_t)((rows < A->mloc ? rows : A->mloc) * n)
                             : (size_t)(crow * (n < nb ? n : nb));
    if (cap == 0) cap = 1;
    double *buf = ND_ALLOC_N(double, cap);
    hid_t xfer = make_xfer(false);
    nd_status st = ND_OK;
    if (!buf) st = nd_err_set(ND_ENOMEM, "out of memory staging dataset '%s'", dataset);
    else if (xfer < 0)
        st = nd_err_set(ND_EIO, "HDF5: cannot set up the transfer of '%s' in '%s'", dataset,
                        fname);
    /* The pieces, as (local row, local column, global row, global column, h, w). */
    int64_t l = 0, lj = 0, r0 = 0;
    while (st == ND_OK) {
        int64_t li, lc, gr, gc, h, w;
        if (x == X_ROWS) {
            if (l >= A->mloc) break;
            h = rows;
            if (nprow > 1 && nb - l % nb < h) h = nb - l % nb; /* stay inside one block */
            if (A->mloc - l < h) h = A->mloc - l;
            li = l, lc = 0, gr = nd_dm_global(l, (int)nb, myrow, nprow), gc = 0, w = n;
            l += h;
        } else {
            if (lj >= A->nloc) break;
            w = A->nloc - lj < nb ? A->nloc - lj : nb;
            h = A->m - r0 < crow ? A->m - r0 : crow;
            li = r0, lc = lj, gr = r0, gc = nd_dm_global(lj, (int)nb, mycol, npcol);
            r0 += h;
            if (r0 >= A->m) r0 = 0, lj += nb;
        }
        double *a = A->a + li + lc * lld;
        hid_t ms = -1;
        herr_t rc = select_rect(fspace, nd, gr, h, gc, w, n, &ms);
        if (write) {
            if (x == X_ROWS) tile_copy(A, li, li + h, buf, true);
            else transpose(a, lld, buf, w, h, w);
            if (sum) sum_rect(sum, buf, h, w, gr, gc, n);
            if (rc >= 0) rc = H5Dwrite(dset, H5T_NATIVE_DOUBLE, ms, fspace, xfer, buf);
            if (rc < 0) st = nd_err_set(ND_EIO, "cannot write dataset '%s' in '%s'", dataset, fname);
        } else {
            if (rc >= 0) rc = H5Dread(dset, H5T_NATIVE_DOUBLE, ms, fspace, xfer, buf);
            if (rc < 0) st = nd_err_set(ND_EIO, "cannot read dataset '%s' in '%s'", dataset, fname);
            if (sum) sum_rect(sum, buf, h, w, gr, gc, n);
            if (x == X_ROWS) tile_copy(A, li, li + h, buf, false);
            else transpose(buf, w, a, lld, w, h);
        }
        if (ms >= 0) H5Sclose(ms);
    }
    if (xfer >= 0) H5Pclose(xfer);
    if (buf) ND_FREE_N(buf, cap);
    return st;
}

/* Collective: moves A to/from dataset dset (file space fspace) round by round, with the
 * exchange; adds what passes through this rank's band to *sum when sum is given. */
static nd_status transfer(hid_t dset, hid_t fspace, int nd, nd_dm *A, bool write,
                          nd_dm_h5sum *sum, const char *dataset, const char *fname)
{
    plan p;
    ND_TRY(plan_init(&p, A->m, A->n));
    stage s;
    hid_t xfer = make_xfer(want_collective());
    nd_status st = stage_alloc(&p, A, &s);
    if (st == ND_OK && xfer < 0)
        st = nd_err_set(ND_EIO, "HDF5: cannot set up the transfer of '%s' in '%s'", dataset,
                        fname);
    st = nd_spmd_agree(st);
    /* Once started, every rank runs every round (the exchanges and, in collective mode,
     * the transfers are collective) and keeps its first error; one agreement at the end
     * instead of a synchronization per round. */
    bool go = st == ND_OK;
    for (int64_t r0 = 0; go && r0 < A->m; r0 += p.rows) {
        int64_t r1 = r0 + p.rows < A->m ? r0 + p.rows : A->m, l0, l1, b0, b1;
        size_t na, nbb;
        plan_round(&p, r0, A, &na, &nbb);
        local_rows(&p, p.myrow, r0, r1, &l0, &l1);
        band(&p, r0, p.me, &b0, &b1);
        hid_t ms = -1;
        herr_t rc = select_band(fspace, nd, b0, b1, A->n, &ms);
        nd_status xs;
        if (write) {
            tile_copy(A, l0, l1, s.a, true);
            xs = exchange(&p, &s, true);
            if (p.P > 1) band_copy(&p, b0, b1, s.band, s.pieces, true);
            if (sum) sum_rect(sum, s.band, b1 - b0, A->n, b0, 0, A->n);
            if (rc >= 0) rc = H5Dwrite(dset, H5T_NATIVE_DOUBLE, ms, fspace, xfer, s.band);
            if (rc < 0 && st == ND_OK)
                st = nd_err_set(ND_EIO, "cannot write dataset '%s' in '%s'", dataset, fname);
        } else {
            if (rc >= 0) rc = H5Dread(dset, H5T_NATIVE_DOUBLE, ms, fspace, xfer, s.band);
            if (rc < 0 && st == ND_OK)
                st = nd_err_set(ND_EIO, "cannot read dataset '%s' in '%s'", dataset, fname);
            if (sum) sum_rect(sum, s.band, b1 - b0, A->n, b0, 0, A->n);
            if (p.P > 1) band_copy(&p, b0, b1, s.band, s.pieces, false);
            xs = exchange(&p, &s, false);
            tile_copy(A, l0, l1, s.a, false);
        }
        if (xs != ND_OK && st == ND_OK) st = xs;
        if (ms >= 0) H5Sclose(ms);
    }
    st = nd_spmd_agree(st);
    if (xfer >= 0) H5Pclose(xfer);
    stage_free(&p, &s);
    plan_free(&p);
    return st;
}

/* Collective: either transfer, agreed, then the rank sums combined into *sum. */
static nd_status move(hid_t dset, hid_t fspace, int nd, nd_dm *A, xlayout x, int64_t crow,
                      bool write, nd_dm_h5sum *sum, const char *dataset, const char *fname)
{
    if (sum) sum->add = sum->mix = 0;
    nd_status st;
    if (x == X_EXCHANGE) st = transfer(dset, fspace, nd, A, write, sum, dataset, fname);
    else st = nd_spmd_agree(direct(dset, fspace, nd, A, x, crow, write, sum, dataset, fname));
    if (st == ND_OK && sum && nd_spmd_size() > 1) {
        uint64_t v[2] = {sum->add, sum->mix};
        int rc = MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_SUM, nd_spmd_comm());
        st = nd_spmd_agree(rc == MPI_SUCCESS ? ND_OK : nd_spmd_mpi_fail("MPI_Allreduce", rc));
        sum->add = v[0];
        sum->mix = v[1];
    }
    return st;
}

nd_status nd_dm_h5write_sum(int64_t loc_id, const char *dataset, const nd_dm *A,
                            nd_dm_h5sum *sum)
{
    quiet();
    hid_t loc = (hid_t)loc_id;
    char fname[512];
    loc_name(loc, fname, sizeof fname);
    nd_status st = ND_OK;
    hid_t fspace = -1, dset = -1, lcpl = -1, dcpl = -1;
    /* The dataset has the logical shape (a matrix: m x n, the fold itself). */
    hsize_t dims[ND_MAXDIM];
    for (int k = 0; k < A->nd; k++) dims[k] = (hsize_t)A->shape[k];
    int64_t crow;
    xlayout x = write_layout(A, &crow);
    htri_t ex = H5Lexists(loc, dataset, H5P_DEFAULT);
    if (ex > 0 && H5Ldelete(loc, dataset, H5P_DEFAULT) < 0)
        st = nd_err_set(ND_EIO, "cannot replace dataset '%s' in '%s'", dataset, fname);
    if (st == ND_OK) {
        /* Every element is written: no fill values (HDF5 would write them at creation,
         * space being allocated early in parallel). */
        hsize_t cd[2] = {(hsize_t)crow, (hsize_t)(A->n < A->nb ? A->n : A->nb)};
        fspace = H5Screate_simple(A->nd, dims, NULL);
        lcpl = H5Pcreate(H5P_LINK_CREATE);
        dcpl = H5Pcreate(H5P_DATASET_CREATE);
        if (fspace < 0 || lcpl < 0 || dcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0 ||
            H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0 ||
            (x == X_CHUNKS && H5Pset_chunk(dcpl, 2, cd) < 0))
            st = nd_err_set(ND_EIO, "HDF5: cannot set up dataset '%s' in '%s'", dataset, fname);
    }
    if (st == ND_OK) {
        /* No chunk cache: every chunk is written whole, once, straight from the buffer. */
        hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
        if (dapl >= 0 && x == X_CHUNKS) H5Pset_chunk_cache(dapl, 0, 0, 1.0);
        dset = H5Dcreate2(loc, dataset, H5T_IEEE_F64LE, fspace, lcpl, dcpl,
                          dapl >= 0 ? dapl : H5P_DEFAULT);
        if (dapl >= 0) H5Pclose(dapl);
        if (dset < 0)
            st = nd_err_set(ND_EIO, "cannot create dataset '%s' in '%s'", dataset, fname);
    }
    /* Nobody enters the collective transfer unless everybody can.  The matrix is only
     * read: the write direction never stores into A. */
    st = nd_spmd_agree(st);
    nd_dm_host(A); /* a matrix on a GPU is written from its host copy */
    if (st == ND_OK) st = move(dset, fspace, A->nd, (nd_dm *)A, x, crow, true, sum, dataset, fname);
    if (dset >= 0 && H5Dclose(dset) < 0 && st == ND_OK)
        st = nd_err_set(ND_EIO, "cannot close dataset '%s' in '%s'", dataset, fname);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (lcpl >= 0) H5Pclose(lcpl);
    if (fspace >= 0) H5Sclose(fspace);
    return nd_spmd_agree(st);
}

nd_status nd_dm_h5write_loc(int64_t loc_id, const char *dataset, const nd_dm *A)
{
    return nd_dm_h5write_sum(loc_id, dataset, A, NULL);
}

nd_status nd_dm_h5read_sum(int64_t loc_id, const char *dataset, nd_dm **out, nd_dm_h5sum *sum)
{
    quiet();
    *out = NULL;
    hid_t loc = (hid_t)loc_id;
    char fname[512];
    loc_name(loc, fname, sizeof fname);
    nd_status st = ND_OK;
    hid_t dset = H5Dopen2(loc, dataset, H5P_DEFAULT), fspace = -1;
    hsize_t dims[ND_MAXDIM];
    int nd = 0;
    if (dset < 0) {
        st = nd_err_set(ND_EIO, "cannot open dataset '%s' in '%s'", dataset, fname);
    } else {
        fspace = H5Dget_space(dset);
        H5S_class_t sc = fspace < 0 ? H5S_NO_CLASS : H5Sget_simple_extent_type(fspace);
        nd = sc == H5S_SIMPLE ? H5Sget_simple_extent_ndims(fspace) : 0;
        hid_t t = H5Dget_type(dset);
        H5T_class_t cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
        if (t >= 0) H5Tclose(t);
        if (sc == H5S_SCALAR)
            st = nd_err_set(ND_EIO, "dataset '%s' in '%s' is a scalar, not an array", dataset,
                            fname);
        else if (sc == H5S_NULL)
            st = nd_err_set(ND_EIO, "dataset '%s' in '%s' is empty", dataset, fname);
        else if (nd < 1 || nd > ND_MAXDIM)
            st = nd_err_set(ND_EIO, "dataset '%s' in '%s' has %d dimensions (arrays have 1 to %d)",
                            dataset, fname, nd, ND_MAXDIM);
        else if (cls != H5T_FLOAT && cls != H5T_INTEGER)
            st = nd_err_set(ND_EIO, "dataset '%s' in '%s' does not hold numbers", dataset, fname);
        else if (H5Sget_simple_extent_dims(fspace, dims, NULL) < 0)
            st = nd_err_set(ND_EIO, "cannot read the shape of '%s' in '%s'", dataset, fname);
    }
    st = nd_spmd_agree(st);
    int64_t shape[ND_MAXDIM];
    for (int k = 0; st == ND_OK && k < nd; k++) {
        shape[k] = (int64_t)dims[k];
        if (dims[k] < 1) st = nd_err_set(ND_EIO, "dataset '%s' in '%s' is empty", dataset, fname);
    }
    nd_dm *A = NULL;
    /* The fold of the dataset's shape: a 2-D dataset is a matrix, 1-D a 1-D array. */
    if (st == ND_OK) st = nd_arr_alloc(nd, shape, &A);
    if (st == ND_OK) {
        int64_t crow;
        xlayout x = read_layout(dset, nd, A, &crow);
        st = move(dset, fspace, nd, A, x, crow, false, sum, dataset, fname);
    }
    if (fspace >= 0) H5Sclose(fspace);
    if (dset >= 0) H5Dclose(dset);
    if (st != ND_OK) {
        nd_dm_free(A);
        return st;
    }
    *out = A;
    return ND_OK;
}

nd_status nd_dm_h5read_loc(int64_t loc_id, const char *dataset, nd_dm **out)
{
    return nd_dm_h5read_sum(loc_id, dataset, out, NULL);
}

nd_status nd_h5_open_file(const char *path, bool create, int64_t *fid_out)
{
    quiet();
    hid_t fidv = -1, *fid = &fidv;
    *fid_out = -1;
    int exists = 0;
    if (nd_spmd_rank() == 0) exists = access(path, F_OK) == 0;
    ND_TRY(nd_spmd_bcast(&exists, sizeof exists, 0));
    if (!exists && !create)
        return nd_err_set(ND_EIO, "cannot open HDF5 file '%s': no such file", path);
    nd_status st = ND_OK;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_mpio(fapl, nd_spmd_comm(), MPI_INFO_NULL) < 0 ||
        H5Pset_alignment(fapl, ALIGN_BYTES, ALIGN_BYTES) < 0) {
        st = nd_err_set(ND_EIO, "HDF5: cannot set up parallel access to '%s'", path);
    } else if (exists) {
        *fid = H5Fopen(path, create ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
        if (*fid < 0)
            st = nd_err_set(ND_EIO, "cannot open HDF5 file '%s'%s", path,
                            create ? " for writing" : "");
    } else {
        *fid = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        if (*fid < 0) st = nd_err_set(ND_EIO, "cannot create HDF5 file '%s'", path);
    }
    if (fapl >= 0) H5Pclose(fapl);
    st = nd_spmd_agree(st);
    if (st != ND_OK && *fid >= 0) {
        H5Fclose(*fid);
        *fid = -1;
    }
    *fid_out = (int64_t)fidv;
    return st;
}

nd_status nd_h5_close_file(int64_t fid, const char *path, nd_status st)
{
    if (nd_h5_close_tmp((hid_t)fid, NULL, true, nd_spmd_comm()) < 0 && st == ND_OK)
        st = nd_err_set(ND_EIO, "cannot finish writing HDF5 file '%s' (is the disk or quota full?)", path);
    return nd_spmd_agree(st);
}

nd_status nd_h5_check_room(const char *path, uint64_t bytes, const char *what)
{
    uint64_t need = bytes + (64u << 10), avail;
    nd_status st = ND_OK;
    if (nd_spmd_rank() == 0 && !nd_fs_room(path, need, &avail))
        st = nd_err_set(ND_EIO, "%s: no room for '%s': it needs about %.1f MiB, %.1f MiB are free",
                        what, path, need / 1048576.0, avail / 1048576.0);
    return nd_spmd_agree(st);
}

nd_status nd_dm_h5write(const char *path, const char *dataset, const nd_dm *A)
{
    ND_TRY(nd_h5_check_room(path, (uint64_t)nd_arr_size(A) * sizeof(double), "h5write"));
    int64_t fid;
    ND_TRY(nd_h5_open_file(path, true, &fid));
    nd_status st = nd_dm_h5write_loc(fid, dataset, A);
    return nd_h5_close_file(fid, path, st);
}

nd_status nd_dm_h5read(const char *path, const char *dataset, nd_dm **out)
{
    *out = NULL;
    int64_t fid;
    ND_TRY(nd_h5_open_file(path, false, &fid));
    nd_status st = nd_dm_h5read_loc(fid, dataset, out);
    st = nd_h5_close_file(fid, path, st);
    if (st != ND_OK && *out) {
        nd_dm_free(*out);
        *out = NULL;
    }
    return st;
}
