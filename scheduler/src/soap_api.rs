//! The soap_api job: sends the due requests of `smt.request` made via `soap` through the seeds'
//! SMT SOAP ad hoc usage API (seeds/001: `processMeterUsage`, mutual TLS, a WS-Security
//! UsernameToken) and loads what SMT answers, through the same request rows and worker
//! functions as the JSON API (`requests.sql`).
//!
//! A request is split into calls within SMT's limits ([`smt_soap::split`]). SMT answers one
//! ESIID over at most 40 days at once with a file URL: the file is fetched over HTTPS from the
//! endpoint's server (or, with `file_url_via = "ftps"`, waited for on the FTPS site) and loaded
//! like any delivery. Anything larger is answered with a correlationId: the request waits for the
//! file whose name carries it, which an ftps_fetch job loads (`smt._fulfil_by_delivery`). SOAP
//! faults of the server side, HTTP 5xx and no answer wait with backoff; a client fault, a
//! non-zero statusCode or a reply that cannot be read fails the request in SMT's words.
//!
//! What a database row can make the worker do is bounded by the worker's configuration: the
//! endpoint, identity and file server come from `[soap_api.NAME]`; a file URL naming another
//! server is refused.

use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use smt_core::smt_soap::{
    self, MeterUsageRequest, MeterUsageResponse, ReportRange, ReportType, SoapError, UsernameToken,
};
use tokio_postgres::Client;

use crate::config::SoapApiSite;
use crate::requests::{
    broke_off, claim, failed, files_dir, load_reply, progress, retry, with_fates, Account, Fate,
    Request, REQUESTS_PER_RUN, RETRY_FIRST_DELAY, RETRY_MAX_DELAY,
};
use crate::smt_api::error_chain;
use crate::sources::{self, DeliveryOutcome, JobParams, Settings};

/// At most this much of a reply body goes into an error message.
const BODY_IN_ERROR: usize = 300;

/// soap_api params: `{"source": NAME}`, NAME a `[soap_api.NAME]` account in the worker's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoapApiParams {
    pub source: String,
}

impl JobParams for SoapApiParams {
    const KIND: &'static str = "soap_api";
    const KEYS: &'static [&'static str] = &["source"];
    const CONFIGURED_IN: &'static str = "[soap_api.NAME]";
    const EXAMPLE: &'static str = r#"{"source": "smt-soap"}"#;
    const ABOUT: &'static str =
        "send the due requests made via soap (smt.request_log) through the seeds' SMT SOAP API";
    const KEY_HELP: &'static [(&'static str, &'static str)] = &[(
        "source",
        "required: the NAME of a [soap_api.NAME] account in the worker's config file (endpoint, \
         client certificate, user, the variable holding its password)",
    )];
}

/// A call that did not give an answer to act on.
#[derive(Debug, thiserror::Error)]
pub enum SoapCallError {
    /// No answer: connection refused or dropped, TLS failure, timeout.
    #[error("SMT SOAP API not reached ({url}): {reason}")]
    Unreachable { url: String, reason: String },
    /// An HTTP status other than success, without a SOAP fault in the body.
    #[error("SMT SOAP API {url} answered HTTP {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    /// SMT's answer: a fault, a refusal, or a reply that cannot be read.
    #[error("{0}")]
    Soap(#[from] SoapError),
    /// A file URL this worker will not fetch (another server than its configuration names).
    #[error("{0}")]
    FileUrl(String),
}

impl SoapCallError {
    /// Whether trying again later can help: no answer, SMT down or overloaded, a server fault,
    /// or the account refused (a password or certificate is fixed in the worker's configuration,
    /// and the requests wait for it rather than fail one by one).
    pub fn is_retryable(&self) -> bool {
        match self {
            SoapCallError::Unreachable { .. } => true,
            SoapCallError::Http { status, .. } => {
                *status >= 500 || matches!(*status, 401 | 403 | 408 | 429)
            }
            SoapCallError::Soap(SoapError::Fault { message, .. }) if refuses_account(message) => {
                true
            }
            SoapCallError::Soap(e) => e.is_retryable(),
            SoapCallError::FileUrl(_) => false,
        }
    }
}

/// A fault that refuses the account rather than the request (WS-Security: a wrong user or
/// password, an expired token).
fn refuses_account(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "authentication",
        "password",
        "unauthorized",
        "security token",
    ]
    .iter()
    .any(|w| m.contains(w))
}

