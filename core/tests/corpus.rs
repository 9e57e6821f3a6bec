//! Issue 8: a bad-input corpus of the parsers, data-driven. Every entry is a named input (LSE,
//! SMT interval CSV, daily or monthly CSV) with the exact outcome: each reject (kind, field, line)
//! in the order the parser hands them out, and each good record (ESIID, channel, day, first
//! interval start, intervals, present, estimated, exact kWh sum).
//!
//! Inputs are built here from a few small templates and one edit each; nothing is taken from the
//! other test files. The four bugs this corpus found when it was written are fixed; their cases
//! say so where they stand.

use std::fmt::Write as _;
use std::time::Instant;

use chrono::{Days, NaiveDate, SecondsFormat};

use smt_core::lse::{LseOptions, LseReader};
use smt_core::smt_csv::daily::DailyReadReader;
use smt_core::smt_csv::interval::{CsvOptions, IntervalCsvReader, HEADER};
use smt_core::smt_csv::monthly::MonthlyUsageReader;
use smt_core::{time, EsiidMode, IntervalRecord, RecordError};

const E17: &str = "10443720000000001";
const E22: &str = "1008901000000000000002";
const E_OTHER: &str = "10400511000000003";

// ---------------------------------------------------------------------------------------------
// The table's types.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fmt {
    Lse,
    Csv,
    Daily,
    Monthly,
}

#[derive(Clone)]
struct Case {
    name: &'static str,
    fmt: Fmt,
    lenient: bool,
    input: Vec<u8>,
    /// `kind field line`, in the order handed out.
    rejects: Vec<String>,
    /// One line per good record (see `summary`), in the order handed out.
    records: Vec<String>,
}

fn case(name: &'static str, fmt: Fmt, input: impl Into<Vec<u8>>) -> Case {
    Case {
        name,
        fmt,
        lenient: false,
        input: input.into(),
        rejects: Vec::new(),
        records: Vec::new(),
    }
}

impl Case {
    fn lenient(mut self) -> Self {
        self.lenient = true;
        self
    }

    /// Expects a reject of `kind` in `field`, found on `line`.
    fn rej(mut self, kind: &str, field: &str, line: u64) -> Self {
        self.rejects.push(format!("{kind} {field} {line}"));
        self
    }

    /// Expects a good record, as `summary` writes it.
    fn rec(mut self, summary: &str) -> Self {
        self.records.push(summary.to_owned());
        self
    }
}

/// A good interval record in one line: ESIID, channel, day, UTC start of the first interval,
/// intervals/present, estimated count, exact kWh sum, interval length.
fn summary(r: &IntervalRecord) -> String {
    format!(
        "{} ch{} {} {} {}/{} E{} sum={} {}s",
        r.esiid,
        r.channel,
        r.day,
        r.start.to_rfc3339_opts(SecondsFormat::Secs, true),
        r.intervals.len(),
        r.present(),
        r.estimated(),
        r.kwh_sum(),
        r.interval_seconds
    )
}

fn reject(e: &RecordError) -> String {
    format!("{} {} {}", e.kind.name(), e.field, e.line)
}

/// What the parser made of a case: (rejects, records).
fn run(c: &Case) -> (Vec<String>, Vec<String>) {
    let mode = EsiidMode::lenient_if(c.lenient);
    let bytes = c.input.as_slice();
    let mut rejects = Vec::new();
    let mut records = Vec::new();
    let mut push = |r: Result<String, RecordError>| match r {
        Ok(s) => records.push(s),
        Err(e) => rejects.push(reject(&e)),
    };
    match c.fmt {
        Fmt::Lse => LseReader::new(bytes, LseOptions { esiid_mode: mode })
            .for_each(|r| push(r.map(|r| summary(&r)))),
        Fmt::Csv => IntervalCsvReader::new(bytes, CsvOptions { esiid_mode: mode })
            .for_each(|r| push(r.map(|r| summary(&r)))),
        Fmt::Daily => DailyReadReader::new(bytes, mode).for_each(|r| {
            push(r.map(|d| {
                format!(
                    "{} {} rev={:?} start={:?} end={:?} usage={:?}",
                    d.esiid,
                    d.day,
                    d.revision
                        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
                    d.start_reading.map(|v| v.to_string()),
                    d.end_reading.map(|v| v.to_string()),
                    d.usage_kwh.map(|v| v.to_string())
                )
            }))
        }),
        Fmt::Monthly => MonthlyUsageReader::new(bytes, mode).for_each(|r| {
            push(r.map(|m| {
                format!(
                    "{} {}..{} kwh={:?} kw={:?}",
                    m.esiid,
                    m.start_date,
                    m.end_date,
                    m.actual_kwh.map(|v| v.to_string()),
                    m.metered_kw.map(|v| v.to_string())
                )
            }))
        }),
    }
    (rejects, records)
}

/// `None` when the case came out as expected, else what differs.
fn check(c: &Case) -> Option<String> {
    let (rejects, records) = run(c);
    if rejects == c.rejects && records == c.records {
        return None;
    }
    let mut why = format!("case {} ({:?}):\n", c.name, c.fmt);
    let _ = writeln!(
        why,
        "  rejects expected {:?}\n           got      {:?}",
        c.rejects, rejects
    );
    let _ = writeln!(
        why,
        "  records expected {:?}\n           got      {:?}",
        c.records, records
    );
    Some(why)
}

// ---------------------------------------------------------------------------------------------
// Templates: one good day, as lines, edited by each case.

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn july() -> NaiveDate {
    date(2025, 7, 1)
}

fn spring() -> NaiveDate {
    date(2025, 3, 9)
}

fn fall() -> NaiveDate {
    date(2025, 11, 2)
}

fn join(lines: &[String]) -> Vec<u8> {
    let mut text = lines.join("\n");
    text.push('\n');
    text.into_bytes()
}

fn join_crlf(lines: &[String]) -> Vec<u8> {
    let mut text = lines.join("\r\n");
    text.push_str("\r\n");
    text.into_bytes()
}

/// Lines 1-based: `l[n]` style edits without off-by-one slips.
fn set(mut lines: Vec<String>, n: usize, text: &str) -> Vec<String> {
    lines[n - 1] = text.to_owned();
    lines
}

fn edit(mut lines: Vec<String>, n: usize, f: impl FnOnce(&str) -> String) -> Vec<String> {
    lines[n - 1] = f(&lines[n - 1]);
    lines
}

