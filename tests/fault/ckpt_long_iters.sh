#!/bin/bash
# ckpt_long_iters.sh: periodic checkpoints in a loop whose few iterations are each a long
# matrix operation (docs/checkpoint.md "Safe points").  Safe points are counted in
# events, and such a loop has few: the matrix work must count as events and the period
# must adapt, or the interval passes many times with no checkpoint at all.  The loop runs
# for 3 s of wall time at 1 and 2 ranks with --checkpoint-interval 0.5: at least 2
# checkpoints must be written (about 5 are expected), and a restart (--restart-from: the run completed) must finish it.
. "$(dirname "$0")/ckpt_common.bash"

cat > long.noodle <<'NOODLE'
let n = 300
let A = rand(n, n, 5) + eye(n) * n
let x = ones(n, 1)
let t0 = wtime()
let k = 0
while wtime() - t0 < 3.0 {
    let B = A @ A
    x = solve(A, x)
    x = x / norm(x)
    k = k + 1
}
print(rows(x), k > 0)
NOODLE

for np in 1 2; do
    rm -rf ck
    NOODLE_CKPT_STATS=1 run_np $np --checkpoint-dir ck --checkpoint-interval 0.5 long.noodle \
        > o 2> e || { cat e; fail "$np ranks: run failed"; }
    [ "$(cat o)" = "300 true" ] || { cat o e; fail "$np ranks: wrong output"; }
    c=$(grep -c "stats: wrote" e)
    [ "$c" -ge 2 ] || { cat e; fail "$np ranks: $c checkpoints in 3 s at an interval of 0.5 s"; }
    run_np $np --checkpoint-dir ck --restart-from ck long.noodle > o2 2> e2 ||
        { cat e2; fail "$np ranks: restart failed"; }
    [ "$(cat o2)" = "300 true" ] || { cat o2 e2; fail "$np ranks: wrong output after restart"; }
    echo "ok: $np ranks, $c checkpoints"
done
