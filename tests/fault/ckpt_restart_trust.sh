#!/bin/bash
# ckpt_restart_trust.sh: restart that a user can trust (docs/checkpoint.md "Completed
# runs", "Restart"):
#  - a run that completes marks its directory COMPLETE; --restart then says so, exits 0,
#    runs nothing and stores nothing (before the parameter check); --fresh runs again;
#  - a restart with other parameters names only those that changed, without a usage line;
#  - wtime() continues across a restart from its value at the checkpoint;
#  - the checkpoint names the variables that hold its matrices (/variables/U);
#  - SIGUSR1 while the ranks start gives exit 75 (before any work or at the first safe
#    point), never a rank killed by the signal; a signal or --run-time that came due
#    but could not be honoured, and an interval that wrote nothing, are reported.
. "$(dirname "$0")/ckpt_common.bash"
py=/usr/bin/python3
MQL=$(dirname "$NOODLE_RUN")/noodle-mql

cat > done.noodle <<'NOODLE'
let n = param("n", 3)
let M = rand(6, 5, n)
checkpoint()
store("m", M, {"n": n})
print("ran", n)
NOODLE
versions() { "$MQL" cat "SELECT name, version FROM results WHERE name = 'm'" | grep -c '^m '; }

# 1. completed runs
run_np 2 --checkpoint-dir ck1 --catalog cat --restart done.noodle >out 2>err ||
    { cat err; fail "first run"; }
[ "$(cat out)" = "ran 3" ] || fail "first run printed '$(cat out)'"
grep -q "^noodle run complete" ck1/COMPLETE || fail "no COMPLETE mark after a completed run"
for args in "" "--param n=4"; do
    run_np 2 --checkpoint-dir ck1 --catalog cat --restart done.noodle $args >out 2>err
    rc=$?
    [ $rc = 0 ] || { cat err; fail "--restart $args on a completed run: exit $rc"; }
    [ ! -s out ] || fail "--restart $args on a completed run ran the program: $(cat out)"
    grep -q "already completed at .*; nothing to do (--fresh runs it again)" err ||
        { cat err; fail "--restart $args: no 'already completed' message"; }
done
[ "$(versions)" = 1 ] || fail "restarts of a completed run stored versions: $(versions)"
run_np 2 --checkpoint-dir ck1 --catalog cat --restart --fresh done.noodle >out 2>err ||
    { cat err; fail "--fresh"; }
[ "$(cat out)" = "ran 3" ] && [ "$(versions)" = 2 ] || fail "--fresh did not run again"
grep -q "removed 1 checkpoint and the completion mark" err || { cat err; fail "--fresh message"; }
[ -f ck1/COMPLETE ] || fail "--fresh run not marked complete"
echo "ok: completed runs"

# 2. an interrupted run; a restart with other parameters; then the real restart
cat > slow.noodle <<'NOODLE'
let n = param("n", 1000000000000)
let tag = param("tag", "a")
let U = rand(8, 8, 2)
let t_ck = wtime()
checkpoint()
let d = wtime() - t_ck
let s = 0
for i in 0..n { s = s + i % 3 }
print(d >= 0, d < 4, s)
NOODLE
timeout 120 $MPIRUN -n 2 "$NOODLE_RUN" --checkpoint-dir ck2 slow.noodle --param n=400000000 \
    >out 2>err &
mp=$!
for k in $(seq 200); do [ -f ck2/ckpt-1.h5 ] && break; sleep 0.05; done
[ -f ck2/ckpt-1.h5 ] || fail "checkpoint() wrote nothing"
kill -9 "$(mpirun_pid "$mp")" $(rank_pids "$mp") 2>/dev/null
wait "$mp" 2>/dev/null
[ ! -f ck2/COMPLETE ] || fail "a killed run is marked complete"
"$py" - ck2/ckpt-1.h5 <<'PY' || fail "the checkpoint does not name U"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    assert f["variables/U"].shape == (8, 8), list(f)
    assert f["matrices/m0"].attrs["variables"] == b"U"
PY
run_np 2 --checkpoint-dir ck2 --restart slow.noodle --param n=400000001 --param tag=b >out 2>err
rc=$?
[ $rc = 2 ] || { cat err; fail "restart with other parameters: exit $rc, expected 2"; }
grep -q "written with other parameters (n: 400000000 -> 400000001, tag=b added); use --force" err ||
    { cat err; fail "parameter message"; }