fn insert(mut lines: Vec<String>, before: usize, text: &str) -> Vec<String> {
    lines.insert(before - 1, text.to_owned());
    lines
}

fn remove(mut lines: Vec<String>, n: usize) -> Vec<String> {
    lines.remove(n - 1);
    lines
}

fn cat(parts: &[Vec<String>]) -> Vec<String> {
    parts.concat()
}

/// An LSE data row: `code,value,status,,value,status,,...`.
fn lse_row(code: usize, values: &[(&str, &str)]) -> String {
    let mut row = format!("{}", 10_000_000 + code);
    row.push(',');
    for (v, s) in values {
        let _ = write!(row, "{v},{s},,");
    }
    row
}

/// One LSE record of `n` intervals of `value` (actual), 4 a row, for `day` (00:00 to 23:59 local):
/// lines 1-5 the header rows, then the data rows.
fn lse_day(esiid: &str, channel: u8, day: NaiveDate, n: usize, value: &str) -> Vec<String> {
    let d = day.format("%Y%m%d");
    let next = (day + Days::new(1)).format("%Y%m%d");
    let mut lines = vec![
        format!("00000001,{esiid},{channel},{d}000000,{d}235900,Y,N"),
        "00000002,0,0,0,,0,,900,01,1,-1,0.0,0.0,CST".to_owned(),
        format!("00000003,TX{d}{channel}"),
        format!("00000004,{next}073717,M"),
        "00000030,ATTRIBUTE_VALUE_PAIRS,MRE=957877905,Sender=957877905,Receiver=183529049,REP=111111111".to_owned(),
    ];
    let values = vec![(value, "A"); n];
    for (i, chunk) in values.chunks(4).enumerate() {
        lines.push(lse_row(i, chunk));
    }
    lines
}

fn lse_july() -> Vec<String> {
    lse_day(E17, 4, july(), 96, "0.250")
}

const LSE_JULY: &str =
    "10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/96 E0 sum=24.000 900s";
const LSE_JULY_GEN: &str =
    "10400511000000003 ch1 2025-07-01 2025-07-01T05:00:00Z 96/96 E0 sum=24.000 900s";

fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60 % 24, minutes % 60)
}

fn csv_row(esiid: &str, day: NaiveDate, start: &str, end: &str, kwh: &str, flag: &str) -> String {
    format!(
        "'{esiid},{},{} 07:37:17,{start},{end},{kwh},{flag},Consumption",
        day.format("%m/%d/%Y"),
        (day + Days::new(1)).format("%m/%d/%Y")
    )
}

/// The data rows of one CSV day (clean labels, file order), `value` actual in each.
fn csv_rows(esiid: &str, day: NaiveDate, value: &str) -> Vec<String> {
    time::slot_wall_minutes(day, 900)
        .into_iter()
        .map(|m| csv_row(esiid, day, &hhmm(m), &hhmm(m + 15), value, "A"))
        .collect()
}

/// Header (line 1) and 96 rows (lines 2-97) of July 1.
fn csv_july() -> Vec<String> {
    cat(&[vec![HEADER.to_owned()], csv_rows(E17, july(), "0.250")])
}

const CSV_JULY: &str =
    "10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/96 E0 sum=24.000 900s";

fn with_header(rows: Vec<String>) -> Vec<String> {
    cat(&[vec![HEADER.to_owned()], rows])
}

const DAILY_HEADER: &str = "ESIID,READ_DATE,REVISION_DATE,START_READING,END_READING,USAGE_KWH";

fn daily() -> Vec<String> {
    vec![
        DAILY_HEADER.to_owned(),
        format!("'{E17},07/01/2025,07/02/2025 07:41:22,24002.915,24038.915,36.000"),
        format!("'{E22},07/01/2025,07/02/2025 07:41:22,100.5,110.25,9.75"),
    ]
}

const DAILY_1: &str = "10443720000000001 2025-07-01 rev=Some(\"2025-07-02T12:41:22Z\") start=Some(\"24002.915\") end=Some(\"24038.915\") usage=Some(\"36.000\")";
const DAILY_2: &str = "1008901000000000000002 2025-07-01 rev=Some(\"2025-07-02T12:41:22Z\") start=Some(\"100.5\") end=Some(\"110.25\") usage=Some(\"9.75\")";

const MONTHLY_HEADER: &str = "ESIID,START_DATE,END_DATE,REVISION_DATE,ACTUAL_KWH,METERED_KW";

fn monthly() -> Vec<String> {
    vec![
        MONTHLY_HEADER.to_owned(),
        format!("{E17},06/03/2025,07/02/2025,07/03/2025 06:00:00,1234.5,7.25"),
    ]
}

const MONTHLY_1: &str =
    "10443720000000001 2025-06-03..2025-07-02 kwh=Some(\"1234.5\") kw=Some(\"7.25\")";

/// 2 MiB of one line (over the parsers' 1 MiB line cap).
fn huge_line() -> String {
    "9".repeat(2 << 20)
}

// ---------------------------------------------------------------------------------------------
// The corpus.

