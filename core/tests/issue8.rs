//! Issue 8: what real SMT and ERCOT files do that the parsers lost or mis-read. Each test is named
//! for the case that failed before the fix (or, for shapes that already loaded, pins them).

use chrono::{DateTime, NaiveDate, Utc};

use smt_core::lse::{LseOptions, LseReader};
use smt_core::smt_csv::interval::{CsvOptions, IntervalCsvReader, HEADER};
use smt_core::{testdata, time, Decimal, ErrorKind, EsiidMode, IntervalRecord, RecordError};

const ESIID: &str = "10443720000000001";
const ESIID_22: &str = "1008901000000000000002";

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn split(
    items: impl Iterator<Item = Result<IntervalRecord, RecordError>>,
) -> (Vec<IntervalRecord>, Vec<RecordError>) {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for item in items {
        match item {
            Ok(r) => records.push(r),
            Err(e) => errors.push(e),
        }
    }
    (records, errors)
}

fn parse_csv(text: &str) -> (Vec<IntervalRecord>, Vec<RecordError>) {
    parse_csv_bytes(text.as_bytes())
}

fn parse_csv_bytes(bytes: &[u8]) -> (Vec<IntervalRecord>, Vec<RecordError>) {
    let options = CsvOptions {
        esiid_mode: EsiidMode::Strict,
    };
    split(IntervalCsvReader::new(bytes, options))
}

fn parse_lse(text: &str) -> (Vec<IntervalRecord>, Vec<RecordError>) {
    parse_lse_bytes(text.as_bytes())
}

fn parse_lse_bytes(bytes: &[u8]) -> (Vec<IntervalRecord>, Vec<RecordError>) {
    let options = LseOptions {
        esiid_mode: EsiidMode::Strict,
    };
    split(LseReader::new(bytes, options))
}

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60 % 24, minutes % 60)
}

fn kwh(i: usize) -> Decimal {
    Decimal::new(i as i64 + 1, 3)
}

/// One CSV row of `ESIID` on `day` (MM/DD/YYYY), revised `revision`.
fn row(esiid: &str, day: &str, start: &str, end: &str, value: &str, flag: &str) -> String {
    format!("'{esiid},{day},{day} 07:37:17,{start},{end},{value},{flag},Consumption")
}

/// Rows for `(start, end)` labels, row `i` holding `kwh(i)`, actual.
fn rows(esiid: &str, day: &str, labels: &[(String, String)]) -> Vec<String> {
    labels
        .iter()
        .enumerate()
        .map(|(i, (s, e))| row(esiid, day, s, e, &kwh(i).to_string(), "A"))
        .collect()
}

fn file(rows: &[String]) -> String {
    let mut text = String::from(HEADER);
    for r in rows {
        text.push('\n');
        text.push_str(r);
    }
    text.push('\n');
    text
}

fn quarter_labels(hours: std::ops::Range<u32>) -> Vec<(String, String)> {
    hours
        .flat_map(|h| (0..4).map(move |q| h * 60 + q * 15))
        .map(|m| (hhmm(m), hhmm(m + 15)))
        .collect()
}

/// The fall-back day as real SMT exports write it: 100 rows, the second pass's first row
/// labelled `02:00,01:15` (start wrong, end right).
fn smt_fall_back_labels() -> Vec<(String, String)> {
    let mut labels = quarter_labels(0..2);
    labels.push(("02:00".into(), "01:15".into()));
    labels.push(("01:15".into(), "01:30".into()));
    labels.push(("01:30".into(), "01:45".into()));
    labels.push(("01:45".into(), "02:00".into()));
    labels.extend(quarter_labels(2..24));
    assert_eq!(labels.len(), 100);
    labels
}

#[track_caller]
fn assert_in_file_order(r: &IntervalRecord, n: usize) {
    assert_eq!(r.intervals.len(), n);
    for (i, got) in r.intervals.iter().enumerate() {
        assert_eq!(got.map(|g| g.kwh), Some(kwh(i)), "interval {i}");
    }
}

// ---------------------------------------------------------------------------------------------
// 1. DST days as SMT writes them
// ---------------------------------------------------------------------------------------------

