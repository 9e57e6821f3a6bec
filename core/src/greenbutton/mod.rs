//! Green Button (NAESB REQ.21 ESPI): the Atom feed utilities and SMT offer as downloads, read into
//! [`IntervalRecord`](crate::record::IntervalRecord)s ([`import`]) and written from them
//! ([`export`]).
//!
//! A feed is a flat list of Atom entries tied together by their `link` hrefs:
//!
//! ```text
//! UsagePoint ──related──▶ MeterReading (one per channel) ──related──▶ ReadingType
//!                                      ◀──up── IntervalBlock(s) of IntervalReading
//! ```
//!
//! - `ReadingType` says what the values are: `flowDirection` 1 (delivered: consumption, ERCOT
//!   channel 4) or 19 (received: surplus generation, channel 1), `uom` 72 (Wh) scaled by
//!   `powerOfTenMultiplier` (a value `v` is `v × 10^m` Wh), `intervalLength` 900.
//! - `IntervalReading`: `timePeriod` start (Unix seconds, UTC) and duration, an integer `value`,
//!   and `ReadingQuality` (8: estimated).
//! - `LocalTimeParameters` gives the publisher's time zone; ERCOT operating days are Central
//!   whatever it says, so the importer places every reading by its instant in Central time.
//!
//! The schema (ESPI 4.0) and an offline `xmllint` check are in `shared/schemas/greenbutton/`; the
//! Green Button Alliance's sample feed is in `shared/fixtures/greenbutton/`. What is known of
//! SMT's own Green Button files is in `shared/docs/formats.md` ("Green Button (ESPI)").

pub mod export;
pub mod import;

#[cfg(test)]
mod tests;

pub use export::{feed, UsagePointInfo};
pub use import::{GreenButtonReader, ImportOptions};

use crate::record::{CHANNEL_GENERATION, CHANNEL_LOAD};

/// The ESPI namespace (`espi.xsd`'s target namespace).
pub const ESPI_NAMESPACE: &str = "http://naesb.org/espi";
/// The Atom namespace every Green Button feed is written in.
pub const ATOM_NAMESPACE: &str = "http://www.w3.org/2005/Atom";

/// `uom` 72: watt-hours.
pub const UOM_WH: i64 = 72;
/// `flowDirection` 1: forward, energy delivered to the customer (consumption).
pub const FLOW_DELIVERED: i64 = 1;
/// `flowDirection` 19: reverse, energy received from the customer (surplus generation).
pub const FLOW_RECEIVED: i64 = 19;
/// `QualityOfReading` 8: estimated (using a reference day).
pub const QUALITY_ESTIMATED: i64 = 8;
/// The only interval length read and written: 15 minutes.
pub const INTERVAL_SECONDS: u32 = 900;

/// The ERCOT channel of an ESPI `flowDirection`: 1 → 4 (load), 19 → 1 (generation).
pub fn channel_of_flow(flow_direction: i64) -> Option<u8> {
    match flow_direction {
        FLOW_DELIVERED => Some(CHANNEL_LOAD),
        FLOW_RECEIVED => Some(CHANNEL_GENERATION),
        _ => None,
    }
}

/// The ESPI `flowDirection` of an ERCOT channel: 4 → 1, 1 → 19.
pub fn flow_of_channel(channel: u8) -> Option<i64> {
    match channel {
        CHANNEL_LOAD => Some(FLOW_DELIVERED),
        CHANNEL_GENERATION => Some(FLOW_RECEIVED),
        _ => None,
    }
}

/// Whether the start of a file is a Green Button feed: XML (after an optional BOM and
/// whitespace) naming both the Atom namespace and the ESPI namespace (exactly
/// `http://naesb.org/espi` in quotes, so a retail-customer feed, `…/espi/customer`, is not one).
/// The namespaces are declared on the feed or its first entries' content, well within
/// [`crate::format::HEAD_BYTES`] even after the long comment some publishers put first.
pub fn is_feed(head: &[u8]) -> bool {
    let head = head.strip_prefix("\u{feff}".as_bytes()).unwrap_or(head);
    let Some(start) = head.iter().position(|b| !b.is_ascii_whitespace()) else {
        return false;
    };
    if head[start] != b'<' {
        return false;
    }
    let has = |needle: &[u8]| memchr::memmem::find(head, needle).is_some();
    let quoted =
        |ns: &str| has(format!("\"{ns}\"").as_bytes()) || has(format!("'{ns}'").as_bytes());
    quoted(ATOM_NAMESPACE) && quoted(ESPI_NAMESPACE)
}
