//! SFTP, how Smart Meter Texas delivers files since 2025-09-13 (FTPS was switched off that day),
//! through russh + russh-sftp.
//!
//! Why these crates: pure Rust on tokio, with ring for crypto (already built for rustls), so no
//! new C code, no OpenSSL and no `ssh` binary at run time; the host key is checked by our own
//! callback against the configured known_hosts file; key and password authentication; directory
//! listings with size and mtime; files that seek, so a broken download resumes. `ssh2` (libssh2)
//! blocks on every call and brings C and OpenSSL; `openssh-sftp-client` drives the `ssh` binary
//! and cannot authenticate with a password.
//!
//! The [`Transport`] trait is synchronous (the FTPS client blocks); this transport runs its async
//! calls on the runtime it was connected from, inside the scheduler's `spawn_blocking`.

use std::fmt;
use std::fs::File;
use std::io::{SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Utc};
use russh::client;
use russh::keys::{self, HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh_sftp::client::SftpSession;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{finish_part, open_part, part_path, resume_offset, RemoteFile, Transport};

/// How the worker proves who it is.
#[derive(Clone)]
pub enum SftpAuth {
    /// An OpenSSH private key file (ed25519, ECDSA or RSA), with its passphrase if it has one.
    Key {
        path: PathBuf,
        passphrase: Option<String>,
    },
    /// Never logged: `Debug` prints it redacted.
    Password(String),
}

/// How the server proves who it is.
#[derive(Debug, Clone)]
pub enum HostKeyCheck {
    /// The server's key must be the one an OpenSSH known_hosts file lists for `host` (or
    /// `[host]:port`): the default, and the only safe choice.
    KnownHosts(PathBuf),
    /// Any key is accepted. Only for tests and emergencies; logged at warn on every connection.
    AcceptAny,
}

/// How to reach and authenticate to an SFTP server.
#[derive(Clone)]
pub struct SftpConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub auth: SftpAuth,
    pub host_key: HostKeyCheck,
    /// Bound on connecting and on each request, so a dead server cannot hang a run.
    pub timeout: Duration,
}

impl fmt::Debug for SftpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            SftpAuth::Key { path, .. } => format!("key {}", path.display()),
            SftpAuth::Password(_) => "password <redacted>".to_owned(),
        };
        f.debug_struct("SftpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("auth", &auth)
            .field("host_key", &self.host_key)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The server key check of a connection: what [`HostKeyCheck`] says, and what was found.
struct Checker {
    host: String,
    port: u16,
    check: HostKeyCheck,
    /// Why the key was refused, for the error the connection fails with.
    refused: Arc<std::sync::Mutex<Option<String>>>,
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            *self.refused.lock().expect("not poisoned") =
                Some("the server presented a certificate, not a plain host key".into());
            return Ok(false);
        };
        let verdict = match &self.check {
            HostKeyCheck::AcceptAny => {
                tracing::warn!(server = %self.host, port = self.port,
                    "accept_any_host_key is set: the SFTP server's host key is NOT checked");
                Ok(())
            }
            HostKeyCheck::KnownHosts(path) => known_host(&self.host, self.port, key, path),
        };
        match verdict {
            Ok(()) => Ok(true),
            Err(why) => {
                *self.refused.lock().expect("not poisoned") = Some(why);
                Ok(false)
            }
        }
    }
}

/// Whether `key` is the key `path` (OpenSSH known_hosts) lists for `host`:`port`; why not.
fn known_host(host: &str, port: u16, key: &PublicKey, path: &Path) -> Result<(), String> {
    if !path.is_file() {
        return Err(format!(
            "known_hosts file {} does not exist",
            path.display()
        ));
    }
    let fingerprint = key.fingerprint(HashAlg::Sha256);
    match keys::check_known_hosts_path(host, port, key, path) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "host key {fingerprint} of {host}:{port} is not in {} (add the server's key there, \
             e.g. from ssh-keyscan checked with SMT)",
            path.display()
        )),
        Err(keys::Error::KeyChanged { line }) => Err(format!(
            "host key {fingerprint} of {host}:{port} is NOT the one {} lists at line {line}: \
             the server's key changed, or someone is in between",
            path.display()
        )),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

