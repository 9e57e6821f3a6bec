//! How the parsers report bad records, and the format details they must tolerate.
//!
//! Every error test starts from a small generated file of three good records (A, B, C), damages
//! B (or cuts the file inside C), and checks the error's kind, line and field, and that the good
//! records around it still come out whole. Line numbers are found in the file text itself, not
//! taken from the parser.

use chrono::{DateTime, Days, NaiveDate, Utc};

use smt_core::lse::{LseOptions, LseReader};
use smt_core::smt_csv::daily::DailyReadReader;
use smt_core::smt_csv::interval::{CsvOptions, IntervalCsvReader};
use smt_core::smt_csv::monthly::MonthlyUsageReader;
use smt_core::{
    format, testdata, time, Decimal, ErrorKind, EsiidMode, Format, IntervalRecord, Reading,
    RecordError, Status,
};

const ESIID_A: &str = "10443720000000001"; // Oncor, 17 digits
const ESIID_B: &str = "1008901000000000000002"; // CenterPoint, 22 digits
const ESIID_C: &str = "10400511000000003"; // TNMP, 17 digits

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn spring() -> NaiveDate {
    date(2025, 3, 9)
}

fn fall() -> NaiveDate {
    date(2025, 11, 2)
}

/// A full day of 15-minute values (some estimated), revised the next day at 07:37:17 Central.
fn record(esiid: &str, channel: u8, day: NaiveDate, seed: i64) -> IntervalRecord {
    let intervals = (0..time::slots_in_day(day, 900) as i64)
        .map(|i| {
            Some(Reading {
                kwh: Decimal::new((i * 37 + seed * 101) % 4000 + 1, 3),
                status: if (i + seed) % 9 == 0 {
                    Status::Estimated
                } else {
                    Status::Actual
                },
            })
        })
        .collect();
    let revision_local = (day + Days::new(1)).and_hms_opt(7, 37, 17).unwrap();
    IntervalRecord {
        esiid: esiid.to_owned(),
        channel,
        day,
        start: time::day_start(day),
        interval_seconds: 900,
        revision: time::revision_to_utc(revision_local),
        transaction_id: Some(format!("TX{seed:04}")),
        attributes: vec![
            ("MRE".into(), "957877905".into()),
            ("REP".into(), "111111111".into()),
        ],
        intervals,
        line: 0,
    }
}

/// A: load on July 1, B: load on July 2 (the one that gets damaged), C: generation on July 1.
fn trio() -> [IntervalRecord; 3] {
    [
        record(ESIID_A, 4, date(2025, 7, 1), 1),
        record(ESIID_B, 4, date(2025, 7, 2), 2),
        record(ESIID_C, 1, date(2025, 7, 1), 3),
    ]
}

// ---------------------------------------------------------------------------------------------
// Text editing, by 1-based line number
// ---------------------------------------------------------------------------------------------

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

fn join(lines: &[String]) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

fn line(text: &str, n: u64) -> String {
    lines(text)[n as usize - 1].clone()
}

fn replace_line(text: &str, n: u64, new: &str) -> String {
    let mut l = lines(text);
    l[n as usize - 1] = new.to_owned();
    join(&l)
}

fn insert_line(text: &str, before: u64, new: &str) -> String {
    let mut l = lines(text);
    l.insert(before as usize - 1, new.to_owned());
    join(&l)
}

fn remove_line(text: &str, n: u64) -> String {
    let mut l = lines(text);
    l.remove(n as usize - 1);
    join(&l)
}

/// The first `n` lines, each with its line ending.
fn first_lines(text: &str, n: u64) -> String {
    join(&lines(text)[..n as usize])
}

/// A comma-separated line with field `index` (0-based) replaced.
fn set_field(line: &str, index: usize, value: &str) -> String {
    let mut fields: Vec<&str> = line.split(',').collect();
    fields[index] = value;
    fields.join(",")
}

/// 1-based number of the first line at or after `from` that starts with `prefix`.
fn line_starting(text: &str, from: u64, prefix: &str) -> u64 {
    lines(text)
        .iter()
        .enumerate()
        .skip(from as usize - 1)
        .find(|(_, l)| l.starts_with(prefix))
        .map(|(i, _)| i as u64 + 1)
        .unwrap_or_else(|| panic!("no line starting {prefix:?} from line {from}"))
}

// ---------------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------------

fn split_items(
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

fn parse_lse(text: &str) -> (Vec<IntervalRecord>, Vec<RecordError>) {
    let options = LseOptions {
        esiid_mode: EsiidMode::Strict,
    };
    split_items(LseReader::new(text.as_bytes(), options))
}

fn parse_csv(text: &str) -> (Vec<IntervalRecord>, Vec<RecordError>) {
    let options = CsvOptions {
        esiid_mode: EsiidMode::Strict,
    };
    split_items(IntervalCsvReader::new(text.as_bytes(), options))
}

/// A record as a parser should give it back from an LSE file, starting at `line`.
fn lse_at(r: &IntervalRecord, line: u64) -> IntervalRecord {
    IntervalRecord { line, ..r.clone() }
}

/// A record as a parser should give it back from an SMT CSV (no transaction id, no attributes),
/// its first row at `line`.
fn csv_at(r: &IntervalRecord, line: u64) -> IntervalRecord {
    IntervalRecord {
        transaction_id: None,
        attributes: Vec::new(),
        line,
        ..r.clone()
    }
}

#[track_caller]
fn assert_records(got: &[IntervalRecord], want: &[IntervalRecord]) {
    assert_eq!(got.len(), want.len(), "number of good records");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g, w, "record of {} on {}", w.esiid, w.day);
    }
}

/// The one error there should be, checked for kind, line and field.
#[track_caller]
fn the_error(errors: &[RecordError], kind: ErrorKind, line: u64, field: &str) -> RecordError {
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    let e = errors[0].clone();
    assert_eq!(
        (e.kind, e.line, e.field.as_str()),
        (kind, line, field),
        "{e:?}"
    );
    e
}

