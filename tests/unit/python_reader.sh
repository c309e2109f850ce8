#!/bin/sh
# python_reader.sh: the Python reader (python/noodle_catalog) and noodle-report against
# a catalog written by real runs at 2 ranks (docs/catalog.md "Python", "Job reports"):
# queries as DataFrames through noodle-mql (types, timestamps, aggregates, an empty
# result's columns, errors), loads as numpy and xarray, the job reports as runs, and
# noodle-report's table, plots and exit statuses, also with one report damaged.
set -u
src=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
. "$(dirname "$0")/run_scratch.sh"
bld=$(cd "$(dirname "$run")" && pwd)
export PYTHONPATH="$src/python" NOODLE_MQL="$bld/noodle-mql"
cat >w.noodle <<'PROG'
let n = param("n", 4)
let x = arange(0, n) * 0.5
let U = reshape(arange(0, 3 * n), [n, 3]) * param("scale", 1.0)
store("heat", {"T": U, "x": x, "dt": 0.25, "label": "sweep"}, {"n": n, "method": "fd"},
      {"T": {"dims": ["x", "c"], "units": "K"}, "x": {"units": "m"}})
store("A", ones([2, 2]) * n, {"n": n})
store("cfg", {"tol": 1e-6, "sizes": [1, 2]})
store("count", n * 10, {"n": n})
checkpoint()
PROG
for n in 3 5; do
    timeout 120 "$mpirun" --oversubscribe -n 2 "$run" --catalog cat --param n=$n --param scale=2 \
        --metrics-textfile m$n.prom w.noodle >w.out 2>w.err </dev/null ||
        { echo "FAIL: run n=$n: $(cat w.err)"; exit 1; }
done
# metrics.textfile: the final state, in the text format, with both labels; no leftovers.
grep -qE '^noodle_up\{job="[^"]+",program="w.noodle"\} 0$' m5.prom &&
    grep -qE '^noodle_exit_status\{.*\} 0$' m5.prom && grep -qE '^noodle_checkpoints_total\{.*\} 1$' m5.prom &&
    grep -q '^# TYPE noodle_safepoints_total counter$' m5.prom && [ "$(ls m5.prom*)" = m5.prom ] ||
    { echo "FAIL: metrics.textfile:"; cat m5.prom; exit 1; }
timeout 60 "$run" --catalog cat2 --metrics-textfile nodir/m.prom w.noodle >/dev/null 2>w.err </dev/null &&
    [ "$(grep -c "warning: metrics.textfile: cannot write 'nodir/m.prom'" w.err)" = 1 ] ||
    { echo "FAIL: an unwritable metrics.textfile: $(cat w.err)"; exit 1; }
"$py" - <<'PY' || exit 1
import warnings
import numpy as np
import pandas as pd
import noodle_catalog as nc

cat = nc.open_catalog("cat")
df = cat.query("SELECT name, version, kind, tags.n, tags.method, created FROM results WHERE name = 'heat' ORDER BY version")
assert list(df.columns) == ["name", "version", "kind", "tags.n", "tags.method", "created"], list(df.columns)
assert list(df["tags.n"]) == [3, 5] and list(df["kind"]) == ["map", "map"], df
assert str(df["tags.n"].dtype) == "int64" and str(df["created"].dtype).startswith("datetime64"), df.dtypes
g = cat.query("SELECT name, count(*) AS k FROM results GROUP BY name ORDER BY name")
assert dict(zip(g["name"], g["k"])) == {"A": 2, "_run": 2, "cfg": 2, "count": 2, "heat": 2}, g
e = cat.query("SELECT name, version FROM results WHERE name = 'nothing'")
assert len(e) == 0 and list(e.columns) == ["name", "version"], e
try:
    cat.query("SELECT name FROM results WHERE")
    raise AssertionError("a bad query passed")
except nc.QueryError as err:
    assert "mql:1:" in str(err), str(err)
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    cat.query("SELECT name FROM results WHERE tags.n = '3'")
    assert len(w) == 1 and "tags.n" in str(w[0].message), [str(x.message) for x in w]
