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
    /// Stop once nothing is due (for cron-driven or test use).
    #[arg(long)]
    exit_when_idle: bool,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let (config, url) = args.db.load()?;
    let settings = common::settings(&config, args.pgp_key.as_ref(), false)?;
    let mut worker = Worker::connect(&url, config.worker, settings).await?;
    tracing::info!(worker = %worker.id, "smt run: started");
    worker.run(args.exit_when_idle, shutdown()).await?;
    tracing::info!(worker = %worker.id, "smt run: stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
