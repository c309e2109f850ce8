/* error.c: the per-process error record and the status -> exit code map (nd.h). */
#include "nd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

nd_error nd_last_error;

/* Formats into a copy first: an argument may be nd_err_msg() itself (wrapping the
 * previous message: nd_err_set(st, "checkpoint failed: %s", nd_err_msg())). */
nd_status nd_err_setv(nd_status st, const char *fmt, va_list ap)
{
    char msg[sizeof nd_last_error.msg];
    vsnprintf(msg, sizeof msg, fmt, ap);
    nd_last_error.status = st;
    nd_last_error.line = 0;
    nd_last_error.col = 0;
    memcpy(nd_last_error.msg, msg, sizeof msg);
    return st;
}

nd_status nd_err_set(nd_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nd_err_setv(st, fmt, ap);
    va_end(ap);
    return st;
}

void nd_err_clear(void)
{
    nd_last_error.status = ND_OK;
    nd_last_error.line = nd_last_error.col = 0;
    nd_last_error.msg[0] = '\0';
}

const char *nd_err_msg(void) { return nd_last_error.msg; }

int nd_status_exit_code(nd_status st)
{
    switch (st) {
    case ND_OK: return ND_EXIT_OK;
    case ND_EUSAGE: return ND_EXIT_USAGE;
    case ND_EINVALID: return ND_EXIT_INVALID;
    case ND_ESIGNAL: return ND_EXIT_REQUEUE;
    default: return ND_EXIT_PROGRAM;
    }
}

_Noreturn void nd_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "noodle: internal error: assertion '%s' failed at %s:%d\n", expr, file,
            line);
    fflush(stderr);
    abort();
}
