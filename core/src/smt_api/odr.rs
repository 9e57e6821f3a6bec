//! On-demand reads (ODR) of today's SMT JSON API: `/v2/odr/` asks SMT to read a meter's register
//! now and answers with a `correlationId`; `/v2/odrstatus/` is polled until the read is taken.
//!
//! What is known (shared/docs/formats.md): the status leaves `PEN`/`PENDING` for `COMPLETED`
//! with `odrRead: {registeredRead, readDate}`, or for a failure such as `T-FAILED`; other statuses
//! occur and are not documented. So a status is read tolerantly: a read present is taken whatever
//! the status says unless it says the read failed; a status naming a failure (`FAIL`, `CANCEL`,
//! `REJECT`, `ERROR`) ends the request; anything else is "not yet", kept in the request's record
//! in SMT's words, and polled again.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{field, text, ReplyError};
use crate::decimal::Decimal;
use crate::time;

/// Where the status may stand in an `/v2/odrstatus/` reply (not confirmed beyond `statusCode`).
const STATUS: &[&str] = &["statusCode", "odrStatus", "status"];
const REASON: &[&str] = &["statusReason", "statusMessage", "message"];

/// What an `/v2/odrstatus/` reply says of the read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OdrStatus {
    /// Not taken yet: `PEN`, `PENDING`, or a status this client does not know (`known` false),
    /// polled again.
    Pending {
        status: String,
        reason: Option<String>,
        known: bool,
    },
    /// The register read, exactly as SMT wrote it.
    Completed {
        status: String,
        registered_read: Decimal,
        /// `readDate` as SMT sent it.
        read_date: String,
        /// `readDate` as an instant (Central prevailing time), when it reads as a date or a
        /// date and time.
        read_at: Option<DateTime<Utc>>,
    },
    /// SMT could not take the read (`T-FAILED` and the like).
    Failed {
        status: String,
        reason: Option<String>,
    },
}

/// The `correlationId` of an `/v2/odr/` reply (one that is not SMT's error).
pub fn accepted(reply: &Value) -> Result<String, ReplyError> {
    text(reply, &["correlationId", "correlationID"])
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| {
            ReplyError::Malformed("an on-demand read was answered without a correlationId".into())
        })
}

/// Reads an `/v2/odrstatus/` reply (one that is not SMT's error: its `statusCode` is a word here,
/// so callers pass the reply itself, not through [`super::reply_error`]).
pub fn status(reply: &Value) -> Result<OdrStatus, ReplyError> {
    let status = text(reply, STATUS).unwrap_or_default().trim().to_owned();
    let reason = text(reply, REASON);
    let upper = status.to_ascii_uppercase();
    let failed = ["FAIL", "CANCEL", "REJECT", "ERROR"]
        .iter()
        .any(|w| upper.contains(w));
    if failed {
        return Ok(OdrStatus::Failed { status, reason });
    }
    if let Some(read) = field(reply, &["odrRead", "odrread"]) {
        let Some(value) = text(read, &["registeredRead", "registerRead", "reading"]) else {
            return Err(ReplyError::Malformed(format!(
                "odrRead without a registeredRead: {read}"
            )));
        };
        let registered_read = Decimal::parse_str(value.trim()).map_err(|e| {
            ReplyError::Malformed(format!(
                "registeredRead {value:?} is not a decimal number: {e}"
            ))
        })?;
        let read_date = text(read, &["readDate", "readTime", "readDateTime"]).unwrap_or_default();
        let read_at = time::parse_local_datetime(&read_date)
            .or_else(|| time::parse_date(&read_date).map(|d| d.and_time(chrono::NaiveTime::MIN)))
            .map(time::revision_to_utc);
        return Ok(OdrStatus::Completed {
            status,
            registered_read,
            read_date,
            read_at,
        });
    }
    let known = matches!(upper.as_str(), "PEN" | "PENDING" | "0" | "");
    if upper == "COMPLETED" {
        return Err(ReplyError::Malformed(
            "the on-demand read is COMPLETED but the reply holds no odrRead".into(),
        ));
    }
    Ok(OdrStatus::Pending {
        status,
        reason,
        known,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_completed_read_keeps_smt_digits_and_reads_its_date_in_central_time() {
        let reply = json!({"correlationId": "9", "statusCode": "COMPLETED",
            "odrRead": {"registeredRead": "24038.9150", "readDate": "03/09/2025 03:30:00"}});
        let OdrStatus::Completed {
            registered_read,
            read_date,
            read_at,
            ..
        } = status(&reply).unwrap()
        else {
            panic!("not completed")
        };
        assert_eq!(registered_read.to_string(), "24038.9150");
        assert_eq!(read_date, "03/09/2025 03:30:00");
        // CDT began at 02:00 that day: 03:30 CDT is 08:30 UTC
        assert_eq!(read_at.unwrap().to_rfc3339(), "2025-03-09T08:30:00+00:00");
    }

    #[test]
    fn pending_failed_and_unknown_statuses_are_told_apart() {
        let pending = status(&json!({"statusCode": "PEN", "statusReason": "Read requested"}));
        assert!(matches!(
            pending,
            Ok(OdrStatus::Pending { known: true, .. })
        ));
        let failed =
            status(&json!({"statusCode": "T-FAILED", "statusReason": "Meter not reachable"}));
        assert_eq!(
            failed,
            Ok(OdrStatus::Failed {
                status: "T-FAILED".into(),
                reason: Some("Meter not reachable".into())
            })
        );
        let odd = status(&json!({"statusCode": "SENT-TO-TDSP"})).unwrap();
        assert!(
            matches!(odd, OdrStatus::Pending { known: false, ref status, .. } if status == "SENT-TO-TDSP")
        );
        assert!(status(&json!({"statusCode": "COMPLETED"})).is_err());
        assert!(status(&json!({"odrRead": {"registeredRead": "12,5"}})).is_err());
        assert!(accepted(&json!({"statusCode": "0"})).is_err());
        assert_eq!(accepted(&json!({"correlationId": 77})).unwrap(), "77");
    }
}
