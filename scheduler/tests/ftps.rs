//! The FTPS transport against a real vsftpd (tests/ftps/vsftpd.sh): explicit TLS, client
//! certificates and TLS session reuse on the data channel all required, as on the SMT site.
//!
//! Each test starts its own server on a free loopback port; tests run one at a time because the
//! server's system user (smtftp) and its home directory are shared. Needs root and vsftpd (which
//! scripts/setup.sh installs); without either the tests print why and pass on a laptop, and fail
//! under `SMT_REQUIRE_ALL_PARTS=1` or `CI=true` (`common::require_vsftpd`).

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, TimeZone, Utc};
use smt_scheduler::transport::{part_path, FtpsConfig, FtpsTransport, RemoteFile, Transport};

use common::{free_port, require_vsftpd, vsftpd_script, FTPS_SERIAL};

const REPORTS: &str = "reports";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A running vsftpd in a directory of its own; stopped and removed on drop, even on panic.
struct Server {
    dir: PathBuf,
    port: u16,
    env: Vec<(&'static str, String)>,
    _serial: MutexGuard<'static, ()>,
}

impl Server {
    /// `None` (after printing why, see `common::require_vsftpd`) without vsftpd or root.
    fn start() -> Option<Server> {
        Self::start_with(&[])
    }

    fn start_with(env: &[(&'static str, &str)]) -> Option<Server> {
        if !require_vsftpd() {
            return None;
        }
        // Tests share the smtftp user, so servers run one at a time.
        let serial = FTPS_SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir = std::env::temp_dir().join(format!(
            "smt-ftps-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let server = Server {
            dir,
            port: free_port(),
            env: env.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            _serial: serial,
        };
        server.run_script("start");
        Some(server)
    }

    fn run_script(&self, action: &str) {
        let mut cmd = Command::new("bash");
        cmd.arg(vsftpd_script()).arg(action).arg(&self.dir);
        if action == "start" {
            cmd.arg(self.port.to_string());
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("running tests/ftps/vsftpd.sh");
        assert!(
            out.status.success(),
            "vsftpd.sh {action} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn restart(&self) {
        self.run_script("start");
    }

    fn password(&self) -> String {
        fs::read_to_string(self.dir.join("password"))
            .unwrap()
            .trim()
            .to_string()
    }

    fn config(&self) -> FtpsConfig {
        FtpsConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            user: "smtftp".into(),
            password: self.password(),
            ca_file: Some(self.dir.join("ca.pem")),
            client_cert: Some(self.dir.join("client.pem")),
            client_key: Some(self.dir.join("client.key")),
            insecure_skip_verify: false,
            timeout: Duration::from_secs(10),
        }
    }

    fn connect(&self) -> FtpsTransport {
        FtpsTransport::connect(&self.config()).expect("connecting to the test vsftpd")
    }

    /// Puts `contents` at `reports/<name>` (owned by smtftp) with the given modification time.
    fn put(&self, name: &str, contents: &[u8], modified: DateTime<Utc>) {
        let path = self.dir.join("home").join(REPORTS).join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, contents).unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(SystemTime::from(modified))
            .unwrap();
        chown(&path);
    }

    fn mkdir(&self, name: &str) {
        let path = self.dir.join("home").join(REPORTS).join(name);
        fs::create_dir_all(&path).unwrap();
        chown(&path);
    }

    /// vsftpd's own log (protocol and debug_ssl lines).
    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("vsftpd.log")).unwrap_or_default()
    }

    /// A scratch directory for downloads.
    fn local(&self) -> PathBuf {
        let dir = self.dir.join("local");
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}

/// `vsftpd.sh stop DIR`, usable from any thread.
fn stop_server(dir: &Path) {
    let status = Command::new("bash")
        .arg(vsftpd_script())
        .arg("stop")
        .arg(dir)
        .status()
        .expect("running tests/ftps/vsftpd.sh stop");
    assert!(status.success(), "vsftpd.sh stop failed");
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(vsftpd_script())
            .arg("stop")
            .arg(&self.dir)
            .status();
        if std::env::var_os("SMT_KEEP_FTPS_DIR").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn chown(path: &Path) {
    let status = Command::new("chown")
        .arg("smtftp:")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "chown smtftp {}", path.display());
}

/// Deterministic pseudo-random bytes (xorshift), so content mix-ups cannot go unnoticed.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn remote(name: &str, size: usize) -> RemoteFile {
    RemoteFile {
        dir: REPORTS.into(),
        name: name.into(),
        size: size as u64,
        modified: None,
    }
}

fn sorted(mut files: Vec<RemoteFile>) -> Vec<RemoteFile> {
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

/// Data connections vsftpd accepted, and whether each TLS session was resumed: debug_ssl logs
/// one "SSL version: ..., reused|not reused" line per handshake, the first per session being
/// the control connection.
fn handshakes(log: &str) -> (usize, usize) {
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("SSL version:")).collect();
    let reused = lines.iter().filter(|l| l.contains(", reused")).count();
    let fresh = lines.iter().filter(|l| l.contains("not reused")).count();
    (reused, fresh)
}

#[test]
fn lists_files_with_sizes_and_mtimes() {
    let Some(server) = Server::start() else {
        return;
    };
    let a = bytes(100, 1);
    let b = bytes(70_000, 2);
    server.put("IntervalMeterUsage_A.csv", &a, at(2024, 3, 10, 8, 30, 15));
    server.put("IntervalMeterUsage B.zip", &b, at(2023, 11, 5, 1, 59, 59));
    server.put("empty.csv", b"", at(2025, 1, 1, 0, 0, 0));
    server.mkdir("archive");
    server.put("archive/old.csv", b"old", at(2020, 1, 1, 0, 0, 0));

    let mut ftp = server.connect();
    let files = sorted(ftp.list(REPORTS).unwrap());
    let expect = |name: &str, size: usize, modified| RemoteFile {
        modified: Some(modified),
        ..remote(name, size)
    };
    assert_eq!(
        files,
        vec![
            expect(
                "IntervalMeterUsage B.zip",
                b.len(),
                at(2023, 11, 5, 1, 59, 59)
            ),
            expect(
                "IntervalMeterUsage_A.csv",
                a.len(),
                at(2024, 3, 10, 8, 30, 15)
            ),
            expect("empty.csv", 0, at(2025, 1, 1, 0, 0, 0)),
        ]
    );
    // A subdirectory lists its own files; an empty directory lists nothing.
    let old = ftp.list("reports/archive").unwrap();
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].name, "old.csv");
    assert_eq!(old[0].dir, "reports/archive");
    server.mkdir("nothing");
    assert_eq!(ftp.list("reports/nothing").unwrap(), vec![]);
}

