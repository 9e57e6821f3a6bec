//! `smt status`: recent runs, files, rejects and remote files SMT will soon delete, from the
//! views smt.run_log, smt.file_log, smt.reject_log and smt.stale_remote_file. Every cell is
//! printed through `text::printable`: names come from deliveries, not from us.

use std::process::ExitCode;

use anyhow::Result;
use smt_scheduler::db;
use smt_scheduler::ingest::LoadCounts;
use smt_scheduler::text::printable;

use super::common::DbArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// Rows per section.
    #[arg(long, default_value_t = 10)]
    limit: i64,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let (_, url) = args.db.load()?;
    let client = db::connect(&url).await?;
    // Every load count, in smt.load_result's order.
    let counts: Vec<String> = LoadCounts::COLUMNS
        .iter()
        .map(|c| format!("{c}::text"))
        .collect();
    let files = format!(
        "SELECT name, coalesce(format, '?'), state, {}, loaded_at::text
           FROM smt.file_log ORDER BY file_id DESC LIMIT $1",
        counts.join(", ")
    );
    let sections: [(&str, &str); 4] = [
        (
            "recent runs",
            "SELECT job_name, attempt::text, state, coalesce(started_at::text, ''), coalesce(finished_at::text, ''),
                    coalesce(counts::text, error, '')
               FROM smt.run_log ORDER BY run_id DESC LIMIT $1",
        ),
        (
            "recent files",
            &files,
        ),
        (
            "recent rejects",
            "SELECT file_name, line::text, field, kind, reason FROM smt.reject_log
              ORDER BY reject_id DESC LIMIT $1",
        ),
        (
            "remote files older than 7 days not loaded (SMT deletes them after 10)",
            "SELECT source, directory, name, state, coalesce(modified_at::text, ''), coalesce(error, '')
               FROM smt.stale_remote_file ORDER BY modified_at LIMIT $1",
        ),
    ];
    for (title, sql) in sections {
        println!("== {title}");
        let rows = client.query(sql, &[&args.limit]).await?;
        if rows.is_empty() {
            println!("(none)");
        }
        for r in rows {
            let cells: Vec<String> = (0..r.len())
                .map(|i| printable(&r.get::<_, Option<String>>(i).unwrap_or_default()).into_owned())
                .collect();
            println!("{}", cells.join("\t"));
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
