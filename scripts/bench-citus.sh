#!/usr/bin/env bash
# Citus benchmark (`make bench-citus`): the main day of `make bench` (SMT_BENCH_ESIIDS meters,
# zipped and OpenPGP-encrypted as SMT sends them) imported with `smt import` into a single node
# and, through its coordinator, into a Citus cluster of a coordinator and two workers
# (scripts/citus.sh; smt's tables spread by smt.distribute()); both loads checked exactly against
# what was generated and against each other; then the plans and times of one ESIID's days and of
# every meter's total on the coordinator. Writes the `citus-bench` section of BENCHMARKS.md and the
# "citus" key of benchmarks.json. Each import is `smt-bench import-day` (tests/src/bin/smt-bench),
# on the data `make bench` generates (the same cache).
#
#   scripts/bench-citus.sh                              smoke size (20,000 ESIIDs)
#   SMT_BENCH_ESIIDS=200000 scripts/bench-citus.sh      a larger day
#
# Environment:
#   SMT_BENCH_ESIIDS       meters on the main day (default 20000)
#   SMT_BENCH_OUT_MD       Markdown file whose citus-bench section is rewritten (default: the repo's BENCHMARKS.md)
#   SMT_BENCH_OUT_JSON     JSON file whose "citus" key is rewritten (default: the repo's benchmarks.json)
#   SMT_BENCH_DATA         cache of generated files and their throwaway key, shared with
#                          scripts/bench-e2e.sh (default: $SMT_TMP/bench-data)
#   SMT_BENCH_FILE_RECORDS records per file (default 50000)
#   SMT_BENCH_COMMAND      the command line recorded in the outputs
#   SMT_BENCH_PORT         first of four loopback ports: the coordinator, the two workers, the
#                          single node (default: free ones, `scripts/citus.sh free-port` and another)
#   SMT_BENCH_QUERY_RUNS   runs of each timed query after one warm-up (default 20)
#   SMT_TMP                scratch space reachable by the cluster user (default /tmp/smt-$(id -u))
#
# Needs the extension and Citus installed (`make bench-citus` does both first), gpg, zip,
# /usr/bin/time. The clusters are scratch ones run by the unprivileged user, with the settings
# below on every node, removed afterwards. Exit status: 0 when every check passed, 1 when one failed
# (the outputs are written and say so), 2 when the benchmark could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
# shellcheck source=scripts/bench-lib.sh disable=SC1091  # followed with shellcheck -x
. scripts/bench-lib.sh

bench_env scripts/bench-citus.sh
runs=${SMT_BENCH_QUERY_RUNS:-20}
PG_BIN=/usr/lib/postgresql/15/bin

# Appended to every node's postgresql.conf, the single node's too (after scripts/pg.sh's and
# scripts/citus.sh's): fsync on, as production runs. Four nodes share this machine's memory, so
# each gets the shared_buffers of scripts/bench-e2e.sh (2 GB: 8 GB in all) and half its WAL room.
# Every node is checkpointed before each timed import.
bench_settings="shared_buffers = 2GB
max_wal_size = 8GB
checkpoint_timeout = 30min
maintenance_work_mem = 512MB
fsync = on"
# Recorded with the figures (read from each node; the run stops if two nodes differ).
shown_settings=(shared_buffers max_wal_size checkpoint_timeout maintenance_work_mem work_mem fsync
                synchronous_commit full_page_writes wal_level max_connections)

