//! One local file into the database, exactly once.
//!
//! A delivery is unpacked (OpenPGP-decrypted if it is encrypted, unzipped if it is a zip: each
//! member is one report), then every report is parsed by smt-core and binary-COPYed into the
//! extension's staging table and merged with the replacement rule (smt.begin_file,
//! smt.create_stage, COPY pg_temp.smt_stage, smt.merge_stage). All reports of a delivery load in
//! the caller's single transaction, together with the caller's own bookkeeping (the remote-file
//! row), so a crash at any point leaves the delivery fully loaded or not at all; a report whose
//! content (sha256) is already registered is skipped, so a restart doubles nothing.

use std::path::Path;

use anyhow::{Context, Result};
use futures_util::pin_mut;
use sha2::{Digest, Sha256};
use smt_core::storage;
use smt_core::{format, EsiidMode, Format};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Transaction;

use crate::pgp::{self, Keyring};
use crate::unzip::{self, Member};

/// Why a delivery could not be unpacked: it is quarantined with this, never retried blindly.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error(
        "{0} is OpenPGP-encrypted but no secret key is configured (pgp.secret_key / --pgp-key)"
    )]
    NoKey(String),
    #[error("{0}: cannot decrypt: {1}")]
    Decrypt(String, pgp::PgpError),
    #[error("{0}: cannot unzip: {1}")]
    Unzip(String, unzip::UnzipError),
}

/// The reports in a delivery, decrypted and unzipped.
pub fn unpack(
    name: &str,
    bytes: Vec<u8>,
    keyring: Option<&Keyring>,
) -> Result<Vec<Member>, UnpackError> {
    let plain = if pgp::looks_encrypted(&bytes) {
        let keyring = keyring.ok_or_else(|| UnpackError::NoKey(name.to_owned()))?;
        let mut out = Vec::with_capacity(bytes.len() * 4);
        pgp::decrypt(keyring, &bytes[..], &mut out)
            .map_err(|e| UnpackError::Decrypt(name.to_owned(), e))?;
        out
    } else {
        bytes
    };
    if unzip::looks_zipped(&plain) {
        return unzip::members(&plain).map_err(|e| UnpackError::Unzip(name.to_owned(), e));
    }
    // A plain report keeps the delivery's name without encryption suffixes.
    let inner = [".asc", ".pgp", ".gpg"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    Ok(vec![Member {
        name: inner.to_owned(),
        data: plain,
    }])
}

/// What loading one report did (the counts smt.merge_stage returns).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReportOutcome {
    pub name: String,
    pub file_id: i64,
    pub format: Option<String>,
    pub already_loaded: bool,
    /// Set when the report is not a usage file we can load (kept in smt.file as failed).
    pub failed: Option<String>,
    pub records: i32,
    pub inserted: i32,
    pub replaced: i32,
    pub stale: i32,
    pub identical: i32,
    pub conflicts: i32,
    pub rejected: i32,
}

/// Loads the reports of one delivery inside `tx`. The caller commits.
pub async fn load_reports(
    tx: &Transaction<'_>,
    reports: &[Member],
    esiid_mode: EsiidMode,
) -> Result<Vec<ReportOutcome>> {
    let mut outcomes = Vec::with_capacity(reports.len());
    for report in reports {
        outcomes.push(
            load_report(tx, report, esiid_mode)
                .await
                .with_context(|| format!("loading {}", report.name))?,
        );
    }
    Ok(outcomes)
}

