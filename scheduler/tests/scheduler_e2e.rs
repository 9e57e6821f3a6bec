//! End to end: the real `smt` binary against a real cluster (`SMT_TEST_DATABASE_URL`, an admin
//! URL of a cluster with the smt extension installed; `make test-e2e` starts one and runs this
//! binary; `make test-core` leaves it out). Without it every test prints why and passes on a
//! laptop, and fails under `SMT_REQUIRE_ALL_PARTS=1` or `CI=true` (smt-e2e's `missing_part`).
//!
//! Each test makes its own database and scratch directory, so they run in parallel. Data is
//! generated (smt_core::testdata), and what the database shows is compared with what was
//! generated: one smt.interval_day row per ESIID-channel-day and exact kWh sums, per day and in
//! all. Deliveries are encrypted with a real GnuPG, and fetched from a real vsftpd (TLS and
//! client certificates required); gpg, vsftpd and root are parts under the same rule.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use postgres::Client;

/// A worker configuration that polls every second (an idle `--exit-when-idle` worker still waits
/// one poll after doing work).
fn fast_config(dir: &Path, lease_seconds: u64) -> String {
    config_with(dir, lease_seconds, "")
}

/// [`fast_config`] with more TOML after it (the sources jobs may name: [`import_dirs`],
/// [`ftps_site`]).
fn config_with(dir: &Path, lease_seconds: u64, more: &str) -> String {
    let path = dir.join("smt.toml");
    std::fs::write(
        &path,
        format!("[worker]\npoll_seconds = 1\nlease_seconds = {lease_seconds}\n{more}"),
    )
    .unwrap();
    path.display().to_string()
}

/// A TOML string.
fn toml_str(text: impl AsRef<str>) -> String {
    toml::Value::String(text.as_ref().to_owned()).to_string()
}

/// An `[import_dirs]` table naming these directories.
fn import_dirs(dirs: &[(&str, &Path)]) -> String {
    let mut toml = "[import_dirs]\n".to_owned();
    for (name, dir) in dirs {
        toml.push_str(&format!(
            "{} = {}\n",
            toml_str(name),
            toml_str(dir.to_str().unwrap())
        ));
    }
    toml
}

/// import_dir params naming the configured directory `name`.
fn import_params(name: &str) -> String {
    serde_json::json!({ "source": name }).to_string()
}

/// `smt import --database-url URL ARGS...`
fn import(db: &TestDb, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec!["import", "--database-url", db.url()];
    all.extend_from_slice(args);
    let mut cmd = smt(cwd, &all);
    cmd.envs(env.iter().copied());
    run(cmd, COMMAND_TIMEOUT)
}

/// `smt run --exit-when-idle --database-url URL --config CONFIG ARGS...`
fn worker(db: &TestDb, cwd: &Path, config: &str, args: &[&str]) -> std::process::Command {
    let mut all = vec![
        "run",
        "--exit-when-idle",
        "--database-url",
        db.url(),
        "--config",
        config,
    ];
    all.extend_from_slice(args);
    smt(cwd, &all)
}

/// (state, error, cardinality(file_ids)) of the smt.remote_file row of `name`.
fn remote_file(c: &mut Client, name: &str) -> (String, Option<String>, Option<i32>) {
    let rows = c
        .query(
            "SELECT state, error, cardinality(file_ids) FROM smt.remote_file WHERE name = $1",
            &[&name],
        )
        .unwrap();
    assert_eq!(rows.len(), 1, "one smt.remote_file row for {name}");
    (rows[0].get(0), rows[0].get(1), rows[0].get(2))
}

/// The file_ids of the loaded smt.remote_file row of `name`.
fn file_ids(c: &mut Client, name: &str) -> Vec<i64> {
    one(
        c,
        "SELECT file_ids FROM smt.remote_file WHERE name = $1 AND state = 'loaded'",
        &[&name],
    )
}

