#!/bin/sh
# The main job, in one command: installs what is missing (Debian packages),
# builds, starts ttboost-server on 127.0.0.1 with embedded defaults, makes a
# license, starts the desktop listener (ttboost-listen: PulseAudio when a
# sound server runs, else it writes var/demo/demo.wav) and replays the bundled
# demo stream (tools/replay/traces/demo.ttbtrace: chat in Russian, English
# and Kazakh, gifts and streaks) into the server with ttb-replay, which also
# checks that a client receives exactly what the trace expects. Then the same
# listener hears a TikTok LIVE through the server's own connector: ttb-replay
# --tiktok-serve plays the bundled TikTok trace (tools/replay/traces/
# tiktok-demo.ttbtrace) as a fake TikTok on 127.0.0.1, and the license is given
# that streamer's @username.
#
#   ./scripts/demo.sh                 # the demo (about 90 s), then everything stops
#   DEMO_SPEED=1 ./scripts/demo.sh    # at the recorded pace (about 3 minutes)
#   DEMO_KEEP=1 ./scripts/demo.sh     # keep the server running afterwards
#   PORT=9090 ./scripts/demo.sh       # another port (the fake TikTok takes PORT+1)
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
server="$root/build/server/ttboost-server"
admin="$root/build/server/ttboost-admin"
listen_bin="$root/build/mobile/core/tools/ttboost-listen"
replay_bin="$root/build/tools/replay/ttb-replay"
log="$data/server.log"

speed=${DEMO_SPEED:-2}
# the fake TikTok: the bundled TikTok trace, served once the connector joins
tport=$((port + 1))
tlog="$data/tiktok.log"
"$replay_bin" --tiktok-serve "$root/tools/replay/traces/tiktok-demo.ttbtrace" \
  --listen "127.0.0.1:$tport" --tiktok-user demo_streamer --speed "$speed" --end-after >"$tlog" 2>&1 &
tpid=$!
# /metrics is operator-only: a second listener on PORT+2 (docs/operations.md)
mport=$((port + 2))
murl="http://127.0.0.1:$mport"
# the operator's ingest secret: made by the server in $data/ingest_secret (never printed)
"$server" --listen "127.0.0.1:$port" --data-dir "$data" \
  --metrics-listen "127.0.0.1:$mport" \
  --tiktok-web "http://127.0.0.1:$tport" --tiktok-ws "ws://127.0.0.1:$tport" >"$log" 2>&1 &
spid=$!
lpid=""
cleanup() {
  [ -n "$lpid" ] && kill "$lpid" 2>/dev/null || true
  kill "$tpid" 2>/dev/null || true
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

# two devices: the listener and ttb-replay's checking client
key=$("$admin" --data-dir "$data" license create --days 1 --devices 2 --note demo 2>"$data/license.txt")
channel=$(sed -n 's/^license created: user_id \([^,]*\),.*/\1/p' "$data/license.txt")
echo "demo: license $key (channel $channel)"
# ttb-replay posts with an ingest token of that one channel, read from a file
(umask 077; "$admin" --data-dir "$data" ingest-token create --channel "$channel" --note demo >"$data/ingest_token")

if pactl info >/dev/null 2>&1; then
  echo "demo: playing through PulseAudio"
  "$listen_bin" --server "$url" --key "$key" --data-dir "$data/listener" </dev/null &
else
  echo "demo: no sound server here; the listener writes $data/demo.wav"
  "$listen_bin" --server "$url" --key "$key" --data-dir "$data/listener" --wav "$data/demo.wav" </dev/null &
fi
lpid=$!
sleep 2
if ! kill -0 "$lpid" 2>/dev/null; then
  echo "demo: the listener stopped (see above)" >&2
  exit 1
fi
secs=$(awk -v s="$speed" 'BEGIN { if (s > 0) printf "%d", 180 / s; else print "?" }')
echo "demo: replaying tools/replay/traces/demo.ttbtrace (about $secs s at ${speed}x)"
"$replay_bin" "$root/tools/replay/traces/demo.ttbtrace" --server "$url" --ingest-secret-file "$data/ingest_token" \
  --key "$key" --expect --speed "$speed"
sleep 5 # the last speech

# TikTok LIVE: the license gets the (fake) streamer's handle; the server picks
# it up within 5 s, joins the LIVE and the listener hears its chat and gifts.
echo "demo: now a TikTok LIVE through the server's connector (@demo_streamer, fake TikTok on 127.0.0.1:$tport)"
"$admin" --data-dir "$data" license set-tiktok "$key" demo_streamer >/dev/null
i=0
until curl -fsS "$murl/metrics" 2>/dev/null | grep -q '^ttboost_tiktok_connections{state="ended"} 1'; do
  i=$((i + 1))
  if [ $i -gt 180 ]; then
    echo "demo: the TikTok stream did not end in time; the fake says:" >&2
    cat "$tlog" >&2
    exit 1
  fi
  sleep 1
done
echo "demo: the TikTok stream ended"
sleep 5 # the last speech
kill -INT "$lpid" 2>/dev/null || true
wait "$lpid" 2>/dev/null || true
lpid=""
curl -fsS "$murl/metrics" | grep -E '^ttboost_(events|tts|tiktok)_' || true
if [ "${DEMO_KEEP:-0}" = 1 ]; then
  echo "demo: the server keeps running at $url (pid $spid); license $key"
fi
