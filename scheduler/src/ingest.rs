//! One local file into the database, exactly once.
//!
//! A delivery is unpacked (OpenPGP-decrypted if it is encrypted, unzipped if it is a zip: each
//! member is one report). An interval report (LSE, SMT interval CSV) is parsed here, with
//! smt-core, and its rows copied into the database (binary COPY into smt.stage, see
//! [`crate::staging`]), which checks and merges them with the replacement rule
//! (smt.load_begin / smt.load_staged); any other report goes to the database as bytes
//! (smt.load_begin / smt.load_part / smt.load_end), which registers and keeps it. All reports of a delivery load in the caller's single transaction, together with the
//! caller's own bookkeeping (the remote-file row), so a crash at any point leaves the delivery
//! fully loaded or not at all; a report whose content (sha256) is already registered is skipped,
//! so a restart doubles nothing.
//!
//! **Bounded memory.** Nothing holds a whole delivery or report: decryption streams to an
//! unlinked temporary file (private to the worker, gone when closed), unzipping streams member by
//! member from it in parts of [`PART_BYTES`], a second thread parses each report as its parts
//! arrive (a channel of [`PARTS_IN_FLIGHT`]), and its rows go to the database in batches of about
//! [`ROWS_BYTES`] over another such channel. Peak memory is a few parts and batches, whatever the
//! delivery's size (BENCHMARKS.md has the figures). The three stages overlap: the worker
//! decrypts, unzips and parses while the database merges the report before.

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;

use bytes::BytesMut;
use futures_util::SinkExt;
use smt_core::stage::StageRow;
use smt_core::Format;
use tokio_postgres::CopyInSink;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use smt_core::EsiidMode;
use tokio::sync::mpsc;
use tokio_postgres::Transaction;

use crate::pgp::{self, Keyring};
use crate::staging::{self, PartsReader};
use crate::unzip::{self, Archive, Limits, Member};

/// The size of the parts a report is sent to the database in (smt.load_part keeps parts of at
/// most 8 MiB, so a part this size is kept as it is).
pub const PART_BYTES: usize = 8 << 20;

/// Parts waiting in the channel between the unpacking thread and the database: one being sent,
/// these waiting, one being filled.
pub const PARTS_IN_FLIGHT: usize = 2;

/// About how much of a report's rows (binary COPY) is sent to the database at once.
pub const ROWS_BYTES: usize = 1 << 20;

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
    #[error("{0} is {1} bytes, more than the limit of {2} for one report")]
    TooLarge(String, u64, u64),
    #[error("{0}: cannot read it: {1}")]
    Read(String, io::Error),
    #[error("{0}: the unpacking stopped unexpectedly: {1}")]
    Crashed(String, String),
}

impl UnpackError {
    /// The unpacking or parsing of `name` panicked: an error, never a crash of the worker.
    fn panicked(name: &str, payload: &(dyn std::any::Any + Send)) -> UnpackError {
        UnpackError::Crashed(
            name.to_owned(),
            crate::text::panic_message(payload).to_owned(),
        )
    }
}

/// What the unpacking hands on, in order: for each report its name, its bytes in parts, its end.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    Report(String),
    Part(Vec<u8>),
    EndReport,
}

/// What the loading side gets, in order, for each report: a report the database takes as bytes
/// ([`LoadStep::Raw`] pieces), or one parsed here: its start (answered with the load's id, which
/// the rows carry), its rows, its end with the digest and size of the bytes parsed.
#[derive(Debug)]
pub enum LoadStep {
    Raw(Piece),
    Staged {
        name: String,
        upload: std::sync::mpsc::SyncSender<i64>,
    },
    Rows(bytes::Bytes),
    EndStaged {
        sha256: Vec<u8>,
        size_bytes: u64,
        format: Format,
    },
}

