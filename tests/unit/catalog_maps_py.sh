#!/bin/sh
# catalog_maps_py.sh: map results as analysts see them (docs/catalog.md "Map results").
# A result stored at 2 ranks opens in h5py (one dataset per member, units and
# descriptions as attributes, the member list in order, an n-by-1 matrix 2-D) and in
# xarray (coordinates from dims, dimensions without coordinates, units).  Then each bad
# store is a clear error at 1 rank that leaves no version and no temporary file.
set -u
. "$(dirname "$0")/run_scratch.sh"
cat >w.noodle <<'PROG'
let x = arange(0, 4) * 0.5
let t = arange(0, 3) * 10
let U = reshape(arange(0, 12), [4, 3]) + 270
store("heat", {"T": U, "x": x, "t": t, "M": ones([2, 3]), "c": matrix([1, 2]), "n": 7, "note": "ok"}, {"run": 1},
      {"T": {"dims": ["x", "t"], "units": "K", "description": "temperature"}, "x": {"units": "m"},
       "t": {"units": "s"}, "M": {"dims": ["a", "b"]}})
PROG
timeout 120 "$mpirun" --oversubscribe -n 2 "$run" --catalog cat w.noodle >w.out 2>w.err </dev/null ||
    { echo "FAIL: the storing run: $(cat w.err)"; exit 1; }
"$py" - <<'PY' || exit 1
import h5py, numpy as np
f = h5py.File("cat/results/heat/v1.h5", "r")
assert list(f.attrs["members"]) == ["T", "x", "t", "M", "c", "n", "note"], list(f.attrs["members"])
assert f.attrs["kind"] == "map" and f.attrs["tag.run"] == 1
assert f["T"].shape == (4, 3) and f["T"][3, 2] == 281.0 and f["T"].attrs["units"] == "K"
assert f["T"].attrs["description"] == "temperature" and f["x"].attrs["units"] == "m"
assert f["x"].shape == (4,) and f["c"].shape == (2, 1) and f["n"][()] == 7 and f["note"][()] == b"ok"
assert [d.label for d in f["T"].dims] == ["x", "t"], [d.label for d in f["T"].dims]
assert [list(d.keys()) for d in f["T"].dims] == [["x"], ["t"]]
assert np.array_equal(f["T"].dims[0][0][:], [0, 0.5, 1, 1.5])
print("ok: h5py sees one dataset per member, with units, dims and the member order")
try:
    import xarray as xr
except ImportError:
    print("note: no xarray here (python3-xarray, python3-h5netcdf): its view is not checked")
    raise SystemExit(0)
ds = xr.open_dataset("cat/results/heat/v1.h5", engine="h5netcdf")
assert ds["T"].dims == ("x", "t") and set(ds["T"].coords) == {"x", "t"}, (ds["T"].dims, list(ds["T"].coords))
assert ds["T"].attrs["units"] == "K" and ds["x"].attrs["units"] == "m"
assert ds["M"].dims == ("a", "b") and "a" not in ds.coords, ds["M"]
assert float(ds["T"].sel(x=1.5, t=20)) == 281.0
print("ok: xarray shows x and t as coordinates of T, a and b as dimensions without coordinates")
PY
# Export: .h5 copies the file; a map has no CSV or JSON form (a clear error, no file).
mql="$(dirname "$run")/noodle-mql"
"$mql" cat --export heat o.h5 && cmp -s o.h5 cat/results/heat/v1.h5 || { echo "FAIL: export to .h5"; exit 1; }
for ext in csv json; do
    "$mql" cat --export heat o.$ext 2>e.err
    rc=$?
    [ $rc = 3 ] && grep -q "a map.* has no .* form (export it to .h5)" e.err && [ ! -e o.$ext ] ||
        { echo "FAIL: export of a map to .$ext: exit $rc, $(cat e.err)"; exit 1; }
