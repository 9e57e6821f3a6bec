//! The outputs: `benchmarks.json` (every figure, the machine, the settings, the checks) and the
//! generated section of `BENCHMARKS.md` between `<!-- bench:begin -->` and `<!-- bench:end -->`
//! (the rest of the file is left as it is).

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use postgres::Client;
use serde::Serialize;
use serde_json::{json, Value};

use crate::checks::Checks;
use crate::data::{self, DataSet, Manifest};
use crate::floors::Floors;
use crate::import::Run;
use crate::parse::ParseSpeed;
use crate::queries::{Queries, Reports};
use crate::sizes::Sizes;

pub const BEGIN: &str = "<!-- bench:begin -->";
pub const END: &str = "<!-- bench:end -->";

/// The size the goals are stated for.
const GOAL_ESIIDS: u64 = 2_500_000;
const GOAL_IMPORT_SECONDS: f64 = 30.0;
const GOAL_IMPORT_VS_FLOOR: f64 = 2.0;
const GOAL_REPLACE_VS_FLOOR: f64 = 4.0;
const GOAL_DAILY_MS: f64 = 1000.0;
const GOAL_13MO_MS: f64 = 20.0;
const GOAL_HOT_BYTES: f64 = 8.0;
const GOAL_RAW_BYTES: f64 = 2.0;

/// Cluster settings recorded with the figures.
const SETTINGS: &[&str] = &[
    "shared_buffers",
    "max_wal_size",
    "checkpoint_timeout",
    "maintenance_work_mem",
    "work_mem",
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "wal_level",
    "wal_compression",
    "autovacuum",
    "max_parallel_workers_per_gather",
];

#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub postgres: String,
    pub smt_extension: String,
    pub settings: Vec<(String, String)>,
}

pub fn machine(c: &mut Client, bench_db: &mut Client) -> Result<Machine> {
    let cpu = Command::new("lscpu")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("Model name:").map(|m| m.trim().to_owned()))
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory_gib = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let show = |c: &mut Client, name: &str| -> Result<String> {
        Ok(c.query_one(&format!("SHOW {name}"), &[])
            .map_err(|e| anyhow::anyhow!("SHOW {name}: {}", smt_e2e::explain(&e)))?
            .get(0))
    };
    let postgres = show(c, "server_version")?;
    let mut settings = Vec::new();
    for s in SETTINGS {
        settings.push(((*s).to_owned(), show(c, s)?));
    }
    let smt_extension: String = bench_db
        .query_one(
            "SELECT extversion FROM pg_extension WHERE extname = 'smt'",
            &[],
        )
        .map_err(|e| anyhow::anyhow!("the smt extension's version: {}", smt_e2e::explain(&e)))?
        .get(0);
    Ok(Machine {
        cpu,
        cores,
        memory_gib,
        postgres,
        smt_extension,
        settings,
    })
}

/// `git rev-parse HEAD` of the working directory, `+dirty` when tracked files changed.
pub fn git_commit() -> String {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(head) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{head}+dirty")
            } else {
                head
            }
        }
        None => "unknown".into(),
    }
}

/// Everything one run measured.
pub struct Results<'a> {
    pub manifest: &'a Manifest,
    pub data_generated: bool,
    pub machine: Machine,
    pub date: String,
    pub git_commit: String,
    pub command: String,
    pub parse: ParseSpeed,
    pub floors: Floors,
    pub runs: Vec<Run>,
    pub sizes_one_day: Sizes,
    pub sizes_end: Sizes,
    pub queries: Queries,
    pub reports: Reports,
    pub checks: &'a Checks,
    pub phases: Vec<(String, f64)>,
}

impl Results<'_> {
    fn run(&self, name: &str) -> Option<&Run> {
        self.runs.iter().find(|r| r.name == name)
    }

    fn seconds(&self, name: &str) -> f64 {
        self.run(name).map_or(f64::NAN, |r| r.seconds)
    }

    fn e2e_esiid_days(&self) -> u64 {
        self.manifest.v1.records
    }

    /// The import goal at this run's size (30 s at 2.5M ESIIDs, in proportion).
    fn import_goal_seconds(&self) -> f64 {
        GOAL_IMPORT_SECONDS * self.manifest.params.esiids as f64 / GOAL_ESIIDS as f64
    }
}

