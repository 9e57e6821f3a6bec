//! `smt export` end to end: the real binary against a real cluster. Generated data with both DST
//! days (`smt generate`, `smt import`) is exported as a Green Button feed (the same text as
//! `smt.green_button`, valid ESPI 4.0), as SMT's interval CSV (which `smt import` reads back
//! into another database to exactly the same stored days) and as a tidy CSV (one row per
//! interval, hour ending, the fall-back day's repeated hour flagged).

mod common;

use std::path::Path;

use common::*;

/// Both DST days of 2025 with a day on each side: 92, 96 and 100 slots.
const DAYS: &str = "2025-03-08,2025-03-09,2025-03-10,2025-11-01,2025-11-02,2025-11-03";

fn export(db: &TestDb, dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    all.extend(["--database-url", db.url()]);
    run(smt(dir, &all), COMMAND_TIMEOUT)
}

/// The stored days of `esiid`, as text (values, statuses, revisions, scale).
fn stored(db: &TestDb, esiid: &str) -> Vec<Vec<Option<String>>> {
    rows_text(
        &mut db.connect(),
        "SELECT channel::text, day::text, revision::text, status,
                coalesce(units16::text, units::text, kwh_exact::text), scale::text
           FROM smt.interval_day WHERE esiid = $1 ORDER BY channel, day",
        &[&esiid],
    )
}

#[test]
fn exports_hand_on_exactly_what_is_stored() {
    let Some(db) = TestDb::extension_only("export") else {
        return;
    };
    let dir = scratch("export");
    let data = dir.path().join("data.lse");
    let data = data.to_str().unwrap();
    let generate = [
        "generate", "-o", data, "--esiids", "4", "--days", DAYS, "--seed", "11",
    ];
    run(smt(dir.path(), &generate), COMMAND_TIMEOUT).expect_code(0, "smt generate");
    run(
        smt(dir.path(), &["import", "--database-url", db.url(), data]),
        COMMAND_TIMEOUT,
    )
    .expect_code(0, "smt import");
    let mut c = db.connect();
    let esiid: String = one(
        &mut c,
        "SELECT esiid FROM smt.daily_usage GROUP BY esiid HAVING count(export_kwh) > 0 ORDER BY esiid LIMIT 1",
        &[],
    );
    let range = [
        "--esiid",
        &esiid,
        "--from",
        "2025-03-01",
        "--to",
        "2025-11-30",
    ];

    // Green Button: the database's own feed, written to the file as it is.
    let xml_path = dir.path().join("meter.xml");
    let mut args = vec!["green-button", "-o", xml_path.to_str().unwrap()];
    args.extend_from_slice(&range);
    export(&db, dir.path(), &args).expect_code(0, "smt export green-button");
    let sql: String = one(
        &mut c,
        "SELECT smt.green_button($1, '2025-03-01', '2025-11-30')",
        &[&esiid],
    );
    assert_eq!(std::fs::read_to_string(&xml_path).unwrap(), sql);

    // SMT's interval CSV: imported into another database it gives back the same stored days.
    let csv_path = dir.path().join("meter.csv");
    let mut args = vec!["csv", "--layout", "smt", "-o", csv_path.to_str().unwrap()];
    args.extend_from_slice(&range);
    export(&db, dir.path(), &args).expect_code(0, "smt export csv --layout smt");
    let text = std::fs::read_to_string(&csv_path).unwrap();
    assert!(text.starts_with(
        "ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION\n"
    ));
    let other = TestDb::extension_only("export_back").expect("a second database");
    run(
        smt(
            dir.path(),
            &[
                "import",
                "--database-url",
                other.url(),
                csv_path.to_str().unwrap(),
            ],
        ),
        COMMAND_TIMEOUT,
    )
    .expect_code(0, "smt import of the exported CSV");
    let original = stored(&db, &esiid);
    assert_eq!(original.len(), 12, "6 days, 2 channels");
    let back = stored(&other, &esiid);
    let without_scale = |rows: &[Vec<Option<String>>]| -> Vec<Vec<Option<String>>> {
        rows.iter().map(|r| r[..4].to_vec()).collect()
    };
    assert_eq!(
        without_scale(&back),
        without_scale(&original),
        "channels, days, revisions, statuses"
    );
    let values = |db: &TestDb| {
        rows_text(
            &mut db.connect(),
            "SELECT channel::text, day::text, interval_start::text, kwh::text FROM smt.interval
              WHERE esiid = $1 ORDER BY 1, 2, 3",
            &[&esiid],
        )
    };
    let exact = |rows: Vec<Vec<Option<String>>>| -> Vec<(String, Option<smt_core::Decimal>)> {
        rows.into_iter()
            .map(|r| {
                (
                    format!("{:?}", &r[..3]),
                    r[3].as_deref()
                        .map(|k| smt_core::Decimal::parse_str(k).unwrap()),
                )
            })
            .collect()
    };
    assert_eq!(
        exact(values(&other)),
        exact(values(&db)),
        "every interval's kWh, exactly"
    );

    // Tidy: one row per interval, hour ending 1-24, the fall-back day's repeated hour flagged.
    let tidy_path = dir.path().join("tidy.csv");
    let mut args = vec!["csv", "--layout", "tidy", "-o", tidy_path.to_str().unwrap()];
    args.extend_from_slice(&range);
    export(&db, dir.path(), &args).expect_code(0, "smt export csv --layout tidy");
    let tidy = std::fs::read_to_string(&tidy_path).unwrap();
    let mut lines = tidy.lines();
    assert_eq!(
        lines.next(),
        Some("esiid,channel,day,interval_start_utc,interval_start_local,hour_ending,dst_repeated,kwh,status")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let intervals: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.interval WHERE esiid = $1 AND channel IN (1, 4)",
        &[&esiid],
    );
    assert_eq!(rows.len() as i64, intervals);
    let fall: Vec<&Vec<&str>> = rows
        .iter()
        .filter(|r| r[1] == "4" && r[2] == "2025-11-02")
        .collect();
    assert_eq!(fall.len(), 100);
    let repeated: Vec<&str> = fall.iter().filter(|r| r[6] == "t").map(|r| r[4]).collect();
    assert_eq!(
        repeated,
        [
            "2025-11-02 01:00",
            "2025-11-02 01:15",
            "2025-11-02 01:30",
            "2025-11-02 01:45"
        ]
    );
    assert!(fall.iter().filter(|r| r[6] == "t").all(|r| r[5] == "2"));
    let spring: Vec<&Vec<&str>> = rows
        .iter()
        .filter(|r| r[1] == "4" && r[2] == "2025-03-09")
        .collect();
    assert_eq!(spring.len(), 92);
    assert!(
        spring.iter().all(|r| r[5] != "3"),
        "no hour ending 3 on the spring-forward day"
    );
    let first = &rows
        .iter()
        .find(|r| r[1] == "4" && r[2] == "2025-03-08")
        .unwrap();
    assert_eq!(
        (first[3], first[4], first[5]),
        ("2025-03-08T06:00:00Z", "2025-03-08 00:00", "1")
    );

    // An ESIID without data: a clear error, no file.
    let none = dir.path().join("none.xml");
    let out = export(
        &db,
        dir.path(),
        &[
            "green-button",
            "-o",
            none.to_str().unwrap(),
            "--esiid",
            "10443720000000999",
            "--from",
            "2025-03-01",
            "--to",
            "2025-03-02",
        ],
    )
    .expect_code(2, "unknown ESIID");
    assert!(
        out.stderr.contains("has no interval data"),
        "{}",
        out.stderr
    );
    assert!(!none.exists());
}