fn lse_cases() -> Vec<Case> {
    use Fmt::Lse;
    let last = 29; // the last data row of lse_july()
    vec![
        case("lse_good_day_is_the_control", Lse, join(&lse_july())).rec(LSE_JULY),
        case("lse_empty_file", Lse, Vec::new()),
        case("lse_only_blank_lines", Lse, "\n  \r\n\t\n"),
        case("lse_binary_garbage", Lse, b"\x89PNG\x00\xff\xfe\x01garbage".to_vec())
            .rej("invalid_text", "line", 1),
        case("lse_data_row_outside_a_record", Lse, "10000000,0.250,A,,\n")
            .rej("unknown_row_type", "row type", 1),
        case(
            "lse_95_intervals_then_a_good_record",
            Lse,
            join(&cat(&[
                set(lse_july(), last, &lse_row(23, &[("0.250", "A"); 3])),
                lse_day(E_OTHER, 1, july(), 96, "0.250"),
            ])),
        )
        .rej("wrong_interval_count", "intervals", 1)
        .rec(LSE_JULY_GEN),
        case(
            "lse_97_intervals",
            Lse,
            join(&insert(lse_july(), 30, &lse_row(24, &[("0.250", "A")]))),
        )
        .rej("wrong_interval_count", "intervals", 1),
        case(
            "lse_non_numeric_value",
            Lse,
            join(&edit(lse_july(), 6, |l| l.replacen("0.250", "abc", 1))),
        )
        .rej("non_numeric_value", "interval 1 value", 6),
        case(
            "lse_exponent_value",
            Lse,
            join(&edit(lse_july(), 7, |l| l.replacen("0.250", "2.5E-1", 1))),
        )
        .rej("non_numeric_value", "interval 5 value", 7),
        case(
            "lse_value_with_a_leading_space",
            Lse,
            join(&edit(lse_july(), 6, |l| l.replacen(",0.250", ", 0.250", 1))),
        )
        .rej("non_numeric_value", "interval 1 value", 6),
        case(
            "lse_value_with_19_digits",
            Lse,
            join(&edit(lse_july(), 6, |l| {
                l.replacen("0.250", "1234567890.123456789", 1)
            })),
        )
        .rej("non_numeric_value", "interval 1 value", 6),
        case(
            "lse_two_decimal_points",
            Lse,
            join(&edit(lse_july(), 8, |l| l.replacen("0.250", "0.2.5", 1))),
        )
        .rej("non_numeric_value", "interval 9 value", 8),
        case("lse_negative_values_load", Lse, join(&lse_day(E17, 4, july(), 96, "-0.250"))).rec(
            "10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/96 E0 sum=-24.000 900s",
        ),
        case(
            "lse_18_digit_value_loads_exactly",
            Lse,
            join(&edit(lse_july(), 6, |l| {
                l.replacen("0.250", "999999999999.999999", 1)
            })),
        )
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/96 E0 sum=1000000000023.749999 900s"),
        case(
            "lse_explicit_plus_sign_loads",
            Lse,
            join(&edit(lse_july(), 6, |l| l.replacen("0.250", "+0.250", 1))),
        )
        .rec(LSE_JULY),
        case(
            "lse_unknown_status",
            Lse,
            join(&edit(lse_july(), 6, |l| l.replacen(",A,", ",X,", 1))),
        )
        .rej("unknown_status", "interval 1 status", 6),
        case(
            "lse_lowercase_status",
            Lse,
            join(&edit(lse_july(), 9, |l| l.replacen(",A,", ",e,", 1))),
        )
        .rej("unknown_status", "interval 13 status", 9),
        case(
            "lse_value_with_empty_status",
            Lse,
            join(&edit(lse_july(), 6, |l| l.replacen("0.250,A,", "0.250,,", 1))),
        )
        .rej("unknown_status", "interval 1 status", 6),
        case(
            "lse_status_without_value_is_a_missing_interval",
            Lse,
            join(&edit(lse_july(), 6, |l| l.replacen("0.250,A,", ",A,", 1))),
        )
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/95 E0 sum=23.750 900s"),
        case("lse_all_intervals_missing", Lse, join(&lse_day(E17, 4, july(), 96, "")))
            .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/0 E0 sum=0 900s"),
        case(
            "lse_estimated_intervals_counted",
            Lse,
            join(&edit(lse_july(), 6, |l| l.replace(",A,", ",E,"))),
        )
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/96 E4 sum=24.000 900s"),
        case(
            "lse_impossible_start_date",
            Lse,
            join(&edit(lse_july(), 1, |l| l.replacen("20250701000000", "20250732000000", 1))),
        )
        .rej("bad_timestamp", "00000001.start", 1),
        case(
            "lse_short_stop_timestamp",
            Lse,
            join(&edit(lse_july(), 1, |l| l.replacen("20250701235900", "202507012359", 1))),
        )
        .rej("bad_timestamp", "00000001.stop", 1),
        case(
            "lse_stop_before_start",
            Lse,
            join(&edit(lse_july(), 1, |l| l.replacen("20250701235900", "20250630235900", 1))),
        )
        .rej("stop_before_start", "00000001.stop", 1),
        case(
            "lse_start_in_the_spring_gap",
            Lse,
            join(&edit(lse_day(E17, 4, spring(), 92, "0.250"), 1, |l| {
                l.replacen("20250309000000", "20250309021500", 1)
            })),
        )
        .rej("bad_timestamp", "00000001.start", 1),
        case(
            "lse_missing_esiid",
            Lse,
            join(&edit(lse_july(), 1, |l| l.replacen(E17, "", 1))),
        )
        .rej("missing_field", "00000001.esiid", 1),
        case(
            "lse_15_digit_esiid_strict",
            Lse,
            join(&edit(lse_july(), 1, |l| l.replacen(E17, "100000000000000", 1))),
        )
        .rej("invalid_esiid", "00000001.esiid", 1),
        case(
            "lse_15_digit_esiid_lenient",
            Lse,
            join(&edit(lse_july(), 1, |l| l.replacen(E17, "100000000000000", 1))),
        )
        .lenient()
        .rec("100000000000000 ch4 2025-07-01 2025-07-01T05:00:00Z 96/96 E0 sum=24.000 900s"),
        case(
            "lse_esiid_with_letters_strict",
            Lse,
            join(&edit(lse_july(), 1, |l| l.replacen(E17, "1044372000000000A", 1))),
        )
        .rej("invalid_esiid", "00000001.esiid", 1),
        case(
            "lse_esiid_with_a_dash_lenient",
            Lse,
            join(&edit(lse_july(), 1, |l| l.replacen(E17, "ABC-123", 1))),
        )
        .lenient()
        .rej("invalid_esiid", "00000001.esiid", 1),
        case(
            "lse_esiid_of_65_characters_lenient",
            Lse,
            join(&edit(lse_july(), 1, |l| l.replacen(E17, &"7".repeat(65), 1))),
        )
        .lenient()
        .rej("invalid_esiid", "00000001.esiid", 1),
        case(
            "lse_esiid_with_excel_guard_and_spaces",
            Lse,
            join(&edit(lse_july(), 1, |l| {
                l.replacen(E17, " '1044 3720 0000 00001 ", 1)
            })),
        )
        .rec(LSE_JULY),
        case(
            "lse_channel_zero",
            Lse,
            join(&edit(lse_july(), 1, |l| l.replacen(",4,", ",0,", 1))),
        )
        .rej("bad_channel", "00000001.channel", 1),
        case(
            "lse_channel_not_a_number",
            Lse,
            join(&edit(lse_july(), 1, |l| l.replacen(",4,", ",L,", 1))),
        )
        .rej("bad_channel", "00000001.channel", 1),
        case(
            "lse_channel_256",
            Lse,
            join(&edit(lse_july(), 1, |l| l.replacen(",4,", ",256,", 1))),
        )
        .rej("bad_channel", "00000001.channel", 1),
        case(
            "lse_missing_channel",
            Lse,
            join(&edit(lse_july(), 1, |l| l.replacen(",4,", ",,", 1))),
        )
        .rej("missing_field", "00000001.channel", 1),
        case(
            "lse_dst_flag_neither_y_nor_n",
            Lse,
            join(&edit(lse_july(), 1, |l| l.replacen(",Y,", ",Q,", 1))),
        )
        .rej("bad_header", "00000001.dst_participation", 1),
        case(
            "lse_dst_flag_n_reads_standard_time",
            Lse,
            join(&edit(lse_july(), 1, |l| l.replacen(",Y,", ",N,", 1))),
        )
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T06:00:00Z 96/96 E0 sum=24.000 900s"),
        case(
            "lse_header_with_only_four_fields",
            Lse,
            join(&set(lse_july(), 1, &format!("00000001,{E17},4,20250701000000"))),
        )
        .rej("missing_field", "00000001.stop", 1),
        case(
            "lse_header_with_extra_fields",
            Lse,
            join(&edit(lse_july(), 1, |l| format!("{l},extra,,more"))),
        )
        .rec(LSE_JULY),
        case("lse_missing_revision_row", Lse, join(&remove(lse_july(), 4)))
            .rej("missing_revision", "00000004", 1),
        case(
            "lse_bad_revision_timestamp",
            Lse,
            join(&set(lse_july(), 4, "00000004,2025070207,M")),
        )
        .rej("bad_timestamp", "00000004.revision", 4),
        case(
            "lse_second_00000002_row",
            Lse,
            join(&insert(lse_july(), 3, "00000002,0,0,0,,0,,900,01,1,-1,0.0,0.0,CST")),
        )
        .rej("out_of_sequence", "00000002", 3),
        case(
            "lse_second_00000004_row",
            Lse,
            join(&insert(lse_july(), 5, "00000004,20250703073717,M")),
        )
        .rej("out_of_sequence", "00000004", 5),
        case(
            "lse_interval_length_7_seconds",
            Lse,
            join(&edit(lse_july(), 2, |l| l.replacen(",900,", ",7,", 1))),
        )
        .rej("bad_interval_length", "00000002.interval_seconds", 2),
        case(
            "lse_interval_length_not_dividing_an_hour",
            Lse,
            join(&edit(lse_july(), 2, |l| l.replacen(",900,", ",700,", 1))),
        )
        .rej("bad_interval_length", "00000002.interval_seconds", 2),
        case(
            "lse_hourly_record_of_24_intervals",
            Lse,
            join(&cat(&[
                edit(lse_july()[..5].to_vec(), 2, |l| l.replacen(",900,", ",3600,", 1)),
                lse_july()[5..11].to_vec(),
            ])),
        )
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 24/24 E0 sum=6.000 3600s"),
        case(
            "lse_hourly_record_with_96_intervals",
            Lse,
            join(&edit(lse_july(), 2, |l| l.replacen(",900,", ",3600,", 1))),
        )
        .rej("wrong_interval_count", "intervals", 1),
        case(
            "lse_blank_interval_length_means_900",
            Lse,
            join(&edit(lse_july(), 2, |l| l.replacen(",900,", ",,", 1))),
        )
        .rec(LSE_JULY),
        case(
            "lse_data_row_number_skipped",
            Lse,
            join(&edit(lse_july(), 7, |l| l.replacen("10000001", "10000002", 1))),
        )
        .rej("out_of_sequence", "row number", 7),
        case(
            "lse_data_rows_swapped",
            Lse,
            join(&{
                let mut l = lse_july();
                l.swap(6, 7);
                l
            }),
        )
        .rej("out_of_sequence", "row number", 7),
        case(
            "lse_unknown_row_type_inside_a_record",
            Lse,
            join(&insert(lse_july(), 6, "00000099,SOMETHING")),
        )
        .rej("unknown_row_type", "row type", 6),
        case(
            "lse_file_cut_inside_a_triplet",
            Lse,
            lse_july()[..28].join("\n") + "\n10000023,0.250,A,,0.2",
        )
        .rej("truncated_record", "interval 94", 29),
        case("lse_file_cut_after_five_data_rows", Lse, join(&lse_july()[..10]))
            .rej("truncated_record", "intervals", 1),
        case(
            "lse_value_without_status_at_line_end",
            Lse,
            join(&edit(lse_july(), last, |l| {
                l.trim_end_matches(",A,,").to_owned()
            })),
        )
        .rej("missing_field", "interval 96 status", 29),
        case("lse_crlf_line_endings", Lse, join_crlf(&lse_july())).rec(LSE_JULY),
        case(
            "lse_mixed_crlf_and_lf",
            Lse,
            lse_july()
                .iter()
                .enumerate()
                .map(|(i, l)| format!("{l}{}", if i % 2 == 0 { "\r\n" } else { "\n" }))
                .collect::<String>(),
        )
        .rec(LSE_JULY),
        case("lse_no_newline_at_end_of_file", Lse, lse_july().join("\n")).rec(LSE_JULY),
        case(
            "lse_utf8_byte_order_mark",
            Lse,
            [b"\xEF\xBB\xBF".to_vec(), join(&lse_july())].concat(),
        )
        .rec(LSE_JULY),
        case(
            "lse_nul_byte_in_a_data_row",
            Lse,
            join(&edit(lse_july(), 6, |l| l.replacen(",A,,", ",A\0,,", 1))),
        )
        .rej("invalid_text", "line", 6),
        case(
            "lse_latin1_byte_in_the_transaction_row",
            Lse,
            {
                let mut l = join(&lse_july());
                let at = l.windows(3).position(|w| w == b"TX2").unwrap();
                l[at] = 0xE9;
                l
            },
        )
        .rej("invalid_text", "line", 3),
        case("lse_spring_forward_day_92", Lse, join(&lse_day(E17, 4, spring(), 92, "0.250")))
            .rec("10443720000000001 ch4 2025-03-09 2025-03-09T06:00:00Z 92/92 E0 sum=23.000 900s"),
        case(
            "lse_spring_forward_day_with_96",
            Lse,
            join(&cat(&[
                lse_day(E17, 4, spring(), 96, "0.250"),
                lse_day(E_OTHER, 1, july(), 96, "0.250"),
            ])),
        )
        .rej("wrong_interval_count", "intervals", 1)
        .rec(LSE_JULY_GEN),
        case("lse_fall_back_day_100", Lse, join(&lse_day(E17, 4, fall(), 100, "0.250")))
            .rec("10443720000000001 ch4 2025-11-02 2025-11-02T05:00:00Z 100/100 E0 sum=25.000 900s"),
        case(
            "lse_fall_back_day_with_96",
            Lse,
            join(&cat(&[
                lse_day(E17, 4, fall(), 96, "0.250"),
                lse_day(E_OTHER, 1, july(), 96, "0.250"),
            ])),
        )
        .rej("wrong_interval_count", "intervals", 1)
        .rec(LSE_JULY_GEN),
        case(
            "lse_short_last_record_reads_as_truncated",
            Lse,
            join(&lse_day(E17, 4, fall(), 96, "0.250")),
        )
        .rej("truncated_record", "intervals", 1),
        case(
            "lse_same_record_twice_both_parse",
            Lse,
            join(&cat(&[lse_july(), lse_july()])),
        )
        .rec(LSE_JULY)
        .rec(LSE_JULY),
        case(
            "lse_bad_record_between_good_ones",
            Lse,
            join(&cat(&[
                lse_july(),
                edit(lse_day(E22, 4, july(), 96, "0.500"), 10, |l| l.replacen(",A,", ",Z,", 1)),
                lse_day(E_OTHER, 1, july(), 96, "0.250"),
            ])),
        )
        .rec(LSE_JULY)
        .rej("unknown_status", "interval 17 status", 39)
        .rec(LSE_JULY_GEN),
        case("lse_only_the_00000001_row", Lse, join(&lse_july()[..1]))
            .rej("missing_revision", "00000004", 1),
        case(
            "lse_garbage_line_after_a_complete_record",
            Lse,
            join(&cat(&[lse_july(), vec!["THIS IS NOT LSE".to_owned()]])),
        )
        .rec(LSE_JULY)
        .rej("unknown_row_type", "row type", 30),
        case(
            "lse_over_long_line_before_any_record",
            Lse,
            join(&cat(&[vec![huge_line()], lse_july()])),
        )
        .rej("line_too_long", "line", 1)
        .rec(LSE_JULY),
        case(
            "lse_over_long_data_row_rejects_its_record",
            Lse,
            join(&cat(&[
                set(lse_july(), 10, &format!("10000004,{}", huge_line())),
                lse_day(E_OTHER, 1, july(), 96, "0.250"),
            ])),
        )
        .rej("line_too_long", "line", 10)
        .rec(LSE_JULY_GEN),
        case(
            "lse_leap_second_stop_time",
            Lse,
            join(&edit(lse_july(), 1, |l| l.replacen("20250701235900", "20250701235960", 1))),
        )
        .rec(LSE_JULY),
        case(
            "lse_lowercase_dst_flag",
            Lse,
            join(&edit(lse_july(), 1, |l| l.replacen(",Y,", ",y,", 1))),
        )
        .rec(LSE_JULY),
        case(
            "lse_attribute_row_without_pairs",
            Lse,
            join(&set(lse_july(), 5, "00000030")),
        )
        .rec(LSE_JULY),
        // An over-long line after a complete record is rejected on its own, like any other bad
        // line there, and the record loads (found by this corpus, fixed).
        case(
            "lse_over_long_line_after_a_complete_record",
            Fmt::Lse,
            join(&cat(&[lse_july(), vec![huge_line()]])),
        )
        .rec(LSE_JULY)
        .rej("line_too_long", "line", 30),
    ]
}