/// Every report in smt.file exactly once, all loaded; every loaded delivery whole.
fn assert_reports_once(c: &mut Client, reports: &[&Report]) {
    let (files, distinct, loaded): (i64, i64, i64) = {
        let r = c
            .query_one(
                "SELECT count(*), count(DISTINCT sha256), count(*) FILTER (WHERE state = 'loaded') FROM smt.file",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!(files, reports.len() as i64, "smt.file rows: one per report");
    assert_eq!(distinct, files, "sha256 unique in smt.file");
    assert_eq!(loaded, files, "every report loaded");
    for r in reports {
        let n: i64 = one(
            c,
            "SELECT count(*) FROM smt.file WHERE sha256 = sha256($1::bytea)",
            &[&r.bytes],
        );
        assert_eq!(n, 1, "{} in smt.file once", r.name);
    }
    assert_deliveries_whole(c);
}

/// No delivery half-loaded: every file of a loaded delivery is loaded, and every smt.file row
/// belongs to a loaded delivery.
fn assert_deliveries_whole(c: &mut Client) {
    let broken: i64 = one(
        c,
        "SELECT count(*) FROM smt.remote_file r
          WHERE r.state = 'loaded'
            AND (r.file_ids IS NULL OR cardinality(r.file_ids) = 0
                 OR (SELECT count(*) FROM smt.file f WHERE f.file_id = ANY (r.file_ids) AND f.state = 'loaded')
                    <> cardinality(r.file_ids))",
        &[],
    );
    assert_eq!(
        broken, 0,
        "loaded deliveries whose files are not all loaded"
    );
    let orphans: i64 = one(
        c,
        "SELECT count(*) FROM smt.file f
          WHERE NOT EXISTS (SELECT 1 FROM smt.remote_file r WHERE r.state = 'loaded' AND f.file_id = ANY (r.file_ids))",
        &[],
    );
    assert_eq!(orphans, 0, "smt.file rows of no loaded delivery");
}

fn job_id(c: &mut Client, name: &str) -> i64 {
    one(c, "SELECT job_id FROM smt.job WHERE name = $1", &[&name])
}

/// The job's runs, oldest first, as text: attempt, state, takeovers, error, counts.
fn runs(c: &mut Client, job: &str) -> Vec<Vec<Option<String>>> {
    rows_text(
        c,
        "SELECT r.attempt::text, r.state, r.takeovers::text, r.error, r.counts::text
           FROM smt.job_run r JOIN smt.job j USING (job_id) WHERE j.name = $1 ORDER BY r.run_id",
        &[&job],
    )
}

fn count(c: &mut Client, run_id: i64, key: &str) -> i64 {
    one(
        c,
        "SELECT (counts ->> $2)::bigint FROM smt.job_run WHERE run_id = $1",
        &[&run_id, &key],
    )
}

// ---------------------------------------------------------------------------------------------
// 1. smt import

#[test]
fn import_zip_twice_changes_nothing() {
    let Some(db) = TestDb::extension_only("import_twice") else {
        return;
    };
    let dir = scratch("import_twice");
    let mut data = Data::new(1);
    let lse = lse_report("LSE_20250310.lse", data.records(6));
    let csv = csv_report("IntervalMeterUsage_20250310.csv", data.records(5));
    let zip = write(dir.path(), "delivery.zip", &zip_of(&[&lse, &csv]));
    let zip = zip.to_str().unwrap();
    let expected = Expected::of_reports([&lse, &csv]);
    let mut c = db.connect();

    let out = import(&db, dir.path(), &[zip], &[]).expect_code(0, "first import");
    assert!(out.stdout.contains("LSE_20250310.lse"), "{}", out.stdout);
    expected.assert_loaded(&mut c);
    assert_reports_once(&mut c, &[&lse, &csv]);
    let formats = rows_text(&mut c, "SELECT format FROM smt.file ORDER BY name", &[]);
    assert_eq!(
        formats,
        [[Some("interval_csv".to_owned())], [Some("lse".to_owned())]]
    );
    assert_eq!(
        remote_file(&mut c, "delivery.zip"),
        ("loaded".to_owned(), None, Some(2))
    );
    let before = load_counts(&mut c);

    let out = import(&db, dir.path(), &[zip], &[]).expect_code(0, "second import");
    assert!(
        out.stdout.contains("already imported"),
        "second import says so: {}",
        out.stdout
    );
    assert_eq!(
        load_counts(&mut c),
        before,
        "the second import changed nothing"
    );

    // The same reports in a delivery of another name: registered, loaded nothing new.
    let copy = write(dir.path(), "delivery-copy.zip", &zip_of(&[&lse, &csv]));
    let out =
        import(&db, dir.path(), &[copy.to_str().unwrap()], &[]).expect_code(0, "import of a copy");
    assert!(out.stdout.contains("already loaded"), "{}", out.stdout);
    assert_eq!(load_counts(&mut c), before, "a copy changed nothing");
    assert_eq!(
        file_ids(&mut c, "delivery-copy.zip"),
        file_ids(&mut c, "delivery.zip")
    );
    expected.assert_loaded(&mut c);
}

#[test]
fn interval_reports_are_parsed_on_the_worker_others_go_as_bytes_and_the_delivery_is_kept() {
    use sha2::Digest;
    let Some(db) = TestDb::extension_only("import_paths") else {
        return;
    };
    let dir = scratch("import_paths");
    let mut data = Data::new(7);
    let lse = lse_report("LSE_20251102.lse", data.records(5));
    let notes = Report {
        name: "notes.txt".to_owned(),
        bytes: b"not a usage report\n".to_vec(),
        records: Vec::new(),
    };
    let zip_bytes = zip_of(&[&lse, &notes]);
    let zip = write(dir.path(), "mixed.zip", &zip_bytes);
    let mut c = db.connect();

    import(&db, dir.path(), &[zip.to_str().unwrap()], &[]).expect_code(1, "a report not loaded");
    Expected::of_reports([&lse]).assert_loaded(&mut c);
    // The interval report came as rows (nothing of its text kept in the database); its digest
    // and size are the report's own.
    let (state, sha, size, parts): (String, Vec<u8>, i64, i64) = {
        let r = c
            .query_one(
                "SELECT f.state, f.sha256, f.size_bytes,
                        (SELECT count(*) FROM smt.file_content p WHERE p.file_id = f.file_id)
                   FROM smt.file f WHERE f.name = 'LSE_20251102.lse'",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2), r.get(3))
    };
    assert_eq!(state, "loaded");
    assert_eq!(sha, sha2::Sha256::digest(&lse.bytes).to_vec());
    assert_eq!(size, lse.bytes.len() as i64);
    assert_eq!(parts, 0, "a parsed report is not kept as text");
    // Anything else goes as bytes: registered as failed, kept exactly.
    let (state, error, kept): (String, String, Vec<u8>) = {
        let r = c
            .query_one(
                "SELECT state, error, smt.file_bytes(file_id) FROM smt.file WHERE name = 'notes.txt'",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!(state, "failed");
    assert!(error.contains("unknown content"), "{error}");
    assert_eq!(kept, notes.bytes);
    // The delivery itself, exactly as received.
    let delivery: Option<Vec<u8>> = one(
        &mut c,
        "SELECT smt.delivery_bytes(remote_file_id) FROM smt.remote_file WHERE name = 'mixed.zip'",
        &[],
    );
    assert_eq!(delivery.as_deref(), Some(&zip_bytes[..]));

    // keep_deliveries = "none": loaded, not kept.
    let config = write(dir.path(), "none.toml", b"keep_deliveries = \"none\"\n");
    let other = lse_report("LSE_20251103.lse", data.records(2));
    let plain = write(dir.path(), "other.zip", &zip_of(&[&other]));
    import(
        &db,
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            plain.to_str().unwrap(),
        ],
        &[],
    )
    .expect_code(0, "import without keeping");
    Expected::of_reports([&lse, &other]).assert_loaded(&mut c);
    let kept: Option<Vec<u8>> = one(
        &mut c,
        "SELECT smt.delivery_bytes(remote_file_id) FROM smt.remote_file WHERE name = 'other.zip'",
        &[],
    );
    assert_eq!(kept, None);
}

#[test]
fn import_encrypted_zip_needs_the_right_key() {
    let Some(db) = TestDb::extension_only("import_pgp") else {
        return;
    };
    let dir = scratch("import_pgp");
    let Some(keys) = Keys::new(dir.path()) else {
        return;
    };
    let mut data = Data::new(2);
    let lse = lse_report("LSE_20250311.lse", data.records(7));
    let csv = csv_report("IntervalMeterUsage_20250311.csv", data.records(4));
    let zip = zip_of(&[&lse, &csv]);
    let asc = write(
        dir.path(),
        "delivery.zip.asc",
        &keys.gpg.encrypt(&zip, &keys.rep, true),
    );
    let pgp = write(
        dir.path(),
        "delivery.zip.pgp",
        &keys.gpg.encrypt(&zip, &keys.rep, false),
    );
    let plain = write(dir.path(), "delivery.zip", &zip);
    let (asc, pgp, plain) = (
        asc.to_str().unwrap(),
        pgp.to_str().unwrap(),
        plain.to_str().unwrap(),
    );
    assert!(std::fs::read_to_string(asc)
        .unwrap()
        .starts_with("-----BEGIN PGP MESSAGE-----"));
    let secret = keys.secret.to_str().unwrap();
    let other = keys.other_secret.to_str().unwrap();
    let mut c = db.connect();
    let empty = load_counts(&mut c);

    // Without a key: quarantined, nothing loaded.
    let out = import(&db, dir.path(), &[pgp], &[]).expect_code(1, "import without a key");
    assert!(out.stdout.contains("quarantined"), "{}", out.stdout);
    let (state, error, _) = remote_file(&mut c, "delivery.zip.pgp");
    assert_eq!(state, "quarantined");
    let error = error.expect("the quarantine says why");
    assert!(
        error.contains("OpenPGP-encrypted") && error.contains("no secret key"),
        "{error}"
    );

    // Another retailer's key: cannot decrypt.
    let out = import(&db, dir.path(), &["--pgp-key", other, asc], &[])
        .expect_code(1, "import with a wrong key");
    assert!(out.stdout.contains("quarantined"), "{}", out.stdout);
    let (state, error, _) = remote_file(&mut c, "delivery.zip.asc");
    assert_eq!(state, "quarantined");
    let error = error.unwrap();
    assert!(error.contains("cannot decrypt"), "{error}");

    // The right key with a wrong passphrase: the key cannot be unlocked, so nothing is tried.
    let out = import(
        &db,
        dir.path(),
        &["--pgp-key", secret, asc],
        &[("SMT_PGP_PASSPHRASE", "not the passphrase")],
    )
    .expect_code(2, "import with a wrong passphrase");
    assert!(out.stderr.contains("wrong passphrase"), "{}", out.stderr);
    assert_eq!(remote_file(&mut c, "delivery.zip.asc").0, "quarantined");
    assert_eq!(
        load_counts(&mut c),
        empty,
        "nothing loaded from quarantined files"
    );

    // The right key and passphrase: both quarantined deliveries load now, the same reports once.
    import(
        &db,
        dir.path(),
        &["--pgp-key", secret, asc, pgp],
        &[("SMT_PGP_PASSPHRASE", PASSPHRASE)],
    )
    .expect_code(0, "import with the key");
    assert_eq!(
        remote_file(&mut c, "delivery.zip.asc"),
        ("loaded".to_owned(), None, Some(2))
    );
    assert_eq!(
        remote_file(&mut c, "delivery.zip.pgp"),
        ("loaded".to_owned(), None, Some(2))
    );
    assert_eq!(
        file_ids(&mut c, "delivery.zip.pgp"),
        file_ids(&mut c, "delivery.zip.asc")
    );
    let names = rows_text(&mut c, "SELECT name FROM smt.file ORDER BY name", &[]);
    assert_eq!(
        names,
        [
            [Some("IntervalMeterUsage_20250311.csv".to_owned())],
            [Some("LSE_20250311.lse".to_owned())]
        ]
    );
    let expected = Expected::of_reports([&lse, &csv]);
    expected.assert_loaded(&mut c);
    assert_reports_once(&mut c, &[&lse, &csv]);

    // The plain zip holds the very same reports: decrypting gave them byte for byte.
    let loaded = load_counts(&mut c);
    import(&db, dir.path(), &[plain], &[]).expect_code(0, "import of the plain zip");
    assert_eq!(load_counts(&mut c), loaded);
    assert_eq!(
        file_ids(&mut c, "delivery.zip"),
        file_ids(&mut c, "delivery.zip.asc")
    );
}

#[test]
fn import_quarantines_or_rejects_bad_files_without_stopping_the_others() {
    let Some(db) = TestDb::extension_only("import_bad") else {
        return;
    };
    let dir = scratch("import_bad");
    let mut data = Data::new(3);
    let good1 = lse_report("good1.lse", data.records(4));
    let good2_lse = lse_report("good2.lse", data.records(3));
    let good2_csv = csv_report("good2.csv", data.records(3));
    let doomed = lse_report("doomed.lse", data.records(4));
    let lost = csv_report("lost.csv", data.records(4));

    // A zip whose compressed data is overwritten in the middle (its checksum cannot match).
    let mut corrupt = zip_of(&[&doomed]);
    let n = corrupt.len();
    for b in &mut corrupt[n / 4..n / 2] {
        *b = !*b;
    }
    // A zip whose first member is good and whose second is corrupt: the first is loaded before the
    // second is found bad (deliveries stream), and must not stay loaded.
    let half_first = lse_report("first.lse", data.records(3));
    let half_second = csv_report("second.csv", data.records(3));
    let mut half = zip_of(&[&half_first, &half_second]);
    let second_at = memchr::memmem::find_iter(&half, b"PK\x03\x04")
        .nth(1)
        .expect("a second member");
    let directory_at = memchr::memmem::find(&half, b"PK\x01\x02").expect("a central directory");
    let data_len = directory_at - second_at - 64;
    for b in &mut half[second_at + 64 + data_len / 3..second_at + 64 + data_len / 2] {
        *b = !*b;
    }
    // A zip cut in half (no central directory).
    let full = zip_of(&[&lost]);
    let truncated_zip = full[..full.len() / 2].to_vec();
    // An LSE file cut in the middle of its fifth record: the four before it are whole.
    let whole = lse_report("truncated.lse", data.records(6));
    let first4: Vec<_> = whole.records[..4].to_vec();
    let first5 = smt_core::testdata::lse_bytes(&whole.records[..5], true);
    let cut_at = smt_core::testdata::lse_bytes(&first4, true).len() + 200;
    assert!(cut_at < first5.len());
    let truncated_lse = first5[..cut_at].to_vec();
    let kept = Report {
        name: "truncated.lse".to_owned(),
        bytes: truncated_lse.clone(),
        records: first4,
    };

    let files = [
        write(dir.path(), "good1.lse", &good1.bytes),
        write(dir.path(), "corrupt.zip", &corrupt),
        write(dir.path(), "truncated.lse", &truncated_lse),
        write(dir.path(), "truncated.zip", &truncated_zip),
        write(dir.path(), "half_corrupt.zip", &half),
        write(dir.path(), "good2.zip", &zip_of(&[&good2_lse, &good2_csv])),
    ];
    let args: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    let out = import(&db, dir.path(), &args, &[]).expect_code(1, "import with bad files");
    let mut c = db.connect();

    for (name, fragment) in [
        ("corrupt.zip", "cannot unzip"),
        ("truncated.zip", "cannot unzip"),
        ("half_corrupt.zip", "second.csv"),
    ] {
        let (state, error, ids) = remote_file(&mut c, name);
        assert_eq!(state, "quarantined", "{name}");
        assert!(
            error.as_deref().is_some_and(|e| e.contains(fragment)),
            "{name}: {error:?}"
        );
        assert_eq!(ids, None);
        assert!(out.stdout.contains(&format!("{name}\t")), "{}", out.stdout);
    }
    for (name, reports) in [("good1.lse", 1), ("truncated.lse", 1), ("good2.zip", 2)] {
        assert_eq!(
            remote_file(&mut c, name),
            ("loaded".to_owned(), None, Some(reports)),
            "{name}"
        );
    }
    let (records, rejected): (i32, i32) = {
        let r = c
            .query_one(
                "SELECT records, rejected FROM smt.file WHERE name = 'truncated.lse'",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(records, 4, "the whole records of the truncated file");
    assert!(rejected >= 1, "the cut record is rejected");
    let rejects: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.reject r JOIN smt.file f USING (file_id) WHERE f.name = 'truncated.lse'",
        &[],
    );
    assert_eq!(rejects, i64::from(rejected));
    let elsewhere: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.reject r JOIN smt.file f USING (file_id) WHERE f.name <> 'truncated.lse'",
        &[],
    );
    assert_eq!(elsewhere, 0);

    Expected::of_reports([&good1, &kept, &good2_lse, &good2_csv]).assert_loaded(&mut c);
    assert_reports_once(&mut c, &[&good1, &kept, &good2_lse, &good2_csv]);
}

// ---------------------------------------------------------------------------------------------
// 2. smt jobs

#[test]
fn jobs_follow_their_schedule_and_run_now_loads_the_dir() {
    let Some(db) = TestDb::extension_only("jobs") else {
        return;
    };
    let dir = scratch("jobs");
    let inbox = dir.path().join("inbox");
    let config = config_with(dir.path(), 30, &import_dirs(&[("inbox", &inbox)]));
    std::fs::create_dir(&inbox).unwrap();
    let mut data = Data::new(4);
    let mut reports = Vec::new();
    for i in 0..3 {
        let r = lse_report(&format!("lse_{i}.lse"), data.records(3));
        write(&inbox, &r.name, &r.bytes);
        reports.push(r);
    }
    let a = lse_report("zipped.lse", data.records(2));
    let b = csv_report("zipped.csv", data.records(2));
    write(&inbox, "both.zip", &zip_of(&[&a, &b]));
    write(&inbox, ".hidden.lse", b"not a delivery");
    write(&inbox, "partial.lse.part", b"still downloading");
    reports.extend([a, b]);
    let params = import_params("inbox");
    let mut c = db.connect();

    jobs(
        &db,
        dir.path(),
        &[
            "add",
            "inbox",
            "--schedule",
            "* * * * *",
            "--kind",
            "import_dir",
            "--params",
            &params,
        ],
    );
    let listed = jobs(&db, dir.path(), &[]).stdout;
    let line = listed
        .lines()
        .find(|l| l.starts_with("inbox\t"))
        .unwrap_or_else(|| panic!("smt jobs lists inbox: {listed}"));
    let cells: Vec<&str> = line.split('\t').collect();
    assert_eq!(
        &cells[1..5],
        ["import_dir", "* * * * *", "America/Chicago", "true"]
    );
    let next: String = one(
        &mut c,
        "SELECT next_run_at::text FROM smt.job WHERE name = 'inbox'",
        &[],
    );
    assert_eq!(cells[5], next, "smt jobs shows next_run_at");
    let within_a_minute: bool = one(
        &mut c,
        "SELECT next_run_at > created_at AND next_run_at <= created_at + interval '1 minute'
                AND date_trunc('minute', next_run_at) = next_run_at
           FROM smt.job WHERE name = 'inbox'",
        &[],
    );
    assert!(
        within_a_minute,
        "every minute: next run at the next whole minute ({next})"
    );

    // A DBA changes the schedule with SQL: next_run_at follows, in Chicago time.
    exec(
        &mut c,
        "UPDATE smt.job SET schedule = '0 6 * * *' WHERE name = 'inbox'",
    );
    let check = "SELECT next_run_at = (
                        date_trunc('day', updated_at AT TIME ZONE 'America/Chicago') + interval '6 hours'
                        + CASE WHEN date_trunc('day', updated_at AT TIME ZONE 'America/Chicago') + interval '6 hours'
                                    <= updated_at AT TIME ZONE 'America/Chicago'
                               THEN interval '1 day' ELSE interval '0' END
                      ) AT TIME ZONE 'America/Chicago',
                    (next_run_at AT TIME ZONE 'America/Chicago')::time = '06:00',
                    next_run_at > now() AND next_run_at <= now() + interval '25 hours',
                    next_run_at::text
               FROM smt.job WHERE name = 'inbox'";
    let row = c.query_one(check, &[]).unwrap();
    let (exact, six, soon, next): (bool, bool, bool, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert!(
        exact && six && soon,
        "next 06:00 America/Chicago, got {next}"
    );
    let listed = jobs(&db, dir.path(), &[]).stdout;
    assert!(
        listed.contains(&format!("\t0 6 * * *\tAmerica/Chicago\ttrue\t{next}\t")),
        "{listed}"
    );

    // Not due: a worker has nothing to do.
    run(worker(&db, dir.path(), &config, &[]), COMMAND_TIMEOUT).expect_code(0, "idle worker");
    assert!(runs(&mut c, "inbox").is_empty());

    // run-now: one run loads the directory.
    jobs(&db, dir.path(), &["run-now", "inbox"]);
    run(worker(&db, dir.path(), &config, &[]), COMMAND_TIMEOUT).expect_code(0, "worker");
    let all = runs(&mut c, "inbox");
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        all[0][..3],
        [Some("1".into()), Some("succeeded".into()), Some("0".into())]
    );
    let run_id: i64 = one(&mut c, "SELECT max(run_id) FROM smt.job_run", &[]);
    let records: usize = reports.iter().map(|r| r.records.len()).sum();
    assert_eq!(
        count(&mut c, run_id, "listed"),
        4,
        "hidden and .part files are skipped"
    );
    assert_eq!(count(&mut c, run_id, "deliveries"), 4);
    assert_eq!(count(&mut c, run_id, "quarantined"), 0);
    assert_eq!(count(&mut c, run_id, "reports"), 5);
    assert_eq!(count(&mut c, run_id, "already_loaded"), 0);
    assert_eq!(count(&mut c, run_id, "records"), records as i64);
    assert_eq!(count(&mut c, run_id, "inserted"), records as i64);
    assert_eq!(count(&mut c, run_id, "rejected"), 0);
    let finished: bool = one(
        &mut c,
        "SELECT finished_at IS NOT NULL AND lease_until IS NULL AND worker IS NOT NULL FROM smt.job_run WHERE run_id = $1",
        &[&run_id],
    );
    assert!(finished);
    let refs: Vec<&Report> = reports.iter().collect();
    Expected::of_reports(refs.iter().copied()).assert_loaded(&mut c);
    assert_reports_once(&mut c, &refs);
    let row = c.query_one(check, &[]).unwrap();
    assert!(
        row.get::<_, bool>(1) && row.get::<_, bool>(2),
        "after the run, next_run_at is the next 06:00 again: {}",
        row.get::<_, String>(3)
    );

    // Again: the run succeeds and loads nothing new.
    let before = load_counts(&mut c);
    jobs(&db, dir.path(), &["run-now", "inbox"]);
    run(worker(&db, dir.path(), &config, &[]), COMMAND_TIMEOUT).expect_code(0, "worker");
    let all = runs(&mut c, "inbox");
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1][1].as_deref(), Some("succeeded"));
    let run_id: i64 = one(&mut c, "SELECT max(run_id) FROM smt.job_run", &[]);
    assert_eq!(count(&mut c, run_id, "listed"), 4);
    assert_eq!(count(&mut c, run_id, "deliveries"), 0);
    assert_eq!(load_counts(&mut c), before);
}

#[test]
fn failing_job_backs_off_then_fails_until_reenabled() {
    let Some(db) = TestDb::extension_only("jobs_fail") else {
        return;
    };
    let dir = scratch("jobs_fail");
    let missing = dir.path().join("missing");
    let config = config_with(dir.path(), 30, &import_dirs(&[("broken", &missing)]));
    let params = import_params("broken");
    let mut c = db.connect();
    jobs(
        &db,
        dir.path(),
        &[
            "add",
            "broken",
            "--schedule",
            "0 6 * * *",
            "--kind",
            "import_dir",
            "--params",
            &params,
        ],
    );
    let job = job_id(&mut c, "broken");

    // Attempt 1 fails: attempt 2 is queued for retry_delay (1 minute, less up to 10% jitter) later.
    jobs(&db, dir.path(), &["run-now", "broken"]);
    // The run fails; the worker goes on until idle, then exits 1 and says how many failed.
    let out = run(worker(&db, dir.path(), &config, &[]), COMMAND_TIMEOUT)
        .expect_code(1, "a worker whose run failed");
    assert!(out.stderr.contains("run failed"), "{}", out.stderr);
    assert_eq!(
        out.stderr.lines().last(),
        Some("smt run: 1 of 1 runs failed"),
        "{}",
        out.stderr
    );
    let all = runs(&mut c, "broken");
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0][..2], [Some("1".into()), Some("failed".into())]);
    let error = all[0][3].clone().unwrap();
    assert!(
        error.contains("missing"),
        "the error names the directory: {error}"
    );
    assert_eq!(all[1][..2], [Some("2".into()), Some("queued".into())]);
    let backoff = c
        .query_one(
            "SELECT r2.not_before - r1.finished_at BETWEEN j.retry_delay * 0.9 AND j.retry_delay, r2.not_before > now(),
                    r2.scheduled_for = r1.scheduled_for, j.consecutive_failures, j.last_error,
                    j.failed_at IS NULL
               FROM smt.job j
               JOIN smt.job_run r1 ON r1.job_id = j.job_id AND r1.attempt = 1
               JOIN smt.job_run r2 ON r2.job_id = j.job_id AND r2.attempt = 2
              WHERE j.job_id = $1",
            &[&job],
        )
        .unwrap();
    assert!(
        backoff.get::<_, bool>(0),
        "attempt 2 waits retry_delay, less up to 10% jitter"
    );
    assert!(backoff.get::<_, bool>(1), "attempt 2 is not due yet");
    assert!(
        backoff.get::<_, bool>(2),
        "attempt 2 retries the same scheduled run"
    );
    assert_eq!(backoff.get::<_, i32>(3), 1);
    assert_eq!(
        backoff.get::<_, Option<String>>(4).as_deref(),
        Some(error.as_str())
    );
    assert!(backoff.get::<_, bool>(5), "not failed yet");

    // Not due yet: a worker leaves it alone (and, having run nothing, exits 0).
    let out = run(worker(&db, dir.path(), &config, &[]), COMMAND_TIMEOUT).expect_code(0, "worker");
    assert_eq!(
        out.stderr.lines().last(),
        Some("smt run: 0 of 0 runs failed"),
        "{}",
        out.stderr
    );
    assert_eq!(runs(&mut c, "broken").len(), 2);

    // A DBA makes it give up sooner and retry at once: attempt 2 is the last.
    exec(
        &mut c,
        &format!(
            "UPDATE smt.job SET max_attempts = 2, retry_delay = '0 seconds' WHERE job_id = {job};
             UPDATE smt.job_run SET not_before = now() WHERE job_id = {job} AND state = 'queued';"
        ),
    );
    run(worker(&db, dir.path(), &config, &[]), COMMAND_TIMEOUT).expect_code(1, "worker");
    let all = runs(&mut c, "broken");
    assert_eq!(all.len(), 2, "no attempt 3: {all:?}");
    assert_eq!(all[1][..2], [Some("2".into()), Some("failed".into())]);
    let failed = c
        .query_one(
            "SELECT failed_at IS NOT NULL, last_error, consecutive_failures FROM smt.job WHERE job_id = $1",
            &[&job],
        )
        .unwrap();
    assert!(failed.get::<_, bool>(0), "failed_at set after max_attempts");
    assert!(failed
        .get::<_, Option<String>>(1)
        .is_some_and(|e| e.contains("missing")));
    assert_eq!(failed.get::<_, i32>(2), 2);
    let listed = jobs(&db, dir.path(), &[]).stdout;
    let line = listed.lines().find(|l| l.starts_with("broken\t")).unwrap();
    assert_eq!(
        line.split('\t').nth(6),
        Some("true"),
        "smt jobs shows it failed: {line}"
    );

    // A failed job is not run again, even when made due: run-now says so, with the way out.
    let refused = run(
        smt(
            dir.path(),
            &["jobs", "--database-url", db.url(), "run-now", "broken"],
        ),
        COMMAND_TIMEOUT,
    )
    .expect_code(1, "run-now of a failed job");
    assert!(
        refused.stderr.contains("job broken is marked failed")
            && refused.stderr.contains("`smt jobs enable broken`")
            && refused.stderr.contains("missing"),
        "{}",
        refused.stderr
    );
    exec(
        &mut c,
        &format!("UPDATE smt.job SET next_run_at = now() WHERE job_id = {job}"),
    );
    run(worker(&db, dir.path(), &config, &[]), COMMAND_TIMEOUT).expect_code(0, "worker");
    assert_eq!(runs(&mut c, "broken").len(), 2, "a failed job does not run");

    // The directory appears; the DBA re-enables the job: failure cleared, it runs and loads.
    std::fs::create_dir(&missing).unwrap();
    let mut data = Data::new(5);
    let report = lse_report("late.lse", data.records(3));
    write(&missing, &report.name, &report.bytes);
    jobs(&db, dir.path(), &["disable", "broken"]);
    let refused = run(
        smt(
            dir.path(),
            &["jobs", "--database-url", db.url(), "run-now", "broken"],
        ),
        COMMAND_TIMEOUT,
    )
    .expect_code(1, "run-now of a disabled job");
    assert!(
        refused
            .stderr
            .contains("job broken is disabled and is marked failed"),
        "{}",
        refused.stderr
    );
    jobs(&db, dir.path(), &["enable", "broken"]);
    let cleared = c
        .query_one(
            "SELECT failed_at IS NULL, consecutive_failures, (next_run_at AT TIME ZONE time_zone)::time = '06:00'
               FROM smt.job WHERE job_id = $1",
            &[&job],
        )
        .unwrap();
    assert!(cleared.get::<_, bool>(0), "re-enabling clears failed_at");
    assert_eq!(cleared.get::<_, i32>(1), 0);
    assert!(cleared.get::<_, bool>(2), "next run at 06:00 again");
    jobs(&db, dir.path(), &["run-now", "broken"]);
    run(worker(&db, dir.path(), &config, &[]), COMMAND_TIMEOUT).expect_code(0, "worker");
    let all = runs(&mut c, "broken");
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[2][..2], [Some("1".into()), Some("succeeded".into())]);
    let last_error: Option<String> = one(
        &mut c,
        "SELECT last_error FROM smt.job WHERE job_id = $1",
        &[&job],
    );
    assert_eq!(last_error, None, "success clears last_error");
    Expected::of_reports([&report]).assert_loaded(&mut c);
}

