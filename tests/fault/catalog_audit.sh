#!/bin/bash
# catalog_audit.sh: the audit log of a catalog and group-shared catalogs (docs/catalog.md
# "The audit log", "Group-shared catalogs").  Stores at 2 ranks log one chained entry
# each and --verify-audit passes; one byte edited, a line removed, the last line cut or
# removed, or a result file swapped is found (exit 3, the line or file named).  Then a
# catalog shared by a group (setgid, group-writable) is used by root and by a second
# user with umask 022 (no group write) and 077: both store, the log names both, what
# they create is open to the group, a store that cannot append its entry does not
# commit; a third user outside the group can query (also when
# the index must be rebuilt, in memory) and verify, but not store.  The users and groups are made here (root only: skipped with a note otherwise)
# and removed on exit.
. "$(dirname "$0")/ckpt_common.bash"
MQL=$(dirname "$NOODLE_RUN")/noodle-mql
PY=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }

cat > st.noodle <<'NOODLE'
store("m", rand(30, 20, 7), {"n": 30})
store("x", 1.5)
for i in 0..5 { store("sweep", i * 0.5, {"i": i}) }
NOODLE
run_np 2 --catalog c st.noodle >/dev/null 2>e.txt || fail "store: $(cat e.txt)"
# m, x, 5 sweeps and the job report: 8 entries, one per store
[ "$(wc -l <c/audit.log)" = 8 ] || fail "8 stores, $(wc -l <c/audit.log) entries: $(cat c/audit.log)"
awk -v uid="$(id -u)" 'NF != 12 || $3 != "store" || $6 != "uid=" uid || $10 != "signer=-" { exit 1 }' \
    c/audit.log || fail "entries: $(cat c/audit.log)"
grep -q '^1 .* store m@1 user=[^ ]* uid=[0-9]* host=[^ ]* job=[^ ]* program=[0-9a-f]\{64\} signer=- sum=[0-9a-f]\{16\} [0-9a-f]\{64\}$' \
    c/audit.log || fail "entry 1: $(head -n 1 c/audit.log)"
"$PY" - <<'PY' || fail "the chain is not the documented one"
import hashlib
prev = "0" * 64
for line in open("c/audit.log"):
    content, h = line.rstrip("\n").rsplit(" ", 1)
    assert hashlib.sha256((prev + content).encode()).hexdigest() == h, line
    prev = h
PY
"$MQL" c --verify-audit >out.txt 2>&1 || fail "--verify-audit: $(cat out.txt)"
grep -q "^audit: OK: 8 entries (8 stores, 0 adopted, 0 aborted), 8 result files" out.txt ||
    fail "--verify-audit: $(cat out.txt)"

# expect_broken WHAT: --verify-audit exits 3 and says WHAT.
expect_broken() {
    local rc=0
    "$MQL" c --verify-audit >out.txt 2>&1 || rc=$?
    [ "$rc" = 3 ] && grep -q -- "$1" out.txt || fail "expected exit 3 and '$1', got $rc: $(cat out.txt)"
}
cp c/audit.log log.bak
# one byte of entry 3 (a digit of its time) changed
"$PY" -c "
b = bytearray(open('log.bak', 'rb').read()); k = b.index(b'\n3 ') + 5
b[k] = ord('7') if b[k] != ord('7') else ord('8'); open('c/audit.log', 'wb').write(b)"
expect_broken "audit.log: line 3: hash mismatch"
# one byte of entry 6's own hash
"$PY" -c "
b = bytearray(open('log.bak', 'rb').read()); k = b.index(b'\n7 ') - 1
b[k] = ord('0') if b[k] != ord('0') else ord('1'); open('c/audit.log', 'wb').write(b)"
expect_broken "audit.log: line 6: hash mismatch"
sed '5d' log.bak >c/audit.log
expect_broken "audit.log: line 5: entry number 6 where 5 was expected"
# removed and the rest renumbered: the chain breaks there
awk 'NR != 5 { if (NR > 5) $1 = NR - 1; print }' log.bak >c/audit.log
expect_broken "audit.log: line 5: hash mismatch"
head -c -20 log.bak >c/audit.log
expect_broken "audit.log: line 8: truncated"
sed '$d' log.bak >c/audit.log
expect_broken "results/_run/v1.h5: not in the audit log"
cp log.bak c/audit.log
cp c/results/x/v1.h5 x.bak
cp c/results/sweep/v1.h5 c/results/x/v1.h5
expect_broken "results/x/v1.h5: its checksum [0-9a-f]* differs from the one its entry records"
cp x.bak c/results/x/v1.h5
"$MQL" c --verify-audit >out.txt 2>&1 || fail "--verify-audit after restoring: $(cat out.txt)"

