/* cuda.h: the interface between noodle-run and the CUDA plugin (src/la/cuda; built only
 * when configure finds CUDA).  The job starts it once through la.h's nd_la_gpu_start
 * (loader.c); from then on the nd_dm_ functions keep matrices in device memory and
 * nd_la_ runs on the device where the plugin has the entry (docs/gpu.md).
 */
#ifndef ND_LA_CUDA_H
#define ND_LA_CUDA_H

#include "common/nd.h"
#include "la/backend.h"
#include "runtime/dm_layout.h"

#include <mpi.h>

/* What the plugin (libnoodle_cuda.so) uses of noodle-run.  The executable's symbols are
 * hidden (-fvisibility=hidden), so the loader hands the plugin this table and the
 * plugin's host.c forwards its calls to nd_* through it. */
typedef struct nd_cuda_host {
    void *(*calloc)(size_t n, size_t size);
    void (*free)(void *p, size_t size);
    nd_status (*err_setv)(nd_status st, const char *fmt, va_list ap);
    int (*spmd_rank)(void);
    int (*spmd_size)(void);
    MPI_Comm (*spmd_comm)(void);
    void (*spmd_grid)(int *nprow, int *npcol, int *myrow, int *mycol);
    nd_status (*spmd_agree)(nd_status local);
    void (*spmd_fatalv)(const char *path, int line, int col, const char *fmt, va_list ap);
    void (*dm_set_backend)(const nd_dm_devops *ops);
    void (*la_set_device)(const nd_la_ops *ops);
    nd_status (*dm_to_dev)(int n, const nd_dm *const *mats);
    nd_status (*dm_alloc_dev)(int64_t m, int64_t n, nd_dm **out);
    void (*dm_free)(nd_dm *A);
    nd_status (*dm_sign_columns)(nd_dm *A, nd_dm *B);
    nd_status (*dm_from_colmajor)(int64_t m, int64_t n, const double *data, nd_dm **out);
    nd_status (*spmd_mpi_fail)(const char *what, int rc);
    nd_status (*dm_combine)(double *buf, size_t n);
} nd_cuda_host;

/* The plugin's entry point, found with dlsym.  Collective, called once the loader has
 * found that every rank has a device (of its own, unless mpi_comm): installs host,
 * starts CUDA on device dev, cuBLAS, cuSOLVER and NCCL (or, with mpi_comm, collectives
 * by MPI through host memory), and the backend's two tables (*active): its memory
 * primitives (nd_dm_set_backend) and its linear algebra (nd_la_set_device); with info,
 * rank 0 prints one info line.  Errors (ND_EIO) are uniform. */
typedef nd_status nd_cuda_plugin_start_fn(const nd_cuda_host *host, int dev, bool mpi_comm,
                                          bool info, bool *active);
#define ND_CUDA_PLUGIN_START "nd_cuda_plugin_start"

/* Plugin-side (host.c): installs the table the forwarders call. */
void nd_cuda_set_host(const nd_cuda_host *host);

#endif
