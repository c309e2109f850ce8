# run_scratch.sh: sourced by the shell tests that run noodle-run in a scratch directory
# (h5_attrs_py.sh, csv_py.sh): the MPI environment of these machines, $run (noodle-run of
# the build), $mpirun, $py (/usr/bin/python3, with numpy and h5py), and the current
# directory a temporary one removed at exit.
builddir=${top_builddir:-.}
mpirun=${MPIRUN:-mpirun}
py=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
run=$(cd "$builddir" && pwd)/noodle-run
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
