/* spmd.c: the SPMD layer (spmd.h): MPI start-up with MPI_ERRORS_RETURN, the lazily built
 * BLACS grid, broadcasts, status agreement, rank 0's clock, the collective consistency
 * check and the fatal path.
 *
 * Invariants: the grid shape and block size are replicated and never depend on anything
 * but the rank count and the configuration; the block size never on the rank count.
 * Specified by shared/DESIGN.md ("Rules of the SPMD runtime") and docs/matrices.md.
 */
#include "runtime/spmd.h"

#include "common/alloc.h"
#include "config/keys.h"
#include "runtime/blacs.h"
#include "runtime/h5.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    bool inited;      /* nd_spmd_init ran */
    bool own_mpi;     /* we called MPI_Init */
    MPI_Comm comm;
    int rank, size;
    int nb;
    int want_rows, want_cols; /* configured grid (0 = near-square) */
    bool checks;
    bool peer_failed; /* a check met a rank that had failed (ND_SPMD_TAG_FAILED) */
    bool blacs_up;
    int ctx, nprow, npcol, myrow, mycol;
    /* Solo mode (nd_spmd_solo_begin): the 1x1 grid of rank 0 alone (-1 until the first
     * solo mode, and on the other ranks), and what solo mode hides. */
    int solo_ctx;
    bool solo;
    MPI_Comm saved_comm;
    int saved_size, saved_ctx, saved_grid[4];
    char saved_top[6];
} S = {.comm = MPI_COMM_NULL, .nb = ND_CFG_DEFAULT_BLOCK_SIZE, .checks = true, .size = 1, .solo_ctx = -1};

nd_status nd_spmd_mpi_fail(const char *what, int rc)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "code %d", rc);
    return nd_err_set(ND_EMPI, "%s failed: %s", what, s);
}

#define MPI_TRY(what, call)                                                              \
    do {                                                                                 \
        int mpi_rc_ = (call);                                                            \
        if (mpi_rc_ != MPI_SUCCESS) return nd_spmd_mpi_fail((what), mpi_rc_);            \
    } while (0)

nd_status nd_spmd_init(int *argc, char ***argv)
{
    if (S.inited) return ND_OK;
    int flag = 0;
    MPI_Initialized(&flag);
    if (!flag) {
        int rc = MPI_Init(argc, argv);
        if (rc != MPI_SUCCESS) return nd_err_set(ND_EMPI, "MPI_Init failed (code %d)", rc);
        S.own_mpi = true;
    }
    S.comm = MPI_COMM_WORLD;
    MPI_TRY("MPI_Comm_set_errhandler", MPI_Comm_set_errhandler(S.comm, MPI_ERRORS_RETURN));
    MPI_TRY("MPI_Comm_rank", MPI_Comm_rank(S.comm, &S.rank));
    MPI_TRY("MPI_Comm_size", MPI_Comm_size(S.comm, &S.size));
    S.inited = true;
    return ND_OK;
}

/* Collective.  Options are replicated (rank 0 read the configuration and broadcast it),
 * so a bad grid is a uniform error. */
nd_status nd_spmd_configure(const nd_spmd_opts *opts)
{
    if (!opts) return ND_OK;
    ND_ASSERT(opts->block_size >= 0); /* range-checked by the configuration */
    if (opts->grid_rows || opts->grid_cols) {
        ND_CHECK(opts->grid_rows > 0 && opts->grid_cols > 0 &&
                     (int64_t)opts->grid_rows * opts->grid_cols == S.size,
                 ND_EUSAGE, "grid %dx%d does not match %d rank%s", opts->grid_rows,
                 opts->grid_cols, S.size, S.size == 1 ? "" : "s");
    }
    ND_CHECK(!S.blacs_up || (opts->grid_rows == S.want_rows && opts->grid_cols == S.want_cols),
             ND_EINTERNAL, "the process grid cannot change after the first matrix");
    S.nb = opts->block_size ? opts->block_size : ND_CFG_DEFAULT_BLOCK_SIZE;
    S.want_rows = opts->grid_rows;
    S.want_cols = opts->grid_cols;
    S.checks = opts->check_collectives;
    return ND_OK;
}

