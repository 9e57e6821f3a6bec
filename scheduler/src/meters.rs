//! The agreement steps of meters enrolled from SQL (`smt.enroll`, sql/extension/meters.sql),
//! taken by the smt_api job before it sends requests: a pending meter's agreement is sent
//! (`/v2/NewAgreement/`), an agreement awaiting the customer is polled (`/v2/myagreements/`)
//! until it is active, rejected or expired, an unenrolled meter's agreement is terminated
//! (`/v2/Terminateagreement/`). On activation the database itself requests a year of history;
//! [`keep_current`] requests each new day. Every outcome goes through `smt.meter_update`.
//!
//! Field names of the agreement replies are not confirmed (shared/docs/formats.md): the agreement
//! number and status are looked for under the names public clients report, without regard to
//! case, and a reply without them is an error naming the keys found.

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use smt_core::smt_api as reply;
use tokio_postgres::{Client, Row};

use crate::config::SmtApiSite;
use crate::smt_api::{data, ApiClient, ApiError};

/// How long a worker holds a meter's step.
const METER_LEASE: Duration = Duration::from_secs(10 * 60);
/// Retry after a failure a retry can help.
const METER_RETRY: Duration = Duration::from_secs(15 * 60);
/// Where an agreement's number may stand in SMT's replies (not confirmed; see the module doc).
const AGREEMENT_NUMBER: &[&str] = &["agreementNumber", "agreementNo", "agreementId"];
/// Where a subscription's number may stand in SMT's reply (not confirmed).
const SUBSCRIPTION_NUMBER: &[&str] = &["subscriptionNumber", "subscriptionNo", "subscriptionId"];
/// What an account keeping meters current by subscription subscribes to (`smt.subscription`).
pub const SUBSCRIBED_DATA: &[&str] = &["INTERVAL", "DAILY"];
/// Steps one run takes at most.
pub const METERS_PER_RUN: usize = 100;

/// What the run did to meters.
#[derive(Debug, Default, Clone, Copy)]
pub struct MeterTally {
    pub sent: u64,
    pub polled: u64,
    pub activated: u64,
    pub refused: u64,
    pub terminated: u64,
    pub retried: u64,
}

struct Meter {
    esiid: String,
    meter_number: String,
    customer_email: String,
    months: i32,
    state: String,
    agreement_number: Option<String>,
    attempts: i32,
}

impl Meter {
    fn from_row(row: &Row) -> Result<Meter> {
        Ok(Meter {
            esiid: row.try_get("esiid")?,
            meter_number: row.try_get("meter_number")?,
            customer_email: row.try_get("customer_email")?,
            months: row.try_get("months")?,
            state: row.try_get("state")?,
            agreement_number: row.try_get("agreement_number")?,
            attempts: row.try_get("attempts")?,
        })
    }
}

/// The outcome of one step: the meter's next state, SMT's agreement number and words, and when
/// to act next.
struct Outcome {
    state: String,
    agreement: Option<String>,
    reason: Option<String>,
    next: Duration,
}

/// Requests, for every active meter, the days since the last requested, unless SMT delivers them
/// by subscription, and the days still missing (`smt.meter_keep_current`).
pub async fn keep_current(work: &Client, by_subscription: bool) -> Result<i64> {
    let queued: i32 = work
        .query_one("SELECT smt.meter_keep_current($1)", &[&by_subscription])
        .await
        .context("smt.meter_keep_current")?
        .try_get(0)?;
    Ok(i64::from(queued))
}

/// Takes every due agreement step (up to [`METERS_PER_RUN`]).
pub async fn step_all(
    work: &Client,
    client: &mut ApiClient,
    site: &SmtApiSite,
    worker: &str,
) -> Result<MeterTally> {
    let mut tally = MeterTally::default();
    // Each meter once a run: a step whose next one is due at once waits for the next run.
    let started = chrono::Utc::now();
    for _ in 0..METERS_PER_RUN {
        let rows = work
            .query(
                "SELECT * FROM smt.meter_claim($1, make_interval(secs => $2), $3)",
                &[&worker, &METER_LEASE.as_secs_f64(), &started],
            )
            .await
            .context("claiming a meter (smt.meter_claim)")?;
        let Some(row) = rows.first() else {
            break;
        };
        let meter = Meter::from_row(row)?;
        let outcome = match step(client, site, &meter).await {
            Ok(outcome) => outcome,
            Err(e) if e.is_retryable() => {
                tally.retried += 1;
                Outcome {
                    state: meter.state.clone(),
                    agreement: None,
                    reason: Some(e.to_string()),
                    next: crate::jobs::backoff(
                        meter.attempts.max(1) as u32,
                        METER_RETRY,
                        Duration::from_secs(6 * 3600),
                    ),
                }
            }
            Err(e) => Outcome {
                state: if meter.state == "terminating" {
                    "terminated"
                } else {
                    "failed"
                }
                .into(),
                agreement: None,
                reason: Some(e.to_string()),
                next: Duration::ZERO,
            },
        };
        match (meter.state.as_str(), outcome.state.as_str()) {
            ("pending", "awaiting_customer") => tally.sent += 1,
            (_, "active") => tally.activated += 1,
            (_, "rejected" | "expired" | "failed") => tally.refused += 1,
            (_, "terminated") => tally.terminated += 1,
            ("awaiting_customer", _) => tally.polled += 1,
            _ => {}
        }
        if outcome.state == "active" && meter.state != "active" {
            meter_info(work, client, &meter, worker).await?;
        }
        tracing::info!(esiid = %meter.esiid, from = %meter.state, to = %outcome.state, "meter agreement step");
        work.execute(
            "SELECT smt.meter_update($1, $2, $3, $4, $5, make_interval(secs => $6))",
            &[
                &meter.esiid,
                &worker,
                &outcome.state,
                &outcome.agreement,
                &outcome.reason,
                &outcome.next.as_secs_f64(),
            ],
        )
        .await
        .context("smt.meter_update")?;
    }
    Ok(tally)
}

