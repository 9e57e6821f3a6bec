//! What jobs do: bring deliveries in from a source and load them.
//!
//! Every delivery seen is registered by `smt.delivery_seen` (source, directory, name, size, mtime;
//! a local file by `smt.delivery_imported`) and moves seen → fetched (`smt.delivery_fetched`) →
//! loaded (`smt.delivery_loaded`), or to quarantined with its error (`smt.delivery_quarantined`)
//! when it cannot be decrypted, unzipped, read or loaded: it is kept on disk and never blocks the
//! other files; after fixing the cause, an admin queues it again with
//! `SELECT smt.delivery_retry(remote_file_id)` (`smt.stale_remote_file` shows the ids of old ones).
//! Loading a delivery and marking it loaded commit together. A worker lists (`smt.deliveries`)
//! and moves on only the deliveries its own login role registered.
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
use tokio_postgres::{Client, Row};

use crate::ingest::{self, LoadCounts, ReportOutcome};
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

/// A delivery as the `smt.delivery_*` functions return it (the `smt.delivery` type).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub remote_file_id: i64,
    pub source: String,
    pub directory: String,
    pub name: String,
    pub size_bytes: i64,
    pub modified_at: Option<DateTime<Utc>>,
    pub state: String,
    pub local_path: Option<String>,
    pub error: Option<String>,
    pub registered_by: String,
}

impl Delivery {
    /// Reads a row holding the `smt.delivery` columns, by name.
    pub fn from_row(row: &Row) -> Result<Delivery> {
        Ok(Delivery {
            remote_file_id: row.try_get("remote_file_id")?,
            source: row.try_get("source")?,
            directory: row.try_get("directory")?,
            name: row.try_get("name")?,
            size_bytes: row.try_get("size_bytes")?,
            modified_at: row.try_get("modified_at")?,
            state: row.try_get("state")?,
            local_path: row.try_get("local_path")?,
            error: row.try_get("error")?,
            registered_by: row.try_get("registered_by")?,
        })
    }
}

/// A local file to register as a delivery.
#[derive(Debug, Clone)]
pub struct LocalFile<'a> {
    pub source: &'a str,
    pub directory: &'a str,
    pub name: &'a str,
    pub size_bytes: i64,
    pub modified_at: Option<DateTime<Utc>>,
    pub local_path: &'a str,
}

/// Registers a local file straight as fetched (`smt.delivery_imported`). With `retry`, a delivery
/// this role registered before and not loaded is queued again from `local_path` (`smt import` of a
/// file again); without, it is returned as it is (an import_dir job leaves quarantined files
/// alone). A delivery of another login role is always returned as it is.
pub async fn delivery_imported(
    client: &Client,
    f: &LocalFile<'_>,
    retry: bool,
) -> Result<Delivery> {
    let row = client
        .query_one(
            "SELECT * FROM smt.delivery_imported($1, $2, $3, $4, $5, $6, $7)",
            &[
                &f.source,
                &f.directory,
                &f.name,
                &f.size_bytes,
                &f.modified_at,
                &f.local_path,
                &retry,
            ],
        )
        .await
        .with_context(|| format!("registering {}", f.name))?;
    Delivery::from_row(&row)
}

/// The deliveries of `source` in `state` that this login role registered, oldest first.
async fn deliveries(client: &Client, source: &str, state: &str) -> Result<Vec<Delivery>> {
    client
        .query("SELECT * FROM smt.deliveries($1, $2)", &[&source, &state])
        .await
        .with_context(|| format!("listing the {state} deliveries of {source}"))?
        .iter()
        .map(Delivery::from_row)
        .collect()
}

/// Quarantines a delivery (`smt.delivery_quarantined`); false when it is not this role's, or no
/// longer fetched (another worker loaded it meanwhile).
async fn quarantine(
    client: &Client,
    remote_file_id: i64,
    why: &str,
    digest: Option<&[u8]>,
) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT smt.delivery_quarantined($1, $2, $3) AS quarantined",
            &[&remote_file_id, &why, &digest],
        )
        .await?;
    row.try_get("quarantined")
}

