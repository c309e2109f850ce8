#!/bin/bash
# benchmarks/interp/run.sh: the interpreter benchmarks in Noodle, Lua 5.4 and Python 3.
# usage: run.sh [REPEATS]   (default 3; each time is the median of REPEATS runs)
# Noodle runs through noodle-run at one rank, without mpirun ($NOODLE_RUN, default
# ../../build/noodle-run relative to this directory); its time includes compiling the
# source and starting MPI, printed separately as "startup" (an empty program).
# Prints one line per benchmark with the three times (seconds) and the ratios
# Noodle/Lua and Noodle/Python (below 1.0: Noodle is faster).
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

# median wall time in seconds of `reps` runs of the command; output must be identical
timeit() {
    local ts=() t0 t1
    for _ in $(seq "$reps"); do
        t0=$(date +%s%N)
        if ! timeout 300 "$@" >"$tmp/out" 2>"$tmp/err"; then
            echo "FAILED: $*" >&2
            cat "$tmp/err" >&2
            echo "nan"
            return
        fi
        t1=$(date +%s%N)
        ts+=("$(( (t1 - t0) / 1000 ))")
    done
    printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f\n", a[int((NR+1)/2)]/1e6}'
}

echo 'print("ok")' >"$tmp/empty.noodle"
startup=$(timeit "$runner" "$tmp/empty.noodle")
printf '%-10s %8s %8s %8s %10s %10s %12s\n' bench noodle lua python noodle/lua noodle/py net/lua
# net/lua: (noodle - startup) / lua, the interpreter alone against Lua.
for b in fib floatloop listloop maps strings; do
    tn=$(timeit "$runner" "$here/$b.noodle")
    tl=$(timeit "$lua" "$here/$b.lua")
    tp=$(timeit "$py" "$here/$b.py")
    awk -v b="$b" -v n="$tn" -v l="$tl" -v p="$tp" -v s="$startup" 'BEGIN {
        printf "%-10s %8.3f %8.3f %8.3f %10.2f %10.2f %12.2f\n", b, n, l, p, n / l, n / p, (n - s) / l }'
done
echo "noodle startup (compile + MPI init, an empty program): ${startup} s"