/// A source the unpacking can read and seek: a delivery's file, a temporary file, bytes.
trait Source: Read + Seek + Send + Sync {}
impl<T: Read + Seek + Send + Sync> Source for T {}

/// Unpacks the delivery `name` read from `src`, handing every report on to `sink` as [`Piece`]s
/// with parts of at most `part_bytes`. `sink` returns false when nobody takes the pieces any more
/// (the load stopped): the unpacking then stops too.
pub fn unpack_into<S: Read + Seek + Send + Sync + 'static>(
    name: &str,
    src: S,
    keyring: Option<&Keyring>,
    limits: &Limits,
    part_bytes: usize,
    sink: &mut dyn FnMut(Piece) -> bool,
) -> Result<(), UnpackError> {
    let read_error = |e: io::Error| UnpackError::Read(name.to_owned(), e);
    let mut src: Box<dyn Source> = Box::new(src);
    let head = read_head(&mut src).map_err(read_error)?;
    if pgp::looks_encrypted(&head) {
        let keyring = keyring.ok_or_else(|| UnpackError::NoKey(name.to_owned()))?;
        // The plaintext goes to an unlinked temporary file (only this process can reach it; it is
        // gone when closed), never to memory: a message over sequoia's buffer is streamed out
        // before its integrity check, so the file is used only when decryption succeeds.
        let mut plain = tempfile::tempfile().map_err(read_error)?;
        {
            let mut capped = Capped {
                out: io::BufWriter::new(&mut plain),
                left: limits.max_total,
            };
            pgp::decrypt(keyring, &mut src, &mut capped)
                .map_err(|e| UnpackError::Decrypt(name.to_owned(), e))?;
            capped.out.flush().map_err(read_error)?;
        }
        plain.seek(SeekFrom::Start(0)).map_err(read_error)?;
        src = Box::new(plain);
    }
    let head = read_head(&mut src).map_err(read_error)?;
    if unzip::looks_zipped(&head) {
        let unzip_error = |e| UnpackError::Unzip(name.to_owned(), e);
        return unzip::guarded(|| {
            let mut archive = Archive::open(src, *limits)?;
            for i in 0..archive.len() {
                let Some(member) = archive.member_name(i)? else {
                    continue;
                };
                if !send_report(member, part_bytes, sink, |parts| {
                    archive.copy_member(i, parts).map(drop)
                })? {
                    return Ok(());
                }
            }
            Ok(())
        })
        .map_err(unzip_error);
    }
    let len = src.seek(SeekFrom::End(0)).map_err(read_error)?;
    src.seek(SeekFrom::Start(0)).map_err(read_error)?;
    if len > limits.max_member {
        return Err(UnpackError::TooLarge(
            name.to_owned(),
            len,
            limits.max_member,
        ));
    }
    // A plain report keeps the delivery's name without encryption suffixes.
    let inner = [".asc", ".pgp", ".gpg"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    send_report(inner.to_owned(), part_bytes, sink, |parts| {
        io::copy(&mut src, parts).map(drop).map_err(read_error)
    })?;
    Ok(())
}

/// Hands one report to `sink`: its name, the bytes `copy` writes (in parts), its end. `Ok(false)`
/// when the sink went away meanwhile (the load stopped, and says why): then an error `copy` met
/// writing is that, not the report's fault.
fn send_report<E>(
    name: String,
    part_bytes: usize,
    sink: &mut dyn FnMut(Piece) -> bool,
    copy: impl FnOnce(&mut Parts<'_>) -> Result<(), E>,
) -> Result<bool, E> {
    if !sink(Piece::Report(name)) {
        return Ok(false);
    }
    let mut parts = Parts::new(part_bytes, sink);
    match copy(&mut parts) {
        Ok(()) => {}
        Err(_) if !parts.open => return Ok(false),
        Err(e) => return Err(e),
    }
    Ok(parts.finish() && sink(Piece::EndReport))
}

/// The first bytes of `src` (enough to recognize OpenPGP and zip), leaving it at its start.
fn read_head(src: &mut dyn Source) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(1024);
    src.seek(SeekFrom::Start(0))?;
    src.take(1024).read_to_end(&mut head)?;
    src.seek(SeekFrom::Start(0))?;
    Ok(head)
}

/// A writer that refuses to take more than `left` bytes: a decrypted delivery cannot fill the
/// disk.
struct Capped<W> {
    out: W,
    left: u64,
}

impl<W: Write> Write for Capped<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(io::Error::other(
                "the decrypted delivery is larger than the limit for a delivery",
            ));
        }
        let n = self.out.write(buf)?;
        self.left -= n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A writer that cuts what it is given into [`Piece::Part`]s of `part_bytes` for the sink.
