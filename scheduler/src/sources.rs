//! What jobs do: bring deliveries in from a source and load them.
//!
//! Every delivery seen is a row of smt.remote_file (source, directory, name, size, mtime) that
//! moves seen → fetched → loaded, or to quarantined with its error when it cannot be decrypted,
//! unzipped, read or loaded (it is kept on disk and never blocks the other files; after fixing the
//! cause, `UPDATE smt.remote_file SET state = 'fetched' WHERE ...` queues it again). Loading a
//! delivery and marking its row loaded commit together.
//!
//! Kinds: `import_dir` (files dropped into a local directory) and `ftps_fetch` (SMT's FTPS site,
//! through the [`Transport`] trait, so SFTP can follow).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use smt_core::EsiidMode;
use tokio_postgres::Client;

use crate::ingest::{self, ReportOutcome};
use crate::jobs::ClaimedRun;
use crate::pgp::Keyring;
use crate::transport::ftps::{FtpsConfig, FtpsTransport};
use crate::transport::{RemoteFile, Transport};

/// What every job run needs besides its own parameters.
pub struct Settings {
    pub keyring: Option<Arc<Keyring>>,
    pub esiid_mode: EsiidMode,
    pub download_dir: PathBuf,
}

pub async fn execute(
    work: &mut Client,
    run: &ClaimedRun,
    settings: &Settings,
) -> Result<serde_json::Value> {
    match run.kind.as_str() {
        "import_dir" => {
            import_dir(
                work,
                serde_json::from_value(run.params.clone()).context("import_dir params")?,
                settings,
            )
            .await
        }
        "ftps_fetch" => {
            ftps_fetch(
                work,
                serde_json::from_value(run.params.clone()).context("ftps_fetch params")?,
                settings,
            )
            .await
        }
        other => bail!("unknown job kind {other:?}"),
    }
}

/// Outcome of loading one delivery.
#[derive(Debug, Default, serde::Serialize)]
pub struct DeliveryOutcome {
    pub name: String,
    pub quarantined: Option<String>,
    pub reports: Vec<ReportOutcome>,
}