#[test]
fn csv_fall_back_day_with_smt_mislabeled_second_pass_loads() {
    let text = file(&rows(ESIID, "11/02/2025", &smt_fall_back_labels()));
    let (records, errors) = parse_csv(&text);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_in_file_order(r, 100);
    // Row 9 of the day (index 8, the mislabeled one) is CST 01:00-01:15 = 07:00Z.
    assert_eq!(r.interval_bounds(8).0, utc("2025-11-02T07:00:00Z"));
    assert_eq!(r.interval_bounds(7).0, utc("2025-11-02T06:45:00Z"));
    assert_eq!(r.end(), utc("2025-11-03T06:00:00Z"));
}

#[test]
fn csv_fall_back_day_clean_100_rows_still_loads() {
    let mut labels = quarter_labels(0..2);
    labels.extend(quarter_labels(1..24));
    let text = file(&rows(ESIID, "11/02/2025", &labels));
    let (records, errors) = parse_csv(&text);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_in_file_order(&records[0], 100);
}

#[test]
fn csv_fall_back_day_with_labels_fitting_no_pattern_is_rejected() {
    // The second pass's first row ending 01:30: neither the clean labels nor SMT's mislabel.
    let mut labels = smt_fall_back_labels();
    labels[8].1 = "01:30".into();
    let text = file(&rows(ESIID, "11/02/2025", &labels));
    let (records, errors) = parse_csv(&text);
    assert!(records.is_empty());
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = &errors[0];
    assert_eq!((e.kind, e.line), (ErrorKind::BadTimestamp, 10));
    assert!(e.reason.contains("01:30"), "{}", e.reason);
}

#[test]
fn csv_mislabel_tolerated_only_where_smt_writes_it() {
    // `02:00,01:15` on an ordinary day is nonsense.
    let mut labels = quarter_labels(0..24);
    labels[8] = ("02:00".into(), "01:15".into());
    let text = file(&rows(ESIID, "07/01/2025", &labels));
    let (records, errors) = parse_csv(&text);
    assert!(records.is_empty(), "{records:#?}");
    assert_eq!(errors.len(), 1, "{errors:#?}");
}

/// Spring-forward day, 96 rows: 02:00-02:45 present with empty kWh and flag.
#[test]
fn csv_spring_forward_day_with_four_placeholder_rows_has_92_intervals() {
    let mut all = Vec::new();
    let mut i = 0;
    for (s, e) in quarter_labels(0..24) {
        if s.starts_with("02:") {
            all.push(row(ESIID, "03/09/2025", &s, &e, "", ""));
        } else {
            all.push(row(ESIID, "03/09/2025", &s, &e, &kwh(i).to_string(), "A"));
            i += 1;
        }
    }
    assert_eq!(all.len(), 96);
    let (records, errors) = parse_csv(&file(&all));
    assert!(errors.is_empty(), "{errors:#?}");
    assert_in_file_order(&records[0], 92);
    assert_eq!(records[0].end(), utc("2025-03-10T05:00:00Z"));
}

#[test]
fn csv_spring_forward_day_without_the_four_rows_has_92_intervals() {
    let labels: Vec<_> = quarter_labels(0..24)
        .into_iter()
        .filter(|(s, _)| !s.starts_with("02:"))
        .collect();
    let (records, errors) = parse_csv(&file(&rows(ESIID, "03/09/2025", &labels)));
    assert!(errors.is_empty(), "{errors:#?}");
    assert_in_file_order(&records[0], 92);
}

#[test]
fn csv_empty_row_off_the_grid_is_not_a_placeholder() {
    // An empty row is a placeholder only in the spring-forward gap.
    let mut all = rows(ESIID, "07/01/2025", &quarter_labels(0..24));
    all.insert(41, row(ESIID, "07/01/2025", "10:07", "10:22", "", ""));
    let (records, errors) = parse_csv(&file(&all));
    assert!(records.is_empty());
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].kind, ErrorKind::NoSuchInterval);
    assert_eq!(errors[0].line, 43);
}

// ---------------------------------------------------------------------------------------------
// 2. Spreadsheet re-saved files and number shapes
// ---------------------------------------------------------------------------------------------

