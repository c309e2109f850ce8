#!/bin/bash
# quickstart.sh: on a fresh Debian 12 machine, installs the dependencies, builds Noodle
# and runs an example job end to end on 4 ranks: Gaussian-process regression, with a
# checkpoint after its Cholesky factorization and its results stored in a catalog that
# is then queried.  Everything it writes goes under build/quickstart/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/install-deps.sh
scripts/build.sh
# Open MPI refuses root unless told; 4 ranks on fewer cores need oversubscription.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
work=build/quickstart
rm -rf "$work"
mkdir -p "$work"
echo
echo "== compile once, run on 4 ranks"
echo "   noodle-mpirun -n 4 examples/gp_regression.noodle --param n=400 ..."
build/noodle-mpirun -n 4 -o "$work/gp_regression.nbc" examples/gp_regression.noodle \
    --param n=400 --catalog "$work/catalog" --checkpoint-dir "$work/checkpoints"
echo
echo "== its checkpoint (one HDF5 file, readable with h5py)"
ls -l "$work/checkpoints"
echo
echo "== the results it stored, queried with MQL"
echo "   noodle-mql $work/catalog \"SELECT name, version, rows, cols, norm, tags.n FROM results ORDER BY name\""
build/noodle-mql "$work/catalog" "SELECT name, version, rows, cols, norm, tags.n FROM results ORDER BY name"
echo
echo "Bytecode: $work/gp_regression.nbc   checkpoints: $work/checkpoints   catalog: $work/catalog"
