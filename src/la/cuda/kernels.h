/* kernels.h: the CUDA kernels of the matrix backend (kernels.cu), callable from C.
 * Every launcher queues work on stream s and returns at once; the caller synchronizes.
 * Arrays are device pointers; n counts doubles.  Operation codes are those of dm.h
 * (nd_ew_op, nd_map_fn) and dm_layout.h (P_* partial kinds).
 */
#ifndef ND_LA_CUDA_KERNELS_H
#define ND_LA_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

void nd_cuk_ew(int op, const double *a, const double *b, double *c, size_t n, cudaStream_t s);
void nd_cuk_ew_scalar(int op, const double *a, double x, int scalar_left, double *c, size_t n,
                      cudaStream_t s);
void nd_cuk_map(int f, const double *a, double *c, size_t n, cudaStream_t s);
/* c := (m or ms) != 0 ? (a or as) : (b or bs); a NULL array stands for its number. */
void nd_cuk_where(const double *m, double ms, const double *a, double as, const double *b,
                  double bs, double *c, size_t n, cudaStream_t s);

/* The block partials of dm.c's reductions for the local part (mloc x nloc, leading
 * dimension lld, square blocks nb) of this rank at grid position (myrow, mycol) of
 * nprow x npcol: part[bi + bj * nbr] for each block this rank owns, in the host code's
 * order and rounding (one thread per block, no fused multiply-add). */
void nd_cuk_partials(int kind, const double *a, const double *b, int lld, int mloc, int nloc,
                     int nb, int nprow, int npcol, int myrow, int mycol, int64_t nbr,
                     double *part, cudaStream_t s);

/* The partials of arr_axis.c's reductions along the storage rows (rows 1) or columns
 * (rows 0) of the local part, kind ND_AXP_* of dm_layout.h: part[blk + line * nblk] (two
 * doubles per entry for the ARG kinds) for each local line and block, in the host code's
 * order and rounding (one thread per line and block); mean: a device array of the lines'
 * means (ND_AXP_SQDEV), else NULL. */
void nd_cuk_axis_partials(int kind, int rows, const double *a, int lld, int mloc, int nloc,
                          int nb, int nprow, int npcol, int myrow, int mycol, int64_t nblk,
                          const double *mean, double *part, cudaStream_t s);

/* Zeroes one strict triangle of an m-by-n matrix (leading dimension lld): above the
 * diagonal (i < j) when upper, else below it (i > j).  Cholesky and QR factors. */
void nd_cuk_zero_tri(double *a, int m, int n, int lld, int upper, cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif
