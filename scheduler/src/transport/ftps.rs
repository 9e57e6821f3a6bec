//! FTPS (explicit TLS, `AUTH TLS`) with passive data connections and mutual TLS, through suppaftp
//! on rustls.
//!
//! Servers like vsftpd require the TLS session of every data connection to resume the control
//! connection's session (`require_ssl_reuse=YES`). rustls does that on its own as long as the
//! data connections use the same `Arc<ClientConfig>` (it holds the session cache) and the same
//! server name as the control connection, which is what suppaftp's `RustlsConnector` does: the
//! connector given to `into_secure` is kept and reused, with the same domain, for each data
//! connection. Each connection gets a fresh `ClientConfig`, so a data connection can only resume a
//! session of its own control connection. Tested against vsftpd with TLS 1.3 and with TLS 1.2
//! (see `scheduler/tests/ftps.rs`).

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, NaiveDateTime, Utc};
use rustls::client::{Resumption, Tls12Resumption};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use suppaftp::types::FileType;
use suppaftp::{FtpError, Mode, RustlsConnector, RustlsFtpStream};

use super::{finish_part, join_remote, open_part, part_path, resume_offset, RemoteFile, Transport};

/// How to reach and authenticate to an FTPS server.
#[derive(Clone)]
pub struct FtpsConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Never logged: `Debug` prints it redacted.
    pub password: String,
    /// PEM file of the CA(s) the server certificate must chain to; `None` uses the system's
    /// trusted roots.
    pub ca_file: Option<PathBuf>,
    /// PEM certificate (chain) presented to the server for mutual TLS; needs `client_key`.
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate. Only for tests and emergencies; logs a warning.
    pub insecure_skip_verify: bool,
    /// Bound on connecting and on each read or write, so a dead server cannot hang a run.
    pub timeout: Duration,
}

impl FtpsConfig {
    /// Port 21, system roots, no client certificate, a 60 s timeout.
    pub fn new(
        host: impl Into<String>,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        FtpsConfig {
            host: host.into(),
            port: 21,
            user: user.into(),
            password: password.into(),
            ca_file: None,
            client_cert: None,
            client_key: None,
            insecure_skip_verify: false,
            timeout: Duration::from_secs(60),
        }
    }
}

impl fmt::Debug for FtpsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FtpsConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A logged-in FTPS session. After a failed operation the connection is dropped and the next
/// call reconnects, so one transport survives a server restart.
pub struct FtpsTransport {
    config: FtpsConfig,
    conn: Option<Connection>,
}

struct Connection {
    ftp: RustlsFtpStream,
    /// The server announced MLST in FEAT, so MLSD gives sizes and times in one listing.
    mlsd: bool,
}

// The scheduler moves transports into `spawn_blocking`.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<FtpsTransport>();
};

impl FtpsTransport {
    /// Connects, upgrades to TLS, logs in and switches to binary passive mode.
    pub fn connect(config: &FtpsConfig) -> Result<Self> {
        let conn = Connection::open(config)?;
        Ok(FtpsTransport {
            config: config.clone(),
            conn: Some(conn),
        })
    }

    fn endpoint(&self) -> String {
        format!("{}:{}", self.config.host, self.config.port)
    }

    fn conn(&mut self) -> Result<&mut Connection> {
        if self.conn.is_none() {
            tracing::info!(server = %self.endpoint(), "reconnecting");
            self.conn = Some(Connection::open(&self.config)?);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// Runs `op` on the connection; on error drops the connection (its state is unknown).
    fn with_conn<T>(&mut self, op: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let result = op(self.conn()?);
        if result.is_err() {
            if let Some(conn) = self.conn.take() {
                conn.close();
            }
        }
        result
    }
}

impl Drop for FtpsTransport {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.close();
        }
    }
}

impl Transport for FtpsTransport {
    fn list(&mut self, dir: &str) -> Result<Vec<RemoteFile>> {
        let endpoint = self.endpoint();
        self.with_conn(|conn| conn.list(dir))
            .with_context(|| format!("listing directory {dir:?} on ftps://{endpoint}"))
    }

