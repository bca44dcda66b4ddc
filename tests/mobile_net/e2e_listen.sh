#!/bin/sh
# End to end: ttboost-listen plays a live stream from the real server into a
# PulseAudio null sink (a private pulseaudio started here), recorded back
# with parec; speech energy must be where it is expected (silence before the
# chat is ingested, speech after it), in JSON and in binary mode.
#
#   e2e_listen.sh LISTEN SERVER ADMIN
#
# Exit 77 (skipped) when pulseaudio/parec are missing or will not start here.
set -eu

LISTEN=$1 SERVER=$2 ADMIN=$3
for p in pulseaudio parec pactl python3; do
    command -v "$p" >/dev/null 2>&1 || { echo "skip: $p not installed"; exit 77; }
done

tmp=$(mktemp -d /tmp/ttb-e2e-XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# A private PulseAudio: its own runtime dir, a null sink, no real devices.
export HOME="$tmp" XDG_RUNTIME_DIR="$tmp/run" XDG_CONFIG_HOME="$tmp/cfg" PULSE_RUNTIME_PATH="$tmp/run/pulse"
mkdir -p "$tmp/run/pulse" "$tmp/cfg"
chmod 700 "$tmp/run"
pulseaudio -n --daemonize=no --exit-idle-time=-1 --disable-shm=yes --use-pid-file=no \
    --load="module-native-protocol-unix" \
    --load="module-null-sink sink_name=ttb rate=48000 channels=2" \
    >"$tmp/pulse.log" 2>&1 &
pids="$pids $!"
ok=0
for _ in $(seq 1 50); do
    if pactl info >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.1
done
if [ $ok -ne 1 ]; then
    echo "skip: pulseaudio did not start:"; cat "$tmp/pulse.log"; exit 77
fi
pactl set-default-sink ttb

# The server and a license.
TTBOOST_INGEST_SECRET=e2e-secret "$SERVER" --listen 127.0.0.1:0 --data-dir "$tmp/srv" >"$tmp/server.log" 2>&1 &
pids="$pids $!"
port=""
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/server.log" | head -n1)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { echo "FAIL: the server did not start"; cat "$tmp/server.log"; exit 1; }
url="http://127.0.0.1:$port"

ingest() { # channel json-tail
    python3 - "$url" "$1" "$2" <<'EOF'
import json, sys, urllib.request
url, channel, tail = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
tail["channel"] = channel
req = urllib.request.Request(url + "/ingest/events", data=json.dumps(tail).encode(),
                             headers={"Authorization": "Bearer e2e-secret", "Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10) as r:
    assert r.status == 202, r.status
EOF
}

run_case() { # name extra-listener-flags
    name=$1; shift
    key=$("$ADMIN" --data-dir "$tmp/srv" license create --days 30 2>"$tmp/admin.err")
    user=$(sed -n 's/.*user_id \([0-9a-f-]*\).*/\1/p' "$tmp/admin.err" | head -n1)
    [ -n "$key" ] && [ -n "$user" ] || { echo "FAIL: no license"; cat "$tmp/admin.err"; exit 1; }

    rec="$tmp/$name.raw"
    parec -d ttb.monitor --rate=48000 --channels=2 --format=s16le --raw --latency-msec=20 \
        >"$rec" 2>"$tmp/parec.log" &
    parec_pid=$!
    pids="$pids $parec_pid"
    for _ in $(seq 1 50); do
        [ "$(wc -c <"$rec")" -gt 0 ] && break
        sleep 0.1
    done
    "$LISTEN" --server "$url" --key "$key" --seconds 14 --data-dir "$tmp" --device "e2e-$name" "$@" \
        >"$tmp/$name.out" 2>&1 &
    listen_pid=$!
    pids="$pids $listen_pid"
    for _ in $(seq 1 100); do
        grep -q "state connected" "$tmp/$name.out" && break
        sleep 0.1
    done
    grep -q "state connected" "$tmp/$name.out" || { echo "FAIL: $name: not connected"; cat "$tmp/$name.out"; exit 1; }
    sleep 2 # two seconds of silence first
    # where the recording is when the chat goes in (48 kHz stereo s16: 192000 B/s)
    pos_chat=$(( $(wc -c <"$rec") ))
    ingest "$user" '{"type":"chat","user":"Aruka","message":"Hello everyone, this is a test of the listener."}'
    wait "$listen_pid" || { echo "FAIL: $name: the listener failed"; cat "$tmp/$name.out"; exit 1; }
    kill "$parec_pid" 2>/dev/null || true
    wait "$parec_pid" 2>/dev/null || true
    cat "$tmp/$name.out"
    grep -q "chat #1 Aruka: Hello everyone" "$tmp/$name.out" || { echo "FAIL: $name: the chat was not shown"; exit 1; }

    # Energy in 100 ms blocks: quiet before the chat, speech within 5 s after it.
    python3 - "$rec" "$pos_chat" "$name" <<'EOF'
import array, math, sys
path, pos, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
a = array.array("h")
with open(path, "rb") as f:
    data = f.read()
a.frombytes(data[: (len(data) // 4) * 4])
if sys.byteorder != "little":
    a.byteswap()
block = 4800 * 2  # 100 ms of stereo
rms = []
for i in range(0, len(a) - block + 1, block):
    s = a[i:i + block]
    rms.append(math.sqrt(sum(x * x for x in s) / len(s)))
chat = pos / 192000.0  # seconds into the recording when the chat was ingested
before = [r for k, r in enumerate(rms) if k * 0.1 < chat - 0.2]
after = [r for k, r in enumerate(rms) if chat <= k * 0.1 < chat + 6.0]
loud_before = max(before) if before else 0.0
loud_after = sum(1 for r in after if r > 1000)
first = next((k * 0.1 - chat for k, r in enumerate(rms) if k * 0.1 >= chat and r > 1000), None)
print("%s: %.1f s recorded, chat at %.1f s, max rms before %.0f, %d loud blocks after, speech %.2f s after the chat"
      % (name, len(a) / 96000.0, chat, loud_before, loud_after, first if first is not None else -1))
if len(before) < 8:
    sys.exit("FAIL: too little recorded before the chat")
if loud_before > 300:
    sys.exit("FAIL: sound before the chat")
if loud_after < 5:
    sys.exit("FAIL: no speech after the chat")
EOF
}

run_case json
run_case binary --binary
echo "e2e: ok"
