#!/bin/sh
# The main job, in one command: installs what is missing (Debian packages),
# builds, starts ttboost-server on 127.0.0.1 with embedded defaults, makes a
# licence, plays the bundled demo stream into it and lets you hear it
# through the desktop listener (PulseAudio when a sound server runs; else the
# listener writes demo.wav).
#
#   ./scripts/demo.sh                 # the demo, then the server stops
#   DEMO_KEEP=1 ./scripts/demo.sh     # keep the server running afterwards
#   PORT=9090 ./scripts/demo.sh       # another port
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
./scripts/setup.sh

if [ ! -f build/build.ninja ]; then
  meson setup build -Dtests=disabled >/dev/null
fi
echo "demo: building (first time takes a minute)"
ninja -C build >/dev/null

port=${PORT:-8080}
data="$root/var/demo"
mkdir -p "$data"
secret="demo-ingest-secret"
server="$root/build/server/ttboost-server"
admin="$root/build/server/ttboost-admin"
listen_bin="$root/build/mobile/core/tools/ttboost-listen"
replay_bin="$root/build/tools/replay/ttboost-replay"
log="$data/server.log"

"$server" --listen "127.0.0.1:$port" --data-dir "$data" --ingest-secret "$secret" >"$log" 2>&1 &
spid=$!
lpid=""
cleanup() {
  [ -n "$lpid" ] && kill "$lpid" 2>/dev/null || true
  if [ "${DEMO_KEEP:-0}" != 1 ]; then kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; fi
}
trap cleanup EXIT INT TERM

url="http://127.0.0.1:$port"
i=0
until grep -q "listening on" "$log" 2>/dev/null; do
  i=$((i + 1))
  if [ $i -gt 100 ] || ! kill -0 "$spid" 2>/dev/null; then
    echo "demo: the server did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
echo "demo: server at $url (log: $log)"

key=$("$admin" --data-dir "$data" license create --days 1 --note demo)
echo "demo: licence $key"
uid=$(curl -fsS -H 'Content-Type: application/json' -d "{\"license_key\":\"$key\"}" "$url/auth/login" |
  sed -n 's/.*"user_id":"\([^"]*\)".*/\1/p')
[ -n "$uid" ] || { echo "demo: login failed" >&2; exit 1; }

if [ -x "$listen_bin" ]; then
  if pactl info >/dev/null 2>&1; then
    "$listen_bin" --server "$url" --key "$key" --seconds 40 &
  else
    echo "demo: no PulseAudio server here; the listener writes $data/demo.wav"
    "$listen_bin" --server "$url" --key "$key" --seconds 40 --wav "$data/demo.wav" &
  fi
  lpid=$!
  sleep 2
else
  echo "demo: (no listener built yet; watch the events with a WebSocket client at $url/ws/<ws_token>)"
fi

if [ -x "$replay_bin" ]; then
  "$replay_bin" play --server "$url" --secret "$secret" --channel "$uid" "$root/tools/replay/demo/demo.trace"
else
  # the demo stream, by hand: chat in Russian, Kazakh and English, gifts, a streak
  post() {
    curl -fsS -H "Authorization: Bearer $secret" -H 'Content-Type: application/json' -d "$1" \
      "$url/ingest/events" >/dev/null
    echo "demo: sent $1"
  }
  post "{\"channel\":\"$uid\",\"type\":\"chat\",\"user\":\"Aruka\",\"message\":\"Привет! Как дела?\"}"
  sleep 2
  post "{\"channel\":\"$uid\",\"type\":\"gift\",\"user\":\"Dana\",\"gift_name\":\"Rose\",\"count\":5}"
  sleep 1
  post "{\"channel\":\"$uid\",\"type\":\"chat\",\"user\":\"Mike\",\"message\":\"Hello from London, great stream!\"}"
  sleep 3
  post "{\"channel\":\"$uid\",\"type\":\"chat\",\"user\":\"Әлия\",\"message\":\"Сәлеметсіз бе! Қалайсыз?\"}"
  sleep 3
  for n in 1 2 3; do
    post "{\"channel\":\"$uid\",\"type\":\"gift\",\"user\":\"Timur\",\"user_id\":\"42\",\"gift_name\":\"Finger Heart\",\"gift_id\":5487,\"count\":1,\"repeat_count\":$n}"
  done
  post "{\"channel\":\"$uid\",\"type\":\"gift\",\"user\":\"Timur\",\"user_id\":\"42\",\"gift_name\":\"Finger Heart\",\"gift_id\":5487,\"count\":1,\"repeat_count\":3,\"repeat_end\":true}"
fi

[ -n "$lpid" ] && wait "$lpid" || sleep 2
curl -fsS "$url/metrics" | grep -E '^ttboost_(events|tts)_' || true
if [ "${DEMO_KEEP:-0}" = 1 ]; then
  echo "demo: the server keeps running at $url (pid $spid); licence $key"
fi
