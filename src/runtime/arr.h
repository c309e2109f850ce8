/* arr.h: n-d arrays (the nd_arr_ module) on top of the distributed matrices of dm.h.
 *
 * An array is an nd_dm with a logical shape of 1 to ND_MAXDIM dimensions (each >= 1);
 * a matrix is the 2-D case, and every nd_dm made by dm.h is 2-D.  The elements, in
 * row-major (C) order, are stored as an R-by-C matrix ("the fold"): flat index f lives at
 * storage row f / C, column f % C, 2-D block-cyclic as every nd_dm.  The fold depends only
 * on the shape (never on the rank count), so the block-order reductions of dm.h stay
 * bit-identical at any rank count:
 *   2-D:  R x C = d0 x d1 (a matrix is stored as before);
 *   1-D:  n = R * C with C the largest divisor of n that is <= sqrt(n) when that is at
 *         least ND_ARR_MINFOLD, else 1 x n, so that long vectors spread over every rank;
 *   k-D (k >= 3): split at the dimension boundary nearest to square: C the product of
 *         the trailing dimensions after the split, R of the leading ones, max(R/C, C/R)
 *         least (ties: the larger R).
 * Arrays of equal shape have equal layouts, so dm.h's elementwise functions and
 * whole-array reductions work on them unchanged.  docs/arrays.md has the layout and the
 * cost of each redistribution.
 *
 * Every function is Collective unless marked Rank-local; errors the program can cause
 * return ND_EPROG with a message on every rank (no position; the VM adds it).  Outputs
 * (nd_dm **) are new arrays the caller frees with nd_dm_free; inputs are borrowed.
 */
#ifndef ND_ARR_H
#define ND_ARR_H

#include "runtime/dm.h"

#define ND_ARR_MINFOLD 64

/* ---- shape (Rank-local, replicated) ---- */
int nd_arr_ndim(const nd_dm *A);
/* ND_MAXDIM entries; those past ndim are 1. */
const int64_t *nd_arr_shape(const nd_dm *A);
int64_t nd_arr_size(const nd_dm *A);
/* Rank-local: true when A and B have the same shape. */
bool nd_arr_same_shape(const nd_dm *A, const nd_dm *B);
/* Rank-local: "5", "4x5x6" (at most ND_SHAPE_STR bytes with the NUL). */
#define ND_SHAPE_STR 192
const char *nd_arr_shape_str(int nd, const int64_t *shape, char buf[ND_SHAPE_STR]);
/* Rank-local: checks 1 <= nd <= ND_MAXDIM, every dimension >= 1 and the product within
 * int64 (ND_EPROG "FN: ..." otherwise; fn names the builtin). */
nd_status nd_arr_check_shape(const char *fn, int nd, const int64_t *shape);
/* Rank-local: normalizes axis (negative counts from the end) for an nd-dimensional
 * array: ND_EPROG "FN: axis X is out of range for a N-d array" when outside. */
nd_status nd_arr_axis(const char *fn, int64_t axis, int nd, int *out);

/* ---- construction ---- */
/* Zero-filled. */
nd_status nd_arr_alloc(int nd, const int64_t *shape, nd_dm **out);
nd_status nd_arr_fill(int nd, const int64_t *shape, double v, nd_dm **out);
/* Each value depends only on (seed, multi-index): for 2-D as nd_dm_rand; a 1-D index i
 * as the 2-D (i, 0); a box at the origin of any shape holds the values of that box. */
nd_status nd_arr_rand(int nd, const int64_t *shape, int64_t seed, bool normal, nd_dm **out);
/* 1-D: a, a + step, ... while < b (step > 0) or > b (step < 0), as numpy's arange;
 * ND_EPROG for step 0 or an empty range. */
nd_status nd_arr_arange(double a, double b, double step, nd_dm **out);
/* From row-major data that every rank holds identically. */
nd_status nd_arr_from_rowmajor(int nd, const int64_t *shape, const double *data,
                               nd_dm **out);
/* Gathers all elements, row-major, on every rank; *out is nd_malloc'd (size(A)
 * doubles, freed with ND_FREE_N).  Memory: the whole array on every rank. */
nd_status nd_arr_to_rowmajor(const nd_dm *A, double **out);
/* A's elements in row-major order with a new shape of the same size (one entry may be
 * -1: inferred).  A reshape that keeps the fold is a copy of the local part. */
