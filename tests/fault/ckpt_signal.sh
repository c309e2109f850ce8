#!/bin/bash
# ckpt_signal.sh: SIGUSR1 (forwarded by mpirun to every rank) -> a checkpoint and exit 75
# -> --restart finishes with the output of an uninterrupted run; the same with SIGUSR1
# sent to one rank only.
. "$(dirname "$0")/ckpt_common.bash"

# 4 x 10^7 iterations: several seconds, so that the signal at 1 s lands mid-run.
ARGS="--param n=40000000"
run_np 2 "$PROG" $ARGS > ref.out || fail "reference run"
for target in mpirun one-rank; do
    d=$W/ck-$target
    timeout 120 $MPIRUN -n 2 "$NOODLE_RUN" --checkpoint-dir "$d" "$PROG" $ARGS > s.out 2> s.err &
    mp=$!
    sleep 1.0
    if [ $target = mpirun ]; then
        kill -USR1 "$(mpirun_pid "$mp")"
    else
        kill -USR1 "$(rank_pids "$mp" | tail -n 1)"
    fi
    wait "$mp"
    rc=$?
    # 138: the program had finished and mpirun, shutting down, died of the signal.
    if [ "$rc" = 0 ] || { [ "$rc" = 138 ] && [ -s s.out ]; }; then
        cmp -s s.out ref.out || fail "$target: finished before the signal, output differs"
        echo "note: $target: the run finished before the signal (exit $rc)"
        continue
    fi
    [ "$rc" = 75 ] || { cat s.err; fail "$target: exit $rc, expected 75"; }
    grep -q "checkpointed to" s.err || { cat s.err; fail "$target: no checkpoint message"; }
    [ "$(grep -c 'checkpointed to' s.err)" = 1 ] || fail "$target: message not printed once"
    [ -s s.out ] && fail "$target: output before the end"
    run_np 2 --checkpoint-dir "$d" --restart "$PROG" $ARGS > r.out 2> r.err ||
        { cat r.err; fail "$target: restart"; }
    cmp -s r.out ref.out || { diff r.out ref.out; fail "$target: output differs"; }
done
echo "PASS"
