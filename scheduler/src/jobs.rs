//! Jobs kept in Postgres, run by any number of `smt run` workers. Every step is one function of
//! the extension's scheduler API (sql/extension/jobs.sql), so the worker's role needs no table
//! privileges, and each step is one statement: all or nothing.
//!
//! - Due jobs are turned into queued runs by whichever worker gets there first, and their
//!   next_run_at moves on by the job's cron schedule (`smt.enqueue_due`). Runs missed while no
//!   worker was up collapse into one.
//! - A worker claims one queued run (or a running one whose lease expired: its worker died) with
//!   `FOR UPDATE SKIP LOCKED` (`smt.claim_run`), and renews the lease by heartbeat while it works
//!   (`smt.heartbeat_run`). If the lease is lost, the work is abandoned (its transaction rolls
//!   back). Heartbeats and outcomes act only on runs this worker and login role claimed.
//! - A failed run is retried with exponential backoff (retry_delay × 2^(attempt-1), capped by
//!   max_retry_delay, with jitter) until max_attempts; then the job is marked failed (failed_at,
//!   last_error) and not retried until a DBA re-enables it (`smt.fail_run`).
//! - Exactly-once loading does not depend on any of this: it comes from the file registry behind
//!   `smt.load`, so even two workers on the same files load each report once.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use tokio_postgres::{Client, Row};

use crate::config::WorkerConfig;
use crate::sources::{self, Settings};

/// A claimed run and what its job says to do (the `smt.claimed_run` type).
#[derive(Debug, Clone)]
pub struct ClaimedRun {
    pub run_id: i64,
    pub job_id: i64,
    pub job_name: String,
    pub kind: String,
    pub params: serde_json::Value,
    pub scheduled_for: DateTime<Utc>,
    pub attempt: i32,
    pub takeovers: i32,
}

impl ClaimedRun {
    /// Reads a row of `smt.claimed_run`, by column name.
    fn from_row(row: &Row) -> Result<ClaimedRun> {
        Ok(ClaimedRun {
            run_id: row.try_get("run_id")?,
            job_id: row.try_get("job_id")?,
            job_name: row.try_get("job_name")?,
            kind: row.try_get("kind")?,
            params: row.try_get("params")?,
            scheduled_for: row.try_get("scheduled_for")?,
            attempt: row.try_get("attempt")?,
            takeovers: row.try_get("takeovers")?,
        })
    }
}

pub fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    format!(
        "{}:{}",
        if host.is_empty() { "localhost" } else { &host },
        std::process::id()
    )
}

/// Queues a run for every due job and moves its next_run_at on. Returns how many were queued.
pub async fn enqueue_due(client: &Client) -> Result<i32> {
    let row = client
        .query_one("SELECT smt.enqueue_due() AS queued", &[])
        .await
        .context("queueing due jobs")?;
    Ok(row.try_get("queued")?)
}

/// Runs whose worker died this many times are not taken over again: something in them kills the
/// worker, so they fail and their job is marked failed (until re-enabled) instead of crashing
/// workers forever.
pub const MAX_TAKEOVERS: i32 = 3;

/// Fails expired runs that were already taken over MAX_TAKEOVERS times. Returns how many.
pub async fn abandon_crashing(client: &Client) -> Result<i32> {
    let row = client
        .query_one(
            "SELECT smt.abandon_crashing_runs($1) AS abandoned",
            &[&MAX_TAKEOVERS],
        )
        .await
        .context("abandoning runs that keep killing workers")?;
    Ok(row.try_get("abandoned")?)
}

/// Claims the oldest runnable run: queued and due, or running with an expired lease.
pub async fn claim(client: &Client, worker: &str, lease: Duration) -> Result<Option<ClaimedRun>> {
    let row = client
        .query_opt(
            "SELECT * FROM smt.claim_run($1, make_interval(secs => $2))",
            &[&worker, &lease.as_secs_f64()],
        )
        .await
        .context("claiming a run")?;
    row.as_ref().map(ClaimedRun::from_row).transpose()
}

