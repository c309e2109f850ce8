#!/bin/sh
# benchmarks/catalog/run.sh: MQL through noodle-mql against sqlite3 over the same
# N metadata rows (default 100,000; one table, no secondary index in either).  The catalog is
# metadata only: gen_index writes index.h5 rows directly (no result files), which is
# what a query reads.  usage: benchmarks/catalog/run.sh [BUILD_DIR] [N]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top/build}
n=${2:-100000}
[ -x "$build/noodle-mql" ] || { echo "build noodle-mql first (make noodle-mql in $build)"; exit 2; }
work=$(mktemp -d /tmp/nd_cat_bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -std=c11 -O2 -D_DEFAULT_SOURCE -I"$top/src" -I"$build" $(pkg-config --cflags hdf5-openmpi) \
    "$here/gen_index.c" "$build/.libs/libnd_catalog.a" "$build/.libs/libnd_runtime.a" \
    "$build/.libs/libnd_common.a" $(pkg-config --libs hdf5-openmpi scalapack-openmpi) \
    -lhdf5_hl -lopenblas -lm -o "$work/gen_index"
"$work/gen_index" "$work/cat" "$n" "$work/rows.csv"
sqlite3 "$work/db.sqlite" <<SQL
CREATE TABLE results (name TEXT, version INTEGER, kind TEXT, job TEXT, created TEXT, user TEXT,
  host TEXT, ranks INTEGER, rows INTEGER, cols INTEGER, min REAL, max REAL, mean REAL,
  norm REAL, tag_n INTEGER, tag_method TEXT);
.mode csv
.import $work/rows.csv results
SQL

SEL_MQL="SELECT name, version, norm FROM results WHERE tags.n = 1500 AND tags.method = 'qr' AND norm > 9.5"
SEL_SQL="SELECT name, version, norm FROM results WHERE tag_n = 1500 AND tag_method = 'qr' AND norm > 9.5 ORDER BY name, version;"
SCAN_MQL="SELECT name, version, norm FROM results ORDER BY norm DESC"
SCAN_SQL="SELECT name, version, norm FROM results ORDER BY norm DESC;"
GRP_MQL="SELECT tags.method, count(*) FROM results GROUP BY tags.method"
GRP_SQL="SELECT tag_method, count(*) FROM results GROUP BY tag_method;"

# Median wall time in ms of 11 runs (after one warm-up), output to /dev/null.
median_ms() {
    "$@" >/dev/null
    for i in 1 2 3 4 5 6 7 8 9 10 11; do
        s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N)
        echo $(((e - s) / 1000))
    done | sort -n | sed -n 6p | awk '{ printf "%.1f", $1 / 1000 }'
}
mql() { "$build/noodle-mql" "$work/cat" "$1" --format csv; }
sql() { sqlite3 -csv "$work/db.sqlite" "$1"; }

a=$(mql "$SEL_MQL" | tail -n +2 | wc -l); b=$(sql "$SEL_SQL" | wc -l)
[ "$a" -eq "$b" ] || { echo "row counts differ: mql $a, sqlite $b"; exit 1; }
t1=$(median_ms mql "$SEL_MQL"); t2=$(median_ms sql "$SEL_SQL")
[ "$(mql "$GRP_MQL" | tail -n +2)" = "$(sql "$GRP_SQL")" ] || { echo "GROUP BY results differ"; exit 1; }
t3=$(median_ms mql "$SCAN_MQL"); t4=$(median_ms sql "$SCAN_SQL")
t5=$(median_ms mql "$GRP_MQL"); t6=$(median_ms sql "$GRP_SQL")
echo "catalog of $n results (index.h5 $(du -k "$work/cat/index.h5" | cut -f1) KiB); median of 11 runs"
printf "%-34s %10s %10s %8s\n" query "mql ms" "sqlite ms" ratio
printf "%-34s %10s %10s %8s\n" "selective ($a rows)" "$t1" "$t2" "$(echo "$t1 $t2" | awk '{ printf "%.2f", $1 / $2 }')"
printf "%-34s %10s %10s %8s\n" "full scan ORDER BY norm DESC" "$t3" "$t4" "$(echo "$t3 $t4" | awk '{ printf "%.2f", $1 / $2 }')"
printf "%-34s %10s %10s %8s\n" "count(*) GROUP BY tags.method" "$t5" "$t6" "$(echo "$t5 $t6" | awk '{ printf "%.2f", $1 / $2 }')"