fn csv_cases() -> Vec<Case> {
    use Fmt::Csv;
    vec![
        case("csv_good_day_is_the_control", Csv, join(&csv_july())).rec(CSV_JULY),
        case("csv_empty_file", Csv, Vec::new()),
        case("csv_only_the_header", Csv, join(&csv_july()[..1])),
        case(
            "csv_header_without_usage_kwh",
            Csv,
            join(&edit(csv_july(), 1, |l| l.replace("USAGE_KWH", "USAGE"))),
        )
        .rej("bad_header", "USAGE_KWH", 1),
        case(
            "csv_header_without_revision_date_2011_layout",
            Csv,
            join(&[
                "ESIID,USAGE_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,ESTIMATED_ACTUAL"
                    .to_owned(),
                format!("{E17},2025-07-01,00:00,00:15,0.250,A"),
            ]),
        )
        .rej("bad_header", "REVISION_DATE", 1),
        case("csv_no_header_row", Csv, join(&csv_july()[1..])).rej("bad_header", "ESIID", 1),
        case(
            "csv_header_in_lowercase_with_spaces",
            Csv,
            join(&set(
                csv_july(),
                1,
                "esiid, usage date, revision date, usage start time, usage end time, usage kwh, estimated actual, consumption surplusgeneration",
            )),
        )
        .rec(CSV_JULY),
        case(
            "csv_header_with_byte_order_mark",
            Csv,
            [b"\xEF\xBB\xBF".to_vec(), join(&csv_july())].concat(),
        )
        .rec(CSV_JULY),
        case(
            "csv_columns_in_another_order",
            Csv,
            join(
                &csv_july()
                    .iter()
                    .map(|l| {
                        let mut f: Vec<&str> = l.split(',').collect();
                        f.swap(0, 5);
                        f.join(",")
                    })
                    .collect::<Vec<_>>(),
            ),
        )
        .rec(CSV_JULY),
        case("csv_binary_garbage", Csv, b"\x00\x01\x02PK\x03\x04\xff\xfe".to_vec())
            .rej("bad_header", "ESIID", 1),
        case(
            "csv_non_numeric_kwh",
            Csv,
            join(&edit(csv_july(), 2, |l| l.replacen("0.250", "abc", 1))),
        )
        .rej("non_numeric_value", "USAGE_KWH", 2),
        case(
            "csv_exponent_kwh",
            Csv,
            join(&edit(csv_july(), 50, |l| l.replacen("0.250", "2.5E-1", 1))),
        )
        .rej("non_numeric_value", "USAGE_KWH", 50),
        case(
            "csv_quoted_kwh_with_thousands_separator",
            Csv,
            join(&edit(csv_july(), 3, |l| l.replacen("0.250", "\"1,234.5\"", 1))),
        )
        .rej("non_numeric_value", "USAGE_KWH", 3),
        case(
            "csv_unquoted_thousands_separator_shifts_the_fields",
            Csv,
            join(&edit(csv_july(), 3, |l| l.replacen("0.250", "1,234.5", 1))),
        )
        .rej("bad_channel", "CONSUMPTION_SURPLUSGENERATION", 3)
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/95 E0 sum=23.750 900s"),
        case(
            "csv_kwh_with_19_digits",
            Csv,
            join(&edit(csv_july(), 2, |l| l.replacen("0.250", "1234567890123456789", 1))),
        )
        .rej("non_numeric_value", "USAGE_KWH", 2),
        case(
            "csv_negative_kwh_loads",
            Csv,
            join(&with_header(csv_rows(E17, july(), "-0.250"))),
        )
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/96 E0 sum=-24.000 900s"),
        case(
            "csv_commercial_size_values_load",
            Csv,
            join(&with_header(csv_rows(E17, july(), "364.125"))),
        )
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/96 E0 sum=34956.000 900s"),
        case(
            "csv_unknown_status",
            Csv,
            join(&edit(csv_july(), 2, |l| l.replacen(",A,", ",X,", 1))),
        )
        .rej("unknown_status", "ESTIMATED_ACTUAL", 2),
        case(
            "csv_value_with_empty_status",
            Csv,
            join(&edit(csv_july(), 97, |l| l.replacen(",A,", ",,", 1))),
        )
        .rej("unknown_status", "ESTIMATED_ACTUAL", 97),
        case(
            "csv_empty_kwh_is_a_missing_interval",
            Csv,
            join(&edit(csv_july(), 20, |l| l.replacen("0.250,A", ",", 1))),
        )
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/95 E0 sum=23.750 900s"),
        case(
            "csv_impossible_usage_date_row_alone",
            Csv,
            join(&edit(csv_july(), 50, |l| l.replacen("07/01/2025", "13/45/2025", 1))),
        )
        .rej("bad_timestamp", "USAGE_DATE", 50)
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/95 E0 sum=23.750 900s"),
        case(
            "csv_february_30th_everywhere",
            Csv,
            join(&with_header(
                csv_rows(E17, july(), "0.250")[..3]
                    .iter()
                    .map(|l| l.replacen("07/01/2025", "02/30/2025", 1))
                    .collect(),
            )),
        )
        .rej("bad_timestamp", "USAGE_DATE", 2)
        .rej("bad_timestamp", "USAGE_DATE", 3)
        .rej("bad_timestamp", "USAGE_DATE", 4),
        case(
            "csv_bad_revision_date",
            Csv,
            join(&edit(csv_july(), 2, |l| l.replacen("07/02/2025 07:37:17", "yesterday", 1))),
        )
        .rej("bad_timestamp", "REVISION_DATE", 2)
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/95 E0 sum=23.750 900s"),
        case(
            "csv_unknown_direction",
            Csv,
            join(&edit(csv_july(), 2, |l| l.replacen("Consumption", "Export", 1))),
        )
        .rej("bad_channel", "CONSUMPTION_SURPLUSGENERATION", 2)
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/95 E0 sum=23.750 900s"),
        case(
            "csv_surplus_generation_with_and_without_space",
            Csv,
            join(&with_header(
                csv_rows(E17, july(), "0.250")
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        let to = if i % 2 == 0 { "Surplus Generation" } else { "SurplusGeneration" };
                        l.replacen("Consumption", to, 1)
                    })
                    .collect(),
            )),
        )
        .rec("10443720000000001 ch1 2025-07-01 2025-07-01T05:00:00Z 96/96 E0 sum=24.000 900s"),
        case(
            "csv_15_digit_esiid_strict_rejects_every_row",
            Csv,
            join(&with_header(
                csv_rows("100000000000000", july(), "0.250")[..2].to_vec(),
            )),
        )
        .rej("invalid_esiid", "ESIID", 2)
        .rej("invalid_esiid", "ESIID", 3),
        case(
            "csv_15_digit_esiid_lenient",
            Csv,
            join(&with_header(csv_rows("100000000000000", july(), "0.250"))),
        )
        .lenient()
        .rec("100000000000000 ch4 2025-07-01 2025-07-01T05:00:00Z 96/96 E0 sum=24.000 900s"),
        case(
            "csv_row_without_its_last_two_fields",
            Csv,
            join(&edit(csv_july(), 10, |l| {
                l.trim_end_matches(",A,Consumption").to_owned()
            })),
        )
        .rej("missing_field", "ESTIMATED_ACTUAL", 10)
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/95 E0 sum=23.750 900s"),
        case(
            "csv_row_without_direction",
            Csv,
            join(&edit(csv_july(), 10, |l| l.trim_end_matches(",Consumption").to_owned())),
        )
        .rej("missing_field", "CONSUMPTION_SURPLUSGENERATION", 10)
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/95 E0 sum=23.750 900s"),
        case(
            "csv_extra_trailing_fields",
            Csv,
            join(&csv_july().iter().map(|l| format!("{l},x,,y")).collect::<Vec<_>>()),
        )
        .rec(CSV_JULY),
        case(
            "csv_every_field_quoted",
            Csv,
            join(
                &csv_july()
                    .iter()
                    .map(|l| l.split(',').map(|f| format!("\"{f}\"")).collect::<Vec<_>>().join(","))
                    .collect::<Vec<_>>(),
            ),
        )
        .rec(CSV_JULY),
        case(
            "csv_spaces_after_commas",
            Csv,
            join(&csv_july().iter().map(|l| l.replace(',', ", ")).collect::<Vec<_>>()),
        )
        .rec(CSV_JULY),
        case("csv_duplicate_row", Csv, {
            let l = csv_july();
            let dup = l[9].clone();
            join(&insert(l, 11, &dup))
        })
        .rej("duplicate_interval", "USAGE_START_TIME", 11),
        case(
            "csv_end_time_not_ending_the_interval",
            Csv,
            join(&edit(csv_july(), 11, |l| l.replacen(",02:30,", ",02:45,", 1))),
        )
        .rej("bad_timestamp", "USAGE_END_TIME", 11),
        case(
            "csv_start_time_25_00",
            Csv,
            join(&edit(csv_july(), 11, |l| l.replacen(",02:15,", ",25:00,", 1))),
        )
        .rej("bad_timestamp", "USAGE_START_TIME", 11),
        case(
            "csv_start_time_not_a_time",
            Csv,
            join(&edit(csv_july(), 11, |l| l.replacen(",02:15,", ",two fifteen,", 1))),
        )
        .rej("bad_timestamp", "USAGE_START_TIME", 11),
        case(
            "csv_start_time_off_the_grid",
            Csv,
            join(&edit(csv_july(), 11, |l| l.replacen(",02:15,02:30,", ",02:07,02:22,", 1))),
        )
        .rej("no_such_interval", "USAGE_START_TIME", 11),
        case(
            "csv_end_time_not_a_time",
            Csv,
            join(&edit(csv_july(), 11, |l| l.replacen(",02:30,", ",2.30,", 1))),
        )
        .rej("bad_timestamp", "USAGE_END_TIME", 11),
        case("csv_file_cut_inside_the_last_row", Csv, {
            let mut text = csv_july().join("\n");
            text.truncate(text.len() - ",0.250,A,Consumption".len());
            text
        })
        .rej("truncated_record", "row", 97),
        case("csv_file_cut_after_half_a_day", Csv, join(&csv_july()[..49]))
            .rej("truncated_record", "intervals", 2),
        case(
            "csv_spring_forward_96_rows_with_placeholders",
            Csv,
            join(&with_header(
                time::slot_wall_minutes(july(), 900)
                    .into_iter()
                    .map(|m| {
                        let blank = (120..180).contains(&m);
                        let (v, f) = if blank { ("", "") } else { ("0.250", "A") };
                        csv_row(E17, spring(), &hhmm(m), &hhmm(m + 15), v, f)
                    })
                    .collect(),
            )),
        )
        .rec("10443720000000001 ch4 2025-03-09 2025-03-09T06:00:00Z 92/92 E0 sum=23.000 900s"),
        case(
            "csv_spring_forward_92_rows",
            Csv,
            join(&with_header(csv_rows(E17, spring(), "0.250"))),
        )
        .rec("10443720000000001 ch4 2025-03-09 2025-03-09T06:00:00Z 92/92 E0 sum=23.000 900s"),
        case(
            "csv_spring_forward_gap_with_a_value",
            Csv,
            join(&insert(
                with_header(csv_rows(E17, spring(), "0.250")),
                10,
                &csv_row(E17, spring(), "02:00", "02:15", "0.250", "A"),
            )),
        )
        .rej("no_such_interval", "USAGE_START_TIME", 10),
        case(
            "csv_fall_back_100_rows_with_smt_mislabel",
            Csv,
            join(&edit(with_header(csv_rows(E17, fall(), "0.250")), 10, |l| {
                l.replacen(",01:00,01:15,", ",02:00,01:15,", 1)
            })),
        )
        .rec("10443720000000001 ch4 2025-11-02 2025-11-02T05:00:00Z 100/100 E0 sum=25.000 900s"),
        case(
            "csv_fall_back_day_with_96_single_pass_rows",
            Csv,
            join(&with_header(
                time::slot_wall_minutes(july(), 900)
                    .into_iter()
                    .map(|m| csv_row(E17, fall(), &hhmm(m), &hhmm(m + 15), "0.250", "A"))
                    .collect(),
            )),
        )
        .rec("10443720000000001 ch4 2025-11-02 2025-11-02T05:00:00Z 100/96 E0 sum=24.000 900s"),
        case(
            "csv_fall_back_repeated_hour_out_of_order",
            Csv,
            join(&{
                let mut l = with_header(csv_rows(E17, fall(), "0.250"));
                l.swap(10, 14);
                l
            }),
        )
        .rej("out_of_sequence", "USAGE_START_TIME", 12),
        case(
            "csv_mixed_crlf_and_lf",
            Csv,
            csv_july()
                .iter()
                .enumerate()
                .map(|(i, l)| format!("{l}{}", if i % 3 == 0 { "\r\n" } else { "\n" }))
                .collect::<String>(),
        )
        .rec(CSV_JULY),
        case("csv_blank_lines_between_rows", Csv, {
            let l = insert(insert(csv_july(), 30, ""), 60, " , ,");
            join(&l)
        })
        .rec(CSV_JULY),
        case(
            "csv_nul_byte_in_a_row",
            Csv,
            join(&edit(csv_july(), 10, |l| l.replacen("Consumption", "Consum\0ption", 1))),
        )
        .rej("invalid_text", "line", 10),
        case("csv_latin1_byte_in_a_row", Csv, {
            let mut b = join(&csv_july()[..49]);
            b.extend(join(&edit(csv_july()[49..].to_vec(), 1, |l| l.replacen("0.250", "0.2X0", 1))));
            let at = b.iter().position(|&c| c == b'X').unwrap();
            b[at] = 0xB5;
            b
        })
        .rej("invalid_text", "line", 50),
        case(
            "csv_resaved_by_a_spreadsheet",
            Csv,
            join(&with_header(
                time::slot_wall_minutes(july(), 900)
                    .into_iter()
                    .map(|m| {
                        let t = |m: u16| format!("{}:{:02}", m / 60 % 24, m % 60);
                        format!("'{E17},7/1/2025,7/2/2025 7:37,{},{},0.25,A,Consumption", t(m), t(m + 15))
                    })
                    .collect(),
            )),
        )
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/96 E0 sum=24.00 900s"),
        case(
            "csv_last_interval_ending_24_00",
            Csv,
            join(&edit(csv_july(), 97, |l| l.replacen(",23:45,00:00,", ",23:45,24:00,", 1))),
        )
        .rec(CSV_JULY),
        case(
            "csv_day_in_two_blocks",
            Csv,
            join(&with_header(cat(&[
                csv_rows(E17, july(), "0.250")[..48].to_vec(),
                csv_rows(E22, july(), "0.500"),
                csv_rows(E17, july(), "0.250")[48..].to_vec(),
            ]))),
        )
        .rec("1008901000000000000002 ch4 2025-07-01 2025-07-01T05:00:00Z 96/96 E0 sum=48.000 900s")
        .rec(CSV_JULY),
        case(
            "csv_day_written_backwards",
            Csv,
            join(&with_header(csv_rows(E17, july(), "0.250").into_iter().rev().collect())),
        )
        .rec(CSV_JULY),
        case(
            "csv_consumption_and_generation_interleaved",
            Csv,
            join(&with_header(
                csv_rows(E17, july(), "0.250")
                    .into_iter()
                    .flat_map(|l| {
                        let g = l.replacen("Consumption", "Surplus Generation", 1).replacen(",0.250,A,", ",0.125,E,", 1);
                        [l, g]
                    })
                    .collect(),
            )),
        )
        .rec(CSV_JULY)
        .rec("10443720000000001 ch1 2025-07-01 2025-07-01T05:00:00Z 96/96 E96 sum=12.000 900s"),
        case(
            "csv_same_day_two_revisions",
            Csv,
            join(&with_header(cat(&[
                csv_rows(E17, july(), "0.250"),
                csv_rows(E17, july(), "0.300")
                    .iter()
                    .map(|l| l.replacen("07:37:17", "09:00:00", 1))
                    .collect(),
            ]))),
        )
        .rec(CSV_JULY)
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/96 E0 sum=28.800 900s"),
        case(
            "csv_over_long_line_after_a_good_day",
            Csv,
            join(&cat(&[csv_july(), vec![huge_line()]])),
        )
        .rej("line_too_long", "line", 98)
        .rec(CSV_JULY),
        // A row whose key cannot be read is rejected alone, and its day loads with that slot
        // missing, in the file's last row too (found by this corpus: the day was rejected as cut
        // off; fixed).
        case(
            "csv_bad_revision_in_the_last_row",
            Fmt::Csv,
            join(&edit(csv_july(), 97, |l| {
                l.replacen("07/02/2025 07:37:17", "yesterday", 1)
            })),
        )
        .rej("bad_timestamp", "REVISION_DATE", 97)
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/95 E0 sum=23.750 900s"),
        case("csv_unknown_direction_in_the_last_row", Fmt::Csv, {
            join(&edit(csv_july(), 97, |l| {
                l.replacen("Consumption", "Export", 1)
            }))
        })
        .rej("bad_channel", "CONSUMPTION_SURPLUSGENERATION", 97)
        .rec("10443720000000001 ch4 2025-07-01 2025-07-01T05:00:00Z 96/95 E0 sum=23.750 900s"),
    ]
}