struct Parts<'s> {
    part_bytes: usize,
    buf: Vec<u8>,
    sink: &'s mut dyn FnMut(Piece) -> bool,
    open: bool,
}

impl<'s> Parts<'s> {
    fn new(part_bytes: usize, sink: &'s mut dyn FnMut(Piece) -> bool) -> Parts<'s> {
        Parts {
            part_bytes,
            buf: Vec::with_capacity(part_bytes.min(PART_BYTES)),
            sink,
            open: true,
        }
    }

    fn send(&mut self) -> bool {
        let part = std::mem::replace(&mut self.buf, Vec::with_capacity(self.part_bytes));
        self.open = self.open && (self.sink)(Piece::Part(part));
        self.open
    }

    /// Sends what is left; false when the sink went away.
    fn finish(mut self) -> bool {
        if self.buf.is_empty() {
            self.open
        } else {
            self.send()
        }
    }
}

impl Write for Parts<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(self.part_bytes - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == self.part_bytes && !self.send() {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the load stopped",
            ));
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The reports in a delivery held in memory, decrypted and unzipped (for small deliveries and
/// tests; [`spawn_unpack`] streams a delivery on disk).
pub fn unpack(
    name: &str,
    bytes: Vec<u8>,
    keyring: Option<&Keyring>,
) -> Result<Vec<Member>, UnpackError> {
    let mut members: Vec<Member> = Vec::new();
    unpack_into(
        name,
        Cursor::new(bytes),
        keyring,
        &Limits::DEFAULT,
        PART_BYTES,
        &mut |piece| {
            match piece {
                Piece::Report(name) => members.push(Member {
                    name,
                    data: Vec::new(),
                }),
                Piece::Part(part) => members
                    .last_mut()
                    .expect("a part follows its report")
                    .data
                    .extend_from_slice(&part),
                Piece::EndReport => {}
            }
            true
        },
    )?;
    Ok(members)
}

/// Unpacks the delivery at `path` on a thread of its own and parses each interval report on
/// another, handing the [`LoadStep`]s over a channel of [`PARTS_IN_FLIGHT`]: memory stays
/// bounded by a few parts whatever the delivery's size. An error ends the stream.
pub fn spawn_unpack(
    path: PathBuf,
    name: String,
    keyring: Option<Arc<Keyring>>,
    part_bytes: usize,
    esiid_mode: EsiidMode,
) -> mpsc::Receiver<Result<LoadStep, UnpackError>> {
    let (tx, rx) = mpsc::channel(PARTS_IN_FLIGHT);
    std::thread::spawn(move || {
        let mut stager = Stager {
            out: tx.clone(),
            esiid_mode,
            current: None,
        };
        let run = || -> Result<(), UnpackError> {
            let file = File::open(&path).map_err(|e| UnpackError::Read(name.clone(), e))?;
            unpack_into(
                &name,
                file,
                keyring.as_deref(),
                &Limits::DEFAULT,
                part_bytes,
                &mut |piece| stager.take(piece),
            )
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
            .unwrap_or_else(|p| Err(UnpackError::panicked(&name, &*p)));
        // A report cut short ends here; whatever it sent is rolled back with the error.
        stager.end_report();
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(e));
        }
    });
    rx
}

type StepSender = mpsc::Sender<Result<LoadStep, UnpackError>>;

/// A binary COPY into smt.stage in progress.
type RowsSink = Pin<Box<CopyInSink<bytes::Bytes>>>;

/// The unpacking's sink: hands each report's parts to a thread of its own that parses it.
struct Stager {
    out: StepSender,
    esiid_mode: EsiidMode,
    current: Option<(SyncSender<Vec<u8>>, std::thread::JoinHandle<()>)>,
}

impl Stager {
    /// Takes the next piece; false when the loading side went away.
    fn take(&mut self, piece: Piece) -> bool {
        match piece {
            Piece::Report(name) => {
                let (parts, received) = sync_channel(PARTS_IN_FLIGHT);
                let (out, mode) = (self.out.clone(), self.esiid_mode);
                let parser = std::thread::spawn(move || {
                    let crashed_out = out.clone();
                    let report = name.clone();
                    let run = move || stage_report(name, PartsReader::new(received), mode, &out);
                    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
                        let _ = crashed_out.blocking_send(Err(UnpackError::panicked(&report, &*p)));
                    }
                });
                self.current = Some((parts, parser));
                !self.out.is_closed()
            }
            Piece::Part(bytes) => match &self.current {
                Some((parts, _)) => parts.send(bytes).is_ok(),
                None => false,
            },
            Piece::EndReport => self.end_report() && !self.out.is_closed(),
        }
    }