/// Unpacks and loads one delivery on disk and marks it loaded, in one transaction. A delivery
/// that cannot be unpacked is quarantined (kept, with its error); a database failure is an error
/// (the run fails and is retried; nothing was committed), and so is a delivery this login role
/// may not mark (registered by another role): its loads are rolled back.
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
            if !quarantine(work, remote_file_id, &why, Some(&digest)).await? {
                tracing::warn!(
                    file = name,
                    "not marked quarantined: not this role's delivery, or loaded meanwhile"
                );
            }
            outcome.quarantined = Some(why);
            return Ok(outcome);
        }
    };
    let tx = work.transaction().await?;
    outcome.reports = ingest::load_reports(&tx, &reports, settings.esiid_mode).await?;
    let file_ids: Vec<i64> = outcome.reports.iter().map(|r| r.file_id).collect();
    let marked: bool = tx
        .query_one(
            "SELECT smt.delivery_loaded($1, $2, $3) AS marked",
            &[&remote_file_id, &file_ids, &digest],
        )
        .await?
        .try_get("marked")?;
    if !marked {
        // Dropping the transaction rolls the loads back.
        bail!(
            "{name}: delivery {remote_file_id} cannot be marked loaded by this login role \
             (registered by another role, or never fetched); nothing was loaded"
        );
    }
    tx.commit().await?;
    Ok(outcome)
}

/// The counts of a run: deliveries, quarantined, reports, already_loaded, every load count
/// ([`LoadCounts::fields`], summed over the reports), then `extra` (listed, fetched).
fn summarize(deliveries: &[DeliveryOutcome], extra: serde_json::Value) -> serde_json::Value {
    let reports = deliveries.iter().flat_map(|d| &d.reports);
    let total: LoadCounts = reports.clone().map(|r| r.counts).sum();
    let mut counts = json!({
        "deliveries": deliveries.len(),
        "quarantined": deliveries.iter().filter(|d| d.quarantined.is_some()).count(),
        "reports": reports.clone().count(),
        "already_loaded": reports.clone().filter(|r| r.already_loaded).count(),
    });
    if let Some(c) = counts.as_object_mut() {
        c.extend(
            total
                .fields()
                .map(|(name, value)| (name.to_owned(), json!(value))),
        );
        if let Some(e) = extra.as_object() {
            c.extend(e.clone());
        }
    }
    counts
}

/// Loads every registered delivery of `source` that is fetched but not yet loaded.
async fn load_fetched(
    work: &mut Client,
    source: &str,
    settings: &Settings,
) -> Result<Vec<DeliveryOutcome>> {
    let mut out = Vec::new();
    for d in deliveries(work, source, "fetched").await? {
        let (id, name) = (d.remote_file_id, d.name);
        let Some(path) = d.local_path else {
            bail!("delivery {id} ({name}) is fetched but has no local path");
        };
        match load_delivery(work, id, Path::new(&path), &name, settings).await {
            Ok(outcome) => out.push(outcome),
            Err(e) => {
                // Its transaction rolled back. Quarantine it so it does not block the deliveries
                // after it; if even that fails the database is unreachable and the run fails.
                let why = format!("{e:#}");
                if !quarantine(work, id, &why, None).await.map_err(|_| e)? {
                    tracing::warn!(
                        file = name,
                        "not marked quarantined: not this role's delivery, or loaded meanwhile"
                    );
                }
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
        let file = LocalFile {
            source: &source,
            directory: &dir.display().to_string(),
            name: &name,
            size_bytes: meta.len() as i64,
            modified_at: modified,
            local_path: &path,
        };
        delivery_imported(work, &file, false).await?;
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
            work.query_one(
                "SELECT remote_file_id FROM smt.delivery_seen($1, $2, $3, $4, $5)",
                &[&source, &f.dir, &f.name, &(f.size as i64), &f.modified],
            )
            .await
            .with_context(|| format!("registering {}/{}", f.dir, f.name))?;
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
        let (dir, name, modified): (String, String, Option<DateTime<Utc>>) = (
            row.try_get("directory")?,
            row.try_get("name")?,
            row.try_get("modified_at")?,
        );
        tracing::warn!(%source, dir, name, ?modified, "remote file older than 7 days is not loaded: SMT deletes it after 10");
    }

    let mut fetched = 0;
    for d in deliveries(work, &source, "seen").await? {
        let id = d.remote_file_id;
        let file = RemoteFile {
            dir: d.directory,
            name: d.name,
            size: d.size_bytes as u64,
            modified: d.modified_at,
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
        let marked: bool = work
            .query_one(
                "SELECT smt.delivery_fetched($1, $2, $3) AS marked",
                &[&id, &dest.display().to_string(), &digest],
            )
            .await?
            .try_get("marked")?;
        if !marked {
            tracing::warn!(%source, dir = file.dir, name = file.name,
                "downloaded, but not marked fetched: no longer seen (another worker of this role fetched it)");
            continue;
        }
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
