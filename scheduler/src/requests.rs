//! The smt_api job: sends the due requests of `smt.request` through today's SMT JSON API and
//! loads every reply like a delivered file. Each request moves through the named SQL functions
//! of `requests.sql` (claim, progress, fulfilled, retry, failed); nothing here writes a table.
//!
//! A reply is kept as a file in the account's download directory, registered as a delivery and
//! loaded by [`sources::load_delivery`]: the same registry, exactly-once loading by content,
//! rejects, quarantine and raw keeping as any file SMT delivers. A request is split into calls of
//! one ESIID and at most `max_days_per_call` days ([`smt_api::windows`]); a call SMT has no data
//! for yet puts the request back to wait `not_yet_retry_minutes`, a failure a retry can help
//! (SMT down, a timeout) waits with backoff, anything else fails the request with SMT's words.
//! Replies already loaded are found loaded again by content when the request is retried.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio_postgres::{Client, Row};

use crate::config::{KeepCurrent, SmtApiSite};
use crate::smt_api::{self, ApiClient, ApiError};
use crate::sources::{self, DeliveryOutcome, JobParams, LocalFile, Settings};

/// How long a worker holds a request between two steps before another may take it over.
pub const REQUEST_LEASE: Duration = Duration::from_secs(15 * 60);
/// First wait after a retryable failure; doubled per attempt up to [`RETRY_MAX_DELAY`].
pub const RETRY_FIRST_DELAY: Duration = Duration::from_secs(60);
pub const RETRY_MAX_DELAY: Duration = Duration::from_secs(3600);
/// Requests one run takes up at most, so that a run ends and records what it did.
pub const REQUESTS_PER_RUN: usize = 100;

/// smt_api params: `{"source": NAME}`, NAME an `[smt_api.NAME]` account in the worker's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtApiParams {
    pub source: String,
}

impl JobParams for SmtApiParams {
    const KIND: &'static str = "smt_api";
    const KEYS: &'static [&'static str] = &["source"];
    const CONFIGURED_IN: &'static str = "[smt_api.NAME]";
    const EXAMPLE: &'static str = r#"{"source": "smt"}"#;
    const ABOUT: &'static str =
        "send the due requests (smt.request_log) through today's SMT JSON API and load the replies";
    const KEY_HELP: &'static [(&'static str, &'static str)] = &[(
        "source",
        "required: the NAME of an [smt_api.NAME] account in the worker's config file (address, \
         service id, the variable holding its password, DUNS)",
    )];
}

/// A claimed row of `smt.request`, as far as the worker needs it.
#[derive(Debug, Clone)]
pub struct Request {
    pub request_id: i64,
    /// `interval`, `daily` or `odr` (the table's check allows no other).
    pub report: String,
    pub esiids: Vec<String>,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub attempts: i32,
    pub trans_id: String,
    /// The operating day (Central) when it was claimed: SMT's limits count back from it.
    pub today: NaiveDate,
    /// For an on-demand read: the meter number, and SMT's correlationId once it was sent (the
    /// first of `correlation_ids`).
    pub meter_number: Option<String>,
    pub correlation_id: Option<String>,
}

impl Request {
    pub(crate) fn from_row(row: &Row) -> Result<Request> {
        Ok(Request {
            request_id: row.try_get("request_id")?,
            report: row.try_get("report")?,
            esiids: row.try_get("esiids")?,
            first_day: row.try_get("first_day")?,
            last_day: row.try_get("last_day")?,
            attempts: row.try_get("attempts")?,
            trans_id: row.try_get("trans_id")?,
            today: row.try_get("today")?,
            meter_number: row.try_get("meter_number")?,
            correlation_id: row
                .try_get::<_, Vec<String>>("correlation_ids")?
                .into_iter()
                .next(),
        })
    }
}

/// What became of one request in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Fulfilled,
    Waiting,
    Failed,
    /// Cancelled or taken over meanwhile: no longer this worker's.
    Lost,
}

