#!/bin/bash
# benchmarks/interp/callgrind.sh: instructions executed (valgrind --tool=callgrind), a
# measure that the load of a shared machine does not change.
# usage: callgrind.sh   ($NOODLE_RUN as in run.sh)
# Each benchmark runs at a reduced size (fib(25), 10^6 float iterations, 10^5 elements
# for the list, map and string loops; the full sizes take minutes under valgrind).
# Noodle counts nd_vm_run only (--toggle-collect; no compiling, no MPI_Init); Lua's count
# is its whole process, less that of a one-line program (its start-up), printed apart.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
runner=${NOODLE_RUN:-$here/../../build/noodle-run}
lua=$(command -v lua5.4 || command -v lua)
if [ ! -x "$runner" ] || ! command -v valgrind >/dev/null; then
    echo "callgrind.sh: needs valgrind and noodle-run at $runner (set NOODLE_RUN)" >&2
    exit 2
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Prints the instruction count of a command (callgrind's "Collected").
count() {
    timeout 1200 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 \
        >/dev/null | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' | tail -n 1
}

echo 'print(1)' >"$tmp/empty.lua"
lua0=$(count "$lua" "$tmp/empty.lua")
printf '%-10s %14s %14s %8s\n' bench noodle-vm lua-net vm/lua
for b in fib floatloop listloop maps strings; do
    case $b in
    fib) from='fib(30)' to='fib(25)' ;;
    floatloop) from='10000000' to='1000000' ;;
    *) from='1000000' to='100000' ;;
    esac
    sed "s/$from/$to/" "$here/$b.noodle" >"$tmp/$b.noodle"
    sed "s/$from/$to/" "$here/$b.lua" >"$tmp/$b.lua"
    n=$(count --toggle-collect=nd_vm_run "$runner" "$tmp/$b.noodle")
    l=$(count "$lua" "$tmp/$b.lua")
    awk -v b="$b" -v n="$n" -v l="$l" -v z="$lua0" 'BEGIN {
        printf "%-10s %14d %14d %8.3f\n", b, n, l - z, n / (l - z) }'
done
echo "lua start-up (a one-line program, subtracted above): $lua0 instructions"
