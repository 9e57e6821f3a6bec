//! smt on a real Citus cluster (a coordinator and two workers, `make test-citus`), against single
//! nodes loading the same files.
//!
//! The cluster comes from `SMT_CITUS_URL` (the coordinator's database, with the citus extension
//! and both workers added) and `SMT_CITUS_DIR` (its nodes' data directories, so the test can stop
//! and restart a worker); single nodes from `SMT_TEST_DATABASE_URL`. `make test-citus` starts both
//! and sets them. The coordinator's database is one, so this binary holds one test, run in steps:
//!
//! 1. a file loaded by smt 0.3.0, updated to this version, is moved to the workers by
//!    `smt.distribute()`; the layout is checked in Citus' own catalog (ESIID tables co-located,
//!    shards on both workers);
//! 2. the DST fixture, generated days (with newer and older revisions), a CSV with a bad value,
//!    daily and monthly reads, loaded one by one with `smt import` through the coordinator, equal
//!    a single node loading them in the same order: every view, history and log, row for row;
//!    importing a file again changes nothing (exactly once);
//! 3. three revisions of a day imported at once (the merges write the same shards concurrently)
//!    end in the state a single node reaches loading them one by one in the opposite order; one
//!    meter's query goes to one shard, all meters' totals to every shard, with smt's Rust helpers
//!    computed there (EXPLAIN);
//! 4. a worker stopped while an import is writing both workers' shards: the import fails, and once
//!    the worker is back nothing of the file is anywhere; imported again, it loads in full;
//! 5. the enrolled-meter functions and `smt.meter_status` work on the distributed `smt.meter`, and
//!    a login role granted smt_reader reads the views through the coordinator;
//! 6. smt dropped as README says leaves nothing of it on any node.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use postgres::{Client, NoTls};
use smt_e2e::missing_part;

const DAILY_1: &str = "ESIID,READ_DATE,REVISION_DATE,START_READING,END_READING,USAGE_KWH\n\
10443720000000001,09/01/2025,09/02/2025 07:41:22,24002.915,24038.915,36.000\n\
10443720000000001,09/02/2025,09/03/2025 07:41:22,24038.915,24070.100,31.185\n\
1008901000000000000001,09/01/2025,09/02/2025 07:41:22,100.0,112.50,12.50\n\
1008901000000000000002,09/01/2025,09/02/2025 07:41:22,100.0,not-a-number,12.50\n";
const DAILY_2: &str = "ESIID,READ_DATE,REVISION_DATE,START_READING,END_READING,USAGE_KWH\n\
10443720000000001,09/01/2025,09/04/2025 07:41:22,24002.915,24039.000,36.085\n\
1008901000000000000001,09/01/2025,09/01/2025 07:41:22,100.0,111.00,11.00\n";
const MONTHLY_1: &str = "ESIID,START_DATE,END_DATE,REVISION_DATE,ACTUAL_KWH,METERED_KW,BILLED_KW\n\
10443720000000001,08/01/2025,08/31/2025,09/02/2025 07:41:22,1023.5,4.2,4.2\n\
1008901000000000000001,08/01/2025,08/31/2025,09/02/2025 07:41:22,880.25,3.1,3.0\n";
const MONTHLY_2: &str = "ESIID,START_DATE,END_DATE,REVISION_DATE,ACTUAL_KWH,METERED_KW,BILLED_KW\n\
10443720000000001,08/01/2025,08/31/2025,09/05/2025 07:41:22,1024.5,4.3,4.3\n";

/// The ESIID-keyed tables `smt.distribute` spreads by esiid, co-located.
const BY_ESIID: [&str; 8] = [
    "smt.interval_day",
    "smt.interval_version",
    "smt.day_total",
    "smt.daily_read",
    "smt.daily_read_version",
    "smt.monthly_usage",
    "smt.monthly_usage_version",
    "smt.meter",
];

