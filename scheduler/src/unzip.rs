//! Unzipping the archives Smart Meter Texas delivers (one zip may hold several LSE or CSV
//! reports), streamed member by member from a file (or any seekable source) with limits against
//! zip bombs: memory stays bounded whatever the archive's size.
//!
//! Member names are returned as stored in the archive: they may contain directories, `..` or an
//! absolute path, so a caller that writes members to disk must not use them as paths unchecked.

use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};

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
    /// 64 GiB in all, 16 GiB per member, 10,000 entries. A report streams into the database in
    /// parts (smt.load_part), so its size is bounded by disk, not by PostgreSQL's 1 GB value
    /// limit: these caps only stop an archive that expands without end (a few MB of zip can
    /// declare terabytes). The largest real SMT reports are a few GB (an LSE day of every
    /// ESIID of a big REP).
    pub const DEFAULT: Limits = Limits {
        max_total: 64 << 30,
        max_member: 16 << 30,
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
    /// The unzipped bytes could not be handed on (the database load they were for stopped).
    #[error("zip member {name:?} could not be passed on: {reason}")]
    Output { name: String, reason: String },
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

/// The files of the zip archive `bytes` under the given `limits`, in memory (for small archives
/// and tests; deliveries stream through [`Archive`]).
pub fn members_with_limits(bytes: &[u8], limits: &Limits) -> Result<Vec<Member>, UnzipError> {
    guarded(|| {
        let mut archive = Archive::open(Cursor::new(bytes), *limits)?;
        let mut out = Vec::new();
        for i in 0..archive.len() {
            if let Some(name) = archive.member_name(i)? {
                let mut data = Vec::new();
                archive.copy_member(i, &mut data)?;
                out.push(Member { name, data });
            }
        }
        Ok(out)
    })
}

/// Runs `f`, turning a panic of the zip reader into an error: bad input must be an error, never a
/// crash.
pub fn guarded<T>(f: impl FnOnce() -> Result<T, UnzipError>) -> Result<T, UnzipError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        Err(UnzipError::NotZip(format!(
            "the zip reader failed on malformed input ({})",
            crate::text::panic_message(&*payload)
        )))
    })
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

/// How many entries the end-of-central-directory record at the end of `tail` (the archive's
/// last bytes, at least 22 + 65,535 of them when the archive is that long) declares: `None` for a
/// zip64 archive, whose count is elsewhere, or when there is no such record.
fn central_directory_entries(tail: &[u8]) -> Option<u64> {
    const SIGNATURE: &[u8] = b"PK\x05\x06";
    let at = memchr::memmem::rfind(tail, SIGNATURE)?;
    let total = tail.get(at + 10..at + 12)?;
    let total = u16::from_le_bytes([total[0], total[1]]);
    (total != u16::MAX).then_some(u64::from(total))
}

/// An archive read member by member from a seekable source, under [`Limits`].
pub struct Archive<R> {
    zip: ZipArchive<R>,
    limits: Limits,
    /// Bytes of the members copied so far.
    total: u64,
}

impl<R: Read + Seek> Archive<R> {
    /// Opens the archive and checks what its directory says: entry count and distinct names.
    pub fn open(mut src: R, limits: Limits) -> Result<Archive<R>, UnzipError> {
        let io_error = |e: io::Error| UnzipError::NotZip(e.to_string());
        // The end-of-central-directory record is within the last 22 + 65,535 bytes.
        let len = src.seek(SeekFrom::End(0)).map_err(io_error)?;
        let from = len.saturating_sub(22 + 65_535);
        src.seek(SeekFrom::Start(from)).map_err(io_error)?;
        let mut tail = Vec::with_capacity((len - from) as usize);
        src.read_to_end(&mut tail).map_err(io_error)?;
        src.seek(SeekFrom::Start(0)).map_err(io_error)?;
        let zip = ZipArchive::new(src).map_err(|e| UnzipError::NotZip(zip_reason(&e)))?;
        if let Some(entries) = central_directory_entries(&tail) {
            if entries != zip.len() as u64 {
                return Err(UnzipError::DuplicateNames {
                    entries,
                    distinct: zip.len(),
                });
            }
        }
        if zip.len() > limits.max_members {
            return Err(UnzipError::TooManyMembers {
                count: zip.len(),
                limit: limits.max_members,
            });
        }
        Ok(Archive {
            zip,
            limits,
            total: 0,
        })
    }

    /// Entries in the archive (directories included).
    pub fn len(&self) -> usize {
        self.zip.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zip.len() == 0
    }

    /// The name of entry `i` as stored, `None` for a directory; an error when it cannot be read
    /// or declares more than the limits allow.
    pub fn member_name(&mut self, i: usize) -> Result<Option<String>, UnzipError> {
        // Named up front so a member that cannot even be opened is still named in the error.
        let name = match self.zip.name_for_index(i) {
            Some(Ok(n)) => n.into_owned(),
            _ => format!("#{i}"),
        };
        let file = self.zip.by_index(i).map_err(|e| UnzipError::Member {
            name: name.clone(),
            reason: zip_reason(&e),
        })?;
        if file.is_dir() {
            return Ok(None);
        }
        let declared = file.size();
        if declared > self.limits.max_member {
            return Err(UnzipError::MemberTooLarge {
                name,
                declared,
                limit: self.limits.max_member,
            });
        }
        if self.total.saturating_add(declared) > self.limits.max_total {
            return Err(UnzipError::TotalTooLarge {
                name,
                limit: self.limits.max_total,
            });
        }
        Ok(Some(name))
    }

    /// Copies the uncompressed bytes of file entry `i` (see [`Archive::member_name`]) to `out`,
    /// 64 KiB at a time; returns how many. Never trusts the declared size for more than it
    /// claims: reading stops one byte past it, so a member that lies is caught without expanding
    /// it.
    pub fn copy_member(&mut self, i: usize, out: &mut dyn Write) -> Result<u64, UnzipError> {
        let name = self.member_name(i)?.unwrap_or_else(|| format!("#{i}"));
        let mut file = self.zip.by_index(i).map_err(|e| UnzipError::Member {
            name: name.clone(),
            reason: zip_reason(&e),
        })?;
        let declared = file.size();
        let mut limited = (&mut file).take(declared.saturating_add(1));
        let mut buf = vec![0u8; 64 * 1024];
        let mut actual = 0u64;
        loop {
            let n = match limited.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The zip crate itself stops a member growing past its declared size.
                Err(e)
                    if e.kind() == io::ErrorKind::InvalidData
                        && io_reason(&e).contains("larger than its declared") =>
                {
                    return Err(UnzipError::SizeMismatch {
                        name,
                        declared,
                        actual: None,
                    })
                }
                Err(e) => {
                    return Err(UnzipError::Member {
                        name,
                        reason: io_reason(&e),
                    })
                }
            };
            actual += n as u64;
            if actual > declared {
                return Err(UnzipError::SizeMismatch {
                    name,
                    declared,
                    actual: None,
                });
            }
            out.write_all(&buf[..n]).map_err(|e| UnzipError::Output {
                name: name.clone(),
                reason: e.to_string(),
            })?;
        }
        if actual != declared {
            return Err(UnzipError::SizeMismatch {
                name,
                declared,
                actual: Some(actual),
            });
        }
        self.total += actual;
        Ok(actual)
    }
}