    /// Ends the report being parsed (its parser reads to the end and stops); false if its
    /// parser crashed.
    fn end_report(&mut self) -> bool {
        match self.current.take() {
            Some((parts, parser)) => {
                drop(parts);
                parser.join().is_ok()
            }
            None => true,
        }
    }
}

/// Parses one report as its parts arrive: an interval report becomes staging rows, anything else
/// goes on as bytes for the database to keep and judge.
fn stage_report(name: String, mut parts: PartsReader, mode: EsiidMode, out: &StepSender) {
    let send = |step: LoadStep| out.blocking_send(Ok(step)).is_ok();
    let mut head_parts = Vec::new();
    let mut head_len = 0;
    while head_len < smt_core::format::HEAD_BYTES {
        match parts.next_part() {
            Some(p) => {
                head_len += p.len();
                head_parts.push(p);
            }
            None => break,
        }
    }
    let head = head_parts.concat();
    let Some(format) = smt_core::format::detect(&head).filter(|f| f.has_intervals()) else {
        if !send(LoadStep::Raw(Piece::Report(name))) {
            return;
        }
        for p in head_parts
            .into_iter()
            .chain(std::iter::from_fn(|| parts.next_part()))
        {
            if !send(LoadStep::Raw(Piece::Part(p))) {
                return;
            }
        }
        send(LoadStep::Raw(Piece::EndReport));
        return;
    };
    drop(head_parts);
    let (upload, id) = sync_channel(1);
    if !send(LoadStep::Staged {
        name: name.clone(),
        upload,
    }) {
        return;
    }
    let Ok(file_id) = id.recv() else {
        return;
    };
    let mut buf = BytesMut::with_capacity(ROWS_BYTES + (64 << 10));
    staging::put_header(&mut buf);
    {
        let src = io::BufReader::with_capacity(256 << 10, Cursor::new(head).chain(&mut parts));
        let records = smt_core::interval_records(src, format, mode).expect("an interval format");
        for item in records {
            if let Err(e) = staging::put_row(&mut buf, file_id, &StageRow::of(item)) {
                let _ = out.blocking_send(Err(UnpackError::Crashed(name, e.to_string())));
                return;
            }
            if buf.len() >= ROWS_BYTES && !send(LoadStep::Rows(buf.split().freeze())) {
                return;
            }
        }
    }
    staging::put_trailer(&mut buf);
    if !send(LoadStep::Rows(buf.split().freeze())) {
        return;
    }
    let (sha256, size_bytes) = parts.finish();
    send(LoadStep::EndStaged {
        sha256,
        size_bytes,
        format,
    });
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

/// Why loading a delivery stopped: its unpacking failed (quarantine it), or the database did.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    #[error("{0:#}")]
    Database(anyhow::Error),
}