/// One account's HTTPS client (its TLS identity), UsernameToken and pace.
pub struct SoapClient {
    site: SoapApiSite,
    http: reqwest::Client,
    /// Never logged: `UsernameToken`'s Debug redacts the password.
    token: UsernameToken,
    /// Never logged.
    bearer: Option<String>,
    /// Scheme, host and port file URLs are fetched from.
    file_base: String,
    last_call: Option<Instant>,
    calls: u64,
}

impl SoapClient {
    pub fn new(name: &str, site: &SoapApiSite) -> Result<SoapClient> {
        let secret = |var: &Option<String>, what: &str| -> Result<Option<String>> {
            var.as_ref()
                .map(|v| {
                    std::env::var(v).with_context(|| {
                        format!(
                            "[soap_api.{name}]: the environment variable {v} ({what}) is not set"
                        )
                    })
                })
                .transpose()
        };
        let password = secret(&site.password_env, "password_env")?;
        let bearer = secret(&site.bearer_token_env, "bearer_token_env")?;
        let endpoint = origin(&site.url)
            .with_context(|| format!("[soap_api.{name}] url {:?} is not an https URL", site.url))?;
        let host = endpoint
            .split("://")
            .nth(1)
            .unwrap_or_default()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        let tls = crate::tls::client_config(&crate::tls::TlsSettings {
            what: "SMT SOAP API",
            server: &host,
            ca_file: site.ca_file.as_deref(),
            client_cert: site.client_cert.as_deref(),
            client_key: site.client_key.as_deref(),
            insecure_skip_verify: site.insecure_skip_verify,
        })
        .with_context(|| format!("[soap_api.{name}] TLS"))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(site.timeout())
            .connect_timeout(site.timeout())
            .https_only(true)
            // never to another server: a file URL is fetched only from the configured one, and an
            // envelope (with its UsernameToken) is posted only to the configured endpoint
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .with_context(|| format!("[soap_api.{name}] HTTP client"))?;
        let file_base = match &site.file_url_base {
            Some(base) => origin(base).with_context(|| {
                format!("[soap_api.{name}] file_url_base {base:?} is not an https URL")
            })?,
            None => endpoint,
        };
        Ok(SoapClient {
            token: UsernameToken {
                username: site.username.clone(),
                password,
            },
            site: site.clone(),
            http,
            bearer,
            file_base,
            last_call: None,
            calls: 0,
        })
    }

    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// `processMeterUsage` for one call: SMT's answer, a file URL or a correlationId.
    pub async fn meter_usage(
        &mut self,
        call: &smt_soap::Call,
    ) -> Result<MeterUsageResponse, SoapCallError> {
        let request = MeterUsageRequest {
            user_id: self.site.user_id.clone(),
            user_type: self.site.user_type.clone(),
            reports: vec![ReportRange {
                report_type: call.report,
                start: call.first,
                end: call.last,
            }],
            report_format: Some(self.site.report_format.clone()),
            esiids: call.esiids.clone(),
        };
        let body = smt_soap::envelope(&request, Some(&self.token));
        let url = self.site.url.clone();
        let request = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .header("SOAPAction", "processMeterUsage")
            .body(body);
        let (status, reply) = self.send(&url, request).await?;
        // A SOAP fault comes with HTTP 500: SMT's words are in the body.
        match smt_soap::parse_response(&reply) {
            Err(SoapError::Malformed(_)) if !(200..300).contains(&status) => {
                Err(http_error(url, status, &reply))
            }
            Ok(_) if !(200..300).contains(&status) => Err(http_error(url, status, &reply)),
            other => Ok(other?),
        }
    }

