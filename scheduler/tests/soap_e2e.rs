//! End to end: requests made in SQL via 'soap' (`smt.request_usage`), sent by the real `smt`
//! worker (job kind soap_api) to the bundled stand-in for the seeds' SMT SOAP API
//! (tests/smt-soap/sim.py: mutual TLS, a WS-Security UsernameToken, SMT's envelopes), answered
//! at once with a file fetched over HTTPS, or later with a file on a real vsftpd (FTPS with
//! client certificates) that an ftps_fetch job loads; every file loaded exactly. Faults (a wrong
//! password, another CA's client certificate, SMT down, a refusal, a lost result) are recorded on
//! the request and flagged.
//!
//! Needs `SMT_TEST_DATABASE_URL`, python3 with openssl, vsftpd and root; a missing part fails
//! under CI.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use postgres::Client;
use smt_core::EsiidMode;
use smt_e2e::assert_interval_view_matches;

const PASSWORD_ENV: &str = "SMT_SOAP_PASSWORD";
const USER: &str = "REPSYSTEM";
const DUNS: &str = "957877905";
const E1: &str = "10443720000000001";
const E2: &str = "1008901000000000000001";
const E3: &str = "10443720000000003";
/// A bearer token the worker may send beside its certificate (`bearer_token_env`).
const BEARER: &str = "test-bearer-token-not-a-secret-of-anyone";

/// The SOAP simulator, stopped on drop.
struct SoapSim {
    child: Child,
    dir: PathBuf,
    port: u16,
    password: String,
}

impl SoapSim {
    fn start(dir: &Path, drop_dir: &Path) -> Option<SoapSim> {
        let python = Command::new("python3").arg("--version").output();
        if !require_part(
            python.is_ok_and(|o| o.status.success()),
            "python3 (the SMT SOAP simulator)",
            "apt-get install python3",
        ) {
            return None;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/smt-soap/sim.py");
        let password = format!("soap-{}", std::process::id());
        let sim_dir = dir.join("soap-sim");
        let child = Command::new("python3")
            .arg(&script)
            .arg(&sim_dir)
            .args([
                "--user",
                USER,
                "--password-env",
                PASSWORD_ENV,
                "--duns",
                DUNS,
            ])
            .arg("--drop-dir")
            .arg(drop_dir)
            .env(PASSWORD_ENV, &password)
            .stdin(Stdio::null())
            .spawn()
            .expect("starting the SMT SOAP simulator");
        let port_file = sim_dir.join("port");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !port_file.exists() {
            assert!(
                Instant::now() < deadline,
                "the SOAP simulator never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let port = std::fs::read_to_string(&port_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        Some(SoapSim {
            child,
            dir: sim_dir,
            port,
            password,
        })
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// The /sim endpoints, over the same mutual TLS.
    fn control(&self, path: &str, body: &str) -> String {
        let (cert, key) = (self.dir.join("client.pem"), self.dir.join("client.key"));
        sim_control(
            &self.dir.join("ca.pem"),
            Some((&cert, &key)),
            self.port,
            path,
            body,
        )
    }

    fn log(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.control("/sim/log", "")).unwrap()
    }

    /// `[soap_api.smt-soap]` with the client certificate `cert` (client or other-client).
    fn config_toml(&self, cert: &str, downloads: &Path) -> String {
        let path = |p: String| toml::Value::String(p).to_string();
        format!(
            "[soap_api.smt-soap]\nurl = \"https://127.0.0.1:{port}/meterusage\"\nuser_id = \"REPUSER\"\n\
             username = \"{USER}\"\npassword_env = \"{PASSWORD_ENV}\"\nclient_cert = {cert}\n\
             client_key = {key}\nca_file = {ca}\nmin_interval_ms = 100\ntimeout_seconds = 20\n\
             download_dir = {dl}\n",
            port = self.port,
            cert = path(self.file(&format!("{cert}.pem"))),
            key = path(self.file(&format!("{cert}.key"))),
            ca = path(self.file("ca.pem")),
            dl = path(downloads.display().to_string()),
        )
    }
}

impl Drop for SoapSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A database, vsftpd as SMT's FTPS site, the SOAP simulator dropping its files there, and a
/// worker config naming both (soap job `soap`, FTPS job `ftps`).
struct Setup {
    db: TestDb,
    dir: tempfile::TempDir,
    ftps: Vsftpd,
    sim: SoapSim,
    config: PathBuf,
}

fn setup(test: &str) -> Option<Setup> {
    let db = TestDb::extension_only(test)?;
    let dir = scratch(test);
    let ftps = Vsftpd::start()?;
    let sim = SoapSim::start(dir.path(), &ftps.path("home/reports"))?;
    let config = dir.path().join("smt.toml");
    let s = Setup {
        db,
        config,
        ftps,
        sim,
        dir,
    };
    s.write_config("client");
    let mut c = s.db.connect();
    exec(
        &mut c,
        &format!(
            "SELECT smt.job_add('soap', 'soap_api', '0 3 * * *', '{{\"source\": \"smt-soap\"}}');
             SELECT smt.job_add('ftps', 'ftps_fetch', '0 3 * * *', '{}');",
            serde_json::json!({"source": "smt-ftps", "dirs": ["/reports"]})
        ),
    );
    Some(s)
}

impl Setup {
    fn write_config(&self, cert: &str) {
        self.write_config_with(cert, "");
    }