// ---------------------------------------------------------------------------------------------
// LSE
// ---------------------------------------------------------------------------------------------

/// The trio as an LSE file (LF line endings) and the line of each record's 00000001 row.
fn lse_trio() -> (String, [u64; 3]) {
    let text = String::from_utf8(testdata::lse_bytes(&trio(), false)).unwrap();
    let a = line_starting(&text, 1, "00000001,");
    let b = line_starting(&text, a + 1, "00000001,");
    let c = line_starting(&text, b + 1, "00000001,");
    (text, [a, b, c])
}

/// Checks that a damaged B left A and C whole and gave one error, which is returned.
#[track_caller]
fn lse_b_rejected(text: &str, c_line: u64, kind: ErrorKind, line: u64, field: &str) -> RecordError {
    let [a, _, c] = trio();
    let (records, errors) = parse_lse(text);
    assert_records(&records, &[lse_at(&a, 1), lse_at(&c, c_line)]);
    the_error(&errors, kind, line, field)
}

/// A data row of B: `row` 0 is 10000000.
fn lse_b_data_row(text: &str, b: u64, row: u32) -> u64 {
    line_starting(text, b, &format!("{},", 10_000_000 + row))
}

#[test]
fn lse_96_values_on_the_spring_forward_day_is_a_wrong_interval_count() {
    let (text, [_, b, c]) = lse_trio();
    // B's 96 values under a header for 2025-03-09, which has 92 intervals.
    let header = format!("00000001,{ESIID_B},4,20250309000000,20250309235900,Y,N");
    let text = replace_line(&text, b, &header);
    let e = lse_b_rejected(&text, c, ErrorKind::WrongIntervalCount, b, "intervals");
    assert_eq!(e.record_line, b);
    assert!(
        e.reason.contains("96") && e.reason.contains("92"),
        "{}",
        e.reason
    );
}

#[test]
fn lse_too_few_values_inside_the_file_is_a_wrong_interval_count() {
    let (text, [_, b, c]) = lse_trio();
    let last_row = lse_b_data_row(&text, b, 23);
    let text = remove_line(&text, last_row);
    lse_b_rejected(&text, c - 1, ErrorKind::WrongIntervalCount, b, "intervals");
}

#[test]
fn lse_non_numeric_value() {
    let (text, [_, b, c]) = lse_trio();
    let row = lse_b_data_row(&text, b, 2);
    // Field 4 is the second triplet's value: interval 2×4 + 2 = 10 of the day.
    let bad = set_field(&line(&text, row), 4, "1.2x");
    let text = replace_line(&text, row, &bad);
    let e = lse_b_rejected(
        &text,
        c,
        ErrorKind::NonNumericValue,
        row,
        "interval 10 value",
    );
    assert_eq!(e.record_line, b);
    assert_eq!(e.raw, bad);
}

#[test]
fn lse_unknown_status() {
    let (text, [_, b, c]) = lse_trio();
    let row = lse_b_data_row(&text, b, 2);
    // Field 8 is the third triplet's status: interval 11.
    let bad = set_field(&line(&text, row), 8, "X");
    let text = replace_line(&text, row, &bad);
    let e = lse_b_rejected(
        &text,
        c,
        ErrorKind::UnknownStatus,
        row,
        "interval 11 status",
    );
    assert_eq!(e.raw, bad);
}

#[test]
fn lse_invalid_esiid() {
    let (text, [_, b, c]) = lse_trio();
    let bad = set_field(&line(&text, b), 1, "1044372000000000A");
    let text = replace_line(&text, b, &bad);
    let e = lse_b_rejected(&text, c, ErrorKind::InvalidEsiid, b, "00000001.esiid");
    assert_eq!(e.raw, bad);
}

#[test]
fn lse_esiid_of_the_wrong_length() {
    let (text, [_, b, c]) = lse_trio();
    let text = replace_line(&text, b, &set_field(&line(&text, b), 1, "1044372000000000"));
    lse_b_rejected(&text, c, ErrorKind::InvalidEsiid, b, "00000001.esiid");
}

#[test]
fn lse_bad_start_timestamp() {
    let (text, [_, b, c]) = lse_trio();
    let text = replace_line(&text, b, &set_field(&line(&text, b), 3, "20250231000000"));
    lse_b_rejected(&text, c, ErrorKind::BadTimestamp, b, "00000001.start");
}

#[test]
fn lse_start_in_the_skipped_spring_hour() {
    let (text, [_, b, c]) = lse_trio();
    // 02:30 on 2025-03-09 does not exist in Central prevailing time.
    let text = replace_line(&text, b, &set_field(&line(&text, b), 3, "20250309023000"));
    lse_b_rejected(&text, c, ErrorKind::BadTimestamp, b, "00000001.start");
}

#[test]
fn lse_bad_revision_timestamp() {
    let (text, [_, b, c]) = lse_trio();
    let row = line_starting(&text, b, "00000004,");
    let bad = set_field(&line(&text, row), 1, "2025070307371");
    let text = replace_line(&text, row, &bad);
    let e = lse_b_rejected(&text, c, ErrorKind::BadTimestamp, row, "00000004.revision");
    assert_eq!(e.record_line, b);
}

#[test]
fn lse_stop_before_start() {
    let (text, [_, b, c]) = lse_trio();
    // B starts 2025-07-02 00:00; a stop on July 1 is before it.
    let text = replace_line(&text, b, &set_field(&line(&text, b), 4, "20250701235900"));
    lse_b_rejected(&text, c, ErrorKind::StopBeforeStart, b, "00000001.stop");
}

#[test]
fn lse_bad_channel() {
    for channel in ["X", "0", "-4"] {
        let (text, [_, b, c]) = lse_trio();
        let text = replace_line(&text, b, &set_field(&line(&text, b), 2, channel));
        lse_b_rejected(&text, c, ErrorKind::BadChannel, b, "00000001.channel");
    }
}

