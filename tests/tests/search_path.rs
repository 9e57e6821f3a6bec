//! A hostile search_path: schema `evil` shadows functions, operators, an aggregate and tables
//! that smt's SQL uses. smt.load and the views must give exactly what a clean session gives.

use postgres::Client;
use smt_core::testdata::{self, Generator};
use smt_core::IntervalRecord;
use smt_e2e::*;

/// Every shadow returns something plainly wrong, so that using one shows in the results.
const EVIL: &str = r#"
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.sha256(bytea) RETURNS bytea LANGUAGE sql AS $$ SELECT '\x00'::bytea $$;
CREATE FUNCTION evil.octet_length(bytea) RETURNS integer LANGUAGE sql AS 'SELECT 0';
CREATE FUNCTION evil.length(text) RETURNS integer LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION evil.substr(text, integer, integer) RETURNS text LANGUAGE sql AS $$ SELECT 'E'::text $$;
CREATE FUNCTION evil.replace(text, text, text) RETURNS text LANGUAGE sql AS $$ SELECT ''::text $$;
CREATE FUNCTION evil.round(numeric, integer) RETURNS numeric LANGUAGE sql AS 'SELECT 0::numeric';
CREATE FUNCTION evil.trunc(numeric, integer) RETURNS numeric LANGUAGE sql AS 'SELECT 0::numeric';
CREATE FUNCTION evil.generate_series(integer, integer) RETURNS SETOF integer LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '1999-12-31 00:00+00'::timestamptz $$;
CREATE FUNCTION evil.to_regclass(text) RETURNS regclass LANGUAGE sql AS $$ SELECT 'pg_class'::regclass $$;
CREATE FUNCTION evil.date_bin(interval, timestamptz, timestamptz) RETURNS timestamptz
    LANGUAGE sql AS $$ SELECT '2001-01-01 00:00+00'::timestamptz $$;
CREATE FUNCTION evil.make_interval(years integer DEFAULT 0, months integer DEFAULT 0,
    weeks integer DEFAULT 0, days integer DEFAULT 0, hours integer DEFAULT 0, mins integer DEFAULT 0,
    secs double precision DEFAULT 0) RETURNS interval LANGUAGE sql AS $$ SELECT '1 day'::interval $$;
CREATE FUNCTION evil.always(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.always);
CREATE FUNCTION evil.always(bytea, bytea) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = bytea, RIGHTARG = bytea, FUNCTION = evil.always);
CREATE FUNCTION evil.zero(integer, integer) RETURNS integer LANGUAGE sql AS 'SELECT 0';
CREATE OPERATOR evil.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = evil.zero);
CREATE OPERATOR evil.* (LEFTARG = integer, RIGHTARG = integer, FUNCTION = evil.zero);
CREATE FUNCTION evil.zero(numeric, numeric) RETURNS numeric LANGUAGE sql AS 'SELECT 0::numeric';
CREATE OPERATOR evil.- (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = evil.zero);
CREATE OPERATOR evil./ (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = evil.zero);
CREATE AGGREGATE evil.sum(numeric) (SFUNC = evil.zero, STYPE = numeric, INITCOND = '0');
CREATE TABLE evil.smt_stage (role text);
CREATE TABLE evil.stage (role text);
CREATE TABLE evil.interval_day (esiid text);
CREATE TABLE evil.file (name text);
"#;

