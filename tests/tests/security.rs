//! Regression tests for the 0.1.0 holes (release 0.2.0, issue part 1): one test per attack, named
//! for it, each run by unprivileged LOGIN roles against a real cluster.
//!
//! In 0.1.0 a loader created its own `pg_temp.smt_stage` with a trigger, and the SECURITY DEFINER
//! load code (owned by the installing superuser) wrote that caller-owned table, so the trigger ran
//! as the owner and could `ALTER ROLE … SUPERUSER`. The same door let a loader stage unparsed rows,
//! register a digest for bytes that had not arrived, mark any file failed and create partitions
//! for the year 2200. In 0.2.0 `smt.load(bytea, name)` is the only door.
//!
//! Each test checks that the attack fails with the expected SQLSTATE and a clear message, that
//! nothing changed (the row count of every smt table, the relations of schema smt, and the
//! attributes and memberships of the attacking role), and that a legitimate load still works.

use std::collections::BTreeMap;

use chrono::{Duration, TimeZone, Utc};
use postgres::types::ToSql;
use postgres::Client;
use smt_core::testdata::{self, Generator};
use smt_core::IntervalRecord;
use smt_e2e::*;

// ------------------------------------------------------------------------------------------------
// Helpers

/// Words a clear error message of each SQLSTATE holds.
fn clear_words(state: &str) -> &'static [&'static str] {
    match state {
        "42501" => &["permission denied", "must be owner"],
        "42883" => &["does not exist"],
        "2BP01" => &["depend"],
        "22004" => &["null"],
        "22023" => &["no load"],
        "25000" => &["another transaction"],
        "23503" => &["foreign key"],
        _ => &[],
    }
}

/// Runs `sql` (with `params`) and asserts that it fails with one of `states` and a clear message;
/// returns the database error.
#[track_caller]
fn refused_with(
    c: &mut Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    states: &[&str],
) -> postgres::error::DbError {
    let e = match c.query(sql, params) {
        Ok(rows) => panic!(
            "{sql}: allowed ({} rows), should fail with {states:?}",
            rows.len()
        ),
        Err(e) => e,
    };
    let Some(db) = e.as_db_error().cloned() else {
        panic!("{sql}: failed without a database error: {e}");
    };
    let state = db.code().code();
    assert!(
        states.contains(&state),
        "{sql}: SQLSTATE {state}, expected one of {states:?}: {}",
        explain(&e)
    );
    let message = db.message().to_lowercase();
    assert!(
        clear_words(state).iter().any(|w| message.contains(w)),
        "{sql}: the message does not say why: {}",
        explain(&e)
    );
    db
}

#[track_caller]
fn refused(c: &mut Client, sql: &str, states: &[&str]) -> postgres::error::DbError {
    refused_with(c, sql, &[], states)
}

/// Permission denied (42501).
#[track_caller]
fn denied(c: &mut Client, sql: &str) {
    refused(c, sql, &["42501"]);
}

/// A function of an earlier version that is gone: undefined (42883), or not executable (42501).
#[track_caller]
fn gone(c: &mut Client, sql: &str, params: &[&(dyn ToSql + Sync)]) {
    refused_with(c, sql, params, &["42883", "42501"]);
}

/// What an attack must not change: row counts of every smt table, the relations of schema smt
/// (a partition for 2200 or a stray view would show), and the attributes and memberships of roles.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    counts: BTreeMap<String, i64>,
    relations: Vec<Vec<Option<String>>>,
    roles: Vec<Vec<Option<String>>>,
    user_triggers: i64,
}

fn snapshot(admin: &mut Client, roles: &[&str]) -> Snapshot {
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    Snapshot {
        counts: table_counts(admin),
        relations: rows_text(
            admin,
            "SELECT c.relname::text, c.relkind::text FROM pg_class c
              WHERE c.relnamespace = 'smt'::regnamespace ORDER BY 1",
            &[],
        ),
        roles: rows_text(
            admin,
            "SELECT r.rolname::text, r.rolsuper::text, r.rolcreaterole::text, r.rolcreatedb::text,
                    r.rolbypassrls::text, r.rolreplication::text,
                    (SELECT string_agg(g.rolname, ',' ORDER BY g.rolname)
                       FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                      WHERE m.member = r.oid)
               FROM pg_roles r WHERE r.rolname = ANY($1) ORDER BY 1",
            &[&roles],
        ),
        user_triggers: one(
            admin,
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
              WHERE c.relnamespace = 'smt'::regnamespace AND NOT t.tgisinternal",
            &[],
        ),
    }
}

#[track_caller]
fn assert_unchanged(before: &Snapshot, admin: &mut Client, roles: &[&str], what: &str) {
    let after = snapshot(admin, roles);
    assert_eq!(&after, before, "{what} changed the database");
}

#[track_caller]
fn assert_not_superuser(admin: &mut Client, role: &str) {
    let superuser: bool = one(
        admin,
        "SELECT rolsuper FROM pg_roles WHERE rolname = $1",
        &[&role],
    );
    assert!(!superuser, "{role} became SUPERUSER");
}

/// Row-count changes between two `table_counts`, by table (tables whose count did not change are
/// left out).
fn deltas(before: &BTreeMap<String, i64>, after: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for (t, n) in after {
        let d = n - before.get(t).copied().unwrap_or(0);
        if d != 0 {
            out.insert(t.clone(), d);
        }
    }
    for (t, n) in before {
        if !after.contains_key(t) {
            out.insert(t.clone(), -n);
        }
    }
    out
}

