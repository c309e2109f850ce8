/* dm_cuda.c: the CUDA backend, built as the plugin libnoodle_cuda.so that noodle-run
 * opens (loader.c).  It fills two tables: the device memory, elementwise and reduction
 * primitives of the distributed matrices (dm_layout.h's nd_dm_devops) and the linear
 * algebra (backend.h's nd_la_ops: matmul, solve, cholesky, eigh, qr, svd_tall).
 *
 * A device per rank, chosen by node-local rank.  A matrix's device copy has exactly
 * the layout of its host copy (column-major local part, leading dimension lld), so
 * moving it is one cudaMemcpy and the host code stays valid for any operation this
 * file does not implement.  `@` is SUMMA (devsumma.c): panels of A's block columns are
 * broadcast along grid rows and B's block rows along grid columns with NCCL, and cuBLAS
 * DGEMM accumulates locally; on a 1x1 grid it is one DGEMM.  Reduction partials are computed
 * on the device in the host's order and combined with an NCCL all-reduce of their bits.
 * With gpu_comm: mpi the broadcasts and the all-reduce are MPI calls on host copies
 * instead, so several ranks may share a device (NCCL refuses that).
 * solve, cholesky, eigh, qr and svd use cuSOLVER on a 1x1 grid: the rank's own, or rank 0
 * in solo mode with the matrices gathered (the front end, la.c).  Every operation synchronizes
 * its stream before it returns, so wtime() brackets work that is done.  Device faults
 * end the job (nd_spmd_fatal).  Spec: docs/gpu.md.
 */
#include "common/alloc.h"
#include "la/cuda/cuda.h"
#include "la/cuda/kernels.h"
#include "la/devsumma.h"
#include "runtime/dm_layout.h"
#include "runtime/spmd.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cusolverDn.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert(ND_EW_ADD == 0 && ND_EW_POW == 4 && ND_EW_ATAN2 == 15 && ND_EW_NOPS == 16,
               "kernels.cu mirrors nd_ew_op");
_Static_assert(ND_MAP_NEG == 0 && ND_MAP_TANH == 7 && ND_MAP_ROUND == 12,
               "kernels.cu mirrors nd_map_fn");
_Static_assert(P_SUM == 0 && P_DOT == 4, "kernels.cu mirrors the partial kinds");

/* Columns of A (rows of B) per SUMMA step, rounded down to whole blocks. */
#define PANEL_COLS 2048

static struct {
    cudaStream_t s;
    cublasHandle_t blas;
    cusolverDnHandle_t sol;
    ncclComm_t world, row, col; /* row: my process row (rank = mycol); col: my column */
    bool mpi;                   /* gpu_comm: mpi: no NCCL; rowc, colc as row, col */
    MPI_Comm rowc, colc;
    bool force_bcast;           /* NOODLE_GPU_SUMMA=bcast: broadcast even on one rank */
} g;

static void cuda_ok(cudaError_t e, const char *what)
{
    if (e != cudaSuccess)
        nd_spmd_fatal(NULL, 0, 0, "CUDA: %s: %s", what, cudaGetErrorString(e));
}

static void blas_ok(cublasStatus_t e, const char *what)
{
    if (e != CUBLAS_STATUS_SUCCESS) nd_spmd_fatal(NULL, 0, 0, "cuBLAS: %s failed (status %d)", what, (int)e);
}

static void solver_ok(cusolverStatus_t e, const char *what)
{
    if (e != CUSOLVER_STATUS_SUCCESS)
        nd_spmd_fatal(NULL, 0, 0, "cuSOLVER: %s failed (status %d)", what, (int)e);
}

static void nccl_ok(ncclResult_t e, const char *what)
{
    if (e != ncclSuccess) nd_spmd_fatal(NULL, 0, 0, "NCCL: %s: %s", what, ncclGetErrorString(e));
}

/* Kernels report launch errors here; faults inside them at the synchronization. */
static void finish(const char *what)
{
    cuda_ok(cudaGetLastError(), what);
    cuda_ok(cudaStreamSynchronize(g.s), what);
}

