//! SMT monthly billed usage: one row per ESIID and billing period. Not confirmed as a CSV layout;
//! columns are found by name with aliases, and only ESIID and the period's dates are required.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};

use super::{HeaderMap, RowReader, RowReport};
use crate::decimal::Decimal;
use crate::esiid::EsiidMode;
use crate::record::{ErrorKind, RecordError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonthlyUsage {
    pub esiid: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub revision: Option<DateTime<Utc>>,
    pub actual_kwh: Option<Decimal>,
    pub metered_kw: Option<Decimal>,
    pub billed_kw: Option<Decimal>,
    pub metered_kva: Option<Decimal>,
    pub billed_kva: Option<Decimal>,
    pub line: u64,
}

pub(crate) const START_DATE: &[&str] = &[
    "START_DATE",
    "USAGE_START_DATE",
    "BILLING_START_DATE",
    "PERIOD_START",
];
pub(crate) const END_DATE: &[&str] = &[
    "END_DATE",
    "USAGE_END_DATE",
    "BILLING_END_DATE",
    "PERIOD_END",
];
const ACTUAL_KWH: &[&str] = &["ACTUAL_KWH", "USAGE_KWH", "KWH"];
const METERED_KW: &[&str] = &["METERED_KW"];
const BILLED_KW: &[&str] = &["BILLED_KW"];
const METERED_KVA: &[&str] = &["METERED_KVA"];
const BILLED_KVA: &[&str] = &["BILLED_KVA"];

pub struct Columns {
    esiid: usize,
    start: usize,
    end: usize,
    revision: Option<usize>,
    values: [Option<usize>; 5],
}

/// Monthly billed usage, one billing period per row.
pub struct MonthlyReport;

/// Streams monthly usage rows; a bad row is one error and reading goes on.
pub type MonthlyUsageReader<R> = RowReader<R, MonthlyReport>;

impl RowReport for MonthlyReport {
    type Columns = Columns;
    type Row = MonthlyUsage;

    fn columns(h: &HeaderMap, line: u64) -> Result<Columns, RecordError> {
        Ok(Columns {
            esiid: h.require(&["ESIID"], line)?,
            start: h.require(START_DATE, line)?,
            end: h.require(END_DATE, line)?,
            revision: h.find(&["REVISION_DATE"]),
            values: [ACTUAL_KWH, METERED_KW, BILLED_KW, METERED_KVA, BILLED_KVA].map(|a| h.find(a)),
        })
    }

    fn row(
        c: &Columns,
        row: &[Cow<'_, str>],
        mode: EsiidMode,
        line: u64,
    ) -> Result<MonthlyUsage, RecordError> {
        let esiid = super::esiid_field(row, c.esiid, mode, line)?;
        let start_date = super::date_field(row, c.start, START_DATE[0], line)
            .map_err(|e| e.with_context(Some(&esiid), None, None))?;
        // A bad value names the ESIID and the period's first day (the reject's day).
        let context = |e: RecordError| e.with_context(Some(&esiid), None, Some(start_date));
        let value = |k: usize, names: &[&str]| {
            super::decimal_field(row, c.values[k], names[0], line).map_err(context)
        };
        let end_date = super::date_field(row, c.end, END_DATE[0], line).map_err(context)?;
        if end_date < start_date {
            return Err(context(RecordError::new(
                ErrorKind::StopBeforeStart,
                line,
                END_DATE[0],
                format!("billing period ends {end_date}, before it starts {start_date}"),
            )));
        }
        let revision = super::revision_field(row, c.revision, line).map_err(context)?;
        let [actual_kwh, metered_kw, billed_kw, metered_kva, billed_kva] = [
            value(0, ACTUAL_KWH)?,
            value(1, METERED_KW)?,
            value(2, BILLED_KW)?,
            value(3, METERED_KVA)?,
            value(4, BILLED_KVA)?,
        ];
        Ok(MonthlyUsage {
            esiid,
            start_date,
            end_date,
            revision,
            actual_kwh,
            metered_kw,
            billed_kw,
            metered_kva,
            billed_kva,
            line,
        })
    }
}
