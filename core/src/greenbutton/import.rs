//! Reading a Green Button (ESPI) Atom feed into [`IntervalRecord`]s: one per ESIID, channel and
//! Central operating day, or a [`RecordError`] saying why that day (or that channel) is rejected,
//! as every other format's reader does.
//!
//! **Streaming.** The feed is read event by event (quick-xml over the `BufRead`); an entry is kept
//! only until its end tag, and an IntervalBlock's readings only in a compact form (about 40 bytes
//! each) until the block is placed. Days are collected per ESIID-channel-day and handed out as
//! soon as every slot of the day has a reading; a day still missing intervals stays open for a
//! later block (blocks of another publisher's days straddle Central days) until the feed ends or
//! more than [`MAX_OPEN_DAYS`] are open (the oldest is then handed out as it is). So memory is a
//! few dozen days, not the file, in the usual order (ReadingType before its blocks).
//!
//! **Tying entries together.** Entries name each other by Atom `link` hrefs (compared without
//! scheme and host, and without a trailing `/`):
//!
//! - an IntervalBlock belongs to the MeterReading whose `related` links name the block's `up`
//!   (`…/MeterReading/01/IntervalBlock`), or whose `self` href the block's `self`/`up` lies under
//!   (`…/MeterReading/01` ⊂ `…/MeterReading/01/IntervalBlock/173`);
//! - a MeterReading's ReadingType is the one whose `self` href is among its `related` links;
//! - a MeterReading's UsagePoint is the one whose `related` links name the MeterReading's `up`,
//!   or whose `self` href the MeterReading's lies under.
//!
//! Without usable links, document order decides: a block belongs to the last MeterReading before
//! it (or the first after it); a MeterReading that names no ReadingType takes the first one after
//! it that no other MeterReading names (or, at the end of the feed, the nearest one before); a
//! MeterReading takes the last UsagePoint before it (or the first after it).
//!
//! **ReadingType after the blocks.** SMT's own files put the ReadingType entry after the
//! IntervalBlocks. A block whose MeterReading's ReadingType (or UsagePoint, which gives the ESIID)
//! is not known yet cannot be turned into kWh or given a channel, so it waits, compactly, for that
//! entry; the wait is bounded by [`MAX_PENDING_READINGS`]. When the entry arrives, the waiting
//! blocks are placed in document order; at the end of the feed the document-order fallbacks above
//! settle what links could not.
//!
//! **Values.** A `value` of `v` with `powerOfTenMultiplier` `m` is `v × 10^m` Wh, kept exactly as
//! a [`Decimal`] of kWh with at least 3 decimals (`1234` at `m = 0` is `1.234`, at `m = -3`
//! `0.001234`). Only `uom` 72 (Wh), `flowDirection` 1 (channel 4) or 19 (channel 1) and 900 s
//! intervals are read; another ReadingType rejects its MeterReading with one error. A
//! `ReadingQuality` of 8 (or, with none given, a ReadingType `defaultQuality` of 8) is
//! [`Status::Estimated`]; anything else is actual.
//!
//! **Placement.** A reading goes to the Central operating day and slot its `timePeriod` start
//! (Unix seconds) falls in, so DST days get 92 or 100 slots by themselves. SMT mislabels the
//! first interval of the fall-back day's second pass (01:00–01:15 CST) as starting at 02:00
//! (formats.md; the same as its CSV's, see [`crate::smt_csv::interval`]), and its feeds turn that
//! label into an instant in one of two ways, both read as the CSV is, by document order:
//!
//! - **a repeated start**: a start written twice in a row, in the repeated hour of the fall-back
//!   day, with the slot after it given by no reading of the day (`06:45Z, 06:45Z, 07:15Z` in
//!   2025): the second reading goes into that skipped slot;
//! - **a start an hour late**: "02:00" read as CST 02:00, so right after the last CDT slot of
//!   the repeated hour comes a reading that starts one hour after the first CST slot, and that
//!   start comes again later, in its right place (`06:45Z, 08:00Z, 07:15Z, … 07:45Z, 08:00Z`):
//!   the first of the two goes into the first CST slot (07:00Z), provided no reading of the day
//!   starts there. Only that reading is moved, so a lone late start is placed where it says.
//!
//! Trusting the instants would put two readings in one slot and lose the day, every November.
//! Any other repeated start (or both forms claiming the same slot) is a duplicate and rejects
//! the day, since which reading is right cannot be told; a start off the day's 15-minute grid
//! rejects the day. The forms are recognised when the day is handed out, over its readings in
//! document order, so a day split across IntervalBlocks, or waiting for a ReadingType that
//! comes after its blocks, is read the same.
//!
//! **ESIID and revision.** The ESIID is the UsagePoint's `serviceDeliveryPoint` `name` or its
//! entry `title`, when either is a valid ESIID (in the reader's [`EsiidMode`]), else the caller's
//! hint ([`ImportOptions::esiid_hint`]); with neither, the channel is rejected with an error
//! naming the UsagePoint. The revision is the IntervalBlock entry's `updated` (else `published`;
//! else the MeterReading's, else the feed's `updated`); a day made of several blocks takes the
//! latest. A timestamp without a zone is read as UTC.
//!
//! `line` (records and errors) is the 1-based line of the first reading of the day, or of the
//! entry an error is about.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, BufRead, Read};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::America::Chicago;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::{channel_of_flow, INTERVAL_SECONDS, QUALITY_ESTIMATED, UOM_WH};
use crate::decimal::{Decimal, MAX_DIGITS};
use crate::esiid::{self, EsiidMode};
use crate::record::{ErrorKind, IntervalRecord, Reading, RecordError, RejectContext, Status};
use crate::time;

/// Days kept open for a later block; past this many, the oldest is handed out as it is.
pub const MAX_OPEN_DAYS: usize = 64;
/// Readings that may wait for their MeterReading's ReadingType or UsagePoint (about 40 MB);
/// a block past this is rejected.
pub const MAX_PENDING_READINGS: usize = 1_000_000;
/// Longest element text kept (titles, hrefs, numbers); the rest is ignored.
const MAX_TEXT: usize = 4096;
/// Least decimals an imported kWh value carries (SMT's precision: whole Wh).
const MIN_KWH_SCALE: u32 = 3;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOptions {
    pub esiid_mode: EsiidMode,
    /// The ESIID to use when the feed's UsagePoint names none (e.g. known from the request or
    /// the file name). A UsagePoint that names a valid ESIID wins over it.
    pub esiid_hint: Option<String>,
}

/// Streams the records of a Green Button feed. See the module documentation.
pub struct GreenButtonReader<R> {
    reader: Reader<LineCounter<R>>,
    buf: Vec<u8>,
    xml: XmlState,
    feed: Feed,
    done: bool,
}