fn daily_monthly_cases() -> Vec<Case> {
    use Fmt::{Daily, Monthly};
    vec![
        case("daily_good_reads_are_the_control", Daily, join(&daily()))
            .rec(DAILY_1)
            .rec(DAILY_2),
        case("daily_empty_file", Daily, Vec::new()),
        case(
            "daily_bad_read_date",
            Daily,
            join(&edit(daily(), 2, |l| l.replacen("07/01/2025", "2025/07/01", 1))),
        )
        .rej("bad_timestamp", "READ_DATE", 2)
        .rec(DAILY_2),
        case(
            "daily_bad_start_reading",
            Daily,
            join(&edit(daily(), 2, |l| l.replacen("24002.915", "24.002.915", 1))),
        )
        .rej("non_numeric_value", "START_READING", 2)
        .rec(DAILY_2),
        case(
            "daily_bad_revision",
            Daily,
            join(&edit(daily(), 3, |l| l.replacen("07/02/2025 07:41:22", "07/02/2025 7pm", 1))),
        )
        .rec(DAILY_1)
        .rej("bad_timestamp", "REVISION_DATE", 3),
        case(
            "daily_header_without_esiid",
            Daily,
            join(&edit(daily(), 1, |l| l.replacen("ESIID", "METER", 1))),
        )
        .rej("bad_header", "ESIID", 1),
        case(
            "daily_invalid_esiid",
            Daily,
            join(&edit(daily(), 2, |l| l.replacen(E17, "1044372000000000", 1))),
        )
        .rej("invalid_esiid", "ESIID", 2)
        .rec(DAILY_2),
        case(
            "daily_nul_byte",
            Daily,
            join(&edit(daily(), 3, |l| l.replacen("9.75", "9.7\x005", 1))),
        )
        .rec(DAILY_1)
        .rej("invalid_text", "line", 3),
        case(
            "daily_empty_usage_is_none",
            Daily,
            join(&edit(daily(), 3, |l| l.trim_end_matches("9.75").to_owned())),
        )
        .rec(DAILY_1)
        .rec("1008901000000000000002 2025-07-01 rev=Some(\"2025-07-02T12:41:22Z\") start=Some(\"100.5\") end=Some(\"110.25\") usage=None"),
        case("monthly_good_period_is_the_control", Monthly, join(&monthly())).rec(MONTHLY_1),
        case(
            "monthly_bad_end_date",
            Monthly,
            join(&edit(monthly(), 2, |l| l.replacen("07/02/2025", "07/32/2025", 1))),
        )
        .rej("bad_timestamp", "END_DATE", 2),
        case(
            "monthly_bad_kwh",
            Monthly,
            join(&edit(monthly(), 2, |l| l.replacen("1234.5", "1.2k", 1))),
        )
        .rej("non_numeric_value", "ACTUAL_KWH", 2),
        case(
            "monthly_header_without_end_date",
            Monthly,
            join(&edit(monthly(), 1, |l| l.replacen("END_DATE", "FINISH", 1))),
        )
        .rej("bad_header", "END_DATE", 1),
        // A billing period that ends before it starts is rejected, as LSE does for the same
        // mistake (found by this corpus, fixed).
        case(
            "monthly_period_ending_before_it_starts",
            Fmt::Monthly,
            join(&edit(monthly(), 2, |l| {
                l.replacen("06/03/2025,07/02/2025", "07/02/2025,06/03/2025", 1)
            })),
        )
        .rej("stop_before_start", "END_DATE", 2),
    ]
}

fn all_cases() -> Vec<Case> {
    [lse_cases(), csv_cases(), daily_monthly_cases()].concat()
}

#[test]
fn corpus_of_bad_inputs_gives_the_exact_outcome() {
    let started = Instant::now();
    let cases = all_cases();
    let mut names = std::collections::HashSet::new();
    for c in &cases {
        assert!(names.insert(c.name), "case name {} used twice", c.name);
    }
    let failures: Vec<String> = cases.iter().filter_map(check).collect();
    let count = |f: Fmt| cases.iter().filter(|c| c.fmt == f).count();
    println!(
        "core corpus: {} cases ({} LSE, {} interval CSV, {} daily, {} monthly), {} failed, in {:.2?}",
        cases.len(),
        count(Fmt::Lse),
        count(Fmt::Csv),
        count(Fmt::Daily),
        count(Fmt::Monthly),
        failures.len(),
        started.elapsed()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
