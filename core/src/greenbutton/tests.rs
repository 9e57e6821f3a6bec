use std::io::Write as _;
use std::process::{Command, Stdio};

use chrono::{DateTime, NaiveDate, Utc};

use super::import::kwh;
use super::*;
use crate::decimal::Decimal;
use crate::esiid::EsiidMode;
use crate::format::{self, Format};
use crate::record::{ErrorKind, IntervalRecord, Reading, RecordError, Status};
use crate::testdata::dst_days_2025;
use crate::time;

const ESIID: &str = "10443720000000001";

type Item = Result<IntervalRecord, RecordError>;

fn read(xml: &str, hint: Option<&str>) -> Vec<Item> {
    GreenButtonReader::new(
        xml.as_bytes(),
        ImportOptions {
            esiid_mode: EsiidMode::Strict,
            esiid_hint: hint.map(str::to_owned),
        },
    )
    .collect()
}

/// The records, sorted by channel and day; panics on any error.
fn records(items: Vec<Item>) -> Vec<IntervalRecord> {
    let mut out: Vec<IntervalRecord> = items
        .into_iter()
        .map(|i| i.unwrap_or_else(|e| panic!("unexpected reject: {e:?}")))
        .collect();
    out.sort_by_key(|r| (r.channel, r.day));
    out
}

fn errors(items: &[Item]) -> Vec<&RecordError> {
    items.iter().filter_map(|i| i.as_ref().err()).collect()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn d(s: &str) -> Decimal {
    Decimal::parse_str(s).unwrap()
}

// ----- hand-written feeds (independent of the exporter) -----

const UP: &str = "/espi/1_1/resource/RetailCustomer/9/UsagePoint/7";

fn feed_of(entries: &[String]) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <id>urn:uuid:1</id><title>SMT Green Button Report: Interval</title>\
         <updated>2025-11-04T12:00:00Z</updated>\n{}</feed>\n",
        entries.concat()
    )
}

fn usage_point(title: &str, sdp: Option<&str>, links: bool) -> String {
    let links = if links {
        format!(
            "<link rel=\"self\" href=\"{UP}\"/><link rel=\"up\" href=\"/espi/1_1/resource/RetailCustomer/9/UsagePoint\"/>\
             <link rel=\"related\" href=\"{UP}/MeterReading\"/>"
        )
    } else {
        String::new()
    };
    let sdp = sdp.map_or(String::new(), |n| {
        format!("<serviceDeliveryPoint><name>{n}</name></serviceDeliveryPoint>")
    });
    format!(
        "<entry><id>urn:uuid:2</id>{links}<title>{title}</title><content>\
         <UsagePoint xmlns=\"http://naesb.org/espi\"><ServiceCategory><kind>0</kind></ServiceCategory>{sdp}</UsagePoint>\
         </content><updated>2025-11-04T12:00:00Z</updated></entry>\n"
    )
}

fn meter_reading(n: u32, links: bool) -> String {
    let links = if links {
        format!(
            "<link rel=\"self\" href=\"{UP}/MeterReading/{n}\"/><link rel=\"up\" href=\"{UP}/MeterReading\"/>\
             <link rel=\"related\" href=\"{UP}/MeterReading/{n}/IntervalBlock\"/>\
             <link rel=\"related\" href=\"/espi/1_1/resource/ReadingType/{n}\"/>"
        )
    } else {
        String::new()
    };
    format!(
        "<entry><id>urn:uuid:mr{n}</id>{links}<title>Interval</title>\
         <content><MeterReading xmlns=\"http://naesb.org/espi\"/></content></entry>\n"
    )
}

/// A ReadingType with the given fields (`None` leaves one out).
fn reading_type(n: u32, links: bool, fields: &[(&str, &str)]) -> String {
    let links = if links {
        format!(
            "<link rel=\"self\" href=\"/espi/1_1/resource/ReadingType/{n}\"/>\
             <link rel=\"up\" href=\"/espi/1_1/resource/ReadingType\"/>"
        )
    } else {
        String::new()
    };
    let fields: String = fields
        .iter()
        .map(|(k, v)| format!("<{k}>{v}</{k}>"))
        .collect();
    format!(
        "<entry><id>urn:uuid:rt{n}</id>{links}<title>Type</title><content>\
         <ReadingType xmlns=\"http://naesb.org/espi\"><accumulationBehaviour>4</accumulationBehaviour>{fields}\
         <interharmonic><numerator>1</numerator><denominator>2</denominator></interharmonic>\
         </ReadingType></content></entry>\n"
    )
}

fn wh_type(n: u32, links: bool, flow: &str, multiplier: &str) -> String {
    reading_type(
        n,
        links,
        &[
            ("flowDirection", flow),
            ("intervalLength", "900"),
            ("powerOfTenMultiplier", multiplier),
            ("uom", "72"),
        ],
    )
}

/// `(start, value, quality)`.
type R = (i64, i64, Option<i64>);

fn block(mr: u32, id: u32, readings: &[R], updated: &str, links: bool) -> String {
    let links = if links {
        format!(
            "<link rel=\"self\" href=\"{UP}/MeterReading/{mr}/IntervalBlock/{id}\"/>\
             <link rel=\"up\" href=\"{UP}/MeterReading/{mr}/IntervalBlock\"/>"
        )
    } else {
        String::new()
    };
    let mut body = String::new();
    for &(start, value, quality) in readings {
        body.push_str("\n<IntervalReading><cost>1</cost>");
        if let Some(q) = quality {
            body.push_str(&format!(
                "<ReadingQuality><quality>{q}</quality></ReadingQuality>"
            ));
        }
        body.push_str(&format!(
            "<timePeriod><duration>900</duration><start>{start}</start></timePeriod><value>{value}</value></IntervalReading>"
        ));
    }
    format!(
        "<entry><id>urn:uuid:b{mr}-{id}</id>{links}<title/><content>\
         <IntervalBlock xmlns=\"http://naesb.org/espi\"><interval><duration>86400</duration><start>0</start></interval>\
         {body}\n</IntervalBlock></content><published>2025-11-03T06:00:00Z</published>\
         <updated>{updated}</updated></entry>\n"
    )
}

/// Readings for every slot of `day`, value = slot + 1.
fn day_readings(day: NaiveDate) -> Vec<R> {
    let first = time::day_start(day).timestamp();
    (0..time::slots_in_day(day, 900))
        .map(|i| (first + 900 * i as i64, i as i64 + 1, None))
        .collect()
}

fn values(r: &IntervalRecord) -> Vec<Option<i64>> {
    r.intervals
        .iter()
        .map(|x| x.map(|x| x.kwh.units()))
        .collect()
}

// ----- import -----

#[test]
fn the_green_button_alliance_sample_reads_exactly() {
    let Some(fixtures) = crate::test_support::shared_fixtures() else {
        return;
    };
    let bytes = std::fs::read(fixtures.join("greenbutton/GBA_test_usage_data_01.xml"))
        .expect("the Green Button Alliance sample feed");
    assert_eq!(
        format::detect(&bytes[..bytes.len().min(format::HEAD_BYTES)]),
        Some(Format::GreenButton)
    );
    let xml = std::str::from_utf8(&bytes).unwrap();
    let got = records(read(xml, Some(ESIID)));
    // 96 readings from 2012-03-01 05:00 UTC (midnight Eastern, the publisher's zone) are
    // 23:00 Central on Feb 29 through 22:45 Central on Mar 1: two Central operating days.
    assert_eq!(got.len(), 2);
    let (feb29, mar1) = (&got[0], &got[1]);
    assert_eq!((feb29.day, mar1.day), (date(2012, 2, 29), date(2012, 3, 1)));
    for r in &got {
        assert_eq!(r.esiid, ESIID);
        assert_eq!(r.channel, 4);
        assert_eq!(r.interval_seconds, 900);
        assert_eq!(r.intervals.len(), 96);
        assert_eq!(r.revision, utc("2012-10-24T00:00:00Z"));
        assert_eq!(r.start, time::day_start(r.day));
    }
    assert_eq!(feb29.present() + mar1.present(), 96);
    assert_eq!((feb29.present(), mar1.present()), (4, 92));
    // The first reading: value 282 Wh, ReadingQuality 8 (estimated), 23:00 CST = slot 92.
    assert_eq!(
        feb29.intervals[92],
        Some(Reading {
            kwh: d("0.282"),
            status: Status::Estimated
        })
    );
    // ReadingQuality 7 (manually edited) is actual.
    assert_eq!(
        feb29.intervals[93],
        Some(Reading {
            kwh: d("0.323"),
            status: Status::Actual
        })
    );
    assert!(feb29.intervals[..92].iter().all(Option::is_none));
    assert_eq!(mar1.intervals[0].unwrap().kwh, d("0.321"));
    // The last reading, 1330663500 = 2012-03-02 04:45 UTC = 22:45 CST on Mar 1.
    assert_eq!(mar1.intervals[91].unwrap().kwh, d("0.324"));
    assert!(mar1.intervals[92..].iter().all(Option::is_none));
    assert_eq!(feb29.estimated() + mar1.estimated(), 1);
    assert_eq!(feb29.kwh_sum().to_string(), "1.230");
    assert_eq!(mar1.kwh_sum().to_string(), "92.616");

    // Through the loader's entry point (no hint): the UsagePoint's title is not an ESIID, so the
    // channel is rejected with an error naming the UsagePoint.
    let items: Vec<Item> =
        crate::interval_records(&bytes[..], Format::GreenButton, EsiidMode::Strict)
            .expect("Green Button holds intervals")
            .collect();
    assert_eq!(items.len(), 1, "{items:?}");
    let e = items[0].as_ref().unwrap_err();
    assert_eq!(e.kind, ErrorKind::MissingField);
    assert_eq!(e.channel, Some(4));
    assert!(e.reason.contains("\"Front Electric Meter\""), "{e}");
    assert!(
        e.reason
            .contains("/espi/1_1/resource/RetailCustomer/9B6C7066/UsagePoint/5446AF3F"),
        "{e}"
    );
}

