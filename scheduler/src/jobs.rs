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

/// First wait before reconnecting to the database; doubled after every failed attempt.
pub const RECONNECT_FIRST_DELAY: Duration = Duration::from_millis(500);
/// Longest wait between two attempts to reconnect.
pub const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(30);
/// How long `smt run --exit-when-idle` keeps trying to reach the database before it gives up
/// (the daemon keeps trying for as long as it runs).
pub const EXIT_WHEN_IDLE_PATIENCE: Duration = Duration::from_secs(60);

/// The wait before reconnect attempt `attempt` (1 for the first retry): [`backoff`] from
/// [`RECONNECT_FIRST_DELAY`] up to [`RECONNECT_MAX_DELAY`], so workers that lost the same database
/// do not all come back at the same instant.
pub fn reconnect_delay(attempt: u32) -> Duration {
    backoff(attempt, RECONNECT_FIRST_DELAY, RECONNECT_MAX_DELAY)
}

/// The wait before retry `attempt` (1 for the first): `first`, doubled at every attempt, capped
/// at `max`, with jitter (between half and all of it).
pub fn backoff(attempt: u32, first: Duration, max: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let exp = first
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(max);
    // A random number from the standard library: RandomState is seeded per instance.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let fraction = 0.5 + 0.5 * (random % 10_000) as f64 / 10_000.0;
    exp.mul_f64(fraction)
}

/// True when `e` (or an error in its chain) means the database connection is gone or the server
/// is going away: closed connections, socket errors, SQLSTATE class 08 (connection exception),
/// 57P01-57P03 (terminated by an administrator, crash shutdown, cannot connect now), 57P05 and
/// 25P03 (idle_session_timeout, idle_in_transaction_session_timeout). Such errors
/// are not the run's fault: the worker reconnects instead of recording a failure.
pub fn is_connection_error(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let Some(pg) = cause.downcast_ref::<tokio_postgres::Error>() else {
            return false;
        };
        if pg.is_closed() {
            return true;
        }
        if let Some(code) = pg.code() {
            let code = code.code();
            return code.starts_with("08")
                || matches!(code, "57P01" | "57P02" | "57P03" | "57P05" | "25P03");
        }
        std::error::Error::source(pg).is_some_and(|s| s.is::<std::io::Error>())
    })
}

/// The two connections of a worker.
struct Connections {
    control: Arc<Client>,
    work: Client,
}

impl Connections {
    async fn open(url: &str) -> Result<Connections> {
        Ok(Connections {
            control: Arc::new(crate::db::connect(url).await?),
            work: crate::db::connect(url).await?,
        })
    }

    fn is_closed(&self) -> bool {
        self.control.is_closed() || self.work.is_closed()
    }
}

/// What a worker's runs came to, for `smt run`'s last line and exit status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Runs this worker claimed and executed.
    pub ran: usize,
    pub succeeded: usize,
    /// Runs that ended in an error (recorded with `smt.fail_run`, retried or marked failed).
    pub failed: usize,
    /// Runs given up without an outcome: the lease was lost or the database connection dropped
    /// (their transaction rolled back; another worker, or this one, takes them over).
    pub abandoned: usize,
}

/// One worker: a control connection (claims, heartbeats, outcomes) and a work connection (loads).
/// Both are reopened, with backoff, when the database goes away.
pub struct Worker {
    pub id: String,
    url: String,
    conns: Option<Connections>,
    config: WorkerConfig,
    settings: Arc<Settings>,
    pub tally: Tally,
}

impl Worker {
    /// A worker that connects when it first runs (and waits for the database if it is down).
    pub fn new(url: &str, config: WorkerConfig, settings: Settings) -> Worker {
        Worker {
            id: worker_id(),
            url: url.to_owned(),
            conns: None,
            config,
            settings: Arc::new(settings),
            tally: Tally::default(),
        }
    }

    fn connections(&self) -> Result<&Connections> {
        self.conns.as_ref().context("not connected to the database")
    }

    /// True when both connections are open.
    pub fn is_connected(&self) -> bool {
        self.conns.as_ref().is_some_and(|c| !c.is_closed())
    }

