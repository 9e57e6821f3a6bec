//! Daily meter reads (SMT's daily meter read CSV, and replies of the API's /v2/dailyreads/) load
//! into smt.daily_read with the replacement rule of interval data: a newer revision replaces, an
//! older one is kept as stale, a same-revision conflict ends the same whatever the order, every
//! version is kept, bad rows are rejects with their ESIID and day, values come back exactly.

use smt_e2e::*;

const E1: &str = "10443720000000001";
const E2: &str = "1008901000000000000001";
const HEADER: &str = "ESIID,READ_DATE,REVISION_DATE,START_READING,END_READING,USAGE_KWH\n";

fn csv(rows: &[&str]) -> Vec<u8> {
    let mut out = HEADER.to_owned();
    for r in rows {
        out.push_str(r);
        out.push('\n');
    }
    out.into_bytes()
}

/// (revision, start, end, kWh) of the current read, as text.
fn current(c: &mut postgres::Client, esiid: &str, day: &str) -> Vec<Option<String>> {
    rows_text(
        c,
        &format!(
            "SELECT {}, start_reading::text, end_reading::text, usage_kwh::text
               FROM smt.daily_read WHERE esiid = $1 AND day = $2::text::date",
            utc_sql("revision")
        ),
        &[&esiid, &day],
    )
    .pop()
    .unwrap_or_default()
}

fn outcomes(c: &mut postgres::Client, esiid: &str, day: &str) -> Vec<String> {
    rows_text(
        c,
        "SELECT outcome || ' ' || end_reading::text FROM smt.daily_read_version
          WHERE esiid = $1 AND day = $2::text::date ORDER BY version_id",
        &[&esiid, &day],
    )
    .into_iter()
    .map(|r| r[0].clone().unwrap())
    .collect()
}

#[test]
fn daily_reads_load_exactly_with_the_replacement_rule() {
    let Some(db) = TestDb::new("daily_reads") else {
        return;
    };
    let mut c = db.connect();
    let first = csv(&[
        &format!("{E1},09/01/2025,09/02/2025 07:41:22,24002.915,24038.915,36.000"),
        &format!("{E1},09/02/2025,09/03/2025 07:41:22,24038.915,24070.100,31.185"),
        &format!("{E2},09/01/2025,09/02/2025 07:41:22,100.0,112.50,12.50"),
        &format!("{E2},09/02/2025,09/03/2025 07:41:22,112.50,lots,1"),
    ]);
    let format: Option<String> = one(&mut c, "SELECT smt.detect_format($1)", &[&first]);
    assert_eq!(format.as_deref(), Some("daily_csv"));
    let loaded = load(&mut c, &first, "DailyMeterUsage1.csv");
    assert_eq!(
        (loaded.records, loaded.inserted, loaded.rejected),
        (3, 3, 1)
    );
    assert_eq!(
        current(&mut c, E1, "2025-09-01"),
        vec![
            Some("2025-09-02T12:41:22Z".into()),
            Some("24002.915".into()),
            Some("24038.915".into()),
            Some("36.000".into())
        ],
        "exactly as delivered"
    );
    let reject = rows_text(&mut c, "SELECT esiid, day::text, kind FROM smt.reject", &[]);
    assert_eq!(
        reject,
        vec![vec![
            Some(E2.into()),
            Some("2025-09-02".into()),
            Some("non_numeric_value".into())
        ]]
    );

    // Newer, older, the same again, and a same-revision conflict.
    let second = csv(&[
        &format!("{E1},09/01/2025,09/05/2025 07:00:00,24002.915,24039.000,36.085"),
        &format!("{E1},09/02/2025,09/01/2025 07:00:00,24038.915,24060.000,21.085"),
        &format!("{E2},09/01/2025,09/02/2025 07:41:22,100.0,112.50,12.50"),
        &format!("{E2},09/03/2025,09/04/2025 07:00:00,112.50,120.00,7.50"),
    ]);
    let l = load(&mut c, &second, "DailyMeterUsage2.csv");
    assert_eq!(
        (l.records, l.inserted, l.replaced, l.stale, l.identical),
        (4, 1, 1, 1, 1)
    );
    assert_eq!(
        current(&mut c, E1, "2025-09-01")[2].as_deref(),
        Some("24039.000")
    );
    assert_eq!(
        outcomes(&mut c, E1, "2025-09-01"),
        vec!["replaced 24038.915"]
    );
    assert_eq!(outcomes(&mut c, E1, "2025-09-02"), vec!["stale 24060.000"]);
    assert_eq!(
        current(&mut c, E1, "2025-09-02")[2].as_deref(),
        Some("24070.100")
    );

    // Same revision, other values, in either order: the larger end reading stays.
    let low = csv(&[&format!(
        "{E2},09/03/2025,09/04/2025 07:00:00,112.50,119.00,6.50"
    )]);
    let l = load(&mut c, &low, "conflict-low.csv");
    assert_eq!((l.conflicts, l.stale), (1, 1));
    assert_eq!(
        current(&mut c, E2, "2025-09-03")[2].as_deref(),
        Some("120.00")
    );
    let db2 = TestDb::new("daily_reads_order").expect("second database");
    let mut c2 = db2.connect();
    load(&mut c2, &low, "conflict-low.csv");
    let l = load(&mut c2, &second, "DailyMeterUsage2.csv");
    assert_eq!(l.conflicts, 1);
    assert_eq!(
        current(&mut c2, E2, "2025-09-03")[2].as_deref(),
        Some("120.00")
    );
    assert_eq!(
        outcomes(&mut c2, E2, "2025-09-03"),
        vec!["conflict_lost 119.00"]
    );

    // A reply of the API's dailyreads: the same table, the same rule.
    let reply = serde_json::json!({"esiid": E2, "registeredReads": [
        {"readDate": "09/04/2025", "revisionDate": "09/05/2025 07:41:22",
         "startReading": "120.00", "endReading": "130.25", "energyDataKwh": "10.25"}
    ]})
    .to_string()
    .into_bytes();
    let l = load(&mut c, &reply, "dailyreads.json");
    assert_eq!((l.inserted, l.rejected), (1, 0));
    let format: String = one(
        &mut c,
        "SELECT format FROM smt.file WHERE file_id = $1",
        &[&l.file_id],
    );
    assert_eq!(format, "daily_json");
    assert_eq!(
        current(&mut c, E2, "2025-09-04")[3].as_deref(),
        Some("10.25")
    );

    // One file holding a day three times: the newest stays, its repeat is identical, the older
    // version is kept as superseded within the file.
    let thrice = csv(&[
        &format!("{E1},09/05/2025,09/06/2025 07:00:00,24100.000,24130.000,30.000"),
        &format!("{E1},09/05/2025,09/07/2025 07:00:00,24100.000,24131.000,31.000"),
        &format!("{E1},09/05/2025,09/07/2025 07:00:00,24100.000,24131.000,31.000"),
    ]);
    let l = load(&mut c, &thrice, "thrice.csv");
    assert_eq!((l.records, l.inserted, l.stale, l.identical), (3, 1, 1, 1));
    assert_eq!(
        current(&mut c, E1, "2025-09-05")[2].as_deref(),
        Some("24131.000")
    );
    assert_eq!(
        outcomes(&mut c, E1, "2025-09-05"),
        vec!["superseded_in_file 24130.000"]
    );

    // Loaded again: nothing changes.
    let again = load(&mut c, &second, "DailyMeterUsage2-again.csv");
    assert!(again.already_loaded);
}
