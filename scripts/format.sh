#!/bin/sh
# Formats the C sources with clang-format (.clang-format at the top).
#   scripts/format.sh          rewrite the files in place
#   scripts/format.sh --check  change nothing; list what is not formatted, exit 1 if any
# generated/ and other generated files are left as their generators write them.
set -eu
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "format.sh: clang-format is not installed" >&2; exit 2; }
# regular files only: a symlink (the iOS pod's headers) is formatted where it points
# and not the files a generator writes ("DO NOT EDIT" at the top): their generator is checked instead
files=$(git ls-files -s -- '*.c' '*.h' | awk '$1 != "120000" {print $4}' | grep -v '^generated/' |
  while read -r f; do head -n 3 "$f" | grep -q 'DO NOT EDIT' || echo "$f"; done)
if [ "${1:-}" = "--check" ]; then
  bad=0
  for f in $files; do
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
      echo "not formatted: $f (run scripts/format.sh)"
      bad=1
    fi
  done
  [ $bad -eq 0 ] && echo "format: $(echo "$files" | wc -l) files formatted"
  exit $bad
fi
echo "$files" | xargs clang-format -i
