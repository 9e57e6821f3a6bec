//! Every object of schema smt says what it is for: tables, views, their columns, functions
//! (those written in Rust too), types and their attributes, triggers. What psql's `\d+` and a BI
//! tool's catalog show is the documentation a DBA reads first.

use smt_core::testdata::{self, dst_days_2025, Generator};
use smt_e2e::*;

/// Objects of schema smt without a comment, as `kind name` lines.
const UNCOMMENTED: &str = "
WITH smt AS (SELECT oid AS nsp FROM pg_namespace WHERE nspname = 'smt')
SELECT kind || ' ' || name FROM (
    SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'c' THEN 'type' ELSE 'table' END AS kind,
           c.oid::regclass::text AS name, obj_description(c.oid, 'pg_class') AS comment
      FROM pg_class c, smt WHERE c.relnamespace = smt.nsp AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    UNION ALL
    SELECT 'column', format('%s.%I', c.oid::regclass, a.attname), col_description(c.oid, a.attnum)
      FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped, smt
     WHERE c.relnamespace = smt.nsp AND c.relkind IN ('r', 'p', 'v', 'm', 'c', 'f') AND NOT c.relispartition
    UNION ALL
    SELECT 'function', p.oid::regprocedure::text, obj_description(p.oid, 'pg_proc')
      FROM pg_proc p, smt WHERE p.pronamespace = smt.nsp
    UNION ALL
    SELECT 'type', format_type(t.oid, NULL), obj_description(t.oid, 'pg_type')
      FROM pg_type t, smt
     WHERE t.typnamespace = smt.nsp AND (t.typtype IN ('d', 'e', 'r')
           OR (t.typtype = 'c' AND EXISTS (SELECT FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c')))
    UNION ALL
    SELECT 'trigger', format('%s on %s', t.tgname, t.tgrelid::regclass), obj_description(t.oid, 'pg_trigger')
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid, smt
     WHERE c.relnamespace = smt.nsp AND NOT t.tgisinternal AND NOT c.relispartition
) objects
WHERE coalesce(comment, '') = ''
ORDER BY 1";

#[test]
fn every_object_of_the_extension_has_a_comment() {
    let Some(db) = TestDb::new("comments") else {
        return;
    };
    let mut c = db.connect();
    // With data too: what a load makes (partitions, the DROP guard) is commented as well.
    let records = Generator::new(5).records(2, &dst_days_2025());
    load(&mut c, &testdata::lse_bytes(&records, true), "dst.lse");
    let objects: i64 = one(
        &mut c,
        "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'smt'",
        &[],
    );
    assert!(objects > 30, "schema smt has its functions ({objects})");
    let missing: Vec<String> = c
        .query(UNCOMMENTED, &[])
        .unwrap_or_else(|e| panic!("{}", explain(&e)))
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        missing.is_empty(),
        "objects of schema smt without a COMMENT ON ({}):\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}
