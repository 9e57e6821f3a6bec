#!/usr/bin/env bash
# A real OpenSSH sshd for the SFTP tests, on a loopback port, run by the unprivileged user (smt)
# with its own host key: the stand-in for SMT's SFTP site (internal-sftp, key authentication).
#
#   tests/sftp/sshd.sh start DIR PORT           make keys and config in DIR (once), start sshd; files in DIR/home
#   tests/sftp/sshd.sh start-password DIR PORT  the same site with password authentication instead,
#                                               for the user smtsftp (password in DIR/password)
#   tests/sftp/sshd.sh stop DIR                 stop it
#
# DIR/client_key is the key the site accepts, DIR/other_key one it does not, DIR/known_hosts
# lists the host key as "[127.0.0.1]:PORT", DIR/wrong_known_hosts lists another key for it.
# sshd running as an unprivileged user can only log that user in, and by key only (password
# authentication needs root to read the password database): start-password runs sshd as root,
# for a user of its own (smtsftp, no shell: internal-sftp only) whose password it sets anew each
# start, to a random one.
set -euo pipefail
SMT_USER=${SMT_USER:-smt}
cmd=${1:?usage: sshd.sh start|start-password DIR PORT | stop DIR}
dir=$(realpath -m "${2:?directory}")

as_user() {
  if [ "$(id -un)" = "$SMT_USER" ]; then "$@"; else sudo -u "$SMT_USER" -H -- "$@"; fi
}

stop() {
  local pidfile=$dir/sshd.pid
  if [ -f "$pidfile" ]; then
    local pid; pid=$(cat "$pidfile")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      pkill -P "$pid" 2>/dev/null || true
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile"
  fi
}

case "$cmd" in
  stop) stop; exit 0 ;;
  start|start-password) ;;
  *) echo "usage: sshd.sh start|start-password DIR PORT | stop DIR" >&2; exit 2 ;;
esac
port=${3:?port}
command -v /usr/sbin/sshd >/dev/null || { echo "sshd.sh: /usr/sbin/sshd missing (apt-get install openssh-server)" >&2; exit 1; }

mkdir -p "$dir/home/adhocusage" "$dir/home/EnrollmentReports"
[ -f "$dir/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C 'smt test sftp host' -f "$dir/host_key"
[ -f "$dir/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C 'smt test client' -f "$dir/client_key"
[ -f "$dir/other_key" ] || ssh-keygen -q -t ed25519 -N '' -C 'not authorized' -f "$dir/other_key"
[ -f "$dir/impostor_host_key" ] || ssh-keygen -q -t ed25519 -N '' -C 'impostor' -f "$dir/impostor_host_key"
cp "$dir/client_key.pub" "$dir/authorized_keys"
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_key.pub")" >"$dir/known_hosts"
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/impostor_host_key.pub")" >"$dir/wrong_known_hosts"
login_user=$SMT_USER
auth="PasswordAuthentication no
PubkeyAuthentication yes"
if [ "$cmd" = start-password ]; then
  [ "$(id -u)" -eq 0 ] || { echo "sshd.sh: start-password needs root (sshd reads the password database)" >&2; exit 1; }
  login_user=smtsftp
  id -u "$login_user" >/dev/null 2>&1 ||
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$login_user"
  (umask 077; openssl rand -hex 16 >"$dir/password")
  echo "$login_user:$(cat "$dir/password")" | chpasswd
  mkdir -p /run/sshd
  auth="PasswordAuthentication yes
PubkeyAuthentication no
ForceCommand internal-sftp"
fi
cat >"$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
KbdInteractiveAuthentication no
$auth
AllowUsers $login_user
Subsystem sftp internal-sftp
LogLevel VERBOSE
CONF
if [ "$(id -u)" -eq 0 ]; then
  chown -R "$SMT_USER" "$dir"
  # The user's processes must reach DIR (a scratch directory under /tmp).
  chmod 755 "$dir"
fi
# Keys the worker reads stay the test's (root's) own.
chmod 600 "$dir/client_key" "$dir/other_key"
stop
if [ "$cmd" = start-password ]; then
  chown root: "$dir/password"
  /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
else
  as_user /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
fi
for _ in $(seq 100); do
  [ -s "$dir/sshd.pid" ] && exit 0
  sleep 0.1
done
echo "sshd.sh: sshd did not start; $dir/sshd.log says:" >&2
cat "$dir/sshd.log" >&2 || true
exit 1