pub fn set_json(set: &DataSet) -> Value {
    json!({
        "files": set.files.len(),
        "records": set.records,
        "intervals": set.intervals,
        "lse_bytes": set.lse_bytes,
        "encrypted_bytes": set.bytes,
    })
}

fn sizes_json(s: &Sizes) -> Value {
    json!({
        "bytes_per_interval": s.bytes_per_interval(),
        "history_bytes_per_interval": s.history_bytes_per_interval(),
        "raw_bytes_per_interval": s.raw_bytes_per_interval(),
        "detail": s,
    })
}

pub fn json(r: &Results) -> Value {
    let e2e = r.seconds("v1");
    let replace = r.seconds("v2");
    let f = &r.floors;
    let p = &r.manifest.params;
    let figures = json!({
        "lse_parse_mb_per_s": r.parse.lse_mb_per_s,
        "csv_parse_mb_per_s": r.parse.csv_mb_per_s,
        "e2e_esiid_days": r.e2e_esiid_days(),
        "e2e_seconds": e2e,
        "e2e_records_per_s": r.e2e_esiid_days() as f64 / e2e,
        "e2e_vs_copy_floor_ratio": e2e / f.copy_upsert_seconds,
        "e2e_vs_unlogged_copy_ratio": e2e / f.copy_unlogged_seconds,
        "replace_seconds": replace,
        "replace_vs_copy_floor_ratio": replace / f.replace_upsert_seconds,
        "replace_vs_unlogged_copy_ratio": replace / f.copy_unlogged_seconds,
        "reimport_older_seconds": r.seconds("v0"),
        "history_load_seconds": r.seconds("history"),
        "import_peak_rss_mb": r.run("v1").map(|x| x.peak_rss_mb),
        "replace_peak_rss_mb": r.run("v2").map(|x| x.peak_rss_mb),
        "reimport_older_peak_rss_mb": r.run("v0").map(|x| x.peak_rss_mb),
        "copy_unlogged_floor_seconds": f.copy_unlogged_seconds,
        "copy_upsert_floor_seconds": f.copy_upsert_seconds,
        "replace_upsert_floor_seconds": f.replace_upsert_seconds,
        "bytes_per_interval": r.sizes_end.bytes_per_interval(),
        "history_bytes_per_interval": r.sizes_end.history_bytes_per_interval(),
        "raw_bytes_per_interval": r.sizes_end.raw_bytes_per_interval(),
        "bytes_per_interval_after_one_day": r.sizes_one_day.bytes_per_interval(),
        "history_bytes_per_interval_after_one_day": r.sizes_one_day.history_bytes_per_interval(),
        "raw_bytes_per_interval_after_one_day": r.sizes_one_day.raw_bytes_per_interval(),
        "query_esiid_13mo_ms": r.queries.esiid_13mo_ms,
        "query_daily_all_ms": r.queries.daily_all_ms,
        "query_daily_all_fetch_ms": r.queries.daily_all_fetch_ms,
        "query_monthly_one_ms": r.queries.monthly_one_ms,
        "daily_reads_load_seconds": r.reports.daily_reads_load_s,
        "report_monthly_all_ms": r.reports.monthly_all_ms,
        "report_meter_check_all_ms": r.reports.meter_check_all_ms,
        "report_meter_check_failures_ms": r.reports.meter_check_failures_ms,
        "report_hourly_one_ms": r.reports.hourly_one_ms,
        "report_peak_one_ms": r.reports.peak_one_ms,
        "report_load_shape_month_ms": r.reports.load_shape_month_ms,
    });
    let details = json!({
        "checks": {
            "passed": r.checks.passed(),
            "comparisons": r.checks.performed,
            "failures": r.checks.failures,
        },
        "goals": {
            "import_seconds_at_2500000_esiids": GOAL_IMPORT_SECONDS,
            "import_vs_copy_floor_ratio": GOAL_IMPORT_VS_FLOOR,
            "replace_vs_copy_floor_ratio": GOAL_REPLACE_VS_FLOOR,
            "query_daily_all_ms": GOAL_DAILY_MS,
            "query_esiid_13mo_ms_below": GOAL_13MO_MS,
            "bytes_per_interval": GOAL_HOT_BYTES,
            "raw_bytes_per_interval": GOAL_RAW_BYTES,
        },
        "machine": {
            "cpu": r.machine.cpu,
            "cores": r.machine.cores,
            "memory_gib": r.machine.memory_gib,
            "postgres": r.machine.postgres,
            "smt_extension": r.machine.smt_extension,
            "settings": r.machine.settings.iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect::<serde_json::Map<String, Value>>(),
        },
        "date": r.date,
        "git_commit": r.git_commit,
        "command": r.command,
        "data": {
            "esiids": p.esiids,
            "main_day": p.main_day,
            "records_per_file": p.records_per_file,
            "generation_every": p.generation_every,
            "seed": p.seed,
            "generated_this_run": r.data_generated,
            "generation_seconds": r.manifest.generation_seconds,
            "v1": set_json(&r.manifest.v1),
            "v2": set_json(&r.manifest.v2),
            "v0": set_json(&r.manifest.v0),
            "history": set_json(&r.manifest.history),
            "floor_copy_bytes_v1": f.v1_bytes,
            "floor_copy_bytes_v2": f.v2_bytes,
        },
        "runs": r.runs,
        "sizes_after_one_day": sizes_json(&r.sizes_one_day),
        "sizes_at_end": sizes_json(&r.sizes_end),
    });
    let extra = json!({
        "parse": r.parse,
        "queries": r.queries,
        "phase_seconds": r.phases.iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<serde_json::Map<String, Value>>(),
    });
    let mut out = figures;
    for part in [details, extra] {
        if let (Some(out), Value::Object(part)) = (out.as_object_mut(), part) {
            out.extend(part);
        }
    }
    out
}