#[test]
fn csv_spreadsheet_resaved_dates_times_and_numbers_load() {
    // M/D/YYYY, revision M/D/YYYY H:MM, times H:MM, trailing zeros dropped.
    let mut text = String::from(HEADER);
    for (i, m) in (0..96u32).map(|q| q * 15).enumerate() {
        let (s, e) = (m, (m + 15) % 1440);
        let value = if i == 0 {
            "0.23".to_owned()
        } else {
            kwh(i).to_string()
        };
        text += &format!(
            "\n{ESIID},7/1/2025,7/2/2025 7:37,{}:{:02},{}:{:02},{value},A,Consumption",
            s / 60,
            s % 60,
            e / 60,
            e % 60
        );
    }
    text.push('\n');
    assert!(text.contains(",7/1/2025,7/2/2025 7:37,0:00,0:15,0.23,A,"));
    assert!(text.contains(",9:45,10:00,"));
    let (records, errors) = parse_csv(&text);
    assert!(errors.is_empty(), "{errors:#?}");
    let r = &records[0];
    assert_eq!(r.day, date(2025, 7, 1));
    assert_eq!(r.revision, utc("2025-07-02T12:37:00Z"));
    assert_eq!(
        r.intervals[0].unwrap().kwh,
        Decimal::parse_str("0.23").unwrap()
    );
    assert_eq!(r.present(), 96);
}

#[test]
fn csv_values_without_a_leading_zero_load() {
    let mut labels = rows(ESIID, "07/01/2025", &quarter_labels(0..24));
    labels[0] = row(ESIID, "07/01/2025", "00:00", "00:15", ".145", "A");
    labels[1] = row(ESIID, "07/01/2025", "00:15", "00:30", ".1", "E");
    let (records, errors) = parse_csv(&file(&labels));
    assert!(errors.is_empty(), "{errors:#?}");
    let r = &records[0];
    assert_eq!(r.intervals[0].unwrap().kwh, Decimal::new(145, 3));
    assert_eq!(r.intervals[1].unwrap().kwh, Decimal::new(1, 1));
}

#[test]
fn csv_22_digit_esiid_loads() {
    let (records, errors) = parse_csv(&file(&rows(ESIID_22, "07/01/2025", &quarter_labels(0..24))));
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(records[0].esiid, ESIID_22);
}

#[test]
fn csv_hundreds_of_kwh_per_interval_load() {
    let mut all = rows(ESIID, "07/01/2025", &quarter_labels(0..24));
    all[5] = row(ESIID, "07/01/2025", "01:15", "01:30", "364.125", "A");
    all[6] = row(ESIID, "07/01/2025", "01:30", "01:45", "255", "A");
    let (records, errors) = parse_csv(&file(&all));
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(
        records[0].intervals[5].unwrap().kwh,
        Decimal::new(364125, 3)
    );
    assert_eq!(records[0].intervals[6].unwrap().kwh, Decimal::new(255, 0));
}

// ---------------------------------------------------------------------------------------------
// 3. Byte order marks
// ---------------------------------------------------------------------------------------------

fn lse_records() -> Vec<IntervalRecord> {
    let mut g = testdata::Generator::new(11);
    vec![
        g.record(ESIID, 4, date(2025, 7, 1)),
        g.record(ESIID_22, 4, date(2025, 7, 1)),
    ]
}

#[test]
fn lse_bom_before_the_first_record_keeps_it() {
    let want = lse_records();
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(testdata::lse_bytes(&want, true));
    let (records, errors) = parse_lse_bytes(&bytes);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].esiid, ESIID);
    assert_eq!(records[0].line, 1);
    assert_eq!(records[0].intervals, want[0].intervals);
}

#[test]
fn csv_bom_before_the_header_works() {
    let want = lse_records();
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(testdata::csv_bytes(&want));
    let (records, errors) = parse_csv_bytes(&bytes);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].intervals, want[0].intervals);
    assert_eq!(records[0].line, 2);
}

// ---------------------------------------------------------------------------------------------
// 4. An ESIID-day in two blocks
// ---------------------------------------------------------------------------------------------

