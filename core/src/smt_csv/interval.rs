//! SMT 15-minute interval usage CSV.
//!
//! ```text
//! ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION
//! '10443720000000001,07/01/2025,07/02/2025 07:37:17,00:00,00:15,0.580,A,Consumption
//! ```
//!
//! One row per interval. The rows with the same ESIID, operating day, revision and direction
//! form one [`IntervalRecord`], so an "all versions" report yields one record per revision.
//!
//! **Placement: file order, labels as a check.** Within an ESIID-channel-day, each row goes to the
//! next slot of the day after the previous row's, and its `USAGE_START_TIME` / `USAGE_END_TIME`
//! must name that slot. Labels decide only what file order cannot: a row may skip ahead to the
//! next slot its start time names (the slots in between are missing intervals), and a row that
//! names an earlier slot goes to that slot when the label names exactly one slot of the day and
//! it is still empty (a day written backwards, or in blocks out of order); in the repeated
//! fall-back hour such a row is ambiguous and the day is rejected. Known label patterns
//! (formats.md, confirmed in real exports):
//!
//! - Fall-back day, 100 rows: 01:00–01:45 twice, in file order. SMT labels the first row of the
//!   second pass `02:00,01:15` (start wrong, end right): accepted at exactly that slot when its
//!   end time is right. The clean labelling (`01:00,01:15`) works too.
//! - Spring-forward day: 92 rows, or 96 with the four `02:00`–`02:45` rows present with an empty
//!   kWh (and an empty flag). Those rows name local times that do not exist: placeholders, neither
//!   intervals nor rejects. An empty row at any other time that is not a slot of the day is
//!   rejected.
//!
//! Any other label that does not fit (an end time that does not end the slot, a start time the
//! day does not have, a slot given twice) rejects the day with the reason.
//!
//! **Blocks.** SMT writes each ESIID-day together, but a day's rows may come in blocks separated
//! by other days' rows (files concatenated or re-sorted by a spreadsheet). A day whose every slot
//! has been seen is finished when the next row belongs to another day; an unfinished day is set
//! aside and the later block continues it, in file order (merging is what the data needs: the
//! blocks hold different intervals of one version of the day; a slot given twice is still a
//! duplicate and rejects the day). Days set aside are handed out at the end of the file, or when
//! more than [`MAX_OPEN_DAYS`] are open (the oldest first), which keeps memory bounded.
//!
//! **Rejects.** A row whose ESIID, day, revision or direction cannot be read belongs to no day
//! and is rejected alone; any other bad row rejects its whole day. A row with fewer fields than
//! the header is a `missing_field` reject naming the first absent column. A line with a NUL byte
//! or invalid UTF-8 is an `invalid_text` reject. Rejects carry the ESIID, channel and day when
//! they could be read.
//!
//! A file cut short is a truncated record, as in LSE: the last record is rejected when its day's
//! last interval never came, or when the file ends inside a row (a last line, without a line
//! ending, that has fewer fields than the header).

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, Write};
use std::rc::Rc;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use super::{field, split, HeaderMap};
use crate::decimal::Decimal;
use crate::esiid::{self, EsiidMode};
use crate::lines::{self, Line, Lines};
use crate::record::{
    ErrorKind, IntervalRecord, Reading, RecordError, RejectContext as Context, Status,
    CHANNEL_GENERATION, CHANNEL_LOAD,
};
use crate::time::{self, TimeBasis};

pub const HEADER: &str =
    "ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION";
const INTERVAL_SECONDS: u32 = 900;
const INTERVAL_MINUTES: u16 = 15;
/// Unfinished ESIID-channel-days kept open for a later block of rows; past this many, the oldest
/// is handed out as it is.
pub const MAX_OPEN_DAYS: usize = 256;

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

    /// The columns that decide which record a row belongs to.
    fn key_columns(&self) -> impl Iterator<Item = usize> {
        [self.esiid, self.day, self.revision]
            .into_iter()
            .chain(self.direction)
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
    /// Wall-clock start (minutes after midnight) of each slot of the day.
    slots: Rc<[u16]>,
    intervals: Vec<Option<Reading>>,
    /// Slots a row has been placed in (an empty kWh fills its slot with a missing interval).
    filled: Vec<bool>,
    seen: usize,
    /// The slot the next row goes to in file order: the one after the previous row's.
    cursor: usize,
    error: Option<RecordError>,
}

