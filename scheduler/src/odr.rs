//! On-demand reads (`smt.request_meter_read`, report `odr`) in the smt_api job: a read is sent
//! once within the day's cap for its TDSP (`smt.request_odr_quota`), then polled with backoff
//! until SMT took it (stored by `smt.request_read_received`) or says it failed. A status this
//! client does not know is recorded in the request's `last_error`, in SMT's words, and polled
//! again like a pending one, until the request's attempts are used up.

use std::time::Duration;

use anyhow::Result;
use smt_core::smt_api::odr::OdrStatus;
use tokio_postgres::Client;

use crate::config::SmtApiSite;
use crate::requests::{failed, give_up_or_wait, retry, Account, Fate, Request};
use crate::smt_api::ApiClient;

/// The longest wait between two polls of one read.
const POLL_MAX_DELAY: Duration = Duration::from_secs(30 * 60);

/// Takes an on-demand read a step further: sends it, or polls it.
pub(crate) async fn process(
    work: &Client,
    client: &mut ApiClient,
    site: &SmtApiSite,
    ctx: &Account<'_>,
    r: &Request,
) -> Result<Fate> {
    let (Some(esiid), Some(meter)) = (r.esiids.first(), r.meter_number.as_deref()) else {
        failed(
            work,
            ctx.worker,
            r,
            "an on-demand read needs one ESIID and its meter number",
        )
        .await?;
        return Ok(Fate::Failed);
    };
    let poll_after = crate::jobs::backoff(
        r.attempts.max(1) as u32,
        site.odr_first_poll(),
        POLL_MAX_DELAY,
    );
    let Some(correlation_id) = r.correlation_id.as_deref() else {
        let allowed: bool = work
            .query_one(
                "SELECT smt.request_odr_quota($1, $2, $3)",
                &[&r.request_id, &ctx.worker, &site.odr_daily_limit],
            )
            .await?
            .try_get(0)?;
        if !allowed {
            tracing::warn!(
                request = r.request_id,
                "on-demand read held to tomorrow: the day's reads for its TDSP are used up"
            );
            return Ok(Fate::Waiting);
        }
        return match client.on_demand_read(&r.trans_id, esiid, meter).await {
            Ok(correlation_id) => {
                tracing::info!(request = r.request_id, %correlation_id, "on-demand read sent");
                accepted(work, ctx, r, &correlation_id, poll_after).await
            }
            Err(e) => give_up_or_wait(work, site, ctx, r, &e).await,
        };
    };
    match client
        .on_demand_read_status(&r.trans_id, correlation_id)
        .await
    {
        Ok(OdrStatus::Completed {
            status,
            registered_read,
            read_date,
            read_at,
        }) => {
            let mine: bool = work
                .query_one(
                    "SELECT smt.request_read_received($1, $2, $3::text::numeric, $4, $5, $6)",
                    &[
                        &r.request_id,
                        &ctx.worker,
                        &registered_read.to_string(),
                        &read_at,
                        &read_date,
                        &status,
                    ],
                )
                .await?
                .try_get(0)?;
            Ok(if mine { Fate::Fulfilled } else { Fate::Lost })
        }
        Ok(OdrStatus::Failed { status, reason }) => {
            let error = format!(
                "SMT's on-demand read ended {status}{}",
                reason.map(|w| format!(": {w}")).unwrap_or_default()
            );
            failed(work, ctx.worker, r, &error).await?;
            Ok(Fate::Failed)
        }
        Ok(OdrStatus::Pending {
            status,
            reason,
            known,
        }) => {
            let words = reason.map(|w| format!(" ({w})")).unwrap_or_default();
            let note = if known {
                format!("SMT is still taking the read: {status}{words}")
            } else {
                format!(
                    "SMT reports status {status:?}{words}, not one this client knows; polled again"
                )
            };
            if !known {
                tracing::warn!(request = r.request_id, "{note}");
            }
            retry(work, ctx.worker, r, &note, poll_after).await
        }
        Err(e) => give_up_or_wait(work, site, ctx, r, &e).await,
    }
}

/// SMT accepted the read: it is polled after `poll_after`.
async fn accepted(
    work: &Client,
    ctx: &Account<'_>,
    r: &Request,
    correlation_id: &str,
    poll_after: Duration,
) -> Result<Fate> {
    let mine: bool = work
        .query_one(
            "SELECT smt.request_accepted($1, $2, $3, make_interval(secs => $4))",
            &[
                &r.request_id,
                &ctx.worker,
                &correlation_id,
                &poll_after.as_secs_f64(),
            ],
        )
        .await?
        .try_get(0)?;
    Ok(if mine { Fate::Waiting } else { Fate::Lost })
}
