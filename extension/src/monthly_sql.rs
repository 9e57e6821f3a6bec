//! Monthly billed usage of a kept file, for `smt._merge_monthly` (sql/extension/monthly.sql):
//! SMT's monthly usage CSV, parsed by smt-core (columns found by name with aliases).

use std::io::{BufReader, Cursor, Read};

use pgrx::datum::{Date, TimestampWithTimeZone};
use pgrx::prelude::*;
use pgrx::AnyNumeric;
use smt_core::format::HEAD_BYTES;
use smt_core::smt_csv::monthly::{MonthlyUsage, MonthlyUsageReader};
use smt_core::{EsiidMode, Format, RecordError};

use crate::{content, convert};

/// One row: a billing period (`role` record) or a bad row (`reject`, with its ESIID and start
/// date when known).
type MonthlyRow = (
    &'static str,                  // role
    Option<String>,                // esiid
    Option<Date>,                  // start_date
    Option<Date>,                  // end_date
    Option<TimestampWithTimeZone>, // revision
    Option<AnyNumeric>,            // actual_kwh
    Option<AnyNumeric>,            // metered_kw
    Option<AnyNumeric>,            // billed_kw
    Option<AnyNumeric>,            // metered_kva
    Option<AnyNumeric>,            // billed_kva
    i64,                           // line
    Option<String>,                // field
    Option<String>,                // kind
    Option<String>,                // reason
    Option<String>,                // raw
);

/// The monthly usage rows of a file kept in smt.file_content, in file order, read a part at a
/// time (bounded memory): `record` for each period, `reject` for each bad row.
#[pg_extern(volatile, parallel_unsafe, strict)]
#[search_path(pg_catalog, pg_temp)]
fn _monthly_records(
    file_id: i64,
    lenient_esiid: bool,
) -> TableIterator<
    'static,
    (
        name!(role, &'static str),
        name!(esiid, Option<String>),
        name!(start_date, Option<Date>),
        name!(end_date, Option<Date>),
        name!(revision, Option<TimestampWithTimeZone>),
        name!(actual_kwh, Option<AnyNumeric>),
        name!(metered_kw, Option<AnyNumeric>),
        name!(billed_kw, Option<AnyNumeric>),
        name!(metered_kva, Option<AnyNumeric>),
        name!(billed_kva, Option<AnyNumeric>),
        name!(line, i64),
        name!(field, Option<String>),
        name!(kind, Option<String>),
        name!(reason, Option<String>),
        name!(raw, Option<String>),
    ),
> {
    let mut content = content::Reader::new(file_id);
    let head = content.head(HEAD_BYTES);
    match smt_core::format::detect(&head) {
        Some(Format::MonthlyCsv) => {}
        other => convert::error(
            PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
            format!(
                "file {file_id} is not an SMT monthly usage CSV (detected: {})",
                other.map_or("nothing known", Format::name)
            ),
        ),
    }
    let src = BufReader::with_capacity(256 * 1024, Cursor::new(head).chain(content));
    let rows = MonthlyUsageReader::new(src, EsiidMode::lenient_if(lenient_esiid));
    TableIterator::new(rows.map(monthly_row))
}

fn monthly_row(item: Result<MonthlyUsage, RecordError>) -> MonthlyRow {
    match item {
        Ok(m) => (
            "record",
            Some(m.esiid),
            Some(convert::date(m.start_date)),
            Some(convert::date(m.end_date)),
            m.revision.map(convert::timestamptz),
            m.actual_kwh.map(convert::numeric),
            m.metered_kw.map(convert::numeric),
            m.billed_kw.map(convert::numeric),
            m.metered_kva.map(convert::numeric),
            m.billed_kva.map(convert::numeric),
            m.line as i64,
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
