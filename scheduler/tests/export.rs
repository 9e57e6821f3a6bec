//! `smt export` end to end: the real binary against a real cluster. Generated data with both DST
//! days (`smt generate`, `smt import`) is exported as a Green Button feed (the same text as
//! `smt.green_button`, valid ESPI 4.0), as SMT's interval CSV (which `smt import` reads back
//! into another database to exactly the same stored days; the spring-forward day in SMT's 96 rows,
//! the skipped hour as empty placeholders) and as a tidy CSV (one row per interval, hour ending,
//! the fall-back day's repeated hour flagged).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use smt_core::Decimal;

/// Both DST days of 2025 with a day on each side: 92, 96 and 100 slots.
const DAYS: &str = "2025-03-08,2025-03-09,2025-03-10,2025-11-01,2025-11-02,2025-11-03";

fn export(db: &TestDb, dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    all.extend(["--database-url", db.url()]);
    run(smt(dir, &all), COMMAND_TIMEOUT)
}

/// `smt import` of `file` into `db`.
fn import(db: &TestDb, dir: &Path, file: &Path, what: &str) {
    let args = ["import", "--database-url", db.url(), file.to_str().unwrap()];
    run(smt(dir, &args), COMMAND_TIMEOUT).expect_code(0, what);
}

/// A database named after `test` holding generated data of [`DAYS`] (loaded by `smt import`), a
/// scratch directory, and an ESIID with both channels; `None` without a test cluster.
fn loaded(test: &str) -> Option<(TestDb, tempfile::TempDir, String)> {
    let db = TestDb::extension_only(test)?;
    let dir = scratch(test);
    let data = dir.path().join("data.lse");
    let generate = [
        "generate",
        "-o",
        data.to_str().unwrap(),
        "--esiids",
        "4",
        "--days",
        DAYS,
        "--seed",
        "11",
    ];
    run(smt(dir.path(), &generate), COMMAND_TIMEOUT).expect_code(0, "smt generate");
    import(&db, dir.path(), &data, "smt import");
    let esiid: String = one(
        &mut db.connect(),
        "SELECT esiid FROM smt.daily_usage GROUP BY esiid HAVING count(export_kwh) > 0 ORDER BY esiid LIMIT 1",
        &[],
    );
    Some((db, dir, esiid))
}

/// `smt export csv --layout smt` of `esiid` over `from..=to` to `name` in `dir`: the file.
fn export_smt_csv(
    db: &TestDb,
    dir: &Path,
    esiid: &str,
    (from, to): (&str, &str),
    name: &str,
) -> PathBuf {
    let path = dir.join(name);
    let args = [
        "csv",
        "--layout",
        "smt",
        "-o",
        path.to_str().unwrap(),
        "--esiid",
        esiid,
        "--from",
        from,
        "--to",
        to,
    ];
    export(db, dir, &args).expect_code(0, "smt export csv --layout smt");
    path
}

/// The stored days of `esiid` over `from..=to`, as text (values, statuses, revisions, scale).
fn stored(db: &TestDb, esiid: &str, (from, to): (&str, &str)) -> Vec<Vec<Option<String>>> {
    rows_text(
        &mut db.connect(),
        "SELECT channel::text, day::text, revision::text, status,
                coalesce(units16::text, units::text, kwh_exact::text), scale::text
           FROM smt.interval_day WHERE esiid = $1 AND day BETWEEN $2::text::date AND $3::text::date
          ORDER BY channel, day",
        &[&esiid, &from, &to],
    )
}

/// Every interval of `esiid` over `from..=to` (channel, day, start) with its exact kWh.
fn intervals(db: &TestDb, esiid: &str, (from, to): (&str, &str)) -> Vec<(String, Option<Decimal>)> {
    rows_text(
        &mut db.connect(),
        "SELECT channel::text, day::text, interval_start::text, kwh::text FROM smt.interval
          WHERE esiid = $1 AND day BETWEEN $2::text::date AND $3::text::date ORDER BY 1, 2, 3",
        &[&esiid, &from, &to],
    )
    .into_iter()
    .map(|r| {
        (
            format!("{:?}", &r[..3]),
            r[3].as_deref().map(|k| Decimal::parse_str(k).unwrap()),
        )
    })
    .collect()
}

/// `back` holds exactly the days of `esiid` over `days` that `original` holds: channels, days,
/// revisions, statuses and every interval's kWh (the scale may differ: the CSV's numbers are
/// read back at the scale they are written with).
fn assert_same_days(original: &TestDb, back: &TestDb, esiid: &str, days: (&str, &str)) {
    let without_scale = |rows: Vec<Vec<Option<String>>>| -> Vec<Vec<Option<String>>> {
        rows.into_iter().map(|r| r[..4].to_vec()).collect()
    };
    assert_eq!(
        without_scale(stored(back, esiid, days)),
        without_scale(stored(original, esiid, days)),
        "channels, days, revisions, statuses"
    );
    assert_eq!(
        intervals(back, esiid, days),
        intervals(original, esiid, days),
        "every interval's kWh, exactly"
    );
}