#[test]
fn fetches_byte_identical_through_part_file() {
    let Some(server) = Server::start() else {
        return;
    };
    let small = bytes(1_234, 3);
    let big = bytes(3 * 1024 * 1024 + 17, 4);
    server.put("small.csv", &small, at(2024, 1, 2, 3, 4, 5));
    server.put("big.zip.gpg", &big, at(2024, 1, 2, 3, 4, 6));
    server.put("empty.csv", b"", at(2024, 1, 2, 3, 4, 7));
    let local = server.local();

    let mut ftp = server.connect();
    let files = ftp.list(REPORTS).unwrap();
    assert_eq!(files.len(), 3);
    for file in &files {
        let dest = local.join(&file.name);
        let written = ftp.fetch(file, &dest).unwrap();
        assert_eq!(written, file.size, "{}", file.name);
        let want: &[u8] = match file.name.as_str() {
            "small.csv" => &small,
            "big.zip.gpg" => &big,
            _ => b"",
        };
        assert!(fs::read(&dest).unwrap() == want, "{} differs", file.name);
        assert!(!part_path(&dest).exists(), "{} left a .part", file.name);
    }
    // Many data connections on one control connection: every one must resume a session.
    for round in 0..12 {
        let dest = local.join(format!("again-{round}"));
        assert_eq!(
            ftp.fetch(&remote("small.csv", small.len()), &dest).unwrap(),
            small.len() as u64
        );
        assert_eq!(fs::read(&dest).unwrap(), small);
    }
    drop(ftp);
    let (reused, fresh) = handshakes(&server.log());
    assert_eq!(fresh, 1, "only the control connection has a full handshake");
    assert!(
        reused >= 15,
        "every data connection resumed the session: {reused}"
    );
    assert!(
        server.log().contains("TLSv1.3"),
        "expected TLS 1.3 by default"
    );
}

#[test]
fn fetch_of_missing_file_fails_and_leaves_no_dest() {
    let Some(server) = Server::start() else {
        return;
    };
    server.put("here.csv", b"x", at(2024, 1, 1, 0, 0, 0));
    let dest = server.local().join("gone.csv");
    let mut ftp = server.connect();
    let err = ftp.fetch(&remote("gone.csv", 10), &dest).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("reports/gone.csv") && msg.contains("127.0.0.1"),
        "{msg}"
    );
    assert!(msg.contains("550"), "{msg}");
    assert!(!dest.exists());
    // The transport recovers for the next call.
    assert_eq!(ftp.list(REPORTS).unwrap().len(), 1);
}

