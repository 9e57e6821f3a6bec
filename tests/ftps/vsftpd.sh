#!/usr/bin/env bash
# A throwaway FTPS server for the transport tests: a real vsftpd on 127.0.0.1 with explicit TLS
# required, client certificates required and TLS session reuse required on the data channel
# (require_ssl_reuse=YES, vsftpd's default), which is what Smart Meter Texas runs.
#
#   tests/ftps/vsftpd.sh start DIR PORT   generate CA/server/client certs in DIR (kept if present),
#                                         create/refresh user smtftp, start vsftpd on 127.0.0.1:PORT
#   tests/ftps/vsftpd.sh stop DIR         kill that vsftpd and all its session processes
#
# Both are idempotent. Everything lives under DIR (generated at run time, never committed):
#   ca.pem ca.key server.pem server.key client.pem client.key   test PKI (ECDSA P-256)
#   password        the random password of smtftp (kept across restarts of the same DIR)
#   home/reports/   the user's chroot home and the directory the tests put files in
#   vsftpd.conf vsftpd.log xferlog vsftpd.pid vsftpd.out
# Environment: VSFTPD_TLS_MAX=TLSv1.2 caps the server at TLS 1.2 (through an OpenSSL config file),
# to exercise TLS 1.2 session resumption; by default OpenSSL 3 negotiates TLS 1.3.
# VSFTPD_MAX_RATE=BYTES_PER_SECOND throttles downloads (to kill the server mid-transfer reliably).
# Needs root (it creates a system user and vsftpd must chroot).
set -euo pipefail

FTP_USER=smtftp

die() { printf 'vsftpd.sh: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Pids of $1 and all its descendants (vsftpd forks two processes per session).
descendants() {
  local pid=$1 child
  echo "$pid"
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do descendants "$child"; done
}

is_running() {
  local pidfile=$1/vsftpd.pid pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(ps -o comm= -p "$pid")" = vsftpd ]
}

gen_pki() {
  local dir=$1
  if [ -f "$dir/ca.pem" ] && [ -f "$dir/server.pem" ] && [ -f "$dir/client.pem" ]; then return; fi
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 2 \
    -subj "/CN=smt test CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req "${ec[@]}" -keyout "$dir/server.key" -out "$dir/server.csr" \
    -subj "/CN=127.0.0.1" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 2 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
  openssl req "${ec[@]}" -keyout "$dir/client.key" -out "$dir/client.csr" \
    -subj "/CN=smt test client" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=clientAuth" >"$dir/client.ext"
  openssl x509 -req -in "$dir/client.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 2 -extfile "$dir/client.ext" -out "$dir/client.pem" 2>/dev/null
  rm -f "$dir"/*.csr "$dir"/*.ext
  chmod 600 "$dir"/*.key
}

setup_user() {
  local dir=$1
  mkdir -p "$dir/home/reports"
  if [ ! -s "$dir/password" ]; then
    (umask 077 && openssl rand -hex 16 >"$dir/password")
  fi
  if ! id "$FTP_USER" >/dev/null 2>&1; then
    # pam_shells (in Debian's /etc/pam.d/vsftpd) wants a shell listed in /etc/shells.
    as_root useradd --system --no-create-home --home-dir "$dir/home" --shell /bin/sh "$FTP_USER"
  fi
  if [ "$(getent passwd "$FTP_USER" | cut -d: -f6)" != "$dir/home" ]; then
    as_root usermod --home "$dir/home" "$FTP_USER"
  fi
  printf '%s:%s\n' "$FTP_USER" "$(cat "$dir/password")" | as_root chpasswd
  as_root chown -R "$FTP_USER:" "$dir/home"
  # chroot happens as root, but keep the path traversable for the user's own processes.
  chmod 711 "$dir"
}

write_conf() {
  local dir=$1 port=$2
  mkdir -p "$dir/empty"
  chmod 755 "$dir/empty"
  cat >"$dir/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$port
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
chroot_local_user=YES
allow_writeable_chroot=YES
secure_chroot_dir=$dir/empty
seccomp_sandbox=NO
pam_service_name=vsftpd
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=$((port + 1))
pasv_max_port=$((port + 20))
port_enable=NO
ssl_enable=YES
allow_anon_ssl=NO
force_local_logins_ssl=YES
force_local_data_ssl=YES
require_cert=YES
validate_cert=YES
ca_certs_file=$dir/ca.pem
rsa_cert_file=$dir/server.pem
rsa_private_key_file=$dir/server.key
ssl_ciphers=HIGH:!aNULL
require_ssl_reuse=YES
debug_ssl=YES
xferlog_enable=YES
xferlog_file=$dir/xferlog
vsftpd_log_file=$dir/vsftpd.log
dual_log_enable=YES
log_ftp_protocol=YES
EOF
  if [ -n "${VSFTPD_MAX_RATE:-}" ]; then
    echo "local_max_rate=$VSFTPD_MAX_RATE" >>"$dir/vsftpd.conf"
  fi
  if [ -n "${VSFTPD_TLS_MAX:-}" ]; then
    cat >"$dir/openssl.cnf" <<EOF
openssl_conf = smt_conf
[smt_conf]
ssl_conf = smt_ssl
[smt_ssl]
system_default = smt_tls
[smt_tls]
MaxProtocol = $VSFTPD_TLS_MAX
EOF
  else
    rm -f "$dir/openssl.cnf"
  fi
}

wait_listening() {
  local port=$1 pid=$2 i
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  return 1
}

start() {
  local dir=$1 port=$2
  [[ $port =~ ^[0-9]+$ ]] && [ "$port" -gt 0 ] && [ "$port" -lt 65500 ] || die "bad port: $port"
  command -v vsftpd >/dev/null || [ -x /usr/sbin/vsftpd ] || die "vsftpd is not installed"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if is_running "$dir"; then
    # Already up (idempotent); refresh the user in case another DIR took its home meanwhile.
    setup_user "$dir"
    return 0
  fi
  gen_pki "$dir"
  setup_user "$dir"
  write_conf "$dir" "$port"
  local vsftpd
  vsftpd=$(command -v vsftpd || echo /usr/sbin/vsftpd)
  local env=()
  [ -f "$dir/openssl.cnf" ] && env=(env "OPENSSL_CONF=$dir/openssl.cnf")
  # setsid: its own process group, so nothing of ours is hit by signals meant for it and back.
  setsid "${env[@]}" "$vsftpd" "$dir/vsftpd.conf" >"$dir/vsftpd.out" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$dir/vsftpd.pid"
  if ! wait_listening "$port" "$pid"; then
    cat "$dir/vsftpd.out" >&2 || true
    stop "$dir"
    die "vsftpd did not start listening on 127.0.0.1:$port"
  fi
}

stop() {
  local dir=$1 pids pid
  [ -f "$dir/vsftpd.pid" ] || return 0
  pid=$(cat "$dir/vsftpd.pid")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(ps -o comm= -p "$pid")" = vsftpd ]; then
    pids=$(descendants "$pid")
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    # Gone, or a zombie waiting for whoever adopted it to reap it: either way the port is free.
    for _ in $(seq 1 100); do
      case "$(ps -o stat= -p "$pid" 2>/dev/null)" in "" | Z*) break ;; esac
      sleep 0.02
    done
  fi
  rm -f "$dir/vsftpd.pid"
}

case "${1:-}" in
  start) [ $# -eq 3 ] || die "usage: $0 start DIR PORT"; start "$2" "$3" ;;
  stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
  *) die "usage: $0 start DIR PORT | stop DIR" ;;
esac
