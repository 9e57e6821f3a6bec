//! LSE ("Lodestar Enhanced"), ERCOT's interval file format (Retail Market Guide §9 appendix G).
//!
//! A record is one ESIID, channel and operating day:
//!
//! ```text
//! 00000001,<esiid>,<channel>,<start YYYYMMDDHHMMSS>,<stop>,<DST Y/N>,<invalid Y/N>
//! 00000002,0,0,0,,0,,900,01,1,-1,0.0,0.0,CST        field 8: seconds per interval
//! 00000003,<transaction id>
//! 00000004,<revision YYYYMMDDHHMMSS>,<origin>
//! 00000030,ATTRIBUTE_VALUE_PAIRS,MRE=..,Sender=..,Receiver=..,REP=..
//! 10000000,<value>,<status>,<blank>,<value>,<status>,<blank>,...   as many rows as needed
//! ```
//!
//! The reader streams: it holds one record at a time, so multi-GB files parse in constant memory.
//! A bad record becomes one [`RecordError`] and parsing goes on at the next `00000001` row.
//!
//! A line that does not read as a row of the record being read (unknown row type, bad data row,
//! NUL byte or invalid UTF-8) rejects that record, unless the record already holds every
//! interval its header announces: then the record is handed out as it is and the line is
//! rejected on its own. A byte order mark before the first row is skipped (see `lines`).
//! Rejects carry the record's ESIID, channel and day as far as its `00000001` row gives them.

use std::io::{BufRead, Write};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

use crate::decimal::Decimal;
use crate::esiid::{self, EsiidMode};
use crate::lines::{self, Line, Lines};
use crate::record::{
    ErrorKind, IntervalRecord, Reading, RecordError, RejectContext as Context, Status,
};
use crate::time::{self, TimeBasis, TimeError};

pub const DEFAULT_INTERVAL_SECONDS: u32 = 900;
/// No operating day holds more intervals than this (one-minute intervals on the 25-hour day).
const MAX_INTERVALS: usize = 1500;
/// Triplets per data row when writing, as in the ERCOT example.
const TRIPLETS_PER_ROW: usize = 4;

#[derive(Clone, Copy, Debug, Default)]
pub struct LseOptions {
    pub esiid_mode: EsiidMode,
}

/// Streams the records of an LSE source; each item is a record or the reason it was rejected.
pub struct LseReader<R> {
    lines: Lines<R>,
    options: LseOptions,
    pending: Option<Pending>,
    /// The last finished record's `header_raw`, reused by the next so that it costs no
    /// allocation.
    spare_raw: Vec<u8>,
    times: TimeCache,
    /// A reject to hand out before reading on (a bad line found just after a complete record,
    /// which was handed out first).
    queued: Option<RecordError>,
    done: bool,
}

/// The record being read. Once it has an error, its remaining rows are skipped, not parsed.
struct Pending {
    line: u64,
    /// Text of the `00000001` row, the raw text of record-level rejects.
    header_raw: Vec<u8>,
    header: Option<Header>,
    interval_seconds: Option<u32>,
    revision: Option<DateTime<Utc>>,
    transaction_id: Option<String>,
    attributes: Vec<(String, String)>,
    intervals: Vec<Option<Reading>>,
    data_rows: u32,
    /// The row number the next data row must have, as text (`None` past `99999999`).
    next_code: Option<[u8; 8]>,
    error: Option<RecordError>,
    /// ESIID, channel and day as far as a `00000001` row that failed gives them, for rejects
    /// (a good header gives them all: [`Pending::apply_context`]).
    context: Context,
    /// Intervals the header announces at the interval length known so far (`None` without a
    /// good header).
    expected: Option<usize>,
}

/// What can be read of a `00000001` row whose parse failed.
fn partial_context(line: &[u8], options: LseOptions) -> Context {
    let mut f = lines::texts(line).skip(1);
    let esiid = f
        .next()
        .and_then(|t| esiid::parse(t, options.esiid_mode).ok());
    let channel = f
        .next()
        .and_then(|t| t.parse::<u8>().ok())
        .filter(|c| *c > 0);
    let day = f.next().and_then(time::parse_compact).map(|t| t.date());
    Context {
        esiid,
        channel,
        day,
    }
}

/// The ESIID, channel and day of a record, on a reject of it: from its header when that was
/// good (built only here, so a good record costs no copy), else what [`partial_context`] read.
fn apply_context(header: Option<&Header>, context: &Context, e: RecordError) -> RecordError {
    match header {
        Some(h) => e.with_context(Some(&h.esiid), Some(h.channel), Some(h.start_local.date())),
        None => context.apply(e),
    }
}

struct Header {
    esiid: String,
    channel: u8,
    start_local: NaiveDateTime,
    start: DateTime<Utc>,
    stop: DateTime<Utc>,
}

