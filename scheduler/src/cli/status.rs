//! `smt status`: recent runs, files, rejects and remote files SMT will soon delete.

use std::process::ExitCode;

use anyhow::Result;
use smt_scheduler::db;

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
    let sections: [(&str, &str); 4] = [
        (
            "recent runs",
            "SELECT j.name, r.attempt::text, r.state, coalesce(r.started_at::text, ''), coalesce(r.finished_at::text, ''),
                    coalesce(r.counts::text, r.error, '')
               FROM smt.job_run r JOIN smt.job j USING (job_id) ORDER BY r.run_id DESC LIMIT $1",
        ),
        (
            "recent files",
            "SELECT name, coalesce(format, '?'), state, records::text, inserted::text, replaced::text, stale::text,
                    rejected::text, loaded_at::text
               FROM smt.file ORDER BY file_id DESC LIMIT $1",
        ),
        (
            "recent rejects",
            "SELECT f.name, r.line::text, r.field, r.kind, r.reason FROM smt.reject r JOIN smt.file f USING (file_id)
              ORDER BY r.reject_id DESC LIMIT $1",
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
                .map(|i| r.get::<_, Option<String>>(i).unwrap_or_default())
                .collect();
            println!("{}", cells.join("\t"));
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
