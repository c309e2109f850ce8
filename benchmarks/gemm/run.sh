#!/bin/sh
# run.sh: pdgemm GFLOP/s at block sizes 32/64/128 and 1/2 ranks (benchmarks/RESULTS.md).
# Usage: benchmarks/gemm/run.sh [N] [REPS]    (default N=2048, REPS=3)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-2048}
reps=${2:-3}
bin="${TMPDIR:-/tmp}/pdgemm_bench_$$"
trap 'rm -f "$bin"' EXIT
mpicc -O2 -o "$bin" "$here/pdgemm_bench.c" $(pkg-config --libs scalapack-openmpi)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_rmaps_base_oversubscribe=1
echo "N NB ranks GFLOP/s seconds"
for p in 1 2; do
    for nb in 32 64 128; do
        timeout 300 mpirun -n "$p" "$bin" "$n" "$nb" "$reps"
    done
done
