#!/bin/bash
# benchmarks/ckpt/run.sh: checkpoint I/O and overheads (results: benchmarks/RESULTS.md).
#   1. write and restart-read of a state holding 1 GiB of matrices at 1 and 2 ranks,
#      against `dd bs=1M count=1024 conv=fsync` on the same disk (target: write >= 0.7 dd);
#   2. the safe-point cost on a loop-heavy program (hook every 16384 events with one
#      all-reduce, against no hook at all);
#   3. the overhead of checkpointing every 10 s on an example job.
# Usage: benchmarks/ckpt/run.sh [BUILD_DIR] [SCRATCH_DIR]   (defaults: ./build, /tmp)
# Environment: REPS (default 3), SECTIONS (default "io sp job"), NPS (default "1 2"),
#   ITERS (solves in the example job, default 1200).
set -eu
B=$(cd "${1:-build}" && pwd)
S=${2:-/tmp}/noodle-ckpt-bench.$$
RUN=$B/noodle-run
MPIRUN=${MPIRUN:-mpirun}
REPS=${REPS:-3}
SECTIONS=${SECTIONS:-io sp job}
NPS=${NPS:-1 2}
want() { case " $SECTIONS " in *" $1 "*) return 0 ;; esac; return 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
mkdir -p "$S"
trap 'rm -rf "$S"' EXIT
cd "$S"

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
now() { date +%s.%N; }

echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(hostname), $(nproc) cores; scratch $S"

# ---- 1. bandwidth ----
# dd and the checkpoint runs are interleaved (dd, then write + read at each rank count,
# REPS times), so that each repetition compares them under the same load; the figures
# are medians over the repetitions, and each repetition's own ratio is printed too.
if want io; then
dd_bw() {
    dd if=/dev/zero of=dd.bin bs=1M count=1024 conv=fsync 2>&1 |
        awk '/copied/ { t = $(NF - 3); print 1024 / t }'
    rm -f dd.bin
}

# 4 matrices of 8192 x 4096 doubles = 1 GiB.
cat > big.noodle <<'NOODLE'
let A = rand(8192, 4096, 1)
let B = rand(8192, 4096, 2)
let C = rand(8192, 4096, 3)
let D = rand(8192, 4096, 4)
checkpoint()
print(sum(A) + sum(B) + sum(C) + sum(D))
NOODLE
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
DDS=""
for np in $NPS; do eval "W_$np=''; R_$np=''; Q_$np=''"; done
for rep in $(seq "$REPS"); do
    d=$(dd_bw)
    DDS="$DDS $d"
    for np in $NPS; do
        rm -rf ck
        NOODLE_CKPT_STATS=1 $MPIRUN -n $np "$RUN" --checkpoint-dir ck big.noodle \
            > /dev/null 2> w.err
        w=$(awk '/stats: wrote/ { print $(NF - 1) }' w.err | tr -d '(')
        NOODLE_CKPT_STATS=1 $MPIRUN -n $np "$RUN" --checkpoint-dir ck --restart-from ck big.noodle \
            > /dev/null 2> r.err
        r=$(awk '/stats: read/ { print $(NF - 1) }' r.err | tr -d '(')
        q=$(awk -v a="$w" -v b="$d" 'BEGIN { printf "%.2f", a / b }')
        eval "W_$np=\"\$W_$np $w\"; R_$np=\"\$R_$np $r\"; Q_$np=\"\$Q_$np $q\""
    done
done
rm -rf ck
DD=$(echo $DDS | tr ' ' '\n' | median)
echo "dd bs=1M count=1024 conv=fsync: $DD MiB/s (median of $REPS; runs:$DDS)"
for np in $NPS; do
    eval "w=\$W_$np; r=\$R_$np; q=\$Q_$np"
    W=$(echo $w | tr ' ' '\n' | median)
    R=$(echo $r | tr ' ' '\n' | median)
    Q=$(echo $q | tr ' ' '\n' | median)
    echo "ranks $np: checkpoint write $W MiB/s (ratio to dd: median of the runs' ratios $Q," \
        "of the medians $(awk -v a="$W" -v b="$DD" 'BEGIN { printf "%.2f", a / b }'))," \
        "restart read $R MiB/s (median of $REPS; runs: write$w, read$r, ratio$q)"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
fi

# ---- 2. safe-point cost ----
if want sp; then
cat > loop.noodle <<'NOODLE'
let s = 0
let x = 0.0
for i in 0..20000000 {
    s = s + i % 3
    x = x + 0.5
}
print(s, x)
NOODLE
for np in $NPS; do
    for mode in never default; do
        ev=$([ $mode = never ] && echo 0 || echo "")
        t=$(for rep in $(seq "$REPS"); do
            t0=$(now)
            NOODLE_CKPT_SAFEPOINT_EVERY=$ev $MPIRUN -n $np "$RUN" loop.noodle > /dev/null
            echo "$(now) - $t0" | bc
        done | median)
        eval "T_$mode=$t"
    done
    echo "ranks $np: loop of 2e7 iterations: no safe-point hook $T_never s, hook every" \
        "16384 events $T_default s: cost $(awk -v a="$T_never" -v b="$T_default" \
        'BEGIN { printf "%.1f", 100 * (b - a) / a }') %"
done

fi

# ---- 3. checkpoint every 10 s on an example job ----
if want job; then
cat > job.noodle <<'NOODLE'
let n = 1500
let A = rand(n, n, 9) + eye(n) * n
let x = ones(n, 1)
let s = 0.0
for it in 0..int(param("iters", 60)) {
    x = solve(A, x)
    x = x / norm(x)
    s = s + sum(x)
}
print(s)
NOODLE
# ITERS solves: sized to run about a minute, so that "every 10 s" takes several.
ITERS=${ITERS:-1200}
: > ck.count
for mode in off on; do
    t=$(for rep in $(seq "$REPS"); do
        rm -rf ck
        t0=$(now)
        if [ $mode = on ]; then
            NOODLE_CKPT_STATS=1 $MPIRUN -n 2 "$RUN" --checkpoint-dir ck --checkpoint-interval 10 \
                --param iters="$ITERS" job.noodle > /dev/null 2> job.err
            grep -c "stats: wrote" job.err >> ck.count || true
        else
            $MPIRUN -n 2 "$RUN" --checkpoint-dir ck --param iters="$ITERS" job.noodle > /dev/null
        fi
        echo "$(now) - $t0" | bc
    done | median)
    eval "J_$mode=$t"
done
echo "example job (2 ranks, $ITERS solves of 1500x1500): no checkpoints $J_off s, every 10 s" \
    "$J_on s ($(tr '\n' ' ' < ck.count)checkpoints per run): overhead" \
    "$(awk -v a="$J_off" -v b="$J_on" 'BEGIN { printf "%.1f", 100 * (b - a) / a }') %"
fi