/// Loads the reports of one delivery, as `steps` brings them, inside `tx`. The caller commits
/// (or, on an error, drops `tx`: nothing of the delivery stays).
pub async fn load_pieces(
    tx: &Transaction<'_>,
    mut steps: mpsc::Receiver<Result<LoadStep, UnpackError>>,
    esiid_mode: EsiidMode,
) -> Result<Vec<ReportOutcome>, LoadError> {
    let db = |what: String| {
        move |e: tokio_postgres::Error| LoadError::Database(anyhow::Error::new(e).context(what))
    };
    let mut outcomes = Vec::new();
    let mut raw: Option<(String, i64)> = None;
    // The report being copied: its name, its load's id, the COPY into smt.stage.
    let mut staged: Option<(String, i64, RowsSink)> = None;
    let begin = |name: String| async move {
        let upload: i64 = tx
            .query_one(
                "SELECT smt.load_begin($1, $2)",
                &[&name, &esiid_mode.is_lenient()],
            )
            .await
            .and_then(|row| row.try_get(0))
            .map_err(db(format!("beginning to load {name}")))?;
        Ok::<_, LoadError>((name, upload))
    };
    while let Some(step) = steps.recv().await {
        match step? {
            LoadStep::Raw(Piece::Report(name)) => raw = Some(begin(name).await?),
            LoadStep::Raw(Piece::Part(bytes)) => {
                let (name, upload) = raw.as_ref().expect("a part follows its report");
                tx.execute("SELECT smt.load_part($1, $2)", &[upload, &bytes])
                    .await
                    .map_err(db(format!("loading {name}")))?;
            }
            LoadStep::Raw(Piece::EndReport) => {
                let (name, upload) = raw.take().expect("an end follows its report");
                let row = tx
                    .query_one("SELECT * FROM smt.load_end($1)", &[&upload])
                    .await
                    .map_err(db(format!("loading {name}")))?;
                outcomes.push(ReportOutcome::from_row(name, &row).map_err(LoadError::Database)?);
            }
            LoadStep::Staged { name, upload } => {
                let (name, id) = begin(name).await?;
                let sink = tx
                    .copy_in::<_, bytes::Bytes>(&staging::copy_statement())
                    .await
                    .map_err(db(format!("loading {name}")))?;
                // The parser waits for the id its rows carry.
                let _ = upload.send(id);
                staged = Some((name, id, Box::pin(sink)));
            }
            LoadStep::Rows(rows) => {
                let (name, _, sink) = staged.as_mut().expect("rows follow their report");
                sink.send(rows)
                    .await
                    .map_err(db(format!("loading {name}")))?;
            }
            LoadStep::EndStaged {
                sha256,
                size_bytes,
                format,
            } => {
                let (name, id, mut sink) = staged.take().expect("an end follows its report");
                sink.as_mut()
                    .finish()
                    .await
                    .map_err(db(format!("loading {name}")))?;
                let row = tx
                    .query_one(
                        "SELECT * FROM smt.load_staged($1, $2, $3, $4)",
                        &[&id, &sha256, &(size_bytes as i64), &format.name()],
                    )
                    .await
                    .map_err(db(format!("loading {name}")))?;
                outcomes.push(ReportOutcome::from_row(name, &row).map_err(LoadError::Database)?);
            }
        }
    }
    if let Some(name) = raw.map(|r| r.0).or(staged.map(|s| s.0)) {
        // The unpacking ended without an end or an error: it cannot, but never load half.
        return Err(LoadError::Unpack(UnpackError::Crashed(
            name,
            "the report ended without its end".to_owned(),
        )));
    }
    Ok(outcomes)
}

