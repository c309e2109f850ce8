#!/bin/sh
# run.sh: Noodle's `@`, solve and eigh against a direct C ScaLAPACK driver (pdgemm_bench.c)
# and numpy, at 1 rank, 2 ranks and 1 rank x 2 BLAS threads, with the node's aggregate
# single-core dgemm rate measured in the same run (benchmarks/RESULTS.md, "gemm").
#
# Usage: benchmarks/gemm/run.sh BUILD_DIR [REPS]     (REPS timed runs after a warm-up, 3)
#   env NS="1024 2048 4096" (gemm, solve), EIGH_NS="1024 2048", EIGH_REPS=1, OPS="gemm solve eigh"
#        benchmarks/gemm/run.sh N [REPS]            (the old pdgemm block-size sweep)
# GFLOP/s from the fastest of the REPS runs (the machine is shared: the fastest run is the
# least disturbed one).  Flop counts: gemm 2N^3, solve 2N^3/3, eigh 4N^3 (nominal: the
# ratios do not depend on it).  Ratios are taken within this one run.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gemm_bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
bin="$tmp/pdgemm_bench"
mpicc -O2 -o "$bin" "$here/pdgemm_bench.c" $(pkg-config --libs scalapack-openmpi) -lopenblas

case "${1:-2048}" in
[0-9]*)
    n=${1:-2048} reps=${2:-3}
    echo "direct OP N ranks seconds... (NB 32, 64, 128 in turn)"
    for p in 1 2; do
        for nb in 32 64 128; do
            echo "NB $nb"
            timeout 300 mpirun -n "$p" "$bin" "$n" "$nb" "$reps" gemm
        done
    done
    exit 0
    ;;
esac

build=$(cd "$1" && pwd)
reps=${2:-3}
run="$build/noodle-run"
prog="$here/ops.noodle"
py=/usr/bin/python3
raw="$tmp/raw"
: >"$raw"
log() { echo "$*" | tee -a "$raw"; }
# config: "1" 1 rank, "2" 2 ranks (one BLAS thread each), "1t2" 1 rank x 2 BLAS threads
bench() { # op nbop n reps
    op=$1 dop=$2 n=$3 r=$4
    for cfg in 1 2 1t2; do
        case $cfg in
        1) np=1 th=1 bind= ;;
        2) np=2 th=1 bind= ;;
        1t2) np=1 th=2 bind="--bind-to none" ;;
        esac
        out=$(OPENBLAS_NUM_THREADS=$th timeout 600 mpirun $bind -x OPENBLAS_NUM_THREADS -n $np \
            "$run" --threads-per-rank $th "$prog" --param op="$op" --param n="$n" --param reps="$r")
        log "$cfg $out"
        out=$(OPENBLAS_NUM_THREADS=$th timeout 600 mpirun $bind -x OPENBLAS_NUM_THREADS -n $np \
            "$bin" "$n" 64 "$r" "$dop")
        log "$cfg $out"
        if [ "$np" = 1 ]; then
            out=$(OPENBLAS_NUM_THREADS=$th timeout 600 "$py" "$here/numpy_ops.py" "$op" "$n" "$r")
            log "$cfg $out"
        fi
    done
}
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$raw"
for op in ${OPS:-gemm solve eigh}; do
    case $op in
    gemm)
        for n in ${NS:-1024 2048 4096}; do
            for np in 1 2; do # the single-core dgemm rate, all ranks at once
                log "$np $(timeout 600 mpirun -n $np "$bin" "$n" 64 "$reps" dgemm)"
            done
            bench gemm gemm "$n" "$reps"
        done
        ;;
    solve) for n in ${NS:-1024 2048 4096}; do bench solve gesv "$n" "$reps"; done ;;
    eigh) for n in ${EIGH_NS:-1024 2048}; do bench eigh syevd "$n" "${EIGH_REPS:-1}"; done ;;
    esac
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$raw"
"$py" - "$raw" <<'EOF'
import re, sys
flops = {"gemm": lambda n: 2.0 * n**3, "solve": lambda n: 2.0 * n**3 / 3,
         "eigh": lambda n: 4.0 * n**3}
alias = {"gesv": "solve", "syevd": "eigh"}
best, dg = {}, {}
for line in open(sys.argv[1]):
    if line.startswith("#"):
        continue
    f = re.sub(r"[\[\],]", " ", line).split()
    cfg, who, op, n, p = f[0], f[1], alias.get(f[2], f[2]), int(f[3]), int(f[4])
    t = min(float(x) for x in f[5:])
    if op == "dgemm":  # every rank ran an N^3 dgemm: the node's aggregate rate
        dg[(n, p)] = p * 2.0 * n**3 / t / 1e9
        continue
    best[(op, n, cfg, who)] = flops[op](n) / t / 1e9
names = {"1": "1 rank", "2": "2 ranks", "1t2": "1 rank x 2 threads"}
print("| op | N | config | Noodle GFLOP/s | direct ScaLAPACK | numpy | Noodle/direct "
      "| Noodle/dgemm |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for (op, n, cfg, who) in sorted(best, key=lambda k: (list(flops).index(k[0]), k[1],
                                                      list(names).index(k[2]))):
    if who != "noodle":
        continue
    g = best[(op, n, cfg, who)]
    d = best.get((op, n, cfg, "direct"))
    npy = best.get((op, n, cfg, "numpy"))
    ref = dg.get((n, 1 if cfg == "1" else 2)) if op == "gemm" else None
    print("| %s | %d | %s | %.1f | %s | %s | %s | %s |" % (
        op, n, names[cfg], g, "%.1f" % d if d else "-", "%.1f" % npy if npy else "-",
        "%.2f" % (g / d) if d else "-", "%.2f (of %.1f)" % (g / ref, ref) if ref else "-"))
EOF
