//! Getting files off the delivery site, behind one small [`Transport`] trait so the scheduler
//! does not care whether it talks FTPS (what Smart Meter Texas uses today, [`ftps`]) or SFTP later.
//!
//! The trait is synchronous on purpose: the FTP clients are blocking, and the async scheduler
//! calls a transport inside `tokio::task::spawn_blocking`.

pub mod ftps;

use std::path::{Path, PathBuf};

pub use ftps::{FtpsConfig, FtpsTransport};

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
