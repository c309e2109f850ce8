#!/bin/sh
# gpu_select.sh: the choice between the GPU and the CPU backend (docs/gpu.md), on a
# machine without a CUDA device (as in CI):
#  - gpu: auto runs the program on the CPU with the right result, silently at the default
#    log level (info), with exactly one debug line at 2 ranks when the build has CUDA (none
#    without), and the summary says the matrices were in host memory;
#  - gpu: on is refused with exit 2 and one clear message, on every rank count;
#  - gpu: off says nothing, and neither does auto at log_level warn.
# On a machine with a device, benchmarks/gpu/run.sh checks the GPU side.
set -u
builddir=${top_builddir:-.}
run="$builddir/noodle-run"
mpirun=${MPIRUN:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
unset NOODLE_GPU NOODLE_CONFIG
export NOODLE_SIMCUDA_DEVICES=0 # a --with-cuda=sim build: no simulated device either
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nd_gpu_select.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
cd "$tmp" || exit 1
cat >prog.noodle <<'NOODLE'
let A = rand(70, 65, 3)
let B = A.T @ A + eye(65)
let x = solve(B, A.T @ rand(70, 1, 4))
print(sum(B) > 0, rows(x), norm(cholesky(B)) > 0)
NOODLE
fail=0
check() { # what cond
    if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi
}
if nvidia-smi -L >/dev/null 2>&1; then
    echo "SKIP: a CUDA device is present (benchmarks/gpu/run.sh tests that case)"
    exit 77
fi
cuda=no
if nm "$run" 2>/dev/null | grep -q nd_la_gpu_start; then cuda=yes; fi
echo "build with CUDA: $cuda"

timeout 120 "$mpirun" -n 2 "$run" --log-level info prog.noodle >out 2>err
rc=$?
check "gpu auto: exit 0" '[ $rc = 0 ]'
check "gpu auto: result" '[ "$(cat out)" = "true 65 true" ]'
check "gpu auto at log_level info: no gpu line" '! grep -q "gpu:" err'
check "gpu auto: the summary says host memory" \
    'grep -q "^noodle-run: summary: wall.*; matrices in host memory (ScaLAPACK)$" err'
timeout 120 "$mpirun" -n 2 "$run" --log-level debug prog.noodle >out 2>err
rc=$?
check "gpu auto at log_level debug: exit 0" '[ $rc = 0 ] && [ "$(cat out)" = "true 65 true" ]'
n=$(grep -c 'debug: gpu: auto: no CUDA device was found; running on the CPU' err)
if [ $cuda = yes ]; then
    check "gpu auto at log_level debug: one line at 2 ranks (got $n)" '[ "$n" = 1 ]'
else
    check "gpu auto at log_level debug: no line without CUDA (got $n)" '[ "$n" = 0 ]'
fi

for np in 1 2; do
    timeout 120 "$mpirun" -n $np "$run" --gpu on prog.noodle >out 2>err
    rc=$?
    check "gpu on at $np rank(s): exit 2 (got $rc)" '[ $rc = 2 ]'
    check "gpu on at $np rank(s): nothing on stdout" '[ ! -s out ]'
    if [ $cuda = yes ]; then msg='error: gpu: on, but no CUDA device was found'
    else msg='error: gpu: on, but this build has no CUDA support'; fi
    n=$(grep -c "$msg" err)
    check "gpu on at $np rank(s): one message (got $n)" '[ "$n" = 1 ]'
done

NOODLE_GPU=off timeout 120 "$run" --log-level info prog.noodle >out 2>err
rc=$?
check "gpu off: exit 0, no info line" '[ $rc = 0 ] && ! grep -q "gpu:" err && [ "$(cat out)" = "true 65 true" ]'
NOODLE_GPU=auto timeout 120 "$run" --log-level warn prog.noodle >out 2>err
rc=$?
check "gpu auto at log_level warn: exit 0, silent" '[ $rc = 0 ] && [ ! -s err ] && [ "$(cat out)" = "true 65 true" ]'

# gpu_comm: mpi lets ranks share a device, but still needs one.
NOODLE_GPU_COMM=mpi timeout 120 "$mpirun" -n 2 "$run" --gpu on prog.noodle >out 2>err
rc=$?
check "gpu on, gpu_comm mpi at 2 ranks: exit 2 (got $rc)" '[ $rc = 2 ] && [ ! -s out ]'
if [ $cuda = yes ]; then
    n=$(grep -c 'error: gpu: on, but no CUDA device was found' err)
    check "gpu on, gpu_comm mpi at 2 ranks: one message (got $n)" '[ "$n" = 1 ]'
fi
timeout 120 "$mpirun" -n 2 "$run" --gpu-comm mpi prog.noodle >out 2>err
rc=$?
check "gpu auto, --gpu-comm mpi at 2 ranks: exit 0, result" '[ $rc = 0 ] && [ "$(cat out)" = "true 65 true" ]'
NOODLE_GPU_COMM=shm timeout 120 "$run" prog.noodle >out 2>err
rc=$?
check "NOODLE_GPU_COMM=shm: exit 2 with the variable named" \
    '[ $rc = 2 ] && grep -q "NOODLE_GPU_COMM: expected nccl or mpi" err'
NOODLE_GPU=sometimes timeout 120 "$run" prog.noodle >out 2>err
rc=$?
check "NOODLE_GPU=sometimes: exit 2 with the variable named" \
    '[ $rc = 2 ] && grep -q "NOODLE_GPU: expected auto, on or off" err'
exit $fail