// ---------------------------------------------------------------------------------------------
// 3. Two workers at once

#[test]
fn two_workers_at_once_run_each_run_once_and_load_each_report_once() {
    let Some(db) = TestDb::extension_only("two_workers") else {
        return;
    };
    let dir = scratch("two_workers");
    let inbox = dir.path().join("inbox");
    let config = config_with(dir.path(), 30, &import_dirs(&[("inbox", &inbox)]));
    std::fs::create_dir(&inbox).unwrap();
    let mut data = Data::new(6);
    let mut reports = Vec::new();
    for i in 0..20 {
        match i % 3 {
            0 => {
                let r = lse_report(&format!("d{i:02}.lse"), data.records(12));
                write(&inbox, &r.name, &r.bytes);
                reports.push(r);
            }
            1 => {
                let r = csv_report(&format!("d{i:02}.csv"), data.records(12));
                write(&inbox, &r.name, &r.bytes);
                reports.push(r);
            }
            _ => {
                let a = lse_report(&format!("d{i:02}a.lse"), data.records(8));
                let b = csv_report(&format!("d{i:02}b.csv"), data.records(8));
                write(&inbox, &format!("d{i:02}.zip"), &zip_of(&[&a, &b]));
                reports.extend([a, b]);
            }
        }
    }
    // Two jobs over the same directory, so both workers have work on the same files.
    let params = import_params("inbox");
    for name in ["inbox-a", "inbox-b"] {
        jobs(
            &db,
            dir.path(),
            &[
                "add",
                name,
                "--schedule",
                "0 6 * * *",
                "--kind",
                "import_dir",
                "--params",
                &params,
            ],
        );
        jobs(&db, dir.path(), &["run-now", name]);
    }

    let w1 = Running::spawn(worker(&db, dir.path(), &config, &[]));
    let w2 = Running::spawn(worker(&db, dir.path(), &config, &[]));
    let ids = [w1.id(), w2.id()];
    w1.wait(COMMAND_TIMEOUT).expect_code(0, "worker 1");
    w2.wait(COMMAND_TIMEOUT).expect_code(0, "worker 2");

    let mut c = db.connect();
    let per_schedule = rows_text(
        &mut c,
        "SELECT j.name, count(*)::text, string_agg(r.state, ',')
           FROM smt.job_run r JOIN smt.job j USING (job_id) GROUP BY j.name, r.scheduled_for ORDER BY 1",
        &[],
    );
    assert_eq!(
        per_schedule,
        [
            [
                Some("inbox-a".into()),
                Some("1".into()),
                Some("succeeded".into())
            ],
            [
                Some("inbox-b".into()),
                Some("1".into()),
                Some("succeeded".into())
            ],
        ],
        "exactly one run per job and scheduled time"
    );
    let workers = rows_text(&mut c, "SELECT DISTINCT worker FROM smt.job_run", &[]);
    for w in &workers {
        let w = w[0].as_deref().unwrap();
        assert!(
            ids.iter().any(|id| w.ends_with(&format!(":{id}"))),
            "run by one of the two workers: {w}"
        );
    }
    println!("runs were shared by {} worker(s)", workers.len());
    // Between them, the runs loaded every report once.
    let fresh: i64 = one(
        &mut c,
        "SELECT sum((counts ->> 'reports')::bigint - (counts ->> 'already_loaded')::bigint)::bigint FROM smt.job_run",
        &[],
    );
    assert_eq!(
        fresh,
        reports.len() as i64,
        "reports loaded fresh across both runs"
    );
    let loaded: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.remote_file WHERE state = 'loaded'",
        &[],
    );
    assert_eq!(loaded, 20, "every delivery loaded");
    let refs: Vec<&Report> = reports.iter().collect();
    assert_reports_once(&mut c, &refs);
    Expected::of_reports(refs.iter().copied()).assert_loaded(&mut c);
}

// ---------------------------------------------------------------------------------------------
// 4. kill -9 in the middle of a load

#[test]
fn worker_killed_mid_load_is_taken_over_after_its_lease() {
    let Some(db) = TestDb::extension_only("kill9") else {
        return;
    };
    let dir = scratch("kill9");
    let inbox = dir.path().join("inbox");
    let config = config_with(dir.path(), 3, &import_dirs(&[("inbox", &inbox)]));
    std::fs::create_dir(&inbox).unwrap();
    let mut data = Data::new(7);
    let mut reports = Vec::new();
    let deliveries = 10;
    for i in 0..deliveries {
        // Two LSE reports per zip, so a delivery could be half-loaded if loading were not atomic.
        let a = lse_report(&format!("big{i:02}a.lse"), data.records(200));
        let b = lse_report(&format!("big{i:02}b.lse"), data.records(200));
        write(&inbox, &format!("big{i:02}.zip"), &zip_of(&[&a, &b]));
        reports.extend([a, b]);
    }
    let params = import_params("inbox");
    jobs(
        &db,
        dir.path(),
        &[
            "add",
            "big",
            "--schedule",
            "0 6 * * *",
            "--kind",
            "import_dir",
            "--params",
            &params,
        ],
    );
    jobs(&db, dir.path(), &["run-now", "big"]);
    let mut c = db.connect();

    // A daemon (no --exit-when-idle), killed once some deliveries are in but not all, while its
    // work connection is writing the next one (a transaction holding a transaction id).
    let daemon = Running::spawn(smt(
        dir.path(),
        &["run", "--database-url", db.url(), "--config", &config],
    ));
    let started = Instant::now();
    loop {
        let ready: bool = one(
            &mut c,
            "SELECT (SELECT count(*) FROM smt.file) > 0
                AND (SELECT count(*) FROM smt.job_run WHERE state = 'running') = 1
                AND EXISTS (SELECT 1 FROM pg_stat_activity
                             WHERE datname = current_database() AND pid <> pg_backend_pid()
                               AND backend_xid IS NOT NULL AND query LIKE '%smt.load%')",
            &[],
        );
        if ready {
            break;
        }
        let done: i64 = one(
            &mut c,
            "SELECT count(*) FROM smt.job_run WHERE state <> 'running' AND state <> 'queued'",
            &[],
        );
        assert_eq!(
            done, 0,
            "the run finished before it could be killed: load more data"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = daemon.kill9();
    assert!(!killed.status.success());
    let at_kill = c
        .query_one(
            "SELECT state, lease_until IS NOT NULL, worker, takeovers FROM smt.job_run",
            &[],
        )
        .unwrap();
    assert_eq!(
        at_kill.get::<_, String>(0),
        "running",
        "the killed run stays running"
    );
    assert!(at_kill.get::<_, bool>(1), "with its lease");
    let dead_worker: String = at_kill.get(2);
    assert_eq!(at_kill.get::<_, i32>(3), 0);
    // Whatever was committed is whole deliveries; more is left.
    assert_deliveries_whole(&mut c);
    let loaded: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.remote_file WHERE state = 'loaded'",
        &[],
    );
    assert!(
        loaded < deliveries,
        "killed mid-run ({loaded} of {deliveries} loaded)"
    );
    println!("killed with {loaded} of {deliveries} deliveries loaded");

    // While the lease holds (3 s), a new worker leaves the run alone. (On a machine so slow that
    // the lease ran out meanwhile, this worker is the one that takes over.)
    let early =
        run(worker(&db, dir.path(), &config, &[]), COMMAND_TIMEOUT).expect_code(0, "early worker");
    if !early.stderr.contains("taking over") {
        let held = c
            .query_one("SELECT state, takeovers FROM smt.job_run", &[])
            .unwrap();
        assert_eq!(held.get::<_, String>(0), "running", "not taken over early");
        assert_eq!(held.get::<_, i32>(1), 0, "not taken over early");

        // Once the lease has expired, the next worker takes the run over and finishes it.
        let expired = Instant::now();
        while !one::<bool>(
            &mut c,
            "SELECT coalesce(lease_until < now(), true) FROM smt.job_run",
            &[],
        ) {
            assert!(
                expired.elapsed() < Duration::from_secs(30),
                "the lease never expired"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = run(worker(&db, dir.path(), &config, &[]), COMMAND_TIMEOUT)
            .expect_code(0, "worker taking over");
        assert!(out.stderr.contains("taking over"), "{}", out.stderr);
    }
    let after = c
        .query_one(
            "SELECT state, takeovers, attempt, worker, lease_until IS NULL, count(*) OVER () FROM smt.job_run",
            &[],
        )
        .unwrap();
    assert_eq!(after.get::<_, String>(0), "succeeded");
    assert_eq!(after.get::<_, i32>(1), 1, "taken over once");
    assert_eq!(after.get::<_, i32>(2), 1, "the same attempt, not a retry");
    assert_ne!(after.get::<_, String>(3), dead_worker);
    assert!(after.get::<_, bool>(4));
    assert_eq!(after.get::<_, i64>(5), 1, "one run");
    let all_loaded: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.remote_file WHERE state = 'loaded'",
        &[],
    );
    assert_eq!(all_loaded, deliveries);
    let refs: Vec<&Report> = reports.iter().collect();
    assert_reports_once(&mut c, &refs);
    Expected::of_reports(refs.iter().copied()).assert_loaded(&mut c);
}

// ---------------------------------------------------------------------------------------------
// 5. FTPS end to end

/// The test server as the worker's config names it: `[ftps.smt-ftps]` (config::FtpsSite), its
/// downloads under `downloads`.
fn ftps_site(server: &Vsftpd, downloads: &Path) -> String {
    let path = |p: PathBuf| toml_str(p.to_str().unwrap());
    format!(
        "[ftps.smt-ftps]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"smtftp\"\n\
         password_env = \"SMT_FTPS_PASSWORD\"\nca_file = {}\nclient_cert = {}\nclient_key = {}\n\
         download_dir = {}\ntimeout_seconds = 20\n",
        server.port,
        path(server.path("ca.pem")),
        path(server.path("client.pem")),
        path(server.path("client.key")),
        toml_str(downloads.to_str().unwrap()),
    )
}

/// ftps_fetch parameters naming the configured test server (sources::FtpsParams).
fn ftps_params() -> String {
    serde_json::json!({ "source": "smt-ftps", "dirs": ["/reports"] }).to_string()
}

#[test]
fn ftps_fetch_decrypts_loads_once_and_fetches_only_new_files() {
    let Some(db) = TestDb::extension_only("ftps") else {
        return;
    };
    let dir = scratch("ftps");
    let Some(keys) = Keys::new(dir.path()) else {
        return;
    };
    let _serial = FTPS_SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(server) = Vsftpd::start() else {
        return;
    };
    let downloads = dir.path().join("downloads");
    let config = config_with(dir.path(), 30, &ftps_site(&server, &downloads));
    // Downloads loaded or quarantined are kept one day (by their modification time). A top-level
    // key: before the first table.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("retention_days = 1\n{text}")).unwrap();
    let mut data = Data::new(8);
    let lse = lse_report("LSE_zip.lse", data.records(5));
    let csv = csv_report("CSV_zip.csv", data.records(5));
    let plain = lse_report("IntervalData_plain.lse", data.records(4));
    server.put(
        "delivery.zip.pgp",
        &keys.gpg.encrypt(&zip_of(&[&lse, &csv]), &keys.rep, false),
    );
    server.put("IntervalData_plain.lse", &plain.bytes);
    // Nine days old and encrypted to someone else: it cannot be loaded and SMT deletes it soon.
    let stranger = lse_report("stranger.lse", data.records(2));
    let old = server.put(
        "old.zip.asc",
        &keys.gpg.encrypt(&zip_of(&[&stranger]), &keys.other, true),
    );
    age(&old, Duration::from_secs(9 * 24 * 3600));

    let params = ftps_params();
    jobs(
        &db,
        dir.path(),
        &[
            "add",
            "smt-ftps",
            "--schedule",
            "0 6 * * *",
            "--kind",
            "ftps_fetch",
            "--params",
            &params,
        ],
    );
    let password = server.password();
    let secret = keys.secret.to_str().unwrap();
    let fetch_at = |log: &str| {
        jobs(&db, dir.path(), &["run-now", "smt-ftps"]);
        let mut cmd = worker(&db, dir.path(), &config, &["--pgp-key", secret]);
        cmd.env("SMT_FTPS_PASSWORD", &password)
            .env("SMT_PGP_PASSPHRASE", PASSPHRASE)
            .env("SMT_LOG", log);
        let out = run(cmd, COMMAND_TIMEOUT).expect_code(0, "ftps worker");
        let mut c = db.connect();
        let all = runs(&mut c, "smt-ftps");
        let last = all.last().expect("a run").clone();
        assert_eq!(
            last[1].as_deref(),
            Some("succeeded"),
            "{last:?}\n{}",
            out.stderr
        );
        (
            one::<i64>(&mut c, "SELECT max(run_id) FROM smt.job_run", &[]),
            out,
        )
    };
    let mut c = db.connect();

    let fetch = || fetch_at("info");

    // First run: everything listed and fetched; two deliveries load, the old one is quarantined.
    // Logged at the most verbose level: neither the FTPS password (suppaftp traces the control
    // connection, PASS included) nor the passphrase nor a report's bytes (tokio-postgres logs
    // statement parameters at debug) may appear.
    let (run1, out1) = fetch_at("trace");
    assert!(
        out1.stderr.contains("TRACE"),
        "trace logging is on: {}",
        &out1.stderr[..out1.stderr.len().min(2000)]
    );
    for secret in [password.as_str(), PASSPHRASE] {
        assert!(
            !out1.stderr.contains(secret),
            "a secret is in the trace log"
        );
    }
    let bytes = format!("{:?}", &plain.bytes[..24]);
    let bytes = bytes.trim_end_matches(']');
    assert!(
        !out1.stderr.contains(bytes) && !out1.stderr.contains("with parameters"),
        "report bytes are in the trace log"
    );
    assert_eq!(count(&mut c, run1, "listed"), 3);
    assert_eq!(count(&mut c, run1, "fetched"), 3);
    assert_eq!(count(&mut c, run1, "deliveries"), 3);
    assert_eq!(count(&mut c, run1, "quarantined"), 1);
    assert_eq!(count(&mut c, run1, "reports"), 3);
    let source = format!("ftps://smtftp@127.0.0.1:{}", server.port);
    let remote = rows_text(
        &mut c,
        "SELECT name, state, directory, source, cardinality(file_ids)::text, (local_path IS NOT NULL AND sha256 IS NOT NULL)::text
           FROM smt.remote_file ORDER BY name",
        &[],
    );
    let row = |name: &str, state: &str, files: Option<&str>| {
        vec![
            Some(name.to_owned()),
            Some(state.to_owned()),
            Some("/reports".to_owned()),
            Some(source.clone()),
            files.map(str::to_owned),
        ]
    };
    let shown: Vec<Vec<Option<String>>> = remote.iter().map(|r| r[..5].to_vec()).collect();
    assert_eq!(
        shown,
        [
            row("IntervalData_plain.lse", "loaded", Some("1")),
            row("delivery.zip.pgp", "loaded", Some("2")),
            row("old.zip.asc", "quarantined", None),
        ]
    );
    assert!(
        remote.iter().all(|r| r[5].as_deref() == Some("true")),
        "{remote:?}"
    );
    let (_, error, _) = remote_file(&mut c, "old.zip.asc");
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("cannot decrypt")),
        "{error:?}"
    );
    let stale = rows_text(
        &mut c,
        "SELECT name, state, (error IS NOT NULL)::text,
                (deleted_from_smt_at BETWEEN now() + interval '23 hours' AND now() + interval '25 hours')::text
           FROM smt.stale_remote_file",
        &[],
    );
    assert_eq!(
        stale,
        [[
            Some("old.zip.asc".into()),
            Some("quarantined".into()),
            Some("true".into()),
            Some("true".into())
        ]],
        "the old undecryptable file is flagged"
    );
    let status = run(
        smt(dir.path(), &["status", "--database-url", db.url()]),
        COMMAND_TIMEOUT,
    )
    .expect_code(0, "smt status");
    assert!(status.stdout.contains("old.zip.asc"), "{}", status.stdout);
    // The downloads are kept, under the download directory, as smt.remote_file says.
    let local: String = c
        .query_one(
            "SELECT local_path FROM smt.remote_file WHERE name = 'IntervalData_plain.lse'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(local.starts_with(&*downloads.to_string_lossy()), "{local}");
    assert_eq!(std::fs::read(&local).unwrap(), plain.bytes);
    // Private to the worker's user: files 0600, every directory from the download dir down 0700.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let locals: Vec<String> = rows_text(
        &mut c,
        "SELECT local_path FROM smt.remote_file ORDER BY name",
        &[],
    )
    .into_iter()
    .map(|r| r[0].clone().unwrap())
    .collect();
    assert_eq!(locals.len(), 3);
    for file in &locals {
        let file = Path::new(file);
        assert_eq!(mode(file), 0o600, "{}", file.display());
        let mut d = file.parent().unwrap();
        while d.starts_with(&downloads) {
            assert_eq!(mode(d), 0o700, "{}", d.display());
            d = d.parent().unwrap();
        }
    }
    let mut expected = vec![&lse, &csv, &plain];
    assert_reports_once(&mut c, &expected);
    Expected::of_reports(expected.iter().copied()).assert_loaded(&mut c);

    // Second run: nothing new on the server, nothing fetched or loaded.
    let before = load_counts(&mut c);
    let (run2, _) = fetch();
    assert_eq!(count(&mut c, run2, "listed"), 3);
    assert_eq!(count(&mut c, run2, "fetched"), 0);
    assert_eq!(count(&mut c, run2, "deliveries"), 0);
    assert_eq!(load_counts(&mut c), before);

    // A new file on the server: only it is fetched.
    let new = csv_report("IntervalData_new.csv", data.records(3));
    server.put("IntervalData_new.csv", &new.bytes);
    let (run3, _) = fetch();
    assert_eq!(count(&mut c, run3, "listed"), 4);
    assert_eq!(count(&mut c, run3, "fetched"), 1);
    assert_eq!(count(&mut c, run3, "deliveries"), 1);
    assert_eq!(count(&mut c, run3, "reports"), 1);
    assert_eq!(count(&mut c, run3, "quarantined"), 0);
    assert_eq!(
        remote_file(&mut c, "IntervalData_new.csv"),
        ("loaded".to_owned(), None, Some(1))
    );
    let fetched_once: i64 = one(
        &mut c,
        "SELECT count(*) FROM smt.remote_file WHERE fetched_at IS NOT NULL",
        &[],
    );
    assert_eq!(fetched_once, 4, "one row per remote file");
    // vsftpd's transfer log: each file was downloaded once.
    let xferlog = std::fs::read_to_string(server.path("xferlog")).unwrap_or_default();
    for name in [
        "delivery.zip.pgp",
        "IntervalData_plain.lse",
        "old.zip.asc",
        "IntervalData_new.csv",
    ] {
        let n = xferlog
            .lines()
            .filter(|l| l.contains(&format!("/reports/{name} ")) && l.contains(" o "))
            .count();
        assert_eq!(n, 1, "{name} downloaded once:\n{xferlog}");
    }
    expected.push(&new);
    assert_reports_once(&mut c, &expected);
    Expected::of_reports(expected.iter().copied()).assert_loaded(&mut c);

    // Retention (retention_days = 1): a loaded and a quarantined download downloaded two days
    // ago are deleted by the next run; the fresh one stays; nothing is fetched again.
    let local_of = |c: &mut Client, name: &str| -> String {
        one(
            c,
            "SELECT local_path FROM smt.remote_file WHERE name = $1",
            &[&name],
        )
    };
    let (plain_path, old_path, new_path) = (
        local_of(&mut c, "IntervalData_plain.lse"),
        local_of(&mut c, "old.zip.asc"),
        local_of(&mut c, "IntervalData_new.csv"),
    );
    for p in [&plain_path, &old_path] {
        age(Path::new(p), Duration::from_secs(2 * 24 * 3600));
    }
    let (run4, _) = fetch();
    assert_eq!(count(&mut c, run4, "downloads_deleted"), 2);
    assert_eq!(count(&mut c, run4, "fetched"), 0);
    assert!(!Path::new(&plain_path).exists(), "{plain_path} deleted");
    assert!(!Path::new(&old_path).exists(), "{old_path} deleted");
    assert!(Path::new(&new_path).exists(), "{new_path} kept");
    Expected::of_reports(expected.iter().copied()).assert_loaded(&mut c);
}

