//! End to end: requests made in SQL (`smt.request_usage`), sent by the real `smt` worker (job kind
//! smt_api) to the bundled stand-in for today's SMT JSON API (tests/smt-api/sim.py: HTTPS with a
//! real TLS stack, bearer tokens, SMT's identity fields and replies), and the replies loaded into
//! the views exactly. Faults of the API are recorded on the request and recovered from.
//!
//! Needs `SMT_TEST_DATABASE_URL` (see tests/common) and python3 with openssl for the simulator;
//! a missing part fails under CI.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use postgres::Client;
use smt_core::smt_api::interval_reads;
use smt_core::EsiidMode;
use smt_e2e::{assert_interval_view_matches, same_sum};

const PASSWORD_ENV: &str = "SMT_API_PASSWORD";
const SERVICE: &str = "SIMSERVICE";
/// The least time between two calls the worker is configured with.
const MIN_INTERVAL_MS: u64 = 150;

/// The simulator, stopped on drop.
struct Sim {
    child: Child,
    dir: PathBuf,
    port: u16,
    password: String,
}

impl Sim {
    fn start(dir: &Path) -> Option<Sim> {
        Sim::start_dropping(dir, None)
    }

    /// The simulator, dropping the files of deliveryMode FTP requests into `drop_dir`.
    fn start_dropping(dir: &Path, drop_dir: Option<&Path>) -> Option<Sim> {
        let python = Command::new("python3").arg("--version").output();
        if !require_part(
            python.is_ok_and(|o| o.status.success()),
            "python3 (the SMT API simulator)",
            "apt-get install python3",
        ) {
            return None;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/smt-api/sim.py");
        let password = format!("pw-{}", std::process::id());
        let sim_dir = dir.join("sim");
        let mut cmd = Command::new("python3");
        cmd.arg(&script).arg(&sim_dir).args(["--user", SERVICE]);
        if let Some(drop_dir) = drop_dir {
            cmd.arg("--drop-dir").arg(drop_dir);
        }
        let child = cmd
            .env(PASSWORD_ENV, &password)
            .stdin(Stdio::null())
            .spawn()
            .expect("starting the SMT API simulator");
        let port_file = sim_dir.join("port");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !port_file.exists() {
            assert!(Instant::now() < deadline, "the simulator never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        let port = std::fs::read_to_string(&port_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        Some(Sim {
            child,
            dir: sim_dir,
            port,
            password,
        })
    }

    /// The simulator's /sim endpoints over the same TLS.
    fn control(&self, path: &str, body: &str) -> String {
        sim_control(&self.dir.join("ca.pem"), None, self.port, path, body)
    }

    fn log(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.control("/sim/log", "")).unwrap()
    }