/* ---- memory ---------------------------------------------------------------------- */

/* Freed blocks are kept for reuse by size: a loop that makes a new 8192x8192 result each
 * iteration would otherwise pay a cudaFree (which synchronizes the device) and a
 * cudaMalloc of 512 MiB every time.  Bounded by CACHE_SLOTS blocks; emptied when an
 * allocation fails, before reporting out of memory. */
#define CACHE_SLOTS 8
static struct {
    double *p;
    size_t n;
} cache[CACHE_SLOTS];
static unsigned cache_next; /* the slot to evict next (round robin) */

static void cache_flush(void)
{
    for (int k = 0; k < CACHE_SLOTS; k++)
        if (cache[k].p) {
            cuda_ok(cudaFree(cache[k].p), "cudaFree");
            cache[k].p = NULL;
        }
}

/* cudaMalloc, emptying the cache and trying again before giving up (NULL: the caller
 * reports out of memory). */
static void *raw_alloc(size_t bytes)
{
    void *p = NULL;
    if (cudaMalloc(&p, bytes) == cudaSuccess) return p;
    (void)cudaGetLastError();
    cache_flush();
    if (cudaMalloc(&p, bytes) == cudaSuccess) return p;
    (void)cudaGetLastError();
    return NULL;
}

static double *dev_alloc(size_t n)
{
    for (int k = 0; k < CACHE_SLOTS; k++)
        if (cache[k].p && cache[k].n == n) {
            double *p = cache[k].p;
            cache[k].p = NULL;
            return p;
        }
    return raw_alloc(n * sizeof(double));
}

static void dev_free(double *p, size_t n)
{
    for (int k = 0; k < CACHE_SLOTS; k++)
        if (!cache[k].p) {
            cache[k].p = p;
            cache[k].n = n;
            return;
        }
    unsigned k = cache_next++ % CACHE_SLOTS;
    cuda_ok(cudaFree(cache[k].p), "cudaFree");
    cache[k].p = p;
    cache[k].n = n;
}

