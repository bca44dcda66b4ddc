#!/bin/sh
# A local TTBoost cluster on loopback, for tests and for trying it:
#
#   scripts/cluster.sh up DIR            start it; writes DIR/cluster.env
#   scripts/cluster.sh down DIR          stop everything `up DIR` started
#   scripts/cluster.sh restart-nats DIR  stop nats-server and start it again
#                                        (same port, same data; for failure tests)
#   scripts/cluster.sh restart-node DIR N  stop node N (if it runs) and start it
#                                        again (same data dir, a new port: NODEn_URL
#                                        and NODEn_PID are rewritten in cluster.env)
#   scripts/cluster.sh restart-tts DIR   stop the TTS worker (if it runs) and start it
#                                        again (TTS_PID rewritten)
#   scripts/cluster.sh stop-tts DIR      stop the TTS worker (TTS_PID emptied)
#
# What runs:
#   - nats-server 2.9 with JetStream on, on 127.0.0.1 and a free port, its data
#     in DIR/nats (log DIR/nats.log);
#   - PostgreSQL 15: initdb in a temp dir, on 127.0.0.1 and a free port, run as an
#     unprivileged user (`nobody` when this runs as root), trust authentication
#     for local connections only;
#   - two ttboost-server nodes on free 127.0.0.1 ports, both with --db on that
#     PostgreSQL and --nats on that nats-server (data dirs DIR/node1 and
#     DIR/node2, logs DIR/nodeN.log): a socket on either node receives what
#     either node ingests, with the same seq (docs/scaling.md);
#   - a TTS worker, `ttboost-tts-worker --nats NATS_URL --procs 2 -v` (log
#     DIR/tts.log): two espeak-ng engines serving the ttb.tts queue group, and
#     both nodes with `--tts-workers 0 --tts-remote 4`: their speech is made by
#     that worker, over NATS (docs/scaling.md, "Speech across nodes").
#
# Environment: NODE_ARGS more options for both nodes (e.g. --history 50);
# NODE2_ARGS more for node 2 only; TTS_ARGS the worker's options (default
# "--procs 2 -v"); TTS=local: no TTS worker, the nodes make their speech
# themselves (local workers, as a single node does); NATS=no: no nats-server,
# no TTS worker, nodes without --nats (a baseline).
#
# DIR/cluster.env is a shell file of NAME=value lines:
#   NODE1_URL NODE2_URL NODE1_PID NODE2_PID NATS_URL NATS_PID TTS_PID DB_URL
#   TTBOOST_INGEST_SECRET ADMIN
#   (and PG_DIR, PG_BIN: where PostgreSQL runs, for `down`; TTS_MODE: remote or
#   local, for restart-node)
# so that  . DIR/cluster.env; $ADMIN license create --days 30  works.
#
# Binaries from BUILD (default: build, from the repository root), built first
# when missing (ninja -C BUILD).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
case $build in /*) ;; *) build=$root/$build ;; esac

usage() {
  sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}
die() { echo "cluster.sh: $*" >&2; exit 1; }
[ $# -eq 2 ] || { [ $# -eq 3 ] && [ "$1" = restart-node ]; } || usage
NODE_ARGS=${NODE_ARGS:-}   # more options for both nodes (e.g. --history 50)
NODE2_ARGS=${NODE2_ARGS:-} # more options for node 2 only (e.g. --tts-serve 1)
NATS=${NATS:-yes}          # no: no nats-server, nodes without --nats (as before issue 14's events)
TTS=${TTS:-remote}         # local: no TTS worker, each node makes its own speech
TTS_ARGS=${TTS_ARGS:---procs 2 -v}
[ "$NATS" = no ] && TTS=local
cmd=$1
dir=$2
case $dir in /*) ;; *) dir=$(pwd)/$dir ;; esac

pg_bindir() {
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/postgres" ] && b=$d
  done
  [ -n "${b:-}" ] || die "PostgreSQL server binaries not found: install the Debian package postgresql"
  echo "$b"
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}

nats_bin() {
  command -v nats-server 2>/dev/null || die "nats-server not found: install the Debian package nats-server"
}

# Starts nats-server with JetStream on 127.0.0.1:$nats_port, data in DIR/nats;
# sets nats_pid once it accepts connections.
start_nats() {
  mkdir -p "$dir/nats"
  nohup "$(nats_bin)" -js -sd "$dir/nats" -a 127.0.0.1 -p "$nats_port" >>"$dir/nats.log" 2>&1 &
  nats_pid=$!
  i=0
  while [ $i -lt 100 ]; do
    kill -0 "$nats_pid" 2>/dev/null || { cat "$dir/nats.log" >&2; die "nats-server did not start"; }
    /usr/bin/python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
      "$nats_port" 2>/dev/null && return 0
    sleep 0.1
    i=$((i + 1))
  done
  kill "$nats_pid"
  die "nats-server did not listen on 127.0.0.1:$nats_port (see $dir/nats.log)"
}

stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  i=0
  while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  kill -KILL "$1" 2>/dev/null || true
}

# Starts node N (1 or 2); sets nodeN_url, nodeN_pid.
start_node() {
  n=$1
  log=$dir/node$n.log
  mkdir -p "$dir/node$n"
  tts_opts=
  [ "$TTS" = local ] || tts_opts="--tts-workers 0 --tts-remote 4"
  extra=
  [ "$n" = 2 ] && extra=$NODE2_ARGS
  TTBOOST_INGEST_SECRET=$secret nohup "$build/server/ttboost-server" --listen 127.0.0.1:0 \
    --data-dir "$dir/node$n" --db "$db_url" ${nats_url:+--nats "$nats_url"} $tts_opts $NODE_ARGS \
    $extra >"$log" 2>&1 &
  pid=$!
  i=0
  url=
  while [ $i -lt 100 ]; do
    url=$(sed -n 's/^ttboost-server: listening on \([^ ]*\) .*/\1/p' "$log" 2>/dev/null | head -n1)
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "node $n did not start"; }
    sleep 0.1
    i=$((i + 1))
  done
  [ -n "$url" ] || { kill "$pid"; die "node $n did not say where it listens (see $log)"; }
  eval "node${n}_url=\$url node${n}_pid=\$pid"
}

