/* spmd.h: the SPMD layer: MPI start-up, the process grid, broadcasts, uniform errors,
 * the collective consistency check and the fatal path for rank-local failures.
 *
 * One process-wide context (the VM is single-threaded).  MPI runs with
 * MPI_ERRORS_RETURN.  Every function says whether all ranks must call it together
 * (Collective) or not (Rank-local).
 */
#ifndef ND_SPMD_H
#define ND_SPMD_H

#include "common/nd.h"

#include <mpi.h>

typedef struct nd_spmd_opts {
    int block_size;      /* block-cyclic block size, >= 1 (0 = the default block_size of
                            config/keys.def); the configuration checks user values */
    int grid_rows;       /* process grid (0 = near-square from the rank count) */
    int grid_cols;
    bool check_collectives; /* the consistency check (default true) */
} nd_spmd_opts;

/* Collective.  MPI_Init (unless already initialized), error handler, rank and size.
 * The grid is built lazily by nd_spmd_grid (BLACS is only started when needed). */
nd_status nd_spmd_init(int *argc, char ***argv);
/* Collective.  Applies options (block size, grid, checks); call before any matrix. */
nd_status nd_spmd_configure(const nd_spmd_opts *opts);
/* Collective.  Tears down BLACS and calls MPI_Finalize (MPI_Abort with exit_code where
 * HDF5 holds a file it could not close: nd_h5_files_stuck). */
void nd_spmd_finalize(int exit_code);

int nd_spmd_rank(void);             /* Rank-local */
int nd_spmd_size(void);             /* Rank-local */
MPI_Comm nd_spmd_comm(void);        /* Rank-local */
int nd_spmd_block_size(void);       /* Rank-local, replicated */
/* Rank-local, replicated: the BLACS context and grid shape (starts BLACS on first use,
 * which is collective: the first call must be made by all ranks together). */
int nd_spmd_blacs_ctx(void);
void nd_spmd_grid(int *nprow, int *npcol, int *myrow, int *mycol);

/* Solo mode.  Rank-local, on rank 0 of a job of several ranks, while the other ranks
 * wait in a later collective: until nd_spmd_solo_end, rank 0 is a job of its own (size 1,
 * MPI_COMM_SELF, a 1x1 BLACS grid), so that collective code (matrices, agreements, the
 * device factorizations, ScaLAPACK on the 1x1 grid) runs on it alone.  Matrices made in
 * solo mode have the 1x1 layout; they are freed rank-locally, and their data meets the
 * other ranks only through point-to-point messages after solo mode.  PBLAS topologies
 * (process-global) changed in solo mode are restored by nd_spmd_solo_end.  Used to
 * factor a gathered matrix on rank 0's device (docs/gpu.md). */
nd_status nd_spmd_solo_begin(void);
void nd_spmd_solo_end(void);

/* Collective.  Broadcasts n bytes from root (n may exceed INT_MAX). */
nd_status nd_spmd_bcast(void *buf, size_t n, int root);
/* Collective.  Broadcasts a buffer whose size only root knows; on other ranks *buf is
 * allocated with nd_malloc (size *n). */
nd_status nd_spmd_bcast_alloc(void **buf, size_t *n, int root);
/* Collective.  All ranks agree on a status: returns the worst (non-OK) status any rank
 * passed.  Used to turn rank-local failures into uniform ones before a collective. */
nd_status nd_spmd_agree(nd_status local);
/* Collective over comm (the catalog's, which need not be nd_spmd's; MPI_COMM_NULL:
 * returns local).  The same agreement, with the message of the lowest failing rank. */
nd_status nd_spmd_agree_on(MPI_Comm comm, nd_status local);
/* Rank-local: ND_EMPI with "WHAT failed: <MPI's error string for rc>". */
nd_status nd_spmd_mpi_fail(const char *what, int rc);
/* Collective.  wtime() of the language: rank 0's MPI_Wtime, broadcast, shifted so
 * that a restarted run continues from the value at its checkpoint. */
double nd_spmd_wtime(void);
/* Collective: from now on wtime() counts on from t (a restart, docs/checkpoint.md). */
void nd_spmd_set_wtime(double t);
/* Collective. */
nd_status nd_spmd_barrier(void);

/* The collective consistency check.  Collective: every rank passes a tag naming the
 * operation it is about to run (builtin id or opcode and the per-rank count of collective
 * operations) and its source position.  Returns ND_OK when all tags agree; otherwise
 * ND_EDIVERGED on every rank, with a message naming two positions where the ranks
 * diverged.  A rank that finishes or fails calls it with ND_SPMD_TAG_EXIT so that the
 * others are released instead of hanging.  Does nothing when checks are off. */
#define ND_SPMD_TAG_EXIT UINT64_C(0xFFFFFFFFFFFFFFFF)
#define ND_SPMD_TAG_FAILED UINT64_C(0xFFFFFFFFFFFFFFFE)
nd_status nd_spmd_check(uint64_t tag, const char *what, int line, int col);
/* Collective (when enabled): the check of a rank whose program failed.  The ranks that
 * meet it in their own check get ND_EDIVERGED and nd_spmd_peer_failed() true.  *lowest
 * := the lowest failed rank, *all := every rank failed (also without checks, or alone).
 * Then the lowest failed rank prints its error (with "(rank r)" unless all failed, when
 * rank 0 prints it as any uniform error) and every rank calls nd_spmd_barrier, so that
 * nobody exits before the message is out. */
nd_status nd_spmd_check_failed(int line, int col, int *lowest, bool *all);
/* Rank-local: whether a check met a failed rank (whose error that rank prints). */
bool nd_spmd_peer_failed(void);
bool nd_spmd_checks_enabled(void);

/* Rank-local fatal path: prints "path:LINE:COL: error: MSG (rank r)" (or "noodle: error:
 * MSG (rank r)" without a position), flushes, and MPI_Aborts every rank. */
_Noreturn void nd_spmd_fatal(const char *path, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
_Noreturn void nd_spmd_fatalv(const char *path, int line, int col, const char *fmt, va_list ap);

#endif
