#!/usr/bin/env bash
# Citus 13 for Debian's PostgreSQL 15, and a local three-node Citus cluster run by the unprivileged
# user (Postgres refuses to run as root): a coordinator and two workers on loopback ports.
#
#   scripts/citus.sh install                 the build dependencies (apt-get, only what is missing) and
#                                            Citus, built from ../shared/vendor (SMT_SHARED) and installed
#                                            into Debian's PostgreSQL 15, unless citus.so is already there
#   scripts/citus.sh start DIR BASEPORT      create (initdb) and start DIR/coordinator on BASEPORT and
#                                            DIR/worker1, DIR/worker2 on BASEPORT+1, BASEPORT+2, with
#                                            shared_preload_libraries = 'citus'; create the database
#                                            SMT_CITUS_DB (default smt_citus) and the extension citus in
#                                            it on each node; set the coordinator host and add the workers
#   scripts/citus.sh stop DIR                stop the three nodes (no error if not running)
#   scripts/citus.sh url BASEPORT            print a libpq URL for the coordinator's database
#   scripts/citus.sh free-port               print a BASEPORT whose three ports are free on loopback
#
# Every step checks first and skips what is already there: start on a running cluster only makes
# sure the database, the extension and the node list are as above. Each node listens on 127.0.0.1
# and a Unix socket inside its directory, trust auth (scripts/pg.sh): for tests, never production.
# Nodes reach each other as postgres over 127.0.0.1 without SSL (citus.node_conninfo).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/${PG_MAJOR}/bin
PG_CONFIG=${PG_CONFIG:-$PG_BIN/pg_config}
SMT_USER="${SMT_USER:-smt}"
SMT_CITUS_DB="${SMT_CITUS_DB:-smt_citus}"
CITUS_VERSION=13.2.2
VENDOR="${SMT_SHARED:-$root/../shared}/vendor"
NODES=(coordinator worker1 worker2)

log() { printf 'citus: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_user() { if [ "$(id -un)" = "$SMT_USER" ]; then "$@"; else sudo -u "$SMT_USER" -H -- "$@"; fi; }
usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
  exit 2
}

# What the vendor README lists for building Citus against Debian's server headers.
want_apt=(
  postgresql-server-dev-${PG_MAJOR} build-essential libcurl4-openssl-dev liblz4-dev libzstd-dev
  libkrb5-dev libselinux1-dev libxslt1-dev libpam0g-dev libssl-dev libicu-dev
)

install_apt() { bash "$root/scripts/setup.sh" apt "${want_apt[@]}"; }

install_citus() {
  local libdir sharedir
  libdir=$("$PG_CONFIG" --pkglibdir)
  sharedir=$("$PG_CONFIG" --sharedir)
  if [ -f "$libdir/citus.so" ] && [ -f "$sharedir/extension/citus.control" ]; then
    log "Citus: present ($libdir/citus.so)"
    return
  fi
  local tarball="$VENDOR/citus-$CITUS_VERSION.tar.gz" patch="$VENDOR/citus-$CITUS_VERSION-debian-pg15.18.patch"
  for f in "$tarball" "$patch"; do
    [ -f "$f" ] || { log "missing $f (set SMT_SHARED to the folder holding vendor/)"; exit 1; }
  done
  local build
  build=$(mktemp -d /tmp/citus-build.XXXXXX)
  # shellcheck disable=SC2064  # expand $build now: it is local
  trap "rm -rf '$build'" EXIT
  log "Citus $CITUS_VERSION: building in $build (about 3 minutes on 2 cores; log: $build/build.log)"
  tar xzf "$tarball" -C "$build"
  local src="$build/citus-$CITUS_VERSION"
  if ! (
    cd "$src" &&
      patch -p1 <"$patch" &&
      ./configure PG_CONFIG="$PG_CONFIG" &&
      make -j"$(nproc)"
  ) >"$build/build.log" 2>&1; then
    tail -n 40 "$build/build.log" >&2
    log "Citus build failed"
    exit 1
  fi
  if ! as_root make -C "$src" install >>"$build/build.log" 2>&1; then
    tail -n 40 "$build/build.log" >&2
    log "Citus install failed"
    exit 1
  fi
  log "Citus $CITUS_VERSION: installed into $libdir"
}

