//! Cross-check against the files in shared/fixtures and their expected.json (written outside this
//! project's code): every ESIID-channel-day through smt.interval and smt.daily_usage.

use std::path::Path;

use serde_json::Value;
use smt_core::Decimal;
use smt_e2e::*;

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn field<'a>(entry: &'a Value, key: &str) -> &'a Value {
    entry
        .get(key)
        .unwrap_or_else(|| panic!("expected.json entry without {key}: {entry}"))
}

fn text<'a>(entry: &'a Value, key: &str) -> &'a str {
    field(entry, key).as_str().expect("a string")
}

fn int(entry: &Value, key: &str) -> i64 {
    field(entry, key).as_i64().expect("an integer")
}

fn same_value(a: Option<&str>, b: &str) -> bool {
    let b = Decimal::parse_str(b).expect("expected kwh is a decimal");
    a.and_then(|a| Decimal::parse_str(a).ok())
        .is_some_and(|a| a.same_value(b))
}

#[test]
fn generated_fixtures_match_expected_json() {
    let Some(dir) = fixtures_dir() else { return };
    let Some(db) = TestDb::new("fixtures") else {
        return;
    };
    let mut c = db.connect();
    let expected: Value =
        serde_json::from_slice(&read(&dir, "generated/expected.json")).expect("expected.json");
    let files = expected.as_object().expect("expected.json is an object");
    assert!(files.contains_key("dst_days.lse"));
    assert!(files.contains_key("IntervalMeterUsage_sample.CSV"));

    for (file, entries) in files {
        let entries = entries.as_array().expect("entries");
        let l = load(&mut c, &read(&dir, &format!("generated/{file}")), file);
        assert!(!l.already_loaded);
        assert_eq!(l.rejected, 0, "{file}: rejects");
        assert_eq!(l.records as usize, entries.len(), "{file}: records");
        assert_eq!(l.inserted as usize, entries.len(), "{file}: inserted");
        let state: String = one(
            &mut c,
            "SELECT state FROM smt.file WHERE file_id = $1",
            &[&l.file_id],
        );
        assert_eq!(state, "loaded");

        for e in entries {
            let (esiid, channel, day) = (text(e, "esiid"), int(e, "channel"), text(e, "day"));
            let what = format!("{file}: {esiid} channel {channel} {day}");
            let day = day.parse().expect("day");
            let v = day_view(&mut c, esiid, channel as i16, day);
            assert_eq!(v.rows, int(e, "slots"), "{what}: rows (slots)");
            assert_eq!(v.present, int(e, "intervals"), "{what}: intervals present");
            assert!(
                same_value(v.kwh.as_deref(), text(e, "kwh")),
                "{what}: sum(kwh) {:?}, expected {}",
                v.kwh,
                text(e, "kwh")
            );
            assert_eq!(v.estimated, int(e, "estimated"), "{what}: estimated");
            assert_eq!(
                v.first_start_utc.as_deref(),
                Some(text(e, "first_start_utc")),
                "{what}: first start"
            );
            assert_eq!(
                v.last_end_utc.as_deref(),
                Some(text(e, "last_end_utc")),
                "{what}: last end"
            );

            let d = daily_usage(&mut c, esiid, day).unwrap_or_else(|| panic!("{what}: no daily"));
            if channel == 4 {
                assert!(
                    same_value(d.import_kwh.as_deref(), text(e, "kwh")),
                    "{what}: import_kwh {:?}",
                    d.import_kwh
                );
                assert_eq!(d.intervals_present as i64, int(e, "intervals"), "{what}");
                assert_eq!(d.intervals_estimated as i64, int(e, "estimated"), "{what}");
                assert_eq!(
                    d.intervals_missing as i64,
                    int(e, "slots") - int(e, "intervals"),
                    "{what}: intervals_missing"
                );
            } else {
                assert_eq!(channel, 1);
                assert!(
                    same_value(d.export_kwh.as_deref(), text(e, "kwh")),
                    "{what}: export_kwh {:?}",
                    d.export_kwh
                );
            }
        }
        // Nothing beyond what expected.json lists.
        let stored: i64 = one(
            &mut c,
            "SELECT count(*) FROM smt.interval_day WHERE file_id = $1",
            &[&l.file_id],
        );
        assert_eq!(stored as usize, entries.len(), "{file}: stored days");
    }
}

