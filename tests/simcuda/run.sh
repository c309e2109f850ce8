#!/bin/bash
# tests/simcuda/run.sh BUILD_DIR: runs the CUDA backend's own code (the plugin
# libnoodle_cuda.so, the kernels, devsumma.c, the loader) on the simulated device of a
# build configured with --with-cuda=sim (simcuda.c), at 1 to 4 ranks:
#   (1) every tests/programs/*.noodle through the program driver with NOODLE_GPU=on, a
#       device per rank (NCCL), then all ranks on one device with gpu_comm: mpi (at 3
#       ranks);
#   (2) benchmarks/gpu/paths.noodle (every device code path) in both modes against the
#       CPU at 1 rank: within 1e-9, the reductions bit-identical; the SUMMA broadcasts
#       forced on one rank; the factorizations of a larger grid gathered onto rank 0's
#       device, or on the host when it has no room (the summary's counts; room.noodle);
#   (3) a checkpoint taken on the device restarts on the CPU, and the other way round;
#   (4) refusals: no device with gpu: on, two ranks on one device under NCCL; out of
#       device memory; a device fault on one rank ends the job with the error, no hang.
# SIMCUDA_PROGRAMS=0 leaves out (1).  Prints ok/FAIL per check and "N passed, N failed";
# exit 1 on any failure.  scripts/test-simcuda.sh builds the directory and calls this;
# docs/gpu.md.
set -u
build=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
RUN=$build/noodle-run
grep -q '^#define ND_CUDA_SIM 1' "$build/ac_config.h" 2>/dev/null ||
    { echo "run.sh: $build is not configured with --with-cuda=sim" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
export NOODLE_RUN=$RUN MPIRUN=${MPIRUN:-mpirun}
unset NOODLE_GPU NOODLE_GPU_COMM NOODLE_GPU_SUMMA NOODLE_SIMCUDA_MEM NOODLE_SIMCUDA_FAULT
py=/usr/bin/python3
compare=$top/benchmarks/gpu/compare.py
paths=$top/benchmarks/gpu/paths.noodle
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

# run NAME NP [env...] -- ARGS: noodle-run at NP ranks in its own directory, under a
# timeout; $tmp/NAME.out, .err, .rc.
run() {
    local name=$1 np=$2
    shift 2
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    mkdir -p "$tmp/$name.d"
    (cd "$tmp/$name.d" && env "${envs[@]}" timeout -k 10 120 "$MPIRUN" -n "$np" "$RUN" "$@" \
        >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null)
    echo $? >"$tmp/$name.rc"
}
rc() { cat "$tmp/$1.rc"; }
firsterr() { grep -m 1 -iE 'error|simcuda' "$tmp/$1.err" | cut -c 1-200; }

# ---- (1) the program tests on the device ----
[ "${SIMCUDA_PROGRAMS:-1}" = 0 ] && modes="" || modes="nccl mpi"
for mode in $modes; do
    # NCCL: a device per rank, at every rank count of each program; gpu_comm mpi: all
    # ranks on one device, at 3 ranks (the sharing is the same at 2 or 4; CI's time)
    devs=4 ranks=${NOODLE_TEST_RANKS:-}
    [ $mode = mpi ] && devs=1 ranks=3
    for p in "$top"/tests/programs/*.noodle; do
        name=$(basename "$p" .noodle)
        if NOODLE_GPU=on NOODLE_GPU_COMM=$mode NOODLE_SIMCUDA_DEVICES=$devs \
            NOODLE_TEST_RANKS=$ranks \
            bash "$top/tests/programs/run-program.sh" "$p" >"$tmp/prog.$mode.$name.log" 2>&1; then
            ok "programs ($mode): $name"
        else
            bad "programs ($mode): $name"
            sed 's/^/    /' "$tmp/prog.$mode.$name.log" | head -n 30
        fi
    done
done

# ---- (2) paths.noodle against the CPU ----
run cpu 1 NOODLE_GPU=off -- "$paths"
[ "$(rc cpu)" = 0 ] || { bad "paths.noodle on the CPU: exit $(rc cpu): $(firsterr cpu)"; }
# same REF NAME WHAT: the run's output against the CPU's run REF, within 1e-9, and its
# reductions ("exact" lines, if any) bit for bit.
same() {
    local ref=$1 name=$2 what=$3 msg
    if [ "$(rc "$name")" != 0 ]; then
        bad "$what: exit $(rc "$name"): $(firsterr "$name")"
    elif ! msg=$("$py" "$compare" "$tmp/$ref.out" "$tmp/$name.out" 2>&1); then
        bad "$what: $msg"
    elif [ "$(grep '^exact' "$tmp/$ref.out")" != "$(grep '^exact' "$tmp/$name.out")" ]; then
        bad "$what: reductions not bit-identical: $(grep '^exact' "$tmp/$name.out" | cut -c 1-120)"
    else
        ok "$what"
    fi
}
# gathered NAME WANT_GATHERED WANT_HOST: the summary's counts of a larger grid.
gathered() {
    local line
    line=$(grep 'summary: gpu:' "$tmp/$1.err")
    if echo "$line" | grep -qE "^noodle-run: summary: gpu: $2 factorizations? gathered onto rank 0's device, $3 on the host \(no room there\)$"; then
        ok "$1: $2 gathered, $3 on the host"
    else
        bad "$1: expected $2 gathered and $3 on the host, got: ${line:-no summary line}"
    fi
}
run bcast1 1 NOODLE_GPU=on NOODLE_GPU_SUMMA=bcast -- "$paths"
same cpu bcast1 "paths.noodle at 1 rank, SUMMA broadcasts forced"
for np in 1 2 3 4; do
    run "nccl$np" "$np" NOODLE_GPU=on NOODLE_SIMCUDA_DEVICES=4 -- "$paths"
    same cpu "nccl$np" "paths.noodle at $np rank(s), a device each (NCCL)"
    run "mpi$np" "$np" NOODLE_GPU=on NOODLE_GPU_COMM=mpi -- "$paths"
    same cpu "mpi$np" "paths.noodle at $np rank(s) on one device (gpu_comm: mpi)"
done
# paths.noodle gathers 6 factorizations: solve, cholesky, eigh, qr (tall, wide), svd
# (tall); the wide svd is small enough to run replicated on every rank.
gathered nccl4 6 0
gathered mpi2 6 0
# room.noodle at 4 ranks with 12 MiB per device: its distributed matrices and SUMMA panels
# fit, a gathered copy of its 700x700 matrix does not.
run roomcpu 1 NOODLE_GPU=off -- "$here/room.noodle"
run room4 4 NOODLE_GPU=on NOODLE_SIMCUDA_DEVICES=4 NOODLE_SIMCUDA_MEM=$((12 << 20)) -- "$here/room.noodle"
same roomcpu room4 "room.noodle at 4 ranks on 12 MiB devices, against the CPU"
gathered room4 1 1

# ---- (3) a checkpoint on the device restarts on the CPU, and the other way round ----
cross() { # WRITE RESTART NP
    local w=$1 r=$2 np=$3 d=$tmp/ck.$1.$2.$3
    run "ck1.$w.$r.$np" "$np" NOODLE_GPU=$w NOODLE_SIMCUDA_DEVICES=4 -- --checkpoint-dir "$d" \
        "$top/benchmarks/gpu/ckpt_cross.noodle"
    run "ck2.$w.$r.$np" "$np" NOODLE_GPU=$r NOODLE_SIMCUDA_DEVICES=4 NOODLE_CKPT_STATS=1 -- \
        --checkpoint-dir "$d" --restart-from "$d" "$top/benchmarks/gpu/ckpt_cross.noodle"
    local msg what="checkpoint with gpu $w, restart with gpu $r, $np rank(s)"
    if [ "$(rc "ck1.$w.$r.$np")" != 0 ] || [ "$(rc "ck2.$w.$r.$np")" != 0 ]; then
        bad "$what: exit $(rc "ck1.$w.$r.$np")/$(rc "ck2.$w.$r.$np"): $(firsterr "ck1.$w.$r.$np") $(firsterr "ck2.$w.$r.$np")"
    elif ! grep -q 'stats: read' "$tmp/ck2.$w.$r.$np.err"; then
        bad "$what: the second run did not restart from the checkpoint"
    elif msg=$("$py" "$compare" "$tmp/ck1.$w.$r.$np.out" "$tmp/ck2.$w.$r.$np.out" 2>&1); then
        ok "$what"
    else
        bad "$what: $msg"
    fi
}
for np in 1 3; do
    cross on off $np
    cross off on $np
done

# ---- (4) refusals and a device fault ----
# expect_error NAME WORDS: a non-zero exit with WORDS on stderr.
expect_error() {
    if [ "$(rc "$1")" = 0 ]; then
        bad "$1: exit 0, expected an error"
    elif [ "$(rc "$1")" = 124 ] || [ "$(rc "$1")" = 137 ]; then
        bad "$1: timeout"
    elif ! grep -q "$2" "$tmp/$1.err"; then
        bad "$1: exit $(rc "$1") without \"$2\": $(firsterr "$1")"
    else
        ok "$1: exit $(rc "$1"), \"$2\""
    fi
}
run nodevice 2 NOODLE_GPU=on NOODLE_SIMCUDA_DEVICES=0 -- "$paths"
expect_error nodevice "gpu: on, but no CUDA device was found"
run shared 2 NOODLE_GPU=on NOODLE_SIMCUDA_DEVICES=1 -- "$paths"
expect_error shared "2 ranks share a node with 1 CUDA device(s)"
run auto 2 NOODLE_GPU=auto NOODLE_SIMCUDA_DEVICES=1 -- "$paths"
if [ "$(rc auto)" = 0 ] && grep -q 'gpu: auto: .*running on the CPU' "$tmp/auto.err"; then
    ok "auto: 2 ranks on one device under NCCL run on the CPU"
else
    bad "auto: exit $(rc auto): $(head -c 300 "$tmp/auto.err")"
fi
# Out of device memory: a matrix (dm.c) and the panels of a product (devsumma.c), the
# cache of freed blocks emptied first.
run oom_matrix 1 NOODLE_GPU=on NOODLE_SIMCUDA_MEM=$((3 << 20)) -- "$here/room.noodle"
expect_error oom_matrix "room.noodle:5:10: error: out of GPU memory (a 700x700 matrix needs 4 MiB on rank 0)"
run oom_panels 4 NOODLE_GPU=on NOODLE_SIMCUDA_DEVICES=4 NOODLE_SIMCUDA_MEM=$((6 << 20)) -- "$here/room.noodle"
expect_error oom_panels "room.noodle:5:13: error: out of GPU memory (the panels of this product need 7 MiB)"
for np in 2 4; do
    run "fault$np" "$np" NOODLE_GPU=on NOODLE_SIMCUDA_DEVICES=4 NOODLE_SIMCUDA_FAULT=1:20 -- "$paths"
    expect_error "fault$np" "an illegal memory access was encountered"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