impl<R: BufRead> LseReader<R> {
    pub fn new(src: R, options: LseOptions) -> Self {
        LseReader {
            lines: Lines::new(src),
            options,
            pending: None,
            spare_raw: Vec::new(),
            times: TimeCache::new(),
            queued: None,
            done: false,
        }
    }
}

impl<R: BufRead> Iterator for LseReader<R> {
    type Item = Result<IntervalRecord, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.queued.take() {
            return Some(Err(e));
        }
        while !self.done {
            let (line, line_no, unterminated) = match self.lines.next_line() {
                Ok(Some(Line::Text {
                    text,
                    number,
                    unterminated,
                })) => (text, number, unterminated),
                Ok(Some(Line::TooLong)) => {
                    let err = RecordError::line_too_long(self.lines.line_no());
                    match self.pending.as_mut() {
                        // As for any other bad line: a complete record before it keeps what it
                        // has and is finished; the long line is rejected on its own.
                        Some(p) if p.is_complete() => {
                            let done = self.pending.take().expect("pending record");
                            let (record, raw) = done.finish(false);
                            self.spare_raw = raw;
                            self.queued = Some(err);
                            return Some(record);
                        }
                        Some(p) => p.fail(err),
                        None => return Some(Err(err)),
                    }
                    continue;
                }
                Ok(None) => {
                    self.done = true;
                    return self.pending.take().map(|p| p.finish(true).0);
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(RecordError::io(&e, self.lines.line_no())));
                }
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            // Most rows are the next data row of a good record: straight to its triplets (which
            // check the line for NUL bytes and invalid UTF-8 themselves).
            if let Some(p) = self.pending.as_mut() {
                if p.error.is_none() && p.is_next_data_row(line) && !p.is_complete() {
                    if let Err(e) = p.data_row_triplets(line, line_no, unterminated) {
                        p.fail(e.with_raw(line));
                    }
                    continue;
                }
            }
            // A NUL byte or invalid UTF-8 makes the line unreadable as text: it is rejected
            // (with its record, unless that record was already complete).
            let text_error = lines::text_problem(line).map(|why| {
                RecordError::new(ErrorKind::InvalidText, line_no, "line", why).with_raw(line)
            });
            // The row type: up to the first comma (which is the 9th byte in any sane row).
            let code_len = match line.iter().take(9).position(|&b| b == b',') {
                Some(n) => n,
                None => memchr::memchr(b',', line).unwrap_or(line.len()),
            };
            let code = &line[..code_len];
            if code == b"00000001" {
                let raw = std::mem::take(&mut self.spare_raw);
                let mut next = Pending::start(line, line_no, self.options, &mut self.times, raw);
                if let Some(e) = text_error {
                    next.error = Some(e);
                }
                if let Some(done) = self.pending.replace(next) {
                    let (record, raw) = done.finish(false);
                    self.spare_raw = raw;
                    return Some(record);
                }
                continue;
            }
            let Some(p) = self.pending.as_mut() else {
                return Some(Err(text_error.unwrap_or_else(|| {
                    RecordError::new(
                        ErrorKind::UnknownRowType,
                        line_no,
                        "row type",
                        format!(
                            "row {:?} outside a record (no 00000001 row before it)",
                            lines::text(code)
                        ),
                    )
                    .with_raw(line)
                })));
            };
            if p.error.is_some() {
                continue;
            }
            // A complete record keeps what it has: a line after it that does not read as one of
            // its rows is rejected on its own, and the record is finished.
            let complete = p.is_complete();
            let outcome = match text_error {
                Some(e) => Err(e),
                None => {
                    let mark = p.mark();
                    p.row(code, line, line_no, unterminated, &mut self.times)
                        .map_err(|e| {
                            if complete {
                                p.restore(mark);
                            }
                            e.with_raw(line)
                        })
                }
            };
            match outcome {
                Ok(()) => {}
                Err(e) if complete => {
                    let done = self.pending.take().expect("pending record");
                    let (record, raw) = done.finish(false);
                    self.spare_raw = raw;
                    self.queued = Some(e);
                    return Some(record);
                }
                Err(e) => p.fail(e),
            }
        }
        None
    }
}

/// Where a record's data stood before a row, to undo a row that failed part-way.
#[derive(Clone, Copy)]
struct Mark {
    intervals: usize,
    data_rows: u32,
    next_code: Option<[u8; 8]>,
}