#[test]
fn csv_esiid_day_in_two_blocks_is_merged() {
    let a = rows(ESIID, "07/01/2025", &quarter_labels(0..24));
    let b = rows(ESIID_22, "07/01/2025", &quarter_labels(0..24));
    // A's first half, all of B, A's second half.
    let mut all: Vec<String> = a[..48].to_vec();
    all.extend(b.iter().cloned());
    all.extend(a[48..].iter().cloned());
    let (records, errors) = parse_csv(&file(&all));
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(records.len(), 2, "{records:#?}");
    let ra = records.iter().find(|r| r.esiid == ESIID).unwrap();
    let rb = records.iter().find(|r| r.esiid == ESIID_22).unwrap();
    assert_in_file_order(ra, 96);
    assert_in_file_order(rb, 96);
    assert_eq!(ra.line, 2);
}

#[test]
fn csv_fall_back_day_split_inside_the_repeated_hour_is_merged() {
    let a = rows(ESIID, "11/02/2025", &smt_fall_back_labels());
    let b = rows(ESIID_22, "11/03/2025", &quarter_labels(0..24));
    // Split right after the mislabeled row: the block boundary must not lose the pass.
    let mut all: Vec<String> = a[..9].to_vec();
    all.extend(b.iter().cloned());
    all.extend(a[9..].iter().cloned());
    let (records, errors) = parse_csv(&file(&all));
    assert!(errors.is_empty(), "{errors:#?}");
    let ra = records.iter().find(|r| r.esiid == ESIID).unwrap();
    assert_in_file_order(ra, 100);
}

#[test]
fn csv_second_block_before_the_first_is_merged_by_its_labels() {
    let a = rows(ESIID, "07/01/2025", &quarter_labels(0..24));
    let b = rows(ESIID_22, "07/01/2025", &quarter_labels(0..24));
    let mut all: Vec<String> = a[48..].to_vec();
    all.extend(b.iter().cloned());
    all.extend(a[..48].iter().cloned());
    let (records, errors) = parse_csv(&file(&all));
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(records.len(), 2);
    let ra = records.iter().find(|r| r.esiid == ESIID).unwrap();
    assert_in_file_order(ra, 96);
}

#[test]
fn csv_two_blocks_overlapping_are_rejected() {
    let a = rows(ESIID, "07/01/2025", &quarter_labels(0..24));
    let b = rows(ESIID_22, "07/01/2025", &quarter_labels(0..24));
    let mut all: Vec<String> = a[..50].to_vec();
    all.extend(b.iter().cloned());
    all.extend(a[48..].iter().cloned()); // 12:00 and 12:15 twice
    let (records, errors) = parse_csv(&file(&all));
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].esiid, ESIID_22);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].kind, ErrorKind::DuplicateInterval);
    assert_eq!(errors[0].line, 2 + 50 + 96);
    assert_eq!(errors[0].record_line, 2);
}

// ---------------------------------------------------------------------------------------------
// 5. LSE: garbage after a complete record
// ---------------------------------------------------------------------------------------------

#[test]
fn lse_complete_record_followed_by_a_garbage_line_loads() {
    let want = lse_records();
    let mut text = String::from_utf8(testdata::lse_bytes(&want[..1], false)).unwrap();
    let garbage_line = text.lines().count() as u64 + 1;
    text.push_str("this is not an LSE row\n");
    let (records, errors) = parse_lse(&text);
    assert_eq!(records.len(), 1, "{errors:#?}");
    assert_eq!(records[0].intervals, want[0].intervals);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].kind, ErrorKind::UnknownRowType);
    assert_eq!(errors[0].line, garbage_line);
    assert_eq!(errors[0].record_line, garbage_line);
    assert_eq!(errors[0].raw, "this is not an LSE row");

    // Between two records, too; and without a line ending at the end of the file.
    let mut text = String::from_utf8(testdata::lse_bytes(&want[..1], false)).unwrap();
    text.push_str("#garbage\n");
    text.push_str(std::str::from_utf8(&testdata::lse_bytes(&want[1..], false)).unwrap());
    text.push_str("x,y");
    let (records, errors) = parse_lse(&text);
    assert_eq!(records.len(), 2, "{errors:#?}");
    assert_eq!(errors.len(), 2, "{errors:#?}");
}

