//! What jobs do: bring deliveries in from a source and load them.
//!
//! Every delivery seen is registered by `smt.delivery_seen` (source, directory, name, size, mtime;
//! a local file by `smt.delivery_imported`) and moves seen → fetched (`smt.delivery_fetched`) →
//! loaded (`smt.delivery_loaded`), or to quarantined with its error (`smt.delivery_quarantined`)
//! when it cannot be decrypted, unzipped, read or loaded: it is kept on disk and never blocks the
//! other files; after fixing the cause, an admin queues it again with
//! `smt deliveries retry ID` (`SELECT smt.delivery_retry(remote_file_id)`; `smt status` lists the
//! quarantined ones with their ids).
//! Loading a delivery and marking it loaded commit together. A worker lists (`smt.deliveries`)
//! and moves on only the deliveries its own login role registered.
//!
//! Kinds: `import_dir` (files dropped into a local directory) and `ftps_fetch` (SMT's FTPS site,
//! through the [`Transport`] trait, so SFTP can follow).
//!
//! # What a job may say
//!
//! Whoever can write `smt.job` is not trusted with the worker's secrets, files or network: a job's
//! params only *name* a source that the worker's own configuration file defines
//! ([`crate::config`]: `[ftps.NAME]`, `[import_dirs]`), and a worker runs a job only on a source
//! its configuration has. ftps_fetch takes `{"source": NAME, "dirs": [remote directories]}`,
//! import_dir takes `{"source": NAME}`; any other key (a host, a user, an environment variable, a
//! key or certificate file, a local directory, a TLS switch, a timeout) is refused with an error
//! naming it, before anything is read or contacted ([`JobParams`]).
//!
//! Downloads are private to the worker's user (directories 0700, files 0600) and deleted
//! `retention_days` after they were downloaded once they are loaded or quarantined.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use smt_core::EsiidMode;
use tokio::io::AsyncReadExt;
use tokio_postgres::{Client, Row};

use crate::config::{FtpsSite, KeepDeliveries, SftpSite, SmtApiSite, SoapApiSite};
use crate::ingest::{self, LoadCounts, LoadError, ReportOutcome};
use crate::jobs::ClaimedRun;
use crate::pgp::Keyring;
use crate::requests::SmtApiParams;
use crate::soap_api::SoapApiParams;
use crate::transport::ftps::{FtpsConfig, FtpsTransport};
use crate::transport::{HostKeyCheck, RemoteFile, SftpAuth, SftpConfig, SftpTransport, Transport};

/// What every job run needs besides its own parameters: all from the worker's configuration.
pub struct Settings {
    pub keyring: Option<Arc<Keyring>>,
    pub esiid_mode: EsiidMode,
    pub keep_deliveries: KeepDeliveries,
    pub download_dir: PathBuf,
    /// How long a loaded or quarantined download is kept (by its modification time).
    pub retention: Duration,
    /// The FTPS sites ftps_fetch jobs may name.
    pub ftps: std::collections::BTreeMap<String, FtpsSite>,
    /// The local directories import_dir jobs may name.
    pub import_dirs: std::collections::BTreeMap<String, PathBuf>,
    /// The SFTP sites sftp_fetch jobs may name.
    pub sftp: std::collections::BTreeMap<String, SftpSite>,
    /// The SMT JSON API accounts smt_api jobs may name.
    pub smt_api: std::collections::BTreeMap<String, SmtApiSite>,
    /// The SMT SOAP API accounts soap_api jobs may name.
    pub soap_api: std::collections::BTreeMap<String, SoapApiSite>,
}

impl Settings {
    fn ftps_site(&self, name: &str) -> Result<&FtpsSite> {
        self.ftps.get(name).with_context(|| {
            format!(
                "ftps_fetch: this worker's config file defines no FTPS site {name:?} \
                 (add [ftps.{name}] to it){}",
                configured(self.ftps.keys())
            )
        })
    }

    fn sftp_site(&self, name: &str) -> Result<&SftpSite> {
        self.sftp.get(name).with_context(|| {
            format!(
                "sftp_fetch: this worker's config file defines no SFTP site {name:?} \
                 (add [sftp.{name}] to it){}",
                configured(self.sftp.keys())
            )
        })
    }

    pub fn smt_api_site(&self, name: &str) -> Result<&SmtApiSite> {
        self.smt_api.get(name).with_context(|| {
            format!(
                "smt_api: this worker's config file defines no SMT API account {name:?} \
                 (add [smt_api.{name}] to it){}",
                configured(self.smt_api.keys())
            )
        })
    }

