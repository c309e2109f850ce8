/* nd.h: status codes, the error record and the checking macros shared by every module.
 *
 * Invariant: a function that returns ND_OK leaves the error record untouched; one that
 * returns anything else has set it (nd_err_set) before returning.  Error classes say how
 * an SPMD program must react: ND_EPROG is uniform (every rank meets it at the same point,
 * rank 0 prints, all exit 1); ND_ENOMEM, ND_EIO and ND_EMPI may be rank-local and take
 * the fatal path (message with "(rank r)", then MPI_Abort).  See docs/errors.md.
 */
#ifndef ND_H
#define ND_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ND_API __attribute__((visibility("default")))

typedef enum nd_status {
    ND_OK = 0,
    ND_EPROG,     /* a program error: type, shape, overflow, assert, singular, ... */
    ND_EUSAGE,    /* bad flag, missing or unreadable file, bad config (exit 2) */
    ND_EINVALID,  /* a file that exists but is invalid: corrupt .nbc or checkpoint (exit 3) */
    ND_ENOMEM,    /* allocation failed or a size limit was exceeded */
    ND_EIO,       /* an I/O or HDF5 failure */
    ND_EMPI,      /* an MPI failure */
    ND_EDIVERGED, /* ranks reached different collectives (SPMD consistency check) */
    ND_ESIGNAL,   /* checkpointed on a signal; the job wants requeue (exit 75) */
    ND_EINTERNAL  /* a broken invariant inside Noodle */
} nd_status;

/* Exit codes of every program (docs/errors.md). */
enum {
    ND_EXIT_OK = 0,
    ND_EXIT_PROGRAM = 1,
    ND_EXIT_USAGE = 2,
    ND_EXIT_INVALID = 3,
    ND_EXIT_REQUEUE = 75
};

/* The error record: one per process (the VM is single-threaded).  `line`/`col` are 0
 * when no source position is known; the VM fills them from its line table. */
typedef struct nd_error {
    nd_status status;
    int line, col;
    char msg[1024];
} nd_error;

extern nd_error nd_last_error;

/* Records status and message; returns status so that callers can `return nd_err_set(...)`.
 * An argument may be nd_err_msg(), to wrap the previous message.  Rank-local. */
nd_status nd_err_set(nd_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
nd_status nd_err_setv(nd_status st, const char *fmt, va_list ap);
void nd_err_clear(void);
const char *nd_err_msg(void);
/* Maps a status to the documented exit code. */
int nd_status_exit_code(nd_status st);

#define ND_TRY(expr)                                                                     \
    do {                                                                                 \
        nd_status nd_try_st_ = (expr);                                                   \
        if (nd_try_st_ != ND_OK) return nd_try_st_;                                      \
    } while (0)

#define ND_CHECK(cond, st, ...)                                                          \
    do {                                                                                 \
        if (!(cond)) return nd_err_set((st), __VA_ARGS__);                               \
    } while (0)

/* Broken invariants (never user input): print and abort. */
#define ND_ASSERT(cond)                                                                  \
    do {                                                                                 \
        if (!(cond)) nd_assert_fail(#cond, __FILE__, __LINE__);                          \
    } while (0)
_Noreturn void nd_assert_fail(const char *expr, const char *file, int line);

#define ND_UNUSED(x) ((void)(x))
#define ND_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* Bytes as whole MiB, rounded up: what a "needs N MiB" message may say. */
#define ND_MIB_CEIL(bytes) (((size_t)(bytes) + ((size_t)1 << 20) - 1) >> 20)

#endif
