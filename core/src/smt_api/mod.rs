//! Replies of today's SMT JSON API (2025 onward: JWT bearer tokens, `/v2/...` calls), read into
//! the same shapes the file formats produce, so that API data flows through the same checks,
//! merge and replacement rule as files. What is known of the interface, with its sources and
//! what is not confirmed, is in `shared/docs/formats.md` ("Today's SMT interfaces").
//!
//! No HTTP here: the scheduler makes the calls; this module only reads what came back. Replies
//! are read whole (`serde_json::Value`): an inline reply answers one request, whose size SMT
//! bounds, unlike a delivered file.
//!
//! Tolerance, since nothing here is confirmed by a primary source: numbers may come as JSON
//! strings or numbers; keys are matched without regard to case; fields we do not know are
//! ignored; a reply that is not what we expect is a [`ReplyError`] naming what was found.

pub mod daily_reads;
pub mod interval_reads;
pub mod odr;
pub mod slots;

use serde_json::Value;

/// A reply that carries no data, said why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// Not JSON, or JSON of another shape than the call answers with.
    #[error("malformed SMT reply: {0}")]
    Malformed(String),
    /// SMT has no data yet (`"No data received from the respective TDSP"`: yesterday's data
    /// appears in the late afternoon). Ask again later; not a failure.
    #[error("no data yet: {message}")]
    NotYet { message: String },
    /// SMT answered with an error code and message.
    #[error("SMT error {code}: {message}")]
    Smt { code: String, message: String },
}

impl ReplyError {
    /// Whether asking again later can help (SMT's "no data yet"; not a malformed reply or a
    /// refusal).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ReplyError::NotYet { .. })
    }
}

/// Parses a reply body as JSON.
pub fn parse(body: &[u8]) -> Result<Value, ReplyError> {
    serde_json::from_slice(body).map_err(|e| {
        let head: String = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        ReplyError::Malformed(format!("not JSON ({e}); the reply begins {head:?}"))
    })
}

/// The error a reply carries instead of data, if any: `errorCode` (other than 0) with
/// `errorMessage`, or a `statusCode` that is not a success (0 or 200) with its reason.
pub fn reply_error(reply: &Value) -> Option<ReplyError> {
    let message = text(
        reply,
        &["errorMessage", "statusReason", "statusMessage", "message"],
    );
    let failed = |code: &str| !matches!(code.trim(), "" | "0" | "00" | "200");
    let code = text(reply, &["errorCode"])
        .filter(|c| failed(c))
        .or_else(|| text(reply, &["statusCode"]).filter(|c| failed(c)))?;
    let message = message.unwrap_or_default();
    if message
        .to_ascii_lowercase()
        .contains("no data received from the respective tdsp")
    {
        return Some(ReplyError::NotYet { message });
    }
    Some(ReplyError::Smt { code, message })
}

/// The value of the first of `names` present in object `v` (keys compared without case), as
/// text: a string as it is, a number in its JSON spelling; `None` for null or absent.
pub fn text(v: &Value, names: &[&str]) -> Option<String> {
    let found = field(v, names)?;
    match found {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The first of `names` present in object `v`, keys compared without case.
pub fn field<'a>(v: &'a Value, names: &[&str]) -> Option<&'a Value> {
    let object = v.as_object()?;
    names.iter().find_map(|name| {
        object
            .iter()
            .find(|(k, value)| k.eq_ignore_ascii_case(name) && !value.is_null())
            .map(|(_, value)| value)
    })
}

/// Keys of a reply's own object that every call may carry besides its data.
const ENVELOPE_KEYS: &[&str] = &[
    "trans_id",
    "esiid",
    "statusCode",
    "statusReason",
    "statusMessage",
    "errorCode",
    "errorMessage",
    "message",
];

