#!/bin/sh
# check.sh: SUMMA (src/la/scalapack/summa.c) against pdgemm on ragged shapes, on every grid
# of 1-4 ranks (1x1, 1x2, 2x1, 1x3, 3x1, 2x2, 1x4, 4x1) and block sizes 1, 3 and 64.
# Usage: benchmarks/gemm/check.sh BUILD_DIR     (a configured and built tree, e.g. build)
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
b=$(cd "${1:?usage: check.sh BUILD_DIR}" && pwd)
bin="${TMPDIR:-/tmp}/summa_check_$$"
trap 'rm -f "$bin"' EXIT INT TERM
deps=$(sed -n 's/^\(HDF5_HL_LIBS\|HDF5_LIBS\|SCALAPACK_LIBS\|LAPACKE_LIBS\|BLAS_LIBS\|YAML_LIBS\) = //p' "$b/Makefile" | tr '\n' ' ')
mpicc -O2 -std=c11 -I"$top/src" -I"$top/include" -I"$b" -o "$bin" "$here/summa_check.c" \
    "$b/.libs/libnd_la.a" "$b/.libs/libnd_runtime.a" "$b/.libs/libnd_common.a" $deps -lm || exit 1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_rmaps_base_oversubscribe=1
rc=0
for g in ${GRIDS:-1x1 1x2 2x1 1x3 3x1 2x2 1x4 4x1}; do
    r=${g%x*} c=${g#*x}
    for nb in ${NBS:-1 3 64}; do
        timeout 120 mpirun -n $((r * c)) "$bin" "$r" "$c" "$nb" || rc=1
    done
done
exit $rc