pub struct IntervalCsvReader<R> {
    lines: Lines<R>,
    options: CsvOptions,
    columns: Option<Columns>,
    /// Header names, for naming the fields a short row lacks.
    header_names: Vec<String>,
    /// Fields in the header (trailing empty names not counted): a row with fewer is short.
    header_width: usize,
    /// The day the last row went to.
    active: Option<Group>,
    /// Unfinished days waiting for a later block, oldest first.
    open: Vec<Group>,
    /// Records and rejects ready to hand out.
    out: VecDeque<Result<IntervalRecord, RecordError>>,
    day_slots: HashMap<NaiveDate, Rc<[u16]>>,
    /// Whether the last row read was rejected alone (its day unknown): at the end of the file it
    /// explains a last day without its last interval, which is then not "cut off".
    last_row_rejected_alone: bool,
    done: bool,
}

impl<R: BufRead> IntervalCsvReader<R> {
    pub fn new(src: R, options: CsvOptions) -> Self {
        IntervalCsvReader {
            lines: Lines::new(src),
            options,
            columns: None,
            header_names: Vec::new(),
            header_width: 0,
            active: None,
            open: Vec::new(),
            out: VecDeque::new(),
            day_slots: HashMap::new(),
            last_row_rejected_alone: false,
            done: false,
        }
    }

    fn slots(&mut self, day: NaiveDate) -> Rc<[u16]> {
        self.day_slots
            .entry(day)
            .or_insert_with(|| time::slot_wall_minutes(day, INTERVAL_SECONDS).into())
            .clone()
    }

    /// Makes the group of `key` the active one: the current active group is finished when every
    /// slot of its day has been seen, set aside otherwise.
    fn activate(&mut self, key: Key, line: u64) -> &mut Group {
        if self.active.as_ref().is_some_and(|g| g.key != key) {
            let previous = self.active.take().expect("checked");
            if previous.all_seen() {
                self.out.push_back(previous.finish());
            } else {
                if self.open.len() >= MAX_OPEN_DAYS {
                    self.out.push_back(self.open.remove(0).finish());
                }
                self.open.push(previous);
            }
        }
        if self.active.is_none() {
            let group = match self.open.iter().position(|g| g.key == key) {
                Some(i) => self.open.remove(i),
                None => {
                    let slots = self.slots(key.day);
                    Group::new(key, line, slots)
                }
            };
            self.active = Some(group);
        }
        self.active.as_mut().expect("just set")
    }

    /// End of file: days set aside come out as they are, oldest first; the last day read is
    /// checked for a cut-off end, unless the file's last row was rejected alone (that row is the
    /// missing interval, reported as what it is).
    fn finish_all(&mut self) {
        let mut open = std::mem::take(&mut self.open);
        if let Some(last) = self.active.take() {
            open.push(last);
            let n = open.len();
            for (i, g) in open.into_iter().enumerate() {
                let item = if i + 1 == n && !self.last_row_rejected_alone {
                    g.finish_at_end()
                } else {
                    g.finish()
                };
                self.out.push_back(item);
            }
        } else {
            self.out.extend(open.into_iter().map(Group::finish));
        }
    }

    /// Reads the header line; `false` when the file cannot be read.
    fn header(&mut self, line: &[u8], line_no: u64) -> bool {
        match Columns::from_header(&HeaderMap::new(line), line_no) {
            Ok(c) => self.columns = Some(c),
            Err(e) => {
                // Without a header nothing in the file can be read.
                self.out.push_back(Err(e.with_raw(line)));
                return false;
            }
        }
        if let Some(why) = lines::text_problem(line) {
            // The column names were still found (they are matched on letters and digits).
            self.out.push_back(Err(RecordError::new(
                ErrorKind::InvalidText,
                line_no,
                "header",
                why,
            )
            .with_raw(line)));
        }
        self.header_names = split(line).iter().map(|f| f.to_string()).collect();
        while self.header_names.last().is_some_and(|n| n.is_empty()) {
            self.header_names.pop();
        }
        self.header_width = self.header_names.len();
        true
    }

