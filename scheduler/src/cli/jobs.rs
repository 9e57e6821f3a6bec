//! `smt jobs`: list, show, add, enable, disable, run-now, delete. Each is one SQL call a DBA can
//! make too: `smt.job_status` and `smt.run_log` (views), `smt.job_add`, `smt.job_enable`,
//! `smt.job_disable`, `smt.job_run_now`, `smt.job_delete`; an unknown job name is an error
//! (no_data_found) from the database.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use smt_scheduler::text::printable;
use smt_scheduler::{db, sources};

use super::common::{print_table, shell_word, DbArgs};

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
    /// Every column of one job (smt.job_status) and its last 10 runs (smt.run_log).
    Show { name: String },
    /// Add a job (`--help` lists the params of every kind).
    Add {
        name: String,
        /// 5-field crontab line, e.g. "0 7 * * *" (07:00 every day).
        #[arg(long)]
        schedule: String,
        /// What the job does: ftps_fetch or import_dir (or a kind a DBA registered).
        #[arg(long)]
        kind: String,
        /// Job settings as JSON: the name of a source the worker's config file defines, e.g.
        /// '{"source": "inbox"}' (import_dir) or '{"source": "smt-ftps", "dirs": ["/reports"]}'
        /// (ftps_fetch). Hosts, paths, credentials and TLS settings are not accepted here.
        #[arg(long, default_value = "{}", long_help = sources::params_help())]
        params: String,
        /// Time zone the schedule is read in (DST-safe).
        #[arg(long, default_value = "America/Chicago")]
        time_zone: String,
        /// Attempts of one scheduled run (retried with a doubling delay) before the job is marked
        /// failed; `smt jobs enable NAME` clears a failure.
        #[arg(long, default_value_t = 5)]
        max_attempts: i32,
    },
    /// Enable a job; also clears a failure, so a job that kept failing runs again.
    Enable { name: String },
    /// Disable a job: it is not run until enabled again.
    Disable { name: String },
    /// Make the job due now. A failed job (it kept failing until max_attempts) or a disabled
    /// one is not run: run-now says so and exits 1; `smt jobs enable NAME` clears the failure
    /// (or enables it), then run-now runs it.
    RunNow { name: String },
    /// Delete a job and its runs (smt.job_delete); the files it loaded and the deliveries it
    /// registered stay.
    Delete { name: String },
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
                eprintln!(
                    "smt: job {} {}: run-now does nothing; `smt jobs enable {}` clears the failure (or enables it), then run-now runs it",
                    printable(&name),
                    printable(&why),
                    shell_word(&name)
                );
                return Ok(ExitCode::from(1));
            }
            change(&client, "SELECT FROM smt.job_run_now($1)", &name).await?
        }
        Action::Show { name } => show(&client, &name).await?,
        Action::Delete { name } => {
            let runs: i64 = client
                .query_one(
                    "SELECT count(*) FROM smt.run_log WHERE job_name = $1",
                    &[&name],
                )
                .await
                .map(|r| r.get(0))
                .unwrap_or(0);
            let job = client
                .query_one("SELECT * FROM smt.job_delete($1)", &[&name])
                .await
                .with_context(|| format!("job {}", printable(&name)))?;
            println!(
                "deleted job {} ({}, {}) and its {runs} run{}; the files it loaded stay",
                printable(&job.try_get::<_, String>("name")?),
                printable(&job.try_get::<_, String>("kind")?),
                printable(&job.try_get::<_, String>("schedule")?),
                if runs == 1 { "" } else { "s" }
            );
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
        .with_context(|| format!("job {}", printable(name)))?;
    Ok(())
}

/// `smt jobs show NAME`: every column of smt.job_status (whatever columns the installed version
/// has, in its order), what to do when the job is failed or disabled, and its last 10 runs.
async fn show(client: &tokio_postgres::Client, name: &str) -> Result<()> {
    let columns: Vec<String> = client
        .prepare("SELECT * FROM smt.job_status")
        .await?
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let select: Vec<String> = columns
        .iter()
        .map(|c| format!("s.\"{}\"::text", c.replace('"', "\"\"")))
        .collect();
    let Some(row) = client
        .query_opt(
            &format!(
                "SELECT {} FROM smt.job_status s WHERE s.name = $1",
                select.join(", ")
            ),
            &[&name],
        )
        .await?
    else {
        bail!(
            "no job named '{}'\nHINT: `smt jobs list` (or SELECT name FROM smt.job_status) shows the jobs.",
            printable(&name.replace('\'', "''"))
        );
    };
    println!("== job {}", printable(name));
    println!("column\tvalue");
    let mut value = std::collections::BTreeMap::new();
    for (i, column) in columns.iter().enumerate() {
        let v: Option<String> = row.try_get(i)?;
        println!(
            "{}\t{}",
            printable(column),
            printable(v.as_deref().unwrap_or(""))
        );
        value.insert(column.as_str(), v);
    }
    let is = |column: &str| value.get(column).and_then(|v| v.as_deref()) == Some("true");
    if is("failed") {
        println!(
            "failed: it kept failing and is not run; after fixing the cause (last_error), `smt jobs enable {}` clears the failure",
            shell_word(name)
        );
    } else if value.contains_key("enabled") && !is("enabled") {
        println!(
            "disabled: `smt jobs enable {}` enables it",
            shell_word(name)
        );
    }
    println!();
    println!("== last 10 runs");
    let runs = client
        .query(
            "SELECT run_id::text, scheduled_for::text, attempt::text, state, worker,
                    started_at::text, finished_at::text, takeovers::text, error, counts::text
               FROM smt.run_log r WHERE r.job_name = $1 ORDER BY r.run_id DESC LIMIT 10",
            &[&name],
        )
        .await?;
    print_table(
        &[
            "run_id",
            "scheduled_for",
            "attempt",
            "state",
            "worker",
            "started_at",
            "finished_at",
            "takeovers",
            "error",
            "counts",
        ],
        &runs,
    );
    Ok(())
}
