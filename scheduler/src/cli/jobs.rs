//! `smt jobs`: list, add, enable, disable, run-now. Each is one SQL call a DBA can make too:
//! `smt.job_status` (a view), `smt.job_add`, `smt.job_enable`, `smt.job_disable`,
//! `smt.job_run_now`; an unknown job name is an error (no_data_found) from the database.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use smt_scheduler::text::printable;
use smt_scheduler::{db, sources};

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
        /// Job settings as JSON: the name of a source the worker's config file defines, e.g.
        /// '{"source": "inbox"}' (import_dir) or '{"source": "smt-ftps", "dirs": ["/reports"]}'
        /// (ftps_fetch). Hosts, paths, credentials and TLS settings are not accepted here.
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
    /// Make the job due now. A failed job (it kept failing until max_attempts) or a disabled
    /// one is not run: run-now says so and exits 1; `smt jobs enable NAME` clears the failure
    /// (or enables it), then run-now runs it.
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
                    printable(&r.try_get::<_, String>("name")?),
                    printable(&r.try_get::<_, String>("kind")?),
                    printable(&r.try_get::<_, String>("schedule")?),
                    r.try_get::<_, String>("time_zone")?,
                    r.try_get::<_, bool>("enabled")?,
                    r.try_get::<_, Option<String>>("next_run_at")?
                        .unwrap_or_default(),
                    r.try_get::<_, bool>("failed")?,
                    r.try_get::<_, i32>("consecutive_failures")?,
                    printable(
                        &r.try_get::<_, Option<String>>("last_error")?
                            .unwrap_or_default()
                    )
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
            // smt.job is readable by admins and kept in dumps: never a secret in it.
            if let Some(at) = sources::secret_looking(&params) {
                bail!(
                    "--params: {at} looks like a secret (a password, passphrase, token, secret \
                     or key); secrets never go into a job's params. Define the source in the worker's \
                     config file, which names the environment variable or file holding the \
                     secret, and give the job only the source's name, e.g. {{\"source\": \"smt-ftps\"}}"
                );
            }
            sources::check_params(&kind, &params).context("--params")?;
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
            if let Some(why) = not_runnable(&client, &name).await {
                eprintln!("smt: job {name} {why}: run-now does nothing; `smt jobs enable {name}` clears the failure (or enables it), then run-now runs it");
                return Ok(ExitCode::from(1));
            }
            change(&client, "SELECT FROM smt.job_run_now($1)", &name).await?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Why the job `name` would not run if made due (failed, or disabled), from `smt.job_status`.
/// `None` when it would, and when the job is unknown or the view cannot be read: then
/// `smt.job_run_now` itself answers (no_data_found with a hint, permission denied).
async fn not_runnable(client: &tokio_postgres::Client, name: &str) -> Option<String> {
    let row = client
        .query_opt(
            "SELECT enabled, failed, consecutive_failures, last_error
               FROM smt.job_status WHERE name = $1",
            &[&name],
        )
        .await
        .ok()??;
    let failed: bool = row.try_get("failed").ok()?;
    let enabled: bool = row.try_get("enabled").ok()?;
    let mut why = Vec::new();
    if !enabled {
        why.push("is disabled".to_owned());
    }
    if failed {
        let failures: i32 = row.try_get("consecutive_failures").unwrap_or(0);
        let error: Option<String> = row.try_get("last_error").ok()?;
        why.push(format!(
            "is marked failed after {failures} failed attempts (last error: {})",
            error.as_deref().unwrap_or("none recorded")
        ));
    }
    (!why.is_empty()).then(|| why.join(" and "))
}

/// One admin function on the job `name`; the database refuses an unknown name (with a hint).
async fn change(client: &tokio_postgres::Client, sql: &str, name: &str) -> Result<()> {
    client
        .execute(sql, &[&name])
        .await
        .with_context(|| format!("job {name}"))?;
    Ok(())
}
