/* host.c: inside the plugin libnoodle_cuda.so, the nd_* functions that dm_cuda.c calls,
 * forwarded to noodle-run through the table the loader installs (cuda.h): the
 * executable's own symbols are hidden, so the plugin cannot link to them.  Variadic
 * functions are formatted here and passed on as "%s".
 */
#include "common/alloc.h"
#include "la/cuda/cuda.h"
#include "runtime/spmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const nd_cuda_host *H;

void nd_cuda_set_host(const nd_cuda_host *host) { H = host; }

void *nd_calloc(size_t n, size_t size) { return H->calloc(n, size); }
void nd_free(void *p, size_t size) { H->free(p, size); }

nd_status nd_err_set(nd_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    H->err_setv(st, fmt, ap);
    va_end(ap);
    return st;
}

int nd_spmd_rank(void) { return H->spmd_rank(); }
int nd_spmd_size(void) { return H->spmd_size(); }
MPI_Comm nd_spmd_comm(void) { return H->spmd_comm(); }
void nd_spmd_grid(int *nprow, int *npcol, int *myrow, int *mycol)
{
    H->spmd_grid(nprow, npcol, myrow, mycol);
}
nd_status nd_spmd_agree(nd_status local) { return H->spmd_agree(local); }

_Noreturn void nd_spmd_fatal(const char *path, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    H->spmd_fatalv(path, line, col, fmt, ap);
    abort(); /* not reached: spmd_fatalv does not return */
}

void nd_dm_set_backend(const nd_dm_devops *ops) { H->dm_set_backend(ops); }
void nd_la_set_device(const nd_la_ops *ops) { H->la_set_device(ops); }
nd_status nd_dm_to_dev(int n, const nd_dm *const *mats) { return H->dm_to_dev(n, mats); }
nd_status nd_dm_alloc_dev(int64_t m, int64_t n, nd_dm **out)
{
    return H->dm_alloc_dev(m, n, out);
}
void nd_dm_free(nd_dm *A) { H->dm_free(A); }
nd_status nd_dm_sign_columns(nd_dm *A, nd_dm *B) { return H->dm_sign_columns(A, B); }
nd_status nd_dm_from_colmajor(int64_t m, int64_t n, const double *data, nd_dm **out)
{
    return H->dm_from_colmajor(m, n, data, out);
}
nd_status nd_spmd_mpi_fail(const char *what, int rc) { return H->spmd_mpi_fail(what, rc); }
nd_status nd_dm_combine(double *buf, size_t n) { return H->dm_combine(buf, n); }
