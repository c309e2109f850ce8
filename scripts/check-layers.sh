#!/bin/bash
# check-layers.sh [--graph] [SRCDIR]: checks the include graph of src/ and include/
# against the layers of docs/architecture.md.  Fails, naming file and line, on
#   - an edge to a higher layer, or between two modules of one layer not listed below;
#   - a private header (*_internal.h, *_impl.h) used outside its folder;
#   - a backend's header (src/MODULE/SUB/*.h) used outside its module;
#   - a public header (include/noodle) that includes anything but public headers;
#   - an include of a module this table does not know.
# --graph prints the folder-to-folder edges instead ("from -> to (count)").
# `make check-layers` runs it; so does `make check`.
set -u
graph=0
if [ "${1:-}" = --graph ]; then graph=1; shift; fi
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 2

# Layer of each folder, lowest first: a file may include its own folder and any lower
# layer.  "include" is the public API (include/noodle); "ac" the autoconf header;
# "simcuda" the simulated device of tests/simcuda (--with-cuda=sim builds only).
declare -A layer=(
    [include]=0 [ac]=0 [simcuda]=0
    [common]=1
    [runtime]=2 [nbc]=2 [config]=2
    [la]=3
    [vm]=4
    [compiler]=5 [ckpt]=5 [catalog]=5 [slurm]=5
    [job]=6
    [cli]=7
)
# Edges allowed inside one layer (they must stay acyclic): the runtime takes its
# defaults from the settings table (config/keys.h); noodle-status reads the
# checkpoint module's completion mark.
declare -A same=([slurm:ckpt]=1 [runtime:config]=1)

find src include -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.def' \) |
    sort | xargs grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' /dev/null |
    sed -E 's/^([^:]+):([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1 \2 \3/' |
{
    bad=0
    declare -A edges=()
    while read -r file line inc; do
        case $file in
        include/*) from=include ;;
        src/*) from=${file#src/}; from=${from%%/*} ;;
        esac
        case $inc in
        noodle/*) to=include ;;
        ac_config.h) to=ac ;;
        */*) to=${inc%%/*} ;;
        *) to=$from; inc=${file%/*}/$inc; inc=${inc#src/} ;; # same folder
        esac
        where="$file:$line: #include \"$inc\""
        if [ -z "${layer[$to]:-}" ]; then
            echo "$where: unknown module '$to' (scripts/check-layers.sh)"; bad=1; continue
        fi
        if [ "$from" != "$to" ]; then
            edges[$from -> $to]=$(( ${edges[$from -> $to]:-0} + 1 ))
            if [ "$from" = include ] || [ "${layer[$to]}" -gt "${layer[$from]}" ] ||
               { [ "${layer[$to]}" -eq "${layer[$from]}" ] && [ -z "${same[$from:$to]:-}" ]; }; then
                echo "$where: $from (layer ${layer[$from]}) may not include $to (layer ${layer[$to]})"
                bad=1
            fi
        fi
        case $inc in
        *_internal.h|*_impl.h)
            [ "${file%/*}" = "src/${inc%/*}" ] ||
                { echo "$where: private header of src/${inc%/*}/"; bad=1; } ;;
        esac
        case $inc in
        */*/*.h) [ "$from" = "$to" ] ||
                { echo "$where: backend header, private to src/$to/"; bad=1; } ;;
        esac
    done
    if [ "$graph" = 1 ]; then
        for e in "${!edges[@]}"; do echo "$e (${edges[$e]})"; done | sort
    fi
    exit "$bad"
}