done
# A tag holding terminal escapes (written by hand into the file): the table shows them as
# \xHH, never sends them to the terminal.  The edit breaks the file's checksum: as a
# file of an older version (no userblock), --seal-legacy gives it a new one.
"$py" -c 'import h5py; f = h5py.File("cat/results/heat/v1.h5", "r+"); f.attrs["tag.note"] = "red\x1b[31mALERT\x07"; f.close()'
tail -c +513 cat/results/heat/v1.h5 >h.h5 && mv h.h5 cat/results/heat/v1.h5
"$mql" --seal-legacy cat >/dev/null 2>&1 || { echo "FAIL: --seal-legacy"; exit 1; }
out=$("$mql" cat "SELECT name, tags.note FROM results WHERE name = 'heat'")
printf '%s' "$out" | grep -q "$(printf '\033')" && { echo "FAIL: an escape reached the table"; exit 1; }
printf '%s' "$out" | grep -qF 'red\x1b[31mALERT\x07' || { echo "FAIL: the table shows: $out"; exit 1; }
# Each bad store: exit 1, its message, and the catalog unchanged (one version, no
# temporaries; a failed run that had opened the catalog adds its job report, _run, with
# status "error").
bad() {
    printf '%s\n' "let x = arange(0, 4)" "let U = ones([4, 3])" "$1" >b.noodle
    timeout 60 "$run" --catalog cat b.noodle >b.out 2>b.err </dev/null
    rc=$?
    [ $rc = 1 ] && grep -qF -- "$2" b.err ||
        { echo "FAIL: '$1': exit $rc, want 1 and '$2'; got: $(grep -m 1 error b.err)"; exit 1; }
    left=$(find cat/results -name '*.h5*' ! -path '*/_run/*' | sort | tr '\n' ' ')
    [ "$left" = "cat/results/heat/v1.h5 " ] || { echo "FAIL: '$1' left: $left"; exit 1; }
}
bad 'store("b", {"U": U}, {}, {"U": {"dims": ["x"]}})' "'U' is 2-D (shape 4x3) but its dims name 1 dimension"
bad 'store("b", {"U": U, "x": x}, {}, {"U": {"dims": ["p", "x"]}})' "axis 1 of 'U' is 3 long, but its coordinate 'x' has 4 values"
bad 'store("b", {"U": U, "V": ones([5])}, {}, {"U": {"dims": ["p", "q"]}, "V": {"dims": ["p"]}})' "dimension 'p' is 4 long, but axis 0 of 'V' is 5"
bad 'store("b", {"U": U, "y": ones([3, 1])}, {}, {"U": {"dims": ["p", "y"]}})' "'y' must be a 1-D array (a coordinate), not of shape 3x1 (reshape(y, [3]) makes one)"
bad 'store("b", {"a b": U})' "invalid member name 'a b'"
bad 'store("b", {"U": U}, {}, {"U": {"units": [1]}})' "attribute 'units' of 'U' must be a number or a str, not list"
bad 'store("b", {"U": U}, {}, {"U": {"DIMENSION_LIST": "x"}})' "invalid attribute 'DIMENSION_LIST' of 'U'"
bad 'store("b", {"U": U}, {}, {"U": {"dims": [1, 2]}})' "the dims of 'U' must be strs; item 0 is int"
bad 'store("b", {"U": U}, {}, {"V": {"units": "K"}})' "meta names 'V', which is not a key of the stored map"
bad 'store("b", {"U": U}, {}, {"U": "K"})' "meta of 'U' must be a map (units, description, dims), not str"
bad 'store("b", U, {}, {"U": {"units": "K"}})' "meta describes the arrays of a map"
bad 'store("b", {"U": U}, {}, [1])' "argument 4 must be a map"
st=$("$mql" cat "SELECT tags.status, count(*) FROM results WHERE name = '_run' GROUP BY tags.status ORDER BY tags.status" --format csv | tr '\n' ' ')
case $st in "tags.status,count(*) error,"[1-9]*" ok,1 ") ;; *) false ;; esac || { echo "FAIL: the job reports' statuses: $st"; exit 1; }
echo "ok: 12 bad stores are clear errors that leave no version behind (failed runs report status error)"
