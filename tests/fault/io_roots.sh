#!/bin/bash
# io_roots.sh: confined file access (io.roots; docs/security.md "Confined file access").
# At 1 and 2 ranks: reads and writes inside a root work; h5write, writecsv and readcsv
# of a path outside, through `..`, or through a link inside a root that points outside
# (to a directory, a file, or nowhere yet) stop the program with exit 1 and one message
# naming the path and the roots, and nothing outside is created or changed; a catalog
# outside the roots refuses store; a root that does not exist is exit 2.
# (security.require_signed's default roots are checked by tests/unit/check_common.)
. "$(dirname "$0")/ckpt_common.bash"

mkdir in in/sub out
echo "1,2" > out/victim.csv
ln -s "$W/out" in/dir_out       # a directory outside
ln -s "$W/out/victim.csv" in/file_out
ln -s "$W/out/planted.h5" in/dangling_out
ln -s sub in/dir_in             # stays inside
ROOTS="$W/in"
snapshot() { (cd out && find . -printf '%p %s %T@\n' | sort); }
before=$(snapshot)

# Writes then reads back inside the root, through a link that stays inside.
cat > ok.noodle <<'NOODLE'
let A = ones([3, 2]) * 2.5
h5write("in/a.h5", "A", A)
writecsv(param("csv", "in/dir_in/a.csv"), A)
print(sum(h5read("in/a.h5", "A")), sum(readcsv(param("csv", "in/dir_in/a.csv"))))
NOODLE
cat > h5write.noodle <<'NOODLE'
h5write(param("f", ""), "x", 1.5)
print("wrote")
NOODLE
cat > writecsv.noodle <<'NOODLE'
writecsv(param("f", ""), ones([2, 2]))
print("wrote")
NOODLE
cat > readcsv.noodle <<'NOODLE'
print(sum(readcsv(param("f", ""))))
NOODLE
cat > store.noodle <<'NOODLE'
store("r", 42)
print("stored")
NOODLE

# refused N BUILTIN PATH: BUILTIN.noodle with param f=PATH at N ranks stops with exit 1
# and one message `BUILTIN: 'PATH' is outside io.roots (ROOTS)`.
refused() {
    local n=$1 what=$2 path=$3 prog=$2.noodle
    run_np "$n" --io-roots "$ROOTS" --log-level warn --param "f=$path" "$prog" > o 2> e
    local rc=$?
    [ "$rc" = 1 ] || { cat o e; fail "$n ranks: $prog f=$path: exit $rc, expected 1"; }
    [ -s o ] && { cat o; fail "$n ranks: $prog f=$path ran on"; }
    [ "$(grep -cF "error: $what: '$path' is outside io.roots ($ROOTS)" e)" = 1 ] ||
        { cat e; fail "$n ranks: $prog f=$path: not one message naming the path and roots"; }
}

for n in 1 2; do
    rm -rf in/a.h5 in/sub/a.csv
    run_np $n --io-roots "$ROOTS" --log-level warn ok.noodle > o 2> e ||
        { cat e; fail "$n ranks: I/O inside the root"; }
    [ "$(cat o)" = "15.0 15.0" ] || { cat o e; fail "$n ranks: inside the root: $(cat o)"; }
    [ -f in/sub/a.csv ] && [ -L in/dir_in ] || fail "$n ranks: writecsv through an inside link"
    # the roots may be given with a trailing slash, as a relative name, or twice
    run_np $n --io-roots "in/:$W/in" --log-level warn --param csv=in/b.csv ok.noodle > o 2> e ||
        { cat e; fail "$n ranks: relative roots"; }

    refused $n h5write "$W/out/new.h5"                  # outside
    refused $n h5write "in/../out/new.h5"               # `..` out of the root
    refused $n writecsv "in/sub/../../out/new.csv"
    refused $n writecsv "in/dir_out/new.csv"            # a link to a directory outside
    refused $n writecsv "in/file_out"                   # a link to a file outside
    refused $n h5write "in/file_out"
    refused $n h5write "in/dangling_out"                # would create through the link
    refused $n readcsv "$W/out/victim.csv"             # reading outside
    refused $n readcsv "in/dir_out/victim.csv"
    [ "$(snapshot)" = "$before" ] || { snapshot; fail "$n ranks: something outside changed"; }
    [ "$(cat out/victim.csv)" = "1,2" ] || fail "$n ranks: the victim changed"

    # The catalog directory outside the roots: store is refused, nothing is created.
    run_np $n --io-roots "$ROOTS" --log-level warn --catalog "$W/out/cat" store.noodle > o 2> e
    rc=$?
    [ "$rc" = 1 ] && [ ! -s o ] || { cat o e; fail "$n ranks: store outside: exit $rc"; }
    [ "$(grep -cF "store: catalog.path '$W/out/cat' is outside io.roots ($ROOTS)" e)" = 1 ] ||
        { cat e; fail "$n ranks: store outside: message"; }
    [ -e out/cat ] && fail "$n ranks: the catalog outside was created"
    # ... and inside them it works.
    run_np $n --io-roots "$ROOTS" --log-level warn --catalog in/cat store.noodle > o 2> e &&
        [ "$(cat o)" = stored ] || { cat o e; fail "$n ranks: store inside"; }

    # A root that does not exist: a configuration error before the program runs.
    NOODLE_IO_ROOTS="$ROOTS:$W/missing" run_np $n --log-level warn ok.noodle > o 2> e
    rc=$?
    [ "$rc" = 2 ] && [ ! -s o ] || { cat o e; fail "$n ranks: missing root: exit $rc"; }
    [ "$(grep -cF "io.roots: '$W/missing' does not exist (from NOODLE_IO_ROOTS)" e)" = 1 ] ||
        { cat e; fail "$n ranks: missing root: message"; }
done

# Without io.roots (and without security.require_signed) nothing is confined.
run_np 1 --log-level warn --param "f=in/dir_out/free.csv" writecsv.noodle > o 2> e &&
    [ -f out/free.csv ] || { cat e; fail "unconfined: writecsv through a link"; }
echo "ok: io.roots confines h5write, writecsv, readcsv and store at 1 and 2 ranks"
