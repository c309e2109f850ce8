#!/bin/bash
# layers.sh: the include graph of src/ and include/ keeps the layers of
# docs/architecture.md (scripts/check-layers.sh names each bad edge).  First the
# checker itself, on a small tree with one edge of each kind it must refuse.
set -u
check=${top_srcdir:?}/scripts/check-layers.sh
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t"/src/{common,vm,job,la/cuda,cli} "$t"/include/noodle
printf '#include "vm/vm.h"\n' >"$t/src/common/up.c"           # goes up
printf '#include "vm/vm_internal.h"\n' >"$t/src/job/peek.c"    # private header
printf '#include "la/cuda/cuda.h"\n' >"$t/src/cli/backend.c"   # a backend's header
printf '#include "common/nd.h"\n' >"$t/include/noodle/api.h"   # public -> src
printf '#include "nowhere/x.h"\n' >"$t/src/vm/lost.c"          # unknown module
printf '#include "vm/vm_internal.h"\n#include "common/nd.h"\n' >"$t/src/vm/ok.c"
out=$(bash "$check" "$t") && { echo "FAIL: the checker passed a bad tree"; exit 1; }
for want in 'src/common/up.c:1: #include "vm/vm.h": common (layer 1) may not include vm' \
            'src/job/peek.c:1: #include "vm/vm_internal.h": private header of src/vm/' \
            'src/cli/backend.c:1: #include "la/cuda/cuda.h": backend header, private to src/la/' \
            'include/noodle/api.h:1: #include "common/nd.h": include (layer 0) may not include common' \
            "src/vm/lost.c:1: #include \"nowhere/x.h\": unknown module 'nowhere'"; do
    grep -qF "$want" <<<"$out" || { echo "FAIL: no line '$want' in:"; echo "$out"; exit 1; }
done
[ "$(grep -c . <<<"$out")" -eq 5 ] || { echo "FAIL: extra lines:"; echo "$out"; exit 1; }

# The tree itself.
bash "$check" "$top_srcdir"