#[test]
fn wrong_ca_fails_verification() {
    let Some(server) = Server::start() else {
        return;
    };
    let other = server.dir.join("other-ca");
    fs::create_dir_all(&other).unwrap();
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=some other CA"])
        .arg("-keyout")
        .arg(other.join("ca.key"))
        .arg("-out")
        .arg(other.join("ca.pem"))
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let config = FtpsConfig {
        ca_file: Some(other.join("ca.pem")),
        ..server.config()
    };
    let err = FtpsTransport::connect(&config)
        .err()
        .expect("a server signed by another CA must be rejected");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("UnknownIssuer") || msg.contains("certificate"),
        "{msg}"
    );
    assert!(msg.contains("127.0.0.1"), "{msg}");
}

#[test]
fn no_client_certificate_is_refused() {
    let Some(server) = Server::start() else {
        return;
    };
    let config = FtpsConfig {
        client_cert: None,
        client_key: None,
        ..server.config()
    };
    let err = FtpsTransport::connect(&config)
        .err()
        .expect("vsftpd requires a client certificate");
    println!("no client certificate: {err:#}");

    // Half a client identity is a configuration error, not a silent downgrade.
    let config = FtpsConfig {
        client_key: None,
        ..server.config()
    };
    let err = FtpsTransport::connect(&config).err().unwrap();
    assert!(format!("{err:#}").contains("together"), "{err:#}");
}

#[test]
fn wrong_password_fails() {
    let Some(server) = Server::start() else {
        return;
    };
    let config = FtpsConfig {
        password: "not-the-password".into(),
        ..server.config()
    };
    let err = FtpsTransport::connect(&config)
        .err()
        .expect("a wrong password must fail");
    let msg = format!("{err:#}");
    assert!(msg.contains("530"), "{msg}");
    assert!(!msg.contains("not-the-password"), "password leaked: {msg}");
}

#[test]
fn insecure_skip_verify_connects_without_ca() {
    let Some(server) = Server::start() else {
        return;
    };
    server.put("a.csv", b"abc", at(2024, 1, 1, 0, 0, 0));
    let config = FtpsConfig {
        ca_file: None,
        insecure_skip_verify: true,
        ..server.config()
    };
    let mut ftp = FtpsTransport::connect(&config).unwrap();
    let files = ftp.list(REPORTS).unwrap();
    assert_eq!(files.len(), 1);
    let dest = server.local().join("a.csv");
    assert_eq!(ftp.fetch(&files[0], &dest).unwrap(), 3);
    assert_eq!(fs::read(&dest).unwrap(), b"abc");

    // Without the flag and without the CA, the system roots do not know the test CA.
    let config = FtpsConfig {
        ca_file: None,
        ..server.config()
    };
    assert!(FtpsTransport::connect(&config).is_err());
}

#[test]
fn resumes_a_partial_download_with_rest() {
    let Some(server) = Server::start() else {
        return;
    };
    let data = bytes(1024 * 1024 + 3, 5);
    server.put("half.csv", &data, at(2024, 6, 1, 12, 0, 0));
    let dest = server.local().join("half.csv");
    let half = data.len() / 2;
    fs::write(part_path(&dest), &data[..half]).unwrap();

    let mut ftp = server.connect();
    let file = &ftp.list(REPORTS).unwrap()[0];
    let written = ftp.fetch(file, &dest).unwrap();
    assert_eq!(written, (data.len() - half) as u64);
    assert!(fs::read(&dest).unwrap() == data, "resumed file differs");
    assert!(!part_path(&dest).exists());
    assert!(
        server.log().contains(&format!("\"REST {half}\"")),
        "REST {half} not in the server log"
    );

    // A .part longer than the remote file cannot be a prefix of it: start over.
    let dest2 = server.local().join("again.csv");
    let mut long = data.clone();
    long.extend_from_slice(b"garbage");
    fs::write(part_path(&dest2), &long).unwrap();
    assert_eq!(ftp.fetch(file, &dest2).unwrap(), data.len() as u64);
    assert!(fs::read(&dest2).unwrap() == data);

    // A complete .part (crash between download and rename) needs no transfer.
    let dest3 = server.local().join("done.csv");
    fs::write(part_path(&dest3), &data).unwrap();
    assert_eq!(ftp.fetch(file, &dest3).unwrap(), 0);
    assert!(fs::read(&dest3).unwrap() == data);
}

