#!/bin/sh
# Runs every libFuzzer target of tests/fuzz for SECONDS each (default 30) and
# fails on any crash, leak, timeout, property failure or sanitizer report.
#
#   tests/fuzz/smoke.sh BUILD_DIR [SECONDS]
#
# BUILD_DIR was configured with CC=clang and -Dfuzzing=true. SECONDS=0 runs
# only the seeds and the regression inputs, once each (what `meson test
# --suite fuzz` does). Seeds: tests/vectors/*.json and *.pb by message type
# (tests/vectors/index.txt), tests/fuzz/corpus/<target>/, and the reproducers
# in tests/fuzz/regressions/<target>/. They are copied into a temporary
# corpus, so the repository is never written; on failure the temporary
# directory (logs, crash inputs) is kept and named.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 BUILD_DIR [SECONDS]" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
secs=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
vectors=$root/tests/vectors
bin=$build/tests/fuzz
dict=$here/json.dict

[ -x "$bin/fuzz-json-server-message" ] || {
  echo "smoke.sh: no fuzz targets in $bin (configure with CC=clang -Dfuzzing=true)" >&2
  exit 2
}

work=$(mktemp -d "${TMPDIR:-/tmp}/ttb-fuzz.XXXXXX")
failed=""

# Vectors of message type $1 with extension $2 (from index.txt).
vectors_of() {
  [ -f "$vectors/index.txt" ] || return 0
  awk -v t="$1" '$2 == t { print $1 }' "$vectors/index.txt" | while read -r v; do
    [ -f "$vectors/$v.$2" ] && echo "$vectors/$v.$2"
  done
  return 0
}

