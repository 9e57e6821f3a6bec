//! `smt jobs`: list, add, enable, disable, run-now. Each is one SQL call a DBA can make too:
//! `smt.job_status` (a view), `smt.job_add`, `smt.job_enable`, `smt.job_disable`,
//! `smt.job_run_now`; an unknown job name is an error (no_data_found) from the database.

use std::process::ExitCode;

use anyhow::{Context, Result};
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
        /// What the job does: import_dir or ftps_fetch (or a kind a DBA registered).
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
    match args.action.unwrap_or(Action::List) {
        Action::List => {
            let rows = client
                .query(
                    "SELECT name, kind, schedule, time_zone, enabled, next_run_at::text AS next_run_at,
                            failed, consecutive_failures, last_error
                       FROM smt.job_status ORDER BY name",
                    &[],
                )
                .await?;
            println!("name\tkind\tschedule\ttime_zone\tenabled\tnext_run_at\tfailed\tfailures\tlast_error");
            for r in rows {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.try_get::<_, String>("name")?,
                    r.try_get::<_, String>("kind")?,
                    r.try_get::<_, String>("schedule")?,
                    r.try_get::<_, String>("time_zone")?,
                    r.try_get::<_, bool>("enabled")?,
                    r.try_get::<_, Option<String>>("next_run_at")?
                        .unwrap_or_default(),
                    r.try_get::<_, bool>("failed")?,
                    r.try_get::<_, i32>("consecutive_failures")?,
                    r.try_get::<_, Option<String>>("last_error")?
                        .unwrap_or_default()
                );
            }
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
                    "SELECT FROM smt.job_add(name => $1, kind => $2, schedule => $3, params => $4,
                                             time_zone => $5, max_attempts => $6)",
                    &[&name, &kind, &schedule, &params, &time_zone, &max_attempts],
                )
                .await
                .with_context(|| format!("adding job {name}"))?;
        }
        // Enabling also clears a failure (failed_at): the DBA has looked at it.
        Action::Enable { name } => change(&client, "SELECT FROM smt.job_enable($1)", &name).await?,
        Action::Disable { name } => {
            change(&client, "SELECT FROM smt.job_disable($1)", &name).await?
        }
        Action::RunNow { name } => {
            change(&client, "SELECT FROM smt.job_run_now($1)", &name).await?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One admin function on the job `name`; the database refuses an unknown name (with a hint).
async fn change(client: &tokio_postgres::Client, sql: &str, name: &str) -> Result<()> {
    client
        .execute(sql, &[&name])
        .await
        .with_context(|| format!("job {name}"))?;
    Ok(())
}
