#!/bin/bash
# config_docs.sh: docs/config.md's key table agrees with src/config/keys.def, the one
# definition of the settings: every key that `noodle-run --print-config` prints has a
# row with its default and environment variable, and no row names a key that is gone.
set -u
doc=${top_srcdir:?}/docs/config.md
# "key = VALUE [(note)] (from SOURCE)": the key and the first word of its value.
keys=$("${NOODLE_RUN:?}" --print-config 2>/dev/null |
    sed -n 's/^\([a-z_.]*\) *= \(.*\)(from [^)]*)$/\1 \2/p' | awk '{print $1, $2}')
[ -n "$keys" ] || { echo "FAIL: noodle-run --print-config printed no keys"; exit 1; }
bad=0
while read -r key dflt; do
    row=$(grep -F "| \`$key\` |" "$doc")
    if [ -z "$row" ]; then echo "FAIL: docs/config.md has no row for '$key'"; bad=1; continue; fi
    env="NOODLE_$(tr 'a-z.' 'A-Z_' <<<"$key")"
    grep -qF "\`$env\`" <<<"$row" || { echo "FAIL: row of '$key' does not name $env"; bad=1; }
    # The third column; numbers as printed (60.0) or written (60), an empty map as "empty".
    col=$(awk -F' [|] ' '{print $3}' <<<"$row" | tr -d '`')
    [ -z "$dflt" ] && dflt=empty
    [ "$col" = "$dflt" ] || [ "$col.0" = "$dflt" ] ||
        { echo "FAIL: '$key': docs say default '$col', noodle-run says '$dflt'"; bad=1; }
done <<<"$keys"
for key in $(sed -n 's/^| `\([a-z_.]*\)` | .*/\1/p' "$doc"); do
    grep -q "^$key " <<<"$keys" || { echo "FAIL: docs/config.md lists '$key', which is no key"; bad=1; }
done
man=$top_srcdir/man/noodle-run.1
for flag in $("$NOODLE_RUN" --help 2>&1 | grep -oE '^  --[a-z-]+'); do
    grep -qF -- "${flag//-/\\-}" "$man" || { echo "FAIL: man/noodle-run.1 lacks $flag"; bad=1; }
done
[ "$bad" = 0 ] && echo "ok: $(wc -l <<<"$keys") keys documented with their defaults, flags in the man page"
exit "$bad"
