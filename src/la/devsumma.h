/* devsumma.h: the SUMMA product of a device backend (src/la/devsumma.c).
 *
 * The panel logic of C := A @ B on the process grid, written against a few primitives
 * the backend supplies: device memory, 2-D copies, a local DGEMM and broadcasts along
 * grid rows and columns.  The CUDA plugin runs it with cuBLAS and NCCL, or with MPI
 * through host memory (gpu_comm: mpi); check_dm runs it with host primitives at 1 to 4
 * ranks, so the index logic that a GPU runs is tested on machines without one.
 * Algorithm: docs/gpu.md.  Built into both libnd_la and the plugin.
 */
#ifndef ND_LA_DEVSUMMA_H
#define ND_LA_DEVSUMMA_H

#include "runtime/dm_layout.h"

#include <mpi.h>

typedef struct nd_devsumma_ops {
    /* Rank-local device memory for n doubles; NULL when the device is full. */
    double *(*alloc)(size_t n);
    void (*free)(double *p, size_t n);
    /* Rank-local, may be queued: dst[i + j * dld] = src[i + j * sld], i < rows, j < cols
     * (device to device). */
    void (*copy2d)(double *dst, size_t dld, const double *src, size_t sld, size_t rows,
                   size_t cols);
    /* Rank-local, may be queued: C := A B, or C += A B with acc (column-major, m-by-k
     * times k-by-n, all > 0). */
    void (*gemm)(int m, int n, int k, const double *a, int lda, const double *b, int ldb,
                 bool acc, double *c, int ldc);
    /* Rank-local: waits for everything queued. */
    void (*finish)(void);
    /* The broadcasts, collective over this rank's grid row (row) or column: cnt doubles
     * from the root's src into every rank's dst (src == dst on the root: in place).
     * With bcast set, calls to it may be queued between group(true) and group(false)
     * (group may be NULL).  With bcast NULL, devsumma stages through host memory:
     * download (after the queued work) on the root, MPI_Bcast on rowc or colc, upload
     * on the others; both wait until the copy is done. */
    void (*bcast)(const double *src, double *dst, size_t cnt, int root, bool row);
    void (*group)(bool begin);
    void (*download)(double *h, const double *d, size_t n);
    void (*upload)(double *d, const double *h, size_t n);
    MPI_Comm rowc, colc; /* rank = grid column in rowc, grid row in colc */
    /* Columns of A (rows of B) per step, rounded down to whole blocks (at least one). */
    int64_t panel_cols;
    /* Broadcast even on a 1x1 grid (where it is otherwise one DGEMM): a test of the
     * broadcast code on one device. */
    bool force_bcast;
} nd_devsumma_ops;

/* Collective.  *C := A @ B on the current grid (shapes checked by the caller, one block
 * size): uploads A and B if needed and leaves the new C on the device.  ND_OK, ND_ENOMEM
 * on every rank (C and the panel buffers are agreed on before any data moves), or
 * ND_EMPI from a staged broadcast; *C is NULL on failure.  A backend's nd_la_ops.matmul. */
nd_status nd_devsumma_matmul(const nd_devsumma_ops *d, const nd_dm *A, const nd_dm *B,
                             nd_dm **C);

#endif