void nd_spmd_finalize(int exit_code)
{
    if (S.solo) nd_spmd_solo_end();
    if (S.blacs_up) {
        if (S.solo_ctx >= 0) Cblacs_gridexit(S.solo_ctx);
        Cblacs_gridexit(S.ctx);
        Cblacs_exit(1); /* 1: leave MPI running, we finalize it below */
        S.blacs_up = false;
    }
    int fin = 0, init = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin && nd_h5_files_stuck()) {
        /* the error is said; MPI_Finalize would run HDF5's exit handler, which crashes
         * on a file it could not close (a full disk): end the job without it */
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, exit_code ? exit_code : 1);
    }
    if (init && !fin) MPI_Finalize();
    S.inited = false;
}

int nd_spmd_rank(void) { return S.rank; }
int nd_spmd_size(void) { return S.size; }
MPI_Comm nd_spmd_comm(void) { return S.inited ? S.comm : MPI_COMM_WORLD; }
int nd_spmd_block_size(void) { return S.nb; }
bool nd_spmd_checks_enabled(void) { return S.checks; }

/* Near-square: the largest divisor of size that is <= sqrt(size) becomes the row count,
 * so rows <= cols and rows * cols == size. */
static void near_square(int size, int *r, int *c)
{
    int best = 1;
    for (int d = 1; (int64_t)d * d <= size; d++)
        if (size % d == 0) best = d;
    *r = best;
    *c = size / best;
}

static void blacs_start(void)
{
    if (S.blacs_up) return;
    int r = S.want_rows, c = S.want_cols;
    if (r <= 0 || c <= 0) near_square(S.size, &r, &c);
    int sys = 0;
    Cblacs_get(-1, 0, &sys);
    S.ctx = sys;
    Cblacs_gridinit(&S.ctx, "Row", r, c);
    Cblacs_gridinfo(S.ctx, &S.nprow, &S.npcol, &S.myrow, &S.mycol);
    S.blacs_up = true;
}

/* PBLAS keeps its broadcast and combine topologies in process-global state, and some
 * ScaLAPACK routines leave them changed (pdorgqr leaves row broadcasts on 'D'-ring):
 * harmless when every rank runs the routine, a hang at the next broadcast when rank 0
 * ran it alone.  Solo mode therefore restores them on the way out. */
static const char TOP_OP[6] = {'B', 'B', 'B', 'C', 'C', 'C'};
static const char TOP_SCOPE[6] = {'R', 'C', 'A', 'R', 'C', 'A'};

static void topologies(bool save)
{
    for (int k = 0; k < 6; k++) {
        char op = TOP_OP[k], scope = TOP_SCOPE[k], top[2] = {S.saved_top[k], '\0'};
        char get[2] = "!";
        if (save) S.saved_top[k] = *PB_Ctop(&S.ctx, &op, &scope, get);
        else (void)PB_Ctop(&S.ctx, &op, &scope, top);
    }
}

nd_status nd_spmd_solo_begin(void)
{
    blacs_start();
    ND_CHECK(S.rank == 0 && S.size > 1 && !S.solo, ND_EINTERNAL,
             "solo mode is only for rank 0 of a job of several ranks, once at a time");
    /* A grid over MPI_COMM_SELF, made by rank 0 alone: ScaLAPACK routines that build
     * contexts of their own from a grid's system context (Cpdgemr2d does) then stay on
     * rank 0 instead of starting collectives that the other ranks never join. */
    if (S.solo_ctx < 0) {
        S.solo_ctx = Csys2blacs_handle(MPI_COMM_SELF);
        Cblacs_gridinit(&S.solo_ctx, "Row", 1, 1);
    }
    MPI_TRY("MPI_Comm_set_errhandler",
            MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN));
    topologies(true);
    S.saved_comm = S.comm;
    S.saved_size = S.size;
    S.saved_ctx = S.ctx;
    S.saved_grid[0] = S.nprow, S.saved_grid[1] = S.npcol;
    S.saved_grid[2] = S.myrow, S.saved_grid[3] = S.mycol;
    S.comm = MPI_COMM_SELF;
    S.size = 1;
    S.ctx = S.solo_ctx;
    S.nprow = S.npcol = 1;
    S.myrow = S.mycol = 0;
    S.solo = true;
    return ND_OK;
}

void nd_spmd_solo_end(void)
{
    if (!S.solo) return;
    S.comm = S.saved_comm;
    S.size = S.saved_size;
    S.ctx = S.saved_ctx;
    S.nprow = S.saved_grid[0], S.npcol = S.saved_grid[1];
    S.myrow = S.saved_grid[2], S.mycol = S.saved_grid[3];
    S.solo = false;
    topologies(false);
}

