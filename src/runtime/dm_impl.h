/* dm_impl.h: what only the runtime's matrix code (dm.c, dm_h5.c) and its unit test use
 * beyond dm_layout.h, the representation shared with the linear-algebra backends:
 * the piece size of redistributions.
 */
#ifndef ND_DM_IMPL_H
#define ND_DM_IMPL_H

#include "runtime/dm_layout.h"

/* Rank-local, for tests: the budget in elements of one Cpdgemr2d call of slices, slice
 * assignment and hcat/vcat (<= 0: the default, 2^27). */
void nd_dm_set_redist_piece(int64_t elems);
/* Rank-local: the piece shape (1 <= rows <= m, 1 <= cols <= n) for moving an m-by-n
 * block with block size nb: (rows + nb)(cols + nb) <= budget whenever (1 + nb)^2 <=
 * budget, and one piece when the whole block fits. */
void nd_dm_redist_shape(int64_t m, int64_t n, int64_t nb, int64_t budget, int64_t *rows,
                        int64_t *cols);

/* Rank-local: the value of rand (normal: randn) at multi-index idx (nd >= 1 entries) for
 * seed: nd_dm_rand's value at (i, j) for 2-D, (i, 0) for 1-D (arr.c). */
double nd_dm_rand_value(uint64_t seed, const int64_t *idx, int nd, bool normal);

/* Collective: nd_dm_alloc without the zero fill, for results whose every local element
 * is written before it is read (views, broadcasts, constructors). */
nd_status nd_dm_alloc_raw(int64_t m, int64_t n, nd_dm **out);

/* Rank-local: c[k] := a[k] op b[k], or s op b[k] (a NULL), or a[k] op s (b NULL), for
 * k < n: the host loop of the elementwise operations (c may be a or b). */
void nd_dm_ew_run(nd_ew_op op, const double *a, const double *b, double s, double *c, size_t n);

/* Rank-local, for tests: exp(x) as the array operations compute it (within about 1 ulp
 * of libm's). */
double nd_exp_array_value(double x);

/* Rank-local, for tests: the piece size of arr.c's element moves (0: the default). */
void nd_arr_set_piece_elems(size_t n);

#endif
