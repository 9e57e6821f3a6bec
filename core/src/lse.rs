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

use std::io::{BufRead, Write};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

use crate::decimal::Decimal;
use crate::esiid::{self, EsiidMode};
use crate::lines::{self, Line, Lines};
use crate::record::{ErrorKind, IntervalRecord, Reading, RecordError, Status};
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
    times: TimeCache,
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
            times: TimeCache::new(),
            done: false,
        }
    }
}

impl<R: BufRead> Iterator for LseReader<R> {
    type Item = Result<IntervalRecord, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let (line, line_no, unterminated) = match self.lines.next_line() {
                Ok(Some(Line::Text {
                    text,
                    number,
                    unterminated,
                })) => (text, number, unterminated),
                Ok(Some(Line::TooLong)) => {
                    let err = RecordError::new(
                        ErrorKind::TruncatedRecord,
                        self.lines.line_no(),
                        "line",
                        format!("line longer than {} bytes", lines::MAX_LINE_BYTES),
                    );
                    match self.pending.as_mut() {
                        Some(p) => p.fail(err),
                        None => return Some(Err(err)),
                    }
                    continue;
                }
                Ok(None) => {
                    self.done = true;
                    return self.pending.take().map(|p| p.finish(true));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(RecordError::io(&e, self.lines.line_no())));
                }
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            // Most rows are the next data row of a good record: straight to its triplets.
            if let Some(p) = self.pending.as_mut() {
                if p.error.is_none() && p.is_next_data_row(line) {
                    if let Err(e) = p.data_row_triplets(line, line_no, unterminated) {
                        p.fail(e.with_raw(line));
                    }
                    continue;
                }
            }
            // The row type: up to the first comma (which is the 9th byte in any sane row).
            let code_len = match line.iter().take(9).position(|&b| b == b',') {
                Some(n) => n,
                None => memchr::memchr(b',', line).unwrap_or(line.len()),
            };
            let code = &line[..code_len];
            if code == b"00000001" {
                let next = Pending::start(line, line_no, self.options, &mut self.times);
                if let Some(done) = self.pending.replace(next) {
                    return Some(done.finish(false));
                }
                continue;
            }
            let Some(p) = self.pending.as_mut() else {
                return Some(Err(RecordError::new(
                    ErrorKind::UnknownRowType,
                    line_no,
                    "row type",
                    format!(
                        "row {:?} outside a record (no 00000001 row before it)",
                        lines::text(code)
                    ),
                )
                .with_raw(line)));
            };
            if p.error.is_some() {
                continue;
            }
            if let Err(e) = p.row(code, line, line_no, unterminated, &mut self.times) {
                p.fail(e.with_raw(line));
            }
        }
        None
    }
}

impl Pending {
    fn start(line: &[u8], line_no: u64, options: LseOptions, times: &mut TimeCache) -> Pending {
        let mut p = Pending {
            line: line_no,
            header_raw: line.to_vec(),
            header: None,
            interval_seconds: None,
            revision: None,
            transaction_id: None,
            attributes: Vec::new(),
            intervals: Vec::with_capacity(100),
            data_rows: 0,
            next_code: Some(*b"10000000"),
            error: None,
        };
        match Header::parse(line, line_no, options, times) {
            Ok(h) => p.header = Some(h),
            Err(e) => p.fail(e.with_raw(line)),
        }
        p
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
                let text = lines::fields(line).nth(7).map_or("", lines::text);
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
            }
            b"00000003" => {
                self.once(self.transaction_id.is_some(), "00000003", line_no)?;
                let id = lines::fields(line).nth(1).map_or("", lines::text);
                self.transaction_id = (!id.is_empty()).then(|| id.to_owned());
            }
            b"00000004" => {
                self.once(self.revision.is_some(), "00000004", line_no)?;
                let text = lines::fields(line).nth(1).map_or("", lines::text);
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
                for pair in lines::fields(line)
                    .skip(2)
                    .map(lines::text)
                    .filter(|f| !f.is_empty())
                {
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
        // line's last field is taken. Same fields as `lines::fields`, without the iterator.
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
        loop {
            let Some(value_start) = next else { break };
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

    fn finish(self, at_eof: bool) -> Result<IntervalRecord, RecordError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let header = self.header.expect("a record without error has a header");
        let fail = |kind, field: &str, reason: String| {
            Err(RecordError::new(kind, self.line, field, reason).with_raw(&self.header_raw))
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
        for (slot, field) in f.iter_mut().zip(lines::fields(line)) {
            *slot = lines::text(field);
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
    let basis = TimeBasis::CentralPrevailing;
    let compact = |t: NaiveDateTime| t.format("%Y%m%d%H%M%S");
    let start = basis.to_local(record.start);
    let stop = basis.to_local(record.end() - Duration::seconds(60));
    write!(
        w,
        "00000001,{},{},{},{},Y,N{eol}",
        record.esiid,
        record.channel,
        compact(start),
        compact(stop)
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
        compact(basis.to_local(record.revision))
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
