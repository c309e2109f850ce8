#!/bin/bash
# ckpt_corrupt.sh: the newest checkpoint truncated, or one byte flipped (in the VM state
# blob, in a matrix's data): --restart warns, falls back to the older one and finishes
# with the output of an uninterrupted run.  An unknown format version is refused (3).
. "$(dirname "$0")/ckpt_common.bash"

# Two explicit checkpoints, output only at the end.
P2=$W/two.noodle
cat > "$P2" <<'NOODLE'
let A = rand(50, 30, 3)
let L = [1, 2]
let s = 0
for i in 0..20000 { s = s + i }
checkpoint()
A = A * 2.0 + 1.0
append(L, s)
checkpoint()
for i in 0..20000 { s = s - i }
print(s, L, sum(A), norm(A))
NOODLE
run_np 2 --checkpoint-dir ref "$P2" > ref.out || fail "reference run"

# state_offset FILE DATASET: the file offset of a contiguous dataset.
state_offset() {
    h5dump -p -H -d "$2" "$1" | awk '/OFFSET/ { print $2; exit }'
}
# flip FILE OFFSET: xor one byte with 0xff.
flip() {
    local b
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $((b ^ 255)))" |
        dd of="$1" bs=1 seek="$2" count=1 conv=notrunc status=none
}

for how in truncate flip-state flip-matrix; do
    d=$W/ck-$how
    run_np 2 --checkpoint-dir "$d" "$P2" > /dev/null || fail "$how: first run"
    [ -f "$d/ckpt-2.h5" ] && [ -f "$d/ckpt-1.h5" ] || fail "$how: two checkpoints expected"
    case $how in
    truncate) truncate -s 3000 "$d/ckpt-2.h5" ;;
    flip-state)
        command -v h5dump > /dev/null || { echo "SKIP part: no h5dump"; continue; }
        off=$(state_offset "$d/ckpt-2.h5" /state/vm)
        flip "$d/ckpt-2.h5" $((off + 40)) ;;
    flip-matrix)
        command -v h5dump > /dev/null || { echo "SKIP part: no h5dump"; continue; }
        off=$(state_offset "$d/ckpt-2.h5" /matrices/m0)
        flip "$d/ckpt-2.h5" $((off + 8 * 17 + 7)) ;;   # the sign/exponent byte
    esac
    run_np 2 --checkpoint-dir "$d" --restart-from "$d" "$P2" > out 2> err ||
        { cat err; fail "$how: restart failed"; }
    grep -q "warning" err || fail "$how: no warning about the bad checkpoint"
    grep -q "ckpt-1.h5" err || fail "$how: did not restart from ckpt-1"
    cmp -s out ref.out || { diff out ref.out; fail "$how: output differs"; }
done

# An unknown format version: exit 3, no fallback.
if /usr/bin/python3 -c 'import h5py' 2> /dev/null; then
    d=$W/ck-version
    run_np 1 --checkpoint-dir "$d" "$P2" > /dev/null || fail "version: first run"
    /usr/bin/python3 -c '
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    f.attrs.modify("format_version", 99)' "$d/ckpt-2.h5"
    run_np 1 --checkpoint-dir "$d" --restart-from "$d" "$P2" > out 2> err
    rc=$?
    [ "$rc" = 3 ] || { cat err; fail "version: exit $rc, expected 3"; }
    grep -q "format version 99" err || fail "version: unclear message"
    # Another program: exit 2.
    echo 'print(1)' > other.noodle
    run_np 1 --checkpoint-dir "$d" --restart-from "$d/ckpt-1.h5" other.noodle > out 2> err
    rc=$?
    [ "$rc" = 2 ] || { cat err; fail "other program: exit $rc, expected 2"; }
    grep -q "different program" err || fail "other program: unclear message"
fi
echo "PASS"
