#!/bin/bash
# catalog_checksums.sh: bit flips in the catalog (docs/catalog.md "Checksums").  A flipped
# bit anywhere in a result file makes load exit 3 naming the file, and a rebuild of the
# index leave it out with one warning, never a signal (HDF5 once crashed on such files);
# a flipped bit in index.h5 never changes a query's answer (the index is rebuilt, with
# one warning, when a row's checksum fails); a result file written before checksums (no
# userblock) still loads.  Before checksums, 154 of 220 flips in index.h5 gave wrong
# answers and a flip in a matrix made load return another maximum with exit 0.
. "$(dirname "$0")/ckpt_common.bash"
MQL=$(dirname "$NOODLE_RUN")/noodle-mql
PY=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
cat > st.noodle <<'NOODLE'
let A = rand(200, 150, 7)
store("m", A, {"n": 200, "method": "lu"})
store("x", 1.5, {"n": 1})
store("s", "hello")
store("mp", {"f": A, "k": 3})
for i in 0..40 { store("sweep", i * 0.5, {"i": i, "tag": "t" + str(i % 3)}) }
print(max(A))
NOODLE
cat > ld.noodle <<'NOODLE'
print(max(load("m")))
print(load("x"))
NOODLE
run_np 2 --catalog c st.noodle >max.txt 2>e.txt || fail "store: $(cat e.txt)"
run_np 2 --catalog c ld.noodle >good_ld.txt 2>e.txt || fail "load: $(cat e.txt)"
[ "$(head -n 1 good_ld.txt)" = "$(cat max.txt)" ] || fail "load: $(cat good_ld.txt)"
Q="SELECT name, version, max, value, tags.i, tags.tag FROM results ORDER BY name, version"
"$MQL" c "$Q" --format csv >good_q.txt 2>e.txt || fail "query: $(cat e.txt)"
[ "$(grep -c "^sweep," good_q.txt)" = 40 ] || fail "query: $(cat good_q.txt)"

