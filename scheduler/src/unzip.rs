//! Unzipping the archives Smart Meter Texas delivers (one zip may hold several LSE or CSV
//! reports), in memory, with limits against zip bombs.
//!
//! Member names are returned as stored in the archive: they may contain directories, `..` or an
//! absolute path, so a caller that writes members to disk must not use them as paths unchecked.

use std::io::{self, Cursor, Read};

use zip::result::ZipError;
use zip::ZipArchive;

/// One file of an archive.
#[derive(Clone, PartialEq, Eq)]
pub struct Member {
    /// The name as stored in the archive (with any directory part).
    pub name: String,
    /// The uncompressed contents.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("name", &self.name)
            .field("len", &self.data.len())
            .finish()
    }
}

/// The largest report the database can take in one piece: PostgreSQL refuses a protocol message
/// or a value of 1 GiB (1,073,741,824 bytes) or more, so this leaves room for the rest of the call.
pub const MAX_STORABLE_REPORT: u64 = 1_000_000_000;

/// Caps on what one archive may expand to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most uncompressed bytes all members together may hold.
    pub max_total: u64,
    /// The most uncompressed bytes one member may hold.
    pub max_member: u64,
    /// The most members (directories included) an archive may have.
    pub max_members: usize,
}

impl Limits {
    /// 4 GiB in all, 1,000,000,000 bytes per member (a report goes to the database as one
    /// bytea, and PostgreSQL takes no message or value of 1 GiB or more: a larger member could
    /// never load, so it is refused here and its delivery quarantined), 10,000 entries.
    pub const DEFAULT: Limits = Limits {
        max_total: 4 << 30,
        max_member: MAX_STORABLE_REPORT,
        max_members: 10_000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// What went wrong unzipping.
#[derive(Debug, thiserror::Error)]
pub enum UnzipError {
    /// The bytes are not a readable zip archive.
    #[error("not a valid zip archive: {0}")]
    NotZip(String),
    /// The archive has more entries than allowed.
    #[error("zip archive has {count} entries, more than the limit of {limit}")]
    TooManyMembers { count: usize, limit: usize },
    /// A member cannot be read: corrupt data, bad checksum, unsupported compression, encrypted.
    #[error("zip member {name:?} cannot be read: {reason}")]
    Member { name: String, reason: String },
    /// A member is (or declares to be) larger than the per-member cap.
    #[error("zip member {name:?} is larger than the limit of {limit} bytes (declares {declared})")]
    MemberTooLarge {
        name: String,
        declared: u64,
        limit: u64,
    },
    /// The archive lists more entries than it has distinct names: the zip reader keeps one entry
    /// per name, so the others would be lost without a word.
    #[error("zip archive lists {entries} entries but only {distinct} distinct names: members with the same name would hide each other")]
    DuplicateNames { entries: u64, distinct: usize },
    /// The members together exceed the total cap.
    #[error("zip archive expands to more than the limit of {limit} bytes (at member {name:?})")]
    TotalTooLarge { name: String, limit: u64 },
    /// A member's data does not have the size its header declares: `actual` is what it holds, or
    /// `None` when it holds more (reading stops just past the declared size).
    #[error("zip member {name:?} declares {declared} bytes but holds {}", match actual { Some(n) => n.to_string(), None => "more".to_owned() })]
    SizeMismatch {
        name: String,
        declared: u64,
        actual: Option<u64>,
    },
}

/// Whether `head` (the first bytes of a file) starts like a zip archive (`PK\x03\x04`).
pub fn looks_zipped(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
}

/// The files of the zip archive `bytes`, in archive order, directories skipped, under
/// [`Limits::DEFAULT`].
pub fn members(bytes: &[u8]) -> Result<Vec<Member>, UnzipError> {
    members_with_limits(bytes, &Limits::DEFAULT)
}

fn zip_reason(e: &ZipError) -> String {
    e.to_string()
}

fn io_reason(e: &io::Error) -> String {
    // The zip crate reports checksum and decompression failures as I/O errors.
    match e.get_ref() {
        Some(inner) => inner.to_string(),
        None => e.to_string(),
    }
}

/// The files of the zip archive `bytes` under the given `limits`.
pub fn members_with_limits(bytes: &[u8], limits: &Limits) -> Result<Vec<Member>, UnzipError> {
    // Bad input must be an error, never a crash, even should the zip reader panic on it.
    std::panic::catch_unwind(|| members_inner(bytes, limits)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("panic");
        Err(UnzipError::NotZip(format!(
            "the zip reader failed on malformed input ({what})"
        )))
    })
}

/// How many entries the archive's end-of-central-directory record declares (`None` for a zip64
/// archive, whose count is elsewhere, or when there is no such record).
fn central_directory_entries(bytes: &[u8]) -> Option<u64> {
    const SIGNATURE: &[u8] = b"PK\x05\x06";
    // The record is 22 bytes plus a comment of up to 65,535 at the very end.
    let from = bytes.len().saturating_sub(22 + 65_535);
    let at = from + memchr::memmem::rfind(&bytes[from..], SIGNATURE)?;
    let total = bytes.get(at + 10..at + 12)?;
    let total = u16::from_le_bytes([total[0], total[1]]);
    (total != u16::MAX).then_some(u64::from(total))
}

fn members_inner(bytes: &[u8], limits: &Limits) -> Result<Vec<Member>, UnzipError> {
    let mut archive =
        ZipArchive::new(Cursor::new(bytes)).map_err(|e| UnzipError::NotZip(zip_reason(&e)))?;
    if let Some(entries) = central_directory_entries(bytes) {
        if entries != archive.len() as u64 {
            return Err(UnzipError::DuplicateNames {
                entries,
                distinct: archive.len(),
            });
        }
    }
    if archive.len() > limits.max_members {
        return Err(UnzipError::TooManyMembers {
            count: archive.len(),
            limit: limits.max_members,
        });
    }
    let mut out = Vec::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        // Named up front so a member that cannot even be opened is still named in the error.
        let stored_name = match archive.name_for_index(i) {
            Some(Ok(n)) => n.into_owned(),
            _ => format!("#{i}"),
        };
        let mut file = archive.by_index(i).map_err(|e| UnzipError::Member {
            name: stored_name.clone(),
            reason: zip_reason(&e),
        })?;
        let name = stored_name;
        if file.is_dir() {
            continue;
        }
        let declared = file.size();
        if declared > limits.max_member {
            return Err(UnzipError::MemberTooLarge {
                name,
                declared,
                limit: limits.max_member,
            });
        }
        if total.saturating_add(declared) > limits.max_total {
            return Err(UnzipError::TotalTooLarge {
                name,
                limit: limits.max_total,
            });
        }
        // Never trust the declared size for more than it claims: read at most one byte past it,
        // so a member that lies is caught without expanding it.
        let mut data = Vec::with_capacity(declared.min(64 << 20) as usize);
        (&mut file)
            .take(declared.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| {
                // The zip crate itself stops a member growing past its declared size.
                if e.kind() == io::ErrorKind::InvalidData
                    && io_reason(&e).contains("larger than its declared")
                {
                    UnzipError::SizeMismatch {
                        name: name.clone(),
                        declared,
                        actual: None,
                    }
                } else {
                    UnzipError::Member {
                        name: name.clone(),
                        reason: io_reason(&e),
                    }
                }
            })?;
        let actual = data.len() as u64;
        if actual != declared {
            return Err(UnzipError::SizeMismatch {
                name,
                declared,
                actual: (actual < declared).then_some(actual),
            });
        }
        total += actual;
        out.push(Member { name, data });
    }
    Ok(out)
}