#[test]
fn lse_bad_interval_length() {
    let (text, [_, b, c]) = lse_trio();
    let row = line_starting(&text, b, "00000002,");
    // 7 seconds does not divide an hour into whole intervals of at least a minute.
    let text = replace_line(&text, row, &set_field(&line(&text, row), 7, "7"));
    lse_b_rejected(
        &text,
        c,
        ErrorKind::BadIntervalLength,
        row,
        "00000002.interval_seconds",
    );
}

#[test]
fn lse_unknown_row_type_inside_a_record() {
    let (text, [_, b, c]) = lse_trio();
    let at = line_starting(&text, b, "00000030,");
    let text = insert_line(&text, at, "00000099,SOMETHING");
    let e = lse_b_rejected(&text, c + 1, ErrorKind::UnknownRowType, at, "row type");
    assert_eq!(e.raw, "00000099,SOMETHING");
}

#[test]
fn lse_orphan_rows_before_the_first_record() {
    let (text, [a, b, c]) = lse_trio();
    let text = format!("10000000,1.000,A,,2.000,A,,\n00000004,20250702073717,M\n{text}");
    let (records, errors) = parse_lse(&text);
    let [ra, rb, rc] = trio();
    assert_records(
        &records,
        &[lse_at(&ra, a + 2), lse_at(&rb, b + 2), lse_at(&rc, c + 2)],
    );
    assert_eq!(errors.len(), 2, "{errors:#?}");
    for (e, line) in errors.iter().zip([1, 2]) {
        assert_eq!(
            (e.kind, e.line, e.field.as_str()),
            (ErrorKind::UnknownRowType, line, "row type")
        );
    }
}

#[test]
fn lse_data_rows_out_of_sequence() {
    let (text, [_, b, c]) = lse_trio();
    let row = lse_b_data_row(&text, b, 5);
    // 10000005 renumbered 10000006: a row is missing.
    let text = replace_line(&text, row, &set_field(&line(&text, row), 0, "10000006"));
    lse_b_rejected(&text, c, ErrorKind::OutOfSequence, row, "row number");
}

#[test]
fn lse_second_revision_row_in_a_record() {
    let (text, [_, b, c]) = lse_trio();
    let first = line_starting(&text, b, "00000004,");
    let again = line(&text, first);
    let text = insert_line(&text, first + 1, &again);
    lse_b_rejected(
        &text,
        c + 1,
        ErrorKind::OutOfSequence,
        first + 1,
        "00000004",
    );
}

#[test]
fn lse_missing_revision_row() {
    let (text, [_, b, c]) = lse_trio();
    let text = remove_line(&text, line_starting(&text, b, "00000004,"));
    lse_b_rejected(&text, c - 1, ErrorKind::MissingRevision, b, "00000004");
}

#[test]
fn lse_value_without_status_on_a_complete_line() {
    let (text, [_, b, c]) = lse_trio();
    let row = lse_b_data_row(&text, b, 0);
    // A fifth value after the four triplets, with its line ending: not a cut, a missing field.
    let bad = format!("{}1.5", line(&text, row));
    let text = replace_line(&text, row, &bad);
    lse_b_rejected(&text, c, ErrorKind::MissingField, row, "interval 5 status");
}

#[test]
fn lse_file_cut_in_the_middle_of_a_line() {
    let (text, [a, b, c]) = lse_trio();
    let [ra, rb, _] = trio();
    let last = lines(&text).len() as u64;
    // C's last data row cut inside its second value, without a line ending.
    let full = line(&text, last);
    let fields: Vec<&str> = full.split(',').collect();
    let value = fields[4];
    let cut = format!(
        "{},{},{},,{}",
        fields[0],
        fields[1],
        fields[2],
        &value[..value.len() - 2]
    );
    let text = format!("{}{cut}", first_lines(&text, last - 1));
    let (records, errors) = parse_lse(&text);
    assert_records(&records, &[lse_at(&ra, a), lse_at(&rb, b)]);
    // Row 10000023 holds intervals 93-96; the cut one is the 94th.
    let e = the_error(&errors, ErrorKind::TruncatedRecord, last, "interval 94");
    assert_eq!(e.record_line, c);
}

#[test]
fn lse_file_cut_after_some_data_rows() {
    let (text, [a, b, c]) = lse_trio();
    let [ra, rb, _] = trio();
    let text = first_lines(&text, lse_b_data_row(&text, c, 10));
    let (records, errors) = parse_lse(&text);
    assert_records(&records, &[lse_at(&ra, a), lse_at(&rb, b)]);
    let e = the_error(&errors, ErrorKind::TruncatedRecord, c, "intervals");
    assert!(e.reason.contains("44 of the 96"), "{}", e.reason);
}

#[test]
fn lse_blank_value_is_a_missing_interval_not_zero() {
    let (text, [a, b, c]) = lse_trio();
    let row = lse_b_data_row(&text, b, 0);
    // `10000000,,,,v,s,,...`: the first interval has neither value nor status.
    let blanked = set_field(&set_field(&line(&text, row), 1, ""), 2, "");
    assert!(blanked.starts_with("10000000,,,,"));
    let text = replace_line(&text, row, &blanked);
    let (records, errors) = parse_lse(&text);
    assert!(errors.is_empty(), "{errors:#?}");
    let [ra, mut rb, rc] = trio();
    rb.intervals[0] = None;
    assert_records(&records, &[lse_at(&ra, a), lse_at(&rb, b), lse_at(&rc, c)]);
    assert_eq!(records[1].present(), 95);
}

