/* probe.cu: the first piece of the CUDA backend: finds the CUDA devices this rank can
 * use, so that `gpu: auto` falls back to the CPU with one info line when there is none
 * and `gpu: on` is refused clearly.  Compiled by nvcc when configure finds CUDA; the GPU
 * matrix kernels (cuBLAS, cuSOLVER, NCCL) are not written yet (docs/matrices.md).
 * Rank-local. */
#include <cuda_runtime.h>

#include "la/cuda/probe.h"

/* A trivial kernel, so that this object really carries device code for the build's
 * architectures (and a broken nvcc setup fails at build time, not at a user's run). */
__global__ void nd_cuda_fill_kernel(double *x, double v, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = v;
}

extern "C" int nd_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver or no device: clear the sticky error */
        return 0;
    }
    return n;
}
