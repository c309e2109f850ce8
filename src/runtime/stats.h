/* stats.h: rank-local run statistics (the nd_stats_ module): seconds spent in linear
 * algebra, communication and I/O, and the nominal floating-point operations of the
 * matrix work, for noodle-run's end-of-run summary (docs/config.md "Progress and
 * summary").
 *
 * Invariants: every accumulator is rank-local and only grows until nd_stats_reset.
 * Regions of one kind nest: only the outermost begin/end pair of a kind adds time, so a
 * builtin that calls another timed builtin, or an MPI call made from inside MPI, counts
 * once.  Regions of different kinds overlap freely: the MPI traffic inside a ScaLAPACK
 * call counts in both linear algebra and communication time.  Not thread-safe: the VM
 * and every MPI caller run on one thread per rank.
 */
#ifndef ND_STATS_H
#define ND_STATS_H

#include "common/nd.h"

typedef enum nd_stats_kind {
    ND_STATS_LA,   /* matrix builtins and matrix operators (wall time) */
    ND_STATS_COMM, /* time inside MPI communication calls */
    ND_STATS_IO,   /* h5read/h5write, store/load/query, checkpoint writes and reads */
    ND_STATS_NKINDS
} nd_stats_kind;

typedef struct nd_stats {
    double seconds[ND_STATS_NKINDS]; /* outermost regions only */
    uint64_t calls[ND_STATS_NKINDS]; /* outermost regions completed */
    double flops;                    /* nominal flops of the matrix work (global shapes) */
    /* Factorizations on a grid larger than 1x1 with a GPU backend: gathered onto rank 0's
     * device, or run by ScaLAPACK because it had no room (docs/gpu.md).  Uniform. */
    uint64_t gathered, gather_fallbacks;
} nd_stats;

/* Rank-local.  Opens a region of kind k; every begin must be matched by one end of the
 * same kind (an unknown kind is ignored by both). */
void nd_stats_begin(nd_stats_kind k);
void nd_stats_end(nd_stats_kind k);
/* Rank-local.  Adds nominal flops (negative or non-finite values are ignored).  Flop
 * counts come from the global shapes, so every rank adds the same number for a
 * collective operation. */
void nd_stats_add_flops(double flops);
/* Rank-local.  The flops added so far (equal on every rank: see above); cheap enough
 * for the VM to read after every builtin call. */
double nd_stats_flops_total(void);
/* Rank-local.  Counts a factorization that could go to rank 0's device: gathered there
 * (on_device), or run on the host instead. */
void nd_stats_count_gathered(bool on_device);
/* Rank-local.  A snapshot (time of regions still open is not included). */
void nd_stats_get(nd_stats *out);
/* Rank-local.  Zeroes every accumulator; open regions are forgotten. */
void nd_stats_reset(void);
/* Rank-local.  Monotonic clock in seconds (the clock the regions use). */
double nd_stats_now(void);

/* Nominal flop counts of the matrix builtins (docs/config.md lists them).  Arguments are
 * the global dimensions; the results are doubles so that large shapes do not overflow. */
double nd_stats_flops_matmul(int64_t m, int64_t k, int64_t n);       /* 2mnk */
double nd_stats_flops_solve(int64_t n, int64_t nrhs);                /* 2n^3/3 + 2n^2 nrhs */
double nd_stats_flops_inv(int64_t n);                                /* 2n^3 */
double nd_stats_flops_det(int64_t n);                                /* 2n^3/3 */
double nd_stats_flops_cholesky(int64_t n);                           /* n^3/3 */
double nd_stats_flops_qr(int64_t m, int64_t n);  /* 2ab^2 - 2b^3/3, a = max, b = min */
double nd_stats_flops_eigh(int64_t n);                               /* 4n^3 (nominal) */
double nd_stats_flops_svd(int64_t m, int64_t n); /* 14ab^2 + 8b^3 (nominal) */

#endif
