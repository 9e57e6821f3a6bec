//! End to end: an sftp_fetch job of the real `smt` worker against a real OpenSSH sshd standing in
//! for SMT's SFTP site (tests/sftp/sshd.sh), loading a delivery as SMT names and wraps it today
//! (`DailyMeterUsage…CSV.<DUNS>.asc`: ASCII-armored OpenPGP around a ZIP of several reports, each
//! routed by its content), exactly once. Needs SMT_TEST_DATABASE_URL, sshd, gpg and root.

mod common;

use common::*;
use postgres::Client;

fn toml_str(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// (state, counts) of the job's last run.
fn last_run(c: &mut Client) -> (String, serde_json::Value) {
    let r = c
        .query_one(
            "SELECT state, coalesce(counts, '{}'::jsonb) FROM smt.job_run ORDER BY run_id DESC LIMIT 1",
            &[],
        )
        .unwrap();
    (r.get(0), r.get(1))
}

#[test]
fn sftp_fetch_loads_an_armored_zip_of_reports_once_with_the_host_key_checked() {
    let Some(db) = TestDb::extension_only("sftp_e2e") else {
        return;
    };
    let dir = scratch("sftp_e2e");
    let Some(keys) = Keys::new(dir.path()) else {
        return;
    };
    let Some(server) = Sshd::start() else {
        return;
    };
    let mut data = Data::new(31);
    let lse = lse_report("IntervalData.lse", data.records(6));
    let csv = csv_report("IntervalMeterUsage.CSV", data.records(4));
    let name = "DailyMeterUsage20251201063015.CSV.123456789.asc";
    server.put(
        "adhocusage",
        name,
        &keys.gpg.encrypt(&zip_of(&[&lse, &csv]), &keys.rep, true),
    );

    let config = dir.path().join("smt.toml");
    std::fs::write(
        &config,
        format!(
            "[worker]\npoll_seconds = 1\nlease_seconds = 30\n\
             [sftp.smt-sftp]\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"smt\"\n\
             key_file = {key}\nknown_hosts = {known}\ndownload_dir = {dl}\ntimeout_seconds = 20\n",
            port = server.port,
            key = toml_str(server.path("client_key").to_str().unwrap()),
            known = toml_str(server.path("known_hosts").to_str().unwrap()),
            dl = toml_str(dir.path().join("downloads").to_str().unwrap()),
        ),
    )
    .unwrap();
    let params = serde_json::json!({
        "source": "smt-sftp",
        "dirs": [server.remote_dir("adhocusage"), server.remote_dir("EnrollmentReports")],
    })
    .to_string();
    jobs(
        &db,
        dir.path(),
        &[
            "add",
            "smt-sftp",
            "--schedule",
            "0 6 * * *",
            "--kind",
            "sftp_fetch",
            "--params",
            &params,
        ],
    );
    // `smt jobs run-now smt-sftp`, then a worker until idle.
    let worker = || {
        jobs(&db, dir.path(), &["run-now", "smt-sftp"]);
        let mut cmd = smt(
            dir.path(),
            &[
                "run",
                "--exit-when-idle",
                "--database-url",
                db.url(),
                "--config",
                config.to_str().unwrap(),
                "--pgp-key",
                keys.secret.to_str().unwrap(),
            ],
        );
        cmd.env("SMT_PGP_PASSPHRASE", PASSPHRASE);
        run(cmd, COMMAND_TIMEOUT)
    };
    let run_worker = || worker().expect_code(0, "sftp worker");
    run_worker();
    let mut c = db.connect();
    let (state, counts) = last_run(&mut c);
    assert_eq!(state, "succeeded", "{counts}");
    assert_eq!(counts["fetched"], 1, "{counts}");
    assert_eq!(counts["reports"], 2, "{counts}");
    Expected::of_reports([&lse, &csv]).assert_loaded(&mut c);
    let source: String = one(
        &mut c,
        "SELECT source FROM smt.remote_file WHERE name = $1 AND state = 'loaded'",
        &[&name],
    );
    assert_eq!(source, format!("sftp://smt@127.0.0.1:{}", server.port));

    // Listed again: nothing new is fetched, nothing loaded twice.
    run_worker();
    let (state, counts) = last_run(&mut c);
    assert_eq!(
        (state.as_str(), &counts["fetched"]),
        ("succeeded", &serde_json::json!(0))
    );
    Expected::of_reports([&lse, &csv]).assert_loaded(&mut c);

    // The site's host key is not the one known: the run fails saying so, before anything is read.
    std::fs::copy(server.path("wrong_known_hosts"), server.path("known_hosts")).unwrap();
    let out = worker();
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    let error: Option<String> = one(
        &mut c,
        "SELECT error FROM smt.job_run WHERE state = 'failed' ORDER BY run_id DESC LIMIT 1",
        &[],
    );
    assert!(
        error
            .as_deref()
            .unwrap_or_default()
            .contains("host key refused"),
        "{error:?}"
    );
}
