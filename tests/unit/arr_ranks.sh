#!/bin/sh
# arr_ranks.sh: runs the unit suites of the n-d arrays under mpirun at 2, 3 and 4 ranks
# (`make check` runs each at 1 rank as well): check_arr (the core: fold, moves, views,
# subscripts, broadcasting), check_arr_axis (reductions and scans, bit for bit against
# serial references, so equal at every rank count) and check_arr_shape, which runs again
# at 3 and 4 ranks with block sizes 3 and 2 so that even its small arrays spread over
# every rank and its strided views cross many block boundaries.
set -u
builddir=${top_builddir:-.}
mpirun=${MPIRUN:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
. "$(dirname "$0")/test_ranks.sh"
rc=0
for suite in check_arr check_arr_axis check_arr_shape; do
    for n in $(test_ranks "2 3 4"); do
        echo "== $suite at $n ranks"
        timeout 600 "$mpirun" --oversubscribe -n "$n" "$builddir/tests/unit/$suite" || rc=1
    done
done
for n in $(test_ranks "3 4" 3); do
    echo "== check_arr_shape at $n ranks, block size $((6 - n))"
    ND_CHECK_NB=$((6 - n)) timeout 300 "$mpirun" --oversubscribe -n "$n" \
        "$builddir/tests/unit/check_arr_shape" || rc=1
done
exit $rc