    /// The config with `extra` lines added to `[soap_api.smt-soap]`.
    fn write_config_with(&self, cert: &str, extra: &str) {
        let path = |p: PathBuf| toml::Value::String(p.display().to_string()).to_string();
        let text = format!(
            "[worker]\npoll_seconds = 1\nlease_seconds = 30\n{}\
             [ftps.smt-ftps]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"smtftp\"\n\
             password_env = \"SMT_FTPS_PASSWORD\"\nca_file = {}\nclient_cert = {}\nclient_key = {}\n\
             download_dir = {}\ntimeout_seconds = 20\n",
            self.sim
                .config_toml(cert, &self.dir.path().join("soap-files"))
                + extra,
            self.ftps.port,
            path(self.ftps.path("ca.pem")),
            path(self.ftps.path("client.pem")),
            path(self.ftps.path("client.key")),
            path(self.dir.path().join("ftps-downloads")),
        );
        std::fs::write(&self.config, text).unwrap();
    }

    /// `smt jobs run-now JOB`, then a worker until idle; the SOAP password is `password`.
    fn run_job_with(&self, job: &str, password: &str) -> Output {
        jobs(&self.db, self.dir.path(), &["run-now", job]);
        let mut cmd = smt(
            self.dir.path(),
            &[
                "run",
                "--exit-when-idle",
                "--database-url",
                self.db.url(),
                "--config",
                self.config.to_str().unwrap(),
            ],
        );
        cmd.env(PASSWORD_ENV, password)
            .env("SMT_FTPS_PASSWORD", self.ftps.password())
            .env("SMT_SOAP_BEARER", BEARER)
            .env("SMT_LOG", "debug");
        let out = run(cmd, Duration::from_secs(180)).expect_code(0, "smt run");
        for secret in [&self.sim.password, &self.ftps.password()] {
            assert!(
                !out.stdout.contains(secret.as_str()) && !out.stderr.contains(secret.as_str()),
                "a secret in the worker's output"
            );
        }
        out
    }

    fn run_job(&self, job: &str) -> Output {
        self.run_job_with(job, &self.sim.password.clone())
    }
}

/// (state, attempts, files, last_error, awaiting_files) of a request.
fn request(c: &mut Client, id: i64) -> (String, i32, i32, Option<String>, Vec<String>) {
    let r = c
        .query_one(
            "SELECT state, attempts, files, last_error, awaiting_files FROM smt.request_log WHERE request_id = $1",
            &[&id],
        )
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))
}

fn ask(c: &mut Client, esiids: &[&str], report: &str, first: &str, last: &str) -> i64 {
    one(
        c,
        "SELECT smt.request_usage($1::text[], $2, $3::text::date, $4::text::date, 'soap')",
        &[&esiids, &report, &first, &last],
    )
}

/// Every file of the request, as delivered, read by core and found exactly in the views; the
/// number of interval records and daily reads checked.
fn assert_files_loaded_exactly(c: &mut Client, request: i64) -> (usize, usize) {
    let files: Vec<(String, Vec<u8>)> = c
        .query(
            "SELECT d.name, smt.delivery_bytes(d.remote_file_id) FROM smt.remote_file d
              WHERE d.state = 'loaded' AND d.file_ids && (SELECT file_ids FROM smt.request WHERE request_id = $1)",
            &[&request],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(!files.is_empty(), "request {request}: no file kept");
    let (mut intervals, mut daily) = (0, 0);
    for (name, bytes) in files {
        if name.starts_with("IntervalMeterUsage") {
            for r in smt_core::interval_records(
                &bytes[..],
                smt_core::Format::IntervalCsv,
                EsiidMode::Strict,
            )
            .unwrap()
            {
                assert_interval_view_matches(c, &r.unwrap());
                intervals += 1;
            }
        } else {
            assert!(name.starts_with("DailyMeterUsage"), "{name}");
            let text = String::from_utf8(bytes).unwrap();
            for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
                let f: Vec<&str> = line.split(',').collect();
                let esiid = f[0].trim_start_matches('\'');
                let stored: (String, String, String) = {
                    let r = c
                        .query_one(
                            "SELECT start_reading::text, end_reading::text, usage_kwh::text FROM smt.daily_read
                              WHERE esiid = $1 AND day = to_date($2, 'MM/DD/YYYY')",
                            &[&esiid, &f[1]],
                        )
                        .unwrap();
                    (r.get(0), r.get(1), r.get(2))
                };
                assert_eq!(
                    stored,
                    (f[3].to_owned(), f[4].to_owned(), f[5].to_owned()),
                    "{name}: {line}"
                );
                daily += 1;
            }
        }
    }
    (intervals, daily)
}

