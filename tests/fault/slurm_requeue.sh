#!/bin/sh
# slurm_requeue.sh: Slurm end to end on a one-node cluster (tests/slurm/slurm-cluster.sh).
# 1. noodle-submit a slow program, send the warning signal to the batch shell
#    (scancel --signal=USR1 --batch), and check that the script requeued the job after
#    the checkpoint (exit 75), that the second run resumed from the checkpoint, finished
#    with the right value, and stored it in the catalog under its job id;
# 2. a 4-task array sweep whose 4 results are all in the catalog, and a resubmission
#    whose tasks are all skipped because their results exist.
# Exit 77 (SKIP) only when the Slurm packages cannot be installed at all.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
CLUSTER=$top_srcdir/tests/slurm/slurm-cluster.sh
PROGRAM=$top_srcdir/tests/slurm/requeue_sum.noodle
for p in noodle-submit noodle-status noodle-run noodle-mql noodlec; do
    [ -x "$top_builddir/$p" ] || { echo "FAIL: $top_builddir/$p is not built"; exit 1; }
done

if ! bash "$CLUSTER" install; then
    echo "SKIP: the Slurm packages (slurmctld slurmd slurm-client munge) cannot be installed here"
    exit 77
fi

# one cluster at a time on this machine (parallel make check, other engineers)
exec 9>"${TMPDIR:-/tmp}/noodle-slurm-test.lock"
flock -w 600 9 || { echo "FAIL: another Slurm test holds the lock for 10 minutes"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/noodle-slurm-test.XXXXXX")
export NOODLE_SLURM_DIR=$WORK/cluster
export SLURM_CONF=$NOODLE_SLURM_DIR/slurm.conf
export NOODLE_BINDIR=$top_builddir
: "${NOODLE_SLURM_TEMPLATE:=$top_srcdir/slurm/noodle.sbatch.in}"
export NOODLE_SLURM_TEMPLATE
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_rmaps_base_oversubscribe=1
unset NOODLE_CONFIG NOODLE_CHECKPOINT_DIR NOODLE_CATALOG_PATH NOODLE_LAUNCHER NOODLE_NO_SKIP
JOBS=""
failed=0

cleanup() {
    local j
    for j in $JOBS; do scancel "$j" 2>/dev/null; done
    bash "$CLUSTER" stop
    if [ "$failed" = 0 ] && [ -z "${KEEP_SLURM_TEST:-}" ]; then
        rm -rf "$WORK"
    else
        echo "kept $WORK"
    fi
}
trap cleanup EXIT

fail() {
    failed=1
    echo "FAIL: $*"
    local f
    for f in "$WORK"/*.out; do [ -f "$f" ] && { echo "---- $f"; tail -30 "$f"; }; done
    for f in "$NOODLE_SLURM_DIR"/log/slurmctld.log "$NOODLE_SLURM_DIR"/log/slurmd.log; do
        [ -f "$f" ] && { echo "---- $f"; tail -15 "$f"; }
    done
    exit 1
}

state() { scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }
field() { scontrol show job "$1" 2>/dev/null | grep -o " $2=[^ ]*" | head -1 | cut -d= -f2; }

# wait_state JOB STATE SECONDS
wait_state() {
    local i s
    for ((i = 0; i < $3 * 5; i++)); do
        s=$(state "$1")
        [ "$s" = "$2" ] && return 0
        case "$s" in FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL)
            [ "$s" != "$2" ] && fail "job $1 ended $s (waiting for $2)" ;;
        esac
        sleep 0.2
    done
    fail "job $1 is $s after $3 s (waiting for $2)"
}

mql() { "$top_builddir/noodle-mql" "$WORK/catalog" "$1" --format csv; }

bash "$CLUSTER" start >/dev/null || fail "the cluster did not start"
cd "$WORK" || fail "cd $WORK"

# ---- 1. requeue on the warning signal, resume from the checkpoint ----
cat >requeue.yaml <<EOF
name: requeue-sum
program: $PROGRAM
params:
  steps: 30
  pause: 0.2
EOF
J=$("$top_builddir/noodle-submit" requeue.yaml) || fail "noodle-submit requeue.yaml"
JOBS="$J"
echo "submitted job $J"
wait_state "$J" RUNNING 60
ck=$WORK/checkpoints/requeue-sum
for ((i = 0; i < 1200; i++)); do
    ls "$ck"/ckpt-*.h5 >/dev/null 2>&1 && break
    sleep 0.2
done
ls "$ck"/ckpt-*.h5 >/dev/null 2>&1 || fail "no checkpoint appeared in $ck"
# the warning signal Slurm sends LEAD seconds before the time limit (--signal=B:USR1)
scancel --signal=USR1 --batch "$J" || fail "scancel --signal=USR1 --batch $J"
for ((i = 0; i < 600; i++)); do
    [ "$(field "$J" Restarts)" = 1 ] && break
    sleep 0.2
done
[ "$(field "$J" Restarts)" = 1 ] || fail "job $J was not requeued (Restarts=$(field "$J" Restarts))"
grep -q 'requeueing job' requeue-sum-"$J".out || fail "the script did not requeue the job"
# a requeued job waits ~120 s before it may start; 3 s after the requeue this skips it
sleep 3
scontrol update jobid="$J" StartTime=now || fail "scontrol update StartTime"
wait_state "$J" COMPLETED 300
out=requeue-sum-$J.out
grep -q "noodle-run: info: restarting from '$ck/ckpt-" "$out" ||
    fail "the second run did not resume from a checkpoint"
grep -q '^sum of squares 9455$' "$out" || fail "wrong or missing result in $out"
[ "$(grep -c 'starting (restart count' "$out")" = 2 ] || fail "expected exactly two runs"
"$top_builddir/noodle-status" "$J" >status.txt || fail "noodle-status $J"
grep -q 'COMPLETED' status.txt && grep -q 'restarts *1' status.txt ||
    { cat status.txt; fail "noodle-status does not show the completed, restarted job"; }
rows=$(mql "SELECT value FROM results WHERE name = 'sum_squares' AND job = '$J'") ||
    fail "noodle-mql could not query the catalog"
[ "$(printf '%s\n' "$rows" | sed -n 2p)" = 9455 ] ||
    fail "the result of job $J is not in the catalog (got: $rows)"
grep -q 'sum_squares' status.txt || { cat status.txt; fail "noodle-status does not list the stored result"; }
echo "ok: requeue, resume and catalog"

# ---- 2. a 4-task sweep: 4 results; a resubmission skips every task ----
cat >sweep.yaml <<EOF
name: sweep-sum
program: $PROGRAM
params:
  pause: 0.02
sweep:
  steps: [2, 3, 4, 5]
throttle: 2
EOF
A=$("$top_builddir/noodle-submit" sweep.yaml) || fail "noodle-submit sweep.yaml"
JOBS="$JOBS $A"
echo "submitted array $A"
for ((i = 0; i < 600; i++)); do
    [ "$(scontrol show job "$A" 2>/dev/null | grep -c 'JobState=COMPLETED')" = 4 ] && break
    scontrol show job "$A" 2>/dev/null | grep -q 'JobState=FAILED' && fail "a task of array $A failed"
    sleep 0.2
done
[ "$(scontrol show job "$A" | grep -c 'JobState=COMPLETED')" = 4 ] || fail "array $A did not complete"
for pair in 2:5 3:14 4:30 5:55; do
    rows=$(mql "SELECT value FROM results WHERE name = 'sum_squares' AND params.steps = ${pair%:*}") ||
        fail "noodle-mql"
    [ "$(printf '%s\n' "$rows" | sed -n 2p)" = "${pair#*:}" ] &&
        [ "$(printf '%s\n' "$rows" | wc -l)" = 2 ] ||
        fail "sweep task steps=${pair%:*}: expected one result ${pair#*:}, got: $rows"
done
echo "ok: 4 sweep results in the catalog"

A2=$("$top_builddir/noodle-submit" sweep.yaml) || fail "noodle-submit sweep.yaml (again)"
JOBS="$JOBS $A2"
for ((i = 0; i < 600; i++)); do
    [ "$(scontrol show job "$A2" 2>/dev/null | grep -c 'JobState=COMPLETED')" = 4 ] && break
    sleep 0.2
done
[ "$(grep -l 'already in' sweep-sum-"$A2"_*.out 2>/dev/null | wc -l)" = 4 ] ||
    fail "the resubmitted tasks were not all skipped"
rows=$(mql "SELECT name FROM results WHERE name = 'sum_squares'") || fail "noodle-mql"
[ "$(printf '%s\n' "$rows" | wc -l)" = 6 ] || fail "expected 5 results in all, got: $rows"
echo "ok: a resubmitted sweep skips tasks whose results exist"
exit 0