    pub fn soap_api_site(&self, name: &str) -> Result<&SoapApiSite> {
        self.soap_api.get(name).with_context(|| {
            format!(
                "soap_api: this worker's config file defines no SMT SOAP API account {name:?} \
                 (add [soap_api.{name}] to it){}",
                configured(self.soap_api.keys())
            )
        })
    }

    fn import_dir(&self, name: &str) -> Result<&Path> {
        self.import_dirs
            .get(name)
            .map(PathBuf::as_path)
            .with_context(|| {
                format!(
                    "import_dir: this worker's config file defines no import directory {name:?} \
                     (add {name} = \"/path\" under [import_dirs]){}",
                    configured(self.import_dirs.keys())
                )
            })
    }
}

fn configured<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<String> = names.map(|n| format!("{n:?}")).collect();
    if names.is_empty() {
        "; it defines none".to_owned()
    } else {
        format!("; it defines {}", names.join(", "))
    }
}

/// The params of a job kind: the only keys a job row may set. Everything else about a source is
/// the worker's configuration.
pub trait JobParams: DeserializeOwned {
    const KIND: &'static str;
    /// Every key the params may hold.
    const KEYS: &'static [&'static str];
    /// Where the worker's config file defines the sources this kind names.
    const CONFIGURED_IN: &'static str;
    const EXAMPLE: &'static str;
    /// What a job of this kind does, for `smt jobs add --help`.
    const ABOUT: &'static str;
    /// Every key of [`Self::KEYS`] with what it means, for `smt jobs add --help`.
    const KEY_HELP: &'static [(&'static str, &'static str)];
}

/// The params of every built-in kind, key by key, with an example each: the long help of
/// `smt jobs add --params`.
pub fn params_help() -> String {
    fn kind<P: JobParams>(out: &mut String) {
        out.push_str(&format!("\n{}: {}\n", P::KIND, P::ABOUT));
        let width = P::KEY_HELP.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (key, about) in P::KEY_HELP {
            out.push_str(&format!("    {key:width$}  {about}\n"));
        }
        out.push_str(&format!("    e.g. --params '{}'\n", P::EXAMPLE));
    }
    let mut out = String::from(
        "Job settings as JSON: the name of a source the worker's config file defines (see `smt \
         run --help`), and for ftps_fetch the remote directories. Hosts, users, passwords, key \
         and certificate files, local paths and TLS settings are not accepted here, nor any key \
         that looks like a secret.\n",
    );
    kind::<SftpParams>(&mut out);
    kind::<FtpsParams>(&mut out);
    kind::<ImportDirParams>(&mut out);
    kind::<SmtApiParams>(&mut out);
    kind::<SoapApiParams>(&mut out);
    out.push_str(
        "\nA kind a DBA registered takes what its own worker reads; it is not checked here.",
    );
    out
}

/// Reads a job's params, refusing (naming it) any key the kind does not take.
pub fn parse_params<P: JobParams>(params: &serde_json::Value) -> Result<P> {
    let Some(object) = params.as_object() else {
        bail!(
            "{} params must be a JSON object such as {}",
            P::KIND,
            P::EXAMPLE
        );
    };
    if let Some(key) = object.keys().find(|k| !P::KEYS.contains(&k.as_str())) {
        bail!(
            "{kind} params: {key:?} is not accepted in a job: hosts, users, passwords and the \
             environment variables holding them, key and certificate files, local paths and TLS \
             settings are configured in the worker's config file ({configured_in}), by whoever \
             runs the worker; a job only names a configured source. {kind} params take {keys}, \
             e.g. {example}",
            kind = P::KIND,
            configured_in = P::CONFIGURED_IN,
            keys = P::KEYS.join(", "),
            example = P::EXAMPLE,
        );
    }
    serde_json::from_value(params.clone()).with_context(|| {
        format!(
            "{} params (expected something like {})",
            P::KIND,
            P::EXAMPLE
        )
    })
}

/// Checks the params of a built-in kind without running anything (for `smt jobs add`); other
/// kinds are not checked here.
pub fn check_params(kind: &str, params: &serde_json::Value) -> Result<()> {
    match kind {
        ImportDirParams::KIND => parse_params::<ImportDirParams>(params).map(drop),
        FtpsParams::KIND => parse_params::<FtpsParams>(params).map(drop),
        SftpParams::KIND => parse_params::<SftpParams>(params).map(drop),
        SmtApiParams::KIND => parse_params::<SmtApiParams>(params).map(drop),
        SoapApiParams::KIND => parse_params::<SoapApiParams>(params).map(drop),
        _ => Ok(()),
    }
}