/* Free device memory plus what the cache holds (raw_alloc empties it when needed). */
static size_t mem_avail(void)
{
    size_t free_b = 0, total = 0;
    if (cudaMemGetInfo(&free_b, &total) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    for (int k = 0; k < CACHE_SLOTS; k++)
        if (cache[k].p) free_b += cache[k].n * sizeof(double);
    return free_b;
}

static void upload(double *d, const double *h, size_t n)
{
    cuda_ok(cudaMemcpy(d, h, n * sizeof(double), cudaMemcpyHostToDevice), "upload");
}

static void download(double *h, const double *d, size_t n)
{
    cuda_ok(cudaMemcpy(h, d, n * sizeof(double), cudaMemcpyDeviceToHost), "download");
}

static void get1(const double *d, double *v) { download(v, d, 1); }
static void set1(double *d, double v) { upload(d, &v, 1); }

static void dev_copy(double *c, const double *a, size_t n)
{
    cuda_ok(cudaMemcpyAsync(c, a, n * sizeof(double), cudaMemcpyDeviceToDevice, g.s), "copy");
    finish("copy");
}

/* ---- elementwise ----------------------------------------------------------------- */

static void ew(nd_ew_op op, const double *a, const double *b, double *c, size_t n)
{
    nd_cuk_ew((int)op, a, b, c, n, g.s);
    finish("elementwise kernel");
}

static void ew_scalar(nd_ew_op op, const double *a, double x, bool left, double *c, size_t n)
{
    nd_cuk_ew_scalar((int)op, a, x, left, c, n, g.s);
    finish("elementwise kernel");
}

static void map(nd_map_fn f, const double *a, double *c, size_t n)
{
    nd_cuk_map((int)f, a, c, n, g.s);
    finish("map kernel");
}

static void where(const double *m, double ms, const double *a, double as, const double *b,
                  double bs, double *c, size_t n)
{
    nd_cuk_where(m, ms, a, as, b, bs, c, n, g.s);
    finish("where kernel");
}

/* ---- reductions ------------------------------------------------------------------ */

/* Every partial has one owner and the others hold +0.0 (all bits zero), so an integer
 * sum of the bit patterns delivers the owner's bits exactly (as dm.c's bitwise OR): the
 * partials d (np doubles) summed over the ranks by NCCL (with gpu_comm mpi the caller
 * combines the host copies), then downloaded into part. */
static void combine_download(double *d, double *part, size_t np, const char *what)
{
    if (nd_spmd_size() > 1 && !g.mpi)
        nccl_ok(ncclAllReduce(d, d, np, ncclUint64, ncclSum, g.world, g.s), "ncclAllReduce");
    cuda_ok(cudaMemcpyAsync(part, d, np * sizeof(double), cudaMemcpyDeviceToHost, g.s),
            "download partials");
    finish(what);
}

static nd_status partials(const nd_dm *A, const nd_dm *B, int kind, double *part, size_t np)
{
    int nprow, npcol, myrow, mycol;
    nd_spmd_grid(&nprow, &npcol, &myrow, &mycol);
    double *d = dev_alloc(np);
    nd_status st = nd_spmd_agree(d ? ND_OK : nd_err_set(ND_ENOMEM, "out of GPU memory"));
    if (st != ND_OK) {
        if (d) dev_free(d, np);
        return st;
    }
    int64_t nbr = (A->m + A->nb - 1) / A->nb;
    cuda_ok(cudaMemsetAsync(d, 0, np * sizeof(double), g.s), "memset");
    nd_cuk_partials(kind, A->dev, B ? B->dev : NULL, A->lld, A->mloc, A->nloc, A->nb, nprow,
                    npcol, myrow, mycol, nbr, d, g.s);
    cuda_ok(cudaGetLastError(), "partials kernel");
    combine_download(d, part, np, "reduction");
    dev_free(d, np);
    return g.mpi ? nd_dm_combine(part, np) : ND_OK; /* the host's combine, on host copies */
}

/* The axis reductions' partials (arr_axis.c), as partials above: one owner per entry. */
static nd_status axis_partials(const nd_dm *A, bool rows, int kind, const double *mean,
                               int64_t nlines, int64_t nblk, double *part, size_t np)
{
    int nprow, npcol, myrow, mycol;
    nd_spmd_grid(&nprow, &npcol, &myrow, &mycol);
    size_t nm = mean ? (size_t)nlines : 0;
    double *d = dev_alloc(np), *dm = nm ? dev_alloc(nm) : NULL;
    nd_status st = nd_spmd_agree(d && (!nm || dm) ? ND_OK
                                                  : nd_err_set(ND_ENOMEM, "out of GPU memory"));
    if (st == ND_OK) {
        if (nm) cuda_ok(cudaMemcpyAsync(dm, mean, nm * sizeof(double), cudaMemcpyHostToDevice, g.s),
                        "upload means");
        cuda_ok(cudaMemsetAsync(d, 0, np * sizeof(double), g.s), "memset");
        nd_cuk_axis_partials(kind, rows, A->dev, A->lld, A->mloc, A->nloc, A->nb, nprow, npcol,
                             myrow, mycol, nblk, dm, d, g.s);
        cuda_ok(cudaGetLastError(), "axis partials kernel");
        combine_download(d, part, np, "axis reduction");
    }
    if (d) dev_free(d, np);
    if (dm) dev_free(dm, nm);
    if (st != ND_OK) return st;
    return g.mpi ? nd_dm_combine(part, np) : ND_OK;
}

/* ---- matmul: devsumma.c over CUDA, cuBLAS and NCCL (or MPI) ------------------------ */

static void copy2d(double *dst, size_t dld, const double *src, size_t sld, size_t rows,
                   size_t cols)
{
    cuda_ok(cudaMemcpy2DAsync(dst, dld * sizeof(double), src, sld * sizeof(double),
                              rows * sizeof(double), cols, cudaMemcpyDeviceToDevice, g.s),
            "copy panel");
}

static void gemm(int m, int n, int k, const double *a, int lda, const double *b, int ldb,
                 bool acc, double *c, int ldc)
{
    const double one = 1.0, zero = 0.0;
    blas_ok(cublasDgemm(g.blas, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, a, lda, b, ldb,
                        acc ? &one : &zero, c, ldc),
            "cublasDgemm");
}

static void summa_finish(void) { finish("matmul"); }

static void nccl_bcast(const double *src, double *dst, size_t cnt, int root, bool row)
{
    nccl_ok(ncclBroadcast(src, dst, cnt, ncclDouble, root, row ? g.row : g.col, g.s),
            row ? "ncclBroadcast (A panel)" : "ncclBroadcast (B panel)");
}

static void nccl_group(bool begin)
{
    nccl_ok(begin ? ncclGroupStart() : ncclGroupEnd(), begin ? "ncclGroupStart" : "ncclGroupEnd");
}

/* gpu_comm: mpi's staging copies, ordered after the work queued on the stream. */
static void stage_down(double *h, const double *d, size_t n)
{
    cuda_ok(cudaMemcpyAsync(h, d, n * sizeof(double), cudaMemcpyDeviceToHost, g.s), "download panel");
    finish("download panel");
}

static void stage_up(double *d, const double *h, size_t n)
{
    cuda_ok(cudaMemcpyAsync(d, h, n * sizeof(double), cudaMemcpyHostToDevice, g.s), "upload panel");
    finish("upload panel");
}

/* Collective.  *C := A @ B, all with blocks nb on the current grid, left on the device. */
static nd_status matmul(const nd_dm *A, const nd_dm *B, nd_dm **C)
{
    nd_devsumma_ops d = {
        .alloc = dev_alloc,
        .free = dev_free,
        .copy2d = copy2d,
        .gemm = gemm,
        .finish = summa_finish,
        .bcast = g.mpi ? NULL : nccl_bcast,
        .group = nccl_group,
        .download = stage_down,
        .upload = stage_up,
        .rowc = g.rowc,
        .colc = g.colc,
        .panel_cols = PANEL_COLS,
        .force_bcast = g.force_bcast,
    };
    return nd_devsumma_matmul(&d, A, B, C);
}

static void transpose(const nd_dm *A, nd_dm *C)
{
    const double one = 1.0, zero = 0.0;
    blas_ok(cublasDgeam(g.blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)C->m, (int)C->n, &one, A->dev,
                        A->lld, &zero, C->dev, C->lld, C->dev, C->lld),
            "cublasDgeam");
    finish("transpose");
}

