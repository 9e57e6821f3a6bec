#!/usr/bin/env bash
# A local PostgreSQL 15 cluster run by the unprivileged user (Postgres refuses to run as root).
#
#   scripts/pg.sh start DIR PORT   create DIR if needed (initdb) and start it; socket in DIR
#   scripts/pg.sh stop DIR         stop it (no error if not running)
#   scripts/pg.sh url DIR PORT     print a libpq URL for it
#
# The cluster listens on 127.0.0.1 and a Unix socket inside DIR only; trust auth for local
# connections, since only this machine's users reach it. Never for production.
set -euo pipefail
PG_BIN=/usr/lib/postgresql/15/bin
SMT_USER="${SMT_USER:-smt}"

as_user() {
  if [ "$(id -un)" = "$SMT_USER" ]; then "$@"; else sudo -u "$SMT_USER" -H -- "$@"; fi
}

cmd=${1:?usage: pg.sh start|stop|url DIR [PORT]}
dir=$(realpath -m "${2:?cluster directory}")
port=${3:-55432}

case "$cmd" in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown "$SMT_USER" "$dir"; fi
    chmod 700 "$dir"
    if [ ! -f "$dir/PG_VERSION" ]; then
      as_user "$PG_BIN/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
      cat >> "$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
port = $port
timezone = 'UTC'
fsync = off
CONF
    fi
    if as_user "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
      exit 0
    fi
    as_user "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -o "-p $port" start >/dev/null
    ;;
  stop)
    [ -f "$dir/PG_VERSION" ] || exit 0
    as_user "$PG_BIN/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
    ;;
  url)
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  *) echo "usage: pg.sh start|stop|url DIR [PORT]" >&2; exit 2 ;;
esac
