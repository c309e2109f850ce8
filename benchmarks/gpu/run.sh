#!/bin/bash
# benchmarks/gpu/run.sh [BUILD_DIR|BUNDLE_DIR]: the one GPU check of issue 9, < 5 minutes on
# one H200.  Steps, each under a timeout:
#   (a) the devices (nvidia-smi -L, cudaGetDeviceCount);
#   (b) every tests/programs/*.noodle at 1 rank with NOODLE_GPU=on through the test driver
#       tests/programs/run-program.sh (`# expect` lines), pass/fail per program;
#   (c) the same programs with NOODLE_GPU=off (run alongside (b)): stdout must agree with
#       the GPU run within 1e-9 relative (compare.py) and the exit status must be equal;
#   (d) NOODLE_GPU=on at 2 ranks on one GPU must be refused with a clear error;
#       NOODLE_GPU=off at 2 ranks must work (and print what 1 rank prints);
#   (e) GFLOP/s of `A @ B` in Noodle (gemm.noodle) against cublasDgemm (cublas_gemm.c) at
#       N = 8192 and 16384, and their ratio (target >= 0.9 at one rank);
#   (f) the time of a checkpoint of those matrices (A, B, C) from the same runs;
#   (g) a checkpoint taken with the GPU restarts with NOODLE_GPU=off and prints the same,
#       and the other way round (ckpt_cross.noodle).
#   (h) paths.noodle (every device code path) against NOODLE_GPU=off: at 1 rank, at 1 rank
#       with the SUMMA broadcasts forced, at 2 ranks on 2 GPUs (when there are 2), and at
#       2 and 4 ranks sharing the GPU(s) with gpu_comm: mpi.
# Ends with a markdown table for benchmarks/RESULTS.md.  Output to stdout and, when $OUT is
# set, to $OUT/gpu.log.  Runs (e)-(f), (h), (d), (g), then (b)-(c): the benchmark first, in case
# the deadline cuts the run short.  Binaries: BUNDLE_DIR/bin (benchmarks/gpu/bundle.sh; it
# sources device-env.sh for it), or BUILD_DIR; without an argument build-gpu is configured
# with --with-cuda and built when the build dependencies exist, else .devbundle is used.
# Without a device it runs everything with NOODLE_GPU=auto (the CPU path) at small N and
# says so.  Environment: TIME_BUDGET (seconds for the whole run, 290), GEMM_NS, GEMM_REPS
# (3), NOODLE_GPU_MODE (the mode of the "GPU" runs; default on, or auto without a device).
# Docs: benchmarks/gpu/README.md.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
start=$(date +%s)
unset NOODLE_GPU
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    exec > >(tee -a "$OUT/gpu.log") 2>&1
    tee_pid=$!
fi
say() { echo "[$(($(date +%s) - start))s] $*"; }
# Everything ends by the deadline (TIME_BUDGET seconds after the start, default 290): each
# timeout is min(its own cap, the time left), and a step with under MIN seconds left is
# not run (the table says so).
deadline=$((start + ${TIME_BUDGET:-290}))
lim() { # CAP -> seconds for the next timeout
    local l=$((deadline - $(date +%s)))
    [ $l -gt "$1" ] && l=$1
    [ $l -lt 5 ] && l=5
    echo $l
}
late() { [ $((deadline - $(date +%s))) -lt "${1:-10}" ]; }

# ---- binaries ----
arg=${1:-}
bundle=""
if [ -z "$arg" ]; then
    if [ -x /usr/local/cuda/bin/nvcc ] && command -v mpicc >/dev/null 2>&1 &&
        pkg-config --exists hdf5-openmpi scalapack-openmpi yaml-0.1 2>/dev/null; then
        say "building build-gpu with --with-cuda"
        (test -x configure || autoreconf -fi) >/dev/null &&
            mkdir -p build-gpu && cd build-gpu &&
            { test -f Makefile || ../configure -q --with-cuda; } &&
            timeout 900 make -j"$(nproc)" noodle-run noodlec >/dev/null ||
            { say "build failed"; exit 1; }
        cd "$repo"
        arg=build-gpu
    elif [ -x .devbundle/bin/noodle-run ]; then
        arg=.devbundle
    else
        echo "run.sh: no build dependencies and no .devbundle: give BUILD_DIR" >&2
        exit 2
    fi
