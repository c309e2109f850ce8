#!/bin/sh
# run.sh: Noodle's array operations against numpy on the same machine, in one run: numpy
# single-threaded, Noodle at 1 and 2 ranks (benchmarks/RESULTS.md, "arrays").  Prints per
# operation the seconds per run and per element and the ratios Noodle/numpy (lower is
# better) and 2 ranks / 1 rank.
#
# Usage: benchmarks/arrays/run.sh BUILD_DIR [N] [REPS] [K]
#   N: matrices N x N (default 1000, 10^6 elements), K: the stencil's K^3 field (100).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
n=${2:-1000} reps=${3:-10} k=${4:-100}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMP_NUM_THREADS=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
export OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/arr_bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
/usr/bin/python3 "$here/ops_numpy.py" "$n" "$reps" "$k" >"$tmp/np"
for p in 1 2; do
    mpirun -n "$p" "$build/noodle-run" --param n="$n" --param reps="$reps" --param k="$k" \
        "$here/ops.noodle" >"$tmp/nd$p"
done
/usr/bin/python3 - "$tmp/np" "$tmp/nd1" "$tmp/nd2" <<'PY'
import sys
def load(p):
    return {l.split()[0]: (int(l.split()[1]), float(l.split()[2])) for l in open(p) if l.strip()}
np_, n1, n2 = (load(p) for p in sys.argv[1:4])
print("%-12s %10s %12s %12s %12s %9s %9s %9s" % ("op", "elements", "numpy us", "1 rank us",
      "2 ranks us", "1r/numpy", "ns/elem 1r", "2r/1r"))
for op, (e, t) in np_.items():
    t1, t2 = n1[op][1], n2[op][1]
    print("%-12s %10d %12.1f %12.1f %12.1f %9.2f %9.2f %9.2f" % (op, e, t * 1e6, t1 * 1e6,
          t2 * 1e6, t1 / t, t1 / e * 1e9, t2 / t1))
PY