#[test]
fn the_fall_back_day_has_100_slots_and_smts_repeated_start_fills_the_skipped_one() {
    let [_, fall] = dst_days_2025();
    let clean = day_readings(fall);
    assert_eq!(clean.len(), 100);
    let feed = |readings: &[R]| {
        feed_of(&[
            usage_point(ESIID, None, true),
            meter_reading(1, true),
            wh_type(1, true, "1", "0"),
            block(1, 1, readings, "2025-11-03T07:00:00Z", true),
        ])
    };
    let got = records(read(&feed(&clean), None));
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!((r.day, r.intervals.len()), (fall, 100));
    assert_eq!(values(r), (1..=100).map(Some).collect::<Vec<_>>());
    assert_eq!(r.end().to_rfc3339(), "2025-11-03T06:00:00+00:00");
    assert_eq!(r.revision, utc("2025-11-03T07:00:00Z"));

    // SMT's mislabel: the first interval of the repeated hour's second pass (slot 8, 01:00 CST)
    // is written with the start of the one before it (slot 7, 01:45 CDT); slot 8's start never
    // appears. The reading goes to slot 8, and the day is the same as the clean one.
    let mut smt = clean.clone();
    smt[8].0 = smt[7].0;
    let got = records(read(&feed(&smt), None));
    assert_eq!(values(&got[0]), values(r));

    // A repeated start whose next slot is given too is a duplicate: the day is rejected.
    let mut dup = clean.clone();
    dup.insert(8, dup[7]);
    let items = read(&feed(&dup), None);
    let errs = errors(&items);
    assert_eq!(errs.len(), 1, "{items:?}");
    assert_eq!(errs[0].kind, ErrorKind::DuplicateInterval);
    assert_eq!(errs[0].day, Some(fall));
    assert_eq!(errs[0].esiid.as_deref(), Some(ESIID));

    // Outside the repeated hour (and on an ordinary day) a repeated start is a duplicate.
    let ordinary = date(2025, 11, 5);
    let mut other = day_readings(ordinary);
    other[41].0 = other[40].0;
    let items = read(&feed(&other), None);
    assert_eq!(errors(&items)[0].kind, ErrorKind::DuplicateInterval);
    let mut late = clean.clone();
    late[41].0 = late[40].0;
    let items = read(&feed(&late), None);
    assert_eq!(errors(&items)[0].kind, ErrorKind::DuplicateInterval);
}

/// The fall-back day of 2025 (05:00Z to 06:00Z next day), value (slot + 1) × 10 Wh.
fn fall_back_readings() -> (NaiveDate, Vec<R>) {
    let [_, fall] = dst_days_2025();
    let readings = day_readings(fall)
        .into_iter()
        .map(|(s, v, q)| (s, v * 10, q))
        .collect();
    (fall, readings)
}

/// SMT's repeated-start form: slot 8 (07:00Z, 01:00 CST) written with slot 7's start (06:45Z).
fn repeated_start_form(clean: &[R]) -> Vec<R> {
    let mut smt = clean.to_vec();
    smt[8].0 = smt[7].0;
    smt
}

/// SMT's start-an-hour-late form: slot 8 (07:00Z, 01:00 CST) labelled "02:00" and read as CST
/// 02:00, i.e. slot 12's start (08:00Z), which then comes again in its own place.
fn late_start_form(clean: &[R]) -> Vec<R> {
    let mut smt = clean.to_vec();
    smt[8].0 = smt[12].0;
    smt
}

/// One channel's feed: links, the ReadingType before or (SMT's order) after the blocks, which
/// split the readings at `cuts`.
fn feed_in_blocks(readings: &[R], cuts: &[usize], type_after: bool) -> String {
    let mut entries = vec![usage_point(ESIID, None, true), meter_reading(1, true)];
    if !type_after {
        entries.push(wh_type(1, true, "1", "0"));
    }
    let mut from = 0;
    for (id, &to) in cuts.iter().chain([&readings.len()]).enumerate() {
        entries.push(block(
            1,
            id as u32,
            &readings[from..to],
            "2025-11-03T07:00:00Z",
            true,
        ));
        from = to;
    }
    if type_after {
        entries.push(wh_type(1, true, "1", "0"));
    }
    feed_of(&entries)
}

/// The one error a feed gives, which must say the day of `day` is a duplicate.
fn duplicate_rejects(xml: &str, day: NaiveDate) -> RecordError {
    let items = read(xml, None);
    assert_eq!(items.len(), 1, "one error and no record: {items:?}");
    let e = items[0].clone().unwrap_err();
    assert_eq!(e.kind, ErrorKind::DuplicateInterval, "{e}");
    assert_eq!((e.day, e.esiid.as_deref()), (Some(day), Some(ESIID)));
    e
}