/* ---- cuSOLVER on one device ------------------------------------------------------ */

/* Rank-local scratch: a device int for INFO plus n pivots, and lwork doubles. */
typedef struct scratch {
    int *ints;
    size_t nints;
    double *work;
    size_t nwork;
} scratch;

static nd_status scratch_get(scratch *s, size_t nints, size_t nwork)
{
    memset(s, 0, sizeof *s);
    s->ints = raw_alloc(nints * sizeof(int));
    if (!s->ints) goto oom;
    s->nints = nints;
    s->work = nwork ? raw_alloc(nwork * sizeof(double)) : NULL;
    if (nwork && !s->work) goto oom;
    s->nwork = nwork;
    return ND_OK;
oom:
    if (s->ints) cuda_ok(cudaFree(s->ints), "cudaFree");
    memset(s, 0, sizeof *s);
    return nd_err_set(ND_ENOMEM, "out of GPU memory (solver work space)");
}

static void scratch_put(scratch *s)
{
    if (s->ints) cuda_ok(cudaFree(s->ints), "cudaFree");
    if (s->work) cuda_ok(cudaFree(s->work), "cudaFree");
}

static int read_info(const scratch *s, const char *what)
{
    int info = 0;
    cuda_ok(cudaMemcpyAsync(&info, s->ints, sizeof info, cudaMemcpyDeviceToHost, g.s), what);
    finish(what);
    return info;
}