async fn step(client: &mut ApiClient, site: &SmtApiSite, m: &Meter) -> Result<Outcome, ApiError> {
    let poll = site.agreement_poll();
    match m.state.as_str() {
        "pending" => {
            let body = json!({
                "retailCustomerEmail": m.customer_email,
                "agreementDuration": m.months,
                "customerLanguagePreference": "ENGLISH",
                "customerMeterList": [{
                    "ESIID": m.esiid,
                    "meterNumber": m.meter_number,
                    "PUCTRORNumber": site.puct_ror_number,
                }],
            });
            let value = data(
                &client
                    .call_with_identity("/v2/NewAgreement/", &m.esiid, body)
                    .await?,
            )?;
            let Some(number) = reply::text(&value, AGREEMENT_NUMBER) else {
                return Err(no_field(&value, "an agreement number"));
            };
            Ok(Outcome {
                state: "awaiting_customer".into(),
                agreement: Some(number),
                reason: None,
                next: poll,
            })
        }
        "awaiting_customer" => {
            let number = m.agreement_number.clone().unwrap_or_default();
            let value = data(
                &client
                    .call_with_identity("/v2/myagreements/", &m.esiid, json!({}))
                    .await?,
            )?;
            let list = reply::field(&value, &["agreementList", "agreements", "myAgreements"])
                .and_then(Value::as_array)
                .ok_or_else(|| no_field(&value, "a list of agreements"))?;
            let Some(mine) = list
                .iter()
                .find(|a| reply::text(a, AGREEMENT_NUMBER).as_deref() == Some(number.as_str()))
            else {
                return Ok(Outcome {
                    state: "awaiting_customer".into(),
                    agreement: None,
                    reason: Some(format!("agreement {number} not listed by SMT yet")),
                    next: poll,
                });
            };
            let status = reply::text(mine, &["agreementStatus", "status"]).unwrap_or_default();
            let words = reply::text(mine, &["statusReason", "reason", "statusMessage"]);
            let state = match status.to_ascii_uppercase().as_str() {
                "ACTIVE" | "ACCEPTED" | "APPROVED" => "active",
                "REJECTED" | "DECLINED" | "CANCELLED" => "rejected",
                "EXPIRED" => "expired",
                "TERMINATED" => "terminated",
                _ => "awaiting_customer",
            };
            Ok(Outcome {
                state: state.into(),
                agreement: None,
                reason: words.or_else(|| {
                    (state == "awaiting_customer").then(|| format!("SMT says {status}"))
                }),
                next: if state == "awaiting_customer" {
                    poll
                } else {
                    Duration::ZERO
                },
            })
        }
        "terminating" => {
            let body = json!({"agreementList": [{
                "agreementNumber": m.agreement_number,
                "retailCustomerEmail": m.customer_email,
            }]});
            data(
                &client
                    .call_with_identity("/v2/Terminateagreement/", &m.esiid, body)
                    .await?,
            )?;
            Ok(Outcome {
                state: "terminated".into(),
                agreement: None,
                reason: None,
                next: Duration::ZERO,
            })
        }
        other => Ok(Outcome {
            state: other.into(),
            agreement: None,
            reason: None,
            next: poll,
        }),
    }
}

