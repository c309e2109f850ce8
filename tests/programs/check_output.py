#!/usr/bin/python3
"""check_output.py PROG OUT ERR RC NP: checks one run of a program test (run-program.sh).

Expectations come from the program's comments: `# expect: TEXT` lines give stdout in
order; `# expect error: L:C: WORDS` requires a non-zero exit and exactly one line
`PATH:L:C: error: MESSAGE` (MESSAGE containing each of WORDS, case-insensitive);
`# exit: N` gives the exit status; `# exact` turns off the float tolerance (and
run-program.sh then also requires byte-identical stdout at every rank count); an
expected line `*` matches any one line.
Floats compare within a relative 1e-9 (absolute 1e-12 near zero); ints and words exactly.
Prints the reason and exits 1 on failure.
"""
import re
import sys

TOKEN = re.compile(r'[\[\]{}(),:]|[^\[\]{}(),:\s]+')
INT = re.compile(r'[-+]?[0-9]+\Z')
FLOAT = re.compile(r'[-+]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?\Z')


def same(want, got, exact):
    if want == got:
        return True
    if exact or INT.match(want) or not FLOAT.match(want):
        return False
    if INT.match(got) or not FLOAT.match(got):
        return False
    w, g = float(want), float(got)
    return abs(g - w) <= max(1e-9 * abs(w), 1e-12)


def main():
    prog, out_path, err_path, rc, np = sys.argv[1:6]
    rc = int(rc)
    src = open(prog).read().splitlines()
    expect, errors, exit_code, exact = [], [], None, False
    for line in src:
        m = re.search(r'#\s*expect:\s?(.*)$', line)
        if m:
            expect.append(m.group(1))
        m = re.search(r'#\s*expect error:\s*(\d+):(\d+):\s*(.*)$', line)
        if m:
            errors.append((int(m.group(1)), int(m.group(2)), m.group(3).split()))
        m = re.match(r'#\s*exit:\s*(\d+)', line)
        if m:
            exit_code = int(m.group(1))
        if re.match(r'#\s*exact\s*$', line):
            exact = True
    out = open(out_path, errors='replace').read()
    err = open(err_path, errors='replace').read()
    why = None
    want_rc = exit_code if exit_code is not None else (1 if errors else 0)
    if (rc != 0) != (want_rc != 0) or (exit_code is not None and rc != exit_code):
        why = 'exit status %d, expected %d' % (rc, want_rc)
    if why is None:
        got = out.splitlines()
        if len(got) != len(expect):
            why = '%d output lines, expected %d' % (len(got), len(expect))
        for k, (w, g) in enumerate(zip(expect, got)):
            if w.strip() == '*':
                continue
            wt, gt = TOKEN.findall(w), TOKEN.findall(g)
            if len(wt) != len(gt) or not all(same(a, b, exact) for a, b in zip(wt, gt)):
                why = 'output line %d: got %r, expected %r' % (k + 1, g, w)
                break
    if why is None and errors:
        line, col, words = errors[0]
        pat = re.compile(r'^(\S*?):(\d+):(\d+): error: (.*)$')
        hits = [pat.match(l) for l in (err + '\n' + out).splitlines()]
        hits = [h for h in hits if h]
        if not hits:
            why = 'no error line'
        elif len(hits) != 1:
            why = '%d error lines, expected exactly one' % len(hits)
        else:
            h = hits[0]
            if (int(h.group(2)), int(h.group(3))) != (line, col):
                why = 'error at %s:%s, expected %d:%d' % (h.group(2), h.group(3), line, col)
            else:
                msg = h.group(4).lower()
                missing = [w for w in words if w.lower() not in msg]
                if missing:
                    why = 'error message %r lacks %r' % (h.group(4), missing)
    if why:
        print('FAIL np=%s: %s' % (np, why))
        print('  stdout: ' + out[-800:].replace('\n', '\n          '))
        print('  stderr: ' + err[-800:].replace('\n', '\n          '))
        sys.exit(1)


main()