/* A copy of A (n-by-n, on the device) to factor in place. */
static nd_status dev_copy_of(const nd_dm *A, nd_dm **F)
{
    ND_TRY(nd_dm_to_dev(1, &A));
    ND_TRY(nd_dm_alloc_dev(A->m, A->n, F));
    dev_copy((*F)->dev, A->dev, A->cap);
    return ND_OK;
}

static nd_status solve(const nd_dm *A, const nd_dm *B, nd_dm **X)
{
    *X = NULL;
    nd_dm *F = NULL;
    ND_TRY(dev_copy_of(A, &F));
    nd_status st = dev_copy_of(B, X);
    int n = (int)A->n, lwork = 0;
    scratch s = {0};
    if (st == ND_OK) {
        solver_ok(cusolverDnDgetrf_bufferSize(g.sol, n, n, F->dev, F->lld, &lwork),
                  "getrf_bufferSize");
        st = scratch_get(&s, 1 + (size_t)n, (size_t)lwork);
    }
    if (st == ND_OK) {
        solver_ok(cusolverDnDgetrf(g.sol, n, n, F->dev, F->lld, s.work, s.ints + 1, s.ints),
                  "getrf");
        int info = read_info(&s, "getrf");
        if (info > 0) st = nd_err_set(ND_EPROG, "singular matrix");
        else if (info < 0) st = nd_err_set(ND_EINTERNAL, "getrf: bad argument %d", -info);
    }
    if (st == ND_OK) {
        solver_ok(cusolverDnDgetrs(g.sol, CUBLAS_OP_N, n, (int)B->n, F->dev, F->lld, s.ints + 1,
                                   (*X)->dev, (*X)->lld, s.ints),
                  "getrs");
        int info = read_info(&s, "getrs");
        if (info < 0) st = nd_err_set(ND_EINTERNAL, "getrs: bad argument %d", -info);
    }
    scratch_put(&s);
    nd_dm_free(F);
    if (st != ND_OK) {
        nd_dm_free(*X);
        *X = NULL;
    }
    return st;
}

static nd_status cholesky(const nd_dm *A, nd_dm **L)
{
    *L = NULL;
    nd_dm *F = NULL;
    ND_TRY(dev_copy_of(A, &F));
    int n = (int)A->n, lwork = 0;
    solver_ok(cusolverDnDpotrf_bufferSize(g.sol, CUBLAS_FILL_MODE_LOWER, n, F->dev, F->lld,
                                          &lwork),
              "potrf_bufferSize");
    scratch s;
    nd_status st = scratch_get(&s, 1, (size_t)lwork);
    if (st == ND_OK) {
        solver_ok(cusolverDnDpotrf(g.sol, CUBLAS_FILL_MODE_LOWER, n, F->dev, F->lld, s.work,
                                   lwork, s.ints),
                  "potrf");
        int info = read_info(&s, "potrf");
        if (info > 0) st = nd_err_set(ND_EPROG, "matrix is not positive definite");
        else if (info < 0) st = nd_err_set(ND_EINTERNAL, "potrf: bad argument %d", -info);
    }
    if (st == ND_OK) {
        nd_cuk_zero_tri(F->dev, n, n, F->lld, 1, g.s);
        finish("cholesky");
    }
    scratch_put(&s);
    if (st != ND_OK) {
        nd_dm_free(F);
        return st;
    }
    *L = F;
    return ND_OK;
}