impl<R: BufRead> GreenButtonReader<R> {
    pub fn new(src: R, options: ImportOptions) -> Self {
        let mut reader = Reader::from_reader(LineCounter {
            inner: src,
            newlines: 0,
        });
        reader.config_mut().expand_empty_elements = true;
        GreenButtonReader {
            reader,
            buf: Vec::new(),
            xml: XmlState::default(),
            feed: Feed::new(options),
            done: false,
        }
    }

    /// Reads one XML event and acts on it.
    fn step(&mut self) {
        self.buf.clear();
        let event = self.reader.read_event_into(&mut self.buf);
        let line = 1 + self.reader.get_ref().newlines;
        let result = match event {
            Err(quick_xml::Error::Io(e)) => Err(RecordError::io(&e, line)),
            Err(quick_xml::Error::Syntax(e))
                if e != quick_xml::errors::SyntaxError::InvalidBangMarkup =>
            {
                // Every other syntax error is the input ending inside markup.
                Err(RecordError::new(
                    ErrorKind::TruncatedRecord,
                    line,
                    self.xml.stack.last().map_or("xml", String::as_str),
                    format!(
                        "the feed ends inside markup ({e}): it was cut short{}",
                        self.xml.lost_entry()
                    ),
                ))
            }
            Err(e) => Err(RecordError::new(
                ErrorKind::InvalidText,
                line,
                "xml",
                format!(
                    "not well-formed XML: {e} (byte {})",
                    self.reader.error_position()
                ),
            )),
            Ok(Event::Start(e)) => self.xml.start(&e, line),
            Ok(Event::End(e)) => {
                let name = e.local_name().as_ref().to_string();
                self.xml.end(&name, &mut self.feed);
                Ok(())
            }
            Ok(Event::Text(t)) => {
                self.xml.push_text(&t.xml10_content());
                Ok(())
            }
            Ok(Event::CData(t)) => {
                self.xml.push_text(&t.xml10_content());
                Ok(())
            }
            Ok(Event::GeneralRef(r)) => {
                match r.resolve_char_ref() {
                    Ok(Some(c)) => self.xml.push_text(c.encode_utf8(&mut [0; 4])),
                    // An entity the feed's DTD would define is kept as written.
                    _ => match quick_xml::escape::resolve_predefined_entity(&r) {
                        Some(s) => self.xml.push_text(s),
                        None => self.xml.push_text(&format!("&{};", &*r)),
                    },
                }
                Ok(())
            }
            Ok(Event::Eof) => {
                if let Some(open) = self.xml.stack.last() {
                    self.feed.out.push_back(Err(RecordError::new(
                        ErrorKind::TruncatedRecord,
                        line,
                        open.clone(),
                        format!(
                            "the feed ends inside <{open}>: it was cut short{}",
                            self.xml.lost_entry()
                        ),
                    )));
                } else if !self.xml.root_seen {
                    self.feed.out.push_back(Err(RecordError::new(
                        ErrorKind::BadHeader,
                        line,
                        "feed",
                        "no XML element: not a Green Button feed",
                    )));
                }
                self.finish();
                return;
            }
            Ok(_) => Ok(()),
        };
        if let Err(e) = result {
            // Nothing after a syntax error can be trusted; what was read before is placed.
            self.feed.out.push_back(Err(e));
            self.finish();
        }
    }

    fn finish(&mut self) {
        self.done = true;
        if self.xml.root_ok {
            self.feed.finish();
        }
    }
}

impl<R: BufRead> Iterator for GreenButtonReader<R> {
    type Item = Result<IntervalRecord, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.feed.out.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            self.step();
        }
    }
}

/// Counts the lines quick-xml has consumed, for the `line` of records and errors.
struct LineCounter<R> {
    inner: R,
    newlines: u64,
}

impl<R: BufRead> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.newlines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for LineCounter<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        // The bytes consumed are the front of the buffer last filled (no read happens here).
        if let Ok(buf) = self.inner.fill_buf() {
            let n = amt.min(buf.len());
            self.newlines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        }
        self.inner.consume(amt);
    }
}

// ---------------------------------------------------------------------------------------------
// XML level: which element we are in, and the text of the one that just ended.

#[derive(Default)]
struct XmlState {
    /// Local names of the open elements.
    stack: Vec<String>,
    text: String,
    root_seen: bool,
    /// The root is an Atom `feed` (or a lone `entry`).
    root_ok: bool,
    entry: Option<EntryBuf>,
    reading: Option<ReadingText>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Kind {
    #[default]
    Other,
    UsagePoint,
    MeterReading,
    ReadingType,
    IntervalBlock,
}

#[derive(Default)]
struct EntryBuf {
    line: u64,
    kind: Kind,
    title: Option<String>,
    updated: Option<String>,
    published: Option<String>,
    links: Links,
    /// UsagePoint: `serviceDeliveryPoint/name`.
    sdp_name: Option<String>,
    /// ReadingType: the fields read, as text.
    rt: RtText,
    /// IntervalBlock: its readings, in document order.
    readings: Vec<RawReading>,
}

#[derive(Clone, Debug, Default)]
struct Links {
    self_href: Option<String>,
    up: Option<String>,
    related: Vec<String>,
}

impl Links {
    fn any(&self) -> bool {
        self.self_href.is_some() || self.up.is_some() || !self.related.is_empty()
    }
}

#[derive(Default)]
struct RtText {
    flow_direction: Option<String>,
    uom: Option<String>,
    multiplier: Option<String>,
    interval_length: Option<String>,
    default_quality: Option<String>,
}

#[derive(Default)]
struct ReadingText {
    line: u64,
    start: Option<String>,
    duration: Option<String>,
    value: Option<String>,
    qualities: Vec<String>,
}

/// One IntervalReading, compact, as it waits to be placed.
struct RawReading {
    /// `timePeriod/start`; `None` when absent or unreadable (`problem` says which).
    start: Option<i64>,
    duration: Option<i64>,
    value: i64,
    quality: Quality,
    line: u64,
    problem: Option<Box<Problem>>,
}

/// Why a reading cannot be read, kept until its day is known.
struct Problem {
    kind: ErrorKind,
    field: String,
    reason: String,
    raw: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quality {
    /// No `ReadingQuality`: the ReadingType's `defaultQuality` decides.
    Unstated,
    Estimated,
    Other,
}

impl XmlState {
    /// For a cut-short feed: the entry being read, which is lost.
    fn lost_entry(&self) -> String {
        self.entry.as_ref().map_or(String::new(), |e| {
            format!(
                "; the entry from line {} ({} readings read) is not loaded",
                e.line,
                e.readings.len()
            )
        })
    }

    fn push_text(&mut self, text: &str) {
        if self.text.len() < MAX_TEXT {
            self.text.push_str(text);
        }
    }

