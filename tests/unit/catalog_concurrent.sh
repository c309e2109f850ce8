#!/bin/sh
# catalog_concurrent.sh: six writer processes store 50 results each into one catalog at
# the same time (half of them into one shared name), two are killed with kill -9 at
# random moments.  Then every result a writer reported as committed must be in the
# catalog, (name, version) pairs must be unique, the index must agree with the result
# files, and a reindex, or a rebuild by the next query, must give the same answer; the
# audit log must verify.
# Bounded by timeouts throughout.
set -u
b=${top_builddir:-.}
W=$b/tests/unit/catalog_writer
MQL=$b/noodle-mql
for p in "$W" "$MQL"; do
    [ -x "$p" ] || { echo "catalog_concurrent: $p not built"; exit 99; }
done
dir=$(mktemp -d /tmp/nd_cat_conc.XXXXXX) || exit 99
trap 'rm -rf "$dir"' EXIT
cat=$dir/cat
fail() { echo "catalog_concurrent: FAIL: $*"; exit 1; }
rnd() { od -An -N2 -tu2 /dev/urandom | awk -v m="$1" '{ printf "%.2f", ($1 % m) / 100 }'; }

pids=""
for i in 1 2 3 4 5 6; do
    "$W" "$cat" "$i" 50 >"$dir/out.$i" 2>"$dir/err.$i" &
    pids="$pids $!"
done
# The watchdog bounds the whole run (the writers are killed directly, not through timeout).
(i=0; while [ $i -lt 120 ]; do
    [ -e "$dir/done" ] && exit 0
    sleep 1; i=$((i + 1))
done; kill -9 $pids 2>/dev/null) &
watchdog=$!
set -- $pids
sleep "$(rnd 150)"; kill -9 "$2" 2>/dev/null
sleep "$(rnd 150)"; kill -9 "$5" 2>/dev/null
for p in $pids; do wait "$p"; done
touch "$dir/done"; wait "$watchdog"
killed=0
for i in 2 5; do
    [ "$(grep -c committed "$dir/out.$i")" -lt 50 ] && killed=$((killed + 1))
done
for i in 1 3 4 6; do
    [ "$(grep -c committed "$dir/out.$i")" -eq 50 ] || { cat "$dir/err.$i"; fail "writer $i did not finish"; }
done

timeout 60 "$MQL" "$cat" "SELECT name, version, tags.writer, tags.k FROM results" --format csv \
    >"$dir/all.csv" || fail "query failed"
tail -n +2 "$dir/all.csv" | sort >"$dir/rows"
cat "$dir"/out.* | awk '$1 == "committed" { print $2 "," $3 "," $4 "," $5 }' | sort >"$dir/committed"
missing=$(comm -23 "$dir/committed" "$dir/rows" | head -5)
[ -z "$missing" ] || fail "committed results missing from the catalog: $missing"
dups=$(cut -d, -f1,2 "$dir/rows" | uniq -d | head -5)
[ -z "$dups" ] || fail "duplicate versions: $dups"
nfiles=$(find "$cat/results" -name 'v*.h5' | wc -l)
[ "$nfiles" -eq "$(wc -l <"$dir/rows")" ] || fail "$nfiles result files but $(wc -l <"$dir/rows") rows"
# Versions of each name are 1..N with gaps only where a writer died after claiming.
nshared=$(grep -c '^shared,' "$dir/rows")
[ "$nshared" -ge 100 ] || fail "only $nshared results under the shared name"

timeout 60 "$MQL" --reindex "$cat" 2>/dev/null || fail "reindex failed"
timeout 60 "$MQL" "$cat" "SELECT name, version, tags.writer, tags.k FROM results" --format csv \
    | tail -n +2 | sort | cmp -s - "$dir/rows" || fail "reindex changed the answer"
ls "$cat/pending" | grep -q . && fail "pending markers left after reindex"
# noodle-mql answers from the mapped index without HDF5 or MPI; without an index it
# hands over to noodle-mql-full, which rebuilds it: the answer must not change.
if command -v ldd >/dev/null 2>&1; then
    ldd "$MQL" | grep -Eq 'libhdf5|libmpi' && fail "noodle-mql loads HDF5 or MPI"
fi
rm -f "$cat/index.h5"
timeout 60 "$MQL" "$cat" "SELECT name, version, tags.writer, tags.k FROM results" --format csv \
    | tail -n +2 | sort | cmp -s - "$dir/rows" || fail "the rebuilt index changed the answer"
[ -e "$cat/index.h5" ] || fail "the query did not rebuild the index"
find "$cat/results" -name '*.tmp.*' | grep -q . && fail "temporary files left after reindex"
# The audit log stays one chain, with an entry for every committed result, whatever the kills.
timeout 60 "$MQL" "$cat" --verify-audit >"$dir/audit" 2>&1 || fail "--verify-audit: $(cat "$dir/audit")"
echo "catalog_concurrent: ok ($(wc -l <"$dir/rows") results, $nfiles files, $killed writers killed early)"
exit 0
