#!/bin/sh
# Fails when generated/ or the generated docs differ from what codegen/regen.sh
# makes from schema/ now: regenerate into a temporary tree and compare.
#   tests/codec/fresh.sh SOURCE_ROOT PLUGIN
set -eu
SRC=$1
PLUGIN=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$SRC/codegen/regen.sh" "$PLUGIN" "$TMP" >/dev/null
rc=0
for d in generated/pb-c generated/nanopb generated/json docs/protocol/messages.md docs/api; do
  if ! diff -r "$SRC/$d" "$TMP/$d" >"$TMP/diff.txt" 2>&1; then
    echo "stale: $d differs from a fresh regeneration (run: meson compile -C build regen)"
    head -40 "$TMP/diff.txt"
    rc=1
  fi
done
[ $rc -eq 0 ] && echo "generated code is fresh"
exit $rc