grep -q "usage:" err && { cat err; fail "a usage line after a parameter mismatch"; }
sleep 4 # not counted by wtime() after the restart
run_np 2 --checkpoint-dir ck2 --restart slow.noodle --param n=400000000 >out 2>err ||
    { cat err; fail "restart"; }
grep -q "restarting from '.*ckpt-1.h5'" err || { cat err; fail "did not restart from ckpt-1"; }
set -- $(cat out)
[ "$1 $2" = "true true" ] || fail "wtime() across the restart: d >= 0 and d < 4 gave '$1 $2'"
echo "ok: interrupted run, parameter message, wtime() across a restart, variable names"

# Bytecode of format 1 (before the safe-point invariant), as a .nbc and inside a
# checkpoint (resealed: its SHA-256 matches): refused with 'recompile', exit 3.
"$(dirname "$NOODLE_RUN")/noodlec" slow.noodle -o old.nbc || fail "noodlec"
printf '\001' | dd of=old.nbc bs=1 seek=8 conv=notrunc 2>/dev/null
run_np 2 old.nbc >out 2>err
rc=$?
[ $rc = 3 ] && grep -q "unsupported bytecode version 1 (this build reads version 2); recompile" err ||
    { cat err; fail "a version 1 .nbc: exit $rc"; }
cp ck2/ckpt-1.h5 old.h5
"$py" - old.h5 <<'PY' || fail "resealing an old checkpoint"
import sys, hashlib, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    b = f["program/bytecode"][...]
    b[8] = 1
    f["program/bytecode"][...] = b
    hexd = hashlib.sha256(b.tobytes()).hexdigest()
    # fixed-length, NUL-terminated, as noodle-run writes them
    f["program"].attrs.create("sha256", np.array(hexd.encode(), dtype="S65"))
    f.attrs.create("program_sha256", np.array(hexd.encode(), dtype="S65"))
PY
run_np 2 --restart-from old.h5 slow.noodle >out 2>err
rc=$?
[ $rc = 3 ] && grep -q "holds bytecode of format version 1 (this build runs version 2); recompile" err ||
    { cat err; fail "a checkpoint with version 1 bytecode: exit $rc"; }
echo "ok: format 1 bytecode refused, in a file and in a checkpoint"

# 3. what could not be honoured is said
cat > short.noodle <<'NOODLE'
let A = ones(2, 2)
let s = 0
if rank() == 0 {
  for i in 0..300000000 { s = s + 1 }
}
print(sum(A))
NOODLE
usr1_after 0.8 2 --checkpoint-dir ck3 --checkpoint-interval 1000 --run-time 0.3 short.noodle
rc=$?
[ $rc = 0 ] || { cat err; fail "rank-dependent tail: exit $rc"; }
grep -q "warning: SIGUSR1 arrived, but the program ended before a safe point" err ||
    { cat err; fail "no warning for the signal that was not honoured"; }
grep -q "warning: limits.run_time (0.3 s) passed" err || { cat err; fail "no run-time warning"; }
grep -q "checkpoint interval 1000 s set, but no checkpoint was written" err ||
    { cat err; fail "no note on the interval"; }
echo "ok: unhonoured signal, run time and interval are reported"

# A signal during rank-dependent work is honoured at the next uniform safe point after it.
cat > after.noodle <<'NOODLE'
let s = 0
if rank() == 0 {
  for i in 0..150000000 { s = s + 1 }
}
let t = 0
for i in 0..1000000000000 { t = t + 1 }
print(t)
NOODLE
usr1_after 0.4 2 --checkpoint-dir ck5 after.noodle
rc=$?
[ $rc = 75 ] || { cat err; fail "signal during rank-dependent work: exit $rc, expected 75"; }
[ -f ck5/ckpt-1.h5 ] || fail "signal during rank-dependent work: no checkpoint"
echo "ok: a signal during rank-dependent work is honoured after it"

# 4. SIGUSR1 while the job starts: exit 75 every time, never a rank killed
for k in $(seq 6); do
    d=$(awk -v k="$k" 'BEGIN { srand(k); printf "%.2f", 0.15 + 1.2 * rand() }')
    rm -rf ck4
    usr1_after "$d" 2 --checkpoint-dir ck4 slow.noodle
    rc=$?
    [ $rc = 75 ] || { cat err; fail "SIGUSR1 $d s after launch: exit $rc, expected 75"; }
    grep -q "exiting with status 75" err || { cat err; fail "SIGUSR1 $d s after launch: message"; }
done
echo "ok: SIGUSR1 at start-up ends in exit 75"
echo "PASS"
