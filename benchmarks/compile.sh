#!/bin/bash
# compile.sh: compiler throughput.  Generates a 10,000-line Noodle program (functions,
# loops, arithmetic, lists, maps, slices), times `noodlec` on it (median of 5 runs) and
# prints the wall time, the CPU time (user + sys: the figure to trust on a loaded machine)
# and lines per second.  Target: < 0.2 s.
#   benchmarks/compile.sh [path/to/noodlec] [lines]
set -eu
NOODLEC=${1:-${NOODLEC:-./noodlec}}
LINES=${2:-10000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM
prog=$dir/big.noodle

# Each block of 20 lines is a function, a loop and some top-level code.
awk -v lines="$LINES" 'BEGIN {
  n = 0; k = 0
  while (n < lines) {
    print "fn f" k "(a, b) {";                                   n++
    print "  let s = 0";                                         n++
    print "  for i in a..b {";                                   n++
    print "    if i % 3 == 0 { continue }";                      n++
    print "    s = s + i * " k " - (a + b) / 2.5 ^ 2";           n++
    print "  }";                                                 n++
    print "  let L = [s, a, b, \"k" k "\"]";                     n++
    print "  while s > 100 and len(L) < 10 { s = s / 2; append(L, s) }"; n++
    print "  return L";                                          n++
    print "}";                                                   n++
    print "let v" k " = f" k "(1, " (k % 50 + 2) ")";            n++
    print "let m" k " = {\"n\": " k ", \"name\": \"run" k "\"}"; n++
    print "m" k "[\"x\"] = v" k "[0] * 2 + 1e-6";                n++
    print "if m" k "[\"n\"] > 5 {";                              n++
    print "  print(\"big\", m" k "[\"n\"], 2 * 3 + " k ")";      n++
    print "} else {";                                            n++
    print "  print(not (v" k "[1] == 0) or false)";              n++
    print "}";                                                   n++
    print "let g" k " = fn(x) { return x * x - " k " }";         n++
    print "# comment line " k;                                   n++
    k++
  }
}' > "$prog"

nlines=$(wc -l < "$prog")
TIMEFORMAT='%R %U %S'
: > "$dir/times"
for run in 1 2 3 4 5; do
  { time "$NOODLEC" "$prog" -o "$dir/big.nbc" ; } 2>> "$dir/times"
done
sort -n "$dir/times" | sed -n 3p | awk -v n="$nlines" '{
  cpu = $2 + $3
  printf "compile: %d lines in %.3f s wall, %.3f s CPU (median of 5 by wall time), %.0f lines/s wall, %.0f lines/s CPU\n", n, $1, cpu, n / ($1 > 0 ? $1 : 1e-3), n / (cpu > 0 ? cpu : 1e-3)
}'