/// Runs an smt_api job: every due request of the account, until none is due (or
/// [`REQUESTS_PER_RUN`]).
pub async fn run(
    work: &mut Client,
    p: SmtApiParams,
    settings: &Settings,
) -> Result<serde_json::Value> {
    let site = settings.smt_api_site(&p.source)?;
    let mut client = ApiClient::new(&p.source, site)?;
    let source = format!("smt-api://{}", p.source);
    let download_dir = files_dir(settings, site.download_dir.as_deref(), &source)?;
    let worker = crate::jobs::worker_id();
    // Enrolled meters first: their agreement steps (an activation requests a year of history),
    // then each active meter's new days; then every due request.
    let meters = crate::meters::step_all(work, &mut client, site, &worker).await?;
    let by_subscription = site.keep_current == KeepCurrent::Subscription;
    let subscriptions = if by_subscription {
        crate::meters::subscriptions(work, &mut client, site, &source).await?
    } else {
        Default::default()
    };
    let queued = crate::meters::keep_current(work, by_subscription).await?;
    let mut fates = Vec::new();
    let mut loads = Vec::new();
    let ctx = Account {
        source: &source,
        download_dir: &download_dir,
        settings,
        worker: &worker,
        unknown_keys: Default::default(),
    };
    while fates.len() < REQUESTS_PER_RUN {
        let Some(request) = claim(work, "json", &worker).await? else {
            break;
        };
        let (fate, outcomes) = match process(work, &mut client, site, &ctx, &request).await {
            Ok(done) => done,
            Err(e) => (broke_off(work, &ctx, &request, e).await?, Vec::new()),
        };
        tracing::info!(request = request.request_id, ?fate, "SMT API request");
        fates.push(fate);
        loads.extend(outcomes);
    }
    Ok(sources::summarize(
        &loads,
        with_fates(
            &fates,
            json!({
            "api_calls": client.calls(),
            "agreements_sent": meters.sent,
            "agreements_active": meters.activated,
            "agreements_refused": meters.refused,
            "agreements_terminated": meters.terminated,
            "requests_queued": queued,
            "subscribed": subscriptions.subscribed,
            "unsubscribed": subscriptions.unsubscribed,
            "subscription_errors": subscriptions.errors,
            "unknown_reply_keys": ctx.unknown_keys.into_inner(),
            }),
        ),
    ))
}

/// `extra` (a JSON object) with how many requests a run took up and what became of them.
pub(crate) fn with_fates(fates: &[Fate], mut extra: serde_json::Value) -> serde_json::Value {
    let count = |f: Fate| fates.iter().filter(|&&x| x == f).count();
    if let Some(object) = extra.as_object_mut() {
        for (key, n) in [
            ("requests", fates.len()),
            ("fulfilled", count(Fate::Fulfilled)),
            ("waiting", count(Fate::Waiting)),
            ("failed", count(Fate::Failed)),
            ("lost", count(Fate::Lost)),
        ] {
            object.insert(key.into(), json!(n));
        }
    }
    extra
}

/// Where an account's files are kept (its `download_dir`, else `<download_dir>/<source>`),
/// made private.
pub(crate) fn files_dir(
    settings: &Settings,
    configured: Option<&Path>,
    source: &str,
) -> Result<std::path::PathBuf> {
    let dir = configured
        .map(Path::to_path_buf)
        .unwrap_or_else(|| settings.download_dir.join(sources::safe(source)));
    sources::private_dir(&dir)?;
    Ok(dir)
}

/// The account a run sends requests through, and where its replies go.
pub(crate) struct Account<'a> {
    pub source: &'a str,
    pub download_dir: &'a Path,
    pub settings: &'a Settings,
    pub worker: &'a str,
    /// Keys SMT's replies carried that this client does not read, for the run's record.
    pub unknown_keys: RefCell<BTreeSet<String>>,
}

/// Claims the oldest due request sent `via` (`smt.request_claim`) for this worker, if any.
pub(crate) async fn claim(work: &Client, via: &str, worker: &str) -> Result<Option<Request>> {
    let rows = work
        .query(
            "SELECT *, smt._tomorrow() - 1 AS today
               FROM smt.request_claim($1, $2, make_interval(secs => $3))",
            &[&via, &worker, &REQUEST_LEASE.as_secs_f64()],
        )
        .await
        .context("claiming a request (smt.request_claim)")?;
    rows.first().map(Request::from_row).transpose()
}