#[test]
fn smts_fall_back_start_an_hour_late_fills_the_skipped_first_cst_slot() {
    let (fall, clean) = fall_back_readings();
    let at = |s: &str| utc(s).timestamp();
    let mut smt = late_start_form(&clean);
    smt[8].2 = Some(8);
    // In document order: 06:45Z, then 08:00Z (really 07:00Z), 07:15Z … 08:00Z again.
    let starts: Vec<i64> = smt[7..14].iter().map(|r| r.0).collect();
    let want: Vec<i64> = [
        "2025-11-02T06:45:00Z",
        "2025-11-02T08:00:00Z",
        "2025-11-02T07:15:00Z",
        "2025-11-02T07:30:00Z",
        "2025-11-02T07:45:00Z",
        "2025-11-02T08:00:00Z",
        "2025-11-02T08:15:00Z",
    ]
    .map(at)
    .to_vec();
    assert_eq!(starts, want);
    assert!(smt.iter().all(|r| r.0 != at("2025-11-02T07:00:00Z")));

    let got = records(read(&feed_in_blocks(&smt, &[], false), None));
    assert_eq!(got.len(), 1, "{got:?}");
    let r = &got[0];
    assert_eq!((r.day, r.intervals.len(), r.present()), (fall, 100, 100));
    let slot = |s: &str| r.intervals[((at(s) - r.start.timestamp()) / 900) as usize];
    let actual = |kwh: &str| {
        Some(Reading {
            kwh: d(kwh),
            status: Status::Actual,
        })
    };
    // 01:45 CDT, 01:00 CST (the moved reading, estimated as written), 01:15 CST, 02:00 CST.
    assert_eq!(slot("2025-11-02T06:45:00Z"), actual("0.080"));
    assert_eq!(
        slot("2025-11-02T07:00:00Z"),
        Some(Reading {
            kwh: d("0.090"),
            status: Status::Estimated
        })
    );
    assert_eq!(slot("2025-11-02T07:15:00Z"), actual("0.100"));
    assert_eq!(slot("2025-11-02T08:00:00Z"), actual("0.130"));
    assert_eq!(
        values(r),
        (1..=100).map(|v| Some(v * 10)).collect::<Vec<_>>()
    );

    // Without the later 08:00Z nothing is repeated, so nothing is moved: the reading stays at
    // the start it names, and 07:00Z is missing.
    let mut lone = smt.clone();
    lone.remove(12);
    let got = records(read(&feed_in_blocks(&lone, &[], false), None));
    let r = &got[0];
    assert_eq!(r.present(), 99);
    assert_eq!(r.intervals[8], None);
    assert_eq!(r.intervals[12].unwrap().kwh, d("0.090"));
}

#[test]
fn both_fall_back_forms_read_across_blocks_and_before_their_reading_type() {
    let (fall, clean) = fall_back_readings();
    let want: Vec<Option<i64>> = (1..=100).map(|v| Some(v * 10)).collect();
    for (form, smt) in [
        ("repeated start", repeated_start_form(&clean)),
        ("late start", late_start_form(&clean)),
    ] {
        // Cut between 06:45Z and the mislabelled reading, right after it, and between the
        // two readings the late form gives the same start.
        for cuts in [&[][..], &[8], &[9], &[12], &[13], &[8, 12], &[50]] {
            for type_after in [false, true] {
                let xml = feed_in_blocks(&smt, cuts, type_after);
                let got = records(read(&xml, None));
                assert_eq!(got.len(), 1, "{form} {cuts:?} {type_after}: {got:?}");
                assert_eq!(got[0].day, fall);
                assert_eq!(values(&got[0]), want, "{form} {cuts:?} {type_after}");
                assert_eq!(got[0].revision, utc("2025-11-03T07:00:00Z"));
            }
        }
    }
}

#[test]
fn other_repeated_starts_around_the_fall_back_hour_still_reject_the_day() {
    let (fall, clean) = fall_back_readings();
    // 08:00Z right after 06:45Z and again later, but 07:00Z is given too: a real duplicate.
    // (The last reading is dropped so that the day is still 100 readings, handed out whole.)
    let mut dup = clean.clone();
    dup.insert(8, (clean[12].0, 999, None));
    dup.pop();
    let e = duplicate_rejects(&feed_in_blocks(&dup, &[], false), fall);
    assert!(e.reason.contains("2025-11-02T08:00:00+00:00"), "{e}");
    // The same, split, with the ReadingType after the blocks.
    duplicate_rejects(&feed_in_blocks(&dup, &[9], true), fall);

    // The pattern an hour later on the fall-back day (slot 20 written as slot 24's start).
    let mut late = clean.clone();
    late[20].0 = late[24].0;
    duplicate_rejects(&feed_in_blocks(&late, &[], false), fall);

    // The pattern on an ordinary day, which has no repeated hour.
    let ordinary = date(2025, 11, 5);
    let mut other = day_readings(ordinary);
    other[8].0 = other[12].0;
    duplicate_rejects(&feed_in_blocks(&other, &[], false), ordinary);

    // Both forms at once claim 07:00Z: 06:45Z twice, then 08:00Z, then 08:00Z in its place.
    let mut both = repeated_start_form(&clean);
    both.insert(9, (clean[12].0, 999, None));
    both.pop();
    let e = duplicate_rejects(&feed_in_blocks(&both, &[], false), fall);
    assert!(e.reason.contains("2025-11-02T07:00:00+00:00"), "{e}");
}

