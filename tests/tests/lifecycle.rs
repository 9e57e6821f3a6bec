//! DROP EXTENSION and CREATE EXTENSION again, in a database with data of its own.

use smt_core::testdata::{self, Generator};
use smt_e2e::*;

const ROLES: [&str; 3] = ["smt_admin", "smt_loader", "smt_reader"];

#[test]
fn drop_and_recreate_extension_then_load_again() {
    let Some(db) = TestDb::new("lifecycle") else {
        return;
    };
    let mut c = db.connect();
    let records = Generator::new(31).records(4, &[date(2025, 9, 30), date(2025, 10, 1)]);
    let data = testdata::lse_bytes(&records, true);
    let l = load(&mut c, &data, "before.lse");
    assert_eq!(l.inserted as usize, records.len());
    // Two months: two partitions made by the load.
    let partitions: i64 = one(
        &mut c,
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'smt.interval_day'::regclass",
        &[],
    );
    assert_eq!(partitions, 2);

    c.batch_execute("DROP EXTENSION smt CASCADE")
        .unwrap_or_else(|e| panic!("DROP EXTENSION: {}", explain(&e)));
    // PostgreSQL creates the control file's schema but does not make it a member of the
    // extension, so an empty schema smt may stay; nothing may be left in it, partitions included.
    let left: i64 = one(
        &mut c,
        "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'smt')
              + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                  WHERE n.nspname = 'smt')
              + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                  WHERE n.nspname = 'smt')",
        &[],
    );
    assert_eq!(left, 0, "objects left in schema smt");
    assert_eq!(
        one::<i64>(&mut c, "SELECT count(*) FROM public.meter_note", &[]),
        USER_TABLE_ROWS,
        "the user's own table is untouched"
    );
    let roles: Vec<String> = c
        .query(
            "SELECT rolname::text FROM pg_roles WHERE rolname = ANY($1) ORDER BY 1",
            &[&ROLES.to_vec()],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        roles, ROLES,
        "roles are cluster-wide and outlive the extension"
    );

    c.batch_execute("CREATE EXTENSION smt")
        .unwrap_or_else(|e| panic!("CREATE EXTENSION again: {}", explain(&e)));
    let again = load(&mut c, &data, "after.lse");
    assert!(
        !again.already_loaded,
        "the file registry went with the extension"
    );
    assert_eq!(again.inserted as usize, records.len());
    for r in &records {
        assert_interval_view_matches(&mut c, r);
    }
    // The grants come back with the objects.
    let can_read: bool = one(
        &mut c,
        "SELECT has_table_privilege('smt_reader', 'smt.daily_usage', 'SELECT')",
        &[],
    );
    assert!(can_read);
    let can_load: bool = one(
        &mut c,
        "SELECT has_function_privilege('smt_loader', 'smt.load(bytea, text, boolean)', 'EXECUTE')",
        &[],
    );
    assert!(can_load);
}
