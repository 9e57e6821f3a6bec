//! `smt.lse_parse(bytea)`, `smt.csv_parse(bytea)`, `smt.detect_format(bytea)`: a file's records as
//! rows, for looking at a file from SQL before (or without) loading it. Rejected records are
//! reported as WARNINGs naming the line, field and reason; the good ones are returned.

use pgrx::datum::{Date, TimestampWithTimeZone};
use pgrx::prelude::*;
use pgrx::AnyNumeric;
use smt_core::{EsiidMode, Format};

use crate::convert;

pub fn esiid_mode(lenient: bool) -> EsiidMode {
    if lenient {
        EsiidMode::Lenient
    } else {
        EsiidMode::Strict
    }
}

fn parse(
    data: &[u8],
    format: Format,
    lenient: bool,
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
    let records =
        smt_core::interval_records(data, format, esiid_mode(lenient)).expect("interval format");
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
    TableIterator::new(rows)
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
    parse(data, Format::Lse, lenient_esiid)
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
    parse(data, Format::IntervalCsv, lenient_esiid)
}

/// `lse`, `interval_csv`, `daily_csv`, `monthly_csv`, or NULL: judged by content, not name.
#[pg_extern(immutable, parallel_safe, strict)]
fn detect_format(data: &[u8]) -> Option<&'static str> {
    smt_core::format::detect(&data[..data.len().min(64 * 1024)]).map(Format::name)
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
