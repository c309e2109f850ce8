#!/bin/bash
# ckpt_nd_ranks.sh: n-d arrays keep their shape through a checkpoint restarted at another
# rank count (docs/checkpoint.md "File layout"), and h5write writes them as h5py expects:
#  - a run at 2 ranks holding a 3-D array (3x40x70, its fold spans several blocks) and
#    1-D arrays of 10007 (prime: a one-row fold) and 4096 is killed after its checkpoint;
#  - h5py sees /matrices/m<k> of the arrays' shapes with a matching shape attribute;
#  - --restart at 3 ranks prints the shapes and sums of an uninterrupted run at 3 ranks;
#  - the h5write files hold datasets of the shapes and the values h5py computes itself.
. "$(dirname "$0")/ckpt_common.bash"
py=/usr/bin/python3
"$py" -c 'import h5py, numpy' 2>/dev/null || { echo "SKIP: no h5py"; exit 77; }

cat > nd.noodle <<'NOODLE'
let T = rand([3, 40, 70], 5)
let v = arange(0, 10007, 1) * 0.5
let w = reshape(arange(0, 4096, 1), [4096]) - 7
h5write("out.h5", "T", T)
h5write("out.h5", "g/v", v)
h5write("out.h5", "w", w)
checkpoint()
let s = 0
for i in 0..param("n", 10) { s = s + i % 3 }   # read after the restart

print(shape(T), shape(v), shape(w), sum(T), sum(v), sum(w), T[2, 39, 69], v[-1])
NOODLE

run_np 3 nd.noodle --param n=10 > ref.out 2> ref.err || { cat ref.err; fail "reference run"; }
[ -s ref.out ] || fail "reference run printed nothing"
grep -q '^\[3, 40, 70\] \[10007\] \[4096\] ' ref.out || fail "reference shapes: $(cat ref.out)"

# What h5py sees in h5write's file: shapes and values computed here.
"$py" - out.h5 <<'PY' || fail "h5write's datasets are not the arrays h5py expects"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    T, v, w = f["T"], f["g/v"], f["w"]
    assert T.shape == (3, 40, 70) and v.shape == (10007,) and w.shape == (4096,), (T.shape, v.shape, w.shape)
    assert np.array_equal(v[...], np.arange(10007) * 0.5)
    assert np.array_equal(w[...], np.arange(4096.0) - 7)
    t = T[...]
    assert t.dtype == np.float64 and np.all((t >= 0) & (t < 1)) and len(np.unique(t)) == t.size
PY

# A run at 2 ranks, killed while it loops after its checkpoint.
timeout 120 $MPIRUN -n 2 "$NOODLE_RUN" --checkpoint-dir ck nd.noodle --param n=4000000000 \
    > out 2> err &
mp=$!
for k in $(seq 400); do [ -f ck/ckpt-1.h5 ] && break; sleep 0.05; done
[ -f ck/ckpt-1.h5 ] || { kill "$mp"; fail "checkpoint() wrote nothing"; }
sleep 0.3
kill -9 "$(mpirun_pid "$mp")" $(rank_pids "$mp") 2>/dev/null
wait "$mp" 2>/dev/null

"$py" - ck/ckpt-1.h5 out.h5 <<'PY' || fail "the checkpoint does not hold the arrays with their shapes"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f, h5py.File(sys.argv[2], "r") as o:
    got = {}
    for k in range(int(f["matrices"].attrs["count"])):
        d = f["matrices/m%d" % k]
        assert tuple(d.attrs["shape"]) == d.shape, (d.shape, d.attrs["shape"])
        got[d.shape] = d[...]
    assert np.array_equal(got[(3, 40, 70)], o["T"][...])
    assert np.array_equal(got[(10007,)], o["g/v"][...])
    assert np.array_equal(got[(4096,)], o["w"][...])
    assert f["variables/T"].shape == (3, 40, 70)
PY

# The restart at 3 ranks (a shorter loop: --force accepts the changed parameter).
run_np 3 --checkpoint-dir ck --restart --force nd.noodle --param n=10 > r3.out 2> r3.err ||
    { cat r3.err; fail "restart at 3 ranks"; }
grep -q "restarting from" r3.err || { cat r3.err; fail "did not restart"; }
cmp -s r3.out ref.out || { diff r3.out ref.out; fail "restart at 3 ranks differs"; }
echo "ok: n-d arrays through h5write and a checkpoint restarted at another rank count"
