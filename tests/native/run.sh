#!/usr/bin/env bash
# The FFI test of the app's native library against a real ttboost-server on
# loopback (tests/native/ffi_client_test.c says what it checks).
#
#   tests/native/run.sh LIB TEST_EXE SERVER_BUILD [WRAPPER...]
#
# LIB: libttboost_client.so (mobile/app/native's CMake build); TEST_EXE:
# ffi_client_test built by the same CMake build (-DTTB_BUILD_TESTS=ON);
# SERVER_BUILD: a meson build dir holding server/ttboost-server and
# server/ttboost-admin (always the build machine's, also for arm64);
# WRAPPER: how to run TEST_EXE (e.g. qemu-aarch64-static), none for native.
# TTB_FFI_LIBRARY_PATH: extra LD_LIBRARY_PATH for TEST_EXE (the arm64 libraries
# unpacked by scripts/native-app.sh). TTB_FFI_SLOW: timeouts multiplier.
set -euo pipefail
[ $# -ge 3 ] || {
  echo "usage: $0 LIB TEST_EXE SERVER_BUILD [WRAPPER...]" >&2
  exit 2
}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIB=$(realpath "$1")
EXE=$(realpath "$2")
SRV_BUILD=$3
shift 3
SERVER=$SRV_BUILD/server/ttboost-server
ADMIN=$SRV_BUILD/server/ttboost-admin
BINDINGS=$ROOT/mobile/app/lib/ffi/ttboost_bindings.dart
for f in "$LIB" "$EXE" "$SERVER" "$ADMIN" "$BINDINGS"; do
  [ -e "$f" ] || {
    echo "ffi-test: $f is missing" >&2
    exit 1
  }
done

DIR=$(mktemp -d /tmp/ttb-ffi-XXXXXX)
SRV_PID=""
# shellcheck disable=SC2317 # (called by the trap)
cleanup() {
  if [ -n "$SRV_PID" ]; then
    kill "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT

# The server, on an ephemeral port of 127.0.0.1, without the TikTok connector,
# with an operator's ingest secret of ours (a file: never on a command line).
mkdir -p "$DIR/server" "$DIR/client"
SECRET_FILE=$DIR/ingest.secret
(umask 077 && head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$SECRET_FILE")
"$SERVER" --listen 127.0.0.1:0 --data-dir "$DIR/server" --tiktok off \
  --ingest-secret-file "$SECRET_FILE" >"$DIR/server.log" 2>&1 &
SRV_PID=$!
URL=""
for _ in $(seq 1 100); do
  URL=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$DIR/server.log" | head -1 | sed 's/^listening on //') || true
  [ -n "$URL" ] && break
  kill -0 "$SRV_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$URL" ]; then
  echo "ffi-test: the server did not start:" >&2
  cat "$DIR/server.log" >&2
  exit 1
fi

# A license (its key on stdout, the user id = the channel on stderr).
KEY=$("$ADMIN" --data-dir "$DIR/server" license create --days 1 --devices 1 2>"$DIR/admin.log")
CHANNEL=$(sed -n 's/.*user_id \([^ ,]*\).*/\1/p' "$DIR/admin.log" | head -1)
if [ -z "$KEY" ] || [ -z "$CHANNEL" ]; then
  echo "ffi-test: ttboost-admin license create gave no key or user id:" >&2
  cat "$DIR/admin.log" >&2
  exit 1
fi
TEXT="Hello from the FFI test"
printf '{"channel":"%s","type":"chat","user":"Aruka","message":"%s"}' "$CHANNEL" "$TEXT" >"$DIR/chat.json"
# curl reads the header from a file: the secret never appears on a command line.
printf 'Authorization: Bearer %s\n' "$(head -n1 "$SECRET_FILE")" >"$DIR/auth.header"
chmod 600 "$DIR/auth.header"

# Every function ttboost_bindings.dart looks up.
TTB_FFI_SYMBOLS=$(grep -oE "'ttb_[a-z0-9_]+'\)" "$BINDINGS" | tr -d "')" | sort -u | tr '\n' ' ')
export TTB_FFI_SYMBOLS

env_prefix=()
if [ -n "${TTB_FFI_LIBRARY_PATH:-}" ]; then
  env_prefix=(env "LD_LIBRARY_PATH=$TTB_FFI_LIBRARY_PATH")
fi
set +e
"${env_prefix[@]}" "$@" "$EXE" "$LIB" "$URL" "$KEY" "$DIR/client" "$TEXT" -- \
  curl -sS --fail-with-body -o "$DIR/ingest.out" -H "@$DIR/auth.header" \
  -H 'Content-Type: application/json' --data-binary "@$DIR/chat.json" "$URL/ingest/events"
rc=$?
set -e
if [ $rc -ne 0 ]; then
  echo "ffi-test: failed ($rc); the server said:" >&2
  tail -n 30 "$DIR/server.log" >&2
  [ -f "$DIR/ingest.out" ] && { echo "ingest answered:" >&2; cat "$DIR/ingest.out" >&2; }
fi
exit $rc
