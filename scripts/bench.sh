#!/usr/bin/env bash
# Runs the parser benchmark (core/benches/lse_parse.rs) and prints the machine, the input sizes
# and the throughput of each parser against the 1 GB/s-per-core target. See BENCHMARKS.md.
#
#   scripts/bench.sh                         default input (3000 ESIIDs x 14 days, ~73 MB of LSE)
#   SMT_BENCH_ESIIDS=500 scripts/bench.sh    smaller LSE input (also SMT_BENCH_CSV_ESIIDS, SMT_BENCH_DAYS)
#   scripts/bench.sh -- --save-baseline x    extra arguments go to criterion
#
# Takes about a minute on 2 cores once built. Figures are only comparable on an otherwise idle
# machine: a compile running next to it easily costs 20%.
set -euo pipefail
cd "$(dirname "$0")/.."

target_mb_s=1000

echo "== machine"
if command -v lscpu >/dev/null; then
  lscpu | sed -n 's/^Model name:[[:space:]]*/cpu:    /p' | head -1
fi
echo "cores:  $(nproc)"
if command -v free >/dev/null; then
  free -h | awk '/^Mem:/ {print "memory: " $2}'
fi
echo "rustc:  $(rustc --version)"
echo

log=$(mktemp)
trap 'rm -f "$log"' EXIT
extra=()
if [ "${1:-}" = "--" ]; then
  shift
  extra=(-- "$@")
fi
cargo bench -p smt-core --bench lse_parse "${extra[@]}" 2>&1 | tee "$log" >&2

echo
echo "== results (criterion's estimate of the mean, with its 95% interval)"
# The bench prints "<group> input: ... N bytes" to stderr, then criterion's
# "thrpt: [low MB/s mid MB/s high MB/s]" for that group.
awk -v target="$target_mb_s" '
  / input: / { name = $1; input = $0; sub(/^[a-z]+ input: /, "", input) }
  /thrpt:/ && name != "" {
    gsub(/[][]/, "")
    low = $2; mid = $4; high = $6
    # criterion switches to GB/s above 1000 MB/s
    if ($5 == "GB/s") { mid *= 1000 } ; if ($3 == "GB/s") { low *= 1000 } ; if ($7 == "GB/s") { high *= 1000 }
    printf "%-4s %8.1f MB/s  (%.1f - %.1f)  = %.2f x the %d MB/s target   [%s]\n", toupper(name), mid, low, high, mid / target, target, input
    name = ""
  }
' "$log"
