//! SMT 15-minute interval usage CSV.
//!
//! ```text
//! ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION
//! '10443720000000001,07/01/2025,07/02/2025 07:37:17,00:00,00:15,0.580,A,Consumption
//! ```
//!
//! One row per interval. Consecutive rows with the same ESIID, operating day, revision and
//! direction form one [`IntervalRecord`], so an "all versions" report yields one record per
//! revision. Rows are grouped as they come (SMT writes each ESIID-day together), which keeps
//! memory constant; a group that shows up again later becomes a second record.
//!
//! Times are wall-clock: on the fall-back day 01:00–01:45 appears twice, in order; on the
//! spring-forward day 02:00–02:45 is absent or has an empty kWh. Each row is placed by its start
//! time into the day's slots (the first free slot with that wall time, after the previous row's
//! slot when there is one), so both DST days come out right.
//!
//! A file cut short is a truncated record, as in LSE: the last record is rejected when its day's
//! last interval never came, or when the file ends inside a row (a last line, without a line
//! ending, that has fewer fields than the header).

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::rc::Rc;

use chrono::{DateTime, NaiveDate, Utc};

use super::{field, split, HeaderMap};
use crate::decimal::Decimal;
use crate::esiid::{self, EsiidMode};
use crate::lines::{Line, Lines};
use crate::record::{
    ErrorKind, IntervalRecord, Reading, RecordError, Status, CHANNEL_GENERATION, CHANNEL_LOAD,
};
use crate::time::{self, TimeBasis};

pub const HEADER: &str =
    "ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION";
const INTERVAL_SECONDS: u32 = 900;

#[derive(Clone, Copy, Debug, Default)]
pub struct CsvOptions {
    pub esiid_mode: EsiidMode,
}

struct Columns {
    esiid: usize,
    day: usize,
    revision: usize,
    start: usize,
    end: Option<usize>,
    kwh: usize,
    status: usize,
    direction: Option<usize>,
}

impl Columns {
    fn from_header(h: &HeaderMap, line: u64) -> Result<Columns, RecordError> {
        Ok(Columns {
            esiid: h.require(&["ESIID"], line)?,
            day: h.require(&["USAGE_DATE", "DATE"], line)?,
            revision: h.require(&["REVISION_DATE"], line)?,
            start: h.require(&["USAGE_START_TIME", "START_TIME"], line)?,
            end: h.find(&["USAGE_END_TIME", "END_TIME"]),
            kwh: h.require(&["USAGE_KWH", "KWH"], line)?,
            status: h.require(&["ESTIMATED_ACTUAL"], line)?,
            direction: h.find(&["CONSUMPTION_SURPLUSGENERATION"]),
        })
    }
}

#[derive(Clone, PartialEq, Eq)]
struct Key {
    esiid: String,
    day: NaiveDate,
    revision: DateTime<Utc>,
    channel: u8,
}

struct Group {
    key: Key,
    line: u64,
    slots: Rc<[u16]>,
    intervals: Vec<Option<Reading>>,
    filled: Vec<bool>,
    last: Option<usize>,
    error: Option<RecordError>,
}

pub struct IntervalCsvReader<R> {
    lines: Lines<R>,
    options: CsvOptions,
    columns: Option<Columns>,
    pending: Option<Group>,
    day_slots: HashMap<NaiveDate, Rc<[u16]>>,
    /// Fields in the header: a cut-off last row has fewer.
    header_width: usize,
    done: bool,
}

impl<R: BufRead> IntervalCsvReader<R> {
    pub fn new(src: R, options: CsvOptions) -> Self {
        IntervalCsvReader {
            lines: Lines::new(src),
            options,
            columns: None,
            pending: None,
            day_slots: HashMap::new(),
            header_width: 0,
            done: false,
        }
    }

    fn slots(&mut self, day: NaiveDate) -> Rc<[u16]> {
        self.day_slots
            .entry(day)
            .or_insert_with(|| time::slot_wall_minutes(day, INTERVAL_SECONDS).into())
            .clone()
    }
}

