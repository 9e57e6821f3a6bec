//! Bad input the database side must refuse or settle plainly (issue 8): NULL arguments, content
//! that failed before, conflicts inside one file, implausible days and revisions, and arguments
//! that would make smt.normalize_15min run away.

use chrono::{Duration, Utc};
use postgres::Client;
use smt_core::testdata::{self, Generator};
use smt_core::IntervalRecord;
use smt_e2e::*;

fn lse(records: &[IntervalRecord]) -> Vec<u8> {
    testdata::lse_bytes(records, true)
}

fn refused(c: &mut Client, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> String {
    match c.query(sql, params) {
        Ok(_) => panic!("{sql}: accepted, should be refused"),
        Err(e) => format!("{} {}", sqlstate(&e).unwrap_or_default(), explain(&e)),
    }
}

#[test]
fn load_with_a_null_argument_is_an_error_and_registers_nothing() {
    let Some(db) = TestDb::new("null_args") else {
        return;
    };
    let mut c = db.connect();
    let data = lse(&Generator::new(1).records(1, &[date(2025, 7, 1)]));
    let e = refused(
        &mut c,
        "SELECT * FROM smt.load($1, $2, NULL)",
        &[&data, &"null.lse"],
    );
    assert!(e.starts_with("22004 "), "{e}");
    assert!(e.contains("lenient_esiid is NULL"), "{e}");
    let e = refused(
        &mut c,
        "SELECT * FROM smt.load(NULL::bytea, $1)",
        &[&"null.lse"],
    );
    assert!(e.starts_with("22004 ") && e.contains("data is NULL"), "{e}");
    let e = refused(&mut c, "SELECT * FROM smt.load($1, NULL)", &[&data]);
    assert!(
        e.starts_with("22004 ") && e.contains("file_name is NULL"),
        "{e}"
    );
    let files: i64 = one(&mut c, "SELECT count(*) FROM smt.file", &[]);
    assert_eq!(files, 0, "nothing registered");
    // The same bytes then load in full: nothing marked them loaded.
    let l = load(&mut c, &data, "real.lse");
    assert!(!l.already_loaded);
    assert_eq!(l.inserted, 1);
}

#[test]
fn content_that_failed_is_tried_again_not_already_loaded() {
    let Some(db) = TestDb::new("failed_again") else {
        return;
    };
    let mut c = db.connect();
    let first = try_load(&mut c, b"no usage here\n", "notes.txt").unwrap();
    let again = try_load(&mut c, b"no usage here\n", "notes again.txt").unwrap();
    assert!(!first.already_loaded && !again.already_loaded);
    assert_eq!(again.file_id, first.file_id, "one registration per content");
    let rows = rows_text(
        &mut c,
        "SELECT name, state, (error IS NOT NULL)::text FROM smt.file",
        &[],
    );
    assert_eq!(
        rows,
        [[
            Some("notes.txt".to_owned()),
            Some("failed".to_owned()),
            Some("true".to_owned())
        ]]
    );
}

#[test]
fn same_revision_conflict_inside_one_file_counts_as_a_conflict() {
    let Some(db) = TestDb::new("in_file_conflict") else {
        return;
    };
    let mut c = db.connect();
    let mut g = Generator::new(3);
    let esiid = g.esiid();
    let a = g.record(&esiid, 4, date(2025, 7, 1));
    let mut b = a.clone();
    // Same revision, other values: a conflict the tie-break rule settles.
    b.intervals[0] = None;
    let l = load(&mut c, &lse(&[a, b]), "two versions.lse");
    assert_eq!(
        (l.records, l.inserted, l.stale, l.conflicts),
        (2, 1, 1, 1),
        "{l:?}"
    );
    let outcome: String = one(&mut c, "SELECT outcome FROM smt.interval_version", &[]);
    assert_eq!(outcome, "superseded_in_file");
    let conflicts: i32 = one(
        &mut c,
        "SELECT conflicts FROM smt.file WHERE file_id = $1",
        &[&l.file_id],
    );
    assert_eq!(conflicts, 1);
}

#[test]
fn a_revision_from_the_future_is_rejected_not_stored() {
    let Some(db) = TestDb::new("future_revision") else {
        return;
    };
    let mut c = db.connect();
    let mut g = Generator::new(4);
    let esiid = g.esiid();
    let day = date(2025, 7, 1);
    let good = g.record(&esiid, 4, day);
    let mut pinned = g.record(&esiid, 1, day);
    pinned.revision = Utc::now() + Duration::days(365 * 70);
    let l = load(&mut c, &lse(&[good.clone(), pinned]), "future.lse");
    assert_eq!((l.inserted, l.rejected), (1, 1), "{l:?}");
    let reject = rows_text(
        &mut c,
        "SELECT field, kind, (raw LIKE '%' || $1 || '%channel 1%')::text FROM smt.reject",
        &[&esiid],
    );
    assert_eq!(
        reject,
        [[
            Some("revision".to_owned()),
            Some("revision_in_future".to_owned()),
            Some("true".to_owned())
        ]]
    );
    // A real correction of that day still wins later.
    let mut correction = good;
    correction.revision += Duration::days(1);
    assert_eq!(load(&mut c, &lse(&[correction]), "fix.lse").replaced, 1);
}

#[test]
fn days_outside_the_operating_range_are_rejected_and_make_no_partitions() {
    let Some(db) = TestDb::new("day_range") else {
        return;
    };
    let mut c = db.connect();
    let mut g = Generator::new(5);
    let esiid = g.esiid();
    let far: Vec<IntervalRecord> = [
        date(1900, 1, 1),
        date(2100, 6, 1),
        date(9999, 6, 1),
        (Utc::now() + Duration::days(30)).date_naive(),
    ]
    .into_iter()
    .map(|d| g.record(&esiid, 4, d))
    .collect();
    let mut records = far.clone();
    records.push(g.record(&esiid, 4, date(2025, 7, 1)));
    let l = load(&mut c, &lse(&records), "far days.lse");
    assert_eq!((l.inserted, l.rejected), (1, far.len() as i32), "{l:?}");
    let kinds: Vec<String> = c
        .query("SELECT kind FROM smt.reject ORDER BY line", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(kinds, vec!["day_out_of_range"; far.len()]);
    let partitions: Vec<String> = c
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = 'smt.interval_day'::regclass ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(partitions, ["interval_day_2025_07"]);
}

#[test]
fn normalize_15min_refuses_runaway_arguments_with_clear_errors() {
    let Some(db) = TestDb::new("normalize_bounds") else {
        return;
    };
    let mut c = db.connect();
    let cases = [
        (
            "ARRAY['-infinity'::timestamptz], ARRAY['infinity'::timestamptz], ARRAY[1.0]",
            "finite instants",
        ),
        (
            "ARRAY['0025-01-01'::timestamptz], ARRAY['2025-01-01'::timestamptz], ARRAY[1.0]",
            "at most 45 days",
        ),
        (
            "ARRAY['2025-01-01'::timestamptz, '2025-01-02'], ARRAY['2025-01-01 01:00'::timestamptz], ARRAY[1.0]",
            "one end and one kWh value for each start",
        ),
        (
            "(SELECT array_agg(d) FROM generate_series('1990-01-01'::timestamptz, '2025-01-01', '30 days') d),
             (SELECT array_agg(d + '30 days') FROM generate_series('1990-01-01'::timestamptz, '2025-01-01', '30 days') d),
             (SELECT array_agg(1.0) FROM generate_series('1990-01-01'::timestamptz, '2025-01-01', '30 days') d)",
            "more than 1,000,000",
        ),
    ];
    // A runaway call fails this test by the timeout instead of hanging it.
    c.batch_execute("SET statement_timeout = '60s'").unwrap();
    for (args, expected) in cases {
        let e = refused(
            &mut c,
            &format!("SELECT count(*) FROM smt.normalize_15min({args})"),
            &[],
        );
        assert!(e.contains(expected), "{args}: {e}");
    }
    // Good arguments still give exact shares.
    let exact: bool = one(
        &mut c,
        "SELECT sum(kwh) = 1.001 FROM smt.normalize_15min(ARRAY['2025-01-01 00:05+00'::timestamptz],
                                                      ARRAY['2025-01-01 01:05+00'::timestamptz], ARRAY[1.001])",
        &[],
    );
    assert!(exact);
}

#[test]
fn rejects_carry_the_esiid_channel_and_day_they_cost() {
    let Some(db) = TestDb::new("reject_context") else {
        return;
    };
    let mut c = db.connect();
    let mut g = Generator::new(8);
    let esiid = g.esiid();
    let day = date(2025, 7, 1);
    let good = g.record(&esiid, 4, day);
    let mut bad = g.record(&esiid, 1, day);
    bad.intervals[0] = Some(smt_core::Reading {
        kwh: smt_core::Decimal::new(1, 3),
        status: smt_core::Status::Actual,
    });
    let text = String::from_utf8(lse(&[good, bad])).unwrap();
    // The second record's first interval gets a status SMT never writes.
    let second = text.match_indices("\n00000001,").next().unwrap().0;
    let at = second + text[second..].find("\n10000000,0.001,A,").unwrap();
    let broken = format!(
        "{}\n10000000,0.001,X,{}",
        &text[..at],
        &text[at + "\n10000000,0.001,A,".len()..]
    );
    let l = load(&mut c, broken.as_bytes(), "status X.lse");
    assert_eq!((l.inserted, l.rejected), (1, 1), "{l:?}");
    let reject = rows_text(
        &mut c,
        "SELECT kind, esiid, channel::text, day::text FROM smt.reject",
        &[],
    );
    assert_eq!(
        reject,
        [[
            Some("unknown_status".to_owned()),
            Some(esiid.clone()),
            Some("1".to_owned()),
            Some("2025-07-01".to_owned())
        ]]
    );
    let seen_by_reader: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.reject_log WHERE esiid = $1 AND day = '2025-07-01'",
        &[&esiid],
    );
    assert_eq!(seen_by_reader, 1);
}