/// Keys of `benchmarks.json` that other benchmarks write (`"citus"`: scripts/bench-citus.sh).
const OTHER_BENCHMARKS: &[&str] = &["citus"];

/// Carries [`OTHER_BENCHMARKS`]' keys over from the JSON file at `path` (when it has them) into
/// `out`, so rewriting the file does not lose them.
pub fn keep_other_benchmarks(path: &Path, out: &mut Value) {
    let Some(old) = fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    else {
        return;
    };
    if let Some(out) = out.as_object_mut() {
        for key in OTHER_BENCHMARKS {
            if let Some(v) = old.get(*key) {
                out.insert((*key).to_owned(), v.clone());
            }
        }
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or("—".into(), |v| format!("{v:.decimals$}"))
}

fn met(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "",
    }
}

/// The generated section, markers included.
pub fn markdown(r: &Results) -> String {
    let m = r.manifest;
    let p = &m.params;
    let f = &r.floors;
    let e2e = r.seconds("v1");
    let replace = r.seconds("v2");
    let older = r.seconds("v0");
    let e2e_ratio = e2e / f.copy_upsert_seconds;
    let replace_ratio = replace / f.replace_upsert_seconds;
    let settings: Vec<String> = r
        .machine
        .settings
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let commit = r.git_commit.get(..12).unwrap_or(&r.git_commit).to_owned()
        + if r.git_commit.ends_with("+dirty") {
            " with uncommitted changes"
        } else {
            ""
        };
    let goal_import = r.import_goal_seconds();
    let scaled = if p.esiids == GOAL_ESIIDS {
        String::new()
    } else {
        format!(" (in proportion: ≤ {goal_import:.2} s at this size)")
    };
    let rss = |name: &str| {
        r.run(name)
            .map_or("—".into(), |x| format!("{:.0} MB", x.peak_rss_mb))
    };
    let hot1 = r.sizes_one_day.bytes_per_interval();
    let hot2 = r.sizes_end.bytes_per_interval();
    let raw1 = r.sizes_one_day.raw_bytes_per_interval();
    let raw2 = r.sizes_end.raw_bytes_per_interval();
    let le = |v: Option<f64>, goal: f64| v.map(|v| v <= goal);
    let (first, last) = data::history_days();

    let rows: Vec<[String; 4]> = vec![
        [
            format!("Import of one day, end to end (`e2e_seconds`: `smt import` of {})", plural(m.v1.files.len(), "encrypted file")),
            format!("**{e2e:.2} s** ({} ESIID-days/s)", thousands((m.v1.records as f64 / e2e) as u64)),
            format!("≤ {GOAL_IMPORT_SECONDS:.0} s for {} ESIIDs{scaled}", thousands(GOAL_ESIIDS)),
            met(Some(e2e <= goal_import)).into(),
        ],
        [
            "… against the COPY + upsert floor (`e2e_vs_copy_floor_ratio`)".into(),
            format!("**{e2e_ratio:.2}×** (floor {:.2} s)", f.copy_upsert_seconds),
            format!("≤ {GOAL_IMPORT_VS_FLOOR:.0}×"),
            met(Some(e2e_ratio <= GOAL_IMPORT_VS_FLOOR)).into(),
        ],
        [
            "… against COPY into an unlogged table (`e2e_vs_unlogged_copy_ratio`)".into(),
            format!("{:.2}× (floor {:.2} s)", e2e / f.copy_unlogged_seconds, f.copy_unlogged_seconds),
            String::new(),
            String::new(),
        ],
        [
            "Replacement: every day again, newer revision (`replace_seconds`)".into(),
            format!("**{replace:.2} s**"),
            String::new(),
            String::new(),
        ],
        [
            "… against the COPY + upsert floor replacing every row (`replace_vs_copy_floor_ratio`)".into(),
            format!("**{replace_ratio:.2}×** (floor {:.2} s)", f.replace_upsert_seconds),
            format!("≤ {GOAL_REPLACE_VS_FLOOR:.0}×"),
            met(Some(replace_ratio <= GOAL_REPLACE_VS_FLOOR)).into(),
        ],
        [
            "Older revision of every day, nothing changes (`reimport_older_seconds`)".into(),
            format!("{older:.2} s"),
            String::new(),
            String::new(),
        ],
        [
            "Peak RSS of `smt import` (one day / replacement / older)".into(),
            format!("{} / {} / {}", rss("v1"), rss("v2"), rss("v0")),
            String::new(),
            String::new(),
        ],
        [
            "Daily totals of all ESIIDs, server execution (`query_daily_all_ms`)".into(),
            format!("**{:.1} ms** ({} rows)", r.queries.daily_all_ms, thousands(r.queries.daily_all_rows)),
            format!("≤ {GOAL_DAILY_MS:.0} ms"),
            met(Some(r.queries.daily_all_ms <= GOAL_DAILY_MS)).into(),
        ],
        [
            "… fetched by the client (`query_daily_all_fetch_ms`, COPY)".into(),
            format!("{:.1} ms", r.queries.daily_all_fetch_ms),
            String::new(),
            String::new(),
        ],
        [
            format!("13 months of one ESIID, every interval fetched (`query_esiid_13mo_ms`, {} rows)", thousands(r.queries.esiid_13mo_rows)),
            format!("**{:.1} ms**", r.queries.esiid_13mo_ms),
            format!("< {GOAL_13MO_MS:.0} ms"),
            met(Some(r.queries.esiid_13mo_ms < GOAL_13MO_MS)).into(),
        ],
        [
            "Monthly totals of one ESIID over 13 months (`query_monthly_one_ms`)".into(),
            format!("{:.1} ms", r.queries.monthly_one_ms),
            String::new(),
            String::new(),
        ],
        [
            format!("Daily meter reads of the main day loaded by `smt.load` (`daily_reads_load_seconds`, {} reads)", thousands(r.reports.daily_reads)),
            format!("{:.2} s", r.reports.daily_reads_load_s),
            String::new(),
            String::new(),
        ],
        [
            format!("Monthly usage of every ESIID for the main month, server execution (`report_monthly_all_ms`, {} rows)", thousands(r.reports.monthly_all_rows)),
            format!("{:.1} ms", r.reports.monthly_all_ms),
            String::new(),
            String::new(),
        ],
        [
            format!("Meter check of every ESIID for the main day, server execution (`report_meter_check_all_ms`, {} rows)", thousands(r.reports.meter_check_all_rows)),
            format!("{:.1} ms", r.reports.meter_check_all_ms),
            String::new(),
            String::new(),
        ],
        [
            format!("… the days that disagree (`report_meter_check_failures_ms`, {} rows)", thousands(r.reports.meter_check_failures_rows)),
            format!("{:.1} ms", r.reports.meter_check_failures_ms),
            String::new(),
            String::new(),
        ],
        [
            "Hourly profile / monthly usage with peak demand of one ESIID over 13 months (`report_hourly_one_ms`, `report_peak_one_ms`)".into(),
            format!("{:.1} / {:.1} ms", r.reports.hourly_one_ms, r.reports.peak_one_ms),
            String::new(),
            String::new(),
        ],
        [
            "Hourly load shape of all meters for the main month, server execution (`report_load_shape_month_ms`)".into(),
            format!("{:.1} ms", r.reports.load_shape_month_ms),
            String::new(),
            String::new(),
        ],
        [
            "Hot storage after one day (`bytes_per_interval_after_one_day`)".into(),
            format!("**{} B/interval**", opt(hot1, 2)),
            format!("≤ {GOAL_HOT_BYTES:.0} B"),
            met(le(hot1, GOAL_HOT_BYTES)).into(),
        ],
        [
            "Hot storage at the end: after replacement, history, VACUUM (`bytes_per_interval`)".into(),
            format!("{} B/interval", opt(hot2, 2)),
            format!("≤ {GOAL_HOT_BYTES:.0} B"),
            met(le(hot2, GOAL_HOT_BYTES)).into(),
        ],
        [
            "Raw files kept, per interval received, after one day / at the end (`raw_bytes_per_interval…`)".into(),
            format!("**{}** / {} B/interval", opt(raw1, 2), opt(raw2, 2)),
            format!("≤ {GOAL_RAW_BYTES:.0} B"),
            met(le(raw2, GOAL_RAW_BYTES).zip(le(raw1, GOAL_RAW_BYTES)).map(|(a, b)| a && b)).into(),
        ],
        [
            "Version history, per interval it holds (`history_bytes_per_interval`)".into(),
            format!("{} B/interval", opt(r.sizes_end.history_bytes_per_interval(), 2)),
            String::new(),
            String::new(),
        ],
        [
            "Parsing, one thread, in memory: LSE / SMT CSV (`lse_parse_mb_per_s`, `csv_parse_mb_per_s`)".into(),
            format!("{:.0} / {:.0} MB/s", r.parse.lse_mb_per_s, r.parse.csv_mb_per_s),
            String::new(),
            String::new(),
        ],
    ];

    let mut out = String::new();
    out.push_str(BEGIN);
    out.push_str("\n## End to end: one day of 15-minute data into PostgreSQL (`make bench`)\n\n");
    out.push_str(
        "Generated by `scripts/bench-e2e.sh` (`tests/src/bin/smt-bench`), which rewrites everything \
         between the `bench` markers; every figure is also in `benchmarks.json`.\n\n",
    );
    out.push_str(&format!(
        "- **Machine**: {}, {} cores, {:.0} GiB; PostgreSQL {}, smt {}\n",
        r.machine.cpu,
        r.machine.cores,
        r.machine.memory_gib,
        r.machine.postgres,
        r.machine.smt_extension
    ));
    out.push_str(&format!(
        "- **Cluster** (one scratch cluster for floors and smt): {}\n",
        settings.join(", ")
    ));
    out.push_str(&format!("- **Date**: {}, commit `{commit}`\n", r.date));
    out.push_str(&format!("- **Command**: `{}`\n", r.command));
    out.push_str(&format!(
        "- **Data**: {} ESIIDs on {} (load for all, generation for every {}th): {} ESIID-channel-days, \
         {} intervals, in {} of ≤ {} records; {} of LSE, {} zipped and OpenPGP-encrypted. \
         Then the same days with new values and a revision one hour later (every day replaced), \
         then one hour earlier (stale: nothing changes). Then, untimed: 13 months \
         ({first}..{last}) of {} other meters and both 2025 DST days of {} meters.\n",
        thousands(p.esiids),
        p.main_day,
        p.generation_every,
        thousands(m.v1.records),
        thousands(m.v1.intervals),
        plural(m.v1.files.len(), "file"),
        thousands(p.records_per_file),
        mb(m.v1.lse_bytes),
        mb(m.v1.bytes),
        p.history_esiids,
        thousands(p.dst_esiids),
    ));
    out.push_str(&format!(
        "- **Floors**: the same rows as smt stores them (the columns of `smt.interval_day`), as a \
         binary COPY file ({}) streamed into a database of the same cluster: (a) COPY into an \
         unlogged table without indexes {:.2} s; (b) COPY into an unlogged staging table + \
         `INSERT … ON CONFLICT DO UPDATE` into an empty keyed table {:.2} s; (c) the same with \
         the newer rows over the filled table {:.2} s. CHECKPOINT before each timed step, ours too.\n",
        mb(f.v1_bytes),
        f.copy_unlogged_seconds,
        f.copy_upsert_seconds,
        f.replace_upsert_seconds,
    ));
    out.push_str(&format!(
        "- Queries: median of {} runs after one warm-up, after `VACUUM (ANALYZE)`.\n\n",
        r.queries.runs
    ));
    out.push_str("| Figure | This run | Goal | Met |\n|---|---:|---|:-:|\n");
    for [a, b, c, d] in &rows {
        out.push_str(&format!("| {a} | {b} | {c} | {d} |\n"));
    }
    out.push('\n');
    let tables: Vec<String> = r
        .sizes_end
        .table_bytes
        .iter()
        .map(|(t, b)| format!("`{t}` {}", mb(*b as u64)))
        .collect();
    out.push_str(&format!(
        "Sizes at the end (heap, indexes and TOAST, partitions included): {}; {} intervals \
         stored, {} in the version history, {} received in all.\n\n",
        tables.join(", "),
        thousands(r.sizes_end.hot_intervals as u64),
        thousands(r.sizes_end.history_intervals as u64),
        thousands(r.sizes_end.intervals_received),
    ));
    if r.checks.passed() {
        out.push_str(&format!(
            "**Exact checks: passed** ({} comparisons after every load: records, intervals, \
             present and estimated intervals and exact kWh sums per day and channel, from \
             `smt.daily_usage` and from the stored rows; `smt.file` counts; query results).\n",
            r.checks.performed
        ));
    } else {
        out.push_str(&format!(
            "**Exact checks: FAILED**: {} of {} comparisons differ; the first ones:\n\n",
            r.checks.failures.len(),
            r.checks.performed
        ));
        for f in r.checks.failures.iter().take(10) {
            out.push_str(&format!("- {}\n", f.replace('\n', " ")));
        }
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// Writes `section` between the markers of `path`, adding the markers after the first heading's
/// introductory paragraph when they are missing (a missing file gets a heading and the section).
pub fn write_markdown(path: &Path, section: &str) -> Result<()> {
    let old = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "# Benchmarks\n".to_owned(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if b < e => {
            let after = old[e + END.len()..]
                .strip_prefix('\n')
                .unwrap_or(&old[e + END.len()..]);
            format!("{}{section}{after}", &old[..b])
        }
        _ => insert_after_intro(&old, section),
    };
    fs::write(path, new).with_context(|| format!("writing {}", path.display()))
}

fn insert_after_intro(text: &str, section: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let heading = lines.iter().position(|l| l.starts_with("# "));
    let mut at = match heading {
        Some(h) => h + 1,
        None => 0,
    };
    if heading.is_some() {
        // Blank lines, then the paragraph up to the next blank line.
        while at < lines.len() && lines[at].trim().is_empty() {
            at += 1;
        }
        while at < lines.len() && !lines[at].trim().is_empty() {
            at += 1;
        }
    }
    let before: String = lines[..at].concat();
    let after: String = lines[at..].concat();
    let sep = if before.ends_with('\n') || before.is_empty() {
        ""
    } else {
        "\n"
    };
    let before = before.trim_end_matches('\n');
    let after = after.trim_start_matches('\n');
    if after.is_empty() {
        format!("{before}{sep}\n\n{section}")
    } else {
        format!("{before}{sep}\n\n{section}\n{after}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_go_after_the_intro_and_are_replaced_later() {
        let doc = "# Benchmarks\n\nIntro line one\nline two.\n\n```sh\nx\n```\n";
        let first = insert_after_intro(doc, &format!("{BEGIN}\nA\n{END}\n"));
        assert_eq!(
            first,
            format!(
                "# Benchmarks\n\nIntro line one\nline two.\n\n{BEGIN}\nA\n{END}\n\n```sh\nx\n```\n"
            )
        );
        let dir = std::env::temp_dir().join(format!("smt-bench-md-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("B.md");
        fs::write(&path, &first).unwrap();
        write_markdown(&path, &format!("{BEGIN}\nB\n{END}\n")).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!(
                "# Benchmarks\n\nIntro line one\nline two.\n\n{BEGIN}\nB\n{END}\n\n```sh\nx\n```\n"
            )
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_citus_key_survives_a_rewrite() {
        let dir = std::env::temp_dir().join(format!("smt-bench-json-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("b.json");
        let mut out = json!({"e2e_seconds": 2.0});
        keep_other_benchmarks(&path, &mut out);
        assert_eq!(out, json!({"e2e_seconds": 2.0}), "no file: nothing to keep");
        fs::write(
            &path,
            r#"{"e2e_seconds": 1.0, "gone": 1, "citus": {"x": 1}}"#,
        )
        .unwrap();
        keep_other_benchmarks(&path, &mut out);
        assert_eq!(out, json!({"e2e_seconds": 2.0, "citus": {"x": 1}}));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(2_500_000), "2,500,000");
    }
}
