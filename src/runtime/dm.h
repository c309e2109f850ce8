/* dm.h: distributed dense matrices (the nd_dm_ module).
 *
 * A matrix is an m-by-n array of doubles distributed 2-D block-cyclic over the BLACS
 * grid of nd_spmd, with one ScaLAPACK descriptor per matrix and column-major local
 * storage.  The shape is replicated; the blocks are not.  Whether the blocks live on
 * the host or a GPU is hidden behind this interface (the device primitives come from
 * src/la/cuda through dm_layout.h; the linear algebra on these matrices is src/la/la.h).
 *
 * Every function is Collective (all ranks call it together, with the same arguments)
 * unless marked Rank-local.  Indices are 0-based; ranges are half-open.  Errors the
 * program can cause (bad shape, index out of range, singular matrix, not positive
 * definite) return ND_EPROG with a message on every rank, without a source position;
 * the caller adds it.  Results do not depend on the number of ranks: rand/randn,
 * elementwise operations, copies and the reductions are bit-identical at any rank
 * count (reduction order fixed by global block index: docs/matrices.md).
 *
 * Ownership: a function that returns an nd_dm ** gives the caller a new matrix, which
 * it frees with nd_dm_free.  Inputs are borrowed.
 */
#ifndef ND_DM_H
#define ND_DM_H

#include "common/nd.h"

typedef struct nd_dm nd_dm;

/* Arrays have 1 to ND_MAXDIM dimensions (runtime/arr.h); a matrix is the 2-D case. */
#define ND_MAXDIM 8

/* Rank-local, replicated. */
int64_t nd_dm_rows(const nd_dm *A);
int64_t nd_dm_cols(const nd_dm *A);
/* Uniform: ND_EPROG "FN: matrix must be square (RxC)" unless A is square; the one
 * square check of every operation that needs one (fn: the builtin's name). */
nd_status nd_dm_need_square(const char *fn, const nd_dm *A);
/* Rank-local.  Frees the local blocks; every rank frees its part (no communication). */
void nd_dm_free(nd_dm *A);
/* Rank-local: bytes of local storage held by A (for memory accounting). */
size_t nd_dm_local_bytes(const nd_dm *A);

/* Construction.  Dimensions must be >= 1 and fit ScaLAPACK's 32-bit descriptors. */
nd_status nd_dm_zeros(int64_t m, int64_t n, nd_dm **out);
nd_status nd_dm_fill(int64_t m, int64_t n, double v, nd_dm **out);
nd_status nd_dm_eye(int64_t n, nd_dm **out);
/* Counter-based: each value depends only on (seed, i, j).  normal: standard normal,
 * else uniform in [0, 1). */
nd_status nd_dm_rand(int64_t m, int64_t n, int64_t seed, bool normal, nd_dm **out);
/* n-by-1 with a + (b - a) * k / (n - 1); n == 1 gives [a]. */
nd_status nd_dm_linspace(double a, double b, int64_t n, nd_dm **out);
/* From a column-major array that every rank holds identically. */
nd_status nd_dm_from_colmajor(int64_t m, int64_t n, const double *data, nd_dm **out);
/* Gathers the whole matrix, column-major, on every rank; *out is nd_malloc'd
 * (m * n * sizeof(double) bytes, freed with nd_free). */
nd_status nd_dm_to_colmajor(const nd_dm *A, double **out);

/* Elements and blocks. */
nd_status nd_dm_get(const nd_dm *A, int64_t i, int64_t j, double *v);
nd_status nd_dm_set(nd_dm *A, int64_t i, int64_t j, double v);
nd_status nd_dm_slice(const nd_dm *A, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                      nd_dm **out);
/* A[r0:r0+rows(B), c0:c0+cols(B)] := B */
nd_status nd_dm_assign(nd_dm *A, int64_t r0, int64_t c0, const nd_dm *B);
nd_status nd_dm_assign_scalar(nd_dm *A, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                              double v);
nd_status nd_dm_copy(const nd_dm *A, nd_dm **out);
nd_status nd_dm_transpose(const nd_dm *A, nd_dm **out);
nd_status nd_dm_hcat(const nd_dm *A, const nd_dm *B, nd_dm **out);
nd_status nd_dm_vcat(const nd_dm *A, const nd_dm *B, nd_dm **out);
/* n-by-1 or 1-by-n -> diagonal matrix; square -> its diagonal as n-by-1. */
nd_status nd_dm_diag(const nd_dm *A, nd_dm **out);