#[test]
fn server_killed_mid_transfer_then_fetch_resumes() {
    // Throttled to 20 MB/s so the ~50 MB download is reliably still running when it is killed.
    let Some(server) = Server::start_with(&[("VSFTPD_MAX_RATE", "20000000")]) else {
        return;
    };
    let data = bytes(50 * 1024 * 1024, 6);
    server.put("big.dat", &data, at(2024, 7, 1, 0, 0, 0));
    let dest = server.local().join("big.dat");
    let part = part_path(&dest);

    let mut ftp = server.connect();
    let file = ftp.list(REPORTS).unwrap().remove(0);
    assert_eq!(file.size, data.len() as u64);

    let killer = {
        let dir = server.dir.clone();
        let part = part.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while fs::metadata(&part).map(|m| m.len()).unwrap_or(0) < 4 * 1024 * 1024 {
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "download never started"
                );
                std::thread::sleep(Duration::from_millis(2));
            }
            stop_server(&dir);
        })
    };
    let result = ftp.fetch(&file, &dest);
    killer.join().unwrap();
    let err = result.expect_err("the server died mid-transfer");
    println!("killed mid-transfer: {err:#}");
    assert!(format!("{err:#}").contains("big.dat"), "{err:#}");
    assert!(
        !dest.exists(),
        "a partial download must never appear at dest"
    );
    let partial = fs::metadata(&part).unwrap().len();
    assert!(partial > 0 && partial < file.size, "partial: {partial}");

    // While the server is down, fetch fails fast instead of hanging.
    let start = Instant::now();
    assert!(ftp.fetch(&file, &dest).is_err());
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(!dest.exists());

    server.restart();
    // The same transport reconnects and resumes from what is already on disk.
    let partial = fs::metadata(&part).unwrap().len();
    let written = ftp.fetch(&file, &dest).unwrap();
    assert_eq!(written, file.size - partial);
    let mut got = Vec::new();
    fs::File::open(&dest)
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert!(got == data, "resumed download differs");
    assert!(!part.exists());
}

#[test]
fn tls12_data_connections_resume_the_session() {
    let Some(server) = Server::start_with(&[("VSFTPD_TLS_MAX", "TLSv1.2")]) else {
        return;
    };
    let data = bytes(200_000, 7);
    server.put("a.csv", &data, at(2024, 2, 29, 23, 59, 59));
    server.put("b.csv", b"b", at(2024, 2, 29, 23, 59, 58));
    let mut ftp = server.connect();
    let files = sorted(ftp.list(REPORTS).unwrap());
    assert_eq!(files[0].modified, Some(at(2024, 2, 29, 23, 59, 59)));
    for round in 0..5 {
        for file in &files {
            let dest = server.local().join(format!("{round}-{}", file.name));
            assert_eq!(ftp.fetch(file, &dest).unwrap(), file.size);
        }
    }
    assert!(fs::read(server.local().join("4-a.csv")).unwrap() == data);
    drop(ftp);
    let log = server.log();
    assert!(
        log.contains("SSL version: TLSv1.2"),
        "server did not use TLS 1.2"
    );
    assert!(!log.contains("TLSv1.3"));
    let (reused, fresh) = handshakes(&log);
    assert_eq!(fresh, 1);
    assert_eq!(reused, 11, "LIST + 10 RETR, all resumed");
}

/// The control experiment: a client that does not resume sessions is refused by this server,
/// so the tests above pass because of session reuse and not because the server is lax.
#[test]
fn server_refuses_data_connections_without_session_reuse() {
    use suppaftp::rustls::client::Resumption;
    use suppaftp::rustls::pki_types::pem::PemObject;
    use suppaftp::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use suppaftp::rustls::{ClientConfig, RootCertStore};
    use suppaftp::{RustlsConnector, RustlsFtpStream};

    let Some(server) = Server::start() else {
        return;
    };
    server.put("a.csv", b"a", at(2024, 1, 1, 0, 0, 0));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(server.dir.join("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let chain = CertificateDer::pem_file_iter(server.dir.join("client.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(server.dir.join("client.key")).unwrap();
    let provider = Arc::new(suppaftp::rustls::crypto::ring::default_provider());
    let mut tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    tls.resumption = Resumption::disabled();

    let mut ftp = RustlsFtpStream::connect(("127.0.0.1", server.port))
        .unwrap()
        .into_secure(RustlsConnector::from(Arc::new(tls)), "127.0.0.1")
        .unwrap();
    ftp.login("smtftp", &server.password()).unwrap();
    let err = ftp
        .nlst(Some(REPORTS))
        .expect_err("no session reuse, no data");
    println!("without session reuse: {err}");
    assert!(
        server.log().contains("session reuse required"),
        "{}",
        server.log()
    );
}