# seed TARGET TYPE EXT: fills $work/TARGET/corpus.
seed() {
  c=$work/$1/corpus
  mkdir -p "$c"
  for f in $(vectors_of "$2" "$3"); do
    cp "$f" "$c/"
  done
  if [ -d "$here/corpus/$1" ]; then
    cp "$here/corpus/$1"/* "$c/" 2>/dev/null || true
  fi
}

run() {
  t=$1
  shift
  d=$work/$t
  mkdir -p "$d/artifacts"
  regs=""
  if [ -d "$here/regressions/$t" ] && [ -n "$(ls -A "$here/regressions/$t")" ]; then
    regs=$here/regressions/$t
  fi
  if [ "$secs" = 0 ]; then
    # Each seed and regression input once.
    set -- "$@" $(ls "$d/corpus"/* 2>/dev/null) $( [ -n "$regs" ] && ls "$regs"/*)
  else
    # Regression inputs first (run once each), then fuzz from the seeds.
    if [ -n "$regs" ]; then
      if ! "$bin/$t" -rss_limit_mb=2048 -timeout=10 "$regs"/* >"$d/regressions.log" 2>&1; then
        echo "FAIL  $t: a regression input fails (log: $d/regressions.log)"
        grep -E "ERROR:|runtime error|property failed|Sanitizer" "$d/regressions.log" | head -5 | sed 's/^/      /'
        failed="$failed $t"
        return 0
      fi
    fi
    set -- "$@" -max_total_time="$secs" -print_final_stats=1 "$d/corpus"
  fi
  if "$bin/$t" -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$d/artifacts/" "$@" \
      >"$d/log" 2>&1 &&
    ! grep -qE "ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|property failed" "$d/log"; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$d/log" | tail -1)
    echo "ok    $t${execs:+ ($execs runs)}"
  else
    echo "FAIL  $t (log: $d/log; inputs: $d/artifacts/)"
    grep -E "ERROR:|runtime error|property failed|SUMMARY" "$d/log" | head -5 | sed 's/^/      /'
    failed="$failed $t"
  fi
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# JSON decoders (both flavours in each target).
for pair in server-message:ServerMessage client-message:ClientMessage \
  ingest-event:IngestEvent login-request:LoginRequest tts-request:TtsRequest \
  tiktok-settings:TiktokSettings trace-record:TraceRecord \
  overlay-token-request:OverlayTokenRequest overlay-token-revoke:OverlayTokenRevoke \
  channel-settings:ChannelSettings; do
  seed "fuzz-json-${pair%%:*}" "${pair#*:}" json
done
# The ingest batch: each ingest vector alone, and all of them in one array.
seed fuzz-json-ingest-batch IngestEvent json
(
  printf '['
  sep=''
  for f in $(vectors_of IngestEvent json); do
    printf '%s' "$sep"
    tr -d '\n' <"$f"
    sep=','
  done
  printf ']'
) >"$work/fuzz-json-ingest-batch/corpus/batch-all.json"
# The reader alone, against its oracle: every JSON vector.
for ty in ServerMessage ClientMessage IngestEvent LoginRequest TtsRequest TiktokSettings TiktokInfo TraceRecord \
  OverlayTokenRequest OverlayTokenRevoke OverlayTokenList; do
  seed fuzz-json-reader "$ty" json
done
# Binary decoders.
for pair in server-message:ServerMessage client-message:ClientMessage \
  ingest-event:IngestEvent trace-record:TraceRecord; do
  seed "fuzz-bin-${pair%%:*}" "${pair#*:}" pb
done
# The binary ingest batch: every ingest vector with its length prefix, in one batch.
mkdir -p "$work/fuzz-bin-ingest-batch/corpus"
/usr/bin/python3 - "$work/fuzz-bin-ingest-batch/corpus/batch-all.bin" $(vectors_of IngestEvent pb) <<'PY'
import sys
out = bytearray()
for path in sys.argv[2:]:
    b = open(path, 'rb').read()
    n = len(b)
    while True:
        c = n & 0x7F
        n >>= 7
        out.append(c | (0x80 if n else 0))
        if not n:
            break
    out += b
open(sys.argv[1], 'wb').write(out)
PY

for t in fuzz-json-server-message fuzz-json-client-message fuzz-json-ingest-event \
  fuzz-json-ingest-batch fuzz-json-login-request fuzz-json-tts-request fuzz-json-tiktok-settings \
  fuzz-json-overlay-token-request fuzz-json-overlay-token-revoke fuzz-json-channel-settings \
  fuzz-json-trace-record fuzz-json-reader; do
  if [ "$secs" = 0 ]; then run "$t"; else run "$t" -dict="$dict"; fi
done
for t in fuzz-bin-server-message fuzz-bin-client-message fuzz-bin-ingest-event \
  fuzz-bin-trace-record fuzz-bin-ingest-batch; do
  run "$t"
done
# The TikTok connector's decoders: push frames, room lookups (seeds in corpus/).
seed fuzz-webcast-frame none none
run fuzz-webcast-frame
seed fuzz-webcast-lookup none none
if [ "$secs" = 0 ]; then run fuzz-webcast-lookup; else run fuzz-webcast-lookup -dict="$dict"; fi
# the channel of a NATS subject (--nats; corpus/).
seed fuzz-nats-subject none none
run fuzz-nats-subject
# tools/common's client: upgrade answers and JSON lookups (corpus/).
seed fuzz-tc none none
run fuzz-tc
# The client's incremental Ogg Opus decoder: small Ogg Opus files (corpus/).
seed fuzz-ogg-opus none none
run fuzz-ogg-opus
# The speech worker's protocol: recorded worker output (seeds in corpus/).
seed fuzz-tts-worker none none
run fuzz-tts-worker
# Speech over NATS: a worker's messages as a relay checks them (corpus/).
seed fuzz-ttsr none none
run fuzz-ttsr
# The upload converter of POST /me/sounds: small WAV, Ogg Opus and MP3 files (corpus/).
seed fuzz-sndconv none none
run fuzz-sndconv

if [ -n "$failed" ]; then
  echo "smoke.sh: FAILED:$failed (kept $work)"
  exit 1
fi
rm -rf "$work"
echo "smoke.sh: all targets clean (${secs}s each)"