static nd_status eigh(const nd_dm *A, nd_dm **w, nd_dm **V)
{
    *w = *V = NULL;
    nd_dm *F = NULL;
    ND_TRY(dev_copy_of(A, &F));
    int n = (int)A->n, lwork = 0;
    double *ev = ND_ALLOC_N(double, (size_t)n), *dw = dev_alloc((size_t)n);
    nd_status st = ev && dw ? ND_OK : nd_err_set(ND_ENOMEM, "out of memory (eigh)");
    scratch s = {0};
    if (st == ND_OK) {
        solver_ok(cusolverDnDsyevd_bufferSize(g.sol, CUSOLVER_EIG_MODE_VECTOR,
                                              CUBLAS_FILL_MODE_LOWER, n, F->dev, F->lld, dw,
                                              &lwork),
                  "syevd_bufferSize");
        st = scratch_get(&s, 1, (size_t)lwork);
    }
    if (st == ND_OK) {
        solver_ok(cusolverDnDsyevd(g.sol, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, n,
                                   F->dev, F->lld, dw, s.work, lwork, s.ints),
                  "syevd");
        int info = read_info(&s, "syevd");
        if (info > 0) st = nd_err_set(ND_EPROG, "eigh did not converge (info %d)", info);
        else if (info < 0) st = nd_err_set(ND_EINTERNAL, "syevd: bad argument %d", -info);
    }
    if (st == ND_OK) download(ev, dw, (size_t)n);
    /* The sign convention runs on the host copy (docs/matrices.md). */
    if (st == ND_OK) st = nd_dm_sign_columns(F, NULL);
    if (st == ND_OK) st = nd_dm_from_colmajor(n, 1, ev, w);
    scratch_put(&s);
    if (dw) dev_free(dw, (size_t)n);
    ND_FREE_N(ev, (size_t)n);
    if (st != ND_OK) {
        nd_dm_free(F);
        return st;
    }
    *V = F;
    return ND_OK;
}

/* Reduced QR with geqrf + orgqr, as the host's pdgeqrf + pdorgqr (Householder, the
 * same sign choices as LAPACK). */
static nd_status qr(const nd_dm *A, nd_dm **Q, nd_dm **R)
{
    *Q = *R = NULL;
    int m = (int)A->m, n = (int)A->n, k = m < n ? m : n, l1 = 0, l2 = 0;
    nd_dm *F = NULL;
    ND_TRY(dev_copy_of(A, &F));
    double *tau = dev_alloc((size_t)k);
    nd_status st = tau ? ND_OK : nd_err_set(ND_ENOMEM, "out of GPU memory (qr)");
    scratch s = {0};
    if (st == ND_OK) {
        solver_ok(cusolverDnDgeqrf_bufferSize(g.sol, m, n, F->dev, F->lld, &l1), "geqrf_bufferSize");
        solver_ok(cusolverDnDorgqr_bufferSize(g.sol, m, k, k, F->dev, F->lld, tau, &l2),
                  "orgqr_bufferSize");
        st = scratch_get(&s, 1, (size_t)(l1 > l2 ? l1 : l2));
    }
    int lwork = l1 > l2 ? l1 : l2;
    if (st == ND_OK) {
        solver_ok(cusolverDnDgeqrf(g.sol, m, n, F->dev, F->lld, tau, s.work, lwork, s.ints),
                  "geqrf");
        int info = read_info(&s, "geqrf");
        if (info != 0) st = nd_err_set(ND_EINTERNAL, "geqrf: info %d", info);
    }
    /* R: the first k rows of the factored matrix, strict lower triangle zeroed. */
    if (st == ND_OK) st = nd_dm_alloc_dev(k, n, R);
    if (st == ND_OK) {
        cuda_ok(cudaMemcpy2DAsync((*R)->dev, (size_t)(*R)->lld * sizeof(double), F->dev,
                                  (size_t)F->lld * sizeof(double), (size_t)k * sizeof(double),
                                  (size_t)n, cudaMemcpyDeviceToDevice, g.s),
                "copy R");
        nd_cuk_zero_tri((*R)->dev, k, n, (*R)->lld, 0, g.s);
        solver_ok(cusolverDnDorgqr(g.sol, m, k, k, F->dev, F->lld, tau, s.work, lwork, s.ints),
                  "orgqr");
        int info = read_info(&s, "orgqr");
        if (info != 0) st = nd_err_set(ND_EINTERNAL, "orgqr: info %d", info);
    }
    /* Q: the first k columns (all of them when m >= n). */
    if (st == ND_OK && k == n) {
        *Q = F;
        F = NULL;
    } else if (st == ND_OK) {
        st = nd_dm_alloc_dev(m, k, Q);
        if (st == ND_OK) dev_copy((*Q)->dev, F->dev, (size_t)m * k);
    }
    scratch_put(&s);
    if (tau) dev_free(tau, (size_t)k);
    nd_dm_free(F);
    if (st != ND_OK) {
        nd_dm_free(*Q);
        nd_dm_free(*R);
        *Q = *R = NULL;
    }
    return st;
}

