#!/bin/bash
# ckpt_retention.sh: retention (--checkpoint-keep 2) counts only valid checkpoints, and
# only exact names ckpt-<N>.h5 are checkpoints (docs/checkpoint.md "Retention"):
#  1. an empty newest file: --restart resumes from the newest valid one, and the next
#     checkpoint does not delete it; the empty file goes once 2 newer valid ones exist;
#  2. planted names (ckpt-18446744073709551615.h5, ckpt--1.h5, ckpt-01.h5, ...) draw one
#     warning each per run, are neither read nor deleted, and never push valid
#     checkpoints out.
# NOODLE_CKPT_FAIL_WRITE=N stops a run at its Nth checkpoint, leaving the earlier ones.
. "$(dirname "$0")/ckpt_common.bash"

P=$W/four.noodle
cat > "$P" <<'NOODLE'
let A = rand(40, 30, 3)
let L = [1]
let s = 0
for i in 0..2000 { s = s + i }
checkpoint()
A = A * 2.0 + 1.0
append(L, s)
checkpoint()
append(L, 7)
checkpoint()
s = s * 3
checkpoint()
print(s, L, sum(A), norm(A))
NOODLE
run_np 2 --checkpoint-dir ref "$P" > ref.out || fail "reference run"

# have DIR N...: exactly these checkpoints (ckpt-N.h5, N < 10^19) in DIR.
have() {
    local d=$1 got want
    shift
    got=$(cd "$d" && ls | grep -E '^ckpt-[1-9][0-9]{0,18}\.h5$' | sort | tr '\n' ' ')
    want=$(for n in "$@"; do echo "ckpt-$n.h5"; done | sort | tr '\n' ' ')
    [ "$got" = "$want" ] || fail "$d holds '$got', expected '$want'"
}
# stop_at N ARGS...: a run whose Nth checkpoint write fails (exit 1, stderr in ./err).
stop_at() {
    local n=$1
    shift
    NOODLE_CKPT_FAIL_WRITE=$n run_np 2 --checkpoint-keep 2 "$@" "$P" > out 2> err
    [ $? = 1 ] && grep -q "checkpoint failed" err || { cat err; fail "$*: did not stop at write $n"; }
}

# 1. ckpt-1, ckpt-2 valid, ckpt-3 empty.
d=$W/ck-empty
stop_at 3 --checkpoint-dir "$d"
have "$d" 1 2
: > "$d/ckpt-3.h5"
stop_at 2 --checkpoint-dir "$d" --restart     # writes ckpt-4, stops at the next
grep -q "warning: .*ckpt-3.h5.*trying an older one" err || { cat err; fail "empty: no warning"; }
grep -q "restarting from '$d/ckpt-2.h5'" err || { cat err; fail "empty: not from ckpt-2"; }
have "$d" 2 3 4                                # ckpt-2 is one of the 2 newest valid ones
run_np 2 --checkpoint-dir "$d" --checkpoint-keep 2 --restart "$P" > out 2> err ||
    { cat err; fail "empty: last restart"; }
grep -q "restarting from '$d/ckpt-4.h5'" err || { cat err; fail "empty: not from ckpt-4"; }
cmp -s out ref.out || { diff out ref.out; fail "empty: output differs"; }
have "$d" 4 5                                  # ckpt-5, ckpt-4 valid: 2 and 3 go

# 2. planted names beside ckpt-1, ckpt-2: a valid copy, empty files, text.
d=$W/ck-names
stop_at 3 --checkpoint-dir "$d"
odd="ckpt-18446744073709551615.h5 ckpt--1.h5 ckpt-01.h5 ckpt-1x.h5 ckpt-0.h5 ckpt-+2.h5"
cp "$d/ckpt-1.h5" "$d/ckpt-18446744073709551615.h5"
cp "$d/ckpt-1.h5" "$d/ckpt-+2.h5"
: > "$d/ckpt--1.h5"
echo "not a checkpoint" > "$d/ckpt-01.h5"
: > "$d/ckpt-1x.h5"
: > "$d/ckpt-0.h5"
: > "$d/ckpt-3.h5.tmp.keep"                   # a temporary's name: no warning
# once_each: one warning naming each planted file in ./err, none for anything else.
once_each() {
    local f
    for f in $odd; do
        [ "$(grep -c "warning: .*'$d/$f'" err)" = 1 ] || { cat err; fail "$1: not one warning for $f"; }
    done
    [ "$(grep -c warning err)" = 6 ] || { cat err; fail "$1: other warnings"; }
}
stop_at 2 --checkpoint-dir "$d" --restart     # restores ckpt-2, writes ckpt-3, stops
once_each "names, first restart"
grep -q "restarting from '$d/ckpt-2.h5'" err || { cat err; fail "names: not from ckpt-2"; }
have "$d" 2 3
run_np 2 --checkpoint-dir "$d" --checkpoint-keep 2 --restart "$P" > out 2> err ||
    { cat err; fail "names: last restart"; }
once_each "names, last restart"
grep -q "restarting from '$d/ckpt-3.h5'" err || { cat err; fail "names: not from ckpt-3"; }
cmp -s out ref.out || { diff out ref.out; fail "names: output differs"; }
have "$d" 3 4
for f in $odd ckpt-3.h5.tmp.keep; do [ -e "$d/$f" ] || fail "names: $f was deleted"; done
echo "PASS"
