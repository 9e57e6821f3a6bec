//! Writing [`IntervalRecord`]s as a Green Button (ESPI 4.0) Atom feed that validates against the
//! official schema (`shared/schemas/greenbutton/`, checked with `xmllint` by the tests) and reads
//! back through [`super::import`] into the same records.
//!
//! The feed holds, in this order: the UsagePoint entry (its `title` the caller's, its
//! `serviceDeliveryPoint` `name` the ESIID), LocalTimeParameters for US Central time, then per
//! channel present (load first) a MeterReading, its ReadingType, and one IntervalBlock per
//! operating day. Every Atom `link` carries `type` (`espi-entry/…`, `espi-feed/…`), as ESPI 3.3's
//! Atom schema requires.
//!
//! **Values are exact integers.** uom 72 (Wh) with `powerOfTenMultiplier` −3, so a value is in
//! thousandths of a Wh and every kWh with up to 6 decimals (SMT's have 3) is an integer. A channel
//! with a value of more than 6 decimals gets the multiplier that keeps all of its values whole
//! (`3 − scale`: −4 for 7 decimals, …). No float is ever involved.
//!
//! **Days.** An IntervalBlock spans its Central operating day (82 800, 86 400 or 90 000 s from
//! local midnight); each present interval is an IntervalReading with its `timePeriod` (Unix start,
//! the record's interval length) and `value`, plus `ReadingQuality` 8 when estimated. A missing
//! interval is simply absent. A block entry's `published`/`updated` is the record's revision, so
//! the import gives the same revision back; the other entries carry the feed's `updated`.
//!
//! Records of another ESIID than the UsagePoint's, or of a channel other than 4 and 1, are left
//! out. Several records of one channel-day (versions) give one block: the latest revision's.
//! Records are expected at 900 s intervals (all the importers make); the ReadingType's
//! `intervalLength` is the channel's first record's. Values are not checked against ESPI's
//! Int48 range (±1.4 × 10^14, i.e. 140 GWh per interval at multiplier −3).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use super::{flow_of_channel, ATOM_NAMESPACE, ESPI_NAMESPACE, QUALITY_ESTIMATED, UOM_WH};
use crate::record::{IntervalRecord, Status, CHANNEL_GENERATION, CHANNEL_LOAD};

/// The UsagePoint a feed describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsagePointInfo {
    /// Written as the UsagePoint's `serviceDeliveryPoint` `name`, where the importer finds it.
    pub esiid: String,
    /// The UsagePoint entry's Atom `title`.
    pub title: String,
}

/// The default `powerOfTenMultiplier`: values in thousandths of a Wh.
pub const DEFAULT_MULTIPLIER: i32 = -3;

/// US Central time as ESPI encodes it (`DstRuleType`, bits: month 28–31, operator 25–27, day of
/// month 20–24, weekday 17–19 with Monday = 1, hour 12–16, seconds 0–11): DST starts on the second
/// (operator 3) Sunday (7) of March (3) at 02:00, and ends on the first (operator 2) Sunday of
/// November (11) at 02:00; standard time is UTC−6 h, DST adds 1 h.
pub const DST_START_RULE: u32 = (3 << 28) | (3 << 25) | (7 << 17) | (2 << 12);
pub const DST_END_RULE: u32 = (11 << 28) | (2 << 25) | (7 << 17) | (2 << 12);
pub const TZ_OFFSET_SECONDS: i64 = -6 * 3600;
pub const DST_OFFSET_SECONDS: i64 = 3600;

const BASE: &str = "/espi/1_1/resource";
const USAGE_POINTS: &str = "/espi/1_1/resource/RetailCustomer/1/UsagePoint";