    fn start(&mut self, e: &BytesStart<'_>, line: u64) -> Result<(), RecordError> {
        let name = e.local_name().as_ref().to_string();
        if self.stack.is_empty() {
            if self.root_seen {
                return Err(RecordError::new(
                    ErrorKind::InvalidText,
                    line,
                    "xml",
                    format!("a second root element <{name}>"),
                ));
            }
            self.root_seen = true;
            if name != "feed" && name != "entry" {
                return Err(RecordError::new(
                    ErrorKind::BadHeader,
                    line,
                    "feed",
                    format!("the document is <{name}>, not an Atom feed: not Green Button"),
                ));
            }
            self.root_ok = true;
        }
        let parent = self.stack.last().cloned();
        let parent = parent.as_deref();
        if name == "entry" && (parent.is_none() || parent == Some("feed")) {
            self.entry = Some(EntryBuf {
                line,
                ..EntryBuf::default()
            });
        }
        if let Some(entry) = self.entry.as_mut() {
            if name == "link" && parent == Some("entry") {
                read_link(e, &mut entry.links);
            } else if parent == Some("content") {
                entry.kind = match name.as_str() {
                    "UsagePoint" => Kind::UsagePoint,
                    "MeterReading" => Kind::MeterReading,
                    "ReadingType" => Kind::ReadingType,
                    "IntervalBlock" => Kind::IntervalBlock,
                    _ => entry.kind,
                };
            } else if name == "IntervalReading" && parent == Some("IntervalBlock") {
                self.reading = Some(ReadingText {
                    line,
                    ..ReadingText::default()
                });
            }
        }
        self.stack.push(name);
        self.text.clear();
        Ok(())
    }

    fn end(&mut self, name: &str, feed: &mut Feed) {
        self.stack.pop();
        let text = std::mem::take(&mut self.text).trim().to_owned();
        let parent = self.stack.last().map(String::as_str);
        if name == "updated" && parent == Some("feed") {
            feed.updated = parse_timestamp(&text);
            return;
        }
        let Some(entry) = self.entry.as_mut() else {
            return;
        };
        let set = |slot: &mut Option<String>| *slot = Some(text.clone());
        match (parent, name) {
            (Some("entry"), "title") => set(&mut entry.title),
            (Some("entry"), "updated") => set(&mut entry.updated),
            (Some("entry"), "published") => set(&mut entry.published),
            (Some("ReadingType"), "flowDirection") => set(&mut entry.rt.flow_direction),
            (Some("ReadingType"), "uom") => set(&mut entry.rt.uom),
            (Some("ReadingType"), "powerOfTenMultiplier") => set(&mut entry.rt.multiplier),
            (Some("ReadingType"), "intervalLength") => set(&mut entry.rt.interval_length),
            (Some("ReadingType"), "defaultQuality") => set(&mut entry.rt.default_quality),
            (Some(p), "name")
                if p.eq_ignore_ascii_case("serviceDeliveryPoint")
                    && self.stack.iter().any(|s| s == "UsagePoint") =>
            {
                set(&mut entry.sdp_name)
            }
            (Some("timePeriod"), "start") => {
                if let Some(r) = self.reading.as_mut() {
                    r.start = Some(text);
                }
            }
            (Some("timePeriod"), "duration") => {
                if let Some(r) = self.reading.as_mut() {
                    r.duration = Some(text);
                }
            }
            (Some("IntervalReading"), "value") => {
                if let Some(r) = self.reading.as_mut() {
                    r.value = Some(text);
                }
            }
            (Some("ReadingQuality"), "quality") => {
                if let Some(r) = self.reading.as_mut() {
                    r.qualities.push(text);
                }
            }
            (Some("IntervalBlock"), "IntervalReading") => {
                if let Some(r) = self.reading.take() {
                    entry.readings.push(r.parse());
                }
            }
            (_, "entry") => {
                if let Some(entry) = self.entry.take() {
                    feed.add_entry(entry);
                }
            }
            _ => {}
        }
    }
}

fn read_link(e: &BytesStart<'_>, links: &mut Links) {
    let mut rel = None;
    let mut href = None;
    for a in e.attributes().flatten() {
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map(|v| v.into_owned())
            .unwrap_or_default();
        match a.key.local_name().as_ref() {
            "rel" => rel = Some(value),
            "href" => href = Some(normalize_href(&value)),
            _ => {}
        }
    }
    let Some(href) = href.filter(|h| !h.is_empty()) else {
        return;
    };
    match rel.as_deref().map(str::trim) {
        Some("self") => links.self_href = Some(href),
        Some("up") => links.up = Some(href),
        Some("related") => links.related.push(href),
        _ => {}
    }
}

/// An href as compared: without `scheme://host` and a trailing `/`.
fn normalize_href(href: &str) -> String {
    let href = href.trim();
    let path = match href.find("://") {
        Some(i) => {
            let rest = &href[i + 3..];
            rest.find('/').map_or("", |j| &rest[j..])
        }
        None => href,
    };
    path.trim_end_matches('/').to_owned()
}

/// `child` lies under `parent` (`/a/b` under `/a`, not under `/a/` or `/ab`).
fn under(child: &str, parent: &str) -> bool {
    !parent.is_empty()
        && child.len() > parent.len()
        && child.starts_with(parent)
        && child.as_bytes()[parent.len()] == b'/'
}

impl ReadingText {
    fn parse(self) -> RawReading {
        let mut problem: Option<Box<Problem>> = None;
        let mut fail = |kind: ErrorKind, field: &str, reason: String| {
            if problem.is_none() {
                problem = Some(Box::new(Problem {
                    kind,
                    field: format!("IntervalReading.{field}"),
                    reason,
                    raw: self.raw(),
                }));
            }
        };
        let start = match self.start.as_deref() {
            None => {
                fail(
                    ErrorKind::MissingField,
                    "timePeriod.start",
                    "no timePeriod start: the reading cannot be placed in a day".into(),
                );
                None
            }
            Some(t) => match t.parse::<i64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    fail(
                        ErrorKind::BadTimestamp,
                        "timePeriod.start",
                        format!("start {t:?} is not Unix seconds"),
                    );
                    None
                }
            },
        };
        let duration = match self.duration.as_deref() {
            None => None,
            Some(t) => match t.parse::<i64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    fail(
                        ErrorKind::BadIntervalLength,
                        "timePeriod.duration",
                        format!("duration {t:?} is not a number of seconds"),
                    );
                    None
                }
            },
        };
        let value = match self.value.as_deref() {
            None => {
                fail(
                    ErrorKind::MissingField,
                    "value",
                    "no value (a missing interval is an absent reading, not one without a value)"
                        .into(),
                );
                0
            }
            Some(t) => t.parse::<i64>().unwrap_or_else(|_| {
                fail(
                    ErrorKind::NonNumericValue,
                    "value",
                    format!("value {t:?} is not an integer"),
                );
                0
            }),
        };
        let mut quality = Quality::Unstated;
        for q in &self.qualities {
            match q.parse::<i64>() {
                Ok(QUALITY_ESTIMATED) => quality = Quality::Estimated,
                Ok(_) if quality == Quality::Unstated => quality = Quality::Other,
                Ok(_) => {}
                Err(_) => fail(
                    ErrorKind::UnknownStatus,
                    "ReadingQuality.quality",
                    format!("quality {q:?} is not a number"),
                ),
            }
        }
        RawReading {
            start,
            duration,
            value,
            quality,
            line: self.line,
            problem,
        }
    }

    /// The reading as written, for a reject's `raw`.
    fn raw(&self) -> String {
        let mut s = String::from("<IntervalReading>");
        for q in &self.qualities {
            s.push_str(&format!(
                "<ReadingQuality><quality>{q}</quality></ReadingQuality>"
            ));
        }
        s.push_str("<timePeriod>");
        if let Some(d) = &self.duration {
            s.push_str(&format!("<duration>{d}</duration>"));
        }
        if let Some(t) = &self.start {
            s.push_str(&format!("<start>{t}</start>"));
        }
        s.push_str("</timePeriod>");
        if let Some(v) = &self.value {
            s.push_str(&format!("<value>{v}</value>"));
        }
        s.push_str("</IntervalReading>");
        s
    }
}