#[test]
fn the_spring_forward_day_has_92_slots_placed_by_instant() {
    let [spring, _] = dst_days_2025();
    let readings = day_readings(spring);
    assert_eq!(readings.len(), 92);
    // 03:00 CDT, the ninth interval, is 08:00 UTC.
    assert_eq!(readings[8].0, utc("2025-03-09T08:00:00Z").timestamp());
    let xml = feed_of(&[
        usage_point(ESIID, None, true),
        meter_reading(1, true),
        wh_type(1, true, "1", "0"),
        // Two blocks of another zone's days, straddling the Central day.
        block(1, 1, &readings[..50], "2025-03-10T07:00:00Z", true),
        block(1, 2, &readings[50..], "2025-03-11T07:00:00Z", true),
    ]);
    let got = records(read(&xml, None));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].intervals.len(), 92);
    assert_eq!(values(&got[0]), (1..=92).map(Some).collect::<Vec<_>>());
    assert_eq!(got[0].end().to_rfc3339(), "2025-03-10T05:00:00+00:00");
    // A day made of two blocks takes the later revision.
    assert_eq!(got[0].revision, utc("2025-03-11T07:00:00Z"));
    // A reading off the 15-minute grid rejects its day.
    let mut off = readings.clone();
    off[3].0 += 60;
    let xml = feed_of(&[
        usage_point(ESIID, None, true),
        meter_reading(1, true),
        wh_type(1, true, "1", "0"),
        block(1, 1, &off, "2025-03-10T07:00:00Z", true),
    ]);
    let items = read(&xml, None);
    assert_eq!(errors(&items)[0].kind, ErrorKind::NoSuchInterval);
}

#[test]
fn a_reading_type_after_the_blocks_is_waited_for_by_links_or_by_document_order() {
    let day1 = date(2025, 7, 1);
    let day2 = date(2025, 7, 2);
    let first = time::day_start(day1).timestamp();
    let r1: Vec<R> = vec![(first, 1234, None), (first + 900, 1_234_000, Some(8))];
    let r2: Vec<R> = day_readings(day2)
        .into_iter()
        .map(|(s, v, q)| (s, v * 1000, q))
        .collect();
    let expect = |got: &[IntervalRecord]| {
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().all(|r| r.channel == 1 && r.esiid == ESIID));
        assert_eq!((got[0].day, got[1].day), (day1, day2));
        // powerOfTenMultiplier -3: 1234 × 10^-3 Wh = 0.001234 kWh; 1 234 000 → 1.234.
        assert_eq!(got[0].intervals[0].unwrap().kwh.to_string(), "0.001234");
        assert_eq!(got[0].intervals[1].unwrap().kwh.to_string(), "1.234");
        assert_eq!(got[0].intervals[1].unwrap().status, Status::Estimated);
        assert_eq!(got[0].present(), 2);
        assert_eq!(got[1].present(), 96);
        assert_eq!(got[1].intervals[95].unwrap().kwh.to_string(), "0.096");
    };
    // SMT's order, with links.
    let linked = feed_of(&[
        usage_point(ESIID, None, true),
        meter_reading(3, true),
        block(3, 1, &r1, "2025-07-03T06:00:00Z", true),
        block(3, 2, &r2, "2025-07-03T06:00:00Z", true),
        wh_type(3, true, "19", "-3"),
    ]);
    expect(&records(read(&linked, None)));
    // The same without a single link: document order ties them.
    let unlinked = feed_of(&[
        usage_point(ESIID, None, false),
        meter_reading(3, false),
        block(3, 1, &r1, "2025-07-03T06:00:00Z", false),
        block(3, 2, &r2, "2025-07-03T06:00:00Z", false),
        wh_type(3, false, "19", "-3"),
    ]);
    expect(&records(read(&unlinked, None)));
    // Blocks first, then the MeterReading, ReadingType and UsagePoint, without links.
    let backwards = feed_of(&[
        block(3, 1, &r1, "2025-07-03T06:00:00Z", false),
        block(3, 2, &r2, "2025-07-03T06:00:00Z", false),
        meter_reading(3, false),
        wh_type(3, false, "19", "-3"),
        usage_point("x", Some(ESIID), false),
    ]);
    expect(&records(read(&backwards, None)));
    // Two channels, each ReadingType after its own blocks, tied by links.
    let two = feed_of(&[
        usage_point(ESIID, None, true),
        meter_reading(1, true),
        meter_reading(3, true),
        block(3, 1, &r1, "2025-07-03T06:00:00Z", true),
        block(1, 1, &r2, "2025-07-03T06:00:00Z", true),
        wh_type(3, true, "19", "-3"),
        wh_type(1, true, "1", "0"),
    ]);
    let got = records(read(&two, None));
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].channel, got[0].day), (1, day1));
    assert_eq!((got[1].channel, got[1].day), (4, day2));
    assert_eq!(got[1].intervals[0].unwrap().kwh.to_string(), "1.000");
}

#[test]
fn reading_quality_8_is_estimated_and_anything_else_actual() {
    let day = date(2025, 7, 1);
    let s = time::day_start(day).timestamp();
    let readings: Vec<R> = vec![
        (s, 100, Some(8)),
        (s + 900, 200, Some(7)),
        (s + 1800, 300, None),
        (s + 2700, 400, Some(0)),
    ];
    let xml = feed_of(&[
        usage_point(ESIID, None, true),
        meter_reading(1, true),
        wh_type(1, true, "1", "0"),
        block(1, 1, &readings, "2025-07-02T06:00:00Z", true),
    ]);
    let got = records(read(&xml, None));
    let statuses: Vec<Option<Status>> = got[0].intervals[..5]
        .iter()
        .map(|r| r.map(|r| r.status))
        .collect();
    use Status::{Actual as A, Estimated as E};
    assert_eq!(statuses, vec![Some(E), Some(A), Some(A), Some(A), None]);
    assert_eq!(got[0].present(), 4, "missing intervals stay missing");
    // A ReadingType whose defaultQuality is 8 makes readings without a quality estimated.
    let xml = feed_of(&[
        usage_point(ESIID, None, true),
        meter_reading(1, true),
        reading_type(
            1,
            true,
            &[
                ("defaultQuality", "8"),
                ("flowDirection", "1"),
                ("intervalLength", "900"),
                ("uom", "72"),
            ],
        ),
        block(1, 1, &readings, "2025-07-02T06:00:00Z", true),
    ]);
    let got = records(read(&xml, None));
    assert_eq!(got[0].intervals[2].unwrap().status, E);
    assert_eq!(got[0].intervals[1].unwrap().status, A);
}