impl Pending {
    /// Starts a record at its `00000001` row; `raw` is a buffer to keep that row's text in.
    fn start(
        line: &[u8],
        line_no: u64,
        options: LseOptions,
        times: &mut TimeCache,
        mut raw: Vec<u8>,
    ) -> Pending {
        raw.clear();
        raw.extend_from_slice(line);
        let mut p = Pending {
            line: line_no,
            header_raw: raw,
            header: None,
            interval_seconds: None,
            revision: None,
            transaction_id: None,
            attributes: Vec::new(),
            intervals: Vec::with_capacity(100),
            data_rows: 0,
            next_code: Some(*b"10000000"),
            error: None,
            context: Context::default(),
            expected: None,
        };
        match Header::parse(line, line_no, options, times) {
            Ok(h) => {
                p.header = Some(h);
                p.expected = p.expected_intervals();
            }
            Err(e) => {
                p.context = partial_context(line, options);
                p.fail(e.with_raw(line));
            }
        }
        p
    }

    /// Intervals the header announces, at the interval length known so far.
    fn expected_intervals(&self) -> Option<usize> {
        let h = self.header.as_ref()?;
        let secs = i64::from(self.interval_seconds.unwrap_or(DEFAULT_INTERVAL_SECONDS));
        let span = (h.stop - h.start).num_seconds();
        Some(((span + secs - 1) / secs) as usize)
    }

    /// A good record holding every interval its header announces.
    fn is_complete(&self) -> bool {
        self.error.is_none() && self.expected == Some(self.intervals.len())
    }

    fn mark(&self) -> Mark {
        Mark {
            intervals: self.intervals.len(),
            data_rows: self.data_rows,
            next_code: self.next_code,
        }
    }

    fn restore(&mut self, mark: Mark) {
        self.intervals.truncate(mark.intervals);
        self.data_rows = mark.data_rows;
        self.next_code = mark.next_code;
    }

    fn fail(&mut self, err: RecordError) {
        if self.error.is_none() {
            self.error = Some(err.in_record(self.line));
        }
    }

    fn row(
        &mut self,
        code: &[u8],
        line: &[u8],
        line_no: u64,
        unterminated: bool,
        times: &mut TimeCache,
    ) -> Result<(), RecordError> {
        match code {
            // The hot path first. Its guard excludes every other row type, so the order of the
            // arms does not change which one a row takes.
            _ if code.len() == 8 && code[0] == b'1' && code.iter().all(u8::is_ascii_digit) => {
                self.data_row(code, line, line_no, unterminated)?;
            }
            b"00000002" => {
                self.once(self.interval_seconds.is_some(), "00000002", line_no)?;
                let text = lines::texts(line).nth(7).unwrap_or("");
                let seconds = if text.is_empty() {
                    DEFAULT_INTERVAL_SECONDS
                } else {
                    text.parse::<u32>().ok().filter(|s| (60..=3600).contains(s) && 3600 % s == 0).ok_or_else(|| {
                        RecordError::new(
                            ErrorKind::BadIntervalLength,
                            line_no,
                            "00000002.interval_seconds",
                            format!("{text:?} is not an interval length in seconds that divides an hour"),
                        )
                    })?
                };
                self.interval_seconds = Some(seconds);
                self.expected = self.expected_intervals();
            }
            b"00000003" => {
                self.once(self.transaction_id.is_some(), "00000003", line_no)?;
                let id = lines::texts(line).nth(1).unwrap_or("");
                self.transaction_id = (!id.is_empty()).then(|| id.to_owned());
            }
            b"00000004" => {
                self.once(self.revision.is_some(), "00000004", line_no)?;
                let text = lines::texts(line).nth(1).unwrap_or("");
                let (_, revision) = times.get(text, TimeKind::Revision).ok_or_else(|| {
                    RecordError::new(
                        ErrorKind::BadTimestamp,
                        line_no,
                        "00000004.revision",
                        format!("{text:?} is not a YYYYMMDDHHMMSS timestamp"),
                    )
                })?;
                self.revision = Some(revision.expect("revision_to_utc does not fail"));
            }
            b"00000030" => {
                for pair in lines::texts(line).skip(2).filter(|f| !f.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    self.attributes
                        .push((k.trim().to_owned(), v.trim().to_owned()));
                }
            }
            _ => {
                return Err(RecordError::new(
                    ErrorKind::UnknownRowType,
                    line_no,
                    "row type",
                    format!("unknown row type {:?}", lines::text(code)),
                ))
            }
        }
        Ok(())
    }

    fn once(&self, seen: bool, row: &str, line_no: u64) -> Result<(), RecordError> {
        if seen {
            return Err(RecordError::new(
                ErrorKind::OutOfSequence,
                line_no,
                row,
                format!("second {row} row in one record"),
            ));
        }
        Ok(())
    }

    /// `1000xxxx,value,status,blank,value,status,blank,...` — the hot path.
    fn data_row(
        &mut self,
        code: &[u8],
        line: &[u8],
        line_no: u64,
        unterminated: bool,
    ) -> Result<(), RecordError> {
        let number = code.iter().fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'));
        let expected = 10_000_000 + self.data_rows;
        if number != expected {
            return Err(RecordError::new(
                ErrorKind::OutOfSequence,
                line_no,
                "row number",
                format!("data row {number} where {expected} was due"),
            ));
        }
        self.data_row_triplets(line, line_no, unterminated)
    }