/// Sends one request's calls in order, loading each reply; says what became of it.
async fn process(
    work: &mut Client,
    client: &mut ApiClient,
    site: &SmtApiSite,
    ctx: &Account<'_>,
    r: &Request,
) -> Result<(Fate, Vec<DeliveryOutcome>)> {
    if r.report == "odr" {
        return Ok((
            crate::odr::process(work, client, site, ctx, r).await?,
            Vec::new(),
        ));
    }
    let Some(report) = smt_api::Report::named(&r.report) else {
        let error = format!("this worker cannot ask SMT for report {:?}", r.report);
        failed(work, ctx.worker, r, &error).await?;
        return Ok((Fate::Failed, Vec::new()));
    };
    if report == smt_api::Report::Interval && site.delivery_mode.eq_ignore_ascii_case("FTP") {
        return Ok((by_file(work, client, site, ctx, r).await?, Vec::new()));
    }
    let mut file_ids: Vec<i64> = Vec::new();
    let mut outcomes = Vec::new();
    for (esiid, first, last) in
        smt_api::windows(&r.esiids, r.first_day, r.last_day, site.max_days_per_call)
    {
        let reply = match client.reads(report, &r.trans_id, &esiid, first, last).await {
            Ok(reply) => reply,
            Err(e) => return Ok((give_up_or_wait(work, site, ctx, r, &e).await?, outcomes)),
        };
        let unknown = report.unknown_keys(&reply);
        if !unknown.is_empty() {
            tracing::warn!(
                request = r.request_id,
                "SMT's reply carries keys this client does not read (its data is loaded): {}",
                unknown.join(", ")
            );
            ctx.unknown_keys.borrow_mut().extend(unknown);
        }
        let name = format!(
            "request{}-{}-{}-{}-{}-{}.json",
            r.request_id,
            r.report,
            esiid,
            first,
            last,
            &hex(&Sha256::digest(&reply))[..16]
        );
        let outcome = load_reply(work, ctx, &name, &reply).await?;
        if let Some(why) = &outcome.quarantined {
            let error = format!("the reply for {esiid} {first}..{last} could not be loaded: {why}");
            failed(work, ctx.worker, r, &error).await?;
            outcomes.push(outcome);
            return Ok((Fate::Failed, outcomes));
        }
        let mine = progress(work, ctx, r, &mut file_ids, &outcome).await?;
        outcomes.push(outcome);
        if !mine {
            return Ok((Fate::Lost, outcomes));
        }
    }
    let done: bool = work
        .query_one(
            "SELECT smt.request_fulfilled($1, $2, $3)",
            &[&r.request_id, &ctx.worker, &file_ids],
        )
        .await?
        .try_get(0)?;
    Ok((if done { Fate::Fulfilled } else { Fate::Lost }, outcomes))
}

/// Keeps a reply (a file SMT answered with) in the account's download directory, registers it
/// as a delivery and loads it like any delivered file: the same registry, exactly-once loading by
/// content, rejects, quarantine and raw keeping.
pub(crate) async fn load_reply(
    work: &mut Client,
    ctx: &Account<'_>,
    name: &str,
    bytes: &[u8],
) -> Result<DeliveryOutcome> {
    let path = ctx.download_dir.join(name);
    write_file(&path, bytes).await?;
    let delivery = sources::delivery_imported(
        work,
        &LocalFile {
            source: ctx.source,
            directory: &ctx.download_dir.display().to_string(),
            name,
            size_bytes: bytes.len() as i64,
            modified_at: Some(Utc::now()),
            local_path: &path.display().to_string(),
        },
        true,
    )
    .await?;
    sources::load_delivery(work, delivery.remote_file_id, &path, name, ctx.settings).await
}

/// Adds a loaded reply's files to the request and renews its claim; false when it is not this
/// worker's any more (taken over, cancelled): the worker stops.
pub(crate) async fn progress(
    work: &Client,
    ctx: &Account<'_>,
    r: &Request,
    file_ids: &mut Vec<i64>,
    outcome: &DeliveryOutcome,
) -> Result<bool> {
    file_ids.extend(outcome.reports.iter().map(|rep| rep.file_id));
    Ok(work
        .query_one(
            "SELECT smt.request_progress($1, $2, make_interval(secs => $3), $4)",
            &[
                &r.request_id,
                &ctx.worker,
                &REQUEST_LEASE.as_secs_f64(),
                &*file_ids,
            ],
        )
        .await?
        .try_get(0)?)
}