/// Words that make a params key look like a secret (lowercased, anywhere in the key), besides
/// `key` as a word ([`secret_looking_key`]).
pub const SECRET_WORDS: [&str; 7] = [
    "passw",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "credential",
    "private",
];

/// Whether a params key looks like it names a secret: its lowercase form contains one of
/// [`SECRET_WORDS`], or `key` not followed by a letter (`key`, `client_key`, `apiKey`,
/// `key_file`; not `keyring`, `keys`). The same rule in SQL: the key matches
/// `passw|passphrase|pwd|secret|token|credential|private|key([^a-z]|$)`, case-insensitively.
pub fn secret_looking_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| k.contains(w))
        || k.match_indices("key")
            .any(|(i, _)| !k[i + 3..].starts_with(|c: char| c.is_ascii_lowercase()))
}

/// Where `params` holds something that looks like a secret: a key (at any depth, in objects
/// within arrays too) that [`secret_looking_key`] flags, or a string value holding
/// `PRIVATE KEY` (any case: PEM and OpenPGP private key blocks). Returns its path
/// (`params.site.password`), never the value.
pub fn secret_looking(params: &serde_json::Value) -> Option<String> {
    fn walk(v: &serde_json::Value, path: &str) -> Option<String> {
        match v {
            serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
                let here = format!("{path}.{k}");
                if secret_looking_key(k) {
                    Some(here)
                } else {
                    walk(v, &here)
                }
            }),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk(v, &format!("{path}[{i}]"))),
            serde_json::Value::String(s) => s
                .to_ascii_lowercase()
                .contains("private key")
                .then(|| path.to_owned()),
            _ => None,
        }
    }
    walk(params, "params")
}

