#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests of the search's PostgreSQL storage
# (tests/postgres.rs) and for the load benchmark (README, "Workers on several machines").
#
#   postgres-test-server.sh install            apt-get install postgresql, only if no server binaries
#   postgres-test-server.sh start DIR [--owner PID]
#                                              create (first time) and start a server in DIR, on a free
#                                              loopback port, its socket in DIR/sock; print its URL.
#                                              With --owner, stop it and remove DIR once PID exits.
#   postgres-test-server.sh stop DIR           stop the server of DIR (nothing if it is not running)
#   postgres-test-server.sh sql URL STATEMENT  run one SQL statement (psql), print the rows
#   postgres-test-server.sh bindir             print the folder of the server binaries
#
# The server binaries are looked for in $ZOO_POSTGRES_BIN, /usr/lib/postgresql/*/bin (newest
# first), then on PATH. initdb and the server refuse to run as root: as root they run as the
# `postgres` user (which the postgresql package creates), and DIR is given to that user.
# Authentication is `trust` on 127.0.0.1 only; the user is `postgres`, the database `postgres`.
set -euo pipefail

die() {
  echo "postgres-test-server: $*" >&2
  exit 1
}

bindir() {
  local dir
  if [ -n "${ZOO_POSTGRES_BIN:-}" ] && [ -x "$ZOO_POSTGRES_BIN/initdb" ]; then
    echo "$ZOO_POSTGRES_BIN"
    return 0
  fi
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return 0
    fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  return 1
}

# Runs a command as the postgres user when this script runs as root.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  die "no free loopback port found"
}

start() {
  local dir="$1" owner="${2:-}" bin port
  bin="$(bindir)" || die "no PostgreSQL server binaries (initdb, pg_ctl): run '$0 install' or set ZOO_POSTGRES_BIN"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  mkdir -p "$dir/sock"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' user to run the server"
    chown -R postgres: "$dir"
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
      die "initdb failed: $(tail -5 "$dir/initdb.log")"
  fi
  # A restart keeps its port, so the URL the workers hold stays right.
  port=""
  if [ -f "$dir/port" ] && as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    port="$(cat "$dir/port")" # already running
  fi
  for _ in 1 2 3 4 5; do
    [ -z "$port" ] || break
    if [ -f "$dir/port" ]; then port="$(cat "$dir/port")"; else port="$(free_port)"; fi
    if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir/sock -h 127.0.0.1 -c max_connections=200" start >/dev/null 2>&1; then
      as_pg sh -c "echo $port > '$dir/port'"
      break
    fi
    [ -f "$dir/port" ] && die "the server did not start on its port $port: $(tail -5 "$dir/server.log")"
    port=""
  done
  [ -n "$port" ] || die "the server did not start: $(tail -5 "$dir/server.log")"
  if [ -n "$owner" ]; then
    # The owner (a test process) may die without stopping the server: stop it then.
    local self
    self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
    setsid nohup bash -c "while kill -0 $owner 2>/dev/null; do sleep 1; done
      '$self' stop '$dir'; rm -rf '$dir'" </dev/null >/dev/null 2>&1 &
  fi
  echo "postgresql://postgres@127.0.0.1:$port/postgres"
}

stop() {
  local dir="$1" bin
  [ -f "$dir/data/postmaster.pid" ] || return 0
  bin="$(bindir)" || die "no PostgreSQL server binaries"
  as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

case "${1:-}" in
  install)
    if ! bindir >/dev/null; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
      bindir >/dev/null || die "apt-get installed postgresql but no initdb was found"
    fi
    ;;
  start)
    [ $# -ge 2 ] || die "usage: $0 start DIR [--owner PID]"
    owner=""
    if [ "${3:-}" = "--owner" ]; then owner="${4:?--owner needs a process id}"; fi
    start "$2" "$owner"
    ;;
  stop)
    [ $# -ge 2 ] || die "usage: $0 stop DIR"
    stop "$2"
    ;;
  sql)
    [ $# -ge 3 ] || die "usage: $0 sql URL STATEMENT"
    bin="$(bindir)" || die "no PostgreSQL binaries"
    "$bin/psql" "$2" -X -q -t -A -v ON_ERROR_STOP=1 -c "$3"
    ;;
  bindir)
    bindir || die "no PostgreSQL server binaries"
    ;;
  *)
    die "usage: $0 install | start DIR [--owner PID] | stop DIR | sql URL STATEMENT | bindir"
    ;;
esac