impl RawReading {
    fn error(&self) -> Option<RecordError> {
        let p = self.problem.as_ref()?;
        Some(
            RecordError::new(p.kind, self.line, p.field.clone(), p.reason.clone())
                .with_raw(p.raw.as_bytes()),
        )
    }

    fn raw(&self) -> String {
        format!(
            "<IntervalReading><timePeriod><start>{}</start></timePeriod><value>{}</value></IntervalReading>",
            self.start.map_or(String::new(), |s| s.to_string()),
            self.value
        )
    }
}

fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

// ---------------------------------------------------------------------------------------------
// Feed level: the entries seen, how they tie together, and the days being collected.

struct UsagePoint {
    links: Links,
    title: Option<String>,
    /// The ESIID it names, when its serviceDeliveryPoint name or title is one.
    esiid: Option<String>,
}

impl UsagePoint {
    fn describe(&self) -> String {
        let title = self.title.as_deref().unwrap_or("");
        match &self.links.self_href {
            Some(href) => format!("UsagePoint {title:?} ({href})"),
            None => format!("UsagePoint {title:?}"),
        }
    }
}

struct MeterReading {
    doc: usize,
    line: u64,
    links: Links,
    title: Option<String>,
    revision: Option<DateTime<Utc>>,
    /// Some `related` link names a ReadingType (`…/ReadingType/…`).
    names_reading_type: bool,
    reading_type: Option<usize>,
    usage_point: Option<usize>,
    state: MrState,
}

impl MeterReading {
    fn describe(&self) -> String {
        let title = self.title.as_deref().unwrap_or("");
        match &self.links.self_href {
            Some(href) => format!("MeterReading {title:?} ({href})"),
            None => format!("MeterReading {title:?}"),
        }
    }

    /// Whether `block` belongs to this MeterReading by its links.
    fn owns(&self, block: &Links) -> bool {
        let named = |href: &Option<String>| {
            href.as_ref().is_some_and(|h| {
                self.links.related.contains(h)
                    || self.links.self_href.as_ref().is_some_and(|s| under(h, s))
            })
        };
        named(&block.up)
            || named(&block.self_href)
            || self
                .links
                .self_href
                .as_ref()
                .is_some_and(|s| block.related.contains(s))
    }
}

enum MrState {
    Waiting,
    Ready(Target),
    /// Rejected with one error; its blocks are dropped.
    Failed,
}

#[derive(Clone)]
struct Target {
    esiid: String,
    channel: u8,
    multiplier: i32,
    default_estimated: bool,
}

struct ReadingTypeEntry {
    doc: usize,
    self_href: Option<String>,
    parsed: Result<ReadingTypeInfo, RecordError>,
}

#[derive(Clone, Copy)]
struct ReadingTypeInfo {
    channel: u8,
    multiplier: i32,
    default_estimated: bool,
}

struct Block {
    doc: usize,
    line: u64,
    links: Links,
    /// The last MeterReading before the block, for the document-order fallback.
    preceding: Option<usize>,
    meter_reading: Option<usize>,
    revision: Option<DateTime<Utc>>,
    readings: Vec<RawReading>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct DayKey {
    esiid: String,
    channel: u8,
    day: NaiveDate,
}

struct Placed {
    start: i64,
    reading: Reading,
}

struct DayBuf {
    /// Order the day was opened in, to hand out the oldest first.
    opened: u64,
    line: u64,
    revision: Option<DateTime<Utc>>,
    /// Readings seen (placed or not): the day is complete when it has one per slot.
    seen: usize,
    readings: Vec<Placed>,
    error: Option<RecordError>,
}

struct Feed {
    options: ImportOptions,
    entries: usize,
    updated: Option<DateTime<Utc>>,
    usage_points: Vec<UsagePoint>,
    meter_readings: Vec<MeterReading>,
    reading_types: Vec<ReadingTypeEntry>,
    pending: Vec<Block>,
    pending_readings: usize,
    days: BTreeMap<DayKey, DayBuf>,
    opened: u64,
    out: VecDeque<Result<IntervalRecord, RecordError>>,
}

impl Feed {
    fn new(options: ImportOptions) -> Self {
        Feed {
            options,
            entries: 0,
            updated: None,
            usage_points: Vec::new(),
            meter_readings: Vec::new(),
            reading_types: Vec::new(),
            pending: Vec::new(),
            pending_readings: 0,
            days: BTreeMap::new(),
            opened: 0,
            out: VecDeque::new(),
        }
    }

    fn add_entry(&mut self, entry: EntryBuf) {
        let doc = self.entries;
        self.entries += 1;
        match entry.kind {
            Kind::UsagePoint => self.add_usage_point(entry),
            Kind::MeterReading => self.add_meter_reading(doc, entry),
            Kind::ReadingType => self.add_reading_type(doc, entry),
            Kind::IntervalBlock => self.add_block(doc, entry),
            Kind::Other => {}
        }
    }

