#!/bin/bash
# loop_shapes.sh: safe points hold for every loop shape (docs/vm.md "Safe points").
# loop_shapes.py writes 240 programs from a seed (LOOP_SHAPES_SEED, default 1): while/for,
# while true + break, continue, nesting, and/or/not conditions, bool variables, an if or
# if/else last in the body, loops in functions, recursion, rank-dependent loops.
#  1. Each compiles at -O0 and -O1, and the bytecode passes the verifier on load
#     (noodlec --disasm) and, checked independently here from the disassembly, only
#     JMP, FORLOOP and ITERLOOP jump backwards.
#  2. A sample runs at -O0 and -O1 at 1 and 3 ranks: the same line everywhere (the
#     rank-dependent loops neither hang nor change the result).
#  3. 20 of them run "forever" (n = 10^12) at 2 ranks: --checkpoint-interval writes
#     checkpoints and --run-time stops the run with exit 75; SIGUSR1 to mpirun gives exit
#     75 and a checkpoint that --restart continues from.  The latencies from the signal
#     to the written checkpoint, as noodle-run reports them, are printed
#     (benchmarks/RESULTS.md "Safe points"), never asserted.
# NOODLE_LONG=1 (make check-long) runs step 2 on every program.
. "$(dirname "$0")/ckpt_common.bash"
NOODLEC=${NOODLEC:-$(dirname "$NOODLE_RUN")/noodlec}
py=/usr/bin/python3
seed=${LOOP_SHAPES_SEED:-1}
count=240
"$py" "$top_srcdir/tests/fault/loop_shapes.py" "$seed" "$count" "$W" || fail "generator"

# 1. compile and verify
for k in $(seq 0 $((count - 1))); do
    for O in 0 1; do
        nbc=$W/s$k.O$O.nbc
        "$NOODLEC" -O$O "$W/shape_$k.noodle" -o "$nbc" 2>err || { cat err; fail "shape_$k -O$O: compile"; }
        "$NOODLEC" --disasm "$nbc" >dis 2>err || { cat err; fail "shape_$k -O$O: verifier: $(cat err)"; }
        # "  pc  line:col  OP  ... ->T": a backward T needs JMP, FORLOOP or ITERLOOP.
        bad=$(awk '$1 ~ /^[0-9]+$/ { for (f = 3; f <= NF; f++) if ($f ~ /^->[0-9]+$/) {
                      t = substr($f, 3) + 0
                      if (t <= $1 + 0 && $3 != "JMP" && $3 != "FORLOOP" && $3 != "ITERLOOP") print } }' dis)
        [ -z "$bad" ] || fail "shape_$k -O$O: backward branch without a safe point: $bad"
    done
done
echo "ok: $count programs x 2 levels compile, verify, and jump backwards only through safe points"

# 2. the same output at -O0/-O1 and 1/3 ranks
step=12
[ "${NOODLE_LONG:-0}" = 1 ] && step=1
nrun=0
for k in $(seq 0 "$step" $((count - 1))); do
    first=""
    for np in 1 3; do
        for O in 0 1; do
            run_np $np --log-level warn "$W/s$k.O$O.nbc" >out 2>err || { cat err; fail "shape_$k -O$O at $np: exit $?"; }
            [ -n "$first" ] || first=$(cat out)
            [ "$(cat out)" = "$first" ] || fail "shape_$k -O$O at $np ranks: '$(cat out)', not '$first'"
        done
    done
    nrun=$((nrun + 1))
done
echo "ok: $nrun programs print the same at -O0/-O1 and 1/3 ranks"

# 3. long runs: 20 programs, alternately at -O1 and -O0
lat=""
for k in $(seq 0 11 $((11 * 19))); do
    O=$(( (k / 11) % 2 == 0 ? 1 : 0 ))
    nbc=$W/s$k.O$O.nbc
    ck=$W/ck$k
    args="--log-level warn --param n=1000000000000 --checkpoint-dir $ck"
    # --checkpoint-interval and --run-time: interval checkpoints, then exit 75.
    # The run-time stop writes the last checkpoint, so 2 or more means the interval wrote
    # at least one (on a loaded machine start-up takes much of the 1.6 s: 3 was asked once,
    # and a loaded CI machine gave 2, 2026-12-07).
    run_np 2 $args --checkpoint-interval 0.2 --run-time 1.6 "$nbc" >out 2>err
    rc=$?
    [ $rc = 75 ] || { cat err; fail "shape_$k -O$O: --run-time: exit $rc, expected 75"; }
    last=$(ls "$ck" | sed -n 's/^ckpt-\([0-9]*\)\.h5$/\1/p' | sort -n | tail -n 1)
    [ -n "$last" ] && [ "$last" -ge 2 ] ||
        fail "shape_$k -O$O: --checkpoint-interval 0.2 over 1.6 s wrote ${last:-no} checkpoints"
    # SIGUSR1 to mpirun mid-run (from the restart, so the checkpoint must load).
    usr1_after 0.6 2 $args --restart "$nbc"
    rc=$?
    [ $rc = 75 ] || { cat err; fail "shape_$k -O$O: SIGUSR1: exit $rc, expected 75"; }
    next=$(ls "$ck" | sed -n 's/^ckpt-\([0-9]*\)\.h5$/\1/p' | sort -n | tail -n 1)
    [ "$next" -gt "$last" ] || fail "shape_$k -O$O: SIGUSR1 wrote no checkpoint"
    "$py" -c "import h5py,sys; h5py.File(sys.argv[1], 'r').close()" "$ck/ckpt-$next.h5" ||
        fail "shape_$k -O$O: the signal's checkpoint does not open"
    lat="$lat $(sed -n 's/.* on SIGUSR1 (\([0-9.]*\) s after it arrived).*/\1/p' err)"
done
echo "ok: 20 long runs: interval checkpoints, --run-time and SIGUSR1 end in exit 75"
echo "seconds from SIGUSR1 to its checkpoint:$lat"
echo "PASS"