/// Everything the views and registry show, as text (TimeZone UTC, loaded_at left out).
fn snapshot(c: &mut Client) -> Vec<Vec<Option<String>>> {
    c.batch_execute("SET TimeZone = 'UTC'").unwrap();
    let queries = [
        "SELECT esiid, channel::text, day::text, interval_start::text, interval_end::text,
                kwh::text, status, revision::text
           FROM smt.interval ORDER BY 1, 2, 4",
        "SELECT esiid, interval_start::text, interval_end::text, import_kwh::text,
                export_kwh::text, net_kwh::text
           FROM smt.interval_15min ORDER BY 1, 2",
        "SELECT esiid, day::text, import_kwh::text, export_kwh::text, net_kwh::text,
                intervals_present::text, intervals_estimated::text, intervals_missing::text
           FROM smt.daily_usage ORDER BY 1, 2",
        "SELECT esiid, channel::text, day::text, intervals_expected::text,
                intervals_present::text, intervals_missing::text
           FROM smt.completeness ORDER BY 1, 2, 3",
        "SELECT esiid, channel::text, day::text, revision::text, outcome, file_id::text,
                intervals_present::text
           FROM smt.interval_versions ORDER BY 1, 2, 3, 4",
        "SELECT file_id::text, name, sha256::text, size_bytes::text, format, state,
                records::text, inserted::text, replaced::text, stale::text, rejected::text
           FROM smt.file ORDER BY 1",
    ];
    queries
        .iter()
        .flat_map(|q| {
            let mut rows = rows_text(c, q, &[]);
            rows.insert(0, vec![Some(q.to_string())]);
            rows
        })
        .collect()
}

/// Generated days, plus one hourly day (24 intervals) so that smt.interval_15min goes through
/// smt.normalize_15min.
fn records() -> Vec<IntervalRecord> {
    let mut g = Generator::new(51);
    let mut records = g.records(4, &[date(2025, 11, 2), date(2025, 11, 3)]);
    let esiid = g.esiid();
    let mut hourly = g.record(&esiid, 4, date(2025, 11, 4));
    hourly.interval_seconds = 3600;
    hourly.intervals.truncate(24);
    records.push(hourly);
    records
}

fn hostile_path_gives_clean_results(test: &str, path: &str) {
    let Some(db) = TestDb::new(test) else { return };
    let records = records();
    let (first, second) = records.split_at(4);
    let (a, b) = (
        testdata::lse_bytes(first, true),
        testdata::lse_bytes(second, true),
    );

    let mut evil = db.connect();
    evil.batch_execute(EVIL)
        .unwrap_or_else(|e| panic!("evil schema: {}", explain(&e)));
    evil.batch_execute(&format!("SET search_path = {path}"))
        .unwrap();
    let la = load(&mut evil, &a, "a.lse");
    let lb = load(&mut evil, &b, "b.lse");
    assert!(
        !la.already_loaded && !lb.already_loaded,
        "another file is not the same file"
    );
    assert_eq!(la.inserted as usize, first.len());
    assert_eq!(lb.inserted as usize, second.len());
    assert!(load(&mut evil, &a, "a again.lse").already_loaded);
    let seen_by_evil = snapshot(&mut evil);

    let mut clean = db.connect();
    assert_eq!(snapshot(&mut clean), seen_by_evil);
    for r in &records {
        assert_interval_view_matches(&mut clean, r);
    }
    let digests_right: bool = one(
        &mut clean,
        "SELECT bool_and(f.sha256 = sha256(smt.file_bytes(f.file_id))
                         AND f.size_bytes = octet_length(smt.file_bytes(f.file_id)))
           FROM smt.file f",
        &[],
    );
    assert!(digests_right);
    let partitions: i64 = one(
        &mut clean,
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'smt.interval_day'::regclass",
        &[],
    );
    assert_eq!(partitions, 1, "the November 2025 partition was made");
}

/// As a careless session would have it: pg_catalog is then searched first, implicitly.
#[test]
fn evil_schema_first_in_search_path() {
    hostile_path_gives_clean_results("search_path_evil_public", "evil, public");
}

/// pg_catalog named after evil: the shadows now win for any unqualified call.
#[test]
fn evil_schema_before_pg_catalog() {
    let Some(db) = TestDb::new("search_path_check") else {
        return;
    };
    // The shadows do take effect on unqualified SQL in such a session.
    let mut c = db.connect();
    c.batch_execute(EVIL).unwrap();
    c.batch_execute("SET search_path = evil, pg_catalog, public")
        .unwrap();
    let shadowed: bool = one(
        &mut c,
        "SELECT 'a'::text = 'b'::text AND length('abc') = 1",
        &[],
    );
    assert!(shadowed, "the evil operator and function are in effect");
    drop(c);
    drop(db);
    hostile_path_gives_clean_results("search_path_evil_catalog", "evil, pg_catalog, public");
}