#[test]
fn a_unit_direction_or_length_it_cannot_read_rejects_the_channel_once() {
    let day = date(2025, 7, 1);
    let readings = day_readings(day);
    type Case<'a> = (&'a [(&'a str, &'a str)], ErrorKind, &'a str);
    let cases: [Case; 6] = [
        (
            &[
                ("flowDirection", "1"),
                ("intervalLength", "900"),
                ("uom", "38"),
            ],
            ErrorKind::BadHeader,
            "uom 38 is not 72 (Wh)",
        ),
        (
            &[("flowDirection", "1"), ("intervalLength", "900")],
            ErrorKind::BadHeader,
            "no uom",
        ),
        (
            &[
                ("flowDirection", "4"),
                ("intervalLength", "900"),
                ("uom", "72"),
            ],
            ErrorKind::BadChannel,
            "flowDirection 4 is neither 1",
        ),
        (
            &[
                ("flowDirection", "1"),
                ("intervalLength", "3600"),
                ("uom", "72"),
            ],
            ErrorKind::BadIntervalLength,
            "intervalLength 3600",
        ),
        (
            &[
                ("flowDirection", "1"),
                ("powerOfTenMultiplier", "-16"),
                ("uom", "72"),
            ],
            ErrorKind::BadHeader,
            "powerOfTenMultiplier -16",
        ),
        (
            &[("intervalLength", "900"), ("uom", "72")],
            ErrorKind::BadChannel,
            "no flowDirection",
        ),
    ];
    for (fields, kind, words) in cases {
        let xml = feed_of(&[
            usage_point(ESIID, None, true),
            meter_reading(1, true),
            reading_type(1, true, fields),
            block(1, 1, &readings, "2025-07-02T06:00:00Z", true),
            block(1, 2, &readings[..3], "2025-07-02T06:00:00Z", true),
        ]);
        let items = read(&xml, None);
        assert_eq!(
            items.len(),
            1,
            "one error for the channel, no records: {items:?}"
        );
        let e = items[0].as_ref().unwrap_err();
        assert_eq!(e.kind, kind, "{e}");
        assert!(e.reason.contains(words), "{e}");
        assert!(e.reason.contains("MeterReading"), "{e}");
        assert_eq!(e.esiid.as_deref(), Some(ESIID));
    }
}

#[test]
fn values_scale_to_exact_kwh_within_what_a_decimal_holds() {
    assert_eq!(kwh(1234, 0).unwrap().to_string(), "1.234");
    assert_eq!(kwh(1234, -3).unwrap().to_string(), "0.001234");
    assert_eq!(kwh(1_234_000, -3).unwrap().to_string(), "1.234");
    assert_eq!(kwh(5, 1).unwrap().to_string(), "0.050");
    assert_eq!(kwh(-20, 0).unwrap().to_string(), "-0.020");
    assert_eq!(kwh(7, 3).unwrap().to_string(), "7.000");
    assert_eq!(kwh(1, -15).unwrap().to_string(), "0.000000000000000001");
    assert_eq!(kwh(999, 15).unwrap().to_string(), "999000000000000.000");
    assert!(kwh(1, -16).is_err(), "19 decimals");
    assert!(kwh(1000, 15).is_err(), "19 digits");
    assert!(kwh(i64::MAX, 0).is_err());
    // A value too large for its day rejects the day, naming the reading.
    let day = date(2025, 7, 1);
    let s = time::day_start(day).timestamp();
    let xml = feed_of(&[
        usage_point(ESIID, None, true),
        meter_reading(1, true),
        wh_type(1, true, "1", "15"),
        block(1, 1, &[(s, 1_000_000, None)], "2025-07-02T06:00:00Z", true),
    ]);
    let items = read(&xml, None);
    let e = items[0].as_ref().unwrap_err();
    assert_eq!((e.kind, e.day), (ErrorKind::NonNumericValue, Some(day)));
    assert!(e.raw.contains("<value>1000000</value>"), "{e:?}");
}

