/* summa.c: C = A @ B by SUMMA with wide panels, calling cblas_dgemm on the local blocks.
 *
 * Debian's reference PBLAS (pdgemm) multiplies in 32-wide rank-k updates; here each step
 * gathers a panel of W global columns of A along the grid row and the matching W rows of
 * B along the grid column (MPI_Allgatherv on row/column communicators), puts them in
 * global k order, and does one local dgemm.  The panel width depends only on the shapes,
 * NB and the grid, so a product is deterministic for a given rank count (not bit-identical
 * across rank counts: the k order inside dgemm differs).  Spec: docs/matrices.md.
 */
#include "la/scalapack/summa.h"

#include "common/alloc.h"
#include "runtime/spmd.h"

#include <cblas.h>
#include <limits.h>
#include <string.h>

/* Columns per panel (rounded down to a multiple of NB, at least NB), unless the panel
 * buffers would pass PANEL_BUDGET doubles per unit of (local rows + local columns). */
#define PANEL_TARGET 512
#define PANEL_BUDGET ((int64_t)1 << 24)

/* The grid's row and column communicators, split once (the grid never changes after
 * BLACS starts) and kept until MPI_Finalize. */
static MPI_Comm row_comm = MPI_COMM_NULL, col_comm = MPI_COMM_NULL;

/* Collective (first call only). */
static nd_status grid_comms(void)
{
    if (row_comm != MPI_COMM_NULL) return ND_OK;
    int myrow, mycol;
    nd_spmd_grid(NULL, NULL, &myrow, &mycol);
    MPI_Comm r = MPI_COMM_NULL, c = MPI_COMM_NULL;
    int rc = MPI_Comm_split(nd_spmd_comm(), myrow, mycol, &r);
    if (rc != MPI_SUCCESS) return nd_spmd_mpi_fail("MPI_Comm_split", rc);
    rc = MPI_Comm_split(nd_spmd_comm(), mycol, myrow, &c);
    if (rc != MPI_SUCCESS) {
        MPI_Comm_free(&r);
        return nd_spmd_mpi_fail("MPI_Comm_split", rc);
    }
    row_comm = r;
    col_comm = c;
    return ND_OK;
}

int nd_la_summa_panel(const nd_dm *A, const nd_dm *B)
{
    int nb = nd_spmd_block_size();
    if (A->nb != nb || B->nb != nb) return 0;
    int pr, pc;
    nd_spmd_grid(&pr, &pc, NULL, NULL);
    if (pr == 1 && pc == 1) return (int)A->n; /* one dgemm on the whole local matrices */
    int64_t maxr = nd_dm_owned(A->m, nb, 0, pr), maxc = nd_dm_owned(B->n, nb, 0, pc);
    int64_t w = PANEL_TARGET / nb > 1 ? (int64_t)(PANEL_TARGET / nb) * nb : nb;
    while (w > nb && w * (maxr + maxc) > PANEL_BUDGET) w -= nb;
    if (w > A->n) w = A->n; /* one step: no buffer wider than k */
    if (w * maxr > INT_MAX || w * maxc > INT_MAX) return 0;
    return (int)w;
}

/* Per-step layout of one operand's panel over P processes: lo[p] = first local index
 * of process p in the panel, cnt[p] / dsp[p] = its element count and offset in the
 * gathered buffer (elements = indices * per, per = local rows of A or columns of B). */
typedef struct part {
    int *lo, *cnt, *dsp;
} part;

static void layout(part *pt, int64_t k0, int64_t k1, int nb, int P, int per)
{
    int off = 0;
    for (int p = 0; p < P; p++) {
        int64_t lo = nd_dm_owned(k0, nb, p, P), hi = nd_dm_owned(k1, nb, p, P);
        pt->lo[p] = (int)lo;
        pt->cnt[p] = (int)(hi - lo) * per;
        pt->dsp[p] = off;
        off += pt->cnt[p];
    }
}

/* Collective over row_comm.  Gathers A[:, k0:k1) (local rows) into pan, mloc-by-w,
 * column-major, in global column order. */
static nd_status gather_a(const nd_dm *A, int64_t k0, int64_t k1, int pc, int myc, part *pt,
                          double *recv, double *pan)
{
    int nb = A->nb, mloc = A->mloc;
    layout(pt, k0, k1, nb, pc, mloc);
    const double *send = pt->cnt[myc] ? A->a + (size_t)pt->lo[myc] * A->lld : A->a;
    int rc = MPI_Allgatherv(send, pt->cnt[myc], MPI_DOUBLE, recv, pt->cnt, pt->dsp,
                            MPI_DOUBLE, row_comm);
    if (rc != MPI_SUCCESS) return nd_spmd_mpi_fail("MPI_Allgatherv", rc);
    if (mloc == 0) return ND_OK;
    /* Blocks of one owner are adjacent in its part, in global order. */
    for (int64_t c0 = k0; c0 < k1; c0 += nb) {
        int q = (int)((c0 / nb) % pc);
        int64_t c1 = c0 + nb < k1 ? c0 + nb : k1;
        int64_t local = nd_dm_owned(c0, nb, q, pc) - pt->lo[q];
        memcpy(pan + (size_t)(c0 - k0) * mloc, recv + pt->dsp[q] + (size_t)local * mloc,
               (size_t)(c1 - c0) * mloc * sizeof *pan);
    }
    return ND_OK;
}