fi
if [ -x "$arg/bin/noodle-run" ]; then
    bundle=$(cd "$arg" && pwd)
    BIN=$bundle/bin
    # Sourced again even if the caller did (cheap: the unpacked root is kept), so that
    # what it found is in the log too.
    # shellcheck source=device-env.sh
    . "$here/device-env.sh" "$bundle" || say "device-env.sh reported problems (above)"
elif [ -x "$arg/noodle-run" ]; then
    BIN=$(cd "$arg" && pwd)
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
    export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_rmaps_base_oversubscribe=1
else
    echo "run.sh: no noodle-run in $arg or $arg/bin" >&2
    exit 2
fi
RUN=$BIN/noodle-run
MPIRUN=$(command -v mpirun) || { echo "run.sh: no mpirun on PATH" >&2; exit 2; }
PY=/usr/bin/python3
"$PY" -c 'import re' 2>/dev/null || PY=$(command -v python3)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nd-gpu.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
CUBLAS=""
for c in "$BIN/cublas_gemm" "${bundle:-/nonexistent}/bin/cublas_gemm"; do
    [ -x "$c" ] && { CUBLAS=$c; break; }
done
if [ -z "$CUBLAS" ] && [ -f /usr/local/cuda/include/cublas_v2.h ]; then
    gcc -O2 -std=c11 -I/usr/local/cuda/include -o "$tmp/cublas_gemm" "$here/cublas_gemm.c" \
        -L/usr/local/cuda/lib64 -Wl,-rpath,/usr/local/cuda/lib64 -lcublas -lcudart &&
        CUBLAS=$tmp/cublas_gemm
fi
say "noodle-run $RUN; mpirun $MPIRUN; python $PY; cublas_gemm ${CUBLAS:-none}"

# ---- (a) devices ----
say "(a) devices"
smi=$(timeout 30 nvidia-smi -L 2>&1) || smi="nvidia-smi: ${smi:-not available}"
echo "$smi" | sed 's/^/    /'
ndev=0
if [ -n "$CUBLAS" ]; then
    ndev=$(timeout 60 "$CUBLAS" --devices 2>/dev/null | tail -n 1)
    case $ndev in '' | *[!0-9]*) ndev=0 ;; esac
fi
[ "$ndev" -gt 0 ] || ndev=$(echo "$smi" | grep -c '^GPU [0-9]')
devname=$(echo "$smi" | sed -n 's/^GPU 0: \(.*\) (UUID.*/\1/p')
if [ "$ndev" -gt 0 ]; then
    MODE=${NOODLE_GPU_MODE:-on}
    NS=${GEMM_NS:-8192 16384}
    dev_note="$ndev x ${devname:-GPU}"
else
    MODE=${NOODLE_GPU_MODE:-auto}
    NS=${GEMM_NS:-512 1024}
    dev_note="no device: the \"GPU\" runs used NOODLE_GPU=$MODE (the CPU path), gemm at N = $NS"
fi
REPS=${GEMM_REPS:-3}
say "device count $ndev; GPU runs use NOODLE_GPU=$MODE"