#[test]
fn lse_lf_and_crlf_parse_the_same() {
    let lf = testdata::lse_bytes(&trio(), false);
    let crlf = testdata::lse_bytes(&trio(), true);
    assert!(!lf.contains(&b'\r'));
    assert_eq!(
        crlf.windows(2).filter(|w| w == b"\r\n").count(),
        lines(std::str::from_utf8(&lf).unwrap()).len()
    );
    let (from_lf, e1) = parse_lse(std::str::from_utf8(&lf).unwrap());
    let (from_crlf, e2) = parse_lse(std::str::from_utf8(&crlf).unwrap());
    assert!(e1.is_empty() && e2.is_empty());
    assert_eq!(from_lf.len(), 3);
    assert_eq!(from_lf, from_crlf);
}

/// B's data rows rewritten in another comma style: every row must give B back.
#[track_caller]
fn lse_b_with_rows(style: impl Fn(&str) -> String) {
    let (text, [a, b, c]) = lse_trio();
    let mut text = text;
    for row in 0..24 {
        let n = lse_b_data_row(&text, b, row);
        let restyled = style(&line(&text, n));
        text = replace_line(&text, n, &restyled);
    }
    let (records, errors) = parse_lse(&text);
    assert!(errors.is_empty(), "{errors:#?}");
    let [ra, rb, rc] = trio();
    assert_records(&records, &[lse_at(&ra, a), lse_at(&rb, b), lse_at(&rc, c)]);
}

#[test]
fn lse_row_without_trailing_comma_parses() {
    // `10000000,v,A,,v,A,,v,A,,v,A`
    lse_b_with_rows(|row| row.trim_end_matches(',').to_owned());
}

#[test]
fn lse_lone_trailing_empty_field_is_not_an_interval() {
    // The writer ends rows `v,A,,` (a lone empty field after the last triplet, as in the ERCOT
    // example); `v,A,` ends exactly at the last triplet. Both are four intervals, not five.
    let exact = |row: &str| row.strip_suffix(',').unwrap().to_owned();
    assert_eq!(exact("10000000,1,A,,2,A,,"), "10000000,1,A,,2,A,");
    lse_b_with_rows(exact);
    lse_b_with_rows(|row| row.to_owned());
}

// ---------------------------------------------------------------------------------------------
// SMT interval CSV
// ---------------------------------------------------------------------------------------------

const CSV_ESIID: usize = 0;
const CSV_USAGE_DATE: usize = 1;
const CSV_REVISION_DATE: usize = 2;
const CSV_START: usize = 3;
const CSV_END: usize = 4;
const CSV_KWH: usize = 5;
const CSV_STATUS: usize = 6;
const CSV_DIRECTION: usize = 7;

/// The trio as an SMT interval CSV and the line of each record's first row.
fn csv_trio() -> (String, [u64; 3]) {
    let text = String::from_utf8(testdata::csv_bytes(&trio())).unwrap();
    let [a, b, c] = [ESIID_A, ESIID_B, ESIID_C].map(|esiid| csv_line(&text, esiid, "00:00", 1));
    (text, [a, b, c])
}

/// 1-based line of the `nth` (1-based) row of `esiid` starting at wall time `start`.
fn csv_line(text: &str, esiid: &str, start: &str, nth: usize) -> u64 {
    lines(text)
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            let f: Vec<&str> = l.split(',').collect();
            f.len() > CSV_START
                && f[CSV_ESIID].trim_start_matches('\'') == esiid
                && f[CSV_START] == start
        })
        .nth(nth - 1)
        .map(|(i, _)| i as u64 + 1)
        .unwrap_or_else(|| panic!("no row {nth} of {esiid} at {start}"))
}

/// B's 10:00 row (interval 40 of July 2) with one field changed; the file and that row's line.
fn csv_b_1000_with(column: usize, value: &str) -> (String, u64) {
    let (text, _) = csv_trio();
    let row = csv_line(&text, ESIID_B, "10:00", 1);
    let bad = set_field(&line(&text, row), column, value);
    (replace_line(&text, row, &bad), row)
}

/// A damaged row that rejects all of B: A and C whole, one error, returned.
#[track_caller]
fn csv_b_rejected(text: &str, kind: ErrorKind, line: u64, field: &str) -> RecordError {
    let (_, [a, b, c]) = csv_trio();
    let [ra, _, rc] = trio();
    let (records, errors) = parse_csv(text);
    assert_records(&records, &[csv_at(&ra, a), csv_at(&rc, c)]);
    let e = the_error(&errors, kind, line, field);
    assert_eq!(e.record_line, b);
    e
}

/// A row whose ESIID, day, revision or direction cannot be read belongs to no record, so it is
/// rejected alone: B comes out without that interval, A and C whole.
#[track_caller]
fn csv_row_rejected_alone(text: &str, kind: ErrorKind, line: u64, field: &str) -> RecordError {
    let (_, [a, b, c]) = csv_trio();
    let [ra, mut rb, rc] = trio();
    rb.intervals[40] = None;
    let (records, errors) = parse_csv(text);
    assert_records(&records, &[csv_at(&ra, a), csv_at(&rb, b), csv_at(&rc, c)]);
    the_error(&errors, kind, line, field)
}

#[test]
fn csv_non_numeric_value() {
    let (text, row) = csv_b_1000_with(CSV_KWH, "1.2x");
    let e = csv_b_rejected(&text, ErrorKind::NonNumericValue, row, "USAGE_KWH");
    assert_eq!(e.raw, line(&text, row));
}

#[test]
fn csv_unknown_status() {
    let (text, row) = csv_b_1000_with(CSV_STATUS, "X");
    csv_b_rejected(&text, ErrorKind::UnknownStatus, row, "ESTIMATED_ACTUAL");
}

#[test]
fn csv_bad_usage_start_time() {
    let (text, row) = csv_b_1000_with(CSV_START, "10:0O");
    csv_b_rejected(&text, ErrorKind::BadTimestamp, row, "USAGE_START_TIME");
}