    /// Whether `line` starts with the row number the next data row must have, followed by a
    /// comma or nothing (then its row type is that number: `data_row` would accept it).
    #[inline]
    fn is_next_data_row(&self, line: &[u8]) -> bool {
        match &self.next_code {
            Some(code) => line.get(..8) == Some(code) && matches!(line.get(8), None | Some(b',')),
            None => false,
        }
    }

    /// The triplets of a data row whose row number is the one due.
    fn data_row_triplets(
        &mut self,
        line: &[u8],
        line_no: u64,
        unterminated: bool,
    ) -> Result<(), RecordError> {
        const CODE_LEN: usize = 8;
        self.data_rows += 1;
        self.next_code = self.next_code.and_then(|mut code| {
            // The next number, in place: carry the 9s.
            for b in code.iter_mut().rev() {
                if *b == b'9' {
                    *b = b'0';
                } else {
                    *b += 1;
                    return Some(code);
                }
            }
            None // 99999999 was the last eight-digit number
        });
        // The fields after the row number, taken in (value, status, blank) triplets. `next` is
        // where the next field starts (`line.len()` for an empty last field), `None` once the
        // line's last field is taken. Same fields as splitting at every comma, without an iterator.
        let len = line.len();
        let mut next = (CODE_LEN < len).then_some(CODE_LEN + 1);
        // Fast path for the triplets of almost every file: `<digits[.digits]>,<A|E>,,` and `,,,`
        // (each followed by the next field). At anything else, the line's end included, the
        // general loop below takes over at the same triplet and decides.
        while let Some(start) = next {
            let rest = &line[start..];
            let (reading, used) = if let [b',', b',', b',', ..] = rest {
                (None, 3)
            } else {
                let (value_len, Some(kwh)) = Decimal::parse_field_prefix(rest) else {
                    break;
                };
                let status = match rest.get(value_len..value_len + 4) {
                    Some([b',', b'A', b',', b',']) => Status::Actual,
                    Some([b',', b'E', b',', b',']) => Status::Estimated,
                    _ => break,
                };
                (Some(Reading { kwh, status }), value_len + 4)
            };
            if self.intervals.len() == MAX_INTERVALS {
                break; // the general loop reports it
            }
            self.intervals.push(reading);
            next = Some(start + used);
        }
        // The fast path reads only digits, dots, `A`/`E` and commas; what it left is checked for
        // NUL bytes and invalid UTF-8 here, off the common path.
        if next.is_some_and(|start| start < len) {
            if let Some(why) = lines::text_problem(line) {
                return Err(RecordError::new(
                    ErrorKind::InvalidText,
                    line_no,
                    "line",
                    why,
                ));
            }
        }
        while let Some(value_start) = next {
            let (value_len, fast_kwh) = Decimal::parse_field_prefix(&line[value_start..]);
            let value_end = value_start + value_len;
            next = (value_end < len).then_some(value_end + 1);
            let value = &line[value_start..value_end];
            let Some(status_start) = next else {
                // A lone last field: empty is the trailing comma the format asks for.
                if value.is_empty() {
                    break;
                }
                let interval = self.intervals.len() + 1;
                return Err(if unterminated {
                    RecordError::new(
                        ErrorKind::TruncatedRecord,
                        line_no,
                        format!("interval {interval}"),
                        "file ends in the middle of an interval (value without status)",
                    )
                } else {
                    RecordError::new(
                        ErrorKind::MissingField,
                        line_no,
                        format!("interval {interval} status"),
                        "value without a status",
                    )
                });
            };
            let status_end = field_end(line, status_start);
            let status = &line[status_start..status_end];
            // The blank field: its content is not looked at, only skipped.
            let blank = (status_end < len).then_some(status_end + 1);
            next = blank
                .map(|start| field_end(line, start) + 1)
                .filter(|&n| n <= len);
            let reading = if value.is_empty() {
                None // missing interval; a status without a value carries nothing to keep
            } else {
                let interval = self.intervals.len() + 1;
                let kwh = match fast_kwh {
                    Some(kwh) => kwh,
                    None => Decimal::parse(value).map_err(|e| {
                        RecordError::new(
                            ErrorKind::NonNumericValue,
                            line_no,
                            format!("interval {interval} value"),
                            e.to_string(),
                        )
                    })?,
                };
                let status = Status::parse(status).ok_or_else(|| {
                    RecordError::new(
                        ErrorKind::UnknownStatus,
                        line_no,
                        format!("interval {interval} status"),
                        format!(
                            "status {:?} is not A (actual) or E (estimated)",
                            lines::text(status)
                        ),
                    )
                })?;
                Some(Reading { kwh, status })
            };
            if self.intervals.len() == MAX_INTERVALS {
                return Err(RecordError::new(
                    ErrorKind::WrongIntervalCount,
                    line_no,
                    "intervals",
                    format!("more than {MAX_INTERVALS} intervals in one record"),
                ));
            }
            self.intervals.push(reading);
            if blank.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// The record or why it is rejected, and the `header_raw` buffer, for reuse.
    fn finish(mut self, at_eof: bool) -> (Result<IntervalRecord, RecordError>, Vec<u8>) {
        let raw = std::mem::take(&mut self.header_raw);
        (self.into_record(at_eof, &raw), raw)
    }

    fn into_record(self, at_eof: bool, raw: &[u8]) -> Result<IntervalRecord, RecordError> {
        if let Some(e) = self.error {
            return Err(apply_context(self.header.as_ref(), &self.context, e));
        }
        let header = self.header.expect("a record without error has a header");
        let fail = |kind, field: &str, reason: String| {
            let e = RecordError::new(kind, self.line, field, reason).with_raw(raw);
            Err(apply_context(Some(&header), &Context::default(), e))
        };
        let Some(revision) = self.revision else {
            return fail(
                ErrorKind::MissingRevision,
                "00000004",
                "record has no 00000004 (revision) row".into(),
            );
        };
        let interval_seconds = self.interval_seconds.unwrap_or(DEFAULT_INTERVAL_SECONDS);
        let span = (header.stop - header.start).num_seconds();
        let expected = (span + i64::from(interval_seconds) - 1) / i64::from(interval_seconds);
        let day = header.start_local.date();
        if self.intervals.len() as i64 != expected {
            let got = self.intervals.len();
            return if at_eof && (got as i64) < expected {
                fail(
                    ErrorKind::TruncatedRecord,
                    "intervals",
                    format!("file ends after {got} of the {expected} intervals of {day}"),
                )
            } else {
                fail(
                    ErrorKind::WrongIntervalCount,
                    "intervals",
                    format!("{got} intervals where {day} has {expected} of {interval_seconds} s"),
                )
            };
        }
        Ok(IntervalRecord {
            esiid: header.esiid,
            channel: header.channel,
            day,
            start: header.start,
            interval_seconds,
            revision,
            transaction_id: self.transaction_id,
            attributes: self.attributes,
            intervals: self.intervals,
            line: self.line,
        })
    }
}

impl Header {
    fn parse(
        line: &[u8],
        line_no: u64,
        options: LseOptions,
        times: &mut TimeCache,
    ) -> Result<Header, RecordError> {
        // Only the first six fields are read; a missing one reads as empty, which every use
        // treats as it would treat an absent field.
        let mut f = [""; 6];
        for (slot, field) in f.iter_mut().zip(lines::texts(line)) {
            *slot = field;
        }
        let get = |i: usize, name: &str| -> Result<&str, RecordError> {
            match f[i] {
                v if !v.is_empty() => Ok(v),
                _ => Err(RecordError::new(
                    ErrorKind::MissingField,
                    line_no,
                    format!("00000001.{name}"),
                    format!("{name} is missing"),
                )),
            }
        };
        let esiid = esiid::parse(get(1, "esiid")?, options.esiid_mode).map_err(|e| {
            RecordError::new(
                ErrorKind::InvalidEsiid,
                line_no,
                "00000001.esiid",
                e.to_string(),
            )
        })?;
        let channel_text = get(2, "channel")?;
        let channel = channel_text
            .parse::<u8>()
            .ok()
            .filter(|c| *c > 0)
            .ok_or_else(|| {
                RecordError::new(
                    ErrorKind::BadChannel,
                    line_no,
                    "00000001.channel",
                    format!("{channel_text:?} is not a channel number (4 load, 1 generation)"),
                )
            })?;
        let basis = match f[5] {
            "" | "Y" | "y" => TimeBasis::CentralPrevailing,
            "N" | "n" => TimeBasis::CentralStandard,
            other => {
                return Err(RecordError::new(
                    ErrorKind::BadHeader,
                    line_no,
                    "00000001.dst_participation",
                    format!("{other:?} is not Y or N"),
                ))
            }
        };
        let mut timestamp =
            |i: usize, name: &str| -> Result<(NaiveDateTime, DateTime<Utc>), RecordError> {
                let text = get(i, name)?;
                let bad = |why: String| {
                    RecordError::new(
                        ErrorKind::BadTimestamp,
                        line_no,
                        format!("00000001.{name}"),
                        why,
                    )
                };
                let (local, utc) = times
                    .get(text, TimeKind::Basis(basis))
                    .ok_or_else(|| bad(format!("{text:?} is not a YYYYMMDDHHMMSS timestamp")))?;
                let utc = utc.map_err(|e| bad(e.to_string()))?;
                Ok((local, utc))
            };
        let (start_local, start) = timestamp(3, "start")?;
        let (stop_local, stop) = timestamp(4, "stop")?;
        if stop < start {
            return Err(RecordError::new(
                ErrorKind::StopBeforeStart,
                line_no,
                "00000001.stop",
                format!("stop {stop_local} is before start {start_local}"),
            ));
        }
        Ok(Header {
            esiid,
            channel,
            start_local,
            start,
            stop,
        })
    }
}

/// How a header timestamp becomes an instant.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TimeKind {
    /// `00000001` start and stop: [`TimeBasis::to_utc`].
    Basis(TimeBasis),
    /// `00000004`: [`time::revision_to_utc`], which always succeeds.
    Revision,
}

type CachedTime = (NaiveDateTime, Result<DateTime<Utc>, TimeError>);

/// Header timestamps already converted, by their text. A file repeats a few start, stop and
/// revision times over and over, and parsing one and converting it from Central time (chrono-tz)
/// is the costliest part of a record's header rows. Direct-mapped; an entry holds what the
/// conversion returned for exactly that text and kind, so a hit gives the same answer.
struct TimeCache {
    slots: Vec<Option<([u8; 14], TimeKind, CachedTime)>>,
}

impl TimeCache {
    const SLOTS: usize = 64;