    fn fetch(&mut self, file: &RemoteFile, dest: &Path) -> Result<u64> {
        let endpoint = self.endpoint();
        let part = part_path(dest);
        let remote = file.path();
        let offset = resume_offset(&part, file.size)?;
        let written = if offset == file.size {
            // Complete already (or empty): nothing to transfer.
            open_part(&part, offset)?;
            0
        } else {
            let out = open_part(&part, offset)?;
            self.with_conn(|conn| conn.retrieve(&remote, offset, out))
                .with_context(|| {
                    let resumed = if offset > 0 {
                        format!(" (resuming at byte {offset})")
                    } else {
                        String::new()
                    };
                    format!(
                        "downloading {remote:?} from ftps://{endpoint} to {}{resumed}",
                        part.display()
                    )
                })?
        };
        finish_part(&part, dest, file.size, || {
            format!("{remote:?} from ftps://{endpoint}")
        })?;
        tracing::debug!(remote = %remote, dest = %dest.display(), written, resumed_at = offset, "fetched");
        Ok(written)
    }
}

impl Connection {
    fn open(config: &FtpsConfig) -> Result<Self> {
        let endpoint = format!("{}:{}", config.host, config.port);
        Self::open_inner(config)
            .with_context(|| format!("connecting to ftps://{endpoint} as {:?}", config.user))
    }

    fn open_inner(config: &FtpsConfig) -> Result<Self> {
        if config.timeout.is_zero() {
            bail!("the timeout must be positive");
        }
        let tls = tls_config(config)?;
        // rustls resolves the name for SNI and verification; the same name is used for every
        // data connection, so their sessions are looked up under the control connection's key.
        let server_name = config.host.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(server_name.to_string())
            .map_err(|e| anyhow!("invalid server name {server_name:?}: {e}"))?;

        let tcp = connect_tcp(&config.host, config.port, config.timeout)?;
        let control_peer = tcp
            .peer_addr()
            .context("reading the control peer address")?;
        let timeout = config.timeout;
        let mut ftp = RustlsFtpStream::connect_with_stream(tcp)
            .map_err(ftp_err)
            .context("reading the server greeting")?
            .passive_stream_builder(move |addr| passive_connect(addr, control_peer, timeout));
        ftp.set_mode(Mode::Passive);
        let mut ftp = ftp
            .into_secure(RustlsConnector::from(tls), server_name)
            .map_err(ftp_err)
            .context("TLS upgrade (AUTH TLS)")?;
        ftp.login(config.user.as_str(), config.password.as_str())
            .map_err(ftp_err)
            .context("logging in")?;
        ftp.transfer_type(FileType::Binary)
            .map_err(ftp_err)
            .context("switching to binary mode")?;
        // FEAT is optional; without it we fall back to LIST + MDTM.
        let mlsd = match ftp.feat() {
            Ok(features) => features.keys().any(|k| k.eq_ignore_ascii_case("MLST")),
            Err(e) => {
                tracing::debug!(error = %e, "FEAT failed; not using MLSD");
                false
            }
        };
        tracing::debug!(server = %format!("{}:{}", config.host, config.port), mlsd, "connected");
        Ok(Connection { ftp, mlsd })
    }

    fn close(mut self) {
        // Best effort; bounded by the socket timeouts.
        let _ = self.ftp.quit();
    }