    /// The file behind a file URL SMT answered with, from the configured file server only.
    pub async fn fetch(&mut self, file_url: &str) -> Result<Bytes, SoapCallError> {
        let path = if file_url.starts_with('/') {
            file_url.to_owned()
        } else {
            match origin(file_url) {
                Some(o) if o == self.file_base => file_url[o.len()..].to_owned(),
                _ => {
                    return Err(SoapCallError::FileUrl(format!(
                        "SMT answered with file URL {file_url:?}, not on {} (file_url_base): not fetched",
                        self.file_base
                    )))
                }
            }
        };
        let url = format!("{}{}", self.file_base, path);
        let request = self.http.get(&url);
        let (status, bytes) = self.send(&url, request).await?;
        if !(200..300).contains(&status) {
            return Err(http_error(url, status, &bytes));
        }
        Ok(bytes)
    }

    async fn send(
        &mut self,
        url: &str,
        mut request: reqwest::RequestBuilder,
    ) -> Result<(u16, Bytes), SoapCallError> {
        if let Some(last) = self.last_call {
            tokio::time::sleep_until((last + self.site.min_interval()).into()).await;
        }
        self.last_call = Some(Instant::now());
        self.calls += 1;
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        let unreachable = |e: reqwest::Error| SoapCallError::Unreachable {
            url: url.to_owned(),
            reason: error_chain(&e),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(unreachable)?;
        Ok((status, bytes))
    }
}

/// `https://host[:port]` of an https URL.
fn origin(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("https://{host}"))
}

fn http_error(url: String, status: u16, body: &[u8]) -> SoapCallError {
    let head = &body[..body.len().min(BODY_IN_ERROR)];
    SoapCallError::Http {
        url,
        status,
        body: crate::text::printable(&String::from_utf8_lossy(head)).into_owned(),
    }
}

/// The file name a file URL ends with, if it is a plain one.
fn file_name(file_url: &str) -> Option<String> {
    let name = file_url.rsplit('/').next()?.trim();
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    plain.then(|| name.to_owned())
}

/// Runs a soap_api job: every due request made via soap, until none is due (or
/// [`REQUESTS_PER_RUN`]).
pub async fn run(
    work: &mut Client,
    p: SoapApiParams,
    settings: &Settings,
) -> Result<serde_json::Value> {
    let site = settings.soap_api_site(&p.source)?;
    let mut client = SoapClient::new(&p.source, site)?;
    let source = format!("smt-soap://{}", p.source);
    let download_dir = files_dir(settings, site.download_dir.as_deref(), &source)?;
    let worker = crate::jobs::worker_id();
    let ctx = Account {
        source: &source,
        download_dir: &download_dir,
        settings,
        worker: &worker,
        unknown_keys: Default::default(),
    };
    let mut fates = Vec::new();
    let mut loads = Vec::new();
    let mut async_calls = 0u64;
    while fates.len() < REQUESTS_PER_RUN {
        let Some(request) = claim(work, "soap", &worker).await? else {
            break;
        };
        let (fate, outcomes, waiting_for) =
            match process(work, &mut client, site, &ctx, &request).await {
                Ok(done) => done,
                Err(e) => (broke_off(work, &ctx, &request, e).await?, Vec::new(), 0),
            };
        tracing::info!(request = request.request_id, ?fate, "SMT SOAP request");
        async_calls += waiting_for;
        fates.push(fate);
        loads.extend(outcomes);
    }
    Ok(sources::summarize(
        &loads,
        with_fates(
            &fates,
            json!({"soap_calls": client.calls(), "files_to_come": async_calls}),
        ),
    ))
}

