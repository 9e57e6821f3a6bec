//! The SFTP transport against a real OpenSSH sshd (tests/sftp/sshd.sh: loopback port, run by the
//! unprivileged user smt, its own host key, internal-sftp): key authentication, the host key
//! checked against known_hosts, a wrong key, an unknown or changed host key, a dropped session
//! and a broken download resumed, a file that grows after it was listed. Needs sshd and root (a
//! missing part fails under CI).

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use smt_scheduler::transport::{
    HostKeyCheck, RemoteFile, SftpAuth, SftpConfig, SftpTransport, Transport,
};

fn config(server: &Sshd, key: &str, known_hosts: &str) -> SftpConfig {
    SftpConfig {
        host: "127.0.0.1".into(),
        port: server.port,
        user: "smt".into(),
        auth: SftpAuth::Key {
            path: server.path(key),
            passphrase: None,
        },
        host_key: HostKeyCheck::KnownHosts(server.path(known_hosts)),
        timeout: Duration::from_secs(20),
    }
}

/// Runs `f` on a blocking thread of a multi-threaded runtime, as the scheduler does.
fn on_runtime<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { tokio::task::spawn_blocking(f).await.unwrap() })
}

/// Bytes that do not compress and are not all alike, `n` of them.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut g = smt_core::testdata::Generator::new(seed);
    (0..n).map(|_| g.next_u64() as u8).collect()
}

#[test]
fn lists_and_fetches_with_a_key_once_the_host_key_is_known() {
    let Some(server) = Sshd::start() else {
        return;
    };
    let big = noise(3 * 1024 * 1024 + 17, 1);
    server.put(
        "adhocusage",
        "DailyMeterUsage20251201.CSV.123456789.asc",
        &big,
    );
    server.put("adhocusage", "small.txt", b"hello\n");
    server.put("EnrollmentReports", "other.csv", b"x");
    let dir = server.remote_dir("adhocusage");
    let cfg = config(&server, "client_key", "known_hosts");
    let scratch = scratch("sftp_fetch");
    let dest = scratch.path().join("got");
    let (files, written) = on_runtime({
        let dest = dest.clone();
        move || {
            let mut t = SftpTransport::connect(&cfg).expect("connect");
            let files = t.list(&dir).expect("list");
            let written = t.fetch(&files[0], &dest).expect("fetch");
            (files, written)
        }
    });
    let names: Vec<(&str, u64)> = files.iter().map(|f| (f.name.as_str(), f.size)).collect();
    assert_eq!(
        names,
        vec![
            (
                "DailyMeterUsage20251201.CSV.123456789.asc",
                big.len() as u64
            ),
            ("small.txt", 6)
        ]
    );
    assert!(files.iter().all(|f| f.modified.is_some()), "{files:?}");
    assert_eq!(written, big.len() as u64);
    assert_eq!(std::fs::read(&dest).unwrap(), big);
    assert!(!scratch.path().join("got.part").exists());
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dest).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "downloads are private");
}

#[test]
fn a_key_the_site_does_not_know_is_refused() {
    let Some(server) = Sshd::start() else {
        return;
    };
    let cfg = config(&server, "other_key", "known_hosts");
    let e = on_runtime(move || SftpTransport::connect(&cfg).err().expect("refused"));
    let msg = format!("{e:#}");
    assert!(msg.contains("refused user smt with key"), "{msg}");
}

#[test]
fn password_authentication_fetches_and_a_wrong_password_is_refused() {
    let Some(server) = Sshd::start_with_password() else {
        return;
    };
    server.put(
        "adhocusage",
        "IntervalMeterUsage1.CSV.123456789",
        b"ESIID,USAGE_DATE\n",
    );
    let dir = server.remote_dir("adhocusage");
    let with = |password: String| SftpConfig {
        user: "smtsftp".into(),
        auth: SftpAuth::Password(password),
        ..config(&server, "client_key", "known_hosts")
    };
    let right = with(server.password());
    let scratch = scratch("sftp_password");
    let dest = scratch.path().join("got");
    let (names, bytes) = on_runtime({
        let dest = dest.clone();
        move || {
            let mut t = SftpTransport::connect(&right).expect("connect with the password");
            let files = t.list(&dir).expect("list");
            t.fetch(&files[0], &dest).expect("fetch");
            let names: Vec<String> = files.into_iter().map(|f| f.name).collect();
            (names, std::fs::read(&dest).unwrap())
        }
    });
    assert_eq!(names, vec!["IntervalMeterUsage1.CSV.123456789"]);
    assert_eq!(bytes, b"ESIID,USAGE_DATE\n");
    let wrong = with("not-the-password".into());
    let e = on_runtime(move || SftpTransport::connect(&wrong).err().expect("refused"));
    let msg = format!("{e:#}");
    assert!(msg.contains("smtsftp") && msg.contains("password"), "{msg}");
    assert!(
        !msg.contains("not-the-password"),
        "no password in an error: {msg}"
    );
}