    fn new() -> Self {
        TimeCache {
            slots: vec![None; Self::SLOTS],
        }
    }

    /// The local time and instant of a `YYYYMMDDHHMMSS` text; `None` when it is not one.
    fn get(&mut self, text: &str, kind: TimeKind) -> Option<CachedTime> {
        let convert = |text: &str| {
            let local = time::parse_compact(text)?;
            Some(match kind {
                TimeKind::Basis(basis) => (local, basis.to_utc(local)),
                TimeKind::Revision => (local, Ok(time::revision_to_utc(local))),
            })
        };
        let Ok(key) = <[u8; 14]>::try_from(text.as_bytes()) else {
            return convert(text);
        };
        let word = |from: usize| u64::from_le_bytes(key[from..from + 8].try_into().unwrap());
        let hash = (word(0) ^ word(6).rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let slot = &mut self.slots[(hash >> 58) as usize ^ usize::from(kind == TimeKind::Revision)];
        if let Some((k, kd, value)) = slot {
            if *k == key && *kd == kind {
                return Some(value.clone());
            }
        }
        let value = convert(text)?;
        *slot = Some((key, kind, value.clone()));
        Some(value)
    }
}

/// End of the field starting at `start`: the index of the next comma, or the line's length.
#[inline]
fn field_end(line: &[u8], start: usize) -> usize {
    line[start..]
        .iter()
        .position(|&b| b == b',')
        .map_or(line.len(), |i| start + i)
}

/// Writes one record as LSE, four triplets a row, with the ERCOT example's header values.
/// `crlf` picks the line ending (SMT files use CRLF).
pub fn write_record<W: Write>(
    w: &mut W,
    record: &IntervalRecord,
    crlf: bool,
) -> std::io::Result<()> {
    let eol = if crlf { "\r\n" } else { "\n" };
    let prevailing = TimeBasis::CentralPrevailing;
    let compact = |t: NaiveDateTime| t.format("%Y%m%d%H%M%S");
    // The stop is a minute before the end, as ERCOT writes it; with one-minute intervals that
    // would be the last interval's start, which the reader counts one interval short of the end,
    // so a second before the end instead.
    let before_end = if record.interval_seconds > 60 { 60 } else { 1 };
    let stop = record.end() - Duration::seconds(before_end);
    // Prevailing time (DST flag Y) cannot name the second pass of the repeated fall-back hour; a
    // record that starts or stops there (read from a DST-flag-N file) is written in standard time.
    let named = |t: DateTime<Utc>| prevailing.to_utc(prevailing.to_local(t)) == Ok(t);
    let (basis, dst) = if named(record.start) && named(stop) {
        (prevailing, 'Y')
    } else {
        (TimeBasis::CentralStandard, 'N')
    };
    write!(
        w,
        "00000001,{},{},{},{},{dst},N{eol}",
        record.esiid,
        record.channel,
        compact(basis.to_local(record.start)),
        compact(basis.to_local(stop))
    )?;
    write!(
        w,
        "00000002,0,0,0,,0,,{},01,1,-1,0.0,0.0,CST{eol}",
        record.interval_seconds
    )?;
    if let Some(id) = &record.transaction_id {
        write!(w, "00000003,{id}{eol}")?;
    }
    write!(
        w,
        "00000004,{},M{eol}",
        compact(prevailing.to_local(record.revision))
    )?;
    if !record.attributes.is_empty() {
        write!(w, "00000030,ATTRIBUTE_VALUE_PAIRS")?;
        for (k, v) in &record.attributes {
            write!(w, ",{k}={v}")?;
        }
        write!(w, "{eol}")?;
    }
    for (row, chunk) in record.intervals.chunks(TRIPLETS_PER_ROW).enumerate() {
        write!(w, "{}", 10_000_000 + row)?;
        for reading in chunk {
            match reading {
                Some(r) => write!(w, ",{},{},", r.kwh, r.status)?,
                None => write!(w, ",,,")?,
            }
        }
        write!(w, ",{eol}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::Generator;
    use chrono::NaiveDate;

    fn parse(text: &str) -> Vec<Result<IntervalRecord, RecordError>> {
        LseReader::new(text.as_bytes(), LseOptions::default()).collect()
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 7, 1).unwrap()
    }

    /// Data rows written in unusual but valid ways (signs, leading zeros, text in the blank
    /// field, no trailing comma, more triplets a row) leave the fast path for the general one
    /// mid-row and still read as the plain rows do.
    #[test]
    fn unusual_data_rows_read_like_plain_ones() {
        let mut g = Generator::new(7);
        g.missing_per_mille = 200;
        let record = g.record("10443720000000001", 4, day());
        let mut plain = Vec::new();
        write_record(&mut plain, &record, true).unwrap();
        let plain = String::from_utf8(plain).unwrap();
        let head: Vec<&str> = plain.lines().take_while(|l| !l.starts_with('1')).collect();
        let triplet = |i: usize, r: &Option<Reading>| match (i % 3, r) {
            (_, None) => ",,".to_owned(),
            (0, Some(r)) => format!("+{},{},x", r.kwh, r.status),
            (1, Some(r)) => format!("00{},{},", r.kwh, r.status),
            (_, Some(r)) => format!("{},{},", r.kwh, r.status),
        };
        let mut unusual = head.join("\n") + "\n";
        for (row, chunk) in record.intervals.chunks(7).enumerate() {
            let cells: Vec<String> = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| triplet(row * 7 + i, r))
                .collect();
            unusual += &format!("{},{}\n", 10_000_000 + row, cells.join(","));
        }
        let want = parse(&plain);
        let got = parse(&unusual);
        assert!(want[0].is_ok(), "{want:?}");
        assert_eq!(
            got[0].as_ref().map(|r| &r.intervals),
            want[0].as_ref().map(|r| &r.intervals)
        );
    }

    /// Row numbers are checked across the carries of the expected number (…09 → …10,
    /// …99 → …100): 288 five-minute intervals, one a row.
    #[test]
    fn row_numbers_across_carries() {
        let mut record = Generator::new(3).record("10443720000000001", 4, day());
        record.interval_seconds = 300;
        record.intervals = (0..288)
            .map(|i| {
                Some(Reading {
                    kwh: Decimal::new(i, 3),
                    status: Status::Actual,
                })
            })
            .collect();
        let mut text = Vec::new();
        write_record(&mut text, &record, false).unwrap();
        let text = String::from_utf8(text).unwrap();
        let mut one_a_row: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with('1'))
            .map(str::to_owned)
            .collect();
        for (i, r) in record.intervals.iter().enumerate() {
            let r = r.unwrap();
            one_a_row.push(format!("{},{},{},", 10_000_000 + i, r.kwh, r.status));
        }
        let got = parse(&(one_a_row.join("\n") + "\n"));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].as_ref().map(|r| &r.intervals), Ok(&record.intervals));

