//! `ALTER EXTENSION smt UPDATE` from every released version gives exactly the schema of a fresh
//! install of the current one, and keeps the data: the upgraded database and a fresh one, given
//! the same files, describe the same catalog (tests/sql/catalog.sql) and hold the same data.

use std::collections::BTreeMap;
use std::path::PathBuf;

use postgres::Client;
use smt_core::testdata::{self, dst_days_2025, Generator};
use smt_core::IntervalRecord;
use smt_e2e::*;

/// One line per fact of the extension's schema, sorted.
const CATALOG: &str = include_str!("../sql/catalog.sql");

/// The version this build installs (the workspace version: pgrx's `@CARGO_VERSION@`).
const CURRENT: &str = env!("CARGO_PKG_VERSION");

/// Released versions older than the current one: every frozen `smt--X.sql` in extension/sql.
fn released_before_current() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../extension/sql");
    let mut versions: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| {
            let v = n.strip_prefix("smt--")?.strip_suffix(".sql")?;
            (!v.contains("--") && v != CURRENT).then(|| v.to_owned())
        })
        .collect();
    versions.sort();
    versions
}

fn catalog(c: &mut Client) -> Vec<String> {
    c.query(CATALOG, &[])
        .unwrap_or_else(|e| panic!("catalog query: {}", explain(&e)))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Tables and views of schema smt with their columns (the transient staging table left out).
fn relations(c: &mut Client) -> BTreeMap<String, Vec<String>> {
    let rows = c
        .query(
            "SELECT format('smt.%I', r.relname), array_agg(format('%I', a.attname) ORDER BY a.attnum)
               FROM pg_class r
               JOIN pg_namespace n ON n.oid = r.relnamespace AND n.nspname = 'smt'
               JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
              WHERE r.relkind IN ('r', 'p', 'v') AND r.relname <> 'stage'
              GROUP BY r.relname",
            &[],
        )
        .expect("relations");
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// Count and exact digest of the rows of `rel` over `columns`.
fn digest(c: &mut Client, rel: &str, columns: &[String]) -> String {
    let row = format!("ROW({})::text", columns.join(", "));
    one(
        c,
        &format!(
            "SELECT count(*) || ' ' || md5(coalesce(string_agg({row}, E'\\n' ORDER BY {row}), '')) FROM {rel}"
        ),
        &[],
    )
}

/// The days every test database is given: a DST pair, a replacement, a stale arrival, a reject.
struct Deliveries {
    before: Vec<(String, Vec<u8>)>,
    after: Vec<(String, Vec<u8>)>,
}

fn deliveries() -> Deliveries {
    let mut g = Generator::new(707);
    let days = dst_days_2025();
    let first: Vec<IntervalRecord> = g.records(3, &[days[0], days[1], date(2025, 7, 1)]);
    let mut newer = first[..3].to_vec();
    for r in &mut newer {
        r.revision += chrono::Duration::days(2);
        r.intervals[5] = None;
    }
    let mut older = first[3..5].to_vec();
    for r in &mut older {
        r.revision -= chrono::Duration::days(2);
    }
    let mut with_reject = testdata::csv_bytes(&g.records(2, &[date(2025, 8, 1)]));
    with_reject.extend_from_slice(
        b"'1044372000000000X,08/01/2025,08/03/2025 07:37:17,00:00,00:15,0.600,A,Consumption\n",
    );
    Deliveries {
        before: vec![
            ("first.lse".into(), testdata::lse_bytes(&first, true)),
            ("newer.lse".into(), testdata::lse_bytes(&newer, false)),
            ("reject.csv".into(), with_reject),
            ("notes.txt".into(), b"not a usage file\n".to_vec()),
        ],
        after: vec![
            ("older.lse".into(), testdata::lse_bytes(&older, true)),
            (
                "september.lse".into(),
                testdata::lse_bytes(&g.records(2, &[date(2025, 9, 30)]), true),
            ),
        ],
    }
}

fn load_all(c: &mut Client, files: &[(String, Vec<u8>)]) {
    for (name, bytes) in files {
        if name.ends_with(".txt") {
            // 0.1.0 warns and keeps it as failed; 0.2.0 the same, with the reason in its result.
            try_load(c, bytes, name).unwrap_or_else(|e| panic!("{name}: {}", explain(&e)));
        } else {
            load(c, bytes, name);
        }
    }
}

const JOB: &str = "INSERT INTO smt.job (name, schedule, kind, params)
                   VALUES ('nightly', '0 6 * * *', 'import_dir', '{\"dir\": \"/srv/smt\"}')";

/// What must be equal between the upgraded and the fresh database: the data as a user sees it,
/// leaving out the instants that record when something happened (they differ by construction).
const SAME_DATA: [(&str, &str); 9] = [
    ("smt.interval", "*"),
    ("smt.daily_usage", "*"),
    // the peaks kept in smt.day_total, filled from the stored days by the upgrade
    ("smt.monthly_usage_summary", "*"),
    ("smt.hourly_profile", "*"),
    ("smt.completeness", "esiid, channel, day, intervals_expected, intervals_present, revision, file_id"),
    ("smt.interval_versions", "esiid, channel, day, revision, transaction_id, file_id, outcome, intervals_present"),
    // (error left out too: 0.2.0 words why a file is not loadable differently from 0.1.0)
    ("smt.file", "file_id, name, sha256, size_bytes, format, state, records, inserted, replaced, stale, identical, conflicts, rejected"),
    ("smt.reject", "reject_id, file_id, line, field, kind, reason, raw"),
    ("smt.job", "job_id, name, schedule, time_zone, kind, params, enabled, max_attempts, retry_delay"),
];

fn same_data(c: &mut Client) -> BTreeMap<&'static str, Vec<Vec<Option<String>>>> {
    SAME_DATA
        .iter()
        .map(|(rel, cols)| {
            let sql = format!("SELECT t::text FROM (SELECT {cols} FROM {rel}) t ORDER BY 1");
            (*rel, rows_text(c, &sql, &[]))
        })
        .collect()
}

/// The job kinds, every column as text.
const KINDS: &str = "SELECT kind, description, builtin::text FROM smt.job_kind ORDER BY kind";
#[test]
fn every_released_version_upgrades_to_the_fresh_schema_with_data_intact() {
    let versions = released_before_current();
    assert!(
        versions.contains(&"0.1.0".to_owned()),
        "extension/sql must hold the frozen 0.1.0 install script, found {versions:?}"
    );
    let files = deliveries();

    let Some(fresh) = TestDb::new("upgrade_fresh") else {
        return;
    };
    let mut f = fresh.connect();
    load_all(&mut f, &files.before);
    f.batch_execute(JOB).unwrap();
    load_all(&mut f, &files.after);
    let fresh_catalog = catalog(&mut f);
    let fresh_data = same_data(&mut f);
    assert!(
        fresh_catalog
            .iter()
            .any(|l| l.starts_with("relation meter_data_guard ")),
        "the fresh install holding data has its DROP guard"
    );

    for version in versions {
        let Some(old) = TestDb::without_extension(&format!("upgrade_from_{version}")) else {
            return;
        };
        let mut c = old.connect();
        c.batch_execute(&format!("CREATE EXTENSION smt VERSION '{version}'"))
            .unwrap_or_else(|e| panic!("installing {version}: {}", explain(&e)));
        load_all(&mut c, &files.before);
        c.batch_execute(JOB).unwrap();
        // A 0.1.0 job whose params name the site's password variable and key file: 0.2.0 keeps
        // those in the worker's config, so the upgrade disables it and says what to do. (From
        // 0.2.0 on such params cannot be stored.)
        let from_0_1 = version == "0.1.0";
        if from_0_1 {
            c.batch_execute(
                "INSERT INTO smt.job (name, schedule, kind, params) VALUES ('old-ftps', '0 7 * * *', 'ftps_fetch',
                   '{\"host\": \"ftp.example\", \"password_env\": \"SMT_FTPS_PASSWORD\", \"client_key\": \"/etc/smt/k.pem\"}')",
            )
            .unwrap();
        }
        let old_ftps =
            "SELECT enabled::text, params::text, last_error FROM smt.job WHERE name = 'old-ftps'";
        let before_ftps = rows_text(&mut c, old_ftps, &[]);

        // Every row of every relation, over the columns it keeps across the upgrade.
        let before_relations = relations(&mut c);
        let mut before: BTreeMap<String, String> = before_relations
            .iter()
            .map(|(rel, cols)| (rel.clone(), digest(&mut c, rel, cols)))
            .collect();

        // (0.1.0 had no smt.job_kind.)
        let has_kinds: bool = one(
            &mut c,
            "SELECT to_regclass('smt.job_kind') IS NOT NULL",
            &[],
        );
        let kinds_before = if has_kinds {
            rows_text(&mut c, KINDS, &[])
        } else {
            Vec::new()
        };
        c.batch_execute(&format!("ALTER EXTENSION smt UPDATE TO '{CURRENT}'"))
            .unwrap_or_else(|e| panic!("upgrading {version} -> {CURRENT}: {}", explain(&e)));
        let installed: String = one(
            &mut c,
            "SELECT extversion FROM pg_extension WHERE extname = 'smt'",
            &[],
        );
        assert_eq!(installed, CURRENT);

        let after_ftps = rows_text(&mut c, old_ftps, &[]);
        if from_0_1 {
            assert_eq!(before_ftps[0][0].as_deref(), Some("true"));
            assert_eq!(after_ftps[0][0].as_deref(), Some("false"), "{after_ftps:?}");
            assert_eq!(after_ftps[0][1].as_deref(), Some("{}"));
            let why = after_ftps[0][2].clone().unwrap_or_default();
            assert!(
                why.contains("client_key, host, password_env")
                    && why.contains("worker's config file"),
                "{why}"
            );
            c.batch_execute("DELETE FROM smt.job WHERE name = 'old-ftps'")
                .unwrap();
        } else {
            assert!(after_ftps.is_empty(), "{after_ftps:?}");
        }
        // (smt.job changed by design; its other row is compared with the fresh install below.)
        before.remove("smt.job");
        // A release adds built-in job kinds (0.4.0: smt_api); every kind there was stays as it was.
        before.remove("smt.job_kind");
        let kinds_after = rows_text(&mut c, KINDS, &[]);
        for kind in &kinds_before {
            assert!(
                kinds_after.contains(kind),
                "job kind {kind:?} changed or gone after the upgrade from {version}"
            );
        }
        assert!(
            kinds_after
                .iter()
                .any(|k| k[0].as_deref() == Some("smt_api") && k[2].as_deref() == Some("true")),
            "{kinds_after:?}"
        );

        // No relation holding rows and no column goes in an upgrade (new ones may come; 0.2.0
        // drops the empty partitions 0.1.0 made), and every row stays.
        let after_relations = relations(&mut c);
        for (rel, cols) in &before_relations {
            let Some(was) = before.get(rel) else {
                continue;
            };
            let Some(now) = after_relations.get(rel) else {
                assert!(
                    was.starts_with("0 "),
                    "{rel} is gone after the upgrade from {version}, with its rows"
                );
                continue;
            };
            let lost: Vec<_> = cols.iter().filter(|c| !now.contains(c)).collect();
            assert!(
                lost.is_empty(),
                "{rel}: the upgrade dropped columns {lost:?}"
            );
            assert_eq!(
                &digest(&mut c, rel, cols),
                was,
                "{rel}: rows changed by the upgrade from {version}"
            );
        }

        load_all(&mut c, &files.after);
        let upgraded_catalog = catalog(&mut c);
        let missing: Vec<_> = fresh_catalog
            .iter()
            .filter(|l| !upgraded_catalog.contains(l))
            .collect();
        let extra: Vec<_> = upgraded_catalog
            .iter()
            .filter(|l| !fresh_catalog.contains(l))
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "upgrade {version} -> {CURRENT} differs from a fresh install.\n\
             only in the fresh install:\n  {}\nonly after the upgrade:\n  {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  "),
            extra
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        );
        let upgraded_data = same_data(&mut c);
        for (rel, fresh_rows) in &fresh_data {
            let rows = &upgraded_data[rel];
            let differ: Vec<_> = rows
                .iter()
                .zip(fresh_rows)
                .filter(|(a, b)| a != b)
                .take(5)
                .collect();
            assert!(
                rows.len() == fresh_rows.len() && differ.is_empty(),
                "{rel}: the upgraded database holds other data than a fresh one given the same \
                 files ({} rows against {}); first differences (upgraded, fresh): {differ:?}",
                rows.len(),
                fresh_rows.len()
            );
        }
    }
}
