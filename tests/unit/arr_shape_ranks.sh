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
rc=0
for n in 2 3 4; do
    echo "== check_arr_shape at $n ranks"
    timeout 300 "$mpirun" --oversubscribe -n "$n" "$prog" || rc=1
done
echo "== check_arr_shape at 3 ranks, block size 3"
ND_CHECK_NB=3 timeout 300 "$mpirun" --oversubscribe -n 3 "$prog" || rc=1
echo "== check_arr_shape at 4 ranks, block size 2"
ND_CHECK_NB=2 timeout 300 "$mpirun" --oversubscribe -n 4 "$prog" || rc=1
exit $rc
