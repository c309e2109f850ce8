#!/usr/bin/env python3
"""cputime.py: runs a command and writes "WALL CPU" (seconds) to the file named by -o:
the wall time and the child's user+sys CPU time from getrusage, to the microsecond
(/usr/bin/time prints 10 ms steps, too coarse for runs of 50 ms).
usage: cputime.py -o FILE CMD [ARGS...]   (exit status: the command's)"""
import resource
import subprocess
import sys
import time

if len(sys.argv) < 4 or sys.argv[1] != "-o":
    sys.exit(__doc__)
out = sys.argv[2]
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
t0 = time.perf_counter()
rc = subprocess.call(sys.argv[3:])
t1 = time.perf_counter()
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
with open(out, "w") as f:
    f.write("%.6f %.6f\n" % (t1 - t0, cpu))
sys.exit(rc)
