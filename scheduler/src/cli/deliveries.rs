//! `smt deliveries`: the deliveries seen or imported, from the view `smt.delivery_log`, and
//! `retry ID`, which queues a quarantined one again after its cause was fixed
//! (`smt.delivery_retry`). Every name and error is printed through `text::printable`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use smt_scheduler::db;
use smt_scheduler::sources::Delivery;
use smt_scheduler::text::printable;

use super::common::{print_table, DbArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Subcommand)]
enum Action {
    /// The latest deliveries with their state, newest first (the default).
    List {
        /// Only deliveries in this state: seen, fetched, loaded or quarantined.
        #[arg(long)]
        state: Option<String>,
        /// Rows at most.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Queue a quarantined delivery again, once its cause is fixed (a key configured, the file
    /// replaced): the next run of its job (or `smt import` of the file again) loads it. ID is the
    /// first column of `smt status` and `smt deliveries list`.
    Retry { id: i64 },
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let (_, url) = args.db.load()?;
    let client = db::connect(&url).await?;
    match args.action.unwrap_or(Action::List {
        state: None,
        limit: 50,
    }) {
        Action::List { state, limit } => {
            let rows = client
                .query(
                    "SELECT remote_file_id::text, state, source, directory, name, size_bytes::text,
                            modified_at::text, fetched_at::text, loaded_at::text, registered_by, error
                       FROM smt.delivery_log d
                      WHERE $1::text IS NULL OR d.state = $1
                      ORDER BY d.remote_file_id DESC LIMIT $2",
                    &[&state, &limit],
                )
                .await?;
            print_table(
                &[
                    "id",
                    "state",
                    "source",
                    "directory",
                    "name",
                    "size_bytes",
                    "modified_at",
                    "fetched_at",
                    "loaded_at",
                    "registered_by",
                    "error",
                ],
                &rows,
            );
        }
        Action::Retry { id } => {
            let row = client
                .query_one("SELECT * FROM smt.delivery_retry($1)", &[&id])
                .await
                .with_context(|| format!("delivery {id}"))?;
            let d = Delivery::from_row(&row)?;
            let next = if d.source == "import" {
                "`smt import` of the file loads it".to_owned()
            } else {
                format!(
                    "the next run of its job by role {} loads it",
                    printable(&d.registered_by)
                )
            };
            println!(
                "delivery {} ({}) is now {}: {next}",
                d.remote_file_id,
                printable(&d.name),
                printable(&d.state)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