#[test]
fn csv_start_time_off_the_15_minute_grid() {
    let (text, row) = csv_b_1000_with(CSV_START, "10:07");
    csv_b_rejected(&text, ErrorKind::NoSuchInterval, row, "USAGE_START_TIME");
}

#[test]
fn csv_end_time_before_start_time() {
    let (text, row) = csv_b_1000_with(CSV_END, "09:45");
    csv_b_rejected(&text, ErrorKind::BadTimestamp, row, "USAGE_END_TIME");
}

#[test]
fn csv_invalid_esiid() {
    let (text, row) = csv_b_1000_with(CSV_ESIID, "'1008901000000000000X02");
    csv_row_rejected_alone(&text, ErrorKind::InvalidEsiid, row, "ESIID");
}

#[test]
fn csv_bad_usage_date() {
    let (text, row) = csv_b_1000_with(CSV_USAGE_DATE, "02/30/2025");
    csv_row_rejected_alone(&text, ErrorKind::BadTimestamp, row, "USAGE_DATE");
}

#[test]
fn csv_bad_revision_date() {
    let (text, row) = csv_b_1000_with(CSV_REVISION_DATE, "07/03/2025 25:00:00");
    csv_row_rejected_alone(&text, ErrorKind::BadTimestamp, row, "REVISION_DATE");
}

#[test]
fn csv_bad_direction_is_a_bad_channel() {
    let (text, row) = csv_b_1000_with(CSV_DIRECTION, "Sideways");
    csv_row_rejected_alone(
        &text,
        ErrorKind::BadChannel,
        row,
        "CONSUMPTION_SURPLUSGENERATION",
    );
}

#[test]
fn csv_duplicate_interval() {
    let (text, _) = csv_trio();
    let row = csv_line(&text, ESIID_B, "10:00", 1);
    let text = insert_line(&text, row + 1, &line(&text, row));
    let (_, [a, b, c]) = csv_trio();
    let [ra, _, rc] = trio();
    let (records, errors) = parse_csv(&text);
    assert_records(&records, &[csv_at(&ra, a), csv_at(&rc, c + 1)]);
    let e = the_error(
        &errors,
        ErrorKind::DuplicateInterval,
        row + 1,
        "USAGE_START_TIME",
    );
    assert_eq!(e.record_line, b);
}

#[test]
fn csv_missing_header_column_stops_the_file() {
    let (text, _) = csv_trio();
    let header = line(&text, 1).replace(",USAGE_KWH", "");
    let text = replace_line(&text, 1, &header);
    let (records, errors) = parse_csv(&text);
    assert!(records.is_empty());
    the_error(&errors, ErrorKind::BadHeader, 1, "USAGE_KWH");
}

#[test]
fn csv_file_cut_in_the_middle_of_a_line() {
    let (text, [a, b, c]) = csv_trio();
    let [ra, rb, _] = trio();
    let row = csv_line(&text, ESIID_C, "12:15", 1);
    // C's 50th row cut inside its kWh value, without a line ending.
    let full = line(&text, row);
    let kwh_end = full.match_indices(',').nth(CSV_KWH).unwrap().0;
    let cut = &full[..kwh_end - 2];
    let text = format!("{}{cut}", first_lines(&text, row - 1));
    let (records, errors) = parse_csv(&text);
    assert_records(&records, &[csv_at(&ra, a), csv_at(&rb, b)]);
    let e = the_error(&errors, ErrorKind::TruncatedRecord, row, "row");
    assert_eq!(e.record_line, c);
}

#[test]
fn csv_file_cut_after_some_data_rows() {
    let (text, [a, b, c]) = csv_trio();
    let [ra, rb, _] = trio();
    let text = first_lines(&text, c + 49);
    let (records, errors) = parse_csv(&text);
    assert_records(&records, &[csv_at(&ra, a), csv_at(&rb, b)]);
    the_error(&errors, ErrorKind::TruncatedRecord, c, "intervals");
}

#[test]
fn csv_last_row_without_line_ending_is_not_a_cut() {
    let (text, [a, b, c]) = csv_trio();
    let text = text.trim_end_matches('\n');
    let (records, errors) = parse_csv(text);
    assert!(errors.is_empty(), "{errors:#?}");
    let [ra, rb, rc] = trio();
    assert_records(&records, &[csv_at(&ra, a), csv_at(&rb, b), csv_at(&rc, c)]);
}

/// `HH:MM` of minutes after midnight, 24:00 written 00:00 as SMT does.
fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60 % 24, minutes % 60)
}

/// An interval CSV of one ESIID-day written by hand: one row per wall-clock start, 15 minutes
/// long, row `i` holding `i/1000` kWh, actual.
fn csv_by_hand(day: &str, revision: &str, starts: &[u32]) -> String {
    let mut text = String::from(smt_core::smt_csv::interval::HEADER);
    text.push('\n');
    for (i, start) in starts.iter().enumerate() {
        text.push_str(&format!(
            "'{ESIID_A},{day},{revision},{},{},{},A,Consumption\n",
            hhmm(*start),
            hhmm(start + 15),
            Decimal::new(i as i64, 3)
        ));
    }
    text
}

fn quarter_hours(hours: std::ops::Range<u32>) -> impl Iterator<Item = u32> {
    hours.flat_map(|h| (0..4).map(move |q| h * 60 + q * 15))
}

/// Row `i` of a by-hand file, as a reading.
fn nth_value(i: usize) -> Option<Reading> {
    Some(Reading {
        kwh: Decimal::new(i as i64, 3),
        status: Status::Actual,
    })
}

#[test]
fn csv_96_rows_on_the_spring_forward_day() {
    // Written as if the day had 24 hours: the first 02:00 row (line 2 + 8) cannot be placed.
    let starts: Vec<u32> = quarter_hours(0..24).collect();
    let text = csv_by_hand("03/09/2025", "03/10/2025 07:37:17", &starts);
    let (records, errors) = parse_csv(&text);
    assert!(records.is_empty());
    let e = the_error(&errors, ErrorKind::NoSuchInterval, 10, "USAGE_START_TIME");
    assert_eq!(e.record_line, 2);
}

