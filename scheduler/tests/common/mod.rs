//! Shared helpers of the scheduler's tests (tests/scheduler_e2e.rs, tests/pgp_zip.rs,
//! tests/ftps.rs): a fresh database per test, the real `smt` binary, generated deliveries with
//! their expected contents, GnuPG and a real vsftpd. Each test binary uses a part of them.
//!
//! The cluster comes from `SMT_TEST_DATABASE_URL`, an admin URL such as
//! `postgresql://postgres@127.0.0.1:55433/postgres` with the smt extension installed (`make test`
//! starts one and sets it). Without it, or without gpg, vsftpd or root where a test needs them, the
//! test says so and passes on a laptop, and fails under `SMT_REQUIRE_ALL_PARTS=1` (the Makefile
//! sets it) or `CI=true` (smt-e2e's `missing_part`, the one rule for a missing part).
//!
//! Each test makes its own database (smt-e2e's [`TestDb::extension_only`]: unique name, process
//! id and a counter) and its own scratch directory, so tests run in parallel; the database is
//! dropped by a guard, on failure too.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::io::{Cursor, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use chrono::NaiveDate;
use postgres::Client;
use smt_core::testdata::{self, Generator};
use smt_core::{DecimalSum, IntervalRecord};

// The fresh database per test (and its query helpers) are smt-e2e's; the scheduler's tests use
// databases with only the extension in them.
#[allow(unused_imports)] // not every test binary queries rows
pub use smt_e2e::{explain, one, require_part, rows_text, TestDb};

pub fn exec(c: &mut Client, sql: &str) {
    c.batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {}", explain(&e)));
}

/// Row counts of the tables a load writes.
pub fn load_counts(c: &mut Client) -> BTreeMap<&'static str, i64> {
    [
        "smt.file",
        "smt.file_content",
        "smt.interval_day",
        "smt.interval_version",
        "smt.reject",
    ]
    .into_iter()
    .map(|t| (t, one::<i64>(c, &format!("SELECT count(*) FROM {t}"), &[])))
    .collect()
}

// ---------------------------------------------------------------------------------------------
// The binary.

/// A scratch directory of the test (removed on drop).
pub fn scratch(test: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("smt-e2e-{test}-"))
        .tempdir()
        .expect("scratch directory")
}

/// `smt ARGS` with a clean environment (no DATABASE_URL, SMT_CONFIG or secrets from outside),
/// working in `cwd`.
pub fn smt(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smt"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env_remove("SMT_CONFIG")
        .env_remove("SMT_PGP_PASSPHRASE")
        .env_remove("SMT_FTPS_PASSWORD")
        .env("SMT_LOG", "info")
        .stdin(Stdio::null());
    cmd
}