# ---- (b) + (c) program tests, GPU through the driver, CPU alongside ----
step_bc() {
say "(b) program tests at 1 rank, NOODLE_GPU=$MODE (driver tests/programs/run-program.sh)"
mkdir -p "$tmp/driver" "$tmp/progs" "$tmp/res" "$tmp/cpu"
# The driver runs check_output.py with /usr/bin/python3; the GPU image may only have a venv.
sed "s|^py=/usr/bin/python3\$|py=\${ND_PY:-/usr/bin/python3}|" tests/programs/run-program.sh \
    >"$tmp/driver/run-program.sh"
cp tests/programs/check_output.py "$tmp/driver/"
# mpirun wrapper: keeps each run's stdout and status for the comparison in (c).
cat >"$tmp/mpirun-save" <<'EOF'
#!/bin/bash
"$ND_REAL_MPIRUN" "$@" >"$ND_SAVE.out" 2>"$ND_SAVE.err" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid; exit 124' TERM INT
wait $pid
rc=$?
echo $rc >"$ND_SAVE.rc"
cat "$ND_SAVE.out"
cat "$ND_SAVE.err" >&2
exit $rc
EOF
chmod +x "$tmp/mpirun-save"
names=()
skipped=()
for p in tests/programs/*.noodle; do
    name=$(basename "$p" .noodle)
    ranks=$(sed -n 's/^# ranks: *//p' "$p" | head -n 1)
    if [ -n "$ranks" ] && ! echo " $ranks " | grep -q ' 1 '; then
        skipped+=("$name")
        continue
    fi
    # One rank only: several ranks on one GPU are refused by design.  The `# ranks:` line
    # is replaced in place (or appended), so `# expect error: L:C` stays right.
    if [ -n "$ranks" ]; then
        sed 's/^# ranks: .*/# ranks: 1/' "$p" >"$tmp/progs/$name.noodle"
    else
        { cat "$p"; echo "# ranks: 1"; } >"$tmp/progs/$name.noodle"
    fi
    names+=("$name")
done
# CPU pass in the background: other cores, other scratch directories.
(
    for name in "${names[@]}"; do
        { [ -f "$tmp/stop" ] || late 10; } && break
        prog=$tmp/progs/$name.noodle
        args=$(sed -n 's/^# args: *//p' "$prog" | head -n 1)
        mkdir -p "$tmp/cpu/$name"
        # shellcheck disable=SC2086
        (cd "$tmp/cpu/$name" && NOODLE_GPU=off timeout -k 5 "$(lim 60)" "$MPIRUN" -n 1 "$RUN" $args "$prog" \
            >"$tmp/res/$name.cpu.out" 2>"$tmp/res/$name.cpu.err" </dev/null)
        echo $? >"$tmp/res/$name.cpu.rc"
    done
) &
cpu_pid=$!
declare -gA gres=()
for name in "${names[@]}"; do
    if late 15; then
        gres[$name]="not run (time budget)"
        nnotrun=$((nnotrun + 1))
        continue
    fi
    t0=$(date +%s.%N)
    ND_PY=$PY ND_REAL_MPIRUN=$MPIRUN ND_SAVE=$tmp/res/$name.gpu MPIRUN=$tmp/mpirun-save \
        NOODLE_RUN=$RUN NOODLE_GPU=$MODE timeout -k 5 "$(lim 90)" bash "$tmp/driver/run-program.sh" \
        "$tmp/progs/$name.noodle" >"$tmp/res/$name.log" 2>&1
    rc=$?
    dt=$(echo "$t0 $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }')
    if [ $rc -eq 0 ]; then
        gres[$name]=pass
        npass=$((npass + 1))
        printf '    %-24s pass  %5ss\n' "$name" "$dt"
    else
        gres[$name]=FAIL
        nfail=$((nfail + 1))
        printf '    %-24s FAIL  %5ss\n' "$name" "$dt"
        sed 's/^/        /' "$tmp/res/$name.log" | head -n 12
    fi
done
for name in "${skipped[@]}"; do
    printf '    %-24s skip  (needs several ranks: refused on one GPU)\n' "$name"
done
say "(b) $npass pass, $nfail fail, ${#skipped[@]} skipped, $nnotrun not run"

say "(c) CPU path (NOODLE_GPU=off) against the GPU runs (stdout within 1e-9, same status)"
# The CPU pass ran alongside; give it a little more (not past the deadline), then stop it.
for _ in $(seq 1 "$(lim 30)"); do kill -0 $cpu_pid 2>/dev/null || break; sleep 1; done
touch "$tmp/stop" # it stops after the run in progress (bounded by its own timeout)
wait $cpu_pid 2>/dev/null
for name in "${names[@]}"; do
    g=$tmp/res/$name.gpu c=$tmp/res/$name.cpu
    case ${gres[$name]:-} in "not run"*) nnc=$((nnc + 1)); continue ;; esac
    if [ ! -f "$g.rc" ] || [ ! -f "$c.rc" ]; then
        printf '    %-24s not compared (a run is missing)\n' "$name"
        nnc=$((nnc + 1))
        continue
    fi
    if [ "$(cat "$g.rc")" != "$(cat "$c.rc")" ]; then
        printf '    %-24s DIFFERENT exit status: GPU %s, CPU %s\n' "$name" "$(cat "$g.rc")" "$(cat "$c.rc")"
        ndiff=$((ndiff + 1))
        continue
    fi
    if msg=$("$PY" "$here/compare.py" "$g.out" "$c.out"); then
        nsame=$((nsame + 1))
    else
        printf '    %-24s DIFFERENT: %s\n' "$name" "$msg"
        ndiff=$((ndiff + 1))
    fi
done
say "(c) $nsame same, $ndiff different, $nnc not compared"

}