# Flips in the rows and strings of index.h5 (located by its userblock header) and
# anywhere else in it: the answer never changes; a damaged row is said once.
cp c/index.h5 index.bak
"$PY" - "$MQL" "$Q" <<'PY' || fail "index.h5 bit flips"
import os, random, shutil, struct, subprocess, sys
mql, q = sys.argv[1], sys.argv[2]
good = open("good_q.txt").read()
hb = open("index.bak", "rb").read(512)
nrows, rcap, toff, hlen, hcap, hoff = struct.unpack_from("<6Q", hb, 16)
spots = [toff + random.Random(k).randrange(nrows * 200) for k in range(30)]
spots += [hoff + random.Random(100 + k).randrange(hlen) for k in range(15)]
spots += [random.Random(200 + k).randrange(os.path.getsize("index.bak")) for k in range(15)]
warned = 0
for k, pos in enumerate(spots):
    shutil.copy("index.bak", "c/index.h5")
    with open("c/index.h5", "r+b") as f:
        f.seek(pos); b = f.read(1); f.seek(pos); f.write(bytes([b[0] ^ (1 << (k % 8))]))
    r = subprocess.run([mql, "c", q, "--format", "csv"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or r.stdout != good:
        sys.exit(f"flip at byte {pos}: exit {r.returncode}, {r.stderr[:300]!r}\n{r.stdout[:300]}")
    n = r.stderr.count("fail the checksum") + r.stderr.count("fails the checksum")
    if n > 1: sys.exit(f"flip at byte {pos}: {n} warnings: {r.stderr!r}")
    warned += n
# every flip in a valid row is seen (the strings hold some NUL padding flips too)
if warned < 30: sys.exit(f"only {warned} of {len(spots)} flips were reported")
print(f"ok: {len(spots)} flips in index.h5, {warned} repaired with a warning")
PY
cp index.bak c/index.h5

# Flips anywhere in a result file: load exits 3 naming it; a rebuild leaves it out.
cp c/results/m/v1.h5 m.bak
size=$(stat -c %s m.bak)
for k in $(seq 0 7); do
    pos=$(( (k * 7919 * 13 + k * k * 104729) % size ))
    [ "$k" = 0 ] && pos=3        # the magic
    [ "$k" = 1 ] && pos=26       # the digest
    [ "$k" = 2 ] && pos=300      # the userblock's zero padding
    [ "$k" = 3 ] && pos=$((size - 1))
    cp m.bak c/results/m/v1.h5
    "$PY" -c "
import sys; p, k = int(sys.argv[1]), int(sys.argv[2])
f = open('c/results/m/v1.h5', 'r+b'); f.seek(p); b = f.read(1); f.seek(p); f.write(bytes([b[0] ^ (1 << (k % 8))]))" "$pos" "$k"
    rc=0; run_np 2 --catalog c ld.noodle >out.txt 2>e.txt || rc=$?
    [ "$rc" = 3 ] && grep -q "results/m/v1.h5: damaged" e.txt ||
        fail "load after a flip at byte $pos: exit $rc, $(cat out.txt e.txt | head -5)"
    [ "$(grep -c 'damaged' e.txt)" = 1 ] || fail "load after a flip: not said once: $(cat e.txt)"
    rc=0; timeout 60 "$MQL" c --reindex >out.txt 2>e.txt || rc=$?
    [ "$rc" = 0 ] && [ "$(grep -c 'left out of the index: .*results/m/v1.h5: damaged' e.txt)" = 1 ] ||
        fail "--reindex after a flip at byte $pos: exit $rc, $(cat e.txt)"
done
cp m.bak c/results/m/v1.h5
"$MQL" c --reindex >/dev/null 2>e.txt || fail "--reindex: $(cat e.txt)"
! grep -q warning e.txt || fail "--reindex of a sound catalog warns: $(cat e.txt)"

# A damaged file where a job stores: the store succeeds and the others stay queryable.
printf 'garbage' >c/results/s/v1.h5
cat > st2.noodle <<'NOODLE'
store("y", 2.5)
NOODLE
rm -f c/index.h5
run_np 2 --catalog c st2.noodle >/dev/null 2>e.txt || fail "store beside a damaged file: $(cat e.txt)"
n=$("$MQL" c "SELECT name FROM results WHERE name IN ('sweep', 's', 'y')" --format csv 2>e.txt | sort | uniq -c | awk '{ printf "%s=%s ", $2, $1 }')
[ "$n" = "name=1 sweep=40 y=1 " ] || fail "queries beside a damaged file: '$n' $(cat e.txt)"

# A result file from before checksums (no userblock) is refused the same way, HDF5
# would have to trust it, until --seal-legacy gives it a checksum.
tail -c +513 c/results/x/v1.h5 >legacy.h5 && mv legacy.h5 c/results/x/v1.h5
rc=0; run_np 2 --catalog c ld.noodle >out.txt 2>e.txt || rc=$?
[ "$rc" = 3 ] && grep -q "results/x/v1.h5: no checksum .*--seal-legacy" e.txt ||
    fail "load of a file without a checksum: exit $rc, $(cat e.txt)"
"$MQL" c --reindex >/dev/null 2>e.txt
[ "$(grep -c warning e.txt)" = 2 ] && grep -q "1 result file in .* has no checksum" e.txt ||
    fail "--reindex with a file without a checksum: $(cat e.txt)"
"$MQL" c --seal-legacy 2>e.txt && grep -q "sealed 1 result files" e.txt ||
    fail "--seal-legacy: $(cat e.txt)"
run_np 2 --catalog c ld.noodle >out.txt 2>e.txt || fail "load of a sealed file: $(cat e.txt)"
cmp -s out.txt good_ld.txt || fail "load of a sealed file: $(cat out.txt)"
"$PY" -c "import h5py; f = h5py.File('c/results/x/v1.h5', 'r'); assert f['data'][()] == 1.5" ||
    fail "h5py cannot read a sealed file"
echo "ok: result files and index rows are checked; damage is exit 3 or a warning, never a wrong answer"
