#!/bin/bash
# test.sh [CONFIGURE-ARGS...]: builds Noodle in ./build (or $NOODLE_BUILD_DIR) with
# warnings as errors and runs every test (`make check`: Check unit suites, .noodle
# programs at 1..4 ranks or NOODLE_TEST_RANKS, the examples, fault tests).
# Ends with "N passed, N failed"; exits non-zero on any failure.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" || exit 1
"$top/scripts/build.sh" --enable-werror "$@" || exit 1
cd "$top/${NOODLE_BUILD_DIR:-build}" || exit 1
# One test at a time: the fault tests time real events (signals, kills, a Slurm
# requeue) and are steadier when they do not compete with each other for 2 cores.
# NOODLE_TEST_SKIP (names as `make print-tests` lists them) leaves tests out: for a
# second configuration, the tests its configure options cannot change.
if [ -n "${NOODLE_TEST_SKIP:-}" ]; then
    tests=$(make -s print-tests | tr ' ' '\n' | grep -vxF -e "" $(printf -- '-e %s ' $NOODLE_TEST_SKIP) | tr '\n' ' ')
    make -j1 check TESTS="$tests" >make-check.out 2>&1
else
    make -j1 check >make-check.out 2>&1
fi
rc=$?
grep -E '^(PASS|FAIL|XPASS|ERROR|SKIP):' make-check.out
for trs in $(find . -name '*.trs'); do
    if grep -qE ':test-result: (FAIL|ERROR|XPASS)' "$trs"; then
        log=${trs%.trs}.log
        echo "---- ${log#./} (last 40 lines)"
        tail -n 40 "$log"
    fi
done
passed=$(cat $(find . -name '*.trs') /dev/null | grep -cE ':test-result: (PASS|XFAIL)')
failed=$(cat $(find . -name '*.trs') /dev/null | grep -cE ':test-result: (FAIL|ERROR|XPASS)')
skipped=$(cat $(find . -name '*.trs') /dev/null | grep -c ':test-result: SKIP')
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    tail -n 40 make-check.out
    failed=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