    /// One data row.
    fn row(&mut self, line: &[u8], line_no: u64, unterminated: bool) {
        let row: Vec<String> = split(line).into_iter().map(|f| f.into_owned()).collect();
        if unterminated && row.len() < self.header_width {
            // The file ends inside this row: it belongs to the record being read unless that
            // one is already complete.
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
            match self.active.as_mut() {
                Some(g) if !g.all_seen() => {
                    if g.error.is_none() {
                        g.error = Some(err.in_record(g.line));
                    }
                }
                _ => self.out.push_back(Err(err)),
            }
            return;
        }
        let cols = self.columns.as_ref().expect("header read");
        // A problem with the line as a whole, found before its fields are looked at.
        let mut line_error = lines::text_problem(line)
            .map(|why| RecordError::new(ErrorKind::InvalidText, line_no, "line", why));
        let mut key_missing = false;
        if line_error.is_none() && row.len() < self.header_width {
            let name = &self.header_names[row.len()];
            key_missing = cols.key_columns().any(|i| i >= row.len());
            line_error = Some(RecordError::new(
                ErrorKind::MissingField,
                line_no,
                name.clone(),
                format!(
                    "the row has {} of the header's {} fields: no {name}",
                    row.len(),
                    self.header_width
                ),
            ));
        }
        self.last_row_rejected_alone = true;
        let key = match (key_missing, self.key(&row, line_no)) {
            (false, Ok(key)) => key,
            (_, Err(e)) => {
                let e = match line_error {
                    Some(first) => first.with_context(e.esiid.as_deref(), e.channel, e.day),
                    None => e,
                };
                self.out.push_back(Err(e.with_raw(line)));
                return;
            }
            (true, Ok(key)) => {
                // Only the direction can be missing with the key read (its absence reads as
                // consumption): the row's channel is unknown, so it belongs to no day.
                let e = line_error.expect("a short row").with_raw(line);
                let context = Context {
                    channel: None,
                    ..context_of(&key)
                };
                self.out.push_back(Err(context.apply(e)));
                return;
            }
        };
        self.last_row_rejected_alone = false;
        let mut group = self.activate(key, line_no);
        if group.error.is_some() {
            // Rows of a rejected day are not read, only counted, so that the day is handed out
            // when its rows end rather than held for a later block.
            group.seen += 1;
            return;
        }
        let result = match line_error {
            Some(e) => Err(e),
            None => {
                // Re-borrow the columns: `activate` needed `self` whole.
                let cols = self.columns.as_ref().expect("header read");
                group = self.active.as_mut().expect("active");
                group.place(cols, &row, line_no)
            }
        };
        if let Err(e) = result {
            let group = self.active.as_mut().expect("active");
            group.error = Some(e.with_raw(line).in_record(group.line));
        }
    }
}

impl<R: BufRead> Iterator for IntervalCsvReader<R> {
    type Item = Result<IntervalRecord, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.out.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            match self.lines.next_line() {
                Ok(None) => {
                    self.done = true;
                    self.finish_all();
                }
                Err(e) => {
                    self.done = true;
                    self.out
                        .push_back(Err(RecordError::io(&e, self.lines.line_no())));
                }
                Ok(Some(Line::TooLong)) => {
                    return Some(Err(RecordError::line_too_long(self.lines.line_no())))
                }
                Ok(Some(Line::Text {
                    text,
                    number,
                    unterminated,
                })) => {
                    if super::is_blank(text) {
                        continue;
                    }
                    // The borrow of the line ends here: the reader's buffer is not touched again
                    // before the row is done.
                    let line = text.to_vec();
                    if self.columns.is_none() {
                        if !self.header(&line, number) {
                            self.done = true;
                        }
                        continue;
                    }
                    self.row(&line, number, unterminated);
                }
            }
        }
    }
}

