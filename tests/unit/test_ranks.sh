# test_ranks.sh: sourced by the tests that run a suite at several rank counts.
# test_ranks "2 3 4" [FALLBACK] prints those rank counts, narrowed to NOODLE_TEST_RANKS
# when that is set (a quicker second build in CI, as for the program tests), or FALLBACK
# (default: all of them) when none is left.
test_ranks() {
    [ -n "${NOODLE_TEST_RANKS:-}" ] || { echo "$1"; return; }
    keep=""
    for n in $1; do
        case " $NOODLE_TEST_RANKS " in *" $n "*) keep="$keep $n" ;; esac
    done
    echo "${keep:-${2:-$1}}"
}
