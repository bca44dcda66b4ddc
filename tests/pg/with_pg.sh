#!/bin/sh
# Runs a command against a real PostgreSQL of its own: initdb in a temp dir,
# postgres listening only on a unix socket in that dir (no TCP port), run as
# an unprivileged user (as root: `nobody`, PostgreSQL refuses root), trust
# authentication. The command gets TTB_TEST_DB_URL (postgresql://… of the
# database "postgres", superuser "ttb") and TTB_TEST_PG_DIR; the server is
# stopped and the dir removed afterwards, whatever the command's outcome.
#
#   tests/pg/with_pg.sh COMMAND [ARGS...]
#
# Missing PostgreSQL binaries are an error, never a skip: install the
# Debian package `postgresql` (scripts/deps.txt).
set -eu
bindir=${TTB_PG_BINDIR:-}
if [ -z "$bindir" ]; then
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/postgres" ] && bindir=$d
  done
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/pg_ctl" ]; then
  echo "with_pg.sh: PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin):" \
       "install the Debian package postgresql (scripts/deps.txt)" >&2
  exit 1
fi
dir=$(mktemp -d /tmp/ttbpg.XXXXXX)
as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  chown nobody "$dir"
  as_pg() { runuser -u nobody -- "$@"; }
fi
stop() {
  as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT INT TERM
if ! as_pg "$bindir/initdb" -D "$dir/data" -U ttb -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1; then
  cat "$dir/initdb.log" >&2
  exit 1
fi
# fsync off: a test database; max_connections for servers, admins and tests at once
if ! as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-c listen_addresses= -c unix_socket_directories=$dir -c fsync=off -c max_connections=200" \
    start >/dev/null; then
  cat "$dir/postgres.log" >&2
  exit 1
fi
export TTB_TEST_PG_DIR="$dir"
export TTB_TEST_DB_URL="postgresql:///postgres?host=$dir&user=ttb"
set +e
"$@"
rc=$?
set -e
exit $rc