/// The feed of `records` for `usage_point`, as a UTF-8 XML document. `updated` is the feed's
/// (and its descriptive entries') `updated`.
pub fn feed(
    usage_point: &UsagePointInfo,
    records: &[IntervalRecord],
    updated: DateTime<Utc>,
) -> String {
    // (channel order, day) → the latest version of the day.
    let mut days: BTreeMap<(u8, NaiveDate), &IntervalRecord> = BTreeMap::new();
    for r in records {
        if r.esiid != usage_point.esiid || flow_of_channel(r.channel).is_none() {
            continue;
        }
        let order = u8::from(r.channel != CHANNEL_LOAD);
        let slot = days.entry((order, r.day)).or_insert(r);
        if r.revision >= slot.revision {
            *slot = r;
        }
    }
    let stamp = timestamp(updated);
    let up = format!("{USAGE_POINTS}/1");
    let mut w = Feed {
        out: String::with_capacity(4096 + days.len() * 16 * 1024),
        esiid: &usage_point.esiid,
    };
    w.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(w.out, "<feed xmlns=\"{ATOM_NAMESPACE}\">");
    let _ = writeln!(w.out, "  <id>{}</id>", uuid(&["feed", w.esiid]));
    let _ = writeln!(
        w.out,
        "  <title>Green Button usage: {}</title>",
        text(&usage_point.title)
    );
    let _ = writeln!(w.out, "  <updated>{stamp}</updated>");
    link(
        &mut w.out,
        2,
        "self",
        "espi-feed/UsagePoint",
        &format!("{BASE}/Batch/RetailCustomer/1/UsagePoint/1"),
    );

    // UsagePoint.
    w.open_entry(&["UsagePoint"]);
    link(&mut w.out, 4, "self", "espi-entry/UsagePoint", &up);
    link(&mut w.out, 4, "up", "espi-feed/UsagePoint", USAGE_POINTS);
    link(
        &mut w.out,
        4,
        "related",
        "espi-feed/MeterReading",
        &format!("{up}/MeterReading"),
    );
    link(
        &mut w.out,
        4,
        "related",
        "espi-entry/LocalTimeParameters",
        &format!("{BASE}/LocalTimeParameters/1"),
    );
    let _ = writeln!(w.out, "    <title>{}</title>", text(&usage_point.title));
    let _ = write!(
        w.out,
        "    <content>\n      <UsagePoint xmlns=\"{ESPI_NAMESPACE}\">\n        \
         <ServiceCategory><kind>0</kind></ServiceCategory>\n        \
         <serviceDeliveryPoint><name>{}</name></serviceDeliveryPoint>\n      \
         </UsagePoint>\n    </content>\n",
        text(&usage_point.esiid)
    );
    w.close_entry(&stamp, &stamp);

    // LocalTimeParameters: US Central.
    w.open_entry(&["LocalTimeParameters"]);
    link(
        &mut w.out,
        4,
        "self",
        "espi-entry/LocalTimeParameters",
        &format!("{BASE}/LocalTimeParameters/1"),
    );
    link(
        &mut w.out,
        4,
        "up",
        "espi-feed/LocalTimeParameters",
        &format!("{BASE}/LocalTimeParameters"),
    );
    w.out
        .push_str("    <title>US Central (America/Chicago)</title>\n");
    let _ = write!(
        w.out,
        "    <content>\n      <LocalTimeParameters xmlns=\"{ESPI_NAMESPACE}\">\n        \
         <dstEndRule>{DST_END_RULE:08X}</dstEndRule>\n        \
         <dstOffset>{DST_OFFSET_SECONDS}</dstOffset>\n        \
         <dstStartRule>{DST_START_RULE:08X}</dstStartRule>\n        \
         <tzOffset>{TZ_OFFSET_SECONDS}</tzOffset>\n      \
         </LocalTimeParameters>\n    </content>\n"
    );
    w.close_entry(&stamp, &stamp);

    for channel in [CHANNEL_LOAD, CHANNEL_GENERATION] {
        let order = u8::from(channel != CHANNEL_LOAD);
        let channel_days: Vec<&IntervalRecord> = days
            .range((order, NaiveDate::MIN)..=(order, NaiveDate::MAX))
            .map(|(_, r)| *r)
            .collect();
        if !channel_days.is_empty() {
            w.channel(&up, channel, &channel_days, &stamp);
        }
    }
    w.out.push_str("</feed>\n");
    w.out
}

