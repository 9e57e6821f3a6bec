//! One local file into the database, exactly once.
//!
//! A delivery is unpacked (OpenPGP-decrypted if it is encrypted, unzipped if it is a zip: each
//! member is one report), then every report goes to the database through `smt.load`, which
//! registers, parses and merges it with the replacement rule. All reports of a delivery load in
//! the caller's single transaction, together with the caller's own bookkeeping (the remote-file
//! row), so a crash at any point leaves the delivery fully loaded or not at all; a report whose
//! content (sha256) is already registered is skipped, so a restart doubles nothing.

use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use smt_core::EsiidMode;
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
    #[error("{0} is {1} bytes, more than the {max} a report may have to be stored in PostgreSQL", max = unzip::MAX_STORABLE_REPORT)]
    TooLarge(String, u64),
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
    if plain.len() as u64 > unzip::MAX_STORABLE_REPORT {
        return Err(UnpackError::TooLarge(name.to_owned(), plain.len() as u64));
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

/// The counts of one load, as the extension returns them (the columns of `smt.load_result`, also
/// kept per file in the registry). The one definition of this shape on the Rust side: outputs and
/// job counts are built from it, so no count can be left out of one of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoadCounts {
    pub records: i64,
    pub inserted: i64,
    pub replaced: i64,
    pub stale: i64,
    pub identical: i64,
    pub conflicts: i64,
    pub rejected: i64,
}

impl LoadCounts {
    /// The column names, in the order `smt.load_result` has them.
    pub const COLUMNS: [&'static str; 7] = [
        "records",
        "inserted",
        "replaced",
        "stale",
        "identical",
        "conflicts",
        "rejected",
    ];

    /// Reads the counts from a row holding the `smt.load_result` columns (by name).
    pub fn from_row(row: &tokio_postgres::Row) -> Result<LoadCounts> {
        let get = |name: &str| -> Result<i64> {
            Ok(i64::from(row.try_get::<_, i32>(name).with_context(
                || format!("the load result has no integer column {name}"),
            )?))
        };
        Ok(LoadCounts {
            records: get("records")?,
            inserted: get("inserted")?,
            replaced: get("replaced")?,
            stale: get("stale")?,
            identical: get("identical")?,
            conflicts: get("conflicts")?,
            rejected: get("rejected")?,
        })
    }

    /// The counts as (name, value) pairs in column order, for tables and JSON.
    pub fn fields(&self) -> [(&'static str, i64); 7] {
        let v = [
            self.records,
            self.inserted,
            self.replaced,
            self.stale,
            self.identical,
            self.conflicts,
            self.rejected,
        ];
        std::array::from_fn(|i| (Self::COLUMNS[i], v[i]))
    }
}

impl std::ops::AddAssign for LoadCounts {
    fn add_assign(&mut self, o: LoadCounts) {
        self.records += o.records;
        self.inserted += o.inserted;
        self.replaced += o.replaced;
        self.stale += o.stale;
        self.identical += o.identical;
        self.conflicts += o.conflicts;
        self.rejected += o.rejected;
    }
}

impl std::iter::Sum for LoadCounts {
    fn sum<I: Iterator<Item = LoadCounts>>(iter: I) -> LoadCounts {
        let mut total = LoadCounts::default();
        for c in iter {
            total += c;
        }
        total
    }
}

/// What loading one report did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReportOutcome {
    pub name: String,
    pub file_id: i64,
    pub format: Option<String>,
    pub already_loaded: bool,
    /// Set when the report is not a usage file we can load (kept in the registry as failed).
    pub failed: Option<String>,
    #[serde(flatten)]
    pub counts: LoadCounts,
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

/// One report through the extension's only loading door, `smt.load`: the database digests the
/// bytes, registers and keeps them, parses them with the same smt-core code and merges them with
/// the replacement rule. Nothing the worker computes is trusted for any of that.
async fn load_report(
    tx: &Transaction<'_>,
    report: &Member,
    esiid_mode: EsiidMode,
) -> Result<ReportOutcome> {
    let row = tx
        .query_one(
            "SELECT * FROM smt.load($1, $2, $3)",
            &[&report.data, &report.name, &esiid_mode.is_lenient()],
        )
        .await?;
    Ok(ReportOutcome {
        name: report.name.clone(),
        file_id: row.try_get("file_id")?,
        format: row.try_get("format")?,
        already_loaded: row.try_get("already_loaded")?,
        failed: row.try_get("error")?,
        counts: LoadCounts::from_row(&row)?,
    })
}

/// sha256 of a delivery's bytes, as its registry row records it.
pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// Reads a local delivery; the error names the file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
