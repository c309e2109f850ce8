#!/bin/sh
# csv_py.sh: readcsv and writecsv with the files analysts and careless users make
# (docs/language.md "Builtins", I/O), at 2 ranks: Python's csv module and numpy read
# writecsv's file with its header; a CSV with a header, CRLF line ends, blank lines and spaces
# reads; a bad number, an empty field, a ragged row, a header alone, a missing file and a
# NUL byte each give one error naming the file and the line (and column) and exit 1; a
# failed write leaves no file; the written file has the mode of the umask.
set -u
. "$(dirname "$0")/run_scratch.sh"
rc=0
fail() { echo "FAIL: $*"; rc=1; }
noodle() { # PROGRAM-TEXT: runs it at 2 ranks; out, err, $status
    printf '%s\n' "$1" >p.noodle
    timeout 120 "$mpirun" --oversubscribe -n 2 "$run" p.noodle >out 2>err </dev/null
    status=$?
}
umask 027
noodle 'writecsv("w.csv", reshape(arange(0, 6), [3, 2]) * 0.5, ["t", "u (K)"])'
[ $status = 0 ] || fail "writecsv: exit $status: $(cat err)"
[ "$(stat -c %a w.csv)" = 640 ] || fail "writecsv's file has mode $(stat -c %a w.csv) under umask 027"
ls w.csv.tmp.* >/dev/null 2>&1 && fail "writecsv left a temporary file"
"$py" -c '
import csv, numpy as np
rows = list(csv.reader(open("w.csv", newline="")))
assert rows[0] == ["t", "u (K)"], rows[0]
assert [float(r[1]) for r in rows[1:]] == [0.5, 1.5, 2.5], rows
d = np.genfromtxt("w.csv", delimiter=",", names=True)
assert d.shape == (3,) and d["t"].tolist() == [0.0, 1.0, 2.0], d
' || fail "Python's csv and numpy.genfromtxt do not read writecsv's file"
printf 'time, value\r\n\r\n 1.5 , 2\r\n3,4e-3\r\n\r\n' >crlf.csv
noodle 'print(tolist(readcsv("crlf.csv")))'
[ "$(cat out)" = "[[1.5, 2.0], [3.0, 0.004]]" ] || fail "a CSV with a header and CRLF: $(cat out) $(grep error err)"
check() { # FILE-CONTENT EXPECTED-ERROR-TEXT
    printf "$1" >in.csv
    noodle 'let A = readcsv("in.csv")'
    [ $status = 1 ] || fail "readcsv of '$1': exit $status, expected 1"
    n=$(grep -c 'error:' err)
    grep -q -- "$2" err && [ "$n" = 1 ] || fail "readcsv of '$1': expected one error with '$2', got: $(grep error err)"
}
check 'a,b\n1,2\n3,x\n' "in.csv:3:3: 'x' is not a number (field 2)"
check '1,2,3\n4,,6\n' 'in.csv:2:3: an empty field (field 2)'
check '1,2,3\n4,5\n' 'in.csv:2: 2 fields, but line 1 has 3'
check '1,x,3\n' "in.csv:1:3: 'x' is not a number (field 2)"
check 'a,b\n' "'in.csv' holds no numbers"
check '1,2\n3,\0004\n' 'in.csv:2: a NUL byte'
rm -f in.csv
noodle 'let A = readcsv("in.csv")'
[ $status = 1 ] && grep -q "cannot open 'in.csv'" err || fail "readcsv of a missing file: exit $status, $(grep error err)"
noodle 'writecsv("no/such/dir/x.csv", ones([2, 2]))'
[ $status = 1 ] && grep -q "writecsv: cannot write 'no/such/dir/x.csv': No such file or directory" err ||
    fail "writecsv into a missing directory: exit $status, $(grep error err)"
[ $rc = 0 ] && echo "ok: readcsv and writecsv: csv and numpy readers, headers, CRLF, six bad files, a missing file, a failed write, the umask"
exit $rc
