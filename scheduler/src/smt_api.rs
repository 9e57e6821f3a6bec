//! Client of today's SMT JSON API (2025 onward): a JWT bearer token from `/v2/token/`, reused
//! until shortly before it expires and renewed once on a 401; every call a JSON POST carrying
//! `Authorization: Bearer` and SMT's identity fields; calls spaced by the site's `min_interval`
//! so that smt never polls SMT too fast (SMT blocks clients that do). What is known of the
//! interface, and what is not confirmed, is in `shared/docs/formats.md` ("Today's SMT
//! interfaces"); the replies are read by [`smt_core::smt_api`].
//!
//! Credentials come from the worker's configuration (the service id) and environment (the
//! password, from the variable the configuration names): never from a database row, never logged.

use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::NaiveDate;
use serde_json::{json, Value};
use smt_core::smt_api::{self, ReplyError};

use crate::config::SmtApiSite;

/// Renew a token this long before SMT says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(120);
/// A token whose reply says nothing of its life is kept this long (SMT's tokens last an hour).
const TOKEN_DEFAULT_LIFE: Duration = Duration::from_secs(3600);
/// At most this much of a reply body goes into an error message.
const BODY_IN_ERROR: usize = 300;

/// What a request asks for (`smt.request.report`), and the call that answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// 15-minute reads: `/v2/15minintervalreads/`.
    Interval,
    /// Daily meter (register) reads: `/v2/dailyreads/`.
    Daily,
}

impl Report {
    /// The report named as in `smt.request.report`.
    pub fn named(name: &str) -> Option<Report> {
        match name {
            "interval" => Some(Report::Interval),
            "daily" => Some(Report::Daily),
            _ => None,
        }
    }

    /// Keys of a reply of this call that this client does not read (see
    /// [`smt_api::unknown_keys`]); none for a reply that is not JSON.
    pub fn unknown_keys(self, reply: &[u8]) -> Vec<String> {
        let Ok(value) = smt_api::parse(reply) else {
            return Vec::new();
        };
        match self {
            Report::Interval => {
                smt_api::unknown_keys(&value, "energyData", smt_api::interval_reads::ENTRY_KEYS)
            }
            Report::Daily => {
                smt_api::unknown_keys(&value, "registeredReads", smt_api::daily_reads::ENTRY_KEYS)
            }
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Report::Interval => "/v2/15minintervalreads/",
            Report::Daily => "/v2/dailyreads/",
        }
    }
}

/// A call that did not give data.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No answer: connection refused or dropped, TLS failure, timeout.
    #[error("SMT API not reached ({url}): {reason}")]
    Unreachable { url: String, reason: String },
    /// An HTTP status other than success (after renewing the token once for a 401).
    #[error("SMT API {url} answered HTTP {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    /// A token could not be had: wrong service id or password, or a reply without a token.
    #[error("SMT API token: {0}")]
    Token(String),
    /// SMT answered, but not with data: its error, "no data yet", or a reply we cannot read.
    #[error("{0}")]
    Reply(#[from] ReplyError),
    /// The worker's configuration cannot make calls (no password in the environment, bad CA).
    #[error("SMT API configuration: {0}")]
    Config(String),
}

impl ApiError {
    /// Whether the request can be tried again later: SMT down or overloaded (5xx, 429, 408), no
    /// answer, no data yet, or no token (the service id's password is fixed in the worker's
    /// environment, and the waiting requests go on). A refusal of the request itself (other 4xx,
    /// SMT's error codes) and a reply we cannot read are not retried: they need a person.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Unreachable { .. } | ApiError::Token(_) => true,
            ApiError::Http { status, .. } => *status >= 500 || matches!(*status, 408 | 429),
            ApiError::Reply(e) => e.is_retryable(),
            ApiError::Config(_) => false,
        }
    }

    /// SMT's "no data yet".
    pub fn is_not_yet(&self) -> bool {
        matches!(self, ApiError::Reply(ReplyError::NotYet { .. }))
    }
}

struct Token {
    bearer: String,
    renew_at: Instant,
}

/// One site's client: its HTTP connection pool, token and pace.
pub struct ApiClient {
    site: SmtApiSite,
    http: reqwest::Client,
    /// Never logged; `Debug` is not implemented for this struct.
    password: String,
    token: Option<Token>,
    last_call: Option<Instant>,
    calls: u64,
}

