//! Getting files off the delivery site, behind one small [`Transport`] trait so the scheduler
//! does not care whether it talks SFTP (what Smart Meter Texas uses since 2025-09-13, [`sftp`])
//! or FTPS (the seeds' site, [`ftps`]).
//!
//! The trait is synchronous on purpose: the FTP client is blocking, and the async scheduler
//! calls a transport inside `tokio::task::spawn_blocking`.

pub mod ftps;
pub mod sftp;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub use ftps::{FtpsConfig, FtpsTransport};
pub use sftp::{HostKeyCheck, SftpAuth, SftpConfig, SftpTransport};

/// A file in a remote directory, as listed by [`Transport::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// The directory it was listed in, as passed to [`Transport::list`].
    pub dir: String,
    /// The file name, without directory.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, if the server reports one.
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
}

impl RemoteFile {
    /// The remote path: `dir/name` (or just `name` when `dir` is empty).
    pub fn path(&self) -> String {
        join_remote(&self.dir, &self.name)
    }
}

pub trait Transport: Send {
    /// Files (not directories) in a remote directory.
    fn list(&mut self, dir: &str) -> anyhow::Result<Vec<RemoteFile>>;
    /// Streams the file to `dest` via `dest.part` (appending/resuming with REST if a `.part` from an
    /// earlier attempt exists and is shorter than the remote size), checks the final size equals
    /// `file.size`, then renames to `dest`. A half-downloaded file never appears at `dest`.
    /// Returns the bytes written in this call.
    fn fetch(&mut self, file: &RemoteFile, dest: &Path) -> anyhow::Result<u64>;
}

/// Joins a remote directory and a name with exactly one `/`.
pub(crate) fn join_remote(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// `dest` with `.part` appended to its file name: where a download lands until it is complete.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// Opens `part` for writing at `offset`: truncated to `offset` bytes (0 creates or empties it).
/// The file is readable by the worker's user only (0600), a new one and one an earlier version
/// left alike; the finished download keeps that mode.
pub(crate) fn open_part(part: &Path, offset: u64) -> Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(offset == 0)
        .append(offset > 0)
        .mode(0o600)
        .open(part)
        .with_context(|| format!("opening {}", part.display()))?;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .with_context(|| format!("making {} private (0600)", part.display()))?;
    if offset > 0 {
        file.set_len(offset)
            .with_context(|| format!("truncating {}", part.display()))?;
    }
    Ok(file)
}

/// Where a download of a file of `size` bytes resumes: the length of `part` left by an earlier
/// attempt, or 0 (none, or longer than the file, so not a prefix of it).
pub(crate) fn resume_offset(part: &Path, size: u64) -> Result<u64> {
    let offset = match fs::metadata(part) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e).with_context(|| format!("reading {}", part.display())),
    };
    if offset > size {
        tracing::warn!(part = %part.display(), offset, size,
            "partial download is longer than the remote file; starting over");
        return Ok(0);
    }
    Ok(offset)
}

/// Ends a download: `part` must hold exactly the listed `size` (else the remote file changed
/// under us, and the partial file, useless for a resume, is removed), then becomes `dest`.
pub(crate) fn finish_part(
    part: &Path,
    dest: &Path,
    size: u64,
    what: impl FnOnce() -> String,
) -> Result<()> {
    let got = fs::metadata(part)
        .with_context(|| format!("reading {}", part.display()))?
        .len();
    if got != size {
        let _ = fs::remove_file(part);
        bail!(
            "downloaded {} has {got} bytes, the listing said {size}",
            what()
        );
    }
    fs::rename(part, dest)
        .with_context(|| format!("renaming {} to {}", part.display(), dest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_remote_paths() {
        assert_eq!(join_remote("reports", "a.csv"), "reports/a.csv");
        assert_eq!(join_remote("reports/", "a.csv"), "reports/a.csv");
        assert_eq!(join_remote("/", "a.csv"), "/a.csv");
        assert_eq!(join_remote("", "a.csv"), "a.csv");
    }

    #[test]
    fn part_path_appends_suffix() {
        assert_eq!(
            part_path(Path::new("/x/y/a.csv.gpg")),
            Path::new("/x/y/a.csv.gpg.part")
        );
    }
}