/// Unpacks and loads one delivery on disk and marks its smt.remote_file row, in one transaction.
/// A delivery that cannot be unpacked is quarantined (kept, with its error); a database failure
/// is an error (the run fails and is retried; nothing was committed).
pub async fn load_delivery(
    work: &mut Client,
    remote_file_id: i64,
    path: &Path,
    name: &str,
    settings: &Settings,
) -> Result<DeliveryOutcome> {
    let bytes = ingest::read(path)?;
    let digest = ingest::sha256(&bytes);
    let mut outcome = DeliveryOutcome {
        name: name.to_owned(),
        ..Default::default()
    };
    let reports = match ingest::unpack(name, bytes, settings.keyring.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            let why = e.to_string();
            tracing::warn!(file = name, "quarantined: {why}");
            work.execute(
                "UPDATE smt.remote_file SET state = 'quarantined', error = $2, sha256 = $3 WHERE remote_file_id = $1",
                &[&remote_file_id, &why, &digest],
            )
            .await?;
            outcome.quarantined = Some(why);
            return Ok(outcome);
        }
    };
    let tx = work.transaction().await?;
    outcome.reports = ingest::load_reports(&tx, &reports, settings.esiid_mode).await?;
    let file_ids: Vec<i64> = outcome.reports.iter().map(|r| r.file_id).collect();
    tx.execute(
        "UPDATE smt.remote_file SET state = 'loaded', loaded_at = now(), file_ids = $2, sha256 = $3, error = NULL
          WHERE remote_file_id = $1",
        &[&remote_file_id, &file_ids, &digest],
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

fn summarize(deliveries: &[DeliveryOutcome], extra: serde_json::Value) -> serde_json::Value {
    let reports = deliveries.iter().flat_map(|d| &d.reports);
    let sum = |f: fn(&ReportOutcome) -> i32| reports.clone().map(f).map(i64::from).sum::<i64>();
    let mut counts = json!({
        "deliveries": deliveries.len(),
        "quarantined": deliveries.iter().filter(|d| d.quarantined.is_some()).count(),
        "reports": reports.clone().count(),
        "already_loaded": reports.clone().filter(|r| r.already_loaded).count(),
        "records": sum(|r| r.records),
        "inserted": sum(|r| r.inserted),
        "replaced": sum(|r| r.replaced),
        "stale": sum(|r| r.stale),
        "identical": sum(|r| r.identical),
        "rejected": sum(|r| r.rejected),
    });
    if let (Some(c), Some(e)) = (counts.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    counts
}

/// Loads every registered delivery of `source` that is fetched but not yet loaded.
async fn load_fetched(
    work: &mut Client,
    source: &str,
    settings: &Settings,
) -> Result<Vec<DeliveryOutcome>> {
    let rows = work
        .query(
            "SELECT remote_file_id, name, local_path FROM smt.remote_file
              WHERE source = $1 AND state = 'fetched' ORDER BY modified_at, name",
            &[&source],
        )
        .await?;
    let mut out = Vec::new();
    for row in rows {
        let (id, name, path): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
        match load_delivery(work, id, Path::new(&path), &name, settings).await {
            Ok(outcome) => out.push(outcome),
            Err(e) => {
                // Its transaction rolled back. Quarantine it so it does not block the deliveries
                // after it; if even that fails the database is unreachable and the run fails.
                let why = format!("{e:#}");
                work.execute(
                    "UPDATE smt.remote_file SET state = 'quarantined', error = $2 WHERE remote_file_id = $1",
                    &[&id, &why],
                )
                .await
                .map_err(|_| e)?;
                tracing::error!(file = name, "quarantined after a failed load: {why}");
                out.push(DeliveryOutcome {
                    name,
                    quarantined: Some(why),
                    reports: Vec::new(),
                });
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportDirParams {
    pub dir: PathBuf,
}

/// Every file in a local directory (not hidden, not `.part`), each loaded once.
pub async fn import_dir(
    work: &mut Client,
    p: ImportDirParams,
    settings: &Settings,
) -> Result<serde_json::Value> {
    let dir = std::fs::canonicalize(&p.dir)
        .with_context(|| format!("import_dir: {}", p.dir.display()))?;
    let source = format!("dir://{}", dir.display());
    let mut listed = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let meta = entry.metadata()?;
        if !meta.is_file() || name.starts_with('.') || name.ends_with(".part") {
            continue;
        }
        let modified: Option<DateTime<Utc>> = meta.modified().ok().map(DateTime::from);
        let path = entry.path().display().to_string();
        work.execute(
            "INSERT INTO smt.remote_file (source, directory, name, size_bytes, modified_at, state, local_path, fetched_at)
             VALUES ($1, $2, $3, $4, $5, 'fetched', $6, now())
             ON CONFLICT (source, directory, name, size_bytes, modified_at) DO NOTHING",
            &[&source, &dir.display().to_string(), &name, &(meta.len() as i64), &modified, &path],
        )
        .await?;
        listed += 1;
    }
    let loaded = load_fetched(work, &source, settings).await?;
    Ok(summarize(&loaded, json!({ "listed": listed })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FtpsParams {
    pub host: String,
    #[serde(default = "default_ftps_port")]
    pub port: u16,
    pub user: String,
    /// Environment variable holding the password (never the password itself).
    #[serde(default = "default_password_env")]
    pub password_env: String,
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default = "default_dirs")]
    pub dirs: Vec<String>,
    pub download_dir: Option<PathBuf>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_ftps_port() -> u16 {
    21
}
fn default_password_env() -> String {
    "SMT_FTPS_PASSWORD".into()
}
fn default_dirs() -> Vec<String> {
    vec!["/".into()]
}
fn default_timeout() -> u64 {
    60
}

/// Runs a blocking transport call off the async runtime, handing the transport back.
async fn blocking<R: Send + 'static>(
    mut t: Box<dyn Transport>,
    f: impl FnOnce(&mut dyn Transport) -> Result<R> + Send + 'static,
) -> Result<(Box<dyn Transport>, R)> {
    tokio::task::spawn_blocking(move || {
        let r = f(t.as_mut());
        r.map(|r| (t, r))
    })
    .await?
}

/// Lists the configured directories, downloads every file not fetched before, loads them.
pub async fn ftps_fetch(
    work: &mut Client,
    p: FtpsParams,
    settings: &Settings,
) -> Result<serde_json::Value> {
    let password = std::env::var(&p.password_env).with_context(|| {
        format!(
            "ftps_fetch: the password is read from ${}, which is not set",
            p.password_env
        )
    })?;
    let source = format!("ftps://{}@{}:{}", p.user, p.host, p.port);
    let config = FtpsConfig {
        host: p.host.clone(),
        port: p.port,
        user: p.user.clone(),
        password,
        ca_file: p.ca_file.clone(),
        client_cert: p.client_cert.clone(),
        client_key: p.client_key.clone(),
        insecure_skip_verify: p.insecure_skip_verify,
        timeout: std::time::Duration::from_secs(p.timeout_seconds),
    };
    let download_dir = p
        .download_dir
        .clone()
        .unwrap_or_else(|| settings.download_dir.join(safe(&source)));
    std::fs::create_dir_all(&download_dir)
        .with_context(|| format!("cannot create {}", download_dir.display()))?;
    let mut transport: Box<dyn Transport> = tokio::task::spawn_blocking(move || {
        FtpsTransport::connect(&config).map(|t| Box::new(t) as Box<dyn Transport>)
    })
    .await??;

    let mut listed = 0;
    // What the site holds now. A `seen` row that is not listed any more (removed, or replaced with
    // another size or time, which is a new row) cannot be fetched: trying would fail every run.
    let mut on_site = std::collections::HashSet::new();
    for dir in &p.dirs {
        let d = dir.clone();
        let (t, files) = blocking(transport, move |t| t.list(&d)).await?;
        transport = t;
        for f in &files {
            on_site.insert((f.dir.clone(), f.name.clone(), f.size as i64, f.modified));
            work.execute(
                "INSERT INTO smt.remote_file (source, directory, name, size_bytes, modified_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (source, directory, name, size_bytes, modified_at) DO NOTHING",
                &[&source, &f.dir, &f.name, &(f.size as i64), &f.modified],
            )
            .await?;
        }
        listed += files.len();
    }
    for row in work
        .query(
            "SELECT directory, name, modified_at FROM smt.stale_remote_file WHERE source = $1",
            &[&source],
        )
        .await?
    {
        let (dir, name, modified): (String, String, Option<DateTime<Utc>>) =
            (row.get(0), row.get(1), row.get(2));
        tracing::warn!(%source, dir, name, ?modified, "remote file older than 7 days is not loaded: SMT deletes it after 10");
    }

    let pending = work
        .query(
            "SELECT remote_file_id, directory, name, size_bytes, modified_at FROM smt.remote_file
              WHERE source = $1 AND state = 'seen' ORDER BY modified_at, name",
            &[&source],
        )
        .await?;
    let mut fetched = 0;
    for row in pending {
        let id: i64 = row.get(0);
        let file = RemoteFile {
            dir: row.get(1),
            name: row.get(2),
            size: row.get::<_, i64>(3) as u64,
            modified: row.get(4),
        };
        let key = (
            file.dir.clone(),
            file.name.clone(),
            file.size as i64,
            file.modified,
        );
        if !on_site.contains(&key) {
            tracing::warn!(%source, dir = file.dir, name = file.name, size = file.size, modified = ?file.modified,
                "not fetched: no longer on the site as listed before (removed or replaced)");
            continue;
        }
        // One local name per remote version (the row id): a resumed .part never mixes two
        // versions of a file, and a hostile remote name cannot leave the download directory.
        let dest = download_dir
            .join(safe(&file.dir))
            .join(format!("{id}-{}", safe(&file.name)));
        std::fs::create_dir_all(dest.parent().expect("has a parent"))?;
        let (t, _) = {
            let (f, d) = (file.clone(), dest.clone());
            blocking(transport, move |t| t.fetch(&f, &d)).await?
        };
        transport = t;
        let digest = ingest::sha256(&ingest::read(&dest)?);
        work.execute(
            "UPDATE smt.remote_file SET state = 'fetched', fetched_at = now(), local_path = $2, sha256 = $3
              WHERE remote_file_id = $1",
            &[&id, &dest.display().to_string(), &digest],
        )
        .await?;
        fetched += 1;
    }
    let loaded = load_fetched(work, &source, settings).await?;
    Ok(summarize(
        &loaded,
        json!({ "listed": listed, "fetched": fetched }),
    ))
}

/// A path component from arbitrary text (source URLs, remote directories).
fn safe(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.trim_matches('_').to_owned()
}
