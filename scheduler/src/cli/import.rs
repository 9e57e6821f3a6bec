//! `smt import FILE...`: local deliveries (.lse, .csv, .zip, .pgp/.gpg, .asc) through the same path
//! as the scheduler: decrypt, unzip, parse, then the database checks and merges (see
//! `smt_scheduler::ingest`), one transaction per file, on `--connections` connections at once (the
//! database serializes the merges; the others' unpacking, parsing and copying overlap them).
//! Rows are printed in the order the files were given. Importing a file twice changes nothing. A
//! path that cannot be imported (missing, a directory, unreadable) is reported on stderr and the
//! others go on; the last line
//! (stderr) sums up every load count, and the exit status is 1 when anything went wrong. Every
//! name (of a file, of a report in a zip) and every error is printed through `text::printable`: a
//! name with control characters cannot recolor or rewrite the terminal, nor break a
//! tab-separated row.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use smt_scheduler::db;
use smt_scheduler::ingest::LoadCounts;
use smt_scheduler::sources::{self, LocalFile, Settings};
use smt_scheduler::text::printable;

use super::common::{self, DbArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// Secret key to decrypt .pgp/.gpg/.asc files (passphrase from SMT_PGP_PASSPHRASE).
    #[arg(long)]
    pgp_key: Option<PathBuf>,
    /// Accept the LSE spec's ESIIDs (1-64 letters or digits).
    #[arg(long)]
    lenient_esiid: bool,
    /// Files loading at once, each on a connection of its own.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    connections: u16,
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let (config, url) = args.db.load()?;
    let settings = common::settings(&config, args.pgp_key.as_ref(), args.lenient_esiid)?;
    let connections = usize::from(args.connections).min(args.files.len()).max(1);
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        clients.push(tokio::sync::Mutex::new(db::connect(&url).await?));
    }
    let total: u64 = args
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    // The bar draws on stderr, and only when stderr is a terminal (indicatif hides it otherwise);
    // every row and message is printed through it (`suspend`), so neither overwrites the other.
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {bytes}/{total_bytes} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut summary = Summary::default();
    // file, report, format, every load count, note; a delivery-level line leaves the middle empty.
    println!(
        "file\treport\tformat\t{}\tnote",
        LoadCounts::COLUMNS.join("\t")
    );
    // At most `connections` files in flight, results in the order given (so file i and file
    // i + connections never share a connection at once; the lock only makes that explicit).
    let mut imports = futures_util::stream::iter(args.files.iter().enumerate())
        .map(|(i, path)| {
            let (clients, settings) = (&clients, &settings);
            async move {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mut client = clients[i % clients.len()].lock().await;
                let mut done = Imported::default();
                let result = import_one(&mut client, path, &name, settings, &mut done).await;
                let closed = client.is_closed();
                (path, name, done, result, closed)
            }
        })
        .buffered(connections);
    while let Some((path, name, done, result, closed)) = imports.next().await {
        bar.set_message(printable(&name).into_owned());
        summary.files += 1;
        summary.add(&done.summary);
        bar.suspend(|| done.lines.iter().for_each(|l| println!("{l}")));
        match result {
            Ok(()) => {}
            // Without its database connection nothing else can be imported.
            Err(e) if closed => {
                bar.finish_and_clear();
                summary.failed += 1;
                summary.print();
                return Err(e);
            }
            Err(e) => {
                summary.failed += 1;
                bar.suspend(|| {
                    eprintln!(
                        "smt import: {}: {}",
                        printable(&path.display().to_string()),
                        printable(&format!("{e:#}"))
                    )
                });
            }
        }
        bar.inc(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0));
    }
    bar.finish_and_clear();
    summary.print();
    Ok(if summary.trouble() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What `smt import` did, in all: its last line (stderr).
#[derive(Debug, Default)]
struct Summary {
    /// Paths given.
    files: usize,
    /// Paths that could not be imported (missing, not a file, unreadable, a failed load).
    failed: usize,
    quarantined: usize,
    /// Reports the database could not load (kept in the registry as failed).
    failed_reports: usize,
    counts: LoadCounts,
}

/// What importing one file printed and counted, handed back to be shown in the files' order.
#[derive(Default)]
struct Imported {
    lines: Vec<String>,
    summary: Summary,
}

impl Summary {
    fn add(&mut self, other: &Summary) {
        self.failed += other.failed;
        self.quarantined += other.quarantined;
        self.failed_reports += other.failed_reports;
        self.counts += other.counts;
    }

    fn trouble(&self) -> bool {
        self.failed > 0
            || self.quarantined > 0
            || self.failed_reports > 0
            || self.counts.rejected > 0
    }

    fn print(&self) {
        let mut parts = vec![format!("files {}", self.files)];
        parts.extend(
            self.counts
                .fields()
                .iter()
                .map(|(name, value)| format!("{name} {value}")),
        );
        parts.push(format!("quarantined {}", self.quarantined));
        parts.push(format!("failed {}", self.failed + self.failed_reports));
        eprintln!("smt import: {}", parts.join(", "));
    }
}

/// Imports one path; an error names what is wrong with it (the caller adds the path).
async fn import_one(
    client: &mut tokio_postgres::Client,
    path: &Path,
    name: &str,
    settings: &Settings,
    done: &mut Imported,
) -> Result<()> {
    let empty = "\t".repeat(LoadCounts::COLUMNS.len() + 3);
    let meta = std::fs::metadata(path).context("cannot read it")?;
    if meta.is_dir() {
        bail!("is a directory, not a file");
    }
    if !meta.is_file() {
        bail!("is not a regular file");
    }
    // Readable at all? Checked before it is registered as a delivery.
    std::fs::File::open(path).context("cannot read it")?;
    let abs = std::fs::canonicalize(path).context("cannot resolve it")?;
    let dir = abs
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let modified: Option<DateTime<Utc>> = meta.modified().ok().map(DateTime::from);
    let local_path = abs.display().to_string();
    let file = LocalFile {
        source: "import",
        directory: &dir,
        name,
        size_bytes: meta.len() as i64,
        modified_at: modified,
        local_path: &local_path,
    };
    let delivery = sources::delivery_imported(client, &file, true).await?;
    let shown = printable(name);
    if delivery.state == "loaded" {
        done.lines
            .push(format!("{shown}{empty}already imported: nothing changed"));
        return Ok(());
    }
    let outcome =
        sources::load_delivery(client, delivery.remote_file_id, &abs, name, settings).await?;
    let summary = &mut done.summary;
    if let Some(why) = &outcome.quarantined {
        summary.quarantined += 1;
        done.lines.push(format!(
            "{shown}{empty}quarantined: {} (after fixing the cause, import it again)",
            printable(why)
        ));
    }
    for r in &outcome.reports {
        let note = match (&r.failed, r.already_loaded) {
            (Some(why), _) => {
                summary.failed_reports += 1;
                format!("failed: {}", printable(why))
            }
            (None, true) => "already loaded: nothing changed".to_owned(),
            _ => String::new(),
        };
        summary.counts += r.counts;
        let counts: Vec<String> = r
            .counts
            .fields()
            .iter()
            .map(|(_, v)| v.to_string())
            .collect();
        done.lines.push(format!(
            "{shown}\t{}\t{}\t{}\t{note}",
            printable(&r.name),
            printable(r.format.as_deref().unwrap_or("?")),
            counts.join("\t")
        ));
    }
    Ok(())
}
