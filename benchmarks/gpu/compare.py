#!/usr/bin/env python3
"""compare.py A B [LABEL]: compares two stdout files of Noodle runs token by token, for
benchmarks/gpu/run.sh (CPU path against GPU path, and checkpoint/restart across them).
Numbers (float tokens) agree within a relative 1e-9 (absolute 1e-12 near zero), as in
tests/programs/check_output.py; every other token must be identical.  Prints "same" or
the first difference; exit 0 same, 1 different, 2 usage or unreadable file.
Only the standard library: it runs under whatever python3 the GPU machine has.
"""
import re
import sys

TOKEN = re.compile(r'[\[\]{}(),:]|[^\[\]{}(),:\s]+')
INT = re.compile(r'[-+]?[0-9]+\Z')
FLOAT = re.compile(r'[-+]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?\Z')
SPECIAL = {'inf', '-inf', 'nan'}


def same(a, b):
    if a == b:
        return True
    # Ints must match exactly; a float may print as an int-looking token ("2.0" vs "2" is
    # a real difference in Noodle's output, so both must be floats to use the tolerance).
    if INT.match(a) or INT.match(b) or not FLOAT.match(a) or not FLOAT.match(b):
        return False
    x, y = float(a), float(b)
    return abs(x - y) <= max(1e-9 * max(abs(x), abs(y)), 1e-12)


def main():
    if len(sys.argv) < 3:
        print('usage: compare.py A B [LABEL]', file=sys.stderr)
        return 2
    try:
        a = open(sys.argv[1], errors='replace').read().splitlines()
        b = open(sys.argv[2], errors='replace').read().splitlines()
    except OSError as e:
        print('compare: %s' % e)
        return 2
    if len(a) != len(b):
        print('different: %d lines against %d' % (len(a), len(b)))
        return 1
    for k, (x, y) in enumerate(zip(a, b)):
        tx, ty = TOKEN.findall(x), TOKEN.findall(y)
        if len(tx) != len(ty) or not all(same(p, q) for p, q in zip(tx, ty)):
            print('different at line %d: %r against %r' % (k + 1, x[:200], y[:200]))
            return 1
    print('same (%d lines)' % len(a))
    return 0


if __name__ == '__main__':
    sys.exit(main())
