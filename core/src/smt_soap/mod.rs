//! SMT's SOAP ad hoc meter usage web service as the seeds describe it (seeds/001, the 2010 REP
//! overview of Smart Meter Texas): the request envelope, the reply, and the limits a request
//! must keep. Plain Rust: no network, no async, no database; the caller sends the envelope over
//! mutual TLS and hands back the reply's bytes.
//!
//! The interface: one operation, `processMeterUsage` (namespace
//! `http://schemas.esb.ams.com/meterusagesource`), taking a user, report ranges (`INTERVAL`,
//! `DAILY`, `MONTHLY` with `MM/DD/YYYY` days), a report format and ESIIDs
//! ([`envelope::envelope`]). SMT answers in one of two ways ([`response::parse_response`]):
//!
//! - **synchronously**, for one ESIID over at most 40 days: the reply carries the report's
//!   `fileUrl`, a file SMT has already written;
//! - **asynchronously**, for anything else: the reply carries a `correlationId`, `statusCode`
//!   and `statusMessage`; the report is posted later to the requester's FTPS folder (kept 10
//!   days), and the correlationId ties it to the request.
//!
//! [`limits::split`] turns a wanted range into calls SMT accepts, each marked synchronous or not.
//!
//! Confirmed by the seeds: the element names, order and namespaces of the request and of both
//! replies (two samples each, reconstructed in `golden/` from PDF text broken across lines);
//! the limits (50,000 ESIIDs, 48 / 24 months of history, 40 days synchronous, 1,200 days of one
//! ESIID's daily usage, under 13 months for one ESIID asynchronously); a WS-Security
//! UsernameToken header (shown for the HAN API, stated for this one).
//!
//! Not confirmed: any fault or refusal reply (no sample: `statusCode` other than 0 and SOAP
//! faults are read by the SOAP 1.1 rules), a `wsse:Password` (the seed shows the username
//! alone), how SMT counts "13 months" (kept to 12 calendar months), the per-call span of one
//! ESIID's monthly usage, and whether the service survives today: SMT switched FTPS and
//! certificate-authenticated APIs off on 2025-09-13 (see `shared/docs/formats.md`).

pub mod envelope;
pub mod limits;
pub mod response;

pub use envelope::{envelope, MeterUsageRequest, ReportRange, ReportType, UsernameToken};
pub use limits::{
    check, split, Call, LimitError, DAILY_HISTORY_MONTHS, DAILY_ONE_ESIID_MAX_DAYS,
    INTERVAL_HISTORY_MONTHS, MAX_ESIIDS, MONTHLY_HISTORY_MONTHS, ONE_ESIID_WINDOW_MONTHS,
    SYNC_MAX_DAYS,
};
pub use response::{parse_response, MeterUsageResponse, SoapError};