/// B moved to the spring-forward day, as SMT would write it (no 02:00-02:45 rows).
fn csv_spring_day() -> (IntervalRecord, String) {
    let b = record(ESIID_B, 4, spring(), 2);
    assert_eq!(b.intervals.len(), 92);
    let text = String::from_utf8(testdata::csv_bytes(std::slice::from_ref(&b))).unwrap();
    (b, text)
}

#[test]
fn csv_value_in_the_skipped_spring_hour() {
    let (_, text) = csv_spring_day();
    let at = csv_line(&text, ESIID_B, "03:00", 1);
    let row = format!("'{ESIID_B},03/09/2025,03/10/2025 07:37:17,02:00,02:15,0.500,A,Consumption");
    let text = insert_line(&text, at, &row);
    let (records, errors) = parse_csv(&text);
    assert!(records.is_empty());
    let e = the_error(&errors, ErrorKind::NoSuchInterval, at, "USAGE_START_TIME");
    assert_eq!(e.record_line, 2);
}

#[test]
fn csv_empty_rows_in_the_skipped_spring_hour_are_ignored() {
    let (b, text) = csv_spring_day();
    let at = csv_line(&text, ESIID_B, "03:00", 1);
    let mut text = text;
    for (i, start) in quarter_hours(2..3).enumerate() {
        let row = format!(
            "'{ESIID_B},03/09/2025,03/10/2025 07:37:17,{},{},,,Consumption",
            hhmm(start),
            hhmm(start + 15)
        );
        text = insert_line(&text, at + i as u64, &row);
    }
    let (records, errors) = parse_csv(&text);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_records(&records, &[csv_at(&b, 2)]);
}

#[test]
fn csv_fall_back_day_places_the_repeated_hour_in_order() {
    // 00:00-01:45, then 01:00-01:45 again, then 02:00-23:45: 100 rows.
    let starts: Vec<u32> = quarter_hours(0..2)
        .chain(quarter_hours(1..2))
        .chain(quarter_hours(2..24))
        .collect();
    assert_eq!(starts.len(), 100);
    let text = csv_by_hand("11/02/2025", "11/03/2025 07:37:17", &starts);
    let (records, errors) = parse_csv(&text);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.day, fall());
    assert_eq!(r.intervals.len(), 100);
    for (i, got) in r.intervals.iter().enumerate() {
        assert_eq!(*got, nth_value(i), "interval {i}");
    }
    // Midnight is CDT (UTC-5); the first 01:00 is still CDT, the second is CST (UTC-6).
    assert_eq!(r.interval_bounds(0).0, utc("2025-11-02T05:00:00Z"));
    assert_eq!(r.interval_bounds(4).0, utc("2025-11-02T06:00:00Z"));
    assert_eq!(r.interval_bounds(8).0, utc("2025-11-02T07:00:00Z"));
    assert_eq!(r.interval_bounds(11).1, utc("2025-11-02T08:00:00Z"));
    assert_eq!(r.end(), utc("2025-11-03T06:00:00Z"));
}

#[test]
fn csv_last_interval_ends_at_00_00() {
    let starts: Vec<u32> = quarter_hours(0..24).collect();
    let text = csv_by_hand("07/01/2025", "07/02/2025 07:37:17", &starts);
    assert!(text.ends_with(",23:45,00:00,0.095,A,Consumption\n"));
    let (records, errors) = parse_csv(&text);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].intervals,
        (0..96).map(nth_value).collect::<Vec<_>>()
    );
    // Midnight to midnight in CDT.
    assert_eq!(records[0].start, utc("2025-07-01T05:00:00Z"));
    assert_eq!(records[0].end(), utc("2025-07-02T05:00:00Z"));
}

#[test]
fn csv_last_interval_may_end_at_24_00() {
    let starts: Vec<u32> = quarter_hours(0..24).collect();
    let text = csv_by_hand("07/01/2025", "07/02/2025 07:37:17", &starts)
        .replace(",23:45,00:00,", ",23:45,24:00,");
    let (records, errors) = parse_csv(&text);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(records[0].intervals[95], nth_value(95));
}

#[test]
fn csv_spaces_after_commas() {
    let (text, [a, b, c]) = csv_trio();
    let spaced = text.replace(',', ", ");
    assert!(spaced.contains(", 00:00, 00:15, "));
    let (records, errors) = parse_csv(&spaced);
    assert!(errors.is_empty(), "{errors:#?}");
    let [ra, rb, rc] = trio();
    assert_records(&records, &[csv_at(&ra, a), csv_at(&rb, b), csv_at(&rc, c)]);
}

#[test]
fn csv_surplus_generation_in_both_spellings_is_channel_1() {
    let (text, [a, b, c]) = csv_trio();
    assert!(
        text.contains(",Surplus Generation\n"),
        "C is written as generation"
    );
    for spelling in ["Surplus Generation", "SurplusGeneration"] {
        let text = text.replace("Surplus Generation", spelling);
        let (records, errors) = parse_csv(&text);
        assert!(errors.is_empty(), "{errors:#?}");
        let [ra, rb, rc] = trio();
        assert_eq!(rc.channel, 1);
        assert_records(&records, &[csv_at(&ra, a), csv_at(&rb, b), csv_at(&rc, c)]);
    }
}

#[test]
fn csv_all_versions_report_gives_one_record_per_revision() {
    let [_, first, _] = trio();
    let mut second = record(ESIID_B, 4, first.day, 7);
    second.revision = utc("2025-07-10T13:00:00Z"); // 08:00 CDT
    assert_ne!(first.intervals, second.intervals);
    let text = String::from_utf8(testdata::csv_bytes(&[first.clone(), second.clone()])).unwrap();
    assert!(text.contains(",07/10/2025 08:00:00,"));
    let (records, errors) = parse_csv(&text);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_records(&records, &[csv_at(&first, 2), csv_at(&second, 98)]);
}

