//! pg_dump -Fc of a database holding smt data, restored with pg_restore into a fresh cluster (which
//! creates the extension itself), gives back every row of every table and view, the positions of
//! the identity sequences, and the DROP guard; and loading goes on there without id collisions.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::Duration;
use postgres::{Client, NoTls};
use smt_core::testdata::{self, Generator};
use smt_core::IntervalRecord;
use smt_e2e::*;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const PG_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg.sh");

/// A throwaway cluster started with scripts/pg.sh in a directory of its own under /tmp, stopped and
/// removed when dropped (on failure too).
struct ScratchCluster {
    root: PathBuf,
    pgdata: PathBuf,
    port: u16,
}

impl ScratchCluster {
    /// Starts one on a free port, or returns `None` after reporting the missing part.
    fn start(test: &str) -> Option<ScratchCluster> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        // Under /tmp, not $TMPDIR: scripts/pg.sh runs the cluster as the unprivileged user, who
        // must reach the directory, so every parent must be searchable.
        let root = PathBuf::from(format!("/tmp/smt-e2e-{test}-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root)
            .and_then(|()| std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)))
            .unwrap_or_else(|e| panic!("creating {}: {e}", root.display()));
        // From here on the guard stops and removes whatever was made.
        let cluster = ScratchCluster {
            pgdata: root.join("pg"),
            root,
            port,
        };
        let out = Command::new("bash")
            .arg(PG_SH)
            .arg("start")
            .arg(&cluster.pgdata)
            .arg(port.to_string())
            .output()
            .expect("running bash scripts/pg.sh");
        if !out.status.success() {
            missing_part(
                &format!(
                    "a second local cluster (scripts/pg.sh start {} {port} failed: {}{})",
                    cluster.pgdata.display(),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
                "scripts/pg.sh needs PostgreSQL 15 in /usr/lib/postgresql/15 and the user smt \
                 (`make setup`)",
            );
            return None;
        }
        Some(cluster)
    }

    fn url(&self, dbname: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{dbname}", self.port)
    }

    fn connect(&self, dbname: &str) -> Client {
        Client::connect(&self.url(dbname), NoTls)
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.url(dbname)))
    }
}

impl Drop for ScratchCluster {
    fn drop(&mut self) {
        match Command::new("bash")
            .arg(PG_SH)
            .arg("stop")
            .arg(&self.pgdata)
            .output()
        {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "could not stop the cluster in {}: {}",
                self.pgdata.display(),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!(
                "could not stop the cluster in {}: {e}",
                self.pgdata.display()
            ),
        }
        if let Err(e) = std::fs::remove_dir_all(&self.root) {
            eprintln!("could not remove {}: {e}", self.root.display());
        }
    }
}

