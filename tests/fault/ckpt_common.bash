# ckpt_common.bash: shared set-up of the checkpoint fault tests (tests/fault/ckpt_*.sh),
# sourced, not run.  Gives: $W (a scratch directory removed on exit), $PROG (a loop-heavy
# program that prints only at the end, so a killed run prints nothing), run_np N ARGS...
# (noodle-run under mpirun and a timeout), same_numbers A B (relative 1e-12).
set -u
: "${NOODLE_RUN:?NOODLE_RUN must name the noodle-run binary}"
MPIRUN=${MPIRUN:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
command -v "${MPIRUN%% *}" >/dev/null 2>&1 || { echo "SKIP: no mpirun"; exit 77; }
W=$(mktemp -d /tmp/noodle-fault.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1

# Loop-heavy, with lists, a map sharing a list, and a matrix updated in the loop; the
# only output is the last line.  About 3-10 s at n = 10000000 at 2 ranks on the test machine.
PROG=$W/work.noodle
cat > "$PROG" <<'NOODLE'
let n = param("n", 10000000)
let A = rand(60, 40, 11)
let L = []
let M = {"acc": L, "name": "work"}
let s = 0.0
for i in 0..n {
    s = s + (i % 7) * 0.25 + 1.0 / (i + 1)
    if i % 250000 == 0 {
        append(L, i)
        A = A * 1.0000001 + 0.001
    }
}
print(s, len(M["acc"]), sum(A), norm(A), M["acc"] == L)
NOODLE

# run_np N [args...]: noodle-run at N ranks, bounded.
run_np() {
    local n=$1
    shift
    timeout 120 $MPIRUN -n "$n" "$NOODLE_RUN" "$@"
}

# same_numbers FILE1 FILE2: equal word by word, numbers within 1e-12 relative.
same_numbers() {
    awk 'NR == FNR { for (k = 1; k <= NF; k++) a[FNR, k] = $k; nf[FNR] = NF; n = FNR; next }
         { if (nf[FNR] != NF) bad = 1
           for (k = 1; k <= NF; k++) {
               x = a[FNR, k]; y = $k
               if (x == y) continue
               if (x !~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) { bad = 1; continue }
               d = x - y; if (d < 0) d = -d
               m = (x < 0 ? -x : x); if (m < 1e-300) m = 1e-300
               if (d / m > 1e-12) bad = 1
           }
           m2 = FNR }
         END { exit (bad || m2 != n) }' "$1" "$2"
}

fail() {
    echo "FAIL: $*"
    exit 1
}

# mpirun_pid PID: the mpirun started under `timeout` (PID is timeout's); rank_pids PID:
# the ranks mpirun started (children of mpirun, one a line).
mpirun_pid() {
    local k
    for k in $(seq 50); do
        pgrep -P "$1" && return 0
        sleep 0.05
    done
}
rank_pids() {
    pgrep -P "$(mpirun_pid "$1")" -f noodle-run
}

# usr1_after S N ARGS...: noodle-run ARGS at N ranks, SIGUSR1 to mpirun after S seconds;
# stdout and stderr go to ./out and ./err; returns the exit status.
usr1_after() {
    local s=$1 n=$2 mp
    shift 2
    timeout 120 $MPIRUN -n "$n" "$NOODLE_RUN" "$@" >out 2>err &
    mp=$!
    sleep "$s"
    kill -USR1 "$(mpirun_pid "$mp")"
    wait "$mp"
}