/* Elementwise. */
/* All run on a device backend too.  MOD takes the sign of the divisor, FLOORDIV floors; the comparisons give 1.0 or 0.0; MAX/MIN propagate NaN
 * (numpy's maximum/minimum); ATAN2(y, x). */
typedef enum nd_ew_op {
    ND_EW_ADD, ND_EW_SUB, ND_EW_MUL, ND_EW_DIV, ND_EW_POW,
    ND_EW_MOD, ND_EW_FLOORDIV, ND_EW_LT, ND_EW_LE, ND_EW_GT, ND_EW_GE, ND_EW_EQ, ND_EW_NE,
    ND_EW_MAX, ND_EW_MIN, ND_EW_ATAN2
} nd_ew_op;
#define ND_EW_NOPS 16
/* Rank-local: the operator or function name of op ("+", "//", "maximum"). */
const char *nd_ew_name(nd_ew_op op);
/* Rank-local: op applied to two numbers (the one definition, shared with the VM). */
double nd_ew_apply(nd_ew_op op, double x, double y);
/* Shapes must be equal: else ND_EPROG "shape mismatch: 2x3 + 3x2". */
nd_status nd_dm_ew(nd_ew_op op, const nd_dm *A, const nd_dm *B, nd_dm **out);
/* A op s, or s op A when scalar_left. */
nd_status nd_dm_ew_scalar(nd_ew_op op, const nd_dm *A, double s, bool scalar_left,
                          nd_dm **out);
typedef enum nd_map_fn {
    ND_MAP_NEG, ND_MAP_ABS, ND_MAP_SQRT, ND_MAP_EXP, ND_MAP_LOG, ND_MAP_SIN, ND_MAP_COS,
    ND_MAP_TANH, ND_MAP_TAN, ND_MAP_ATAN, ND_MAP_FLOOR, ND_MAP_CEIL, ND_MAP_ROUND
} nd_map_fn;
/* All run on a device backend too.  ROUND: halves away from zero. */
nd_status nd_dm_map(nd_map_fn f, const nd_dm *A, nd_dm **out);
/* In place: C := A op B, C := A op s (s op A), C := f(A), with C of A's layout (and B's);
 * C may be A or B.  For the broadcasting of arr.c and the VM's reuse of temporaries. */
nd_status nd_dm_ew_into(nd_ew_op op, const nd_dm *A, const nd_dm *B, nd_dm *C);
nd_status nd_dm_ew_scalar_into(nd_ew_op op, const nd_dm *A, double s, bool scalar_left,
                               nd_dm *C);
nd_status nd_dm_map_into(nd_map_fn f, const nd_dm *A, nd_dm *C);

/* Reductions.  (Products and the rest of linear algebra: src/la/la.h.) */
/* ND_RED_SUMSQ: the sum of squares, norm(A)^2 before the square root. */
typedef enum nd_red_op {
    ND_RED_SUM, ND_RED_MEAN, ND_RED_MIN, ND_RED_MAX, ND_RED_TRACE, ND_RED_NORM_FRO,
    ND_RED_NORM_1, ND_RED_NORM_INF, ND_RED_SUMSQ
} nd_red_op;
nd_status nd_dm_reduce(nd_red_op op, const nd_dm *A, double *out);
/* x, y vectors (n-by-1 or 1-by-n, either orientation) of equal length. */
nd_status nd_dm_dot(const nd_dm *x, const nd_dm *y, double *out);

/* Parallel HDF5: a dataset of doubles of the array's logical shape in row-major file
 * order (what h5py shows: a matrix is 2-D, a 1-D array 1-D).  h5read reads a numeric
 * dataset of 1 to ND_MAXDIM dimensions into an array of its shape (a scalar or an empty
 * dataset is ND_EIO).  h5write replaces an existing dataset of that name; the file is
 * created if missing.  I/O failures return ND_EIO on every rank. */
nd_status nd_dm_h5write(const char *path, const char *dataset, const nd_dm *A);
nd_status nd_dm_h5read(const char *path, const char *dataset, nd_dm **out);

/* Added (runtime module): the same, inside an HDF5 file or group that all ranks opened
 * collectively with the MPI-IO driver (loc_id is its hid_t).  For the checkpoint and
 * catalog modules.  h5write_loc replaces an existing dataset of that name. */
nd_status nd_dm_h5write_loc(int64_t loc_id, const char *dataset, const nd_dm *A);
nd_status nd_dm_h5read_loc(int64_t loc_id, const char *dataset, nd_dm **out);

#endif
