//! `smt status`: recent runs, files and rejects, then what needs a person: quarantined deliveries
//! (`smt.delivery_log`), failed jobs (`smt.job_status`) and remote files SMT will soon delete
//! (`smt.stale_remote_file`), each with the command that fixes it once its cause is fixed. Every
//! section starts with a header row of its columns; every cell is printed through
//! `text::printable`: names come from deliveries, not from us.

use std::process::ExitCode;

use anyhow::Result;
use smt_scheduler::db;
use smt_scheduler::ingest::LoadCounts;
use smt_scheduler::text::printable;

use super::common::{print_table, shell_word, DbArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// Rows per section.
    #[arg(long, default_value_t = 10)]
    limit: i64,
}

/// One section: its title, its columns, and a query whose columns are all text.
struct Section<'a> {
    title: &'a str,
    header: Vec<&'a str>,
    sql: String,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let (_, url) = args.db.load()?;
    let client = db::connect(&url).await?;
    // Every load count, in smt.load_result's order.
    let counts: Vec<String> = LoadCounts::COLUMNS
        .iter()
        .map(|c| format!("{c}::text"))
        .collect();
    let mut file_header = vec!["name", "format", "state"];
    file_header.extend(LoadCounts::COLUMNS);
    file_header.push("loaded_at");
    let sections = [
        Section {
            title: "recent runs",
            header: vec![
                "job",
                "attempt",
                "state",
                "started_at",
                "finished_at",
                "counts or error",
            ],
            sql: "SELECT job_name, attempt::text, state, started_at::text, finished_at::text,
                         coalesce(counts::text, error)
                    FROM smt.run_log r ORDER BY r.run_id DESC LIMIT $1"
                .to_owned(),
        },
        Section {
            title: "recent files",
            header: file_header,
            sql: format!(
                "SELECT name, coalesce(format, '?'), state, {}, loaded_at::text
                   FROM smt.file_log f ORDER BY f.file_id DESC LIMIT $1",
                counts.join(", ")
            ),
        },
        Section {
            title: "recent rejects",
            header: vec!["file", "line", "field", "kind", "reason"],
            sql: "SELECT file_name, line::text, field, kind, reason FROM smt.reject_log r
                   ORDER BY r.reject_id DESC LIMIT $1"
                .to_owned(),
        },
    ];
    for s in &sections {
        println!("== {}", s.title);
        let rows = client.query(&s.sql, &[&args.limit]).await?;
        print_table(&s.header, &rows);
        println!();
    }

    // Quarantined deliveries, of any age: each waits for its cause to be fixed, then a retry.
    println!("== quarantined deliveries (fix the cause, then run the command to load them)");
    let quarantined = client
        .query(
            "SELECT remote_file_id, source, directory, name, modified_at::text, registered_by, error
               FROM smt.delivery_log d WHERE d.state = 'quarantined'
              ORDER BY d.remote_file_id DESC LIMIT $1",
            &[&args.limit],
        )
        .await?;
    println!("id\tsource\tdirectory\tname\tmodified_at\tregistered_by\terror\tthen");
    if quarantined.is_empty() {
        println!("(none)");
    }
    for r in &quarantined {
        let id: i64 = r.try_get(0)?;
        let mut cells = vec![id.to_string()];
        for i in 1..r.len() {
            let cell: Option<String> = r.try_get(i)?;
            cells.push(printable(cell.as_deref().unwrap_or("")).into_owned());
        }
        cells.push(format!("smt deliveries retry {id}"));
        println!("{}", cells.join("\t"));
    }
    println!();

    // Failed jobs: not run again until re-enabled.
    println!("== failed jobs (fix the cause, then run the command to run them again)");
    let failed = client
        .query(
            "SELECT name, kind, failed_at::text, consecutive_failures::text, last_error
               FROM smt.job_status j WHERE j.failed ORDER BY j.failed_at DESC, j.name LIMIT $1",
            &[&args.limit],
        )
        .await?;
    println!("name\tkind\tfailed_at\tfailures\tlast_error\tthen");
    if failed.is_empty() {
        println!("(none)");
    }
    for r in &failed {
        let name: String = r.try_get(0)?;
        let mut cells = Vec::new();
        for i in 0..r.len() {
            let cell: Option<String> = r.try_get(i)?;
            cells.push(printable(cell.as_deref().unwrap_or("")).into_owned());
        }
        cells.push(format!("smt jobs enable {}", shell_word(&name)));
        println!("{}", cells.join("\t"));
    }
    println!();

    println!("== remote files older than 7 days not loaded (SMT deletes them after 10)");
    let stale = client
        .query(
            "SELECT remote_file_id::text, source, directory, name, state, modified_at::text,
                    deleted_from_smt_at::text, error
               FROM smt.stale_remote_file s ORDER BY s.modified_at, s.remote_file_id LIMIT $1",
            &[&args.limit],
        )
        .await?;
    print_table(
        &[
            "id",
            "source",
            "directory",
            "name",
            "state",
            "modified_at",
            "deleted_from_smt_at",
            "error",
        ],
        &stale,
    );
    Ok(ExitCode::SUCCESS)
}
