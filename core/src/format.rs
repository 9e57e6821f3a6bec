//! Which format a file is in, judged by its content (file names lie: SMT names vary by report,
//! carry DUNS suffixes, and users rename files).

use std::fmt;

use crate::smt_csv::{self, daily, monthly, HeaderMap};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Lse,
    IntervalCsv,
    DailyCsv,
    MonthlyCsv,
    /// A reply of today's SMT JSON API to `/v2/15minintervalreads/` (`energyData`), kept as a
    /// file (see [`crate::smt_api`]).
    IntervalJson,
    /// A reply to `/v2/dailyreads/` (`registeredReads`).
    DailyJson,
    /// A Green Button (NAESB ESPI) Atom feed of interval readings (see [`crate::greenbutton`]).
    GreenButton,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Lse => "lse",
            Format::IntervalCsv => "interval_csv",
            Format::DailyCsv => "daily_csv",
            Format::MonthlyCsv => "monthly_csv",
            Format::IntervalJson => "interval_json",
            Format::DailyJson => "daily_json",
            Format::GreenButton => "green_button",
        }
    }

    /// Formats that hold interval records (the others hold reads or billing periods).
    /// Daily meter (register) reads: [`crate::daily_reads`] reads them.
    pub fn has_daily_reads(self) -> bool {
        matches!(self, Format::DailyCsv | Format::DailyJson)
    }

    pub fn has_intervals(self) -> bool {
        matches!(
            self,
            Format::Lse | Format::IntervalCsv | Format::IntervalJson | Format::GreenButton
        )
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How much of a file's start is given to [`detect`]: enough for any header row, small enough to
/// read before deciding how to load the rest.
pub const HEAD_BYTES: usize = 64 * 1024;

/// Detects the format from the start of a file (the first few KB are plenty): LSE starts with a
/// `00000001` row; the CSV reports are told apart by their header's column names; a Green Button
/// feed is XML naming the Atom and ESPI namespaces ([`crate::greenbutton::is_feed`]).
pub fn detect(head: &[u8]) -> Option<Format> {
    let head = head.strip_prefix("\u{feff}".as_bytes()).unwrap_or(head);
    if crate::greenbutton::is_feed(head) {
        return Some(Format::GreenButton);
    }
    let first = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find(|l| !smt_csv::is_blank(l))?;
    if let Some(json) = detect_json(head) {
        return Some(json);
    }
    if first.starts_with(b"00000001,") {
        return Some(Format::Lse);
    }
    let header = HeaderMap::new(first);
    if !header.has("ESIID") {
        return None;
    }
    if header.has("USAGE_START_TIME") {
        Some(Format::IntervalCsv)
    } else if [daily::START_READING, daily::END_READING]
        .iter()
        .any(|a| header.find(a).is_some())
        || header.has("READ_DATE")
    {
        Some(Format::DailyCsv)
    } else if header.find(monthly::START_DATE).is_some() && header.find(monthly::END_DATE).is_some()
    {
        Some(Format::MonthlyCsv)
    } else {
        None
    }
}

/// An SMT API reply: JSON (an object, or a list of objects) naming the data it holds within the
/// head. Key names are matched without case, as the replies are read.
fn detect_json(head: &[u8]) -> Option<Format> {
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    if !matches!(head[start], b'{' | b'[') {
        return None;
    }
    let lower = head.to_ascii_lowercase();
    let has = |key: &[u8]| memchr::memmem::find(&lower, key).is_some();
    if has(b"\"energydata\"") {
        Some(Format::IntervalJson)
    } else if has(b"\"registeredreads\"") {
        Some(Format::DailyJson)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_content() {
        assert_eq!(
            detect(b"\r\n00000001,1,4,20250101000000,20250101235900,Y,N\r\n"),
            Some(Format::Lse)
        );
        assert_eq!(
            detect(crate::smt_csv::interval::HEADER.as_bytes()),
            Some(Format::IntervalCsv)
        );
        assert_eq!(
            detect("\u{feff}ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_KWH".as_bytes()),
            Some(Format::IntervalCsv)
        );
        assert_eq!(
            detect(b"ESIID,READ_DATE,REVISION_DATE,START_READING,END_READING,USAGE_KWH\n"),
            Some(Format::DailyCsv)
        );
        assert_eq!(
            detect(b"ESIID,USAGE_START_DATE,USAGE_END_DATE,REVISION_DATE,ACTUAL_KWH,METERED_KW\n"),
            Some(Format::MonthlyCsv)
        );
        assert_eq!(
            detect(b" {\"trans_id\":\"1\",\"esiid\":\"1\",\"energyData\":[]}"),
            Some(Format::IntervalJson)
        );
        assert_eq!(
            detect(b"[{\"RegisteredReads\":[]}]"),
            Some(Format::DailyJson)
        );
        assert_eq!(detect(b"{\"errorCode\":\"1\"}"), None);
        assert_eq!(
            detect(
                b"\xef\xbb\xbf<?xml version=\"1.0\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\
                  <entry><content><UsagePoint xmlns=\"http://naesb.org/espi\"/>"
            ),
            Some(Format::GreenButton)
        );
        // Atom without ESPI, and ESPI's retail-customer namespace alone, are not Green Button
        // usage feeds.
        assert_eq!(
            detect(b"<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry/></feed>"),
            None
        );
        assert_eq!(
            detect(b"<feed xmlns='http://www.w3.org/2005/Atom'><x xmlns='http://naesb.org/espi/customer'/>"),
            None
        );
        assert_eq!(Format::GreenButton.name(), "green_button");
        assert!(Format::GreenButton.has_intervals() && !Format::GreenButton.has_daily_reads());
        assert_eq!(detect(b"hello,world\n"), None);
        assert_eq!(detect(b"PK\x03\x04zip"), None);
        assert_eq!(detect(b""), None);
    }
}