# Starts the TTS worker (TTS_ARGS); sets tts_pid once its engines are connected.
start_tts() {
  nohup "$build/server/ttboost-tts-worker" --nats "$nats_url" $TTS_ARGS >>"$dir/tts.log" 2>&1 &
  tts_pid=$!
  i=0
  while [ $i -lt 100 ]; do
    kill -0 "$tts_pid" 2>/dev/null || { cat "$dir/tts.log" >&2; die "the TTS worker did not start"; }
    grep -q "engine: nats: connected" "$dir/tts.log" 2>/dev/null && return 0
    sleep 0.1
    i=$((i + 1))
  done
  kill "$tts_pid"
  die "the TTS worker did not connect to NATS (see $dir/tts.log)"
}

up() {
  [ -e "$dir/cluster.env" ] && die "$dir/cluster.env exists: is a cluster up? ($0 down $dir)"
  mkdir -p "$dir"
  if [ ! -x "$build/server/ttboost-server" ] || [ ! -x "$build/server/ttboost-admin" ] ||
    [ ! -x "$build/server/ttboost-tts-worker" ]; then
    [ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
    ninja -C "$build" >/dev/null
  fi
  bin=$(pg_bindir)
  pgdir=$(mktemp -d /tmp/ttbcluster-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown nobody "$pgdir"
  port=$(free_port)
  as_pg "$bin/initdb" -D "$pgdir/data" -U ttb -A trust -E UTF8 >"$pgdir/initdb.log" 2>&1 ||
    { cat "$pgdir/initdb.log" >&2; die "initdb failed"; }
  as_pg "$bin/pg_ctl" -D "$pgdir/data" -l "$pgdir/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$pgdir" start >/dev/null ||
    { cat "$pgdir/postgres.log" >&2; die "PostgreSQL did not start"; }
  db_url="postgresql://ttb@127.0.0.1:$port/postgres"
  secret=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
  nats_port=$(free_port)
  nats_url="nats://127.0.0.1:$nats_port"
  # written before the nodes start, so that `down` can stop what did start
  {
    echo "PG_DIR=$pgdir"
    echo "PG_BIN=$bin"
    echo "DB_URL=$db_url"
    echo "TTS_MODE=$TTS"
  } >"$dir/cluster.env"
  if [ "$NATS" = no ]; then
    nats_url=
    echo "TTS_PID=" >>"$dir/cluster.env"
  else
    start_nats
    {
      echo "NATS_URL=$nats_url"
      echo "NATS_PID=$nats_pid"
    } >>"$dir/cluster.env"
    if [ "$TTS" = local ]; then
      echo "TTS_PID=" >>"$dir/cluster.env"
    else
      start_tts
      echo "TTS_PID=$tts_pid" >>"$dir/cluster.env"
    fi
  fi
  start_node 1
  echo "NODE1_URL=$node1_url" >>"$dir/cluster.env"
  echo "NODE1_PID=$node1_pid" >>"$dir/cluster.env"
  start_node 2
  {
    echo "NODE2_URL=$node2_url"
    echo "NODE2_PID=$node2_pid"
    echo "TTBOOST_INGEST_SECRET=$secret"
    echo "ADMIN=\"$build/server/ttboost-admin --db $db_url\""
  } >>"$dir/cluster.env"
  chmod 600 "$dir/cluster.env" # it holds the ingest secret
  echo "cluster.sh: up: node 1 $node1_url, node 2 $node2_url, PostgreSQL $db_url, NATS $nats_url"
  echo "cluster.sh: . $dir/cluster.env; \$ADMIN license create --days 30"
}

down() {
  [ -f "$dir/cluster.env" ] || die "no $dir/cluster.env: nothing to stop"
  NODE1_PID= NODE2_PID= PG_DIR= PG_BIN= NATS_PID= TTS_PID=
  . "$dir/cluster.env"
  for p in $NODE1_PID $NODE2_PID $TTS_PID; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in $NODE1_PID $NODE2_PID $TTS_PID; do
    stop_pid "$p"
  done
  [ -n "$NATS_PID" ] && stop_pid "$NATS_PID"
  rm -rf "$dir/nats"
  if [ -n "$PG_DIR" ] && [ -d "$PG_DIR/data" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
  rm -f "$dir/cluster.env"
  echo "cluster.sh: down"
}

restart_node() {
  [ -f "$dir/cluster.env" ] || die "no $dir/cluster.env: no cluster"
  n=$1
  case $n in 1 | 2) ;; *) die "restart-node: N is 1 or 2" ;; esac
  DB_URL= NATS_URL= TTBOOST_INGEST_SECRET= TTS_MODE=
  . "$dir/cluster.env"
  TTS=${TTS_MODE:-$TTS}
  eval "old=\${NODE${n}_PID:-}"
  [ -n "$old" ] && stop_pid "$old"
  db_url=$DB_URL nats_url=$NATS_URL secret=$TTBOOST_INGEST_SECRET
  mv "$dir/node$n.log" "$dir/node$n.log.old" 2>/dev/null || true
  start_node "$n"
  eval "url=\$node${n}_url pid=\$node${n}_pid"
  sed -i -e "s|^NODE${n}_URL=.*|NODE${n}_URL=$url|" -e "s|^NODE${n}_PID=.*|NODE${n}_PID=$pid|" "$dir/cluster.env"
  echo "cluster.sh: node $n restarted: $url (pid $pid)"
}

restart_nats() {
  [ -f "$dir/cluster.env" ] || die "no $dir/cluster.env: no cluster"
  NATS_PID= NATS_URL=
  . "$dir/cluster.env"
  [ -n "$NATS_PID" ] || die "no NATS_PID in $dir/cluster.env"
  stop_pid "$NATS_PID"
  nats_port=${NATS_URL##*:}
  start_nats
  sed -i "s/^NATS_PID=.*/NATS_PID=$nats_pid/" "$dir/cluster.env"
  echo "cluster.sh: nats-server restarted ($NATS_URL, pid $nats_pid)"
}

stop_tts() {
  [ -f "$dir/cluster.env" ] || die "no $dir/cluster.env: no cluster"
  TTS_PID=
  . "$dir/cluster.env"
  [ -n "$TTS_PID" ] && stop_pid "$TTS_PID"
  if grep -q "^TTS_PID=" "$dir/cluster.env"; then
    sed -i "s/^TTS_PID=.*/TTS_PID=/" "$dir/cluster.env"
  else
    echo "TTS_PID=" >>"$dir/cluster.env"
  fi
}

restart_tts() {
  stop_tts
  NATS_URL=
  . "$dir/cluster.env"
  [ -n "$NATS_URL" ] || die "no NATS_URL in $dir/cluster.env (NATS=no)"
  nats_url=$NATS_URL
  mv "$dir/tts.log" "$dir/tts.log.old" 2>/dev/null || true
  start_tts
  sed -i "s/^TTS_PID=.*/TTS_PID=$tts_pid/" "$dir/cluster.env"
  echo "cluster.sh: TTS worker restarted (pid $tts_pid)"
}

case $cmd in
up) up ;;
stop-tts) stop_tts && echo "cluster.sh: TTS worker stopped" ;;
restart-tts) restart_tts ;;
down) down ;;
restart-nats) restart_nats ;;
restart-node) restart_node "$3" ;;
*) usage ;;
esac