h = cat.load("heat")
assert list(h) == ["T", "x", "dt", "label"] and h["dt"] == 0.25 and h["label"] == "sweep"
assert h["T"].shape == (5, 3) and np.array_equal(h["T"], np.arange(15.0).reshape(5, 3) * 2)
assert np.array_equal(cat.load("heat", 1)["x"], [0, 0.5, 1.0])
assert np.array_equal(cat.load("A"), np.full((2, 2), 5.0)) and cat.load("count") == 50
assert cat.load("cfg") == {"tol": 1e-6, "sizes": [1, 2]}
assert cat.attrs("heat", "T")["units"] == "K" and cat.info("heat")["tag.method"] == "fd"
ds = cat.load("heat", xarray=True)
assert ds["T"].dims == ("x", "c") and ds["T"].attrs["units"] == "K" and ds["x"].attrs["units"] == "m"
assert float(ds["T"].sel(x=1.0)[2]) == 16.0 and "c" not in ds.coords
assert cat.load("A", xarray=True).dims == ("row", "col")
for bad, exc in (("nothing", KeyError), ("../x", ValueError)):
    try:
        cat.load(bad)
        raise AssertionError("load(%r) passed" % bad)
    except exc:
        pass
try:
    cat.load("heat", 9)
    raise AssertionError("load of a missing version passed")
except KeyError as err:
    assert "heat@9" in str(err)
runs = cat.runs()
assert len(runs) == 2 and list(runs["status"]) == ["ok", "ok"] and list(runs["checkpoints"]) == [1, 1], runs
assert (runs["wall"] > 0).all() and list(runs["ranks"]) == [2, 2] and list(runs["program"]) == ["w.noodle"] * 2
r = cat.load("_run")
assert r["memory_mib_rank"].shape == (2,) and r["checkpoint_duration"].shape == (1,)
print("ok: queries as DataFrames, loads as numpy and xarray, runs, errors")
PY
job=$("$bld/noodle-mql" cat "SELECT job FROM results WHERE name = '_run' ORDER BY version LIMIT 1" --format csv | tail -n 1)
"$bld/noodle-report" cat "$job" -o r.png >rep.out 2>rep.err || { echo "FAIL: noodle-report: $(cat rep.err)"; exit 1; }
grep -q "its sweep (2 runs)" rep.out && grep -q "^plot: r.png" rep.out ||
    { echo "FAIL: noodle-report printed:"; cat rep.out; exit 1; }
[ "$(head -c 4 r.png | od -An -c | tr -d ' ')" = '211PNG' ] || { echo "FAIL: r.png is not a PNG"; exit 1; }
"$bld/noodle-report" cat -o all.svg >/dev/null 2>&1 && grep -q "<svg" all.svg ||
    { echo "FAIL: noodle-report of every run wrote no SVG"; exit 1; }
"$bld/noodle-report" cat nosuchjob --no-plot >/dev/null 2>e1; rc1=$?
"$bld/noodle-report" nocat >/dev/null 2>e2; rc2=$?
"$bld/noodle-report" cat -o x.gif >/dev/null 2>e3; rc3=$?
[ $rc1 = 1 ] && grep -q "no job report for job nosuchjob" e1 && [ $rc2 = 2 ] && grep -q "no catalog at nocat" e2 &&
    [ $rc3 = 2 ] || { echo "FAIL: bad input: exits $rc1 $rc2 $rc3: $(cat e1 e2 e3)"; exit 1; }
# A damaged report: the other one is still reported, with a warning.
printf 'garbage' >cat/results/_run/v1.h5
"$bld/noodle-report" cat --no-plot >rep.out 2>rep.err || { echo "FAIL: with a damaged _run: $(cat rep.err)"; exit 1; }
grep -q "_run@1" rep.err && [ "$(grep -c ' ok ' rep.out)" = 1 ] ||
    { echo "FAIL: a damaged _run: $(cat rep.out rep.err)"; exit 1; }
# ... and queries over the others survive a rebuild of the index, with one warning.
rm cat/index.h5
n=$("$bld/noodle-mql" cat "SELECT count(*) FROM results WHERE name = 'heat'" --format csv 2>q.err | tail -n 1)
[ "$n" = 2 ] && grep -q "left out of the index: .*_run/v1.h5" q.err ||
    { echo "FAIL: a query after a damaged _run: '$n', $(cat q.err)"; exit 1; }
echo "ok: noodle-report prints, plots PNG and SVG, refuses bad input, skips a damaged report"
