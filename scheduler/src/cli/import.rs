//! `smt import FILE...`: local deliveries (.lse, .csv, .zip, .pgp/.gpg, .asc) through the same path
//! as the scheduler: decrypt, unzip, parse, COPY, merge, one transaction per file. Importing a file
//! twice changes nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use smt_scheduler::{db, sources};

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
    println!("file\treport\tformat\trecords\tinserted\treplaced\tstale\tidentical\trejected\tnote");
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
        let row = client
            .query_one(
                "INSERT INTO smt.remote_file (source, directory, name, size_bytes, modified_at, state, local_path, fetched_at)
                 VALUES ('import', $1, $2, $3, $4, 'fetched', $5, now())
                 ON CONFLICT (source, directory, name, size_bytes, modified_at)
                 DO UPDATE SET state = CASE WHEN smt.remote_file.state = 'loaded' THEN 'loaded' ELSE 'fetched' END
                 RETURNING remote_file_id, state",
                &[&dir, &name, &(meta.len() as i64), &modified, &abs.display().to_string()],
            )
            .await?;
        let (id, state): (i64, String) = (row.get(0), row.get(1));
        if state == "loaded" {
            println!("{name}\t\t\t\t\t\t\t\t\talready imported: nothing changed");
        } else {
            let outcome = sources::load_delivery(&mut client, id, &abs, &name, &settings).await?;
            if let Some(why) = &outcome.quarantined {
                trouble = true;
                println!("{name}\t\t\t\t\t\t\t\t\tquarantined: {why}");
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
                trouble |= r.rejected > 0;
                println!(
                    "{name}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{note}",
                    r.name,
                    r.format.as_deref().unwrap_or("?"),
                    r.records,
                    r.inserted,
                    r.replaced,
                    r.stale,
                    r.identical,
                    r.rejected
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