fn days_ago(c: &mut Client, n: i32) -> String {
    one(c, "SELECT (smt._tomorrow() - 1 - $1::int)::text", &[&n])
}

#[test]
fn soap_requests_from_sql_are_answered_at_once_or_later_over_ftps_and_loaded_exactly() {
    let _serial = FTPS_SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(s) = setup("soap_flow") else {
        return;
    };
    let mut c = s.db.connect();
    let thirteen_months: String = one(
        &mut c,
        "SELECT ((smt._tomorrow() - 2) - interval '13 months')::date::text",
        &[],
    );
    let (d31, d2) = (days_ago(&mut c, 31), days_ago(&mut c, 2));
    // One ESIID × 30 days: answered at once with a file URL, fetched over HTTPS and loaded.
    let month = ask(&mut c, &[E1], "interval", &d31, &d2);
    let daily = ask(&mut c, &[E1], "daily", &d31, &d2);
    // 3 ESIIDs × 13 months: one call, answered later with a file on the FTPS site.
    let three = ask(&mut c, &[E1, E2, E3], "interval", &thirteen_months, &d2);
    // One ESIID × 13 months: a 12-month call answered later, and the rest at once.
    let long = ask(&mut c, &[E3], "interval", &thirteen_months, &d2);
    s.run_job("soap");
    let (state, attempts, files, error, awaiting) = request(&mut c, month);
    assert_eq!(
        (state.as_str(), attempts, files, error, awaiting.len()),
        ("fulfilled", 1, 1, None, 0)
    );
    assert_eq!(request(&mut c, daily).0, "fulfilled");
    let (state, _, files, _, awaiting) = request(&mut c, three);
    assert_eq!((state.as_str(), files, awaiting.len()), ("waiting", 0, 1));
    let (state, _, files, _, awaiting) = request(&mut c, long);
    assert_eq!(
        (state.as_str(), files, awaiting.len()),
        ("waiting", 1, 1),
        "the rest came at once"
    );
    let correlation: Vec<String> = one(
        &mut c,
        "SELECT correlation_ids FROM smt.request WHERE request_id = $1",
        &[&three],
    );
    assert_eq!(correlation, request(&mut c, three).4);

    // What SMT received: SMT's envelope with the UsernameToken, and calls within its limits.
    let log = s.sim.log();
    let calls: Vec<&serde_json::Value> =
        log.iter().filter(|e| e["path"] == "/meterusage").collect();
    assert_eq!(calls.len(), 5, "{calls:?}");
    for call in &calls {
        assert_eq!(
            (call["status"].as_i64(), &call["username"]),
            (Some(200), &serde_json::json!(USER))
        );
        assert_eq!(call["has_password"], true);
    }
    let kinds: Vec<&str> = calls.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "sync").count(),
        3,
        "{kinds:?}"
    );

    // The files SMT drops land on the FTPS site; the ftps_fetch job loads them and fulfils both.
    std::thread::sleep(Duration::from_millis(1200));
    s.run_job("ftps");
    for id in [three, long] {
        let (state, _, _, error, awaiting) = request(&mut c, id);
        assert_eq!(
            (state.as_str(), error, awaiting.len()),
            ("fulfilled", None, 0),
            "request {id}"
        );
    }
    let (month_records, _) = assert_files_loaded_exactly(&mut c, month);
    assert_eq!(month_records % 30, 0, "30 days a channel: {month_records}");
    let (_, reads) = assert_files_loaded_exactly(&mut c, daily);
    assert_eq!(reads, 30);
    let (three_records, _) = assert_files_loaded_exactly(&mut c, three);
    let days: i64 = one(
        &mut c,
        "SELECT count(DISTINCT day) FROM smt.interval_day WHERE esiid = $1",
        &[&E2],
    );
    assert!(days >= 390, "13 months of days: {days}");
    assert!(three_records as i64 >= 3 * days);
    assert_files_loaded_exactly(&mut c, long);

    // Monthly billed usage over six months: answered later with SMT's monthly file, loaded into
    // smt.monthly_usage exactly.
    let six_months: String = one(
        &mut c,
        "SELECT ((smt._tomorrow() - 2) - interval '6 months')::date::text",
        &[],
    );
    let monthly = ask(&mut c, &[E1], "monthly", &six_months, &d2);
    s.run_job("soap");
    assert_eq!(request(&mut c, monthly).0, "waiting");
    std::thread::sleep(Duration::from_millis(1200));
    s.run_job("ftps");
    assert_eq!(request(&mut c, monthly).0, "fulfilled");
    let file: Vec<u8> = one(
        &mut c,
        "SELECT smt.delivery_bytes(d.remote_file_id) FROM smt.remote_file d
          WHERE d.state = 'loaded' AND d.name LIKE 'MonthlyMeterUsage%'",
        &[],
    );
    let text = String::from_utf8(file).unwrap();
    let mut periods = 0;
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let kwh: Option<String> = one(
            &mut c,
            "SELECT actual_kwh::text FROM smt.monthly_usage
              WHERE esiid = $1 AND start_date = to_date($2, 'MM/DD/YYYY') AND end_date = to_date($3, 'MM/DD/YYYY')",
            &[&f[0].trim_start_matches('\''), &f[1], &f[2]],
        );
        assert_eq!(kwh.as_deref(), Some(*f.last().unwrap()), "{line}");
        periods += 1;
    }
    assert!(periods >= 6, "{text}");
    let refused = c
        .query_one(
            "SELECT smt.request_usage(ARRAY['10443720000000001'], 'monthly', current_date - 40, current_date - 2, 'json')",
            &[],
        )
        .unwrap_err();
    assert!(
        explain(&refused).contains("monthly"),
        "{}",
        explain(&refused)
    );

    // Run again: nothing is sent or loaded twice.
    let before = s.sim.log().len();
    s.run_job("soap");
    s.run_job("ftps");
    let after: Vec<serde_json::Value> = s.sim.log()[before..].to_vec();
    assert!(
        after.iter().all(|e| e["path"] != "/meterusage"),
        "{after:?}"
    );
}

