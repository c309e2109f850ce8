#!/bin/sh
# arr_ranks.sh: runs the check_arr suite (the n-d array core) under mpirun at 2, 3 and 4
# ranks; `make check` runs it at 1 rank as well.
set -u
builddir=${top_builddir:-.}
prog="$builddir/tests/unit/check_arr"
mpirun=${MPIRUN:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
. "$(dirname "$0")/test_ranks.sh"
rc=0
for n in $(test_ranks "2 3 4"); do
    echo "== check_arr at $n ranks"
    timeout 300 "$mpirun" --oversubscribe -n "$n" "$prog" || rc=1
done
exit $rc
