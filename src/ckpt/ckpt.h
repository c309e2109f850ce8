/* ckpt.h: checkpoint and restart of the whole VM to one parallel HDF5 file (the nd_ckpt_
 * module; docs/checkpoint.md).
 *
 * noodle-run (src/job) creates one nd_ckpt per run, asks it to restore a VM when
 * --restart/--restart-from is given, and forwards the VM's checkpoint and safe-point
 * hooks to it.  Checkpoints happen at checkpoint(), at safe points when the interval
 * has passed, and on SIGUSR1/SIGTERM (then the run stops with ND_ESIGNAL, exit 75).
 * Ranks agree on when to checkpoint with one small all-reduce every `safepoint_every`
 * safe-point events, never on every back-edge.  Every function is Collective unless
 * marked.
 */
#ifndef ND_CKPT_H
#define ND_CKPT_H

#include "common/kv.h"
#include "common/nd.h"
#include "noodle/bytecode.h"
#include "vm/vm.h"

/* Written: 2 (integer matrix checksums); read: ND_CKPT_FORMAT_OLDEST to 2 (docs/checkpoint.md). */
#define ND_CKPT_FORMAT_VERSION 2u
#define ND_CKPT_FORMAT_OLDEST 1u
/* Safe-point events between two agreement checks (an all-reduce); equal on all ranks. */
#define ND_CKPT_SAFEPOINT_EVERY 16384u

/* The `checkpoint` section of noodle-run's options.  The driver fills it from flags;
 * the configuration (checkpoint.dir, .interval, .keep, .mpiio_hints) can fill it too.
 * Strings are borrowed for the life of the nd_ckpt. */
typedef struct nd_ckpt_opts {
    const char *dir;            /* --checkpoint-dir; NULL: <parent>/<program name without
                                   its extension> */
    const char *parent;         /* checkpoint.dir (the configuration's; needed when dir
                                   is NULL) */
    double interval;            /* seconds between automatic checkpoints; 0 = off */
    int keep;                   /* committed checkpoints kept (0 = checkpoint.keep's default) */
    const nd_kv *hints;         /* MPI-IO hints set on the MPI_Info of the file access */
    bool restart;               /* --restart: newest valid checkpoint in dir, if any;
                                   nothing at all when dir holds a completed run */
    bool fresh;                 /* --fresh: start over (overrides restart): the
                                   completion mark and old checkpoints are removed */
    const char *restart_from;   /* --restart-from FILE|DIR (implies restart) */
    bool force;                 /* accept a different program or parameters */
    bool no_signals;            /* do not install SIGUSR1/SIGTERM handlers */
    uint64_t safepoint_every;   /* 0 = ND_CKPT_SAFEPOINT_EVERY */
    const char *signer;         /* id of the bytecode's signer (nbc/sign.h), "" or NULL:
                                   unsigned; borrowed for the run */
} nd_ckpt_opts;

typedef struct nd_ckpt nd_ckpt;

/* Collective.  program: the path as given (names the default directory); nbc: the
 * serialized bytecode every rank verified; params: the effective job parameters (a later
 * key wins).  Copies what it keeps; installs the signal handlers. */
nd_status nd_ckpt_new(const nd_ckpt_opts *opts, const char *program, const void *nbc,
                      size_t nbc_len, const nd_kv *params, nd_ckpt **out);
void nd_ckpt_free(nd_ckpt *c);
/* Rank-local: the run's checkpoint directory (borrowed, for messages). */
const char *nd_ckpt_dir(const nd_ckpt *c);

/* Collective.  When the options ask for a restart, selects a checkpoint (the newest
 * valid one, falling back past corrupt ones with a warning), checks that it belongs to
 * this program and these parameters (ND_EUSAGE otherwise, unless force), and rebuilds
 * *vm from it.  prog is the verified program of this run; with force and a different
 * program, *prog_used becomes the checkpoint's own program (owned by c).  *restored is
 * false when there was nothing to restart from (an info line on stderr): the caller
 * starts fresh.  vopts are passed to nd_vm_new. */
nd_status nd_ckpt_restore(nd_ckpt *c, const nd_program *prog, const nd_vm_opts *vopts,
                          const nd_program **prog_used, nd_vm **vm, bool *restored);

/* Collective, before nd_ckpt_restore (and before its parameter check).  With --restart,
 * a directory whose run completed sets *complete (rank 0 says so on stderr): the caller
 * runs nothing and exits 0.  With --fresh, removes the mark and every checkpoint in the
 * directory.  Any other run removes the mark: a new run is under way there. */
nd_status nd_ckpt_prepare(nd_ckpt *c, bool *complete);
/* Collective, after the program ran to its end: marks the directory complete when this
 * run used checkpoints (--restart, an interval, a checkpoint written, or the directory
 * exists).  A failure to write the mark is a warning, not an error. */
void nd_ckpt_mark_complete(nd_ckpt *c);

/* Collective: writes a checkpoint now (the checkpoint() builtin). */
nd_status nd_ckpt_checkpoint(nd_ckpt *c, nd_vm *vm);
/* Collective: the safe-point hook (nd_vm_hooks.safepoint): one all-reduce of (a signal
 * arrived on some rank, rank 0's clock says the interval passed, rank 0's next period);
 * checkpoints when either of the first two holds; after a signal returns ND_ESIGNAL.
 * *period: on entry the events since the last call, on return the events until the
 * next one (adapted so that calls come about 0.1 s apart, at most safepoint_every). */
nd_status nd_ckpt_safepoint(nd_ckpt *c, nd_vm *vm, uint64_t *period);
/* Rank-local: the number of safe-point events between two hook calls. */
uint64_t nd_ckpt_safepoint_every(const nd_ckpt *c);
/* Rank-local: checkpoints written so far by this run. */
uint64_t nd_ckpt_count(const nd_ckpt *c);
/* Rank-local: the first ND_CKPT_LOG checkpoints of this run (the return value says how
 * many): *start their MPI_Wtime when they began, *seconds how long each took. */
#define ND_CKPT_LOG 1024
size_t nd_ckpt_log(const nd_ckpt *c, const double **start, const double **seconds);

/* Rank-local: installs the SIGUSR1/SIGTERM handlers (they only record the signal).
 * noodle-run calls it first thing, so that a signal sent while MPI starts or the program
 * loads is kept for the first safe point instead of killing the rank. */
void nd_ckpt_install_signals(void);

/* Rank-local, for tests: behave as if a signal had arrived. */
void nd_ckpt_raise(int signo);

/* Rank-local: the signal recorded so far (SIGUSR1, SIGTERM) or 0, and its name. */
int nd_ckpt_pending_signal(void);
const char *nd_ckpt_signal_name(int signo);

/* Collective, before the program runs: a signal that arrived while the job started on
 * any rank stops it now with ND_ESIGNAL (exit 75), before any work: the checkpoint
 * directory is left as it was, so the requeued --restart resumes or starts as this run
 * would have. */
nd_status nd_ckpt_stop_if_signalled(void);

#endif