impl ApiClient {
    /// A client for `site`, its password read from the environment variable the site names.
    pub fn new(name: &str, site: &SmtApiSite) -> Result<ApiClient, ApiError> {
        let password = std::env::var(&site.password_env).map_err(|_| {
            ApiError::Config(format!(
                "[smt_api.{name}]: the environment variable {} (password_env) holding the \
                 password of service id {} is not set",
                site.password_env, site.service_id
            ))
        })?;
        let host = site
            .base_url
            .split("://")
            .nth(1)
            .unwrap_or(&site.base_url)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let tls = crate::tls::client_config(&crate::tls::TlsSettings {
            what: "SMT API",
            server: &host,
            ca_file: site.ca_file.as_deref(),
            client_cert: None,
            client_key: None,
            insecure_skip_verify: site.insecure_skip_verify,
        })
        .map_err(|e| ApiError::Config(format!("[smt_api.{name}] TLS: {e:#}")))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(site.timeout())
            .connect_timeout(site.timeout())
            .https_only(!site.base_url.starts_with("http://"))
            // never to another server: the bearer token and identity go only to the configured API
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ApiError::Config(format!("[smt_api.{name}] HTTP client: {e}")))?;
        Ok(ApiClient {
            site: site.clone(),
            http,
            password,
            token: None,
            last_call: None,
            calls: 0,
        })
    }

    /// Calls made so far (token requests included).
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// The identity fields every request body carries, with `trans_id`.
    fn identity(&self, trans_id: &str) -> serde_json::Map<String, Value> {
        let mut body = serde_json::Map::new();
        body.insert("trans_id".into(), json!(trans_id));
        body.insert("requestorID".into(), json!(self.site.service_id));
        body.insert("requesterType".into(), json!(self.site.requester_type));
        body.insert(
            "requesterAuthenticationID".into(),
            json!(self.site.requester_authentication_id),
        );
        body.insert("SMTTermsandConditions".into(), json!("Y"));
        body
    }

    /// The fields every reads call sends: identity, days (`MM/DD/YYYY`), version, reading type
    /// and the ESIIDs.
    fn reads_body(
        &self,
        trans_id: &str,
        esiids: &[impl serde::Serialize],
        first: NaiveDate,
        last: NaiveDate,
    ) -> serde_json::Map<String, Value> {
        let mut body = self.identity(trans_id);
        body.insert(
            "startDate".into(),
            json!(first.format("%m/%d/%Y").to_string()),
        );
        body.insert("endDate".into(), json!(last.format("%m/%d/%Y").to_string()));
        body.insert("version".into(), json!(self.site.version));
        body.insert("readingType".into(), json!(self.site.reading_type));
        body.insert("esiid".into(), json!(esiids));
        body
    }

    /// One ESIID's data of `report` over days `first..=last`, answered inline (deliveryMode
    /// API): `/v2/15minintervalreads/` or `/v2/dailyreads/`. The reply's bytes as received, once
    /// SMT's error replies are told apart (an error reply is an [`ApiError::Reply`]; "no data
    /// yet" among them).
    pub async fn reads(
        &mut self,
        report: Report,
        trans_id: &str,
        esiid: &str,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<Bytes, ApiError> {
        let mut body = self.reads_body(trans_id, &[esiid], first, last);
        if report == Report::Interval {
            body.insert("deliveryMode".into(), json!("API"));
            body.insert("reportFormat".into(), json!("JSON"));
        }
        let reply = self.call(report.path(), Value::Object(body)).await?;
        data(&reply)?;
        Ok(reply)
    }

    /// `/v2/15minintervalreads/` with deliveryMode FTP for every ESIID and day of a request: SMT
    /// accepts it and later drops a CSV on the SFTP site. Returns SMT's correlationId.
    pub async fn interval_reads_by_file(
        &mut self,
        trans_id: &str,
        esiids: &[String],
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<String, ApiError> {
        let mut body = self.reads_body(trans_id, esiids, first, last);
        body.insert("deliveryMode".into(), json!("FTP"));
        body.insert("reportFormat".into(), json!("CSV"));
        let reply = self
            .call(Report::Interval.path(), Value::Object(body))
            .await?;
        smt_api::text(&data(&reply)?, &["correlationId", "correlationID"])
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| {
                ApiError::Reply(ReplyError::Malformed(
                    "a deliveryMode FTP request was answered without a correlationId".into(),
                ))
            })
    }

    /// `/v2/odr/`: asks SMT to read a meter's register now. Returns SMT's correlationId, to poll
    /// [`ApiClient::on_demand_read_status`] with.
    pub async fn on_demand_read(
        &mut self,
        trans_id: &str,
        esiid: &str,
        meter_number: &str,
    ) -> Result<String, ApiError> {
        let mut body = self.identity(trans_id);
        body.insert("ESIID".into(), json!(esiid));
        body.insert("MeterNumber".into(), json!(meter_number));
        body.insert("reportFormat".into(), json!("JSON"));
        body.insert("deliveryMode".into(), json!("API"));
        let reply = self.call("/v2/odr/", Value::Object(body)).await?;
        Ok(smt_api::odr::accepted(&data(&reply)?)?)
    }

    /// `/v2/odrstatus/`: where the on-demand read under `correlation_id` stands. Its statusCode is
    /// a word (PEN, COMPLETED, T-FAILED), so only an `errorCode` makes the reply SMT's error.
    pub async fn on_demand_read_status(
        &mut self,
        trans_id: &str,
        correlation_id: &str,
    ) -> Result<smt_api::odr::OdrStatus, ApiError> {
        let mut body = self.identity(trans_id);
        body.insert("correlationId".into(), json!(correlation_id));
        let reply = self.call("/v2/odrstatus/", Value::Object(body)).await?;
        let value = smt_api::parse(&reply)?;
        let coded = smt_api::text(&value, &["errorCode"])
            .is_some_and(|c| !matches!(c.trim(), "" | "0" | "00"));
        if let Some(e) = coded.then(|| smt_api::reply_error(&value)).flatten() {
            return Err(e.into());
        }
        Ok(smt_api::odr::status(&value)?)
    }

    /// POSTs SMT's identity fields plus the fields of `extra` (an object) to `path`, with a
    /// trans_id naming what it is for; SMT's error replies are still plain replies here.
    pub async fn call_with_identity(
        &mut self,
        path: &str,
        about: &str,
        extra: Value,
    ) -> Result<Bytes, ApiError> {
        let trans_id = format!(
            "smt-{about}-{}",
            chrono::Utc::now().format("%Y%m%d%H%M%S%3f")
        );
        let mut body = self.identity(&trans_id);
        if let Value::Object(fields) = extra {
            body.extend(fields);
        }
        self.call(path, Value::Object(body)).await
    }

    /// POSTs `body` to `path` with the bearer token; a 401 renews the token once.
    pub async fn call(&mut self, path: &str, body: Value) -> Result<Bytes, ApiError> {
        let mut renewed = false;
        loop {
            let bearer = self.bearer().await?;
            let url = self.url(path);
            let response = self.send(&url, &body, Some(&bearer)).await?;
            if response.0 == 401 && !renewed {
                tracing::info!(url = %url, "SMT API answered 401: renewing the token once");
                self.token = None;
                renewed = true;
                continue;
            }
            return success(url, response);
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.site.base_url.trim_end_matches('/'), path)
    }

    /// The current token, fetched when there is none or it is about to expire.
    async fn bearer(&mut self) -> Result<String, ApiError> {
        if let Some(t) = &self.token {
            if Instant::now() < t.renew_at {
                return Ok(t.bearer.clone());
            }
        }
        let url = self.url("/v2/token/");
        let body = json!({"username": self.site.service_id, "password": self.password});
        let (status, reply) = self.send(&url, &body, None).await?;
        if status == 401 || status == 403 {
            return Err(ApiError::Token(format!(
                "SMT refused service id {} (HTTP {status}): check it and the password in {}",
                self.site.service_id, self.site.password_env
            )));
        }
        let reply = success(url, (status, reply))?;
        let parsed = smt_api::parse(&reply)?;
        if let Some(e) = smt_api::reply_error(&parsed) {
            return Err(ApiError::Token(e.to_string()));
        }
        let Some(bearer) = smt_api::text(&parsed, &["accessToken", "access_token"]) else {
            return Err(ApiError::Token(
                "the token reply holds no accessToken".into(),
            ));
        };
        let life = smt_api::text(&parsed, &["expiresIn", "expires_in"])
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(TOKEN_DEFAULT_LIFE);
        let renew_at = Instant::now() + life.saturating_sub(TOKEN_MARGIN.min(life / 2));
        tracing::debug!(life_seconds = life.as_secs(), "SMT API token obtained");
        self.token = Some(Token {
            bearer: bearer.clone(),
            renew_at,
        });
        Ok(bearer)
    }

    /// One POST, after waiting out the site's pace. The status and body, whatever the status.
    async fn send(
        &mut self,
        url: &str,
        body: &Value,
        bearer: Option<&str>,
    ) -> Result<(u16, Bytes), ApiError> {
        if let Some(last) = self.last_call {
            let next = last + self.site.min_interval();
            tokio::time::sleep_until(next.into()).await;
        }
        self.last_call = Some(Instant::now());
        self.calls += 1;
        let mut request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(token) = bearer {
            request = request
                .bearer_auth(token)
                .header("username", &self.site.service_id)
                .header("serviceId", &self.site.service_id);
        }
        let unreachable = |e: reqwest::Error| ApiError::Unreachable {
            url: url.to_owned(),
            reason: error_chain(&e),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(unreachable)?;
        Ok((status, bytes))
    }
}

/// A reply's JSON, unless it is SMT's error instead of data ("no data yet" among them).
pub fn data(reply: &[u8]) -> Result<Value, ApiError> {
    let value = smt_api::parse(reply)?;
    match smt_api::reply_error(&value) {
        Some(e) => Err(e.into()),
        None => Ok(value),
    }
}

/// The body of a successful (2xx) answer, else an [`ApiError::Http`] with the start of the body.
fn success(url: String, (status, body): (u16, Bytes)) -> Result<Bytes, ApiError> {
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let head = &body[..body.len().min(BODY_IN_ERROR)];
    Err(ApiError::Http {
        url,
        status,
        body: crate::text::printable(&String::from_utf8_lossy(head)).into_owned(),
    })
}

/// An error with its causes, one line (reqwest's own message alone says little).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The calls one request makes: each ESIID over windows of at most `max_days` days, in order.
pub fn windows(
    esiids: &[String],
    first: NaiveDate,
    last: NaiveDate,
    max_days: u32,
) -> Vec<(String, NaiveDate, NaiveDate)> {
    let step = i64::from(max_days.max(1));
    let mut out = Vec::new();
    for esiid in esiids {
        let mut from = first;
        while from <= last {
            let to = (from + chrono::Duration::days(step - 1)).min(last);
            out.push((esiid.clone(), from, to));
            from = to + chrono::Duration::days(1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, m, d).unwrap()
    }

    #[test]
    fn windows_cover_every_day_of_every_esiid_once() {
        let esiids = vec!["a".to_owned(), "b".to_owned()];
        let w = windows(&esiids, day(1, 1), day(3, 15), 31);
        assert_eq!(
            w,
            vec![
                ("a".into(), day(1, 1), day(1, 31)),
                ("a".into(), day(2, 1), day(3, 3)),
                ("a".into(), day(3, 4), day(3, 15)),
                ("b".into(), day(1, 1), day(1, 31)),
                ("b".into(), day(2, 1), day(3, 3)),
                ("b".into(), day(3, 4), day(3, 15)),
            ]
        );
        assert_eq!(windows(&esiids[..1], day(5, 5), day(5, 5), 31).len(), 1);
        assert!(windows(&esiids, day(5, 6), day(5, 5), 31).is_empty());
    }

    #[test]
    fn only_failures_a_retry_can_help_are_retryable() {
        let http = |status| ApiError::Http {
            url: "u".into(),
            status,
            body: String::new(),
        };
        assert!(http(503).is_retryable());
        assert!(http(429).is_retryable());
        assert!(!http(400).is_retryable());
        assert!(!http(404).is_retryable());
        assert!(ApiError::Unreachable {
            url: "u".into(),
            reason: "refused".into()
        }
        .is_retryable());
        let not_yet = ApiError::Reply(ReplyError::NotYet {
            message: "No data received from the respective TDSP".into(),
        });
        assert!(not_yet.is_retryable() && not_yet.is_not_yet());
        assert!(!ApiError::Reply(ReplyError::Malformed("x".into())).is_retryable());
        assert!(ApiError::Token("refused".into()).is_retryable());
        assert!(!ApiError::Config("no password".into()).is_retryable());
    }
}
