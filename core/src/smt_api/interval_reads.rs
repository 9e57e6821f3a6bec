//! `/v2/15minintervalreads/` answered inline (deliveryMode `API`):
//!
//! ```json
//! {"trans_id": "...", "esiid": "10443720000000001",
//!  "energyData": [{"DT": "09/01/2025", "RevTS": "09/02/2025 06:21:18", "RT": "C",
//!                  "RD": "0.155-A,0.474-A,,-E,..."}]}
//! ```
//!
//! One entry per operating day and channel (`RT` `C` consumption is channel 4, `G` surplus
//! generation channel 1); `RD` lists the day's values as `value-flag` (flag `A` actual, `E`
//! estimated; an empty value is a missing interval). Each entry becomes one
//! [`IntervalRecord`], or one [`RecordError`] saying what is wrong with it, exactly as a file's
//! record would: the same checks, merge and replacement rule follow. An entry's `line` is its
//! 1-based position among the reply's entries.

use chrono::NaiveDate;
use serde_json::Value;

use super::slots::{self, SlotLayout};
use super::{field, kind, raw_text, reply_error, reply_objects, text, ReplyError};
use crate::decimal::Decimal;
use crate::esiid::{self, EsiidMode};
use crate::record::{
    ErrorKind, IntervalRecord, Reading, RecordError, Status, CHANNEL_GENERATION, CHANNEL_LOAD,
};
use crate::time;

/// The keys read from an `energyData` entry.
pub const ENTRY_KEYS: &[&str] = &["DT", "RevTS", "revisionDate", "RT", "RD"];

/// One entry read: the record (and how its slots were laid out) or why it was rejected.
pub type EntryResult = Result<(IntervalRecord, SlotLayout), RecordError>;

/// Every entry of an inline interval reply, in order. `requested_esiid` is the ESIID asked for,
/// used when neither the reply nor the entry names one. The reply as a whole fails only when it
/// carries SMT's error instead of data, or is not the shape this call answers with.
pub fn entries(
    reply: &Value,
    requested_esiid: Option<&str>,
    mode: EsiidMode,
) -> Result<Vec<EntryResult>, ReplyError> {
    if let Some(e) = reply_error(reply) {
        return Err(e);
    }
    let mut out = Vec::new();
    for object in reply_objects(reply)? {
        let reply_esiid = text(object, &["esiid", "ESIID"]);
        let Some(data) = field(object, &["energyData"]) else {
            return Err(ReplyError::Malformed(format!(
                "no energyData in the reply (keys: {})",
                keys(object)
            )));
        };
        let Value::Array(items) = data else {
            return Err(ReplyError::Malformed(format!(
                "energyData is {}, not a list",
                kind(data)
            )));
        };
        for item in items {
            let line = out.len() as u64 + 1;
            let esiid = text(item, &["esiid", "ESIID"])
                .or_else(|| reply_esiid.clone())
                .or_else(|| requested_esiid.map(str::to_owned));
            out.push(entry(item, esiid.as_deref(), mode, line));
        }
    }
    Ok(out)
}

