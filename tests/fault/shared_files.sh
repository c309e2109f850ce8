#!/bin/bash
# shared_files.sh: outputs on a shared filesystem (docs/errors.md "Files").  A device
# output is written in place, never replaced (noodlec -o /dev/null once renamed a file over
# the node); a FIFO output is refused; a link planted at a checkpoint's temporary name is
# never written through; a FIFO named like a checkpoint or a result never blocks
# --restart or a rebuild of the catalog's index.  Every step runs under a timeout.
. "$(dirname "$0")/ckpt_common.bash"
: "${NOODLEC:=$(dirname "$NOODLE_RUN")/noodlec}"
MQL=$(dirname "$NOODLE_RUN")/noodle-mql
fail() { echo "FAIL: $*"; exit 1; }
cat > p.noodle <<'NOODLE'
let A = ones([3, 2])
checkpoint()
writecsv(param("csv", "o.csv"), A)
store("r", A)
print(sum(A))
NOODLE

# A character device (a private /dev/null: same major and minor) stays one.
if mknod nul c 1 3 2>/dev/null; then
    timeout 20 "$NOODLEC" p.noodle -o nul || fail "noodlec -o a device node"
    [ -c nul ] || fail "noodlec replaced the device node"
    run_np 1 --catalog c1 --checkpoint-dir k1 --param csv=nul p.noodle >/dev/null 2>e.txt ||
        fail "writecsv to a device node: $(cat e.txt)"
    [ -c nul ] || fail "writecsv replaced the device node"
else
    echo "note: mknod not permitted here: the device-node case is not checked"
fi
# A FIFO output: refused at once (exit 2), not waited on.
mkfifo fifo.nbc
timeout 20 "$NOODLEC" p.noodle -o fifo.nbc 2>e.txt
rc=$?
[ $rc = 2 ] && grep -q "cannot write 'fifo.nbc': it is a FIFO" e.txt ||
    fail "noodlec -o a FIFO: exit $rc, $(cat e.txt)"

# A link planted at the checkpoint's temporary name: the victim is untouched.
mkdir -p k2
echo "precious" > victim
ln -s "$W/victim" k2/ckpt-1.h5.tmp
run_np 2 --catalog c2 --checkpoint-dir k2 p.noodle >out.txt 2>e.txt || fail "a run beside a planted link: $(cat e.txt)"
[ "$(cat victim)" = precious ] || fail "the checkpoint was written through a planted link"
[ -f k2/ckpt-1.h5 ] && [ ! -L k2/ckpt-1.h5 ] || fail "no checkpoint beside the planted link"

# A FIFO named like the newest checkpoint: --restart skips it and uses the valid one.
cat > loop.noodle <<'NOODLE'
let s = 0
for i in 0..20000000 { s = s + i % 7 }
print(s)
NOODLE
run_np 2 --checkpoint-dir k3 --run-time 0.2 loop.noodle >/dev/null 2>e.txt
rc=$?
[ $rc = 75 ] && [ -f k3/ckpt-1.h5 ] || fail "the stopped run: exit $rc, $(cat e.txt)"
mkfifo k3/ckpt-9.h5
run_np 2 --checkpoint-dir k3 --restart loop.noodle >out.txt 2>e.txt ||
    fail "--restart with a FIFO checkpoint: $(cat e.txt)"
[ "$(cat out.txt)" = 59999997 ] && grep -q "ckpt-9.h5' is not a regular file" e.txt ||
    fail "--restart beside a FIFO: $(cat out.txt) $(cat e.txt)"

# A FIFO named like a result: the index rebuild leaves it out with a warning.
mkfifo c2/results/r/v7.h5
rm -f c2/index.h5
n=$(timeout 20 "$MQL" c2 "SELECT count(*) FROM results WHERE name = 'r'" --format csv 2>e.txt | tail -n 1)
[ "$n" = 1 ] && grep -q "left out of the index: .*v7.h5" e.txt || fail "a FIFO result: '$n', $(cat e.txt)"
# ... and an export to a FIFO is refused, not waited on.
mkfifo out.h5
timeout 20 "$MQL" c2 --export r@1 out.h5 2>e.txt
rc=$?
[ $rc != 0 ] && [ $rc != 124 ] && grep -q "it is a FIFO" e.txt || fail "export to a FIFO: exit $rc, $(cat e.txt)"
echo "ok: device outputs written in place, FIFOs refused or skipped, planted links not followed"
