#!/bin/sh
# dm_ranks.sh: runs the check_dm suite under mpirun at 2, 3 and 4 ranks, and checks that
# a matrix written with parallel HDF5 at 3 ranks reads back bit for bit at 2 and 4.
set -u
builddir=${top_builddir:-.}
prog="$builddir/tests/unit/check_dm"
mpirun=${MPIRUN:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
h5="${TMPDIR:-/tmp}/nd_dm_ranks_$$.h5"
trap 'rm -f "$h5"' EXIT INT TERM
rc=0
for n in 2 3 4; do
    if [ "$n" = 3 ]; then out="$h5"; else out=""; fi
    echo "== check_dm at $n ranks"
    if [ -n "$out" ]; then
        ND_DM_H5_OUT="$out" timeout 300 "$mpirun" --oversubscribe -n "$n" "$prog" || rc=1
    else
        timeout 300 "$mpirun" --oversubscribe -n "$n" "$prog" || rc=1
    fi
done
for n in 2 4; do
    echo "== read back at $n ranks the file written at 3"
    CK_RUN_CASE=h5x ND_DM_H5_IN="$h5" timeout 300 "$mpirun" --oversubscribe -n "$n" "$prog" || rc=1
done
# Tiny staging rounds (1 KiB) so that the HDF5 I/O crosses many round boundaries and
# ragged bands (src/runtime/dm_h5.c).
echo "== check_dm at 3 ranks with 1 KiB I/O rounds"
CK_RUN_CASE=core NOODLE_H5_STAGE_KIB=1 timeout 300 "$mpirun" --oversubscribe -n 3 "$prog" || rc=1
# SUMMA on every shape (by default small products on several ranks use pdgemm).
echo "== check_dm at 4 ranks with NOODLE_MATMUL=summa"
CK_RUN_CASE=core NOODLE_MATMUL=summa timeout 300 "$mpirun" --oversubscribe -n 4 "$prog" || rc=1
exit $rc
