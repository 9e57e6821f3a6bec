//! The replacement rule end to end: versions of one ESIID-channel-day arriving in any order.

use chrono::Duration;
use postgres::Client;
use smt_core::testdata::{self, Generator};
use smt_core::{Decimal, IntervalRecord, Reading, Status};
use smt_e2e::*;

/// A full day (no missing interval) and a second version of it: earlier revision, other values.
fn two_revisions(seed: u64) -> (IntervalRecord, IntervalRecord) {
    let mut g = Generator::new(seed);
    g.missing_per_mille = 0;
    let esiid = g.esiid();
    let newer = g.record(&esiid, 4, date(2025, 7, 15));
    let mut older = g.record(&esiid, 4, date(2025, 7, 15));
    older.revision = newer.revision - Duration::days(1);
    assert_ne!(older.intervals, newer.intervals);
    (older, newer)
}

fn lse(r: &IntervalRecord) -> Vec<u8> {
    testdata::lse_bytes(std::slice::from_ref(r), true)
}

/// Non-current versions of the day in smt.interval_version: (revision, outcome, sum of kWh).
fn history(c: &mut Client, r: &IntervalRecord) -> Vec<(String, String, String)> {
    let sql = format!(
        "SELECT {}, v.outcome,
                (SELECT sum(smt.kwh(coalesce(v.units16[i], v.units[i]), v.scale, v.kwh_exact[i]))
                   FROM generate_series(1, length(v.status)) i)::text
           FROM smt.interval_version v
          WHERE v.esiid = $1 AND v.channel = $2 AND v.day = $3::text::date
          ORDER BY v.revision, v.version_id",
        utc_sql("v.revision")
    );
    rows_text(
        c,
        &sql,
        &[&r.esiid, &i16::from(r.channel), &r.day.to_string()],
    )
    .into_iter()
    .map(|row| {
        let mut it = row.into_iter().map(Option::unwrap_or_default);
        (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
    })
    .collect()
}

fn assert_version(h: &(String, String, String), r: &IntervalRecord, outcome: &str) {
    assert_eq!(
        h.0,
        utc_text(r.revision),
        "revision of the {outcome} version"
    );
    assert_eq!(h.1, outcome);
    assert!(
        r.kwh_sum().equals_text(&h.2),
        "{outcome} version's kWh {} vs {}",
        h.2,
        r.kwh_sum()
    );
}

#[test]
fn newer_then_older_keeps_newer_and_records_stale() {
    let Some(db) = TestDb::new("replace_newer_first") else {
        return;
    };
    let mut c = db.connect();
    let (older, newer) = two_revisions(1);
    let first = load(&mut c, &lse(&newer), "r2.lse");
    assert_eq!((first.inserted, first.replaced, first.stale), (1, 0, 0));
    let second = load(&mut c, &lse(&older), "r1.lse");
    assert_eq!(
        (
            second.records,
            second.inserted,
            second.replaced,
            second.stale
        ),
        (1, 0, 0, 1)
    );
    let stale: i32 = one(
        &mut c,
        "SELECT stale FROM smt.file WHERE file_id = $1",
        &[&second.file_id],
    );
    assert_eq!(stale, 1);
    assert_interval_view_matches(&mut c, &newer);
    let h = history(&mut c, &older);
    assert_eq!(h.len(), 1);
    assert_version(&h[0], &older, "stale");
}

#[test]
fn older_then_newer_replaces_and_keeps_the_older() {
    let Some(db) = TestDb::new("replace_older_first") else {
        return;
    };
    let mut c = db.connect();
    let (older, newer) = two_revisions(1);
    load(&mut c, &lse(&older), "r1.lse");
    assert_interval_view_matches(&mut c, &older);
    let l = load(&mut c, &lse(&newer), "r2.lse");
    assert_eq!((l.inserted, l.replaced, l.stale), (0, 1, 0));
    assert_interval_view_matches(&mut c, &newer);
    let h = history(&mut c, &older);
    assert_eq!(h.len(), 1);
    assert_version(&h[0], &older, "replaced");
}

#[test]
fn arrival_order_does_not_change_the_end_state() {
    let (older, newer) = two_revisions(2);
    let mut end_states = Vec::new();
    for (name, order) in [
        ("order_new_old", [&newer, &older]),
        ("order_old_new", [&older, &newer]),
    ] {
        let Some(db) = TestDb::new(name) else { return };
        let mut c = db.connect();
        for (i, r) in order.iter().enumerate() {
            load(&mut c, &lse(r), &format!("{i}.lse"));
        }
        end_states.push(stored_day(&mut c, &newer.esiid, 4, newer.day));
    }
    assert_eq!(end_states[0], end_states[1]);
    assert_eq!(end_states[0][0], utc_text(newer.revision));
}

/// Same revision, other values: rule 4 settles it by content. `full` has every interval and
/// `gappy` one fewer, so `full` must win whichever comes first.
#[test]
fn same_revision_conflict_ends_the_same_whatever_the_order() {
    let mut g = Generator::new(3);
    g.missing_per_mille = 0;
    let esiid = g.esiid();
    let full = g.record(&esiid, 4, date(2025, 7, 16));
    let mut gappy = full.clone();
    gappy.intervals[10] = None;
    gappy.intervals[20] = Some(Reading {
        kwh: Decimal::new(9999, 3),
        status: Status::Actual,
    });
    gappy.transaction_id = Some("OTHER".into());

    let mut end_states = Vec::new();
    for (name, order) in [
        ("conflict_full_first", [&full, &gappy]),
        ("conflict_gappy_first", [&gappy, &full]),
    ] {
        let Some(db) = TestDb::new(name) else { return };
        let mut c = db.connect();
        load(&mut c, &lse(order[0]), "first.lse");
        let l = load(&mut c, &lse(order[1]), "second.lse");
        assert_eq!(l.conflicts, 1, "{name}: conflicts");
        if std::ptr::eq(order[1], &full) {
            assert_eq!((l.replaced, l.stale), (1, 0), "{name}");
        } else {
            assert_eq!((l.replaced, l.stale), (0, 1), "{name}");
        }
        assert_interval_view_matches(&mut c, &full);
        let h = history(&mut c, &gappy);
        assert_eq!(h.len(), 1, "{name}: history");
        assert_version(&h[0], &gappy, "conflict_lost");
        end_states.push(stored_day(&mut c, &esiid, 4, full.day));
    }
    assert_eq!(end_states[0], end_states[1]);
}

#[test]
fn newer_revision_with_fewer_intervals_replaces_and_shows_in_completeness() {
    let Some(db) = TestDb::new("replace_fewer") else {
        return;
    };
    let mut c = db.connect();
    let (older, mut newer) = two_revisions(4);
    for i in [0, 1, 47, 48, 95] {
        newer.intervals[i] = None;
    }
    load(&mut c, &lse(&older), "full.lse");
    let gaps: i64 = one(&mut c, "SELECT count(*) FROM smt.completeness", &[]);
    assert_eq!(gaps, 0, "a full day is complete");
    let l = load(&mut c, &lse(&newer), "gappy.lse");
    assert_eq!(l.replaced, 1);
    assert_interval_view_matches(&mut c, &newer);
    let sql = format!(
        "SELECT esiid, channel::text, day::text, intervals_expected::text, intervals_present::text,
                intervals_missing::text, {}, file_id::text
           FROM smt.completeness",
        utc_sql("revision")
    );
    let rows = rows_text(&mut c, &sql, &[]);
    let expected: Vec<Option<String>> = [
        newer.esiid.as_str(),
        "4",
        "2025-07-15",
        "96",
        "91",
        "5",
        &utc_text(newer.revision),
        &l.file_id.to_string(),
    ]
    .iter()
    .map(|s| Some(s.to_string()))
    .collect();
    assert_eq!(rows, vec![expected]);
}

/// An SMT "all versions" report: two revisions of one day in one CSV, in either order in the file.
#[test]
fn csv_with_two_revisions_keeps_the_older_as_superseded() {
    let Some(db) = TestDb::new("all_versions_csv") else {
        return;
    };
    let mut c = db.connect();
    let (a_old, a_new) = two_revisions(5);
    let (b_old, b_new) = two_revisions(6);
    assert_ne!(a_old.esiid, b_old.esiid);
    let csv = testdata::csv_bytes(&[a_old.clone(), a_new.clone(), b_new.clone(), b_old.clone()]);
    let l = load(&mut c, &csv, "IntervalMeterUsage_all_versions.csv");
    assert_eq!(l.records, 4);
    assert_eq!(l.inserted, 2);
    assert_eq!(l.rejected, 0);
    for (old, new) in [(&a_old, &a_new), (&b_old, &b_new)] {
        assert_interval_view_matches(&mut c, new);
        let h = history(&mut c, old);
        assert_eq!(h.len(), 1, "{}", old.esiid);
        assert_version(&h[0], old, "superseded_in_file");
    }
}

/// smt.interval_versions: the current version and every other one received, with its fate.
#[test]
fn interval_versions_lists_every_version() {
    let Some(db) = TestDb::new("versions_view") else {
        return;
    };
    let mut c = db.connect();
    let (v1, v2) = two_revisions(7);
    let mut v3 = Generator::new(8).record(&v2.esiid, 4, v2.day);
    v3.revision = v2.revision + Duration::hours(5);
    let f2 = load(&mut c, &lse(&v2), "v2.lse").file_id;
    let f1 = load(&mut c, &lse(&v1), "v1.lse").file_id;
    let f3 = load(&mut c, &lse(&v3), "v3.lse").file_id;
    let sql = format!(
        "SELECT {}, outcome, file_id, intervals_present, transaction_id
           FROM smt.interval_versions
          WHERE esiid = $1 AND channel = 4 AND day = $2::text::date
          ORDER BY revision",
        utc_sql("revision")
    );
    let rows = c
        .query(&sql, &[&v2.esiid, &v2.day.to_string()])
        .expect("interval_versions");
    let got: Vec<(String, String, i64, i32, Option<String>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let want = |r: &IntervalRecord, outcome: &str, file: i64| {
        (
            utc_text(r.revision),
            outcome.to_owned(),
            file,
            r.present() as i32,
            r.transaction_id.clone(),
        )
    };
    assert_eq!(
        got,
        vec![
            want(&v1, "stale", f1),
            want(&v2, "replaced", f2),
            want(&v3, "current", f3),
        ]
    );
}