/// What a finished command did.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics with the output unless the exit code is `code`.
    pub fn expect_code(self, code: i32, what: &str) -> Output {
        assert_eq!(
            self.code(),
            Some(code),
            "{what}: exit status {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A running `smt` with its output collected in the background.
pub struct Running {
    pub child: Child,
    out: Option<std::thread::JoinHandle<String>>,
    err: Option<std::thread::JoinHandle<String>>,
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting smt");
        let out = Some(drain(child.stdout.take().unwrap()));
        let err = Some(drain(child.stderr.take().unwrap()));
        Running { child, out, err }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the exit; kills the process and panics after `timeout`.
    pub fn wait(mut self, timeout: Duration) -> Output {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("waiting for smt") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let (stdout, stderr) = self.collect();
                panic!("smt did not finish within {timeout:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let (stdout, stderr) = self.collect();
        Output {
            status,
            stdout,
            stderr,
        }
    }

    /// SIGKILL, then the output so far.
    pub fn kill9(mut self) -> Output {
        self.child.kill().expect("kill -9 smt");
        let status = self.child.wait().expect("reaping smt");
        let (stdout, stderr) = self.collect();
        Output {
            status,
            stdout,
            stderr,
        }
    }

    fn collect(&mut self) -> (String, String) {
        (
            self.out
                .take()
                .map(|h| h.join().unwrap())
                .unwrap_or_default(),
            self.err
                .take()
                .map(|h| h.join().unwrap())
                .unwrap_or_default(),
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that panicked while smt ran must not leave it behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `cmd` to the end (at most `timeout`).
pub fn run(cmd: Command, timeout: Duration) -> Output {
    Running::spawn(cmd).wait(timeout)
}

/// How long one `smt` command may take before the test gives up on it.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// `smt jobs --database-url URL ARGS`, which must succeed.
pub fn jobs(db: &TestDb, cwd: &Path, args: &[&str]) -> Output {
    let mut all = vec!["jobs", "--database-url", db.url()];
    all.extend_from_slice(args);
    run(smt(cwd, &all), COMMAND_TIMEOUT).expect_code(0, &format!("smt {all:?}"))
}

// ---------------------------------------------------------------------------------------------
// Generated data and what the database must show for it.

/// Generated records whose ESIIDs never repeat within a test (so every record is its own
/// ESIID-channel-day and the expected totals are plain sums).
pub struct Data {
    generator: Generator,
    seen: HashSet<String>,
    pub days: Vec<NaiveDate>,
}

impl Data {
    pub fn new(seed: u64) -> Data {
        let mut days = testdata::dst_days_2025().to_vec();
        days.push(NaiveDate::from_ymd_opt(2025, 7, 15).unwrap());
        Data {
            generator: Generator::new(seed),
            seen: HashSet::new(),
            days,
        }
    }

    /// Records of `esiids` new meters on this data's days.
    pub fn records(&mut self, esiids: usize) -> Vec<IntervalRecord> {
        self.records_on(esiids, &self.days.clone())
    }

    pub fn records_on(&mut self, esiids: usize, days: &[NaiveDate]) -> Vec<IntervalRecord> {
        loop {
            let records = self.generator.records(esiids, days);
            let ids: HashSet<String> = records.iter().map(|r| r.esiid.clone()).collect();
            if ids.len() == esiids && ids.is_disjoint(&self.seen) {
                self.seen.extend(ids);
                return records;
            }
        }
    }
}

/// One report: its bytes and the records it holds.
#[derive(Clone)]
pub struct Report {
    pub name: String,
    pub bytes: Vec<u8>,
    pub records: Vec<IntervalRecord>,
}

pub fn lse_report(name: &str, records: Vec<IntervalRecord>) -> Report {
    Report {
        name: name.to_owned(),
        bytes: testdata::lse_bytes(&records, true),
        records,
    }
}

pub fn csv_report(name: &str, records: Vec<IntervalRecord>) -> Report {
    Report {
        name: name.to_owned(),
        bytes: testdata::csv_bytes(&records),
        records,
    }
}

/// A zip archive of the reports (deflated), members named as the reports.
pub fn zip_of(reports: &[&Report]) -> Vec<u8> {
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for r in reports {
        w.start_file(r.name.as_str(), opts).unwrap();
        w.write_all(&r.bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}

/// Sets a file's modification time to `ago` before now.
pub fn age(path: &Path, ago: Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - ago)
        .unwrap();
}

/// The expected content of smt.interval: every record once, as its own day.
pub struct Expected {
    pub days: BTreeMap<(String, i16, String), (i64, i64, DecimalSum)>,
    pub total: DecimalSum,
    pub present: i64,
}

impl Expected {
    pub fn of<'a>(records: impl IntoIterator<Item = &'a IntervalRecord>) -> Expected {
        let mut days = BTreeMap::new();
        let mut total = DecimalSum::default();
        let mut present = 0;
        for r in records {
            let key = (r.esiid.clone(), i16::from(r.channel), r.day.to_string());
            let sum = r.kwh_sum();
            for x in r.intervals.iter().flatten() {
                total.add(x.kwh);
            }
            present += r.present() as i64;
            let old = days.insert(
                key.clone(),
                (r.intervals.len() as i64, r.present() as i64, sum),
            );
            assert!(old.is_none(), "generated data repeats {key:?}");
        }
        Expected {
            days,
            total,
            present,
        }
    }

    pub fn of_reports<'a>(reports: impl IntoIterator<Item = &'a Report>) -> Expected {
        Expected::of(reports.into_iter().flat_map(|r| r.records.iter()))
    }

    /// Asserts that smt.interval holds exactly these days with exactly these sums, and that
    /// smt.interval_day has one row per day.
    pub fn assert_loaded(&self, c: &mut Client) {
        let stored: i64 = one(c, "SELECT count(*) FROM smt.interval_day", &[]);
        assert_eq!(
            stored,
            self.days.len() as i64,
            "smt.interval_day rows (one per ESIID-channel-day)"
        );
        let total: Option<String> = one(c, "SELECT sum(kwh)::text FROM smt.interval", &[]);
        assert!(
            total.as_deref().is_some_and(|t| self.total.equals_text(t)),
            "sum(kwh) of smt.interval is {total:?}, generated {}",
            self.total
        );
        let present: i64 = one(c, "SELECT count(kwh) FROM smt.interval", &[]);
        assert_eq!(present, self.present, "intervals with a kWh value");
        let rows = c
            .query(
                "SELECT esiid, channel, day::text, count(*), count(kwh), sum(kwh)::text
                   FROM smt.interval GROUP BY 1, 2, 3",
                &[],
            )
            .unwrap_or_else(|e| panic!("smt.interval by day: {}", explain(&e)));
        assert_eq!(rows.len(), self.days.len(), "days in smt.interval");
        for row in rows {
            let key: (String, i16, String) = (row.get(0), row.get(1), row.get(2));
            let (n, present, sum) = self
                .days
                .get(&key)
                .unwrap_or_else(|| panic!("smt.interval shows {key:?}, which was never generated"));
            let got: (i64, i64, Option<String>) = (row.get(3), row.get(4), row.get(5));
            assert_eq!((got.0, got.1), (*n, *present), "{key:?}: rows, present");
            match &got.2 {
                Some(t) => assert!(sum.equals_text(t), "{key:?}: sum {t}, generated {sum}"),
                None => assert_eq!(*present, 0, "{key:?}: no sum"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GnuPG.

pub const PASSPHRASE: &str = "correct horse battery staple";

pub fn gpg_available() -> bool {
    Command::new("gpg")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// True when gpg is on the PATH; otherwise reports it missing ([`require_part`]).
pub fn require_gpg() -> bool {
    require_part(
        gpg_available(),
        "gpg (GnuPG) on the PATH",
        "`make setup` installs it (Debian package gnupg)",
    )
}

/// A throwaway GNUPGHOME; its gpg-agent is stopped on drop.
pub struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    /// A GNUPGHOME whose agent hashes passphrases with the lowest count.
    pub fn new() -> Gpg {
        let gpg = Gpg::with_agent_defaults();
        // The agent calibrates its passphrase hashing to the machine: seconds per key when the
        // machine is busy. The lowest count is plenty for a throwaway key.
        std::fs::write(gpg.home.path().join("gpg-agent.conf"), "s2k-count 65536\n").unwrap();
        gpg
    }

    /// A GNUPGHOME with gpg-agent's own settings.
    pub fn with_agent_defaults() -> Gpg {
        let home = tempfile::Builder::new()
            .prefix("smt-gpg-")
            .tempdir()
            .expect("GNUPGHOME");
        Gpg { home }
    }

    /// Runs gpg with `args` and `input` on stdin; returns stdout.
    pub fn run(&self, args: &[&str], input: &[u8]) -> Vec<u8> {
        let mut child = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--no-tty", "--quiet", "--yes"])
            .args(["--pinentry-mode", "loopback", "--trust-model", "always"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gpg");
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().expect("run gpg");
        writer.join().unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// A new key (ed25519 primary, cv25519 encryption subkey) under `passphrase`; its fingerprint.
    pub fn gen_key(&self, uid: &str, passphrase: &str) -> String {
        let fpr = self.gen_primary_key(uid, "ed25519", "sign", passphrase);
        self.run(
            &[
                "--passphrase",
                passphrase,
                "--quick-add-key",
                &fpr,
                "cv25519",
                "encrypt",
                "never",
            ],
            b"",
        );
        fpr
    }

    /// A new primary key only (`--quick-gen-key UID ALGO USAGE never`); its fingerprint.
    pub fn gen_primary_key(&self, uid: &str, algo: &str, usage: &str, passphrase: &str) -> String {
        self.run(
            &[
                "--passphrase",
                passphrase,
                "--quick-gen-key",
                uid,
                algo,
                usage,
                "never",
            ],
            b"",
        );
        self.fingerprint(uid)
    }

    fn fingerprint(&self, uid: &str) -> String {
        let text =
            String::from_utf8(self.run(&["--with-colons", "--list-keys", uid], b"")).unwrap();
        text.lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("fingerprint")
            .to_owned()
    }

    /// The armored secret key.
    pub fn export_secret(&self, fpr: &str, passphrase: &str) -> Vec<u8> {
        self.run(
            &[
                "--passphrase",
                passphrase,
                "--armor",
                "--export-secret-keys",
                fpr,
            ],
            b"",
        )
    }

    /// The armored secret key, as a file `smt --pgp-key` reads.
    pub fn export_secret_to(&self, fpr: &str, passphrase: &str, to: &Path) {
        std::fs::write(to, self.export_secret(fpr, passphrase)).unwrap();
    }

    /// The armored public key.
    pub fn export_public(&self, fpr: &str) -> Vec<u8> {
        self.run(&["--armor", "--export", fpr], b"")
    }

    /// `gpg --trust-model always -r FPR --encrypt` (with `--armor` for .asc).
    pub fn encrypt(&self, data: &[u8], fpr: &str, armor: bool) -> Vec<u8> {
        let mut args = vec!["-r", fpr, "--output", "-"];
        if armor {
            args.push("--armor");
        }
        args.push("--encrypt");
        self.run(&args, data)
    }

    /// `gpg -r R... --passphrase PASSPHRASE EXTRA... --output - --encrypt`: to several recipients,
    /// with more options (`--sign` with the key under [`PASSPHRASE`], `--armor`, ...).
    pub fn encrypt_with(&self, data: &[u8], recipients: &[&str], extra: &[&str]) -> Vec<u8> {
        let mut args: Vec<&str> = Vec::new();
        for r in recipients {
            args.extend(["-r", r]);
        }
        args.extend(["--passphrase", PASSPHRASE]);
        args.extend(extra);
        args.extend(["--output", "-", "--encrypt"]);
        self.run(&args, data)
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A test's keys: the retailer's key (passphrase-protected, exported to `secret`) and another
/// key nobody here holds the secret of.
pub struct Keys {
    pub gpg: Gpg,
    pub rep: String,
    pub other: String,
    pub secret: PathBuf,
    pub other_secret: PathBuf,
}

impl Keys {
    /// `None` (after printing why, see [`require_gpg`]) when gpg is not installed.
    pub fn new(dir: &Path) -> Option<Keys> {
        if !require_gpg() {
            return None;
        }
        let gpg = Gpg::new();
        let rep = gpg.gen_key("REP <rep@example.test>", PASSPHRASE);
        let other = gpg.gen_key("Other <other@example.test>", "");
        let secret = dir.join("rep-secret.asc");
        gpg.export_secret_to(&rep, PASSPHRASE, &secret);
        let other_secret = dir.join("other-secret.asc");
        gpg.export_secret_to(&other, "", &other_secret);
        Some(Keys {
            gpg,
            rep,
            other,
            secret,
            other_secret,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// vsftpd (tests/ftps/vsftpd.sh).

/// The FTPS servers share the system user smtftp: one at a time in this process.
pub static FTPS_SERIAL: Mutex<()> = Mutex::new(());

pub fn vsftpd_installed() -> bool {
    let on_path = Command::new("sh")
        .args(["-c", "command -v vsftpd"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    on_path || Path::new("/usr/sbin/vsftpd").exists()
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// True when a test vsftpd can run here (vsftpd installed, and root: it chroots and its system user
/// is made); otherwise reports what is missing ([`require_part`]).
pub fn require_vsftpd() -> bool {
    require_part(
        vsftpd_installed(),
        "vsftpd",
        "`make setup` installs it (Debian package vsftpd)",
    ) && require_part(
        is_root(),
        "root, for the FTPS tests (vsftpd chroots; a system user is made)",
        "run `make test` as root",
    )
}

/// A free loopback port with the 20 above it (vsftpd's passive range) free too.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port > 65000 {
            continue;
        }
        if (port..=port + 20).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return port;
        }
    }
    panic!("no free loopback port range");
}

pub fn vsftpd_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ftps/vsftpd.sh")
}

/// A running vsftpd in its own directory; stopped (and the directory removed) on drop.
pub struct Vsftpd {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Vsftpd {
    /// `None` (after printing why, see [`require_vsftpd`]) without vsftpd or root.
    pub fn start() -> Option<Vsftpd> {
        if !require_vsftpd() {
            return None;
        }
        let server = Vsftpd {
            dir: tempfile::Builder::new()
                .prefix("smt-e2e-vsftpd-")
                .tempdir()
                .unwrap(),
            port: free_port(),
        };
        let out = Command::new("bash")
            .arg(vsftpd_script())
            .arg("start")
            .arg(server.dir.path())
            .arg(server.port.to_string())
            .output()
            .expect("running tests/ftps/vsftpd.sh");
        assert!(
            out.status.success(),
            "vsftpd.sh start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(server)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub fn password(&self) -> String {
        std::fs::read_to_string(self.path("password"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// Puts a file into the user's reports/ directory, owned by smtftp.
    pub fn put(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join("home/reports").join(name);
        std::fs::write(&path, bytes).unwrap();
        let status = Command::new("chown")
            .arg("smtftp:")
            .arg(&path)
            .status()
            .expect("chown");
        assert!(status.success(), "chown smtftp {}", path.display());
        path
    }
}

impl Drop for Vsftpd {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(vsftpd_script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

// ---------------------------------------------------------------------------------------------
// A real OpenSSH sshd (tests/sftp/sshd.sh), as SMT's SFTP site.

pub fn require_sshd() -> bool {
    require_part(
        Path::new("/usr/sbin/sshd").exists(),
        "sshd",
        "`make setup` installs it (Debian package openssh-server)",
    ) && require_part(
        is_root(),
        "root, for the SFTP tests (sshd runs as the unprivileged user smt)",
        "run `make test` as root",
    )
}

fn sshd_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sftp/sshd.sh")
}

/// A running sshd in its own directory, run by the user smt; stopped (and the directory removed)
/// on drop. Remote paths are absolute: [`Sshd::remote_dir`].
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Sshd {
    /// `None` (after printing why, see [`require_sshd`]) without sshd or root.
    pub fn start() -> Option<Sshd> {
        Sshd::start_mode("start")
    }

    /// The same site with password authentication, for the user `smtsftp` (sshd run by root);
    /// the password in [`Sshd::password`].
    pub fn start_with_password() -> Option<Sshd> {
        Sshd::start_mode("start-password")
    }

    pub fn password(&self) -> String {
        std::fs::read_to_string(self.path("password"))
            .unwrap()
            .trim()
            .to_owned()
    }

    fn start_mode(mode: &str) -> Option<Sshd> {
        if !require_sshd() {
            return None;
        }
        let server = Sshd {
            dir: tempfile::Builder::new()
                .prefix("smt-e2e-sshd-")
                .tempdir()
                .unwrap(),
            port: free_port(),
        };
        let out = Command::new("bash")
            .arg(sshd_script())
            .arg(mode)
            .arg(server.dir.path())
            .arg(server.port.to_string())
            .output()
            .expect("running tests/sftp/sshd.sh");
        assert!(
            out.status.success(),
            "sshd.sh start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(server)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// The absolute remote path of a directory under the site's home (`adhocusage`).
    pub fn remote_dir(&self, dir: &str) -> String {
        self.dir.path().join("home").join(dir).display().to_string()
    }

    /// Puts a file into a directory of the site's home, owned by the sshd's user.
    pub fn put(&self, dir: &str, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join("home").join(dir).join(name);
        std::fs::write(&path, bytes).unwrap();
        let status = Command::new("chown")
            .arg("smt:")
            .arg(&path)
            .status()
            .expect("chown");
        assert!(status.success(), "chown smt {}", path.display());
        path
    }

    /// Ends every open SSH session (the connections drop); the server keeps listening.
    pub fn drop_sessions(&self) {
        let pid = std::fs::read_to_string(self.path("sshd.pid")).unwrap();
        let _ = Command::new("pkill").args(["-P", pid.trim()]).status();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(sshd_script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// A simulator's /sim control endpoint over its own TLS, with python's ssl (no curl): `ca` the CA
/// to trust, `client` the certificate and key to present when the server asks for one. The body
/// of the answer; a failure fails the test.
pub fn sim_control(
    ca: &Path,
    client: Option<(&Path, &Path)>,
    port: u16,
    path: &str,
    body: &str,
) -> String {
    let load_client = client
        .map(|(cert, key)| {
            format!(
                "ctx.load_cert_chain({:?},{:?})\n",
                cert.display().to_string(),
                key.display().to_string()
            )
        })
        .unwrap_or_default();
    let code = format!(
        "import ssl,urllib.request,sys\n\
         ctx=ssl.create_default_context(cafile={ca:?})\n\
         {load_client}\
         data=None if {body:?}=='' else {body:?}.encode()\n\
         r=urllib.request.urlopen(urllib.request.Request('https://127.0.0.1:{port}{path}',data=data,\
         headers={{'Content-Type':'application/json'}}),context=ctx)\n\
         sys.stdout.write(r.read().decode())",
        ca = ca.display().to_string(),
    );
    let out = Command::new("python3")
        .args(["-c", &code])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sim {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
