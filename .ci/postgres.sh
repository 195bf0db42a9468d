#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, on localhost, owned by a non-root user.
#
#   eval "$(bash .ci/postgres.sh)"   # install if missing, init, start; exports the DSN
#   bash .ci/postgres.sh stop        # stop the server and delete its files
#
# Installs the distribution's `postgresql` package when no server binaries are
# found (needs root and apt), creates a cluster under $REFLOW_PG_DIR (default
# ${TMPDIR:-/tmp}/reflow-ci-postgres-$port), starts it on 127.0.0.1:$REFLOW_PG_PORT
# (default 54329) as the `postgres` user when run as root (as the caller otherwise),
# creates the database $REFLOW_PG_DATABASE (default reflow_test) and prints
#   export REFLOW_TEST_POSTGRES_DSN=postgresql://reflow@127.0.0.1:54329/reflow_test
# on stdout (everything else goes to stderr). Running it again reuses the
# running server. The cluster trusts local connections and, unless
# REFLOW_PG_DURABLE=1, trades crash safety of the *server* for speed
# (fsync=off): it is a test fixture, never a place for real data.
set -euo pipefail

port="${REFLOW_PG_PORT:-54329}"
root="${REFLOW_PG_DIR:-${TMPDIR:-/tmp}/reflow-ci-postgres-$port}"
database="${REFLOW_PG_DATABASE:-reflow_test}"
superuser="reflow"
data="$root/data"

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

server_bindir() {
  # The newest installed server version (Debian keeps them side by side).
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$found" ] && [ -x "$found/initdb" ]; then
    echo "$found"
  elif command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  fi
}

as_owner() {
  # PostgreSQL refuses to run as root: run server commands as `postgres`.
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

bindir=$(server_bindir)

if [ "${1:-start}" = "stop" ]; then
  if [ -n "$bindir" ] && [ -f "$data/PG_VERSION" ]; then
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >&2 || true
  fi
  rm -rf "$root"
  log "stopped and removed $root"
  exit 0
fi

if [ -z "$bindir" ]; then
  [ "$(id -u)" -eq 0 ] || die "no PostgreSQL server binaries found and not root: install the 'postgresql' package"
  command -v apt-get >/dev/null 2>&1 || die "no PostgreSQL server binaries and no apt-get to install them"
  log "installing postgresql from the distribution's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  bindir=$(server_bindir)
  [ -n "$bindir" ] || die "postgresql installed but initdb/pg_ctl not found"
fi

if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

mkdir -p "$root"
[ "$(id -u)" -eq 0 ] && chown postgres "$root"
chmod 700 "$root"

if [ ! -f "$data/PG_VERSION" ]; then
  log "initializing a cluster in $data ($("$bindir/initdb" --version))"
  as_owner "$bindir/initdb" -D "$data" -U "$superuser" --auth=trust -E UTF8 --no-locale \
    --no-sync >"$root/initdb.log" 2>&1 || { cat "$root/initdb.log" >&2; die "initdb failed"; }
  {
    echo "# reflow-actors CI cluster"
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$root'"
    echo "max_connections = 300"
    echo "shared_buffers = 128MB"
    if [ "${REFLOW_PG_DURABLE:-0}" != "1" ]; then
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } | as_owner tee -a "$data/postgresql.conf" >/dev/null
fi

if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  log "server already running in $data"
else
  log "starting the server on 127.0.0.1:$port"
  as_owner "$bindir/pg_ctl" -D "$data" -l "$root/server.log" -w -t 60 start >&2 \
    || { tail -n 30 "$root/server.log" >&2 || true; die "pg_ctl start failed"; }
fi

psql_bin="$bindir/psql"
[ -x "$psql_bin" ] || psql_bin=$(command -v psql)
query() { "$psql_bin" -X -q -h 127.0.0.1 -p "$port" -U "$superuser" -d postgres -tA -c "$1"; }

for _ in $(seq 1 50); do
  query "SELECT 1" >/dev/null 2>&1 && break
  sleep 0.1
done
if [ "$(query "SELECT 1 FROM pg_database WHERE datname = '$database'")" != "1" ]; then
  query "CREATE DATABASE \"$database\"" >&2
  log "created database $database"
fi

echo "export REFLOW_TEST_POSTGRES_DSN=postgresql://$superuser@127.0.0.1:$port/$database"