/* Collective over col_comm.  Gathers B[k0:k1, :] (local columns) into pan, w-by-nloc,
 * column-major (ld w), in global row order.  send holds (k1-k0) * nloc doubles. */
static nd_status gather_b(const nd_dm *B, int64_t k0, int64_t k1, int pr, int myr, part *pt,
                          double *send, double *recv, double *pan)
{
    int nb = B->nb, nloc = B->nloc, w = (int)(k1 - k0);
    layout(pt, k0, k1, nb, pr, nloc);
    int mine = nloc ? pt->cnt[myr] / nloc : 0;
    for (int j = 0; j < nloc && mine > 0; j++)
        memcpy(send + (size_t)j * mine, B->a + pt->lo[myr] + (size_t)j * B->lld,
               (size_t)mine * sizeof *send);
    int rc = MPI_Allgatherv(send, pt->cnt[myr], MPI_DOUBLE, recv, pt->cnt, pt->dsp,
                            MPI_DOUBLE, col_comm);
    if (rc != MPI_SUCCESS) return nd_spmd_mpi_fail("MPI_Allgatherv", rc);
    if (nloc == 0) return ND_OK;
    for (int64_t r0 = k0; r0 < k1; r0 += nb) {
        int r = (int)((r0 / nb) % pr);
        int64_t r1 = r0 + nb < k1 ? r0 + nb : k1;
        int rows = pt->cnt[r] / nloc; /* the part of process row r is rows-by-nloc */
        int64_t local = nd_dm_owned(r0, nb, r, pr) - pt->lo[r];
        const double *src = recv + pt->dsp[r] + local;
        for (int j = 0; j < nloc; j++)
            memcpy(pan + (r0 - k0) + (size_t)j * w, src + (size_t)j * rows,
                   (size_t)(r1 - r0) * sizeof *pan);
    }
    return ND_OK;
}

nd_status nd_la_summa(const nd_dm *A, const nd_dm *B, nd_dm *C, bool *used)
{
    *used = false;
    int W = nd_la_summa_panel(A, B);
    if (W == 0) return ND_OK;
    *used = true;
    int pr, pc, myr, myc;
    nd_spmd_grid(&pr, &pc, &myr, &myc);
    int mloc = C->mloc, nloc = C->nloc;
    int64_t k = A->n;
    /* One process column: A's local columns are all of A's columns (no gather); one
     * process row: B's local rows are all of B's rows. */
    bool ga = pc > 1, gb = pr > 1;
    size_t na = ga ? (size_t)mloc * W : 0, nbb = gb ? (size_t)W * nloc : 0;
    double *arecv = ga ? nd_malloc(na * sizeof(double)) : NULL;
    double *apan = ga ? nd_malloc(na * sizeof(double)) : NULL;
    double *bsend = gb ? nd_malloc(nbb * sizeof(double)) : NULL;
    double *brecv = gb ? nd_malloc(nbb * sizeof(double)) : NULL;
    double *bpan = gb ? nd_malloc(nbb * sizeof(double)) : NULL;
    int np = pr > pc ? pr : pc;
    int *ints = ND_ALLOC_N(int, 3 * (size_t)np);
    bool ok = ints && (!ga || (arecv && apan)) && (!gb || (bsend && brecv && bpan));
    nd_status st = ok ? ND_OK : ND_ENOMEM;
    if (st == ND_OK && (ga || gb)) st = grid_comms();
    st = nd_spmd_agree(st);
    part pt = {ints, ints + np, ints + 2 * (size_t)np};
    for (int64_t k0 = 0; st == ND_OK && k0 < k; k0 += W) {
        int64_t k1 = k0 + W < k ? k0 + W : k;
        int w = (int)(k1 - k0);
        const double *ap = apan, *bp = bpan;
        int lda = mloc > 1 ? mloc : 1, ldb = w;
        if (ga) {
            st = gather_a(A, k0, k1, pc, myc, &pt, arecv, apan);
        } else {
            ap = A->a + (size_t)k0 * A->lld;
            lda = A->lld;
        }
        if (st == ND_OK && gb) {
            st = gather_b(B, k0, k1, pr, myr, &pt, bsend, brecv, bpan);
        } else {
            bp = B->a + k0;
            ldb = B->lld;
        }
        if (st == ND_OK && mloc > 0 && nloc > 0)
            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, mloc, nloc, w, 1.0, ap, lda,
                        bp, ldb, k0 == 0 ? 0.0 : 1.0, C->a, C->lld);
    }
    nd_free(arecv, na * sizeof(double));
    nd_free(apan, na * sizeof(double));
    nd_free(bsend, nbb * sizeof(double));
    nd_free(brecv, nbb * sizeof(double));
    nd_free(bpan, nbb * sizeof(double));
    ND_FREE_N(ints, 3 * (size_t)np);
    return st;
}
