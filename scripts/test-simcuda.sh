#!/bin/bash
# test-simcuda.sh: tests the CUDA backend's code without a GPU.  Builds ./build-sim with
# --with-cuda=sim (the plugin over tests/simcuda/simcuda.c, a simulated device: host
# memory, BLAS/LAPACK for cuBLAS/cuSOLVER, MPI for NCCL) and runs tests/simcuda/run.sh:
# the program tests and the device code paths at 1 to 4 ranks, a device per rank and all
# ranks on one device, against the CPU.  Needs CUDA's headers under /usr/local/cuda (no
# driver, no device).  Ends with "N passed, N failed"; exits non-zero on any failure.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" || exit 1
cd "$top" || exit 1
[ -x configure ] || autoreconf -fi || exit 1
mkdir -p build-sim && cd build-sim || exit 1
if [ ! -f Makefile ] || ! grep -q '^#define ND_CUDA_SIM 1' ac_config.h 2>/dev/null; then
    ../configure -q --with-cuda=sim --enable-werror || exit 1
fi
make -j"$(nproc)" noodle-run libnoodle_cuda.la >make.out 2>&1 || { tail -n 40 make.out; exit 1; }
exec bash "$top/tests/simcuda/run.sh" "$top/build-sim"
