//! SMT monthly billed usage: one row per ESIID and billing period. Not confirmed as a CSV layout;
//! columns are found by name with aliases, and only ESIID and the period's dates are required.

use std::io::BufRead;

use chrono::{DateTime, NaiveDate, Utc};

use super::{split, HeaderMap};
use crate::decimal::Decimal;
use crate::esiid::EsiidMode;
use crate::lines::Lines;
use crate::record::RecordError;

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

struct Columns {
    esiid: usize,
    start: usize,
    end: usize,
    revision: Option<usize>,
    values: [Option<usize>; 5],
}

pub struct MonthlyUsageReader<R> {
    lines: Lines<R>,
    mode: EsiidMode,
    columns: Option<Columns>,
    done: bool,
}

impl<R: BufRead> MonthlyUsageReader<R> {
    pub fn new(src: R, mode: EsiidMode) -> Self {
        MonthlyUsageReader {
            lines: Lines::new(src),
            mode,
            columns: None,
            done: false,
        }
    }
}

impl<R: BufRead> Iterator for MonthlyUsageReader<R> {
    type Item = Result<MonthlyUsage, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let line = match super::next_row(&mut self.lines, &mut self.done)? {
                Ok(line) => line,
                Err(e) => return Some(Err(e)),
            };
            let line_no = self.lines.line_no();
            let Some(c) = &self.columns else {
                let h = HeaderMap::new(&line);
                let header = (|| {
                    Ok(Columns {
                        esiid: h.require(&["ESIID"], line_no)?,
                        start: h.require(START_DATE, line_no)?,
                        end: h.require(END_DATE, line_no)?,
                        revision: h.find(&["REVISION_DATE"]),
                        values: [ACTUAL_KWH, METERED_KW, BILLED_KW, METERED_KVA, BILLED_KVA]
                            .map(|a| h.find(a)),
                    })
                })();
                match header {
                    Ok(c) => self.columns = Some(c),
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                continue;
            };
            let row = split(&line);
            let value = |k: usize, names: &[&str]| {
                super::decimal_field(&row, c.values[k], names[0], line_no)
            };
            let parsed = (|| {
                Ok(MonthlyUsage {
                    esiid: super::esiid_field(&row, c.esiid, self.mode, line_no)?,
                    start_date: super::date_field(&row, c.start, START_DATE[0], line_no)?,
                    end_date: super::date_field(&row, c.end, END_DATE[0], line_no)?,
                    revision: super::revision_field(&row, c.revision, line_no)?,
                    actual_kwh: value(0, ACTUAL_KWH)?,
                    metered_kw: value(1, METERED_KW)?,
                    billed_kw: value(2, BILLED_KW)?,
                    metered_kva: value(3, METERED_KVA)?,
                    billed_kva: value(4, BILLED_KVA)?,
                    line: line_no,
                })
            })();
            return Some(parsed.map_err(|e: RecordError| e.with_raw(&line)));
        }
        None
    }
}