fn keys(v: &Value) -> String {
    v.as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

fn entry(item: &Value, esiid: Option<&str>, mode: EsiidMode, line: u64) -> EntryResult {
    let raw = raw_text(item);
    let fail = |kind: ErrorKind, name: &str, reason: String| {
        RecordError::new(kind, line, format!("energyData[{line}].{name}"), reason)
            .with_raw(raw.as_bytes())
    };
    if !item.is_object() {
        return Err(fail(
            ErrorKind::MissingField,
            "entry",
            format!("an energyData entry is {}, not an object", kind(item)),
        ));
    }
    let esiid = match esiid {
        None => {
            return Err(fail(
                ErrorKind::MissingField,
                "esiid",
                "no ESIID in the reply, the entry or the request".into(),
            ))
        }
        Some(e) => esiid::parse(e, mode)
            .map_err(|e| fail(ErrorKind::InvalidEsiid, "esiid", e.to_string()))?,
    };
    let channel = match text(item, &["RT"]).as_deref().map(str::trim) {
        Some("C") | Some("c") => Some(CHANNEL_LOAD),
        Some("G") | Some("g") => Some(CHANNEL_GENERATION),
        _ => None,
    };
    let day = text(item, &["DT"]).and_then(|t| time::parse_date(&t));
    let context = |e: RecordError| e.with_context(Some(&esiid), channel, day);
    let Some(day) = day else {
        return Err(context(fail(
            ErrorKind::BadTimestamp,
            "DT",
            format!(
                "operating day {:?} is not MM/DD/YYYY",
                text(item, &["DT"]).unwrap_or_default()
            ),
        )));
    };
    let Some(channel) = channel else {
        return Err(context(fail(
            ErrorKind::BadChannel,
            "RT",
            format!(
                "reading type {:?} is neither C (consumption) nor G (surplus generation)",
                text(item, &["RT"]).unwrap_or_default()
            ),
        )));
    };
    let revision = match text(item, &["RevTS", "revisionDate"]) {
        None => {
            return Err(context(fail(
                ErrorKind::MissingRevision,
                "RevTS",
                "no revision timestamp: which version is newer could not be decided".into(),
            )))
        }
        Some(t) => match time::parse_local_datetime(&t) {
            Some(local) => time::revision_to_utc(local),
            None => {
                return Err(context(fail(
                    ErrorKind::BadTimestamp,
                    "RevTS",
                    format!("revision {t:?} is not MM/DD/YYYY HH:MM:SS"),
                )))
            }
        },
    };
    let rd = match field(item, &["RD"]) {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(context(fail(
                ErrorKind::MissingField,
                "RD",
                format!("RD is {}, not a text of values", kind(other)),
            )))
        }
        None => {
            return Err(context(fail(
                ErrorKind::MissingField,
                "RD",
                "no RD (the day's values)".into(),
            )))
        }
    };
    let values = slot_values(rd)
        .map_err(|(slot, kind, why)| context(fail(kind, &format!("RD slot {slot}"), why)))?;
    let (intervals, layout) = slots::day_intervals(day, values)
        .map_err(|e| context(fail(ErrorKind::WrongIntervalCount, "RD", e.to_string())))?;
    Ok((
        IntervalRecord {
            esiid,
            channel,
            day,
            start: time::day_start(day),
            interval_seconds: 900,
            revision,
            transaction_id: None,
            attributes: Vec::new(),
            intervals,
            line,
        },
        layout,
    ))
}

/// The slots of `RD` in order: `value-flag`, empty for a missing interval (a flag alone, such as
/// `-E`, is a missing interval too).
fn slot_values(rd: &str) -> Result<Vec<Option<Reading>>, (usize, ErrorKind, String)> {
    let mut parts: Vec<&str> = rd.split(',').map(str::trim).collect();
    if rd.trim().is_empty() {
        parts.clear();
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| slot_value(part).map_err(|(kind, why)| (i + 1, kind, why)))
        .collect()
}

fn slot_value(part: &str) -> Result<Option<Reading>, (ErrorKind, String)> {
    if part.is_empty() {
        return Ok(None);
    }
    let Some((value, flag)) = part.rsplit_once('-') else {
        return Err((
            ErrorKind::UnknownStatus,
            format!("{part:?} has no quality flag (value-A or value-E)"),
        ));
    };
    let status = Status::parse(flag.trim().to_ascii_uppercase().as_bytes()).ok_or_else(|| {
        (
            ErrorKind::UnknownStatus,
            format!("quality flag {flag:?} in {part:?} is neither A nor E"),
        )
    })?;
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let kwh = Decimal::parse_str(value).map_err(|e| {
        (
            ErrorKind::NonNumericValue,
            format!("value {value:?} in {part:?}: {e}"),
        )
    })?;
    Ok(Some(Reading { kwh, status }))
}

/// Largest reply read as a file: a reply is parsed whole, so its size is bounded here (an inline
/// reply answers one request; a larger file is not a reply SMT sends).
pub const MAX_REPLY_BYTES: u64 = 256 * 1024 * 1024;