#[test]
fn the_esiid_comes_from_the_usage_point_else_the_hint() {
    let day = date(2025, 7, 1);
    let readings = day_readings(day);
    let with = |up: String| {
        feed_of(&[
            up,
            meter_reading(1, true),
            wh_type(1, true, "1", "0"),
            block(1, 1, &readings, "2025-07-02T06:00:00Z", true),
        ])
    };
    let other = "1008901000000000000001";
    // The title, the serviceDeliveryPoint name (which wins), the hint.
    assert_eq!(
        records(read(&with(usage_point(ESIID, None, true)), Some(other)))[0].esiid,
        ESIID
    );
    assert_eq!(
        records(read(
            &with(usage_point("Front Electric Meter", Some(other), true)),
            Some(ESIID)
        ))[0]
            .esiid,
        other
    );
    assert_eq!(
        records(read(&with(usage_point("Home", None, true)), Some(other)))[0].esiid,
        other
    );
    // No ESIID anywhere: one error naming the UsagePoint.
    let items = read(&with(usage_point("Home", None, true)), None);
    assert_eq!(items.len(), 1);
    let e = items[0].as_ref().unwrap_err();
    assert!(e.reason.contains("UsagePoint \"Home\""), "{e}");
    assert!(e.reason.contains(UP), "{e}");
    // A hint that is not an ESIID.
    let items = read(&with(usage_point("Home", None, true)), Some("12"));
    assert_eq!(items[0].as_ref().unwrap_err().kind, ErrorKind::InvalidEsiid);
    // No UsagePoint at all.
    let xml = feed_of(&[
        meter_reading(1, true),
        wh_type(1, true, "1", "0"),
        block(1, 1, &readings, "2025-07-02T06:00:00Z", true),
    ]);
    let items = read(&xml, None);
    assert!(
        items[0]
            .as_ref()
            .unwrap_err()
            .reason
            .contains("no UsagePoint entry"),
        "{items:?}"
    );
    assert_eq!(records(read(&xml, Some(ESIID)))[0].esiid, ESIID);
}

#[test]
fn what_is_not_a_feed_or_is_cut_short_is_said() {
    let items = read("<html><body/></html>", None);
    assert_eq!(items[0].as_ref().unwrap_err().kind, ErrorKind::BadHeader);
    let day = date(2025, 7, 1);
    let readings = day_readings(day);
    let whole = feed_of(&[
        usage_point(ESIID, None, true),
        meter_reading(1, true),
        wh_type(1, true, "1", "0"),
        block(1, 1, &readings, "2025-07-02T06:00:00Z", true),
        block(
            1,
            2,
            &day_readings(date(2025, 7, 2)),
            "2025-07-03T06:00:00Z",
            true,
        ),
    ]);
    let cut = &whole[..whole.len() - 2000];
    let items = read(cut, None);
    // The first day is whole and loads; the cut block is rejected as truncated.
    assert_eq!(records(vec![items[0].clone()])[0].day, day);
    assert_eq!(errors(&items).len(), 1, "{items:?}");
    assert_eq!(errors(&items)[0].kind, ErrorKind::TruncatedRecord);
    // Lines point into the file.
    let first = items[0].as_ref().unwrap();
    assert_eq!(
        whole
            .lines()
            .nth(first.line as usize - 1)
            .map(|l| l.contains("<IntervalReading>")),
        Some(true)
    );
}

#[test]
fn records_stream_out_before_the_feed_ends() {
    /// A source that counts the bytes handed to the reader.
    struct Counting<'a> {
        data: &'a [u8],
        read: std::rc::Rc<std::cell::Cell<usize>>,
    }
    impl std::io::Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.data.len().min(buf.len()).min(4096);
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            self.read.set(self.read.get() + n);
            Ok(n)
        }
    }
    let first = date(2025, 1, 1);
    // Whole days are handed out as soon as they are complete; days missing an interval once
    // more than MAX_OPEN_DAYS are open.
    for missing_one in [false, true] {
        let mut entries = vec![
            usage_point(ESIID, None, true),
            meter_reading(1, true),
            wh_type(1, true, "1", "0"),
        ];
        for n in 0..100u32 {
            let mut readings = day_readings(first + chrono::Duration::days(n.into()));
            if missing_one {
                readings.remove(10);
            }
            entries.push(block(1, n, &readings, "2025-06-01T00:00:00Z", true));
        }
        let xml = feed_of(&entries);
        let read = std::rc::Rc::new(std::cell::Cell::new(0));
        let src = std::io::BufReader::with_capacity(
            4096,
            Counting {
                data: xml.as_bytes(),
                read: read.clone(),
            },
        );
        let mut reader = GreenButtonReader::new(src, ImportOptions::default());
        let r = reader.next().unwrap().unwrap();
        assert_eq!(r.day, first);
        let limit = if missing_one {
            (import::MAX_OPEN_DAYS + 2) * xml.len() / 100
        } else {
            2 * xml.len() / 100
        };
        assert!(
            read.get() <= limit,
            "the first day came out after {} of {} bytes",
            read.get(),
            xml.len()
        );
        let rest: Vec<IntervalRecord> = reader.map(Result::unwrap).collect();
        assert_eq!(rest.len(), 99);
        // (2025-03-09, the spring-forward day, has 92 intervals.)
        let missing = usize::from(missing_one);
        assert!(rest
            .iter()
            .all(|r| r.present() == r.expected_slots() - missing));
    }
}

// ----- export -----

const UPDATED: &str = "2025-11-05T12:00:00Z";

fn record(channel: u8, day: NaiveDate, f: impl Fn(usize) -> Option<Reading>) -> IntervalRecord {
    let n = time::slots_in_day(day, 900);
    IntervalRecord {
        esiid: ESIID.into(),
        channel,
        day,
        start: time::day_start(day),
        interval_seconds: 900,
        revision: time::day_start(day + chrono::Duration::days(2)),
        transaction_id: None,
        attributes: Vec::new(),
        intervals: (0..n).map(f).collect(),
        line: 0,
    }
}

