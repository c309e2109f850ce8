#!/bin/sh
# arr_axis_ranks.sh: runs the check_arr_axis suite (reductions and scans of n-d arrays)
# under mpirun at 2, 3 and 4 ranks; `make check` runs it at 1 rank as well.  Each run
# compares bit for bit with serial references, so equal results at every rank count follow.
set -u
builddir=${top_builddir:-.}
prog="$builddir/tests/unit/check_arr_axis"
mpirun=${MPIRUN:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
. "$(dirname "$0")/test_ranks.sh"
rc=0
for n in $(test_ranks "2 3 4"); do
    echo "== check_arr_axis at $n ranks"
    timeout 600 "$mpirun" --oversubscribe -n "$n" "$prog" || rc=1
done
exit $rc
