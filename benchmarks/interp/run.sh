#!/bin/bash
# benchmarks/interp/run.sh: the interpreter benchmarks in Noodle, Lua 5.4 and Python 3.
# usage: run.sh [REPEATS]   (default 3; each time is the median of REPEATS runs)
# Noodle runs through noodle-run at one rank, without mpirun ($NOODLE_RUN, default
# ../../build/noodle-run relative to this directory).  Two Noodle times are reported:
#   noodle  the whole process (compiling the source, MPI_Init, the run, MPI_Finalize);
#   vm      the VM's own run time, as noodle-run prints it with NOODLE_TIMING=1
#           ("noodle-run: timing: vm S s" on stderr), measured, not estimated.
# Lua's and Python's times are whole processes (their start-up is ~1 ms and ~15 ms).
# Ratios below 1.0: Noodle is faster.  The target (vm/lua <= 1.0) compares the VM time
# with Lua's whole run.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
runner=${NOODLE_RUN:-$here/../../build/noodle-run}
reps=${1:-3}
lua=$(command -v lua5.4 || command -v lua)
py=$(command -v python3)
if [ ! -x "$runner" ]; then
    echo "run.sh: noodle-run not found at $runner (set NOODLE_RUN)" >&2
    exit 2
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {printf "%.3f\n", NR ? a[int((NR+1)/2)] : "nan"}'; }

# Runs the command `reps` times; prints "WALL VM": the median wall time and the median
# of the VM times found on stderr ("nan" when there are none), in seconds.
timeit() {
    local t0 t1
    : >"$tmp/walls"
    : >"$tmp/vms"
    for _ in $(seq "$reps"); do
        t0=$(date +%s%N)
        if ! NOODLE_TIMING=1 timeout 300 "$@" >"$tmp/out" 2>"$tmp/err"; then
            echo "FAILED: $*" >&2
            cat "$tmp/err" >&2
            echo "nan nan"
            return
        fi
        t1=$(date +%s%N)
        echo "$(( (t1 - t0) / 1000 ))e-6" >>"$tmp/walls"
        sed -n 's/^noodle-run: timing: vm \([0-9.]*\) s$/\1/p' "$tmp/err" >>"$tmp/vms"
    done
    echo "$(median <"$tmp/walls") $(if [ -s "$tmp/vms" ]; then median <"$tmp/vms"; else echo nan; fi)"
}

echo 'print("ok")' >"$tmp/empty.noodle"
read -r startup _ <<<"$(timeit "$runner" "$tmp/empty.noodle")"
printf '%-10s %8s %8s %8s %8s %10s %10s %10s\n' bench noodle vm lua python noodle/lua vm/lua vm/py
for b in fib floatloop listloop maps strings; do
    read -r tn tv <<<"$(timeit "$runner" "$here/$b.noodle")"
    read -r tl _ <<<"$(timeit "$lua" "$here/$b.lua")"
    read -r tp _ <<<"$(timeit "$py" "$here/$b.py")"
    awk -v b="$b" -v n="$tn" -v v="$tv" -v l="$tl" -v p="$tp" 'BEGIN {
        printf "%-10s %8.3f %8.3f %8.3f %8.3f %10.2f %10.2f %10.2f\n", b, n, v, l, p, n / l, v / l, v / p }'
done
echo "noodle start-up (compile + MPI_Init + MPI_Finalize, an empty program): ${startup} s"
echo "noodle = whole process; vm = NOODLE_TIMING's VM run time; lua, python = whole process"