impl<R: BufRead> Iterator for IntervalCsvReader<R> {
    type Item = Result<IntervalRecord, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let line_no;
            let row: Vec<String>;
            let raw: Vec<u8>;
            match self.lines.next_line() {
                Ok(None) => {
                    self.done = true;
                    return self.pending.take().map(Group::finish_at_end);
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(RecordError::io(&e, self.lines.line_no())));
                }
                Ok(Some(Line::TooLong)) => {
                    return Some(Err(RecordError::line_too_long(self.lines.line_no())))
                }
                Ok(Some(Line::Text {
                    text: line,
                    number,
                    unterminated,
                })) => {
                    if super::is_blank(line) {
                        continue;
                    }
                    line_no = number;
                    if self.columns.is_none() {
                        match Columns::from_header(&HeaderMap::new(line), line_no) {
                            Ok(c) => self.columns = Some(c),
                            Err(e) => {
                                // Without a header nothing in the file can be read.
                                self.done = true;
                                return Some(Err(e.with_raw(line)));
                            }
                        }
                        self.header_width = split(line).len();
                        continue;
                    }
                    row = split(line).into_iter().map(|f| f.into_owned()).collect();
                    raw = line.to_vec();
                    if unterminated && row.len() < self.header_width {
                        // The file ends inside this row: it belongs to the record being read
                        // unless that one is already complete.
                        let err = RecordError::new(
                            ErrorKind::TruncatedRecord,
                            line_no,
                            "row",
                            format!(
                                "file ends in the middle of a row ({} of {} fields)",
                                row.len(),
                                self.header_width
                            ),
                        )
                        .with_raw(line);
                        match self.pending.as_mut() {
                            Some(g) if !g.complete() => {
                                g.error.get_or_insert(err.in_record(g.line));
                                continue;
                            }
                            _ => return Some(Err(err)),
                        }
                    }
                }
            }
            let key = match self.key(&row, line_no) {
                Ok(k) => k,
                Err(e) => return Some(Err(e.with_raw(&raw))),
            };
            let finished = match &self.pending {
                Some(g) if g.key == key => None,
                _ => {
                    let slots = self.slots(key.day);
                    self.pending.replace(Group::new(key, line_no, slots))
                }
            };
            let cols = self.columns.as_ref().expect("header read");
            let group = self.pending.as_mut().expect("group started");
            if group.error.is_none() {
                if let Err(e) = group.place(cols, &row, line_no) {
                    group.error = Some(e.with_raw(&raw).in_record(group.line));
                }
            }
            if let Some(done) = finished {
                return Some(done.finish());
            }
        }
        None
    }
}

impl<R: BufRead> IntervalCsvReader<R> {
    /// The fields that decide which record a row belongs to. A row whose key cannot be read is
    /// rejected alone.
    fn key(&self, row: &[String], line: u64) -> Result<Key, RecordError> {
        let c = self.columns.as_ref().expect("header read");
        let get = |i: usize| field(row, i);
        let esiid = esiid::parse(get(c.esiid), self.options.esiid_mode)
            .map_err(|e| RecordError::new(ErrorKind::InvalidEsiid, line, "ESIID", e.to_string()))?;
        let day_text = get(c.day);
        let day = time::parse_date(day_text).ok_or_else(|| {
            RecordError::new(
                ErrorKind::BadTimestamp,
                line,
                "USAGE_DATE",
                format!("{day_text:?} is not a MM/DD/YYYY date"),
            )
        })?;
        let rev_text = get(c.revision);
        let revision = time::parse_local_datetime(rev_text)
            .map(time::revision_to_utc)
            .ok_or_else(|| {
                RecordError::new(
                    ErrorKind::BadTimestamp,
                    line,
                    "REVISION_DATE",
                    format!("{rev_text:?} is not a MM/DD/YYYY HH:MM:SS timestamp"),
                )
            })?;
        let channel = match c.direction.map(get) {
            None => CHANNEL_LOAD,
            Some(text) => channel_of(text).ok_or_else(|| {
                RecordError::new(
                    ErrorKind::BadChannel,
                    line,
                    "CONSUMPTION_SURPLUSGENERATION",
                    format!("{text:?} is not Consumption or Surplus Generation"),
                )
            })?,
        };
        Ok(Key {
            esiid,
            day,
            revision,
            channel,
        })
    }
}

/// `Consumption` is channel 4 (load), `Surplus Generation` / `SurplusGeneration` channel 1.
pub fn channel_of(direction: &str) -> Option<u8> {
    match super::header_key(direction).as_str() {
        "CONSUMPTION" | "" => Some(CHANNEL_LOAD),
        "SURPLUSGENERATION" | "GENERATION" => Some(CHANNEL_GENERATION),
        _ => None,
    }
}

pub fn direction_of(channel: u8) -> &'static str {
    if channel == CHANNEL_GENERATION {
        "Surplus Generation"
    } else {
        "Consumption"
    }
}

impl Group {
    fn new(key: Key, line: u64, slots: Rc<[u16]>) -> Group {
        let n = slots.len();
        Group {
            key,
            line,
            slots,
            intervals: vec![None; n],
            filled: vec![false; n],
            last: None,
            error: None,
        }
    }