#[test]
fn an_unknown_or_changed_host_key_is_refused_and_accepting_any_is_explicit() {
    let Some(server) = Sshd::start() else {
        return;
    };
    let changed = config(&server, "client_key", "wrong_known_hosts");
    let e = on_runtime(move || SftpTransport::connect(&changed).err().expect("refused"));
    let msg = format!("{e:#}");
    assert!(
        msg.contains("host key refused") && msg.contains("is NOT the one"),
        "{msg}"
    );

    std::fs::write(server.path("empty_known_hosts"), "").unwrap();
    let unknown = config(&server, "client_key", "empty_known_hosts");
    let e = on_runtime(move || SftpTransport::connect(&unknown).err().expect("refused"));
    assert!(format!("{e:#}").contains("is not in"), "{e:#}");

    let missing = config(&server, "client_key", "no_such_file");
    let e = on_runtime(move || SftpTransport::connect(&missing).err().expect("refused"));
    assert!(format!("{e:#}").contains("does not exist"), "{e:#}");

    let mut any = config(&server, "client_key", "no_such_file");
    any.host_key = HostKeyCheck::AcceptAny;
    let dir = server.remote_dir("adhocusage");
    let listed = on_runtime(move || SftpTransport::connect(&any).unwrap().list(&dir).unwrap());
    assert!(listed.is_empty());
}

#[test]
fn a_dropped_session_reconnects_and_a_broken_download_resumes() {
    let Some(server) = Sshd::start() else {
        return;
    };
    let data = noise(2 * 1024 * 1024 + 3, 2);
    server.put("adhocusage", "report.zip.asc", &data);
    let dir = server.remote_dir("adhocusage");
    let cfg = config(&server, "client_key", "known_hosts");
    let scratch = scratch("sftp_resume");
    let dest = scratch.path().join("report");
    // What a transfer cut off after 1 MiB leaves behind.
    let cut = 1024 * 1024;
    std::fs::write(scratch.path().join("report.part"), &data[..cut]).unwrap();
    let drop_sessions = {
        let pid = std::fs::read_to_string(server.path("sshd.pid")).unwrap();
        move || {
            let _ = std::process::Command::new("pkill")
                .args(["-P", pid.trim()])
                .status();
        }
    };
    let (first, second) = on_runtime({
        let dest = dest.clone();
        move || {
            let mut t = SftpTransport::connect(&cfg).unwrap();
            let file: RemoteFile = t.list(&dir).unwrap().remove(0);
            // The connection drops before the fetch: the call fails, nothing lands at dest.
            drop_sessions();
            std::thread::sleep(Duration::from_millis(300));
            let first = t.fetch(&file, &dest).map_err(|e| format!("{e:#}"));
            // The next call reconnects and resumes from the partial file.
            let second = t.fetch(&file, &dest).map_err(|e| format!("{e:#}"));
            (first, second)
        }
    });
    assert!(
        first.is_err(),
        "a fetch over a dropped session fails: {first:?}"
    );
    assert_eq!(
        second,
        Ok((data.len() - cut) as u64),
        "resumed at byte {cut}"
    );
    assert_eq!(std::fs::read(&dest).unwrap(), data);
}

#[test]
fn a_file_that_grows_after_it_was_listed_is_not_fetched_half() {
    let Some(server) = Sshd::start() else {
        return;
    };
    let path = server.put("adhocusage", "growing.csv", b"ESIID,USAGE_DATE\n");
    let dir = server.remote_dir("adhocusage");
    let cfg = config(&server, "client_key", "known_hosts");
    let scratch = scratch("sftp_growing");
    let dest = scratch.path().join("growing");
    let outcome = on_runtime({
        let dest = dest.clone();
        move || {
            let mut t = SftpTransport::connect(&cfg).unwrap();
            let file = t.list(&dir).unwrap().remove(0);
            // SMT is still writing it.
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            std::io::Write::write_all(&mut f, b"10443720000000001,09/01/2025\n").unwrap();
            t.fetch(&file, &dest).map_err(|e| format!("{e:#}"))
        }
    });
    let e = outcome.expect_err("a file that changed since it was listed is not fetched");
    assert!(e.contains("still being written"), "{e}");
    assert!(!dest.exists());
    assert!(
        !Path::new(&format!("{}.part", dest.display())).exists()
            || std::fs::metadata(format!("{}.part", dest.display()))
                .unwrap()
                .len()
                == 0
    );
}