        // The row after 10000099 repeated: out of sequence, at the carry.
        let at = one_a_row
            .iter()
            .position(|l| l.starts_with("10000100,"))
            .unwrap();
        one_a_row[at] = one_a_row[at - 1].clone();
        let err = parse(&(one_a_row.join("\n") + "\n")).remove(0).unwrap_err();
        assert_eq!(err.kind, ErrorKind::OutOfSequence);
        assert_eq!(err.line, at as u64 + 1);
        assert_eq!(err.reason, "data row 10000099 where 10000100 was due");
    }

    /// Regression (found writing a test; the `lse_roundtrip` fuzz target fails on it): a record
    /// of one-minute intervals written by `write_record` read back one interval short ("1440
    /// intervals where 2025-07-01 has 1439 of 60 s"), because its stop, a minute before the end,
    /// was the last interval's start.
    #[test]
    fn one_minute_records_round_trip() {
        for day in [day(), crate::testdata::dst_days_2025()[1]] {
            let mut record = Generator::new(3).record("10443720000000001", 4, day);
            record.interval_seconds = 60;
            let slots = crate::time::slots_in_day(day, 60);
            record.intervals = (0..slots as i64)
                .map(|i| {
                    Some(Reading {
                        kwh: Decimal::new(i, 3),
                        status: Status::Actual,
                    })
                })
                .collect();
            let mut text = Vec::new();
            write_record(&mut text, &record, true).unwrap();
            let got = parse(std::str::from_utf8(&text).unwrap());
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].as_ref().map(|r| &r.intervals), Ok(&record.intervals));
        }
    }

    /// Regression (the `lse_roundtrip` fuzz target fails on it): a DST-flag-N record starting
    /// at 01:00 standard time on the fall-back day, the repeated hour's second pass, was written
    /// with flag Y and the same wall time, which reads as the first pass: an hour earlier, and
    /// "file ends after 96 of the 100 intervals".
    #[test]
    fn standard_time_records_in_the_repeated_hour_round_trip() {
        let mut text = String::from(
            "00000001,10443720000000001,4,20251102010000,20251103005900,N,N\n\
             00000002,0,0,0,,0,,900,01,1,-1,0.0,0.0,CST\n\
             00000004,20251104060000,M\n",
        );
        for row in 0..24 {
            text += &format!("{},1.000,A,,2.000,E,,,,,0.500,A,,\n", 10_000_000 + row);
        }
        let record = parse(&text).remove(0).expect("a standard-time record");
        let mut written = Vec::new();
        write_record(&mut written, &record, false).unwrap();
        let again = parse(std::str::from_utf8(&written).unwrap()).remove(0);
        let again = again.expect("the record as written");
        assert_eq!(again.start, record.start);
        assert_eq!(again.day, record.day);
        assert_eq!(again.intervals, record.intervals);
        // Records that prevailing time can name keep the usual header.
        let plain = Generator::new(1).record("10443720000000001", 4, day());
        let mut written = Vec::new();
        write_record(&mut written, &plain, false).unwrap();
        assert!(std::str::from_utf8(&written)
            .unwrap()
            .starts_with("00000001,10443720000000001,4,20250701000000,20250701235900,Y,N\n"));
    }

    /// Converted timestamps are cached by their text; the DST flag still tells `Y` and `N`
    /// records with the same texts apart, and a record reads the same whatever came before.
    #[test]
    fn cached_timestamps_keep_the_dst_flag_apart() {
        let record = Generator::new(5).record("10443720000000001", 4, day());
        let mut text = Vec::new();
        write_record(&mut text, &record, true).unwrap();
        let y = String::from_utf8(text).unwrap();
        let n = y.replacen(",Y,N\r\n", ",N,N\r\n", 1);
        assert_ne!(y, n);
        let alone_y = parse(&y);
        let alone_n = parse(&n);
        let together = parse(&format!("{y}{n}{y}{n}"));
        assert_eq!(together.len(), 4);
        for (i, r) in together.iter().enumerate() {
            let alone = if i % 2 == 0 { &alone_y[0] } else { &alone_n[0] };
            match (r, alone) {
                (Ok(a), Ok(b)) => assert_eq!(a.start, b.start),
                (Err(a), Err(b)) => {
                    assert_eq!((a.kind, &a.field, &a.reason), (b.kind, &b.field, &b.reason))
                }
                _ => panic!("record {i}: {r:?} vs {alone:?}"),
            }
        }
        // In July, Central standard time is an hour behind the prevailing (daylight) time.
        let start_n = alone_n[0].as_ref().map(|r| r.start);
        let start_y = alone_y[0].as_ref().map(|r| r.start);
        assert_eq!(start_n, start_y.map(|s| s + Duration::hours(1)));
    }

    /// The buffer holding a record's header row is reused by the next record: a record-level
    /// reject shows its own header row, even after a longer one.
    #[test]
    fn record_level_rejects_show_their_own_header() {
        let mut g = Generator::new(9);
        let long = g.record("1008901000000000000001", 4, day());
        let short = g.record("10443720000000001", 4, day());
        let mut text = Vec::new();
        write_record(&mut text, &long, false).unwrap();
        write_record(&mut text, &short, false).unwrap();
        let text = String::from_utf8(text).unwrap();
        let short_header = text
            .lines()
            .filter(|l| l.starts_with("00000001"))
            .nth(1)
            .unwrap();
        let (first, second) = text.split_at(text.find(short_header).unwrap());
        let second: Vec<&str> = second
            .lines()
            .filter(|l| !l.starts_with("00000004"))
            .collect();
        let text = format!("{first}{}\n", second.join("\n"));
        let got = parse(&text);
        assert!(got[0].is_ok(), "{:?}", got[0]);
        let err = got[1].as_ref().unwrap_err();
        assert_eq!(err.kind, ErrorKind::MissingRevision);
        assert_eq!(err.raw, short_header);
    }
}