pub async fn execute(
    work: &mut Client,
    run: &ClaimedRun,
    settings: &Settings,
) -> Result<serde_json::Value> {
    match run.kind.as_str() {
        ImportDirParams::KIND => import_dir(work, parse_params(&run.params)?, settings).await,
        FtpsParams::KIND => ftps_fetch(work, parse_params(&run.params)?, settings).await,
        SftpParams::KIND => sftp_fetch(work, parse_params(&run.params)?, settings).await,
        SoapApiParams::KIND => {
            crate::soap_api::run(work, parse_params(&run.params)?, settings).await
        }
        SmtApiParams::KIND => {
            crate::requests::run(work, parse_params(&run.params)?, settings).await
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

/// Unpacks and loads one delivery on disk and marks it loaded, in one transaction, streaming it
/// (see [`ingest`]: memory stays bounded whatever its size). A delivery that cannot be unpacked
/// (no key, corrupt, a zip bomb, found wrong halfway through) is quarantined with why, and
/// nothing of it stays loaded; a database failure is an error (the run fails and is retried;
/// nothing was committed), and so is a delivery this login role may not mark (registered by
/// another role): its loads are rolled back.
///
/// Loads run concurrently with other workers' and connections' loads; one that raced another
/// over the same ESIID-channel-day (SQLSTATE 40001, or a deadlock, 40P01) was undone whole by the
/// database and is loaded again, against what is stored then, up to [`LOAD_ATTEMPTS`] times.
pub async fn load_delivery(
    work: &mut Client,
    remote_file_id: i64,
    path: &Path,
    name: &str,
    settings: &Settings,
) -> Result<DeliveryOutcome> {
    let mut attempt = 1;
    loop {
        match load_delivery_once(work, remote_file_id, path, name, settings).await {
            Err(e) if attempt < LOAD_ATTEMPTS && is_load_race(&e) => {
                let pause = crate::jobs::backoff(
                    attempt,
                    Duration::from_millis(50),
                    Duration::from_secs(5),
                );
                tracing::info!(
                    file = name,
                    attempt,
                    "raced another load over the same days ({e:#}); loading it again in {pause:?}"
                );
                tokio::time::sleep(pause).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// How many times [`load_delivery`] tries a delivery that keeps racing other loads.
pub const LOAD_ATTEMPTS: u32 = 8;

/// True when `e` says the load was undone because it raced another: serialization_failure
/// (40001, raised by the merge) or deadlock_detected (40P01).
pub fn is_load_race(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<tokio_postgres::Error>()
            .and_then(|pg| pg.code())
            .is_some_and(|code| {
                *code == tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                    || *code == tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED
            })
    })
}

async fn load_delivery_once(
    work: &mut Client,
    remote_file_id: i64,
    path: &Path,
    name: &str,
    settings: &Settings,
) -> Result<DeliveryOutcome> {
    let digest = ingest::file_sha256(path).await?;
    let mut outcome = DeliveryOutcome {
        name: name.to_owned(),
        ..Default::default()
    };
    let pieces = ingest::spawn_unpack(
        path.to_owned(),
        name.to_owned(),
        settings.keyring.clone(),
        ingest::PART_BYTES,
        settings.esiid_mode,
    );
    let tx = work.transaction().await?;
    let reports = match ingest::load_pieces(&tx, pieces, settings.esiid_mode).await {
        Ok(reports) => reports,
        Err(LoadError::Unpack(e)) => {
            // Whatever of it was loaded goes with the transaction.
            drop(tx);
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
        Err(LoadError::Database(e)) => return Err(e),
    };
    outcome.reports = reports;
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
    if settings.keep_deliveries == KeepDeliveries::Database {
        // After the load's commit: keeping the raw record never holds up or undoes a load; a
        // delivery that could not be kept stays in the download directory.
        if let Err(e) = keep_delivery(work, remote_file_id, path).await {
            tracing::warn!(
                file = name,
                "loaded, but not kept as received in the database (smt.delivery_keep): {e:#}"
            );
        }
    }
    Ok(outcome)
}

/// Keeps a loaded delivery's bytes as received in smt.delivery_content, in parts, in one
/// transaction of its own.
async fn keep_delivery(work: &mut Client, remote_file_id: i64, path: &Path) -> Result<()> {
    let mut file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    let tx = work.transaction().await?;
    let mut part = 0i32;
    loop {
        let mut buf = Vec::with_capacity(ingest::PART_BYTES);
        let n = (&mut file)
            .take(ingest::PART_BYTES as u64)
            .read_to_end(&mut buf)
            .await?;
        if n == 0 && part > 0 {
            break;
        }
        let kept: bool = tx
            .query_one(
                "SELECT smt.delivery_keep($1, $2, $3) AS kept",
                &[&remote_file_id, &part, &buf],
            )
            .await?
            .try_get("kept")?;
        if !kept {
            bail!("delivery {remote_file_id} is not this login role's");
        }
        part += 1;
        if n < ingest::PART_BYTES {
            break;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The counts of a run: deliveries, quarantined, reports, already_loaded, every load count
/// ([`LoadCounts::fields`], summed over the reports), then `extra` (listed, fetched).
pub fn summarize(deliveries: &[DeliveryOutcome], extra: serde_json::Value) -> serde_json::Value {
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

/// import_dir params: `{"source": NAME}`, NAME under `[import_dirs]` in the worker's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportDirParams {
    pub source: String,
}

impl JobParams for ImportDirParams {
    const KIND: &'static str = "import_dir";
    const KEYS: &'static [&'static str] = &["source"];
    const CONFIGURED_IN: &'static str = "[import_dirs] NAME = \"/path\"";
    const EXAMPLE: &'static str = r#"{"source": "inbox"}"#;
    const ABOUT: &'static str = "load every file in a local directory (not hidden, not .part) once";
    const KEY_HELP: &'static [(&'static str, &'static str)] = &[(
        "source",
        "required: a name under [import_dirs] in the worker's config file",
    )];
}

/// Every file in a configured local directory (not hidden, not `.part`), each loaded once.
pub async fn import_dir(
    work: &mut Client,
    p: ImportDirParams,
    settings: &Settings,
) -> Result<serde_json::Value> {
    let configured = settings.import_dir(&p.source)?;
    let dir = std::fs::canonicalize(configured).with_context(|| {
        format!(
            "import_dir {:?}: {}",
            p.source,
            crate::text::printable(&configured.display().to_string())
        )
    })?;
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

/// ftps_fetch params: `{"source": NAME, "dirs": ["/reports"]}`, NAME under `[ftps.NAME]` in the
/// worker's config; `dirs` are directories on that site (default `["/"]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FtpsParams {
    pub source: String,
    #[serde(default = "default_dirs")]
    pub dirs: Vec<String>,
}

impl JobParams for FtpsParams {
    const KIND: &'static str = "ftps_fetch";
    const KEYS: &'static [&'static str] = &["source", "dirs"];
    const CONFIGURED_IN: &'static str = "[ftps.NAME]";
    const EXAMPLE: &'static str = r#"{"source": "smt-ftps", "dirs": ["/reports"]}"#;
    const ABOUT: &'static str =
        "download every new file from an SMT FTPS site, decrypt, unzip and load it";
    const KEY_HELP: &'static [(&'static str, &'static str)] = &[
        (
            "source",
            "required: the NAME of an [ftps.NAME] site in the worker's config file (host, user, \
             credentials, certificates)",
        ),
        (
            "dirs",
            "remote directories to list, a JSON array (default [\"/\"])",
        ),
    ];
}

fn default_dirs() -> Vec<String> {
    vec!["/".into()]
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
    let site = settings.ftps_site(&p.source)?;
    let password = std::env::var(&site.password_env).with_context(|| {
        format!(
            "ftps_fetch {:?}: the password is read from ${}, which is not set",
            p.source, site.password_env
        )
    })?;
    let source = format!("ftps://{}@{}:{}", site.user, site.host, site.port);
    let config = FtpsConfig {
        host: site.host.clone(),
        port: site.port,
        user: site.user.clone(),
        password,
        ca_file: site.ca_file.clone(),
        client_cert: site.client_cert.clone(),
        client_key: site.client_key.clone(),
        insecure_skip_verify: site.insecure_skip_verify,
        timeout: std::time::Duration::from_secs(site.timeout_seconds),
    };
    let download_dir = site
        .download_dir
        .clone()
        .unwrap_or_else(|| settings.download_dir.join(safe(&source)));
    let connect =
        move || FtpsTransport::connect(&config).map(|t| Box::new(t) as Box<dyn Transport>);
    fetch_site(work, &source, &download_dir, &p.dirs, connect, settings).await
}

/// sftp_fetch params: `{"source": NAME, "dirs": [...]}`, NAME under `[sftp.NAME]` in the worker's
/// config; `dirs` are directories on that site (default SMT's `["/adhocusage", "/EnrollmentReports"]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftpParams {
    pub source: String,
    #[serde(default = "default_sftp_dirs")]
    pub dirs: Vec<String>,
}

impl JobParams for SftpParams {
    const KIND: &'static str = "sftp_fetch";
    const KEYS: &'static [&'static str] = &["source", "dirs"];
    const CONFIGURED_IN: &'static str = "[sftp.NAME]";
    const EXAMPLE: &'static str = r#"{"source": "smt-sftp", "dirs": ["/adhocusage"]}"#;
    const ABOUT: &'static str =
        "download every new file from an SMT SFTP site, decrypt, unzip and load it";
    const KEY_HELP: &'static [(&'static str, &'static str)] = &[
        (
            "source",
            "required: the NAME of an [sftp.NAME] site in the worker's config file (host, user, \
             key or password, known_hosts)",
        ),
        (
            "dirs",
            "remote directories to list, a JSON array (default [\"/adhocusage\", \
             \"/EnrollmentReports\"])",
        ),
    ];
}

fn default_sftp_dirs() -> Vec<String> {
    vec!["/adhocusage".into(), "/EnrollmentReports".into()]
}

/// Lists the configured directories of an SFTP site, downloads every file not fetched before,
/// loads them.
pub async fn sftp_fetch(
    work: &mut Client,
    p: SftpParams,
    settings: &Settings,
) -> Result<serde_json::Value> {
    let site = settings.sftp_site(&p.source)?;
    let secret = |var: &str, what: &str| {
        std::env::var(var).with_context(|| {
            format!(
                "sftp_fetch {:?}: the {what} is read from ${var}, which is not set",
                p.source
            )
        })
    };
    let auth = match (&site.key_file, &site.password_env) {
        (Some(path), _) => SftpAuth::Key {
            path: path.clone(),
            passphrase: match &site.key_passphrase_env {
                Some(var) => Some(secret(var, "key's passphrase")?),
                None => None,
            },
        },
        (None, Some(var)) => SftpAuth::Password(secret(var, "password")?),
        (None, None) => bail!(
            "sftp_fetch {:?}: [sftp.{}] names neither key_file nor password_env",
            p.source,
            p.source
        ),
    };
    let host_key = if site.accept_any_host_key {
        tracing::warn!(site = %p.source, "[sftp.{}] accept_any_host_key = true: the server's host key is NOT checked", p.source);
        HostKeyCheck::AcceptAny
    } else {
        HostKeyCheck::KnownHosts(site.known_hosts_file()?)
    };
    let config = SftpConfig {
        host: site.host.clone(),
        port: site.port,
        user: site.user.clone(),
        auth,
        host_key,
        timeout: std::time::Duration::from_secs(site.timeout_seconds),
    };
    let source = format!("sftp://{}@{}:{}", site.user, site.host, site.port);
    let download_dir = site
        .download_dir
        .clone()
        .unwrap_or_else(|| settings.download_dir.join(safe(&source)));
    let connect =
        move || SftpTransport::connect(&config).map(|t| Box::new(t) as Box<dyn Transport>);
    fetch_site(work, &source, &download_dir, &p.dirs, connect, settings).await
}

/// What every remote site's job does once connected: lists `dirs`, registers what it sees,
/// downloads each file not fetched before (resuming a broken download, never loading half a
/// file), and loads them; old downloads are expired first.
async fn fetch_site(
    work: &mut Client,
    source: &str,
    download_dir: &Path,
    dirs: &[String],
    connect: impl FnOnce() -> Result<Box<dyn Transport>> + Send + 'static,
    settings: &Settings,
) -> Result<serde_json::Value> {
    let source = source.to_owned();
    let download_dir = download_dir.to_owned();
    private_dir(&download_dir)?;
    let deleted = expire_downloads(work, &source, &download_dir, settings.retention).await?;
    let mut transport: Box<dyn Transport> = tokio::task::spawn_blocking(connect).await??;

    let mut listed = 0;
    // What the site holds now. A `seen` row that is not listed any more (removed, or replaced with
    // another size or time, which is a new row) cannot be fetched: trying would fail every run.
    let mut on_site = std::collections::HashSet::new();
    for dir in dirs {
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
        private_dir(dest.parent().expect("has a parent"))?;
        let (t, _) = {
            let (f, d) = (file.clone(), dest.clone());
            blocking(transport, move |t| t.fetch(&f, &d)).await?
        };
        transport = t;
        let digest = ingest::file_sha256(&dest).await?;
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
        json!({ "listed": listed, "fetched": fetched, "downloads_deleted": deleted }),
    ))
}

