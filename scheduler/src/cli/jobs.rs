//! `smt jobs`: list, add, enable, disable, run-now. The same can be done with SQL on smt.job.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use smt_scheduler::db;

use super::common::DbArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Subcommand)]
enum Action {
    /// Every job with its schedule, next run and state (the default).
    List,
    /// Add a job.
    Add {
        name: String,
        /// 5-field crontab line, e.g. "0 7 * * *" (07:00 every day).
        #[arg(long)]
        schedule: String,
        /// import_dir or ftps_fetch.
        #[arg(long)]
        kind: String,
        /// Job settings as JSON, e.g. '{"dir": "/srv/smt/inbox"}'. No secrets: name environment variables.
        #[arg(long, default_value = "{}")]
        params: String,
        #[arg(long, default_value = "America/Chicago")]
        time_zone: String,
        #[arg(long, default_value_t = 5)]
        max_attempts: i32,
    },
    /// Enable a job; also clears a failure, so a job that kept failing runs again.
    Enable {
        name: String,
    },
    Disable {
        name: String,
    },
    /// Make the job due now.
    RunNow {
        name: String,
    },
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let (_, url) = args.db.load()?;
    let client = db::connect(&url).await?;
    let changed = match args.action.unwrap_or(Action::List) {
        Action::List => {
            let rows = client
                .query(
                    "SELECT name, kind, schedule, time_zone, enabled, next_run_at::text, failed_at IS NOT NULL,
                            consecutive_failures, coalesce(last_error, '')
                       FROM smt.job ORDER BY name",
                    &[],
                )
                .await?;
            println!("name\tkind\tschedule\ttime_zone\tenabled\tnext_run_at\tfailed\tfailures\tlast_error");
            for r in rows {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.get::<_, String>(0),
                    r.get::<_, String>(1),
                    r.get::<_, String>(2),
                    r.get::<_, String>(3),
                    r.get::<_, bool>(4),
                    r.get::<_, Option<String>>(5).unwrap_or_default(),
                    r.get::<_, bool>(6),
                    r.get::<_, i32>(7),
                    r.get::<_, String>(8)
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        Action::Add {
            name,
            schedule,
            kind,
            params,
            time_zone,
            max_attempts,
        } => {
            let params: serde_json::Value =
                serde_json::from_str(&params).context("--params is not JSON")?;
            client
                .execute(
                    "INSERT INTO smt.job (name, schedule, kind, params, time_zone, max_attempts) VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&name, &schedule, &kind, &params, &time_zone, &max_attempts],
                )
                .await?
        }
        // Enabling also clears a failure (failed_at): the DBA has looked at it.
        Action::Enable { name } => {
            client
                .execute(
                    "UPDATE smt.job SET enabled = true, failed_at = NULL, consecutive_failures = 0 WHERE name = $1",
                    &[&name],
                )
                .await?
        }
        Action::Disable { name } => {
            client
                .execute(
                    "UPDATE smt.job SET enabled = false WHERE name = $1",
                    &[&name],
                )
                .await?
        }
        Action::RunNow { name } => {
            client
                .execute(
                    "UPDATE smt.job SET next_run_at = now() WHERE name = $1",
                    &[&name],
                )
                .await?
        }
    };
    if changed == 0 {
        bail!("no such job");
    }
    Ok(ExitCode::SUCCESS)
}