/* gesvd with thin U and V^T (m >= n); V is the transpose of V^T. */
static nd_status svd_tall(const nd_dm *A, nd_dm **U, double *sv, nd_dm **V)
{
    *U = *V = NULL;
    int m = (int)A->m, n = (int)A->n, lwork = 0;
    nd_dm *F = NULL, *VT = NULL;
    ND_TRY(dev_copy_of(A, &F));
    nd_status st = nd_dm_alloc_dev(m, n, U);
    if (st == ND_OK) st = nd_dm_alloc_dev(n, n, &VT);
    double *ds = st == ND_OK ? dev_alloc((size_t)n) : NULL;
    double *rw = st == ND_OK ? dev_alloc((size_t)n) : NULL;
    if (st == ND_OK && !(ds && rw)) st = nd_err_set(ND_ENOMEM, "out of GPU memory (svd)");
    scratch s = {0};
    if (st == ND_OK) {
        solver_ok(cusolverDnDgesvd_bufferSize(g.sol, m, n, &lwork), "gesvd_bufferSize");
        st = scratch_get(&s, 1, (size_t)lwork);
    }
    if (st == ND_OK) {
        solver_ok(cusolverDnDgesvd(g.sol, 'S', 'S', m, n, F->dev, F->lld, ds, (*U)->dev,
                                   (*U)->lld, VT->dev, VT->lld, s.work, lwork, rw, s.ints),
                  "gesvd");
        int info = read_info(&s, "gesvd");
        if (info > 0) st = nd_err_set(ND_EPROG, "svd did not converge (info %d)", info);
        else if (info < 0) st = nd_err_set(ND_EINTERNAL, "gesvd: bad argument %d", -info);
    }
    if (st == ND_OK) {
        download(sv, ds, (size_t)n);
        st = nd_dm_alloc_dev(n, n, V);
    }
    if (st == ND_OK) transpose(VT, *V);
    scratch_put(&s);
    if (ds) dev_free(ds, (size_t)n);
    if (rw) dev_free(rw, (size_t)n);
    nd_dm_free(VT);
    nd_dm_free(F);
    if (st != ND_OK) {
        nd_dm_free(*U);
        nd_dm_free(*V);
        *U = *V = NULL;
    }
    return st;
}

static const nd_dm_devops ops = {
    .name = "cuda",
    .alloc = dev_alloc,
    .free = dev_free,
    .upload = upload,
    .download = download,
    .get1 = get1,
    .set1 = set1,
    .copy = dev_copy,
    .ew = ew,
    .ew_scalar = ew_scalar,
    .map = map,
    .where = where,
    .partials = partials,
    .axis_partials = axis_partials,
    .transpose = transpose,
    .mem_avail = mem_avail,
};

static const nd_la_ops la_ops = {
    .name = "cuda",
    .matmul = matmul,
    .solve = solve,
    .cholesky = cholesky,
    .eigh = eigh,
    .qr = qr,
    .svd_tall = svd_tall,
};

/* ---- start-up -------------------------------------------------------------------- */

