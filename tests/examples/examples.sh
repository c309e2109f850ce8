#!/bin/bash
# examples.sh: the programs in examples/ (installed and shown in the README) run as a user
# would run them, at every rank count of NOODLE_TEST_RANKS (default 1 2 3 4), and compute
# what their comments say:
#  - cg_poisson: CG on the 1-D Poisson matrix converges within n iterations (in exact
#    arithmetic n/2 for this right-hand side) to the exact solution x(1-x)/2, which the
#    second-order difference scheme reproduces up to rounding;
#  - gp_regression: log det K agrees with numpy's Cholesky of the same kernel matrix, the
#    posterior mean tracks the sine, and the run leaves a checkpoint and two results;
#  - pca: three components explain the variance, the fourth eigenvalue is the noise
#    variance 0.1^2, and the stored eigenvalues (read back with h5py) match the printout.
# Every rank count must print the same text, except cg_poisson's residual and error: `@`
# is not bit-identical across rank counts (docs/matrices.md), and those two are rounding.
set -u
: "${NOODLE_RUN:?}" "${top_srcdir:?}"
mpirun=${MPIRUN:-mpirun}
mql=$(dirname "$NOODLE_RUN")/noodle-mql
py=/usr/bin/python3
ranks=${NOODLE_TEST_RANKS:-1 2 3 4}
ex=$top_srcdir/examples
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nd_examples.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
cd "$tmp" || exit 1
fail=0
check() { # what cond; returns the outcome
    if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; return 1; fi
}
# run NAME NP [ARGS...]: runs examples/NAME.noodle; output in NAME.NP.out/.err, own catalog.
run() {
    local name=$1 np=$2
    shift 2
    timeout -k 10 300 "$mpirun" --oversubscribe -n "$np" "$NOODLE_RUN" --log-level warn \
        --catalog "cat.$name.$np" --checkpoint-dir "ck.$name.$np" "$ex/$name.noodle" "$@" \
        >"$name.$np.out" 2>"$name.$np.err" </dev/null
    local rc=$?
    check "$name at $np rank(s): exit 0 (got $rc)" '[ $rc = 0 ] && [ ! -s $name.$np.err ]' ||
        cat "$name.$np.err"
}
# field FILE LABEL: the first word after LABEL on its line.
field() { sed -n "s/^$2 \\([^ ]*\\).*/\\1/p" "$1" | head -n 1; }
# same NAME [LINES]: every rank count printed what the first did (its first LINES lines).
same() {
    local first="" n=${2:-1000000}
    for np in $ranks; do
        head -n "$n" "$1.$np.out" >"$1.$np.cmp"
        if [ -z "$first" ]; then first=$np; continue; fi
        check "$1: output at $np ranks as at $first" "cmp -s $1.$first.cmp $1.$np.cmp" ||
            diff "$1.$first.cmp" "$1.$np.cmp" | head -n 6
    done
}
lt() { "$py" -c "import sys; sys.exit(0 if float('$1') < float('$2') else 1)"; }

for np in $ranks; do
    run cg_poisson "$np"
    out=cg_poisson.$np.out
    it=$(sed -n 's/^n 120 iterations \([0-9]*\)$/\1/p' $out)
    check "cg_poisson at $np: n 120, converged within n iterations (got '$it')" \
        '[ -n "$it" ] && [ "$it" -ge 50 ] && [ "$it" -le 120 ]'
    check "cg_poisson at $np: relative residual below the tolerance" \
        "lt '$(field $out 'relative residual')' 1e-10"
    check "cg_poisson at $np: error against x(1-x)/2 at rounding level" \
        "lt '$(field $out 'max error vs exact')' 1e-9"
done
same cg_poisson 1

for np in $ranks; do
    run gp_regression "$np" --param n=200
    out=gp_regression.$np.out
    check "gp_regression at $np: header" "grep -qx 'training points 200 test points 50' $out"
    check "gp_regression at $np: rmse below 0.1" "lt '$(field $out 'posterior mean rmse')' 0.1"
    check "gp_regression at $np: one checkpoint" \
        '[ "$(ls ck.gp_regression.$np | grep -c "\.h5$")" = 1 ]'
    check "gp_regression at $np: two results stored" \
        '[ "$("$mql" cat.gp_regression.$np "SELECT name FROM results ORDER BY name" | grep -c "^gp_")" = 2 ]'
done
same gp_regression
logdet=$(field gp_regression.1.out 'log det K')
check "gp_regression: log det K ($logdet) as numpy computes it" "$py - '$logdet' <<'PY'
import sys, numpy as np
n, ell, noise = 200, 0.1, 0.05
x = np.linspace(0, 1, n)
K = np.exp(-(x[:, None] - x[None, :]) ** 2 / (2 * ell * ell)) + noise * noise * np.eye(n)
ref = 2 * np.log(np.diag(np.linalg.cholesky(K))).sum()
sys.exit(0 if abs(float(sys.argv[1]) - ref) <= 1e-6 * abs(ref) else 1)
PY"

for np in $ranks; do
    run pca "$np"
    out=pca.$np.out
    check "pca at $np: three components explain > 99.9 % of the variance" \
        "lt 0.999 '$(field $out 'variance explained by 3 components')'"
    check "pca at $np: scores are 1000 x 3" "grep -qx 'scores 1000 x 3' $out"
done
same pca
"$mql" cat.pca.1 --export pca_eigenvalues@1 eig.h5 >/dev/null 2>mql.err
check "pca: eigenvalues exported" '[ $? = 0 ]' || cat mql.err
check "pca: stored eigenvalues sorted, noise variance 0.01 fourth, top three as printed" "$py - pca.1.out <<'PY'
import sys, h5py, numpy as np
with h5py.File('eig.h5', 'r') as f:
    w = np.asarray(f['/data'][...]).ravel()
line = [l for l in open(sys.argv[1]) if l.startswith('largest eigenvalues')][0].split()[2:]
ok = (len(w) == 40 and np.all(np.diff(w) >= 0) and 0.005 < w[-4] < 0.02
      and all(abs(float(s) - v) <= 1e-4 * v for s, v in zip(line, w[::-1][:3])))
sys.exit(0 if ok else 1)
PY"
exit $fail