psql_node() { # PORT DB SQL...: run SQL on a node as postgres, stopping at the first error
  local port=$1 db=$2
  shift 2
  PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}

start_node() { # DIR PORT
  local dir=$1 port=$2
  bash "$root/scripts/pg.sh" start "$dir" "$port"
  # pg.sh writes its settings at initdb; Citus must be preloaded, so add it once and restart.
  if ! as_user grep -q "^shared_preload_libraries = 'citus'" "$dir/postgresql.conf"; then
    as_user tee -a "$dir/postgresql.conf" >/dev/null <<CONF
shared_preload_libraries = 'citus'
# Nodes talk over loopback without SSL; trust auth as in scripts/pg.sh.
citus.node_conninfo = 'sslmode=disable'
max_prepared_transactions = 100
CONF
    bash "$root/scripts/pg.sh" stop "$dir"
    bash "$root/scripts/pg.sh" start "$dir" "$port"
  fi
}

start_cluster() {
  local dir port base=$1
  dir=$(realpath -m "$2")
  [ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ] || { log "Citus is not installed: scripts/citus.sh install"; exit 1; }
  mkdir -p "$dir"
  chmod 755 "$dir"
  local i
  for i in 0 1 2; do
    port=$((base + i))
    start_node "$dir/${NODES[$i]}" "$port"
    if [ "$(psql_node "$port" postgres -c "SELECT count(*) FROM pg_database WHERE datname = '$SMT_CITUS_DB'")" = 0 ]; then
      psql_node "$port" postgres -c "CREATE DATABASE \"$SMT_CITUS_DB\""
    fi
    psql_node "$port" "$SMT_CITUS_DB" -c "CREATE EXTENSION IF NOT EXISTS citus"
  done
  psql_node "$base" "$SMT_CITUS_DB" >/dev/null <<SQL
SELECT citus_set_coordinator_host('127.0.0.1', $base);
SELECT citus_add_node('127.0.0.1', $((base + 1)))
  WHERE NOT EXISTS (SELECT FROM pg_dist_node WHERE nodename = '127.0.0.1' AND nodeport = $((base + 1)));
SELECT citus_add_node('127.0.0.1', $((base + 2)))
  WHERE NOT EXISTS (SELECT FROM pg_dist_node WHERE nodename = '127.0.0.1' AND nodeport = $((base + 2)));
SQL
  log "coordinator $(url "$base"); workers on ports $((base + 1)), $((base + 2))"
}

stop_cluster() {
  local dir node
  dir=$(realpath -m "$1")
  for node in "${NODES[@]}"; do bash "$root/scripts/pg.sh" stop "$dir/$node"; done
}

url() { echo "postgresql://postgres@127.0.0.1:$1/$SMT_CITUS_DB"; }

free_port() {
  python3 - <<'PY'
import random, socket
for _ in range(1000):
    base = random.randrange(20000, 60000)
    socks = [socket.socket() for _ in range(3)]
    try:
        for i, s in enumerate(socks):
            s.bind(("127.0.0.1", base + i))
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    break
else:
    raise SystemExit("no three free consecutive ports")
PY
}

case "${1:-}" in
  install) install_apt; install_citus ;;
  start) start_cluster "${3:?usage: citus.sh start DIR BASEPORT}" "${2:?usage: citus.sh start DIR BASEPORT}" ;;
  stop) stop_cluster "${2:?usage: citus.sh stop DIR}" ;;
  url) url "${2:?usage: citus.sh url BASEPORT}" ;;
  free-port) free_port ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