/// A day's key as the context of its rejects.
fn context_of(key: &Key) -> Context {
    Context {
        esiid: Some(key.esiid.clone()),
        channel: Some(key.channel),
        day: Some(key.day),
    }
}

impl<R: BufRead> IntervalCsvReader<R> {
    /// The fields that decide which record a row belongs to. A row whose key cannot be read is
    /// rejected alone, with what could be read of the key.
    fn key(&self, row: &[String], line: u64) -> Result<Key, RecordError> {
        let c = self.columns.as_ref().expect("header read");
        let get = |i: usize| field(row, i);
        let esiid = esiid::parse(get(c.esiid), self.options.esiid_mode)
            .map_err(|e| RecordError::new(ErrorKind::InvalidEsiid, line, "ESIID", e.to_string()));
        let day_text = get(c.day);
        let day = time::parse_date(day_text).ok_or_else(|| {
            RecordError::new(
                ErrorKind::BadTimestamp,
                line,
                "USAGE_DATE",
                format!("{day_text:?} is not a M/D/YYYY date"),
            )
        });
        let rev_text = get(c.revision);
        let revision = time::parse_local_datetime(rev_text)
            .map(time::revision_to_utc)
            .ok_or_else(|| {
                RecordError::new(
                    ErrorKind::BadTimestamp,
                    line,
                    "REVISION_DATE",
                    format!("{rev_text:?} is not a M/D/YYYY H:MM[:SS] timestamp"),
                )
            });
        let channel = match c.direction.map(get) {
            None => Ok(CHANNEL_LOAD),
            Some(text) => channel_of(text).ok_or_else(|| {
                RecordError::new(
                    ErrorKind::BadChannel,
                    line,
                    "CONSUMPTION_SURPLUSGENERATION",
                    format!("{text:?} is not Consumption or Surplus Generation"),
                )
            }),
        };
        match (esiid, day, revision, channel) {
            (Ok(esiid), Ok(day), Ok(revision), Ok(channel)) => Ok(Key {
                esiid,
                day,
                revision,
                channel,
            }),
            (esiid, day, revision, channel) => {
                let context = Context {
                    esiid: esiid.as_ref().ok().cloned(),
                    channel: channel.as_ref().ok().copied(),
                    day: day.as_ref().ok().copied(),
                };
                let e = [esiid.err(), day.err(), revision.err(), channel.err()]
                    .into_iter()
                    .flatten()
                    .next()
                    .expect("one field failed");
                Err(context.apply(e))
            }
        }
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

/// Whether `minutes` after midnight on `day` is a local time the spring-forward change skips.
fn skipped_wall_time(day: NaiveDate, minutes: u16) -> bool {
    let Some(t) = NaiveTime::from_hms_opt(u32::from(minutes / 60), u32::from(minutes % 60), 0)
    else {
        return false;
    };
    TimeBasis::CentralPrevailing
        .to_utc(day.and_time(t))
        .is_err()
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
            seen: 0,
            cursor: 0,
            error: None,
        }
    }

    /// Whether `end` (minutes, `None` when the file gives none) ends slot `i`. The end of the
    /// last interval may be written `00:00` or `24:00`; an end of start + 15 minutes is
    /// accepted too (the fall-back hour's first pass ends `02:00` on SMT's clock, the spring
    /// gap's last slot before it `02:00`).
    fn end_ok(&self, i: usize, end: Option<u16>) -> bool {
        let Some(end) = end else { return true };
        let end = end % 1440;
        let next_wall = self.slots.get(i + 1).copied().unwrap_or(0);
        end == next_wall || end == (self.slots[i] + INTERVAL_MINUTES) % 1440
    }