int nd_spmd_blacs_ctx(void)
{
    blacs_start();
    return S.ctx;
}

void nd_spmd_grid(int *nprow, int *npcol, int *myrow, int *mycol)
{
    blacs_start();
    if (nprow) *nprow = S.nprow;
    if (npcol) *npcol = S.npcol;
    if (myrow) *myrow = S.myrow;
    if (mycol) *mycol = S.mycol;
}

/* Chunks keep each MPI count within int. */
#define BCAST_CHUNK ((size_t)1 << 30)

nd_status nd_spmd_bcast(void *buf, size_t n, int root)
{
    char *p = buf;
    while (n > 0) {
        size_t k = n < BCAST_CHUNK ? n : BCAST_CHUNK;
        MPI_TRY("MPI_Bcast", MPI_Bcast(p, (int)k, MPI_BYTE, root, nd_spmd_comm()));
        p += k;
        n -= k;
    }
    return ND_OK;
}

/* Collective.  A non-root allocation failure must not leave root alone in the next
 * broadcast: the ranks agree on it before the payload moves. */
nd_status nd_spmd_bcast_alloc(void **buf, size_t *n, int root)
{
    uint64_t len = (uint64_t)*n;
    ND_TRY(nd_spmd_bcast(&len, sizeof len, root));
    nd_status st = ND_OK;
    if (S.rank != root) {
        *n = (size_t)len;
        *buf = nd_malloc(len ? (size_t)len : 1);
        if (!*buf) st = ND_ENOMEM;
    }
    ND_TRY(nd_spmd_agree(st));
    return nd_spmd_bcast(*buf, (size_t)len, root);
}

/* Collective over comm.  One all-gather of the statuses; when some rank failed, the
 * lowest failing rank broadcasts its message so that every rank reports the same text. */
nd_status nd_spmd_agree_on(MPI_Comm comm, nd_status local)
{
    int size = 1;
    if (comm == MPI_COMM_NULL || MPI_Comm_size(comm, &size) != MPI_SUCCESS || size == 1)
        return local;
    int *all = ND_ALLOC_N(int, (size_t)size);
    if (!all) nd_spmd_fatal(NULL, 0, 0, "out of memory while agreeing on a status");
    int mine = (int)local, me = 0;
    MPI_Comm_rank(comm, &me);
    int rc = MPI_Allgather(&mine, 1, MPI_INT, all, 1, MPI_INT, comm);
    if (rc != MPI_SUCCESS) {
        ND_FREE_N(all, size);
        return nd_spmd_mpi_fail("MPI_Allgather", rc);
    }
    int worst = 0, first = -1;
    for (int r = 0; r < size; r++) {
        if (all[r] > worst) worst = all[r];
        if (all[r] != 0 && first < 0) first = r;
    }
    ND_FREE_N(all, size);
    if (first < 0) return ND_OK;
    char msg[sizeof nd_last_error.msg];
    if (me == first) memcpy(msg, nd_last_error.msg, sizeof msg);
    msg[sizeof msg - 1] = '\0';
    rc = MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, comm);
    if (rc != MPI_SUCCESS) return nd_spmd_mpi_fail("MPI_Bcast", rc);
    msg[sizeof msg - 1] = '\0';
    return nd_err_set((nd_status)worst, "%s", msg);
}

nd_status nd_spmd_agree(nd_status local)
{
    return S.size == 1 ? local : nd_spmd_agree_on(nd_spmd_comm(), local);
}

/* Added to rank 0's MPI_Wtime by wtime() (seconds; 0 until a restart sets it). */
static double wtime_shift;

double nd_spmd_wtime(void)
{
    double t = MPI_Wtime() + wtime_shift;
    if (S.size > 1) MPI_Bcast(&t, 1, MPI_DOUBLE, 0, nd_spmd_comm());
    return t;
}

void nd_spmd_set_wtime(double t)
{
    wtime_shift = t - MPI_Wtime(); /* rank 0's is the one that counts */
}

nd_status nd_spmd_barrier(void)
{
    MPI_TRY("MPI_Barrier", MPI_Barrier(nd_spmd_comm()));
    return ND_OK;
}

/* One record per rank per check: a fixed-size struct exchanged as bytes. */
typedef struct check_rec {
    uint64_t tag;
    int32_t line, col;
    char what[48];
} check_rec;