nd_status nd_arr_reshape(const nd_dm *A, int nd, const int64_t *shape, nd_dm **out);
/* Rank-local: A's shape becomes shape (same size AND same fold, e.g. 2-D n-by-1 <->
 * 1-D n when n's fold is n x 1): false, A unchanged, otherwise. */
bool nd_arr_relabel(nd_dm *A, int nd, const int64_t *shape);

/* ---- moving elements by flat (row-major) index ---- */
/* Collective.  Each rank asks for n elements of A by flat index (any order, repeats
 * allowed, n may differ between ranks and be 0): vals[k] := A.flat[flats[k]].
 * Memory: about 3 * n doubles beyond the arguments; callers bound n with
 * nd_arr_piece() so that large arrays move in pieces. */
nd_status nd_arr_fetch(const nd_dm *A, size_t n, const int64_t *flats, double *vals);
/* Collective.  The reverse: A.flat[flats[k]] := vals[k] (the caller sends each flat
 * index from one rank, once). */
nd_status nd_arr_deposit(nd_dm *A, size_t n, const int64_t *flats, const double *vals);
/* Rank-local: the number of elements this rank holds, and their flat indices in the
 * order of the local storage (A->a[li + lj * lld], lj outer, li inner). */
size_t nd_arr_local_count(const nd_dm *A);
void nd_arr_local_flats(const nd_dm *A, int64_t *flats);
/* Collective: the number of pieces of at most nd_arr_piece_elems() elements that a job
 * of n local elements takes, the largest over all ranks (every rank loops that many
 * times, passing 0 elements when it has no more). */
size_t nd_arr_piece_elems(void);
nd_status nd_arr_pieces(size_t n, size_t *npieces);

/* ---- a strided view: the general gather ---- */
/* dst (of the given shape) := src.flat[off + sum_k idx[k] * stride[k]] for every
 * multi-index idx of dst (strides may be 0, broadcasting, or negative).  The caller
 * guarantees every addressed flat index is inside src. */
nd_status nd_arr_view(const nd_dm *src, int nd, const int64_t *shape, int64_t off,
                      const int64_t *stride, nd_dm **out);
/* The reverse: dst.flat[off + sum idx[k] * stride[k]] := src[idx] for every idx of src's
 * shape (shape given; src has that shape) (no two idx may address one element). */
nd_status nd_arr_view_assign(nd_dm *dst, int nd, const int64_t *shape, int64_t off,
                             const int64_t *stride, const nd_dm *src);
/* Rank-local: the row-major strides (in elements) of a shape. */
void nd_arr_strides(int nd, const int64_t *shape, int64_t *stride);

/* ---- elements and subscripts ---- */
/* One element by its full multi-index (idx already normalized and in range). */
nd_status nd_arr_get(const nd_dm *A, const int64_t *idx, double *v);
nd_status nd_arr_set(nd_dm *A, const int64_t *idx, double v);

/* One subscript of A[...]: an int (ND_SUB_INDEX, start) or a slice
 * start:stop:step with any part omitted (has bits). */
enum { ND_SUB_INDEX = 0, ND_SUB_SLICE = 1 };
enum { ND_SUB_HAS_START = 1, ND_SUB_HAS_STOP = 2, ND_SUB_HAS_STEP = 4 };
typedef struct nd_sub {
    int64_t start, stop, step;
    uint8_t kind, has;
} nd_sub;
/* A[subs]: LANGUAGE.md "Indexing": negative indices, steps, fewer subscripts than
 * dimensions; an int removes its axis except that a result of a 2-D array stays 2-D, and
 * one int on an n-by-1 or 1-by-n matrix (or on a 1-D array) gives the element.  When the
 * result is one element, *scalar gets it and *out is NULL; else *out is a new array.
 * Errors (ND_EPROG): too many subscripts, an index or bound out of range, a step of 0,
 * an empty slice. */
nd_status nd_arr_subscript(const nd_dm *A, int nsub, const nd_sub *subs, nd_dm **out,
                           double *scalar);