log() { printf 'bench-citus: %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }

mkdir -p "$tmp_root" && chmod 755 "$tmp_root"
work=$(mktemp -d "$tmp_root/bench-citus.XXXXXX")
chmod 755 "$work"
if [ -n "${SMT_BENCH_PORT:-}" ]; then
  base=$SMT_BENCH_PORT single_port=$((SMT_BENCH_PORT + 3))
else
  base=$(bash scripts/citus.sh free-port)
  single_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
trap 'bash scripts/citus.sh stop "$work/citus" >/dev/null 2>&1 || true
      bash scripts/pg.sh stop "$work/single" >/dev/null 2>&1 || true
      rm -rf "$work"' EXIT

cargo build --release -p smt -p smt-e2e --bins >&2

recipient=bench@smt.invalid
bench_key "$data" "$recipient"

# psql_at PORT DB ARGS...: run on a node as postgres, unaligned, stopping at the first error.
psql_at() {
  local port=$1 db=$2
  shift 2
  PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}

# The clusters: created, given the settings, started (again).
citus_db=${SMT_CITUS_DB:-smt_citus}
single_db=smt_single
coordinator=$base
nodes=("$base" $((base + 1)) $((base + 2)))
node_dirs=("$work/citus/coordinator" "$work/citus/worker1" "$work/citus/worker2")
log "Citus on ports ${nodes[*]}, single node on $single_port; scratch $work"
bash scripts/citus.sh start "$work/citus" "$base" >&2
bash scripts/citus.sh stop "$work/citus"
bash scripts/pg.sh start "$work/single" "$single_port" >&2
bash scripts/pg.sh stop "$work/single"
for dir in "${node_dirs[@]}" "$work/single"; do
  printf '\n# scripts/bench-citus.sh\n%s\n' "$bench_settings" >> "$dir/postgresql.conf"
done
bash scripts/citus.sh start "$work/citus" "$base" >&2
bash scripts/pg.sh start "$work/single" "$single_port" >&2
psql_at "$single_port" postgres -c "CREATE DATABASE $single_db"

settings_of() { # PORT: the recorded settings, one name=value a line
  local port=$1 s
  for s in "${shown_settings[@]}"; do printf '%s=%s\n' "$s" "$(psql_at "$port" postgres -c "SHOW $s")"; done
}
settings_of "$single_port" > "$work/settings"
for port in "${nodes[@]}"; do
  settings_of "$port" | cmp -s - "$work/settings" ||
    die "node $port's settings differ from the single node's: $(settings_of "$port" | diff - "$work/settings" | tr '\n' ' ')"
done

checkpoint_all() {
  local port
  for port in "${nodes[@]}" "$single_port"; do psql_at "$port" postgres -c CHECKPOINT; done
}

status=0
# import_day NAME URL: `smt-bench import-day` (one timed `smt import` of the main day, checked
# against what was generated) into the database at URL; its JSON in $work/NAME.json.
import_day() {
  local name=$1 url=$2 rc=0
  checkpoint_all
  GNUPGHOME="$data/gnupg" target/release/smt-bench import-day \
    --url "$url" --name "$name" \
    --smt "$repo/target/release/smt" --key "$data/key.asc" --work "$work/run" \
    --gnupg-home "$data/gnupg" --recipient "$recipient" --data "$data" \
    --esiids "$esiids" --records-per-file "$records_per_file" > "$work/$name.json" || rc=$?
  case $rc in
    0) ;;
    1) status=1 ;;
    *) die "$name: smt-bench import-day could not run (exit $rc)" ;;
  esac
}

# 1. The single node.
single_url="postgresql://postgres@127.0.0.1:$single_port/$single_db"
psql_at "$single_port" "$single_db" -c "CREATE EXTENSION smt"
import_day single "$single_url"

# 2. Citus: the extension on the coordinator (Citus makes it on the workers), smt's tables spread.
citus_url=$(bash scripts/citus.sh url "$coordinator")
psql_at "$coordinator" "$citus_db" -c "CREATE EXTENSION smt"
if ! psql_at "$coordinator" "$citus_db" -F ' ' -c "SELECT * FROM smt.distribute()" > "$work/layout" 2> "$work/distribute.err"; then
  cat "$work/distribute.err" >&2
  die "SELECT * FROM smt.distribute() failed on the coordinator"