/// SMT's record of an activated meter (`/v2/meterInfo/`: meter number, serial, type), kept as SMT
/// sent it (its fields are not confirmed) in `smt.meter.meter_info`. A failure is logged and left:
/// the meter's data does not depend on it.
async fn meter_info(work: &Client, client: &mut ApiClient, m: &Meter, worker: &str) -> Result<()> {
    let body = json!({"esiid": [m.esiid], "ESIID": m.esiid, "meterNumber": m.meter_number});
    let reply = client
        .call_with_identity("/v2/meterInfo/", &m.esiid, body)
        .await;
    let info = match reply.and_then(|r| data(&r)) {
        Ok(value) => reply::field(&value, &["meterInfo", "meterData", "meterDetails"])
            .cloned()
            .unwrap_or(value),
        Err(e) => {
            tracing::warn!(esiid = %m.esiid, "SMT meter information not had: {e}");
            return Ok(());
        }
    };
    if let Err(e) = work
        .execute(
            "SELECT smt.meter_info_update($1, $2, $3)",
            &[&m.esiid, &worker, &info],
        )
        .await
    {
        let e = anyhow::Error::from(e);
        if crate::jobs::is_connection_error(&e) {
            return Err(e);
        }
        tracing::warn!(esiid = %m.esiid, "SMT meter information not kept: {e:#}");
    }
    Ok(())
}

/// What the subscription steps of a run did.
#[derive(Debug, Default, Clone)]
pub struct SubscriptionTally {
    pub subscribed: u64,
    pub unsubscribed: u64,
    /// SMT's words for a step that failed (tried again next run).
    pub errors: Vec<String>,
}

/// For an account keeping meters current by subscription: subscribes to each of
/// [`SUBSCRIBED_DATA`] while some meter is active, unsubscribes once none is
/// (`smt.subscription_steps`). SMT then drops each new day of every active meter on the SFTP site
/// (deliveryMode FTP), where an sftp_fetch job loads it. The history comes through reads
/// (`historicalSubscriptionDuration` 0), so that a backfill is requested, loaded and seen once.
pub async fn subscriptions(
    work: &Client,
    client: &mut ApiClient,
    site: &SmtApiSite,
    source: &str,
) -> Result<SubscriptionTally> {
    let mut tally = SubscriptionTally::default();
    let rows = work
        .query(
            "SELECT * FROM smt.subscription_steps($1, $2)",
            &[&source, &SUBSCRIBED_DATA],
        )
        .await
        .context("smt.subscription_steps")?;
    for row in rows {
        let action: String = row.try_get("action")?;
        let data_type: String = row.try_get("data_type")?;
        let done = if action == "subscribe" {
            match subscribe(client, site, &data_type).await {
                Ok(number) => {
                    let recorded: Option<bool> = work
                        .query_one(
                            "SELECT smt.subscription_recorded($1, $2, $3, $4)",
                            &[&source, &data_type, &site.subscription_format, &number],
                        )
                        .await
                        .context("smt.subscription_recorded")?
                        .try_get(0)?;
                    if recorded.is_none() {
                        // another worker subscribed meanwhile: this one is not kept, so it goes
                        tracing::warn!(%data_type, %number, "a second subscription: cancelled");
                        let body = json!({"subscriptionNumber": number});
                        client
                            .call_with_identity("/v2/UnSubscription/", "unsubscribe", body)
                            .await
                            .and_then(|r| data(&r))
                            .map(drop)
                    } else {
                        tracing::info!(%data_type, %number, "subscribed with SMT");
                        tally.subscribed += 1;
                        Ok(())
                    }
                }
                Err(e) => Err(e),
            }
        } else {
            let id: i64 = row.try_get("subscription_id")?;
            let number: String = row.try_get("subscription_number")?;
            let body = json!({"subscriptionNumber": number});
            match client
                .call_with_identity("/v2/UnSubscription/", "unsubscribe", body)
                .await
                .and_then(|r| data(&r))
            {
                Ok(_) => {
                    work.execute("SELECT smt.subscription_cancelled($1)", &[&id])
                        .await
                        .context("smt.subscription_cancelled")?;
                    tracing::info!(%data_type, %number, "unsubscribed from SMT");
                    tally.unsubscribed += 1;
                    Ok(())
                }
                Err(e) => Err(e),
            }
        };
        if let Err(e) = done {
            let error = format!("{action} {data_type}: {e}");
            tracing::warn!("SMT subscription step not done (tried again next run): {error}");
            tally.errors.push(error);
        }
    }
    Ok(tally)
}

/// `/v2/NewSubscription/` for `data_type`, delivered as files (deliveryMode FTP). SMT's
/// subscription number.
async fn subscribe(
    client: &mut ApiClient,
    site: &SmtApiSite,
    data_type: &str,
) -> Result<String, ApiError> {
    let body = json!({
        "subscriptionType": site.subscription_type,
        "historicalSubscriptionDuration": 0,
        "reportFormat": site.subscription_format,
        "dataType": data_type,
        "deliveryMode": "FTP",
    });
    let value = data(
        &client
            .call_with_identity("/v2/NewSubscription/", "subscribe", body)
            .await?,
    )?;
    reply::text(&value, SUBSCRIPTION_NUMBER)
        .ok_or_else(|| no_field(&value, "a subscription number"))
}

fn no_field(value: &Value, what: &str) -> ApiError {
    let keys = value
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    ApiError::Reply(reply::ReplyError::Malformed(format!(
        "the reply holds no {what} (keys: {keys})"
    )))
}
