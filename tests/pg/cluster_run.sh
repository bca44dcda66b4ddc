#!/bin/sh
# One cluster test against the real engines: brings a cluster up
# (scripts/cluster.sh: nats-server with JetStream, PostgreSQL, two nodes, a TTS
# worker), runs tests/pg/cluster_SUITE.py SCENARIO with cluster.env's variables
# in its environment, and brings the cluster down whatever the outcome (with
# the end of each log when it failed).
#   tests/pg/cluster_run.sh BUILD_DIR nats fanout|failover|dedup|nats_restart
#   tests/pg/cluster_run.sh BUILD_DIR tts remote|worker_killed|serve|no_worker|nats_restart
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$1
suite=$2
scenario=$3
[ -f "$root/tests/pg/cluster_$suite.py" ] || { echo "no such cluster suite: $suite" >&2; exit 2; }
dir=$(mktemp -d "/tmp/ttb-cluster-$suite.XXXXXX")
cleanup() {
  rc=$?
  if [ $rc -ne 0 ]; then
    for f in "$dir"/node1.log "$dir"/node2.log "$dir"/tts.log "$dir"/nats.log; do
      [ -f "$f" ] && { echo "--- $f (tail)" >&2; tail -n 30 "$f" >&2; }
    done
  fi
  [ -f "$dir/cluster.env" ] && BUILD=$build "$root/scripts/cluster.sh" down "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
  exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM
if [ "$suite" = tts ]; then
  # the speech tests read the nodes' /metrics, behind a token
  METRICS_TOKEN=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  export METRICS_TOKEN
  echo "$METRICS_TOKEN" >"$dir/metrics.token"
  export NODE_ARGS="--metrics-token-file $dir/metrics.token"
  case $scenario in
  worker_killed)
    # each output of the worker's engines 100 ms apart: the job lasts about 5 s
    # (within the nodes' 10 s deadline), long enough to kill its engine mid-way
    export TTB_TTS_WORKER_TEST_SLOW_MS=100
    ;;
  serve) export NODE2_ARGS="--tts-serve 1" ;;
  no_worker) NODE_ARGS="$NODE_ARGS --tts-deadline-ms 3000" ;; # the relays give up after 2.5 s
  esac
fi
BUILD=$build "$root/scripts/cluster.sh" up "$dir" >/dev/null
unset TTB_TTS_WORKER_TEST_SLOW_MS
set -a
. "$dir/cluster.env"
set +a
CLUSTER_DIR=$dir /usr/bin/python3 "$root/tests/pg/cluster_$suite.py" "$scenario"
