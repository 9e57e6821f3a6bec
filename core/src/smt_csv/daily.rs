//! SMT daily meter read CSV: one row per ESIID and day with the register reads and the day's kWh.
//! The column set is not confirmed by a primary source, so columns are found by name with aliases,
//! and only ESIID and the date are required.

use std::io::BufRead;

use chrono::{DateTime, NaiveDate, Utc};

use super::{split, HeaderMap};
use crate::decimal::Decimal;
use crate::esiid::EsiidMode;
use crate::lines::Lines;
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

struct Columns {
    esiid: usize,
    day: usize,
    revision: Option<usize>,
    start: Option<usize>,
    end: Option<usize>,
    usage: Option<usize>,
}

/// Streams daily reads; a bad row is one error and reading goes on.
pub struct DailyReadReader<R> {
    lines: Lines<R>,
    mode: EsiidMode,
    columns: Option<Columns>,
    done: bool,
}

impl<R: BufRead> DailyReadReader<R> {
    pub fn new(src: R, mode: EsiidMode) -> Self {
        DailyReadReader {
            lines: Lines::new(src),
            mode,
            columns: None,
            done: false,
        }
    }
}

impl<R: BufRead> Iterator for DailyReadReader<R> {
    type Item = Result<DailyRead, RecordError>;

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
                        day: h.require(DAY, line_no)?,
                        revision: h.find(&["REVISION_DATE"]),
                        start: h.find(START_READING),
                        end: h.find(END_READING),
                        usage: h.find(USAGE),
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
            let parsed = (|| {
                Ok(DailyRead {
                    esiid: super::esiid_field(&row, c.esiid, self.mode, line_no)?,
                    day: super::date_field(&row, c.day, DAY[0], line_no)?,
                    revision: super::revision_field(&row, c.revision, line_no)?,
                    start_reading: super::decimal_field(&row, c.start, START_READING[0], line_no)?,
                    end_reading: super::decimal_field(&row, c.end, END_READING[0], line_no)?,
                    usage_kwh: super::decimal_field(&row, c.usage, USAGE[0], line_no)?,
                    line: line_no,
                })
            })();
            return Some(parsed.map_err(|e: RecordError| e.with_raw(&line)));
        }
        None
    }
}
