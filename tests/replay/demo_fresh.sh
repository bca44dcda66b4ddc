#!/bin/sh
# The committed demo trace must be what make-demo-trace writes now:
#   demo_fresh.sh MAKE_DEMO_TRACE COMMITTED_TRACE   (also make-tiktok-trace and tiktok-demo.ttbtrace)
# Regenerate with: build/tools/replay/make-demo-trace tools/replay/traces/demo.ttbtrace
set -eu
tmp=$(mktemp /tmp/ttb-demo-XXXXXX)
trap 'rm -f "$tmp"' EXIT
"$1" "$tmp"
if ! cmp "$tmp" "$2"; then
  echo "$2 is stale: regenerate it with: $1 $2" >&2
  exit 1
fi
echo "demo trace is fresh ($(wc -c < "$2") bytes)"
