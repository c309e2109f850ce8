#!/bin/sh
# arr_shape_ranks.sh: runs the check_arr_shape suite under mpirun at 2, 3 and 4 ranks, and
# at 3 ranks with a block size of 3, so that even the small arrays of the suite spread
# over every rank and the strided views cross many block boundaries.
set -u
builddir=${top_builddir:-.}
prog="$builddir/tests/unit/check_arr_shape"
mpirun=${MPIRUN:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
. "$(dirname "$0")/test_ranks.sh"
rc=0
for n in $(test_ranks "2 3 4"); do
    echo "== check_arr_shape at $n ranks"
    timeout 300 "$mpirun" --oversubscribe -n "$n" "$prog" || rc=1
done
for n in $(test_ranks "3 4" 3); do
    echo "== check_arr_shape at $n ranks, block size $((6 - n))"
    ND_CHECK_NB=$((6 - n)) timeout 300 "$mpirun" --oversubscribe -n "$n" "$prog" || rc=1
done
exit $rc