/* Collective, host memory: X op A[subs] (A[subs] op X when sub_left), or with the number
 * s for X when X is NULL, without copying the selection first (the stencil's `U[1:-1] +
 * U[2:]`): into W when given (W == X, a temporary the caller gives up), else into a new
 * *out.  The selection is read in place where this rank holds it; at several ranks the
 * rest is gathered into a scratch array first.  Only when X has the selection's shape
 * and the selection maps storage rows and columns to rows and columns (the same decision
 * on every rank); otherwise (or on a device) *out is NULL and nothing was done.  The
 * errors of nd_arr_subscript. */
nd_status nd_arr_ew_subscript(nd_ew_op op, const nd_dm *X, double s, const nd_dm *A, int nsub,
                              const nd_sub *subs, bool sub_left, nd_dm *W, nd_dm **out);
/* A[subs] := B (an array of the selected shape or one that broadcasts to it), or := v
 * when B is NULL. */
nd_status nd_arr_subassign(nd_dm *A, int nsub, const nd_sub *subs, const nd_dm *B,
                           double v);

/* ---- elementwise, broadcasting as numpy ---- */
/* Rank-local: the broadcast shape of two shapes, or ND_EPROG "shape mismatch: 4x3 OP 5"
 * (sym: the operator or function, for the message). */
nd_status nd_arr_broadcast_shape(const char *sym, int na, const int64_t *sa, int nb,
                                 const int64_t *sb, int *nd, int64_t *shape);
/* A op B with broadcasting (every nd_ew_op). */
nd_status nd_arr_binop(nd_ew_op op, const nd_dm *A, const nd_dm *B, nd_dm **out);
/* A op s, or s op A when scalar_left. */
nd_status nd_arr_binop_scalar(nd_ew_op op, const nd_dm *A, double s, bool scalar_left,
                              nd_dm **out);
/* A with shape broadcast to (nd, shape) (a copy; ND_EPROG when it does not broadcast). */
nd_status nd_arr_broadcast_to(const nd_dm *A, int nd, const int64_t *shape, nd_dm **out);
/* where(M, A, B): each of M, A, B is an array or (when NULL) the number m, a, b. */
nd_status nd_arr_where(const nd_dm *M, double m, const nd_dm *A, double a, const nd_dm *B,
                       double b, nd_dm **out);

/* ---- along an axis (arr_axis.c) ---- */
typedef enum nd_axis_op {
    ND_AX_SUM, ND_AX_MEAN, ND_AX_MIN, ND_AX_MAX, ND_AX_STD, ND_AX_ARGMIN, ND_AX_ARGMAX,
    ND_AX_ANY, ND_AX_ALL
} nd_axis_op;
/* Over all elements: *out the float value (ARGMIN/ARGMAX: the flat row-major index of
 * the first extreme, as a double; ANY/ALL: 1.0 or 0.0). */
nd_status nd_arr_reduce_all(nd_axis_op op, const nd_dm *A, double *out);
/* Along axis (already normalized): a 1-D A gives a number in *scalar (*out NULL); a
 * 2-D A keeps 2-D (1-by-n or m-by-1); k-D (k >= 3) removes the axis.  Bit-identical at
 * any rank count. */
nd_status nd_arr_reduce_axis(nd_axis_op op, const nd_dm *A, int axis, nd_dm **out,
                             double *scalar);
typedef enum nd_scan_op { ND_SCAN_CUMSUM, ND_SCAN_SORT, ND_SCAN_ARGSORT, ND_SCAN_FLIP } nd_scan_op;
/* Same shape as A, along axis (normalized).  SORT/ARGSORT stable, NaN last. */
nd_status nd_arr_scan(nd_scan_op op, const nd_dm *A, int axis, nd_dm **out);

/* ---- restructuring (arr_shape.c) ---- */
/* axes: a permutation of 0..nd-1 (ND_EPROG otherwise). */
nd_status nd_arr_permute(const nd_dm *A, const int *axes, nd_dm **out);
nd_status nd_arr_concat(int n, const nd_dm *const *parts, int axis, nd_dm **out);
nd_status nd_arr_stack(int n, const nd_dm *const *parts, int axis, nd_dm **out);
nd_status nd_arr_kron(const nd_dm *A, const nd_dm *B, nd_dm **out);
/* .T: nd_dm_transpose for a 2-D A, the axes reversed otherwise (a 1-D A: a copy). */
nd_status nd_arr_transpose(const nd_dm *A, nd_dm **out);

#endif