/// What every query of a comparison sees: its rows' count, a sum and an md5 of every row's text in
/// order. `current`: what does not depend on the order files came in (the stored state, the set of
/// versions kept); the others also show what each load did (outcomes, file log, rejects).
const CURRENT: [(&str, &str); 14] = [
    ("interval", "SELECT esiid, channel, day, interval_start, kwh, status, revision FROM smt.interval"),
    ("interval_15min", "SELECT * FROM smt.interval_15min"),
    ("daily_usage", "SELECT * FROM smt.daily_usage"),
    ("day_total", "SELECT * FROM smt.day_total"),
    ("completeness", "SELECT esiid, channel, day, intervals_expected, intervals_present, intervals_missing, revision FROM smt.completeness"),
    ("monthly_usage_summary", "SELECT * FROM smt.monthly_usage_summary"),
    ("meter_check", "SELECT * FROM smt.meter_check"),
    ("hourly_usage", "SELECT * FROM smt.hourly_usage"),
    ("hourly_profile", "SELECT * FROM smt.hourly_profile"),
    ("hourly_load_shape", "SELECT * FROM smt.hourly_load_shape"),
    ("daily_read", "SELECT esiid, day, revision, start_reading, end_reading, usage_kwh FROM smt.daily_read"),
    ("monthly_usage", "SELECT esiid, start_date, end_date, revision, actual_kwh, metered_kw, billed_kw FROM smt.monthly_usage"),
    ("versions kept", "SELECT esiid, channel, day, revision, intervals_present FROM smt.interval_versions"),
    ("read versions kept", "SELECT esiid, day, revision, usage_kwh FROM smt.daily_read_version UNION ALL SELECT esiid, start_date, revision, actual_kwh FROM smt.monthly_usage_version"),
];
const HOW_LOADED: [(&str, &str); 6] = [
    ("interval_versions", "SELECT esiid, channel, day, revision, file_id, outcome, intervals_present FROM smt.interval_versions"),
    ("estimates_replaced", "SELECT * FROM smt.estimates_replaced"),
    ("file_log", "SELECT file_id, name, format, state, records, inserted, replaced, stale, identical, conflicts, rejected, error FROM smt.file_log"),
    ("reject_log", "SELECT file_id, file_name, line, field, kind, reason, raw, esiid, channel, day FROM smt.reject_log"),
    ("daily_read_version", "SELECT esiid, day, revision, usage_kwh, file_id, line, outcome, decided_by_file_id FROM smt.daily_read_version"),
    ("monthly_usage_version", "SELECT esiid, start_date, revision, actual_kwh, file_id, line, outcome, decided_by_file_id FROM smt.monthly_usage_version"),
];

/// The cluster: the coordinator's database URL and the nodes' directory.
struct Cluster {
    url: String,
    dir: PathBuf,
}

fn cluster() -> Option<Cluster> {
    match (
        std::env::var("SMT_CITUS_URL"),
        std::env::var("SMT_CITUS_DIR"),
    ) {
        (Ok(url), Ok(dir)) if !url.is_empty() && !dir.is_empty() => Some(Cluster {
            url,
            dir: PathBuf::from(dir),
        }),
        _ => {
            missing_part(
                "a Citus cluster (SMT_CITUS_URL and SMT_CITUS_DIR are not set)",
                "`make test-citus` builds Citus if missing, starts a coordinator and two workers and sets them",
            );
            None
        }
    }
}

impl Cluster {
    fn connect(&self) -> Client {
        Client::connect(&self.url, NoTls).unwrap_or_else(|e| {
            panic!(
                "connecting to the coordinator {}: {}",
                self.url,
                explain(&e)
            )
        })
    }

    /// A connection to the node on `port`: the coordinator's database and role there.
    fn node(&self, port: u16) -> Client {
        // (a fresh Config: `port` adds a port to the URL's, it does not replace it)
        let url: postgres::Config = self.url.parse().expect("SMT_CITUS_URL");
        let mut config = postgres::Config::new();
        if let Some(postgres::config::Host::Tcp(host)) = url.get_hosts().first() {
            config.host(host);
        }
        config
            .user(url.get_user().expect("SMT_CITUS_URL names a role"))
            .dbname(url.get_dbname().expect("SMT_CITUS_URL names a database"))
            .port(port)
            .connect(NoTls)
            .unwrap_or_else(|e| panic!("connecting to the node on port {port}: {}", explain(&e)))
    }