async fn load_report(
    tx: &Transaction<'_>,
    report: &Member,
    esiid_mode: EsiidMode,
) -> Result<ReportOutcome> {
    let digest = Sha256::digest(&report.data).to_vec();
    let detected = format::detect(&report.data[..report.data.len().min(64 * 1024)]);
    let row = tx
        .query_one(
            "SELECT file_id, already_loaded FROM smt.begin_file($1, $2, $3, $4)",
            &[
                &digest,
                &report.name,
                &detected.map(Format::name),
                &report.data,
            ],
        )
        .await?;
    let mut outcome = ReportOutcome {
        name: report.name.clone(),
        file_id: row.get(0),
        format: detected.map(|f| f.name().to_owned()),
        already_loaded: row.get(1),
        ..Default::default()
    };
    if outcome.already_loaded {
        return Ok(outcome);
    }
    let Some(format) = detected.filter(|f| f.has_intervals()) else {
        let reason = match detected {
            Some(f) => format!("{f} reports are not loaded yet (only LSE and SMT interval CSV)"),
            None => "not an LSE or SMT CSV report (unknown content)".to_owned(),
        };
        tx.execute("SELECT smt.fail_file($1, $2)", &[&outcome.file_id, &reason])
            .await?;
        outcome.failed = Some(reason);
        return Ok(outcome);
    };
    tx.execute("SELECT smt.create_stage()", &[]).await?;
    copy_stage(tx, &report.data, format, esiid_mode).await?;
    let m = tx
        .query_one("SELECT * FROM smt.merge_stage($1)", &[&outcome.file_id])
        .await?;
    (
        outcome.records,
        outcome.inserted,
        outcome.replaced,
        outcome.stale,
    ) = (m.get(0), m.get(1), m.get(2), m.get(3));
    (outcome.identical, outcome.conflicts, outcome.rejected) = (m.get(4), m.get(5), m.get(6));
    Ok(outcome)
}

const STAGE_COLUMNS: &str =
    "role, esiid, channel, day, revision, first_start, interval_seconds, scale, units, \
                             kwh_exact, status, transaction_id, line, field, kind, reason, raw";
const STAGE_TYPES: [Type; 17] = [
    Type::TEXT,
    Type::TEXT,
    Type::INT2,
    Type::DATE,
    Type::TIMESTAMPTZ,
    Type::TIMESTAMPTZ,
    Type::INT4,
    Type::INT2,
    Type::INT4_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
];

/// Streams the report's records (and rejects) into pg_temp.smt_stage with a binary COPY: one
/// record in memory at a time.
async fn copy_stage(
    tx: &Transaction<'_>,
    data: &[u8],
    format: Format,
    esiid_mode: EsiidMode,
) -> Result<()> {
    let sink = tx
        .copy_in(&format!(
            "COPY pg_temp.smt_stage ({STAGE_COLUMNS}) FROM STDIN (FORMAT binary)"
        ))
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &STAGE_TYPES);
    pin_mut!(writer);
    let records = smt_core::interval_records(data, format, esiid_mode).expect("interval format");
    for item in records {
        match item {
            Ok(r) => {
                let enc = storage::encode(&r.intervals);
                let (scale, units, exact) = match enc.values {
                    storage::Values::Scaled { scale, units } => {
                        (i16::from(scale), Some(units), None)
                    }
                    storage::Values::Exact(v) => (
                        0,
                        None,
                        Some(
                            v.iter()
                                .map(|d| d.map(|d| d.to_string()))
                                .collect::<Vec<_>>(),
                        ),
                    ),
                };
                let row: [&(dyn ToSql + Sync); 17] = [
                    &"record",
                    &r.esiid,
                    &i16::from(r.channel),
                    &r.day,
                    &r.revision,
                    &r.start,
                    &(r.interval_seconds as i32),
                    &scale,
                    &units,
                    &exact,
                    &enc.status,
                    &r.transaction_id,
                    &(r.line as i64),
                    &None::<String>,
                    &None::<String>,
                    &None::<String>,
                    &None::<String>,
                ];
                writer.as_mut().write(&row).await?;
            }
            Err(e) => {
                let none_text = None::<String>;
                let row: [&(dyn ToSql + Sync); 17] = [
                    &"reject",
                    &none_text,
                    &None::<i16>,
                    &None::<chrono::NaiveDate>,
                    &None::<chrono::DateTime<chrono::Utc>>,
                    &None::<chrono::DateTime<chrono::Utc>>,
                    &None::<i32>,
                    &None::<i16>,
                    &None::<Vec<Option<i32>>>,
                    &None::<Vec<Option<String>>>,
                    &none_text,
                    &none_text,
                    &(e.line as i64),
                    &e.field,
                    &e.kind.name(),
                    &e.reason,
                    &e.raw,
                ];
                writer.as_mut().write(&row).await?;
            }
        }
    }
    writer.finish().await?;
    Ok(())
}

/// sha256 of a file's bytes, as stored in smt.remote_file.
pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// Reads a local delivery; the error names the file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