#[test]
fn csv_rows_out_of_order_land_in_their_slots() {
    let (text, [a, _, c]) = csv_trio();
    let all = lines(&text);
    // B's 96 rows reversed in place.
    let b = csv_line(&text, ESIID_B, "00:00", 1) as usize - 1;
    let mut reordered = all.clone();
    reordered[b..b + 96].reverse();
    let (records, errors) = parse_csv(&join(&reordered));
    assert!(errors.is_empty(), "{errors:#?}");
    let [ra, rb, rc] = trio();
    // B's first row in the file is now its 23:45 row.
    let b_line = b as u64 + 1;
    assert_records(
        &records,
        &[csv_at(&ra, a), csv_at(&rb, b_line), csv_at(&rc, c)],
    );
}

// ---------------------------------------------------------------------------------------------
// Daily and monthly reports
// ---------------------------------------------------------------------------------------------

fn d(text: &str) -> Option<Decimal> {
    Some(Decimal::parse_str(text).unwrap())
}

#[test]
fn daily_reads_with_the_usual_header() {
    let text = "ESIID,READ_DATE,REVISION_DATE,START_READING,END_READING,USAGE_KWH\n\
                '10443720000000001,07/01/2025,07/02/2025 07:37:17,10234.500,10270.125,35.625\n\
                '10443720000000001,07/02/2025,,10270.125,10301.000,30.875\n";
    let reads: Vec<_> = DailyReadReader::new(text.as_bytes(), EsiidMode::Strict)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(reads.len(), 2);
    let r = &reads[0];
    assert_eq!(r.esiid, ESIID_A);
    assert_eq!(r.day, date(2025, 7, 1));
    assert_eq!(r.revision, Some(utc("2025-07-02T12:37:17Z")));
    assert_eq!(r.start_reading, d("10234.500"));
    assert_eq!(r.end_reading, d("10270.125"));
    assert_eq!(r.usage_kwh, d("35.625"));
    assert_eq!(r.line, 2);
    // An empty revision field is no revision, not an error.
    assert_eq!(reads[1].revision, None);
    assert_eq!(reads[1].line, 3);
}

#[test]
fn daily_reads_with_a_loose_header() {
    // Other names, case and spaces, an extra column, a blank line and no revision column.
    let text = "esiid, Usage Date, Start Read, End Read, kWh, Meter\n\
                \n\
                10443720000000001, 2025-07-01, 5, 7.5, 2.5, X1\n";
    let reads: Vec<_> = DailyReadReader::new(text.as_bytes(), EsiidMode::Strict)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(reads.len(), 1);
    let r = &reads[0];
    assert_eq!((r.day, r.revision), (date(2025, 7, 1), None));
    assert_eq!(
        (r.start_reading, r.end_reading, r.usage_kwh),
        (d("5"), d("7.5"), d("2.5"))
    );
    assert_eq!(r.line, 3);
}

#[test]
fn daily_bad_row_is_rejected_alone() {
    let text = "ESIID,READ_DATE,USAGE_KWH\n\
                '10443720000000001,07/01/2025,1.5\n\
                '10443720000000001,07/32/2025,1.5\n\
                '10443720000000001,07/03/2025,abc\n\
                '10443720000000001,07/04/2025,2\n";
    let (reads, errors): (Vec<_>, Vec<_>) =
        DailyReadReader::new(text.as_bytes(), EsiidMode::Strict).partition(Result::is_ok);
    let days: Vec<NaiveDate> = reads.into_iter().map(|r| r.unwrap().day).collect();
    assert_eq!(days, [date(2025, 7, 1), date(2025, 7, 4)]);
    let errors: Vec<RecordError> = errors.into_iter().map(Result::unwrap_err).collect();
    assert_eq!(errors.len(), 2);
    assert_eq!(
        (errors[0].kind, errors[0].line, errors[0].field.as_str()),
        (ErrorKind::BadTimestamp, 3, "READ_DATE")
    );
    assert_eq!(
        (errors[1].kind, errors[1].line, errors[1].field.as_str()),
        (ErrorKind::NonNumericValue, 4, "USAGE_KWH")
    );
}

#[test]
fn daily_header_without_esiid_stops_the_file() {
    let text = "METER,READ_DATE,USAGE_KWH\n'10443720000000001,07/01/2025,1.5\n";
    let items: Vec<_> = DailyReadReader::new(text.as_bytes(), EsiidMode::Strict).collect();
    assert_eq!(items.len(), 1);
    let e = items[0].as_ref().unwrap_err();
    assert_eq!(
        (e.kind, e.line, e.field.as_str()),
        (ErrorKind::BadHeader, 1, "ESIID")
    );
}

#[test]
fn monthly_usage_with_every_column() {
    let text = "ESIID,USAGE_START_DATE,USAGE_END_DATE,REVISION_DATE,ACTUAL_KWH,METERED_KW,BILLED_KW,METERED_KVA,BILLED_KVA\n\
                '1008901000000000000002,06/03/2025,07/02/2025,07/05/2025 01:02:03,1234.000,5.25,5.50,6.1,6.20\n";
    let rows: Vec<_> = MonthlyUsageReader::new(text.as_bytes(), EsiidMode::Strict)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 1);
    let m = &rows[0];
    assert_eq!(m.esiid, ESIID_B);
    assert_eq!(
        (m.start_date, m.end_date),
        (date(2025, 6, 3), date(2025, 7, 2))
    );
    assert_eq!(m.revision, Some(utc("2025-07-05T06:02:03Z")));
    assert_eq!(m.actual_kwh, d("1234.000"));
    assert_eq!((m.metered_kw, m.billed_kw), (d("5.25"), d("5.50")));
    assert_eq!((m.metered_kva, m.billed_kva), (d("6.1"), d("6.20")));
    assert_eq!(m.line, 2);
}

