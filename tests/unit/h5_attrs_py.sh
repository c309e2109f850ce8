#!/bin/sh
# h5_attrs_py.sh: what h5py sees of h5write's files (docs/language.md "Builtins", I/O):
# attributes written at 2 ranks come back as Python str, int and float; a scalar dataset
# is a 0-d dataset; a 1-D array a 1-D dataset; an n-by-1 matrix stays 2-D.  Then a file
# made by h5py (fixed-length bytes, a numeric array attribute, a compound attribute) is
# read back by h5attrs: the first two as a string and a list, the third a clear error.
set -u
. "$(dirname "$0")/run_scratch.sh"
cat >w.noodle <<'PROG'
h5write("o.h5", "T", reshape(arange(0, 6), [2, 3]), {"units": "K", "count": 3, "scale": 0.5, "desc": "a 2x3 field"})
h5write("o.h5", "dt", 0.25, {"units": "s"})
h5write("o.h5", "v", arange(0, 4))
h5write("o.h5", "c", matrix([1, 2, 3]))
PROG
timeout 120 "$mpirun" --oversubscribe -n 2 "$run" w.noodle >w.out 2>w.err </dev/null ||
    { echo "FAIL: the writing run: $(cat w.err)"; exit 1; }
"$py" - <<'PY' || exit 1
import h5py, numpy as np
f = h5py.File("o.h5", "r")
a = dict(f["T"].attrs)
assert a == {"units": "K", "count": 3, "scale": 0.5, "desc": "a 2x3 field"}, a
assert isinstance(a["units"], str) and isinstance(a["count"], np.int64) and isinstance(a["scale"], np.float64), {k: type(v) for k, v in a.items()}
assert f["T"].shape == (2, 3) and f["T"][1, 2] == 5.0
assert f["dt"].shape == () and f["dt"][()] == 0.25 and f["dt"].attrs["units"] == "s"
assert f["v"].shape == (4,) and f["c"].shape == (3, 1), (f["v"].shape, f["c"].shape)
f.close()
g = h5py.File("py.h5", "w")
d = g.create_dataset("d", data=np.arange(3.0))
d.attrs["fixed"] = np.bytes_("abc")
d.attrs["arr"] = np.array([1.5, 2.5, 3.5])
d.attrs["i8"] = np.int8(-4)
g.create_dataset("e", data=1.0).attrs["cmp"] = np.array((1, 2.0), dtype=[("a", "i4"), ("b", "f8")])
g.close()
print("ok: h5py reads h5write's attributes, scalar, 1-D and n-by-1 datasets")
PY
cat >r.noodle <<'PROG'
let at = h5attrs("py.h5", "d")
print(at["fixed"], at["arr"], at["i8"], h5read("py.h5", "e"))
print(h5attrs("py.h5", "e"))
PROG
timeout 120 "$mpirun" --oversubscribe -n 2 "$run" r.noodle >r.out 2>r.err </dev/null
rc=$?
want='abc [1.5, 2.5, 3.5] -4 1.0'
[ "$(head -n 1 r.out)" = "$want" ] || { echo "FAIL: h5attrs of h5py's file: got '$(head -n 1 r.out)', want '$want'"; exit 1; }
[ $rc = 1 ] && grep -q "attribute 'cmp' of 'e' in 'py.h5' is of a compound type" r.err ||
    { echo "FAIL: a compound attribute: exit $rc, $(grep -m 1 error r.err)"; exit 1; }
echo "ok: h5attrs reads h5py's fixed-length string, array and int8 attributes; a compound one is a clear error"
