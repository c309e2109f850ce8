"""numpy_ops.py: numpy's time for the operations of benchmarks/gemm/run.sh (one process;
BLAS threads from OPENBLAS_NUM_THREADS).  Run with /usr/bin/python3 (Debian's numpy).

Usage: numpy_ops.py OP N REPS   (OP gemm|solve|eigh) -> "numpy OP N 1 t1 t2 ..."
(seconds of REPS timed runs after one warm-up; inputs as in ops.noodle)."""
import sys
import time

import numpy as np

op, n, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(1)
A = np.asfortranarray(rng.random((n, n)))
B = np.asfortranarray(rng.random((n, n)))
if op == "solve":
    A += n * np.eye(n)
    B = rng.random((n, 1))
elif op == "eigh":
    A = A + A.T
f = {"gemm": lambda: A @ B, "solve": lambda: np.linalg.solve(A, B),
     "eigh": lambda: np.linalg.eigh(A)}[op]
times = []
for r in range(reps + 1):
    t0 = time.perf_counter()
    f()
    t = time.perf_counter() - t0
    if r > 0:
        times.append(t)
print("numpy", op, n, 1, " ".join("%.4f" % t for t in times))
