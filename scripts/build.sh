#!/bin/sh
# build.sh [CONFIGURE-ARGS...]: configures (once) and builds Noodle in ./build.
# Extra arguments go to configure (e.g. --enable-werror, --enable-sanitizers).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -x configure ] || autoreconf -fi
mkdir -p build
cd build
if [ ! -f Makefile ] || [ $# -gt 0 ]; then
    ../configure -q "$@"
fi
make -j"$(nproc)" >/dev/null
echo "build.sh: built in $top/build"