#[test]
fn soap_faults_are_recorded_on_the_request_retried_where_it_helps_and_flagged() {
    let _serial = FTPS_SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(s) = setup("soap_faults") else {
        return;
    };
    let mut c = s.db.connect();
    let (d20, d10) = (days_ago(&mut c, 20), days_ago(&mut c, 10));
    let due_now = |c: &mut Client, id: i64| {
        exec(
            c,
            &format!("UPDATE smt.request SET not_before = now() WHERE request_id = {id}"),
        );
    };

    // A wrong password: SMT's fault, in its words; the request waits for the account to be
    // mended (a password is the worker's configuration, not the request's), then goes through.
    let wrong = ask(&mut c, &[E1], "interval", &d20, &d10);
    s.run_job_with("soap", "not-the-password");
    let (state, _, _, error, _) = request(&mut c, wrong);
    assert_eq!(state, "waiting");
    let error = error.unwrap();
    assert!(error.contains("authentication failed"), "{error}");
    assert!(!error.contains("not-the-password"));
    due_now(&mut c, wrong);
    s.run_job("soap");
    assert_eq!(request(&mut c, wrong).0, "fulfilled");

    // A client certificate of another CA: refused in the TLS handshake; waits to be tried again.
    s.write_config("other-client");
    let refused = ask(&mut c, &[E1], "interval", &d20, &d10);
    s.run_job("soap");
    let (state, attempts, _, error, _) = request(&mut c, refused);
    assert_eq!((state.as_str(), attempts), ("waiting", 1));
    assert!(error.unwrap().contains("not reached"));
    s.write_config("client");

    // SMT down (HTTP 503), then a server fault: each waits with why, then goes through.
    s.sim
        .control("/sim/faults", r#"{"next": ["503", "server_fault"]}"#);
    due_now(&mut c, refused);
    s.run_job("soap");
    let (state, _, _, error, _) = request(&mut c, refused);
    assert_eq!(state, "waiting");
    assert!(error.unwrap().contains("HTTP 503"));
    due_now(&mut c, refused);
    s.run_job("soap");
    let (state, _, _, error, _) = request(&mut c, refused);
    assert_eq!(state, "waiting");
    assert!(error.unwrap().contains("Service temporarily unavailable"));
    due_now(&mut c, refused);
    s.run_job("soap");
    assert_eq!(request(&mut c, refused).0, "fulfilled");
    assert_files_loaded_exactly(&mut c, refused);

    // A non-zero statusCode: failed in SMT's words. A reply that is not XML: failed.
    s.sim
        .control("/sim/faults", r#"{"next": ["status_error", "malformed"]}"#);
    let status = ask(&mut c, &[E1, E2], "interval", &d20, &d10);
    let malformed = ask(&mut c, &[E2], "interval", &d20, &d10);
    s.run_job("soap");
    let (state, _, _, error, _) = request(&mut c, status);
    assert_eq!(state, "failed");
    assert!(error.unwrap().contains("Request could not be processed"));
    let (state, _, _, error, _) = request(&mut c, malformed);
    assert_eq!(state, "failed");
    assert!(error.unwrap().contains("malformed"));

    // A result SMT never delivers: the request waits for it, and is flagged once overdue.
    s.sim.control("/sim/faults", r#"{"next": ["lose_result"]}"#);
    let lost = ask(&mut c, &[E1, E3], "interval", &d20, &d10);
    s.run_job("soap");
    std::thread::sleep(Duration::from_millis(800));
    s.run_job("ftps");
    let (state, _, files, _, awaiting) = request(&mut c, lost);
    assert_eq!((state.as_str(), files, awaiting.len()), ("waiting", 0, 1));
    let overdue: bool = one(
        &mut c,
        "SELECT overdue FROM smt.request_log WHERE request_id = $1",
        &[&lost],
    );
    assert!(!overdue);
    exec(&mut c, "SET smt.request_overdue_after = '1 second'");
    std::thread::sleep(Duration::from_millis(1100));
    let overdue: bool = one(
        &mut c,
        "SELECT overdue FROM smt.request_log WHERE request_id = $1",
        &[&lost],
    );
    assert!(overdue, "a file that never came is flagged");
    // Not sent again while it waits for SMT's file.
    let before = s.sim.log().len();
    s.run_job("soap");
    assert!(s.sim.log()[before..]
        .iter()
        .all(|e| e["path"] != "/meterusage"));

    // Out of SMT's limits: refused in SQL before anything is sent.
    let e = c
        .query_one(
            "SELECT smt.request_usage(ARRAY['10443720000000001'], 'interval', date '2019-01-01', date '2019-01-02', 'soap')",
            &[],
        )
        .unwrap_err();
    assert!(explain(&e).contains("48 months"), "{}", explain(&e));
}

#[test]
fn a_file_answered_at_once_can_be_awaited_on_ftps_and_a_bearer_token_sent() {
    let _serial = FTPS_SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(s) = setup("soap_ftps_files") else {
        return;
    };
    // SMT puts the files it answers at once on the FTPS site too; this account takes them there,
    // and sends a bearer token with each call.
    s.sim.control("/sim/config", r#"{"sync_also_drop": true}"#);
    s.write_config_with(
        "client",
        "file_url_via = \"ftps\"\nbearer_token_env = \"SMT_SOAP_BEARER\"\n",
    );
    let mut c = s.db.connect();
    let (d20, d10) = (days_ago(&mut c, 20), days_ago(&mut c, 10));
    let id = ask(&mut c, &[E1], "interval", &d20, &d10);
    let before = s.sim.log().len();
    let out = s.run_job("soap");
    assert!(
        !out.stderr.contains(BEARER) && !out.stdout.contains(BEARER),
        "no token in the log"
    );
    let (state, _, files, _, awaiting) = request(&mut c, id);
    assert_eq!((state.as_str(), files, awaiting.len()), ("waiting", 0, 1));
    let log = s.sim.log();
    let call = log[before..]
        .iter()
        .find(|e| e["path"] == "/meterusage")
        .unwrap();
    assert_eq!(
        (&call["kind"], &call["bearer"]),
        (&serde_json::json!("sync"), &serde_json::json!(true))
    );
    assert!(
        log[before..].iter().all(|e| e["kind"] != "file"),
        "the file URL is not fetched over HTTPS in this mode"
    );
    assert!(call["fileUrl"].as_str().unwrap().ends_with(&awaiting[0]));
    s.run_job("ftps");
    let (state, _, files, _, _) = request(&mut c, id);
    assert_eq!((state.as_str(), files), ("fulfilled", 1));
    assert_files_loaded_exactly(&mut c, id);
}
