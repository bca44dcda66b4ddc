#!/bin/sh
# Installs what TTBoost needs from Debian's packages (scripts/deps.txt).
# Idempotent: does nothing when everything is there. Needs root (or sudo)
# when something is missing.
set -eu
cd "$(dirname "$0")/.."
missing=""
for p in $(grep -v '^#' scripts/deps.txt); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js + npm run the Flutter app's source checks (mobile/app/tool); a
# machine may have its own Node.js, whose npm Debian's npm conflicts with.
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
[ -z "$missing" ] && exit 0
echo "setup: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $missing