    fn place(&mut self, c: &Columns, row: &[String], line: u64) -> Result<(), RecordError> {
        let start_text = field(row, c.start);
        let start = time::parse_hhmm(start_text)
            .filter(|m| *m < 1440)
            .ok_or_else(|| {
                RecordError::new(
                    ErrorKind::BadTimestamp,
                    line,
                    "USAGE_START_TIME",
                    format!("{start_text:?} is not HH:MM"),
                )
            })?;
        let kwh_text = field(row, c.kwh);
        let reading = if kwh_text.is_empty() {
            None
        } else {
            let kwh = Decimal::parse_str(kwh_text).map_err(|e| {
                RecordError::new(ErrorKind::NonNumericValue, line, "USAGE_KWH", e.to_string())
            })?;
            let status_text = field(row, c.status);
            let status = Status::parse(status_text.as_bytes()).ok_or_else(|| {
                RecordError::new(
                    ErrorKind::UnknownStatus,
                    line,
                    "ESTIMATED_ACTUAL",
                    format!("status {status_text:?} is not A (actual) or E (estimated)"),
                )
            })?;
            Some(Reading { kwh, status })
        };
        let free = |i: &usize| self.slots[*i] == start && !self.filled[*i];
        let after_last = (self.last.map_or(0, |l| l + 1)..self.slots.len()).find(free);
        let Some(index) = after_last.or_else(|| (0..self.slots.len()).find(free)) else {
            if reading.is_none() {
                return Ok(()); // e.g. the spring-forward hour written with an empty kWh
            }
            let (kind, why) = if self.slots.contains(&start) {
                (
                    ErrorKind::DuplicateInterval,
                    "appears more often than the day has it".to_owned(),
                )
            } else {
                (
                    ErrorKind::NoSuchInterval,
                    format!(
                        "is not an interval start on {} (DST or off the 15-minute grid)",
                        self.key.day
                    ),
                )
            };
            return Err(RecordError::new(
                kind,
                line,
                "USAGE_START_TIME",
                format!("{start_text} {why}"),
            ));
        };
        if let Some(ci) = c.end {
            let end_text = field(row, ci);
            if !end_text.is_empty() {
                let next_wall = self.slots.get(index + 1).copied().unwrap_or(0);
                let ok = time::parse_hhmm(end_text).is_some_and(|m| {
                    let m = m % 1440;
                    m == next_wall || m == (start + 15) % 1440
                });
                if !ok {
                    return Err(RecordError::new(
                        ErrorKind::BadTimestamp,
                        line,
                        "USAGE_END_TIME",
                        format!("{end_text:?} does not end the interval starting {start_text}"),
                    ));
                }
            }
        }
        self.filled[index] = true;
        self.intervals[index] = reading;
        self.last = Some(index);
        Ok(())
    }

    /// Whether the day's last interval has been read.
    fn complete(&self) -> bool {
        self.filled.last().copied().unwrap_or(true)
    }

    /// The last record of the file: cut off if its day's last interval never came.
    fn finish_at_end(mut self) -> Result<IntervalRecord, RecordError> {
        if self.error.is_none() && !self.complete() {
            self.error = Some(RecordError::new(
                ErrorKind::TruncatedRecord,
                self.line,
                "intervals",
                format!("file ends before the last interval of {}", self.key.day),
            ));
        }
        self.finish()
    }

    fn finish(self) -> Result<IntervalRecord, RecordError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(IntervalRecord {
            start: time::day_start(self.key.day),
            esiid: self.key.esiid,
            channel: self.key.channel,
            day: self.key.day,
            interval_seconds: INTERVAL_SECONDS,
            revision: self.key.revision,
            transaction_id: None,
            attributes: Vec::new(),
            intervals: self.intervals,
            line: self.line,
        })
    }
}

pub fn write_header<W: Write>(w: &mut W) -> std::io::Result<()> {
    writeln!(w, "{HEADER}")
}

/// Writes a record's rows as SMT does: apostrophe-guarded ESIID, wall-clock times (the fall-back
/// hour twice), and a row with empty kWh for a missing interval.
pub fn write_record<W: Write>(w: &mut W, record: &IntervalRecord) -> std::io::Result<()> {
    let basis = TimeBasis::CentralPrevailing;
    let day = record.day.format("%m/%d/%Y");
    let revision = basis.to_local(record.revision).format("%m/%d/%Y %H:%M:%S");
    let direction = direction_of(record.channel);
    for (i, reading) in record.intervals.iter().enumerate() {
        let (start, end) = record.interval_bounds(i);
        let (start, end) = (
            basis.to_local(start).format("%H:%M"),
            basis.to_local(end).format("%H:%M"),
        );
        let (kwh, status) = match reading {
            Some(r) => (r.kwh.to_string(), r.status.code().to_string()),
            None => (String::new(), String::new()),
        };
        writeln!(
            w,
            "'{},{day},{revision},{start},{end},{kwh},{status},{direction}",
            record.esiid
        )?;
    }
    Ok(())
}