/// The records of a reply kept as a file, as the other formats' readers give them: a bad entry
/// is an error and reading goes on; a reply that cannot be read at all (too large, not JSON, or
/// SMT's error instead of data) is one error on line 1.
pub struct JsonRecords {
    records: std::vec::IntoIter<Result<IntervalRecord, RecordError>>,
}

impl JsonRecords {
    pub fn new<R: std::io::BufRead>(src: R, mode: EsiidMode) -> Self {
        let records = match read_reply(src) {
            Ok(reply) => match entries(&reply, None, mode) {
                Ok(entries) => entries.into_iter().map(|e| e.map(|(r, _)| r)).collect(),
                Err(e) => vec![Err(reply_failed(e.to_string()))],
            },
            Err(why) => vec![Err(reply_failed(why))],
        };
        JsonRecords {
            records: records.into_iter(),
        }
    }
}

impl Iterator for JsonRecords {
    type Item = Result<IntervalRecord, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.records.next()
    }
}

pub(crate) fn read_reply<R: std::io::BufRead>(src: R) -> Result<Value, String> {
    use std::io::Read;
    let mut body = Vec::new();
    src.take(MAX_REPLY_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("read failed: {e}"))?;
    if body.len() as u64 > MAX_REPLY_BYTES {
        return Err(format!(
            "an API reply larger than {MAX_REPLY_BYTES} bytes is not read"
        ));
    }
    super::parse(&body).map_err(|e| e.to_string())
}

pub(crate) fn reply_failed(reason: String) -> RecordError {
    RecordError::new(ErrorKind::BadHeader, 1, "reply", reason)
}

