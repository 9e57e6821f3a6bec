//! `smt.lse_parse(bytea)`, `smt.csv_parse(bytea)`, `smt.detect_format(bytea)`: a file's records as
//! rows, for looking at a file from SQL before (or without) loading it. Rejected records are
//! reported as WARNINGs naming the line, field and reason; the good ones are returned.

use pgrx::datum::{Date, TimestampWithTimeZone};
use pgrx::prelude::*;
use pgrx::AnyNumeric;
use smt_core::{EsiidMode, Format};

use crate::convert;

/// One row of `smt.lse_parse` / `smt.csv_parse`. (The `#[pg_extern]` signatures must spell the
/// column names out with `name!`; this alias is the same tuple for the shared body.)
type RecordRow = (
    String,
    i16,
    Date,
    TimestampWithTimeZone,
    i32,
    Vec<Option<AnyNumeric>>,
    Vec<Option<String>>,
    Option<String>,
    i64,
);

fn parse(data: &[u8], format: Format, lenient: bool) -> Vec<RecordRow> {
    let records = smt_core::interval_records(data, format, EsiidMode::lenient_if(lenient))
        .expect("interval format");
    let mut rows = Vec::new();
    for item in records {
        match item {
            Ok(r) => rows.push((
                r.esiid.clone(),
                i16::from(r.channel),
                convert::date(r.day),
                convert::timestamptz(r.revision),
                r.interval_seconds as i32,
                r.intervals
                    .iter()
                    .map(|i| i.map(|x| convert::numeric(x.kwh)))
                    .collect(),
                r.intervals
                    .iter()
                    .map(|i| i.map(|x| x.status.code().to_string()))
                    .collect(),
                r.transaction_id.clone(),
                r.line as i64,
            )),
            Err(e) => pgrx::warning!("line {}: {}: {} ({})", e.line, e.field, e.reason, e.kind),
        }
    }
    rows
}

/// The records of an LSE file: one row per ESIID, channel and operating day.
#[pg_extern(immutable, parallel_safe, strict)]
fn lse_parse(
    data: &[u8],
    lenient_esiid: default!(bool, false),
) -> TableIterator<
    'static,
    (
        name!(esiid, String),
        name!(channel, i16),
        name!(day, Date),
        name!(revision, TimestampWithTimeZone),
        name!(interval_seconds, i32),
        name!(kwh, Vec<Option<AnyNumeric>>),
        name!(status, Vec<Option<String>>),
        name!(transaction_id, Option<String>),
        name!(line, i64),
    ),
> {
    TableIterator::new(parse(data, Format::Lse, lenient_esiid))
}

/// The records of an SMT interval CSV file, grouped into the same shape as `lse_parse`.
#[pg_extern(immutable, parallel_safe, strict)]
fn csv_parse(
    data: &[u8],
    lenient_esiid: default!(bool, false),
) -> TableIterator<
    'static,
    (
        name!(esiid, String),
        name!(channel, i16),
        name!(day, Date),
        name!(revision, TimestampWithTimeZone),
        name!(interval_seconds, i32),
        name!(kwh, Vec<Option<AnyNumeric>>),
        name!(status, Vec<Option<String>>),
        name!(transaction_id, Option<String>),
        name!(line, i64),
    ),
> {
    TableIterator::new(parse(data, Format::IntervalCsv, lenient_esiid))
}

/// `lse`, `interval_csv`, `daily_csv`, `monthly_csv`, or NULL: judged by content, not name.
#[pg_extern(immutable, parallel_safe, strict)]
fn detect_format(data: &[u8]) -> Option<&'static str> {
    smt_core::format::detect(&data[..data.len().min(smt_core::format::HEAD_BYTES)])
        .map(Format::name)
}