/// A request SMT answers with a file (deliveryMode FTP): one call for all its ESIIDs and days;
/// the request then waits for the delivery whose name carries SMT's correlationId.
async fn by_file(
    work: &Client,
    client: &mut ApiClient,
    site: &SmtApiSite,
    ctx: &Account<'_>,
    r: &Request,
) -> Result<Fate> {
    match client
        .interval_reads_by_file(&r.trans_id, &r.esiids, r.first_day, r.last_day)
        .await
    {
        Ok(correlation_id) if correlation_id.trim().len() < 4 => {
            let error = format!(
                "SMT answered with correlationId {correlation_id:?}, too short to find its file by"
            );
            failed(work, ctx.worker, r, &error).await?;
            Ok(Fate::Failed)
        }
        Ok(correlation_id) => {
            let correlation_id = correlation_id.trim();
            let mine: bool = work
                .query_one(
                    "SELECT smt.request_awaiting_files($1, $2, ARRAY[$3], ARRAY[$3], '{}') IS NOT NULL",
                    &[&r.request_id, &ctx.worker, &correlation_id],
                )
                .await?
                .try_get(0)?;
            tracing::info!(request = r.request_id, %correlation_id, "SMT will deliver the request as a file");
            Ok(if mine { Fate::Waiting } else { Fate::Lost })
        }
        Err(e) => give_up_or_wait(work, site, ctx, r, &e).await,
    }
}

/// A call that gave no data: the request waits (no data yet, or a failure a retry can help) or
/// fails with why.
pub(crate) async fn give_up_or_wait(
    work: &Client,
    site: &SmtApiSite,
    ctx: &Account<'_>,
    r: &Request,
    e: &ApiError,
) -> Result<Fate> {
    let error = e.to_string();
    if !e.is_retryable() {
        failed(work, ctx.worker, r, &error).await?;
        return Ok(Fate::Failed);
    }
    let delay = if e.is_not_yet() {
        site.not_yet_retry()
    } else {
        crate::jobs::backoff(r.attempts.max(1) as u32, RETRY_FIRST_DELAY, RETRY_MAX_DELAY)
    };
    tracing::warn!(request = r.request_id, "SMT API request not done: {error}");
    retry(work, ctx.worker, r, &error, delay).await
}

/// A request whose processing broke off (a file that could not be kept, a database error of its
/// own): recorded on the request, which waits with backoff (and fails once its attempts are used
/// up), so that one request never stops the others. A lost database connection ends the run.
pub(crate) async fn broke_off(
    work: &Client,
    ctx: &Account<'_>,
    r: &Request,
    e: anyhow::Error,
) -> Result<Fate> {
    if crate::jobs::is_connection_error(&e) {
        return Err(e);
    }
    let error = format!("the worker could not finish this request: {e:#}");
    tracing::error!(request = r.request_id, "{error}");
    let delay = crate::jobs::backoff(r.attempts.max(1) as u32, RETRY_FIRST_DELAY, RETRY_MAX_DELAY);
    retry(work, ctx.worker, r, &error, delay).await
}

/// Puts the request back to wait `delay`, with why (`smt.request_retry`: failed instead once its
/// attempts are used up).
pub(crate) async fn retry(
    work: &Client,
    worker: &str,
    r: &Request,
    why: &str,
    delay: Duration,
) -> Result<Fate> {
    let state: Option<String> = work
        .query_one(
            "SELECT smt.request_retry($1, $2, $3, make_interval(secs => $4))",
            &[&r.request_id, &worker, &why, &delay.as_secs_f64()],
        )
        .await?
        .try_get(0)?;
    Ok(match state.as_deref() {
        Some("waiting") => Fate::Waiting,
        Some(_) => Fate::Failed,
        None => Fate::Lost,
    })
}

pub(crate) async fn failed(work: &Client, worker: &str, r: &Request, error: &str) -> Result<()> {
    tracing::error!(request = r.request_id, "SMT API request failed: {error}");
    work.execute(
        "SELECT smt.request_failed($1, $2, $3)",
        &[&r.request_id, &worker, &error],
    )
    .await?;
    Ok(())
}

/// Writes a reply whole: to `<path>.part`, then renamed, so a half-written reply is never loaded.
async fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = std::path::PathBuf::from(part);
    tokio::fs::write(&part, bytes)
        .await
        .with_context(|| format!("cannot write {}", part.display()))?;
    tokio::fs::rename(&part, path)
        .await
        .with_context(|| format!("cannot rename {} to {}", part.display(), path.display()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
