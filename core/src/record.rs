//! The unit every format parses into: one ESIID, one channel, one operating day, one revision.
//! It is also the grain of storage and of the replacement rule.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

use crate::decimal::{Decimal, DecimalSum};
use crate::time;

/// ERCOT channel numbers.
pub const CHANNEL_LOAD: u8 = 4;
pub const CHANNEL_GENERATION: u8 = 1;

/// Interval quality as SMT reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// `E`: estimated by the TDSP; expected to be replaced by actual data later.
    Estimated,
    /// `A`: actual meter data.
    Actual,
}

impl Status {
    pub fn parse(text: &[u8]) -> Option<Status> {
        match text {
            b"A" => Some(Status::Actual),
            b"E" => Some(Status::Estimated),
            _ => None,
        }
    }

    pub fn code(self) -> char {
        match self {
            Status::Actual => 'A',
            Status::Estimated => 'E',
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// One interval value that is present. A missing interval is `None` in
/// [`IntervalRecord::intervals`], never a zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reading {
    pub kwh: Decimal,
    pub status: Status,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntervalRecord {
    /// Normalized ESIID (checked in the mode the parser was given).
    pub esiid: String,
    /// 4 load (consumption), 1 generation (surplus).
    pub channel: u8,
    /// Operating day, Central prevailing time.
    pub day: NaiveDate,
    /// Start of the first interval.
    pub start: DateTime<Utc>,
    pub interval_seconds: u32,
    /// When this version of the data was made (LSE `00000004`, CSV `REVISION_DATE`).
    pub revision: DateTime<Utc>,
    /// LSE `00000003`; CSV files carry none.
    pub transaction_id: Option<String>,
    /// LSE `00000030` attribute pairs (MRE, Sender, Receiver, REP), in file order.
    pub attributes: Vec<(String, String)>,
    /// One entry per interval of the day, in time order; `None` is a missing interval.
    pub intervals: Vec<Option<Reading>>,
    /// 1-based line of the record's first row in its source.
    pub line: u64,
}

impl IntervalRecord {
    pub fn interval_bounds(&self, index: usize) -> (DateTime<Utc>, DateTime<Utc>) {
        time::interval_bounds(self.start, self.interval_seconds, index)
    }

    /// End of the last interval.
    pub fn end(&self) -> DateTime<Utc> {
        self.interval_bounds(self.intervals.len().saturating_sub(1))
            .1
    }

    /// Intervals the operating day should have at this record's interval length.
    pub fn expected_slots(&self) -> usize {
        time::slots_in_day(self.day, self.interval_seconds)
    }

    pub fn present(&self) -> usize {
        self.intervals.iter().flatten().count()
    }

    pub fn estimated(&self) -> usize {
        self.intervals
            .iter()
            .flatten()
            .filter(|r| r.status == Status::Estimated)
            .count()
    }

    pub fn kwh_sum(&self) -> DecimalSum {
        self.intervals.iter().flatten().map(|r| r.kwh).sum()
    }

    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// What went wrong with a record, in words a data engineer can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    WrongIntervalCount,
    NonNumericValue,
    UnknownStatus,
    InvalidEsiid,
    BadTimestamp,
    TruncatedRecord,
    StopBeforeStart,
    UnknownRowType,
    MissingField,
    BadChannel,
    BadIntervalLength,
    OutOfSequence,
    DuplicateInterval,
    NoSuchInterval,
    MissingRevision,
    BadHeader,
    LineTooLong,
    /// A NUL byte or invalid UTF-8 in a line.
    InvalidText,
    Io,
}

impl ErrorKind {
    /// Stable snake_case name, as stored in reject tables.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::WrongIntervalCount => "wrong_interval_count",
            ErrorKind::NonNumericValue => "non_numeric_value",
            ErrorKind::UnknownStatus => "unknown_status",
            ErrorKind::InvalidEsiid => "invalid_esiid",
            ErrorKind::BadTimestamp => "bad_timestamp",
            ErrorKind::TruncatedRecord => "truncated_record",
            ErrorKind::StopBeforeStart => "stop_before_start",
            ErrorKind::UnknownRowType => "unknown_row_type",
            ErrorKind::MissingField => "missing_field",
            ErrorKind::BadChannel => "bad_channel",
            ErrorKind::BadIntervalLength => "bad_interval_length",
            ErrorKind::OutOfSequence => "out_of_sequence",
            ErrorKind::DuplicateInterval => "duplicate_interval",
            ErrorKind::NoSuchInterval => "no_such_interval",
            ErrorKind::MissingRevision => "missing_revision",
            ErrorKind::BadHeader => "bad_header",
            ErrorKind::LineTooLong => "line_too_long",
            ErrorKind::InvalidText => "invalid_text",
            ErrorKind::Io => "io",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A rejected record: where (line and field), what kind, why, and the offending line's text.
/// Parsers go on with the next record after one of these.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct RecordError {
    /// 1-based line where the problem was found.
    pub line: u64,
    /// First line of the rejected record (equal to `line` for single-line problems).
    pub record_line: u64,
    /// The field or row the problem is in, e.g. `USAGE_KWH`, `00000001.esiid`, `interval 17`.
    pub field: String,
    pub kind: ErrorKind,
    pub reason: String,
    /// Text of the offending line, without its line ending. Invalid UTF-8 and NUL bytes are
    /// replaced by U+FFFD (PostgreSQL text cannot hold NUL).
    pub raw: String,
    /// ESIID of the rejected record, when the parser could read it.
    pub esiid: Option<String>,
    /// Channel of the rejected record (4 load, 1 generation), when known.
    pub channel: Option<u8>,
    /// Operating day of the rejected record, when known.
    pub day: Option<NaiveDate>,
}

/// What a reject can say about the ESIID-channel-day it belongs to (each part when known): the
/// one shape both parsers fill.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RejectContext {
    pub esiid: Option<String>,
    pub channel: Option<u8>,
    pub day: Option<NaiveDate>,
}

impl RejectContext {
    /// `e` with the parts of this context it does not already have.
    pub fn apply(&self, e: RecordError) -> RecordError {
        e.with_context(self.esiid.as_deref(), self.channel, self.day)
    }
}

/// `text` with every NUL replaced by U+FFFD (PostgreSQL text cannot hold NUL).
pub fn without_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{fffd}")
    } else {
        text
    }
}