#[test]
fn monthly_usage_with_a_short_header() {
    let text = "Esiid,Start Date,End Date,kWh\n10443720000000001,12/01/2024,12/31/2024,987\n";
    let rows: Vec<_> = MonthlyUsageReader::new(text.as_bytes(), EsiidMode::Strict)
        .collect::<Result<_, _>>()
        .unwrap();
    let m = &rows[0];
    assert_eq!(
        (m.start_date, m.end_date),
        (date(2024, 12, 1), date(2024, 12, 31))
    );
    assert_eq!(m.actual_kwh, d("987"));
    assert_eq!((m.revision, m.metered_kw, m.billed_kva), (None, None, None));
}

#[test]
fn monthly_bad_value_is_rejected_alone() {
    let text = "ESIID,START_DATE,END_DATE,ACTUAL_KWH,METERED_KW\n\
                10443720000000001,12/01/2024,12/31/2024,987,4.x\n\
                10443720000000001,01/01/2025,01/31/2025,654,3.2\n";
    let items: Vec<_> = MonthlyUsageReader::new(text.as_bytes(), EsiidMode::Strict).collect();
    assert_eq!(items.len(), 2);
    let e = items[0].as_ref().unwrap_err();
    assert_eq!(
        (e.kind, e.line, e.field.as_str()),
        (ErrorKind::NonNumericValue, 2, "METERED_KW")
    );
    assert_eq!(items[1].as_ref().unwrap().actual_kwh, d("654"));
}

// ---------------------------------------------------------------------------------------------
// Format detection
// ---------------------------------------------------------------------------------------------

#[test]
fn detects_lse_by_its_first_row() {
    assert_eq!(
        format::detect(&testdata::lse_bytes(&trio(), true)),
        Some(Format::Lse)
    );
    assert_eq!(
        format::detect(b"\n\r\n00000001,10443720000000001,4,20250701000000,20250701235900,Y,N\n"),
        Some(Format::Lse)
    );
    // An LSE fragment without its 00000001 row is not recognised.
    assert_eq!(format::detect(b"10000000,1.0,A,,\n"), None);
}

#[test]
fn detects_the_interval_csv_by_its_header() {
    assert_eq!(
        format::detect(&testdata::csv_bytes(&trio())),
        Some(Format::IntervalCsv)
    );
    let loose =
        "\u{feff}esiid, Usage Date, Revision Date, Usage Start Time, Usage End Time, Usage kWh\r\n";
    assert_eq!(format::detect(loose.as_bytes()), Some(Format::IntervalCsv));
}

#[test]
fn detects_daily_and_monthly_reports() {
    assert_eq!(
        format::detect(b"ESIID,READ_DATE,REVISION_DATE,START_READING,END_READING,USAGE_KWH\n"),
        Some(Format::DailyCsv)
    );
    assert_eq!(
        format::detect(b"esiid, Usage Date, Start Read, End Read, kWh\n"),
        Some(Format::DailyCsv)
    );
    assert_eq!(
        format::detect(b"ESIID,USAGE_START_DATE,USAGE_END_DATE,ACTUAL_KWH\n"),
        Some(Format::MonthlyCsv)
    );
    assert!(!Format::DailyCsv.has_intervals() && !Format::MonthlyCsv.has_intervals());
    assert!(Format::Lse.has_intervals() && Format::IntervalCsv.has_intervals());
}

#[test]
fn detects_nothing_in_other_files() {
    assert_eq!(format::detect(b""), None);
    assert_eq!(format::detect(b"\n\n"), None);
    assert_eq!(format::detect(b"ESIID,SOMETHING_ELSE\n"), None);
    assert_eq!(format::detect(b"PK\x03\x04\x14\x00"), None);
    assert_eq!(format::detect(b"-----BEGIN PGP MESSAGE-----\n"), None);
}

/// A line over the limit is skipped without being held in memory: its record is rejected as
/// `line_too_long` and the records around it still come out, in both formats.
#[test]
fn over_long_lines_reject_their_record_only() {
    use smt_core::testdata::{self, Generator};
    let day = chrono::NaiveDate::from_ymd_opt(2025, 7, 1).unwrap();
    let records = Generator::new(11).records(3, &[day]);
    let huge = "9".repeat(2 << 20);

    let mut lse = String::from_utf8(testdata::lse_bytes(&records[..1], false)).unwrap();
    let second = String::from_utf8(testdata::lse_bytes(&records[1..2], false)).unwrap();
    let mut lines: Vec<&str> = second.lines().collect();
    let long_row = format!("10000000,{huge},A,,");
    lines[5] = &long_row; // the first data row of the second record
    lse.push_str(&lines.join("\n"));
    lse.push('\n');
    lse.push_str(&String::from_utf8(testdata::lse_bytes(&records[2..], false)).unwrap());
    let items: Vec<_> = smt_core::lse::LseReader::new(lse.as_bytes(), Default::default()).collect();
    assert_eq!(items.len(), 3);
    assert!(items[0].is_ok() && items[2].is_ok());
    assert_eq!(items[1].as_ref().unwrap_err().kind, ErrorKind::LineTooLong);

    let csv = String::from_utf8(testdata::csv_bytes(&records)).unwrap();
    let mut rows: Vec<String> = csv.lines().map(str::to_owned).collect();
    rows.insert(50, huge.clone());
    let csv = rows.join("\n") + "\n";
    let items: Vec<_> =
        smt_core::smt_csv::interval::IntervalCsvReader::new(csv.as_bytes(), Default::default())
            .collect();
    let errors: Vec<_> = items.iter().filter_map(|i| i.as_ref().err()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].kind, ErrorKind::LineTooLong);
    assert_eq!(errors[0].line, 51);
    assert_eq!(items.iter().filter(|i| i.is_ok()).count(), 3);
}