# ---- (d) two ranks on one GPU ----
step_d() {
late 20 && { say "(d) $nr"; return; }
say "(d) 2 ranks on one device"
mkdir -p "$tmp/two" && cd "$tmp/two" || exit 1
cat >two.noodle <<'EOF'
let A = rand(300, 300, 5)
print("two", sum(A @ A.T), norm(A, 1))
EOF
NOODLE_GPU=on timeout -k 5 "$(lim 40)" "$MPIRUN" -n 2 "$RUN" two.noodle >on2.out 2>on2.err </dev/null
on2_rc=$?
on2_msg=$(grep -m 1 -i 'error' on2.err | cut -c 1-160)
echo "    NOODLE_GPU=on, 2 ranks: exit $on2_rc; stderr:"
grep -v '^\s*$' on2.err | head -n 6 | sed 's/^/        /'
if [ "$ndev" -eq 0 ]; then
    d_on="n/a (no device): exit $on2_rc, \"$on2_msg\""
elif [ $on2_rc -eq 124 ] || [ $on2_rc -eq 137 ]; then
    d_on="FAIL: hung (timeout)"
elif [ $on2_rc -ne 0 ] && [ -n "$on2_msg" ]; then
    d_on="refused (exit $on2_rc): \"$on2_msg\""
else
    d_on="FAIL: not refused (exit $on2_rc)"
fi
NOODLE_GPU=off timeout -k 5 "$(lim 40)" "$MPIRUN" -n 1 "$RUN" two.noodle >off1.out 2>off1.err </dev/null
NOODLE_GPU=off timeout -k 5 "$(lim 40)" "$MPIRUN" -n 2 "$RUN" two.noodle >off2.out 2>off2.err </dev/null
off2_rc=$?
if [ $off2_rc -eq 0 ] && cmpmsg=$("$PY" "$here/compare.py" off1.out off2.out); then
    d_off="ok (output as at 1 rank)"
else
    d_off="FAIL (exit $off2_rc; ${cmpmsg:-})"
    sed 's/^/        /' off2.err | head -n 6
fi
echo "    NOODLE_GPU=off, 2 ranks: $d_off"
NOODLE_GPU=auto timeout -k 5 "$(lim 40)" "$MPIRUN" -n 2 "$RUN" two.noodle >auto2.out 2>auto2.err </dev/null
echo "    (info) NOODLE_GPU=auto, 2 ranks: exit $?; $(grep -m 2 -i 'gpu\|error' auto2.err | tr '\n' ' ' | cut -c 1-200)"
cd "$repo" || exit 1

}