    fn add_usage_point(&mut self, entry: EntryBuf) {
        let mode = self.options.esiid_mode;
        // An ESIID is one word: a title such as "Front Electric Meter" is not one, even in
        // lenient mode (which would otherwise read it as "FrontElectricMeter").
        let esiid = [entry.sdp_name.as_deref(), entry.title.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|t| !t.contains(char::is_whitespace))
            .find_map(|t| esiid::parse(t, mode).ok());
        let index = self.usage_points.len();
        let links = entry.links;
        self.usage_points.push(UsagePoint {
            links,
            title: entry.title,
            esiid,
        });
        // MeterReadings that had no UsagePoint before them take this one (the first after them).
        let waiting: Vec<usize> = (0..self.meter_readings.len())
            .filter(|&m| self.meter_readings[m].usage_point.is_none())
            .collect();
        for m in waiting {
            self.meter_readings[m].usage_point = Some(index);
            self.evaluate(m, false);
        }
    }

    /// The UsagePoint a MeterReading belongs to by its links.
    fn linked_usage_point(&self, links: &Links) -> Option<usize> {
        self.usage_points.iter().position(|u| {
            links
                .up
                .as_ref()
                .is_some_and(|up| u.links.related.contains(up))
                || u.links.self_href.as_ref().is_some_and(|s| {
                    links.self_href.as_ref().is_some_and(|m| under(m, s))
                        || links.up.as_ref().is_some_and(|m| under(m, s))
                })
        })
    }

    fn add_meter_reading(&mut self, doc: usize, entry: EntryBuf) {
        let revision = entry_revision(&entry);
        let links = entry.links;
        let index = self.meter_readings.len();
        let reading_type = self.reading_types.iter().position(|rt| {
            rt.self_href
                .as_ref()
                .is_some_and(|s| links.related.contains(s))
        });
        let usage_point = self
            .linked_usage_point(&links)
            .or_else(|| self.usage_points.len().checked_sub(1));
        let names_reading_type = links.related.iter().any(|h| h.contains("/ReadingType"));
        self.meter_readings.push(MeterReading {
            doc,
            line: entry.line,
            links,
            title: entry.title,
            revision,
            names_reading_type,
            reading_type,
            usage_point,
            state: MrState::Waiting,
        });
        // Blocks that came before their MeterReading: those its links name, and those without
        // links that had no MeterReading before them.
        for block in &mut self.pending {
            if block.meter_reading.is_none()
                && (self.meter_readings[index].owns(&block.links)
                    || (!block.links.any() && block.preceding.is_none()))
            {
                block.meter_reading = Some(index);
            }
        }
        self.evaluate(index, false);
    }

    fn add_reading_type(&mut self, doc: usize, entry: EntryBuf) {
        let parsed = parse_reading_type(&entry);
        let self_href = entry.links.self_href;
        let index = self.reading_types.len();
        self.reading_types.push(ReadingTypeEntry {
            doc,
            self_href: self_href.clone(),
            parsed,
        });
        let mut claimed: Vec<usize> = (0..self.meter_readings.len())
            .filter(|&m| {
                let mr = &self.meter_readings[m];
                mr.reading_type.is_none()
                    && self_href
                        .as_ref()
                        .is_some_and(|s| mr.links.related.contains(s))
            })
            .collect();
        if claimed.is_empty() {
            // Document order: the last MeterReading before it that names no ReadingType (SMT's
            // files put the ReadingType after the blocks of its MeterReading).
            claimed.extend((0..self.meter_readings.len()).rev().find(|&m| {
                let mr = &self.meter_readings[m];
                mr.reading_type.is_none() && !mr.names_reading_type
            }));
        }
        for m in claimed {
            self.meter_readings[m].reading_type = Some(index);
            self.evaluate(m, false);
        }
    }

    fn add_block(&mut self, doc: usize, entry: EntryBuf) {
        let revision = entry_revision(&entry);
        let links = entry.links;
        let preceding = self.meter_readings.len().checked_sub(1);
        let meter_reading = self
            .meter_readings
            .iter()
            .position(|m| m.owns(&links))
            .or(if links.any() { None } else { preceding });
        let block = Block {
            doc,
            line: entry.line,
            links,
            preceding,
            meter_reading,
            revision,
            readings: entry.readings,
        };
        match meter_reading.map(|m| &self.meter_readings[m].state) {
            Some(MrState::Ready(target)) => {
                let target = target.clone();
                let revision = self.block_revision(&block);
                self.place(&target, revision, block.readings);
            }
            Some(MrState::Failed) => {}
            Some(MrState::Waiting) | None => self.wait(block),
        }
    }

    /// Keeps a block until its MeterReading is ready, within [`MAX_PENDING_READINGS`].
    fn wait(&mut self, block: Block) {
        if self.pending_readings + block.readings.len() > MAX_PENDING_READINGS {
            let what = match block.meter_reading {
                Some(m) => self.meter_readings[m].describe(),
                None => "its MeterReading".to_owned(),
            };
            self.out.push_back(Err(RecordError::new(
                ErrorKind::OutOfSequence,
                block.line,
                "IntervalBlock",
                format!(
                    "more than {MAX_PENDING_READINGS} readings wait for the ReadingType or \
                     UsagePoint of {what}; this block's {} readings are not read (put the \
                     ReadingType and UsagePoint entries before the blocks)",
                    block.readings.len()
                ),
            )));
            return;
        }
        self.pending_readings += block.readings.len();
        self.pending.push(block);
    }

    fn block_revision(&self, block: &Block) -> Option<DateTime<Utc>> {
        block
            .revision
            .or_else(|| {
                block
                    .meter_reading
                    .and_then(|m| self.meter_readings[m].revision)
            })
            .or(self.updated)
    }