fn expected(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

/// Partitions of smt.interval_day, by name.
fn partitions(c: &mut Client) -> Vec<String> {
    c.query(
        "SELECT p.relname::text FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid
          WHERE i.inhparent = 'smt.interval_day'::regclass ORDER BY 1",
        &[],
    )
    .expect("partitions of smt.interval_day")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn lse(records: &[IntervalRecord]) -> Vec<u8> {
    testdata::lse_bytes(records, true)
}

fn lines_of(r: &IntervalRecord) -> Vec<String> {
    String::from_utf8(testdata::lse_bytes(std::slice::from_ref(r), false))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// An LSE file of `good` records around one record whose fourth data row holds a letter: the
/// good ones load, the bad one is rejected.
fn with_a_bad_record(good: &[IntervalRecord], bad: &IntervalRecord) -> Vec<u8> {
    let mut file: Vec<String> = Vec::new();
    let (first, rest) = good.split_first().expect("one good record at least");
    file.extend(lines_of(first));
    let mut record = lines_of(bad);
    let row = record
        .iter()
        .position(|l| l.starts_with("10000003,"))
        .expect("a fourth data row");
    let mut fields: Vec<String> = record[row].split(',').map(str::to_owned).collect();
    fields[1] = "1.2x5".into();
    record[row] = fields.join(",");
    file.extend(record);
    for r in rest {
        file.extend(lines_of(r));
    }
    (file.join("\n") + "\n").into_bytes()
}

/// A legitimate load by `c` still works: new records for `day` are inserted and shown.
#[track_caller]
fn legitimate_load_works(c: &mut Client, seed: u64, day: chrono::NaiveDate) {
    let records = Generator::new(seed).records(2, &[day]);
    let l = load(c, &lse(&records), &format!("legit_{seed}.lse"));
    assert!(!l.already_loaded);
    assert_eq!(
        (l.records, l.inserted, l.rejected),
        (records.len() as i32, records.len() as i32, 0),
        "a legitimate load after the attack"
    );
    for r in &records {
        assert_interval_view_matches(c, r);
    }
}

/// Temporary trap functions: `pg_temp.trap(what)` records in `pg_temp.fired` that it ran, as whom,
/// and what became of its `ALTER ROLE <session_user> SUPERUSER` (refused as the attacker itself;
/// it would succeed only if the code running it were the superuser owning smt.load).
const TRAP_FUNCTIONS: &str = r#"
CREATE TEMP TABLE fired (what text NOT NULL, escalation text NOT NULL);
CREATE FUNCTION pg_temp.trap(what text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    BEGIN
        EXECUTE format('ALTER ROLE %I SUPERUSER', session_user);
        INSERT INTO pg_temp.fired VALUES (what, 'ALTER ROLE ' || session_user || ' SUPERUSER succeeded as ' || current_user);
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO pg_temp.fired VALUES (what, SQLSTATE || ' as ' || current_user);
    END;
END
$f$;
CREATE FUNCTION pg_temp.trap_trigger() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM pg_temp.trap(TG_TABLE_NAME || ' ' || TG_OP);
    RETURN NULL;
END
$f$;
"#;

/// The 0.1.0 attack and its variants: temporary tables named like every table smt.load writes (and
/// the 0.1.0 `smt_stage`), each with every column of smt.stage and trap triggers for INSERT,
/// UPDATE, DELETE and TRUNCATE; temporary functions and operators shadowing what the load calls;
/// pg_temp first on the search_path.
const TEMP_STAGE_ATTACK: &str = r#"
DO $do$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['smt_stage', 'stage', 'file', 'file_content', 'interval_day',
                             'interval_version', 'reject', 'meter_data_guard'] LOOP
        EXECUTE format('CREATE TEMP TABLE %I (
            file_id bigint, role text, esiid text, channel smallint, day date, revision timestamptz,
            first_start timestamptz, interval_seconds integer, scale smallint, units integer[],
            kwh_exact text[], status text, transaction_id text, line bigint, field text, kind text,
            reason text, raw text, decision text,
            name text, sha256 bytea, size_bytes bigint, format text, state text, data bytea)', t);
        EXECUTE format('CREATE TRIGGER trap_rows BEFORE INSERT OR UPDATE OR DELETE ON pg_temp.%I
                        FOR EACH ROW EXECUTE FUNCTION pg_temp.trap_trigger()', t);
        EXECUTE format('CREATE TRIGGER trap_truncate BEFORE TRUNCATE ON pg_temp.%I
                        FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.trap_trigger()', t);
    END LOOP;
END
$do$;
CREATE FUNCTION pg_temp.sha256(bytea) RETURNS bytea LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_temp.trap('sha256(bytea)'); RETURN '\x00'::bytea; END $f$;
CREATE FUNCTION pg_temp.octet_length(bytea) RETURNS integer LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_temp.trap('octet_length(bytea)'); RETURN 1; END $f$;
CREATE FUNCTION pg_temp.hashtext(text) RETURNS integer LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_temp.trap('hashtext(text)'); RETURN 1; END $f$;
CREATE FUNCTION pg_temp.pg_advisory_xact_lock(bigint) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_temp.trap('pg_advisory_xact_lock(bigint)'); END $f$;
CREATE FUNCTION pg_temp.to_regclass(text) RETURNS regclass LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_temp.trap('to_regclass(text)'); RETURN NULL; END $f$;
CREATE FUNCTION pg_temp.date_trunc(text, date) RETURNS timestamptz LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_temp.trap('date_trunc(text, date)'); RETURN now(); END $f$;
CREATE FUNCTION pg_temp.now() RETURNS timestamptz LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_temp.trap('now()'); RETURN 'epoch'; END $f$;
CREATE FUNCTION pg_temp.same_bytes(bytea, bytea) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_temp.trap('= (bytea, bytea)'); RETURN true; END $f$;
CREATE OPERATOR pg_temp.= (LEFTARG = bytea, RIGHTARG = bytea, FUNCTION = pg_temp.same_bytes);
CREATE FUNCTION pg_temp.same_text(text, text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_temp.trap('= (text, text)'); RETURN true; END $f$;
CREATE OPERATOR pg_temp.= (LEFTARG = text, RIGHTARG = text, FUNCTION = pg_temp.same_text);
SET search_path = pg_temp, public;
"#;

fn fired(c: &mut Client) -> Vec<Vec<Option<String>>> {
    rows_text(
        c,
        "SELECT what, escalation FROM pg_temp.fired ORDER BY 1",
        &[],
    )
}

// ------------------------------------------------------------------------------------------------
// 1. A loader's temporary "stage" with a trigger: in 0.1.0 the trigger ran as the owner.

#[test]
fn loader_cannot_become_superuser_through_a_temp_stage_trigger() {
    let Some(mut db) = TestDb::new("sec_temp_trigger") else {
        return;
    };
    let attacker = db.create_login_role("attacker", "smt_loader");
    let mut admin = db.connect();
    let day = date(2025, 7, 1);
    let mut g = Generator::new(101);
    g.missing_per_mille = 0;
    let stored = g.records(2, &[day]);
    load(&mut admin, &lse(&stored), "stored_before.lse");

    let mut a = db.connect_as(&attacker);
    a.batch_execute(TRAP_FUNCTIONS)
        .and_then(|()| a.batch_execute(TEMP_STAGE_ATTACK))
        .unwrap_or_else(|e| panic!("setting the trap as {attacker}: {}", explain(&e)));
    // The trap is armed: writing the temporary stage or calling the shadow function fires it,
    // here as the attacker, whose ALTER ROLE is refused.
    a.batch_execute(
        "INSERT INTO pg_temp.smt_stage DEFAULT VALUES;
         TRUNCATE pg_temp.stage;
         SELECT pg_temp.sha256('\\x01'::bytea);",
    )
    .unwrap_or_else(|e| panic!("firing the trap directly: {}", explain(&e)));
    let armed = fired(&mut a);
    let as_attacker = format!("42501 as {attacker}");
    assert_eq!(
        armed,
        [
            ["sha256(bytea)", as_attacker.as_str()],
            ["smt_stage INSERT", as_attacker.as_str()],
            ["stage TRUNCATE", as_attacker.as_str()],
        ]
        .map(|r| r.map(|v| Some(v.to_owned())).to_vec())
        .to_vec(),
        "the trap fires when the attacker writes its own tables"
    );
    a.batch_execute("TRUNCATE pg_temp.fired").unwrap();
    assert_not_superuser(&mut admin, &attacker);
    let before = table_counts(&mut admin);

    // Every path of smt.load that writes: new days, a replacement (history), a reject, a file
    // that is no usage file (marked failed), and the same content again (already loaded).
    let new_days = g.records(2, &[date(2025, 7, 2)]);
    let l = load(&mut a, &lse(&new_days), "new_days.lse");
    assert_eq!(
        (l.already_loaded, l.inserted),
        (false, new_days.len() as i32)
    );
    let mut newer = g.record(&stored[0].esiid, stored[0].channel, day);
    newer.revision = stored[0].revision + Duration::days(1);
    let l = load(&mut a, &lse(std::slice::from_ref(&newer)), "newer.lse");
    assert_eq!(l.replaced, 1, "a newer revision replaces: {l:?}");
    let good = g.records(2, &[date(2025, 7, 3)]);
    let bad_esiid = g.esiid();
    let bad = g.record(&bad_esiid, 4, date(2025, 7, 3));
    let l = load(&mut a, &with_a_bad_record(&good, &bad), "bad_record.lse");
    assert_eq!(
        (l.inserted, l.rejected),
        (good.len() as i32, 1),
        "one bad record: {l:?}"
    );
    let l = try_load(&mut a, b"not a meter file\n", "notes.txt")
        .unwrap_or_else(|e| panic!("a file that is no usage file: {}", explain(&e)));
    assert_eq!(
        one::<String>(
            &mut admin,
            "SELECT state FROM smt.file WHERE file_id = $1",
            &[&l.file_id]
        ),
        "failed"
    );
    assert!(load(&mut a, &lse(&new_days), "again.lse").already_loaded);

    assert_eq!(
        fired(&mut a),
        Vec::<Vec<Option<String>>>::new(),
        "smt.load ran code of the caller"
    );
    assert_not_superuser(&mut admin, &attacker);
    let superuser: bool = one(
        &mut a,
        "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
        &[],
    );
    assert!(!superuser, "{attacker} is superuser in its own session");
    let added = (new_days.len() + good.len()) as i64;
    assert_eq!(
        deltas(&before, &table_counts(&mut admin)),
        expected(&[
            ("smt.file", 4),
            ("smt.file_content", 4),
            ("smt.interval_day", added),
            ("smt.interval_day_2025_07", added),
            // one ESIID-day per record (channel 4 only): one row of totals each
            ("smt.day_total", added),
            ("smt.day_total_2025_07", added),
            ("smt.interval_version", 1),
            ("smt.reject", 1),
        ]),
        "the loads changed what they should, nothing else"
    );
    for r in new_days.iter().chain(&good).chain([&newer]) {
        assert_interval_view_matches(&mut admin, r);
    }
    // The caller's temporary tables were never written.
    let written: i64 = one(
        &mut a,
        "SELECT (SELECT count(*) FROM pg_temp.smt_stage) + (SELECT count(*) FROM pg_temp.stage)
              + (SELECT count(*) FROM pg_temp.file) + (SELECT count(*) FROM pg_temp.interval_day)",
        &[],
    );
    assert_eq!(written, 0);
}

// ------------------------------------------------------------------------------------------------
// 2. Writing staging rows directly, to have the merge store them unchecked.

/// A record as a loader would stage it, with the attacker's changes: `(file_id, ESIID, day, revision,
/// units16, status, kwh_total, present)`.
const STAGE_ROW: &str = "INSERT INTO smt.stage (file_id, role, esiid, channel, day, revision, first_start,
                                interval_seconds, scale, units16, status, kwh_total, intervals_expected,
                                intervals_present, intervals_estimated, line)
         VALUES ($1, 'record', $2, 4, $3::text::date, $4::text::timestamptz, $3::text::date::timestamptz,
                 900, 3, $5, $6, $7, 96, $8, 0, 1)";

#[test]
fn loader_cannot_stage_unparsed_rows() {
    let Some(mut db) = TestDb::new("sec_stage_rows") else {
        return;
    };
    let attacker = db.create_login_role("attacker", "smt_loader");
    let victim = db.create_login_role("victim", "smt_loader");
    let mut admin = db.connect();
    let stored = Generator::new(201).records(2, &[date(2025, 7, 1)]);
    let first = load(&mut admin, &lse(&stored), "first.lse");
    let mut a = db.connect_as(&attacker);
    let mut v = db.connect_as(&victim);
    let before = snapshot(&mut admin, &[&attacker]);
    let file_id = first.file_id;
    let full: Vec<Option<i16>> = vec![Some(1); 96];
    let all_a = "A".repeat(96);

    // A loader may copy rows into smt.stage (that is how the smt scheduler loads), and only that.
    // 1. Rows under no load in progress, committed: dropped by the next load's begin, never merged.
    a.execute(
        STAGE_ROW,
        &[
            &file_id,
            &"NOT-AN-ESIID",
            &"2099-01-01",
            &"2099-01-01 00:00+00",
            &vec![Some(1i16); 3],
            &"AAA",
            &"0.003",
            &3i16,
        ],
    )
    .unwrap();
    {
        let mut t = v.transaction().unwrap();
        let id: i64 = t
            .query_one("SELECT smt.load_begin('nothing.lse')", &[])
            .unwrap()
            .get(0);
        // 2. Rows planted under another role's load in progress (committed by the attacker while
        //    the victim's load runs) are not that load's: ignored.
        a.execute(
            STAGE_ROW,
            &[
                &id,
                &"10443720000000009",
                &"2025-07-03",
                &"2025-07-05 11:00+00",
                &full,
                &all_a.as_str(),
                &"0.096",
                &96i16,
            ],
        )
        .unwrap();
        let row = t
            .query_one("SELECT records, inserted, rejected FROM smt.load_staged($1, sha256('victim'), 6, 'lse')", &[&id])
            .unwrap();
        assert_eq!(
            (
                row.get::<_, i32>(0),
                row.get::<_, i32>(1),
                row.get::<_, i32>(2)
            ),
            (0, 0, 0)
        );
        t.rollback().unwrap();
    }
    // The victim's load was rolled back, and with it its dropping of the first orphan row; the row
    // planted under its id is an orphan now too. The next load to begin drops both (shown in a
    // transaction of its own).
    let orphans: i64 = one(&mut admin, "SELECT count(*) FROM smt.stage", &[]);
    assert_eq!(orphans, 2, "both planted rows wait for the next load");
    {
        let mut t = admin.transaction().unwrap();
        t.execute("SELECT smt.load_begin('next.lse')", &[]).unwrap();
        let left: i64 = t
            .query_one("SELECT count(*) FROM smt.stage", &[])
            .unwrap()
            .get(0);
        assert_eq!(left, 0, "a load's begin drops staged rows no load owns");
        t.commit().unwrap();
        // That load never ends; the next begin would forget it (the snapshot below must not see it).
        admin
            .execute("DELETE FROM smt.upload WHERE file_name = 'next.lse'", &[])
            .unwrap();
    }
    // 3. The loader's own forged rows, within its own load: each one checked, none stored.
    {
        let mut t = a.transaction().unwrap();
        let id: i64 = t
            .query_one("SELECT smt.load_begin('forged-rows.lse')", &[])
            .unwrap()
            .get(0);
        // (ESIID, day, revision, units16, status, kwh_total, intervals_present)
        type Forged<'a> = (
            &'a str,
            &'a str,
            &'a str,
            Vec<Option<i16>>,
            &'a str,
            &'a str,
            i16,
        );
        let forged: [Forged; 4] = [
            // not an ESIID
            (
                "NOT-AN-ESIID",
                "2025-07-03",
                "2025-07-05 11:00+00",
                full.clone(),
                &all_a,
                "0.096",
                96,
            ),
            // three values for a 96-interval day
            (
                "10443720000000009",
                "2025-07-03",
                "2025-07-05 11:00+00",
                vec![Some(1); 3],
                "AAA",
                "0.003",
                3,
            ),
            // totals that are not the values'
            (
                "10443720000000009",
                "2025-07-04",
                "2025-07-06 11:00+00",
                full.clone(),
                &all_a,
                "9999.000",
                96,
            ),
            // a revision from the future, to win against every correction
            (
                "10443720000000009",
                "2025-07-05",
                "2099-01-01 00:00+00",
                full.clone(),
                &all_a,
                "0.096",
                96,
            ),
        ];
        for (esiid, day, revision, units, status, total, present) in &forged {
            t.execute(
                STAGE_ROW,
                &[&id, esiid, day, revision, units, status, total, present],
            )
            .unwrap();
        }
        let row = t
            .query_one("SELECT records, inserted, rejected FROM smt.load_staged($1, sha256('forged'), 6, 'lse')", &[&id])
            .unwrap();
        assert_eq!(
            (
                row.get::<_, i32>(0),
                row.get::<_, i32>(1),
                row.get::<_, i32>(2)
            ),
            (0, 0, 4)
        );
        let reasons: Vec<String> = t
            .query("SELECT kind || ': ' || reason FROM smt.reject WHERE file_id = $1 ORDER BY reject_id", &[&id])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(reasons[0].contains("ESIID NOT-AN-ESIID"), "{reasons:?}");
        assert!(
            reasons[1].contains("3 statuses where the day has 96"),
            "{reasons:?}"
        );
        assert!(
            reasons[2].contains("kwh_total 9999.000 where the values add up to 0.096"),
            "{reasons:?}"
        );
        assert!(reasons[3].contains("revision_in_future"), "{reasons:?}");
        t.rollback().unwrap();
    }

    for sql in [
        "SELECT count(*) FROM smt.stage",
        "UPDATE smt.stage SET esiid = 'NOT-AN-ESIID', revision = '2099-01-01 00:00+00'",
        "DELETE FROM smt.stage",
        "TRUNCATE smt.stage",
        // The merge of staged rows is internal to smt.load.
        "SELECT smt._merge_stage(1)",
        // Nor can the rows be written where the merge would put them.
        "INSERT INTO smt.interval_day (esiid, channel, day, revision, first_start, interval_seconds,
                                       scale, units, status, file_id)
         VALUES ('NOT-AN-ESIID', 4, '2099-01-01', '2099-01-01 00:00+00', '2099-01-01 06:00+00',
                 900, 3, ARRAY[1], 'A', 1)",
        "INSERT INTO smt.interval_version (esiid, channel, day, revision, first_start,
             interval_seconds, scale, units, status, file_id, loaded_at, outcome, decided_by_file_id)
         VALUES ('NOT-AN-ESIID', 4, '2099-01-01', '2099-01-01 00:00+00', '2099-01-01 06:00+00',
                 900, 3, ARRAY[1], 'A', 1, now(), 'stale', 1)",
        "UPDATE smt.interval_day SET revision = '2099-01-01 00:00+00'",
    ] {
        denied(&mut a, sql);
    }
    // The 0.1.0 door: the caller's own staging table, merged by a SECURITY DEFINER function.
    gone(&mut a, "SELECT smt.create_stage()", &[]);
    gone(&mut a, "SELECT * FROM smt.merge_stage($1)", &[&file_id]);
    assert_unchanged(&before, &mut admin, &[&attacker], "staging rows directly");

    // Through the one door the same record is parsed, and rejected, strict or lenient.
    let mut forged = Generator::new(202).record("10443720000000001", 4, date(2025, 7, 2));
    forged.esiid = "NOT-AN-ESIID".into();
    forged.revision = Utc.with_ymd_and_hms(2099, 1, 1, 12, 0, 0).unwrap();
    let counts = table_counts(&mut admin);
    let strict = load(
        &mut a,
        &testdata::lse_bytes(std::slice::from_ref(&forged), true),
        "forged.lse",
    );
    let lenient = load_lenient(
        &mut a,
        &testdata::lse_bytes(std::slice::from_ref(&forged), false),
        "forged_lf.lse",
    );
    for (mode, l) in [("strict", &strict), ("lenient", &lenient)] {
        assert_eq!(
            (l.records, l.inserted, l.rejected),
            (0, 0, 1),
            "{mode}: the forged record is rejected"
        );
        let kind: String = one(
            &mut admin,
            "SELECT kind FROM smt.reject WHERE file_id = $1",
            &[&l.file_id],
        );
        assert_eq!(kind, "invalid_esiid", "{mode}");
    }
    assert_eq!(
        deltas(&counts, &table_counts(&mut admin)),
        expected(&[("smt.file", 2), ("smt.file_content", 2), ("smt.reject", 2)]),
        "the forged files are registered and rejected, nothing stored"
    );
    for table in ["smt.interval_day", "smt.interval_version"] {
        let forged_rows: i64 = one(
            &mut admin,
            &format!(
                "SELECT count(*) FROM {table}
                  WHERE esiid = 'NOT-AN-ESIID' OR revision > now() + interval '1 year'"
            ),
            &[],
        );
        assert_eq!(forged_rows, 0, "forged rows in {table}");
    }
    assert_not_superuser(&mut admin, &attacker);
    legitimate_load_works(&mut a, 203, date(2025, 7, 3));
}

// ------------------------------------------------------------------------------------------------
// 3. Registering the digest of a delivery before it arrives, with other bytes.

#[test]
fn loader_cannot_claim_a_digest_for_bytes_not_yet_arrived() {
    let Some(mut db) = TestDb::new("sec_digest") else {
        return;
    };
    let attacker = db.create_login_role("attacker", "smt_loader");
    let loader = db.create_login_role("loader", "smt_loader");
    let mut admin = db.connect();
    let real_records = Generator::new(301).records(3, &[date(2025, 8, 1)]);
    let real = lse(&real_records);
    let other = lse(&Generator::new(302).records(1, &[date(2025, 8, 2)]));
    let name = "SMT_LSE_20250803_real.lse";
    let mut a = db.connect_as(&attacker);
    let before = snapshot(&mut admin, &[&attacker]);

    let junk: &[u8] = b"not the real delivery";
    gone(
        &mut a,
        "SELECT * FROM smt.begin_file(sha256($1::bytea), $2::text, 'lse', $3::bytea)",
        &[&real, &name, &junk],
    );
    gone(
        &mut a,
        "SELECT * FROM smt._register_file($1::bytea, $2::text, 'lse')",
        &[&junk, &name],
    );
    refused_with(
        &mut a,
        "INSERT INTO smt.file (name, sha256, size_bytes, format)
         VALUES ($1, sha256($2::bytea), octet_length($2::bytea), 'lse')",
        &[&name, &real],
        &["42501"],
    );
    refused_with(
        &mut a,
        "INSERT INTO smt.file_content (file_id, part, data) VALUES (1, 0, $1::bytea)",
        &[&junk],
        &["42501"],
    );
    refused_with(
        &mut a,
        "UPDATE smt.file SET sha256 = sha256($1::bytea)",
        &[&real],
        &["42501"],
    );
    assert_unchanged(&before, &mut admin, &[&attacker], "claiming a digest");

    // Other bytes under the real delivery's name are just another file.
    let decoy = load(&mut a, &other, name);
    assert!(!decoy.already_loaded);
    // The real delivery then loads in full, whoever brings it.
    let mut l_conn = db.connect_as(&loader);
    let l = load(&mut l_conn, &real, name);
    assert!(!l.already_loaded, "the real delivery was taken for loaded");
    assert_ne!(l.file_id, decoy.file_id);
    assert_eq!(
        (l.records, l.inserted),
        (real_records.len() as i32, real_records.len() as i32)
    );
    for r in &real_records {
        assert_interval_view_matches(&mut admin, r);
    }
    // Its digest is the digest of its bytes, and loading them again is recognized.
    let digest_ok: bool = one(
        &mut admin,
        "SELECT sha256 = sha256($2::bytea) FROM smt.file WHERE file_id = $1",
        &[&l.file_id, &real],
    );
    assert!(digest_ok);
    let again = load(&mut a, &real, "renamed.lse");
    assert_eq!((again.already_loaded, again.file_id), (true, l.file_id));
    // For every registered file the digest is that of the bytes kept.
    let row = admin
        .query_one(
            "SELECT bool_and(f.sha256 = sha256(smt.file_bytes(f.file_id))),
                    count(*) FILTER (WHERE EXISTS (SELECT FROM smt.file_content c WHERE c.file_id = f.file_id)),
                    (SELECT count(*) FROM smt.file)
               FROM smt.file f",
            &[],
        )
        .unwrap();
    let (all_match, with_bytes, files): (Option<bool>, i64, i64) =
        (row.get(0), row.get(1), row.get(2));
    assert_eq!(
        all_match,
        Some(true),
        "a file whose digest is not of its bytes"
    );
    assert_eq!(with_bytes, files, "every file keeps its bytes");
    assert_eq!(files, 2);
    assert_not_superuser(&mut admin, &attacker);
}

// ------------------------------------------------------------------------------------------------
// 4. Marking someone else's file failed.

#[test]
fn loader_cannot_mark_files_failed() {
    let Some(mut db) = TestDb::new("sec_fail_file") else {
        return;
    };
    let attacker = db.create_login_role("attacker", "smt_loader");
    let loader = db.create_login_role("loader", "smt_loader");
    let mut admin = db.connect();
    let records = Generator::new(401).records(2, &[date(2025, 7, 1)]);
    let data = lse(&records);
    let l = load(&mut db.connect_as(&loader), &data, "loaded.lse");
    let mut a = db.connect_as(&attacker);
    let before = snapshot(&mut admin, &[&attacker]);

    let file_id = l.file_id;
    let reason = "forged";
    gone(
        &mut a,
        "SELECT smt.fail_file($1::bigint, $2::text)",
        &[&file_id, &reason],
    );
    refused_with(
        &mut a,
        "UPDATE smt.file SET state = 'failed', error = $2 WHERE file_id = $1",
        &[&file_id, &reason],
        &["42501"],
    );
    // smt.file_log is a simple view, so updatable; the caller's own rights apply to it.
    refused_with(
        &mut a,
        "UPDATE smt.file_log SET state = 'failed', error = $2 WHERE file_id = $1",
        &[&file_id, &reason],
        &["42501"],
    );
    refused_with(
        &mut a,
        "DELETE FROM smt.file WHERE file_id = $1",
        &[&file_id],
        &["42501"],
    );
    denied(&mut a, "TRUNCATE smt.file CASCADE");
    assert_unchanged(&before, &mut admin, &[&attacker], "marking a file failed");

    // The same content again changes nothing either.
    let again = load(&mut a, &data, "again.lse");
    assert!(again.already_loaded);
    let state = rows_text(
        &mut admin,
        "SELECT state, error FROM smt.file WHERE file_id = $1",
        &[&file_id],
    );
    assert_eq!(state, vec![vec![Some("loaded".to_owned()), None]]);
    assert_unchanged(
        &before,
        &mut admin,
        &[&attacker],
        "loading the same content",
    );
    for r in &records {
        assert_interval_view_matches(&mut admin, r);
    }
    legitimate_load_works(&mut a, 402, date(2025, 7, 2));
}

// ------------------------------------------------------------------------------------------------
// 5. Creating partitions nobody needs.

#[test]
fn loader_cannot_create_partitions_for_the_year_2200() {
    let Some(mut db) = TestDb::new("sec_partitions") else {
        return;
    };
    let attacker = db.create_login_role("attacker", "smt_loader");
    let mut admin = db.connect();
    let mut a = db.connect_as(&attacker);
    let before = snapshot(&mut admin, &[&attacker]);

    gone(
        &mut a,
        "SELECT smt.ensure_partitions('2200-01-01'::date, '2200-12-31'::date)",
        &[],
    );
    denied(
        &mut a,
        "SELECT smt._ensure_partitions(ARRAY['2200-01-01'::date])",
    );
    denied(
        &mut a,
        "CREATE TABLE smt.interval_day_2200_01 PARTITION OF smt.interval_day
             FOR VALUES FROM ('2200-01-01') TO ('2200-02-01')",
    );
    let made: i64 = one(
        &mut admin,
        "SELECT count(*) FROM pg_class WHERE relname LIKE 'interval_day_2200%'",
        &[],
    );
    assert_eq!(made, 0, "a partition for 2200 was made");
    assert_unchanged(&before, &mut admin, &[&attacker], "making partitions");
    assert_eq!(partitions(&mut admin), Vec::<String>::new());

    // A load makes partitions for the months that hold data only: July and September, not August.
    let records = Generator::new(501).records(2, &[date(2025, 7, 1), date(2025, 9, 1)]);
    let l = load(&mut a, &lse(&records), "july_and_september.lse");
    assert_eq!(l.inserted as usize, records.len());
    assert_eq!(
        partitions(&mut admin),
        ["interval_day_2025_07", "interval_day_2025_09"]
    );
    for r in &records {
        assert_interval_view_matches(&mut admin, r);
    }
    assert_not_superuser(&mut admin, &attacker);
}

// ------------------------------------------------------------------------------------------------
// 5b. A load in parts (smt.load_begin / load_part / load_end) belongs to the login role and the
// transaction that began it: nobody else can add bytes to it or end it, and bytes of a load that
// never ended do not survive.

/// `smt.load_begin(name)` in its own (autocommitted) statement: a load whose transaction ended.
fn begin_alone(c: &mut Client, name: &str) -> i64 {
    one(c, "SELECT smt.load_begin($1)", &[&name])
}

#[test]
fn loads_in_parts_belong_to_their_role_and_transaction() {
    let Some(mut db) = TestDb::new("sec_parts") else {
        return;
    };
    let victim = db.create_login_role("victim", "smt_loader");
    let attacker = db.create_login_role("attacker", "smt_loader");
    let mut admin = db.connect();
    let mut v = db.connect_as(&victim);
    let mut a = db.connect_as(&attacker);
    let before = snapshot(&mut admin, &[&attacker, &victim]);
    let real = lse(&Generator::new(551).records(2, &[date(2025, 7, 5)]));
    let junk: &[u8] = b"not the real delivery";

    // The victim's load whose transaction ended (its begin was committed alone).
    let orphan = begin_alone(&mut v, "victim.lse");
    // The attacker can neither add bytes to it nor end it: it is not the attacker's load.
    refused_with(
        &mut a,
        "SELECT smt.load_part($1, $2::bytea)",
        &[&orphan, &junk],
        &["22023"],
    );
    refused_with(
        &mut a,
        "SELECT * FROM smt.load_end($1)",
        &[&orphan],
        &["22023"],
    );
    // Nor can the victim, in a later transaction: a file arrives whole in one transaction.
    refused_with(
        &mut v,
        "SELECT smt.load_part($1, $2::bytea)",
        &[&orphan, &real],
        &["25000"],
    );
    refused_with(
        &mut v,
        "SELECT * FROM smt.load_end($1)",
        &[&orphan],
        &["25000"],
    );
    // A load that never existed, and NULL arguments.
    refused_with(
        &mut a,
        "SELECT smt.load_part(-1, $1::bytea)",
        &[&junk],
        &["22023"],
    );
    refused(&mut a, "SELECT smt.load_part(NULL, '\\x00')", &["22004"]);
    refused(&mut a, "SELECT smt.load_begin(NULL)", &["22004"]);
    refused(&mut a, "SELECT * FROM smt.load_end(NULL)", &["22004"]);

    // Bytes of a load that is committed without its end do not survive: the commit fails.
    let mut t = a.transaction().unwrap();
    let id: i64 = t
        .query_one("SELECT smt.load_begin('never_ended.lse')", &[])
        .unwrap()
        .get(0);
    t.execute("SELECT smt.load_part($1, $2::bytea)", &[&id, &real])
        .unwrap();
    let e = t
        .commit()
        .expect_err("a load without its end must not commit");
    assert_eq!(sqlstate(&e).as_deref(), Some("23503"), "{}", explain(&e));

    // All that remains is the victim's ended-without-end load row, which the next committed
    // load forgets.
    assert_eq!(
        deltas(&before.counts, &snapshot(&mut admin, &[]).counts),
        expected(&[("smt.upload", 1)])
    );
    let mut t = a.transaction().unwrap();
    let id: i64 = t
        .query_one("SELECT smt.load_begin('in_three_parts.lse')", &[])
        .unwrap()
        .get(0);
    let third = real.len() / 3 + 1;
    for piece in real.chunks(third) {
        t.execute("SELECT smt.load_part($1, $2::bytea)", &[&id, &piece])
            .unwrap();
    }
    let row = t
        .query_one("SELECT records, inserted FROM smt.load_end($1)", &[&id])
        .unwrap();
    assert_eq!((row.get::<_, i32>(0), row.get::<_, i32>(1)), (2, 2));
    t.commit().unwrap();
    // The day's two rows count in smt.interval_day and again in its new monthly partition.
    assert_eq!(
        deltas(&before.counts, &snapshot(&mut admin, &[]).counts),
        expected(&[
            ("smt.file", 1),
            ("smt.file_content", 3),
            ("smt.interval_day", 2),
            ("smt.interval_day_2025_07", 2),
            ("smt.day_total", 2),
            ("smt.day_total_2025_07", 2),
        ])
    );
    let kept: Vec<u8> = one(&mut admin, "SELECT smt.file_bytes($1)", &[&id]);
    assert_eq!(kept, real);
    assert_not_superuser(&mut admin, &attacker);
    assert_not_superuser(&mut admin, &victim);
}

// ------------------------------------------------------------------------------------------------
// 6. An admin's trigger on a table smt.load writes would run as the extension's owner.

#[test]
fn admin_cannot_add_a_trigger_to_tables_smt_load_writes() {
    let Some(mut db) = TestDb::new("sec_admin_trigger") else {
        return;
    };
    let attacker = db.create_login_role("admin", "smt_admin");
    let mut admin = db.connect();
    let mut a = db.connect_as(&attacker);
    // The admin loads (smt_admin is a loader too), so partitions and the guard view exist.
    let records = Generator::new(601).records(2, &[date(2025, 7, 1)]);
    load(&mut a, &lse(&records), "by_admin.lse");
    a.batch_execute(TRAP_FUNCTIONS)
        .unwrap_or_else(|e| panic!("trap functions as {attacker}: {}", explain(&e)));
    let before = snapshot(&mut admin, &[&attacker]);

    let tables: Vec<String> = admin
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'smt' AND c.relkind IN ('r', 'p') ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for t in [
        "smt.interval_day",
        "smt.file",
        "smt.reject",
        "smt.interval_day_2025_07",
    ] {
        assert!(tables.iter().any(|x| x == t), "{t} not among {tables:?}");
    }
    for t in &tables {
        denied(
            &mut a,
            &format!(
                "CREATE TRIGGER smt_e2e_trap BEFORE INSERT OR UPDATE OR DELETE ON {t}
                 FOR EACH ROW EXECUTE FUNCTION pg_temp.trap_trigger()"
            ),
        );
        denied(
            &mut a,
            &format!(
                "CREATE TRIGGER smt_e2e_trap BEFORE TRUNCATE ON {t}
                 FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.trap_trigger()"
            ),
        );
        denied(
            &mut a,
            &format!("CREATE RULE smt_e2e_trap AS ON INSERT TO {t} DO ALSO NOTIFY smt_e2e"),
        );
        denied(&mut a, &format!("ALTER TABLE {t} DISABLE TRIGGER ALL"));
        denied(
            &mut a,
            &format!("CREATE POLICY smt_e2e_trap ON {t} USING (true)"),
        );
    }
    // Nor the staging table, nor the internal steps of smt.load.
    for sql in [
        "SELECT count(*) FROM smt.stage",
        "UPDATE smt.stage SET esiid = 'NOT-AN-ESIID'",
        "DELETE FROM smt.stage",
        "TRUNCATE smt.stage",
        "SELECT smt._merge_stage(1)",
        "SELECT * FROM smt._upload(1)",
        "SELECT * FROM smt._stage_file(1, false)",
        "SELECT * FROM smt._content_summary(1)",
        "SELECT count(*) FROM smt.upload",
        "INSERT INTO smt.upload VALUES (1, 'x.lse', false, current_user, pg_current_xact_id())",
        "SELECT smt._ensure_partitions(ARRAY['2200-01-01'::date])",
        "SELECT smt._guard_meter_data()",
    ] {
        denied(&mut a, sql);
    }
    assert_unchanged(&before, &mut admin, &[&attacker], "the admin's triggers");
    assert_eq!(fired(&mut a), Vec::<Vec<Option<String>>>::new());
    assert_not_superuser(&mut admin, &attacker);
    legitimate_load_works(&mut a, 602, date(2025, 7, 2));
    assert_eq!(fired(&mut a), Vec::<Vec<Option<String>>>::new());
}

// ------------------------------------------------------------------------------------------------
// 7. The reader reads (views are security_invoker, so the tables under them too), nothing more.

#[test]
fn reader_reads_views_and_tables_but_not_raw_bytes() {
    let Some(mut db) = TestDb::new("sec_reader") else {
        return;
    };
    let reader = db.create_login_role("reader", "smt_reader");
    let mut admin = db.connect();
    let records = Generator::new(701).records(4, &[date(2025, 7, 1)]);
    load(&mut admin, &lse(&records), "for_the_reader.lse");
    let mut r = db.connect_as(&reader);
    let before = snapshot(&mut admin, &[&reader]);

    let views: Vec<String> = admin
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'smt' AND c.relkind = 'v' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // format('%I') quotes the reserved word interval.
    for v in [
        "smt.\"interval\"",
        "smt.daily_usage",
        "smt.meter_data_guard",
    ] {
        assert!(views.iter().any(|x| x == v), "{v} not among {views:?}");
    }
    let tables = [
        "smt.interval_day",
        "smt.interval_version",
        "smt.file",
        "smt.reject",
    ];
    for rel in views.iter().map(String::as_str).chain(tables) {
        r.query(&format!("SELECT count(*) FROM {rel}"), &[])
            .unwrap_or_else(|e| panic!("the reader cannot read {rel}: {}", explain(&e)));
    }
    let shown: i64 = one(&mut r, "SELECT count(*) FROM smt.interval_day", &[]);
    assert_eq!(shown as usize, records.len());
    for rec in &records {
        assert_interval_view_matches(&mut r, rec);
    }

    denied(&mut r, "SELECT data FROM smt.file_content");
    denied(&mut r, "SELECT count(*) FROM smt.file_content");
    denied(&mut r, "SELECT count(*) FROM smt.stage");
    let data = lse(&Generator::new(702).records(1, &[date(2025, 7, 2)]));
    refused_with(
        &mut r,
        "SELECT * FROM smt.load($1::bytea, 'reader.lse')",
        &[&data],
        &["42501"],
    );
    denied(&mut r, "SELECT smt._merge_stage(1)");
    denied(
        &mut r,
        "INSERT INTO smt.file (name, sha256, size_bytes) VALUES ('x', '\\x00', 1)",
    );
    denied(&mut r, "DELETE FROM smt.interval_day");
    assert_unchanged(&before, &mut admin, &[&reader], "the reader");
}

// ------------------------------------------------------------------------------------------------
// 8. DROP EXTENSION smt must not drop meter data by accident.

#[test]
fn drop_extension_needs_cascade_once_data_is_held() {
    // Nothing loaded: a plain DROP EXTENSION works (and leaves the user's own table alone).
    {
        let Some(db) = TestDb::new("sec_drop_fresh") else {
            return;
        };
        let mut c = db.connect();
        let guard: Option<String> = one(
            &mut c,
            "SELECT to_regclass('smt.meter_data_guard')::text",
            &[],
        );
        assert_eq!(guard, None, "a fresh install has no guard");
        c.batch_execute("DROP EXTENSION smt")
            .unwrap_or_else(|e| panic!("DROP EXTENSION smt of a fresh install: {}", explain(&e)));
        assert_eq!(
            one::<i64>(&mut c, "SELECT count(*) FROM public.meter_note", &[]),
            USER_TABLE_ROWS
        );
    }

    let Some(mut db) = TestDb::new("sec_drop_data") else {
        return;
    };
    let loader = db.create_login_role("loader", "smt_loader");
    let admin_role = db.create_login_role("admin", "smt_admin");
    let records = Generator::new(801).records(2, &[date(2025, 7, 1)]);
    load(&mut db.connect_as(&loader), &lse(&records), "one.lse");
    let mut c = db.connect();
    let before = table_counts(&mut c);

    // Neither the loader nor the admin can drop the extension or the guard.
    denied(&mut db.connect_as(&loader), "DROP EXTENSION smt");
    let mut admin = db.connect_as(&admin_role);
    denied(&mut admin, "DROP EXTENSION smt CASCADE");
    denied(&mut admin, "DROP VIEW smt.meter_data_guard");

    // The owner's plain DROP EXTENSION fails and names the guard.
    let e = refused(&mut c, "DROP EXTENSION smt", &["2BP01"]);
    let detail = e.detail().unwrap_or_default();
    assert!(
        detail.contains("smt.meter_data_guard"),
        "the error does not name the guard: {} / {detail}",
        e.message()
    );
    assert_eq!(table_counts(&mut c), before, "data after the refused DROP");
    for r in &records {
        assert_interval_view_matches(&mut c, r);
    }

    c.batch_execute("DROP EXTENSION smt CASCADE")
        .unwrap_or_else(|e| panic!("DROP EXTENSION smt CASCADE: {}", explain(&e)));
    let left: i64 = one(
        &mut c,
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'smt'",
        &[],
    );
    assert_eq!(left, 0, "relations left in schema smt after CASCADE");
}
