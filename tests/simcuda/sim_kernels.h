/* sim_kernels.h: what kernels.cu needs of the CUDA device language when it is compiled by
 * the host C++ compiler for the simulated device (configure --with-cuda=sim).  A launch
 * runs every thread of every block one after another on the calling thread; our kernels
 * use neither shared memory nor barriers, so that is one valid schedule of them.  Pointer
 * arguments must be device memory of the simulator (simcuda.c checks them).
 */
#ifndef ND_SIM_KERNELS_H
#define ND_SIM_KERNELS_H

#include <cmath>
#include <cstddef>

#include <cuda_runtime_api.h>

using std::isnan;

/* simcuda.c: aborts unless p is null or points into a live allocation of the device. */
extern "C" void nd_simcuda_check_device(const void *p, const char *what);
/* simcuda.c: work is queued on the stream until its next synchronization. */
extern "C" void nd_simcuda_queued(void);

struct nd_sim_dim {
    unsigned x;
};
static nd_sim_dim threadIdx, blockIdx, blockDim, gridDim;

/* Correctly rounded, never contracted: the build passes -ffp-contract=off. */
static inline double __dadd_rn(double x, double y) { return x + y; }
static inline double __dsub_rn(double x, double y) { return x - y; }
static inline double __dmul_rn(double x, double y) { return x * y; }
static inline double __ddiv_rn(double x, double y) { return x / y; }

static inline void nd_sim_arg(double *p) { nd_simcuda_check_device(p, "kernel argument"); }
static inline void nd_sim_arg(const double *p) { nd_simcuda_check_device(p, "kernel argument"); }
template <typename T> static inline void nd_sim_arg(T) {}

template <typename K> struct nd_sim_launch {
    K kernel;
    unsigned blocks, threads;
    template <typename... A> void operator()(A... a) const
    {
        (nd_sim_arg(a), ...);
        nd_simcuda_queued();
        gridDim.x = blocks;
        blockDim.x = threads;
        for (unsigned b = 0; b < blocks; b++)
            for (unsigned t = 0; t < threads; t++) {
                blockIdx.x = b;
                threadIdx.x = t;
                kernel(a...);
            }
    }
};

/* kernel<<<blocks, threads, 0, stream>>>(args) is ND_LAUNCH(kernel, blocks, threads,
 * stream)(args); the simulator has one stream, which runs each call to completion. */
#define ND_LAUNCH(kernel, blocks, threads, stream)                                           \
    ((void)(stream), nd_sim_launch<decltype(&kernel)>{&kernel, (blocks), (threads)})

#endif
