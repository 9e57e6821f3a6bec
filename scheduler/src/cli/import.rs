//! `smt import FILE...`: local deliveries (.lse, .csv, .zip, .pgp/.gpg, .asc) through the same path
//! as the scheduler: decrypt, unzip, then `smt.load` (the database parses and merges), one
//! transaction per file. Importing a file twice changes nothing. A path that cannot be imported
//! (missing, a directory, unreadable) is reported on stderr and the others go on; the last line
//! (stderr) sums up every load count, and the exit status is 1 when anything went wrong. Every
//! name (of a file, of a report in a zip) and every error is printed through `text::printable`: a
//! name with control characters cannot recolor or rewrite the terminal, nor break a
//! tab-separated row.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
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
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let (config, url) = args.db.load()?;
    let settings = common::settings(&config, args.pgp_key.as_ref(), args.lenient_esiid)?;
    let mut client = db::connect(&url).await?;
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
    for path in &args.files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        bar.set_message(printable(&name).into_owned());
        summary.files += 1;
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        match import_one(&mut client, path, &name, &settings, &bar, &mut summary).await {
            Ok(()) => {}
            // Without its database connection nothing else can be imported.
            Err(e) if client.is_closed() => {
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
        bar.inc(len);
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

impl Summary {
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
    bar: &ProgressBar,
    summary: &mut Summary,
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
        bar.suspend(|| println!("{shown}{empty}already imported: nothing changed"));
        return Ok(());
    }
    let outcome =
        sources::load_delivery(client, delivery.remote_file_id, &abs, name, settings).await?;
    if let Some(why) = &outcome.quarantined {
        summary.quarantined += 1;
        bar.suspend(|| {
            println!(
                "{shown}{empty}quarantined: {} (after fixing the cause, import it again)",
                printable(why)
            )
        });
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
        bar.suspend(|| {
            println!(
                "{shown}\t{}\t{}\t{}\t{note}",
                printable(&r.name),
                printable(r.format.as_deref().unwrap_or("?")),
                counts.join("\t")
            )
        });
    }
    Ok(())
}
