#!/bin/bash
# signed_bytecode.sh: signed bytecode end to end (docs/security.md).  noodlec --gen-key
# and --sign; noodle-run --trust/--require-signed (and their config keys) run what a
# trusted key signed and refuse, with exit 3 on every rank, a flipped byte anywhere, a
# signature by another key, unsigned bytecode and source; bad key files are exit 2
# naming them; the signer is recorded in checkpoints.
. "$(dirname "$0")/ckpt_common.bash"
: "${NOODLEC:=$(dirname "$NOODLE_RUN")/noodlec}"
PY=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
cat > p.noodle <<'NOODLE'
let A = ones([4, 4])
checkpoint()
print(sum(A @ A))
NOODLE
"$NOODLEC" --gen-key alice 2>/dev/null && "$NOODLEC" --gen-key bob 2>/dev/null || fail "--gen-key"
[ "$(stat -c %a alice.key)" = 600 ] || fail "alice.key is mode $(stat -c %a alice.key)"
"$NOODLEC" p.noodle -o p.nbc --sign alice.key || fail "compile and sign"
"$NOODLEC" p.noodle -o u.nbc || fail "compile"
"$NOODLEC" --sign bob.key u.nbc -o b.nbc || fail "sign an existing .nbc"

# Trusted: runs at 1 and 2 ranks, by flag and by config key; the signer is in the
# checkpoint.
for np in 1 2; do
    out=$(run_np $np --trust alice.pub --require-signed --checkpoint-dir ck$np p.nbc 2>e.txt) ||
        fail "trusted, $np ranks: $(cat e.txt)"
    [ "$out" = 64.0 ] || fail "trusted, $np ranks: output '$out'"
done
printf 'security:\n  trust: bob.pub:alice.pub\n  require_signed: true\n' >sec.yaml
out=$(run_np 2 --config sec.yaml p.nbc 2>e.txt) && [ "$out" = 64.0 ] || fail "config keys: $(cat e.txt)"
id=$("$PY" -c "import hashlib; print(hashlib.sha256(bytes.fromhex(open('alice.pub').read().split()[2])).hexdigest()[:16])")
got=$("$PY" -c "import h5py; print(h5py.File('ck2/ckpt-1.h5', 'r')['program'].attrs['signer'].decode())")
[ "$got" = "$id" ] || fail "checkpoint signer '$got', expected '$id'"

# The signer in the catalog (MQL column, result attribute, audit log), and the default
# io.roots of --require-signed: the working, checkpoint and catalog directories.
cat > st.noodle <<'NOODLE'
store("x", 1.5)
h5write(param("out", "in.h5"), "A", ones([2, 2]))
NOODLE
"$NOODLEC" st.noodle -o st.nbc --sign alice.key || fail "sign st"
run_np 2 --trust alice.pub --require-signed --catalog cat st.nbc 2>e.txt || fail "store: $(cat e.txt)"
MQL=$(dirname "$NOODLE_RUN")/noodle-mql
got=$("$MQL" cat "SELECT signer FROM results WHERE name = 'x'" --format csv | tail -n 1)
[ "$got" = "$id" ] || fail "MQL signer '$got', expected '$id'"
grep -q "signer=$id" cat/audit.log || fail "audit log: $(cat cat/audit.log)"
mkdir -p /tmp/nd_signed_out.$$
run_np 2 --trust alice.pub --require-signed --catalog cat --param out=/tmp/nd_signed_out.$$/o.h5 \
    st.nbc >/dev/null 2>e.txt
rc=$?
[ -e /tmp/nd_signed_out.$$/o.h5 ] && fail "require-signed wrote outside its default roots"
rmdir /tmp/nd_signed_out.$$
[ "$rc" = 1 ] && grep -q "outside io.roots" e.txt || fail "default roots: exit $rc, $(cat e.txt)"

# Refused with exit 3 on every rank, the message once.
refused() { # WHAT EXPECTED-MESSAGE ARGS...
    local what=$1 msg=$2
    shift 2
    run_np 2 "$@" >out.txt 2>e.txt
    local rc=$?
    [ "$rc" = 3 ] || fail "$what: exit $rc, $(cat e.txt)"
    [ "$(grep -c "error: .*$msg" e.txt)" = 1 ] || fail "$what: $(cat e.txt)"
    [ -s out.txt ] && fail "$what: the program ran"
    return 0
}
refused "another key" "signed by key .* which is not trusted" --trust alice.pub --require-signed b.nbc
refused "unsigned" "u.nbc is not signed" --trust alice.pub --require-signed u.nbc
refused "source" "p.noodle is source, which cannot be signed" --trust alice.pub --require-signed p.noodle
size=$(stat -c %s p.nbc)
for pos in 0 9 13 17 25 28 40 $((size / 2)) $((size - 105)) $((size - 104)) $((size - 90)) \
           $((size - 60)) $((size - 1)); do
    cp p.nbc t.nbc
    "$PY" -c "
import sys; p = int(sys.argv[1]); b = bytearray(open('t.nbc', 'rb').read()); b[p] ^= 0x10
open('t.nbc', 'wb').write(b)" "$pos"
    refused "a flip at byte $pos" "t.nbc" --trust alice.pub --require-signed t.nbc
done
# A changed signed file is refused even when signatures are not required.
refused "a flip, not required" "the signature does not match" t.nbc

# Bad key files: exit 2 naming them.
badkey() { # WHAT FILE-NAMED ARGS...
    local what=$1 name=$2
    shift 2
    run_np 1 "$@" >/dev/null 2>e.txt
    local rc=$?
    [ "$rc" = 2 ] && grep -q -e "$name" e.txt || fail "$what: exit $rc, $(cat e.txt)"
}
badkey "a missing key" "none.pub" --trust none.pub --require-signed p.nbc
badkey "a secret key trusted" "alice.key' is a secret key" --trust alice.key --require-signed p.nbc
printf 'noodle-sign-pub 1 abcd x\n' >short.pub
badkey "a key of the wrong size" "short.pub' is not a Noodle public key" --trust short.pub p.nbc
badkey "require without keys" "needs the keys to trust" --require-signed p.nbc
badkey "--force with require" "--force cannot be used" --trust alice.pub --require-signed --force p.nbc
rc=0; "$NOODLEC" p.noodle -o x.nbc --sign alice.pub 2>e.txt || rc=$?
[ "$rc" = 2 ] && grep -q "alice.pub' is a public key" e.txt || fail "--sign with a public key: $rc"
chmod 644 bob.key
rc=0; "$NOODLEC" p.noodle -o x.nbc --sign bob.key 2>e.txt || rc=$?
[ "$rc" = 2 ] && grep -q "bob.key' is readable by others" e.txt || fail "--sign with mode 644: $rc"
rc=0; "$NOODLEC" --gen-key alice 2>e.txt || rc=$?
[ "$rc" = 2 ] && grep -q "alice.key' exists" e.txt || fail "--gen-key over a key: $rc"
[ ! -e x.nbc ] || fail "a refused --sign wrote x.nbc"
echo "ok: signed bytecode runs when trusted, and is refused when changed, unsigned or untrusted"