    fn list(&mut self, dir: &str) -> Result<Vec<RemoteFile>> {
        // vsftpd (and others) answer LIST of a missing directory with an empty listing: enter
        // the directory first, so a wrong or vanished one is an error, not "no files".
        let home = self.ftp.pwd().map_err(ftp_err).context("PWD")?;
        self.ftp.cwd(dir).map_err(ftp_err).with_context(|| {
            format!("remote directory {dir:?} does not exist or cannot be entered")
        })?;
        self.ftp.cwd(&home).map_err(ftp_err).context("CWD back")?;
        if self.mlsd {
            let lines = self.ftp.mlsd(Some(dir)).map_err(ftp_err).context("MLSD")?;
            return Ok(lines
                .iter()
                .filter_map(|line| parse_mlsd_line(line))
                .filter(|entry| entry.is_file)
                .map(|entry| RemoteFile {
                    dir: dir.to_string(),
                    name: entry.name,
                    size: entry.size.unwrap_or(0),
                    modified: entry.modified,
                })
                .collect());
        }
        let lines = self.ftp.list(Some(dir)).map_err(ftp_err).context("LIST")?;
        let mut files = Vec::new();
        for line in &lines {
            let Ok(entry) = suppaftp::list::File::from_str(line) else {
                tracing::debug!(line = %line, "skipping unparsable listing line");
                continue;
            };
            if entry.is_directory() || matches!(entry.name(), "." | "..") {
                continue;
            }
            let path = join_remote(dir, entry.name());
            let size = if entry.is_symlink() {
                // A link to a directory has no size: skip it.
                match self.ftp.size(&path) {
                    Ok(size) => size as u64,
                    Err(FtpError::UnexpectedResponse(_)) => continue,
                    Err(e) => return Err(ftp_err(e)).with_context(|| format!("SIZE {path:?}")),
                }
            } else {
                entry.size() as u64
            };
            // LIST times are minute- or day-precise and local; MDTM is exact and UTC.
            let modified = match self.ftp.mdtm(&path) {
                Ok(time) => Some(time.and_utc()),
                Err(FtpError::UnexpectedResponse(r)) => {
                    tracing::debug!(path = %path, reply = ?r.status, "MDTM refused");
                    None
                }
                Err(e) => return Err(ftp_err(e)).with_context(|| format!("MDTM {path:?}")),
            };
            files.push(RemoteFile {
                dir: dir.to_string(),
                name: entry.name().to_string(),
                size,
                modified,
            });
        }
        Ok(files)
    }

    /// RETR `remote` from `offset` into `out`, returning the bytes written.
    fn retrieve(&mut self, remote: &str, offset: u64, out: File) -> Result<u64> {
        if offset > 0 {
            let offset = usize::try_from(offset).context("offset too large")?;
            self.ftp.resume_transfer(offset).map_err(ftp_err)?;
        }
        let mut stream = self
            .ftp
            .retr_as_stream(remote)
            .map_err(ftp_err)
            .with_context(|| format!("RETR {remote:?}"))?;
        let mut out = io::BufWriter::with_capacity(256 * 1024, out);
        let mut buf = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        let copied: io::Result<()> = loop {
            // rustls reports a connection closed without close_notify as an error, so a server
            // dying mid-transfer is never mistaken for the end of the file.
            match stream.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    if let Err(e) = out.write_all(&buf[..n]) {
                        break Err(e);
                    }
                    written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        // Keep what arrived either way: the next attempt resumes from it.
        let flushed = out
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all());
        if let Err(e) = copied {
            // Dropping the stream reads the (failed) transfer reply, bounded by the timeout.
            drop(stream);
            return Err(e).with_context(|| format!("receiving {remote:?} after {written} bytes"));
        }
        stream
            .finish()
            .map_err(ftp_err)
            .with_context(|| format!("completing RETR {remote:?} after {written} bytes"))?;
        flushed.context("writing the partial file")?;
        Ok(written)
    }
}

/// Connects to the first address of `host:port` that answers within `timeout`, and bounds every
/// read and write on the control connection by `timeout`.
fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(tcp) => {
                set_timeouts(&tcp, timeout)?;
                return Ok(tcp);
            }
            Err(e) => last = Some(anyhow::Error::new(e).context(format!("connecting to {addr}"))),
        }
    }
    Err(last.unwrap_or_else(|| anyhow!("{host} resolved to no address")))
}

fn set_timeouts(tcp: &TcpStream, timeout: Duration) -> io::Result<()> {
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    tcp.set_nodelay(true)
}

/// Opens a passive data connection. Servers behind NAT often announce their private address in
/// the PASV reply; like FileZilla, use the control connection's address instead when the
/// announced one is not routable but the control peer is.
fn passive_connect(
    announced: SocketAddr,
    control_peer: SocketAddr,
    timeout: Duration,
) -> suppaftp::FtpResult<TcpStream> {
    let addr = if !is_routable(announced.ip()) && is_routable(control_peer.ip()) {
        tracing::debug!(%announced, peer = %control_peer.ip(), "PASV address is not routable; using the control peer");
        SocketAddr::new(control_peer.ip(), announced.port())
    } else {
        announced
    };
    let tcp = TcpStream::connect_timeout(&addr, timeout).map_err(FtpError::ConnectionError)?;
    set_timeouts(&tcp, timeout).map_err(FtpError::ConnectionError)?;
    Ok(tcp)
}