# ---- a group-shared catalog ------------------------------------------------------------
if [ "$(id -u)" != 0 ] || ! command -v useradd >/dev/null || ! command -v groupadd >/dev/null ||
    ! command -v runuser >/dev/null; then
    echo "ok: audit log checked; SKIP group-shared catalogs (needs root, useradd, groupadd, runuser)"
    exit 0
fi
G=ndaud$$ G3=ndaudo$$ U2=ndaudb$$ U3=ndaudc$$
cleanup() {
    userdel "$U2" 2>/dev/null
    userdel "$U3" 2>/dev/null
    groupdel "$G" 2>/dev/null
    groupdel "$G3" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
groupadd "$G" && groupadd "$G3" && useradd -M -N -g "$G" -s /bin/sh "$U2" &&
    useradd -M -N -g "$G3" -s /bin/sh "$U3" || fail "cannot create the test users"
chmod 755 "$W"
mkdir h2 h3 && chown "$U2" h2 && chown "$U3" h3
# as_user U HOME CMD...: CMD as user U
as_user() {
    local u=$1 h=$2
    shift 2
    runuser -u "$u" -- env HOME="$h" TMPDIR="$h" USER="$u" LOGNAME="$u" "$@"
}
as_user "$U2" "$W/h2" test -x "$NOODLE_RUN" -a -x "$MQL" || {
    echo "ok: audit log checked; SKIP group-shared catalogs: $U2 cannot run $NOODLE_RUN"
    exit 0
}
mkdir sc && chgrp "$G" sc && chmod 2775 sc
umask 022
run_np 2 --catalog sc st.noodle >/dev/null 2>e.txt || fail "root's store: $(cat e.txt)"
cat > st2.noodle <<'NOODLE'
store("m", rand(30, 20, 9), {"n": 30, "who": "second"})
store("y", 2)
NOODLE
# store_as U UMASK PROGRAM: noodle-run at 2 ranks as U (U2 or U3) with that umask
store_as() {
    local h=$W/h3
    [ "$1" = "$U2" ] && h=$W/h2
    as_user "$1" "$h" sh -c 'umask "$1"; shift; exec timeout 120 "$@"' sh "$2" \
        $MPIRUN -n 2 "$NOODLE_RUN" --catalog sc "$3"
}
store_as "$U2" 022 st2.noodle >/dev/null 2>e.txt || fail "$U2's store: $(cat e.txt)"
run_np 2 --catalog sc st.noodle >/dev/null 2>e.txt || fail "root's store after $U2's: $(cat e.txt)"
grep -q " store m@1 user=root uid=0 " sc/audit.log && grep -q " store y@1 user=$U2 uid=$(id -u "$U2") " sc/audit.log &&
    grep -q " store m@2 user=$U2 " sc/audit.log && grep -q " store m@3 user=root " sc/audit.log ||
    fail "the log does not name both users: $(cut -d' ' -f1-6 sc/audit.log)"
# modes: what root made with umask 022 is group-writable where it changes (U2 appended
# to it); U2's directories are group rwx and setgid, its results group-readable
modes() { stat -c '%G %A' "$@" | sort -u; }
[ "$(modes sc/index.h5 sc/index.lock sc/audit.log)" = "$G -rw-rw-r--" ] ||
    fail "index, lock, log: $(stat -c '%n %G %A' sc/index.h5 sc/index.lock sc/audit.log)"
[ "$(modes sc/results/y sc/results sc/pending)" = "$G drwxrwsr-x" ] ||
    fail "directories: $(stat -c '%n %G %A' sc/results/y sc/results sc/pending)"
[ "$(modes sc/results/y/v1.h5 sc/results/y/v1.claim sc/results/m/v2.h5)" = "$G -rw-r--r--" ] ||
    fail "results: $(stat -c '%n %G %A' sc/results/y/v1.h5 sc/results/y/v1.claim sc/results/m/v2.h5)"
"$MQL" sc --verify-audit >out.txt 2>&1 || fail "--verify-audit of the shared catalog: $(cat out.txt)"
grep -q "OK: 19 entries (19 stores" out.txt || fail "--verify-audit: $(cat out.txt)"
# A store whose entry cannot be appended does not commit: no result without its entry.
chmod g-w sc/audit.log
rc=0
store_as "$U2" 022 st2.noodle >/dev/null 2>e.txt || rc=$?
chmod g+w sc/audit.log
[ "$rc" != 0 ] && grep -q "cannot open sc/audit.log: Permission denied" e.txt || fail "a store that cannot log: exit $rc, $(cat e.txt)"
[ ! -e sc/results/m/v4.h5 ] && [ -z "$(find sc/results -name '*.tmp.*')" ] || fail "a store without its entry committed"
"$MQL" sc --verify-audit >out.txt 2>&1 && grep -q "OK: 19 entries" out.txt || fail "--verify-audit: $(cat out.txt)"

# A third user, outside the group, reads but cannot write.
Q="SELECT name, version, tags.who FROM results WHERE name IN ('m', 'y') ORDER BY name, version"
"$MQL" sc "$Q" --format csv >want.csv 2>e.txt || fail "root's query: $(cat e.txt)"
as_user "$U3" "$W/h3" "$MQL" sc "$Q" --format csv >got.csv 2>e.txt || fail "$U3's query: $(cat e.txt)"
cmp -s want.csv got.csv || fail "$U3's query: $(cat got.csv)"
as_user "$U3" "$W/h3" "$MQL" sc --verify-audit >out.txt 2>&1 || fail "$U3's --verify-audit: $(cat out.txt)"
rm sc/index.h5 # a rebuild it cannot write: answered from memory, nothing written
touch sc/pending/m.v9
as_user "$U3" "$W/h3" "$MQL" sc "$Q" --format csv >got.csv 2>e.txt || fail "$U3's query, no index: $(cat e.txt)"
cmp -s want.csv got.csv && [ ! -e sc/index.h5 ] || fail "$U3's query without an index: $(cat got.csv e.txt)"
rm sc/pending/m.v9
n=$(wc -l <sc/audit.log)
rc=0
store_as "$U3" 022 st2.noodle >out.txt 2>e.txt || rc=$?
[ "$rc" != 0 ] && grep -q "no permission to write to the catalog sc: Permission denied (it is shared by group $G, which you are not in)" e.txt ||
    fail "$U3's store: exit $rc, $(cat e.txt)"
[ "$(wc -l <sc/audit.log)" = "$n" ] || fail "$U3's refused store was logged"
# U2 with umask 077: the group can still read its results and use its directories
echo 'store("z", 3)' >z.noodle
store_as "$U2" 077 z.noodle >/dev/null 2>e.txt || fail "$U2's store with umask 077: $(cat e.txt)"
[ "$(modes sc/results/z)" = "$G drwxrws---" ] && [ "$(modes sc/results/z/v1.h5 sc/results/z/v1.claim)" = "$G -rw-r-----" ] ||
    fail "umask 077: $(stat -c '%n %G %A' sc/results/z sc/results/z/v1.h5 sc/results/z/v1.claim)"
# (U2 rewrote index.h5, removed above: 0660 now)
for f in index.h5 index.lock audit.log; do
    case "$(modes "sc/$f")" in "$G -rw-rw"*) ;; *) fail "sc/$f after umask 077: $(modes "sc/$f")" ;; esac
done
"$MQL" sc --verify-audit >out.txt 2>&1 || fail "--verify-audit after $U3 and $U2: $(cat out.txt)"
grep -q "OK: 21 entries (21 stores" out.txt || fail "--verify-audit: $(cat out.txt)"
echo "ok: audit log entries chained and checked; a group-shared catalog used by two users, read by a third"
