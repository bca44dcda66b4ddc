#!/bin/sh
# One cluster test of tests/pg/cluster_nats.py against the real engines: brings
# a cluster up (scripts/cluster.sh: nats-server with JetStream, PostgreSQL, two
# nodes), runs the scenario with cluster.env's variables in its environment,
# and brings the cluster down whatever the outcome.
#   tests/pg/cluster_nats.sh BUILD_DIR fanout|failover|dedup|nats_restart
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$1
scenario=$2
dir=$(mktemp -d /tmp/ttb-cluster-nats.XXXXXX)
cleanup() {
  rc=$?
  if [ $rc -ne 0 ]; then
    for f in "$dir"/node1.log "$dir"/node2.log "$dir"/nats.log; do
      [ -f "$f" ] && { echo "--- $f (tail)" >&2; tail -n 30 "$f" >&2; }
    done
  fi
  [ -f "$dir/cluster.env" ] && BUILD=$build "$root/scripts/cluster.sh" down "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
  exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM
BUILD=$build "$root/scripts/cluster.sh" up "$dir" >/dev/null
set -a
. "$dir/cluster.env"
set +a
CLUSTER_DIR=$dir /usr/bin/python3 "$root/tests/pg/cluster_nats.py" "$scenario"
