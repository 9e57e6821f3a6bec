//! smt_reader reads the views (and the tables under them, not the raw files); smt_loader loads
//! through smt.load and writes nothing directly; both as LOGIN roles.

use postgres::Client;
use smt_core::testdata::{self, Generator};
use smt_e2e::*;

const VIEWS: [&str; 5] = [
    "smt.interval",
    "smt.interval_15min",
    "smt.daily_usage",
    "smt.completeness",
    "smt.interval_versions",
];

fn denied(c: &mut Client, sql: &str) {
    match c.batch_execute(sql) {
        Ok(()) => panic!("{sql}: allowed, should be denied"),
        Err(e) => assert_eq!(
            sqlstate(&e).as_deref(),
            Some("42501"),
            "{sql}: {}",
            explain(&e)
        ),
    }
}

#[test]
fn reader_reads_views_only_and_loader_loads() {
    let Some(mut db) = TestDb::new("roles") else {
        return;
    };
    let reader = db.create_login_role("reader", "smt_reader");
    let loader = db.create_login_role("loader", "smt_loader");
    let records = Generator::new(41).records(4, &[date(2025, 7, 1)]);
    let mut c = db.connect();
    load(&mut c, &testdata::lse_bytes(&records, true), "admin.lse");

    c.batch_execute(&format!("SET ROLE {}", ident(&reader)))
        .unwrap();
    for view in VIEWS {
        let n: i64 = one(&mut c, &format!("SELECT count(*) FROM {view}"), &[]);
        if view != "smt.completeness" {
            assert!(n > 0, "{view} is empty for the reader");
        }
    }
    // The views run with the reader's rights, so it reads the tables under them too; not the raw
    // bytes of the files, nor the staging table.
    let days: i64 = one(&mut c, "SELECT count(*) FROM smt.interval_day", &[]);
    assert_eq!(days as usize, records.len());
    denied(&mut c, "SELECT count(*) FROM smt.file_content");
    denied(&mut c, "SELECT count(*) FROM smt.stage");
    denied(&mut c, "INSERT INTO smt.interval_version DEFAULT VALUES");
    denied(&mut c, "SELECT * FROM smt.load('\\x'::bytea, 'x.lse')");

    c.batch_execute(&format!("RESET ROLE; SET ROLE {}", ident(&loader)))
        .unwrap();
    let more = Generator::new(42).records(2, &[date(2025, 7, 2)]);
    let l = load(&mut c, &testdata::lse_bytes(&more, true), "loader.lse");
    assert_eq!(l.inserted as usize, more.len());
    for r in &more {
        assert_interval_view_matches(&mut c, r);
    }
    let files: i64 = one(&mut c, "SELECT count(*) FROM smt.file", &[]);
    assert_eq!(files, 2, "the loader sees the file registry");
    denied(&mut c, "DELETE FROM smt.interval_day");
    denied(&mut c, "DELETE FROM smt.file");
    denied(&mut c, "SELECT count(*) FROM smt.stage");
    c.batch_execute("RESET ROLE").unwrap();

    // Logged in as the loader itself, the file is recorded as loaded by it.
    let mut as_loader = db.connect_as(&loader);
    let third = Generator::new(43).records(1, &[date(2025, 7, 3)]);
    let l = load(
        &mut as_loader,
        &testdata::lse_bytes(&third, false),
        "login.lse",
    );
    let by: String = one(
        &mut c,
        "SELECT loaded_by FROM smt.file WHERE file_id = $1",
        &[&l.file_id],
    );
    assert_eq!(by, loader);
}