/* Collective over comm (of size n, this process at rank r): one NCCL communicator. */
static nd_status nccl_comm(MPI_Comm comm, ncclComm_t *out)
{
    int n, r;
    MPI_Comm_size(comm, &n);
    MPI_Comm_rank(comm, &r);
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    ncclResult_t e = r == 0 ? ncclGetUniqueId(&id) : ncclSuccess;
    int bad = e != ncclSuccess;
    MPI_Bcast(&bad, 1, MPI_INT, 0, comm);
    if (bad) return nd_err_set(ND_EIO, "NCCL: cannot create a communicator id");
    MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, comm);
    e = ncclCommInitRank(out, n, id, r);
    return e == ncclSuccess ? ND_OK
                            : nd_err_set(ND_EIO, "NCCL: %s", ncclGetErrorString(e));
}

/* The plugin's entry point (loader.c, cuda.h), the one symbol it exports. */
__attribute__((visibility("default"))) nd_cuda_plugin_start_fn nd_cuda_plugin_start;

nd_status nd_cuda_plugin_start(const nd_cuda_host *host, int dev, bool mpi_comm, bool info,
                               bool *active)
{
    nd_cuda_set_host(host);
    *active = false;
    g.mpi = mpi_comm;
    const char *f = getenv("NOODLE_GPU_SUMMA");
    g.force_bcast = f && strcmp(f, "bcast") == 0;
    nd_status st = ND_OK;
    if (cudaSetDevice(dev) != cudaSuccess || cudaStreamCreateWithFlags(&g.s, cudaStreamNonBlocking) != cudaSuccess)
        st = nd_err_set(ND_EIO, "CUDA: cannot use device %d: %s", dev,
                        cudaGetErrorString(cudaGetLastError()));
    if (st == ND_OK && (cublasCreate(&g.blas) != CUBLAS_STATUS_SUCCESS ||
                        cublasSetStream(g.blas, g.s) != CUBLAS_STATUS_SUCCESS))
        st = nd_err_set(ND_EIO, "cuBLAS: cannot start on device %d", dev);
    if (st == ND_OK && (cusolverDnCreate(&g.sol) != CUSOLVER_STATUS_SUCCESS ||
                        cusolverDnSetStream(g.sol, g.s) != CUSOLVER_STATUS_SUCCESS))
        st = nd_err_set(ND_EIO, "cuSOLVER: cannot start on device %d", dev);
    st = nd_spmd_agree(st);
    if (st != ND_OK) return st;
    /* The grid's row and column communicators, for the SUMMA broadcasts. */
    int myrow, mycol;
    nd_spmd_grid(NULL, NULL, &myrow, &mycol);
    MPI_Comm_split(nd_spmd_comm(), myrow, mycol, &g.rowc);
    MPI_Comm_split(nd_spmd_comm(), mycol, myrow, &g.colc);
    if (!g.mpi) {
        st = nccl_comm(nd_spmd_comm(), &g.world);
        if (st == ND_OK) st = nccl_comm(g.rowc, &g.row);
        if (st == ND_OK) st = nccl_comm(g.colc, &g.col);
        MPI_Comm_free(&g.rowc);
        MPI_Comm_free(&g.colc);
    }
    st = nd_spmd_agree(st);
    if (st != ND_OK) return st;
    nd_dm_set_backend(&ops);
    nd_la_set_device(&la_ops);
    *active = true;
    if (info && nd_spmd_rank() == 0) {
        struct cudaDeviceProp prop;
        int nccl = 0;
        char comm[64] = "MPI through host memory";
        if (cudaGetDeviceProperties(&prop, dev) != cudaSuccess) strcpy(prop.name, "?");
        if (!g.mpi) {
            ncclGetVersion(&nccl);
            snprintf(comm, sizeof comm, "NCCL %d.%d.%d", nccl / 10000, nccl / 100 % 100,
                     nccl % 100);
        }
        fprintf(stderr,
                "noodle-run: info: gpu: matrices on CUDA devices, %s (%s; cuBLAS, cuSOLVER, "
                "%s)\n",
                g.mpi ? "ranks may share a device" : "one per rank", prop.name, comm);
    }
    return ND_OK;
}