/// The seed document's record: its ESIID is a 15-digit placeholder, not a Texas ESIID.
#[test]
fn seed_example_is_rejected_strict_and_loads_lenient() {
    let Some(dir) = fixtures_dir() else { return };
    let data = read(&dir, "seed_example.lse");
    let Some(strict) = TestDb::new("seed_strict") else {
        return;
    };
    let mut c = strict.connect();
    let l = load(&mut c, &data, "seed_example.lse");
    assert_eq!((l.records, l.inserted, l.rejected), (0, 0, 1));
    let rejects = rows_text(
        &mut c,
        "SELECT line::text, field, kind, raw FROM smt.reject WHERE file_id = $1",
        &[&l.file_id],
    );
    let first_line = String::from_utf8_lossy(&data)
        .lines()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        rejects,
        vec![vec![
            Some("1".to_owned()),
            Some("00000001.esiid".to_owned()),
            Some("invalid_esiid".to_owned()),
            Some(first_line),
        ]]
    );
    let kept: Vec<u8> = one(&mut c, "SELECT smt.file_bytes($1)", &[&l.file_id]);
    assert_eq!(kept, data, "raw bytes kept");
    let (state, rejected): (String, i32) = {
        let r = c
            .query_one(
                "SELECT state, rejected FROM smt.file WHERE file_id = $1",
                &[&l.file_id],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((state.as_str(), rejected), ("loaded", 1));
    assert_eq!(
        one::<i64>(&mut c, "SELECT count(*) FROM smt.interval_day", &[]),
        0
    );

    // In a database that has not seen the file, lenient mode takes the placeholder ESIID.
    let Some(lenient) = TestDb::new("seed_lenient") else {
        return;
    };
    let mut c = lenient.connect();
    let l = load_lenient(&mut c, &data, "seed_example.lse");
    assert_eq!((l.records, l.inserted, l.rejected), (1, 1, 0));
    // The expected values, read from the file here by hand: 24 data rows of 4 (value, status).
    let text = String::from_utf8(data).unwrap();
    let mut sum = smt_core::DecimalSum::default();
    let (mut present, mut estimated) = (0, 0);
    for row in text.lines().filter(|l| l.starts_with("1000")) {
        let fields: Vec<&str> = row.trim_end().split(',').collect();
        for triplet in fields[1..].chunks(3).filter(|t| t.len() == 3) {
            if !triplet[0].is_empty() {
                sum.add(Decimal::parse_str(triplet[0]).unwrap());
                present += 1;
                estimated += i64::from(triplet[1] == "E");
            }
        }
    }
    assert_eq!(present, 96);
    let v = day_view(&mut c, "100000000000000", 4, date(2008, 5, 10));
    assert_eq!(v.rows, 96);
    assert_eq!(v.present, 96);
    assert_eq!(v.estimated, estimated);
    assert!(same_sum(&sum, v.kwh.as_deref()), "{:?} vs {sum}", v.kwh);
    // 2008-05-10 is in daylight time: local midnight is 05:00Z.
    assert_eq!(v.first_start_utc.as_deref(), Some("2008-05-10T05:00:00Z"));
    assert_eq!(v.last_end_utc.as_deref(), Some("2008-05-11T05:00:00Z"));
    // Revision 2008-05-19 11:28:25 CDT.
    assert_eq!(v.revisions, vec!["2008-05-19T16:28:25Z".to_owned()]);
}
