//! smt.normalize_15min (any intervals onto the UTC quarter-hour grid) and smt.interval_15min.

use postgres::Client;
use smt_core::record::{CHANNEL_GENERATION, CHANNEL_LOAD};
use smt_core::testdata::{self, Generator};
use smt_core::{Decimal, DecimalSum};
use smt_e2e::*;

/// One output slot: (start UTC, kwh as text, coverage as text).
type Slot = (String, String, String);

/// smt.normalize_15min over sources given as (start, end, kwh) text, in the session's TimeZone.
fn normalize(c: &mut Client, sources: &[(&str, &str, &str)]) -> Vec<Slot> {
    let array = |f: &dyn Fn(&(&str, &str, &str)) -> String| {
        format!(
            "{{{}}}",
            sources.iter().map(f).collect::<Vec<_>>().join(",")
        )
    };
    let starts = array(&|s| format!("\"{}\"", s.0));
    let ends = array(&|s| format!("\"{}\"", s.1));
    let kwh = array(&|s| s.2.to_owned());
    let sql = format!(
        "SELECT {}, {}, kwh::text, coverage::text
           FROM smt.normalize_15min($1::text::timestamptz[], $2::text::timestamptz[], $3::text::numeric[])
          ORDER BY interval_start",
        utc_sql("interval_start"),
        utc_sql("interval_end")
    );
    c.query(&sql, &[&starts, &ends, &kwh])
        .unwrap_or_else(|e| panic!("normalize_15min: {}", explain(&e)))
        .iter()
        .map(|r| {
            let (start, end): (String, String) = (r.get(0), r.get(1));
            assert_eq!(
                minutes_between(&start, &end),
                15,
                "slot {start}..{end} is a quarter hour"
            );
            (start, r.get(2), r.get(3))
        })
        .collect()
}

fn minutes_between(a: &str, b: &str) -> i64 {
    let p = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
    (p(b) - p(a)).num_minutes()
}

