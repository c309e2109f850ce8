#!/bin/bash
# run_time_limit.sh: limits.run_time (docs/config.md): a program that never ends is
# stopped at a safe point once the limit has passed, with one clear message; it
# checkpoints first and exits 75 (so that a batch script requeues it), and --restart
# resumes from that checkpoint (and stops again at the limit); when the checkpoint cannot
# be written the exit is 1 and the message says both.  Also at 1 rank, from a file.
. "$(dirname "$0")/ckpt_common.bash"

cat > spin.noodle <<'NOODLE'
let A = rand(20, 20, 5)
let s = 0
while true {
    s = s + 1
    if s % 1000000 == 0 {
        A = A * 0.5 + 1.0
    }
}
print(s)
NOODLE

# --- 2 ranks, from the environment: checkpoint, exit 75, one message ---
NOODLE_LIMITS_RUN_TIME=1 run_np 2 --checkpoint-dir "$W/ck" spin.noodle > o 2> e
rc=$?
[ "$rc" = 75 ] || { cat e; fail "2 ranks: exit $rc, expected 75"; }
[ "$(grep -c 'run time limit of 1 s reached' e)" = 1 ] || { cat e; fail "2 ranks: message not printed once"; }
grep -q "checkpointed in '$W/ck'" e || { cat e; fail "2 ranks: message does not name the checkpoint"; }
ls "$W"/ck/ckpt-*.h5 > /dev/null 2>&1 || fail "2 ranks: no checkpoint written"
[ -s o ] && fail "2 ranks: output from a program that never ends"
grep -q '^noodle-run: summary: .* 1 checkpoint ' e || { cat e; fail "2 ranks: summary lacks the checkpoint"; }

# --- --restart resumes that checkpoint, and the limit applies again ---
NOODLE_LIMITS_RUN_TIME=1 run_np 2 --checkpoint-dir "$W/ck" --restart spin.noodle > o 2> e
rc=$?
[ "$rc" = 75 ] || { cat e; fail "restart: exit $rc, expected 75"; }
grep -q "restarting from '$W/ck/ckpt-1.h5'" e || { cat e; fail "restart: did not resume"; }
grep -q 'run time limit of 1 s reached' e || { cat e; fail "restart: limit not applied"; }
ls "$W"/ck/ckpt-2.h5 > /dev/null 2>&1 || fail "restart: no second checkpoint"

# --- 1 rank, from a config file, fractional seconds ---
printf 'limits:\n  run_time: 0.5\n' > limit.yaml
run_np 1 --config limit.yaml --checkpoint-dir "$W/ck1" spin.noodle > o 2> e
rc=$?
[ "$rc" = 75 ] || { cat e; fail "1 rank: exit $rc, expected 75"; }
grep -q 'run time limit of 0.5 s reached' e || { cat e; fail "1 rank: no message"; }

# --- the checkpoint cannot be written: exit 1, both reasons ---
touch "$W/file"
NOODLE_LIMITS_RUN_TIME=1 run_np 2 --checkpoint-dir "$W/file/ck" spin.noodle > o 2> e
rc=$?
[ "$rc" = 1 ] || { cat e; fail "unwritable: exit $rc, expected 1"; }
[ "$(grep -c 'error: run time limit of 1 s reached' e)" = 1 ] || { cat e; fail "unwritable: message not printed once"; }
grep -q 'cannot create directory' e || { cat e; fail "unwritable: the checkpoint error is not named"; }

# --- no limit (0): a program that ends is not affected ---
cat > short.noodle <<'NOODLE'
let s = 0
for i in 0..100000 {
    s = s + i
}
print(s)
NOODLE
NOODLE_LIMITS_RUN_TIME=0 run_np 2 short.noodle > o 2> e || { cat e; fail "no limit: run failed"; }
[ "$(cat o)" = 4999950000 ] || { cat o; fail "no limit: wrong output"; }
echo "PASS"
