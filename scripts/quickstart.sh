#!/bin/bash
# quickstart.sh: on a fresh Debian 12 machine, installs the dependencies, builds Noodle
# and runs an example job end to end on 4 ranks, then shows what it computed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/install-deps.sh
scripts/build.sh
# Open MPI refuses root unless told; 4 ranks on fewer cores need oversubscription.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
echo
echo "== noodle-mpirun -n 4 examples/gp_regression.noodle --param n=400"
build/noodle-mpirun -n 4 -o build/gp_regression.nbc examples/gp_regression.noodle --param n=400
echo
echo "The program was compiled once to build/gp_regression.nbc and run SPMD on 4 ranks."