/// Intervals in an operating day (Central prevailing time): 96, 92 or 100 at 900 s.
#[pg_extern(immutable, parallel_safe, strict)]
fn day_slots(day: Date, interval_seconds: default!(i32, 900)) -> i32 {
    let seconds = u32::try_from(interval_seconds)
        .ok()
        .filter(|s| *s > 0)
        .unwrap_or_else(|| {
            convert::error(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("interval_seconds must be positive, not {interval_seconds}"),
            )
        });
    smt_core::time::slots_in_day(convert::from_date(day), seconds) as i32
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;
    use smt_core::testdata;

    fn generated(format: &str) -> (Vec<u8>, Vec<smt_core::IntervalRecord>) {
        let days = testdata::dst_days_2025();
        let records = testdata::Generator::new(7).records(2, &days);
        let bytes = if format == "lse" {
            testdata::lse_bytes(&records, true)
        } else {
            testdata::csv_bytes(&records)
        };
        (bytes, records)
    }

    #[pg_test]
    fn lse_parse_returns_one_row_per_record_with_exact_values() {
        let (bytes, records) = generated("lse");
        let rows = Spi::get_one_with_args::<i64>(
            "SELECT count(*) FROM smt.lse_parse($1)",
            &[bytes.clone().into()],
        );
        assert_eq!(rows.unwrap(), Some(records.len() as i64));
        // Intervals per day follow DST: 92 on the spring day, 100 on the fall day.
        let spring = Spi::get_one_with_args::<i32>(
            "SELECT max(cardinality(kwh)) FROM smt.lse_parse($1) WHERE day = '2025-03-09'",
            &[bytes.clone().into()],
        );
        assert_eq!(spring.unwrap(), Some(92));
        let fall = Spi::get_one_with_args::<i32>(
            "SELECT max(cardinality(kwh)) FROM smt.lse_parse($1) WHERE day = '2025-11-02'",
            &[bytes.clone().into()],
        );
        assert_eq!(fall.unwrap(), Some(100));
        // The exact sum of every value equals core's exact sum.
        let expected: smt_core::DecimalSum = records
            .iter()
            .flat_map(|r| r.intervals.iter().flatten().map(|x| x.kwh))
            .sum();
        let total = Spi::get_one_with_args::<String>(
            "SELECT sum(k)::text FROM smt.lse_parse($1), unnest(kwh) k",
            &[bytes.into()],
        );
        assert!(expected.equals_text(&total.unwrap().unwrap()));
    }

    #[pg_test]
    fn csv_parse_matches_lse_parse_for_the_same_records() {
        let (lse, _) = generated("lse");
        let (csv, _) = generated("csv");
        let same = Spi::get_one_with_args::<bool>(
            "SELECT (SELECT array_agg((esiid, channel, day, revision, kwh, status) ORDER BY esiid, channel, day) FROM smt.lse_parse($1))
                  = (SELECT array_agg((esiid, channel, day, revision, kwh, status) ORDER BY esiid, channel, day) FROM smt.csv_parse($2))",
            &[lse.into(), csv.into()],
        );
        assert_eq!(same.unwrap(), Some(true));
    }

    #[pg_test]
    fn bad_records_are_skipped_not_fatal() {
        let mut bytes = b"00000001,10443720000000001,4,20250701000000,20250701235900,Y,N\n00000004,20250703060000,M\n10000000,1.0,A,,x,A,,\n".to_vec();
        let (good, records) = generated("lse");
        bytes.extend_from_slice(&good);
        let rows = Spi::get_one_with_args::<i64>(
            "SELECT count(*) FROM smt.lse_parse($1)",
            &[bytes.into()],
        );
        assert_eq!(rows.unwrap(), Some(records.len() as i64));
    }

    #[pg_test]
    fn detects_formats_and_counts_day_slots() {
        let (lse, _) = generated("lse");
        let (csv, _) = generated("csv");
        assert_eq!(
            Spi::get_one_with_args::<String>("SELECT smt.detect_format($1)", &[lse.into()])
                .unwrap()
                .as_deref(),
            Some("lse")
        );
        assert_eq!(
            Spi::get_one_with_args::<String>("SELECT smt.detect_format($1)", &[csv.into()])
                .unwrap()
                .as_deref(),
            Some("interval_csv")
        );
        assert_eq!(
            Spi::get_one::<String>("SELECT smt.detect_format('hello'::bytea)").unwrap(),
            None
        );
        assert_eq!(
            Spi::get_one::<i32>("SELECT smt.day_slots('2025-03-09')").unwrap(),
            Some(92)
        );
        assert_eq!(
            Spi::get_one::<i32>("SELECT smt.day_slots('2025-11-02')").unwrap(),
            Some(100)
        );
        assert_eq!(
            Spi::get_one::<i32>("SELECT smt.day_slots('2025-07-01', 3600)").unwrap(),
            Some(24)
        );
    }
}
