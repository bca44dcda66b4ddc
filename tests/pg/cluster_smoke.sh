#!/bin/sh
# scripts/cluster.sh up/down: both nodes answer, a key made with $ADMIN
# logs in on either node (one PostgreSQL), and down stops every process.
#   tests/pg/cluster_smoke.sh BUILD_DIR
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d /tmp/ttb-cluster-smoke.XXXXXX)
cleanup() {
  [ -f "$dir/cluster.env" ] && BUILD=$1 "$root/scripts/cluster.sh" down "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap 'cleanup "$1"' EXIT
BUILD=$1 "$root/scripts/cluster.sh" up "$dir"
. "$dir/cluster.env"
for v in NODE1_URL NODE2_URL NODE1_PID NODE2_PID TTS_PID DB_URL TTBOOST_INGEST_SECRET ADMIN; do
  eval "[ -n \"\${$v:-}\" ]" || { echo "cluster.env lacks $v" >&2; exit 1; }
done
key=$($ADMIN license create --days 30 --devices 0 2>/dev/null)
login() {
  /usr/bin/python3 - "$1" "$key" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/auth/login", method="POST",
    data=json.dumps({"license_key": sys.argv[2]}).encode(), headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10) as r:
    body = json.load(r)
assert body["status"] == "ok", body
print(body["user_id"])
PY
}
u1=$(login "$NODE1_URL")
u2=$(login "$NODE2_URL")
[ "$u1" = "$u2" ] || { echo "the nodes disagree on the license: $u1 / $u2" >&2; exit 1; }
# the TTS worker's engines and the nodes' relays (speech over NATS)
children=$(pgrep -P "$TTS_PID,$NODE1_PID,$NODE2_PID" | tr '\n' ' ')
[ -n "$children" ] || { echo "no TTS engine or relay runs" >&2; exit 1; }
BUILD=$1 "$root/scripts/cluster.sh" down "$dir"
for p in $NODE1_PID $NODE2_PID $TTS_PID $children; do
  if kill -0 "$p" 2>/dev/null; then echo "process $p still runs after down" >&2; exit 1; fi
done
if [ -e "$PG_DIR" ]; then echo "PostgreSQL's dir $PG_DIR is left" >&2; exit 1; fi
echo "cluster smoke: ok ($u1 on both nodes)"
