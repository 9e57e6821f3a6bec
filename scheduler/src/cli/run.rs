//! `smt run`: the daemon. Runs due jobs until SIGINT/SIGTERM; any number may run at once.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use smt_scheduler::jobs::Worker;

use super::common::{self, DbArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// Secret key to decrypt deliveries (else pgp.secret_key in the config).
    #[arg(long)]
    pgp_key: Option<PathBuf>,
    /// Stop once nothing is due (for cron-driven or test use). The exit status is then 1 when
    /// any run this worker executed failed (or was abandoned), 0 when all succeeded; an
    /// unreachable database is given up on after a minute (exit 2).
    #[arg(long)]
    exit_when_idle: bool,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let (config, url) = args.db.load()?;
    let settings = common::settings(&config, args.pgp_key.as_ref(), false)?;
    // Connects in `run`: a database that is down (at start or later) is waited for, with backoff.
    let mut worker = Worker::new(&url, config.worker, settings);
    tracing::info!(worker = %worker.id, "smt run: started");
    worker.run(args.exit_when_idle, shutdown()).await?;
    let t = worker.tally;
    tracing::info!(worker = %worker.id, "smt run: stopped");
    let unsuccessful = t.failed + t.abandoned;
    let mut line = format!("smt run: {} of {} runs failed", t.failed, t.ran);
    if t.abandoned > 0 {
        line.push_str(&format!(
            ", {} abandoned (lease or connection lost)",
            t.abandoned
        ));
    }
    eprintln!("{line}");
    Ok(if args.exit_when_idle && unsuccessful > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
