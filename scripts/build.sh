#!/bin/sh
# build.sh [CONFIGURE-ARGS...]: configures (once) and builds Noodle in ./build, or in
# $NOODLE_BUILD_DIR (a path under the source tree, e.g. build-nocuda).  Extra arguments go
# to configure (e.g. --enable-werror, --without-cuda).  autoreconf's chatter goes to
# build-aux/autoreconf.log, shown only when it fails.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
builddir=${NOODLE_BUILD_DIR:-build}
if [ ! -x configure ]; then
    mkdir -p build-aux
    autoreconf -fi >build-aux/autoreconf.log 2>&1 || {
        cat build-aux/autoreconf.log
        echo "build.sh: autoreconf failed" >&2
        exit 1
    }
fi
mkdir -p "$builddir"
cd "$builddir"
if [ ! -f Makefile ] || [ $# -gt 0 ]; then
    "$top/configure" -q "$@"
fi
make -j"$(nproc)" >/dev/null
echo "build.sh: built in $top/$builddir"