fn dec(s: &str) -> Decimal {
    Decimal::parse_str(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn close(a: &str, b: f64, tolerance: f64) -> bool {
    (a.parse::<f64>().unwrap() - b).abs() <= tolerance
}

#[test]
fn an_hour_splits_into_four_quarters() {
    let Some(db) = TestDb::new("normalize_hour") else {
        return;
    };
    let mut c = db.connect();
    let slots = normalize(
        &mut c,
        &[("2025-07-01 10:00:00+00", "2025-07-01 11:00:00+00", "1.000")],
    );
    let starts: Vec<&str> = slots.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        starts,
        [
            "2025-07-01T10:00:00Z",
            "2025-07-01T10:15:00Z",
            "2025-07-01T10:30:00Z",
            "2025-07-01T10:45:00Z"
        ]
    );
    for (start, kwh, coverage) in &slots {
        assert!(dec(kwh).same_value(dec("0.250")), "{start}: {kwh}");
        assert!(
            dec(coverage).same_value(dec("1")),
            "{start}: coverage {coverage}"
        );
    }
}

#[test]
fn three_five_minute_sources_make_one_slot() {
    let Some(db) = TestDb::new("normalize_five") else {
        return;
    };
    let mut c = db.connect();
    let slots = normalize(
        &mut c,
        &[
            ("2025-07-01 10:15:00+00", "2025-07-01 10:20:00+00", "0.1"),
            ("2025-07-01 10:20:00+00", "2025-07-01 10:25:00+00", "0.25"),
            ("2025-07-01 10:25:00+00", "2025-07-01 10:30:00+00", "0.007"),
        ],
    );
    assert_eq!(slots.len(), 1);
    assert_eq!(slots[0].0, "2025-07-01T10:15:00Z");
    assert!(dec(&slots[0].1).same_value(dec("0.357")), "{:?}", slots[0]);
    assert!(dec(&slots[0].2).same_value(dec("1")), "{:?}", slots[0]);
}

/// Twenty 7-minute intervals from 00:03 to 02:23: every slot between is partly covered.
#[test]
fn irregular_seven_minute_series_adds_up_exactly() {
    let Some(db) = TestDb::new("normalize_seven") else {
        return;
    };
    let mut c = db.connect();
    let at = |minute: i64| format!("2025-07-01 {:02}:{:02}:00+00", minute / 60, minute % 60);
    // Values with three decimals, none of which splits evenly into 7ths.
    let values: Vec<String> = (0..20)
        .map(|i| format!("{}.{:03}", i % 3, (i * 137 + 11) % 1000))
        .collect();
    let owned: Vec<(String, String, String)> = (0..20)
        .map(|i| (at(3 + 7 * i), at(10 + 7 * i), values[i as usize].clone()))
        .collect();
    let sources: Vec<(&str, &str, &str)> = owned
        .iter()
        .map(|(a, b, k)| (a.as_str(), b.as_str(), k.as_str()))
        .collect();
    let slots = normalize(&mut c, &sources);

    // Coverage and proportional shares, worked out here minute by minute.
    let (first, last) = (3i64, 3 + 7 * 20); // minutes after midnight: 3..143
    let expected_slots: Vec<i64> = (0..10).map(|k| k * 15).collect(); // 00:00 .. 02:15
    assert_eq!(slots.len(), expected_slots.len());
    for ((start, kwh, coverage), slot) in slots.iter().zip(&expected_slots) {
        assert_eq!(
            start,
            &format!("2025-07-01T{:02}:{:02}:00Z", slot / 60, slot % 60)
        );
        let covered = (last.min(slot + 15) - first.max(*slot)).max(0);
        assert!(
            close(coverage, covered as f64 / 15.0, 5e-7),
            "{start}: coverage {coverage}, {covered} of 15 minutes"
        );
        let share: f64 = (0..20)
            .map(|i| {
                let (s, e) = (3 + 7 * i, 10 + 7 * i);
                let overlap = (e.min(slot + 15) - s.max(*slot)).max(0);
                values[i as usize].parse::<f64>().unwrap() * overlap as f64 / 7.0
            })
            .sum();
        assert!(
            close(kwh, share, 1e-6),
            "{start}: kwh {kwh}, proportional {share}"
        );
    }
    // Exactly the source total, in Rust and in SQL.
    let total: DecimalSum = values.iter().map(|v| dec(v)).sum();
    let slot_sum: DecimalSum = slots.iter().map(|s| dec(&s.1)).sum();
    assert!(
        slot_sum.equals_text(&total.to_string()),
        "{slot_sum} vs {total}"
    );
    let exact: bool = one(
        &mut c,
        "SELECT (SELECT sum(kwh) FROM smt.normalize_15min($1::text::timestamptz[],
                    $2::text::timestamptz[], $3::text::numeric[]))
                = (SELECT sum(k) FROM unnest($3::text::numeric[]) k)",
        &[
            &format!(
                "{{{}}}",
                owned
                    .iter()
                    .map(|s| format!("\"{}\"", s.0))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            &format!(
                "{{{}}}",
                owned
                    .iter()
                    .map(|s| format!("\"{}\"", s.1))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            &format!("{{{}}}", values.join(",")),
        ],
    );
    assert!(exact, "slots add up to the sources exactly in numeric");
}

/// Hourly sources over the fall-back night of 2 November 2025, written in Central time (the
/// 01:00 hour twice: CDT then CST): the slots are 24 consecutive UTC quarter hours from 05:00Z.
#[test]
fn hourly_sources_over_fall_back_stay_on_the_utc_grid() {
    let Some(db) = TestDb::new("normalize_dst") else {
        return;
    };
    let mut c = db.connect();
    c.batch_execute("SET TimeZone = 'America/Chicago'").unwrap();
    let sources = [
        ("2025-11-02 00:00:00-05", "2025-11-02 01:00:00-05", "1.2"),
        ("2025-11-02 01:00:00-05", "2025-11-02 01:00:00-06", "0.8"),
        ("2025-11-02 01:00:00-06", "2025-11-02 02:00:00-06", "2.4"),
        ("2025-11-02 02:00:00-06", "2025-11-02 03:00:00-06", "0.4"),
        ("2025-11-02 03:00:00-06", "2025-11-02 04:00:00-06", "4.0"),
        ("2025-11-02 04:00:00-06", "2025-11-02 05:00:00-06", "0.04"),
    ];
    let slots = normalize(&mut c, &sources);
    assert_eq!(slots.len(), 24);
    for (i, (start, kwh, coverage)) in slots.iter().enumerate() {
        let minute = 5 * 60 + 15 * i;
        assert_eq!(
            start,
            &format!("2025-11-02T{:02}:{:02}:00Z", minute / 60, minute % 60)
        );
        let quarter = dec(sources[i / 4].2);
        let expected = Decimal::new(quarter.units() * 25, quarter.scale() + 2);
        assert!(
            dec(kwh).same_value(expected),
            "{start}: {kwh} vs {expected}"
        );
        assert!(dec(coverage).same_value(dec("1")), "{start}: {coverage}");
    }
}

/// An ESIID with consumption and surplus generation: import, export and net per slot.
#[test]
fn interval_15min_imports_exports_and_nets() {
    let Some(db) = TestDb::new("interval_15min") else {
        return;
    };
    let mut c = db.connect();
    let day = date(2025, 11, 2); // 100 slots
    let records = Generator::new(61).records(4, &[day]);
    load(&mut c, &testdata::lse_bytes(&records, false), "both.lse");
    let load_rec = &records[3];
    let gen_rec = &records[4];
    assert_eq!(
        (load_rec.channel, gen_rec.channel),
        (CHANNEL_LOAD, CHANNEL_GENERATION)
    );
    assert_eq!(load_rec.esiid, gen_rec.esiid);
    let plain = &records[0];
    assert_eq!(plain.channel, CHANNEL_LOAD);

    for (r, generation) in [(load_rec, Some(gen_rec)), (plain, None)] {
        let sql = format!(
            "SELECT {}, import_kwh::text, export_kwh::text, net_kwh::text
               FROM smt.interval_15min WHERE esiid = $1 ORDER BY interval_start",
            utc_sql("interval_start")
        );
        let rows = rows_text(&mut c, &sql, &[&r.esiid]);
        assert_eq!(rows.len(), 100, "{}: slots", r.esiid);
        for (i, row) in rows.iter().enumerate() {
            let what = format!("{} slot {i}", r.esiid);
            assert_eq!(
                row[0].as_deref(),
                Some(utc_text(r.interval_bounds(i).0).as_str()),
                "{what}"
            );
            let import = r.intervals[i].map(|x| x.kwh);
            let export = generation.and_then(|g| g.intervals[i]).map(|x| x.kwh);
            let same = |got: &Option<String>, want: Option<Decimal>| match (got, want) {
                (None, None) => true,
                (Some(g), Some(w)) => dec(g).same_value(w),
                _ => false,
            };
            assert!(
                same(&row[1], import),
                "{what}: import {:?} vs {import:?}",
                row[1]
            );
            assert!(
                same(&row[2], export),
                "{what}: export {:?} vs {export:?}",
                row[2]
            );
            // Net: import minus export (a missing export counts 0); none without an import.
            let net = import.map(|i| {
                let e = export.unwrap_or(Decimal::ZERO);
                let mut s = DecimalSum::default();
                s.add(i);
                s.add(Decimal::new(-e.units(), e.scale()));
                dec(&s.to_string())
            });
            assert!(same(&row[3], net), "{what}: net {:?} vs {net:?}", row[3]);
        }
    }
}

/// An hourly LSE day in smt.interval_15min: each hour in four slots adding up to it exactly.
#[test]
fn interval_15min_spreads_hourly_days() {
    let Some(db) = TestDb::new("interval_15min_hourly") else {
        return;
    };
    let mut c = db.connect();
    let mut g = Generator::new(62);
    g.missing_per_mille = 0;
    let esiid = g.esiid();
    let mut hourly = g.record(&esiid, 4, date(2025, 7, 1));
    hourly.interval_seconds = 3600;
    hourly.intervals.truncate(24);
    let l = load(
        &mut c,
        &testdata::lse_bytes(std::slice::from_ref(&hourly), true),
        "hourly.lse",
    );
    assert_eq!(l.inserted, 1);
    assert_interval_view_matches(&mut c, &hourly);
    let sql = format!(
        "SELECT {}, import_kwh::text FROM smt.interval_15min WHERE esiid = $1 ORDER BY interval_start",
        utc_sql("interval_start")
    );
    let rows = rows_text(&mut c, &sql, &[&esiid]);
    assert_eq!(rows.len(), 96);
    // 1 July: CDT, midnight is 05:00Z.
    assert_eq!(rows[0][0].as_deref(), Some("2025-07-01T05:00:00Z"));
    assert_eq!(rows[95][0].as_deref(), Some("2025-07-02T04:45:00Z"));
    for (hour, quarters) in rows.chunks(4).enumerate() {
        let sum: DecimalSum = quarters.iter().map(|q| dec(q[1].as_deref().unwrap())).sum();
        let source = hourly.intervals[hour].unwrap().kwh;
        assert!(
            sum.equals_text(&source.to_string()),
            "hour {hour}: {sum} vs {source}"
        );
    }
}