/// A logged-in SFTP session. After a failed operation the session is dropped and the next call
/// reconnects, so one transport survives a server restart.
pub struct SftpTransport {
    config: SftpConfig,
    runtime: tokio::runtime::Handle,
    session: Option<Session>,
}

struct Session {
    _ssh: client::Handle<Checker>,
    sftp: SftpSession,
}

// The scheduler moves transports into `spawn_blocking`.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<SftpTransport>();
};

impl SftpTransport {
    /// Connects, checks the host key, authenticates and opens the SFTP subsystem. Call it from
    /// a blocking thread of a tokio runtime (`spawn_blocking`): the session runs on that runtime.
    pub fn connect(config: &SftpConfig) -> Result<Self> {
        let runtime = tokio::runtime::Handle::try_current()
            .context("an SFTP transport needs a tokio runtime")?;
        let session = runtime.block_on(Session::open(config))?;
        Ok(SftpTransport {
            config: config.clone(),
            runtime,
            session: Some(session),
        })
    }

    fn endpoint(&self) -> String {
        format!(
            "sftp://{}@{}:{}",
            self.config.user, self.config.host, self.config.port
        )
    }

    /// Runs `f` on the session (reconnecting first if an earlier call failed); a failure drops
    /// the session.
    fn with_session<R>(
        &mut self,
        f: impl for<'s> FnOnce(&'s SftpSession) -> futures_util::future::BoxFuture<'s, Result<R>>,
    ) -> Result<R> {
        if self.session.is_none() {
            tracing::info!(server = %self.endpoint(), "reconnecting");
            self.session = Some(self.runtime.block_on(Session::open(&self.config))?);
        }
        let session = self.session.as_ref().expect("connected above");
        let result = self.runtime.block_on(f(&session.sftp));
        if result.is_err() {
            self.session = None;
        }
        result
    }
}

impl Session {
    async fn open(config: &SftpConfig) -> Result<Session> {
        let endpoint = format!("{}:{}", config.host, config.port);
        let refused = Arc::new(std::sync::Mutex::new(None));
        let checker = Checker {
            host: config.host.clone(),
            port: config.port,
            check: config.host_key.clone(),
            refused: Arc::clone(&refused),
        };
        let ssh_config = Arc::new(client::Config {
            // A dead peer is found by our keepalives going unanswered.
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 3,
            inactivity_timeout: Some(config.timeout.max(Duration::from_secs(30)) * 5),
            nodelay: true,
            ..Default::default()
        });
        let connect = client::connect(ssh_config, (config.host.as_str(), config.port), checker);
        let mut ssh = match tokio::time::timeout(config.timeout, connect).await {
            Err(_) => bail!(
                "connecting to sftp://{endpoint}: no answer within {:?}",
                config.timeout
            ),
            Ok(Err(e)) => {
                if let Some(why) = refused.lock().expect("not poisoned").take() {
                    bail!("sftp://{endpoint}: host key refused: {why}");
                }
                return Err(anyhow!(e)).with_context(|| format!("connecting to sftp://{endpoint}"));
            }
            Ok(Ok(ssh)) => ssh,
        };
        let accepted = match &config.auth {
            SftpAuth::Key { path, passphrase } => {
                let key = keys::load_secret_key(path, passphrase.as_deref())
                    .with_context(|| format!("reading SSH key {}", path.display()))?;
                let hash = if key.algorithm().is_rsa() {
                    ssh.best_supported_rsa_hash()
                        .await
                        .context("negotiating the RSA signature hash")?
                        .unwrap_or(Some(HashAlg::Sha256))
                } else {
                    None
                };
                ssh.authenticate_publickey(
                    &config.user,
                    PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                )
                .await
            }
            SftpAuth::Password(password) => {
                ssh.authenticate_password(&config.user, password.as_str())
                    .await
            }
        }
        .with_context(|| format!("authenticating to sftp://{endpoint}"))?;
        if !accepted.success() {
            let how = match &config.auth {
                SftpAuth::Key { path, .. } => format!("key {}", path.display()),
                SftpAuth::Password(_) => "password".to_owned(),
            };
            bail!("sftp://{endpoint} refused user {} with {how}", config.user);
        }
        let channel = ssh
            .channel_open_session()
            .await
            .with_context(|| format!("opening a channel on sftp://{endpoint}"))?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .with_context(|| format!("starting SFTP on {endpoint}"))?;
        let sftp = SftpSession::new_with_config(
            channel.into_stream(),
            russh_sftp::client::Config {
                request_timeout_secs: config.timeout.as_secs().max(10),
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("starting SFTP on {endpoint}"))?;
        Ok(Session { _ssh: ssh, sftp })
    }
}

impl Transport for SftpTransport {
    fn list(&mut self, dir: &str) -> Result<Vec<RemoteFile>> {
        let endpoint = self.endpoint();
        let owned_dir = dir.to_owned();
        self.with_session(move |sftp| {
            Box::pin(async move {
                let entries = sftp
                    .read_dir(owned_dir.as_str())
                    .await
                    .with_context(|| format!("listing {owned_dir:?} on {endpoint}"))?;
                let mut files: Vec<RemoteFile> = entries
                    .filter(|e| e.file_type().is_file())
                    .map(|e| {
                        let meta = e.metadata();
                        RemoteFile {
                            dir: owned_dir.clone(),
                            name: e.file_name(),
                            size: meta.len(),
                            modified: meta
                                .mtime
                                .and_then(|t| DateTime::<Utc>::from_timestamp(i64::from(t), 0)),
                        }
                    })
                    .collect();
                files.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(files)
            })
        })
    }

