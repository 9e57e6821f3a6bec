#!/usr/bin/env bash
# The bundled SMT simulator: what Smart Meter Texas looks like to a REP, on this machine only.
# A real vsftpd on 127.0.0.1 (explicit TLS, client certificates required, TLS session reuse
# required: tests/ftps/vsftpd.sh) serving SMT-style deliveries: LSE and CSV interval reports made
# by `smt generate`, zipped, and encrypted with real GnuPG to the REP's key.
#
#   scripts/smt-simulator.sh start DIR PORT [SMT_BINARY]   (re)start it; deliveries in DIR/ftps/home/reports
#   scripts/smt-simulator.sh stop DIR
#
# DIR/rep-secret.asc is the REP's secret key (no passphrase: a demo key, made here, never
# committed); DIR/ftps/{ca,client}.pem, client.key and password are what the REP's side needs.
set -euo pipefail
cmd=${1:?usage: smt-simulator.sh start|stop DIR [PORT] [SMT_BINARY]}
dir=$(realpath -m "${2:?directory}")
here=$(cd "$(dirname "$0")/.." && pwd)

case "$cmd" in
  stop) bash "$here/tests/ftps/vsftpd.sh" stop "$dir/ftps"; exit 0 ;;
  start) ;;
  *) echo "usage: smt-simulator.sh start|stop DIR [PORT] [SMT_BINARY]" >&2; exit 2 ;;
esac
port=${3:?port}
smt=${4:-$here/target/release/smt}

mkdir -p "$dir/gnupg" "$dir/work"
chmod 700 "$dir/gnupg"
export GNUPGHOME=$dir/gnupg
if [ ! -s "$dir/rep-secret.asc" ]; then
  gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
      --quick-gen-key 'Demo REP <rep@smt-demo.test>' default default never 2>/dev/null
  gpg --batch --quiet --armor --export-secret-keys rep@smt-demo.test > "$dir/rep-secret.asc"
fi

bash "$here/tests/ftps/vsftpd.sh" start "$dir/ftps" "$port"
reports=$dir/ftps/home/reports
rm -f "$reports"/*

# Deliveries as SMT names them: <DUNS><report><timestamp><counter>, zipped, then encrypted.
deliver() { # NAME FORMAT SEED [generate options...]
  local name=$1 fmt=$2 seed=$3; shift 3
  local ext=lse; [ "$fmt" = csv ] && ext=CSV
  rm -rf "$dir/work"/*
  "$smt" generate --format "$fmt" --seed "$seed" --out "$dir/work/$name.$ext" "$@" 2>/dev/null
  (cd "$dir/work" && zip -q "$name.zip" "$name.$ext")
  gpg --batch --quiet --yes --trust-model always -r rep@smt-demo.test --encrypt \
      -o "$reports/$name.zip.pgp" "$dir/work/$name.zip"
}
deliver 999999999IntervalData20251104060000001 lse 1 --esiids 12
deliver 999999999IntervalMeterUsage20251105073717002 csv 2 --esiids 8
# The TDSP re-sends the first days a day later: every day in it replaces the stored version.
deliver 999999999IntervalData20251105060000003 lse 1 --esiids 12 --revision-offset-hours 24
# An armored delivery, as some SMT feeds send.
rm -rf "$dir/work"/*
"$smt" generate --format lse --seed 4 --esiids 3 --days 2025-07-01 --out "$dir/work/999999999IntervalData20251106060000004.lse" 2>/dev/null
# ... with one bad record in it: an unknown status code on its first data row.
sed -i '6s/,A,/,X,/' "$dir/work/999999999IntervalData20251106060000004.lse"
(cd "$dir/work" && zip -q r.zip 999999999IntervalData20251106060000004.lse)
gpg --batch --quiet --yes --trust-model always -r rep@smt-demo.test --armor --encrypt \
    -o "$reports/999999999IntervalData20251106060000004.zip.asc" "$dir/work/r.zip"
chown -R smtftp "$reports"
echo "smt-simulator: $(ls "$reports" | wc -l) deliveries on ftps://smtftp@127.0.0.1:$port/reports"