fn is_routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast())
        }
        IpAddr::V6(v6) => !(v6.is_loopback() || v6.is_unspecified()),
    }
}

/// suppaftp errors carry the server reply; keep it in the message.
fn ftp_err(e: FtpError) -> anyhow::Error {
    match e {
        FtpError::UnexpectedResponse(r) => anyhow!(
            "server replied {} {}",
            r.status.code(),
            String::from_utf8_lossy(&r.body).trim()
        ),
        other => anyhow::Error::new(other),
    }
}

fn tls_config(config: &FtpsConfig) -> Result<Arc<ClientConfig>> {
    let mut tls = crate::tls::client_config(&crate::tls::TlsSettings {
        what: "FTPS",
        server: &config.host,
        ca_file: config.ca_file.as_deref(),
        client_cert: config.client_cert.as_deref(),
        client_key: config.client_key.as_deref(),
        insecure_skip_verify: config.insecure_skip_verify,
    })?;
    // Data connections must resume the control connection's session (vsftpd's
    // require_ssl_reuse). This is rustls's default; spelled out because it is load-bearing.
    tls.resumption =
        Resumption::in_memory_sessions(32).tls12_resumption(Tls12Resumption::SessionIdOrTickets);
    Ok(Arc::new(tls))
}

/// One entry of an MLSD listing (RFC 3659): `fact=value;fact=value; name`.
#[derive(Debug, PartialEq, Eq)]
struct MlsdEntry {
    name: String,
    is_file: bool,
    size: Option<u64>,
    modified: Option<DateTime<Utc>>,
}

fn parse_mlsd_line(line: &str) -> Option<MlsdEntry> {
    let line = line.trim_end_matches(['\r', '\n']);
    let (facts, name) = line.split_once(' ')?;
    if name.is_empty() {
        return None;
    }
    let mut entry = MlsdEntry {
        name: name.to_string(),
        is_file: false,
        size: None,
        modified: None,
    };
    for fact in facts.split(';').filter(|f| !f.is_empty()) {
        let (key, value) = fact.split_once('=')?;
        match key.to_ascii_lowercase().as_str() {
            "type" => entry.is_file = value.eq_ignore_ascii_case("file"),
            "size" => entry.size = value.parse().ok(),
            "modify" => entry.modified = parse_ftp_time(value),
            _ => {}
        }
    }
    Some(entry)
}

/// `YYYYMMDDHHMMSS[.sss]`, always UTC (RFC 3659).
fn parse_ftp_time(value: &str) -> Option<DateTime<Utc>> {
    let whole = value.split('.').next()?;
    NaiveDateTime::parse_from_str(whole, "%Y%m%d%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn debug_redacts_password() {
        let config = FtpsConfig::new("ftp.example.com", "me", "hunter2-secret");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert!(shown.contains("ftp.example.com"));
    }

    #[test]
    fn parses_mlsd_lines() {
        let file = parse_mlsd_line(
            "type=file;size=1234;modify=20240310083015.123;UNIX.mode=0644; a b.csv",
        )
        .unwrap();
        assert_eq!(
            file,
            MlsdEntry {
                name: "a b.csv".into(),
                is_file: true,
                size: Some(1234),
                modified: Some(Utc.with_ymd_and_hms(2024, 3, 10, 8, 30, 15).unwrap()),
            }
        );
        assert!(
            !parse_mlsd_line("type=dir;modify=20240310083015; sub")
                .unwrap()
                .is_file
        );
        assert!(!parse_mlsd_line("type=cdir; .").unwrap().is_file);
        assert_eq!(parse_mlsd_line("type=file;size=1").map(|e| e.name), None);
    }

    #[test]
    fn routability() {
        assert!(!is_routable("10.1.2.3".parse().unwrap()));
        assert!(!is_routable("127.0.0.1".parse().unwrap()));
        assert!(is_routable("8.8.8.8".parse().unwrap()));
    }
}
