#!/usr/bin/env bash
# Installs what smt needs on a Debian machine, idempotently: every step checks first and skips
# what is already there (cargo-pgrx takes ~13 minutes to build, so it is never rebuilt needlessly).
#
#   scripts/setup.sh          everything (system packages, cargo-pgrx, pgrx init, the unprivileged user)
#   scripts/setup.sh core     only what the pure-Rust crates need (nothing beyond the toolchain today)
#   scripts/setup.sh apt PKG… only the named Debian packages, those missing
set -euo pipefail

PGRX_VERSION="0.18.1"
PG_MAJOR=15
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
# The unprivileged account that runs clusters and pgrx tests: Postgres refuses to run as root.
SMT_USER="${SMT_USER:-smt}"

log() { printf 'setup: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

want_apt=(
  postgresql-${PG_MAJOR} postgresql-server-dev-${PG_MAJOR} postgresql-contrib
  libclang-dev clang pkg-config libssl-dev build-essential
  vsftpd gnupg openssl sudo zip unzip ca-certificates
  python3 tzdata openssh-server
  fonts-dejavu-core libxml2-utils
)

# Installs the named Debian packages that are missing (scripts/citus.sh uses it for Citus' build
# dependencies); apt-get's output is shown only when it fails.
install_apt() {
  local missing=() p out
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then log "Debian packages: all $# present"; return; fi
  log "Debian packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  out=$(mktemp)
  if ! { as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$out"
    log "apt-get failed"
    exit 1
  fi
  rm -f "$out"
}

install_packages() {
  install_apt "${want_apt[@]}"
  # Debian's postgresql package creates and starts a default cluster; we run our own clusters.
  if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q "^${PG_MAJOR} main"; then
    as_root pg_ctlcluster ${PG_MAJOR} main stop 2>/dev/null || true
  fi
}

install_user() {
  if id "$SMT_USER" >/dev/null 2>&1; then log "user $SMT_USER: present"; return; fi
  log "user $SMT_USER: creating"
  as_root useradd --create-home --shell /bin/bash "$SMT_USER"
}

install_cargo_pgrx() {
  if command -v cargo-pgrx >/dev/null && cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
    log "cargo-pgrx $PGRX_VERSION: present"
  else
    log "cargo-pgrx $PGRX_VERSION: building (about 13 minutes on 2 cores)"
    cargo install cargo-pgrx --version "=$PGRX_VERSION" --locked
  fi
  # pgrx init against Debian's PostgreSQL (not the pg_config shim on the PATH).
  local cfg="${PGRX_HOME:-$HOME/.pgrx}/config.toml"
  if [ -f "$cfg" ] && grep -q "pg${PG_MAJOR} = \"$PG_CONFIG\"" "$cfg"; then
    log "pgrx init: already pointed at $PG_CONFIG"
  else
    log "pgrx init: pointing pg${PG_MAJOR} at $PG_CONFIG"
    cargo pgrx init --pg${PG_MAJOR} "$PG_CONFIG"
  fi
}

case "${1:-all}" in
  core) log "core: nothing beyond the Rust toolchain" ;;
  all) install_packages; install_user; install_cargo_pgrx ;;
  apt) shift; install_apt "$@" ;;
  *) echo "usage: $0 [all|core|apt PKG...]" >&2; exit 2 ;;
esac