/// Renews the lease; false when the run is no longer ours (taken over or finished elsewhere).
pub async fn heartbeat(
    client: &Client,
    run_id: i64,
    worker: &str,
    lease: Duration,
) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT smt.heartbeat_run($1, $2, make_interval(secs => $3)) AS renewed",
            &[&run_id, &worker, &lease.as_secs_f64()],
        )
        .await?;
    Ok(row.try_get("renewed")?)
}

/// Records the success; false when the run was no longer ours (nothing was recorded).
pub async fn succeed(
    client: &Client,
    run: &ClaimedRun,
    worker: &str,
    counts: &serde_json::Value,
) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT smt.succeed_run($1, $2, $3) AS recorded",
            &[&run.run_id, &worker, counts],
        )
        .await
        .context("recording success")?;
    Ok(row.try_get("recorded")?)
}

/// Records the failure; queues the next attempt with backoff, or marks the job failed, all or
/// nothing. False when the run was no longer ours (nothing was recorded).
pub async fn fail(client: &Client, run: &ClaimedRun, worker: &str, error: &str) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT smt.fail_run($1, $2, $3) AS recorded",
            &[&run.run_id, &worker, &error],
        )
        .await
        .context("recording failure")?;
    Ok(row.try_get("recorded")?)
}

/// One worker: a control connection (claims, heartbeats, outcomes) and a work connection (loads).
pub struct Worker {
    pub id: String,
    control: Arc<Client>,
    work: Client,
    config: WorkerConfig,
    settings: Arc<Settings>,
}

impl Worker {
    pub async fn connect(url: &str, config: WorkerConfig, settings: Settings) -> Result<Worker> {
        Ok(Worker {
            id: worker_id(),
            control: Arc::new(crate::db::connect(url).await?),
            work: crate::db::connect(url).await?,
            config,
            settings: Arc::new(settings),
        })
    }

    /// Queues due jobs, then runs claimable runs until there are none. Returns how many ran.
    pub async fn drain(&mut self) -> Result<usize> {
        abandon_crashing(&self.control).await?;
        enqueue_due(&self.control).await?;
        let mut ran = 0;
        while let Some(run) = claim(&self.control, &self.id, self.config.lease()).await? {
            self.execute(run).await?;
            ran += 1;
        }
        Ok(ran)
    }

    /// Runs until `shutdown` resolves (or, with `exit_when_idle`, until nothing is left to do).
    pub async fn run(
        &mut self,
        exit_when_idle: bool,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        tokio::pin!(shutdown);
        loop {
            let ran = tokio::select! {
                r = self.drain() => r?,
                _ = &mut shutdown => return Ok(()),
            };
            if exit_when_idle && ran == 0 {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll()) => {}
                _ = &mut shutdown => return Ok(()),
            }
        }
    }

    async fn execute(&mut self, run: ClaimedRun) -> Result<()> {
        if run.takeovers > 0 {
            tracing::warn!(run = run.run_id, job = %run.job_name, "taking over a run whose worker stopped heartbeating");
        }
        tracing::info!(run = run.run_id, job = %run.job_name, attempt = run.attempt, "run started");
        let lease = self.config.lease();
        let (control, id, run_id) = (self.control.clone(), self.id.clone(), run.run_id);
        let lost = async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                match heartbeat(&control, run_id, &id, lease).await {
                    Ok(true) => {}
                    Ok(false) => return "lease lost: another worker took the run over".to_owned(),
                    Err(e) => return format!("heartbeat failed: {e:#}"),
                }
            }
        };
        let outcome = tokio::select! {
            r = sources::execute(&mut self.work, &run, &self.settings) => r,
            why = lost => {
                tracing::error!(run = run.run_id, "{why}; abandoning the run (its transaction rolls back)");
                return Ok(());
            }
        };
        let recorded = match outcome {
            Ok(counts) => {
                tracing::info!(run = run.run_id, job = %run.job_name, %counts, "run succeeded");
                succeed(&self.control, &run, &self.id, &counts).await?
            }
            Err(e) => {
                let error = format!("{e:#}");
                tracing::error!(run = run.run_id, job = %run.job_name, "run failed: {error}");
                fail(&self.control, &run, &self.id, &error).await?
            }
        };
        if !recorded {
            tracing::warn!(
                run = run.run_id,
                "outcome not recorded: the run is no longer this worker's (taken over or finished)"
            );
        }
        Ok(())
    }
}
