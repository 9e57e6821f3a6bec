//! Generated data over ERCOT's 2025 DST days and a normal day, as LSE and as SMT CSV.

use chrono::NaiveDate;
use postgres::Client;
use smt_core::record::{CHANNEL_GENERATION, CHANNEL_LOAD};
use smt_core::testdata::{self, Generator};
use smt_core::{DecimalSum, IntervalRecord};
use smt_e2e::*;

fn days() -> [NaiveDate; 3] {
    [date(2025, 3, 9), date(2025, 11, 2), date(2025, 11, 3)]
}

/// Worked out by hand: Central daylight time is UTC−5, standard time UTC−6. 9 March 2025 starts at
/// CST midnight (06:00Z) and ends at CDT midnight (05:00Z): 23 h, 92 quarter hours. 2 November
/// starts at CDT midnight (05:00Z) and ends at CST midnight (06:00Z): 25 h, 100.
fn expected_day(day: NaiveDate) -> (i64, &'static str, &'static str) {
    match day.to_string().as_str() {
        "2025-03-09" => (92, "2025-03-09T06:00:00Z", "2025-03-10T05:00:00Z"),
        "2025-11-02" => (100, "2025-11-02T05:00:00Z", "2025-11-03T06:00:00Z"),
        "2025-11-03" => (96, "2025-11-03T06:00:00Z", "2025-11-04T06:00:00Z"),
        other => panic!("no expectation for {other}"),
    }
}

fn records() -> Vec<IntervalRecord> {
    // 8 meters: the 4th and 8th also have generation (channel 1).
    let records = Generator::new(2025).records(8, &days());
    assert_eq!(records.len(), 8 * 3 + 2 * 3);
    records
}

fn check_views(c: &mut Client, records: &[IntervalRecord]) {
    for r in records {
        let (slots, first, last) = expected_day(r.day);
        let v = day_view(c, &r.esiid, i16::from(r.channel), r.day);
        let what = format!("{} channel {} {}", r.esiid, r.channel, r.day);
        assert_eq!(v.rows, slots, "{what}: rows");
        assert_eq!(v.first_start_utc.as_deref(), Some(first), "{what}");
        assert_eq!(v.last_end_utc.as_deref(), Some(last), "{what}");
        assert_interval_view_matches(c, r);
    }
    // Per meter and day: import is channel 4, export channel 1, counts of channel 4 intervals.
    for r in records.iter().filter(|r| r.channel == CHANNEL_LOAD) {
        let generation = records
            .iter()
            .find(|g| g.channel == CHANNEL_GENERATION && g.esiid == r.esiid && g.day == r.day);
        let d = daily_usage(c, &r.esiid, r.day).expect("a daily row");
        let what = format!("{} {}", r.esiid, r.day);
        assert!(
            same_sum(&r.kwh_sum(), d.import_kwh.as_deref()),
            "{what}: import {:?}",
            d.import_kwh
        );
        let mut net: DecimalSum = r.intervals.iter().flatten().map(|x| x.kwh).sum();
        match generation {
            Some(g) => {
                assert!(same_sum(&g.kwh_sum(), d.export_kwh.as_deref()), "{what}");
                for x in g.intervals.iter().flatten() {
                    net.add(smt_core::Decimal::new(-x.kwh.units(), x.kwh.scale()));
                }
            }
            None => assert_eq!(d.export_kwh, None, "{what}: export"),
        }
        assert!(
            same_sum(&net, d.net_kwh.as_deref()),
            "{what}: net {:?}",
            d.net_kwh
        );
        let (slots, _, _) = expected_day(r.day);
        let present = r.intervals.iter().flatten().count() as i32;
        assert_eq!(d.intervals_present, present, "{what}");
        assert_eq!(d.intervals_estimated, r.estimated() as i32, "{what}");
        assert_eq!(d.intervals_missing, slots as i32 - present, "{what}");
    }
    // Nothing else stored.
    let stored: i64 = one(c, "SELECT count(*) FROM smt.interval_day", &[]);
    assert_eq!(stored as usize, records.len());
}

#[test]
fn lse_over_dst_days() {
    let Some(db) = TestDb::new("generated_lse") else {
        return;
    };
    let mut c = db.connect();
    let records = records();
    let l = load(&mut c, &testdata::lse_bytes(&records, true), "dst.lse");
    assert_eq!(l.records as usize, records.len());
    assert_eq!(l.inserted as usize, records.len());
    assert_eq!((l.replaced, l.stale, l.rejected), (0, 0, 0));
    check_views(&mut c, &records);
}

#[test]
fn csv_over_dst_days() {
    let Some(db) = TestDb::new("generated_csv") else {
        return;
    };
    let mut c = db.connect();
    let records = records();
    let l = load(
        &mut c,
        &testdata::csv_bytes(&records),
        "IntervalMeterUsage.csv",
    );
    assert_eq!(l.records as usize, records.len());
    assert_eq!(l.inserted as usize, records.len());
    assert_eq!(l.rejected, 0);
    check_views(&mut c, &records);
}

/// The same data in the other format (no transaction ids, other bytes) is no change.
#[test]
fn same_data_as_csv_after_lse_is_identical() {
    let Some(db) = TestDb::new("generated_both") else {
        return;
    };
    let mut c = db.connect();
    let records = records();
    load(&mut c, &testdata::lse_bytes(&records, false), "dst.lse");
    let before = table_counts(&mut c);
    let day_before = stored_day(&mut c, &records[0].esiid, 4, records[0].day);
    let l = load(&mut c, &testdata::csv_bytes(&records), "dst.csv");
    assert!(!l.already_loaded);
    assert_eq!(l.identical as usize, records.len());
    assert_eq!((l.inserted, l.replaced, l.stale, l.conflicts), (0, 0, 0, 0));
    let mut after = table_counts(&mut c);
    // Only the new file's own rows.
    assert_eq!(
        after.remove("smt.file"),
        before.get("smt.file").map(|n| n + 1)
    );
    assert_eq!(
        after.remove("smt.file_content"),
        before.get("smt.file_content").map(|n| n + 1)
    );
    let mut before = before;
    before.remove("smt.file");
    before.remove("smt.file_content");
    assert_eq!(after, before);
    assert_eq!(
        stored_day(&mut c, &records[0].esiid, 4, records[0].day),
        day_before
    );
    check_views(&mut c, &records);
}