/// Runs a client program; panics with its output when it fails.
fn run(program: &str, args: &[&str]) {
    let path = Path::new(PG_BIN).join(program);
    let out = Command::new(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Session settings that make `row::text` the same in both databases.
const TEXT_SETTINGS: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD';
    SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; SET bytea_output = 'hex';";

/// Everything compared between the source and the restored database.
#[derive(Debug, PartialEq, Eq)]
struct Contents {
    /// Every table (partitions included) and view of schema smt but the transient smt.stage, and
    /// the user's own table: (row count, md5 of all rows as text, sorted).
    relations: BTreeMap<String, (i64, String)>,
    /// `sum(kwh)` of smt.interval and `sum(import_kwh)` of smt.daily_usage, as text.
    kwh: Vec<Option<String>>,
    /// Each sequence of schema smt with `pg_sequences.last_value` (NULL until first used).
    sequences: Vec<(String, Option<i64>)>,
}

fn contents(c: &mut Client) -> Contents {
    c.batch_execute(TEXT_SETTINGS).expect("session settings");
    let mut names: Vec<String> = c
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'smt' AND c.relkind IN ('r', 'p', 'v') AND c.relname <> 'stage'
              ORDER BY 1",
            &[],
        )
        .expect("relations of schema smt")
        .iter()
        .map(|r| r.get(0))
        .collect();
    names.push("public.meter_note".to_owned());
    let relations = names
        .into_iter()
        .map(|rel| {
            let sql = format!(
                "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE \"C\"), ''))
                   FROM {rel} t"
            );
            let row = c
                .query_one(&sql, &[])
                .unwrap_or_else(|e| panic!("{sql}: {}", explain(&e)));
            (rel, (row.get(0), row.get(1)))
        })
        .collect();
    let kwh = rows_text(
        c,
        "SELECT (SELECT sum(kwh) FROM smt.interval)::text,
                (SELECT sum(import_kwh) FROM smt.daily_usage)::text",
        &[],
    )
    .remove(0);
    let sequences = c
        .query(
            "SELECT format('%I.%I', schemaname, sequencename), last_value FROM pg_sequences
              WHERE schemaname = 'smt' ORDER BY 1",
            &[],
        )
        .expect("pg_sequences")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Contents {
        relations,
        kwh,
        sequences,
    }
}

fn lse(records: &[IntervalRecord]) -> Vec<u8> {
    testdata::lse_bytes(records, true)
}

/// `records` again with a revision one day later and other values.
fn newer(g: &mut Generator, records: &[IntervalRecord], days: i64) -> Vec<IntervalRecord> {
    records
        .iter()
        .map(|r| {
            let mut n = g.record(&r.esiid, r.channel, r.day);
            n.revision = r.revision + Duration::days(days);
            n
        })
        .collect()
}

/// An LSE file of `good` records followed by `bad` with a letter in its fourth data row.
fn with_a_bad_record(good: &[IntervalRecord], bad: &IntervalRecord) -> Vec<u8> {
    let mut text = String::from_utf8(testdata::lse_bytes(good, false)).unwrap();
    let bad_text =
        String::from_utf8(testdata::lse_bytes(std::slice::from_ref(bad), false)).unwrap();
    for line in bad_text.lines() {
        if line.starts_with("10000003,") {
            let mut fields: Vec<&str> = line.split(',').collect();
            fields[1] = "1.2x5";
            text.push_str(&fields.join(","));
        } else {
            text.push_str(line);
        }
        text.push('\n');
    }
    text.into_bytes()
}

#[test]
fn pg_dump_and_pg_restore_keep_every_row() {
    let Some(mut db) = TestDb::new("dump_restore") else {
        return;
    };
    if !require_part(
        ["pg_dump", "pg_restore"]
            .iter()
            .all(|p| Path::new(PG_BIN).join(p).is_file()),
        &format!("pg_dump and pg_restore of PostgreSQL 15 in {PG_BIN}"),
        "`make setup` installs PostgreSQL 15",
    ) {
        return;
    }
    let loader = db.create_login_role("loader", "smt_loader");
    let mut c = db.connect();
    let mut l = db.connect_as(&loader);

    // Several files: the shared fixtures, new days, a newer and an older revision (history rows,
    // replaced and stale), a bad record (a reject), a CSV, a stray old month (its own partition),
    // and a file that is no usage file (failed).
    let mut loaded: Vec<(String, Vec<u8>)> = Vec::new();
    let mut load_as = |conn: &mut Client, name: &str, data: Vec<u8>| {
        let r = load(conn, &data, name);
        assert!(!r.already_loaded, "{name}");
        loaded.push((name.to_owned(), data));
        r
    };
    if let Some(dir) = fixtures_dir() {
        for name in [
            "generated/dst_days.lse",
            "generated/IntervalMeterUsage_sample.CSV",
        ] {
            let data = std::fs::read(dir.join(name))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()));
            let r = load_as(&mut c, name, data);
            assert!(r.inserted > 0, "{name}: {r:?}");
        }
    }
    let mut g = Generator::new(901);
    let days = g.records(4, &[date(2025, 6, 10), date(2025, 6, 11)]);
    let r = load_as(&mut l, "days.lse", lse(&days));
    assert_eq!(r.inserted as usize, days.len());
    let replacements = newer(&mut g, &days[..3], 1);
    let r = load_as(&mut l, "newer.lse", lse(&replacements));
    assert_eq!(r.replaced, 3, "{r:?}");
    let stale = newer(&mut g, &days[3..5], -1);
    let r = load_as(&mut l, "older.lse", lse(&stale));
    assert_eq!(r.stale, 2, "{r:?}");
    let good = g.records(2, &[date(2025, 10, 5)]);
    let bad_esiid = g.esiid();
    let bad = g.record(&bad_esiid, 4, date(2025, 10, 5));
    let r = load_as(&mut l, "bad_record.lse", with_a_bad_record(&good, &bad));
    assert_eq!((r.inserted as usize, r.rejected), (good.len(), 1), "{r:?}");
    let csv = g.records(2, &[date(2025, 11, 20)]);
    load_as(&mut l, "interval.csv", testdata::csv_bytes(&csv));
    let stray = g.records(1, &[date(2019, 2, 28)]);
    load_as(&mut c, "stray.lse", lse(&stray));
    let r = load_as(
        &mut l,
        "notes.txt",
        b"meter read on Tuesday, all fine\n".to_vec(),
    );
    assert_eq!(r.records, 0, "{r:?}");
    // The job table and its kind table may change shape; a plain INSERT of these columns works
    // with both.
    c.batch_execute(
        "INSERT INTO smt.job (name, schedule, kind, params)
         VALUES ('nightly import', '0 6 * * *', 'import_dir', '{\"dir\":\"/tmp\"}')",
    )
    .unwrap_or_else(|e| panic!("adding a job: {}", explain(&e)));

    let source = contents(&mut c);
    for (rel, min) in [
        ("smt.file", 8),
        ("smt.file_content", 8),
        ("smt.interval_version", 5),
        ("smt.reject", 1),
        ("smt.job", 1),
        ("smt.meter_data_guard", 1),
    ] {
        let n = source.relations.get(rel).map_or(0, |v| v.0);
        assert!(
            n >= min,
            "{rel}: {n} rows in the source, expected {min} at least"
        );
    }
    let failed: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.file WHERE state = 'failed'",
        &[],
    );
    assert_eq!(failed, 1);
    let partitions = source
        .relations
        .keys()
        .filter(|k| k.starts_with("smt.interval_day_"))
        .count();
    assert!(partitions >= 4, "partitions: {:?}", source.relations.keys());

    // Dump, restore into an empty database of a fresh cluster.
    let Some(cluster) = ScratchCluster::start("dump_restore") else {
        return;
    };
    let dump = cluster.root.join("smt.dump");
    let dump_path = dump.to_str().expect("UTF-8 path");
    run("pg_dump", &["-Fc", "-f", dump_path, db.url()]);
    cluster
        .connect("postgres")
        .batch_execute("CREATE DATABASE restored")
        .expect("CREATE DATABASE restored");
    run(
        "pg_restore",
        &["--exit-on-error", "-d", &cluster.url("restored"), dump_path],
    );

    let mut r = cluster.connect("restored");
    let restored = contents(&mut r);
    let source_names: Vec<&String> = source.relations.keys().collect();
    let restored_names: Vec<&String> = restored.relations.keys().collect();
    assert_eq!(restored_names, source_names, "relations after the restore");
    for (rel, v) in &source.relations {
        assert_eq!(
            restored.relations.get(rel),
            Some(v),
            "{rel}: (rows, md5 of rows) after the restore"
        );
    }
    assert_eq!(
        restored.kwh, source.kwh,
        "sum(kwh) of smt.interval, sum(import_kwh) of smt.daily_usage"
    );
    assert_eq!(restored.sequences, source.sequences, "identity sequences");
    assert_eq!(restored, source);

    // The restored database goes on: the same content is recognized, a new file gets a new id,
    // and a newer revision of a restored day replaces it.
    // (A file that failed is tried again under its first registration, so it is not "already
    // loaded", but it keeps its id.)
    for (name, data) in &loaded {
        let state: String = one(
            &mut r,
            "SELECT state FROM smt.file WHERE sha256 = sha256($1)",
            &[data],
        );
        let again = load(&mut r, data, name);
        assert_eq!(
            again.already_loaded,
            state == "loaded",
            "{name} ({state}) after the restore"
        );
        let same_id: bool = one(
            &mut r,
            "SELECT file_id = $2 FROM smt.file WHERE sha256 = sha256($1)",
            &[data, &again.file_id],
        );
        assert!(same_id, "{name} keeps its registration");
    }
    let max_id: i64 = one(&mut c, "SELECT max(file_id) FROM smt.file", &[]);
    let fresh = g.records(2, &[date(2025, 12, 1)]);
    let n = load(&mut r, &lse(&fresh), "after_restore.lse");
    // Ids come from the restored sequence, so a new file never takes a restored file's id (each
    // load reserves one, so the reloads above used some).
    assert!(n.file_id > max_id, "new file {} after {max_id}", n.file_id);
    assert_eq!(
        (n.already_loaded, n.inserted as usize),
        (false, fresh.len())
    );
    for rec in &fresh {
        assert_interval_view_matches(&mut r, rec);
    }
    let later = newer(&mut g, &replacements[..1], 1);
    let n = load(&mut r, &lse(&later), "later.lse");
    assert_eq!((n.replaced, n.inserted), (1, 0), "{n:?}");
    assert_interval_view_matches(&mut r, &later[0]);

    // The guard came back: DROP EXTENSION needs CASCADE there too.
    let e = r
        .batch_execute("DROP EXTENSION smt")
        .expect_err("DROP EXTENSION smt without CASCADE in the restored database");
    assert_eq!(sqlstate(&e).as_deref(), Some("2BP01"), "{}", explain(&e));
    assert!(
        explain(&e).contains("smt.meter_data_guard"),
        "the error names the guard: {}",
        explain(&e)
    );
    drop(r);
    drop(cluster);
}