/// The operating days an entry list covers, for a request's bookkeeping.
pub fn days(entries: &[EntryResult]) -> Vec<NaiveDate> {
    let mut days: Vec<NaiveDate> = entries
        .iter()
        .filter_map(|e| match e {
            Ok((r, _)) => Some(r.day),
            Err(e) => e.day,
        })
        .collect();
    days.sort();
    days.dedup();
    days
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::dst_days_2025;
    use serde_json::json;

    const ESIID: &str = "10443720000000001";

    fn rd(values: &[&str]) -> String {
        values.join(",")
    }

    fn day_rd(n: usize) -> String {
        (0..n)
            .map(|i| {
                format!(
                    "{}.{:03}-{}",
                    i / 1000,
                    i % 1000,
                    if i % 7 == 0 { "E" } else { "A" }
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    fn ok(e: &EntryResult) -> &IntervalRecord {
        &e.as_ref().unwrap_or_else(|e| panic!("{e:?}")).0
    }

    #[test]
    fn the_documented_reply_becomes_records_exactly() {
        let reply = json!({
            "trans_id": "123",
            "esiid": ESIID,
            "energyData": [
                {"DT": "09/01/2025", "RevTS": "09/02/2025 06:21:18", "RT": "C", "RD": day_rd(96)},
                {"DT": "09/01/2025", "RevTS": "09/02/2025 06:21:18", "RT": "G", "RD": day_rd(96)}
            ]
        });
        let got = entries(&reply, None, EsiidMode::Strict).unwrap();
        assert_eq!(got.len(), 2);
        let load = ok(&got[0]);
        assert_eq!(load.esiid, ESIID);
        assert_eq!((load.channel, load.line), (4, 1));
        assert_eq!(load.day, NaiveDate::from_ymd_opt(2025, 9, 1).unwrap());
        // 06:21:18 Central daylight time
        assert_eq!(load.revision.to_rfc3339(), "2025-09-02T11:21:18+00:00");
        assert_eq!(load.intervals.len(), 96);
        assert_eq!(load.intervals[7].unwrap().kwh.to_string(), "0.007");
        assert_eq!(load.intervals[7].unwrap().status, Status::Estimated);
        assert_eq!(load.kwh_sum().to_string(), "4.560");
        assert_eq!(ok(&got[1]).channel, 1);
        assert_eq!(
            days(&got),
            vec![NaiveDate::from_ymd_opt(2025, 9, 1).unwrap()]
        );
    }

    #[test]
    fn missing_values_flags_alone_and_negative_values_are_read() {
        let mut values = vec!["0.155-A"; 96];
        values[1] = "";
        values[2] = "-E";
        values[3] = "-0.020-A";
        values[4] = " 1.5-e ";
        let reply = json!({"esiid": ESIID, "energyData": [
            {"DT": "09/01/2025", "RevTS": "09/02/2025 06:21:18", "RT": "C", "RD": rd(&values) + ","}
        ]});
        let got = entries(&reply, None, EsiidMode::Strict).unwrap();
        let r = ok(&got[0]);
        assert_eq!(r.intervals.len(), 96, "a trailing comma adds no slot");
        assert_eq!(r.intervals[1], None);
        assert_eq!(r.intervals[2], None);
        assert_eq!(r.intervals[3].unwrap().kwh.to_string(), "-0.020");
        assert_eq!(r.intervals[4].unwrap().status, Status::Estimated);
        assert_eq!(r.present(), 94);
    }

    #[test]
    fn dst_days_read_under_either_layout() {
        let [spring, fall] = dst_days_2025();
        let fixed_spring: Vec<String> = (0..100)
            .map(|i| {
                if (8..16).contains(&i) {
                    String::new()
                } else {
                    "0.100-A".into()
                }
            })
            .collect();
        let reply = json!({"esiid": ESIID, "energyData": [
            {"DT": spring.format("%m/%d/%Y").to_string(), "RevTS": "03/10/2025 06:00:00", "RT": "C", "RD": day_rd(92)},
            {"DT": spring.format("%m/%d/%Y").to_string(), "RevTS": "03/11/2025 06:00:00", "RT": "G", "RD": fixed_spring.join(",")},
            {"DT": fall.format("%m/%d/%Y").to_string(), "RevTS": "11/03/2025 06:00:00", "RT": "C", "RD": day_rd(100)}
        ]});
        let got = entries(&reply, None, EsiidMode::Strict).unwrap();
        assert_eq!(got[0].as_ref().unwrap().1, SlotLayout::Sequential);
        assert_eq!(got[1].as_ref().unwrap().1, SlotLayout::Fixed100);
        assert_eq!(ok(&got[1]).intervals.len(), 92);
        assert_eq!(ok(&got[1]).kwh_sum().to_string(), "9.200");
        assert_eq!(ok(&got[2]).intervals.len(), 100);
        assert_eq!(ok(&got[2]).end().to_rfc3339(), "2025-11-03T06:00:00+00:00");
    }

    #[test]
    fn a_bad_entry_is_rejected_with_its_place_and_the_others_load() {
        let reply = json!({"esiid": ESIID, "energyData": [
            {"DT": "09/01/2025", "RevTS": "09/02/2025 06:21:18", "RT": "C", "RD": day_rd(95)},
            {"DT": "09/02/2025", "RevTS": "09/03/2025 06:21:18", "RT": "C", "RD": day_rd(96).replacen("0.003-A", "0.003-Q", 1)},
            {"DT": "09/03/2025", "RevTS": "09/04/2025 06:21:18", "RT": "X", "RD": day_rd(96)},
            {"DT": "13/45/2025", "RevTS": "09/04/2025 06:21:18", "RT": "C", "RD": day_rd(96)},
            {"DT": "09/04/2025", "RT": "C", "RD": day_rd(96)},
            {"DT": "09/05/2025", "RevTS": "09/06/2025 06:21:18", "RT": "C", "RD": day_rd(96).replacen("0.010-A", "ten-A", 1)},
            {"DT": "09/06/2025", "RevTS": "09/07/2025 06:21:18", "RT": "C", "RD": day_rd(96)}
        ]});
        let got = entries(&reply, None, EsiidMode::Strict).unwrap();
        let errors: Vec<(u64, String, ErrorKind)> = got
            .iter()
            .filter_map(|e| e.as_ref().err())
            .map(|e| (e.line, e.field.clone(), e.kind))
            .collect();
        assert_eq!(
            errors,
            vec![
                (1, "energyData[1].RD".into(), ErrorKind::WrongIntervalCount),
                (
                    2,
                    "energyData[2].RD slot 4".into(),
                    ErrorKind::UnknownStatus
                ),
                (3, "energyData[3].RT".into(), ErrorKind::BadChannel),
                (4, "energyData[4].DT".into(), ErrorKind::BadTimestamp),
                (5, "energyData[5].RevTS".into(), ErrorKind::MissingRevision),
                (
                    6,
                    "energyData[6].RD slot 11".into(),
                    ErrorKind::NonNumericValue
                ),
            ]
        );
        let first = got[0].as_ref().unwrap_err();
        assert_eq!(first.esiid.as_deref(), Some(ESIID));
        assert_eq!(first.day, NaiveDate::from_ymd_opt(2025, 9, 1));
        assert!(first.reason.contains("95 values"), "{}", first.reason);
        assert!(first.raw.contains("\"DT\":\"09/01/2025\""), "{}", first.raw);
        assert_eq!(
            ok(&got[6]).day,
            NaiveDate::from_ymd_opt(2025, 9, 6).unwrap()
        );
    }

    #[test]
    fn the_esiid_comes_from_the_entry_the_reply_or_the_request() {
        let entry = json!({"DT": "09/01/2025", "RevTS": "09/02/2025 06:21:18", "RT": "C", "RD": day_rd(96)});
        let bare = json!({"energyData": [entry.clone()]});
        assert_eq!(
            ok(&entries(&bare, Some(ESIID), EsiidMode::Strict).unwrap()[0]).esiid,
            ESIID
        );
        let missing = entries(&bare, None, EsiidMode::Strict).unwrap();
        assert_eq!(
            missing[0].as_ref().unwrap_err().kind,
            ErrorKind::MissingField
        );
        let bad = json!({"esiid": "12345", "energyData": [entry]});
        let got = entries(&bad, None, EsiidMode::Strict).unwrap();
        assert_eq!(got[0].as_ref().unwrap_err().kind, ErrorKind::InvalidEsiid);
        let list = json!([{"esiid": ESIID, "energyData": []}, {"esiid": ESIID, "energyData": []}]);
        assert!(entries(&list, None, EsiidMode::Strict).unwrap().is_empty());
    }

    #[test]
    fn a_reply_kept_as_a_file_reads_like_any_report() {
        let body = json!({"esiid": ESIID, "energyData": [
            {"DT": "09/01/2025", "RevTS": "09/02/2025 06:21:18", "RT": "C", "RD": day_rd(96)},
            {"DT": "09/02/2025", "RevTS": "09/03/2025 06:21:18", "RT": "C", "RD": day_rd(3)}
        ]})
        .to_string();
        let got: Vec<_> = crate::interval_records(
            body.as_bytes(),
            crate::Format::IntervalJson,
            EsiidMode::Strict,
        )
        .unwrap()
        .collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_ref().unwrap().kwh_sum().to_string(), "4.560");
        assert_eq!(
            got[1].as_ref().unwrap_err().kind,
            ErrorKind::WrongIntervalCount
        );

        let broken: Vec<_> =
            JsonRecords::new(&b"{\"energyData\": [1, 2"[..], EsiidMode::Strict).collect();
        assert_eq!(broken.len(), 1);
        let e = broken[0].as_ref().unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (1, "reply"));
        assert!(e.reason.contains("not JSON"), "{}", e.reason);
    }

    #[test]
    fn replies_without_data_say_why() {
        let not_yet =
            json!({"errorCode": "1", "errorMessage": "No data received from the respective TDSP"});
        assert!(entries(&not_yet, None, EsiidMode::Strict)
            .unwrap_err()
            .is_retryable());
        let odd = json!({"esiid": ESIID, "intervalData": []});
        let e = entries(&odd, None, EsiidMode::Strict).unwrap_err();
        assert_eq!(
            e,
            ReplyError::Malformed("no energyData in the reply (keys: esiid, intervalData)".into())
        );
        let e = entries(&json!({"energyData": "none"}), None, EsiidMode::Strict).unwrap_err();
        assert_eq!(
            e,
            ReplyError::Malformed("energyData is a string, not a list".into())
        );
        assert!(entries(&json!("text"), None, EsiidMode::Strict).is_err());
    }
}