    /// Decides whether a MeterReading can be read: its ReadingType and its ESIID known. At the
    /// end of the feed (`at_end`), what is still missing is an error.
    fn evaluate(&mut self, m: usize, at_end: bool) {
        let mr = &self.meter_readings[m];
        if !matches!(mr.state, MrState::Waiting) {
            return;
        }
        let Some(rt) = mr.reading_type else {
            if at_end {
                let why = if mr.names_reading_type {
                    format!(
                        "{} names a ReadingType ({}) the feed does not have: what its values \
                         are is unknown, so its readings are not loaded",
                        mr.describe(),
                        mr.links
                            .related
                            .iter()
                            .find(|h| h.contains("/ReadingType"))
                            .map_or("", String::as_str)
                    )
                } else {
                    format!(
                        "{} has no ReadingType in the feed: what its values are is unknown, so \
                         its readings are not loaded",
                        mr.describe()
                    )
                };
                let e = RecordError::new(ErrorKind::MissingField, mr.line, "ReadingType", why)
                    .with_context(self.known_esiid(m).as_deref(), None, None);
                self.fail(m, e);
            }
            return;
        };
        let info = match &self.reading_types[rt].parsed {
            Ok(info) => *info,
            Err(e) => {
                let mut e = e.clone();
                e.reason = format!(
                    "{}; {} is not loaded",
                    e.reason,
                    self.meter_readings[m].describe()
                );
                let e = e.with_context(self.known_esiid(m).as_deref(), None, None);
                self.fail(m, e);
                return;
            }
        };
        let mode = self.options.esiid_mode;
        let hint = self.options.esiid_hint.as_deref();
        let esiid = match mr.usage_point {
            None if !at_end => return,
            None => None,
            Some(u) => self.usage_points[u].esiid.clone(),
        };
        let esiid = match (esiid, hint) {
            (Some(e), _) => e,
            (None, Some(hint)) => match esiid::parse(hint, mode) {
                Ok(e) => e,
                Err(why) => {
                    let e = RecordError::new(
                        ErrorKind::InvalidEsiid,
                        mr.line,
                        "esiid",
                        format!("the ESIID given with the file: {why}"),
                    )
                    .with_context(None, Some(info.channel), None);
                    self.fail(m, e);
                    return;
                }
            },
            (None, None) => {
                let whose = match mr.usage_point {
                    Some(u) => format!(
                        "{} names none in its title or serviceDeliveryPoint name",
                        self.usage_points[u].describe()
                    ),
                    None => "the feed has no UsagePoint entry".to_owned(),
                };
                let e = RecordError::new(
                    ErrorKind::MissingField,
                    mr.line,
                    "UsagePoint",
                    format!(
                        "no ESIID: {whose}, and none was given with the file; {} is not loaded",
                        mr.describe()
                    ),
                )
                .with_context(None, Some(info.channel), None);
                self.fail(m, e);
                return;
            }
        };
        let target = Target {
            esiid,
            channel: info.channel,
            multiplier: info.multiplier,
            default_estimated: info.default_estimated,
        };
        self.meter_readings[m].state = MrState::Ready(target.clone());
        let (mine, rest): (Vec<Block>, Vec<Block>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|b| b.meter_reading == Some(m));
        self.pending = rest;
        for block in mine {
            self.pending_readings -= block.readings.len();
            let revision = self.block_revision(&block);
            self.place(&target, revision, block.readings);
        }
    }

    /// The ESIID a MeterReading's records will have, as far as known now (for rejects).
    fn known_esiid(&self, m: usize) -> Option<String> {
        self.meter_readings[m]
            .usage_point
            .and_then(|u| self.usage_points[u].esiid.clone())
            .or_else(|| {
                let hint = self.options.esiid_hint.as_deref()?;
                esiid::parse(hint, self.options.esiid_mode).ok()
            })
    }

    fn fail(&mut self, m: usize, e: RecordError) {
        self.meter_readings[m].state = MrState::Failed;
        let before = self.pending.len();
        self.pending.retain(|b| b.meter_reading != Some(m));
        if self.pending.len() != before {
            self.pending_readings = self.pending.iter().map(|b| b.readings.len()).sum();
        }
        self.out.push_back(Err(e));
    }

    /// The end of the feed: settles by document order what links did not, then hands out
    /// every day still open.
    fn finish(&mut self) {
        // Blocks whose MeterReading is still unknown.
        for i in 0..self.pending.len() {
            if self.pending[i].meter_reading.is_some() {
                continue;
            }
            let block = &self.pending[i];
            let found = self
                .meter_readings
                .iter()
                .position(|m| m.owns(&block.links))
                .or(block.preceding)
                .or_else(|| self.meter_readings.iter().position(|m| m.doc > block.doc));
            self.pending[i].meter_reading = found;
        }
        let orphans: Vec<Block> = {
            let (orphans, rest) = std::mem::take(&mut self.pending)
                .into_iter()
                .partition(|b| b.meter_reading.is_none());
            self.pending = rest;
            orphans
        };
        for block in orphans {
            self.pending_readings -= block.readings.len();
            self.out.push_back(Err(RecordError::new(
                ErrorKind::MissingField,
                block.line,
                "MeterReading",
                format!(
                    "an IntervalBlock ({} readings) belongs to no MeterReading of the feed",
                    block.readings.len()
                ),
            )));
        }
        // MeterReadings that name no ReadingType take one by document order: the first after
        // them that no MeterReading names, else the nearest before.
        for m in 0..self.meter_readings.len() {
            let mr = &self.meter_readings[m];
            if mr.reading_type.is_some() || mr.names_reading_type {
                continue;
            }
            let named = |rt: &ReadingTypeEntry| {
                rt.self_href.as_ref().is_some_and(|s| {
                    self.meter_readings
                        .iter()
                        .any(|other| other.links.related.contains(s))
                })
            };
            let taken = |r: usize| {
                self.meter_readings
                    .iter()
                    .any(|other| other.reading_type == Some(r))
            };
            let free: Vec<usize> = (0..self.reading_types.len())
                .filter(|&r| !named(&self.reading_types[r]) && !taken(r))
                .collect();
            let found = free
                .iter()
                .copied()
                .find(|&r| self.reading_types[r].doc > mr.doc)
                .or_else(|| {
                    free.iter()
                        .copied()
                        .rev()
                        .find(|&r| self.reading_types[r].doc < mr.doc)
                });
            self.meter_readings[m].reading_type = found;
        }
        for m in 0..self.meter_readings.len() {
            self.evaluate(m, true);
        }
        let keys: Vec<DayKey> = self.days.keys().cloned().collect();
        for key in keys {
            self.hand_out(&key);
        }
    }