struct Feed<'a> {
    out: String,
    esiid: &'a str,
}

impl Feed<'_> {
    fn open_entry(&mut self, what: &[&str]) {
        let mut parts = vec![self.esiid];
        parts.extend_from_slice(what);
        let _ = write!(self.out, "  <entry>\n    <id>{}</id>\n", uuid(&parts));
    }

    fn close_entry(&mut self, published: &str, updated: &str) {
        let _ = write!(
            self.out,
            "    <published>{published}</published>\n    <updated>{updated}</updated>\n  </entry>\n"
        );
    }

    /// The MeterReading, ReadingType and IntervalBlocks of one channel.
    fn channel(&mut self, up: &str, channel: u8, days: &[&IntervalRecord], stamp: &str) {
        let flow = flow_of_channel(channel).expect("channels are 4 or 1");
        let multiplier = multiplier_for(days);
        let ch = channel.to_string();
        let mr = format!("{up}/MeterReading/{channel}");
        let rt = format!("{BASE}/ReadingType/{channel}");
        let interval_length = days[0].interval_seconds;

        self.open_entry(&["MeterReading", &ch]);
        link(&mut self.out, 4, "self", "espi-entry/MeterReading", &mr);
        link(
            &mut self.out,
            4,
            "up",
            "espi-feed/MeterReading",
            &format!("{up}/MeterReading"),
        );
        link(
            &mut self.out,
            4,
            "related",
            "espi-feed/IntervalBlock",
            &format!("{mr}/IntervalBlock"),
        );
        link(&mut self.out, 4, "related", "espi-entry/ReadingType", &rt);
        let name = if channel == CHANNEL_LOAD {
            "Consumption"
        } else {
            "Surplus generation"
        };
        let _ = writeln!(
            self.out,
            "    <title>{name} (ERCOT channel {channel}), 15-minute intervals</title>"
        );
        let _ = writeln!(
            self.out,
            "    <content>\n      <MeterReading xmlns=\"{ESPI_NAMESPACE}\"/>\n    </content>"
        );
        self.close_entry(stamp, stamp);

        self.open_entry(&["ReadingType", &ch]);
        link(&mut self.out, 4, "self", "espi-entry/ReadingType", &rt);
        link(
            &mut self.out,
            4,
            "up",
            "espi-feed/ReadingType",
            &format!("{BASE}/ReadingType"),
        );
        let _ = writeln!(self.out, "    <title>Energy, Wh × 10^{multiplier}</title>");
        // accumulationBehaviour 4: deltaData; commodity 1: electricity (secondary metered);
        // kind 12: energy.
        let _ = write!(
            self.out,
            "    <content>\n      <ReadingType xmlns=\"{ESPI_NAMESPACE}\">\n        \
             <accumulationBehaviour>4</accumulationBehaviour>\n        \
             <commodity>1</commodity>\n        \
             <flowDirection>{flow}</flowDirection>\n        \
             <intervalLength>{interval_length}</intervalLength>\n        \
             <kind>12</kind>\n        \
             <powerOfTenMultiplier>{multiplier}</powerOfTenMultiplier>\n        \
             <uom>{UOM_WH}</uom>\n      \
             </ReadingType>\n    </content>\n"
        );
        self.close_entry(stamp, stamp);

        for r in days {
            let day = r.day.to_string();
            self.open_entry(&["IntervalBlock", &ch, &day]);
            let start = r.start.timestamp();
            link(
                &mut self.out,
                4,
                "self",
                "espi-entry/IntervalBlock",
                &format!("{mr}/IntervalBlock/{start}"),
            );
            link(
                &mut self.out,
                4,
                "up",
                "espi-feed/IntervalBlock",
                &format!("{mr}/IntervalBlock"),
            );
            let _ = writeln!(self.out, "    <title>{day}</title>");
            let duration = u64::from(r.interval_seconds) * r.intervals.len() as u64;
            let _ = write!(
                self.out,
                "    <content>\n      <IntervalBlock xmlns=\"{ESPI_NAMESPACE}\">\n        \
                 <interval><duration>{duration}</duration><start>{start}</start></interval>\n"
            );
            for (i, reading) in r.intervals.iter().enumerate() {
                let Some(reading) = reading else {
                    continue;
                };
                let (begin, _) = r.interval_bounds(i);
                self.out.push_str("        <IntervalReading>");
                if reading.status == Status::Estimated {
                    let _ = write!(
                        self.out,
                        "<ReadingQuality><quality>{QUALITY_ESTIMATED}</quality></ReadingQuality>"
                    );
                }
                let _ = writeln!(
                    self.out,
                    "<timePeriod><duration>{}</duration><start>{}</start></timePeriod>\
                     <value>{}</value></IntervalReading>",
                    r.interval_seconds,
                    begin.timestamp(),
                    value(reading.kwh.units(), reading.kwh.scale(), multiplier)
                );
            }
            self.out
                .push_str("      </IntervalBlock>\n    </content>\n");
            let revision = timestamp(r.revision);
            self.close_entry(&revision, &revision);
        }
    }
}

