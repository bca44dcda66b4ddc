#!/bin/sh
# ttboost-listen --tiktok NAME against the real server: the handle is set
# after login (GET /me/tiktok shows it), the TikTok states are printed one
# line each as the socket reports them ("tiktok: connecting …", then "error"
# since TikTok is 127.0.0.1:1 here, where nothing listens), and a handle the
# server refuses stops the listener with exit 2 and the server's own words.
# Audio goes to a WAV file (no PulseAudio needed).
#
#   listen_tiktok.sh LISTEN SERVER ADMIN
set -eu

LISTEN=$1 SERVER=$2 ADMIN=$3
tmp=$(mktemp -d /tmp/ttb-listen-tiktok-XXXXXX)
srv=""
cleanup() {
    [ -n "$srv" ] && kill "$srv" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; echo "--- listener"; cat "$tmp/out" 2>/dev/null || true; cat "$tmp/err" 2>/dev/null || true
         echo "--- server"; cat "$tmp/server.log"; exit 1; }

TTBOOST_INGEST_SECRET=x "$SERVER" --listen 127.0.0.1:0 --data-dir "$tmp/srv" \
    --tiktok-web http://127.0.0.1:1 --tiktok-ws ws://127.0.0.1:1 >"$tmp/server.log" 2>&1 &
srv=$!
port=""
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/server.log" | head -n1)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || fail "the server did not start"
url="http://127.0.0.1:$port"
key=$("$ADMIN" --data-dir "$tmp/srv" license create --days 30 --devices 3 2>/dev/null)
[ -n "$key" ] || fail "no license"

# A valid handle, typed as a streamer would.
"$LISTEN" --server "$url" --key "$key" --tiktok "@Aruka.Live" --wav "$tmp/a.wav" --seconds 4 \
    --data-dir "$tmp/a" --device dev-a >"$tmp/out" 2>"$tmp/err" || fail "exit status $?"
grep -q '^tiktok account set: aruka.live$' "$tmp/out" || fail "no 'tiktok account set'"
grep -Eq '^tiktok: (off|waiting|connecting|error)' "$tmp/out" || fail "no first state line"
grep -Eq '^[0-9:]{8} tiktok: connecting( \(room [0-9]+\))? @aruka.live' "$tmp/out" || fail "no 'connecting' from the socket"
grep -Eq '^[0-9:]{8} tiktok: error @aruka.live - cannot reach TikTok' "$tmp/out" || fail "no 'error' from the socket"
"$ADMIN" --data-dir "$tmp/srv" license list 2>&1 | grep -q 'aruka.live' || fail "license list does not show the handle"

# A handle the server refuses: exit 2, its message, no socket.
set +e
"$LISTEN" --server "$url" --key "$key" --tiktok "no spaces" --wav "$tmp/b.wav" --seconds 2 \
    --data-dir "$tmp/b" --device dev-b >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
[ $rc -eq 2 ] || fail "a refused handle exits $rc, not 2"
grep -q 'the TikTok account was not set: username:' "$tmp/err" || fail "not the server's words"
grep -q 'listening' "$tmp/out" && fail "it went on listening"
echo "ok"