    /// Places a block's readings in their days, then hands out the days now complete and, past
    /// [`MAX_OPEN_DAYS`], the oldest.
    fn place(
        &mut self,
        target: &Target,
        revision: Option<DateTime<Utc>>,
        readings: Vec<RawReading>,
    ) {
        let context = RejectContext {
            esiid: Some(target.esiid.clone()),
            channel: Some(target.channel),
            day: None,
        };
        let mut touched: Vec<DayKey> = Vec::new();
        for r in readings {
            let Some(instant) = r.start.and_then(|s| DateTime::from_timestamp(s, 0)) else {
                let e = r.error().unwrap_or_else(|| {
                    RecordError::new(
                        ErrorKind::BadTimestamp,
                        r.line,
                        "IntervalReading.timePeriod.start",
                        format!("start {:?} is not a time", r.start),
                    )
                    .with_raw(r.raw().as_bytes())
                });
                self.out.push_back(Err(context.apply(e)));
                continue;
            };
            let day = instant.with_timezone(&Chicago).date_naive();
            let key = DayKey {
                esiid: target.esiid.clone(),
                channel: target.channel,
                day,
            };
            if !touched.contains(&key) {
                touched.push(key.clone());
            }
            if !self.days.contains_key(&key) {
                self.opened += 1;
            }
            let opened = self.opened;
            let buf = self.days.entry(key).or_insert_with(|| DayBuf {
                opened,
                line: r.line,
                revision: None,
                seen: 0,
                readings: Vec::new(),
                error: None,
            });
            buf.seen += 1;
            buf.revision = buf.revision.max(revision);
            if buf.error.is_some() {
                continue;
            }
            if let Some(e) = r.error() {
                buf.error = Some(e);
                continue;
            }
            if let Some(d) = r.duration.filter(|&d| d != i64::from(INTERVAL_SECONDS)) {
                buf.error = Some(
                    RecordError::new(
                        ErrorKind::BadIntervalLength,
                        r.line,
                        "IntervalReading.timePeriod.duration",
                        format!("duration {d} s: only {INTERVAL_SECONDS} s intervals are read"),
                    )
                    .with_raw(r.raw().as_bytes()),
                );
                continue;
            }
            match kwh(r.value, target.multiplier) {
                Ok(kwh) => {
                    let estimated = match r.quality {
                        Quality::Estimated => true,
                        Quality::Other => false,
                        Quality::Unstated => target.default_estimated,
                    };
                    buf.readings.push(Placed {
                        start: instant.timestamp(),
                        reading: Reading {
                            kwh,
                            status: if estimated {
                                Status::Estimated
                            } else {
                                Status::Actual
                            },
                        },
                    });
                }
                Err(why) => {
                    buf.error = Some(
                        RecordError::new(
                            ErrorKind::NonNumericValue,
                            r.line,
                            "IntervalReading.value",
                            why,
                        )
                        .with_raw(r.raw().as_bytes()),
                    );
                }
            }
        }
        for key in touched {
            let complete = self
                .days
                .get(&key)
                .is_some_and(|b| b.seen >= time::slots_in_day(key.day, INTERVAL_SECONDS));
            if complete {
                self.hand_out(&key);
            }
        }
        while self.days.len() > MAX_OPEN_DAYS {
            let oldest = self
                .days
                .iter()
                .min_by_key(|(_, b)| b.opened)
                .map(|(k, _)| k.clone())
                .expect("more than MAX_OPEN_DAYS days are open");
            self.hand_out(&oldest);
        }
    }