    /// `scripts/pg.sh ACTION` on worker `n` (1 or 2).
    fn worker(&self, action: &str, n: u8, port: u16) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg.sh");
        let dir = self.dir.join(format!("worker{n}"));
        let mut cmd = std::process::Command::new("bash");
        cmd.arg(&script).arg(action).arg(&dir);
        if action == "start" {
            cmd.arg(port.to_string());
        }
        let out = cmd.output().expect("running scripts/pg.sh");
        assert!(
            out.status.success(),
            "pg.sh {action} worker{n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// One comparison line per query: `name: count sum md5`.
fn snapshot(c: &mut Client, queries: &[(&str, &str)]) -> Vec<String> {
    queries
        .iter()
        .map(|(name, sql)| {
            let row = c
                .query_one(
                    &format!(
                        "SELECT count(*)::text || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) \
                           FROM ({sql}) t"
                    ),
                    &[],
                )
                .unwrap_or_else(|e| panic!("{name}: {}", explain(&e)));
            format!("{name}: {}", row.get::<_, String>(0))
        })
        .collect()
}

fn full_snapshot(c: &mut Client) -> Vec<String> {
    let mut all = snapshot(c, &CURRENT);
    all.extend(snapshot(c, &HOW_LOADED));
    all
}

/// `smt import` of `files` into the database at `url` (several files load at once).
fn import(url: &str, dir: &Path, files: &[&Path]) -> Output {
    let mut args = vec!["import", "--database-url", url, "--connections", "3"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    run(smt(dir, &args), Duration::from_secs(300))
}

fn generate(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut all = vec!["generate", "-o", out.to_str().unwrap()];
    all.extend_from_slice(args);
    run(smt(dir, &all), COMMAND_TIMEOUT).expect_code(0, &format!("smt generate {name}"));
    out
}

/// `smt generate` of `esiids` meters over `days` (comma-separated) with `seed`, every revision
/// shifted by `offset_hours` (a newer or older version of the same data).
fn revision(
    dir: &Path,
    name: &str,
    esiids: u32,
    days: &str,
    seed: u32,
    offset_hours: &str,
) -> PathBuf {
    let (esiids, seed) = (esiids.to_string(), seed.to_string());
    let args = [
        "--esiids",
        &esiids,
        "--days",
        days,
        "--seed",
        &seed,
        "--revision-offset-hours",
        offset_hours,
    ];
    generate(dir, name, &args)
}

/// The port a node listens on, from Citus' node list (`citus.sh` starts them on consecutive ports).
fn worker_port(c: &mut Client, n: u8) -> u16 {
    let port: i32 = one(
        c,
        "SELECT nodeport FROM pg_dist_node WHERE noderole = 'primary' AND groupid > 0 ORDER BY nodeport OFFSET $1 LIMIT 1",
        &[&(i64::from(n) - 1)],
    );
    u16::try_from(port).unwrap()
}

#[test]
fn smt_on_citus_equals_a_single_node() {
    let Some(cluster) = cluster() else { return };
    let Some(single) = TestDb::extension_only("citus_same_order") else {
        return;
    };
    let Some(reversed) = TestDb::extension_only("citus_other_order") else {
        return;
    };
    let Some(fixtures) = smt_e2e::fixtures_dir() else {
        return;
    };
    let scratch = scratch("citus");
    let dir = scratch.path();
    let mut coord = cluster.connect();
    // (A run before this one may have left smt there.)
    let installed: bool = one(
        &mut coord,
        "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'smt')",
        &[],
    );
    if installed {
        exec(&mut coord, DROP_SHARDS);
    }
    exec(
        &mut coord,
        "DROP EXTENSION IF EXISTS smt CASCADE; CREATE EXTENSION smt VERSION '0.3.0'",
    );

    // Without Citus there is nothing to distribute, and smt.distribute says so.
    let err = single
        .connect()
        .query("SELECT * FROM smt.distribute()", &[])
        .expect_err("smt.distribute without Citus");
    assert_eq!(
        smt_e2e::sqlstate(&err).as_deref(),
        Some("0A000"),
        "{}",
        explain(&err)
    );
    let hint = err.as_db_error().and_then(|d| d.hint()).unwrap_or_default();
    assert!(hint.contains("CREATE EXTENSION citus"), "hint: {hint}");

    // 1. Distributing a database that already holds data, loaded by the last release before
    // smt could be distributed (0.3.0) and updated in place (Citus runs the update on the workers).
    let dst_fixture = std::fs::read(fixtures.join("generated/dst_days.lse")).unwrap();
    for c in [&mut coord, &mut single.connect()] {
        smt_e2e::load(c, &dst_fixture, "dst_days.lse");
    }
    exec(&mut coord, "ALTER EXTENSION smt UPDATE");
    let versions: i64 = one(
        &mut coord,
        "SELECT count(*) FROM run_command_on_all_nodes($$SELECT extversion FROM pg_extension WHERE extname = 'smt'$$) \
          WHERE success AND result = '0.4.0'",
        &[],
    );
    assert_eq!(versions, 3, "smt 0.4.0 on the coordinator and both workers");
    let before = snapshot(&mut coord, &CURRENT);
    let layout = texts(
        &mut coord,
        "SELECT table_name::text, distribution, coalesce(distributed_by, '-'), colocation_id::text FROM smt.distribute()",
        &[],
    );
    check_layout(&mut coord, &layout);
    assert_eq!(
        texts(
            &mut coord,
            "SELECT table_name::text, distribution, coalesce(distributed_by, '-'), colocation_id::text FROM smt.distribute()",
            &[]
        ),
        layout,
        "smt.distribute run again must change nothing"
    );
    assert_eq!(
        snapshot(&mut coord, &CURRENT),
        before,
        "the data loaded before smt.distribute moved to the shards unchanged"
    );
    let left_local: i64 = one(
        &mut coord,
        "SELECT coalesce(sum(pg_relation_size(p.logicalrelid)), 0)::bigint FROM pg_dist_partition p \
           JOIN pg_class c ON c.oid = p.logicalrelid WHERE c.relnamespace = 'smt'::regnamespace AND c.relkind = 'r'",
        &[],
    );
    assert_eq!(
        left_local, 0,
        "the coordinator's own copies of distributed tables are emptied"
    );
    let on_workers: i64 = one(
        &mut coord,
        "SELECT count(DISTINCT n.nodeport) FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) \
           JOIN pg_dist_node n USING (groupid) \
          WHERE s.logicalrelid = 'smt.interval_day'::regclass AND n.groupid > 0",
        &[],
    );
    assert_eq!(
        on_workers, 2,
        "smt.interval_day's shards are on both workers"
    );

    // 2. The same files in the same order, one `smt import` each.
    let dst = generate(dir, "dst.lse", &["--esiids", "8", "--seed", "3"]);
    let day = revision(dir, "day.lse", 300, "2025-07-15", 5, "0");
    let newer = revision(dir, "day-newer.lse", 300, "2025-07-15", 5, "24");
    let older = revision(dir, "day-older.lse", 300, "2025-07-15", 5, "-24");
    let bad = bad_csv(dir);
    let daily1 = write(dir, "daily1.csv", DAILY_1.as_bytes());
    let daily2 = write(dir, "daily2.csv", DAILY_2.as_bytes());
    let monthly1 = write(dir, "monthly1.csv", MONTHLY_1.as_bytes());
    let monthly2 = write(dir, "monthly2.csv", MONTHLY_2.as_bytes());
    let ordered = [
        &dst, &day, &newer, &older, &bad, &daily1, &daily2, &monthly1, &monthly2,
    ];
    for file in ordered {
        for url in [cluster.url.as_str(), single.url()] {
            let out = import(url, dir, &[file]);
            assert!(
                matches!(out.code(), Some(0) | Some(1)),
                "smt import {}: {:?}\n{}\n{}",
                file.display(),
                out.code(),
                out.stdout,
                out.stderr
            );
        }
    }
    let cluster_state = full_snapshot(&mut coord);
    assert_eq!(
        cluster_state,
        full_snapshot(&mut single.connect()),
        "Citus and a single node after the same loads"
    );
    let rejects: i64 = one(
        &mut coord,
        "SELECT count(*) FROM smt.reject_log WHERE esiid IS NOT NULL",
        &[],
    );
    assert!(
        rejects >= 2,
        "the bad CSV value and daily read are rejected with their ESIID ({rejects})"
    );
    let replaced: i64 = one(
        &mut coord,
        "SELECT count(*) FROM smt.interval_versions WHERE outcome = 'replaced'",
        &[],
    );
    assert!(
        replaced >= 300,
        "the newer revision replaced the day ({replaced} versions replaced)"
    );

    // Exactly once: the same content again changes nothing.
    import(&cluster.url, dir, &[&day]).expect_code(0, "smt import of a file already loaded");
    assert_eq!(
        full_snapshot(&mut coord),
        cluster_state,
        "a file imported again changed nothing"
    );

    // 3. Concurrent merges into the same shards, against one by one in the opposite order.
    let day2: Vec<PathBuf> = ["0", "24", "-24"]
        .iter()
        .map(|offset| {
            revision(
                dir,
                &format!("day2{offset}.lse"),
                400,
                "2025-07-17",
                7,
                offset,
            )
        })
        .collect();
    let day2: Vec<&Path> = day2.iter().map(PathBuf::as_path).collect();
    import(&cluster.url, dir, &day2).expect_code(0, "smt import of three revisions at once");
    for file in ordered.iter().rev() {
        let out = import(reversed.url(), dir, &[file]);
        assert!(
            matches!(out.code(), Some(0) | Some(1)),
            "smt import {}: {}",
            file.display(),
            out.stderr
        );
    }
    smt_e2e::load(&mut reversed.connect(), &dst_fixture, "dst_days.lse");
    for file in day2.iter().rev() {
        import(reversed.url(), dir, &[file]).expect_code(0, "smt import one by one");
    }
    assert_eq!(
        snapshot(&mut coord, &CURRENT),
        snapshot(&mut reversed.connect(), &CURRENT),
        "stored state on Citus (concurrent loads) and on a single node (one by one, the other order)"
    );

    plans(&mut coord);

    // 4. A worker stopped mid-import (the coordinator's sessions then reconnect).
    drop(coord);
    stopped_worker(&cluster, &reversed, dir);

    // 5. Meters and roles.
    let mut coord = cluster.connect();
    meters(&mut coord);
    reader_role(&cluster, &mut coord);

    // 6. Dropping smt from the cluster, as README says, leaves nothing of it on any node.
    drop_smt(&cluster, &mut coord);
}

/// README's way to drop smt from a Citus database: the shards first (a plain DROP EXTENSION leaves
/// them on the workers), then the extension.
fn drop_smt(cluster: &Cluster, coord: &mut Client) {
    exec(coord, DROP_SHARDS);
    exec(coord, "DROP EXTENSION smt CASCADE");
    let mut nodes = vec![(
        0,
        coord
            .query_one("SELECT current_setting('port')::int", &[])
            .unwrap()
            .get::<_, i32>(0),
    )];
    nodes.extend([1u8, 2].map(|n| (n, i32::from(worker_port(coord, n)))));
    for (n, port) in nodes {
        let mut c = cluster.node(u16::try_from(port).unwrap());
        let left: i64 = one(
            &mut c,
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'smt'::regnamespace",
            &[],
        );
        assert_eq!(left, 0, "relations of smt left on node {n} (port {port})");
    }
}

/// README's statement that drops smt's shards on every worker (see [`drop_smt`]).
const DROP_SHARDS: &str = "SELECT citus_drop_all_shards(p.logicalrelid, 'smt', c.relname) \
    FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid \
   WHERE c.relnamespace = 'smt'::regnamespace AND NOT c.relispartition";

/// The plan of `sql` (EXPLAIN VERBOSE, without costs), one line a row.
fn plan(c: &mut Client, sql: &str) -> Vec<String> {
    texts(c, &format!("EXPLAIN (VERBOSE, COSTS OFF) {sql}"), &[])
        .into_iter()
        .map(|r| r[0].trim().to_owned())
        .collect()
}

/// How Citus runs the reports: one meter on one shard; every meter on all shards in parallel, the
/// per-day work (smt._day_hours, IMMUTABLE) done in the shards' queries on the workers.
fn plans(c: &mut Client) {
    let shards: i64 = one(
        c,
        "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'smt.interval_day'::regclass",
        &[],
    );
    let one_meter = plan(
        c,
        "SELECT * FROM smt.daily_usage WHERE esiid = '10443720000000001' AND day >= '2025-07-01'",
    );
    assert!(
        one_meter.contains(&"Task Count: 1".to_owned()),
        "{one_meter:#?}"
    );
    // smt.interval_15min too, days of other interval lengths (spread over the 15-minute grid)
    // included.
    let one_meter_15 = plan(
        c,
        "SELECT * FROM smt.interval_15min WHERE esiid = '10443720000000001'",
    );
    assert!(
        one_meter_15.contains(&"Task Count: 1".to_owned()),
        "{one_meter_15:#?}"
    );
    let all = plan(
        c,
        "SELECT day, count(*), sum(import_kwh) FROM smt.day_total WHERE day = '2025-07-15' GROUP BY day",
    );
    assert!(all.contains(&format!("Task Count: {shards}")), "{all:#?}");
    let hourly = plan(
        c,
        "SELECT hour_ending, sum(kwh) FROM smt.hourly_usage GROUP BY 1",
    );
    assert!(
        hourly.contains(&format!("Task Count: {shards}")),
        "{hourly:#?}"
    );
    assert!(
        hourly
            .iter()
            .any(|l| l.starts_with("Query:") && l.contains("_day_hours")),
        "the hour sums are computed in the shards' queries: {hourly:#?}"
    );
}

/// An interval CSV of two meters' day with one value that is not a number.
fn bad_csv(dir: &Path) -> PathBuf {
    let good = generate(
        dir,
        "good.csv",
        &[
            "--format",
            "csv",
            "--esiids",
            "2",
            "--days",
            "2025-07-16",
            "--seed",
            "9",
        ],
    );
    let text = std::fs::read_to_string(&good).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // The 10th data row's USAGE_KWH (6th field).
    let mut fields: Vec<String> = lines[10].split(',').map(str::to_owned).collect();
    fields[5] = "1.2.3".into();
    lines[10] = fields.join(",");
    write(dir, "bad.csv", (lines.join("\n") + "\n").as_bytes())
}

fn check_layout(coord: &mut Client, layout: &[Vec<String>]) {
    let find = |t: &str| {
        layout
            .iter()
            .find(|r| r[0] == t)
            .unwrap_or_else(|| panic!("{t} is not in smt.distribute()'s layout: {layout:?}"))
            .clone()
    };
    let colocation = find(BY_ESIID[0])[3].clone();
    for t in BY_ESIID {
        let row = find(t);
        assert_eq!(
            (row[1].as_str(), row[2].as_str()),
            ("distributed", "esiid"),
            "{t}"
        );
        assert_eq!(row[3], colocation, "{t} is co-located with {}", BY_ESIID[0]);
    }
    let content = find("smt.file_content");
    let reject = find("smt.reject");
    assert_eq!(
        (content[1].as_str(), content[2].as_str()),
        ("distributed", "file_id")
    );
    assert_eq!(
        (reject[1].as_str(), reject[2].as_str(), reject[3].as_str()),
        ("distributed", "file_id", content[3].as_str())
    );
    // The file register, staging and the scheduler's tables stay on the coordinator (smt.file is not
    // a reference table: every load writes it, and Citus serializes writes to reference tables).
    let local: i64 = one(
        coord,
        "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid IN \
           ('smt.file'::regclass, 'smt.stage'::regclass, 'smt.upload'::regclass, 'smt.job'::regclass, 'smt.request'::regclass)",
        &[],
    );
    assert_eq!(
        local, 0,
        "the file register, staging and job tables are not distributed"
    );
    // A month's partitions a load makes later are distributed too (checked after the loads).
    assert_eq!(layout.len(), BY_ESIID.len() + 2, "{layout:?}");
}

/// A worker stopped while an import holds writes on both workers: the import fails, nothing of the
/// file is left once the worker is back, and the file then loads in full.
fn stopped_worker(cluster: &Cluster, single: &TestDb, dir: &Path) {
    let coord = &mut cluster.connect();
    let base = revision(dir, "big.lse", 500, "2025-07-20,2025-07-21", 13, "0");
    let newer = revision(dir, "big-newer.lse", 500, "2025-07-20,2025-07-21", 13, "24");
    import(&cluster.url, dir, &[&base]).expect_code(0, "smt import big.lse");
    import(single.url(), dir, &[&base]).expect_code(0, "smt import big.lse (single node)");
    let before = full_snapshot(coord);
    let port1 = worker_port(coord, 1);
    let port2 = worker_port(coord, 2);
    // One of the file's days on worker 1, held by a row lock so the import waits there while its
    // writes to worker 2's shards are made (uncommitted).
    let mut by_worker = |port: u16| -> (String, i64) {
        let row = coord
            .query_one(
                "SELECT min(d.esiid), count(DISTINCT d.esiid) FROM smt.interval_day d \
                   JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('smt.interval_day', d.esiid) \
                   JOIN pg_dist_node n USING (groupid) \
                  WHERE d.day = '2025-07-20' AND n.nodeport = $1",
                &[&i32::from(port)],
            )
            .unwrap_or_else(|e| panic!("the file's days on the worker on port {port}: {}", explain(&e)));
        (
            row.get::<_, Option<String>>(0).unwrap_or_default(),
            row.get(1),
        )
    };
    let (held, _) = by_worker(port1);
    assert!(!held.is_empty(), "the file has days on worker 1");
    let (_, on_worker2) = by_worker(port2);
    assert!(on_worker2 > 0, "the file has days on worker 2");
    let mut locker = cluster.connect();
    exec(&mut locker, "BEGIN");
    locker
        .query(
            "SELECT 1 FROM smt.interval_day WHERE esiid = $1 AND day = '2025-07-20' FOR UPDATE",
            &[&held],
        )
        .unwrap_or_else(|e| panic!("locking a row: {}", explain(&e)));
    let mut cmd = smt(
        dir,
        &[
            "import",
            "--database-url",
            &cluster.url,
            newer.to_str().unwrap(),
        ],
    );
    cmd.env("SMT_LOG", "info");
    let running = Running::spawn(cmd);
    // Wait until the import waits for the held row (on worker 1).
    let mut w1 = cluster.node(port1);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let waiting: i64 = one(
            &mut w1,
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
            &[],
        );
        if waiting > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the import never reached the held row"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(w1);
    cluster.worker("stop", 2, port2);
    exec(&mut locker, "ROLLBACK");
    drop(locker);
    let out = running.wait(Duration::from_secs(300));
    assert_ne!(
        out.code(),
        Some(0),
        "the import with a worker stopped must fail\n{}\n{}",
        out.stdout,
        out.stderr
    );
    // It failed for the stopped worker, not for anything else.
    assert!(
        out.stderr.contains(&port2.to_string()) || out.stderr.contains("connection"),
        "the import failed, but not on the stopped worker:\n{}",
        out.stderr
    );
    cluster.worker("start", 2, port2);
    // Citus recovers (commits or aborts) any transaction prepared on the workers.
    let mut coord2 = cluster.connect();
    exec(&mut coord2, "SELECT recover_prepared_transactions()");
    assert_eq!(
        full_snapshot(&mut coord2),
        before,
        "after the failed import: nothing of big-newer.lse anywhere"
    );
    let sha_loaded: i64 = one(
        &mut coord2,
        "SELECT count(*) FROM smt.file WHERE name LIKE '%big-newer.lse' AND state = 'loaded'",
        &[],
    );
    assert_eq!(sha_loaded, 0, "the failed import registered no loaded file");
    // Imported again, it loads in full, as on a single node.
    import(&cluster.url, dir, &[&newer]).expect_code(0, "smt import big-newer.lse again");
    import(single.url(), dir, &[&newer]).expect_code(0, "smt import big-newer.lse (single node)");
    assert_eq!(
        snapshot(&mut coord2, &CURRENT),
        snapshot(&mut single.connect(), &CURRENT),
        "after the retried import, Citus equals a single node"
    );
}

/// Rows as text (NULL spelled out).
fn texts(
    c: &mut Client,
    sql: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Vec<Vec<String>> {
    rows_text(c, sql, params)
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .collect()
        })
        .collect()
}

/// Enrolment and the worker's meter functions on the distributed `smt.meter`.
fn meters(coord: &mut Client) {
    exec(
        coord,
        "SELECT smt.enroll('10443720000000001', 'M1', 'a@example.com', 3)",
    );
    exec(
        coord,
        "SELECT smt.enroll('1008901000000000000001', 'M2', 'b@example.com', 3)",
    );
    let claimed = texts(
        coord,
        "SELECT esiid FROM smt.meter_claim('w1', '5 minutes', now())",
        &[],
    );
    assert_eq!(claimed.len(), 1, "one meter claimed: {claimed:?}");
    let other = texts(
        coord,
        "SELECT esiid FROM smt.meter_claim('w2', '5 minutes', now())",
        &[],
    );
    assert_eq!(other.len(), 1, "the other meter claimed: {other:?}");
    assert_ne!(claimed, other, "never the same meter twice");
    assert!(texts(
        coord,
        "SELECT esiid FROM smt.meter_claim('w3', '5 minutes', now())",
        &[]
    )
    .is_empty());
    let updated: bool = one(
        coord,
        "SELECT smt.meter_update($1, 'w1', 'active', 'A1', NULL, '1 day')",
        &[&claimed[0][0]],
    );
    assert!(updated, "meter_update on the claimed meter");
    let (state, missing): (String, i64) = {
        let r = coord
            .query_one(
                "SELECT state, days_missing FROM smt.meter_status WHERE esiid = $1",
                &[&claimed[0][0]],
            )
            .unwrap_or_else(|e| panic!("smt.meter_status: {}", explain(&e)));
        (r.get(0), r.get(1))
    };
    assert_eq!(state, "active");
    let expected: i64 = one(
        coord,
        "SELECT (m.requested_through - m.history_from + 1) \
                - (SELECT count(*) FROM smt.day_total t WHERE t.esiid = m.esiid AND t.day BETWEEN m.history_from AND m.requested_through) \
           FROM smt.meter m WHERE m.esiid = $1",
        &[&claimed[0][0]],
    );
    assert_eq!(missing, expected, "days_missing");
    assert!(
        missing > 80,
        "a new meter's three months of history are missing ({missing})"
    );
    let requests: i64 = one(
        coord,
        "SELECT count(*) FROM smt.request WHERE esiids = ARRAY[$1]",
        &[&claimed[0][0]],
    );
    assert_eq!(requests, 2, "the history requested (15-minute and daily)");
    // Nothing more to request today: the history's requests are outstanding.
    let queued: i32 = one(coord, "SELECT smt.meter_keep_current()", &[]);
    assert_eq!(queued, 0, "keep_current with the history outstanding");
    // Once they are gone (cancelled here), the missing days are asked for again, as one span.
    exec(
        coord,
        "SELECT smt.request_cancel(request_id) FROM smt.request WHERE state = 'queued'",
    );
    let queued: i32 = one(coord, "SELECT smt.meter_keep_current()", &[]);
    assert_eq!(
        queued, 2,
        "keep_current asks for the gap (15-minute and daily)"
    );
    let span = texts(
        coord,
        "SELECT (r.first_day = m.history_from AND r.last_day = m.requested_through)::text \
           FROM smt.request r JOIN smt.meter m ON r.esiids = ARRAY[m.esiid] WHERE r.state = 'queued'",
        &[],
    );
    assert_eq!(
        span,
        vec![vec!["true".to_owned()], vec!["true".to_owned()]],
        "the gap spans the whole history"
    );
}

/// A login role granted smt_reader (Citus connects to the workers as the session's role, so it must
/// be able to log in) reads the views through the coordinator.
fn reader_role(cluster: &Cluster, coord: &mut Client) {
    exec(
        coord,
        "DROP ROLE IF EXISTS smt_citus_reader; CREATE ROLE smt_citus_reader LOGIN; GRANT smt_reader TO smt_citus_reader",
    );
    let url = cluster.url.replacen("postgres@", "smt_citus_reader@", 1);
    let mut reader = Client::connect(&url, NoTls).expect("connecting as smt_citus_reader");
    let as_reader: i64 = one(&mut reader, "SELECT count(*) FROM smt.daily_usage", &[]);
    let as_admin: i64 = one(coord, "SELECT count(*) FROM smt.daily_usage", &[]);
    assert_eq!(as_reader, as_admin);
    assert!(as_reader > 0);
    let denied = reader.execute("DELETE FROM smt.interval_day", &[]);
    assert!(denied.is_err(), "smt_reader cannot delete");
}