/// Load on an ordinary day (estimates, gaps), the fall-back and spring-forward days, and
/// generation on the fall-back day with one value of 7 decimals.
fn sample_records() -> Vec<IntervalRecord> {
    let [spring, fall] = dst_days_2025();
    let reading = |units: i64, scale: u8, estimated: bool| {
        Some(Reading {
            kwh: Decimal::new(units, scale),
            status: if estimated {
                Status::Estimated
            } else {
                Status::Actual
            },
        })
    };
    vec![
        record(4, date(2025, 11, 1), |i| {
            (i % 13 != 5).then_some(())?;
            reading(580 + i as i64, 3, i % 7 == 0)
        }),
        record(4, fall, |i| reading(i as i64 * 11, 3, (8..12).contains(&i))),
        record(4, spring, |i| reading(1000 + i as i64, 3, false)),
        record(1, fall, |i| match i {
            0..=40 => None,
            41 => reading(1, 7, false),
            _ => reading(i as i64 * 3, 3, i == 50),
        }),
    ]
}

fn info() -> UsagePointInfo {
    UsagePointInfo {
        esiid: ESIID.into(),
        title: "Home & garden <meter>".into(),
    }
}

/// `xmllint` against the ESPI 4.0 schema: `Ok` when the feed validates, else xmllint's words.
fn validate(xml: &str) -> Result<(), String> {
    let schemas = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the checkout has a parent directory")
        .join("shared/schemas/greenbutton/espi-4.0");
    assert!(
        schemas.join("validate.xsd").is_file(),
        "the ESPI 4.0 schemas are missing at {}: CI provides ../shared beside the checkout",
        schemas.display()
    );
    let mut child = match Command::new("xmllint")
        .current_dir(&schemas)
        .env("XML_CATALOG_FILES", "../catalog.xml")
        .args(["--nonet", "--noout", "--schema", "validate.xsd", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "xmllint is not installed, and the Green Button export must be checked against the \
             ESPI schema: apt-get install libxml2-utils"
        ),
        Err(e) => panic!("xmllint could not be started: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() && stderr.contains("validates") {
        Ok(())
    } else {
        Err(stderr)
    }
}

#[test]
fn the_export_validates_against_the_espi_4_schema() {
    let xml = feed(&info(), &sample_records(), utc(UPDATED));
    if let Err(why) = validate(&xml) {
        panic!("the exported feed does not validate:\n{why}\n{xml}");
    }
    // The check has teeth: a unit written as a word, or a link without rel, fails.
    assert!(validate(&xml.replacen("<uom>72</uom>", "<uom>Wh</uom>", 1)).is_err());
    assert!(validate(&xml.replacen("<link rel=\"self\" ", "<link ", 1)).is_err());
}

#[test]
fn the_export_writes_exact_integers_and_typed_links() {
    let xml = feed(&info(), &sample_records(), utc(UPDATED));
    assert!(format::detect(xml.as_bytes()) == Some(Format::GreenButton));
    // Load: all values have 3 decimals, multiplier -3: 0.580 kWh is 580000 mWh.
    assert!(xml.contains("<powerOfTenMultiplier>-3</powerOfTenMultiplier>"));
    assert!(xml.contains("<value>580000</value>"), "0.580 kWh");
    // Generation has a 7-decimal value: multiplier -4, 0.0000001 kWh is 1 × 10^-4 Wh.
    assert!(xml.contains("<powerOfTenMultiplier>-4</powerOfTenMultiplier>"));
    assert!(xml.contains("<value>1</value>"));
    assert!(xml.contains("<flowDirection>19</flowDirection>"));
    assert!(xml.contains("<dstStartRule>360E2000</dstStartRule>"));
    assert!(xml.contains("<dstEndRule>B40E2000</dstEndRule>"));
    assert!(xml.contains("<tzOffset>-21600</tzOffset>"));
    assert!(xml.contains("<title>Home &amp; garden &lt;meter&gt;</title>"));
    for line in xml.lines().filter(|l| l.contains("<link ")) {
        assert!(line.contains(" type=\"espi-"), "{line}");
    }
    assert!(
        xml.lines()
            .filter(|l| l.contains("<value>"))
            .all(|l| !l.contains('.')),
        "no decimal point in a value"
    );
    // The same records give the same feed.
    assert_eq!(xml, feed(&info(), &sample_records(), utc(UPDATED)));
}

#[test]
fn export_then_import_gives_the_records_back() {
    let input = sample_records();
    let xml = feed(&info(), &input, utc(UPDATED));
    let mut got = records(read(&xml, None));
    for r in &mut got {
        r.line = 0;
    }
    let mut want = input.clone();
    want.sort_by_key(|r| (r.channel, r.day));
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "{} channel {}", w.day, w.channel);
    }
    // Missing intervals stayed missing, estimates estimated.
    let ordinary = got.iter().find(|r| r.day == date(2025, 11, 1)).unwrap();
    assert_eq!(ordinary.intervals[5], None);
    assert_eq!(ordinary.intervals[7].unwrap().status, Status::Estimated);
    // The loader's path reads the exported feed too (the ESIID is the UsagePoint's).
    let loaded: Vec<Item> =
        crate::interval_records(xml.as_bytes(), Format::GreenButton, EsiidMode::Strict)
            .unwrap()
            .collect();
    assert_eq!(records(loaded).len(), input.len());
}