/// A download that failed leaves its remote file `seen`. When the file is then replaced on the
/// site (new size and time: a new smt.remote_file row) or removed, the old row must not be
/// fetched again: it no longer exists, and fetching it fails the job on every run until it is
/// marked failed, so nothing else from the site is loaded either.
#[test]
fn ftps_file_replaced_after_a_failed_download_does_not_block_the_job() {
    let Some(db) = TestDb::extension_only("ftps_replaced") else {
        return;
    };
    let dir = scratch("ftps_replaced");
    let _serial = FTPS_SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(server) = Vsftpd::start() else {
        return;
    };
    let config = config_with(
        dir.path(),
        30,
        &ftps_site(&server, &dir.path().join("downloads")),
    );
    let mut data = Data::new(9);
    let first = lse_report("IntervalData_a.lse", data.records(2));
    // Listed, but the server cannot read it: the download fails.
    let path = server.put("IntervalData_a.lse", &first.bytes);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let params = ftps_params();
    jobs(
        &db,
        dir.path(),
        &[
            "add",
            "smt-ftps",
            "--schedule",
            "0 6 * * *",
            "--kind",
            "ftps_fetch",
            "--params",
            &params,
        ],
    );
    let password = server.password();
    let mut c = db.connect();
    // The worker's exit status is 1 when a run it executed failed.
    let work = |c: &mut Client, code: i32| {
        let mut cmd = worker(&db, dir.path(), &config, &[]);
        cmd.env("SMT_FTPS_PASSWORD", &password);
        let out = run(cmd, COMMAND_TIMEOUT).expect_code(code, "ftps worker");
        (runs(c, "smt-ftps"), out)
    };

    jobs(&db, dir.path(), &["run-now", "smt-ftps"]);
    let (all, _) = work(&mut c, 1);
    assert_eq!(all[0][1].as_deref(), Some("failed"), "{all:?}");
    assert_eq!(
        all[1][..2],
        [Some("2".into()), Some("queued".into())],
        "{all:?}"
    );
    assert_eq!(remote_file(&mut c, "IntervalData_a.lse").0, "seen");

    // SMT replaces the file (another size and time) and posts another one.
    std::fs::remove_file(&path).unwrap();
    let replaced = lse_report("IntervalData_a.lse", data.records(3));
    let path = server.put("IntervalData_a.lse", &replaced.bytes);
    age(&path, Duration::from_secs(60));
    let other = csv_report("IntervalData_b.csv", data.records(2));
    server.put("IntervalData_b.csv", &other.bytes);
    // The retry is due now.
    exec(
        &mut c,
        "UPDATE smt.job_run SET not_before = now() WHERE state = 'queued'",
    );
    let (all, out) = work(&mut c, 0);
    assert_eq!(
        all[1][..2],
        [Some("2".into()), Some("succeeded".into())],
        "the retry succeeds: {all:?}\n{}",
        out.stderr
    );
    let states = rows_text(
        &mut c,
        "SELECT name, state, size_bytes::text FROM smt.remote_file ORDER BY name, first_seen_at",
        &[],
    );
    assert_eq!(
        states,
        [
            vec![
                Some("IntervalData_a.lse".into()),
                Some("seen".into()),
                Some(first.bytes.len().to_string())
            ],
            vec![
                Some("IntervalData_a.lse".into()),
                Some("loaded".into()),
                Some(replaced.bytes.len().to_string())
            ],
            vec![
                Some("IntervalData_b.csv".into()),
                Some("loaded".into()),
                Some(other.bytes.len().to_string())
            ],
        ]
    );
    assert_reports_once(&mut c, &[&replaced, &other]);
    Expected::of_reports([&replaced, &other]).assert_loaded(&mut c);
}

// ---------------------------------------------------------------------------------------------
// 6. The scheduler's SQL API (sql/extension/jobs.sql): own runs and deliveries only, kinds as
//    rows, no table privileges for the loader, restorable jobs.

/// `db.url()` as another login role (trust authentication, as scripts/pg.sh sets up).
fn url_as(db: &TestDb, role: &str) -> String {
    let url = db.url();
    let start = url.find("://").expect("a URL") + 3;
    let host = url[start..].find('@').map_or(start, |at| start + at + 1);
    format!("{}{role}@{}", &url[..start], &url[host..])
}

/// `smt ARGS` against `url` (placed after the subcommand).
fn smt_at(cwd: &Path, url: &str, args: &[&str]) -> Output {
    let mut all = vec![args[0], "--database-url", url];
    all.extend_from_slice(&args[1..]);
    run(smt(cwd, &all), COMMAND_TIMEOUT)
}