    /// SMT's fall-back mislabel: the first slot of the repeated hour's second pass written with
    /// the start the clock would have shown without the change (`02:00`) and the right end
    /// (`01:15`).
    fn is_smt_mislabel(&self, i: usize, start: u16, end: Option<u16>) -> bool {
        let Some(previous) = i.checked_sub(1).map(|p| self.slots[p]) else {
            return false;
        };
        let repeat_starts = self.slots[i] < previous + INTERVAL_MINUTES;
        repeat_starts
            && start == previous + INTERVAL_MINUTES
            && end == Some(self.slots[i] + INTERVAL_MINUTES)
    }

    /// The slot a row labelled `start`–`end` goes to (see the module comment), `None` for a
    /// spring-forward placeholder.
    fn locate(
        &self,
        start: u16,
        end: Option<u16>,
        empty: bool,
        start_text: &str,
        end_text: &str,
        line: u64,
    ) -> Result<Option<usize>, RecordError> {
        let n = self.slots.len();
        let c = self.cursor;
        let bad_end = || {
            RecordError::new(
                ErrorKind::BadTimestamp,
                line,
                "USAGE_END_TIME",
                format!("{end_text:?} does not end the interval starting {start_text}"),
            )
        };
        // File order: the slot after the previous row's, its labels right or SMT's mislabel.
        if c < n
            && !self.filled[c]
            && ((self.slots[c] == start && self.end_ok(c, end))
                || self.is_smt_mislabel(c, start, end))
        {
            return Ok(Some(c));
        }
        // Ahead: the next free slot the start time names; the ones skipped are missing.
        if let Some(i) = (c..n).find(|&i| self.slots[i] == start && !self.filled[i]) {
            return if self.end_ok(i, end) {
                Ok(Some(i))
            } else {
                Err(bad_end())
            };
        }
        // Behind: only a label that names one slot of the day can place a row out of order.
        let named: Vec<usize> = (0..n).filter(|&i| self.slots[i] == start).collect();
        match named[..] {
            [] if empty && skipped_wall_time(self.key.day, start) => Ok(None),
            [] => Err(RecordError::new(
                ErrorKind::NoSuchInterval,
                line,
                "USAGE_START_TIME",
                format!(
                    "{start_text} is not an interval start on {} (DST or off the 15-minute grid)",
                    self.key.day
                ),
            )),
            [i] if !self.filled[i] => {
                if self.end_ok(i, end) {
                    Ok(Some(i))
                } else {
                    Err(bad_end())
                }
            }
            _ if named.iter().all(|&i| self.filled[i]) => Err(RecordError::new(
                ErrorKind::DuplicateInterval,
                line,
                "USAGE_START_TIME",
                format!("{start_text} appears more often than the day has it"),
            )),
            _ => Err(RecordError::new(
                ErrorKind::OutOfSequence,
                line,
                "USAGE_START_TIME",
                format!(
                    "{start_text} comes after a later interval of {}, in the hour that day \
                     repeats: which pass it belongs to cannot be told",
                    self.key.day
                ),
            )),
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
                    format!("{start_text:?} is not H:MM"),
                )
            })?;
        let end_text = c.end.map_or("", |i| field(row, i));
        let end = if end_text.is_empty() {
            None
        } else {
            Some(time::parse_hhmm(end_text).ok_or_else(|| {
                RecordError::new(
                    ErrorKind::BadTimestamp,
                    line,
                    "USAGE_END_TIME",
                    format!("{end_text:?} is not H:MM"),
                )
            })?)
        };
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
        let Some(index) = self.locate(start, end, reading.is_none(), start_text, end_text, line)?
        else {
            return Ok(()); // the spring-forward gap written with an empty kWh
        };
        self.filled[index] = true;
        self.seen += 1;
        self.intervals[index] = reading;
        self.cursor = index + 1;
        Ok(())
    }

    /// Whether every slot of the day has had its row (for a rejected day: as many rows came).
    fn all_seen(&self) -> bool {
        self.seen >= self.slots.len()
    }

    /// The last record of the file: cut off if its day's last interval never came.
    fn finish_at_end(mut self) -> Result<IntervalRecord, RecordError> {
        if self.error.is_none() && !self.filled.last().copied().unwrap_or(true) {
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
            return Err(context_of(&self.key).apply(e));
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
