//! SMT daily meter read CSV: one row per ESIID and day with the register reads and the day's kWh.
//! The column set is not confirmed by a primary source, so columns are found by name with aliases,
//! and only ESIID and the date are required.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};

use super::{HeaderMap, RowReader, RowReport};
use crate::decimal::Decimal;
use crate::esiid::EsiidMode;
use crate::record::RecordError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyRead {
    pub esiid: String,
    pub day: NaiveDate,
    pub revision: Option<DateTime<Utc>>,
    pub start_reading: Option<Decimal>,
    pub end_reading: Option<Decimal>,
    pub usage_kwh: Option<Decimal>,
    pub line: u64,
}

pub(crate) const DAY: &[&str] = &["READ_DATE", "USAGE_DATE", "DATE"];
pub(crate) const START_READING: &[&str] = &[
    "START_READING",
    "STARTREADING",
    "BEGIN_READING",
    "START_READ",
];
pub(crate) const END_READING: &[&str] = &["END_READING", "END_READ"];
const USAGE: &[&str] = &["USAGE_KWH", "KWH", "USAGE"];

pub struct Columns {
    esiid: usize,
    day: usize,
    revision: Option<usize>,
    start: Option<usize>,
    end: Option<usize>,
    usage: Option<usize>,
}

/// Daily meter reads, one per row.
pub struct DailyReport;

/// Streams daily reads; a bad row is one error and reading goes on.
pub type DailyReadReader<R> = RowReader<R, DailyReport>;

impl RowReport for DailyReport {
    type Columns = Columns;
    type Row = DailyRead;

    fn columns(h: &HeaderMap, line: u64) -> Result<Columns, RecordError> {
        Ok(Columns {
            esiid: h.require(&["ESIID"], line)?,
            day: h.require(DAY, line)?,
            revision: h.find(&["REVISION_DATE"]),
            start: h.find(START_READING),
            end: h.find(END_READING),
            usage: h.find(USAGE),
        })
    }

    fn row(
        c: &Columns,
        row: &[Cow<'_, str>],
        mode: EsiidMode,
        line: u64,
    ) -> Result<DailyRead, RecordError> {
        let esiid = super::esiid_field(row, c.esiid, mode, line)?;
        let day = super::date_field(row, c.day, DAY[0], line)
            .map_err(|e| e.with_context(Some(&esiid), None, None))?;
        // A reject of a later field says which ESIID-day it cost.
        let context = |e: RecordError| e.with_context(Some(&esiid), None, Some(day));
        Ok(DailyRead {
            revision: super::revision_field(row, c.revision, line).map_err(context)?,
            start_reading: super::decimal_field(row, c.start, START_READING[0], line)
                .map_err(context)?,
            end_reading: super::decimal_field(row, c.end, END_READING[0], line).map_err(context)?,
            usage_kwh: super::decimal_field(row, c.usage, USAGE[0], line).map_err(context)?,
            esiid,
            day,
            line,
        })
    }
}
