#!/usr/bin/env python3
"""loop_shapes.py SEED COUNT DIR: writes COUNT Noodle programs DIR/shape_K.noodle, made
from SEED, with the loop shapes users write: while and for loops, `while true` with a
break, continue, nesting, conditions with and/or/not, bool variables, an if or if/else
as the last statement of a body (the shape whose jump the optimizer used to thread past
the safe point), loops in functions, recursion, and rank-dependent loops.  The main loop
runs param("n") times (small by default; --param n=1000000000000 makes it run until a
signal or --run-time stops it), and every program prints the same line at any rank
count and optimization level.  Used by loop_shapes.sh."""
import random
import sys


class Gen:
    def __init__(self, rng):
        self.rng = rng
        self.nvar = 0
        self.helpers = []

    def var(self, stem):
        self.nvar += 1
        return "%s%d" % (stem, self.nvar)

    def cond(self, i):
        """A bool condition on the loop counter i and the globals."""
        r = self.rng
        atoms = ["%s %% %d == %d" % (i, r.randint(2, 7), r.randint(0, 1)),
                 "flag", "not flag", "every > 0", "%s > %d" % (i, r.randint(1, 9)),
                 "acc % 2 == 0"]
        c = r.choice(atoms)
        for _ in range(r.randint(0, 2)):
            c = "%s %s %s" % (c, r.choice(["and", "or"]), r.choice(atoms))
        if r.random() < 0.2:
            c = "not (%s)" % c
        return c

    def tail(self, i):
        """The last statement of a loop body."""
        r = self.rng
        c = self.cond(i)
        return r.choice([
            "if every > 0 and %s %% every == 0 { acc = acc + 1 }" % i,
            "if %s { acc = acc + 2 }" % c,
            "if not flag { acc = acc + 3 }",
            "if %s { acc = acc + 1 } else { acc = acc - 1 }" % c,
            "if %s { flag = not flag }" % c,
            "flag = not flag",
            "if %s { acc = acc + 1 } else if flag { acc = acc + 2 } else { acc = acc - 2 }" % c,
        ])

    def helper(self):
        r = self.rng
        name = "h%d" % len(self.helpers)
        k = r.choice(["while", "for", "true", "rec"])
        if k == "while":
            body = ("  let s = 0\n  let j = 0\n  while j < k {\n    j = j + 1\n"
                    "    if j %% %d == 0 and k > 1 { s = s + j }\n  }\n  return s\n"
                    % r.randint(2, 4))
        elif k == "for":
            body = ("  let s = 0\n  for j in 0..k {\n    if j == %d { continue }\n"
                    "    s = s + j\n    if s > %d { break }\n  }\n  return s\n"
                    % (r.randint(0, 3), r.randint(5, 40)))
        elif k == "true":
            body = ("  let s = 0\n  let j = 0\n  while true {\n    j = j + 1\n"
                    "    s = s + j\n    if j >= k or s > %d { break }\n  }\n  return s\n"
                    % r.randint(5, 40))
        else:
            body = ("  if k <= 0 { return 0 }\n  return 1 + %s(k - 1)\n" % name)
        self.helpers.append("fn %s(k) {\n%s}\n" % (name, body))
        return name

    def body_item(self, i, depth):
        r = self.rng
        kinds = ["for", "while", "call", "boolvar", "nested_true"]
        if depth == 0:
            kinds += ["rank", "continue"]
        k = r.choice(kinds)
        if k == "for":
            v = self.var("k")
            return "for %s in 0..%d { acc = acc + %s }" % (v, r.randint(1, 4), v)
        if k == "while":
            v = self.var("m")
            return ("let %s = 0\nwhile %s < %d {\n  %s = %s + 1\n  if %s == 2 { continue }\n"
                    "  acc = acc + %s\n}" % (v, v, r.randint(2, 5), v, v, v, v))
        if k == "call":
            return "acc = acc + %s(%s %% %d)" % (self.helper(), i, r.randint(2, 6))
        if k == "boolvar":
            v = self.var("b")
            return "let %s = %s\nif %s { acc = acc + 1 }" % (v, self.cond(i), v)
        if k == "nested_true":
            v = self.var("t")
            return ("let %s = 0\nwhile true {\n  %s = %s + 1\n  if %s > 2 and flag { break }\n"
                    "  if %s > 3 { break }\n}\nacc = acc + %s" % (v, v, v, v, v, v))
        if k == "rank":
            # Rank-dependent: only rank 0 loops (no collective inside), sometimes longer
            # than the safe-point period, so that uneven counts would hang the agreement.
            v = self.var("q")
            return ("if rank() == 0 {\n  for %s in 0..%d { local = local + 1 }\n}"
                    % (v, r.choice([3, 50, 20000])))
        return "if %s %% %d == 0 { acc = acc + 1\n  continue }" % (i, r.randint(2, 5))

    def loop(self, n, i, depth=0):
        """A loop that runs n times, counting in the global i (reset by the caller)."""
        r = self.rng
        items = [self.body_item(i, depth) for _ in range(r.randint(0, 2))]
        if depth == 0 and r.random() < 0.3:
            items.append("ii = 0\n" + self.loop("3", "ii", depth + 1))
        body = "\n".join(items + [self.tail(i)])
        shape = r.choice(["while", "for", "true", "not"])
        step = "%s = %s + 1" % (i, i)
        if shape == "while":
            head = "while %s < %s {" % (i, n)
        elif shape == "not":
            head = "while not (%s >= %s) {" % (i, n)
        elif shape == "true":
            head = "while true {\nif %s >= %s { break }" % (i, n)
        else:
            head = "for %s in 0..%s {" % (self.var("j"), n)
        return "%s\n%s\n%s\n}" % (head, step, body)

    def program(self, seed):
        r = self.rng
        main_loop = self.loop("n", "i")
        in_fn = r.random() < 0.3
        out = ["# loop shape, seed %d" % seed,
               "let n = param(\"n\", %d)" % r.randint(5, 40),
               "let every = param(\"every\", %d)" % r.randint(0, 4),
               "let acc = 0", "let flag = %s" % r.choice(["true", "false"]),
               "let local = 0", "let i = 0", "let ii = 0"]
        out += self.helpers
        if in_fn:
            out.append("fn run(n) {\n%s\nreturn acc\n}\nacc = run(n)" % main_loop)
        else:
            out.append(main_loop)
        out.append("print(\"acc\", acc, \"i\", i, \"flag\", flag)")
        return "\n".join(out) + "\n"


def main():
    seed, count, outdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    for k in range(count):
        g = Gen(random.Random(seed * 100003 + k))
        with open("%s/shape_%d.noodle" % (outdir, k), "w") as f:
            f.write(g.program(seed * 100003 + k))


if __name__ == "__main__":
    main()