    fn fetch(&mut self, file: &RemoteFile, dest: &Path) -> Result<u64> {
        let endpoint = self.endpoint();
        let part = part_path(dest);
        let remote = file.path();
        let offset = resume_offset(&part, file.size)?;
        let out = open_part(&part, offset)?;
        let size = file.size;
        let (r, e) = (remote.clone(), endpoint.clone());
        let written = self
            .with_session(move |sftp| Box::pin(copy_range(sftp, r, e, offset, size, out)))
            .with_context(|| {
                let resumed = if offset > 0 {
                    format!(" (resuming at byte {offset})")
                } else {
                    String::new()
                };
                format!(
                    "downloading {remote:?} from {endpoint} to {}{resumed}",
                    part.display()
                )
            })?;
        finish_part(&part, dest, file.size, || {
            format!("{remote:?} from {endpoint}")
        })?;
        tracing::debug!(remote = %remote, dest = %dest.display(), written, resumed_at = offset, "fetched");
        Ok(written)
    }
}

/// Appends bytes `offset..size` of `remote` to `out`. A file whose size is no longer the listed
/// one (still being written, or replaced) is not fetched: it is a new delivery at its next listing.
async fn copy_range(
    sftp: &SftpSession,
    remote: String,
    endpoint: String,
    offset: u64,
    size: u64,
    mut out: File,
) -> Result<u64> {
    let now = sftp
        .metadata(remote.as_str())
        .await
        .with_context(|| format!("reading the size of {remote:?} on {endpoint}"))?
        .len();
    if now != size {
        bail!(
            "{remote:?} on {endpoint} has {now} bytes now, {size} when listed: it is still being \
             written or was replaced; it is fetched as listed next time"
        );
    }
    if offset == size {
        return Ok(0);
    }
    let mut src = sftp
        .open(remote.as_str())
        .await
        .with_context(|| format!("opening {remote:?}"))?;
    src.seek(SeekFrom::Start(offset)).await?;
    let mut src = src.take(size - offset);
    let mut buf = vec![0u8; 256 * 1024];
    let mut written = 0u64;
    loop {
        let n = src.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        written += n as u64;
    }
    out.sync_all()?;
    Ok(written)
}
