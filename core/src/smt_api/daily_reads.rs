//! `/v2/dailyreads/`: the meter's register reads per day.
//!
//! ```json
//! {"registeredReads": [{"readDate": "04/21/2020", "revisionDate": "04/22/2020 07:41:22",
//!                       "startReading": "24002.915", "endReading": "24038.915",
//!                       "energyDataKwh": "36.492"}]}
//! ```
//!
//! Read into the same [`DailyRead`] the daily meter read CSV gives, so both land in the same
//! table under the same replacement rule. An entry's `line` is its 1-based position.

use serde_json::Value;

use super::{field, kind, raw_text, reply_error, reply_objects, text, ReplyError};
use crate::decimal::Decimal;
use crate::esiid::{self, EsiidMode};
use crate::record::{ErrorKind, RecordError};
use crate::smt_csv::daily::DailyRead;
use crate::time;

/// Every register read of a reply, in order; `requested_esiid` as in
/// The keys read from a `registeredReads` entry.
pub const ENTRY_KEYS: &[&str] = &[
    "readDate",
    "revisionDate",
    "RevTS",
    "startReading",
    "endReading",
    "energyDataKwh",
    "usageKwh",
];

/// [`super::interval_reads::entries`].
pub fn entries(
    reply: &Value,
    requested_esiid: Option<&str>,
    mode: EsiidMode,
) -> Result<Vec<Result<DailyRead, RecordError>>, ReplyError> {
    if let Some(e) = reply_error(reply) {
        return Err(e);
    }
    let mut out = Vec::new();
    for object in reply_objects(reply)? {
        let reply_esiid = text(object, &["esiid", "ESIID"]);
        let items = match field(object, &["registeredReads"]) {
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(ReplyError::Malformed(format!(
                    "registeredReads is {}, not a list",
                    kind(other)
                )))
            }
            None => {
                return Err(ReplyError::Malformed(
                    "no registeredReads in the reply".into(),
                ))
            }
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

fn entry(
    item: &Value,
    esiid: Option<&str>,
    mode: EsiidMode,
    line: u64,
) -> Result<DailyRead, RecordError> {
    let raw = raw_text(item);
    let fail = |kind: ErrorKind, name: &str, reason: String| {
        RecordError::new(
            kind,
            line,
            format!("registeredReads[{line}].{name}"),
            reason,
        )
        .with_raw(raw.as_bytes())
    };
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
    let day_text = text(item, &["readDate"]);
    let Some(day) = day_text.as_deref().and_then(time::parse_date) else {
        return Err(fail(
            ErrorKind::BadTimestamp,
            "readDate",
            format!("read date {day_text:?} is not MM/DD/YYYY"),
        )
        .with_context(Some(&esiid), None, None));
    };
    let context = |e: RecordError| e.with_context(Some(&esiid), None, Some(day));
    let revision = match text(item, &["revisionDate", "RevTS"]) {
        None => None,
        Some(t) => Some(
            time::parse_local_datetime(&t)
                .map(time::revision_to_utc)
                .ok_or_else(|| {
                    context(fail(
                        ErrorKind::BadTimestamp,
                        "revisionDate",
                        format!("revision {t:?} is not MM/DD/YYYY HH:MM:SS"),
                    ))
                })?,
        ),
    };
    let decimal = |names: &[&str]| -> Result<Option<Decimal>, RecordError> {
        match text(item, names) {
            None => Ok(None),
            Some(t) if t.trim().is_empty() => Ok(None),
            Some(t) => Decimal::parse_str(t.trim()).map(Some).map_err(|e| {
                context(fail(
                    ErrorKind::NonNumericValue,
                    names[0],
                    format!("{t:?}: {e}"),
                ))
            }),
        }
    };
    Ok(DailyRead {
        esiid: esiid.clone(),
        day,
        revision,
        start_reading: decimal(&["startReading"])?,
        end_reading: decimal(&["endReading"])?,
        usage_kwh: decimal(&["energyDataKwh", "usageKwh"])?,
        line,
    })
}

/// The register reads of a reply kept as a file, as the daily CSV reader gives them: a bad entry
/// is an error and reading goes on; a reply that cannot be read at all is one error on line 1.
pub fn file_reads<R: std::io::BufRead>(
    src: R,
    mode: EsiidMode,
) -> Vec<Result<DailyRead, RecordError>> {
    use super::interval_reads::{read_reply, reply_failed};
    match read_reply(src) {
        Ok(reply) => match entries(&reply, None, mode) {
            Ok(entries) => entries,
            Err(e) => vec![Err(reply_failed(e.to_string()))],
        },
        Err(why) => vec![Err(reply_failed(why))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use serde_json::json;

    const ESIID: &str = "10443720000000001";

    #[test]
    fn the_documented_reply_becomes_daily_reads_exactly() {
        let reply = json!({"registeredReads": [
            {"readDate": "04/21/2020", "revisionDate": "04/22/2020 07:41:22",
             "startReading": "24002.915", "endReading": "24038.915", "energyDataKwh": "36.492"},
            {"readDate": "04/22/2020", "startReading": 24038.915, "endReading": "", "energyDataKwh": "0.500"}
        ]});
        let got = entries(&reply, Some(ESIID), EsiidMode::Strict).unwrap();
        let first = got[0].as_ref().unwrap();
        assert_eq!(first.esiid, ESIID);
        assert_eq!(first.day, NaiveDate::from_ymd_opt(2020, 4, 21).unwrap());
        assert_eq!(
            first.revision.unwrap().to_rfc3339(),
            "2020-04-22T12:41:22+00:00"
        );
        assert_eq!(first.start_reading.unwrap().to_string(), "24002.915");
        assert_eq!(first.end_reading.unwrap().to_string(), "24038.915");
        assert_eq!(first.usage_kwh.unwrap().to_string(), "36.492");
        let second = got[1].as_ref().unwrap();
        assert_eq!(second.revision, None);
        assert_eq!(second.start_reading.unwrap().to_string(), "24038.915");
        assert_eq!(second.end_reading, None);
        assert_eq!(second.line, 2);
    }

    #[test]
    fn bad_entries_are_rejected_and_no_data_yet_is_retryable() {
        let reply = json!({"esiid": ESIID, "registeredReads": [
            {"readDate": "2020/04/21x", "energyDataKwh": "1"},
            {"readDate": "04/21/2020", "energyDataKwh": "lots"},
            {"readDate": "04/22/2020", "energyDataKwh": "2.5"}
        ]});
        let got = entries(&reply, None, EsiidMode::Strict).unwrap();
        let e0 = got[0].as_ref().unwrap_err();
        assert_eq!(
            (e0.kind, e0.field.as_str()),
            (ErrorKind::BadTimestamp, "registeredReads[1].readDate")
        );
        let e1 = got[1].as_ref().unwrap_err();
        assert_eq!(e1.kind, ErrorKind::NonNumericValue);
        assert_eq!(e1.day, NaiveDate::from_ymd_opt(2020, 4, 21));
        assert_eq!(
            got[2].as_ref().unwrap().usage_kwh.unwrap().to_string(),
            "2.5"
        );

        let not_yet =
            json!({"errorCode": "1", "errorMessage": "No data received from the respective TDSP"});
        assert!(entries(&not_yet, Some(ESIID), EsiidMode::Strict)
            .unwrap_err()
            .is_retryable());
        assert!(matches!(
            entries(&json!({"reads": []}), None, EsiidMode::Strict),
            Err(ReplyError::Malformed(_))
        ));
    }
}