fi
import_day citus "$citus_url"
shards=$(psql_at "$coordinator" "$citus_db" -c "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'smt.day_total'::regclass")
workers=$(psql_at "$coordinator" "$citus_db" -c "SELECT count(*) FROM pg_dist_node WHERE groupid > 0 AND noderole = 'primary' AND isactive")
shards_per_worker=$(psql_at "$coordinator" "$citus_db" -c "
  SELECT string_agg(n::text, ' + ' ORDER BY nodeport)
    FROM (SELECT p.nodeport, count(*) AS n FROM pg_dist_shard s JOIN pg_dist_placement pl USING (shardid)
            JOIN pg_dist_node p USING (groupid)
           WHERE s.logicalrelid = 'smt.day_total'::regclass GROUP BY p.nodeport) x")

# 3. The two databases against each other: the same text, value for value, from each.
compare_sql="SET TimeZone = 'UTC';
SELECT 'smt.day_total', day, count(*), sum(import_kwh), sum(export_kwh), sum(intervals_present),
       sum(intervals_estimated), sum(peak_kw)
  FROM smt.day_total GROUP BY day ORDER BY day;
SELECT 'smt.daily_usage', count(*), md5(string_agg(d::text, E'\n' ORDER BY d.esiid, d.day))
  FROM smt.daily_usage d;
SELECT 'smt.interval_day', count(*), count(DISTINCT esiid),
       sum(('x' || left(md5(ROW(esiid, channel, day, revision, first_start, interval_seconds, scale,
                                units16, units, kwh_exact, status)::text), 15))::bit(60)::int8)
  FROM smt.interval_day;
SELECT 'smt.file', count(*), sum(records), sum(inserted), sum(replaced), sum(stale), sum(rejected),
       count(*) FILTER (WHERE state = 'loaded')
  FROM smt.file;"
printf '%s\n' "$compare_sql" > "$work/compare.sql"
psql_at "$single_port" "$single_db" -f "$work/compare.sql" > "$work/compare.single"
psql_at "$coordinator" "$citus_db" -f "$work/compare.sql" > "$work/compare.citus"
compared=$(awk -F'|' '{ n += NF - 1 } END { print n + 0 }' "$work/compare.single")
if cmp -s "$work/compare.single" "$work/compare.citus"; then
  same=true
else
  same=false
  status=1
  log "CHECK FAILED: the single node and Citus differ (< single, > citus):"
  diff "$work/compare.single" "$work/compare.citus" >&2 || true
fi

# 4. Queries, after VACUUM (ANALYZE) as in `make bench`: plans on the coordinator, and each
# query's time on both (pgbench: one connection, `runs` runs after one warm-up, mean latency).
vacuum="VACUUM (ANALYZE) smt.interval_day, smt.day_total, smt.file"
psql_at "$single_port" "$single_db" -c "$vacuum"
psql_at "$coordinator" "$citus_db" -c "$vacuum"
main_day=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["main_day"])' "$work/single.json")
esiid=$(psql_at "$single_port" "$single_db" -c "SELECT min(esiid) FROM smt.day_total WHERE day = '$main_day'")
q_one="SELECT * FROM smt.daily_usage WHERE esiid = '$esiid'"
q_all="SELECT day, count(*), sum(import_kwh) FROM smt.day_total WHERE day = '$main_day' GROUP BY day"
explain="EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON)"
plan() { # SQL FILE: its plan on the coordinator, after a warm-up in the same session
  printf '\\o /dev/null\n%s;\n\\o\n%s %s;\n' "$1" "$explain" "$1" | psql_at "$coordinator" "$citus_db" > "$2"
}
plan "$q_one" "$work/plan.one"
plan "$q_all" "$work/plan.all"

query_ms() { # PORT DB SQL: mean latency in ms
  local port=$1 db=$2 sql=$3 out
  printf '%s;\n' "$sql" > "$work/query.sql"
  psql_at "$port" "$db" -f "$work/query.sql" > /dev/null
  out=$("$PG_BIN/pgbench" -n -h 127.0.0.1 -p "$port" -U postgres -f "$work/query.sql" -t "$runs" "$db" 2>&1) ||
    die "pgbench failed on port $port: $out"
  awk '/^latency average/ { print $4; found = 1 } END { if (!found) exit 1 }' <<<"$out" ||
    die "no latency in pgbench's output: $out"
}
single_one_ms=$(query_ms "$single_port" "$single_db" "$q_one")
single_all_ms=$(query_ms "$single_port" "$single_db" "$q_all")
citus_one_ms=$(query_ms "$coordinator" "$citus_db" "$q_one")
citus_all_ms=$(query_ms "$coordinator" "$citus_db" "$q_all")