# ---- (e) + (f) gemm against cuBLAS, and the checkpoint of the matrices ----
step_ef() {
say "(e) A @ B against cublasDgemm, (f) checkpoint of A, B, C; NOODLE_GPU=$MODE, reps $REPS"

for n in $NS; do
    late 30 && { say "(e) N=$n $nr"; continue; }
    if [ -n "$CUBLAS" ]; then
        out=$(timeout -k 5 "$(lim 60)" "$CUBLAS" "$n" "$REPS" 2>&1)
        echo "$out" | sed 's/^/    /'
        line=$(echo "$out" | grep "^cublas $n [0-9]")
        [ -n "$line" ] && g_cublas[$n]=$(echo "$line" | awk '{ print $4 }')
        echo "$out" | grep -q "no-device" && g_cublas[$n]="n/a (no device)"
    fi
    mkdir -p "$tmp/gemm.$n"
    # Larger N: the rand() inputs and the 3 x 8 N^2-byte checkpoint take most of the time.
    cap=$((n >= 16384 ? 150 : 80))
    (cd "$tmp/gemm.$n" && NOODLE_CKPT_STATS=1 NOODLE_GPU=$MODE timeout -k 5 "$(lim $cap)" "$MPIRUN" -n 1 \
        "$RUN" --checkpoint-dir ck --checkpoint-keep 1 "$here/gemm.noodle" \
        --param n="$n" --param reps="$REPS" >out 2>err </dev/null)
    rc=$?
    sed 's/^/    /' "$tmp/gemm.$n/out"
    grep -v '^\s*$' "$tmp/gemm.$n/err" | head -n 5 | sed 's/^/    /'
    [ $rc -eq 0 ] || echo "    noodle-run exit $rc$( [ $rc -eq 124 ] && echo ' (timeout)')"
    best=$(sed -n "s/^noodle gemm $n \[\(.*\)\]/\1/p" "$tmp/gemm.$n/out" | tr ',' '\n' |
        sort -g | head -n 1 | tr -d ' ')
    if [ -n "$best" ]; then
        g_noodle[$n]=$(awk -v n="$n" -v t="$best" 'BEGIN { printf "%.1f", 2 * n * n * n / t / 1e9 }')
    else
        g_noodle[$n]="n/a (exit $rc)"
    fi
    if [ "${g_cublas[$n]#n/a}" = "${g_cublas[$n]}" ] && [ -n "$best" ]; then
        g_ratio[$n]=$(awk -v a="${g_noodle[$n]}" -v b="${g_cublas[$n]}" 'BEGIN { printf "%.2f", a / b }')
    else
        g_ratio[$n]="n/a"
    fi
    ckl=$(sed -n "s/^noodle ckpt $n //p" "$tmp/gemm.$n/out")
    st=$(grep -m 1 'stats: wrote' "$tmp/gemm.$n/err" | sed 's/.*: \([0-9.]* MiB\) in \([0-9.]* s\) (\([0-9]* MiB\/s\)).*/\1 in \2, \3/')
    if [ -n "$ckl" ]; then
        ck[$n]=$(echo "$ckl" | awk '{ printf "%.2f s for %.2f GiB (%.0f MiB/s)", $1, $2 / 2^30, $2 / 2^20 / $1 }')
        [ -n "$st" ] && ck[$n]="${ck[$n]}; file: $st"
    else
        ck[$n]="n/a (exit $rc)"
    fi
    echo "    N=$n: Noodle ${g_noodle[$n]} GFLOP/s, cuBLAS ${g_cublas[$n]} GFLOP/s, ratio ${g_ratio[$n]}; checkpoint ${ck[$n]}"
    rm -rf "$tmp/gemm.$n"
done

}

# ---- (g) checkpoint across GPU and CPU ----
step_g() {
late 20 && { say "(g) $nr"; return; }
say "(g) checkpoint with NOODLE_GPU=$MODE, restart with off; and the other way round"
mkdir -p "$tmp/cross" && cd "$tmp/cross" || exit 1
cross() { # WRITE_MODE RESTART_MODE DIR -> prints the verdict
    local w=$1 r=$2 d=$3 rc1 rc2 msg
    NOODLE_GPU=$w timeout -k 5 "$(lim 40)" "$MPIRUN" -n 1 "$RUN" --checkpoint-dir "$d" \
        "$here/ckpt_cross.noodle" >"$d.1.out" 2>"$d.1.err" </dev/null
    rc1=$?
    NOODLE_CKPT_STATS=1 NOODLE_GPU=$r timeout -k 5 "$(lim 40)" "$MPIRUN" -n 1 "$RUN" --checkpoint-dir "$d" \
        --restart-from "$d" "$here/ckpt_cross.noodle" >"$d.2.out" 2>"$d.2.err" </dev/null
    rc2=$?
    if [ $rc1 -ne 0 ] || [ $rc2 -ne 0 ]; then
        echo "FAIL (exit $rc1 / $rc2: $(grep -h -m 1 -i error "$d.1.err" "$d.2.err" | head -n 1 | cut -c 1-150))"
    elif ! grep -q 'stats: read' "$d.2.err"; then
        echo "FAIL (the second run did not restart from the checkpoint)"
    elif msg=$("$PY" "$here/compare.py" "$d.1.out" "$d.2.out"); then
        echo "$msg"
    else
        echo "FAIL ($msg)"
    fi
}
g_gc=$(cross "$MODE" off gpu2cpu)
echo "    NOODLE_GPU=$MODE checkpoint -> off restart: $g_gc"
g_cg=$(cross off "$MODE" cpu2gpu)
echo "    off checkpoint -> NOODLE_GPU=$MODE restart: $g_cg"
if msg=$("$PY" "$here/compare.py" gpu2cpu.1.out cpu2gpu.1.out); then
    g_full="same"
else
    g_full="DIFFERENT ($msg)"
fi
echo "    whole run, NOODLE_GPU=$MODE against off: $g_full"
head -n 4 gpu2cpu.1.out | sed 's/^/    /'
cd "$repo" || exit 1

}

