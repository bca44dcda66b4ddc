#!/bin/sh
# Formats the C sources with clang-format (.clang-format at the top).
#   scripts/format.sh          rewrite the files in place
#   scripts/format.sh --check  change nothing; list what is not formatted, exit 1 if any
# generated/ is left as codegen writes it.
set -eu
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "format.sh: clang-format is not installed" >&2; exit 2; }
# regular files only: a symlink (the iOS pod's headers) is formatted where it points
files=$(git ls-files -s -- '*.c' '*.h' | awk '$1 != "120000" {print $4}' | grep -v '^generated/')
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