# The plans must show what the section says: one ESIID's query routed to one shard's worker, the
# totals run as one task per shard, on the workers.
task_count() { sed -n 's/^ *Task Count: \([0-9]*\)$/\1/p' "$1" | head -n 1; }
one_tasks=$(task_count "$work/plan.one")
all_tasks=$(task_count "$work/plan.all")
plan_failures=()
[ "$one_tasks" = 1 ] || plan_failures+=("one ESIID's query: Task Count ${one_tasks:-missing}, expected 1")
[ "$all_tasks" = "$shards" ] || plan_failures+=("all meters' totals: Task Count ${all_tasks:-missing}, expected $shards (the shards of smt.day_total)")
for f in "${plan_failures[@]}"; do log "CHECK FAILED: $f"; status=1; done

# 5. The outputs.
git_commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$git_commit" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  git_commit+="+dirty"
fi
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
postgres_version=$(psql_at "$coordinator" "$citus_db" -c "SHOW server_version")
citus_version=$(psql_at "$coordinator" "$citus_db" -c "SELECT split_part(citus_version(), ' ', 2)")
smt_version=$(psql_at "$coordinator" "$citus_db" -c "SELECT extversion FROM pg_extension WHERE extname = 'smt'")
plan_failures_text=$(printf '%s\n' "${plan_failures[@]}")
# What the report needs, to python3 (it writes both outputs).
export BC_WORK=$work BC_OUT_MD=$out_md BC_OUT_JSON=$out_json BC_COMMAND=$command BC_COMMIT=$git_commit \
  BC_RUNS=$runs BC_SHARDS=$shards BC_WORKERS=$workers BC_SHARDS_PER_WORKER=$shards_per_worker \
  BC_SAME=$same BC_COMPARED=$compared BC_ESIID=$esiid BC_Q_ONE=$q_one BC_Q_ALL=$q_all \
  BC_ONE_TASKS=$one_tasks BC_ALL_TASKS=$all_tasks \
  BC_SINGLE_ONE_MS=$single_one_ms BC_SINGLE_ALL_MS=$single_all_ms \
  BC_CITUS_ONE_MS=$citus_one_ms BC_CITUS_ALL_MS=$citus_all_ms \
  BC_CPU=$cpu BC_POSTGRES=$postgres_version BC_CITUS=$citus_version BC_SMT=$smt_version \
  BC_PLAN_FAILURES=$plan_failures_text
python3 - <<'PY'
import datetime, json, os

env = os.environ
work = env["BC_WORK"]
def read(name):
    with open(os.path.join(work, name)) as f:
        return f.read()
single, citus = json.loads(read("single.json")), json.loads(read("citus.json"))
settings = dict(line.split("=", 1) for line in read("settings").splitlines())
with open("/proc/meminfo") as f:
    mem_kb = next(int(l.split()[1]) for l in f if l.startswith("MemTotal:"))
cores = os.cpu_count()
ms = lambda k: float(env[k])
plan_failures = [l for l in env["BC_PLAN_FAILURES"].splitlines() if l]
failures = single["checks"]["failures"] + citus["checks"]["failures"] + plan_failures
if env["BC_SAME"] != "true":
    failures.append("the single node and Citus differ (see the run's output)")
comparisons = (single["checks"]["comparisons"] + citus["checks"]["comparisons"]
               + int(env["BC_COMPARED"]) + 2)
passed = not failures
d = citus["data"]
s_s, c_s = single["run"]["seconds"], citus["run"]["seconds"]
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
commit = env["BC_COMMIT"]

