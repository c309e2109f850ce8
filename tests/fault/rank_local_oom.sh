#!/bin/bash
# rank_local_oom.sh: an allocation failure that only one rank meets (injected with
# NOODLE_FAIL_ALLOC on rank 1 alone) takes every rank down within seconds, with one
# message naming the rank and the source position; never a hang.
set -u
: "${NOODLE_RUN:?}" "${MPIRUN:=mpirun}"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cat > "$W/grow.noodle" <<'PROG'
let parts = []
for i in 0..200000 {
  append(parts, [i, str(i)])
}
print(len(parts))
PROG
for np in 2 3; do
    start=$(date +%s)
    timeout -k 5 60 "$MPIRUN" --oversubscribe -n "$np" bash -c \
        'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then export NOODLE_FAIL_ALLOC=5000; fi; exec "$0" "$1"' \
        "$NOODLE_RUN" "$W/grow.noodle" > "$W/out" 2> "$W/err"
    rc=$?
    took=$(( $(date +%s) - start ))
    [ "$rc" = 124 ] || [ "$rc" = 137 ] && fail "np=$np: hang (killed by the timeout)"
    [ "$rc" != 0 ] || fail "np=$np: exit 0 despite the failed allocation"
    [ -s "$W/out" ] && fail "np=$np: the program printed its result"
    n=$(grep -c 'error: out of memory.*(rank 1)' "$W/err")
    [ "$n" = 1 ] || { cat "$W/err"; fail "np=$np: expected one out-of-memory message from rank 1, got $n"; }
    grep -q "grow.noodle:3:" "$W/err" || { cat "$W/err"; fail "np=$np: no source position"; }
    echo "ok   np=$np: exit $rc after ${took} s"
done
# A mistyped injection is an error, not "no injection".
NOODLE_FAIL_ALLOC=5k timeout -k 5 60 "$MPIRUN" --oversubscribe -n 2 "$NOODLE_RUN" "$W/grow.noodle" \
    > "$W/out" 2> "$W/err"
rc=$?
[ "$rc" = 2 ] || { cat "$W/err"; fail "NOODLE_FAIL_ALLOC=5k: exit $rc, expected 2"; }
grep -q "NOODLE_FAIL_ALLOC=5k: expected a count" "$W/err" || { cat "$W/err"; fail "NOODLE_FAIL_ALLOC=5k: no clear error"; }
echo PASS