static void describe(char *buf, size_t size, const check_rec *r)
{
    snprintf(buf, size, "%s (line %d:%d)", r->what[0] ? r->what : "?", (int)r->line,
             (int)r->col);
}

/* What a check learnt of failed ranks: the lowest, and how many. */
typedef struct failed_info {
    int lowest, count;
} failed_info;

static nd_status check(uint64_t tag, const char *what, int line, int col, failed_info *fi);

nd_status nd_spmd_check(uint64_t tag, const char *what, int line, int col)
{
    failed_info fi;
    return check(tag, what, line, col, &fi);
}

nd_status nd_spmd_check_failed(int line, int col, int *lowest, bool *all)
{
    failed_info fi = {S.rank, 1};
    nd_status st = check(ND_SPMD_TAG_FAILED, "a run-time error", line, col, &fi);
    *lowest = fi.lowest < 0 ? S.rank : fi.lowest;
    *all = fi.count == S.size || !S.checks || S.size == 1;
    return st;
}

bool nd_spmd_peer_failed(void) { return S.peer_failed; }

/* Collective (when enabled).  Cost: one MPI_Allgather of 64 bytes per rank. */
static nd_status check(uint64_t tag, const char *what, int line, int col, failed_info *fi)
{
    fi->lowest = -1;
    fi->count = 0;
    if (!S.checks || S.size == 1) return ND_OK;
    check_rec me;
    memset(&me, 0, sizeof me);
    me.tag = tag;
    me.line = line;
    me.col = col;
    if (what) snprintf(me.what, sizeof me.what, "%s", what);
    check_rec stackbuf[16];
    check_rec *all = stackbuf;
    if (S.size > (int)ND_ARRAY_LEN(stackbuf)) {
        all = ND_ALLOC_N(check_rec, (size_t)S.size);
        if (!all) nd_spmd_fatal(NULL, line, col, "out of memory in the consistency check");
    }
    int rc = MPI_Allgather(&me, (int)sizeof me, MPI_BYTE, all, (int)sizeof me, MPI_BYTE,
                           nd_spmd_comm());
    nd_status st = ND_OK;
    if (rc != MPI_SUCCESS) {
        st = nd_spmd_mpi_fail("MPI_Allgather", rc);
    } else {
        for (int r = 0; r < S.size; r++)
            if (all[r].tag == ND_SPMD_TAG_FAILED) {
                if (fi->lowest < 0) fi->lowest = r;
                fi->count++;
            }
        int bad = -1;
        for (int r = 1; r < S.size && bad < 0; r++)
            if (all[r].tag != all[0].tag) bad = r;
        if (fi->count > 0 && tag != ND_SPMD_TAG_FAILED) {
            /* that rank prints its own error (nd_spmd_check_failed's caller) */
            S.peer_failed = true;
            st = nd_err_set(ND_EDIVERGED, "rank %d stopped with an error", fi->lowest);
        } else if (fi->count > 0) {
            st = ND_OK; /* the failed ranks: nothing more to say than their own errors */
        } else if (bad >= 0) {
            char a[128], b[128];
            const check_rec *r0 = &all[0], *rb = &all[bad];
            if (r0->tag == ND_SPMD_TAG_EXIT) {
                describe(b, sizeof b, rb);
                st = nd_err_set(ND_EDIVERGED, "rank 0 finished while rank %d is at %s", bad, b);
            } else if (rb->tag == ND_SPMD_TAG_EXIT) {
                describe(a, sizeof a, r0);
                st = nd_err_set(ND_EDIVERGED, "rank %d finished while rank 0 is at %s", bad, a);
            } else {
                describe(a, sizeof a, r0);
                describe(b, sizeof b, rb);
                st = nd_err_set(ND_EDIVERGED,
                                "ranks diverged: rank 0 is at %s but rank %d is at %s", a,
                                bad, b);
            }
        }
    }
    if (all != stackbuf) ND_FREE_N(all, S.size);
    return st;
}

_Noreturn void nd_spmd_fatal(const char *path, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nd_spmd_fatalv(path, line, col, fmt, ap);
}

_Noreturn void nd_spmd_fatalv(const char *path, int line, int col, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (path && line > 0)
        fprintf(stderr, "%s:%d:%d: error: %s (rank %d)\n", path, line, col, msg, S.rank);
    else
        fprintf(stderr, "noodle: error: %s (rank %d)\n", msg, S.rank);
    fflush(stderr);
    fflush(stdout);
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}