def side(run, one_ms, all_ms):
    return {
        "import_seconds": run["run"]["seconds"],
        "import_records_per_s": d["records"] / run["run"]["seconds"],
        "import_peak_rss_mb": run["run"]["peak_rss_mb"],
        "import_counts": run["run"]["counts"],
        "query_one_esiid_ms": one_ms,
        "query_daily_all_ms": all_ms,
        "checks_against_generated": run["checks"],
    }

out = {
    "date": date,
    "git_commit": commit,
    "command": env["BC_COMMAND"],
    "machine": {
        "cpu": env["BC_CPU"] or "unknown",
        "cores": cores,
        "memory_gib": mem_kb / 1024 / 1024,
        "postgres": env["BC_POSTGRES"],
        "citus": env["BC_CITUS"],
        "smt_extension": env["BC_SMT"],
        "settings_every_node": settings,
        "nodes_share_one_machine": True,
    },
    "cluster": {"workers": int(env["BC_WORKERS"]), "shards": int(env["BC_SHARDS"]),
                "shards_per_worker": env["BC_SHARDS_PER_WORKER"]},
    "data": {"esiids": citus["esiids"], "main_day": citus["main_day"], **d},
    "single": side(single, ms("BC_SINGLE_ONE_MS"), ms("BC_SINGLE_ALL_MS")),
    "citus": side(citus, ms("BC_CITUS_ONE_MS"), ms("BC_CITUS_ALL_MS")),
    "citus_vs_single_import_ratio": c_s / s_s,
    "queries": {"one_esiid": env["BC_Q_ONE"], "daily_all": env["BC_Q_ALL"],
                "runs": int(env["BC_RUNS"]), "timing": "pgbench mean latency, one connection, after one warm-up"},
    "plans": {"one_esiid": read("plan.one"), "daily_all": read("plan.all")},
    "checks": {"passed": passed, "comparisons": comparisons, "failures": failures,
               "single_equals_citus": env["BC_SAME"] == "true"},
}

path = env["BC_OUT_JSON"]
try:
    with open(path) as f:
        doc = json.load(f)
except FileNotFoundError:
    doc = {}
doc["citus"] = out
with open(path + ".tmp", "w") as f:
    f.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
os.replace(path + ".tmp", path)

def th(n):
    return f"{n:,}"
short = commit[:12] + (" with uncommitted changes" if commit.endswith("+dirty") else "")
shown = ", ".join(f"{k}={v}" for k, v in settings.items())
one, all_ = ms("BC_SINGLE_ONE_MS"), ms("BC_SINGLE_ALL_MS")
c_one, c_all = ms("BC_CITUS_ONE_MS"), ms("BC_CITUS_ALL_MS")
rows = [
    (f"Import of one day (`smt import` of {d['files']} encrypted file{'s' if d['files'] != 1 else ''}, wall clock)",
     f"**{s_s:.2f} s** ({th(int(d['records'] / s_s))} ESIID-days/s)",
     f"**{c_s:.2f} s** ({th(int(d['records'] / c_s))} ESIID-days/s)", f"**{c_s / s_s:.2f}×**"),
    ("Peak RSS of `smt import`", f"{single['run']['peak_rss_mb']:.0f} MB",
     f"{citus['run']['peak_rss_mb']:.0f} MB", ""),
    (f"One ESIID's days (`{env['BC_Q_ONE']}`)", f"{one:.2f} ms", f"{c_one:.2f} ms", f"{c_one / one:.2f}×"),
    (f"Daily total of all meters (`{env['BC_Q_ALL']}`)", f"{all_:.2f} ms", f"{c_all:.2f} ms", f"{c_all / all_:.2f}×"),
]
md = ["<!-- citus-bench:begin -->",
      "## Through a Citus coordinator: the same day on three nodes (`make bench-citus`)", "",
      "Generated by `scripts/bench-citus.sh` (the imports by `smt-bench import-day`), which rewrites "
      "everything between the `citus-bench` markers; every figure is also under `\"citus\"` in "
      "`benchmarks.json`.", "",
      f"- **Machine**: {out['machine']['cpu']}, {cores} cores, {mem_kb / 1024 / 1024:.0f} GiB; "
      f"PostgreSQL {env['BC_POSTGRES']}, Citus {env['BC_CITUS']}, smt {env['BC_SMT']}",
      f"- **Clusters**, all on this machine: a single node, and a Citus coordinator with "
      f"{env['BC_WORKERS']} workers (`scripts/citus.sh`; `smt.distribute()`: {env['BC_SHARDS']} shards "
      f"of each ESIID table, {env['BC_SHARDS_PER_WORKER']} a worker). Every node: {shown}",
      f"- **Date**: {date}, commit `{short}`",
      f"- **Command**: `{env['BC_COMMAND']}`",
      f"- **Data**: the main day of `make bench`: {th(citus['esiids'])} ESIIDs on {citus['main_day']}, "
      f"{th(d['records'])} ESIID-channel-days, {th(d['intervals'])} intervals, "
      f"{d['encrypted_bytes'] / 1e6:.1f} MB zipped and OpenPGP-encrypted; the same `smt import` into "
      "each, every node checkpointed first.",
      f"- Queries: mean of {env['BC_RUNS']} runs after one warm-up, one connection (pgbench), "
      "after `VACUUM (ANALYZE)`.", "",
      "| Figure | Single node | Citus (coordinator + 2 workers) | Citus / single |",
      "|---|---:|---:|---:|"]