/// The SQLSTATE of `sql`, which must fail.
fn refused(c: &mut Client, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> String {
    match c.execute(sql, params) {
        Ok(_) => panic!("{sql}: succeeded, expected a refusal"),
        Err(e) => smt_e2e::sqlstate(&e).unwrap_or_else(|| panic!("{sql}: {e}")),
    }
}

#[test]
fn a_loader_role_acts_only_on_its_own_runs_and_deliveries() {
    let Some(mut db) = TestDb::extension_only("own_runs") else {
        return;
    };
    let alice = db.create_login_role("worker_a", "smt_loader");
    let bob = db.create_login_role("worker_b", "smt_loader");
    let mut admin = db.connect();
    exec(
        &mut admin,
        r#"SELECT smt.job_add('inbox', 'import_dir', '0 6 * * *', '{"source": "nowhere"}');
           SELECT smt.job_run_now('inbox');"#,
    );
    let mut a = db.connect_as(&alice);
    let mut b = db.connect_as(&bob);

    // Runs: Alice queues and claims.
    assert_eq!(one::<i32>(&mut a, "SELECT smt.enqueue_due()", &[]), 1);
    let claimed = a
        .query_one(
            "SELECT * FROM smt.claim_run('host:1', interval '60 seconds')",
            &[],
        )
        .unwrap();
    let run_id: i64 = claimed.get("run_id");
    assert_eq!(claimed.get::<_, String>("job_name"), "inbox");
    assert_eq!(claimed.get::<_, String>("kind"), "import_dir");
    assert_eq!(claimed.get::<_, i32>("attempt"), 1);
    assert_eq!(claimed.get::<_, i32>("takeovers"), 0);
    let claimed_by: String = one(
        &mut admin,
        "SELECT claimed_by FROM smt.job_run WHERE run_id = $1",
        &[&run_id],
    );
    assert_eq!(claimed_by, alice);
    let run_row = "SELECT state, worker, claimed_by, lease_until::text, heartbeat_at::text, error,
                          counts::text, (SELECT count(*) FROM smt.job_run)::text
                     FROM smt.job_run WHERE run_id = $1";
    let job_row =
        "SELECT consecutive_failures::text, last_error, failed_at::text, next_run_at::text
                     FROM smt.job WHERE name = 'inbox'";
    let (run_before, job_before) = (
        rows_text(&mut admin, run_row, &[&run_id]),
        rows_text(&mut admin, job_row, &[]),
    );
    // Bob, also smt_loader, names the run and even its worker: nothing changes.
    for sql in [
        "SELECT smt.heartbeat_run($1, 'host:1', interval '1 hour')",
        "SELECT smt.succeed_run($1, 'host:1', '{}')",
        "SELECT smt.fail_run($1, 'host:1', 'bob says no')",
    ] {
        assert!(
            !one::<bool>(&mut b, sql, &[&run_id]),
            "{sql} as another role"
        );
    }
    assert_eq!(rows_text(&mut admin, run_row, &[&run_id]), run_before);
    assert_eq!(rows_text(&mut admin, job_row, &[]), job_before);
    // Alice with another worker id: no either.
    assert!(!one::<bool>(
        &mut a,
        "SELECT smt.heartbeat_run($1, 'host:2', interval '1 hour')",
        &[&run_id]
    ));
    assert_eq!(rows_text(&mut admin, run_row, &[&run_id]), run_before);
    // Alice as the worker that claimed it.
    assert!(one::<bool>(
        &mut a,
        "SELECT smt.heartbeat_run($1, 'host:1', interval '60 seconds')",
        &[&run_id]
    ));
    assert!(one::<bool>(
        &mut a,
        r#"SELECT smt.succeed_run($1, 'host:1', '{"deliveries": 0}')"#,
        &[&run_id]
    ));
    assert!(
        !one::<bool>(
            &mut a,
            "SELECT smt.fail_run($1, 'host:1', 'too late')",
            &[&run_id]
        ),
        "a finished run stays finished"
    );
    let state: String = one(
        &mut admin,
        "SELECT state FROM smt.job_run WHERE run_id = $1",
        &[&run_id],
    );
    assert_eq!(state, "succeeded");

    // Deliveries: Alice registers one; Bob, seeing the same file, gets a row of his own (each
    // role keeps its own registry, so registering first takes nothing from anyone) and may not
    // move Alice's on.
    let source = "ftps://rep@smt.example:21";
    let seen =
        "SELECT * FROM smt.delivery_seen($1, '/reports', 'x.lse', 100, '2025-03-10 07:00+00')";
    let row = a.query_one(seen, &[&source]).unwrap();
    let id: i64 = row.get("remote_file_id");
    assert_eq!(row.get::<_, String>("state"), "seen");
    assert_eq!(row.get::<_, String>("registered_by"), alice);
    let row = b.query_one(seen, &[&source]).unwrap();
    assert_ne!(
        row.get::<_, i64>("remote_file_id"),
        id,
        "one row per remote version and role"
    );
    assert_eq!(row.get::<_, String>("registered_by"), bob);
    let to_fetch = "SELECT string_agg(registered_by, ',') FROM smt.deliveries($1, 'seen')";
    assert_eq!(
        one::<Option<String>>(&mut a, to_fetch, &[&source]).as_deref(),
        Some(alice.as_str())
    );
    assert_eq!(
        one::<Option<String>>(&mut b, to_fetch, &[&source]).as_deref(),
        Some(bob.as_str()),
        "Bob lists only his own"
    );
    let delivery = "SELECT state, local_path, encode(sha256, 'hex'), file_ids::text, error,
                           fetched_at::text, loaded_at::text
                      FROM smt.remote_file WHERE remote_file_id = $1";
    let before = rows_text(&mut admin, delivery, &[&id]);
    assert!(!one::<bool>(
        &mut b,
        "SELECT smt.delivery_fetched($1, '/tmp/bob', '\\x00')",
        &[&id]
    ));
    assert_eq!(rows_text(&mut admin, delivery, &[&id]), before);
    assert!(one::<bool>(
        &mut a,
        "SELECT smt.delivery_fetched($1, '/srv/alice/x.lse', sha256('x'::bytea))",
        &[&id]
    ));
    let mut data = Data::new(10);
    let report = lse_report("x.lse", data.records(2));
    let file_id = smt_e2e::load(&mut a, &report.bytes, &report.name).file_id;
    let before = rows_text(&mut admin, delivery, &[&id]);
    assert_eq!(before[0][0].as_deref(), Some("fetched"));
    assert!(!one::<bool>(
        &mut b,
        "SELECT smt.delivery_loaded($1, ARRAY[$2::bigint], sha256('x'::bytea))",
        &[&id, &file_id]
    ));
    assert!(!one::<bool>(
        &mut b,
        "SELECT smt.delivery_quarantined($1, 'Bob says no')",
        &[&id]
    ));
    assert_eq!(
        rows_text(&mut admin, delivery, &[&id]),
        before,
        "Bob changed nothing"
    );
    // Alice: reports that were never loaded are refused; hers are taken.
    assert_eq!(
        refused(
            &mut a,
            "SELECT smt.delivery_loaded($1, ARRAY[$2::bigint + 1000], NULL)",
            &[&id, &file_id]
        ),
        "23503"
    );
    assert!(one::<bool>(
        &mut a,
        "SELECT smt.delivery_loaded($1, ARRAY[$2::bigint], sha256('x'::bytea))",
        &[&id, &file_id]
    ));
    assert!(
        !one::<bool>(
            &mut a,
            "SELECT smt.delivery_quarantined($1, 'late')",
            &[&id]
        ),
        "a loaded delivery stays loaded"
    );
    let after = rows_text(&mut admin, delivery, &[&id]);
    assert_eq!(after[0][0].as_deref(), Some("loaded"));
    assert_eq!(after[0][3], Some(format!("{{{file_id}}}")));

    // A quarantined delivery: an admin queues it again, for the role that registered it.
    let row = a
        .query_one(
            "SELECT * FROM smt.delivery_imported('import', '/in', 'y.zip', 5, NULL, '/in/y.zip')",
            &[],
        )
        .unwrap();
    let y: i64 = row.get("remote_file_id");
    assert_eq!(row.get::<_, String>("state"), "fetched");
    assert!(one::<bool>(
        &mut a,
        "SELECT smt.delivery_quarantined($1, 'cannot unzip')",
        &[&y]
    ));
    // Imported by Bob too: a delivery of his own, ready to load; Alice's stays quarantined.
    let row = b
        .query_one(
            "SELECT * FROM smt.delivery_imported('import', '/in', 'y.zip', 5, NULL, '/elsewhere/y.zip')",
            &[],
        )
        .unwrap();
    assert_ne!(row.get::<_, i64>("remote_file_id"), y);
    assert_eq!(
        (
            row.get::<_, String>("state"),
            row.get::<_, String>("registered_by")
        ),
        ("fetched".to_owned(), bob.clone())
    );
    let retried = admin
        .query_one("SELECT * FROM smt.delivery_retry($1)", &[&y])
        .unwrap();
    assert_eq!(retried.get::<_, String>("state"), "fetched");
    assert_eq!(retried.get::<_, Option<String>>("error"), None);
    assert_eq!(
        retried.get::<_, Option<String>>("local_path").as_deref(),
        Some("/in/y.zip")
    );
    let fetched = "SELECT count(*) FROM smt.deliveries('import', 'fetched')";
    assert_eq!(one::<i64>(&mut a, fetched, &[]), 1, "Alice's, retried");
    assert_eq!(one::<i64>(&mut b, fetched, &[]), 1, "Bob's own");
    assert_eq!(
        refused(&mut admin, "SELECT smt.delivery_retry($1)", &[&id]),
        "55000",
        "a loaded delivery is not retried"
    );
    assert_eq!(
        refused(&mut admin, "SELECT smt.delivery_retry(-1)", &[]),
        "P0002"
    );

    // The loader has no table privileges: only the functions, and reading.
    for sql in [
        "UPDATE smt.remote_file SET state = 'seen'",
        "INSERT INTO smt.remote_file (source, directory, name, size_bytes) VALUES ('x', 'x', 'x', 1)",
        "INSERT INTO smt.job_run (job_id, scheduled_for) SELECT job_id, now() FROM smt.job",
        "UPDATE smt.job_run SET state = 'queued'",
        "UPDATE smt.job SET next_run_at = now()",
        "INSERT INTO smt.job_kind (kind, description) VALUES ('x', 'x')",
        "SELECT smt.job_run_now('inbox')",
        "SELECT smt.job_add('x', 'import_dir', '0 6 * * *')",
        "SELECT smt.delivery_retry(1)",
    ] {
        assert_eq!(refused(&mut b, sql, &[]), "42501", "{sql} as smt_loader");
    }
    for view in [
        "smt.job_status",
        "smt.run_log",
        "smt.file_log",
        "smt.reject_log",
        "smt.stale_remote_file",
    ] {
        one::<i64>(&mut b, &format!("SELECT count(*) FROM {view}"), &[]);
    }
    assert_eq!(
        one::<i64>(&mut b, "SELECT count(*) FROM smt.run_log", &[]),
        1
    );
}

#[test]
fn job_kinds_are_rows_and_a_new_kind_needs_only_a_row() {
    let Some(db) = TestDb::extension_only("job_kinds") else {
        return;
    };
    let dir = scratch("job_kinds");
    let config = fast_config(dir.path(), 30);
    let mut c = db.connect();
    assert_eq!(
        rows_text(
            &mut c,
            "SELECT kind, builtin::text FROM smt.job_kind ORDER BY kind",
            &[]
        ),
        [
            [Some("ftps_fetch".to_owned()), Some("true".to_owned())],
            [Some("import_dir".to_owned()), Some("true".to_owned())],
            [Some("sftp_fetch".to_owned()), Some("true".to_owned())],
            [Some("smt_api".to_owned()), Some("true".to_owned())],
            [Some("soap_api".to_owned()), Some("true".to_owned())]
        ]
    );
    // An unknown kind is refused by the foreign key, and by `smt jobs add` with the known ones.
    assert_eq!(
        refused(
            &mut c,
            "INSERT INTO smt.job (name, schedule, kind) VALUES ('soap', '0 6 * * *', 'soap_request')",
            &[]
        ),
        "23503"
    );
    let add = [
        "jobs",
        "add",
        "soap",
        "--schedule",
        "0 6 * * *",
        "--kind",
        "soap_request",
    ];
    let out = smt_at(dir.path(), db.url(), &add).expect_code(2, "a job of an unknown kind");
    assert!(
        out.stderr.contains("unknown job kind 'soap_request'")
            && out.stderr.contains("ftps_fetch, import_dir"),
        "{}",
        out.stderr
    );
    assert!(runs(&mut c, "soap").is_empty());

    // A new kind is a row: the job is accepted, listed, queued and claimed. This worker does not
    // implement it, so the run fails and says why (a worker that does would run it).
    exec(
        &mut c,
        "INSERT INTO smt.job_kind (kind, description) VALUES ('soap_request', 'ERCOT SOAP request')",
    );
    smt_at(dir.path(), db.url(), &add).expect_code(0, "a job of the new kind");
    let listed = jobs(&db, dir.path(), &["list"]).stdout;
    assert!(
        listed.contains("soap\tsoap_request\t0 6 * * *\t"),
        "{listed}"
    );
    jobs(&db, dir.path(), &["run-now", "soap"]);
    // Its run fails (this worker does not know the kind): exit status 1.
    run(worker(&db, dir.path(), &config, &[]), COMMAND_TIMEOUT).expect_code(1, "worker");
    let all = runs(&mut c, "soap");
    assert_eq!(all[0][1].as_deref(), Some("failed"), "{all:?}");
    assert!(
        all[0][3]
            .as_deref()
            .is_some_and(|e| e.contains("unknown job kind \"soap_request\"")),
        "{all:?}"
    );
    // A kind in use cannot be removed.
    assert_eq!(
        refused(
            &mut c,
            "DELETE FROM smt.job_kind WHERE kind = 'soap_request'",
            &[]
        ),
        "23503"
    );
}

#[test]
fn admin_functions_refuse_unknown_job_names_with_a_hint() {
    let Some(db) = TestDb::extension_only("unknown_job") else {
        return;
    };
    let dir = scratch("unknown_job");
    let mut c = db.connect();
    for f in ["job_enable", "job_disable", "job_run_now", "job_delete"] {
        let e = c
            .query_one(&format!("SELECT * FROM smt.{f}('nosuch')"), &[])
            .unwrap_err();
        let db_error = e.as_db_error().expect("a database error");
        assert_eq!(db_error.code().code(), "P0002", "{f}");
        assert_eq!(db_error.message(), "no job named 'nosuch'");
        assert!(db_error.hint().is_some_and(|h| h.contains("smt jobs list")));
    }
    // `show` reads the view and says the same.
    for action in ["enable", "disable", "run-now", "delete", "show"] {
        let out = smt_at(dir.path(), db.url(), &["jobs", action, "nosuch"])
            .expect_code(2, "an unknown job");
        assert!(
            out.stderr.contains("no job named 'nosuch'") && out.stderr.contains("HINT"),
            "{}",
            out.stderr
        );
    }
    // A known one: the functions return the row.
    exec(
        &mut c,
        "SELECT smt.job_add('known', 'import_dir', '0 6 * * *', '{\"dir\": \"/x\"}')",
    );
    let row = c
        .query_one("SELECT * FROM smt.job_disable('known')", &[])
        .unwrap();
    assert_eq!(row.get::<_, String>("name"), "known");
    assert!(!row.get::<_, bool>("enabled"));
}

/// pg_restore writes the rows back with INSERT (COPY): the trigger must keep a given next_run_at
/// and updated_at, and still check the schedule.
#[test]
fn inserted_jobs_keep_a_given_next_run_and_updated_at() {
    let Some(db) = TestDb::extension_only("restored_job") else {
        return;
    };
    let mut c = db.connect();
    exec(
        &mut c,
        "INSERT INTO smt.job (name, schedule, kind, next_run_at, created_at, updated_at)
         VALUES ('restored', '0 6 * * *', 'import_dir', '2031-01-01 12:00+00', '2020-01-01 00:00+00',
                 '2020-02-02 02:02+00');
         INSERT INTO smt.job (name, schedule, kind) VALUES ('new', '0 6 * * *', 'import_dir');",
    );
    let kept = rows_text(
        &mut c,
        "SELECT (next_run_at = '2031-01-01 12:00+00')::text, (updated_at = '2020-02-02 02:02+00')::text
           FROM smt.job WHERE name = 'restored'",
        &[],
    );
    assert_eq!(kept, [[Some("true".to_owned()), Some("true".to_owned())]]);
    let computed: bool = one(
        &mut c,
        "SELECT next_run_at > now() AND (next_run_at AT TIME ZONE time_zone)::time = '06:00'
           FROM smt.job WHERE name = 'new'",
        &[],
    );
    assert!(computed, "next_run_at computed when not given");
    assert_eq!(
        refused(
            &mut c,
            "INSERT INTO smt.job (name, schedule, kind, next_run_at) VALUES ('bad', '0 6 * *', 'import_dir', now())",
            &[]
        ),
        "22023",
        "the schedule is checked even with next_run_at given"
    );
    // An UPDATE behaves as before: updated_at moves, next_run_at follows only the schedule.
    exec(
        &mut c,
        "UPDATE smt.job SET params = '{\"source\": \"x\"}' WHERE name = 'restored'",
    );
    let updated = rows_text(
        &mut c,
        "SELECT (next_run_at = '2031-01-01 12:00+00')::text, (updated_at > '2020-02-02 02:02+00')::text
           FROM smt.job WHERE name = 'restored'",
        &[],
    );
    assert_eq!(
        updated,
        [[Some("true".to_owned()), Some("true".to_owned())]]
    );
    // The backoff: doubling, capped, 0-10% jitter below, no overflow.
    let backoff = rows_text(
        &mut c,
        "SELECT bool_and(smt.retry_backoff('1 minute', '1 hour', 1) BETWEEN interval '54 seconds' AND interval '60 seconds')::text,
                bool_and(smt.retry_backoff('1 minute', '1 hour', 3) BETWEEN interval '216 seconds' AND interval '240 seconds')::text,
                bool_and(smt.retry_backoff('1 minute', '1 hour', 10) BETWEEN interval '54 minutes' AND interval '60 minutes')::text,
                bool_and(smt.retry_backoff('1 minute', '1 hour', 100000) BETWEEN interval '54 minutes' AND interval '60 minutes')::text,
                (count(DISTINCT smt.retry_backoff('1 minute', '1 hour', 1)) > 1)::text
           FROM generate_series(1, 50)",
        &[],
    );
    assert_eq!(backoff, [vec![Some("true".to_owned()); 5]]);
}

#[test]
fn a_worker_role_with_only_smt_loader_runs_jobs_and_imports() {
    let Some(mut db) = TestDb::extension_only("loader_only") else {
        return;
    };
    let dir = scratch("loader_only");
    let config = config_with(
        dir.path(),
        30,
        &import_dirs(&[("inbox", &dir.path().join("inbox"))]),
    );
    let worker_role = db.create_login_role("smt_worker", "smt_loader");
    let other_role = db.create_login_role("smt_other", "smt_loader");
    let (as_worker, as_other) = (url_as(&db, &worker_role), url_as(&db, &other_role));
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let mut data = Data::new(11);
    let r1 = lse_report("w1.lse", data.records(3));
    let r2 = csv_report("w2.csv", data.records(3));
    write(&inbox, &r1.name, &r1.bytes);
    write(&inbox, "w2.zip", &zip_of(&[&r2]));
    let params = import_params("inbox");
    jobs(
        &db,
        dir.path(),
        &[
            "add",
            "inbox",
            "--schedule",
            "0 6 * * *",
            "--kind",
            "import_dir",
            "--params",
            &params,
        ],
    );
    jobs(&db, dir.path(), &["run-now", "inbox"]);
    let mut c = db.connect();

    // The daemon as the loader role.
    let out = run(
        smt(
            dir.path(),
            &[
                "run",
                "--exit-when-idle",
                "--database-url",
                &as_worker,
                "--config",
                &config,
            ],
        ),
        COMMAND_TIMEOUT,
    )
    .expect_code(0, "worker as smt_loader");
    let all = runs(&mut c, "inbox");
    assert_eq!(all.len(), 1, "{all:?}\n{}", out.stderr);
    assert_eq!(all[0][1].as_deref(), Some("succeeded"), "{all:?}");
    let run_id: i64 = one(&mut c, "SELECT max(run_id) FROM smt.job_run", &[]);
    let claimed_by: String = one(
        &mut c,
        "SELECT claimed_by FROM smt.job_run WHERE run_id = $1",
        &[&run_id],
    );
    assert_eq!(claimed_by, worker_role);
    // The job's counts hold every load count.
    let keys = rows_text(
        &mut c,
        "SELECT k FROM smt.job_run, jsonb_object_keys(counts) k WHERE run_id = $1 ORDER BY k",
        &[&run_id],
    );
    let keys: Vec<&str> = keys.iter().filter_map(|k| k[0].as_deref()).collect();
    for key in smt_scheduler::ingest::LoadCounts::COLUMNS {
        assert!(keys.contains(&key), "{key} in the run's counts: {keys:?}");
    }
    assert_eq!(count(&mut c, run_id, "conflicts"), 0);
    assert_eq!(
        count(&mut c, run_id, "records"),
        (r1.records.len() + r2.records.len()) as i64
    );
    let registrants = rows_text(
        &mut c,
        "SELECT DISTINCT registered_by || ':' || state FROM smt.remote_file",
        &[],
    );
    assert_eq!(registrants, [[Some(format!("{worker_role}:loaded"))]]);
    Expected::of_reports([&r1, &r2]).assert_loaded(&mut c);
    assert_reports_once(&mut c, &[&r1, &r2]);

    // Reading works for the loader; changing jobs does not.
    let status = smt_at(dir.path(), &as_worker, &["status"]).expect_code(0, "status");
    assert!(
        status.stdout.contains("inbox\t1\tsucceeded"),
        "{}",
        status.stdout
    );
    let listed = smt_at(dir.path(), &as_worker, &["jobs", "list"]).expect_code(0, "jobs list");
    assert!(
        listed.stdout.contains("inbox\timport_dir\t"),
        "{}",
        listed.stdout
    );
    let denied =
        smt_at(dir.path(), &as_worker, &["jobs", "run-now", "inbox"]).expect_code(2, "run-now");
    assert!(
        denied.stderr.contains("permission denied"),
        "{}",
        denied.stderr
    );

    // `smt import` as the loader role; the conflicts column is printed too.
    let r3 = lse_report("w3.lse", data.records(2));
    let w3 = write(dir.path(), "w3.lse", &r3.bytes);
    let out = smt_at(dir.path(), &as_worker, &["import", w3.to_str().unwrap()])
        .expect_code(0, "import as smt_loader");
    let header = out.stdout.lines().next().unwrap_or_default();
    assert_eq!(
        header,
        "file\treport\tformat\trecords\tinserted\treplaced\tstale\tidentical\tconflicts\trejected\tnote"
    );
    let n = r3.records.len();
    assert!(
        out.stdout
            .contains(&format!("w3.lse\tw3.lse\tlse\t{n}\t{n}\t0\t0\t0\t0\t0\t")),
        "{}",
        out.stdout
    );
    // A delivery quarantined for one role is not the other's to move on: the other role imports
    // it as a delivery of its own (quarantined just the same here).
    let full = zip_of(&[&lse_report("never.lse", data.records(1))]);
    let broken = write(dir.path(), "broken.zip", &full[..full.len() / 2]);
    let out = smt_at(
        dir.path(),
        &as_worker,
        &["import", broken.to_str().unwrap()],
    )
    .expect_code(1, "import of a broken zip");
    assert!(out.stdout.contains("quarantined"), "{}", out.stdout);
    let out = smt_at(dir.path(), &as_other, &["import", broken.to_str().unwrap()])
        .expect_code(1, "import of the same broken zip by another role");
    assert!(out.stdout.contains("quarantined"), "{}", out.stdout);
    let rows = rows_text(
        &mut c,
        "SELECT state, registered_by FROM smt.remote_file WHERE name = 'broken.zip' ORDER BY remote_file_id",
        &[],
    );
    assert_eq!(
        rows,
        [
            [Some("quarantined".to_owned()), Some(worker_role.clone())],
            [Some("quarantined".to_owned()), Some(other_role.clone())]
        ]
    );
    Expected::of_reports([&r1, &r2, &r3]).assert_loaded(&mut c);
}

// ---------------------------------------------------------------------------------------------
// 7. The database going away under `smt run`, and what the commands say (issue 8)

/// `kill -TERM PID`: how a service manager stops the daemon.
fn sigterm(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success(), "kill -TERM {pid}");
}