# ---- (h) the device code paths against the CPU, and the NCCL SUMMA on one rank ----
step_h() {
late 20 && { say "(h) $nr"; return; }
say "(h) paths.noodle: NOODLE_GPU=off, =$MODE, =$MODE with NOODLE_GPU_SUMMA=bcast"
mkdir -p "$tmp/paths" && cd "$tmp/paths" || exit 1
for v in off on bcast; do
    m=$MODE; [ $v = off ] && m=off
    sb=; [ $v = bcast ] && sb=bcast
    NOODLE_GPU=$m NOODLE_GPU_SUMMA=$sb timeout -k 5 "$(lim 60)" "$MPIRUN" -n 1 "$RUN" \
        "$here/paths.noodle" >"$v.out" 2>"$v.err" </dev/null
    echo "    $v: exit $?; $(grep -v '^\s*$' "$v.err" | grep -v summary | head -n 3 | tr '\n' ' ' | cut -c 1-240)"
done
sed 's/^/    off: /' off.out
sed 's/^/    on:  /' on.out
h_on=$("$PY" "$here/compare.py" off.out on.out 2>&1) || h_on="DIFFERENT: $h_on"
h_bc=$("$PY" "$here/compare.py" on.out bcast.out 2>&1) || h_bc="DIFFERENT: $h_bc"
if [ -s on.out ] && [ "$(grep '^exact' off.out)" = "$(grep '^exact' on.out)" ]; then
    h_ex="bit-identical"
else
    h_ex="DIFFERENT: $(grep '^exact' on.out | cut -c 1-160)"
fi
echo "    on vs off: $h_on; bcast vs on: $h_bc; reductions: $h_ex"
# With two devices: 2 ranks, one GPU each: the NCCL SUMMA across devices and the
# factorizations gathered onto rank 0's device (docs/gpu.md), against the CPU.
if [ "$ndev" -ge 2 ]; then
    NOODLE_GPU=$MODE timeout -k 5 "$(lim 60)" "$MPIRUN" -n 2 "$RUN" "$here/paths.noodle" \
        >two.out 2>two.err </dev/null
    rc=$?
    if [ $rc -ne 0 ]; then
        h_two="FAIL (exit $rc: $(grep -m 1 -i error two.err | cut -c 1-150))"
    else
        h_two=$("$PY" "$here/compare.py" off.out two.out 2>&1) || h_two="DIFFERENT: $h_two"
    fi
    echo "    2 ranks on 2 devices vs off at 1 rank: $h_two"
else
    h_two="n/a ($ndev device(s))"
fi
# Ranks sharing the device with gpu_comm: mpi (MPI through host memory instead of NCCL):
# the same multi-rank device code (SUMMA panels, reductions across ranks, factorizations
# gathered onto rank 0's device) on 2 ranks (grid 2x1) and 4 (2x2), against the CPU.
for np in 2 4; do
    late 15 && break
    NOODLE_GPU=$MODE NOODLE_GPU_COMM=mpi timeout -k 5 "$(lim 90)" "$MPIRUN" -n $np "$RUN" \
        --log-level info "$here/paths.noodle" >"shared$np.out" 2>"shared$np.err" </dev/null
    rc=$?
    if [ $rc -ne 0 ]; then
        r="FAIL (exit $rc: $(grep -m 1 -i error "shared$np.err" | cut -c 1-150))"
    else
        r=$("$PY" "$here/compare.py" off.out "shared$np.out" 2>&1) || r="DIFFERENT: $r"
        [ "$(grep '^exact' off.out)" = "$(grep '^exact' "shared$np.out")" ] &&
            r="$r, reductions bit-identical" || r="$r, reductions DIFFERENT"
        grep -q 'ranks may share a device' "shared$np.err" || r="$r (but NOT on the GPU: $(grep -m 1 'gpu:' "shared$np.err" | cut -c 1-120))"
        # The summary counts the factorizations gathered onto rank 0's device (7 here).
        g=$(sed -n "s/.*summary: gpu: \([0-9]*\) factorizations\{0,1\} gathered onto rank 0's device, \([0-9]*\) on the host.*/\1 gathered, \2 on the host/p" "shared$np.err")
        r="$r; factorizations: ${g:-no count in the summary}"
    fi
    h_sh[$np]=$r
    echo "    $np ranks sharing the device(s), gpu_comm mpi, vs off at 1 rank: $r"
done
cd "$repo" || exit 1
}

