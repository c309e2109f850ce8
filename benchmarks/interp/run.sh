#!/bin/bash
# benchmarks/interp/run.sh: the interpreter benchmarks in Noodle, Lua 5.4 and Python 3.
# usage: run.sh [REPEATS]   (default 5; each time is the median of REPEATS runs)
# Noodle runs through noodle-run at one rank, without mpirun ($NOODLE_RUN, default
# ../../build/noodle-run relative to this directory).  Two Noodle times are reported:
#   noodle  the whole process (compiling the source, MPI_Init, the run, MPI_Finalize);
#   vm      the VM's own run time, as noodle-run prints it with NOODLE_TIMING=1
#           ("noodle-run: timing: vm S s (cpu C s)" on stderr), measured, not estimated.
# Lua's and Python's times are whole processes (their start-up is ~1 ms and ~15 ms).
# On a loaded machine wall times swing with the scheduler, so CPU times are reported
# too: the VM thread's CPU time against Lua's and Python's user+sys (cputime.py, to the
# microsecond).  For a load-independent comparison see callgrind.sh (instruction counts).
# Ratios below 1.0: Noodle is faster.  The target (vm/lua <= 1.0) compares the VM time
# with Lua's whole run.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
runner=${NOODLE_RUN:-$here/../../build/noodle-run}
reps=${1:-5}
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

# Runs the command `reps` times; prints "WALL CPU VM VMCPU": medians of the wall time,
# the process's user+sys time, and the VM wall and CPU times found on stderr ("nan"
# when there are none), in seconds.
timeit() {
    local t0 t1 f
    for f in walls cpus vms vmcpus; do : >"$tmp/$f"; done
    for _ in $(seq "$reps"); do
        if ! NOODLE_TIMING=1 timeout 300 python3 "$here/cputime.py" -o "$tmp/time" "$@" \
                >"$tmp/out" 2>"$tmp/err"; then
            echo "FAILED: $*" >&2
            cat "$tmp/err" >&2
            echo "nan nan nan nan"
            return
        fi
        awk 'NF == 2 {print $1}' "$tmp/time" >>"$tmp/walls"
        awk 'NF == 2 {print $2}' "$tmp/time" >>"$tmp/cpus"
        sed -n 's/^noodle-run: timing: vm \([0-9.]*\) s.*$/\1/p' "$tmp/err" >>"$tmp/vms"
        sed -n 's/^noodle-run: timing: vm .*(cpu \([0-9.]*\) s)$/\1/p' "$tmp/err" >>"$tmp/vmcpus"
    done
    for f in walls cpus vms vmcpus; do
        if [ -s "$tmp/$f" ]; then median <"$tmp/$f"; else echo nan; fi
    done | tr '\n' ' '
    echo
}

echo 'print("ok")' >"$tmp/empty.noodle"
read -r startup _ <<<"$(timeit "$runner" "$tmp/empty.noodle")"
echo "wall times (s), medians of $reps runs"
printf '%-10s %8s %8s %8s %8s %10s %10s %10s\n' bench noodle vm lua python noodle/lua vm/lua vm/py
: >"$tmp/cpu_table"
for b in fib floatloop listloop maps strings; do
    read -r tn _ tv tvc <<<"$(timeit "$runner" "$here/$b.noodle")"
    read -r tl tlc _ <<<"$(timeit "$lua" "$here/$b.lua")"
    read -r tp tpc _ <<<"$(timeit "$py" "$here/$b.py")"
    awk -v b="$b" -v n="$tn" -v v="$tv" -v l="$tl" -v p="$tp" 'BEGIN {
        printf "%-10s %8.3f %8.3f %8.3f %8.3f %10.2f %10.2f %10.2f\n", b, n, v, l, p, n / l, v / l, v / p }'
    awk -v b="$b" -v v="$tvc" -v l="$tlc" -v p="$tpc" 'BEGIN {
        printf "%-10s %8.3f %8.3f %8.3f %10.2f %10.2f\n", b, v, l, p, v / l, v / p }' >>"$tmp/cpu_table"
done
echo "noodle start-up (compile + MPI_Init + MPI_Finalize, an empty program): ${startup} s"
echo "noodle = whole process; vm = NOODLE_TIMING's VM run time; lua, python = whole process"
echo
echo "CPU times (s), medians: the VM thread's CPU time; Lua's and Python's user+sys"
printf '%-10s %8s %8s %8s %10s %10s\n' bench vm lua python vm/lua vm/py
cat "$tmp/cpu_table"