/// Sends one request's calls, loading each file answered at once; says what became of it, and
/// how many files SMT delivers later.
async fn process(
    work: &mut Client,
    client: &mut SoapClient,
    site: &SoapApiSite,
    ctx: &Account<'_>,
    r: &Request,
) -> Result<(Fate, Vec<DeliveryOutcome>, u64)> {
    let report = match r.report.as_str() {
        "interval" => ReportType::Interval,
        "daily" => ReportType::Daily,
        "monthly" => ReportType::Monthly,
        other => {
            let error = format!("the SOAP API cannot be asked for report {other:?}");
            failed(work, ctx.worker, r, &error).await?;
            return Ok((Fate::Failed, Vec::new(), 0));
        }
    };
    let calls = match smt_soap::split(&r.esiids, report, r.first_day, r.last_day, r.today) {
        Ok(calls) => calls,
        Err(e) => {
            failed(
                work,
                ctx.worker,
                r,
                &format!("not within SMT's limits: {e}"),
            )
            .await?;
            return Ok((Fate::Failed, Vec::new(), 0));
        }
    };
    let mut file_ids = Vec::new();
    let mut outcomes = Vec::new();
    let mut correlation_ids = Vec::new();
    let mut awaiting = Vec::new();
    for call in &calls {
        let answer = client.meter_usage(call).await;
        let file_url = match answer {
            Ok(MeterUsageResponse::Accepted { correlation_id, .. })
                if correlation_id.trim().len() < 4 =>
            {
                let error = format!(
                    "SMT answered with correlationId {correlation_id:?}, too short to find its file by"
                );
                failed(work, ctx.worker, r, &error).await?;
                return Ok((Fate::Failed, outcomes, 0));
            }
            Ok(MeterUsageResponse::Accepted { correlation_id, .. }) => {
                tracing::info!(request = r.request_id, %correlation_id, "SMT will deliver a file");
                awaiting.push(correlation_id.clone());
                correlation_ids.push(correlation_id);
                continue;
            }
            Ok(MeterUsageResponse::FileUrl(url)) => url,
            Err(e) => return Ok((wait_or_fail(work, ctx, r, &e).await?, outcomes, 0)),
        };
        let Some(name) = file_name(&file_url) else {
            let error = format!("SMT answered with file URL {file_url:?}, which names no file");
            failed(work, ctx.worker, r, &error).await?;
            return Ok((Fate::Failed, outcomes, 0));
        };
        if site.file_url_via.eq_ignore_ascii_case("ftps") && name.len() >= 4 {
            awaiting.push(name);
            continue;
        }
        let bytes = match client.fetch(&file_url).await {
            Ok(bytes) => bytes,
            Err(e) => return Ok((wait_or_fail(work, ctx, r, &e).await?, outcomes, 0)),
        };
        let outcome = load_reply(work, ctx, &name, &bytes).await?;
        if let Some(why) = &outcome.quarantined {
            let error = format!("SMT's file {name} could not be loaded: {why}");
            failed(work, ctx.worker, r, &error).await?;
            outcomes.push(outcome);
            return Ok((Fate::Failed, outcomes, 0));
        }
        let mine = progress(work, ctx, r, &mut file_ids, &outcome).await?;
        outcomes.push(outcome);
        if !mine {
            return Ok((Fate::Lost, outcomes, 0));
        }
    }
    let state: Option<String> = work
        .query_one(
            "SELECT smt.request_awaiting_files($1, $2, $3, $4, $5)",
            &[
                &r.request_id,
                &ctx.worker,
                &correlation_ids,
                &awaiting,
                &file_ids,
            ],
        )
        .await?
        .try_get(0)?;
    let fate = match state.as_deref() {
        Some("fulfilled") => Fate::Fulfilled,
        Some(_) => Fate::Waiting,
        None => Fate::Lost,
    };
    Ok((fate, outcomes, awaiting.len() as u64))
}

/// A call that gave nothing to act on: the request waits with backoff when a retry can help,
/// else fails in SMT's words.
async fn wait_or_fail(
    work: &Client,
    ctx: &Account<'_>,
    r: &Request,
    e: &SoapCallError,
) -> Result<Fate> {
    let error = e.to_string();
    if !e.is_retryable() {
        failed(work, ctx.worker, r, &error).await?;
        return Ok(Fate::Failed);
    }
    tracing::warn!(request = r.request_id, "SMT SOAP request not done: {error}");
    let delay = crate::jobs::backoff(r.attempts.max(1) as u32, RETRY_FIRST_DELAY, RETRY_MAX_DELAY);
    retry(work, ctx.worker, r, &error, delay).await
}