#[test]
fn lse_garbage_inside_an_incomplete_record_still_rejects_it() {
    let want = lse_records();
    let text = String::from_utf8(testdata::lse_bytes(&want[..1], false)).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("10000003,"))
        .unwrap();
    lines.insert(at, "garbage");
    let (records, errors) = parse_lse(&(lines.join("\n") + "\n"));
    assert!(records.is_empty());
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].kind, ErrorKind::UnknownRowType);
}

// ---------------------------------------------------------------------------------------------
// 6. CSV rows with fewer fields than the header
// ---------------------------------------------------------------------------------------------

#[test]
fn csv_row_with_missing_fields_is_a_missing_field_reject() {
    // A file without the direction column; the 10:00 row without its kWh and flag.
    let mut all = rows(ESIID, "07/01/2025", &quarter_labels(0..24));
    for r in all.iter_mut() {
        *r = r.trim_end_matches(",Consumption").to_owned();
    }
    let short: Vec<&str> = all[40].split(',').take(5).collect();
    all[40] = short.join(",");
    let text = file(&all).replacen(",CONSUMPTION_SURPLUSGENERATION", "", 1);
    let (records, errors) = parse_csv(&text);
    assert!(records.is_empty(), "{records:#?}");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = &errors[0];
    assert_eq!(e.kind, ErrorKind::MissingField);
    assert_eq!((e.line, e.record_line), (42, 2));
    assert_eq!(e.field, "USAGE_KWH");
    assert!(e.reason.contains("USAGE_KWH"), "{}", e.reason);
    assert_eq!(e.esiid.as_deref(), Some(ESIID));
    assert_eq!(e.day, Some(date(2025, 7, 1)));
}

/// Without its direction the row's channel is unknown: it belongs to no day and is rejected
/// alone (the day loads without that interval, and the reject says why).
#[test]
fn csv_row_missing_only_the_direction_is_a_missing_field_reject() {
    let mut all = rows(ESIID, "07/01/2025", &quarter_labels(0..24));
    all[3] = all[3].trim_end_matches(",Consumption").to_owned();
    let (records, errors) = parse_csv(&file(&all));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = &errors[0];
    assert_eq!(
        (e.kind, e.field.as_str(), e.line),
        (ErrorKind::MissingField, "CONSUMPTION_SURPLUSGENERATION", 5)
    );
    assert_eq!(e.esiid.as_deref(), Some(ESIID));
    assert_eq!(e.day, Some(date(2025, 7, 1)));
    assert_eq!(e.channel, None);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].intervals[3], None);
    assert_eq!(records[0].present(), 95);
}

#[test]
fn csv_header_with_a_trailing_comma_does_not_make_rows_short() {
    let text = file(&rows(ESIID, "07/01/2025", &quarter_labels(0..24))).replacen(
        "CONSUMPTION_SURPLUSGENERATION",
        "CONSUMPTION_SURPLUSGENERATION,",
        1,
    );
    let (records, errors) = parse_csv(&text);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(records.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// 8. NUL bytes and invalid UTF-8
// ---------------------------------------------------------------------------------------------

#[test]
fn lse_nul_byte_in_an_attribute_row_is_a_reject_without_nul() {
    let want = lse_records();
    let text = String::from_utf8(testdata::lse_bytes(&want, false)).unwrap();
    let bad = text.replacen("REP=", "REP=\0", 1);
    assert_ne!(bad, text);
    let (records, errors) = parse_lse(&bad);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = &errors[0];
    assert_eq!(e.kind, ErrorKind::InvalidText);
    assert!(e.raw.starts_with("00000030,"), "{e:?}");
    assert!(!e.raw.contains('\0'));
    assert!(e.raw.contains("REP=\u{FFFD}"), "{:?}", e.raw);
    for r in &records {
        for (k, v) in &r.attributes {
            assert!(!k.contains('\0') && !v.contains('\0'));
        }
    }
}

#[test]
fn lse_invalid_utf8_in_a_data_row_is_a_reject_of_that_line() {
    let want = lse_records();
    let text = testdata::lse_bytes(&want, false);
    let at = text.windows(9).position(|w| w == b"10000002,").unwrap();
    let mut bad = text.clone();
    bad.insert(at + 9, 0xFF);
    let (records, errors) = parse_lse_bytes(&bad);
    assert_eq!(records.len(), 1);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].kind, ErrorKind::InvalidText);
    assert!(errors[0].raw.starts_with("10000002,\u{FFFD}"), "{errors:?}");
}