impl RecordError {
    pub fn new(
        kind: ErrorKind,
        line: u64,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        RecordError {
            line,
            record_line: line,
            field: without_nul(field.into()),
            kind,
            reason: without_nul(reason.into()),
            raw: String::new(),
            esiid: None,
            channel: None,
            day: None,
        }
    }

    /// Keeps `raw` as the offending line's text: invalid UTF-8 and NUL bytes become U+FFFD.
    pub fn with_raw(mut self, raw: &[u8]) -> Self {
        self.raw = without_nul(String::from_utf8_lossy(raw).into_owned());
        self
    }

    /// Fills the ESIID, channel and day that are not already set.
    pub fn with_context(
        mut self,
        esiid: Option<&str>,
        channel: Option<u8>,
        day: Option<NaiveDate>,
    ) -> Self {
        if self.esiid.is_none() {
            self.esiid = esiid.map(str::to_owned);
        }
        self.channel = self.channel.or(channel);
        self.day = self.day.or(day);
        self
    }

    pub fn in_record(mut self, record_line: u64) -> Self {
        self.record_line = record_line;
        self
    }

    /// A line over [`crate::lines::MAX_LINE_BYTES`]: it was skipped without being kept in memory.
    pub fn line_too_long(line: u64) -> Self {
        RecordError::new(
            ErrorKind::LineTooLong,
            line,
            "line",
            format!("line longer than {} bytes", crate::lines::MAX_LINE_BYTES),
        )
    }

    pub fn io(err: &std::io::Error, line: u64) -> Self {
        RecordError::new(ErrorKind::Io, line, "file", format!("read failed: {err}"))
    }
}