# What the table shows for a step the deadline cut off.
nr="not run (time budget)"
declare -A g_noodle=() g_cublas=() g_ratio=() ck=() h_sh=([2]=$nr [4]=$nr)
for n in $NS; do g_noodle[$n]=$nr g_cublas[$n]=n/a g_ratio[$n]=n/a ck[$n]=$nr; done
npass=0 nfail=0 nnotrun=0 nsame=0 ndiff=0 nnc=0 skipped=() names=()
d_on=$nr d_off=$nr g_gc=$nr g_cg=$nr h_on=$nr h_bc=$nr h_ex=$nr h_two=$nr

# Order: the benchmark numbers first (the point of a short loan), then the rest;
# the table keeps the order of the steps.
step_ef
step_h
step_d
step_g
step_bc

# ---- the table ----
total=$(($(date +%s) - start))
say "done in ${total}s"
echo
echo "Date $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores, ${dev_note}; binaries $BIN."
echo "Command: \`benchmarks/gpu/run.sh ${1:-}\` (total ${total} s)."
echo
echo "| what | result |"
echo "| --- | --- |"
echo "| device | ${dev_note} |"
echo "| program tests, 1 rank, NOODLE_GPU=$MODE | $npass pass, $nfail fail, ${#skipped[@]} skipped (several ranks), $nnotrun not run |"
echo "| same output as NOODLE_GPU=off (1e-9) | $nsame same, $ndiff different, $nnc not compared |"
echo "| paths.noodle NOODLE_GPU=$MODE vs off (1e-9) | $h_on |"
echo "| paths.noodle SUMMA with NCCL broadcasts vs one DGEMM | $h_bc |"
echo "| reductions GPU vs CPU | $h_ex |"
echo "| paths.noodle, 2 ranks on 2 GPUs (SUMMA over NCCL, factorizations on rank 0's GPU) vs off | $h_two |"
for np in 2 4; do
    echo "| paths.noodle, $np ranks sharing GPUs, gpu_comm: mpi (SUMMA over MPI, factorizations on rank 0's GPU) vs off | ${h_sh[$np]} |"
done
echo "| NOODLE_GPU=on, 2 ranks on one GPU | $d_on |"
echo "| NOODLE_GPU=off, 2 ranks | $d_off |"
for n in $NS; do
    echo "| \`@\` N=$n, 1 rank: Noodle / cuBLAS GFLOP/s (ratio) | ${g_noodle[$n]} / ${g_cublas[$n]} (${g_ratio[$n]}) |"
done
for n in $NS; do
    echo "| checkpoint of A, B, C at N=$n | ${ck[$n]} |"
done
echo "| checkpoint NOODLE_GPU=$MODE, restart off | $g_gc |"
echo "| checkpoint off, restart NOODLE_GPU=$MODE | $g_cg |"
if [ -n "${tee_pid:-}" ]; then
    exec >&- 2>&-
    wait "$tee_pid" 2>/dev/null
fi
exit 0