#[test]
fn csv_nul_byte_in_a_row_is_a_reject_without_nul() {
    let mut all = rows(ESIID, "07/01/2025", &quarter_labels(0..24));
    all[10] = all[10].replace("Consumption", "Consumption\0");
    let (records, errors) = parse_csv(&file(&all));
    assert!(records.is_empty(), "{records:#?}");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].kind, ErrorKind::InvalidText);
    assert_eq!(errors[0].line, 12);
    assert!(!errors[0].raw.contains('\0'));
}

#[test]
fn csv_invalid_utf8_in_a_row_is_a_reject() {
    let mut bytes = file(&rows(ESIID, "07/01/2025", &quarter_labels(0..24))).into_bytes();
    let at = bytes.windows(5).position(|w| w == b"0.011").unwrap();
    bytes[at] = 0xC3;
    let (records, errors) = parse_csv_bytes(&bytes);
    assert!(records.is_empty());
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].kind, ErrorKind::InvalidText);
}

/// Damaged bytes anywhere never panic and never leave a NUL in any text handed back.
#[test]
fn corrupt_bytes_anywhere_never_panic_or_leak_nul() {
    let want = lse_records();
    let lse = testdata::lse_bytes(&want, true);
    let csv = testdata::csv_bytes(&want);
    for (name, clean) in [("lse", &lse), ("csv", &csv)] {
        for at in (0..clean.len()).step_by(37) {
            for byte in [0u8, 0xFF, 0xC3, b'\n'] {
                let mut bad = clean.clone();
                bad[at] = byte;
                let (records, errors) = if name == "lse" {
                    parse_lse_bytes(&bad)
                } else {
                    parse_csv_bytes(&bad)
                };
                for e in &errors {
                    for s in [&e.raw, &e.reason, &e.field] {
                        assert!(!s.contains('\0'), "{name} byte {byte} at {at}: {e:?}");
                    }
                }
                for r in &records {
                    assert!(!r.esiid.contains('\0'));
                    for (k, v) in &r.attributes {
                        assert!(!k.contains('\0') && !v.contains('\0'));
                    }
                    assert!(!r.transaction_id.as_deref().unwrap_or("").contains('\0'));
                }
                if byte == 0 || byte == 0xFF {
                    assert!(!errors.is_empty(), "{name} byte {byte} at {at} accepted");
                }
            }
        }
    }
}

#[test]
fn revision_days_later_and_slot_count_checks_stay() {
    // Not part of the issue: the day lengths the placement relies on.
    assert_eq!(time::slots_in_day(date(2025, 11, 2), 900), 100);
    assert_eq!(time::slots_in_day(date(2025, 3, 9), 900), 92);
}

// ---------------------------------------------------------------------------------------------
// 7. Rejects carry the ESIID, channel and day when known
// ---------------------------------------------------------------------------------------------

