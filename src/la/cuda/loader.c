/* loader.c: starts the CUDA backend for noodle-run (la.h's nd_la_gpu_start).
 *
 * The backend itself (dm_cuda.c, kernels.cu) is the plugin libnoodle_cuda.so, which
 * links cuBLAS, cuSOLVER and NCCL: loading those costs about a second and 250 MiB per
 * process, so noodle-run links only the CUDA runtime, decides here whether every rank
 * has a device (of its own for NCCL; counting devices and the ranks on each node), and
 * opens the plugin only then.  The plugin calls back into noodle-run
 * through the table `host` (cuda.h).  Search order for the plugin:
 * $NOODLE_CUDA_PLUGIN, then .libs/ beside the executable (build tree), then
 * ../lib/noodle/ beside it (a relocated install), then $(pkglibdir).  docs/gpu.md.
 */
#include "la/cuda/cuda.h"

#include "common/alloc.h"
#include "la/la.h"
#include "runtime/spmd.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PLUGIN "libnoodle_cuda.so"

/* Rank-local: the plugin's handle, or NULL with the reason of the last failure in why. */
static void *open_plugin(char *why, size_t size)
{
    char exe[PATH_MAX], path[PATH_MAX + 64];
    const char *env = getenv("NOODLE_CUDA_PLUGIN");
    const char *dirs[3] = {NULL, NULL, ND_PKGLIBDIR};
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = n > 0 ? (exe[n] = '\0', strrchr(exe, '/')) : NULL;
    if (slash) *slash = '\0';
    snprintf(why, size, "%s not found", PLUGIN);
    if (env && *env) {
        void *h = dlopen(env, RTLD_NOW | RTLD_LOCAL);
        if (!h) snprintf(why, size, "%s", dlerror());
        return h;
    }
    for (int k = 0; k < 3; k++) {
        if (k < 2 && !slash) continue;
        if (k == 0) snprintf(path, sizeof path, "%s/.libs/%s", exe, PLUGIN);
        else if (k == 1) snprintf(path, sizeof path, "%s/../lib/noodle/%s", exe, PLUGIN);
        else snprintf(path, sizeof path, "%s/%s", dirs[2], PLUGIN);
        if (access(path, F_OK) != 0) continue;
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (h) return h;
        snprintf(why, size, "%s", dlerror()); /* found but broken: say why */
    }
    return NULL;
}

static const nd_cuda_host host = {
    .calloc = nd_calloc,
    .free = nd_free,
    .err_setv = nd_err_setv,
    .spmd_rank = nd_spmd_rank,
    .spmd_size = nd_spmd_size,
    .spmd_comm = nd_spmd_comm,
    .spmd_grid = nd_spmd_grid,
    .spmd_agree = nd_spmd_agree,
    .spmd_fatalv = nd_spmd_fatalv,
    .dm_set_backend = nd_dm_set_backend,
    .la_set_device = nd_la_set_device,
    .dm_to_dev = nd_dm_to_dev,
    .dm_alloc_dev = nd_dm_alloc_dev,
    .dm_free = nd_dm_free,
    .dm_sign_columns = nd_dm_sign_columns,
    .dm_from_colmajor = nd_dm_from_colmajor,
    .spmd_mpi_fail = nd_spmd_mpi_fail,
    .dm_combine = nd_dm_combine,
};

/* Collective.  Why the backend cannot start on every rank: 0 it can, 1 a rank sees no
 * device, 2 a node has more ranks than devices (only a problem for NCCL: shared says
 * ranks may share).  Also the worst counts. */
static int device_check(bool shared, int *ranks_per_node, int *devices, int *local_rank)
{
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver or no device */
        ndev = 0;
    }
    MPI_Comm node;
    MPI_Comm_split_type(nd_spmd_comm(), MPI_COMM_TYPE_SHARED, nd_spmd_rank(), MPI_INFO_NULL,
                        &node);
    int lsize = 1;
    MPI_Comm_size(node, &lsize);
    MPI_Comm_rank(node, local_rank);
    MPI_Comm_free(&node);
    int v[3] = {ndev == 0 ? 1 : lsize > ndev && !shared ? 2 : 0, lsize, -ndev}, w[3];
    MPI_Allreduce(v, w, 3, MPI_INT, MPI_MAX, nd_spmd_comm());
    *ranks_per_node = w[1];
    *devices = -w[2];
    return w[0];
}

nd_status nd_la_gpu_start(bool required, bool mpi_comm, int verbosity, bool *active)
{
    *active = false;
    int per_node, ndev, lrank;
    int problem = device_check(mpi_comm, &per_node, &ndev, &lrank);
    char why[512] = "";
    void *h = NULL;
    nd_cuda_plugin_start_fn *start = NULL;
    if (problem == 0) {
        h = open_plugin(why, sizeof why);
        if (h) {
            *(void **)&start = dlsym(h, ND_CUDA_PLUGIN_START);
            if (!start) snprintf(why, sizeof why, "%s", dlerror());
        }
    } else if (problem == 1) {
        snprintf(why, sizeof why, "no CUDA device was found");
    } else {
        snprintf(why, sizeof why,
                 "%d ranks share a node with %d CUDA device(s); NCCL needs one device per "
                 "rank, so run at most %d rank(s) per node (or set gpu_comm: mpi)",
                 per_node, ndev, ndev);
    }
    /* The plugin's start-up is collective: every rank enters it or none. */
    nd_status st = nd_spmd_agree(start ? ND_OK : ND_EUSAGE);
    if (st == ND_OK) return start(&host, lrank % ndev, mpi_comm, verbosity >= 1, active);
    if (h) dlclose(h);
    if (!why[0]) snprintf(why, sizeof why, "the CUDA plugin failed to load on another rank");
    if (required) return nd_err_set(ND_EUSAGE, "gpu: on, but %s", why);
    /* No device at all is the ordinary CPU machine: a debug line, not an info line (the
     * run summary says where the matrices were).  A device that cannot be used is news. */
    if (verbosity >= (problem == 1 ? 2 : 1) && nd_spmd_rank() == 0)
        fprintf(stderr, "noodle-run: %s: gpu: auto: %s; running on the CPU\n",
                problem == 1 ? "debug" : "info", why);
    return ND_OK;
}