/// Waits until `ready` (a boolean query) is true, reconnecting `c` when the database went away;
/// panics after `timeout` with `what`.
fn wait_for(c: &mut Option<Client>, url: &str, sql: &str, timeout: Duration, what: &str) {
    let started = Instant::now();
    loop {
        if c.as_ref().is_none_or(|c| c.is_closed()) {
            *c = postgres::Client::connect(url, postgres::NoTls).ok();
        }
        if let Some(client) = c.as_mut() {
            match client.query_one(sql, &[]) {
                Ok(row) if row.get::<_, bool>(0) => return,
                Ok(_) => {}
                Err(_) => *c = None,
            }
        }
        assert!(
            started.elapsed() < timeout,
            "{what}: not within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const PG_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg.sh");

/// A private cluster (scripts/pg.sh, like tests/tests/dump_restore.rs does) for a test that stops
/// and starts PostgreSQL, which the shared cluster of SMT_TEST_DATABASE_URL must never see.
/// Stopped and removed on drop.
struct PrivateCluster {
    root: std::path::PathBuf,
    pgdata: std::path::PathBuf,
    port: u16,
}

impl PrivateCluster {
    /// A new cluster on a free port with the smt extension created in `postgres`; `None` after
    /// reporting the missing part.
    fn start(test: &str) -> Option<PrivateCluster> {
        // The extension must be installed: the shared cluster's tests need the same.
        smt_e2e::admin_url()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        // Under /tmp with every parent searchable: the cluster runs as the unprivileged user.
        let root =
            std::path::PathBuf::from(format!("/tmp/smt-e2e-{test}-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let cluster = PrivateCluster {
            pgdata: root.join("pg"),
            root,
            port,
        };
        if let Err(why) = cluster.pg_sh("start") {
            smt_e2e::missing_part(
                &format!("a private local cluster ({why})"),
                "scripts/pg.sh needs PostgreSQL 15 in /usr/lib/postgresql/15 and the user smt \
                 (`make setup`)",
            );
            return None;
        }
        exec(&mut cluster.connect(), "CREATE EXTENSION smt");
        Some(cluster)
    }

    fn pg_sh(&self, action: &str) -> Result<(), String> {
        let out = std::process::Command::new("bash")
            .arg(PG_SH)
            .arg(action)
            .arg(&self.pgdata)
            .arg(self.port.to_string())
            .output()
            .expect("running bash scripts/pg.sh");
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "scripts/pg.sh {action} {} {} failed: {}{}",
                self.pgdata.display(),
                self.port,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn stop(&self) {
        self.pg_sh("stop").unwrap();
    }

    fn restart(&self) {
        self.pg_sh("start").unwrap();
    }

    fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn connect(&self) -> Client {
        postgres::Client::connect(&self.url(), postgres::NoTls).unwrap()
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self.pg_sh("stop");
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The daemon started while PostgreSQL is down waits for it (warning, without the password, what
/// it waits for) and starts working when it comes up; PostgreSQL restarted in the middle of an
/// import_dir run costs nothing: the run's transaction rolls back, the daemon reconnects, takes
/// the run over when its lease expires and loads every file exactly once; and it goes on
/// serving runs after that.
#[test]
fn daemon_waits_for_the_database_and_survives_its_restart_mid_import() {
    let Some(cluster) = PrivateCluster::start("pg_restart") else {
        return;
    };
    let dir = scratch("pg_restart");
    let inbox = dir.path().join("inbox");
    let config = config_with(dir.path(), 3, &import_dirs(&[("inbox", &inbox)]));
    std::fs::create_dir(&inbox).unwrap();
    let mut data = Data::new(81);
    let mut reports = Vec::new();
    let deliveries = 10;
    for i in 0..deliveries {
        let a = lse_report(&format!("big{i:02}a.lse"), data.records(200));
        let b = lse_report(&format!("big{i:02}b.lse"), data.records(200));
        write(&inbox, &format!("big{i:02}.zip"), &zip_of(&[&a, &b]));
        reports.extend([a, b]);
    }
    let url = cluster.url();
    // trust authentication ignores the password; it is there to show it is never logged.
    let secret = "pw-never-logged-8134";
    let url_with_password = url.replacen("postgres@", &format!("postgres:{secret}@"), 1);
    let params = import_params("inbox");
    let jobs_at = |args: &[&str]| {
        let mut all = vec!["jobs", "--database-url", url.as_str()];
        all.extend_from_slice(args);
        run(smt(dir.path(), &all), COMMAND_TIMEOUT).expect_code(0, &format!("smt {all:?}"));
    };
    jobs_at(&[
        "add",
        "inbox",
        "--schedule",
        "0 6 * * *",
        "--kind",
        "import_dir",
        "--params",
        &params,
    ]);
    jobs_at(&["run-now", "inbox"]);

    // Down at start: the daemon waits.
    cluster.stop();
    let daemon = Running::spawn(smt(
        dir.path(),
        &[
            "run",
            "--database-url",
            &url_with_password,
            "--config",
            &config,
        ],
    ));
    let mut daemon = daemon;
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "the daemon exited while the database was down"
    );
    cluster.restart();
    let up = Instant::now();
    let mut c = None;
    // Once up, it claims the run and loads; PostgreSQL restarts while a delivery is being written
    // (some loaded, one in a transaction, more to come).
    wait_for(
        &mut c,
        &url,
        "SELECT (SELECT count(*) FROM smt.file) > 0
            AND (SELECT count(*) FROM smt.job_run WHERE state = 'running') = 1
            AND EXISTS (SELECT 1 FROM pg_stat_activity
                         WHERE datname = current_database() AND pid <> pg_backend_pid()
                           AND backend_xid IS NOT NULL AND query LIKE '%smt.load%')",
        Duration::from_secs(60),
        "the daemon started loading once the database came up",
    );
    let started_work = up.elapsed();
    let loaded_before: i64 = one(
        c.as_mut().unwrap(),
        "SELECT count(*) FROM smt.remote_file WHERE state = 'loaded'",
        &[],
    );
    assert!(
        loaded_before < deliveries,
        "the run finished before the restart: load more data"
    );
    drop(c.take());
    cluster.stop();
    std::thread::sleep(Duration::from_secs(1));
    cluster.restart();
    let restarted = Instant::now();
    wait_for(
        &mut c,
        &url,
        "SELECT count(*) = 1 FROM smt.job_run WHERE state = 'succeeded'",
        Duration::from_secs(90),
        "the run finished after the restart",
    );
    let recovered = restarted.elapsed();
    println!(
        "daemon: loading {started_work:?} after the database came up; restarted with \
         {loaded_before} of {deliveries} deliveries loaded; the run finished {recovered:?} after \
         the restart (lease 3 s)"
    );
    let c = c.as_mut().unwrap();
    let run_row = c
        .query_one(
            "SELECT state, attempt, takeovers, count(*) OVER () FROM smt.job_run",
            &[],
        )
        .unwrap();
    assert_eq!(run_row.get::<_, String>(0), "succeeded");
    assert_eq!(
        run_row.get::<_, i32>(1),
        1,
        "no failure recorded: the same attempt"
    );
    assert_eq!(
        run_row.get::<_, i32>(2),
        1,
        "taken over once, after its lease"
    );
    assert_eq!(run_row.get::<_, i64>(3), 1, "one run");
    let loaded: i64 = one(
        c,
        "SELECT count(*) FROM smt.remote_file WHERE state = 'loaded'",
        &[],
    );
    assert_eq!(loaded, deliveries, "every delivery loaded");
    let refs: Vec<&Report> = reports.iter().collect();
    assert_reports_once(c, &refs);
    Expected::of_reports(refs.iter().copied()).assert_loaded(c);

    // Still running, and still working: a file added now is loaded by the next run.
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "the daemon is still running"
    );
    let late = csv_report("late.csv", data.records(3));
    write(&inbox, &late.name, &late.bytes);
    exec(c, "SELECT smt.job_run_now('inbox')");
    let mut again = None;
    wait_for(
        &mut again,
        &url,
        "SELECT count(*) = 1 FROM smt.remote_file WHERE name = 'late.csv' AND state = 'loaded'",
        Duration::from_secs(30),
        "a file added after the restart is loaded",
    );
    reports.push(late);
    let refs: Vec<&Report> = reports.iter().collect();
    assert_reports_once(c, &refs);
    Expected::of_reports(refs.iter().copied()).assert_loaded(c);

    sigterm(daemon.id());
    let out = daemon
        .wait(COMMAND_TIMEOUT)
        .expect_code(0, "the daemon, stopped");
    assert!(
        out.stderr.contains("waiting for the database") && out.stderr.contains(" WARN "),
        "warns what it waits for: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("database reachable again"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&url),
        "names the database it waits for: {}",
        out.stderr
    );
    assert!(
        !out.stderr.contains(secret),
        "the password is never logged: {}",
        out.stderr
    );
    assert!(
        !out.stderr
            .contains("abandoning runs that keep killing workers"),
        "{}",
        out.stderr
    );
    for line in out.stderr.lines().filter(|l| l.contains("reachable again")) {
        println!("{line}");
    }
}

/// The daemon's backends killed with pg_terminate_backend between two runs: it reconnects and
/// the next run succeeds.
#[test]
fn daemon_reconnects_after_its_backends_are_terminated() {
    let Some(db) = TestDb::extension_only("terminated") else {
        return;
    };
    let dir = scratch("terminated");
    let inbox = dir.path().join("inbox");
    let config = config_with(dir.path(), 3, &import_dirs(&[("inbox", &inbox)]));
    std::fs::create_dir(&inbox).unwrap();
    let mut data = Data::new(82);
    let first = lse_report("first.lse", data.records(3));
    write(&inbox, &first.name, &first.bytes);
    let params = import_params("inbox");
    jobs(
        &db,
        dir.path(),
        &[
            "add",
            "inbox",
            "--schedule",
            "0 6 * * *",
            "--kind",
            "import_dir",
            "--params",
            &params,
        ],
    );
    jobs(&db, dir.path(), &["run-now", "inbox"]);
    let mut daemon = Running::spawn(smt(
        dir.path(),
        &["run", "--database-url", db.url(), "--config", &config],
    ));
    let mut c = Some(db.connect());
    let ok = |n: usize| {
        format!("SELECT count(*) = {n} FROM smt.job_run r JOIN smt.job j USING (job_id) WHERE r.state = 'succeeded'")
    };
    wait_for(
        &mut c,
        db.url(),
        &ok(1),
        Duration::from_secs(30),
        "the first run",
    );
    let terminated: i64 = one(
        c.as_mut().unwrap(),
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'smt'",
        &[],
    );
    assert_eq!(
        terminated, 2,
        "the daemon's control and work connections (application_name smt)"
    );
    let killed = Instant::now();
    let second = csv_report("second.csv", data.records(2));
    write(&inbox, &second.name, &second.bytes);
    exec(c.as_mut().unwrap(), "SELECT smt.job_run_now('inbox')");
    wait_for(
        &mut c,
        db.url(),
        &ok(2),
        Duration::from_secs(30),
        "the run after the backends were terminated",
    );
    println!(
        "next run succeeded {:?} after the backends were terminated",
        killed.elapsed()
    );
    assert!(daemon.child.try_wait().unwrap().is_none(), "still running");
    let c = c.as_mut().unwrap();
    let failed: i64 = one(
        c,
        "SELECT count(*) FROM smt.job_run WHERE state <> 'succeeded'",
        &[],
    );
    assert_eq!(failed, 0, "no run failed");
    assert_reports_once(c, &[&first, &second]);
    Expected::of_reports([&first, &second]).assert_loaded(c);
    sigterm(daemon.id());
    let out = daemon
        .wait(COMMAND_TIMEOUT)
        .expect_code(0, "the daemon, stopped");
    assert!(
        out.stderr.contains("reconnecting"),
        "says it reconnects: {}",
        out.stderr
    );
}

/// `smt import` with bad paths among good files: each bad path is reported on stderr, the good
/// files are loaded, the exit status is 1, and the last line sums everything up.
#[test]
fn import_reports_bad_paths_loads_the_rest_and_sums_up() {
    let Some(db) = TestDb::extension_only("import_bad_paths") else {
        return;
    };
    let dir = scratch("import_bad_paths");
    let mut data = Data::new(83);
    let good1 = lse_report("good1.lse", data.records(3));
    let good2 = csv_report("good2.csv", data.records(2));
    let p1 = write(dir.path(), &good1.name, &good1.bytes);
    let p2 = write(dir.path(), &good2.name, &good2.bytes);
    let missing = dir.path().join("missing.lse");
    let subdir = dir.path().join("a-directory.lse");
    std::fs::create_dir(&subdir).unwrap();
    // Unreadable even for root: a symbolic link to itself.
    let looped = dir.path().join("looped.lse");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    let mut bad = vec![missing.clone(), subdir.clone(), looped.clone()];
    if !is_root() {
        let locked = write(dir.path(), "locked.lse", &good1.bytes);
        std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000))
            .unwrap();
        bad.push(locked);
    }
    let mut args: Vec<String> = vec![p1.display().to_string()];
    args.extend(bad.iter().map(|p| p.display().to_string()));
    args.push(p2.display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = import(&db, dir.path(), &args, &[]).expect_code(1, "import with bad paths");
    for p in &bad {
        let line = out
            .stderr
            .lines()
            .find(|l| l.contains(&p.display().to_string()))
            .unwrap_or_else(|| panic!("{} is reported: {}", p.display(), out.stderr));
        assert!(line.starts_with("smt import: "), "{line}");
    }
    assert!(out.stderr.contains("is a directory"), "{}", out.stderr);
    assert!(
        out.stdout.contains("good1.lse\tgood1.lse\tlse\t"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("good2.csv\tgood2.csv\tinterval_csv\t"),
        "{}",
        out.stdout
    );
    let n = (good1.records.len() + good2.records.len()) as i64;
    let last = out.stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!(
            "smt import: files {}, records {n}, inserted {n}, replaced 0, stale 0, identical 0, \
             conflicts 0, rejected 0, quarantined 0, failed {}",
            bad.len() + 2,
            bad.len()
        ),
        "{}",
        out.stderr
    );
    let mut c = db.connect();
    assert_reports_once(&mut c, &[&good1, &good2]);
    Expected::of_reports([&good1, &good2]).assert_loaded(&mut c);

    // All good (one again, already imported): exit 0, and still the summary line.
    let good3 = lse_report("good3.lse", data.records(1));
    let p3 = write(dir.path(), &good3.name, &good3.bytes);
    let out = import(
        &db,
        dir.path(),
        &[p1.to_str().unwrap(), p3.to_str().unwrap()],
        &[],
    )
    .expect_code(0, "import of good files");
    let n = good3.records.len();
    assert_eq!(
        out.stderr.lines().last(),
        Some(
            format!(
                "smt import: files 2, records {n}, inserted {n}, replaced 0, stale 0, \
                 identical 0, conflicts 0, rejected 0, quarantined 0, failed 0"
            )
            .as_str()
        ),
        "{}",
        out.stderr
    );
}

/// A remote directory that does not exist fails the ftps_fetch run, naming it (vsftpd lists a
/// missing directory as empty).
#[test]
fn ftps_fetch_of_a_missing_remote_directory_fails_the_run() {
    let Some(db) = TestDb::extension_only("ftps_missing_dir") else {
        return;
    };
    let dir = scratch("ftps_missing_dir");
    let _serial = FTPS_SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(server) = Vsftpd::start() else {
        return;
    };
    let config = config_with(
        dir.path(),
        30,
        &ftps_site(&server, &dir.path().join("downloads")),
    );
    let mut data = Data::new(84);
    let report = lse_report("IntervalData_x.lse", data.records(2));
    server.put(&report.name, &report.bytes);
    let mut params: serde_json::Value = serde_json::from_str(&ftps_params()).unwrap();
    params["dirs"] = serde_json::json!(["/reports", "/no-such-dir"]);
    jobs(
        &db,
        dir.path(),
        &[
            "add",
            "smt-ftps",
            "--schedule",
            "0 6 * * *",
            "--kind",
            "ftps_fetch",
            "--params",
            &params.to_string(),
        ],
    );
    jobs(&db, dir.path(), &["run-now", "smt-ftps"]);
    let mut cmd = worker(&db, dir.path(), &config, &[]);
    cmd.env("SMT_FTPS_PASSWORD", server.password());
    let out = run(cmd, COMMAND_TIMEOUT).expect_code(1, "a worker whose ftps run failed");
    let mut c = db.connect();
    let all = runs(&mut c, "smt-ftps");
    assert_eq!(
        all[0][1].as_deref(),
        Some("failed"),
        "{all:?}\n{}",
        out.stderr
    );
    let error = all[0][3].clone().unwrap_or_default();
    assert!(
        error.contains("/no-such-dir"),
        "the error names the directory: {error}"
    );

    // The directory fixed: the run succeeds and loads the file.
    params["dirs"] = serde_json::json!(["/reports"]);
    exec(
        &mut c,
        &format!(
            "UPDATE smt.job SET params = '{}' WHERE name = 'smt-ftps';
             UPDATE smt.job_run SET not_before = now() WHERE state = 'queued';",
            params.to_string().replace('\'', "''")
        ),
    );
    let mut cmd = worker(&db, dir.path(), &config, &[]);
    cmd.env("SMT_FTPS_PASSWORD", server.password());
    run(cmd, COMMAND_TIMEOUT).expect_code(0, "the ftps worker, directory fixed");
    assert_reports_once(&mut c, &[&report]);
}

/// Output captured (not a terminal): no ANSI escapes anywhere, not in the log lines either.
#[test]
fn no_ansi_colours_when_output_is_not_a_terminal() {
    let Some(db) = TestDb::extension_only("no_ansi") else {
        return;
    };
    let dir = scratch("no_ansi");
    let config = fast_config(dir.path(), 30);
    let mut data = Data::new(85);
    let good = lse_report("fine.lse", data.records(2));
    let p = write(dir.path(), &good.name, &good.bytes);
    let full = zip_of(&[&lse_report("never.lse", data.records(1))]);
    let broken = write(dir.path(), "broken.zip", &full[..full.len() / 2]);
    let out = import(
        &db,
        dir.path(),
        &[p.to_str().unwrap(), broken.to_str().unwrap()],
        &[],
    )
    .expect_code(1, "import with a quarantined file");
    assert!(out.stderr.contains("WARN"), "a log line: {}", out.stderr);
    for (what, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(!text.contains("\x1b["), "smt import {what}: {text:?}");
    }
    let out = run(worker(&db, dir.path(), &config, &[]), COMMAND_TIMEOUT).expect_code(0, "worker");
    assert!(out.stderr.contains("INFO"), "{}", out.stderr);
    for (what, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(!text.contains("\x1b["), "smt run {what}: {text:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Job params name sources the worker's config file defines, and nothing else: whoever can write
// smt.job cannot point the worker at its secrets, other hosts, local files or TLS switches.

/// Accepted connections so far on a non-blocking listener.
fn accepted(listener: &std::net::TcpListener) -> usize {
    let mut n = 0;
    while listener.accept().is_ok() {
        n += 1;
    }
    n
}

#[test]
fn job_params_can_name_only_sources_the_worker_configured() {
    let Some(db) = TestDb::extension_only("params_attacks") else {
        return;
    };
    let dir = scratch("params_attacks");
    // The configured FTPS site, and a host of the attacker's: each counts the connections made
    // to it. Every job below is refused before anything is contacted, so both stay at 0.
    let site = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let attacker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    site.set_nonblocking(true).unwrap();
    attacker.set_nonblocking(true).unwrap();
    let attacker_port = attacker.local_addr().unwrap().port();
    let mut data = Data::new(90);
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let allowed = lse_report("allowed.lse", data.records(2));
    write(&inbox, &allowed.name, &allowed.bytes);
    // A directory the worker can read that no job was given.
    let private = dir.path().join("private");
    std::fs::create_dir(&private).unwrap();
    let hidden = lse_report("private.lse", data.records(2));
    write(&private, &hidden.name, &hidden.bytes);
    let evil_downloads = dir.path().join("evil-downloads");
    let config = config_with(
        dir.path(),
        30,
        &format!(
            "[ftps.smt-ftps]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"rep\"\ntimeout_seconds = 5\n{}",
            site.local_addr().unwrap().port(),
            import_dirs(&[("inbox", &inbox)])
        ),
    );
    let passphrase = "pgp-passphrase-never-sent-4711";
    let password = "ftps-password-never-sent-4712";

    let configure = "worker's config file";
    let attacks: Vec<(&str, &str, serde_json::Value, Vec<String>)> = vec![
        (
            "steal-passphrase",
            "ftps_fetch",
            serde_json::json!({"source": "smt-ftps", "password_env": "SMT_PGP_PASSPHRASE"}),
            vec!["\"password_env\" is not accepted".into(), configure.into()],
        ),
        (
            "other-host",
            "ftps_fetch",
            serde_json::json!({"source": "smt-ftps", "host": "127.0.0.1", "port": attacker_port}),
            vec!["\"host\" is not accepted".into(), configure.into()],
        ),
        (
            "no-verify",
            "ftps_fetch",
            serde_json::json!({"source": "smt-ftps", "insecure_skip_verify": true}),
            vec![
                "\"insecure_skip_verify\" is not accepted".into(),
                configure.into(),
            ],
        ),
        (
            "download-anywhere",
            "ftps_fetch",
            serde_json::json!({"source": "smt-ftps", "download_dir": evil_downloads}),
            vec!["\"download_dir\" is not accepted".into(), configure.into()],
        ),
        (
            "client-key",
            "ftps_fetch",
            serde_json::json!({"source": "smt-ftps", "client_key": "/etc/ssl/private/x.key"}),
            vec!["\"client_key\" is not accepted".into(), configure.into()],
        ),
        (
            "whole-site-in-params",
            "ftps_fetch",
            serde_json::json!({"host": "127.0.0.1", "port": attacker_port, "user": "rep", "dirs": ["/"]}),
            vec!["\"host\" is not accepted".into(), configure.into()],
        ),
        (
            "read-any-dir",
            "import_dir",
            serde_json::json!({"dir": private}),
            vec!["\"dir\" is not accepted".into(), configure.into()],
        ),
        (
            "read-any-dir-too",
            "import_dir",
            serde_json::json!({"source": "inbox", "dir": private}),
            vec!["\"dir\" is not accepted".into()],
        ),
        (
            "unknown-site",
            "ftps_fetch",
            serde_json::json!({"source": "elsewhere"}),
            vec![
                "defines no FTPS site \"elsewhere\"".into(),
                "[ftps.elsewhere]".into(),
                "\"smt-ftps\"".into(),
            ],
        ),
        (
            "dir-as-source",
            "import_dir",
            serde_json::json!({"source": private}),
            vec!["defines no import directory".into(), "\"inbox\"".into()],
        ),
        (
            "site-as-dir",
            "import_dir",
            serde_json::json!({"source": "smt-ftps"}),
            vec!["defines no import directory \"smt-ftps\"".into()],
        ),
    ];
    // Written straight into smt.job, as anyone allowed to write it could (`smt jobs add` refuses
    // all of these itself; a CHECK in the database may refuse the secret-looking ones first).
    let mut c = db.connect();
    let mut queued = Vec::new();
    for (name, kind, params, _) in &attacks {
        let added = c.execute(
            "SELECT smt.job_add($1, $2, '0 6 * * *', $3)",
            &[name, kind, params],
        );
        match added {
            Ok(_) => {
                exec(&mut c, &format!("SELECT smt.job_run_now('{name}')"));
                queued.push(*name);
            }
            Err(e) if e.code() == Some(&postgres::error::SqlState::CHECK_VIOLATION) => {
                println!("{name}: refused by the database: {}", explain(&e));
            }
            Err(e) => panic!("{name}: {}", explain(&e)),
        }
    }
    let mut cmd = worker(&db, dir.path(), &config, &[]);
    cmd.env("SMT_PGP_PASSPHRASE", passphrase)
        .env("SMT_FTPS_PASSWORD", password);
    let out = run(cmd, COMMAND_TIMEOUT);
    assert!(
        matches!(out.code(), Some(0 | 1)),
        "the worker goes on after failed runs: {out:?}"
    );
    for (name, _, _, fragments) in attacks.iter().filter(|a| queued.contains(&a.0)) {
        let all = runs(&mut c, name);
        assert_eq!(all[0][1].as_deref(), Some("failed"), "{name}: {all:?}");
        let error = all[0][3].clone().unwrap_or_default();
        for f in fragments {
            assert!(error.contains(f.as_str()), "{name}: {error:?} lacks {f:?}");
        }
    }
    assert_eq!(accepted(&site), 0, "the configured site was contacted");
    assert_eq!(accepted(&attacker), 0, "the attacker's host was contacted");
    assert!(!evil_downloads.exists(), "a job chose a download directory");
    for secret in [passphrase, password] {
        assert!(!out.stderr.contains(secret), "{}", out.stderr);
    }
    let registered: i64 = one(&mut c, "SELECT count(*) FROM smt.remote_file", &[]);
    assert_eq!(registered, 0, "nothing was read");
    assert_eq!(one::<i64>(&mut c, "SELECT count(*) FROM smt.file", &[]), 0);

    // The configured directory, by its name: loaded.
    jobs(
        &db,
        dir.path(),
        &[
            "add",
            "inbox",
            "--schedule",
            "0 6 * * *",
            "--kind",
            "import_dir",
            "--params",
            &import_params("inbox"),
        ],
    );
    jobs(&db, dir.path(), &["run-now", "inbox"]);
    let out = run(worker(&db, dir.path(), &config, &[]), COMMAND_TIMEOUT);
    let all = runs(&mut c, "inbox");
    assert_eq!(
        all[0][1].as_deref(),
        Some("succeeded"),
        "{all:?}\n{}",
        out.stderr
    );
    assert_reports_once(&mut c, &[&allowed]);
    assert_eq!(accepted(&site), 0);
}

#[test]
fn jobs_add_refuses_secrets_and_what_the_worker_config_owns() {
    let Some(db) = TestDb::extension_only("jobs_add_refuses") else {
        return;
    };
    let dir = scratch("jobs_add_refuses");
    let secret = "hunter2-never-stored-5150";
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----");
    let cases: Vec<(&str, serde_json::Value, Vec<&str>)> = vec![
        (
            "ftps_fetch",
            serde_json::json!({"source": "smt-ftps", "password": secret}),
            vec!["params.password looks like a secret"],
        ),
        (
            "ftps_fetch",
            serde_json::json!({"source": "smt-ftps", "password_env": "SMT_PGP_PASSPHRASE"}),
            vec!["params.password_env looks like a secret"],
        ),
        (
            "import_dir",
            serde_json::json!({"source": "inbox", "extra": [{"API_Token": secret}]}),
            vec!["params.extra[0].API_Token looks like a secret"],
        ),
        (
            "import_dir",
            serde_json::json!({"source": "inbox", "note": pem}),
            vec!["params.note looks like a secret"],
        ),
        (
            "ftps_fetch",
            serde_json::json!({"source": "smt-ftps", "clientKey": "/etc/smt/client.key"}),
            vec!["params.clientKey looks like a secret"],
        ),
        (
            "ftps_fetch",
            serde_json::json!({"host": "ftp.example", "user": "rep", "dirs": ["/"]}),
            vec![
                "\"host\" is not accepted",
                "worker's config file",
                "[ftps.NAME]",
            ],
        ),
        (
            "ftps_fetch",
            serde_json::json!({"source": "smt-ftps", "insecure_skip_verify": true}),
            vec!["\"insecure_skip_verify\" is not accepted"],
        ),
        (
            "import_dir",
            serde_json::json!({"dir": "/root"}),
            vec!["\"dir\" is not accepted", "[import_dirs]"],
        ),
    ];
    for (kind, params, fragments) in &cases {
        let params = params.to_string();
        let out = run(
            smt(
                dir.path(),
                &[
                    "jobs",
                    "--database-url",
                    db.url(),
                    "add",
                    "refused",
                    "--schedule",
                    "0 6 * * *",
                    "--kind",
                    kind,
                    "--params",
                    &params,
                ],
            ),
            COMMAND_TIMEOUT,
        )
        .expect_code(2, &format!("smt jobs add --params {params}"));
        for f in fragments {
            assert!(out.stderr.contains(f), "{params}: {}", out.stderr);
        }
        assert!(!out.stderr.contains(secret), "{}", out.stderr);
    }
    let mut c = db.connect();
    assert_eq!(one::<i64>(&mut c, "SELECT count(*) FROM smt.job", &[]), 0);
    // A source's name is all a job needs.
    for (kind, params) in [
        (
            "ftps_fetch",
            r#"{"source": "smt-ftps", "dirs": ["/reports"]}"#,
        ),
        ("import_dir", r#"{"source": "inbox"}"#),
    ] {
        jobs(
            &db,
            dir.path(),
            &[
                "add",
                kind,
                "--schedule",
                "0 6 * * *",
                "--kind",
                kind,
                "--params",
                params,
            ],
        );
    }
    assert_eq!(one::<i64>(&mut c, "SELECT count(*) FROM smt.job", &[]), 2);
}

/// A connection string's password (URL user info, `?password=`, libpq's `password=`) is never
/// printed in a connection error.
#[test]
fn connection_errors_never_show_the_password() {
    let dir = scratch("redact");
    for url in [
        "host=127.0.0.1 port=1 user=smt password=pw-in-kv-5150 dbname=smt connect_timeout=5",
        "host=127.0.0.1 port=1 user=smt password='pw in quotes 5150' dbname=smt",
        "postgresql://smt:pw-in-url-5150@127.0.0.1:1/smt?password=pw-in-query-5150",
    ] {
        let out = run(
            smt(dir.path(), &["status", "--database-url", url]),
            COMMAND_TIMEOUT,
        )
        .expect_code(2, url);
        assert!(
            out.stderr.contains("cannot connect to the database at"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("127.0.0.1"), "{}", out.stderr);
        assert!(!out.stderr.contains("5150"), "{}", out.stderr);
    }
}

/// File names come from deliveries: `smt status` prints their control characters escaped.
#[test]
fn status_prints_file_names_with_escape_codes_escaped() {
    let Some(db) = TestDb::extension_only("status_escapes") else {
        return;
    };
    let dir = scratch("status_escapes");
    let mut data = Data::new(91);
    let evil = "evil\u{1b}]0;owned\u{7}\u{1b}[2J.lse";
    let report = lse_report(evil, data.records(1));
    let path = write(dir.path(), evil, &report.bytes);
    import(&db, dir.path(), &[path.to_str().unwrap()], &[]).expect_code(0, "import");
    let status = run(
        smt(dir.path(), &["status", "--database-url", db.url()]),
        COMMAND_TIMEOUT,
    )
    .expect_code(0, "smt status");
    assert!(
        !status.stdout.contains('\u{1b}') && !status.stdout.contains('\u{7}'),
        "{:?}",
        status.stdout
    );
    assert!(
        status
            .stdout
            .contains("evil\\u{1b}]0;owned\\u{7}\\u{1b}[2J.lse"),
        "{}",
        status.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// What a user sees: `smt status` sections with headers and the way out of each problem,
// `smt deliveries retry`, `smt jobs show` and `smt jobs delete`, names printed escaped.

/// The sections of `smt status`: (title after "== ", header row, rows).
fn status_sections(stdout: &str) -> Vec<(String, String, Vec<String>)> {
    stdout
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut lines = block.lines();
            let title = lines
                .next()
                .and_then(|l| l.strip_prefix("== "))
                .unwrap_or_else(|| panic!("a section starts with == TITLE: {block}"))
                .to_owned();
            let header = lines.next().unwrap_or_default().to_owned();
            (title, header, lines.map(str::to_owned).collect())
        })
        .collect()
}

/// The rows of the status section whose title starts with `title`.
fn status_section<'a>(
    sections: &'a [(String, String, Vec<String>)],
    title: &str,
) -> &'a (String, String, Vec<String>) {
    sections
        .iter()
        .find(|(t, _, _)| t.starts_with(title))
        .unwrap_or_else(|| panic!("no section {title:?}: {sections:?}"))
}

#[test]
fn status_shows_quarantined_deliveries_and_failed_jobs_with_the_command_that_fixes_them() {
    let Some(db) = TestDb::extension_only("status_problems") else {
        return;
    };
    let dir = scratch("status_problems");
    let missing = dir.path().join("missing");
    let config = config_with(dir.path(), 30, &import_dirs(&[("broken", &missing)]));
    let mut c = db.connect();

    // A delivery that cannot be decrypted (no key configured): quarantined.
    let evil = "q\u{1b}[31m.zip.asc";
    let asc = write(
        dir.path(),
        evil,
        b"-----BEGIN PGP MESSAGE-----\n\nhQEMA\n-----END PGP MESSAGE-----\n",
    );
    import(&db, dir.path(), &[asc.to_str().unwrap()], &[]).expect_code(1, "quarantined import");
    let id: i64 = one(
        &mut c,
        "SELECT remote_file_id FROM smt.remote_file WHERE state = 'quarantined'",
        &[],
    );
    // A job that fails at once (max_attempts 1): marked failed.
    jobs(
        &db,
        dir.path(),
        &[
            "add",
            "broken",
            "--schedule",
            "0 6 * * *",
            "--kind",
            "import_dir",
            "--params",
            &import_params("broken"),
            "--max-attempts",
            "1",
        ],
    );
    jobs(&db, dir.path(), &["run-now", "broken"]);
    run(worker(&db, dir.path(), &config, &[]), COMMAND_TIMEOUT).expect_code(1, "failing worker");

    let status = smt_at(dir.path(), db.url(), &["status"]).expect_code(0, "smt status");
    assert!(!status.stdout.contains('\u{1b}'), "{:?}", status.stdout);
    let sections = status_sections(&status.stdout);
    let titles: Vec<&str> = sections.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(
        titles,
        [
            "recent runs",
            "recent files",
            "recent rejects",
            "quarantined deliveries (fix the cause, then run the command to load them)",
            "failed jobs (fix the cause, then run the command to run them again)",
            "remote files older than 7 days not loaded (SMT deletes them after 10)",
        ]
    );
    let counts = smt_scheduler::ingest::LoadCounts::COLUMNS.join("\t");
    let headers: Vec<&str> = sections.iter().map(|(_, h, _)| h.as_str()).collect();
    assert_eq!(
        headers,
        [
            "job\tattempt\tstate\tstarted_at\tfinished_at\tcounts or error".to_owned(),
            format!("name\tformat\tstate\t{counts}\tloaded_at"),
            "file\tline\tfield\tkind\treason".to_owned(),
            "id\tsource\tdirectory\tname\tmodified_at\tregistered_by\terror\tthen".to_owned(),
            "name\tkind\tfailed_at\tfailures\tlast_error\tthen".to_owned(),
            "id\tsource\tdirectory\tname\tstate\tmodified_at\tdeleted_from_smt_at\terror"
                .to_owned(),
        ],
        "a header row under every title"
    );
    // Every row has as many cells as its header; an empty section says so.
    for (title, header, rows) in &sections {
        for row in rows {
            if row != "(none)" {
                assert_eq!(
                    row.split('\t').count(),
                    header.split('\t').count(),
                    "{title}: {row}"
                );
            }
        }
    }
    assert_eq!(status_section(&sections, "recent rejects").2, ["(none)"]);

    let (_, _, quarantined) = status_section(&sections, "quarantined deliveries");
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    let cells: Vec<&str> = quarantined[0].split('\t').collect();
    assert_eq!(cells[0], id.to_string());
    assert_eq!(cells[1], "import");
    assert_eq!(cells[3], "q\\u{1b}[31m.zip.asc", "the name, escaped");
    assert!(
        cells[6].contains("no secret key"),
        "the error: {}",
        cells[6]
    );
    assert_eq!(cells[7], format!("smt deliveries retry {id}"));

    let (_, _, failed) = status_section(&sections, "failed jobs");
    assert_eq!(failed.len(), 1, "{failed:?}");
    let cells: Vec<&str> = failed[0].split('\t').collect();
    assert_eq!(&cells[..2], ["broken", "import_dir"]);
    assert_eq!(cells[3], "1");
    assert!(cells[4].contains("missing"), "the error: {}", cells[4]);
    assert_eq!(cells[5], "smt jobs enable broken");

    // The way out: retry the delivery (once its cause is fixed), re-enable the job.
    let retried = smt_at(
        dir.path(),
        db.url(),
        &["deliveries", "retry", &id.to_string()],
    )
    .expect_code(0, "deliveries retry");
    assert!(
        retried.stdout.contains(&format!(
            "delivery {id} (q\\u{{1b}}[31m.zip.asc) is now fetched"
        )),
        "{}",
        retried.stdout
    );
    assert!(!retried.stdout.contains('\u{1b}'), "{:?}", retried.stdout);
    let state: String = one(
        &mut c,
        "SELECT state FROM smt.remote_file WHERE remote_file_id = $1",
        &[&id],
    );
    assert_eq!(state, "fetched");
    let again = smt_at(
        dir.path(),
        db.url(),
        &["deliveries", "retry", &id.to_string()],
    )
    .expect_code(2, "retry of a delivery that is not quarantined");
    assert!(
        again.stderr.contains("not quarantined") && again.stderr.contains("HINT"),
        "{}",
        again.stderr
    );
    let unknown = smt_at(dir.path(), db.url(), &["deliveries", "retry", "999999"])
        .expect_code(2, "retry of an unknown delivery");
    assert!(
        unknown.stderr.contains("no delivery 999999"),
        "{}",
        unknown.stderr
    );
    // `smt deliveries list` shows it with its new state.
    let listed = smt_at(
        dir.path(),
        db.url(),
        &["deliveries", "list", "--state", "fetched"],
    )
    .expect_code(0, "deliveries list");
    let mut lines = listed.stdout.lines();
    assert_eq!(
        lines.next(),
        Some("id\tstate\tsource\tdirectory\tname\tsize_bytes\tmodified_at\tfetched_at\tloaded_at\tregistered_by\terror")
    );
    let row = lines.next().unwrap_or_default();
    assert!(
        row.starts_with(&format!("{id}\tfetched\timport\t"))
            && row.contains("q\\u{1b}[31m.zip.asc"),
        "{}",
        listed.stdout
    );

    jobs(&db, dir.path(), &["enable", "broken"]);
    let status = smt_at(dir.path(), db.url(), &["status"]).expect_code(0, "smt status");
    let sections = status_sections(&status.stdout);
    assert_eq!(
        status_section(&sections, "quarantined deliveries").2,
        ["(none)"]
    );
    assert_eq!(status_section(&sections, "failed jobs").2, ["(none)"]);
}

#[test]
fn jobs_show_prints_every_column_and_the_last_10_runs_and_delete_removes_the_job() {
    let Some(db) = TestDb::extension_only("jobs_show") else {
        return;
    };
    let dir = scratch("jobs_show");
    let mut c = db.connect();
    jobs(
        &db,
        dir.path(),
        &[
            "add",
            "inbox",
            "--schedule",
            "0 6 * * *",
            "--kind",
            "import_dir",
            "--params",
            &import_params("inbox"),
        ],
    );
    // Twelve runs, the last one failed with an error holding an escape code.
    exec(
        &mut c,
        "INSERT INTO smt.job_run (job_id, scheduled_for, attempt, state, error)
         SELECT job_id, now() - (13 - i) * interval '1 day', 1,
                CASE WHEN i = 12 THEN 'failed' ELSE 'succeeded' END,
                CASE WHEN i = 12 THEN E'bad \\u001b[31m name' END
           FROM smt.job, generate_series(1, 12) i ORDER BY i",
    );

    let shown = jobs(&db, dir.path(), &["show", "inbox"]).stdout;
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
    let mut blocks = shown.split("\n\n");
    let job: Vec<&str> = blocks.next().unwrap().lines().collect();
    assert_eq!(job[..2], ["== job inbox", "column\tvalue"], "{shown}");
    // Every column of smt.job_status, in its order, with its value.
    let columns = rows_text(
        &mut c,
        "SELECT column_name::text FROM information_schema.columns
          WHERE table_schema = 'smt' AND table_name = 'job_status' ORDER BY ordinal_position",
        &[],
    );
    let shown_columns: Vec<&str> = job[2..]
        .iter()
        .take(columns.len())
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    let columns: Vec<&str> = columns.iter().map(|r| r[0].as_deref().unwrap()).collect();
    assert_eq!(shown_columns, columns, "{shown}");
    for (column, value) in [
        ("name", "inbox".to_owned()),
        ("kind", "import_dir".to_owned()),
        ("schedule", "0 6 * * *".to_owned()),
        ("failed", "false".to_owned()),
        ("last_run_state", "failed".to_owned()),
        (
            "next_run_at",
            one::<String>(&mut c, "SELECT next_run_at::text FROM smt.job_status", &[]),
        ),
    ] {
        assert!(
            job.contains(&format!("{column}\t{value}").as_str()),
            "{column} = {value}: {shown}"
        );
    }
    let runs_block: Vec<&str> = blocks.next().unwrap().lines().collect();
    assert_eq!(runs_block[0], "== last 10 runs");
    assert_eq!(
        runs_block[1],
        "run_id\tscheduled_for\tattempt\tstate\tworker\tstarted_at\tfinished_at\ttakeovers\terror\tcounts"
    );
    let newest = rows_text(
        &mut c,
        "SELECT r.run_id::text FROM smt.job_run r ORDER BY r.run_id DESC LIMIT 10",
        &[],
    );
    let shown_ids: Vec<&str> = runs_block[2..]
        .iter()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    let newest: Vec<&str> = newest.iter().map(|r| r[0].as_deref().unwrap()).collect();
    assert_eq!(shown_ids, newest, "the last 10 runs, newest first: {shown}");
    assert!(
        runs_block[2].contains("\tfailed\t") && runs_block[2].contains("bad \\u{1b}[31m name"),
        "{shown}"
    );

    // A failed job: show says how to clear it.
    exec(
        &mut c,
        "UPDATE smt.job SET failed_at = now(), last_error = 'it broke'",
    );
    let shown = jobs(&db, dir.path(), &["show", "inbox"]).stdout;
    assert!(shown.contains("failed\ttrue"), "{shown}");
    assert!(shown.contains("`smt jobs enable inbox`"), "{shown}");

    // Delete: the job and its runs go; the name is free again.
    let deleted = jobs(&db, dir.path(), &["delete", "inbox"]).stdout;
    assert!(
        deleted.contains("deleted job inbox (import_dir, 0 6 * * *) and its 12 runs"),
        "{deleted}"
    );
    assert_eq!(one::<i64>(&mut c, "SELECT count(*) FROM smt.job", &[]), 0);
    assert_eq!(
        one::<i64>(&mut c, "SELECT count(*) FROM smt.job_run", &[]),
        0
    );
    let again = smt_at(dir.path(), db.url(), &["jobs", "delete", "inbox"])
        .expect_code(2, "deleting it again");
    assert!(
        again.stderr.contains("no job named 'inbox'") && again.stderr.contains("HINT"),
        "{}",
        again.stderr
    );
}

/// Names come from outside: `smt import` prints them, and errors quoting them, escaped.
#[test]
fn import_prints_names_and_errors_with_escape_codes_escaped() {
    let Some(db) = TestDb::extension_only("import_escapes") else {
        return;
    };
    let dir = scratch("import_escapes");
    let mut data = Data::new(92);
    let red = "\u{1b}[31m";
    let plain = lse_report(&format!("ok{red}.lse"), data.records(1));
    let plain_path = write(dir.path(), &plain.name, &plain.bytes);
    let inner = lse_report(&format!("in{red}.lse"), data.records(1));
    let zip_path = write(dir.path(), &format!("z{red}.zip"), &zip_of(&[&inner]));
    let asc_path = write(
        dir.path(),
        &format!("q{red}.zip.asc"),
        b"-----BEGIN PGP MESSAGE-----\n\nhQEMA\n-----END PGP MESSAGE-----\n",
    );
    let missing = dir.path().join(format!("missing{red}.lse"));
    let out = import(
        &db,
        dir.path(),
        &[
            plain_path.to_str().unwrap(),
            zip_path.to_str().unwrap(),
            asc_path.to_str().unwrap(),
            missing.to_str().unwrap(),
        ],
        &[],
    )
    .expect_code(1, "import with a quarantined and a missing file");
    assert!(
        !out.stdout.contains('\u{1b}') && !out.stderr.contains('\u{1b}'),
        "stdout {:?}\nstderr {:?}",
        out.stdout,
        out.stderr
    );
    let esc = "\\u{1b}[31m";
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("ok{esc}.lse\tok{esc}.lse\tlse\t"))),
        "{}",
        out.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("z{esc}.zip\tin{esc}.lse\tlse\t"))),
        "a report in a zip: {}",
        out.stdout
    );
    let quarantined = lines
        .iter()
        .find(|l| l.starts_with(&format!("q{esc}.zip.asc\t")))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    // The error quotes the name: escaped too.
    assert!(
        quarantined.contains(&format!("quarantined: q{esc}.zip.asc is OpenPGP-encrypted")),
        "{quarantined}"
    );
    assert!(
        out.stderr
            .contains(&format!("smt import: {}", dir.path().display()))
            && out
                .stderr
                .contains(&format!("missing{esc}.lse: cannot read it")),
        "{}",
        out.stderr
    );
    Expected::of_reports([&plain, &inner]).assert_loaded(&mut db.connect());
}