md += [f"| {a} | {b} | {c} | {r} |" for a, b, c, r in rows]
md.append("")
md.append("The three Citus nodes share this one machine with the single node: Citus pays for its "
          "network hops and two-phase commits without gaining a core or a disk, so these figures show "
          "what distribution costs, not what it gains; that needs workers on machines of their own.")
md.append("")
if passed:
    md.append(f"**Checks: passed** ({comparisons} comparisons: each load against what was generated, as "
              "`make bench` checks it; the two databases against each other, value for value: "
              "`smt.day_total` counts and exact sums per day, an md5 of every `smt.daily_usage` row "
              "in order, a hash sum of every stored day (`smt.interval_day`: its values, statuses and revision), `smt.file`; and the plans below "
              "routed as described).")
else:
    md.append(f"**Checks: FAILED**: {len(failures)} failed of {comparisons}; the first ones:")
    md.append("")
    md += [f"- {f.splitlines()[0] if f else f}" for f in failures[:10]]
md += ["",
       f"One ESIID's days, `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON)` on the coordinator "
       f"(Task Count {env['BC_ONE_TASKS'] or '?'}: routed to the worker holding the ESIID's shard):",
       "", "```text", read("plan.one").rstrip(), "```", "",
       f"Every meter's total for the main day (Task Count {env['BC_ALL_TASKS'] or '?'}: one task per shard "
       f"of {env['BC_SHARDS']}, run on the workers, one shown):",
       "", "```text", read("plan.all").rstrip(), "```",
       "<!-- citus-bench:end -->"]
section = "\n".join(md) + "\n"

path = env["BC_OUT_MD"]
try:
    with open(path) as f:
        text = f.read()
except FileNotFoundError:
    text = "# Benchmarks\n"
begin, end = "<!-- citus-bench:begin -->", "<!-- citus-bench:end -->"
b, e = text.find(begin), text.find(end)
if 0 <= b < e:
    rest = text[e + len(end):]
    text = text[:b] + section + (rest[1:] if rest.startswith("\n") else rest)
else:
    # After the end-to-end section (`make bench`), else at the end.
    anchor = "<!-- bench:end -->\n"
    at = text.find(anchor)
    if at < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        at += len(anchor)
        text = text[:at] + "\n" + section + "\n" + text[at:].lstrip("\n")
with open(path + ".tmp", "w") as f:
    f.write(text)
os.replace(path + ".tmp", path)
print(section)
PY
log "wrote $out_md and $out_json"
exit $status
