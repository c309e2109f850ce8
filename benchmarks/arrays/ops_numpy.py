"""ops_numpy.py: numpy's time for the operations of benchmarks/arrays/ops.noodle (one
process, single-threaded).  Run with /usr/bin/python3 (Debian's numpy).

Usage: ops_numpy.py N REPS K -> one line per operation: "OP ELEMENTS SECONDS_PER_RUN"
(the mean of REPS runs after two warm-ups, as ops.noodle)."""
import sys
import time

import numpy as np

n, reps, k = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(1)
A, B, C, D = (rng.random((n, n)) for _ in range(4))
U = rng.random((k, k, k))
S = rng.random((200, 200))
L = rng.random((4096, 4096))
a, b = rng.random((10, 10)), rng.random((10, 10))
# Slices are copies in Noodle: numpy's twin copies too.
ops = [
    ("add", n * n, lambda: A + B),
    ("fma", n * n, lambda: A * B + C),
    ("gauss", n * n, lambda: np.exp(-(D * D) / 0.1)),
    ("center", n * n, lambda: A - A.mean(axis=0, keepdims=True)),
    ("sum0", n * n, lambda: A.sum(axis=0, keepdims=True)),
    ("sum1", n * n, lambda: A.sum(axis=1, keepdims=True)),
    ("max0", n * n, lambda: A.max(axis=0, keepdims=True)),
    ("sort1", n * n, lambda: np.sort(A, axis=1, kind="stable")),
    ("slice200", 40000, lambda: S[1:-1, 1:-1].copy()),
    ("slice4096", 4096 * 4096, lambda: L[1:-1, 1:-1].copy()),
    ("stencil", k ** 3, lambda: U[1:-1, 1:-1, 1:-1] * -6.0 + U[2:, 1:-1, 1:-1]
     + U[:-2, 1:-1, 1:-1] + U[1:-1, 2:, 1:-1] + U[1:-1, :-2, 1:-1] + U[1:-1, 1:-1, 2:]
     + U[1:-1, 1:-1, :-2]),
    ("small_add", 100, lambda: a + b),
    ("small_sum0", 100, lambda: a.sum(axis=0, keepdims=True)),
    ("small_slice", 100, lambda: a[1:-1, 1:-1].copy()),
]
for name, elems, f in ops:
    f()
    f()
    t0 = time.perf_counter()
    for _ in range(reps):
        f()
    print(name, elems, (time.perf_counter() - t0) / reps)