#[test]
fn lse_bad_interval_value_reject_carries_esiid_channel_and_day() {
    let want = lse_records();
    let text = String::from_utf8(testdata::lse_bytes(&want, false)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let at = lines
        .iter()
        .rposition(|l| l.starts_with("10000005,"))
        .unwrap();
    let mut fields: Vec<&str> = lines[at].split(',').collect();
    fields[1] = "1.2x";
    lines[at] = fields.join(",");
    let (records, errors) = parse_lse(&(lines.join("\n") + "\n"));
    assert_eq!(records.len(), 1);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = &errors[0];
    assert_eq!(e.kind, ErrorKind::NonNumericValue);
    assert_eq!(e.esiid.as_deref(), Some(ESIID_22));
    assert_eq!(e.channel, Some(4));
    assert_eq!(e.day, Some(date(2025, 7, 1)));
}

#[test]
fn lse_header_reject_carries_what_the_header_gives() {
    let want = lse_records();
    let text = String::from_utf8(testdata::lse_bytes(&want[..1], false)).unwrap();
    // Channel 0 is no channel: the ESIID and day are still known.
    let bad = text.replacen(
        &format!("00000001,{ESIID},4,"),
        &format!("00000001,{ESIID},0,"),
        1,
    );
    assert_ne!(bad, text);
    let (_, errors) = parse_lse(&bad);
    let e = &errors[0];
    assert_eq!(e.kind, ErrorKind::BadChannel);
    assert_eq!(e.esiid.as_deref(), Some(ESIID));
    assert_eq!(e.channel, None);
    assert_eq!(e.day, Some(date(2025, 7, 1)));
    // Rows outside any record know nothing.
    let (_, errors) = parse_lse("10000000,1,A,,\n");
    assert_eq!(
        (&errors[0].esiid, errors[0].channel, errors[0].day),
        (&None, None, None)
    );
}

#[test]
fn lse_missing_revision_reject_carries_esiid_channel_and_day() {
    let want = lse_records();
    let text = String::from_utf8(testdata::lse_bytes(&want[..1], false)).unwrap();
    let bad: String = text
        .lines()
        .filter(|l| !l.starts_with("00000004"))
        .map(|l| format!("{l}\n"))
        .collect();
    let (_, errors) = parse_lse(&bad);
    let e = &errors[0];
    assert_eq!(e.kind, ErrorKind::MissingRevision);
    assert_eq!(
        (e.esiid.as_deref(), e.channel, e.day),
        (Some(ESIID), Some(4), Some(date(2025, 7, 1)))
    );
}

#[test]
fn csv_bad_value_reject_carries_esiid_channel_and_day() {
    let mut all = rows(ESIID, "07/01/2025", &quarter_labels(0..24));
    all[7] = all[7].replace(",Consumption", ",Surplus Generation");
    for r in all.iter_mut() {
        *r = r.replace(",Consumption", ",Surplus Generation");
    }
    all[40] = row(ESIID, "07/01/2025", "10:00", "10:15", "x", "A")
        .replace(",Consumption", ",Surplus Generation");
    let (records, errors) = parse_csv(&file(&all));
    assert!(records.is_empty());
    let e = &errors[0];
    assert_eq!(e.kind, ErrorKind::NonNumericValue);
    assert_eq!(
        (e.esiid.as_deref(), e.channel, e.day),
        (Some(ESIID), Some(1), Some(date(2025, 7, 1)))
    );
}

#[test]
fn csv_row_rejected_alone_carries_the_fields_it_could_read() {
    let mut all = rows(ESIID, "07/01/2025", &quarter_labels(0..24));
    all[40] = all[40].replace("07/01/2025 07:37:17", "07/01/2025 25:37:17");
    let (_, errors) = parse_csv(&file(&all));
    let e = &errors[0];
    assert_eq!(
        (e.kind, e.field.as_str()),
        (ErrorKind::BadTimestamp, "REVISION_DATE")
    );
    assert_eq!(
        (e.esiid.as_deref(), e.channel, e.day),
        (Some(ESIID), Some(4), Some(date(2025, 7, 1)))
    );
}

#[test]
fn daily_read_row_with_a_nul_byte_is_an_invalid_text_reject() {
    use smt_core::smt_csv::daily::DailyReadReader;
    let text = "\u{feff}ESIID,READ_DATE,USAGE_KWH\n\
                '10443720000000001,07/01/2025,1.5\n\
                '10443720000000001,07/02/2025,1.5\0\n\
                '10443720000000001,07/03/2025,2\n";
    let (reads, errors): (Vec<_>, Vec<_>) =
        DailyReadReader::new(text.as_bytes(), EsiidMode::Strict).partition(Result::is_ok);
    assert_eq!(reads.len(), 2);
    let e = errors[0].as_ref().unwrap_err();
    assert_eq!((e.kind, e.line), (ErrorKind::InvalidText, 3));
    assert!(
        !e.raw.contains('\0') && e.raw.ends_with("1.5\u{FFFD}"),
        "{:?}",
        e.raw
    );
}
