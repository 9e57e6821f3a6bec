//! `smt import FILE...`: local deliveries (.lse, .csv, .zip, .pgp/.gpg, .asc) through the same path
//! as the scheduler: decrypt, unzip, parse, COPY, merge, one transaction per file. Importing a file
//! twice changes nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use smt_scheduler::db;
use smt_scheduler::ingest::LoadCounts;
use smt_scheduler::sources::{self, LocalFile};

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
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {bytes}/{total_bytes} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut trouble = false;
    // file, report, format, every load count, note; a delivery-level line leaves the middle empty.
    println!(
        "file\treport\tformat\t{}\tnote",
        LoadCounts::COLUMNS.join("\t")
    );
    let empty = "\t".repeat(LoadCounts::COLUMNS.len() + 3);
    for path in &args.files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        bar.set_message(name.clone());
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        let abs = std::fs::canonicalize(path)?;
        let dir = abs
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let modified: Option<DateTime<Utc>> = meta.modified().ok().map(DateTime::from);
        let local_path = abs.display().to_string();
        let file = LocalFile {
            source: "import",
            directory: &dir,
            name: &name,
            size_bytes: meta.len() as i64,
            modified_at: modified,
            local_path: &local_path,
        };
        let delivery = sources::delivery_imported(&client, &file, true).await?;
        if delivery.state == "loaded" {
            println!("{name}{empty}already imported: nothing changed");
        } else {
            let outcome = sources::load_delivery(
                &mut client,
                delivery.remote_file_id,
                &abs,
                &name,
                &settings,
            )
            .await?;
            if let Some(why) = &outcome.quarantined {
                trouble = true;
                println!("{name}{empty}quarantined: {why}");
            }
            for r in &outcome.reports {
                let note = match (&r.failed, r.already_loaded) {
                    (Some(why), _) => {
                        trouble = true;
                        format!("failed: {why}")
                    }
                    (None, true) => "already loaded: nothing changed".to_owned(),
                    _ => String::new(),
                };
                trouble |= r.counts.rejected > 0;
                let counts: Vec<String> = r
                    .counts
                    .fields()
                    .iter()
                    .map(|(_, v)| v.to_string())
                    .collect();
                println!(
                    "{name}\t{}\t{}\t{}\t{note}",
                    r.name,
                    r.format.as_deref().unwrap_or("?"),
                    counts.join("\t")
                );
            }
        }
        bar.inc(meta.len());
    }
    bar.finish_and_clear();
    Ok(if trouble {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
