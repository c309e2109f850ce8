#!/bin/bash
# ns-test.sh 'COMMANDS': runs COMMANDS (bash, from the repository root) in a private mount
# namespace of this Debian build host in which the system's Open MPI, PMIx, HDF5, ScaLAPACK,
# OpenBLAS, libyaml, hwloc, libevent, libgfortran and ssh are hidden (empty tmpfs over their
# directories, an empty file bound over each library and program), and a few generic
# libraries a newer Ubuntu lacks (libldap-2.5, libunistring.so.2, libcurl) too: what the GPU
# machine looks like to the bundle (benchmarks/gpu/device-env.sh).  Needs root and
# unshare(1); nothing outside the namespace changes (mounts are private to it).
set -eu
[ $# -ge 1 ] || { echo "usage: $0 'COMMANDS'" >&2; exit 2; }
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export ND_NS_CMD=$1
cd "$repo"
exec unshare --mount --propagation private bash -c '
set -e
ma=/usr/lib/x86_64-linux-gnu
mount -t tmpfs none /mnt # private scratch: nothing is written outside
empty=/mnt/empty
: >"$empty"
hidden=0
# Files first (their real paths), then the directories (which would make links dangle).
for f in /usr/bin/orted /usr/bin/orterun /usr/bin/ssh /usr/bin/rsh \
         $ma/libmpi*.so* $ma/libopen-rte*.so* $ma/libopen-pal*.so* $ma/libpmix*.so* \
         $ma/libhdf5_openmpi*.so* $ma/libscalapack*.so* $ma/libopenblas*.so* \
         $ma/libblas.so* $ma/liblapack.so* $ma/liblapacke*.so* $ma/libtmglib*.so* \
         $ma/libyaml*.so* $ma/libsz.so* $ma/libaec.so* $ma/libhwloc*.so* $ma/libevent*.so* \
         $ma/libmunge*.so* $ma/libgfortran*.so* $ma/libquadmath*.so* \
         $ma/libldap-2.5*.so* $ma/liblber-2.5*.so* $ma/libunistring.so.2* $ma/libcurl.so*; do
    r=$(readlink -f "$f" 2>/dev/null) || continue
    [ -f "$r" ] || continue
    mount --bind "$empty" "$r" && hidden=$((hidden + 1))
done
for d in $ma/openmpi $ma/pmix2 $ma/openblas-pthread $ma/blas $ma/lapack $ma/hdf5/openmpi \
         /usr/share/openmpi /usr/share/pmix /etc/openmpi; do
    [ -d "$d" ] && mount -t tmpfs none "$d" && hidden=$((hidden + 1))
done
echo "ns-test: $hidden files and directories hidden"
cd "$PWD"
set +e
eval "$ND_NS_CMD"
'