/// The rows of an SMT interval CSV's text for one USAGE_DATE and direction, split in fields.
fn smt_rows<'a>(text: &'a str, day: &str, direction: &str) -> Vec<Vec<&'a str>> {
    text.lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|r| r[1] == day && r[7] == direction)
        .collect()
}

/// `HH:MM` of `minutes` after midnight (24:00 written 00:00, as SMT ends a day).
fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60 % 24, minutes % 60)
}

#[test]
fn exports_hand_on_exactly_what_is_stored() {
    let Some((db, dir, esiid)) = loaded("export") else {
        return;
    };
    let mut c = db.connect();
    let days = ("2025-03-01", "2025-11-30");
    let range = ["--esiid", &esiid, "--from", days.0, "--to", days.1];

    // Green Button: the database's own feed, written to the file as it is.
    let xml_path = dir.path().join("meter.xml");
    let mut args = vec!["green-button", "-o", xml_path.to_str().unwrap()];
    args.extend_from_slice(&range);
    export(&db, dir.path(), &args).expect_code(0, "smt export green-button");
    let sql: String = one(
        &mut c,
        "SELECT smt.green_button($1, $2::text::date, $3::text::date)",
        &[&esiid, &days.0, &days.1],
    );
    assert_eq!(std::fs::read_to_string(&xml_path).unwrap(), sql);

    // SMT's interval CSV: imported into another database it gives back the same stored days.
    let csv_path = export_smt_csv(&db, dir.path(), &esiid, days, "meter.csv");
    let text = std::fs::read_to_string(&csv_path).unwrap();
    assert!(text.starts_with(
        "ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION\n"
    ));
    // The fall-back day: 100 rows, the repeated hour twice with the clock's labels (the CDT pass
    // ends at 01:00 CST), not SMT's mislabel `02:00,01:15`.
    let fall = smt_rows(&text, "11/02/2025", "Consumption");
    assert_eq!(fall.len(), 100);
    let labels: Vec<(&str, &str)> = fall[6..12].iter().map(|r| (r[3], r[4])).collect();
    assert_eq!(
        labels,
        [
            ("01:30", "01:45"),
            ("01:45", "01:00"),
            ("01:00", "01:15"),
            ("01:15", "01:30"),
            ("01:30", "01:45"),
            ("01:45", "02:00")
        ]
    );
    let other = TestDb::extension_only("export_back").expect("a second database");
    import(
        &other,
        dir.path(),
        &csv_path,
        "smt import of the exported CSV",
    );
    assert_eq!(stored(&db, &esiid, days).len(), 12, "6 days, 2 channels");
    assert_same_days(&db, &other, &esiid, days);

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

/// The spring-forward day in SMT's own shape: 96 rows, the skipped hour's four local times as
/// placeholders with an empty kWh and flag, in time order; read back, the same 92 intervals.
#[test]
fn smt_csv_spring_forward_day_has_smt_placeholders() {
    let Some((db, dir, esiid)) = loaded("export_spring") else {
        return;
    };
    let day = ("2025-03-09", "2025-03-09");
    let csv_path = export_smt_csv(&db, dir.path(), &esiid, day, "spring.csv");
    let text = std::fs::read_to_string(&csv_path).unwrap();
    let rows = smt_rows(&text, "03/09/2025", "Consumption");
    assert_eq!(rows.len(), 96, "{text}");
    // Every row labelled as SMT labels the day: 00:00-00:15 ... 23:45-00:00, 02:xx included.
    let labels: Vec<(&str, &str)> = rows.iter().map(|r| (r[3], r[4])).collect();
    let expected: Vec<(String, String)> =
        (0..96).map(|k| (hhmm(k * 15), hhmm(k * 15 + 15))).collect();
    let expected: Vec<(&str, &str)> = expected.iter().map(|(s, e)| (&s[..], &e[..])).collect();
    assert_eq!(labels, expected);
    for (k, r) in rows.iter().enumerate() {
        assert_eq!(r.len(), 8, "{r:?}");
        // the same ESIID, day, revision and direction as the day's other rows
        assert_eq!(
            (r[0], r[1], r[2], r[7]),
            (rows[0][0], rows[0][1], rows[0][2], rows[0][7])
        );
        let placeholder = (8..12).contains(&k);
        assert_eq!(
            (r[5].is_empty(), r[6].is_empty()),
            (placeholder, placeholder),
            "USAGE_KWH and ESTIMATED_ACTUAL of {r:?}"
        );
    }

    let other = TestDb::extension_only("export_spring_back").expect("a second database");
    import(
        &other,
        dir.path(),
        &csv_path,
        "smt import of the exported CSV",
    );
    assert_same_days(&db, &other, &esiid, day);
    let load: i64 = one(
        &mut other.connect(),
        "SELECT count(kwh) FROM smt.interval WHERE esiid = $1 AND channel = 4 AND day = '2025-03-09'",
        &[&esiid],
    );
    assert_eq!(load, 92, "92 intervals, each with its value");
}