/// The multiplier that makes every value of the channel an integer number of `10^m` Wh:
/// [`DEFAULT_MULTIPLIER`], or lower for a value with more than 6 decimals of kWh.
pub fn multiplier_for(days: &[&IntervalRecord]) -> i32 {
    let scale = days
        .iter()
        .flat_map(|r| r.intervals.iter().flatten())
        .map(|r| i32::from(r.kwh.scale()))
        .max()
        .unwrap_or(0);
    DEFAULT_MULTIPLIER.min(3 - scale)
}

/// `units × 10^-scale` kWh in `10^multiplier` Wh: `units × 10^(3 − multiplier − scale)`, exact
/// (the multiplier is chosen so the exponent is never negative).
fn value(units: i64, scale: u8, multiplier: i32) -> i128 {
    let exponent = 3 - multiplier - i32::from(scale);
    debug_assert!(
        exponent >= 0,
        "multiplier {multiplier} too high for scale {scale}"
    );
    i128::from(units) * 10i128.pow(exponent.max(0) as u32)
}

fn link(out: &mut String, indent: usize, rel: &str, kind: &str, href: &str) {
    let _ = writeln!(
        out,
        "{:indent$}<link rel=\"{rel}\" type=\"{kind}\" href=\"{}\"/>",
        "",
        text(href)
    );
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Text escaped for XML, without the characters XML 1.0 cannot carry.
fn text(s: &str) -> String {
    let clean: String = s
        .chars()
        .filter(|&c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..))
        .collect();
    quick_xml::escape::escape(clean.as_str()).into_owned()
}

/// A stable `urn:uuid:` for an entry: a name-based UUID (version 8, RFC 9562) from two FNV-1a
/// hashes of its parts, so the same records give the same feed.
fn uuid(parts: &[&str]) -> String {
    let hash = |seed: u64| {
        let mut h = seed;
        for part in parts {
            for &b in part.as_bytes().iter().chain(b"\x1f") {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        h
    };
    let hi = hash(0xcbf2_9ce4_8422_2325);
    let lo = hash(0x8422_2325_cbf2_9ce4);
    let hi = (hi & !0xF000) | 0x8000; // version 8
    let lo = (lo & !(0b11 << 62)) | (0b10 << 62); // variant RFC 9562
    format!(
        "urn:uuid:{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}
