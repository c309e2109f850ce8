#!/bin/sh
# install-deps.sh: installs every Debian package Noodle needs to build, test and run
# its example (shared by README.md and .ci/run).  Idempotent, and quick when everything
# is already installed (no apt-get update then).  Run as root (or with sudo).
set -eu
PKGS="build-essential autoconf automake libtool pkg-config autoconf-archive \
openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools libscalapack-openmpi-dev \
libopenblas-dev liblapacke-dev libyaml-dev libsodium-dev check \
python3 python3-numpy python3-h5py python3-pandas python3-xarray python3-h5netcdf python3-matplotlib \
lua5.4 sqlite3 clang procps"
# Slurm for the integration tests (a one-node cluster started by tests/slurm/).
SLURM_PKGS="slurmctld slurmd slurm-client munge"
[ "${NOODLE_NO_SLURM:-0}" = 1 ] || PKGS="$PKGS $SLURM_PKGS"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
# apt's progress goes to a log, shown only when it fails.
log=${TMPDIR:-/tmp}/noodle-install-deps.log
echo "install-deps: installing:$missing (apt-get's output: $log)"
if ! { $SUDO apt-get update -q &&
       DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
     } >"$log" 2>&1; then
    tail -n 30 "$log"
    echo "install-deps: apt-get failed (whole output in $log)" >&2
    exit 1
fi
echo "install-deps: done"
