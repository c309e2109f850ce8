#!/bin/bash
# ckpt_diskfull.sh: the disk fills during a checkpoint.  On a small tmpfs when mount
# works (root), else with an injected ENOSPC (NOODLE_CKPT_FAIL_WRITE=2: the second write
# fails).  The run stops with a clear error, the earlier checkpoint stays intact and a
# --restart from it finishes with the right output.
. "$(dirname "$0")/ckpt_common.bash"

# A first checkpoint of ~0.5 MB, then a second one that holds ~2 MB more.
P=$W/grow.noodle
cat > "$P" <<'NOODLE'
let A = rand(250, 250, 5)
checkpoint()
let B = rand(500, 500, 6)
let C = A @ A.T
checkpoint()
print(sum(A), sum(B), norm(C))
NOODLE
run_np 2 --checkpoint-dir ref "$P" > ref.out || fail "reference run"

mnt=$W/small
mkdir -p "$mnt"
inject=""
if mount -t tmpfs -o size=1200k tmpfs "$mnt" 2> /dev/null; then
    trap 'umount "$mnt" 2> /dev/null; rm -rf "$W"' EXIT
    echo "using a 1200 KiB tmpfs"
    d=$mnt/ck
else
    echo "mount not available: injecting ENOSPC"
    inject=2
    d=$W/ck
fi
NOODLE_CKPT_FAIL_WRITE=$inject run_np 2 --checkpoint-dir "$d" --checkpoint-keep 2 "$P" \
    > out 2> err
rc=$?
[ "$rc" != 0 ] || fail "the run did not fail"
grep -q "checkpoint failed" err || { cat err; fail "no clear error"; }
grep -q "earlier checkpoints are kept" err || { cat err; fail "message does not say what is kept"; }
[ -s out ] && fail "output printed although the run failed before print"
[ -f "$d/ckpt-1.h5" ] || fail "the earlier checkpoint is gone"
ls "$d"/*.tmp > /dev/null 2>&1 && fail "a temporary file was left behind"
# Restart on a disk with room: copy the survivor out of the full tmpfs.
mkdir -p "$W/room"
cp "$d/ckpt-1.h5" "$W/room/"
run_np 2 --checkpoint-dir "$W/room" --restart "$P" > out 2> err ||
    { cat err; fail "restart from the kept checkpoint"; }
cmp -s out ref.out || { diff out ref.out; fail "output differs"; }
# The disk fills while a store writes (the space check before it cannot foresee HDF5's
# own metadata for 300 members): a clear error, exit 1, never HDF5 crashing at the exit
# (it did, in MPI_Finalize, on the file it could not close), no temporary file left.
if [ -z "$inject" ]; then
    cat > many.noodle <<'NOODLE'
let m = {}
for i in 0..300 { m["a" + str(i)] = ones([2, 2]) * i }
store("mp", m)
print("stored")
NOODLE
    mkdir -p "$mnt/tiny" && mount -t tmpfs -o size=200k tmpfs "$mnt/tiny" ||
        fail "cannot mount a second tmpfs"
    run_np 2 --catalog "$mnt/tiny/cat" many.noodle > out 2> err
    rc=$?
    umount "$mnt/tiny"
    [ "$rc" = 1 ] && grep -q "store: cannot finish writing .*disk or quota full" err ||
        { cat err; fail "a store on a full disk: exit $rc"; }
    grep -qi "segmentation\|signal" err && { cat err; fail "a store on a full disk crashed"; }
    [ -s out ] && fail "output printed although the store failed"
    # h5write to a full disk: refused before MPI-IO writes (it hung in HDF5's close)
    cat > hw.noodle <<'NOODLE'
h5write(param("out", "o.h5"), "B", rand(500, 500, 6))
print("written")
NOODLE
    mount -t tmpfs -o size=200k tmpfs "$mnt/tiny" || fail "cannot mount a second tmpfs"
    run_np 2 --param out="$mnt/tiny/o.h5" hw.noodle > out 2> err
    rc=$?
    umount "$mnt/tiny"
    [ "$rc" = 1 ] && grep -q "h5write: no room for .*o.h5': it needs about 2.0 MiB" err ||
        { cat err; fail "h5write on a full disk: exit $rc"; }
fi
# A mistyped injection is an error, not "no injection".
NOODLE_CKPT_FAIL_WRITE=2x run_np 1 --checkpoint-dir "$W/typo" "$P" > out 2> err
rc=$?
[ "$rc" = 2 ] || { cat err; fail "NOODLE_CKPT_FAIL_WRITE=2x: exit $rc, expected 2"; }
grep -q "NOODLE_CKPT_FAIL_WRITE=2x: expected a count" err || { cat err; fail "NOODLE_CKPT_FAIL_WRITE=2x: no clear error"; }
echo "PASS"