/// The keys of a reply this client does not read, as `list` (the reply's own keys) and
/// `list[].key` (its entries' keys), compared without case: the data of a reply that carries
/// them is still loaded, and the worker records them, so that a field SMT adds is seen rather
/// than silently dropped. `list` names the entries' array; `entry_keys` the keys read from each.
pub fn unknown_keys(reply: &Value, list: &str, entry_keys: &[&str]) -> Vec<String> {
    let known = |k: &str, names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(k));
    let mut out = std::collections::BTreeSet::new();
    for object in reply_objects(reply).unwrap_or_default() {
        let Some(map) = object.as_object() else {
            continue;
        };
        for (key, value) in map {
            if key.eq_ignore_ascii_case(list) {
                for item in value.as_array().into_iter().flatten() {
                    for k in item.as_object().into_iter().flat_map(|o| o.keys()) {
                        if !known(k, entry_keys) && !known(k, &["esiid"]) {
                            out.insert(format!("{list}[].{k}"));
                        }
                    }
                }
            } else if !known(key, ENVELOPE_KEYS) {
                out.insert(key.clone());
            }
        }
    }
    out.into_iter().collect()
}

/// A reply's entry as text for a reject's `raw` (bounded: a reject row is not an archive).
pub(crate) fn raw_text(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 4000 {
        let mut cut = 4000;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// The objects a reply holds its data in: the reply itself, or each object of a reply that is a
/// list (one per ESIID, if SMT answers a several-ESIID request so; not confirmed).
pub(crate) fn reply_objects(reply: &Value) -> Result<Vec<&Value>, ReplyError> {
    match reply {
        Value::Object(_) => Ok(vec![reply]),
        Value::Array(items) if items.iter().all(Value::is_object) => Ok(items.iter().collect()),
        other => Err(ReplyError::Malformed(format!(
            "expected a JSON object, found {}",
            kind(other)
        ))),
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_a_reply_carries_beyond_those_read_are_named() {
        let reply = serde_json::json!({"trans_id": "t", "esiid": "1", "newFlag": true,
            "energyData": [{"DT": "x", "RevTS": "y", "RT": "C", "RD": "", "UOM": "KWH"},
                           {"dt": "x", "rt": "G", "rd": ""}]});
        assert_eq!(
            super::unknown_keys(&reply, "energyData", super::interval_reads::ENTRY_KEYS),
            vec!["energyData[].UOM", "newFlag"]
        );
        let plain =
            serde_json::json!({"registeredReads": [{"readDate": "x", "energyDataKwh": "1"}]});
        assert!(
            super::unknown_keys(&plain, "registeredReads", super::daily_reads::ENTRY_KEYS)
                .is_empty()
        );
    }
    use super::*;
    use serde_json::json;

    #[test]
    fn no_data_yet_is_retryable_and_other_errors_are_not() {
        let not_yet =
            json!({"errorCode": "1", "errorMessage": "No data received from the respective TDSP"});
        let e = reply_error(&not_yet).unwrap();
        assert!(matches!(e, ReplyError::NotYet { .. }), "{e:?}");
        assert!(e.is_retryable());

        let refused = json!({"errorCode": 2, "errorMessage": "Invalid ESIID"});
        assert_eq!(
            reply_error(&refused),
            Some(ReplyError::Smt {
                code: "2".into(),
                message: "Invalid ESIID".into()
            })
        );
        assert!(!reply_error(&refused).unwrap().is_retryable());
    }

    #[test]
    fn success_codes_as_strings_or_numbers_are_no_error() {
        for ok in [
            json!({"statusCode": "200", "accessToken": "x"}),
            json!({"statusCode": 200}),
            json!({"statusCode": "0", "correlationId": "1"}),
            json!({"errorCode": "0", "energyData": []}),
            json!({"energyData": []}),
        ] {
            assert_eq!(reply_error(&ok), None, "{ok}");
        }
        let failed = json!({"statusCode": "500", "statusReason": "Internal"});
        assert_eq!(
            reply_error(&failed),
            Some(ReplyError::Smt {
                code: "500".into(),
                message: "Internal".into()
            })
        );
    }

    #[test]
    fn keys_are_matched_without_case_and_nulls_are_absent() {
        let v = json!({"ESIID": "1", "esiid": null, "RevTS": 5});
        assert_eq!(text(&v, &["esiid"]).as_deref(), Some("1"));
        assert_eq!(text(&v, &["revts"]).as_deref(), Some("5"));
        assert_eq!(text(&v, &["missing"]), None);
    }

    #[test]
    fn a_reply_that_is_not_json_says_how_it_begins() {
        let e = parse(b"<html>Service Unavailable</html>").unwrap_err();
        assert!(e.to_string().contains("<html>Service"), "{e}");
    }
}
