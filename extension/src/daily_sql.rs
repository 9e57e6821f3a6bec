//! Daily meter (register) reads of a kept file, for `smt._merge_daily` (sql/extension/daily.sql):
//! SMT's daily meter read CSV and replies of `/v2/dailyreads/`, parsed by smt-core.

use std::io::{BufReader, Cursor, Read};

use pgrx::datum::{Date, TimestampWithTimeZone};
use pgrx::prelude::*;
use pgrx::AnyNumeric;
use smt_core::format::HEAD_BYTES;
use smt_core::smt_csv::daily::DailyRead;
use smt_core::{EsiidMode, Format, RecordError};

use crate::{content, convert};

/// One row: a read (`role` record) or a bad entry (`reject`, with its ESIID and day when known).
type DailyRow = (
    &'static str,                  // role
    Option<String>,                // esiid
    Option<Date>,                  // day
    Option<TimestampWithTimeZone>, // revision
    Option<AnyNumeric>,            // start_reading
    Option<AnyNumeric>,            // end_reading
    Option<AnyNumeric>,            // usage_kwh
    i64,                           // line
    Option<String>,                // field
    Option<String>,                // kind
    Option<String>,                // reason
    Option<String>,                // raw
);

/// The daily reads of a file kept in smt.file_content, in file order: `record` for each read,
/// `reject` for each bad row or entry. A daily CSV is read a part at a time (bounded memory); an
/// API reply is read whole (one request's answer, bounded by smt-core).
#[pg_extern(volatile, parallel_unsafe, strict)]
#[search_path(pg_catalog, pg_temp)]
fn _daily_records(
    file_id: i64,
    lenient_esiid: bool,
) -> TableIterator<
    'static,
    (
        name!(role, &'static str),
        name!(esiid, Option<String>),
        name!(day, Option<Date>),
        name!(revision, Option<TimestampWithTimeZone>),
        name!(start_reading, Option<AnyNumeric>),
        name!(end_reading, Option<AnyNumeric>),
        name!(usage_kwh, Option<AnyNumeric>),
        name!(line, i64),
        name!(field, Option<String>),
        name!(kind, Option<String>),
        name!(reason, Option<String>),
        name!(raw, Option<String>),
    ),
> {
    let mut content = content::Reader::new(file_id);
    let head = content.head(HEAD_BYTES);
    let format = match smt_core::format::detect(&head) {
        Some(f) if f.has_daily_reads() => f,
        other => convert::error(
            PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
            format!(
                "file {file_id} is not an SMT daily meter read CSV or daily reads reply (detected: {})",
                other.map_or("nothing known", Format::name)
            ),
        ),
    };
    let src = BufReader::with_capacity(256 * 1024, Cursor::new(head).chain(content));
    let reads = smt_core::daily_reads(src, format, EsiidMode::lenient_if(lenient_esiid))
        .expect("a daily format");
    TableIterator::new(reads.map(daily_row))
}

fn daily_row(item: Result<DailyRead, RecordError>) -> DailyRow {
    match item {
        Ok(r) => (
            "record",
            Some(r.esiid),
            Some(convert::date(r.day)),
            r.revision.map(convert::timestamptz),
            r.start_reading.map(convert::numeric),
            r.end_reading.map(convert::numeric),
            r.usage_kwh.map(convert::numeric),
            r.line as i64,
            None,
            None,
            None,
            None,
        ),
        Err(e) => (
            "reject",
            e.esiid.clone(),
            e.day.map(convert::date),
            None,
            None,
            None,
            None,
            e.record_line as i64,
            Some(e.field.clone()),
            Some(e.kind.name().to_owned()),
            Some(e.reason.clone()),
            Some(e.raw.clone()),
        ),
    }
}
