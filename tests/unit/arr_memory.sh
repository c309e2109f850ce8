#!/bin/bash
# arr_memory.sh: every family of array builtins stays within its memory share.  Each
# family runs at 4 ranks under --memory-per-rank = 3 x total/P, where total is the size of
# the family's input arrays (8 MiB: 2^20 doubles, as a 64x128x128 field, a 1024x1024
# matrix and a 2^20 vector): inputs and result take 2 x total/P, so every builtin must do
# its work within the third share (its buffers of nd_arr_piece_elems(), a 64th of the
# limit).  A builtin that gathered an array on one rank, or kept a full-size temporary
# too many, fails with "out of memory".
set -u
builddir=${top_builddir:-.}
run=$(cd "$builddir" && pwd)/noodle-run
mpirun=${MPIRUN:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/arr_memory.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
limit=$((3 * 8 * 1048576 / 4))
rc=0

# family NAME: the program on stdin; inputs A (64x128x128), M (1024x1024), x (2^20)
# are made by the prologue; each line frees its result before the next (r = nil).
family() {
    local name=$1
    {
        echo 'let r = nil'
        cat
        echo 'print("done")'
    } >"$tmp/$name.noodle"
    (cd "$tmp" && timeout 300 "$mpirun" --oversubscribe -n 4 "$run" --memory-per-rank "$limit" \
        --catalog "$tmp/cat.$name" --checkpoint-dir "$tmp/ck.$name" "$tmp/$name.noodle" \
        >"$tmp/$name.out" 2>"$tmp/$name.err")
    local st=$?
    if [ $st -ne 0 ] || ! grep -q '^done$' "$tmp/$name.out"; then
        echo "FAIL $name (exit $st, limit $limit bytes per rank):"
        sed 's/^/  /' "$tmp/$name.out" "$tmp/$name.err" | grep -v '^  *$' | head -n 12
        rc=1
    else
        echo "ok   $name"
    fi
}

family construct <<'P'
let A = rand([64, 128, 128], 1)
r = reshape(A, [1024, 1024]); r = nil
r = reshape(A, [-1]); r = nil
r = randn([64, 128, 128], 2) ; r = nil
r = fill([1048576], 2.5); r = nil
r = arange(0, 1048576); r = nil
P
family elementwise <<'P'
let A = rand([64, 128, 128], 1)
r = A + 1.5; r = nil
r = exp(A); r = nil
r = A > 0.5; r = nil
r = maximum(A, 0.5); r = nil
r = atan2(A, 2.0); r = nil
r = A // 0.25; r = nil
r = where(A, A, 0.0); r = nil
r = round(A); r = nil
P
family broadcast <<'P'
let A = rand([64, 128, 128], 1)
let row = rand([128], 2)
r = A * row; r = nil
r = row - A; r = nil
r = A - rand([64, 1, 128], 3); r = nil
P
family index <<'P'
let A = rand([64, 128, 128], 1)
r = A[::2, 1:-1, ::-1]; r = nil
r = A[-1]; r = nil
A[1:, :, :] = 0.5
A[::3, 5, :] = rand([22, 128], 4)
A[:, :, 0] = A[:, :, 1]
print(A[63, 5, 0] == A[63, 5, 1])
P
family reduce <<'P'
let A = rand([64, 128, 128], 1)
print(sum(A) > 0, std(A) > 0, argmax(A) >= 0, any(A), all(A))
r = sum(A, 0); r = nil
r = mean(A, 1); r = nil
r = max(A, -1); r = nil
r = argmin(A, 1); r = nil
r = std(A, 2); r = nil
let M = rand([1024, 1024], 2)
r = sum(M, 0); r = nil
r = min(M, 1); r = nil
P
family scan <<'P'
let A = rand([64, 128, 128], 1)
r = cumsum(A, 1); r = nil
r = sort(A, 2); r = nil
r = argsort(A, 0); r = nil
r = flip(A, 1); r = nil
P
family scan1d <<'P'
let x = rand([1048576], 1)
r = cumsum(x); r = nil
r = sort(x); r = nil
r = argsort(x); r = nil
r = flip(x); r = nil
print(sum(x, 0) > 0, argmax(x, 0) >= 0)
P
family restructure <<'P'
let A = rand([64, 128, 128], 1)
r = permute(A, [2, 0, 1]); r = nil
r = A.T; r = nil
r = tensordot(A, rand([128, 128], 2), 1); r = nil
let H = rand([32, 128, 128], 3)
r = concat([H, H], 0); r = nil
r = stack([H, H], 1); r = nil
A = nil
H = nil
r = kron(rand([32, 32], 4), rand([32, 32], 5)); r = nil
P
family io <<'P'
let A = rand([64, 128, 128], 1)
h5write("a.h5", "a", A)
r = h5read("a.h5", "a"); print(r[63, 127, 127] == A[63, 127, 127]); r = nil
store("field", A)
r = load("field"); r = nil
checkpoint()
P
# The control: four arrays of the share live at once must exceed the limit, else the
# limit is not what this test thinks it is.
{
    echo 'let A = rand([64, 128, 128], 1)'
    echo 'let B = A + 1'
    echo 'let C = A + 2'
    echo 'let D = A + 3'
    echo 'print("done")'
} >"$tmp/control.noodle"
(cd "$tmp" && timeout 300 "$mpirun" --oversubscribe -n 4 "$run" --memory-per-rank "$limit" \
    "$tmp/control.noodle" >"$tmp/control.out" 2>"$tmp/control.err")
if [ $? -ne 0 ] && grep -q 'out of memory' "$tmp/control.err"; then
    echo "ok   control (four shares exceed the limit)"
else
    echo "FAIL control: four arrays of a share did not exceed --memory-per-rank $limit"
    rc=1
fi
exit $rc