    /// Opens both connections, retrying with exponential backoff (capped, with jitter) while the
    /// database cannot be reached; each wait is logged at warn with what it waits for (the URL
    /// without its password). Gives up after `patience`, if given.
    pub async fn reconnect(&mut self, patience: Option<Duration>) -> Result<()> {
        self.conns = None;
        let started = std::time::Instant::now();
        let mut attempt: u32 = 0;
        loop {
            match Connections::open(&self.url).await {
                Ok(conns) => {
                    self.conns = Some(conns);
                    if attempt > 0 {
                        tracing::warn!(
                            database = %crate::db::redact(&self.url),
                            attempts = attempt + 1,
                            waited = format!("{:.1}s", started.elapsed().as_secs_f64()),
                            "database reachable again; resuming"
                        );
                    }
                    return Ok(());
                }
                Err(e) => {
                    attempt += 1;
                    let delay = reconnect_delay(attempt);
                    if patience.is_some_and(|p| started.elapsed() + delay > p) {
                        return Err(e.context(format!(
                            "gave up after {attempt} attempts in {:.0}s",
                            started.elapsed().as_secs_f64()
                        )));
                    }
                    tracing::warn!(
                        database = %crate::db::redact(&self.url),
                        attempt,
                        retry_in = format!("{:.1}s", delay.as_secs_f64()),
                        "waiting for the database: {e:#}"
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Queues due jobs, then runs claimable runs until there are none. Returns how many ran.
    pub async fn drain(&mut self) -> Result<usize> {
        let control = self.connections()?.control.clone();
        abandon_crashing(&control).await?;
        enqueue_due(&control).await?;
        let mut ran = 0;
        while let Some(run) = claim(&control, &self.id, self.config.lease()).await? {
            self.execute(run).await?;
            ran += 1;
        }
        Ok(ran)
    }

    /// Runs until `shutdown` resolves (or, with `exit_when_idle`, until nothing is left to do).
    /// A lost database connection (dropped, terminated, the server restarting or down at start)
    /// is not fatal: the worker reconnects with backoff and goes on; a run that was loading
    /// when its connection dropped rolled back and is taken over once its lease expires. With
    /// `exit_when_idle` it gives up on an unreachable database after [`EXIT_WHEN_IDLE_PATIENCE`].
    pub async fn run(
        &mut self,
        exit_when_idle: bool,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        tokio::pin!(shutdown);
        let patience = exit_when_idle.then_some(EXIT_WHEN_IDLE_PATIENCE);
        loop {
            if !self.is_connected() {
                if self.conns.take().is_some() {
                    tracing::warn!(
                        database = %crate::db::redact(&self.url),
                        "lost the database connection; reconnecting"
                    );
                }
                tokio::select! {
                    r = self.reconnect(patience) => r?,
                    _ = &mut shutdown => return Ok(()),
                }
            }
            let drained = tokio::select! {
                r = self.drain() => r,
                _ = &mut shutdown => return Ok(()),
            };
            match drained {
                Ok(ran) => {
                    if exit_when_idle && ran == 0 {
                        return Ok(());
                    }
                }
                Err(e) if is_connection_error(&e) || !self.is_connected() => {
                    tracing::warn!(
                        database = %crate::db::redact(&self.url),
                        "lost the database connection ({e:#}); reconnecting"
                    );
                    self.conns = None;
                    continue;
                }
                Err(e) => return Err(e),
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
        self.tally.ran += 1;
        let lease = self.config.lease();
        let conns = self
            .conns
            .as_mut()
            .context("not connected to the database")?;
        let control = conns.control.clone();
        let (beat, id, run_id) = (control.clone(), self.id.clone(), run.run_id);
        let lost = async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                match heartbeat(&beat, run_id, &id, lease).await {
                    Ok(true) => {}
                    Ok(false) => return "lease lost: another worker took the run over".to_owned(),
                    Err(e) => return format!("heartbeat failed: {e:#}"),
                }
            }
        };
        let outcome = tokio::select! {
            r = sources::execute(&mut conns.work, &run, &self.settings) => r,
            why = lost => {
                tracing::error!(run = run.run_id, "{why}; abandoning the run (its transaction rolls back)");
                self.tally.abandoned += 1;
                return Ok(());
            }
        };
        let recorded = match outcome {
            Ok(counts) => {
                tracing::info!(run = run.run_id, job = %run.job_name, %counts, "run succeeded");
                self.tally.succeeded += 1;
                succeed(&control, &run, &self.id, &counts).await?
            }
            Err(e) if is_connection_error(&e) || conns.work.is_closed() => {
                // Not the run's fault: nothing of the delivery in progress was committed, and the
                // run stays claimed until its lease expires; then it is taken over (by this worker
                // too, once it has reconnected).
                tracing::warn!(
                    run = run.run_id,
                    job = %run.job_name,
                    "database connection lost during the run ({e:#}); abandoning it: its \
                     transaction rolled back, and it is taken over when its lease expires"
                );
                self.tally.abandoned += 1;
                return Err(e);
            }
            Err(e) => {
                let error = format!("{e:#}");
                tracing::error!(run = run.run_id, job = %run.job_name, "run failed: {error}");
                self.tally.failed += 1;
                fail(&control, &run, &self.id, &error).await?
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delays_double_up_to_the_cap_with_jitter() {
        for (attempt, full) in [(1, 500), (2, 1_000), (3, 2_000), (6, 16_000), (7, 30_000)] {
            let full = Duration::from_millis(full);
            for _ in 0..50 {
                let d = reconnect_delay(attempt);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
        assert!(reconnect_delay(u32::MAX) <= RECONNECT_MAX_DELAY);
        let spread: std::collections::HashSet<_> = (0..20).map(|_| reconnect_delay(3)).collect();
        assert!(spread.len() > 1, "jittered");
    }
}
