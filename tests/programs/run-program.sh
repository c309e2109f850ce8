#!/bin/bash
# run-program.sh PROG.noodle: the driver of the program tests (automake LOG_COMPILER).
# Runs PROG under mpirun at each rank count of its `# ranks:` line (default 1 2 3 4), each
# under a timeout, and checks the run against the inline expectations:
#   # expect: TEXT          the next line of stdout (numbers within a relative 1e-9
#                           unless the program has a `# exact` line)
#   # expect error: L:C: WORDS   a non-zero exit, and exactly one error line
#                           `PROG:L:C: error: ...` containing WORDS
#   # exit: N               the expected exit status (default 0, or 1 with an error)
#   # args: ...             extra noodle-run arguments (e.g. --param n=3)
#   # exact                 no float tolerance; stdout byte-identical at every rank count
# NOODLE_TEST_RANKS="1 2" keeps only those of a program's rank counts (all if none is left).
# Every rank count must give the same output.  Exit 0 pass, 1 fail (automake protocol).
set -u
prog=$1
# Programs run in a scratch directory: use an absolute path.
case $prog in /*) ;; *) prog=$PWD/$prog ;; esac
: "${NOODLE_RUN:?}" "${MPIRUN:=mpirun}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=/usr/bin/python3
ranks=$(sed -n 's/^# ranks: *//p' "$prog" | head -n 1)
[ -n "$ranks" ] || ranks="1 2 3 4"
# NOODLE_TEST_RANKS (a list of rank counts) narrows them, for a quicker second build in CI.
if [ -n "${NOODLE_TEST_RANKS:-}" ]; then
    keep=""
    for np in $ranks; do
        case " $NOODLE_TEST_RANKS " in *" $np "*) keep="$keep $np" ;; esac
    done
    ranks=${keep:-$ranks}
fi
args=$(sed -n 's/^# args: *//p' "$prog" | head -n 1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for np in $ranks; do
    # Each run has its own scratch directory, so files it writes (HDF5, catalogs,
    # checkpoints) start empty at every rank count.
    mkdir -p "$tmp/run.$np"
    (cd "$tmp/run.$np" && timeout -k 10 120 "$MPIRUN" --oversubscribe -n "$np" "$NOODLE_RUN" \
        $args "$prog" >"$tmp/out.$np" 2>"$tmp/err.$np" </dev/null)
    rc=$?
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        echo "FAIL np=$np: timeout (no exit within 120 s)"
        status=1
        continue
    fi
    if "$py" "$here/check_output.py" "$prog" "$tmp/out.$np" "$tmp/err.$np" "$rc" "$np"; then
        echo "ok   np=$np"
    else
        status=1
    fi
done
# `# exact`: the output must be byte-identical at every rank count.
if grep -q '^# exact *$' "$prog"; then
    first=""
    for np in $ranks; do
        [ -f "$tmp/out.$np" ] || continue
        if [ -z "$first" ]; then first=$np; continue; fi
        if ! cmp -s "$tmp/out.$first" "$tmp/out.$np"; then
            echo "FAIL: output at np=$np differs from np=$first (exact)"
            diff "$tmp/out.$first" "$tmp/out.$np" | head -n 10
            status=1
        fi
    done
fi
exit $status
