//! Cross-check against the shared fixtures (`../shared/fixtures`, beside the repository): the
//! generated LSE and SMT CSV files against `expected.json`, written independently of this crate,
//! and the seed LSE example from the SMT education session.
//!
//! The project's own suite stands on generated data; when the shared directory is absent (e.g. a
//! plain clone of the repository) these tests skip with a message, or fail under
//! `SMT_REQUIRE_ALL_PARTS=1` or `CI=true` ([`smt_core::test_support`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use chrono::{NaiveDate, SecondsFormat};
use serde_json::Value;

use smt_core::lse::{LseOptions, LseReader};
use smt_core::test_support::shared_fixtures;
use smt_core::{
    format, interval_records, ErrorKind, EsiidMode, Format, IntervalRecord, RecordError, Status,
};

/// Every item of an interval file, in the format its content says it is in.
fn parse_file(
    path: &PathBuf,
    mode: EsiidMode,
) -> (Format, Vec<Result<IntervalRecord, RecordError>>) {
    let head = std::fs::read(path).unwrap();
    let format =
        format::detect(&head).unwrap_or_else(|| panic!("{}: format not detected", path.display()));
    let src = BufReader::new(File::open(path).unwrap());
    let items = interval_records(src, format, mode)
        .expect("an interval format")
        .collect();
    (format, items)
}

fn records_of(path: &PathBuf) -> (Format, Vec<IntervalRecord>) {
    let (format, items) = parse_file(path, EsiidMode::Strict);
    let records = items
        .into_iter()
        .map(|item| {
            item.unwrap_or_else(|e| panic!("{}:{}: {} ({})", path.display(), e.line, e, e.kind))
        })
        .collect();
    (format, records)
}

type Key = (String, u8, NaiveDate);

fn utc(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Checks one fixture file against its entries in expected.json: the same set of
/// ESIID-channel-days, and for each the counts, exact sum and first and last instants.
fn check_against_expected(file: &str, want_format: Format) {
    let Some(dir) = shared_fixtures() else { return };
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("generated/expected.json")).unwrap(),
    )
    .unwrap();
    let entries = expected[file]
        .as_array()
        .unwrap_or_else(|| panic!("expected.json has no list for {file}"));
    assert!(!entries.is_empty());

    let (format, records) = records_of(&dir.join("generated").join(file));
    assert_eq!(format, want_format);
    let mut by_key: BTreeMap<Key, &IntervalRecord> = BTreeMap::new();
    for r in &records {
        let key = (r.esiid.clone(), r.channel, r.day);
        assert!(
            by_key.insert(key.clone(), r).is_none(),
            "{key:?} appears twice in {file}"
        );
    }

    let mut expected_keys = BTreeSet::new();
    for e in entries {
        let key: Key = (
            e["esiid"].as_str().unwrap().to_owned(),
            e["channel"].as_u64().unwrap() as u8,
            e["day"].as_str().unwrap().parse().unwrap(),
        );
        assert!(expected_keys.insert(key.clone()), "{key:?} listed twice");
        let r = by_key
            .get(&key)
            .unwrap_or_else(|| panic!("{file}: no record for {key:?}"));
        let kwh = e["kwh"].as_str().unwrap();
        assert_eq!(
            r.present() as u64,
            e["intervals"].as_u64().unwrap(),
            "{key:?} intervals"
        );
        assert_eq!(
            r.intervals.len() as u64,
            e["slots"].as_u64().unwrap(),
            "{key:?} slots"
        );
        assert!(
            r.kwh_sum().equals_text(kwh),
            "{key:?}: sum {} where {kwh} was expected",
            r.kwh_sum()
        );
        assert_eq!(
            r.estimated() as u64,
            e["estimated"].as_u64().unwrap(),
            "{key:?} estimated"
        );
        assert_eq!(
            utc(r.start),
            e["first_start_utc"].as_str().unwrap(),
            "{key:?} first start"
        );
        assert_eq!(
            utc(r.end()),
            e["last_end_utc"].as_str().unwrap(),
            "{key:?} last end"
        );
    }
    let parsed_keys: BTreeSet<Key> = by_key.keys().cloned().collect();
    assert_eq!(
        parsed_keys, expected_keys,
        "{file}: records differ from expected.json"
    );
}

#[test]
fn dst_days_lse_matches_expected_json() {
    check_against_expected("dst_days.lse", Format::Lse);
}

#[test]
fn interval_csv_sample_matches_expected_json() {
    check_against_expected("IntervalMeterUsage_sample.CSV", Format::IntervalCsv);
}

fn seed_example() -> Option<PathBuf> {
    shared_fixtures().map(|dir| dir.join("seed_example.lse"))
}

#[test]
fn seed_example_is_rejected_in_strict_mode() {
    let Some(path) = seed_example() else { return };
    let (format, items) = parse_file(&path, EsiidMode::Strict);
    assert_eq!(format, Format::Lse);
    assert_eq!(items.len(), 1);
    let e = items[0].as_ref().unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidEsiid);
    assert_eq!(e.line, 1);
    assert_eq!(e.field, "00000001.esiid");
}

#[test]
fn seed_example_parses_in_lenient_mode() {
    let Some(path) = seed_example() else { return };
    let options = LseOptions {
        esiid_mode: EsiidMode::Lenient,
    };
    let items: Vec<_> =
        LseReader::new(BufReader::new(File::open(&path).unwrap()), options).collect();
    assert_eq!(items.len(), 1);
    let r = items[0]
        .as_ref()
        .expect("lenient mode takes the 15-digit placeholder");

    assert_eq!(r.esiid, "100000000000000");
    assert_eq!(r.channel, 4);
    assert_eq!(r.day, NaiveDate::from_ymd_opt(2008, 5, 10).unwrap());
    assert_eq!(r.line, 1);
    assert_eq!(r.transaction_id.as_deref(), Some("UNIQUETRANID0123456789"));
    let attributes: Vec<(&str, &str)> = r
        .attributes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        attributes,
        [
            ("MRE", "666666666"),
            ("Sender", "666666666"),
            ("Receiver", "183529049"),
            ("REP", "111111111"),
        ]
    );
    // 2008-05-19 11:28:25 in Central daylight time (UTC-5).
    assert_eq!(utc(r.revision), "2008-05-19T16:28:25Z");
    // Midnight CDT to midnight CDT: 24 rows of 4.
    assert_eq!(utc(r.start), "2008-05-10T05:00:00Z");
    assert_eq!(r.intervals.len(), 96);
    assert_eq!(r.present(), 96);

    let first = r.intervals[0].unwrap();
    assert_eq!(first.kwh.to_string(), "68.29");
    assert_eq!(first.status, Status::Actual);
    // Row 10000001 (intervals 5-8) is all estimated, and nothing else is.
    let estimated: Vec<usize> = (0..96)
        .filter(|&i| r.intervals[i].unwrap().status == Status::Estimated)
        .collect();
    assert_eq!(estimated, [4, 5, 6, 7]);
    assert_eq!(r.intervals[4].unwrap().kwh.to_string(), "66.81");
    // The last value of the example, written "7.82".
    assert_eq!(r.intervals[95].unwrap().kwh.to_string(), "7.82");
    // Summed outside this crate (Python's decimal module) from the fixture's values.
    assert!(r.kwh_sum().equals_text("18963.50"), "sum {}", r.kwh_sum());
}
