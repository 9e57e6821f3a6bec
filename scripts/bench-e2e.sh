#!/usr/bin/env bash
# End-to-end benchmark (`make bench`): one day of generated 15-minute data for SMT_BENCH_ESIIDS
# meters, zipped and OpenPGP-encrypted as SMT sends it, imported with `smt import`, against the
# machine's own floor (plain COPY of the same rows into the same cluster), every load checked
# exactly; then sizes and query latency. Writes the generated section of BENCHMARKS.md and
# benchmarks.json. The work is done by tests/src/bin/smt-bench; see BENCHMARKS.md.
#
#   scripts/bench-e2e.sh                                 smoke size (20,000 ESIIDs, under a minute)
#   SMT_BENCH_ESIIDS=2500000 scripts/bench-e2e.sh        the documented run (make bench SMT_BENCH_ESIIDS=2500000)
#
# Environment:
#   SMT_BENCH_ESIIDS       meters on the main day (default 20000)
#   SMT_BENCH_OUT_MD       Markdown file whose bench section is rewritten (default: the repo's BENCHMARKS.md)
#   SMT_BENCH_OUT_JSON     JSON output (default: the repo's benchmarks.json)
#   SMT_BENCH_DATA         cache of generated files and their throwaway key, reused when the
#                          parameters match (default: $SMT_TMP/bench-data); about 7 GB at 2.5M ESIIDs
#   SMT_BENCH_FILE_RECORDS records per file (default 50000)
#   SMT_BENCH_COMMAND      the command line recorded in the outputs
#   SMT_TMP                scratch space reachable by the cluster user (default /tmp/smt-$(id -u))
#
# Needs the extension installed (make install; `make bench` does it first), gpg, zip and
# /usr/bin/time. The cluster is a scratch one run by the unprivileged user (scripts/pg.sh), with
# the settings below, removed afterwards. Exit status: 0 when every exact check passed, 1 when one
# failed (the outputs are written and say so), 2 when the benchmark could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
# shellcheck source=scripts/bench-lib.sh disable=SC1091  # followed with shellcheck -x
. scripts/bench-lib.sh

bench_env scripts/bench-e2e.sh

# Settings appended to the scratch cluster's postgresql.conf (after scripts/pg.sh's, which turn
# fsync off for tests: a benchmark pays for durability as production does). The same cluster
# serves the floors and smt, so both get the same memory and WAL room; checkpoints are taken
# explicitly before every timed step, and none is forced inside one.
bench_settings="shared_buffers = 2GB
max_wal_size = 16GB
checkpoint_timeout = 30min
maintenance_work_mem = 512MB
fsync = on"

mkdir -p "$tmp_root" && chmod 755 "$tmp_root"
work=$(mktemp -d "$tmp_root/bench-run.XXXXXX")
chmod 755 "$work"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap 'bash scripts/pg.sh stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

cargo build --release -p smt -p smt-e2e --bins >&2

# A throwaway OpenPGP key, as SMT's recipient key would be (scripts/bench-lib.sh).
recipient=bench@smt.invalid
bench_key "$data" "$recipient"

# The cluster: created, given the bench settings, started.
bash scripts/pg.sh start "$work/pg" "$port" >&2
bash scripts/pg.sh stop "$work/pg"
printf '\n# scripts/bench-e2e.sh\n%s\n' "$bench_settings" >> "$work/pg/postgresql.conf"
bash scripts/pg.sh start "$work/pg" "$port" >&2
url="postgresql://postgres@127.0.0.1:$port/postgres"

status=0
GNUPGHOME="$data/gnupg" target/release/smt-bench \
  --url "$url" \
  --smt "$repo/target/release/smt" \
  --key "$data/key.asc" \
  --gnupg-home "$data/gnupg" \
  --recipient "$recipient" \
  --data "$data" \
  --work "$work/run" \
  --esiids "$esiids" \
  --records-per-file "$records_per_file" \
  --out-md "$out_md" \
  --out-json "$out_json" \
  --command "$command" || status=$?
exit $status