/// A path component from arbitrary text (source URLs, remote directories).
pub fn safe(text: &str) -> String {
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

/// Creates `dir` (and its missing parents) readable by the worker's user only (0700), and makes
/// an existing one so.
pub fn private_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private (0700)", dir.display()))
}

/// Deletes the downloads of `source` (this role's loaded and quarantined deliveries, files under
/// `download_dir` only) last modified more than `retention` ago. Returns how many.
async fn expire_downloads(
    work: &Client,
    source: &str,
    download_dir: &Path,
    retention: Duration,
) -> Result<usize> {
    let cutoff = SystemTime::now()
        .checked_sub(retention)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut deleted = 0;
    for state in ["loaded", "quarantined"] {
        for d in deliveries(work, source, state).await? {
            let Some(local) = d.local_path else {
                continue;
            };
            let path = Path::new(&local);
            // A row says where the file is; only a file this worker downloaded is deleted.
            if !path.starts_with(download_dir)
                || path.components().any(|c| c == Component::ParentDir)
            {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(path) else {
                continue; // gone already
            };
            if !meta.is_file() || meta.modified().map_or(true, |m| m > cutoff) {
                continue;
            }
            match std::fs::remove_file(path) {
                Ok(()) => {
                    deleted += 1;
                    tracing::debug!(%source, path = %path.display(), state, "deleted a download past retention_days");
                }
                Err(e) => {
                    tracing::warn!(%source, path = %path.display(), "cannot delete a download past retention_days: {e}")
                }
            }
        }
    }
    if deleted > 0 {
        tracing::info!(%source, deleted, "deleted downloads past retention_days");
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::struct_fields;

    /// The keys a kind accepts, documents and deserializes are the same (read from the struct).
    fn keys_agree<P: JobParams>() {
        let mut fields = struct_fields::<P>().to_vec();
        let mut keys = P::KEYS.to_vec();
        let mut documented: Vec<&str> = P::KEY_HELP.iter().map(|(k, _)| *k).collect();
        fields.sort_unstable();
        keys.sort_unstable();
        documented.sort_unstable();
        assert_eq!(keys, fields, "{}: KEYS vs the struct", P::KIND);
        assert_eq!(documented, fields, "{}: KEY_HELP vs the struct", P::KIND);
        let help = params_help();
        assert!(
            help.contains(P::KIND) && help.contains(P::EXAMPLE),
            "{help}"
        );
    }

    #[test]
    fn params_keys_are_documented() {
        keys_agree::<FtpsParams>();
        keys_agree::<ImportDirParams>();
    }
}
