#!/bin/sh
# cluster-fanout: fanout-bench through NATS JetStream on two nodes of this
# machine, beside the same bench against one node (docs/benchmarks.md,
# "Two nodes: fanout-bench --cluster").
#
#   tools/bench/cluster_fanout.sh [--single] [fanout-bench options...]
#
# Brings a cluster up (scripts/cluster.sh: nats-server, PostgreSQL, two nodes
# with --nats) in a temp dir, runs `fanout-bench --cluster DIR` with the given
# options (each channel's 2 sockets: one on each node; ingest on node 1), and
# brings it down. --single runs the same bench against one node that the
# bench starts itself (SQLite, no NATS) with journal-sync=no, the baseline:
# JetStream's file store does not sync each message either.
# BUILD (default build) says where the binaries are.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build}
case $build in /*) ;; *) build=$root/$build ;; esac
bench=$build/tools/bench/fanout-bench
[ -x "$bench" ] || { echo "cluster-fanout: $bench not built (ninja -C $build)" >&2; exit 1; }
if [ "${1:-}" = --single ]; then
  shift
  exec "$bench" --server "$build/server/ttboost-server" --admin "$build/server/ttboost-admin" \
    --server-opt journal-sync=no "$@"
fi
dir=$(mktemp -d /tmp/ttb-cluster-fanout.XXXXXX)
cleanup() {
  BUILD=$build "$root/scripts/cluster.sh" down "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
# the fan-out is measured, not the per-license socket limits
BUILD=$build NODE_ARGS="--sockets-per-device 0 --max-sockets-per-license 0 ${NODE_ARGS:-}" \
  "$root/scripts/cluster.sh" up "$dir" >&2
"$bench" --cluster "$dir" "$@"
