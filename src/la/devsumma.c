/* devsumma.c: SUMMA over a device backend's primitives (devsumma.h).
 *
 * For each panel of W columns of A (rows of B): the owners of each block column of A
 * broadcast it along their grid row into apan (mloc-by-w, contiguous), the owners of
 * each block row of B pack it (strided in B's local part) into bpack and broadcast it
 * along their grid column; the pieces are unpacked into bpan (w-by-nloc in global row
 * order) and one local DGEMM accumulates apan @ bpan into C.  A grid of one process
 * column needs no A broadcast (the local columns are all of A's), likewise B with one
 * process row.
 */
#include "la/devsumma.h"

#include "common/alloc.h"
#include "runtime/spmd.h"

/* Width of global block kb of a dimension of k elements. */
static int block_w(int64_t kb, int nb, int64_t k)
{
    return (int)((kb + 1) * nb < k ? nb : k - kb * nb);
}

/* The broadcast through host memory (d->bcast NULL): the root's download waits for the
 * queued work, MPI counts are int so the message goes in pieces of 2^30 doubles.  An MPI
 * failure is ND_EMPI here (rank-local, as in the host SUMMA). */
static nd_status staged_bcast(const nd_devsumma_ops *d, const double *src, double *dst,
                              size_t cnt, int root, bool row, double *host)
{
    if (cnt == 0) return ND_OK; /* uniform: a grid row shares mloc, a column nloc */
    MPI_Comm c = row ? d->rowc : d->colc;
    int me;
    MPI_Comm_rank(c, &me);
    if (me == root) d->download(host, src, cnt);
    for (size_t off = 0; off < cnt; off += (size_t)1 << 30) {
        size_t len = cnt - off < (size_t)1 << 30 ? cnt - off : (size_t)1 << 30;
        int rc = MPI_Bcast(host + off, (int)len, MPI_DOUBLE, root, c);
        if (rc != MPI_SUCCESS) return nd_spmd_mpi_fail("MPI_Bcast", rc);
    }
    if (me != root || src != dst) d->upload(dst, host, cnt);
    return ND_OK;
}

/* Collective.  C := A @ B into C's allocated device copy (devsumma.h's old contract). */
static nd_status summa(const nd_devsumma_ops *d, const nd_dm *A, const nd_dm *B, nd_dm *C)
{
    int pr, pc, myr, myc;
    nd_spmd_grid(&pr, &pc, &myr, &myc);
    int nb = A->nb, mloc = C->mloc, nloc = C->nloc;
    int64_t k = A->n;
    if (pr == 1 && pc == 1 && !d->force_bcast) {
        if (mloc > 0 && nloc > 0)
            d->gemm(mloc, nloc, (int)k, A->dev, A->lld, B->dev, B->lld, false, C->dev, C->lld);
        d->finish();
        return ND_OK;
    }
    bool ga = pc > 1 || d->force_bcast, gb = pr > 1 || d->force_bcast;
    int64_t W = (d->panel_cols / nb) * (int64_t)nb;
    if (W < nb) W = nb;
    if (W > k) W = k;
    size_t na = ga ? (size_t)mloc * W : 0, nbb = gb ? (size_t)W * nloc : 0;
    double *apan = na ? d->alloc(na) : NULL, *bpack = nbb ? d->alloc(nbb) : NULL;
    double *bpan = nbb ? d->alloc(nbb) : NULL;
    /* The host staging buffer holds one block column of A or block row of B. */
    size_t nh = d->bcast ? 0 : (size_t)(mloc > nloc ? mloc : nloc) * nb;
    double *host = nh ? ND_ALLOC_N(double, nh) : NULL;
    bool ok = (!na || apan) && (!nbb || (bpack && bpan));
    nd_status st = ND_OK;
    if (!ok)
        st = nd_err_set(ND_ENOMEM, "out of GPU memory (the panels of this product need %zu MiB)",
                        ND_MIB_CEIL((na + 2 * nbb) * sizeof(double)));
    else if (nh && !host)
        st = nd_err_set(ND_ENOMEM, "out of memory (a host staging buffer of %zu bytes)",
                        nh * sizeof(double));
    st = nd_spmd_agree(st);
    for (int64_t k0 = 0; st == ND_OK && k0 < k; k0 += W) {
        int64_t k1 = k0 + W < k ? k0 + W : k;
        int w = (int)(k1 - k0);
        /* Global blocks kb0..kb1 cover [k0, k1): W is a multiple of nb. */
        int64_t kb0 = k0 / nb, kb1 = (k1 + nb - 1) / nb;
        if (gb && nloc > 0) /* the owners pack their rows of B into contiguous pieces */
            for (int64_t kb = kb0; kb < kb1; kb++) {
                size_t kw = (size_t)block_w(kb, nb, k);
                if (kb % pr == myr)
                    d->copy2d(bpack + (size_t)(kb * nb - k0) * nloc, kw, B->dev + (kb / pr) * nb,
                              (size_t)B->lld, kw, (size_t)nloc);
            }
        if (d->bcast && d->group) d->group(true);
        for (int64_t kb = kb0; st == ND_OK && kb < kb1; kb++) {
            int kw = block_w(kb, nb, k);
            if (ga) {
                int q = (int)(kb % pc);
                size_t cnt = (size_t)mloc * kw;
                const double *src = A->dev + (size_t)(kb / pc) * nb * A->lld;
                double *dst = apan + (size_t)(kb * nb - k0) * mloc;
                if (d->bcast) d->bcast(q == myc ? src : dst, dst, cnt, q, true);
                else st = staged_bcast(d, q == myc ? src : dst, dst, cnt, q, true, host);
            }
            if (gb) {
                int r = (int)(kb % pr);
                double *p = bpack + (size_t)(kb * nb - k0) * nloc;
                size_t cnt = (size_t)kw * nloc;
                if (d->bcast) d->bcast(p, p, cnt, r, false);
                else if (st == ND_OK) st = staged_bcast(d, p, p, cnt, r, false, host);
            }
        }
        if (d->bcast && d->group) d->group(false);
        if (st != ND_OK) break;
        if (gb && nloc > 0) /* the pieces into one w-by-nloc panel in global row order */
            for (int64_t kb = kb0; kb < kb1; kb++) {
                size_t kw = (size_t)block_w(kb, nb, k);
                d->copy2d(bpan + (kb * nb - k0), (size_t)w, bpack + (size_t)(kb * nb - k0) * nloc,
                          kw, kw, (size_t)nloc);
            }
        const double *ap = ga ? apan : A->dev + (size_t)k0 * A->lld;
        const double *bp = gb ? bpan : B->dev + k0;
        int lda = ga ? (mloc > 1 ? mloc : 1) : A->lld, ldb = gb ? w : B->lld;
        if (mloc > 0 && nloc > 0) d->gemm(mloc, nloc, w, ap, lda, bp, ldb, k0 > 0, C->dev, C->lld);
    }
    if (st == ND_OK) d->finish();
    if (apan) d->free(apan, na);
    if (bpack) d->free(bpack, nbb);
    if (bpan) d->free(bpan, nbb);
    ND_FREE_N(host, nh);
    return st;
}

nd_status nd_devsumma_matmul(const nd_devsumma_ops *d, const nd_dm *A, const nd_dm *B,
                             nd_dm **out)
{
    const nd_dm *in[2] = {A, B};
    ND_TRY(nd_dm_to_dev(2, in));
    ND_TRY(nd_dm_alloc_dev(A->m, B->n, out));
    nd_status st = summa(d, A, B, *out);
    if (st != ND_OK) {
        nd_dm_free(*out);
        *out = NULL;
    }
    return st;
}