impl ReportOutcome {
    /// The outcome from a row holding the `smt.load_result` columns.
    fn from_row(name: String, row: &tokio_postgres::Row) -> Result<ReportOutcome> {
        Ok(ReportOutcome {
            name,
            file_id: row.try_get("file_id")?,
            format: row.try_get("format")?,
            already_loaded: row.try_get("already_loaded")?,
            failed: row.try_get("error")?,
            counts: LoadCounts::from_row(row)?,
        })
    }
}

/// sha256 of a file (a delivery as its registry row records it), read 1 MiB at a time on a
/// blocking thread.
pub async fn file_sha256(path: &Path) -> Result<Vec<u8>> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || file_sha256_blocking(&path))
        .await
        .context("digesting a file")?
}

fn file_sha256_blocking(path: &Path) -> Result<Vec<u8>> {
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            return Ok(hasher.finalize().to_vec());
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in members {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// The pieces `unpack_into` hands on for `bytes`, with parts of `part_bytes`.
    fn pieces(name: &str, bytes: Vec<u8>, limits: &Limits, part_bytes: usize) -> Vec<Piece> {
        let mut out = Vec::new();
        unpack_into(
            name,
            Cursor::new(bytes),
            None,
            limits,
            part_bytes,
            &mut |p| {
                out.push(p);
                true
            },
        )
        .unwrap();
        out
    }

    fn text(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| b'a' + ((i as u8).wrapping_add(seed)) % 26)
            .collect()
    }

    #[test]
    fn reports_come_in_parts_of_the_given_size_in_order() {
        let (a, b) = (text(2500, 1), text(1000, 2));
        let got = pieces(
            "d.zip",
            zip_of(&[("a.lse", &a), ("dir/", b""), ("b.csv", &b)]),
            &Limits::DEFAULT,
            1000,
        );
        let expect = vec![
            Piece::Report("a.lse".into()),
            Piece::Part(a[..1000].to_vec()),
            Piece::Part(a[1000..2000].to_vec()),
            Piece::Part(a[2000..].to_vec()),
            Piece::EndReport,
            Piece::Report("b.csv".into()),
            Piece::Part(b.clone()),
            Piece::EndReport,
        ];
        assert_eq!(got, expect);
        // A plain report: one report, named without the encryption suffix of an .asc name.
        let got = pieces("r.CSV.123.asc", a.clone(), &Limits::DEFAULT, 2048);
        assert_eq!(
            got,
            vec![
                Piece::Report("r.CSV.123".into()),
                Piece::Part(a[..2048].to_vec()),
                Piece::Part(a[2048..].to_vec()),
                Piece::EndReport,
            ]
        );
        // An empty report is a report with no parts.
        assert_eq!(
            pieces("empty.lse", Vec::new(), &Limits::DEFAULT, 10),
            vec![Piece::Report("empty.lse".into()), Piece::EndReport]
        );
    }

    #[test]
    fn a_plain_report_over_the_member_limit_is_refused_before_any_part() {
        let limits = Limits {
            max_member: 100,
            ..Limits::DEFAULT
        };
        let mut seen = 0;
        let e = unpack_into(
            "big.lse",
            Cursor::new(text(101, 0)),
            None,
            &limits,
            10,
            &mut |_| {
                seen += 1;
                true
            },
        )
        .unwrap_err();
        assert!(matches!(e, UnpackError::TooLarge(_, 101, 100)), "{e}");
        assert_eq!(seen, 0);
    }

    #[test]
    fn the_unpacking_stops_when_the_load_stops() {
        let a = text(5000, 3);
        let mut taken = 0;
        unpack_into(
            "d.zip",
            Cursor::new(zip_of(&[("a.lse", &a), ("b.lse", &a)])),
            None,
            &Limits::DEFAULT,
            1000,
            &mut |_| {
                taken += 1;
                taken < 3
            },
        )
        .unwrap();
        // The report, one part, then the refused part: nothing after.
        assert_eq!(taken, 3);
    }

    #[test]
    fn spawned_unpacking_streams_a_file_and_reports_a_corrupt_member_as_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let a = text(30_000, 4);
        let mut bytes = zip_of(&[("a.lse", &a), ("b.lse", &a)]);
        let path = dir.path().join("good.zip");
        std::fs::write(&path, &bytes).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let collect = |path: PathBuf| {
            rt.block_on(async {
                let mut rx = spawn_unpack(
                    path,
                    "d.zip".into(),
                    None,
                    4096,
                    EsiidMode::lenient_if(false),
                );
                let mut out = Vec::new();
                while let Some(p) = rx.recv().await {
                    out.push(p.map_err(|e| e.to_string()));
                }
                out
            })
        };
        let got = collect(path);
        let parts: usize = got
            .iter()
            .filter(|p| matches!(p, Ok(LoadStep::Raw(Piece::Part(_)))))
            .count();
        assert_eq!(parts, 2 * a.len().div_ceil(4096));
        assert!(got.iter().all(|p| p.is_ok()));
        // The second member's data overwritten: the stream ends with an error naming it.
        let second = memchr::memmem::find_iter(&bytes, b"PK\x03\x04")
            .nth(1)
            .unwrap();
        for b in &mut bytes[second + 100..second + 200] {
            *b = !*b;
        }
        let path = dir.path().join("bad.zip");
        std::fs::write(&path, &bytes).unwrap();
        let got = collect(path);
        let last = got.last().unwrap().as_ref().unwrap_err();
        assert!(
            last.contains("cannot unzip") && last.contains("b.lse"),
            "{last}"
        );
        assert!(
            matches!(&got[0], Ok(LoadStep::Raw(Piece::Report(n))) if n == "a.lse"),
            "{:?}",
            got[0]
        );
    }

    #[test]
    fn an_interval_report_is_parsed_on_the_worker_into_copy_rows_with_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2025, 11, 2).unwrap();
        let records = smt_core::testdata::Generator::new(5).records(300, &[day]);
        let lse = smt_core::testdata::lse_bytes(&records, true);
        let path = dir.path().join("d.zip");
        std::fs::write(&path, zip_of(&[("r.lse", &lse)])).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (rows, end) = rt.block_on(async {
            let mut rx = spawn_unpack(
                path,
                "d.zip".into(),
                None,
                4096,
                EsiidMode::lenient_if(false),
            );
            let (mut rows, mut end) = (Vec::new(), None);
            while let Some(step) = rx.recv().await {
                match step.unwrap() {
                    LoadStep::Staged { name, upload } => {
                        assert_eq!(name, "r.lse");
                        upload.send(42).unwrap();
                    }
                    LoadStep::Rows(b) => rows.extend_from_slice(&b),
                    LoadStep::EndStaged {
                        sha256,
                        size_bytes,
                        format,
                    } => end = Some((sha256, size_bytes, format)),
                    other => panic!("unexpected {other:?}"),
                }
            }
            (rows, end.unwrap())
        });
        assert_eq!(end.0, Sha256::digest(&lse).to_vec());
        assert_eq!(end.1, lse.len() as u64);
        assert_eq!(end.2, Format::Lse);
        assert!(rows.starts_with(b"PGCOPY\n\xff\r\n\0"));
        assert!(rows.ends_with(&(-1i16).to_be_bytes()));
        // One row per record, each carrying the load's id (file_id first, 8 bytes).
        let marker = [&8i32.to_be_bytes()[..], &42i64.to_be_bytes()].concat();
        let per_row = memchr::memmem::find_iter(&rows, &marker).count();
        assert_eq!(per_row, records.len());
    }
}
