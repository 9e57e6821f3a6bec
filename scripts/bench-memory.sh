#!/usr/bin/env bash
# Peak memory of `smt import` and of the PostgreSQL backend loading for it, for LSE reports of
# about 100 MB and 1 GB (plain, and zipped + OpenPGP-encrypted as SMT sends them): the figures
# must not grow with the report (deliveries stream; see scheduler/src/ingest.rs). See
# BENCHMARKS.md, "Memory".
#
#   scripts/bench-memory.sh                 both sizes (about 10 minutes on 2 cores)
#   SMT_BENCH_SIZES="15000" scripts/...     ESIIDs per report (4 days each, 1.25 channels)
#
# Needs the release build of the extension installed (make install) and gpg. Runs its own cluster
# as the unprivileged user (scripts/pg.sh) in a scratch directory, removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=${SMT_BENCH_SIZES:-"15000 150000"}
tmp=${SMT_TMP:-/tmp/smt-$(id -u)}/bench-memory
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rm -rf "$tmp" && mkdir -p "$tmp" && chmod 755 "$tmp"
trap 'bash scripts/pg.sh stop "$tmp/pg" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

cargo build --release -p smt >&2
smt=target/release/smt
bash scripts/pg.sh start "$tmp/pg" "$port" >&2
url="postgresql://postgres@127.0.0.1:$port/postgres"

# A throwaway OpenPGP key, as SMT's recipient key would be.
export GNUPGHOME="$tmp/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
    --quick-generate-key bench@smt.invalid rsa2048 encrypt never
gpg --batch --quiet --armor --export-secret-keys bench@smt.invalid > "$tmp/key.asc"

# Runs `smt import FILE` on a fresh database; prints seconds, the importer's peak RSS and the
# largest private memory (RssAnon) any backend of the cluster reached meanwhile, sampled every
# 50 ms.
measure() {
  local file=$1
  psql -q "$url" -c 'DROP DATABASE IF EXISTS bench' -c 'CREATE DATABASE bench'
  psql -q "${url%/postgres}/bench" -c 'CREATE EXTENSION smt'
  python3 - "$tmp/pg" > "$tmp/backend.peak" <<'PY' &
import os, sys, time
pgdata = sys.argv[1]
postmaster = int(open(os.path.join(pgdata, "postmaster.pid")).readline())
peak = 0
stop = os.path.join(os.path.dirname(pgdata), "stop-sampling")
while not os.path.exists(stop):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            status = open(f"/proc/{pid}/status").read()
        except OSError:
            continue
        fields = dict(l.split(":", 1) for l in status.splitlines() if ":" in l)
        if int(fields.get("PPid", "0").strip()) != postmaster:
            continue
        peak = max(peak, int(fields.get("RssAnon", "0 kB").split()[0]))
    time.sleep(0.05)
print(peak)
PY
  local sampler=$!
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$tmp/import.rss" \
    env SMT_PGP_PASSPHRASE= "$smt" import --database-url "${url%/postgres}/bench" \
        --pgp-key "$tmp/key.asc" "$file" > "$tmp/import.out" 2> "$tmp/import.err" \
    || { cat "$tmp/import.err" >&2; exit 1; }
  end=$(date +%s.%N)
  touch "$tmp/stop-sampling"; wait "$sampler"; rm -f "$tmp/stop-sampling"
  local records
  records=$(psql -Atq "${url%/postgres}/bench" -c 'SELECT sum(records) FROM smt.file')
  printf '%s\t%.1f\t%d\t%d\t%s\n' "$(basename "$file")" "$(python3 -c "print($end - $start)")" \
    "$(( $(cat "$tmp/import.rss") / 1024 ))" "$(( $(cat "$tmp/backend.peak") / 1024 ))" "$records"
}

echo "== machine"
lscpu | sed -n 's/^Model name:[[:space:]]*/cpu:    /p' | head -1
echo "cores:  $(nproc)"
free -h | awk '/^Mem:/ {print "memory: " $2}'
echo
printf 'file\tbytes\tseconds\tsmt import peak RSS MB\tbackend peak private MB\trecords\n'
for n in $sizes; do
  lse="$tmp/report-$n.lse"
  "$smt" generate --esiids "$n" --out "$lse" >&2
  bytes=$(stat -c %s "$lse")
  (cd "$tmp" && zip -q -j "report-$n.zip" "$lse" && rm -f "report-$n.zip.asc" &&
    gpg --batch --quiet --armor --trust-model always -r bench@smt.invalid -o "report-$n.zip.asc" \
        -e "report-$n.zip" && rm "report-$n.zip")
  for f in "$lse" "$tmp/report-$n.zip.asc"; do
    line=$(measure "$f")
    printf '%s\t%s\t%s\n' "$(cut -f1 <<<"$line")" "$bytes" "$(cut -f2- <<<"$line")"
  done
  rm -f "$lse" "$tmp/report-$n.zip.asc"
done
