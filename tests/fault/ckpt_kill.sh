#!/bin/bash
# ckpt_kill.sh: kill -9 one rank at several moments of a run with periodic checkpoints
# (every 0.2 s), at a random moment after its first checkpoint was committed (so that the
# test holds on a loaded machine), then --restart: the output equals an uninterrupted run bit for bit at
# the same rank count, and within 1e-12 at another count.  The program prints only at
# its end, so the killed run has printed nothing that the restart must not repeat.
. "$(dirname "$0")/ckpt_common.bash"
# 6 x 10^7 iterations: 2-3 s at 2 ranks on a fast machine, so that the kill lands in the
# run (a run that completes first is marked complete, and then rightly not resumed).
PROG_ARGS="--param n=60000000"

run_np 2 "$PROG" $PROG_ARGS > ref.out || fail "reference run"
[ -s ref.out ] || fail "reference run printed nothing"

# Waits (up to 90 s) for the first committed checkpoint in $1, then a random 0-0.6 s more.
after_first_checkpoint() {
    for ((i = 0; i < 900; i++)); do
        ls "$1"/ckpt-*.h5 >/dev/null 2>&1 && break
        sleep 0.1
    done
    sleep "0.$((RANDOM % 7))"
}

resumed=0
for t in 1 2 3; do
    d=$W/ck-$t
    timeout 120 $MPIRUN -n 2 "$NOODLE_RUN" --checkpoint-dir "$d" --checkpoint-interval 0.2 \
        "$PROG" $PROG_ARGS > killed.out 2> killed.err &
    mp=$!
    after_first_checkpoint "$d"
    ranks=$(rank_pids "$mp" || true)
    victim=$(echo "$ranks" | awk 'NF' | shuf -n 1)
    [ -n "$victim" ] && kill -9 "$victim"
    wait "$mp"
    rc=$?
    if [ "$rc" = 0 ]; then
        # Finished before the kill: its own output must be the reference.
        cmp -s killed.out ref.out || fail "t=$t: a run that finished differs"
        continue
    fi
    if [ -s killed.out ]; then
        # The kill landed after the program printed its result (while the ranks shut
        # down): that output must be the complete, correct result.
        cmp -s killed.out ref.out || fail "t=$t: the killed run printed partial output"
        continue
    fi
    run_np 2 --checkpoint-dir "$d" --checkpoint-interval 0.2 --restart "$PROG" $PROG_ARGS > r2.out \
        2> r2.err || { cat r2.err; fail "t=$t: restart at 2 ranks"; }
    cmp -s r2.out ref.out || { diff r2.out ref.out; fail "t=$t: restart at 2 ranks differs"; }
    grep -q "restarting from" r2.err && resumed=$((resumed + 1))
    ls "$d"/ckpt-*.h5 > /dev/null 2>&1 || fail "t=$t: no checkpoint committed"
done

# Another rank count: kill again, restart at 3 ranks and at 1 rank.
for np in 3 1; do
    d=$W/ck-np$np
    timeout 120 $MPIRUN -n 2 "$NOODLE_RUN" --checkpoint-dir "$d" --checkpoint-interval 0.2 \
        "$PROG" $PROG_ARGS > killed.out 2> killed.err &
    mp=$!
    after_first_checkpoint "$d"
    victim=$(rank_pids "$mp" | head -n 1)
    [ -n "$victim" ] && kill -9 "$victim"
    wait "$mp"
    rc=$?
    if [ "$rc" = 0 ] || [ -s killed.out ]; then
        # Finished before the kill (its directory is then marked complete, and a
        # --restart would rightly run nothing): its own output must be the reference.
        cmp -s killed.out ref.out || fail "np=$np: a run that finished differs"
        continue
    fi
    run_np "$np" --checkpoint-dir "$d" --restart "$PROG" $PROG_ARGS > rn.out 2> rn.err ||
        { cat rn.err; fail "restart at $np ranks"; }
    same_numbers ref.out rn.out || { diff ref.out rn.out; fail "restart at $np ranks differs"; }
    grep -q "restarting from" rn.err && resumed=$((resumed + 1))
done
# At least some kills must have hit after a checkpoint, or the test proved nothing.
[ "$resumed" -ge 2 ] || fail "only $resumed restarts resumed from a checkpoint"
echo "PASS"