    fn config_toml(&self, downloads: &Path) -> String {
        format!(
            "[worker]\npoll_seconds = 1\nlease_seconds = 30\n\
             [smt_api.sim]\nbase_url = \"https://127.0.0.1:{port}\"\nservice_id = \"{SERVICE}\"\n\
             requester_authentication_id = \"123456789\"\nca_file = {ca}\n\
             min_interval_ms = {MIN_INTERVAL_MS}\nreading_type = \"A\"\nnot_yet_retry_minutes = 60\n\
             agreement_poll_minutes = 0\n\
             download_dir = {dl}\n",
            port = self.port,
            ca = toml::Value::String(self.dir.join("ca.pem").display().to_string()),
            dl = toml::Value::String(downloads.display().to_string()),
        )
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Setup {
    db: TestDb,
    dir: tempfile::TempDir,
    sim: Sim,
    config: String,
}

fn setup(test: &str) -> Option<Setup> {
    let db = TestDb::extension_only(test)?;
    let dir = scratch(test);
    let sim = Sim::start(dir.path())?;
    let config = dir.path().join("smt.toml");
    std::fs::write(&config, sim.config_toml(&dir.path().join("replies"))).unwrap();
    let mut c = db.connect();
    exec(
        &mut c,
        "SELECT smt.job_add('api', 'smt_api', '0 3 * * *', '{\"source\": \"sim\"}')",
    );
    Some(Setup {
        config: config.display().to_string(),
        db,
        dir,
        sim,
    })
}

impl Setup {
    /// `smt jobs run-now api`, then a worker until idle, with the API password in its environment.
    fn run_job(&self) -> Output {
        jobs(&self.db, self.dir.path(), &["run-now", "api"]);
        let mut cmd = smt(
            self.dir.path(),
            &[
                "run",
                "--exit-when-idle",
                "--database-url",
                self.db.url(),
                "--config",
                &self.config,
            ],
        );
        // At the most verbose level: no password or bearer token may reach the log.
        cmd.env(PASSWORD_ENV, &self.sim.password)
            .env("SMT_LOG", "trace");
        let calls_before = self.sim.log().len();
        let out = run(cmd, Duration::from_secs(180)).expect_code(0, "smt run");
        let log = self.sim.log();
        let tokens: Vec<String> = log
            .iter()
            .filter_map(|e| e["bearer"].as_str().map(str::to_owned))
            .collect();
        for secret in tokens.iter().chain([&self.sim.password]) {
            assert!(
                !out.stdout.contains(secret.as_str()) && !out.stderr.contains(secret.as_str()),
                "a secret in the worker's output"
            );
        }
        if log.len() > calls_before {
            // (TLS traces every connection it makes.)
            assert!(out.stderr.contains("TRACE"), "trace logging is on");
        }
        out
    }
}

/// (state, attempts, files, last_error) of a request.
fn request(c: &mut Client, id: i64) -> (String, i32, i32, Option<String>) {
    let r = c
        .query_one(
            "SELECT state, attempts, files, last_error FROM smt.request_log WHERE request_id = $1",
            &[&id],
        )
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

fn ask(c: &mut Client, esiids: &[&str], first: &str, last: &str) -> i64 {
    let esiids: Vec<String> = esiids.iter().map(|s| s.to_string()).collect();
    one(
        c,
        "SELECT smt.request_usage($1, 'interval', $2::text::date, $3::text::date)",
        &[&esiids, &first, &last],
    )
}

/// Every record of every reply kept for `request` (as received, from smt.delivery_bytes), read
/// by smt-core, is what smt.interval shows; returns how many records there were.
fn assert_replies_loaded_exactly(c: &mut Client, request: i64) -> usize {
    let replies: Vec<Vec<u8>> = c
        .query(
            "SELECT smt.delivery_bytes(d.remote_file_id)
               FROM smt.remote_file d
              WHERE d.state = 'loaded' AND d.file_ids && (SELECT file_ids FROM smt.request WHERE request_id = $1)",
            &[&request],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!replies.is_empty(), "request {request}: no reply kept");
    let mut n = 0;
    for reply in replies {
        let value = smt_core::smt_api::parse(&reply).unwrap();
        for entry in interval_reads::entries(&value, None, EsiidMode::Strict).unwrap() {
            let (record, _) = entry.unwrap();
            assert_interval_view_matches(c, &record);
            if record.channel == 4 {
                let total: Option<String> = one(
                    c,
                    "SELECT import_kwh::text FROM smt.daily_usage WHERE esiid = $1 AND day = $2::text::date",
                    &[&record.esiid, &record.day.to_string()],
                );
                assert!(
                    same_sum(&record.kwh_sum(), total.as_deref()),
                    "daily total {} {}: {total:?} vs {}",
                    record.esiid,
                    record.day,
                    record.kwh_sum()
                );
            }
            n += 1;
        }
    }
    n
}

const E1: &str = "10443720000000001";
const E2: &str = "1008901000000000000001";

#[test]
fn requests_from_sql_are_sent_paced_and_loaded_exactly_dst_days_included() {
    let Some(s) = setup("api_requests") else {
        return;
    };
    let mut c = s.db.connect();
    // 37 days over the fall-back day, for two ESIIDs: 2 windows of at most 31 days each.
    let fall = ask(&mut c, &[E1, E2], "2025-10-15", "2025-11-20");
    s.run_job();
    assert_eq!(request(&mut c, fall), ("fulfilled".into(), 1, 4, None));
    let records = assert_replies_loaded_exactly(&mut c, fall);
    // E1 load and generation (the simulator gives it generation), E2 load, on 37 days.
    assert_eq!(records, 37 * 3);
    let fall_rows: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.interval WHERE esiid = $1 AND channel = 4 AND day = '2025-11-02'",
        &[&E1],
    );
    assert_eq!(fall_rows, 100);

    // The spring-forward day under the fixed 100-slot reading of RD.
    s.sim.control("/sim/config", r#"{"rd_layout": "fixed100"}"#);
    let spring = ask(&mut c, &[E1], "2025-03-08", "2025-03-10");
    s.run_job();
    assert_eq!(request(&mut c, spring).0, "fulfilled");
    assert_eq!(assert_replies_loaded_exactly(&mut c, spring), 3 * 2);
    let spring_rows: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.interval WHERE esiid = $1 AND channel = 4 AND day = '2025-03-09'",
        &[&E1],
    );
    assert_eq!(spring_rows, 92);

    // Asked again after SMT revised the days: every day replaced, the old versions kept.
    s.sim.control(
        "/sim/config",
        r#"{"rd_layout": "sequential", "revision_hours": 5}"#,
    );
    let again = ask(&mut c, &[E1], "2025-10-15", "2025-10-20");
    s.run_job();
    assert_eq!(request(&mut c, again).0, "fulfilled");
    assert_replies_loaded_exactly(&mut c, again);
    let replaced: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.interval_version WHERE esiid = $1 AND outcome = 'replaced'",
        &[&E1],
    );
    assert_eq!(replaced, 6 * 2);

    // The daily meter reads of the same days: as SMT gave them, and (in this simulator) equal
    // to the sum of the day's intervals, the fall-back day included.
    s.sim.control("/sim/config", r#"{"revision_hours": 0}"#);
    let daily = one::<i64>(
        &mut c,
        "SELECT smt.request_usage(ARRAY[$1], 'daily', '2025-10-30', '2025-11-03')",
        &[&E1],
    );
    s.run_job();
    assert_eq!(request(&mut c, daily), ("fulfilled".into(), 1, 1, None));
    let reply: Vec<u8> = one(
        &mut c,
        "SELECT smt.delivery_bytes(d.remote_file_id) FROM smt.remote_file d
          WHERE d.file_ids && (SELECT file_ids FROM smt.request WHERE request_id = $1)",
        &[&daily],
    );
    let reads = smt_core::smt_api::daily_reads::entries(
        &smt_core::smt_api::parse(&reply).unwrap(),
        None,
        EsiidMode::Strict,
    )
    .unwrap();
    assert_eq!(reads.len(), 5);
    for read in reads {
        let read = read.unwrap();
        let stored = rows_text(
            &mut c,
            "SELECT r.start_reading::text, r.end_reading::text, r.usage_kwh::text, u.import_kwh::text
               FROM smt.daily_read r JOIN smt.daily_usage u USING (esiid, day)
              WHERE r.esiid = $1 AND r.day = $2::text::date",
            &[&read.esiid, &read.day.to_string()],
        );
        let text = |d: Option<smt_core::Decimal>| d.map(|d| d.to_string());
        assert_eq!(
            stored[0][..3],
            [
                text(read.start_reading),
                text(read.end_reading),
                text(read.usage_kwh)
            ],
            "{} {}",
            read.esiid,
            read.day
        );
        let usage = read.usage_kwh.unwrap();
        assert!(
            same_sum(
                &std::iter::once(usage).sum::<smt_core::DecimalSum>(),
                stored[0][3].as_deref()
            ),
            "{}: register {usage} vs intervals {:?}",
            read.day,
            stored[0][3]
        );
    }

    // One token for all of it (it lasts an hour), every data call with it and SMT's identity,
    // never two calls closer than the configured pace.
    let log = s.sim.log();
    let tokens = log.iter().filter(|e| e["path"] == "/v2/token/").count();
    let data: Vec<&serde_json::Value> = log
        .iter()
        .filter(|e| e["path"] == "/v2/15minintervalreads/")
        .collect();
    assert_eq!(data.len(), 4 + 1 + 1);
    assert_eq!(
        log.iter()
            .filter(|e| e["path"] == "/v2/dailyreads/")
            .count(),
        1
    );
    assert!(data
        .iter()
        .all(|e| e["status"] == 200 && e["bearer"].is_string()));
    assert_eq!(tokens, 4, "one token per worker run: {log:?}");
    let mut times: Vec<f64> = log
        .iter()
        .filter(|e| e["path"].as_str().is_some_and(|p| p.starts_with("/v2/")))
        .map(|e| e["time"].as_f64().unwrap())
        .collect();
    times.sort_by(f64::total_cmp);
    for pair in times.windows(2) {
        let gap_ms = (pair[1] - pair[0]) * 1000.0;
        assert!(
            gap_ms >= MIN_INTERVAL_MS as f64 - 5.0,
            "two calls {gap_ms:.0} ms apart"
        );
    }
    let trans: Option<String> = one(
        &mut c,
        "SELECT trans_id FROM smt.request WHERE request_id = $1",
        &[&fall],
    );
    assert!(data[0]["trans_id"] == trans.unwrap().as_str());
}

#[test]
fn api_faults_are_recorded_on_the_request_and_recovered_from() {
    let Some(s) = setup("api_faults") else {
        return;
    };
    let mut c = s.db.connect();

    // SMT down: the request waits with SMT's answer, and goes through once SMT is back.
    s.sim.control("/sim/faults", r#"{"next": ["503"]}"#);
    let down = ask(&mut c, &[E1], "2025-09-01", "2025-09-02");
    s.run_job();
    let (state, attempts, _, error) = request(&mut c, down);
    assert_eq!((state.as_str(), attempts), ("waiting", 1));
    assert!(
        error.as_deref().unwrap_or_default().contains("HTTP 503"),
        "{error:?}"
    );
    exec(
        &mut c,
        &format!("UPDATE smt.request SET not_before = now() WHERE request_id = {down}"),
    );
    s.run_job();
    assert_eq!(request(&mut c, down), ("fulfilled".into(), 2, 1, None));
    assert_replies_loaded_exactly(&mut c, down);

    // A token SMT no longer accepts is renewed once, within the same run.
    s.sim.control("/sim/faults", r#"{"next": ["stale_token"]}"#);
    let renewed = ask(&mut c, &[E2], "2025-09-01", "2025-09-01");
    let before = s.sim.log().len();
    s.run_job();
    assert_eq!(request(&mut c, renewed).0, "fulfilled");
    let paths: Vec<String> = s.sim.log()[before..]
        .iter()
        .map(|e| format!("{} {}", e["path"], e["status"]))
        .collect();
    assert!(
        paths.ends_with(&[
            "\"/v2/token/\" 200".into(),
            "\"/v2/15minintervalreads/\" 401".into(),
            "\"/v2/token/\" 200".into(),
            "\"/v2/15minintervalreads/\" 200".into(),
        ]),
        "{paths:?}"
    );

    // Tokens that live two seconds: renewed before they expire, never used stale.
    s.sim.control("/sim/config", r#"{"token_seconds": 2}"#);
    let long = ask(&mut c, &[E1], "2024-09-01", "2025-06-27");
    let before = s.sim.log().len();
    s.run_job();
    assert_eq!(request(&mut c, long).0, "fulfilled");
    let calls: Vec<(String, i64)> = s.sim.log()[before..]
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["status"].as_i64().unwrap(),
            )
        })
        .collect();
    let tokens = calls.iter().filter(|(p, _)| p == "/v2/token/").count();
    assert!(tokens >= 2, "renewed within the run: {calls:?}");
    assert!(calls.iter().all(|(_, status)| *status == 200), "{calls:?}");
    s.sim.control("/sim/config", r#"{"token_seconds": 3600}"#);

    // A reply that is not JSON, and SMT's own refusal: failed, in SMT's words, nothing loaded.
    s.sim
        .control("/sim/faults", r#"{"next": ["malformed", "smt_error"]}"#);
    let malformed = ask(&mut c, &[E1], "2025-08-01", "2025-08-01");
    let refused = ask(&mut c, &[E1], "2025-08-02", "2025-08-02");
    s.run_job();
    let (state, _, files, error) = request(&mut c, malformed);
    assert_eq!((state.as_str(), files), ("failed", 0));
    assert!(error.unwrap().contains("not JSON"));
    let (state, _, _, error) = request(&mut c, refused);
    assert_eq!(state, "failed");
    assert!(
        error.unwrap().contains("Invalid ESIID for this requestor"),
        "SMT's words"
    );
    let august: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.interval_day WHERE day BETWEEN '2025-08-01' AND '2025-08-02'",
        &[],
    );
    assert_eq!(august, 0);

    // Today's data is not there yet: the request waits, without failing the job.
    let today = one::<String>(&mut c, "SELECT (smt._tomorrow() - 1)::text", &[]);
    let not_yet = ask(&mut c, &[E1], &today, &today);
    s.run_job();
    let (state, _, _, error) = request(&mut c, not_yet);
    assert_eq!(state, "waiting");
    assert!(error
        .unwrap()
        .contains("No data received from the respective TDSP"));
    let failed_runs: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.job_run WHERE state = 'failed'",
        &[],
    );
    assert_eq!(failed_runs, 0, "API faults fail requests, not the job");

    // SMT adds fields this client does not read: the data loads, the keys are in the run's record.
    s.sim.control("/sim/config", r#"{"extra_keys": true}"#);
    let extra = ask(&mut c, &[E1], "2025-06-01", "2025-06-01");
    s.run_job();
    assert_eq!(request(&mut c, extra).0, "fulfilled");
    assert_replies_loaded_exactly(&mut c, extra);
    let recorded: serde_json::Value = one(
        &mut c,
        "SELECT counts->'unknown_reply_keys' FROM smt.run_log WHERE job_name = 'api' ORDER BY run_id DESC LIMIT 1",
        &[],
    );
    assert_eq!(
        recorded,
        serde_json::json!(["dataVersion", "energyData[].UOM"])
    );
    s.sim.control("/sim/config", r#"{"extra_keys": false}"#);

    // A wrong password: the request waits with why; no secret in what is recorded.
    let wrong = ask(&mut c, &[E2], "2025-07-01", "2025-07-01");
    jobs(&s.db, s.dir.path(), &["run-now", "api"]);
    let mut cmd = smt(
        s.dir.path(),
        &[
            "run",
            "--exit-when-idle",
            "--database-url",
            s.db.url(),
            "--config",
            &s.config,
        ],
    );
    cmd.env(PASSWORD_ENV, "not-the-password");
    let out = run(cmd, Duration::from_secs(120)).expect_code(0, "smt run");
    let (state, _, _, error) = request(&mut c, wrong);
    assert_eq!(state, "waiting");
    let error = error.unwrap();
    assert!(error.contains("refused service id SIMSERVICE"), "{error}");
    for text in [&error, &out.stdout, &out.stderr] {
        assert!(!text.contains(&s.sim.password) && !text.contains("not-the-password"));
    }
}

#[test]
fn requests_are_checked_in_sql_before_anything_is_sent() {
    let Some(db) = TestDb::extension_only("api_request_checks") else {
        return;
    };
    let mut c = db.connect();
    for (esiids, first, last, why) in [
        (
            vec!["12345"],
            "2025-09-01",
            "2025-09-02",
            "not a valid ESIID",
        ),
        (
            vec![E1],
            "2025-09-03",
            "2025-09-02",
            "within the last 48 months",
        ),
        (
            vec![E1],
            "2019-01-01",
            "2019-01-02",
            "within the last 48 months",
        ),
        (
            vec![E1],
            "2099-01-01",
            "2099-01-02",
            "within the last 48 months",
        ),
    ] {
        let esiids: Vec<String> = esiids.iter().map(|s| s.to_string()).collect();
        let e = c
            .query_one(
                "SELECT smt.request_usage($1, 'interval', $2::text::date, $3::text::date)",
                &[&esiids, &first, &last],
            )
            .unwrap_err();
        assert!(explain(&e).contains(why), "{}", explain(&e));
    }
    let e = c
        .query_one(
            "SELECT smt.request_usage(ARRAY['10443720000000001'], 'interval', current_date - 3, current_date - 2, 'ftp')",
            &[],
        )
        .unwrap_err();
    assert_eq!(e.code().unwrap().code(), "0A000", "{}", explain(&e));
    let id: i64 = one(
        &mut c,
        "SELECT smt.request_usage(ARRAY['10443720000000001', ' 10443720000000001 '], 'interval', current_date - 3, current_date - 2)",
        &[],
    );
    let (esiids, state): (Vec<String>, String) = {
        let r = c
            .query_one(
                "SELECT esiids, state FROM smt.request_log WHERE request_id = $1",
                &[&id],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(esiids, vec![E1.to_owned()], "normalized, each once");
    assert_eq!(state, "queued");
    exec(&mut c, &format!("SELECT smt.request_cancel({id})"));
    let state: String = one(
        &mut c,
        "SELECT state FROM smt.request WHERE request_id = $1",
        &[&id],
    );
    assert_eq!(state, "cancelled");
}

/// (state, state_reason, last_data_day, days_missing) of an enrolled meter.
fn meter(c: &mut Client, esiid: &str) -> (String, Option<String>, Option<String>, Option<i64>) {
    let r = c
        .query_one(
            "SELECT state, state_reason, last_data_day::text, days_missing FROM smt.meter_status WHERE esiid = $1",
            &[&esiid],
        )
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

#[test]
fn meters_enrolled_from_sql_get_a_year_of_data_and_stay_current_unattended() {
    let Some(s) = setup("api_meters") else {
        return;
    };
    let mut c = s.db.connect();
    exec(
        &mut c,
        &format!(
            "SELECT smt.enroll('{E1}', '111222333', 'customer@example.com');
             SELECT smt.enroll('{E2}', '444555666', 'reject-me@example.com', 24);"
        ),
    );
    // First run: both agreements sent; SMT e-mails the customers.
    s.run_job();
    let (state, ..) = meter(&mut c, E1);
    assert_eq!(state, "awaiting_customer");
    let agreement: Option<String> = one(
        &mut c,
        "SELECT agreement_number FROM smt.meter WHERE esiid = $1",
        &[&E1],
    );
    assert!(agreement.is_some_and(|a| a.starts_with("AG")));

    // SMT has a day's data only two days after it ends, for now: the last two days are gaps.
    s.sim.control("/sim/config", r#"{"data_lag_hours": 48}"#);
    // The customers answer (the simulator waits a second); the next run sees it, and the
    // accepted meter's year of history is requested and loaded in the same run.
    std::thread::sleep(Duration::from_millis(1200));
    s.run_job();
    let days_back: Vec<String> = (0..4)
        .map(|back: i32| -> String {
            one(
                &mut c,
                "SELECT (smt._tomorrow() - 1 - $1::int)::text",
                &[&back],
            )
        })
        .collect();
    let day = |back: usize| days_back[back].clone();
    let (state, reason, last, missing) = meter(&mut c, E1);
    assert_eq!(
        (state.as_str(), reason.as_deref()),
        ("active", Some("Customer accepted the agreement"))
    );
    assert_eq!(
        (last, missing),
        (Some(day(3)), Some(2)),
        "SMT has no data for the last two days yet"
    );
    // SMT's record of the meter, asked for on activation, kept as SMT sent it.
    let info: (Option<String>, Option<String>) = {
        let r = c
            .query_one(
                "SELECT meter_info->>'meterNumber', meter_info->>'meterSerialNumber'
                   FROM smt.meter_status WHERE esiid = $1",
                &[&E1],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(info.0.as_deref(), Some("111222333"));
    assert!(info.1.is_some_and(|serial| serial.len() == 10));
    assert_eq!(
        (meter(&mut c, E2).0.as_str(), meter(&mut c, E2).1.as_deref()),
        ("rejected", Some("Customer declined the agreement"))
    );
    let history: Vec<(i64, String, String, String)> = c
        .query(
            "SELECT request_id, report, first_day::text, state FROM smt.request_log
              WHERE esiids = ARRAY[$1] ORDER BY request_id",
            &[&E1],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(history.len(), 2, "{history:?}");
    let year_ago: String = one(
        &mut c,
        "SELECT (((smt._tomorrow() - 2) - interval '12 months')::date + 1)::text",
        &[],
    );
    for (id, _, first, state) in &history {
        assert_eq!(
            (first.as_str(), state.as_str()),
            (year_ago.as_str(), "fulfilled"),
            "request {id}"
        );
    }
    let records = assert_replies_loaded_exactly(&mut c, history[0].0);
    let days: i64 = one(
        &mut c,
        "SELECT count(DISTINCT day) FROM smt.interval_day WHERE esiid = $1",
        &[&E1],
    );
    assert_eq!(
        days as usize * 2,
        records,
        "load and generation on every day loaded"
    );
    let daily_days: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.daily_read WHERE esiid = $1",
        &[&E1],
    );
    assert_eq!(daily_days, days);

    // SMT catches up: the next run asks again for the missing days (once today) and fills them.
    s.sim.control("/sim/config", r#"{"data_lag_hours": 0}"#);
    s.run_job();
    assert_eq!(
        meter(&mut c, E1).2..=meter(&mut c, E1).2,
        Some(day(1))..=Some(day(1))
    );
    assert_eq!(meter(&mut c, E1).3, Some(0));
    let gap_requests: Vec<(String, String, String)> = c
        .query(
            "SELECT first_day::text, last_day::text, state FROM smt.request_log
              WHERE esiids = ARRAY[$1] ORDER BY request_id OFFSET 2",
            &[&E1],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        gap_requests,
        vec![(day(2), day(1), "fulfilled".into()); 2],
        "the gap, interval and daily, asked for once"
    );
    s.run_job();
    let requests: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.request WHERE esiids = ARRAY[$1]",
        &[&E1],
    );
    assert_eq!(requests, 4, "nothing more to ask for");

    // Two days later: the days since are requested, once, and loaded.
    exec(
        &mut c,
        &format!(
            "UPDATE smt.meter SET requested_through = requested_through - 2 WHERE esiid = '{E1}'"
        ),
    );
    s.run_job();
    let recent: Vec<(String, String)> = c
        .query(
            "SELECT first_day::text, state FROM smt.request_log WHERE esiids = ARRAY[$1]
              ORDER BY request_id OFFSET 4",
            &[&E1],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(recent, vec![(day(2), "fulfilled".into()); 2]);
    let records: usize = {
        let n: i64 = one(
            &mut c,
            "SELECT count(*) FROM smt.interval_day WHERE esiid = $1",
            &[&E1],
        );
        n as usize
    };

    // Unenrolled: the agreement is terminated with SMT; the data stays.
    exec(&mut c, &format!("SELECT smt.unenroll('{E1}')"));
    s.run_job();
    assert_eq!(meter(&mut c, E1).0, "terminated");
    assert!(s
        .sim
        .log()
        .iter()
        .any(|e| e["path"] == "/v2/Terminateagreement/" && e["status"] == 200));
    let kept: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.interval_day WHERE esiid = $1",
        &[&E1],
    );
    assert_eq!(kept as usize, records);
    // Enrolled again after a rejection: a new agreement is asked for.
    let again: String = one(
        &mut c,
        &format!("SELECT (smt.enroll('{E2}', '444555666', 'customer2@example.com')).state"),
        &[],
    );
    assert_eq!(again, "pending");
    let e = c
        .query_one(
            &format!("SELECT smt.enroll('{E2}', '1', 'x@example.com')"),
            &[],
        )
        .unwrap_err();
    assert!(explain(&e).contains("enrolled already"), "{}", explain(&e));
}

#[test]
fn a_request_smt_answers_with_a_file_is_fulfilled_when_sftp_delivers_it() {
    let Some(db) = TestDb::extension_only("api_ftp_mode") else {
        return;
    };
    let dir = scratch("api_ftp_mode");
    let Some(server) = Sshd::start() else {
        return;
    };
    let Some(sim) = Sim::start_dropping(dir.path(), Some(&server.path("home/adhocusage"))) else {
        return;
    };
    let config = dir.path().join("smt.toml");
    let toml_str = |p: &Path| toml::Value::String(p.display().to_string()).to_string();
    std::fs::write(
        &config,
        format!(
            "{}delivery_mode = \"FTP\"\n\
             [sftp.smt-sftp]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"smt\"\nkey_file = {}\nknown_hosts = {}\n\
             download_dir = {}\n",
            sim.config_toml(&dir.path().join("replies")),
            server.port,
            toml_str(&server.path("client_key")),
            toml_str(&server.path("known_hosts")),
            toml_str(&dir.path().join("sftp-downloads")),
        ),
    )
    .unwrap();
    let mut c = db.connect();
    let sftp_params =
        serde_json::json!({"source": "smt-sftp", "dirs": [server.remote_dir("adhocusage")]});
    exec(
        &mut c,
        &format!(
            "SELECT smt.job_add('api', 'smt_api', '0 3 * * *', '{{\"source\": \"sim\"}}');
             SELECT smt.job_add('sftp', 'sftp_fetch', '0 3 * * *', '{sftp_params}');"
        ),
    );
    let run_job = |job: &str| {
        jobs(&db, dir.path(), &["run-now", job]);
        let mut cmd = smt(
            dir.path(),
            &[
                "run",
                "--exit-when-idle",
                "--database-url",
                db.url(),
                "--config",
                config.to_str().unwrap(),
            ],
        );
        cmd.env(PASSWORD_ENV, &sim.password);
        run(cmd, Duration::from_secs(120)).expect_code(0, "smt run")
    };

    let id = ask(&mut c, &[E1], "2025-11-01", "2025-11-03");
    run_job("api");
    let (state, _, files, error) = request(&mut c, id);
    assert_eq!((state.as_str(), files, error), ("waiting", 0, None));
    let correlation: String = one(
        &mut c,
        "SELECT correlation_ids[1] FROM smt.request WHERE request_id = $1 AND awaiting_files = correlation_ids",
        &[&id],
    );
    // Not sent again while SMT prepares the file.
    run_job("api");
    assert_eq!(request(&mut c, id).1, 1, "one attempt");

    // SMT drops the file on its SFTP site; the sftp_fetch job loads it and fulfils the request.
    std::thread::sleep(Duration::from_millis(800));
    run_job("sftp");
    let (state, _, files, _) = request(&mut c, id);
    assert_eq!((state.as_str(), files), ("fulfilled", 1));
    let (name, bytes): (String, Vec<u8>) = {
        let r = c
            .query_one(
                "SELECT name, smt.delivery_bytes(remote_file_id) FROM smt.remote_file WHERE state = 'loaded'",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert!(name.contains(&correlation), "{name} carries {correlation}");
    let records: Vec<_> =
        smt_core::interval_records(&bytes[..], smt_core::Format::IntervalCsv, EsiidMode::Strict)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
    assert_eq!(records.len(), 3 * 2, "load and generation on three days");
    for r in &records {
        assert_interval_view_matches(&mut c, r);
    }
    let fall_rows: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.interval WHERE esiid = $1 AND channel = 4 AND day = '2025-11-02'",
        &[&E1],
    );
    assert_eq!(fall_rows, 100);
}

/// (state, attempts, last_error) of every request, by meter number.
fn reads_by_meter(
    c: &mut Client,
) -> std::collections::BTreeMap<String, (String, i32, Option<String>)> {
    c.query(
        "SELECT meter_number, state, attempts, last_error FROM smt.request_log WHERE report = 'odr'",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
    .collect()
}

#[test]
fn on_demand_reads_are_capped_per_tdsp_polled_until_taken_and_stored_exactly() {
    let Some(s) = setup("api_odr") else {
        return;
    };
    // Polled after a second (doubling); two reads a day per TDSP for this account.
    std::fs::write(
        &s.config,
        s.sim.config_toml(&s.dir.path().join("replies"))
            + "odr_poll_seconds = 1\nodr_daily_limit = 2\n",
    )
    .unwrap();
    s.sim
        .control("/sim/config", r#"{"odr_delay_seconds": 1.5}"#);
    let mut c = s.db.connect();
    // Oncor (10443720...): three reads, one over the cap; CenterPoint: one whose status is odd.
    exec(
        &mut c,
        &format!(
            "SELECT smt.request_meter_read('{E1}', 'M1');
             SELECT smt.request_meter_read('10443720000000002', 'M-FAIL');
             SELECT smt.request_meter_read('10443720000000003', 'M-CAPPED');
             SELECT smt.request_meter_read('{E2}', 'M-ODD');"
        ),
    );
    let e = c
        .query_one("SELECT smt.request_meter_read('10443720000000004')", &[])
        .unwrap_err();
    assert!(explain(&e).contains("no meter number"), "{}", explain(&e));

    s.run_job();
    let reads = reads_by_meter(&mut c);
    let capped = &reads["M-CAPPED"];
    assert_eq!((capped.0.as_str(), capped.1), ("waiting", 0), "{capped:?}");
    assert!(
        capped
            .2
            .as_deref()
            .is_some_and(|e| e.contains("used up") && e.contains("Oncor")),
        "{capped:?}"
    );
    let tomorrow: bool = one(
        &mut c,
        "SELECT not_before = smt._tomorrow()::timestamp AT TIME ZONE 'America/Chicago'
           FROM smt.request WHERE meter_number = 'M-CAPPED'",
        &[],
    );
    assert!(tomorrow, "held to the next operating day");
    for meter in ["M1", "M-FAIL", "M-ODD"] {
        assert_eq!(reads[meter].0, "waiting", "{meter}: sent, to be polled");
    }

    // SMT's first answer for M-ODD is a status no client knows: recorded, polled again.
    std::thread::sleep(Duration::from_millis(1100));
    s.run_job();
    let odd = &reads_by_meter(&mut c)["M-ODD"];
    assert!(
        odd.0 == "waiting" && odd.2.as_deref().is_some_and(|e| e.contains("SENT-TO-TDSP")),
        "{odd:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let reads = reads_by_meter(&mut c);
        if ["M1", "M-FAIL", "M-ODD"]
            .iter()
            .all(|m| reads[*m].0 != "waiting")
        {
            break;
        }
        assert!(Instant::now() < deadline, "reads never settled: {reads:?}");
        std::thread::sleep(Duration::from_millis(700));
        s.run_job();
    }
    let reads = reads_by_meter(&mut c);
    assert_eq!(reads["M1"].0, "fulfilled");
    assert_eq!(reads["M-ODD"].0, "fulfilled");
    assert_eq!(reads["M-FAIL"].0, "failed");
    assert!(
        reads["M-FAIL"]
            .2
            .as_deref()
            .is_some_and(|e| e.contains("T-FAILED") && e.contains("did not respond")),
        "{:?}",
        reads["M-FAIL"]
    );
    assert_eq!(reads["M-CAPPED"].0, "waiting", "still held to tomorrow");

    // Stored exactly as SMT sent it, the read's time read in Central time.
    let sim_reads: serde_json::Value =
        serde_json::from_str(&s.sim.control("/sim/odr", "")).unwrap();
    let stored: Vec<(String, String, String, String, String)> = c
        .query(
            "SELECT r.correlation_ids[1], m.meter_number, m.registered_read::text, m.smt_read_date,
                    to_char(m.read_at AT TIME ZONE 'America/Chicago', 'MM/DD/YYYY HH24:MI:SS')
               FROM smt.meter_read m JOIN smt.request r USING (request_id) ORDER BY 2",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert_eq!(stored.len(), 2);
    for (cid, meter, value, date, local) in &stored {
        let sim = &sim_reads[cid];
        assert_eq!(sim["meter"], meter.as_str());
        assert_eq!(sim["registeredRead"], value.as_str(), "exact digits");
        assert_eq!(
            (sim["readDate"].as_str(), Some(local.as_str())),
            (Some(date.as_str()), Some(date.as_str()))
        );
    }
    let sent = s
        .sim
        .log()
        .iter()
        .filter(|e| e["path"] == "/v2/odr/")
        .count();
    assert_eq!(sent, 3, "the capped read never reached SMT");
}

#[test]
fn meters_kept_current_by_subscription_get_each_day_as_files_over_sftp() {
    let Some(db) = TestDb::extension_only("api_subscription") else {
        return;
    };
    let dir = scratch("api_subscription");
    let Some(server) = Sshd::start() else {
        return;
    };
    let Some(sim) = Sim::start_dropping(dir.path(), Some(&server.path("home/adhocusage"))) else {
        return;
    };
    // SMT has a day's data from midnight on (whatever the hour this runs).
    sim.control(
        "/sim/config",
        r#"{"data_lag_hours": 0, "agreement_delay_seconds": 0.5}"#,
    );
    let config = dir.path().join("smt.toml");
    let toml_str = |p: &Path| toml::Value::String(p.display().to_string()).to_string();
    std::fs::write(
        &config,
        format!(
            "{}keep_current = \"subscription\"\n\
             [sftp.smt-sftp]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"smt\"\nkey_file = {}\nknown_hosts = {}\n\
             download_dir = {}\n",
            sim.config_toml(&dir.path().join("replies")),
            server.port,
            toml_str(&server.path("client_key")),
            toml_str(&server.path("known_hosts")),
            toml_str(&dir.path().join("sftp-downloads")),
        ),
    )
    .unwrap();
    let mut c = db.connect();
    let sftp_params =
        serde_json::json!({"source": "smt-sftp", "dirs": [server.remote_dir("adhocusage")]});
    exec(
        &mut c,
        &format!(
            "SELECT smt.job_add('api', 'smt_api', '0 3 * * *', '{{\"source\": \"sim\"}}');
             SELECT smt.job_add('sftp', 'sftp_fetch', '0 3 * * *', '{sftp_params}');
             SELECT smt.enroll('{E1}', '111222333', 'customer@example.com', 1);"
        ),
    );
    let run_job = |job: &str| {
        jobs(&db, dir.path(), &["run-now", job]);
        let mut cmd = smt(
            dir.path(),
            &[
                "run",
                "--exit-when-idle",
                "--database-url",
                db.url(),
                "--config",
                config.to_str().unwrap(),
            ],
        );
        cmd.env(PASSWORD_ENV, &sim.password);
        run(cmd, Duration::from_secs(120)).expect_code(0, "smt run")
    };
    let subscription_calls = |path: &str| -> Vec<serde_json::Value> {
        sim.log()
            .into_iter()
            .filter(|e| e["path"] == path && e["status"] == 200)
            .map(|e| e["body"].clone())
            .collect()
    };

    // No meter active yet: nothing to subscribe to.
    run_job("api");
    assert!(subscription_calls("/v2/NewSubscription/").is_empty());
    std::thread::sleep(Duration::from_millis(700));
    // Active: the month of history requested through the API, and one subscription per data type.
    run_job("api");
    let subs: Vec<(String, String, String)> = c
        .query(
            "SELECT data_type, subscription_number, state FROM smt.subscription ORDER BY data_type",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(subs.len(), 2, "{subs:?}");
    assert_eq!(
        (subs[0].0.as_str(), subs[1].0.as_str()),
        ("DAILY", "INTERVAL")
    );
    assert!(subs
        .iter()
        .all(|s| s.1.starts_with("SB") && s.2 == "active"));
    let sent = subscription_calls("/v2/NewSubscription/");
    assert_eq!(sent.len(), 2);
    for body in &sent {
        assert_eq!(
            (
                &body["subscriptionType"],
                &body["deliveryMode"],
                &body["reportFormat"]
            ),
            (
                &serde_json::json!("CSPENROLL"),
                &serde_json::json!("FTP"),
                &serde_json::json!("CSV")
            )
        );
    }
    let history: Vec<String> = c
        .query("SELECT state FROM smt.request_log ORDER BY request_id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        history,
        vec!["fulfilled"; 2],
        "the history only: new days come as files"
    );
    let next: String = one(&mut c, "SELECT next_action FROM smt.meter_status", &[]);
    assert!(next.contains("SMT delivers each new day"), "{next}");

    // SMT drops yesterday's files at once and, the next day, that day's: fetched and loaded.
    let day_before: String = one(&mut c, "SELECT (smt._tomorrow() - 3)::text", &[]);
    std::thread::sleep(Duration::from_millis(800));
    sim.control("/sim/deliver", &format!(r#"{{"day": "{day_before}"}}"#));
    run_job("sftp");
    let delivered: Vec<(String, Vec<u8>)> = c
        .query(
            "SELECT name, smt.delivery_bytes(remote_file_id) FROM smt.remote_file
              WHERE state = 'loaded' AND name LIKE '%MeterUsage%' ORDER BY name",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(delivered.len(), 4, "two files of each data type");
    for (name, bytes) in &delivered {
        if name.starts_with("IntervalMeterUsage") {
            let records: Vec<_> = smt_core::interval_records(
                &bytes[..],
                smt_core::Format::IntervalCsv,
                EsiidMode::Strict,
            )
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
            assert_eq!(records.len(), 1, "{name}");
            for r in &records {
                assert_interval_view_matches(&mut c, r);
            }
        } else {
            assert!(name.starts_with("DailyMeterUsage"), "{name}");
            let text = String::from_utf8(bytes.clone()).unwrap();
            let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
            let stored: (String, String, String) = {
                let r = c
                    .query_one(
                        "SELECT start_reading::text, end_reading::text, usage_kwh::text FROM smt.daily_read
                          WHERE esiid = $1 AND day = to_date($2, 'MM/DD/YYYY')",
                        &[&E1, &row[1]],
                    )
                    .unwrap();
                (r.get(0), r.get(1), r.get(2))
            };
            assert_eq!(
                stored,
                (row[3].to_owned(), row[4].to_owned(), row[5].to_owned()),
                "{name}"
            );
        }
    }
    // Kept current without asking: no request for new days.
    run_job("api");
    let requests: i64 = one(&mut c, "SELECT count(*) FROM smt.request", &[]);
    assert_eq!(requests, 2);

    // Unenrolled, the last meter: the agreement is terminated and the subscriptions cancelled.
    exec(&mut c, &format!("SELECT smt.unenroll('{E1}')"));
    run_job("api");
    let states: Vec<String> = c
        .query("SELECT state FROM smt.subscription", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(states, vec!["cancelled"; 2]);
    let cancelled: Vec<String> = subscription_calls("/v2/UnSubscription/")
        .iter()
        .map(|b| b["subscriptionNumber"].as_str().unwrap().to_owned())
        .collect();
    let mut numbers: Vec<String> = subs.iter().map(|s| s.1.clone()).collect();
    let mut got = cancelled.clone();
    numbers.sort();
    got.sort();
    assert_eq!(got, numbers);
}