    fn hand_out(&mut self, key: &DayKey) {
        if let Some(buf) = self.days.remove(key) {
            self.out.push_back(finish_day(key, buf));
        }
    }
}

/// The revision an entry gives: `updated`, else `published`.
fn entry_revision(entry: &EntryBuf) -> Option<DateTime<Utc>> {
    [entry.updated.as_deref(), entry.published.as_deref()]
        .into_iter()
        .flatten()
        .find_map(parse_timestamp)
}

fn parse_reading_type(entry: &EntryBuf) -> Result<ReadingTypeInfo, RecordError> {
    let rt = &entry.rt;
    let fail = |kind: ErrorKind, field: &str, why: String, text: Option<&str>| {
        let raw = text.map_or(String::new(), |t| format!("<{field}>{t}</{field}>"));
        Err(
            RecordError::new(kind, entry.line, format!("ReadingType.{field}"), why)
                .with_raw(raw.as_bytes()),
        )
    };
    fn number(text: &Option<String>) -> Option<(&str, Option<i64>)> {
        text.as_deref().map(|t| (t, t.parse::<i64>().ok()))
    }
    let channel = match number(&rt.flow_direction) {
        None => {
            return fail(
                ErrorKind::BadChannel,
                "flowDirection",
                "the ReadingType has no flowDirection: consumption or generation is unknown".into(),
                None,
            )
        }
        Some((t, v)) => match v.and_then(channel_of_flow) {
            Some(c) => c,
            None => {
                return fail(
                    ErrorKind::BadChannel,
                    "flowDirection",
                    format!(
                        "flowDirection {t} is neither 1 (delivered: consumption) nor 19 \
                         (received: surplus generation)"
                    ),
                    Some(t),
                )
            }
        },
    };
    match number(&rt.uom) {
        Some((_, Some(UOM_WH))) => {}
        Some((t, _)) => {
            return fail(
                ErrorKind::BadHeader,
                "uom",
                format!("uom {t} is not 72 (Wh): only energy in watt-hours is read"),
                Some(t),
            )
        }
        None => {
            return fail(
                ErrorKind::BadHeader,
                "uom",
                "the ReadingType has no uom: the values' unit is unknown".into(),
                None,
            )
        }
    }
    let multiplier = match number(&rt.multiplier) {
        None => 0,
        Some((t, v)) => match v.and_then(|v| i32::try_from(v).ok()) {
            Some(m) if (MIN_MULTIPLIER..=MAX_MULTIPLIER).contains(&m) => m,
            Some(m) => {
                return fail(
                    ErrorKind::BadHeader,
                    "powerOfTenMultiplier",
                    format!(
                        "powerOfTenMultiplier {m}: values × 10^{m} Wh cannot be held exactly (kWh \
                         are kept with at most {MAX_DIGITS} decimals and {MAX_DIGITS} digits; \
                         the multiplier must be {MIN_MULTIPLIER} to {MAX_MULTIPLIER})"
                    ),
                    Some(t),
                )
            }
            None => {
                return fail(
                    ErrorKind::BadHeader,
                    "powerOfTenMultiplier",
                    format!("powerOfTenMultiplier {t:?} is not an integer"),
                    Some(t),
                )
            }
        },
    };
    if let Some((t, v)) = number(&rt.interval_length) {
        if v != Some(i64::from(INTERVAL_SECONDS)) {
            return fail(
                ErrorKind::BadIntervalLength,
                "intervalLength",
                format!("intervalLength {t} s: only {INTERVAL_SECONDS} s (15-minute) intervals are read"),
                Some(t),
            );
        }
    }
    let default_estimated =
        number(&rt.default_quality).is_some_and(|(_, v)| v == Some(QUALITY_ESTIMATED));
    Ok(ReadingTypeInfo {
        channel,
        multiplier,
        default_estimated,
    })
}

/// The smallest multiplier read: `10^-15` Wh is `10^-18` kWh, the most decimals a [`Decimal`]
/// holds.
pub const MIN_MULTIPLIER: i32 = MIN_KWH_SCALE as i32 - MAX_DIGITS as i32;
/// The largest: a value of 1 is then `10^15` Wh, `10^12` kWh (16 digits at 3 decimals).
pub const MAX_MULTIPLIER: i32 = MAX_DIGITS as i32 - MIN_KWH_SCALE as i32;

/// `value × 10^multiplier` Wh as exact kWh: at least 3 decimals, trailing zeros beyond 3 dropped
/// (`1234`, `m = 0` → `1.234`; `1234`, `m = -3` → `0.001234`; `1234000`, `m = -3` → `1.234`).
pub fn kwh(value: i64, multiplier: i32) -> Result<Decimal, String> {
    // kWh = value × 10^(multiplier - 3) = units × 10^-scale.
    let natural_scale = i64::from(MIN_KWH_SCALE) - i64::from(multiplier);
    let scale = natural_scale.max(i64::from(MIN_KWH_SCALE));
    if scale > i64::from(MAX_DIGITS) {
        return Err(format!(
            "value {value} × 10^{multiplier} Wh needs {scale} decimals of kWh; at most \
             {MAX_DIGITS} are held exactly"
        ));
    }
    let too_large = || {
        format!(
            "value {value} × 10^{multiplier} Wh has more than {MAX_DIGITS} digits as kWh with \
             {MIN_KWH_SCALE} decimals"
        )
    };
    let mut units = i128::from(value)
        .checked_mul(10i128.pow((scale - natural_scale) as u32))
        .ok_or_else(too_large)?;
    let mut scale = scale as u32;
    while scale > MIN_KWH_SCALE && units % 10 == 0 {
        units /= 10;
        scale -= 1;
    }
    if units.unsigned_abs() >= 10u128.pow(MAX_DIGITS) {
        return Err(too_large());
    }
    Ok(Decimal::new(units as i64, scale as u8))
}

/// A day's readings as its record: each in the slot its start names, except SMT's fall-back
/// mislabel in either of its two forms (see the module documentation), or the day's error.
fn finish_day(key: &DayKey, buf: DayBuf) -> Result<IntervalRecord, RecordError> {
    let context = RejectContext {
        esiid: Some(key.esiid.clone()),
        channel: Some(key.channel),
        day: Some(key.day),
    };
    let reject = |e: RecordError| Err(context.apply(e).in_record(buf.line));
    if let Some(e) = buf.error {
        return reject(e);
    }
    let Some(revision) = buf.revision else {
        return reject(RecordError::new(
            ErrorKind::MissingRevision,
            buf.line,
            "updated",
            "no updated or published timestamp on the IntervalBlock entry, its MeterReading or \
             the feed: which version is newer could not be decided",
        ));
    };
    let n = time::slots_in_day(key.day, INTERVAL_SECONDS);
    let start = time::day_start(key.day);
    let first = start.timestamp();
    let len = i64::from(INTERVAL_SECONDS);
    let slot_of = |s: i64| {
        let offset = s - first;
        (offset >= 0 && offset % len == 0 && offset / len < n as i64)
            .then_some((offset / len) as usize)
    };
    let mut named = vec![false; n];
    for p in &buf.readings {
        if let Some(i) = slot_of(p.start) {
            named[i] = true;
        }
    }
    let walls = time::slot_wall_minutes(key.day, INTERVAL_SECONDS);
    let repeated_hour = |i: usize| walls.iter().filter(|&&w| w == walls[i]).count() > 1;
    let late = late_second_pass_start(&buf.readings, &walls, &named, first);
    let mut intervals: Vec<Option<Reading>> = vec![None; n];
    let mut previous: Option<i64> = None;
    for (k, p) in buf.readings.iter().enumerate() {
        let at = DateTime::from_timestamp(p.start, 0).unwrap_or(start);
        if let Some((_, slot)) = late.filter(|&(at_k, _)| at_k == k) {
            // SMT's "02:00" read as CST (see `late_second_pass_start`): the reading is the
            // first CST slot's. That slot is named by no reading, so only the other form's move
            // can have filled it: both claim it and which is right cannot be told.
            if intervals[slot].is_some() {
                let true_start = first + slot as i64 * len;
                return reject(RecordError::new(
                    ErrorKind::DuplicateInterval,
                    buf.line,
                    "IntervalReading.timePeriod.start",
                    format!(
                        "two readings for {} ({}) on {}: a repeated start and a start an hour \
                         late ({}) both stand for it",
                        true_start,
                        DateTime::from_timestamp(true_start, 0)
                            .unwrap_or(start)
                            .to_rfc3339(),
                        key.day,
                        at.to_rfc3339()
                    ),
                ));
            }
            intervals[slot] = Some(p.reading);
            previous = Some(p.start);
            continue;
        }
        let Some(mut i) = slot_of(p.start) else {
            return reject(RecordError::new(
                ErrorKind::NoSuchInterval,
                buf.line,
                "IntervalReading.timePeriod.start",
                format!(
                    "{} ({}) is not an interval start of {} (off the 15-minute grid)",
                    p.start,
                    at.to_rfc3339(),
                    key.day
                ),
            ));
        };
        if intervals[i].is_some() {
            // SMT's fall-back mislabel, the repeated-start form: the start written again right
            // after itself, in the repeated hour, with the slot after it given by no reading.
            let mislabel = previous == Some(p.start)
                && i + 1 < n
                && !named[i + 1]
                && intervals[i + 1].is_none()
                && repeated_hour(i + 1);
            if !mislabel {
                return reject(RecordError::new(
                    ErrorKind::DuplicateInterval,
                    buf.line,
                    "IntervalReading.timePeriod.start",
                    format!(
                        "two readings start at {} ({}) on {}",
                        p.start,
                        at.to_rfc3339(),
                        key.day
                    ),
                ));
            }
            i += 1;
        }
        intervals[i] = Some(p.reading);
        previous = Some(p.start);
    }
    Ok(IntervalRecord {
        esiid: key.esiid.clone(),
        channel: key.channel,
        day: key.day,
        start,
        interval_seconds: INTERVAL_SECONDS,
        revision,
        transaction_id: None,
        attributes: Vec::new(),
        intervals,
        line: buf.line,
    })
}

/// SMT's fall-back mislabel in its second form (see the module documentation): the first CST
/// slot of the repeated hour labelled "02:00", which SMT turns into an instant as CST 02:00, an
/// hour after the slot's true start. Gives the reading's index in `readings` (document order)
/// and the slot it belongs in, when the day has exactly that pattern: it is the fall-back day;
/// the reading comes right after the last CDT slot of the repeated hour and starts one hour
/// after the first CST slot; no reading of the day starts in that slot (`named`); and a later
/// reading starts at the same instant (the interval that truly starts there). Without the later
/// reading nothing is repeated, so nothing is moved: the reading is placed where it says. One
/// pass, no allocation, so a day costs no more memory than its readings.
fn late_second_pass_start(
    readings: &[Placed],
    walls: &[u16],
    named: &[bool],
    first: i64,
) -> Option<(usize, usize)> {
    // The first CST slot: where the wall clock goes back, which only the fall-back day has.
    let slot = (1..walls.len()).find(|&i| walls[i] < walls[i - 1])?;
    if named[slot] {
        return None;
    }
    let len = i64::from(INTERVAL_SECONDS);
    let true_start = first + slot as i64 * len;
    let last_cdt = true_start - len;
    let label = true_start + 3600;
    let k = 1 + readings
        .windows(2)
        .position(|w| w[0].start == last_cdt && w[1].start == label)?;
    readings[k + 1..]
        .iter()
        .any(|p| p.start == label)
        .then_some((k, slot))
}
