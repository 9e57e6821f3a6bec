//! Jobs kept in Postgres, run by any number of `smt run` workers.
//!
//! - Due jobs (smt.job.next_run_at <= now) are turned into queued runs by whichever worker gets
//!   there first (`FOR UPDATE SKIP LOCKED`), and next_run_at moves on by the job's cron schedule
//!   (smt.cron_next). Runs missed while no worker was up collapse into one.
//! - A worker claims one queued run (or a running one whose lease expired: its worker died) with
//!   `FOR UPDATE SKIP LOCKED`, and renews the lease by heartbeat while it works. If the lease is
//!   lost, the work is abandoned (its transaction rolls back).
//! - A failed run is retried with exponential backoff (retry_delay × 2^(attempt-1)) until
//!   max_attempts; then the job is marked failed (failed_at, last_error) and not retried until a
//!   DBA re-enables it.
//! - Exactly-once loading does not depend on any of this: it comes from the file registry
//!   (smt.begin_file), so even two workers on the same files load each report once.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use tokio_postgres::Client;

use crate::config::WorkerConfig;
use crate::sources::{self, Settings};

/// A claimed run and what its job says to do.
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
pub async fn enqueue_due(client: &Client) -> Result<u64> {
    let n = client
        .execute(
            "WITH due AS (
                 SELECT job_id, next_run_at, schedule, time_zone FROM smt.job
                  WHERE enabled AND failed_at IS NULL AND next_run_at <= now()
                  FOR UPDATE SKIP LOCKED
             ), queued AS (
                 INSERT INTO smt.job_run (job_id, scheduled_for)
                 SELECT job_id, next_run_at FROM due
                 ON CONFLICT (job_id, scheduled_for, attempt) DO NOTHING
             )
             UPDATE smt.job j
                SET next_run_at = smt.cron_next(d.schedule, d.time_zone, greatest(now(), d.next_run_at))
               FROM due d WHERE j.job_id = d.job_id",
            &[],
        )
        .await
        .context("queueing due jobs")?;
    Ok(n)
}

/// Runs whose worker died this many times are not taken over again: something in them kills the
/// worker, so they fail (and the job's retry rules apply) instead of crashing workers forever.
pub const MAX_TAKEOVERS: i32 = 3;

/// Fails expired runs that were already taken over MAX_TAKEOVERS times.
pub async fn abandon_cursed(client: &Client) -> Result<u64> {
    let n = client
        .execute(
            "WITH failed AS (
                 UPDATE smt.job_run SET state = 'failed', finished_at = now(), lease_until = NULL,
                        error = format('abandoned: its worker stopped %s times without finishing', takeovers + 1)
                  WHERE state = 'running' AND lease_until < now() AND takeovers >= $1
              RETURNING job_id, error)
             UPDATE smt.job j SET consecutive_failures = j.consecutive_failures + 1, last_error = f.error,
                    failed_at = now()
               FROM failed f WHERE j.job_id = f.job_id",
            &[&MAX_TAKEOVERS],
        )
        .await
        .context("abandoning runs that keep killing workers")?;
    Ok(n)
}

/// Claims the oldest runnable run: queued and due, or running with an expired lease.
pub async fn claim(client: &Client, worker: &str, lease: Duration) -> Result<Option<ClaimedRun>> {
    let lease_secs = lease.as_secs_f64();
    let row = client
        .query_opt(
            "UPDATE smt.job_run r
                SET takeovers = r.takeovers + (r.state = 'running')::int,
                    state = 'running', worker = $1, started_at = now(), heartbeat_at = now(),
                    lease_until = now() + make_interval(secs => $2)
               FROM smt.job j
              WHERE j.job_id = r.job_id
                AND r.run_id = (
                    SELECT q.run_id FROM smt.job_run q JOIN smt.job qj ON qj.job_id = q.job_id
                     WHERE qj.enabled
                       AND ((q.state = 'queued' AND q.not_before <= now())
                            OR (q.state = 'running' AND q.lease_until < now()))
                     ORDER BY q.not_before, q.run_id
                     LIMIT 1
                     FOR UPDATE OF q SKIP LOCKED)
          RETURNING r.run_id, r.job_id, j.name, j.kind, j.params, r.scheduled_for, r.attempt, r.takeovers",
            &[&worker, &lease_secs],
        )
        .await
        .context("claiming a run")?;
    Ok(row.map(|r| ClaimedRun {
        run_id: r.get(0),
        job_id: r.get(1),
        job_name: r.get(2),
        kind: r.get(3),
        params: r.get(4),
        scheduled_for: r.get(5),
        attempt: r.get(6),
        takeovers: r.get(7),
    }))
}

/// Renews the lease; false when the run is no longer ours (taken over or finished elsewhere).
pub async fn heartbeat(
    client: &Client,
    run_id: i64,
    worker: &str,
    lease: Duration,
) -> Result<bool> {
    let n = client
        .execute(
            "UPDATE smt.job_run SET heartbeat_at = now(), lease_until = now() + make_interval(secs => $3)
              WHERE run_id = $1 AND worker = $2 AND state = 'running'",
            &[&run_id, &worker, &lease.as_secs_f64()],
        )
        .await?;
    Ok(n == 1)
}

pub async fn succeed(
    client: &Client,
    run: &ClaimedRun,
    worker: &str,
    counts: &serde_json::Value,
) -> Result<()> {
    client
        .execute(
            "WITH done AS (
                 UPDATE smt.job_run SET state = 'succeeded', finished_at = now(), lease_until = NULL, counts = $3
                  WHERE run_id = $1 AND worker = $2 AND state = 'running' RETURNING job_id)
             UPDATE smt.job SET consecutive_failures = 0, last_error = NULL
              WHERE job_id IN (SELECT job_id FROM done)",
            &[&run.run_id, &worker, counts],
        )
        .await
        .context("recording success")?;
    Ok(())
}

/// Records the failure; queues the next attempt with backoff, or marks the job failed. One
/// statement, so it is all or nothing.
pub async fn fail(client: &Client, run: &ClaimedRun, worker: &str, error: &str) -> Result<()> {
    client
        .execute(
            "WITH failed AS (
                 UPDATE smt.job_run SET state = 'failed', finished_at = now(), lease_until = NULL, error = $3
                  WHERE run_id = $1 AND worker = $2 AND state = 'running'
              RETURNING job_id, scheduled_for, attempt
             ), job AS (
                 UPDATE smt.job j SET consecutive_failures = j.consecutive_failures + 1, last_error = $3,
                        failed_at = CASE WHEN f.attempt >= j.max_attempts THEN now() END
                   FROM failed f WHERE j.job_id = f.job_id
              RETURNING j.job_id, j.max_attempts, j.retry_delay, f.scheduled_for, f.attempt
             )
             INSERT INTO smt.job_run (job_id, scheduled_for, attempt, not_before)
             SELECT job_id, scheduled_for, attempt + 1, now() + retry_delay * power(2, attempt - 1)::int
               FROM job WHERE attempt < max_attempts
             ON CONFLICT DO NOTHING",
            &[&run.run_id, &worker, &error],
        )
        .await
        .context("recording failure")?;
    Ok(())
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
        abandon_cursed(&self.control).await?;
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
        match outcome {
            Ok(counts) => {
                tracing::info!(run = run.run_id, job = %run.job_name, %counts, "run succeeded");
                succeed(&self.control, &run, &self.id, &counts).await
            }
            Err(e) => {
                let error = format!("{e:#}");
                tracing::error!(run = run.run_id, job = %run.job_name, "run failed: {error}");
                fail(&self.control, &run, &self.id, &error).await
            }
        }
    }
}
